//! The weights file: a magic line, a JSON header (the run's config and every parameter's shape), then raw f32s.
//!
//! A format of our own rather than a burn recorder: it reads the same in the browser and
//! natively, carries the config that made the weights, and lets a loader say exactly why a file
//! does not fit ("weights of conv4 with 64 filters, this model is conv4 with 32"), never panic.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::config::TrainerConfig;
use crate::pending::Pending;

const MAGIC: &[u8; 8] = b"MAMLW\x001\n";

#[derive(Serialize, Deserialize)]
struct Header {
    #[serde(deserialize_with = "TrainerConfig::saved")]
    config: TrainerConfig,
    iteration: usize,
    shapes: Vec<Vec<usize>>,
}

/// The decoded content of a weights file.
#[derive(Debug, Clone)]
pub struct Weights {
    pub config: TrainerConfig,
    pub iteration: usize,
    pub shapes: Vec<Vec<usize>>,
    pub values: Vec<Vec<f32>>,
}

impl Weights {
    pub fn encode(&self) -> Vec<u8> {
        let header = Header { config: self.config.clone(), iteration: self.iteration, shapes: self.shapes.clone() };
        let json = serde_json::to_vec(&header).expect("a header should always serialise");
        let mut out = Vec::with_capacity(16 + json.len() + 4 * self.values.iter().map(Vec::len).sum::<usize>());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(json.len() as u32).to_le_bytes());
        out.extend_from_slice(&json);
        for v in self.values.iter().flatten() {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        let not_ours = "this is not a weights file of this lab (it does not start with the MAMLW header)";
        let rest = bytes.strip_prefix(MAGIC.as_slice()).ok_or(not_ours)?;
        let (len, rest) = rest.split_at_checked(4).ok_or("the weights file is truncated")?;
        let len = u32::from_le_bytes(len.try_into().expect("4 bytes")) as usize;
        let (json, mut data) = rest.split_at_checked(len).ok_or("the weights file is truncated")?;
        let header: Header = serde_json::from_slice(json).map_err(|e| header_error(e, "weights file"))?;
        let mut values = Vec::with_capacity(header.shapes.len());
        for shape in &header.shapes {
            let bytes = shape.iter().try_fold(4usize, |n, &d| n.checked_mul(d));
            let bytes = bytes.ok_or("the weights file's header claims a parameter too large for any file")?;
            let (chunk, tail) = data.split_at_checked(bytes).ok_or("the weights file is truncated")?;
            values.push(chunk.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes"))).collect());
            data = tail;
        }
        if !data.is_empty() {
            return Err("the weights file has bytes past its last parameter".into());
        }
        Ok(Self { config: header.config, iteration: header.iteration, shapes: header.shapes, values })
    }

    /// These weights as a network for `ways`-way tasks whose parameters have `shapes`: with
    /// fewer ways than trained, the head keeps its first `ways` classes (weight columns and
    /// biases; a Meta-SGD run's rates for them too); a run whose head is held at zero
    /// (`zero_head`, not Meta-SGD's, whose head has a rate per class) takes any number, its head
    /// zeros of the new width. Everything else is kept as it is. The classes' order within a
    /// task is drawn at random in training, so any `ways` of the head's classes are as good as
    /// the first.
    pub fn with_ways(mut self, ways: usize, shapes: &[Vec<usize>]) -> Result<Self, String> {
        let trained = self.config.task.ways;
        if ways > trained && !self.config.any_ways() {
            return Err(format!("these weights were trained for {trained}-way tasks: their head has {trained} classes and cannot answer {ways}-way tasks (ask for {trained} or fewer)"));
        }
        if shapes.len() != self.shapes.len() {
            return Err(format!("these weights have {} parameter tensors and a {ways}-way network of their model {}", self.shapes.len(), shapes.len()));
        }
        for (i, target) in shapes.iter().enumerate() {
            let source = &self.shapes[i];
            // the head's classes are the last dimension of its weight `[inputs, classes]` and its bias
            let (last, rest) = (source.len().saturating_sub(1), source.len() == target.len());
            let fits = rest && source[..last] == target[..last] && (source[last..] == target[last..] || (source[last] == trained && target[last] == ways));
            if !fits {
                return Err(format!("these weights' parameter {i} has shape {source:?} and the {ways}-way network's {target:?}: only the head's classes may differ"));
            }
            if source != target && ways < trained {
                // row-major: each run of the last dimension keeps its first `ways`
                self.values[i] = self.values[i].chunks(trained).flat_map(|classes| &classes[..ways]).copied().collect();
            } else if source != target {
                // a head held at zero, wider
                if self.values[i].iter().any(|&v| v != 0.0) {
                    return Err(format!("these weights' parameter {i} has shape {source:?} and is not zero: only a head held at zero answers more classes than trained"));
                }
                self.values[i] = vec![0.0; target.iter().product()];
            }
            self.shapes[i] = target.clone();
        }
        self.config.task.ways = ways;
        Ok(self)
    }
}

/// serde's reason for the unreadable header of a `file` ("weights file", "checkpoint"), when it
/// reads as one short line: it quotes the file's own text, which may hold line breaks or run to
/// any length.
pub(crate) fn header_error(e: serde_json::Error, file: &str) -> String {
    let reason = e.to_string();
    if reason.chars().count() <= 160 && !reason.chars().any(char::is_control) {
        format!("the {file}'s header is unreadable: {reason}")
    } else {
        format!("the {file}'s header is unreadable at line {}, column {}", e.line(), e.column())
    }
}

/// The weights file of the meta-parameters `net` (one task; θ, and Meta-SGD's rates), pending their read from the device.
pub fn read<M: Module>(net: &M, config: TrainerConfig, iteration: usize) -> Pending<'static, Vec<u8>> {
    let tensors = param_tensors(net);
    let shapes: Vec<Vec<usize>> = tensors.iter().map(|(s, _)| s.clone()).collect();
    Pending::new(tensors.into_iter().map(|(_, t)| t).collect(), move |flat| {
        let mut rest = flat;
        let values = shapes
            .iter()
            .map(|s| {
                let (mine, tail) = rest.split_at(s.iter().product());
                rest = tail;
                mine.iter().map(|&v| v as f32).collect()
            })
            .collect();
        Weights { config, iteration, shapes, values }.encode()
    })
}

