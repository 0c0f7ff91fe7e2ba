//! Layers with a hand-written backward made of ordinary tensor ops, so burn can differentiate through it.
//!
//! burn's autodiff is first-order: the gradient it returns is an untracked constant. Exact MAML
//! needs the inner-loop gradient as part of the graph, so each layer here has a `forward` that
//! keeps what its backward needs and a `backward` written with differentiable ops. Masks (ReLU,
//! max-pool) are constants: their derivative is zero almost everywhere, so this is exact a.e.
//! Every backward is checked against burn's own autodiff in `tests/layers.rs`.

use burn::module::Param;
use burn::prelude::*;
use burn::tensor::{DType, IndexingUpdateOp};
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
// Dense layers see activations as [T, n, d] (batched matmul). Conv blocks lay theirs out the way
// each device's convolution reads and writes them (`Layout`): a GPU puts the T tasks' channels
// side by side, [n, T c, h, w], as the groups of a grouped convolution; the CPU keeps each task's
// images channels-last, [T n, h, w, c], the rows its im2col GEMMs read and write, so that no
// layer transposes its activations. Batch-norm is per task and channel in both.

/// How a conv net's activations are laid out between its layers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// `[n, tasks c, h, w]`: the tasks as the groups of burn's grouped convolutions (a GPU).
    Grouped,
    /// `[tasks n, h, w, c]`: each task's images channels-last (the CPU's GEMMs).
    ChannelsLast,
}

impl Layout {
    /// The layout of conv activations on `device`.
    pub fn of(device: &Device) -> Self {
        if on_gpu(device) { Layout::Grouped } else { Layout::ChannelsLast }
    }

    /// `x` in this layout from the grouped one, for `tasks` tasks.
    pub fn from_grouped(self, x: Tensor<4>, tasks: usize) -> Tensor<4> {
        match self {
            Layout::Grouped => x,
            Layout::ChannelsLast => {
                let [n, tc, h, w] = x.dims();
                x.reshape([n, tasks, tc / tasks, h, w]).permute([1, 0, 3, 4, 2]).reshape([tasks * n, h, w, tc / tasks])
            }
        }
    }

    /// `x` in the grouped layout from this one, for `tasks` tasks.
    pub fn to_grouped(self, x: Tensor<4>, tasks: usize) -> Tensor<4> {
        match self {
            Layout::Grouped => x,
            Layout::ChannelsLast => {
                let [tn, h, w, c] = x.dims();
                x.reshape([tasks, tn / tasks, h, w, c]).permute([1, 0, 4, 2, 3]).reshape([tn / tasks, tasks * c, h, w])
            }
        }
    }

    /// `(images, channels, height, width)` of activations of dims `d` in this layout for `tasks`
    /// tasks, where the images count every task's (the grouped layout's n times the tasks).
    pub fn dims(self, d: [usize; 4], tasks: usize) -> [usize; 4] {
        match self {
            Layout::Grouped => [d[0] * tasks, d[1] / tasks, d[2], d[3]],
            Layout::ChannelsLast => [d[0], d[3], d[1], d[2]],
        }
    }
}

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
/// The most elements of an im2col the CPU builds (it is nine times its input): past it, burn's
/// `conv2d` takes the layer. Large enough for the max-pool net's second layer on two tasks'
/// query sets, whose im2col pays since the query set is off the graph (BENCHMARKS.md, "The
/// query off the graph").
const MAX_IM2COL: usize = 32 << 20;

/// What a convolution's backward needs from its forward.
#[derive(Clone)]
pub enum ConvCache {
    /// The GEMM's im2col, `[tasks, n h' w', 9 c_in]` with columns ordered (ky, kx, c_in), the
    /// rows it was picked by, and the input's side.
    Cols { cols: Tensor<3>, rows: Tensor<1, Int>, in_hw: [usize; 2] },
    /// burn's convolution's: the input itself, grouped, and the layout around it.
    Input { x: Tensor<4>, layout: Layout },
}

