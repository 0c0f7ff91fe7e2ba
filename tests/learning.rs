//! Learning curves that must fall: MAML beats its baselines where there is structure, and not on noise.

use burn::prelude::Device;
use maml_lab::config::{Algorithm, TaskKind, TrainerConfig};
use maml_lab::maml::EvalReport;
use maml_lab::{Start, Trainer};

fn train(config: TrainerConfig, iterations: usize) -> Trainer {
    let mut t = Trainer::new(config, &[], &Device::flex()).unwrap();
    for _ in 0..iterations {
        t.step().wait().unwrap();
    }
    t
}

fn last(r: &EvalReport) -> (f64, f64) {
    let s = r.steps.last().unwrap();
    match s.accuracy {
        Some(a) => (a.mean, a.ci95),
        None => (s.loss.mean, s.loss.ci95),
    }
}

#[test]
fn sinusoid_every_algorithm_adapts_far_better_than_random_init() {
    for algorithm in [Algorithm::Maml, Algorithm::Reptile, Algorithm::Anil, Algorithm::MetaSgd] {
        let t = train(TrainerConfig::preset(TaskKind::Sinusoid).with_algorithm(algorithm), 1500);
        // after the algorithm's own test steps (Meta-SGD's rates are learned for its one step)
        let steps = t.config().maml.test_inner_steps;
        let (adapted, _) = last(&t.evaluate(100, steps, Start::MetaLearned).wait());
        let (random, _) = last(&t.evaluate(100, steps, Start::Random).wait());
        assert!(adapted < 1.2, "{algorithm}: MSE after {steps} steps from the meta-learned start: {adapted}");
        assert!(adapted < random / 3.0, "{algorithm}: {adapted} should be far below random init {random}");
        let before = t.evaluate(100, 0, Start::MetaLearned).wait().steps[0].loss.mean;
        assert!(adapted < before / 2.0, "{algorithm}: adaptation should lower the MSE ({before} -> {adapted})");
    }
}

#[test]
fn glyph_5_way_1_shot_beats_chance_by_a_wide_margin_with_every_algorithm() {
    for algorithm in [Algorithm::Maml, Algorithm::Reptile, Algorithm::Anil, Algorithm::MetaSgd] {
        let mut c = TrainerConfig::preset(TaskKind::Glyphs).with_algorithm(algorithm);
        (c.model.filters, c.maml.meta_batch, c.task.queries) = (16, c.maml.meta_batch.min(8), 5);
        // Reptile's signal (the inner steps' gradients agreeing) is second order in α: it learns
        // more slowly per meta-iteration than the gradient-based learners
        let iterations = if algorithm == Algorithm::Reptile { 400 } else { 120 };
        let t = train(c, iterations);
        let steps = t.config().maml.test_inner_steps;
        let (meta, random) = (t.evaluate(100, steps, Start::MetaLearned).wait(), t.evaluate(100, steps, Start::Random).wait());
        let (acc, ci) = last(&meta);
        assert!(acc - ci > 0.5, "{algorithm}: accuracy {acc} ± {ci} after {iterations} iterations (chance 0.2)");
        // one step from the meta-learned start against one from a random start
        let (one, random_one) = (meta.steps[1].accuracy.unwrap().mean, random.steps[1].accuracy.unwrap().mean);
        assert!(one > random_one + 0.1, "{algorithm}: after one step {one} should beat random init's {random_one}");
    }
}

#[test]
fn noise_stays_at_chance_with_every_algorithm() {
    for algorithm in [Algorithm::Maml, Algorithm::Reptile, Algorithm::Anil, Algorithm::MetaSgd] {
        let mut c = TrainerConfig::preset(TaskKind::Noise).with_algorithm(algorithm);
        (c.model.filters, c.task.noise_side, c.task.queries, c.maml.inner_steps) = (8, 16, 5, 2);
        let t = train(c, 30);
        let r = t.evaluate(300, 5, Start::MetaLearned).wait();
        for s in &r.steps {
            let a = s.accuracy.unwrap();
            // 300 tasks of 75 queries: the interval is about ±1 %; chance is 1/5
            assert!((a.mean - 0.2).abs() <= 2.0 * a.ci95, "{algorithm}, step {}: {} ± {} is not chance", s.step, a.mean, a.ci95);
        }
    }
}

#[test]
fn meta_test_tasks_are_the_same_on_every_call() {
    let t = train(TrainerConfig::preset(TaskKind::Sinusoid), 0);
    assert_eq!(t.evaluate(5, 2, Start::MetaLearned).wait(), t.evaluate(5, 2, Start::MetaLearned).wait());
    assert_eq!(t.view_task(3), t.view_task(3));
    assert_ne!(t.view_task(3), t.view_task(4));
}
