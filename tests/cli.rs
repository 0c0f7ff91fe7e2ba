//! The `maml` command line: each subcommand's last JSON line, and one clear sentence for bad input.

use serde_json::Value;

mod common;
use common::{last_json, maml, refused};

#[test]
fn gradcheck_prints_its_figures() {
    let r = last_json(&maml(&["gradcheck", "--model", "mlp", "--inner-steps", "2", "--coords", "6"]));
    assert_eq!(r["model"], "mlp");
    assert_eq!(r["inner_steps"], 2);
    assert!(r["coords"].as_u64().unwrap() >= 5);
    assert!(r["max_rel_err"].as_f64().unwrap() < 1e-5);
}

#[test]
fn train_then_eval_writes_a_run_and_reports_every_step() {
    let dir = std::env::temp_dir().join(format!("maml-cli-{}", std::process::id()));
    let out = dir.to_str().unwrap();
    let r = last_json(&maml(&["train", "--task", "sinusoid", "--iterations", "20", "--meta-batch", "4", "--out", out, "--pretrained"]));
    assert_eq!(r["iterations"], 20);
    assert!(r["meta_loss"].as_f64().unwrap().is_finite() && r["seconds"].as_f64().is_some());
    for f in ["config.json", "weights.bin", "metrics.jsonl", "pretrained.bin"] {
        assert!(dir.join(f).exists(), "{f} missing");
    }
    let metrics = std::fs::read_to_string(dir.join("metrics.jsonl")).unwrap();
    assert_eq!(metrics.lines().count(), 20);
    let config: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["maml"]["meta_batch"], 4);

    let e = last_json(&maml(&["eval", "--run", out, "--tasks", "10"]));
    assert_eq!(e["task"], "sinusoid");
    assert_eq!(e["metric"], "mse");
    let steps = e["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 11, "the sinusoid meta-tests with 10 steps by default, 0..=10");
    assert!(steps.iter().all(|s| s["mean"].as_f64().is_some() && s["ci95"].as_f64().is_some()));
    assert_eq!(e["baselines"]["random_init"].as_array().unwrap().len(), 11);
    assert_eq!(e["baselines"]["pretrained"].as_array().unwrap().len(), 11);
    let e = last_json(&maml(&["eval", "--run", out, "--tasks", "4", "--inner-steps", "2"]));
    assert_eq!(e["steps"].as_array().unwrap().len(), 3);
    refused(&["eval", "--run", out, "--ways", "2"], "--ways is the classification tasks'");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn train_compares_the_meta_gradients_every_so_often_without_changing_the_run() {
    let dir = std::env::temp_dir().join(format!("maml-cli-compare-{}", std::process::id()));
    let lines = |compare: &str| {
        let out = dir.join(compare);
        maml(&["train", "--task", "sinusoid", "--iterations", "6", "--meta-batch", "4", "--compare-every", compare, "--out", out.to_str().unwrap()]);
        let text = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
        text.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()).collect::<Vec<_>>()
    };
    let (compared, plain) = (lines("3"), lines("0"));
    let with: Vec<u64> = compared.iter().filter(|l| l.get("gradients").is_some()).map(|l| l["iteration"].as_u64().unwrap()).collect();
    assert_eq!(with, [1, 4], "before meta-iterations 1 and 4, the 0th and 3rd done");
    for (c, p) in compared.iter().zip(&plain) {
        assert_eq!(c["meta_loss"], p["meta_loss"], "comparing leaves the run as it was");
        if let Some(g) = c.get("gradients") {
            // MAML's own direction is the exact one: its norm is the reported one
            assert_eq!(g["exact_norm"], c["grad_norm"]);
            assert!(g["first_order"]["cosine"].as_f64().unwrap() <= 1.0 + 1e-9 && g["reptile"].is_null());
        }
    }
    std::fs::remove_dir_all(dir).ok();
}

