//! A page's other workers: each holds a `Share`, which computes the sums of some units of a
//! meta-iteration that the training worker's `Lab` planned (`Lab::plan_step`) and applies.
//!
//! A share keeps no state of the run between meta-iterations: every request brings the weights
//! file of the run as it stands (θ, Meta-SGD's rates and the settings in force), with the units'
//! tasks or after them (`keep`, used by the one next request), so a worker that died is replaced
//! by a fresh one, and no two workers can hold different weights. (It keeps the parameters' last
//! structure, to write the next file into, and nothing of their values.) The units are
//! fixed by the run's shapes (`maml::shares::Layout::Units`), and their sums are added in unit
//! order by the training worker, so the run is the same, bit for bit, for any number of workers.

use burn::prelude::Device;
#[cfg(target_family = "wasm")]
use wasm_bindgen::prelude::*;

use crate::config::{TaskKind, TrainerConfig};
use crate::maml::MetaParams;
use crate::maml::adapt::meta_params;
use crate::maml::evaluate::evaluate_tasks;
use crate::maml::learners::direction;
use crate::maml::shares::{Layout, Shares};
use crate::memory::input_shape;
use crate::model::Network;
use crate::rng::Rng;
use crate::tasks::{InputShape, Task, decode_tasks, encode_tasks};
use crate::weights::{Weights, param_tensors, write_params};

/// Runs of units as one message: their number, then each one's bytes with its length.
pub fn frame(parts: &[Vec<u8>]) -> Vec<u8> {
    let mut out = (parts.len() as u32).to_le_bytes().to_vec();
    for part in parts {
        out.extend_from_slice(&(part.len() as u32).to_le_bytes());
        out.extend_from_slice(part);
    }
    out
}

/// The parts `frame` joined.
pub fn unframe(bytes: &[u8]) -> Result<Vec<&[u8]>, String> {
    let truncated = "a message between the page's workers is truncated";
    let (count, mut rest) = bytes.split_at_checked(4).ok_or(truncated)?;
    let count = u32::from_le_bytes(count.try_into().expect("4 bytes")) as usize;
    let mut parts = Vec::new();
    for _ in 0..count {
        let (len, tail) = rest.split_at_checked(4).ok_or(truncated)?;
        let len = u32::from_le_bytes(len.try_into().expect("4 bytes")) as usize;
        let (part, tail) = tail.split_at_checked(len).ok_or(truncated)?;
        parts.push(part);
        rest = tail;
    }
    if !rest.is_empty() {
        return Err("a message between the page's workers has bytes past its end".into());
    }
    Ok(parts)
}

/// The units of an `encode_units` message, each with its tasks.
fn decode_units(bytes: &[u8]) -> Result<Vec<Vec<Task>>, String> {
    unframe(bytes)?
        .into_iter()
        .map(|bytes| match decode_tasks(bytes)? {
            tasks if tasks.is_empty() => Err("a worker was sent a unit without tasks".to_string()),
            tasks => Ok(tasks),
        })
        .collect()
}

/// Units' tasks as one message for a `Share`.
pub fn encode_units(units: &[&[Task]]) -> Vec<u8> {
    frame(&units.iter().map(|u| encode_tasks(u)).collect::<Vec<_>>())
}

/// Meta-parameters kept to write weights files into: what their structure depends on, and their
/// shapes.
struct Skeleton {
    structure: String,
    params: MetaParams,
    shapes: Vec<Vec<usize>>,
}

#[cfg_attr(target_family = "wasm", wasm_bindgen)]
pub struct Share {
    device: Device,
    /// Units' tasks sent ahead of their weights (`keep`), decoded while the training worker
    /// was still busy.
    kept: Vec<Vec<Task>>,
    /// The meta-parameters last built on the training device, with what their structure
    /// depends on: the next weights file of the same structure is written into a copy of them
    /// instead of a network built and initialised again.
    skeleton: std::cell::RefCell<Option<Skeleton>>,
}

impl Default for Share {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg_attr(target_family = "wasm", wasm_bindgen)]
impl Share {
    /// A share on the CPU backend (flex), as the training worker's CPU path.
    #[cfg_attr(target_family = "wasm", wasm_bindgen(constructor))]
    pub fn new() -> Share {
        Share { device: Device::flex().autodiff(), kept: Vec::new(), skeleton: Default::default() }
    }

