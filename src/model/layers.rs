//! Layers with a hand-written backward made of ordinary tensor ops, so burn can differentiate through it.
//!
//! burn's autodiff is first-order: the gradient it returns is an untracked constant. Exact MAML
//! needs the inner-loop gradient as part of the graph, so each layer here has a `forward` that
//! keeps what its backward needs and a `backward` written with differentiable ops. Masks (ReLU,
//! max-pool) are constants: their derivative is zero almost everywhere, so this is exact a.e.
//! Every backward is checked against burn's own autodiff in `tests/layers.rs`.

use burn::module::Param;
use burn::prelude::*;
use burn::tensor::module::{conv_transpose2d, conv2d, max_pool2d_with_indices};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions, MaxPoolOptions};

use super::grads::Grads;
use crate::rng::Rng;

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
//
// Every parameter has a leading task dimension T. The meta-parameters θ have T = 1; adapting to a
// meta-batch expands them to T tasks (`maml::params::Tile`), so one op serves all the tasks'
// fast weights at once, and burn's backward of the expansion sums the tasks' meta-gradients.
// Dense layers see activations as [T, n, d] (batched matmul); conv blocks see the T tasks'
// channels side by side, [n, T c, h, w], as the groups of a grouped convolution, and batch-norm
// over (n, h, w) per channel is then per task by construction.

/// Fully connected layer y = x W + b, for T tasks at once.
#[derive(Module, Debug)]
pub struct Dense {
    pub weight: Param<Tensor<3>>, // [tasks, d_in, d_out]
    pub bias: Param<Tensor<2>>,   // [tasks, d_out]
}

impl Dense {
    pub fn new(d_in: usize, d_out: usize, rng: &mut Rng, device: &Device) -> Self {
        Self { weight: torch_uniform([1, d_in, d_out], d_in, rng, device), bias: torch_uniform([1, d_out], d_in, rng, device) }
    }

    fn bias_rows(&self) -> Tensor<3> {
        let [tasks, d_out] = self.bias.dims();
        self.bias.val().reshape([tasks, 1, d_out])
    }

    /// `x: [tasks, n, d_in]` to `[tasks, n, d_out]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        x.matmul(self.weight.val()) + self.bias_rows()
    }

    /// Puts dW, db into `grads`; returns dx when asked.
    pub fn backward(&self, x: Tensor<3>, dy: Tensor<3>, need_dx: bool, grads: &mut Grads) -> Option<Tensor<3>> {
        grads.put(&self.weight, x.swap_dims(1, 2).matmul(dy.clone())); // [tasks, d_in, d_out]
        grads.put(&self.bias, dy.clone().sum_dim(1)); // [tasks, 1, d_out]
        need_dx.then(|| dy.matmul(self.weight.val().swap_dims(1, 2))) // [tasks, n, d_in]
    }
}

// ------------------------------------------------------------------------------------------------

/// 3x3 convolution, padding 1, no bias (a batch-norm follows, whose shift makes a bias redundant).
/// The tasks' kernels are the groups of one grouped convolution, computed the way each device is
/// fast at:
///
/// - On the CPU, as a GEMM over an im2col: every output pixel's window of the input, as a row,
///   so the forward is one batched matmul (the tasks as its batch) and so is the weight gradient,
///   which reuses the forward's rows. burn's own `conv2d` runs the weight gradient as one small
///   GEMM per input channel, at a fraction of a GEMM's speed (BENCHMARKS.md, "Where burn limits
///   the speed"). Selects, reshapes and matmuls have cheap derivatives, so the second-order graph
///   through this stays cheap too.
/// - On a GPU, and on the CPU for a layer whose im2col would be too large (`MAX_IM2COL`), as
///   burn's grouped `conv2d`, the weight gradient as a convolution too: one kernel
///   each, where the im2col's index upload and its extra ops would cost launches and submits
///   (BENCHMARKS.md, "WebGPU work per meta-iteration").
///
/// Both compute the same function; `tests` holds one to the other.
#[derive(Module, Debug)]
pub struct Conv {
    pub weight: Param<Tensor<5>>, // [tasks, c_out, c_in, 3, 3]
    pub stride: usize,
}

const KERNEL: usize = 3;
const PAD: usize = 1;
/// The most elements of an im2col the CPU builds: past it, copying every window costs more
/// memory traffic than the GEMM saves (the max-pool net's stride-1 layers on 14x14 inputs), and
/// burn's `conv2d` takes the layer (BENCHMARKS.md, "Convolutions as GEMMs").
const MAX_IM2COL: usize = 16 << 20;

