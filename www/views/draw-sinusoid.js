// Your own sinusoid task: click the plot to place support points, drag one to move it, click it
// again to remove it (or type them); the curves the network fits from the meta-learned and from
// a random start are drawn after any inner step. The requests to the worker are the panel's (draw.js).
import uPlot from '../vendor/uPlot.esm.js';
import { el } from './dom.js';
import { capture } from './draw-images.js';

// the sinusoid's input range and the grid its curves are drawn on
const X_RANGE = [-5, 5];
const Y_RANGE = [-6, 6];
const GRID = Array.from({ length: 101 }, (_, i) => X_RANGE[0] + ((X_RANGE[1] - X_RANGE[0]) * i) / 100);
const HIT_PX = 10; // a click this close to a support point picks it

export class SinusoidPad {
  constructor(panel) {
    Object.assign(this, { panel, points: [] });
    this.stepInput = el('input', { type: 'range', min: 0, max: 0, value: 0, id: 'draw-step' });
    this.stepInput.addEventListener('input', () => this.drawCurves());
    this.stepOutput = el('output', { htmlFor: 'draw-step' });
    this.pointsInput = el('input', { type: 'text', id: 'draw-points', className: 'draw-points', placeholder: 'x, y; x, y; …' });
    this.pointsInput.addEventListener('change', () => this.typedPoints());
    this.pointsInput.addEventListener('blur', () => this.drawCurves()); // the typed form, tidied
    const clear = el('button', { type: 'button', textContent: 'Clear points' });
    clear.onclick = () => { this.points = []; panel.changed(); };
    const sample = el('button', { type: 'button', textContent: 'Sample points' });
    sample.title = 'the support points of a sampled sinusoid';
    sample.onclick = () => panel.fillFromSample([]);
    this.plotBox = el('div', { className: 'draw-plot', role: 'group' });
    this.plotBox.setAttribute('aria-label', 'your task: click to place a support point, drag one to move it, click it again to remove it');
    panel.body.replaceChildren(
      el('p', { className: 'hint', textContent: 'Click the plot to place support points, drag one to move it, click it again to remove it (or type them below): the network adapts to them, from the meta-learned start and from a random start.' }),
      this.plotBox,
      el('div', { className: 'tools draw-tools' },
        el('label', {}, 'support points ', this.pointsInput), clear, sample,
        el('label', {}, 'show inner step ', this.stepInput), this.stepOutput));
    this.makePlot();
  }

  destroy() {
    this.plot?.destroy();
    this.plot = null;
  }

