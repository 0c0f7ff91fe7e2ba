// A share worker: one of the page's other workers, started by the training worker (worker.js,
// worker/shares.js) to compute units of its meta-iterations. It keeps nothing of the run between
// meta-iterations: each request brings the run's weights file and the units' tasks (or follows
// the tasks sent ahead for it), and it answers their sums (src/web/share.rs), so a replacement is
// a fresh one and no two workers hold different weights.
//
//   training worker -> share   payload                      what it asks
//   init                       {module}                     start the wasm from the training
//                                                           worker's compiled module
//   work                       {id, weights, units}         the sums of these units (ArrayBuffers);
//                                                           without units, of the ones sent ahead
//   tasks                      {units}                      the next meta-iteration's units, sent
//                                                           ahead of its weights: decoded and kept
//   curves                     {id, weights, tasks}         these meta-test tasks adapted from these weights
//   stop                       {}                           test-only: stop without a word on the next
//                                                           work (not a meta-test's curves), as a
//                                                           killed process does
//
//   share -> training worker   payload                      what it says
//   alive                      {lock}                       the Web Lock it holds for its life, so
//                                                           its end is noticed however it comes
//   ready                      {}                           the wasm is up
//   sums                       {id, bytes, ms, at,          the units' sums, the time they took and
//                               wasmBytes}                  when (epoch ms: begun, done); its memory
//   curves                     {id, json, wasmBytes}        the tasks' curves, as JSON
//   failed                     {id, message, fatal}         the request failed (fatal: a wasm trap,
//                                                           this worker is done)
import init, { Share } from './pkg/maml_lab.js';

let share = null;
let memory = null;
let stopping = false;

if (self.isSecureContext && navigator.locks) {
  const lock = `maml-lab-share-${crypto.randomUUID()}`;
  navigator.locks.request(lock, () => {
    postMessage({ type: 'alive', lock });
    return new Promise(() => {}); // held until the worker is gone
  });
}

onmessage = async ({ data: msg }) => {
  if (msg.type === 'init') {
    try {
      memory = (await init({ module_or_path: msg.module })).memory;
      share = new Share();
      postMessage({ type: 'ready' });
    } catch (e) {
      // (a promise's failure is no error event for the training worker: it is told)
      postMessage({ type: 'failed', id: null, message: `could not start its engine (${e?.message ?? e})`, fatal: true });
    }
  } else if (msg.type === 'stop') {
    stopping = true;
  } else if (msg.type === 'curves') {
    try {
      const json = share.curves(new Uint8Array(msg.weights), new Uint8Array(msg.tasks));
      postMessage({ type: 'curves', id: msg.id, json, wasmBytes: memory.buffer.byteLength });
    } catch (e) {
      postMessage({ type: 'failed', id: msg.id, message: String(e?.message ?? e), fatal: e instanceof WebAssembly.RuntimeError });
    }
  } else if (msg.type === 'tasks') {
    // tasks that cannot be read leave none kept: the work that would have used them fails, and
    // is done elsewhere; a trap ends this worker
    try {
      share.keep(new Uint8Array(msg.units));
    } catch (e) {
      if (e instanceof WebAssembly.RuntimeError) postMessage({ type: 'failed', id: null, message: String(e?.message ?? e), fatal: true });
    }
  } else if (msg.type === 'work') {
    if (stopping) return close();
    const t0 = performance.now();
    try {
      const weights = new Uint8Array(msg.weights);
      const bytes = msg.units ? share.sums(weights, new Uint8Array(msg.units)) : share.sums_kept(weights);
      postMessage({ type: 'sums', id: msg.id, bytes, ms: performance.now() - t0, at: [performance.timeOrigin + t0, performance.timeOrigin + performance.now()], wasmBytes: memory.buffer.byteLength }, [bytes.buffer]);
    } catch (e) {
      postMessage({ type: 'failed', id: msg.id, message: String(e?.message ?? e), fatal: e instanceof WebAssembly.RuntimeError });
    }
  }
};
