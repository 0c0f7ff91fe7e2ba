//! Sampling trajectories of many tasks at once, off the graph: one batched forward of the policy per time step for every trajectory of every task.
//!
//! Sampling needs no gradient: the observations, actions and rewards are recorded here, and the
//! log-likelihoods are recomputed on the graph afterwards in one batched op over all time steps
//! (`meta`). Every trajectory runs the full horizon in lockstep; one that has reached its goal
//! stops recording (its later rows weigh nothing). The noise is drawn for every row and step,
//! reached or not, so that a seed gives the same noise to the same row whatever happens.

use burn::prelude::*;

use super::baseline::{self, FEATURES};
use super::env::{self, Point};
use super::policy::{ACTIONS, OBSERVATIONS, Policy};
use crate::rng::Rng;

/// `per_task` trajectories of each of `goals.len()` tasks, `horizon` steps at most.
#[derive(Clone, Debug)]
pub struct Rollouts {
    pub goals: Vec<Point>,
    pub per_task: usize,
    pub horizon: usize,
    /// The observation (the point's position) at each step, `[tasks, per_task, horizon, 2]`;
    /// after a trajectory's end, its last position.
    pub observations: Vec<f32>,
    /// The actions sampled, as the policy drew them (before scaling and clipping), same layout.
    pub actions: Vec<f32>,
    /// `[tasks, per_task, horizon]`, 0 after a trajectory's end.
    pub rewards: Vec<f64>,
    /// Steps each trajectory took, `[tasks · per_task]`.
    pub lengths: Vec<usize>,
    /// Where each trajectory ended, `[tasks · per_task]`.
    pub ends: Vec<Point>,
}

/// Samples `per_task` trajectories for each goal from `policy` (plain device; one set of
/// weights for all tasks, or one per task).
pub fn sample(policy: &Policy, goals: &[Point], per_task: usize, horizon: usize, rng: &mut Rng) -> Rollouts {
    let (tasks, rows) = (goals.len(), goals.len() * per_task);
    let shared = policy.tasks() == 1;
    assert!(shared || policy.tasks() == tasks, "a policy of one task, or one per goal");
    let device = policy.device();
    let std: Vec<f32> = read(policy.log_std.val().exp());
    let mut position = vec![[0.0f64; 2]; rows];
    let mut alive = vec![true; rows];
    let mut lengths = vec![0; rows];
    let (mut observations, mut actions) = (vec![0f32; rows * horizon * 2], vec![0f32; rows * horizon * 2]);
    let mut rewards = vec![0f64; rows * horizon];
    for t in 0..horizon {
        let means = if alive.iter().any(|&a| a) {
            let x: Vec<f32> = position.iter().flat_map(|p| p.map(|v| v as f32)).collect();
            let shape = if shared { [1, rows, OBSERVATIONS] } else { [tasks, per_task, OBSERVATIONS] };
            read(policy.mean(Tensor::from_data(TensorData::new(x, shape), &device)))
        } else {
            vec![0f32; rows * ACTIONS]
        };
        for row in 0..rows {
            let noise = [rng.normal() as f32, rng.normal() as f32];
            if !alive[row] {
                continue;
            }
            let s = if shared { 0 } else { row / per_task };
            let a = [0, 1].map(|d| means[row * 2 + d] + std[s * 2 + d] * noise[d]);
            let at = row * horizon + t;
            observations[at * 2..at * 2 + 2].copy_from_slice(&position[row].map(|v| v as f32));
            actions[at * 2..at * 2 + 2].copy_from_slice(&a);
            let step = env::step(position[row], goals[row / per_task], a);
            rewards[at] = step.reward;
            position[row] = step.position;
            lengths[row] += 1;
            alive[row] = !step.done;
        }
    }
    // rows past an end observe where the trajectory stopped (they weigh nothing)
    for row in 0..rows {
        for t in lengths[row]..horizon {
            let at = row * horizon + t;
            observations[at * 2..at * 2 + 2].copy_from_slice(&position[row].map(|v| v as f32));
        }
    }
    Rollouts { goals: goals.to_vec(), per_task, horizon, observations, actions, rewards, lengths, ends: position }
}

fn read<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec::<f32>().expect("float data")
}

impl Rollouts {
    pub fn tasks(&self) -> usize {
        self.goals.len()
    }

