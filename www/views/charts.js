// The live charts, each a small class owning one uPlot: update(data) checks its input and redraws.
// Each chart is also an image with a one-line summary of what it shows (its aria-label), so a
// screen reader hears the numbers a sighted person reads off the curves.
// Pinned runs (views/pins.js) are extra series in their own colours: setPins(pins) rebuilds the
// plot with them, and each update aligns their points with the current run's on the union of
// their x values (nulls where a run has no point, spanned by the lines).
import uPlot from '../vendor/uPlot.esm.js';
import { axisExtent, clampTo, logRange, markOffScale, runScale } from './scale.js';
import { count } from '../words.js';

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

/** An axis value short enough for the axis: 0.05, 12, 3e+27 as 3e27. */
export const tick = (v) => (v === null || v === undefined ? '' : v === 0 ? '0' : Math.abs(v) >= 1e4 || Math.abs(v) < 1e-3 ? v.toExponential(0).replace('e+', 'e') : String(+v.toPrecision(3)));
/** A y axis labelled `label`, its values by `tick`. */
const yAxis = (label) => ({ label, size: 60, values: (u, splits) => splits.map(tick) });

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
      scales: { x: { time: false }, y: runScale(() => this.extent) },
      axes: [{ label: 'meta-iteration' }, yAxis('meta-loss')],
      legend: { live: false },
      series,
    }, series.map(() => []), this.el);
    this.observer = autosize(this.plot, this.el);
    describe(this.el, 'meta-loss: no meta-iterations yet');
  }
  /** history: {x, loss, avg, test} arrays of equal length (test is null between evaluations). */
  update(h) {
    if (h.x.length !== h.loss.length) throw new Error('loss chart: columns differ in length');
    // the axis is the current run's and the pins' near it: a pin far beyond is drawn on its edge (scale.js)
    this.extent = axisExtent([h.loss, h.avg, h.test], this.pins.flatMap((p) => [p.history.avg, p.history.test]));
    if (!this.pins.length) this.plot.setData([h.x, h.loss, h.avg, h.test]);
    else {
      const pins = this.pins.map((p) => [p.history.avg, p.history.test].map((c) => clampTo(c, logRange(this.extent))));
      this.plot.setData(alignOnUnion([
        { x: h.x, columns: [h.loss, h.avg, h.test] },
        ...this.pins.map((p, i) => ({ x: p.history.x, columns: pins[i].map((c) => c.column) })),
      ]));
      pins.flat().forEach((c, i) => markOffScale(this.plot, 4 + i, c.off));
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
  /** Builds the plot for `metric` (and, for accuracy, the chance level `chance` in %) and what
   *  else its options show (`about`: the learner's name, or the inner steps), unless it is already
   *  built for them. */
  ensure(metric, chance, about, more = null) {
    const key = `${metric} ${chance} ${about} ${more}`;
    if (key === this.key) return;
    this.plot?.destroy();
    this.observer?.disconnect();
    this.key = key;
    this.metric = metric;
    this.drawnPins = this.pins.filter((p) => p.steps.metric === metric);
    const options = this.options(metric, chance, about, more);
    this.plot = new uPlot(options, options.series.map(() => []), this.el);
    this.observer = autosize(this.plot, this.el);
    // a band's second edge needs no legend entry of its own, and its first shows the band's colour
    // (its own series draws nothing: the band is `bands`' fill between the two)
    const rows = this.plot.root.querySelectorAll('.u-legend .u-series');
    rows[options.series.findIndex((s) => s.label === 'CI high') - 1]?.setAttribute('hidden', '');
    const marker = options.bands && rows[options.series.findIndex((s) => s.label === '95 % CI') - 1]?.querySelector('.u-marker');
    if (marker) marker.style.background = COLORS.band;
  }
}

const metricOf = (evaluation) => (evaluation.maml.steps[0].accuracy ? 'accuracy' : 'mse');
/** A drawn value in a chart's summary: accuracy in %, an MSE in figures, a gap as such. */
const say = (metric) => (v) => (v === null ? 'not finite' : metric === 'accuracy' ? pct(v) : num(v));
/** The chance level in % of an evaluation on `ways`-way tasks: null for the sinusoid's MSE. */
const chanceOf = (metric, ways) => (metric === 'accuracy' && ways > 0 ? 100 / ways : null);
// A value as drawn: accuracy in %. An overflowed value comes as null from the wasm's JSON and
// stays null, which uPlot draws as a gap, so a chart shows the finite steps only.
const shown = (metric, v) => (typeof v !== 'number' || !Number.isFinite(v) ? null : metric === 'accuracy' ? 100 * v : v);
/** A step's or task's mean and 95 % half-width as drawn, or nulls when not finite. */
const statOf = (metric, s) => {
  const stat = metric === 'accuracy' ? s.accuracy : s.loss;
  const mean = shown(metric, stat?.mean);
  const ci = shown(metric, stat?.ci95);
  return mean === null || ci === null ? { mean, lo: null, hi: null } : { mean, lo: mean - ci, hi: mean + ci };
};

/** The nearest-neighbour classifiers drawn beside the learners: [key, legend, colour]. They learn
 *  nothing, so a learner below them has not learned (tasks::baselines). */
const NEIGHBOURS = [['pixel', 'nearest neighbour: pixels', '#b45309'], ['hausdorff', 'nearest neighbour: ink (Hausdorff)', '#7c3aed']];

/** Meta-test accuracy (or MSE) after each inner step 0..k, the run's learner beside a random
 *  start, with the 95 % confidence interval of the learner's mean as a band: exactly mean ± ci95.
 *  On the MSE's log axis an interval reaching zero or below cannot be drawn: its band runs off the
 *  bottom of the axis, and the chart's text alternative says so. */
export class StepChart extends EvaluationChart {
  options(metric, chance, learner, neighbours) {
    // the band's two edges draw nothing themselves: `bands` fills between them
    const edge = { stroke: 'transparent', points: { show: false } };
    // the chance line and the nearest neighbours' when there are, before the band's two edges (the legend hides the last)
    const extra = [...(chance === null ? [] : [chanceSeries(chance)]), ...(neighbours ? NEIGHBOURS.map(([, label, stroke]) => ({ label, stroke, width: 1.5, dash: [2, 3], points: { show: false } })) : [])];
    return {
      ...size(this.el),
      scales: { x: { time: false }, y: metric === 'accuracy' ? { range: [0, 100] } : runScale(() => this.extent) },
      axes: [{ label: 'inner step', incrs: [1, 2, 5] }, yAxis(metric === 'accuracy' ? 'query accuracy %' : 'query MSE')],
      series: [
        {},
        { label: learner, stroke: COLORS.maml, width: 2 },
        { label: 'random start', stroke: COLORS.random, width: 2, dash: [6, 4] },
        ...extra,
        { label: '95 % CI', ...edge },
        { label: 'CI high', ...edge },
        ...this.drawnPins.map((p) => pinLine(p, p.label, { points: { show: true, size: 5 } })),
      ],
      bands: [{ series: [4 + extra.length, 3 + extra.length], fill: COLORS.band }],
      legend: { live: false },
    };
  }
  /** ways: the tasks' classes, for the chance line (ignored for the sinusoid); learner: the
   *  run's, as the legend names it (run.js, learnerName). */
  update({ maml, random, neighbours = null }, ways, learner = 'MAML') {
    const metric = metricOf({ maml });
    const chance = chanceOf(metric, ways);
    const m = maml.steps.map((s) => statOf(metric, s));
    const r = random.steps.map((s) => statOf(metric, s));
    // (a classification's only: the sinusoid has none)
    const near = metric === 'accuracy' && neighbours ? NEIGHBOURS.map(([key]) => statOf(metric, { accuracy: neighbours[key] }).mean) : null;
    // the log axis spans the means and the intervals' upper edges; a lower edge below it (zero or
    // less, or a tiny positive one, which would stretch the axis over decades) runs off its bottom
    const pinMeans = this.pins.filter((p) => p.steps.metric === metric).map((p) => p.steps.mean);
    this.extent = axisExtent([m.map((v) => v.mean), m.map((v) => v.hi), r.map((v) => v.mean)], pinMeans);
    this.ensure(metric, chance, learner, Boolean(near));
    const bottom = metric === 'mse' ? logRange(this.extent)?.[0] ?? null : null;
    const below = m.map((v, i) => (bottom !== null && v.lo !== null && v.lo < bottom ? i : -1)).filter((i) => i >= 0);
    const lo = m.map((v, i) => (below.includes(i) ? bottom : v.lo));
    const pins = this.drawnPins.map((p) => clampTo(p.steps.mean, metric === 'mse' ? logRange(this.extent) : null));
    this.plot.setData(alignOnUnion([
      {
        x: maml.steps.map((s) => s.step),
        columns: [m.map((v) => v.mean), r.map((v) => v.mean), ...(chance === null ? [] : [m.map(() => chance)]), ...(near ?? []).map((v) => m.map(() => v)), lo, m.map((v) => v.hi)],
      },
      ...this.drawnPins.map((p, i) => ({ x: p.steps.step, columns: [pins[i].column] })),
    ]));
    const extra = (chance === null ? 0 : 1) + (near ? NEIGHBOURS.length : 0);
    pins.forEach((c, i) => markOffScale(this.plot, 5 + extra + i, c.off));
    const show = say(metric);
    const k = m.length - 1;
    const offAxis = below.length ? `; the 95 % interval runs below the axis at ${below.length > 1 ? 'steps' : 'step'} ${below.join(', ')}` : '';
    describe(this.el, `query ${metric === 'accuracy' ? 'accuracy' : 'MSE'} on ${count(maml.tasks.length, 'held-out task')} after 0 to ${count(k, 'inner step')}: `
      + `${learner}'s start ${show(m[0].mean)} to ${show(m[k].mean)}${m[k].hi === null ? '' : ` ± ${show(m[k].hi - m[k].mean)}`}, a random start ${show(r[0].mean)} to ${show(r[k].mean)}`
      + (chance === null ? '' : `; chance ${pct(chance)}`)
      + (near ? `; nearest neighbour by pixels ${show(near[0])}, by ink ${show(near[1])}${m[k].mean < Math.max(...near) ? ` (${learner} is below them: it has not learned yet)` : ''}` : '') + offAxis);
  }
}

/** Per-task accuracy (or MSE) after the last inner step on the fixed meta-test tasks: every task
 *  a point, with the mean and its 95 % interval as lines. */
export class TaskChart extends EvaluationChart {
  /** `steps`: the inner steps the tasks took, as the axis says it. */
  options(metric, chance, steps) {
    // (short: the axis is the chart's height; the caption says it is after the last inner step)
    const after = `step ${steps}`;
    return {
      ...size(this.el),
      legend: { live: false },
      scales: { x: { time: false }, y: metric === 'accuracy' ? { range: [0, 100] } : runScale(() => this.extent) },
      axes: [{ label: 'meta-test task' }, yAxis(metric === 'accuracy' ? `accuracy %, ${after}` : `MSE, ${after}`)],
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
    const last = maml.steps[maml.steps.length - 1];
    const stat = statOf(metric, last);
    const values = maml.tasks.map((t) => { const curve = metric === 'accuracy' ? t.accuracy : t.loss; return shown(metric, curve[curve.length - 1]); });
    this.extent = axisExtent([values, [stat.mean, stat.hi]], [this.drawnPins.map((p) => p.taskMean)]);
    this.ensure(metric, chance, String(last.step));
    const x = values.map((_, i) => i + 1);
    // an interval's lower edge at or below zero has no place on the MSE's log axis: not drawn
    const lo = metric === 'mse' && stat.lo !== null && stat.lo <= 0 ? null : stat.lo;
    const pins = this.drawnPins.map((p) => clampTo([p.taskMean], metric === 'mse' ? logRange(this.extent) : null));
    this.plot.setData([
      x, values, x.map(() => stat.mean), ...(chance === null ? [] : [x.map(() => chance)]),
      x.map(() => lo), x.map(() => stat.hi),
      ...pins.map((c) => x.map(() => c.column[0])),
    ]);
    pins.forEach((c, i) => markOffScale(this.plot, 5 + (chance === null ? 0 : 1) + i, c.off));
    const show = say(metric);
    const finite = values.filter((v) => v !== null);
    const spread = stat.hi === null ? '' : ` ± ${show(stat.hi - stat.mean)}`;
    const range = finite.length ? `from ${show(Math.min(...finite))} to ${show(Math.max(...finite))}` : 'none finite';
    describe(this.el, `${count(values.length, 'meta-test task')} after ${count(last.step, 'inner step')}: mean ${show(stat.mean)}${spread}, ${range}`
      + (chance === null ? '' : `; chance ${pct(chance)}`) + (lo === null && stat.lo !== null ? '; the lower edge of the 95 % interval is at or below zero, below the log axis' : ''));
  }
}
