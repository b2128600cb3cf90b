//! Building the core IR: nodes that own their constants while the ONNX graph is lowered, the
//! peephole fusions that are *exact* in f32, dead-node removal, and serialisation into the flat
//! `nodes/weights/indices` arrays of [`genbab_core::graph::Graph`].
//!
//! Every ONNX node rounds its result once in the deployed f32 network, and the bound engines
//! charge one rounding per IR node at that node's magnitudes. A fusion that merges two rounded
//! nodes (`x + 1024 − 1024`, a scale folded into a matrix, a normalisation folded into the next
//! layer) would drop a rounding point, so only these rewrites are made, each exact:
//! identity maps vanish; gathers compose; a gather of an affine selects its rows; an affine of a
//! permutation permutes its columns; and an added constant joins a bias-free affine as its bias
//! (`fl(fl(Σ wᵢxᵢ) + b)` is one f32 sum of `n + 1` terms, which the affine's error term covers in
//! any order). The node list as lowered, before any rewrite, is kept as the *reference*
//! ([`Reference`]): witnesses are confirmed on it.

use genbab_core::graph::{Node, NodeId, Op, Span, Unary};
use genbab_core::ops::conv::ConvGeom;
use genbab_core::ops::matmul::MatMulDims;

use super::reference::Reference;
use super::tensor::Limits;

/// An IR op that owns its constants (weights in `f64`; ONNX float weights convert exactly).
#[derive(Clone, Debug)]
pub enum IOp {
    Input,
    Affine {
        x: usize,
        w: Vec<f64>,
        b: Vec<f64>,
    },
    /// A convolution (bias empty or one per output channel).
    Conv {
        x: usize,
        w: Vec<f64>,
        b: Vec<f64>,
        geom: ConvGeom,
    },
    /// The batched product of two variable matrices (`n` rows, `k` terms).
    MatMul {
        a: usize,
        b: usize,
        n: usize,
        k: usize,
    },
    Add {
        a: usize,
        b: usize,
    },
    Sub {
        a: usize,
        b: usize,
    },
    Mul {
        a: usize,
        b: usize,
    },
    ScaleShift {
        x: usize,
        scale: Vec<f64>,
        shift: Vec<f64>,
    },
    /// `x / c` (ONNX Div by a constant): the engines see `x·(1/c)`, whose one rounding of the
    /// scale and one of the product the scale-shift's error term covers; the reference divides.
    DivConst {
        x: usize,
        c: Vec<f64>,
    },
    /// `c / x`: the engines see `c·reciprocal(x)`; the reference divides.
    RDivConst {
        x: usize,
        c: Vec<f64>,
    },
    /// `a / b` of two variables: the engines see `a·reciprocal(b)`; the reference divides.
    Div {
        a: usize,
        b: usize,
    },
    /// `max(a, b)` (`min` when `min`), exact in f32: the reference takes it exactly, the engines
    /// see `a + relu(b − a)` (`a − relu(a − b)`), whose real value it is, with each step's
    /// rounding charged, so their bounds enclose it.
    MaxMin {
        a: usize,
        b: usize,
        min: bool,
    },
    Gather {
        x: usize,
        idx: Vec<u32>,
    },
    Concat {
        parts: Vec<usize>,
    },
    Sum {
        x: usize,
        map: Vec<u32>,
    },
    /// The mean of each group of `x` (`y[map_j]` collects `x_j`; `n` members per group) as
    /// onnxruntime's AVX2 LayerNormalization kernel forms it: the members summed in f64 (four
    /// lanes, then a scalar tail), divided by `n` in f64, rounded to f32 once. The engines see
    /// a [`IOp::Sum`] and a division by `n`: the f64 sum is within the f32 sum's error term
    /// `γ_{m+1}(2^-24)·Σ|x|` of the exact one (its own error is a `2^-29`-th of that), and its
    /// f64 quotient rounds once more at `2^-53` relative, well inside the division's term.
    MeanF64 {
        x: usize,
        map: Vec<u32>,
        n: usize,
    },
    /// `Σ x_j²` over each group of `x`, as onnxruntime's AVX2 LayerNormalization kernel
    /// accumulates the squared deviations: eight lanes of fused multiply-adds, a fixed
    /// horizontal sum, then the tail in unfused steps of four and fused steps of one. The
    /// engines see `Pow(2)` (whose relaxation covers both `x²` and its f32 rounding) and a
    /// [`IOp::Sum`] (any order, with or without fused multiply-adds).
    SumSquares {
        x: usize,
        map: Vec<u32>,
    },
    /// `fl(x·scale + shift)` with one rounding (a fused multiply-add; `scale` and `shift` one
    /// value or one per element). The engines see two scale-shifts, the product's interval
    /// holding the exact product, the sum then charged its rounding: that holds the fused
    /// result and the unfused one.
    MulAdd {
        x: usize,
        scale: Vec<f64>,
        shift: Vec<f64>,
    },
    Unary {
        x: usize,
        f: Unary,
    },
}

