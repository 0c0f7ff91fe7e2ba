//! Layers with a hand-written backward made of ordinary tensor ops, so burn can differentiate through it.
//!
//! burn's autodiff is first-order: the gradient it returns is an untracked constant. Exact MAML
//! needs the inner-loop gradient as part of the graph, so each layer here has a `forward` that
//! keeps what its backward needs and a `backward` written with differentiable ops. Masks (ReLU,
//! max-pool) are constants: their derivative is zero almost everywhere, so this is exact a.e.
//! Every backward is checked against burn's own autodiff in `tests/layers.rs`.

use burn::module::{Param, ParamId};
use burn::prelude::*;
use burn::tensor::module::{conv_transpose2d, conv2d, conv2d_weight_backward, max_pool2d_with_indices};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions, MaxPoolOptions};
use std::collections::HashMap;

use crate::rng::Rng;

/// Gradients keyed by parameter, flattened to rank 1 so parameters of any rank share one map.
/// In exact MAML the values are tracked tensors: they are functions of the parameters.
#[derive(Default, Clone, Debug)]
pub struct Grads(pub HashMap<ParamId, Tensor<1>>);

impl Grads {
    pub fn put<const D: usize>(&mut self, p: &Param<Tensor<D>>, g: Tensor<D>) {
        let n = g.shape().num_elements();
        self.0.insert(p.id, g.reshape([n]));
    }
    pub fn get<const D: usize>(&self, p: &Param<Tensor<D>>) -> Option<Tensor<D>> {
        self.0.get(&p.id).map(|g| g.clone().reshape(p.shape()))
    }
}

/// A parameter drawn on the host from the project's RNG (not burn's: its seeded draws differ
/// per backend), so that one seed gives the same network on the CPU and on WebGPU.
pub fn host_param<const D: usize>(
    shape: [usize; D],
    device: &Device,
    mut draw: impl FnMut() -> f64,
) -> Param<Tensor<D>> {
    let n = shape.iter().product();
    let values: Vec<f32> = (0..n).map(|_| draw() as f32).collect();
    Param::from_tensor(Tensor::from_data(TensorData::new(values, shape), device))
}

/// PyTorch's default initialisation of linear and conv layers, U(-1/sqrt(fan_in), 1/sqrt(fan_in))
/// (kaiming_uniform with a = sqrt(5)), which the PyTorch MAML references (learn2learn, higher)
/// use to reproduce the paper's figures. He-normal makes the sinusoid MLP's first outputs so
/// large that α = 0.01 diverges from a random start.
fn torch_uniform<const D: usize>(shape: [usize; D], fan_in: usize, rng: &mut Rng, device: &Device) -> Param<Tensor<D>> {
    let bound = 1.0 / (fan_in as f64).sqrt();
    host_param(shape, device, || rng.uniform(-bound, bound))
}

fn constant<const D: usize>(shape: [usize; D], value: f64, device: &Device) -> Param<Tensor<D>> {
    host_param(shape, device, || value)
}

// ------------------------------------------------------------------------------------------------

/// Fully connected layer y = x W + b.
#[derive(Module, Debug)]
pub struct Dense {
    pub weight: Param<Tensor<2>>, // [d_in, d_out]
    pub bias: Param<Tensor<1>>,   // [d_out]
}

impl Dense {
    pub fn new(d_in: usize, d_out: usize, rng: &mut Rng, device: &Device) -> Self {
        Self { weight: torch_uniform([d_in, d_out], d_in, rng, device), bias: torch_uniform([d_out], d_in, rng, device) }
    }

    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let d_out = self.bias.dims()[0];
        x.matmul(self.weight.val()) + self.bias.val().reshape([1, d_out]) // [n, d_out]
    }

    /// Puts dW, db into `grads`; returns dx when asked.
    pub fn backward(&self, x: Tensor<2>, dy: Tensor<2>, need_dx: bool, grads: &mut Grads) -> Option<Tensor<2>> {
        grads.put(&self.weight, x.transpose().matmul(dy.clone())); // [d_in, d_out]
        grads.put(&self.bias, dy.clone().sum_dim(0).reshape([self.bias.dims()[0]]));
        need_dx.then(|| dy.matmul(self.weight.val().transpose())) // [n, d_in]
    }
}

