//! Where the variance of navigation's unbiased meta-gradient comes from, at a run's θ (README,
//! "Navigation"): the spread of a task's mean post-adaptation return R̄' (the score term's
//! coefficient before its baseline) split into the part its goal explains, the part its
//! pre-adaptation trajectories add and the part its post-adaptation trajectories add; what each
//! baseline of the score term leaves of it; and the trace of the meta-gradient's covariance over
//! meta-batches, for the authors' estimator and for the unbiased one with each baseline.
//! `cargo run --release --example nav_variance -- RUN/weights.bin [BATCHES]`

use burn::module::Module;
use maml_lab::gradcheck::read_params;
use maml_lab::maml::params::{Detach, Tile, autodiff_grads};
use maml_lab::rl::meta::{BASELINE_HISTORY, Estimator, InnerLoop, ReturnHistory, inner_step, score_coefficients, surrogate};
use maml_lab::rl::trainer::NavStart;
use maml_lab::rl::{NavTrainer, Policy, env, rollout};
use maml_lab::rng::Rng;
use maml_lab::weights::{Weights, write_params};

const TASKS: usize = 40;
const WARM: usize = 10;

fn mean_square(v: impl Iterator<Item = f64>) -> f64 {
    let (s, n) = v.fold((0.0, 0.0), |(s, n), x| (s + x * x, n + 1.0));
    s / n
}

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("a navigation run's weights.bin");
    let batches: usize = args.next().map_or(30, |s| s.parse().expect("a number of meta-batches"));
    let bytes = std::fs::read(path).expect("readable weights");
    let trainer = NavTrainer::from_weights(&bytes).expect("a navigation policy");
    let (config, theta) = (trainer.config().clone(), trainer.start(NavStart::MetaLearned));
    let (alpha, horizon) = (config.maml.inner_lr, env::HORIZON);
    let (per_task, post) = (config.task.shots, config.task.queries);

    // R̄' three ways per goal: D₁ then post₁, D₁ then post₂, D₂ then post₃
    let (mut goals_rng, mut noise) = (Rng::new(101), Rng::new(102));
    let (mut total, mut same_d, mut same_goal) = (0.0, 0.0, 0.0);
    let mut history = ReturnHistory::default();
    let (mut line, mut surface) = (Vec::new(), Vec::new());
    for b in 0..batches + WARM {
        let goals: Vec<_> = (0..TASKS).map(|_| env::sample_goal(&mut goals_rng)).collect();
        let adapt = |noise: &mut Rng| {
            let pre = rollout::sample(&theta, &goals, per_task, horizon, noise);
            inner_step(&theta.clone().map(&mut Tile { tasks: TASKS }), &pre, 0, alpha, true, env::DISCOUNT).0
        };
        let (fast1, fast2) = (adapt(&mut noise), adapt(&mut noise));
        let y1 = rollout::sample(&fast1.at_stage(1), &goals, post, horizon, &mut noise).task_returns();
        if b >= WARM {
            let y2 = rollout::sample(&fast1.at_stage(1), &goals, post, horizon, &mut noise).task_returns();
            let y3 = rollout::sample(&fast2.at_stage(1), &goals, post, horizon, &mut noise).task_returns();
            let m = y1.iter().sum::<f64>() / TASKS as f64;
            for k in 0..TASKS {
                total += (y1[k] - m).powi(2);
                same_d += (y1[k] - m) * (y2[k] - m);
                same_goal += (y1[k] - m) * (y3[k] - m);
            }
            line.extend(score_coefficients(&y1, &goals, &ReturnHistory::default()));
            surface.extend(score_coefficients(&y1, &goals, &history));
        }
        history.record(&goals, &y1, BASELINE_HISTORY);
    }
    let n = (batches * TASKS) as f64;
    println!("variance of R̄' across a meta-batch's tasks: {:.1}", total / n);
    println!("  its goal: {:.1}; its pre-adaptation trajectories: {:.1}; its post-adaptation trajectories: {:.1}", same_goal / n, (same_d - same_goal) / n, (total - same_d) / n);
    println!("  left by the baseline: the meta-batch's line in the goal's distance {:.1}; the goal surface over {BASELINE_HISTORY} past tasks {:.1}", mean_square(line.into_iter()), mean_square(surface.into_iter()));

    // the meta-gradient at θ over `batches` meta-batches
    let device = theta.device().autodiff();
    let leaf = write_params(Policy::new(&[config.model.hidden; 2], &mut Rng::new(0), &device).map(&mut Detach { leaf: true }), &Weights::decode(&bytes).expect("a weights file").values);
    let ids: Vec<_> = read_params(&leaf).into_iter().map(|p| p.id).collect();
    let inner = InnerLoop { alpha, steps: 1, first_order: false, pre: per_task, post };
    let estimators = [
        ("the authors' (no score term)", Estimator { score_term: false, ..Estimator::paper() }),
        ("unbiased, the meta-batch's line", Estimator { baseline_history: 0, ..Estimator::paper() }),
        ("unbiased, the goal surface", Estimator::paper()),
    ];
    for (name, estimator) in estimators {
        let (mut goals_rng, mut noise) = (Rng::new(201), Rng::new(202));
        let mut history = ReturnHistory::default();
        let mut rows: Vec<Vec<f64>> = Vec::new();
        for b in 0..batches + WARM {
            let goals: Vec<_> = (0..TASKS).map(|_| env::sample_goal(&mut goals_rng)).collect();
            let leaves = leaf.clone().map(&mut Detach { leaf: true });
            let s = surrogate(&leaves, TASKS, &inner, &estimator, &history, &mut |stage, fast| rollout::sample(fast, &goals, if stage < inner.steps { inner.pre } else { inner.post }, horizon, &mut noise));
            history.record(&goals, &s.sample.post.task_returns(), estimator.baseline_history);
            if b >= WARM {
                let g = autodiff_grads(&leaves, &s.value.backward());
                rows.push(ids.iter().flat_map(|id| g.0[id].clone().into_data().convert::<f64>().try_to_vec::<f64>().expect("float data")).map(|v| v / TASKS as f64).collect());
            }
        }
        let (m, p) = (rows.len() as f64, rows[0].len());
        let mean: Vec<f64> = (0..p).map(|c| rows.iter().map(|r| r[c]).sum::<f64>() / m).collect();
        let trace: f64 = (0..p).map(|c| rows.iter().map(|r| (r[c] - mean[c]).powi(2)).sum::<f64>() / (m - 1.0)).sum();
        println!("meta-gradient of {name}: trace of its covariance {trace:.3e}, squared norm of its mean {:.3e}", mean.iter().map(|v| v * v).sum::<f64>());
    }
}