impl IOp {
    fn inputs(&self) -> Vec<usize> {
        match self {
            IOp::Input => vec![],
            IOp::Affine { x, .. }
            | IOp::Conv { x, .. }
            | IOp::ScaleShift { x, .. }
            | IOp::DivConst { x, .. }
            | IOp::RDivConst { x, .. }
            | IOp::Gather { x, .. }
            | IOp::Sum { x, .. }
            | IOp::MeanF64 { x, .. }
            | IOp::SumSquares { x, .. }
            | IOp::MulAdd { x, .. }
            | IOp::Unary { x, .. } => vec![*x],
            IOp::Add { a, b }
            | IOp::Sub { a, b }
            | IOp::Mul { a, b }
            | IOp::Div { a, b }
            | IOp::MaxMin { a, b, .. }
            | IOp::MatMul { a, b, .. } => vec![*a, *b],
            IOp::Concat { parts } => parts.clone(),
        }
    }
    fn map_inputs(&mut self, f: impl Fn(usize) -> usize) {
        match self {
            IOp::Input => {}
            IOp::Affine { x, .. }
            | IOp::Conv { x, .. }
            | IOp::ScaleShift { x, .. }
            | IOp::DivConst { x, .. }
            | IOp::RDivConst { x, .. }
            | IOp::Gather { x, .. }
            | IOp::Sum { x, .. }
            | IOp::MeanF64 { x, .. }
            | IOp::SumSquares { x, .. }
            | IOp::MulAdd { x, .. }
            | IOp::Unary { x, .. } => *x = f(*x),
            IOp::Add { a, b }
            | IOp::Sub { a, b }
            | IOp::Mul { a, b }
            | IOp::Div { a, b }
            | IOp::MaxMin { a, b, .. }
            | IOp::MatMul { a, b, .. } => {
                *a = f(*a);
                *b = f(*b);
            }
            IOp::Concat { parts } => parts.iter_mut().for_each(|p| *p = f(*p)),
        }
    }
}

/// One node under construction.
#[derive(Clone, Debug)]
pub struct INode {
    pub op: IOp,
    pub len: usize,
}

/// The IR under construction.
#[derive(Debug)]
pub struct Builder {
    pub nodes: Vec<INode>,
    pub limits: Limits,
}

/// Whether `idx` maps onto `0..idx.len()` one to one.
fn is_permutation(idx: &[u32]) -> bool {
    let mut seen = vec![false; idx.len()];
    idx.iter().all(|&t| match seen.get_mut(t as usize) {
        Some(s) if !*s => {
            *s = true;
            true
        }
        _ => false,
    })
}

/// Most nodes a graph may have (node ids are `u16`).
const MAX_NODES: usize = NodeId::MAX as usize - 1;

