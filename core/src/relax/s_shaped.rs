//! S-shaped functions: sigmoid and tanh (convex on `(−∞, 0]`, concave on `[0, ∞)`).
//!
//! On one side of 0: chord + tangent at the midpoint. Across 0: the S-shaped construction of
//! notes §2.1 ([`engine::s_shape`]): chord when valid, else the tangent at `min(m, d)` with `d`
//! found at call time by bisection so that the tangent through `d` passes the far endpoint (no
//! precomputed tables). The intercepts are computed rigorously by the engine.

use super::engine::{self, Ctx, EPS, ETA, F32_ABS, Fun, Pieces, Shape};
use super::{Relax, RelaxError};
use crate::unary::Unary;

/// Relative error bound of the deployed f32 sigmoid/tanh (`4·2^-23`, about 4 ulps at most,
/// twice the largest error measured by `s_shaped_ulp_sweep`).
pub(super) const REL32: f64 = 4.0 / 8_388_608.0;
/// Relative error bound of the f64 references (8 f64 ulps: libm's exp/expm1-based formulas are
/// within ~1 ulp, plus at most 3 roundings).
pub(super) const REL64: f64 = 16.0 * EPS;

/// Numerically stable sigmoid in f64 (`e/(1+e)` with `e = exp(x)` below 0).
pub(super) fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + libm::exp(-x))
    } else {
        let e = libm::exp(x);
        e / (1.0 + e)
    }
}

/// The deployed f32 sigmoid: the same stable formula with `expf`.
pub(super) fn sigmoid_f32(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + libm::expf(-x))
    } else {
        let e = libm::expf(x);
        e / (1.0 + e)
    }
}

/// Sigmoid (`tanh = false`) or tanh.
pub(super) struct SShape {
    pub tanh: bool,
}

impl Fun for SShape {
    fn f(&self, x: f64) -> f64 {
        if self.tanh { libm::tanh(x) } else { sigmoid(x) }
    }
    /// `σ' = e/(1+e)²` with `e = exp(−|x|)`; `tanh' = 4e/(1+e)²` with `e = exp(−2|x|)`
    /// (no cancellation for large `|x|`, unlike `σ(1−σ)` or `1 − tanh²`).
    fn df(&self, x: f64) -> f64 {
        let ax = x.abs();
        if self.tanh {
            let e = libm::exp(-2.0 * ax);
            let d = 1.0 + e;
            4.0 * e / (d * d)
        } else {
            let e = libm::exp(-ax);
            let d = 1.0 + e;
            e / (d * d)
        }
    }
    fn f_err(&self, _x: f64, fx: f64) -> f64 {
        REL64 * fx.abs() + ETA
    }
    /// exp (≤ 1 ulp) and ≤ 4 roundings (`2|x|` is exact): 16 EPS relative, plus underflow.
    fn df_err(&self, _x: f64, d: f64) -> f64 {
        16.0 * EPS * d.abs() + ETA
    }
    fn pieces(&self, l: f64, u: f64) -> Pieces {
        Pieces::from_breaks(l, u, &[(0.0, 0.0)], &[Shape::Convex, Shape::Concave])
    }
    fn lip(&self, _p: f64, _q: f64) -> f64 {
        1.0
    }
}

fn fun(f: Unary) -> SShape {
    SShape { tanh: f == Unary::Tanh }
}

/// Computed image (monotone increasing; the limits at ±∞ are exact: 0/1 and ±1).
pub(super) fn range(f: Unary, l: f64, u: f64) -> (f64, f64) {
    let s = fun(f);
    (s.f(l), s.f(u))
}

/// Total error bound over an interval with `|f| ≤ fmax`: f32 and f64 relative errors of the
/// image scale, plus f32 underflow (sigmoid's stable form yields subnormals below −87).
pub(super) fn err(_f: Unary, fmax: f64) -> f64 {
    (REL32 + REL64) * fmax + F32_ABS + ETA
}

