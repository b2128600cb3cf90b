//! Parameterised relaxations for α-CROWN (notes §1.3, §2.12).
//!
//! α-CROWN optimises the relaxation of every nonlinear element for the bound at hand. Here a unary
//! op's line is parameterised by its **slope**: for any slope the engine computes a rigorous
//! intercept ([`engine::min_gap_arg`], with the usual margins of [`engine::finish_line`]), so
//! *every* parameter value gives a sound line and the parameter only decides tightness. The useful
//! slopes of a side are the range of `f'` over `[l, u]` ([`slope_range`]); a side whose tight line
//! is optimal for every objective — the chord on the concave side of a convex function, ReLU's
//! upper chord, stable ReLUs, exact maps, point intervals — is *frozen* (no parameter).
//!
//! ReLU and Abs keep the exact zero intercept for lower slopes in `[0, 1]` / `[−1, 1]` (exact in
//! reals, in f64 and in f32, because the deployed maps are exact); LeakyReLU's lower lines of slope
//! below 1 go through the engine, whose margin covers the rounding of `α·x`.
//!
//! A product's planes are the two McCormick planes of each side mixed by `λ ∈ [0, 1]`
//! ([`super::mul_relax_mix`]); their constants are recomputed at the box corners.
//!
//! Each line comes with the point it touches (the argmin of `f − line`, approximately): α-CROWN's
//! gradient is `d(intercept)/d(slope) = −argmin` (Danskin), so `d(line value at ẑ)/d(slope) = ẑ − t`.

use core::f64::consts::PI;

use super::convex::Cvx;
use super::engine::{self, Ctx, Fun, Shape};
use super::gelu::Gelu;
use super::relu::Hinge;
use super::s_shaped::SShape;
use super::trig::{self, Trig};
use super::{Line, Relax, RelaxError, check_interval, image, relax};
use crate::unary::Unary;

/// The slopes worth optimising on each side: `Some((lo, hi))` for a free side, `None` for a
/// frozen one (keep [`relax`]'s line).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SlopeRange {
    /// Range of the lower line's slope.
    pub lower: Option<(f64, f64)>,
    /// Range of the upper line's slope.
    pub upper: Option<(f64, f64)>,
}

const FROZEN: SlopeRange = SlopeRange { lower: None, upper: None };

/// `x` projected into `[lo, hi]` (NaN goes to `lo`).
#[inline]
pub(crate) fn project(x: f64, lo: f64, hi: f64) -> f64 {
    if !(x >= lo) {
        lo
    } else if x > hi {
        hi
    } else {
        x
    }
}

/// Run `k` with the engine's model of `f` (`None` for the exact maps Neg, Pow(0), Pow(1)).
fn with_fun<R>(f: Unary, k: impl FnOnce(&dyn Fun) -> R) -> Option<R> {
    match f {
        Unary::Relu => Some(k(&Hinge { alpha: 0.0 })),
        Unary::LeakyRelu(a) => Some(k(&Hinge { alpha: a as f64 })),
        Unary::Abs => Some(k(&Hinge { alpha: -1.0 })),
        Unary::Sigmoid | Unary::Tanh => Some(k(&SShape { tanh: f == Unary::Tanh })),
        Unary::Sin | Unary::Cos => Some(k(&Trig { cos: f == Unary::Cos })),
        Unary::Gelu | Unary::GeluTanh => Some(k(&Gelu::of(f))),
        Unary::Exp | Unary::Log | Unary::Reciprocal | Unary::Sqrt => Some(k(&Cvx(f))),
        Unary::Pow(n) if n >= 2 => Some(k(&Cvx(f))),
        _ => None,
    }
}

/// The slopes worth optimising for `f` on `[l, u]`.
///
/// ReLU-like ops crossing 0: lower slope in `[α, 1]` (`[−1, 1]` for Abs), upper frozen (the chord
/// is the concave envelope). Smooth ops: the range of `f'` over `[l, u]` (its extremes are at the
/// ends of the convexity pieces, where `f'` is monotone in between) for each side that meets a
/// piece where a tangent is possible (a convex piece for the lower line, a concave one for the
/// upper; pieces of unknown curvature free both). Frozen: point, infinite or invalid intervals,
/// Neg, `x^0`, `x^1`, sin/cos on intervals of length ≥ 2π or beyond `2^30`.
pub fn slope_range(f: Unary, l: f64, u: f64) -> SlopeRange {
    if !(l < u) || !(l.is_finite() && u.is_finite()) || image(f, l, u).is_err() {
        return FROZEN;
    }
    match f {
        Unary::Relu | Unary::LeakyRelu(_) | Unary::Abs => {
            let lo = match f {
                Unary::Relu => 0.0,
                Unary::LeakyRelu(a) => a as f64,
                _ => -1.0,
            };
            if l < 0.0 && u > 0.0 && lo < 1.0 {
                SlopeRange { lower: Some((lo, 1.0)), upper: None }
            } else {
                FROZEN
            }
        }
        Unary::Sin | Unary::Cos if !(u - l < 2.0 * PI) || l.abs().max(u.abs()) > trig::TAYLOR_X => FROZEN,
        _ => with_fun(f, |fun| derivative_range(fun, l, u)).unwrap_or(FROZEN),
    }
}

