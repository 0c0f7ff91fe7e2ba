// The page's main thread: builds the controls from the wasm's settings table, talks to the
// worker, and draws the latest reports on animation frames. It never trains and never waits on
// the wasm.
import { readTable, preset, coerce, parseHash, toHash, settings, needsReset, control, bounded } from './state.js';
import { LossChart, StepChart, TaskChart } from './views/charts.js';
import { AdaptationView } from './views/adaptation.js';
import { Controls } from './views/controls.js';
import { RatesView } from './views/rates.js';
import { formatLive, parseLive, record, scheduleFor } from './schedule.js';
import { evaluationLosses, firstNonFinite, viewLosses } from './finite.js';
import { DrawPanel } from './views/draw.js';
import { ActivityLine } from './views/activity.js';
import { Pins } from './views/pins.js';
import { Starts } from './views/starts.js';

const $ = (id) => document.getElementById(id);
const MAX_POINTS = 4000; // the loss history is thinned past this, so memory stays flat
const MAX_ZIP = 64 << 20;
const MAX_WEIGHTS = 256 << 20;
const SNAPSHOT_EVERY_MS = 30_000;
// meta-test tasks per evaluation; `?eval_tasks=N` (not part of the run's link) lowers it for slow devices and tests
const EVAL_TASKS = Math.min(200, Math.max(2, Number(new URLSearchParams(location.search).get('eval_tasks')) || 24));
// `?allow_software_webgpu=1` lets auto time a software WebGPU adapter against the CPU (for tests)
const ALLOW_SOFTWARE_WEBGPU = new URLSearchParams(location.search).get('allow_software_webgpu') === '1';

const emptyHistory = () => ({ x: [], loss: [], avg: [], test: [] });

/** Everything the page holds. Also `window.lab`, for the browser tests and the curious. */
const lab = {
  // the run
  table: null, // the settings table (state.js): every control and each task's preset, from the wasm
  state: null, // the settings in force: one value per control, as the controls show them
  run: null, // what the URL hash holds: the run's start settings, and its live changes (schedule.js)
  //   {start, live: [{iteration, key, value}] applied so far, pending: those a replay has still to apply}
  held: null, // the settings in force in the run the worker holds: a refused change puts `state` (and `run`) back to them
  asked: new Map(), // each run asked for and not yet ready, by generation: {state, run: the link it replaces}
  wasRunning: false, // Play was on when the latest run was asked for: a refusal lets the old run go on
  liveSent: 0, // live changes posted and not yet answered
  generation: 0, // the run's number: the worker tags its messages with it, so those of a replaced run are dropped
  config: null, // the run's full TrainerConfig, as the worker last reported it
  backend: null, // what the worker's handle runs on, and why: {backend, adapter, why}
  ready: false, // the worker has set the run up, so the buttons act on it
  running: false, // Play is on
  iteration: 0, // meta-iterations of the run so far
  wasmBytes: 0, // the worker's wasm memory at the last report: a leak would show as growth
  gpuWork: { first: null, steady: null, pipelines: 0 }, // WebGPU calls per meta-iteration: the run's first, the latest batch's; pipelines created in the worker so far
  // what the charts draw, all of the current run
  history: emptyHistory(), // the loss chart's columns: iteration, meta-loss, its average, meta-test loss
  average: { value: 0, n: 0 }, // the meta-loss's moving average, before its bias correction
  evaluation: null, // the latest meta-test: MAML's start and a random one, step by step
  view: null, // the latest display task, adapted step by step
  rates: null, // Meta-SGD's learned inner rates per parameter tensor at the latest meta-test; null for the other algorithms
  startAlpha: null, // the α the run started with: where Meta-SGD's rates start
  viewIndex: 0, // which display task is shown: New task moves to the next
  dirty: { loss: false, evaluation: false, view: false, rates: false }, // charts with new data for the next frame
  // what outlives a run
  worker: null, // the Web Worker that owns the wasm
  zipLoaded: false, // the worker holds an Omniglot zip, so the omniglot task can run
  zip: { held: '', reading: '' }, // what the zip line says: the zip the worker holds, and the one being read
  workerLoaded: false, // the current worker has loaded the wasm: an error from it now is a crash, not a failed load
  snapshotAsked: false, // the run's first snapshot is on its way
  snapshot: null, // {bytes, iteration}: the run's weights of at most SNAPSHOT_EVERY_MS ago (and after its first report), for a restarted worker
  // the page itself
  controls: null, // the control panel
  charts: null, // the charts and the adaptation view
  activity: null, // the line saying what the worker is busy with, when it takes a while
  pins: null, // the pinned runs drawn over the current one (views/pins.js)
  starts: null, // the meta-trained starts shipped with the page (views/starts.js)
  notices: [], // every notice shown
  errors: [], // every failed request
};
window.lab = lab;

