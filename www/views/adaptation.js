// One freshly sampled meta-test task adapted step by step: the support set, then for images each
// query with its predicted label after the chosen inner step (right in green, wrong in red), and
// for the sinusoid the true curve, the K support points and the prediction after each step.
import uPlot from '../vendor/uPlot.esm.js';
import { firstNonFinite, viewLosses } from '../finite.js';

const SCALE = 2;
const RIGHT = '#16a34a';
const WRONG = '#dc2626';

export class AdaptationView {
  constructor(el, caption, stepInput) {
    this.el = el;
    this.caption = caption;
    this.stepInput = stepInput;
    this.view = null;
    this.note = ''; // what adapts, when not every weight does (ANIL: the head only)
    this.labels = []; // the labels under the images as drawn: {text, x, y, width}, in canvas pixels
    stepInput.addEventListener('input', () => this.draw());
  }

  /** view: the wasm handle's View (support/query sets, predictions after each step). Steps whose
   *  loss overflowed (null in the JSON) and every one after are not drawn: the slider stops at the
   *  last finite one. */
  update(view) {
    if (!view || !Array.isArray(view.steps) || view.steps.length === 0) throw new Error('adaptation view: no steps');
    const kindChanged = !this.view || (this.view.grid_x.length > 0) !== (view.grid_x.length > 0);
    this.view = view;
    const blown = firstNonFinite(viewLosses(view));
    this.finiteSteps = blown < 0 ? view.steps.length : blown;
    const last = Math.max(0, this.finiteSteps - 1);
    // a slider at its end stays at the end when the end moves (a learner with more test steps)
    const atEnd = Number(this.stepInput.value) >= Number(this.stepInput.max);
    this.stepInput.max = String(last);
    if (atEnd || Number(this.stepInput.value) > last || kindChanged) this.stepInput.value = String(last);
    if (kindChanged) {
      this.el.replaceChildren();
      this.plot?.destroy();
      this.plot = null;
    }
    this.draw();
  }

  draw() {
    const v = this.view;
    if (!v) return;
    const total = v.steps.length - 1;
    const overflow = this.finiteSteps > total ? '' : ` (inner steps ${this.finiteSteps} to ${total} overflow: their loss is not finite)`;
    if (this.finiteSteps === 0) {
      this.caption.textContent = `${this.note}the query loss is not finite even before adapting`;
      this.el.replaceChildren();
      this.plot?.destroy();
      this.plot = this.canvas = null;
      return;
    }
    const step = Math.min(Number(this.stepInput.value), this.finiteSteps - 1);
    const s = v.steps[step];
    const loss = s.query_loss < 1e4 ? s.query_loss.toFixed(3) : s.query_loss.toExponential(2);
    const metric = s.accuracy != null ? `accuracy ${(100 * s.accuracy).toFixed(0)} %` : `MSE ${loss}`;
    this.caption.textContent = `${this.note}after ${step} inner step${step === 1 ? '' : 's'}: query loss ${loss}, ${metric}${overflow}`;
    if (v.grid_x.length > 0) this.drawCurve(v, step);
    else this.drawImages(v, s);
  }

  drawCurve(v, step) {
    const before = v.steps[0].predictions;
    const after = v.steps[step].predictions;
    // support points as a sparse series on the grid's x (uPlot wants one x column)
    const xs = [...v.grid_x, ...v.support_x];
    const order = xs.map((x, i) => [x, i]).sort((a, b) => a[0] - b[0]);
    const n = v.grid_x.length;
    const col = (f) => order.map(([, i]) => f(i));
    const data = [
      order.map(([x]) => x),
      col((i) => (i < n ? v.grid_y[i] : null)),
      col((i) => (i < n ? before[i] : null)),
      col((i) => (i < n ? after[i] : null)),
      col((i) => (i >= n ? v.support_y[i - n] : null)),
    ];
    if (!this.plot) {
      this.plot = new uPlot({
        width: Math.max(280, this.el.clientWidth), height: 260,
        legend: { live: false },
        scales: { x: { time: false } },
        axes: [{ label: 'x' }, { label: 'y', size: 50 }],
        series: [
          {},
          { label: 'true function', stroke: '#111827', width: 2, spanGaps: true, points: { show: false } },
          { label: 'before adaptation', stroke: '#9ca3af', width: 2, dash: [6, 4], spanGaps: true, points: { show: false } },
          { label: 'after adaptation', stroke: '#2563eb', width: 2, spanGaps: true, points: { show: false } },
          { label: 'support points (K)', stroke: '#ea580c', paths: () => null, points: { show: true, size: 9, fill: '#ea580c' } },
        ],
      }, data, this.el);
      new ResizeObserver(() => this.plot?.setSize({ width: Math.max(280, this.el.clientWidth), height: 260 })).observe(this.el);
    } else {
      this.plot.setData(data);
    }
    this.plot.series[3].label = `after ${step} step${step === 1 ? '' : 's'}`;
  }

