// Draw your own task: a person gives the network a task of their own and watches the meta-learned
// start tell its classes apart after an inner step or two, while a random start cannot.
//
// Image tasks (glyphs, Omniglot): one canvas per support example (N classes x K shots, the run's)
// and a few query canvases, drawn with a mouse, a finger or a pen (pointer events). Strokes are
// rendered to the network's input the way the glyphs are drawn (docs/glyphs.md): 28x28, ink 1 on
// background 0, a stroke of the glyphs' mean half-width with their one-pixel anti-aliasing ramp
// (and, for glyphs, their pixel noise); that 28x28 is shown beside each canvas. Any canvas can be
// filled from a sampled held-out task instead. Sinusoid: click the plot to place support points,
// drag one to move it, click it again to remove it.
//
// The worker adapts the task (`adapt` message) with the current weights, α and test inner steps,
// from the meta-learned start and from the meta-test's random start, and sends the query class
// probabilities (the sinusoid: the curve) after each inner step 0..k. One request in flight at a
// time: a change made meanwhile is sent when the answer comes.
import uPlot from '../vendor/uPlot.esm.js';

const SIDE = 28; // the image tasks' input: 28x28, one channel (src/tasks)
const CANVAS = 112; // a drawing canvas's CSS size: 4 screen pixels per input pixel
const QUERIES = 2; // query canvases
// docs/glyphs.md: half-width uniform(0.7, 1.2) pixels times width_mult uniform(0.8, 1.25); their means
const GLYPH_HALF_WIDTH = 0.95 * 1.025;
const GLYPH_NOISE = 0.15;
// Omniglot's pen strokes area-averaged from 105 to 28 pixels, measured by examples/ink_width.rs (README)
const OMNIGLOT_HALF_WIDTH = 0.68;
// the sinusoid's input range and the grid its curves are drawn on
const X_RANGE = [-5, 5];
const Y_RANGE = [-6, 6];
const GRID = Array.from({ length: 101 }, (_, i) => X_RANGE[0] + ((X_RANGE[1] - X_RANGE[0]) * i) / 100);
const HIT_PX = 10; // a click this close to a support point picks it

/** Keeps a pointer's moves coming to `target` while it is down, even outside it (a synthetic
 *  event's pointer may be unknown to the browser: then there is nothing to capture). */
function capture(target, e) {
  try { target.setPointerCapture(e.pointerId); } catch { /* not a live pointer */ }
}

const el = (tag, props = {}, ...children) => {
  const e = Object.assign(document.createElement(tag), props);
  e.append(...children);
  return e;
};

/** Distance from q to the segment a-b (docs/glyphs.md's render). */
function segmentDistance(qx, qy, [ax, ay], [bx, by]) {
  const [abx, aby] = [bx - ax, by - ay];
  const len2 = abx * abx + aby * aby;
  const t = len2 === 0 ? 0 : Math.min(1, Math.max(0, ((qx - ax) * abx + (qy - ay) * aby) / len2));
  return Math.hypot(qx - ax - t * abx, qy - ay - t * aby);
}

/** A small seeded generator (mulberry32): a canvas's noise is the same on every render, so the
 *  network's input only changes when the drawing does. */
