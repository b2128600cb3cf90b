//! An elementwise function (`Op::Unary`): every nonlinearity of [`Unary`], and negation and
//! absolute value.
//!
//! Each element is relaxed by two lines from [`crate::relax`], cached as `[sl, bl, su, bu]`
//! (`sl·x + bl ≤ f(x) ≤ su·x + bu` on the input's interval); the lines and the interval image
//! cover the deployed f32 function (libm's and onnxruntime's), so no slack is charged.

use super::rows::{SumErr, elementwise_row};
use super::{BackCx, BoundError, Check, Elem, IbpCx};
use crate::graph::{Graph, GraphError, NodeId};
use crate::num::{Format, Scalar};
use crate::relax;
use crate::unary::Unary;

/// Shape check: as long as its input, constants in range (a LeakyReLU slope in `[0, 1]`, a power
/// of at least 2).
pub(crate) fn check<T: Scalar>(c: &Check<'_, '_, T>, x: NodeId, f: Unary) -> Result<(), GraphError> {
    c.same_len(&[x])?;
    let bad = match f {
        Unary::LeakyRelu(a) => !(0.0..=1.0).contains(&a),
        Unary::Pow(n) => n < 2,
        _ => false,
    };
    if bad { Err(GraphError::BadConstant { node: c.id }) } else { Ok(()) }
}

/// `out = f(x)` in `T` (the deployed function for f32, see [`relax::apply`]).
pub(crate) fn forward<T: Scalar>(f: Unary, x: &[T], out: &mut [T]) {
    for (o, xi) in out.iter_mut().zip(x) {
        *o = relax::apply(f, *xi);
    }
}

/// Cache the lines of `f` on the interval of node-value element `inp` into `lines` (4 scalars);
/// returns the interval image. `narrow`: a narrow interval of a smooth function gets the
/// parallel Taylor lines ([`relax::narrow`]), the cheap choice for a forward engine, computed
/// in f32 when `T` is f32 (a core with a single-precision unit does the work in hardware).
pub(crate) fn relax_element<T: Scalar>(
    f: Unary,
    (lo, hi): (&[T], &[T]),
    inp: usize,
    lines: &mut [T],
    narrow: bool,
) -> Result<(f64, f64), BoundError> {
    if f == Unary::Relu
        && let Some((c, (a, b))) = relax::relu_lines(lo[inp], hi[inp])
    {
        lines[..4].copy_from_slice(&c);
        return Ok((a.to_f64(), b.to_f64()));
    }
    let (l, u) = (lo[inp].to_f64(), hi[inp].to_f64());
    if narrow && T::FORMAT == Format::F32 {
        // `T` is f32: the bounds are f32 numbers and the lines' f32 values are `T`'s exactly.
        if let Some((p, (a, b))) = relax::narrow_in::<f32>(f, l as f32, u as f32) {
            let t = |v: f32| T::from_f64_near(v as f64);
            lines[..4].copy_from_slice(&[t(p.s), t(p.b_lo), t(p.s), t(p.b_hi)]);
            return Ok((a as f64, b as f64));
        }
    }
    let (r, image) = match narrow.then(|| relax::narrow(f, l, u)).flatten() {
        Some(t) => t,
        None => (relax::relax(f, l, u)?, relax::interval(f, l, u)?),
    };
    let (sl, bl) = r.lower.to_scalar_lower::<T>(l, u);
    let (su, bu) = r.upper.to_scalar_upper::<T>(l, u);
    lines[..4].copy_from_slice(&[sl, bl, su, bu]);
    Ok(image)
}

/// IBP: every element's lines and interval image (which cover the deployed function: no slack).
pub(crate) fn ibp<T: Scalar>(f: Unary, xo: usize, cx: &mut IbpCx<'_, T>) -> Result<(), BoundError> {
    for k in 0..cx.out_lo.len() {
        let (il, iu) = relax_element(f, (cx.lo, cx.hi), xo + k, &mut cx.lines[4 * k..4 * k + 4], cx.coarse)?;
        cx.out_lo[k] = T::from_f64_down(il);
        cx.out_hi[k] = T::from_f64_up(iu);
    }
    Ok(())
}

