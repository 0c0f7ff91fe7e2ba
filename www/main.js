// The page's main thread: builds the views, wires the buttons, and draws the latest reports on
// animation frames. It never trains and never waits on the wasm: the worker does (messages.js).
// The page's state and its one path to a new run are in page.js; the run's settings in the run
// record (run.js).
import { RunRecord, learnerName } from './run.js';
import { LossChart, StepChart, TaskChart } from './views/charts.js';
import { Arena } from './views/arena.js';
import { NavObjectiveChart, NavTestChart } from './views/nav-charts.js';
import { AdaptationView } from './views/adaptation.js';
import { Controls } from './views/controls.js';
import { RatesView } from './views/rates.js';
import { DrawPanel } from './views/draw.js';
import { ActivityLine } from './views/activity.js';
import { Pins } from './views/pins.js';
import { Starts } from './views/starts.js';
import { Notices } from './notices.js';
import { GRADIENTS_HEADER, GradientChart, gradientsRows } from './views/gradients.js';
import { LANDSCAPE_HEADER, LandscapeView } from './views/landscape.js';
import { WALK_HEADER, WalkPanel } from './views/walk.js';
import { chartPng, csv } from './views/exports.js';
import { fileName } from './run.js';
import { download, el } from './views/dom.js';
import { FLAGS, lab, notice, onControl, onStart, openLink, play, post, setButtons, showCounters, startRun } from './page.js';
import { spawn, watchSilence } from './lifecycle.js';

const $ = (id) => document.getElementById(id);
const MAX_ZIP = 64 << 20;
const MAX_WEIGHTS = 256 << 20;

// A frame is asked for only when a chart has something new to draw (a dirty flag set, a landscape
// row in), and while training at most every TRAINING_FRAME_MS: drawing (the charts' canvases
// painted, composed and rastered) takes the same cores as the workers that train, and a page that
// drew on every animation frame, or on every report, left them less.
const TRAINING_FRAME_MS = 200;
let frameAsked = false;
let lastDraw = 0;
function askFrame() {
  if (frameAsked) return;
  frameAsked = true;
  const wait = lab.running ? lastDraw + TRAINING_FRAME_MS - performance.now() : 0;
  if (wait > 0) setTimeout(() => requestAnimationFrame(draw), wait);
  else requestAnimationFrame(draw);
}

function draw() {
  frameAsked = false;
  lastDraw = performance.now();
  const { dirty, results } = lab;
  const charts = lab.views.charts;
  // the counters first, whatever a chart does
  if (dirty.counters) { showCounters(); dirty.counters = false; }
  try {
    if (dirty.loss) { charts.loss.update(results.history); dirty.loss = false; }
    if (dirty.evaluation && results.evaluation) {
      const ways = lab.config?.task.ways; // for the chance line of image tasks
      charts.steps.update(results.evaluation, ways, lab.config ? learnerName(lab.config) : 'MAML');
      charts.tasks.update(results.evaluation, ways);
      dirty.evaluation = false;
    }
    if (dirty.view && results.view) { charts.view.update(results.view.view); dirty.view = false; }
    if (dirty.rates) { charts.rates.update(results.rates?.rates ?? null, results.startAlpha, results.rates?.iteration ?? 0); dirty.rates = false; }
    if (dirty.gradients) { charts.gradients.update(results.gradients, lab.config?.maml.algorithm === 'reptile'); dirty.gradients = false; }
    if (dirty.nav && lab.nav) {
      charts.navObjective.update(lab.nav.history);
      if (lab.nav.evaluation) charts.navTest.update(lab.nav.evaluation);
      dirty.nav = false;
    }
  } catch (e) {
    notice(`Drawing failed: ${e.message}`, 'error', 'draw');
    dirty.loss = dirty.evaluation = dirty.view = dirty.rates = dirty.gradients = dirty.nav = false;
  }
  // the landscape on its own, so that a chart's failure does not leave its rows undrawn
  try {
    charts.landscape.frame();
  } catch (e) {
    notice(`Drawing the landscape failed: ${e.message}`, 'error', 'draw');
  }
}

