//! The convolution as a GEMM over an im2col, on each task's images channels-last,
//! `[tasks n, h, w, c]`: every output pixel's window of the input as a row, so the forward is
//! one batched matmul (the tasks as its batch) and so is the weight gradient, which reuses the
//! forward's rows; the input gradient is a GEMM and a scatter-add. burn's own `conv2d` on the
//! CPU runs the weight gradient as one small GEMM per input channel, at a fraction of a GEMM's
//! speed (BENCHMARKS.md, "Where burn limits the speed"). Selects, reshapes and matmuls have cheap
//! derivatives, so the second-order graph through this stays cheap too.

use burn::prelude::*;
use burn::tensor::{DType, IndexingUpdateOp};

use super::conv::{Conv, ConvCache, KERNEL, PAD};
use super::grads::Grads;
use super::host::{self, with_floats};

/// The most elements of an im2col the CPU builds (it is nine times its input): past it, burn's
/// `conv2d` takes the layer. Large enough for the max-pool net's second layer on two tasks'
/// query sets, whose im2col pays since the query set is off the graph (BENCHMARKS.md, "The
/// query off the graph").
pub const MAX_IM2COL: usize = 32 << 20;

/// Indices for `select` and its scatter-add, as the CPU reads them without a conversion: burn-flex
/// turns every index into an `isize` on each call, a copy of them all unless they already have its
/// width (32 bits in wasm).
pub fn index_tensor(values: Vec<i64>, device: &Device) -> Tensor<1, Int> {
    let width = if cfg!(target_pointer_width = "32") { DType::I32 } else { DType::I64 };
    let n = values.len();
    Tensor::from_data(TensorData::new(values, [n]), (device, width))
}

/// What was built for the shapes used last, most recent last: a meta-iteration asks for a few
/// shapes (each layer's, support and query sets), every iteration; a run of other shapes pushes
/// them out.
type Recent<K, V> = std::cell::RefCell<Vec<(K, V)>>;

const RECENT_KEPT: usize = 32;

