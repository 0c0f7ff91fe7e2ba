//! How a conv net's activations are laid out between its layers, chosen once, where the network
//! is built (`Network::new` asks `layout::of` its device). Each layout says how its tensors are
//! shaped and which kernel of each layer family reads them; the layers' files do not ask.
//!
//! - `Grouped`, `[n, tasks c, h, w]`: the tasks' channels side by side as the groups of burn's
//!   grouped convolutions, what a GPU is fast at.
//! - `ChannelsLast`, `[tasks n, h, w, c]`: each task's images channels-last, the rows the CPU's
//!   im2col GEMMs read and write, so that no layer transposes its activations.
//!
//! Both compute the same network: `tests/layouts.rs` runs one meta-batch through each on the CPU.
//! Batch-norm is per task and channel in both.

use burn::prelude::*;

use super::conv::{Conv, ConvCache};
use super::grads::Grads;
use super::norm::StatsView;
use super::pool::{self, MaxPoolCache};

pub trait Layout: std::fmt::Debug + Send + Sync {
    /// Inputs `[tasks, n, c h w]` as images of `c` channels, `h` x `w`.
    fn images(&self, x: Tensor<3>, chw: [usize; 3]) -> Tensor<4>;
    /// Activations as features `[tasks, n, c h w]`, ordered (c, h, w) in either layout, so that
    /// weights mean the same in both.
    fn features(&self, x: Tensor<4>, tasks: usize) -> Tensor<3>;
    /// The gradient of `features` back to activations of dims `dims`.
    fn features_backward(&self, d: Tensor<3>, dims: [usize; 4]) -> Tensor<4>;
    /// The mean over each image's pixels, `[tasks, n, c]`.
    fn global_mean_pool(&self, x: Tensor<4>, tasks: usize) -> Tensor<3>;
    /// The gradient of `global_mean_pool` back to activations of dims `dims`.
    fn global_mean_pool_backward(&self, dy: Tensor<3>, dims: [usize; 4]) -> Tensor<4>;
    /// How batch-norm sees activations of `shape`: one (task, channel)'s values along its axes.
    fn stats(&self, shape: [usize; 4], tasks: usize) -> StatsView;
    /// The convolution by this layout's kernel.
    fn conv(&self, conv: &Conv, x: Tensor<4>) -> (Tensor<4>, ConvCache);
    /// Its backward: the kernels' gradient into `grads` and (`need_dx`) the input's.
    fn conv_backward(&self, conv: &Conv, cache: ConvCache, dy: Tensor<4>, need_dx: bool, grads: &mut Grads) -> Option<Tensor<4>>;
    /// The 2x2 max-pool by this layout's kernel (its cache knows its backward).
    fn max_pool(&self, x: Tensor<4>) -> (Tensor<4>, MaxPoolCache);
}

/// Whether `device` is a GPU (anything but burn-flex, the CPU backend).
pub fn on_gpu(device: &Device) -> bool {
    device.clone().inner() != Device::flex()
}

/// The layout whose kernels are fast on `device`.
pub fn of(device: &Device) -> &'static dyn Layout {
    if on_gpu(device) { &Grouped } else { &ChannelsLast }
}

/// `[n, tasks c, h, w]`: burn's grouped convolution and max-pool.
#[derive(Debug)]
pub struct Grouped;

impl Layout for Grouped {
    fn images(&self, x: Tensor<3>, [c, h, w]: [usize; 3]) -> Tensor<4> {
        let [tasks, n, _] = x.dims();
        x.reshape([tasks, n, c, h, w]).swap_dims(0, 1).reshape([n, tasks * c, h, w])
    }

    fn features(&self, x: Tensor<4>, tasks: usize) -> Tensor<3> {
        let [n, tc, h, w] = x.dims();
        x.reshape([n, tasks, tc / tasks * h * w]).swap_dims(0, 1)
    }

    fn features_backward(&self, d: Tensor<3>, dims: [usize; 4]) -> Tensor<4> {
        d.swap_dims(0, 1).reshape(dims)
    }

    fn global_mean_pool(&self, x: Tensor<4>, tasks: usize) -> Tensor<3> {
        let [n, tc, _, _] = x.dims();
        x.mean_dims(&[2, 3]).reshape([n, tasks, tc / tasks]).swap_dims(0, 1)
    }

    fn global_mean_pool_backward(&self, dy: Tensor<3>, [n, tc, h, w]: [usize; 4]) -> Tensor<4> {
        dy.mul_scalar(1.0 / (h * w) as f64).swap_dims(0, 1).reshape([n, tc, 1, 1]).expand([n, tc, h, w])
    }

