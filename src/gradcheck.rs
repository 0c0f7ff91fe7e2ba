//! The oracle for every meta-learner: the meta-gradient against central finite differences, in f64.
//!
//! F(θ) = L_query(θ_k) with θ_k from k inner steps whose gradients come from burn's own
//! (first-order) autodiff, an implementation independent of the hand-written backward; with the
//! multi-step loss, F(θ) = Σ_j w_j L_query(θ_j) over the steps j = 1..k. The exact meta-gradient
//! must match dF/dθ (for Meta-SGD also dF/dα, α its learned rates); the first-order one must
//! match ∇L_query(θ_k) (Σ_j w_j ∇L_query(θ_j)). ANIL's inner steps move only the head. Reptile has
//! no meta-gradient: its direction Σ(θ − θ_k) must match the same steps taken task by task.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::prelude::*;
use serde::Serialize;

use crate::config::{Algorithm, Arch, MamlConfig, ModelConfig, TaskConfig, TaskKind};
use crate::maml::adapt::{SgdStep, TaskTensors};
use crate::maml::learners::{meta_gradient, reptile_direction};
use crate::maml::params::{Detach, Fill, MetaParams, autodiff_grads, param_paths, step_norms, step_rates};
use crate::model::{Grads, Network};
use crate::rng::Rng;
use crate::tasks::{self, Split, Task};

#[derive(Clone, Debug, Serialize)]
pub struct GradcheckReport {
    pub algorithm: Algorithm,
    pub model: Arch,
    pub inner_steps: usize,
    /// The multi-step loss's weights w_j of the query loss after each step j (None: the last
    /// step's loss alone).
    pub step_loss_weights: Option<Vec<f64>>,
    /// Learned per-step rates (MAML++'s LSLR), one per parameter tensor and inner step, among the
    /// coordinates compared.
    pub per_step_rates: bool,
    /// Per-step batch-norm weights and biases among the coordinates compared.
    pub per_step_bn: bool,
    /// Checked at θ with its head at zero (the zeroing trick's start).
    pub zero_head: bool,
    /// Parameter coordinates compared (θ's, and for Meta-SGD the rates').
    pub coords: usize,
    /// Coordinates skipped because a kink of the piecewise-smooth meta-loss lay within the
    /// finite-difference step (see `is_kink`).
    pub kinks_skipped: usize,
    /// Largest relative error of the exact meta-gradient against finite differences; for
    /// Reptile, of its direction Σ(θ − θ') against the same inner steps by burn's autodiff.
    pub max_rel_err: f64,
    /// Largest relative error of the first-order meta-gradient against ∇L_query(θ_k), on θ's
    /// coordinates (0 for Reptile).
    pub first_order_max_rel_err: f64,
    /// Largest relative difference between the first-order and the exact meta-gradient: the
    /// size of the second-order terms, which the check above must be able to see (0 for Reptile).
    pub second_order_effect: f64,
    /// With the multi-step loss, the largest relative difference between the exact meta-gradient
    /// and the same without the earlier steps' losses: the size of what the multi-step loss
    /// adds, which the check must be able to see (0 without it).
    pub multi_step_effect: f64,
}

/// Relative error with a floor: gradients below 1e-4 are compared absolutely at that scale,
/// since a central difference of step 1e-6 in f64 carries ~1e-10 of rounding noise.
pub fn rel_err(a: f64, b: f64) -> f64 {
    (a - b).abs() / a.abs().max(b.abs()).max(1e-4)
}

/// F is only piecewise smooth: a ReLU or max-pool switch makes the inner gradient, hence θ',
/// jump. A central difference across such a kink measures the jump, not the derivative; it
/// shows as two step sizes disagreeing, and such coordinates are skipped (and counted).
fn is_kink(fd: f64, fd_half: f64) -> bool {
    rel_err(fd, fd_half) > 1e-6
}

/// The small setting each model is checked on: the sinusoid for the MLP, 5-way 1-shot glyphs
/// (2 queries) for the conv nets, with few filters so finite differences stay quick.
fn setting(arch: Arch, filters: usize) -> (TaskConfig, ModelConfig, f64) {
    match arch {
        // the paper's α; larger ones make 3 inner steps on amplitude-5 sinusoids explode
        Arch::Mlp => (TaskConfig::new(TaskKind::Sinusoid).with_shots(10).with_queries(10), ModelConfig::new(arch), 0.01),
        _ => (TaskConfig::new(TaskKind::Glyphs).with_queries(2), ModelConfig::new(arch).with_filters(filters), 0.4),
    }
}

