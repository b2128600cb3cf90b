//! GeLU `x·Φ(x)` (exact, erf-based): concave on `(−∞, −√2]`, convex on `[−√2, √2]`, concave on
//! `[√2, ∞)` (`f'' = φ(x)(2 − x²)`), global minimum `≈ −0.16997` at `x ≈ −0.75179` (notes §2.3).
//!
//! The inflections `±√2` are bracketed by the f64 neighbours of `SQRT_2` (which is within half an
//! ulp of √2). Slopes: one curvature → chord + tangent at the midpoint; one inflection inside → the
//! S-shaped construction (or its mirror); both inside → lower: tangent at the midpoint clamped to
//! the tangent points `[t1, t2]` of the convex middle whose tangents pass below `(l, f(l))` and
//! `(u, f(u))` (the convex envelope's supporting line; the chord if no such tangent exists), upper:
//! the chord (notes). The intercepts are rigorous (engine).
//!
//! Error model. Both evaluations compute `0.5·x·erfc(−x/√2)`; the rounding of the argument `−x/√2`
//! is amplified by `erfc`'s relative sensitivity `≈ 2z² = x²` in the left tail, so the relative
//! error there grows like `x²·u` (`u` the unit roundoff). Since `|f(x)|·x² ≤ 0.2257` for `x < 0`
//! (maximum at `x ≈ −1.528`), the absolute error stays tiny.

use core::f64::consts::{FRAC_1_SQRT_2, SQRT_2};

use super::engine::{self, Ctx, EPS, ETA, F32_ABS, Fun, Pieces, Shape};
use super::{Relax, RelaxError};

/// f32 model: `|value_f32 − f| ≤ 2^-24·(C0_32·|f| + C1_32·x²·|f|)` (for `x < 0`; without the `x²`
/// term for `x ≥ 0`), plus f32 underflow. The measured errors (dense sweep of [−20, 20]) fit
/// `2^-24·2.09·|f|` for `x ≥ 0` and `2^-24·(2.0 + 2.0·x²)·|f|` for `x < 0`; the constants are
/// about twice (x²: exactly twice) and four times (constant term) those.
pub(super) const C0_32: f64 = 8.0;
/// See [`C0_32`].
pub(super) const C1_32: f64 = 4.0;
/// Bound of `sup_{x<0} x²·|f(x)|` (0.22567 at x ≈ −1.5284).
const X2F_MAX: f64 = 0.23;
/// A lower bound of GeLU's global minimum −0.169971207479903…
const GMIN_LO: f64 = -0.169_971_21;
/// A bracket of the minimiser −0.751791524693564…
const XMIN: (f64, f64) = (-0.7518, -0.7517);
/// `1/√(2π)`.
const INV_SQRT_2PI: f64 = 0.398_942_280_401_432_7;

/// GeLU in f64 (`−∞ ↦ 0`, the limit).
pub(super) fn gelu(x: f64) -> f64 {
    if x == f64::NEG_INFINITY {
        return 0.0;
    }
    0.5 * x * libm::erfc(-x * FRAC_1_SQRT_2)
}

/// The deployed f32 GeLU: `0.5·x·erfcf(−x/√2)` (erfc form: no cancellation in the left tail).
pub(super) fn gelu_f32(x: f32) -> f32 {
    0.5 * x * libm::erfcf(-x * core::f32::consts::FRAC_1_SQRT_2)
}

pub(super) struct Gelu;

/// `x²` capped (beyond |x| = 1000 every term it multiplies is 0 or exact).
fn x2(x: f64) -> f64 {
    (x * x).min(1e6)
}

