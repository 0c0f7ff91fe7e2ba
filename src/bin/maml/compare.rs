//! `maml compare`: several meta-learners trained on the same tasks over several seeds, meta-tested on the same held-out tasks, in one table.

use std::time::Instant;

use burn::prelude::Device;
use serde_json::json;

use maml_lab::config::{Algorithm, TrainerConfig};
use maml_lab::maml::{EvalReport, Stat};
use maml_lab::tasks::ImageSet;
use maml_lab::{Start, Trainer};

use crate::Failure;

/// A learner of the comparison: an algorithm, first-order or not ("fomaml" is first-order MAML).
#[derive(Clone, Copy, Debug)]
pub struct Learner {
    pub algorithm: Algorithm,
    pub first_order: bool,
}

impl Learner {
    pub fn parse(list: &str) -> Result<Vec<Learner>, Failure> {
        list.split(',')
            .map(|name| match name.trim() {
                "fomaml" => Ok(Learner { algorithm: Algorithm::Maml, first_order: true }),
                other => other.parse().map(|algorithm| Learner { algorithm, first_order: false }).map_err(|e: String| Failure(format!("{e} (or fomaml)"))),
            })
            .collect()
    }

    fn name(&self) -> String {
        if self.first_order && self.algorithm == Algorithm::Maml { "fomaml".into() } else { self.algorithm.to_string() }
    }
}

/// One learner's figures over the seeds: the tasks of every seed pooled.
struct Row {
    name: String,
    one_step: Stat,
    last: Stat,
    steps: usize,
    seconds_per_iteration: f64,
}

/// Every per-task value after `step` (accuracy in %, or MSE) of the reports, pooled.
fn pooled(reports: &[EvalReport], step: usize) -> Stat {
    let values: Vec<f64> = reports
        .iter()
        .flat_map(|r| r.tasks.iter())
        .map(|t| match &t.accuracy {
            Some(a) => 100.0 * a[step],
            None => t.loss[step],
        })
        .collect();
    Stat::of(&values)
}

/// Trains each learner from `base` (its algorithm's schedule unless the flags said otherwise,
/// which `base_for` applies) for `iterations` on each seed, meta-tests on `tasks` tasks, and
/// prints a JSON line per learner and seed, then the table.
pub fn compare(
    base_for: impl Fn(Algorithm) -> TrainerConfig,
    data: &[ImageSet],
    learners: &[Learner],
    iterations: usize,
    seeds: u64,
    tasks: usize,
    markdown: bool,
) -> Result<(), Failure> {
    let mut rows = Vec::new();
    for learner in learners {
        let (mut reports, mut seconds) = (Vec::new(), 0.0);
        let mut steps = 0;
        for seed in 0..seeds {
            let mut config = base_for(learner.algorithm).with_seed(seed);
            config.maml.first_order |= learner.first_order;
            let mut trainer = Trainer::new(config.clone(), data, &Device::flex())?;
            let start = Instant::now();
            trainer.pretrain(|_| {})?;
            for _ in 0..iterations {
                trainer.step().wait()?;
            }
            let elapsed = start.elapsed().as_secs_f64();
            steps = config.maml.test_inner_steps;
            let report = trainer.evaluate(tasks, steps, Start::MetaLearned).wait();
            let last = report.headline()[steps].1;
            println!("{}", json!({"learner": learner.name(), "seed": seed, "iterations": iterations, "seconds": elapsed, "steps": steps, "mean": last.mean, "ci95": last.ci95}));
            seconds += elapsed;
            reports.push(report);
        }
        rows.push(Row {
            name: learner.name(),
            one_step: pooled(&reports, 1.min(steps)),
            last: pooled(&reports, steps),
            steps,
            seconds_per_iteration: seconds / (iterations.max(1) as f64 * seeds as f64),
        });
    }
    let classification = base_for(Algorithm::Maml).task.kind != maml_lab::TaskKind::Sinusoid;
    let metric = if classification { "accuracy (%)" } else { "MSE" };
    if markdown {
        println!("| learner | {metric} after 1 step | after the test steps | s/it |");
        println!("| --- | --- | --- | --- |");
        for r in &rows {
            println!(
                "| {} | {:.3} ± {:.3} | {:.3} ± {:.3} ({} step{}) | {:.4} |",
                r.name, r.one_step.mean, r.one_step.ci95, r.last.mean, r.last.ci95, r.steps, if r.steps == 1 { "" } else { "s" }, r.seconds_per_iteration
            );
        }
    } else {
        let table: Vec<_> = rows
            .iter()
            .map(|r| {
                json!({"learner": r.name, "one_step": {"mean": r.one_step.mean, "ci95": r.one_step.ci95},
                       "last": {"step": r.steps, "mean": r.last.mean, "ci95": r.last.ci95}, "s_per_it": r.seconds_per_iteration})
            })
            .collect();
        println!("{}", json!({"metric": metric, "iterations": iterations, "seeds": seeds, "tasks": tasks, "table": table}));
    }
    Ok(())
}
