//! `y_i = x[idx_i]` (`Op::Gather`): slices, reshapes, transposes, broadcasts and gathers, all
//! exact copies.

use super::{Check, IbpCx};
use crate::graph::{GraphError, NodeId, Span};
use crate::num::Scalar;

/// Shape check: one index per element, each inside the input.
pub(crate) fn check<T: Scalar>(c: &Check<'_, '_, T>, x: NodeId, idx: Span) -> Result<(), GraphError> {
    if idx.len != c.node.len {
        return Err(c.mismatch());
    }
    c.index_map(idx, c.g.nodes[x as usize].len)
}

/// `out_i = x[map_i]`.
pub(crate) fn forward<T: Scalar>(map: &[u32], x: &[T], out: &mut [T]) {
    for (o, &j) in out.iter_mut().zip(map) {
        *o = x[j as usize];
    }
}

/// IBP: the copied intervals (exact: no slack).
pub(crate) fn ibp<T: Scalar>(map: &[u32], xo: usize, cx: &mut IbpCx<'_, T>) {
    for (k, &j) in map.iter().enumerate() {
        cx.out_lo[k] = cx.lo[xo + j as usize];
        cx.out_hi[k] = cx.hi[xo + j as usize];
    }
}

/// The attack's reverse step (CROWN's is [`super::Route::Gather`]).
pub(crate) fn gradient<T: Scalar>(map: &[u32], own: &[T], xo: usize, head: &mut [T]) {
    for (&gk, &j) in own.iter().zip(map) {
        head[xo + j as usize] = head[xo + j as usize].add(gk);
    }
}
