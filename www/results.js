// What the page holds of the current run's results, for the charts: the meta-loss history, the
// latest meta-test, display task and learned rates, and the WebGPU calls per meta-iteration.
// A new run starts them over in one place (`reset`).

import { emptyGradients } from './views/gradients.js';

const MAX_POINTS = 4000; // the loss history is thinned past this, so memory stays flat

// the speed shown is the rate over this much of the latest training, as a stopwatch would time it
const STOPWATCH_MS = 10_000;

/** Meta-iterations per second as a person with a stopwatch would time them: iterations done over
 *  the wall time since Play (or over the last STOPWATCH_MS), meta-tests and every other pause
 *  between training calls included, not the training calls' own speed. */
export class Stopwatch {
  constructor() { this.marks = []; }
  /** Play pressed at `iteration`: the clock starts. */
  start(iteration, now = performance.now()) { this.marks = [{ iteration, now }]; }
  /** Meta-iterations up to `iteration` are done. */
  mark(iteration, now = performance.now()) {
    if (!this.marks.length) return;
    this.marks.push({ iteration, now });
    while (this.marks.length > 2 && now - this.marks[1].now >= STOPWATCH_MS) this.marks.shift();
  }
  /** It/s, or null before a second of training has been timed. */
  rate() {
    if (this.marks.length < 2) return null;
    const a = this.marks[0];
    const b = this.marks[this.marks.length - 1];
    return b.now - a.now >= 1000 ? (1000 * (b.iteration - a.iteration)) / (b.now - a.now) : null;
  }
}

const emptyHistory = () => ({ x: [], loss: [], avg: [], test: [] });

export class Results {
  constructor() {
    this.gpuWork = { first: null, steady: null, pipelines: 0 }; // WebGPU calls per meta-iteration: the run's first, the latest batch's; pipelines created in the worker so far
    this.wasmBytes = 0; // every worker's wasm memory at the last report: a leak would show as growth
    this.sharing = null; // {iterations, planMs, …, aheadAndWaitMs, …, shareMs, early, stale}: what sharing meta-iterations among workers has cost (worker/shares.js)
    this.stopwatch = new Stopwatch(); // the speed shown, timed since Play
    this.reset();
  }

  /** A new run: nothing drawn yet. */
  reset() {
    Object.assign(this, {
      iteration: 0, // meta-iterations of the run so far
      history: emptyHistory(), // the loss chart's columns: iteration, meta-loss, its average, meta-test loss
      average: { value: 0, n: 0 }, // the meta-loss's moving average, before its bias correction
      evaluation: null, // the latest meta-test: MAML's start and a random one, step by step
      view: null, // the latest display task, adapted step by step
      rates: null, // Meta-SGD's learned inner rates per parameter tensor at the latest meta-test; null for the other algorithms
      viewIndex: 0, // which display task is shown: New task moves to the next
      startAlpha: null, // the α the run started with: where Meta-SGD's rates start
      gpuWork: { ...this.gpuWork, first: null, steady: null },
      gradients: emptyGradients(), // the exact meta-gradient against the first-order one (views/gradients.js)
    });
  }

  /** The run goes on from its checkpoint after `iteration` meta-iterations, where the moving
   *  average was `average`: the history after it goes (the resumed run makes it again). */
  truncate(iteration, average) {
    const h = this.history;
    const keep = h.x.map((x) => x <= iteration);
    for (const k of Object.keys(h)) h[k] = h[k].filter((_, i) => keep[i]);
    // a comparison is made before the meta-iteration it is labelled with: those up to the checkpoint stay
    const g = this.gradients;
    const kept = g.x.map((x) => x <= iteration);
    for (const k of Object.keys(g)) g[k] = g[k].filter((_, i) => kept[i]);
    this.iteration = iteration;
    if (average) this.average = { ...average };
  }

  /** A batch of meta-iterations (a `reports` message). */
  addReports(m) {
    for (const r of m.reports) this.addReport(r);
    this.iteration = m.reports[m.reports.length - 1].iteration;
    this.stopwatch.mark(this.iteration);
    this.wasmBytes = m.wasmBytes;
    this.sharing = m.sharing; // what sharing the meta-iterations among workers has cost so far (worker/shares.js)
    if (m.gpu) this.countGpuWork(m);
  }

  addReport(r) {
    const h = this.history;
    // an exponential moving average with Adam's bias correction, so the first points are not pulled to 0
    const a = this.average;
    a.value = 0.95 * a.value + 0.05 * r.meta_loss;
    a.n += 1;
    h.x.push(r.iteration);
    h.loss.push(r.meta_loss);
    h.avg.push(a.value / (1 - Math.pow(0.95, a.n)));
    h.test.push(null);
    if (h.x.length > MAX_POINTS) {
      for (const k of Object.keys(h)) h[k] = h[k].filter((_, i) => i % 2 === 0 || h.test[i] !== null);
    }
  }

  /** A meta-test (an `evaluation` message): its loss after `innerSteps` inner steps, as many as
   *  training uses, goes on the loss chart beside the training curve. */
  addEvaluation(m, innerSteps) {
    this.evaluation = m;
    const k = Math.min(innerSteps, m.maml.steps.length - 1);
    const value = m.maml.steps[k].loss.mean;
    const h = this.history;
    if (h.x.length && h.x[h.x.length - 1] === m.iteration) h.test[h.test.length - 1] = value;
    else { h.x.push(m.iteration); h.loss.push(null); h.avg.push(h.avg.length ? h.avg[h.avg.length - 1] : null); h.test.push(value); }
  }

  /** WebGPU's calls per meta-iteration (worker/gpu-counts.js): the run's first apart, as it compiles. */
  countGpuWork(m) {
    const { pipelinesTotal, ...counts } = m.gpu;
    const n = m.reports.length;
    const perIteration = Object.fromEntries(Object.entries(counts).map(([k, v]) => [k, v / n]));
    this.gpuWork[m.reports[0].iteration === 1 ? 'first' : 'steady'] = perIteration;
    this.gpuWork.pipelines = pipelinesTotal;
  }
}
