//! The outer loop's plumbing into burn's optimiser: the meta-gradient as `GradientsParams`, its norm, and clipping.

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;

use crate::model::Grads;

/// The meta-gradient `grads` times `scale` for the optimiser, and its squared global L2 norm (a
/// [1] tensor, not yet read, so the caller can fetch it together with the loss in one transfer).
pub fn meta_gradients<M: Module>(net: &M, grads: &Grads, scale: f64) -> (GradientsParams, Tensor<1>) {
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
pub fn scale_gradients<M: Module>(net: &M, grads: GradientsParams, factor: f64) -> GradientsParams {
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

/// Global-norm clipping without reading the norm: every gradient times min(1, max / norm), the
/// factor computed on the device from the squared norm `norm2` (a [1] tensor).
pub fn clip_on_device<M: Module>(net: &M, grads: GradientsParams, norm2: Tensor<1>, max: f64) -> GradientsParams {
    struct Scale(GradientsParams, Tensor<1>);
    impl ModuleVisitor for Scale {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            if let Some(g) = self.0.remove::<D>(p.id) {
                let factor = self.1.clone().reshape([1usize; D]);
                self.0.register(p.id, g * factor);
            }
        }
    }
    let factor = norm2.sqrt().recip().mul_scalar(max).clamp_max(1.0);
    let mut s = Scale(grads, factor);
    net.visit(&mut s);
    s.0
}
