//! The Trainer: one meta-iteration per `step()`, meta-test on demand, weights in and out; plain data back, no printing.

use burn::module::Module;
use burn::optim::{AdamConfig, ModuleOptimizer};
use burn::prelude::*;
use serde::Serialize;

use crate::config::{Arch, MamlConfig, TrainerConfig};
use crate::maml::adapt::correct;
use crate::maml::params::{meta_gradients, param_tensors, scale_gradients, write_params};
use crate::maml::view::view;
use crate::maml::{EvalReport, TaskTensors, View, adapt, evaluate};
use crate::readback::Pending;
use crate::model::Network;
use crate::rng::Rng;
use crate::tasks::{self, DataError, ImageSet, Split, Task, TaskSampler};
use crate::weights::Weights;

/// RNG streams derived from the seed: each consumer has its own, so changing the meta-batch
/// does not change the initial weights nor the meta-test tasks.
pub mod streams {
    pub const META_TRAIN: u64 = 1;
    pub const INIT: u64 = 2;
    pub const META_TEST: u64 = 3;
    pub const RANDOM_INIT_BASELINE: u64 = 4;
    pub const VIEW: u64 = 5;
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TrainError {
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(
        "training diverged at iteration {iteration}: the {what} is not finite. The last finite weights are kept; lower α (inner_lr) or β (meta_lr) and go on"
    )]
    Diverged { iteration: usize, what: &'static str },
    #[error("{0}")]
    Weights(String),
}

/// How many of a meta-batch's tasks one adaptation takes at once (see `model::layers`).
///
/// The MLP's layers are tiny matmuls, so the cost is per op: all tasks at once (one batched
/// matmul) runs the sinusoid meta-iteration ~4x faster than a loop over tasks. Conv nets are
/// bound by their convolutions, and burn's backward of a grouped convolution's weight loops
/// over the groups (`conv2d_weight_grad_groups` in burn-backend 0.22.1,
/// src/backend/ops/modules/conv.rs), so tasks as groups are slower there than one task at a
/// time: `maml bench --task glyphs` 0.31 it/s with 32 tasks at once, 0.48 with one, 0.50 with 4.
pub fn tasks_at_once(arch: Arch, meta_batch: usize) -> usize {
    match arch {
        Arch::Mlp => meta_batch,
        Arch::Conv4 | Arch::SeedCnn => 4.min(meta_batch),
    }
}

/// What one meta-iteration did.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct StepReport {
    /// Meta-iterations done, this one included.
    pub iteration: usize,
    /// Mean query loss after adaptation over the meta-batch: the loss MAML minimises.
    pub meta_loss: f64,
    /// Query accuracy after adaptation over the meta-batch, in [0, 1] (classification only).
    pub accuracy: Option<f64>,
    /// Global L2 norm of the meta-gradient, before clipping.
    pub grad_norm: f64,
}

pub struct Trainer {
    config: TrainerConfig,
    device: Device,
    net: Network,
    optim: ModuleOptimizer,
    sampler: Box<dyn TaskSampler>,
    rng: Rng,
    iteration: usize,
}

impl Trainer {
    /// A fresh run. `device` is a plain device (flex, wgpu); training uses its autodiff form.
    /// `data` holds the Omniglot image sets, if the task needs them.
    pub fn new(config: TrainerConfig, data: &[ImageSet], device: &Device) -> Result<Self, TrainError> {
        config.validate().map_err(TrainError::Config)?;
        let sampler = tasks::sampler(&config.task, data, config.seed)?;
        let device = device.clone().autodiff();
        let mut init = Rng::stream(config.seed, streams::INIT);
        let net = Network::new(&config.model, sampler.input_shape(), sampler.outputs(), &mut init, &device)
            .map_err(TrainError::Config)?;
        Ok(Self {
            rng: Rng::stream(config.seed, streams::META_TRAIN),
            optim: AdamConfig::new().init(),
            config,
            device,
            net,
            sampler,
            iteration: 0,
        })
    }

    pub fn config(&self) -> &TrainerConfig {
        &self.config
    }

    /// The meta-learned weights θ, on the plain device (for meta-testing by hand).
    pub fn meta_parameters(&self) -> Network {
        self.net.valid()
    }

    pub fn iteration(&self) -> usize {
        self.iteration
    }

