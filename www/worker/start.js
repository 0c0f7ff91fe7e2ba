// A run's start: the handle reset, or a new one when another backend is asked for (auto measures
// again for another shape of work), from a meta-trained start's weights when given, then its
// first meta-test and display task; or a crashed worker's run from its checkpoint.
import { workShape } from '../run.js';
import { createLab } from './backend.js';
import { EVAL_EVERY_MS, PATH_EVERY, busy, post, state } from './context.js';
import { applyDue, evaluate, view } from './loop.js';
import { decide } from './shares.js';

/** A new handle for `settings` on `backend` (auto measures this shape of work), said to the page. */
async function makeLab(settings, backend, shape) {
  if (backend !== 'cpu') busy('backend', backend === 'auto' ? 'asking the browser for WebGPU, and timing it against the CPU…' : 'asking the browser for WebGPU…');
  const made = await createLab(JSON.stringify(settings), settings, backend);
  state.lab?.free();
  Object.assign(state, { lab: made.lab, backend, onWebgpu: made.backend === 'webgpu', shape });
  post('backend', { backend: made.backend, adapter: made.adapter, why: made.why, slow: Boolean(made.slow), rates: made.rates ?? null });
}

/** `made()`: called once the run's handle is made, before anything else can fail. */
export async function start(msg, made = () => {}) {
  state.running = false;
  state.own = null; // the page sends it again for the new run
  state.landscape = null; // of the previous run
  state.generation = msg.generation;
  if (msg.threads !== undefined) state.threads = msg.threads;
  const json = JSON.stringify(msg.settings);
  const shape = workShape(msg.settings);
  if (msg.zip) {
    // a restarted worker's omniglot run: a handle made on glyphs (an omniglot one needs the zip),
    // the zip, then the run on that handle
    if (!state.lab) await makeLab({ ...msg.settings, task: 'glyphs' }, msg.backend, shape);
    const summary = JSON.parse(state.lab.load_zip(new Uint8Array(msg.zip)));
    post('zip', { name: msg.zipName, restore: true, ...summary });
  }
  if (state.lab && msg.backend === state.backend && (msg.backend !== 'auto' || shape === state.shape)) {
    state.lab.reset(json); // throws, and keeps the old run, on bad settings
  } else {
    await makeLab(msg.settings, msg.backend, shape);
  }
  made();
  if (msg.weights) state.lab.import_weights(new Uint8Array(msg.weights)); // a meta-trained start
  if (msg.checkpoint) state.lab.resume_checkpoint(new Uint8Array(msg.checkpoint)); // a crashed worker's run, where it was
  state.lab.set_path_every(PATH_EVERY); // the landscape draws the path from here on
  // a new run has new shapes: on WebGPU its first meta-test and meta-iteration compile kernels
  Object.assign(state, { config: JSON.parse(state.lab.config()), batch: 1, lastEval: 0, evalEvery: EVAL_EVERY_MS, schedule: msg.schedule ?? [], testDiverged: -1, msPerIteration: null, cold: new Set(state.onWebgpu ? ['evaluate', 'step'] : []), compared: -1, compareMs: null });
  decide();
  post('ready', { config: state.config, iteration: state.lab.iteration() });
  applyDue();
  await evaluate();
  await view(0);
}
