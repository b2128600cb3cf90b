//! The model IR: a topologically ordered list of nodes over flat vectors.
//!
//! A node's value is a flat vector of `len` scalars; shapes are gone by the time a model reaches
//! the core (the loader turns Reshape/Transpose/Flatten into [`Op::Gather`] index maps or nothing).
//! Nodes do not own data: weights live in one borrowed `weights` slice and index maps in one
//! borrowed `indices` slice, addressed by [`Span`]s. A baked model is three `static` arrays in
//! flash; a host model is three `Vec`s owned by the CLI. [`Graph::validate`] checks every index
//! and length once, so the engines can then index without further checks failing.

pub use crate::unary::Unary;

use crate::num::Scalar;
use crate::ops::conv::ConvGeom;
use crate::ops::linear::{Linear, Map};
use crate::ops::matmul::MatMulDims;
use crate::relax;

/// Index of a node in [`Graph::nodes`].
pub type NodeId = u16;

/// A range of `weights` or `indices`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Span {
    /// First element.
    pub start: u32,
    /// Number of elements.
    pub len: u32,
}

impl Span {
    /// The empty span.
    pub const EMPTY: Span = Span { start: 0, len: 0 };
    /// A span of `len` elements from `start`.
    pub const fn new(start: u32, len: u32) -> Span {
        Span { start, len }
    }
    /// As a `usize` range (call only after validation).
    #[inline]
    pub fn range(self) -> core::ops::Range<usize> {
        self.start as usize..self.start as usize + self.len as usize
    }
}

/// What a node computes. Node ids refer to earlier nodes only; operand fields are named as in
/// the formulas of each variant's doc line.
#[allow(missing_docs)]
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Op {
    /// The network input (exactly one, and it is node 0).
    Input,
    /// `W x + b`: `w` is `len × len(x)` row-major; `b` is empty (no bias) or `len` long.
    Affine { x: NodeId, w: Span, b: Span },
    /// A convolution of `x` (ONNX `Conv`, 1-D or 2-D): kernel `w`, bias `b` (empty or one per
    /// output channel), geometry in `indices[geom..geom + ConvGeom::WORDS]`
    /// ([`crate::ops::conv::ConvGeom`]).
    Conv { x: NodeId, w: Span, b: Span, geom: u32 },
    /// The batched matrix product `a·b` of two variables ([`crate::ops::matmul::MatMulDims`]):
    /// `n` rows, `k` terms per output element; the batch count and columns follow from the
    /// lengths.
    MatMul { a: NodeId, b: NodeId, n: u32, k: u32 },
    /// `a + b` elementwise.
    Add { a: NodeId, b: NodeId },
    /// `a − b` elementwise.
    Sub { a: NodeId, b: NodeId },
    /// `a ⊙ b` elementwise: the bilinear op (both operands may vary).
    Mul { a: NodeId, b: NodeId },
    /// `scale ⊙ x + shift` with constants; each span is empty (1 / 0), one value (broadcast) or `len`.
    ScaleShift { x: NodeId, scale: Span, shift: Span },
    /// `y_i = x[idx_i]`: slice, reshape, transpose, broadcast, gather.
    Gather { x: NodeId, idx: Span },
    /// The concatenation of the listed nodes (node ids stored in `indices`).
    Concat { parts: Span },
    /// `y[map_j] += x_j`: sums over groups (ReduceSum; ReduceMean adds a ScaleShift).
    Sum { x: NodeId, map: Span },
    /// An elementwise nonlinearity.
    Unary { x: NodeId, f: Unary },
}

impl Op {
    /// The node ids this op reads, in order (Concat's parts come from `indices`).
    pub fn inputs<'i>(&self, indices: &'i [u32]) -> Inputs<'i> {
        match *self {
            Op::Input => Inputs::Fixed([0, 0], 0),
            Op::Affine { x, .. }
            | Op::Conv { x, .. }
            | Op::ScaleShift { x, .. }
            | Op::Gather { x, .. }
            | Op::Sum { x, .. }
            | Op::Unary { x, .. } => Inputs::Fixed([x, 0], 1),
            Op::Add { a, b } | Op::Sub { a, b } | Op::Mul { a, b } | Op::MatMul { a, b, .. } => {
                Inputs::Fixed([a, b], 2)
            }
            Op::Concat { parts } => Inputs::List(indices.get(parts.range()).unwrap_or(&[])),
        }
    }
}

/// Iterator-like view of an op's inputs.
#[derive(Clone, Copy, Debug)]
pub enum Inputs<'i> {
    /// Up to two inputs.
    Fixed([NodeId; 2], usize),
    /// A list from `indices`.
    List(&'i [u32]),
}

