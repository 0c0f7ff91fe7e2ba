// The run record: the one form of a run's settings, derived from the wasm's settings table
// (state.js), that the controls, the URL, the pins and the worker's messages all read. It holds
// the settings in force, the run's link (its start settings and live changes, schedule.js), the
// settings of the run the worker holds (a refused change goes back to them) and the run's number.
// It is also the only place on the page that knows which setting is α and what a speed or a
// baseline depends on.
import { coerce, bounded, needsReset, parseHash, preset, settings, toHash } from './state.js';
import { formatLive, parseLive, record, scheduleFor } from './schedule.js';

/** The inner learning rate α of a run's config (a TrainerConfig). */
export const alpha = (config) => config.maml.inner_lr;

const LEARNERS = { maml: 'MAML', reptile: 'Reptile', anil: 'ANIL', 'meta-sgd': 'Meta-SGD' };
/** The learner of a run's config as the charts name it: "MAML", "first-order MAML", "Reptile",
 *  "ANIL", "first-order Meta-SGD" (Reptile has no second order to drop). */
export function learnerName(config) {
  const { algorithm, first_order: firstOrder } = config.maml;
  const name = LEARNERS[algorithm] ?? algorithm;
  return firstOrder && algorithm !== 'reptile' ? `first-order ${name}` : name;
}

/** What a meta-test from a random start depends on beside the run and its tasks: α and the
 *  test's inner steps (the worker keeps that baseline while they stay). */
export const baselineOf = (config) => [config.maml.inner_lr, config.maml.test_inner_steps];

/** What decides a run's speed: its settings but the seed and the rates (auto measures once per shape). */
export function workShape(settings) {
  const { seed, inner_lr, meta_lr, grad_clip, meta_lr_cosine, first_order_until, test_inner_steps, ...work } = settings;
  return JSON.stringify(work);
}

/** A file name for the run of `settings`, e.g. maml-glyphs-maml-alpha0.4-first_order. */
export function fileName(settings) {
  const parts = ['maml', settings.task, settings.algorithm, `alpha${settings.inner_lr}`];
  if (settings.first_order) parts.push('first_order');
  if (settings.task === 'navigation') parts.push(settings.score_term ? 'unbiased' : 'authors_estimator');
  if (settings.start === 'meta-trained') parts.push('meta-trained');
  return parts.join('-').replace(/[^A-Za-z0-9._-]/g, '_');
}

/** `settings` with the live changes `entries` ([{iteration, key, value}], in order) applied. */
export const withLive = (settings, entries) => entries.reduce((s, e) => ({ ...s, [e.key]: e.value }), settings);

/** The sentence for another learner asked of navigation. */
const onlyMaml = (algorithm) => `navigation meta-learns with MAML only in this lab (exact, or first-order): ${algorithm} does not apply to it, so the run uses maml.`;

export class RunRecord {
  /** table: the page's settings table (state.js, readTable). */
  constructor(table) {
    this.table = table;
    this.settings = null; // the settings in force: one value per control, as the controls show them
    this.start = null; // the run's start settings: the link's keys
    this.live = []; // its live changes applied so far, [{iteration, key, value}]: the link's `live=`
    this.pending = []; // those a replay has still to apply
    this.held = null; // the settings in force in the run the worker holds: a refused change goes back to them
    this.asked = new Map(); // each run asked for and not yet ready, by generation: {settings, link: the record's link it replaces}
    this.generation = 0; // the run's number: the worker tags its messages with it, so those of a replaced run are dropped
    this.liveSent = 0; // live changes posted and not yet answered
  }

  /** The run's link: its start settings and the live changes made (or still to replay) in it. */
  link() {
    // the workers as they are now: any number gives the same run
    const start = { ...(this.start ?? this.settings), threads: this.settings.threads };
    const changes = formatLive([...this.live, ...this.pending]);
    return toHash(this.table, start) + (changes ? `&${changes}` : '');
  }

  /** The settings the wasm handle takes: every setting but the page's own. */
  forWorker(values = this.settings) {
    return settings(this.table, values);
  }

  /** `task`'s preset under `algorithm` (its paper's settings, sized for the page, and its
   *  meta-trained start where one fits), with the current seed and backend. */
  preset(task, algorithm = this.settings.algorithm) {
    return { ...preset(this.table, task, algorithm), seed: this.settings.seed, backend: this.settings.backend, threads: this.settings.threads };
  }

