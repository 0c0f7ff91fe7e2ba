//! Navigation: the environment as the authors wrote it, the meta-gradient against finite differences, its unbiasedness (and the authors' estimator's bias), and the CLI.

use burn::module::Module;
use burn::prelude::*;
use burn::tensor::FloatDType;

use maml_lab::config::{TaskKind, TrainerConfig};
use maml_lab::gradcheck::{Perturb, read_params};
use maml_lab::maml::params::{Detach, Tile, autodiff_grads};
use maml_lab::rl::env::{self, GOAL_BOX, MAX_SPEED};
use maml_lab::rl::meta::{Estimator, InnerLoop, ReturnHistory, inner_step, surrogate};
use maml_lab::rl::rollout::Rollouts;
use maml_lab::rl::trainer::NavStart;
use maml_lab::rl::{NavTrainer, Policy, gradcheck, rollout};
use maml_lab::rng::Rng;

mod common;
use common::{last_json, maml, refused};

/// The CPU in f64: every test of this binary asks for it first, since the first tensor fixes
/// the backend's precision for the process.
fn f64_device() -> Device {
    let mut device = Device::flex();
    let _ = device.configure(FloatDType::F64); // every test of this binary runs in f64
    device
}

#[test]
fn actions_are_scaled_from_the_unit_box_and_clipped_to_the_velocity_box() {
    f64_device();
    let v = env::velocity([0.5, -0.25]);
    assert!((v[0] - 0.05).abs() < 1e-9 && (v[1] + 0.025).abs() < 1e-9, "{v:?}");
    assert_eq!(env::velocity([5.0, -3.0]), [MAX_SPEED, -MAX_SPEED]);
    let s = env::step([0.2, 0.2], [0.9, 0.9], [10.0, -10.0]);
    assert!((s.position[0] - 0.3).abs() < 1e-12 && (s.position[1] - 0.1).abs() < 1e-12, "{s:?}");
}

#[test]
fn the_reward_is_minus_the_distance_after_the_move() {
    f64_device();
    let s = env::step([0.0, 0.0], [0.3, 0.4], [1.0, 1.0]); // moves to (0.1, 0.1)
    let want = -((0.2f64).powi(2) + (0.3f64).powi(2)).sqrt();
    assert!((s.reward - want).abs() < 1e-12, "{} against {want}", s.reward);
    assert!(!s.done);
}

#[test]
fn an_episode_ends_only_inside_the_goal_box() {
    let goal = [0.1, 0.1];
    // lands 0.005 from the goal in x and y: both within 0.01
    assert!(env::step([0.0, 0.0], goal, [0.95, 0.95]).done);
    // one coordinate 0.015 off: not done, even though the other is exact
    let s = env::step([0.0, 0.0], goal, [1.0, 0.85]);
    assert!(!s.done && (s.position[1] - goal[1]).abs() > GOAL_BOX);
    // a trajectory stops recording at its end: a policy that steps onto its goal has length 1
    let goals = [[0.1, 0.1]];
    let mut policy = Policy::new(&[], &mut Rng::new(1), &f64_device());
    policy = policy.map(&mut Zero); // mean 0 · x + 0, log std 0 …
    let r = rollout::sample(&shifted(policy, 50.0), &goals, 3, 10, &mut Rng::new(2)); // … a mean of 50: every action clipped to +0.1
    assert_eq!(r.lengths, vec![1, 1, 1]);
    assert_eq!(r.returns(), vec![0.0; 3]);
    assert_eq!(r.path(0), vec![[0.0, 0.0], [0.1, 0.1]]);
}

/// Every value 0.
struct Zero;
impl burn::module::ModuleMapper for Zero {
    fn map_float<const D: usize>(&mut self, p: burn::module::Param<Tensor<D>>) -> burn::module::Param<Tensor<D>> {
        p.map(|t| t.zeros_like())
    }
}

/// `policy` with `by` added to its head's bias and its log std lowered to −30 (deterministic).
fn shifted(policy: Policy, by: f64) -> Policy {
    let Policy { hidden, mut head, log_std, step_log_std } = policy;
    head.bias = head.bias.map(|b| b.add_scalar(by));
    Policy { hidden, head, log_std: log_std.map(|l| l.sub_scalar(30.0)), step_log_std }
}

