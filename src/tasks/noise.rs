//! The control: uniform images plus Gaussian noise, labels unrelated to the images; no learner can beat chance.
//!
//! Reproduces the seed article's simulated tasks: every image, support and query alike, is drawn
//! independently (uniform pixels in [0, 1] plus N(0, σ²) noise) and labels are balanced and
//! assigned without looking at the images, so the support set says nothing about the query set.

use super::{Labels, Set, Split, Task, TaskMeta, TaskSampler};
use crate::config::TaskConfig;
use super::InputShape;
use crate::rng::Rng;

pub struct Noise {
    shape: InputShape,
    std: f64,
    ways: usize,
    shots: usize,
    queries: usize,
}

impl Noise {
    pub fn new(config: &TaskConfig) -> Self {
        Self {
            shape: InputShape::image(config.noise_channels, config.noise_side),
            std: config.noise_std,
            ways: config.ways,
            shots: config.shots,
            queries: config.queries,
        }
    }

    fn set(&self, per_class: usize, rng: &mut Rng) -> Set {
        let n = self.ways * per_class;
        let x = (0..n * self.shape.numel()).map(|_| (rng.next_f64() + self.std * rng.normal()) as f32).collect();
        let labels = (0..self.ways).flat_map(|c| std::iter::repeat_n(c, per_class)).collect();
        Set { x, n, labels: Labels::Classes { labels, ways: self.ways } }
    }
}

impl TaskSampler for Noise {
    fn sample(&self, _split: Split, rng: &mut Rng) -> Task {
        Task { support: self.set(self.shots, rng), query: self.set(self.queries, rng), meta: TaskMeta::Noise }
    }

    fn input_shape(&self) -> InputShape {
        self.shape
    }

    fn outputs(&self) -> usize {
        self.ways
    }
}
