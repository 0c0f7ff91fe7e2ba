// What the page does with each message the worker sends (the table of messages is at the top of
// worker.js); the worker's own life, spawned and replaced, is in lifecycle.js.
import { readTable } from './state.js';
import { alpha } from './run.js';
import { evaluationLosses, firstNonFinite, viewLosses } from './finite.js';
import { renderer } from './views/ink.js';
import { download } from './views/dom.js';
import { count } from './words.js';
import { forgetPreviousRun, keepResults, lab, notice, play, post, resolve, setButtons, showCounters, showState, startRun, markPrevious } from './page.js';
import { crashed, restart } from './lifecycle.js';
import { addGradients } from './views/gradients.js';
import { addNavEvaluation, addNavReports, collapseSentence, emptyNav } from './nav-results.js';

const $ = (id) => document.getElementById(id);
const DIVERGED_KEY = { training: 'diverged', 'meta-test': 'test-diverged', view: 'view-diverged' };
/** The worker refused the run asked for. The run it holds goes on, and the controls and the URL
 *  show it again; with none (the page's first run, or a restarted worker's), the task's preset
 *  starts in its place, once. */
function startRefused(message) {
  const { record } = lab;
  if (!record.asked.has(record.generation)) return notice(`The run could not go on: ${message}.`, 'error', 'start'); // it was ready: a replayed change failed
  lab.whenReady = null; // the run it was for will not be ready
  if (record.refused()) {
    notice(`Could not start that run: ${message}. The current run goes on.`, 'error', 'start');
    // the checkpoint is of the run that goes on, now under the refused run's number
    if (lab.snapshot.last) lab.snapshot.last.generation = record.generation;
    lab.ready = true;
    showState();
    if (lab.wasRunning) play();
    setButtons();
    return;
  }
  // (a key of its own: the preset's run, once ready, must not take this sentence with it)
  const asked = record.lastRefused;
  const fallback = record.preset(asked.task, asked.algorithm);
  if (JSON.stringify(record.forWorker(fallback)) === JSON.stringify(record.forWorker(asked))) {
    notice(`Could not start the ${asked.task} preset: ${message}. Reload the page to try again.`, 'error', 'start-fallback');
    return;
  }
  notice(`Could not start that run: ${message}. Started the ${asked.task} preset instead.`, 'error', 'start-fallback');
  record.settings = fallback;
  showState();
  startRun();
}

/** The zip line after a zip was refused: what the worker still holds. */
function showZipRefused() {
  const still = lab.zip.held ? `; still using ${lab.zip.held}` : '';
  $('zip-status').textContent = lab.zip.reading ? `${lab.zip.reading} was not read${still}` : lab.zip.held;
  lab.zip.reading = '';
}

/** The backend badge: the engine, and on the CPU the workers sharing each meta-iteration. */
function showBackend() {
  const b = lab.backend;
  if (!b) return;
  const workers = b.backend !== 'webgpu' && lab.workers?.workers > 1 ? ` · ${lab.workers.workers} workers` : '';
  $('backend-badge').textContent = b.backend === 'webgpu' ? `WebGPU · ${b.adapter}` : `CPU · WebAssembly${workers}`;
}

// What the worker says about itself, whichever run it is on.
const aboutWorker = {
  activity(m) {
    lab.expectMs = m.key === null ? null : m.estimateMs; // a slow call announced: the hang deadline waits for it
    // a job of a run since replaced is still what the worker is doing: it says whose it is
    const old = m.key !== null && m.generation > 0 && m.generation !== lab.record?.generation;
    // (the run's number in the key: a new run's job starts its own clock)
    lab.views.activity.set(m.key && `${m.generation} ${m.key}`, old ? `finishing the previous run's work: ${m.text}` : m.text, m.estimateMs);
    // before the engine is up, the badge says how far its download has come
    if (!lab.backend) $('backend-badge').textContent = m.text ?? 'starting…';
  },
  loaded(m, begin) {
    lab.workerLoaded = true;
    renderer.load(m.module); // the glyph renderer, on this thread (a restarted worker's is the same)
    if (!lab.table) begin(readTable(m.table));
  },
  backend(m) {
    lab.backend = m;
    showBackend();
    $('backend-why').textContent = m.why;
    if (m.slow) notice(`WebGPU runs here on a software adapter (${m.adapter}): much slower than the CPU path. Choose auto or cpu under "The run" for speed.`, 'warn', 'slow-backend');
  },
  zip(m) {
    // (the file stays: a restarted worker reads it again)
    lab.zip = { loaded: true, held: `${m.name}: ${count(m.characters, 'character')}, ${count(m.images, 'image')}`, reading: '', file: m.restore ? lab.zip.file : lab.zip.picked };
    $('zip-status').textContent = lab.zip.held;
    resolve('loadZip', 'zip');
    if (m.restore) return; // a restarted worker's, for the run it resumed: no new run
    lab.record.settings = lab.record.preset('omniglot');
    showState();
    startRun();
  },
  error(m) {
    lab.errors.push(m);
    // a person's own task: the sentence goes in its panel
    if (m.request === 'adapt' || m.request === 'sample') return lab.views.charts.draw.failed(m);
    // the landscape's and the walk's sentences go in their own figures
    if (m.request === 'landscape' && m.generation === lab.record.generation) return lab.views.charts.landscape.failed(m.message);
    if (m.request === 'walk') return notice(`The inner step's walk-through failed: ${m.message}.`, 'error', 'walk');
    if (m.request === 'start') {
      if (m.generation === lab.record.generation) return startRefused(m.message);
      return notice(`Could not start a run asked for meanwhile: ${m.message}.`, 'error', 'start');
    }
    const what = { loadZip: 'Could not read that zip', importWeights: 'Could not load those weights', maml: 'Could not apply that setting' }[m.request] ?? `The ${m.request} request failed`;
    const goesOn = { loadZip: '; the current run goes on', maml: '; the run goes on as it was' }[m.request] ?? '';
    notice(`${what}: ${m.message}${goesOn}.`, 'error', m.request);
    if (m.request === 'loadZip') showZipRefused();
    if (m.request === 'maml' && m.generation === lab.record.generation && lab.record.liveRefused()) showState();
  },
  fatal(m, begin) {
    restart(crashed(m.message), begin);
  },
  workers(m) {
    lab.workers = m;
    showBackend();
    $('workers-why').textContent = `; ${m.why}`;
  },
  shareLost(m) {
    const part = m.here === false ? 'a fresh one takes its part' : 'the training worker did its part itself, to the same sums, and started a fresh one';
    notice(`A share worker ${m.problem} ${m.when}: ${part}. The run goes on as it would have.`, 'warn', 'share-lost');
  },
  settled() {
    lab.settling.shift()?.();
  },
};

