//! Initial weights, drawn on the host from the project's RNG (not burn's: its seeded draws differ
//! per backend), so that one seed gives the same network on the CPU and on WebGPU.

use burn::module::Param;
use burn::prelude::*;

use crate::rng::Rng;

/// A parameter of `shape` whose values `draw` gives, in row-major order.
pub fn host_param<const D: usize>(shape: [usize; D], device: &Device, mut draw: impl FnMut() -> f64) -> Param<Tensor<D>> {
    let n = shape.iter().product();
    let values: Vec<f32> = (0..n).map(|_| draw() as f32).collect();
    Param::from_tensor(Tensor::from_data(TensorData::new(values, shape), device))
}

/// PyTorch's default initialisation of linear and conv layers, U(-1/sqrt(fan_in), 1/sqrt(fan_in))
/// (kaiming_uniform with a = sqrt(5)), which the PyTorch MAML references (learn2learn, higher)
/// use to reproduce the paper's figures. He-normal makes the sinusoid MLP's first outputs so
/// large that α = 0.01 diverges from a random start.
pub fn torch_uniform<const D: usize>(shape: [usize; D], fan_in: usize, rng: &mut Rng, device: &Device) -> Param<Tensor<D>> {
    let bound = 1.0 / (fan_in as f64).sqrt();
    host_param(shape, device, || rng.uniform(-bound, bound))
}

/// Every value `value`.
pub fn constant<const D: usize>(shape: [usize; D], value: f64, device: &Device) -> Param<Tensor<D>> {
    host_param(shape, device, || value)
}
