//! The outer loop, Algorithm 2 of Finn et al. (2017): sample tasks, adapt to each, move θ by the gradient of their query losses.

use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;
use serde::Serialize;

use super::adapt::{TaskTensors, adapt};
use super::optim::{Adam, FlatLayout, clip_on_device, meta_gradient_vector};
use super::params::{Detach, MetaParams, autodiff_grads};
use super::shares::{Shares, Sum};
use crate::config::{Algorithm, MamlConfig};
use crate::model::{Grads, Network};
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
        Self { params, optim: Adam::default(), iteration }
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
    /// Global L2 norm of the meta-gradient, before clipping.
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

/// Lines 3 to 9 of one meta-iteration: the meta-gradient for the optimiser (one flat vector
/// and its layout), the readings `[meta-loss, squared gradient norm, number correct
/// (classification)]`, and the number of query examples.
fn meta_gradient(
    params: &MetaParams,
    mut sample: impl FnMut() -> Task,
    shape: InputShape,
    config: &MamlConfig,
    shares: &Shares,
) -> (Tensor<1>, FlatLayout, Vec<Tensor<1>>, usize) {
    let meta_batch = config.meta_batch;
    // 3: sample a batch of tasks T_i ~ p(T)
    let tasks: Vec<Task> = (0..meta_batch).map(|_| sample()).collect();
    // 4-9: for each T_i, adapt θ'_i = θ − α ∇θ L_Ti(f_θ) on its support set, score f_θ'_i on
    //      its query set, and differentiate the summed query loss with respect to θ
    let sum = shares.sum(&tasks, |part, at_once| query_loss(params, part, shape, config, at_once));
    // the meta-objective is the mean over the meta-batch
    let scale = 1.0 / meta_batch as f64;
    let (grad, layout, norm2) = meta_gradient_vector(params, &sum.grads, scale);
    let n_query: usize = tasks.iter().map(|t| t.query.n).sum();
    let mut readings = vec![sum.loss.mul_scalar(scale), norm2];
    readings.extend(sum.correct);
    (grad, layout, readings, n_query)
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

/// One meta-iteration: lines 3 to 10 of Algorithm 2, numbered as in the paper. The update
/// (line 10) is applied when the pending loss and gradient norm are read and found finite;
/// on a divergence nothing changes but the iteration's tasks are spent.
pub fn meta_step<'a>(
    learner: &'a mut MetaLearner,
    sample: impl FnMut() -> Task,
    shape: InputShape,
    config: &MamlConfig,
    shares: &Shares,
) -> Pending<'a, Result<StepReport, Diverged>> {
    let MamlConfig { meta_lr: beta, grad_clip, .. } = *config;
    let (grad, layout, readings, n_query) = meta_gradient(&learner.params, sample, shape, config, shares);
    Pending::new(readings, move |values| {
        let report = report(learner.iteration + 1, values, n_query)?;
        let grad = match grad_clip {
            Some(max) if report.grad_norm > max => grad.mul_scalar(max / report.grad_norm),
            _ => grad,
        };
        // 10: θ ← θ − β ∇θ Σ_i L_Ti(f_θ'_i), with Adam's step in place of plain gradient descent
        learner.params = learner.optim.step(beta, learner.params.clone(), grad, &layout);
        learner.iteration = report.iteration;
        Ok(report)
    })
}

