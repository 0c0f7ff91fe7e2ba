//! Sinusoid regression (Finn et al. 2017, section 5.1): y = A sin(x - φ), K support and Q query points.

use super::{Labels, Set, Split, Task, TaskMeta, TaskSampler};
use crate::config::TaskConfig;
use super::InputShape;
use crate::rng::Rng;

pub struct Sinusoid {
    amplitude: [f64; 2],
    phase: [f64; 2],
    input_range: [f64; 2],
    shots: usize,
    queries: usize,
}

impl Sinusoid {
    pub fn new(config: &TaskConfig) -> Self {
        Self {
            amplitude: config.amplitude,
            phase: config.phase,
            input_range: config.input_range,
            shots: config.shots,
            queries: config.queries,
        }
    }

    fn points(&self, n: usize, amplitude: f64, phase: f64, rng: &mut Rng) -> Set {
        let [lo, hi] = self.input_range;
        let x: Vec<f64> = (0..n).map(|_| rng.uniform(lo, hi)).collect();
        let y = x.iter().map(|&x| (amplitude * (x - phase).sin()) as f32).collect();
        Set { x: x.into_iter().map(|v| v as f32).collect(), n, labels: Labels::Values(y) }
    }
}

impl TaskSampler for Sinusoid {
    /// Every task is a fresh function, so the two splits differ only by the stream they draw
    /// from (the caller's RNG); the function family is the same, as in the paper.
    fn sample(&self, _split: Split, rng: &mut Rng) -> Task {
        let amplitude = rng.uniform(self.amplitude[0], self.amplitude[1]);
        let phase = rng.uniform(self.phase[0], self.phase[1]);
        let support = self.points(self.shots, amplitude, phase, rng);
        let query = self.points(self.queries, amplitude, phase, rng);
        Task { support, query, meta: TaskMeta::Sinusoid { amplitude, phase } }
    }

    fn input_shape(&self) -> InputShape {
        InputShape::vector(1)
    }

    fn outputs(&self) -> usize {
        1
    }
}