fn expand(c: &[f64], n: usize, default: f64) -> Vec<f64> {
    match c.len() {
        0 => vec![default; n],
        1 => vec![c[0]; n],
        _ => c.to_vec(),
    }
}

/// An affine bias: empty when zero, else full length.
fn bias(b: Vec<f64>) -> Vec<f64> {
    if b.iter().all(|&v| v == 0.0) { vec![] } else { b }
}

/// A constant vector as the shortest span: empty if all equal `default`, one value if uniform.
fn compress(v: Vec<f64>, default: f64) -> Vec<f64> {
    if v.iter().all(|&x| x == default) {
        vec![]
    } else if v.iter().all(|&x| x == v[0]) {
        vec![v[0]]
    } else {
        v
    }
}

impl Builder {
    pub fn new(input_len: usize, limits: Limits) -> Builder {
        Builder { nodes: vec![INode { op: IOp::Input, len: input_len }], limits }
    }

    pub fn len_of(&self, id: usize) -> usize {
        self.nodes[id].len
    }

    fn push(&mut self, op: IOp, len: usize) -> Result<usize, String> {
        if self.nodes.len() >= MAX_NODES {
            return Err(format!("the lowered graph needs more than {MAX_NODES} nodes"));
        }
        if len == 0 {
            return Err("an intermediate value is empty".into());
        }
        if len > self.limits.max_elems {
            return Err(format!(
                "a value of {len} elements exceeds the size limit of {}",
                self.limits.max_elems
            ));
        }
        self.nodes.push(INode { op, len });
        Ok(self.nodes.len() - 1)
    }

    /// `W x + b` (`w` row-major `len × len(x)`).
    pub fn affine(&mut self, x: usize, w: Vec<f64>, b: Vec<f64>) -> Result<usize, String> {
        let lx = self.len_of(x);
        let len = w.len() / lx;
        debug_assert_eq!(len * lx, w.len());
        let b = if b.iter().all(|&v| v == 0.0) { vec![] } else { b };
        self.push(IOp::Affine { x, w, b }, len)
    }

    /// A convolution of `x` (`w` and `b` as [`IOp::Conv`]; the geometry checked here).
    pub fn conv(&mut self, x: usize, w: Vec<f64>, b: Vec<f64>, geom: ConvGeom) -> Result<usize, String> {
        if ConvGeom::decode(&geom.encode()) != Some(geom)
            || geom.in_len() != self.len_of(x)
            || geom.weight_len() != w.len()
            || !(b.is_empty() || b.len() == geom.c_out)
        {
            return Err(format!("convolution shape {geom:?} does not fit its operands"));
        }
        let b = if b.iter().all(|&v| v == 0.0) { vec![] } else { b };
        self.push(IOp::Conv { x, w, b, geom }, geom.out_len())
    }

    /// The batched product of `a` (`nb × n × k`) and `b` (`nb × k × m`), both row-major.
    pub fn matmul(&mut self, a: usize, b: usize, n: usize, k: usize) -> Result<usize, String> {
        let (la, lb) = (self.len_of(a), self.len_of(b));
        let nb = la / (n * k).max(1);
        let len = nb * n * (lb / (nb * k).max(1));
        match MatMulDims::new(la, lb, len, n, k) {
            Some(_) if u32::try_from(n.max(k)).is_ok() => self.push(IOp::MatMul { a, b, n, k }, len),
            _ => Err(format!("matrix product of {la} and {lb} values with {n} rows and {k} terms")),
        }
    }

    /// Check that a dense matrix of `rows × cols` fits the limits.
    pub fn check_dense(&self, rows: usize, cols: usize) -> Result<(), String> {
        match rows.checked_mul(cols) {
            Some(n) if n <= self.limits.max_elems => Ok(()),
            _ => Err(format!(
                "the dense matrix of this linear map ({rows} × {cols}) exceeds the size limit of {} elements",
                self.limits.max_elems
            )),
        }
    }

