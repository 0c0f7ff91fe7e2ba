// Adaptation that overflows. The wasm's JSON writes NaN and ±infinity as null (JSON has no
// number for them), so a meta-test or a display task adapted with too large an α comes back
// with nulls from the step where the loss blew up. Used by the worker, which pauses training
// on one as on a training divergence, and by the views, which draw only the finite steps.
import { alpha } from './run.js';

export const finite = (v) => typeof v === 'number' && Number.isFinite(v);

/** The first inner step whose loss is not finite, or -1: `losses` is one per step, 0..k. */
export const firstNonFinite = (losses) => losses.findIndex((v) => !finite(v));

/** A meta-test report's mean query loss per inner step. */
export const evaluationLosses = (report) => report.steps.map((s) => s.loss?.mean);

/** A display task's query loss per inner step. */
export const viewLosses = (view) => view.steps.map((s) => s.query_loss);

/** One sentence for a meta-test (what = 'meta-test') or display task (what = 'sampled task's
 *  adaptation') at `iteration` whose loss is not finite from inner step `step` of the run's
 *  `test_inner_steps` (`config`: the run's TrainerConfig). */
export function adaptationDiverged(what, config, step, iteration) {
  const { maml } = config;
  const k = maml.test_inner_steps;
  const [rate, overflow] = maml.algorithm === 'meta-sgd' ? [`the learned rates (from α = ${alpha(config)})`, 'overflow'] : [`α = ${alpha(config)}`, 'overflows'];
  const where = step === 0
    ? 'the query loss is not finite even before the first inner step'
    : `${rate} over ${k} inner step${k === 1 ? '' : 's'} ${overflow}: the query loss is not finite from step ${step} on`;
  const advice = step === 0 ? 'lower α (inner_lr) or β (meta_lr) and press Reset' : 'lower α (inner_lr)';
  return `The ${what} diverged at iteration ${iteration}: ${where}. Training is paused and the charts show the finite steps; ${advice}`;
}
