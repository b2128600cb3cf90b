//! Product of two variable matrices (ONNX `MatMul` of two variables, batched): attention's
//! `Q·Kᵀ` and `softmax·V`.
//!
//! `y[t, i, j] = Σ_l a[t, i, l]·b[t, l, j]` for `t < nb`, `i < n`, `j < m`, `l < k`, all
//! row-major. Lowered to gathers, elementwise products and sums, this materialised three values
//! per product term (a ViT with 17 tokens: 250,000 values for six products); kept whole, it costs
//! its output values plus one relaxation (two McCormick planes, 6 scalars) per product term in the
//! relaxation cache, and the engines walk the terms in place: term `(out, l)` of output element
//! `out = (t·n + i)·m + j` reads `a[(t·n + i)·k + l]` and `b[(t·k + l)·m + j]`. Each term is
//! relaxed as an elementwise product is ([`super::mul`]).

use super::rows::{RowSums, SumErr};
use super::{BackCx, BoundError, Check, Elem, IbpCx, mul};
use crate::graph::{Graph, GraphError, Node, NodeId, Op};
use crate::num::{Scalar, gamma};

/// Shape of a batched matrix product, derived from the operand lengths and the op's `n`, `k`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MatMulDims {
    /// Batch count.
    pub nb: usize,
    /// Rows of `a` (and of the output).
    pub n: usize,
    /// Columns of `a`, rows of `b`: the terms per output element.
    pub k: usize,
    /// Columns of `b` (and of the output).
    pub m: usize,
}

impl MatMulDims {
    /// The shape for operands of `len_a` and `len_b` elements, output of `len`, with `n` rows and
    /// `k` terms; `None` unless `len_a = nb·n·k`, `len_b = nb·k·m` and `len = nb·n·m` for whole
    /// positive `nb`, `m`.
    pub fn new(len_a: usize, len_b: usize, len: usize, n: usize, k: usize) -> Option<MatMulDims> {
        let nk = n.checked_mul(k).filter(|&v| v > 0)?;
        if len_a == 0 || !len_a.is_multiple_of(nk) {
            return None;
        }
        let nb = len_a / nk;
        let nbn = nb * n;
        if len == 0 || !len.is_multiple_of(nbn) {
            return None;
        }
        let m = len / nbn;
        (nb.checked_mul(k)?.checked_mul(m)? == len_b).then_some(MatMulDims { nb, n, k, m })
    }

    /// Length of `a` (`nb·n·k`).
    pub fn a_len(&self) -> usize {
        self.nb * self.n * self.k
    }
    /// Length of `b` (`nb·k·m`).
    pub fn b_len(&self) -> usize {
        self.nb * self.k * self.m
    }

    /// Operand indices of term `l` of output element `out`: `(index into a, index into b)`.
    #[inline]
    pub fn operands(&self, out: usize, l: usize) -> (usize, usize) {
        let (row, j) = (out / self.m, out % self.m); // row = t·n + i
        let t = row / self.n;
        (row * self.k + l, (t * self.k + l) * self.m + j)
    }

    /// `y = a·b` in `T`'s nearest arithmetic, each dot product summed in `l` order from zero (the
    /// forward value every evaluator of the core uses).
    pub fn forward<T: Scalar>(&self, a: &[T], b: &[T], out: &mut [T]) {
        for (o, y) in out.iter_mut().enumerate() {
            let mut acc = T::ZERO;
            for l in 0..self.k {
                let (ia, ib) = self.operands(o, l);
                acc = acc.add(a[ia].mul(b[ib]));
            }
            *y = acc;
        }
    }
}

impl<T: Scalar> Graph<'_, T> {
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
}

/// Shape check: the lengths fit a batched product, and the relaxation cache (6 scalars per
/// term) stays indexable.
pub(crate) fn check<T: Scalar>(c: &Check<'_, '_, T>) -> Result<(), GraphError> {
    let Some(d) = c.g.matmul(c.node) else {
        return Err(c.mismatch());
    };
    if (c.node.len as usize).checked_mul(d.k).and_then(|v| v.checked_mul(6)).is_none() {
        return Err(GraphError::TooLarge);
    }
    Ok(())
}

