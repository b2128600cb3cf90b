//! Lowering an ONNX graph to the core IR, node by node, with static shapes and constant folding.
//!
//! Every ONNX value is either a constant [`Tensor`] (initializers, `Constant`, and everything
//! computed from constants only — shape arithmetic is folded away) or a variable: an IR node
//! holding the row-major flattening of a statically known shape. Data movement (Reshape,
//! Transpose, Slice, Gather, Expand, broadcasts, …) is an index map; linear ops with constant
//! operands become dense affine maps; products of variables become `Mul` (+ `Sum`).

use std::collections::HashMap;

use genbab_core::graph::Unary;
use genbab_core::ops::conv::ConvGeom;
use onnx_protobuf::{AttributeProto, GraphProto, NodeProto};

use super::builder::Builder;
use super::tensor::{
    self, Kind, Limits, Tensor, axis, broadcast_map, broadcast_shape, for_each_index, numel, strides,
};

/// A variable: IR node `id` holding a value of shape `shape`.
#[derive(Clone, Debug)]
pub struct Var {
    pub id: usize,
    pub shape: Vec<usize>,
}

/// An ONNX value during lowering.
#[derive(Clone, Debug)]
pub enum Val {
    C(Tensor),
    V(Var),
}

impl Val {
    fn shape(&self) -> &[usize] {
        match self {
            Val::C(t) => &t.shape,
            Val::V(v) => &v.shape,
        }
    }
}

type R<T> = Result<T, String>;

/// Attributes of one node.
struct Attrs<'a>(&'a [AttributeProto]);

impl Attrs<'_> {
    fn get(&self, name: &str) -> Option<&AttributeProto> {
        self.0.iter().find(|a| a.name == name)
    }
    fn int(&self, name: &str, default: i64) -> i64 {
        self.get(name).map_or(default, |a| a.i)
    }
    fn float(&self, name: &str, default: f32) -> f32 {
        self.get(name).map_or(default, |a| a.f)
    }
    fn ints(&self, name: &str) -> Option<Vec<i64>> {
        self.get(name).map(|a| a.ints.clone())
    }
    fn string(&self, name: &str) -> Option<String> {
        self.get(name).map(|a| String::from_utf8_lossy(&a.s).into_owned())
    }
}

/// The lowering state.
pub struct Lowering {
    pub b: Builder,
    values: HashMap<String, Val>,
    opset: i64,
    limits: Limits,
}

/// Result of lowering a graph: the builder and the output variable.
pub struct Lowered {
    pub builder: Builder,
    pub output: Var,
    pub input_shape: Vec<usize>,
}

/// Where an error happened: `Some((node name, op type))` or the graph itself.
pub type Located = (Option<(String, String)>, String);

pub fn lower_graph(g: &GraphProto, opset: i64, limits: Limits) -> Result<Lowered, Located> {
    let graph_err = |e: String| (None, e);
    let mut values = HashMap::new();
    for init in &g.initializer {
        let t = tensor::decode(init, &limits).map_err(graph_err)?;
        values.insert(init.name.clone(), Val::C(t));
    }
    if !g.sparse_initializer.is_empty() {
        return Err(graph_err("sparse initializers are not supported".into()));
    }
    let inputs: Vec<_> = g.input.iter().filter(|i| !values.contains_key(&i.name)).collect();
    let input = *inputs
        .first()
        .ok_or_else(|| graph_err("the graph has no input that is not an initializer".into()))?;
    if inputs.len() > 1 {
        let names: Vec<&str> = inputs.iter().map(|i| i.name.as_str()).collect();
        return Err(graph_err(format!(
            "the graph has {} inputs ({}); only models with one input tensor are supported (VNN-LIB's X_i index one input)",
            inputs.len(),
            names.join(", ")
        )));
    }
    let tt = input.type_.tensor_type();
    if !input.type_.has_tensor_type() {
        return Err(graph_err(format!("input '{}' is not a tensor", input.name)));
    }
    if !matches!(tt.elem_type, 1 | 0) {
        return Err(graph_err(format!(
            "input '{}' has element type {} ({}); only float32 networks are supported (the bounds \
             enclose f32 arithmetic)",
            input.name,
            tt.elem_type,
            tensor::type_name(tt.elem_type)
        )));
    }
    let shape: Vec<usize> = tt
        .shape
        .dim
        .iter()
        .map(|d| match d.value {
            Some(onnx_protobuf::tensor_shape_proto::dimension::Value::DimValue(v)) if v > 0 => v as usize,
            _ => 1,
        })
        .collect();
    let n = numel(&shape, &limits).map_err(graph_err)?;
    if n == 0 {
        return Err(graph_err("the input is empty".into()));
    }
    let mut lw = Lowering { b: Builder::new(n, limits), values, opset, limits };
    lw.values.insert(input.name.clone(), Val::V(Var { id: 0, shape: shape.clone() }));
    for node in &g.node {
        let name = if node.name.is_empty() {
            node.output.first().cloned().unwrap_or_default()
        } else {
            node.name.clone()
        };
        lw.node(node).map_err(|e| (Some((name, node.op_type.clone())), e))?;
    }
    let out = g.output.first().ok_or_else(|| graph_err("the graph has no output".into()))?;
    match lw.values.get(&out.name) {
        Some(Val::V(v)) => {
            let output = v.clone();
            Ok(Lowered { builder: lw.b, output, input_shape: shape })
        }
        Some(Val::C(_)) => Err(graph_err(format!("output '{}' does not depend on the input", out.name))),
        None => Err(graph_err(format!("output '{}' is not computed by any node", out.name))),
    }
}

/// Map an ONNX unary op to the IR nonlinearity.
fn unary_of(op: &str, a: &Attrs) -> Option<Unary> {
    Some(match op {
        "Relu" => Unary::Relu,
        "LeakyRelu" => Unary::LeakyRelu(a.float("alpha", 0.01)),
        "Sigmoid" => Unary::Sigmoid,
        "Tanh" => Unary::Tanh,
        "Sin" => Unary::Sin,
        "Cos" => Unary::Cos,
        "Exp" => Unary::Exp,
        "Log" => Unary::Log,
        "Sqrt" => Unary::Sqrt,
        "Reciprocal" => Unary::Reciprocal,
        "Abs" => Unary::Abs,
        "Gelu" => match a.string("approximate").as_deref() {
            None | Some("none") => Unary::Gelu,
            Some("tanh") => Unary::GeluTanh,
            Some(_) => return None,
        },
        _ => return None,
    })
}

#[derive(Clone, Copy, PartialEq)]
enum Bin {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
}

impl Lowering {
    fn get(&self, name: &str) -> R<Val> {
        self.values
            .get(name)
            .cloned()
            .ok_or_else(|| format!("input '{name}' is not produced by any earlier node"))
    }
    fn input(&self, node: &NodeProto, k: usize) -> R<Val> {
        match node.input.get(k) {
            Some(n) if !n.is_empty() => self.get(n),
            _ => Err(format!("missing input {k}")),
        }
    }
    fn opt_input(&self, node: &NodeProto, k: usize) -> R<Option<Val>> {
        match node.input.get(k) {
            Some(n) if !n.is_empty() => self.get(n).map(Some),
            _ => Ok(None),
        }
    }
    fn const_input(&self, node: &NodeProto, k: usize, what: &str) -> R<Tensor> {
        match self.input(node, k)? {
            Val::C(t) => Ok(t),
            Val::V(_) => {
                Err(format!("{what} (input {k}) must be a constant, but it depends on the network input"))
            }
        }
    }
    fn opt_const_ints(&self, node: &NodeProto, k: usize, what: &str) -> R<Option<Vec<i64>>> {
        match self.opt_input(node, k)? {
            None => Ok(None),
            Some(Val::C(t)) => t.as_i64s().map(Some),
            Some(Val::V(_)) => {
                Err(format!("{what} (input {k}) must be a constant, but it depends on the network input"))
            }
        }
    }

    /// Apply an index map to a value.
    fn movev(&mut self, v: &Val, map: &[usize], shape: Vec<usize>) -> R<Val> {
        Ok(match v {
            Val::C(t) => Val::C(Tensor::new(shape, map.iter().map(|&j| t.data[j]).collect(), t.kind)),
            Val::V(x) => Val::V(Var { id: self.b.gather(x.id, map)?, shape }),
        })
    }

    /// A value as an IR node (constants become constant nodes).
    fn node_of(&mut self, v: &Val) -> R<usize> {
        match v {
            Val::V(x) => Ok(x.id),
            Val::C(t) => {
                if t.data.is_empty() {
                    return Err("an empty constant cannot take part in a variable computation".into());
                }
                self.b.constant(&t.data)
            }
        }
    }

    fn set(&mut self, node: &NodeProto, v: Val) {
        if let Some(name) = node.output.first() {
            self.values.insert(name.clone(), v);
        }
    }