function noiseSource(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Strokes (polylines in input pixels) as the network's input: I = clamp(w + 0.5 - d, 0, 1) at
 *  each pixel centre, d the distance to the nearest segment, then the task's pixel noise. */
export function renderStrokes(strokes, { halfWidth, noise, seed }) {
  const out = new Float32Array(SIDE * SIDE);
  const segments = strokes.flatMap((s) => (s.length === 1 ? [[s[0], s[0]]] : s.slice(1).map((p, i) => [s[i], p])));
  const random = noiseSource(seed);
  for (let r = 0; r < SIDE; r++) {
    for (let c = 0; c < SIDE; c++) {
      let d = Infinity;
      for (const [a, b] of segments) d = Math.min(d, segmentDistance(c + 0.5, r + 0.5, a, b));
      let ink = Math.min(1, Math.max(0, halfWidth + 0.5 - d));
      if (noise > 0) ink = Math.min(1, Math.max(0, ink + noise * (2 * random() - 1)));
      out[r * SIDE + c] = ink;
    }
  }
  return out;
}

/** A sentence for the first inner step whose numbers overflowed (JSON carries them as null). */
function overflow(result) {
  const bad = (s) => s.support_loss === null || s.outputs.some((v) => v === null);
  const said = [['meta-learned', result.meta_learned], ['random', result.random]]
    .map(([name, steps]) => [name, steps.findIndex(bad)])
    .filter(([, step]) => step >= 0)
    .map(([name, step]) => `from the ${name} start after step ${step}`);
  return said.length ? ` Adapting overflowed ${said.join(' and ')}: lower α or the inner steps.` : '';
}

/** Paints a 28x28 input (ink 1) dark on paper, as the adaptation view shows images. */
function paintInput(canvas, x) {
  const ctx = canvas.getContext('2d');
  const img = ctx.createImageData(SIDE, SIDE);
  for (let p = 0; p < SIDE * SIDE; p++) {
    const v = 255 - Math.round(255 * (x ? x[p] : 0));
    img.data.set([v, v, v, 255], 4 * p);
  }
  ctx.putImageData(img, 0, 0);
}

/** One drawing canvas, its network view, and its buttons. */
class Cell {
  constructor(panel, { label, shot, query, seed }) {
    Object.assign(this, { panel, label, shot, query, seed, strokes: [], base: null, baseNote: '' });
    const name = query === undefined ? `class ${label}, example ${shot + 1}` : `query ${query + 1}`;
    this.name = name;
    // not a tab stop: a keyboard fills it with its Sample button
    this.canvas = el('canvas', { width: CANVAS * 2, height: CANVAS * 2, className: 'draw-canvas' });
    this.canvas.setAttribute('role', 'img');
    this.canvas.setAttribute('aria-label', `${name}: drawing area (draw with a mouse, finger or pen; the buttons clear it or fill it from a sample)`);
    this.preview = el('canvas', { width: SIDE, height: SIDE, className: 'draw-preview', title: 'what the network sees (28x28)' });
    this.preview.setAttribute('role', 'img');
    this.preview.setAttribute('aria-label', `${name}: the 28x28 the network sees`);
    this.note = el('span', { className: 'draw-note' });
    const clear = el('button', { type: 'button', textContent: 'Clear' });
    clear.setAttribute('aria-label', `Clear ${name}`);
    clear.onclick = () => this.clear();
    const fill = el('button', { type: 'button', textContent: 'Sample' });
    fill.setAttribute('aria-label', `Fill ${name} from a sampled ${panel.kind === 'omniglot' ? 'character' : 'glyph'}`);
    fill.onclick = () => panel.fillFromSample([this]);
    this.root = el('div', { className: 'draw-cell' },
      el('div', { className: 'draw-pair' }, this.canvas, this.preview),
      el('div', { className: 'draw-buttons' }, clear, fill, this.note));
    this.wire();
    this.input = null;
    this.paint();
  }

  /** Pointer events: a mouse, a finger and a pen alike. */
  wire() {
    let stroke = null;
    const at = (e) => {
      const box = this.canvas.getBoundingClientRect();
      return [((e.clientX - box.left) / box.width) * SIDE, ((e.clientY - box.top) / box.height) * SIDE];
    };
    this.canvas.addEventListener('pointerdown', (e) => {
      e.preventDefault();
      capture(this.canvas, e);
      stroke = [at(e)];
      this.strokes.push(stroke);
      this.paint();
    });
    this.canvas.addEventListener('pointermove', (e) => {
      if (!stroke) return;
      // the moves the browser merged into this one, when it says (an untrusted event has none)
      const merged = e.getCoalescedEvents?.() ?? [];
      for (const ev of merged.length ? merged : [e]) stroke.push(at(ev));
      this.paint();
    });
    const end = () => {
      if (!stroke) return;
      stroke = null;
      this.changed();
    };
    this.canvas.addEventListener('pointerup', end);
    this.canvas.addEventListener('pointercancel', end);
  }

  clear() {
    Object.assign(this, { strokes: [], base: null, baseNote: '' });
    this.changed();
  }

  fill(x, note) {
    Object.assign(this, { strokes: [], base: x, baseNote: note });
    this.changed();
  }

  /** The network's input: the strokes rendered, over a sampled image if there is one; null when empty. */
  render() {
    if (!this.strokes.length && !this.base) return null;
    const { halfWidth, noise } = this.panel.style();
    // a sample carries its own noise
    const drawn = this.strokes.length ? renderStrokes(this.strokes, { halfWidth, noise: this.base ? 0 : noise, seed: this.seed }) : null;
    if (!this.base) return drawn;
    return drawn ? this.base.map((v, i) => Math.max(v, drawn[i])) : this.base;
  }

  changed() {
    this.input = this.render();
    this.paint();
    this.panel.changed();
  }

  paint() {
    const ctx = this.canvas.getContext('2d');
    const scale = this.canvas.width / SIDE;
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, this.canvas.width, this.canvas.height);
    if (this.base) {
      const tmp = el('canvas', { width: SIDE, height: SIDE });
      paintInput(tmp, this.base);
      ctx.imageSmoothingEnabled = false;
      ctx.drawImage(tmp, 0, 0, this.canvas.width, this.canvas.height);
    }
    // the stroke as wide as it will be in the 28x28: 2 w input pixels
    Object.assign(ctx, { strokeStyle: '#111827', fillStyle: '#111827', lineCap: 'round', lineJoin: 'round', lineWidth: 2 * this.panel.style().halfWidth * scale });
    for (const s of this.strokes) {
      ctx.beginPath();
      ctx.moveTo(s[0][0] * scale, s[0][1] * scale);
      for (const [x, y] of s.slice(1)) ctx.lineTo(x * scale, y * scale);
      if (s.length === 1) ctx.lineTo(s[0][0] * scale + 0.01, s[0][1] * scale);
      ctx.stroke();
    }
    paintInput(this.preview, this.strokes.length || this.base ? this.render() : null);
    this.note.textContent = this.baseNote;
  }
}

