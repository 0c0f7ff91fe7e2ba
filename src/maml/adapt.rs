//! The inner loop, the one place α is used: θ' = θ − α ∇L_support(θ), k times, exact (second-order) or first-order, for many tasks at once.

use burn::module::{Module, ModuleMapper, Param};
use burn::prelude::*;

use super::params::{Detach, Fill, MetaParams, Tile, step_norms, step_rates};
use crate::config::{Algorithm, MamlConfig};
use crate::model::norm::BatchNorm;
use crate::model::{Grads, Network, Target};
use crate::tasks::{InputShape, Labels, Set, Task};

/// The sets of T tasks as tensors on one device, task-major: inputs `[tasks, n, features]`.
/// The tasks of a batch share their shapes (same ways, shots and queries).
pub struct TaskTensors {
    pub tasks: usize,
    pub support_x: Tensor<3>,
    pub support: Target,
    pub query_x: Tensor<3>,
    pub query: Target,
}

fn set_tensors<'a>(sets: impl ExactSizeIterator<Item = &'a Set>, shape: InputShape, device: &Device) -> (Tensor<3>, Target) {
    let tasks = sets.len();
    let (mut x, mut y, mut n, mut width, mut classes) = (Vec::new(), Vec::new(), None, 0, false);
    for set in sets {
        assert_eq!(*n.get_or_insert(set.n), set.n, "the tasks of a batch should have sets of one size");
        x.extend_from_slice(&set.x);
        match &set.labels {
            Labels::Classes { labels, ways } => {
                (width, classes) = (*ways, true);
                y.extend(labels.iter().flat_map(|&label| (0..*ways).map(move |c| if c == label { 1f32 } else { 0.0 })));
            }
            Labels::Values(values) => {
                width = 1;
                y.extend_from_slice(values);
            }
        }
    }
    let n = n.expect("at least one task");
    let x = Tensor::from_data(TensorData::new(x, [tasks, n, shape.numel()]), device);
    let y = Tensor::from_data(TensorData::new(y, [tasks, n, width]), device);
    (x, if classes { Target::Classes(y) } else { Target::Values(y) })
}

impl TaskTensors {
    pub fn new(tasks: &[Task], shape: InputShape, device: &Device) -> Self {
        let (support_x, support) = set_tensors(tasks.iter().map(|t| &t.support), shape, device);
        let (query_x, query) = set_tensors(tasks.iter().map(|t| &t.query), shape, device);
        Self { tasks: tasks.len(), support_x, support, query_x, query }
    }
}

/// The inner loop of one algorithm under way, for the T tasks of a `TaskTensors` at once: the
/// fast weights, what they read, and the rule that steps them.
pub struct Inner {
    /// The fast weights, one set per task: the whole network, or (ANIL) its head alone.
    pub fast: Network,
    /// ANIL: θ tiled over the tasks, whose body turns inputs into the head's features.
    body: Option<Network>,
    /// The support inputs as the fast weights see them (ANIL: the body's features).
    support_x: Tensor<3>,
    /// The query inputs, and (ANIL) the body's features of them, computed when first asked for.
    query_x: Tensor<3>,
    query_features: std::cell::OnceCell<Tensor<3>>,
    support: Target,
    lr: Lr,
    first_order: bool,
    /// Inner steps taken so far (per-step rates: which step's rates the next one takes).
    steps: usize,
    /// Per-step batch-norm (MAML++'s BNWB): each inner step's batch-norms, tiled over the tasks;
    /// they are not adapted, and step k's support forward and the query after it use step k's.
    norms: Option<Vec<Vec<BatchNorm>>>,
}

impl Inner {
    /// The start of the inner loop from the meta-parameters (one task) for the tasks of `t`.
    pub fn start(params: &MetaParams, t: &TaskTensors, config: &MamlConfig) -> Self {
        let theta = tile(&params.theta, t.tasks);
        let lr = params.inner_lr(config.inner_lr);
        let norms = params.norms_by_step(t.tasks);
        let (support, first_order) = (t.support.clone(), config.first_order);
        let (query_x, query_features) = (t.query_x.clone(), Default::default());
        if config.algorithm == Algorithm::Anil {
            // the body's features are computed once, from θ; only the head steps
            let support_x = theta.body(t.support_x.clone());
            Self { fast: theta.head_only(), body: Some(theta), support_x, query_x, query_features, support, lr, first_order, steps: 0, norms }
        } else {
            Self { fast: theta, body: None, support_x: t.support_x.clone(), query_x, query_features, support, lr, first_order, steps: 0, norms }
        }
    }

    /// One inner SGD step for every task: θ' = θ − α ∇L_support(θ), each task's fast weights
    /// by its own support loss (the paper's Algorithm 2, lines 6 and 7).
    ///
    /// Exact: the gradient comes from the hand-written backward, itself made of tracked tensor
    /// ops, so on an autodiff device θ' is a differentiable function of θ through g(θ) (the
    /// Hessian terms included). First-order: the gradient is computed at a detached copy of the
    /// parameters and applied as a constant, so dθ'/dθ = I. On a plain device (meta-test) the
    /// two coincide.
    pub fn step(mut self) -> Self {
        // per-step batch-norm: this step's own, which the step leaves as they are
        let frozen = self.norms.as_ref().map(|rows| {
            self.fast = self.fast.clone().with_norms(&rows[self.steps.min(rows.len() - 1)]);
            self.fast.blocks.iter().flat_map(|b| [b.norm.gamma.id, b.norm.beta.id]).collect::<Vec<_>>()
        });
        // first-order: the gradient as a constant, also through ANIL's features of the support set
        let (at, x) = if self.first_order {
            (self.fast.clone().map(&mut Detach { leaf: false }), self.support_x.clone().detach())
        } else {
            (self.fast.clone(), self.support_x.clone())
        };
        let mut grads = at.loss_and_grads(x, &self.support).grads;
        for id in frozen.iter().flatten() {
            grads.0.remove(id);
        }
        self.fast = self.fast.map(&mut SgdStep { grads: &grads, lr: &self.lr, step: self.steps });
        self.steps += 1;
        self
    }

