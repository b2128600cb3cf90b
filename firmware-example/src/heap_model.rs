//! A second copy of a model, built on the heap (`embedded-alloc`) from the byte blob that
//! `genbab bake --blob` writes.
//!
//! Blob layout (little-endian): magic `GBM1`; `u32` node count, weight count, index count and
//! output id; one 32-byte record per node (`u8` op tag, `u8` unary tag, `u8` power, `u8` 0,
//! `u32` len, five `u32` operand fields, then the `f32` LeakyReLU slope or a Conv's `u32` geometry
//! offset); the weights as `f32` bits; the indices as `u32`. Op tags 0–11: Input, Affine (x, w,
//! b), Add (a, b), Sub (a, b), Mul (a, b), ScaleShift (x, scale, shift), Gather (x, idx), Concat
//! (parts), Sum (x, map), Unary (x), Conv (x, w, b), MatMul (a, b, n, k); spans take two fields
//! (start, len). Unary tags follow `graph::Unary`'s order.
//!
//! The parser checks lengths and tags; the graph it returns is then validated by the core like any
//! other (`Graph::validate`), so a corrupt blob is an error, never a panic.

use alloc::vec::Vec;

use genbab_core::graph::{Graph, Node, NodeId, Op, Span, Unary};

/// Why a blob was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, defmt::Format)]
pub enum BlobError {
    /// Wrong magic bytes.
    Magic,
    /// Shorter than its header says, or longer.
    Length,
    /// An unknown op or unary tag in node record `node`.
    Tag { node: u32 },
    /// A node id does not fit a `NodeId`.
    NodeId { node: u32 },
}

/// A model that owns its arrays on the heap.
pub struct HeapModel {
    /// Nodes in topological order.
    pub nodes: Vec<Node>,
    /// Weights.
    pub weights: Vec<f32>,
    /// Index maps.
    pub indices: Vec<u32>,
    /// Output node.
    pub output: NodeId,
}

impl HeapModel {
    /// The borrowed view the engines use.
    pub fn graph(&self) -> Graph<'_, f32> {
        Graph { nodes: &self.nodes, weights: &self.weights, indices: &self.indices, output: self.output }
    }
}

const RECORD: usize = 32;

struct Reader<'a> {
    b: &'a [u8],
}

impl Reader<'_> {
    fn u32(&mut self) -> Result<u32, BlobError> {
        let (head, rest) = self.b.split_first_chunk::<4>().ok_or(BlobError::Length)?;
        self.b = rest;
        Ok(u32::from_le_bytes(*head))
    }
    fn u8x4(&mut self) -> Result<[u8; 4], BlobError> {
        let (head, rest) = self.b.split_first_chunk::<4>().ok_or(BlobError::Length)?;
        self.b = rest;
        Ok(*head)
    }
}

fn node_id(v: u32, node: u32) -> Result<NodeId, BlobError> {
    NodeId::try_from(v).map_err(|_| BlobError::NodeId { node })
}

fn unary(tag: u8, pow: u8, slope: f32, node: u32) -> Result<Unary, BlobError> {
    Ok(match tag {
        0 => Unary::Relu,
        1 => Unary::LeakyRelu(slope),
        2 => Unary::Sigmoid,
        3 => Unary::Tanh,
        4 => Unary::Sin,
        5 => Unary::Cos,
        6 => Unary::Gelu,
        7 => Unary::Exp,
        8 => Unary::Log,
        9 => Unary::Reciprocal,
        10 => Unary::Sqrt,
        11 => Unary::Pow(pow),
        12 => Unary::Neg,
        13 => Unary::Abs,
        14 => Unary::Floor,
        15 => Unary::GeluTanh,
        _ => return Err(BlobError::Tag { node }),
    })
}

/// Parse a blob into heap vectors.
pub fn parse(blob: &[u8]) -> Result<HeapModel, BlobError> {
    let (magic, rest) = blob.split_first_chunk::<4>().ok_or(BlobError::Length)?;
    if magic != b"GBM1" {
        return Err(BlobError::Magic);
    }
    let mut r = Reader { b: rest };
    let (n_nodes, n_weights, n_indices) = (r.u32()?, r.u32()?, r.u32()?);
    let output = node_id(r.u32()?, 0)?;
    let want = n_nodes as usize * RECORD + 4 * n_weights as usize + 4 * n_indices as usize;
    if r.b.len() != want {
        return Err(BlobError::Length);
    }
    let mut nodes = Vec::with_capacity(n_nodes as usize);
    for k in 0..n_nodes {
        let [tag, ftag, pow, _] = r.u8x4()?;
        let len = r.u32()?;
        let mut f = [0u32; 5];
        for v in &mut f {
            *v = r.u32()?;
        }
        // The LeakyReLU slope's bits, or a Conv's geometry offset.
        let extra = r.u32()?;
        let slope = f32::from_bits(extra);
        let id = |v: u32| node_id(v, k);
        let op = match tag {
            0 => Op::Input,
            1 => Op::Affine { x: id(f[0])?, w: Span::new(f[1], f[2]), b: Span::new(f[3], f[4]) },
            2 => Op::Add { a: id(f[0])?, b: id(f[1])? },
            3 => Op::Sub { a: id(f[0])?, b: id(f[1])? },
            4 => Op::Mul { a: id(f[0])?, b: id(f[1])? },
            5 => Op::ScaleShift { x: id(f[0])?, scale: Span::new(f[1], f[2]), shift: Span::new(f[3], f[4]) },
            6 => Op::Gather { x: id(f[0])?, idx: Span::new(f[1], f[2]) },
            7 => Op::Concat { parts: Span::new(f[0], f[1]) },
            8 => Op::Sum { x: id(f[0])?, map: Span::new(f[1], f[2]) },
            9 => Op::Unary { x: id(f[0])?, f: unary(ftag, pow, slope, k)? },
            10 => Op::Conv { x: id(f[0])?, w: Span::new(f[1], f[2]), b: Span::new(f[3], f[4]), geom: extra },
            _ => return Err(BlobError::Tag { node: k }),
        };
        nodes.push(Node { op, len });
    }
    let mut weights = Vec::with_capacity(n_weights as usize);
    for _ in 0..n_weights {
        weights.push(f32::from_bits(r.u32()?));
    }
    let mut indices = Vec::with_capacity(n_indices as usize);
    for _ in 0..n_indices {
        indices.push(r.u32()?);
    }
    Ok(HeapModel { nodes, weights, indices, output })
}
