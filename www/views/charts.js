// The live charts, each a small class owning one uPlot: update(data) checks its input and redraws.
// Each chart is also an image with a one-line summary of what it shows (its aria-label), so a
// screen reader hears the numbers a sighted person reads off the curves.
// Pinned runs (views/pins.js) are extra series in their own colours: setPins(pins) rebuilds the
// plot with them, and each update aligns their points with the current run's on the union of
// their x values (nulls where a run has no point, spanned by the lines).
import uPlot from '../vendor/uPlot.esm.js';

const COLORS = { maml: '#2563eb', mamlSoft: 'rgba(37,99,235,0.25)', random: '#9ca3af', test: '#dc2626', band: 'rgba(37,99,235,0.12)', chance: '#111827' };

/** Gives a chart's element its text alternative: `summary`, renewed with the data. */
function describe(el, summary) {
  el.setAttribute('role', 'img');
  el.setAttribute('aria-label', summary);
}

const num = (v) => (!Number.isFinite(v) ? 'not finite' : Math.abs(v) >= 0.01 ? String(+v.toPrecision(3)) : v.toExponential(1));
const pct = (v) => `${v.toFixed(0)} %`;

/** The level a classifier reaches by guessing, in %, as a dashed line on the accuracy charts:
 *  no learner can beat it on the noise control, and every one should on the other image tasks. */
const chanceSeries = (chance) => ({ label: `chance (${pct(chance)})`, stroke: COLORS.chance, width: 1, dash: [3, 5], points: { show: false } });

function size(el) {
  return { width: Math.max(280, el.clientWidth), height: 220 };
}

/** Fits a chart to its container when the window changes size; returns the observer, to
 *  disconnect when the plot is replaced. */
function autosize(plot, el) {
  const observer = new ResizeObserver(() => plot.setSize(size(el)));
  observer.observe(el);
  return observer;
}

/** Columns of several runs, each {x, columns}, on the sorted union of their x values: [x, ...every
 *  run's columns in order], with null where a run has no point at that x. */
export function alignOnUnion(runs) {
  const x = [...new Set(runs.flatMap((r) => r.x))].sort((a, b) => a - b);
  const out = [x];
  for (const r of runs) {
    const at = new Map(r.x.map((v, i) => [v, i]));
    for (const col of r.columns) out.push(x.map((v) => (at.has(v) ? col[at.get(v)] : null)));
  }
  return out;
}

/** A pinned run's line in its colour. */
const pinLine = (p, label, extra = {}) => ({ label, stroke: p.colour, width: 2, spanGaps: true, points: { show: false }, ...extra });

/** Meta-loss over iterations: every training meta-loss (light), its moving average, and the
 *  meta-test loss after adaptation at intervals. */
export class LossChart {
  constructor(el) {
    this.el = el;
    this.setPins([]);
  }
  /** Rebuilds the plot with each pin's moving average and meta-test loss. */
  setPins(pins) {
    this.pins = pins;
    this.plot?.destroy();
    this.observer?.disconnect();
    const series = [
      {},
      { label: 'meta-train', stroke: COLORS.mamlSoft, width: 1, spanGaps: true, points: { show: false } },
      { label: 'moving average', stroke: COLORS.maml, width: 2, spanGaps: true, points: { show: false } },
      { label: 'meta-test', stroke: COLORS.test, width: 2, spanGaps: true, points: { show: true, size: 6 } },
      ...pins.flatMap((p) => [pinLine(p, p.label), pinLine(p, `${p.tag} meta-test`, { width: 1.5, dash: [5, 4], points: { show: true, size: 5 } })]),
    ];
    this.plot = new uPlot({
      ...size(this.el),
      scales: { x: { time: false }, y: { distr: 3 } },
      axes: [{ label: 'meta-iteration' }, { label: 'meta-loss', size: 60 }],
      legend: { live: false },
      series,
    }, series.map(() => []), this.el);
    this.observer = autosize(this.plot, this.el);
    describe(this.el, 'meta-loss: no meta-iterations yet');
  }
  /** history: {x, loss, avg, test} arrays of equal length (test is null between evaluations). */
  update(h) {
    if (h.x.length !== h.loss.length) throw new Error('loss chart: columns differ in length');
    if (!this.pins.length) this.plot.setData([h.x, h.loss, h.avg, h.test]);
    else {
      this.plot.setData(alignOnUnion([
        { x: h.x, columns: [h.loss, h.avg, h.test] },
        ...this.pins.map((p) => ({ x: p.history.x, columns: [p.history.avg, p.history.test] })),
      ]));
    }
    describe(this.el, LossChart.summary(h));
  }
  /** "meta-loss 0.42 at iteration 300 (moving average), falling; meta-test 0.45 at iteration 280" */
  static summary(h) {
    const last = (col) => { for (let i = col.length - 1; i >= 0; i--) if (col[i] !== null) return i; return -1; };
    const i = last(h.loss);
    if (i < 0) return 'meta-loss: no meta-iterations yet';
    // the trend: the moving average now against a quarter of the history ago
    const then = h.avg[Math.floor(0.75 * i)];
    const ratio = h.avg[i] / then;
    const trend = i < 10 ? 'too early for a trend' : ratio < 0.97 ? 'falling' : ratio > 1.03 ? 'rising' : 'flat';
    const t = last(h.test);
    const test = t < 0 ? '' : `; meta-test ${num(h.test[t])} at iteration ${h.x[t]}`;
    return `meta-loss ${num(h.avg[i])} at iteration ${h.x[i]} (moving average), ${trend}${test}`;
  }
}

