// The control panel, built from the settings table (state.js): a slider, number field, list or
// checkbox per control, each with the control's key as its id. It shows a state and reports raw input.
import { el } from './dom.js';

const RESOLUTION = 1000; // steps of a log slider
const logToSlider = (c, v) => Math.round((RESOLUTION * Math.log(v / c.min)) / Math.log(c.max / c.min));
const sliderToLog = (c, s) => +(c.min * Math.pow(c.max / c.min, s / RESOLUTION)).toPrecision(3);
const formatLog = (v) => (v >= 0.01 ? String(+v.toPrecision(3)) : v.toExponential(1));

function input(c) {
  if (c.values) {
    // an enum, or an int that takes only some values
    const select = el('select');
    for (const v of c.values) select.append(new Option(String(v), String(v)));
    return select;
  }
  if (c.kind === 'bool') return el('input', { type: 'checkbox' });
  if (c.live) {
    const range = el('input', { type: 'range', step: 1 });
    return Object.assign(range, c.kind === 'log' ? { min: 0, max: RESOLUTION } : { min: c.min, max: c.max });
  }
  return el('input', { type: 'number', min: c.min, max: c.max, step: 1 });
}

/** A sentence under a control, for the tasks it applies to. */
const HINTS = {
  score_term: 'On, the meta-gradient is exact and unbiased: it adds the score-function term of the trajectories the inner step learned from. Off, the authors\' estimator: biased, but hundreds of times less noisy. At this page\'s 10 goals of 10 trajectories the unbiased one can make a run collapse.',
};

/** What shots and queries are for navigation: trajectories per goal. */
const NAV_LABELS = { shots: 'trajectories before a step', queries: 'trajectories after' };

export class Controls {
  /** One input per control of `controls`: live ones in `liveBox`, the others in `runBox`;
   *  `onInput(control, raw)` hears every change. Controls marked `own` are drawn elsewhere. */
  constructor(controls, liveBox, runBox, onInput) {
    this.controls = controls.filter((c) => !c.own);
    this.inputs = new Map();
    for (const c of this.controls) {
      const row = el('div', { className: 'row' });
      const field = input(c);
      field.id = c.key;
      const output = el('output');
      output.htmlFor = c.key;
      const label = el('label', { htmlFor: c.key, textContent: c.label });
      row.append(label, field, output);
      (c.live || c.speed ? liveBox : runBox).append(row);
      // sliders act while dragged; fields and lists when committed
      field.addEventListener(c.live ? 'input' : 'change', () => onInput(c, this.read(c)));
      this.inputs.set(c.key, { field, output, row, label });
    }
  }

  read(c) {
    const { field } = this.inputs.get(c.key);
    if (c.kind === 'bool') return field.checked;
    if (c.kind === 'log') return sliderToLog(c, Number(field.value));
    return field.value;
  }

  /** Shows `state`; `bound(c)` gives each control's range as the state leaves it (a `max` below
   *  the control's own, and a `hint` saying why), so a field never offers what cannot run. */
  show(state, bound = (c) => c) {
    for (const c of this.controls) {
      const { field, output, row, label } = this.inputs.get(c.key);
      label.textContent = (state.task === 'navigation' && NAV_LABELS[c.key]) || c.label;
      const b = bound(c);
      if (c.kind === 'int' && !c.values && !c.live) field.max = b.max;
      field.title = b.hint ?? '';
      row.querySelector('.limit')?.remove();
      // the rule once, under the second of the fields it binds
      if (b.hint && c.key === 'queries') row.append(el('p', { className: 'hint limit', textContent: b.hint }));
      if (HINTS[c.key] && !row.querySelector('.about')) row.append(el('p', { className: 'hint about', textContent: HINTS[c.key] }));
      const v = state[c.key];
      if (c.kind === 'bool') field.checked = v;
      else if (c.kind === 'log') {
        field.value = logToSlider(c, v);
        // a screen reader would read the slider's position (0..1000); it should hear the value
        field.setAttribute('aria-valuetext', formatLog(v));
      } else field.value = String(v);
      output.textContent = c.kind === 'log' ? formatLog(v) : c.live && c.kind === 'int' ? String(v) : '';
      row.hidden = (Boolean(c.images) && (state.task === 'sinusoid' || state.task === 'navigation')) || Boolean(c.only && !c.only.includes(state.task))
        // navigation runs on the CPU in one worker (worker/navigation.js): no backend or workers to choose
        || (state.task === 'navigation' && (c.key === 'backend' || c.key === 'threads'));
    }
  }
}
