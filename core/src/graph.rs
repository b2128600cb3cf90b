//! The model IR: a topologically ordered list of nodes over flat vectors.
//!
//! A node's value is a flat vector of `len` scalars; shapes are gone by the time a model reaches
//! the core (the loader turns Reshape/Transpose/Flatten into [`Op::Gather`] index maps or nothing).
//! Nodes do not own data: weights live in one borrowed `weights` slice and index maps in one
//! borrowed `indices` slice, addressed by [`Span`]s. A baked model is three `static` arrays in
//! flash; a host model is three `Vec`s owned by the CLI. [`Graph::validate`] checks every index
//! and length once, so the engines can then index without further checks failing. What each op
//! computes — validation, evaluation and every engine's step — lives with the operators
//! ([`crate::ops`]); this module is the data.

pub use crate::unary::Unary;

use crate::num::Scalar;

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
    /// Identity of this graph's arrays (addresses and lengths) and output: equal for two views
    /// of the same baked or loaded model, so a validation can be remembered by it.
    pub(crate) fn fingerprint(&self) -> [usize; 7] {
        [
            self.nodes.as_ptr() as usize,
            self.nodes.len(),
            self.weights.as_ptr() as usize,
            self.weights.len(),
            self.indices.as_ptr() as usize,
            self.indices.len(),
            self.output as usize,
        ]
    }
    /// Offset of each node's value in a buffer of [`Graph::total_len`] scalars.
    pub fn offset(&self, id: NodeId) -> usize {
        self.nodes[..id as usize].iter().map(|n| n.len as usize).sum()
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
    /// As a `usize` range, unless its end overflows.
    pub(crate) fn range_checked(self) -> Result<core::ops::Range<usize>, GraphError> {
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
