//! Soundness of the front end (ONNX loader + VNNLIB reader + engine) against brute force.
//!
//! A property-based test builds small random ONNX graphs (elementwise arithmetic with constants
//! chosen to provoke f32 rounding and cancellation, products and sums of two values, Relu,
//! Sigmoid, Tanh, casts, small MatMul/Gemm layers), a box that holds few enough f32 points to
//! enumerate them all, and properties whose thresholds sit exactly at, one ulp around and a bit
//! away from the brute-force extremum of the output. The verdict of [`engine::check`] is then
//! compared with the truth:
//!
//! * `unsat` must mean that no f32 point of the box violates the property, under any of the
//!   f32 evaluations this file's interpreter knows (see [`Mode`]);
//! * `sat` must come with an f32 witness inside the box that violates the property as written
//!   (strict comparisons strictly) under this file's interpreter;
//! * `unknown` / `timeout` are always acceptable; a load error only for a graph that casts to
//!   float16 (and such a graph must be refused); nothing may panic.
//!
//! The test runs at most [`CASES`] graphs within a wall-clock [`BUDGET`] and prints a tally of
//! the verdicts (run with `--nocapture` to see it); it also fails if too few checks are decided.
//! Knobs: `PROPTEST_CASES=N`, `FRONT_END_SOUNDNESS_BUDGET_SECS=N` (a longer search),
//! `FRONT_END_SOUNDNESS_VERBOSE=1` (every graph and every slow check), and
//! `FRONT_END_SOUNDNESS_ACCEPT_LIBM_WITNESS=1` (count, instead of failing on, witnesses that hold
//! only with genbab-core's own f32 sigmoid/tanh and not with the C library's: see [`Fun`]).
//!
//! Plain regression tests follow for models on which an earlier loader gave wrong verdicts.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use genbab_cli::engine::{self, Options, Outcome};
use genbab_cli::onnx::{self, Limits, LoadError, Model};
use genbab_cli::vnnlib;
use genbab_core::graph::Unary;
use onnx_protobuf::{
    AttributeProto, GraphProto, Message, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
    TensorShapeProto, TypeProto, ValueInfoProto, attribute_proto, tensor_shape_proto, type_proto,
};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};

// ---------------------------------------------------------------------------------------------
// ONNX building helpers
// ---------------------------------------------------------------------------------------------

const FLOAT: i32 = 1;
const FLOAT16: i64 = 10;
const DOUBLE: i32 = 11;

fn tensor(name: &str, dims: &[i64], data: &[f32]) -> TensorProto {
    let mut t = TensorProto::new();
    t.name = name.into();
    t.dims = dims.to_vec();
    t.data_type = FLOAT;
    t.float_data = data.to_vec();
    t
}

fn value_info(name: &str, elem_type: i32, dims: &[i64]) -> ValueInfoProto {
    let mut shape = TensorShapeProto::new();
    for &d in dims {
        let mut dim = tensor_shape_proto::Dimension::new();
        dim.value = Some(tensor_shape_proto::dimension::Value::DimValue(d));
        shape.dim.push(dim);
    }
    let mut tt = type_proto::Tensor::new();
    tt.elem_type = elem_type;
    tt.shape = Some(shape).into();
    let mut ty = TypeProto::new();
    ty.value = Some(type_proto::Value::TensorType(tt));
    let mut v = ValueInfoProto::new();
    v.name = name.into();
    v.type_ = Some(ty).into();
    v
}

fn int_attr(name: &str, v: i64) -> AttributeProto {
    let mut a = AttributeProto::new();
    a.name = name.into();
    a.type_ = protobuf::EnumOrUnknown::new(attribute_proto::AttributeType::INT);
    a.i = v;
    a
}

fn node(op: &str, name: &str, inputs: &[&str], outputs: &[&str], attrs: Vec<AttributeProto>) -> NodeProto {
    let mut n = NodeProto::new();
    n.op_type = op.into();
    n.name = name.into();
    n.input = inputs.iter().map(|s| s.to_string()).collect();
    n.output = outputs.iter().map(|s| s.to_string()).collect();
    n.attribute = attrs;
    n
}

/// A model with input `X` of `[1, n_in]` and output `Y` of `[1, n_out]`, opset 17, IR 8.
fn model_bytes(
    elem_type: i32,
    n_in: usize,
    n_out: usize,
    nodes: Vec<NodeProto>,
    inits: Vec<TensorProto>,
) -> Vec<u8> {
    let mut g = GraphProto::new();
    g.name = "front_end_soundness".into();
    g.input.push(value_info("X", elem_type, &[1, n_in as i64]));
    g.output.push(value_info("Y", elem_type, &[1, n_out as i64]));
    g.node = nodes;
    g.initializer = inits;
    let mut m = ModelProto::new();
    m.ir_version = 8;
    m.producer_name = "front_end_soundness".into();
    let mut o = OperatorSetIdProto::new();
    o.version = 17;
    m.opset_import.push(o);
    m.graph = Some(g).into();
    m.write_to_bytes().unwrap()
}

fn load(bytes: &[u8]) -> Result<Model, LoadError> {
    onnx::load_bytes(bytes, "gen.onnx", Limits::default())
}

fn options() -> Options {
    Options { threads: 1, ..Default::default() }
}

fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(5)
}

// ---------------------------------------------------------------------------------------------
// The generated graphs and their f32 interpreter
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq)]
enum B {
    Add,
    Sub,
    Mul,
    Div,
}

impl B {
    fn onnx(self) -> &'static str {
        match self {
            B::Add => "Add",
            B::Sub => "Sub",
            B::Mul => "Mul",
            B::Div => "Div",
        }
    }
    /// One f32 operation, rounded once.
    fn apply(self, a: f32, b: f32) -> f32 {
        match self {
            B::Add => a + b,
            B::Sub => a - b,
            B::Mul => a * b,
            B::Div => a / b,
        }
    }
}