/** The file picked in `input`, unless it is over `limit` bytes: then a notice says so. */
function picked(input, limit, request, tooLarge) {
  const file = input.files[0];
  input.value = '';
  if (file?.size > limit) {
    notice(`${file.name} is ${(file.size / 2 ** 20).toFixed(0)} MB${tooLarge}`, 'error', request);
    return null;
  }
  return file ?? null;
}

function wire() {
  $('play').onclick = () => {
    if (lab.running) {
      lab.running = false;
      post({ type: 'pause' });
      post({ type: 'checkpoint' }); // where it stopped
    } else play();
    setButtons();
    if (!lab.running) showCounters();
  };
  $('orient-scratch').onclick = () => onStart('scratch');
  $('orient-explain').onclick = () => { $('explain').scrollIntoView({ behavior: 'smooth' }); $('explain').focus({ preventScroll: true }); };
  $('step').onclick = () => { post({ type: 'step' }); post({ type: 'checkpoint' }); };
  $('reset').onclick = () => startRun();
  $('new-task').onclick = () => post({ type: 'view', index: ++lab.results.viewIndex });
  $('download').onclick = () => post({ type: 'exportWeights' });
  // keep a recent checkpoint of the run on this side, so a crashed worker's run resumes losing little
  if (FLAGS.checkpointMs > 0) setInterval(() => { if (lab.running && lab.ready) post({ type: 'checkpoint' }); }, FLAGS.checkpointMs);
  // a real button, reachable by keyboard, opens the hidden file input
  $('load-weights').onclick = () => $('weights').click();
  $('weights').onchange = async (e) => {
    const file = picked(e.target, MAX_WEIGHTS, 'importWeights', ': too large to be weights of this lab.');
    if (!file) return;
    const bytes = await file.arrayBuffer();
    post({ type: 'importWeights', bytes, name: file.name }, [bytes]);
  };
  $('zip').onchange = async (e) => {
    const file = picked(e.target, MAX_ZIP, 'loadZip', ', over the 64 MB limit; the current run goes on.');
    if (!file) return;
    lab.zip.reading = file.name;
    lab.zip.picked = file; // kept, once read, so a restarted worker can read it again
    $('zip-status').textContent = `reading ${file.name}…`;
    const bytes = await file.arrayBuffer();
    post({ type: 'loadZip', bytes, name: file.name }, [bytes]);
  };
  document.addEventListener('visibilitychange', () => {
    // a hidden tab keeps training; the page just stops drawing until it is seen again
    if (!document.hidden) lab.dirty.loss = lab.dirty.evaluation = lab.dirty.view = lab.dirty.rates = lab.dirty.gradients = true;
  });
  window.addEventListener('hashchange', () => {
    // before the table comes, the hash is still to be read
    if (!lab.record || location.hash === lab.record.link()) return;
    openLink(location.hash);
  });
}

/** Tests and scripts: resolves once the worker has done every request sent before it (a batch
 *  in flight when Play was paused included). */
lab.settling = [];
lab.settle = () => new Promise((resolve) => {
  lab.settling.push(resolve);
  post({ type: 'settle' });
});

/** The new views' exports: each a PNG and a CSV, named after the run's settings. */
function exports(charts) {
  const name = (kind) => `${fileName(lab.record.settings)}-${kind}`;
  const save = (rows, header, kind) => download(new Blob([csv(header, rows)], { type: 'text/csv' }), `${name(kind)}.csv`);
  const png = async (blob, kind) => download(await blob, `${name(kind)}.png`);
  const png1 = el('button', { className: 'png', textContent: 'PNG' });
  const csv1 = el('button', { className: 'csv', textContent: 'CSV' });
  png1.setAttribute('aria-label', 'Download the exact against first-order chart as PNG');
  csv1.setAttribute('aria-label', 'Download the exact against first-order comparisons as CSV');
  png1.onclick = () => png(chartPng(charts.gradients.plot, 'exact against first-order meta-gradient'), 'gradients');
  csv1.onclick = () => save(gradientsRows(lab.results.gradients), GRADIENTS_HEADER, 'gradients');
  $('gradients-tools').append(png1, csv1);
  charts.landscape.pngButton.onclick = () => png(charts.landscape.png(`landscape around θ at iteration ${charts.landscape.data.iteration}`), 'landscape');
  charts.landscape.csvButton.onclick = () => save(charts.landscape.rows(), LANDSCAPE_HEADER, 'landscape');
  charts.walk.pngButton.onclick = () => png(charts.walk.png(`one inner step at iteration ${charts.walk.walk.iteration}`), 'inner-step');
  charts.walk.csvButton.onclick = () => save(charts.walk.rows(), WALK_HEADER, 'inner-step');
}

