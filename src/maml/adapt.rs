//! The inner loop: θ' = θ − α ∇L_support(θ), k times, exact (second-order) or first-order.

use burn::module::Module;
use burn::prelude::*;

use super::params::{Detach, SgdStep};
use crate::model::{InputShape, Network, Target};
use crate::tasks::{Labels, Set, Task};

/// A task's sets as tensors on one device.
pub struct TaskTensors {
    pub support_x: Tensor<2>, // [n_support, features]
    pub support: Target,
    pub query_x: Tensor<2>, // [n_query, features]
    pub query: Target,
}

fn set_tensors(set: &Set, shape: InputShape, device: &Device) -> (Tensor<2>, Target) {
    let x = Tensor::from_data(TensorData::new(set.x.clone(), [set.n, shape.numel()]), device);
    let target = match &set.labels {
        Labels::Classes { labels, ways } => {
            let mut onehot = vec![0f32; set.n * ways];
            for (i, &label) in labels.iter().enumerate() {
                onehot[i * ways + label] = 1.0;
            }
            Target::Classes(Tensor::from_data(TensorData::new(onehot, [set.n, *ways]), device))
        }
        Labels::Values(y) => Target::Values(Tensor::from_data(TensorData::new(y.clone(), [set.n, 1]), device)),
    };
    (x, target)
}

impl TaskTensors {
    pub fn new(task: &Task, shape: InputShape, device: &Device) -> Self {
        let (support_x, support) = set_tensors(&task.support, shape, device);
        let (query_x, query) = set_tensors(&task.query, shape, device);
        Self { support_x, support, query_x, query }
    }
}

/// Adapts `net` to the support set with `steps` gradient steps of size `inner_lr`.
///
/// Exact: the gradient comes from the hand-written backward, itself made of tracked tensor ops,
/// so on an autodiff device θ' is a differentiable function of θ through g(θ) (the Hessian terms
/// included). First-order: the gradient is computed at a detached copy of the parameters and
/// applied as a constant, so dθ'/dθ = I. On a plain device (meta-test) the two coincide.
pub fn adapt(net: &Network, t: &TaskTensors, inner_lr: f64, steps: usize, first_order: bool) -> Network {
    let mut adapted = net.clone();
    for _ in 0..steps {
        let grads = if first_order {
            adapted.clone().map(&mut Detach { leaf: false }).loss_and_grads(t.support_x.clone(), &t.support).2
        } else {
            adapted.loss_and_grads(t.support_x.clone(), &t.support).2
        };
        adapted = adapted.map(&mut SgdStep { grads: &grads, lr: inner_lr });
    }
    adapted
}

/// Number of query examples whose largest output is their class (a [1] tensor; 0 for regression).
pub fn correct(out: Tensor<2>, target: &Target) -> Option<Tensor<1>> {
    match target {
        Target::Classes(onehot) => {
            let best = out.clone().max_dim(1).expand(out.dims()); // [n, ways]
            Some((out.equal(best).float() * onehot.clone()).sum())
        }
        Target::Values(_) => None,
    }
}
