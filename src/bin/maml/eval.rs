//! `maml eval`: meta-tests a run on held-out tasks (or on a zip that is one test run) beside a random start, the pretrained baseline and two nearest-neighbour classifiers, all on the same tasks.

use std::path::Path;

use burn::prelude::Device;
use serde_json::{Value, json};

use maml_lab::config::{TaskKind, TrainerConfig};
use maml_lab::maml::params::step_rate_table;
use maml_lab::maml::{EvalReport, Stat};
use maml_lab::tasks::baselines::{Distance, accuracy};
use maml_lab::tasks::{ImageSet, InputShape, Task, test_run};
use maml_lab::weights::Weights;
use maml_lab::{Start, Trainer};

use super::{Failure, load_data};

/// What `maml eval` was asked, beside the run.
pub struct Asked<'a> {
    pub tasks: usize,
    pub inner_steps: Option<usize>,
    pub data: Option<&'a Path>,
    pub rotations: bool,
    /// Omniglot's samplers [default for Omniglot: both on, the standard test's hard question].
    pub within_alphabet: Option<bool>,
    pub different_drawers: Option<bool>,
    /// Classes per task, no more than the run was trained for unless its head is held at zero
    /// [default: the run's; a zero-head run's for a one-test-run zip: its characters].
    pub ways: Option<usize>,
}

/// The run's config as this evaluation draws its tasks: `ways` classes each, Omniglot within one
/// alphabet and by different drawers unless told otherwise, from `--data`'s classes if given, and, for a zip
/// that is one test run, with as many queries as its characters have.
fn configure(mut config: TrainerConfig, ways: usize, asked: &Asked, given: Option<&ImageSet>, one_run: bool) -> TrainerConfig {
    let t = &mut config.task;
    t.ways = ways;
    let omniglot = t.kind == TaskKind::Omniglot;
    t.within_alphabet = asked.within_alphabet.unwrap_or(omniglot);
    t.different_drawers = asked.different_drawers.unwrap_or(omniglot);
    if let (Some(set), Some(path)) = (given, asked.data) {
        (t.rotations, t.mirrors, t.data) = (asked.rotations, false, vec![path.display().to_string(); 2]);
        if one_run {
            // the task is the zip's: nothing is drawn, and its images set the queries
            (t.within_alphabet, t.different_drawers) = (false, false);
            t.queries = set.images[0].len().saturating_sub(t.shots).max(1);
        }
    }
    config
}

