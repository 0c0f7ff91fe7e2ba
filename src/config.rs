//! Every hyper-parameter of a run: the task, model, MAML and trainer configs, their presets, and the rules a run must obey.
//!
//! Every run saves its `TrainerConfig` as JSON beside its weights. What a person may change
//! (CLI flags, the page's controls and URL keys) is `settings::Settings`, named after these fields.

use burn::config::Config;

named_enum!(
    /// The task families of `src/tasks/`.
    TaskKind {
        /// Regression to A sin(x - φ) from K points (the paper's toy problem).
        Sinusoid = "sinusoid",
        /// Procedural characters, `docs/glyphs.md`.
        Glyphs = "glyphs",
        /// Omniglot-layout zips read from bytes.
        Omniglot = "omniglot",
        /// Uniform images plus Gaussian noise with unrelated labels: the chance-level control.
        Noise = "noise",
        /// The paper's 2-D navigation (reinforcement learning): a point moves to an unseen goal
        /// (`src/rl/`, its own trainer).
        Navigation = "navigation",
    }
);

impl TaskKind {
    /// Whether its tasks are classification (ways, classes, a head per class): every family but
    /// the sinusoid's regression and navigation's policy.
    pub fn classifies(self) -> bool {
        !matches!(self, TaskKind::Sinusoid | TaskKind::Navigation)
    }

    /// Whether the supervised trainer (`Trainer`: support and query sets) runs it: every family
    /// but navigation, which has its own (`rl::NavTrainer`) and is not on the page yet.
    pub fn supervised(self) -> bool {
        self != TaskKind::Navigation
    }
}

named_enum!(
    /// The networks of `src/model/`.
    Arch {
        /// 1-40-40-1 ReLU (sinusoid); 2-100-100-2 ReLU, a Gaussian policy's mean (navigation).
        Mlp = "mlp",
        /// 4 x [3x3 conv, batch-norm, ReLU] and a linear head (the paper's Omniglot network).
        Conv4 = "conv4",
        /// 3 x [3x3 conv 64-128-128, batch-norm, ReLU, 2x2 max-pool] and a linear head.
        SeedCnn = "seed-cnn",
    }
);

named_enum!(
    /// How conv4 halves the resolution in each block.
    Downsample {
        /// Stride-2 convolutions (the paper's Omniglot network).
        Stride = "stride",
        /// Stride-1 convolutions followed by 2x2 max-pool (the paper's MiniImageNet network).
        MaxPool = "max-pool",
    }
);

named_enum!(
    /// The meta-learners: how the inner loop adapts and which gradient reaches θ.
    Algorithm {
        /// MAML (Finn et al. 2017): every parameter adapts; the meta-gradient differentiates
        /// through the inner steps (exact, or first-order with `first_order`).
        Maml = "maml",
        /// Reptile (Nichol et al. 2018): SGD on each task from θ, then θ moves toward the
        /// adapted weights, θ ← θ − β Adam(mean(θ − θ')); no gradient through the inner loop.
        Reptile = "reptile",
        /// ANIL (Raghu et al. 2020): only the head adapts; the meta-gradient reaches the body
        /// through the head's adaptation and the features it was computed on.
        Anil = "anil",
        /// Meta-SGD (Li et al. 2017): θ' = θ − α ⊙ ∇L with a learned rate per parameter,
        /// initialised to α and meta-learned with θ.
        MetaSgd = "meta-sgd",
    }
);

impl Algorithm {
    /// What adapts in the inner loop and which gradient reaches θ, in one line for the page.
    pub fn explanation(self) -> &'static str {
        match self {
            Algorithm::Maml => "MAML: every weight adapts in the inner loop, and the meta-gradient flows back through the inner steps to θ, second derivatives included (constants with first-order).",
            Algorithm::Reptile => "Reptile: every weight adapts by plain SGD, then θ moves toward the adapted weights (Adam on θ − θ′); no gradient flows through the inner loop, and first-order changes nothing.",
            Algorithm::Anil => "ANIL: only the head (the last layer) adapts, on features of the body; the meta-gradient reaches the body through the head's adaptation.",
            Algorithm::MetaSgd => "Meta-SGD: every weight adapts with a learned inner learning rate of its own, θ′ = θ − α ⊙ ∇L; the meta-gradient trains θ and the rates α together.",
        }
    }
}

