// The training worker's life: spawned, watched, and replaced when it crashes, stops or hangs. A
// replacement resumes the run from its latest checkpoint (src/checkpoint.rs), so the run goes on
// as it would have: the same link, the curve up to the checkpoint, Play as it was.
import { onWorker } from './messages.js';
import { FLAGS, lab, notice, post, resolve, runnable, setButtons, showState, startRun } from './page.js';
import { count } from './words.js';
import { withLive } from './run.js';

const $ = (id) => document.getElementById(id);

/** A new worker; it loads the wasm before it handles anything else it is sent. An uncaught error
 *  in it after that (a trap in the wasm, such as an allocation past its memory, which leaves the
 *  promise it was in never settled) ends it: the page restarts it. A worker that stops without a
 *  word (terminated, its process killed) is noticed too: it holds a Web Lock for its life, which
 *  the page asks for, and gets, only once the worker is gone. `begin(table)` hears the settings
 *  table of the first worker to load. */
export function spawn(begin) {
  const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  Object.assign(lab, { worker, workerLoaded: false, alive: false, heardAt: performance.now() });
  worker.onmessage = ({ data }) => {
    lab.heardAt = performance.now();
    if (data.type === 'alive') { lab.alive = true; watch(worker, data.lock, begin); }
    else onWorker(data, begin);
  };
  worker.onerror = (e) => {
    e.preventDefault(); // handled here: not an uncaught error of the page
    if (worker !== lab.worker) return; // one already replaced
    const message = e.message || 'an error without a message';
    if (lab.workerLoaded) restart(crashed(message), begin);
    else notice(`The training worker failed to load: ${message}. Reload the page to try again.`, 'error', 'worker');
  };
  const { evalTasks, allowSoftwareWebgpu, gpuCounts, minCallMs } = FLAGS;
  post({ type: 'init', evalTasks, allowSoftwareWebgpu, gpuCounts, minCallMs });
}

/** What a crash was, in words: "crashed (RuntimeError: unreachable: WebAssembly stops so …)". */
export const crashed = (message) => `crashed (${message}${/unreachable/i.test(message) ? ': WebAssembly stops so when it runs out of memory or panics' : ''})`;

/** Restarts `worker` once its lock `lock` is free: once it has stopped, however it stopped. */
function watch(worker, lock, begin) {
  navigator.locks.request(lock, () => {
    if (worker === lab.worker) restart('stopped without an error: the browser ended it, or its process died', begin);
  });
}

/** A worker that hangs (a loop that never returns) holds its lock and says nothing: one silent
 *  for FLAGS.silentMs while it trains, or three times what it announced its call would take, is
 *  restarted. So is a replacement that never said it was alive (stopped before it took its lock;
 *  its first words come before the engine's download). Without Web Locks, a page not in a secure
 *  context, the first also catches a stopped worker. */
export function watchSilence(begin) {
  const locks = window.isSecureContext && Boolean(navigator.locks);
  setInterval(() => {
    const silent = performance.now() - lab.heardAt;
    const deadline = Math.max(FLAGS.silentMs, 3 * (lab.expectMs ?? 0));
    if (silent <= deadline || !lab.record) return;
    if (lab.running && lab.ready) restart(`stopped answering: not a word for ${Math.round(silent / 1000)} s while training`, begin);
    else if (locks && !lab.alive) restart(`never started: not a word for ${Math.round(silent / 1000)} s`, begin);
  }, Math.min(5000, FLAGS.silentMs / 2));
}

/** The live settings the page shows that the worker never confirmed: lost with it. */
function unconfirmed(record) {
  const inForce = withLive(record.start ?? record.settings, record.live);
  return record.table.controls.filter((c) => c.live && record.settings[c.key] !== inForce[c.key]);
}

/** The worker is gone (a wasm panic, a trap, a lost WebGPU device, a silent stop, a hang): a fresh
 *  one, on the CPU if the run was on WebGPU, resumes the run from its latest checkpoint, its
 *  Omniglot zip read again from the file the person picked. */
