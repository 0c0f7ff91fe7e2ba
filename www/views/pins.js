// Pinned runs: "Keep this run" copies the current run's curves (its meta-loss over iterations,
// its last meta-test step by step, and the meta-test tasks' mean) under a letter and a colour,
// so the next run draws over them. Each pin's label is what differs between it and the current
// run ("first_order: false → true"), recomputed whenever the current settings change. Up to
// four, kept in the browser's storage under a versioned key, so they survive a reload. Storage
// is the one list every tab of the page shares: each change starts from what it holds (another
// tab may have pinned or removed a run since), and a tab redraws when another changes it.
import { metricsCsv, stepsCsv, chartPng, stepMeans } from './exports.js';
import { fileName } from '../run.js';
import { download, el } from './dom.js';

export const MAX_PINS = 4;
export const STORAGE_KEY = 'maml-lab.pins';
const VERSION = 1; // of the stored form below: another version is dropped, with a sentence
const MAX_PIN_POINTS = 400; // a pin's loss history is thinned to this many points
const COLOURS = ['#d97706', '#059669', '#7c3aed', '#db2777']; // none of the current run's blue, red or grey
const TAGS = ['A', 'B', 'C', 'D'];

/** Every `step`-th point of a history, keeping every meta-test point and the last point. */
export function thin(h, max = MAX_PIN_POINTS) {
  const step = Math.max(1, Math.ceil(h.x.length / max));
  const keep = h.x.map((_, i) => i % step === 0 || h.test[i] !== null || i === h.x.length - 1);
  const pick = (col) => col.filter((_, i) => keep[i]);
  return { x: pick(h.x), loss: pick(h.loss), avg: pick(h.avg), test: pick(h.test) };
}

// (a seed or a count in full: only a rate is worth rounding)
const show = (v) => (typeof v === 'number' && !Number.isInteger(v) ? String(+v.toPrecision(4)) : String(v));

/** What differs from the pinned settings to the current ones, key by key, in the table's order. */
export function difference(keys, pinned, current) {
  const differ = keys.filter((k) => pinned[k] !== current[k]);
  return differ.length ? differ.map((k) => `${k}: ${show(pinned[k])} → ${show(current[k])}`).join(', ') : 'same settings';
}

/** Whether a stored pin has what the charts read: storage can be edited by hand. */
function valid(p) {
  const numbers = (a) => Array.isArray(a) && a.every((v) => v === null || Number.isFinite(v));
  const h = p?.history;
  const s = p?.steps;
  return TAGS.includes(p?.tag) && typeof p.colour === 'string' && typeof p.settings === 'object' && p.settings !== null
    && h && numbers(h.x) && [h.loss, h.avg, h.test].every((c) => numbers(c) && c.length === h.x.length)
    && s && ['accuracy', 'mse'].includes(s.metric) && numbers(s.step) && [s.mean, s.ci95, s.random].every((c) => numbers(c) && c.length === s.step.length)
    && (p.taskMean === null || Number.isFinite(p.taskMean));
}

export class Pins {
  /** The panel in `box`. `run()` gives the current run ({record, iteration, history, evaluation}: record, the run record);
   *  `charts` are the charts to draw pins on ({name, chart, caption} each, chart with setPins and
   *  plot); `notice(text, level)` shows a sentence; `onChange()` hears every change of the pins. */
  constructor(box, { storage, run, charts, notice, onChange }) {
    Object.assign(this, { storage, run, charts, notice, onChange });
    this.list = [];
    this.keys = []; // the settings compared in labels, in the table's order
    this.current = null;
    this.saved = true; // the list is what storage holds (false once storage refused it)
    this.build(box);
    this.restore();
    // another tab pinned, removed or forgot runs: this one shows the same list
    globalThis.addEventListener?.('storage', (e) => {
      if (e.storageArea === this.storage && (e.key === STORAGE_KEY || e.key === null)) this.sync(true);
    });
  }