#[derive(Config, Debug)]
pub struct TaskConfig {
    pub kind: TaskKind,
    /// Classes per task (N). Ignored by the sinusoid.
    #[config(default = 5)]
    pub ways: usize,
    /// Support examples per class (K); for the sinusoid, support points.
    #[config(default = 1)]
    pub shots: usize,
    /// Query examples per class (Q); for the sinusoid, query points.
    #[config(default = 15)]
    pub queries: usize,
    /// Sinusoid amplitude range A (paper: [0.1, 5]).
    #[config(default = "[0.1, 5.0]")]
    pub amplitude: [f64; 2],
    /// Sinusoid phase range φ (paper: [0, π]).
    #[config(default = "[0.0, std::f64::consts::PI]")]
    pub phase: [f64; 2],
    /// Sinusoid input range x (paper: [-5, 5]).
    #[config(default = "[-5.0, 5.0]")]
    pub input_range: [f64; 2],
    /// Omniglot: add each character rotated by 90, 180 and 270 degrees as new classes (paper).
    #[config(default = true)]
    pub rotations: bool,
    /// Omniglot: add each class (each rotation too, with `rotations`) mirrored left to right as
    /// one more class; off: none (runs saved before it existed).
    #[config(default = false)]
    pub mirrors: bool,
    /// Omniglot: every class of a task from one alphabet (a rotated or mirrored alphabet is an
    /// alphabet of its own), as in the standard 20-way test; off: classes from anywhere (runs saved before
    /// it existed).
    #[config(default = false)]
    pub within_alphabet: bool,
    /// Omniglot: a task's support images by one drawer (one per shot) and its queries by the
    /// others, the drawer read from the file name (`0709_17.png`: drawer 17); off: any images.
    #[config(default = false)]
    pub different_drawers: bool,
    /// Glyphs and Omniglot: every image of a meta-train task (support and query) slightly
    /// shifted, turned and scaled and its strokes made thinner or thicker, drawn afresh as the
    /// task is sampled (`tasks::augment`); meta-test tasks never. Off: the images as they are
    /// (runs saved before it existed).
    #[config(default = false)]
    pub augment: bool,
    /// Omniglot, one zip: the fraction of its characters that are meta-train (1200 / 1623 in
    /// the usual split); the rest are meta-test. With two zips, the first is meta-train.
    #[config(default = 0.74)]
    pub meta_train_fraction: f64,
    /// Noise: side of the square images.
    #[config(default = 32)]
    pub noise_side: usize,
    /// Noise: channels.
    #[config(default = 3)]
    pub noise_channels: usize,
    /// Noise: standard deviation of the Gaussian added to the uniform images.
    #[config(default = 0.1)]
    pub noise_std: f64,
    /// Omniglot: where the zips came from (file names), for the record and for `maml eval`.
    #[config(default = "Vec::new()")]
    pub data: Vec<String>,
}

#[derive(Config, Debug)]
pub struct ModelConfig {
    pub arch: Arch,
    /// Hidden units of the MLP's two layers.
    #[config(default = 40)]
    pub hidden: usize,
    /// Filters per conv4 block; the seed-cnn uses F, 2F, 2F (64-128-128 at the default).
    #[config(default = 64)]
    pub filters: usize,
    #[config(default = "Downsample::Stride")]
    pub downsample: Downsample,
    /// Average the last feature map over space instead of flattening it into the head.
    #[config(default = false)]
    pub global_pool: bool,
}

