//! Each meta-learner's meta-iteration as its paper writes it: MAML's Algorithm 2 (ANIL and Meta-SGD: the same loop, another inner rule) and Reptile's Algorithm 1.

use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;

use super::adapt::{Inner, TaskTensors, adapt};
use super::outer::{MetaLearner, Readings, update};
use super::params::{Detach, MetaParams, autodiff_grads};
use super::shares::{Shares, Sum};
use crate::config::{Algorithm, MamlConfig};
use crate::model::{Grads, Network};
use crate::tasks::{InputShape, Task};

/// One meta-iteration of MAML: Algorithm 2 of Finn et al. (2017), lines 3 to 10, numbered as in
/// the paper (line 1 is `Trainer::new`, line 2 `meta_steps`). ANIL and Meta-SGD run this loop
/// too: they differ only in the inner rule of lines 6 and 7 (`adapt::Inner`).
pub(super) fn maml(learner: &mut MetaLearner, sample: &mut dyn FnMut() -> Task, shape: InputShape, config: &MamlConfig, shares: &Shares) -> Readings {
    // 3: sample a batch of tasks T_i ~ p(T)
    let tasks: Vec<Task> = (0..config.meta_batch).map(|_| sample()).collect();
    // 4-9: for all T_i, evaluate ∇θ L_Ti(f_θ) on its K support examples D (5, 6), adapt
    //      θ'_i = θ − α ∇θ L_Ti(f_θ) (7) and score f_θ'_i on its query set D'_i (8), with the
    //      gradient of Σ_i L_Ti(f_θ'_i) with respect to θ (`meta_gradient`), by shares of the
    //      batch, each on a graph (and natively a thread) of its own (`maml::shares`)
    let sum = shares.sum(&tasks, |part, at_once| meta_gradient(&learner.params, part, shape, config, at_once));
    // 10: θ ← θ − β ∇θ Σ_i L_Ti(f_θ'_i), with Adam's step in place of plain gradient descent
    update(learner, sum, &tasks, config)
}

/// Lines 5 to 8 for some of the meta-batch's tasks, `at_once` of them adapted together: their
/// summed query loss after adaptation, their number correct, and the loss's gradient with
/// respect to the meta-parameters. These enter as fresh leaves of a graph of their own, so that
/// the parts of a meta-batch can be differentiated apart (on threads of their own) and summed.
///
/// The query set, where most of the work is, stays off the graph: the network's hand-written
/// backward gives g'_i = ∇θ'_i L_query(θ'_i) at the adapted weights as constants, and burn's
/// autodiff carries it back through the inner loop alone, as the gradient of Σ_i ⟨θ'_i, g'_i⟩:
/// the vector-Jacobian product (dθ'_i/dθ)ᵀ g'_i, which is the meta-gradient (the chain rule,
/// exactly). The query's forward records no graph and keeps only what its backward needs.
///
/// With the multi-step loss (`MamlConfig::step_loss_weights`, MAML++) the loss differentiated is
/// Σ_k w_k L_query(θ'_k) over the inner steps k = 1..K, and the product Σ_k w_k ⟨θ'_k, g'_k⟩,
/// each step's query gradient taken at that step's fast weights; the loss and number correct
/// reported are still those after the last step.
pub fn meta_gradient(params: &MetaParams, tasks: &[Task], shape: InputShape, config: &MamlConfig, at_once: usize) -> Sum {
    let leaves = params.clone().map(&mut Detach { leaf: true });
    let (mut loss, mut correct, mut product) = (None::<Tensor<1>>, None::<Tensor<1>>, None::<Tensor<1>>);
    for chunk in tasks.chunks(at_once) {
        let t = TaskTensors::new(chunk, shape, &params.theta.device());
        let target = t.query.inner();
        // 8: the query set D' at the fast weights after the last inner step, its loss and
        // number correct reported; with the multi-step loss also after every earlier step,
        // each gradient w_k times
        let mut score = |adapted: &Inner, weight: f64, last: bool| {
            let (net, x) = adapted.query_network();
            let query = net.valid().loss_and_grads(x.inner(), &target);
            let term = inner_product(&net, &query.grads);
            accumulate(&mut product, Some(if weight == 1.0 { term } else { term.mul_scalar(weight) }));
            if last {
                accumulate(&mut correct, target.correct(query.outputs));
                accumulate(&mut loss, Some(query.loss));
            }
        };
        match &config.step_loss_weights {
            None => score(&adapt(&leaves, &t, config), 1.0, true), // 5-7: the support set D
            Some(weights) => {
                let mut adapted = Inner::start(&leaves, &t, config);
                for (k, &w) in weights.iter().enumerate() {
                    adapted = adapted.step();
                    score(&adapted, w, k + 1 == weights.len());
                }
            }
        }
    }
    let loss = loss.expect("a part of a meta-batch has at least one task");
    let mut direction = autodiff_grads(&leaves, &product.expect("some tasks").backward());
    if config.zero_head {
        direction.drop_params(&params.theta.head); // held at zero, not learned (`MamlConfig::zero_head`)
    }
    Sum { loss, correct, direction }
}

