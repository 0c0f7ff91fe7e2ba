//! The Gaussian policy: a ReLU MLP gives the mean action, a learned state-independent log std its spread; its log-likelihood's gradient is written by hand, as differentiable ops.
//!
//! As the authors' `MAMLGaussianMLPPolicy` (`cbfinn/maml_rl`,
//! `sandbox/rocky/tf/policies/maml_minimal_gauss_mlp_policy.py`, hidden (100, 100), ReLU):
//! Xavier-uniform weights, zero biases, log std 0 (`init_std = 1`), and every parameter, log std
//! included, adapted in the inner loop. Like every layer of `model`, each parameter has a leading
//! task dimension (T = 1 for θ), and the gradient of a weighted log-likelihood is computed by a
//! hand-written backward made of tracked ops, so that on an autodiff device the inner step's
//! gradient is a differentiable function of θ (exact second-order meta-gradients).

use burn::module::Param;
use burn::prelude::*;

use crate::model::Grads;
use crate::model::dense::{Dense, relu};
use crate::model::init::{constant, host_param};
use crate::rng::Rng;

/// The action's dimensions (a 2-D velocity).
pub const ACTIONS: usize = 2;
/// The observation's dimensions (the point's position).
pub const OBSERVATIONS: usize = 2;

#[derive(Module, Debug)]
pub struct Policy {
    pub hidden: Vec<Dense>,
    pub head: Dense,
    pub log_std: Param<Tensor<2>>, // [tasks, actions]
    /// Per-step spreads (`MamlConfig::per_step_std`): the log std of the policy after each inner
    /// step k = 1..K, meta-learned and not adapted (stage 0's is `log_std`, which then does not
    /// adapt either); empty: one log std, adapted with the rest.
    pub step_log_std: Vec<Param<Tensor<2>>>, // K × [tasks, actions]
}

/// Glorot's uniform initialisation, U(±sqrt(6 / (fan_in + fan_out))) (TensorFlow's
/// `xavier_initializer`, the authors' default), and a zero bias.
fn xavier(d_in: usize, d_out: usize, rng: &mut Rng, device: &Device) -> Dense {
    let bound = (6.0 / (d_in + d_out) as f64).sqrt();
    Dense { weight: host_param([1, d_in, d_out], device, || rng.uniform(-bound, bound)), bias: constant([1, d_out], 0.0, device) }
}

impl Policy {
    /// A fresh policy with hidden layers of `hidden` units (none: a linear-Gaussian policy).
    pub fn new(hidden: &[usize], rng: &mut Rng, device: &Device) -> Self {
        let mut width = OBSERVATIONS;
        let hidden = hidden.iter().map(|&h| {
            let d = xavier(width, h, rng, device);
            width = h;
            d
        }).collect();
        Self { hidden, head: xavier(width, ACTIONS, rng, device), log_std: constant([1, ACTIONS], 0.0, device), step_log_std: Vec::new() }
    }

    /// This policy with a spread of its own for each of the stages after `steps` inner steps,
    /// each starting at its log std (`MamlConfig::per_step_std`).
    pub fn with_step_spreads(mut self, steps: usize) -> Self {
        self.step_log_std = (0..steps).map(|_| Param::from_tensor(self.log_std.val())).collect();
        self
    }

    /// Whether its spread is per step (`step_log_std`), and so not adapted in the inner loop.
    pub fn per_step_spread(&self) -> bool {
        !self.step_log_std.is_empty()
    }

    /// The policy that acts after `stage` inner steps: these weights with that stage's spread
    /// (stages past the last take the last one's), and no per-step spreads of its own. The
    /// spread is the same parameter, so a gradient of the result reaches it. Without per-step
    /// spreads, this policy.
    pub fn at_stage(&self, stage: usize) -> Policy {
        if stage == 0 || self.step_log_std.is_empty() {
            return Policy { step_log_std: Vec::new(), ..self.clone() };
        }
        let log_std = self.step_log_std[stage.min(self.step_log_std.len()) - 1].clone();
        Policy { hidden: self.hidden.clone(), head: self.head.clone(), log_std, step_log_std: Vec::new() }
    }

