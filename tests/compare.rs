//! The exact meta-gradient against the first-order one and Reptile's direction (`Trainer::compare_gradients`): each norm is the one the learner's own next meta-iteration reports, the first-order gradient meets the exact one as α goes to 0, and comparing leaves the run as it was.

use burn::prelude::Device;
use maml_lab::Trainer;
use maml_lab::config::{Algorithm, TaskKind, TrainerConfig};

fn config(kind: TaskKind, algorithm: Algorithm, first_order: bool) -> TrainerConfig {
    let mut c = TrainerConfig::preset(kind).with_algorithm(algorithm);
    c.maml.meta_batch = 4;
    c.maml.first_order = first_order;
    if kind == TaskKind::Glyphs {
        (c.model.filters, c.task.queries, c.maml.meta_batch) = (4, 2, 2);
        c.maml.inner_steps = c.maml.inner_steps.min(2);
    }
    c
}

fn trainer(config: &TrainerConfig) -> Trainer {
    Trainer::new(config.clone(), &[], &Device::flex()).unwrap()
}

/// The norm the learner's next meta-iteration reports is the norm of its own direction, which
/// the comparison measures too: the exact gradient's for MAML, the first-order one's for
/// first-order MAML, Reptile's direction for Reptile. (The oracle for the comparison's vectors:
/// the update path computes them on its own.)
#[test]
fn each_learners_own_direction_has_the_norm_its_meta_iteration_reports() {
    for kind in [TaskKind::Sinusoid, TaskKind::Glyphs] {
        for (algorithm, first_order) in [(Algorithm::Maml, false), (Algorithm::Maml, true), (Algorithm::Reptile, false), (Algorithm::Anil, false), (Algorithm::MetaSgd, true)] {
            let mut t = trainer(&config(kind, algorithm, first_order));
            for _ in 0..3 {
                let c = t.compare_gradients().wait();
                let own = match (algorithm, first_order) {
                    (Algorithm::Reptile, _) => c.exact_norm * c.reptile.expect("Reptile's direction is compared").norm_ratio,
                    (_, true) => c.exact_norm * c.first_order.norm_ratio,
                    (_, false) => c.exact_norm,
                };
                let reported = t.step().wait().unwrap().grad_norm;
                let at = format!("{kind:?} {algorithm} first_order={first_order}");
                assert!((own - reported).abs() <= 1e-9 * reported, "{at}: compared {own}, reported {reported}");
                for a in [Some(c.first_order), c.reptile].into_iter().flatten() {
                    assert!((-1.0 - 1e-9..=1.0 + 1e-9).contains(&a.cosine) && a.norm_ratio > 0.0, "{at}: {a:?}");
                }
                assert_eq!(c.reptile.is_some(), algorithm == Algorithm::Reptile, "{at}");
            }
        }
    }
}

/// The second-order term is −α H ∇L(θ'): as α goes to 0 the first-order meta-gradient becomes the
/// exact one, and at the sinusoid's α of 0.01 with 5 steps it is measurably apart.
#[test]
fn as_alpha_goes_to_zero_the_first_order_gradient_meets_the_exact_one() {
    let agreement = |alpha: f64, steps: usize| {
        let mut c = config(TaskKind::Sinusoid, Algorithm::Maml, false);
        (c.maml.inner_lr, c.maml.inner_steps) = (alpha, steps);
        trainer(&c).compare_gradients().wait().first_order
    };
    let tiny = agreement(1e-6, 1);
    // (to f32 precision: the two paths round θ − α g apart)
    assert!(1.0 - tiny.cosine < 1e-6 && (tiny.norm_ratio - 1.0).abs() < 1e-4, "α 1e-6: {tiny:?}");
    let small = agreement(1e-3, 1);
    let larger = agreement(1e-2, 5);
    assert!(1.0 - small.cosine < 1e-3, "α 1e-3: {small:?}");
    assert!(larger.cosine < small.cosine && small.cosine < tiny.cosine, "the cosine falls as α and the steps grow: {tiny:?} {small:?} {larger:?}");
    assert!(1.0 - larger.cosine > 1e-3, "α 0.01 with 5 steps: {larger:?}");
}

/// Comparing samples the next meta-batch from a copy of the task stream: a run that compares
/// before every meta-iteration ends with the weights of one that never does.
#[test]
fn comparing_leaves_the_run_as_it_was() {
    let c = config(TaskKind::Glyphs, Algorithm::Maml, false);
    let (mut watched, mut plain) = (trainer(&c), trainer(&c));
    for _ in 0..3 {
        watched.compare_gradients().wait();
        watched.step().wait().unwrap();
        plain.step().wait().unwrap();
    }
    assert_eq!(watched.weights().wait(), plain.weights().wait());
}
