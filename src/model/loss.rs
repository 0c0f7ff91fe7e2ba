//! Losses with their gradient with respect to the network output, both as differentiable tensor ops.

use burn::prelude::*;
use burn::tensor::activation::{log_softmax, softmax};

/// What a set is scored against, for T tasks at once: one-hot classes (softmax cross-entropy)
/// or real values (MSE).
#[derive(Clone, Debug)]
pub enum Target {
    /// [tasks, n, ways], rows one-hot.
    Classes(Tensor<3>),
    /// [tasks, n, d].
    Values(Tensor<3>),
}

// Divisions are written as products: burn-autodiff 0.22.1 differentiates `div_scalar` through
// an f32 reciprocal (src/ops/tensor.rs, `DivScalar::backward`), which costs f64 gradient checks
// eight digits; `mul_scalar`'s backward keeps the scalar's precision.

/// Sums a [tasks, a, b] tensor over its last two dimensions: [tasks].
fn per_task(t: Tensor<3>) -> Tensor<1> {
    let tasks = t.dims()[0];
    t.sum_dims(&[1, 2]).reshape([tasks])
}

impl Target {
    /// The same target off the autodiff graph: on an autodiff device's inner (plain) device.
    pub fn inner(&self) -> Target {
        match self {
            Target::Classes(t) => Target::Classes(t.clone().inner()),
            Target::Values(t) => Target::Values(t.clone().inner()),
        }
    }

    /// Each task's mean loss over its set, [tasks].
    pub fn loss(&self, out: Tensor<3>) -> Tensor<1> {
        let [_, n, d] = out.dims();
        match self {
            Target::Classes(onehot) => per_task(log_softmax(out, 2) * onehot.clone()).mul_scalar(-1.0 / n as f64),
            Target::Values(y) => per_task((out - y.clone()).square()).mul_scalar(1.0 / (n * d) as f64),
        }
    }

    /// Each task's mean loss, [tasks], and d(Σ_tasks loss) / d out.
    pub fn loss_and_grad(&self, out: Tensor<3>) -> (Tensor<1>, Tensor<3>) {
        let [_, n, d] = out.dims();
        match self {
            Target::Classes(onehot) => {
                let loss = per_task(log_softmax(out.clone(), 2) * onehot.clone()).mul_scalar(-1.0 / n as f64);
                (loss, (softmax(out, 2) - onehot.clone()).mul_scalar(1.0 / n as f64))
            }
            Target::Values(y) => {
                let numel = (n * d) as f64;
                let diff = out - y.clone();
                (per_task(diff.clone().square()).mul_scalar(1.0 / numel), diff.mul_scalar(2.0 / numel))
            }
        }
    }

    /// Each task's number of examples whose largest output is their class, `[tasks]`: the
    /// accuracy's numerator (`None` for regression). An example whose largest output is shared
    /// by several classes counts as the share its class has of them, a guess among them: a start
    /// that answers every class alike (a head at zero) scores chance, not every example. A
    /// measurement, not part of any gradient.
    pub fn correct(&self, out: Tensor<3>) -> Option<Tensor<1>> {
        match self {
            Target::Classes(onehot) => {
                let tasks = out.dims()[0];
                let best = out.clone().max_dim(2).expand(out.dims()); // [tasks, n, ways]
                let is_best = out.equal(best).float();
                // (at least one: a non-finite output is best nowhere and counts as wrong)
                let tied = is_best.clone().sum_dim(2).clamp_min(1.0); // [tasks, n, 1]
                Some((is_best * onehot.clone()).sum_dim(2).div(tied).sum_dims(&[1, 2]).reshape([tasks]))
            }
            Target::Values(_) => None,
        }
    }
}