/// CROWN's step: each row's coefficient takes the lower line (`a > 0`) or the upper one.
pub(crate) fn backward<T: Scalar>(g: &Graph<'_, T>, x: NodeId, cx: &mut BackCx<'_, T>) {
    let len = cx.len;
    let xo = g.offset(x);
    let (bx, _) = cx.reach(g, x);
    if let Some(buf) = cx.elem_a.as_deref_mut() {
        for k in 0..len {
            buf[4 * k] = cx.own[k];
        }
    }
    // Per row, plain sums (rounding bounded once at the end, see `RowSums`).
    let k_err = SumErr::new(len);
    let (lo, hi, lines) = (&cx.lo[xo..xo + len], &cx.hi[xo..xo + len], cx.lines);
    for r in 0..cx.rows {
        let arow = &cx.own[r * len..(r + 1) * len];
        let dst = &mut cx.a[bx + r * len..bx + (r + 1) * len];
        let acc = elementwise_row(arow, dst, lo, hi, |k, pos| {
            let c = &lines[4 * k..4 * k + 4];
            if pos { (c[0], c[1]) } else { (c[2], c[3]) }
        });
        cx.bias[r] = acc.apply(cx.bias[r], &k_err);
    }
}

/// Every element is relaxed (cache block `lb + 4k`).
pub(crate) fn elements(f: Unary, xo: usize, len: usize, lb: usize, visit: &mut impl FnMut(usize, Elem)) {
    for k in 0..len {
        visit(lb + 4 * k, Elem::Unary(f, xo + k));
    }
}

/// α-CROWN's primal value: each element on the line its coefficient's sign chose.
pub(crate) fn primal<T: Scalar>(lines: &[T], coef: &[T], x: &[T], out: &mut [T]) {
    for (k, o) in out.iter_mut().enumerate() {
        let c = 4 * k;
        let (s, b) = if coef[c] >= T::ZERO { (lines[c], lines[c + 1]) } else { (lines[c + 2], lines[c + 3]) };
        *o = s.mul(x[k]).add(b);
    }
}

/// The attack's reverse step: the gradient times `f'` at the forward value.
pub(crate) fn gradient<T: Scalar>(f: Unary, own: &[T], values: &[T], xo: usize, head: &mut [T]) {
    for (k, &gk) in own.iter().enumerate() {
        let d = derivative(f, values[xo + k].to_f64());
        let d = if d.is_finite() { T::from_f64_near(d) } else { T::ZERO };
        head[xo + k] = head[xo + k].add(gk.mul(d));
    }
}

/// Derivative of a unary op (for the search direction only).
pub fn derivative(f: Unary, x: f64) -> f64 {
    match f {
        Unary::Relu => (x > 0.0) as u8 as f64,
        Unary::LeakyRelu(a) => {
            if x > 0.0 {
                1.0
            } else {
                a as f64
            }
        }
        Unary::Sigmoid => {
            let s = 1.0 / (1.0 + libm::exp(-x));
            s * (1.0 - s)
        }
        Unary::Tanh => {
            let t = libm::tanh(x);
            1.0 - t * t
        }
        Unary::Sin => libm::cos(x),
        Unary::Cos => -libm::sin(x),
        Unary::Gelu => {
            let phi = libm::exp(-0.5 * x * x) / libm::sqrt(2.0 * core::f64::consts::PI);
            0.5 * (1.0 + libm::erf(x / core::f64::consts::SQRT_2)) + x * phi
        }
        Unary::GeluTanh => {
            let t = libm::tanh(0.797_884_560_802_865_4 * (x + 0.044_715 * x * x * x));
            0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * 0.797_884_560_802_865_4 * (1.0 + 0.134_145 * x * x)
        }
        Unary::Exp => libm::exp(x),
        Unary::Log => 1.0 / x,
        Unary::Reciprocal => -1.0 / (x * x),
        Unary::Sqrt => 0.5 / libm::sqrt(x),
        Unary::Pow(n) => n as f64 * libm::pow(x, n as f64 - 1.0),
        Unary::Neg => -1.0,
        Unary::Floor => 0.0,
        Unary::Abs => {
            if x >= 0.0 {
                1.0
            } else {
                -1.0
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derivatives_match_finite_differences() {
        let fs =
            [Unary::Sigmoid, Unary::Tanh, Unary::Sin, Unary::Cos, Unary::Gelu, Unary::Exp, Unary::Pow(3)];
        for f in fs {
            for &x in &[-2.0, -0.3, 0.7, 1.9] {
                let h = 1e-6;
                let fd = (crate::relax::value(f, x + h) - crate::relax::value(f, x - h)) / (2.0 * h);
                let d = derivative(f, x);
                // Only meaningful once relax::value is implemented for f.
                if fd.is_finite() && (crate::relax::value(f, x) - x).abs() > 0.0 {
                    assert!((fd - d).abs() < 1e-4 * (1.0 + d.abs()), "{f:?} at {x}: {fd} vs {d}");
                }
            }
        }
    }
}
