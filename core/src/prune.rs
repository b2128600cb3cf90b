//! Output-cone pruning (feature `alloc`): restrict a graph to the output elements a property reads.
//!
//! Many properties read a few outputs of a wide model (ml4acopf: one of 186). Every bound pass and
//! every workspace scalar is paid per node *value*, so [`restrict`] keeps only the elements the
//! selected outputs depend on, element by element, and rebuilds each node over its kept elements.
//!
//! Every kept element is computed exactly as in the original: an Affine keeps whole rows (all
//! columns, so each dot product and its rounding are unchanged), a Conv or MatMul is kept whole, index ops are remapped, a Sum
//! keeps every term of a kept group in order. So the forward value of each kept element is
//! bit-identical, which is what makes bounds of the restricted graph sound for the deployed
//! original.
//!
//! The bounds themselves need not be bit-identical. IBP node intervals are (but for a Sum that lost
//! terms: its deployed-error γ counts all of them), while the engine's other rounding terms count
//! elements, not only the ones that matter: γ over an Affine's rows, the underflow term charged to
//! every row of a backward chunk, one outward ulp per term of a directed sum (e.g. per output when
//! `bound::output_bounds` concretises `±I`). Restriction only shrinks them; on random DAGs CROWN
//! comes out equal or a few ulps tighter. A kept node whose nonlinear consumers are all dropped no
//! longer gets a CROWN pass of its own; nothing kept relaxes it, so only interval images
//! downstream can notice.
//!
//! Elementwise ops (Add, Sub, Mul, ScaleShift, Unary) and Concat parts need their operands' kept
//! elements to be exactly their own, so where an operand keeps more elements for another consumer
//! the op keeps them too (a fixpoint). That adds no adapter nodes, so the restricted graph has the
//! original's shape, minus nodes and elements; on the ml4acopf benchmarks it is no larger than the
//! bare element-level cone (Concats left with one part are dropped, which makes up for it).

use alloc::collections::BTreeMap;
use alloc::vec;
use alloc::vec::Vec;

use crate::graph::{Graph, GraphError, Node, NodeId, Op, OwnedGraph, Span};
use crate::num::Scalar;
use crate::ops::conv::ConvGeom;

