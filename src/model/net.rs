//! The networks (mlp, conv4, seed-cnn) as one sequential stack: conv blocks, hidden dense layers, a linear head.

use burn::prelude::*;

use super::conv::{Conv, ConvCache};
use super::dense::{Dense, relu};
use super::grads::Grads;
use super::layout::{self, Layout};
use super::loss::Target;
use super::norm::{BatchNorm, BatchNormCache};
use super::plan::Plan;
use super::pool::MaxPoolCache;
use crate::config::ModelConfig;
use crate::rng::Rng;
use crate::tasks::InputShape;

/// [3x3 conv, batch-norm, ReLU] and, for max-pool downsampling, a 2x2 max-pool (computed
/// before the ReLU, which commutes with it).
#[derive(Module, Debug)]
pub struct ConvBlock {
    pub conv: Conv,
    pub norm: BatchNorm,
    pub pool: bool,
}

#[derive(Module, Debug)]
pub struct Network {
    pub blocks: Vec<ConvBlock>,
    pub hidden: Vec<Dense>,
    pub head: Dense,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub global_pool: bool,
    /// How its conv activations are laid out (`model::layout`): chosen when it is built, kept
    /// by its clones, adapted copies and copies on another device.
    #[module(skip)]
    pub layout: &'static dyn Layout,
}

/// What `Network::loss_and_grads` computes in one forward and one hand-written backward.
pub struct LossAndGrads {
    /// Each task's mean loss, `[tasks]`.
    pub loss: Tensor<1>,
    /// The network's outputs, `[tasks, n, outputs]`.
    pub outputs: Tensor<3>,
    /// d(Σ_tasks loss)/dθ for every parameter, tracked on an autodiff device.
    pub grads: Grads,
}

/// What a conv block's backward needs from its forward.
struct BlockCache {
    conv: ConvCache,
    norm: BatchNormCache,
    relu_mask: Tensor<4>,
    pool: Option<MaxPoolCache>,
}

impl Network {
    /// Builds the network for inputs of `input` and `outputs` outputs (its shapes: `Plan`),
    /// drawing the initial weights from `rng`: PyTorch's default uniform for weights and biases
    /// (`model::init`), batch-norm γ = 1 and β = 0. Its conv activations take the layout that
    /// `device` is fast in.
    pub fn new(config: &ModelConfig, input: InputShape, outputs: usize, rng: &mut Rng, device: &Device) -> Result<Self, String> {
        let plan = Plan::new(config, input, outputs)?;
        let blocks = plan.blocks.iter().map(|b| ConvBlock { conv: Conv::new(b.c_in, b.c_out, b.stride, rng, device), norm: BatchNorm::new(b.c_out, device), pool: b.pool }).collect();
        let mut features = plan.features;
        let hidden = plan.hidden.iter().map(|&width| {
            let dense = Dense::new(features, width, rng, device);
            features = width;
            dense
        }).collect();
        let head = Dense::new(features, outputs, rng, device);
        let [channels, height, width] = [input.channels, input.height, input.width];
        Ok(Self { blocks, hidden, head, channels, height, width, global_pool: plan.global_pool, layout: layout::of(device) })
    }

    /// The same network with its conv activations in `layout` (the tests run the GPU's layout
    /// on the CPU).
    pub fn in_layout(self, layout: &'static dyn Layout) -> Self {
        Self { layout, ..self }
    }

    /// Its conv blocks' batch-norms, in order.
    pub fn norms(&self) -> Vec<BatchNorm> {
        self.blocks.iter().map(|b| b.norm.clone()).collect()
    }

    /// The same network with its conv blocks' batch-norms replaced by `norms`, in order (MAML++'s
    /// per-step batch-norm: each inner step's own).
    pub fn with_norms(mut self, norms: &[BatchNorm]) -> Self {
        assert_eq!(norms.len(), self.blocks.len(), "a batch-norm per conv block");
        for (block, norm) in self.blocks.iter_mut().zip(norms) {
            block.norm = norm.clone();
        }
        self
    }

    /// The device its parameters live on.
    pub fn device(&self) -> Device {
        self.head.bias.val().device()
    }

    /// Tasks whose weights this network holds: 1 for the meta-parameters, the meta-batch for
    /// the adapted weights (see `model::dense`).
    pub fn tasks(&self) -> usize {
        self.head.bias.dims()[0]
    }

    /// `[tasks, n, C H W]` as images in its layout.
    fn as_image(&self, x: Tensor<3>) -> Tensor<4> {
        self.layout.images(x, [self.channels, self.height, self.width])
    }