    /// The sums of the units `units` (`encode_units`) of a meta-iteration of the run whose
    /// weights file is `weights`: the message `Lab::put_units` takes, one `Sum::encode` per unit.
    pub fn sums(&self, weights: &[u8], units: &[u8]) -> Result<Vec<u8>, String> {
        self.sums_of(weights, &decode_units(units)?)
    }

    /// Keeps units' tasks (`encode_units`) sent ahead of their meta-iteration, for `sums_kept`.
    pub fn keep(&mut self, units: &[u8]) -> Result<(), String> {
        // (cleared first: a message that cannot be read leaves nothing for `sums_kept` to use)
        self.kept.clear();
        self.kept = decode_units(units)?;
        Ok(())
    }

    /// `sums` of the units last kept: their tasks came ahead (`keep`), the weights now.
    pub fn sums_kept(&mut self, weights: &[u8]) -> Result<Vec<u8>, String> {
        let units = std::mem::take(&mut self.kept);
        if units.is_empty() {
            return Err("a worker was asked for units whose tasks it was not sent".into());
        }
        self.sums_of(weights, &units)
    }

    /// Some of a meta-test's tasks (`encode_tasks`) adapted from the start whose weights file
    /// is `weights` over its `test_inner_steps`: their curves as JSON, for `Lab::meta_test_report`.
    pub fn curves(&self, weights: &[u8], tasks: &[u8]) -> Result<String, String> {
        let plain = self.device.clone().inner();
        let (config, shape, params) = self.params(weights, &plain, false)?;
        let tasks = decode_tasks(tasks)?;
        let shares = Shares::new(&config.model, 1, &plain, Layout::Units);
        let report = evaluate_tasks(&params, &tasks, shape, &config.maml, config.maml.test_inner_steps, &shares).wait();
        Ok(serde_json::to_string(&report.tasks).expect("curves serialise"))
    }
}

impl Share {
    fn sums_of(&self, weights: &[u8], units: &[Vec<Task>]) -> Result<Vec<u8>, String> {
        let (config, shape, params) = self.params(weights, &self.device, true)?;
        let shares = Shares::new(&config.model, 1, &self.device, Layout::Units);
        let sums: Vec<Vec<u8>> = units
            .iter()
            .map(|tasks| shares.part_sum(tasks, |part, at_once| direction(&params, part, shape, &config.maml, at_once)).encode(&params).wait())
            .collect();
        Ok(frame(&sums))
    }

    /// The run's settings, its input shape and the meta-parameters of a weights file, on `device`;
    /// with `keep`, on the training device (`self.device`), built from the skeleton kept.
    fn params(&self, weights: &[u8], device: &Device, keep: bool) -> Result<(TrainerConfig, InputShape, MetaParams), String> {
        let weights = Weights::decode(weights)?;
        // the settings of the meta-iteration that follows the file's (derivative-order annealing)
        let mut config = weights.config;
        config.maml = config.maml.at(weights.iteration);
        let shape = input_shape(&config);
        let outputs = if config.task.kind == TaskKind::Sinusoid { 1 } else { config.task.ways };
        // what the parameters' structure depends on (their values are all the file's)
        let m = &config.maml;
        let structure = format!("{}|{shape:?}|{outputs}|{}|{:?}|{:?}", serde_json::to_string(&config.model).expect("a model config serialises"), m.algorithm, m.per_step_rates, m.per_step_bn);
        let cached = keep.then(|| self.skeleton.borrow().as_ref().filter(|k| k.structure == structure).map(|k| (k.params.clone(), k.shapes.clone()))).flatten();
        let (params, shapes) = match cached {
            Some(kept) => kept,
            None => {
                let theta = Network::new(&config.model, shape, outputs, &mut Rng::stream(0, 0), device)?;
                let params = meta_params(theta, &config.maml);
                let shapes: Vec<Vec<usize>> = param_tensors(&params).into_iter().map(|(s, _)| s).collect();
                if keep {
                    *self.skeleton.borrow_mut() = Some(Skeleton { structure, params: params.clone(), shapes: shapes.clone() });
                }
                (params, shapes)
            }
        };
        if shapes != weights.shapes {
            return Err("the weights sent to a worker do not fit the model of their own settings".into());
        }
        Ok((config, shape, write_params(params, &weights.values)))
    }
}