/** The page without its controls: they wait for the settings table, which comes with the wasm. */
function main() {
  const charts = {
    loss: new LossChart($('loss-chart')),
    steps: new StepChart($('step-chart')),
    tasks: new TaskChart($('task-chart')),
    view: new AdaptationView($('view'), $('view-caption'), $('view-step')),
    rates: new RatesView($('rates'), $('rates-caption'), $('rates-body')),
    draw: new DrawPanel($('draw'), post),
    gradients: new GradientChart($('gradients-chart'), $('gradients-tools'), (every) => {
      post({ type: 'compareEvery', every });
      lab.dirty.gradients = true;
    }),
    landscape: new LandscapeView($('landscape-figure'), post, askFrame),
    walk: new WalkPanel($('walk-figure'), post),
    arena: new Arena($('arena'), $('arena-legend'), $('arena-caption'), ([x, y]) => {
      $('arena-notice').hidden = true;
      if (lab.ready && lab.config?.task.kind === 'navigation') post({ type: 'goal', x, y });
    }),
    navObjective: new NavObjectiveChart($('nav-objective-chart')),
    navTest: new NavTestChart($('nav-test-chart')),
  };
  exports(charts);
  lab.views = { charts, notices: new Notices($('notices')) };
  $('eval-tasks').textContent = FLAGS.evalTasks;
  lab.views.activity = new ActivityLine($('activity'), $('activity-text'), $('activity-elapsed'));
  for (const id of ['step-figure', 'task-figure', 'view-figure']) {
    $(id).querySelector('figcaption').append(el('span', { className: 'previous-note', textContent: "previous run: the new run's first results are on their way" }));
  }
  lab.views.starts = new Starts($('start-box'), onStart);
  const startsLoaded = lab.views.starts.load().then((problems) => problems.forEach((p) => notice(p, 'warn')));
  lab.views.pins = new Pins($('pins'), {
    storage: localStorage,
    run: () => ({ record: lab.record, iteration: lab.results.iteration, history: lab.results.history, evaluation: lab.results.evaluation }),
    charts: [
      { name: 'loss', chart: charts.loss, caption: $('loss-chart').previousElementSibling, title: 'meta-loss' },
      { name: 'steps', chart: charts.steps, caption: $('step-chart').previousElementSibling, title: 'adaptation by inner step' },
      { name: 'tasks', chart: charts.tasks, caption: $('task-chart').previousElementSibling, title: 'meta-test tasks' },
    ],
    notice,
    onChange: (pins) => {
      for (const c of [charts.loss, charts.steps, charts.tasks]) c.setPins(pins);
      lab.dirty.loss = lab.dirty.evaluation = true;
    },
  });
  wire();
  const begin = async (table) => {
    // the rest, once the worker has sent the settings table: the controls, the link's run
    await startsLoaded; // the first run may start from one
    lab.table = table;
    lab.record = new RunRecord(table);
    lab.views.controls = new Controls(table.controls, $('live-controls'), $('run-controls'), onControl);
    // the current algorithm's and task's one-line explanations, right under their selectors
    // (classes, not ids: the panel's ids are the settings' keys)
    $('algorithm').closest('.row').after(el('p', { className: 'hint algorithm-explain' }));
    $('task').closest('.row').after(el('p', { className: 'hint task-explain', hidden: true }));
    openLink(location.hash);
  };
  spawn(begin);
  watchSilence(begin);
  lab.askFrame = askFrame;
  askFrame();
}

main();
