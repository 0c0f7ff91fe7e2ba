//! The navigation handle's contract, natively: JSON in and out, a goal outside the square
//! clamped, and a failed call leaving the lab as it was.

use maml_lab::web::{Lab, NavLab};
use serde_json::Value;

fn json(s: &str) -> Value {
    serde_json::from_str(s).expect("the handle returns JSON")
}

const NAV: &str = r#"{"task":"navigation","meta_batch":2,"shots":3,"queries":3,"seed":5}"#;

#[test]
fn steps_report_finite_returns_and_the_same_seed_the_same_run() {
    let run = || {
        let mut lab = NavLab::new(NAV).unwrap();
        let out = json(&lab.step(2));
        assert!(out["error"].is_null(), "{out}");
        assert_eq!(lab.iteration(), 2);
        out["reports"].as_array().unwrap().iter().map(|r| r["return_after"].as_f64().unwrap()).collect::<Vec<_>>()
    };
    let a = run();
    assert!(a.iter().all(|r| r.is_finite() && *r < 0.0), "{a:?}");
    assert_eq!(a, run());
}

#[test]
fn the_arena_gives_paths_per_step_and_clamps_a_goal_outside_the_square() {
    let lab = NavLab::new(NAV).unwrap();
    let inside = json(&lab.arena(0.2, -0.3));
    assert_eq!(inside["clamped"], false);
    let steps = json(&lab.config())["maml"]["test_inner_steps"].as_u64().unwrap() as usize;
    for start in ["maml", "random"] {
        let s = inside[start].as_array().unwrap();
        assert_eq!(s.len(), steps + 1, "{start}: before adapting and after each step");
        let path = &s[0]["paths"][0];
        assert_eq!(path[0], serde_json::json!([0.0, 0.0]), "a trajectory starts at the origin");
        assert!(s[0]["return"].as_f64().unwrap() < 0.0);
    }
    let outside = json(&lab.arena(0.9, -2.0));
    assert_eq!(outside["clamped"], true);
    assert_eq!(outside["goal"], serde_json::json!([0.5, -0.5]));
}

#[test]
fn the_meta_test_reports_a_mean_and_an_interval_per_step() {
    let mut lab = NavLab::new(NAV).unwrap();
    let r = json(&lab.evaluate(4));
    let steps = r["steps"].as_u64().unwrap() as usize;
    for start in ["maml", "random"] {
        let s = r[start].as_array().unwrap();
        assert_eq!(s.len(), steps + 1);
        assert!(s.iter().all(|v| v["mean"].as_f64().unwrap() < 0.0 && v["ci"].as_f64().unwrap() >= 0.0), "{r}");
    }
}

#[test]
fn live_settings_apply_and_bad_ones_change_nothing() {
    let mut lab = NavLab::new(NAV).unwrap();
    lab.set_maml(r#"{"inner_lr":0.1,"inner_steps":2}"#).unwrap();
    let c = json(&lab.config());
    assert_eq!(c["maml"]["inner_lr"], 0.1);
    assert_eq!(c["maml"]["inner_steps"], 2);
    assert!(lab.set_maml(r#"{"meta_batch":0}"#).is_err());
    assert_eq!(json(&lab.config())["maml"]["meta_batch"], 2);
}

#[test]
fn weights_of_another_task_are_refused_and_a_navigation_file_round_trips() {
    let mut lab = NavLab::new(NAV).unwrap();
    lab.step(1);
    let bytes = lab.export_weights();
    let mut other = NavLab::new(NAV).unwrap();
    other.import_weights(&bytes).unwrap();
    assert_eq!(other.iteration(), 1);
    let sine = futures_lite_block(Lab::new(r#"{"task":"sinusoid","meta_batch":2}"#).unwrap());
    let err = other.import_weights(&sine).unwrap_err();
    assert!(err.contains("not a navigation policy"), "{err}");
    assert_eq!(other.iteration(), 1);
    // and the supervised handle refuses a navigation task
    assert!(Lab::new(NAV).is_err());
    // and a navigation handle refuses another task
    assert!(NavLab::new(r#"{"task":"sinusoid"}"#).is_err());
}

fn futures_lite_block(lab: Lab) -> Vec<u8> {
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};
    let mut f = pin!(lab.export_weights());
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v.expect("weights");
        }
    }
}
