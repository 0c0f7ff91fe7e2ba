// What the worker's files share: the state of the run the worker holds, and its two ways of
// speaking to the page (a message; what it is busy with).

// meta-test at least this often, but never spending more than a tenth of the time on it
export const EVAL_EVERY_MS = 4000;

/** Everything the worker holds. */
export const state = {
  lab: null, // the wasm handle of the current run
  backend: null, // the backend `lab` was made for ('auto', 'webgpu' or 'cpu'): another needs a new handle
  memory: null, // the wasm instance's memory: its size goes out with the reports, so a leak would show
  evalTasks: 24, // meta-test tasks per evaluation (`?eval_tasks=N` on the page's URL)
  minCallMs: 0, // test-only: each training, meta-test and landscape-row call lasts at least this long (`?min_call_ms=N`; navigation: its training calls)
  generation: 0, // the page's number for the current run
  config: null, // the run's full TrainerConfig, read from the handle after every change
  running: false, // Play is on
  loop: 0, // the number of the latest training loop: Play starts a new one, retiring any older one
  batch: 1, // meta-iterations per training call, tuned to BATCH_MS
  lastEval: 0, // when the last meta-test ended
  evalEvery: EVAL_EVERY_MS, // how long to train between meta-tests
  randomInit: { key: null, report: null }, // the random-start baseline: kept while what it depends on stays (run.js, baselineKey)
  neighbours: { key: null, report: null }, // the nearest-neighbour classifiers on the same tasks ({pixel, hausdorff}, or null for the sinusoid), kept alike
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
  allowSoftwareWebgpu: false, // auto may measure a software WebGPU adapter (`?allow_software_webgpu=1`, for tests)
  gpu: null, // the WebGPU call counters (gpu-counts.js): pipelines always, every call with `?gpu_counts=1`
  activity: null, // {key, text, estimateMs}: what the page was last told the worker is busy with
  cold: new Set(), // the calls ('evaluate', 'step') a WebGPU run has not made yet: its first of each compiles kernels
  compareEvery: 'auto', // compare the exact meta-gradient with the first-order one before every this many meta-iterations (0: never; auto: loop.js, compareInterval)
  compareMs: null, // how long the last comparison took: auto's interval keeps comparisons to a twentieth of the time
  compared: -1, // the iteration last compared at, so a retried batch does not compare twice
  landscape: null, // the landscape being drawn: {id, size, row, t0}, or null (none, or cancelled)
  walkOn: false, // the one-step panel is open: each display task's adaptation also walks its inner step
  threads: 'auto', // the workers asked for: a number, or auto (shares.js, asked)
  workers: 1, // the workers the run uses, this one included (shares.js, decide)
};

/** θ is kept this often for the landscape's path (the trainer thins it as the run grows). */
export const PATH_EVERY = 10;

/** A message to the page, tagged with the run it belongs to. */
export const post = (type, payload = {}, transfer = []) => postMessage({ type, generation: state.generation, ...payload }, transfer);

/** Tells the page what starts now (it shows it if it lasts), or with key null that it is done. */
export const busy = (key, text = null, estimateMs = null) => {
  state.activity = key === null ? null : { key, text, estimateMs };
  post('activity', { key, text, estimateMs });
};

/** Test-only: waits until `minCallMs` have passed since `t0`, so a test of the status line sees
 *  a slow call however fast the machine (0 on the page: no wait). */
export const lastAtLeast = (t0) => {
  const left = state.minCallMs - (performance.now() - t0);
  return left > 0 ? new Promise((resolve) => setTimeout(resolve, left)) : null;
};
