// The page on every core: the training worker shares each meta-iteration's units (the pieces its
// meta-batch is cut into, fixed by the run's shapes: src/maml/shares.rs, Layout::Units) with
// share workers (share-worker.js) and adds their sums in unit order, so the run is the same, bit
// for bit, for any number of workers. Each request carries the weights as they stand, with the
// units' tasks or after them: a share keeps nothing of the run, a lost one is replaced by a fresh
// one, and its units are computed here instead, so a meta-iteration never mixes weights.
import { busy, post, state } from './context.js';
import { count } from '../words.js';

/** How long a share may take to answer before it is taken for lost: generous, and longer for
 *  a run whose own part of the work takes long (`answerMs`). */
const ANSWER_MS = 60_000;
const answerMs = (ownMs) => Math.max(ANSWER_MS, 20 * ownMs);

/** The most workers a run uses (the training worker included): src/maml/shares.rs, MAX_UNITS. */
export const MAX_WORKERS = 8;

/** The workers a `threads` setting asks for: a number, or auto, the browser's cores less one (the
 *  page's own thread draws the charts). */
export function asked(threads) {
  if (threads === 'auto' || threads == null) return Math.max(1, Math.min(MAX_WORKERS, (navigator.hardwareConcurrency || 1) - 1));
  return Math.max(1, Math.min(MAX_WORKERS, Number(threads) || 1));
}

/** The share workers, index i computing the (i + 1)-th run of units; the engine's compiled module,
 *  which each one starts from; and a count of the ones lost, for the page's sentence. */
export const pool = { helpers: [], module: null, lost: 0, ownMs: 0, cost: { iterations: 0 } };

/** One share worker, noticed when it ends however it ends: an error, a wasm trap, or silently
 *  (terminated, its process killed), by the Web Lock it holds for its life. */
class Helper {
  constructor() {
    this.pending = new Map();
    this.nextId = 0;
    this.dead = null;
    // the units it began early, on the weights sent at the end of the last meta-iteration:
    // {lab, iteration, version, run, answer}
    this.early = null;
    this.wasmBytes = 0;
    this.worker = new Worker(new URL('../share-worker.js', import.meta.url), { type: 'module' });
    this.ready = new Promise((resolve) => { this.onReady = resolve; });
    this.worker.onmessage = ({ data: m }) => {
      if (m.type === 'alive') navigator.locks.request(m.lock, () => this.die('stopped without a word'));
      else if (m.type === 'ready') {
        this.started = true;
        this.onReady(true);
      }
      else if (m.type === 'sums' || m.type === 'curves') {
        this.wasmBytes = m.wasmBytes;
        this.settle(m.id, m.bytes ?? m.json, null, m.ms, m.at && [...m.at, performance.timeOrigin + performance.now()]);
      } else if (m.type === 'failed') {
        if (m.fatal) this.die(`crashed (${m.message})`);
        else this.settle(m.id, null, m.message);
      }
    };
    this.worker.onerror = (e) => {
      e.preventDefault();
      this.die(`failed (${e.message || 'an error without a message'})`);
    };
    this.worker.postMessage({ type: 'init', module: pool.module });
  }

  /** Answers request `id`: with its result (bytes or JSON) and the share's time on it, or null
   *  and the problem. */
  settle(id, result, problem = null, ms = 0, at = null) {
    const p = this.pending.get(id);
    this.pending.delete(id);
    p?.({ result, problem, ms, at });
  }

  /** Ends this worker: every request in flight is answered with its reason, computed elsewhere. */
  die(why) {
    if (this.dead) return;
    this.dead = why;
    this.worker.terminate();
    this.onReady(false);
    for (const id of [...this.pending.keys()]) this.settle(id, null, why);
  }

  /** A request to the share (`type` 'work' or 'curves', its byte arrays transferred): {result},
   *  or {result: null, problem} when it failed or the share was lost. */
  ask(type, payload, timeoutMs = ANSWER_MS) {
    if (this.dead) return Promise.resolve({ result: null, problem: this.dead });
    const id = this.nextId++;
    const answer = new Promise((resolve) => this.pending.set(id, resolve));
    // without Web Locks (a page not in a secure context) a share that stops silently would
    // never answer: one this late is taken for lost
    const timer = setTimeout(() => this.die(`did not answer within ${Math.round(timeoutMs / 1000)} s`), timeoutMs);
    answer.then(() => clearTimeout(timer));
    this.send(type, { id, ...payload });
    return answer;
  }

  /** A message to the share, its byte arrays transferred, with no answer awaited. */
  send(type, payload) {
    const buffers = Object.entries(payload).filter(([, v]) => ArrayBuffer.isView(v));
    this.worker.postMessage({ type, ...payload, ...Object.fromEntries(buffers.map(([k, v]) => [k, v.buffer])) }, buffers.map(([, v]) => v.buffer));
  }
}