/// `--pretrain-steps`: the steps' reports in `pretraining.jsonl`, the setting in the run's
/// config, then meta-training as usual; a resumed run takes it from its checkpoint and does
/// not pre-train again; the sinusoid has no classes to pre-train on.
#[test]
fn train_pretrains_first_when_asked_and_resumes_without_it() {
    let dir = std::env::temp_dir().join(format!("maml-cli-pretrain-{}", std::process::id()));
    let out = dir.to_str().unwrap();
    let r = last_json(&maml(&["train", "--task", "glyphs", "--filters", "4", "--meta-batch", "2", "--queries", "2", "--pretrain-steps", "5", "--iterations", "2", "--out", out]));
    assert_eq!(r["iterations"], 2);
    let lines: Vec<Value> = std::fs::read_to_string(dir.join("pretraining.jsonl")).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 5);
    assert!(lines.iter().all(|l| l["run"] == "pretraining" && l["meta_loss"].as_f64().unwrap().is_finite() && l["accuracy"].as_f64().is_some()));
    let config: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["maml"]["pretrain_steps"], 5);
    assert_eq!(std::fs::read_to_string(dir.join("metrics.jsonl")).unwrap().lines().count(), 2);
    assert_eq!(last_json(&maml(&["eval", "--run", out, "--tasks", "4"]))["pretrain_steps"], 5, "eval says the run was pre-trained");
    let more = dir.join("more");
    let r = last_json(&maml(&["train", "--resume", dir.join("checkpoint.bin").to_str().unwrap(), "--iterations", "1", "--out", more.to_str().unwrap()]));
    assert_eq!(r["iterations"], 3);
    assert!(!more.join("pretraining.jsonl").exists(), "a resumed run is past its pre-training");
    refused(&["train", "--resume", dir.join("checkpoint.bin").to_str().unwrap(), "--pretrain-steps", "5", "--iterations", "1", "--out", out], "--resume takes every setting");
    refused(&["train", "--task", "sinusoid", "--pretrain-steps", "5", "--iterations", "1", "--out", out], "not classes");
    refused(&["bench", "--task", "glyphs", "--pretrain-steps", "5"], "bench times meta-iterations");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn bench_reports_speed() {
    let r = last_json(&maml(&["bench", "--task", "sinusoid", "--first-order", "--iterations", "3"]));
    assert!(r["it_per_s"].as_f64().unwrap() > 0.0);
    assert!(r["ms_per_iter_median"].as_f64().unwrap() > 0.0);
    assert_eq!((r["task"].as_str(), r["model"].as_str(), r["order"].as_str()), (Some("sinusoid"), Some("mlp"), Some("first")));
    assert_eq!(r["meta_batch"], 25);
    // the flags are the settings' fields: `--first-order false` and `--meta-batch` reach the run
    let r = last_json(&maml(&["bench", "--task", "sinusoid", "--first-order", "false", "--meta-batch", "3", "--iterations", "1"]));
    assert_eq!((r["order"].as_str(), r["meta_batch"].as_u64()), (Some("second"), Some(3)));
}

#[test]
fn bad_flags_and_impossible_settings_get_one_sentence() {
    refused(&["bench", "--task", "glyphs", "--ways", "0"], "ways must be at least 1");
    refused(&["bench", "--task", "glyphs", "--shots", "0"], "shots must be at least 1");
    refused(&["bench", "--inner-lr", "-1"], "inner_lr");
    refused(&["bench", "--meta-lr", "nan"], "meta_lr");
    refused(&["bench", "--task", "glyphs", "--ways", "600"], "fewer than ways");
    refused(&["bench", "--task", "omniglot"], "needs a zip");
    refused(&["bench", "--task", "omniglot", "--data", "/no/such.zip"], "cannot read");
    refused(&["bench", "--task", "mnist"], "unknown taskkind 'mnist'");
    refused(&["train", "--iterations", "1"], "--out");
    refused(&["eval", "--run", "/no/such/run"], "cannot read");
    refused(&["eval", "--run", "/no/such/run", "--rotations"], "--data");
    refused(&["bench", "--first-order", "maybe"], "maybe");
}

