//! How far the first-order meta-gradient, and Reptile's direction, are from the exact meta-gradient on one meta-batch: the cosine between them and the ratio of their norms.
//!
//! First-order MAML drops the second-order term −α H ∇L(θ') of each task's meta-gradient
//! (Finn et al., 2017, section 5.2); Reptile follows Σ_i (θ − θ'_i), which is not a gradient at
//! all (Nichol et al., 2018, section 5). How much either departs from the exact direction
//! depends on α, the inner steps and where θ is; this measures it on the tasks a run trains on.

use serde::Serialize;

use super::learners::direction;
use super::optim::meta_gradient_vector;
use super::params::MetaParams;
use super::shares::{Shares, Sum};
use crate::config::{Algorithm, MamlConfig};
use crate::pending::Pending;
use crate::tasks::{InputShape, Task};

/// One direction against the exact meta-gradient.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Agreement {
    /// cos ∠(direction, exact meta-gradient), in [−1, 1].
    pub cosine: f64,
    /// |direction| / |exact meta-gradient|.
    pub norm_ratio: f64,
}

/// The directions of a meta-batch against its exact meta-gradient.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Comparison {
    /// |exact meta-gradient| of the mean query loss over the meta-batch.
    pub exact_norm: f64,
    /// The first-order meta-gradient (the same inner loop, its second derivatives dropped).
    pub first_order: Agreement,
    /// Reptile's direction, (1/n) Σ_i (θ − θ'_i), when Reptile is the learner.
    pub reptile: Option<Agreement>,
}

/// The learners a comparison computes the directions of, in order: the exact meta-gradient, the
/// first-order one (both of `config`'s learner, or MAML's for Reptile: the exact counterpart of
/// Reptile's direction is MAML's meta-gradient through the same inner loop of plain SGD), and
/// Reptile's direction itself when `config` is Reptile's. Each is a `learners::direction`, so the
/// page's workers compute a comparison's units as they compute a meta-iteration's.
pub fn variants(config: &MamlConfig) -> Vec<MamlConfig> {
    let learner = if config.algorithm == Algorithm::Reptile { Algorithm::Maml } else { config.algorithm };
    // (exact and first-order as named, whatever derivative-order annealing says)
    let with = |first_order| MamlConfig { algorithm: learner, first_order, first_order_until: None, ..config.clone() };
    let mut out = vec![with(false), with(true)];
    if config.algorithm == Algorithm::Reptile {
        out.push(MamlConfig { first_order_until: None, ..config.clone() });
    }
    out
}

/// The exact and first-order meta-gradients of the mean query loss over `tasks` at `params`,
/// with `config`'s inner loop, compared; with Reptile's direction too when `config` is Reptile's.
/// All read from the device at once.
pub fn compare(params: &MetaParams, tasks: &[Task], shape: InputShape, config: &MamlConfig, shares: &Shares) -> Pending<'static, Comparison> {
    let sums = variants(config).iter().map(|v| shares.sum(tasks, |part, at_once| direction(params, part, shape, v, at_once))).collect();
    compare_sums(params, tasks.len(), sums)
}

/// The comparison of the summed directions `sums` over `tasks` tasks, one per `variants` in
/// its order: what `compare` gives when they are `Shares::sum`s of the same tasks.
pub fn compare_sums(params: &MetaParams, tasks: usize, sums: Vec<Sum>) -> Pending<'static, Comparison> {
    assert!(sums.len() == 2 || sums.len() == 3, "a comparison has the exact, the first-order and maybe Reptile's direction");
    let mean = 1.0 / tasks as f64;
    let mut flat = sums.into_iter().map(|sum| meta_gradient_vector(params, &sum.direction, mean));
    let (e, layout, e2) = flat.next().expect("exact");
    let (f, first_layout, f2) = flat.next().expect("first-order");
    assert_eq!(layout, first_layout, "both meta-gradients cover the same parameters");
    let mut parts = vec![e2, (e.clone() * f).sum(), f2];
    if let Some((r, _, r2)) = flat.next() {
        parts.extend([(e * r).sum(), r2]);
    }
    Pending::new(parts, |v| {
        let exact_norm = v[0].sqrt();
        let against = |dot: f64, norm2: f64| Agreement { cosine: dot / (exact_norm * norm2.sqrt()), norm_ratio: norm2.sqrt() / exact_norm };
        Comparison { exact_norm, first_order: against(v[1], v[2]), reptile: (v.len() > 3).then(|| against(v[3], v[4])) }
    })
}
