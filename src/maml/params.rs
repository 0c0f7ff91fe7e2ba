//! What the outer loop learns (θ, Meta-SGD's rates, MAML++'s per-step rates), and maps over every parameter: filling, tiling over tasks, detaching, collecting burn's gradients.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::prelude::*;
use burn::tensor::Gradients;

use crate::model::norm::BatchNorm;
use crate::model::{Grads, Network};

/// The meta-parameters: θ, for Meta-SGD a learned inner learning rate per parameter (a network
/// of θ's shapes whose values are rates), and with per-step rates (MAML++'s LSLR) a learned
/// rate per parameter tensor and inner step, `[1, steps, θ's tensors]` in θ's visit order. Adam
/// updates them all.
#[derive(Module, Debug)]
pub struct MetaParams {
    pub theta: Network,
    pub rates: Option<Network>,
    pub step_rates: Option<Param<Tensor<3>>>,
    /// With per-step batch-norm (MAML++'s BNWB), the batch-norm weights and biases of inner
    /// steps 2..K, one per conv block each; step 1's (and the start's) are θ's own.
    pub step_norms: Option<Vec<StepNorms>>,
}

/// One inner step's batch-norm weights and biases, one per conv block (MAML++'s BNWB).
#[derive(Module, Debug)]
pub struct StepNorms {
    pub blocks: Vec<BatchNorm>,
}

/// Per-step batch-norms for `steps` inner steps of `theta`: steps 2..K's, each a copy of θ's own
/// (γ = 1 and β = 0 at a fresh start; a pre-trained body's, `maml::pretrain`), new parameters.
pub fn step_norms(theta: &Network, steps: usize) -> Vec<StepNorms> {
    let copy = |p: &Param<Tensor<2>>| Param::from_tensor(p.val().detach());
    let copied = || StepNorms { blocks: theta.blocks.iter().map(|b| BatchNorm { gamma: copy(&b.norm.gamma), beta: copy(&b.norm.beta) }).collect() };
    (1..steps.max(1)).map(|_| copied()).collect()
}

/// Per-step rates of `steps` inner steps for every parameter tensor of `theta`, all `value`, as
/// a new parameter.
pub fn step_rates(theta: &Network, steps: usize, value: f64) -> Param<Tensor<3>> {
    Param::from_tensor(Tensor::full([1, steps.max(1), param_paths(theta).len()], value, &theta.device()))
}

/// Every parameter tensor of `net`, in visit order: its id and its path, e.g.
/// `blocks.0.conv.weight` or `head.bias`.
pub fn param_paths<M: Module>(net: &M) -> Vec<(ParamId, String)> {
    #[derive(Default)]
    struct Paths {
        path: Vec<String>,
        all: Vec<(ParamId, String)>,
    }
    impl ModuleVisitor for Paths {
        fn enter_module(&mut self, name: &str, _container: &str) {
            self.path.push(name.to_string());
        }
        fn exit_module(&mut self, _name: &str, _container: &str) {
            self.path.pop();
        }
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            self.all.push((p.id, self.path.join(".")));
        }
    }
    let mut paths = Paths::default();
    net.visit(&mut paths);
    paths.all
}

impl MetaParams {
    /// θ alone, without learned rates.
    pub fn theta_only(theta: Network) -> Self {
        Self { theta, rates: None, step_rates: None, step_norms: None }
    }

    /// The inner loop's learning rate: α, or the learned rates (Meta-SGD's, or per step).
    pub fn inner_lr(&self, alpha: f64) -> super::adapt::Lr {
        use super::adapt::Lr;
        if let Some(rates) = self.rates_by_param() {
            return Lr::PerParam(rates);
        }
        match self.step_rates_by_param() {
            Some(steps) => Lr::PerStep(steps),
            None => Lr::Scalar(alpha),
        }
    }

    /// With per-step batch-norm, every inner step's batch-norms (step 1's are θ's own), each
    /// broadcast to `tasks` tasks.
    pub fn norms_by_step(&self, tasks: usize) -> Option<Vec<Vec<BatchNorm>>> {
        let later = self.step_norms.as_ref()?;
        let tile = |norms: Vec<BatchNorm>| -> Vec<_> {
            norms.into_iter().map(|n| if tasks == 1 { n } else { n.map(&mut Tile { tasks }) }).collect()
        };
        let mut rows = vec![tile(self.theta.norms())];
        rows.extend(later.iter().map(|s| tile(s.blocks.clone())));
        Some(rows)
    }

    /// The per-step rates keyed by the ids of θ's parameters, one `Grads` per inner step, each
    /// rate a one-element slice of the parameter (tracked: the meta-gradient reaches it).
    pub fn step_rates_by_param(&self) -> Option<Vec<Grads>> {
        let rates = self.step_rates.as_ref()?.val();
        let [_, steps, _] = rates.dims();
        let ids = param_paths(&self.theta);
        Some(
            (0..steps)
                .map(|k| Grads(ids.iter().enumerate().map(|(i, (id, _))| (*id, rates.clone().slice([0..1, k..k + 1, i..i + 1]).reshape([1]))).collect()))
                .collect(),
        )
    }

