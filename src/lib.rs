//! An interactive MAML lab: exact (second-order) and first-order MAML in burn, for the CLI and the browser.
//!
//! The path of the data: `tasks` draws a task (plain host data) → `model` runs a network whose
//! backward is written by hand as differentiable ops → `maml` adapts it (inner loop) and meta-
//! updates it (outer loop) → `trainer` returns plain reports. The core never prints and takes
//! every random number from one seeded generator (`rng`), so a seed reproduces a run.

pub mod config;
pub mod gradcheck;
pub mod maml;
pub mod model;
pub mod readback;
pub mod rng;
pub mod tasks;
pub mod trainer;
pub mod weights;
pub mod web;

pub use config::{Arch, Downsample, MamlConfig, ModelConfig, TaskConfig, TaskKind, TrainerConfig};
pub use trainer::{StepReport, TrainError, Trainer};
