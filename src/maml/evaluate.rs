//! Meta-testing: loss and accuracy after each inner step 0..k on held-out tasks, with 95 % confidence intervals.

use burn::prelude::*;
use serde::Serialize;

use super::adapt::{Inner, TaskTensors, each_step};
use super::params::MetaParams;
use super::shares::Shares;
use crate::config::MamlConfig;
use crate::model::Target;
use crate::pending::Pending;
use crate::tasks::{InputShape, Split, Task, TaskSampler};
use crate::rng::Rng;

/// Mean with the half-width of its 95 % confidence interval (normal approximation,
/// 1.96 standard errors, as the MAML paper reports over 600 tasks).
#[derive(Clone, Copy, Debug, Serialize, PartialEq)]
pub struct Stat {
    pub mean: f64,
    pub ci95: f64,
}

impl Stat {
    pub fn of(values: &[f64]) -> Self {
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        if values.len() < 2 {
            return Self { mean, ci95: f64::NAN };
        }
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
        Self { mean, ci95: 1.96 * (var / n).sqrt() }
    }
}

/// Query metrics of one task after each inner step.
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq)]
pub struct TaskCurve {
    /// Query loss after 0..=k steps (MSE for regression, cross-entropy for classification).
    pub loss: Vec<f64>,
    /// Query accuracy in [0, 1] after 0..=k steps (classification only).
    pub accuracy: Option<Vec<f64>>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct StepStat {
    pub step: usize,
    pub loss: Stat,
    pub accuracy: Option<Stat>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct EvalReport {
    pub steps: Vec<StepStat>,
    pub tasks: Vec<TaskCurve>,
}

impl EvalReport {
    /// The report of these tasks' curves (a meta-test whose tasks were adapted in parts, by
    /// the page's workers, put back together in task order).
    pub fn from_curves(tasks: Vec<TaskCurve>) -> Self {
        let k = tasks.first().map_or(0, |t| t.loss.len());
        let steps = (0..k)
            .map(|s| StepStat {
                step: s,
                loss: Stat::of(&tasks.iter().map(|t| t.loss[s]).collect::<Vec<_>>()),
                accuracy: tasks[0]
                    .accuracy
                    .as_ref()
                    .map(|_| Stat::of(&tasks.iter().map(|t| t.accuracy.as_ref().expect("all tasks alike")[s]).collect::<Vec<_>>())),
            })
            .collect();
        Self { steps, tasks }
    }

    /// The headline figure after the last step: accuracy in % for classification, else MSE.
    pub fn headline(&self) -> Vec<(usize, Stat)> {
        self.steps
            .iter()
            .map(|s| match s.accuracy {
                Some(a) => (s.step, Stat { mean: 100.0 * a.mean, ci95: 100.0 * a.ci95 }),
                None => (s.step, s.loss),
            })
            .collect()
    }
}

/// Tasks adapted at once at meta-test: bounds the memory of the largest batch.
pub const EVAL_CHUNK: usize = 32;

/// Adapts the meta-parameters (on a plain, non-autodiff device) to each of `tasks` meta-test
/// tasks drawn from `rng` with the algorithm's own inner rule, recording the query loss and
/// accuracy after every inner step 0..=steps. The tasks are adapted as many at a time as
/// training adapts (`Shares::at_once`, at most `EVAL_CHUNK`), the chunks laid out as training
/// lays out a meta-batch (natively on threads); each task's figures are the same whatever the
/// layout.
pub fn evaluate(params: &MetaParams, sampler: &dyn TaskSampler, rng: &mut Rng, tasks: usize, config: &MamlConfig, steps: usize, shares: &Shares) -> Pending<'static, EvalReport> {
    let drawn: Vec<Task> = (0..tasks).map(|_| sampler.sample(Split::MetaTest, rng)).collect();
    evaluate_tasks(params, &drawn, sampler.input_shape(), config, steps, shares)
}

/// `evaluate` on tasks already drawn, of inputs of `shape`.
pub fn evaluate_tasks(params: &MetaParams, drawn: &[Task], shape: InputShape, config: &MamlConfig, steps: usize, shares: &Shares) -> Pending<'static, EvalReport> {
    let (device, tasks) = (params.theta.device(), drawn.len());
    let examples = drawn.first().map_or(1, |t| t.support.n + t.query.n);
    let chunks: Vec<&[Task]> = drawn.chunks(shares.at_once(EVAL_CHUNK, examples)).collect();
    let read = shares.map(&chunks, |chunk| {
        let t = TaskTensors::new(chunk, shape, &device);
        (task_readings(params, &t, config, steps), matches!(t.query, Target::Classes(_)))
    });
    let classification = read.iter().any(|(_, c)| *c);
    let parts = read.into_iter().map(|(part, _)| part).collect();
    let layout: Vec<(usize, usize)> = chunks.iter().map(|c| (c.len(), c[0].query.n)).collect();
    Pending::new(parts, move |values| {
        let mut rest = values;
        let mut curves = Vec::with_capacity(tasks);
        for (chunk, n_query) in layout {
            let per_step = if classification { 2 * chunk } else { chunk };
            let (mine, tail) = rest.split_at(per_step * (steps + 1));
            rest = tail;
            curves.extend((0..chunk).map(|task| curve(mine, per_step, task, chunk, classification, n_query)));
        }
        EvalReport::from_curves(curves)
    })
}

/// The query loss of each task of `t` (and its number correct) after each inner step
/// 0..=steps, as one tensor: per step, the tasks' losses then (classification) their counts.
pub fn task_readings(params: &MetaParams, t: &TaskTensors, config: &MamlConfig, steps: usize) -> Tensor<1> {
    let mut metrics = Vec::with_capacity(2 * (steps + 1));
    each_step(Inner::start(params, t, config), steps, |inner| {
        let out = inner.query_outputs();
        metrics.push(t.query.loss(out.clone()));
        metrics.extend(t.query.correct(out));
    });
    Tensor::cat(metrics, 0)
}

/// Task `task`'s curve out of a chunk's readings (`per_step` values per step).
fn curve(values: &[f64], per_step: usize, task: usize, chunk: usize, classification: bool, n_query: usize) -> TaskCurve {
    let at = |offset: usize| values.chunks(per_step).map(move |step| step[offset]);
    TaskCurve {
        loss: at(task).collect(),
        accuracy: classification.then(|| at(chunk + task).map(|c| c / n_query as f64).collect()),
    }
}
