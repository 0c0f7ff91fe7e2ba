//! The outer loop's flat Adam against burn's own: the same parameters after every step, bit for bit.

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn::tensor::Distribution;
use maml_lab::Trainer;
use maml_lab::config::{Algorithm, TaskKind, TrainerConfig};
use maml_lab::maml::MetaParams;
use maml_lab::maml::optim::{Adam, FlatLayout, clip_on_device, meta_gradient_vector};
use maml_lab::model::Grads;

/// A conv4 with Meta-SGD's rates (36 parameter tensors, of sizes from 8 to a few thousand), on
/// the autodiff device as the outer loop holds it.
fn meta_params() -> MetaParams {
    let mut c = TrainerConfig::preset(TaskKind::Glyphs);
    (c.model.filters, c.maml.algorithm) = (6, Algorithm::MetaSgd);
    let t = Trainer::new(c, &[], &Device::flex()).unwrap();
    struct Track;
    impl burn::module::ModuleMapper for Track {
        fn map_float<const D: usize>(&mut self, p: Param<Tensor<D>>) -> Param<Tensor<D>> {
            p.map(|t| Tensor::from_inner(t).require_grad())
        }
    }
    t.meta_parameters().map(&mut Track)
}

/// Random gradients for every parameter, of very different scales per tensor.
fn random_grads(net: &MetaParams) -> Grads {
    struct Draw(Grads, f64);
    impl ModuleVisitor for Draw {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            self.1 *= 3.7;
            let g = Tensor::<D>::random(p.shape(), Distribution::Normal(0.0, self.1 % 5.0 + 0.01), &Device::flex());
            self.0.put(p, g);
        }
    }
    let mut d = Draw(Grads::default(), 1.0);
    net.visit(&mut d);
    d.0
}

/// Every parameter's values, in the module's order.
fn values(net: &MetaParams) -> Vec<Vec<f32>> {
    struct Read(Vec<Vec<f32>>);
    impl ModuleVisitor for Read {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            self.0.push(p.val().into_data().try_to_vec::<f32>().unwrap());
        }
    }
    let mut r = Read(Vec::new());
    net.visit(&mut r);
    r.0
}

fn as_burn(net: &MetaParams, grads: &Grads, scale: f64) -> GradientsParams {
    struct Collect<'a>(&'a Grads, f64, GradientsParams);
    impl ModuleVisitor for Collect<'_> {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            self.2.register(p.id, self.0.get(p).unwrap().mul_scalar(self.1));
        }
    }
    let mut c = Collect(grads, scale, GradientsParams::new());
    net.visit(&mut c);
    c.2
}

#[test]
fn flat_adam_moves_every_parameter_exactly_as_burns_adam() {
    let start = meta_params();
    let (mut ours, mut burns) = (start.clone(), start);
    let (mut adam, mut burn_adam) = (Adam::default(), AdamConfig::new().init());
    for step in 0..5 {
        let grads = random_grads(&ours);
        let scale = 0.25;
        let burn_grads = as_burn(&burns, &grads, scale);
        let (g, layout, _) = meta_gradient_vector(&ours, &grads, scale);
        let lr = 1e-3 * (step + 1) as f64;
        ours = adam.step(lr, ours, g, &layout);
        burns = burn_adam.step(lr, burns, burn_grads);
        assert_eq!(values(&ours), values(&burns), "step {step}");
        assert!(ours.theta.blocks[0].conv.weight.val().is_require_grad(), "θ still records gradients");
    }
    assert_ne!(values(&ours), values(&meta_params()), "the steps moved the parameters");
}

#[test]
fn the_flat_gradient_holds_each_parameter_at_an_aligned_offset_and_zeros_between() {
    let net = meta_params();
    let grads = random_grads(&net);
    let (g, layout, norm2) = meta_gradient_vector(&net, &grads, 2.0);
    let flat: Vec<f32> = g.into_data().try_to_vec::<f32>().unwrap();
    let mut covered = vec![false; flat.len()];
    let mut sum2 = 0.0f64;
    struct Each<'a>(&'a Grads, Vec<Vec<f32>>);
    impl ModuleVisitor for Each<'_> {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            self.1.push(self.0.get(p).unwrap().into_data().try_to_vec::<f32>().unwrap());
        }
    }
    let mut each = Each(&grads, Vec::new());
    net.visit(&mut each);
    let mut at = 0;
    for g in &each.1 {
        assert_eq!(at % 64, 0, "each parameter starts at a multiple of 64 elements");
        for (i, v) in g.iter().enumerate() {
            assert_eq!(flat[at + i], v * 2.0);
            covered[at + i] = true;
            sum2 += (v * 2.0) as f64 * (v * 2.0) as f64;
        }
        at = (at + g.len()).div_ceil(64) * 64;
    }
    assert_eq!(at, flat.len(), "no room after the last parameter's padding");
    assert!(flat.iter().zip(&covered).all(|(v, c)| *c || *v == 0.0), "the padding is zero");
    let norm2: f64 = norm2.into_scalar::<f32>() as f64;
    assert!((norm2 - sum2).abs() <= 1e-5 * sum2, "squared norm {norm2}, summed on the host {sum2}");
    assert_eq!(layout, FlatLayout::new(&net, &grads), "the layout depends on the network alone");
}

#[test]
fn clipping_on_the_device_scales_to_the_maximum_norm_and_leaves_smaller_gradients() {
    let device = Device::flex();
    let g = Tensor::<1>::from_floats([3.0, 4.0, 0.0], &device); // norm 5
    let norm2 = g.clone().square().sum();
    let clipped: Vec<f32> = clip_on_device(g.clone(), norm2.clone(), 2.5).into_data().try_to_vec::<f32>().unwrap();
    assert_eq!(clipped, vec![1.5, 2.0, 0.0]);
    let kept: Vec<f32> = clip_on_device(g, norm2, 10.0).into_data().try_to_vec::<f32>().unwrap();
    assert_eq!(kept, vec![3.0, 4.0, 0.0]);
}