/// One step of the chain: its primary input is the previous value (value 0 is `X`).
#[derive(Clone, Debug, PartialEq)]
enum Op {
    /// `prev op c` (or `c op prev` when `left`), `c` a float32 initializer of shape `[1]`.
    BinC {
        op: B,
        c: f32,
        left: bool,
    },
    /// `prev op v[other]` (or swapped), broadcasting `[1,1]` against `[1,2]`.
    BinV {
        op: B,
        other: usize,
        swap: bool,
    },
    Neg,
    Relu,
    Sigmoid,
    Tanh,
    /// `Cast(to = float)`: the identity on a float input.
    CastF,
    /// `Cast(to = float16)` then `Cast(to = float)`: the loader must refuse it.
    CastF16,
    /// `prev · W (+ b)`, `W` of `[inw, outw]` (row-major in `w`); a `MatMul` (followed by an
    /// `Add` node for the bias) or a `Gemm` (bias as its `C`, `transB` optionally).
    Affine {
        gemm: bool,
        trans_b: bool,
        inw: usize,
        outw: usize,
        w: Vec<f32>,
        b: Option<Vec<f32>>,
    },
}

#[derive(Clone, Debug, PartialEq)]
struct Net {
    n_in: usize,
    ops: Vec<Op>,
}

/// How the interpreter rounds where ONNX runtimes legitimately differ: the order and fusion of
/// a 2-term dot product (`Seq`: products rounded, then summed in index order, as the verifier's
/// reference does; `FmaFwd`/`FmaRev`: an FMA chain as MLAS computes it, in either order), and the
/// f32 sigmoid / tanh (see [`Fun`]).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Mode {
    dot: Dot,
    fun: Fun,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Dot {
    Seq,
    FmaFwd,
    FmaRev,
}

/// The f32 sigmoid and tanh.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Fun {
    /// `1/(1+expf(-x))` and `tanhf`, with the C library's `expf`/`tanhf` (std's `f32::exp`,
    /// `f32::tanh`): the interpreter's own evaluation, the one a witness must satisfy.
    Naive,
    /// The stable sigmoid `e/(1+e)`, `e = expf(x)`, for `x < 0`, and tanh computed in f64 and
    /// rounded once: another f32 evaluation a few ulps away, also accepted for a witness.
    Stable,
    /// genbab-core's own f32 functions (the `libm` crate's `expf`/`tanhf`): used for the truth of
    /// `unsat` (which must hold for them too) and, for a witness, only to explain a failure.
    Genbab,
}

const MODES: [Mode; 9] = [
    Mode { dot: Dot::Seq, fun: Fun::Naive },
    Mode { dot: Dot::FmaFwd, fun: Fun::Naive },
    Mode { dot: Dot::FmaRev, fun: Fun::Naive },
    Mode { dot: Dot::Seq, fun: Fun::Stable },
    Mode { dot: Dot::FmaFwd, fun: Fun::Stable },
    Mode { dot: Dot::FmaRev, fun: Fun::Stable },
    Mode { dot: Dot::Seq, fun: Fun::Genbab },
    Mode { dot: Dot::FmaFwd, fun: Fun::Genbab },
    Mode { dot: Dot::FmaRev, fun: Fun::Genbab },
];

fn sigmoid(x: f32, fun: Fun) -> f32 {
    match fun {
        Fun::Naive => 1.0f32 / (1.0f32 + (-x).exp()),
        Fun::Stable if x >= 0.0 => 1.0f32 / (1.0f32 + (-x).exp()),
        Fun::Stable => {
            let e = x.exp();
            e / (1.0f32 + e)
        }
        Fun::Genbab => genbab_core::relax::value_f32(Unary::Sigmoid, x),
    }
}

fn tanh(x: f32, fun: Fun) -> f32 {
    match fun {
        Fun::Naive => x.tanh(),
        Fun::Stable => (x as f64).tanh() as f32,
        Fun::Genbab => genbab_core::relax::value_f32(Unary::Tanh, x),
    }
}

impl Net {
    fn has_f16(&self) -> bool {
        self.ops.contains(&Op::CastF16)
    }

    /// Width (1 or 2) of every value, `X` first.
    fn widths(&self) -> Vec<usize> {
        let mut w = vec![self.n_in];
        for op in &self.ops {
            let prev = *w.last().unwrap();
            w.push(match op {
                Op::BinV { other, .. } => prev.max(w[*other]),
                Op::Affine { outw, .. } => *outw,
                _ => prev,
            });
        }
        w
    }

    fn out_len(&self) -> usize {
        *self.widths().last().unwrap()
    }

