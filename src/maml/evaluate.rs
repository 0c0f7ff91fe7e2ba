//! Meta-testing: loss and accuracy after each inner step 0..k on held-out tasks, with 95 % confidence intervals.

use burn::module::Module;
use burn::prelude::*;
use serde::Serialize;

use super::adapt::{TaskTensors, correct};
use super::params::SgdStep;
use crate::model::{Network, Target};
use crate::readback::Pending;
use crate::tasks::{Split, TaskSampler};
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
#[derive(Clone, Debug, Serialize, PartialEq)]
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
    fn from_curves(tasks: Vec<TaskCurve>) -> Self {
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

/// Adapts `net` (on a plain, non-autodiff device) to each of `tasks` meta-test tasks drawn from
/// `rng`, recording the query loss and accuracy after every inner step 0..=steps.
pub fn evaluate(net: &Network, sampler: &dyn TaskSampler, rng: &mut Rng, tasks: usize, inner_lr: f64, steps: usize) -> Pending<EvalReport> {
    let device = net.head.bias.val().device();
    let mut parts = Vec::with_capacity(tasks);
    let mut layout = Vec::with_capacity(tasks);
    for _ in 0..tasks {
        let task = sampler.sample(Split::MetaTest, rng);
        let t = TaskTensors::new(&task, sampler.input_shape(), &device);
        parts.push(task_readings(net, &t, inner_lr, steps));
        layout.push((task.query.n, matches!(t.query, Target::Classes(_))));
    }
    Pending::from_parts(parts, move |values| {
        let mut rest = values;
        let curves = layout
            .into_iter()
            .map(|(n_query, classification)| {
                let width = if classification { 2 * (steps + 1) } else { steps + 1 };
                let (mine, tail) = rest.split_at(width);
                rest = tail;
                curve(mine, classification, n_query)
            })
            .collect();
        EvalReport::from_curves(curves)
    })
}

/// One task's query loss (and number correct) after each inner step 0..=steps, as one tensor:
/// [loss_0, correct_0, loss_1, correct_1, ...] (no `correct` for regression).
pub fn task_readings(net: &Network, t: &TaskTensors, inner_lr: f64, steps: usize) -> Tensor<1> {
    let mut adapted = net.clone();
    let mut metrics = Vec::with_capacity(2 * (steps + 1));
    for step in 0..=steps {
        let out = adapted.forward(t.query_x.clone());
        metrics.push(t.query.loss(out.clone()));
        metrics.extend(correct(out, &t.query));
        if step < steps {
            let grads = adapted.loss_and_grads(t.support_x.clone(), &t.support).2;
            adapted = adapted.map(&mut SgdStep { grads: &grads, lr: inner_lr });
        }
    }
    Tensor::cat(metrics, 0)
}

fn curve(values: &[f64], classification: bool, n_query: usize) -> TaskCurve {
    if classification {
        TaskCurve {
            loss: values.iter().step_by(2).copied().collect(),
            accuracy: Some(values.iter().skip(1).step_by(2).map(|c| c / n_query as f64).collect()),
        }
    } else {
        TaskCurve { loss: values.to_vec(), accuracy: None }
    }
}
