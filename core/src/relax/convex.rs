//! Functions of one curvature: exp, reciprocal (`x > 0`), even powers (convex); log (`x > 0`),
//! sqrt (`x ≥ 0`) (concave); odd powers (concave on `x ≤ 0`, convex on `x ≥ 0`: inverse S).
//!
//! Chord on the side where it bounds, tangent at the midpoint on the other (area-optimal among
//! tangents); odd powers across 0 use the S-shaped construction mirrored. Intercepts from the
//! engine. The deployed f32 network uses `expf`, `logf`, `1/x`, `sqrtf` and `powf(x, n)`.

use super::engine::{self, Ctx, EPS, ETA, F32_ABS, Fun, Pieces, Shape};
use super::{Line, Relax, RelaxError};
use crate::unary::Unary;

/// Relative error bounds of the deployed f32 functions against the f64 references: twice the
/// largest errors measured by `convex_ulp_sweep` (exp, log, powf ≤ 0.9 ulp; 1/x and sqrt are
/// correctly rounded, 0.5 ulp, given the same bound): 2^-22 relative.
pub(super) fn rel32(_f: Unary) -> f64 {
    1.0 / 4_194_304.0
}
/// Relative error bound of the f64 references (libm exp/log/pow ≤ 1 ulp, 1/x and sqrt correctly
/// rounded): 8 ulps.
const REL64: f64 = 16.0 * EPS;

/// f64 value.
pub(super) fn value(f: Unary, x: f64) -> f64 {
    match f {
        Unary::Exp => libm::exp(x),
        Unary::Log => libm::log(x),
        Unary::Reciprocal => 1.0 / x,
        Unary::Sqrt => libm::sqrt(x),
        Unary::Pow(n) => libm::pow(x, n as f64),
        _ => f64::NAN,
    }
}

/// f32 value (the deployed network).
pub(super) fn value_f32(f: Unary, x: f32) -> f32 {
    match f {
        Unary::Exp => libm::expf(x),
        Unary::Log => libm::logf(x),
        Unary::Reciprocal => 1.0 / x,
        Unary::Sqrt => libm::sqrtf(x),
        Unary::Pow(n) => libm::powf(x, n as f32),
        _ => f32::NAN,
    }
}

pub(super) struct Cvx(pub Unary);

impl Fun for Cvx {
    fn f(&self, x: f64) -> f64 {
        value(self.0, x)
    }
    fn df(&self, x: f64) -> f64 {
        match self.0 {
            Unary::Exp => libm::exp(x),
            Unary::Log => 1.0 / x,
            Unary::Reciprocal => -1.0 / (x * x),
            Unary::Sqrt => 0.5 / libm::sqrt(x),
            Unary::Pow(0) => 0.0,
            Unary::Pow(n) => n as f64 * libm::pow(x, (n - 1) as f64),
            _ => f64::NAN,
        }
    }
    fn f_err(&self, _x: f64, fx: f64) -> f64 {
        REL64 * fx.abs() + ETA
    }
    /// One libm call (≤ 1 ulp) and ≤ 2 roundings: 16 EPS relative, plus underflow.
    fn df_err(&self, _x: f64, d: f64) -> f64 {
        16.0 * EPS * d.abs() + ETA
    }
    fn pieces(&self, l: f64, u: f64) -> Pieces {
        match self.0 {
            Unary::Log | Unary::Sqrt => Pieces::single(l, u, Shape::Concave),
            Unary::Pow(0) | Unary::Pow(1) => Pieces::single(l, u, Shape::Linear),
            Unary::Pow(n) if n % 2 == 1 => {
                Pieces::from_breaks(l, u, &[(0.0, 0.0)], &[Shape::Concave, Shape::Convex])
            }
            _ => Pieces::single(l, u, Shape::Convex),
        }
    }
    fn lip(&self, _p: f64, _q: f64) -> f64 {
        f64::INFINITY // never needed: no bracketed inflections
    }
}

/// Computed image.
pub(super) fn range(f: Unary, l: f64, u: f64) -> (f64, f64) {
    let (fl, fu) = (value(f, l), value(f, u));
    match f {
        Unary::Reciprocal => (fu, fl),
        Unary::Pow(n) if n % 2 == 0 && n > 0 => {
            let hi = fl.max(fu);
            if l <= 0.0 && u >= 0.0 { (0.0, hi) } else { (fl.min(fu), hi) }
        }
        _ => (fl, fu),
    }
}

/// Total error bound with `|f| ≤ fmax`: f32 and f64 relative errors, f32 underflow.
pub(super) fn err(f: Unary, fmax: f64) -> f64 {
    (rel32(f) + REL64) * fmax + F32_ABS + ETA
}