pub fn eval(run: &Path, asked: Asked) -> Result<(), Failure> {
    let read = |name: &str| std::fs::read(run.join(name)).map_err(|e| Failure(format!("cannot read {}: {e}", run.join(name).display())));
    let weights = read("weights.bin")?;
    let given = asked.data.map(|path| load_data(&[path])).transpose()?.map(|mut sets| sets.remove(0));
    let trained = Weights::decode(&weights)?.config;
    if trained.task.kind == TaskKind::Sinusoid && asked.ways.is_some() {
        return Err(Failure("--ways is the classification tasks': a sinusoid run regresses one curve per task".into()));
    }
    let t = trained.task.ways;
    if let Some(w) = asked.ways.filter(|&w| w < 2) {
        return Err(Failure(format!("--ways {w}: a task tells classes apart, so it has at least 2")));
    }
    if let Some(w) = asked.ways.filter(|&w| w > t && !trained.any_ways()) {
        let why = match trained.maml.zero_head {
            true => format!("its head is held at zero but has a learned rate for each of its {t} classes (Meta-SGD's)"),
            false => format!("its head was meta-learned for {t} classes (a run trained with --zero-head answers any number)"),
        };
        return Err(Failure(format!("--ways {w}: this run answers between 2 and {t} classes: {why}")));
    }
    let one_run = given.as_ref().is_some_and(|set| test_run::is_one_run(set, trained.task.shots, trained.task.queries));
    // a zero-head run answers a one-test-run zip with as many ways as it has characters
    let ways = match (&given, asked.ways) {
        (_, Some(w)) => w,
        (Some(set), None) if one_run && trained.any_ways() => set.images.len(),
        _ => t,
    };
    if one_run && asked.rotations {
        return Err(Failure("--rotations does not apply to a zip that is one test run: its task is its characters as they are".into()));
    }
    if !one_run && asked.tasks < 2 {
        return Err(Failure("--tasks must be at least 2 for a confidence interval".into()));
    }
    // a run from its weights file, its classes from --data (as they are, or rotated) if given,
    // and with other ways than trained, the head's first classes (or a zero head's, wider)
    let load = |bytes: &[u8]| -> Result<Trainer, Failure> {
        let saved = Weights::decode(bytes)?;
        let config = configure(saved.config.clone(), ways, &asked, given.as_ref(), one_run);
        let sets = match &given {
            Some(set) => vec![set.clone(), set.clone()], // every class of that zip is meta-test (and, unused, meta-train)
            None => load_data(&config.task.data)?,
        };
        let mut trainer = Trainer::new(config, &sets, &Device::flex())?;
        if ways == saved.config.task.ways {
            trainer.load_weights(bytes)?;
        } else {
            let shapes = Weights::decode(&trainer.weights().wait())?.shapes;
            trainer.load_weights(&saved.with_ways(ways, &shapes)?.encode())?;
        }
        Ok(trainer)
    };
    // a zip that is one test run is checked against the run before anything is built
    if let (Some(set), Some(asked_ways), true) = (&given, asked.ways, one_run) {
        let n = set.images.len();
        if n != asked_ways {
            let advice = match n {
                n if n > t && !trained.any_ways() => format!("this run answers at most {t} classes"),
                n if n == t || trained.any_ways() => format!("leave --ways out, or give {n}"),
                n => format!("give --ways {n}"),
            };
            return Err(Failure(format!("the zip is one test run of {n} characters, a {n}-way task, and --ways asks for {asked_ways}-way tasks: {advice}")));
        }
    }
    let one_task = match &given {
        Some(set) if one_run => Some(test_run::one_task(set, ways, trained.task.shots).map_err(Failure)?),
        _ => None,
    };
    let trainer = load(&weights)?;
    let config = trainer.config().clone();
    let (t, steps) = (&config.task, asked.inner_steps.unwrap_or(config.maml.test_inner_steps));
    let (tasks, sampling) = match (one_task, &given) {
        (Some(task), Some(set)) => {
            let (within, different) = test_run::sampling(set, t.shots);
            (vec![task], json!({"one_test_run": true, "within_alphabet": within, "different_drawers": different}))
        }
        _ => (trainer.meta_test_tasks(asked.tasks), json!({"within_alphabet": t.within_alphabet, "different_drawers": t.different_drawers})),
    };
    let maml = trainer.evaluate_on(&tasks, steps, Start::MetaLearned).wait();
    let mut baselines = json!({"random_init": headline(&trainer.evaluate_on(&tasks, steps, Start::Random).wait())});
    if let Ok(bytes) = std::fs::read(run.join("pretrained.bin")) {
        // the joint-trained network has a meta-learned head of the run's ways: no more
        let joint = Weights::decode(&bytes)?.config;
        baselines["pretrained"] = match ways > joint.task.ways && !joint.any_ways() {
            true => json!({"not_measured": format!("the joint-trained network's head has {} classes, fewer than the {ways} asked", joint.task.ways)}),
            false => headline(&load(&bytes)?.evaluate_on(&tasks, steps, Start::MetaLearned).wait()),
        };
    }
    let classification = maml.steps[0].accuracy.is_some();
    if classification {
        let shape = trainer.input_shape();
        baselines["pixel_nn"] = nearest_neighbour(&tasks, shape, Distance::Pixels);
        baselines["hausdorff_nn"] = nearest_neighbour(&tasks, shape, Distance::Hausdorff);
    }
    let mut out = json!({
        "task": t.kind, "algorithm": config.maml.algorithm, "zero_head": config.maml.zero_head, "pretrain_steps": config.maml.pretrain_steps, "ways": t.ways, "trained_ways": trained.task.ways, "shots": t.shots, "queries": t.queries,
        "metric": if classification { "accuracy_percent" } else { "mse" },
        "tasks": tasks.len(), "inner_lr": config.maml.inner_lr, "iterations": trainer.iteration(),
        "classes": if asked.data.is_some() { json!({"rotations": t.rotations}) } else { json!("the run's meta-test split") },
        "sampling": sampling,
        "steps": headline(&maml), "baselines": baselines,
    });
    // MAML++'s learned rates, per parameter tensor, one per inner step (the later steps take the last)
    // (with per-step batch-norm, the batch-norms do not adapt: their rates are never used)
    if let Some(table) = step_rate_table(&trainer.meta_parameters()) {
        let frozen = |name: &str| config.maml.per_step_bn.is_some() && name.contains(".norm.");
        out["per_step_rates"] = table.wait().into_iter().filter(|(name, _)| !frozen(name)).map(|(name, steps)| json!({"tensor": name, "steps": steps})).collect();
    }
    println!("{out}");
    Ok(())
}

fn headline(report: &EvalReport) -> Value {
    report.headline().into_iter().map(|(step, s)| json!({"step": step, "mean": s.mean, "ci95": s.ci95})).collect()
}

/// A nearest-neighbour classifier's accuracy in % over `tasks`, mean and 95 % CI.
fn nearest_neighbour(tasks: &[Task], shape: InputShape, distance: Distance) -> Value {
    let percent: Vec<f64> = tasks.iter().map(|task| 100.0 * accuracy(task, shape, distance)).collect();
    let s = Stat::of(&percent);
    json!({"mean": s.mean, "ci95": s.ci95})
}