    fn node(&mut self, node: &NodeProto) -> R<()> {
        if !(node.domain.is_empty() || node.domain == "ai.onnx") {
            return Err(format!("operator domain '{}' is not supported", node.domain));
        }
        let a = Attrs(&node.attribute);
        let op = node.op_type.as_str();
        // float64 constants may be folded among themselves, not mixed into the network's values.
        let ins = || node.input.iter().filter_map(|n| self.values.get(n));
        if ins().any(|v| matches!(v, Val::V(_)))
            && ins().any(|v| matches!(v, Val::C(t) if t.kind == Kind::Double))
        {
            return Err("a float64 constant meets a value computed from the network input: float64 \
                        arithmetic is not supported (the bounds enclose f32 arithmetic)"
                .into());
        }
        // Outputs other than the first are not computed; using one is an error (missing value).
        let v = match op {
            "Identity" | "Dropout" => self.input(node, 0)?,
            "Cast" => {
                let to = a.int("to", 1);
                match self.input(node, 0)? {
                    Val::C(t) => Val::C(cast(t, to)?),
                    Val::V(x) => match to {
                        1 => Val::V(x),
                        10 | 16 => {
                            return Err(format!(
                                "cast of a variable to {} is not supported (its rounding to a \
                                 narrower float type is not modelled)",
                                tensor::type_name(to)
                            ));
                        }
                        11 => {
                            return Err("cast of a variable to float64 is not supported (the bounds \
                                        enclose f32 arithmetic)"
                                .into());
                        }
                        _ => {
                            return Err(format!(
                                "cast of a variable to {} is not supported",
                                tensor::type_name(to)
                            ));
                        }
                    },
                }
            }
            "Constant" => Val::C(self.constant_attr(&a)?),
            "Add" | "Sub" | "Mul" | "Div" | "Pow" => {
                let bin = match op {
                    "Add" => Bin::Add,
                    "Sub" => Bin::Sub,
                    "Mul" => Bin::Mul,
                    "Div" => Bin::Div,
                    _ => Bin::Pow,
                };
                let (x, y) = (self.input(node, 0)?, self.input(node, 1)?);
                self.binary(bin, x, y)?
            }
            "Sum" => {
                let mut acc = self.input(node, 0)?;
                for k in 1..node.input.len() {
                    let y = self.input(node, k)?;
                    acc = self.binary(Bin::Add, acc, y)?;
                }
                acc
            }
            "Neg" => match self.input(node, 0)? {
                Val::C(t) => Val::C(map_const(t, |x| -x)),
                Val::V(x) => {
                    Val::V(Var { id: self.b.scale_shift(x.id, vec![-1.0], vec![])?, shape: x.shape })
                }
            },
            "Floor" | "Ceil" | "Round" | "Sign" | "Not" | "Erf" | "IsNaN" | "IsInf" => {
                let f: fn(f64) -> f64 = match op {
                    "Floor" => f64::floor,
                    "Ceil" => f64::ceil,
                    "Round" => f64::round_ties_even,
                    "Sign" => |x: f64| {
                        if x > 0.0 {
                            1.0
                        } else if x < 0.0 {
                            -1.0
                        } else {
                            0.0
                        }
                    },
                    "Not" => |x: f64| (x == 0.0) as u8 as f64,
                    "Erf" => libm::erf,
                    "IsNaN" => |x: f64| x.is_nan() as u8 as f64,
                    _ => |x: f64| x.is_infinite() as u8 as f64,
                };
                match self.input(node, 0)? {
                    Val::C(t) => {
                        let kind = if matches!(op, "Not" | "IsNaN" | "IsInf") { Kind::Bool } else { t.kind };
                        let mut r = map_const(t, f);
                        r.kind = kind;
                        Val::C(r)
                    }
                    Val::V(x) if op == "Floor" => {
                        Val::V(Var { id: self.b.unary(x.id, Unary::Floor)?, shape: x.shape })
                    }
                    Val::V(x) if op == "Ceil" => {
                        // ⌈x⌉ = −⌊−x⌋.
                        let n = self.b.scale_shift(x.id, vec![-1.0], vec![])?;
                        let f = self.b.unary(n, Unary::Floor)?;
                        Val::V(Var { id: self.b.scale_shift(f, vec![-1.0], vec![])?, shape: x.shape })
                    }
                    Val::V(_) => {
                        return Err(format!(
                            "{op} of a value that depends on the network input is not supported{}",
                            if matches!(op, "Round" | "Sign") { " (piecewise constant)" } else { "" }
                        ));
                    }
                }
            }
            "Relu" | "LeakyRelu" | "Sigmoid" | "Tanh" | "Sin" | "Cos" | "Exp" | "Log" | "Sqrt"
            | "Reciprocal" | "Abs" | "Gelu" => {
                let f = unary_of(op, &a).ok_or_else(|| match a.string("approximate") {
                    Some(s) if op == "Gelu" => {
                        format!("Gelu approximate=\"{s}\" is not an ONNX approximation")
                    }
                    _ => "unsupported".into(),
                })?;
                if let Unary::LeakyRelu(s) = f
                    && !(0.0..=1.0).contains(&s)
                {
                    return Err(format!("LeakyRelu slope {s} outside [0, 1] is not supported"));
                }
                match self.input(node, 0)? {
                    Val::C(t) => Val::C(map_const(t, |x| genbab_core::relax::value(f, x))),
                    Val::V(x) => Val::V(Var { id: self.b.unary(x.id, f)?, shape: x.shape }),
                }
            }
            "Max" | "Min" if (0..node.input.len()).any(|k| matches!(self.input(node, k), Ok(Val::V(_)))) => {
                let mut acc = self.input(node, 0)?;
                for k in 1..node.input.len() {
                    let y = self.input(node, k)?;
                    acc = self.max_min(acc, y, op == "Min")?;
                }
                acc
            }
            "MaxPool" => self.max_pool(node, &a)?,
            "Equal" | "Less" | "Greater" | "LessOrEqual" | "GreaterOrEqual" | "And" | "Or" | "Xor"
            | "Max" | "Min" | "Mod" => {
                let f: fn(f64, f64) -> f64 = match op {
                    "Equal" => |x, y| (x == y) as u8 as f64,
                    "Less" => |x, y| (x < y) as u8 as f64,
                    "Greater" => |x, y| (x > y) as u8 as f64,
                    "LessOrEqual" => |x, y| (x <= y) as u8 as f64,
                    "GreaterOrEqual" => |x, y| (x >= y) as u8 as f64,
                    "And" => |x, y| (x != 0.0 && y != 0.0) as u8 as f64,
                    "Or" => |x, y| (x != 0.0 || y != 0.0) as u8 as f64,
                    "Xor" => |x, y| ((x != 0.0) != (y != 0.0)) as u8 as f64,
                    "Max" => f64::max,
                    "Min" => f64::min,
                    _ => |x: f64, y: f64| x - (x / y).floor() * y,
                };
                let mut acc = self.const_input(node, 0, "every operand")?;
                for k in 1..node.input.len() {
                    let y = self.const_input(node, k, "every operand")?;
                    let kind = if matches!(op, "Max" | "Min" | "Mod") { acc.kind } else { Kind::Bool };
                    acc = const_binary(&acc, &y, f, kind, &self.limits)?;
                }
                Val::C(acc)
            }
            "Where" => {
                let c = self.const_input(node, 0, "the condition")?;
                let (x, y) = (self.input(node, 1)?, self.input(node, 2)?);
                self.where_(c, x, y)?
            }
            "Shape" => {
                let x = self.input(node, 0)?;
                let s: Vec<i64> = x.shape().iter().map(|&d| d as i64).collect();
                let r = s.len() as i64;
                let clampi = |v: i64| (if v < 0 { v + r } else { v }).clamp(0, r) as usize;
                let start = clampi(a.int("start", 0));
                let end = clampi(a.int("end", r));
                Val::C(Tensor::ints(if start < end { &s[start..end] } else { &[] }))
            }
            "Size" => {
                let x = self.input(node, 0)?;
                Val::C(Tensor::scalar(x.shape().iter().product::<usize>() as f64, Kind::Int))
            }
            "ConstantOfShape" => {
                let s = self.const_input(node, 0, "the shape")?.as_i64s()?;
                let shape = dims(&s)?;
                let n = numel(&shape, &self.limits)?;
                let (v, kind) = match a.get("value") {
                    Some(at) if at.t.is_some() => {
                        let t = tensor::decode(&at.t, &self.limits)?;
                        (*t.data.first().ok_or("ConstantOfShape value is empty")?, t.kind)
                    }
                    _ => (0.0, Kind::Float),
                };
                Val::C(Tensor::new(shape, vec![v; n], kind))
            }
            "Range" => {
                let s = self.const_input(node, 0, "start")?;
                let l = self.const_input(node, 1, "limit")?;
                let d = self.const_input(node, 2, "delta")?;
                let (s0, l0, d0) = (first(&s)?, first(&l)?, first(&d)?);
                let count = ((l0 - s0) / d0).ceil();
                if !count.is_finite() {
                    return Err("Range with a zero or non-finite step".into());
                }
                let count = count.max(0.0);
                if count > self.limits.max_elems as f64 {
                    return Err("Range is too long".into());
                }
                let data: Vec<f64> = (0..count as usize).map(|i| s0 + i as f64 * d0).collect();
                Val::C(Tensor::new(vec![data.len()], data, s.kind))
            }
            "Reshape" => {
                let x = self.input(node, 0)?;
                let s = match self.opt_input(node, 1)? {
                    Some(Val::C(t)) => t.as_i64s()?,
                    Some(Val::V(_)) => return Err("the target shape must be a constant".into()),
                    None => a.ints("shape").ok_or("missing target shape")?,
                };
                let shape = reshape(x.shape(), &s, a.int("allowzero", 0) != 0)?;
                with_shape(x, shape)
            }
            "Flatten" => {
                let x = self.input(node, 0)?;
                let r = x.shape().len();
                let ax = a.int("axis", 1);
                let ax = if ax < 0 { ax + r as i64 } else { ax };
                if !(0..=r as i64).contains(&ax) {
                    return Err(format!("axis {} is out of range for rank {r}", a.int("axis", 1)));
                }
                let (p, q) = x.shape().split_at(ax as usize);
                let shape = vec![p.iter().product(), q.iter().product()];
                with_shape(x, shape)
            }
            "Squeeze" | "Unsqueeze" => {
                let x = self.input(node, 0)?;
                let axes = match self.opt_const_ints(node, 1, "axes")? {
                    Some(v) => Some(v),
                    None => a.ints("axes"),
                };
                let shape = if op == "Squeeze" {
                    squeeze(x.shape(), axes)?
                } else {
                    unsqueeze(x.shape(), &axes.unwrap_or_default())?
                };
                with_shape(x, shape)
            }
            "Transpose" => {
                let x = self.input(node, 0)?;
                let r = x.shape().len();
                let perm: Vec<usize> = match a.ints("perm") {
                    Some(p) => {
                        let p: Vec<usize> = p.iter().map(|&v| axis(v, r)).collect::<R<_>>()?;
                        let mut seen = vec![false; r];
                        if p.len() != r || p.iter().any(|&k| std::mem::replace(&mut seen[k], true)) {
                            return Err(format!("perm {p:?} is not a permutation of rank {r}"));
                        }
                        p
                    }
                    None => (0..r).rev().collect(),
                };
                let (shape, map) = tensor::transpose_map(x.shape(), &perm);
                self.movev(&x, &map, shape)?
            }
            "Expand" => {
                let x = self.input(node, 0)?;
                let s = dims(&self.const_input(node, 1, "the shape")?.as_i64s()?)?;
                let shape = broadcast_shape(x.shape(), &s)?;
                numel(&shape, &self.limits)?;
                let map = broadcast_map(x.shape(), &shape);
                self.movev(&x, &map, shape)?
            }
            "Slice" => self.slice(node, &a)?,
            "Gather" => {
                let x = self.input(node, 0)?;
                let idx = self.const_input(node, 1, "the indices")?;
                let r = x.shape().len();
                let ax = axis(a.int("axis", 0), r)?;
                let dim = x.shape()[ax];
                let ids: Vec<usize> = idx
                    .as_i64s()?
                    .iter()
                    .map(|&i| {
                        let j = if i < 0 { i + dim as i64 } else { i };
                        if (0..dim as i64).contains(&j) {
                            Ok(j as usize)
                        } else {
                            Err(format!("index {i} out of range for axis of size {dim}"))
                        }
                    })
                    .collect::<R<_>>()?;
                let xs = x.shape().to_vec();
                let mut shape = xs[..ax].to_vec();
                shape.extend_from_slice(&idx.shape);
                shape.extend_from_slice(&xs[ax + 1..]);
                numel(&shape, &self.limits)?;
                let inner: usize = xs[ax + 1..].iter().product();
                let outer: usize = xs[..ax].iter().product();
                let mut map = Vec::with_capacity(outer * ids.len() * inner);
                for o in 0..outer {
                    for &j in &ids {
                        for k in 0..inner {
                            map.push((o * dim + j) * inner + k);
                        }
                    }
                }
                self.movev(&x, &map, shape)?
            }
            "Concat" => {
                let vals: Vec<Val> = (0..node.input.len()).map(|k| self.input(node, k)).collect::<R<_>>()?;
                self.concat(vals, a.int("axis", i64::MIN))?
            }
            "MatMul" => {
                let (x, y) = (self.input(node, 0)?, self.input(node, 1)?);
                self.matmul(x, y)?
            }
            "Gemm" => {
                let (mut x, mut y) = (self.input(node, 0)?, self.input(node, 1)?);
                for (t, name) in [(&mut x, "transA"), (&mut y, "transB")] {
                    if t.shape().len() != 2 {
                        return Err(format!("Gemm operands must be 2-D, found shape {:?}", t.shape()));
                    }
                    if a.int(name, 0) != 0 {
                        let (shape, map) = tensor::transpose_map(t.shape(), &[1, 0]);
                        *t = self.movev(t, &map, shape)?;
                    }
                }
                let mut r = self.matmul(x, y)?;
                let alpha = a.float("alpha", 1.0) as f64;
                if alpha != 1.0 {
                    r = self.binary(Bin::Mul, r, Val::C(Tensor::scalar(alpha, Kind::Float)))?;
                }
                if let Some(c) = self.opt_input(node, 2)? {
                    let beta = a.float("beta", 1.0) as f64;
                    let c = if beta != 1.0 {
                        self.binary(Bin::Mul, c, Val::C(Tensor::scalar(beta, Kind::Float)))?
                    } else {
                        c
                    };
                    r = self.binary(Bin::Add, r, c)?;
                }
                r
            }
            "Conv" => self.conv(node, &a)?,
            "AveragePool" => self.avg_pool(node, &a, false)?,
            "GlobalAveragePool" => self.avg_pool(node, &a, true)?,
            "BatchNormalization" => {
                if a.int("training_mode", 0) != 0 {
                    return Err("BatchNormalization in training mode is not supported".into());
                }
                let x = self.input(node, 0)?;
                let p: Vec<Tensor> = (1..5)
                    .map(|k| self.const_input(node, k, ["", "scale", "bias", "mean", "var"][k]))
                    .collect::<R<_>>()?;
                let xs = x.shape().to_vec();
                if xs.len() < 2 {
                    return Err(format!("input of rank {} has no channel dimension", xs.len()));
                }
                let c = xs[1];
                if p.iter().any(|t| t.data.len() != c) {
                    return Err(format!("parameters must have {c} values (one per channel)"));
                }
                // The inference form with f32 parameters, as onnxruntime's CPU kernel computes it:
                // s = scale / sqrt(var + eps), c = B − mean·s, y = x·s + c.
                let eps = a.float("epsilon", 1e-5);
                let f = |t: &Tensor, k: usize| t.data[k] as f32;
                let sc: Vec<f32> = (0..c).map(|k| f(&p[0], k) * (1.0 / (f(&p[3], k) + eps).sqrt())).collect();
                let sh: Vec<f32> = (0..c).map(|k| f(&p[1], k) - f(&p[2], k) * sc[k]).collect();
                let inner: usize = xs[2..].iter().product();
                let n = xs.iter().product::<usize>();
                let scale: Vec<f64> = (0..n).map(|i| sc[(i / inner) % c] as f64).collect();
                let shift: Vec<f64> = (0..n).map(|i| sh[(i / inner) % c] as f64).collect();
                match x {
                    Val::C(t) => Val::C(Tensor::new(
                        t.shape.clone(),
                        t.data
                            .iter()
                            .enumerate()
                            .map(|(i, v)| ((v * scale[i]) as f32 + shift[i] as f32) as f64)
                            .collect(),
                        Kind::Float,
                    )),
                    // Two nodes: the product and the sum are each charged their rounding.
                    Val::V(v) => {
                        let m = self.b.scale_shift(v.id, scale, vec![])?;
                        Val::V(Var { id: self.b.scale_shift(m, vec![], shift)?, shape: v.shape })
                    }
                }
            }
            "ReduceSum" | "ReduceMean" => {
                let x = self.input(node, 0)?;
                let axes_from_input = (op == "ReduceSum" && self.opset >= 13) || self.opset >= 18;
                let axes =
                    if axes_from_input { self.opt_const_ints(node, 1, "axes")? } else { a.ints("axes") };
                let axes = axes.filter(|v| !v.is_empty());
                if axes.is_none() && a.int("noop_with_empty_axes", 0) != 0 {
                    x
                } else {
                    self.reduce(x, axes, a.int("keepdims", 1) != 0, op == "ReduceMean")?
                }
            }
            "Softmax" => {
                let x = self.input(node, 0)?;
                self.softmax(x, &a)?
            }
            "LayerNormalization" => self.layer_norm(node, &a)?,
            _ => return Err(format!("operator {op} is not supported")),
        };
        self.set(node, v);
        Ok(())
    }

