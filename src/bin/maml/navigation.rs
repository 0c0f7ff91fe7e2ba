//! `maml train|eval|bench --task navigation`: the reinforcement-learning task's run directory, meta-test and speed, through `rl::NavTrainer`.

use std::path::Path;
use std::time::Instant;

use serde_json::{Value, json};

use maml_lab::TrainerConfig;
use maml_lab::maml::Stat;
use maml_lab::rl::trainer::NavStart;
use maml_lab::rl::NavTrainer;

use super::Failure;

/// Meta-trains a navigation run into `out` (config.json, weights.bin, metrics.jsonl), and with
/// `pretrained` the joint-training baseline beside it (pretrained.bin: the same policy, budget
/// and optimiser, no inner step: policy gradient on the return before adaptation, all goals).
/// Every `path_every` meta-iterations (0: never) the weights so far go to OUT/path/<iteration>.bin.
pub fn train(config: TrainerConfig, iterations: usize, out: &Path, (log_every, path_every): (usize, usize), pretrained: bool) -> Result<(), Failure> {
    let mut trainer = NavTrainer::new(config.clone())?;
    let (score_term, baseline_history) = (config.maml.score_term(), config.maml.baseline_history());
    std::fs::create_dir_all(out).map_err(|e| Failure(format!("cannot create {}: {e}", out.display())))?;
    std::fs::write(out.join("config.json"), serde_json::to_string_pretty(&config)?)?;
    let start = Instant::now();
    let run = if score_term { "maml" } else { "maml-without-score-term" };
    let path = (path_every > 0).then(|| out.join("path"));
    let last = train_loop(&mut trainer, iterations, (log_every, path_every), run, &out.join("metrics.jsonl"), path.as_deref())?;
    std::fs::write(out.join("weights.bin"), trainer.weights())?;
    let seconds = start.elapsed().as_secs_f64();
    if pretrained {
        let mut joint = config;
        (joint.maml.inner_steps, joint.maml.per_step_std) = (0, None);
        let mut baseline = NavTrainer::new(joint)?;
        train_loop(&mut baseline, iterations, (log_every, 0), "pretrained", &out.join("pretrained-metrics.jsonl"), None)?;
        std::fs::write(out.join("pretrained.bin"), baseline.weights())?;
    }
    println!("{}", json!({"iterations": trainer.iteration(), "score_term": score_term, "baseline_history": baseline_history, "return_before": last.0, "return_after": last.1, "seconds": seconds}));
    Ok(())
}

fn train_loop(trainer: &mut NavTrainer, iterations: usize, (log_every, path_every): (usize, usize), run: &str, metrics: &Path, path: Option<&Path>) -> Result<(f64, f64), Failure> {
    let (mut lines, mut last) = (String::new(), (f64::NAN, f64::NAN));
    if let Some(path) = path {
        std::fs::create_dir_all(path).map_err(|e| Failure(format!("cannot create {}: {e}", path.display())))?;
    }
    let start = Instant::now();
    for _ in 0..iterations {
        let report = trainer.step()?;
        let mut line = serde_json::to_value(&report)?;
        (line["run"], line["seconds"]) = (json!(run), json!(start.elapsed().as_secs_f64()));
        lines.push_str(&line.to_string());
        lines.push('\n');
        if log_every > 0 && report.iteration % log_every == 0 {
            println!("{line}");
        }
        last = (report.return_before, report.return_after);
        if let Some(path) = path.filter(|_| report.iteration % path_every == 0) {
            std::fs::write(path.join(format!("{}.bin", report.iteration)), trainer.weights())?;
        }
    }
    std::fs::write(metrics, lines)?;
    Ok(last)
}

/// Meta-tests a navigation run on `tasks` held-out goals: the mean return after 0..=steps inner
/// steps from the meta-learned start, a random start and (if trained) the joint-trained one;
/// and the start's log std (with per-step spreads, each stage's).
pub fn eval(run: &Path, weights: &[u8], tasks: usize, steps: Option<usize>) -> Result<(), Failure> {
    let trainer = NavTrainer::from_weights(weights)?;
    let config = trainer.config().clone();
    let steps = steps.unwrap_or(config.maml.test_inner_steps);
    let goals = trainer.meta_test_goals(tasks);
    let curve = |t: &NavTrainer, start| -> Value {
        t.evaluate(&t.start(start), &goals, steps).iter().enumerate().map(|(step, returns)| {
            let s = Stat::of(returns);
            json!({"step": step, "mean": s.mean, "ci95": s.ci95})
        }).collect()
    };
    let mut baselines = json!({"random_init": curve(&trainer, NavStart::Random)});
    if let Ok(bytes) = std::fs::read(run.join("pretrained.bin")) {
        baselines["pretrained"] = curve(&NavTrainer::from_weights(&bytes)?, NavStart::MetaLearned);
    }
    println!(
        "{}",
        json!({
            "task": config.task.kind, "algorithm": config.maml.algorithm, "first_order": config.maml.first_order,
            "metric": "return", "tasks": goals.len(), "trajectories": config.task.shots, "inner_lr": config.maml.inner_lr,
            "iterations": trainer.iteration(), "steps": curve(&trainer, NavStart::MetaLearned), "baselines": baselines,
            "per_step_std": config.maml.per_step_std, "log_std": trainer.log_stds(),
        })
    );
    Ok(())
}

/// Meta-iterations per second (after one warm-up iteration).
pub fn bench(config: TrainerConfig, iterations: usize) -> Result<(), Failure> {
    let mut trainer = NavTrainer::new(config.clone())?;
    trainer.step()?;
    let mut times = Vec::with_capacity(iterations);
    let start = Instant::now();
    for _ in 0..iterations.max(1) {
        let t = Instant::now();
        trainer.step()?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let total = start.elapsed().as_secs_f64();
    times.sort_by(f64::total_cmp);
    let (t, m) = (&config.task, &config.maml);
    println!(
        "{}",
        json!({
            "it_per_s": times.len() as f64 / total, "ms_per_iter_median": times[times.len() / 2], "task": t.kind,
            "order": if m.first_order { "first" } else { "second" }, "meta_batch": m.meta_batch, "inner_steps": m.inner_steps,
            "trajectories": [t.shots, t.queries], "hidden": config.model.hidden, "iterations": times.len(), "threads": 1,
        })
    );
    Ok(())
}
