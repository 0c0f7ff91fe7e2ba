//! The oracle for exact MAML: the meta-gradient against central finite differences, in f64.
//!
//! F(θ) = L_query(θ_k) with θ_k from k inner steps whose gradients come from burn's own
//! (first-order) autodiff, an implementation independent of the hand-written backward. The
//! exact meta-gradient must match dF/dθ; the first-order one must match ∇L_query(θ_k).

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::prelude::*;
use serde::Serialize;

use crate::config::{Arch, ModelConfig, TaskConfig, TaskKind};
use crate::maml::params::{Detach, SgdStep, autodiff_grads};
use crate::maml::{TaskTensors, adapt};
use crate::model::{Grads, Network};
use crate::rng::Rng;
use crate::tasks::{self, Split, Task};

#[derive(Clone, Debug, Serialize)]
pub struct GradcheckReport {
    pub model: Arch,
    pub inner_steps: usize,
    /// Parameter coordinates compared.
    pub coords: usize,
    /// Coordinates skipped because a kink of the piecewise-smooth meta-loss lay within the
    /// finite-difference step (see `is_kink`).
    pub kinks_skipped: usize,
    /// Largest relative error of the exact meta-gradient against finite differences.
    pub max_rel_err: f64,
    /// Largest relative error of the first-order meta-gradient against ∇L_query(θ_k).
    pub first_order_max_rel_err: f64,
    /// Largest relative difference between the first-order and the exact meta-gradient: the
    /// size of the second-order terms, which the check above must be able to see.
    pub second_order_effect: f64,
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

/// `device` must be configured for f64 (`Device::configure(FloatDType::F64)`) for the figures to
/// mean anything; the meta-batch holds two tasks.
pub fn gradcheck(arch: Arch, filters: usize, inner_steps: usize, coords: usize, seed: u64, device: &Device) -> GradcheckReport {
    let device = device.clone().autodiff();
    let (task_config, model_config, alpha) = setting(arch, filters);
    let sampler = tasks::sampler(&task_config, &[], seed).expect("built-in tasks need no data");
    let mut rng = Rng::stream(seed, 7);
    let net = Network::new(&model_config, sampler.input_shape(), sampler.outputs(), &mut rng, &device).expect("a valid model");
    // the exact and first-order meta-gradients adapt both tasks at once (tiled weights); the
    // references below adapt each task alone
    let drawn: Vec<Task> = (0..2).map(|_| sampler.sample(Split::MetaTrain, &mut rng)).collect();
    let both = TaskTensors::new(&drawn, sampler.input_shape(), &device);
    let batch: Vec<TaskTensors> = drawn.iter().map(|t| TaskTensors::new(std::slice::from_ref(t), sampler.input_shape(), &device)).collect();

    let meta_grads = |first_order: bool| -> Grads {
        let loss = adapt(&net, &both, alpha, inner_steps, first_order).loss(both.query_x.clone(), &both.query).mean();
        autodiff_grads(&net, &loss.backward())
    };
    let exact = meta_grads(false);
    let first_order = meta_grads(true);
    // F(θ), its inner steps by burn's autodiff, and the first-order reference ∇L_query(θ_k)
    let adapt_autodiff = |start: &Network, t: &TaskTensors| -> Network {
        let mut m = start.clone().map(&mut Detach { leaf: true });
        for _ in 0..inner_steps {
            let g = autodiff_grads(&m, &m.loss(t.support_x.clone(), &t.support).backward());
            m = m.map(&mut SgdStep { grads: &g, lr: alpha }).map(&mut Detach { leaf: true });
        }
        m
    };
    let meta_loss = |m: &Network| -> f64 {
        batch.iter().map(|t| scalar(adapt_autodiff(m, t).loss(t.query_x.clone(), &t.query))).sum::<f64>() / batch.len() as f64
    };
    let mut fo_reference = Grads::default();
    for t in &batch {
        let adapted = adapt_autodiff(&net, t);
        let g = autodiff_grads(&adapted, &adapted.loss(t.query_x.clone(), &t.query).backward());
        for (id, v) in g.0 {
            let v = v.mul_scalar(1.0 / batch.len() as f64);
            let sum = fo_reference.0.remove(&id).map_or(v.clone(), |acc| acc + v);
            fo_reference.0.insert(id, sum);
        }
    }

    // sample coordinates over all parameters, every tensor at least once
    let params = read_params(&net);
    let mut picks: Vec<(usize, usize)> = params.iter().enumerate().map(|(i, p)| (i, rng.int_below(p.values.len()))).collect();
    let total: usize = params.iter().map(|p| p.values.len()).sum();
    while picks.len() < coords.max(params.len()) {
        let mut flat = rng.int_below(total);
        let i = params.iter().position(|p| flat < p.values.len() || { flat -= p.values.len(); false }).expect("in range");
        picks.push((i, flat));
    }

    let value = |g: &Grads, i: usize, index: usize| to_f64(g.0[&params[i].id].clone())[index];
    let central = |id, index, eps: f64| {
        let plus = meta_loss(&net.clone().map(&mut Perturb { id, index, eps }));
        let minus = meta_loss(&net.clone().map(&mut Perturb { id, index, eps: -eps }));
        (plus - minus) / (2.0 * eps)
    };
    let (mut max_rel_err, mut first_order_max_rel_err, mut second_order_effect) = (0f64, 0f64, 0f64);
    let (mut compared, mut kinks_skipped) = (0, 0);
    for &(i, index) in &picks {
        let id = params[i].id;
        let fd = central(id, index, 1e-6);
        if is_kink(fd, central(id, index, 5e-7)) {
            kinks_skipped += 1;
            continue;
        }
        compared += 1;
        let (e, fo) = (value(&exact, i, index), value(&first_order, i, index));
        max_rel_err = max_rel_err.max(rel_err(e, fd));
        first_order_max_rel_err = first_order_max_rel_err.max(rel_err(fo, value(&fo_reference, i, index)));
        second_order_effect = second_order_effect.max(rel_err(fo, e));
    }
    GradcheckReport { model: arch, inner_steps, coords: compared, kinks_skipped, max_rel_err, first_order_max_rel_err, second_order_effect }
}

fn to_f64<const D: usize>(t: Tensor<D>) -> Vec<f64> {
    t.into_data().convert::<f64>().try_to_vec::<f64>().expect("float data")
}

fn scalar(t: Tensor<1>) -> f64 {
    to_f64(t)[0]
}

/// A parameter's id, shape and values.
#[derive(Clone, Debug)]
pub struct ParamValues {
    pub id: ParamId,
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

/// Every parameter's values, read synchronously (finite differences, tests).
pub fn read_params(net: &Network) -> Vec<ParamValues> {
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