/// The binary keeps freed memory for the next meta-iteration instead of giving it back to the
/// system (`keep_freed_memory` in src/bin/maml/main.rs; the speed it buys is in BENCHMARKS.md):
/// resident memory stays flat over many iterations of the max-pool net (the noise control's
/// seed-article network, whose tasks keep no data that grows), since the same sizes come back.
#[cfg(target_os = "linux")]
#[test]
fn resident_memory_stays_flat_over_many_iterations_of_the_max_pool_net() {
    let r = last_json(&maml(&["bench", "--task", "noise", "--filters", "8", "--meta-batch", "4", "--iterations", "40"]));
    let (after_warm_up, at_end) = (r["resident_bytes_after_warm_up"].as_f64().unwrap(), r["resident_bytes_at_end"].as_f64().unwrap());
    assert!(at_end <= 1.1 * after_warm_up, "resident memory grew from {after_warm_up} to {at_end} bytes over 40 meta-iterations");
}

/// `maml landscape --run DIR` draws the run's θ with its path (`--path-every`) and Adam's state
/// (`checkpoint.bin`): the centre of its grid is the meta-loss the run would report for the
/// landscape's tasks, which `Trainer::landscape_meta_loss` computes the training way; the CSV is
/// the JSON's grid; the path's points are the files kept.
#[test]
fn landscape_draws_a_run_with_its_path() {
    let dir = std::env::temp_dir().join(format!("maml-landscape-{}", std::process::id()));
    let run = dir.join("run");
    let ok = maml(&["train", "--task", "sinusoid", "--iterations", "12", "--meta-batch", "4", "--path-every", "5", "--out", run.to_str().unwrap()]);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let mut kept: Vec<String> = std::fs::read_dir(run.join("path")).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    kept.sort();
    assert_eq!(kept, ["000000.bin", "000005.bin", "000010.bin"]);
    let out = dir.join("plane");
    let line = last_json(&maml(&["landscape", "--run", run.to_str().unwrap(), "--size", "7", "--out", out.to_str().unwrap()]));
    assert_eq!(line["path_points"], 3);
    assert!(line["adam"].as_str().unwrap().contains("checkpoint.bin"), "{line}");
    let file: Value = serde_json::from_str(&std::fs::read_to_string(out.with_extension("json")).unwrap()).unwrap();
    let grid: Vec<Vec<f64>> = serde_json::from_value(file["grid"].clone()).unwrap();
    assert_eq!((grid.len(), grid[0].len()), (7, 7));
    // the same θ, Adam and tasks in this process: the trainer the checkpoint resumes
    let mut trainer = maml_lab::Trainer::from_weights(&std::fs::read(run.join("weights.bin")).unwrap(), &[], &burn::prelude::Device::flex()).unwrap();
    trainer.resume(&std::fs::read(run.join("checkpoint.bin")).unwrap()).unwrap();
    let expected = trainer.landscape_meta_loss().wait();
    assert!((grid[3][3] - expected).abs() <= 1e-5 * expected, "centre {} against the run's meta-loss {expected}", grid[3][3]);
    assert_eq!(file["centre_loss"].as_f64().unwrap(), line["centre_loss"].as_f64().unwrap());
    let csv = std::fs::read_to_string(out.with_extension("csv")).unwrap();
    let rows: Vec<Vec<f64>> = csv.lines().skip(1).map(|l| l.split(',').map(|x| x.parse().unwrap()).collect()).collect();
    assert_eq!(rows.len(), 49);
    assert_eq!(rows[3 * 7 + 3], vec![0.0, 0.0, grid[3][3]], "row-major, b by row, a by column");
    let iterations: Vec<u64> = file["path"].as_array().unwrap().iter().map(|p| p["iteration"].as_u64().unwrap()).collect();
    assert_eq!(iterations, [0, 5, 10]);
    // a grid that cannot be drawn is a sentence
    let bad = maml(&["landscape", "--run", run.to_str().unwrap(), "--size", "8"]);
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("odd number"), "{}", String::from_utf8_lossy(&bad.stderr));
    std::fs::remove_dir_all(dir).ok();
}

