//! Strokes a person draws in the page, rendered as the image tasks' input by the glyphs' own renderer.

#[cfg(target_family = "wasm")]
use wasm_bindgen::prelude::*;

use crate::rng::{Rng, mix64};
use crate::tasks::glyphs;

/// Strokes a person draws as the image tasks' 28x28 input, by the glyphs' own renderer
/// (`glyphs::rasterise`: docs/glyphs.md's ink ramp and pixel noise). `points`: x, y pairs in input
/// pixels (a pixel's centre at +0.5); `lengths`: the points of each stroke in turn (one point is a
/// dot); `half_width` in pixels; `noise`: the pixel noise's amplitude (0 for none), drawn from a
/// SplitMix64 stream of `seed`, so a canvas renders the same every time. Row-major, ink 1.
#[cfg_attr(target_family = "wasm", wasm_bindgen)]
pub fn render_strokes(points: &[f64], lengths: &[u32], half_width: f64, noise: f64, seed: u32) -> Vec<f32> {
    let canonical = |k: usize| (points[2 * k] * glyphs::PX - 1.0, points[2 * k + 1] * glyphs::PX - 1.0);
    let mut segments = Vec::new();
    let mut first = 0;
    for &n in lengths {
        let n = n as usize;
        if first + n > points.len() / 2 || n == 0 {
            break; // more points named than given: the rest is not drawn
        }
        if n == 1 {
            segments.push((canonical(first), canonical(first)));
        }
        segments.extend((first..first + n - 1).map(|k| (canonical(k), canonical(k + 1))));
        first += n;
    }
    glyphs::rasterise(&segments, half_width, noise, &mut Rng::new(mix64(seed as u64)))
}

#[cfg(test)]
mod tests {
    use super::render_strokes;

    #[test]
    fn a_drawn_dot_is_the_glyphs_ink_ramp() {
        // a dot at the centre of pixel (row 14, column 14), half-width 1: ink 1 there, the ramp
        // w + 0.5 - d a pixel away, nothing two pixels away
        let image = render_strokes(&[14.5, 14.5], &[1], 1.0, 0.0, 7);
        let at = |r: usize, c: usize| image[r * 28 + c];
        assert_eq!(image.len(), 28 * 28);
        assert!((at(14, 14) - 1.0).abs() < 1e-6 && (at(14, 15) - 0.5).abs() < 1e-6 && at(14, 16) == 0.0);
        assert_eq!(image.iter().filter(|&&v| v > 0.0).count(), 9, "the pixel and its eight neighbours (the diagonal ones at 1.5 - √2)");
    }

    #[test]
    fn drawn_strokes_take_the_noise_of_their_seed() {
        let line = [3.0, 4.0, 20.0, 22.0, 9.0, 25.0];
        let noisy = render_strokes(&line, &[3], 0.97, 0.15, 1);
        assert_eq!(noisy, render_strokes(&line, &[3], 0.97, 0.15, 1), "the same seed, the same pixels");
        assert_ne!(noisy, render_strokes(&line, &[3], 0.97, 0.15, 2));
        let clean = render_strokes(&line, &[3], 0.97, 0.0, 1);
        assert!(noisy.iter().zip(&clean).all(|(n, c)| (n - c).abs() <= 0.15 + 1e-6));
        // two strokes are not joined: no ink halfway from the first's end (20, 22) to the second's start (9, 25)
        let two = render_strokes(&[3.0, 4.0, 20.0, 22.0, 9.0, 25.0, 25.0, 3.0], &[2, 2], 0.97, 0.0, 1);
        assert_eq!(two[23 * 28 + 14], 0.0);
        assert!(two[4 * 28 + 3] > 0.9 && two[3 * 28 + 24] > 0.9, "both strokes drawn");
    }
}
