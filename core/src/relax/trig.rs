//! Sine and cosine.
//!
//! The inflection points `c_k = (k + φ)·π` (`φ = 0` for sin, `½` for cos) are not representable;
//! each is enclosed in a bracket `c_k ± (4 EPS·|c_k| + ETA)` (the f64 product `(k + φ)·PI` is
//! within `2 EPS·|c_k|` of the true point: `PI` is within `EPS` relative of π and the product
//! rounds once) that the engine treats as a piece of unknown curvature. Between brackets the
//! curvature is known (sin is concave where it is ≥ 0), so the engine's intercepts are rigorous.
//!
//! Slopes, for `u − l < 2π` and `|x| ≤ 2^30`:
//! - no inflection inside: chord + tangent at the midpoint;
//! - one inflection: the S-shaped construction (or its mirror for concave-then-convex pieces);
//! - two or more: the area-optimal slopes (supporting lines of the convex/concave envelopes at
//!   the midpoint, by golden section; the stationary points have closed forms via `acos`).
//!
//! For `u − l ≥ 2π` the lines are the constants ±1 (plus margin). For `|x| > 2^30` (where the
//! brackets grow) a Taylor bound is used: `|f(x) − f(m) − f'(m)(x − m)| ≤ (x − m)²/2` since
//! `|f''| ≤ 1`; the lines are the tangent at `m` shifted by `r²/2` (`r` the half-width) plus
//! margins, or the constants when that is tighter.

use core::f64::consts::PI;

use super::engine::{self, Ctx, EPS, ETA, F32_ABS, Fun, Pieces, Shape};
use super::{Relax, RelaxError, taylor};
use crate::unary::Unary;

/// Relative error bound of `sinf`/`cosf` against the f64 reference (2^-22: twice the largest
/// error measured by `trig_ulp_sweep`, which includes large arguments).
pub(super) const REL32: f64 = 1.0 / 4_194_304.0;
/// Relative error bound of libm's f64 sin/cos (≤ 1 ulp with exact argument reduction): 8 ulps.
pub(super) const REL64: f64 = 16.0 * EPS;
/// Above this magnitude the Taylor construction is used.
pub(super) const TAYLOR_X: f64 = 1_073_741_824.0;

pub(super) struct Trig {
    pub cos: bool,
}

impl Trig {
    fn phase(&self) -> f64 {
        if self.cos { 0.5 } else { 0.0 }
    }
    /// The inflection `c_k` and its bracket half-width.
    fn infl(&self, k: i64) -> (f64, f64) {
        let c = (k as f64 + self.phase()) * PI;
        (c, 4.0 * EPS * c.abs() + ETA)
    }
    /// Curvature between `c_k` and `c_{k+1}`.
    fn shape(&self, k: i64) -> Shape {
        if (k % 2 == 0) != self.cos { Shape::Concave } else { Shape::Convex }
    }
    /// Index range of inflections that may lie in `[l, u]` (generous by one on each side).
    fn krange(&self, l: f64, u: f64) -> (i64, i64) {
        let kl = libm::floor(l / PI - self.phase()) as i64 - 1;
        let ku = libm::floor(u / PI - self.phase()) as i64 + 1;
        (kl, ku)
    }
}

impl Fun for Trig {
    fn f(&self, x: f64) -> f64 {
        if self.cos { libm::cos(x) } else { libm::sin(x) }
    }
    fn df(&self, x: f64) -> f64 {
        if self.cos { -libm::sin(x) } else { libm::cos(x) }
    }
    fn f_err(&self, _x: f64, fx: f64) -> f64 {
        REL64 * fx.abs() + ETA
    }
    fn df_err(&self, _x: f64, d: f64) -> f64 {
        REL64 * d.abs() + ETA
    }
    fn pieces(&self, l: f64, u: f64) -> Pieces {
        let (kl, ku) = self.krange(l, u);
        if !(ku - kl <= 8) {
            let mut p = Pieces::new();
            p.overflow = true;
            return p;
        }
        let mut br = [(0.0, 0.0); 10];
        let mut sh = [Shape::Unknown; 11];
        let mut n = 0;
        sh[0] = self.shape(kl - 1);
        for k in kl..=ku {
            let (c, d) = self.infl(k);
            br[n] = (c - d, c + d);
            n += 1;
            sh[n] = self.shape(k);
        }
        Pieces::from_breaks(l, u, &br[..n], &sh[..=n])
    }
    fn lip(&self, _p: f64, _q: f64) -> f64 {
        1.0
    }
    /// `f'(x) = a` on the piece between `c_k` and `c_{k+1}` containing `[p, q]`:
    /// sin: `x = kπ + acos((−1)^k a)`; cos: `x = (k+½)π + acos(−(−1)^k a)`.
    fn solve_df(&self, a: f64, p: f64, q: f64) -> Option<f64> {
        let m = engine::mid(p, q);
        let k = libm::floor(m / PI - self.phase()) as i64;
        let sgn = if k % 2 == 0 { 1.0 } else { -1.0 };
        let arg = if self.cos { -sgn * a } else { sgn * a };
        let arg = arg.clamp(-1.0, 1.0);
        Some((k as f64 + self.phase()) * PI + libm::acos(arg))
    }
}

