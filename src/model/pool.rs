//! The 2x2 max-pool, stride 2 (an odd last row or column is dropped, as in PyTorch's default).
//!
//! Its backward routes dy to the arg-max of each window through constants (burn's own max-pool
//! backward is not itself differentiable, and the mask's derivative is zero almost everywhere,
//! so this is exact a.e.). Both kernels mark the first maximum of each window, not every element
//! equal to it, because ties are common (a blank background gives equal activations) and the
//! gradient must go to exactly one element of a window, as in autodiff. Two kernels, each in the
//! layout it reads (`layout`):
//!
//! - `mask`: burn's `max_pool2d_with_indices` on `[n, c, h, w]`, the indices as a one-hot mask;
//! - `gather`: on channels-last `[n, h, w, c]`, each window's first maximum found on the host in
//!   the activations' own memory, the output a `select` of those positions, so that neither
//!   order of the backward copies the input around (its derivative is a scatter-add, and the
//!   scatter-add's a `select`).

use burn::prelude::*;
use burn::tensor::IndexingUpdateOp;
use burn::tensor::module::max_pool2d_with_indices;
use burn::tensor::ops::MaxPoolOptions;

use super::host::{self, with_floats};
use super::im2col::index_tensor;

/// What a max-pool's backward needs: the kernel that ran says which.
pub enum MaxPoolCache {
    /// `[n, c, 2 h_out, 2 w_out]`, from burn's pool's indices, and the input's side.
    Mask { mask: Tensor<4>, in_hw: [usize; 2] },
    /// Every output element's flat position in the input (its window's first maximum), and the
    /// input's shape.
    Positions { positions: Tensor<1, Int>, input_shape: [usize; 4] },
    /// The same positions, for the host kernels (off the graph).
    Host { positions: Vec<usize>, input_shape: [usize; 4] },
}

fn upsample2(t: Tensor<4>) -> Tensor<4> {
    let [n, c, h, w] = t.dims();
    t.reshape([n, c, h, 1, w, 1]).expand([n, c, h, 2, w, 2]).reshape([n, c, 2 * h, 2 * w])
}

/// `x: [n, c, h, w]` pooled by burn's kernel.
pub fn mask(x: Tensor<4>) -> (Tensor<4>, MaxPoolCache) {
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
    (y, MaxPoolCache::Mask { mask, in_hw: [h, w] })
}

/// `x: [n, h, w, c]` pooled by a gather of each window's first maximum. Off the graph, the scan
/// that finds them reads the values too.
pub fn gather(x: Tensor<4>) -> (Tensor<4>, MaxPoolCache) {
    let [images, h, w, c] = x.dims();
    let (shape, out) = ([images, h, w, c], [images, h / 2, w / 2, c]);
    if let Some(t) = host::off_graph_on_cpu(&x) {
        let device = x.device();
        let (y, positions) = with_floats!(t, |v: &[_]| {
            let positions = first_maxima_of(v, shape);
            (host::tensor(positions.iter().map(|&p| v[p]).collect(), out, &device), positions)
        });
        return (y, MaxPoolCache::Host { positions, input_shape: shape });
    }
    let t = host::on_cpu(&x).expect("channels-last activations are the CPU's");
    let positions = with_floats!(t, |v| first_maxima_of(v, shape)).into_iter().map(|p| p as i64).collect();
    let positions = index_tensor(positions, &x.device());
    let y = x.reshape([images * h * w * c, 1]).select(0, positions.clone()).reshape(out);
    (y, MaxPoolCache::Positions { positions, input_shape: shape })
}

impl MaxPoolCache {
    /// The input's gradient from the output's, in the layout the pool ran in.
    pub fn backward(self, dy: Tensor<4>) -> Tensor<4> {
        match self {
            MaxPoolCache::Mask { mask, in_hw: [h, w] } => {
                let dx = upsample2(dy) * mask;
                let [_, _, h2, w2] = dx.dims();
                // the dropped odd row/column gets a zero gradient
                dx.pad([(0, h - h2), (0, w - w2)], 0.0)
            }
            MaxPoolCache::Positions { positions, input_shape } => {
                // each window's gradient onto its maximum; the rest of the input (and a dropped
                // odd row or column) gets zero
                let n: usize = input_shape.iter().product();
                let values = positions.dims()[0];
                Tensor::zeros([n, 1], &dy.device())
                    .select_assign(0, positions, dy.reshape([values, 1]), IndexingUpdateOp::Add)
                    .reshape(input_shape)
            }
            MaxPoolCache::Host { positions, input_shape } => {
                let n: usize = input_shape.iter().product();
                let t = host::off_graph(&dy);
                with_floats!(t, |v| host::tensor(host::scatter_add(v, &positions, n), input_shape, &dy.device()))
            }
        }
    }
}

/// The flat position in channels-last `v` of dims `[images, h, w, c]` of each 2x2 window's
/// maximum, window by window (row-major) and channel by channel: the first of equal maxima in the
/// window's row-major order, as burn's max-pool picks. Read where the CPU keeps the activations:
/// channels-last activations are the CPU's, so this is a pass over memory, not a read from a
/// device (f32 in training; f64 in the gradient checks, where rounding to f32 could move a near
/// tie).
fn first_maxima_of<E: PartialOrd + Copy>(v: &[E], [images, h, w, c]: [usize; 4]) -> Vec<usize> {
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
                    best
                }));
            }
        }
    }
    positions
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::im2col::tests::{assert_close, random};

    /// The channels-last gather is burn's `max_pool2d` (the grouped layout's kernel): the same
    /// values, and the gradient sent to the same element of every window, on inputs full of ties
    /// (a blank background), on even and odd sides.
    #[test]
    fn the_gather_is_burns_max_pool() {
        let device = Device::flex().autodiff();
        let (n, c) = (3, 4);
        let last = |t: Tensor<4>| t.permute([0, 2, 3, 1]);
        let first = |t: Tensor<4>| t.permute([0, 3, 1, 2]);
        for side in [6, 7] {
            let sparse = random([n, c, side, side], &device).clamp_min(1.2) - 1.2; // mostly zeros
            let (y_mask, by_mask) = mask(sparse.clone());
            let (y_gather, by_gather) = gather(last(sparse));
            assert_close(first(y_gather), y_mask.clone(), &format!("side {side}: pooled values"));
            let dy = random(y_mask.dims(), &device);
            let dx_mask = by_mask.backward(dy.clone());
            let dx_gather = first(by_gather.backward(last(dy.clone())));
            assert_close(dx_gather, dx_mask.clone(), &format!("side {side}: gradient"));
            let routed: f32 = dx_mask.abs().sum().into_scalar();
            let sent: f32 = dy.abs().sum().into_scalar();
            assert!((routed - sent).abs() <= 1e-4 * sent, "every window sends its gradient to one element: {routed} of {sent}");
        }
    }

    /// Off the graph, the host's scan and scatter give the graph's values, to the bit.
    #[test]
    fn the_host_max_pool_is_the_graphs_to_the_bit() {
        let (graph, plain) = (Device::flex().autodiff(), Device::flex());
        let x = random([3, 7, 6, 4], &plain).clamp_min(1.2);
        let dy = random([3, 3, 3, 4], &plain);
        let run = |device: &Device| {
            let (y, cache) = gather(Tensor::from_data(x.to_data(), device));
            assert_eq!(matches!(cache, MaxPoolCache::Host { .. }), !device.is_autodiff());
            (y.into_data(), cache.backward(Tensor::from_data(dy.to_data(), device)).into_data())
        };
        assert_eq!(run(&graph), run(&plain));
    }
}
