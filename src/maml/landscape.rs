//! The meta-objective on a plane through θ: the mean query loss after adaptation of a fixed set of tasks at θ + a·u + b·v, on a grid, with each learner's step and the run's path drawn on the same plane.
//!
//! The plane is spanned by the exact meta-gradient and the first-order one of that set of tasks
//! (orthonormalised: u along the exact one), so it shows what first-order MAML's approximation
//! looks like on the surface it descends; or by two random directions scaled filter by filter to
//! θ's own filters (Li et al., 2018, "Visualizing the Loss Landscape of Neural Nets", section 4),
//! which shows the surface without the gradients' bias. Biases and normalisation parameters get
//! no component in the random directions, as in that paper.
//!
//! Each learner's arrow is the update this run's Adam would make at β from its direction on the
//! same tasks (a clone of the run's optimiser, so its moments shape the step as they do in
//! training); an arrow's part off the plane is reported, since a projection hides it.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::prelude::*;
use serde::Serialize;

use super::adapt::{TaskTensors, adapt};
use super::learners::{meta_gradient, reptile_direction};
use super::outer::{MetaLearner, update};
use super::params::MetaParams;
use super::shares::{Shares, Sum};
use crate::config::{Algorithm, MamlConfig};
use crate::model::{Grads, Network};
use crate::pending::Pending;
use crate::rng::Rng;
use crate::tasks::{InputShape, Task};

/// What spans the plane.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Directions {
    /// The exact meta-gradient and the first-order one, orthonormalised.
    Gradients,
    /// Two random directions, filter-normalised to θ (Li et al., 2018).
    Random,
}

/// What the grid's automatic extent shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Fit {
    /// The run's path and the arrows (the arrows alone when there is no path yet).
    Path,
    /// The arrows: the scale of one meta-iteration's step.
    Steps,
}

/// What a person asks of the landscape.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LandscapeOptions {
    pub directions: Directions,
    /// Grid points per side (odd, so that θ is a grid point).
    pub size: usize,
    /// What the grid's extent fits when `span` is not given.
    pub fit: Fit,
    /// The extent times this: how far the grid reaches from θ, as a multiple of the farthest
    /// arrow or path point (`auto_span`), or of `span`, in parameter-space units.
    pub zoom: f64,
    pub span: Option<f64>,
    /// Seeds the random directions.
    pub seed: u64,
}

impl Default for LandscapeOptions {
    fn default() -> Self {
        Self { directions: Directions::Gradients, size: 21, fit: Fit::Path, zoom: 1.0, span: None, seed: 0 }
    }
}

/// Grid sizes a person may ask for: at least the 21 x 21, at most what stays quick.
pub const SIZES: std::ops::RangeInclusive<usize> = 5..=61;

impl LandscapeOptions {
    pub fn check(&self) -> Result<(), String> {
        if !SIZES.contains(&self.size) || self.size % 2 == 0 {
            return Err(format!("the landscape's grid is {} points a side; it takes an odd number from {} to {}, so that θ is on it", self.size, SIZES.start(), SIZES.end()));
        }
        if !(self.zoom.is_finite() && self.zoom > 0.0) {
            return Err(format!("the landscape's zoom is {}; it takes a positive number", self.zoom));
        }
        if let Some(span) = self.span.filter(|s| !(s.is_finite() && *s > 0.0)) {
            return Err(format!("the landscape's span is {span}; it takes a positive number"));
        }
        Ok(())
    }
}

/// One learner's update, on the plane.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Arrow {
    pub learner: String,
    /// Where the update takes θ, in plane coordinates.
    pub a: f64,
    pub b: f64,
    /// |Δθ|, the whole update's length in parameter space.
    pub length: f64,
    /// The fraction of |Δθ| that lies in the plane: the arrow drawn is that much of the update.
    pub in_plane: f64,
}

