// The worker's messages: it owns the wasm handle and the training loop; the page only draws what
// it posts. Its jobs, one file each, are under worker/: the engine's download (engine.js), the
// backend's choice (backend.js), a run's start (start.js), the run loop (loop.js), and the
// opt-in count of WebGPU calls (gpu-counts.js); what they share is in context.js.
//
// Every message, in both directions. The page's requests are handled one at a time, in the
// order sent (see the queue below); every message out carries the generation of the run it
// belongs to, so the page drops reports of a run it has since replaced.
//
//   page -> worker   payload                          what it asks
//   init             {evalTasks, allowSoftwareWebgpu, load the wasm; meta-test on evalTasks tasks;
//                     gpuCounts, minCallMs}           let auto measure a software WebGPU adapter too;
//                                                     count every WebGPU call (worker/gpu-counts.js);
//                                                     test-only: each training or meta-test call
//                                                     lasts at least minCallMs
//   start            {generation, settings, backend,  a new run: the handle reset, or a new one
//                     threads,
//                     schedule,                       when another backend is asked for; schedule:
//                     weights?, checkpoint?}          live settings to apply after given meta-
//                                                     iterations, [{iteration, settings}] (a link's
//                                                     replay), each exactly there (loop.js, stepOnce);
//                                                     from `weights` (a weights file) when given, then
//                                                     from `checkpoint` (a crashed worker's run, resumed,
//                                                     with `zip` {bytes} and `zipName` for an omniglot run)
//   play             {}                               train in batches until paused
//   pause            {}                               stop after the batch in flight
//   step             {}                               one meta-iteration, a meta-test, the view
//   maml             {settings, changed}              the live settings, from the next iteration;
//                                                     changed: the values that differ, echoed back;
//                                                     drops what is left of the schedule
//   view             {index}                          adapt the index-th display task
//   loadZip          {bytes, name, restore}           an Omniglot zip, for omniglot runs (restore: a
//                                                     restarted worker's, read again by the page)
//   exportWeights    {}                               the weights, to download
//   checkpoint       {}                               the run's checkpoint: weights, Adam's moments and
//                                                     the task stream, all a resumed run needs
//   importWeights    {bytes, name}                    weights into the current run
//   adapt            {id, task}                       a person's own task (views/draw.js), {support_x,
//                                                     support_y, query_x} as Float32Arrays, adapted now
//                                                     and again as the weights move; null forgets it
//   sample           {index}                          a sampled meta-test task's exact inputs, to draw from
//   settle           {}                               nothing: answered once every request before it is done
//   compareEvery     {every}                          compare the exact and first-order meta-gradients before
//                                                     every `every`-th meta-iteration (0: never; 'auto': as
//                                                     often as costs a twentieth of the time, loop.js)
//   landscape        {id, options}                    draw the meta-objective around θ (maml::landscape):
//                                                     options {directions, size, fit, zoom, seed}
//   cancelLandscape  {}                               no further row of the landscape
//   walk             {on}                             walk MAML's one inner step on each display task (and now)
//   threads          {threads}                        the workers to share each meta-iteration among: a
//                                                     number or 'auto' (worker/shares.js), from the next one
//   stopShare        {index}                          test-only: that share worker stops without a word on
//                                                     its next meta-iteration's work, as a killed process does
//   goal             {x, y}                           navigation: a goal of the person's, adapted to now and
//                                                     again as the weights move (worker/navigation.js)
//   (a navigation run takes start, play, pause, step, maml, exportWeights, importWeights and
//   settle; the supervised requests do nothing while it runs)
//
//   worker -> page   payload                          what it says
//   activity         {key, text, estimateMs}          what the worker starts that may take a while
//                                                     (the download, a first meta-iteration, a
//                                                     meta-test), or key null: it is done
//   loaded           {table, module}                  the wasm is loaded: its settings table, and its
//                                                     compiled module (the page's glyph renderer)
//   backend          {backend, adapter, why, slow,    a new handle: which backend, and why (slow: a
//                     rates}                          software WebGPU adapter, chosen explicitly;
//                                                     rates: auto's measured it/s {webgpu, cpu}, or null)
//   ready            {config, iteration}              the run is set up: its full TrainerConfig
//   reports          {reports, msPerIteration, wasmBytes, gpu}  meta-iterations done; gpu: the
//                     sharing}                        WebGPU calls they made (with gpuCounts), or null;
//                                                     wasmBytes: every worker's memory; sharing: the time
//                                                     a shared meta-iteration's phases have taken, summed
//                                                     (worker/shares.js, sharedStep; bench-page.mjs --threads)
//   evaluation       {iteration, maml, random,        a meta-test: MAML's start and a random one, and the
//                     neighbours}                     nearest neighbours by pixels and by ink on its tasks
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
//   zip              {name, restore, characters,      the zip was read
//                     images}
//   alive            {lock}                           sent first: the Web Lock this worker holds for its
//                                                     life, so the page notices even a silent stop
//   weights          {bytes, iteration}               the exported weights, trained `iteration` meta-iterations
//   checkpoint       {bytes, iteration}               the run's checkpoint after `iteration` meta-iterations
//   imported         {name, iteration}                the weights were loaded
//   adapted          {id, result, alpha, training}    the person's task adapted: per inner step, the query
//                                                     class probabilities (the sinusoid: the curve) from
//                                                     the meta-learned and from a random start
//   sample           {index, sample}                  the sampled task: {shape, ways, support_x, ...}
//   settled          {}                               every request sent before `settle` is done
//   gradients        {iteration, comparison,          before meta-iteration `iteration`, on its meta-batch:
//                     every, auto}                    {exact_norm, first_order: {cosine, norm_ratio}, reptile};
//                                                     the interval in force, and whether auto chose it
//   landscape        {id, summary, iteration}         the landscape's plane: axis, arrows, path, value at θ
//   landscapeRow     {id, row, values}                one row of its grid (b = axis[row])
//   landscapeDone    {id, ms}                         its last row came
//   walk             {index, iteration, walk}         MAML's one inner step on the index-th display task
//   workers          {workers, asked, units, threads,  how many workers share each meta-iteration, of the
//                     why}                            asked, and why (the run's units, its memory, WebGPU)
//   shareLost        {problem, when, here, lost}      a share worker ended; its part (units of a meta-iteration,
//                                                     tasks of a meta-test) was done here (here false: is
//                                                     left to the fresh one), and it is replaced
//   error            {request, message}               a request failed and changed nothing (a refused
//                                                     start leaves the previous run, if any, paused)
//   navReports       {reports, msPerIteration}        navigation's meta-iterations: {iteration,
//                                                     return_before, return_after, grad_norm} each
//   navEvaluation    {iteration, goals, steps,         navigation's meta-test on held-out goals: the
//                     maml, random}                   return after 0..steps inner steps, {mean, ci} each
//   arena            {goal, asked, clamped, iteration, the person's goal (clamped to the square, asked:
//                     alpha, maml, random}            as clicked): per step {paths, return} per start
//   fatal            {request, message}               the wasm panicked: this worker is done (a trap
//                                                     outside a request reaches the page as the
//                                                     worker's error event instead: the same end)
import { Lab } from './pkg/maml_lab.js';
import { countGpuCalls } from './worker/gpu-counts.js';
import { busy, post, state } from './worker/context.js';
import { loadEngine } from './worker/engine.js';
import { start } from './worker/start.js';
import { adaptOwn, evaluate, landscape, setMaml, stepOnce, train, view, walk } from './worker/loop.js';
import { decide, pool, stopShare } from './worker/shares.js';
import { count } from './words.js';
import { leaveNavigation, navHandlers, onNavigation, startNavigation } from './worker/navigation.js';