/// The inner loop of `algorithm` written independently of `maml::adapt`: every step's gradient
/// from burn's own (first-order) autodiff on fresh leaves, so the result is a function of the
/// start whose derivative only finite differences can give. Returns the network after each step,
/// the last the adapted one (the start itself for no steps).
fn adapt_by_autodiff(algorithm: Algorithm, start: &MetaParams, t: &TaskTensors, alpha: f64, steps: usize) -> Vec<Network> {
    let lr = start.inner_lr(alpha);
    let head: Vec<ParamId> = param_paths(&start.theta.head).into_iter().map(|(id, _)| id).collect();
    let mut m = start.theta.clone().map(&mut Detach { leaf: true });
    let mut each = Vec::new();
    for step in 0..steps {
        if let Some(later) = &start.step_norms {
            // per-step batch-norm: step 1's are θ's own, step k's the (k−1)-th of the later ones
            if let Some(own) = later.get(step.min(later.len()).wrapping_sub(1)) {
                m = m.with_norms(&own.blocks);
            }
        }
        let mut g = autodiff_grads(&m, &m.loss(t.support_x.clone(), &t.support).backward());
        if algorithm == Algorithm::Anil {
            g.0.retain(|id, _| head.contains(id)); // only the head adapts
        }
        m = match &start.step_rates {
            // per-step rates: the step's row of [1, steps, tensors], the tensors taken by their
            // position in the network (not by id, as the training path finds them), and no
            // step for a batch-norm when they are per step (found by their module's name)
            Some(rates) => {
                let [_, rows, _] = rates.dims();
                let row = rates.val().slice([0..1, step.min(rows - 1)..step.min(rows - 1) + 1]);
                m.map(&mut ByPosition { grads: &g, row, at: 0, path: Vec::new(), frozen_norms: start.step_norms.is_some() })
            }
            None => {
                if start.step_norms.is_some() {
                    let frozen: Vec<ParamId> = m.blocks.iter().flat_map(|b| [b.norm.gamma.id, b.norm.beta.id]).collect();
                    g.0.retain(|id, _| !frozen.contains(id));
                }
                m.map(&mut SgdStep { grads: &g, lr: &lr, step })
            }
        }
        .map(&mut Detach { leaf: true });
        each.push(m.clone());
    }
    if each.is_empty() {
        each.push(m);
    }
    each
}

/// The gradient check's own per-step-rate step: p − r_i g for the i-th parameter tensor in the
/// order the network maps them, r_i the i-th rate of `row` (`[1, 1, tensors]`); with
/// `frozen_norms`, the tensors of a module named `norm` stay.
struct ByPosition<'a> {
    grads: &'a Grads,
    row: Tensor<3>,
    at: usize,
    path: Vec<String>,
    frozen_norms: bool,
}

impl ModuleMapper for ByPosition<'_> {
    fn enter_module(&mut self, name: &str, _container: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _name: &str, _container: &str) {
        self.path.pop();
    }
    fn map_float<const D: usize>(&mut self, p: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let i = self.at;
        self.at += 1;
        if self.frozen_norms && self.path.iter().any(|m| m == "norm") {
            return p;
        }
        let Some(g) = self.grads.get(&p) else { return p };
        let rate = self.row.clone().slice([0..1, 0..1, i..i + 1]).reshape([1; D]);
        p.map(|t| t - g * rate)
    }
}


/// MAML++'s pieces that change the meta-gradient, checked with it.
#[derive(Clone, Copy, Debug, Default)]
pub struct PlusPlus {
    /// The meta-loss weighs the query loss after step j of k by w_j = j / (1 + … + k): weights
    /// that differ from step to step, so that a weight given to the wrong step shows.
    pub multi_step_loss: bool,
    /// Learned per-step rates (MAML only), each drawn within ±50 % of α, so that a rate given to
    /// the wrong tensor or step shows; they are among the coordinates compared.
    pub per_step_rates: bool,
    /// Per-step batch-norm weights and biases (MAML on a conv net), not adapted, each step's
    /// drawn within ±50 % of θ's own, so that a step given another's shows; they are among the
    /// coordinates compared.
    pub per_step_bn: bool,
    /// The zeroing trick (a conv net's head at zero, `MamlConfig::zero_head`): the meta-gradient
    /// at the start such a run has, every algorithm (the head's own is compared too, though the
    /// run drops it).
    pub zero_head: bool,
}

