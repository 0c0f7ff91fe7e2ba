//! The meta-objective's surrogate, whose gradient is an unbiased estimate of the exact meta-gradient of the post-adaptation return.
//!
//! For a task, pre-adaptation trajectories τ ~ π_θ give the inner step
//! θ' = θ + α ∇θ L(θ; τ), L the authors' REINFORCE surrogate (the mean over τ's steps of
//! log π_θ(a|s) Â, Â standardised advantages over the task's linear feature baseline, all
//! functions of τ alone). The objective J(θ) = E_τ E_{τ'~π_θ'} [R(τ')] depends on θ through θ'
//! and through the distribution of τ, so (the product rule under the expectation)
//!
//!   ∇J = E[ (dθ'/dθ)ᵀ ∇θ' E_τ'[R(τ')] ] + E[ R(τ') ∇θ log p(τ; θ) ],
//!
//! and the gradient of the surrogate
//!
//!   S(θ) = Σ_{τ'} Σ_t log π_θ'(a'|s') Â' / N'  +  (R̄' − b) Σ_τ Σ_t log π_θ(a|s)
//!
//! estimates it without bias: the first term is the policy gradient at θ' carried back through
//! the inner step, Hessian included (the policy's hand-written backward is made of tracked
//! ops; `policy`); the second is the score-function term of the pre-adaptation samples, which
//! the authors' estimator leaves out (the term DiCE, Foerster et al. 2018, and ProMP, Rothfuss
//! et al. 2019, put back). R̄' is the task's mean post-adaptation return, b a baseline that does
//! not depend on the task's own samples (a leave-one-out fit over the other tasks of the
//! meta-batch), so it changes the variance and not the mean. With several inner steps every
//! stage's samples add their log-likelihood under the fast weights that drew them (DiCE's rule).
//!
//! Unbiased means: for `discount = 1` and no baseline in Â' (then Σ_t log π Â' is REINFORCE
//! with returns-to-go, an unbiased gradient of E[R]); the authors' discount of 0.99 and their
//! baseline in Â' trade a small bias of the post-adaptation term for its variance, as theirs did.
//! `tests/navigation.rs` checks the unbiasedness, and that the estimate without the score term is
//! biased.

use burn::module::Module;
use burn::prelude::*;

use super::env::{DISCOUNT, HORIZON, Point};
use super::policy::Policy;
use super::rollout::Rollouts;
use crate::maml::adapt::{Lr, SgdStep};
use crate::maml::learners::inner_product;
use crate::maml::params::{Detach, Tile};

/// How the surrogate is built beyond the inner loop's settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Estimator {
    /// Of the advantages, in both loops (the authors': 0.99).
    pub discount: f64,
    pub horizon: usize,
    /// Subtract the linear feature baseline from the post-adaptation advantages (the authors' do).
    pub post_baseline: bool,
    /// Add the score-function term of the pre-adaptation samples (off: the authors' estimator,
    /// biased).
    pub score_term: bool,
}

impl Estimator {
    /// The paper's experiment, with the score-function term.
    pub fn paper() -> Self {
        Self { discount: DISCOUNT, horizon: HORIZON, post_baseline: true, score_term: true }
    }
}

/// The inner loop of a meta-iteration.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct InnerLoop {
    /// α: the inner policy-gradient step (gradient ascent on the return).
    pub alpha: f64,
    pub steps: usize,
    pub first_order: bool,
    /// Trajectories per task that each inner step learns from.
    pub pre: usize,
    /// Trajectories per task after adaptation, that the meta-objective scores.
    pub post: usize,
}

/// What a meta-iteration sampled: each inner step's trajectories, then the post-adaptation ones.
#[derive(Clone, Debug)]
pub struct MetaSample {
    pub pre: Vec<Rollouts>,
    pub post: Rollouts,
}

/// The surrogate S summed over the tasks (tracked, `[1]`), what it was built from, and each
/// task's score-term coefficient R̄' − b.
pub struct Surrogate {
    pub value: Tensor<1>,
    pub sample: MetaSample,
    pub coefficients: Vec<f64>,
}