#[derive(Config, Debug)]
pub struct MamlConfig {
    /// The meta-learner (runs saved before it existed are MAML).
    #[config(default = "Algorithm::Maml")]
    pub algorithm: Algorithm,
    /// α: the inner-loop (adaptation) learning rate.
    #[config(default = 0.4)]
    pub inner_lr: f64,
    /// β: Adam's learning rate for the meta-update.
    #[config(default = 0.001)]
    pub meta_lr: f64,
    /// Gradient steps of adaptation during meta-training.
    #[config(default = 1)]
    pub inner_steps: usize,
    /// Gradient steps of adaptation at meta-test time.
    #[config(default = 3)]
    pub test_inner_steps: usize,
    /// Tasks per meta-update.
    #[config(default = 32)]
    pub meta_batch: usize,
    /// First-order: treat the inner gradient as a constant (no second derivatives). Applies to
    /// MAML, ANIL and Meta-SGD; Reptile never differentiates through its inner loop.
    #[config(default = false)]
    pub first_order: bool,
    /// Navigation: add the score-function term of the pre-adaptation trajectories to the
    /// meta-gradient, which makes it unbiased (`rl::meta`); off, the authors' estimator, biased
    /// but hundreds of times less noisy (README, "Navigation"). The supervised tasks sample
    /// nothing from the model and hold None. None: on, as in a config saved before it existed
    /// (`score_term()`); the settings write off as Some(false) and on as None.
    pub score_term: Option<bool>,
    /// Navigation: how many tasks of past meta-iterations the score term's baseline is fit on,
    /// besides the meta-batch's other tasks (`rl::meta::Baseline`). None: 400, as in a config
    /// saved before it existed (`baseline_history()`).
    pub baseline_history: Option<usize>,
    /// Rescale the meta-gradient to at most this global L2 norm.
    pub grad_clip: Option<f64>,
    /// Anneal β along a half cosine from `meta_lr` to 0 over this many meta-iterations, and 0
    /// after (MAML++'s cosine annealing, Antoniou et al., 2019): `meta_lr_at`, counted in the
    /// run's meta-iterations, so a resumed run goes on along it. None: β constant (and in a
    /// config saved before it existed).
    pub meta_lr_cosine: Option<usize>,
    /// Derivative-order annealing (MAML++): the first this many meta-iterations first-order, the
    /// rest as `first_order` says (`at`). None: as `first_order` says throughout.
    pub first_order_until: Option<usize>,
    /// The multi-step loss (MAML++) for this many meta-iterations: the meta-objective is
    /// Σ_k w_k L_query(θ'_k), the query loss after every inner step k = 1..K weighted, from
    /// w_k = 1/K for all k towards the last step's alone (each earlier w_k down to 0.03/K)
    /// (`multi_step_loss_weights`), and after these meta-iterations the last step's loss alone.
    /// None: the last step's loss alone throughout.
    pub multi_step_loss: Option<usize>,
    /// The weights w_1..w_K of the query loss after each inner step for the meta-iteration at
    /// hand: `at` sets them from `multi_step_loss`. None: the last step's loss alone.
    pub step_loss_weights: Option<Vec<f64>>,
    /// MAML++'s learned per-layer per-step inner rates (LSLR): a rate for every parameter tensor
    /// and each of this many inner steps, all starting at α and meta-learned with θ; the steps
    /// after these (more steps at meta-test) take the last one's. None: α for every step.
    pub per_step_rates: Option<usize>,
    /// MAML++'s per-step batch-norm weights and biases (BNWB) for this many inner steps: the
    /// batch-norms' γ and β are not adapted in the inner loop; each inner step (its support
    /// forward and the query after it) has its own, meta-learned, and the steps after these take
    /// the last one's. Conv nets only. None: γ and β adapt with the other weights.
    pub per_step_bn: Option<usize>,
    /// The zeroing trick (Kao et al., 2022; Ye and Chao's UNICORN-MAML, 2022, learns one row
    /// that every class starts from instead): the head's weights and biases start every task at zero and are
    /// not meta-learned (their meta-gradient is dropped), so the start treats every class alike
    /// and the adapted network does not depend on how a task's classes are numbered. The body,
    /// and Meta-SGD's or the per-step rates, are meta-learned as before. Classification only;
    /// off: the head meta-learned with the rest (runs saved before it existed).
    #[config(default = false)]
    pub zero_head: bool,
    /// Supervised pre-training before the first meta-iteration (`maml::pretrain`): this many
    /// steps of plain classification of every meta-train class at once, after which θ's body
    /// starts from the classifier's and its head from its own initialisation. `maml train` runs
    /// it; a run resumed, or weights loaded, are past it. Classification only. None: θ from its
    /// initialisation alone (and in a config saved before it existed).
    pub pretrain_steps: Option<usize>,
    /// Navigation: per-step spreads for this many inner steps, in the spirit of MAML++'s per-step
    /// batch-norm: the policy's log std is not adapted in the inner loop; the policy after inner
    /// step k has its own, meta-learned (before adapting, θ's), and the steps after these take
    /// the last one's. So the start may explore while the adapted policy acts narrowly. None:
    /// one log std, adapted with the other weights (the authors' policy).
    pub per_step_std: Option<usize>,
}