/** Whether this browser can start workers from a worker. */
const nestedWorkers = () => typeof Worker !== 'undefined';

/** The workers a CPU run of `lab` would use with the threads setting: what auto's timing of the
 *  CPU runs with (worker/backend.js), and `decide`'s number where nothing else limits it. */
export const workersFor = (lab) => (nestedWorkers() ? Math.min(asked(state.threads), lab.units(), lab.workers_that_fit(MAX_WORKERS)) : 1);

/** Decides how many workers the run uses, from the threads setting, the run's units and its
 *  memory, and says which and why (the page shows it beside the backend). */
export function decide() {
  const want = asked(state.threads);
  const units = state.lab.units();
  let n = 1;
  let why;
  const how = state.threads === 'auto' ? `auto: ${count(navigator.hardwareConcurrency || 1, 'core')} here, one left to the page` : 'as set';
  if (state.onWebgpu) why = 'one worker: WebGPU runs the meta-batch on its one device';
  else if (!nestedWorkers()) why = 'one worker: this browser cannot start workers from a worker';
  else if (units === 1) why = `one worker: ${state.config.task.kind === 'sinusoid' ? 'the sinusoid\'s' : 'this run\'s'} meta-batch is one batched operation, too little work to share`;
  else {
    n = Math.min(want, units);
    const fits = state.lab.workers_that_fit(n);
    if (fits < n) why = `${count(fits, 'worker')}: ${n} would need more memory than a browser tab gives`;
    else if (n === 1) why = `one worker (${how})`;
    else if (n < want) why = `${n} workers, one per unit of the meta-batch (${want} asked for)`;
    else why = `${n} workers share each meta-batch of ${units} units (${how})`;
    n = Math.min(n, fits);
  }
  state.workers = n;
  // the ones not needed go: a run that uses fewer frees their memory
  for (const h of pool.helpers.splice(Math.max(0, n - 1))) h.die('not needed');
  post('workers', { workers: n, asked: want, units, threads: state.threads, why });
}

/** Whether the first `n` share workers are started and alive. */
const running = (n) => pool.helpers.length >= n && pool.helpers.slice(0, n).every((h) => h.started && !h.dead);

/** The share workers the run needs, started and ready; false when one could not start. */
async function helpers(n) {
  // one that ended while it held an early start nobody asked for yet (the run paused, say) is
  // told as lost too, before it goes
  pool.helpers.forEach((h, i) => {
    if (h.dead && h.early && !h.told) lost({ i, problem: h.dead }, `before meta-iteration ${h.early.iteration + 1}, which it had begun`, false);
  });
  pool.helpers = pool.helpers.filter((h) => !h.dead);
  try {
    while (pool.helpers.length < n) pool.helpers.push(new Helper());
  } catch {
    return false; // (a browser without workers in workers throws here)
  }
  const starting = pool.helpers.slice(0, n);
  const timer = setTimeout(() => starting.forEach((h) => h.die('did not start within a minute')), ANSWER_MS);
  const started = await Promise.all(starting.map((h) => h.ready));
  clearTimeout(timer);
  if (started.every(Boolean)) return true;
  // the ones that did start go too: the run falls back to one worker
  for (const h of pool.helpers.splice(0)) h.die('not needed');
  return false;
}

/** The run goes on one worker, since the share workers could not start; the page is told. */
function alone(units) {
  state.workers = 1;
  post('workers', { workers: 1, asked: asked(state.threads), units, threads: state.threads, why: 'one worker: the share workers could not start in this browser' });
}

/** Items 0..count (a call's units, or a meta-test's tasks) cut into runs for at most `n` workers
 *  of `lab`'s run, with the share workers they need started; when one could not start, a single
 *  run, here, and the run on one worker from now on. */
async function cut(lab, count, n) {
  const parts = runs(count, Math.min(n, count));
  // (no turn of the event loop when the shares are up, as they are but for the first call)
  if (parts.length > 1 && !running(parts.length - 1) && !(await helpers(parts.length - 1))) {
    alone(lab.units());
    return [[0, count]];
  }
  return parts;
}

/** Units 0..units cut into `n` runs of consecutive units, [first, count] each, as equal as they go. */
export const runs = (units, n) => Array.from({ length: n }, (_, w) => [Math.floor((w * units) / n), Math.floor(((w + 1) * units) / n)]).filter(([a, b]) => b > a).map(([a, b]) => [a, b - a]);