// ------------------------------------------------------------------------------------------------

/// 3x3 convolution, padding 1, no bias (a batch-norm follows, whose shift makes a bias redundant).
#[derive(Module, Debug)]
pub struct Conv {
    pub weight: Param<Tensor<4>>, // [c_out, c_in, 3, 3]
    pub stride: usize,
}

const KERNEL: usize = 3;
const PAD: usize = 1;

impl Conv {
    pub fn new(c_in: usize, c_out: usize, stride: usize, rng: &mut Rng, device: &Device) -> Self {
        let fan_in = c_in * KERNEL * KERNEL;
        Self { weight: torch_uniform([c_out, c_in, KERNEL, KERNEL], fan_in, rng, device), stride }
    }

    fn options(&self) -> ConvOptions<2> {
        ConvOptions::new([self.stride; 2], [PAD; 2], [1, 1], 1)
    }

    /// Output side for an input side `n`.
    pub fn out_side(&self, n: usize) -> usize {
        (n + 2 * PAD - KERNEL) / self.stride + 1
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        conv2d(x, self.weight.val(), None, self.options())
    }

    pub fn backward(&self, x: Tensor<4>, dy: Tensor<4>, need_dx: bool, grads: &mut Grads) -> Option<Tensor<4>> {
        let [_, _, h_in, w_in] = x.dims();
        // burn composes conv2d_weight_backward from swap_dims + conv2d + slice: differentiable.
        grads.put(&self.weight, conv2d_weight_backward(x, self.weight.val(), dy.clone(), self.options()));
        if !need_dx {
            return None;
        }
        // dx is the transposed convolution of dy with the same kernel; output padding restores
        // the rows and columns that a stride > 1 dropped.
        let [_, _, h_out, w_out] = dy.dims();
        let pad_h = h_in - ((h_out - 1) * self.stride + KERNEL - 2 * PAD);
        let pad_w = w_in - ((w_out - 1) * self.stride + KERNEL - 2 * PAD);
        let options = ConvTransposeOptions::new([self.stride; 2], [PAD; 2], [pad_h, pad_w], [1, 1], 1);
        Some(conv_transpose2d(dy, self.weight.val(), None, options))
    }
}

// ------------------------------------------------------------------------------------------------

/// Batch-norm over (n, h, w) with the statistics of the batch at hand, as in the reference MAML
/// code: no running averages, so the support and the query set are each normalised by their own.
#[derive(Module, Debug)]
pub struct BatchNorm {
    pub gamma: Param<Tensor<1>>, // [c]
    pub beta: Param<Tensor<1>>,  // [c]
}

pub const BN_EPS: f64 = 1e-5;

pub struct BatchNormCache {
    xhat: Tensor<4>,    // [n, c, h, w]
    inv_std: Tensor<4>, // [1, c, 1, 1]
}

fn mean_nhw(t: Tensor<4>) -> Tensor<4> {
    t.mean_dims(&[0, 2, 3]) // [1, c, 1, 1]
}

fn sum_nhw(t: Tensor<4>) -> Tensor<1> {
    let c = t.dims()[1];
    t.sum_dims(&[0, 2, 3]).reshape([c])
}

impl BatchNorm {
    pub fn new(c: usize, device: &Device) -> Self {
        Self { gamma: constant([c], 1.0, device), beta: constant([c], 0.0, device) }
    }

    fn channel(p: &Param<Tensor<1>>) -> Tensor<4> {
        let c = p.dims()[0];
        p.val().reshape([1, c, 1, 1])
    }

    pub fn forward(&self, x: Tensor<4>) -> (Tensor<4>, BatchNormCache) {
        let centred = x.clone() - mean_nhw(x);
        let var = mean_nhw(centred.clone().square()); // biased, as batch-norm uses
        let inv_std = (var + BN_EPS).sqrt().recip();
        let xhat = centred * inv_std.clone();
        let y = xhat.clone() * Self::channel(&self.gamma) + Self::channel(&self.beta);
        (y, BatchNormCache { xhat, inv_std })
    }

