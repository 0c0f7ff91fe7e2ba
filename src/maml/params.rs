//! Whole-network parameter maps: the inner SGD step θ' = θ − α g, detaching, reading and writing values.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
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

/// The meta-gradient `grads` times `scale` for the optimiser, and its squared global L2 norm (a
/// [1] tensor, not yet read, so the caller can fetch it together with the loss in one transfer).
pub fn meta_gradients(net: &Network, grads: &Grads, scale: f64) -> (GradientsParams, Tensor<1>) {
    struct Collect<'a> {
        grads: &'a Grads,
        scale: f64,
        out: GradientsParams,
        norm2: Option<Tensor<1>>,
    }
    impl ModuleVisitor for Collect<'_> {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            if let Some(g) = self.grads.get(p) {
                let g = g.mul_scalar(self.scale);
                let sq = g.clone().square().sum();
                self.norm2 = Some(match self.norm2.take() {
                    Some(acc) => acc + sq,
                    None => sq,
                });
                self.out.register(p.id, g);
            }
        }
    }
    let mut c = Collect { grads, scale, out: GradientsParams::new(), norm2: None };
    net.visit(&mut c);
    let norm2 = c.norm2.expect("the network should have at least one parameter with a gradient");
    (c.out, norm2)
}

/// Multiplies every gradient by `factor` (global-norm clipping).
pub fn scale_gradients(net: &Network, grads: GradientsParams, factor: f64) -> GradientsParams {
    struct Scale(GradientsParams, f64);
    impl ModuleVisitor for Scale {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            if let Some(g) = self.0.remove::<D>(p.id) {
                self.0.register(p.id, g.mul_scalar(self.1));
            }
        }
    }
    let mut s = Scale(grads, factor);
    net.visit(&mut s);
    s.0
}

/// Every parameter's shape without the task dimension and its values flattened (detached, on a
/// plain device), in the network's visit order, for a network of one task (the meta-parameters).
pub fn param_tensors(net: &Network) -> Vec<(Vec<usize>, Tensor<1>)> {
    struct Collect(Vec<(Vec<usize>, Tensor<1>)>);
    impl ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            let t = p.val().detach();
            let dims = t.dims();
            assert_eq!(dims[0], 1, "the weights are those of one set of meta-parameters");
            let shape = dims[1..].to_vec();
            let flat = if t.is_autodiff() { t.inner() } else { t }.reshape([shape.iter().product::<usize>()]);
            self.0.push((shape, flat));
        }
    }
    let mut c = Collect(Vec::new());
    net.visit(&mut c);
    c.0
}

/// A parameter's id, shape and values.
#[derive(Clone, Debug)]
pub struct ParamValues {
    pub id: ParamId,
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

/// Every parameter's values, read synchronously (finite differences, tests).
pub fn read_params(net: &Network) -> Vec<ParamValues> {
    struct Read(Vec<ParamValues>);
    impl ModuleVisitor for Read {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            let t = p.val();
            let shape = t.dims().to_vec();
            let values = t.into_data().convert::<f32>().try_to_vec::<f32>().expect("parameters should be float");
            self.0.push(ParamValues { id: p.id, shape, values });
        }
    }
    let mut r = Read(Vec::new());
    net.visit(&mut r);
    r.0
}

/// Replaces the values of every parameter, in visit order; the caller has checked the shapes.
/// Ids are kept, so an optimiser's state stays attached.
pub fn write_params(net: Network, values: &[Vec<f32>]) -> Network {
    struct Write<'a>(&'a [Vec<f32>], usize);
    impl ModuleMapper for Write<'_> {
        fn map_float<const D: usize>(&mut self, p: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let v = self.0[self.1].clone();
            self.1 += 1;
            let require_grad = p.val().is_require_grad();
            p.map(|t| {
                let new = Tensor::<D>::from_data(TensorData::new(v, t.shape()), &t.device());
                if require_grad { new.require_grad() } else { new }
            })
        }
    }
    net.map(&mut Write(values, 0))
}

/// Adds `eps` to element `index` of parameter `id` (for finite differences).
pub struct Perturb {
    pub id: ParamId,
    pub index: usize,
    pub eps: f64,
}

impl ModuleMapper for Perturb {
    fn map_float<const D: usize>(&mut self, p: Param<Tensor<D>>) -> Param<Tensor<D>> {
        if p.id != self.id {
            return p;
        }
        let (index, eps) = (self.index, self.eps);
        p.map(|t| {
            let (device, shape) = (t.device(), t.shape());
            let mut v = t.into_data().convert::<f64>().try_to_vec::<f64>().expect("parameters should be float");
            v[index] += eps;
            Tensor::<D>::from_data(TensorData::new(v, shape), &device)
        })
    }
}
