//! A checkpoint resumes a run bit for bit: N meta-iterations, a checkpoint, a fresh trainer resumed from it and M more give the reports and weights of N + M straight.

use burn::prelude::Device;
use maml_lab::config::{Algorithm, TaskKind, TrainerConfig};
use maml_lab::{StepReport, TrainError, Trainer};

fn sinusoid(algorithm: Algorithm, first_order: bool) -> TrainerConfig {
    let mut c = TrainerConfig::preset(TaskKind::Sinusoid).with_algorithm(algorithm);
    (c.maml.meta_batch, c.maml.first_order) = (4, first_order);
    c
}

fn glyphs(algorithm: Algorithm, first_order: bool) -> TrainerConfig {
    let mut c = TrainerConfig::preset(TaskKind::Glyphs).with_algorithm(algorithm);
    (c.model.filters, c.task.queries, c.maml.meta_batch, c.maml.first_order) = (4, 2, 2, first_order);
    c.maml.inner_steps = c.maml.inner_steps.min(2);
    c
}

/// Every learner the page offers, exact and first-order where that differs.
fn learners() -> [(Algorithm, bool); 5] {
    [(Algorithm::Maml, false), (Algorithm::Maml, true), (Algorithm::Reptile, false), (Algorithm::MetaSgd, false), (Algorithm::Anil, false)]
}

fn trainer(config: &TrainerConfig) -> Trainer {
    Trainer::new(config.clone(), &[], &Device::flex()).unwrap()
}

/// A report with its floats as bits, so that equality is to the bit.
fn bits(r: StepReport) -> (usize, u64, u64, Option<u64>) {
    (r.iteration, r.meta_loss.to_bits(), r.grad_norm.to_bits(), r.accuracy.map(f64::to_bits))
}

fn run(t: &mut Trainer, n: usize) -> Vec<(usize, u64, u64, Option<u64>)> {
    (0..n).map(|_| bits(t.step().wait().unwrap())).collect()
}

/// A trainer of `config` that has moved away from the start (θ, Adam and the task stream), so
/// that a resume must overwrite all of them.
fn elsewhere(config: &TrainerConfig) -> Trainer {
    let mut t = trainer(config);
    run(&mut t, 1);
    t
}

/// Runs `n + m` straight and `n`, checkpoint, resume in a fresh trainer, `m`: the same last `m`
/// reports, weights and checkpoint, to the bit.
fn resumes_exactly(what: &str, config: TrainerConfig, n: usize, m: usize) {
    let mut straight = trainer(&config);
    let reports = run(&mut straight, n + m);
    let mut first = trainer(&config);
    run(&mut first, n);
    let checkpoint = first.checkpoint().wait();
    let mut resumed = elsewhere(&config);
    resumed.resume(&checkpoint).unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(resumed.iteration(), n, "{what}");
    assert_eq!(resumed.checkpoint().wait(), checkpoint, "{what}: the resumed run's checkpoint is the one it resumed");
    assert_eq!(run(&mut resumed, m), reports[n..], "{what}: the reports after the checkpoint");
    assert_eq!(resumed.weights().wait(), straight.weights().wait(), "{what}: the weights at the end");
    assert_eq!(resumed.checkpoint().wait(), straight.checkpoint().wait(), "{what}: Adam and the task stream at the end");
}

#[test]
fn every_learner_on_the_sinusoid_resumes_bit_for_bit() {
    for (algorithm, first_order) in learners() {
        resumes_exactly(&format!("sinusoid, {algorithm}, first-order {first_order}"), sinusoid(algorithm, first_order), 3, 3);
    }
}

#[test]
fn every_learner_on_glyphs_resumes_bit_for_bit() {
    for (algorithm, first_order) in learners() {
        resumes_exactly(&format!("glyphs, {algorithm}, first-order {first_order}"), glyphs(algorithm, first_order), 2, 2);
    }
}

#[test]
fn a_checkpoint_before_the_first_step_starts_adam_afresh_as_the_run_did() {
    resumes_exactly("sinusoid, no step yet", sinusoid(Algorithm::Maml, false), 0, 2);
}

