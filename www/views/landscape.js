// The meta-objective around θ (maml::landscape): the mean query loss after adaptation of a fixed
// meta-batch on a plane through the current weights, as a heat map with contours; on it, from θ,
// the step each learner would take (this run's Adam, at the current β), and the run's path. The
// worker computes it a row at a time, so the page says how far it is and Cancel stops it.
import { el } from './dom.js';
import { legendLines, titled, toPng } from './exports.js';
import { tick } from './charts.js';

/** The learners' colours, as the adaptation and loss charts use them where they appear. */
export const ARROW_COLOURS = { MAML: '#2563eb', 'first-order MAML': '#ea580c', Reptile: '#9333ea', ANIL: '#16a34a', 'Meta-SGD': '#dc2626' };
const VIRIDIS = [[68, 1, 84], [72, 40, 120], [62, 74, 137], [49, 104, 142], [38, 130, 142], [31, 158, 137], [53, 183, 121], [109, 205, 89], [180, 222, 44], [253, 231, 37]];
const MARGIN = { left: 56, right: 64, top: 12, bottom: 44 };

/** A colour of the palette at t in [0, 1] (dark: low loss). */
function palette(t) {
  const x = Math.min(1, Math.max(0, t)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(x));
  const f = x - i;
  return VIRIDIS[i].map((c, k) => Math.round(c + f * (VIRIDIS[i + 1][k] - c)));
}

/** The axes' names for the plane's directions. */
export function axisNames(directions) {
  return directions === 'gradients'
    ? ['u: along the exact meta-gradient', 'v: first-order part orthogonal to u']
    : ['u: random direction (filter-normalised)', 'v: second random direction, orthogonal to u'];
}

/** Contour segments of `grid` (rows of values, null where missing) at `level`, by marching
 *  squares with linear interpolation: [[x0, y0, x1, y1]] in grid coordinates (column, row). */
export function contourSegments(grid, level) {
  const out = [];
  for (let r = 0; r + 1 < grid.length; r++) {
    const [top, bottom] = [grid[r], grid[r + 1]];
    if (!top || !bottom) continue;
    for (let c = 0; c + 1 < top.length; c++) {
      // corners clockwise from the top left: (c, r), (c+1, r), (c+1, r+1), (c, r+1)
      const v = [top[c], top[c + 1], bottom[c + 1], bottom[c]];
      if (v.some((x) => x === null || !Number.isFinite(x))) continue;
      const p = [[c, r], [c + 1, r], [c + 1, r + 1], [c, r + 1]];
      const cross = [];
      for (let e = 0; e < 4; e++) {
        const [a, b] = [v[e], v[(e + 1) % 4]];
        if ((a < level) !== (b < level)) {
          const t = (level - a) / (b - a);
          const [pa, pb] = [p[e], p[(e + 1) % 4]];
          cross.push([pa[0] + t * (pb[0] - pa[0]), pa[1] + t * (pb[1] - pa[1])]);
        }
      }
      if (cross.length === 2) out.push([...cross[0], ...cross[1]]);
      // a saddle (four crossings): join them in order, two by two
      if (cross.length === 4) out.push([...cross[0], ...cross[1]], [...cross[2], ...cross[3]]);
    }
  }
  return out;
}

