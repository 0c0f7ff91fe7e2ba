//! The navigation run: θ and Adam, the goal and noise streams, and what a driver (the CLI, later the page) asks of it; plain data back, no printing.

use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;
use serde::Serialize;

use super::env::{self, Point};
use super::meta::{Estimator, InnerLoop, ReturnHistory, inner_step, surrogate};
use super::policy::Policy;
use super::rollout::{self, Rollouts};
use crate::config::{TaskKind, TrainerConfig};
use crate::maml::Diverged;
use crate::maml::optim::{Adam, clip_on_device, meta_gradient_vector};
use crate::maml::params::{Detach, Tile, autodiff_grads};
use crate::model::Grads;
use crate::rng::Rng;
use crate::trainer::TrainError;
use crate::weights::{self, Weights, param_tensors, write_params};

/// RNG streams of a navigation run (those of `trainer::streams` where they mean the same).
pub mod streams {
    pub use crate::trainer::streams::{INIT, META_TEST, META_TRAIN, RANDOM_INIT_BASELINE};
    /// The policy's exploration noise in training. (`trainer::streams::AUGMENT` has the same
    /// number but never meets it: augmentation's streams are seeded by a task stream's state,
    /// not the run's seed, and navigation has no images.)
    pub const NOISE: u64 = 7;
    /// The exploration noise of a meta-test: the same for every start.
    pub const TEST_NOISE: u64 = 8;
}

/// What one meta-iteration did.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct NavReport {
    /// Meta-iterations done, this one included.
    pub iteration: usize,
    /// Mean return (the sum of a trajectory's rewards) over the meta-batch before adaptation.
    pub return_before: f64,
    /// Mean return after the inner steps: what the meta-update raises.
    pub return_after: f64,
    /// Global L2 norm of the meta-gradient, before clipping.
    pub grad_norm: f64,
}

/// Where a meta-test starts adapting from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NavStart {
    MetaLearned,
    /// A fresh random policy (the seed's own, the same on every call).
    Random,
}

/// Goals adapted together in a meta-test: the meta-batch's size, so a meta-test holds no more
/// than a meta-iteration does.
const EVAL_CHUNK: usize = 40;

/// `grads` with a zero gradient for every parameter of `net` that has none, so that Adam's
/// layout is all of θ at every meta-iteration. (With per-step spreads, a first-order step and no
/// score term, the spreads before the last reach nothing; without the zeros Adam's layout would
/// change when `first_order_until` passes, and its moments start again.)
fn with_zeros(net: &Policy, mut grads: Grads) -> Grads {
    struct Fill<'a>(&'a mut Grads, Device);
    impl ModuleVisitor for Fill<'_> {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            let n = p.shape().num_elements();
            let device = &self.1;
            self.0.0.entry(p.id).or_insert_with(|| Tensor::zeros([n], device));
        }
    }
    let device = grads.0.values().next().expect("the surrogate reaches θ's mean").device();
    net.visit(&mut Fill(&mut grads, device));
    grads
}

pub struct NavTrainer {
    config: TrainerConfig,
    /// θ (one task) on the autodiff form of the device.
    theta: Policy,
    optim: Adam,
    iteration: usize,
    goals: Rng,
    noise: Rng,
    estimator: Estimator,
    /// The past meta-iterations' returns that the score term's baseline is fit on.
    history: ReturnHistory,
}

impl NavTrainer {
    /// A fresh run of `config` (a navigation config, its seed included) on burn's CPU backend.
    pub fn new(config: TrainerConfig) -> Result<Self, TrainError> {
        config.validate().map_err(TrainError::Config)?;
        if config.task.kind != TaskKind::Navigation {
            return Err(TrainError::Config(format!("the navigation trainer runs the navigation task, not {}", config.task.kind)));
        }
        let device = Device::flex().autodiff();
        let theta = Self::init(&config, streams::INIT, &device);
        let seed = config.seed;
        Ok(Self { config, theta, optim: Adam::default(), iteration: 0, goals: Rng::stream(seed, streams::META_TRAIN), noise: Rng::stream(seed, streams::NOISE), estimator: Estimator::paper(), history: ReturnHistory::default() })
    }

    fn init(config: &TrainerConfig, stream: u64, device: &Device) -> Policy {
        let hidden = config.model.hidden;
        let mut policy = Policy::new(&[hidden, hidden], &mut Rng::stream(config.seed, stream), device);
        if let Some(steps) = config.maml.per_step_std {
            policy = policy.with_step_spreads(steps);
        }
        if device.is_autodiff() { policy.map(&mut Detach { leaf: true }) } else { policy }
    }