#[test]
fn goals_are_reproducible_and_meta_test_goals_are_not_meta_train_goals() {
    f64_device();
    let goals = |seed| {
        let mut rng = Rng::stream(seed, 1);
        (0..40).map(|_| env::sample_goal(&mut rng)).collect::<Vec<_>>()
    };
    assert_eq!(goals(3), goals(3));
    assert_ne!(goals(3), goals(4));
    assert!(goals(3).iter().flatten().all(|v| v.abs() <= 0.5));
    let t = NavTrainer::new(TrainerConfig::preset(TaskKind::Navigation)).unwrap();
    let test = t.meta_test_goals(40);
    assert_eq!(test, t.meta_test_goals(40));
    // the meta-train stream is `trainer::streams::META_TRAIN` of the same seed
    let train = goals_of_stream(0, maml_lab::trainer::streams::META_TRAIN);
    assert!(test.iter().all(|g| !train.contains(g)));
}

fn goals_of_stream(seed: u64, stream: u64) -> Vec<[f64; 2]> {
    let mut rng = Rng::stream(seed, stream);
    (0..40).map(|_| env::sample_goal(&mut rng)).collect()
}

#[test]
fn the_meta_gradient_matches_finite_differences_of_its_surrogate() {
    // per-step spreads for as many steps as the inner loop, and for fewer (the last spread
    // acting at more than one stage)
    for (steps, per_step_std) in [(1, None), (2, None), (1, Some(1)), (2, Some(2)), (2, Some(1))] {
        let r = gradcheck::gradcheck(steps, per_step_std, 24, 0, &f64_device());
        assert!(r.coords >= 20, "{r:?}");
        assert!(r.max_rel_err < 1e-5, "{r:?}");
        // both the second-order terms and the score-function term are large enough to see
        assert!(r.second_order_effect > 0.05 && r.score_term_effect > 0.05, "{r:?}");
    }
}

/// The tiny problem of the unbiasedness check: a linear-Gaussian policy, 5 trajectories of 4
/// steps per stage, one inner step of α = 1, returns undiscounted and no baseline in the
/// post-adaptation term. Goals are uniform in a corner of the square that 4 steps cannot reach
/// (no episode ends early), so that the score term's baseline has goals to fit.
const STEPS: usize = 4;
const TRAJECTORIES: usize = 5;
const ALPHA: f64 = 1.0;

fn goals(tasks: usize, rng: &mut Rng) -> Vec<[f64; 2]> {
    (0..tasks).map(|_| [rng.uniform(0.45, 0.6), rng.uniform(-0.6, -0.45)]).collect()
}

fn estimator(score_term: bool, baseline_history: usize) -> Estimator {
    Estimator { discount: 1.0, horizon: STEPS, post_baseline: false, score_term, baseline_history }
}

fn inner() -> InnerLoop {
    InnerLoop { alpha: ALPHA, steps: 1, first_order: false, pre: TRAJECTORIES, post: TRAJECTORIES }
}

/// The mean, over `batches` meta-batches of `tasks` tasks, of the estimator's gradient of the
/// mean post-adaptation return, per coordinate of θ: each batch's mean, so that their spread
/// gives the confidence interval. The score term's baseline is fit on the batch's other tasks
/// and `history` tasks of the batches before, as in training: a surface over the goal once they
/// hold 200 tasks, a line in its distance before.
fn estimates(theta: &Policy, score_term: bool, (batches, tasks, history): (usize, usize, usize), seed: u64) -> Vec<Vec<f64>> {
    let mut rng = Rng::stream(seed, 1);
    let mut goal_rng = Rng::stream(seed, 3);
    let ids: Vec<_> = read_params(theta).into_iter().map(|p| p.id).collect();
    let e = estimator(score_term, history);
    let mut history = ReturnHistory::default();
    (0..batches)
        .map(|_| {
            let goals = goals(tasks, &mut goal_rng);
            let leaves = theta.clone().map(&mut Detach { leaf: true });
            let s = surrogate(&leaves, tasks, &inner(), &e, &history, &mut |_, fast| rollout::sample(fast, &goals, TRAJECTORIES, STEPS, &mut rng));
            history.record(&goals, &s.sample.post.task_returns(), e.baseline_history);
            let g = autodiff_grads(&leaves, &s.value.backward());
            ids.iter().flat_map(|id| to_f64(g.0[id].clone())).map(|v| v / tasks as f64).collect()
        })
        .collect()
}

