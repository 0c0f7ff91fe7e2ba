//! SplitMix64: the one source of randomness, so a seed reproduces tasks and initial weights on every backend.
//!
//! The generator and its helpers follow `docs/glyphs.md` exactly (the glyph family's test
//! vectors depend on it); the samplers and the initialisation draw from it too, on the host, so
//! the CPU and WebGPU paths see the same numbers for the same seed.

/// Golden-ratio increment of SplitMix64.
const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// The SplitMix64 finaliser (Steele, Lea, Flood 2014).
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A generator whose first output is `mix64(state0 + GAMMA)`.
    pub fn new(state0: u64) -> Self {
        Self { state: state0 }
    }

    /// An independent stream for `(seed, stream)`: used to give meta-train, meta-test,
    /// initialisation and evaluation their own reproducible sequences.
    pub fn stream(seed: u64, stream: u64) -> Self {
        Self::new(mix64(seed ^ mix64(stream.wrapping_add(GAMMA))))
    }

    /// Where the generator is: `Rng::new(rng.state())` continues its sequence exactly (a
    /// checkpoint keeps the meta-train stream this way).
    pub fn state(&self) -> u64 {
        self.state
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GAMMA);
        mix64(self.state)
    }

    /// Uniform in [0, 1) with 53 bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    pub fn uniform(&mut self, a: f64, b: f64) -> f64 {
        a + (b - a) * self.next_f64()
    }

    /// Uniform integer in [0, n).
    pub fn int_below(&mut self, n: usize) -> usize {
        (self.next_f64() * n as f64) as usize
    }

    /// Standard normal by Box-Muller (one value per call; simple and deterministic).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.next_f64(); // (0, 1]: ln is finite
        let u2 = self.next_f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Fisher-Yates shuffle.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.int_below(i + 1);
            items.swap(i, j);
        }
    }

    /// `k` distinct values of `0..n`, in random order.
    pub fn choose(&mut self, n: usize, k: usize) -> Vec<usize> {
        assert!(k <= n, "cannot choose {k} distinct values of {n}");
        let mut all: Vec<usize> = (0..n).collect();
        // partial Fisher-Yates: the first k slots end up a uniform random k-permutation
        for i in 0..k {
            let j = i + self.int_below(n - i);
            all.swap(i, j);
        }
        all.truncate(k);
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_matches_the_spec_vectors() {
        let mut r = Rng::new(0);
        assert_eq!(r.next_u64(), 0xe220a8397b1dcdaf);
        assert_eq!(r.next_u64(), 0x6e789e6aa1b965f4);
        assert_eq!(r.next_u64(), 0x06c45d188009454f);
    }

    #[test]
    fn choose_gives_distinct_values_in_range() {
        let mut r = Rng::new(3);
        let c = r.choose(20, 20);
        let mut s = c.clone();
        s.sort();
        assert_eq!(s, (0..20).collect::<Vec<_>>());
        assert!(r.choose(1623, 5).iter().all(|&v| v < 1623));
    }

    #[test]
    fn normal_has_unit_moments() {
        let mut r = Rng::new(11);
        let xs: Vec<f64> = (0..100_000).map(|_| r.normal()).collect();
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / xs.len() as f64;
        assert!(mean.abs() < 0.02, "mean {mean}");
        assert!((var - 1.0).abs() < 0.02, "var {var}");
    }
}
