//! The browser's handle on a navigation run: one `NavLab` over an `rl::NavTrainer`, driven by the page's worker (www/worker/navigation.js) with scalars, bytes and JSON.
//!
//! Navigation runs on the CPU backend only: its policy is a tiny MLP and its rollouts step a
//! hundred times in sequence, so WebGPU would spend its time launching kernels. The methods are
//! synchronous (a CPU read needs no wait). Failures are one sentence for the screen, and a
//! failed call leaves the lab as it was.

#[cfg(target_family = "wasm")]
use wasm_bindgen::prelude::*;

use serde_json::{Value, json};

use crate::config::{TaskKind, TrainerConfig};
use crate::rl::env::{GOAL_RANGE, Point};
use crate::rl::rollout::Rollouts;
use crate::rl::trainer::NavStart;
use crate::rl::NavTrainer;

use super::{json, parse_settings};

/// Trajectories per start and step the arena draws at most (of the run's `shots`).
const ARENA_PATHS: usize = 10;

#[cfg_attr(target_family = "wasm", wasm_bindgen)]
pub struct NavLab {
    trainer: NavTrainer,
    /// The random start's meta-test, kept while what it depends on stays: `(key, report)`.
    random: Option<(String, Value)>,
}

fn nav_config(settings_json: &str) -> Result<TrainerConfig, String> {
    let config = parse_settings(settings_json)?.config();
    if config.task.kind != TaskKind::Navigation {
        return Err(format!("a navigation handle runs the navigation task, not {}", config.task.kind));
    }
    config.validate()?;
    Ok(config)
}

/// Mean and the half-width of its 95 % confidence interval (normal approximation).
fn mean_ci(values: &[f64]) -> Value {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = if values.len() > 1 { values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0) } else { 0.0 };
    json!({"mean": mean, "ci": 1.96 * (var / n).sqrt()})
}

/// Each step's trajectories (at most `ARENA_PATHS`, rounded to the millimetre of the unit
/// square) and mean return.
fn paths(rollouts: &[Rollouts]) -> Value {
    let round = |v: f32| (v as f64 * 1000.0).round() / 1000.0;
    let steps: Vec<Value> = rollouts
        .iter()
        .map(|r| {
            let shown: Vec<Vec<[f64; 2]>> = (0..r.per_task.min(ARENA_PATHS)).map(|row| r.path(row).into_iter().map(|p| p.map(round)).collect()).collect();
            let returns = r.task_returns();
            json!({"paths": shown, "return": returns[0]})
        })
        .collect();
    json!(steps)
}

/// `goal` moved into the square goals are drawn from, and whether it had to be.
pub fn clamp_goal(goal: Point) -> (Point, bool) {
    let clamped = goal.map(|v| if v.is_finite() { v.clamp(-GOAL_RANGE, GOAL_RANGE) } else { 0.0 });
    (clamped, clamped != goal)
}

#[cfg_attr(target_family = "wasm", wasm_bindgen)]
impl NavLab {
    /// A navigation run with the given settings JSON (task navigation), on burn's CPU backend.
    #[cfg_attr(target_family = "wasm", wasm_bindgen(constructor))]
    pub fn new(settings_json: &str) -> Result<NavLab, String> {
        let trainer = NavTrainer::new(nav_config(settings_json)?).map_err(|e| e.to_string())?;
        Ok(NavLab { trainer, random: None })
    }

    pub fn iteration(&self) -> usize {
        self.trainer.iteration()
    }

    /// The full configuration as JSON.
    pub fn config(&self) -> String {
        json(self.trainer.config())
    }

    /// Changes α, β, the inner steps, the meta-batch or first-order from the next
    /// meta-iteration on (only the MAML fields of the settings JSON are read), keeping θ and
    /// Adam's state.
    pub fn set_maml(&mut self, settings_json: &str) -> Result<(), String> {
        let current = self.trainer.config();
        let maml = parse_settings(settings_json)?.maml(TaskKind::Navigation, &current.maml);
        self.trainer.set_maml(maml).map_err(|e| e.to_string())
    }

    /// Runs up to `n` meta-iterations. Returns `{"reports": [NavReport...], "error": null |
    /// "..."}`: a divergence ends the batch with its sentence, θ as it was before it.
    pub fn step(&mut self, n: u32) -> String {
        let mut reports = Vec::new();
        let mut error = None;
        for _ in 0..n.max(1) {
            match self.trainer.step() {
                Ok(r) => reports.push(r),
                Err(e) => {
                    error = Some(e.to_string());
                    break;
                }
            }
        }
        json!({"reports": reports, "error": error}).to_string()
    }

    /// The meta-test on the seed's first `goals` held-out goals: each start's mean return ± the
    /// half-width of its 95 % interval after 0..=test_inner_steps inner steps,
    /// `{"iteration", "goals", "maml": [{mean, ci}...], "random": [...]}`. The random start's
    /// is computed once per α, steps and trajectories.
    pub fn evaluate(&mut self, goals: u32) -> String {
        let config = self.trainer.config();
        let steps = config.maml.test_inner_steps;
        let goals = self.trainer.meta_test_goals(goals.max(1) as usize);
        let report = |start| -> Value { json!(self.trainer.evaluate(&self.trainer.start(start), &goals, steps).iter().map(|r| mean_ci(r)).collect::<Vec<_>>()) };
        let key = format!("{} {} {} {}", config.maml.inner_lr, steps, config.task.shots, goals.len());
        let maml = report(NavStart::MetaLearned);
        let random = match &self.random {
            Some((k, r)) if *k == key => r.clone(),
            _ => report(NavStart::Random),
        };
        self.random = Some((key, random.clone()));
        json!({"iteration": self.trainer.iteration(), "goals": goals.len(), "steps": steps, "maml": maml, "random": random}).to_string()
    }

    /// A person's goal at `(x, y)`, clamped to the square goals come from: the trajectories
    /// sampled there before adaptation and after each of the meta-test's inner steps, from the
    /// meta-learned start and from the random one, with their returns: `{"goal", "asked",
    /// "clamped", "iteration", "alpha", "maml": [{paths, return}...], "random": [...]}`.
    pub fn arena(&self, x: f64, y: f64) -> String {
        let (goal, clamped) = clamp_goal([x, y]);
        let steps = self.trainer.config().maml.test_inner_steps;
        let run = |start| paths(&self.trainer.adapt_and_rollout(&self.trainer.start(start), &[goal], steps));
        json!({
            "goal": goal, "asked": [x, y], "clamped": clamped, "iteration": self.trainer.iteration(),
            "alpha": self.trainer.config().maml.inner_lr, "maml": run(NavStart::MetaLearned), "random": run(NavStart::Random),
        })
        .to_string()
    }

    /// θ with its config, as a weights file.
    pub fn export_weights(&self) -> Vec<u8> {
        self.trainer.weights()
    }

    /// Loads θ from a navigation policy's weights file of this shape (a meta-trained start, a
    /// download); anything else is refused with the reason and nothing changes.
    pub fn import_weights(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.trainer.load_weights(bytes).map_err(|e| e.to_string())
    }
}