/** One meta-iteration of `lab` shared among `n` workers: `lab.step(1)`'s JSON, parsed. The
 *  training worker computes the first run of units itself while the shares compute theirs; a
 *  share that fails or is lost has its units computed here, and is replaced.
 *
 *  The shares do not wait for it between meta-iterations: while they finish, the next meta-batch
 *  is sampled (`Lab::sample_ahead`, from the same stream) and its units' tasks sent ahead, and as
 *  soon as the weights are updated they go out too, so each share begins the next meta-iteration
 *  while this worker reports, yields to the page and plans. A share's early answer is used only if
 *  it began on this lab's weights and settings as they stand (`Lab::version`) and on the planned
 *  units' tasks; after a live change of the settings, new weights or another meta-batch in
 *  between, the share is asked again, with the weights and tasks as they are. */
export async function sharedStep(lab, n) {
  const t = [performance.now()];
  const units = lab.plan_step();
  const parts = await cut(lab, units, n);
  const shared = parts.slice(1);
  const iteration = lab.iteration();
  const ahead = lab.planned_ahead();
  const same = (run, other) => other && run[0] === other[0] && run[1] === other[1];
  const timeout = answerMs(pool.ownMs * units);
  t.push(performance.now());
  // each share's answer: the one it began early, if it began on this lab's weights and settings as
  // they stand and on these units' tasks; else asked now (after the early one, set aside)
  let weights = null;
  let stale = 0;
  const jobs = shared.map((run, i) => {
    const h = pool.helpers[i];
    const early = h.early;
    h.early = null;
    if (early && early.lab === lab && early.iteration === iteration && early.version === lab.version() && ahead && same(run, early.run)) return { early: true, answer: early.answer };
    if (early) stale += 1;
    weights ??= lab.share_weights();
    return { answer: h.ask('work', { weights: weights.slice(), units: lab.unit_tasks(...run) }, timeout) };
  });
  t.push(performance.now());
  lab.compute_units(...parts[0]);
  t.push(performance.now());
  pool.ownMs = (t[3] - t[2]) / parts[0][1];
  // the next meta-batch's tasks out while the shares finish: [share, its run of units] each
  const next = (shared.length ? runs(lab.sample_ahead(), Math.min(n, units)).slice(1) : [])
    .map((run, i) => [pool.helpers[i], run])
    .filter(([h]) => h && !h.dead);
  for (const [h, run] of next) h.send('tasks', { units: lab.ahead_unit_tasks(...run) });
  const free = performance.timeOrigin + performance.now();
  const answers = await Promise.all(jobs.map(async (j, i) => ({ first: shared[i][0], k: shared[i][1], i, ...(await j.answer) })));
  t.push(performance.now());
  // An answer this worker refuses (it should never be) counts as a lost share: its units are
  // computed here.
  for (const a of answers) {
    if (!a.result) continue;
    try {
      lab.put_units(a.first, a.result);
    } catch (e) {
      Object.assign(a, { result: null, problem: `answered what could not be used (${e?.message ?? e})` });
    }
  }
  t.push(performance.now());
  for (const a of answers) {
    if (a.result) continue;
    // its units here, to the same sums; a fresh share in its place for the next meta-iteration
    hereInstead(a, () => lab.compute_units(a.first, a.k));
    lost(a, `during meta-iteration ${lab.iteration() + 1}`);
  }
  const out = JSON.parse(lab.finish_step_now());
  t.push(performance.now());
  // the updated weights to the shares holding the next meta-batch's tasks: they begin it now
  if (!out.error && next.length) {
    const w = lab.share_weights();
    const version = lab.version();
    for (const [h, run] of next) {
      if (h.dead) continue;
      h.early = { lab, iteration: iteration + 1, version, run, answer: h.ask('work', { weights: w.slice() }, answerMs(pool.ownMs * units)) };
    }
  }
  t.push(performance.now());
  // what sharing costs here, per phase (bench-page.mjs --threads reads it): planning, asking the
  // shares (the weights and tasks out, where they did not begin early), this worker's own units,
  // the next tasks out and the wait for the shares, their sums in, the update, the weights out
  // for the next; and the shares' own time in their wasm
  const c = pool.cost;
  c.iterations += 1;
  PHASES.forEach((phase, i) => { c[phase] = (c[phase] ?? 0) + (t[i + 1] - t[i]); });
  c.shareMs = (c.shareMs ?? 0) + Math.max(0, ...answers.map((a) => a.ms ?? 0));
  c.early = (c.early ?? 0) + jobs.filter((j) => j.early).length;
  // when the first share began and ended its units, against this worker's own (epoch ms), and
  // how long its answer took to arrive
  const a0 = answers.find((a) => a.at);
  if (a0) {
    const own = [performance.timeOrigin + t[2], performance.timeOrigin + t[3]];
    c.shareBeganAfterOwnMs = (c.shareBeganAfterOwnMs ?? 0) + (a0.at[0] - own[0]);
    c.shareEndedAfterOwnMs = (c.shareEndedAfterOwnMs ?? 0) + (a0.at[1] - own[1]);
    c.answerLatencyMs = (c.answerLatencyMs ?? 0) + (a0.at[2] - a0.at[1]);
    c.arrivedAfterFreeMs = (c.arrivedAfterFreeMs ?? 0) + (a0.at[2] - free);
    c.freeAfterOwnMs = (c.freeAfterOwnMs ?? 0) + (free - own[1]);
  }
  c.stale = (c.stale ?? 0) + stale;
  return out;
}