/// One inner step of every task from `fast` on its trajectories `r`: the fast weights after it,
/// θ' = θ + α ∇θ L, and each task's Σ log π_θ(a|s) over `r`'s steps, `[tasks]` (tracked: the
/// score-function term's). First-order: ∇θ L is taken at a detached copy, a constant.
pub fn inner_step(fast: &Policy, r: &Rollouts, alpha: f64, first_order: bool, discount: f64) -> (Policy, Tensor<1>) {
    let device = fast.device();
    let (x, a) = r.tensors(&device);
    let (weights, mask) = (r.rows(r.inner_weights(discount), &device), r.rows(r.mask(), &device));
    let at = if first_order { fast.clone().map(&mut Detach { leaf: false }) } else { fast.clone() };
    let (log_prob, grads) = at.weighted_log_prob_grads(x.clone(), a.clone(), weights);
    // first-order on the graph: the score term still needs log π tracked at the fast weights
    let log_prob = if first_order && device.is_autodiff() { fast.log_prob(x, a) } else { log_prob };
    let tasks = r.tasks();
    let log_p = (log_prob * mask).sum_dim(1).reshape([tasks]);
    // gradient ascent on the return: SGD on −L
    (fast.clone().map(&mut SgdStep { grads: &grads, lr: &Lr::Scalar(-alpha), step: 0 }), log_p)
}

/// The weights of the post-adaptation policy gradient, `[tasks, post · horizon]`: each step's
/// advantage over the task's N' trajectories, Σ_t log π Â' / N'.
pub fn post_weights(r: &Rollouts, estimator: &Estimator) -> Vec<f32> {
    let n = r.per_task as f64;
    r.advantages(estimator.discount, estimator.post_baseline).into_iter().map(|a| (a / n) as f32).collect()
}

/// Builds the surrogate from `theta` (one task; on an autodiff device for a gradient), drawing
/// each stage's trajectories from `draw(stage, fast weights on the plain device)`: stages
/// 0..steps are the inner steps', stage `steps` the post-adaptation one. Training samples there;
/// a gradient check replays recorded trajectories.
pub fn surrogate(theta: &Policy, tasks: usize, inner: &InnerLoop, estimator: &Estimator, draw: &mut dyn FnMut(usize, &Policy) -> Rollouts) -> Surrogate {
    let mut fast = if tasks == 1 { theta.clone() } else { theta.clone().map(&mut Tile { tasks }) };
    let (mut pre, mut log_p) = (Vec::with_capacity(inner.steps), None::<Tensor<1>>);
    for stage in 0..inner.steps {
        let r = draw(stage, &fast.valid());
        let (next, lp) = inner_step(&fast, &r, inner.alpha, inner.first_order, estimator.discount);
        log_p = Some(match log_p {
            Some(acc) => acc + lp,
            None => lp,
        });
        fast = next;
        pre.push(r);
    }
    // the post-adaptation policy gradient off the graph: g' = ∇θ' Σ_t log π_θ'(a'|s') Â' / N' by
    // the hand-written backward at θ' (constants), carried back as the gradient of ⟨θ', g'⟩
    let post = draw(inner.steps, &fast.valid());
    let plain = fast.valid();
    let (x, a) = post.tensors(&plain.device());
    let (_, g) = plain.weighted_log_prob_grads(x, a, post.rows(post_weights(&post, estimator), &plain.device()));
    let mut value = inner_product(&fast, &g);
    let coefficients = score_coefficients(&post.task_returns(), &post.goals);
    if let (Some(log_p), true) = (log_p, estimator.score_term) {
        let c: Vec<f32> = coefficients.iter().map(|&c| c as f32).collect();
        let c = Tensor::<1>::from_data(TensorData::new(c, [tasks]), &log_p.device());
        value = value + (log_p * c).sum();
    }
    Surrogate { value, sample: MetaSample { pre, post }, coefficients }
}

/// Each task's R̄'_k − b_k, with b_k from the other tasks only (so that it is independent of
/// task k's samples): a least-squares line of their returns against their goal's distance from
/// the start, or their mean where the distances do not spread (one goal for all); 0 for a
/// single task (b = 0).
pub fn score_coefficients(returns: &[f64], goals: &[Point]) -> Vec<f64> {
    let k = returns.len();
    if k < 2 {
        return returns.to_vec();
    }
    let dist: Vec<f64> = goals.iter().map(|g| g[0].hypot(g[1])).collect();
    (0..k)
        .map(|i| {
            let others = (0..k).filter(|&j| j != i);
            let n = (k - 1) as f64;
            let (mx, my) = (others.clone().map(|j| dist[j]).sum::<f64>() / n, others.clone().map(|j| returns[j]).sum::<f64>() / n);
            let sxx: f64 = others.clone().map(|j| (dist[j] - mx).powi(2)).sum();
            let sxy: f64 = others.map(|j| (dist[j] - mx) * (returns[j] - my)).sum();
            let slope = if sxx > 1e-12 { sxy / sxx } else { 0.0 };
            returns[i] - (my + slope * (dist[i] - mx))
        })
        .collect()
}
