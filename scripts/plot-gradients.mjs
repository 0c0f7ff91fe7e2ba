// Plots the exact-against-first-order figures of a run (`maml train --compare-every N` writes them
// to metrics.jsonl) as an SVG: the cosine on the left axis, the norm ratio on a log right axis, by
// meta-iteration. The README's plots are made with it:
//   node scripts/plot-gradients.mjs runs/sine/metrics.jsonl "sinusoid preset" > docs/gradients-sinusoid.svg
import fs from 'node:fs';

const [file, title = file] = process.argv.slice(2);
if (!file) {
  console.error('usage: node scripts/plot-gradients.mjs METRICS.jsonl [TITLE] > plot.svg');
  process.exit(2);
}
const points = fs.readFileSync(file, 'utf8').trim().split('\n').map(JSON.parse).filter((l) => l.gradients)
  .map((l) => ({ x: l.iteration, cos: l.gradients.first_order.cosine, ratio: l.gradients.first_order.norm_ratio, reptile: l.gradients.reptile }));
if (!points.length) {
  console.error(`${file} has no comparisons: train with --compare-every N`);
  process.exit(1);
}
const [W, H] = [640, 300];
const m = { left: 52, right: 56, top: 34, bottom: 60 };
const [w, h] = [W - m.left - m.right, H - m.top - m.bottom];
const xMax = Math.max(...points.map((p) => p.x));
const ratios = points.map((p) => p.ratio).filter((r) => r > 0);
const [rLo, rHi] = [Math.min(0.5, ...ratios) / 1.2, Math.max(2, ...ratios) * 1.2];
const X = (x) => m.left + (x / xMax) * w;
const C = (c) => m.top + ((1 - c) / 2) * h;
const R = (r) => m.top + (1 - (Math.log(r) - Math.log(rLo)) / (Math.log(rHi) - Math.log(rLo))) * h;
const line = (f, key) => points.filter((p) => Number.isFinite(p[key])).map((p, i) => `${i ? 'L' : 'M'}${X(p.x).toFixed(1)},${f(p[key]).toFixed(1)}`).join(' ');
/** Round ticks on the iteration axis: multiples of 1, 2 or 5 times a power of ten, about four. */
function xTicks() {
  const raw = xMax / 4;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((k) => k * power).find((s) => s >= raw);
  return Array.from({ length: Math.floor(xMax / step) + 1 }, (_, i) => i * step);
}
const text = (x, y, s, extra = '') => `<text x="${x}" y="${y}" ${extra}>${s}</text>`;
const out = [
  `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11" fill="#111">`,
  `<rect width="${W}" height="${H}" fill="#fff"/>`,
  text(m.left, 18, title.replace(/&/g, '&amp;').replace(/</g, '&lt;'), 'font-size="13" font-weight="bold"'),
  ...[-1, -0.5, 0, 0.5, 1].map((c) => `<line x1="${m.left}" x2="${m.left + w}" y1="${C(c)}" y2="${C(c)}" stroke="#e5e7eb"/>${text(m.left - 6, C(c) + 4, c, 'text-anchor="end"')}`),
  ...[0.25, 0.5, 1, 2, 4, 8].filter((r) => r >= rLo && r <= rHi).map((r) => text(m.left + w + 6, R(r) + 4, r)),
  ...xTicks().map((x) => text(X(x), m.top + h + 16, x, 'text-anchor="middle"')),
  text(m.left + w / 2, m.top + h + 32, 'meta-iteration', 'text-anchor="middle"'),
  text(14, m.top + h / 2, 'cosine', `transform="rotate(-90 14 ${m.top + h / 2})" text-anchor="middle"`),
  text(W - 8, m.top + h / 2, 'norm ratio (log)', `transform="rotate(90 ${W - 8} ${m.top + h / 2})" text-anchor="middle"`),
  `<rect x="${m.left}" y="${m.top}" width="${w}" height="${h}" fill="none" stroke="#9ca3af"/>`,
  `<path d="${line(R, 'ratio')}" fill="none" stroke="#2563eb" stroke-width="1.5" stroke-dasharray="5 4"/>`,
  `<path d="${line(C, 'cos')}" fill="none" stroke="#2563eb" stroke-width="2"/>`,
  `<line x1="${m.left}" x2="${m.left + 22}" y1="${H - 12}" y2="${H - 12}" stroke="#2563eb" stroke-width="2"/>${text(m.left + 28, H - 8, 'cos(first-order, exact)')}`,
  `<line x1="${m.left + 200}" x2="${m.left + 222}" y1="${H - 12}" y2="${H - 12}" stroke="#2563eb" stroke-width="1.5" stroke-dasharray="5 4"/>${text(m.left + 228, H - 8, '|first-order| / |exact|')}`,
  '</svg>',
];
process.stdout.write(out.join('\n') + '\n');
