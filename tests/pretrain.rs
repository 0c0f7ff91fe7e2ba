//! Supervised pre-training (`pretrain_steps`, `maml::pretrain`): batches labelled by class across
//! every meta-train class, one step equal to Adam's step along burn's own autodiff gradient of
//! the classification loss, a loss that falls, and θ's body replaced while its head is kept.

use std::collections::HashMap;

use burn::prelude::*;
use maml_lab::config::{Algorithm, MamlConfig, TaskKind, TrainerConfig};
use maml_lab::maml::TaskTensors;
use maml_lab::maml::adapt::tile;
use maml_lab::maml::params::autodiff_grads;
use maml_lab::maml::pretrain::{self, GROUPS, PER_GROUP};
use maml_lab::maml::shares::{Layout, Shares};
use maml_lab::model::{Grads, Network};
use maml_lab::rng::Rng;
use maml_lab::tasks::{self, Labels, TaskMeta, TaskSampler};
use maml_lab::{Trainer, TrainError};

fn small() -> TrainerConfig {
    let mut c = TrainerConfig::preset(TaskKind::Glyphs);
    c.model.filters = 8;
    c.maml.meta_batch = 2;
    c.task.queries = 5;
    c
}

fn sampler(c: &TrainerConfig) -> Box<dyn TaskSampler> {
    tasks::sampler(&c.task, &[], c.seed).unwrap()
}

fn floats<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec().unwrap()
}

#[test]
fn a_pretraining_batch_labels_every_meta_train_class_the_same_way_every_time() {
    let c = small();
    let s = sampler(&c);
    let classes = s.pretraining_classes().expect("glyphs have classes");
    assert!(classes > c.task.ways, "every meta-train class, not a task's ways ({classes})");
    let (mut rng, mut again) = (Rng::new(5), Rng::new(5));
    let mut class_of_label: HashMap<usize, usize> = HashMap::new();
    for _ in 0..40 {
        let task = s.pretraining_task(PER_GROUP, &mut rng).unwrap();
        assert_eq!(task, s.pretraining_task(PER_GROUP, &mut again).unwrap(), "a pure function of the stream");
        let (Labels::Classes { labels, ways }, TaskMeta::Classes(ids)) = (&task.query.labels, &task.meta) else { panic!("classes") };
        assert_eq!((*ways, labels.len(), task.query.n), (classes, PER_GROUP, PER_GROUP));
        assert_eq!(task.query.x.len(), PER_GROUP * s.input_shape().numel());
        for (&label, &id) in labels.iter().zip(ids) {
            assert!(label < classes);
            // not shuffled per batch: one label is one class across every batch
            assert_eq!(*class_of_label.entry(label).or_insert(id), id, "label {label} named two classes");
        }
        assert_eq!(task.support.n, 1, "a support of one example, never adapted on");
    }
    assert!(class_of_label.len() > classes / 2, "40 batches of 64 reach most of the {classes} classes ({})", class_of_label.len());
    // the same image carries the same label in every batch, whichever stream drew it (the
    // glyphs' classes have 20 images each, so 2 × 40 batches of 64 meet many images twice)
    assert!(!c.task.augment);
    let (mut label_of_image, mut met_again) = (HashMap::<Vec<u32>, usize>::new(), 0);
    for seed in [5, 6] {
        let mut rng = Rng::new(seed);
        for _ in 0..40 {
            let task = s.pretraining_task(PER_GROUP, &mut rng).unwrap();
            let Labels::Classes { labels, .. } = &task.query.labels else { panic!("classes") };
            for (image, &label) in task.query.x.chunks(s.input_shape().numel()).zip(labels) {
                let key = image.iter().map(|v| v.to_bits()).collect();
                match label_of_image.insert(key, label) {
                    Some(before) => {
                        assert_eq!(before, label, "one image, two labels");
                        met_again += 1;
                    }
                    None => {}
                }
            }
        }
    }
    assert!(met_again > 100, "images met again: {met_again}");
    // the sinusoid has no classes to pre-train on
    let sinusoid = TrainerConfig::preset(TaskKind::Sinusoid);
    let s = sampler(&sinusoid);
    assert!(s.pretraining_classes().is_none() && s.pretraining_task(4, &mut rng).is_none());
}