/// An Omniglot zip by hand: `alphabets` of (name, characters), each character drawn by
/// `drawers` people; character k's image is a bar on row k + 2, starting at column 1 + drawer.
fn characters_zip(path: &std::path::Path, alphabets: &[(&str, usize)], drawers: usize) {
    let mut entries = vec![];
    let mut k = 0;
    for (alphabet, characters) in alphabets {
        for c in 0..*characters {
            for d in 1..=drawers {
                let bar = move |r: usize, col: usize| r == k + 2 && (1 + d..11 + d).contains(&col);
                entries.push((format!("set/{alphabet}/character{:02}/{:04}_{d:02}.png", c + 1, k + 1), common::png_of(28, bar)));
            }
            k += 1;
        }
    }
    std::fs::write(path, common::zip(&entries, zip::CompressionMethod::Deflated)).unwrap();
}

/// `maml eval` of Omniglot asks the hard question by default and says so; a zip laid out as one
/// test run (20 characters, a support and a query image each) is its one 20-way task; a run of
/// other ways, or alphabets too small, get a sentence.
#[test]
fn eval_of_omniglot_draws_within_one_alphabet_by_different_drawers_and_reads_a_test_run_zip() {
    let dir = std::env::temp_dir().join(format!("maml-cli-omniglot-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (pool, run_zip) = (dir.join("pool.zip"), dir.join("run.zip"));
    characters_zip(&pool, &[("Big", 22), ("Small", 5)], 4);
    // drawer 2's copy is the same bar one column to the right: each query is nearest its support
    characters_zip(&run_zip, &[("Runic", 20)], 2);
    let path = |p: &std::path::Path| p.to_str().unwrap().to_string();
    let train = |ways: &str, out: &str, more: &[&str]| {
        let (out, pool) = (path(&dir.join(out)), path(&pool));
        let mut args = vec!["train", "--task", "omniglot", "--data", &pool, "--data", &pool, "--ways", ways, "--queries", "2", "--filters", "4", "--meta-batch", "1", "--iterations", "2", "--out", &out];
        args.extend(more);
        last_json(&maml(&args));
        out
    };
    let (run20, run5) = (train("20", "run20", &[]), train("5", "run5", &[]));

    let e = last_json(&maml(&["eval", "--run", &run20, "--data", &path(&run_zip)]));
    assert_eq!((e["ways"].as_u64(), e["shots"].as_u64(), e["queries"].as_u64(), e["tasks"].as_u64()), (Some(20), Some(1), Some(1), Some(1)));
    assert_eq!(e["sampling"], serde_json::json!({"one_test_run": true, "within_alphabet": true, "different_drawers": true}));
    for s in e["steps"].as_array().unwrap() {
        let percent = s["mean"].as_f64().unwrap();
        assert!((percent / 5.0 - (percent / 5.0).round()).abs() < 1e-9, "one task of 20 queries scores in steps of 5 %: {percent}");
    }
    assert_eq!(e["baselines"]["pixel_nn"]["mean"].as_f64(), Some(100.0), "a bar one column off is nearest its own");
    assert_eq!(e["baselines"]["hausdorff_nn"]["mean"].as_f64(), Some(100.0));
    refused(&["eval", "--run", &run5, "--data", &path(&run_zip)], "trained for 5-way tasks");
    refused(&["eval", "--run", &run20, "--data", &path(&run_zip), "--rotations"], "--rotations does not apply");

    // a zip of characters to draw from: within one alphabet and by different drawers unless told
    let e = last_json(&maml(&["eval", "--run", &run20, "--data", &path(&pool), "--tasks", "4"]));
    assert_eq!(e["sampling"], serde_json::json!({"within_alphabet": true, "different_drawers": true}));
    assert_eq!(e["tasks"], 4);
    for baseline in ["pixel_nn", "hausdorff_nn"] {
        assert!(e["baselines"][baseline]["ci95"].as_f64().is_some(), "{baseline}: {}", e["baselines"]);
    }
    let args = ["eval", "--run", &run5, "--tasks", "3", "--within-alphabet", "false", "--different-drawers", "false"];
    let e = last_json(&maml(&args));
    assert_eq!(e["sampling"], serde_json::json!({"within_alphabet": false, "different_drawers": false}));
    // a 20-way run asked 5-way tasks: its head's first five classes
    let e = last_json(&maml(&["eval", "--run", &run20, "--data", &path(&pool), "--tasks", "3", "--ways", "5"]));
    assert_eq!((e["ways"].as_u64(), e["trained_ways"].as_u64()), (Some(5), Some(20)));
    assert!(e["steps"].as_array().unwrap().iter().all(|s| s["mean"].as_f64().is_some()));
    refused(&["eval", "--run", &run5, "--ways", "20"], "answers between 2 and 5 classes: its head was meta-learned for 5");
    refused(&["eval", "--run", &run20, "--ways", "1"], "at least 2");
    refused(&["eval", "--run", &run20, "--data", &path(&run_zip), "--ways", "4"], "leave --ways out, or give 20");
    // a test run of 5 characters for the 20-way run: at 5 ways, its one task
    let run_zip5 = dir.join("run5.zip");
    characters_zip(&run_zip5, &[("Runic", 5)], 2);
    refused(&["eval", "--run", &run20, "--data", &path(&run_zip5)], "`maml eval --ways 5`");
    let e = last_json(&maml(&["eval", "--run", &run20, "--data", &path(&run_zip5), "--ways", "5"]));
    assert_eq!((e["ways"].as_u64(), e["tasks"].as_u64(), e["sampling"]["one_test_run"].as_bool()), (Some(5), Some(1), Some(true)));
    assert_eq!(e["baselines"]["pixel_nn"]["mean"].as_f64(), Some(100.0));
    refused(&["eval", "--run", &run20, "--data", &path(&run_zip), "--ways", "5"], "a 20-way task, and --ways asks for 5-way tasks");
    // a run whose head is held at zero answers any number of classes: 20-way tasks from a 5-way
    // run, and a test run's 20 characters without --ways; not Meta-SGD's, with a rate per class
    let zero5 = train("5", "zero5", &["--zero-head", "--pretrained"]);
    let joint = std::fs::read(std::path::Path::new(&zero5).join("pretrained.bin")).unwrap();
    assert!(!maml_lab::weights::Weights::decode(&joint).unwrap().config.maml.zero_head, "the joint-trained baseline has a head of its own");
    let e = last_json(&maml(&["eval", "--run", &zero5, "--data", &path(&pool), "--tasks", "3"]));
    assert!(e["baselines"]["pretrained"].is_array(), "{}", e["baselines"]);
    let e = last_json(&maml(&["eval", "--run", &zero5, "--data", &path(&pool), "--tasks", "3", "--ways", "20"]));
    assert!(e["baselines"]["pretrained"]["not_measured"].as_str().unwrap().contains("has 5 classes"), "{}", e["baselines"]);
    assert_eq!((e["ways"].as_u64(), e["trained_ways"].as_u64(), e["zero_head"].as_bool()), (Some(20), Some(5), Some(true)));
    assert!((e["steps"][0]["mean"].as_f64().unwrap() - 5.0).abs() < 1e-3, "a zero head's start answers every class alike: chance, 5 %");
    assert!(e["steps"].as_array().unwrap().iter().all(|s| s["mean"].as_f64().is_some()));
    let e = last_json(&maml(&["eval", "--run", &zero5, "--data", &path(&run_zip)]));
    assert_eq!((e["ways"].as_u64(), e["tasks"].as_u64(), e["sampling"]["one_test_run"].as_bool()), (Some(20), Some(1), Some(true)));
    let sgd5 = train("5", "sgd5", &["--zero-head", "--algorithm", "meta-sgd"]);
    refused(&["eval", "--run", &sgd5, "--ways", "20"], "a learned rate for each of its 5 classes");
    characters_zip(&pool, &[("Big", 12), ("Small", 12)], 4);
    refused(&["eval", "--run", &run20, "--data", &path(&pool)], "largest alphabet has 12 classes, fewer than ways = 20");
    std::fs::remove_dir_all(dir).ok();
}
