//! The wasm handle's contract, natively: JSON in and out, and a failed call leaves the lab as it was.

use maml_lab::web::Lab;
use serde_json::Value;

mod common;
use common::block_on;

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
fn a_checkpoint_resumes_the_run_in_a_fresh_lab_and_another_models_is_refused() {
    let mut lab = Lab::new(SINE).unwrap();
    block_on(lab.step(2));
    lab.set_maml(r#"{"inner_lr":0.05}"#).unwrap();
    let bytes = block_on(lab.export_checkpoint()).unwrap();
    let mut fresh = Lab::new(SINE).unwrap();
    fresh.resume_checkpoint(&bytes).unwrap();
    assert_eq!((fresh.iteration(), fresh.config()), (2, lab.config()));
    assert_eq!(block_on(fresh.step(2)), block_on(lab.step(2)));
    let mut glyphs = Lab::new(r#"{"task":"glyphs","filters":4}"#).unwrap();
    assert!(glyphs.resume_checkpoint(&bytes).unwrap_err().contains("another model"));
    assert!(fresh.resume_checkpoint(&bytes[..bytes.len() - 1]).unwrap_err().contains("truncated"));
}

#[test]
fn the_settings_table_gives_presets_that_make_runs() {
    let table = json(&Lab::settings_table());
    let keys: Vec<&str> = table["controls"].as_array().unwrap().iter().map(|c| c["key"].as_str().unwrap()).collect();
    assert_eq!(keys[0], "task");
    for (task, preset) in table["presets"].as_object().unwrap() {
        assert_eq!(preset.as_object().unwrap().keys().count(), keys.len(), "{task}: a value per control");
        // the page sends a preset as it is: it must make a run of that task (navigation's on
        // its own handle, which the worker makes for it)
        if task == "navigation" {
            let nav = maml_lab::web::NavLab::new(&preset.to_string()).unwrap();
            assert_eq!(json(&nav.config())["maml"]["meta_batch"], preset["meta_batch"]);
            assert!(Lab::new(&preset.to_string()).is_err(), "the supervised handle refuses navigation");
            continue;
        }
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

#[test]
fn meta_sgd_reports_its_learned_rates_and_the_others_none() {
    let mut lab = Lab::new(r#"{"task":"sinusoid","algorithm":"meta-sgd","meta_batch":4,"inner_lr":0.01}"#).unwrap();
    let before = json(&block_on(lab.learned_rates()).unwrap());
    let layers = before.as_array().unwrap();
    assert_eq!(layers.len(), 6, "the MLP's three weights and three biases");
    let near = |v: &Value| (v.as_f64().unwrap() - 0.01).abs() < 1e-8; // α, in f32
    assert!(layers.iter().all(|l| near(&l["mean"]) && near(&l["min"]) && near(&l["max"])), "rates start at α: {before}");
    assert_eq!(layers[0]["name"], "hidden.0.weight", "named by their path");
    block_on(lab.step(5));
    let after = json(&block_on(lab.learned_rates()).unwrap());
    assert!(after.as_array().unwrap().iter().any(|l| l["min"] != l["max"]), "the rates are meta-learned: {after}");
    let maml = Lab::new(SINE).unwrap();
    assert_eq!(block_on(maml.learned_rates()).unwrap(), "null");
}

#[test]
fn an_unknown_algorithm_is_refused_with_the_known_ones() {
    let e = Lab::new(r#"{"algorithm":"mamlx"}"#).err().unwrap();
    assert!(e.contains("mamlx") && e.contains("meta-sgd"), "{e}");
    let table = json(&Lab::settings_table());
    assert!(table["algorithms"]["anil"].as_str().unwrap().contains("only the head"));
}

// ---------------------------------------------------------------- a person's own task

/// A small run of `task` with `algorithm`, trained a few meta-iterations.
fn trained(task: &str, algorithm: &str) -> Lab {
    let mut lab = Lab::new(&format!(r#"{{"task":"{task}","algorithm":"{algorithm}","filters":4,"meta_batch":2,"queries":2,"seed":5}}"#)).unwrap();
    assert_eq!(json(&block_on(lab.step(3)))["error"], Value::Null);
    lab
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

/// Per step: the cross-entropy of the queries' probabilities against their labels, and each
/// query's most probable class.
fn scored(steps: &Value, labels: &[f32]) -> Vec<(f64, Vec<f32>)> {
    steps
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let p = floats(&s["outputs"]);
            let ways = p.len() / labels.len();
            let rows: Vec<&[f32]> = p.chunks(ways).collect();
            let ce = rows.iter().zip(labels).map(|(r, &y)| -(r[y as usize] as f64).ln()).sum::<f64>() / labels.len() as f64;
            let best = rows.iter().map(|r| (0..ways).max_by(|&a, &b| r[a].total_cmp(&r[b])).unwrap() as f32).collect();
            (ce, best)
        })
        .collect()
}

#[test]
fn an_own_task_of_sampled_glyphs_gets_the_views_probabilities_for_every_algorithm() {
    for algorithm in ["maml", "anil", "meta-sgd", "reptile"] {
        let lab = trained("glyphs", algorithm);
        let sample = json(&lab.sample_task(0));
        let (support_x, support_y, query_x, query_y) =
            (floats(&sample["support_x"]), floats(&sample["support_y"]), floats(&sample["query_x"]), floats(&sample["query_y"]));
        assert_eq!(support_x.len(), 5 * 784, "{algorithm}: 5-way 1-shot of 28x28");
        let own = json(&block_on(lab.adapt_task(support_x, support_y, query_x)).unwrap());
        // the oracle: the adaptation view of the same task, by its own path
        let view = json(&block_on(lab.view(0)).unwrap());
        let steps = view["steps"].as_array().unwrap();
        let ours = scored(&own["meta_learned"], &query_y);
        assert_eq!(ours.len(), steps.len(), "{algorithm}: a reading per inner step 0..=k");
        for (s, ((ce, best), v)) in ours.iter().zip(steps).enumerate() {
            let loss = v["query_loss"].as_f64().unwrap();
            assert!((ce - loss).abs() < 1e-4 * (1.0 + loss), "{algorithm} step {s}: cross-entropy {ce} != the view's {loss}");
            assert_eq!(best, &floats(&v["predictions"]), "{algorithm} step {s}: predicted classes");
        }
        let (first, last) = (&own["meta_learned"][0]["support_loss"], &own["meta_learned"][steps.len() - 1]["support_loss"]);
        assert!(last.as_f64() < first.as_f64(), "{algorithm}: the inner steps lower the support loss: {first} -> {last}");
        assert_ne!(own["random"], own["meta_learned"], "{algorithm}: a random start is another start");
    }
}

/// The first meta-test task of `lab`'s run, drawn as its meta-test draws it.
fn first_meta_test_task(lab: &Lab) -> maml_lab::tasks::Task {
    use maml_lab::{rng::Rng, tasks, trainer::streams};
    let config: maml_lab::TrainerConfig = serde_json::from_str(&lab.config()).unwrap();
    let sampler = tasks::sampler(&config.task, &[], config.seed).unwrap();
    sampler.sample(tasks::Split::MetaTest, &mut Rng::stream(config.seed, streams::META_TEST))
}

fn values(labels: &maml_lab::tasks::Labels) -> Vec<f32> {
    match labels {
        maml_lab::tasks::Labels::Classes { labels, .. } => labels.iter().map(|&c| c as f32).collect(),
        maml_lab::tasks::Labels::Values(v) => v.clone(),
    }
}

#[test]
fn both_starts_of_an_own_task_are_the_meta_tests() {
    for task in ["glyphs", "sinusoid"] {
        let lab = trained(task, "maml");
        let t = first_meta_test_task(&lab);
        let (support_y, query_y) = (values(&t.support.labels), values(&t.query.labels));
        let own = json(&block_on(lab.adapt_task(t.support.x.clone(), support_y, t.query.x.clone())).unwrap());
        for (start, random) in [("meta_learned", false), ("random", true)] {
            let e = json(&block_on(lab.evaluate(1, random)).unwrap());
            let oracle = floats(&e["tasks"][0]["loss"]);
            let ours: Vec<f64> = if task == "sinusoid" {
                own[start].as_array().unwrap().iter().map(|s| {
                    let p = floats(&s["outputs"]);
                    p.iter().zip(&query_y).map(|(p, y)| ((p - y) as f64).powi(2)).sum::<f64>() / p.len() as f64
                }).collect()
            } else {
                scored(&own[start], &query_y).into_iter().map(|(ce, _)| ce).collect()
            };
            assert_eq!(ours.len(), oracle.len(), "{task} {start}");
            for (s, (a, b)) in ours.iter().zip(&oracle).enumerate() {
                assert!((a - *b as f64).abs() < 1e-4 * (1.0 + a), "{task} {start} step {s}: {a} != the meta-test's {b}");
            }
        }
    }
}

#[test]
fn an_own_task_that_does_not_fit_is_refused_with_a_sentence() {
    let lab = trained("glyphs", "maml");
    let image = vec![0.5f32; 784];
    let support = |n: usize| image.repeat(n);
    let labels = |l: &[f32]| l.to_vec();
    let refused = |sx: Vec<f32>, sy: Vec<f32>, qx: Vec<f32>| block_on(lab.adapt_task(sx, sy, qx)).unwrap_err();
    let e = refused(support(4), labels(&[0., 1., 3., 4.]), image.clone());
    assert_eq!(e, "class 2 has no example: draw one or fill one from a sample");
    let e = refused(support(3), labels(&[0., 1., 2.]), image.clone());
    assert!(e.contains("classes 3, 4 have no example"), "{e}");
    assert!(refused(support(5), labels(&[0., 1., 2., 3., 7.]), image.clone()).contains("not one of the classes 0 to 4"));
    assert!(refused(support(5), labels(&[0., 1., 2., 3., 4.]), vec![]).contains("no query"));
    assert!(refused(support(5), labels(&[0., 1., 2., 3., 4.]), vec![0.0; 100]).contains("not a whole number of images of 784 values"));
    assert!(refused(support(5), labels(&[0., 1., 2., 3.]), image.clone()).contains("5 images but 4 labels"));
    let mut nan = support(5);
    nan[17] = f32::NAN;
    assert!(refused(nan, labels(&[0., 1., 2., 3., 4.]), image.clone()).contains("NaN, not a finite number"));
    assert!(refused(support(5), labels(&[0., 1., 2., 3., 4.]), image.repeat(257)).contains("over the limit"));
    let sine = trained("sinusoid", "maml");
    let e = block_on(sine.adapt_task(vec![], vec![], vec![0.0, 1.0])).unwrap_err();
    assert!(e.contains("no support points"), "{e}");
    let e = block_on(sine.adapt_task(vec![1.0], vec![f32::INFINITY], vec![0.0])).unwrap_err();
    assert!(e.contains("not a finite number"), "{e}");
    // a refusal changes nothing: the same task still adapts
    assert_eq!(lab.iteration(), 3);
    assert!(block_on(lab.adapt_task(support(5), labels(&[0., 1., 2., 3., 4.]), image)).is_ok());
}

/// The issue's run: 20-way 10-shot, 10 queries, 64 filters, 10 inner steps, meta-batch 64.
const TOO_LARGE: &str = r#"{"task":"glyphs","ways":20,"shots":10,"queries":10,"filters":64,"inner_steps":10,"meta_batch":64}"#;

/// A run that would overrun the wasm's memory is refused before it starts, with its size and
/// what to lower, whether it is the first run, a new run or a live change; the run goes on.
#[test]
fn a_run_too_large_for_the_page_is_refused_and_the_current_run_kept() {
    let e = Lab::new(TOO_LARGE).err().expect("the first run is refused");
    assert!(e.contains("GB per meta-iteration") && e.contains("lower the meta-batch"), "{e}");
    // a run of its ways and filters with few examples, one task and one inner step fits
    let mut lab = Lab::new(r#"{"task":"glyphs","ways":20,"shots":2,"queries":3,"filters":64,"inner_steps":1,"meta_batch":1}"#).unwrap();
    let before = lab.config();
    assert!(lab.reset(TOO_LARGE).unwrap_err().contains("GB per meta-iteration"));
    // a live change can make a run too large too: the meta-batch and the inner steps are live
    let e = lab.set_maml(r#"{"meta_batch":64,"inner_steps":10}"#).unwrap_err();
    assert!(e.contains("a browser tab"), "{e}");
    assert_eq!(lab.config(), before);
    lab.set_maml(r#"{"meta_batch":2}"#).unwrap();
}

/// A zip with fewer characters than the page's omniglot tasks need is refused at once, in one
/// sentence that says how many it has and how many it needs, and the run goes on untouched.
#[test]
fn a_zip_of_too_few_characters_is_refused_and_the_run_kept() {
    let image = |c: usize, i: usize| (format!("images_background/Alpha/character{:02}/{c}_{i:02}.png", c + 1), common::omniglot_png(10 + 5 * c + i));
    let two = common::zip(&(0..2).flat_map(|c| (0..20).map(move |i| image(c, i))).collect::<Vec<_>>(), zip::CompressionMethod::Stored);
    let mut lab = Lab::new(SINE).unwrap();
    block_on(lab.step(2));
    let e = lab.load_zip(&two).unwrap_err();
    assert!(e.starts_with("the zip has 2 characters; 5-way tasks need at least 6"), "{e}");
    assert!(lab.reset(r#"{"task":"omniglot"}"#).unwrap_err().contains("needs a zip"), "the refused zip was not kept");
    assert_eq!((lab.iteration(), &json(&lab.config())["task"]["kind"]), (2, &Value::from("sinusoid")));
}

/// The table says how many images a class has, so the page can keep shots + queries within it.
#[test]
fn the_settings_table_gives_each_tasks_images_per_class() {
    let table = json(&Lab::settings_table());
    assert_eq!(table["limits"]["glyphs"]["images_per_class"], 20);
    assert_eq!(table["limits"]["omniglot"]["images_per_class"], 20);
    assert!(table["limits"]["sinusoid"]["images_per_class"].is_null());
    // and a glyph run over it is refused by the handle too, in words
    let e = Lab::new(r#"{"task":"glyphs","shots":20,"queries":1,"filters":8}"#).err().unwrap();
    assert!(e.contains("fewer than shots + queries = 21"), "{e}");
}

/// The zip belongs to the worker, not to one lab: a lab made after it was loaded (as the page's
/// worker makes one when auto measures the backends again for a new shape of work) runs
/// omniglot from it.
#[test]
fn a_lab_made_after_the_zip_was_loaded_runs_omniglot() {
    let image = |c: usize, i: usize| (format!("images_background/Alpha/character{:02}/{c}_{i:02}.png", c + 1), common::omniglot_png(10 + 5 * c + i));
    let eight = common::zip(&(0..8).flat_map(|c| (0..20).map(move |i| image(c, i))).collect::<Vec<_>>(), zip::CompressionMethod::Stored);
    let mut lab = Lab::new(SINE).unwrap();
    assert!(Lab::new(r#"{"task":"omniglot"}"#).err().unwrap().contains("needs a zip"));
    lab.load_zip(&eight).unwrap();
    let mut other = Lab::new(r#"{"task":"omniglot","filters":4,"queries":1,"meta_batch":1}"#).unwrap();
    assert_eq!(json(&other.config())["task"]["kind"], "omniglot");
    assert!(json(&block_on(other.step(1)))["reports"][0]["meta_loss"].as_f64().unwrap().is_finite());
}

/// The hard question's options are Omniglot's: the page refuses them on another task with a
/// sentence, runs them on a zip, and a zip whose alphabets are smaller than the ways is refused
/// in words.
#[test]
fn the_omniglot_options_run_on_a_zip_and_are_refused_elsewhere() {
    let e = Lab::new(r#"{"task":"glyphs","within_alphabet":true}"#).err().unwrap();
    assert!(e.contains("Omniglot's"), "{e}");
    // two alphabets of twenty characters, twenty drawers each
    let image = |a: usize, c: usize, i: usize| (format!("images_background/Alpha{a}/character{:02}/{a}{c}_{:02}.png", c + 1, i + 1), common::omniglot_png(8 + (4 * c + i + 3 * a) % 95));
    let zip = common::zip(&(0..2).flat_map(|a| (0..20).flat_map(move |c| (0..20).map(move |i| image(a, c, i)))).collect::<Vec<_>>(), zip::CompressionMethod::Stored);
    let mut lab = Lab::new(SINE).unwrap();
    lab.load_zip(&zip).unwrap();
    let hard = r#"{"task":"omniglot","within_alphabet":true,"different_drawers":true,"filters":8,"queries":1,"meta_batch":2,"seed":1}"#;
    lab.reset(hard).unwrap();
    let c = json(&lab.config());
    assert_eq!((&c["task"]["within_alphabet"], &c["task"]["different_drawers"]), (&Value::from(true), &Value::from(true)));
    assert!(json(&block_on(lab.step(1)))["reports"][0]["meta_loss"].as_f64().unwrap().is_finite());
    let near = json(&lab.nearest_neighbours(4));
    for key in ["pixel", "hausdorff"] {
        let mean = near[key]["mean"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&mean), "{key}: {mean}");
    }
    // 20-way within alphabets of 20 characters, split between meta-training and meta-testing
    let e = lab.reset(&hard.replace(r#""queries":1"#, r#""queries":1,"ways":20"#)).unwrap_err();
    assert!(e.contains("alphabet"), "{e}");
    assert_eq!(json(&lab.config())["task"]["ways"], 5, "the refused run leaves the current one");
}

/// Augmentation is one of the page's run settings, offered for image tasks, run on glyphs and
/// refused in words on a task without strokes.
#[test]
fn the_page_offers_augment_runs_it_on_glyphs_and_refuses_it_for_noise() {
    let table = json(&Lab::settings_table());
    let control = table["controls"].as_array().unwrap().iter().find(|c| c["key"] == "augment").expect("an augment control");
    assert_eq!((&control["kind"], &control["images"], &control["live"]), (&Value::from("bool"), &Value::from(true), &Value::from(false)));
    assert_eq!(control["only"], serde_json::json!(["glyphs", "omniglot"]), "shown for the tasks of strokes only");
    assert_eq!(table["presets"]["glyphs"]["augment"], false, "off by default");
    let mut lab = Lab::new(r#"{"task":"glyphs","augment":true,"filters":4,"queries":1,"meta_batch":2}"#).unwrap();
    assert_eq!(json(&lab.config())["task"]["augment"], true);
    assert!(json(&block_on(lab.step(1)))["reports"][0]["meta_loss"].as_f64().unwrap().is_finite());
    let e = Lab::new(r#"{"task":"noise","augment":true}"#).err().unwrap();
    assert!(e.contains("task noise has no strokes"), "{e}");
}

/// The nearest neighbours are scored on the meta-test's own tasks; glyphs are far from chance
/// for them, and the sinusoid has none.
#[test]
fn the_nearest_neighbours_score_the_meta_tests_tasks() {
    let lab = Lab::new(r#"{"task":"glyphs","filters":8,"seed":2}"#).unwrap();
    let near = json(&lab.nearest_neighbours(8));
    assert!(near["pixel"]["mean"].as_f64().unwrap() > 0.4, "{near}");
    assert!(near["hausdorff"]["mean"].as_f64().unwrap() > 0.4, "{near}");
    assert_eq!(near, json(&lab.nearest_neighbours(8)), "the same tasks each time");
    assert_eq!(Lab::new(SINE).unwrap().nearest_neighbours(8), "null");
}
