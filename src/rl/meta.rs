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
//! not depend on the task's own samples (a fit over the goals of the meta-batch's other tasks
//! and of past meta-iterations' tasks: `score_coefficients`), so it changes the variance and not
//! the mean. With several inner steps every
//! stage's samples add their log-likelihood under the fast weights that drew them (DiCE's rule).
//!
//! Unbiased means: for `discount = 1` and no baseline in Â' (then Σ_t log π Â' is REINFORCE
//! with returns-to-go, an unbiased gradient of E[R]); the authors' discount of 0.99 and their
//! baseline in Â' trade a small bias of the post-adaptation term for its variance, as theirs did.
//! `tests/navigation.rs` checks the unbiasedness, and that the estimate without the score term is
//! biased.

use std::collections::VecDeque;

use burn::module::Module;
use burn::prelude::*;

use super::baseline;
use super::env::{self, DISCOUNT, HORIZON, Point};
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
    /// Tasks of past meta-iterations the score term's baseline is fit on, besides the
    /// meta-batch's others (`score_coefficients`); 0: the meta-batch's others alone.
    pub baseline_history: usize,
}

/// The score term's baseline's memory in the paper's experiment: the tasks of the last 10
/// meta-iterations of 40.
pub const BASELINE_HISTORY: usize = 400;

