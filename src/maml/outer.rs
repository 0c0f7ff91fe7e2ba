//! The outer loop's one entry point, `meta_steps`: meta-iterations of the run's learner (`learners`), each ending in the one update they share, read from the device once.

use burn::prelude::*;
use serde::Serialize;

use super::learners::{maml, reptile};
use super::optim::{Adam, clip_on_device, meta_gradient_vector};
use super::params::MetaParams;
use super::shares::{Shares, Sum, fold};
use crate::config::{Algorithm, MamlConfig};
use crate::pending::Pending;
use crate::tasks::{InputShape, Task};

/// What the outer loop carries from one meta-iteration to the next. A clone is cheap (tensors
/// are shared) and keeps a state to come back to.
#[derive(Clone)]
pub struct MetaLearner {
    /// θ (one task) and Meta-SGD's rates, on an autodiff device.
    pub params: MetaParams,
    /// Adam's moment estimates for them.
    optim: Adam,
    /// Meta-iterations done.
    pub iteration: usize,
}

impl MetaLearner {
    pub fn new(params: MetaParams, iteration: usize) -> Self {
        Self::resumed(params, Adam::default(), iteration)
    }

    /// A learner that goes on from a checkpoint, with Adam's state as it was.
    pub fn resumed(params: MetaParams, optim: Adam, iteration: usize) -> Self {
        Self { params, optim, iteration }
    }

    /// Adam's state, for a checkpoint.
    pub fn optim(&self) -> &Adam {
        &self.optim
    }
}

/// What one meta-iteration did.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct StepReport {
    /// Meta-iterations done, this one included.
    pub iteration: usize,
    /// Mean query loss after adaptation over the meta-batch: the loss MAML minimises.
    pub meta_loss: f64,
    /// Query accuracy after adaptation over the meta-batch, in [0, 1] (classification only).
    pub accuracy: Option<f64>,
    /// Global L2 norm of the meta-gradient (Reptile: of its direction), before clipping.
    pub grad_norm: f64,
}

/// A meta-iteration whose loss or gradient was not finite; θ and Adam were left as they were.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error(
    "training diverged at iteration {iteration}: the {what} is not finite. The last finite weights are kept; lower α (inner_lr) or β (meta_lr) and go on"
)]
pub struct Diverged {
    pub iteration: usize,
    pub what: &'static str,
}

/// One meta-iteration of a learner (`learners::maml`, `learners::reptile`): it moves the learner
/// and leaves what reports it to be read.
type MetaIteration = fn(&mut MetaLearner, &mut dyn FnMut() -> Task, InputShape, &MamlConfig, &Shares) -> Readings;

/// Up to `n` meta-iterations of `config.algorithm` on tasks from `sample`, with one read of
/// the device for all of them: each update is applied at once, clipping (if any) computed on
/// the device, and the readings are read together at the end. A divergence puts the learner
/// back to where it was before the first meta-iteration that diverged and ends the reports
/// there; the tasks of that iteration and of any after it are spent. On the CPU, `n` is 1 (a
/// report per meta-iteration); on WebGPU, where a read waits for the GPU to finish, the page
/// asks for several, so that the GPU works while the next iteration is recorded. Either way the
/// arithmetic is the same: `n` calls of one meta-iteration give the weights of one call of `n`.
pub fn meta_steps<'a>(
    learner: &'a mut MetaLearner,
    n: usize,
    mut sample: impl FnMut() -> Task,
    shape: InputShape,
    config: &MamlConfig,
    shares: &Shares,
) -> Pending<'a, (Vec<StepReport>, Option<Diverged>)> {
    let meta_iteration: MetaIteration = match config.algorithm {
        Algorithm::Maml | Algorithm::Anil | Algorithm::MetaSgd => maml,
        Algorithm::Reptile => reptile,
    };
    let mut done = Done::default();
    for _ in 0..n {
        let before = learner.clone();
        let config = config.at(learner.iteration);
        let readings = meta_iteration(learner, &mut sample, shape, &config, shares);
        done.push(before, readings);
    }
    done.pending(learner)
}

