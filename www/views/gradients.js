// How far first-order MAML's meta-gradient (and Reptile's direction) is from the exact one, as the
// run trains: before every few meta-iterations the worker computes both on the meta-batch about to
// be trained on (maml::compare, the figures `maml train --compare-every` writes), and this chart
// draws their cosine (left axis) and the ratio of their norms (right axis, log).
import uPlot from '../vendor/uPlot.esm.js';
import { el } from './dom.js';
import { tick } from './charts.js';

const BLUE = '#2563eb';
const PURPLE = '#9333ea';
/** The choices of how often to compare, in meta-iterations (0: never; auto: as often as costs a
 *  twentieth of the training time, worker/loop.js). */
export const COMPARE_EVERY = ['auto', 5, 20, 100, 0];

const finite = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const positive = (v) => (finite(v) !== null && v > 0 ? v : null);
const num = (v) => (v === null ? 'not finite' : String(+v.toPrecision(3)));

/** The comparisons of a run: one column per figure, by the iteration they were made before. */
export const emptyGradients = () => ({ x: [], cosine: [], ratio: [], reptileCosine: [], reptileRatio: [], exactNorm: [] });

/** Adds the worker's `gradients` message to `g`. */
export function addGradients(g, m) {
  const c = m.comparison;
  // an exact meta-gradient that overflowed (null in the wasm's JSON) leaves nothing to compare: a
  // ratio to it of 0, or any cosine, would be drawn as if it meant something (and 0 has no place
  // on the log axis)
  const exact = positive(c.exact_norm);
  const ratio = (r) => (exact === null ? null : positive(r));
  const cos = (v) => (exact === null ? null : finite(v));
  // a comparison made again at the same iteration (a resumed run) replaces the first
  const at = g.x.indexOf(m.iteration);
  const values = [m.iteration, cos(c.first_order.cosine), ratio(c.first_order.norm_ratio), cos(c.reptile?.cosine), ratio(c.reptile?.norm_ratio), exact];
  const cols = [g.x, g.cosine, g.ratio, g.reptileCosine, g.reptileRatio, g.exactNorm];
  if (at >= 0) cols.forEach((col, i) => { col[at] = values[i]; });
  else cols.forEach((col, i) => col.push(values[i]));
  // a long run at a short interval: every other point goes, so memory stays flat
  if (g.x.length > MAX_POINTS) for (const k of Object.keys(g)) g[k] = g[k].filter((_, i) => i % 2 === 0);
}
const MAX_POINTS = 2000;

/** The comparisons as CSV rows: iteration, cosines, ratios, the exact gradient's norm. */
export function gradientsRows(g) {
  return g.x.map((x, i) => [x, g.exactNorm[i], g.cosine[i], g.ratio[i], g.reptileCosine[i], g.reptileRatio[i]]);
}
export const GRADIENTS_HEADER = ['iteration', 'exact_norm', 'first_order_cosine', 'first_order_norm_ratio', 'reptile_cosine', 'reptile_norm_ratio'];

export class GradientChart {
  /** el: the chart's element; tools: where its setting goes; onEvery(n): the setting changed. */
  constructor(el_, tools, onEvery) {
    this.el = el_;
    this.reptile = null;
    const text = (n) => (n === 'auto' ? 'auto: at most 5 % of the time' : n ? `every ${n} meta-iterations` : 'never');
    this.select = el('select', { id: 'compare-every' }, ...COMPARE_EVERY.map((n) => el('option', { value: String(n), textContent: text(n) })));
    this.select.value = 'auto';
    this.select.onchange = () => onEvery(this.every());
    this.interval = el('span', { className: 'interval' });
    tools.prepend(el('label', {}, 'compare ', this.select), this.interval);
    this.build(false);
  }

  /** How often to compare, as the setting shows: a number, or 'auto'. */
  every() {
    return this.select.value === 'auto' ? 'auto' : Number(this.select.value);
  }

