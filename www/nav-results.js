// A navigation run's results, for its charts (views/nav-charts.js, views/arena.js): the return
// per meta-iteration with its moving average, the latest meta-test and the latest arena answer.

const MAX_POINTS = 4000; // thinned past this, as results.js's loss history

export function emptyNav() {
  return {
    history: { x: [], after: [], avg: [], before: [], test: [] },
    average: { value: 0, n: 0 },
    evaluation: null,
    arena: null,
    trainedBeta: null, // the β of the last meta-iterations reported
    collapse: null, // while collapsed: {beta it collapsed at, kind of sentence shown ('lower' or 'reset')}
  };
}

/** Meta-iterations done: their returns after and before adapting, and the moving average. */
export function addNavReports(nav, reports) {
  const h = nav.history;
  const a = nav.average;
  for (const r of reports) {
    a.value = 0.95 * a.value + 0.05 * r.return_after;
    a.n += 1;
    h.x.push(r.iteration);
    h.after.push(r.return_after);
    h.avg.push(a.value / (1 - Math.pow(0.95, a.n)));
    h.before.push(r.return_before);
    h.test.push(null);
  }
  if (h.x.length > MAX_POINTS) {
    for (const k of Object.keys(h)) h[k] = h[k].filter((_, i) => i % 2 === 0 || h.test[i] !== null);
  }
}

/** A meta-test: its return after the training's inner steps goes on the objective chart, at its
 *  iteration (the last point there, or a new one at iteration 0). */
export function addNavEvaluation(nav, e, trainingSteps) {
  nav.evaluation = e;
  const h = nav.history;
  const value = e.maml[Math.min(trainingSteps, e.maml.length - 1)].mean;
  const i = h.x.length - 1;
  if (i >= 0 && h.x[i] === e.iteration) h.test[i] = value;
  else if (i < 0 || h.x[i] < e.iteration) {
    for (const [k, v] of Object.entries({ x: e.iteration, after: null, avg: null, before: null, test: value })) h[k].push(v);
  }
}

/** A sentence when the meta-learned start, after the training's inner steps, returns less than
 *  twice what the random start does on the held-out goals (returns are negative), the two
 *  intervals apart: training has driven the policy away from the goals (a collapse, all finite,
 *  so no divergence catches it). One random start is not another, by up to half as much again,
 *  hence twice. Null while it does not; else {kind, text}, kind 'lower' (lower β) or 'reset' (β
 *  is lower than `atBeta`, the β it collapsed at, and a lower β since does not bring a collapsed
 *  policy back). `config` is the run's now. */
export function collapseSentence(e, config, atBeta) {
  const k = Math.min(config.maml.inner_steps, e.maml.length - 1, e.random.length - 1);
  const [m, r] = [e.maml[k], e.random[k]];
  if (!(m.mean + m.ci < r.mean - r.ci && m.mean < 2 * r.mean)) return null;
  const f = (v) => v.toFixed(1).replace('-', '−');
  const returns = `after ${k} inner step${k === 1 ? '' : 's'} the meta-learned start returns ${f(m.mean)} on the held-out goals, far worse than a random start (${f(r.mean)})`;
  const beta = config.maml.meta_lr;
  if (beta < atBeta) {
    return { kind: 'reset', text: `Training collapsed at β ${atBeta} and has not come back at β ${beta}: ${returns}. A collapsed policy seldom finds its way back: press Reset to start again from the settings shown.` };
  }
  const unbiased = config.maml.score_term !== false;
  return { kind: 'lower', text: `Training has collapsed: ${returns}, its policy driven away from the goals. β ${beta} is too large a meta step here: `
    + `lower β (meta_lr)${unbiased ? ', or turn off "unbiased (score term)", whose meta-gradient is hundreds of times noisier,' : ''} and press Reset.` };
}
