//! The settings a person chooses, in one table: the CLI's flags, the page's controls and its URL keys all come from here.
//!
//! `Settings` holds any field to change from a task's preset. clap derives the CLI's flags from
//! it (`inner_lr` is `--inner-lr`), serde reads the page's JSON and URL keys under the same
//! names, and `controls()` gives the page each control's kind, range and label, with the
//! presets it starts from (`Lab::settings_table`). Tests hold the three to the same keys.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::config::{Algorithm, Arch, Downsample, MamlConfig, TaskKind, TrainerConfig};

/// Any field to change from the task's preset; `None` keeps the preset's value.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// sinusoid, glyphs, omniglot (needs --data), noise (the chance-level control) or navigation
    /// (the paper's 2-D navigation, reinforcement learning) [default: sinusoid].
    #[arg(long)]
    pub task: Option<TaskKind>,
    /// maml, reptile, anil or meta-sgd; brings its paper's inner-loop schedule [default: maml].
    #[arg(long)]
    pub algorithm: Option<Algorithm>,
    /// Classes per task (N).
    #[arg(long)]
    pub ways: Option<usize>,
    /// Support examples per class (K); sinusoid: support points.
    #[arg(long)]
    pub shots: Option<usize>,
    /// Query examples per class; sinusoid: query points.
    #[arg(long)]
    pub queries: Option<usize>,
    /// mlp, conv4 or seed-cnn [default: the task's].
    #[arg(long)]
    pub model: Option<Arch>,
    /// Filters per conv block (seed-cnn: F, 2F, 2F).
    #[arg(long)]
    pub filters: Option<usize>,
    /// Hidden units of the MLP's two layers.
    #[arg(long)]
    pub hidden: Option<usize>,
    /// conv4 downsampling: stride or max-pool.
    #[arg(long)]
    pub downsample: Option<Downsample>,
    /// α, the inner-loop learning rate.
    #[arg(long, allow_negative_numbers = true)]
    pub inner_lr: Option<f64>,
    /// β, the meta learning rate (Adam).
    #[arg(long, allow_negative_numbers = true)]
    pub meta_lr: Option<f64>,
    /// Inner steps during meta-training (0: no adaptation, i.e. plain joint training).
    #[arg(long)]
    pub inner_steps: Option<usize>,
    /// Inner steps at meta-test time [default: the task's, or the training steps if more].
    #[arg(long)]
    pub test_inner_steps: Option<usize>,
    /// Tasks per meta-update.
    #[arg(long)]
    pub meta_batch: Option<usize>,
    /// First-order MAML: the inner gradient as a constant (no second derivatives).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub first_order: Option<bool>,
    /// Navigation: the score-function term of the pre-adaptation trajectories, which makes the
    /// meta-gradient unbiased [default: true; false: the authors' estimator, which leaves it
    /// out].
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub score_term: Option<bool>,
    /// Navigation: tasks of past meta-iterations that the score term's baseline is fit on,
    /// besides the meta-batch's other tasks; it fits a surface over the goal once the two hold
    /// 200 tasks, a line in the goal's distance before [default: 400; 0: the meta-batch's others
    /// alone].
    #[arg(long, value_name = "N")]
    pub baseline_history: Option<usize>,
    /// Clip the meta-gradient to this global L2 norm.
    #[arg(long, allow_negative_numbers = true)]
    pub grad_clip: Option<f64>,
    /// Anneal β along a half cosine from --meta-lr to 0 over this many meta-iterations (MAML++).
    #[arg(long, value_name = "ITERATIONS")]
    pub meta_lr_cosine: Option<usize>,
    /// Derivative-order annealing (MAML++): first-order for this many meta-iterations, then exact.
    #[arg(long, value_name = "ITERATIONS")]
    pub first_order_until: Option<usize>,
    /// The multi-step loss (MAML++): the query loss after every inner step weighted into the
    /// meta-objective, annealed over this many meta-iterations towards the last step's alone.
    #[arg(long, value_name = "ITERATIONS")]
    pub multi_step_loss: Option<usize>,
    /// Per-layer per-step learned inner rates (MAML++'s LSLR), one per parameter tensor and
    /// inner step (MAML only); the steps past the training ones take the last step's.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub per_step_rates: Option<bool>,
    /// Per-step batch-norm weights and biases (MAML++'s BNWB; MAML on a conv net): γ and β are
    /// not adapted in the inner loop, each inner step has its own, meta-learned.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub per_step_bn: Option<bool>,
    /// The zeroing trick (Kao et al., 2022; classification): the head starts every task at zero
    /// and is not meta-learned, so every class starts alike [default: false].
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub zero_head: Option<bool>,
    /// Supervised pre-training (glyphs, Omniglot): this many steps of plain classification of
    /// every meta-train class before the first meta-iteration; θ's body starts from it (not
    /// --pretrained, the joint-training baseline beside a run).
    #[arg(long, value_name = "STEPS")]
    pub pretrain_steps: Option<usize>,
    /// Navigation: per-step spreads, after per-step batch-norm (MAML++): the policy's log std is
    /// not adapted in the inner loop, the policy after each inner step has its own, meta-learned.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub per_step_std: Option<bool>,
    /// Omniglot: add each character rotated by 90°, 180° and 270° as new classes, as in the
    /// paper [default: true; `--rotations false` turns it off].
    #[arg(long, value_name = "BOOL")]
    pub rotations: Option<bool>,
    /// Omniglot: add each class (each rotation too) mirrored left to right as one more class
    /// [default: false].
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub mirrors: Option<bool>,
    /// Omniglot: every class of a task from one alphabet (a rotated or mirrored one is one of its own)
    /// [default: false in training; `maml eval` asks it].
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub within_alphabet: Option<bool>,
    /// Omniglot: a task's support images by one drawer (per shot), its queries by others, the
    /// drawer read from the file name (`0709_17.png`: drawer 17) [default: false in training;
    /// `maml eval` asks it].
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub different_drawers: Option<bool>,
    /// Glyphs and Omniglot: each meta-train image slightly shifted (±2 px), turned (±10°),
    /// scaled (0.9 to 1.1) and its strokes thinner or thicker, drawn afresh per task; meta-test
    /// images never [default: false].
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub augment: Option<bool>,
    /// Seeds the tasks, the initial weights and the meta-test tasks [default: 0].
    #[arg(long)]
    pub seed: Option<u64>,
}

