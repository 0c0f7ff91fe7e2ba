//! How the outer loop's work is laid out for speed, never for its result: shares of a meta-batch on threads, tasks adapted at once.

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::prelude::*;

use super::params::MetaParams;
use crate::config::{Arch, ModelConfig};
use crate::model::Grads;
use crate::model::layout::on_gpu;
use crate::pending::Pending;
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
/// and these compete), runs each kernel on one core. The split depends on the platform only,
/// never on the machine's cores: a seed gives the same sums, in the same order, on every machine
/// of a platform. (Figures: BENCHMARKS.md, "Two shares".) The page cuts its meta-batches into
/// units instead (`Layout::Units`).
pub const SHARES: usize = 2;

/// The most units a page's meta-batch is cut into: the page's workers are at most this many.
pub const MAX_UNITS: usize = 8;

/// Examples times filters a conv net's unit holds at least on the page (`Shares::unit_tasks`):
/// below it, cutting a meta-batch finer costs more in per-op work than another worker gains
/// (BENCHMARKS.md, "The page on every core").
const UNIT_WORK: usize = 960;

/// Examples times filters a conv net adapts at once on the CPU (`Shares::at_once`).
const CONV_WORK_AT_ONCE: usize = 2 * 80 * 64;

/// How a meta-batch is cut into parts, each differentiated on a graph of its own, their sums
/// added in part order. The cut never depends on how many threads or workers compute the parts,
/// so neither do the sums.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// `SHARES` parts, each natively on a thread of its own (the CLI).
    Shares,
    /// The page's units: parts of `unit_tasks` tasks, a number that depends on the run's shapes
    /// only, computed by however many workers the page has (`web::Lab::plan_step`, `web::Share`).
    Units,
}

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
    pub layout: Layout,
}