/// IBP: each term's interval and planes cover its f32 product (see `relax::mul_relax`); the
/// deployed dot product adds at most `γ_{k+1}·Σ|p_l| + (k+1)η` for its sum (any order, with or
/// without fused multiply-adds), charged here and as the slack.
pub(crate) fn ibp<T: Scalar>(
    g: &Graph<'_, T>,
    node: &Node,
    ao: usize,
    bo: usize,
    cx: &mut IbpCx<'_, T>,
) -> Result<(), BoundError> {
    let d = g.matmul(node).ok_or(BoundError::Shape)?;
    let g_dep = T::from_f64_up(gamma(d.k + 1, cx.deploy.rel));
    let eta_d = T::from_f64_up(cx.deploy.abs * (d.k as f64 + 1.0));
    for o in 0..node.len as usize {
        let (mut l, mut h, mut mags) = (T::ZERO, T::ZERO, T::ZERO);
        for t in 0..d.k {
            let (ia, ib) = d.operands(o, t);
            let c = 6 * (o * d.k + t);
            let (pl, ph) = mul::relax_element((cx.lo, cx.hi), ao + ia, bo + ib, &mut cx.lines[c..c + 6])?;
            let (pl, ph) = (T::from_f64_down(pl), T::from_f64_up(ph));
            l = l.add_down(pl);
            h = h.add_up(ph);
            mags = mags.add_up(pl.abs().max_of(ph.abs()));
        }
        let e = g_dep.mul_up(mags).add_up(eta_d);
        cx.out_lo[o] = l.sub_down(e);
        cx.out_hi[o] = h.add_up(e);
        cx.aux[o] = e;
    }
    Ok(())
}

/// CROWN's step: term by term as for an elementwise product, each plane's coefficients added into
/// the two operands' rows; per row, plain sums whose rounding is bounded once (`RowSums`, over the
/// row's at most `2·len·k` updates).
pub(crate) fn backward<T: Scalar>(
    g: &Graph<'_, T>,
    node: &Node,
    na: NodeId,
    nb: NodeId,
    cx: &mut BackCx<'_, T>,
) -> Result<(), BoundError> {
    let d = g.matmul(node).ok_or(BoundError::Shape)?;
    let len = cx.len;
    let (ao, bo) = (g.offset(na), g.offset(nb));
    let (la, lbl) = (d.a_len(), d.b_len());
    let (ba, _) = cx.reach(g, na);
    let (bb, _) = cx.reach(g, nb);
    // Every term of output element `o` sees that element's coefficient.
    if let Some(buf) = cx.elem_a.as_deref_mut() {
        for o in 0..len {
            for t in 0..d.k {
                buf[6 * (o * d.k + t)] = cx.own[o];
            }
        }
    }
    let k_err = SumErr::new(2 * len * d.k);
    let (lo, hi, lines) = (cx.lo, cx.hi, cx.lines);
    let mag = |x: usize| {
        let (l, h) = (lo[x].abs(), hi[x].abs());
        if h > l { h } else { l }
    };
    for r in 0..cx.rows {
        let mut acc = RowSums::new();
        for o in 0..len {
            let lam = cx.own[r * len + o];
            if lam == T::ZERO {
                continue;
            }
            let side = if lam > T::ZERO { 0 } else { 3 };
            for t in 0..d.k {
                let (ia, ib) = d.operands(o, t);
                let c = 6 * (o * d.k + t) + side;
                acc.add_product(lam.mul(lines[c + 2]));
                for (at, coef, x) in
                    [(ba + r * la + ia, lines[c], ao + ia), (bb + r * lbl + ib, lines[c + 1], bo + ib)]
                {
                    let tv = lam.mul(coef);
                    let new = cx.a[at].add(tv);
                    cx.a[at] = new;
                    let m = mag(x);
                    acc.err = acc.err.add(tv.abs().add(new.abs()).mul(m));
                    acc.mags = acc.mags.add(m);
                }
            }
        }
        cx.bias[r] = acc.apply(cx.bias[r], &k_err);
    }
    Ok(())
}