export class LandscapeView {
  /** figure: the view's figure; post(msg): to the worker. */
  constructor(figure, post, askFrame = () => {}) {
    this.askFrame = askFrame; // a frame to draw the new rows in
    this.post = post;
    this.data = null; // {id, summary, iteration, rows, ms}
    this.nextId = 1;
    this.computing = null; // the id being computed
    const $ = (id) => figure.querySelector(`#${id}`);
    this.canvas = $('landscape-canvas');
    this.caption = $('landscape-caption');
    this.legend = $('landscape-legend');
    this.status = $('landscape-status');
    const select = (id, options, value) => {
      const s = el('select', { id }, ...options.map(([v, text]) => el('option', { value: v, textContent: text })));
      s.value = value;
      return s;
    };
    this.directions = select('landscape-directions', [['gradients', 'exact & first-order gradients'], ['random', 'random (filter-normalised)']], 'gradients');
    this.fit = select('landscape-fit', [['path', "the run's path"], ['steps', 'the next steps']], 'path');
    this.size = select('landscape-size', [['21', '21 × 21'], ['31', '31 × 31'], ['41', '41 × 41']], '21');
    this.every = select('landscape-every', [['0', 'on demand'], ['200', 'every 200 meta-iterations'], ['1000', 'every 1000 meta-iterations']], '0');
    this.computeButton = el('button', { id: 'landscape-compute', textContent: 'Compute' });
    this.cancelButton = el('button', { id: 'landscape-cancel', textContent: 'Cancel', disabled: true });
    this.pngButton = el('button', { className: 'png', textContent: 'PNG', disabled: true });
    this.csvButton = el('button', { className: 'csv', textContent: 'CSV', disabled: true });
    this.pngButton.setAttribute('aria-label', 'Download the landscape as PNG');
    this.csvButton.setAttribute('aria-label', 'Download the landscape grid, arrows and path as CSV');
    $('landscape-tools').append(
      this.computeButton, this.cancelButton,
      el('label', {}, 'plane ', this.directions), el('label', {}, 'extent ', this.fit), el('label', {}, 'grid ', this.size),
      el('label', {}, 'draw ', this.every), this.pngButton, this.csvButton,
    );
    this.computeButton.onclick = () => this.compute();
    this.cancelButton.onclick = () => this.cancel();
    this.lastAuto = null;
    new ResizeObserver(() => this.draw()).observe(this.canvas.parentElement);
    this.draw();
  }

  /** The options the controls show. */
  options() {
    return { directions: this.directions.value, size: Number(this.size.value), fit: this.fit.value, zoom: 1, seed: 0 };
  }

  /** Asks the worker for a landscape at the current weights. */
  compute() {
    if (!this.ready) return;
    if (this.computing !== null) this.post({ type: 'cancelLandscape' });
    const id = this.nextId++;
    this.computing = id;
    this.started = performance.now();
    this.post({ type: 'landscape', id, options: this.options() });
    this.setStatus('computing the meta-gradients at θ and each learner\'s step…');
    this.buttons();
  }

  cancel() {
    if (this.computing === null) return;
    this.post({ type: 'cancelLandscape' });
    this.computing = null;
    const rows = this.data?.rows.filter(Boolean).length ?? 0;
    this.setStatus(this.data ? `cancelled after ${rows} of ${this.data.summary.size} rows: the rows drawn are real, the rest is blank` : 'cancelled');
    this.buttons();
  }

  /** The run is ready (or not): Compute acts on it. A new run forgets the last landscape. */
  setReady(ready, newRun = false) {
    this.ready = ready;
    if (newRun) {
      this.computing = null;
      this.data = null;
      this.lastAuto = null;
      this.setStatus('');
      this.draw();
    }
    this.buttons();
  }

  /** The run reached `iteration`: draws again when the setting asks for it every so often. */
  trained(iteration) {
    const every = Number(this.every.value);
    if (!every || this.computing !== null || !this.ready) return;
    if (this.lastAuto === null) this.lastAuto = iteration;
    if (iteration - this.lastAuto >= every) {
      this.lastAuto = iteration;
      this.compute();
    }
  }

  buttons() {
    this.computeButton.disabled = !this.ready;
    this.cancelButton.disabled = this.computing === null;
    const some = Boolean(this.data?.rows.some(Boolean));
    this.pngButton.disabled = this.csvButton.disabled = !some;
  }

  setStatus(text) {
    this.status.textContent = text;
  }

  /** The worker's messages. */
  plane(m) {
    if (m.id !== this.computing) return;
    this.data = { id: m.id, summary: m.summary, iteration: m.iteration, rows: new Array(m.summary.size).fill(null), ms: null };
    this.setStatus(`row 0 of ${m.summary.size}…`);
    this.draw();
    this.buttons();
  }

  row(m) {
    if (m.id !== this.data?.id) return;
    this.data.rows[m.row] = m.values;
    if (this.computing === m.id) this.setStatus(`row ${m.row + 1} of ${this.data.summary.size}…`);
    this.dirty = true;
    this.askFrame();
  }

  done(m) {
    if (m.id !== this.data?.id) return;
    this.data.ms = performance.now() - this.started;
    this.computing = null;
    this.setStatus('');
    this.buttons();
    this.dirty = true;
    this.askFrame();
  }