    fn constant_attr(&self, a: &Attrs) -> R<Tensor> {
        if let Some(at) = a.get("value") {
            return tensor::decode(&at.t, &self.limits);
        }
        if let Some(at) = a.get("value_float") {
            return Ok(Tensor::scalar(at.f as f64, Kind::Float));
        }
        if let Some(at) = a.get("value_floats") {
            return Ok(Tensor::new(
                vec![at.floats.len()],
                at.floats.iter().map(|&v| v as f64).collect(),
                Kind::Float,
            ));
        }
        if let Some(at) = a.get("value_int") {
            return Ok(Tensor::scalar(at.i as f64, Kind::Int));
        }
        if let Some(at) = a.get("value_ints") {
            return Ok(Tensor::ints(&at.ints));
        }
        Err("Constant without a supported value attribute".into())
    }

    fn binary(&mut self, op: Bin, x: Val, y: Val) -> R<Val> {
        let shape = broadcast_shape(x.shape(), y.shape())?;
        numel(&shape, &self.limits)?;
        match (x, y) {
            (Val::C(p), Val::C(q)) => {
                let kind = p.kind.join(q.kind);
                let f: fn(f64, f64) -> f64 = match (op, kind) {
                    (Bin::Add, _) => |a, b| a + b,
                    (Bin::Sub, _) => |a, b| a - b,
                    (Bin::Mul, _) => |a, b| a * b,
                    (Bin::Div, Kind::Float | Kind::Double) => |a, b| a / b,
                    (Bin::Div, _) => |a: f64, b: f64| if b == 0.0 { 0.0 } else { (a / b).trunc() },
                    (Bin::Pow, _) => f64::powf,
                };
                Ok(Val::C(const_binary(&p, &q, f, kind, &self.limits)?))
            }
            (Val::V(v), Val::C(c)) => {
                let v = self.broadcast_var(v, &shape)?;
                let c = broadcast_data(&c, &shape);
                let id = match op {
                    Bin::Add => self.b.scale_shift(v, vec![], c)?,
                    Bin::Sub => self.b.scale_shift(v, vec![], c.iter().map(|t| -t).collect())?,
                    Bin::Mul => self.b.scale_shift(v, c, vec![])?,
                    Bin::Div => self.b.div_const(v, c)?,
                    Bin::Pow => {
                        let e = c[0];
                        if c.iter().any(|&t| t != e) {
                            return Err("Pow with a non-uniform exponent is not supported".into());
                        }
                        self.pow(v, e)?
                    }
                };
                Ok(Val::V(Var { id, shape }))
            }
            (Val::C(c), Val::V(v)) => {
                let v = self.broadcast_var(v, &shape)?;
                let c = broadcast_data(&c, &shape);
                let id = match op {
                    Bin::Add => self.b.scale_shift(v, vec![], c)?,
                    Bin::Sub => self.b.scale_shift(v, vec![-1.0], c)?,
                    Bin::Mul => self.b.scale_shift(v, c, vec![])?,
                    Bin::Div => self.b.rdiv_const(v, c)?,
                    Bin::Pow => return Err("Pow with a variable exponent is not supported".into()),
                };
                Ok(Val::V(Var { id, shape }))
            }
            (Val::V(p), Val::V(q)) => {
                let p = self.broadcast_var(p, &shape)?;
                let q = self.broadcast_var(q, &shape)?;
                let id = match op {
                    Bin::Add => self.b.add(p, q)?,
                    Bin::Sub => self.b.sub(p, q)?,
                    Bin::Mul => self.b.mul(p, q)?,
                    Bin::Div => self.b.div(p, q)?,
                    Bin::Pow => return Err("Pow with a variable exponent is not supported".into()),
                };
                Ok(Val::V(Var { id, shape }))
            }
        }
    }