    /// Changes the MAML settings (α, β, inner steps, first-order, meta-batch, clipping) from the
    /// next meta-iteration on, keeping the weights and Adam's state.
    pub fn set_maml(&mut self, maml: MamlConfig) -> Result<(), TrainError> {
        let mut config = self.config.clone();
        config.maml = maml;
        config.validate().map_err(TrainError::Config)?;
        self.config = config;
        Ok(())
    }

    /// One meta-iteration: adapt to `meta_batch` meta-train tasks, average their query losses,
    /// one backward for the meta-gradient, one Adam step with β. On a non-finite loss or
    /// gradient nothing changes but the iteration's tasks are spent, and the error says where.
    pub fn step(&mut self) -> Result<StepReport, TrainError> {
        let (pending, readings) = self.forward_backward();
        let values: Vec<f64> = readings.into_data().convert::<f64>().try_to_vec::<f64>().expect("readings are float");
        self.apply(pending, &values)
    }

    /// The graph half of `step`: everything up to the one transfer of [loss, |g|², correct].
    /// The browser reads `readings` asynchronously and then calls `apply`.
    pub fn forward_backward(&mut self) -> (PendingStep, Tensor<1>) {
        let MamlConfig { inner_lr, inner_steps, meta_batch, first_order, .. } = self.config.maml;
        let shape = self.sampler.input_shape();
        // the tasks are drawn one by one from the stream, and adapted all at once
        let tasks: Vec<Task> = (0..meta_batch).map(|_| self.sampler.sample(Split::MetaTrain, &mut self.rng)).collect();
        let n_query = tasks.iter().map(|task| task.query.n).sum();
        let chunk = tasks_at_once(self.config.model.arch, meta_batch);
        let (mut total, mut hits) = (None::<Tensor<1>>, None::<Tensor<1>>);
        for part in tasks.chunks(chunk) {
            let t = TaskTensors::new(part, shape, &self.device);
            let adapted = adapt(&self.net, &t, inner_lr, inner_steps, first_order);
            let out = adapted.forward(t.query_x.clone()); // [tasks, n_query, outputs]
            if let Some(c) = correct(out.clone().detach(), &t.query) {
                let c = c.sum();
                hits = Some(hits.map_or(c.clone(), |acc| acc + c));
            }
            let loss = t.query.loss(out).sum();
            total = Some(total.map_or(loss.clone(), |acc| acc + loss));
        }
        let loss = total.expect("meta_batch ≥ 1").mul_scalar(1.0 / meta_batch as f64);
        let gradients = loss.clone().backward();
        let (grads, norm2) = meta_gradients(&self.net, &gradients);
        let mut readings = vec![loss.inner(), norm2];
        readings.extend(hits.map(Tensor::inner));
        (PendingStep { grads, n_query }, Tensor::cat(readings, 0))
    }

    /// The update half of `step`, given the values of `forward_backward`'s readings.
    pub fn apply(&mut self, pending: PendingStep, values: &[f64]) -> Result<StepReport, TrainError> {
        let iteration = self.iteration + 1;
        let (meta_loss, grad_norm) = (values[0], values[1].sqrt());
        if !meta_loss.is_finite() {
            return Err(TrainError::Diverged { iteration, what: "meta-loss" });
        }
        if !grad_norm.is_finite() {
            return Err(TrainError::Diverged { iteration, what: "meta-gradient" });
        }
        let mut grads = pending.grads;
        if let Some(max) = self.config.maml.grad_clip
            && grad_norm > max
        {
            grads = scale_gradients(&self.net, grads, max / grad_norm);
        }
        self.net = self.optim.step(self.config.maml.meta_lr, self.net.clone(), grads);
        self.iteration = iteration;
        Ok(StepReport { iteration, meta_loss, grad_norm, accuracy: values.get(2).map(|c| c / pending.n_query as f64) })
    }

    /// Meta-test: adapt the meta-learned weights to `tasks` held-out tasks with `steps` inner
    /// steps of α. The tasks come from the seed's meta-test stream: the same on every call.
    pub fn evaluate(&self, tasks: usize, steps: usize) -> EvalReport {
        self.evaluate_pending(tasks, steps, false).wait()
    }