/// A point of the run's path, on the plane.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PathPoint {
    pub iteration: usize,
    pub a: f64,
    pub b: f64,
    /// The fraction of |θ_k − θ| that lies in the plane.
    pub in_plane: f64,
}

/// Everything about the plane but its grid values.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    pub iteration: usize,
    /// What spans the plane in fact: random when the two gradients are parallel (one inner
    /// step of size 0, or no inner step), whatever was asked.
    pub directions: Directions,
    /// Why the directions are not those asked for, when they are not.
    pub note: Option<String>,
    pub size: usize,
    /// The coordinates of the grid's columns (a) and rows (b): from −span to span.
    pub axis: Vec<f64>,
    pub span: f64,
    pub tasks: usize,
    /// The meta-objective at θ: the mean query loss after adaptation of the plane's tasks.
    pub centre_loss: f64,
    /// |exact meta-gradient| and cos ∠(first-order, exact) on the plane's tasks.
    pub exact_norm: f64,
    pub first_order_cosine: f64,
    pub arrows: Vec<Arrow>,
    pub path: Vec<PathPoint>,
}

/// The plane, ready to be evaluated row by row (the page asks for one row per call, so that it
/// can say how far it is and stop).
pub struct Plane {
    pub summary: Summary,
    origin: MetaParams,
    u: Grads,
    v: Grads,
    tasks: TaskTensors,
    config: MamlConfig,
}

impl Plane {
    /// The grid's `row`-th row (b = `axis[row]`), one value per column, pending their read.
    pub fn row(&self, row: usize) -> Pending<'static, Vec<f64>> {
        let b = self.summary.axis[row];
        let n = self.tasks.tasks as f64;
        let parts = self.summary.axis.iter().map(|&a| self.loss_at(a, b).mul_scalar(1.0 / n)).collect();
        Pending::new(parts, |v| v.to_vec())
    }

    /// The summed query loss after adaptation at θ + a·u + b·v.
    fn loss_at(&self, a: f64, b: f64) -> Tensor<1> {
        let theta = self.origin.theta.clone().map(&mut Offset { terms: vec![(&self.u, a), (&self.v, b)] });
        let params = MetaParams { theta, rates: self.origin.rates.clone(), step_rates: self.origin.step_rates.clone(), step_norms: self.origin.step_norms.clone() };
        let adapted = adapt(&params, &self.tasks, &self.config);
        self.tasks.query.loss(adapted.query_outputs()).sum()
    }

    /// The whole grid, rows of b from −span to span (natively; the page reads it row by row).
    pub fn grid(&self) -> Vec<Vec<f64>> {
        (0..self.summary.size).map(|row| self.row(row).wait()).collect()
    }
}

/// The learners drawn for a run of `algorithm`: each arrow's name, and how its direction is
/// computed (its algorithm, first-order, with the run's learned rates or not). Meta-SGD's needs
/// the rates, so it is drawn for a Meta-SGD run only.
fn learners(algorithm: Algorithm) -> Vec<(&'static str, Algorithm, bool)> {
    let mut all = vec![
        ("MAML", Algorithm::Maml, false),
        ("first-order MAML", Algorithm::Maml, true),
        ("Reptile", Algorithm::Reptile, false),
        ("ANIL", Algorithm::Anil, false),
    ];
    if algorithm == Algorithm::MetaSgd {
        all.push(("Meta-SGD", Algorithm::MetaSgd, false));
    }
    all
}