    /// The fast weights' outputs on the query set, `[tasks, n, outputs]`.
    pub fn query_outputs(&self) -> Tensor<3> {
        let x = match &self.body {
            Some(body) => self.query_features.get_or_init(|| body.body(self.query_x.clone())).clone(),
            None => self.query_x.clone(),
        };
        self.fast.forward(x)
    }

    /// The network the query inputs go through, whole, and those inputs: the fast weights (ANIL:
    /// θ's body under the fast head), whose parameters keep their ids (`Grads` finds them).
    pub fn query_network(&self) -> (Network, Tensor<3>) {
        let net = match &self.body {
            Some(body) => Network { head: self.fast.head.clone(), ..body.clone() },
            None => self.fast.clone(),
        };
        (net, self.query_x.clone())
    }

    /// The fast weights' loss on the support set, `[tasks]`: what each inner step lowers.
    pub fn support_loss(&self) -> Tensor<1> {
        self.fast.loss(self.support_x.clone(), &self.support)
    }

    /// The fast weights' outputs on other inputs `[tasks, n, features]` (the view's grid).
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        match &self.body {
            Some(body) => self.fast.forward(body.body(x)),
            None => self.fast.forward(x),
        }
    }
}

/// Walks the inner loop from `inner`, calling `read` on the fast weights after each inner step
/// 0..=steps: the one walk that the meta-test, the view and a person's own task share.
pub fn each_step(mut inner: Inner, steps: usize, mut read: impl FnMut(&Inner)) {
    for step in 0..=steps {
        read(&inner);
        if step < steps {
            inner = inner.step();
        }
    }
}

/// The meta-parameters adapted to each of the tasks of `t` with `config.inner_steps` inner
/// steps, all tasks at once.
pub fn adapt(params: &MetaParams, t: &TaskTensors, config: &MamlConfig) -> Inner {
    (0..config.inner_steps).fold(Inner::start(params, t, config), |inner, _| inner.step())
}

/// The meta-parameters a run starts from with θ: θ itself, for Meta-SGD a learned inner
/// learning rate per parameter, and with per-step rates (MAML++'s LSLR) one per parameter
/// tensor and inner step; every rate starts at α. With the zeroing trick the head starts at
/// zero (and stays there: the learners' directions leave it out, `learners::meta_gradient`).
pub fn meta_params(mut theta: Network, config: &MamlConfig) -> MetaParams {
    if config.zero_head {
        theta.head = theta.head.clone().map(&mut Fill { value: 0.0 });
    }
    let rates = (config.algorithm == Algorithm::MetaSgd).then(|| theta.clone().map(&mut Fill { value: config.inner_lr }));
    let step_rates = config.per_step_rates.map(|steps| step_rates(&theta, steps, config.inner_lr));
    let step_norms = config.per_step_bn.map(|steps| step_norms(&theta, steps));
    MetaParams { theta, rates, step_rates, step_norms }
}

/// The inner learning rate: one α for every parameter, one per parameter (Meta-SGD), or one per
/// parameter tensor and inner step (MAML++'s LSLR).
#[derive(Clone, Debug)]
pub enum Lr {
    Scalar(f64),
    /// Rates keyed by θ's parameter ids, each with one task (broadcast over the tasks).
    PerParam(Grads),
    /// For each inner step, a rate of one element per θ's parameter id (broadcast over the
    /// parameter and the tasks); the steps after the last take the last one's.
    PerStep(Vec<Grads>),
}

/// θ' = θ − α g for every parameter with a gradient. `Param::map` keeps the tensor's lineage,
/// so θ' stays connected to θ; with tracked g (exact MAML) the meta-gradient flows through g
/// too, and with tracked rates (Meta-SGD, per-step rates) through α.
pub struct SgdStep<'a> {
    pub grads: &'a Grads,
    pub lr: &'a Lr,
    /// The inner step this is (0 for the first): which of per-step rates apply.
    pub step: usize,
}

impl ModuleMapper for SgdStep<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let Some(g) = self.grads.get(&param) else { return param };
        match self.lr {
            Lr::Scalar(lr) => {
                let lr = *lr;
                param.map(|t| t - g.mul_scalar(lr))
            }
            Lr::PerParam(rates) => {
                let rate = rates.0.get(&param.id).expect("a rate per parameter").clone();
                let mut one = g.dims();
                one[0] = 1;
                let rate = rate.reshape(one).expand(g.dims());
                param.map(|t| t - g * rate)
            }
            Lr::PerStep(steps) => {
                let rates = &steps[self.step.min(steps.len() - 1)];
                let rate = rates.0.get(&param.id).expect("a rate per parameter tensor").clone();
                let rate = rate.reshape([1; D]).expand(g.dims());
                param.map(|t| t - g * rate)
            }
        }
    }
}

/// The meta-parameters as the starting weights of `tasks` tasks.
pub fn tile(net: &Network, tasks: usize) -> Network {
    if tasks == 1 { net.clone() } else { net.clone().map(&mut Tile { tasks }) }
}