/// Σ_p ⟨p, g_p⟩ over `net`'s parameters (a network, a policy), tracked, with constant gradients
/// `grads` from the plain device: its gradient with respect to whatever `net` was computed from
/// is the vector-Jacobian product of `grads`.
pub fn inner_product<M: Module>(net: &M, grads: &Grads) -> Tensor<1> {
    struct Dot<'a>(&'a Grads, Option<Tensor<1>>);
    impl ModuleVisitor for Dot<'_> {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            let Some(g) = self.0.0.get(&p.id) else { return };
            let n = p.shape().num_elements();
            let g = if p.val().is_autodiff() { Tensor::from_inner(g.clone()) } else { g.clone() };
            let term = (p.val().reshape([n]) * g).sum();
            self.1 = Some(match self.1.take() {
                Some(acc) => acc + term,
                None => term,
            });
        }
    }
    let mut dot = Dot(grads, None);
    net.visit(&mut dot);
    dot.1.expect("a module of parameters")
}

/// The summed direction of some of a meta-batch's tasks, `at_once` of them adapted together,
/// for the run's learner: MAML's meta-gradient (`meta_gradient`; ANIL's and Meta-SGD's too) or
/// Reptile's direction (`reptile_direction`). What a page's worker computes for its units.
pub fn direction(params: &MetaParams, tasks: &[Task], shape: InputShape, config: &MamlConfig, at_once: usize) -> Sum {
    match config.algorithm {
        Algorithm::Reptile => reptile_direction(params, tasks, shape, config, at_once),
        Algorithm::Maml | Algorithm::Anil | Algorithm::MetaSgd => meta_gradient(params, tasks, shape, config, at_once),
    }
}

/// One meta-iteration of Reptile: Algorithm 1 of Nichol et al. (2018), lines 3 to 5, numbered
/// as in the paper (φ there is θ here; line 1 is `Trainer::new`, line 2 `meta_steps`), on a
/// batch of tasks at once as their Algorithm 2 does. Its direction is not a gradient: no
/// gradient flows through its inner loop, and Adam follows the direction as it would one.
pub(super) fn reptile(learner: &mut MetaLearner, sample: &mut dyn FnMut() -> Task, shape: InputShape, config: &MamlConfig, shares: &Shares) -> Readings {
    // 3: sample tasks τ_i, a batch of them
    let tasks: Vec<Task> = (0..config.meta_batch).map(|_| sample()).collect();
    // 4: φ̃_i = U^k_τi(φ), k steps of SGD on each task's support set from φ (`adapt`), and the
    //    direction Σ_i (φ − φ̃_i) (`reptile_direction`), by shares of the batch (`maml::shares`)
    let sum = shares.sum(&tasks, |part, at_once| reptile_direction(&learner.params, part, shape, config, at_once));
    // 5: φ ← φ + ε (1/n) Σ_i (φ̃_i − φ), with Adam's step of β along (1/n) Σ_i (φ − φ̃_i) for ε
    update(learner, sum, &tasks, config)
}

/// Line 4 for some of the meta-batch's tasks, `at_once` of them adapted together, on the plain
/// device: their direction Σ_i (θ − θ'_i), and their summed query loss after adaptation and
/// number correct, which are only measured.
pub fn reptile_direction(params: &MetaParams, tasks: &[Task], shape: InputShape, config: &MamlConfig, at_once: usize) -> Sum {
    let plain = params.valid();
    let (mut loss, mut correct, mut direction) = (None::<Tensor<1>>, None::<Tensor<1>>, Grads::default());
    for chunk in tasks.chunks(at_once) {
        let t = TaskTensors::new(chunk, shape, &plain.theta.device());
        let adapted = adapt(&plain, &t, config);
        let out = adapted.query_outputs();
        accumulate(&mut correct, t.query.correct(out.clone()));
        accumulate(&mut loss, Some(t.query.loss(out)));
        direction = direction + toward(&plain.theta, &adapted.fast);
    }
    if config.zero_head {
        direction.drop_params(&plain.theta.head); // held at zero, not learned (`MamlConfig::zero_head`)
    }
    Sum { loss: loss.expect("a part of a meta-batch has at least one task"), correct, direction }
}

/// Σ_i (θ − θ'_i) over the tasks of the fast weights `fast`, keyed by θ's parameters.
fn toward(theta: &Network, fast: &Network) -> Grads {
    let start = Grads::values(theta);
    let adapted = Grads::values(fast); // each [tasks · n], tasks first
    Grads(
        adapted
            .0
            .into_iter()
            .map(|(id, after)| {
                let before = start.0[&id].clone();
                let n = before.dims()[0];
                let tasks = after.dims()[0] / n;
                (id, before.mul_scalar(tasks as f64) - after.reshape([tasks, n]).sum_dim(0).reshape([n]))
            })
            .collect(),
    )
}

/// Adds the sum of `value` (if any) to `total`.
fn accumulate(total: &mut Option<Tensor<1>>, value: Option<Tensor<1>>) {
    if let Some(v) = value {
        let v = v.sum();
        *total = Some(match total.take() {
            Some(acc) => acc + v,
            None => v,
        });
    }
}