fn derivative_range(fun: &dyn Fun, l: f64, u: f64) -> SlopeRange {
    let pcs = fun.pieces(l, u);
    if !pcs.ok() {
        return FROZEN;
    }
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    let (mut convex, mut concave) = (false, false);
    for pc in pcs.as_slice() {
        match pc.shape {
            Shape::Convex => convex = true,
            Shape::Concave => concave = true,
            Shape::Unknown => {
                convex = true;
                concave = true;
            }
            Shape::Linear => {}
        }
        for x in [pc.p, pc.q] {
            let mut d = fun.df(x);
            if !d.is_finite() {
                // E.g. √ at 0: take the slope just inside the piece.
                d = fun.df(x + (engine::mid(pc.p, pc.q) - x) * 1e-6);
            }
            if d.is_finite() {
                lo = lo.min(d);
                hi = hi.max(d);
            }
        }
    }
    if !(lo < hi) {
        return FROZEN;
    }
    SlopeRange { lower: convex.then_some((lo, hi)), upper: concave.then_some((lo, hi)) }
}

/// A closed-form tangent point: where `f' = a` on the piece where the side's line can be a
/// tangent (the convex part of `f` for the lower line, the concave part for the upper). Only a
/// hint for the engine (a wrong point costs tightness, never soundness); `None` → bisection.
fn tangent_hint(f: Unary, upper: bool, a: f64) -> Option<f64> {
    let pos = |v: f64| if v.is_finite() { Some(v) } else { None };
    match f {
        Unary::Sigmoid | Unary::Tanh => {
            let tanh = f == Unary::Tanh;
            // f' = k·e/(1+e)² with e = exp(−|x|) (sigmoid, k = 1) or exp(−2|x|) (tanh, k = 4).
            let c = if tanh { 0.25 * a } else { a };
            if !(c > 0.0) {
                return None;
            }
            if c >= 0.25 {
                return Some(0.0);
            }
            // The root e ≤ 1 of c·e² + (2c − 1)·e + c = 0, without cancellation.
            let e = 2.0 * c / ((1.0 - 2.0 * c) + libm::sqrt(1.0 - 4.0 * c));
            let ax = -libm::log(e) * if tanh { 0.5 } else { 1.0 };
            pos(if upper { ax } else { -ax })
        }
        Unary::Exp if !upper && a > 0.0 => pos(libm::log(a)),
        Unary::Log if upper && a > 0.0 => pos(1.0 / a),
        Unary::Reciprocal if !upper && a < 0.0 => pos(1.0 / libm::sqrt(-a)),
        Unary::Sqrt if upper && a > 0.0 => pos(0.25 / (a * a)),
        Unary::Pow(n) if n >= 2 => {
            let nf = n as f64;
            let r = libm::pow(a.abs() / nf, 1.0 / (nf - 1.0));
            if n % 2 == 0 {
                // Convex everywhere: the lower line's tangent point has the sign of a.
                if upper { None } else { pos(if a < 0.0 { -r } else { r }) }
            } else if !(a >= 0.0) {
                None
            } else {
                // Convex on x ≥ 0 (lower line), concave on x ≤ 0 (upper line).
                pos(if upper { -r } else { r })
            }
        }
        _ => None,
    }
}

