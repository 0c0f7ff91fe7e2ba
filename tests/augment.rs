//! Augmentation within tasks: each image operation against its geometry worked out by hand, and the sampler drawing the same tasks with it on or off, only meta-train pixels changed, the same bytes for the same seed.

use maml_lab::config::{TaskConfig, TaskKind};
use maml_lab::rng::Rng;
use maml_lab::tasks::augment::{self, Affine, Stroke};
use maml_lab::tasks::{self, InputShape, Split, Task};

mod common;

const SIDE: usize = 28;
const SHAPE: InputShape = InputShape { channels: 1, height: SIDE, width: SIDE };

/// An image with ink 1 where `ink(row, column)`.
fn image(ink: impl Fn(usize, usize) -> bool) -> Vec<f32> {
    (0..SIDE * SIDE).map(|i| if ink(i / SIDE, i % SIDE) { 1.0 } else { 0.0 }).collect()
}

/// The ink's mass, centroid (x right, y up, about the image's centre) and covariance [xx, xy, yy].
fn moments(img: &[f32]) -> (f64, [f64; 2], [f64; 3]) {
    let c = (SIDE as f64 - 1.0) / 2.0;
    let points = || img.iter().enumerate().map(|(i, &v)| ((i % SIDE) as f64 - c, c - (i / SIDE) as f64, v as f64));
    let mass: f64 = points().map(|(_, _, v)| v).sum();
    let (mx, my) = points().fold((0.0, 0.0), |(sx, sy), (x, y, v)| (sx + v * x, sy + v * y));
    let (mx, my) = (mx / mass, my / mass);
    let cov = points().fold([0.0; 3], |[a, b, d], (x, y, v)| [a + v * (x - mx).powi(2), b + v * (x - mx) * (y - my), d + v * (y - my).powi(2)]);
    (mass, [mx, my], cov.map(|s| s / mass))
}

/// The angle of the ink's principal axis, counter-clockwise from the x axis, in degrees.
fn principal_axis(img: &[f32]) -> f64 {
    let [xx, xy, yy] = moments(img).2;
    (0.5 * (2.0 * xy).atan2(xx - yy)).to_degrees()
}

fn still(shift: [f64; 2]) -> Affine {
    Affine { shift, rotation: 0.0, scale: 1.0 }
}

#[test]
fn a_shift_moves_the_ink_centroid_by_the_shift() {
    let blob = image(|r, c| (10..16).contains(&r) && (11..15).contains(&c));
    let (mass, [x0, y0], _) = moments(&blob);
    for shift in [[2.0, -1.0], [-1.5, 0.75], [0.3, 2.0]] {
        let (m, [x, y], _) = moments(&augment::affine(&blob, SHAPE, &still(shift)));
        // right is +x; down is +row, so -y
        assert!((x - x0 - shift[0]).abs() < 1e-5 && (y - y0 + shift[1]).abs() < 1e-5, "{shift:?}: moved ({}, {})", x - x0, y - y0);
        assert!((m - mass).abs() < 1e-4, "the ink's mass is kept: {m} against {mass}");
    }
    // an integer shift moves every pixel exactly
    let moved = augment::affine(&blob, SHAPE, &still([2.0, 1.0]));
    assert_eq!(moved, image(|r, c| (11..17).contains(&r) && (13..17).contains(&c)));
}

#[test]
fn a_rotation_turns_a_bar_s_principal_axis_by_its_angle() {
    let bar = image(|r, c| (13..15).contains(&r) && (5..23).contains(&c));
    assert!(principal_axis(&bar).abs() < 1e-9);
    for degrees in [10.0f64, -10.0, 25.0] {
        let turned = augment::affine(&bar, SHAPE, &Affine { shift: [0.0; 2], rotation: degrees.to_radians(), scale: 1.0 });
        let axis = principal_axis(&turned);
        assert!((axis - degrees).abs() < 1.0, "turned by {degrees}°: axis at {axis}°");
    }
}