  build(box) {
    this.pinButton = el('button', { id: 'pin', textContent: 'Keep this run', title: 'pin its curves, then change a setting: the next run draws over them' });
    this.forgetButton = el('button', { id: 'forget-pins', textContent: 'Forget pinned runs' });
    this.items = el('ul', { id: 'pin-list', className: 'pins' });
    this.items.setAttribute('aria-label', 'pinned runs');
    this.csvButton = el('button', { id: 'export-metrics', textContent: 'Metrics CSV' });
    this.stepsButton = el('button', { id: 'export-steps', textContent: 'Inner steps CSV' });
    this.csvButton.setAttribute('aria-label', 'Download the meta-loss of the current and pinned runs by iteration, as CSV');
    this.stepsButton.setAttribute('aria-label', 'Download the meta-test of the current and pinned runs by inner step, as CSV');
    box.append(
      el('h2', { textContent: 'Runs side by side' }),
      el('div', { className: 'buttons' }, this.pinButton, this.forgetButton),
      this.items,
      el('p', { className: 'hint', id: 'pins-hint' }),
      el('div', { className: 'buttons' }, this.csvButton, this.stepsButton),
    );
    this.hint = box.querySelector('#pins-hint');
    this.pinButton.onclick = () => this.pin();
    this.forgetButton.onclick = () => this.forget();
    this.csvButton.onclick = () => this.exportCsv(metricsCsv, 'metrics');
    this.stepsButton.onclick = () => this.exportCsv(stepsCsv, 'steps');
    // each chart's own PNG button, in its caption
    for (const { name, chart, caption, title } of this.charts) {
      const b = el('button', { className: 'png', textContent: 'PNG' });
      b.setAttribute('aria-label', `Download the ${title} chart as PNG`);
      b.onclick = () => this.exportPng(name, chart, title);
      caption.append(' ', b);
    }
  }

  /** The run record (run.js): labels are recomputed against its settings. */
  setCurrent(record) {
    this.keys = record.table.controls.filter((c) => c.key !== 'backend' && c.key !== 'threads').map((c) => c.key);
    this.current = record.settings;
    this.changed(false);
  }

  /** Pins the current run. */
  pin() {
    const { record, iteration, history, evaluation } = this.run();
    const state = record.settings;
    if (!evaluation) {
      this.notice('Nothing to keep yet: the run\'s first meta-test is still running.', 'info', 'pins');
      return;
    }
    this.sync(false); // another tab's pins count: its tags are taken, and they fill the four places
    if (this.list.length >= MAX_PINS) {
      this.notice(`${MAX_PINS} runs are pinned already (in this tab or another): remove one to keep this run.`, 'warn', 'pins');
      this.changed(false);
      return;
    }
    const free = TAGS.find((t) => !this.list.some((p) => p.tag === t));
    const last = evaluation.maml.steps[evaluation.maml.steps.length - 1];
    const means = stepMeans(evaluation);
    this.list.push({
      tag: free,
      colour: COLOURS[TAGS.indexOf(free)],
      settings: Object.fromEntries(this.keys.map((k) => [k, state[k]])),
      iteration,
      history: thin(history),
      steps: means,
      // the meta-test tasks' mean after the last step: the task chart's mean line
      taskMean: means.mean[means.mean.length - 1],
      taskCi95: means.ci95[means.ci95.length - 1],
      tasks: evaluation.maml.tasks.length,
      lastStep: last.step,
    });
    this.changed(true);
  }

  remove(tag) {
    this.sync(false);
    this.list = this.list.filter((p) => p.tag !== tag);
    this.changed(true);
    // keyboard focus stays in the panel
    (this.items.querySelector('button') ?? this.pinButton).focus();
  }

  forget() {
    this.list = [];
    try { this.storage.removeItem(STORAGE_KEY); } catch { /* storage refused: nothing was kept */ }
    this.changed(false);
  }

  /** The pins with their labels against the current run. */
  labelled() {
    return this.list.map((p) => ({ ...p, label: `${p.tag} · ${this.current ? difference(this.keys, p.settings, this.current) : '…'}` }));
  }

  /** Redraws the list and the charts' pins when a pin or a label changed (a slider's every move
   *  comes here, and most change no label). */
  changed(save) {
    if (save) this.save();
    const pins = this.labelled();
    const signature = JSON.stringify(pins.map((p) => [p.tag, p.label, p.iteration]));
    if (signature === this.signature) return;
    this.signature = signature;
    this.items.replaceChildren(...pins.map((p) => {
      const li = el('li');
      const swatch = el('span', { className: 'swatch' });
      swatch.style.background = p.colour;
      const text = el('span', { className: 'pin-label', textContent: `${p.label} (${p.iteration} it)` });
      const remove = el('button', { textContent: '×', className: 'remove' });
      remove.setAttribute('aria-label', `Remove pinned run ${p.label}`);
      remove.onclick = () => this.remove(p.tag);
      li.append(swatch, text, remove);
      return li;
    }));
    const full = this.list.length >= MAX_PINS;
    this.pinButton.disabled = full;
    this.forgetButton.disabled = this.list.length === 0;
    this.hint.textContent = full
      ? `${MAX_PINS} runs pinned, the most: remove one to keep another.`
      : `Up to ${MAX_PINS}, kept in this browser's storage until forgotten, and shared by this page's tabs.`;
    this.onChange(pins);
  }

