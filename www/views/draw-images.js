// Your own image task (glyphs, Omniglot): one canvas per support example (N classes x K shots,
// the run's) and a few query canvases, drawn with a mouse, a finger or a pen (pointer events),
// each beside the 28x28 the network reads (views/ink.js renders it); any canvas can be filled
// from a sampled held-out task instead. The requests to the worker are the panel's (draw.js).
import { el } from './dom.js';
import { SIDE, inkOf, paintInput, renderStrokes } from './ink.js';

const CANVAS = 112; // a drawing canvas's CSS size: 4 screen pixels per input pixel
const QUERIES = 2; // query canvases

/** Keeps a pointer's moves coming to `target` while it is down, even outside it (a synthetic
 *  event's pointer may be unknown to the browser: then there is nothing to capture). */
export function capture(target, e) {
  try { target.setPointerCapture(e.pointerId); } catch { /* not a live pointer */ }
}

/** One drawing canvas, its network view, and its buttons. */
class Cell {
  constructor(pad, { label, shot, query, seed }) {
    Object.assign(this, { pad, label, shot, query, seed, strokes: [], base: null, baseNote: '', input: null });
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
    fill.setAttribute('aria-label', `Fill ${name} from a sampled ${pad.what}`);
    fill.onclick = () => pad.panel.fillFromSample([this]);
    this.root = el('div', { className: 'draw-cell' },
      el('div', { className: 'draw-pair' }, this.canvas, this.preview),
      el('div', { className: 'draw-buttons' }, clear, fill, this.note));
    this.wire();
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

  /** Empties it; `quiet`: without telling the panel (Clear all tells it once). */
  clear(quiet = false) {
    Object.assign(this, { strokes: [], base: null, baseNote: '' });
    if (quiet) {
      this.input = null;
      this.paint();
    } else this.changed();
  }

  fill(x, note) {
    Object.assign(this, { strokes: [], base: x, baseNote: note });
    this.changed();
  }

  /** The network's input: the strokes rendered, over a sampled image if there is one; null when empty. */
  render() {
    if (!this.strokes.length && !this.base) return null;
    const { halfWidth, noise } = inkOf(this.pad.kind);
    // a sample carries its own noise
    const drawn = this.strokes.length ? renderStrokes(this.strokes, { halfWidth, noise: this.base ? 0 : noise, seed: this.seed }) : null;
    if (!this.base) return drawn;
    return drawn ? this.base.map((v, i) => Math.max(v, drawn[i])) : this.base;
  }

  changed() {
    this.input = this.render();
    this.paint();
    this.pad.panel.changed();
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
    Object.assign(ctx, { strokeStyle: '#111827', fillStyle: '#111827', lineCap: 'round', lineJoin: 'round', lineWidth: 2 * inkOf(this.pad.kind).halfWidth * scale });
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

/** The canvases of an image task: a class's examples in a row, then the queries. */
export class ImagePad {
  constructor(panel) {
    const { kind, ways, shots } = panel;
    Object.assign(this, { panel, kind, ways, shots, cells: [], queries: [] });
    this.what = kind === 'omniglot' ? 'character' : 'glyph';
    const support = el('div', { className: 'draw-grid' });
    for (let label = 0; label < ways; label++) {
      const cells = el('div', { className: 'draw-cells' });
      for (let shot = 0; shot < shots; shot++) {
        const cell = new Cell(this, { label, shot, seed: 1 + label * shots + shot });
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
    const fillAll = el('button', { type: 'button', textContent: 'Fill the empty ones from samples' });
    fillAll.onclick = () => panel.fillFromSample([...this.cells, ...this.queries].filter((c) => !c.input));
    const another = el('button', { type: 'button', textContent: 'Other samples' });
    another.title = 'the next Sample fills from another held-out task';
    another.onclick = () => panel.otherSamples();
    const clearAll = el('button', { type: 'button', textContent: 'Clear all' });
    clearAll.onclick = () => {
      for (const c of [...this.cells, ...this.queries]) c.clear(true);
      panel.changed();
    };
    const what = this.what;
    panel.body.replaceChildren(
      el('p', { className: 'hint', textContent: `Draw ${ways} classes, ${shots} example${shots > 1 ? 's' : ''} each (the run's ${ways}-way ${shots}-shot), and a query or two: the network adapts to your task and says which class each query is. The 28x28 beside each drawing is what the network sees, with the ${what}s' ink and width. Any canvas can be filled from a sampled ${what} instead.` }),
      support,
      el('div', { className: 'buttons draw-actions' }, fillAll, another, clearAll));
  }

  /** Fills `cells` from the sampled task `t` (the worker's `sample`, its exact pixels). */
  fill(t, cells) {
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

  /** The task as the worker's adapt request wants it, or a sentence saying what it lacks. */
  task() {
    const drawn = this.cells.filter((c) => c.input);
    const queries = this.queries.filter((c) => c.input);
    if (!drawn.length && !queries.length) return `Draw a ${this.what} for each class, and a query.`;
    // the worker's sentence names an empty class; a missing query is said here
    if (!queries.length) return 'Draw a query for the network to classify.';
    const join = (cells) => {
      const x = new Float32Array(cells.length * SIDE * SIDE);
      cells.forEach((c, i) => x.set(c.input, i * SIDE * SIDE));
      return x;
    };
    return { support_x: join(drawn), support_y: Float32Array.from(drawn, (c) => c.label), query_x: join(queries) };
  }

  /** What was asked, for the answer's tables: each query's and support example's input. */
  asked() {
    return {
      queries: this.queries.filter((c) => c.input).map((c) => ({ name: c.name, input: c.input })),
      support: this.cells.filter((c) => c.input).map((c) => ({ label: c.label, input: c.input })),
    };
  }
}