impl Inputs<'_> {
    /// Number of inputs.
    pub fn len(&self) -> usize {
        match self {
            Inputs::Fixed(_, n) => *n,
            Inputs::List(l) => l.len(),
        }
    }
    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The `k`-th input (ids from `indices` that do not fit a `NodeId` map to `NodeId::MAX`).
    pub fn get(&self, k: usize) -> NodeId {
        match self {
            Inputs::Fixed(a, _) => a[k],
            Inputs::List(l) => u16::try_from(l[k]).unwrap_or(NodeId::MAX),
        }
    }
}

/// One node: its op and the length of its output vector.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Node {
    /// What it computes.
    pub op: Op,
    /// Output length.
    pub len: u32,
}

/// Why a graph was rejected (`node` is the offending node's id).
#[allow(missing_docs)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum GraphError {
    /// No nodes, or node 0 is not the input, or a second input appears.
    BadInput,
    /// A node reads itself or a later node (the list is not topologically ordered).
    NotTopological { node: u16 },
    /// A node id, span or index map points outside its array.
    OutOfRange { node: u16 },
    /// Operand lengths do not fit the op.
    LengthMismatch { node: u16 },
    /// A constant is NaN or infinite, or a LeakyReLU slope is outside [0, 1].
    BadConstant { node: u16 },
    /// The output id is not a node.
    BadOutput,
    /// More nodes than a `NodeId` can name, or a length of zero.
    TooLarge,
    /// A buffer handed in is smaller than the plan says.
    BufferTooSmall,
    /// The input vector's length is not the model's input length.
    BadInputLength,
}

/// A validated-on-demand computation graph borrowing its data.
#[derive(Clone, Copy, Debug)]
pub struct Graph<'a, T> {
    /// Nodes in topological order; node 0 is the input.
    pub nodes: &'a [Node],
    /// All weights, biases and constants.
    pub weights: &'a [T],
    /// All index maps and Concat part lists.
    pub indices: &'a [u32],
    /// The node whose value is the network output.
    pub output: NodeId,
}

impl<'a, T: Scalar> Graph<'a, T> {
    /// Length of the input vector.
    pub fn input_len(&self) -> usize {
        self.nodes.first().map_or(0, |n| n.len as usize)
    }
    /// Length of the output vector.
    pub fn output_len(&self) -> usize {
        self.nodes.get(self.output as usize).map_or(0, |n| n.len as usize)
    }
    /// Total number of scalars over all node values (the size of a forward-value buffer).
    pub fn total_len(&self) -> usize {
        self.nodes.iter().map(|n| n.len as usize).sum()
    }
    /// Offset of each node's value in a buffer of [`Graph::total_len`] scalars.
    pub fn offset(&self, id: NodeId) -> usize {
        self.nodes[..id as usize].iter().map(|n| n.len as usize).sum()
    }

