//! The navigation meta-gradient against central finite differences of the same surrogate, in f64, on a fixed batch of trajectories.
//!
//! The trajectories (every inner step's and the post-adaptation ones) are sampled once and then
//! held fixed, so that the surrogate S(θ) of `meta` is a deterministic function of θ. Its
//! gradient along the training path (the policy's hand-written backward, differentiated by
//! burn's autodiff through the inner step) must equal finite differences of S computed with an
//! inner step whose gradient comes from burn's own first-order autodiff on fresh leaves, an
//! implementation independent of the hand-written backward.

use burn::module::{Module, ModuleMapper, Param};
use burn::prelude::*;
use serde::Serialize;

use super::env::{self, Point};
use super::meta::{Estimator, InnerLoop, MetaSample, ReturnHistory, post_weights, surrogate};
use super::policy::Policy;
use super::rollout;
use crate::gradcheck::{Perturb, pick_coords, read_params, rel_err};
use crate::maml::adapt::{Lr, SgdStep};
use crate::maml::params::{Detach, Tile, autodiff_grads};
use crate::model::Grads;
use crate::rng::Rng;

#[derive(Clone, Debug, Serialize)]
pub struct NavGradcheckReport {
    pub task: &'static str,
    pub inner_steps: usize,
    /// Per-step spreads (`MamlConfig::per_step_std`) for this many inner steps: the policy after
    /// each has its own log std, not adapted (the steps after these take the last one's).
    pub per_step_std: Option<usize>,
    /// Coordinates of θ compared.
    pub coords: usize,
    /// Coordinates skipped because a ReLU's kink lay within the finite-difference step.
    pub kinks_skipped: usize,
    /// Largest relative error of the exact meta-gradient against finite differences.
    pub max_rel_err: f64,
    /// Largest relative difference between the first-order and the exact meta-gradient: the
    /// second-order terms the check must be able to see.
    pub second_order_effect: f64,
    /// Largest relative difference with the score-function term left out: it too must show.
    pub score_term_effect: f64,
}

/// The check's small setting: two goals, three trajectories of 12 steps per stage, a 16-16 policy.
const TASKS: usize = 2;
const TRAJECTORIES: usize = 3;
const HORIZON: usize = 12;
const HIDDEN: [usize; 2] = [16, 16];
const ALPHA: f64 = 0.5;

/// `device` must be configured for f64 for the figures to mean anything.
pub fn gradcheck(inner_steps: usize, per_step_std: Option<usize>, coords: usize, seed: u64, device: &Device) -> NavGradcheckReport {
    let device = device.clone().autodiff();
    let mut rng = Rng::stream(seed, 11);
    // away from the initialisation's zero biases, where every trajectory's first observation,
    // the origin, sits on the kink of every first-layer ReLU
    // (the shift also sets every stage's spread apart from the others)
    let theta = Policy::new(&HIDDEN, &mut rng, &device);
    let theta = match per_step_std {
        Some(k) => theta.with_step_spreads(k),
        None => theta,
    };
    let theta = theta.map(&mut Shift { rng: Rng::stream(seed, 12), by: 0.1 }).map(&mut Detach { leaf: true });
    let goals: Vec<Point> = (0..TASKS).map(|_| env::sample_goal(&mut rng)).collect();
    let estimator = Estimator { horizon: HORIZON, ..Estimator::paper() };
    let inner = InnerLoop { alpha: ALPHA, steps: inner_steps, first_order: false, pre: TRAJECTORIES, post: TRAJECTORIES };
    let s = surrogate(&theta, TASKS, &inner, &estimator, &ReturnHistory::default(), &mut |_, fast| rollout::sample(fast, &goals, TRAJECTORIES, HORIZON, &mut rng));
    let exact = autodiff_grads(&theta, &s.value.backward());
    let (sample, coefficients) = (s.sample, s.coefficients);
    // the same trajectories, replayed: first-order, and without the score term
    let replay = |inner: InnerLoop, estimator: Estimator| -> Grads {
        let leaves = theta.clone().map(&mut Detach { leaf: true });
        let mut stages = sample.pre.iter().chain([&sample.post]);
        let s = surrogate(&leaves, TASKS, &inner, &estimator, &ReturnHistory::default(), &mut |_, _| stages.next().expect("a stage per draw").clone());
        autodiff_grads(&leaves, &s.value.backward())
    };
    let first_order = replay(InnerLoop { first_order: true, ..inner }, estimator);
    let no_score = replay(inner, Estimator { score_term: false, ..estimator });

    let values = read_params(&theta);
    let picks = pick_coords(&values, coords, &mut rng, |_| Vec::new());
    // a parameter the surrogate does not reach has no gradient: 0
    let value = |g: &Grads, i: usize, index: usize| g.0.get(&values[i].id).map_or(0.0, |g| to_f64(g.clone())[index]);
    let objective = |p: &Policy| reference(p, &sample, &coefficients, &inner, &estimator);
    let central = |id, index, eps: f64| {
        let plus = objective(&theta.clone().map(&mut Perturb { id, index, eps }));
        let minus = objective(&theta.clone().map(&mut Perturb { id, index, eps: -eps }));
        (plus - minus) / (2.0 * eps)
    };
    let mut report = NavGradcheckReport { task: "navigation", inner_steps, per_step_std, coords: 0, kinks_skipped: 0, max_rel_err: 0.0, second_order_effect: 0.0, score_term_effect: 0.0 };
    for &(i, index) in &picks {
        let id = values[i].id;
        // the surrogate's terms are sums over hundreds of steps: a step of 1e-5 keeps f64's
        // rounding well under the check's tolerance (truncation is O(ε²))
        let fd = central(id, index, 1e-5);
        if rel_err(fd, central(id, index, 5e-6)) > 1e-6 {
            report.kinks_skipped += 1;
            continue;
        }
        report.coords += 1;
        let e = value(&exact, i, index);
        report.max_rel_err = report.max_rel_err.max(rel_err(e, fd));
        report.second_order_effect = report.second_order_effect.max(rel_err(value(&first_order, i, index), e));
        report.score_term_effect = report.score_term_effect.max(rel_err(value(&no_score, i, index), e));
    }
    report
}

