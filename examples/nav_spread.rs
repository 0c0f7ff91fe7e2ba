//! How much of a navigation start's return after adapting its policy's spread costs (README,
//! "Navigation"): on the run's first 100 meta-test goals, each inner step's trajectories sampled as the policy
//! stands, then again with its log std set to lower values (its mean as it is), at every step.
//! `cargo run --release --example nav_spread -- RUN/weights.bin [STEPS]`

use burn::module::{Module, Param};
use burn::prelude::*;
use maml_lab::maml::params::Tile;
use maml_lab::rl::meta::inner_step;
use maml_lab::rl::trainer::NavStart;
use maml_lab::rl::{NavTrainer, Policy, env, rollout};
use maml_lab::rng::Rng;

const GOALS: usize = 100;
const LOG_STDS: [f32; 5] = [-0.5, -1.0, -1.5, -2.0, -3.0];

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("a navigation run's weights.bin");
    let steps: usize = args.next().map_or(3, |s| s.parse().expect("a number of inner steps"));
    let trainer = NavTrainer::from_weights(&std::fs::read(path).expect("readable weights")).expect("a navigation policy");
    let config = trainer.config().clone();
    let goals = trainer.meta_test_goals(GOALS);
    let mut noise = Rng::new(6);
    let log_std = |p: &Policy| mean(&p.log_std.val().into_data().convert::<f64>().try_to_vec::<f64>().expect("float data"));
    let mut fast = trainer.start(NavStart::MetaLearned).map(&mut Tile { tasks: GOALS });
    println!("{GOALS} held-out goals, {} trajectories each; the return with the log std as it is, then set to {LOG_STDS:?}", config.task.shots);
    for step in 0..=steps {
        let acting = fast.at_stage(step);
        let r = rollout::sample(&acting, &goals, config.task.shots, env::HORIZON, &mut noise);
        print!("after {step} steps: log std {:.3}, return {:.2}", log_std(&acting), mean(&r.task_returns()));
        for target in LOG_STDS {
            let mut narrow = acting.clone();
            narrow.log_std = Param::from_tensor(Tensor::full(narrow.log_std.dims(), target, &narrow.device()));
            print!(" | {:.2}", mean(&rollout::sample(&narrow, &goals, config.task.shots, env::HORIZON, &mut noise).task_returns()));
        }
        println!();
        fast = inner_step(&fast, &r, step, config.maml.inner_lr, true, env::DISCOUNT).0;
    }
}
