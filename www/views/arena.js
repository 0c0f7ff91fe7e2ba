// The navigation arena: the unit square [−0.5, 0.5]² the goals come from, the person's goal, and
// the trajectories sampled there before adaptation and after each inner step, coloured by step,
// from the meta-learned start beside a random one. A click, a tap, or the arrow keys and Enter
// place the goal; the worker adapts to it and sends the trajectories back (`arena`).

const HALF = 0.5; // the square's half side
const VIEW = 0.75; // the half side drawn: room around the square for a goal placed outside it
const STEP_COLOURS = ['#9ca3af', '#f59e0b', '#10b981', '#2563eb', '#7c3aed', '#db2777', '#0891b2', '#65a30d', '#b91c1c', '#334155', '#a16207'];
const KEY_STEP = 0.05; // the arrow keys move the goal this far

export const stepColour = (step) => STEP_COLOURS[Math.min(step, STEP_COLOURS.length - 1)];
const fmt = (v) => String(+v.toFixed(2));

/** One canvas: one start's trajectories. */
class Panel {
  constructor(parent, title, onGoal) {
    this.figure = document.createElement('div');
    this.figure.className = 'arena-panel';
    this.title = document.createElement('p');
    this.title.className = 'arena-title';
    this.title.textContent = title;
    this.canvas = document.createElement('canvas');
    this.canvas.tabIndex = 0;
    this.canvas.setAttribute('role', 'img');
    this.canvas.setAttribute('aria-label', `${title}: no goal adapted yet`);
    this.canvas.title = 'click or tap to place the goal; arrow keys move it, Enter adapts';
    this.figure.append(this.title, this.canvas);
    parent.append(this.figure);
    this.canvas.addEventListener('pointerdown', (e) => {
      const r = this.canvas.getBoundingClientRect();
      onGoal(this.toWorld(e.clientX - r.left, e.clientY - r.top, r.width));
    });
  }
  toWorld(px, py, width) {
    return [(px / width) * 2 * VIEW - VIEW, VIEW - (py / width) * 2 * VIEW];
  }
  draw(steps, goal, shown, pending) {
    const c = this.canvas;
    const css = c.clientWidth || 300;
    const dpr = window.devicePixelRatio || 1;
    if (c.width !== Math.round(css * dpr)) { c.width = Math.round(css * dpr); c.height = Math.round(css * dpr); }
    const g = c.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    const px = (x) => ((x + VIEW) / (2 * VIEW)) * css;
    const py = (y) => ((VIEW - y) / (2 * VIEW)) * css;
    g.clearRect(0, 0, css, css);
    g.fillStyle = '#f8fafc';
    g.fillRect(0, 0, css, css);
    g.fillStyle = '#ffffff';
    g.strokeStyle = '#94a3b8';
    g.lineWidth = 1;
    g.fillRect(px(-HALF), py(HALF), px(HALF) - px(-HALF), py(-HALF) - py(HALF));
    g.strokeRect(px(-HALF), py(HALF), px(HALF) - px(-HALF), py(-HALF) - py(HALF));
    // the start, at the origin
    g.fillStyle = '#111827';
    g.beginPath(); g.arc(px(0), py(0), 3, 0, 2 * Math.PI); g.fill();
    if (steps) {
      steps.forEach((s, step) => {
        if (!shown.has(step)) return;
        g.strokeStyle = stepColour(step);
        g.globalAlpha = step === steps.length - 1 ? 0.9 : 0.55;
        g.lineWidth = step === steps.length - 1 ? 1.8 : 1.2;
        for (const path of s.paths) {
          g.beginPath();
          path.forEach(([x, y], i) => (i ? g.lineTo(px(x), py(y)) : g.moveTo(px(x), py(y))));
          g.stroke();
        }
      });
      g.globalAlpha = 1;
    }
    if (goal) {
      g.strokeStyle = pending ? '#94a3b8' : '#dc2626';
      g.lineWidth = 2.5;
      const [gx, gy] = [px(goal[0]), py(goal[1])];
      g.beginPath(); g.moveTo(gx - 7, gy - 7); g.lineTo(gx + 7, gy + 7); g.moveTo(gx + 7, gy - 7); g.lineTo(gx - 7, gy + 7); g.stroke();
    }
  }
}

