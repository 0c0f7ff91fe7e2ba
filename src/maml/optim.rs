//! The outer loop's optimiser: the meta-gradient as one flat vector, its norm and clipping, and
//! burn's Adam applied to that vector.
//!
//! burn's `ModuleOptimizer` updates one parameter tensor at a time, a dozen element-wise ops
//! each; on WebGPU every op is a kernel launch, so a conv4's 18 tensors cost hundreds of launches
//! per meta-iteration. Here the gradients are copied once into one vector, and the norm,
//! clipping and Adam's moments run on it: the same arithmetic, element for element, as burn's
//! `Adam` (tested against it in `tests/optim.rs`), in a few dozen launches.

use std::ops::Range;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::prelude::*;

use crate::model::Grads;

/// Where each parameter's gradient sits in the flat vector: the parameters with a gradient, in
/// the module's order, each starting at a multiple of `ALIGN` elements.
#[derive(Clone, Debug, PartialEq)]
pub struct FlatLayout {
    slots: Vec<(ParamId, Range<usize>)>,
    len: usize,
}

/// Segments start at multiples of 64 f32 (256 bytes, WebGPU's usual storage-buffer offset
/// alignment), so that a parameter's slice of the vector is a view rather than a copy on a GPU.
/// The padding holds zeros, which Adam leaves at zero.
const ALIGN: usize = 64;

impl FlatLayout {
    /// The layout of `net`'s parameters that have a gradient in `grads`.
    pub fn new<M: Module>(net: &M, grads: &Grads) -> Self {
        struct Collect<'a>(&'a Grads, FlatLayout);
        impl ModuleVisitor for Collect<'_> {
            fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
                if self.0.0.contains_key(&p.id) {
                    let n = p.shape().num_elements();
                    let start = self.1.len;
                    self.1.slots.push((p.id, start..start + n));
                    self.1.len = (start + n).div_ceil(ALIGN) * ALIGN;
                }
            }
        }
        let mut c = Collect(grads, FlatLayout { slots: Vec::new(), len: 0 });
        net.visit(&mut c);
        assert!(!c.1.slots.is_empty(), "the network should have at least one parameter with a gradient");
        c.1
    }

    /// The gradients `grads` as one vector in this layout (one launch per parameter).
    pub fn flatten(&self, grads: &Grads, device: &Device) -> Tensor<1> {
        let mut flat = Tensor::zeros([self.len], device);
        for (id, range) in &self.slots {
            flat = flat.slice_assign(range.clone(), grads.0[id].clone());
        }
        flat
    }

    fn slot(&self, id: &ParamId) -> Option<Range<usize>> {
        self.slots.iter().find(|(p, _)| p == id).map(|(_, r)| r.clone())
    }
}

/// The meta-gradient `grads` times `scale` as one flat vector for the optimiser, its layout, and
/// its squared global L2 norm (a [1] tensor, not yet read, so the caller can fetch it together
/// with the loss in one transfer).
pub fn meta_gradient_vector<M: Module>(net: &M, grads: &Grads, scale: f64) -> (Tensor<1>, FlatLayout, Tensor<1>) {
    let layout = FlatLayout::new(net, grads);
    let device = grads.0.values().next().expect("checked by FlatLayout::new").device();
    let g = layout.flatten(grads, &device).mul_scalar(scale);
    let norm2 = g.clone().square().sum();
    (g, layout, norm2)
}

/// Global-norm clipping without reading the norm: the gradient times min(1, max / norm), the
/// factor computed on the device from the squared norm `norm2` (a [1] tensor).
pub fn clip_on_device(grad: Tensor<1>, norm2: Tensor<1>, max: f64) -> Tensor<1> {
    grad * norm2.sqrt().recip().mul_scalar(max).clamp_max(1.0)
}

/// burn's `AdamConfig::new()` (β1 0.9, β2 0.999, ε 1e-5, no weight decay, no AMSGrad), over the
/// flat gradient. A clone is cheap and keeps a state to come back to.
#[derive(Clone, Default)]
pub struct Adam {
    state: Option<Moments>,
}

#[derive(Clone)]
struct Moments {
    layout: FlatLayout,
    moment_1: Tensor<1>,
    moment_2: Tensor<1>,
    time: i32,
}

const BETA_1: f32 = 0.9;
const BETA_2: f32 = 0.999;
const EPSILON: f32 = 1e-5;

impl Adam {
    /// One step of learning rate `lr` on `net`'s parameters from the flat gradient `grad` laid
    /// out by `layout`. A layout other than the last step's (another network) starts Adam afresh.
    pub fn step<M: Module>(&mut self, lr: f64, net: M, grad: Tensor<1>, layout: &FlatLayout) -> M {
        // burn's AdaptiveMomentum::transform, on the whole vector
        let state = match self.state.take().filter(|s| &s.layout == layout) {
            Some(s) => Moments {
                moment_1: s.moment_1.mul_scalar(BETA_1).add(grad.clone().mul_scalar(1.0 - BETA_1)),
                moment_2: s.moment_2.mul_scalar(BETA_2).add(grad.square().mul_scalar(1.0 - BETA_2)),
                time: s.time + 1,
                layout: s.layout,
            },
            None => Moments {
                moment_1: grad.clone().mul_scalar(1.0 - BETA_1),
                moment_2: grad.square().mul_scalar(1.0 - BETA_2),
                time: 1,
                layout: layout.clone(),
            },
        };
        let bias_correction2_sqrt = (1.0 - BETA_2.powi(state.time)).sqrt();
        let combined_factor = bias_correction2_sqrt / (1.0 - BETA_1.powi(state.time));
        let direction = state
            .moment_1
            .clone()
            .mul_scalar(combined_factor)
            .div(state.moment_2.clone().sqrt().add_scalar(EPSILON * bias_correction2_sqrt));
        // burn's Adam::step: θ − lr · direction, each parameter from its slice
        let delta = direction.mul_scalar(lr);
        let net = net.map(&mut Apply { delta, layout });
        self.state = Some(state);
        net
    }
}

/// θ ← θ − delta for every parameter in the layout, keeping whether it records gradients.
struct Apply<'a> {
    delta: Tensor<1>,
    layout: &'a FlatLayout,
}

impl ModuleMapper for Apply<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let Some(range) = self.layout.slot(&param.id) else { return param };
        let delta = self.delta.clone().slice(range);
        param.map(|t| {
            let (tracked, shape) = (t.is_require_grad(), t.shape());
            let updated = Tensor::from_inner(t.inner() - delta.reshape(shape));
            if tracked { updated.require_grad() } else { updated }
        })
    }
}