    /// `scale ⊙ x + shift` (each of length 0, 1 or `len(x)`); returns `x` for the identity.
    pub fn scale_shift(&mut self, x: usize, scale: Vec<f64>, shift: Vec<f64>) -> Result<usize, String> {
        let n = self.len_of(x);
        let scale = compress(expand(&scale, n, 1.0), 1.0);
        let shift = compress(expand(&shift, n, 0.0), 0.0);
        if scale.is_empty() && shift.is_empty() {
            return Ok(x);
        }
        self.push(IOp::ScaleShift { x, scale, shift }, n)
    }

    /// `y_i = x[idx_i]`; returns `x` for the identity map.
    pub fn gather(&mut self, x: usize, idx: &[usize]) -> Result<usize, String> {
        if idx.len() == self.len_of(x) && idx.iter().enumerate().all(|(i, &j)| i == j) {
            return Ok(x);
        }
        let len = idx.len();
        let idx = idx.iter().map(|&j| j as u32).collect();
        self.push(IOp::Gather { x, idx }, len)
    }

    /// Concatenation of flat values.
    pub fn concat(&mut self, parts: Vec<usize>) -> Result<usize, String> {
        if parts.len() == 1 {
            return Ok(parts[0]);
        }
        let len = parts.iter().map(|&p| self.len_of(p)).sum();
        self.push(IOp::Concat { parts }, len)
    }

    /// `y[map_j] += x_j` with `out_len` outputs.
    pub fn sum(&mut self, x: usize, map: &[usize], out_len: usize) -> Result<usize, String> {
        let map = map.iter().map(|&j| j as u32).collect();
        self.push(IOp::Sum { x, map }, out_len)
    }

    /// The f64-accumulated mean of each group ([`IOp::MeanF64`]; `n` members per group).
    pub fn mean_f64(&mut self, x: usize, map: &[usize], out_len: usize, n: usize) -> Result<usize, String> {
        let map = map.iter().map(|&j| j as u32).collect();
        self.push(IOp::MeanF64 { x, map, n }, out_len)
    }

    /// The lane-ordered sum of squares of each group ([`IOp::SumSquares`]).
    pub fn sum_squares(&mut self, x: usize, map: &[usize], out_len: usize) -> Result<usize, String> {
        let map = map.iter().map(|&j| j as u32).collect();
        self.push(IOp::SumSquares { x, map }, out_len)
    }

    /// `fl(x·scale + shift)` with one rounding ([`IOp::MulAdd`]).
    pub fn mul_add(&mut self, x: usize, scale: Vec<f64>, shift: Vec<f64>) -> Result<usize, String> {
        let n = self.len_of(x);
        let scale = compress(expand(&scale, n, 1.0), f64::NAN);
        let shift = compress(expand(&shift, n, 0.0), f64::NAN);
        self.push(IOp::MulAdd { x, scale, shift }, n)
    }

    /// `x / c` elementwise (`c` of length 1 or `len(x)`, no zero).
    pub fn div_const(&mut self, x: usize, c: Vec<f64>) -> Result<usize, String> {
        let n = self.len_of(x);
        if let Some(v) = c.iter().find(|&&v| v == 0.0 || !((1.0 / v) as f32).is_finite()) {
            return Err(format!("division by the constant {v:e} (its reciprocal is not a finite f32)"));
        }
        if c.iter().all(|&v| v == 1.0) {
            return Ok(x);
        }
        // One value if uniform, else one per element (NaN: no default that could be left out).
        self.push(IOp::DivConst { x, c: compress(expand(&c, n, 1.0), f64::NAN) }, n)
    }

    /// `c / x` elementwise (`c` of length 1 or `len(x)`).
    pub fn rdiv_const(&mut self, x: usize, c: Vec<f64>) -> Result<usize, String> {
        let n = self.len_of(x);
        self.push(IOp::RDivConst { x, c: compress(expand(&c, n, 1.0), f64::NAN) }, n)
    }

