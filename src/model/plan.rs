//! The shapes of a network, before any weight is drawn: `Network::new` builds its layers from
//! them, and the page's memory estimate (`memory`) counts the activations they make, so the two
//! cannot disagree.

use super::conv::{self, KERNEL};
use crate::config::{Arch, Downsample, ModelConfig};
use crate::tasks::InputShape;

/// One conv block: [3x3 conv, batch-norm, ReLU] and, when `pool`, a 2x2 max-pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockPlan {
    pub c_in: usize,
    pub c_out: usize,
    pub stride: usize,
    pub pool: bool,
    /// The convolution's output side (height, width).
    pub conv_hw: [usize; 2],
    /// The block's output side, after the pool if any.
    pub out_hw: [usize; 2],
}

/// Every layer's shape, input to outputs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub input: InputShape,
    pub blocks: Vec<BlockPlan>,
    /// What the first dense layer sees: the input itself (MLP), the last block's output, or its
    /// channels' means (global pooling).
    pub features: usize,
    /// The hidden dense layers' widths.
    pub hidden: Vec<usize>,
    pub outputs: usize,
    pub global_pool: bool,
}

impl Plan {
    /// The network `config` builds for inputs of `input` and `outputs` outputs, or why those
    /// inputs are too small for it.
    pub fn new(config: &ModelConfig, input: InputShape, outputs: usize) -> Result<Self, String> {
        let widths: Vec<(usize, bool)> = match config.arch {
            Arch::Mlp => vec![],
            Arch::Conv4 => vec![(config.filters, config.downsample == Downsample::MaxPool); 4],
            Arch::SeedCnn => vec![(config.filters, true), (2 * config.filters, true), (2 * config.filters, true)],
        };
        let (mut c, mut hw) = (input.channels, [input.height, input.width]);
        let mut blocks = Vec::with_capacity(widths.len());
        for (c_out, pool) in widths {
            let stride = if pool { 1 } else { 2 };
            let conv_hw = hw.map(|n| conv::out_side(n, stride));
            let out_hw = if pool { conv_hw.map(|n| n / 2) } else { conv_hw };
            if out_hw.contains(&0) {
                return Err(format!("{}x{} images are too small for {}: a block would leave no pixels", input.height, input.width, config.arch));
            }
            blocks.push(BlockPlan { c_in: c, c_out, stride, pool, conv_hw, out_hw });
            (c, hw) = (c_out, out_hw);
        }
        let features = if blocks.is_empty() { input.numel() } else if config.global_pool { c } else { c * hw[0] * hw[1] };
        let hidden = if config.arch == Arch::Mlp { vec![config.hidden; 2] } else { vec![] };
        Ok(Self { input, blocks, features, hidden, outputs, global_pool: config.global_pool })
    }

    /// The network's weights: every convolution's kernels and batch-norm's γ and β, every dense
    /// layer's weights and biases.
    pub fn parameters(&self) -> u64 {
        let blocks: usize = self.blocks.iter().map(|b| b.c_out * (b.c_in * KERNEL * KERNEL + 2)).sum();
        let mut d_in = self.features;
        let mut dense = 0;
        for &d_out in self.hidden.iter().chain([&self.outputs]) {
            dense += (d_in + 1) * d_out;
            d_in = d_out;
        }
        (blocks + dense) as u64
    }

    /// Floats of one example's im2col rows, over every convolution (the CPU's GEMMs keep them
    /// for the kernels' gradient: nine input pixels per output pixel).
    pub fn im2col_per_example(&self) -> u64 {
        self.blocks.iter().map(|b| KERNEL * KERNEL * b.c_in * b.conv_hw[0] * b.conv_hw[1]).sum::<usize>() as u64
    }

    /// Floats of one example's largest layer: a convolution's im2col rows and output, or the
    /// input (what a forward pass that keeps nothing holds at once, at most).
    pub fn largest_layer_per_example(&self) -> u64 {
        let blocks = self.blocks.iter().map(|b| (KERNEL * KERNEL * b.c_in + b.c_out) * b.conv_hw[0] * b.conv_hw[1]);
        blocks.chain([self.input.numel(), self.features]).max().unwrap_or(0) as u64
    }

    /// Floats one example's forward pass makes, layer by layer: the input, every convolution's
    /// and pool's output, the features, the hidden layers' and the outputs.
    pub fn activations_per_example(&self) -> u64 {
        let blocks: usize = self.blocks.iter().map(|b| b.c_out * (b.conv_hw[0] * b.conv_hw[1] + if b.pool { b.out_hw[0] * b.out_hw[1] } else { 0 })).sum();
        (self.input.numel() + blocks + self.features + self.hidden.iter().sum::<usize>() + self.outputs) as u64
    }
}
