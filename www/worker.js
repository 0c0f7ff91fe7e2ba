// The worker owns the wasm handle and the training loop; the page only draws what it posts.
//
// Every message, in both directions. The page's requests are handled one at a time, in the
// order sent (see the queue below); every message out carries the generation of the run it
// belongs to, so the page drops reports of a run it has since replaced.
//
//   page -> worker   payload                          what it asks
//   init             {evalTasks, allowSoftwareWebgpu} load the wasm; meta-test on evalTasks tasks;
//                                                     let auto measure a software WebGPU adapter too
//   start            {generation, settings, backend,  a new run: the handle reset, or a new one
//                     schedule,                       when another backend is asked for; schedule:
//                     weights?}                       live settings to apply after given meta-
//                                                     iterations, [{iteration, settings}] (a link's
//                                                     replay), each exactly there (see stepOnce);
//                                                     from `weights` (a weights file) when given
//   play             {}                               train in batches until paused
//   pause            {}                               stop after the batch in flight
//   step             {}                               one meta-iteration, a meta-test, the view
//   maml             {settings, changed}              the live settings, from the next iteration;
//                                                     changed: the values that differ, echoed back;
//                                                     drops what is left of the schedule
//   view             {index}                          adapt the index-th display task
//   loadZip          {bytes, name}                    an Omniglot zip, for omniglot runs
//   exportWeights    {purpose}                        the weights: 'download' or 'snapshot'
//   importWeights    {bytes, name}                    weights into the current run
//   adapt            {id, task}                       a person's own task (views/draw.js), {support_x,
//                                                     support_y, query_x} as Float32Arrays, adapted now
//                                                     and again as the weights move; null forgets it
//   sample           {index}                          a sampled meta-test task's exact inputs, to draw from
//
//   worker -> page   payload                          what it says
//   activity         {key, text, estimateMs}          what the worker starts that may take a while
//                                                     (the download, a first meta-iteration, a
//                                                     meta-test), or key null: it is done
//   loaded           {table}                          the wasm is loaded: its settings table
//   backend          {backend, adapter, why, slow,    a new handle: which backend, and why (slow: a
//                     rates}                          software WebGPU adapter, chosen explicitly;
//                                                     rates: auto's measured it/s {webgpu, cpu}, or null)
//   ready            {config, iteration}              the run is set up: its full TrainerConfig
//   reports          {reports, msPerIteration, wasmBytes, gpu}  meta-iterations done; gpu: the
//                                                     WebGPU calls they made (see gpuCounts), or null
//   evaluation       {iteration, maml, random}        a meta-test: MAML's start and a random one
//   rates            {iteration, rates}               Meta-SGD's learned inner rates per parameter
//                                                     tensor, [{name, mean, min, max}], or null for
//                                                     the other algorithms (with each meta-test)
//   view             {index, iteration, view}         a display task adapted step by step
//   maml             {config, iteration, changed |    the config after a live change, applied
//                     scheduled}                      after `iteration` meta-iterations: the page's
//                                                     (changed) or the schedule's (scheduled: true)
//   diverged         {message, what}                  training stopped: what = 'training' (the last
//                                                     finite weights kept), 'meta-test' or 'view'
//                                                     (adapting overflowed; training paused)
//   zip              {name, characters, images}       the zip was read
//   weights          {bytes, purpose, iteration}      the exported weights, trained `iteration` meta-iterations
//   imported         {name, iteration}                the weights were loaded
//   adapted          {id, result, alpha, training}    the person's task adapted: per inner step, the query
//                                                     class probabilities (the sinusoid: the curve) from
//                                                     the meta-learned and from a random start
//   sample           {index, sample}                  the sampled task: {shape, ways, support_x, ...}
//   error            {request, message}               a request failed and changed nothing (a refused
//                                                     start leaves the previous run, if any, paused)
//   fatal            {request, message}               the wasm panicked: this worker is done (a trap
//                                                     outside a request reaches the page as the
//                                                     worker's error event instead: the same end)
import init, { Lab } from './pkg/maml_lab.js';
import { adaptationDiverged, evaluationLosses, firstNonFinite, viewLosses } from './finite.js';

// meta-test at least this often, but never spending more than a tenth of the time on it
const EVAL_EVERY_MS = 4000;
// one training call this long: responsive to pause and sliders, yet few messages
const BATCH_MS = 100;
// re-adapt a person's own task at most this often while training moves the weights
const ADAPT_EVERY_MS = 1500;