/// A sound lower (`upper == false`) or upper line of `f` on `[l, u]` with slope `slope`, and the
/// point it touches (approximately the argmin of `f − line` over `[l, u]`, for the α gradient).
///
/// Any finite slope gives a sound line (the intercept is rigorous); the ReLU and Abs lower lines
/// are exact through the origin, their slope projected into `[0, 1]` / `[−1, 1]`. Neg, `x^0` and
/// `x^1` return their exact lines. Errors as [`relax`], and `Overflow` for a non-finite slope or
/// interval, or an interval the engine cannot decompose (the caller keeps its previous line).
pub fn relax_line(f: Unary, l: f64, u: f64, upper: bool, slope: f64) -> Result<(Line, f64), RelaxError> {
    check_interval(l, u)?;
    let (lo, hi, err) = image(f, l, u)?;
    if !(l.is_finite() && u.is_finite() && slope.is_finite()) {
        return Err(RelaxError::Overflow);
    }
    let zero = 0.0f64.max(l).min(u);
    match f {
        Unary::Relu if !upper => return Ok((Line { slope: project(slope, 0.0, 1.0), bias: 0.0 }, zero)),
        Unary::Abs if !upper => return Ok((Line { slope: project(slope, -1.0, 1.0), bias: 0.0 }, zero)),
        Unary::LeakyRelu(_) if !upper && slope == 1.0 => return Ok((Line { slope: 1.0, bias: 0.0 }, zero)),
        // The decomposition of sin/cos is made for the intervals `relax` treats that way.
        Unary::Sin | Unary::Cos if !(u - l < 2.0 * PI) || l.abs().max(u.abs()) > trig::TAYLOR_X => {
            return Err(RelaxError::Overflow);
        }
        _ => {}
    }
    let ctx = Ctx::new(l, u, lo, hi, err);
    let m = ctx.mid();
    let r = with_fun(f, |fun| {
        let mut pcs = fun.pieces(l, u);
        if !pcs.ok() {
            return Err(RelaxError::Overflow);
        }
        pcs.fill(fun);
        let s = if upper { -1.0 } else { 1.0 };
        let (mg, t) = engine::min_gap_arg(fun, s, slope, &pcs, tangent_hint(f, upper, slope));
        let line = engine::finish_line(&ctx, s, slope, mg)?;
        Ok((line, if t.is_finite() { t } else { m }))
    });
    match r {
        Some(r) => r,
        None => {
            let r = relax(f, l, u)?;
            Ok((if upper { r.upper } else { r.lower }, m))
        }
    }
}

