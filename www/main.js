// The page's main thread: builds the controls from the state table, talks to the worker, and
// draws the latest reports on animation frames. It never trains and never waits on the wasm.
import { coerce, parseHash, toHash, settings, needsReset, defaults } from './state.js';
import { LossChart, StepChart, TaskChart } from './views/charts.js';
import { AdaptationView } from './views/adaptation.js';
import { Controls } from './views/controls.js';

const $ = (id) => document.getElementById(id);
const MAX_POINTS = 4000; // the loss history is thinned past this, so memory stays flat
const MAX_ZIP = 64 << 20;
// meta-test tasks per evaluation; `?eval_tasks=N` (not part of the run's link) lowers it for slow devices and tests
const EVAL_TASKS = Math.min(200, Math.max(2, Number(new URLSearchParams(location.search).get('eval_tasks')) || 24));

const lab = {
  state: null, config: null, backend: null, ready: false, running: false, iteration: 0,
  history: { x: [], loss: [], avg: [], test: [] }, evaluation: null, view: null, notices: [], errors: [],
};
window.lab = lab; // for the browser tests and the curious

// ---------------------------------------------------------------- notices
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

// ---------------------------------------------------------------- controls
let controls = null;

function showState() {
  controls.show(lab.state);
  history.replaceState(null, '', toHash(lab.state));
}

/** A control changed: a live one goes to the worker, any other starts a new run. */
function onControl(c, raw) {
  const before = lab.state;
  let next = { ...before };
  if (c.key === 'task') {
    if (raw === 'omniglot' && !zipLoaded) {
      notice('The omniglot task needs a zip of characters: pick one under "The run". The current run goes on meanwhile.', 'warn', 'zip');
      showState();
      return;
    }
    // a new task brings its own preset (the paper's settings, sized for the page)
    next = { ...defaults(raw), seed: before.seed, backend: before.backend };
  } else {
    const [value, problem] = coerce(c, raw, before[c.key]);
    if (problem) notice(problem, 'warn');
    next[c.key] = value;
  }
  lab.state = next;
  showState();
  if (c.key === 'backend') start({ keepBackend: false });
  else if (needsReset(before, next)) start({ keepBackend: true });
  else post({ type: 'maml', settings: settings(next) });
}

// ---------------------------------------------------------------- worker
let worker = null;
let generation = 0;
let zipLoaded = false;
let weightsSnapshot = null; // re-loaded into a new worker if the old one dies
const SNAPSHOT_EVERY_MS = 30_000;

function post(msg, transfer = []) {
  worker.postMessage(msg, transfer);
}

function spawn() {
  worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  worker.onmessage = ({ data }) => onWorker(data);
  worker.onerror = (e) => notice(`The training worker failed to load: ${e.message || 'unknown error'}`, 'error', 'worker');
}

function start({ keepBackend }) {
  generation += 1;
  lab.ready = false;
  lab.running = false;
  lab.iteration = 0;
  lab.history = { x: [], loss: [], avg: [], test: [] };
  Object.assign(ema, { value: 0, n: 0 });
  lab.evaluation = null;
  weightsSnapshot = null;
  dirty.loss = true;
  setButtons();
  post({ type: 'start', generation, settings: settings(lab.state), backend: lab.state.backend, keepBackend, evalTasks: EVAL_TASKS });
}

const dirty = { loss: false, evaluation: false, view: false };

function onWorker(m) {
  if (m.type === 'weights') {
    if (m.generation !== generation) return; // weights of a run since reset
    weightsSnapshot = m.bytes;
    if (m.purpose === 'download') download(m.bytes);
    return;
  }
  if (m.type === 'error') return onError(m);
  if (m.type === 'fatal') return onFatal(m);
  if (m.type === 'loaded') return;
  if (m.type === 'backend') {
    lab.backend = m;
    $('backend-badge').textContent = m.backend === 'webgpu' ? `WebGPU · ${m.adapter}` : 'CPU · WebAssembly';
    $('backend-why').textContent = m.why;
    return;
  }
  if (m.generation !== generation) return; // a report of a run that was reset
  switch (m.type) {
    case 'ready':
      lab.ready = true;
      lab.config = m.config;
      lab.readyMs = m.ms;
      setButtons();
      break;
    case 'reports':
      for (const r of m.reports) addReport(r);
      lab.iteration = m.reports[m.reports.length - 1].iteration;
      lab.wasmBytes = m.wasmBytes;
      $('iteration').textContent = lab.iteration;
      $('speed').textContent = (1000 / m.msPerIteration).toFixed(1);
      dirty.loss = true;
      break;
    case 'evaluation':
      lab.evaluation = m;
      addTestLoss(m);
      dirty.evaluation = true;
      break;
    case 'view':
      lab.view = m;
      dirty.view = true;
      break;
    case 'maml':
      lab.config = m.config;
      break;
    case 'diverged':
      lab.running = false;
      setButtons();
      notice(`${m.message}.`, 'error', 'diverged');
      break;
    case 'imported':
      notice(`Loaded the weights of ${m.name} (trained ${m.iteration} meta-iterations).`, 'info', 'weights');
      break;
    case 'zip':
      zipLoaded = true;
      $('zip-status').textContent = `${m.name}: ${m.characters} characters, ${m.images} images`;
      lab.state = { ...defaults('omniglot'), seed: lab.state.seed, backend: lab.state.backend };
      showState();
      start({ keepBackend: true });
      break;
  }
}

