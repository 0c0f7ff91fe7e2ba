//! The 3x3 convolution, padding 1, no bias (a batch-norm follows, whose shift makes a bias
//! redundant), for many tasks' kernels at once: the tasks' kernels are the groups of one grouped
//! convolution. Two kernels compute it, each in the activations' layout it reads (`layout`):
//!
//! - burn's grouped `conv2d` on `[n, tasks c, h, w]` (here), the weight gradient as a convolution
//!   too: one kernel launch each, what a GPU is fast at;
//! - a GEMM over an im2col on each task's images channels-last, `[tasks n, h, w, c]`
//!   (`model::im2col`), what the CPU is fast at.
//!
//! Both are one function; a unit test in `im2col` holds one to the other to second order.

use burn::module::Param;
use burn::prelude::*;
use burn::tensor::module::{conv_transpose2d, conv2d};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};

use super::grads::Grads;
use super::init::torch_uniform;
use crate::rng::Rng;

pub const KERNEL: usize = 3;
pub const PAD: usize = 1;

/// Output side of the convolution with `stride` for an input side `n`.
pub fn out_side(n: usize, stride: usize) -> usize {
    (n + 2 * PAD - KERNEL) / stride + 1
}

#[derive(Module, Debug)]
pub struct Conv {
    pub weight: Param<Tensor<5>>, // [tasks, c_out, c_in, 3, 3]
    pub stride: usize,
}

/// What a convolution's backward needs from its forward: the kernel that ran says which.
#[derive(Clone)]
pub enum ConvCache {
    /// The GEMM's im2col, `[tasks, n h' w', 9 c_in]` with columns ordered (ky, kx, c_in), the
    /// rows it was picked by, and the input's side. No rows: the im2col was gathered on the host,
    /// off the graph (`model::host`), and its backward scatters there too.
    Cols { cols: Tensor<3>, rows: Option<Tensor<1, Int>>, in_hw: [usize; 2] },
    /// burn's convolution's: its input, `[n, tasks c_in, h, w]`.
    Input { x: Tensor<4> },
}

impl Conv {
    pub fn new(c_in: usize, c_out: usize, stride: usize, rng: &mut Rng, device: &Device) -> Self {
        let fan_in = c_in * KERNEL * KERNEL;
        Self { weight: torch_uniform([1, c_out, c_in, KERNEL, KERNEL], fan_in, rng, device), stride }
    }

    pub fn tasks(&self) -> usize {
        self.weight.dims()[0]
    }

    /// Output side for an input side `n`.
    pub fn out_side(&self, n: usize) -> usize {
        out_side(n, self.stride)
    }

    /// The kernels as one grouped convolution's weight, [tasks c_out, c_in, 3, 3].
    fn grouped_weight(&self) -> Tensor<4> {
        let [tasks, c_out, c_in, kh, kw] = self.weight.dims();
        self.weight.val().reshape([tasks * c_out, c_in, kh, kw])
    }

    /// `x: [n, tasks c_in, h, w]` to `[n, tasks c_out, h', w']` by burn's grouped convolution.
    pub fn forward_direct(&self, x: Tensor<4>) -> (Tensor<4>, ConvCache) {
        let options = ConvOptions::new([self.stride; 2], [PAD; 2], [1, 1], self.tasks());
        (conv2d(x.clone(), self.grouped_weight(), None, options), ConvCache::Input { x })
    }

    /// The kernels' gradient into `grads` and (`need_dx`) the input's, for `forward_direct`'s
    /// input `x` and the output's gradient `dy`, both grouped.
    pub fn backward_direct(&self, x: Tensor<4>, dy: Tensor<4>, need_dx: bool, grads: &mut Grads) -> Option<Tensor<4>> {
        let [_, _, h, w] = x.dims();
        grads.put(&self.weight, self.weight_grad_direct(x, dy.clone()));
        need_dx.then(|| self.input_grad_direct(dy, [h, w]))
    }

    /// dW[t] = Σ_n x[n, t] ⋆ dy[n, t]: a convolution over the images, with the roles of the batch
    /// and the channels swapped (as burn's conv2d_weight_backward does for one group), the tasks
    /// again as groups, so that all tasks take one convolution instead of a loop over groups:
    /// x as [c_in, (tasks, n), h, w], dy as the kernel [(tasks, c_out), n, h', w'].
    fn weight_grad_direct(&self, x: Tensor<4>, dy: Tensor<4>) -> Tensor<5> {
        let [tasks, c_out, c_in, _, _] = self.weight.dims();
        let [n, _, h_in, w_in] = x.dims();
        let [_, _, h_out, w_out] = dy.dims();
        let xs = x.reshape([n, tasks, c_in, h_in, w_in]).permute([2, 1, 0, 3, 4]).reshape([c_in, tasks * n, h_in, w_in]);
        let ks = dy.reshape([n, tasks, c_out, h_out, w_out]).permute([1, 2, 0, 3, 4]).reshape([tasks * c_out, n, h_out, w_out]);
        let swapped = ConvOptions::new([1, 1], [PAD; 2], [self.stride; 2], tasks);
        conv2d(xs, ks, None, swapped) // [c_in, tasks c_out, k', k'], k' ≥ 3 with a stride
            .slice([0..c_in, 0..tasks * c_out, 0..KERNEL, 0..KERNEL])
            .reshape([c_in, tasks, c_out, KERNEL, KERNEL])
            .permute([1, 2, 0, 3, 4])
    }

    /// dx is the transposed convolution of dy with the same kernels; output padding restores the
    /// rows and columns that a stride > 1 dropped.
    fn input_grad_direct(&self, dy: Tensor<4>, [h_in, w_in]: [usize; 2]) -> Tensor<4> {
        let [_, _, h_out, w_out] = dy.dims();
        let pad_h = h_in - ((h_out - 1) * self.stride + KERNEL - 2 * PAD);
        let pad_w = w_in - ((w_out - 1) * self.stride + KERNEL - 2 * PAD);
        let options = ConvTransposeOptions::new([self.stride; 2], [PAD; 2], [pad_h, pad_w], [1, 1], self.tasks());
        conv_transpose2d(dy, self.grouped_weight(), None, options)
    }
}
