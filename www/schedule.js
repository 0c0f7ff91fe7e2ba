// The live changes of a run, so that its link replays it as it was driven. A run is its start
// settings (the link's other keys) and the live changes made during it, each with the number of
// meta-iterations done when it took effect:
//
//   #task=sinusoid&…&inner_lr=0.01&live=200:inner_lr=0.4,350:first_order=true
//
// reads "after 200 meta-iterations α became 0.4; after 350, first-order was switched on". The
// worker applies each after exactly that iteration when replaying, so the seed, which fixes the
// tasks and the initial weights, gives the same meta-losses at the same iterations.
import { coerce, control } from './state.js';

/** One entry as the link writes it. */
const entryText = (e) => `${e.iteration}:${e.key}=${e.value}`;

/** The `live=` part of a link for `entries` ([{iteration, key, value}] in the order they took
 *  effect), or '' when there are none. Written as is: its characters (digits, letters, `_ . : = , -`)
 *  need no escaping in a URL's fragment. */
export function formatLive(entries) {
  return entries.length ? `live=${entries.map(entryText).join(',')}` : '';
}

/** Reads a link's `live=` value against `start`, the run's start settings. Returns the entries in
 *  the order they take effect, and a sentence for each entry it could not take as it is: an entry
 *  that cannot be read, names a setting that is not live or has a value that cannot be read is
 *  left out; a value out of range is clamped, as for the link's other keys. */
export function parseLive(table, raw, start) {
  const entries = [];
  const problems = [];
  for (const text of (raw ?? '').split(',').filter((t) => t.trim() !== '')) {
    const m = /^\s*(\d+):([a-z_]+)=(.*)$/.exec(text);
    if (!m) { problems.push(`live change '${text}' is not iteration:setting=value; left out`); continue; }
    const [, n, key, value] = m;
    const c = control(table, key);
    if (!c) { problems.push(`live change '${text}': unknown setting '${key}'; left out`); continue; }
    if (!c.live) { problems.push(`live change '${text}': ${key} is not a live setting (changing it starts a new run); left out`); continue; }
    entries.push({ iteration: Number(n), key, raw: value, c, order: entries.length });
  }
  // in the order they take effect; entries at one iteration in the order written
  entries.sort((a, b) => a.iteration - b.iteration || a.order - b.order);
  const now = { ...start };
  const out = [];
  for (const e of entries) {
    const [value, problem] = coerce(e.c, e.raw, now[e.key]);
    // a value that could not be read falls back to the one in force: no change, so left out
    const unread = problem && value === now[e.key];
    if (problem) problems.push(`live change at ${e.iteration}: ${unread ? problem.replace(/; using .*$/, '; left out') : problem}`);
    if (unread) continue;
    now[e.key] = value;
    out.push({ iteration: e.iteration, key: e.key, value });
  }
  return { entries: out, problems };
}

/** What the worker replays: for each iteration with changes, the values set there,
 *  [{iteration, settings: {key: value}}] by iteration. */
export function scheduleFor(entries) {
  const groups = [];
  for (const e of entries) {
    const last = groups[groups.length - 1];
    if (last?.iteration === e.iteration) last.settings[e.key] = e.value;
    else groups.push({ iteration: e.iteration, settings: { [e.key]: e.value } });
  }
  return groups;
}

/** `entries` with `key` set to `value` after `iteration` meta-iterations: a second change of the
 *  same setting at the same iteration replaces the first (only the last reached the run). */
export function record(entries, iteration, key, value) {
  const same = entries.findIndex((e) => e.iteration === iteration && e.key === key);
  if (same >= 0) return entries.map((e, i) => (i === same ? { ...e, value } : e));
  return [...entries, { iteration, key, value }];
}