    pub fn config(&self) -> &TrainerConfig {
        &self.config
    }

    pub fn iteration(&self) -> usize {
        self.iteration
    }

    /// Changes α, β, the inner steps, the meta-batch or first-order from the next meta-iteration
    /// on (the page's live settings), keeping θ and Adam's state; a config that cannot run is
    /// refused and nothing changes.
    pub fn set_maml(&mut self, maml: crate::config::MamlConfig) -> Result<(), TrainError> {
        let config = TrainerConfig { maml, ..self.config.clone() };
        config.validate().map_err(TrainError::Config)?;
        let (old, new) = (&self.config.maml, &config.maml);
        if old.per_step_std != new.per_step_std {
            return Err(TrainError::Config("the per-step spreads are the run's: adding, dropping or resizing them starts a new run".into()));
        }
        if (old.inner_lr, old.inner_steps) != (new.inner_lr, new.inner_steps) {
            self.history.clear();
        }
        self.config = config;
        Ok(())
    }

    /// The estimator's choices beyond the config (the paper's unless changed: tests, ablations);
    /// the score term and the baseline's history are the config's (`MamlConfig::score_term`,
    /// `MamlConfig::baseline_history`).
    pub fn set_estimator(&mut self, estimator: Estimator) {
        self.estimator = estimator;
    }

    fn inner_loop(&self, steps: usize) -> InnerLoop {
        let (t, m) = (&self.config.task, &self.config.maml);
        InnerLoop { alpha: m.inner_lr, steps, first_order: m.at(self.iteration).first_order, pre: t.shots, post: t.queries }
    }

    /// One meta-iteration: a meta-batch of goals, each inner step's trajectories and the
    /// post-adaptation ones sampled, the surrogate's gradient (`meta::surrogate`), and Adam's
    /// step up it. With no inner steps it is plain policy gradient on the return (joint
    /// training). A non-finite gradient leaves θ as it was.
    pub fn step(&mut self) -> Result<NavReport, TrainError> {
        let m = self.config.maml.clone();
        let goals: Vec<Point> = (0..m.meta_batch).map(|_| env::sample_goal(&mut self.goals)).collect();
        let inner = self.inner_loop(m.inner_steps);
        let (horizon, noise) = (self.estimator.horizon, &mut self.noise);
        let leaves = self.theta.clone().map(&mut Detach { leaf: true });
        let estimator = Estimator { score_term: m.score_term(), baseline_history: m.baseline_history(), ..self.estimator };
        let s = surrogate(&leaves, goals.len(), &inner, &estimator, &self.history, &mut |stage, fast| {
            let n = if stage < inner.steps { inner.pre } else { inner.post };
            rollout::sample(fast, &goals, n, horizon, noise)
        });
        let grads = with_zeros(&leaves, autodiff_grads(&leaves, &s.value.backward()));
        // ascent on the mean over the meta-batch: Adam descends −S / tasks
        let (direction, layout, norm2) = meta_gradient_vector(&self.theta, &grads, -1.0 / goals.len() as f64);
        let grad_norm = norm2.clone().into_scalar::<f64>().sqrt();
        let iteration = self.iteration + 1;
        if !grad_norm.is_finite() {
            return Err(Diverged { iteration, what: "meta-gradient" }.into());
        }
        let direction = match m.grad_clip {
            Some(max) => clip_on_device(direction, norm2, max),
            None => direction,
        };
        self.theta = self.optim.step(m.meta_lr_at(self.iteration), self.theta.clone(), direction, &layout);
        self.iteration = iteration;
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let returns = s.sample.post.task_returns();
        self.history.record(&goals, &returns, estimator.baseline_history);
        let after = mean(&returns);
        let before = s.sample.pre.first().map_or(after, |r| mean(&r.task_returns()));
        Ok(NavReport { iteration, return_before: before, return_after: after, grad_norm })
    }

    /// The first `n` goals of the seed's meta-test stream (not the meta-train one): the same on
    /// every call.
    pub fn meta_test_goals(&self, n: usize) -> Vec<Point> {
        let mut rng = Rng::stream(self.config.seed, streams::META_TEST);
        (0..n).map(|_| env::sample_goal(&mut rng)).collect()
    }

    /// θ, or the random start, on the plain device.
    pub fn start(&self, start: NavStart) -> Policy {
        match start {
            NavStart::MetaLearned => self.theta.valid(),
            NavStart::Random => Self::init(&self.config, streams::RANDOM_INIT_BASELINE, &Device::flex()),
        }
    }