  failed(message) {
    this.computing = null;
    this.setStatus(`The landscape could not be computed: ${message}`);
    this.buttons();
  }

  /** Draws if rows came since the last frame. */
  frame() {
    if (!this.dirty) return;
    this.dirty = false;
    this.draw();
    this.buttons();
  }

  /** The heat map, contours, arrows, path and axes on the canvas; the legend and caption. */
  draw() {
    const side = Math.max(240, Math.min(560, this.canvas.parentElement.clientWidth));
    const ratio = window.devicePixelRatio || 1;
    const [w, h] = [side, side - MARGIN.left - MARGIN.right + MARGIN.top + MARGIN.bottom];
    this.canvas.width = w * ratio;
    this.canvas.height = h * ratio;
    this.canvas.style.width = `${w}px`;
    this.canvas.style.height = `${h}px`;
    const ctx = this.canvas.getContext('2d');
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, w, h);
    const plot = { x: MARGIN.left, y: MARGIN.top, size: w - MARGIN.left - MARGIN.right };
    ctx.strokeStyle = '#d1d5db';
    ctx.strokeRect(plot.x, plot.y, plot.size, plot.size);
    const d = this.data;
    if (!d) {
      ctx.fillStyle = '#6b7280';
      ctx.font = '13px system-ui, sans-serif';
      ctx.textAlign = 'center';
      ctx.fillText('Press Compute to draw the meta-objective around θ', plot.x + plot.size / 2, plot.y + plot.size / 2);
      this.legend.replaceChildren();
      this.caption.textContent = '';
      this.canvas.setAttribute('aria-label', 'landscape: not computed yet');
      return;
    }
    const s = d.summary;
    const n = s.size;
    const cell = plot.size / n;
    const extent = s.span + s.span / (n - 1); // the grid's points are the cells' centres
    const px = (a) => plot.x + ((a + extent) / (2 * extent)) * plot.size;
    const py = (b) => plot.y + plot.size - ((b + extent) / (2 * extent)) * plot.size;
    // colours by log loss, over the finite values drawn so far
    const finite = d.rows.flat().filter((v) => v !== null && Number.isFinite(v) && v > 0);
    const logs = finite.map(Math.log10);
    const [lo, hi] = logs.length ? [Math.min(...logs), Math.max(...logs)] : [0, 1];
    const t = (v) => (hi > lo ? (Math.log10(v) - lo) / (hi - lo) : 0.5);
    const image = new ImageData(n, n);
    d.rows.forEach((row, r) => {
      for (let c = 0; c < n; c++) {
        const v = row?.[c];
        const at = ((n - 1 - r) * n + c) * 4; // row 0 is b = −span: the bottom
        const [R, G, B] = row === null ? [243, 244, 246] : Number.isFinite(v) && v > 0 ? palette(t(v)) : [156, 163, 175];
        image.data.set([R, G, B, 255], at);
      }
    });
    const bitmap = document.createElement('canvas');
    bitmap.width = bitmap.height = n;
    bitmap.getContext('2d').putImageData(image, 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(bitmap, plot.x, plot.y, plot.size, plot.size);
    // contours of log loss, over complete cells
    if (hi > lo) {
      const logGrid = d.rows.map((row) => row && row.map((v) => (Number.isFinite(v) && v > 0 ? Math.log10(v) : null)));
      ctx.strokeStyle = 'rgba(255,255,255,0.55)';
      ctx.lineWidth = 1;
      ctx.beginPath();
      for (let k = 1; k < 10; k++) {
        for (const [c0, r0, c1, r1] of contourSegments(logGrid, lo + (k / 10) * (hi - lo))) {
          ctx.moveTo(plot.x + (c0 + 0.5) * cell, plot.y + plot.size - (r0 + 0.5) * cell);
          ctx.lineTo(plot.x + (c1 + 0.5) * cell, plot.y + plot.size - (r1 + 0.5) * cell);
        }
      }
      ctx.stroke();
    }
    ctx.save();
    ctx.beginPath();
    ctx.rect(plot.x, plot.y, plot.size, plot.size);
    ctx.clip();
    // the run's path, oldest first, ending at θ
    const path = [...s.path].sort((a, b) => a.iteration - b.iteration);
    if (path.length) {
      const pts = [...path.map((p) => [px(p.a), py(p.b)]), [px(0), py(0)]];
      for (const [style, width] of [['rgba(0,0,0,0.6)', 4], ['#fff', 2]]) {
        ctx.strokeStyle = style;
        ctx.lineWidth = width;
        ctx.beginPath();
        pts.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
        ctx.stroke();
      }
      ctx.fillStyle = '#fff';
      for (const [x, y] of pts.slice(0, -1)) { ctx.beginPath(); ctx.arc(x, y, 2.5, 0, 2 * Math.PI); ctx.fill(); }
      ctx.font = '11px system-ui, sans-serif';
      ctx.fillStyle = '#fff';
      ctx.textAlign = 'left';
      ctx.fillText(`it ${path[0].iteration}`, pts[0][0] + 5, pts[0][1] - 5);
    }
    // θ and each learner's step from it
    const tiny = [];
    for (const a of s.arrows) {
      const [x0, y0, x1, y1] = [px(0), py(0), px(a.a), py(a.b)];
      const len = Math.hypot(x1 - x0, y1 - y0);
      if (len < 3) { tiny.push(a.learner); continue; }
      arrow(ctx, x0, y0, x1, y1, ARROW_COLOURS[a.learner] ?? '#111');
    }
    ctx.fillStyle = '#fff';
    ctx.strokeStyle = '#111';
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    ctx.arc(px(0), py(0), 4, 0, 2 * Math.PI);
    ctx.fill();
    ctx.stroke();
    ctx.restore();
    // axes: ticks at −span, 0, span, and what each direction is
    ctx.fillStyle = '#374151';
    ctx.font = '11px system-ui, sans-serif';
    for (const v of [-s.span, 0, s.span]) {
      ctx.textAlign = 'center';
      ctx.fillText(tick(v), px(v), plot.y + plot.size + 14);
      ctx.textAlign = 'right';
      ctx.fillText(tick(v), plot.x - 4, py(v) + 4);
    }
    const [uName, vName] = axisNames(s.directions);
    ctx.textAlign = 'center';
    ctx.fillText(uName, plot.x + plot.size / 2, plot.y + plot.size + 32);
    ctx.save();
    ctx.translate(14, plot.y + plot.size / 2);
    ctx.rotate(-Math.PI / 2);
    ctx.fillText(vName, 0, 0);
    ctx.restore();
    // the colour bar: the meta-objective's range drawn so far
    const bar = { x: plot.x + plot.size + 12, y: plot.y, w: 12, h: plot.size };
    for (let i = 0; i < bar.h; i++) {
      const [R, G, B] = palette(1 - i / bar.h);
      ctx.fillStyle = `rgb(${R},${G},${B})`;
      ctx.fillRect(bar.x, bar.y + i, bar.w, 1);
    }
    ctx.fillStyle = '#374151';
    ctx.textAlign = 'left';
    ctx.fillText(tick(10 ** hi), bar.x + bar.w + 3, bar.y + 9);
    ctx.fillText(tick(10 ** lo), bar.x + bar.w + 3, bar.y + bar.h);
    this.showLegend(s, tiny);
    this.describe(d, finite.length, tiny);
  }

