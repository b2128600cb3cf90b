//! ONNX → core IR.
//!
//! Decoding uses the `onnx-protobuf` crate (rust-protobuf messages generated from `onnx.proto`);
//! this module does the shape inference, constant folding (in f32, as the deployed network
//! computes its constants) and lowering ([`lower`]), the exact IR fusions ([`builder`]) and the
//! reference evaluation that witnesses are confirmed on ([`reference`]). Weights are kept in
//! `f64` (ONNX `float` weights convert exactly) and converted to the engine's scalar with
//! [`Model::graph`].

pub mod builder;
mod lower;
mod reference;
pub mod tensor;
mod wire;

use std::path::Path;

use genbab_core::graph::{Node, NodeId};
use genbab_core::num::Scalar;
use onnx_protobuf::{Message, ModelProto};

pub use reference::{Reference, Span32, Value, layer_norm_row};
pub use tensor::Limits;

/// Why a model could not be loaded. Displayed as one line: `FILE: node 'NAME' (Op): reason`.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{file}: cannot read: {source}")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}: not a valid ONNX model: {reason}")]
    Decode { file: String, reason: String },
    #[error("{file}: node '{node}' ({op}): {reason}")]
    Node { file: String, node: String, op: String, reason: String },
    #[error("{file}: {reason}")]
    Model { file: String, reason: String },
}

/// A lowered model: the core IR's arrays with `f64` weights, plus the ONNX shapes.
#[derive(Clone, Debug)]
pub struct Model {
    pub nodes: Vec<Node>,
    pub weights: Vec<f64>,
    pub indices: Vec<u32>,
    pub output: NodeId,
    /// Shape of the ONNX input (symbolic/batch dimensions set to 1).
    pub input_shape: Vec<usize>,
    /// Shape of the ONNX output.
    pub output_shape: Vec<usize>,
    /// The graph as lowered, before any rewrite: counterexamples are confirmed on it.
    pub reference: Reference,
}

pub use genbab_core::graph::OwnedGraph;

impl Model {
    pub fn input_len(&self) -> usize {
        self.nodes.first().map_or(0, |n| n.len as usize)
    }
    pub fn output_len(&self) -> usize {
        self.nodes.get(self.output as usize).map_or(0, |n| n.len as usize)
    }
    /// The graph in scalar type `T` (weights rounded to nearest; exact for f32 weights).
    pub fn graph<T: Scalar>(&self) -> OwnedGraph<T> {
        OwnedGraph {
            nodes: self.nodes.clone(),
            weights: self.weights.iter().map(|&w| T::from_f64_near(w)).collect(),
            indices: self.indices.clone(),
            output: self.output,
        }
    }
}

/// Load and lower an ONNX file.
pub fn load(path: &Path) -> Result<Model, LoadError> {
    load_with_bytes(path).map(|(m, _)| m)
}

/// [`load`], also returning the file's bytes (a certificate fingerprints them).
pub fn load_with_bytes(path: &Path) -> Result<(Model, Vec<u8>), LoadError> {
    let file = path.display().to_string();
    let bytes = crate::files::read(path).map_err(|source| LoadError::Io { file: file.clone(), source })?;
    Ok((load_bytes(&bytes, &file, Limits::default())?, bytes))
}

/// A hint for bytes that are text rather than protobuf: a VNNLIB file given as the model (the
/// arguments swapped) or some other text file.
fn text_hint(bytes: &[u8]) -> &'static str {
    let head = &bytes[..bytes.len().min(512)];
    let text = std::str::from_utf8(head).map(str::trim_start);
    match text {
        Ok(t) if t.starts_with('(') || t.starts_with(';') => {
            " (this looks like a VNNLIB property: the model comes first, then the property)"
        }
        Ok(t) if !t.is_empty() && t.chars().all(|c| !c.is_control() || c.is_whitespace()) => {
            " (this is a text file, not an ONNX model)"
        }
        _ => "",
    }
}

/// Load and lower an ONNX model from memory; `file` names it in errors.
pub fn load_bytes(bytes: &[u8], file: &str, limits: Limits) -> Result<Model, LoadError> {
    let file = file.to_string();
    if let Err(at) = wire::check_groups(bytes) {
        return Err(LoadError::Decode {
            file,
            reason: format!(
                "protobuf groups nested deeper than {} at byte {at} (ONNX has no groups)",
                wire::MAX_GROUP_DEPTH
            ),
        });
    }
    let m = ModelProto::parse_from_bytes(bytes).map_err(|e| LoadError::Decode {
        file: file.clone(),
        reason: format!("{}{}", e.to_string().replace(['\n', '\r'], " "), text_hint(bytes)),
    })?;
    let model_err = |reason: String| LoadError::Model { file: file.clone(), reason };
    if m.graph.is_none() {
        return Err(LoadError::Decode { file: file.clone(), reason: "the model has no graph".into() });
    }
    let opset = m
        .opset_import
        .iter()
        .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .map(|o| o.version)
        .unwrap_or(1);
    let lowered = lower::lower_graph(&m.graph, opset, limits).map_err(|(loc, reason)| match loc {
        Some((node, op)) => LoadError::Node { file: file.clone(), node, op, reason },
        None => LoadError::Model { file: file.clone(), reason },
    })?;
    let output_shape = lowered.output.shape.clone();
    let reference = lowered.builder.reference(lowered.output.id);
    let s = lowered.builder.finish(lowered.output.id).map_err(model_err)?;
    let model = Model {
        nodes: s.nodes,
        weights: s.weights,
        indices: s.indices,
        output: s.output,
        input_shape: lowered.input_shape,
        output_shape,
        reference,
    };
    // The f32 view must validate too (a constant beyond f32 range would become infinite).
    let g32 = model.graph::<f32>();
    // A debugging aid: the lowered IR, one node per line, on stderr.
    if std::env::var_os("GENBAB_DUMP_IR").is_some() {
        for (i, n) in model.nodes.iter().enumerate() {
            eprintln!("{i}: len {} {:?}", n.len, n.op);
        }
    }
    if let Err(e) = g32.graph().validate() {
        return Err(model_err(format!("internal error: the lowered graph is invalid: {e:?}")));
    }
    Ok(model)
}

#[cfg(test)]
pub(crate) mod tests;