    /// `max(x, y)` (`min`) with numpy broadcasting, at least one operand a variable (a constant
    /// operand becomes a constant node).
    fn max_min(&mut self, x: Val, y: Val, min: bool) -> R<Val> {
        let shape = broadcast_shape(x.shape(), y.shape())?;
        numel(&shape, &self.limits)?;
        let node = |v: Val, b: &mut Self| -> R<usize> {
            match v {
                Val::V(v) => b.broadcast_var(v, &shape),
                Val::C(c) => b.b.constant(
                    &broadcast_map(&c.shape, &shape).iter().map(|&j| c.data[j]).collect::<Vec<_>>(),
                ),
            }
        };
        let (p, q) = (node(x, self)?, node(y, self)?);
        Ok(Val::V(Var { id: self.b.max_min(p, q, min)?, shape }))
    }

    /// For each group of elements of node `x` (each non-empty), their maximum: a chain of
    /// pairwise maxima over gathers of every group's `t`-th member (a shorter group repeats its
    /// first).
    fn max_over(&mut self, x: usize, groups: &[Vec<usize>]) -> R<usize> {
        let mut acc = None;
        for t in 0..groups.iter().map(Vec::len).max().unwrap_or(0) {
            let map: Vec<usize> = groups.iter().map(|w| *w.get(t).unwrap_or(&w[0])).collect();
            let g = self.b.gather(x, &map)?;
            acc = Some(match acc {
                None => g,
                Some(m) => self.b.max_min(m, g, false)?,
            });
        }
        acc.ok_or_else(|| "a maximum over nothing".into())
    }

    /// MaxPool over one or two spatial dimensions: for each window position, the maximum of its
    /// taps inside the input (padding never wins, as in onnxruntime). `ceil_mode` and the Indices
    /// output are refused.
    fn max_pool(&mut self, node: &NodeProto, a: &Attrs) -> R<Val> {
        if node.output.iter().skip(1).any(|o| !o.is_empty()) {
            return Err("the Indices output is not supported".into());
        }
        let x = self.input(node, 0)?;
        let (geom, shape) = pool_geometry(a, x.shape(), false)?;
        let mut taps: Vec<Vec<usize>> = Vec::with_capacity(geom.out_len());
        for k in 0..geom.out_len() {
            let mut t = vec![];
            geom.for_each_tap(k, |j, _| t.push(j));
            if t.is_empty() {
                return Err("a pooling window lies entirely in the padding".into());
            }
            taps.push(t);
        }
        match x {
            Val::C(t) => {
                let data = taps
                    .iter()
                    .map(|w| w.iter().map(|&j| t.data[j]).fold(f64::NEG_INFINITY, f64::max))
                    .collect();
                Ok(Val::C(Tensor::new(shape, data, t.kind)))
            }
            Val::V(v) => Ok(Val::V(Var { id: self.max_over(v.id, &taps)?, shape })),
        }
    }

    fn pow(&mut self, v: usize, e: f64) -> R<usize> {
        let n = self.b.len_of(v);
        if e == 1.0 {
            Ok(v)
        } else if e == 0.0 {
            self.b.constant(&vec![1.0; n])
        } else if e == 0.5 {
            self.b.unary(v, Unary::Sqrt)
        } else if e == -0.5 {
            let s = self.b.unary(v, Unary::Sqrt)?;
            self.b.unary(s, Unary::Reciprocal)
        } else if e == -1.0 {
            self.b.unary(v, Unary::Reciprocal)
        } else if e.fract() == 0.0 && (2.0..=255.0).contains(&e.abs()) {
            let p = self.b.unary(v, Unary::Pow(e.abs() as u8))?;
            if e < 0.0 { self.b.unary(p, Unary::Reciprocal) } else { Ok(p) }
        } else {
            Err(format!("Pow with exponent {e} is not supported (integers up to 255, ±0.5 and -1 are)"))
        }
    }

    fn broadcast_var(&mut self, v: Var, shape: &[usize]) -> R<usize> {
        if v.shape.iter().product::<usize>() == shape.iter().product::<usize>() {
            return Ok(v.id);
        }
        let map = broadcast_map(&v.shape, shape);
        self.b.gather(v.id, &map)
    }

    fn where_(&mut self, c: Tensor, x: Val, y: Val) -> R<Val> {
        let shape = broadcast_shape(&broadcast_shape(&c.shape, x.shape())?, y.shape())?;
        numel(&shape, &self.limits)?;
        let mc = broadcast_map(&c.shape, &shape);
        let mx = broadcast_map(x.shape(), &shape);
        let my = broadcast_map(y.shape(), &shape);
        if let (Val::C(p), Val::C(q)) = (&x, &y) {
            let data = (0..mc.len())
                .map(|i| if c.data[mc[i]] != 0.0 { p.data[mx[i]] } else { q.data[my[i]] })
                .collect();
            return Ok(Val::C(Tensor::new(shape, data, p.kind)));
        }
        let nx = x.shape().iter().product::<usize>();
        let (ix, iy) = (self.node_of(&x)?, self.node_of(&y)?);
        let cat = self.b.concat(vec![ix, iy])?;
        let map: Vec<usize> =
            (0..mc.len()).map(|i| if c.data[mc[i]] != 0.0 { mx[i] } else { nx + my[i] }).collect();
        Ok(Val::V(Var { id: self.b.gather(cat, &map)?, shape }))
    }

    fn concat(&mut self, vals: Vec<Val>, ax: i64) -> R<Val> {
        let first = vals.first().ok_or("Concat without inputs")?;
        let r = first.shape().len();
        if ax == i64::MIN {
            return Err("Concat needs an axis attribute".into());
        }
        let ax = axis(ax, r)?;
        for v in &vals {
            let s = v.shape();
            if s.len() != r || (0..r).any(|k| k != ax && s[k] != first.shape()[k]) {
                return Err(format!(
                    "shapes {:?} and {s:?} cannot be concatenated on axis {ax}",
                    first.shape()
                ));
            }
        }
        let mut shape = first.shape().to_vec();
        shape[ax] = vals.iter().map(|v| v.shape()[ax]).sum();
        numel(&shape, &self.limits)?;
        let outer: usize = shape[..ax].iter().product();
        let inner: usize = shape[ax + 1..].iter().product();
        // Map from the output to the flat concatenation of the parts.
        let mut map = Vec::with_capacity(outer * shape[ax] * inner);
        for o in 0..outer {
            let mut base = 0;
            for v in &vals {
                let d = v.shape()[ax];
                for k in 0..d * inner {
                    map.push(base + o * d * inner + k);
                }
                base += v.shape().iter().product::<usize>();
            }
        }
        if vals.iter().all(|v| matches!(v, Val::C(_))) {
            let mut data = Vec::new();
            let mut kind = Kind::Int;
            for v in &vals {
                if let Val::C(t) = v {
                    data.extend_from_slice(&t.data);
                    kind = kind.join(t.kind);
                }
            }
            return Ok(Val::C(Tensor::new(shape, map.iter().map(|&j| data[j]).collect(), kind)));
        }
        let mut parts = Vec::new();
        for v in &vals {
            if v.shape().iter().product::<usize>() > 0 {
                parts.push(self.node_of(v)?);
            }
        }
        let cat = self.b.concat(parts)?;
        Ok(Val::V(Var { id: self.b.gather(cat, &map)?, shape }))
    }