export function restart(what, begin) {
  const { record } = lab;
  // (a checkpoint of a run since replaced does not fit the run asked for, which starts afresh)
  const checkpoint = lab.snapshot.last?.generation === record.generation ? lab.snapshot.last : null;
  const play = lab.running || Boolean(lab.whenReady?.play); // Play, or a new run asked for with Play on
  const gpu = lab.backend?.backend === 'webgpu';
  const file = lab.zip.file; // the zip the person picked, if any: the worker held its contents
  const omniglot = record.settings.task === 'omniglot';
  const lost = unconfirmed(record);
  lab.worker.terminate();
  Object.assign(lab, { zip: { loaded: false, held: '', reading: '', file }, running: false, ready: false, whenReady: null });
  record.forgetWorker(); // the new worker holds no run
  $('zip-status').textContent = file ? `reading ${file.name} again…` : '';
  if (gpu) resolve('slow-backend');
  setButtons();
  spawn(begin);
  const engine = `The ${gpu ? 'WebGPU device' : 'training engine'} ${what}, and was restarted${gpu ? ' on the CPU' : ''}`;
  const unsent = lost.length ? ` Your last change of ${lost.map((c) => c.label).join(', ')} had not reached it: the controls show what the run goes on with; change ${lost.length > 1 ? 'them' : 'it'} again if you want.` : '';
  const since = checkpoint ? lab.results.iteration - checkpoint.iteration : 0;
  const from = checkpoint
    ? `from its checkpoint at meta-iteration ${checkpoint.iteration}${since > 0 ? ` (the ${count(since, 'meta-iteration')} since run again${gpu ? '' : ', to the same losses'})` : ''}`
    : 'from its start, as its link describes it';
  // a run that is not a glyph or sinusoid run may need its zip back first
  const resume = (zip) => {
    // on WebGPU or auto, a restored zip stays with the engine the run was on: the CPU, after a crash
    const backend = gpu ? 'cpu' : zip ? lab.backend?.backend ?? 'cpu' : record.settings.backend;
    lab.whenReady = { iteration: checkpoint?.iteration ?? 0, average: checkpoint?.average ?? null, play };
    startRun([], { resumeAt: checkpoint?.iteration ?? 0, backend, checkpoint: checkpoint?.bytes.slice(0), zip: zip?.bytes, zipName: zip?.name, applied: checkpoint?.live ?? [] });
    // the checkpoint is the resumed run's, should the new worker crash too before its next one
    if (checkpoint) checkpoint.generation = record.generation;
  };
  const instead = (why) => {
    // the glyphs preset meanwhile, as for a link to omniglot without a zip
    notice(`${engine}; ${why}, so it could not resume the omniglot run: pick the zip again to go back to it. The glyphs preset runs meanwhile.${unsent}`, 'error', 'fatal');
    record.settings = runnable({ ...record.settings, backend: gpu ? 'cpu' : record.settings.backend }, 'The restarted engine has no zip for');
    lab.whenReady = { play };
    showState();
    startRun();
  };
  if (!omniglot) {
    notice(`${engine} with the same run, ${from}.${unsent}`, 'error', 'fatal');
    resume(null);
    // the zip back in the new worker, after the run's start, for a later omniglot run
    if (file) file.arrayBuffer().then((bytes) => post({ type: 'loadZip', bytes, name: file.name, restore: true }, [bytes]), () => { $('zip-status').textContent = `${file.name} could not be read again: pick it again to run omniglot`; });
    return;
  }
  if (!file) return instead('the zip went with it');
  file.arrayBuffer().then((bytes) => {
    notice(`${engine} with the same run, its zip read again, ${from}.${unsent}`, 'error', 'fatal');
    resume({ bytes, name: file.name });
  }, (e) => instead(`the zip could not be read again (${e.message})`));
}