    /// `a / b` elementwise.
    pub fn div(&mut self, a: usize, b: usize) -> Result<usize, String> {
        let n = self.len_of(a);
        self.push(IOp::Div { a, b }, n)
    }

    pub fn unary(&mut self, x: usize, f: Unary) -> Result<usize, String> {
        let n = self.len_of(x);
        self.push(IOp::Unary { x, f }, n)
    }

    pub fn add(&mut self, a: usize, b: usize) -> Result<usize, String> {
        let n = self.len_of(a);
        self.push(IOp::Add { a, b }, n)
    }
    pub fn sub(&mut self, a: usize, b: usize) -> Result<usize, String> {
        let n = self.len_of(a);
        self.push(IOp::Sub { a, b }, n)
    }
    pub fn mul(&mut self, a: usize, b: usize) -> Result<usize, String> {
        let n = self.len_of(a);
        self.push(IOp::Mul { a, b }, n)
    }

    /// `max(a, b)`, or `min(a, b)` when `min` (see [`IOp::MaxMin`]).
    pub fn max_min(&mut self, a: usize, b: usize, min: bool) -> Result<usize, String> {
        let n = self.len_of(a);
        self.push(IOp::MaxMin { a, b, min }, n)
    }

    /// A constant vector as a node: the input gathered to the right length, times 0, plus `c`.
    pub fn constant(&mut self, c: &[f64]) -> Result<usize, String> {
        let g = self.gather(0, &vec![0; c.len()])?;
        let n = c.len();
        let shift = compress(c.to_vec(), 0.0);
        self.push(IOp::ScaleShift { x: g, scale: vec![0.0], shift }, n)
    }

    /// The node list as lowered (no rewrite yet): what witnesses are confirmed on.
    pub fn reference(&self, output: usize) -> Reference {
        Reference { nodes: self.nodes.clone(), output }
    }

    /// Fuse (exactly), drop dead nodes and serialise.
    pub fn finish(mut self, output: usize) -> Result<Serialized, String> {
        let output = self.optimise(output);
        self.serialize(output)
    }