thread_local! {
    /// The im2col rows, by (stride, images, h, w) and device.
    static RECENT_ROWS: Recent<((usize, usize, usize, usize), Device), Tensor<1, Int>> = const { std::cell::RefCell::new(Vec::new()) };
    /// The window taps, by (stride, h, w).
    static RECENT_TAPS: Recent<(usize, usize, usize), std::rc::Rc<Vec<usize>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// `key`'s value in `cache`, made by `make` if it is not there, and now the most recent.
fn recent<K: PartialEq, V: Clone>(cache: &Recent<K, V>, key: K, make: impl FnOnce() -> V) -> V {
    let mut cache = cache.borrow_mut();
    let hit = match cache.iter().position(|(k, _)| *k == key) {
        Some(at) => cache.remove(at),
        None => {
            if cache.len() == RECENT_KEPT {
                cache.remove(0);
            }
            (key, make())
        }
    };
    let value = hit.1.clone();
    cache.push(hit);
    value
}

impl Conv {
    /// Whether the im2col of `images` channels-last images of `h` x `w` x `c` fits `MAX_IM2COL`.
    pub fn im2col_fits(&self, [images, h, w, c]: [usize; 4]) -> bool {
        images * self.out_side(h) * self.out_side(w) * KERNEL * KERNEL * c <= MAX_IM2COL
    }

    /// The kernels as `[tasks, 9 c_in, c_out]`, rows ordered like the im2col's columns.
    fn gemm_weight(&self) -> Tensor<3> {
        let [tasks, c_out, c_in, _, _] = self.weight.dims();
        self.weight.val().permute([0, 3, 4, 2, 1]).reshape([tasks, KERNEL * KERNEL * c_in, c_out])
    }

    /// The rows of `[tasks n h w + 1, c]` (every image's pixels, then one zero pixel) that make
    /// the im2col: for every image and output pixel, its nine window taps (ky, kx). The same
    /// shapes come back every meta-iteration, so the recently used are kept (`Recent`).
    fn im2col_rows(&self, images: usize, h: usize, w: usize, device: &Device) -> Tensor<1, Int> {
        RECENT_ROWS.with(|cache| {
            recent(cache, ((self.stride, images, h, w), device.clone()), || {
                let (taps, hw) = (self.taps(h, w), h * w);
                let rows = (0..images).flat_map(|i| taps.iter().map(move |&p| if p == hw { images * hw } else { i * hw + p }));
                index_tensor(rows.map(|r| r as i64).collect(), device)
            })
        })
    }

    /// Each output pixel's nine window taps in an image of `h` x `w` (`window_positions`), kept
    /// for the shapes used last (`Recent`).
    fn taps(&self, h: usize, w: usize) -> std::rc::Rc<Vec<usize>> {
        RECENT_TAPS.with(|cache| recent(cache, (self.stride, h, w), || std::rc::Rc::new(self.window_positions(h, w))))
    }

    /// For each output pixel (row-major), the flat input position of each of its nine window
    /// taps (ky, kx), or `h w` (the appended zero pixel) where a tap falls in the padding.
    fn window_positions(&self, h: usize, w: usize) -> Vec<usize> {
        let (h_out, w_out) = (self.out_side(h), self.out_side(w));
        let mut positions = Vec::with_capacity(h_out * w_out * KERNEL * KERNEL);
        for (oy, ox) in (0..h_out).flat_map(|oy| (0..w_out).map(move |ox| (oy, ox))) {
            for (ky, kx) in (0..KERNEL).flat_map(|ky| (0..KERNEL).map(move |kx| (ky, kx))) {
                let (y, x) = ((oy * self.stride + ky) as isize - PAD as isize, (ox * self.stride + kx) as isize - PAD as isize);
                let inside = (0..h as isize).contains(&y) && (0..w as isize).contains(&x);
                positions.push(if inside { y as usize * w + x as usize } else { h * w });
            }
        }
        positions
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

    /// `x: [tasks n, h, w, c_in]` to `[tasks n, h', w', c_out]`: one batched matmul of the
    /// im2col and the kernels, whose rows are the output, channels-last. Off the graph the
    /// im2col is gathered on the host, and its backward scatters there too.
    pub fn forward_gemm(&self, x: Tensor<4>) -> (Tensor<4>, ConvCache) {
        let [images, h, w, c] = x.dims();
        let (h_out, w_out) = (self.out_side(h), self.out_side(w));
        let c_out = self.weight.dims()[1];
        let (tasks, device) = (self.tasks(), x.device());
        let plain_weight = !self.weight.val().is_autodiff();
        if let Some(t) = host::off_graph_on_cpu(&x).filter(|_| plain_weight) {
            let shape = [tasks, images / tasks * h_out * w_out, KERNEL * KERNEL * c];
            let taps = self.taps(h, w);
            let cols: Tensor<3> = with_floats!(t, |v| host::tensor(host::im2col(v, c, images, h * w, &taps), shape, &device));
            let y = host::matmul(cols.clone(), self.gemm_weight()).reshape([images, h_out, w_out, c_out]);
            return (y, ConvCache::Cols { cols, rows: None, in_hw: [h, w] });
        }
        let rows = self.im2col_rows(images, h, w, &device);
        let cols = self.im2col(x, rows.clone());
        let y = host::matmul(cols.clone(), self.gemm_weight()).reshape([images, h_out, w_out, c_out]);
        (y, ConvCache::Cols { cols, rows: Some(rows), in_hw: [h, w] })
    }

    /// The kernels' gradient into `grads` and (`need_dx`) the input's, channels-last, from what
    /// `forward_gemm` kept and the output's gradient `dy`.
    pub fn backward_gemm(&self, cols: Tensor<3>, rows: Option<Tensor<1, Int>>, in_hw: [usize; 2], dy: Tensor<4>, need_dx: bool, grads: &mut Grads) -> Option<Tensor<4>> {
        grads.put(&self.weight, self.weight_grad_gemm(cols, dy.clone()));
        need_dx.then(|| self.input_grad_gemm(dy, rows, in_hw))
    }

    /// dW[t] = dy[t]ᵀ · cols[t]: one GEMM per task over all the images' output pixels.
    fn weight_grad_gemm(&self, cols: Tensor<3>, dy: Tensor<4>) -> Tensor<5> {
        let [tasks, c_out, c_in, _, _] = self.weight.dims();
        let [images, h_out, w_out, _] = dy.dims();
        let dy = dy.reshape([tasks, images / tasks * h_out * w_out, c_out]).swap_dims(1, 2);
        host::matmul(dy, cols) // [tasks, c_out, 9 c_in], columns ordered (ky, kx, c_in)
            .reshape([tasks, c_out, KERNEL, KERNEL, c_in])
            .permute([0, 1, 4, 2, 3])
    }

    /// dx: each output pixel's gradient sent back through the kernels to its nine window taps
    /// (one GEMM, dy[t] · W[t]ᵀ), and summed onto the input pixels they were picked from (a
    /// scatter-add by the im2col's rows: the im2col's own derivative). Its derivative in turn is
    /// a `select` and a GEMM.
    fn input_grad_gemm(&self, dy: Tensor<4>, rows: Option<Tensor<1, Int>>, [h, w]: [usize; 2]) -> Tensor<4> {
        let [tasks, _, c_in, _, _] = self.weight.dims();
        let [images, h_out, w_out, c_out] = dy.dims();
        let dy = dy.reshape([tasks, images / tasks * h_out * w_out, c_out]);
        let dcols = host::matmul(dy, self.gemm_weight().swap_dims(1, 2)) // [tasks, n h' w', 9 c_in]
            .reshape([images * h_out * w_out * KERNEL * KERNEL, c_in]);
        let Some(rows) = rows else {
            let t = host::off_graph(&dcols);
            let taps = self.taps(h, w);
            return with_floats!(t, |v| host::tensor(host::col2im(v, c_in, images, h * w, &taps), [images, h, w, c_in], &dcols.device()));
        };
        Tensor::zeros([images * h * w + 1, c_in], &dcols.device())
            .select_assign(0, rows, dcols, IndexingUpdateOp::Add)
            .slice([0..images * h * w, 0..c_in]) // the zero pixel's gradient is dropped
            .reshape([images, h, w, c_in])
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::model::layout::{ChannelsLast, Grouped, Layout};
    use burn::module::Param;
    use burn::tensor::Distribution;

    pub fn random<const D: usize>(shape: [usize; D], device: &Device) -> Tensor<D> {
        Tensor::random(shape, Distribution::Normal(0.0, 1.0), device)
    }

    pub fn assert_close<const D: usize>(a: Tensor<D>, b: Tensor<D>, what: &str) {
        let (a, b) = (a.into_data().try_to_vec::<f32>().unwrap(), b.into_data().try_to_vec::<f32>().unwrap());
        assert_eq!(a.len(), b.len(), "{what}");
        let scale = a.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() <= 1e-4 * scale, "{what}: {x} (channels-last) vs {y} (grouped)");
        }
    }

    /// The CPU's GEMM (channels-last) and burn's convolution (grouped) are one function: the same
    /// outputs, kernel and input gradients, and the same second derivatives through both, for
    /// three tasks' kernels at once, strides 1 and 2, even and odd sides, one and several channels.
    #[test]
    fn the_gemm_and_the_direct_convolution_agree_to_second_order() {
        let device = Device::flex().autodiff();
        for (c_in, c_out, stride, side) in [(1, 4, 2, 8), (3, 5, 1, 7), (4, 4, 2, 5), (2, 3, 1, 4)] {
            let (tasks, n) = (3, 2);
            let conv = Conv { weight: Param::from_tensor(random([tasks, c_out, c_in, KERNEL, KERNEL], &device)), stride };
            let x = random([n, tasks * c_in, side, side], &device).require_grad(); // grouped
            let what = format!("c_in {c_in}, c_out {c_out}, stride {stride}, side {side}");
            let x_cl = x.clone().reshape([n, tasks, c_in, side, side]).permute([1, 0, 3, 4, 2]).reshape([tasks * n, side, side, c_in]);
            let to_grouped = |t: Tensor<4>| {
                let [tn, h, w, c] = t.dims();
                t.reshape([tasks, tn / tasks, h, w, c]).permute([1, 0, 4, 2, 3]).reshape([tn / tasks, tasks * c, h, w])
            };
            let from_grouped = |t: Tensor<4>| {
                let [n, tc, h, w] = t.dims();
                t.reshape([n, tasks, tc / tasks, h, w]).permute([1, 0, 3, 4, 2]).reshape([tasks * n, h, w, tc / tasks])
            };
            let (y_gemm, gemm) = ChannelsLast.conv(&conv, x_cl);
            assert!(matches!(gemm, ConvCache::Cols { .. }), "{what}: small enough for the GEMM");
            let (y_direct, direct) = Grouped.conv(&conv, x.clone());
            assert_close(to_grouped(y_gemm.clone()), y_direct.clone(), &format!("{what}: output"));
            let dy = random(y_direct.dims(), &device);
            // a loss of the weight and input gradients, so its gradient is a second derivative
            let r = random([tasks, c_out, c_in, KERNEL, KERNEL], &device);
            let second = |layout: &dyn Layout, cache: ConvCache, dy: Tensor<4>, grouped: &dyn Fn(Tensor<4>) -> Tensor<4>| {
                let mut grads = Grads::default();
                let dx = grouped(layout.conv_backward(&conv, cache, dy, true, &mut grads).unwrap());
                let dw = grads.get(&conv.weight).unwrap();
                let loss = (dw.clone() * r.clone()).sum() + (dx.clone() * dx.clone()).sum();
                let g = loss.backward();
                (dw, dx, x.grad(&g).unwrap(), conv.weight.val().grad(&g).unwrap())
            };
            let (dw_gemm, dx_gemm, ddx_gemm, ddw_gemm) = second(&ChannelsLast, gemm, from_grouped(dy.clone()), &to_grouped);
            let (dw_direct, dx_direct, ddx_direct, ddw_direct) = second(&Grouped, direct, dy, &|t| t);
            assert_close(Tensor::<5>::from_data(ddw_gemm.into_data(), &device), Tensor::from_data(ddw_direct.into_data(), &device), &format!("{what}: second derivative in the kernels"));
            assert_close(dw_gemm, dw_direct, &format!("{what}: weight gradient"));
            assert_close(dx_gemm, dx_direct, &format!("{what}: input gradient"));
            assert_close(Tensor::<4>::from_data(ddx_gemm.into_data(), &device), Tensor::from_data(ddx_direct.into_data(), &device), &format!("{what}: second derivative"));
        }
    }

    /// Off the graph, the host's gather and scatter-add give the tensor ops' values, to the bit.
    #[test]
    fn the_host_kernels_are_the_graphs_to_the_bit() {
        let (graph, plain) = (Device::flex().autodiff(), Device::flex());
        for (c_in, stride, side) in [(1, 2, 8), (3, 1, 7), (4, 2, 5)] {
            let (tasks, n, c_out) = (2, 3, 4);
            let weight = random([tasks, c_out, c_in, KERNEL, KERNEL], &plain);
            let x = random([tasks * n, side, side, c_in], &plain);
            let run = |device: &Device| {
                let conv = Conv { weight: Param::from_tensor(Tensor::from_data(weight.to_data(), device)), stride };
                let (y, cache) = conv.forward_gemm(Tensor::from_data(x.to_data(), device));
                let dy = y.clone().mul_scalar(0.5).sin();
                let ConvCache::Cols { cols, rows, in_hw } = cache else { unreachable!() };
                assert_eq!(rows.is_none(), !device.is_autodiff(), "the host kernels run off the graph only");
                let dx = conv.backward_gemm(cols, rows, in_hw, dy, true, &mut Grads::default()).unwrap();
                (y.into_data(), dx.into_data())
            };
            assert_eq!(run(&graph), run(&plain), "c_in {c_in}, stride {stride}, side {side}");
        }
    }
}