    /// Outputs (logits or regression values) `[tasks, n, outputs]` for `x: [tasks, n, features]`,
    /// task t through weights t.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        self.head.forward(self.body(x))
    }

    /// Everything before the head: the features the head sees, `[tasks, n, d]` (ANIL's body).
    pub fn body(&self, x: Tensor<3>) -> Tensor<3> {
        let mut h = if self.blocks.is_empty() { x } else { self.features(self.conv_forward(x, None)) };
        for dense in &self.hidden {
            h = relu(dense.forward(h)).0;
        }
        h
    }

    /// The head alone, as a network that takes the body's features as its input (ANIL's fast
    /// weights). Its parameters are the head's own, ids included.
    pub fn head_only(&self) -> Network {
        let features = self.head.weight.dims()[1];
        Network { blocks: vec![], hidden: vec![], head: self.head.clone(), channels: features, height: 1, width: 1, global_pool: false, layout: self.layout }
    }

    fn conv_forward(&self, x: Tensor<3>, mut caches: Option<&mut Vec<BlockCache>>) -> Tensor<4> {
        let layout = self.layout;
        let mut h = self.as_image(x);
        for block in &self.blocks {
            let (z, conv) = layout.conv(&block.conv, h);
            let stats = layout.stats(z.dims(), block.norm.tasks());
            let (mut y, norm) = block.norm.forward(z, stats);
            // max-pool before the ReLU, which then sees a quarter of the values: the same
            // function (the ReLU is monotonic, so it commutes with a max) and the same gradient
            // (a window's first maximum is the same either way, and a window whose maximum is
            // not positive passes no gradient either way)
            let mut pool = None;
            if block.pool {
                let (pooled, cache) = layout.max_pool(y);
                (y, pool) = (pooled, Some(cache));
            }
            let (a, relu_mask) = relu(y);
            if let Some(caches) = caches.as_deref_mut() {
                caches.push(BlockCache { conv, norm, relu_mask, pool });
            }
            h = a;
        }
        h
    }

    /// The conv output as features `[tasks, n, c']`, ordered (c, h, w) in either layout.
    fn features(&self, h: Tensor<4>) -> Tensor<3> {
        if self.global_pool { self.layout.global_mean_pool(h, self.tasks()) } else { self.layout.features(h, self.tasks()) }
    }

    /// The gradient of `features` back to the conv output, whose dims are `dims`.
    fn features_backward(&self, dfeatures: Tensor<3>, dims: [usize; 4]) -> Tensor<4> {
        if self.global_pool { self.layout.global_mean_pool_backward(dfeatures, dims) } else { self.layout.features_backward(dfeatures, dims) }
    }

    /// Each task's mean loss, `[tasks]`.
    pub fn loss(&self, x: Tensor<3>, target: &Target) -> Tensor<1> {
        target.loss(self.forward(x))
    }

    /// Each task's loss, the outputs, and the gradient of the tasks' summed loss with respect to
    /// every parameter (so task t's weights get task t's gradient), computed by the hand-written
    /// backward. On an autodiff device the gradients stay connected to the parameters, which is
    /// what makes the meta-gradient exact.
    pub fn loss_and_grads(&self, x: Tensor<3>, target: &Target) -> LossAndGrads {
        // 1. forward, keeping what each backward needs
        let mut caches = Vec::with_capacity(self.blocks.len());
        let conv_out = (!self.blocks.is_empty()).then(|| self.conv_forward(x.clone(), Some(&mut caches)));
        let mut h = match &conv_out {
            Some(out) => self.features(out.clone()),
            None => x,
        };
        let mut hidden_in = Vec::with_capacity(self.hidden.len());
        for dense in &self.hidden {
            let (a, mask) = relu(dense.forward(h.clone()));
            hidden_in.push((h, mask));
            h = a;
        }
        let out = self.head.forward(h.clone());
        let (loss, dout) = target.loss_and_grad(out.clone());

        // 2. backward through the head and the hidden layers
        let mut grads = Grads::default();
        let need_dx = !self.hidden.is_empty() || !self.blocks.is_empty();
        let mut dh = self.head.backward(h, dout, need_dx, &mut grads);
        for (i, (dense, (input, mask))) in self.hidden.iter().zip(hidden_in).enumerate().rev() {
            let dz = dh.expect("a hidden layer's output gradient should exist") * mask;
            let first = i == 0 && self.blocks.is_empty();
            dh = dense.backward(input, dz, !first, &mut grads);
        }

        // 3. backward through the conv blocks, last to first
        if let Some(conv_out) = conv_out {
            let dfeatures = dh.expect("the features' gradient should exist");
            let mut da = self.features_backward(dfeatures, conv_out.dims());
            for (i, (block, cache)) in self.blocks.iter().zip(caches).enumerate().rev() {
                let mut dy = da * cache.relu_mask;
                if let Some(pool) = cache.pool {
                    dy = pool.backward(dy);
                }
                let dz = block.norm.backward(cache.norm, dy, &mut grads);
                match self.layout.conv_backward(&block.conv, cache.conv, dz, i > 0, &mut grads) {
                    Some(dx) => da = dx,
                    None => break,
                }
            }
        }
        LossAndGrads { loss, outputs: out, grads }
    }
}