    /// Peephole fusions until nothing changes; returns the (possibly aliased) output id.
    fn optimise(&mut self, mut output: usize) -> usize {
        let n = self.nodes.len();
        let mut alias: Vec<usize> = (0..n).collect();
        for _round in 0..64 {
            // Resolve aliases.
            let resolve = |alias: &[usize], mut i: usize| {
                while alias[i] != i {
                    i = alias[i];
                }
                i
            };
            for i in 0..n {
                let a = alias.clone();
                self.nodes[i].op.map_inputs(|j| resolve(&a, j));
            }
            output = resolve(&alias, output);
            let mut uses = vec![0usize; n];
            uses[output] += 1;
            for node in &self.nodes {
                for j in node.op.inputs() {
                    uses[j] += 1;
                }
            }
            let mut changed = false;
            for i in 1..n {
                if uses[i] == 0 && i != output {
                    continue;
                }
                let len = self.nodes[i].len;
                let new = match &self.nodes[i].op {
                    IOp::ScaleShift { x, scale, shift } => {
                        let j = *x;
                        let (s, c) = (expand(scale, len, 1.0), expand(shift, len, 0.0));
                        match &self.nodes[j].op {
                            // x·1 + 0 = x exactly.
                            _ if s.iter().all(|&v| v == 1.0) && c.iter().all(|&v| v == 0.0) => {
                                alias[i] = j;
                                changed = true;
                                None
                            }
                            // fl(fl(Σ w x) + c): the added constant becomes the affine's bias.
                            IOp::Affine { x: xj, w, b }
                                if uses[j] == 1 && b.is_empty() && s.iter().all(|&v| v == 1.0) =>
                            {
                                Some(IOp::Affine { x: *xj, w: w.clone(), b: bias(c) })
                            }
                            _ => None,
                        }
                    }
                    IOp::Affine { x, w, b } => {
                        let j = *x;
                        let cols = self.nodes[j].len;
                        match &self.nodes[j].op {
                            // A permutation of the affine's input: permute its columns (exact).
                            IOp::Gather { x: xj, idx }
                                if uses[j] == 1 && self.nodes[*xj].len == cols && is_permutation(idx) =>
                            {
                                let src = self.nodes[*xj].len;
                                let mut w2 = vec![0.0; len * src];
                                for r in 0..len {
                                    for (k, &t) in idx.iter().enumerate() {
                                        w2[r * src + t as usize] = w[r * cols + k];
                                    }
                                }
                                Some(IOp::Affine { x: *xj, w: w2, b: b.clone() })
                            }
                            _ => None,
                        }
                    }
                    IOp::Gather { x, idx } => {
                        let j = *x;
                        match &self.nodes[j].op {
                            IOp::Gather { x: xj, idx: ij } => {
                                let idx2: Vec<u32> = idx.iter().map(|&t| ij[t as usize]).collect();
                                if idx2.len() == self.nodes[*xj].len
                                    && idx2.iter().enumerate().all(|(a, &b)| a == b as usize)
                                {
                                    alias[i] = *xj;
                                    changed = true;
                                    None
                                } else {
                                    Some(IOp::Gather { x: *xj, idx: idx2 })
                                }
                            }
                            IOp::Affine { x: xj, w, b } if uses[j] == 1 && len <= self.nodes[j].len => {
                                let cols = self.nodes[*xj].len;
                                let mut w2 = Vec::with_capacity(len * cols);
                                for &t in idx {
                                    w2.extend_from_slice(&w[t as usize * cols..(t as usize + 1) * cols]);
                                }
                                let b2 = if b.is_empty() {
                                    vec![]
                                } else {
                                    idx.iter().map(|&t| b[t as usize]).collect()
                                };
                                Some(IOp::Affine { x: *xj, w: w2, b: b2 })
                            }
                            _ => None,
                        }
                    }
                    _ => None,
                };
                if let Some(op) = new {
                    // Keep the use counts exact (an overcount would only block fusions): node i
                    // no longer reads j but j's input; a j left without users no longer reads
                    // anything.
                    let j = self.nodes[i].op.inputs()[0];
                    let xj = op.inputs()[0];
                    self.nodes[i].op = op;
                    changed = true;
                    uses[j] -= 1;
                    uses[xj] += 1;
                    if uses[j] == 0 {
                        for k in self.nodes[j].op.inputs() {
                            uses[k] -= 1;
                        }
                    }
                }
            }
            if !changed {
                break;
            }
        }
        output
    }

