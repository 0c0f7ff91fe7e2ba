//! The Trainer's contract: reproducible steps, divergence kept safe, live settings, weights in and out.

use burn::prelude::Device;
use maml_lab::config::{Arch, MamlConfig, TaskKind, TrainerConfig};
use maml_lab::weights::Weights;
use maml_lab::maml::Diverged;
use maml_lab::{Start, TrainError, Trainer};

/// Asserts that `c` is refused for a reason that says `why`.
fn refused(c: &TrainerConfig, why: &str) {
    assert!(c.validate().unwrap_err().contains(why), "{:?}", c.validate());
}

fn small(kind: TaskKind) -> TrainerConfig {
    let mut c = TrainerConfig::preset(kind);
    c.model.filters = 4;
    c.maml.meta_batch = 2;
    c.task.queries = c.task.queries.min(5);
    c
}

#[test]
fn the_same_seed_gives_the_same_losses() {
    let run = |seed| {
        let mut c = small(TaskKind::Glyphs);
        c.seed = seed;
        let mut t = Trainer::new(c, &[], &Device::flex()).unwrap();
        (0..3).map(|_| t.step().wait().unwrap().meta_loss).collect::<Vec<_>>()
    };
    assert_eq!(run(1), run(1));
    assert_ne!(run(1), run(2));
}

#[test]
fn divergence_is_an_error_naming_the_iteration_and_keeps_the_last_finite_weights() {
    let mut c = small(TaskKind::Sinusoid);
    c.maml.inner_lr = 1e30; // one inner step overflows
    let mut t = Trainer::new(c, &[], &Device::flex()).unwrap();
    let before = t.weights().wait();
    match t.step().wait() {
        Err(TrainError::Diverged(Diverged { iteration: 1, .. })) => {}
        other => panic!("expected divergence at iteration 1, got {other:?}"),
    }
    assert_eq!(t.weights().wait(), before, "a diverged step must not touch the weights");
    assert_eq!(t.iteration(), 0);
    // lowering α lets the same run go on
    let mut maml = t.config().maml.clone();
    maml.inner_lr = 0.01;
    t.set_maml(maml).unwrap();
    let report = t.step().wait().unwrap();
    assert_eq!(report.iteration, 1);
    assert!(report.meta_loss.is_finite());
}