/** Everything the worker holds. */
const state = {
  lab: null, // the wasm handle of the current run
  backend: null, // the backend `lab` was made for ('auto', 'webgpu' or 'cpu'): another needs a new handle
  memory: null, // the wasm instance's memory: its size goes out with the reports, so a leak would show
  evalTasks: 24, // meta-test tasks per evaluation (`?eval_tasks=N` on the page's URL)
  generation: 0, // the page's number for the current run
  config: null, // the run's full TrainerConfig, read from the handle after every change
  running: false, // Play is on
  loop: 0, // the number of the latest training loop: Play starts a new one, retiring any older one
  batch: 1, // meta-iterations per training call, tuned to BATCH_MS
  lastEval: 0, // when the last meta-test ended
  evalEvery: EVAL_EVERY_MS, // how long to train between meta-tests
  randomInit: { key: null, report: null }, // the random-start baseline: it depends only on the run, α and the test steps, so it is kept for them
  viewIndex: 0, // the display task the page shows
  schedule: [], // live settings still to apply, [{iteration, settings}] by iteration: a link's replay
  testDiverged: -1, // the iteration of the last meta-test that overflowed, so its view does not say so twice
  own: null, // a person's own task, {id, task}, adapted again as the weights move
  lastAdapt: 0, // when it was last adapted
  msPerIteration: null, // the latest training call's time per meta-iteration: a slow one is announced
  evalMs: { false: {}, true: {} }, // {key, ms}: how long the last meta-test call from the learned (false) or a random (true) start took, for the run and settings in `key`: the next one's estimate
  onWebgpu: false, // the handle runs on WebGPU
  shape: null, // the work shape `lab` was made for (auto's choice depends on it)
  measured: new Map(), // auto's timings per work shape: {webgpu, cpu} in it/s
  allowSoftwareWebgpu: false, // auto may measure a software adapter (`?allow_software_webgpu=1`, for tests)
  activity: null, // {key, text, estimateMs}: what the page was last told the worker is busy with
  cold: new Set(), // the calls ('evaluate', 'step') a WebGPU run has not made yet: its first of each compiles kernels
};

// What the worker asks of the GPU: every WebGPU call burn's wgpu makes goes through these
// prototypes (wasm-bindgen's glue calls them by name), so wrapping them counts them. A few
// increments per call, so always on. The counts do not depend on the adapter: SwiftShader
// counts what a real GPU would be asked. `readbacks` are buffer maps for reading.
const gpuCounts = { dispatches: 0, submits: 0, readbacks: 0, uploads: 0, pipelines: 0 };
function countGpuCalls() {
  if (!self.GPUQueue) return; // no WebGPU in this browser
  const count = (proto, name, key, when = () => true) => {
    const call = proto[name];
    if (!call) return;
    proto[name] = function (...args) {
      if (when(args)) gpuCounts[key] += 1;
      return call.apply(this, args);
    };
  };
  count(GPUComputePassEncoder.prototype, 'dispatchWorkgroups', 'dispatches');
  count(GPUComputePassEncoder.prototype, 'dispatchWorkgroupsIndirect', 'dispatches');
  count(GPUQueue.prototype, 'submit', 'submits');
  count(GPUQueue.prototype, 'writeBuffer', 'uploads');
  count(GPUBuffer.prototype, 'mapAsync', 'readbacks', ([mode]) => (mode & GPUMapMode.READ) !== 0);
  count(GPUDevice.prototype, 'createComputePipeline', 'pipelines');
  count(GPUDevice.prototype, 'createComputePipelineAsync', 'pipelines');
}
countGpuCalls();
const countsSince = (before) => Object.fromEntries(Object.entries(gpuCounts).map(([k, v]) => [k, v - before[k]]));

const post = (type, payload = {}, transfer = []) => postMessage({ type, generation: state.generation, ...payload }, transfer);

/** Tells the page what starts now (it shows it if it lasts), or with key null that it is done. */
const busy = (key, text = null, estimateMs = null) => {
  state.activity = key === null ? null : { key, text, estimateMs };
  post('activity', { key, text, estimateMs });
};

const MB = (bytes) => (bytes / 1e6).toFixed(1);

/** The wasm, fetched as a stream whose bytes are counted as they come, so the page can say how
 *  much of it has arrived (13.8 MB: tens of seconds over a slow connection); it is compiled as it
 *  streams, as wasm-bindgen's own fetch would. */
