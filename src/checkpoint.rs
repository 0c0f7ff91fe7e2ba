//! The checkpoint: a weights file plus everything else that decides the rest of a run, so that a resumed run goes on bit for bit.
//!
//! A weights file restarts Adam and the meta-train task stream, and carries the MAML settings
//! only as JSON decimals; a run resumed from it is another run. A checkpoint adds the stream's
//! state, Adam's step count and moments, and the settings' exact floats. Its layout: the magic
//! line `MAMLC\01\n`; a little-endian u32 length and a JSON header; a u64 length and a weights
//! file exactly as `weights.rs` writes it (one reader for both, and that format unchanged);
//! then, once Adam has stepped, its first and second moments as raw little-endian f32s.

use serde::{Deserialize, Serialize};

use crate::config::{MamlConfig, TrainerConfig};
use crate::maml::MetaLearner;
use crate::maml::optim::AdamState;
use crate::pending::Pending;
use crate::weights::{self, Weights, header_error};

const MAGIC: &[u8; 8] = b"MAMLC\x001\n";

#[derive(Serialize, Deserialize)]
struct Header {
    /// The meta-train task stream's state (`Rng::state`).
    rng: u64,
    /// The MAML settings' floats as their IEEE bits. serde_json (without its `float_roundtrip`
    /// feature, which would rebuild all of burn) reads some decimals back as a neighbouring
    /// f64, and the resumed run must use the very α and β of the run it continues.
    exact: ExactMaml,
    /// Adam's state, `None` before its first step.
    adam: Option<AdamHeader>,
}

#[derive(Serialize, Deserialize)]
struct ExactMaml {
    inner_lr: u64,
    meta_lr: u64,
    grad_clip: Option<u64>,
}

impl ExactMaml {
    fn of(maml: &MamlConfig) -> Self {
        Self { inner_lr: maml.inner_lr.to_bits(), meta_lr: maml.meta_lr.to_bits(), grad_clip: maml.grad_clip.map(f64::to_bits) }
    }

    /// `read` (the header's decimals) with these exact floats, if they are what those decimals
    /// were written from: written to JSON and read back, they must read as the header does.
    fn apply(&self, read: &MamlConfig) -> Result<MamlConfig, String> {
        let mut exact = read.clone();
        exact.inner_lr = f64::from_bits(self.inner_lr);
        exact.meta_lr = f64::from_bits(self.meta_lr);
        exact.grad_clip = self.grad_clip.map(f64::from_bits);
        if !same_through_json(&exact, read) {
            return Err("the checkpoint's header contradicts itself (its exact MAML settings are not those of its config)".into());
        }
        Ok(exact)
    }
}

#[derive(Serialize, Deserialize)]
struct AdamHeader {
    time: i32,
    positions: Vec<usize>,
    /// Elements of each moment (the flat layout's, padding included).
    len: usize,
}

/// A decoded checkpoint.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    /// θ (and Meta-SGD's rates), the iteration, and the run's config with the MAML settings in
    /// force when it was taken, their floats exact.
    pub weights: Weights,
    /// The meta-train task stream's state.
    pub rng: u64,
    /// Adam's state, `None` before its first step.
    pub adam: Option<AdamState>,
}

/// The checkpoint of `learner`'s run with `config` and meta-train stream state `rng`, read from
/// the device in one transfer (the weights and Adam's moments together).
pub fn read(learner: &MetaLearner, config: TrainerConfig, rng: u64) -> Pending<'static, Vec<u8>> {
    let exact = ExactMaml::of(&config.maml);
    let file = weights::read(&learner.params, config, learner.iteration);
    match learner.optim().read(&learner.params) {
        Some(adam) => file.join(adam, move |file, adam| encode(&file, rng, exact, Some(&adam))),
        None => file.map(move |file| encode(&file, rng, exact, None)),
    }
}