fn fun(f: Unary) -> Trig {
    Trig { cos: f == Unary::Cos }
}

/// Computed image: endpoints, plus ±1 when an extremum (bracketed like the inflections) may lie
/// inside; `[−1, 1]` for long or infinite intervals; the Taylor range for huge arguments.
pub(super) fn range(f: Unary, l: f64, u: f64) -> (f64, f64) {
    let t = fun(f);
    if !(l.is_finite() && u.is_finite()) || !(u - l < 7.0) {
        return (-1.0, 1.0);
    }
    if l.abs().max(u.abs()) > TAYLOR_X {
        let m = engine::mid(l, u);
        let r = (u - m).max(m - l) * (1.0 + 2.0 * EPS);
        let (fm, d) = (t.f(m), t.df(m));
        // |f(x) − f(m)| ≤ |f'(m)|·r + r²/2; f'(m)'s error is charged here, f(m)'s by `err`.
        let w = ((d.abs() + t.df_err(m, d)) * r + 0.5 * r * r) * (1.0 + 4.0 * EPS) + ETA;
        return ((fm - w).max(-1.0), (fm + w).min(1.0));
    }
    let (fl, fu) = (t.f(l), t.f(u));
    let (mut lo, mut hi) = (fl.min(fu), fl.max(fu));
    // Extrema: sin at (k + ½)π, cos at kπ, with value (−1)^k.
    let ph = 0.5 - t.phase();
    let kl = libm::floor(l / PI - ph) as i64 - 1;
    let ku = libm::floor(u / PI - ph) as i64 + 1;
    for k in kl..=ku {
        let e = (k as f64 + ph) * PI;
        let d = 4.0 * EPS * e.abs() + ETA;
        if e + d >= l && e - d <= u {
            if k % 2 == 0 {
                hi = 1.0;
            } else {
                lo = -1.0;
            }
        }
    }
    (lo, hi)
}

/// Total error bound over an interval with `|f| ≤ fmax` (f32 + f64 relative errors, f32
/// underflow).
pub(super) fn err(fmax: f64) -> f64 {
    (REL32 + REL64) * fmax + F32_ABS + ETA
}

/// Lines on finite `[l, u]`.
pub(super) fn relax(f: Unary, ctx: &Ctx) -> Result<Relax, RelaxError> {
    let t = fun(f);
    let (l, u) = (ctx.l, ctx.u);
    if !(u - l < 2.0 * PI) {
        return Err(RelaxError::Overflow); // constant lines (the caller's fallback)
    }
    if ctx.xmax > TAYLOR_X {
        return taylor(&t, ctx);
    }
    let mut pcs = t.pieces(l, u);
    if !pcs.ok() {
        return Err(RelaxError::Overflow);
    }
    pcs.fill(&t);
    if l == u {
        return engine::const_slope(&t, ctx, &pcs);
    }
    // Inflections strictly inside (by their computed centres).
    let (kl, ku) = t.krange(l, u);
    let (mut count, mut first) = (0, 0i64);
    for k in kl..=ku {
        let (c, _) = t.infl(k);
        if l < c && c < u {
            if count == 0 {
                first = k;
            }
            count += 1;
        }
    }
    match count {
        0 => {
            let m = ctx.mid();
            let mut k = libm::floor(m / PI - t.phase()) as i64;
            if t.infl(k).0 > m {
                k -= 1;
            } else if t.infl(k + 1).0 <= m {
                k += 1;
            }
            engine::single_shape(&t, ctx, &pcs, t.shape(k) == Shape::Convex)
        }
        1 => {
            let (c, _) = t.infl(first);
            if t.shape(first - 1) == Shape::Convex {
                engine::s_shape(&t, ctx, &pcs, c)
            } else {
                engine::inverse_s_shape(&t, ctx, c)
            }
        }
        _ => engine::envelope_lines(&t, ctx, &pcs, -1.0, 1.0),
    }
}

