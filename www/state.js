// The page's settings: the wasm handle's table of controls and presets (`Lab.settings_table()`,
// the one source of every key, label, range and default) plus the page's own backend control,
// read from and written to location.hash, seed included, so a link reproduces a run.
// Keys are the Rust settings' field names, the URL keys and the element ids.
import { count } from './words.js';

/** Which backend runs: a question about this browser rather than about the run, so the page's
 *  own control. The worker makes a new handle when it changes. */
const BACKEND = { key: 'backend', label: 'backend', kind: 'enum', values: ['auto', 'webgpu', 'cpu'], live: false, images: false };

/** Where a run starts: from the meta-trained weights shipped for the task's page preset
 *  (www/starts/, views/starts.js), or from random weights. The page's own too, and shown beside
 *  Play rather than with the run's controls (`own`). A link made before this key existed started
 *  from scratch, and still does. */
const START = { key: 'start', label: 'start', kind: 'enum', values: ['meta-trained', 'scratch'], live: false, images: false, own: true };
/** How many workers share each meta-iteration: auto (the browser's cores less one, which the
 *  page's own thread keeps) or a number. A question about this browser too, and one that never
 *  changes the run: any number gives the same weights, bit for bit (worker/shares.js). So it is
 *  neither live nor a reason for a new run: it takes effect at the next meta-iteration. */
const THREADS = { key: 'threads', label: 'workers', kind: 'enum', values: ['auto', '1', '2', '3', '4', '5', '6', '7', '8'], live: false, images: false, speed: true };
const PAGE_ONLY = [BACKEND, THREADS, START];

/** The table the page works from, made of the handle's: its controls, then the backend; each
 *  algorithm's preset for each task, on the automatic backend; and each algorithm's one-line
 *  explanation.
 *  A control: {key, label, kind, values?, min?, max?, live, images}, where kind is 'enum' (one of
 *  values), 'int' (min..max, or one of values when given), 'log' (a positive number on a log
 *  slider) or 'bool'; live: takes effect on the next meta-iteration without a new run; images:
 *  only image tasks use it; speed: changes how fast the run goes, never what it computes (neither
 *  live nor a new run). */
export function readTable(table) {
  const withBackend = (byTask) => Object.fromEntries(Object.entries(byTask).map(([task, p]) => [task, { ...p, backend: 'auto', threads: 'auto', start: 'meta-trained' }]));
  const presets = Object.fromEntries(Object.entries(table.presets_by_algorithm).map(([a, byTask]) => [a, withBackend(byTask)]));
  return { controls: [...table.controls, ...PAGE_ONLY], presets, algorithms: table.algorithms, limits: table.limits };
}

/** Images each class of `task` has (shots + queries may not exceed it), or null. */
const imagesPerClass = (table, task) => table.limits?.[task]?.images_per_class ?? null;

/** `c` with the range `state` leaves it: shots and queries share a class's images, so each may
 *  take what the other leaves; with `hint`, the rule in words, for where the person types. */
export function bounded(table, state, c) {
  const images = imagesPerClass(table, state.task);
  const other = { shots: 'queries', queries: 'shots' }[c.key];
  if (images === null || !other) return c;
  return { ...c, max: Math.min(c.max, images - state[other]), hint: `shots + queries ≤ ${images} for ${state.task}: a class has ${count(images, 'image')}` };
}

export const control = (table, key) => table.controls.find((c) => c.key === key);

/** The page's preset for `task` under `algorithm`: a value for every control. Each algorithm
 *  brings its paper's schedule (Reptile, for one, takes more inner steps). */
export const preset = (table, task, algorithm = 'maml') => ({ ...table.presets[algorithm][task] });

/** A raw value as a notice echoes it: at most 40 characters, so a hand-edited link of any
 *  length makes a sentence of a few lines. */
export const echo = (raw) => {
  const s = String(raw);
  return s.length > 40 ? `${s.slice(0, 40)}…` : s;
};