  makePlot() {
    const width = () => Math.max(280, this.plotBox.clientWidth || 600);
    this.plot = new uPlot({
      width: width(), height: 280,
      legend: { live: false },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: false, range: X_RANGE }, y: { range: Y_RANGE } },
      axes: [{ label: 'x' }, { label: 'y', size: 40 }],
      series: [
        {},
        { label: 'meta-learned start', stroke: '#2563eb', width: 2, spanGaps: true, points: { show: false } },
        { label: 'random start', stroke: '#9ca3af', width: 2, dash: [6, 4], spanGaps: true, points: { show: false } },
        { label: 'your support points', stroke: '#ea580c', paths: () => null, points: { show: true, size: 10, fill: '#ea580c' } },
      ],
    }, this.curveData(), this.plotBox);
    new ResizeObserver(() => this.plot?.setSize({ width: width(), height: 280 })).observe(this.plotBox);
    this.wirePlot(this.plot.over);
  }

  /** Click to add, drag to move, click a point again to remove it. */
  wirePlot(over) {
    let drag = null; // {index, moved}
    const val = (e) => [this.plot.posToVal(e.offsetX, 'x'), this.plot.posToVal(e.offsetY, 'y')];
    const hit = (e) => this.points.findIndex(([x, y]) => Math.hypot(this.plot.valToPos(x, 'x') - e.offsetX, this.plot.valToPos(y, 'y') - e.offsetY) < HIT_PX);
    over.style.touchAction = 'none';
    over.addEventListener('pointerdown', (e) => {
      e.preventDefault();
      capture(over, e);
      const index = hit(e);
      drag = { index, moved: false, add: index < 0 };
      if (index < 0) {
        this.points.push(val(e));
        drag.index = this.points.length - 1;
        this.drawCurves();
      }
    });
    over.addEventListener('pointermove', (e) => {
      if (!drag) return;
      const [x, y] = val(e);
      this.points[drag.index] = [Math.min(X_RANGE[1], Math.max(X_RANGE[0], x)), Math.min(Y_RANGE[1], Math.max(Y_RANGE[0], y))];
      drag.moved = true;
      this.drawCurves();
    });
    const end = () => {
      if (!drag) return;
      if (!drag.add && !drag.moved) this.points.splice(drag.index, 1);
      drag = null;
      this.panel.changed();
    };
    over.addEventListener('pointerup', end);
    over.addEventListener('pointercancel', end);
  }

  typedPoints() {
    const text = this.pointsInput.value.trim();
    const points = text ? text.split(';').map((p) => p.split(',').map(Number)) : [];
    if (points.some((p) => p.length !== 2 || !p.every(Number.isFinite))) {
      this.panel.status.textContent = `Support points are written "x, y; x, y": "${text}" is not.`;
      return;
    }
    this.points = points;
    this.panel.changed();
  }

  curveData() {
    const result = this.panel.result;
    const steps = result?.meta_learned ?? [];
    const step = Math.min(Number(this.stepInput?.value ?? 0), Math.max(0, steps.length - 1));
    const meta = steps[step]?.outputs ?? [];
    const random = result?.random?.[step]?.outputs ?? [];
    // the support points as a sparse series on the grid's x (uPlot wants one x column)
    const xs = [...GRID.map((x, i) => [x, i, null]), ...this.points.map(([x, y]) => [x, -1, y])].sort((a, b) => a[0] - b[0]);
    return [
      xs.map(([x]) => x),
      xs.map(([, i]) => (i >= 0 && meta.length ? meta[i] : null)),
      xs.map(([, i]) => (i >= 0 && random.length ? random[i] : null)),
      xs.map(([, i, y]) => (i < 0 ? y : null)),
    ];
  }

  /** The curves after the inner step the slider shows, and the points (drawn and typed). */
  drawCurves() {
    if (!this.plot) return;
    this.plot.setData(this.curveData());
    const step = Number(this.stepInput.value);
    this.stepOutput.textContent = `${step} of ${this.stepInput.max}`;
    this.plot.series[1].label = `meta-learned start, after ${step} step${step === 1 ? '' : 's'}`;
    this.plot.series[2].label = `random start, after ${step} step${step === 1 ? '' : 's'}`;
    // the typed form follows the points, but never under the person's fingers: an answer that
    // comes while they type would otherwise put the old points back before their Enter
    if (document.activeElement !== this.pointsInput) this.pointsInput.value = this.points.map(([x, y]) => `${x.toFixed(2)}, ${y.toFixed(2)}`).join('; ');
  }

  /** The sampled task's support points (the worker's `sample`). */
  fill(t) {
    this.points = t.support_x.map((x, i) => [x, t.support_y[i]]);
    this.panel.changed();
  }

  /** The task as the worker's adapt request wants it, or a sentence saying what it lacks. */
  task() {
    if (!this.points.length) return 'Click the plot to place support points.';
    return { support_x: Float32Array.from(this.points, ([x]) => x), support_y: Float32Array.from(this.points, ([, y]) => y), query_x: Float32Array.from(GRID) };
  }

  asked() {
    return {};
  }

  /** The answer to request `id`: the slider spans its steps, at the last for a new request. */
  show(result, id) {
    this.stepInput.max = String(result.meta_learned.length - 1);
    if (id !== this.shownId) this.stepInput.value = this.stepInput.max;
    this.shownId = id;
    this.drawCurves();
  }
}
