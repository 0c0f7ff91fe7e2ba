//! Reinforcement learning with MAML: the paper's 2-D navigation (Finn et al. 2017, §5.3), with an exact, unbiased meta-gradient.
//!
//! The path of the data: `env` (a point, a goal, the reward) → `rollout` samples trajectories
//! of many tasks at once, off the graph → `baseline` fits the authors' linear feature baseline
//! per task → `meta` builds the meta-objective's surrogate on the graph: the REINFORCE inner
//! step through the policy's hand-written backward (`policy`), the post-adaptation policy
//! gradient, and the score-function term of the pre-adaptation samples → `trainer` owns a run.
//! `gradcheck` holds the surrogate to finite differences.

pub mod baseline;
pub mod env;
pub mod gradcheck;
pub mod meta;
pub mod policy;
pub mod rollout;
pub mod trainer;

pub use meta::Estimator;
pub use policy::Policy;
pub use trainer::{NavReport, NavTrainer};