    /// The ONNX model.
    fn onnx(&self) -> Vec<u8> {
        let n = self.ops.len();
        let name = |i: usize| {
            if i == 0 {
                "X".to_string()
            } else if i == n {
                "Y".into()
            } else {
                format!("v{i}")
            }
        };
        let (mut nodes, mut inits) = (vec![], vec![]);
        for (k, op) in self.ops.iter().enumerate() {
            let (x, y) = (name(k), name(k + 1));
            let nn = format!("n{k}");
            match op {
                Op::BinC { op, c, left } => {
                    let cn = format!("c{k}");
                    inits.push(tensor(&cn, &[1], &[*c]));
                    let ins: [&str; 2] = if *left { [&cn, &x] } else { [&x, &cn] };
                    nodes.push(node(op.onnx(), &nn, &ins, &[&y], vec![]));
                }
                Op::BinV { op, other, swap } => {
                    let o = name(*other);
                    let ins: [&str; 2] = if *swap { [&o, &x] } else { [&x, &o] };
                    nodes.push(node(op.onnx(), &nn, &ins, &[&y], vec![]));
                }
                Op::Neg => nodes.push(node("Neg", &nn, &[&x], &[&y], vec![])),
                Op::Relu => nodes.push(node("Relu", &nn, &[&x], &[&y], vec![])),
                Op::Sigmoid => nodes.push(node("Sigmoid", &nn, &[&x], &[&y], vec![])),
                Op::Tanh => nodes.push(node("Tanh", &nn, &[&x], &[&y], vec![])),
                Op::CastF => nodes.push(node("Cast", &nn, &[&x], &[&y], vec![int_attr("to", FLOAT as i64)])),
                Op::CastF16 => {
                    let h = format!("h{k}");
                    nodes.push(node("Cast", &nn, &[&x], &[&h], vec![int_attr("to", FLOAT16)]));
                    nodes.push(node(
                        "Cast",
                        &format!("{nn}b"),
                        &[&h],
                        &[&y],
                        vec![int_attr("to", FLOAT as i64)],
                    ));
                }
                Op::Affine { gemm, trans_b, inw, outw, w, b } => {
                    let (wn, bn) = (format!("w{k}"), format!("b{k}"));
                    if *gemm {
                        if *trans_b {
                            let wt: Vec<f32> =
                                (0..*outw).flat_map(|j| (0..*inw).map(move |i| w[i * outw + j])).collect();
                            inits.push(tensor(&wn, &[*outw as i64, *inw as i64], &wt));
                        } else {
                            inits.push(tensor(&wn, &[*inw as i64, *outw as i64], w));
                        }
                        let mut ins = vec![x.as_str(), wn.as_str()];
                        if let Some(b) = b {
                            inits.push(tensor(&bn, &[*outw as i64], b));
                            ins.push(&bn);
                        }
                        let attrs = if *trans_b { vec![int_attr("transB", 1)] } else { vec![] };
                        nodes.push(node("Gemm", &nn, &ins, &[&y], attrs));
                    } else {
                        inits.push(tensor(&wn, &[*inw as i64, *outw as i64], w));
                        match b {
                            None => nodes.push(node("MatMul", &nn, &[&x, &wn], &[&y], vec![])),
                            Some(b) => {
                                let m = format!("m{k}");
                                nodes.push(node("MatMul", &nn, &[&x, &wn], &[&m], vec![]));
                                inits.push(tensor(&bn, &[*outw as i64], b));
                                nodes.push(node("Add", &format!("{nn}b"), &[&m, &bn], &[&y], vec![]));
                            }
                        }
                    }
                }
            }
        }
        model_bytes(FLOAT, self.n_in, self.out_len(), nodes, inits)
    }

    /// `Y_0` in f32, node by node; `None` when any value is not finite.
    fn eval(&self, x: &[f32], mode: Mode) -> Option<f32> {
        let mut vals: Vec<Vec<f32>> = vec![x.to_vec()];
        for op in &self.ops {
            let p = vals.last().unwrap();
            let out: Vec<f32> = match op {
                Op::BinC { op, c, left } => {
                    p.iter().map(|&v| if *left { op.apply(*c, v) } else { op.apply(v, *c) }).collect()
                }
                Op::BinV { op, other, swap } => {
                    let o = &vals[*other];
                    let w = p.len().max(o.len());
                    let at = |v: &Vec<f32>, k: usize| if v.len() == 1 { v[0] } else { v[k] };
                    (0..w)
                        .map(|k| {
                            let (a, b) = (at(p, k), at(o, k));
                            if *swap { op.apply(b, a) } else { op.apply(a, b) }
                        })
                        .collect()
                }
                Op::Neg => p.iter().map(|&v| -v).collect(),
                Op::Relu => p.iter().map(|&v| if v > 0.0 { v } else { 0.0 }).collect(),
                Op::Sigmoid => p.iter().map(|&v| sigmoid(v, mode.fun)).collect(),
                Op::Tanh => p.iter().map(|&v| tanh(v, mode.fun)).collect(),
                Op::CastF => p.clone(),
                Op::CastF16 => return None, // not evaluated: the loader must refuse the graph
                Op::Affine { inw, outw, w, b, .. } => (0..*outw)
                    .map(|j| {
                        let wt = |i: usize| w[i * outw + j];
                        let dot = if *inw == 1 {
                            p[0] * wt(0)
                        } else {
                            match mode.dot {
                                Dot::Seq => p[0] * wt(0) + p[1] * wt(1),
                                Dot::FmaFwd => p[1].mul_add(wt(1), p[0] * wt(0)),
                                Dot::FmaRev => p[0].mul_add(wt(0), p[1] * wt(1)),
                            }
                        };
                        match b {
                            Some(b) => dot + b[j],
                            None => dot,
                        }
                    })
                    .collect(),
            };
            if !out.iter().all(|v| v.is_finite()) {
                return None;
            }
            vals.push(out);
        }
        Some(vals.last().unwrap()[0])
    }

    /// `Y_0` under every mode; `None` when some mode gives a non-finite value.
    fn eval_all(&self, x: &[f32]) -> Option<[f32; MODES.len()]> {
        let mut r = [0.0f32; MODES.len()];
        for (k, m) in MODES.iter().enumerate() {
            r[k] = self.eval(x, *m)?;
        }
        Some(r)
    }
}

// ---------------------------------------------------------------------------------------------
// Boxes, properties and the truth
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq)]
enum Cmp {
    Ge,
    Gt,
    Le,
    Lt,
}

impl Cmp {
    fn word(self) -> &'static str {
        match self {
            Cmp::Ge => ">=",
            Cmp::Gt => ">",
            Cmp::Le => "<=",
            Cmp::Lt => "<",
        }
    }
    fn holds(self, y: f64, t: f64) -> bool {
        match self {
            Cmp::Ge => y >= t,
            Cmp::Gt => y > t,
            Cmp::Le => y <= t,
            Cmp::Lt => y < t,
        }
    }
}

