// The run loop: training calls in batches sized to BATCH_MS, a meta-test when one is due, the
// display task and a person's own task adapted again as the weights move, and a link's live
// changes applied each after exactly its iteration.
import { adaptationDiverged, evaluationLosses, firstNonFinite, viewLosses } from '../finite.js';
import { alpha, baselineOf } from '../run.js';
import { EVAL_EVERY_MS, busy, lastAtLeast, post, state } from './context.js';
import { count } from '../words.js';
import { decide, pool, sharedCompare, sharedMetaTest, sharedStep, sharesBytes } from './shares.js';

// one training call this long: responsive to pause and sliders, yet few messages
const BATCH_MS = 200;
// re-adapt a person's own task at most this often while training moves the weights
const ADAPT_EVERY_MS = 1500;

/** What a meta-iteration of the run works on, in a few words: "20-way 1-shot, 8 tasks". */
function describeRun(config) {
  const { task, maml } = config;
  if (task.kind === 'sinusoid') return `${count(maml.meta_batch, 'sinusoid')}, ${count(task.shots, 'point')} each`;
  return `${task.ways}-way ${task.shots}-shot, ${count(maml.meta_batch, 'task')}`;
}

/** Applies the live settings `settings` (the page's, passed to the wasm as they are) and tells
 *  the page, with the iteration after which they apply. */
export function setMaml(settings, about) {
  state.lab.set_maml(JSON.stringify(settings));
  state.config = JSON.parse(state.lab.config());
  // the meta-batch and the inner steps decide the units, and what each worker holds
  decide();
  post('maml', { config: state.config, iteration: state.lab.iteration(), ...about });
}

/** Applies the schedule's changes due after the meta-iterations done so far. */
export function applyDue() {
  const done = state.lab.iteration();
  while (state.schedule.length && state.schedule[0].iteration <= done) {
    const { settings } = state.schedule.shift();
    try {
      setMaml(settings, { scheduled: true });
    } catch (e) {
      post('error', { request: 'maml', message: String(e?.message ?? e) });
    }
  }
}

/** Stops training with a sentence. */
function diverge(what, message) {
  state.running = false;
  post('diverged', { what, message });
}

/** One training call; false when the run diverged. A call never steps past a scheduled change,
 *  so a replay applies each after exactly its iteration, however the batches fall. */
export async function stepOnce() {
  await compareIfDue();
  const t0 = performance.now();
  const next = state.schedule[0]?.iteration;
  let n = next === undefined ? state.batch : Math.max(1, Math.min(state.batch, next - state.lab.iteration()));
  // nor past the next comparison, which is made on the meta-batch about to be trained on
  const every = compareInterval();
  if (every) n = Math.min(n, every - (state.lab.iteration() % every));
  const first = state.lab.iteration() === 0;
  // a call that may take a while is announced: a run's first (no time per iteration known yet;
  // on WebGPU it compiles the kernels) or one of a slow configuration
  if (first || state.msPerIteration > 1000) {
    const what = `meta-iteration ${state.lab.iteration() + 1}${first ? ' of the new run' : ''}: ${describeRun(state.config)}`;
    busy('step', state.cold.has('step') ? `WebGPU: compiling kernels for ${what}…` : `running ${what}…`, first ? null : n * state.msPerIteration);
  }
  const before = { ...state.gpu.counts };
  const out = state.workers > 1 ? await sharedSteps(n) : JSON.parse(await state.lab.step(n));
  await lastAtLeast(t0);
  const ms = performance.now() - t0;
  busy(null);
  state.cold.delete('step');
  const gpu = state.onWebgpu && state.gpu.counts.dispatches !== undefined ? { ...state.gpu.since(before), pipelinesTotal: state.gpu.counts.pipelines } : null;
  if (out.reports.length) post('reports', { reports: out.reports, msPerIteration: ms / out.reports.length, wasmBytes: state.memory.buffer.byteLength + sharesBytes(), sharing: { ...pool.cost }, gpu });
  if (out.error) {
    diverge('training', out.error);
    return false;
  }
  applyDue();
  const per = ms / Math.max(1, out.reports.length);
  state.msPerIteration = per;
  state.batch = Math.max(1, Math.min(50, Math.round(BATCH_MS / Math.max(per, 0.1))));
  return true;
}

/** `n` meta-iterations, each shared among the run's workers (shares.js): `lab.step(n)`'s JSON,
 *  parsed, the same reports and weights. */
async function sharedSteps(n) {
  const out = { reports: [], error: null };
  for (let i = 0; i < n && !out.error; i += 1) {
    const one = await sharedStep(state.lab, state.workers);
    out.reports.push(...one.reports);
    out.error = one.error;
  }
  return out;
}