/// `device` must be configured for f64 (`Device::configure(FloatDType::F64)`) for the figures to
/// mean anything; the meta-batch holds two tasks.
pub fn gradcheck(algorithm: Algorithm, arch: Arch, filters: usize, inner_steps: usize, plus: PlusPlus, coords: usize, seed: u64, device: &Device) -> GradcheckReport {
    let device = device.clone().autodiff();
    let (task_config, model_config, alpha) = setting(arch, filters);
    let step_loss_weights = (plus.multi_step_loss && algorithm != Algorithm::Reptile && inner_steps > 0).then(|| {
        let total = (inner_steps * (inner_steps + 1) / 2) as f64;
        (1..=inner_steps).map(|j| j as f64 / total).collect::<Vec<f64>>()
    });
    let config = MamlConfig::new().with_algorithm(algorithm).with_inner_lr(alpha).with_inner_steps(inner_steps).with_step_loss_weights(step_loss_weights.clone());
    let sampler = tasks::sampler(&task_config, &[], seed).expect("built-in tasks need no data");
    let mut rng = Rng::stream(seed, 7);
    let mut theta = Network::new(&model_config, sampler.input_shape(), sampler.outputs(), &mut rng, &device).expect("a valid model");
    let zero_head = plus.zero_head && arch != Arch::Mlp;
    if zero_head {
        theta.head = theta.head.clone().map(&mut Fill { value: 0.0 });
    }
    // Meta-SGD's rates start away from one value, so that a rate mixed up with another shows
    let rates = (algorithm == Algorithm::MetaSgd).then(|| theta.clone().map(&mut Fill { value: alpha }).map(&mut Jitter { rng: Rng::stream(seed, 8), spread: 0.5, shift: 0.0 }));
    let per_step_rates = plus.per_step_rates && algorithm == Algorithm::Maml;
    let step_rates = per_step_rates.then(|| Jitter { rng: Rng::stream(seed, 9), spread: 0.5, shift: 0.0 }.map_float(step_rates(&theta, inner_steps, alpha)));
    let per_step_bn = plus.per_step_bn && algorithm == Algorithm::Maml && arch != Arch::Mlp;
    let step_norms = per_step_bn.then(|| {
        // (shifted too: β starts at 0, which no factor moves)
        let mut jitter = Jitter { rng: Rng::stream(seed, 10), spread: 0.5, shift: 0.5 };
        step_norms(&theta, inner_steps).into_iter().map(|s| s.map(&mut jitter)).collect()
    });
    let params = MetaParams { theta, rates, step_rates, step_norms };
    // the meta-gradients adapt both tasks at once (tiled weights); the references below adapt
    // each task alone
    let drawn: Vec<Task> = (0..2).map(|_| sampler.sample(Split::MetaTrain, &mut rng)).collect();
    let batch: Vec<TaskTensors> = drawn.iter().map(|t| TaskTensors::new(std::slice::from_ref(t), sampler.input_shape(), &device)).collect();

    if algorithm == Algorithm::Reptile {
        return reptile_check(&params, &drawn, &batch, sampler.input_shape(), &config, arch, zero_head);
    }
    // the training path's meta-gradient (`maml::learners::meta_gradient`: the query set off the
    // graph, its gradient carried back through the inner loop), as the mean over the tasks
    let meta_grads = |config: MamlConfig| -> Grads {
        let sum = meta_gradient(&params, &drawn, sampler.input_shape(), &config, drawn.len());
        let mean = 1.0 / drawn.len() as f64;
        Grads(sum.direction.0.into_iter().map(|(id, g)| (id, g.mul_scalar(mean))).collect())
    };
    let exact = meta_grads(config.clone());
    let first_order = meta_grads(config.clone().with_first_order(true));
    // the multi-step loss without its earlier steps' terms: what the check must tell apart
    let last_only = step_loss_weights.as_ref().map(|w| {
        let mut last = vec![0.0; w.len()];
        last[w.len() - 1] = w[w.len() - 1];
        meta_grads(config.clone().with_step_loss_weights(Some(last)))
    });
    // each step's weight in F: the last step's loss alone, or the multi-step loss's
    let weights = step_loss_weights.clone().unwrap_or_else(|| {
        let mut w = vec![0.0; inner_steps.max(1)];
        w[inner_steps.max(1) - 1] = 1.0;
        w
    });
    // F(θ, rates) by burn's autodiff, and the first-order reference Σ_j w_j ∇L_query(θ_j)
    let meta_loss = |m: &MetaParams| -> f64 {
        // a value only: the rates as constants, so that no graph is left behind unused (burn's
        // autodiff cleans up such orphans in time that grows with the graph)
        let m = m.clone().map(&mut Detach { leaf: false });
        let per_task = |t: &TaskTensors| -> f64 {
            let each = adapt_by_autodiff(algorithm, &m, t, alpha, inner_steps);
            each.iter().zip(&weights).filter(|(_, w)| **w != 0.0).map(|(net, w)| w * scalar(net.loss(t.query_x.clone(), &t.query))).sum()
        };
        batch.iter().map(per_task).sum::<f64>() / batch.len() as f64
    };
    let mut fo_reference = Grads::default();
    for t in &batch {
        for (adapted, &w) in adapt_by_autodiff(algorithm, &params, t, alpha, inner_steps).iter().zip(&weights) {
            if w == 0.0 {
                continue;
            }
            let g = autodiff_grads(adapted, &adapted.loss(t.query_x.clone(), &t.query).backward());
            fo_reference = fo_reference + Grads(g.0.into_iter().map(|(id, v)| (id, v.mul_scalar(w / batch.len() as f64))).collect());
        }
    }

    // sample coordinates over all parameters (θ, then the rates), every tensor at least once,
    // and per-step rates at every step
    let values = read_params(&params);
    let theta_tensors = read_params(&params.theta).len();
    let picks = pick_coords(&values, coords, &mut rng, |rng| {
        if !per_step_rates {
            return Vec::new();
        }
        let at = theta_tensors + usize::from(params.rates.is_some()) * theta_tensors; // [1, steps, θ's tensors], after θ and Meta-SGD's rates
        (0..inner_steps.max(1)).map(|k| (at, k * theta_tensors + rng.int_below(theta_tensors))).collect()
    });

    let value = |g: &Grads, i: usize, index: usize| to_f64(g.0[&values[i].id].clone())[index];
    let central = |id, index, eps: f64| {
        let plus = meta_loss(&params.clone().map(&mut Perturb { id, index, eps }));
        let minus = meta_loss(&params.clone().map(&mut Perturb { id, index, eps: -eps }));
        (plus - minus) / (2.0 * eps)
    };
    let (mut max_rel_err, mut first_order_max_rel_err, mut second_order_effect, mut multi_step_effect) = (0f64, 0f64, 0f64, 0f64);
    let (mut compared, mut kinks_skipped) = (0, 0);
    for &(i, index) in &picks {
        let id = values[i].id;
        let fd = central(id, index, 1e-6);
        if is_kink(fd, central(id, index, 5e-7)) {
            kinks_skipped += 1;
            continue;
        }
        compared += 1;
        let e = value(&exact, i, index);
        max_rel_err = max_rel_err.max(rel_err(e, fd));
        if let Some(last) = &last_only {
            multi_step_effect = multi_step_effect.max(rel_err(value(last, i, index), e));
        }
        // ANIL's body is not adapted, so it has no gradient of its own in θ_k: compare it too
        if i < theta_tensors && fo_reference.0.contains_key(&id) {
            let fo = value(&first_order, i, index);
            first_order_max_rel_err = first_order_max_rel_err.max(rel_err(fo, value(&fo_reference, i, index)));
            second_order_effect = second_order_effect.max(rel_err(fo, e));
        }
    }
    GradcheckReport { algorithm, model: arch, inner_steps, step_loss_weights, per_step_rates, per_step_bn, zero_head, coords: compared, kinks_skipped, max_rel_err, first_order_max_rel_err, second_order_effect, multi_step_effect }
}

