//! The landscape around θ (`Trainer::landscape`) and the one-step walk (`Trainer::walk`): the grid's centre is the meta-loss training reports for its tasks, its slope along the exact meta-gradient is that gradient's norm (finite differences on the grid itself), the walk's two parts sum to training's meta-gradient, and its second-order part vanishes with α.

use burn::prelude::Device;
use maml_lab::Trainer;
use maml_lab::config::{Algorithm, TaskKind, TrainerConfig};
use maml_lab::maml::{Directions, LandscapeOptions};

fn config(kind: TaskKind, algorithm: Algorithm) -> TrainerConfig {
    let mut c = TrainerConfig::preset(kind).with_algorithm(algorithm);
    c.maml.meta_batch = 4;
    if kind == TaskKind::Glyphs {
        (c.model.filters, c.task.queries, c.maml.meta_batch) = (4, 2, 2);
        c.maml.inner_steps = c.maml.inner_steps.min(2);
    }
    c
}

fn trainer(config: &TrainerConfig) -> Trainer {
    Trainer::new(config.clone(), &[], &Device::flex()).unwrap()
}

fn options(directions: Directions, size: usize, span: Option<f64>) -> LandscapeOptions {
    LandscapeOptions { directions, size, span, ..LandscapeOptions::default() }
}

#[test]
fn the_centre_of_the_grid_is_the_meta_loss_training_reports_for_its_tasks() {
    for kind in [TaskKind::Sinusoid, TaskKind::Glyphs] {
        for algorithm in [Algorithm::Maml, Algorithm::Reptile, Algorithm::Anil, Algorithm::MetaSgd] {
            let mut t = trainer(&config(kind, algorithm));
            for _ in 0..3 {
                t.step().wait().unwrap();
            }
            let plane = t.landscape(&options(Directions::Gradients, 5, None)).unwrap().wait();
            let centre = plane.row(2).wait()[2];
            let reported = t.landscape_meta_loss().wait();
            let at = format!("{kind:?} {algorithm}");
            assert!((centre - reported).abs() <= 1e-5 * reported.abs(), "{at}: grid centre {centre}, training's meta-loss {reported}");
            assert!((plane.summary.centre_loss - reported).abs() <= 1e-9 * reported.abs(), "{at}");
            assert_eq!(plane.summary.axis.len(), 5);
            assert_eq!(plane.summary.axis[2], 0.0, "{at}: θ is the grid's centre");
            let names: Vec<&str> = plane.summary.arrows.iter().map(|a| a.learner.as_str()).collect();
            assert_eq!(names.contains(&"Meta-SGD"), algorithm == Algorithm::MetaSgd, "{at}: {names:?}");
            for a in &plane.summary.arrows {
                assert!(a.length > 0.0 && (0.0..=1.0).contains(&a.in_plane) && a.a.is_finite() && a.b.is_finite(), "{at}: {a:?}");
                assert!(a.a.hypot(a.b) <= plane.summary.span, "{at}: the automatic span shows every arrow: {a:?}");
            }
        }
    }
}

/// On the gradient plane, u is the exact meta-gradient's direction and v is orthogonal to it, so
/// central differences of the grid itself must give |exact meta-gradient| along u and 0 along v;
/// and the first arrow (MAML's Adam step) goes downhill.
#[test]
fn the_grid_falls_along_the_exact_meta_gradient_at_its_norm() {
    for kind in [TaskKind::Sinusoid, TaskKind::Glyphs] {
        let mut t = trainer(&config(kind, Algorithm::Maml));
        t.step().wait().unwrap();
        // small enough that no ReLU switches within the grid (at 1e-3 some do, and the slope jumps)
        let h = 1e-4;
        let plane = t.landscape(&options(Directions::Gradients, 5, Some(2.0 * h))).unwrap().wait();
        let s = &plane.summary;
        assert_eq!(s.directions, Directions::Gradients);
        assert!((s.axis[3] - h).abs() < 1e-12);
        let grid = plane.grid();
        let along_u = (grid[2][3] - grid[2][1]) / (2.0 * h);
        let along_v = (grid[3][2] - grid[1][2]) / (2.0 * h);
        let at = format!("{kind:?}");
        assert!((along_u - s.exact_norm).abs() <= 2e-2 * s.exact_norm, "{at}: slope along u {along_u}, |exact| {}", s.exact_norm);
        assert!(along_v.abs() <= 2e-2 * s.exact_norm, "{at}: slope along v {along_v}, |exact| {}", s.exact_norm);
        assert!(s.first_order_cosine > -1.0 && s.first_order_cosine < 1.0, "{at}: {}", s.first_order_cosine);
        let maml = &s.arrows[0];
        assert_eq!(maml.learner, "MAML");
        assert!(maml.a < 0.0, "{at}: MAML's step goes against its gradient: {maml:?}");
    }
}