#[test]
fn a_scale_multiplies_the_ink_s_second_moment_by_its_square() {
    let square = image(|r, c| (8..20).contains(&r) && (8..20).contains(&c));
    let spread = |img: &[f32]| {
        let [xx, _, yy] = moments(img).2;
        xx + yy
    };
    let before = spread(&square);
    for scale in [0.9, 1.1] {
        let ratio = spread(&augment::affine(&square, SHAPE, &Affine { shift: [0.0; 2], rotation: 0.0, scale })) / before;
        assert!((ratio - scale * scale).abs() < 0.03 * scale * scale, "scale {scale}: second moment × {ratio}, not {}", scale * scale);
    }
}

#[test]
fn dilation_never_lowers_a_pixel_and_erosion_never_raises_one() {
    let mut rng = Rng::new(5);
    let img: Vec<f32> = (0..SIDE * SIDE).map(|_| if rng.next_f64() < 0.3 { rng.next_f64() as f32 } else { 0.0 }).collect();
    let thicker = augment::stroke(&img, SHAPE, Stroke::Thicker);
    let thinner = augment::stroke(&img, SHAPE, Stroke::Thinner);
    assert!(thicker.iter().zip(&img).all(|(t, v)| t >= v));
    assert!(thinner.iter().zip(&img).all(|(t, v)| t <= v));
    assert_eq!(augment::stroke(&img, SHAPE, Stroke::Same), img);
    // half-way: a 2-pixel bar gains half a pixel of ink on each side, or loses half of itself
    let bar = image(|r, c| (13..15).contains(&r) && (5..23).contains(&c));
    let ink = |img: &[f32]| img.iter().map(|&v| v as f64).sum::<f64>();
    assert_eq!(ink(&augment::stroke(&bar, SHAPE, Stroke::Thicker)), ink(&bar) + 0.5 * (20.0 * 4.0 - 36.0));
    assert_eq!(ink(&augment::stroke(&bar, SHAPE, Stroke::Thinner)), 0.5 * ink(&bar));
}

#[test]
fn augmented_images_stay_in_0_1() {
    let mut rng = Rng::new(9);
    for _ in 0..200 {
        let img: Vec<f32> = (0..SIDE * SIDE).map(|_| rng.next_f64() as f32).collect();
        let out = augment::augment(&img, SHAPE, &mut rng);
        assert!(out.iter().all(|v| (0.0..=1.0).contains(v)));
    }
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3))
}

fn glyphs(augment: bool) -> TaskConfig {
    TaskConfig::new(TaskKind::Glyphs).with_queries(3).with_augment(augment)
}

/// `n` tasks of `split`, with the task stream's state before each.
fn tasks_of(config: &TaskConfig, split: Split, seed: u64, n: usize) -> Vec<(u64, Task)> {
    let sampler = tasks::sampler(config, &[], 0).unwrap();
    let mut rng = Rng::new(seed);
    (0..n).map(|_| (rng.state(), sampler.sample(split, &mut rng))).collect()
}

fn bytes(tasks: &[(u64, Task)]) -> Vec<u8> {
    tasks::encode_tasks(&tasks.iter().map(|(_, t)| t.clone()).collect::<Vec<_>>())
}

/// Off, the glyph tasks are byte for byte those the sampler drew before the option existed
/// (the hashes were taken at 9ac1a81).
#[test]
fn off_draws_the_very_tasks_of_before() {
    for (split, before) in [(Split::MetaTrain, 0x2ce2_800e_ca79_eb1b), (Split::MetaTest, 0xc65f_fb47_dca4_9d8a)] {
        assert_eq!(fnv(&bytes(&tasks_of(&glyphs(false), split, 7, 4))), before, "{split:?}");
    }
}