/// The plane through the run's θ (`learner`, on its autodiff device) for `tasks` with the run's
/// settings `config`, its path `path` (θ at earlier iterations, plain device), pending one read.
pub fn plane(learner: &MetaLearner, tasks: Vec<Task>, shape: InputShape, config: &MamlConfig, shares: &Shares, path: &[(usize, Network)], options: &LandscapeOptions) -> Pending<'static, Plane> {
    let params = &learner.params;
    let plain = params.valid();
    let theta = &plain.theta;
    let device = theta.device();
    let order = Order::of(theta);
    let n_tasks = tasks.len() as f64;
    let without_rates = |p: &MetaParams| MetaParams::theta_only(p.theta.clone());

    // the run's own exact and first-order meta-gradients (Reptile's exact counterpart is MAML's)
    let own = if config.algorithm == Algorithm::Reptile { Algorithm::Maml } else { config.algorithm };
    let gradient = |first_order: bool| {
        let c = MamlConfig { algorithm: own, first_order, ..config.clone() };
        let sum = shares.sum(&tasks, |part, at_once| meta_gradient(params, part, shape, &c, at_once));
        (order.flat(&sum.direction, &device).mul_scalar(1.0 / n_tasks), sum.loss)
    };
    let (exact, loss) = gradient(false);
    let (first, _) = gradient(true);
    // two random directions, filter-normalised
    let mut rng = Rng::stream(options.seed, 0x1A_2D5C);
    let random = [order.random(theta, &mut rng, &device), order.random(theta, &mut rng, &device)];

    // each learner's update by a clone of the run's Adam, on the same tasks
    let mut steps = Vec::new();
    for (name, algorithm, first_order) in learners(config.algorithm) {
        let c = MamlConfig { algorithm, first_order, ..config.clone() };
        let mut clone = learner.clone();
        // the run's own learner with everything it learns (Meta-SGD's rates, MAML++'s per-step
        // rates and batch-norms); the others with θ alone
        if algorithm != config.algorithm {
            clone.params = without_rates(&clone.params);
        }
        let sum: Sum = match algorithm {
            Algorithm::Reptile => shares.sum(&tasks, |part, at_once| reptile_direction(&clone.params, part, shape, &c, at_once)),
            _ => shares.sum(&tasks, |part, at_once| meta_gradient(&clone.params, part, shape, &c, at_once)),
        };
        let _ = update(&mut clone, sum, &tasks, &c);
        let after = Grads::values(&clone.params.valid().theta);
        let before = Grads::values(theta);
        steps.push((name, order.flat(&after, &device) - order.flat(&before, &device)));
    }
    let here = order.flat(&Grads::values(theta), &device);
    let offsets: Vec<(usize, Tensor<1>)> = path.iter().map(|(it, net)| (*it, order.flat(&Grads::values(net), &device) - here.clone())).collect();

    // one read: the dot products of every vector with the four candidate basis vectors
    let basis = [exact.clone(), first.clone(), random[0].clone(), random[1].clone()];
    let vectors: Vec<Tensor<1>> = steps.iter().map(|(_, s)| s.clone()).chain(offsets.iter().map(|(_, o)| o.clone())).collect();
    let mut parts = vec![loss.mul_scalar(1.0 / n_tasks)];
    for i in 0..4 {
        for j in i..4 {
            parts.push((basis[i].clone() * basis[j].clone()).sum());
        }
    }
    for x in &vectors {
        parts.push(x.clone().square().sum());
        parts.extend(basis.iter().map(|b| (x.clone() * b.clone()).sum()));
    }
    let names: Vec<&'static str> = steps.iter().map(|(n, _)| *n).collect();
    let iterations: Vec<usize> = offsets.iter().map(|(it, _)| *it).collect();
    let (options, config) = (*options, config.clone());
    let t = TaskTensors::new(&tasks, shape, &device);
    let iteration = learner.iteration;
    Pending::new(parts, move |r| {
        let centre_loss = r[0];
        let gram = |i: usize, j: usize| {
            let (i, j) = (i.min(j), i.max(j));
            r[1 + [0, 4, 7, 9][i] + (j - i)]
        };
        let (ee, ef, ff) = (gram(0, 0), gram(0, 1), gram(1, 1));
        let (exact_norm, first_norm) = (ee.sqrt(), ff.sqrt());
        let first_order_cosine = ef / (exact_norm * first_norm);
        // the plane: an orthonormal (u, v) as combinations of the basis vectors, u = Σ cu_k basis_k
        let orthonormal = |p: usize, q: usize| {
            let (pp, pq, qq) = (gram(p, p), gram(p, q), gram(q, q));
            let rest = qq - pq * pq / pp;
            let mut cu = [0.0; 4];
            let mut cv = [0.0; 4];
            cu[p] = 1.0 / pp.sqrt();
            cv[q] = 1.0 / rest.sqrt();
            cv[p] = -pq / pp / rest.sqrt();
            (cu, cv, rest / qq)
        };
        let (mut directions, mut note) = (options.directions, None);
        let (cu, cv) = match options.directions {
            Directions::Gradients if !(ee > 0.0 && ee.is_finite()) => {
                directions = Directions::Random;
                note = Some("the exact meta-gradient is zero here, so the plane is spanned by two random directions".into());
                let (cu, cv, _) = orthonormal(2, 3);
                (cu, cv)
            }
            Directions::Gradients => {
                let (cu, cv, independent) = orthonormal(0, 1);
                if independent > 1e-10 {
                    (cu, cv)
                } else {
                    // parallel (α = 0, or no inner step): the exact one and a random one
                    note = Some("the first-order meta-gradient is parallel to the exact one here (no second-order term), so the plane's second direction is random".into());
                    let (cu, cv, _) = orthonormal(0, 2);
                    (cu, cv)
                }
            }
            Directions::Random => {
                let (cu, cv, _) = orthonormal(2, 3);
                (cu, cv)
            }
        };
        // a vector x's coordinates: a = Σ cu_k (x · basis_k), and its part in the plane
        let mut at = 1 + 10;
        let mut project = || {
            let norm2 = r[at];
            let dots = &r[at + 1..at + 5];
            at += 5;
            let a: f64 = (0..4).map(|k| cu[k] * dots[k]).sum();
            let b: f64 = (0..4).map(|k| cv[k] * dots[k]).sum();
            let in_plane = if norm2 > 0.0 { ((a * a + b * b) / norm2).sqrt().min(1.0) } else { 1.0 };
            (a, b, norm2.sqrt(), in_plane)
        };
        let arrows: Vec<Arrow> = names.iter().map(|name| {
            let (a, b, length, in_plane) = project();
            Arrow { learner: name.to_string(), a, b, length, in_plane }
        }).collect();
        let path: Vec<PathPoint> = iterations.iter().map(|&iteration| {
            let (a, b, _, in_plane) = project();
            PathPoint { iteration, a, b, in_plane }
        }).collect();
        let on_path = path.iter().filter(|_| options.fit == Fit::Path).map(|p| p.a.hypot(p.b));
        let farthest = arrows.iter().map(|x| x.a.hypot(x.b)).chain(on_path).filter(|d| d.is_finite()).fold(0.0, f64::max);
        let span = options.span.unwrap_or_else(|| auto_span(farthest)) * options.zoom;
        let half = (options.size / 2) as f64;
        let axis = (0..options.size).map(|i| (i as f64 - half) / half * span).collect();
        let combine = |c: [f64; 4]| {
            let terms: Vec<(&Tensor<1>, f64)> = basis.iter().zip(c).filter(|(_, w)| *w != 0.0).collect();
            order.unflat(terms.into_iter().map(|(t, w)| t.clone().mul_scalar(w)).reduce(|x, y| x + y).expect("a direction"))
        };
        let (u, v) = (combine(cu), combine(cv));
        let summary = Summary { iteration, directions, note, size: options.size, axis, span, tasks: t.tasks, centre_loss, exact_norm, first_order_cosine, arrows, path };
        Plane { summary, origin: plain, u, v, tasks: t, config }
    })
}

