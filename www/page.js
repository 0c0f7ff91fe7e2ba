// The page's state and its one path to a new run. Everything the page holds is in `lab` (also
// `window.lab`, for the browser tests and the curious): the run record (run.js: the settings, as
// the controls, the URL, the pins and the worker read them), the run's results (results.js), the
// worker, and the views. Every run starts in `startRun`; the page's controls, link and pins show
// the record in `showState`.
import { control, bounded } from './state.js';
import { Results } from './results.js';
import { learnerName } from './run.js';
import { RUN_NOTICES } from './notices.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
/** A checkpoint of the run (weights, Adam's moments, the task stream) is taken this often while
 *  training, and after every Step, Pause and loaded weights: a crashed worker's run resumes
 *  losing at most this. */
const CHECKPOINT_EVERY_MS = 2000;
/** A worker that sends nothing for this long while it trains is taken for hung and restarted. A
 *  training call is sized to a tenth of a second and a meta-test announces itself when slow
 *  (`activity`, with its estimate, which extends the deadline), so silence this long is no
 *  slow machine. */
const SILENT_MS = 120_000;

/** Query flags, none part of a run's link: `?eval_tasks=N` meta-tests on N tasks (lower for slow
 *  devices and tests); `?allow_software_webgpu=1` lets auto time a software WebGPU adapter
 *  against the CPU; `?gpu_counts=1` counts every WebGPU call (worker/gpu-counts.js); test-only,
 *  `?min_call_ms=N` makes each training, meta-test and landscape-row call (navigation: each training call) last at least N ms, so a test of the
 *  status line does not depend on the machine's speed, and `?silent_ms=N` takes a worker silent
 *  for N ms while training for hung; for benchmarks, `?checkpoint_ms=N` checkpoints every N ms
 *  (0: never), to measure what checkpoints cost. */
export const FLAGS = {
  evalTasks: Math.min(200, Math.max(2, Number(params.get('eval_tasks')) || 24)),
  allowSoftwareWebgpu: params.get('allow_software_webgpu') === '1',
  gpuCounts: params.get('gpu_counts') === '1',
  minCallMs: Math.max(0, Number(params.get('min_call_ms')) || 0),
  silentMs: Math.max(1000, Number(params.get('silent_ms')) || SILENT_MS),
  checkpointMs: params.has('checkpoint_ms') ? Math.max(0, Number(params.get('checkpoint_ms')) || 0) : CHECKPOINT_EVERY_MS,
};

/** Everything the page holds. */
export const lab = {
  table: null, // the settings table (state.js): every control and each task's preset, from the wasm
  record: null, // the run record (run.js)
  results: new Results(), // the current run's results, for the charts
  config: null, // the run's full TrainerConfig, as the worker last reported it
  backend: null, // what the worker's handle runs on, and why: {backend, adapter, why}
  workers: null, // how many workers share each meta-iteration, and why: {workers, asked, units, threads, why} (worker/shares.js)
  ready: false, // the worker has set the run up, so the buttons act on it
  running: false, // Play is on
  wasRunning: false, // Play was on when the latest run was asked for: a refusal lets the old run go on
  worker: null, // the Web Worker that owns the wasm
  workerLoaded: false, // the current worker has loaded the wasm: an error from it now is a crash, not a failed load
  zip: { loaded: false, held: '', reading: '' }, // the Omniglot zip the worker holds (the omniglot task needs one), and the one being read
  snapshot: { asked: false, last: null }, // the run's latest checkpoint, for a restarted worker: {bytes, iteration, generation (of the run it is of), average (the loss chart's moving average there), live (the live changes in it)}
  whenReady: null, // what to do when the run asked for is ready: {iteration, average} of a crashed worker's checkpoint (its results up to there stay); play (Play goes on)
  heardAt: 0, // when the worker last said anything: a hung one falls silent
  alive: false, // the worker has said it holds its Web Lock (lifecycle.js), so its end will be noticed
  expectMs: null, // how long the worker's current slow call was announced to take: the hang deadline waits for it
  views: null, // {controls, charts, activity, pins, starts, notices}
  // charts with new data for the next frame; marking one asks for that frame (main.js, askFrame)
  dirty: new Proxy({ loss: false, counters: false, evaluation: false, view: false, rates: false, gradients: false, nav: false }, {
    set(flags, key, value) {
      flags[key] = value;
      if (value) lab.askFrame();
      return true;
    },
  }),
  askFrame: () => {}, // set by main.js once it draws
  errors: [], // every failed request
  nav: null, // a navigation run's results (nav-results.js), or null
};
// the names the browser tests and scripts read
const alias = (name, get) => Object.defineProperty(lab, name, { get, enumerable: false });
alias('state', () => lab.record?.settings ?? null);
alias('generation', () => lab.record?.generation ?? 0);
for (const k of ['iteration', 'history', 'evaluation', 'view', 'rates', 'gpuWork', 'wasmBytes', 'startAlpha']) alias(k, () => lab.results[k]);
alias('zipLoaded', () => lab.zip.loaded);
for (const k of ['charts', 'pins', 'activity']) alias(k, () => lab.views[k]);
alias('notices', () => lab.views.notices.shown);
window.lab = lab;