/// On, a meta-train task is the task drawn with it off, each image changed by the augmentation
/// stream of the task stream's state: the same classes, labels and images, only the pixels
/// moved. Meta-test tasks are untouched.
#[test]
fn on_changes_only_the_pixels_of_meta_train_tasks() {
    let (shots, queries) = (1, 3);
    let (off, on) = (tasks_of(&glyphs(false), Split::MetaTrain, 3, 6), tasks_of(&glyphs(true), Split::MetaTrain, 3, 6));
    for ((state, plain), (_, augmented)) in off.iter().zip(&on) {
        assert_eq!((&plain.meta, &plain.support.labels, &plain.query.labels), (&augmented.meta, &augmented.support.labels, &augmented.query.labels));
        // the sampler's order: per class, its support then its queries
        let mut pixels = Rng::stream(*state, augment::STREAM);
        let mut want = (Vec::new(), Vec::new());
        let (support, query): (Vec<&[f32]>, Vec<&[f32]>) = (plain.support.x.chunks(784).collect(), plain.query.x.chunks(784).collect());
        for label in 0..5 {
            for (images, k, out) in [(&support, shots, &mut want.0), (&query, queries, &mut want.1)] {
                for img in &images[label * k..(label + 1) * k] {
                    out.extend(augment::augment(img, SHAPE, &mut pixels));
                }
            }
        }
        assert_eq!((&augmented.support.x, &augmented.query.x), (&want.0, &want.1));
        for (a, p) in augmented.support.x.chunks(784).chain(augmented.query.x.chunks(784)).zip(plain.support.x.chunks(784).chain(plain.query.x.chunks(784))) {
            assert_ne!(a, p, "every meta-train image changes");
        }
    }
    assert_eq!(tasks_of(&glyphs(true), Split::MetaTest, 3, 6), tasks_of(&glyphs(false), Split::MetaTest, 3, 6));
}

#[test]
fn the_same_seed_gives_the_same_augmented_bytes() {
    let once = bytes(&tasks_of(&glyphs(true), Split::MetaTrain, 11, 4));
    assert_eq!(once, bytes(&tasks_of(&glyphs(true), Split::MetaTrain, 11, 4)));
    assert_ne!(once, bytes(&tasks_of(&glyphs(true), Split::MetaTrain, 12, 4)));
}

#[test]
fn the_flag_reaches_config_json_and_tasks_without_strokes_refuse_it() {
    let dir = std::env::temp_dir().join(format!("maml-augment-{}", std::process::id()));
    let out = dir.to_str().unwrap();
    let small = ["train", "--task", "glyphs", "--iterations", "1", "--meta-batch", "2", "--filters", "8", "--queries", "1", "--log-every", "1", "--out", out];
    for (flag, want) in [(&["--augment"][..], true), (&["--augment", "false"][..], false), (&[][..], false)] {
        let r = common::last_json(&common::maml(&[&small[..], flag].concat()));
        assert!(r["meta_loss"].as_f64().unwrap().is_finite());
        let config: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
        assert_eq!(config["task"]["augment"], want, "{flag:?}");
        let weights = maml_lab::weights::Weights::decode(&std::fs::read(dir.join("weights.bin")).unwrap()).unwrap();
        assert_eq!(weights.config.task.augment, want);
    }
    std::fs::remove_dir_all(dir).ok();
    common::refused(&["train", "--task", "noise", "--augment", "--iterations", "1", "--out", "/tmp/never"], "task noise has no strokes");
    common::refused(&["train", "--task", "sinusoid", "--augment", "--iterations", "1", "--out", "/tmp/never"], "augment");
}

/// A weights file saved before the option existed (the shipped glyph start) reads back with it off.
#[test]
fn a_weights_file_from_before_reads_as_off() {
    let bytes = std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("www/starts/glyphs.bin")).unwrap();
    let header = String::from_utf8_lossy(&bytes[..bytes.len().min(4096)]);
    assert!(header.contains("\"rotations\"") && !header.contains("augment"), "the file predates the option");
    let mut saved = maml_lab::weights::Weights::decode(&bytes).unwrap();
    assert!(!saved.config.task.augment);
    saved.config.task.augment = true;
    assert!(maml_lab::weights::Weights::decode(&saved.encode()).unwrap().config.task.augment);
}