    fn slice(&mut self, node: &NodeProto, a: &Attrs) -> R<Val> {
        let x = self.input(node, 0)?;
        let xs = x.shape().to_vec();
        let r = xs.len();
        let (starts, ends, axes, steps) = if node.input.len() >= 3 || self.opset >= 10 {
            let s = self.opt_const_ints(node, 1, "starts")?.ok_or("missing starts")?;
            let e = self.opt_const_ints(node, 2, "ends")?.ok_or("missing ends")?;
            (s, e, self.opt_const_ints(node, 3, "axes")?, self.opt_const_ints(node, 4, "steps")?)
        } else {
            (
                a.ints("starts").ok_or("missing starts")?,
                a.ints("ends").ok_or("missing ends")?,
                a.ints("axes"),
                None,
            )
        };
        let axes: Vec<usize> = match axes {
            Some(v) => v.iter().map(|&k| axis(k, r)).collect::<R<_>>()?,
            None => (0..starts.len()).collect(),
        };
        let steps = steps.unwrap_or_else(|| vec![1; starts.len()]);
        if ends.len() != starts.len() || axes.len() != starts.len() || steps.len() != starts.len() {
            return Err("starts, ends, axes and steps differ in length".into());
        }
        // Per axis: the selected source indices.
        let mut sel: Vec<Vec<usize>> = xs.iter().map(|&d| (0..d).collect()).collect();
        for k in 0..starts.len() {
            let d = xs[axes[k]] as i64;
            let step = steps[k];
            if step == 0 {
                return Err("slice step 0".into());
            }
            let norm = |v: i64| if v < 0 { v.saturating_add(d) } else { v };
            let (s, e) = (norm(starts[k]), norm(ends[k]));
            let mut v = Vec::new();
            if step > 0 {
                let (s, e) = (s.clamp(0, d), e.clamp(0, d));
                let mut i = s;
                while i < e {
                    v.push(i as usize);
                    i += step;
                }
            } else {
                let (s, e) = (s.clamp(-1, d - 1), e.clamp(-1, d - 1));
                let mut i = s;
                while i > e {
                    v.push(i as usize);
                    i += step;
                }
            }
            sel[axes[k]] = v;
        }
        let shape: Vec<usize> = sel.iter().map(|v| v.len()).collect();
        let st = strides(&xs);
        let mut map = Vec::with_capacity(shape.iter().product());
        for_each_index(&shape, |_, m| map.push((0..r).map(|k| sel[k][m[k]] * st[k]).sum()));
        self.movev(&x, &map, shape)
    }

    /// MatMul with numpy semantics (1-D operands promoted, batch dimensions broadcast).
    fn matmul(&mut self, x: Val, y: Val) -> R<Val> {
        let (xs, ys) = (x.shape().to_vec(), y.shape().to_vec());
        if xs.is_empty() || ys.is_empty() {
            return Err("MatMul of a scalar".into());
        }
        let a2 = if xs.len() == 1 { vec![1, xs[0]] } else { xs.clone() };
        let b2 = if ys.len() == 1 { vec![ys[0], 1] } else { ys.clone() };
        let (n, k) = (a2[a2.len() - 2], a2[a2.len() - 1]);
        let (k2, m) = (b2[b2.len() - 2], b2[b2.len() - 1]);
        if k != k2 {
            return Err(format!("MatMul shapes {xs:?} and {ys:?} do not match"));
        }
        let ba = &a2[..a2.len() - 2];
        let bb = &b2[..b2.len() - 2];
        let batch = broadcast_shape(ba, bb)?;
        let mut shape = batch.clone();
        shape.extend([n, m]);
        let out_len = numel(&shape, &self.limits)?;
        let nb: usize = batch.iter().product();
        let mba = broadcast_map(ba, &batch);
        let mbb = broadcast_map(bb, &batch);
        // For output element (t, i, j) and summation index l: flat indices into x and y.
        let xi = |t: usize, i: usize, l: usize| mba[t] * n * k + i * k + l;
        let yi = |t: usize, l: usize, j: usize| mbb[t] * k * m + l * m + j;
        let mut final_shape = batch.clone();
        if xs.len() > 1 {
            final_shape.push(n);
        }
        if ys.len() > 1 {
            final_shape.push(m);
        }
        let _ = shape;
        if out_len.checked_mul(k).is_none_or(|t| t > self.limits.max_elems) {
            return Err(format!("MatMul of shapes {xs:?} and {ys:?} is too large"));
        }
        match (&x, &y) {
            (Val::C(p), Val::C(q)) => {
                let mut data = vec![0.0; out_len];
                for t in 0..nb {
                    for i in 0..n {
                        for j in 0..m {
                            data[(t * n + i) * m + j] =
                                (0..k).map(|l| p.data[xi(t, i, l)] * q.data[yi(t, l, j)]).sum();
                        }
                    }
                }
                Ok(Val::C(Tensor::new(final_shape, data, Kind::Float)))
            }
            (Val::V(v), Val::C(c)) | (Val::C(c), Val::V(v)) => {
                let var_left = matches!(x, Val::V(_));
                // Rows of a variable times one constant matrix (a transformer's token-wise
                // projections): the same k × m map applied to each of the nb·n rows, i.e. a 1 × 1
                // convolution with one group per row. It costs the output's values only, where the
                // sparse lowering below costs a value per product.
                let groups = nb * n;
                if var_left && groups > 1 && mbb.iter().all(|&t| t == 0) && (0..nb).all(|t| mba[t] == t) {
                    let mut w = Vec::with_capacity(groups * m * k);
                    for _ in 0..groups {
                        for j in 0..m {
                            w.extend((0..k).map(|l| c.data[yi(0, l, j)]));
                        }
                    }
                    let geom = ConvGeom::grouped_dense(groups, k, m);
                    if ConvGeom::decode(&geom.encode()) == Some(geom) {
                        return Ok(Val::V(Var {
                            id: self.b.conv(v.id, w, vec![], geom)?,
                            shape: final_shape,
                        }));
                    }
                }
                // A constant times a variable is linear in the variable: entry (row, var, coef).
                let mut entries = Vec::with_capacity(out_len.saturating_mul(k).min(self.limits.max_elems));
                for t in 0..nb {
                    for i in 0..n {
                        for j in 0..m {
                            let row = (t * n + i) * m + j;
                            for l in 0..k {
                                let (xv, yv) = (xi(t, i, l), yi(t, l, j));
                                let (var, coef) = if var_left { (xv, yv) } else { (yv, xv) };
                                entries.push((row, var, c.data[coef]));
                            }
                        }
                    }
                }
                Ok(Val::V(Var { id: self.linear(v.id, &entries, out_len, vec![])?, shape: final_shape }))
            }
            (Val::V(p), Val::V(q)) if (0..nb).all(|t| mba[t] == t && mbb[t] == t) => {
                // Both operands with the full batch: the native product.
                Ok(Val::V(Var { id: self.b.matmul(p.id, q.id, n, k)?, shape: final_shape }))
            }
            (Val::V(p), Val::V(q)) => {
                let total = out_len
                    .checked_mul(k)
                    .filter(|&t| t <= self.limits.max_elems)
                    .ok_or("MatMul of two variables is too large")?;
                let mut ma = Vec::with_capacity(total);
                let mut mb = Vec::with_capacity(total);
                let mut ms = Vec::with_capacity(total);
                for t in 0..nb {
                    for i in 0..n {
                        for j in 0..m {
                            for l in 0..k {
                                ma.push(xi(t, i, l));
                                mb.push(yi(t, l, j));
                                ms.push((t * n + i) * m + j);
                            }
                        }
                    }
                }
                let ga = self.b.gather(p.id, &ma)?;
                let gb = self.b.gather(q.id, &mb)?;
                let prod = self.b.mul(ga, gb)?;
                let id = if k == 1 { prod } else { self.b.sum(prod, &ms, out_len)? };
                Ok(Val::V(Var { id, shape: final_shape }))
            }
        }
    }

