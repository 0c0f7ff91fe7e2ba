// Exports of the current and pinned runs: their metrics as CSV, each chart as a PNG (named by
// run.js, fileName; saved by dom.js, download).

/** The per-step means of an evaluation (accuracy in %, or MSE), MAML's and the random start's. */
export function stepMeans(evaluation) {
  const metric = evaluation.maml.steps[0].accuracy ? 'accuracy' : 'mse';
  // an overflowed step comes as null from the wasm's JSON, and stays null
  const value = (v) => (typeof v === 'number' && Number.isFinite(v) ? (metric === 'accuracy' ? 100 * v : v) : null);
  const pick = (s) => {
    const stat = metric === 'accuracy' ? s.accuracy : s.loss;
    return { mean: value(stat?.mean), ci95: value(stat?.ci95) };
  };
  const m = evaluation.maml.steps.map(pick);
  return {
    metric,
    iteration: evaluation.iteration,
    step: evaluation.maml.steps.map((s) => s.step),
    mean: m.map((v) => v.mean),
    ci95: m.map((v) => v.ci95),
    random: evaluation.random.steps.map((s) => pick(s).mean),
  };
}

/** One CSV field: quoted when it holds a comma, a quote or a line break. */
const field = (v) => {
  const s = v === null || v === undefined || (typeof v === 'number' && !Number.isFinite(v)) ? '' : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
};
export const csv = (header, rows) => [header, ...rows].map((r) => r.map(field).join(',')).join('\n') + '\n';

/** Meta-loss by iteration: the current run's every point, each pin's thinned history. */
export function metricsCsv(run, pins) {
  const rows = [];
  const add = (name, label, h) => h.x.forEach((x, i) => rows.push([name, label, x, h.loss[i], h.avg[i], h.test[i]]));
  add('current', 'current run', run.history);
  for (const p of pins) add(p.tag, p.label, p.history);
  return csv(['run', 'label', 'iteration', 'meta_loss', 'meta_loss_average', 'meta_test_loss'], rows);
}

/** The latest meta-test step by step (accuracy in % or MSE), current run and pins. */
export function stepsCsv(run, pins) {
  const rows = [];
  const add = (name, label, s) => s.step.forEach((step, i) => rows.push([name, label, s.iteration, s.metric, step, s.mean[i], s.ci95[i], s.random[i]]));
  if (run.evaluation) add('current', 'current run', stepMeans(run.evaluation));
  for (const p of pins) add(p.tag, p.label, p.steps);
  return csv(['run', 'label', 'iteration', 'metric', 'inner_step', 'mean', 'ci95', 'random_init_mean'], rows);
}

/** The legend's entries laid out in `width` px: each a swatch and its label, side by side while
 *  they fit, a label longer than a line wrapped at its spaces (or anywhere, for one long word).
 *  Returns the lines, [{colour?, x, text}] each, the swatch on an entry's first line only. */
export function legendLines(ctx, entries, width, unit = 1) {
  const swatch = 18 * unit;
  const gap = 14 * unit;
  const room = width - swatch - 6 * unit;
  const wrap = (text) => {
    const lines = [];
    let line = '';
    for (const word of text.split(' ')) {
      const next = line ? `${line} ${word}` : word;
      if (ctx.measureText(next).width <= room || !line) line = next;
      else { lines.push(line); line = word; }
      // one word longer than a line: cut it where it fills the line
      while (ctx.measureText(line).width > room && line.length > 1) {
        let cut = line.length - 1;
        while (cut > 1 && ctx.measureText(line.slice(0, cut)).width > room) cut--;
        lines.push(line.slice(0, cut));
        line = line.slice(cut);
      }
    }
    return [...lines, line];
  };
  const rows = [[]];
  let x = 0;
  for (const e of entries) {
    const parts = wrap(e.label);
    const w = swatch + Math.max(...parts.map((t) => ctx.measureText(t).width)) + gap;
    if (parts.length > 1 || x + w > width) {
      if (rows[rows.length - 1].length) rows.push([]);
      x = 0;
    }
    rows[rows.length - 1].push({ colour: e.colour, x, text: parts[0] });
    for (const t of parts.slice(1)) rows.push([{ x, text: t }]);
    if (parts.length > 1) { rows.push([]); x = 0; } else x += w;
  }
  return rows.filter((r) => r.length);
}

/** A uPlot chart as a PNG: its canvas under a title and the legend's entries (uPlot's legend is
 *  HTML, so it is drawn here, wrapped to the chart's width), on white, sized to what it holds. */
export function chartPng(plot, title) {
  const src = plot.ctx.canvas;
  const scale = src.width / plot.width; // the canvas is in device pixels
  const entries = plot.series.slice(1)
    .map((s, i) => ({ label: plot.root.querySelectorAll('.u-legend .u-series .u-label')[i]?.textContent || s.label, colour: seriesColour(plot, s, i + 1) }))
    .filter((e, i) => e.label && plot.series[i + 1].label !== 'CI high');
  const line = 16 * scale;
  const out = document.createElement('canvas');
  out.width = src.width;
  const ctx = out.getContext('2d');
  const font = `${12 * scale}px sans-serif`;
  ctx.font = font;
  const rows = legendLines(ctx, entries, out.width - 12 * scale, scale);
  const top = line * (1.6 + rows.length);
  out.height = src.height + top;
  titled(ctx, title, scale, line);
  ctx.font = font; // resizing the canvas reset it
  rows.forEach((row, r) => {
    const y = line * (1.9 + r);
    for (const e of row) {
      if (e.colour) {
        ctx.fillStyle = e.colour;
        ctx.fillRect(e.x + 6 * scale, y - 4 * scale, 12 * scale, 8 * scale);
      }
      ctx.fillStyle = '#111';
      ctx.fillText(e.text, e.x + 24 * scale, y);
    }
  });
  ctx.drawImage(src, 0, top);
  return toPng(out);
}

/** An exported image's start, once its canvas has its final size: white, and `title` in bold on
 *  the first line (`line` px high, at `scale` device pixels per px). */
export function titled(ctx, title, scale, line) {
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, ctx.canvas.width, ctx.canvas.height);
  ctx.textBaseline = 'middle';
  ctx.fillStyle = '#111';
  ctx.font = `bold ${13 * scale}px sans-serif`;
  ctx.fillText(title, 6 * scale, line * 0.8);
}

/** A canvas as a PNG blob. */
export const toPng = (canvas) => new Promise((resolve, reject) => canvas.toBlob((b) => (b ? resolve(b) : reject(new Error('the canvas gave no PNG'))), 'image/png'));

/** A series' colour as a CSS string: uPlot keeps stroke and fill as functions, and a band's edge
 *  draws nothing itself, so it takes its band's fill. */
function seriesColour(plot, s, i) {
  const value = (v) => (typeof v === 'function' ? v(plot, i) : v);
  const stroke = value(s.stroke);
  if (stroke && stroke !== 'transparent') return stroke;
  const band = (plot.bands ?? []).findIndex((b) => b.series.includes(i));
  return (band >= 0 ? value(plot.bands[band].fill) : null) ?? value(s.fill) ?? '#000';
}
