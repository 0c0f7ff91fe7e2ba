//! MAML (Finn, Abbeel, Levine 2017) and its kin (Reptile, ANIL, Meta-SGD): the inner loop (`adapt`), the outer loop (`outer`) and each learner's meta-iteration in it (`learners`), and meta-testing (`evaluate`, `view`).

pub mod adapt;
pub mod compare;
pub mod evaluate;
pub mod landscape;
pub mod learners;
pub mod optim;
pub mod outer;
pub mod params;
pub mod pretrain;
pub mod shares;
pub mod view;
pub mod walkthrough;

pub use adapt::{Inner, TaskTensors, adapt};
pub use compare::{Agreement, Comparison};
pub use evaluate::{EvalReport, Stat, StepStat, TaskCurve, evaluate, evaluate_tasks};
pub use outer::{Diverged, MetaLearner, StepReport, meta_steps};
pub use params::MetaParams;
pub use view::View;
pub use landscape::{Directions, Fit, LandscapeOptions, Plane};
pub use walkthrough::Walk;