/// The VNNLIB text of "`X` in `[lo, hi]` and `Y_0 cmp t`" (the unsafe region).
fn vnnlib_text(lo: &[f32], hi: &[f32], n_out: usize, cmp: Cmp, t: f64) -> String {
    let mut s = String::new();
    for i in 0..lo.len() {
        s += &format!("(declare-const X_{i} Real)\n");
    }
    for j in 0..n_out {
        s += &format!("(declare-const Y_{j} Real)\n");
    }
    for i in 0..lo.len() {
        s += &format!("(assert (>= X_{i} {:?}))\n(assert (<= X_{i} {:?}))\n", lo[i] as f64, hi[i] as f64);
    }
    s += &format!("(assert ({} Y_0 {:?}))\n", cmp.word(), t);
    s
}

/// Every f32 point of the box `[lo, hi]`.
fn points(lo: &[f32], hi: &[f32]) -> Vec<Vec<f32>> {
    let axis = |l: f32, h: f32| {
        let mut v = vec![l];
        while *v.last().unwrap() < h {
            v.push(v.last().unwrap().next_up());
        }
        v
    };
    let mut pts: Vec<Vec<f32>> = vec![vec![]];
    for (&l, &h) in lo.iter().zip(hi) {
        let ax = axis(l, h);
        pts = pts.iter().flat_map(|p| ax.iter().map(move |&a| [p.as_slice(), &[a]].concat())).collect();
    }
    pts
}

fn step_up(v: f32, k: u32) -> f32 {
    (0..k).fold(v, |a, _| a.next_up())
}

fn step_down(v: f32, k: u32) -> f32 {
    (0..k).fold(v, |a, _| a.next_down())
}

/// The thresholds tried around an extremum `m` of `Y_0`: far ones first (they are decided
/// quickly), then exactly at `m`, one f32 ulp either side and half an ulp either side.
fn thresholds(m: f32) -> Vec<f64> {
    let md = m as f64;
    let (up, down) = (m.next_up() as f64, m.next_down() as f64);
    let rel = 1e-6 * md.abs().max(1e-30);
    let mut t =
        vec![md + 1.0, md - 1.0, md + rel, md - rel, md, up, down, 0.5 * (md + up), 0.5 * (md + down)];
    t.retain(|v| v.is_finite());
    t
}

// ---------------------------------------------------------------------------------------------
// Generation
// ---------------------------------------------------------------------------------------------

/// Constants that provoke rounding and cancellation.
fn constant() -> impl Strategy<Value = f32> {
    prop_oneof![
        4 => prop::sample::select(vec![
            1024.0f32, -1024.0, 1000.0, -1000.0, 3.0e4, -3.0e4, 0.01, 0.1, 1.0 / 3.0, -0.1, 0.5,
            2.0, -1.0, 1.0, 7.0, 1e-3, 4096.0, 0.25, -0.01, 65536.0, 1e-4,
        ]),
        2 => (-12i32..=16, any::<bool>()).prop_map(|(k, neg)| if neg { -(2f32.powi(k)) } else { 2f32.powi(k) }),
        1 => -10.0f32..10.0,
    ]
}

/// Weights of the MatMul/Gemm layers.
fn weight() -> impl Strategy<Value = f32> {
    prop_oneof![
        2 => prop::sample::select(vec![1.0f32, -1.0, 0.5, 0.1, 1.0 / 3.0, 1024.0, -1000.0, 0.01, 2.0, -3.0]),
        2 => -2.0f32..2.0,
    ]
}

/// One step, before its `other` operand and widths are resolved.
#[derive(Clone, Debug)]
enum OpSpec {
    BinC {
        op: u8,
        c: f32,
        left: bool,
    },
    /// Two steps that cancel in exact arithmetic: `+c, −c` / `−c, +c` / `·c, ÷c` / `÷c, ·c` /
    /// `+c, +(−c)`.
    Pair {
        kind: u8,
        c: f32,
    },
    BinV {
        op: u8,
        other: Index,
        swap: bool,
    },
    Unary(u8),
    CastF16,
    Affine {
        gemm: bool,
        trans_b: bool,
        out2: bool,
        w: [f32; 4],
        b: Option<[f32; 2]>,
    },
}

fn op_spec() -> impl Strategy<Value = OpSpec> {
    prop_oneof![
        8 => (0u8..4, constant(), prop::bool::weighted(0.2)).prop_map(|(op, c, left)| OpSpec::BinC { op, c, left }),
        4 => (0u8..5, constant()).prop_map(|(kind, c)| OpSpec::Pair { kind, c }),
        4 => (0u8..3, any::<Index>(), any::<bool>()).prop_map(|(op, other, swap)| OpSpec::BinV { op, other, swap }),
        10 => (0u8..5).prop_map(OpSpec::Unary),
        1 => Just(OpSpec::CastF16),
        4 => (any::<bool>(), any::<bool>(), any::<bool>(), prop::array::uniform4(weight()),
              prop::option::of(prop::array::uniform2(constant())))
            .prop_map(|(gemm, trans_b, out2, w, b)| OpSpec::Affine { gemm, trans_b, out2, w, b }),
    ]
}

/// Lower ends of the box.
fn box_lo() -> impl Strategy<Value = f32> {
    prop_oneof![
        3 => -2.0f32..2.0,
        2 => (-1.0f32..1.0).prop_map(|d| 1000.0 + d),
        2 => (0u32..300).prop_map(|j| step_down(1024.0, j)),
        2 => (-12i32..=15, 0u32..300, any::<bool>()).prop_map(|(k, j, neg)| {
            let v = step_down(2f32.powi(k), j);
            if neg { -v } else { v }
        }),
        1 => Just(0.0f32),
        1 => (0u32..300).prop_map(|j| -f32::from_bits(j)),
        1 => -1e-4f32..1e-4,
        1 => -21.0f32..-18.0,
        1 => 2.9e4f32..3.1e4,
    ]
}

