//! The Trainer: the state of one run (config, tasks, random streams, θ and Adam) and what a driver asks of it; plain data back, no printing.
//!
//! Every operation that reads numbers from the device returns a `Pending`: `.wait()` natively,
//! `.read().await` in the browser. The algorithm itself lives in `maml`: the outer loop in
//! `maml::outer`, the inner loop in `maml::adapt`.

use burn::module::Module;
use burn::prelude::*;

use crate::checkpoint::{self, Checkpoint};
use crate::config::{Algorithm, MamlConfig, TaskKind, TrainerConfig};
use crate::maml::adapt::meta_params;
use crate::maml::optim::Adam;
use crate::maml::params::{RateSummary, rate_summaries};
use crate::maml::pretrain;
use crate::maml::learners::direction;
use crate::maml::outer::meta_step_summed;
use crate::maml::shares::{Layout, Shares, Sum, fold};
use crate::maml::compare::{compare, compare_sums, variants};
use crate::maml::landscape::{self, LandscapeOptions, Plane};
use crate::maml::walkthrough::{self, Walk};
use crate::maml::{Comparison, Diverged, EvalReport, MetaLearner, MetaParams, StepReport, View, evaluate_tasks, meta_steps};
use crate::model::Network;
use crate::pending::Pending;
use crate::rng::Rng;
use crate::maml::view::{OwnStep, OwnTask, own_task};
use crate::tasks::{self, DataError, ImageSet, InputShape, Split, Task, TaskSampler};
use crate::weights::{self, Weights, param_tensors, write_params};

/// RNG streams derived from the seed: each consumer has its own, so changing the meta-batch
/// does not change the initial weights nor the meta-test tasks.
pub mod streams {
    pub const META_TRAIN: u64 = 1;
    pub const INIT: u64 = 2;
    pub const META_TEST: u64 = 3;
    pub const RANDOM_INIT_BASELINE: u64 = 4;
    pub const VIEW: u64 = 5;
    pub const LANDSCAPE: u64 = 6;
    /// Supervised pre-training's classifier head and examples (`maml::pretrain`). (Navigation's
    /// streams are its trainer's own: the two never meet.)
    pub const PRETRAIN: u64 = 8;
    /// Per meta-train task, from the meta-train stream's state before the task is drawn.
    pub const AUGMENT: u64 = crate::tasks::augment::STREAM;
}

/// The run's path for the landscape: at most this many floats of θ kept (a few MB), as many
/// snapshots as fit, between 8 and 64; when full, every other one is dropped and the interval
/// doubles, so the path always spans the whole run.
const PATH_FLOATS: usize = 1 << 22;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TrainError {
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Diverged(#[from] Diverged),
    #[error("{0}")]
    Weights(String),
}

/// Where a meta-test starts adapting from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// The meta-learned θ.
    MetaLearned,
    /// A fresh random initialisation of the same network: what adaptation alone achieves.
    Random,
}

pub struct Trainer {
    config: TrainerConfig,
    /// The autodiff form of the device the run was made on.
    device: Device,
    learner: MetaLearner,
    sampler: Box<dyn TaskSampler>,
    /// The meta-train task stream.
    rng: Rng,
    threads: usize,
    /// θ at earlier meta-iterations (plain device), every `path_every` (0: none kept).
    path: Vec<(usize, Network)>,
    path_every: usize,
    /// How a meta-batch is cut (`maml::shares::Layout`): the CLI's shares or the page's units.
    layout: Layout,
    /// The page's meta-iteration in progress (`plan_step`), its units' sums as they come.
    plan: Option<Plan>,
    /// The next meta-batch, sampled ahead while the planned one is computed (`sample_ahead`).
    ahead: Option<Ahead>,
    /// The page's comparison in progress (`plan_compare`), its units' sums as they come.
    compare_plan: Option<ComparePlan>,
    /// Changes whenever θ, Adam's state or the settings do (`version`).
    version: u32,
    /// θ is the run's initialisation, not yet pre-trained, loaded or resumed: what `pretrain`
    /// starts from.
    fresh: bool,
}

/// Versions are drawn from one counter for every trainer of the process, so a new run's never
/// equals an old run's.
static VERSIONS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

