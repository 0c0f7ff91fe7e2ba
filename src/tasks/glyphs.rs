//! Procedural glyphs: 1,623 handwritten-looking character classes drawn exactly to `docs/glyphs.md`.
//!
//! An Omniglot stand-in with real shared structure (strokes, arcs, curves) and no download.
//! Every class and every instance is a pure function of its ids through SplitMix64 streams, so a
//! port in any language draws the same pixels (up to libm's last-ulp rounding of sin/cos).

use crate::rng::{Rng, mix64};
use std::borrow::Cow;
use std::f64::consts::PI;
use std::sync::{LazyLock, OnceLock};

pub const SIDE: usize = 28;
pub const NUM_CLASSES: usize = 1623;
pub const INSTANCES_PER_CLASS: usize = 20;
/// Meta-train classes are `0..META_TRAIN_CLASSES`, meta-test the rest (the usual 1200/423 split).
pub const META_TRAIN_CLASSES: usize = 1200;

const CLASS_SALT: u64 = 0xC1A5_5EED;
const INSTANCE_SALT: u64 = 0x125E_ED00;
const N_PTS: usize = 16;
const NOISE: f64 = 0.15;
/// Canonical units per pixel: the square [-1, 1]^2 spans 28 pixels.
pub const PX: f64 = 2.0 / SIDE as f64;

/// A point in canonical coordinates.
pub type Point = (f64, f64);

/// A class: its strokes as 16-point polylines in canonical coordinates, and the base half-width.
#[derive(Clone, Debug)]
pub struct GlyphClass {
    pub strokes: Vec<[Point; N_PTS]>,
    pub half_width: f64,
    state0: u64,
}

fn class_state0(class_id: u64) -> u64 {
    mix64(class_id.wrapping_add(CLASS_SALT))
}

fn point(rng: &mut Rng, lo: f64, hi: f64) -> Point {
    let x = rng.uniform(lo, hi); // x is always drawn before y
    let y = rng.uniform(lo, hi);
    (x, y)
}

impl GlyphClass {
    pub fn new(class_id: usize) -> Self {
        let state0 = class_state0(class_id as u64);
        let mut rng = Rng::new(state0);
        let n_strokes = 2 + rng.int_below(3);
        let half_width = rng.uniform(0.7, 1.2);
        let strokes = (0..n_strokes).map(|_| stroke(&mut rng)).collect();
        Self { strokes, half_width, state0 }
    }

    /// Instance `instance_id` as 28x28 row-major intensities in [0, 1], ink = 1.
    pub fn render(&self, instance_id: usize) -> Vec<f32> {
        let mut rng = Rng::new(mix64(self.state0 ^ mix64((instance_id as u64).wrapping_add(INSTANCE_SALT))));
        let theta = rng.uniform(-10.0, 10.0).to_radians();
        let scale = rng.uniform(0.9, 1.1);
        let (tx, ty) = (rng.uniform(-2.0, 2.0) * PX, rng.uniform(-2.0, 2.0) * PX);
        let width_mult = rng.uniform(0.8, 1.25);
        let (sin, cos) = (theta.sin(), theta.cos());
        let place = |(x, y): Point| (scale * (cos * x - sin * y) + tx, scale * (sin * x + cos * y) + ty);
        let segments: Vec<(Point, Point)> = self
            .strokes
            .iter()
            .flat_map(|s| s.windows(2).map(|w| (place(w[0]), place(w[1]))).collect::<Vec<_>>())
            .collect();
        rasterise(&segments, self.half_width * width_mult, NOISE, &mut rng)
    }
}