/** A chart of an evaluation, rebuilt when its metric (accuracy or MSE) changes with the task. */
class EvaluationChart {
  constructor(el) {
    this.el = el;
    this.metric = null;
    this.pins = [];
    this.drawnPins = []; // the pins drawn: those of the current metric
  }
  /** Draws these pins from the next update on (those of another metric are left out). */
  setPins(pins) {
    this.pins = pins;
    this.key = null; // rebuilt on the next update
  }
  /** Builds the plot for `metric` (and, for accuracy, the chance level `chance` in %) unless
   *  it is already built for them. */
  ensure(metric, chance) {
    const key = `${metric} ${chance}`;
    if (key === this.key) return;
    this.plot?.destroy();
    this.observer?.disconnect();
    this.key = key;
    this.metric = metric;
    this.drawnPins = this.pins.filter((p) => p.steps.metric === metric);
    const options = this.options(metric, chance);
    this.plot = new uPlot(options, options.series.map(() => []), this.el);
    this.observer = autosize(this.plot, this.el);
    // a band's second edge needs no legend entry of its own
    const edge = options.series.findIndex((s) => s.label === 'CI high');
    this.plot.root.querySelectorAll('.u-legend .u-series')[edge - 1]?.setAttribute('hidden', '');
  }
}

const metricOf = (evaluation) => (evaluation.maml.steps[0].accuracy ? 'accuracy' : 'mse');
/** A drawn value in a chart's summary: accuracy in %, an MSE in figures, a gap as such. */
const say = (metric) => (v) => (v === null ? 'not finite' : metric === 'accuracy' ? pct(v) : num(v));
/** The chance level in % of an evaluation on `ways`-way tasks: null for the sinusoid's MSE. */
const chanceOf = (metric, ways) => (metric === 'accuracy' && ways > 0 ? 100 / ways : null);
// MSE is drawn on a log scale, where an interval's lower edge below zero cannot be shown
const floor = (metric, v) => (v === null ? null : metric === 'mse' ? Math.max(v, 1e-3) : v);
// A value as drawn: accuracy in %. An overflowed value comes as null from the wasm's JSON and
// stays null, which uPlot draws as a gap, so a chart shows the finite steps only.
const shown = (metric, v) => (typeof v !== 'number' || !Number.isFinite(v) ? null : metric === 'accuracy' ? 100 * v : v);
/** A step's or task's mean and 95 % half-width as drawn, or nulls when not finite. */
const statOf = (metric, s) => {
  const stat = metric === 'accuracy' ? s.accuracy : s.loss;
  const mean = shown(metric, stat?.mean);
  const ci = shown(metric, stat?.ci95);
  return mean === null || ci === null ? { mean, lo: null, hi: null } : { mean, lo: floor(metric, mean - ci), hi: mean + ci };
};

/** Meta-test accuracy (or MSE) after each inner step 0..k, MAML beside random init, with the
 *  95 % confidence interval of MAML's as a band. */