impl Shares {
    /// The layout for `model` on `device`, with `threads` threads.
    pub fn new(model: &ModelConfig, threads: usize, device: &Device, layout: Layout) -> Self {
        Self { arch: model.arch, filters: model.filters, threads, gpu: on_gpu(device), layout }
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

    /// Tasks per unit of a page's meta-batch of `tasks` tasks of `examples` examples each: all
    /// of them on a GPU (one device) and for the MLP (its meta-batch is one batched matmul, too
    /// little work to share); for a conv net, enough tasks for `UNIT_WORK`, and at most
    /// `MAX_UNITS` units.
    pub fn unit_tasks(&self, tasks: usize, examples: usize) -> usize {
        let tasks = tasks.max(1);
        match self.arch {
            _ if self.gpu => tasks,
            Arch::Mlp => tasks,
            Arch::Conv4 | Arch::SeedCnn => UNIT_WORK.div_ceil((examples * self.filters).max(1)).max(tasks.div_ceil(MAX_UNITS)).min(tasks),
        }
    }

    /// The parts of `tasks`, in order, each to be differentiated on a graph of its own.
    pub fn parts<'t>(&self, tasks: &'t [Task]) -> Vec<&'t [Task]> {
        let per_part = match self.layout {
            Layout::Shares => tasks.len().div_ceil(SHARES),
            Layout::Units => self.unit_tasks(tasks.len(), examples(tasks)),
        };
        tasks.chunks(per_part.max(1)).collect()
    }

    /// `f(part, at_once)` for one part.
    pub fn part_sum(&self, part: &[Task], f: impl Fn(&[Task], usize) -> Sum) -> Sum {
        f(part, self.at_once(part.len(), examples(part)))
    }

    /// `f(part, at_once)` over the parts of `tasks` (`parts`), summed in part order.
    pub fn sum(&self, tasks: &[Task], f: impl Fn(&[Task], usize) -> Sum + Sync) -> Sum {
        let parts = self.parts(tasks);
        let sums = match self.layout {
            Layout::Shares => self.map(&parts, |part| self.part_sum(part, &f)),
            Layout::Units => parts.iter().map(|part| self.part_sum(part, &f)).collect(),
        };
        fold(sums)
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

/// Examples per task (support and query) of a meta-batch's tasks, which share their shapes.
fn examples(tasks: &[Task]) -> usize {
    tasks.first().map_or(1, |t| t.support.n + t.query.n)
}

/// The parts' sums added in part order, ((s0 + s1) + s2) + …: the one order every layout and
/// every number of workers adds them in.
pub fn fold(sums: Vec<Sum>) -> Sum {
    sums.into_iter().reduce(Sum::add).expect("a meta-batch has at least one task")
}

impl Sum {
    /// This sum as bytes, pending its read: for a page's worker to send to the one that applies
    /// the meta-iteration (`decode` there), every value exactly. `params` are the
    /// meta-parameters it was computed for; the direction's tensors come in their visit order,
    /// each marked present or not (a learner may leave a parameter out).
    pub fn encode(self, params: &MetaParams) -> Pending<'static, Vec<u8>> {
        let order = param_ids(params);
        let present: Vec<bool> = order.iter().map(|(id, _)| self.direction.0.contains_key(id)).collect();
        let has_correct = self.correct.is_some();
        let mut parts = vec![self.loss];
        parts.extend(self.correct);
        let mut direction = self.direction.0;
        parts.extend(order.iter().filter_map(|(id, _)| direction.remove(id)));
        Pending::new(parts, move |values| {
            let mut out = Vec::with_capacity(8 + present.len() + 4 * values.len());
            out.extend_from_slice(&(present.len() as u32).to_le_bytes());
            out.extend(present.iter().map(|&p| p as u8));
            out.push(has_correct as u8);
            out.extend(values.iter().flat_map(|&v| (v as f32).to_le_bytes()));
            out
        })
    }

    /// A sum another worker computed and `encode`d, for the meta-parameters `params` (of the
    /// same model); bytes that do not fit them are refused with the reason.
    pub fn decode(bytes: &[u8], params: &MetaParams) -> Result<Sum, String> {
        let wrong = "a worker's share of the meta-gradient does not fit this run's model";
        let order = param_ids(params);
        let (count, rest) = bytes.split_at_checked(4).ok_or(wrong)?;
        if u32::from_le_bytes(count.try_into().expect("4 bytes")) as usize != order.len() {
            return Err(wrong.into());
        }
        let (flags, rest) = rest.split_at_checked(order.len() + 1).ok_or(wrong)?;
        let mut values = rest.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")));
        if rest.len() % 4 != 0 {
            return Err(wrong.into());
        }
        let device = params.theta.device();
        let mut take = |n: usize| -> Result<Tensor<1>, String> {
            let v: Vec<f32> = values.by_ref().take(n).collect();
            if v.len() != n {
                return Err(wrong.into());
            }
            Ok(Tensor::<1>::from_data(TensorData::new(v, [n]), &device).inner())
        };
        let loss = take(1)?;
        let correct = if flags[order.len()] == 1 { Some(take(1)?) } else { None };
        let mut direction = Grads::default();
        for ((id, n), &present) in order.iter().zip(flags) {
            if present == 1 {
                direction.0.insert(*id, take(*n)?);
            }
        }
        if values.next().is_some() {
            return Err(wrong.into());
        }
        Ok(Sum { loss, correct, direction })
    }
}

/// Every parameter of `params` with its number of elements, in visit order.
fn param_ids(params: &MetaParams) -> Vec<(ParamId, usize)> {
    struct Ids(Vec<(ParamId, usize)>);
    impl ModuleVisitor for Ids {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            self.0.push((p.id, p.shape().num_elements()));
        }
    }
    let mut ids = Ids(Vec::new());
    params.visit(&mut ids);
    ids.0
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
            let net = MetaParams::theta_only(theta);
            let tasks: Vec<Task> = (0..5).map(|_| s.sample(Split::MetaTrain, &mut rng)).collect();
            let m = &config.maml;

            // one graph, all tasks at once, the meta-parameters themselves as leaves
            let whole = TaskTensors::new(&tasks, s.input_shape(), &device);
            let loss = whole.query.loss(adapt(&net, &whole, m).query_outputs()).sum();
            let reference = autodiff_grads(&net, &loss.backward());

            let shares = Shares::new(&config.model, 2, &device, Layout::Shares);
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