/// What a convolution's backward needs from its forward.
#[derive(Clone)]
pub enum ConvCache {
    /// The CPU's im2col, `[tasks, n h' w', 9 c_in]` with columns ordered (ky, kx, c_in), and the
    /// input's side.
    Cols { cols: Tensor<3>, in_hw: [usize; 2] },
    /// A GPU's: the input itself.
    Input(Tensor<4>),
}

/// Whether `device` is a GPU (anything but burn-flex, the CPU backend).
pub fn on_gpu(device: &Device) -> bool {
    device.clone().inner() != Device::flex()
}

impl Conv {
    pub fn new(c_in: usize, c_out: usize, stride: usize, rng: &mut Rng, device: &Device) -> Self {
        let fan_in = c_in * KERNEL * KERNEL;
        Self { weight: torch_uniform([1, c_out, c_in, KERNEL, KERNEL], fan_in, rng, device), stride }
    }

    fn tasks(&self) -> usize {
        self.weight.dims()[0]
    }

    /// The kernels as one grouped convolution's weight, [tasks c_out, c_in, 3, 3].
    fn grouped_weight(&self) -> Tensor<4> {
        let [tasks, c_out, c_in, kh, kw] = self.weight.dims();
        self.weight.val().reshape([tasks * c_out, c_in, kh, kw])
    }

    /// Output side for an input side `n`.
    pub fn out_side(&self, n: usize) -> usize {
        (n + 2 * PAD - KERNEL) / self.stride + 1
    }

    /// `x: [n, tasks c_in, h, w]` as im2col `[tasks, n h' w', 9 c_in]`, columns ordered
    /// (ky, kx, c_in): the input seen channels-last with one zero pixel appended, and every
    /// output pixel's nine window positions picked from it by one `select` (padding picks the
    /// zero pixel). Its derivative is one scatter-add, where slicing out the nine windows would
    /// cost nine zero-filled copies of the input in the second-order backward.
    fn im2col(&self, x: Tensor<4>) -> Tensor<3> {
        let tasks = self.tasks();
        let [n, tc, h, w] = x.dims();
        let c = tc / tasks;
        let (h_out, w_out) = (self.out_side(h), self.out_side(w));
        let pixels = x
            .reshape([n, tasks, c, h * w])
            .permute([1, 0, 3, 2]) // [tasks, n, h w, c]
            .pad([(0, 1), (0, 0)], 0.0); // the zero pixel, at index h w
        // as rows of channels: burn-flex selects (and scatter-adds, the derivative) whole rows of a
        // 2-d tensor, where along one axis of a 4-d tensor it works out every element's coordinates
        let images = tasks * n;
        let taps = self.window_positions(h, w);
        let rows: Vec<i64> = (0..images as i64).flat_map(|i| taps.iter().map(move |&p| i * (h * w + 1) as i64 + p)).collect();
        let rows = Tensor::<1, Int>::from_data(TensorData::new(rows, [images * taps.len()]), &pixels.device());
        pixels.reshape([images * (h * w + 1), c]).select(0, rows).reshape([tasks, n * h_out * w_out, KERNEL * KERNEL * c])
    }

    /// For each output pixel (row-major), the flat input position of each of its nine window
    /// taps (ky, kx), or `h w` (the appended zero pixel) where a tap falls in the padding.
    fn window_positions(&self, h: usize, w: usize) -> Vec<i64> {
        let (h_out, w_out) = (self.out_side(h), self.out_side(w));
        let mut positions = Vec::with_capacity(h_out * w_out * KERNEL * KERNEL);
        for (oy, ox) in (0..h_out).flat_map(|oy| (0..w_out).map(move |ox| (oy, ox))) {
            for (ky, kx) in (0..KERNEL).flat_map(|ky| (0..KERNEL).map(move |kx| (ky, kx))) {
                let (y, x) = ((oy * self.stride + ky) as isize - PAD as isize, (ox * self.stride + kx) as isize - PAD as isize);
                let inside = (0..h as isize).contains(&y) && (0..w as isize).contains(&x);
                positions.push(if inside { (y as usize * w + x as usize) as i64 } else { (h * w) as i64 });
            }
        }
        positions
    }

    /// `x: [n, tasks c_in, h, w]` to `[n, tasks c_out, h', w']`, with what the backward needs.
    pub fn forward(&self, x: Tensor<4>) -> (Tensor<4>, ConvCache) {
        let [n, tc, h, w] = x.dims();
        let cols = n * self.out_side(h) * self.out_side(w) * KERNEL * KERNEL * tc;
        if on_gpu(&x.device()) || cols > MAX_IM2COL { self.forward_direct(x) } else { self.forward_gemm(x) }
    }