/// Lines on finite `[l, u]`.
pub(super) fn relax(f: Unary, ctx: &Ctx) -> Result<Relax, RelaxError> {
    let s = fun(f);
    let mut pcs = s.pieces(ctx.l, ctx.u);
    pcs.fill(&s);
    if ctx.l == ctx.u {
        engine::const_slope(&s, ctx, &pcs)
    } else if ctx.u <= 0.0 {
        engine::single_shape(&s, ctx, &pcs, true)
    } else if ctx.l >= 0.0 {
        engine::single_shape(&s, ctx, &pcs, false)
    } else {
        engine::s_shape(&s, ctx, &pcs, 0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::super::*;
    #[allow(unused_imports)]
    use super::super::{interval, relax, value, value_f32};
    use super::*;
    use std::println;

    #[test]
    fn sigmoid_sound() {
        check_op_sound(Unary::Sigmoid, 100_000, 0x5eed_0101);
    }

    #[test]
    fn tanh_sound() {
        check_op_sound(Unary::Tanh, 100_000, 0x5eed_0102);
    }

    #[test]
    fn s_shaped_ulp_sweep() {
        for f in [Unary::Sigmoid, Unary::Tanh] {
            let worst = sweep_f32(f, -120.0, 120.0, 509, |_x, v| REL32 * v.abs() + F32_ABS);
            println!(
                "{f:?}: max |value_f32 - value| = {:.3} f32 ulps (of the result); model usage {:.3}",
                worst.0, worst.1
            );
            assert!(worst.1 <= 0.5, "{f:?}: f32 error uses {} of the margin", worst.1);
        }
    }

    #[test]
    fn s_shaped_special() {
        for f in [Unary::Sigmoid, Unary::Tanh] {
            let r = relax(f, f64::NEG_INFINITY, f64::INFINITY).unwrap();
            assert_eq!(r.lower.slope, 0.0);
            assert_eq!(r.upper.slope, 0.0);
            let lo = if f == Unary::Sigmoid { 0.0 } else { -1.0 };
            // Within the error model (libm's and onnxruntime's, see `deployed`) of the range.
            assert!(r.lower.bias <= lo && r.lower.bias > lo - 2e-6);
            assert!(r.upper.bias >= 1.0 && r.upper.bias < 1.0 + 2e-6);
            let r = relax(f, 1e30, 1e30).unwrap();
            assert_eq!(r.lower.slope, 0.0);
            assert!(r.lower.bias <= 1.0 && r.lower.bias > 1.0 - 2e-6, "{r:?}");
            assert!(r.upper.bias >= 1.0 && r.upper.bias < 1.0 + 2e-6, "{r:?}");
            let tiny = f64::from_bits(1);
            for &(l, u) in &[
                (-tiny, tiny),
                (0.0, tiny),
                (-tiny, 0.0),
                (-1e30, 1e30),
                (-1e30, -1e30),
                (-1e-30, 1e-30),
                (0.0f64.next_down(), 1.0),
                (-1.0, 0.0f64.next_up()),
                (1e-300, 1e300),
                (-1e300, -1e-300),
                (-1e-12, 1e-12),
                (2.0, 2.0 + 1e-12),
                (-88.0, -87.0),
                (-104.0, -100.0),
                (-700.0, 700.0),
                (f32::MAX as f64, 1e39),
                (f64::NEG_INFINITY, 0.0),
                (0.0, f64::INFINITY),
            ] {
                check_interval_sound(f, l, u, 200);
            }
        }
    }

    /// Tightness: the lines' average gap is much smaller than the image height, and tiny
    /// intervals are nearly exact.
    #[test]
    fn s_shaped_tight() {
        let mut rng = Rng::new(7);
        for f in [Unary::Sigmoid, Unary::Tanh] {
            let r = gap_ratio(f, &mut rng, (-6.0, 6.0), (0.05, 6.0));
            assert!(r < 0.4, "{f:?}: {r}");
            for _ in 0..1000 {
                let l = rng.range(-8.0, 8.0);
                let u = l + 1e-6;
                let r = relax(f, l, u).unwrap();
                let g = (r.upper.eval(l) - r.lower.eval(l)).max(r.upper.eval(u) - r.lower.eval(u));
                // Slope ≤ 1 over a width of 1e-6, plus twice the error model at |f| ≤ 1.
                assert!(
                    g < 1.2e-6 + 2.0 * super::super::deployed::err(f, l, u, 1.0),
                    "{f:?} [{l}, {u}] gap {g}"
                );
            }
        }
    }
}