/// The spec's render: segments (canonical coordinates) as 28x28 row-major intensities, ink
/// I = clamp(w + 0.5 - d / PX, 0, 1) with `w` the half-width in pixels and d the distance to the
/// nearest segment, then `noise` added to each pixel in row-major order from `rng` and clamped.
/// The glyphs' instances and the strokes a person draws in the page (`web::render_strokes`).
pub fn rasterise(segments: &[(Point, Point)], w: f64, noise: f64, rng: &mut Rng) -> Vec<f32> {
    // Only pixels within w + 0.5 pixels of a segment get ink, so each segment visits just
    // its bounding box grown by that reach; every other pixel stays at distance infinity
    // and clamps to 0, exactly as the spec's minimum over all segments would give.
    let reach = (w + 0.5) * PX;
    let to_index = |v: f64| (v + 1.0) / PX - 0.5; // canonical coordinate -> pixel index
    let clip = |v: f64| v.clamp(0.0, (SIDE - 1) as f64) as usize;
    // squared distances: the square root, monotonic, is taken once per pixel at the end
    let mut dist2 = vec![f64::INFINITY; SIDE * SIDE];
    for &(a, b) in segments {
        let (c0, c1) = (clip(to_index(a.0.min(b.0) - reach).floor() - 1.0), clip(to_index(a.0.max(b.0) + reach).ceil() + 1.0));
        let (r0, r1) = (clip(to_index(a.1.min(b.1) - reach).floor() - 1.0), clip(to_index(a.1.max(b.1) + reach).ceil() + 1.0));
        for r in r0..=r1 {
            for c in c0..=c1 {
                let q = ((c as f64 + 0.5) * PX - 1.0, (r as f64 + 0.5) * PX - 1.0);
                let d2 = &mut dist2[r * SIDE + c];
                *d2 = d2.min(segment_distance_squared(q, a, b));
            }
        }
    }
    let pixels = dist2.into_iter().map(|d2| (w + 0.5 - d2.sqrt() / PX).clamp(0.0, 1.0));
    pixels
        .map(|i| (i + rng.uniform(-noise, noise)).clamp(0.0, 1.0) as f32)
        .collect()
}

fn stroke(rng: &mut Rng) -> [Point; N_PTS] {
    let curve: Box<dyn Fn(f64) -> Point> = match rng.int_below(3) {
        0 => {
            let p0 = point(rng, -0.7, 0.7);
            let p1 = loop {
                let p1 = point(rng, -0.7, 0.7);
                if (p1.0 - p0.0).hypot(p1.1 - p0.1) >= 0.4 {
                    break p1;
                }
            };
            Box::new(move |t| (p0.0 + t * (p1.0 - p0.0), p0.1 + t * (p1.1 - p0.1)))
        }
        1 => {
            let (cx, cy) = point(rng, -0.35, 0.35);
            let rad = rng.uniform(0.2, 0.55);
            let a0 = rng.uniform(0.0, 2.0 * PI);
            let mut sweep = rng.uniform(PI / 2.0, 3.0 * PI / 2.0);
            if rng.next_f64() < 0.5 {
                sweep = -sweep;
            }
            Box::new(move |t| (cx + rad * (a0 + sweep * t).cos(), cy + rad * (a0 + sweep * t).sin()))
        }
        _ => {
            let q: [Point; 4] = std::array::from_fn(|_| point(rng, -0.7, 0.7));
            Box::new(move |t| {
                let u = 1.0 - t;
                let (b0, b1, b2, b3) = (u * u * u, 3.0 * u * u * t, 3.0 * u * t * t, t * t * t);
                (
                    b0 * q[0].0 + b1 * q[1].0 + b2 * q[2].0 + b3 * q[3].0,
                    b0 * q[0].1 + b1 * q[1].1 + b2 * q[2].1 + b3 * q[3].1,
                )
            })
        }
    };
    std::array::from_fn(|k| curve(k as f64 / (N_PTS - 1) as f64))
}

/// Squared Euclidean distance from `q` to the segment `a`-`b`.
fn segment_distance_squared(q: Point, a: Point, b: Point) -> f64 {
    let (abx, aby) = (b.0 - a.0, b.1 - a.1);
    let len2 = abx * abx + aby * aby;
    let t = if len2 == 0.0 { 0.0 } else { (((q.0 - a.0) * abx + (q.1 - a.1) * aby) / len2).clamp(0.0, 1.0) };
    let (dx, dy) = (q.0 - a.0 - t * abx, q.1 - a.1 - t * aby);
    dx * dx + dy * dy
}

/// Every image rendered so far, by class id and instance: a run draws the same 24,000 meta-train
/// images again and again, and rendering one costs more than a meta-iteration spends on it
/// (BENCHMARKS.md, "The max-pool as a gather, glyphs rendered once"). At most all of them: `CACHE_BYTES`, one per process
/// (the page's worker keeps them from run to run).
static RENDERED: LazyLock<Vec<OnceLock<Box<[f32]>>>> = LazyLock::new(|| (0..NUM_CLASSES * INSTANCES_PER_CLASS).map(|_| OnceLock::new()).collect());

