//! The inner loop: θ' = θ − α ∇L_support(θ), k times, exact (second-order) or first-order.

use burn::module::Module;
use burn::prelude::*;

use super::params::{Detach, SgdStep, Tile};
use crate::model::{InputShape, Network, Target};
use crate::tasks::{Labels, Set, Task};

/// The sets of T tasks as tensors on one device, task-major: inputs `[tasks, n, features]`.
/// The tasks of a batch share their shapes (same ways, shots and queries).
pub struct TaskTensors {
    pub tasks: usize,
    pub support_x: Tensor<3>,
    pub support: Target,
    pub query_x: Tensor<3>,
    pub query: Target,
}

fn set_tensors<'a>(sets: impl ExactSizeIterator<Item = &'a Set>, shape: InputShape, device: &Device) -> (Tensor<3>, Target) {
    let tasks = sets.len();
    let (mut x, mut y, mut n, mut width, mut classes) = (Vec::new(), Vec::new(), None, 0, false);
    for set in sets {
        assert_eq!(*n.get_or_insert(set.n), set.n, "the tasks of a batch should have sets of one size");
        x.extend_from_slice(&set.x);
        match &set.labels {
            Labels::Classes { labels, ways } => {
                (width, classes) = (*ways, true);
                y.extend(labels.iter().flat_map(|&label| (0..*ways).map(move |c| if c == label { 1f32 } else { 0.0 })));
            }
            Labels::Values(values) => {
                width = 1;
                y.extend_from_slice(values);
            }
        }
    }
    let n = n.expect("at least one task");
    let x = Tensor::from_data(TensorData::new(x, [tasks, n, shape.numel()]), device);
    let y = Tensor::from_data(TensorData::new(y, [tasks, n, width]), device);
    (x, if classes { Target::Classes(y) } else { Target::Values(y) })
}

impl TaskTensors {
    pub fn new(tasks: &[Task], shape: InputShape, device: &Device) -> Self {
        let (support_x, support) = set_tensors(tasks.iter().map(|t| &t.support), shape, device);
        let (query_x, query) = set_tensors(tasks.iter().map(|t| &t.query), shape, device);
        Self { tasks: tasks.len(), support_x, support, query_x, query }
    }
}

/// Adapts the meta-parameters `net` (one task) to each of the tasks of `t` with `steps`
/// gradient steps of size `inner_lr`, all tasks at once; the result holds one set of fast
/// weights per task.
///
/// Exact: the gradient comes from the hand-written backward, itself made of tracked tensor ops,
/// so on an autodiff device θ' is a differentiable function of θ through g(θ) (the Hessian terms
/// included). First-order: the gradient is computed at a detached copy of the parameters and
/// applied as a constant, so dθ'/dθ = I. On a plain device (meta-test) the two coincide.
pub fn adapt(net: &Network, t: &TaskTensors, inner_lr: f64, steps: usize, first_order: bool) -> Network {
    let mut adapted = tile(net, t.tasks);
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

/// The meta-parameters as the starting weights of `tasks` tasks.
pub fn tile(net: &Network, tasks: usize) -> Network {
    if tasks == 1 { net.clone() } else { net.clone().map(&mut Tile { tasks }) }
}

/// Each task's number of query examples whose largest output is their class, `[tasks]`
/// (`None` for regression).
pub fn correct(out: Tensor<3>, target: &Target) -> Option<Tensor<1>> {
    match target {
        Target::Classes(onehot) => {
            let tasks = out.dims()[0];
            let best = out.clone().max_dim(2).expand(out.dims()); // [tasks, n, ways]
            Some((out.equal(best).float() * onehot.clone()).sum_dims(&[1, 2]).reshape([tasks]))
        }
        Target::Values(_) => None,
    }
}
