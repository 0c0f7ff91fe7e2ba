//! An interactive MAML lab: exact (second-order) and first-order MAML in burn, for the CLI and the browser.
//!
//! The path of the data: `tasks` draws a task (plain host data) → `model` runs a network whose
//! backward is written by hand as differentiable ops → `maml` adapts it (inner loop, `adapt`)
//! and meta-updates it (outer loop, `outer`) → `trainer` owns a run's state and returns plain
//! reports. `config` and `settings` say what a run is; `pending` is how results leave the
//! device; `weights` and `checkpoint` are a run's files (its θ; everything that decides the
//! rest of it). The core never prints and takes every random number from one seeded generator
//! (`rng`), so a seed reproduces a run.

#[macro_use]
mod names;
pub mod checkpoint;
pub mod config;
pub mod gradcheck;
pub mod maml;
pub mod memory;
pub mod model;
pub mod pending;
pub mod rl;
pub mod rng;
pub mod settings;
pub mod tasks;
pub mod trainer;
pub mod weights;
pub mod web;

pub use config::{Arch, Downsample, MamlConfig, ModelConfig, TaskConfig, TaskKind, TrainerConfig};
pub use maml::StepReport;
pub use settings::Settings;
pub use trainer::{Start, TrainError, Trainer};