    /// The gradient of the kernels into `grads`, and (`need_dx`) the input's.
    pub fn backward(&self, cache: ConvCache, dy: Tensor<4>, need_dx: bool, grads: &mut Grads) -> Option<Tensor<4>> {
        let in_hw = match cache {
            ConvCache::Cols { cols, in_hw } => {
                grads.put(&self.weight, self.weight_grad_gemm(cols, dy.clone()));
                in_hw
            }
            ConvCache::Input(x) => {
                let [_, _, h, w] = x.dims();
                grads.put(&self.weight, self.weight_grad_direct(x, dy.clone()));
                [h, w]
            }
        };
        need_dx.then(|| self.input_grad(dy, in_hw))
    }

    fn forward_gemm(&self, x: Tensor<4>) -> (Tensor<4>, ConvCache) {
        let [tasks, c_out, c_in, _, _] = self.weight.dims();
        let [n, _, h, w] = x.dims();
        let (h_out, w_out) = (self.out_side(h), self.out_side(w));
        let cols = self.im2col(x);
        // the kernels as [tasks, 9 c_in, c_out], rows ordered like the columns
        let kernels = self.weight.val().permute([0, 3, 4, 2, 1]).reshape([tasks, KERNEL * KERNEL * c_in, c_out]);
        let y = cols
            .clone()
            .matmul(kernels) // [tasks, n h' w', c_out]
            .reshape([tasks, n, h_out, w_out, c_out])
            .permute([1, 0, 4, 2, 3])
            .reshape([n, tasks * c_out, h_out, w_out]);
        (y, ConvCache::Cols { cols, in_hw: [h, w] })
    }

    fn forward_direct(&self, x: Tensor<4>) -> (Tensor<4>, ConvCache) {
        let options = ConvOptions::new([self.stride; 2], [PAD; 2], [1, 1], self.tasks());
        (conv2d(x.clone(), self.grouped_weight(), None, options), ConvCache::Input(x))
    }

    /// dW[t] = dy[t]ᵀ · cols[t]: one GEMM per task over all the images' output pixels.
    fn weight_grad_gemm(&self, cols: Tensor<3>, dy: Tensor<4>) -> Tensor<5> {
        let [tasks, c_out, c_in, _, _] = self.weight.dims();
        let [n, _, h_out, w_out] = dy.dims();
        let dy_rows = dy.reshape([n, tasks, c_out, h_out, w_out]).permute([1, 2, 0, 3, 4]).reshape([tasks, c_out, n * h_out * w_out]);
        dy_rows
            .matmul(cols) // [tasks, c_out, 9 c_in], columns ordered (ky, kx, c_in)
            .reshape([tasks, c_out, KERNEL, KERNEL, c_in])
            .permute([0, 1, 4, 2, 3])
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
    fn input_grad(&self, dy: Tensor<4>, [h_in, w_in]: [usize; 2]) -> Tensor<4> {
        let [_, _, h_out, w_out] = dy.dims();
        let pad_h = h_in - ((h_out - 1) * self.stride + KERNEL - 2 * PAD);
        let pad_w = w_in - ((w_out - 1) * self.stride + KERNEL - 2 * PAD);
        let options = ConvTransposeOptions::new([self.stride; 2], [PAD; 2], [pad_h, pad_w], [1, 1], self.tasks());
        conv_transpose2d(dy, self.grouped_weight(), None, options)
    }
}

// ------------------------------------------------------------------------------------------------

/// Batch-norm over (n, h, w) with the statistics of the batch at hand, as in the reference MAML
/// code: no running averages, so the support and the query set are each normalised by their own.
#[derive(Module, Debug)]
pub struct BatchNorm {
    pub gamma: Param<Tensor<2>>, // [tasks, c]
    pub beta: Param<Tensor<2>>,  // [tasks, c]
}

pub const BN_EPS: f64 = 1e-5;

pub struct BatchNormCache {
    xhat: Tensor<4>,    // [n, tasks c, h, w]
    inv_std: Tensor<4>, // [1, tasks c, 1, 1]
}

fn mean_nhw(t: Tensor<4>) -> Tensor<4> {
    t.mean_dims(&[0, 2, 3]) // [1, tasks c, 1, 1]
}

impl BatchNorm {
    pub fn new(c: usize, device: &Device) -> Self {
        Self { gamma: constant([1, c], 1.0, device), beta: constant([1, c], 0.0, device) }
    }

