//! One inner step and the outer update as the paper writes them, each symbol with its value: L(θ), ∇L(θ), θ' = θ − α∇L(θ), L(θ'), and the task's meta-gradient split into its first-order part and the second-order correction.
//!
//! For one inner step, the chain rule gives the task's meta-gradient as
//! ∇θ L(θ') = (I − α H) ∇L(θ') = ∇L(θ') − α H ∇L(θ'), with H the Hessian of the support loss at
//! θ (Finn et al., 2017, section 5.2). First-order MAML keeps the first term; exact MAML adds the
//! second, a Hessian-vector product. Here that product is computed on its own, as the gradient
//! of ⟨∇L(θ), ∇L(θ')⟩ with ∇L(θ') held constant (the hand-written backward is made of tracked ops,
//! so burn's autodiff differentiates it), and the sum of the two parts is checked against the
//! meta-gradient training computes (`learners::meta_gradient`), which differentiates θ' itself.

use burn::module::Module;
use burn::prelude::*;
use serde::Serialize;

use super::adapt::{Lr, SgdStep, TaskTensors};
use super::landscape::Order;
use super::learners::meta_gradient;
use super::params::{Detach, MetaParams, autodiff_grads};
use crate::config::{Algorithm, MamlConfig};
use crate::model::{Grads, Network};
use crate::pending::Pending;
use crate::tasks::{InputShape, Task};

/// One inner step of MAML on one task, in numbers.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Walk {
    /// α, the inner learning rate, and β, the meta learning rate.
    pub alpha: f64,
    pub beta: f64,
    /// L(θ): the support loss at the meta-learned start, and |∇L(θ)|.
    pub support_loss: f64,
    pub grad_norm: f64,
    /// |θ' − θ| = α |∇L(θ)|.
    pub step_norm: f64,
    /// The query loss before the step, L'(θ), and after it, L'(θ'): what the inner step buys.
    pub query_loss_before: f64,
    pub query_loss: f64,
    /// The support loss after the step, L(θ').
    pub support_loss_after: f64,
    /// ∇L'(θ'), the first-order part of the meta-gradient, and its norm.
    pub first_order_norm: f64,
    /// −α H ∇L'(θ'), the second-order correction, and its norm.
    pub correction_norm: f64,
    /// The angle between the two parts, in degrees.
    pub angle_degrees: f64,
    /// |∇L'(θ') − α H ∇L'(θ')|, the exact meta-gradient of this task.
    pub exact_norm: f64,
    /// cos ∠(first-order part, exact meta-gradient).
    pub first_order_cosine: f64,
    /// |(first-order part + correction) − training's meta-gradient| / |training's meta-gradient|:
    /// the split checked against the meta-gradient the outer loop uses.
    pub split_error: f64,
    /// β |meta-gradient|: the size of a plain gradient step of the outer loop on this task alone
    /// (training takes Adam's step on the mean over a meta-batch).
    pub outer_step_norm: f64,
    /// The output layer's biases, one per output, through the step: a few of θ's own numbers.
    pub bias: Vec<BiasTrace>,
}

/// One output bias through the inner step and the outer update.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BiasTrace {
    pub theta: f64,
    pub grad: f64,
    pub adapted: f64,
    pub first_order: f64,
    pub correction: f64,
    pub meta_gradient: f64,
    /// θ − β × meta-gradient.
    pub updated: f64,
}