    fn serialize(self, output: usize) -> Result<Serialized, String> {
        let n = self.nodes.len();
        let mut live = vec![false; n];
        live[0] = true;
        live[output] = true;
        for i in (0..n).rev() {
            if live[i] {
                for j in self.nodes[i].op.inputs() {
                    live[j] = true;
                }
            }
        }
        let mut new_id = vec![0usize; n];
        let mut out = Serialized::default();
        for (i, node) in self.nodes.into_iter().enumerate() {
            if !live[i] {
                continue;
            }
            let id = |j: usize| new_id[j] as NodeId;
            let mut wspan = |v: Vec<f64>| {
                let s = Span::new(out.weights.len() as u32, v.len() as u32);
                out.weights.extend(v);
                s
            };
            // A division becomes a reciprocal (pushed first) and a product.
            let recip = |x: NodeId, nodes: &mut Vec<Node>| {
                nodes.push(Node { op: Op::Unary { x, f: Unary::Reciprocal }, len: node.len as u32 });
                (nodes.len() - 1) as NodeId
            };
            let op = match node.op {
                IOp::Input => Op::Input,
                IOp::Affine { x, w, b } => {
                    let (w, b) = (wspan(w), wspan(b));
                    Op::Affine { x: id(x), w, b }
                }
                IOp::Conv { x, w, b, geom } => {
                    let (w, b) = (wspan(w), wspan(b));
                    let at = out.indices.len() as u32;
                    out.indices.extend(geom.encode());
                    Op::Conv { x: id(x), w, b, geom: at }
                }
                IOp::MatMul { a, b, n, k } => Op::MatMul { a: id(a), b: id(b), n: n as u32, k: k as u32 },
                IOp::Add { a, b } => Op::Add { a: id(a), b: id(b) },
                IOp::Sub { a, b } => Op::Sub { a: id(a), b: id(b) },
                IOp::Mul { a, b } => Op::Mul { a: id(a), b: id(b) },
                IOp::ScaleShift { x, scale, shift } => {
                    let (scale, shift) = (wspan(scale), wspan(shift));
                    Op::ScaleShift { x: id(x), scale, shift }
                }
                IOp::DivConst { x, c } => {
                    let scale = wspan(c.iter().map(|&v| 1.0 / v).collect());
                    Op::ScaleShift { x: id(x), scale, shift: Span::EMPTY }
                }
                // 1/x is the reciprocal itself (its error model covers the rounded quotient).
                IOp::RDivConst { x, c } if c == [1.0] => Op::Unary { x: id(x), f: Unary::Reciprocal },
                IOp::RDivConst { x, c } => {
                    let scale = wspan(c);
                    Op::ScaleShift { x: recip(id(x), &mut out.nodes), scale, shift: Span::EMPTY }
                }
                IOp::Div { a, b } => Op::Mul { a: id(a), b: recip(id(b), &mut out.nodes) },
                IOp::MaxMin { a, b, min } => {
                    // max: a + relu(b − a); min: a − relu(a − b).
                    let (a, b) = (id(a), id(b));
                    let len = node.len as u32;
                    let d = if min { Op::Sub { a, b } } else { Op::Sub { a: b, b: a } };
                    out.nodes.push(Node { op: d, len });
                    let x = (out.nodes.len() - 1) as NodeId;
                    out.nodes.push(Node { op: Op::Unary { x, f: Unary::Relu }, len });
                    let r = (out.nodes.len() - 1) as NodeId;
                    if min { Op::Sub { a, b: r } } else { Op::Add { a, b: r } }
                }
                IOp::Gather { x, idx } => {
                    let s = Span::new(out.indices.len() as u32, idx.len() as u32);
                    out.indices.extend(idx);
                    Op::Gather { x: id(x), idx: s }
                }
                IOp::Concat { parts } => {
                    let s = Span::new(out.indices.len() as u32, parts.len() as u32);
                    out.indices.extend(parts.iter().map(|&p| new_id[p] as u32));
                    Op::Concat { parts: s }
                }
                IOp::Sum { x, map } => {
                    let s = Span::new(out.indices.len() as u32, map.len() as u32);
                    out.indices.extend(map);
                    Op::Sum { x: id(x), map: s }
                }
                IOp::MeanF64 { x, map, n } => {
                    // Σ (charged at f32), then ·(1/n) (one more rounding charged).
                    let s = Span::new(out.indices.len() as u32, map.len() as u32);
                    out.indices.extend(map);
                    out.nodes.push(Node { op: Op::Sum { x: id(x), map: s }, len: node.len as u32 });
                    let sum = (out.nodes.len() - 1) as NodeId;
                    let scale = wspan(vec![1.0 / n as f64]);
                    Op::ScaleShift { x: sum, scale, shift: Span::EMPTY }
                }
                IOp::SumSquares { x, map } => {
                    let len = out.nodes[new_id[x]].len;
                    out.nodes.push(Node { op: Op::Unary { x: id(x), f: Unary::Pow(2) }, len });
                    let sq = (out.nodes.len() - 1) as NodeId;
                    let s = Span::new(out.indices.len() as u32, map.len() as u32);
                    out.indices.extend(map);
                    Op::Sum { x: sq, map: s }
                }
                IOp::MulAdd { x, scale, shift } => {
                    // The product (its interval holds the exact product), then the sum.
                    let scale = wspan(scale);
                    out.nodes.push(Node {
                        op: Op::ScaleShift { x: id(x), scale, shift: Span::EMPTY },
                        len: node.len as u32,
                    });
                    let p = (out.nodes.len() - 1) as NodeId;
                    let shift = wspan(shift);
                    Op::ScaleShift { x: p, scale: Span::EMPTY, shift }
                }
                IOp::Unary { x, f } => Op::Unary { x: id(x), f },
            };
            out.nodes.push(Node { op, len: node.len as u32 });
            new_id[i] = out.nodes.len() - 1;
            if out.nodes.len() > MAX_NODES {
                return Err(format!("the lowered graph needs more than {MAX_NODES} nodes"));
            }
        }
        out.output = new_id[output] as NodeId;
        Ok(out)
    }
}