#[derive(Clone, Debug)]
struct Spec {
    n_in: usize,
    ops: Vec<OpSpec>,
    final_w: [f32; 2],
    lo: Vec<f32>,
    steps: Vec<u32>,
}

fn spec() -> impl Strategy<Value = Spec> {
    (1usize..=2).prop_flat_map(|n_in| {
        let max_steps = if n_in == 1 { 300u32 } else { 140 };
        (
            Just(n_in),
            prop::collection::vec(op_spec(), 1..=6),
            prop::array::uniform2(weight()),
            prop::collection::vec(box_lo(), n_in),
            prop::collection::vec(0u32..max_steps, n_in),
        )
            .prop_map(|(n_in, ops, final_w, lo, steps)| Spec { n_in, ops, final_w, lo, steps })
    })
}

impl Spec {
    fn net(&self) -> Net {
        let mut ops = vec![];
        let mut widths = vec![self.n_in];
        let bins = [B::Add, B::Sub, B::Mul, B::Div];
        let push = |ops: &mut Vec<Op>, widths: &mut Vec<usize>, op: Op| {
            let prev = *widths.last().unwrap();
            widths.push(match &op {
                Op::BinV { other, .. } => prev.max(widths[*other]),
                Op::Affine { outw, .. } => *outw,
                _ => prev,
            });
            ops.push(op);
        };
        for s in &self.ops {
            match s {
                OpSpec::BinC { op, c, left } => {
                    push(&mut ops, &mut widths, Op::BinC { op: bins[*op as usize], c: *c, left: *left })
                }
                OpSpec::Pair { kind, c } => {
                    let (a, b, c2) = match kind {
                        0 => (B::Add, B::Add, -*c),
                        1 => (B::Sub, B::Add, *c),
                        2 => (B::Mul, B::Div, *c),
                        3 => (B::Div, B::Mul, *c),
                        _ => (B::Add, B::Sub, *c),
                    };
                    push(&mut ops, &mut widths, Op::BinC { op: a, c: *c, left: false });
                    push(&mut ops, &mut widths, Op::BinC { op: b, c: c2, left: false });
                }
                OpSpec::BinV { op, other, swap } => {
                    // Another earlier value than the current one where there is one (`v − v` is
                    // identically 0, a degenerate output that only costs time).
                    let cur = widths.len() - 1;
                    let other = if cur == 0 { 0 } else { other.index(cur) };
                    push(&mut ops, &mut widths, Op::BinV { op: bins[*op as usize], other, swap: *swap })
                }
                OpSpec::Unary(u) => {
                    let op = [Op::Neg, Op::Relu, Op::Sigmoid, Op::Tanh, Op::CastF][*u as usize].clone();
                    push(&mut ops, &mut widths, op)
                }
                OpSpec::CastF16 => push(&mut ops, &mut widths, Op::CastF16),
                OpSpec::Affine { gemm, trans_b, out2, w, b } => {
                    let inw = *widths.last().unwrap();
                    let outw = if *out2 { 2 } else { 1 };
                    let op = Op::Affine {
                        gemm: *gemm,
                        trans_b: *trans_b,
                        inw,
                        outw,
                        w: w[..inw * outw].to_vec(),
                        b: b.map(|b| b[..outw].to_vec()),
                    };
                    push(&mut ops, &mut widths, op)
                }
            }
        }
        if *widths.last().unwrap() == 2 {
            let op = Op::Affine {
                gemm: false,
                trans_b: false,
                inw: 2,
                outw: 1,
                w: self.final_w.to_vec(),
                b: None,
            };
            push(&mut ops, &mut widths, op);
        }
        Net { n_in: self.n_in, ops }
    }

    fn hi(&self) -> Vec<f32> {
        self.lo.iter().zip(&self.steps).map(|(&l, &k)| step_up(l, k)).collect()
    }
}

// ---------------------------------------------------------------------------------------------
// The property test
// ---------------------------------------------------------------------------------------------

static GRAPHS: AtomicUsize = AtomicUsize::new(0);
static REFUSED: AtomicUsize = AtomicUsize::new(0);
static NONFINITE: AtomicUsize = AtomicUsize::new(0);
static UNSAT: AtomicUsize = AtomicUsize::new(0);
/// Checks whose threshold is at least 0.5 from the brute-force extremum, and how many of them
/// were decided: away from the rounding tolerance the verifier must answer.
static FAR: AtomicUsize = AtomicUsize::new(0);
static FAR_DECIDED: AtomicUsize = AtomicUsize::new(0);
static SAT: AtomicUsize = AtomicUsize::new(0);
static UNKNOWN: AtomicUsize = AtomicUsize::new(0);
static TIMEOUT: AtomicUsize = AtomicUsize::new(0);
/// Witnesses that satisfy the property only with genbab-core's f32 functions (counted instead of
/// failing when `FRONT_END_SOUNDNESS_ACCEPT_LIBM_WITNESS` is set).
static SAT_LIBM: AtomicUsize = AtomicUsize::new(0);

/// Generated graphs skipped because the time budget was spent.
static OVER_BUDGET: AtomicUsize = AtomicUsize::new(0);
/// Graphs whose remaining properties were skipped after a slow check.
static CUT_SHORT: AtomicUsize = AtomicUsize::new(0);
/// Set once a case fails: from then on (shrinking) the time budget no longer skips cases.
static FAILED: AtomicBool = AtomicBool::new(false);
static START: OnceLock<Instant> = OnceLock::new();

