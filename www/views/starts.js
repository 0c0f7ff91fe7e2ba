// The meta-trained starts: weights that MAML meta-trained, natively, on the page's preset of a
// task (scripts/make-starts.sh writes www/starts/), so a first visit shows good adaptation at
// once. A run starts from one only when its settings are those the file was trained with; the
// choice sits beside Play ("Start from a meta-trained model" / "Train from scratch").
import { el } from './dom.js';

// the run's settings a start must share with its file's preset: every one that is not live
// (those can change during any run) and is not the page's own
const ANY_VALUE = new Set(['backend', 'threads', 'start']);

export class Starts {
  /** The choice in `box`; `onChoose(value)` hears the person pick 'meta-trained' or 'scratch'. */
  constructor(box, onChoose) {
    this.shipped = {}; // task -> {bytes, iterations, metric, tasks600, ...} from starts.json
    const group = el('fieldset', { className: 'start-choice' });
    group.append(el('legend', { textContent: 'Start' }));
    this.radios = {};
    for (const [value, text] of [['meta-trained', 'from a meta-trained model'], ['scratch', 'train from scratch']]) {
      const radio = el('input', { type: 'radio', name: 'start', id: `start-${value}`, value });
      radio.onchange = () => radio.checked && onChoose(value);
      const label = el('label', { htmlFor: radio.id, textContent: text });
      const item = el('span', { className: 'radio' });
      item.append(radio, label);
      group.append(item);
      this.radios[value] = radio;
    }
    this.hint = el('p', { className: 'hint', id: 'start-hint' });
    this.hint.setAttribute('aria-live', 'polite');
    group.setAttribute('aria-describedby', this.hint.id);
    box.append(group, this.hint);
  }

  /** Fetches the manifest and every file it names; a missing or damaged one is left out, and
   *  the returned sentences say which. */
  async load(base = new URL('../starts/', import.meta.url)) {
    const problems = [];
    let manifest = {};
    try {
      const r = await fetch(new URL('starts.json', base));
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      manifest = await r.json();
    } catch (e) {
      return [`The meta-trained starts could not be read (${e.message}); every run starts from scratch.`];
    }
    await Promise.all(Object.entries(manifest).map(async ([task, info]) => {
      try {
        const r = await fetch(new URL(info.file, base));
        if (!r.ok) throw new Error(`HTTP ${r.status}`);
        const bytes = await r.arrayBuffer();
        if (bytes.byteLength !== info.bytes) throw new Error(`${bytes.byteLength} bytes, not ${info.bytes}`);
        this.shipped[task] = { ...info, bytes };
      } catch (e) {
        problems.push(`The meta-trained ${task} start could not be read (${e.message}); ${task} runs start from scratch.`);
      }
    }));
    return problems;
  }

  /** The start for `state`: {bytes, info} when its file fits the run's settings, else {why}. */
  fit(table, state) {
    const info = this.shipped[state.task];
    if (!info) {
      const why = state.task === 'noise' ? 'the noise task has nothing to learn' : `no meta-trained start is shipped for ${state.task}`;
      return { why };
    }
    // the files are MAML's, trained from the page's preset (tests/starts.rs holds them to it)
    const want = table.presets.maml[state.task];
    const differ = table.controls.filter((c) => !c.live && !ANY_VALUE.has(c.key) && state[c.key] !== want[c.key]);
    if (differ.length) {
      return { why: `the meta-trained ${state.task} start was trained with ${differ.map((c) => `${c.key} ${want[c.key]}`).join(', ')}; this run has ${differ.map((c) => `${c.key} ${state[c.key]}`).join(', ')}` };
    }
    return { bytes: info.bytes, info };
  }

  /** Shows `state`'s start, with what it is or why the meta-trained one is not offered. */
  show(table, state) {
    const fit = this.fit(table, state);
    this.radios['meta-trained'].checked = state.start === 'meta-trained';
    this.radios.scratch.checked = state.start === 'scratch';
    this.radios['meta-trained'].disabled = !fit.bytes;
    if (!fit.bytes) this.hint.textContent = `No meta-trained start here: ${fit.why}.`;
    else if (state.start === 'meta-trained') this.hint.textContent = `MAML's start after ${fit.info.iterations} meta-iterations on this preset (trained natively; see the README). Choose scratch to watch it learn.`;
    else this.hint.textContent = 'Random weights: watch meta-learning from the beginning.';
  }
}
