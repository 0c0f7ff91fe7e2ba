//! The Trainer: one meta-iteration per `step()`, meta-test on demand, weights in and out; plain data back, no printing.

use burn::module::Module;
use burn::optim::{AdamConfig, ModuleOptimizer};
use burn::prelude::*;
use serde::Serialize;

use crate::config::{Arch, MamlConfig, TrainerConfig};
use crate::maml::adapt::correct;
use crate::maml::params::{Detach, autodiff_grads, meta_gradients, param_tensors, scale_gradients, write_params};
use crate::maml::view::view;
use crate::maml::{EvalReport, TaskTensors, View, adapt, evaluate};
use crate::readback::Pending;
use crate::model::{Grads, InputShape, Network};
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

/// A meta-batch is split into this many shares, each with its own graph. Natively they run on
/// threads of their own: burn-flex, built without its `rayon` feature (with it, its threads and
/// these compete), runs each kernel on one core; conv4 goes from 0.49 it/s to 0.85 with two
/// shares on two threads. The browser's wasm has one
/// thread, where a second share only adds per-op work (the sinusoid ~15 %), so it has one. The
/// split depends on the platform only, never on the machine's cores: a seed gives the same sums,
/// in the same order, on every machine of a platform.
#[cfg(not(target_arch = "wasm32"))]
pub const SHARES: usize = 2;
#[cfg(target_arch = "wasm32")]
pub const SHARES: usize = 1;

/// One share of a meta-iteration: its tasks' summed query loss after adaptation and number
/// correct (not tracked), and the gradient of that loss with respect to θ.
struct Share {
    loss: Tensor<1>,
    hits: Option<Tensor<1>>,
    grads: Grads,
}

#[allow(clippy::too_many_arguments)]
fn share(net: &Network, tasks: &[Task], shape: InputShape, device: &Device, at_once: usize, inner_lr: f64, steps: usize, first_order: bool) -> Share {
    // θ as fresh leaves of a graph of this share's own
    let theta = net.clone().map(&mut Detach { leaf: true });
    let (mut total, mut hits) = (None::<Tensor<1>>, None::<Tensor<1>>);
    for part in tasks.chunks(at_once) {
        let t = TaskTensors::new(part, shape, device);
        let adapted = adapt(&theta, &t, inner_lr, steps, first_order);
        let out = adapted.forward(t.query_x.clone()); // [tasks, n_query, outputs]
        if let Some(c) = correct(out.clone().detach(), &t.query) {
            let c = c.sum();
            hits = Some(hits.map_or(c.clone(), |acc| acc + c));
        }
        let loss = t.query.loss(out).sum();
        total = Some(total.map_or(loss.clone(), |acc| acc + loss));
    }
    let total = total.expect("a share has at least one task");
    let grads = autodiff_grads(&theta, &total.backward());
    Share { loss: total.inner(), hits: hits.map(Tensor::inner), grads }
}

