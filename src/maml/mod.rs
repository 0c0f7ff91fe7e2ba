//! MAML (Finn, Abbeel, Levine 2017): adapt (inner loop), meta-step (outer loop), evaluate (meta-test).

pub mod adapt;
pub mod evaluate;
pub mod params;
pub mod view;

pub use adapt::{TaskTensors, adapt};
pub use evaluate::{EvalReport, Stat, StepStat, TaskCurve, evaluate};
pub use view::View;
