//! Meta-testing: loss and accuracy after each inner step 0..k on held-out tasks, with 95 % confidence intervals.

use burn::module::Module;
use burn::prelude::*;
use serde::Serialize;

use super::adapt::{TaskTensors, correct};
use super::params::SgdStep;
use crate::model::Network;
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
pub fn evaluate(net: &Network, sampler: &dyn TaskSampler, rng: &mut Rng, tasks: usize, inner_lr: f64, steps: usize) -> EvalReport {
    let device = net.head.bias.val().device();
    let curves = (0..tasks)
        .map(|_| {
            let task = sampler.sample(Split::MetaTest, rng);
            evaluate_task(net, &TaskTensors::new(&task, sampler.input_shape(), &device), inner_lr, steps)
        })
        .collect();
    EvalReport::from_curves(curves)
}

/// One task's curve; all values of the task come back in a single transfer.
pub fn evaluate_task(net: &Network, t: &TaskTensors, inner_lr: f64, steps: usize) -> TaskCurve {
    let mut adapted = net.clone();
    let mut metrics = Vec::with_capacity(2 * (steps + 1));
    for step in 0..=steps {
        let out = adapted.forward(t.query_x.clone());
        metrics.push(t.query.loss(out.clone()));
        if let Some(c) = correct(out, &t.query) {
            metrics.push(c);
        }
        if step < steps {
            let grads = adapted.loss_and_grads(t.support_x.clone(), &t.support).2;
            adapted = adapted.map(&mut SgdStep { grads: &grads, lr: inner_lr });
        }
    }
    let values: Vec<f64> = Tensor::cat(metrics, 0).into_data().convert::<f64>().try_to_vec::<f64>().expect("metrics are float");
    let n_query = t.query_x.dims()[0] as f64;
    match t.query {
        crate::model::Target::Classes(_) => TaskCurve {
            loss: values.iter().step_by(2).copied().collect(),
            accuracy: Some(values.iter().skip(1).step_by(2).map(|c| c / n_query).collect()),
        },
        crate::model::Target::Values(_) => TaskCurve { loss: values, accuracy: None },
    }
}