/// A per-step setting (MAML++'s rates or batch-norms) asked on or off: on, as many steps as the
/// run trains with, unless the run already has them (their number is a shape); unasked, the
/// run's.
fn per_step(asked: Option<bool>, current: Option<usize>, inner_steps: usize) -> Option<usize> {
    match asked {
        Some(true) => current.or(Some(inner_steps)),
        Some(false) => None,
        None => current,
    }
}

impl Settings {
    fn kind(&self) -> TaskKind {
        self.task.unwrap_or(TaskKind::Sinusoid)
    }

    fn algorithm(&self) -> Algorithm {
        self.algorithm.unwrap_or(Algorithm::Maml)
    }

    /// The task's preset (the paper's settings, for the algorithm) with every given setting
    /// applied; not yet validated.
    pub fn config(&self) -> TrainerConfig {
        let mut c = TrainerConfig::preset(self.kind()).with_algorithm(self.algorithm());
        let (t, m) = (&mut c.task, &mut c.model);
        macro_rules! set {
            ($($field:ident => $target:expr),* $(,)?) => { $(if let Some(v) = self.$field { $target = v; })* };
        }
        set!(ways => t.ways, shots => t.shots, queries => t.queries, rotations => t.rotations, mirrors => t.mirrors,
             within_alphabet => t.within_alphabet, different_drawers => t.different_drawers, augment => t.augment,
             model => m.arch,
             filters => m.filters, hidden => m.hidden, downsample => m.downsample, seed => c.seed);
        let preset = c.maml.clone();
        c.maml = self.maml(self.kind(), &preset);
        c
    }