    /// The linear view of `op` (of this graph, validated), if it is an `Affine` or a `Conv`.
    pub fn linear(&self, op: &Op) -> Option<Linear<'a, T>> {
        match *op {
            Op::Affine { x, w, b } => Some(Linear {
                x,
                map: Map::Dense { w: &self.weights[w.range()], cols: self.nodes[x as usize].len as usize },
                b: &self.weights[b.range()],
            }),
            Op::Conv { x, w, b, geom } => {
                let words = self.indices.get(geom as usize..geom as usize + ConvGeom::WORDS)?;
                Some(Linear {
                    x,
                    map: Map::Conv { w: &self.weights[w.range()], geom: ConvGeom::decode(words)? },
                    b: &self.weights[b.range()],
                })
            }
            _ => None,
        }
    }

    /// The shape of `node` if it is a `MatMul` whose lengths fit (as validation checks).
    pub fn matmul(&self, node: &Node) -> Option<MatMulDims> {
        match node.op {
            Op::MatMul { a, b, n, k } => MatMulDims::new(
                self.nodes.get(a as usize)?.len as usize,
                self.nodes.get(b as usize)?.len as usize,
                node.len as usize,
                n as usize,
                k as usize,
            ),
            _ => None,
        }
    }

    /// Check every id, span, length and constant. Engines call this before they index.
    pub fn validate(&self) -> Result<(), GraphError> {
        if self.nodes.is_empty() || self.nodes[0].op != Op::Input {
            return Err(GraphError::BadInput);
        }
        if self.nodes.len() > NodeId::MAX as usize {
            return Err(GraphError::TooLarge);
        }
        if self.output as usize >= self.nodes.len() {
            return Err(GraphError::BadOutput);
        }
        for (i, node) in self.nodes.iter().enumerate() {
            let id = i as u16;
            if node.len == 0 {
                return Err(GraphError::TooLarge);
            }
            if i > 0 && node.op == Op::Input {
                return Err(GraphError::BadInput);
            }
            let ins = node.op.inputs(self.indices);
            if let Op::Concat { parts } = node.op
                && (self.indices.get(parts.range_checked()?).is_none() || parts.len == 0)
            {
                return Err(GraphError::OutOfRange { node: id });
            }
            for k in 0..ins.len() {
                if ins.get(k) as usize >= i {
                    return Err(GraphError::NotTopological { node: id });
                }
            }
            let len_of = |n: NodeId| self.nodes[n as usize].len;
            let mismatch = Err(GraphError::LengthMismatch { node: id });
            let range = |s: Span| -> Result<(), GraphError> {
                let r = s.range_checked().map_err(|_| GraphError::OutOfRange { node: id })?;
                if r.end > self.weights.len() {
                    return Err(GraphError::OutOfRange { node: id });
                }
                if self.weights[r].iter().any(|w| !w.is_usable()) {
                    return Err(GraphError::BadConstant { node: id });
                }
                Ok(())
            };
            let index_map = |s: Span, bound: u32| -> Result<(), GraphError> {
                let r = s.range_checked().map_err(|_| GraphError::OutOfRange { node: id })?;
                match self.indices.get(r) {
                    Some(m) if m.iter().all(|&j| j < bound) => Ok(()),
                    _ => Err(GraphError::OutOfRange { node: id }),
                }
            };
            match node.op {
                Op::Input => {}
                Op::Affine { x, w, b } => {
                    if w.len as u64 != node.len as u64 * len_of(x) as u64 {
                        return mismatch;
                    }
                    if b.len != 0 && b.len != node.len {
                        return mismatch;
                    }
                    range(w)?;
                    range(b)?;
                }
                Op::Conv { x, w, b, geom } => {
                    let words = (geom as usize)
                        .checked_add(ConvGeom::WORDS)
                        .and_then(|e| self.indices.get(geom as usize..e));
                    let Some(cg) = words.and_then(ConvGeom::decode) else {
                        return Err(GraphError::OutOfRange { node: id });
                    };
                    if cg.out_len() != node.len as usize
                        || cg.in_len() != len_of(x) as usize
                        || cg.weight_len() != w.len as usize
                        || (b.len != 0 && b.len as usize != cg.c_out)
                    {
                        return mismatch;
                    }
                    range(w)?;
                    range(b)?;
                }
                Op::Add { a, b } | Op::Sub { a, b } | Op::Mul { a, b } => {
                    if len_of(a) != node.len || len_of(b) != node.len {
                        return mismatch;
                    }
                }
                Op::MatMul { k, .. } => {
                    if self.matmul(node).is_none() {
                        return mismatch;
                    }
                    // Its relaxation cache (6 scalars per term) must be indexable.
                    if (node.len as usize).checked_mul(k as usize).and_then(|v| v.checked_mul(6)).is_none() {
                        return Err(GraphError::TooLarge);
                    }
                }
                Op::ScaleShift { x, scale, shift } => {
                    if len_of(x) != node.len {
                        return mismatch;
                    }
                    for s in [scale, shift] {
                        if s.len > 1 && s.len != node.len {
                            return mismatch;
                        }
                        range(s)?;
                    }
                }
                Op::Gather { x, idx } => {
                    if idx.len != node.len {
                        return mismatch;
                    }
                    index_map(idx, len_of(x))?;
                }
                Op::Concat { .. } => {
                    let mut total = 0u64;
                    for k in 0..ins.len() {
                        total += len_of(ins.get(k)) as u64;
                    }
                    if total != node.len as u64 {
                        return mismatch;
                    }
                }
                Op::Sum { x, map } => {
                    if map.len != len_of(x) {
                        return mismatch;
                    }
                    index_map(map, node.len)?;
                }
                Op::Unary { x, f } => {
                    if len_of(x) != node.len {
                        return mismatch;
                    }
                    let bad = match f {
                        Unary::LeakyRelu(a) => !(0.0..=1.0).contains(&a),
                        Unary::Pow(n) => n < 2,
                        _ => false,
                    };
                    if bad {
                        return Err(GraphError::BadConstant { node: id });
                    }
                }
            }
        }
        Ok(())
    }

    /// Forward evaluation in `T` as the deployed arithmetic computes it.
    ///
    /// `values` must hold at least [`Graph::total_len`] scalars; on return it holds every node's
    /// value at its [`Graph::offset`], and the output slice is returned. Validates first.
    pub fn eval<'v>(&self, x: &[T], values: &'v mut [T]) -> Result<&'v [T], GraphError> {
        self.validate()?;
        self.eval_validated(x, values)
    }

    /// [`Graph::eval`] for a graph already validated (the attack's hot loop): checks only the
    /// buffer sizes, so it cannot panic on a graph that passed [`Graph::validate`].
    pub(crate) fn eval_validated<'v>(&self, x: &[T], values: &'v mut [T]) -> Result<&'v [T], GraphError> {
        if x.len() != self.input_len() {
            return Err(GraphError::BadInputLength);
        }
        if values.len() < self.total_len() {
            return Err(GraphError::BufferTooSmall);
        }
        let mut off = 0usize;
        for node in self.nodes.iter() {
            let len = node.len as usize;
            let (done, rest) = values.split_at_mut(off);
            let out = &mut rest[..len];
            let val = |n: NodeId| {
                let o = self.offset(n);
                &done[o..o + self.nodes[n as usize].len as usize]
            };
            match node.op {
                Op::Input => out.copy_from_slice(x),
                Op::Affine { x, w, b } => {
                    let xv = val(x);
                    let w = &self.weights[w.range()];
                    let b = &self.weights[b.range()];
                    for (r, o) in out.iter_mut().enumerate() {
                        let row = &w[r * xv.len()..(r + 1) * xv.len()];
                        let mut acc = if b.is_empty() { T::ZERO } else { b[r] };
                        for (wi, xi) in row.iter().zip(xv) {
                            acc = acc.add(wi.mul(*xi));
                        }
                        *o = acc;
                    }
                }
                Op::Conv { x, w, b, geom } => {
                    if let Some(cg) =
                        ConvGeom::decode(&self.indices[geom as usize..geom as usize + ConvGeom::WORDS])
                    {
                        cg.forward(&self.weights[w.range()], &self.weights[b.range()], val(x), out);
                    }
                }
                Op::MatMul { a, b, .. } => {
                    if let Some(d) = self.matmul(node) {
                        d.forward(val(a), val(b), out);
                    }
                }
                Op::Add { a, b } => zip2(out, val(a), val(b), |p, q| p.add(q)),
                Op::Sub { a, b } => zip2(out, val(a), val(b), |p, q| p.sub(q)),
                Op::Mul { a, b } => zip2(out, val(a), val(b), |p, q| p.mul(q)),
                Op::ScaleShift { x, scale, shift } => {
                    let xv = val(x);
                    let sc = &self.weights[scale.range()];
                    let sh = &self.weights[shift.range()];
                    for (j, o) in out.iter_mut().enumerate() {
                        let s = broadcast(sc, j, T::ONE);
                        let c = broadcast(sh, j, T::ZERO);
                        *o = xv[j].mul(s).add(c);
                    }
                }
                Op::Gather { x, idx } => {
                    let xv = val(x);
                    for (o, &j) in out.iter_mut().zip(&self.indices[idx.range()]) {
                        *o = xv[j as usize];
                    }
                }
                Op::Concat { .. } => {
                    let ins = node.op.inputs(self.indices);
                    let mut k0 = 0;
                    for k in 0..ins.len() {
                        let v = val(ins.get(k));
                        out[k0..k0 + v.len()].copy_from_slice(v);
                        k0 += v.len();
                    }
                }
                Op::Sum { x, map } => {
                    out.fill(T::ZERO);
                    for (xi, &j) in val(x).iter().zip(&self.indices[map.range()]) {
                        out[j as usize] = out[j as usize].add(*xi);
                    }
                }
                Op::Unary { x, f } => {
                    for (o, xi) in out.iter_mut().zip(val(x)) {
                        *o = relax::apply(f, *xi);
                    }
                }
            }
            off += len;
        }
        let o = self.offset(self.output);
        Ok(&values[o..o + self.output_len()])
    }
}