    /// AveragePool and GlobalAveragePool over one or two spatial dimensions: a depthwise
    /// convolution with unit weights (its products exact), then a division by each window's
    /// count, as onnxruntime sums a window and divides. `ceil_mode` and dilations are refused.
    fn avg_pool(&mut self, node: &NodeProto, a: &Attrs, global: bool) -> R<Val> {
        let x = self.input(node, 0)?;
        if a.ints("dilations").is_some_and(|d| d.iter().any(|&v| v != 1)) {
            return Err("dilated pooling is not supported".into());
        }
        let (geom, shape) = pool_geometry(a, x.shape(), global)?;
        let include_pad = !global && a.int("count_include_pad", 0) != 0;
        let counts: Vec<f64> = (0..geom.out_len())
            .map(|k| {
                let mut n = 0usize;
                geom.for_each_run(k, |_, _, r| n += r);
                (if include_pad { geom.kh * geom.kw } else { n }) as f64
            })
            .collect();
        if counts.contains(&0.0) {
            return Err("a pooling window lies entirely in the padding".into());
        }
        match x {
            Val::C(t) => {
                let data = (0..geom.out_len())
                    .map(|k| {
                        let mut acc = 0.0;
                        geom.for_each_tap(k, |j, _| acc += t.data[j]);
                        acc / counts[k]
                    })
                    .collect();
                Ok(Val::C(Tensor::new(shape, data, Kind::Float)))
            }
            Val::V(v) => {
                let sum = self.b.conv(v.id, vec![1.0; geom.weight_len()], vec![], geom)?;
                Ok(Val::V(Var { id: self.b.div_const(sum, counts)?, shape }))
            }
        }
    }

    fn conv(&mut self, node: &NodeProto, a: &Attrs) -> R<Val> {
        let x = self.input(node, 0)?;
        let w = self.const_input(node, 1, "the kernel")?;
        let bias = match self.opt_input(node, 2)? {
            None => None,
            Some(Val::C(t)) => Some(t),
            Some(Val::V(_)) => return Err("the bias must be a constant".into()),
        };
        let xs = x.shape().to_vec();
        if xs.len() < 3 || w.shape.len() != xs.len() {
            return Err(format!(
                "input shape {xs:?} and kernel shape {:?} do not fit a convolution",
                w.shape
            ));
        }
        if xs[0] != 1 {
            return Err(format!("batch size {} is not supported", xs[0]));
        }
        let sd = xs.len() - 2;
        let (c_in, ins) = (xs[1], &xs[2..]);
        let (c_out, cg, ks) = (w.shape[0], w.shape[1], &w.shape[2..]);
        let group = a.int("group", 1);
        if group < 1
            || c_in % group as usize != 0
            || c_out % group as usize != 0
            || cg != c_in / group as usize
        {
            return Err(format!(
                "group {group} does not fit {c_in} input and {c_out} output channels (kernel {:?})",
                w.shape
            ));
        }
        let group = group as usize;
        if ins.contains(&0) || ks.contains(&0) {
            return Err(format!("empty input {xs:?} or kernel {:?}", w.shape));
        }
        if let Some(k) = a.ints("kernel_shape")
            && (k.len() != sd || k.iter().zip(ks).any(|(&p, &q)| p != q as i64))
        {
            return Err(format!("kernel_shape {k:?} differs from the kernel {ks:?}"));
        }
        let win = window(a, ins, ks)?;
        let outs = &win.outs;
        let mut shape = vec![1, c_out];
        shape.extend_from_slice(outs);
        let out_len = numel(&shape, &self.limits)?;
        let bias = match bias {
            Some(t) if t.data.len() == c_out => Some(t),
            Some(t) => return Err(format!("bias has {} values, expected {c_out}", t.data.len())),
            None => None,
        };
        if sd <= 2 {
            // Native: a 1-D convolution is a 2-D one of height 1.
            let geom = geom_2d(c_in, c_out, group, ins, ks, &win)?;
            let b: Vec<f64> = bias.map(|t| t.data.clone()).unwrap_or_default();
            return match x {
                Val::C(t) => {
                    let data = (0..out_len)
                        .map(|k| {
                            let mut acc = 0.0;
                            geom.for_each_tap(k, |j, i| acc += w.data[i] * t.data[j]);
                            acc + b.get(geom.channel(k)).copied().unwrap_or(0.0)
                        })
                        .collect();
                    Ok(Val::C(Tensor::new(shape, data, Kind::Float)))
                }
                Val::V(v) => Ok(Val::V(Var { id: self.b.conv(v.id, w.data.clone(), b, geom)?, shape })),
            };
        }
        let out_sp: usize = outs.iter().product();
        let in_sp: usize = ins.iter().product();
        let k_sp: usize = ks.iter().product();
        let ist = strides(ins);
        let mut kidx: Vec<Vec<usize>> = Vec::with_capacity(k_sp);
        for_each_index(ks, |_, m| kidx.push(m.to_vec()));
        let mut oidx: Vec<Vec<usize>> = Vec::with_capacity(out_sp);
        for_each_index(outs, |_, m| oidx.push(m.to_vec()));
        let opg = c_out / group;
        if out_len.checked_mul(cg * k_sp).is_none_or(|t| t > 16 * self.limits.max_elems) {
            return Err("the convolution is too large".into());
        }
        // The nonzeros of the convolution's matrix: (row, column, weight).
        let mut entries: Vec<(usize, usize, f64)> = Vec::new();
        for co in 0..c_out {
            let g = co / opg;
            for (op, om) in oidx.iter().enumerate() {
                let row = co * out_sp + op;
                for ci in 0..cg {
                    let cin = g * cg + ci;
                    for (kp, km) in kidx.iter().enumerate() {
                        let mut pos = 0usize;
                        let mut inside = true;
                        for d in 0..sd {
                            let p = (om[d] * win.strides[d] + km[d] * win.dil[d]) as i64 - win.pads[d] as i64;
                            if p < 0 || p >= ins[d] as i64 {
                                inside = false;
                                break;
                            }
                            pos += p as usize * ist[d];
                        }
                        if inside {
                            entries.push((row, cin * in_sp + pos, w.data[(co * cg + ci) * k_sp + kp]));
                            if entries.len() > self.limits.max_elems {
                                return Err("the convolution has too many weights".into());
                            }
                        }
                    }
                }
            }
        }
        // Three or more spatial dimensions: the nonzeros of the convolution's matrix.
        let b: Vec<f64> = match bias {
            Some(t) => (0..out_len).map(|r| t.data[r / out_sp]).collect(),
            None => vec![],
        };
        match x {
            Val::C(t) => {
                let mut data = b.clone();
                data.resize(out_len, 0.0);
                for &(r, c, wv) in &entries {
                    data[r] += wv * t.data[c];
                }
                Ok(Val::C(Tensor::new(shape, data, Kind::Float)))
            }
            Val::V(v) => Ok(Val::V(Var { id: self.linear(v.id, &entries, out_len, b)?, shape })),
        }
    }

    /// A linear map `y = A x + b` given by the nonzeros `(row, column, value)` of `A`: a dense
    /// affine node when `A` is dense enough (or small), else gather → scale → sum (+ shift),
    /// whose size is the number of nonzeros.
    fn linear(&mut self, x: usize, entries: &[(usize, usize, f64)], out_len: usize, b: Vec<f64>) -> R<usize> {
        let in_len = self.b.len_of(x);
        let dense = out_len.checked_mul(in_len).is_some_and(|n| n <= 4096 || n <= 4 * entries.len());
        if dense {
            self.b.check_dense(out_len, in_len)?;
            let mut w = vec![0.0; out_len * in_len];
            for &(r, c, wv) in entries {
                w[r * in_len + c] += wv;
            }
            return self.b.affine(x, w, b);
        }
        if entries.is_empty() {
            return self.b.constant(&if b.is_empty() { vec![0.0; out_len] } else { b });
        }
        let cols: Vec<usize> = entries.iter().map(|e| e.1).collect();
        let rows: Vec<usize> = entries.iter().map(|e| e.0).collect();
        let g = self.b.gather(x, &cols)?;
        let sc = self.b.scale_shift(g, entries.iter().map(|e| e.2).collect(), vec![])?;
        let sm = self.b.sum(sc, &rows, out_len)?;
        self.b.scale_shift(sm, vec![], b)
    }

    fn reduce(&mut self, x: Val, axes: Option<Vec<i64>>, keep: bool, mean: bool) -> R<Val> {
        let xs = x.shape().to_vec();
        let r = xs.len();
        let mut red = vec![false; r];
        match axes {
            Some(v) => {
                for k in v {
                    red[axis(k, r)?] = true;
                }
            }
            None => red.iter_mut().for_each(|t| *t = true),
        }
        let kept: Vec<usize> = (0..r).map(|k| if red[k] { 1 } else { xs[k] }).collect();
        let kst = strides(&kept);
        let mut map = Vec::with_capacity(xs.iter().product());
        for_each_index(&xs, |_, m| map.push((0..r).filter(|&k| !red[k]).map(|k| m[k] * kst[k]).sum()));
        let out_len: usize = kept.iter().product();
        let count: usize = (0..r).filter(|&k| red[k]).map(|k| xs[k]).product();
        let shape: Vec<usize> =
            if keep { kept } else { (0..r).filter(|&k| !red[k]).map(|k| xs[k]).collect() };
        match x {
            Val::C(t) => {
                let mut data = vec![0.0; out_len];
                for (i, &j) in map.iter().enumerate() {
                    data[j] += t.data[i];
                }
                if mean && count > 0 {
                    data.iter_mut().for_each(|v| *v /= count as f64);
                }
                Ok(Val::C(Tensor::new(shape, data, t.kind)))
            }
            Val::V(v) => {
                let s = if count == 1 { v.id } else { self.b.sum(v.id, &map, out_len)? };
                let id = if mean && count > 1 {
                    self.b.scale_shift(s, vec![1.0 / count as f64], vec![])?
                } else {
                    s
                };
                Ok(Val::V(Var { id, shape }))
            }
        }
    }