    /// Each trajectory's return: the sum of its rewards, undiscounted (what the paper plots).
    pub fn returns(&self) -> Vec<f64> {
        self.rewards.chunks(self.horizon).map(|r| r.iter().sum()).collect()
    }

    /// Each task's mean return over its trajectories.
    pub fn task_returns(&self) -> Vec<f64> {
        self.returns().chunks(self.per_task).map(|r| r.iter().sum::<f64>() / r.len() as f64).collect()
    }

    /// The positions of trajectory `row`: the start, then the point after each step.
    pub fn path(&self, row: usize) -> Vec<[f32; 2]> {
        let mut path: Vec<[f32; 2]> = (0..self.lengths[row]).map(|t| {
            let at = (row * self.horizon + t) * 2;
            [self.observations[at], self.observations[at + 1]]
        }).collect();
        path.push(self.ends[row].map(|v| v as f32));
        path
    }

    /// Every row's advantage, `[tasks, per_task · horizon]` (0 after an end): the discounted
    /// return from that step on, minus the task's linear feature baseline if `baseline`
    /// (rllab's GAE with λ = 1 is exactly this).
    pub fn advantages(&self, discount: f64, baseline: bool) -> Vec<f64> {
        let h = self.horizon;
        let mut out = vec![0.0; self.rewards.len()];
        for task in 0..self.tasks() {
            let rows = task * self.per_task..(task + 1) * self.per_task;
            let (mut x, mut y): (Vec<[f64; FEATURES]>, Vec<f64>) = (Vec::new(), Vec::new());
            for row in rows.clone() {
                let r = baseline::returns(&self.rewards[row * h..row * h + self.lengths[row]], discount);
                for (t, &ret) in r.iter().enumerate() {
                    let at = (row * h + t) * 2;
                    x.push(baseline::features([self.observations[at] as f64, self.observations[at + 1] as f64], t));
                    y.push(ret);
                }
            }
            let c = if baseline { baseline::fit(&x, &y) } else { [0.0; FEATURES] };
            let mut i = 0;
            for row in rows {
                for t in 0..self.lengths[row] {
                    out[row * h + t] = y[i] - baseline::predict(&c, &x[i]);
                    i += 1;
                }
            }
        }
        out
    }

    /// The weights of the inner step's REINFORCE surrogate, `[tasks, per_task · horizon]`: each
    /// task's advantages standardised over its steps (rllab's `center_adv`) and divided by its
    /// number of steps (the authors' surrogate is the mean of log π · Â over them).
    pub fn inner_weights(&self, discount: f64) -> Vec<f32> {
        let adv = self.advantages(discount, true);
        let per = self.per_task * self.horizon;
        let mut out = vec![0f32; adv.len()];
        for (task, chunk) in adv.chunks(per).enumerate() {
            let valid: Vec<(usize, f64)> = chunk.iter().copied().enumerate().filter(|&(i, _)| (i % self.horizon) < self.lengths[task * self.per_task + i / self.horizon]).collect();
            let n = valid.len() as f64;
            let mean = valid.iter().map(|(_, a)| a).sum::<f64>() / n;
            let std = (valid.iter().map(|(_, a)| (a - mean).powi(2)).sum::<f64>() / n).sqrt();
            for (i, a) in valid {
                out[task * per + i] = ((a - mean) / (std + 1e-8) / n) as f32;
            }
        }
        out
    }

    /// 1 for a step taken, 0 after an end, `[tasks, per_task · horizon]`.
    pub fn mask(&self) -> Vec<f32> {
        (0..self.rewards.len()).map(|i| if i % self.horizon < self.lengths[i / self.horizon] { 1.0 } else { 0.0 }).collect()
    }

    /// The observations and actions as the graph reads them, `[tasks, per_task · horizon, 2]`.
    pub fn tensors(&self, device: &Device) -> (Tensor<3>, Tensor<3>) {
        let shape = [self.tasks(), self.per_task * self.horizon, 2];
        let x = Tensor::from_data(TensorData::new(self.observations.clone(), shape), device);
        let a = Tensor::from_data(TensorData::new(self.actions.clone(), shape), device);
        (x, a)
    }

    /// A `[tasks, per_task · horizon]` tensor of `values`.
    pub fn rows(&self, values: Vec<f32>, device: &Device) -> Tensor<2> {
        Tensor::from_data(TensorData::new(values, [self.tasks(), self.per_task * self.horizon]), device)
    }
}