impl Fun for Gelu {
    fn f(&self, x: f64) -> f64 {
        gelu(x)
    }
    /// `Φ(x) + x·φ(x)`.
    fn df(&self, x: f64) -> f64 {
        0.5 * libm::erfc(-x * FRAC_1_SQRT_2) + x * (libm::exp(-0.5 * x * x) * INV_SQRT_2PI)
    }
    /// erfc (≤ 2 ulps) and 2 roundings, plus the amplified argument rounding for `x < 0`
    /// (`(2x² + 6)·EPS`): `(32 + 2x²)·EPS` relative.
    fn f_err(&self, x: f64, fx: f64) -> f64 {
        let k = if x < 0.0 { 32.0 + 2.0 * x2(x) } else { 32.0 };
        k * EPS * fx.abs() + ETA
    }
    /// Φ as in `f_err`; `x·φ(x)` has relative error `≤ (x²/2 + 6)·EPS` (the rounding of `x²`
    /// is amplified by the exponential); the sum adds one rounding.
    fn df_err(&self, x: f64, _d: f64) -> f64 {
        let phi_big = 0.5 * libm::erfc(-x * FRAC_1_SQRT_2);
        let xphi = (x * libm::exp(-0.5 * x * x) * INV_SQRT_2PI).abs();
        let kp = if x < 0.0 { 32.0 + 2.0 * x2(x) } else { 32.0 };
        (kp * phi_big + (x2(x) + 16.0) * xphi) * EPS * (1.0 + 1e-6) + ETA
    }
    fn pieces(&self, l: f64, u: f64) -> Pieces {
        let b = SQRT_2.next_up();
        let a = SQRT_2.next_down();
        Pieces::from_breaks(l, u, &[(-b, -a), (a, b)], &[Shape::Concave, Shape::Convex, Shape::Concave])
    }
    /// `|GeLU'| ≤ 1.1290` everywhere.
    fn lip(&self, _p: f64, _q: f64) -> f64 {
        1.13
    }
}

/// Computed image: monotone on each side of the minimiser.
pub(super) fn range(l: f64, u: f64) -> (f64, f64) {
    let (fl, fu) = (gelu(l), gelu(u));
    let lo = if l <= XMIN.1 && u >= XMIN.0 { GMIN_LO } else { fl.min(fu) };
    (lo, fl.max(fu))
}

/// Total error bound on `[l, u]` with `|f| ≤ fmax`: f32 and f64 models (see the module doc), with
/// `x²·|f| ≤ min(fmax·l², 0.23)` on the negative part.
pub(super) fn err(l: f64, fmax: f64) -> f64 {
    let xn = if l < 0.0 { -l } else { 0.0 };
    let x2f = if xn == 0.0 || fmax == 0.0 { 0.0 } else { (fmax * xn * xn).min(X2F_MAX) };
    let e32 = (C0_32 * fmax + C1_32 * x2f) / 16_777_216.0;
    let e64 = (32.0 * fmax + 2.0 * x2f) * EPS;
    (e32 + e64) * (1.0 + 1e-6) + F32_ABS + ETA
}