/// The graph whose output is `g`'s output elements `outputs`, in that order (repeats allowed),
/// keeping only the elements they depend on. Node 0 (the input) stays whole and first.
///
/// Errors: `g` invalid, `outputs` empty or out of range ([`GraphError::BadOutput`]), or a result
/// too large to index ([`GraphError::TooLarge`]).
pub fn restrict<T: Scalar>(g: &Graph<'_, T>, outputs: &[usize]) -> Result<OwnedGraph<T>, GraphError> {
    g.validate()?;
    let n_out = g.output_len();
    if outputs.is_empty() || outputs.iter().any(|&o| o >= n_out) {
        return Err(GraphError::BadOutput);
    }
    let keep = needed(g, outputs);
    let mut off = Vec::with_capacity(g.nodes.len() + 1);
    let mut total = 0usize;
    for n in g.nodes {
        off.push(total);
        total += n.len as usize;
    }
    off.push(total);
    // Position of each kept element among its node's kept elements.
    let mut pos = vec![0u32; total];
    for i in 0..g.nodes.len() {
        let mut c = 0u32;
        for k in off[i]..off[i + 1] {
            pos[k] = c;
            c += u32::from(keep[k]);
        }
    }
    let mut b = Rebuild {
        g,
        out: OwnedGraph::<T> { nodes: vec![], weights: vec![], indices: vec![], output: 0 },
        cache: BTreeMap::new(),
    };
    let mut new_id = vec![NodeId::MAX; g.nodes.len()];
    for (i, node) in g.nodes.iter().enumerate() {
        let mask = &keep[off[i]..off[i + 1]];
        let len = mask.iter().filter(|&&k| k).count();
        if len == 0 {
            continue;
        }
        let full = len == mask.len();
        let id = |j: NodeId| new_id[j as usize];
        let op = match node.op {
            Op::Input => Op::Input,
            Op::Affine { x, w, b: bias } => {
                let cols = g.nodes[x as usize].len as usize;
                let w = b.rows(w, mask, cols, full)?;
                let bias = b.rows(bias, mask, 1, full)?;
                Op::Affine { x: id(x), w, b: bias }
            }
            Op::Conv { x, w, b: bias, geom } => {
                // Kept whole (see `needed`): the same kernel, bias and geometry.
                let w = b.whole(w)?;
                let bias = if bias.len == 0 { Span::EMPTY } else { b.whole(bias)? };
                let words = &g.indices[geom as usize..geom as usize + ConvGeom::WORDS];
                let geom = b.index_list(words.iter().copied())?.start;
                Op::Conv { x: id(x), w, b: bias, geom }
            }
            Op::MatMul { a, b: c, n, k } => Op::MatMul { a: id(a), b: id(c), n, k },
            Op::Add { a, b: c } => Op::Add { a: id(a), b: id(c) },
            Op::Sub { a, b: c } => Op::Sub { a: id(a), b: id(c) },
            Op::Mul { a, b: c } => Op::Mul { a: id(a), b: id(c) },
            Op::ScaleShift { x, scale, shift } => Op::ScaleShift {
                x: id(x),
                scale: b.elements(scale, mask, full)?,
                shift: b.elements(shift, mask, full)?,
            },
            Op::Unary { x, f } => Op::Unary { x: id(x), f },
            Op::Gather { x, idx } => {
                let xo = off[x as usize];
                let map = g.indices[idx.range()]
                    .iter()
                    .zip(mask)
                    .filter(|p| *p.1)
                    .map(|(&j, _)| pos[xo + j as usize]);
                Op::Gather { x: id(x), idx: b.index_list(map)? }
            }
            Op::Sum { x, map } => {
                let (xo, xl) = (off[x as usize], g.nodes[x as usize].len as usize);
                let m = g.indices[map.range()].iter().zip(&keep[xo..xo + xl]);
                Op::Sum {
                    x: id(x),
                    map: b.index_list(m.filter(|p| *p.1).map(|(&j, _)| pos[off[i] + j as usize]))?,
                }
            }
            Op::Concat { .. } => {
                let ins = node.op.inputs(g.indices);
                let mut parts = Vec::new();
                let mut k0 = off[i];
                for k in 0..ins.len() {
                    let p = ins.get(k);
                    let pl = g.nodes[p as usize].len as usize;
                    if keep[k0..k0 + pl].iter().any(|&v| v) {
                        parts.push(u32::from(id(p)));
                    }
                    k0 += pl;
                }
                if let [only] = parts[..] {
                    // The one remaining part is exactly this node's kept elements: use it directly
                    // (if the Concat fed a nonlinearity, the part now gets the same CROWN pass).
                    new_id[i] = only as NodeId;
                    continue;
                }
                Op::Concat { parts: b.index_list(parts.into_iter())? }
            }
        };
        new_id[i] = NodeId::try_from(b.out.nodes.len()).map_err(|_| GraphError::TooLarge)?;
        b.out.nodes.push(Node { op, len: len as u32 });
    }
    // The output node's kept elements, unless the request is exactly them in order: then a Gather.
    let out_node = g.output as usize;
    let kept_out: Vec<usize> = (0..n_out).filter(|&k| keep[off[out_node] + k]).collect();
    let mut out = b.out;
    out.output = new_id[out_node];
    if kept_out != outputs {
        let s = span(out.indices.len(), outputs.len())?;
        out.indices.extend(outputs.iter().map(|&o| pos[off[out_node] + o]));
        out.nodes.push(Node { op: Op::Gather { x: out.output, idx: s }, len: outputs.len() as u32 });
        out.output = NodeId::try_from(out.nodes.len() - 1).map_err(|_| GraphError::TooLarge)?;
    }
    out.graph().validate()?;
    Ok(out)
}