/// Wall-clock budget of the property test: cases generated after it are skipped (and counted),
/// so that a slow machine or a slow verifier runs fewer cases instead of a much longer test
/// (`FRONT_END_SOUNDNESS_BUDGET_SECS=N` changes it, e.g. with `PROPTEST_CASES` for a long run).
const BUDGET: Duration = Duration::from_secs(45);
/// A check slower than this ends the checks of its graph (its other thresholds would be as slow).
const SLOW: Duration = Duration::from_secs(2);

fn verbose() -> bool {
    std::env::var_os("FRONT_END_SOUNDNESS_VERBOSE").is_some()
}

fn one_case(s: &Spec) -> Result<(), TestCaseError> {
    let start = *START.get_or_init(Instant::now);
    let budget = std::env::var("FRONT_END_SOUNDNESS_BUDGET_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(BUDGET, Duration::from_secs);
    if !FAILED.load(Relaxed) && start.elapsed() > budget {
        OVER_BUDGET.fetch_add(1, Relaxed);
        return Ok(());
    }
    // A panic is a failure too (the runner would catch it, but the budget must stop skipping).
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check_case(s))).unwrap_or_else(|p| {
        let msg = p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        Err(TestCaseError::fail(format!("panic: {msg}\nnet: {:?}, box {:?} .. {:?}", s.net(), s.lo, s.hi())))
    });
    if r.is_err() {
        FAILED.store(true, Relaxed);
    }
    r
}

fn check_case(s: &Spec) -> Result<(), TestCaseError> {
    let k = GRAPHS.fetch_add(1, Relaxed);
    let net = s.net();
    let (lo, hi) = (s.lo.clone(), s.hi());
    if verbose() {
        eprintln!("graph #{k}: {net:?}, box {lo:?} .. {hi:?}");
    }
    let bytes = net.onnx();
    let loaded = load(&bytes);
    if net.has_f16() {
        REFUSED.fetch_add(1, Relaxed);
        return match loaded {
            Err(_) => Ok(()),
            Ok(_) => Err(TestCaseError::fail(format!(
                "a graph with a cast to float16 was loaded instead of refused: {net:?}"
            ))),
        };
    }
    let model = loaded.map_err(|e| TestCaseError::fail(format!("load error: {e}\nnet: {net:?}")))?;
    let n_out = net.out_len();

    // Brute force over every f32 point of the box, under every mode.
    let pts = points(&lo, &hi);
    let mut ext: Option<([f32; MODES.len()], [f32; MODES.len()])> = None;
    let mut finite = true;
    for p in &pts {
        match net.eval_all(p) {
            None => {
                finite = false;
                break;
            }
            Some(y) => {
                let (mn, mx) = ext.get_or_insert((y, y));
                for k in 0..MODES.len() {
                    mn[k] = mn[k].min(y[k]);
                    mx[k] = mx[k].max(y[k]);
                }
            }
        }
    }
    if !finite {
        // The truth is not tabulated; the verifier must still not panic.
        NONFINITE.fetch_add(1, Relaxed);
        let text = vnnlib_text(&lo, &hi, n_out, Cmp::Ge, 0.0);
        let prop = vnnlib::parse(&text, "p.vnnlib").map_err(|e| TestCaseError::fail(e.to_string()))?;
        let _ = engine::check(&model, &prop, &options(), deadline());
        return Ok(());
    }
    let (mn, mx) = ext.unwrap();
    let min_all = mn.iter().copied().fold(f32::INFINITY, f32::min) as f64;
    let max_all = mx.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;

    let mut props: Vec<(Cmp, f64)> = vec![];
    for (cmp, anchors) in [(Cmp::Ge, &mx), (Cmp::Gt, &mx), (Cmp::Le, &mn), (Cmp::Lt, &mn)] {
        let mut ts: Vec<f64> = vec![];
        for &a in anchors.iter() {
            for t in thresholds(a) {
                if !ts.contains(&t) {
                    ts.push(t);
                }
            }
        }
        props.extend(ts.into_iter().map(|t| (cmp, t)));
    }

    for (cmp, t) in props {
        let text = vnnlib_text(&lo, &hi, n_out, cmp, t);
        let prop = vnnlib::parse(&text, "p.vnnlib")
            .map_err(|e| TestCaseError::fail(format!("VNNLIB did not parse: {e}\n{text}")))?;
        for c in &prop.cases {
            let exact = c.lo.iter().zip(&lo).all(|(a, &b)| *a == b as f64)
                && c.hi.iter().zip(&hi).all(|(a, &b)| *a == b as f64);
            prop_assert!(
                exact,
                "the box did not parse back exactly: {:?}..{:?} vs {lo:?}..{hi:?}",
                c.lo,
                c.hi
            );
        }
        // Violated iff some f32 point (under some mode) satisfies the unsafe comparison.
        let violated = match cmp {
            Cmp::Ge | Cmp::Gt => cmp.holds(max_all, t),
            Cmp::Le | Cmp::Lt => cmp.holds(min_all, t),
        };
        let context = || {
            format!(
                "net: {net:?}\nbox: X in {lo:?} .. {hi:?} ({} points)\nproperty: (assert ({} Y_0 {t:?}))\n\
                 brute force: min Y_0 = {min_all:?}, max Y_0 = {max_all:?} (per mode: min {mn:?}, max {mx:?}); \
                 truth: {}\nvnnlib:\n{text}",
                pts.len(),
                cmp.word(),
                if violated { "violated" } else { "holds" }
            )
        };
        let started = Instant::now();
        let report = engine::check(&model, &prop, &options(), deadline())
            .map_err(|e| TestCaseError::fail(format!("check returned an error: {e}\n{}", context())))?;
        let elapsed = started.elapsed();
        if verbose() && elapsed > Duration::from_millis(500) {
            eprintln!("slow check ({elapsed:?}, {}):\n{}", report.outcome.word(), context());
        }
        let anchor = if matches!(cmp, Cmp::Ge | Cmp::Gt) { max_all } else { min_all };
        if (t - anchor).abs() >= 0.5 {
            FAR.fetch_add(1, Relaxed);
            if matches!(report.outcome, Outcome::Unsat | Outcome::Sat(_)) {
                FAR_DECIDED.fetch_add(1, Relaxed);
            }
        }
        match &report.outcome {
            Outcome::Unsat => {
                UNSAT.fetch_add(1, Relaxed);
                if violated {
                    return Err(TestCaseError::fail(format!("WRONG unsat\n{}", context())));
                }
            }
            Outcome::Sat(cex) => {
                SAT.fetch_add(1, Relaxed);
                if !violated {
                    return Err(TestCaseError::fail(format!("WRONG sat (witness {cex:?})\n{}", context())));
                }
                prop_assert_eq!(cex.x.len(), s.n_in, "witness of the wrong length: {:?}\n{}", cex, context());
                let xf: Vec<f32> = cex.x.iter().map(|&v| v as f32).collect();
                let ok_x = xf.iter().zip(&cex.x).all(|(&f, &v)| f as f64 == v)
                    && xf.iter().zip(lo.iter().zip(&hi)).all(|(v, (l, h))| l <= v && v <= h);
                if !ok_x {
                    return Err(TestCaseError::fail(format!(
                        "sat witness not an f32 point of the box: {cex:?}\n{}",
                        context()
                    )));
                }
                let ys = net.eval_all(&xf).unwrap();
                let own = |m: &Mode| m.fun != Fun::Genbab;
                let sat_own = MODES.iter().zip(&ys).any(|(m, &y)| own(m) && cmp.holds(y as f64, t));
                if !sat_own {
                    let sat_genbab = MODES.iter().zip(&ys).any(|(m, &y)| !own(m) && cmp.holds(y as f64, t));
                    if sat_genbab && std::env::var_os("FRONT_END_SOUNDNESS_ACCEPT_LIBM_WITNESS").is_some() {
                        SAT_LIBM.fetch_add(1, Relaxed);
                        if verbose() {
                            eprintln!(
                                "witness valid only with genbab's libm: {cex:?} gives {ys:?}\n{}",
                                context()
                            );
                        }
                    } else {
                        let why = if sat_genbab {
                            "; it does satisfy it with genbab-core's own f32 sigmoid/tanh (the `libm` crate), \
                             which differ from the C library's by an ulp here"
                        } else {
                            ""
                        };
                        return Err(TestCaseError::fail(format!(
                            "WRONG sat: the witness {cex:?} gives Y_0 = {ys:?} (per mode {MODES:?}), which \
                             does not satisfy the unsafe comparison{why}\n{}",
                            context()
                        )));
                    }
                }
            }
            Outcome::Timeout => {
                TIMEOUT.fetch_add(1, Relaxed);
            }
            Outcome::Unknown(_) => {
                UNKNOWN.fetch_add(1, Relaxed);
            }
        }
        if elapsed > SLOW {
            CUT_SHORT.fetch_add(1, Relaxed);
            break;
        }
    }
    Ok(())
}