// ---------------------------------------------------------------- notices
// A notice says what is true now. Each has a key naming what it is about (a request, a
// divergence, a setting), and leaves when that stops being true:
//   - a newer notice with the same key replaces it;
//   - the next success of the same thing removes it (`resolve(key)`): a request's error when that
//     request next succeeds, a divergence when training (or the meta-test, or the display task)
//     next comes out finite, a complaint about a setting when it next takes a valid value;
//   - a new run removes those about the run it replaces (RUN_NOTICES).
// Notices about the page itself (a link's values, a failed engine) stay until dismissed.
const RUN_NOTICES = ['start', 'diverged', 'test-diverged', 'view-diverged', 'draw', 'weights', 'importWeights', 'maml', 'replay'];
const DIVERGED_KEY = { training: 'diverged', 'meta-test': 'test-diverged', view: 'view-diverged' };

function resolve(...keys) {
  for (const n of [...$('notices').children]) if (keys.includes(n.dataset.key)) n.remove();
}

function notice(text, level = 'info', key = text) {
  lab.notices.push({ text, level });
  const box = $('notices');
  [...box.children].find((n) => n.dataset.key === key)?.remove();
  const n = document.createElement('div');
  n.className = `notice ${level}`;
  n.dataset.key = key;
  n.append(Object.assign(document.createElement('span'), { textContent: text }));
  const close = Object.assign(document.createElement('button'), { textContent: '×', title: 'dismiss' });
  close.onclick = () => n.remove();
  n.append(close);
  box.append(n);
}

// ---------------------------------------------------------------- settings
function showState() {
  lab.controls.show(lab.state, (c) => bounded(lab.table, lab.state, c));
  showTask(lab.state.task);
  lab.starts.show(lab.table, lab.state);
  lab.pins.setCurrent(lab.table, lab.state);
  showAlgorithm(lab.state.algorithm);
  writeLink();
}

/** The run's link: its start settings and the live changes made (or still to replay) in it. */
function link() {
  const { start, live, pending } = lab.run ?? { start: lab.state, live: [], pending: [] };
  const changes = formatLive([...live, ...pending]);
  return toHash(lab.table, start) + (changes ? `&${changes}` : '');
}

function writeLink() {
  history.replaceState(null, '', link());
}

/** What to expect of a task, under its selector; only the noise control needs saying. */
const TASK_NOTES = {
  noise: 'Noise: the images are noise and their labels drawn at random, so no learner can beat chance here (1 in N, the dashed line on the accuracy charts): a control, showing what learning nothing looks like.',
};

function showTask(task) {
  const note = document.querySelector('.task-explain');
  note.textContent = TASK_NOTES[task] ?? '';
  note.hidden = !note.textContent;
}

/** What the algorithm changes on the page: its explanation under the selector, the first-order
 *  box (Reptile has nothing it could drop), and the adaptation view's note on what adapts. */
function showAlgorithm(algorithm) {
  document.querySelector('.algorithm-explain').textContent = lab.table.algorithms[algorithm] ?? '';
  const box = $('first_order');
  box.disabled = algorithm === 'reptile';
  // the value stays in the state and the URL, so switching back restores it
  box.title = box.disabled ? 'Reptile has no gradient through its inner loop: it moves θ toward the adapted weights, so there are no second derivatives to drop' : '';
  lab.charts.view.note = algorithm === 'anil' ? 'only the head adapts (ANIL); ' : '';
  // redrawn on the next frame, where a failed drawing becomes a notice rather than stopping this change
  lab.dirty.view = true;
}

/** A new task's or algorithm's settings: its preset (the paper's settings, sized for the page, and
 *  its meta-trained start where one fits), same seed and backend. */