// The page must notice this worker stopping, even without an error (terminated, its process
// killed): it holds this lock for its life, and the page asks for it (messages.js, watch).
// (Web Locks need a secure context, as does randomUUID: elsewhere the page watches for silence.)
if (self.isSecureContext && navigator.locks) {
  const lock = `maml-lab-worker-${crypto.randomUUID()}`;
  navigator.locks.request(lock, () => {
    postMessage({ type: 'alive', lock });
    return new Promise(() => {}); // held until the worker is gone
  });
}

const handlers = {
  async init(msg) {
    // kernels compiled are always counted, for the status line (watchCompiling); every other call only when asked
    state.gpu = countGpuCalls(self, msg.gpuCounts ? undefined : ['pipelines']);
    const module = await loadEngine();
    pool.module = module; // the share workers start from it (worker/shares.js)
    Object.assign(state, { evalTasks: msg.evalTasks, allowSoftwareWebgpu: Boolean(msg.allowSoftwareWebgpu), minCallMs: msg.minCallMs ?? 0 });
    post('loaded', { table: JSON.parse(Lab.settings_table()), module });
  },
  start(msg) {
    if (msg.settings.task === 'navigation') return startNavigation(msg);
    // a navigation run held ends once the new run is made (a refused one throws first: it goes on)
    return start(msg, leaveNavigation);
  },
  pause() {
    state.running = false;
  },
  play() {
    if (state.running) return;
    state.running = true;
    state.loop += 1;
    return train(state.loop, enqueue);
  },
  async step() {
    state.running = false;
    state.batch = 1;
    if (await stepOnce()) await evaluate();
    await view(state.viewIndex);
    if (state.own) await adaptOwn();
  },
  async maml(msg) {
    // the person takes over: the rest of a replay's schedule no longer describes this run
    const dropped = state.schedule.length;
    setMaml(msg.settings, { changed: msg.changed ?? {}, dropped });
    state.schedule = [];
    // a new live setting shows on the person's task and in the walk at once, unless training will soon
    if (state.running) return;
    if (state.walkOn) await walk(state.viewIndex);
    if (state.own) await adaptOwn();
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
    post('zip', { name: msg.name, restore: Boolean(msg.restore), ...summary });
  },
  async exportWeights() {
    const bytes = await state.lab.export_weights();
    post('weights', { bytes, iteration: state.lab.iteration() }, [bytes.buffer]);
  },
  async checkpoint() {
    if (!state.lab) return;
    const bytes = await state.lab.export_checkpoint();
    post('checkpoint', { bytes, iteration: state.lab.iteration() }, [bytes.buffer]);
  },
  async importWeights(msg) {
    state.lab.import_weights(new Uint8Array(msg.bytes));
    post('imported', { name: msg.name, iteration: state.lab.iteration() });
    await evaluate();
    await view(state.viewIndex);
    if (state.own) await adaptOwn();
  },
  settle() {
    post('settled');
  },
  compareEvery(msg) {
    state.compareEvery = msg.every === 'auto' ? 'auto' : Number(msg.every);
  },
  landscape(msg) {
    return landscape(msg, enqueue);
  },
  cancelLandscape() {
    state.landscape = null; // (already, when the message came: the row in flight is the last)
  },
  walk(msg) {
    state.walkOn = msg.on;
    if (msg.on && state.lab) return walk(state.viewIndex);
  },
  threads(msg) {
    // in turn, between two meta-iterations: the next one is shared the new way
    state.threads = msg.threads;
    if (state.lab) decide();
  },
  stopShare(msg) {
    stopShare(msg.index);
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
  const before = state.gpu?.counts.pipelines ?? 0;
  const timer = setInterval(() => {
    const kernels = (state.gpu?.counts.pipelines ?? 0) - before;
    if (!kernels) return;
    const now = state.activity ?? { key: 'kernels', text: 'WebGPU: compiling kernels…', estimateMs: null };
    const text = now.text.replace(/( \(\d+ kernels so far\))?…$/, '');
    busy(now.key, `${text} (${count(kernels, 'kernel')} so far)…`, now.estimateMs);
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
  // so does Cancel: no other row of the landscape starts
  if (msg.type === 'cancelLandscape') state.landscape = null;
  enqueue(msg.type, () => route(msg));
};

// Requests the page sends alike for every run and that do the same for a navigation run.
const EITHER = new Set(['init', 'start', 'pause', 'settle']);

/** A request to its handler: a navigation run's own (worker/navigation.js), where it holds one;
 *  a supervised request has nothing to act on there and does nothing. */
function route(msg) {
  if (!onNavigation() || EITHER.has(msg.type)) return handlers[msg.type](msg);
  return navHandlers[msg.type]?.(msg, enqueue);
}
