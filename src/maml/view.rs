//! One task adapted step by step, for display: the model's predictions after each inner step 0..k.

use burn::prelude::*;
use burn::tensor::activation::softmax;
use serde::Serialize;

use super::adapt::{Inner, TaskTensors, each_step};
use super::params::MetaParams;
use crate::config::MamlConfig;
use crate::pending::Pending;
use crate::tasks::{InputShape, Labels, Set, Task, TaskMeta};

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

    let mut parts = Vec::new();
    each_step(Inner::start(params, &t, config), steps, |inner| {
        let out = inner.query_outputs(); // [1, n_query, outputs]
        parts.push(t.query.loss(out.clone()));
        match &grid {
            Some(g) => parts.push(inner.forward(g.clone()).reshape([GRID])),
            None => {
                parts.push(t.query.correct(out.clone()).expect("classification"));
                parts.push(out.argmax(2).float().reshape([n_query]));
            }
        }
    });

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

/// Most examples a person's own task may hold, support and query each: a bound on the memory
/// of one adaptation (the page sends a few dozen).
pub const MAX_OWN_EXAMPLES: usize = 256;

/// A task a person made, by drawing or placing points: labelled support examples and query
/// inputs whose labels nobody knows.
#[derive(Clone, Debug, PartialEq)]
pub struct OwnTask {
    pub support: Set,
    pub query_x: Vec<f32>,
    pub n_query: usize,
}

impl OwnTask {
    /// Checks a person's task against the network's input: `ways` classes (labels in
    /// `support_y`, every class with an example), or regression when `ways` is `None`. Each
    /// refusal is one sentence for the screen.
    pub fn new(support_x: Vec<f32>, support_y: Vec<f32>, query_x: Vec<f32>, shape: InputShape, ways: Option<usize>) -> Result<Self, String> {
        let numel = shape.numel();
        let what = if ways.is_some() { "image" } else { "point" };
        let count = |x: &[f32], set: &str| -> Result<usize, String> {
            if !x.len().is_multiple_of(numel) {
                return Err(format!("the {set} inputs hold {} values, not a whole number of {what}s of {numel} values", x.len()));
            }
            if let Some(v) = x.iter().find(|v| !v.is_finite()) {
                return Err(format!("the {set} inputs hold {v}, not a finite number"));
            }
            match x.len() / numel {
                n if n > MAX_OWN_EXAMPLES => Err(format!("the {set} set has {n} {what}s, over the limit of {MAX_OWN_EXAMPLES}")),
                n => Ok(n),
            }
        };
        let (n_support, n_query) = (count(&support_x, "support")?, count(&query_x, "query")?);
        if n_support != support_y.len() {
            return Err(format!("the support set has {n_support} {what}s but {} labels", support_y.len()));
        }
        if n_query == 0 {
            return Err(match ways {
                Some(_) => "there is no query to classify: draw one".into(),
                None => "there are no inputs to predict at".into(),
            });
        }
        let labels = match ways {
            Some(ways) => {
                let mut labels = Vec::with_capacity(n_support);
                for &y in &support_y {
                    if !(y.fract() == 0.0 && y >= 0.0 && (y as usize) < ways) {
                        return Err(format!("a support label is {y}, not one of the classes 0 to {}", ways - 1));
                    }
                    labels.push(y as usize);
                }
                // numbered from 0, as the page's labels are
                let missing: Vec<String> = (0..ways).filter(|c| !labels.contains(c)).map(|c| c.to_string()).collect();
                match missing.as_slice() {
                    [] => {}
                    [one] => return Err(format!("class {one} has no example: draw one or fill one from a sample")),
                    many => return Err(format!("classes {} have no example: draw one for each or fill them from samples", many.join(", "))),
                }
                Labels::Classes { labels, ways }
            }
            None => {
                if n_support == 0 {
                    return Err("there are no support points: place at least one".into());
                }
                if let Some(y) = support_y.iter().find(|y| !y.is_finite()) {
                    return Err(format!("a support point's y is {y}, not a finite number"));
                }
                Labels::Values(support_y)
            }
        };
        Ok(Self { support: Set { x: support_x, n: n_support, labels }, query_x, n_query })
    }
}

/// One inner step's state on a person's task.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct OwnStep {
    pub step: usize,
    /// The loss on the support set: what the inner steps lower.
    pub support_loss: f64,
    /// Classification: each query's class probabilities, `n_query x ways` row-major;
    /// regression: the prediction at each query input.
    pub outputs: Vec<f32>,
}

/// Adapts the meta-parameters (plain device) to a person's task with `steps` inner steps of
/// the algorithm's own rule, as `view` does, reading the support loss and the query outputs
/// (as probabilities for classes) after each step 0..=steps.
pub fn own_task(params: &MetaParams, task: &OwnTask, shape: InputShape, config: &MamlConfig, steps: usize) -> Pending<'static, Vec<OwnStep>> {
    let device = params.theta.device();
    // the inner loop reads the query's inputs only: its labels, unknown, are placeholders
    let unknown = match &task.support.labels {
        Labels::Classes { ways, .. } => Labels::Classes { labels: vec![0; task.n_query], ways: *ways },
        Labels::Values(_) => Labels::Values(vec![0.0; task.n_query]),
    };
    let classification = matches!(unknown, Labels::Classes { .. });
    let full = Task {
        support: task.support.clone(),
        query: Set { x: task.query_x.clone(), n: task.n_query, labels: unknown },
        meta: TaskMeta::Own,
    };
    let t = TaskTensors::new(std::slice::from_ref(&full), shape, &device);
    let mut parts = Vec::new();
    each_step(Inner::start(params, &t, config), steps, |inner| {
        parts.push(inner.support_loss());
        let out = inner.query_outputs(); // [1, n_query, outputs]
        let out = if classification { softmax(out, 2) } else { out };
        let n = out.dims().iter().product::<usize>();
        parts.push(out.reshape([n]));
    });
    Pending::new(parts, move |values| {
        values
            .chunks(values.len() / (steps + 1))
            .enumerate()
            .map(|(step, v)| OwnStep { step, support_loss: v[0], outputs: v[1..].iter().map(|&p| p as f32).collect() })
            .collect()
    })
}