    /// θ's log std per action dimension, then with per-step spreads each stage's after it
    /// (`Policy::step_log_std`), one row per stage.
    pub fn log_stds(&self) -> Vec<Vec<f64>> {
        let read = |p: &burn::module::Param<Tensor<2>>| p.val().into_data().convert::<f64>().try_to_vec::<f64>().expect("float data");
        std::iter::once(&self.theta.log_std).chain(&self.theta.step_log_std).map(read).collect()
    }

    /// Adapts `start` to every goal at once with `steps` inner steps of the run's rule, `shots`
    /// trajectories each: the trajectories sampled before each step and after the last
    /// (`steps + 1` batches; their returns are the meta-test's). The noise is the meta-test's,
    /// so every start sees the same.
    pub fn adapt_and_rollout(&self, start: &Policy, goals: &[Point], steps: usize) -> Vec<Rollouts> {
        self.adapt_with(start, goals, steps, &mut Rng::stream(self.config.seed, streams::TEST_NOISE))
    }

    fn adapt_with(&self, start: &Policy, goals: &[Point], steps: usize, noise: &mut Rng) -> Vec<Rollouts> {
        let mut fast = start.clone().map(&mut Tile { tasks: goals.len() });
        let mut out = Vec::with_capacity(steps + 1);
        for step in 0..=steps {
            let r = rollout::sample(&fast.at_stage(step), goals, self.config.task.shots, self.estimator.horizon, noise);
            if step < steps {
                fast = inner_step(&fast, &r, step, self.config.maml.inner_lr, true, self.estimator.discount).0;
            }
            out.push(r);
        }
        out
    }

    /// Meta-test: each goal's mean return after 0..=steps inner steps from `start`, `[step][goal]`,
    /// `EVAL_CHUNK` goals adapted at a time (the noise stream goes on from one chunk to the next).
    pub fn evaluate(&self, start: &Policy, goals: &[Point], steps: usize) -> Vec<Vec<f64>> {
        let mut noise = Rng::stream(self.config.seed, streams::TEST_NOISE);
        let mut out = vec![Vec::with_capacity(goals.len()); steps + 1];
        for chunk in goals.chunks(EVAL_CHUNK) {
            for (step, r) in self.adapt_with(start, chunk, steps, &mut noise).iter().enumerate() {
                out[step].extend(r.task_returns());
            }
        }
        out
    }

    /// θ with its config, as the bytes of a weights file (`weights`).
    pub fn weights(&self) -> Vec<u8> {
        weights::read(&self.theta, self.config.clone(), self.iteration).wait()
    }

    /// Loads θ from a weights file of a navigation run of this policy's shape; anything else is
    /// refused with the reason and nothing changes. Adam's state restarts.
    pub fn load_weights(&mut self, bytes: &[u8]) -> Result<(), TrainError> {
        let w = Weights::decode(bytes).map_err(TrainError::Weights)?;
        if w.config.task.kind != TaskKind::Navigation {
            return Err(TrainError::Weights(format!("these weights are of a {} run, not a navigation policy: train one with `maml train --task navigation`", w.config.task.kind)));
        }
        let (theirs_steps, mine_steps) = (w.config.maml.per_step_std, self.config.maml.per_step_std);
        if theirs_steps != mine_steps {
            let spreads = |s: Option<usize>| s.map_or("one spread".to_string(), |k| format!("per-step spreads for {k} inner step{}", if k == 1 { "" } else { "s" }));
            return Err(TrainError::Weights(format!("these weights have {} and this run has {}: train with the same to load them", spreads(theirs_steps), spreads(mine_steps))));
        }
        let ours: Vec<Vec<usize>> = param_tensors(&self.theta).into_iter().map(|(s, _)| s).collect();
        if w.shapes != ours {
            return Err(TrainError::Weights(format!("these weights are of a policy with {} hidden units and do not fit this one ({})", w.config.model.hidden, self.config.model.hidden)));
        }
        if w.values.iter().flatten().any(|v| !v.is_finite()) {
            return Err(TrainError::Weights("these weights hold non-finite values".into()));
        }
        self.theta = write_params(self.theta.clone(), &w.values);
        (self.iteration, self.optim) = (w.iteration, Adam::default());
        self.history.clear();
        Ok(())
    }

    /// A run rebuilt from a weights file: its config, then its weights.
    pub fn from_weights(bytes: &[u8]) -> Result<Self, TrainError> {
        let w = Weights::decode(bytes).map_err(TrainError::Weights)?;
        if w.config.task.kind != TaskKind::Navigation {
            return Err(TrainError::Weights(format!("these weights are of a {} run, not a navigation policy", w.config.task.kind)));
        }
        let mut t = Self::new(w.config)?;
        t.load_weights(bytes)?;
        Ok(t)
    }
}