/// One pre-training step is Adam's first step along burn's autodiff gradient of the mean
/// classification loss of the step's groups (each batch-normed by its own statistics): for
/// Adam's first step θ moves by −β g / (|g| + ε), so by β against the gradient's sign wherever
/// |g| is well above ε.
#[test]
fn a_pretraining_step_is_adams_step_along_the_autodiff_gradient() {
    let c = small();
    let s = sampler(&c);
    let device = Device::flex().autodiff();
    let theta = Network::new(&c.model, s.input_shape(), s.outputs(), &mut Rng::new(1), &device).unwrap();
    let shares = Shares::new(&c.model, 2, &device, Layout::Shares);
    let rng = Rng::new(9);
    let mut reported = Vec::new();
    let stepped = pretrain::pretrain(&theta, s.as_ref(), &c, 1, &mut rng.clone(), &shares, |r| reported.push(r.meta_loss)).unwrap();

    // the same classifier and batch, drawn as `pretrain` draws them, through burn's autodiff
    let mut replay = rng.clone();
    let features = theta.head.weight.dims()[1];
    let classes = s.pretraining_classes().unwrap();
    let classifier = Network { head: maml_lab::model::dense::Dense::new(features, classes, &mut replay, &device), ..theta.clone() };
    let groups: Vec<_> = (0..GROUPS).map(|_| s.pretraining_task(PER_GROUP, &mut replay).unwrap()).collect();
    let t = TaskTensors::new(&groups, s.input_shape(), &device);
    let loss = tile(&classifier, GROUPS).loss(t.query_x, &t.query).mean();
    let at_start = f64::from(floats(loss.clone())[0]);
    assert!((reported[0] - at_start).abs() < 1e-4 * at_start, "the step's loss is the groups' mean loss: {} against {at_start}", reported[0]);
    let g = autodiff_grads(&classifier, &loss.backward());

    let beta = c.maml.meta_lr as f32;
    let (before, after) = (Grads::values(&theta), Grads::values(&stepped));
    let (mut checked, mut total) = (0, 0);
    for (id, start) in &before.0 {
        let (start, end) = (floats(start.clone()), floats(after.0[id].clone()));
        if theta.head.weight.id == *id || theta.head.bias.id == *id {
            assert_eq!(start, end, "θ's own head is kept");
            continue;
        }
        let grad = g.0.get(id).expect("every body parameter has a gradient");
        for ((a, b), gi) in start.iter().zip(&end).zip(floats(grad.clone())) {
            let moved = b - a;
            total += 1;
            assert!(moved.abs() <= beta * 1.001, "Adam's first step is at most β ({moved})");
            if gi.abs() > 1e-3 {
                checked += 1;
                assert!(moved * gi < 0.0 && (moved.abs() - beta).abs() < 0.02 * beta, "moved {moved} against a gradient of {gi}");
            }
        }
    }
    assert!(total > 1000 && checked * 2 > total, "most of the body's {total} values have a gradient well above ε ({checked})");
}

#[test]
fn pretraining_learns_to_classify_the_meta_train_classes() {
    let mut c = small();
    c.maml.meta_lr = 0.005; // (the glyphs' meta-train side has over a thousand classes)
    let s = sampler(&c);
    let device = Device::flex().autodiff();
    let theta = Network::new(&c.model, s.input_shape(), s.outputs(), &mut Rng::new(1), &device).unwrap();
    let shares = Shares::new(&c.model, 2, &device, Layout::Shares);
    let mut reports = Vec::new();
    pretrain::pretrain(&theta, s.as_ref(), &c, 120, &mut Rng::new(2), &shares, |r| reports.push(r.clone())).unwrap();
    let mean = |r: &[maml_lab::maml::StepReport], f: fn(&maml_lab::maml::StepReport) -> f64| r.iter().map(f).sum::<f64>() / r.len() as f64;
    let (first, last) = (&reports[..20], &reports[100..]);
    let chance = 1.0 / s.pretraining_classes().unwrap() as f64;
    let (loss_0, loss_1) = (mean(first, |r| r.meta_loss), mean(last, |r| r.meta_loss));
    let (acc_0, acc_1) = (mean(first, |r| r.accuracy.unwrap()), mean(last, |r| r.accuracy.unwrap()));
    assert!(loss_1 < 0.8 * loss_0, "the classification loss falls: {loss_0} → {loss_1}");
    assert!(acc_1 > 10.0 * chance && acc_1 > 2.0 * acc_0, "accuracy rises well above chance ({chance}): {acc_0} → {acc_1}");
    assert_eq!(reports.iter().map(|r| r.iteration).collect::<Vec<_>>(), (1..=120).collect::<Vec<_>>());
}