export const notice = (...args) => lab.views.notices.notice(...args);
export const resolve = (...keys) => lab.views.notices.resolve(...keys);
export const post = (msg, transfer = []) => lab.worker.postMessage(msg, transfer);

/** What to expect of a task, under its selector; only the noise control needs saying. */
const TASK_NOTES = {
  navigation: 'Navigation: the MAML paper\'s reinforcement-learning task. A point starts at (0, 0) and has 100 steps to reach an unseen goal; its reward is minus its distance to the goal. Shots and queries are the trajectories sampled per goal before and after an inner step. It meta-learns with MAML only (exact, or first-order) and runs on the CPU.',
  noise: 'Noise: the images are noise and their labels drawn at random, so no learner can beat chance here (1 in N, the dashed line on the accuracy charts): a control, showing what learning nothing looks like.',
};

/** The record's settings on the controls, the start choice, the pins' labels and the URL. */
export function showState() {
  const { table, record } = lab;
  const s = record.settings;
  lab.views.controls.show(s, (c) => bounded(table, s, c));
  const note = document.querySelector('.task-explain');
  note.textContent = TASK_NOTES[s.task] ?? '';
  note.hidden = !note.textContent;
  lab.views.starts.show(table, s);
  lab.views.pins.setCurrent(record);
  showAlgorithm(s.algorithm);
  orient(s);
  document.body.classList.toggle('navigation', s.task === 'navigation');
  history.replaceState(null, '', record.link());
}

/** The first screen's line: what the charts show now, and the obvious next step. A first visit
 *  lands on a meta-trained start, whose flat meta-loss would otherwise read as nothing happening. */
function orient(s) {
  const start = s.start === 'meta-trained' ? lab.views.starts.fit(lab.table, s) : null;
  const task = { navigation: 'goals in the 2-D navigation task', sinusoid: 'sine waves', noise: 'noise (a control with nothing to learn)', glyphs: 'glyph classes', omniglot: 'Omniglot characters' }[s.task] ?? s.task;
  $('orient-text').textContent = start?.bytes && s.task === 'navigation'
    ? `You are looking at a policy already meta-trained for ${start.info.iterations} meta-iterations on ${task}: click the arena to give it a goal it has never seen, and watch its spray of trajectories turn into a beeline after one inner step.`
      + ' To watch it learn, live:'
    : start?.bytes
    ? `You are looking at a network already meta-trained for ${start.info.iterations} meta-iterations on ${task}: its meta-loss is flat because it has learned, and the charts show how well it adapts to tasks it has never seen.`
      + ' To watch it learn, live:'
    : s.task === 'navigation'
      ? 'A policy meta-learning 2-D navigation from scratch: press ▶ Play and watch the return after one inner step rise, and click the arena to give it a goal of your own.'
      : `A network meta-learning ${task} from scratch: press ▶ Play and watch the meta-loss fall, and the held-out tasks below adapt better and better.`;
  $('orient-scratch').hidden = !start?.bytes;
  // the explanation is of the supervised panels, hidden for navigation (its note says why)
  $('orient-explain').hidden = s.task === 'navigation';
}