/// How many of a meta-batch's tasks one adaptation takes at once (see `model::layers`).
///
/// The MLP's layers are tiny matmuls, so the cost is per op: all tasks at once (one batched
/// matmul) runs the sinusoid meta-iteration ~4x faster than a loop over tasks. Conv nets are
/// bound by their convolutions, and burn's backward of a grouped convolution's weight loops
/// over the groups (`conv2d_weight_grad_groups` in burn-backend 0.22.1,
/// src/backend/ops/modules/conv.rs), so many tasks as groups are slower there than few:
/// `maml bench --task glyphs` (two shares of 16 tasks) 0.60 it/s with 16 tasks at once, 0.81
/// with 8, 0.75–0.85 with 4, 0.86–0.93 with 2, 0.78–0.91 with 1.
pub fn tasks_at_once(arch: Arch, share: usize) -> usize {
    match arch {
        Arch::Mlp => share,
        Arch::Conv4 | Arch::SeedCnn => 2.min(share),
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
    threads: usize,
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
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        })
    }

    /// Threads for the shares of a meta-batch (natively; default: the machine's cores). The
    /// results do not depend on it: the shares and their order are fixed (`SHARES`).
    pub fn set_threads(&mut self, threads: usize) {
        self.threads = threads.max(1);
    }

    pub fn threads(&self) -> usize {
        self.threads
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
        // the tasks are drawn one by one from the stream, then adapted in shares (see `SHARES`)
        let tasks: Vec<Task> = (0..meta_batch).map(|_| self.sampler.sample(Split::MetaTrain, &mut self.rng)).collect();
        let n_query = tasks.iter().map(|task| task.query.n).sum();
        let arch = self.config.model.arch;
        let (net, device) = (&self.net, &self.device);
        let work = |tasks: &[Task]| share(net, tasks, shape, device, tasks_at_once(arch, tasks.len()), inner_lr, inner_steps, first_order);
        let parts: Vec<&[Task]> = tasks.chunks(meta_batch.div_ceil(SHARES)).collect();
        #[cfg(not(target_arch = "wasm32"))]
        let shares: Vec<Share> = if self.threads > 1 {
            std::thread::scope(|scope| {
                let others: Vec<_> = parts[1..].iter().map(|&part| scope.spawn(move || work(part))).collect();
                let first = work(parts[0]);
                std::iter::once(first).chain(others.into_iter().map(|h| h.join().expect("a share of the meta-batch panicked"))).collect()
            })
        } else {
            parts.into_iter().map(work).collect()
        };
        #[cfg(target_arch = "wasm32")]
        let shares: Vec<Share> = parts.into_iter().map(work).collect();

        let scale = 1.0 / meta_batch as f64; // the meta-loss is the tasks' mean
        let mut shares = shares.into_iter();
        let first = shares.next().expect("meta_batch ≥ 1");
        let (mut loss, mut hits, mut grads) = (first.loss, first.hits, first.grads);
        for s in shares {
            loss = loss + s.loss;
            hits = hits.zip(s.hits).map(|(a, b)| a + b);
            grads = grads.add(s.grads);
        }
        let (grads, norm2) = meta_gradients(&self.net, &grads, scale);
        let mut readings = vec![loss.mul_scalar(scale), norm2];
        readings.extend(hits);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::maml::adapt::adapt;
    use crate::config::TaskKind;

    /// Shares, each on a graph of its own, sum to the meta-gradient of one graph over all tasks.
    #[test]
    fn shares_sum_to_the_meta_gradient_of_the_whole_batch() {
        for kind in [TaskKind::Sinusoid, TaskKind::Glyphs] {
            let mut config = TrainerConfig::preset(kind);
            (config.model.filters, config.task.queries, config.maml.meta_batch) = (4, 2, 5);
            let t = Trainer::new(config.clone(), &[], &Device::flex()).unwrap();
            let mut rng = Rng::stream(7, 7);
            let tasks: Vec<Task> = (0..5).map(|_| t.sampler.sample(Split::MetaTrain, &mut rng)).collect();
            let shape = t.sampler.input_shape();
            let (alpha, steps) = (config.maml.inner_lr, 2);

            // one graph, all tasks at once, the meta-parameters themselves as leaves
            let whole = TaskTensors::new(&tasks, shape, &t.device);
            let loss = adapt(&t.net, &whole, alpha, steps, false).loss(whole.query_x.clone(), &whole.query).sum();
            let reference = autodiff_grads(&t.net, &loss.backward());

            let at_once = tasks_at_once(config.model.arch, 5);
            let a = share(&t.net, &tasks[..3], shape, &t.device, at_once, alpha, steps, false);
            let b = share(&t.net, &tasks[3..], shape, &t.device, at_once, alpha, steps, false);
            let summed = a.grads.add(b.grads);
            assert_eq!(summed.0.len(), reference.0.len());
            let values = |g: &Tensor<1>| g.clone().into_data().convert::<f64>().to_vec::<f64>().unwrap();
            let mut norm = 0.0;
            for (id, r) in &reference.0 {
                let (r, s) = (values(r), values(&summed.0[id]));
                let scale = r.iter().fold(1e-6f64, |m, v| m.max(v.abs()));
                norm += r.iter().map(|v| v * v).sum::<f64>();
                for (x, y) in r.iter().zip(&s) {
                    assert!((x - y).abs() <= 1e-4 * scale, "{kind}: {x} (one graph) vs {y} (shares)");
                }
            }
            assert!(norm > 1e-6, "{kind}: the meta-gradient should not vanish");
        }
    }
}