/// Indices for `select` and its scatter-add, as the CPU reads them without a conversion: burn-flex
/// turns every index into an `isize` on each call, a copy of them all unless they already have its
/// width (32 bits in wasm).
fn index_tensor(values: Vec<i64>, device: &Device) -> Tensor<1, Int> {
    let width = if cfg!(target_pointer_width = "32") { DType::I32 } else { DType::I64 };
    let n = values.len();
    Tensor::from_data(TensorData::new(values, [n]), (device, width))
}

/// The im2col rows of the shapes used last, most recent last, keyed by (stride, images, h, w)
/// and device: a meta-iteration asks for a few shapes (each layer's, support and query sets),
/// every iteration; a run of other shapes pushes them out.
type RowsCache = Vec<((usize, usize, usize, usize), Device, Tensor<1, Int>)>;

const RECENT_ROWS_KEPT: usize = 32;

thread_local! {
    static RECENT_ROWS: std::cell::RefCell<RowsCache> = const { std::cell::RefCell::new(Vec::new()) };
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

    /// The kernels as `[tasks, 9 c_in, c_out]`, rows ordered like the im2col's columns.
    fn gemm_weight(&self) -> Tensor<3> {
        let [tasks, c_out, c_in, _, _] = self.weight.dims();
        self.weight.val().permute([0, 3, 4, 2, 1]).reshape([tasks, KERNEL * KERNEL * c_in, c_out])
    }

    /// Output side for an input side `n`.
    pub fn out_side(&self, n: usize) -> usize {
        (n + 2 * PAD - KERNEL) / self.stride + 1
    }

    /// The rows of `[tasks n h w + 1, c]` (every image's pixels, then one zero pixel) that make
    /// the im2col: for every image and output pixel, its nine window taps (ky, kx). The same
    /// shapes come back every meta-iteration, so the recently used are kept (`RowsCache`).
    fn im2col_rows(&self, images: usize, h: usize, w: usize, device: &Device) -> Tensor<1, Int> {
        let key = (self.stride, images, h, w);
        RECENT_ROWS.with_borrow_mut(|cache| {
            if let Some(at) = cache.iter().position(|(k, d, _)| *k == key && d == device) {
                let hit = cache.remove(at);
                let rows = hit.2.clone();
                cache.push(hit);
                return rows;
            }
            let (taps, hw) = (self.window_positions(h, w), (h * w) as i64);
            let zero = images as i64 * hw;
            let rows: Vec<i64> = (0..images as i64).flat_map(|i| taps.iter().map(move |&p| if p == hw { zero } else { i * hw + p })).collect();
            let rows = index_tensor(rows, device);
            if cache.len() == RECENT_ROWS_KEPT {
                cache.remove(0);
            }
            cache.push((key, device.clone(), rows.clone()));
            rows
        })
    }

    /// `x: [tasks n, h, w, c_in]` as im2col `[tasks, n h' w', 9 c_in]`: the images' pixels as
    /// rows of channels with one zero pixel after them, and every output pixel's nine window
    /// positions picked from them by one `select` (padding picks the zero pixel). Its derivative
    /// is one scatter-add, where slicing out the nine windows would cost nine zero-filled copies
    /// of the input in the second-order backward. (burn-flex selects and scatter-adds whole rows
    /// of a 2-d tensor; along one axis of a 4-d tensor it works out every element's coordinates.)
    fn im2col(&self, x: Tensor<4>, rows: Tensor<1, Int>) -> Tensor<3> {
        let [images, h, w, c] = x.dims();
        let (h_out, w_out) = (self.out_side(h), self.out_side(w));
        let tasks = self.tasks();
        let device = x.device();
        let pixels = Tensor::cat(vec![x.reshape([images * h * w, c]), Tensor::zeros([1, c], &device)], 0); // the zero pixel, at row images h w
        let picked = if c == 1 {
            // one value per row (a first layer's grey pixels): picked one by one, where a row at a
            // time would be a memory copy per value
            pixels.reshape([images * h * w + 1]).select(0, rows).reshape([images * h_out * w_out * KERNEL * KERNEL, 1])
        } else {
            pixels.select(0, rows)
        };
        picked.reshape([tasks, images / tasks * h_out * w_out, KERNEL * KERNEL * c])
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

    /// `x` in `layout` to the output in `layout`, with what the backward needs: the GEMM for
    /// channels-last activations whose im2col fits `MAX_IM2COL`, burn's `conv2d` otherwise.
    pub fn forward(&self, x: Tensor<4>, layout: Layout) -> (Tensor<4>, ConvCache) {
        let tasks = self.tasks();
        let [images, c, h, w] = layout.dims(x.dims(), tasks);
        let cols = images * self.out_side(h) * self.out_side(w) * KERNEL * KERNEL * c;
        match layout {
            Layout::ChannelsLast if cols <= MAX_IM2COL => self.forward_gemm(x),
            _ => {
                let (y, cache) = self.forward_direct(layout.to_grouped(x, tasks), layout);
                (layout.from_grouped(y, tasks), cache)
            }
        }
    }

    /// The gradient of the kernels into `grads`, and (`need_dx`) the input's, in the layout the
    /// forward had.
    pub fn backward(&self, cache: ConvCache, dy: Tensor<4>, need_dx: bool, grads: &mut Grads) -> Option<Tensor<4>> {
        match cache {
            ConvCache::Cols { cols, rows, in_hw } => {
                grads.put(&self.weight, self.weight_grad_gemm(cols, dy.clone()));
                need_dx.then(|| self.input_grad_gemm(dy, rows, in_hw))
            }
            ConvCache::Input { x, layout } => {
                let tasks = self.tasks();
                let [_, _, h, w] = x.dims();
                let dy = layout.to_grouped(dy, tasks);
                grads.put(&self.weight, self.weight_grad_direct(x, dy.clone()));
                need_dx.then(|| layout.from_grouped(self.input_grad(dy, [h, w]), tasks))
            }
        }
    }

    /// `x: [tasks n, h, w, c_in]` to `[tasks n, h', w', c_out]`: one batched matmul of the
    /// im2col and the kernels, whose rows are the output, channels-last.
    fn forward_gemm(&self, x: Tensor<4>) -> (Tensor<4>, ConvCache) {
        let [images, h, w, _] = x.dims();
        let (h_out, w_out) = (self.out_side(h), self.out_side(w));
        let rows = self.im2col_rows(images, h, w, &x.device());
        let cols = self.im2col(x, rows.clone());
        let c_out = self.weight.dims()[1];
        let y = cols.clone().matmul(self.gemm_weight()).reshape([images, h_out, w_out, c_out]);
        (y, ConvCache::Cols { cols, rows, in_hw: [h, w] })
    }

    /// `x: [n, tasks c_in, h, w]` to `[n, tasks c_out, h', w']` by burn's grouped convolution.
    fn forward_direct(&self, x: Tensor<4>, layout: Layout) -> (Tensor<4>, ConvCache) {
        let options = ConvOptions::new([self.stride; 2], [PAD; 2], [1, 1], self.tasks());
        (conv2d(x.clone(), self.grouped_weight(), None, options), ConvCache::Input { x, layout })
    }

    /// dW[t] = dy[t]ᵀ · cols[t]: one GEMM per task over all the images' output pixels.
    fn weight_grad_gemm(&self, cols: Tensor<3>, dy: Tensor<4>) -> Tensor<5> {
        let [tasks, c_out, c_in, _, _] = self.weight.dims();
        let [images, h_out, w_out, _] = dy.dims();
        dy.reshape([tasks, images / tasks * h_out * w_out, c_out])
            .swap_dims(1, 2)
            .matmul(cols) // [tasks, c_out, 9 c_in], columns ordered (ky, kx, c_in)
            .reshape([tasks, c_out, KERNEL, KERNEL, c_in])
            .permute([0, 1, 4, 2, 3])
    }

    /// dx: each output pixel's gradient sent back through the kernels to its nine window taps
    /// (one GEMM, dy[t] · W[t]ᵀ), and summed onto the input pixels they were picked from (a
    /// scatter-add by the im2col's rows: the im2col's own derivative). Its derivative in turn is
    /// a `select` and a GEMM.
    fn input_grad_gemm(&self, dy: Tensor<4>, rows: Tensor<1, Int>, [h, w]: [usize; 2]) -> Tensor<4> {
        let [tasks, _, c_in, _, _] = self.weight.dims();
        let [images, h_out, w_out, c_out] = dy.dims();
        let dcols = dy
            .reshape([tasks, images / tasks * h_out * w_out, c_out])
            .matmul(self.gemm_weight().swap_dims(1, 2)) // [tasks, n h' w', 9 c_in]
            .reshape([images * h_out * w_out * KERNEL * KERNEL, c_in]);
        Tensor::zeros([images * h * w + 1, c_in], &dcols.device())
            .select_assign(0, rows, dcols, IndexingUpdateOp::Add)
            .slice([0..images * h * w, 0..c_in]) // the zero pixel's gradient is dropped
            .reshape([images, h, w, c_in])
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

/// The activations seen so that one (task, channel)'s values share the index of every axis but
/// the `stat_dims`: grouped `[n, tasks c, h, w]` as it is; channels-last as `[tasks, n h w, 1, c]`.
struct StatsView {
    layout: Layout,
    /// The activations' own shape, restored on the way out.
    input_shape: [usize; 4],
}

impl StatsView {
    fn new(layout: Layout, shape: [usize; 4], tasks: usize) -> (Self, [usize; 4]) {
        let view = match layout {
            Layout::Grouped => shape,
            Layout::ChannelsLast => {
                let [images, h, w, c] = shape;
                [tasks, images / tasks * h * w, 1, c]
            }
        };
        (Self { layout, input_shape: shape }, view)
    }

    fn stat_dims(&self) -> &'static [usize] {
        match self.layout {
            Layout::Grouped => &[0, 2, 3],
            Layout::ChannelsLast => &[1],
        }
    }

    fn mean(&self, t: Tensor<4>) -> Tensor<4> {
        t.mean_dims(self.stat_dims())
    }

    /// How many values share one (task, channel)'s statistics, for activations of `dims` (the view's).
    fn count(&self, dims: [usize; 4]) -> f64 {
        self.stat_dims().iter().map(|&d| dims[d]).product::<usize>() as f64
    }

    /// A `[tasks, c]` parameter broadcastable over the view.
    fn channel(&self, p: &Param<Tensor<2>>) -> Tensor<4> {
        let [tasks, c] = p.dims();
        match self.layout {
            Layout::Grouped => p.val().reshape([1, tasks * c, 1, 1]),
            Layout::ChannelsLast => p.val().reshape([tasks, 1, 1, c]),
        }
    }
}

pub struct BatchNormCache {
    view: StatsView,
    centred: Tensor<4>, // x − mean, in the view
    inv_std: Tensor<4>, // one per task and channel
}

impl BatchNorm {
    pub fn new(c: usize, device: &Device) -> Self {
        Self { gamma: constant([1, c], 1.0, device), beta: constant([1, c], 0.0, device) }
    }

    /// `x` in `layout` to the same shape: y = γ x̂ + β with x̂ = (x − mean) / std, computed as
    /// (x − mean) (γ / std) + β, the per-channel factor first, so that each full-size op is a
    /// pass over the activations that the formula needs.
    pub fn forward(&self, x: Tensor<4>, layout: Layout) -> (Tensor<4>, BatchNormCache) {
        let (view, shape) = StatsView::new(layout, x.dims(), self.gamma.dims()[0]);
        let x = x.reshape(shape);
        let centred = x.clone() - view.mean(x);
        let var = view.mean(centred.clone().square()); // biased, as batch-norm uses
        let inv_std = (var + BN_EPS).sqrt().recip();
        let y = (centred.clone() * (view.channel(&self.gamma) * inv_std.clone()) + view.channel(&self.beta)).reshape(view.input_shape);
        (y, BatchNormCache { view, centred, inv_std })
    }

    /// Closed-form batch-norm backward, dx = (dx̂ − mean(dx̂) − x̂ mean(dx̂ x̂)) / std with
    /// dx̂ = γ dy, written with x̂ = (x − mean) / std so that everything but two full-size
    /// terms is per channel: with s = Σ dy and p = Σ dy (x − mean) over a channel's m values,
    /// dγ = p / std, dβ = s, and dx = dy (γ / std) − (x − mean) (γ p / (m std³)) − γ s / (m std).
    pub fn backward(&self, cache: BatchNormCache, dy: Tensor<4>, grads: &mut Grads) -> Tensor<4> {
        let BatchNormCache { view, centred, inv_std } = cache;
        let dy = dy.reshape(centred.dims());
        let m = view.count(centred.dims());
        let s = dy.clone().sum_dims(view.stat_dims());
        let p = (dy.clone() * centred.clone()).sum_dims(view.stat_dims());
        let gamma = view.channel(&self.gamma);
        let scale = gamma.clone() * inv_std.clone(); // γ / std
        let dx = dy * scale.clone() - centred * (scale.clone() * inv_std.clone().square() * p.clone()).mul_scalar(1.0 / m) - (scale * s.clone()).mul_scalar(1.0 / m);
        grads.put(&self.gamma, p * inv_std);
        grads.put(&self.beta, s);
        dx.reshape(view.input_shape)
    }
}

// ------------------------------------------------------------------------------------------------

/// ReLU; its backward multiplies by the constant mask [x > 0].
pub fn relu<const D: usize>(x: Tensor<D>) -> (Tensor<D>, Tensor<D>) {
    let mask = x.clone().greater_elem(0.0).float();
    (x * mask.clone(), mask)
}

/// 2x2 max-pool, stride 2 (an odd last row or column is dropped, as in PyTorch's default).
/// The backward routes dy to the arg-max of each window through constants (burn's own max-pool
/// backward is not itself differentiable): a one-hot mask in the grouped layout, each window's
/// maximum's position channels-last. Either marks the first maximum of each window, not every
/// element equal to it, because ties are common (a blank background gives equal activations) and
/// the gradient must go to exactly one element of a window, as in autodiff.
pub enum MaxPoolCache {
    /// `[n, tasks c, 2 h_out, 2 w_out]`, from burn's pool's indices, and the input's side.
    Grouped { mask: Tensor<4>, in_hw: [usize; 2] },
    /// Every output element's flat position in the input (its window's first maximum), and the
    /// input's shape.
    ChannelsLast { positions: Tensor<1, Int>, input_shape: [usize; 4] },
}

fn upsample2(t: Tensor<4>) -> Tensor<4> {
    let [n, c, h, w] = t.dims();
    t.reshape([n, c, h, 1, w, 1]).expand([n, c, h, 2, w, 2]).reshape([n, c, 2 * h, 2 * w])
}

/// `x` in `layout` to the pooled activations in `layout`.
pub fn max_pool(x: Tensor<4>, layout: Layout) -> (Tensor<4>, MaxPoolCache) {
    match layout {
        Layout::Grouped => {
            let [n, c, h, w] = x.dims();
            let (y, indices) = max_pool2d_with_indices(x.clone(), MaxPoolOptions::new([2, 2])); // [n, c, h/2, w/2]
            // flat position (row * w + col) of every element of the cropped input, to compare
            // with the arg-max indices (exact in floating point: positions are small integers)
            let (h2, w2) = (h / 2 * 2, w / 2 * 2);
            let device = x.device();
            let rows = Tensor::<1, Int>::arange(0..h2 as i64, &device).float().reshape([1, 1, h2, 1]).mul_scalar(w as f64);
            let cols = Tensor::<1, Int>::arange(0..w2 as i64, &device).float().reshape([1, 1, 1, w2]);
            let positions = (rows + cols).expand([n, c, h2, w2]);
            let mask = positions.equal(upsample2(indices.float())).float().detach();
            (y, MaxPoolCache::Grouped { mask, in_hw: [h, w] })
        }
        Layout::ChannelsLast => {
            // a gather of each window's maximum: its derivative is a scatter-add, and the
            // scatter-add's a gather, so neither order of the backward copies the input around
            let [images, h, w, c] = x.dims();
            let positions = first_maxima(&x);
            let y = x.reshape([images * h * w * c, 1]).select(0, positions.clone()).reshape([images, h / 2, w / 2, c]);
            (y, MaxPoolCache::ChannelsLast { positions, input_shape: [images, h, w, c] })
        }
    }
}

/// The flat position in channels-last `x` of each 2x2 window's maximum, window by window (row-
/// major) and channel by channel: the first of equal maxima in the window's row-major order, as
/// burn's max-pool picks. Found on the host: channels-last activations are the CPU's, so this is
/// a copy in memory, not a read from a device.
fn first_maxima(x: &Tensor<4>) -> Tensor<1, Int> {
    let dims = x.dims();
    let data = x.clone().detach().into_data();
    // f32 in training; f64 in the gradient checks, where rounding to f32 could move a near tie
    let positions = match data.as_slice::<f32>() {
        Ok(v) => first_maxima_of(v, dims),
        Err(_) => first_maxima_of(data.convert::<f64>().as_slice::<f64>().expect("float activations"), dims),
    };
    index_tensor(positions, &x.device())
}

fn first_maxima_of<E: PartialOrd + Copy>(v: &[E], [images, h, w, c]: [usize; 4]) -> Vec<i64> {
    let (ho, wo) = (h / 2, w / 2);
    let mut positions = Vec::with_capacity(images * ho * wo * c);
    for image in 0..images {
        for r in 0..ho {
            for q in 0..wo {
                let first = ((image * h + 2 * r) * w + 2 * q) * c;
                let taps = [first + c, first + w * c, first + w * c + c]; // after the first, row-major
                positions.extend((first..first + c).map(|p| {
                    let (mut best, mut max) = (p, v[p]);
                    for t in taps {
                        let at = t + p - first;
                        if v[at] > max {
                            (best, max) = (at, v[at]);
                        }
                    }
                    best as i64
                }));
            }
        }
    }
    positions
}

pub fn max_pool_backward(cache: MaxPoolCache, dy: Tensor<4>) -> Tensor<4> {
    match cache {
        MaxPoolCache::Grouped { mask, in_hw: [h, w] } => {
            let dx = upsample2(dy) * mask;
            let [_, _, h2, w2] = dx.dims();
            // the dropped odd row/column gets a zero gradient
            dx.pad([(0, h - h2), (0, w - w2)], 0.0)
        }
        MaxPoolCache::ChannelsLast { positions, input_shape } => {
            // each window's gradient onto its maximum; the rest of the input (and a dropped odd
            // row or column) gets zero
            let n: usize = input_shape.iter().product();
            let values = positions.dims()[0];
            Tensor::zeros([n, 1], &dy.device())
                .select_assign(0, positions, dy.reshape([values, 1]), IndexingUpdateOp::Add)
                .reshape(input_shape)
        }
    }
}

/// Mean over the spatial dimensions of `x` in `layout`, with the tasks brought forward: `[tasks, n, c]`.
pub fn global_mean_pool(x: Tensor<4>, tasks: usize, layout: Layout) -> Tensor<3> {
    match layout {
        Layout::Grouped => {
            let [n, tc, _, _] = x.dims();
            x.mean_dims(&[2, 3]).reshape([n, tasks, tc / tasks]).swap_dims(0, 1)
        }
        Layout::ChannelsLast => {
            let [images, _, _, c] = x.dims();
            x.mean_dims(&[1, 2]).reshape([tasks, images / tasks, c])
        }
    }
}

pub fn global_mean_pool_backward(dy: Tensor<3>, hw: [usize; 2], layout: Layout) -> Tensor<4> {
    let [tasks, n, c] = dy.dims();
    let [h, w] = hw;
    let dy = dy.mul_scalar(1.0 / (h * w) as f64);
    match layout {
        Layout::Grouped => dy.swap_dims(0, 1).reshape([n, tasks * c, 1, 1]).expand([n, tasks * c, h, w]),
        Layout::ChannelsLast => dy.reshape([tasks * n, 1, 1, c]).expand([tasks * n, h, w, c]),
    }
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

    /// The CPU's GEMM path and burn's convolution (the GPU's, here seen channels-last through the
    /// layout's conversions) are one function: the same outputs, kernel and input gradients, and
    /// the same second derivatives through both, for three tasks' kernels at once, strides 1 and
    /// 2, even and odd sides, one and several channels.
    #[test]
    fn the_gemm_and_the_direct_convolution_agree_to_second_order() {
        let device = Device::flex().autodiff();
        for (c_in, c_out, stride, side) in [(1, 4, 2, 8), (3, 5, 1, 7), (4, 4, 2, 5), (2, 3, 1, 4)] {
            let (tasks, n) = (3, 2);
            let conv = Conv { weight: Param::from_tensor(random([tasks, c_out, c_in, KERNEL, KERNEL], &device)), stride };
            let x = random([tasks * n, side, side, c_in], &device).require_grad();
            let what = format!("c_in {c_in}, c_out {c_out}, stride {stride}, side {side}");
            let cl = Layout::ChannelsLast;
            let (y_gemm, gemm) = conv.forward_gemm(x.clone());
            // burn's convolution as `forward` runs it for a layer too large for the GEMM
            let (y_direct, direct) = conv.forward_direct(cl.to_grouped(x.clone(), tasks), cl);
            let y_direct = cl.from_grouped(y_direct, tasks);
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

    /// The CPU's channels-last max-pool is burn's `max_pool2d` (which the GPU's grouped layout
    /// uses): the same values, and the gradient sent to the same element of every window, on
    /// inputs full of ties (a blank background), on even and odd sides.
    #[test]
    fn the_channels_last_max_pool_is_burns() {
        let device = Device::flex().autodiff();
        let (tasks, n, c) = (2, 3, 4);
        for side in [6, 7] {
            let sparse = random([n, tasks * c, side, side], &device).clamp_min(1.2) - 1.2; // mostly zeros
            let cl = Layout::ChannelsLast;
            let (y_grouped, grouped) = max_pool(sparse.clone(), Layout::Grouped);
            let (y_cl, cl_cache) = max_pool(cl.from_grouped(sparse.clone(), tasks), cl);
            assert_close(cl.to_grouped(y_cl, tasks), y_grouped.clone(), &format!("side {side}: pooled values"));
            let dy = random(y_grouped.dims(), &device);
            let dx_grouped = max_pool_backward(grouped, dy.clone());
            let dx_cl = cl.to_grouped(max_pool_backward(cl_cache, cl.from_grouped(dy.clone(), tasks)), tasks);
            assert_close(dx_cl, dx_grouped.clone(), &format!("side {side}: gradient"));
            let routed: f32 = dx_grouped.abs().sum().into_scalar();
            let sent: f32 = dy.abs().sum().into_scalar();
            assert!((routed - sent).abs() <= 1e-4 * sent, "every window sends its gradient to one element: {routed} of {sent}");
        }
    }

    #[test]
    fn flex_is_the_cpu() {
        assert!(!on_gpu(&Device::flex()));
        assert!(!on_gpu(&Device::flex().autodiff()));
    }
}
