//! The MAML paper's 2-D navigation environment (Finn et al. 2017, §5.3), as the authors' code has it: `PointEnvRandGoal` inside rllab's `NormalizedEnv`.
//!
//! Upstream: `cbfinn/maml_rl`, `maml_examples/point_env_randgoal.py` (the point, its goal and
//! reward) and `rllab/envs/normalized_env.py` (the wrapper the experiment runs it in,
//! `maml_examples/maml_trpo_point.py`). The policy acts in [-1, 1] per coordinate; the wrapper
//! scales that to the point's velocity box [-0.1, 0.1] and clips it there. Plain host data: no
//! tensors, no device.

use crate::rng::Rng;

/// The point's velocity box per coordinate (`PointEnvRandGoal.action_space`).
pub const MAX_SPEED: f64 = 0.1;
/// Goals are uniform in [-GOAL_RANGE, GOAL_RANGE]² (`sample_goals`).
pub const GOAL_RANGE: f64 = 0.5;
/// An episode ends when both coordinates are within this of the goal (`step`'s `done`).
pub const GOAL_BOX: f64 = 0.01;
/// The experiment's episode length (`max_path_length = 100`).
pub const HORIZON: usize = 100;
/// The discount of the advantages (`BatchMAMLPolopt`'s default, which the experiment keeps).
pub const DISCOUNT: f64 = 0.99;

pub type Point = [f64; 2];

/// A goal uniform in [-0.5, 0.5]²: one task.
pub fn sample_goal(rng: &mut Rng) -> Point {
    [rng.uniform(-GOAL_RANGE, GOAL_RANGE), rng.uniform(-GOAL_RANGE, GOAL_RANGE)]
}

/// The velocity the point moves with for the policy's action `a` (in the wrapper's [-1, 1]
/// units): `lb + (a + 1) / 2 · (ub − lb)` = 0.1 a, clipped to [-0.1, 0.1].
pub fn velocity(a: [f32; 2]) -> Point {
    a.map(|v| (-MAX_SPEED + (v as f64 + 1.0) * 0.5 * (2.0 * MAX_SPEED)).clamp(-MAX_SPEED, MAX_SPEED))
}

/// What one step gives.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Step {
    /// The point after the move.
    pub position: Point,
    /// Minus the Euclidean distance from the point after the move to the goal.
    pub reward: f64,
    /// Both coordinates within `GOAL_BOX` of the goal: the episode ends.
    pub done: bool,
}

/// One step from `position` with the policy's action `a` towards `goal`.
pub fn step(position: Point, goal: Point, a: [f32; 2]) -> Step {
    let v = velocity(a);
    let position = [position[0] + v[0], position[1] + v[1]];
    let (dx, dy) = (position[0] - goal[0], position[1] - goal[1]);
    Step { position, reward: -(dx * dx + dy * dy).sqrt(), done: dx.abs() < GOAL_BOX && dy.abs() < GOAL_BOX }
}