/// Every product term is a relaxed element (cache block `lb + 6·(o·k + t)`).
pub(crate) fn elements(
    d: &MatMulDims,
    ao: usize,
    bo: usize,
    len: usize,
    lb: usize,
    visit: &mut impl FnMut(usize, Elem),
) {
    for o in 0..len {
        for t in 0..d.k {
            let (ia, ib) = d.operands(o, t);
            visit(lb + 6 * (o * d.k + t), Elem::Mul(ao + ia, bo + ib));
        }
    }
}

/// α-CROWN's primal value: each term on the plane its coefficient's sign chose, summed.
pub(crate) fn primal<T: Scalar>(d: &MatMulDims, lines: &[T], coef: &[T], a: &[T], b: &[T], out: &mut [T]) {
    for (o, y) in out.iter_mut().enumerate() {
        let mut acc = T::ZERO;
        for t in 0..d.k {
            let (ia, ib) = d.operands(o, t);
            acc = acc.add(mul::on_plane(lines, coef, 6 * (o * d.k + t), a[ia], b[ib]));
        }
        *y = acc;
    }
}

/// The attack's reverse step: `∂y_o/∂a = b`, `∂y_o/∂b = a` per term.
pub(crate) fn gradient<T: Scalar>(
    d: &MatMulDims,
    own: &[T],
    values: &[T],
    ao: usize,
    bo: usize,
    head: &mut [T],
) {
    for (o, &go) in own.iter().enumerate() {
        if go == T::ZERO {
            continue;
        }
        for t in 0..d.k {
            let (ia, ib) = d.operands(o, t);
            let (va, vb) = (values[ao + ia], values[bo + ib]);
            head[ao + ia] = head[ao + ia].add(go.mul(vb));
            head[bo + ib] = head[bo + ib].add(go.mul(va));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_and_operands() {
        // 2 batches of (3 × 4)·(4 × 5).
        let d = MatMulDims::new(2 * 3 * 4, 2 * 4 * 5, 2 * 3 * 5, 3, 4).unwrap();
        assert_eq!(d, MatMulDims { nb: 2, n: 3, k: 4, m: 5 });
        // Output (t=1, i=2, j=3), term l=1: a[1,2,1], b[1,1,3].
        let out = (3 + 2) * 5 + 3;
        assert_eq!(d.operands(out, 1), ((3 + 2) * 4 + 1, (4 + 1) * 5 + 3));
        assert_eq!(MatMulDims::new(24, 40, 29, 3, 4), None);
        assert_eq!(MatMulDims::new(24, 41, 30, 3, 4), None);
        assert_eq!(MatMulDims::new(24, 40, 30, 0, 4), None);
        assert_eq!(MatMulDims::new(25, 40, 30, 3, 4), None);
    }

    #[test]
    fn forward_is_the_matrix_product() {
        let d = MatMulDims::new(2 * 2 * 3, 2 * 3 * 2, 2 * 2 * 2, 2, 3).unwrap();
        let a: [f64; 12] = core::array::from_fn(|i| i as f64 - 4.0);
        let b: [f64; 12] = core::array::from_fn(|i| (i * i) as f64 * 0.5 - 3.0);
        let mut y = [0.0; 8];
        d.forward(&a, &b, &mut y);
        for t in 0..2 {
            for i in 0..2 {
                for j in 0..2 {
                    let want: f64 = (0..3).map(|l| a[(t * 2 + i) * 3 + l] * b[(t * 3 + l) * 2 + j]).sum();
                    assert_eq!(y[(t * 2 + i) * 2 + j], want);
                }
            }
        }
    }
}