/** What the algorithm changes on the page: its explanation under the selector, the first-order
 *  box (Reptile has nothing it could drop), and the adaptation view's note on what adapts. */
function showAlgorithm(algorithm) {
  document.querySelector('.algorithm-explain').textContent = lab.table.algorithms[algorithm] ?? '';
  const box = $('first_order');
  box.disabled = algorithm === 'reptile';
  // the value stays in the settings and the URL, so switching back restores it
  box.title = box.disabled ? 'Reptile has no gradient through its inner loop: it moves θ toward the adapted weights, so there are no second derivatives to drop' : '';
  lab.views.charts.view.note = algorithm === 'anil' ? 'only the head adapts (ANIL); ' : '';
  // redrawn on the next frame, where a failed drawing becomes a notice rather than stopping this change
  lab.dirty.view = true;
}

/** `settings`, or glyphs in their place when they ask for omniglot and the worker holds no zip. */
export function runnable(settings, asker) {
  if (settings.task !== 'omniglot' || lab.zip.loaded) return settings;
  notice(`${asker} the omniglot task, which needs a zip of characters: pick one under "The run". Showing glyphs meanwhile.`, 'warn', 'zip');
  return { ...settings, task: 'glyphs' };
}

/** Opens the run a link asks for: its start settings, and its live changes to replay. */
export function openLink(hash) {
  const { settings, live, problems } = lab.record.fromLink(hash, (s) => runnable(s, 'The link asks for'));
  problems.forEach((p) => notice(`The link: ${p}`, 'warn'));
  lab.record.settings = settings;
  showState();
  startRun(live);
}

/** A control changed: a live one goes to the worker, any other starts a new run. */
export function onControl(c, raw) {
  if (c.key === 'task' && raw === 'omniglot' && !lab.zip.loaded) {
    notice('The omniglot task needs a zip of characters: pick one under "The run". The current run goes on meanwhile.', 'warn', 'zip');
    showState(); // the list goes back to the task that runs
    return;
  }
  const before = lab.record.settings;
  const { problem, key, same, reset, changed } = lab.record.change(c, raw);
  if (problem) notice(problem, 'warn', key);
  // (a field re-committed on blur changes nothing); the sentence about the preset a task or
  // learner brought leaves once the person changes another setting: it no longer says what runs
  else if (!same && c.key !== 'task' && c.key !== 'algorithm') resolve(key, 'preset');
  if (reset && !same && (c.key === 'task' || c.key === 'algorithm')) sayPreset(c, before, lab.record.settings);
  showState();
  if (reset) {
    lab.whenReady = { play: lab.running || Boolean(lab.whenReady?.play) }; // a new run of other settings: Play stays as it was
    startRun();
    return;
  }
  // the workers: from the next meta-iteration, the same run
  if (c.key === 'threads' && !same) post({ type: 'threads', threads: lab.record.settings.threads });
  // only what changed: the worker applies it on top of the settings in force there, which a
  // replay may have moved on since this page last heard
  if (Object.keys(changed).length) {
    lab.record.liveSent += 1;
    post({ type: 'maml', settings: changed, changed });
  }
}

/** A task or algorithm brings its preset: says which other settings it changed, and why. */
function sayPreset(c, before, after) {
  // (the start has a sentence of its own when the new run cannot use a meta-trained one)
  const others = lab.table.controls.filter((k) => !['backend', 'threads', 'seed', 'start', c.key].includes(k.key) && before[k.key] !== after[k.key]);
  const what = c.key === 'task' ? `The ${after.task} task` : learnerName({ maml: { algorithm: after.algorithm, first_order: false } });
  const why = c.key === 'task' ? 'each task starts from its own preset' : 'each learner starts from its paper\'s settings, so runs side by side compare each at its best';
  notice(others.length
    ? `${what} brings its preset (${why}): ${others.map((k) => `${k.label} ${before[k.key]} → ${after[k.key]}`).join(', ')}.`
    : `${what} keeps every other setting as it was.`, 'info', 'preset');
}

/** The start choice changed (views/starts.js). */
export const onStart = (value) => onControl(control(lab.table, 'start'), value);