#[test]
fn random_directions_are_the_seeds_and_the_path_is_the_runs() {
    let mut t = trainer(&config(TaskKind::Sinusoid, Algorithm::Maml));
    t.set_path_every(5);
    for _ in 0..20 {
        t.step().wait().unwrap();
    }
    assert_eq!(t.path_iterations(), vec![0, 5, 10, 15]);
    let random = |seed| {
        let plane = t.landscape(&LandscapeOptions { seed, ..options(Directions::Random, 5, None) }).unwrap().wait();
        (plane.summary.clone(), plane.grid())
    };
    let (a, grid_a) = random(1);
    let (b, grid_b) = random(1);
    let (c, grid_c) = random(2);
    assert_eq!((&a, &grid_a), (&b, &grid_b), "one seed, one plane");
    assert_ne!(grid_a, grid_c, "another seed, another plane");
    assert_eq!(a.directions, Directions::Random);
    assert_eq!(c.path.iter().map(|p| p.iteration).collect::<Vec<_>>(), vec![0, 5, 10, 15]);
    for p in &a.path {
        assert!((0.0..=1.0).contains(&p.in_plane) && p.a.hypot(p.b) <= a.span, "{p:?}");
    }
    // the path's first point is the farthest from θ: training moved away from the start
    let d: Vec<f64> = a.path.iter().map(|p| p.a.hypot(p.b) / p.in_plane.max(1e-12)).collect();
    assert!(d[0] > d[3], "distances from θ in parameter space: {d:?}");
}

#[test]
fn a_grid_that_cannot_be_drawn_is_refused_with_a_sentence() {
    let t = trainer(&config(TaskKind::Sinusoid, Algorithm::Maml));
    for bad in [options(Directions::Gradients, 4, None), options(Directions::Gradients, 1, None), LandscapeOptions { zoom: 0.0, ..Default::default() }, options(Directions::Random, 21, Some(f64::NAN))] {
        let err = t.landscape(&bad).err().expect("refused").to_string();
        assert!(err.starts_with("the landscape's"), "{err}");
    }
}

/// With no inner step the first-order and exact meta-gradients are the same vector: the plane
/// says so and takes a random second direction rather than dividing by zero.
#[test]
fn parallel_gradients_get_a_random_second_direction_and_say_so() {
    let mut c = config(TaskKind::Sinusoid, Algorithm::Maml);
    c.maml.inner_steps = 0;
    let plane = trainer(&c).landscape(&options(Directions::Gradients, 5, None)).unwrap().wait();
    assert!(plane.summary.note.as_deref().unwrap_or("").contains("parallel"), "{:?}", plane.summary.note);
    assert!(plane.grid().iter().flatten().all(|v| v.is_finite()));
}

#[test]
fn the_walks_two_parts_sum_to_the_meta_gradient_training_uses() {
    for kind in [TaskKind::Sinusoid, TaskKind::Glyphs] {
        let mut t = trainer(&config(kind, Algorithm::Maml));
        for _ in 0..3 {
            t.step().wait().unwrap();
        }
        for index in 0..3 {
            let w = t.walk(index).wait();
            let at = format!("{kind:?} task {index}: {w:?}");
            assert!(w.split_error <= 1e-6, "{at}");
            assert!(w.correction_norm > 0.0 && w.first_order_norm > 0.0, "{at}");
            assert!((w.step_norm - w.alpha * w.grad_norm).abs() <= 1e-12 * w.step_norm.max(1.0), "{at}");
            let b = &w.bias[0];
            assert!((b.adapted - (b.theta - w.alpha * b.grad)).abs() <= 1e-5 * b.theta.abs().max(1.0), "{at}");
            assert!((b.meta_gradient - (b.first_order + b.correction)).abs() <= 1e-5 * b.meta_gradient.abs().max(1e-3), "{at}");
            assert_eq!(w.bias.len(), if kind == TaskKind::Sinusoid { 1 } else { 5 });
        }
    }
}

/// −α H ∇L(θ') is linear in α at a fixed θ' direction: as α goes to 0 the correction goes to 0
/// with it, and the first-order part becomes the whole meta-gradient.
#[test]
fn the_second_order_correction_vanishes_as_alpha_goes_to_zero() {
    let ratio = |alpha: f64| {
        let mut c = config(TaskKind::Sinusoid, Algorithm::Maml);
        c.maml.inner_lr = alpha;
        let w = trainer(&c).walk(0).wait();
        (w.correction_norm / w.first_order_norm, w.first_order_cosine)
    };
    let (big, _) = ratio(1e-2);
    let (small, _) = ratio(1e-4);
    let (tiny, cosine) = ratio(1e-7);
    assert!(big > 50.0 * small && small > 50.0 * tiny, "correction / first-order part at α 1e-2, 1e-4, 1e-7: {big}, {small}, {tiny}");
    assert!(tiny < 1e-5 && cosine > 1.0 - 1e-9, "{tiny}, {cosine}");
}