export class DrawPanel {
  /** root: the panel's element; post(msg, transfer): a message to the worker. */
  constructor(root, post) {
    Object.assign(this, { root, post, kind: null, ways: 0, shots: 0, cells: [], queries: [], points: [] });
    this.sample = null; // the sampled task fills come from: {index, task}
    this.sampleIndex = 0; // which sampled task fills come from: Other samples moves to the next
    this.sampleAsked = null; // the index of the sample requested and not yet come
    this.waitingFills = []; // cells to fill when the sample comes
    this.inFlight = false; // an adapt request is out
    this.dirty = false; // the task changed since it went out
    this.sent = 0; // the id of the latest request
    this.forgotten = false; // the worker holds a task the page no longer has: to forget once the answer is in
    this.result = null; // the latest answer: {id, iteration, meta_learned, random} and what was asked
    this.status = el('p', { className: 'draw-status', role: 'status' });
    this.status.setAttribute('aria-live', 'polite');
    this.body = el('div');
    this.results = el('div', { className: 'draw-results' });
    root.append(this.body, this.status, this.results);
  }

  /** The stroke style of the run's task (docs/glyphs.md). */
  style() {
    return this.kind === 'omniglot' ? { halfWidth: OMNIGLOT_HALF_WIDTH, noise: 0 } : { halfWidth: GLYPH_HALF_WIDTH, noise: GLYPH_NOISE };
  }

