//! What the outer loop learns (θ, and Meta-SGD's rates), and maps over every parameter: the inner SGD step, tiling over tasks, detaching, collecting burn's gradients.

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

/// A network of `net`'s shapes with every value `value`, as new parameters (ids of their own):
/// Meta-SGD's rates, initialised to α.
pub struct Fill {
    pub value: f64,
}

impl ModuleMapper for Fill {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let t = param.val();
        Param::from_tensor(Tensor::<D>::full(t.shape(), self.value, &t.device()))
    }
}

/// The inner learning rate: one α for every parameter, or one per parameter (Meta-SGD).
#[derive(Clone, Debug)]
pub enum Lr {
    Scalar(f64),
    /// Rates keyed by θ's parameter ids, each with one task (broadcast over the tasks).
    PerParam(Grads),
}

/// θ' = θ − α g for every parameter with a gradient. `Param::map` keeps the tensor's lineage,
/// so θ' stays connected to θ; with tracked g (exact MAML) the meta-gradient flows through g
/// too, and with tracked rates (Meta-SGD) through α.
pub struct SgdStep<'a> {
    pub grads: &'a Grads,
    pub lr: &'a Lr,
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
        }
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
