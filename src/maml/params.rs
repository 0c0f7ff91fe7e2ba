//! What the outer loop learns (θ, and Meta-SGD's rates), and maps over every parameter: filling, tiling over tasks, detaching, collecting burn's gradients.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::prelude::*;
use burn::tensor::Gradients;

use crate::model::{Grads, Network};

/// The meta-parameters: θ, and for Meta-SGD a learned inner learning rate per parameter (a
/// network of θ's shapes whose values are rates). Adam updates both.
#[derive(Module, Debug)]
pub struct MetaParams {
    pub theta: Network,
    pub rates: Option<Network>,
}

impl MetaParams {
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
    #[derive(Default)]
    struct Collect {
        path: Vec<String>,
        names: Vec<String>,
        stats: Vec<Tensor<1>>,
    }
    impl ModuleVisitor for Collect {
        fn enter_module(&mut self, name: &str, _container: &str) {
            self.path.push(name.to_string());
        }
        fn exit_module(&mut self, _name: &str, _container: &str) {
            self.path.pop();
        }
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            let flat = p.val().detach().flatten::<1>(0, D - 1);
            self.names.push(self.path.join("."));
            self.stats.extend([flat.clone().mean(), flat.clone().min(), flat.max()]);
        }
    }
    let mut c = Collect::default();
    rates.visit(&mut c);
    let names = c.names;
    crate::pending::Pending::new(c.stats, move |v| {
        names.into_iter().zip(v.chunks(3)).map(|(name, s)| RateSummary { name, mean: s[0], min: s[1], max: s[2] }).collect()
    })
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
