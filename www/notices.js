// The page's notices. A notice says what is true now. Each has a key naming what it is about (a
// request, a divergence, a setting), and leaves when that stops being true:
//   - a newer notice with the same key replaces it;
//   - the next success of the same thing removes it (`resolve(key)`): a request's error when that
//     request next succeeds, a divergence when training (or the meta-test, or the display task)
//     next comes out finite, a navigation run's collapse when its next meta-test shows none, a
//     complaint about a setting when it next takes a valid value;
//   - a new run removes those about the run it replaces (RUN_NOTICES).
// Notices about the page itself (a link's values, a failed engine) stay until dismissed.
import { el } from './views/dom.js';

export const RUN_NOTICES = ['start', 'diverged', 'nav-collapse', 'test-diverged', 'view-diverged', 'draw', 'weights', 'importWeights', 'maml', 'replay'];

export class Notices {
  /** The notices shown in `box`. */
  constructor(box) {
    this.box = box;
    this.shown = []; // every notice shown, {text, level}
  }

  /** Removes the notices about `keys`. */
  resolve(...keys) {
    for (const n of [...this.box.children]) if (keys.includes(n.dataset.key)) n.remove();
  }

  /** Shows `text` at `level` ('info', 'warn' or 'error'), replacing the notice about `key`. */
  notice(text, level = 'info', key = text) {
    this.shown.push({ text, level });
    [...this.box.children].find((n) => n.dataset.key === key)?.remove();
    const close = el('button', { textContent: '×', title: 'dismiss' });
    const n = el('div', { className: `notice ${level}` }, el('span', { textContent: text }), close);
    n.dataset.key = key;
    close.onclick = () => n.remove();
    this.box.append(n);
  }
}
