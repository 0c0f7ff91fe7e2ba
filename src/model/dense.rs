//! The fully connected layer and the ReLU, for many tasks' weights at once.
//!
//! Every parameter has a leading task dimension T. The meta-parameters θ have T = 1; adapting to
//! a meta-batch expands them to T tasks (`maml::params::Tile`), so one op serves all the tasks'
//! fast weights at once, and burn's backward of the expansion sums the tasks' meta-gradients.
//! Dense layers see activations as `[T, n, d]` (batched matmuls; off the graph, the host's:
//! `model::host::matmul`).

use burn::module::Param;
use burn::prelude::*;

use super::grads::Grads;
use super::host::matmul;
use super::init::torch_uniform;
use crate::rng::Rng;

/// Fully connected layer y = x W + b, for T tasks at once.
#[derive(Module, Debug)]
pub struct Dense {
    pub weight: Param<Tensor<3>>, // [tasks, d_in, d_out]
    pub bias: Param<Tensor<2>>,   // [tasks, d_out]
}

impl Dense {
    pub fn new(d_in: usize, d_out: usize, rng: &mut Rng, device: &Device) -> Self {
        Self { weight: torch_uniform([1, d_in, d_out], d_in, rng, device), bias: torch_uniform([1, d_out], d_in, rng, device) }
    }

    fn bias_rows(&self) -> Tensor<3> {
        let [tasks, d_out] = self.bias.dims();
        self.bias.val().reshape([tasks, 1, d_out])
    }

    /// `x: [tasks, n, d_in]` to `[tasks, n, d_out]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        matmul(x, self.weight.val()) + self.bias_rows()
    }

    /// Puts dW, db into `grads`; returns dx when asked.
    pub fn backward(&self, x: Tensor<3>, dy: Tensor<3>, need_dx: bool, grads: &mut Grads) -> Option<Tensor<3>> {
        grads.put(&self.weight, matmul(x.swap_dims(1, 2), dy.clone())); // [tasks, d_in, d_out]
        grads.put(&self.bias, dy.clone().sum_dim(1)); // [tasks, 1, d_out]
        need_dx.then(|| matmul(dy, self.weight.val().swap_dims(1, 2))) // [tasks, n, d_in]
    }
}

/// ReLU; its backward multiplies by the constant mask [x > 0] (its derivative is zero almost
/// everywhere, so this is exact a.e.).
pub fn relu<const D: usize>(x: Tensor<D>) -> (Tensor<D>, Tensor<D>) {
    let mask = x.clone().greater_elem(0.0).float();
    (x * mask.clone(), mask)
}