/// The mean post-adaptation return from `theta` over `tasks` tasks, with the noise of `seed`:
/// the same seed gives the same noise (common random numbers), so a difference of two θs
/// measures the slope of the expectation.
fn post_return(theta: &Policy, tasks: usize, seed: u64) -> f64 {
    let mut rng = Rng::stream(seed, 2);
    let goals = goals(tasks, &mut Rng::stream(seed, 3));
    let fast = theta.clone().map(&mut Tile { tasks });
    let pre = rollout::sample(&fast, &goals, TRAJECTORIES, STEPS, &mut rng);
    let (adapted, _) = inner_step(&fast, &pre, 0, ALPHA, false, 1.0);
    let post = rollout::sample(&adapted, &goals, TRAJECTORIES, STEPS, &mut rng);
    post.task_returns().iter().sum::<f64>() / tasks as f64
}

fn to_f64<const D: usize>(t: Tensor<D>) -> Vec<f64> {
    t.into_data().convert::<f64>().try_to_vec::<f64>().unwrap()
}

/// Mean and standard error of the columns of `rows`.
fn mean_and_se(rows: &[Vec<f64>]) -> Vec<(f64, f64)> {
    let n = rows.len() as f64;
    (0..rows[0].len())
        .map(|c| {
            let mean = rows.iter().map(|r| r[c]).sum::<f64>() / n;
            let var = rows.iter().map(|r| (r[c] - mean).powi(2)).sum::<f64>() / (n - 1.0);
            (mean, (var / n).sqrt())
        })
        .collect()
}

/// The estimator's mean agrees with an independent estimate of ∇J, J the expected
/// post-adaptation return (central differences with common random numbers, over many tasks),
/// within 4 standard errors on every coordinate; without its score-function term it does not
/// (its gap is over 6 standard errors on some coordinate). Fixed seeds: the same figures on
/// every machine.
#[test]
fn the_estimator_is_unbiased_and_the_one_without_the_score_term_is_not() {
    let device = f64_device();
    let theta = Policy::new(&[], &mut Rng::new(5), &device.clone().autodiff()).map(&mut Detach { leaf: true });
    // the reference: finite differences of J, each over 20 noise seeds of 2000 tasks
    let plain = theta.valid();
    let params = read_params(&plain);
    let h = 1e-3;
    let mut reference = Vec::new();
    for p in &params {
        for index in 0..p.values.len() {
            let slopes: Vec<Vec<f64>> = (0..20u64)
                .map(|seed| {
                    let plus = post_return(&plain.clone().map(&mut Perturb { id: p.id, index, eps: h }), 2000, seed);
                    let minus = post_return(&plain.clone().map(&mut Perturb { id: p.id, index, eps: -h }), 2000, seed);
                    vec![(plus - minus) / (2.0 * h)]
                })
                .collect();
            reference.push(mean_and_se(&slopes)[0]);
        }
    }
    // the goal surface over the batch and 400 tasks before; the line, 100 tasks and no history
    let with = mean_and_se(&estimates(&theta, true, (200, 400, 400), 7));
    let with_line = mean_and_se(&estimates(&theta, true, (800, 100, 0), 8));
    let without = mean_and_se(&estimates(&theta, false, (200, 400, 400), 7));
    let z = |a: (f64, f64), b: (f64, f64)| (a.0 - b.0).abs() / (a.1 * a.1 + b.1 * b.1).sqrt();
    let mut worst_without = 0f64;
    for (c, (((r, w), l), wo)) in reference.iter().zip(&with).zip(&with_line).zip(&without).enumerate() {
        println!("coordinate {c}: finite differences {:.4} ± {:.4}, estimator {:.4} ± {:.4} (with the line baseline {:.4} ± {:.4}), without the score term {:.4} ± {:.4}", r.0, r.1, w.0, w.1, l.0, l.1, wo.0, wo.1);
        assert!(z(*r, *w) < 4.0, "coordinate {c}: the estimator {w:?} against the finite differences {r:?}");
        assert!(z(*r, *l) < 4.0, "coordinate {c}: the estimator with the line baseline {l:?} against the finite differences {r:?}");
        worst_without = worst_without.max(z(*r, *wo));
    }
    assert!(worst_without > 6.0, "without the score term the estimate should be visibly biased (largest gap {worst_without:.1} standard errors)");
}