/// Every parameter's shape without the task dimension and its values flattened (detached, on a
/// plain device), in the network's visit order, for a network of one task (the meta-parameters).
pub fn param_tensors<M: Module>(net: &M) -> Vec<(Vec<usize>, Tensor<1>)> {
    struct Collect(Vec<(Vec<usize>, Tensor<1>)>);
    impl ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            let t = p.val().detach();
            let dims = t.dims();
            assert_eq!(dims[0], 1, "the weights are those of one set of meta-parameters");
            let shape = dims[1..].to_vec();
            let flat = if t.is_autodiff() { t.inner() } else { t }.reshape([shape.iter().product::<usize>()]);
            self.0.push((shape, flat));
        }
    }
    let mut c = Collect(Vec::new());
    net.visit(&mut c);
    c.0
}

/// Replaces the values of every parameter, in visit order; the caller has checked the shapes.
/// Ids are kept, so an optimiser's state stays attached.
pub fn write_params<M: Module>(net: M, values: &[Vec<f32>]) -> M {
    struct Write<'a>(&'a [Vec<f32>], usize);
    impl ModuleMapper for Write<'_> {
        fn map_float<const D: usize>(&mut self, p: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let v = self.0[self.1].clone();
            self.1 += 1;
            let require_grad = p.val().is_require_grad();
            p.map(|t| {
                let new = Tensor::<D>::from_data(TensorData::new(v, t.shape()), &t.device());
                if require_grad { new.require_grad() } else { new }
            })
        }
    }
    net.map(&mut Write(values, 0))
}