#[test]
fn a_live_change_of_the_maml_settings_is_carried_by_the_checkpoint() {
    let config = sinusoid(Algorithm::Maml, false);
    let mut changed = config.maml.clone();
    // α and β that serde_json reads back as a neighbouring f64: the checkpoint keeps their bits
    (changed.inner_lr, changed.meta_lr, changed.inner_steps, changed.grad_clip) = (0.0011522353198609879, 0.0004431710155677844, 2, Some(0.9119699561308207));
    let mut straight = trainer(&config);
    run(&mut straight, 2);
    straight.set_maml(changed.clone()).unwrap();
    run(&mut straight, 1);
    let checkpoint = straight.checkpoint().wait();
    let mut resumed = elsewhere(&config);
    resumed.resume(&checkpoint).unwrap();
    let (got, want) = (&resumed.config().maml, &changed);
    assert_eq!((got.inner_lr.to_bits(), got.meta_lr.to_bits()), (want.inner_lr.to_bits(), want.meta_lr.to_bits()));
    assert_eq!((got.inner_steps, got.grad_clip.map(f64::to_bits)), (2, want.grad_clip.map(f64::to_bits)));
    assert_eq!(run(&mut resumed, 2), run(&mut straight, 2));
    assert_eq!(resumed.weights().wait(), straight.weights().wait());
}

/// `t` refuses `bytes` with a sentence holding every one of `words`, and trains on unchanged.
fn refused(t: &mut Trainer, bytes: &[u8], words: &[&str]) {
    let before = t.checkpoint().wait();
    match t.resume(bytes) {
        Err(TrainError::Weights(m)) => assert!(words.iter().all(|w| m.contains(w)), "'{m}' should say {words:?}"),
        other => panic!("expected a refusal with {words:?}, got {other:?}"),
    }
    assert_eq!(t.checkpoint().wait(), before, "a refusal changes nothing");
}

#[test]
fn a_checkpoint_of_another_model_or_run_or_a_damaged_one_is_refused_and_the_run_goes_on() {
    let config = glyphs(Algorithm::Maml, false);
    let mut t = trainer(&config);
    run(&mut t, 1);
    let mut twin = trainer(&config);
    run(&mut twin, 1);
    let ours = {
        let mut other = trainer(&config);
        run(&mut other, 2);
        other.checkpoint().wait()
    };
    let mut wider = config.clone();
    wider.model.filters = 8;
    refused(&mut t, &elsewhere(&wider).checkpoint().wait(), &["another model", "conv4 with 8 filters", "conv4 with 4 filters"]);
    let mut seed = config.clone();
    seed.seed = 9;
    refused(&mut t, &elsewhere(&seed).checkpoint().wait(), &["another run", "seed 9"]);
    refused(&mut t, &elsewhere(&config.clone().with_algorithm(Algorithm::Anil)).checkpoint().wait(), &["another run", "anil"]);
    for cut in [3, ours.len() / 2, 20, 8] {
        refused(&mut t, &ours[..ours.len() - cut], &["truncated"]);
    }
    let weights = t.weights().wait();
    refused(&mut t, &weights, &["not a checkpoint"]);
    let mut longer = ours.clone();
    longer.push(0);
    refused(&mut t, &longer, &["past its end"]);
    let mut negative = ours.clone();
    let n = negative.len();
    negative[n - 4..].copy_from_slice(&(-1.0f32).to_le_bytes());
    refused(&mut t, &negative, &["optimiser state"]);
    assert_eq!(run(&mut t, 2), run(&mut twin, 2), "the refused trainer trains on as one never offered a checkpoint");
    t.resume(&ours).unwrap();
    assert_eq!(t.iteration(), 2);
}

#[test]
fn maml_plus_plus_resumes_bit_for_bit() {
    // per-step rates and batch-norms (more parameters for Adam), the multi-step loss and both annealings, which
    // the resumed run continues from the checkpoint's meta-iteration
    let mut config = glyphs(Algorithm::Maml, false);
    config.maml.inner_steps = 2;
    (config.maml.per_step_rates, config.maml.per_step_bn, config.maml.multi_step_loss) = (Some(2), Some(2), Some(3));
    (config.maml.first_order_until, config.maml.meta_lr_cosine) = (Some(2), Some(5));
    resumes_exactly("glyphs, MAML++", config, 2, 2);
}