/// A small run end to end: its directory, the meta-test of every start after 0..=3 inner steps,
/// and a weights file of another task refused with a sentence, both ways.
#[test]
fn train_then_eval_a_navigation_run_and_refuse_another_tasks_weights() {
    let dir = std::env::temp_dir().join(format!("maml-nav-{}", std::process::id()));
    let (nav, sine) = (dir.join("nav"), dir.join("sine"));
    let small = ["--meta-batch", "4", "--shots", "4", "--queries", "4", "--hidden", "16"];
    let r = last_json(&maml(&[&["train", "--task", "navigation", "--iterations", "3", "--path-every", "2", "--baseline-history", "0", "--out", nav.to_str().unwrap(), "--pretrained"][..], &small].concat()));
    assert_eq!(r["iterations"], 3);
    // the baseline's history is a setting of the run: in its config and its weights, so the
    // run can be repeated from them
    assert_eq!(r["baseline_history"], 0);
    let config: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(nav.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["maml"]["baseline_history"], 0);
    assert!(r["return_after"].as_f64().unwrap() < 0.0);
    for file in ["config.json", "weights.bin", "metrics.jsonl", "pretrained.bin", "pretrained-metrics.jsonl", "path/2.bin"] {
        assert!(nav.join(file).exists(), "{file}");
    }
    // the weights every --path-every meta-iterations: the policy's file after that many
    let kept = NavTrainer::from_weights(&std::fs::read(nav.join("path/2.bin")).unwrap()).unwrap();
    assert_eq!(kept.iteration(), 2);
    assert_eq!(kept.config().maml.baseline_history, Some(0));
    assert!(!nav.join("path/3.bin").exists() && !nav.join("path/1.bin").exists());
    assert_eq!(std::fs::read_to_string(nav.join("metrics.jsonl")).unwrap().lines().count(), 3);
    let e = last_json(&maml(&["eval", "--task", "navigation", "--run", nav.to_str().unwrap(), "--tasks", "5"]));
    assert_eq!((e["task"].as_str(), e["metric"].as_str(), e["tasks"].as_u64()), (Some("navigation"), Some("return"), Some(5)));
    for curve in [&e["steps"], &e["baselines"]["random_init"], &e["baselines"]["pretrained"]] {
        let steps: Vec<u64> = curve.as_array().unwrap().iter().map(|s| s["step"].as_u64().unwrap()).collect();
        assert_eq!(steps, vec![0, 1, 2, 3], "{curve}");
        assert!(curve.as_array().unwrap().iter().all(|s| s["mean"].as_f64().unwrap() < 0.0 && s["ci95"].as_f64().unwrap() >= 0.0));
    }
    last_json(&maml(&["train", "--task", "sinusoid", "--iterations", "2", "--meta-batch", "2", "--out", sine.to_str().unwrap()]));
    refused(&["eval", "--task", "navigation", "--run", sine.to_str().unwrap()], "is a run of task sinusoid, not navigation");
    refused(&["eval", "--task", "sinusoid", "--run", nav.to_str().unwrap()], "is a run of task navigation, not sinusoid");
    // the trainers themselves refuse each other's weights
    let (nav_weights, sine_weights) = (std::fs::read(nav.join("weights.bin")).unwrap(), std::fs::read(sine.join("weights.bin")).unwrap());
    let mut t = NavTrainer::new(TrainerConfig::preset(TaskKind::Navigation)).unwrap();
    let e = t.load_weights(&sine_weights).unwrap_err().to_string();
    assert!(e.contains("sinusoid run, not a navigation policy"), "{e}");
    let e = t.load_weights(&nav_weights).unwrap_err().to_string();
    assert!(e.contains("16 hidden units and do not fit this one (100)"), "{e}");
    let e = maml_lab::Trainer::from_weights(&nav_weights, &[], &Device::flex()).err().unwrap().to_string();
    assert!(e.contains("navigation is a reinforcement-learning task"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The trainer fits the score term's baseline on as many past tasks as its config says: 400 when
/// the config says nothing (a config saved before the setting), the meta-batch's others alone at
/// 0, which changes the run once the history holds enough tasks for the goal surface.
#[test]
fn the_baseline_history_is_the_configs() {
    f64_device();
    let weights = |history: Option<usize>| {
        let mut c = TrainerConfig::preset(TaskKind::Navigation);
        (c.model.hidden, c.task.shots, c.task.queries) = (16, 2, 2);
        c.maml.baseline_history = history;
        let mut t = NavTrainer::new(c).unwrap();
        // 40 tasks a meta-iteration: the history holds the surface's 200 from the sixth on
        for _ in 0..7 {
            t.step().unwrap();
        }
        maml_lab::weights::Weights::decode(&t.weights()).unwrap().values
    };
    let default = weights(None);
    assert_eq!(default, weights(Some(maml_lab::rl::meta::BASELINE_HISTORY)), "no setting is the default's 400");
    assert_ne!(default, weights(Some(0)), "0 keeps the baseline to the meta-batch's others: another run");
}

#[test]
fn the_cli_checks_and_benchmarks_navigation() {
    let r = last_json(&maml(&["gradcheck", "--task", "navigation", "--coords", "12"]));
    assert_eq!(r["task"], "navigation");
    assert!(r["max_rel_err"].as_f64().unwrap() < 1e-5, "{r}");
    let r = last_json(&maml(&["bench", "--task", "navigation", "--iterations", "1", "--meta-batch", "2", "--shots", "2", "--queries", "2"]));
    assert!(r["it_per_s"].as_f64().unwrap() > 0.0);
    assert_eq!(r["task"], "navigation");
    refused(&["train", "--task", "navigation", "--algorithm", "reptile", "--iterations", "1", "--out", "/nonexistent"], "navigation meta-learns with MAML");
    refused(&["train", "--task", "sinusoid", "--score-term", "false", "--iterations", "1", "--out", "/nonexistent"], "--score-term and --baseline-history are navigation's");
    refused(&["train", "--task", "glyphs", "--baseline-history", "0", "--iterations", "1", "--out", "/nonexistent"], "--score-term and --baseline-history are navigation's");
}

/// Per-step spreads (`--per-step-std`): the policy after each inner step acts with a log std of
/// its own, which the inner loop leaves alone and the meta-gradient trains; the steps past the
/// last take the last one's; a run keeps them in its weights, and a run without them refuses
/// those weights with a sentence, and the other way.
#[test]
fn per_step_spreads_are_each_stages_own_and_the_runs() {
    f64_device();
    let mut c = TrainerConfig::preset(TaskKind::Navigation);
    (c.model.hidden, c.task.shots, c.task.queries, c.maml.meta_batch, c.maml.inner_steps) = (16, 4, 4, 4, 2);
    c.maml.per_step_std = Some(2);
    let mut t = NavTrainer::new(c.clone()).unwrap();
    assert_eq!(t.log_stds(), vec![vec![0.0; 2]; 3], "θ's spread, then one per inner step, all from θ's");
    for _ in 0..3 {
        t.step().unwrap();
    }
    let s = t.log_stds();
    assert!(s.iter().flatten().all(|v| *v != 0.0) && s[0] != s[1] && s[1] != s[2], "every stage's spread is trained, its own way: {s:?}");

    // the inner loop adapts the mean, not the spreads
    let device = Device::flex();
    let policy = Policy::new(&[8], &mut Rng::new(2), &device).with_step_spreads(2);
    let goals = vec![[0.3, -0.2], [-0.4, 0.1]];
    let fast = policy.clone().map(&mut Tile { tasks: 2 });
    let r = rollout::sample(&fast.at_stage(1), &goals, 4, 20, &mut Rng::new(3));
    let (adapted, _) = inner_step(&fast, &r, 1, 0.5, true, env::DISCOUNT);
    let values = |p: &Policy| read_params(p).into_iter().map(|p| p.values).collect::<Vec<_>>();
    let (before, after) = (values(&fast), values(&adapted));
    assert_ne!(before[..4], after[..4], "the weights adapt");
    assert_eq!(before[4..], after[4..], "θ's spread and the per-step ones do not");

    // the adapted policy acts with its stage's spread: stage 2's set narrow, the trajectories
    // after two inner steps (and after three: the last spread's) are one path per goal
    let mut w = maml_lab::weights::Weights::decode(&t.weights()).unwrap();
    *w.values.last_mut().unwrap() = vec![-12.0; 2];
    t.load_weights(&w.encode()).unwrap();
    let stages = t.adapt_and_rollout(&t.start(NavStart::MetaLearned), &t.meta_test_goals(2), 3);
    let spread = |r: &Rollouts| {
        let (a, b) = (r.path(0), r.path(1));
        a.iter().zip(&b).map(|(p, q)| (p[0] - q[0]).abs().max((p[1] - q[1]).abs())).fold(0f32, f32::max)
    };
    let spreads: Vec<f32> = stages.iter().map(spread).collect();
    assert!(spreads[0] > 0.05 && spreads[1] > 0.05 && spreads[2] < 1e-3 && spreads[3] < 1e-3, "{spreads:?}");

    // and stage 1's set narrow: one path per goal after one step, not before (what comes after
    // is not compared: an inner step on trajectories that narrow is huge, its gradient ∝ 1/σ)
    let n = w.values.len();
    (w.values[n - 2], w.values[n - 1]) = (vec![-12.0; 2], vec![0.0; 2]);
    t.load_weights(&w.encode()).unwrap();
    let stages = t.adapt_and_rollout(&t.start(NavStart::MetaLearned), &t.meta_test_goals(2), 1);
    let spreads: Vec<f32> = stages.iter().map(spread).collect();
    assert!(spreads[0] > 0.05 && spreads[1] < 1e-3, "{spreads:?}");

    // in training too, each stage's trajectories are drawn with its spread: θ's, then each
    // step's, and past the last, the last one's
    let mut theta = Policy::new(&[8], &mut Rng::new(4), &device).with_step_spreads(2);
    let full = |v: f32| burn::module::Param::from_tensor(Tensor::<2>::full([1, 2], v, &device));
    (theta.log_std, theta.step_log_std) = (full(-0.3), vec![full(0.4), full(-0.7)]);
    let want = [-0.3, 0.4, -0.7, -0.7];
    let inner = InnerLoop { alpha: 0.5, steps: 3, first_order: false, pre: 3, post: 3 };
    let mut noise = Rng::new(5);
    let mut drawn = Vec::new();
    surrogate(&theta, 2, &inner, &Estimator::paper(), &ReturnHistory::default(), &mut |stage, acting| {
        let log_std = to_f64(acting.log_std.val());
        assert!(log_std.iter().all(|v| (v - want[stage]).abs() < 1e-6), "stage {stage}: {log_std:?}");
        drawn.push(stage);
        rollout::sample(acting, &goals, 3, 10, &mut noise)
    });
    assert_eq!(drawn, [0, 1, 2, 3]);

    // a run's spreads are part of its shapes
    let mut one = NavTrainer::new(TrainerConfig { maml: maml_lab::config::MamlConfig { per_step_std: None, ..c.maml.clone() }, ..c.clone() }).unwrap();
    let e = one.load_weights(&t.weights()).unwrap_err().to_string();
    assert!(e.contains("have per-step spreads for 2 inner steps and this run has one spread"), "{e}");
    let e = t.load_weights(&one.weights()).unwrap_err().to_string();
    assert!(e.contains("have one spread and this run has per-step spreads for 2 inner steps"), "{e}");
    let e = one.set_maml(c.maml.clone()).unwrap_err().to_string();
    assert!(e.contains("per-step spreads are the run's"), "{e}");
    let mut glyphs = TrainerConfig::preset(TaskKind::Glyphs);
    glyphs.maml.per_step_std = Some(1);
    assert!(glyphs.validate().unwrap_err().contains("the navigation policy's"));
}