    fn stats(&self, shape: [usize; 4], _tasks: usize) -> StatsView {
        // the tasks' channels are this layout's channels
        StatsView { input: shape, view: shape, stat_dims: &[0, 2, 3], channel: [1, shape[1], 1, 1] }
    }

    fn conv(&self, conv: &Conv, x: Tensor<4>) -> (Tensor<4>, ConvCache) {
        conv.forward_direct(x)
    }

    fn conv_backward(&self, conv: &Conv, cache: ConvCache, dy: Tensor<4>, need_dx: bool, grads: &mut Grads) -> Option<Tensor<4>> {
        let ConvCache::Input { x } = cache else { unreachable!("the grouped layout runs burn's convolution only") };
        conv.backward_direct(x, dy, need_dx, grads)
    }

    fn max_pool(&self, x: Tensor<4>) -> (Tensor<4>, MaxPoolCache) {
        pool::mask(x)
    }
}

/// `[tasks n, h, w, c]`: the im2col GEMM and the max-pool's gather; burn's grouped convolution,
/// converted around it, for a layer whose im2col would be too large (`im2col::MAX_IM2COL`).
#[derive(Debug)]
pub struct ChannelsLast;

impl ChannelsLast {
    fn from_grouped(x: Tensor<4>, tasks: usize) -> Tensor<4> {
        let [n, tc, h, w] = x.dims();
        x.reshape([n, tasks, tc / tasks, h, w]).permute([1, 0, 3, 4, 2]).reshape([tasks * n, h, w, tc / tasks])
    }

    fn to_grouped(x: Tensor<4>, tasks: usize) -> Tensor<4> {
        let [tn, h, w, c] = x.dims();
        x.reshape([tasks, tn / tasks, h, w, c]).permute([1, 0, 4, 2, 3]).reshape([tn / tasks, tasks * c, h, w])
    }
}

impl Layout for ChannelsLast {
    fn images(&self, x: Tensor<3>, [c, h, w]: [usize; 3]) -> Tensor<4> {
        let [tasks, n, _] = x.dims();
        x.reshape([tasks * n, c, h, w]).permute([0, 2, 3, 1])
    }

    fn features(&self, x: Tensor<4>, tasks: usize) -> Tensor<3> {
        let [images, h, w, c] = x.dims();
        x.permute([0, 3, 1, 2]).reshape([tasks, images / tasks, c * h * w])
    }

    fn features_backward(&self, d: Tensor<3>, [images, h, w, c]: [usize; 4]) -> Tensor<4> {
        d.reshape([images, c, h, w]).permute([0, 2, 3, 1])
    }

    fn global_mean_pool(&self, x: Tensor<4>, tasks: usize) -> Tensor<3> {
        let [images, _, _, c] = x.dims();
        x.mean_dims(&[1, 2]).reshape([tasks, images / tasks, c])
    }

    fn global_mean_pool_backward(&self, dy: Tensor<3>, [images, h, w, c]: [usize; 4]) -> Tensor<4> {
        dy.mul_scalar(1.0 / (h * w) as f64).reshape([images, 1, 1, c]).expand([images, h, w, c])
    }

    fn stats(&self, [images, h, w, c]: [usize; 4], tasks: usize) -> StatsView {
        StatsView { input: [images, h, w, c], view: [tasks, images / tasks * h * w, 1, c], stat_dims: &[1], channel: [tasks, 1, 1, c] }
    }

    fn conv(&self, conv: &Conv, x: Tensor<4>) -> (Tensor<4>, ConvCache) {
        if conv.im2col_fits(x.dims()) {
            return conv.forward_gemm(x);
        }
        let tasks = conv.tasks();
        let (y, cache) = conv.forward_direct(Self::to_grouped(x, tasks));
        (Self::from_grouped(y, tasks), cache)
    }

    fn conv_backward(&self, conv: &Conv, cache: ConvCache, dy: Tensor<4>, need_dx: bool, grads: &mut Grads) -> Option<Tensor<4>> {
        let tasks = conv.tasks();
        match cache {
            ConvCache::Cols { cols, rows, in_hw } => conv.backward_gemm(cols, rows, in_hw, dy, need_dx, grads),
            ConvCache::Input { x } => conv.backward_direct(x, Self::to_grouped(dy, tasks), need_dx, grads).map(|dx| Self::from_grouped(dx, tasks)),
        }
    }

    fn max_pool(&self, x: Tensor<4>) -> (Tensor<4>, MaxPoolCache) {
        pool::gather(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flex_is_the_cpu() {
        assert!(!on_gpu(&Device::flex()));
        assert!(!on_gpu(&Device::flex().autodiff()));
    }
}
