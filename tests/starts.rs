//! The meta-trained starts the page ships (www/starts/, made by scripts/make-starts.sh): each is
//! MAML's on the page's preset of its task, loads natively, and `maml eval` measures on it what
//! the manifest (which the page reads) and the README claim.

use std::path::Path;
use std::process::Command;

use maml_lab::TrainerConfig;
use maml_lab::config::Algorithm;
use maml_lab::weights::Weights;
use serde_json::Value;

/// The budget of one start file: tiny beside the page's wasm (2.7 MB gzipped).
const MAX_BYTES: usize = 64 << 10;

fn manifest() -> Value {
    let text = std::fs::read_to_string("www/starts/starts.json").expect("www/starts/starts.json (scripts/make-starts.sh writes it)");
    serde_json::from_str(&text).expect("the manifest is JSON")
}

/// `maml eval --tasks N` of a shipped file, through a run directory holding it as weights.bin.
fn eval(file: &Path, tasks: usize) -> Value {
    let dir = std::env::temp_dir().join(format!("maml-starts-{}-{}", std::process::id(), file.file_stem().unwrap().to_str().unwrap()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(file, dir.join("weights.bin")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_maml")).args(["eval", "--run", dir.to_str().unwrap(), "--tasks", &tasks.to_string()]).output().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(out.status.success(), "maml eval failed: {}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    serde_json::from_str(stdout.lines().last().unwrap()).unwrap()
}

/// The headline (last step's) figure of an eval's or the manifest's steps: (step, mean, ci95).
fn last(steps: &Value) -> (u64, f64, f64) {
    let s = steps.as_array().unwrap().last().unwrap();
    (s["step"].as_u64().unwrap(), s["mean"].as_f64().unwrap(), s["ci95"].as_f64().unwrap())
}

#[test]
fn the_sinusoid_glyphs_and_navigation_have_a_start_of_the_pages_preset_within_budget() {
    let manifest = manifest();
    let mut tasks: Vec<&String> = manifest.as_object().unwrap().keys().collect();
    tasks.sort();
    assert_eq!(tasks, ["glyphs", "navigation", "sinusoid"]);
    for (task, info) in manifest.as_object().unwrap() {
        let bytes = std::fs::read(Path::new("www/starts").join(info["file"].as_str().unwrap())).unwrap();
        assert_eq!(bytes.len() as u64, info["bytes"].as_u64().unwrap(), "{task}: the manifest's size");
        assert!(bytes.len() <= MAX_BYTES, "{task}: {} bytes, over the budget of {MAX_BYTES}", bytes.len());
        let w = Weights::decode(&bytes).unwrap();
        let kind = w.config.task.kind;
        assert_eq!(kind.name(), task);
        // the page offers it for MAML's preset of the task (views/starts.js compares the settings with it)
        assert_eq!(format!("{:?}", w.config), format!("{:?}", TrainerConfig::page_preset(kind, Algorithm::Maml)), "{task}: not the page's preset");
        assert_eq!(w.iteration as u64, info["iterations"].as_u64().unwrap());
    }
}

#[test]
fn each_start_scores_what_the_manifest_and_the_readme_say() {
    let readme = std::fs::read_to_string("README.md").unwrap();
    for (task, info) in manifest().as_object().unwrap() {
        let file = Path::new("www/starts").join(info["file"].as_str().unwrap());
        // the page meta-tests 24 tasks, or navigation's 20 goals
        let page = if info["metric"] == "return" { (20, "tasks20") } else { (24, "tasks24") };
        for (tasks, key) in [(600, "tasks600"), page] {
            let measured = eval(&file, tasks);
            let (step, mean, _) = last(&measured["steps"]);
            let (claimed_step, claimed, ci95) = last(&info[key]);
            assert_eq!(step, claimed_step);
            // the same tasks and arithmetic: the same figure, up to the printing of floats. Not
            // navigation's: its trajectories are sampled from the policy, and the last bit of a
            // GEMM's sum differs between hosts (it blocks by their cache sizes), which moves an
            // action, a step that ends an episode, and from there the samples: on another machine
            // its figure is another estimate of the same return, held to three standard errors of
            // the difference of two (2.2 times the figure's 95 % half-width)
            let tolerance = if info["metric"] == "return" { 2.2 * ci95 } else { 1e-6 * claimed.abs().max(1.0) };
            assert!((mean - claimed).abs() <= tolerance, "{task}, {tasks} tasks: measured {mean}, the manifest says {claimed} (± {ci95})");
        }
        // the README quotes the 600-task figure and the file's size
        let (_, mean, ci) = last(&info["tasks600"]);
        let figure = match info["metric"].as_str() {
            Some("mse") => format!("{mean:.3} ± {ci:.3}"),
            Some("return") => format!("{mean:.1} ± {ci:.1}"),
            _ => format!("{mean:.2} ± {ci:.2} %"),
        };
        assert!(readme.contains(&figure), "README.md should quote the {task} start's {figure}");
        let bytes = format!("{} bytes", info["bytes"]);
        assert!(readme.contains(&bytes), "README.md should state the {task} start's size, {bytes}");
    }
}
