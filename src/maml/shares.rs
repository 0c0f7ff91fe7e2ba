//! How the outer loop's work is laid out for speed, never for its result: shares of a meta-batch on threads, tasks adapted at once.

use burn::prelude::*;

use crate::config::{Arch, ModelConfig};
use crate::model::layout::on_gpu;
use crate::model::Grads;
use crate::tasks::Task;

/// Some tasks' summed query loss after adaptation, their number correct (classification), and
/// the summed direction the outer loop follows: MAML's gradient of that loss with respect to θ
/// (and Meta-SGD's rates), or Reptile's Σ_i (θ − θ'_i).
pub struct Sum {
    pub loss: Tensor<1>,
    pub correct: Option<Tensor<1>>,
    pub direction: Grads,
}

impl Sum {
    fn add(self, other: Sum) -> Sum {
        Sum {
            loss: self.loss + other.loss,
            correct: self.correct.zip(other.correct).map(|(a, b)| a + b),
            direction: self.direction + other.direction,
        }
    }
}

/// A meta-batch is split into this many shares, each with a graph of its own. Natively they run
/// on threads of their own: burn-flex, built without its `rayon` feature (with it, its threads
/// and these compete), runs each kernel on one core. The browser's wasm has one thread, where a
/// second share only adds per-op work, so it has one. The split depends on the platform only,
/// never on the machine's cores: a seed gives the same sums, in the same order, on every machine
/// of a platform. (Figures: BENCHMARKS.md, "Two shares".)
#[cfg(not(target_arch = "wasm32"))]
pub const SHARES: usize = 2;
#[cfg(target_arch = "wasm32")]
pub const SHARES: usize = 1;

/// Examples times filters a conv net adapts at once on the CPU (`Shares::at_once`).
const CONV_WORK_AT_ONCE: usize = 2 * 80 * 64;

/// The layout of a meta-batch's work.
#[derive(Clone, Copy, Debug)]
pub struct Shares {
    pub arch: Arch,
    /// A conv net's filters (its first block's).
    pub filters: usize,
    /// Threads the shares may use (natively); 1 runs them one after another.
    pub threads: usize,
    /// The device is a GPU (`model::layout::on_gpu`).
    pub gpu: bool,
}

impl Shares {
    /// The layout for `model` on `device`, with `threads` threads.
    pub fn new(model: &ModelConfig, threads: usize, device: &Device) -> Self {
        Self { arch: model.arch, filters: model.filters, threads, gpu: on_gpu(device) }
    }

    /// How many of `share` tasks, of `examples` examples each (support and query), one
    /// adaptation takes at once (see `model::dense`).
    ///
    /// On a GPU every op is a kernel launch whose cost hardly depends on its size at these
    /// shapes, so all of them. On the CPU, the MLP's layers are tiny matmuls, so its cost is per
    /// op too: all of them (one batched matmul). A conv net there pays per op for small tasks and
    /// per element for large ones: as many tasks as keep examples x filters at about
    /// `CONV_WORK_AT_ONCE`, which measured fastest both for the paper's conv4 (two tasks of 80
    /// examples on 64 filters) and for the page's preset (all of a share, 30 examples on 16
    /// filters) (BENCHMARKS.md, "Tasks at once" and "Convolutions as GEMMs").
    pub fn at_once(&self, share: usize, examples: usize) -> usize {
        match self.arch {
            _ if self.gpu => share,
            Arch::Mlp => share,
            Arch::Conv4 | Arch::SeedCnn => (CONV_WORK_AT_ONCE / (examples * self.filters).max(1)).clamp(1, share),
        }
    }

    /// `f(part, at_once)` over the `SHARES` parts of `tasks`, summed in part order.
    pub fn sum(&self, tasks: &[Task], f: impl Fn(&[Task], usize) -> Sum + Sync) -> Sum {
        let parts: Vec<&[Task]> = tasks.chunks(tasks.len().div_ceil(SHARES)).collect();
        self.map(&parts, |part| f(part, self.at_once(part.len(), part[0].support.n + part[0].query.n)))
            .into_iter()
            .reduce(Sum::add)
            .expect("a meta-batch has at least one task")
    }

    /// `f` of each of `items`, in item order. Natively, with threads, the items are cut into
    /// `SHARES` runs of consecutive items, each on a thread of its own; each item's value is the
    /// same either way.
    pub fn map<I: Sync, T: Send>(&self, items: &[I], f: impl Fn(&I) -> T + Sync) -> Vec<T> {
        let runs: Vec<&[I]> = items.chunks(items.len().div_ceil(SHARES).max(1)).collect();
        let work = |run: &[I]| run.iter().map(&f).collect::<Vec<T>>();
        #[cfg(not(target_arch = "wasm32"))]
        if self.threads > 1 && runs.len() > 1 {
            return std::thread::scope(|scope| {
                let others: Vec<_> = runs[1..].iter().map(|&run| scope.spawn(move || work(run))).collect();
                let first = work(runs[0]);
                let rest = others.into_iter().flat_map(|h| h.join().expect("a share of the work panicked"));
                first.into_iter().chain(rest).collect()
            });
        }
        runs.into_iter().flat_map(work).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{TaskKind, TrainerConfig};
    use crate::maml::adapt::{TaskTensors, adapt};
    use crate::maml::learners::meta_gradient;
    use crate::maml::params::{MetaParams, autodiff_grads};
    use crate::model::Network;
    use crate::rng::Rng;
    use crate::tasks::{Split, sampler};

    /// Shares, each on a graph of its own, sum to the meta-gradient of one graph over all tasks.
    #[test]
    fn shares_sum_to_the_meta_gradient_of_the_whole_batch() {
        for kind in [TaskKind::Sinusoid, TaskKind::Glyphs] {
            let mut config = TrainerConfig::preset(kind);
            (config.model.filters, config.task.queries, config.maml.inner_steps) = (4, 2, 2);
            let device = Device::flex().autodiff();
            let s = sampler(&config.task, &[], 0).unwrap();
            let mut rng = Rng::stream(7, 7);
            let theta = Network::new(&config.model, s.input_shape(), s.outputs(), &mut rng, &device).unwrap();
            let net = MetaParams { theta, rates: None };
            let tasks: Vec<Task> = (0..5).map(|_| s.sample(Split::MetaTrain, &mut rng)).collect();
            let m = &config.maml;

            // one graph, all tasks at once, the meta-parameters themselves as leaves
            let whole = TaskTensors::new(&tasks, s.input_shape(), &device);
            let loss = whole.query.loss(adapt(&net, &whole, m).query_outputs()).sum();
            let reference = autodiff_grads(&net, &loss.backward());

            let shares = Shares::new(&config.model, 2, &device);
            let shape = s.input_shape();
            let summed = shares.sum(&tasks, |part, at_once| meta_gradient(&net, part, shape, m, at_once)).direction;
            assert_eq!(summed.0.len(), reference.0.len());
            let values = |g: &Tensor<1>| g.clone().into_data().convert::<f64>().try_to_vec::<f64>().unwrap();
            let mut norm = 0.0;
            for (id, r) in &reference.0 {
                let (r, s) = (values(r), values(&summed.0[id]));
                let scale = r.iter().fold(1e-6f64, |m, v| m.max(v.abs()));
                norm += r.iter().map(|v| v * v).sum::<f64>();
                for (x, y) in r.iter().zip(&s) {
                    assert!((x - y).abs() <= 1e-4 * scale, "{kind}: {x} (one graph) vs {y} (shares)");
                }
            }
            assert!(norm > 1e-6, "{kind}: the meta-gradient should not vanish");
        }
    }
}