/// MAML's one inner step on `task` at θ (`params`, on an autodiff device) with `config`'s α and β
/// (its other settings are not used: the walk is MAML's one exact step, with the scalar α, and
/// Meta-SGD's rates and MAML++'s per-step rates, batch-norms and multi-step loss are left aside),
/// pending one read.
pub fn walk(params: &MetaParams, task: &Task, shape: InputShape, config: &MamlConfig) -> Pending<'static, Walk> {
    let (alpha, beta) = (config.inner_lr, config.meta_lr);
    let device = params.theta.device();
    let t = TaskTensors::new(std::slice::from_ref(task), shape, &device);
    let theta = params.theta.clone().map(&mut Detach { leaf: true });

    // L(θ) and ∇L(θ), tracked: a function of θ
    let support = theta.loss_and_grads(t.support_x.clone(), &t.support);
    // θ' = θ − α ∇L(θ)
    let adapted = theta.clone().map(&mut SgdStep { grads: &support.grads, lr: &Lr::Scalar(alpha), step: 0 });
    // L'(θ') and ∇L'(θ') off the graph: constants
    let plain_adapted = adapted.valid();
    let query = plain_adapted.loss_and_grads(t.query_x.clone().inner(), &t.query.inner());
    let query_before = theta.valid().loss(t.query_x.clone().inner(), &t.query.inner());
    let support_after = plain_adapted.loss(t.support_x.clone().inner(), &t.support.inner());

    // H ∇L'(θ') = ∇θ ⟨∇L(θ), ∇L'(θ')⟩
    let hvp = autodiff_grads(&theta, &dot_with(&theta, &support.grads, &query.grads).backward());

    // the meta-gradient training computes, through θ' itself
    // (the head's part too, which a zero-head run's training leaves out)
    let config = MamlConfig { algorithm: Algorithm::Maml, inner_lr: alpha, inner_steps: 1, first_order: false, grad_clip: None, step_loss_weights: None, zero_head: false, ..config.clone() };
    let one = MetaParams::theta_only(params.theta.clone());
    let training = meta_gradient(&one, std::slice::from_ref(task), shape, &config, 1).direction;

    let (order, plain_device) = (Order::of(&theta), device.clone().inner());
    let flat = |g: &Grads| order.flat(g, &plain_device);
    let g = flat(&support.grads);
    let first = flat(&query.grads);
    let correction = flat(&hvp).mul_scalar(-alpha);
    let exact = first.clone() + correction.clone();
    let trained = flat(&training);
    let bias_id = theta.head.bias.id;
    let bias = |g: &Grads| g.0.get(&bias_id).map(plain).expect("the head's bias has a gradient");
    let theta_bias = plain(&theta.head.bias.val().reshape([theta.head.bias.shape().num_elements()]));
    let exact_bias = bias(&query.grads) - bias(&hvp).mul_scalar(alpha);
    let outputs = theta_bias.dims()[0];
    let parts = vec![
        plain(&support.loss),
        g.clone().square().sum(),
        query_before,
        query.loss,
        support_after,
        first.clone().square().sum(),
        correction.clone().square().sum(),
        (first.clone() * correction).sum(),
        exact.clone().square().sum(),
        (first * exact.clone()).sum(),
        (exact - trained.clone()).square().sum(),
        trained.square().sum(),
        theta_bias.clone(),
        bias(&support.grads),
        theta_bias.clone() - bias(&support.grads).mul_scalar(alpha),
        bias(&query.grads),
        bias(&hvp).mul_scalar(-alpha),
        exact_bias.clone(),
        theta_bias - exact_bias.mul_scalar(beta),
    ];
    Pending::new(parts, move |v| {
        let [support_loss, g2, query_loss_before, query_loss, support_loss_after, f2, c2, fc, e2, fe, d2, t2] = v[..12].try_into().expect("twelve readings");
        let column = |k: usize| &v[12 + k * outputs..12 + (k + 1) * outputs];
        let bias = (0..outputs)
            .map(|i| BiasTrace {
                theta: column(0)[i],
                grad: column(1)[i],
                adapted: column(2)[i],
                first_order: column(3)[i],
                correction: column(4)[i],
                meta_gradient: column(5)[i],
                updated: column(6)[i],
            })
            .collect();
        let (first_order_norm, correction_norm, exact_norm) = (f2.sqrt(), c2.sqrt(), e2.sqrt());
        let angle = (fc / (first_order_norm * correction_norm)).clamp(-1.0, 1.0).acos().to_degrees();
        Walk {
            alpha,
            beta,
            support_loss,
            grad_norm: g2.sqrt(),
            step_norm: alpha * g2.sqrt(),
            query_loss_before,
            query_loss,
            support_loss_after,
            first_order_norm,
            correction_norm,
            angle_degrees: if correction_norm > 0.0 { angle } else { f64::NAN },
            exact_norm,
            first_order_cosine: fe / (first_order_norm * exact_norm),
            split_error: d2.sqrt() / t2.sqrt(),
            outer_step_norm: beta * exact_norm,
            bias,
        }
    })
}

fn plain(t: &Tensor<1>) -> Tensor<1> {
    if t.is_autodiff() { t.clone().inner() } else { t.clone() }
}

/// Σ_p ⟨g_p, c_p⟩ over `net`'s parameters: `g` tracked, `c` constants from the plain device.
fn dot_with(net: &Network, g: &Grads, c: &Grads) -> Tensor<1> {
    Order::of(net)
        .ids()
        .filter_map(|id| Some((g.0.get(id)?.clone() * Tensor::from_inner(c.0.get(id)?.clone())).sum()))
        .reduce(|a, b| a + b)
        .expect("a network has parameters")
}