  /** The run a link asks for: {settings, live, problems}; `runnable(settings)` may change what
   *  cannot run here (omniglot without a zip). */
  fromLink(hash, runnable = (s) => s) {
    const parsed = parseHash(this.table, hash);
    const asked = new URLSearchParams(hash.replace(/^#/, '')).get('algorithm');
    if (parsed.state.task === 'navigation' && asked && asked !== 'maml') parsed.problems.push(onlyMaml(asked));
    const values = runnable(parsed.state);
    const live = parseLive(this.table, new URLSearchParams(hash.replace(/^#/, '')).get('live'), values);
    return { settings: values, live: live.entries, problems: [...parsed.problems, ...live.problems] };
  }

  /** A control's raw value: the settings it leads to, with {problem, key (of the problem's
   *  notice), reset (a new run is needed), changed (the live values that differ)}. A task or
   *  algorithm brings its preset: a fair comparison starts from each one's schedule. */
  change(c, raw) {
    const before = this.settings;
    let problem = null;
    let key = `setting:${c.key}`;
    if (c.key === 'task') {
      this.settings = this.preset(raw);
    } else if (c.key === 'algorithm') {
      let algorithm;
      [algorithm, problem] = coerce(c, raw, before.algorithm);
      key = problem;
      if (before.task === 'navigation' && algorithm !== 'maml') [algorithm, problem, key] = ['maml', onlyMaml(algorithm), 'navigation-maml'];
      this.settings = this.preset(before.task, algorithm);
    } else {
      // within what the task's data allows (shots + queries), not only the control's own range
      let value;
      [value, problem] = coerce(bounded(this.table, before, c), raw, before[c.key]);
      this.settings = { ...before, [c.key]: value };
    }
    const same = before[c.key] === this.settings[c.key];
    const changed = Object.fromEntries(this.table.controls.filter((k) => k.live && before[k.key] !== this.settings[k.key]).map((k) => [k.key, this.settings[k.key]]));
    return { problem, key, same, reset: needsReset(this.table, before, this.settings), changed };
  }

  /** A new run of the current settings, replaying `live` ([{iteration, key, value}], a link's):
   *  its number, and the `start` message's settings, backend and schedule. */
  begin(live = []) {
    this.generation += 1;
    this.asked.set(this.generation, { settings: { ...this.settings }, link: this.snapshot() });
    Object.assign(this, { liveSent: 0, start: { ...this.settings }, live: [], pending: live });
    return { generation: this.generation, settings: this.forWorker(), backend: this.settings.backend, threads: this.settings.threads, schedule: scheduleFor(live) };
  }

  /** The same run again, in a new worker, from its checkpoint after `iteration` meta-iterations
   *  (0: from its start) on `backend`: the settings in force there, the link as it was, and the
   *  live changes made after the checkpoint replayed, each at its iteration, so the run goes on as
   *  it went. `applied`: the live changes the checkpoint holds (the others, even one made at its
   *  iteration while paused, came after it). Its number and the `start` message, as `begin`. */
  resume(iteration, backend, applied = []) {
    this.generation += 1;
    const text = (e) => `${e.iteration}:${e.key}=${e.value}`;
    const inCheckpoint = applied.map(text);
    const all = [...this.live, ...this.pending];
    this.live = [];
    this.pending = [];
    for (const e of all) {
      const at = iteration > 0 ? inCheckpoint.indexOf(text(e)) : -1;
      if (at >= 0) { inCheckpoint.splice(at, 1); this.live.push(e); } else this.pending.push(e);
    }
    const start = { ...(this.start ?? this.settings), backend, threads: this.settings.threads };
    this.start = start;
    this.settings = withLive(start, this.live);
    this.liveSent = 0;
    this.asked.set(this.generation, { settings: { ...this.settings }, link: this.snapshot() });
    return { generation: this.generation, settings: this.forWorker(), backend, threads: this.settings.threads, schedule: scheduleFor(this.pending) };
  }

  snapshot() {
    return { start: this.start, live: this.live, pending: this.pending };
  }

  /** The worker holds run `generation` now: the one a refusal goes back to. */
  heldRun(generation) {
    const asked = this.asked.get(generation);
    if (asked) this.held = asked.settings;
    for (const g of this.asked.keys()) if (g <= generation) this.asked.delete(g);
  }

  /** The run asked for was refused: back to the run the worker holds, if any (true), its settings
   *  and link; the asked run's settings stay readable in `lastRefused`. */
  refused() {
    const asked = this.asked.get(this.generation);
    this.asked.delete(this.generation);
    this.lastRefused = asked?.settings ?? null;
    if (!asked || !this.held) return false;
    this.settings = { ...this.held };
    Object.assign(this, asked.link);
    return true;
  }

  /** A replay passed its changes up to `iteration`: they are in force and in the link's past. */
  passed(iteration) {
    const due = this.pending.filter((e) => e.iteration <= iteration);
    this.pending = this.pending.filter((e) => e.iteration > iteration);
    this.live.push(...due);
    for (const e of due) {
      this.settings = { ...this.settings, [e.key]: e.value };
      this.held = { ...this.held, [e.key]: e.value };
    }
  }

  /** The person's live changes `changed` reached the run after `iteration` meta-iterations: the
   *  link records them there, and drops what a replay had still to come (returned). */
  recorded(iteration, changed) {
    const dropped = this.pending;
    this.pending = [];
    this.liveSent = Math.max(0, this.liveSent - 1);
    this.held = { ...this.held, ...changed };
    for (const [key, value] of Object.entries(changed)) this.live = record(this.live, iteration, key, value);
    return dropped;
  }

  /** A live change the worker refused: once none is on its way, the settings go back to those
   *  the run goes on with (true). */
  liveRefused() {
    this.liveSent = Math.max(0, this.liveSent - 1);
    if (this.liveSent > 0 || !this.held) return false;
    this.settings = { ...this.held };
    return true;
  }

  /** The worker is gone: a new one holds no run. */
  forgetWorker() {
    this.held = null;
    this.asked.clear();
  }
}
