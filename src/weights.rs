//! The weights file: a magic line, a JSON header (the run's config and every parameter's shape), then raw f32s.
//!
//! A format of our own rather than a burn recorder: it reads the same in the browser and
//! natively, carries the config that made the weights, and lets a loader say exactly why a file
//! does not fit ("weights of conv4 with 64 filters, this model is conv4 with 32"), never panic.

use serde::{Deserialize, Serialize};

use crate::config::TrainerConfig;

const MAGIC: &[u8; 8] = b"MAMLW\x001\n";

#[derive(Serialize, Deserialize)]
struct Header {
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
        let header: Header = serde_json::from_slice(json).map_err(header_error)?;
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
}

/// serde's reason for an unreadable header, when it reads as one short line: it quotes the
/// file's own text, which may hold line breaks or run to any length.
fn header_error(e: serde_json::Error) -> String {
    let reason = e.to_string();
    if reason.chars().count() <= 160 && !reason.chars().any(char::is_control) {
        format!("the weights file's header is unreadable: {reason}")
    } else {
        format!("the weights file's header is unreadable at line {}, column {}", e.line(), e.column())
    }
}