impl Estimator {
    /// The paper's experiment, with the score-function term.
    pub fn paper() -> Self {
        Self { discount: DISCOUNT, horizon: HORIZON, post_baseline: true, score_term: true, baseline_history: BASELINE_HISTORY }
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

/// Inner step `stage + 1` of every task from `fast` on its trajectories `r` (drawn by
/// `fast.at_stage(stage)`): the fast weights after it, θ' = θ + α ∇θ L, and each task's Σ log
/// π(a|s) over `r`'s steps under the policy that drew them, `[tasks]` (tracked: the
/// score-function term's). First-order: ∇θ L is taken at a detached copy, a constant. With
/// per-step spreads the spread is not adapted: its gradient is left out of the step.
pub fn inner_step(fast: &Policy, r: &Rollouts, stage: usize, alpha: f64, first_order: bool, discount: f64) -> (Policy, Tensor<1>) {
    let device = fast.device();
    let (x, a) = r.tensors(&device);
    let (weights, mask) = (r.rows(r.inner_weights(discount), &device), r.rows(r.mask(), &device));
    let acting = fast.at_stage(stage);
    let at = if first_order { acting.clone().map(&mut Detach { leaf: false }) } else { acting.clone() };
    let (log_prob, mut grads) = at.weighted_log_prob_grads(x.clone(), a.clone(), weights);
    if fast.per_step_spread() {
        grads.0.remove(&acting.log_std.id);
    }
    // first-order on the graph: the score term still needs log π tracked at the fast weights
    let log_prob = if first_order && device.is_autodiff() { acting.log_prob(x, a) } else { log_prob };
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
/// each stage's trajectories from `draw(stage, the policy acting at that stage, on the plain device)`: stages
/// 0..steps are the inner steps', stage `steps` the post-adaptation one. Training samples there;
/// a gradient check replays recorded trajectories.
pub fn surrogate(theta: &Policy, tasks: usize, inner: &InnerLoop, estimator: &Estimator, history: &ReturnHistory, draw: &mut dyn FnMut(usize, &Policy) -> Rollouts) -> Surrogate {
    let mut fast = if tasks == 1 { theta.clone() } else { theta.clone().map(&mut Tile { tasks }) };
    let (mut pre, mut log_p) = (Vec::with_capacity(inner.steps), None::<Tensor<1>>);
    for stage in 0..inner.steps {
        let r = draw(stage, &fast.at_stage(stage).valid());
        let (next, lp) = inner_step(&fast, &r, stage, inner.alpha, inner.first_order, estimator.discount);
        log_p = Some(match log_p {
            Some(acc) => acc + lp,
            None => lp,
        });
        fast = next;
        pre.push(r);
    }
    // the post-adaptation policy gradient off the graph: g' = ∇θ' Σ_t log π_θ'(a'|s') Â' / N' by
    // the hand-written backward at θ' (constants), carried back as the gradient of ⟨θ', g'⟩
    let adapted = fast.at_stage(inner.steps);
    let plain = adapted.valid();
    let post = draw(inner.steps, &plain);
    let (x, a) = post.tensors(&plain.device());
    let (_, g) = plain.weighted_log_prob_grads(x, a, post.rows(post_weights(&post, estimator), &plain.device()));
    let mut value = inner_product(&adapted, &g);
    let coefficients = score_coefficients(&post.task_returns(), &post.goals, history);
    if let (Some(log_p), true) = (log_p, estimator.score_term) {
        let c: Vec<f32> = coefficients.iter().map(|&c| c as f32).collect();
        let c = Tensor::<1>::from_data(TensorData::new(c, [tasks]), &log_p.device());
        value = value + (log_p * c).sum();
    }
    Surrogate { value, sample: MetaSample { pre, post }, coefficients }
}

/// The tasks of past meta-iterations that the score term's baseline is fit on, newest last: each
/// one's goal and mean post-adaptation return. Past samples are independent of this
/// meta-iteration's, so a baseline fit on them moves the estimator's variance, not its mean.
#[derive(Clone, Debug, Default)]
pub struct ReturnHistory {
    tasks: VecDeque<(Point, f64)>,
}

impl ReturnHistory {
    /// Adds a meta-iteration's goals and mean post-adaptation returns, keeping the newest `keep`.
    pub fn record(&mut self, goals: &[Point], returns: &[f64], keep: usize) {
        self.tasks.extend(goals.iter().copied().zip(returns.iter().copied()));
        while self.tasks.len() > keep {
            self.tasks.pop_front();
        }
    }

    /// Forgets every task: returns after another inner loop (α, the inner steps) predict these
    /// poorly.
    pub fn clear(&mut self) {
        self.tasks.clear();
    }

    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }
}

/// The fewest tasks the goal surface is fit on; with fewer, the baseline is the meta-batch's line
/// in the goal's distance.
pub const SURFACE_MIN_TASKS: usize = 200;

/// Features of the goal surface: the monomials of the goal (scaled to [-1, 1]²) up to degree 4,
/// and its distance from the start. The return after adaptation depends on the goal's direction
/// as well as its distance (the meta-learned start adapts better towards some sides).
const SURFACE: usize = 16;

fn surface_features(goal: Point) -> [f64; SURFACE] {
    let (x, y) = (goal[0] / env::GOAL_RANGE, goal[1] / env::GOAL_RANGE);
    let mut f = [0.0; SURFACE];
    let mut i = 0;
    for degree in 0..=4 {
        for j in 0..=degree {
            f[i] = x.powi(degree - j) * y.powi(j);
            i += 1;
        }
    }
    f[i] = x.hypot(y);
    f
}

/// Each task's R̄'_k − b_k, with b_k independent of task k's samples: fit on the other tasks of
/// the meta-batch and the `history` of past meta-iterations. With at least `SURFACE_MIN_TASKS`
/// of them, b is a least-squares surface over the goal (`surface_features`); otherwise a
/// least-squares line of the other tasks' returns against their goal's distance from the start,
/// or their mean where the distances do not spread (one goal for all); for a single task, with
/// too little history for the surface, b = 0.
pub fn score_coefficients(returns: &[f64], goals: &[Point], history: &ReturnHistory) -> Vec<f64> {
    let k = returns.len();
    if k + history.len() > SURFACE_MIN_TASKS {
        return surface_coefficients(returns, goals, history);
    }
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

/// The goal surface's coefficients: one fit per task, on the history and the meta-batch less
/// that task (its row taken out of the normal equations).
fn surface_coefficients(returns: &[f64], goals: &[Point], history: &ReturnHistory) -> Vec<f64> {
    let meta_batch = goals.iter().copied().zip(returns.iter().copied());
    let (x, y): (Vec<[f64; SURFACE]>, Vec<f64>) = history.tasks.iter().copied().chain(meta_batch).map(|(g, r)| (surface_features(g), r)).unzip();
    let (xtx, xty) = baseline::normal_equations(&x, &y);
    let own = history.len();
    (0..returns.len())
        .map(|i| {
            let (f, r) = (&x[own + i], y[own + i]);
            let (mut a, mut b) = (xtx, xty);
            for p in 0..SURFACE {
                b[p] -= f[p] * r;
                for q in 0..SURFACE {
                    a[p][q] -= f[p] * f[q];
                }
            }
            r - baseline::predict(&baseline::fit_normal(a, b), f)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn goals(n: usize, rng: &mut Rng) -> Vec<Point> {
        (0..n).map(|_| env::sample_goal(rng)).collect()
    }

    /// A return that depends on the goal's direction and distance, as a meta-learned start's does.
    fn surface(g: Point) -> f64 {
        -10.0 - 8.0 * g[0].hypot(g[1]) + 3.0 * g[0] - 2.0 * g[0] * g[1] + 5.0 * g[1].powi(3)
    }

    /// b_k must not depend on task k's own return, whichever fit makes it: changing that return
    /// changes R̄'_k − b_k by exactly the change.
    #[test]
    fn a_tasks_baseline_ignores_its_own_return() {
        let mut rng = Rng::new(3);
        for past in [0, 400] {
            let mut history = ReturnHistory::default();
            let old = goals(past, &mut rng);
            history.record(&old, &old.iter().map(|&g| surface(g) + rng.normal()).collect::<Vec<_>>(), 400);
            let g = goals(40, &mut rng);
            let returns: Vec<f64> = g.iter().map(|&g| surface(g) + rng.normal()).collect();
            let before = score_coefficients(&returns, &g, &history);
            let mut moved = returns.clone();
            moved[7] += 25.0;
            let after = score_coefficients(&moved, &g, &history);
            assert!((after[7] - before[7] - 25.0).abs() < 1e-9, "history {past}: {} → {}", before[7], after[7]);
        }
    }

    /// With enough past tasks the baseline is the goal surface: returns that are a smooth function
    /// of the goal leave coefficients near 0, where the line in the distance leaves the direction.
    #[test]
    fn the_goal_surface_explains_a_return_that_depends_on_direction() {
        let mut rng = Rng::new(4);
        let spread = |c: &[f64]| (c.iter().map(|v| v * v).sum::<f64>() / c.len() as f64).sqrt();
        let g = goals(40, &mut rng);
        let returns: Vec<f64> = g.iter().map(|&g| surface(g)).collect();
        let line = score_coefficients(&returns, &g, &ReturnHistory::default());
        let mut history = ReturnHistory::default();
        let old = goals(400, &mut rng);
        history.record(&old, &old.iter().map(|&g| surface(g)).collect::<Vec<_>>(), 400);
        assert_eq!(history.len(), 400);
        let fit = score_coefficients(&returns, &g, &history);
        assert!(spread(&line) > 0.5, "the line leaves the direction: {}", spread(&line));
        assert!(spread(&fit) < 1e-3, "the surface fits it: {}", spread(&fit));
        // the history keeps the newest tasks only
        history.record(&g, &returns, 400);
        assert_eq!(history.len(), 400);
    }
}