    /// LayerNormalization (opset 17; scale and bias constants of the normalised shape) as
    /// onnxruntime 1.32 computes it for float on x86-64 with AVX2 and FMA (measured bit for bit,
    /// see [`super::reference::layer_norm_row`]), each rounding point its own node. Rows of
    /// fewer than 8 elements take the scalar kernel, Welford's recurrence, step by step; longer
    /// rows MLAS's kernel: the mean summed in f64, the squared deviations from it summed, then
    /// `(x − mean)·(1/sqrt(var + ε))·scale + bias`. `stash_type` does not change onnxruntime's
    /// float computation (checked) and is ignored; the Mean and InvStdDev outputs are refused.
    fn layer_norm(&mut self, node: &NodeProto, a: &Attrs) -> R<Val> {
        if node.output.iter().skip(1).any(|o| !o.is_empty()) {
            return Err("only output 0 (Y) is supported, not the Mean and InvStdDev outputs".into());
        }
        let x = self.input(node, 0)?;
        let scale = self.const_input(node, 1, "the scale")?;
        let bias = match self.opt_input(node, 2)? {
            None => None,
            Some(Val::C(t)) => Some(t),
            Some(Val::V(_)) => {
                return Err(
                    "the bias (input 2) must be a constant, but it depends on the network input".into()
                );
            }
        };
        let xs = x.shape().to_vec();
        let r = xs.len();
        if r == 0 {
            return Err("LayerNormalization of a scalar".into());
        }
        let ax = axis(a.int("axis", -1), r)?;
        let n: usize = xs[ax..].iter().product();
        let rows: usize = xs[..ax].iter().product();
        if n == 0 {
            return Err(format!("empty normalised shape {:?}", &xs[ax..]));
        }
        // onnxruntime's other scale/bias shapes (broadcast over the leading axes) take other
        // code paths, which are not modelled.
        let strip = |s: &[usize]| -> Vec<usize> { s.iter().copied().skip_while(|&d| d == 1).collect() };
        for (t, what) in [(Some(&scale), "scale"), (bias.as_ref(), "bias")] {
            if let Some(t) = t
                && (t.shape.len() > r || strip(&t.shape) != strip(&xs[ax..]))
            {
                return Err(format!(
                    "the {what} has shape {:?}, not the normalised shape {:?} (broadcasting it is not supported)",
                    t.shape,
                    &xs[ax..]
                ));
            }
        }
        let eps = a.float("epsilon", 1e-5);
        let f32s = |t: &Tensor| -> Vec<f32> { t.data.iter().map(|&v| v as f32).collect() };
        let (sc, bi) = (f32s(&scale), bias.as_ref().map(f32s));
        let v = match x {
            Val::C(t) => {
                let data = f32s(&t)
                    .chunks(n)
                    .flat_map(|row| super::reference::layer_norm_row(row, &sc, bi.as_deref(), eps))
                    .map(|y| y as f64)
                    .collect();
                return Ok(Val::C(Tensor::new(xs, data, Kind::Float)));
            }
            Val::V(v) => v.id,
        };
        let wide = |c: &[f32]| -> Vec<f64> { (0..rows * n).map(|i| c[i % n] as f64).collect() };
        let map: Vec<usize> = (0..rows * n).map(|i| i / n).collect();
        // Both kernels end alike: `sqrt(s/n + ε)` of a sum of squares `s` that is ≥ 0 in every
        // evaluation, so a ReLU on it is exact (and keeps the engines' interval, lowered by the
        // sum's error term, inside sqrt's domain).
        let std_dev = |b: &mut Builder, s: usize| -> R<usize> {
            let s = b.unary(s, Unary::Relu)?;
            let var = b.div_const(s, vec![n as f64])?;
            let ve = b.scale_shift(var, vec![], vec![eps as f64])?;
            b.unary(ve, Unary::Sqrt)
        };
        let b = &mut self.b;
        let y = if n >= 8 {
            // MLAS's AVX2 kernel.
            let mean = b.mean_f64(v, &map, rows, n)?;
            let mb = b.gather(mean, &map)?;
            let d = b.sub(v, mb)?;
            let ss = b.sum_squares(d, &map, rows)?;
            let den = std_dev(b, ss)?;
            let inv = b.rdiv_const(den, vec![1.0])?;
            let ib = b.gather(inv, &map)?;
            let t = b.mul(d, ib)?;
            match &bi {
                Some(bv) => b.mul_add(t, wide(&sc), wide(bv))?,
                None => b.scale_shift(t, wide(&sc), vec![])?,
            }
        } else {
            // The scalar kernel: Welford's recurrence over the row's members, each step
            // vectorised over the rows. Step 1 is exact (m = x_1, M2 = 0).
            let col = |k: usize| -> Vec<usize> { (0..rows).map(|r| r * n + k).collect() };
            let mut m = b.gather(v, &col(0))?;
            let mut m2 = None;
            for k in 1..n {
                let xk = b.gather(v, &col(k))?;
                let d = b.sub(xk, m)?;
                let q = b.div_const(d, vec![(k + 1) as f64])?;
                m = b.add(m, q)?;
                let e = b.sub(xk, m)?;
                let p = b.mul(d, e)?;
                m2 = Some(match m2 {
                    None => p,
                    Some(s) => b.add(s, p)?,
                });
            }
            let m2 = match m2 {
                Some(s) => s,
                None => b.constant(&vec![0.0; rows])?,
            };
            // Each step adds d·(x_k − m), whose factors share a sign in f32 too (the rounded
            // mean stays between the old mean and x_k): M2 ≥ 0.
            let den = std_dev(b, m2)?;
            let mb = b.gather(m, &map)?;
            let db = b.gather(den, &map)?;
            let c = b.sub(v, mb)?;
            let q = b.div(c, db)?;
            let s = b.scale_shift(q, wide(&sc), vec![])?;
            match &bi {
                Some(bv) => b.scale_shift(s, vec![], wide(bv))?,
                None => s,
            }
        };
        Ok(Val::V(Var { id: y, shape: xs }))
    }

    fn softmax(&mut self, x: Val, a: &Attrs) -> R<Val> {
        let xs = x.shape().to_vec();
        let r = xs.len();
        if r == 0 {
            return Err("Softmax of a scalar".into());
        }
        let legacy = self.opset < 13;
        let ax = axis(a.int("axis", if legacy { 1 } else { -1 }), r)?;
        // Group of each element: legacy flattens [0, axis) x [axis, r); new reduces one axis.
        let n: usize = xs.iter().product();
        let (groups, map): (usize, Vec<usize>) = if legacy {
            let inner: usize = xs[ax..].iter().product();
            (n / inner.max(1), (0..n).map(|i| i / inner).collect())
        } else {
            let inner: usize = xs[ax + 1..].iter().product();
            let d = xs[ax];
            ((n / d.max(1)), (0..n).map(|i| (i / (d * inner)) * inner + i % inner).collect())
        };
        match x {
            Val::C(t) => {
                let e: Vec<f64> = t.data.iter().map(|v| v.exp()).collect();
                let mut s = vec![0.0; groups];
                for (i, &g) in map.iter().enumerate() {
                    s[g] += e[i];
                }
                Ok(Val::C(Tensor::new(xs, e.iter().zip(&map).map(|(v, &g)| v / s[g]).collect(), Kind::Float)))
            }
            Val::V(v) => {
                // As onnxruntime computes it: e = exp(x − max) over each group, then e·(1/Σe). The
                // group maximum is a chain of pairwise maxima over the groups' t-th members.
                let mut members: Vec<Vec<usize>> = vec![Vec::new(); groups];
                for (i, &g) in map.iter().enumerate() {
                    members[g].push(i);
                }
                let m = self.max_over(v.id, &members)?;
                let mb = self.b.gather(m, &map)?;
                let shifted = self.b.sub(v.id, mb)?;
                let e = self.b.unary(shifted, Unary::Exp)?;
                let s = self.b.sum(e, &map, groups)?;
                let rcp = self.b.unary(s, Unary::Reciprocal)?;
                let rb = self.b.gather(rcp, &map)?;
                Ok(Val::V(Var { id: self.b.mul(e, rb)?, shape: xs }))
            }
        }
    }
}

fn first(t: &Tensor) -> R<f64> {
    t.data.first().copied().ok_or_else(|| "empty tensor where a scalar is expected".into())
}

fn dims(s: &[i64]) -> R<Vec<usize>> {
    s.iter()
        .map(|&d| usize::try_from(d).map_err(|_| format!("negative dimension {d} in shape {s:?}")))
        .collect()
}

fn with_shape(v: Val, shape: Vec<usize>) -> Val {
    match v {
        Val::C(t) => Val::C(Tensor { shape, ..t }),
        Val::V(x) => Val::V(Var { id: x.id, shape }),
    }
}