    /// `current` with the given MAML settings applied (α, β, steps, meta-batch, first-order,
    /// clipping). Meta-test takes at least as many inner steps as training: when the training
    /// steps change and the test steps are not given, they are the task's, or the training
    /// steps if more.
    pub fn maml(&self, kind: TaskKind, current: &MamlConfig) -> MamlConfig {
        let inner_steps = self.inner_steps.unwrap_or(current.inner_steps);
        let preset = TrainerConfig::preset(kind).with_algorithm(current.algorithm).maml.test_inner_steps;
        let test_inner_steps = match (self.test_inner_steps, self.inner_steps) {
            (Some(test), _) => test,
            (None, Some(_)) => preset.max(inner_steps),
            (None, None) => current.test_inner_steps,
        };
        MamlConfig {
            algorithm: current.algorithm,
            inner_lr: self.inner_lr.unwrap_or(current.inner_lr),
            meta_lr: self.meta_lr.unwrap_or(current.meta_lr),
            inner_steps,
            test_inner_steps,
            meta_batch: self.meta_batch.unwrap_or(current.meta_batch),
            first_order: self.first_order.unwrap_or(current.first_order),
            // navigation's alone, and held as None for on (`MamlConfig::score_term`), so that one
            // setting has one config
            score_term: (kind == TaskKind::Navigation && self.score_term.or(current.score_term) == Some(false)).then_some(false),
            baseline_history: self.baseline_history.or(current.baseline_history).filter(|_| kind == TaskKind::Navigation),
            grad_clip: self.grad_clip.or(current.grad_clip),
            meta_lr_cosine: self.meta_lr_cosine.or(current.meta_lr_cosine),
            first_order_until: self.first_order_until.or(current.first_order_until),
            multi_step_loss: self.multi_step_loss.or(current.multi_step_loss),
            step_loss_weights: current.step_loss_weights.clone(),
            per_step_rates: per_step(self.per_step_rates, current.per_step_rates, inner_steps),
            per_step_bn: per_step(self.per_step_bn, current.per_step_bn, inner_steps),
            per_step_std: per_step(self.per_step_std, current.per_step_std, inner_steps),
            // (a run's own carried to another task only where that task classifies; asked for,
            // the config's check refuses it there with a sentence)
            zero_head: self.zero_head.unwrap_or(current.zero_head && kind.classifies()),
            pretrain_steps: self.pretrain_steps.or(current.pretrain_steps.filter(|_| kind.classifies())),
        }
    }

    /// Every setting of `config`, given: what the page shows for a run.
    pub fn of(config: &TrainerConfig) -> Self {
        let (t, m, o) = (&config.task, &config.model, &config.maml);
        Self {
            task: Some(t.kind),
            algorithm: Some(o.algorithm),
            ways: Some(t.ways),
            shots: Some(t.shots),
            queries: Some(t.queries),
            model: Some(m.arch),
            filters: Some(m.filters),
            hidden: Some(m.hidden),
            downsample: Some(m.downsample),
            inner_lr: Some(o.inner_lr),
            meta_lr: Some(o.meta_lr),
            inner_steps: Some(o.inner_steps),
            test_inner_steps: Some(o.test_inner_steps),
            meta_batch: Some(o.meta_batch),
            first_order: Some(o.first_order),
            score_term: Some(o.score_term()),
            baseline_history: o.baseline_history,
            grad_clip: o.grad_clip,
            meta_lr_cosine: o.meta_lr_cosine,
            first_order_until: o.first_order_until,
            multi_step_loss: o.multi_step_loss,
            per_step_rates: o.per_step_rates.map(|_| true),
            per_step_bn: o.per_step_bn.map(|_| true),
            per_step_std: o.per_step_std.map(|_| true),
            zero_head: Some(o.zero_head),
            pretrain_steps: o.pretrain_steps,
            rotations: Some(t.rotations),
            mirrors: Some(t.mirrors),
            within_alphabet: Some(t.within_alphabet),
            different_drawers: Some(t.different_drawers),
            augment: Some(t.augment),
            seed: Some(config.seed),
        }
    }
}

/// What kind of input a control is, with its range.
#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    /// One of these names.
    Enum(Vec<&'static str>),
    /// An integer in `min..=max`, or one of `values` when given.
    Int { min: u64, max: u64, values: Option<Vec<u64>> },
    /// A positive number in `min..=max`, on a log scale.
    Log { min: f64, max: f64 },
    Bool,
}

/// One of the page's controls: a setting's key, how it is entered, and whether it can change
/// during a run (`live`, from the next meta-iteration) or starts a new one.
#[derive(Clone, Debug, PartialEq)]
pub struct Control {
    pub key: &'static str,
    pub label: &'static str,
    pub kind: Kind,
    pub live: bool,
    /// Only image tasks use it (hidden for the sinusoid).
    pub images: bool,
    /// Only these tasks use it (hidden for the others); empty: every task the rest allows.
    pub only: &'static [TaskKind],
}