    /// Closed-form batch-norm backward: dx = (dxhat - mean(dxhat) - xhat mean(dxhat xhat)) / std.
    pub fn backward(&self, cache: BatchNormCache, dy: Tensor<4>, grads: &mut Grads) -> Tensor<4> {
        grads.put(&self.gamma, sum_nhw(dy.clone() * cache.xhat.clone()));
        grads.put(&self.beta, sum_nhw(dy.clone()));
        let dxhat = dy * Self::channel(&self.gamma);
        let m1 = mean_nhw(dxhat.clone());
        let m2 = mean_nhw(dxhat.clone() * cache.xhat.clone());
        (dxhat - m1 - cache.xhat * m2) * cache.inv_std
    }
}

// ------------------------------------------------------------------------------------------------

/// ReLU; its backward multiplies by the constant mask [x > 0].
pub fn relu<const D: usize>(x: Tensor<D>) -> (Tensor<D>, Tensor<D>) {
    let mask = x.clone().greater_elem(0.0).float();
    (x * mask.clone(), mask)
}

/// 2x2 max-pool, stride 2 (an odd last row or column is dropped, as in PyTorch's default).
/// The backward routes dy to the arg-max of each window through a constant one-hot mask:
/// burn's own max-pool backward is not itself differentiable. The mask comes from the pool's
/// indices, not from `x == max`, because ties are common (a blank background gives equal
/// activations) and the gradient must go to exactly one element of a window, as in autodiff.
pub struct MaxPoolCache {
    mask: Tensor<4>, // [n, c, 2 h_out, 2 w_out]
    in_hw: [usize; 2],
}

fn upsample2(t: Tensor<4>) -> Tensor<4> {
    let [n, c, h, w] = t.dims();
    t.reshape([n, c, h, 1, w, 1]).expand([n, c, h, 2, w, 2]).reshape([n, c, 2 * h, 2 * w])
}

pub fn max_pool(x: Tensor<4>) -> (Tensor<4>, MaxPoolCache) {
    let [n, c, h, w] = x.dims();
    let (y, indices) = max_pool2d_with_indices(x.clone(), MaxPoolOptions::new([2, 2])); // [n, c, h/2, w/2]
    // flat position (row * w + col) of every element of the cropped input, to compare with the
    // arg-max indices (exact in floating point: positions are small integers)
    let (h2, w2) = (h / 2 * 2, w / 2 * 2);
    let device = x.device();
    let rows = Tensor::<1, Int>::arange(0..h2 as i64, &device).float().reshape([1, 1, h2, 1]).mul_scalar(w as f64);
    let cols = Tensor::<1, Int>::arange(0..w2 as i64, &device).float().reshape([1, 1, 1, w2]);
    let positions = (rows + cols).expand([n, c, h2, w2]);
    let mask = positions.equal(upsample2(indices.float())).float().detach();
    (y, MaxPoolCache { mask, in_hw: [h, w] })
}
pub fn max_pool_backward(cache: MaxPoolCache, dy: Tensor<4>) -> Tensor<4> {
    let dx = upsample2(dy) * cache.mask;
    let [_, _, h2, w2] = dx.dims();
    let [h, w] = cache.in_hw;
    // the dropped odd row/column gets a zero gradient
    dx.pad([(0, h - h2), (0, w - w2)], 0.0)
}

/// Mean over the spatial dimensions: [n, c, h, w] -> [n, c].
pub fn global_mean_pool(x: Tensor<4>) -> Tensor<2> {
    let [n, c, _, _] = x.dims();
    x.mean_dims(&[2, 3]).reshape([n, c])
}

pub fn global_mean_pool_backward(dy: Tensor<2>, hw: [usize; 2]) -> Tensor<4> {
    let [n, c] = dy.dims();
    let [h, w] = hw;
    dy.div_scalar((h * w) as f64).reshape([n, c, 1, 1]).expand([n, c, h, w])
}
