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
use crate::pending::Pending;

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
        let layout = Self::packed(net, |_, id| grads.0.contains_key(id));
        assert!(!layout.slots.is_empty(), "the network should have at least one parameter with a gradient");
        layout
    }

    /// The layout of the parameters of `net` that `include` picks by their position in the
    /// module's order and their id, in that order.
    fn packed<M: Module>(net: &M, include: impl FnMut(usize, &ParamId) -> bool) -> Self {
        struct Collect<F>(F, usize, FlatLayout);
        impl<F: FnMut(usize, &ParamId) -> bool> ModuleVisitor for Collect<F> {
            fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
                if (self.0)(self.1, &p.id) {
                    let n = p.shape().num_elements();
                    let start = self.2.len;
                    self.2.slots.push((p.id, start..start + n));
                    self.2.len = (start + n).div_ceil(ALIGN) * ALIGN;
                }
                self.1 += 1;
            }
        }
        let mut c = Collect(include, 0, FlatLayout { slots: Vec::new(), len: 0 });
        net.visit(&mut c);
        c.2
    }

    /// Where this layout's parameters are in `net`'s order: the layout without its ids, which
    /// name one process's parameters and mean nothing to a network rebuilt elsewhere.
    pub fn positions<M: Module>(&self, net: &M) -> Vec<usize> {
        let all = Self::packed(net, |_, _| true);
        let at = |id: &ParamId| all.slots.iter().position(|(p, _)| p == id).expect("a layout's parameters should be its network's");
        self.slots.iter().map(|(id, _)| at(id)).collect()
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

/// Adam's state as a checkpoint keeps it: the steps taken, its layout as the positions of its
/// parameters in the network's order (`FlatLayout::positions`), and the moments in that layout.
#[derive(Clone, Debug, PartialEq)]
pub struct AdamState {
    pub time: i32,
    pub positions: Vec<usize>,
    pub moment_1: Vec<f32>,
    pub moment_2: Vec<f32>,
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
    /// The state to save for `net` (the network this Adam steps), pending its read; `None`
    /// before the first step.
    pub fn read<M: Module>(&self, net: &M) -> Option<Pending<'static, AdamState>> {
        let s = self.state.as_ref()?;
        let (time, positions, n) = (s.time, s.layout.positions(net), s.layout.len);
        let plain = |t: &Tensor<1>| if t.is_autodiff() { t.clone().inner() } else { t.clone() };
        Some(Pending::new(vec![plain(&s.moment_1), plain(&s.moment_2)], move |values| {
            let moment = |v: &[f64]| v.iter().map(|&x| x as f32).collect();
            AdamState { time, positions, moment_1: moment(&values[..n]), moment_2: moment(&values[n..]) }
        }))
    }

    /// Adam at a saved `state` for `net`, its moments on `device`: the layout is rebuilt from
    /// the positions with `net`'s ids, so the next step continues it as the saved run's would.
    /// A state that does not fit `net` is refused with the reason.
    pub fn restore<M: Module>(net: &M, state: AdamState, device: &Device) -> Result<Self, String> {
        let AdamState { time, positions, moment_1, moment_2 } = state;
        let misfit = "the checkpoint's optimiser state does not fit this network";
        if time < 1 || positions.is_empty() || !positions.is_sorted_by(|a, b| a < b) {
            return Err(format!("{misfit} (its step count or parameter list is impossible)"));
        }
        let layout = FlatLayout::packed(net, |at, _| positions.binary_search(&at).is_ok());
        if layout.slots.len() != positions.len() {
            return Err(format!("{misfit} (it names parameters this network does not have)"));
        }
        if layout.len != moment_1.len() || layout.len != moment_2.len() {
            return Err(format!("{misfit} (its moments have {} values, this network's layout {})", moment_1.len(), layout.len));
        }
        let tensor = |v: Vec<f32>| Tensor::<1>::from_data(TensorData::new(v, [layout.len]), device);
        let (moment_1, moment_2) = (tensor(moment_1), tensor(moment_2));
        Ok(Self { state: Some(Moments { layout, moment_1, moment_2, time }) })
    }

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