/// The flat arrays of a graph (weights still in `f64`).
#[derive(Clone, Debug, Default)]
pub struct Serialized {
    pub nodes: Vec<Node>,
    pub weights: Vec<f64>,
    pub indices: Vec<u32>,
    pub output: NodeId,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The exact fusions are made: a transpose (permutation) into the affine's columns, the added
    /// constant into a bias-free affine as its bias, and a row selection of an affine.
    #[test]
    fn makes_the_exact_fusions() {
        let mut b = Builder::new(2, Limits::default());
        let p = b.gather(0, &[1, 0]).unwrap();
        let a = b.affine(p, vec![1.0, 2.0, 3.0, 4.0], vec![]).unwrap();
        let t = b.scale_shift(a, vec![], vec![3.0, 4.0]).unwrap();
        let g = b.gather(t, &[1, 0]).unwrap();
        let out = b.finish(g).unwrap();
        assert_eq!(out.nodes.len(), 2, "{:?}", out.nodes);
        // Columns swapped, rows swapped, bias (3, 4) swapped.
        assert_eq!(out.weights, vec![4.0, 3.0, 2.0, 1.0, 4.0, 3.0]);
    }

    /// No fusion drops a rounding point: `x + 1024 − 1024`, a scale of a shift, a scale folded
    /// into a matrix, a shift folded into the next layer, and a constant added to an affine that
    /// already has a bias all stay separate nodes (each is rounded once in f32).
    #[test]
    fn keeps_every_rounding_point() {
        let mut b = Builder::new(2, Limits::default());
        let s1 = b.scale_shift(0, vec![], vec![1024.0]).unwrap();
        let s2 = b.scale_shift(s1, vec![], vec![-1024.0]).unwrap();
        let s3 = b.scale_shift(s2, vec![0.5], vec![]).unwrap();
        let a = b.affine(s3, vec![1.0, 1.0, 1.0, -1.0], vec![1.0, 2.0]).unwrap();
        let s4 = b.scale_shift(a, vec![], vec![3.0]).unwrap();
        let s5 = b.scale_shift(s4, vec![3.0], vec![]).unwrap();
        let d = b.div_const(s5, vec![0.01]).unwrap();
        let out = b.finish(d).unwrap();
        assert_eq!(out.nodes.len(), 8, "{:?}", out.nodes);
        // A duplicating gather is not folded into an affine (its products round separately).
        let mut b = Builder::new(1, Limits::default());
        let g = b.gather(0, &[0, 0]).unwrap();
        let a = b.affine(g, vec![1.0, -1.0], vec![]).unwrap();
        assert_eq!(b.finish(a).unwrap().nodes.len(), 3);
    }
}
