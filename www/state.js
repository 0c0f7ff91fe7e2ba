// One typed table of every control: its default, range and whether it needs a reset; read from
// and written to location.hash (seed included), so a link reproduces a run.
// Keys are the Rust config's field names, the URL keys and the element ids.

const TASKS = ['sinusoid', 'glyphs', 'omniglot', 'noise'];

/** kind: 'enum' | 'int' | 'log' (a positive number on a log slider) | 'bool'.
 *  live: takes effect on the next meta-iteration without a reset. */
export const CONTROLS = [
  { key: 'task', kind: 'enum', values: TASKS, label: 'task' },
  { key: 'ways', kind: 'int', min: 2, max: 20, label: 'ways (N)', images: true },
  { key: 'shots', kind: 'int', min: 1, max: 20, label: 'shots (K)' },
  { key: 'queries', kind: 'int', min: 1, max: 30, label: 'queries' },
  { key: 'filters', kind: 'enum', values: ['8', '16', '32', '64'], label: 'filters', images: true },
  { key: 'seed', kind: 'int', min: 0, max: 4294967295, label: 'seed' },
  { key: 'backend', kind: 'enum', values: ['auto', 'webgpu', 'cpu'], label: 'backend' },
  { key: 'inner_lr', kind: 'log', min: 1e-4, max: 2, label: 'α inner_lr', live: true },
  { key: 'meta_lr', kind: 'log', min: 1e-5, max: 0.1, label: 'β meta_lr', live: true },
  { key: 'inner_steps', kind: 'int', min: 1, max: 10, label: 'inner steps', live: true },
  { key: 'meta_batch', kind: 'int', min: 1, max: 64, label: 'meta-batch', live: true },
  { key: 'first_order', kind: 'bool', label: 'first-order', live: true },
];

// The paper's settings per task (design.md), with the image tasks sized so that a CPU
// meta-iteration stays well under a second: 16 filters, 8 tasks and 5 queries per class.
const COMMON = { seed: 0, backend: 'auto', first_order: false, meta_lr: 0.001, inner_steps: 1 };
export const TASK_DEFAULTS = {
  sinusoid: { ...COMMON, ways: 5, shots: 10, queries: 10, filters: '16', inner_lr: 0.01, meta_batch: 25 },
  glyphs: { ...COMMON, ways: 5, shots: 1, queries: 5, filters: '16', inner_lr: 0.4, meta_batch: 8 },
  omniglot: { ...COMMON, ways: 5, shots: 1, queries: 5, filters: '16', inner_lr: 0.4, meta_batch: 8 },
  noise: { ...COMMON, ways: 5, shots: 1, queries: 5, filters: '16', inner_lr: 0.01, meta_batch: 4, inner_steps: 3 },
};

export const control = (key) => CONTROLS.find((c) => c.key === key);

export function defaults(task = 'sinusoid') {
  return { task, ...TASK_DEFAULTS[task] };
}

/** Coerces one raw value; returns [value, complaint or null]. */
export function coerce(c, raw, fallback) {
  const say = (why) => [fallback, `${c.key}=${raw} ${why}; using ${fallback}`];
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
      if (r < c.min || r > c.max) {
        const clamped = Math.min(c.max, Math.max(c.min, r));
        return [clamped, `${c.key}=${raw} is outside ${c.min}..${c.max}; using ${clamped}`];
      }
      return [r, null];
    }
    case 'log': {
      const v = Number(raw);
      if (!Number.isFinite(v) || String(raw).trim() === '') return say('is not a number');
      if (v < c.min || v > c.max) {
        const clamped = Math.min(c.max, Math.max(c.min, v));
        return [clamped, `${c.key}=${raw} is outside ${c.min}..${c.max}; using ${clamped}`];
      }
      return [v, null];
    }
  }
  throw new Error(`unknown kind ${c.kind}`);
}

/** Reads a state from a hash string; unknown keys and bad values are reported, never fatal. */
export function parseHash(hash) {
  const params = new URLSearchParams(hash.replace(/^#/, ''));
  const problems = [];
  const [task, taskProblem] = coerce(control('task'), params.get('task') ?? 'sinusoid', 'sinusoid');
  if (taskProblem) problems.push(taskProblem);
  const state = defaults(task);
  for (const [key, raw] of params) {
    const c = control(key);
    if (!c) { problems.push(`unknown setting '${key}' ignored`); continue; }
    if (key === 'task') continue;
    const [value, problem] = coerce(c, raw, state[key]);
    state[key] = value;
    if (problem) problems.push(problem);
  }
  return { state, problems };
}

/** The hash of a state: every key, so a link pins the run even if defaults change later. */
export function toHash(state) {
  const params = new URLSearchParams();
  for (const c of CONTROLS) params.set(c.key, String(state[c.key]));
  return '#' + params.toString();
}

/** The settings JSON the wasm handle takes (the Rust `Settings` struct). */
export function settings(state) {
  const images = state.task !== 'sinusoid';
  return {
    task: state.task,
    ways: images ? state.ways : undefined,
    shots: state.shots,
    queries: state.queries,
    filters: images ? Number(state.filters) : undefined,
    inner_lr: state.inner_lr,
    meta_lr: state.meta_lr,
    inner_steps: state.inner_steps,
    test_inner_steps: Math.max(state.inner_steps, images ? 3 : 10),
    meta_batch: state.meta_batch,
    first_order: state.first_order,
    seed: state.seed,
  };
}

/** Whether going from `before` to `after` needs a new run: a control that is not live changed. */
export function needsReset(before, after) {
  return CONTROLS.some((c) => !c.live && before[c.key] !== after[c.key]);
}