    fn channel(p: &Param<Tensor<2>>) -> Tensor<4> {
        let [tasks, c] = p.dims();
        p.val().reshape([1, tasks * c, 1, 1])
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
        grads.put(&self.gamma, (dy.clone() * cache.xhat.clone()).sum_dims(&[0, 2, 3]));
        grads.put(&self.beta, dy.clone().sum_dims(&[0, 2, 3]));
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

/// Mean over the spatial dimensions, with the tasks brought forward: [n, tasks c, h, w] -> [tasks, n, c].
pub fn global_mean_pool(x: Tensor<4>, tasks: usize) -> Tensor<3> {
    let [n, tc, _, _] = x.dims();
    x.mean_dims(&[2, 3]).reshape([n, tasks, tc / tasks]).swap_dims(0, 1)
}

pub fn global_mean_pool_backward(dy: Tensor<3>, hw: [usize; 2]) -> Tensor<4> {
    let [tasks, n, c] = dy.dims();
    let [h, w] = hw;
    dy.mul_scalar(1.0 / (h * w) as f64).swap_dims(0, 1).reshape([n, tasks * c, 1, 1]).expand([n, tasks * c, h, w])
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    fn random<const D: usize>(shape: [usize; D], device: &Device) -> Tensor<D> {
        Tensor::random(shape, Distribution::Normal(0.0, 1.0), device)
    }

    fn assert_close<const D: usize>(a: Tensor<D>, b: Tensor<D>, what: &str) {
        let (a, b) = (a.into_data().try_to_vec::<f32>().unwrap(), b.into_data().try_to_vec::<f32>().unwrap());
        assert_eq!(a.len(), b.len(), "{what}");
        let scale = a.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() <= 1e-4 * scale, "{what}: {x} (GEMM) vs {y} (direct)");
        }
    }

    /// The CPU's GEMM path and the GPU's direct path are one function: the same outputs, kernel
    /// and input gradients, and the same second derivatives through the weight gradient, for
    /// three tasks' kernels at once, strides 1 and 2, even and odd sides, one and several channels.
    #[test]
    fn the_gemm_and_the_direct_convolution_agree_to_second_order() {
        let device = Device::flex().autodiff();
        for (c_in, c_out, stride, side) in [(1, 4, 2, 8), (3, 5, 1, 7), (4, 4, 2, 5), (2, 3, 1, 4)] {
            let (tasks, n) = (3, 2);
            let conv = Conv { weight: Param::from_tensor(random([tasks, c_out, c_in, KERNEL, KERNEL], &device)), stride };
            let x = random([n, tasks * c_in, side, side], &device).require_grad();
            let what = format!("c_in {c_in}, c_out {c_out}, stride {stride}, side {side}");
            let (y_gemm, gemm) = conv.forward_gemm(x.clone());
            let (y_direct, direct) = conv.forward_direct(x.clone());
            assert_close(y_gemm.clone(), y_direct.clone(), &format!("{what}: output"));
            let dy = random(y_gemm.dims(), &device);
            // a loss of the weight and input gradients, so its gradient is a second derivative
            let r = random([tasks, c_out, c_in, KERNEL, KERNEL], &device);
            let second = |cache: ConvCache| {
                let mut grads = Grads::default();
                let dx = conv.backward(cache, dy.clone(), true, &mut grads).unwrap();
                let dw = grads.get(&conv.weight).unwrap();
                let loss = (dw.clone() * r.clone()).sum() + (dx.clone() * dx.clone()).sum();
                let g = loss.backward();
                (dw, dx, x.grad(&g).unwrap(), conv.weight.val().grad(&g).unwrap())
            };
            let (dw_gemm, dx_gemm, ddx_gemm, ddw_gemm) = second(gemm);
            let (dw_direct, dx_direct, ddx_direct, ddw_direct) = second(direct);
            assert_close(Tensor::<5>::from_data(ddw_gemm.into_data(), &device), Tensor::from_data(ddw_direct.into_data(), &device), &format!("{what}: second derivative in the kernels"));
            assert_close(dw_gemm, dw_direct, &format!("{what}: weight gradient"));
            assert_close(dx_gemm, dx_direct, &format!("{what}: input gradient"));
            assert_close(Tensor::<4>::from_data(ddx_gemm.into_data(), &device), Tensor::from_data(ddx_direct.into_data(), &device), &format!("{what}: second derivative"));
        }
    }

    #[test]
    fn flex_is_the_cpu() {
        assert!(!on_gpu(&Device::flex()));
        assert!(!on_gpu(&Device::flex().autodiff()));
    }
}