/// A run's pre-training: θ's body from the classifier, θ's head and the per-step rates and
/// batch-norms from the run's own start (zero for a zero head); the same whatever the threads;
/// refused once the run has meta-trained, as a live change, and where there are no classes.
#[test]
fn a_runs_pretraining_replaces_the_body_keeps_its_head_and_repeats() {
    let mut c = small();
    c.maml.pretrain_steps = Some(6);
    let run = |c: &TrainerConfig, threads: usize| {
        let mut t = Trainer::new(c.clone(), &[], &Device::flex()).unwrap();
        t.set_threads(threads);
        let fresh = t.meta_parameters().theta;
        let mut steps = 0;
        t.pretrain(|_| steps += 1).unwrap();
        assert_eq!(Some(steps), c.maml.pretrain_steps);
        (t, fresh)
    };
    let (mut t, fresh) = run(&c, 2);
    let theta = t.meta_parameters().theta;
    assert_eq!(floats(theta.head.weight.val()), floats(fresh.head.weight.val()), "the head is the run's own start");
    assert_ne!(floats(theta.blocks[0].conv.weight.val()), floats(fresh.blocks[0].conv.weight.val()), "the body is the classifier's");
    assert_ne!(floats(theta.blocks[0].norm.gamma.val()), floats(fresh.blocks[0].norm.gamma.val()), "batch-norms too");
    assert_eq!(t.weights().wait(), run(&c, 1).0.weights().wait(), "one thread or two: the same weights");
    assert_eq!(t.iteration(), 0, "no meta-iteration yet");
    t.step().wait().unwrap();
    let err = t.pretrain(|_| {}).unwrap_err().to_string();
    assert!(err.contains("a run's start") && err.ends_with("meta-trained 1 meta-iteration"), "{err}");
    let err = t.set_maml(MamlConfig { pretrain_steps: Some(7), ..c.maml.clone() }).unwrap_err().to_string();
    assert!(err.contains("pretrain_steps") && err.contains("the run's start"), "{err}");
    // weights saved after it load into a run that never pre-trains, and give the same θ
    let mut same = Trainer::from_weights(&t.weights().wait(), &[], &Device::flex()).unwrap();
    assert_eq!(same.weights().wait(), t.weights().wait());
    assert!(matches!(same.pretrain(|_| {}), Err(TrainError::Config(_))), "a loaded run is past its start");
    // even at iteration 0: weights saved right after pre-training are not pre-trained again
    let (once, _) = run(&c, 2);
    let mut again = Trainer::from_weights(&once.weights().wait(), &[], &Device::flex()).unwrap();
    assert_eq!(again.iteration(), 0);
    let err = again.pretrain(|_| {}).unwrap_err().to_string();
    assert!(err.contains("pre-trained, loaded or resumed already"), "{err}");
    let (mut twice, _) = run(&c, 2);
    assert!(twice.pretrain(|_| {}).is_err(), "nor pre-trained twice");

    // with a zero head and MAML++'s per-step batch-norms: the head stays zero, every step's
    // batch-norm starts from the pre-trained one
    let mut z = small();
    (z.maml.pretrain_steps, z.maml.zero_head, z.maml.inner_steps, z.maml.per_step_bn) = (Some(3), true, 2, Some(2));
    let (t, _) = run(&z, 2);
    let p = t.meta_parameters();
    assert!(floats(p.theta.head.weight.val()).iter().all(|&w| w == 0.0));
    let step2 = &p.step_norms.as_ref().unwrap()[0].blocks[0];
    assert_eq!(floats(step2.gamma.val()), floats(p.theta.blocks[0].norm.gamma.val()));

    // refusals, each with its sentence
    let mut bad = TrainerConfig::preset(TaskKind::Sinusoid);
    bad.maml.pretrain_steps = Some(10);
    assert!(bad.validate().unwrap_err().contains("not classes"));
    let mut bad = TrainerConfig::preset(TaskKind::Noise);
    bad.maml.pretrain_steps = Some(10);
    assert!(bad.validate().unwrap_err().contains("no fixed set"));
    let mut bad = small();
    bad.maml.pretrain_steps = Some(0);
    assert!(bad.validate().unwrap_err().contains("at least 1 step"));
    // every learner starts from it
    for &algorithm in Algorithm::ALL {
        let mut a = small().with_algorithm(algorithm);
        a.maml.pretrain_steps = Some(2);
        let (mut t, _) = run(&a, 2);
        t.step().wait().unwrap();
    }
}
