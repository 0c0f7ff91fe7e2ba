//! `maml train`: meta-trains a run and writes its directory (config, weights, metrics), with the
//! joint-training baseline beside it when asked.

use std::path::Path;
use std::time::Instant;

use burn::prelude::Device;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};

use maml_lab::config::Algorithm;
use maml_lab::maml::StepReport;
use maml_lab::{TrainError, Trainer};

use super::{Failure, Setup, load_data};

fn progress(len: usize) -> ProgressBar {
    let bar = ProgressBar::new(len as u64); // draws on stderr, and only on a terminal
    bar.set_style(ProgressStyle::with_template("{bar:40} {pos}/{len} {per_sec} eta {eta} {msg}").expect("a valid template"));
    bar
}

/// Trains a run of `setup`'s settings, or (`resume`) goes on from a checkpoint with its own.
pub fn train(setup: &Setup, iterations: usize, out: &Path, log_every: usize, pretrained: bool, every: (usize, usize), resume: Option<&Path>) -> Result<(), Failure> {
    let data = load_data(&setup.data)?;
    let mut trainer = match resume {
        Some(path) => {
            let bytes = std::fs::read(path).map_err(|e| Failure(format!("cannot read {}: {e}", path.display())))?;
            Trainer::from_checkpoint(&bytes, &data, &Device::flex()).map_err(|e| Failure(format!("{}: {e}", path.display())))?
        }
        None => Trainer::new(setup.config(), &data, &Device::flex())?,
    };
    let config = trainer.config().clone();
    std::fs::create_dir_all(out).map_err(|e| Failure(format!("cannot create {}: {e}", out.display())))?;
    std::fs::write(out.join("config.json"), serde_json::to_string_pretty(&config)?)?;
    let start = Instant::now();
    if resume.is_none() {
        pretrain(&mut trainer, log_every, out)?;
    }
    let (meta_loss, metrics) = train_loop(&mut trainer, iterations, log_every, every, "weights", out)?;
    std::fs::write(out.join("metrics.jsonl"), metrics)?;
    // all a later command needs to go on exactly, or to draw the next step (`maml landscape`)
    std::fs::write(out.join("checkpoint.bin"), trainer.checkpoint().wait())?;
    if pretrained {
        // plain joint training: no inner steps, whatever the algorithm, and a head of its own
        // (a head held at zero with no inner step would pass no gradient to the body)
        let mut joint = config.clone().with_algorithm(Algorithm::Maml);
        (joint.maml.inner_steps, joint.maml.zero_head, joint.maml.pretrain_steps) = (0, false, None);
        let mut baseline = Trainer::new(joint, &data, &Device::flex())?;
        let (_, metrics) = train_loop(&mut baseline, iterations, log_every, (0, 0), "pretrained", out)?;
        std::fs::write(out.join("pretrained-metrics.jsonl"), metrics)?;
    }
    println!("{}", json!({"iterations": trainer.iteration(), "meta_loss": meta_loss, "seconds": start.elapsed().as_secs_f64()}));
    Ok(())
}

/// Supervised pre-training of a fresh run's body, if its settings ask for it
/// (`Trainer::pretrain`): its steps' reports in `OUT/pretraining.jsonl` (written if it
/// diverges too), every `log_every`-th printed, as meta-training's are.
fn pretrain(trainer: &mut Trainer, log_every: usize, out: &Path) -> Result<(), Failure> {
    let Some(steps) = trainer.config().maml.pretrain_steps else { return Ok(()) };
    let bar = progress(steps);
    bar.set_message("pretraining");
    let (mut metrics, start) = (String::new(), Instant::now());
    let done = trainer.pretrain(|report| record(&mut metrics, &metrics_line(report, "pretraining", start), report.iteration, log_every, &bar));
    bar.finish_and_clear();
    std::fs::write(out.join("pretraining.jsonl"), metrics)?;
    Ok(done?)
}

/// `report` as a metrics line: `run` names the loop, `seconds` counts from `start`.
fn metrics_line(report: &StepReport, run: &str, start: Instant) -> Value {
    let mut line = serde_json::to_value(report).expect("a report serialises");
    line["run"] = json!(run);
    line["seconds"] = json!(start.elapsed().as_secs_f64());
    line
}

/// Adds `line`, meta-iteration (or step) `iteration`'s, to `metrics`, prints it every
/// `log_every`-th, and moves `bar` on.
fn record(metrics: &mut String, line: &Value, iteration: usize, log_every: usize, bar: &ProgressBar) {
    metrics.push_str(&line.to_string());
    metrics.push('\n');
    if log_every > 0 && iteration % log_every == 0 {
        bar.suspend(|| println!("{line}"));
    }
    bar.inc(1);
}

/// Trains, saving the weights (`OUT/<file>.bin`) even when it diverges. Each metrics line's
/// `run` is the algorithm, or "pretrained" for the baseline; every `compare_every`-th line has
/// the meta-batch's `gradients` compared (`Trainer::compare_gradients`); every `path_every`-th
/// θ is kept as `OUT/path/<iteration>.bin`.
fn train_loop(trainer: &mut Trainer, iterations: usize, log_every: usize, (compare_every, path_every): (usize, usize), file: &str, out: &Path) -> Result<(f64, String), Failure> {
    let name = if file == "pretrained" { file.to_string() } else { trainer.config().maml.algorithm.to_string() };
    let file = out.join(format!("{file}.bin"));
    let bar = progress(iterations);
    bar.set_message(name.to_string());
    let (mut metrics, mut last) = (String::new(), f64::NAN);
    let start = Instant::now();
    if path_every > 0 {
        std::fs::create_dir_all(out.join("path"))?;
    }
    for _ in 0..iterations {
        if path_every > 0 && trainer.iteration().is_multiple_of(path_every) {
            std::fs::write(out.join("path").join(format!("{:06}.bin", trainer.iteration())), trainer.weights().wait())?;
        }
        let gradients = (compare_every > 0 && trainer.iteration().is_multiple_of(compare_every)).then(|| trainer.compare_gradients().wait());
        let report = match trainer.step().wait() {
            Ok(r) => r,
            Err(e @ TrainError::Diverged(_)) => {
                std::fs::write(&file, trainer.weights().wait())?;
                bar.abandon();
                return Err(Failure(e.to_string()));
            }
            Err(e) => return Err(e.into()),
        };
        let mut line = metrics_line(&report, &name, start);
        if let Some(g) = gradients {
            line["gradients"] = serde_json::to_value(g)?;
        }
        record(&mut metrics, &line, report.iteration, log_every, &bar);
        last = report.meta_loss;
    }
    bar.finish_and_clear();
    std::fs::write(&file, trainer.weights().wait())?;
    Ok((last, metrics))
}
