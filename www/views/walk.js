// One inner step and the outer update as the paper writes them, each symbol with its live value
// (maml::walkthrough), on the sampled task shown above: a person steps through them with a button,
// and the numbers follow the weights as training moves them.
import { el } from './dom.js';
import { legendLines, titled, toPng } from './exports.js';

const fmt = (v) => (typeof v !== 'number' || !Number.isFinite(v) ? 'not finite' : v === 0 ? '0' : Math.abs(v) >= 1e4 || Math.abs(v) < 1e-3 ? v.toExponential(2) : String(+v.toPrecision(4)));

/** The walk's stages: a title, the formula, and its values as [symbol, value] pairs. */
export function stages(w) {
  return [
    {
      title: '1. Loss on the support set at the start θ',
      formula: 'L(θ), and its gradient ∇L(θ) by the hand-written backward',
      values: [['L(θ)', w.support_loss], ['|∇L(θ)|', w.grad_norm]],
    },
    {
      title: '2. One inner step',
      formula: "θ' = θ − α ∇L(θ)",
      values: [['α', w.alpha], ["|θ' − θ| = α |∇L(θ)|", w.step_norm], ["L(θ'), support loss after", w.support_loss_after]],
    },
    {
      title: '3. Scored on the query set',
      formula: "L'(θ) before the step, L'(θ') after it: what the step buys on examples it did not see",
      values: [["L'(θ)", w.query_loss_before], ["L'(θ')", w.query_loss]],
    },
    {
      title: '4. The task\'s meta-gradient, split',
      formula: "∇θ L'(θ') = (I − αH) ∇L'(θ') = ∇L'(θ')  −  α H ∇L'(θ'), H the Hessian of L at θ",
      values: [
        ["|∇L'(θ')|, the first-order part", w.first_order_norm],
        ["|−α H ∇L'(θ')|, the second-order correction", w.correction_norm],
        ['angle between them (°)', w.angle_degrees],
        ["|∇θ L'(θ')|, exact", w.exact_norm],
        ['cos(first-order part, exact)', w.first_order_cosine],
        ['checked: |sum − training\'s meta-gradient| / |training\'s|', w.split_error],
      ],
    },
    {
      title: '5. The outer update, this task alone',
      formula: "θ ← θ − β ∇θ L'(θ')  (training averages it over the meta-batch and takes Adam's step)",
      values: [['β', w.beta], ["|β ∇θ L'(θ')|", w.outer_step_norm]],
    },
  ];
}

/** The output biases' rows: a symbol and one value per output, shown from `stage` on. */
const BIAS_ROWS = [
  ['θ', 'theta', 0], ['∇L(θ)', 'grad', 0], ["θ'", 'adapted', 1], ["∇L'(θ')", 'first_order', 3],
  ["−α H ∇L'(θ')", 'correction', 3], ["∇θ L'(θ')", 'meta_gradient', 3], ['θ − β ∇θ L\'(θ\')', 'updated', 4],
];

export class WalkPanel {
  /** figure: the panel's figure; post(msg): to the worker. */
  constructor(figure, post) {
    this.post = post;
    this.walk = null;
    this.shown = 0; // stages shown
    const $ = (id) => figure.querySelector(`#${id}`);
    this.body = $('walk-body');
    this.caption = $('walk-caption');
    this.forward = el('button', { id: 'walk-forward', textContent: 'Step forward ▸' });
    this.all = el('button', { id: 'walk-all', textContent: 'Show all' });
    this.again = el('button', { id: 'walk-again', textContent: 'Start over' });
    this.csvButton = el('button', { className: 'csv', textContent: 'CSV', disabled: true });
    this.pngButton = el('button', { className: 'png', textContent: 'PNG', disabled: true });
    this.csvButton.setAttribute('aria-label', 'Download the inner step\'s numbers as CSV');
    this.pngButton.setAttribute('aria-label', 'Download the inner step\'s numbers as PNG');
    $('walk-tools').append(this.forward, this.all, this.again, this.csvButton, this.pngButton);
    this.forward.onclick = () => this.advance(this.shown + 1);
    this.all.onclick = () => this.advance(5);
    this.again.onclick = () => this.advance(1);
    this.ready = false;
    this.render();
  }

  /** Shows stages up to `n`; the first press asks the worker to walk (and to keep walking each
   *  display task as the weights move). */
  advance(n) {
    if (!this.ready) return;
    if (!this.on) {
      this.on = true;
      this.post({ type: 'walk', on: true });
    }
    this.shown = Math.max(1, Math.min(5, n));
    this.render();
  }