export class StepChart extends EvaluationChart {
  options(metric, chance) {
    const band = (color) => ({ stroke: 'transparent', fill: color, points: { show: false } });
    // the chance line, when there is one, before the band's two edges (the legend hides the last)
    const extra = chance === null ? [] : [chanceSeries(chance)];
    return {
      ...size(this.el),
      scales: { x: { time: false }, y: metric === 'accuracy' ? { range: [0, 100] } : { distr: 3 } },
      axes: [{ label: 'inner step', incrs: [1, 2, 5] }, { label: metric === 'accuracy' ? 'query accuracy %' : 'query MSE', size: 60 }],
      series: [
        {},
        { label: 'MAML', stroke: COLORS.maml, width: 2 },
        { label: 'random init', stroke: COLORS.random, width: 2, dash: [6, 4] },
        ...extra,
        { label: '95 % CI', ...band(COLORS.band) },
        { label: 'CI high', ...band(COLORS.band) },
        ...this.drawnPins.map((p) => pinLine(p, p.label, { points: { show: true, size: 5 } })),
      ],
      bands: [{ series: [4 + extra.length, 3 + extra.length], fill: COLORS.band }],
      legend: { live: false },
    };
  }
  /** ways: the tasks' classes, for the chance line (ignored for the sinusoid). */
  update({ maml, random }, ways) {
    const metric = metricOf({ maml });
    const chance = chanceOf(metric, ways);
    this.ensure(metric, chance);
    const m = maml.steps.map((s) => statOf(metric, s));
    const r = random.steps.map((s) => statOf(metric, s));
    this.plot.setData(alignOnUnion([
      {
        x: maml.steps.map((s) => s.step),
        columns: [m.map((v) => v.mean), r.map((v) => v.mean), ...(chance === null ? [] : [m.map(() => chance)]), m.map((v) => v.lo), m.map((v) => v.hi)],
      },
      ...this.drawnPins.map((p) => ({ x: p.steps.step, columns: [p.steps.mean] })),
    ]));
    const show = say(metric);
    const k = m.length - 1;
    describe(this.el, `query ${metric === 'accuracy' ? 'accuracy' : 'MSE'} on ${maml.tasks.length} held-out tasks after 0 to ${k} inner steps: `
      + `MAML's start ${show(m[0].mean)} to ${show(m[k].mean)}, a random start ${show(r[0].mean)} to ${show(r[k].mean)}`
      + (chance === null ? '' : `; chance ${pct(chance)}`));
  }
}

/** Per-task accuracy (or MSE) after the last inner step on the fixed meta-test tasks: every task
 *  a point, with the mean and its 95 % interval as lines. */
export class TaskChart extends EvaluationChart {
  options(metric, chance) {
    return {
      ...size(this.el),
      legend: { live: false },
      scales: { x: { time: false }, y: metric === 'accuracy' ? { range: [0, 100] } : { distr: 3 } },
      axes: [{ label: 'meta-test task' }, { label: metric === 'accuracy' ? 'accuracy % after k' : 'MSE after k', size: 60 }],
      series: [
        {},
        { label: 'task', stroke: COLORS.maml, paths: () => null, points: { show: true, size: 8, fill: COLORS.maml } },
        { label: 'mean', stroke: COLORS.test, width: 2, points: { show: false } },
        ...(chance === null ? [] : [chanceSeries(chance)]),
        { label: '95 % CI', stroke: COLORS.test, width: 1, dash: [4, 4], points: { show: false } },
        { label: 'CI high', stroke: COLORS.test, width: 1, dash: [4, 4], points: { show: false } },
        ...this.drawnPins.map((p) => pinLine(p, `${p.label} mean`)),
      ],
    };
  }
  /** ways: the tasks' classes, for the chance line (ignored for the sinusoid). */
  update({ maml }, ways) {
    const metric = metricOf({ maml });
    const chance = chanceOf(metric, ways);
    this.ensure(metric, chance);
    const last = maml.steps[maml.steps.length - 1];
    const stat = statOf(metric, last);
    const values = maml.tasks.map((t) => { const curve = metric === 'accuracy' ? t.accuracy : t.loss; return shown(metric, curve[curve.length - 1]); });
    const x = values.map((_, i) => i + 1);
    this.plot.setData([
      x, values, x.map(() => stat.mean), ...(chance === null ? [] : [x.map(() => chance)]),
      x.map(() => stat.lo), x.map(() => stat.hi),
      ...this.drawnPins.map((p) => x.map(() => p.taskMean)),
    ]);
    const show = say(metric);
    const finite = values.filter((v) => v !== null);
    const spread = stat.hi === null ? '' : ` ± ${show(stat.hi - stat.mean)}`;
    const range = finite.length ? `from ${show(Math.min(...finite))} to ${show(Math.max(...finite))}` : 'none finite';
    describe(this.el, `${values.length} meta-test tasks after ${last.step} inner steps: mean ${show(stat.mean)}${spread}, ${range}`
      + (chance === null ? '' : `; chance ${pct(chance)}`));
  }
}