/// The settings the page offers, in the order it shows them. The rest (`model`, `hidden`,
/// `downsample`, `test_inner_steps`, `baseline_history`, `grad_clip`, `meta_lr_cosine`, `first_order_until`, `multi_step_loss`, `per_step_rates`, `per_step_bn`, `per_step_std`, `zero_head`, `pretrain_steps`, `rotations`, `mirrors`) are the CLI's: the page keeps the
/// preset's values.
pub fn controls() -> Vec<Control> {
    let int = |min, max| Kind::Int { min, max, values: None };
    let c = |key, label, kind, live, images| Control { key, label, kind, live, images, only: &[] };
    let omniglot = |key, label| Control { key, label, kind: Kind::Bool, live: false, images: true, only: &[TaskKind::Omniglot] };
    vec![
        c("task", "task", Kind::Enum(TaskKind::ALL.iter().map(|k| k.name()).collect()), false, false),
        c("algorithm", "algorithm", Kind::Enum(Algorithm::ALL.iter().map(|a| a.name()).collect()), false, false),
        c("ways", "ways (N)", int(2, 20), false, true),
        c("shots", "shots (K)", int(1, 20), false, false),
        c("queries", "queries", int(1, 30), false, false),
        c("filters", "filters", Kind::Int { min: 8, max: 64, values: Some(vec![8, 16, 32, 64]) }, false, true),
        omniglot("within_alphabet", "classes of one alphabet"),
        omniglot("different_drawers", "queries by other drawers"),
        // images of strokes: not the noise's
        Control { key: "augment", label: "augment meta-train images", kind: Kind::Bool, live: false, images: true, only: &[TaskKind::Glyphs, TaskKind::Omniglot] },
        c("seed", "seed", int(0, u32::MAX as u64), false, false),
        c("inner_lr", "α inner_lr", Kind::Log { min: 1e-4, max: 2.0 }, true, false),
        c("meta_lr", "β meta_lr", Kind::Log { min: 1e-5, max: 0.1 }, true, false),
        c("inner_steps", "inner steps", int(1, 10), true, false),
        c("meta_batch", "meta-batch", int(1, 64), true, false),
        c("first_order", "first-order", Kind::Bool, true, false),
        Control { key: "score_term", label: "unbiased (score term)", kind: Kind::Bool, live: true, images: false, only: &[TaskKind::Navigation] },
    ]
}