async function fetchWasm() {
  const response = await fetch(new URL('./pkg/maml_lab_bg.wasm', import.meta.url));
  if (!response.ok || !response.body) return response; // wasm-bindgen's init says what failed
  // Content-Length counts the bytes sent: the file's own size unless the server compresses it
  const encoded = !['', 'identity'].includes(response.headers.get('content-encoding') ?? '');
  const total = encoded ? 0 : Number(response.headers.get('content-length'));
  let loaded = 0;
  // at most one message per 100 ms, the latest count always said: a stalled download shows where it stands
  let timer = null;
  const say = () => {
    timer = null;
    busy('download', total ? `downloading the engine: ${MB(loaded)} of ${MB(total)} MB` : `downloading the engine: ${MB(loaded)} MB so far`);
  };
  const counted = response.body.pipeThrough(new TransformStream({
    transform(chunk, out) {
      loaded += chunk.byteLength;
      timer ??= setTimeout(say, 100);
      out.enqueue(chunk);
    },
    flush() {
      clearTimeout(timer);
      busy('compile', 'compiling the engine…');
    },
  }));
  return new Response(counted, { headers: { 'content-type': 'application/wasm' } });
}

/** What a meta-iteration of the run works on, in a few words: "20-way 1-shot, 8 tasks". */
function describeRun(config) {
  const { task, maml } = config;
  if (task.kind === 'sinusoid') return `${maml.meta_batch} sinusoids, ${task.shots} points each`;
  return `${task.ways}-way ${task.shots}-shot, ${maml.meta_batch} tasks`;
}

/** The WebGPU adapter, or the sentence why there is none. */
async function webgpuAdapter() {
  if (!('gpu' in navigator)) return { problem: 'this browser has no WebGPU (navigator.gpu is missing)' };
  let adapter = null;
  try { adapter = await navigator.gpu.requestAdapter(); } catch (e) { return { problem: `WebGPU refused an adapter (${e.message})` }; }
  if (!adapter) return { problem: 'WebGPU gave no adapter' };
  const info = adapter.info ?? {};
  const name = [info.vendor, info.architecture, info.description || info.device].filter(Boolean).join(' ') || 'unnamed adapter';
  return { name, software: Boolean(info.isFallbackAdapter) };
}

// auto times this many meta-iterations on each backend, after a first one that compiles
const MEASURED_ITERATIONS = 3;

/** What decides a run's speed: its settings but the seed and the rates (auto measures once per shape). */
function workShape(settings) {
  const { seed, inner_lr, meta_lr, grad_clip, test_inner_steps, ...work } = settings;
  return JSON.stringify(work);
}

/** Meta-iterations per second of `lab`'s run, timed after a first meta-iteration (which compiles
 *  WebGPU's kernels); the run is then reset to its start. */
async function speed(lab, json) {
  await lab.step(1);
  const t0 = performance.now();
  const out = JSON.parse(await lab.step(MEASURED_ITERATIONS));
  const rate = (1000 * Math.max(1, out.reports.length)) / (performance.now() - t0);
  lab.reset(json);
  return rate;
}

const itPerS = (rate) => `${rate >= 10 ? Math.round(rate) : rate.toPrecision(2)} it/s`;

/** Picks the backend, always with the reason, so the page can say which runs and why. A chosen
 *  backend is used (WebGPU falling back to the CPU if it cannot start). Auto, with a hardware
 *  WebGPU adapter (or a software one when allowed), times this run on both and keeps the faster;
 *  the figures are kept per work shape, so runs of the same shape do not measure again. */
async function createLab(json, settings, wanted) {
  const cpu = (why, rates = null) => ({ lab: new Lab(json), backend: 'cpu', adapter: null, why, rates });
  if (wanted === 'cpu') return cpu('the CPU was chosen');
  const adapter = await webgpuAdapter();
  if (adapter.problem) return cpu(adapter.problem);
  if (wanted === 'auto' && adapter.software && !state.allowSoftwareWebgpu) {
    return cpu(`the only WebGPU adapter is a software fallback (${adapter.name}), slower than the CPU path; choose WebGPU to use it anyway`);
  }
  const shape = workShape(settings);
  let rates = wanted === 'auto' ? state.measured.get(shape) : null;
  const verdict = (r) => `WebGPU ${itPerS(r.webgpu)}, CPU ${itPerS(r.cpu)}: ${r.webgpu > r.cpu ? 'WebGPU' : 'the CPU'}, measured on this run`;
  if (rates && rates.cpu >= rates.webgpu) return cpu(verdict(rates), rates);
  let lab;
  try {
    lab = await Lab.webgpu(json);
  } catch (e) {
    return cpu(`WebGPU failed to start (${e}); the CPU took over`);
  }
  const gpu = (why) => ({ lab, backend: 'webgpu', adapter: adapter.name, why, rates, slow: adapter.software && wanted === 'webgpu' });
  // chosen explicitly, a software adapter runs, but the page keeps saying that it is slow
  if (wanted === 'webgpu') return gpu(adapter.software ? `WebGPU was chosen, but its adapter is a software fallback (${adapter.name}): much slower than the CPU path` : 'WebGPU was chosen');
  if (rates) return gpu(verdict(rates));
  const other = new Lab(json);
  rates = { webgpu: await speed(lab, json), cpu: await speed(other, json) };
  state.measured.set(shape, rates);
  if (rates.webgpu > rates.cpu) {
    other.free();
    return gpu(verdict(rates));
  }
  lab.free();
  return { lab: other, backend: 'cpu', adapter: null, why: verdict(rates), rates };
}