  /** A run started (config: its TrainerConfig). The same kind and size keeps what was drawn. */
  setRun(config) {
    const { kind, ways, shots } = config.task;
    const same = kind === this.kind && ways === this.ways && shots === this.shots;
    this.sample = null; // a new run: its own sampled tasks
    this.sampleAsked = null;
    this.forgotten = false; // the worker forgot it with the old run
    this.inFlight = false; // an answer still due belongs to the old run, and is dropped
    const waiting = this.waitingFills;
    this.waitingFills = [];
    if (!same) {
      Object.assign(this, { kind, ways, shots, result: null });
      this.build();
    } else {
      for (const cells of waiting) this.fillFromSample(cells);
    }
    this.changed();
  }

  build() {
    this.results.replaceChildren();
    this.plot?.destroy();
    this.plot = null;
    this.cells = [];
    this.queries = [];
    if (this.kind === 'sinusoid') return this.buildSinusoid();
    if (this.kind !== 'glyphs' && this.kind !== 'omniglot') {
      this.body.replaceChildren(el('p', { className: 'hint', textContent: `The ${this.kind} task has nothing to draw: choose glyphs, Omniglot or the sinusoid to give the network a task of your own.` }));
      return;
    }
    const what = this.kind === 'omniglot' ? 'character' : 'glyph';
    const support = el('div', { className: 'draw-grid' });
    for (let label = 0; label < this.ways; label++) {
      const cells = el('div', { className: 'draw-cells' });
      for (let shot = 0; shot < this.shots; shot++) {
        const cell = new Cell(this, { label, shot, seed: 1 + label * this.shots + shot });
        this.cells.push(cell);
        cells.append(cell.root);
      }
      support.append(el('div', { className: 'draw-class' }, el('div', { className: 'draw-label', textContent: `class ${label}` }), cells));
    }
    const queries = el('div', { className: 'draw-cells' });
    for (let q = 0; q < QUERIES; q++) {
      const cell = new Cell(this, { query: q, seed: 1000 + q });
      this.queries.push(cell);
      queries.append(cell.root);
    }
    support.append(el('div', { className: 'draw-class draw-queries' }, el('div', { className: 'draw-label', textContent: 'queries: which class?' }), queries));
    const fillAll = el('button', { type: 'button', textContent: `Fill the empty ones from samples` });
    fillAll.onclick = () => this.fillFromSample([...this.cells, ...this.queries].filter((c) => !c.input));
    const another = el('button', { type: 'button', textContent: `Other samples` });
    another.title = 'the next Sample fills from another held-out task';
    another.onclick = () => {
      this.sampleIndex += 1;
      this.sample = null;
      if (this.waitingFills.length) this.fillFromSample([]); // asks for the new one
    };
    const clearAll = el('button', { type: 'button', textContent: 'Clear all' });
    clearAll.onclick = () => { for (const c of [...this.cells, ...this.queries]) Object.assign(c, { strokes: [], base: null, baseNote: '', input: null }).paint(); this.changed(); };
    this.body.replaceChildren(
      el('p', { className: 'hint', textContent: `Draw ${this.ways} classes, ${this.shots} example${this.shots > 1 ? 's' : ''} each (the run's ${this.ways}-way ${this.shots}-shot), and a query or two: the network adapts to your task and says which class each query is. The 28x28 beside each drawing is what the network sees, with the ${what}s' ink and width. Any canvas can be filled from a sampled ${what} instead.` }),
      support,
      el('div', { className: 'buttons draw-actions' }, fillAll, another, clearAll));
  }

