//! The page's meta-iteration shared among workers (`Lab::plan_step`, `Share`), natively: the
//! same weights, bit for bit, for any number of workers, and the same as `Lab::step`.

use maml_lab::web::{Lab, Share, frame, unframe};
use serde_json::Value;

mod common;
use common::block_on;

fn glyphs(algorithm: &str, first_order: bool) -> String {
    format!(r#"{{"task":"glyphs","algorithm":"{algorithm}","first_order":{first_order},"filters":16,"queries":5,"meta_batch":8,"seed":11}}"#)
}

/// Units `0..units` cut into `workers` runs of consecutive units, as the page cuts them.
fn runs(units: u32, workers: u32) -> Vec<(u32, u32)> {
    (0..workers).map(|w| (w * units / workers, (w + 1) * units / workers)).filter(|(a, b)| b > a).map(|(a, b)| (a, b - a)).collect()
}

/// `iterations` meta-iterations with the meta-batch shared by `workers` workers: the first run
/// of units computed by the lab itself, the others by `Share`s from the weights and the tasks.
/// Before iteration `change_at`, α changes, as a slider would.
fn shared(settings: &str, workers: u32, iterations: usize, change_at: usize) -> (Vec<u8>, Vec<Value>, u32) {
    let mut lab = Lab::new(settings).unwrap();
    let mut reports = Vec::new();
    let mut units = 0;
    for i in 0..iterations {
        if i == change_at {
            lab.set_maml(r#"{"inner_lr":0.3}"#).unwrap();
        }
        units = lab.plan_step();
        let weights = block_on(lab.export_weights()).unwrap();
        for (w, (first, count)) in runs(units, workers).into_iter().enumerate() {
            if w == 0 {
                lab.compute_units(first, count).unwrap();
            } else {
                // a fresh share each time: it keeps nothing between calls
                let answer = Share::new().sums(&weights, &lab.unit_tasks(first, count).unwrap()).unwrap();
                lab.put_units(first, &answer).unwrap();
            }
        }
        let out: Value = serde_json::from_str(&block_on(lab.finish_step()).unwrap()).unwrap();
        assert_eq!(out["error"], Value::Null);
        reports.extend(out["reports"].as_array().unwrap().iter().cloned());
    }
    (block_on(lab.export_weights()).unwrap(), reports, units)
}

/// The same run by `Lab::step`, the one-worker page.
fn alone(settings: &str, iterations: usize, change_at: usize) -> (Vec<u8>, Vec<Value>) {
    let mut lab = Lab::new(settings).unwrap();
    let mut reports = Vec::new();
    for i in 0..iterations {
        if i == change_at {
            lab.set_maml(r#"{"inner_lr":0.3}"#).unwrap();
        }
        let out: Value = serde_json::from_str(&block_on(lab.step(1))).unwrap();
        reports.extend(out["reports"].as_array().unwrap().iter().cloned());
    }
    (block_on(lab.export_weights()).unwrap(), reports)
}

#[test]
fn any_number_of_workers_gives_the_one_workers_weights_bit_for_bit() {
    for (algorithm, first_order) in [("maml", false), ("maml", true), ("reptile", false), ("anil", false), ("meta-sgd", false)] {
        let settings = glyphs(algorithm, first_order);
        let (weights, reports) = alone(&settings, 3, 2);
        for workers in [1, 2, 3, 4] {
            let (w, r, units) = shared(&settings, workers, 3, 2);
            assert!(units >= 4, "{algorithm}: the glyph preset's meta-batch should be cut into several units, not {units}");
            assert_eq!(r, reports, "{algorithm} (first-order {first_order}) with {workers} workers: the reports differ");
            assert!(w == weights, "{algorithm} (first-order {first_order}) with {workers} workers: the weights differ from the one worker's");
        }
    }
}

#[test]
fn the_sinusoid_is_one_unit_and_runs_the_same_through_the_plan() {
    let settings = r#"{"task":"sinusoid","meta_batch":5,"seed":2}"#;
    let (weights, reports) = alone(settings, 3, 1);
    let (w, r, units) = shared(settings, 2, 3, 1);
    assert_eq!(units, 1, "the sinusoid's meta-batch is one batched matmul: one unit");
    assert_eq!((w, r), (weights, reports));
}

#[test]
fn the_units_do_not_depend_on_the_learning_but_on_the_shapes() {
    // the paper's 20-way settings at 32 filters: every task its own unit, at most eight units
    let mut lab = Lab::new(r#"{"task":"glyphs","ways":20,"filters":32,"queries":1,"meta_batch":16,"seed":1}"#).unwrap();
    assert_eq!(lab.plan_step(), 8);
    let mut lab = Lab::new(r#"{"task":"glyphs","ways":20,"filters":32,"queries":1,"meta_batch":3,"seed":1}"#).unwrap();
    assert_eq!(lab.plan_step(), 3);
}

#[test]
fn a_missing_unit_or_a_share_of_another_model_is_refused_and_the_plan_kept() {
    let settings = glyphs("maml", false);
    let mut lab = Lab::new(&settings).unwrap();
    let units = lab.plan_step();
    lab.compute_units(0, units - 1).unwrap();
    let refused = block_on(lab.finish_step()).unwrap_err();
    assert!(refused.contains("has not been computed"), "{refused}");
    // a share computed for a 32-filter model does not fit this 16-filter one
    let mut other = Lab::new(&settings.replace(r#""filters":16"#, r#""filters":32"#)).unwrap();
    other.plan_step();
    let answer = Share::new().sums(&block_on(other.export_weights()).unwrap(), &other.unit_tasks(0, 1).unwrap()).unwrap();
    let refused = lab.put_units(units - 1, &answer).unwrap_err();
    assert!(refused.contains("does not fit"), "{refused}");
    // a truncated answer, and units past the plan
    assert!(lab.put_units(units - 1, &answer[..answer.len() - 3]).is_err());
    assert!(lab.unit_tasks(units, 1).is_err());
    // the plan is still there: its last unit, then the meta-iteration
    lab.compute_units(units - 1, 1).unwrap();
    let out: Value = serde_json::from_str(&block_on(lab.finish_step()).unwrap()).unwrap();
    assert_eq!(out["reports"][0]["iteration"], 1);
    assert!(block_on(lab.finish_step()).unwrap_err().contains("no meta-iteration is planned"));
}

#[test]
fn a_share_refuses_what_is_not_a_weights_file_or_tasks() {
    let share = Share::new();
    assert!(share.sums(b"not weights", &frame(&[])).unwrap_err().contains("not a weights file"));
    let mut lab = Lab::new(&glyphs("maml", false)).unwrap();
    lab.plan_step();
    let weights = block_on(lab.export_weights()).unwrap();
    assert!(share.sums(&weights, b"\x01\x00\x00\x00\x09\x00\x00\x00abc").is_err());
    assert_eq!(unframe(&frame(&[b"ab".to_vec(), vec![]])).unwrap(), vec![&b"ab"[..], &b""[..]]);
}

#[test]
fn the_units_the_lab_announces_are_the_ones_it_plans() {
    for settings in [glyphs("maml", false), r#"{"task":"sinusoid","seed":1}"#.into(), r#"{"task":"glyphs","ways":20,"filters":32,"queries":1,"meta_batch":16,"seed":1}"#.into()] {
        let mut lab = Lab::new(&settings).unwrap();
        assert_eq!(lab.units(), lab.plan_step(), "{settings}");
        assert_eq!(lab.workers_that_fit(8), 8, "{settings}: the page's presets fit eight workers");
    }
}

/// A meta-test shared the same way: the lab's part and the shares' curves, put back together,
/// are the meta-test `evaluate` gives (to float rounding: the parts adapt their tasks in other
/// batches), from the learned start and from the random one.
#[test]
fn a_meta_test_shared_among_workers_is_the_lab_s_own() {
    for algorithm in ["maml", "meta-sgd"] {
        let mut lab = Lab::new(&glyphs(algorithm, false)).unwrap();
        block_on(lab.step(2));
        for random in [false, true] {
            let whole: Value = serde_json::from_str(&block_on(lab.evaluate(10, random)).unwrap()).unwrap();
            let weights = lab.start_weights(random);
            let mine: Value = serde_json::from_str(&lab.meta_test_curves(10, random, 0, 4).unwrap()).unwrap();
            let theirs: Value = serde_json::from_str(&Share::new().curves(&weights, &lab.meta_test_tasks(10, 4, 6).unwrap()).unwrap()).unwrap();
            let shared: Value = serde_json::from_str(&lab.meta_test_report(&serde_json::to_string(&[mine, theirs]).unwrap()).unwrap()).unwrap();
            let values = |v: &Value, key: &str| -> Vec<f64> { v["tasks"].as_array().unwrap().iter().flat_map(|t| t[key].as_array().unwrap().iter().map(|x| x.as_f64().unwrap())).collect() };
            for key in ["loss", "accuracy"] {
                let (a, b) = (values(&whole, key), values(&shared, key));
                assert_eq!(a.len(), b.len());
                for (x, y) in a.iter().zip(&b) {
                    assert!((x - y).abs() <= 1e-5 * x.abs().max(1.0), "{algorithm} (random start {random}) {key}: {x} alone, {y} shared");
                }
            }
            assert_eq!(whole["steps"].as_array().unwrap().len(), shared["steps"].as_array().unwrap().len());
        }
    }
    let lab = Lab::new(&glyphs("maml", false)).unwrap();
    assert!(lab.meta_test_tasks(10, 8, 3).is_err(), "past the meta-test's tasks");
    assert!(lab.meta_test_report("[[{\"loss\": 1}]]").is_err());
}

/// Playing, the one-worker page runs several meta-iterations per call (`step(n)`): the same
/// weights as the shared path one at a time.
#[test]
fn several_meta_iterations_per_call_are_the_shared_ones() {
    let settings = glyphs("maml", false);
    let mut lab = Lab::new(&settings).unwrap();
    let out: Value = serde_json::from_str(&block_on(lab.step(4))).unwrap();
    assert_eq!(out["reports"].as_array().unwrap().len(), 4);
    let (weights, _, _) = shared(&settings, 2, 4, usize::MAX);
    assert!(block_on(lab.export_weights()).unwrap() == weights);
}

/// The page samples the next meta-batch while the shares finish and sends their tasks ahead
/// (`Lab::sample_ahead`, `Share::keep`, `Share::sums_kept`): the run is the one-worker run, bit
/// for bit, also when a live change of the meta-batch after the sampling makes the next plan draw
/// afresh; and a share asked for kept units it was never sent refuses with a sentence.
#[test]
fn tasks_sent_ahead_are_the_ones_the_next_meta_iteration_trains_on() {
    let settings = glyphs("maml", false);
    let change = r#"{"meta_batch":6}"#;
    let mut alone_lab = Lab::new(&settings).unwrap();
    let mut lab = Lab::new(&settings).unwrap();
    let mut share = Share::new();
    let (mut kept, mut ahead_used) = (None::<(u32, u32)>, 0);
    for i in 0..5 {
        if i == 3 {
            alone_lab.set_maml(change).unwrap();
            lab.set_maml(change).unwrap();
        }
        block_on(alone_lab.step(1));
        let units = lab.plan_step();
        let weights = lab.share_weights();
        let [own, theirs] = runs(units, 2)[..] else { panic!("two runs of units") };
        let answer = if lab.planned_ahead() && kept == Some(theirs) {
            ahead_used += 1;
            share.sums_kept(&weights).unwrap()
        } else {
            share.sums(&weights, &lab.unit_tasks(theirs.0, theirs.1).unwrap()).unwrap()
        };
        lab.compute_units(own.0, own.1).unwrap();
        let next = runs(lab.sample_ahead(), 2)[1];
        share.keep(&lab.ahead_unit_tasks(next.0, next.1).unwrap()).unwrap();
        kept = Some(next);
        lab.put_units(theirs.0, &answer).unwrap();
        let out: Value = serde_json::from_str(&lab.finish_step_now().unwrap()).unwrap();
        assert_eq!(out["error"], Value::Null);
        assert!(lab.share_weights() == alone_lab.share_weights(), "meta-iteration {i}: the weights differ from the one worker's");
    }
    // iterations 1, 2 and 4 took the tasks sent ahead; 3 drew afresh after the meta-batch changed
    assert_eq!(ahead_used, 3);
    let _ = share.sums_kept(&lab.share_weights()).unwrap();
    let e = share.sums_kept(&lab.share_weights()).unwrap_err();
    assert!(e.contains("not sent"), "{e}");
}

/// `Lab::version` changes with every change of the weights, Adam's state or the settings, and
/// only then: what a share began early on a version is current while it holds. A new run's
/// version is none an earlier run held.
#[test]
fn the_version_changes_with_the_weights_and_the_settings_and_only_with_them() {
    let mut lab = Lab::new(&glyphs("maml", false)).unwrap();
    let mut seen = vec![lab.version()];
    let mut changed = |lab: &Lab, what: &str| {
        assert!(!seen.contains(&lab.version()), "{what}: the version did not change");
        seen.push(lab.version());
    };
    block_on(lab.step(1));
    changed(&lab, "a meta-iteration");
    let units = lab.plan_step();
    let v = lab.version();
    lab.compute_units(0, units).unwrap();
    lab.sample_ahead();
    let _ = (lab.share_weights(), lab.unit_tasks(0, 1).unwrap(), lab.ahead_unit_tasks(0, 1).unwrap(), block_on(lab.evaluate(2, false)).unwrap());
    assert_eq!(lab.version(), v, "planning, computing units, sampling ahead and reading change nothing");
    lab.finish_step_now().unwrap();
    changed(&lab, "a shared meta-iteration");
    lab.set_maml(r#"{"inner_lr":0.3}"#).unwrap();
    changed(&lab, "a live setting");
    let weights = lab.share_weights();
    lab.import_weights(&weights).unwrap();
    changed(&lab, "weights loaded, even the same ones");
    let checkpoint = block_on(lab.export_checkpoint()).unwrap();
    lab.resume_checkpoint(&checkpoint).unwrap();
    changed(&lab, "a checkpoint resumed");
    lab.reset(&glyphs("maml", false)).unwrap();
    changed(&lab, "a new run");
    assert!(lab.set_maml(r#"{"inner_lr":-1}"#).is_err());
    assert_eq!(lab.version(), *seen.last().unwrap(), "a refused setting changes nothing");
}

/// A share keeps the parameters it last built and writes the next weights file into them: one
/// share serving runs of other structures in turn (Meta-SGD's rates, fewer filters, other ways)
/// answers each as a fresh share does, bit for bit.
#[test]
fn a_share_serving_runs_of_other_structures_in_turn_answers_as_a_fresh_one() {
    let share = Share::new();
    let runs_of = [
        glyphs("maml", false),
        glyphs("meta-sgd", false),
        r#"{"task":"glyphs","filters":8,"queries":5,"meta_batch":8,"seed":3}"#.to_string(),
        r#"{"task":"glyphs","ways":3,"filters":8,"queries":5,"meta_batch":8,"seed":3}"#.to_string(),
        glyphs("maml", false),
    ];
    for settings in &runs_of {
        let mut lab = Lab::new(settings).unwrap();
        block_on(lab.step(1));
        let units = lab.plan_step();
        let (weights, tasks) = (lab.share_weights(), lab.unit_tasks(0, units).unwrap());
        let kept = share.sums(&weights, &tasks).unwrap();
        assert!(kept == Share::new().sums(&weights, &tasks).unwrap(), "{settings}: a share that served other runs answers otherwise");
    }
}

/// A meta-test's curves (on the plain device) before and between meta-iterations leave the
/// share's kept parameters (on the training device) as they were: the same share answers the
/// next units as a fresh one does.
#[test]
fn a_share_that_adapted_a_meta_test_between_two_meta_iterations_answers_as_a_fresh_one() {
    let mut lab = Lab::new(&glyphs("maml", false)).unwrap();
    let share = Share::new();
    share.curves(&lab.start_weights(false), &lab.meta_test_tasks(4, 0, 2).unwrap()).unwrap();
    for _ in 0..2 {
        let units = lab.plan_step();
        let (weights, tasks) = (lab.share_weights(), lab.unit_tasks(0, units).unwrap());
        let answer = share.sums(&weights, &tasks).unwrap();
        assert!(answer == Share::new().sums(&weights, &tasks).unwrap());
        share.curves(&lab.start_weights(false), &lab.meta_test_tasks(4, 0, 2).unwrap()).unwrap();
        lab.put_units(0, &answer).unwrap();
        lab.finish_step_now().unwrap();
    }
}

/// The comparison of exact and first-order meta-gradients (and Reptile's direction) with its
/// units shared among `workers` workers, as www/worker/shares.js shares them.
fn shared_comparison(lab: &mut Lab, workers: u32) -> (String, u32) {
    let units = lab.plan_compare();
    let learners = lab.compare_learners();
    for learner in 0..lab.compare_learners() {
        let weights = lab.compare_weights(learner).unwrap();
        for (w, (first, count)) in runs(units, workers).into_iter().enumerate() {
            if w == 0 {
                lab.compute_compare_units(learner, first, count).unwrap();
            } else {
                let answer = Share::new().sums(&weights, &lab.compare_unit_tasks(first, count).unwrap()).unwrap();
                lab.put_compare_units(learner, first, &answer).unwrap();
            }
        }
    }
    (lab.finish_compare_now().unwrap(), learners)
}

#[test]
fn a_comparison_shared_among_workers_is_the_lab_s_own_bit_for_bit_and_leaves_the_run_as_it_was() {
    for (algorithm, learners) in [("maml", 2), ("reptile", 3), ("meta-sgd", 2)] {
        let settings = glyphs(algorithm, false);
        let mut lab = Lab::new(&settings).unwrap();
        block_on(lab.step(1));
        let own = block_on(lab.compare_gradients()).unwrap();
        let figures: Value = serde_json::from_str(&own).unwrap();
        assert!(figures["exact_norm"].as_f64().unwrap() > 0.0, "{algorithm}: {own}");
        assert_eq!(figures["reptile"].is_null(), learners == 2, "{algorithm}: {own}");
        for workers in [1, 2, 3, 4] {
            assert_eq!(shared_comparison(&mut lab, workers), (own.clone(), learners), "{algorithm}: {workers} workers");
        }
        // the run goes on as it would have without the comparisons
        let (weights, _) = alone(&settings, 2, usize::MAX);
        block_on(lab.step(1));
        assert!(block_on(lab.export_weights()).unwrap() == weights, "{algorithm}: a shared comparison changed the run");
    }
}

#[test]
fn a_comparison_missing_a_unit_or_outdated_is_refused_with_a_sentence() {
    let mut lab = Lab::new(&glyphs("maml", false)).unwrap();
    assert!(lab.finish_compare_now().unwrap_err().contains("no comparison is planned"));
    let units = lab.plan_compare();
    lab.compute_compare_units(0, 0, units).unwrap();
    lab.compute_compare_units(1, 0, units - 1).unwrap();
    let missing = lab.finish_compare_now().unwrap_err();
    assert!(missing.contains(&format!("unit {} of the comparison's {units}", units - 1)), "{missing}");
    assert!(lab.compare_weights(2).unwrap_err().contains("a comparison has 2 learners"));
    // a unit of another model is refused; the plan is kept
    let other = Lab::new(&glyphs("meta-sgd", false)).unwrap();
    let mut other = other;
    other.plan_compare();
    let theirs = Share::new().sums(&other.compare_weights(1).unwrap(), &other.compare_unit_tasks(units - 1, 1).unwrap()).unwrap();
    assert!(lab.put_compare_units(1, units - 1, &theirs).unwrap_err().contains("does not fit"));
    lab.compute_compare_units(1, units - 1, 1).unwrap();
    // the settings changed in between: the comparison would mix two runs' figures
    lab.set_maml(r#"{"inner_lr":0.3}"#).unwrap();
    assert!(lab.finish_compare_now().unwrap_err().contains("changed while the gradients were compared"));
}

#[test]
fn derivative_order_annealing_shared_among_workers_is_the_one_workers_run() {
    // (the settings JSON takes the CLI's field; the page has no control for it)
    let settings = r#"{"task":"glyphs","filters":16,"queries":5,"meta_batch":8,"seed":12,"first_order_until":2}"#;
    let (weights, reports) = alone(settings, 4, usize::MAX);
    for workers in [2, 3] {
        let (w, r, _) = shared(settings, workers, 4, usize::MAX);
        assert_eq!(r, reports, "{workers} workers: the reports differ");
        assert!(w == weights, "{workers} workers: the weights differ from the one worker's");
    }
    // and the annealing happened: the run is neither the exact nor the first-order one
    let exact = alone(r#"{"task":"glyphs","filters":16,"queries":5,"meta_batch":8,"seed":12}"#, 4, usize::MAX).0;
    let first = alone(r#"{"task":"glyphs","filters":16,"queries":5,"meta_batch":8,"seed":12,"first_order":true}"#, 4, usize::MAX).0;
    assert!(weights != exact && weights != first);
}

#[test]
fn maml_plus_plus_shared_among_workers_is_the_one_workers_run() {
    // (the settings JSON takes the CLI's fields; the page has no controls for them)
    let plain = alone(r#"{"task":"glyphs","filters":16,"queries":5,"meta_batch":8,"seed":12,"inner_steps":2}"#, 4, usize::MAX).0;
    for extra in [r#""multi_step_loss":3"#, r#""per_step_rates":true"#, r#""per_step_bn":true"#, r#""multi_step_loss":3,"per_step_rates":true,"per_step_bn":true"#] {
        let settings = format!(r#"{{"task":"glyphs","filters":16,"queries":5,"meta_batch":8,"seed":12,"inner_steps":2,{extra}}}"#);
        let (weights, reports) = alone(&settings, 4, usize::MAX);
        for workers in [2, 3] {
            let (w, r, _) = shared(&settings, workers, 4, usize::MAX);
            assert_eq!(r, reports, "{extra}, {workers} workers: the reports differ");
            assert!(w == weights, "{extra}, {workers} workers: the weights differ from the one worker's");
        }
        let theta = |bytes: &[u8]| maml_lab::weights::Weights::decode(bytes).unwrap().values;
        let (ours, plain) = (theta(&weights), theta(&plain));
        assert!(ours[..plain.len()] != plain[..], "{extra} changed nothing in θ");
    }
}

/// A share keeps the skeleton of the last run it served: a run of the same model whose MAML++
/// settings differ (per-step batch-norm of one step has the plain run's shapes) gets its own.
#[test]
fn one_share_serving_two_runs_in_turn_computes_each_ones_sums() {
    let plain = r#"{"task":"glyphs","filters":16,"queries":5,"meta_batch":8,"seed":12,"inner_steps":1}"#;
    let bn = r#"{"task":"glyphs","filters":16,"queries":5,"meta_batch":8,"seed":12,"inner_steps":1,"per_step_bn":true}"#;
    let unit = |settings: &str| {
        let mut lab = Lab::new(settings).unwrap();
        lab.plan_step();
        (block_on(lab.export_weights()).unwrap(), lab.unit_tasks(0, 1).unwrap())
    };
    let ((pw, pt), (bw, bt)) = (unit(plain), unit(bn));
    let mut share = Share::new();
    for (weights, tasks) in [(&pw, &pt), (&bw, &bt), (&pw, &pt)] {
        share.keep(tasks).unwrap();
        let kept = share.sums_kept(weights).unwrap();
        assert!(kept == Share::new().sums(weights, tasks).unwrap(), "the sums of a share that served another run first");
    }
    assert!(Share::new().sums(&pw, &pt).unwrap() != Share::new().sums(&bw, &bt).unwrap(), "frozen batch-norms change the sums");
}