impl MamlConfig {
    /// Whether navigation's meta-gradient has the score-function term (`score_term`).
    pub fn score_term(&self) -> bool {
        self.score_term.unwrap_or(true)
    }

    /// How many past tasks navigation's score-term baseline is fit on (`baseline_history`).
    pub fn baseline_history(&self) -> usize {
        self.baseline_history.unwrap_or(crate::rl::meta::BASELINE_HISTORY)
    }

    /// The settings the meta-iteration that follows `iteration` meta-iterations computes with:
    /// these, first-order while `first_order_until` has not passed.
    pub fn at(&self, iteration: usize) -> MamlConfig {
        let annealing = self.first_order_until.is_some_and(|until| iteration < until);
        // (once annealed, the last step's loss alone, as MAML++ does after its epochs of it)
        let step_loss_weights = match self.multi_step_loss {
            Some(anneal) if iteration < anneal => Some(multi_step_loss_weights(self.inner_steps, iteration, anneal)),
            Some(_) => None,
            None => self.step_loss_weights.clone(),
        };
        MamlConfig { first_order: self.first_order || annealing, step_loss_weights, ..self.clone() }
    }

    /// β for the meta-update that follows `iteration` meta-iterations: `meta_lr`, or with
    /// `meta_lr_cosine` = T, meta_lr · ½ (1 + cos(π · min(iteration, T) / T)).
    pub fn meta_lr_at(&self, iteration: usize) -> f64 {
        match self.meta_lr_cosine {
            None => self.meta_lr,
            Some(t) => self.meta_lr * 0.5 * (1.0 + (std::f64::consts::PI * iteration.min(t) as f64 / t as f64).cos()),
        }
    }
}

/// The multi-step loss's weights of the query loss after each of `steps` inner steps, after
/// `iteration` of the `anneal` meta-iterations it is annealed over, as MAML++'s
/// `get_per_step_loss_importance_vector` (Antoniou et al., 2019), with its epochs counted in
/// meta-iterations: with p = min(iteration / anneal, 1), every step but the last weighs
/// max((1 − p) / K, 0.03 / K) and the last min((1 + p (K − 1)) / K, 1 − 0.03 (K − 1) / K). They
/// sum to 1: uniform at the start, the last step's loss almost alone from p = 0.97 on.
pub fn multi_step_loss_weights(steps: usize, iteration: usize, anneal: usize) -> Vec<f64> {
    let k = steps.max(1) as f64;
    let p = (iteration as f64 / anneal.max(1) as f64).min(1.0);
    let floor = 0.03 / k;
    let mut w = vec![((1.0 - p) / k).max(floor); steps.max(1) - 1];
    w.push(((1.0 + p * (k - 1.0)) / k).min(1.0 - floor * (k - 1.0)));
    w
}

#[derive(Config, Debug)]
pub struct TrainerConfig {
    pub task: TaskConfig,
    pub model: ModelConfig,
    pub maml: MamlConfig,
    /// Seeds tasks, initial weights and evaluation tasks.
    #[config(default = 0)]
    pub seed: u64,
}