/// `steps(n)` (the page's: one read for n meta-iterations) does what n `step`s do: the same
/// reports and weights, clipped or not; and on a divergence in the middle of the batch, the
/// reports before it, the same error, and the weights from before the diverged iteration.
#[test]
fn a_batch_of_steps_read_at_once_is_the_same_as_steps_one_by_one() {
    let runs = [(TaskKind::Glyphs, 0.001, None), (TaskKind::Sinusoid, 0.001, None), (TaskKind::Sinusoid, 0.001, Some(0.01)), (TaskKind::Sinusoid, 1e20, None)];
    for (kind, meta_lr, grad_clip) in runs {
        let mut c = small(kind);
        c.maml.meta_lr = meta_lr; // 1e20: Adam moves every weight by about 1e20, so a later iteration overflows
        c.maml.grad_clip = grad_clip;
        let mut one = Trainer::new(c.clone(), &[], &Device::flex()).unwrap();
        let mut reports = vec![];
        let mut error = None;
        for _ in 0..4 {
            match one.step().wait() {
                Ok(r) => reports.push(r),
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
        let mut batch = Trainer::new(c, &[], &Device::flex()).unwrap();
        let (batched, batch_error) = batch.steps(4).wait();
        assert_eq!(batched, reports, "{kind}, β {meta_lr}");
        assert_eq!(batch_error, error, "{kind}, β {meta_lr}");
        assert_eq!(batch.iteration(), one.iteration());
        assert_eq!(batch.weights().wait(), one.weights().wait(), "{kind}, β {meta_lr}: the weights");
        if meta_lr > 1.0 {
            assert!(matches!(error, Some(TrainError::Diverged(Diverged { iteration: 2.., .. }))), "the divergence should come after a finite iteration: {error:?}");
        }
    }
}

#[test]
fn live_settings_are_validated_and_take_effect() {
    let mut t = Trainer::new(small(TaskKind::Sinusoid), &[], &Device::flex()).unwrap();
    let mut bad = t.config().maml.clone();
    bad.meta_lr = f64::NAN;
    assert!(matches!(t.set_maml(bad), Err(TrainError::Config(_))));

    // each live setting changes the next meta-iteration: its loss, its gradient or its update
    let step = |change: &dyn Fn(&mut MamlConfig)| {
        let mut t = Trainer::new(small(TaskKind::Sinusoid), &[], &Device::flex()).unwrap();
        let mut maml = t.config().maml.clone();
        change(&mut maml);
        t.set_maml(maml).unwrap();
        let r = t.step().wait().unwrap();
        (r.meta_loss, r.grad_norm, Weights::decode(&t.weights().wait()).unwrap().values)
    };
    let unchanged = step(&|_| {});
    assert_eq!(step(&|_| {}), unchanged, "the comparison needs a reproducible step");
    type Change<'a> = (&'a str, &'a dyn Fn(&mut MamlConfig));
    let changes: [Change; 5] = [
        ("inner_lr", &|m| m.inner_lr *= 2.0),
        ("inner_steps", &|m| m.inner_steps = 3),
        ("first_order", &|m| m.first_order = true),
        ("meta_batch", &|m| m.meta_batch = 3),
        ("meta_lr", &|m| m.meta_lr *= 10.0),
    ];
    for (name, change) in changes {
        let (loss, norm, weights) = step(change);
        let (loss0, norm0, weights0) = &unchanged;
        match name {
            // these change the adapted weights, hence the meta-loss itself
            "inner_lr" | "inner_steps" | "meta_batch" => assert_ne!(loss, *loss0, "{name}"),
            // first-order drops the second-order terms: the same loss, another gradient
            "first_order" => assert!(loss == *loss0 && norm != *norm0, "{name}: {loss} {norm} vs {loss0} {norm0}"),
            // β only scales the update
            _ => assert!(loss == *loss0 && weights != *weights0, "{name}"),
        }
        let _ = weights;
    }
}

#[test]
fn gradient_clipping_rescales_the_meta_gradient() {
    // Adam is invariant to one constant scale of the gradient, but clipping rescales every
    // iteration by its own factor, so the trajectory must change
    let run = |clip| {
        let mut c = small(TaskKind::Sinusoid);
        c.maml.grad_clip = clip;
        let mut t = Trainer::new(c, &[], &Device::flex()).unwrap();
        let norms: Vec<f64> = (0..3).map(|_| t.step().wait().unwrap().grad_norm).collect();
        (norms, Weights::decode(&t.weights().wait()).unwrap().values)
    };
    let (norms, free) = run(None);
    assert!(norms.iter().all(|&n| n > 1e-3), "the test needs gradients above the clip: {norms:?}");
    assert!(run(Some(1e-3)).1 != free, "clipping should change the trajectory");
    assert!(run(Some(1e9)).1 == free, "a clip above the norm changes nothing");
}

#[test]
fn weights_round_trip_and_reproduce_the_evaluation() {
    let mut t = Trainer::new(small(TaskKind::Glyphs), &[], &Device::flex()).unwrap();
    for _ in 0..2 {
        t.step().wait().unwrap();
    }
    let bytes = t.weights().wait();
    let loaded = Trainer::from_weights(&bytes, &[], &Device::flex()).unwrap();
    assert_eq!(loaded.iteration(), 2);
    assert_eq!(format!("{:?}", loaded.config()), format!("{:?}", t.config()));
    assert_eq!(loaded.evaluate(4, 2, Start::MetaLearned).wait(), t.evaluate(4, 2, Start::MetaLearned).wait());
    assert_eq!(loaded.weights().wait(), bytes);
}

/// A run meta-tested at fewer ways than trained (`maml eval --ways`): its head keeps its first
/// classes (weight columns, biases), every other parameter as it was, MAML++'s per-step rates
/// and batch-norms included; the result loads into a network of those ways and meta-tests there.
/// A head held at zero widens to more ways than trained; any other head does not.
#[test]
fn weights_at_other_ways_keep_the_heads_first_classes_and_everything_else() {
    // the weights of `c` after one meta-iteration, and a fresh run of `c` at `ways` with its shapes
    let trained_and_at = |c: &TrainerConfig, ways: usize| {
        let mut t = Trainer::new(c.clone(), &[], &Device::flex()).unwrap();
        t.step().wait().unwrap();
        let at = Trainer::new(TrainerConfig { task: c.task.clone().with_ways(ways), ..c.clone() }, &[], &Device::flex()).unwrap();
        let shapes = Weights::decode(&at.weights().wait()).unwrap().shapes;
        (Weights::decode(&t.weights().wait()).unwrap(), at, shapes)
    };
    let mut c = small(TaskKind::Glyphs);
    c.task.ways = 7;
    (c.maml.inner_steps, c.maml.per_step_rates, c.maml.per_step_bn) = (2, Some(2), Some(2));
    let (seven, mut three, shapes) = trained_and_at(&c, 3);
    let sliced = seven.clone().with_ways(3, &shapes).unwrap();
    assert_eq!(sliced.shapes, shapes);
    assert_eq!(sliced.config.task.ways, 3);
    let mut changed = 0;
    for ((before, after), shape) in seven.values.iter().zip(&sliced.values).zip(&seven.shapes) {
        match shape.as_slice() {
            [inputs, 7] => {
                changed += 1;
                for row in 0..*inputs {
                    assert_eq!(after[3 * row..3 * row + 3], before[7 * row..7 * row + 3], "row {row} of the head's weight");
                }
            }
            [7] => {
                changed += 1;
                assert_eq!(after[..], before[..3], "the head's bias");
            }
            _ => assert_eq!(after, before, "a parameter of shape {shape:?} is not the head's"),
        }
    }
    assert_eq!(changed, 2, "the head's weight and bias, nothing else");
    three.load_weights(&sliced.encode()).unwrap();
    assert_eq!(three.iteration(), 1);
    let report = three.evaluate(3, 2, Start::MetaLearned).wait();
    assert!(report.steps.iter().all(|s| s.accuracy.is_some_and(|a| a.mean.is_finite())));
    // as many ways as trained is the file itself; more, or another model, a sentence
    assert_eq!(seven.clone().with_ways(7, &seven.shapes).unwrap().encode(), seven.encode());
    assert!(seven.clone().with_ways(9, &shapes).unwrap_err().contains("trained for 7-way tasks"));
    let mut other = shapes.clone();
    other[0][0] += 1;
    assert!(seven.clone().with_ways(3, &other).unwrap_err().contains("only the head's classes may differ"));
    // only a last dimension of the trained ways may shrink: the head's weight as [classes, inputs] may not
    let head = shapes.iter().position(|s| s.len() == 2 && s[1] == 3).unwrap();
    let mut transposed = shapes.clone();
    transposed[head] = vec![3, seven.shapes[head][0]];
    let mut swapped = seven.clone();
    swapped.shapes[head] = vec![7, swapped.shapes[head][0]];
    assert!(swapped.with_ways(3, &transposed).unwrap_err().contains("only the head's classes may differ"));

    // Meta-SGD: its learned rate for each head parameter is sliced with it
    let mut c = small(TaskKind::Glyphs).with_algorithm(maml_lab::config::Algorithm::MetaSgd);
    c.task.ways = 7;
    let seven = Weights::decode(&Trainer::new(c.clone(), &[], &Device::flex()).unwrap().weights().wait()).unwrap();
    c.task.ways = 3;
    let mut three = Trainer::new(c, &[], &Device::flex()).unwrap();
    let shapes = Weights::decode(&three.weights().wait()).unwrap().shapes;
    let sliced = seven.clone().with_ways(3, &shapes).unwrap();
    let changed = seven.values.iter().zip(&sliced.values).filter(|(a, b)| a != b).count();
    assert_eq!(changed, 4, "the head's weight and bias and their two rates");
    three.load_weights(&sliced.encode()).unwrap();

    // a head held at zero answers more classes than trained: zeros of the new width, the rest as it was
    let mut c = small(TaskKind::Glyphs);
    (c.task.ways, c.maml.zero_head) = (3, true);
    let (three, mut seven, shapes) = trained_and_at(&c, 7);
    let widened = three.clone().with_ways(7, &shapes).unwrap();
    assert_eq!((&widened.shapes, widened.config.task.ways), (&shapes, 7));
    let head: Vec<usize> = (0..shapes.len()).filter(|&i| three.shapes[i] != shapes[i]).collect();
    assert_eq!(head.len(), 2, "the head's weight and bias");
    for i in 0..shapes.len() {
        match head.contains(&i) {
            true => assert!(three.values[i].iter().chain(&widened.values[i]).all(|&v| v == 0.0) && widened.values[i].len() == shapes[i].iter().product::<usize>()),
            false => assert_eq!(three.values[i], widened.values[i]),
        }
    }
    seven.load_weights(&widened.encode()).unwrap();
    let mut not_zero = three.clone();
    not_zero.values[head[0]][0] = 1.0;
    assert!(not_zero.with_ways(7, &shapes).unwrap_err().contains("only a head held at zero answers more classes"));
}

#[test]
fn weights_of_another_model_or_a_corrupt_file_are_refused_and_change_nothing() {
    let mut glyphs = Trainer::new(small(TaskKind::Glyphs), &[], &Device::flex()).unwrap();
    let before = glyphs.weights().wait();
    let mut wider = small(TaskKind::Glyphs);
    wider.model.filters = 8;
    let other = Trainer::new(wider, &[], &Device::flex()).unwrap().weights().wait();
    match glyphs.load_weights(&other) {
        Err(TrainError::Weights(m)) => assert!(m.contains("another model") && m.contains("8 filters"), "{m}"),
        other => panic!("expected a weights error, got {other:?}"),
    }
    let sine = Trainer::new(small(TaskKind::Sinusoid), &[], &Device::flex()).unwrap().weights().wait();
    assert!(matches!(glyphs.load_weights(&sine), Err(TrainError::Weights(_))));
    assert!(matches!(glyphs.load_weights(b"PK\x03\x04 a zip, not weights"), Err(TrainError::Weights(_))));
    assert!(matches!(glyphs.load_weights(&before[..before.len() - 3]), Err(TrainError::Weights(_))));
    let mut tampered = before.clone();
    let n = tampered.len();
    tampered[n - 4..].copy_from_slice(&f32::NAN.to_le_bytes());
    assert!(matches!(glyphs.load_weights(&tampered), Err(TrainError::Weights(_))));
    assert_eq!(glyphs.weights().wait(), before);
}

#[test]
fn impossible_configurations_are_refused_with_a_sentence() {
    type Break = Box<dyn Fn(&mut TrainerConfig)>;
    let cases: Vec<(&str, Break)> = vec![
        ("ways", Box::new(|c| c.task.ways = 0)),
        ("shots", Box::new(|c| c.task.shots = 0)),
        ("inner_lr", Box::new(|c| c.maml.inner_lr = -0.1)),
        ("inner_lr", Box::new(|c| c.maml.inner_lr = f64::INFINITY)),
        ("meta_lr", Box::new(|c| c.maml.meta_lr = 0.0)),
        ("meta_batch", Box::new(|c| c.maml.meta_batch = 0)),
        ("does not fit", Box::new(|c| c.model.arch = Arch::Mlp)),
    ];
    for (word, break_it) in cases {
        let mut c = small(TaskKind::Glyphs);
        break_it(&mut c);
        match Trainer::new(c, &[], &Device::flex()) {
            Err(TrainError::Config(m)) => assert!(m.contains(word), "'{m}' should mention {word}"),
            other => panic!("expected a config error about {word}, got {:?}", other.err()),
        }
    }
    let mut c = small(TaskKind::Glyphs);
    c.task.ways = 500; // more ways than the 423 meta-test classes
    assert!(matches!(Trainer::new(c, &[], &Device::flex()), Err(TrainError::Data(_))));
}

#[test]
fn evaluating_tasks_together_equals_evaluating_them_one_by_one() {
    // meta-test adapts up to EVAL_CHUNK tasks at once, each with its own fast weights; every
    // task's curve must be what adapting it alone gives
    use maml_lab::maml::TaskTensors;
    use maml_lab::maml::evaluate::{EVAL_CHUNK, task_readings};
    use maml_lab::rng::Rng;
    use maml_lab::tasks::{Split, sampler};
    let c = small(TaskKind::Glyphs);
    let (tasks, steps) = (EVAL_CHUNK + 3, 2);
    let mut t = Trainer::new(c.clone(), &[], &Device::flex()).unwrap();
    t.step().wait().unwrap();
    let together = t.evaluate(tasks, steps, Start::MetaLearned).wait();
    assert_eq!(together.tasks.len(), tasks);

    let net = t.meta_parameters();
    let s = sampler(&c.task, &[], c.seed).unwrap();
    let mut rng = Rng::stream(c.seed, maml_lab::trainer::streams::META_TEST);
    for (i, curve) in together.tasks.iter().enumerate() {
        let task = s.sample(Split::MetaTest, &mut rng);
        let alone = TaskTensors::new(std::slice::from_ref(&task), s.input_shape(), &Device::flex());
        let v: Vec<f64> = task_readings(&net, &alone, &c.maml, steps).into_data().convert::<f64>().try_to_vec().unwrap();
        let accuracy: Vec<f64> = curve.accuracy.clone().unwrap();
        for step in 0..=steps {
            let (loss, correct) = (v[2 * step], v[2 * step + 1] / task.query.n as f64);
            assert!((curve.loss[step] - loss).abs() <= 1e-5 * loss.abs().max(1.0), "task {i}, step {step}: loss {} alone {loss}", curve.loss[step]);
            assert_eq!(accuracy[step], correct, "task {i}, step {step}: accuracy");
        }
    }
}

#[test]
fn the_number_of_threads_does_not_change_the_run() {
    // the meta-batch's shares are fixed; threads only decide whether they run side by side
    let run = |threads| {
        let mut t = Trainer::new(small(TaskKind::Glyphs).with_seed(4), &[], &Device::flex()).unwrap();
        t.set_threads(threads);
        (0..3).map(|_| t.step().wait().unwrap().meta_loss).collect::<Vec<_>>()
    };
    assert_eq!(run(1), run(2));
}

/// The weights file after each of `n` meta-iterations of `config` (navigation's trainer for
/// navigation), with first-order switched off by hand before meta-iteration `exact_from` + 1.
fn weights_each(config: &TrainerConfig, n: usize, exact_from: Option<usize>) -> Vec<Vec<u8>> {
    let exact = |m: &MamlConfig| MamlConfig { first_order: false, ..m.clone() };
    if config.task.kind == TaskKind::Navigation {
        let mut t = maml_lab::rl::NavTrainer::new(config.clone()).unwrap();
        (0..n)
            .map(|i| {
                if Some(i) == exact_from {
                    t.set_maml(exact(&t.config().maml)).unwrap();
                }
                t.step().unwrap();
                t.weights()
            })
            .collect()
    } else {
        let mut t = Trainer::new(config.clone(), &[], &Device::flex()).unwrap();
        (0..n)
            .map(|i| {
                if Some(i) == exact_from {
                    t.set_maml(exact(&t.config().maml)).unwrap();
                }
                t.step().wait().unwrap();
                t.weights().wait()
            })
            .collect()
    }
}

fn values(bytes: &[u8]) -> Vec<Vec<f32>> {
    Weights::decode(bytes).unwrap().values
}

/// β annealed by a cosine (`--meta-lr-cosine T`): the half cosine's values, the first
/// meta-iteration the constant run's, a smaller step after it, and θ still once T are done.
#[test]
fn a_cosine_annealed_beta_starts_at_beta_and_ends_at_zero() {
    let mut m = MamlConfig::new().with_meta_lr(0.002);
    assert_eq!(m.meta_lr_at(7), 0.002, "without a schedule β is constant");
    m.meta_lr_cosine = Some(4);
    let at: Vec<f64> = (0..6).map(|i| m.meta_lr_at(i)).collect();
    let want = [0.002, 0.002 * 0.5 * (1.0 + (std::f64::consts::PI / 4.0).cos()), 0.001, 0.002 * 0.5 * (1.0 - (std::f64::consts::PI / 4.0).cos()), 0.0, 0.0];
    for (a, w) in at.iter().zip(want) {
        assert!((a - w).abs() < 1e-15, "{at:?} against {want:?}");
    }
    for kind in [TaskKind::Sinusoid, TaskKind::Navigation] {
        let mut c = small(kind);
        let constant = c.clone();
        c.maml.meta_lr_cosine = Some(2);
        c.validate().unwrap();
        let (plain, annealed) = (weights_each(&constant, 2, None), weights_each(&c, 4, None));
        assert_eq!(values(&annealed[0]), values(&plain[0]), "{kind}: the first step is at β itself");
        assert_ne!(values(&annealed[1]), values(&plain[1]), "{kind}: the second step is at β/2");
        assert_eq!(values(&annealed[3]), values(&annealed[1]), "{kind}: after T = 2 meta-iterations β is 0 and θ stays");
    }
    let mut c = small(TaskKind::Glyphs);
    c.maml.meta_lr_cosine = Some(0);
    assert!(c.validate().unwrap_err().contains("at least 1 meta-iteration"));
}

/// Derivative-order annealing (`--first-order-until N`): the first N meta-iterations are the
/// first-order run's, bit for bit, and the rest the exact ones that run would take from there.
#[test]
fn derivative_order_annealing_is_first_order_then_exact() {
    for kind in [TaskKind::Glyphs, TaskKind::Navigation] {
        let mut annealed = small(kind);
        annealed.maml.first_order_until = Some(2);
        let mut first_order = small(kind);
        first_order.maml.first_order = true;
        let (a, switched) = (weights_each(&annealed, 3, None), weights_each(&first_order, 3, Some(2)));
        for i in 0..3 {
            assert_eq!(values(&a[i]), values(&switched[i]), "{kind}: meta-iteration {}", i + 1);
        }
        // and the exact step is not the first-order one
        let third = &weights_each(&first_order, 3, None)[2];
        assert_ne!(values(&a[2]), values(third), "{kind}: the third meta-iteration should be exact");
    }
}

/// The multi-step loss's annealed weights (MAML++'s `get_per_step_loss_importance_vector`):
/// uniform at the start, summing to 1 throughout, the earlier steps down to 0.03/K at the end.
#[test]
fn the_multi_step_loss_weights_anneal_from_uniform_to_the_last_step() {
    use maml_lab::config::multi_step_loss_weights as w;
    let close = |a: &[f64], b: &[f64]| a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-12);
    assert!(close(&w(4, 0, 100), &[0.25; 4]));
    assert!(close(&w(4, 50, 100), &[0.125, 0.125, 0.125, 0.625]));
    assert!(close(&w(4, 100, 100), &[0.0075, 0.0075, 0.0075, 0.9775]));
    assert!(close(&w(4, 500, 100), &w(4, 100, 100)), "it stays annealed after");
    assert!(close(&w(1, 0, 10), &[1.0]), "one step: its loss alone");
    for i in 0..=120 {
        let v = w(3, i, 100);
        assert!((v.iter().sum::<f64>() - 1.0).abs() < 1e-12, "iteration {i}: {v:?}");
    }
}

/// The weights file after each of `n` meta-iterations of `config`, with the multi-step loss's
/// weights set by hand before each one to `weights(i)`.
fn weights_by_hand(config: &TrainerConfig, n: usize, weights: impl Fn(usize) -> Option<Vec<f64>>) -> Vec<Vec<u8>> {
    let mut t = Trainer::new(config.clone(), &[], &Device::flex()).unwrap();
    (0..n)
        .map(|i| {
            t.set_maml(MamlConfig { step_loss_weights: weights(i), ..t.config().maml.clone() }).unwrap();
            t.step().wait().unwrap();
            t.weights().wait()
        })
        .collect()
}

/// `--multi-step-loss N`: each meta-iteration weighs the query losses after every inner step
/// with that iteration's annealed weights (the meta-gradient itself: tests/gradcheck.rs); with
/// one inner step it is the plain run, bit for bit; Reptile and navigation refuse it.
#[test]
fn the_multi_step_loss_follows_its_schedule() {
    let mut plain = small(TaskKind::Glyphs);
    plain.maml.inner_steps = 2;
    let mut msl = plain.clone();
    msl.maml.multi_step_loss = Some(2);
    msl.validate().unwrap();
    // weighted for the first 2 meta-iterations, then the last step's loss alone
    let schedule = |i| (i < 2).then(|| maml_lab::config::multi_step_loss_weights(2, i, 2));
    let (annealed, by_hand) = (weights_each(&msl, 3, None), weights_by_hand(&plain, 3, schedule));
    for i in 0..3 {
        assert_eq!(values(&annealed[i]), values(&by_hand[i]), "meta-iteration {}", i + 1);
    }
    assert_ne!(values(&annealed[0]), values(&weights_each(&plain, 1, None)[0]), "the earlier step's loss counts");
    // and the weights by hand are not ignored: the uniform ones throughout are another run
    let uniform = weights_by_hand(&plain, 3, |_| Some(vec![0.5, 0.5]));
    assert_eq!(values(&uniform[0]), values(&annealed[0]), "the schedule starts uniform");
    assert_ne!(values(&uniform[1]), values(&annealed[1]), "and then anneals");
    let weighted_on = weights_by_hand(&plain, 3, |i| Some(maml_lab::config::multi_step_loss_weights(2, i, 2)));
    assert_ne!(values(&weighted_on[2]), values(&annealed[2]), "and then stops");

    let mut one = small(TaskKind::Glyphs);
    let plain_one = weights_each(&one, 2, None);
    one.maml.multi_step_loss = Some(5);
    assert_eq!(values(&weights_each(&one, 2, None)[1]), values(&plain_one[1]), "one inner step: the plain run");

    let mut c = small(TaskKind::Glyphs).with_algorithm(maml_lab::config::Algorithm::Reptile);
    c.maml.multi_step_loss = Some(5);
    refused(&c, "Reptile");
    let mut c = small(TaskKind::Navigation);
    c.maml.multi_step_loss = Some(5);
    refused(&c, "navigation");
    let mut c = small(TaskKind::Glyphs);
    c.maml.multi_step_loss = Some(0);
    refused(&c, "at least 1 meta-iteration");
    let mut c = small(TaskKind::Glyphs);
    c.maml.step_loss_weights = Some(vec![1.0, 1.0]);
    refused(&c, "one per inner step");
}

/// MAML++'s learned per-layer per-step inner rates (`--per-step-rates`; the meta-gradient itself:
/// tests/gradcheck.rs). They start at α, so a fresh run's first meta-iteration moves θ as the
/// plain run's, bit for bit, and moves the rates too; the steps past the learned ones take the
/// last step's rates; the weights file carries them, and a file without them is refused.
#[test]
fn per_step_rates_start_at_alpha_and_are_learned() {
    let mut plain = small(TaskKind::Glyphs);
    plain.maml.inner_steps = 2;
    let mut lslr = plain.clone();
    lslr.maml.per_step_rates = Some(2);
    lslr.validate().unwrap();
    let (p, l) = (values(&weights_each(&plain, 1, None)[0]), values(&weights_each(&lslr, 1, None)[0]));
    let rates = l.last().unwrap();
    assert_eq!(l.len(), p.len() + 1, "the rates are one tensor more");
    assert_eq!(&l[..p.len()], &p[..], "θ's first step is the plain run's");
    assert_eq!(rates.len(), 2 * p.len(), "a rate per parameter tensor and step");
    assert!(rates.iter().all(|&r| r != plain.maml.inner_lr as f32), "every rate moved from α: {rates:?}");

    // the second step's rates zeroed by hand: after the first step, adaptation stands still
    let mut t = Trainer::new(lslr.clone(), &[], &Device::flex()).unwrap();
    let mut w = Weights::decode(&t.weights().wait()).unwrap();
    let tensors = p.len();
    w.values.last_mut().unwrap()[tensors..].fill(0.0);
    t.load_weights(&w.encode()).unwrap();
    let moving = Trainer::new(plain.clone(), &[], &Device::flex()).unwrap().evaluate(3, 1, maml_lab::Start::MetaLearned).wait();
    let report = t.evaluate(3, 4, maml_lab::Start::MetaLearned).wait();
    for (task, alone) in report.tasks.iter().zip(&moving.tasks) {
        assert_eq!(task.loss[1], alone.loss[1], "the first step at α");
        assert_ne!(task.loss[1], task.loss[0]);
        assert!(task.loss[2..].iter().all(|&l| l == task.loss[1]), "steps 2 to 4 take the second step's rates, 0: {:?}", task.loss);
    }

    // the weights of a run without them, and the other way round, are refused with the reason
    let mut other = Trainer::new(plain.clone(), &[], &Device::flex()).unwrap();
    let err = other.load_weights(&t.weights().wait()).unwrap_err().to_string();
    assert!(err.contains("learned per-step rates for 2 inner steps") && err.contains("this run has no learned per-step rates"), "{err}");
    assert!(t.load_weights(&other.weights().wait()).is_err());
    // nor can a live change add, drop or resize them
    let err = t.set_maml(MamlConfig { per_step_rates: Some(3), inner_steps: 3, ..lslr.maml.clone() }).unwrap_err().to_string();
    assert!(err.contains("per-step rates and batch-norms are the run"), "{err}");
    t.set_maml(MamlConfig { inner_steps: 3, ..lslr.maml.clone() }).unwrap();
    t.step().wait().unwrap(); // the third step takes the second's rates

    for algorithm in [maml_lab::config::Algorithm::Anil, maml_lab::config::Algorithm::MetaSgd, maml_lab::config::Algorithm::Reptile] {
        let mut c = small(TaskKind::Glyphs).with_algorithm(algorithm);
        c.maml.per_step_rates = Some(1);
        refused(&c, "MAML's");
    }
    let mut c = small(TaskKind::Glyphs);
    c.maml.per_step_rates = Some(0);
    refused(&c, "at least 1 inner step");
}

/// MAML++'s per-step batch-norm weights and biases (`--per-step-bn`; the meta-gradient itself:
/// tests/gradcheck.rs): the inner loop leaves every batch-norm as it is, the later steps' own
/// are in the weights file (and a file without them is refused), and only MAML on a conv net
/// takes them.
#[test]
fn per_step_batch_norm_is_not_adapted_and_is_learned() {
    let mut plain = small(TaskKind::Glyphs);
    plain.maml.inner_steps = 3;
    let mut bn = plain.clone();
    bn.maml.per_step_bn = Some(3);
    bn.validate().unwrap();
    let mut t = Trainer::new(bn.clone(), &[], &Device::flex()).unwrap();
    let (p, b) = (values(&weights_each(&plain, 1, None)[0]), values(&t.weights().wait()));
    let blocks = 4; // conv4
    assert_eq!(b.len(), p.len() + 2 * 2 * blocks, "steps 2 and 3: γ and β per block");
    t.step().wait().unwrap();
    let after = values(&t.weights().wait());
    assert!(after[p.len()..].iter().zip(&b[p.len()..]).all(|(x, y)| x != y), "every later step's batch-norm is learned");

    // the view's inner loop: adaptation moves the convolutions but no batch-norm
    let params = t.meta_parameters();
    let task = t.meta_test_tasks(1);
    let tensors = maml_lab::maml::TaskTensors::new(&task, t.input_shape(), &Device::flex());
    let adapted = maml_lab::maml::adapt(&params, &tensors, &bn.maml);
    let rows = params.norms_by_step(1).unwrap();
    let last = &rows[2];
    for (block, (theirs, start)) in adapted.fast.blocks.iter().zip(last.iter().zip(&params.theta.blocks)) {
        let read = |x: &maml_lab::model::norm::BatchNorm| (x.gamma.val().into_data().try_to_vec::<f32>().unwrap(), x.beta.val().into_data().try_to_vec::<f32>().unwrap());
        assert_eq!(read(&block.norm), read(theirs), "after the last step, the last step's batch-norm, as it was");
        assert_ne!(block.conv.weight.val().into_data().try_to_vec::<f32>().unwrap(), start.conv.weight.val().into_data().try_to_vec::<f32>().unwrap(), "the convolution adapted");
    }

    let mut other = Trainer::new(plain.clone(), &[], &Device::flex()).unwrap();
    let err = other.load_weights(&t.weights().wait()).unwrap_err().to_string();
    assert!(err.contains("learned per-step batch-norms for 3 inner steps"), "{err}");
    let mut c = small(TaskKind::Sinusoid);
    c.maml.per_step_bn = Some(1);
    refused(&c, "the mlp has none");
    let mut c = small(TaskKind::Glyphs).with_algorithm(maml_lab::config::Algorithm::Anil);
    c.maml.per_step_bn = Some(1);
    refused(&c, "MAML's");
}

/// The zeroing trick (`zero_head`): the head starts at zero and stays there while the body
/// learns, for every algorithm; so a task whose classes are numbered in another order adapts to
/// the same losses, which a meta-learned head does not (nor Meta-SGD's, whose head has a rate
/// per class). A file with a meta-learned head is refused, a live change cannot turn it on or
/// off, and the sinusoid has no classes to start alike.
#[test]
fn a_zero_head_stays_at_zero_and_makes_the_class_order_irrelevant() {
    use maml_lab::config::Algorithm;
    use maml_lab::tasks::{Labels, Set, Task};
    let read = |t: burn::Tensor<3>| t.into_data().try_to_vec::<f32>().unwrap();
    let renumbered = |task: &Task| {
        let shift = |set: &Set| match &set.labels {
            Labels::Classes { labels, ways } => Set { labels: Labels::Classes { labels: labels.iter().map(|l| (l + 1) % ways).collect(), ways: *ways }, ..set.clone() },
            Labels::Values(_) => unreachable!("glyphs are classes"),
        };
        Task { support: shift(&task.support), query: shift(&task.query), meta: task.meta.clone() }
    };
    // the largest relative difference of the query losses after 0..=5 steps, as numbered and renumbered
    let reorder_effect = |t: &Trainer| {
        let tasks = t.meta_test_tasks(2);
        let as_drawn = t.evaluate_on(&tasks, 5, Start::MetaLearned).wait();
        let other = t.evaluate_on(&tasks.iter().map(renumbered).collect::<Vec<_>>(), 5, Start::MetaLearned).wait();
        let pairs = as_drawn.tasks.iter().zip(&other.tasks).flat_map(|(a, b)| a.loss.iter().zip(&b.loss).map(|(x, y)| (x - y).abs() / x.abs().max(1e-3)).collect::<Vec<_>>());
        pairs.fold(0f64, f64::max)
    };
    for &algorithm in Algorithm::ALL {
        let mut c = small(TaskKind::Glyphs).with_algorithm(algorithm);
        c.maml.inner_steps = 2;
        c.maml.zero_head = true;
        let mut t = Trainer::new(c.clone(), &[], &Device::flex()).unwrap();
        let body = |t: &Trainer| t.meta_parameters().theta.blocks[0].conv.weight.val().into_data().try_to_vec::<f32>().unwrap();
        let start = body(&t);
        for _ in 0..3 {
            t.step().wait().unwrap();
        }
        let p = t.meta_parameters();
        assert!(read(p.theta.head.weight.val()).iter().all(|&w| w == 0.0), "{algorithm}: the head's weights stay at zero");
        // every direction of such a run leaves the head out (the landscape's, the comparison's)
        struct Tracked;
        impl burn::module::ModuleMapper for Tracked {
            fn map_float<const D: usize>(&mut self, param: burn::module::Param<burn::Tensor<D>>) -> burn::module::Param<burn::Tensor<D>> {
                param.map(|t| t.autodiff())
            }
        }
        let tracked = burn::module::Module::map(p.clone(), &mut Tracked);
        let sum = maml_lab::maml::learners::direction(&tracked, &t.meta_test_tasks(2), t.input_shape(), &c.maml, 2);
        assert!(!sum.direction.0.contains_key(&p.theta.head.weight.id) && !sum.direction.0.contains_key(&p.theta.head.bias.id), "{algorithm}");
        assert!(sum.direction.0.contains_key(&p.theta.blocks[0].conv.weight.id), "{algorithm}: the body's is there");
        assert!(p.theta.head.bias.val().into_data().try_to_vec::<f32>().unwrap().iter().all(|&b| b == 0.0), "{algorithm}: and its biases");
        assert_ne!(body(&t), start, "{algorithm}: the body learns");
        if algorithm == Algorithm::MetaSgd {
            continue;
        }
        let zero = reorder_effect(&t);
        assert!(zero < 1e-5, "{algorithm}: with a zero head the class order changes the losses by {zero:e}");
        let mut plain = Trainer::new(TrainerConfig { maml: MamlConfig { zero_head: false, ..c.maml.clone() }, ..c.clone() }, &[], &Device::flex()).unwrap();
        for _ in 0..3 {
            plain.step().wait().unwrap();
        }
        let learned = reorder_effect(&plain);
        assert!(learned > 1e-3, "{algorithm}: a meta-learned head should care about the class order ({learned:e})");
        // a file with a meta-learned head is refused; the other way round starts a head at zero
        let err = t.load_weights(&plain.weights().wait()).unwrap_err().to_string();
        assert!(err.contains("holds its head at zero"), "{err}");
        plain.load_weights(&t.weights().wait()).unwrap();
        let err = t.set_maml(MamlConfig { zero_head: false, ..c.maml.clone() }).unwrap_err().to_string();
        assert!(err.contains("zero_head") && err.contains("the run's"), "{err}");
    }
    let mut c = small(TaskKind::Sinusoid);
    c.maml.zero_head = true;
    refused(&c, "not classes");
    // settings under which nothing would learn: no gradient reaches the body through a zero head
    let mut c = small(TaskKind::Glyphs);
    (c.maml.zero_head, c.maml.inner_steps) = (true, 0);
    refused(&c, "needs at least 1 inner step");
    let mut c = small(TaskKind::Glyphs).with_algorithm(Algorithm::Reptile);
    (c.maml.zero_head, c.maml.inner_steps) = (true, 1);
    refused(&c, "Reptile needs at least 2 inner steps");
}
