//! `scale ⊙ x + shift` with constants (`Op::ScaleShift`): a folded BatchNormalization, a
//! division or multiplication by a constant, a bias. Each constant is empty (1, 0), one value
//! (broadcast) or one per element ([`broadcast`]).

use super::rows::{SumErr, elementwise_row};
use super::{BackCx, Check, IbpCx};
use crate::graph::{Graph, GraphError, NodeId, Op, Span, broadcast};
use crate::num::{Scalar, gamma};

/// Shape check: as long as its input, each constant empty, one value or one per element.
pub(crate) fn check<T: Scalar>(c: &Check<'_, '_, T>) -> Result<(), GraphError> {
    let Op::ScaleShift { x, scale, shift } = c.node.op else {
        return Err(c.mismatch());
    };
    c.same_len(&[x])?;
    for s in [scale, shift] {
        if s.len > 1 && s.len != c.node.len {
            return Err(c.mismatch());
        }
        c.weights(s)?;
    }
    Ok(())
}

/// `out = x·s + c`, rounded after the product and after the sum.
pub(crate) fn forward<T: Scalar>(g: &Graph<'_, T>, scale: Span, shift: Span, x: &[T], out: &mut [T]) {
    let (sc, sh) = (&g.weights[scale.range()], &g.weights[shift.range()]);
    for (j, o) in out.iter_mut().enumerate() {
        *o = x[j].mul(broadcast(sc, j, T::ONE)).add(broadcast(sh, j, T::ZERO));
    }
}

/// IBP: the scaled interval plus the shift, and the deployed rounding of both operations
/// (`γ₂·(max|x·s| + |c|) + η`, also the slack).
pub(crate) fn ibp<T: Scalar>(g: &Graph<'_, T>, xo: usize, scale: Span, shift: Span, cx: &mut IbpCx<'_, T>) {
    let (sc, sh) = (&g.weights[scale.range()], &g.weights[shift.range()]);
    let g2 = T::from_f64_up(gamma(2, cx.deploy.rel));
    let eta = T::from_f64_up(cx.deploy.abs);
    for k in 0..cx.out_lo.len() {
        let s = broadcast(sc, k, T::ONE);
        let c = broadcast(sh, k, T::ZERO);
        let (xl, xh) = (cx.lo[xo + k], cx.hi[xo + k]);
        let (l, h) =
            if s >= T::ZERO { (xl.mul_down(s), xh.mul_up(s)) } else { (xh.mul_down(s), xl.mul_up(s)) };
        let e = g2.mul_up(l.abs().max_of(h.abs()).add_up(c.abs())).add_up(eta);
        cx.out_lo[k] = l.add_down(c).sub_down(e);
        cx.out_hi[k] = h.add_up(c).add_up(e);
        cx.aux[k] = e;
    }
}

/// CROWN's step: an elementwise line with slope `s` and intercept `c` (exact, no relaxation).
pub(crate) fn backward<T: Scalar>(
    g: &Graph<'_, T>,
    x: NodeId,
    scale: Span,
    shift: Span,
    cx: &mut BackCx<'_, T>,
) {
    let len = cx.len;
    let xo = g.offset(x);
    let (bx, _) = cx.reach(g, x);
    let (sc, sh) = (&g.weights[scale.range()], &g.weights[shift.range()]);
    let k_err = SumErr::new(len);
    let (lo, hi) = (&cx.lo[xo..xo + len], &cx.hi[xo..xo + len]);
    for r in 0..cx.rows {
        let arow = &cx.own[r * len..(r + 1) * len];
        let dst = &mut cx.a[bx + r * len..bx + (r + 1) * len];
        let acc =
            elementwise_row(arow, dst, lo, hi, |k, _| (broadcast(sc, k, T::ONE), broadcast(sh, k, T::ZERO)));
        cx.bias[r] = acc.apply(cx.bias[r], &k_err);
    }
}

/// Element `r` as `s_r·x_r + c_r` (see [`super::Terms`]).
pub(crate) fn terms<T: Scalar>(g: &Graph<'_, T>, scale: Span, shift: Span, r: usize) -> super::Terms<T> {
    let (sc, sh) = (&g.weights[scale.range()], &g.weights[shift.range()]);
    super::Terms {
        n: 1,
        t: [(0, r, broadcast(sc, r, T::ONE)), (0, 0, T::ZERO)],
        b: broadcast(sh, r, T::ZERO),
    }
}

/// The attack's reverse step.
pub(crate) fn gradient<T: Scalar>(g: &Graph<'_, T>, scale: Span, own: &[T], xo: usize, head: &mut [T]) {
    let sc = &g.weights[scale.range()];
    for (k, &gk) in own.iter().enumerate() {
        head[xo + k] = head[xo + k].add(gk.mul(broadcast(sc, k, T::ONE)));
    }
}