// What the worker says about the current run.
const aboutRun = {
  ready(m) {
    if (m.config.task.kind === 'navigation') return navReady(m);
    // a restarted worker resumed the run from its checkpoint: the curve up to there stays
    const resumed = lab.whenReady;
    lab.whenReady = null;
    if (resumed?.iteration && m.iteration === resumed.iteration) keepResults(resumed);
    else forgetPreviousRun();
    Object.assign(lab, { ready: true, config: m.config });
    // a resumed run keeps its landscape and walk; a new one starts without
    lab.views.charts.landscape.setReady(true, !(resumed?.iteration && m.iteration === resumed.iteration));
    lab.views.charts.walk.setReady(true, m.config);
    post({ type: 'compareEvery', every: lab.views.charts.gradients.every() }); // (a restarted worker starts at its default)
    lab.views.charts.gradients.showInterval(null);
    lab.dirty.gradients = true;
    lab.results.iteration = m.iteration; // a meta-trained start's, a checkpoint's, or 0
    lab.results.startAlpha ??= alpha(m.config);
    if (resumed?.play) play();
    showCounters();
    setButtons();
    // the drawing panel renders strokes with the wasm's glyph renderer, loaded with the worker's `loaded`
    renderer.ready.then(() => lab.views.charts.draw.setRun(m.config), (e) => notice(`The drawing panel could not start the glyph renderer: ${e.message}.`, 'error', 'renderer'));
  },
  reports(m) {
    lab.results.addReports(m);
    lab.views.charts.landscape.trained(lab.results.iteration);
    resolve('diverged');
    // while training the counters come with the chart, on its frame; the last reports after a
    // pause, at once
    lab.dirty.loss = true;
    if (lab.running) lab.dirty.counters = true;
    else showCounters();
    // a first checkpoint as soon as there is training worth keeping, then one every FLAGS.checkpointMs (page.js)
    if (!lab.snapshot.last && !lab.snapshot.asked) {
      lab.snapshot.asked = true;
      post({ type: 'checkpoint' });
    }
  },
  evaluation(m) {
    markPrevious(['step-figure', 'task-figure'], false);
    // its loss after as many inner steps as training uses, comparable with the training curve
    lab.results.addEvaluation(m, lab.record.settings.inner_steps);
    if (firstNonFinite(evaluationLosses(m.maml)) < 0) resolve('test-diverged');
    lab.dirty.evaluation = lab.dirty.loss = true;
  },
  view(m) {
    lab.results.view = m;
    if (firstNonFinite(viewLosses(m.view)) < 0) resolve('view-diverged');
    markPrevious(['view-figure'], false);
    lab.dirty.view = true;
  },
  rates(m) {
    lab.results.rates = m;
    lab.dirty.rates = true;
  },
  navReports(m) {
    addNavReports(lab.nav, m.reports);
    lab.nav.trainedBeta = lab.config?.maml.meta_lr ?? null;
    lab.results.iteration = m.reports[m.reports.length - 1].iteration;
    lab.results.stopwatch.mark(lab.results.iteration);
    showCounters();
    resolve('diverged');
    lab.dirty.nav = true;
  },
  navEvaluation(m) {
    addNavEvaluation(lab.nav, m, lab.config?.maml.inner_steps ?? 1);
    // the β it collapsed at is the one it trained with (a β lowered since, even before a step at
    // it, does not undo a collapse); the sentence goes up once, and again only when it says
    // something else, not at every meta-test (a dismissed one stays dismissed)
    const at = lab.nav.collapse?.beta ?? lab.nav.trainedBeta ?? lab.config?.maml.meta_lr;
    const collapsed = lab.config && collapseSentence(m, lab.config, at);
    if (!collapsed) {
      lab.nav.collapse = null;
      resolve('nav-collapse');
    } else {
      if (lab.nav.collapse?.kind !== collapsed.kind) notice(collapsed.text, 'warn', 'nav-collapse');
      lab.nav.collapse = { beta: at, kind: collapsed.kind };
    }
    lab.dirty.nav = true;
  },
  arena(m) {
    lab.nav.arena = m;
    const arena = lab.views.charts.arena;
    arena.update(m);
    // the sentence is about the goal shown: an answer for one since moved or replaced says nothing
    if (arena.pending) return;
    if (m.clamped) {
      const at = (p) => `(${p.map((v) => +v.toFixed(2)).join(', ')})`;
      $('arena-notice').textContent = `The goal ${at(m.asked)} lies outside the square goals are drawn from, [−0.5, 0.5]²: it was moved to its nearest point, ${at(m.goal)}.`;
      $('arena-notice').hidden = false;
    } else $('arena-notice').hidden = true;
  },
  adapted(m) {
    lab.views.charts.draw.adapted(m);
  },
  gradients(m) {
    addGradients(lab.results.gradients, m);
    lab.views.charts.gradients.showInterval(m);
    lab.dirty.gradients = true;
  },
  landscape(m) {
    lab.views.charts.landscape.plane(m);
  },
  landscapeRow(m) {
    lab.views.charts.landscape.row(m);
  },
  landscapeDone(m) {
    lab.views.charts.landscape.done(m);
  },
  walk(m) {
    lab.views.charts.walk.update(m);
  },
  sample(m) {
    lab.views.charts.draw.sampled(m);
  },
  maml(m) {
    lab.config = m.config;
    lab.views.charts.walk.config = m.config;
    if (m.scheduled) {
      // a replay passed its changes up to this iteration: the controls show them
      lab.record.passed(m.iteration);
      showState();
      return;
    }
    // the person's live change reached the run: the link records it there, and drops what a
    // replay had still to come
    resolve('maml');
    const dropped = lab.record.recorded(m.iteration, m.changed);
    if (dropped.length) {
      const at = [...new Set(dropped.map((e) => e.iteration))].join(', ');
      notice(`You changed a live setting at iteration ${m.iteration}, so the link's later changes (at ${at}) are dropped: from here the link records this run as you drive it.`, 'info', 'replay');
    }
    history.replaceState(null, '', lab.record.link());
  },
  diverged(m) {
    lab.running = false;
    setButtons();
    showCounters();
    notice(`${m.message}.`, 'error', DIVERGED_KEY[m.what] ?? 'diverged');
  },
  weights(m) {
    download(new Blob([m.bytes], { type: 'application/octet-stream' }), `maml-${lab.record.settings.task}-it${m.iteration}.bin`);
  },
  checkpoint(m) {
    // the reports up to it came before it: the loss chart's moving average is at the same point
    // (and the live changes in it: those the worker confirmed before it, as its replies come in order)
    lab.snapshot.last = { bytes: m.bytes, iteration: m.iteration, generation: m.generation, average: { ...lab.results.average }, live: lab.record.live.map((e) => ({ ...e })) };
  },
  imported(m) {
    resolve('importWeights');
    notice(`Loaded the weights of ${m.name} (trained ${count(m.iteration, 'meta-iteration')}).`, 'info', 'weights');
    // the run goes on from the file's iteration, and a crash from here resumes with these weights
    lab.results.iteration = m.iteration;
    post({ type: 'checkpoint' });
    showCounters();
  },
};

/** A navigation run is ready: its own results and panels (the supervised ones are hidden by the
 *  body's class, page.js showState). */
function navReady(m) {
  const resumed = lab.whenReady;
  lab.whenReady = null;
  forgetPreviousRun();
  lab.nav = emptyNav();
  Object.assign(lab, { ready: true, config: m.config });
  lab.results.iteration = m.iteration;
  $('arena-notice').hidden = true;
  // a goal placed (or moved) while no run was ready to take it: the new run adapts to it
  const arena = lab.views.charts.arena;
  if (arena.pending) post({ type: 'goal', x: arena.goal[0], y: arena.goal[1] });
  if (resumed?.play) play();
  lab.dirty.nav = true;
  showCounters();
  setButtons();
}

export function onWorker(m, begin) {
  if (m.type in aboutWorker) aboutWorker[m.type](m, begin);
  else if (m.generation === lab.record?.generation) aboutRun[m.type](m);
  else if (m.type === 'ready') lab.record.heldRun(m.generation); // a run since replaced, which the worker holds until the latest is ready
  // else: of a run since replaced
}