/// Taylor lines for huge arguments: `f(m) + s·(x − m) ± (r²/2 + |s − f'(m)|·r)` plus margins.
fn taylor(t: &Trig, ctx: &Ctx) -> Result<Relax, RelaxError> {
    let m = ctx.mid();
    let (fm, s) = (t.f(m), t.df(m));
    let rem = taylor::unit_curvature_remainder(taylor::half_width(ctx.l, ctx.u, m));
    Ok(taylor::lines(ctx, m, (fm, t.f_err(m, fm)), (s, t.df_err(m, s)), rem))
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
    fn sin_sound() {
        check_op_sound(Unary::Sin, 100_000, 0x5eed_0201);
    }

    #[test]
    fn cos_sound() {
        check_op_sound(Unary::Cos, 100_000, 0x5eed_0202);
    }

    #[test]
    fn trig_ulp_sweep() {
        for f in [Unary::Sin, Unary::Cos] {
            let mut worst = (0.0f64, 0.0f64);
            for (lo, hi, stride) in
                [(-64.0f32, 64.0f32, 509), (-1e9, 1e9, 4099), (-f32::MAX, f32::MAX, 65_537)]
            {
                let w = sweep_f32(f, lo, hi, stride, |_x, v| REL32 * v.abs() + F32_ABS);
                worst = (worst.0.max(w.0), worst.1.max(w.1));
            }
            println!("{f:?}: max |value_f32 - value| = {:.3} f32 ulps; model usage {:.3}", worst.0, worst.1);
            assert!(worst.1 <= 0.5, "{f:?}: f32 error uses {} of the margin", worst.1);
        }
    }

    #[test]
    fn trig_special() {
        for f in [Unary::Sin, Unary::Cos] {
            let r = relax(f, f64::NEG_INFINITY, 0.0).unwrap();
            assert_eq!(r.lower.slope, 0.0);
            assert!(r.lower.bias <= -1.0 && r.upper.bias >= 1.0);
            let r = relax(f, -10.0, 10.0).unwrap();
            assert_eq!(r.lower.slope, 0.0);
            assert!(r.upper.bias < 1.0 + 1e-5);
            let tiny = f64::from_bits(1);
            for &(l, u) in &[
                (-tiny, tiny),
                (0.0, tiny),
                (1e30, 1e30),
                (1e30, 1e30 + 1e16),
                (-1e15, -1e15 + 1.0),
                (1e9, 1e9 + 3.0),
                (1e9, 1e9),
                (PI, PI),
                (PI.next_down(), PI.next_up()),
                (-0.5 * PI, 0.5 * PI),
                (-PI, PI),
                (0.0, 2.0 * PI),
                (0.0, (2.0 * PI).next_down()),
                (1.0, 1.0 + 2.0 * PI - 1e-9),
                (f32::MAX as f64, f32::MAX as f64),
                (-(f32::MAX as f64), -(f32::MAX as f64) + 1e30),
                (1000.0 * PI - 1e-7, 1000.0 * PI + 1e-7),
                (0.5 * PI - 1e-12, 2.5 * PI),
            ] {
                check_interval_sound(f, l, u, 300);
            }
        }
    }

    #[test]
    fn trig_tight() {
        let mut rng = Rng::new(11);
        for f in [Unary::Sin, Unary::Cos] {
            let r = gap_ratio(f, &mut rng, (-10.0, 10.0), (0.05, 3.0));
            assert!(r < 0.5, "{f:?}: {r}");
            for _ in 0..1000 {
                let l = rng.range(-20.0, 20.0);
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