/// Reptile's direction Σ_i (θ − θ'_i) from the outer loop (tasks tiled, `maml::learners`) against
/// each task's θ' from `adapt_by_autodiff`; with one step both equal the closed form α Σ_i ∇L_i(θ).
fn reptile_check(params: &MetaParams, drawn: &[Task], batch: &[TaskTensors], shape: crate::tasks::InputShape, config: &MamlConfig, arch: Arch, zero_head: bool) -> GradcheckReport {
    let direction = reptile_direction(params, drawn, shape, config, drawn.len()).direction;
    let start = Grads::values(&params.theta);
    let mut reference = Grads::default();
    for t in batch {
        let each = adapt_by_autodiff(Algorithm::Reptile, params, t, config.inner_lr, config.inner_steps);
        let adapted = Grads::values(each.last().expect("the adapted network"));
        reference = reference + Grads(adapted.0.into_iter().map(|(id, after)| (id, start.0[&id].clone() - after)).collect());
    }
    let mut max_rel_err = 0f64;
    let mut coords = 0;
    for (id, r) in &reference.0 {
        for (x, y) in to_f64(r.clone()).iter().zip(to_f64(direction.0[id].clone())) {
            max_rel_err = max_rel_err.max(rel_err(*x, y));
            coords += 1;
        }
    }
    GradcheckReport {
        algorithm: Algorithm::Reptile,
        model: arch,
        inner_steps: config.inner_steps,
        step_loss_weights: None,
        per_step_rates: false,
        per_step_bn: false,
        zero_head,
        coords,
        kinks_skipped: 0,
        max_rel_err,
        first_order_max_rel_err: 0.0,
        second_order_effect: 0.0,
        multi_step_effect: 0.0,
    }
}

