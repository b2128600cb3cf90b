//! The concatenation of the listed nodes (`Op::Concat`; node ids in `indices`): exact copies.

use super::{BackCx, Check, IbpCx, Route};
use crate::graph::{Graph, GraphError, Node};
use crate::num::Scalar;

/// Shape check: the parts' lengths add up to the node's.
pub(crate) fn check<T: Scalar>(c: &Check<'_, '_, T>) -> Result<(), GraphError> {
    let ins = c.node.op.inputs(c.g.indices);
    let total: u64 = (0..ins.len()).map(|k| c.g.nodes[ins.get(k) as usize].len as u64).sum();
    if total != c.node.len as u64 { Err(c.mismatch()) } else { Ok(()) }
}

/// Visit each part: `(part id, its first element in the output, its length)`.
fn parts<T: Scalar>(g: &Graph<'_, T>, node: &Node, mut visit: impl FnMut(u16, usize, usize)) {
    let ins = node.op.inputs(g.indices);
    let mut k0 = 0;
    for p in 0..ins.len() {
        let pid = ins.get(p);
        let pl = g.nodes[pid as usize].len as usize;
        visit(pid, k0, pl);
        k0 += pl;
    }
}

/// The parts' values one after another.
pub(crate) fn forward<T: Scalar>(g: &Graph<'_, T>, node: &Node, done: &[T], out: &mut [T]) {
    parts(g, node, |pid, k0, pl| out[k0..k0 + pl].copy_from_slice(g.of(done, pid)));
}

/// IBP: the parts' intervals (exact: no slack).
pub(crate) fn ibp<T: Scalar>(g: &Graph<'_, T>, node: &Node, cx: &mut IbpCx<'_, T>) {
    parts(g, node, |pid, k0, pl| {
        cx.out_lo[k0..k0 + pl].copy_from_slice(g.of(cx.lo, pid));
        cx.out_hi[k0..k0 + pl].copy_from_slice(g.of(cx.hi, pid));
    });
}

/// CROWN's step: each part takes its segment of the rows.
pub(crate) fn backward<T: Scalar>(g: &Graph<'_, T>, node: &Node, cx: &mut BackCx<'_, T>) {
    parts(g, node, |pid, k0, _| cx.route(g, pid, Route::Same { from: k0 }, false));
}

/// The attack's reverse step.
pub(crate) fn gradient<T: Scalar>(g: &Graph<'_, T>, node: &Node, own: &[T], head: &mut [T]) {
    parts(g, node, |pid, k0, pl| {
        let po = g.offset(pid);
        for j in 0..pl {
            head[po + j] = head[po + j].add(own[k0 + j]);
        }
    });
}