    /// Meta-SGD's rates keyed by the ids of the θ parameters they belong to.
    pub fn rates_by_param(&self) -> Option<Grads> {
        let rates = self.rates.as_ref()?;
        struct Values(Vec<Tensor<1>>);
        impl ModuleVisitor for Values {
            fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
                let n = p.shape().num_elements();
                self.0.push(p.val().reshape([n]));
            }
        }
        let mut values = Values(Vec::new());
        rates.visit(&mut values);
        struct Key(std::vec::IntoIter<Tensor<1>>, Grads);
        impl ModuleVisitor for Key {
            fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
                let rate = self.0.next().expect("the rates have θ's parameters");
                self.1.put(p, rate);
            }
        }
        let mut keyed = Key(values.0.into_iter(), Grads::default());
        self.theta.visit(&mut keyed);
        Some(keyed.1)
    }
}

/// One parameter tensor's learned rates, summarised for display.
#[derive(Clone, Debug, serde::Serialize, PartialEq)]
pub struct RateSummary {
    /// The parameter's path, e.g. `blocks.0.conv.weight` or `head.bias`.
    pub name: String,
    pub mean: f64,
    pub min: f64,
    pub max: f64,
}

/// Meta-SGD's rates per parameter tensor (mean, min, max), pending their read.
pub fn rate_summaries(rates: &Network) -> crate::pending::Pending<'static, Vec<RateSummary>> {
    struct Stats(Vec<Tensor<1>>);
    impl ModuleVisitor for Stats {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            let flat = p.val().detach().flatten::<1>(0, D - 1);
            self.0.extend([flat.clone().mean(), flat.clone().min(), flat.max()]);
        }
    }
    let mut stats = Stats(Vec::new());
    rates.visit(&mut stats);
    let names: Vec<String> = param_paths(rates).into_iter().map(|(_, name)| name).collect();
    crate::pending::Pending::new(stats.0, move |v| {
        names.into_iter().zip(v.chunks(3)).map(|(name, s)| RateSummary { name, mean: s[0], min: s[1], max: s[2] }).collect()
    })
}

/// The learned per-step rates (MAML++'s LSLR) of each of θ's parameter tensors, by name (e.g.
/// `blocks.0.conv.weight`), one rate per inner step, pending their read.
pub fn step_rate_table(params: &MetaParams) -> Option<crate::pending::Pending<'static, Vec<(String, Vec<f64>)>>> {
    let rates = params.step_rates.as_ref()?.val().detach();
    let [_, steps, tensors] = rates.dims();
    let names: Vec<String> = param_paths(&params.theta).into_iter().map(|(_, name)| name).collect();
    let flat = if rates.is_autodiff() { rates.inner() } else { rates }.reshape([steps * tensors]);
    Some(crate::pending::Pending::new(vec![flat], move |v| {
        names.into_iter().enumerate().map(|(i, name)| (name, (0..steps).map(|k| v[k * tensors + i]).collect())).collect()
    }))
}

/// A network of `net`'s shapes with every value `value`, as new parameters (ids of their own):
/// Meta-SGD's rates at their start (`adapt::meta_params`).
pub struct Fill {
    pub value: f64,
}

impl ModuleMapper for Fill {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let t = param.val();
        Param::from_tensor(Tensor::<D>::full(t.shape(), self.value, &t.device()))
    }
}

/// Broadcasts every parameter's task dimension from 1 to `tasks` (a view, no copy): the
/// meta-parameters θ become the starting fast weights of `tasks` tasks. burn's backward of the
/// broadcast sums the tasks' gradients, which is the meta-gradient of their summed losses.
pub struct Tile {
    pub tasks: usize,
}

impl ModuleMapper for Tile {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let tasks = self.tasks;
        param.map(|t| {
            let mut dims = t.dims();
            debug_assert_eq!(dims[0], 1, "only the meta-parameters (one task) are tiled");
            dims[0] = tasks;
            t.expand(dims)
        })
    }
}

/// Cuts every parameter from the graph; with `leaf`, makes it a fresh leaf that records a
/// gradient (burn has no `retain_graph`, so first-order inner steps differentiate fresh leaves).
pub struct Detach {
    pub leaf: bool,
}

impl ModuleMapper for Detach {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let leaf = self.leaf;
        param.map(|t| if leaf { t.detach().require_grad() } else { t.detach() })
    }
}

/// burn's autodiff gradients of `net`'s parameters, as `Grads` (untracked: constants).
pub fn autodiff_grads<M: Module>(net: &M, gradients: &Gradients) -> Grads {
    struct Collect<'a>(&'a Gradients, Grads);
    impl ModuleVisitor for Collect<'_> {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            if let Some(g) = p.val().grad(self.0) {
                self.1.put(p, g);
            }
        }
    }
    let mut c = Collect(gradients, Grads::default());
    net.visit(&mut c);
    c.1
}