/// Lines on finite `[l, u]` (domain already checked).
pub(super) fn relax(f: Unary, ctx: &Ctx) -> Result<Relax, RelaxError> {
    match f {
        Unary::Pow(0) => {
            let one = Line { slope: 0.0, bias: 1.0 };
            return Ok(Relax { lower: one, upper: one });
        }
        Unary::Pow(1) => {
            let id = Line { slope: 1.0, bias: 0.0 };
            return Ok(Relax { lower: id, upper: id });
        }
        _ => {}
    }
    let c = Cvx(f);
    let (l, u) = (ctx.l, ctx.u);
    let mut pcs = c.pieces(l, u);
    pcs.fill(&c);
    if l == u {
        return engine::const_slope(&c, ctx, &pcs);
    }
    match f {
        Unary::Log | Unary::Sqrt => engine::single_shape(&c, ctx, &pcs, false),
        Unary::Pow(n) if n % 2 == 1 => {
            if l >= 0.0 {
                engine::single_shape(&c, ctx, &pcs, true)
            } else if u <= 0.0 {
                engine::single_shape(&c, ctx, &pcs, false)
            } else {
                engine::inverse_s_shape(&c, ctx, 0.0)
            }
        }
        _ => engine::single_shape(&c, ctx, &pcs, true),
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
    fn exp_log_sound() {
        check_op_sound(Unary::Exp, 100_000, 0x5eed_0401);
        check_op_sound(Unary::Log, 100_000, 0x5eed_0402);
    }

    #[test]
    fn reciprocal_sqrt_sound() {
        check_op_sound(Unary::Reciprocal, 100_000, 0x5eed_0403);
        check_op_sound(Unary::Sqrt, 100_000, 0x5eed_0404);
    }

    #[test]
    fn pow_sound() {
        check_op_sound(Unary::Pow(2), 100_000, 0x5eed_0405);
        check_op_sound(Unary::Pow(3), 100_000, 0x5eed_0406);
        for n in [4u8, 5, 7, 8, 31, 255] {
            check_op_sound_scaled(Unary::Pow(n), 20_000, 0x5eed_0407 + n as u64, (4.0 / n as f64).min(1.0));
        }
    }

    #[test]
    fn convex_ulp_sweep() {
        let mut cases: std::vec::Vec<(Unary, f32, f32)> = std::vec![
            (Unary::Exp, -104.0, 88.7),
            (Unary::Log, f32::from_bits(1), f32::MAX),
            (Unary::Reciprocal, f32::from_bits(1), f32::MAX),
            (Unary::Sqrt, 0.0, f32::MAX),
        ];
        for n in [2u8, 3, 4, 5, 6, 7, 8, 9, 16, 31, 255] {
            let lim = libm::powf(3.0e38, 1.0 / n as f32);
            cases.push((Unary::Pow(n), -lim, lim));
        }
        for (f, lo, hi) in cases {
            let w = sweep_f32(f, lo, hi, 1021, |_x, v| rel32(f) * v.abs() + F32_ABS);
            println!("{f:?}: max |value_f32 - value| = {:.3} f32 ulps; model usage {:.3}", w.0, w.1);
            assert!(w.1 <= 0.5, "{f:?}: f32 error uses {} of the margin", w.1);
        }
    }

    #[test]
    fn convex_special() {
        assert_eq!(relax(Unary::Exp, 1e30, 1e30), Err(RelaxError::Overflow));
        assert_eq!(relax(Unary::Exp, 0.0, 89.0), Err(RelaxError::Overflow));
        assert!(relax(Unary::Exp, 0.0, 88.0).is_ok());
        assert_eq!(relax(Unary::Log, 0.0, 1.0), Err(RelaxError::OutOfDomain));
        assert_eq!(relax(Unary::Log, -1.0, 1.0), Err(RelaxError::OutOfDomain));
        assert_eq!(relax(Unary::Reciprocal, 0.0, 1.0), Err(RelaxError::OutOfDomain));
        assert_eq!(relax(Unary::Sqrt, -1e-300, 1.0), Err(RelaxError::OutOfDomain));
        assert!(relax(Unary::Sqrt, 0.0, 1.0).is_ok());
        assert_eq!(relax(Unary::Pow(2), 1e30, 1e30), Err(RelaxError::Overflow));
        assert_eq!(relax(Unary::Pow(3), -1e20, 0.0), Err(RelaxError::Overflow));
        assert_eq!(relax(Unary::Reciprocal, 1e-39, 1.0), Err(RelaxError::Overflow));
        assert_eq!(relax(Unary::Log, 1.0, f64::INFINITY), Err(RelaxError::Overflow));
        let r = relax(Unary::Reciprocal, 1.0, f64::INFINITY).unwrap();
        assert!(r.lower.bias <= 0.0 && r.upper.bias >= 1.0);
        let r = relax(Unary::Exp, f64::NEG_INFINITY, 0.0).unwrap();
        assert!(r.lower.bias <= 0.0 && r.upper.bias >= 1.0);
        let tiny = f64::from_bits(1);
        for f in [
            Unary::Exp,
            Unary::Log,
            Unary::Reciprocal,
            Unary::Sqrt,
            Unary::Pow(2),
            Unary::Pow(3),
            Unary::Pow(6),
        ] {
            for &(l, u) in &[
                (tiny, tiny),
                (tiny, 1.0),
                (0.0, tiny),
                (1e-30, 1e-30),
                (1e-38, 1e-37),
                (0.5, 2.0),
                (1.0, 1.0 + 1e-12),
                (1.0, 1.0f64.next_up()),
                (-1.0, 1.0),
                (-tiny, tiny),
                (-1e-300, 1e-300),
                (-3.0, -1.0),
                (1e15, 1e18),
                (-700.0, 80.0),
            ] {
                let (l, u) = into_domain(f, l, u);
                check_interval_sound(f, l, u, 300);
            }
        }
    }

    #[test]
    fn convex_tight() {
        // Tiny intervals are nearly exact; a convex function's lines touch it.
        let r = relax(Unary::Exp, 1.0, 1.0 + 1e-6).unwrap();
        let e = core::f64::consts::E;
        assert!(r.upper.eval(1.0) - r.lower.eval(1.0) < 2e-6 * e);
        let r = relax(Unary::Pow(2), -1.0, 3.0).unwrap();
        // upper chord: 2x + 3; lower tangent at 1: 2x − 1
        assert!((r.upper.slope - 2.0).abs() < 1e-12 && (r.upper.bias - 3.0).abs() < 1e-4);
        assert!((r.lower.slope - 2.0).abs() < 1e-12 && (r.lower.bias + 1.0).abs() < 1e-4);
    }
}