/// One meta-iteration whose meta-batch `tasks` was summed elsewhere, part by part: `sums`, one
/// per part of `shares.parts(tasks)`, in part order (the page's workers, `web::Lab::plan_step`).
/// They are added in that order and applied as `meta_steps` applies its own, so the weights are
/// those of `meta_steps(learner, 1, ..)` on the same tasks, bit for bit, whoever computed them.
pub fn meta_step_summed<'a>(learner: &'a mut MetaLearner, tasks: &[Task], sums: Vec<Sum>, config: &MamlConfig) -> Pending<'a, (Vec<StepReport>, Option<Diverged>)> {
    let mut done = Done::default();
    let before = learner.clone();
    let readings = update(learner, fold(sums), tasks, config);
    done.push(before, readings);
    done.pending(learner)
}

/// The meta-iterations of one call: each with the learner before it, to go back to if it
/// diverged, and what it left to read.
#[derive(Default)]
struct Done {
    values: Vec<Tensor<1>>,
    iterations: Vec<(MetaLearner, usize, usize)>,
}

impl Done {
    fn push(&mut self, before: MetaLearner, Readings { values, n_query }: Readings) {
        self.iterations.push((before, values.len(), n_query));
        self.values.extend(values);
    }

    /// Their reports, read at once; a divergence puts `learner` back to before the first
    /// meta-iteration that diverged.
    fn pending(self, learner: &mut MetaLearner) -> Pending<'_, (Vec<StepReport>, Option<Diverged>)> {
        let iterations = self.iterations;
        Pending::new(self.values, move |values| {
            let (mut reports, mut at) = (Vec::new(), 0);
            for (before, width, n_query) in iterations {
                match report(before.iteration + 1, &values[at..at + width], n_query) {
                    Ok(r) => reports.push(r),
                    Err(diverged) => {
                        *learner = before;
                        return (reports, Some(diverged));
                    }
                }
                at += width;
            }
            (reports, None)
        })
    }
}

/// What a meta-iteration leaves to read: `[meta-loss, squared norm of the direction, number
/// correct (classification)]`, and its number of query examples.
pub struct Readings {
    values: Vec<Tensor<1>>,
    n_query: usize,
}

/// The update every learner ends with (Algorithm 2's line 10, Reptile's line 5): the mean over
/// the meta-batch `tasks` of `sum`'s direction, clipped to `grad_clip` on the device, and Adam's
/// step of β along it: only the parameters the direction has are stepped (a zero head, which
/// the learners leave out, stays at zero). Returns the meta-iteration's readings.
pub(super) fn update(learner: &mut MetaLearner, sum: Sum, tasks: &[Task], config: &MamlConfig) -> Readings {
    // the meta-objective is the mean over the meta-batch
    let scale = 1.0 / tasks.len() as f64;
    let (direction, layout, norm2) = meta_gradient_vector(&learner.params, &sum.direction, scale);
    let mut values = vec![sum.loss.mul_scalar(scale), norm2.clone()];
    values.extend(sum.correct);
    let direction = match config.grad_clip {
        Some(max) => clip_on_device(direction, norm2, max),
        None => direction,
    };
    learner.params = learner.optim.step(config.meta_lr_at(learner.iteration), learner.params.clone(), direction, &layout);
    learner.iteration += 1;
    Readings { values, n_query: tasks.iter().map(|t| t.query.n).sum() }
}

/// The report of meta-iteration `iteration` from its readings, or why it diverged.
fn report(iteration: usize, values: &[f64], n_query: usize) -> Result<StepReport, Diverged> {
    let (meta_loss, grad_norm) = (values[0], values[1].sqrt());
    for (value, what) in [(meta_loss, "meta-loss"), (grad_norm, "meta-gradient")] {
        if !value.is_finite() {
            return Err(Diverged { iteration, what });
        }
    }
    Ok(StepReport { iteration, meta_loss, grad_norm, accuracy: values.get(2).map(|c| c / n_query as f64) })
}