export class Arena {
  /** `box`: where the panels go; `legend`, `caption`: their text; `onGoal([x, y])`: a goal placed. */
  constructor(box, legend, caption, onGoal) {
    this.legend = legend;
    this.caption = caption;
    this.result = null;
    this.goal = [0.3, -0.2];
    this.pending = false;
    this.shown = new Set([0, 1, 2, 3]);
    const place = (goal) => {
      this.goal = goal;
      this.pending = true;
      this.redraw();
      onGoal(goal);
    };
    this.panels = [new Panel(box, 'meta-learned start', place), new Panel(box, 'random start', place)];
    for (const p of this.panels) {
      p.canvas.addEventListener('keydown', (e) => {
        const d = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, 1], ArrowDown: [0, -1] }[e.key];
        if (d) {
          e.preventDefault();
          this.goal = this.goal.map((v, i) => Math.max(-VIEW, Math.min(VIEW, +(v + d[i] * KEY_STEP).toFixed(2))));
          this.pending = true;
          this.redraw();
        } else if (e.key === 'Enter' || e.key === ' ') {
          e.preventDefault();
          place(this.goal);
        }
      });
    }
    new ResizeObserver(() => this.redraw()).observe(box);
  }

  /** The worker's answer: {goal, asked, clamped, iteration, maml: [{paths, return}...], random}.
   *  While training it comes again and again for the goal placed last: a goal being moved with
   *  the keys, or placed and not yet answered, stays as it is, and so do the steps ticked off
   *  (all shown again when their number changes). */
  update(result) {
    if (this.result?.maml.length !== result.maml.length) this.shown = new Set(result.maml.map((_, i) => i));
    this.result = result;
    if (!this.pending || result.asked.every((v, i) => v === this.goal[i])) {
      this.goal = result.goal;
      this.pending = false;
    }
    this.redraw();
    this.showLegend();
  }

  showLegend() {
    const r = this.result;
    if (!r) return;
    this.legend.replaceChildren(...r.maml.map((s, step) => {
      const label = document.createElement('label');
      const box = document.createElement('input');
      box.type = 'checkbox';
      box.checked = this.shown.has(step);
      box.onchange = () => { if (box.checked) this.shown.add(step); else this.shown.delete(step); this.redraw(); };
      const swatch = document.createElement('span');
      swatch.className = 'swatch';
      swatch.style.background = stepColour(step);
      label.append(box, swatch, ` ${step === 0 ? 'before adapting' : `after ${step} step${step > 1 ? 's' : ''}`}: return ${r.maml[step].return.toFixed(1)} (random start ${r.random[step].return.toFixed(1)})`);
      return label;
    }));
    const steps = r.maml.length - 1;
    const last = `after ${steps} inner step${steps === 1 ? '' : 's'}`;
    this.caption.textContent = `Goal (${fmt(r.goal[0])}, ${fmt(r.goal[1])}) at iteration ${r.iteration}: return ${r.maml[0].return.toFixed(1)} before adapting, ${r.maml[steps].return.toFixed(1)} ${last} from the meta-learned start; ${r.random[0].return.toFixed(1)} and ${r.random[steps].return.toFixed(1)} from a random one. Returns are minus the summed distance to the goal over up to 100 steps: nearer 0 is better.`;
    const describe = (name, s) => `${name}: goal at (${fmt(r.goal[0])}, ${fmt(r.goal[1])}); return ${s.map((x) => x.return.toFixed(1)).join(', then ')} after 0 to ${steps} inner steps`;
    this.panels[0].canvas.setAttribute('aria-label', describe('meta-learned start', r.maml));
    this.panels[1].canvas.setAttribute('aria-label', describe('random start', r.random));
  }

  redraw() {
    const r = this.result;
    this.panels[0].draw(r?.maml, this.goal, this.shown, this.pending);
    this.panels[1].draw(r?.random, this.goal, this.shown, this.pending);
  }
}