/// A graph that owns its arrays (feature `alloc`): what a loader builds and the engines borrow
/// through [`OwnedGraph::graph`].
#[cfg(feature = "alloc")]
#[derive(Clone, Debug, PartialEq)]
pub struct OwnedGraph<T> {
    /// Nodes in topological order.
    pub nodes: alloc::vec::Vec<Node>,
    /// Weights and constants.
    pub weights: alloc::vec::Vec<T>,
    /// Index maps and Concat part lists.
    pub indices: alloc::vec::Vec<u32>,
    /// The output node.
    pub output: NodeId,
}

#[cfg(feature = "alloc")]
impl<T: Scalar> OwnedGraph<T> {
    /// The borrowed view the engines use.
    pub fn graph(&self) -> Graph<'_, T> {
        Graph { nodes: &self.nodes, weights: &self.weights, indices: &self.indices, output: self.output }
    }
    /// The same graph with weights in another scalar type (rounded to nearest).
    pub fn convert<U: Scalar>(&self) -> OwnedGraph<U> {
        OwnedGraph {
            nodes: self.nodes.clone(),
            weights: self.weights.iter().map(|w| U::from_f64_near(w.to_f64())).collect(),
            indices: self.indices.clone(),
            output: self.output,
        }
    }
    /// Forward evaluation into a fresh vector.
    pub fn eval(&self, x: &[T]) -> Result<alloc::vec::Vec<T>, GraphError> {
        let g = self.graph();
        let mut buf = alloc::vec![T::ZERO; g.total_len()];
        g.eval(x, &mut buf).map(|y| y.to_vec())
    }
}

