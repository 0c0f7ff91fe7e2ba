// Meta-SGD's learned inner learning rates, one row per parameter tensor: its name, a bar from the
// smallest to the largest rate in it with a tick at their mean, and the figures. A dashed line
// marks α, where every rate started, so how far each layer's rates moved reads at a glance.
// Plain HTML rather than a chart: a handful of rows, readable at any width.

const fmt = (v) => (Math.abs(v) >= 0.01 || v === 0 ? String(+v.toPrecision(3)) : v.toExponential(1));

export class RatesView {
  constructor(figure, caption, body) {
    this.figure = figure;
    this.caption = caption;
    this.body = body;
  }

  /** Hidden when `rates` is null (every algorithm but Meta-SGD). alpha: the α the rates started at. */
  update(rates, alpha, iteration) {
    this.figure.hidden = !rates;
    if (!rates) return;
    // one scale for every row, from 0 (or below, should a rate turn negative) to the largest rate or α
    const lo = Math.min(0, ...rates.map((r) => r.min));
    const hi = Math.max(alpha, ...rates.map((r) => r.max));
    const at = (v) => `${(100 * (v - lo)) / (hi - lo || 1)}%`;
    const rows = rates.map((r) => {
      const row = Object.assign(document.createElement('div'), { className: 'rate' });
      const track = Object.assign(document.createElement('div'), { className: 'track' });
      const range = Object.assign(document.createElement('span'), { className: 'range' });
      range.style.left = at(r.min);
      range.style.width = `calc(${at(r.max)} - ${at(r.min)} + 2px)`;
      const mean = Object.assign(document.createElement('span'), { className: 'mean' });
      mean.style.left = at(r.mean);
      const start = Object.assign(document.createElement('span'), { className: 'alpha', title: `α = ${fmt(alpha)}, where every rate started` });
      start.style.left = at(alpha);
      track.append(range, start, mean);
      row.append(
        Object.assign(document.createElement('code'), { textContent: r.name }),
        track,
        Object.assign(document.createElement('span'), { className: 'figures', textContent: `${fmt(r.mean)} (${fmt(r.min)}–${fmt(r.max)})` }),
      );
      return row;
    });
    this.body.replaceChildren(...rows);
    const byMean = [...rates].sort((a, b) => a.mean - b.mean);
    const [low, high] = [byMean[0], byMean[byMean.length - 1]];
    this.caption.textContent = iteration === 0
      ? `Every weight's rate starts at α = ${fmt(alpha)}; training moves each one.`
      : `Every rate started at α = ${fmt(alpha)}; after ${iteration} meta-iterations the means run from ${(low.mean / alpha).toFixed(2)}× α (${low.name}) to ${(high.mean / alpha).toFixed(2)}× α (${high.name}).`;
  }
}
