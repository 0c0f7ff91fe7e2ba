//! How far the first-order meta-gradient, and Reptile's direction, are from the exact meta-gradient on one meta-batch: the cosine between them and the ratio of their norms.
//!
//! First-order MAML drops the second-order term −α H ∇L(θ') of each task's meta-gradient
//! (Finn et al., 2017, section 5.2); Reptile follows Σ_i (θ − θ'_i), which is not a gradient at
//! all (Nichol et al., 2018, section 5). How much either departs from the exact direction
//! depends on α, the inner steps and where θ is; this measures it on the tasks a run trains on.

use serde::Serialize;

use super::learners::{meta_gradient, reptile_direction};
use super::optim::meta_gradient_vector;
use super::params::MetaParams;
use super::shares::Shares;
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

/// The exact and first-order meta-gradients of the mean query loss over `tasks` at `params`,
/// with `config`'s inner loop, compared; with Reptile's direction too when `config` is Reptile's
/// (its exact counterpart: MAML's meta-gradient through the same inner loop of plain SGD). All
/// read from the device at once.
pub fn compare(params: &MetaParams, tasks: &[Task], shape: InputShape, config: &MamlConfig, shares: &Shares) -> Pending<'static, Comparison> {
    let learner = if config.algorithm == Algorithm::Reptile { Algorithm::Maml } else { config.algorithm };
    let with = |first_order| MamlConfig { algorithm: learner, first_order, ..config.clone() };
    let (exact, first) = (with(false), with(true));
    let mean = 1.0 / tasks.len() as f64;
    let flat = |config: &MamlConfig| {
        let sum = shares.sum(tasks, |part, at_once| meta_gradient(params, part, shape, config, at_once));
        meta_gradient_vector(params, &sum.direction, mean)
    };
    let (e, layout, e2) = flat(&exact);
    let (f, first_layout, f2) = flat(&first);
    assert_eq!(layout, first_layout, "both meta-gradients cover the same parameters");
    let mut parts = vec![e2, (e.clone() * f).sum(), f2];
    if config.algorithm == Algorithm::Reptile {
        let sum = shares.sum(tasks, |part, at_once| reptile_direction(params, part, shape, config, at_once));
        let (r, _, r2) = meta_gradient_vector(params, &sum.direction, mean);
        parts.extend([(e * r).sum(), r2]);
    }
    Pending::new(parts, |v| {
        let exact_norm = v[0].sqrt();
        let against = |dot: f64, norm2: f64| Agreement { cosine: dot / (exact_norm * norm2.sqrt()), norm_ratio: norm2.sqrt() / exact_norm };
        Comparison { exact_norm, first_order: against(v[1], v[2]), reptile: (v.len() > 3).then(|| against(v[3], v[4])) }
    })
}
