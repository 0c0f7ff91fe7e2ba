// The live charts, each a small class owning one uPlot: update(data) checks its input and redraws.
import uPlot from '../vendor/uPlot.esm.js';

const COLORS = { maml: '#2563eb', mamlSoft: 'rgba(37,99,235,0.25)', random: '#9ca3af', test: '#dc2626', band: 'rgba(37,99,235,0.12)' };

function size(el) {
  return { width: Math.max(280, el.clientWidth), height: 220 };
}

/** Fits a chart to its container when the window changes size. */
function autosize(plot, el) {
  new ResizeObserver(() => plot.setSize(size(el))).observe(el);
}

/** Meta-loss over iterations: every training meta-loss (light), its moving average, and the
 *  meta-test loss after adaptation at intervals. */
export class LossChart {
  constructor(el) {
    this.el = el;
    this.plot = new uPlot({
      ...size(el),
      scales: { x: { time: false }, y: { distr: 3 } },
      axes: [{ label: 'meta-iteration' }, { label: 'meta-loss', size: 60 }],
      legend: { live: false },
      series: [
        {},
        { label: 'meta-train', stroke: COLORS.mamlSoft, width: 1, points: { show: false } },
        { label: 'moving average', stroke: COLORS.maml, width: 2, points: { show: false } },
        { label: 'meta-test', stroke: COLORS.test, width: 2, spanGaps: true, points: { show: true, size: 6 } },
      ],
    }, [[], [], [], []], el);
    autosize(this.plot, el);
  }
  /** history: {x, loss, avg, test} arrays of equal length (test is null between evaluations). */
  update(h) {
    if (h.x.length !== h.loss.length) throw new Error('loss chart: columns differ in length');
    this.plot.setData([h.x, h.loss, h.avg, h.test]);
  }
}

/** A chart of an evaluation, rebuilt when its metric (accuracy or MSE) changes with the task. */
class EvaluationChart {
  constructor(el) {
    this.el = el;
    this.metric = null;
  }
  /** Builds the plot for `metric` unless it is already built for it. */
  ensure(metric) {
    if (metric === this.metric) return;
    this.plot?.destroy();
    this.metric = metric;
    this.plot = new uPlot(this.options(metric), this.options(metric).series.map(() => []), this.el);
    autosize(this.plot, this.el);
  }
}

const metricOf = (evaluation) => (evaluation.maml.steps[0].accuracy ? 'accuracy' : 'mse');
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
  options(metric) {
    const band = (color) => ({ stroke: 'transparent', fill: color, points: { show: false } });
    return {
      ...size(this.el),
      scales: { x: { time: false }, y: metric === 'accuracy' ? { range: [0, 100] } : { distr: 3 } },
      axes: [{ label: 'inner step', incrs: [1, 2, 5] }, { label: metric === 'accuracy' ? 'query accuracy %' : 'query MSE', size: 60 }],
      series: [
        {},
        { label: 'MAML', stroke: COLORS.maml, width: 2 },
        { label: 'random init', stroke: COLORS.random, width: 2, dash: [6, 4] },
        { label: '95 % CI', ...band(COLORS.band) },
        { label: 'CI high', ...band(COLORS.band) },
      ],
      bands: [{ series: [4, 3], fill: COLORS.band }],
      legend: { live: false },
    };
  }
  update({ maml, random }) {
    const metric = metricOf({ maml });
    this.ensure(metric);
    const m = maml.steps.map((s) => statOf(metric, s));
    const r = random.steps.map((s) => statOf(metric, s));
    this.plot.setData([maml.steps.map((s) => s.step), m.map((v) => v.mean), r.map((v) => v.mean), m.map((v) => v.lo), m.map((v) => v.hi)]);
  }
}

/** Per-task accuracy (or MSE) after the last inner step on the fixed meta-test tasks: every task
 *  a point, with the mean and its 95 % interval as lines. */
export class TaskChart extends EvaluationChart {
  options(metric) {
    return {
      ...size(this.el),
      legend: { live: false },
      scales: { x: { time: false }, y: metric === 'accuracy' ? { range: [0, 100] } : { distr: 3 } },
      axes: [{ label: 'meta-test task' }, { label: metric === 'accuracy' ? 'accuracy % after k' : 'MSE after k', size: 60 }],
      series: [
        {},
        { label: 'task', stroke: COLORS.maml, paths: () => null, points: { show: true, size: 8, fill: COLORS.maml } },
        { label: 'mean', stroke: COLORS.test, width: 2, points: { show: false } },
        { label: '95 % CI', stroke: COLORS.test, width: 1, dash: [4, 4], points: { show: false } },
        { label: 'CI high', stroke: COLORS.test, width: 1, dash: [4, 4], points: { show: false } },
      ],
    };
  }
  update({ maml }) {
    const metric = metricOf({ maml });
    this.ensure(metric);
    const stat = statOf(metric, maml.steps[maml.steps.length - 1]);
    const values = maml.tasks.map((t) => { const curve = metric === 'accuracy' ? t.accuracy : t.loss; return shown(metric, curve[curve.length - 1]); });
    const x = values.map((_, i) => i + 1);
    this.plot.setData([x, values, x.map(() => stat.mean), x.map(() => stat.lo), x.map(() => stat.hi)]);
  }
}
