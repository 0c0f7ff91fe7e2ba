//! The wasm handle's contract, natively: JSON in and out, and a failed call leaves the lab as it was.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use maml_lab::web::Lab;
use serde_json::Value;

/// Drives a future to completion; on the CPU backend every read is ready at once.
fn block_on<T>(f: impl Future<Output = T>) -> T {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

fn json(s: &str) -> Value {
    serde_json::from_str(s).expect("the handle returns JSON")
}

const SINE: &str = r#"{"task":"sinusoid","meta_batch":4,"seed":3}"#;

#[test]
fn steps_report_iterations_and_finite_losses() {
    let mut lab = Lab::new(SINE).unwrap();
    let out = json(&block_on(lab.step(3)));
    assert_eq!(out["error"], Value::Null);
    let reports = out["reports"].as_array().unwrap();
    assert_eq!(reports.len(), 3);
    assert_eq!(reports[2]["iteration"], 3);
    assert!(reports.iter().all(|r| r["meta_loss"].as_f64().unwrap().is_finite()));
    assert_eq!(lab.iteration(), 3);
}

#[test]
fn the_same_settings_give_the_same_losses() {
    let losses = || {
        let mut lab = Lab::new(SINE).unwrap();
        json(&block_on(lab.step(2)))["reports"].clone()
    };
    assert_eq!(losses(), losses());
}

#[test]
fn live_settings_change_the_config_and_bad_ones_change_nothing() {
    let mut lab = Lab::new(SINE).unwrap();
    lab.set_maml(r#"{"inner_lr":0.05,"inner_steps":3,"first_order":true}"#).unwrap();
    let c = json(&lab.config());
    assert_eq!(c["maml"]["inner_lr"], 0.05);
    assert_eq!(c["maml"]["inner_steps"], 3);
    assert_eq!(c["maml"]["first_order"], true);
    assert!(lab.set_maml(r#"{"meta_lr":-1}"#).unwrap_err().contains("meta_lr"));
    assert!(lab.set_maml(r#"{"alpha":1}"#).unwrap_err().contains("unreadable settings"));
    assert_eq!(json(&lab.config()), c);
}

#[test]
fn divergence_comes_back_as_a_sentence_with_the_reports_before_it() {
    let mut lab = Lab::new(r#"{"task":"sinusoid","meta_batch":2,"inner_lr":1e30}"#).unwrap();
    let out = json(&block_on(lab.step(5)));
    assert_eq!(out["reports"].as_array().unwrap().len(), 0);
    assert!(out["error"].as_str().unwrap().contains("diverged at iteration 1"));
    assert_eq!(lab.iteration(), 0);
}

#[test]
fn evaluate_and_view_return_their_reports() {
    let lab = Lab::new(r#"{"task":"glyphs","filters":4,"meta_batch":2,"queries":2}"#).unwrap();
    // the run's test_inner_steps (3 for glyphs) decide the steps of both
    let e = json(&block_on(lab.evaluate(3, false)).unwrap());
    assert_eq!(e["steps"].as_array().unwrap().len(), 4);
    assert_eq!(e["tasks"].as_array().unwrap().len(), 3);
    let random = json(&block_on(lab.evaluate(3, true)).unwrap());
    assert_ne!(random["steps"], e["steps"], "a random start is another start");
    let v = json(&block_on(lab.view(0)).unwrap());
    assert_eq!(v["support_y"].as_array().unwrap().len(), 5);
    assert_eq!(v["steps"].as_array().unwrap().len(), 4);
    assert_eq!(v["steps"][3]["predictions"].as_array().unwrap().len(), 10);
}

#[test]
fn a_bad_reset_or_zip_keeps_the_current_run() {
    let mut lab = Lab::new(SINE).unwrap();
    block_on(lab.step(2));
    assert!(lab.reset(r#"{"task":"glyphs","ways":0}"#).unwrap_err().contains("ways"));
    assert!(lab.reset(r#"{"task":"omniglot"}"#).unwrap_err().contains("needs a zip"));
    assert!(lab.load_zip(b"not a zip").unwrap_err().contains("not a readable zip"));
    assert_eq!(lab.iteration(), 2);
    assert_eq!(json(&lab.config())["task"]["kind"], "sinusoid");
    lab.reset(r#"{"task":"glyphs","filters":4}"#).unwrap();
    assert_eq!(lab.iteration(), 0);
}

#[test]
fn weights_export_and_import_and_refuse_another_model() {
    let mut lab = Lab::new(SINE).unwrap();
    block_on(lab.step(2));
    let bytes = block_on(lab.export_weights()).unwrap();
    let mut fresh = Lab::new(SINE).unwrap();
    fresh.import_weights(&bytes).unwrap();
    assert_eq!(fresh.iteration(), 2);
    let mut glyphs = Lab::new(r#"{"task":"glyphs","filters":4}"#).unwrap();
    assert!(glyphs.import_weights(&bytes).unwrap_err().contains("another model"));
}

#[test]
fn the_settings_table_gives_presets_that_make_runs() {
    let table = json(&Lab::settings_table());
    let keys: Vec<&str> = table["controls"].as_array().unwrap().iter().map(|c| c["key"].as_str().unwrap()).collect();
    assert_eq!(keys[0], "task");
    for (task, preset) in table["presets"].as_object().unwrap() {
        assert_eq!(preset.as_object().unwrap().keys().count(), keys.len(), "{task}: a value per control");
        // the page sends a preset as it is: it must make a run of that task
        let lab = Lab::new(&preset.to_string());
        if task == "omniglot" {
            assert!(lab.err().unwrap().contains("needs a zip"), "omniglot without a zip is refused");
            continue;
        }
        let config = json(&lab.unwrap().config());
        assert_eq!(config["task"]["kind"], task.as_str());
        assert_eq!(config["maml"]["meta_batch"], preset["meta_batch"]);
    }
}

#[test]
fn the_test_steps_follow_a_live_change_of_the_inner_steps() {
    let mut lab = Lab::new(r#"{"task":"glyphs","filters":4,"queries":2}"#).unwrap();
    assert_eq!(json(&lab.config())["maml"]["test_inner_steps"], 3);
    lab.set_maml(r#"{"inner_steps":5}"#).unwrap();
    assert_eq!(json(&lab.config())["maml"]["test_inner_steps"], 5);
    lab.set_maml(r#"{"inner_lr":0.1}"#).unwrap();
    assert_eq!(json(&lab.config())["maml"]["test_inner_steps"], 5, "a change of α alone keeps them");
}