    /// Tasks whose weights it holds (1 for θ).
    pub fn tasks(&self) -> usize {
        self.log_std.dims()[0]
    }

    pub fn device(&self) -> Device {
        self.log_std.val().device()
    }

    /// The mean action `[tasks, n, actions]` for observations `x: [tasks, n, observations]`.
    pub fn mean(&self, x: Tensor<3>) -> Tensor<3> {
        let mut h = x;
        for dense in &self.hidden {
            h = relu(dense.forward(h)).0;
        }
        self.head.forward(h)
    }

    /// The standardised action z = (a − μ) / σ `[tasks, n, actions]`, and 1/σ `[tasks, 1, actions]`.
    fn standardised(&self, mean: Tensor<3>, actions: Tensor<3>) -> (Tensor<3>, Tensor<3>) {
        let inv_std = self.log_std.val().neg().exp().unsqueeze_dim::<3>(1);
        ((actions - mean) * inv_std.clone(), inv_std)
    }

    /// log π(a | s) of each row, `[tasks, n]`, from the standardised actions.
    fn log_likelihood(&self, z: Tensor<3>) -> Tensor<2> {
        let [tasks, n, _] = z.dims();
        let log_std = self.log_std.val().unsqueeze_dim::<3>(1); // [tasks, 1, actions]
        let per_dim = z.square().mul_scalar(-0.5) - log_std; // [tasks, n, actions]
        per_dim.sum_dim(2).reshape([tasks, n]).sub_scalar(ACTIONS as f64 * 0.5 * std::f64::consts::TAU.ln())
    }

    /// log π(a | s) of each row, `[tasks, n]`, for observations `x` and actions `a` (`[tasks, n, 2]`).
    pub fn log_prob(&self, x: Tensor<3>, actions: Tensor<3>) -> Tensor<2> {
        let (z, _) = self.standardised(self.mean(x), actions);
        self.log_likelihood(z)
    }

    /// Each row's log π(a | s), `[tasks, n]`, and the gradient of each task's Σ_n w_n log π(a_n | s_n)
    /// with respect to its own parameters, by the hand-written backward (tracked on an autodiff
    /// device). `weights: [tasks, n]` (a row outside its trajectory weighs 0).
    pub fn weighted_log_prob_grads(&self, x: Tensor<3>, actions: Tensor<3>, weights: Tensor<2>) -> (Tensor<2>, Grads) {
        // 1. forward, keeping each hidden layer's input and ReLU mask
        let mut h = x;
        let mut kept = Vec::with_capacity(self.hidden.len());
        for dense in &self.hidden {
            let (a, mask) = relu(dense.forward(h.clone()));
            kept.push((h, mask));
            h = a;
        }
        let mean = self.head.forward(h.clone());
        let (z, inv_std) = self.standardised(mean, actions);
        let log_prob = self.log_likelihood(z.clone());

        // 2. the log-likelihood's own gradient: ∂/∂μ = w z / σ, ∂/∂log σ = Σ_n w (z² − 1)
        let mut grads = Grads::default();
        let w = weights.unsqueeze_dim::<3>(2); // [tasks, n, 1]
        let dmean = w.clone() * z.clone() * inv_std; // [tasks, n, actions]
        let dlog_std = (w * (z.square().sub_scalar(1.0))).sum_dim(1); // [tasks, 1, actions]
        let [tasks, _, actions] = dlog_std.dims();
        grads.put(&self.log_std, dlog_std.reshape([tasks, actions]));

        // 3. back through the head and the hidden layers
        let mut dh = self.head.backward(h, dmean, !self.hidden.is_empty(), &mut grads);
        for (i, (dense, (input, mask))) in self.hidden.iter().zip(kept).enumerate().rev() {
            let dz = dh.expect("a hidden layer's output gradient should exist") * mask;
            dh = dense.backward(input, dz, i > 0, &mut grads);
        }
        (log_prob, grads)
    }
}