  /** The interval the worker used last (auto's choice shows beside the setting). */
  showInterval(m) {
    this.interval.textContent = m?.auto ? `(now every ${m.every})` : '';
  }

  /** Builds the plot, with Reptile's series when the run is Reptile's. */
  build(reptile) {
    this.reptile = reptile;
    this.plot?.destroy();
    this.observer?.disconnect();
    const series = [
      {},
      { label: 'cos(first-order, exact)', stroke: BLUE, width: 2, scale: 'cos', spanGaps: true, points: { show: true, size: 5 } },
      { label: '|first-order| / |exact|', stroke: BLUE, width: 1.5, dash: [5, 4], scale: 'ratio', spanGaps: true, points: { show: false } },
      ...(reptile ? [
        { label: 'cos(Reptile, exact)', stroke: PURPLE, width: 2, scale: 'cos', spanGaps: true, points: { show: true, size: 5 } },
        { label: '|Reptile| / |exact|', stroke: PURPLE, width: 1.5, dash: [5, 4], scale: 'ratio', spanGaps: true, points: { show: false } },
      ] : []),
    ];
    this.plot = new uPlot({
      width: Math.max(280, this.el.clientWidth),
      height: 220,
      // the ratio is drawn as its log2 on a linear scale, its ticks labelled with the ratio (uPlot's
      // own log scale loops without end on some ranges a diverging run gives)
      scales: { x: { time: false }, cos: { range: [-1, 1] }, ratio: { range: (u, lo, hi) => log2Range(lo, hi) } },
      axes: [
        { label: 'meta-iteration' },
        { scale: 'cos', label: 'cosine', size: 50, values: (u, splits) => splits.map(tick) },
        { scale: 'ratio', label: 'norm ratio', side: 1, size: 50, grid: { show: false }, incrs: [1, 2, 5, 10, 20, 50], values: (u, splits) => splits.map((v) => tick(2 ** v)) },
      ],
      legend: { live: false },
      series,
    }, series.map(() => []), this.el);
    this.observer = new ResizeObserver(() => this.plot.setSize({ width: Math.max(280, this.el.clientWidth), height: 220 }));
    this.observer.observe(this.el);
    this.describe(null);
  }

  /** g: the run's comparisons (emptyGradients); reptile: the run is Reptile's. */
  update(g, reptile) {
    if (reptile !== this.reptile) this.build(reptile);
    const log2 = (col) => col.map((r) => (r === null ? null : Math.log2(r)));
    const columns = reptile ? [g.x, g.cosine, log2(g.ratio), g.reptileCosine, log2(g.reptileRatio)] : [g.x, g.cosine, log2(g.ratio)];
    this.plot.setData(columns);
    this.describe(g);
  }

  /** The chart's text: the latest comparison in words. */
  describe(g) {
    this.el.setAttribute('role', 'img');
    const i = g ? g.x.length - 1 : -1;
    const reptile = i >= 0 && g.reptileCosine[i] !== null ? `; Reptile's direction: cosine ${num(g.reptileCosine[i])}, norm ratio ${num(g.reptileRatio[i])}` : '';
    this.el.setAttribute('aria-label', i < 0
      ? (this.select.value === '0' ? 'exact against first-order meta-gradient: not compared (the setting is never)' : 'exact against first-order meta-gradient: no comparison yet')
      : `exact against first-order meta-gradient before meta-iteration ${g.x[i]}: cosine ${num(g.cosine[i])}, norm ratio ${num(g.ratio[i])}${reptile}`);
  }
}

/** The norm ratio's axis, in log2: its values, widened to at least 0.5 to 2 (−1 to 1) so that a
 *  ratio of 1 sits inside, and whole. */
export function log2Range(lo, hi) {
  if (!(Number.isFinite(lo) && Number.isFinite(hi))) return [-1, 1];
  return [Math.floor(Math.min(lo, -1)), Math.ceil(Math.max(hi, 1))];
}
