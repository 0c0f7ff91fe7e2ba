//! The inner loop: θ' = θ − α ∇L_support(θ), k times, exact (second-order) or first-order, for many tasks at once.

use burn::module::Module;
use burn::prelude::*;

use super::params::{Detach, SgdStep, Tile};
use crate::model::{Network, Target};
use crate::tasks::{InputShape, Labels, Set, Task};

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

/// One inner SGD step for every task of `t` at once: θ' = θ − α ∇L_support(θ), each task's
/// fast weights by its own support loss (the paper's Algorithm 2, lines 6 and 7).
///
/// Exact: the gradient comes from the hand-written backward, itself made of tracked tensor ops,
/// so on an autodiff device θ' is a differentiable function of θ through g(θ) (the Hessian terms
/// included). First-order: the gradient is computed at a detached copy of the parameters and
/// applied as a constant, so dθ'/dθ = I. On a plain device (meta-test) the two coincide.
pub fn inner_step(net: Network, t: &TaskTensors, inner_lr: f64, first_order: bool) -> Network {
    let at = if first_order { net.clone().map(&mut Detach { leaf: false }) } else { net.clone() };
    let grads = at.loss_and_grads(t.support_x.clone(), &t.support).grads;
    net.map(&mut SgdStep { grads: &grads, lr: inner_lr })
}

/// Adapts the meta-parameters `net` (one task) to each of the tasks of `t` with `steps` inner
/// steps, all tasks at once; the result holds one set of fast weights per task.
pub fn adapt(net: &Network, t: &TaskTensors, inner_lr: f64, steps: usize, first_order: bool) -> Network {
    (0..steps).fold(tile(net, t.tasks), |adapted, _| inner_step(adapted, t, inner_lr, first_order))
}

/// The meta-parameters as the starting weights of `tasks` tasks.
pub fn tile(net: &Network, tasks: usize) -> Network {
    if tasks == 1 { net.clone() } else { net.clone().map(&mut Tile { tasks }) }
}