  /** The legend under the canvas: each learner's arrow with its length and how much of it the
   *  plane shows, and the path. */
  legendEntries(s) {
    const pct = (x) => `${Math.round(100 * x)} %`;
    return [
      ...s.arrows.map((a) => ({ colour: ARROW_COLOURS[a.learner] ?? '#111', label: `${a.learner}: |Δθ| ${tick(a.length)}, ${pct(a.in_plane)} in this plane` })),
      ...(s.path.length ? [{ colour: '#9ca3af', label: `the run's path from iteration ${Math.min(...s.path.map((p) => p.iteration))} to θ` }] : []),
    ];
  }

  showLegend(s, tiny) {
    const items = this.legendEntries(s).map((e) => el('span', { className: 'entry' }, el('span', { className: 'swatch', style: `background:${e.colour}` }), e.label));
    if (tiny.length) items.push(el('span', { className: 'entry' }, `${tiny.join(', ')}: shorter than a pixel at this extent (choose "the next steps")`));
    this.legend.replaceChildren(...items);
  }

  describe(d, drawn, tiny) {
    const s = d.summary;
    const total = s.size * s.size;
    const note = s.note ? ` ${s.note[0].toUpperCase()}${s.note.slice(1)}.` : '';
    const took = d.ms !== null ? ` ${s.size} × ${s.size} points in ${(d.ms / 1000).toFixed(1)} s.` : '';
    const cos = Number.isFinite(s.first_order_cosine) ? `; cos(first-order, exact) ${tick(s.first_order_cosine)}` : '';
    this.caption.textContent = `At iteration ${d.iteration}: the meta-objective over ${s.tasks} fixed tasks is ${tick(s.centre_loss)} at θ (the white dot), |exact meta-gradient| ${tick(s.exact_norm)}${cos}. Arrows: the step each learner would take now, by this run's Adam at β.${took}${note}`;
    const bad = d.rows.flat().filter((v) => v !== null && !(Number.isFinite(v) && v > 0)).length;
    this.canvas.setAttribute('aria-label', `landscape at iteration ${d.iteration}, ${drawn + bad} of ${total} points drawn: meta-objective ${tick(s.centre_loss)} at θ`
      + (bad ? `, ${bad} points not finite (grey)` : '') + (tiny.length ? `; ${tiny.join(', ')} too short to draw` : ''));
  }

