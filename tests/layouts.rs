//! The grouped layout (the GPU's: burn's grouped convolutions and max-pool) on the CPU: a layout,
//! not a backend, so `cargo test` runs it. The same weights and tasks give the same query losses
//! and meta-gradients as the CPU's channels-last layout, for each conv net, learner and order, to
//! 1e-5 of the largest entry (in f64: the layouts sum in different orders).

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::prelude::*;
use burn::tensor::FloatDType;
use maml_lab::config::{Algorithm, Arch, Downsample, TaskKind, TrainerConfig};
use maml_lab::maml::MetaParams;
use maml_lab::maml::learners::{meta_gradient, reptile_direction};
use maml_lab::memory::input_shape;
use maml_lab::model::Network;
use maml_lab::model::layout::{ChannelsLast, Grouped, Layout};
use maml_lab::rng::Rng;
use maml_lab::tasks::{Split, Task, sampler};

/// Every gradient of `a` within `tol` of `b`'s, relative to `b`'s largest entry; the losses too.
fn assert_same(layout: &str, what: &str, a: &[(String, Vec<f64>)], b: &[(String, Vec<f64>)], tol: f64) {
    assert_eq!(a.len(), b.len(), "{what}: the same parameters");
    for ((name, x), (_, y)) in a.iter().zip(b) {
        let scale = y.iter().fold(1e-9f64, |m, v| m.max(v.abs()));
        let worst = x.iter().zip(y).fold(0f64, |m, (p, q)| m.max((p - q).abs()));
        assert!(worst <= tol * scale, "{what}, {name}: {layout} differs from channels-last by {worst} (scale {scale})");
    }
}

/// `net`'s parameters in their order.
fn ids(net: &Network) -> Vec<ParamId> {
    struct Ids(Vec<ParamId>);
    impl ModuleVisitor for Ids {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            self.0.push(p.id);
        }
    }
    let mut ids = Ids(Vec::new());
    net.visit(&mut ids);
    ids.0
}

/// The query loss, number correct and meta-gradient (Reptile: direction) of one meta-batch, in
/// `layout`.
fn meta_batch(config: &TrainerConfig, layout: &'static dyn Layout) -> Vec<(String, Vec<f64>)> {
    let s = sampler(&config.task, &[], config.seed).unwrap();
    let shape = input_shape(config);
    let mut device = Device::flex();
    // in f64, so that the comparison sees the layouts and not f32's rounding (Reptile's θ − θ'
    // is a difference of near-equal weights); only the first call configures the device
    let _ = device.configure(FloatDType::F64);
    let device = device.autodiff();
    let mut rng = Rng::stream(7, 1);
    let theta = Network::new(&config.model, shape, s.outputs(), &mut rng, &device).unwrap().in_layout(layout);
    let params = MetaParams::theta_only(theta);
    let tasks: Vec<Task> = (0..config.maml.meta_batch).map(|_| s.sample(Split::MetaTrain, &mut rng)).collect();
    let share = if config.maml.algorithm == Algorithm::Reptile { reptile_direction } else { meta_gradient };
    let sum = share(&params, &tasks, shape, &config.maml, 2);
    let mut out = vec![("loss".to_string(), sum.loss.into_data().convert::<f64>().try_to_vec::<f64>().unwrap())];
    out.extend(sum.correct.map(|c| ("correct".to_string(), c.into_data().convert::<f64>().try_to_vec::<f64>().unwrap())));
    for (i, id) in ids(&params.theta).iter().enumerate() {
        let g = sum.direction.0.get(id).unwrap_or_else(|| panic!("parameter {i} has a meta-gradient"));
        out.push((format!("parameter {i}"), g.clone().into_data().convert::<f64>().try_to_vec::<f64>().unwrap()));
    }
    out
}

#[test]
fn the_grouped_layout_gives_the_channels_last_meta_gradient() {
    let mut cases = Vec::new();
    for (arch, downsample) in [(Arch::Conv4, Downsample::Stride), (Arch::Conv4, Downsample::MaxPool), (Arch::SeedCnn, Downsample::Stride)] {
        for (algorithm, first_order) in [(Algorithm::Maml, false), (Algorithm::Maml, true), (Algorithm::Anil, false), (Algorithm::Reptile, false)] {
            let kind = if arch == Arch::SeedCnn { TaskKind::Noise } else { TaskKind::Glyphs };
            let mut c = TrainerConfig::page_preset(kind, algorithm);
            (c.model.arch, c.model.downsample, c.model.filters) = (arch, downsample, 6);
            (c.task.queries, c.maml.meta_batch, c.maml.inner_steps, c.maml.first_order) = (3, 3, 2, first_order);
            cases.push((format!("{arch} {downsample} {algorithm} first_order={first_order}"), c));
        }
    }
    for (what, config) in cases {
        let last = meta_batch(&config, &ChannelsLast);
        let grouped = meta_batch(&config, &Grouped);
        assert_same("grouped", &what, &grouped, &last, 1e-5);
    }
}
