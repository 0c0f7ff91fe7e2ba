//! Maps over every parameter of a network: the inner SGD step θ' = θ − α g, tiling θ over tasks, detaching, and collecting burn's gradients.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::prelude::*;
use burn::tensor::Gradients;

use crate::model::{Grads, Network};

/// θ' = θ − α g for every parameter with a gradient. `Param::map` keeps the tensor's lineage,
/// so θ' stays connected to θ; with tracked g (exact MAML) the meta-gradient flows through g too.
pub struct SgdStep<'a> {
    pub grads: &'a Grads,
    pub lr: f64,
}

impl ModuleMapper for SgdStep<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        match self.grads.get(&param) {
            Some(g) => {
                let lr = self.lr;
                param.map(|t| t - g.mul_scalar(lr))
            }
            None => param,
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
pub fn autodiff_grads(net: &Network, gradients: &Gradients) -> Grads {
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