/** Coerces one raw value; returns [value, complaint or null]. */
export function coerce(c, raw, fallback) {
  const say = (why) => [fallback, `${c.key}=${echo(raw)} ${why}; using ${fallback}`];
  const clamp = (v) => {
    if (v >= c.min && v <= c.max) return [v, null];
    const clamped = Math.min(c.max, Math.max(c.min, v));
    return [clamped, `${c.key}=${echo(raw)} is outside ${c.min}..${c.max}; using ${clamped}`];
  };
  switch (c.kind) {
    case 'enum':
      return c.values.includes(String(raw)) ? [String(raw), null] : say(`is not one of ${c.values.join(', ')}`);
    case 'bool':
      if (raw === true || raw === 'true' || raw === '1') return [true, null];
      if (raw === false || raw === 'false' || raw === '0') return [false, null];
      return say('is not true or false');
    case 'int': {
      const v = Number(raw);
      if (!Number.isFinite(v) || !/^-?\d+(\.\d+)?(e\d+)?$/i.test(String(raw).trim())) return say('is not a number');
      const r = Math.round(v);
      if (c.values && !c.values.includes(r)) return say(`is not one of ${c.values.join(', ')}`);
      const [clamped, outside] = clamp(r);
      if (outside || r === v) return [clamped, outside];
      return [r, `${c.key}=${echo(raw)} is not a whole number; using ${r}`];
    }
    case 'log': {
      const v = Number(raw);
      if (!Number.isFinite(v) || String(raw).trim() === '') return say('is not a number');
      return clamp(v);
    }
  }
  throw new Error(`unknown kind ${c.kind}`);
}

/** Reads a state from a hash string: the task's preset with the hash's values on top. Unknown
 *  keys and bad values are reported, never fatal. */
export function parseHash(table, hash) {
  const params = new URLSearchParams(hash.replace(/^#/, ''));
  const problems = [];
  const tasks = control(table, 'task');
  const [task, taskProblem] = coerce(tasks, params.get('task') ?? tasks.values[0], tasks.values[0]);
  if (taskProblem) problems.push(taskProblem);
  // the algorithm too picks the preset the other values go on top of
  const algorithms = control(table, 'algorithm');
  const [algorithm, algorithmProblem] = coerce(algorithms, params.get('algorithm') ?? algorithms.values[0], algorithms.values[0]);
  if (algorithmProblem) problems.push(algorithmProblem);
  const state = preset(table, task, algorithm);
  if (params.size > 0 && !params.has('start')) state.start = 'scratch'; // a link from before the meta-trained starts
  // a link the page wrote before the score term's switch existed (it wrote every control: the seed,
  // the start and every live one but the switch) ran navigation with the unbiased estimator; a
  // shorter hand-written one takes the preset
  const written = ['seed', 'start', 'inner_lr', 'meta_lr', 'inner_steps', 'meta_batch', 'first_order'];
  if (task === 'navigation' && written.every((k) => params.has(k)) && !params.has('score_term')) state.score_term = true;
  for (const [key, raw] of params) {
    if (key === 'live') continue; // the run's live changes: schedule.js reads them
    const c = control(table, key);
    if (!c) { problems.push(`unknown setting '${echo(key)}' ignored`); continue; }
    if (key === 'task' || key === 'algorithm') continue;
    const [value, problem] = coerce(c, raw, state[key]);
    state[key] = value;
    if (problem) problems.push(problem);
  }
  // shots + queries within a class's images: the shots kept as asked where they can be, the queries get the rest
  const images = imagesPerClass(table, state.task);
  if (images !== null && state.shots + state.queries > images) {
    const [shots, queries] = [Math.min(state.shots, images - 1), Math.min(state.queries, images - Math.min(state.shots, images - 1))];
    problems.push(`shots=${state.shots} and queries=${state.queries} need ${count(state.shots + state.queries, 'image')} of a class, and a ${state.task} class has ${images}; using shots=${shots}, queries=${queries}`);
    Object.assign(state, { shots, queries });
  }
  return { state, problems };
}

/** The hash of a state: every key, so a link pins the run even if the presets change later. */
export function toHash(table, state) {
  const params = new URLSearchParams();
  for (const c of table.controls) params.set(c.key, String(state[c.key]));
  return '#' + params.toString();
}

/** The settings JSON the wasm handle takes: every control's value but the page's own (backend, start). */
export function settings(table, state) {
  return Object.fromEntries(table.controls.filter((c) => !PAGE_ONLY.includes(c)).map((c) => [c.key, state[c.key]]));
}

/** Whether going from `before` to `after` needs a new run: a control that is not live changed. */
export function needsReset(table, before, after) {
  return table.controls.some((c) => !c.live && !c.speed && before[c.key] !== after[c.key]);
}