  save() {
    try {
      this.storage.setItem(STORAGE_KEY, JSON.stringify({ version: VERSION, pins: this.list }));
      this.saved = true;
    } catch (e) {
      this.saved = false;
      this.notice(`The pinned runs could not be kept in this browser's storage (${e.message}); they last until the page closes.`, 'warn');
    }
  }

  /** Takes the list storage holds now (another tab may have changed it) as this tab's, and
   *  redraws when `redraw`. Pins this tab could not save stay, beside the stored ones, while
   *  there is room; any that do not fit are dropped with a sentence. */
  sync(redraw) {
    let stored;
    try {
      stored = JSON.parse(this.storage.getItem(STORAGE_KEY) ?? 'null');
    } catch {
      return; // unreadable: restore() said so when the page opened; this tab's list stands
    }
    const theirs = stored?.version === VERSION && Array.isArray(stored.pins) ? stored.pins.filter(valid) : [];
    const unsaved = this.saved ? [] : this.list.filter((p) => !theirs.some((q) => JSON.stringify(q) === JSON.stringify(p)));
    const merged = [...theirs];
    const dropped = [];
    for (const p of unsaved) {
      const tag = TAGS.find((t) => !merged.some((q) => q.tag === t));
      if (tag) merged.push({ ...p, tag, colour: COLOURS[TAGS.indexOf(tag)] });
      else dropped.push(p);
    }
    if (dropped.length) this.notice(`Another tab filled the ${MAX_PINS} pinned places, so this tab's unsaved ${dropped.length > 1 ? 'pins' : 'pin'} ${dropped.map((p) => `(${p.iteration} it)`).join(', ')} could not be kept.`, 'warn', 'pins');
    const before = this.labelled();
    this.list = merged.slice(0, MAX_PINS);
    if (!redraw) return;
    // another tab changed the list: a pin that leaves this one's charts goes with a sentence
    const same = (a, b) => a.tag === b.tag && a.iteration === b.iteration && JSON.stringify(a.settings) === JSON.stringify(b.settings);
    const gone = before.filter((p) => !this.list.some((q) => same(p, q)));
    if (gone.length && !this.list.length) this.notice('Another tab of this page forgot the pinned runs.', 'info', 'pins');
    else if (gone.length) this.notice(`Another tab of this page removed the pinned ${gone.length > 1 ? 'runs' : 'run'} ${gone.map((p) => p.label).join('; ')}.`, 'info', 'pins');
    this.changed(false);
  }

  restore() {
    let stored = null;
    try {
      stored = JSON.parse(this.storage.getItem(STORAGE_KEY) ?? 'null');
    } catch {
      stored = { version: 'unreadable' };
    }
    if (stored === null) return;
    if (stored.version !== VERSION || !Array.isArray(stored.pins)) {
      this.notice('Pinned runs kept by another version of this page were dropped.', 'warn', 'pins');
      this.forget();
      return;
    }
    this.list = stored.pins.filter(valid).slice(0, MAX_PINS);
    if (this.list.length < stored.pins.length) this.notice('Some pinned runs in this browser\'s storage were unreadable and were dropped.', 'warn', 'pins');
    this.changed(this.list.length < stored.pins.length);
  }

  exportCsv(make, kind) {
    const run = this.run();
    download(new Blob([make(run, this.labelled())], { type: 'text/csv' }), `${fileName(run.record.settings)}-${kind}.csv`);
  }

  async exportPng(name, chart, title) {
    if (!chart.plot) return this.notice(`The ${title} chart has nothing drawn yet.`, 'info', 'pins');
    const blob = await chartPng(chart.plot, title);
    download(blob, `${fileName(this.run().record.settings)}-${name}.png`);
  }
}