impl Span {
    fn range_checked(self) -> Result<core::ops::Range<usize>, GraphError> {
        let end = (self.start as usize).checked_add(self.len as usize).ok_or(GraphError::TooLarge)?;
        Ok(self.start as usize..end)
    }
}

/// Element `j` of a constant that is empty (→ `default`), a single broadcast value, or full.
#[inline]
pub fn broadcast<T: Copy>(c: &[T], j: usize, default: T) -> T {
    match c.len() {
        0 => default,
        1 => c[0],
        _ => c[j],
    }
}

fn zip2<T: Copy>(out: &mut [T], a: &[T], b: &[T], f: impl Fn(T, T) -> T) {
    for ((o, p), q) in out.iter_mut().zip(a).zip(b) {
        *o = f(*p, *q);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> ([Node; 4], [f64; 6], [u32; 0]) {
        let nodes = [
            Node { op: Op::Input, len: 2 },
            Node { op: Op::Affine { x: 0, w: Span::new(0, 4), b: Span::new(4, 2) }, len: 2 },
            Node { op: Op::Unary { x: 1, f: Unary::Relu }, len: 2 },
            Node { op: Op::Mul { a: 2, b: 1 }, len: 2 },
        ];
        (nodes, [1.0, -1.0, 2.0, 0.5, 0.0, -1.0], [])
    }

    #[test]
    fn evaluates_a_small_graph() {
        let (nodes, w, idx) = tiny();
        let g = Graph { nodes: &nodes, weights: &w, indices: &idx, output: 3 };
        let mut buf = [0.0; 8];
        let y = g.eval(&[1.0, 2.0], &mut buf).unwrap();
        // h = [1-2, 2+1-1] = [-1, 2]; relu = [0, 2]; y = [0, 4]
        assert_eq!(y, &[0.0, 4.0]);
    }

    #[test]
    fn rejects_bad_graphs() {
        let (mut nodes, w, idx) = tiny();
        nodes[2].op = Op::Unary { x: 3, f: Unary::Relu };
        let g = Graph { nodes: &nodes, weights: &w, indices: &idx, output: 3 };
        assert_eq!(g.validate(), Err(GraphError::NotTopological { node: 2 }));
        let (mut nodes, w, idx) = tiny();
        nodes[1].op = Op::Affine { x: 0, w: Span::new(0, 4), b: Span::new(4, 9) };
        let g = Graph { nodes: &nodes, weights: &w, indices: &idx, output: 3 };
        assert_eq!(g.validate(), Err(GraphError::LengthMismatch { node: 1 }));
        let (mut nodes, w, idx) = tiny();
        nodes[1].op = Op::Affine { x: 0, w: Span::new(4, 4), b: Span::EMPTY };
        let g = Graph { nodes: &nodes, weights: &w, indices: &idx, output: 3 };
        assert_eq!(g.validate(), Err(GraphError::OutOfRange { node: 1 }));
        let (nodes, w, idx) = tiny();
        let g = Graph { nodes: &nodes, weights: &w, indices: &idx, output: 9 };
        assert_eq!(g.validate(), Err(GraphError::BadOutput));
        let mut buf = [0.0; 3];
        let g = Graph { nodes: &nodes, weights: &w, indices: &idx, output: 3 };
        assert_eq!(g.eval(&[1.0, 2.0], &mut buf), Err(GraphError::BufferTooSmall));
        let mut buf = [0.0; 8];
        assert_eq!(g.eval(&[1.0], &mut buf), Err(GraphError::BadInputLength));
    }
}