/// Lines on finite `[l, u]`.
pub(super) fn relax(ctx: &Ctx) -> Result<Relax, RelaxError> {
    let g = Gelu;
    let (l, u) = (ctx.l, ctx.u);
    let mut pcs = g.pieces(l, u);
    pcs.fill(&g);
    if l == u {
        return engine::const_slope(&g, ctx, &pcs);
    }
    let left = l < -SQRT_2 && -SQRT_2 < u;
    let right = l < SQRT_2 && SQRT_2 < u;
    match (left, right) {
        (false, false) => {
            let m = ctx.mid();
            engine::single_shape(&g, ctx, &pcs, m.abs() < SQRT_2)
        }
        (false, true) => engine::s_shape(&g, ctx, &pcs, SQRT_2),
        (true, false) => engine::inverse_s_shape(&g, ctx, -SQRT_2),
        (true, true) => {
            let (fl, fu) = (g.f(l), g.f(u));
            let (a, b) = (-SQRT_2, SQRT_2);
            // Tangent at t (convex middle) lies below f(l) at l for t ≥ t1, below f(u) at u for
            // t ≤ t2 (the tangent's value at l decreases with t, at u increases).
            let vl = |t: f64| g.f(t) + g.df(t) * (l - t) <= fl;
            let vu = |t: f64| g.f(t) + g.df(t) * (u - t) <= fu;
            let t1 = if vl(a) {
                a
            } else if !vl(b) {
                f64::INFINITY
            } else {
                engine::bisect(b, a, vl)
            };
            let t2 = if vu(b) {
                b
            } else if !vu(a) {
                f64::NEG_INFINITY
            } else {
                engine::bisect(a, b, vu)
            };
            let k = engine::chord(&g, l, u);
            let lower = if t1 <= t2 {
                let t = ctx.mid().max(t1).min(t2);
                engine::lower_line(&g, ctx, &pcs, g.df(t), Some(t))?
            } else {
                engine::lower_line(&g, ctx, &pcs, k, None)?
            };
            let upper = engine::upper_line(&g, ctx, &pcs, k, None)?;
            Ok(Relax { lower, upper })
        }
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
    fn gelu_sound() {
        check_op_sound(Unary::Gelu, 100_000, 0x5eed_0301);
    }

    fn model32(x: f64, v: f64) -> f64 {
        let k = if x < 0.0 { C0_32 + C1_32 * x * x } else { C0_32 };
        k * v.abs() / 16_777_216.0 + F32_ABS
    }

    #[test]
    fn gelu_ulp_sweep() {
        let mut worst = (0.0f64, 0.0f64);
        for (lo, hi, stride) in [(-20.0f32, 20.0f32, 257), (-f32::MAX, f32::MAX, 65_537)] {
            let w = sweep_f32(Unary::Gelu, lo, hi, stride, model32);
            worst = (worst.0.max(w.0), worst.1.max(w.1));
        }
        println!("Gelu: max |value_f32 - value| = {:.3} f32 ulps; model usage {:.3}", worst.0, worst.1);
        assert!(worst.1 <= 0.5, "Gelu: f32 error uses {} of the margin", worst.1);
    }

    #[test]
    fn gelu_constants() {
        // x²·|GeLU(x)| for x < 0 stays below X2F_MAX; the minimum is above GMIN_LO and inside XMIN.
        let mut m: f64 = 0.0;
        let mut gmin = f64::INFINITY;
        let mut argmin = 0.0;
        let mut x = -40.0;
        while x < 0.0 {
            m = m.max(x * x * gelu(x).abs());
            if gelu(x) < gmin {
                gmin = gelu(x);
                argmin = x;
            }
            x += 1e-5;
        }
        assert!(m < X2F_MAX, "{m}");
        assert!(gmin > GMIN_LO && gmin < GMIN_LO + 1e-8, "{gmin}");
        assert!(argmin > XMIN.0 && argmin < XMIN.1);
        // |GeLU'| ≤ lip
        let mut x = -10.0;
        while x < 10.0 {
            assert!(Gelu.df(x).abs() < 1.13);
            x += 1e-4;
        }
    }

    #[test]
    fn gelu_special() {
        let r = relax(Unary::Gelu, f64::NEG_INFINITY, 1.0).unwrap();
        assert!(r.lower.bias <= GMIN_LO && r.upper.bias >= gelu(1.0));
        assert_eq!(relax(Unary::Gelu, 0.0, f64::INFINITY), Err(RelaxError::Overflow));
        let tiny = f64::from_bits(1);
        for &(l, u) in &[
            (-tiny, tiny),
            (-1e30, 1e30),
            (-1e30, -1e30),
            (1e30, 1e30),
            (-1e30, -1e29),
            (-40.0, -38.0),
            (-15.0, -13.0),
            (-SQRT_2, SQRT_2),
            (-SQRT_2.next_up(), SQRT_2.next_down()),
            (SQRT_2, SQRT_2),
            (-0.751_791_524_693_564_5, -0.751_791_524_693_564_5),
            (-0.8, -0.7),
            (-3.0, 3.0),
            (-1e-12, 1e-12),
            (-100.0, 1e3),
            (f32::MAX as f64, f32::MAX as f64),
        ] {
            check_interval_sound(Unary::Gelu, l, u, 300);
        }
    }

    #[test]
    fn gelu_tight() {
        let mut rng = Rng::new(13);
        let (mut gap, mut height) = (0.0, 0.0);
        for _ in 0..20_000 {
            let l = rng.range(-5.0, 5.0);
            let u = l + rng.range(0.05, 5.0);
            let r = relax(Unary::Gelu, l, u).unwrap();
            let m = 0.5 * (l + u);
            gap += r.upper.eval(m) - r.lower.eval(m);
            let (a, b) = interval(Unary::Gelu, l, u).unwrap();
            height += b - a;
        }
        println!("Gelu: mean line gap / mean image height = {:.4}", gap / height);
        assert!(gap < 0.3 * height, "{gap} vs {height}");
    }
}