function onError(m) {
  lab.errors.push(m);
  const what = { start: 'Could not start that run', loadZip: 'Could not read that zip', importWeights: 'Could not load those weights', maml: 'Could not apply that setting' }[m.request] ?? `The ${m.request} request failed`;
  notice(`${what}: ${m.message}`, 'error', m.request);
  if (m.request === 'start' && lab.config) {
    // the worker kept the previous run: show its settings again
    lab.ready = true;
    setButtons();
  }
}

function onFatal(m) {
  notice(`The ${lab.backend?.backend === 'webgpu' ? 'WebGPU device' : 'training engine'} failed (${m.message}); restarted on the CPU${weightsSnapshot ? ' from the weights of at most 30 s ago' : ''}.`, 'error', 'fatal');
  worker.terminate();
  lab.state = { ...lab.state, backend: 'cpu' };
  showState();
  spawn();
  generation += 1;
  post({ type: 'init', generation, settings: settings(lab.state), backend: 'cpu', evalTasks: EVAL_TASKS });
  if (weightsSnapshot) post({ type: 'importWeights', bytes: weightsSnapshot.slice(0), name: 'the last snapshot' });
}

// exponential moving average with Adam's bias correction, so the first points are not pulled to 0
const ema = { value: 0, n: 0 };
function addReport(r) {
  const h = lab.history;
  ema.value = 0.95 * ema.value + 0.05 * r.meta_loss;
  ema.n += 1;
  h.x.push(r.iteration);
  h.loss.push(r.meta_loss);
  h.avg.push(ema.value / (1 - Math.pow(0.95, ema.n)));
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
  dirty.loss = true;
}

// ---------------------------------------------------------------- drawing
const charts = {};
function draw() {
  try {
    if (dirty.loss) { charts.loss.update(lab.history); dirty.loss = false; }
    if (dirty.evaluation && lab.evaluation) { charts.steps.update(lab.evaluation); charts.tasks.update(lab.evaluation); dirty.evaluation = false; }
    if (dirty.view && lab.view) { charts.view.update(lab.view.view); dirty.view = false; }
  } catch (e) {
    notice(`Drawing failed: ${e.message}`, 'error', 'draw');
    dirty.loss = dirty.evaluation = dirty.view = false;
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

function download(bytes) {
  const url = URL.createObjectURL(new Blob([bytes], { type: 'application/octet-stream' }));
  const a = Object.assign(document.createElement('a'), { href: url, download: `maml-${lab.state.task}-it${lab.iteration}.bin` });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

// ---------------------------------------------------------------- wiring
let viewIndex = 0;
function wire() {
  $('play').onclick = () => {
    lab.running = !lab.running;
    post({ type: lab.running ? 'play' : 'pause' });
    setButtons();
  };
  $('step').onclick = () => post({ type: 'step' });
  $('reset').onclick = () => start({ keepBackend: true });
  $('new-task').onclick = () => post({ type: 'view', index: ++viewIndex });
  $('download').onclick = () => post({ type: 'exportWeights', purpose: 'download' });
  // keep a recent copy of the weights on this side, so a crashed worker loses little
  setInterval(() => { if (lab.running) post({ type: 'exportWeights', purpose: 'snapshot' }); }, SNAPSHOT_EVERY_MS);
  $('weights').onchange = async (e) => {
    const file = e.target.files[0];
    e.target.value = '';
    if (!file) return;
    if (file.size > 256 << 20) return notice(`${file.name} is ${(file.size / 2 ** 20).toFixed(0)} MB: too large to be weights of this lab.`, 'error', 'importWeights');
    const bytes = await file.arrayBuffer();
    post({ type: 'importWeights', bytes, name: file.name }, [bytes]);
  };
  $('zip').onchange = async (e) => {
    const file = e.target.files[0];
    e.target.value = '';
    if (!file) return;
    if (file.size > MAX_ZIP) return notice(`${file.name} is ${(file.size / 2 ** 20).toFixed(0)} MB, over the 64 MB limit; the current run goes on.`, 'error', 'loadZip');
    $('zip-status').textContent = `reading ${file.name}…`;
    const bytes = await file.arrayBuffer();
    post({ type: 'loadZip', bytes, name: file.name }, [bytes]);
  };
  document.addEventListener('visibilitychange', () => {
    // a hidden tab keeps training; the page just stops drawing until it is seen again
    if (!document.hidden) dirty.loss = dirty.evaluation = dirty.view = true;
  });
  window.addEventListener('hashchange', () => {
    if (location.hash === toHash(lab.state)) return;
    const parsed = parseHash(location.hash);
    parsed.problems.forEach((p) => notice(`The link: ${p}`, 'warn'));
    lab.state = parsed.state;
    showState();
    start({ keepBackend: false });
  });
}

function main() {
  const parsed = parseHash(location.hash);
  lab.state = parsed.state;
  parsed.problems.forEach((p) => notice(`The link: ${p}`, 'warn'));
  if (lab.state.task === 'omniglot') {
    notice('The link asks for the omniglot task, which needs a zip of characters: pick one under "The run". Showing glyphs meanwhile.', 'warn', 'zip');
    lab.state = { ...lab.state, task: 'glyphs' };
  }
  controls = new Controls($('live-controls'), $('run-controls'), onControl);
  showState();
  charts.loss = new LossChart($('loss-chart'));
  charts.steps = new StepChart($('step-chart'));
  charts.tasks = new TaskChart($('task-chart'));
  charts.view = new AdaptationView($('view'), $('view-caption'), $('view-step'));
  wire();
  spawn();
  generation += 1;
  $('eval-tasks').textContent = EVAL_TASKS;
  post({ type: 'init', generation, settings: settings(lab.state), backend: lab.state.backend, evalTasks: EVAL_TASKS });
  requestAnimationFrame(draw);
}

main();
