//! `a + b` and `a − b` elementwise (`Op::Add`, `Op::Sub`).

use super::{BackCx, IbpCx, Route};
use crate::graph::{Graph, NodeId};
use crate::num::Scalar;

/// `out = a ± b`.
pub(crate) fn forward<T: Scalar>(a: &[T], b: &[T], sub: bool, out: &mut [T]) {
    for ((o, p), q) in out.iter_mut().zip(a).zip(b) {
        *o = if sub { p.sub(*q) } else { p.add(*q) };
    }
}

/// IBP: the interval sum, plus the deployed rounding (`2u·max|result|`, also the slack).
pub(crate) fn ibp<T: Scalar>(ao: usize, bo: usize, sub: bool, cx: &mut IbpCx<'_, T>) {
    let u2 = T::from_f64_up(2.0 * cx.deploy.rel);
    for k in 0..cx.out_lo.len() {
        let (al, ah) = (cx.lo[ao + k], cx.hi[ao + k]);
        let (bl, bh) =
            if sub { (cx.hi[bo + k].neg(), cx.lo[bo + k].neg()) } else { (cx.lo[bo + k], cx.hi[bo + k]) };
        let l = al.add_down(bl);
        let h = ah.add_up(bh);
        let e = u2.mul_up(l.abs().max_of(h.abs()));
        cx.out_lo[k] = l.sub_down(e);
        cx.out_hi[k] = h.add_up(e);
        cx.aux[k] = e;
    }
}

/// CROWN's step: the rows copied into `a`'s and (negated for `Sub`) `b`'s.
pub(crate) fn backward<T: Scalar>(g: &Graph<'_, T>, a: NodeId, b: NodeId, sub: bool, cx: &mut BackCx<'_, T>) {
    cx.route(g, a, Route::Same { from: 0 }, false);
    cx.route(g, b, Route::Same { from: 0 }, sub);
}

/// The attack's reverse step.
pub(crate) fn gradient<T: Scalar>(own: &[T], ao: usize, bo: usize, sub: bool, head: &mut [T]) {
    for (k, &gk) in own.iter().enumerate() {
        head[ao + k] = head[ao + k].add(gk);
        head[bo + k] = if sub { head[bo + k].sub(gk) } else { head[bo + k].add(gk) };
    }
}