/// Adds uniform noise of ± `spread` times each value and of ± `shift` (learned rates and
/// batch-norms in the check).
struct Jitter {
    rng: Rng,
    spread: f64,
    shift: f64,
}

impl ModuleMapper for Jitter {
    fn map_float<const D: usize>(&mut self, p: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (spread, shift) = (self.spread, self.shift);
        let rng = &mut self.rng;
        p.map(|t| {
            let (device, shape) = (t.device(), t.shape());
            let v: Vec<f64> = t.into_data().convert::<f64>().try_to_vec::<f64>().expect("float").into_iter().map(|x| x * (1.0 + rng.uniform(-spread, spread)) + rng.uniform(-shift, shift)).collect();
            Tensor::<D>::from_data(TensorData::new(v, shape), &device).require_grad()
        })
    }
}

fn to_f64<const D: usize>(t: Tensor<D>) -> Vec<f64> {
    t.into_data().convert::<f64>().try_to_vec::<f64>().expect("float data")
}

fn scalar(t: Tensor<1>) -> f64 {
    to_f64(t)[0]
}

/// The coordinates a check compares, as (tensor, index) of `values`: one in every tensor, then
/// `extra`'s, then random ones over all values until there are `coords`.
pub fn pick_coords(values: &[ParamValues], coords: usize, rng: &mut Rng, extra: impl FnOnce(&mut Rng) -> Vec<(usize, usize)>) -> Vec<(usize, usize)> {
    let mut picks: Vec<(usize, usize)> = values.iter().enumerate().map(|(i, p)| (i, rng.int_below(p.values.len()))).collect();
    picks.extend(extra(rng));
    let total: usize = values.iter().map(|p| p.values.len()).sum();
    while picks.len() < coords.max(values.len()) {
        let mut flat = rng.int_below(total);
        let i = values.iter().position(|p| flat < p.values.len() || { flat -= p.values.len(); false }).expect("in range");
        picks.push((i, flat));
    }
    picks
}

/// A parameter's id, shape and values.
#[derive(Clone, Debug)]
pub struct ParamValues {
    pub id: ParamId,
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

/// Every parameter's values, read synchronously (finite differences, tests).
pub fn read_params<M: Module>(net: &M) -> Vec<ParamValues> {
    struct Read(Vec<ParamValues>);
    impl ModuleVisitor for Read {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            let t = p.val();
            let shape = t.dims().to_vec();
            let values = t.into_data().convert::<f32>().try_to_vec::<f32>().expect("parameters should be float");
            self.0.push(ParamValues { id: p.id, shape, values });
        }
    }
    let mut r = Read(Vec::new());
    net.visit(&mut r);
    r.0
}

/// Adds `eps` to element `index` of parameter `id` (for finite differences).
pub struct Perturb {
    pub id: ParamId,
    pub index: usize,
    pub eps: f64,
}

impl ModuleMapper for Perturb {
    fn map_float<const D: usize>(&mut self, p: Param<Tensor<D>>) -> Param<Tensor<D>> {
        if p.id != self.id {
            return p;
        }
        let (index, eps) = (self.index, self.eps);
        p.map(|t| {
            let (device, shape) = (t.device(), t.shape());
            let mut v = t.into_data().convert::<f64>().try_to_vec::<f64>().expect("parameters should be float");
            v[index] += eps;
            Tensor::<D>::from_data(TensorData::new(v, shape), &device)
        })
    }
}