/// The page's table as JSON: every control; for every task the page's preset
/// (`TrainerConfig::page_preset`) as a value per control, `presets[task][key]` (MAML's); and
/// the same for every algorithm, `presets_by_algorithm[algorithm][task][key]`; and each
/// algorithm's one-line explanation, `algorithms[algorithm]`; and what each task's data allows,
/// `limits[task].images_per_class` (shots + queries at most that; null: no limit).
pub fn table() -> Value {
    let controls = controls();
    let control_json: Vec<Value> = controls
        .iter()
        .map(|c| {
            let mut v = json!({"key": c.key, "label": c.label, "live": c.live, "images": c.images});
            if !c.only.is_empty() {
                v["only"] = json!(c.only.iter().map(|k| k.name()).collect::<Vec<_>>());
            }
            match &c.kind {
                Kind::Enum(values) => (v["kind"], v["values"]) = (json!("enum"), json!(values)),
                Kind::Int { min, max, values } => {
                    (v["kind"], v["min"], v["max"]) = (json!("int"), json!(min), json!(max));
                    if let Some(values) = values {
                        v["values"] = json!(values);
                    }
                }
                Kind::Log { min, max } => (v["kind"], v["min"], v["max"]) = (json!("log"), json!(min), json!(max)),
                Kind::Bool => v["kind"] = json!("bool"),
            }
            v
        })
        .collect();
    let preset = |kind, algorithm| {
        let all = serde_json::to_value(Settings::of(&TrainerConfig::page_preset(kind, algorithm))).expect("settings serialise");
        Value::Object(controls.iter().map(|c| (c.key.to_string(), all[c.key].clone())).collect())
    };
    let by_task = |a| Value::Object(TaskKind::ALL.iter().map(|&k| (k.name().to_string(), preset(k, a))).collect());
    let by_algorithm: serde_json::Map<String, Value> = Algorithm::ALL.iter().map(|&a| (a.name().to_string(), by_task(a))).collect();
    let explanations: serde_json::Map<String, Value> = Algorithm::ALL.iter().map(|&a| (a.name().to_string(), json!(a.explanation()))).collect();
    let limits: serde_json::Map<String, Value> =
        TaskKind::ALL.iter().map(|&k| (k.name().to_string(), json!({"images_per_class": crate::tasks::images_per_class(k)}))).collect();
    json!({"controls": control_json, "presets": by_task(Algorithm::Maml), "presets_by_algorithm": by_algorithm, "algorithms": explanations, "limits": limits})
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every control is a setting, and every setting is a control or one of the CLI's.
    #[test]
    fn the_controls_and_the_settings_have_the_same_keys() {
        let cli_only = ["model", "hidden", "downsample", "test_inner_steps", "baseline_history", "grad_clip", "meta_lr_cosine", "first_order_until", "multi_step_loss", "per_step_rates", "per_step_bn", "per_step_std", "zero_head", "pretrain_steps", "rotations", "mirrors"];
        let fields: Vec<String> = match serde_json::to_value(Settings::of(&TrainerConfig::preset(TaskKind::Glyphs))).unwrap() {
            Value::Object(map) => map.keys().cloned().collect(),
            _ => unreachable!("settings serialise to an object"),
        };
        let keys: Vec<&str> = controls().iter().map(|c| c.key).collect();
        for key in &keys {
            assert!(fields.iter().any(|f| f == key), "control '{key}' is not a setting");
        }
        for field in &fields {
            assert!(keys.contains(&field.as_str()) != cli_only.contains(&field.as_str()), "setting '{field}': a control, or the CLI's, not both or neither");
        }
    }

    /// The score term is navigation's and held one way: off as Some(false), on as None (the
    /// config of a run from before the switch).
    #[test]
    fn the_score_term_has_one_config_per_setting() {
        let with = |task, score_term| Settings { task: Some(task), score_term, ..Settings::default() }.config().maml.score_term;
        assert_eq!(with(TaskKind::Navigation, Some(false)), Some(false));
        assert_eq!(with(TaskKind::Navigation, Some(true)), None);
        assert_eq!(with(TaskKind::Navigation, None), None);
        assert_eq!(with(TaskKind::Glyphs, Some(false)), None, "the supervised tasks ignore it");
        assert!(!TrainerConfig::page_preset(TaskKind::Navigation, Algorithm::Maml).maml.score_term());
        // the page's live changes, from its preset's off
        let page = TrainerConfig::page_preset(TaskKind::Navigation, Algorithm::Maml).maml;
        let live = |score_term| Settings { score_term, ..Settings::default() }.maml(TaskKind::Navigation, &page).score_term;
        assert_eq!(live(Some(true)), None);
        assert_eq!(live(None), Some(false));
        assert_eq!(live(Some(false)), Some(false));
    }

    /// The page's presets, read back as settings, give the page's preset configs.
    #[test]
    fn the_page_presets_round_trip_through_the_settings() {
        let table = table();
        assert_eq!(table["presets"], table["presets_by_algorithm"]["maml"]);
        for (&kind, &algorithm) in TaskKind::ALL.iter().flat_map(|k| Algorithm::ALL.iter().map(move |a| (k, a))) {
            let value = &table["presets_by_algorithm"][algorithm.name()][kind.name()];
            let preset: Settings = serde_json::from_value(value.clone()).unwrap();
            let want = TrainerConfig::page_preset(kind, algorithm);
            assert_eq!(format!("{:?}", preset.config()), format!("{want:?}"), "{kind}");
            // and takes no more images of a class than it has
            if let Some(images) = crate::tasks::images_per_class(kind) {
                assert!(want.task.shots + want.task.queries <= images, "{kind}: shots + queries over {images}");
            }
            // and every preset lies inside its control's range
            for c in controls() {
                let v = &value[c.key];
                match c.kind {
                    Kind::Int { min, max, values } => {
                        let v = v.as_u64().unwrap();
                        assert!(v >= min && v <= max && values.is_none_or(|vs| vs.contains(&v)), "{kind}: {} = {v}", c.key)
                    }
                    Kind::Log { min, max } => assert!((min..=max).contains(&v.as_f64().unwrap()), "{kind}: {}", c.key),
                    Kind::Enum(names) => assert!(names.contains(&v.as_str().unwrap()), "{kind}: {}", c.key),
                    Kind::Bool => assert!(v.is_boolean()),
                }
            }
        }
    }

    #[test]
    fn test_steps_follow_the_training_steps_unless_given() {
        let c = Settings { task: Some(TaskKind::Glyphs), inner_steps: Some(5), ..Default::default() }.config();
        assert_eq!(c.maml.test_inner_steps, 5);
        let c = Settings { task: Some(TaskKind::Glyphs), inner_steps: Some(2), ..Default::default() }.config();
        assert_eq!(c.maml.test_inner_steps, 3);
        let c = Settings { task: Some(TaskKind::Glyphs), inner_steps: Some(5), test_inner_steps: Some(1), ..Default::default() }.config();
        assert_eq!(c.maml.test_inner_steps, 1);
        // a live change that leaves the steps alone keeps the test steps
        let live = Settings { inner_lr: Some(0.1), ..Default::default() }.maml(TaskKind::Glyphs, &c.maml);
        assert_eq!((live.inner_lr, live.test_inner_steps), (0.1, 1));
    }
}