/** The phases of a shared meta-iteration, timed in `pool.cost`. */
const PHASES = ['planMs', 'askMs', 'ownUnitsMs', 'aheadAndWaitMs', 'putMs', 'finishMs', 'weightsOutMs'];

/** `compute()`, the units of a share that failed or was lost (`a`), done here, said on the status
 *  line meanwhile; then the line shows again what it showed before. */
function hereInstead(a, compute) {
  const before = state.activity;
  busy('share', `a share worker ${a.problem}: computing its units here…`);
  try {
    compute();
  } finally {
    if (before) busy(before.key, before.text, before.estimateMs);
    else busy(null);
  }
}

/** A share that failed or was lost (`a.i`): replaced, and the page told whether its part was
 *  done here (`here`) or is left to the fresh one. */
function lost(a, when, here = true) {
  pool.lost += 1;
  pool.helpers[a.i].die(a.problem);
  pool.helpers[a.i].told = true;
  post('shareLost', { problem: a.problem, when, here, lost: pool.lost });
}

/** The meta-test of `lab` on its `tasks` tasks from the learned (or, `randomInit`, the random)
 *  start, its tasks shared among `n` workers: `lab.evaluate`'s report, parsed. A share lost has
 *  its tasks adapted here. */
export async function sharedMetaTest(lab, tasks, randomInit, n) {
  const parts = await cut(lab, tasks, n);
  const weights = parts.length > 1 ? lab.start_weights(randomInit) : null;
  const jobs = parts.slice(1).map(([first, k], i) => pool.helpers[i].ask('curves', { weights: weights.slice(), tasks: lab.meta_test_tasks(tasks, first, k) }, answerMs(pool.ownMs * tasks)).then((a) => ({ first, k, i, ...a })));
  const curves = [JSON.parse(lab.meta_test_curves(tasks, randomInit, ...parts[0]))];
  for (const a of await Promise.all(jobs)) {
    if (!a.result) lost(a, 'during a meta-test');
    curves.push(JSON.parse(a.result ?? lab.meta_test_curves(tasks, randomInit, a.first, a.k)));
  }
  return JSON.parse(lab.meta_test_report(JSON.stringify(curves)));
}

/** The exact meta-gradient of the meta-batch about to be trained on against the first-order one
 *  (and Reptile's direction, for Reptile): `lab.compare_gradients`' JSON, parsed, bit for bit,
 *  its units shared among `n` workers as a meta-iteration's are, learner by learner. A share lost
 *  has its units computed here. (A share holding an early start answers it first: the comparison
 *  changes nothing of the run, so that start stays current.) */
export async function sharedCompare(lab, n) {
  const units = lab.plan_compare();
  const parts = await cut(lab, units, n);
  const learners = lab.compare_learners();
  const timeout = answerMs(pool.ownMs * units * learners);
  const tasks = parts.slice(1).map(([first, k]) => lab.compare_unit_tasks(first, k));
  const jobs = [];
  for (let learner = 0; learner < learners && parts.length > 1; learner++) {
    const weights = lab.compare_weights(learner);
    parts.slice(1).forEach(([first, k], i) => {
      jobs.push({ learner, first, k, i, answer: pool.helpers[i].ask('work', { weights: weights.slice(), units: tasks[i].slice() }, timeout) });
    });
  }
  for (let learner = 0; learner < learners; learner++) lab.compute_compare_units(learner, ...parts[0]);
  const gone = new Set();
  for (const job of jobs) {
    const a = { ...job, ...(await job.answer) };
    if (a.result) {
      try {
        lab.put_compare_units(a.learner, a.first, a.result);
        continue;
      } catch (e) {
        a.problem = `answered what could not be used (${e?.message ?? e})`;
      }
    }
    hereInstead(a, () => lab.compute_compare_units(a.learner, a.first, a.k));
    // (one sentence for a share, however many of its units were lost with it)
    if (!gone.has(a.i)) lost(a, `during the comparison of meta-gradients before meta-iteration ${lab.iteration() + 1}`);
    gone.add(a.i);
  }
  return JSON.parse(lab.finish_compare_now());
}

/** The wasm memory of the share workers, as they last reported it. */
export const sharesBytes = () => pool.helpers.reduce((sum, h) => sum + (h.dead ? 0 : h.wasmBytes), 0);

/** Test-only: the `index`-th share worker stops without a word on its next request. */
export function stopShare(index) {
  pool.helpers[index]?.worker.postMessage({ type: 'stop' });
}