/** Before every `compareEvery`-th meta-iteration, the exact meta-gradient against the first-order
 *  one (and Reptile's direction, for Reptile) on the meta-batch it is about to train on, as
 *  `maml train --compare-every` writes them: the run goes on as it would have. */
async function compareIfDue() {
  const it = state.lab.iteration();
  const every = compareInterval();
  if (!every || it % every !== 0 || state.compared === it) return;
  state.compared = it;
  // announced as the meta-iteration's call is, since it comes first: a run's first comparison
  // on WebGPU compiles most of the training kernels, which the meta-iteration then reuses
  const first = it === 0;
  if (first || state.compareMs > 1000) {
    const what = `meta-iteration ${it + 1}${first ? ' of the new run' : ''}`;
    busy('compare', state.cold.has('step') ? `WebGPU: compiling kernels for ${what}: comparing its exact and first-order meta-gradients…` : `comparing the exact and first-order meta-gradients of ${what}…`, first ? null : state.compareMs);
  }
  const t0 = performance.now();
  let comparison;
  try {
    comparison = state.workers > 1 ? await sharedCompare(state.lab, state.workers) : JSON.parse(await state.lab.compare_gradients());
  } finally {
    busy(null);
  }
  state.compareMs = performance.now() - t0;
  post('gradients', { iteration: it + 1, comparison, every, auto: state.compareEvery === 'auto' });
}

/** Auto's intervals: round numbers, each a multiple of the largest training call, so that a
 *  comparison never splits a call once the interval passes it. */
const AUTO_EVERY = [20, 50, 100, 200, 500, 1000, 2000, 5000];

/** The meta-iterations between comparisons: the setting's, or (auto) the shortest of AUTO_EVERY
 *  over which a comparison, as long as the last one took, costs at most a twentieth of the
 *  training time (a comparison is two meta-gradients, and a short interval also cuts the training
 *  calls short, each with its own overhead). */
export function compareInterval() {
  if (state.compareEvery !== 'auto') return state.compareEvery;
  if (state.compareMs === null || !state.msPerIteration) return AUTO_EVERY[0];
  return AUTO_EVERY.find((n) => state.compareMs <= 0.05 * n * state.msPerIteration) ?? AUTO_EVERY[AUTO_EVERY.length - 1];
}

// Lets the page's messages (pause, settings) in between batches. A message to ourselves rather
// than setTimeout(0), which browsers clamp to 4 ms once timers nest.
const yieldChannel = new MessageChannel();
const yielded = [];
yieldChannel.port1.onmessage = () => yielded.shift()?.();
export const yieldToMessages = () => new Promise((resolve) => {
  yielded.push(resolve);
  yieldChannel.port2.postMessage(null);
});

/** One batch of training loop `loop`, a meta-test when one is due, then the next batch queued
 *  (`enqueue`) behind whatever the page sent meanwhile. */
export async function train(loop, enqueue) {
  if (!state.running || loop !== state.loop) return;
  if (!(await stepOnce())) return;
  if (performance.now() - state.lastEval > state.evalEvery) {
    await evaluate();
    await view(state.viewIndex);
  }
  if (state.own && performance.now() - state.lastAdapt > ADAPT_EVERY_MS) await adaptOwn();
  await yieldToMessages();
  enqueue('play', () => train(loop, enqueue));
}

/** The key of the random-start baseline: the run, what it depends on, and the tasks. */
const baselineKey = () => JSON.stringify([state.generation, ...baselineOf(state.config), state.evalTasks]);

/** One meta-test call, announced to the page with what it does, which of `calls` it is, and
 *  how long the last one of this run and settings took. */
async function metaTest(randomInit, call, calls) {
  const tasks = `${state.evalTasks} held-out tasks`;
  const start = randomInit ? 'a random start, the baseline' : 'the meta-learned start';
  const of = calls > 1 ? ` (${call} of ${calls})` : '';
  const meta = `meta-testing ${tasks} from ${start}${of}…`;
  const text = state.cold.has('evaluate') ? `WebGPU: compiling kernels for the meta-test, then ${meta}` : meta;
  const key = baselineKey();
  // the estimate: the last call of this kind, else of the other (a random start costs what the learned one does)
  const past = [state.evalMs[randomInit], state.evalMs[!randomInit]].find((p) => p.key === key);
  busy('evaluate', text, past?.ms ?? null);
  const t0 = performance.now();
  // on the CPU's workers, each adapting a share of the tasks
  const report = state.workers > 1 ? await sharedMetaTest(state.lab, state.evalTasks, randomInit, state.workers) : JSON.parse(await state.lab.evaluate(state.evalTasks, randomInit));
  await lastAtLeast(t0);
  busy(null);
  state.cold.delete('evaluate');
  state.evalMs[randomInit] = { key, ms: performance.now() - t0 };
  return report;
}

