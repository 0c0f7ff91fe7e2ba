//! Each hand-written backward equals burn's own autodiff gradient (f64, flex), for one task and
//! for several tasks at once (each with its own weights, as after an inner step).

use burn::module::{Module, ModuleMapper, Param};
use burn::prelude::*;
use burn::tensor::{Distribution, FloatDType};
use maml_lab::config::{Arch, Downsample, ModelConfig};
use maml_lab::maml::adapt::tile;
use maml_lab::maml::params::{Detach, autodiff_grads};
use maml_lab::model::{Network, Target};
use maml_lab::tasks::InputShape;
use maml_lab::rng::Rng;

fn device() -> Device {
    let mut d = Device::flex();
    // every test in this binary asks for f64; only the first call configures the device
    let _ = d.configure(FloatDType::F64);
    d.autodiff()
}

fn random(shape: [usize; 3], rng: &mut Rng, device: &Device) -> Tensor<3> {
    let v: Vec<f64> = (0..shape.iter().product()).map(|_| rng.normal()).collect();
    Tensor::from_data(TensorData::new(v, shape), device)
}

fn onehot(tasks: usize, n: usize, ways: usize, device: &Device) -> Target {
    let v: Vec<f64> = (0..tasks * n * ways).map(|i| if i % ways == (i / ways + i / (n * ways)) % ways { 1.0 } else { 0.0 }).collect();
    Target::Classes(Tensor::from_data(TensorData::new(v, [tasks, n, ways]), device))
}

/// Adds N(0, 0.1) noise to every parameter, so that tiled tasks' weights differ.
struct Jitter;
impl ModuleMapper for Jitter {
    fn map_float<const D: usize>(&mut self, p: Param<Tensor<D>>) -> Param<Tensor<D>> {
        p.map(|t| {
            let noise = Tensor::random(t.shape(), Distribution::Normal(0.0, 0.1), &t.device());
            t + noise
        })
    }
}

/// `net` as `tasks` tasks with different weights, each a fresh leaf.
fn tasks_of(net: &Network, tasks: usize) -> Network {
    if tasks == 1 { net.clone() } else { tile(net, tasks).map(&mut Jitter).map(&mut Detach { leaf: true }) }
}

/// Largest |manual - autodiff| relative to the largest gradient entry; the manual gradient is
/// that of the tasks' summed loss.
fn compare(net: &Network, x: Tensor<3>, target: &Target) -> f64 {
    let manual = net.loss_and_grads(x.clone(), target).grads;
    let reference = autodiff_grads(net, &net.loss(x, target).sum().backward());
    assert_eq!(manual.0.len(), reference.0.len(), "every parameter should get a gradient");
    let mut worst: f64 = 0.0;
    for (id, r) in &reference.0 {
        let r: Vec<f64> = r.clone().into_data().convert::<f64>().try_to_vec().unwrap();
        let m: Vec<f64> = manual.0[id].clone().into_data().convert::<f64>().try_to_vec().unwrap();
        let scale = r.iter().fold(1e-12f64, |a, v| a.max(v.abs()));
        for (a, b) in m.iter().zip(&r) {
            worst = worst.max((a - b).abs() / scale);
        }
    }
    worst
}

fn check(arch: Arch, downsample: Downsample, global_pool: bool, input: InputShape, outputs: usize, n: usize) {
    let device = device();
    for tasks in [1, 3] {
        let mut rng = Rng::new(42);
        let config = ModelConfig::new(arch).with_filters(3).with_hidden(7).with_downsample(downsample).with_global_pool(global_pool);
        let net = tasks_of(&Network::new(&config, input, outputs, &mut rng, &device).unwrap(), tasks);
        let x = random([tasks, n, input.numel()], &mut rng, &device);
        let target =
            if arch == Arch::Mlp { Target::Values(random([tasks, n, outputs], &mut rng, &device)) } else { onehot(tasks, n, outputs, &device) };
        let err = compare(&net, x, &target);
        assert!(err < 1e-10, "{arch} {downsample} global_pool={global_pool}, {tasks} tasks: manual vs autodiff gradient error {err:e}");
    }
}

#[test]
fn dense_relu_and_mse_backward_equals_autodiff() {
    check(Arch::Mlp, Downsample::Stride, false, InputShape::vector(3), 2, 6);
}

#[test]
fn strided_conv_batchnorm_and_cross_entropy_backward_equals_autodiff() {
    check(Arch::Conv4, Downsample::Stride, false, InputShape::image(1, 28), 5, 5);
}

#[test]
fn max_pool_backward_equals_autodiff() {
    check(Arch::Conv4, Downsample::MaxPool, false, InputShape::image(2, 20), 3, 4);
}

#[test]
fn seed_cnn_backward_equals_autodiff_on_odd_sides() {
    check(Arch::SeedCnn, Downsample::MaxPool, false, InputShape::image(3, 28), 4, 4);
}

#[test]
fn global_mean_pool_backward_equals_autodiff() {
    check(Arch::Conv4, Downsample::Stride, true, InputShape::image(1, 16), 3, 4);
}

#[test]
fn max_pool_backward_sends_ties_to_one_element_like_autodiff() {
    // a blank background gives windows of equal activations: the gradient must go to one of them
    let device = device();
    let mut rng = Rng::new(5);
    let config = ModelConfig::new(Arch::SeedCnn).with_filters(2);
    let input = InputShape::image(1, 12);
    let net = tasks_of(&Network::new(&config, input, 3, &mut rng, &device).unwrap(), 2);
    let v: Vec<f64> = (0..2 * 3 * 144).map(|i| if (i % 144) % 13 == 0 { rng.next_f64() } else { 0.0 }).collect();
    let x = Tensor::from_data(TensorData::new(v, [2, 3, 144]), &device);
    let err = compare(&net, x, &onehot(2, 3, 3, &device));
    assert!(err < 1e-10, "manual vs autodiff gradient error {err:e}");
}

/// The accuracy's count: an example is correct when its class has the largest output; a largest
/// output shared by several classes counts as its class's share of them, so that a start that
/// answers every class alike (a head at zero) scores chance, and a non-finite output nothing.
#[test]
fn correct_counts_a_tie_as_a_guess_among_the_tied_classes() {
    let device = device();
    // two tasks of three examples, three ways; labels 0, 1, 2 in each
    let labels: Vec<f64> = (0..18).map(|i| if i % 3 == (i / 3) % 3 { 1.0 } else { 0.0 }).collect();
    let target = Target::Classes(Tensor::from_data(TensorData::new(labels, [2, 3, 3]), &device));
    let out: [[f64; 3]; 6] = [
        [1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 1.0], // right, wrong, right: 2
        [0.0, 0.0, 0.0], [1.0, 1.0, 0.0], [f64::NAN, 0.0, 0.0], // 1/3, 1/2, 0
    ];
    let out = Tensor::<3>::from_data(TensorData::new(out.concat(), [2, 3, 3]), &device);
    let correct = target.correct(out).unwrap().into_data().convert::<f64>().try_into_vec::<f64>().unwrap();
    assert!((correct[0] - 2.0).abs() < 1e-9 && (correct[1] - (1.0 / 3.0 + 0.5)).abs() < 1e-9, "{correct:?}");
}