/// The needed-element mask over all node values (at the [`Graph::offset`]s): the requested output
/// elements, everything they read, and the closure that keeps elementwise operands aligned.
fn needed<T: Scalar>(g: &Graph<'_, T>, outputs: &[usize]) -> Vec<bool> {
    let mut off = Vec::with_capacity(g.nodes.len());
    let mut total = 0usize;
    for n in g.nodes {
        off.push(total);
        total += n.len as usize;
    }
    let mut keep = vec![false; total];
    keep[..g.input_len()].fill(true);
    let oo = off[g.output as usize];
    for &o in outputs {
        keep[oo + o] = true;
    }
    // Make `keep[a..a+len]` and `keep[b..b+len]` equal (their union); reports a change.
    fn tie(keep: &mut [bool], a: usize, b: usize, len: usize) -> bool {
        let mut changed = false;
        for k in 0..len {
            if keep[a + k] != keep[b + k] {
                keep[a + k] = true;
                keep[b + k] = true;
                changed = true;
            }
        }
        changed
    }
    // Sweeps from the output back; a later sweep only redoes what an earlier consumer widened.
    // Monotone on a finite mask, so it ends (in practice after two or three sweeps).
    loop {
        let mut changed = false;
        for i in (1..g.nodes.len()).rev() {
            let node = g.nodes[i];
            let (o, len) = (off[i], node.len as usize);
            if !keep[o..o + len].iter().any(|&v| v) {
                continue;
            }
            match node.op {
                Op::Input => {}
                Op::Affine { x, .. } => {
                    let (xo, xl) = (off[x as usize], g.nodes[x as usize].len as usize);
                    if !keep[xo..xo + xl].iter().all(|&v| v) {
                        keep[xo..xo + xl].fill(true);
                        changed = true;
                    }
                }
                Op::Conv { .. } | Op::MatMul { .. } => {
                    // A convolution or a matrix product keeps all its elements and all of its
                    // operands: rebuilding it for a subset of positions would need gathers, and the
                    // cone of a property through a CNN or an attention block is most of it anyway.
                    let ins = node.op.inputs(g.indices);
                    let mut ranges = [o..o + len, 0..0, 0..0];
                    for k in 0..ins.len() {
                        let x = ins.get(k) as usize;
                        ranges[k + 1] = off[x]..off[x] + g.nodes[x].len as usize;
                    }
                    for r in ranges {
                        if !keep[r.clone()].iter().all(|&v| v) {
                            keep[r].fill(true);
                            changed = true;
                        }
                    }
                }
                Op::Add { a, b } | Op::Sub { a, b } | Op::Mul { a, b } => {
                    changed |= tie(&mut keep, o, off[a as usize], len);
                    changed |= tie(&mut keep, o, off[b as usize], len);
                    // `a`'s widening may have come after `b`'s: tie again (no-op if settled).
                    changed |= tie(&mut keep, o, off[a as usize], len);
                }
                Op::ScaleShift { x, .. } | Op::Unary { x, .. } => {
                    changed |= tie(&mut keep, o, off[x as usize], len);
                }
                Op::Gather { x, idx } => {
                    let xo = off[x as usize];
                    for (k, &j) in g.indices[idx.range()].iter().enumerate() {
                        if keep[o + k] && !keep[xo + j as usize] {
                            keep[xo + j as usize] = true;
                            changed = true;
                        }
                    }
                }
                Op::Concat { .. } => {
                    let ins = node.op.inputs(g.indices);
                    let mut k0 = o;
                    for k in 0..ins.len() {
                        let p = ins.get(k) as usize;
                        let pl = g.nodes[p].len as usize;
                        if keep[k0..k0 + pl].iter().any(|&v| v) {
                            changed |= tie(&mut keep, k0, off[p], pl);
                        }
                        k0 += pl;
                    }
                }
                Op::Sum { x, map } => {
                    // A kept group needs all its terms; a kept term must land in a kept group.
                    let xo = off[x as usize];
                    for (j, &m) in g.indices[map.range()].iter().enumerate() {
                        let (s, t) = (xo + j, o + m as usize);
                        if keep[s] != keep[t] {
                            keep[s] = true;
                            keep[t] = true;
                            changed = true;
                        }
                    }
                }
            }
        }
        if !changed {
            return keep;
        }
    }
}

/// The restricted graph under construction.
struct Rebuild<'g, 'a, T> {
    g: &'g Graph<'a, T>,
    out: OwnedGraph<T>,
    /// Spans copied whole, by their original span: shared constants stay shared.
    cache: BTreeMap<(u32, u32), Span>,
}

impl<T: Scalar> Rebuild<'_, '_, T> {
    /// The rows of `s` (`width` weights each) that `mask` keeps; `s` empty stays empty.
    fn rows(&mut self, s: Span, mask: &[bool], width: usize, full: bool) -> Result<Span, GraphError> {
        if s.len == 0 {
            return Ok(Span::EMPTY);
        }
        if full {
            return self.whole(s);
        }
        let src = &self.g.weights[s.range()];
        let start = self.out.weights.len();
        for (k, _) in mask.iter().enumerate().filter(|p| *p.1) {
            self.out.weights.extend_from_slice(&src[k * width..(k + 1) * width]);
        }
        span(start, self.out.weights.len() - start)
    }
    /// A ScaleShift constant: empty and broadcast (one value) spans stay as they are.
    fn elements(&mut self, s: Span, mask: &[bool], full: bool) -> Result<Span, GraphError> {
        match s.len {
            0 => Ok(Span::EMPTY),
            1 => self.whole(s),
            _ => self.rows(s, mask, 1, full),
        }
    }
    fn whole(&mut self, s: Span) -> Result<Span, GraphError> {
        if let Some(&n) = self.cache.get(&(s.start, s.len)) {
            return Ok(n);
        }
        let n = span(self.out.weights.len(), s.len as usize)?;
        self.out.weights.extend_from_slice(&self.g.weights[s.range()]);
        self.cache.insert((s.start, s.len), n);
        Ok(n)
    }
    fn index_list(&mut self, it: impl Iterator<Item = u32>) -> Result<Span, GraphError> {
        let start = self.out.indices.len();
        self.out.indices.extend(it);
        span(start, self.out.indices.len() - start)
    }
}