/** Starts a run of the record's settings. Every run starts here: the page's first, Reset, a run
 *  setting, a link, a zip and a restarted worker. `live`: the live changes to replay,
 *  [{iteration, key, value}] (a link's); every other run starts with none, from the settings the
 *  controls show. The previous run's charts stay until the worker says the new one is ready
 *  (`forgetPreviousRun`): if it refuses it, they, the controls and the URL go back to the run that
 *  goes on (messages.js, startRefused). */
export function startRun(live = [], resume = null) {
  const { record } = lab;
  const start = lab.views.starts.fit(lab.table, record.settings);
  resolve('start-choice');
  if (record.settings.start === 'meta-trained' && !start.bytes) {
    // the controls and the link say what runs: from scratch
    if (record.settings.task !== 'noise') notice(`This run starts from scratch: ${start.why}.`, 'info', 'start-choice');
    record.settings = { ...record.settings, start: 'scratch' };
    showState();
  }
  const weights = record.settings.start === 'meta-trained' ? start.bytes.slice(0) : undefined;
  lab.wasRunning = lab.running;
  // a restarted worker's run: the same run, from its checkpoint (the worker loads it over the start's weights)
  const message = resume ? record.resume(resume.resumeAt, resume.backend, resume.applied) : record.begin(live);
  Object.assign(lab, { ready: false, running: false });
  showCounters();
  setButtons();
  showState();
  post({ type: 'start', ...message, weights, checkpoint: resume?.checkpoint, zip: resume?.zip, zipName: resume?.zipName }, resume?.zip ? [resume.zip] : []);
}

/** A restarted worker resumed the run from its checkpoint (`resumed`: {iteration, average}): the
 *  results up to it stay, those after it go (the run makes them again). */
export function keepResults(resumed) {
  lab.results.truncate(resumed.iteration, resumed.average);
  // the checkpoint it resumed from is this run's too, should it crash again before the next
  if (lab.snapshot.last) lab.snapshot.last.generation = lab.record.generation;
  lab.snapshot.asked = false;
  lab.record.heldRun(lab.record.generation);
  resolve(...RUN_NOTICES);
  lab.dirty.loss = lab.dirty.evaluation = lab.dirty.rates = lab.dirty.gradients = true;
}

/** The run asked for is ready: the results start over for it. The previous run's meta-test and
 *  sampled task stay drawn until the new run's replace them: marked as the previous run's, so
 *  they do not read as the new one's. */
export function forgetPreviousRun() {
  markPrevious(['step-figure', 'task-figure'], lab.results.evaluation !== null);
  markPrevious(['view-figure'], lab.results.view !== null);
  lab.results.reset();
  lab.snapshot = { asked: false, last: null };
  lab.record.heldRun(lab.record.generation);
  resolve(...RUN_NOTICES);
  lab.dirty.loss = lab.dirty.rates = lab.dirty.gradients = true;
  showCounters();
}

/** The iteration counter and the speed: '–' unless Play is on and a second of it is timed. */
export function showCounters() {
  $('iteration').textContent = String(lab.results.iteration);
  const rate = lab.running ? lab.results.stopwatch.rate() : null;
  $('speed').textContent = rate === null ? '–' : rate >= 10 ? rate.toFixed(0) : rate.toFixed(1);
}

/** Marks the figures `ids` as showing the previous run (dimmed, with a note), or not. */
export function markPrevious(ids, on) {
  for (const id of ids) $(id).classList.toggle('previous', on);
}

/** Play on: the worker trains, and the stopwatch of the speed shown starts. */
export function play() {
  lab.running = true;
  lab.results.stopwatch.start(lab.results.iteration);
  post({ type: 'play' });
}

export function setButtons() {
  for (const id of ['play', 'reset', 'download', 'new-task']) $(id).disabled = !lab.ready;
  lab.views.charts.landscape.setReady(lab.ready);
  lab.views.charts.walk.setReady(lab.ready);
  $('step').disabled = !lab.ready || lab.running;
  $('play').textContent = lab.running ? '❚❚ Pause' : '▶ Play';
}
