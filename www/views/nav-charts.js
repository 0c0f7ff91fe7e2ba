// Navigation's two charts: the meta-objective per meta-iteration (the mean return after
// adaptation, the meta-batch's, with the return before it and the meta-test's after the training
// steps), and the meta-test return after 0..k inner steps from the meta-learned start beside a
// random one, mean ± 95 % CI over held-out goals. Returns are negative sums of distances: a
// linear axis, higher is better.
import uPlot from '../vendor/uPlot.esm.js';

const COLORS = { maml: '#2563eb', soft: 'rgba(37,99,235,0.25)', before: '#9ca3af', random: '#6b7280', test: '#dc2626', band: 'rgba(37,99,235,0.12)' };
const size = (el) => ({ width: Math.max(280, el.clientWidth), height: 220 });
const r1 = (v) => (Number.isFinite(v) ? v.toFixed(1) : 'not finite');
// (uPlot's default y range pads around the data; returns are all negative)
const yAxis = (label) => ({ label, size: 55 });

function describe(el, summary) {
  el.setAttribute('role', 'img');
  el.setAttribute('aria-label', summary);
}

function make(el, options) {
  const plot = new uPlot({ ...size(el), legend: { live: false }, ...options }, options.series.map(() => []), el);
  new ResizeObserver(() => plot.setSize(size(el))).observe(el);
  return plot;
}

export class NavObjectiveChart {
  constructor(el) {
    this.el = el;
    this.plot = make(el, {
      scales: { x: { time: false } },
      axes: [{ label: 'meta-iteration' }, yAxis('return')],
      series: [
        {},
        { label: 'after adapting (meta-batch)', stroke: COLORS.soft, width: 1, spanGaps: true, points: { show: false } },
        { label: 'moving average', stroke: COLORS.maml, width: 2, spanGaps: true, points: { show: false } },
        { label: 'before adapting', stroke: COLORS.before, width: 1, spanGaps: true, points: { show: false } },
        { label: 'meta-test, after the training steps', stroke: COLORS.test, width: 2, spanGaps: true, points: { show: true, size: 6 } },
      ],
    });
    describe(el, 'return after adaptation: no meta-iterations yet');
  }
  /** h: {x, after, avg, before, test} of equal length (test null between meta-tests). */
  update(h) {
    this.plot.setData([h.x, h.after, h.avg, h.before, h.test]);
    const i = h.x.length - 1;
    describe(this.el, i < 0 ? 'return after adaptation: no meta-iterations yet'
      : `return after adaptation ${r1(h.avg[i])} at iteration ${h.x[i]} (moving average), before adapting ${r1(h.before[i])}`);
  }
}

export class NavTestChart {
  constructor(el) {
    this.el = el;
    const edge = { stroke: 'transparent', points: { show: false } };
    this.plot = make(el, {
      scales: { x: { time: false } },
      axes: [{ label: 'inner step', incrs: [1, 2, 5] }, yAxis('return')],
      series: [
        {},
        { label: 'MAML', stroke: COLORS.maml, width: 2 },
        { label: 'random start', stroke: COLORS.random, width: 2, dash: [6, 4] },
        { label: '95 % CI', ...edge },
        { label: 'CI high', ...edge },
      ],
      bands: [{ series: [4, 3], fill: COLORS.band }],
    });
    const rows = this.plot.root.querySelectorAll('.u-legend .u-series');
    rows[3]?.setAttribute('hidden', '');
    const marker = rows[2]?.querySelector('.u-marker');
    if (marker) marker.style.background = COLORS.band;
    describe(el, 'meta-test return: not measured yet');
  }
  /** e: {iteration, goals, steps, maml: [{mean, ci}], random: [{mean, ci}]}. */
  update(e) {
    const x = e.maml.map((_, i) => i);
    this.plot.setData([x, e.maml.map((s) => s.mean), e.random.map((s) => s.mean), e.maml.map((s) => s.mean - s.ci), e.maml.map((s) => s.mean + s.ci)]);
    const k = e.steps;
    describe(this.el, `meta-test return on ${e.goals} held-out goals at iteration ${e.iteration}, after 0 to ${k} inner steps: the meta-learned start ${r1(e.maml[0].mean)} to ${r1(e.maml[k].mean)} ± ${r1(e.maml[k].ci)}, a random start ${r1(e.random[0].mean)} to ${r1(e.random[k].mean)}`);
  }
}