const presetFor = (task, algorithm = lab.state.algorithm) => ({ ...preset(lab.table, task, algorithm), seed: lab.state.seed, backend: lab.state.backend });

/** `state`, or glyphs in its place when it asks for omniglot and the worker holds no zip. */
function runnable(state, asker) {
  if (state.task !== 'omniglot' || lab.zipLoaded) return state;
  notice(`${asker} the omniglot task, which needs a zip of characters: pick one under "The run". Showing glyphs meanwhile.`, 'warn', 'zip');
  return { ...state, task: 'glyphs' };
}

/** The run a link asks for, {state, live}, with a notice for each value it could not take as it is. */
function fromLink(hash) {
  const parsed = parseHash(lab.table, hash);
  const state = runnable(parsed.state, 'The link asks for');
  const live = parseLive(lab.table, new URLSearchParams(hash.replace(/^#/, '')).get('live'), state);
  [...parsed.problems, ...live.problems].forEach((p) => notice(`The link: ${p}`, 'warn'));
  return { state, live: live.entries };
}

/** Opens the run a link asks for: its start settings, and its live changes to replay. */
function openLink(hash) {
  const { state, live } = fromLink(hash);
  lab.state = state;
  showState();
  startRun(live);
}

/** A control changed: a live one goes to the worker, any other starts a new run. */
function onControl(c, raw) {
  if (c.key === 'task' && raw === 'omniglot' && !lab.zipLoaded) {
    notice('The omniglot task needs a zip of characters: pick one under "The run". The current run goes on meanwhile.', 'warn', 'zip');
    showState(); // the list goes back to the task that runs
    return;
  }
  const before = lab.state;
  if (c.key === 'task') {
    lab.state = presetFor(raw);
  } else if (c.key === 'algorithm') {
    // each algorithm has its own schedule (inner steps, rates): a fair comparison starts from it
    const [algorithm, problem] = coerce(c, raw, before.algorithm);
    if (problem) notice(problem, 'warn');
    lab.state = presetFor(before.task, algorithm);
  } else {
    // within what the task's data allows (shots + queries), not only the control's own range
    const [value, problem] = coerce(bounded(lab.table, before, c), raw, before[c.key]);
    if (problem) notice(problem, 'warn', `setting:${c.key}`);
    else if (value !== before[c.key]) resolve(`setting:${c.key}`); // (a field re-committed on blur changes nothing)
    lab.state = { ...before, [c.key]: value };
  }
  showState();
  if (needsReset(lab.table, before, lab.state)) { startRun(); return; }
  // only what changed: the worker applies it on top of the settings in force there, which a
  // replay may have moved on since this page last heard
  const changed = Object.fromEntries(lab.table.controls.filter((k) => k.live && before[k.key] !== lab.state[k.key]).map((k) => [k.key, lab.state[k.key]]));
  if (Object.keys(changed).length) {
    lab.liveSent += 1;
    post({ type: 'maml', settings: changed, changed });
  }
}

// ---------------------------------------------------------------- the run
function post(msg, transfer = []) {
  lab.worker.postMessage(msg, transfer);
}

/** A new worker; it loads the wasm before it handles anything else it is sent. An uncaught error
 *  in it after that (a trap in the wasm, such as an allocation past its memory, which leaves the
 *  promise it was in never settled) ends it: the page restarts it. */
function spawn() {
  const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  Object.assign(lab, { worker, workerLoaded: false });
  worker.onmessage = ({ data }) => onWorker(data);
  worker.onerror = (e) => {
    e.preventDefault(); // handled here: not an uncaught error of the page
    if (worker !== lab.worker) return; // one already replaced
    const message = e.message || 'an error without a message';
    if (lab.workerLoaded) restart(message);
    else notice(`The training worker failed to load: ${message}. Reload the page to try again.`, 'error', 'worker');
  };
  post({ type: 'init', evalTasks: EVAL_TASKS, allowSoftwareWebgpu: ALLOW_SOFTWARE_WEBGPU });
}

/** Starts a run of `lab.state`. Every run starts here: the page's first, Reset, a run setting, a
 *  link, a zip and a restarted worker. `live`: the live changes to replay, [{iteration, key,
 *  value}] (a link's); every other run starts with none, from the settings the controls show.
 *  The previous run's charts stay until the worker says the new one is ready (`aboutRun.ready`):
 *  if it refuses it, they, the controls and the URL go back to the run that goes on
 *  (`startRefused`). */
function startRun(live = []) {
  const start = lab.starts.fit(lab.table, lab.state);
  resolve('start-choice');
  if (lab.state.start === 'meta-trained' && !start.bytes) {
    // the controls and the link say what runs: from scratch
    if (lab.state.task !== 'noise') notice(`This run starts from scratch: ${start.why}.`, 'info', 'start-choice');
    lab.state = { ...lab.state, start: 'scratch' };
    showState();
  }
  const weights = lab.state.start === 'meta-trained' ? start.bytes.slice(0) : undefined;
  lab.generation += 1;
  lab.wasRunning = lab.running;
  lab.asked.set(lab.generation, { state: { ...lab.state }, run: lab.run });
  Object.assign(lab, { ready: false, running: false, liveSent: 0, run: { start: { ...lab.state }, live: [], pending: live } });
  showCounters();
  setButtons();
  writeLink();
  post({ type: 'start', generation: lab.generation, settings: settings(lab.table, lab.state), backend: lab.state.backend, schedule: scheduleFor(live), weights });
}

/** The run asked for is ready: the charts start over for it. The previous run's meta-test and
 *  sampled task stay drawn until the new run's replace them: marked as the previous run's, so
 *  they do not read as the new one's. */
function forgetPreviousRun() {
  markPrevious(['step-figure', 'task-figure'], lab.evaluation !== null);
  markPrevious(['view-figure'], lab.view !== null);
  Object.assign(lab, {
    iteration: 0, history: emptyHistory(), average: { value: 0, n: 0 }, evaluation: null, view: null, viewIndex: 0,
    rates: null, snapshot: null, snapshotAsked: false, gpuWork: { ...lab.gpuWork, first: null, steady: null },
  });
  heldRun(lab.generation);
  lab.dirty.loss = lab.dirty.rates = true;
  showCounters();
}

/** The worker holds run `generation` now: the one a refusal goes back to. */
function heldRun(generation) {
  const asked = lab.asked.get(generation);
  if (asked) lab.held = asked.state;
  for (const g of lab.asked.keys()) if (g <= generation) lab.asked.delete(g);
}

/** The worker refused the run asked for. The run it holds goes on, and the controls and the URL
 *  show it again; with none (the page's first run, or a restarted worker's), the task's preset
 *  starts in its place, once. */
function startRefused(message) {
  const asked = lab.asked.get(lab.generation);
  if (!asked) return notice(`The run could not go on: ${message}.`, 'error', 'start'); // it was ready: a replayed change failed
  lab.asked.delete(lab.generation);
  if (lab.held) {
    notice(`Could not start that run: ${message}. The current run goes on.`, 'error', 'start');
    Object.assign(lab, { state: { ...lab.held }, run: asked.run, ready: true });
    showState();
    if (lab.wasRunning) { lab.running = true; post({ type: 'play' }); }
    setButtons();
    return;
  }
  // (a key of its own: the preset's run, once ready, must not take this sentence with it)
  const fallback = presetFor(asked.state.task, asked.state.algorithm);
  if (JSON.stringify(settings(lab.table, fallback)) === JSON.stringify(settings(lab.table, asked.state))) {
    notice(`Could not start the ${asked.state.task} preset: ${message}. Reload the page to try again.`, 'error', 'start-fallback');
    return;
  }
  notice(`Could not start that run: ${message}. Started the ${asked.state.task} preset instead.`, 'error', 'start-fallback');
  lab.state = fallback;
  showState();
  startRun();
}

/** A live change the worker refused: once none is on its way, the controls and the link show the
 *  settings the run goes on with. */
function liveRefused() {
  lab.liveSent = Math.max(0, lab.liveSent - 1);
  if (lab.liveSent === 0 && lab.held) {
    lab.state = { ...lab.held };
    showState();
  }
}

/** The worker is gone (a wasm panic, a trap, a lost WebGPU device): a fresh one, on the CPU, with
 *  the same settings and the last snapshot of the weights. The zip went with it. */
function restart(message) {
  const snapshot = lab.snapshot;
  const hadZip = lab.zipLoaded;
  const why = /unreachable/i.test(message) ? ': WebAssembly stops so when it runs out of memory or panics' : '';
  const from = snapshot ? `from its weights at meta-iteration ${snapshot.iteration}` : 'from fresh weights';
  const zip = hadZip && lab.state.task === 'omniglot' ? ' The zip was lost with it: pick it again to go back to omniglot.' : hadZip ? ' Pick the zip again to run omniglot.' : '';
  notice(`The ${lab.backend?.backend === 'webgpu' ? 'WebGPU device' : 'training engine'} crashed (${message}${why}) and was restarted on the CPU with the same settings, ${from}.${zip}`, 'error', 'fatal');
  lab.worker.terminate();
  Object.assign(lab, { zipLoaded: false, zip: { held: '', reading: '' }, held: null, running: false });
  lab.asked.clear(); // the new worker holds no run
  $('zip-status').textContent = '';
  spawn();
  // the settings in force go on; the link can no longer replay the run (its weights come from the snapshot)
  lab.state = runnable({ ...lab.state, backend: 'cpu' }, 'The restarted engine has no zip for');
  showState();
  startRun();
  if (snapshot) post({ type: 'importWeights', bytes: snapshot.bytes, name: 'the last snapshot' });
}

/** The iteration counter and the speed: '–' unless Play is on and a batch has reported. */
function showCounters(msPerIteration = null) {
  $('iteration').textContent = String(lab.iteration);
  $('speed').textContent = lab.running && msPerIteration ? (1000 / msPerIteration).toFixed(1) : '–';
}

/** Marks the figures `ids` as showing the previous run (dimmed, with a note), or not. */
function markPrevious(ids, on) {
  for (const id of ids) $(id).classList.toggle('previous', on);
}

// What the worker says about itself, whichever run it is on.
const aboutWorker = {
  activity(m) {
    // a job of a run since replaced is still what the worker is doing: it says whose it is
    const old = m.key !== null && m.generation > 0 && m.generation !== lab.generation;
    // (the run's number in the key: a new run's job starts its own clock)
    lab.activity.set(m.key && `${m.generation} ${m.key}`, old ? `finishing the previous run's work: ${m.text}` : m.text, m.estimateMs);
    // before the engine is up, the badge says how far its download has come
    if (!lab.backend) $('backend-badge').textContent = m.text ?? 'starting…';
  },
  loaded(m) {
    lab.workerLoaded = true;
    if (!lab.table) begin(readTable(m.table)); // a restarted worker's is the same
  },
  backend(m) {
    lab.backend = m;
    $('backend-badge').textContent = m.backend === 'webgpu' ? `WebGPU · ${m.adapter}` : 'CPU · WebAssembly';
    $('backend-why').textContent = m.why;
    if (m.slow) notice(`WebGPU runs here on a software adapter (${m.adapter}): much slower than the CPU path. Choose auto or cpu under "The run" for speed.`, 'warn', 'slow-backend');
  },
  zip(m) {
    lab.zipLoaded = true;
    lab.zip = { held: `${m.name}: ${m.characters} characters, ${m.images} images`, reading: '' };
    $('zip-status').textContent = lab.zip.held;
    resolve('loadZip', 'zip');
    lab.state = presetFor('omniglot');
    showState();
    startRun();
  },
  error(m) {
    lab.errors.push(m);
    // a person's own task: the sentence goes in its panel
    if (m.request === 'adapt' || m.request === 'sample') return lab.charts.draw.failed(m);
    if (m.request === 'start') {
      if (m.generation === lab.generation) return startRefused(m.message);
      return notice(`Could not start a run asked for meanwhile: ${m.message}.`, 'error', 'start');
    }
    const what = { loadZip: 'Could not read that zip', importWeights: 'Could not load those weights', maml: 'Could not apply that setting' }[m.request] ?? `The ${m.request} request failed`;
    const goesOn = { loadZip: '; the current run goes on', maml: '; the run goes on as it was' }[m.request] ?? '';
    notice(`${what}: ${m.message}${goesOn}.`, 'error', m.request);
    if (m.request === 'loadZip') showZipRefused();
    if (m.request === 'maml' && m.generation === lab.generation) liveRefused();
  },
  fatal(m) {
    restart(m.message);
  },
};

// What the worker says about the current run.
const aboutRun = {
  ready(m) {
    forgetPreviousRun();
    lab.ready = true;
    lab.config = m.config;
    lab.iteration = m.iteration; // a meta-trained start's, or 0
    showCounters();
    lab.startAlpha = m.config.maml.inner_lr;
    resolve(...RUN_NOTICES);
    setButtons();
    lab.charts.draw.setRun(m.config);
  },
  reports(m) {
    for (const r of m.reports) addReport(r);
    lab.iteration = m.reports[m.reports.length - 1].iteration;
    lab.wasmBytes = m.wasmBytes;
    if (m.gpu) countGpuWork(m);
    showCounters(m.msPerIteration);
    resolve('diverged');
    lab.dirty.loss = true;
    // a first snapshot as soon as there are weights worth keeping, then one every SNAPSHOT_EVERY_MS
    if (!lab.snapshot && !lab.snapshotAsked) {
      lab.snapshotAsked = true;
      post({ type: 'exportWeights', purpose: 'snapshot' });
    }
  },
  evaluation(m) {
    lab.evaluation = m;
    markPrevious(['step-figure', 'task-figure'], false);
    addTestLoss(m);
    if (firstNonFinite(evaluationLosses(m.maml)) < 0) resolve('test-diverged');
    lab.dirty.evaluation = true;
  },
  view(m) {
    lab.view = m;
    if (firstNonFinite(viewLosses(m.view)) < 0) resolve('view-diverged');
    markPrevious(['view-figure'], false);
    lab.dirty.view = true;
  },
  rates(m) {
    lab.rates = m;
    lab.dirty.rates = true;
  },
  adapted(m) {
    lab.charts.draw.adapted(m);
  },
  sample(m) {
    lab.charts.draw.sampled(m);
  },
  maml(m) {
    lab.config = m.config;
    if (m.scheduled) passedChanges(m.iteration);
    else {
      lab.liveSent = Math.max(0, lab.liveSent - 1);
      recordChanges(m);
    }
  },
  diverged(m) {
    lab.running = false;
    setButtons();
    showCounters();
    notice(`${m.message}.`, 'error', DIVERGED_KEY[m.what] ?? 'diverged');
  },
  weights(m) {
    lab.snapshot = { bytes: m.bytes, iteration: m.iteration };
    if (m.purpose === 'download') download(m.bytes);
  },
  imported(m) {
    resolve('importWeights');
    notice(`Loaded the weights of ${m.name} (trained ${m.iteration} meta-iterations).`, 'info', 'weights');
    // the run goes on from the file's iteration
    lab.iteration = m.iteration;
    showCounters();
  },
};

/** A replay passed its changes up to `iteration`: the controls show them. */
function passedChanges(iteration) {
  const due = lab.run.pending.filter((e) => e.iteration <= iteration);
  lab.run.pending = lab.run.pending.filter((e) => e.iteration > iteration);
  lab.run.live.push(...due);
  for (const e of due) {
    lab.state = { ...lab.state, [e.key]: e.value };
    lab.held = { ...lab.held, [e.key]: e.value };
  }
  showState();
}

/** The person's live change reached the run after `m.iteration` meta-iterations: the link records
 *  it there. It rewrites what a replay had still to come. */
function recordChanges(m) {
  resolve('maml');
  const dropped = lab.run.pending;
  if (dropped.length) {
    const at = [...new Set(dropped.map((e) => e.iteration))].join(', ');
    notice(`You changed a live setting at iteration ${m.iteration}, so the link's later changes (at ${at}) are dropped: from here the link records this run as you drive it.`, 'info', 'replay');
  }
  lab.run.pending = [];
  lab.held = { ...lab.held, ...m.changed };
  for (const [key, value] of Object.entries(m.changed)) lab.run.live = record(lab.run.live, m.iteration, key, value);
  writeLink();
}

function onWorker(m) {
  if (m.type in aboutWorker) aboutWorker[m.type](m);
  else if (m.generation === lab.generation) aboutRun[m.type](m);
  else if (m.type === 'ready') heldRun(m.generation); // a run since replaced, which the worker holds until the latest is ready
  // else: of a run since replaced
}

/** WebGPU's calls per meta-iteration (worker.js, gpuCounts): the run's first apart, as it compiles. */
function countGpuWork(m) {
  const { pipelinesTotal, ...counts } = m.gpu;
  const n = m.reports.length;
  const perIteration = Object.fromEntries(Object.entries(counts).map(([k, v]) => [k, v / n]));
  lab.gpuWork[m.reports[0].iteration === 1 ? 'first' : 'steady'] = perIteration;
  lab.gpuWork.pipelines = pipelinesTotal;
}

function addReport(r) {
  const h = lab.history;
  // an exponential moving average with Adam's bias correction, so the first points are not pulled to 0
  const a = lab.average;
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

function addTestLoss(m) {
  // meta-test loss after as many inner steps as training uses, comparable with the train curve
  const k = Math.min(lab.state.inner_steps, m.maml.steps.length - 1);
  const value = m.maml.steps[k].loss.mean;
  const h = lab.history;
  if (h.x.length && h.x[h.x.length - 1] === m.iteration) h.test[h.test.length - 1] = value;
  else { h.x.push(m.iteration); h.loss.push(null); h.avg.push(h.avg.length ? h.avg[h.avg.length - 1] : null); h.test.push(value); }
  lab.dirty.loss = true;
}

// ---------------------------------------------------------------- drawing
function draw() {
  const { charts, dirty } = lab;
  try {
    if (dirty.loss) { charts.loss.update(lab.history); dirty.loss = false; }
    if (dirty.evaluation && lab.evaluation) {
      const ways = lab.config?.task.ways; // for the chance line of image tasks
      charts.steps.update(lab.evaluation, ways);
      charts.tasks.update(lab.evaluation, ways);
      dirty.evaluation = false;
    }
    if (dirty.view && lab.view) { charts.view.update(lab.view.view); dirty.view = false; }
    if (dirty.rates) { charts.rates.update(lab.rates?.rates ?? null, lab.startAlpha, lab.rates?.iteration ?? 0); dirty.rates = false; }
  } catch (e) {
    notice(`Drawing failed: ${e.message}`, 'error', 'draw');
    dirty.loss = dirty.evaluation = dirty.view = dirty.rates = false;
  }
  requestAnimationFrame(draw);
}

function setButtons() {
  $('play').disabled = !lab.ready;
  $('step').disabled = !lab.ready || lab.running;
  $('reset').disabled = !lab.ready;
  $('download').disabled = !lab.ready;
  $('new-task').disabled = !lab.ready;
  $('play').textContent = lab.running ? '❚❚ Pause' : '▶ Play';
}

/** The zip line after a zip was refused: what the worker still holds. */
function showZipRefused() {
  const still = lab.zip.held ? `; still using ${lab.zip.held}` : '';
  $('zip-status').textContent = lab.zip.reading ? `${lab.zip.reading} was not read${still}` : lab.zip.held;
  lab.zip.reading = '';
}

function download(bytes) {
  const url = URL.createObjectURL(new Blob([bytes], { type: 'application/octet-stream' }));
  const a = Object.assign(document.createElement('a'), { href: url, download: `maml-${lab.state.task}-it${lab.iteration}.bin` });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** The file picked in `input`, unless it is over `limit` bytes: then a notice says so. */
function picked(input, limit, request, tooLarge) {
  const file = input.files[0];
  input.value = '';
  if (file?.size > limit) {
    notice(`${file.name} is ${(file.size / 2 ** 20).toFixed(0)} MB${tooLarge}`, 'error', request);
    return null;
  }
  return file ?? null;
}

// ---------------------------------------------------------------- wiring
function wire() {
  $('play').onclick = () => {
    lab.running = !lab.running;
    post({ type: lab.running ? 'play' : 'pause' });
    setButtons();
    if (!lab.running) showCounters();
  };
  $('step').onclick = () => post({ type: 'step' });
  $('reset').onclick = () => startRun();
  $('new-task').onclick = () => post({ type: 'view', index: ++lab.viewIndex });
  $('download').onclick = () => post({ type: 'exportWeights', purpose: 'download' });
  // keep a recent copy of the weights on this side, so a crashed worker loses little
  setInterval(() => { if (lab.running) post({ type: 'exportWeights', purpose: 'snapshot' }); }, SNAPSHOT_EVERY_MS);
  // a real button, reachable by keyboard, opens the hidden file input
  $('load-weights').onclick = () => $('weights').click();
  $('weights').onchange = async (e) => {
    const file = picked(e.target, MAX_WEIGHTS, 'importWeights', ': too large to be weights of this lab.');
    if (!file) return;
    const bytes = await file.arrayBuffer();
    post({ type: 'importWeights', bytes, name: file.name }, [bytes]);
  };
  $('zip').onchange = async (e) => {
    const file = picked(e.target, MAX_ZIP, 'loadZip', ', over the 64 MB limit; the current run goes on.');
    if (!file) return;
    lab.zip.reading = file.name;
    $('zip-status').textContent = `reading ${file.name}…`;
    const bytes = await file.arrayBuffer();
    post({ type: 'loadZip', bytes, name: file.name }, [bytes]);
  };
  document.addEventListener('visibilitychange', () => {
    // a hidden tab keeps training; the page just stops drawing until it is seen again
    if (!document.hidden) lab.dirty.loss = lab.dirty.evaluation = lab.dirty.view = lab.dirty.rates = true;
  });
  window.addEventListener('hashchange', () => {
    // before the table comes, the hash is still to be read
    if (!lab.table || location.hash === link()) return;
    openLink(location.hash);
  });
}

/** The page without its controls: they wait for the settings table, which comes with the wasm. */
function main() {
  lab.charts = {
    loss: new LossChart($('loss-chart')),
    steps: new StepChart($('step-chart')),
    tasks: new TaskChart($('task-chart')),
    view: new AdaptationView($('view'), $('view-caption'), $('view-step')),
    rates: new RatesView($('rates'), $('rates-caption'), $('rates-body')),
    draw: new DrawPanel($('draw'), post),
  };
  $('eval-tasks').textContent = EVAL_TASKS;
  lab.activity = new ActivityLine($('activity'), $('activity-text'), $('activity-elapsed'));
  for (const id of ['step-figure', 'task-figure', 'view-figure']) {
    $(id).querySelector('figcaption').append(Object.assign(document.createElement('span'), {
      className: 'previous-note', textContent: "previous run: the new run's first results are on their way",
    }));
  }
  lab.starts = new Starts($('start-box'), (value) => onControl(control(lab.table, 'start'), value));
  lab.startsLoaded = lab.starts.load().then((problems) => problems.forEach((p) => notice(p, 'warn')));
  lab.pins = new Pins($('pins'), {
    storage: localStorage,
    run: () => ({ state: lab.state, iteration: lab.iteration, history: lab.history, evaluation: lab.evaluation }),
    charts: [
      { name: 'loss', chart: lab.charts.loss, caption: $('loss-chart').previousElementSibling, title: 'meta-loss' },
      { name: 'steps', chart: lab.charts.steps, caption: $('step-chart').previousElementSibling, title: 'adaptation by inner step' },
      { name: 'tasks', chart: lab.charts.tasks, caption: $('task-chart').previousElementSibling, title: 'meta-test tasks' },
    ],
    notice,
    onChange: (pins) => {
      for (const c of [lab.charts.loss, lab.charts.steps, lab.charts.tasks]) c.setPins(pins);
      lab.dirty.loss = lab.dirty.evaluation = true;
    },
  });
  wire();
  spawn();
  requestAnimationFrame(draw);
}

/** The rest, once the worker has sent the settings table: the controls, the link's state, the first run. */
async function begin(table) {
  await lab.startsLoaded; // the first run may start from one
  lab.table = table;
  lab.controls = new Controls(table.controls, $('live-controls'), $('run-controls'), onControl);
  // the current algorithm's one-line explanation, right under its selector
  // (a class, not an id: the panel's ids are the settings' keys)
  $('algorithm').closest('.row').after(Object.assign(document.createElement('p'), { className: 'hint algorithm-explain' }));
  $('task').closest('.row').after(Object.assign(document.createElement('p'), { className: 'hint task-explain', hidden: true }));
  openLink(location.hash);
}

main();