/// The grid's half-width when none is given: past the farthest point it fits, so all show (with
/// nothing to show, as when no learner moves θ, a small one).
fn auto_span(farthest: f64) -> f64 {
    if farthest > 0.0 { 1.5 * farthest } else { 1e-3 }
}

/// θ's parameters in the module's order, each with its id and shape: the order of the flat
/// vectors here and in `walkthrough`.
pub(super) struct Order(Vec<(burn::module::ParamId, Vec<usize>)>);

impl Order {
    pub(super) fn of(net: &Network) -> Self {
        struct Collect(Vec<(burn::module::ParamId, Vec<usize>)>);
        impl ModuleVisitor for Collect {
            fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
                self.0.push((p.id, p.shape().dims::<D>().to_vec()));
            }
        }
        let mut c = Collect(Vec::new());
        net.visit(&mut c);
        Self(c.0)
    }

    /// The parameters' ids, in order.
    pub(super) fn ids(&self) -> impl Iterator<Item = &burn::module::ParamId> {
        self.0.iter().map(|(id, _)| id)
    }

    /// `g` as one vector in this order (zeros where `g` has no entry), on `device`, a plain
    /// device (tracked entries are taken off the graph).
    pub(super) fn flat(&self, g: &Grads, device: &Device) -> Tensor<1> {
        let parts = self
            .0
            .iter()
            .map(|(id, dims)| match g.0.get(id) {
                Some(t) => if t.is_autodiff() { t.clone().inner() } else { t.clone() },
                None => Tensor::zeros([dims.iter().product::<usize>()], device),
            })
            .collect();
        Tensor::cat(parts, 0)
    }

    /// A flat vector back into one tensor per parameter.
    fn unflat(&self, x: Tensor<1>) -> Grads {
        let mut at = 0;
        let mut g = Grads::default();
        for (id, dims) in &self.0 {
            let n: usize = dims.iter().product();
            g.0.insert(*id, x.clone().slice(at..at + n));
            at += n;
        }
        g
    }

    /// A random direction filter-normalised to `theta` (Li et al., 2018): Gaussian, each filter
    /// (a conv's output channel, a dense layer's output unit) scaled to the norm of θ's filter;
    /// zero for biases and normalisation parameters (rank 2 with the task axis: `[1, n]`).
    fn random(&self, theta: &Network, rng: &mut Rng, device: &Device) -> Tensor<1> {
        let values = Grads::values(theta);
        let parts = self
            .0
            .iter()
            .map(|(id, dims)| {
                let n: usize = dims.iter().product();
                if dims.len() <= 2 {
                    return Tensor::zeros([n], device);
                }
                // filters: dense [1, d_in, d_out] by output unit (the last axis), conv [1, c_out, …] by output channel
                let noise: Vec<f32> = (0..n).map(|_| rng.normal() as f32).collect();
                let d = Tensor::<1>::from_data(TensorData::new(noise, [n]), device);
                let w = values.0[id].clone();
                let (d, w) = if dims.len() == 3 {
                    let [_, d_in, d_out] = [dims[0], dims[1], dims[2]];
                    (d.reshape([d_in, d_out]).swap_dims(0, 1), w.reshape([d_in, d_out]).swap_dims(0, 1))
                } else {
                    (d.reshape([dims[1], n / dims[1]]), w.reshape([dims[1], n / dims[1]]))
                };
                let norm = |t: Tensor<2>| t.square().sum_dim(1).sqrt();
                let scaled = d.clone() * (norm(w) / norm(d).add_scalar(1e-12));
                let scaled = if dims.len() == 3 { scaled.swap_dims(0, 1) } else { scaled };
                scaled.reshape([n])
            })
            .collect();
        Tensor::cat(parts, 0)
    }
}

/// θ + Σ w·d for every parameter, the directions keyed by its id.
struct Offset<'a> {
    terms: Vec<(&'a Grads, f64)>,
}

impl ModuleMapper for Offset<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let shifts: Vec<Tensor<D>> = self.terms.iter().filter(|(_, w)| *w != 0.0).filter_map(|(g, w)| g.get(&param).map(|d| d.mul_scalar(*w))).collect();
        if shifts.is_empty() {
            return param;
        }
        param.map(|t| shifts.into_iter().fold(t, |acc, s| acc + s))
    }
}