async function start(msg) {
  state.running = false;
  state.own = null; // the page sends it again for the new run
  state.generation = msg.generation;
  const json = JSON.stringify(msg.settings);
  const shape = workShape(msg.settings);
  // a handle of the backend asked for is reset; auto measures again for another shape of work
  if (state.lab && msg.backend === state.backend && (msg.backend !== 'auto' || shape === state.shape)) {
    state.lab.reset(json); // throws, and keeps the old run, on bad settings
  } else {
    if (msg.backend !== 'cpu') busy('backend', msg.backend === 'auto' ? 'asking the browser for WebGPU, and timing it against the CPU…' : 'asking the browser for WebGPU…');
    const made = await createLab(json, msg.settings, msg.backend);
    state.lab?.free();
    state.lab = made.lab;
    state.backend = msg.backend;
    state.onWebgpu = made.backend === 'webgpu';
    state.shape = shape;
    post('backend', { backend: made.backend, adapter: made.adapter, why: made.why, slow: Boolean(made.slow), rates: made.rates ?? null });
  }
  if (msg.weights) state.lab.import_weights(new Uint8Array(msg.weights)); // a meta-trained start
  // a new run has new shapes: on WebGPU its first meta-test and meta-iteration compile kernels
  Object.assign(state, { config: JSON.parse(state.lab.config()), batch: 1, lastEval: 0, evalEvery: EVAL_EVERY_MS, schedule: msg.schedule ?? [], testDiverged: -1, msPerIteration: null, cold: new Set(state.onWebgpu ? ['evaluate', 'step'] : []) });
  post('ready', { config: state.config, iteration: state.lab.iteration() });
  applyDue();
  await evaluate();
  await view(0);
}

/** Applies the live settings `settings` (the page's JSON) and tells the page, with the
 *  iteration after which they apply. */
function setMaml(settings, about) {
  state.lab.set_maml(JSON.stringify(settings));
  state.config = JSON.parse(state.lab.config());
  post('maml', { config: state.config, iteration: state.lab.iteration(), ...about });
}

