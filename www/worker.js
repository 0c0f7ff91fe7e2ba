// The worker owns the wasm and the training loop; the page only draws what it posts.
// Every message out carries the run's generation, so the page drops reports of a run it reset.
import init, { Lab } from './pkg/maml_lab.js';

let lab = null;
let wasm = null; // the instance's exports: its memory size is reported, so a leak would show
let generation = 0;
let running = false;
let batch = 1; // meta-iterations per call, tuned so one call takes ~100 ms
let settings = null;
let backendWanted = 'auto';
let evalTasks = 24; // meta-test tasks per evaluation (`?eval_tasks=N` on the page's URL)
// meta-test at least every 4 s, but never spending more than a tenth of the time on it
const EVAL_EVERY_MS = 4000;
let evalEvery = EVAL_EVERY_MS;
let lastEval = 0;
// the random-init baseline depends only on the run, α and the test steps: computed once for them
let randomInit = { key: null, report: null };

const post = (type, payload = {}, transfer = []) => postMessage({ type, generation, ...payload }, transfer);

// The handle's methods borrow it mutably across awaits: run them one at a time.
let queue = Promise.resolve();
function exclusive(fn) {
  const next = queue.then(fn);
  queue = next.catch(() => {});
  return next;
}

/** Picks the backend: WebGPU when asked for (or on auto with a hardware adapter), else the CPU,
 *  always with the reason, so the page can say which backend runs and why. */
async function createLab(json) {
  const cpu = (why) => ({ lab: new Lab(json), backend: 'cpu', adapter: null, why });
  if (backendWanted === 'cpu') return cpu('the CPU was chosen');
  if (!('gpu' in navigator)) return cpu('this browser has no WebGPU (navigator.gpu is missing)');
  let adapter = null;
  try { adapter = await navigator.gpu.requestAdapter(); } catch (e) { return cpu(`WebGPU refused an adapter (${e.message})`); }
  if (!adapter) return cpu('WebGPU gave no adapter');
  const info = adapter.info ?? {};
  const name = [info.vendor, info.architecture, info.description || info.device].filter(Boolean).join(' ') || 'unnamed adapter';
  if (backendWanted === 'auto' && info.isFallbackAdapter) {
    return cpu(`the only WebGPU adapter is a software fallback (${name}), slower than the CPU path; choose WebGPU to use it anyway`);
  }
  try {
    return { lab: await Lab.webgpu(json), backend: 'webgpu', adapter: name, why: backendWanted === 'webgpu' ? 'WebGPU was chosen' : 'WebGPU is available' };
  } catch (e) {
    return cpu(`WebGPU failed to start (${e}); the CPU took over`);
  }
}

async function start(msg) {
  running = false;
  generation = msg.generation;
  settings = msg.settings;
  backendWanted = msg.backend ?? backendWanted;
  evalTasks = msg.evalTasks ?? evalTasks;
  const json = JSON.stringify(settings);
  const t0 = performance.now();
  if (lab && msg.keepBackend) {
    await exclusive(() => lab.reset(json)); // throws, and keeps the old run, on bad settings
  } else {
    const made = await createLab(json);
    // swap once the old run's call in flight, if any, has returned
    await exclusive(() => {
      lab?.free();
      lab = made.lab;
    });
    post('backend', { backend: made.backend, adapter: made.adapter, why: made.why });
  }
  batch = 1;
  lastEval = 0;
  evalEvery = EVAL_EVERY_MS;
  post('ready', { config: JSON.parse(lab.config()), ms: performance.now() - t0 });
  await evaluate();
  await view(0);
}

async function stepOnce() {
  const t0 = performance.now();
  const out = JSON.parse(await exclusive(() => lab.step(batch)));
  const ms = performance.now() - t0;
  if (out.reports.length) post('reports', { reports: out.reports, msPerIteration: ms / out.reports.length, wasmBytes: wasm.memory.buffer.byteLength });
  if (out.error) {
    running = false;
    post('diverged', { message: out.error });
    return false;
  }
  // aim for ~100 ms per call: responsive to pause and sliders, few messages
  const per = ms / Math.max(1, out.reports.length);
  batch = Math.max(1, Math.min(50, Math.round(100 / Math.max(per, 0.1))));
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

async function loop(gen) {
  while (running && gen === generation) {
    if (!(await stepOnce())) break;
    if (performance.now() - lastEval > evalEvery) {
      await evaluate();
      await view(viewIndex);
    }
    await yieldToMessages();
  }
}

async function evaluate() {
  const t0 = performance.now();
  const steps = settings.test_inner_steps;
  const maml = JSON.parse(await exclusive(() => lab.evaluate(evalTasks, steps, false)));
  const key = JSON.stringify([generation, settings.inner_lr, steps, evalTasks]);
  if (randomInit.key !== key) {
    randomInit = { key, report: JSON.parse(await exclusive(() => lab.evaluate(evalTasks, steps, true))) };
  }
  lastEval = performance.now();
  evalEvery = Math.max(EVAL_EVERY_MS, 10 * (lastEval - t0));
  post('evaluation', { iteration: lab.iteration(), maml, random: randomInit.report });
}

let viewIndex = 0;
async function view(index) {
  viewIndex = index;
  const v = JSON.parse(await exclusive(() => lab.view(index, settings.test_inner_steps)));
  post('view', { index, view: v, iteration: lab.iteration() });
}

const handlers = {
  async init(msg) {
    wasm = await init();
    post('loaded');
    await start(msg);
  },
  start,
  play() {
    if (running) return;
    running = true;
    loop(generation);
  },
  pause() {
    running = false;
  },
  async step() {
    running = false;
    batch = 1;
    if (await stepOnce()) await evaluate();
    await view(viewIndex);
  },
  async maml(msg) {
    settings = msg.settings;
    await exclusive(() => lab.set_maml(JSON.stringify(settings)));
    post('maml', { config: JSON.parse(lab.config()) });
  },
  async view(msg) {
    await view(msg.index ?? viewIndex);
  },
  async evaluate() {
    await evaluate();
  },
  async loadZip(msg) {
    const summary = JSON.parse(await exclusive(() => lab.load_zip(new Uint8Array(msg.bytes))));
    post('zip', { name: msg.name, ...summary });
  },
  async exportWeights(msg) {
    const bytes = await exclusive(() => lab.export_weights());
    post('weights', { bytes, purpose: msg.purpose }, [bytes.buffer]);
  },
  async importWeights(msg) {
    await exclusive(() => lab.import_weights(new Uint8Array(msg.bytes)));
    post('imported', { name: msg.name, iteration: lab.iteration() });
    await evaluate();
    await view(viewIndex);
  },
};

async function dispatch(msg) {
  try {
    await handlers[msg.type](msg);
  } catch (e) {
    if (e instanceof WebAssembly.RuntimeError) {
      // a panic inside the wasm (a lost GPU device, an out-of-memory): this instance is done
      running = false;
      post('fatal', { request: msg.type, message: String(e.message ?? e) });
      return;
    }
    // a failed call leaves the run as it was; the page shows the sentence
    post('error', { request: msg.type, message: String(e?.message ?? e) });
  }
}

// Requests are handled in order (an import right after an init waits for it); pause acts at once.
let inbox = Promise.resolve();
onmessage = ({ data: msg }) => {
  if (msg.type === 'pause') {
    running = false;
    return;
  }
  inbox = inbox.then(() => dispatch(msg));
};
