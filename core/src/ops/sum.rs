//! `y[map_j] += x_j` (`Op::Sum`): sums over groups (ReduceSum; ReduceMean adds a ScaleShift).

use super::{Check, IbpCx};
use crate::graph::{GraphError, NodeId, Span};
use crate::num::{Scalar, gamma};

/// Shape check: one target per input element, each inside the output.
pub(crate) fn check<T: Scalar>(c: &Check<'_, '_, T>, x: NodeId, map: Span) -> Result<(), GraphError> {
    if map.len != c.g.nodes[x as usize].len {
        return Err(c.mismatch());
    }
    c.index_map(map, c.node.len)
}

/// `out[map_j] += x_j` from zero, in input order.
pub(crate) fn forward<T: Scalar>(map: &[u32], x: &[T], out: &mut [T]) {
    out.fill(T::ZERO);
    for (xi, &j) in x.iter().zip(map) {
        out[j as usize] = out[j as usize].add(*xi);
    }
}

/// IBP: the interval sums, plus the deployed sum's rounding (`γ_{n+1}·Σ max|x_j|` over the group,
/// any order; also the slack).
pub(crate) fn ibp<T: Scalar>(map: &[u32], xo: usize, cx: &mut IbpCx<'_, T>) {
    let len = cx.out_lo.len();
    cx.out_lo.fill(T::ZERO);
    cx.out_hi.fill(T::ZERO);
    cx.aux.fill(T::ZERO); // Σ|x| of the group, turned into an error below
    for (j, &m) in map.iter().enumerate() {
        let k = m as usize;
        let (l, h) = (cx.lo[xo + j], cx.hi[xo + j]);
        cx.out_lo[k] = cx.out_lo[k].add_down(l);
        cx.out_hi[k] = cx.out_hi[k].add_up(h);
        cx.aux[k] = cx.aux[k].add_up(l.abs().max_of(h.abs()));
    }
    let g_dep = T::from_f64_up(gamma(map.len() + 1, cx.deploy.rel));
    for k in 0..len {
        let e = g_dep.mul_up(cx.aux[k]);
        cx.out_lo[k] = cx.out_lo[k].sub_down(e);
        cx.out_hi[k] = cx.out_hi[k].add_up(e);
        cx.aux[k] = e;
    }
}

/// The attack's reverse step (CROWN's is [`super::Route::Sum`]).
pub(crate) fn gradient<T: Scalar>(map: &[u32], own: &[T], xo: usize, head: &mut [T]) {
    for (j, &m) in map.iter().enumerate() {
        head[xo + j] = head[xo + j].add(own[m as usize]);
    }
}