    /// The same meta-test from a fresh random initialisation: what adaptation alone achieves.
    pub fn evaluate_random_init(&self, tasks: usize, steps: usize) -> EvalReport {
        self.evaluate_pending(tasks, steps, true).wait()
    }

    /// `evaluate` (or, with `random_init`, its baseline) as a pending read.
    pub fn evaluate_pending(&self, tasks: usize, steps: usize, random_init: bool) -> Pending<EvalReport> {
        let net = if random_init {
            let mut init = Rng::stream(self.config.seed, streams::RANDOM_INIT_BASELINE);
            Network::new(&self.config.model, self.sampler.input_shape(), self.sampler.outputs(), &mut init, &self.device.clone().inner())
                .expect("the configuration was validated when the trainer was built")
        } else {
            self.net.valid()
        };
        let mut rng = Rng::stream(self.config.seed, streams::META_TEST);
        evaluate(&net, self.sampler.as_ref(), &mut rng, tasks, self.config.maml.inner_lr, steps)
    }

    /// A meta-test task for display, the `index`-th of the view stream.
    pub fn view_task(&self, index: u64) -> Task {
        self.sampler.sample(Split::MetaTest, &mut Rng::stream(self.config.seed ^ index.wrapping_mul(0x9E37_79B9), streams::VIEW))
    }

    /// The `index`-th view task adapted step by step with the current weights and α.
    pub fn view_pending(&self, index: u64, steps: usize) -> Pending<View> {
        view(&self.net.valid(), self.view_task(index), self.sampler.input_shape(), self.config.maml.inner_lr, steps)
    }

    /// The weights with their config, as the bytes of a weights file.
    pub fn save_weights(&self) -> Vec<u8> {
        self.weights_pending().wait()
    }

    pub fn weights_pending(&self) -> Pending<Vec<u8>> {
        let tensors = param_tensors(&self.net);
        let shapes: Vec<Vec<usize>> = tensors.iter().map(|(s, _)| s.clone()).collect();
        let (config, iteration) = (self.config.clone(), self.iteration);
        Pending::from_parts(tensors.into_iter().map(|(_, t)| t).collect(), move |flat| {
            let mut rest = flat;
            let values = shapes
                .iter()
                .map(|s| {
                    let (mine, tail) = rest.split_at(s.iter().product());
                    rest = tail;
                    mine.iter().map(|&v| v as f32).collect()
                })
                .collect();
            Weights { config, iteration, shapes, values }.encode()
        })
    }

    /// Loads weights into this run. A file from another model or shape is refused with the
    /// reason and nothing changes. Adam's state restarts.
    pub fn load_weights(&mut self, bytes: &[u8]) -> Result<(), TrainError> {
        let w = Weights::decode(bytes).map_err(TrainError::Weights)?;
        let ours: Vec<Vec<usize>> = param_tensors(&self.net).into_iter().map(|(s, _)| s).collect();
        if w.shapes != ours {
            let (theirs, mine) = (&w.config.model, &self.config.model);
            return Err(TrainError::Weights(format!(
                "these weights belong to another model ({} with {} filters / {} hidden units, {} outputs, {}) and do not fit this one ({} with {} filters / {} hidden units, {} outputs, {})",
                theirs.arch, theirs.filters, theirs.hidden, w.config.task.ways, w.config.task.kind,
                mine.arch, mine.filters, mine.hidden, self.sampler.outputs(), self.config.task.kind,
            )));
        }
        if w.values.iter().flatten().any(|v| !v.is_finite()) {
            return Err(TrainError::Weights("the weights file holds non-finite values".into()));
        }
        self.net = write_params(self.net.clone(), &w.values);
        self.optim = AdamConfig::new().init();
        self.iteration = w.iteration;
        Ok(())
    }

    /// A trainer rebuilt from a weights file: its config, then its weights.
    pub fn from_weights(bytes: &[u8], data: &[ImageSet], device: &Device) -> Result<Self, TrainError> {
        let w = Weights::decode(bytes).map_err(TrainError::Weights)?;
        let mut trainer = Self::new(w.config, data, device)?;
        trainer.load_weights(bytes)?;
        Ok(trainer)
    }
}

/// The meta-gradient of a meta-iteration, waiting for its readings.
pub struct PendingStep {
    grads: burn::optim::GradientsParams,
    n_query: usize,
}