/** A meta-test from the meta-learned start, and from a random one when its baseline is stale. */
export async function evaluate() {
  const t0 = performance.now();
  const key = baselineKey();
  const baseline = state.randomInit.key !== key;
  const maml = await metaTest(false, 1, baseline ? 2 : 1);
  if (baseline) {
    state.randomInit = { key, report: await metaTest(true, 2, 2) };
    // the nearest neighbours learn nothing: scored once on the same tasks, with the random start
    state.neighbours = { key, report: JSON.parse(state.lab.nearest_neighbours(state.evalTasks)) };
  }
  state.lastEval = performance.now();
  state.evalEvery = Math.max(EVAL_EVERY_MS, 10 * (state.lastEval - t0));
  const iteration = state.lab.iteration();
  post('evaluation', { iteration, maml, random: state.randomInit.report, neighbours: state.neighbours.report });
  // adapting with too large an α overflows: a divergence like training's, the charts drawing what is finite
  const blown = firstNonFinite(evaluationLosses(maml));
  if (blown >= 0) {
    state.testDiverged = iteration;
    diverge('meta-test', adaptationDiverged('meta-test', state.config, blown, iteration));
  }
  // read with the meta-test rather than every batch: the rates move slowly, and a read waits on the device
  post('rates', { iteration: state.lab.iteration(), rates: JSON.parse(await state.lab.learned_rates()) });
}

/** Adapts the `index`-th display task step by step. */
export async function view(index) {
  state.viewIndex = index;
  busy('view', 'adapting the sampled task step by step…');
  const v = JSON.parse(await state.lab.view(index));
  busy(null);
  const iteration = state.lab.iteration();
  post('view', { index, view: v, iteration });
  if (state.walkOn) await walk(index);
  const blown = firstNonFinite(viewLosses(v));
  // after a meta-test that overflowed at this iteration, its sentence says it already
  if (blown >= 0 && state.testDiverged !== iteration) {
    diverge('view', adaptationDiverged("sampled task's adaptation", state.config, blown, iteration));
  }
}

/** Adapts the person's own task with the current weights; a task that does not fit throws its
 *  sentence (checked when it comes, so only a new one can). */
export async function adaptOwn() {
  const { id, task } = state.own;
  const result = JSON.parse(await state.lab.adapt_task(task.support_x, task.support_y, task.query_x));
  state.lastAdapt = performance.now();
  post('adapted', { id, result, alpha: alpha(state.config), training: state.running });
}

/** MAML's one inner step on the `index`-th display task, with its numbers (views/walk.js). */
export async function walk(index) {
  const w = JSON.parse(await state.lab.walk(index));
  post('walk', { index, iteration: state.lab.iteration(), walk: w });
}

/** Starts a landscape (views/landscape.js): the plane through θ, its arrows and path; its rows
 *  follow one job at a time (`landscapeRows`), so training, sliders and Cancel get in between. */
export async function landscape(msg, enqueue) {
  state.landscape = null;
  busy('landscape', 'landscape: the meta-gradients at θ, and the step each learner would take…');
  const t0 = performance.now();
  const summary = JSON.parse(await state.lab.landscape_plane(JSON.stringify(msg.options)));
  busy(null);
  post('landscape', { id: msg.id, summary, iteration: state.lab.iteration() });
  state.landscape = { id: msg.id, size: summary.size, row: 0, t0 };
  enqueue('landscape', () => landscapeRows(msg.id, enqueue));
}

async function landscapeRows(id, enqueue) {
  const l = state.landscape;
  if (!l || l.id !== id) return; // cancelled, or replaced by a newer one or a new run
  const done = l.row;
  // the clock runs over the whole grid; the estimate comes once a row is timed
  const perRow = done ? (performance.now() - l.t0) / done : null;
  busy('landscape', `landscape: row ${done + 1} of ${l.size} (${l.size} points each)…`, perRow && perRow * l.size);
  const t0 = performance.now();
  const values = JSON.parse(await state.lab.landscape_row(done));
  await lastAtLeast(t0);
  if (state.landscape !== l) return busy(null);
  post('landscapeRow', { id, row: done, values });
  l.row += 1;
  if (l.row === l.size) {
    state.landscape = null;
    busy(null);
    post('landscapeDone', { id, ms: performance.now() - l.t0 });
    return;
  }
  await yieldToMessages();
  enqueue('landscape', () => landscapeRows(id, enqueue));
}