/// Up to `n` meta-iterations with one read of the device for all of them: each update is
/// applied at once (clipping, if any, computed on the device), and the readings are read
/// together at the end. A divergence puts the learner back to where it was before the first
/// meta-iteration that diverged, as `meta_step` would have left it, and ends the reports there;
/// the later iterations' tasks are spent. Without clipping, the same as `n` calls of `meta_step`.
/// (On WebGPU, a read waits for the GPU to finish: one per batch rather than one per
/// meta-iteration lets it work while the next iteration is recorded.)
pub fn meta_steps<'a>(
    learner: &'a mut MetaLearner,
    n: usize,
    mut sample: impl FnMut() -> Task,
    shape: InputShape,
    config: &MamlConfig,
    shares: &Shares,
) -> Pending<'a, (Vec<StepReport>, Option<Diverged>)> {
    let MamlConfig { meta_lr: beta, grad_clip, .. } = *config;
    let (mut readings, mut done) = (Vec::new(), Vec::new());
    for _ in 0..n {
        let (grad, layout, values, n_query) = meta_gradient(&learner.params, &mut sample, shape, config, shares);
        let grad = match grad_clip {
            Some(max) => clip_on_device(grad, values[1].clone(), max),
            None => grad,
        };
        done.push((learner.clone(), values.len(), n_query));
        readings.extend(values);
        learner.params = learner.optim.step(beta, learner.params.clone(), grad, &layout);
        learner.iteration += 1;
    }
    Pending::new(readings, move |values| {
        let (mut reports, mut at) = (Vec::new(), 0);
        for (before, width, n_query) in done {
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

/// Lines 4-9 for some of the meta-batch's tasks, `at_once` of them adapted together: their
/// summed query loss after adaptation, their number correct, and the loss's gradient with
/// respect to the meta-parameters. These enter as fresh leaves of a graph of their own, so that
/// the parts of a meta-batch can be differentiated apart (on threads of their own) and summed.
///
/// The query set, where most of the work is, stays off the graph: the network's hand-written
/// backward gives g'_i = ∇θ'_i L_query(θ'_i) at the adapted weights as constants, and burn's
/// autodiff carries it back through the inner loop alone, as the gradient of Σ_i ⟨θ'_i, g'_i⟩:
/// the vector-Jacobian product (dθ'_i/dθ)ᵀ g'_i, which is the meta-gradient (the chain rule,
/// exactly). The query's forward records no graph and keeps only what its backward needs.
pub fn query_loss(params: &MetaParams, tasks: &[Task], shape: InputShape, config: &MamlConfig, at_once: usize) -> Sum {
    if config.algorithm == Algorithm::Reptile {
        return reptile(params, tasks, shape, config, at_once);
    }
    let leaves = params.clone().map(&mut Detach { leaf: true });
    let (mut loss, mut correct, mut product) = (None::<Tensor<1>>, None::<Tensor<1>>, None::<Tensor<1>>);
    for chunk in tasks.chunks(at_once) {
        let t = TaskTensors::new(chunk, shape, &params.theta.device());
        let adapted = adapt(&leaves, &t, config); // 5-7: the support set D
        let (net, x) = adapted.query_network(); // 8: the query set D'
        let target = t.query.inner();
        let query = net.valid().loss_and_grads(x.inner(), &target);
        accumulate(&mut correct, target.correct(query.outputs));
        accumulate(&mut loss, Some(query.loss));
        accumulate(&mut product, Some(inner_product(&net, &query.grads)));
    }
    let loss = loss.expect("a part of a meta-batch has at least one task");
    let grads = autodiff_grads(&leaves, &product.expect("some tasks").backward());
    Sum { loss, correct, grads }
}

/// Σ_p ⟨p, g_p⟩ over `net`'s parameters, tracked, with constant gradients `grads` from the plain
/// device: its gradient with respect to whatever `net` was computed from is the vector-Jacobian
/// product of `grads`.
fn inner_product(net: &Network, grads: &Grads) -> Tensor<1> {
    struct Dot<'a>(&'a Grads, Option<Tensor<1>>);
    impl ModuleVisitor for Dot<'_> {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            let Some(g) = self.0.0.get(&p.id) else { return };
            let n = p.shape().num_elements();
            let term = (p.val().reshape([n]) * Tensor::from_inner(g.clone())).sum();
            self.1 = Some(match self.1.take() {
                Some(acc) => acc + term,
                None => term,
            });
        }
    }
    let mut dot = Dot(grads, None);
    net.visit(&mut dot);
    dot.1.expect("a network has parameters")
}

/// Reptile's lines 4-9: no gradient flows through its inner loop, so it runs on the plain
/// device, and its direction Σ_i (θ − θ'_i) takes the place of the gradient, which Adam
/// follows as it would a gradient. The query loss is only measured.
fn reptile(params: &MetaParams, tasks: &[Task], shape: InputShape, config: &MamlConfig, at_once: usize) -> Sum {
    let plain = params.valid();
    let (mut loss, mut correct, mut direction) = (None::<Tensor<1>>, None::<Tensor<1>>, Grads::default());
    for chunk in tasks.chunks(at_once) {
        let t = TaskTensors::new(chunk, shape, &plain.theta.device());
        let adapted = adapt(&plain, &t, config);
        let out = adapted.query_outputs();
        accumulate(&mut correct, t.query.correct(out.clone()));
        accumulate(&mut loss, Some(t.query.loss(out)));
        direction = direction + toward(&plain.theta, &adapted.fast);
    }
    Sum { loss: loss.expect("a part of a meta-batch has at least one task"), correct, grads: direction }
}

/// Adds the sum of `value` (if any) to `total`.
fn accumulate(total: &mut Option<Tensor<1>>, value: Option<Tensor<1>>) {
    if let Some(v) = value {
        let v = v.sum();
        *total = Some(match total.take() {
            Some(acc) => acc + v,
            None => v,
        });
    }
}

/// Σ_i (θ − θ'_i) over the tasks of the fast weights `fast`, keyed by θ's parameters.
fn toward(theta: &Network, fast: &Network) -> Grads {
    let start = Grads::values(theta);
    let adapted = Grads::values(fast); // each [tasks · n], tasks first
    Grads(
        adapted
            .0
            .into_iter()
            .map(|(id, after)| {
                let before = start.0[&id].clone();
                let n = before.dims()[0];
                let tasks = after.dims()[0] / n;
                (id, before.mul_scalar(tasks as f64) - after.reshape([tasks, n]).sum_dim(0).reshape([n]))
            })
            .collect(),
    )
}