/** Applies the schedule's changes due after the meta-iterations done so far. */
function applyDue() {
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
async function stepOnce() {
  const t0 = performance.now();
  const next = state.schedule[0]?.iteration;
  const n = next === undefined ? state.batch : Math.max(1, Math.min(state.batch, next - state.lab.iteration()));
  const first = state.lab.iteration() === 0;
  // a call that may take a while is announced: a run's first (no time per iteration known yet;
  // on WebGPU it compiles the kernels) or one of a slow configuration
  if (first || state.msPerIteration > 1000) {
    const what = `meta-iteration ${state.lab.iteration() + 1}${first ? ' of the new run' : ''}: ${describeRun(state.config)}`;
    busy('step', state.cold.has('step') ? `WebGPU: compiling kernels for ${what}…` : `running ${what}…`, first ? null : n * state.msPerIteration);
  }
  const before = { ...gpuCounts };
  const out = JSON.parse(await state.lab.step(n));
  const ms = performance.now() - t0;
  busy(null);
  state.cold.delete('step');
  const gpu = state.onWebgpu ? { ...countsSince(before), pipelinesTotal: gpuCounts.pipelines } : null;
  if (out.reports.length) post('reports', { reports: out.reports, msPerIteration: ms / out.reports.length, wasmBytes: state.memory.buffer.byteLength, gpu });
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

// Lets the page's messages (pause, settings) in between batches. A message to ourselves rather
// than setTimeout(0), which browsers clamp to 4 ms once timers nest: 4 % of a 100 ms batch.
const yieldChannel = new MessageChannel();
const yielded = [];
yieldChannel.port1.onmessage = () => yielded.shift()?.();
const yieldToMessages = () => new Promise((resolve) => {
  yielded.push(resolve);
  yieldChannel.port2.postMessage(null);
});

/** One batch of training loop `loop`, a meta-test when one is due, then the next batch queued
 *  behind whatever the page sent meanwhile. */
async function train(loop) {
  if (!state.running || loop !== state.loop) return;
  if (!(await stepOnce())) return;
  if (performance.now() - state.lastEval > state.evalEvery) {
    await evaluate();
    await view(state.viewIndex);
  }
  if (state.own && performance.now() - state.lastAdapt > ADAPT_EVERY_MS) await adaptOwn();
  await yieldToMessages();
  enqueue('play', () => train(loop));
}

/** One meta-test call, announced to the page with what it does, which of `calls` it is, and
 *  how long the last one of this run and settings took. */
async function metaTest(randomInit, call, calls) {
  const tasks = `${state.evalTasks} held-out tasks`;
  const start = randomInit ? 'a random start, the baseline' : 'the meta-learned start';
  const of = calls > 1 ? ` (${call} of ${calls})` : '';
  const meta = `meta-testing ${tasks} from ${start}${of}…`;
  const text = state.cold.has('evaluate') ? `WebGPU: compiling kernels for the meta-test, then ${meta}` : meta;
  const { inner_lr, test_inner_steps } = state.config.maml;
  const key = JSON.stringify([state.generation, inner_lr, test_inner_steps, state.evalTasks]);
  // the estimate: the last call of this kind, else of the other (a random start costs what the learned one does)
  const past = [state.evalMs[randomInit], state.evalMs[!randomInit]].find((p) => p.key === key);
  busy('evaluate', text, past?.ms ?? null);
  const t0 = performance.now();
  const report = JSON.parse(await state.lab.evaluate(state.evalTasks, randomInit));
  busy(null);
  state.cold.delete('evaluate');
  state.evalMs[randomInit] = { key, ms: performance.now() - t0 };
  return report;
}

async function evaluate() {
  const t0 = performance.now();
  const { inner_lr, test_inner_steps } = state.config.maml;
  const key = JSON.stringify([state.generation, inner_lr, test_inner_steps, state.evalTasks]);
  const baseline = state.randomInit.key !== key;
  const maml = await metaTest(false, 1, baseline ? 2 : 1);
  if (baseline) {
    state.randomInit = { key, report: await metaTest(true, 2, 2) };
  }
  state.lastEval = performance.now();
  state.evalEvery = Math.max(EVAL_EVERY_MS, 10 * (state.lastEval - t0));
  const iteration = state.lab.iteration();
  post('evaluation', { iteration, maml, random: state.randomInit.report });
  // adapting with too large an α overflows: a divergence like training's, the charts drawing what is finite
  const blown = firstNonFinite(evaluationLosses(maml));
  if (blown >= 0) {
    state.testDiverged = iteration;
    diverge('meta-test', adaptationDiverged('meta-test', state.config.maml, blown, iteration));
  }
  // read with the meta-test rather than every batch: the rates move slowly, and a read waits on the device
  post('rates', { iteration: state.lab.iteration(), rates: JSON.parse(await state.lab.learned_rates()) });
}

async function view(index) {
  state.viewIndex = index;
  busy('view', 'adapting the sampled task step by step…');
  const v = JSON.parse(await state.lab.view(index));
  busy(null);
  const iteration = state.lab.iteration();
  post('view', { index, view: v, iteration });
  const blown = firstNonFinite(viewLosses(v));
  // after a meta-test that overflowed at this iteration, its sentence says it already
  if (blown >= 0 && state.testDiverged !== iteration) {
    diverge('view', adaptationDiverged("sampled task's adaptation", state.config.maml, blown, iteration));
  }
}

/** Adapts the person's own task with the current weights; a task that does not fit throws its
 *  sentence (checked when it comes, so only a new one can). */
async function adaptOwn() {
  const { id, task } = state.own;
  const result = JSON.parse(await state.lab.adapt_task(task.support_x, task.support_y, task.query_x));
  state.lastAdapt = performance.now();
  post('adapted', { id, result, alpha: state.config.maml.inner_lr, training: state.running });
}

const handlers = {
  async init(msg) {
    state.memory = (await init({ module_or_path: fetchWasm() })).memory;
    busy(null);
    state.evalTasks = msg.evalTasks;
    state.allowSoftwareWebgpu = Boolean(msg.allowSoftwareWebgpu);
    post('loaded', { table: JSON.parse(Lab.settings_table()) });
  },
  start,
  pause() {
    state.running = false;
  },
  play() {
    if (state.running) return;
    state.running = true;
    state.loop += 1;
    return train(state.loop);
  },
  async step() {
    state.running = false;
    state.batch = 1;
    if (await stepOnce()) await evaluate();
    await view(state.viewIndex);
    if (state.own) await adaptOwn();
  },
  maml(msg) {
    // the person takes over: the rest of a replay's schedule no longer describes this run
    const dropped = state.schedule.length;
    setMaml(msg.settings, { changed: msg.changed ?? {}, dropped });
    state.schedule = [];
    // a new α or number of steps shows on the person's task at once, unless training will soon
    if (state.own && !state.running) return adaptOwn();
  },
  async adapt(msg) {
    state.own = null;
    if (!msg.task) return;
    const own = { id: msg.id, task: msg.task };
    state.own = own;
    try {
      await adaptOwn();
    } catch (e) {
      if (state.own === own) state.own = null; // refused: the weights moving will not mend it
      throw e;
    }
  },
  sample(msg) {
    post('sample', { index: msg.index, sample: JSON.parse(state.lab.sample_task(msg.index)) });
  },
  view(msg) {
    return view(msg.index);
  },
  loadZip(msg) {
    const summary = JSON.parse(state.lab.load_zip(new Uint8Array(msg.bytes)));
    post('zip', { name: msg.name, ...summary });
  },
  async exportWeights(msg) {
    const bytes = await state.lab.export_weights();
    post('weights', { bytes, purpose: msg.purpose, iteration: state.lab.iteration() }, [bytes.buffer]);
  },
  async importWeights(msg) {
    state.lab.import_weights(new Uint8Array(msg.bytes));
    post('imported', { name: msg.name, iteration: state.lab.iteration() });
    await evaluate();
    await view(state.viewIndex);
    if (state.own) await adaptOwn();
  },
};

// One queue for every request and every training batch. The handle's async methods borrow it
// (step mutably) until they resolve, and wasm-bindgen throws if another call comes in meanwhile,
// so no two may overlap; the queue also keeps requests in the order sent (an import posted right
// after a start waits for it). The training loop is a chain of jobs in it, each queueing the next
// after yielding, so a slider or New task waits for one batch at most.
let queue = Promise.resolve();
function enqueue(request, job) {
  queue = queue.then(async () => {
    const stopWatching = watchCompiling();
    try {
      await job();
    } finally {
      stopWatching();
    }
  }).catch((e) => failed(request, e));
}

/** While a request runs, says each second how WebGPU's kernel compilation goes when it creates
 *  pipelines: the first meta-test and meta-iteration of a shape compile theirs, seconds on a slow
 *  adapter, and the status line counts them rather than showing a frozen sentence. Pipelines stay
 *  with the device, so a later run of the same shape creates none. (The timer ticks while the
 *  wasm awaits the GPU.) */
function watchCompiling() {
  const before = gpuCounts.pipelines;
  const timer = setInterval(() => {
    const kernels = gpuCounts.pipelines - before;
    if (!kernels) return;
    const now = state.activity ?? { key: 'kernels', text: 'WebGPU: compiling kernels…', estimateMs: null };
    const text = now.text.replace(/( \(\d+ kernels so far\))?…$/, '');
    busy(now.key, `${text} (${kernels} kernels so far)…`, now.estimateMs);
  }, 1000);
  return () => {
    clearInterval(timer);
    if (state.activity?.key === 'kernels') busy(null);
  };
}

function failed(request, e) {
  const message = String(e?.message ?? e);
  busy(null); // whatever it was doing is over
  if (e instanceof WebAssembly.RuntimeError) {
    // a panic inside the wasm (a lost GPU device, an out-of-memory): this instance is done
    state.running = false;
    post('fatal', { request, message });
    return;
  }
  // a failed call leaves the run as it was; the page shows the sentence
  post('error', { request, message });
}

onmessage = ({ data: msg }) => {
  // a pause acts at once, so the batch in flight is the last; and again in turn, after any play
  // sent before it and still queued
  if (msg.type === 'pause') state.running = false;
  enqueue(msg.type, () => handlers[msg.type](msg));
};