fn next_version() -> u32 {
    VERSIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// A meta-batch sampled ahead from a copy of the task stream: the stream's state it was drawn
/// from, its tasks, and the stream after them. `plan_step` takes it only when the stream is still
/// at `from` and the meta-batch is its size, so the tasks are the ones it would have drawn.
struct Ahead {
    from: u64,
    tasks: Vec<Task>,
    rng: Rng,
}

/// A planned meta-iteration: its meta-batch, the MAML settings it was planned under, and each
/// unit's sum once computed.
struct Plan {
    tasks: Vec<Task>,
    /// Whether its tasks are the meta-batch sampled ahead (`sample_ahead`).
    ahead: bool,
    maml: MamlConfig,
    sums: Vec<Option<Sum>>,
}

/// A comparison planned for the page's workers (`Trainer::plan_compare`): the meta-batch the
/// next meta-iteration trains on, the learners compared (`maml::compare::variants`), each one's
/// units' sums once computed, and the version of the weights they are computed at.
struct ComparePlan {
    tasks: Vec<Task>,
    variants: Vec<MamlConfig>,
    sums: Vec<Vec<Option<Sum>>>,
    version: u32,
}

impl Trainer {
    /// A fresh run. `device` is a plain device (flex, wgpu); training uses its autodiff form.
    /// `data` holds the Omniglot image sets, if the task needs them.
    pub fn new(config: TrainerConfig, data: &[ImageSet], device: &Device) -> Result<Self, TrainError> {
        config.validate().map_err(TrainError::Config)?;
        let sampler = tasks::sampler(&config.task, data, config.seed)?;
        let device = device.clone().autodiff();
        let params = Self::init(&config, sampler.as_ref(), streams::INIT, &device)?;
        Ok(Self {
            rng: Rng::stream(config.seed, streams::META_TRAIN),
            learner: MetaLearner::new(params, 0),
            config,
            device,
            sampler,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            path: Vec::new(),
            path_every: 0,
            layout: Layout::Shares,
            plan: None,
            ahead: None,
            compare_plan: None,
            version: next_version(),
            fresh: true,
        })
    }

    /// Fresh meta-parameters drawn from the seed's `stream`: θ, and what the learner adds to it
    /// (`maml::adapt::meta_params`).
    fn init(config: &TrainerConfig, sampler: &dyn TaskSampler, stream: u64, device: &Device) -> Result<MetaParams, TrainError> {
        let mut rng = Rng::stream(config.seed, stream);
        let theta = Network::new(&config.model, sampler.input_shape(), sampler.outputs(), &mut rng, device).map_err(TrainError::Config)?;
        Ok(meta_params(theta, &config.maml))
    }

    /// Supervised pre-training of θ's body (`maml::pretrain`) for the run's `pretrain_steps`,
    /// before its first meta-iteration: `each` sees every step's report. θ's head, Meta-SGD's
    /// and the per-step rates and batch-norms start afresh from the pre-trained θ, as
    /// `meta_params` makes them. Nothing to do for a run without it; refused once the run has
    /// meta-trained (a resumed run, or loaded weights, are past their start).
    pub fn pretrain(&mut self, each: impl FnMut(&StepReport)) -> Result<(), TrainError> {
        let Some(steps) = self.config.maml.pretrain_steps else { return Ok(()) };
        if !self.fresh {
            let past = match self.learner.iteration {
                0 => "its weights are pre-trained, loaded or resumed already".to_string(),
                1 => "it has meta-trained 1 meta-iteration".to_string(),
                n => format!("it has meta-trained {n} meta-iterations"),
            };
            return Err(TrainError::Config(format!("pre-training is a run's start, and this run is past it: {past}")));
        }
        let mut rng = Rng::stream(self.config.seed, streams::PRETRAIN);
        let theta = pretrain::pretrain(&self.learner.params.theta, self.sampler.as_ref(), &self.config, steps, &mut rng, &self.shares(), each).map_err(TrainError::Config)?;
        self.learner = MetaLearner::new(meta_params(theta, &self.config.maml), 0);
        (self.version, self.fresh) = (next_version(), false);
        Ok(())
    }

    /// Threads for the shares of a meta-batch (natively; default: the machine's cores). The
    /// results do not depend on it: the shares and their order are fixed (`maml::shares`).
    pub fn set_threads(&mut self, threads: usize) {
        self.threads = threads.max(1);
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    pub fn config(&self) -> &TrainerConfig {
        &self.config
    }

    /// The meta-learned weights θ (and Meta-SGD's rates), on the plain device.
    pub fn meta_parameters(&self) -> MetaParams {
        self.learner.params.valid()
    }

    pub fn iteration(&self) -> usize {
        self.learner.iteration
    }

    /// Changes the MAML settings (`MamlConfig`: the inner loop's, β, the meta-batch, clipping)
    /// from the next meta-iteration on, keeping the weights and Adam's state. The algorithm is
    /// the run's.
    pub fn set_maml(&mut self, maml: MamlConfig) -> Result<(), TrainError> {
        if maml.algorithm != self.config.maml.algorithm {
            return Err(TrainError::Config(format!("the algorithm is the run's ({}): changing it starts a new run", self.config.maml.algorithm)));
        }
        if maml.per_step_rates != self.config.maml.per_step_rates || maml.per_step_bn != self.config.maml.per_step_bn {
            return Err(TrainError::Config("the learned per-step rates and batch-norms are the run's: adding, dropping or resizing them starts a new run".into()));
        }
        if maml.pretrain_steps != self.config.maml.pretrain_steps {
            return Err(TrainError::Config("pre-training (pretrain_steps) is the run's start: changing it starts a new run".into()));
        }
        if maml.zero_head != self.config.maml.zero_head {
            return Err(TrainError::Config("whether the head is held at zero (zero_head) is the run's: changing it starts a new run".into()));
        }
        let mut config = self.config.clone();
        config.maml = maml;
        config.validate().map_err(TrainError::Config)?;
        self.config = config;
        self.version = next_version();
        Ok(())
    }

    /// A number that changes whenever θ, Adam's state or the settings change (a meta-iteration,
    /// weights loaded, a checkpoint resumed, a live setting), and that no other trainer of the
    /// process has held: what was computed from this trainer's weights file is still current
    /// while it holds (the page's share workers begin a meta-iteration early on it).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// How a meta-batch is cut: the CLI's shares (the default) or the page's units
    /// (`web::Lab`). The sums, and so the run, depend on it.
    pub fn set_layout(&mut self, layout: Layout) {
        self.layout = layout;
        self.plan = None;
        self.version = next_version();
    }

    /// How a meta-batch's work is laid out on this trainer's device and threads.
    fn shares(&self) -> Shares {
        Shares::new(&self.config.model, self.threads, &self.device, self.layout)
    }

    /// One meta-iteration: `steps(1)`, its report or its divergence.
    pub fn step(&mut self) -> Pending<'_, Result<StepReport, TrainError>> {
        self.steps(1).map(|(mut reports, diverged)| match diverged {
            Some(e) => Err(e),
            None => Ok(reports.pop().expect("a meta-iteration that did not diverge reports")),
        })
    }

    /// Up to `n` meta-iterations read from the device at once (`maml::outer::meta_steps`, the
    /// outer loop's one entry point): their reports, and the divergence that ended them early,
    /// if one did (the weights are then those before the diverged iteration).
    pub fn steps(&mut self, n: usize) -> Pending<'_, (Vec<StepReport>, Option<TrainError>)> {
        self.plan = None;
        self.ahead = None;
        (self.version, self.fresh) = (next_version(), false);
        self.record_path();
        let shares = self.shares();
        let (sampler, rng) = (self.sampler.as_ref(), &mut self.rng);
        meta_steps(&mut self.learner, n, || sampler.sample(Split::MetaTrain, rng), sampler.input_shape(), &self.config.maml, &shares)
            .map(|(reports, diverged)| (reports, diverged.map(TrainError::from)))
    }

    /// The next meta-iteration, planned for the page's workers: its meta-batch sampled as
    /// `steps` would and cut into units (`Shares::parts`); returns their number. Each unit's
    /// sum is then computed here (`compute_unit`) or by another worker from `weights` and
    /// `unit_tasks` (`web::Share`) and handed back (`put_unit`), and `finish_step` adds them in
    /// unit order and applies them: the weights of `steps(1)`, bit for bit, whoever computed
    /// which unit. A plan not finished is dropped by the next one, its tasks spent.
    pub fn plan_step(&mut self) -> usize {
        self.record_path();
        let (tasks, ahead) = match self.ahead.take() {
            Some(ahead) if ahead.from == self.rng.state() && ahead.tasks.len() == self.config.maml.meta_batch => {
                self.rng = ahead.rng;
                (ahead.tasks, true)
            }
            _ => {
                let mut rng = self.rng.clone();
                let tasks = self.meta_batch(&mut rng);
                self.rng = rng;
                (tasks, false)
            }
        };
        let units = self.shares().parts(&tasks).len();
        self.plan = Some(Plan { tasks, ahead, maml: self.config.maml.at(self.learner.iteration), sums: (0..units).map(|_| None).collect() });
        units
    }

    /// Whether the planned meta-iteration's tasks are the meta-batch sampled ahead, the ones
    /// `ahead_unit_tasks` gave.
    pub fn planned_ahead(&self) -> bool {
        self.plan.as_ref().is_some_and(|p| p.ahead)
    }

    /// Samples the next meta-batch now, from a copy of the task stream (so nothing else changes),
    /// for the page to send its units' tasks to other workers while this one computes: the next
    /// `plan_step` takes it if the stream and the meta-batch size are still the ones it was
    /// drawn for, and draws afresh otherwise. Returns its number of units.
    pub fn sample_ahead(&mut self) -> usize {
        let from = self.rng.state();
        let mut rng = self.rng.clone();
        let tasks = self.meta_batch(&mut rng);
        let units = self.shares().parts(&tasks).len();
        self.ahead = Some(Ahead { from, tasks, rng });
        units
    }

    /// The tasks of unit `unit` of the meta-batch sampled ahead.
    pub fn ahead_unit_tasks(&self, unit: usize) -> Result<&[Task], TrainError> {
        let ahead = self.ahead.as_ref().ok_or_else(|| TrainError::Config("no meta-batch is sampled ahead".into()))?;
        self.unit_of(&ahead.tasks, unit, "the meta-batch sampled ahead")
    }

    /// A meta-batch of `meta_batch` meta-train tasks drawn from `rng`.
    fn meta_batch(&self, rng: &mut Rng) -> Vec<Task> {
        (0..self.config.maml.meta_batch).map(|_| self.sampler.sample(Split::MetaTrain, rng)).collect()
    }

    /// Unit `unit` of the meta-batch `tasks` (`what`, for the sentence when it has no such unit).
    fn unit_of<'t>(&self, tasks: &'t [Task], unit: usize, what: &str) -> Result<&'t [Task], TrainError> {
        let parts = self.shares().parts(tasks);
        parts.get(unit).copied().ok_or_else(|| TrainError::Config(format!("{what} has {} units", parts.len())))
    }

    fn planned(&self) -> Result<&Plan, TrainError> {
        self.plan.as_ref().ok_or_else(|| TrainError::Config("no meta-iteration is planned".into()))
    }

    /// The tasks of unit `unit` of the planned meta-iteration.
    pub fn unit_tasks(&self, unit: usize) -> Result<&[Task], TrainError> {
        self.unit_of(&self.planned()?.tasks, unit, "the planned meta-iteration")
    }

    /// Computes unit `unit`'s sum here.
    pub fn compute_unit(&mut self, unit: usize) -> Result<(), TrainError> {
        let sum = self.unit_sum(self.unit_tasks(unit)?, &self.planned()?.maml);
        self.plan.as_mut().expect("planned").sums[unit] = Some(sum);
        Ok(())
    }

    /// The direction of learner `maml` summed over the unit `part`, as a worker computes it.
    fn unit_sum(&self, part: &[Task], maml: &MamlConfig) -> Sum {
        let shape = self.sampler.input_shape();
        self.shares().part_sum(part, |part, at_once| direction(&self.learner.params, part, shape, maml, at_once))
    }

    /// Unit `unit`'s sum as another worker computed it (`Sum::encode`).
    pub fn put_unit(&mut self, unit: usize, bytes: &[u8]) -> Result<(), TrainError> {
        self.unit_tasks(unit)?;
        let sum = Sum::decode(bytes, &self.learner.params).map_err(TrainError::Config)?;
        self.plan.as_mut().expect("planned").sums[unit] = Some(sum);
        Ok(())
    }

    /// The planned meta-iteration applied, its units' sums added in unit order: its report, or
    /// its divergence, as `steps(1)` gives them.
    pub fn finish_step(&mut self) -> Result<Pending<'_, (Vec<StepReport>, Option<TrainError>)>, TrainError> {
        let plan = self.plan.take().ok_or_else(|| TrainError::Config("no meta-iteration is planned".into()))?;
        if let Some(missing) = plan.sums.iter().position(Option::is_none) {
            let units = plan.sums.len();
            self.plan = Some(plan);
            return Err(TrainError::Config(format!("unit {missing} of the meta-iteration's {units} has not been computed")));
        }
        let sums = plan.sums.into_iter().map(|s| s.expect("checked")).collect();
        (self.version, self.fresh) = (next_version(), false);
        Ok(meta_step_summed(&mut self.learner, &plan.tasks, sums, &plan.maml).map(|(reports, diverged)| (reports, diverged.map(TrainError::from))))
    }

    /// The exact meta-gradient against the first-order one (and Reptile's direction, for
    /// Reptile) on the meta-batch the next meta-iteration trains on (`maml::compare`), sampled
    /// from a copy of the task stream, so the run goes on as it would have.
    pub fn compare_gradients(&self) -> Pending<'static, Comparison> {
        let tasks = self.meta_batch(&mut self.rng.clone());
        compare(&self.learner.params, &tasks, self.sampler.input_shape(), &self.config.maml.at(self.learner.iteration), &self.shares())
    }

    /// `compare_gradients` planned for the page's workers, as `plan_step` plans a meta-iteration:
    /// the learners compared and the units of the meta-batch, each (learner, unit) computed here
    /// (`compute_compare_unit`) or by another worker from `compare_weights` and
    /// `compare_unit_tasks` (`web::Share`) and handed back (`put_compare_unit`); `finish_compare`
    /// adds them in unit order: `compare_gradients`' figures, bit for bit. Returns the number of
    /// units (`compare_learners`, of learners).
    pub fn plan_compare(&mut self) -> usize {
        let tasks = self.meta_batch(&mut self.rng.clone());
        let variants = variants(&self.config.maml.at(self.learner.iteration));
        let units = self.shares().parts(&tasks).len();
        let sums = variants.iter().map(|_| (0..units).map(|_| None).collect()).collect();
        self.compare_plan = Some(ComparePlan { tasks, variants, sums, version: self.version });
        units
    }

    /// How many learners the planned comparison compares (0 when none is planned).
    pub fn compare_learners(&self) -> usize {
        self.compare_plan.as_ref().map_or(0, |p| p.variants.len())
    }

    fn compare_planned(&self) -> Result<&ComparePlan, TrainError> {
        self.compare_plan.as_ref().ok_or_else(|| TrainError::Config("no comparison is planned".into()))
    }

    /// The weights file another worker computes learner `variant`'s units of the planned
    /// comparison with: this run's θ, with that learner's settings.
    pub fn compare_weights(&self, variant: usize) -> Result<Pending<'static, Vec<u8>>, TrainError> {
        let maml = self.compare_variant(variant)?.clone();
        Ok(weights::read(&self.learner.params, TrainerConfig { maml, ..self.config.clone() }, self.learner.iteration))
    }

    /// The settings of learner `variant` of the planned comparison.
    fn compare_variant(&self, variant: usize) -> Result<&MamlConfig, TrainError> {
        let plan = self.compare_planned()?;
        plan.variants.get(variant).ok_or_else(|| TrainError::Config(format!("a comparison has {} learners", plan.variants.len())))
    }

    /// The tasks of unit `unit` of the planned comparison's meta-batch.
    pub fn compare_unit_tasks(&self, unit: usize) -> Result<&[Task], TrainError> {
        self.unit_of(&self.compare_planned()?.tasks, unit, "the planned comparison")
    }

    /// Computes learner `variant`'s sum over unit `unit` of the planned comparison here.
    pub fn compute_compare_unit(&mut self, variant: usize, unit: usize) -> Result<(), TrainError> {
        let sum = self.unit_sum(self.compare_unit_tasks(unit)?, self.compare_variant(variant)?);
        self.compare_plan.as_mut().expect("planned").sums[variant][unit] = Some(sum);
        Ok(())
    }

    /// Learner `variant`'s sum over unit `unit` as another worker computed it (`Sum::encode`).
    pub fn put_compare_unit(&mut self, variant: usize, unit: usize, bytes: &[u8]) -> Result<(), TrainError> {
        self.compare_variant(variant)?;
        self.compare_unit_tasks(unit)?;
        let sum = Sum::decode(bytes, &self.learner.params).map_err(TrainError::Config)?;
        self.compare_plan.as_mut().expect("planned").sums[variant][unit] = Some(sum);
        Ok(())
    }

    /// The planned comparison, its units' sums added in unit order: `compare_gradients`' figures.
    /// A unit missing, or weights or settings changed since the plan, is refused with a sentence.
    pub fn finish_compare(&mut self) -> Result<Pending<'static, Comparison>, TrainError> {
        let plan = self.compare_plan.take().ok_or_else(|| TrainError::Config("no comparison is planned".into()))?;
        if plan.version != self.version {
            return Err(TrainError::Config("the weights or settings changed while the gradients were compared".into()));
        }
        if let Some((v, u)) = plan.sums.iter().enumerate().find_map(|(v, sums)| sums.iter().position(Option::is_none).map(|u| (v, u))) {
            let units = plan.sums[v].len();
            self.compare_plan = Some(plan);
            return Err(TrainError::Config(format!("unit {u} of the comparison's {units} has not been computed for its learner {v}")));
        }
        let sums = plan.sums.into_iter().map(|sums| fold(sums.into_iter().map(|s| s.expect("checked")).collect())).collect();
        Ok(compare_sums(&self.learner.params, plan.tasks.len(), sums))
    }

    /// Keeps θ every `every` meta-iterations from now on, for the landscape's path (0: keeps none,
    /// and forgets the path).
    pub fn set_path_every(&mut self, every: usize) {
        self.path_every = every;
        if every == 0 {
            self.path.clear();
        }
    }

    /// θ, kept when the last kept one is `path_every` or more meta-iterations old (a batch of
    /// meta-iterations is one call: the page's path points fall at its batches' starts).
    fn record_path(&mut self) {
        let it = self.learner.iteration;
        if self.path_every == 0 || self.path.last().is_some_and(|(last, _)| it < last + self.path_every) {
            return;
        }
        let theta = self.learner.params.valid().theta;
        let cap = (PATH_FLOATS / theta.num_params().max(1)).clamp(8, 64);
        if self.path.len() >= cap {
            // keep the first, then every other one: still the whole run, half as dense
            let kept: Vec<_> = std::mem::take(&mut self.path).into_iter().enumerate().filter(|(i, _)| i % 2 == 0).map(|(_, p)| p).collect();
            self.path = kept;
            self.path_every *= 2;
        }
        self.path.push((it, theta));
    }

    /// θ's path so far: the iterations kept.
    pub fn path_iterations(&self) -> Vec<usize> {
        self.path.iter().map(|(it, _)| *it).collect()
    }

    /// Adds θ at `iteration` (read from a weights file) to the path, for `maml landscape`.
    pub fn add_to_path(&mut self, iteration: usize, bytes: &[u8]) -> Result<(), TrainError> {
        let w = Weights::decode(bytes).map_err(TrainError::Weights)?;
        self.check_fits(&w, "this path's weights")?;
        let params = write_params(self.learner.params.clone(), &w.values);
        self.path.push((iteration, params.valid().theta));
        self.path.sort_by_key(|(it, _)| *it);
        Ok(())
    }

    /// The tasks of the landscape: a fixed meta-batch of meta-train tasks, the same on every call.
    fn landscape_tasks(&self) -> Vec<Task> {
        self.meta_batch(&mut Rng::stream(self.config.seed, streams::LANDSCAPE))
    }

    /// The meta-objective around θ (`maml::landscape`): the plane, its arrows and path, pending
    /// one read; its grid is then evaluated row by row.
    pub fn landscape(&self, options: &LandscapeOptions) -> Result<Pending<'static, Plane>, TrainError> {
        options.check().map_err(TrainError::Config)?;
        let path: Vec<(usize, Network)> = self.path.iter().filter(|(it, _)| *it < self.learner.iteration).cloned().collect();
        Ok(landscape::plane(&self.learner, self.landscape_tasks(), self.sampler.input_shape(), &self.config.maml.at(self.learner.iteration), &self.shares(), &path, options))
    }

    /// The meta-loss the next meta-iteration would report on the landscape's tasks: the
    /// landscape's value at θ, computed as training computes it.
    pub fn landscape_meta_loss(&self) -> Pending<'static, f64> {
        let tasks = self.landscape_tasks();
        let (params, shape, config) = (&self.learner.params, self.sampler.input_shape(), &self.config.maml);
        let sum = self.shares().sum(&tasks, |part, at_once| crate::maml::learners::meta_gradient(params, part, shape, config, at_once));
        let n = tasks.len() as f64;
        Pending::new(vec![sum.loss], move |v| v[0] / n)
    }

    /// MAML's one inner step and its meta-gradient split, on the `index`-th view task, with the
    /// current α and β (`maml::walkthrough`).
    pub fn walk(&self, index: u64) -> Pending<'static, Walk> {
        walkthrough::walk(&self.learner.params, &self.view_task(index), self.sampler.input_shape(), &self.config.maml)
    }

    /// Meta-test: adapt to `tasks` held-out tasks with `steps` inner steps, from `start`.
    /// The tasks come from the seed's meta-test stream: the same on every call.
    pub fn evaluate(&self, tasks: usize, steps: usize, start: Start) -> Pending<'static, EvalReport> {
        self.evaluate_on(&self.meta_test_tasks(tasks), steps, start)
    }

    /// The first `n` tasks of the seed's meta-test stream, those `evaluate` adapts to: the
    /// same on every call, so other classifiers can be scored on them task for task.
    pub fn meta_test_tasks(&self, n: usize) -> Vec<Task> {
        let mut rng = Rng::stream(self.config.seed, streams::META_TEST);
        (0..n).map(|_| self.sampler.sample(Split::MetaTest, &mut rng)).collect()
    }

    /// Meta-test on the given tasks (of this run's input shape and ways).
    pub fn evaluate_on(&self, tasks: &[Task], steps: usize, start: Start) -> Pending<'static, EvalReport> {
        evaluate_tasks(&self.start_params(start), tasks, self.sampler.input_shape(), &self.config.maml, steps, &self.shares())
    }

    /// Where adaptation starts from `start`, on the plain device: the random start is the same
    /// one on every call, the meta-test's.
    pub fn start_params(&self, start: Start) -> MetaParams {
        match start {
            Start::MetaLearned => self.meta_parameters(),
            Start::Random => Self::init(&self.config, self.sampler.as_ref(), streams::RANDOM_INIT_BASELINE, &self.device.clone().inner())
                .expect("the configuration was validated when the trainer was built"),
        }
    }

    /// A person's task (its inputs in the network's `input_shape`), checked: one sentence for
    /// what does not fit.
    pub fn own_task(&self, support_x: Vec<f32>, support_y: Vec<f32>, query_x: Vec<f32>) -> Result<OwnTask, String> {
        let ways = (self.config.task.kind != TaskKind::Sinusoid).then(|| self.sampler.outputs());
        OwnTask::new(support_x, support_y, query_x, self.sampler.input_shape(), ways)
    }

    /// A person's task adapted step by step from `start` over the run's `test_inner_steps`, by
    /// the algorithm's own rule with the current settings (as the view and the meta-test).
    pub fn adapt_own(&self, task: &OwnTask, start: Start) -> Pending<'static, Vec<OwnStep>> {
        let steps = self.config.maml.test_inner_steps;
        own_task(&self.start_params(start), task, self.sampler.input_shape(), &self.config.maml, steps)
    }

    /// The layout of one example the network reads.
    pub fn input_shape(&self) -> InputShape {
        self.sampler.input_shape()
    }

    /// A meta-test task for display, the `index`-th of the view stream.
    pub fn view_task(&self, index: u64) -> Task {
        self.sampler.sample(Split::MetaTest, &mut Rng::stream(self.config.seed ^ index.wrapping_mul(0x9E37_79B9), streams::VIEW))
    }

    /// The `index`-th view task adapted step by step with the current weights and settings.
    pub fn view(&self, index: u64, steps: usize) -> Pending<'static, View> {
        crate::maml::view::view(&self.meta_parameters(), self.view_task(index), self.sampler.input_shape(), &self.config.maml, steps)
    }

    /// Meta-SGD's learned rates per parameter tensor (`None` for the other algorithms).
    pub fn learned_rates(&self) -> Option<Pending<'static, Vec<RateSummary>>> {
        self.meta_parameters().rates.as_ref().map(rate_summaries)
    }

    /// The weights with their config, as the bytes of a weights file.
    pub fn weights(&self) -> Pending<'static, Vec<u8>> {
        weights::read(&self.learner.params, self.config.clone(), self.learner.iteration)
    }

    /// Loads weights into this run. A file from another model or shape is refused with the
    /// reason and nothing changes. Adam's state restarts.
    pub fn load_weights(&mut self, bytes: &[u8]) -> Result<(), TrainError> {
        let w = Weights::decode(bytes).map_err(TrainError::Weights)?;
        self.check_fits(&w, "these weights")?;
        // the zeroing trick holds the head at zero: a meta-learned head would stay where it is (a
        // checkpoint resumed brings its own setting)
        if self.config.maml.zero_head && !w.config.maml.zero_head {
            return Err(TrainError::Weights("these weights have a meta-learned head and this run holds its head at zero (zero_head): train without it to load them".into()));
        }
        self.learner = MetaLearner::new(write_params(self.learner.params.clone(), &w.values), w.iteration);
        self.fresh = false;
        self.path.clear(); // another run's θ: this run's path does not lead to it
        self.version = next_version();
        Ok(())
    }

    /// Whether `w` fits this run's meta-parameters: the reason, one sentence about `whose` ("these
    /// weights"), if they do not.
    fn check_fits(&self, w: &Weights, whose: &str) -> Result<(), TrainError> {
        // MAML++'s per-step rates and batch-norms: a file without them may have the same shapes
        // (batch-norms of one step are θ's own), but not the same inner loop
        for (what, theirs_steps, mine_steps) in [
            ("rates", w.config.maml.per_step_rates, self.config.maml.per_step_rates),
            ("batch-norms", w.config.maml.per_step_bn, self.config.maml.per_step_bn),
        ] {
            let steps = |s: Option<usize>| s.map_or(format!("no learned per-step {what}"), |k| format!("learned per-step {what} for {k} inner steps"));
            if theirs_steps != mine_steps {
                return Err(TrainError::Weights(format!("{whose} have {} and this run has {}: train with the same to load them", steps(theirs_steps), steps(mine_steps))));
            }
        }
        let ours: Vec<Vec<usize>> = param_tensors(&self.learner.params).into_iter().map(|(s, _)| s).collect();
        if w.shapes != ours {
            let (theirs, mine) = (&w.config.model, &self.config.model);
            let (their_rates, my_rates) = (w.config.maml.algorithm == Algorithm::MetaSgd, self.learner.params.rates.is_some());
            if their_rates != my_rates && w.shapes.len() != ours.len() {
                return Err(TrainError::Weights(format!(
                    "{whose} are of a {} run and this run is {}: only Meta-SGD has a learned rate per parameter; choose the algorithm {} to load them",
                    w.config.maml.algorithm, self.config.maml.algorithm, w.config.maml.algorithm
                )));
            }
            return Err(TrainError::Weights(format!(
                "{whose} belong to another model ({} with {} filters / {} hidden units, {} outputs, {}) and do not fit this one ({} with {} filters / {} hidden units, {} outputs, {})",
                theirs.arch, theirs.filters, theirs.hidden, w.config.task.ways, w.config.task.kind,
                mine.arch, mine.filters, mine.hidden, self.sampler.outputs(), self.config.task.kind,
            )));
        }
        if w.values.iter().flatten().any(|v| !v.is_finite()) {
            return Err(TrainError::Weights(format!("{whose} hold non-finite values")));
        }
        Ok(())
    }

    /// A trainer rebuilt from a weights file: its config, then its weights.
    pub fn from_weights(bytes: &[u8], data: &[ImageSet], device: &Device) -> Result<Self, TrainError> {
        let w = Weights::decode(bytes).map_err(TrainError::Weights)?;
        let mut trainer = Self::new(w.config, data, device)?;
        trainer.load_weights(bytes)?;
        Ok(trainer)
    }

    /// A trainer rebuilt from a checkpoint (`maml train --resume`): its settings, then its state.
    pub fn from_checkpoint(bytes: &[u8], data: &[ImageSet], device: &Device) -> Result<Self, TrainError> {
        let c = Checkpoint::decode(bytes).map_err(TrainError::Weights)?;
        let mut trainer = Self::new(c.weights.config.clone(), data, device)?;
        trainer.resume_from(c)?;
        Ok(trainer)
    }

    /// Everything that decides the rest of the run, as the bytes of a checkpoint
    /// (`checkpoint.rs`), read from the device at once: what `weights` holds, the meta-train
    /// task stream, the MAML settings in force, and Adam's state.
    pub fn checkpoint(&self) -> Pending<'static, Vec<u8>> {
        checkpoint::read(&self.learner, self.config.clone(), self.rng.state())
    }

    /// Goes on from a checkpoint of this run exactly as the run went on from where it was taken.
    /// A damaged file, or one of another model or run, is refused with the reason and nothing
    /// changes.
    pub fn resume(&mut self, bytes: &[u8]) -> Result<(), TrainError> {
        self.resume_from(Checkpoint::decode(bytes).map_err(TrainError::Weights)?)
    }

    /// `resume` from a decoded checkpoint (the page checks its settings against its memory
    /// first): θ, the iteration, the task stream, the MAML settings and Adam's state.
    pub fn resume_from(&mut self, c: Checkpoint) -> Result<(), TrainError> {
        self.check_fits(&c.weights, "this checkpoint's weights")?;
        c.check_run(&self.config).map_err(TrainError::Weights)?;
        let config = TrainerConfig { maml: c.weights.config.maml.clone(), ..self.config.clone() };
        config.validate().map_err(|e| TrainError::Weights(format!("the checkpoint's settings cannot run: {e}")))?;
        let params = write_params(self.learner.params.clone(), &c.weights.values);
        let optim = match c.adam {
            Some(state) => Adam::restore(&params, state, &self.device.clone().inner()).map_err(TrainError::Weights)?,
            None => Adam::default(),
        };
        self.learner = MetaLearner::resumed(params, optim, c.weights.iteration);
        self.fresh = false;
        self.rng = Rng::new(c.rng);
        self.config = config;
        self.version = next_version();
        Ok(())
    }
}