  drawImages(v, s) {
    const { channels, height, width } = v.shape;
    const nSupport = v.support_y.length;
    const nQuery = v.query_y.length;
    const canvas = this.canvas ?? document.createElement('canvas');
    this.canvas = canvas;
    if (!canvas.isConnected) this.el.replaceChildren(canvas);
    const ctx = canvas.getContext('2d');
    const font = '12px system-ui, sans-serif';
    ctx.font = font;
    // a cell is as wide as its image or the widest label the task can have, whichever is wider,
    // so labels never run into their neighbours ("→ 12 (is 17)" at 20 ways is wider than a
    // glyph), and the grid keeps its shape as the predictions change
    const supportLabels = v.support_y.map((y) => `label ${y}`);
    const queryLabels = v.query_y.map((y, i) => (s.predictions[i] === y ? `→ ${y} ✓` : `→ ${s.predictions[i]} (is ${y})`));
    const top = Math.max(...v.support_y, ...v.query_y);
    const widest = Math.max(...[`label ${top}`, `→ ${top} (is ${top})`, ...supportLabels, ...queryLabels].map((t) => ctx.measureText(t).width));
    const cell = Math.ceil(Math.max(width * SCALE, widest + 4)) + 8; // wide
    const tall = height * SCALE + 8;
    const perRow = Math.max(1, Math.floor((this.el.clientWidth || 600) / cell));
    const rows = (n) => Math.ceil(n / perRow);
    const label = 14;
    canvas.width = perRow * cell;
    canvas.height = 22 + rows(nSupport) * (tall + label) + 22 + rows(nQuery) * (tall + label);
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.font = font; // resizing the canvas reset it
    this.labels = [];
    const labelAt = (text, x, y) => {
      ctx.fillText(text, x, y);
      this.labels.push({ text, x, y, width: ctx.measureText(text).width });
    };
    ctx.fillStyle = '#374151';
    ctx.fillText(`support set (${nSupport}): what the model adapts on`, 2, 14);
    const image = (x, i, px, py, border) => {
      const img = ctx.createImageData(width, height);
      const plane = width * height;
      for (let p = 0; p < plane; p++) {
        const at = (c) => x[i * channels * plane + Math.min(c, channels - 1) * plane + p];
        // ink dark on paper for one channel, true colour for three
        const [r, g, b] = channels === 1 ? [255 - at(0), 255 - at(0), 255 - at(0)] : [at(0), at(1), at(2)];
        img.data.set([r, g, b, 255], 4 * p);
      }
      const tmp = new OffscreenCanvas(width, height);
      tmp.getContext('2d').putImageData(img, 0, 0);
      ctx.imageSmoothingEnabled = false;
      ctx.drawImage(tmp, px + 4, py + 4, width * SCALE, height * SCALE);
      if (border) {
        ctx.strokeStyle = border;
        ctx.lineWidth = 3;
        ctx.strokeRect(px + 2, py + 2, width * SCALE + 4, height * SCALE + 4);
      }
    };
    let y = 22;
    for (let i = 0; i < nSupport; i++) {
      const px = (i % perRow) * cell;
      const py = y + Math.floor(i / perRow) * (tall + label);
      image(v.support_x, i, px, py, null);
      ctx.fillStyle = '#374151';
      labelAt(supportLabels[i], px + 4, py + tall + 10);
    }
    y += rows(nSupport) * (tall + label) + 18;
    ctx.fillStyle = '#374151';
    ctx.fillText('query set: predicted label (green right, red wrong)', 2, y - 4);
    for (let i = 0; i < nQuery; i++) {
      const px = (i % perRow) * cell;
      const py = y + Math.floor(i / perRow) * (tall + label);
      const right = s.predictions[i] === v.query_y[i];
      image(v.query_x, i, px, py, right ? RIGHT : WRONG);
      ctx.fillStyle = right ? RIGHT : WRONG;
      labelAt(queryLabels[i], px + 4, py + tall + 10);
    }
  }
}
