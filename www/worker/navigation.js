// A navigation run (the MAML paper's 2-D navigation, reinforcement learning): its own wasm handle
// (`NavLab`, src/web/navigation.rs) and its own small loop, so the supervised loop (loop.js) never
// sees it and no supervised `Lab` method is ever called on it. It runs on the CPU: its policy is a
// tiny MLP and each trajectory takes a hundred steps in sequence, which WebGPU would spend
// launching kernels. Its messages out: navReports, navEvaluation, arena (worker.js's table).
import { NavLab } from '../pkg/maml_lab.js';
import { EVAL_EVERY_MS, busy, post, state } from './context.js';

// one training call this long, as loop.js's
const BATCH_MS = 100;
// the person's goal is adapted again at most this often while training moves the weights
const ARENA_EVERY_MS = 1500;
// held-out goals of a meta-test
const EVAL_GOALS = 20;

export const WHY_CPU = 'navigation runs on the CPU: its policy is a tiny network and each trajectory takes its hundred steps one after another, so WebGPU would gain nothing';

const nav = { lab: null, batch: 1, msPerIteration: 0, lastEval: 0, lastArena: 0, goal: null, schedule: [] };

/** Whether the worker holds a navigation run now. */
export const onNavigation = () => nav.lab !== null;

/** Ends the navigation run, when a supervised one starts. */
export function leaveNavigation() {
  nav.lab?.free();
  nav.lab = null;
}

/** A navigation run's start: a new handle, from a meta-trained start's weights when given. */
export async function startNavigation(msg) {
  state.running = false;
  state.generation = msg.generation;
  const lab = new NavLab(JSON.stringify(msg.settings)); // throws, and keeps the old run, on bad settings
  if (msg.weights) {
    try {
      lab.import_weights(new Uint8Array(msg.weights));
    } catch (e) {
      lab.free();
      throw e;
    }
  }
  leaveNavigation();
  Object.assign(nav, { lab, batch: 1, msPerIteration: 0, lastEval: 0, lastArena: 0, goal: nav.goal ?? [0.3, -0.2], schedule: msg.schedule ?? [] });
  state.config = JSON.parse(lab.config());
  post('backend', { backend: 'cpu', adapter: '', why: WHY_CPU, slow: false, rates: null });
  post('ready', { config: state.config, iteration: lab.iteration() });
  applyDue();
  evaluate();
  arena();
}

function evaluate() {
  busy('evaluate', `meta-testing ${EVAL_GOALS} held-out goals from the meta-learned start and a random one…`);
  const report = JSON.parse(nav.lab.evaluate(EVAL_GOALS));
  busy(null);
  nav.lastEval = performance.now();
  post('navEvaluation', report);
}

function arena() {
  if (!nav.goal) return;
  nav.lastArena = performance.now();
  post('arena', JSON.parse(nav.lab.arena(nav.goal[0], nav.goal[1])));
}

/** Applies the live settings `settings` and tells the page, with the iteration after which
 *  they apply (as loop.js's setMaml). */
function setMaml(settings, about) {
  nav.lab.set_maml(JSON.stringify(settings));
  state.config = JSON.parse(nav.lab.config());
  post('maml', { config: state.config, iteration: nav.lab.iteration(), ...about });
}

/** A link's live changes due after the meta-iterations done so far, each exactly there. */
function applyDue() {
  const done = nav.lab.iteration();
  while (nav.schedule.length && nav.schedule[0].iteration <= done) {
    const { settings } = nav.schedule.shift();
    try {
      setMaml(settings, { scheduled: true });
    } catch (e) {
      post('error', { request: 'maml', message: String(e?.message ?? e) });
    }
  }
}

/** One training call of `nav.batch` meta-iterations, sized to BATCH_MS and never past a
 *  scheduled change; false when it diverged. */
function stepOnce() {
  const t0 = performance.now();
  const next = nav.schedule[0]?.iteration;
  const n = next === undefined ? nav.batch : Math.max(1, Math.min(nav.batch, next - nav.lab.iteration()));
  // a call of a slow configuration is announced (as loop.js's): a pause waits for it to end
  if (nav.msPerIteration > 1000) busy('step', `running meta-iteration ${nav.lab.iteration() + 1} (some ${Math.round(nav.msPerIteration / 1000)} s each at these settings)…`, n * nav.msPerIteration);
  const out = JSON.parse(nav.lab.step(n));
  while (performance.now() - t0 < state.minCallMs); // test-only (`?min_call_ms=N`): a call this slow, on any machine
  if (nav.msPerIteration > 1000) busy(null);
  applyDue();
  const ms = performance.now() - t0;
  const done = Math.max(1, out.reports.length);
  nav.msPerIteration = ms / done;
  nav.batch = Math.max(1, Math.min(64, Math.round((done * BATCH_MS) / Math.max(1, ms))));
  if (out.reports.length) post('navReports', { reports: out.reports, msPerIteration: nav.msPerIteration });
  if (out.error) {
    state.running = false;
    post('diverged', { what: 'training', message: out.error });
    return false;
  }
  return true;
}

const yieldToMessages = () => new Promise((resolve) => setTimeout(resolve, 0));

async function train(loop, enqueue) {
  if (!state.running || loop !== state.loop || !nav.lab) return;
  if (!stepOnce()) return;
  if (performance.now() - nav.lastEval > EVAL_EVERY_MS) evaluate();
  if (performance.now() - nav.lastArena > ARENA_EVERY_MS) arena();
  await yieldToMessages();
  enqueue('play', () => train(loop, enqueue));
}

/** The requests of a navigation run; the supervised ones it has no part in are not here. */
export const navHandlers = {
  play(msg, enqueue) {
    if (state.running) return;
    state.running = true;
    state.loop += 1;
    return train(state.loop, enqueue);
  },
  step() {
    state.running = false;
    nav.batch = 1;
    if (stepOnce()) evaluate();
    arena();
  },
  maml(msg) {
    // the person takes over: the rest of a replay's schedule no longer describes this run
    setMaml(msg.settings, { changed: msg.changed ?? {}, dropped: nav.schedule.length });
    nav.schedule = [];
    if (!state.running) { evaluate(); arena(); }
  },
  goal(msg) {
    nav.goal = [Number(msg.x), Number(msg.y)];
    arena();
  },
  exportWeights() {
    const bytes = nav.lab.export_weights();
    post('weights', { bytes, iteration: nav.lab.iteration() }, [bytes.buffer]);
  },
  importWeights(msg) {
    nav.lab.import_weights(new Uint8Array(msg.bytes));
    post('imported', { name: msg.name, iteration: nav.lab.iteration() });
    evaluate();
    arena();
  },
};