impl TrainerConfig {
    /// Reads a config saved by an earlier version of the lab: a task field added since (burn's
    /// `Config` reads no non-optional field missing) takes the value that gives the run it was.
    pub fn saved<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::Deserialize;
        let mut value = serde_json::Value::deserialize(deserializer)?;
        if let Some(task) = value.get_mut("task").and_then(serde_json::Value::as_object_mut) {
            for added in ["within_alphabet", "different_drawers", "augment", "mirrors"] {
                task.entry(added).or_insert(false.into());
            }
        }
        if let Some(maml) = value.get_mut("maml").and_then(serde_json::Value::as_object_mut) {
            maml.entry("zero_head").or_insert(false.into());
        }
        serde_json::from_value(value).map_err(serde::de::Error::custom)
    }

    /// Whether this run's start answers any number of classes: its head is held at zero
    /// (`MamlConfig::zero_head`) and has no learned rate per class (Meta-SGD's), so every class
    /// starts alike however many there are.
    pub fn any_ways(&self) -> bool {
        self.maml.zero_head && self.maml.algorithm != Algorithm::MetaSgd
    }

    /// The paper's settings for a task family; the noise control uses the seed article's
    /// network with the MiniImageNet schedule. The CLI starts from these.
    pub fn preset(kind: TaskKind) -> Self {
        let task = TaskConfig::new(kind);
        match kind {
            TaskKind::Sinusoid => Self::new(
                task.with_shots(10).with_queries(10),
                ModelConfig::new(Arch::Mlp),
                MamlConfig::new().with_inner_lr(0.01).with_meta_batch(25).with_test_inner_steps(10),
            ),
            TaskKind::Glyphs | TaskKind::Omniglot => {
                Self::new(task, ModelConfig::new(Arch::Conv4), MamlConfig::new())
            }
            TaskKind::Noise => Self::new(
                task,
                ModelConfig::new(Arch::SeedCnn),
                MamlConfig::new().with_inner_lr(0.01).with_inner_steps(5).with_test_inner_steps(10).with_meta_batch(4),
            ),
            // `cbfinn/maml_rl`, maml_examples/maml_trpo_point.py: 20 trajectories per inner
            // step (shots) and after it (queries), 40 tasks per meta-batch, fast_lr 0.5, one
            // inner step, a 100-100 ReLU policy; β is Adam's (theirs was TRPO's KL step, 0.01;
            // Adam at 0.01 improved the return after adaptation for 25 to 50 meta-iterations,
            // then made it worse, README)
            TaskKind::Navigation => Self::new(
                task.with_shots(20).with_queries(20),
                ModelConfig::new(Arch::Mlp).with_hidden(100),
                MamlConfig::new().with_inner_lr(0.5).with_meta_lr(0.001).with_meta_batch(40).with_test_inner_steps(3),
            ),
        }
    }

    /// `self` with `algorithm` and the inner-loop schedule its paper uses where it differs from
    /// MAML's. Reptile takes several SGD steps per task in training (its sinusoid: 5 steps of
    /// 0.02; its 5-way 1-shot Omniglot: 5 steps, 5 tasks per meta-batch, more steps at test;
    /// that paper's inner optimiser is Adam, ours SGD, hence a smaller α than MAML's 0.4).
    /// ANIL keeps MAML's settings; Meta-SGD too (its rates start at α), but meta-tests with as
    /// many steps as it trains, as its paper does.
    pub fn with_algorithm(mut self, algorithm: Algorithm) -> Self {
        self.maml.algorithm = algorithm;
        if algorithm == Algorithm::MetaSgd {
            // its rates are learned for the training steps: more steps at test overshoot
            self.maml.test_inner_steps = self.maml.inner_steps;
        }
        if algorithm == Algorithm::Reptile {
            let m = &mut self.maml;
            if self.task.kind == TaskKind::Sinusoid {
                (m.inner_lr, m.inner_steps, m.test_inner_steps) = (0.02, 5, 10);
            } else {
                (m.inner_lr, m.inner_steps, m.test_inner_steps, m.meta_batch) = (0.1, 5, 10, m.meta_batch.min(5));
            }
        }
        self
    }

    /// The paper's settings at the page's size: 16 filters, 5 queries per class and at most 8
    /// tasks per meta-batch, so that a meta-iteration of an image task on the browser's CPU path
    /// stays well under a second. The page starts from these.
    /// Navigation meta-learns with MAML only, whatever `algorithm` asks: its page preset keeps
    /// the paper's policy and rule with fewer trajectories and goals per meta-iteration.
    pub fn page_preset(kind: TaskKind, algorithm: Algorithm) -> Self {
        if kind == TaskKind::Navigation {
            let mut c = Self::preset(kind);
            (c.task.shots, c.task.queries, c.maml.meta_batch) = (10, 10, 10);
            // the authors' estimator, at β three times the CLI preset's: visibly better within the
            // page's first minute and steady after. With 10 goals of 10 trajectories the unbiased
            // one's noise, and β 0.01 with either, can make a run collapse (README); both are
            // live in the page
            c.maml.meta_lr = 0.003;
            c.maml.score_term = Some(false);
            return c;
        }
        let mut c = Self::preset(kind).with_algorithm(algorithm);
        if kind != TaskKind::Sinusoid {
            c.model.filters = 16;
            c.task.queries = 5;
            c.maml.meta_batch = c.maml.meta_batch.min(8);
        }
        c
    }

    /// Refuses configurations that cannot run, with one sentence naming the field.
    pub fn validate(&self) -> Result<(), String> {
        let (t, m, o) = (&self.task, &self.model, &self.maml);
        let positive = |name: &str, v: usize| if v == 0 { Err(format!("{name} must be at least 1")) } else { Ok(()) };
        if t.kind == TaskKind::Navigation && o.algorithm != Algorithm::Maml {
            return Err(format!("navigation meta-learns with MAML (exact, or first-order with first_order), not {}", o.algorithm));
        }
        if t.kind.classifies() {
            positive("ways", t.ways)?;
            if t.ways < 2 {
                return Err("ways must be at least 2: a 1-way task has nothing to learn".into());
            }
        }
        positive("shots", t.shots)?;
        positive("queries", t.queries)?;
        positive("meta_batch", o.meta_batch)?;
        if !(o.inner_lr.is_finite() && o.inner_lr >= 0.0) {
            return Err(format!("inner_lr (α) must be a finite number ≥ 0, not {}", o.inner_lr));
        }
        if !(o.meta_lr.is_finite() && o.meta_lr > 0.0) {
            return Err(format!("meta_lr (β) must be a finite number > 0, not {}", o.meta_lr));
        }
        if let Some(c) = o.grad_clip
            && !(c.is_finite() && c > 0.0)
        {
            return Err(format!("grad_clip must be a finite number > 0, not {c}"));
        }
        if o.baseline_history.is_some() && t.kind != TaskKind::Navigation {
            return Err("baseline_history is navigation's (its score term's baseline): the supervised tasks sample nothing from the model".into());
        }
        if o.meta_lr_cosine == Some(0) {
            return Err("meta_lr_cosine (β's cosine annealing) must be at least 1 meta-iteration".into());
        }
        if o.multi_step_loss.is_some() || o.step_loss_weights.is_some() {
            if o.multi_step_loss == Some(0) {
                return Err("multi_step_loss (the multi-step loss's annealing) must be at least 1 meta-iteration".into());
            }
            if o.algorithm == Algorithm::Reptile {
                return Err("the multi-step loss weights MAML's query losses after each inner step: Reptile's direction is not the gradient of a loss".into());
            }
            if t.kind == TaskKind::Navigation {
                return Err("the multi-step loss is the supervised tasks': navigation's meta-objective is the return after its inner steps".into());
            }
            if o.inner_steps == 0 {
                return Err("the multi-step loss weights the query loss after each inner step: inner_steps must be at least 1".into());
            }
        }
        if let Some(steps) = o.per_step_rates {
            if steps == 0 {
                return Err("per_step_rates must learn the rates of at least 1 inner step".into());
            }
            if o.algorithm != Algorithm::Maml || t.kind == TaskKind::Navigation {
                return Err(format!(
                    "per-step learned inner rates (MAML++) are MAML's on the supervised tasks: not {}{}",
                    o.algorithm,
                    if t.kind == TaskKind::Navigation { " on navigation" } else { "" }
                ));
            }
        }
        if let Some(steps) = o.per_step_bn {
            if steps == 0 {
                return Err("per_step_bn must hold the batch-norms of at least 1 inner step".into());
            }
            if o.algorithm != Algorithm::Maml {
                return Err(format!("per-step batch-norm (MAML++) is MAML's, not {}'s", o.algorithm));
            }
            if m.arch == Arch::Mlp {
                return Err("per-step batch-norm (MAML++) needs a conv net's batch-norms: the mlp has none".into());
            }
        }
        if o.zero_head && !t.kind.classifies() {
            return Err(format!("zero_head starts a classifier's head at zero so that every class starts alike: task {}'s outputs are not classes", t.kind));
        }
        // no gradient reaches the body through a zero head: its first inner step moves the head alone
        if o.zero_head && o.inner_steps == 0 {
            return Err("zero_head needs at least 1 inner step: at a zero head the loss does not depend on the body, and the head is not meta-learned, so nothing would learn".into());
        }
        if o.zero_head && o.algorithm == Algorithm::Reptile && o.inner_steps < 2 {
            return Err("zero_head with Reptile needs at least 2 inner steps: the first moves the zero head alone, and Reptile follows only where the body moved".into());
        }
        if let Some(steps) = o.pretrain_steps {
            if steps == 0 {
                return Err("pretrain_steps (supervised pre-training) must be at least 1 step".into());
            }
            if !t.kind.classifies() {
                return Err(format!("pre-training classifies every meta-train class at once: task {}'s outputs are not classes", t.kind));
            }
            if !matches!(t.kind, TaskKind::Glyphs | TaskKind::Omniglot) {
                return Err(format!("pre-training classifies every meta-train class at once: task {}'s classes are drawn afresh for every task, so there is no fixed set of them", t.kind));
            }
        }
        if let Some(steps) = o.per_step_std {
            if o.inner_steps == 0 {
                return Err("per-step spreads are the policy's after each inner step: inner_steps must be at least 1".into());
            }
            if steps == 0 {
                return Err("per_step_std must hold the spreads of at least 1 inner step".into());
            }
            if t.kind != TaskKind::Navigation {
                return Err(format!("per-step spreads are the navigation policy's (its log std): task {} has no spread", t.kind));
            }
        }
        if let Some(w) = &o.step_loss_weights
            && (w.len() != o.inner_steps || !w.iter().all(|w| w.is_finite() && *w >= 0.0))
        {
            return Err(format!("step_loss_weights must be {} finite weights ≥ 0, one per inner step", o.inner_steps));
        }
        for (name, [lo, hi]) in [("amplitude", t.amplitude), ("phase", t.phase), ("input_range", t.input_range)] {
            if !(lo.is_finite() && hi.is_finite() && lo <= hi) {
                return Err(format!("{name} must be a finite range [low, high] with low ≤ high"));
            }
        }
        if !(t.meta_train_fraction > 0.0 && t.meta_train_fraction < 1.0) {
            return Err("meta_train_fraction must lie strictly between 0 and 1".into());
        }
        if !(t.noise_std.is_finite() && t.noise_std >= 0.0) {
            return Err("noise_std must be a finite number ≥ 0".into());
        }
        if t.kind != TaskKind::Omniglot && (t.within_alphabet || t.different_drawers) {
            return Err(format!("within_alphabet and different_drawers are Omniglot's: task {} has no alphabets or drawers", t.kind));
        }
        if t.mirrors && t.kind != TaskKind::Omniglot {
            return Err(format!("mirrors makes new classes of Omniglot's characters: task {} has none", t.kind));
        }
        if t.augment && !matches!(t.kind, TaskKind::Glyphs | TaskKind::Omniglot) {
            return Err(format!("augment shifts, turns, scales and thickens strokes of ink: task {} has no strokes (glyphs and omniglot have)", t.kind));
        }
        positive("noise_side", t.noise_side)?;
        positive("noise_channels", t.noise_channels)?;
        match m.arch {
            Arch::Mlp => positive("hidden", m.hidden)?,
            Arch::Conv4 | Arch::SeedCnn => positive("filters", m.filters)?,
        }
        let wants_mlp = matches!(t.kind, TaskKind::Sinusoid | TaskKind::Navigation);
        if wants_mlp != (m.arch == Arch::Mlp) {
            return Err(format!(
                "model {} does not fit task {}: the sinusoid and navigation take the mlp, image tasks take conv4 or seed-cnn",
                m.arch, t.kind
            ));
        }
        Ok(())
    }
}
