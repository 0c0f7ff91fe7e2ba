//! Augmentation within tasks: each image of a meta-train task slightly shifted, turned, scaled and its strokes made thinner or thicker, drawn afresh every time a task is sampled.
//!
//! Ink is 1 on a 0 background. The affine part resamples bilinearly (ink from outside the
//! image is 0), so values stay in [0, 1]; the stroke part blends the image half-way with its
//! 3x3 grey-scale erosion (min filter) or dilation (max filter), a change of about half a pixel
//! of stroke width. The ranges are for 28x28 and scale with the side: shifts up to ±2 px,
//! rotations up to ±10°, scales 0.9 to 1.1. The 90° rotations that make new Omniglot classes
//! are not this: they are classes of their own (`TaskConfig::rotations`).

use super::InputShape;
use crate::rng::Rng;

/// The RNG stream of augmentation (`trainer::streams::AUGMENT`): a task's generator is
/// `Rng::stream(state, STREAM)` of the task stream's `state` before the task is drawn, so that
/// augmenting draws nothing from the task stream (the same tasks with it on or off) and the
/// same seed gives the same pixels.
pub const STREAM: u64 = 7;

/// Largest shift, in pixels of a 28x28 image.
pub const MAX_SHIFT: f64 = 2.0;
/// Largest rotation, in degrees either way.
pub const MAX_ROTATION_DEGREES: f64 = 10.0;
/// The range of scales.
pub const SCALE: [f64; 2] = [0.9, 1.1];

/// A similarity transform about the image's centre: scale, then rotate, then shift.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Affine {
    /// Pixels right and down.
    pub shift: [f64; 2],
    /// Radians, counter-clockwise as the image is seen (rows run downwards).
    pub rotation: f64,
    pub scale: f64,
}

/// What happens to the strokes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stroke {
    Thinner,
    Same,
    Thicker,
}

/// One image's random change, drawn from `rng` for an image of `side` pixels.
pub fn draw(side: usize, rng: &mut Rng) -> (Affine, Stroke) {
    let max_shift = MAX_SHIFT * side as f64 / 28.0;
    let max_rotation = MAX_ROTATION_DEGREES.to_radians();
    let affine = Affine {
        shift: [rng.uniform(-max_shift, max_shift), rng.uniform(-max_shift, max_shift)],
        rotation: rng.uniform(-max_rotation, max_rotation),
        scale: rng.uniform(SCALE[0], SCALE[1]),
    };
    let stroke = [Stroke::Thinner, Stroke::Same, Stroke::Thicker][rng.int_below(3)];
    (affine, stroke)
}

/// `image` (`shape`, channel by channel) with a change drawn from `rng`: the affine, then the stroke.
pub fn augment(image: &[f32], shape: InputShape, rng: &mut Rng) -> Vec<f32> {
    let (a, s) = draw(shape.height.max(shape.width), rng);
    stroke(&affine(image, shape, &a), shape, s)
}

/// `image` moved by `a`: each output pixel samples the input bilinearly where `a`'s inverse takes
/// it, with 0 outside the image.
pub fn affine(image: &[f32], shape: InputShape, a: &Affine) -> Vec<f32> {
    let (h, w) = (shape.height, shape.width);
    debug_assert_eq!(image.len(), shape.numel());
    let (cy, cx) = ((h as f64 - 1.0) / 2.0, (w as f64 - 1.0) / 2.0);
    let (sin, cos) = a.rotation.sin_cos();
    let at = |plane: &[f32], r: isize, c: isize| {
        if r < 0 || c < 0 || r >= h as isize || c >= w as isize { 0.0 } else { plane[r as usize * w + c as usize] as f64 }
    };
    let mut out = vec![0.0; image.len()];
    for (plane, out) in image.chunks(h * w).zip(out.chunks_mut(h * w)) {
        for r in 0..h {
            for c in 0..w {
                // the output pixel about the centre, with y up, undone: shift, rotation, scale
                let (x, y) = (c as f64 - cx - a.shift[0], -(r as f64 - cy - a.shift[1]));
                let (x, y) = ((cos * x + sin * y) / a.scale, (-sin * x + cos * y) / a.scale);
                let (sr, sc) = (cy - y, cx + x);
                let (r0, c0) = (sr.floor(), sc.floor());
                let (fr, fc) = (sr - r0, sc - c0);
                let (r0, c0) = (r0 as isize, c0 as isize);
                let v = (1.0 - fr) * ((1.0 - fc) * at(plane, r0, c0) + fc * at(plane, r0, c0 + 1))
                    + fr * ((1.0 - fc) * at(plane, r0 + 1, c0) + fc * at(plane, r0 + 1, c0 + 1));
                out[r * w + c] = v.clamp(0.0, 1.0) as f32;
            }
        }
    }
    out
}

/// `image` half-way to its 3x3 erosion (`Thinner`) or dilation (`Thicker`), neighbours outside
/// the image left out; `Same` leaves it as it is.
pub fn stroke(image: &[f32], shape: InputShape, stroke: Stroke) -> Vec<f32> {
    let pick: fn(f32, f32) -> f32 = match stroke {
        Stroke::Same => return image.to_vec(),
        Stroke::Thinner => f32::min,
        Stroke::Thicker => f32::max,
    };
    let (h, w) = (shape.height, shape.width);
    let mut out = vec![0.0; image.len()];
    for (plane, out) in image.chunks(h * w).zip(out.chunks_mut(h * w)) {
        for r in 0..h {
            for c in 0..w {
                let v = plane[r * w + c];
                let mut filtered = v;
                for nr in r.saturating_sub(1)..(r + 2).min(h) {
                    for nc in c.saturating_sub(1)..(c + 2).min(w) {
                        filtered = pick(filtered, plane[nr * w + nc]);
                    }
                }
                out[r * w + c] = (0.5 * (v + filtered)).clamp(0.0, 1.0);
            }
        }
    }
    out
}
