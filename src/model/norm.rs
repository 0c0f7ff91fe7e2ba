//! Batch-norm over each task's images and pixels, with the statistics of the batch at hand, as
//! in the reference MAML code: no running averages, so the support and the query set are each
//! normalised by their own.

use burn::module::Param;
use burn::prelude::*;

use super::grads::Grads;
use super::init::constant;

#[derive(Module, Debug)]
pub struct BatchNorm {
    pub gamma: Param<Tensor<2>>, // [tasks, c]
    pub beta: Param<Tensor<2>>,  // [tasks, c]
}

pub const BN_EPS: f64 = 1e-5;

/// The activations seen so that one (task, channel)'s values share the index of every axis but
/// the `stat_dims`; the layout gives it (`Layout::stats`).
#[derive(Clone, Copy, Debug)]
pub struct StatsView {
    /// The activations' own shape, restored on the way out.
    pub input: [usize; 4],
    /// Their shape in the view.
    pub view: [usize; 4],
    /// The axes one (task, channel)'s statistics reduce over.
    pub stat_dims: &'static [usize],
    /// The shape a `[tasks, c]` parameter takes to broadcast over the view.
    pub channel: [usize; 4],
}

impl StatsView {
    fn mean(&self, t: Tensor<4>) -> Tensor<4> {
        t.mean_dims(self.stat_dims)
    }

    /// How many values share one (task, channel)'s statistics.
    fn count(&self) -> f64 {
        self.stat_dims.iter().map(|&d| self.view[d]).product::<usize>() as f64
    }

    fn channel(&self, p: &Param<Tensor<2>>) -> Tensor<4> {
        p.val().reshape(self.channel)
    }
}

pub struct BatchNormCache {
    view: StatsView,
    centred: Tensor<4>, // x − mean, in the view
    inv_std: Tensor<4>, // one per task and channel
}

impl BatchNorm {
    pub fn new(c: usize, device: &Device) -> Self {
        Self { gamma: constant([1, c], 1.0, device), beta: constant([1, c], 0.0, device) }
    }

    pub fn tasks(&self) -> usize {
        self.gamma.dims()[0]
    }

    /// `x` seen through `view` to the same shape: y = γ x̂ + β with x̂ = (x − mean) / std, computed
    /// as (x − mean) (γ / std) + β, the per-channel factor first, so that each full-size op is a
    /// pass over the activations that the formula needs.
    pub fn forward(&self, x: Tensor<4>, view: StatsView) -> (Tensor<4>, BatchNormCache) {
        let x = x.reshape(view.view);
        let centred = x.clone() - view.mean(x);
        let var = view.mean(centred.clone().square()); // biased, as batch-norm uses
        let inv_std = (var + BN_EPS).sqrt().recip();
        let y = (centred.clone() * (view.channel(&self.gamma) * inv_std.clone()) + view.channel(&self.beta)).reshape(view.input);
        (y, BatchNormCache { view, centred, inv_std })
    }

    /// Closed-form batch-norm backward, dx = (dx̂ − mean(dx̂) − x̂ mean(dx̂ x̂)) / std with
    /// dx̂ = γ dy, written with x̂ = (x − mean) / std so that everything but two full-size
    /// terms is per channel: with s = Σ dy and p = Σ dy (x − mean) over a channel's m values,
    /// dγ = p / std, dβ = s, and dx = dy (γ / std) − (x − mean) (γ p / (m std³)) − γ s / (m std).
    pub fn backward(&self, cache: BatchNormCache, dy: Tensor<4>, grads: &mut Grads) -> Tensor<4> {
        let BatchNormCache { view, centred, inv_std } = cache;
        let dy = dy.reshape(view.view);
        let m = view.count();
        let s = dy.clone().sum_dims(view.stat_dims);
        let p = (dy.clone() * centred.clone()).sum_dims(view.stat_dims);
        let gamma = view.channel(&self.gamma);
        let scale = gamma.clone() * inv_std.clone(); // γ / std
        let dx = dy * scale.clone() - centred * (scale.clone() * inv_std.clone().square() * p.clone()).mul_scalar(1.0 / m) - (scale * s.clone()).mul_scalar(1.0 / m);
        grads.put(&self.gamma, p * inv_std);
        grads.put(&self.beta, s);
        dx.reshape(view.input)
    }
}