fn reshape(xs: &[usize], s: &[i64], allowzero: bool) -> R<Vec<usize>> {
    let n: usize = xs.iter().product();
    let mut out = Vec::with_capacity(s.len());
    let mut infer = None;
    for (k, &d) in s.iter().enumerate() {
        if d == -1 {
            if infer.replace(k).is_some() {
                return Err(format!("shape {s:?} has more than one -1"));
            }
            out.push(1);
        } else if d == 0 && !allowzero {
            out.push(
                *xs.get(k)
                    .ok_or_else(|| format!("shape {s:?} copies a dimension the input does not have"))?,
            );
        } else if d < 0 {
            return Err(format!("invalid dimension {d} in shape {s:?}"));
        } else {
            out.push(d as usize);
        }
    }
    let known = out.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or("shape overflows")?;
    if let Some(k) = infer {
        if known == 0 || !n.is_multiple_of(known) {
            return Err(format!("cannot reshape {xs:?} to {s:?}"));
        }
        out[k] = n / known;
    } else if known != n {
        return Err(format!("cannot reshape {xs:?} ({n} elements) to {s:?}"));
    }
    Ok(out)
}

fn squeeze(xs: &[usize], axes: Option<Vec<i64>>) -> R<Vec<usize>> {
    let r = xs.len();
    match axes {
        None => Ok(xs.iter().copied().filter(|&d| d != 1).collect()),
        Some(v) => {
            let mut drop = vec![false; r];
            for a in v {
                let k = axis(a, r)?;
                if xs[k] != 1 {
                    return Err(format!("cannot squeeze axis {a} of size {}", xs[k]));
                }
                drop[k] = true;
            }
            Ok((0..r).filter(|&k| !drop[k]).map(|k| xs[k]).collect())
        }
    }
}

fn unsqueeze(xs: &[usize], axes: &[i64]) -> R<Vec<usize>> {
    let r = xs.len() + axes.len();
    let mut ins = vec![false; r];
    for &a in axes {
        let k = axis(a, r)?;
        if std::mem::replace(&mut ins[k], true) {
            return Err(format!("repeated axis {a}"));
        }
    }
    let mut it = xs.iter();
    Ok((0..r).map(|k| if ins[k] { 1 } else { *it.next().unwrap_or(&1) }).collect())
}

/// `f` applied to every element (a float32 result rounded to f32).
fn map_const(t: Tensor, f: impl Fn(f64) -> f64) -> Tensor {
    let kind = if t.kind == Kind::Bool { Kind::Int } else { t.kind };
    let data = t.data.into_iter().map(f).collect();
    Tensor::new(t.shape, data, kind)
}

fn broadcast_data(c: &Tensor, shape: &[usize]) -> Vec<f64> {
    if c.data.len() == 1 {
        return vec![c.data[0]];
    }
    broadcast_map(&c.shape, shape).iter().map(|&j| c.data[j]).collect()
}

fn const_binary(
    p: &Tensor,
    q: &Tensor,
    f: impl Fn(f64, f64) -> f64,
    kind: Kind,
    limits: &Limits,
) -> R<Tensor> {
    let shape = broadcast_shape(&p.shape, &q.shape)?;
    numel(&shape, limits)?;
    let mp = broadcast_map(&p.shape, &shape);
    let mq = broadcast_map(&q.shape, &shape);
    let data = mp.iter().zip(&mq).map(|(&i, &j)| f(p.data[i], q.data[j])).collect();
    Ok(Tensor::new(shape, data, kind))
}

fn cast(t: Tensor, to: i64) -> R<Tensor> {
    Ok(match to {
        1 => Tensor::new(t.shape, t.data, Kind::Float),
        11 => Tensor { kind: Kind::Double, ..t },
        10 => Tensor::new(t.shape, t.data.iter().map(|&v| tensor::round_f16(v)).collect(), Kind::Float),
        16 => Tensor::new(t.shape, t.data.iter().map(|&v| tensor::round_bf16(v)).collect(), Kind::Float),
        9 => map_bool(t),
        2..=7 | 12 | 13 => {
            let data = t.data.iter().map(|v| v.trunc()).collect();
            Tensor { data, kind: Kind::Int, ..t }
        }
        other => return Err(format!("Cast to type {other} is not supported")),
    })
}

fn map_bool(t: Tensor) -> Tensor {
    let data = t.data.iter().map(|&v| (v != 0.0) as u8 as f64).collect();
    Tensor { data, kind: Kind::Bool, ..t }
}

/// Strides, dilations, pads (leading then trailing) and output sizes of a sliding window (Conv,
/// AveragePool) over spatial sizes `ins` with kernel `ks`, from the node's attributes.
struct Window {
    strides: Vec<usize>,
    dil: Vec<usize>,
    pads: Vec<usize>,
    outs: Vec<usize>,
}

fn window(a: &Attrs, ins: &[usize], ks: &[usize]) -> R<Window> {
    let sd = ins.len();
    let getv = |name: &str, n: usize, d: i64| -> R<Vec<usize>> {
        let v = a.ints(name).unwrap_or_else(|| vec![d; n]);
        if v.len() != n || v.iter().any(|&t| !(0..=1 << 20).contains(&t)) {
            return Err(format!("{name} {v:?} is invalid for {sd} spatial dimensions"));
        }
        Ok(v.iter().map(|&t| t as usize).collect())
    };
    let strides = getv("strides", sd, 1)?;
    let dil = getv("dilations", sd, 1)?;
    if strides.contains(&0) || dil.contains(&0) {
        return Err("zero stride or dilation".into());
    }
    let mut pads = getv("pads", 2 * sd, 0)?;
    let auto = a.string("auto_pad").unwrap_or_else(|| "NOTSET".into());
    match auto.as_str() {
        "NOTSET" => {}
        "VALID" => pads.iter_mut().for_each(|p| *p = 0),
        "SAME_UPPER" | "SAME_LOWER" => {
            for d in 0..sd {
                let out = ins[d].div_ceil(strides[d]);
                let need = ((out - 1) * strides[d] + (ks[d] - 1) * dil[d] + 1).saturating_sub(ins[d]);
                let (lo, hi) = if auto == "SAME_UPPER" {
                    (need / 2, need - need / 2)
                } else {
                    (need - need / 2, need / 2)
                };
                pads[d] = lo;
                pads[d + sd] = hi;
            }
        }
        other => return Err(format!("auto_pad {other} is not supported")),
    }
    let mut outs = Vec::with_capacity(sd);
    for d in 0..sd {
        let span = (ks[d].max(1) - 1) * dil[d] + 1;
        let padded = ins[d] + pads[d] + pads[d + sd];
        if padded < span {
            return Err("the kernel is larger than the padded input".into());
        }
        outs.push((padded - span) / strides[d] + 1);
    }
    Ok(Window { strides, dil, pads, outs })
}

/// The window of a pooling node over input shape `xs` (1-D or 2-D, batch 1; `global`: the whole
/// input): its depthwise geometry and the output shape. `ceil_mode` 1 is refused.
fn pool_geometry(a: &Attrs, xs: &[usize], global: bool) -> R<(ConvGeom, Vec<usize>)> {
    if !(3..=4).contains(&xs.len()) {
        return Err(format!("input shape {xs:?}: only 1-D and 2-D pooling (N, C, …) is supported"));
    }
    if xs[0] != 1 {
        return Err(format!("batch size {} is not supported", xs[0]));
    }
    if a.int("ceil_mode", 0) != 0 {
        return Err("ceil_mode 1 is not supported".into());
    }
    let (c, ins) = (xs[1], &xs[2..]);
    let ks: Vec<usize> = if global {
        ins.to_vec()
    } else {
        match a.ints("kernel_shape") {
            Some(k) if k.len() == ins.len() && k.iter().all(|&v| (1..=1 << 20).contains(&v)) => {
                k.iter().map(|&v| v as usize).collect()
            }
            k => return Err(format!("kernel_shape {k:?} is invalid for input shape {xs:?}")),
        }
    };
    let win = window(if global { &Attrs(&[]) } else { a }, ins, &ks)?;
    let mut shape = vec![1, c];
    shape.extend_from_slice(&win.outs);
    Ok((geom_2d(c, c, c, ins, &ks, &win)?, shape))
}

/// The 2-D geometry of a 1-D or 2-D window (a 1-D one is 2-D of height 1).
fn geom_2d(
    c_in: usize,
    c_out: usize,
    groups: usize,
    ins: &[usize],
    ks: &[usize],
    win: &Window,
) -> R<ConvGeom> {
    let sd = ins.len();
    let at = |v: &[usize], d: usize, one: usize| if sd == 1 { if d == 0 { one } else { v[0] } } else { v[d] };
    let geom = ConvGeom {
        c_in,
        h: at(ins, 0, 1),
        w: at(ins, 1, 1),
        c_out,
        groups,
        kh: at(ks, 0, 1),
        kw: at(ks, 1, 1),
        sh: at(&win.strides, 0, 1),
        sw: at(&win.strides, 1, 1),
        ph: at(&win.pads, 0, 0),
        pw: at(&win.pads, 1, 0),
        dh: at(&win.dil, 0, 1),
        dw: at(&win.dil, 1, 1),
        oh: at(&win.outs, 0, 1),
        ow: at(&win.outs, 1, 1),
    };
    if ConvGeom::decode(&geom.encode()) != Some(geom) {
        return Err(format!("the window {geom:?} is too large"));
    }
    Ok(geom)
}
