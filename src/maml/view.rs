//! One task adapted step by step, for display: the model's predictions after each inner step 0..k.

use burn::prelude::*;
use serde::Serialize;

use super::adapt::{Inner, TaskTensors};
use super::params::MetaParams;
use crate::config::MamlConfig;
use crate::pending::Pending;
use crate::tasks::{InputShape, Labels, Task, TaskMeta};

/// Points on which a regression task's curves are drawn.
pub const GRID: usize = 101;

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct View {
    pub shape: InputShape,
    /// Support examples, row-major; images as 0..=255 (ink 255) to keep the message small.
    pub support_x: Vec<f32>,
    pub support_y: Vec<f32>,
    pub query_x: Vec<f32>,
    pub query_y: Vec<f32>,
    /// Regression: the grid and the true function on it (empty for classification).
    pub grid_x: Vec<f32>,
    pub grid_y: Vec<f32>,
    /// Classification: the class behind each label.
    pub classes: Vec<usize>,
    pub steps: Vec<ViewStep>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ViewStep {
    pub step: usize,
    pub query_loss: f64,
    pub accuracy: Option<f64>,
    /// Classification: predicted label of each query; regression: prediction on the grid.
    pub predictions: Vec<f32>,
}

fn labels_f32(labels: &Labels) -> Vec<f32> {
    match labels {
        Labels::Classes { labels, .. } => labels.iter().map(|&l| l as f32).collect(),
        Labels::Values(v) => v.clone(),
    }
}

/// Adapts the meta-parameters (plain device) to `task` with `steps` inner steps of the
/// algorithm's own rule.
pub fn view(params: &MetaParams, task: Task, shape: InputShape, config: &MamlConfig, steps: usize) -> Pending<'static, View> {
    let device = params.theta.device();
    let t = TaskTensors::new(std::slice::from_ref(&task), shape, &device);
    let (grid_x, grid_y) = match task.meta {
        TaskMeta::Sinusoid { amplitude, phase } => {
            let (lo, hi) = task.support.x.iter().chain(&task.query.x).fold((-5f32, 5f32), |(a, b), &x| (a.min(x), b.max(x)));
            let xs: Vec<f32> = (0..GRID).map(|i| lo + (hi - lo) * i as f32 / (GRID - 1) as f32).collect();
            let ys = xs.iter().map(|&x| (amplitude * (x as f64 - phase).sin()) as f32).collect();
            (xs, ys)
        }
        _ => (vec![], vec![]),
    };
    let grid = (!grid_x.is_empty()).then(|| Tensor::<3>::from_data(TensorData::new(grid_x.clone(), [1, GRID, 1]), &device));
    let classification = grid.is_none();
    let n_query = task.query.n;

    let mut inner = Inner::start(params, &t, config);
    let mut parts = Vec::new();
    for step in 0..=steps {
        let out = inner.query_outputs(); // [1, n_query, outputs]
        parts.push(t.query.loss(out.clone()));
        match &grid {
            Some(g) => parts.push(inner.forward(g.clone()).reshape([GRID])),
            None => {
                parts.push(t.query.correct(out.clone()).expect("classification"));
                parts.push(out.argmax(2).float().reshape([n_query]));
            }
        }
        if step < steps {
            inner = inner.step();
        }
    }

    let image = |x: &[f32]| if classification { x.iter().map(|v| (v.clamp(0.0, 1.0) * 255.0).round()).collect() } else { x.to_vec() };
    let mut view = View {
        shape,
        support_x: image(&task.support.x),
        support_y: labels_f32(&task.support.labels),
        query_x: image(&task.query.x),
        query_y: labels_f32(&task.query.labels),
        grid_x,
        grid_y,
        classes: match task.meta {
            TaskMeta::Classes(c) => c,
            _ => vec![],
        },
        steps: vec![],
    };
    Pending::new(parts, move |values| {
        let width = if classification { 2 + n_query } else { 1 + GRID };
        view.steps = values
            .chunks(width)
            .enumerate()
            .map(|(step, v)| ViewStep {
                step,
                query_loss: v[0],
                accuracy: classification.then(|| v[1] / n_query as f64),
                predictions: v[if classification { 2 } else { 1 }..].iter().map(|&p| p as f32).collect(),
            })
            .collect();
        view
    })
}