/// Generated graphs per run.
const CASES: u32 = 256;

#[test]
fn random_graphs_agree_with_brute_force() {
    // `PROPTEST_CASES=N` runs more (or fewer) cases.
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(CASES);
    let config = Config {
        cases,
        failure_persistence: None,
        max_shrink_time: 300_000,
        max_shrink_iters: 4096,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let result = runner.run(&spec(), |s| one_case(&s));
    let (u, s, k, t) = (UNSAT.load(Relaxed), SAT.load(Relaxed), UNKNOWN.load(Relaxed), TIMEOUT.load(Relaxed));
    let checks = u + s + k + t;
    eprintln!(
        "front_end_soundness tally: {} graph runs ({} refused as float16, {} with non-finite values skipped, \
         {} cut short after a slow check, {} more skipped for the time budget); \
         {checks} property checks: unsat {u}, sat {s} ({} of them with a witness valid only with genbab's libm \
         functions), unknown {k}, timeout {t}; {} of the {} checks with a threshold ≥ 0.5 from the extremum decided",
        GRAPHS.load(Relaxed),
        REFUSED.load(Relaxed),
        NONFINITE.load(Relaxed),
        CUT_SHORT.load(Relaxed),
        OVER_BUDGET.load(Relaxed),
        SAT_LIBM.load(Relaxed),
        FAR_DECIDED.load(Relaxed),
        FAR.load(Relaxed),
    );
    match result {
        Ok(()) => {}
        Err(TestError::Fail(why, minimal)) => {
            let net = minimal.net();
            panic!(
                "soundness failure (minimal case after shrinking):\n{why}\nspec: {minimal:?}\nnet: {net:?}\nbox: {:?} .. {:?}",
                minimal.lo,
                minimal.hi()
            );
        }
        Err(e) => panic!("{e}"),
    }
    assert!(checks > 0, "no property was checked");
    // Near the extremum a witness must hold for every evaluation the bounds enclose (any
    // summation order, every function within its error model), so thresholds within that
    // tolerance end `unknown` by design; far from it the verifier must decide.
    let (far, far_decided) = (FAR.load(Relaxed), FAR_DECIDED.load(Relaxed));
    assert!(far > 0, "no check had a threshold far from the extremum");
    assert!(
        far_decided * 100 >= far * 60,
        "the verifier is (nearly) vacuous: {far_decided} of {far} checks far from the extremum decided"
    );
}

// ---------------------------------------------------------------------------------------------
// Regression tests
// ---------------------------------------------------------------------------------------------

fn verdict(net: &Net, vnnlib_src: &str) -> Outcome {
    let model = load(&net.onnx()).expect("the model loads");
    let prop = vnnlib::parse(vnnlib_src, "p.vnnlib").expect("the property parses");
    engine::check(&model, &prop, &options(), deadline()).expect("check runs").outcome
}

fn prop1(lo: &str, hi: &str, cmp: &str, t: &str) -> String {
    format!(
        "(declare-const X_0 Real)\n(declare-const Y_0 Real)\n(assert (>= X_0 {lo}))\n(assert (<= X_0 {hi}))\n\
         (assert ({cmp} Y_0 {t}))\n"
    )
}

fn c(op: B, c: f32) -> Op {
    Op::BinC { op, c, left: false }
}

/// Absorption and cancellation: `fl(1024 + x) − 1024` is not `x`. In f32 the ulp of 1024 is
/// 2⁻¹³ ≈ 1.22e-4, so `x = 7e-5` rounds up to `1024 + 2⁻¹³` and the graph outputs 1.2207e-4 ≥
/// 1.1e-4, although `x ≤ 1e-4` everywhere in the box. A loader that folded `+1024, −1024` into
/// the identity (exact real arithmetic) answered `unsat`.
#[test]
fn cancelling_constants_are_not_folded_away() {
    let net = Net { n_in: 1, ops: vec![c(B::Add, 1024.0), c(B::Add, -1024.0), Op::Relu] };
    let y = net.eval(&[7e-5f32], MODES[0]).unwrap();
    assert!(y as f64 >= 1.1e-4, "interpreter: {y}");
    assert_eq!(y, 2f32.powi(-13));
    let out = verdict(&net, &prop1("0.0", "1e-4", ">=", "1.1e-4"));
    assert_ne!(out, Outcome::Unsat, "wrong unsat");
}

/// The box `[1000, 1000.00007]` holds only two f32 values, 1000 and 1000 + 2⁻¹⁴ = 1000.000061;
/// `(x − 1000) / 0.01` is then at most 6.1035e-5 / 0.01f32 = 0.0061035 in f32. Over the reals
/// the box reaches 0.007, so a counterexample found in real arithmetic (and not confirmed on f32
/// points) made an earlier loader answer `sat` for `Y ≥ 0.0065`.
#[test]
fn real_valued_counterexample_is_not_reported() {
    let net = Net { n_in: 1, ops: vec![c(B::Sub, 1000.0), c(B::Div, 0.01)] };
    let pts = points(&[1000.0f32], &[1000.00007f64 as f32]);
    let hi = 1000.00007f64;
    let max = pts
        .iter()
        .filter(|p| p[0] as f64 <= hi)
        .map(|p| net.eval(p, MODES[0]).unwrap())
        .fold(f32::NEG_INFINITY, f32::max);
    assert!((max as f64) < 0.0065, "interpreter: {max}");
    let out = verdict(&net, &prop1("1000.0", "1000.00007", ">=", "0.0065"));
    assert!(!matches!(out, Outcome::Sat(_)), "wrong sat: {out:?}");
}

/// A strict comparison stays strict: `Relu(x) < 0` never holds (Relu is never negative), but
/// the closed relaxation `Relu(x) ≤ 0` does at `x ≤ 0`; a witness of the closed property is not
/// one of the strict property.
#[test]
fn strict_comparison_is_not_relaxed_in_the_witness() {
    let net = Net { n_in: 1, ops: vec![Op::Relu] };
    let out = verdict(&net, &prop1("-1.0", "1.0", "<", "0.0"));
    assert!(!matches!(out, Outcome::Sat(_)), "wrong sat: {out:?}");
}

/// A round trip through float16 rounds (float16 has an 11-bit significand: near 1000 its ulp is
/// 0.5, so 1000.4 becomes 1000.5 ≥ 1000.45). A loader that treated `Cast(to=float16)` as the
/// identity proved `Y < 1000.45` wrongly; the loader must refuse the model instead.
#[test]
fn float16_round_trip_is_refused() {
    let net = Net { n_in: 1, ops: vec![Op::CastF16] };
    match load(&net.onnx()) {
        Ok(m) => {
            let prop = vnnlib::parse(&prop1("1000.0", "1000.4", ">=", "1000.45"), "p.vnnlib").unwrap();
            let out = engine::check(&m, &prop, &options(), deadline()).map(|r| r.outcome);
            panic!("a float16 cast was loaded (verdict {out:?})");
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.contains("float16"), "the error does not mention float16: {msg}");
        }
    }
}

/// A float64 network computes in f64, not in the f32 arithmetic the bounds enclose: it must be
/// refused, not verified as if it were f32.
#[test]
fn float64_model_is_refused() {
    let bytes = model_bytes(DOUBLE, 1, 1, vec![node("Relu", "r", &["X"], &["Y"], vec![])], vec![]);
    match load(&bytes) {
        Ok(_) => panic!("a float64 model was loaded"),
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.contains("float64"), "the error does not mention float64: {msg}");
        }
    }
}

/// libm's f32 sigmoid is about 2e-9 at x = −20, but onnxruntime's CPU sigmoid (a vectorised
/// approximation) returns exactly 0.0 on `[-20, -19]`: the deployed network does reach `Y ≤ 0`,
/// so the verifier's sigmoid margins must allow 0 there and must not answer `unsat`.
#[test]
fn sigmoid_underflow_to_zero_is_not_proved_away() {
    let net = Net { n_in: 1, ops: vec![Op::Sigmoid] };
    let out = verdict(&net, &prop1("-20.0", "-19.0", "<=", "0.0"));
    assert_ne!(out, Outcome::Unsat, "wrong unsat");
}
