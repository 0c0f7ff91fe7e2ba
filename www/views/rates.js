// Meta-SGD's learned inner learning rates, one row per parameter tensor: its name, a bar from the
// smallest to the largest rate in it with a tick at their mean, and the figures. A dashed line
// marks α, where every rate started, so how far each layer's rates moved reads at a glance, and a
// grey line zero, once some rate has crossed it.
// Plain HTML rather than a chart: a handful of rows, readable at any width.
import { el } from './dom.js';
import { count } from '../words.js';

// a true minus sign, so a negative rate reads as one next to the range's dash
// (a rate that overflowed comes as null from the wasm's JSON)
const fmt = (v) => (!Number.isFinite(v) ? 'not finite' : (Math.abs(v) >= 0.01 || v === 0 ? String(+v.toPrecision(3)) : v.toExponential(1)).replace('-', '−'));
const span = (className, left) => {
  const e = el('span', { className });
  e.style.left = left;
  return e;
};

/** A parameter tensor's name in words: "blocks.0.norm.gamma" is "block 1's batch-norm scale γ". */
export function inWords(name) {
  const n = (i) => Number(i) + 1;
  const rules = [
    [/blocks\.(\d+)\.conv\.weight$/, (i) => `block ${n(i)}'s 3×3 convolution filters`],
    [/blocks\.(\d+)\.norm\.gamma$/, (i) => `block ${n(i)}'s batch-norm scale γ`],
    [/blocks\.(\d+)\.norm\.beta$/, (i) => `block ${n(i)}'s batch-norm shift`],
    [/hidden\.(\d+)\.weight$/, (i) => `hidden layer ${n(i)}'s weights`],
    [/hidden\.(\d+)\.bias$/, (i) => `hidden layer ${n(i)}'s biases`],
    [/head\.weight$/, () => "the output layer's weights"],
    [/head\.bias$/, () => "the output layer's biases"],
  ];
  for (const [re, say] of rules) {
    const m = re.exec(name);
    if (m) return say(m[1]);
  }
  return name;
}

/** A tensor's row label: its name in words, its code name on hover. */
const label = (name) => el('span', { className: 'param', textContent: inWords(name), title: `${name}, in the model's code` });

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
    // a tensor whose rates overflowed is listed without a bar
    const bad = (r) => ![r.mean, r.min, r.max].every(Number.isFinite);
    const good = rates.filter((r) => !bad(r));
    // one scale for every row, from 0 (or below, should a rate turn negative) to the largest rate or α
    const lo = Math.min(0, ...good.map((r) => r.min));
    const hi = Math.max(alpha, ...good.map((r) => r.max));
    const at = (v) => `${(100 * (v - lo)) / (hi - lo || 1)}%`;
    const cells = rates.flatMap((r) => {
      const track = el('div', { className: 'track' });
      if (bad(r)) {
        return [label(r.name), track,
          el('span', { className: 'figures', textContent: 'not finite' })];
      }
      const range = span('range', at(r.min));
      range.style.width = `calc(${at(r.max)} - ${at(r.min)})`;
      const start = span('alpha', at(alpha));
      start.title = `α = ${fmt(alpha)}, where every rate started`;
      // zero is worth a mark once a rate crosses it: a negative rate steps up the gradient
      if (lo < 0) track.append(span('zero', at(0)));
      track.append(range, start, span('mean', at(r.mean)));
      const figures = r.min === r.max ? fmt(r.mean) : `${fmt(r.mean)} (${fmt(r.min)} to ${fmt(r.max)})`;
      return [
        label(r.name),
        track,
        el('span', { className: 'figures', textContent: figures }),
      ];
    });
    this.body.replaceChildren(...cells); // one grid, so every bar has the same scale
    const byMean = [...good].sort((a, b) => a.mean - b.mean);
    const [low, high] = [byMean[0], byMean[byMean.length - 1]];
    if (!low) { this.caption.textContent = `After ${count(iteration, 'meta-iteration')} the learned rates are not finite.`; return; }
    const negative = good.some((r) => r.min < 0) ? '; some rates turned negative, so those weights step up their gradient' : '';
    this.caption.textContent = iteration === 0
      ? `Every weight's rate starts at α = ${fmt(alpha)}; training moves each one.`
      : `Every rate started at α = ${fmt(alpha)}; after ${count(iteration, 'meta-iteration')} the layers' means run from ${fmt(low.mean)} (${inWords(low.name)}) to ${fmt(high.mean)} (${inWords(high.name)})${negative}.`;
  }
}