  /** The run is ready (or a new one starts): its walk comes with its display task. */
  setReady(ready, config) {
    this.ready = ready;
    if (config) {
      this.walk = null;
      this.config = config;
      if (this.on) this.post({ type: 'walk', on: true });
    }
    this.render();
  }

  update(m) {
    this.walk = m;
    this.render();
  }

  render() {
    this.forward.disabled = !this.ready || this.shown >= 5;
    this.all.disabled = !this.ready || this.shown >= 5;
    this.again.disabled = !this.ready || this.shown <= 1;
    this.csvButton.disabled = this.pngButton.disabled = !this.walk;
    const algorithm = this.config?.maml.algorithm;
    const other = algorithm && algorithm !== 'maml' ? ` This run trains with ${{ reptile: 'Reptile', anil: 'ANIL', 'meta-sgd': 'Meta-SGD' }[algorithm]}; the panel walks MAML's exact step at the same θ and α.` : '';
    if (!this.shown) {
      this.caption.textContent = `Press Step forward to walk through one inner step on the sampled task above, with the live numbers.${other}`;
      this.body.replaceChildren();
      return;
    }
    if (!this.walk) {
      this.caption.textContent = 'computing the step…';
      return;
    }
    const w = this.walk.walk;
    this.caption.textContent = `The sampled task above (task ${this.walk.index + 1}), at iteration ${this.walk.iteration}.${other}`;
    const list = stages(w).slice(0, this.shown).map((s) => el('section', { className: 'stage' },
      el('h3', { textContent: s.title }),
      el('p', { className: 'formula', textContent: s.formula }),
      el('dl', {}, ...s.values.flatMap(([k, v]) => [el('dt', { textContent: k }), el('dd', { textContent: fmt(v) })])),
    ));
    const outputs = w.bias.length;
    const rows = BIAS_ROWS.filter(([, , from]) => from < this.shown);
    const table = el('table', { className: 'bias' },
      el('thead', {}, el('tr', {}, el('th', { textContent: 'symbol' }), ...w.bias.map((_, i) => el('th', { textContent: outputs === 1 ? 'value' : `output ${i}` })))),
      el('tbody', {}, ...rows.map(([symbol, key]) => el('tr', {}, el('th', { textContent: symbol }), ...w.bias.map((b) => el('td', { textContent: fmt(b[key]) }))))),
    );
    const about = el('p', { className: 'hint', textContent: `The output layer's ${outputs === 1 ? 'bias' : `${outputs} biases`} through the step: a few of θ's own numbers, each symbol's value` });
    this.body.replaceChildren(...list, el('div', { className: 'bias-scroll' }, about, table));
  }

  /** Every number shown, as CSV rows: stage, symbol, value (the biases one per output). */
  rows() {
    const w = this.walk.walk;
    const out = [];
    for (const s of stages(w)) for (const [k, v] of s.values) out.push([s.title, k, v]);
    for (const [symbol, key] of BIAS_ROWS) w.bias.forEach((b, i) => out.push(['output biases', `${symbol} [output ${i}]`, b[key]]));
    return out;
  }

  /** The numbers of the stages shown as a PNG: a title and one line per value. */
  png(title) {
    const w = this.walk.walk;
    const scale = window.devicePixelRatio || 1;
    const lines = [];
    for (const s of stages(w).slice(0, Math.max(1, this.shown))) {
      lines.push({ bold: true, text: s.title }, { text: s.formula });
      for (const [k, v] of s.values) lines.push({ text: `    ${k} = ${fmt(v)}` });
    }
    const out = document.createElement('canvas');
    const line = 17 * scale;
    out.width = 640 * scale;
    const ctx = out.getContext('2d');
    ctx.font = `${12 * scale}px sans-serif`;
    const wrapped = lines.flatMap((l) => legendLines(ctx, [{ label: l.text }], out.width - 12 * scale, scale).map((row) => ({ bold: l.bold, text: row.map((e) => e.text).join(' ') })));
    out.height = line * (wrapped.length + 2);
    titled(ctx, title, scale, line);
    wrapped.forEach((l, i) => {
      ctx.font = `${l.bold ? 'bold ' : ''}${12 * scale}px sans-serif`;
      ctx.fillText(l.text, 6 * scale, line * (2 + i));
    });
    return toPng(out);
  }
}
export const WALK_HEADER = ['stage', 'symbol', 'value'];