  /** The landscape as a PNG: a title, the canvas and the legend. */
  png(title) {
    const src = this.canvas;
    const scale = src.width / parseFloat(src.style.width);
    const out = document.createElement('canvas');
    out.width = src.width;
    const ctx = out.getContext('2d');
    const font = `${12 * scale}px sans-serif`;
    ctx.font = font;
    const rows = legendLines(ctx, this.legendEntries(this.data.summary), out.width - 12 * scale, scale);
    const line = 16 * scale;
    const top = line * 1.6;
    out.height = src.height + top + line * (rows.length + 0.6);
    titled(ctx, title, scale, line);
    ctx.drawImage(src, 0, top);
    ctx.font = font;
    rows.forEach((row, r) => {
      const y = top + src.height + line * (0.6 + r);
      for (const e of row) {
        if (e.colour) { ctx.fillStyle = e.colour; ctx.fillRect(e.x + 6 * scale, y - 4 * scale, 12 * scale, 8 * scale); }
        ctx.fillStyle = '#111';
        ctx.fillText(e.text, e.x + 24 * scale, y);
      }
    });
    return toPng(out);
  }

  /** The grid, the arrows and the path as CSV rows (`maml landscape` writes the same grid). */
  rows() {
    const s = this.data.summary;
    const out = [];
    this.data.rows.forEach((row, r) => row?.forEach((v, c) => out.push(['grid', '', s.axis[c], s.axis[r], v, '', ''])));
    for (const a of s.arrows) out.push(['arrow', a.learner, a.a, a.b, '', a.length, a.in_plane]);
    for (const p of s.path) out.push(['path', `iteration ${p.iteration}`, p.a, p.b, '', '', p.in_plane]);
    return out;
  }
}
export const LANDSCAPE_HEADER = ['kind', 'label', 'a', 'b', 'meta_loss', 'length', 'in_plane'];

/** An arrow from (x0, y0) to (x1, y1), outlined so it shows on any colour. */
function arrow(ctx, x0, y0, x1, y1, colour) {
  const angle = Math.atan2(y1 - y0, x1 - x0);
  const head = Math.min(9, Math.hypot(x1 - x0, y1 - y0) * 0.5);
  const shape = () => {
    ctx.beginPath();
    ctx.moveTo(x0, y0);
    ctx.lineTo(x1, y1);
    ctx.moveTo(x1, y1);
    ctx.lineTo(x1 - head * Math.cos(angle - 0.45), y1 - head * Math.sin(angle - 0.45));
    ctx.moveTo(x1, y1);
    ctx.lineTo(x1 - head * Math.cos(angle + 0.45), y1 - head * Math.sin(angle + 0.45));
  };
  ctx.lineCap = 'round';
  ctx.strokeStyle = '#fff';
  ctx.lineWidth = 4.5;
  shape();
  ctx.stroke();
  ctx.strokeStyle = colour;
  ctx.lineWidth = 2.5;
  shape();
  ctx.stroke();
}