fn span(start: usize, len: usize) -> Result<Span, GraphError> {
    match (u32::try_from(start), u32::try_from(len)) {
        (Ok(s), Ok(l)) if s.checked_add(l).is_some() => Ok(Span::new(s, l)),
        _ => Err(GraphError::TooLarge),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::Unary;

    /// Every op kind, two branches, a shared Affine read by an elementwise op and by a Gather, and a
    /// Concat output: input(3) → … → concat(sub(3), relu(4)) of 7 outputs.
    fn every_op() -> OwnedGraph<f64> {
        let s = Span::new;
        let nodes = vec![
            Node { op: Op::Input, len: 3 },
            Node { op: Op::Affine { x: 0, w: s(0, 12), b: s(12, 4) }, len: 4 },
            Node { op: Op::Unary { x: 1, f: Unary::Relu }, len: 4 },
            Node { op: Op::ScaleShift { x: 2, scale: s(16, 4), shift: s(20, 1) }, len: 4 },
            Node { op: Op::Gather { x: 1, idx: s(0, 2) }, len: 2 },
            Node { op: Op::Concat { parts: s(2, 2) }, len: 6 },
            Node { op: Op::Sum { x: 5, map: s(4, 6) }, len: 3 },
            Node { op: Op::Unary { x: 6, f: Unary::Tanh }, len: 3 },
            Node { op: Op::Affine { x: 0, w: s(21, 9), b: Span::EMPTY }, len: 3 },
            Node { op: Op::Mul { a: 7, b: 8 }, len: 3 },
            Node { op: Op::Sub { a: 9, b: 6 }, len: 3 },
            Node { op: Op::Add { a: 10, b: 10 }, len: 3 },
            Node { op: Op::Concat { parts: s(10, 2) }, len: 7 },
        ];
        let weights: Vec<f64> = (0..30).map(|i| ((i * 7919) % 23) as f64 / 7.0 - 1.5).collect();
        let indices = vec![3, 0, 3, 4, 0, 0, 1, 1, 2, 2, 11, 2];
        OwnedGraph { nodes, weights, indices, output: 12 }
    }

    fn bits(v: &[f64]) -> Vec<u64> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    fn check(g: &OwnedGraph<f64>, outputs: &[usize]) -> OwnedGraph<f64> {
        let r = restrict(&g.graph(), outputs).unwrap();
        assert_eq!(r.nodes[0], g.nodes[0], "{outputs:?}: the input changed");
        // At most the original's values plus the Gather that orders the request.
        assert!(r.graph().total_len() <= g.graph().total_len() + outputs.len());
        for t in 0..5 {
            let x: Vec<f64> = (0..3).map(|i| ((i + 3 * t) as f64 * 0.37).sin() * 2.0).collect();
            let y = g.eval(&x).unwrap();
            let want: Vec<f64> = outputs.iter().map(|&o| y[o]).collect();
            assert_eq!(bits(&r.eval(&x).unwrap()), bits(&want), "{outputs:?} at {x:?}");
        }
        r
    }

    #[test]
    fn restricted_outputs_are_bit_identical() {
        let g = every_op();
        for a in 0..7 {
            check(&g, &[a]);
            for b in 0..7 {
                check(&g, &[a, b]);
                check(&g, &[b, a, b]);
            }
        }
        check(&g, &[0, 1, 2, 3, 4, 5, 6]);
        check(&g, &[6, 5, 4, 3, 2, 1, 0]);
    }

    #[test]
    fn drops_what_the_outputs_do_not_read() {
        let g = every_op();
        // Output 3 is relu(affine)[0]: only the input, one Affine row and one ReLU remain.
        let r = check(&g, &[3]);
        assert_eq!(r.nodes.len(), 3);
        assert_eq!(r.graph().total_len(), 3 + 1 + 1);
        assert_eq!(r.weights.len(), 3 + 1);
        // Output 0 reads the Sum branch but not the Gather (its group takes ScaleShift terms).
        let r = check(&g, &[0]);
        assert!(!r.nodes.iter().any(|n| matches!(n.op, Op::Gather { .. })));
        assert!(r.graph().total_len() < g.graph().total_len());
        // All outputs in order: nothing to drop, no Gather appended.
        let r = check(&g, &[0, 1, 2, 3, 4, 5, 6]);
        assert_eq!(r.graph().total_len(), g.graph().total_len());
        assert_eq!(r.nodes.len(), g.nodes.len());
    }

    #[test]
    fn rejects_bad_requests() {
        let g = every_op();
        assert_eq!(restrict(&g.graph(), &[]), Err(GraphError::BadOutput));
        assert_eq!(restrict(&g.graph(), &[7]), Err(GraphError::BadOutput));
        let mut bad = g.clone();
        bad.nodes[3].len = 5;
        assert!(restrict(&bad.graph(), &[0]).is_err());
    }
}