/// Adds U(−by, by) to every value.
struct Shift {
    rng: Rng,
    by: f64,
}

impl ModuleMapper for Shift {
    fn map_float<const D: usize>(&mut self, p: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (rng, by) = (&mut self.rng, self.by);
        p.map(|t| {
            let (device, shape) = (t.device(), t.shape());
            let v: Vec<f64> = to_f64(t).into_iter().map(|x| x + rng.uniform(-by, by)).collect();
            Tensor::<D>::from_data(TensorData::new(v, shape), &device)
        })
    }
}

/// The policy acting after `stage` inner steps, its spread found by position among the
/// per-step ones (as `Policy::at_stage` finds it, written again).
fn acting(fast: &Policy, stage: usize) -> Policy {
    let n = fast.step_log_std.len();
    let log_std = if stage == 0 || n == 0 { fast.log_std.clone() } else { fast.step_log_std[stage.min(n) - 1].clone() };
    Policy { hidden: fast.hidden.clone(), head: fast.head.clone(), log_std, step_log_std: Vec::new() }
}

/// S(θ) on the recorded trajectories, each inner step's gradient by burn's autodiff (with
/// per-step spreads, the spread's left out: it does not adapt).
fn reference(theta: &Policy, sample: &MetaSample, coefficients: &[f64], inner: &InnerLoop, estimator: &Estimator) -> f64 {
    let mut fast = theta.clone().map(&mut Tile { tasks: TASKS }).map(&mut Detach { leaf: true });
    let mut score = 0.0;
    for (stage, r) in sample.pre.iter().enumerate() {
        let device = fast.device();
        let (x, a) = r.tensors(&device);
        let policy = acting(&fast, stage);
        let log_prob = policy.log_prob(x, a);
        let lp = to_f64(log_prob.clone().inner());
        let per = r.per_task * r.horizon;
        for (i, (l, m)) in lp.iter().zip(r.mask()).enumerate() {
            score += coefficients[i / per] * l * m as f64;
        }
        let objective = (log_prob * r.rows(r.inner_weights(estimator.discount), &device)).sum();
        let mut g = autodiff_grads(&fast, &objective.backward());
        if !fast.step_log_std.is_empty() {
            g.0.remove(&policy.log_std.id);
        }
        fast = fast.map(&mut SgdStep { grads: &g, lr: &Lr::Scalar(-inner.alpha), step: 0 }).map(&mut Detach { leaf: true });
    }
    let post = &sample.post;
    let (x, a) = post.tensors(&fast.device());
    let lp = to_f64(acting(&fast, sample.pre.len()).log_prob(x, a).inner());
    let pg: f64 = lp.iter().zip(post_weights(post, estimator)).map(|(l, w)| l * w as f64).sum();
    if estimator.score_term && !sample.pre.is_empty() { pg + score } else { pg }
}

fn to_f64<const D: usize>(t: Tensor<D>) -> Vec<f64> {
    t.into_data().convert::<f64>().try_to_vec::<f64>().expect("float data")
}