/// Lower and upper lines with the given slopes, each projected into its [`slope_range`]; a frozen
/// side (or a side whose line cannot be built) keeps [`relax`]'s line. Returns the lines and the
/// points they touch (`[lower, upper]`; the midpoint for a frozen side). `relax(f, l, u)` is the
/// α-CROWN initialisation: its slopes are the starting parameters.
pub fn relax_slopes(f: Unary, l: f64, u: f64, s_lo: f64, s_hi: f64) -> Result<(Relax, [f64; 2]), RelaxError> {
    let base = relax(f, l, u)?;
    let rng = slope_range(f, l, u);
    let m = if l.is_finite() && u.is_finite() { engine::mid(l, u) } else { 0.0 };
    let side = |upper: bool, s: f64, r: Option<(f64, f64)>, dflt: Line| match r {
        Some((a, b)) => relax_line(f, l, u, upper, project(s, a, b)).unwrap_or((dflt, m)),
        None => (dflt, m),
    };
    let (lower, tl) = side(false, s_lo, rng.lower, base.lower);
    let (upper, tu) = side(true, s_hi, rng.upper, base.upper);
    Ok((Relax { lower, upper }, [tl, tu]))
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::super::*;
    use super::*;
    use std::println;

    /// A parameter that tries to break the lines: inside the range, at its ends, far outside, or
    /// an arbitrary slope of any magnitude.
    fn gen_slope(rng: &mut Rng, r: Option<(f64, f64)>) -> f64 {
        let (a, b) = r.unwrap_or((-1.0, 1.0));
        match rng.below(6) {
            0 => a,
            1 => b,
            2 | 3 => a + (b - a) * rng.unit(),
            4 => rng.sign() * rng.log_uniform(-8.0, 8.0),
            _ => a - (b - a) * rng.range(-3.0, 4.0),
        }
    }

    /// Random intervals and random (also out-of-range) slopes: every line, projected or not, holds
    /// at the endpoints, random reals and f32 points, for the f64 and the deployed f32 values.
    #[test]
    fn parameterised_lines_are_sound() {
        let mut rng = Rng::new(0xa1fa_0001);
        let mut checked = 0usize;
        let mut free = 0usize;
        for i in 0..120_000 {
            let f = all_ops()[i % all_ops().len()];
            let (l, u) = gen_interval(&mut rng);
            let (l, u) = into_domain(f, l, u);
            let Ok(iv) = interval(f, l, u) else { continue };
            let sr = slope_range(f, l, u);
            free += sr.lower.is_some() as usize + sr.upper.is_some() as usize;
            let (s_lo, s_hi) = (gen_slope(&mut rng, sr.lower), gen_slope(&mut rng, sr.upper));
            let npts = if rng.below(64) == 0 { 400 } else { 6 };
            if let Ok((r, _)) = relax_slopes(f, l, u, s_lo, s_hi) {
                assert!(finite(&r), "{f:?} [{l:e}, {u:e}] {r:?}");
                check_lines_at_points(f, &r, iv, l, u, npts, &mut rng);
                checked += 1;
            }
            // Unprojected slopes straight into relax_line (sound for any slope).
            let lo = relax_line(f, l, u, false, s_lo);
            let up = relax_line(f, l, u, true, s_hi);
            if let (Ok((lo, _)), Ok((up, _))) = (lo, up)
                && lo.slope.is_finite()
                && lo.bias.is_finite()
                && up.slope.is_finite()
                && up.bias.is_finite()
            {
                check_lines_at_points(f, &Relax { lower: lo, upper: up }, iv, l, u, npts, &mut rng);
                checked += 1;
            }
        }
        println!("{checked} parameterised relaxations checked, {free} free sides");
        assert!(checked > 120_000, "{checked}");
        assert!(free > 40_000, "{free}");
    }

    /// The line at the CROWN slope is as tight as `relax`'s (both have rigorous intercepts for
    /// the same slope), and the reported point is where the tangent-side line touches `f`.
    #[test]
    fn init_slope_reproduces_relax_and_touch_points_are_argmins() {
        let mut rng = Rng::new(0xa1fa_0002);
        let mut touched = 0;
        for i in 0..30_000 {
            let f = all_ops()[i % all_ops().len()];
            let l = rng.range(-4.0, 4.0);
            let u = l + rng.range(0.01, 4.0);
            let (l, u) = into_domain(f, l, u);
            let (l, u) = if matches!(f, Unary::Log | Unary::Reciprocal | Unary::Sqrt) {
                (l + 0.05, u + 0.05)
            } else {
                (l, u)
            };
            let Ok(base) = relax(f, l, u) else { continue };
            let sr = slope_range(f, l, u);
            let scale = interval(f, l, u).map(|(a, b)| a.abs().max(b.abs())).unwrap_or(1.0).max(1.0);
            for (upper, r, bl) in [(false, sr.lower, base.lower), (true, sr.upper, base.upper)] {
                let Some((a, b)) = r else { continue };
                let (ln, t) = relax_line(f, l, u, upper, project(bl.slope, a, b)).unwrap();
                let m = engine::mid(l, u);
                let d = if upper { bl.eval(m) - ln.eval(m) } else { ln.eval(m) - bl.eval(m) };
                assert!(d > -1e-9 * scale, "{f:?} [{l}, {u}] upper={upper}: α line looser by {d:e}");
                // A random slope of the range: the line touches f at t (up to the margin).
                let s = a + (b - a) * rng.unit();
                let (ln, t2) = relax_line(f, l, u, upper, s).unwrap();
                assert!(t2 >= l && t2 <= u && t >= l && t <= u, "{f:?} {t} {t2} [{l}, {u}]");
                let gap = (value(f, t2) - ln.eval(t2)).abs();
                assert!(gap < 1e-5 * scale, "{f:?} [{l}, {u}] upper={upper} slope {s}: gap {gap:e} at {t2}");
                touched += 1;
            }
        }
        assert!(touched > 10_000, "{touched}");
    }

    #[test]
    fn ranges() {
        assert_eq!(slope_range(Unary::Relu, -1.0, 2.0), SlopeRange { lower: Some((0.0, 1.0)), upper: None });
        assert_eq!(slope_range(Unary::Relu, 0.0, 2.0), FROZEN);
        assert_eq!(slope_range(Unary::Abs, -1.0, 2.0).lower, Some((-1.0, 1.0)));
        assert_eq!(slope_range(Unary::Neg, -1.0, 2.0), FROZEN);
        assert_eq!(slope_range(Unary::Sigmoid, 1.0, 1.0), FROZEN);
        assert_eq!(slope_range(Unary::Sigmoid, f64::NEG_INFINITY, 1.0), FROZEN);
        // Convex: only the lower line is free; concave: only the upper one; S-shaped: both.
        let e = slope_range(Unary::Exp, 0.0, 1.0);
        assert!(e.upper.is_none() && (e.lower.unwrap().0 - 1.0).abs() < 1e-12);
        assert!((e.lower.unwrap().1 - core::f64::consts::E).abs() < 1e-12);
        let q = slope_range(Unary::Sqrt, 0.0, 1.0);
        assert!(q.lower.is_none() && q.upper.unwrap().1 > 1e2);
        let s = slope_range(Unary::Sigmoid, -2.0, 3.0);
        assert!(s.lower.is_some() && s.upper.is_some() && (s.lower.unwrap().1 - 0.25).abs() < 1e-12);
        let t = slope_range(Unary::Sin, -3.0, 3.0);
        assert!(t.lower.unwrap().0 <= -0.98 && t.lower.unwrap().1 >= 0.999);
        assert_eq!(slope_range(Unary::Sin, 0.0, 7.0), FROZEN);
    }

    #[test]
    fn relu_lines_exact() {
        let (ln, t) = relax_line(Unary::Relu, -1.0, 2.0, false, 0.3).unwrap();
        assert_eq!((ln, t), (Line { slope: 0.3, bias: 0.0 }, 0.0));
        let (ln, _) = relax_line(Unary::Relu, -1.0, 2.0, false, 7.0).unwrap();
        assert_eq!(ln.slope, 1.0);
        let (r, _) = relax_slopes(Unary::Relu, -1.0, 3.0, 0.5, 0.0).unwrap();
        assert_eq!(r.upper, relax(Unary::Relu, -1.0, 3.0).unwrap().upper);
        let (r, _) = relax_slopes(Unary::Relu, 1.0, 3.0, 0.5, 0.0).unwrap();
        assert_eq!(r, relax(Unary::Relu, 1.0, 3.0).unwrap());
    }

    fn check_planes(lx: f64, ux: f64, ly: f64, uy: f64, lam: f64, mu: f64, rng: &mut Rng) -> bool {
        let Ok((lo, up)) = mul_relax_mix(lx, ux, ly, uy, lam, mu) else { return false };
        let chk = |x: f64, y: f64, z: f64| {
            let (a, b) = (lo.eval(x, y), up.eval(x, y));
            assert!(
                a <= z && z <= b,
                "mix {lam} {mu} on [{lx:e},{ux:e}]x[{ly:e},{uy:e}] at ({x:e},{y:e}): {a:e} <= {z:e} <= {b:e}"
            );
        };
        for &x in &[lx, ux] {
            for &y in &[ly, uy] {
                chk(x, y, x * y);
            }
        }
        for _ in 0..8 {
            let x = (lx + (ux - lx) * rng.unit()).clamp(lx, ux);
            let y = (ly + (uy - ly) * rng.unit()).clamp(ly, uy);
            chk(x, y, x * y);
            let (x32, y32) = (x as f32, y as f32);
            let (xd, yd) = (x32 as f64, y32 as f64);
            if xd >= lx && xd <= ux && yd >= ly && yd <= uy {
                chk(xd, yd, xd * yd);
                chk(xd, yd, (x32 * y32) as f64);
            }
        }
        if let (Some(a), Some(b), Some(c), Some(d)) = (f32_up(lx), f32_down(ux), f32_up(ly), f32_down(uy))
            && a <= b
            && c <= d
        {
            for &x in &[a, b] {
                for &y in &[c, d] {
                    chk(x as f64, y as f64, (x * y) as f64);
                }
            }
        }
        true
    }

    #[test]
    fn mixed_planes_are_sound() {
        let mut rng = Rng::new(0xa1fa_0003);
        let mut ok = 0;
        for _ in 0..150_000 {
            let (lx, ux) = gen_interval(&mut rng);
            let (ly, uy) = gen_interval(&mut rng);
            let mut par = || match rng.below(5) {
                0 => 0.0,
                1 => 1.0,
                2 => rng.range(-2.0, 3.0),
                3 => f64::NAN,
                _ => rng.unit(),
            };
            let (lam, mu) = (par(), par());
            if check_planes(lx, ux, ly, uy, lam, mu, &mut rng) {
                ok += 1;
            }
        }
        assert!(ok > 100_000, "{ok}");
        // λ = μ = 1 are the McCormick planes; λ = μ = ½ is tight at the midpoint of a symmetric box.
        let (a, b) = mul_relax(-1.0, 2.0, 3.0, 5.0).unwrap();
        let (c, d) = mul_relax_mix(-1.0, 2.0, 3.0, 5.0, 1.0, 1.0).unwrap();
        assert!((a.c - c.c).abs() < 1e-9 && a.ax == c.ax && a.ay == c.ay);
        assert!((b.c - d.c).abs() < 1e-9 && b.ax == d.ax && b.ay == d.ay);
        let (c, d) = mul_relax_mix(-1.0, 1.0, -1.0, 1.0, 0.5, 0.5).unwrap();
        assert!((c.eval(0.0, 0.0) + 1.0).abs() < 1e-6 && (d.eval(0.0, 0.0) - 1.0).abs() < 1e-6);
    }
}