fn encode(file: &[u8], rng: u64, exact: ExactMaml, adam: Option<&AdamState>) -> Vec<u8> {
    let adam_header = adam.map(|a| AdamHeader { time: a.time, positions: a.positions.clone(), len: a.moment_1.len() });
    let json = serde_json::to_vec(&Header { rng, exact, adam: adam_header }).expect("a header should always serialise");
    let moments = adam.map_or(0, |a| 8 * a.moment_1.len());
    let mut out = Vec::with_capacity(MAGIC.len() + 4 + json.len() + 8 + file.len() + moments);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(json.len() as u32).to_le_bytes());
    out.extend_from_slice(&json);
    out.extend_from_slice(&(file.len() as u64).to_le_bytes());
    out.extend_from_slice(file);
    for v in adam.iter().flat_map(|a| a.moment_1.iter().chain(&a.moment_2)) {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

impl Checkpoint {
    /// Reads a checkpoint; a damaged or truncated one is refused with the reason.
    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        let truncated = "the checkpoint is truncated";
        let not_ours = "this is not a checkpoint of this lab (it does not start with the MAMLC header)";
        let rest = bytes.strip_prefix(MAGIC.as_slice()).ok_or(not_ours)?;
        let (len, rest) = rest.split_at_checked(4).ok_or(truncated)?;
        let len = u32::from_le_bytes(len.try_into().expect("4 bytes")) as usize;
        let (json, rest) = rest.split_at_checked(len).ok_or(truncated)?;
        let header: Header = serde_json::from_slice(json).map_err(|e| header_error(e, "checkpoint"))?;
        let (len, rest) = rest.split_at_checked(8).ok_or(truncated)?;
        let len = usize::try_from(u64::from_le_bytes(len.try_into().expect("8 bytes"))).map_err(|_| truncated)?;
        let (file, mut data) = rest.split_at_checked(len).ok_or(truncated)?;
        let mut weights = Weights::decode(file).map_err(|e| format!("the checkpoint's weights are damaged: {e}"))?;
        weights.config.maml = header.exact.apply(&weights.config.maml)?;
        let adam = match header.adam {
            None => None,
            Some(AdamHeader { time, positions, len }) => {
                let bytes = len.checked_mul(4).ok_or("the checkpoint's header claims moments too large for any file")?;
                let (moment_1, tail) = data.split_at_checked(bytes).ok_or(truncated)?;
                let (moment_2, tail) = tail.split_at_checked(bytes).ok_or(truncated)?;
                data = tail;
                let (moment_1, moment_2) = (f32s(moment_1), f32s(moment_2));
                if !moment_1.iter().chain(&moment_2).all(|v| v.is_finite()) || moment_2.iter().any(|&v| v < 0.0) {
                    return Err("the checkpoint's optimiser state holds impossible values (not finite, or a negative second moment)".into());
                }
                Some(AdamState { time, positions, moment_1, moment_2 })
            }
        };
        if !data.is_empty() {
            return Err("the checkpoint has bytes past its end".into());
        }
        Ok(Self { weights, rng: header.rng, adam })
    }

    /// Whether this checkpoint continues the run of `config`: the same seed, tasks, model and
    /// algorithm (its own MAML settings replace the run's). Another run's is refused with the
    /// reason: its task stream and Adam's state would mean nothing there.
    pub fn check_run(&self, config: &TrainerConfig) -> Result<(), String> {
        let theirs = &self.weights.config;
        let another = "this checkpoint is of another run";
        let only = "a checkpoint resumes only the run it was taken from";
        if theirs.maml.algorithm != config.maml.algorithm {
            return Err(format!("{another} ({}; this run is {}): {only}", theirs.maml.algorithm, config.maml.algorithm));
        }
        if theirs.seed != config.seed {
            return Err(format!("{another} (seed {}; this run's seed is {}): {only}", theirs.seed, config.seed));
        }
        if !same_through_json(&config.task, &theirs.task) {
            return Err(format!("{another} (its task settings differ from this run's): {only}"));
        }
        if !same_through_json(&config.model, &theirs.model) {
            return Err(format!("{another} (its model settings differ from this run's): {only}"));
        }
        Ok(())
    }
}

fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes"))).collect()
}

/// Whether `exact`, written as JSON and read back, is `read`: how a value read from a file's
/// JSON is compared with the one it was written from, which it may differ from in a float's last
/// bit.
fn same_through_json<T: Serialize>(exact: &T, read: &T) -> bool {
    let text = serde_json::to_string(exact).expect("a config should always serialise");
    serde_json::from_str::<serde_json::Value>(&text).ok() == serde_json::to_value(read).ok()
}