  buildSinusoid() {
    this.stepInput = el('input', { type: 'range', min: 0, max: 0, value: 0, id: 'draw-step' });
    this.stepInput.addEventListener('input', () => this.drawCurves());
    this.stepOutput = el('output', { htmlFor: 'draw-step' });
    this.pointsInput = el('input', { type: 'text', id: 'draw-points', className: 'draw-points', placeholder: 'x, y; x, y; …' });
    this.pointsInput.addEventListener('change', () => this.typedPoints());
    const clear = el('button', { type: 'button', textContent: 'Clear points' });
    clear.onclick = () => { this.points = []; this.changed(); };
    const sample = el('button', { type: 'button', textContent: 'Sample points' });
    sample.title = 'the support points of a sampled sinusoid';
    sample.onclick = () => this.fillFromSample([]);
    this.plotBox = el('div', { className: 'draw-plot', role: 'group' });
    this.plotBox.setAttribute('aria-label', 'your task: click to place a support point, drag one to move it, click it again to remove it');
    this.body.replaceChildren(
      el('p', { className: 'hint', textContent: 'Click the plot to place support points, drag one to move it, click it again to remove it (or type them below): the network adapts to them, from the meta-learned start and from a random start.' }),
      this.plotBox,
      el('div', { className: 'tools draw-tools' },
        el('label', {}, 'support points ', this.pointsInput), clear, sample,
        el('label', {}, 'show inner step ', this.stepInput), this.stepOutput));
    this.makePlot();
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
      this.changed();
    };
    over.addEventListener('pointerup', end);
    over.addEventListener('pointercancel', end);
  }

  typedPoints() {
    const text = this.pointsInput.value.trim();
    const points = text ? text.split(';').map((p) => p.split(',').map(Number)) : [];
    if (points.some((p) => p.length !== 2 || !p.every(Number.isFinite))) {
      this.status.textContent = `Support points are written "x, y; x, y": "${text}" is not.`;
      return;
    }
    this.points = points;
    this.changed();
  }

  curveData() {
    const steps = this.result?.meta_learned ?? [];
    const step = Math.min(Number(this.stepInput?.value ?? 0), Math.max(0, steps.length - 1));
    const meta = steps[step]?.outputs ?? [];
    const random = this.result?.random?.[step]?.outputs ?? [];
    // the support points as a sparse series on the grid's x (uPlot wants one x column)
    const xs = [...GRID.map((x, i) => [x, i, null]), ...this.points.map(([x, y]) => [x, -1, y])].sort((a, b) => a[0] - b[0]);
    return [
      xs.map(([x]) => x),
      xs.map(([, i]) => (i >= 0 && meta.length ? meta[i] : null)),
      xs.map(([, i]) => (i >= 0 && random.length ? random[i] : null)),
      xs.map(([, i, y]) => (i < 0 ? y : null)),
    ];
  }

  drawCurves() {
    if (!this.plot) return;
    this.plot.setData(this.curveData());
    const step = Number(this.stepInput.value);
    this.stepOutput.textContent = `${step} of ${this.stepInput.max}`;
    this.plot.series[1].label = `meta-learned start, after ${step} step${step === 1 ? '' : 's'}`;
    this.plot.series[2].label = `random start, after ${step} step${step === 1 ? '' : 's'}`;
    this.pointsInput.value = this.points.map(([x, y]) => `${x.toFixed(2)}, ${y.toFixed(2)}`).join('; ');
  }

  /** Fills `cells` (none: the sinusoid's points) from the sampled task, asking for it first if needed. */
  fillFromSample(cells) {
    if (!this.sample) {
      this.waitingFills.push(cells);
      if (this.sampleAsked !== this.sampleIndex) {
        this.sampleAsked = this.sampleIndex;
        this.post({ type: 'sample', index: this.sampleIndex });
      }
      return;
    }
    const t = this.sample.task;
    if (this.kind === 'sinusoid') {
      this.points = t.support_x.map((x, i) => [x, t.support_y[i]]);
      this.changed();
      return;
    }
    const n = SIDE * SIDE;
    const image = (xs, i) => Float32Array.from(xs.slice(i * n, (i + 1) * n));
    const nth = (labels, label, k) => labels.map((l, i) => [l, i]).filter(([l]) => l === label).map(([, i]) => i)[k];
    for (const cell of cells) {
      if (cell.query === undefined) {
        const i = nth(t.support_y, cell.label, cell.shot % this.shots);
        cell.fill(image(t.support_x, i), '');
      } else {
        // query j shows the class j mod N, so two queries are two classes
        const label = cell.query % this.ways;
        const perClass = t.query_y.filter((l) => l === label).length;
        const i = nth(t.query_y, label, Math.floor(cell.query / this.ways) % perClass);
        cell.fill(image(t.query_x, i), `a class ${label} sample`);
      }
    }
  }

  /** The worker's sampled task (`sample` message). */
  sampled(m) {
    if (m.index !== this.sampleIndex) return;
    this.sample = { index: m.index, task: m.sample };
    this.sampleAsked = null;
    const waiting = this.waitingFills;
    this.waitingFills = [];
    for (const cells of waiting) this.fillFromSample(cells);
  }

  /** The task as the worker's adapt request wants it, or a sentence saying what it lacks. */
  task() {
    if (this.kind === 'sinusoid') {
      if (!this.points.length) return 'Click the plot to place support points.';
      return { support_x: Float32Array.from(this.points, ([x]) => x), support_y: Float32Array.from(this.points, ([, y]) => y), query_x: Float32Array.from(GRID) };
    }
    if (!this.cells.length) return null;
    const drawn = this.cells.filter((c) => c.input);
    const queries = this.queries.filter((c) => c.input);
    if (!drawn.length && !queries.length) return `Draw a ${this.kind === 'omniglot' ? 'character' : 'glyph'} for each class, and a query.`;
    // the worker's sentence names an empty class; a missing query is said here
    if (!queries.length) return 'Draw a query for the network to classify.';
    const join = (cells) => {
      const x = new Float32Array(cells.length * SIDE * SIDE);
      cells.forEach((c, i) => x.set(c.input, i * SIDE * SIDE));
      return x;
    };
    return { support_x: join(drawn), support_y: Float32Array.from(drawn, (c) => c.label), query_x: join(queries) };
  }

  /** The task changed (or the run, or the weights): asks the worker to adapt it, one request at a time. */
  changed() {
    if (this.kind === 'sinusoid') this.drawCurves();
    const task = this.task();
    if (task === null) return;
    if (typeof task === 'string') {
      this.status.textContent = task;
      this.forget();
      return;
    }
    if (this.inFlight) {
      this.dirty = true;
      return;
    }
    this.inFlight = true;
    this.dirty = false;
    this.sent += 1;
    this.answerDue = this.sent;
    this.forgotten = false;
    this.asked = { id: this.sent, queries: this.queries.filter((c) => c.input).map((c) => ({ name: c.name, input: c.input })), support: this.cells.filter((c) => c.input).map((c) => ({ label: c.label, input: c.input })) };
    this.post({ type: 'adapt', id: this.sent, task }, [task.support_x.buffer, task.support_y.buffer, task.query_x.buffer]);
  }

  /** No task to adapt: the worker stops re-adapting the last one, the results go. */
  forget() {
    this.result = null;
    this.results.replaceChildren();
    this.sent += 1; // an answer still due is not shown
    if (this.asked) {
      this.asked = null;
      this.forgotten = true;
    }
    if (this.forgotten && !this.inFlight) {
      this.forgotten = false;
      this.post({ type: 'adapt', id: this.sent, task: null });
    }
    if (this.kind === 'sinusoid') this.drawCurves();
  }

  /** The worker's answer (`adapted` message): a request's, or a re-adaptation after the weights moved. */
  adapted(m) {
    if (this.inFlight && m.id === this.answerDue) this.inFlight = false;
    if (!this.inFlight && this.forgotten) this.forget();
    if (m.result && m.id === this.sent) {
      this.result = { ...m.result, asked: this.asked };
      this.status.textContent = `Adapted with the weights of iteration ${m.result.iteration}, α = ${m.alpha}, ${m.result.meta_learned.length - 1} inner step${m.result.meta_learned.length === 2 ? '' : 's'}${m.training ? ', refreshed as training goes' : ''}.${overflow(m.result)}`;
      if (this.kind === 'sinusoid') {
        this.stepInput.max = String(m.result.meta_learned.length - 1);
        if (m.id !== this.shownId) this.stepInput.value = this.stepInput.max;
        this.shownId = m.id;
        this.drawCurves();
      } else {
        this.showProbabilities();
      }
    }
    if (this.dirty && !this.inFlight) this.changed();
  }

  /** A refused request (`error` with request 'adapt' or 'sample'): its sentence in the panel. */
  failed(m) {
    if (m.request === 'adapt') {
      this.inFlight = false;
      this.asked = null; // the worker holds no task now
      this.result = null;
      this.results.replaceChildren();
      this.status.textContent = `${m.message[0].toUpperCase()}${m.message.slice(1)}.`;
      if (this.dirty) this.changed();
    } else {
      this.waitingFills = [];
      this.sampleAsked = null;
      this.status.textContent = `No sample to fill from: ${m.message}.`;
    }
  }

  /** Per query: its 28x28, then the class probabilities after each inner step, the meta-learned
   *  start's and the random start's side by side. */
  showProbabilities() {
    const { meta_learned: meta, random, asked } = this.result;
    const ways = meta[0].outputs.length / asked.queries.length;
    // each class's header shows its first support example
    const thumb = (x) => {
      const c = el('canvas', { width: SIDE, height: SIDE, className: 'draw-thumb' });
      paintInput(c, x);
      return c;
    };
    const firsts = Array.from({ length: ways }, (_, label) => asked.support.find((s) => s.label === label)?.input);
    const table = (steps, q, title) => {
      const head = el('tr', {}, el('th', { scope: 'col', textContent: 'step' }),
        ...firsts.map((x, label) => {
          const th = el('th', { scope: 'col' }, thumb(x), el('span', { textContent: String(label) }));
          th.setAttribute('aria-label', `class ${label}`);
          return th;
        }));
      const rows = steps.map((s) => {
        const p = s.outputs.slice(q * ways, (q + 1) * ways);
        const best = p.includes(null) ? -1 : p.indexOf(Math.max(...p));
        return el('tr', {}, el('th', { scope: 'row', textContent: String(s.step) }),
          ...p.map((v, c) => el('td', {
            textContent: v === null ? '–' : `${Math.round(100 * v)}`,
            className: c === best ? 'best' : '',
            style: `background: rgba(37, 99, 235, ${(0.85 * v).toFixed(3)}); color: ${v > 0.5 ? '#fff' : 'inherit'}`,
          })));
      });
      const fixed = (v) => (v === null ? 'overflowed' : v.toFixed(2));
      const loss = `support loss ${fixed(steps[0].support_loss)} → ${fixed(steps[steps.length - 1].support_loss)}`;
      return el('div', { className: 'draw-table' },
        el('table', {}, el('caption', { textContent: `${title}: class probabilities (%) after each inner step` }), el('thead', {}, head), el('tbody', {}, ...rows)),
        el('p', { className: 'hint', textContent: loss }));
    };
    const blocks = asked.queries.map(({ name, input }, q) => {
      const last = (steps) => {
        const p = steps[steps.length - 1].outputs.slice(q * ways, (q + 1) * ways);
        return p.includes(null) ? 'nothing (it overflowed)' : `class ${p.indexOf(Math.max(...p))}`;
      };
      return el('div', { className: 'draw-query' },
        el('div', { className: 'draw-query-head' }, thumb(input), el('span', { textContent: `${name}: meta-learned start says ${last(meta)}, random start ${last(random)}` })),
        el('div', { className: 'draw-tables' }, table(meta, q, 'meta-learned start'), table(random, q, 'random start')));
    });
    this.results.replaceChildren(...blocks);
  }
}
