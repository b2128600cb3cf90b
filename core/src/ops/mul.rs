//! The elementwise product of two variables (`Op::Mul`), the graph's bilinear op.
//!
//! Each element is relaxed by two McCormick planes, cached as `[ax, ay, c, bx, by, d]`
//! (`ax·x + ay·y + c ≤ x·y ≤ bx·x + by·y + d` on the operands' box); the planes and the interval
//! cover the f32 product too (`relax::mul_relax`, `relax::mul_interval`), so no deployed error is
//! charged on top for f32. [`super::matmul`] relaxes each of its terms the same way.

use super::{BackCx, BoundError, Deploy, Elem, IbpCx};
use crate::graph::{Graph, NodeId};
use crate::num::Scalar;
use crate::relax;

/// `out = a ⊙ b`.
pub(crate) fn forward<T: Scalar>(a: &[T], b: &[T], out: &mut [T]) {
    for ((o, p), q) in out.iter_mut().zip(a).zip(b) {
        *o = p.mul(*q);
    }
}

/// Cache the planes of the product of node-value elements `a` and `b` into `lines` (6 scalars)
/// from their intervals; returns the product's interval image (covering the f32 product too).
/// Computed in `T` ([`relax::mccormick`]): on a single-precision core, in hardware.
pub(crate) fn relax_element<T: Scalar>(
    (lo, hi): (&[T], &[T]),
    a: usize,
    b: usize,
    lines: &mut [T],
) -> Result<(f64, f64), BoundError> {
    let m = relax::mccormick((lo[a], hi[a]), (lo[b], hi[b]), 0.0)?;
    lines[..3].copy_from_slice(&m.lower);
    lines[3..6].copy_from_slice(&m.upper);
    Ok((m.lo.to_f64(), m.hi.to_f64()))
}

/// IBP: every element's planes and interval. The deployed f32 product's rounding is inside
/// `mul_relax`/`mul_interval` already; the slack is kept for a deployed arithmetic coarser than
/// f32.
pub(crate) fn ibp<T: Scalar>(ao: usize, bo: usize, cx: &mut IbpCx<'_, T>) -> Result<(), BoundError> {
    let u2 = 2.0 * cx.deploy.rel;
    for k in 0..cx.out_lo.len() {
        let (pl, ph) = relax_element((cx.lo, cx.hi), ao + k, bo + k, &mut cx.lines[6 * k..6 * k + 6])?;
        let e = (pl.abs().max(ph.abs()) * u2 + cx.deploy.abs) * 1.000_001;
        cx.out_lo[k] = T::from_f64_down(pl);
        cx.out_hi[k] = T::from_f64_up(ph);
        cx.aux[k] = if cx.deploy.rel > Deploy::F32.rel { T::from_f64_up(e) } else { T::ZERO };
    }
    Ok(())
}

/// CROWN's step: each row's coefficient `a` takes the lower plane (`a > 0`) or the upper one, its
/// constant goes into the bias and its two slopes into the operands' rows, each update charged its
/// rounding (`2u(|t| + |dst|) + η` times the operand's magnitude).
pub(crate) fn backward<T: Scalar>(g: &Graph<'_, T>, na: NodeId, nb: NodeId, cx: &mut BackCx<'_, T>) {
    let len = cx.len;
    let (ao, bo) = (g.offset(na), g.offset(nb));
    let (ba, _) = cx.reach(g, na);
    let (bb, _) = cx.reach(g, nb);
    let two_u = T::from_f64_up(2.0 * T::REL_ERR * 1.000_001);
    let eta = T::from_f64_up(T::ABS_ERR);
    if let Some(buf) = cx.elem_a.as_deref_mut() {
        for k in 0..len {
            buf[6 * k] = cx.own[k];
        }
    }
    for k in 0..len {
        let c = &cx.lines[6 * k..6 * k + 6];
        let (lp, up) = ((c[0], c[1], c[2]), (c[3], c[4], c[5]));
        let (ma, mb) = (cx.mag(ao + k), cx.mag(bo + k));
        for r in 0..cx.rows {
            let a = cx.own[r * len + k];
            if a == T::ZERO {
                continue;
            }
            let (px, py, pc) = if a > T::ZERO { lp } else { up };
            cx.bias[r] = cx.bias[r].add_down(a.mul_down(pc));
            for (bx, coef, m) in [(ba, px, ma), (bb, py, mb)] {
                let t = a.mul(coef);
                let dst = &mut cx.a[bx + r * len + k];
                *dst = dst.add(t);
                let err = two_u.mul_up(t.abs().add_up(dst.abs())).add_up(eta);
                cx.bias[r] = cx.bias[r].sub_down(err.mul_up(m));
            }
        }
    }
}

/// Every element is relaxed (cache block `lb + 6k`).
pub(crate) fn elements(ao: usize, bo: usize, len: usize, lb: usize, visit: &mut impl FnMut(usize, Elem)) {
    for k in 0..len {
        visit(lb + 6 * k, Elem::Mul(ao + k, bo + k));
    }
}

/// The value at `(x, y)` of the plane cached at `lines[c..]` that coefficient `coef[c]` chose
/// (the lower one for a non-negative coefficient).
#[inline]
pub(crate) fn on_plane<T: Scalar>(lines: &[T], coef: &[T], c: usize, x: T, y: T) -> T {
    let p = if coef[c] >= T::ZERO { &lines[c..c + 3] } else { &lines[c + 3..c + 6] };
    p[0].mul(x).add(p[1].mul(y)).add(p[2])
}

/// α-CROWN's primal value: each element on its chosen plane.
pub(crate) fn primal<T: Scalar>(lines: &[T], coef: &[T], a: &[T], b: &[T], out: &mut [T]) {
    for (k, o) in out.iter_mut().enumerate() {
        *o = on_plane(lines, coef, 6 * k, a[k], b[k]);
    }
}

/// The attack's reverse step: `∂(a·b)/∂a = b`, `∂/∂b = a`.
pub(crate) fn gradient<T: Scalar>(own: &[T], values: &[T], ao: usize, bo: usize, head: &mut [T]) {
    for (k, &gk) in own.iter().enumerate() {
        let (va, vb) = (values[ao + k], values[bo + k]);
        head[ao + k] = head[ao + k].add(gk.mul(vb));
        head[bo + k] = head[bo + k].add(gk.mul(va));
    }
}