/// The most memory the rendered images take: every class's every instance.
pub const CACHE_BYTES: u64 = (NUM_CLASSES * INSTANCES_PER_CLASS * SIDE * SIDE * 4) as u64;

/// Instance `instance` of class `class_id`, rendered on first use.
pub fn rendered(class_id: usize, instance: usize) -> &'static [f32] {
    RENDERED[class_id * INSTANCES_PER_CLASS + instance].get_or_init(|| GlyphClass::new(class_id).render(instance).into_boxed_slice())
}

/// A contiguous range of glyph classes: meta-train is `0..1200`, meta-test `1200..1623`.
pub struct GlyphPool {
    first: usize,
    count: usize,
}

impl GlyphPool {
    pub fn train() -> Self {
        Self { first: 0, count: META_TRAIN_CLASSES }
    }
    pub fn test() -> Self {
        Self { first: META_TRAIN_CLASSES, count: NUM_CLASSES - META_TRAIN_CLASSES }
    }
}

impl super::ClassPool for GlyphPool {
    fn num_classes(&self) -> usize {
        self.count
    }
    fn instances(&self, _class: usize) -> usize {
        INSTANCES_PER_CLASS
    }
    fn image(&self, class: usize, instance: usize) -> Cow<'_, [f32]> {
        Cow::Borrowed(rendered(self.first + class, instance))
    }
    fn shape(&self) -> super::InputShape {
        super::InputShape::image(1, SIDE)
    }
    fn class_id(&self, class: usize) -> usize {
        self.first + class
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[ignore = "a timing, not a test: cargo test --release -- --ignored --nocapture render_speed"]
    fn render_speed() {
        let t = std::time::Instant::now();
        let n: f32 = (0..2000).map(|i| GlyphClass::new(i % 1623).render(i % 20)[400]).sum();
        println!("{:.1} µs per image ({n})", t.elapsed().as_secs_f64() * 1e6 / 2000.0);
    }

    fn summary(class_id: usize, instance: usize) -> (f64, usize, f32) {
        let img = GlyphClass::new(class_id).render(instance);
        let sum = img.iter().map(|&v| v as f64).sum();
        (sum, img.iter().filter(|&&v| v > 0.5).count(), img[14 * SIDE + 14])
    }

    #[test]
    fn a_kept_image_is_the_image_rendered_again() {
        for (class_id, instance) in [(0, 0), (1622, 19), (1200, 7)] {
            let first = rendered(class_id, instance).to_vec();
            assert_eq!(first, GlyphClass::new(class_id).render(instance));
            assert_eq!(rendered(class_id, instance), &first[..]);
            assert!(std::ptr::eq(rendered(class_id, instance), rendered(class_id, instance)), "rendered once");
        }
    }

    #[test]
    fn class_stream_matches_spec() {
        assert_eq!(class_state0(0), 0xc84d0db3ebdc3d14);
        let c = GlyphClass::new(0);
        assert_eq!(c.strokes.len(), 3);
        assert!((c.half_width - 0.9303798830169899).abs() < 1e-15);
        assert!((c.strokes[0][0].0 - -0.611175528190611).abs() < 1e-14);
        assert!((c.strokes[0][0].1 - 0.06897478599942752).abs() < 1e-14);
    }

    #[test]
    fn rendered_instances_match_spec_vectors() {
        for (class_id, instance, sum, dark, centre) in [
            (0, 0, 101.232455, 75, 0.192593),
            (0, 1, 91.412480, 71, 0.895428),
            (1200, 0, 94.890980, 72, 1.000000),
        ] {
            let (s, d, c) = summary(class_id, instance);
            assert!((s - sum).abs() < 1e-4, "class {class_id}/{instance}: sum {s} != {sum}");
            assert_eq!(d, dark, "class {class_id}/{instance}: pixels > 0.5");
            assert!((c as f64 - centre).abs() < 1e-5, "class {class_id}/{instance}: centre {c} != {centre}");
        }
    }
}
