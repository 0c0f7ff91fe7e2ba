// The network's answers to your own image task: per query, its 28x28, then the class
// probabilities after each inner step, the meta-learned start's and the random start's side by
// side, each class headed by its first support example.
import { el } from './dom.js';
import { SIDE, paintInput } from './ink.js';

/** A sentence for the first inner step whose numbers overflowed (JSON carries them as null). */
export function overflow(result) {
  const bad = (s) => s.support_loss === null || s.outputs.some((v) => v === null);
  const said = [['meta-learned', result.meta_learned], ['random', result.random]]
    .map(([name, steps]) => [name, steps.findIndex(bad)])
    .filter(([, step]) => step >= 0)
    .map(([name, step]) => `from the ${name} start after step ${step}`);
  return said.length ? ` Adapting overflowed ${said.join(' and ')}: lower α or the inner steps.` : '';
}

const thumb = (x) => {
  const c = el('canvas', { width: SIDE, height: SIDE, className: 'draw-thumb' });
  paintInput(c, x);
  return c;
};

/** The answer `result` ({meta_learned, random, asked: {queries, support}}) as elements. */
export function answers(result) {
  const { meta_learned: meta, random, asked } = result;
  const ways = meta[0].outputs.length / asked.queries.length;
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
  return asked.queries.map(({ name, input }, q) => {
    const last = (steps) => {
      const p = steps[steps.length - 1].outputs.slice(q * ways, (q + 1) * ways);
      return p.includes(null) ? 'nothing (it overflowed)' : `class ${p.indexOf(Math.max(...p))}`;
    };
    return el('div', { className: 'draw-query' },
      el('div', { className: 'draw-query-head' }, thumb(input), el('span', { textContent: `${name}: meta-learned start says ${last(meta)}, random start ${last(random)}` })),
      el('div', { className: 'draw-tables' }, table(meta, q, 'meta-learned start'), table(random, q, 'random start')));
  });
}
