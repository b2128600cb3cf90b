//! Parallel lines from the Taylor expansion at the midpoint: the cheap relaxation of a smooth
//! function on a *narrow* interval, computed in f64 or, on a core whose floating-point unit is
//! single precision, in f32.
//!
//! With `m` the midpoint, `r` the half-width, `f''` within `[c_lo, c_hi]` and `|f'''| ≤ L` on
//! `[l, u]`, Taylor's theorem with the Lagrange remainder gives, for every real `x ∈ [l, u]`,
//!
//! ```text
//! f(x) = f(m) + f'(m)·(x − m) + R(x),  with both
//! min(0, c_lo)·r²/2 ≤ R(x) ≤ max(0, c_hi)·r²/2                         (second order) and
//! min(0, f''(m))·r²/2 − L·r³/6 ≤ R(x) ≤ max(0, f''(m))·r²/2 + L·r³/6   (third order).
//! ```
//!
//! Each side takes the better bound. The lines share the slope `s`, the computed `f'(m)`; the
//! intercepts absorb `|f'(m) − s|·r`, `f(m)`'s error, the deployed evaluation's error (as
//! [`engine::finish_line`]: libm f32 and onnxruntime) and every rounding of the construction.
//! The curvature comes from `f(m)` and `f'(m)`, clipped to the global range of `f''`.
//!
//! Why: one or two libm calls instead of the convexity decomposition and its bisections. A
//! forward engine (the device's zonotope) uses one slope per element anyway, and on its narrow
//! intervals this parallelogram is about as tight as the one it took before (see the tests). In
//! f32 on a Cortex-M4F it costs a few hundred instructions; in software f64 it cost about 18,000.
//!
//! The f32 version is the same formulas with f32's unit roundoff: each error term is a sum of
//! non-negative terms computed in a handful of roundings and then inflated by `1 + 8u`, which
//! covers up to seven roundings. The error of libm's f32 functions is the family modules'
//! `REL32` (checked by their ulp sweeps), as for the deployed network's own values.

use core::ops::{Add, Mul, Neg, Sub};

use super::engine::{Ctx, EPS, ETA, F32_ABS, F32_LIMIT, Fun};
use super::s_shaped::{self, SShape};
use super::trig::{self, Trig};
use super::{Line, Relax};
use crate::unary::Unary;

/// The float the expansion is computed in (f64 or f32).
pub(crate) trait Real:
    Copy + PartialOrd + Add<Output = Self> + Sub<Output = Self> + Mul<Output = Self> + Neg<Output = Self>
{
    /// Unit roundoff: one nearest-rounded operation errs by at most `U` relative...
    const U: Self;
    /// ...plus this much absolute near underflow (generous: a few hundred subnormal units).
    const ETA: Self;
    /// The margin, relative to `|f| + |s·x|`, for the line's own evaluation in this precision:
    /// f64 lines may be evaluated in plain f64 ([`super::eval_line`]); f32 ones go only to the
    /// bound engines, which charge the rounding of everything they compute.
    const EVAL: Self;
    /// `x` rounded to nearest (exact for the constants used here, or a bound that need not be).
    fn of(x: f64) -> Self;
    /// `x` rounded up.
    fn of_up(x: f64) -> Self;
    /// As f64 (exact).
    fn f64(self) -> f64;
    fn abs(self) -> Self;
    fn max(self, o: Self) -> Self;
    fn min(self, o: Self) -> Self;
    fn is_finite(self) -> bool;
    /// `f(m)` as libm computes it in this precision, and a bound on its distance to the real
    /// `f(m)` (sigmoid, tanh, sin, cos).
    fn value(f: Unary, m: Self) -> (Self, Self);
}

/// The methods of [`Real`] that are the float type's own.
macro_rules! float_basics {
    ($t:ident) => {
        fn f64(self) -> f64 {
            self as f64
        }
        fn abs(self) -> $t {
            $t::abs(self)
        }
        fn max(self, o: $t) -> $t {
            $t::max(self, o)
        }
        fn min(self, o: $t) -> $t {
            $t::min(self, o)
        }
        fn is_finite(self) -> bool {
            $t::is_finite(self)
        }
    };
}

impl Real for f64 {
    const U: f64 = EPS;
    const ETA: f64 = ETA;
    const EVAL: f64 = 8.0 * EPS;
    fn of(x: f64) -> f64 {
        x
    }
    fn of_up(x: f64) -> f64 {
        x
    }
    float_basics!(f64);
    fn value(f: Unary, m: f64) -> (f64, f64) {
        match f {
            Unary::Sigmoid | Unary::Tanh => {
                let fun = SShape { tanh: f == Unary::Tanh };
                let v = fun.f(m);
                (v, fun.f_err(m, v))
            }
            _ => {
                let fun = Trig { cos: f == Unary::Cos };
                let v = fun.f(m);
                (v, fun.f_err(m, v))
            }
        }
    }
}

impl Real for f32 {
    const U: f32 = 1.0 / 16_777_216.0; // 2^-24
    const ETA: f32 = F32_ABS as f32;
    const EVAL: f32 = 0.0;
    fn of(x: f64) -> f32 {
        x as f32
    }
    /// One ulp above the nearest: no f64 comparison (software on a single-precision core).
    fn of_up(x: f64) -> f32 {
        (x as f32).next_up()
    }
    float_basics!(f32);
    /// libm's f32 functions (the deployed network's): within `REL32` of the f64 reference,
    /// which is within `REL64` of the real value.
    fn value(f: Unary, m: f32) -> (f32, f32) {
        let (v, rel) = match f {
            Unary::Sigmoid => (s_shaped::sigmoid_f32(m), s_shaped::REL32 + s_shaped::REL64),
            Unary::Tanh => (libm::tanhf(m), s_shaped::REL32 + s_shaped::REL64),
            Unary::Cos => (libm::cosf(m), trig::REL32 + trig::REL64),
            _ => (libm::sinf(m), trig::REL32 + trig::REL64),
        };
        (v, f32::of_up(rel * (1.0 + 1.0 / 1024.0)) * v.abs() + 2.0 * f32::ETA)
    }
}

/// Half-widths up to which [`narrow`] is used: beyond them `L·r` is no longer small against
/// `cap` and the full relaxation is tighter.
const R_MAX: f64 = 0.25;

/// `1 + 8u`: covers up to seven roundings of a product or sum of non-negative terms.
fn up<R: Real>() -> R {
    R::of(1.0) + R::of(8.0) * R::U
}

/// The half-width of `[l, u]` around `m`, rounded up.
pub(super) fn half_width<R: Real>(l: R, u: R, m: R) -> R {
    (u - m).max(m - l) * up::<R>()
}

/// `(f(m), its error bound)` and `(f'(m), its error bound)`: one libm call for sigmoid and tanh
/// (`σ' = σ(1−σ)`, `tanh' = 1 − tanh²`), two for sin and cos, none for the square.
///
/// The derivatives from the values: `|d(σ(1−σ))/dσ| = |1 − 2σ| ≤ 1` and `|d(1−t²)/dt| ≤ 2`,
/// so their errors are the value's error (twice for tanh) plus two roundings. The cancellation
/// of `1 − σ` near `σ = 1` makes that error large *relative* to `σ'` there, but it is small in
/// absolute terms, which is all the lines need (it is charged over the half-width).
fn expansion<R: Real>(f: Unary, m: R) -> Option<((R, R), (R, R))> {
    let (one, four) = (R::of(1.0), R::of(4.0));
    let r = match f {
        Unary::Sigmoid => {
            let (fm, fe) = R::value(f, m);
            let s = fm * (one - fm);
            ((fm, fe), (s, fe + four * R::U * s + R::ETA))
        }
        Unary::Tanh => {
            let (fm, fe) = R::value(f, m);
            ((fm, fe), (one - fm * fm, R::of(2.0) * fe + four * R::U + R::ETA))
        }
        Unary::Sin => (R::value(f, m), R::value(Unary::Cos, m)),
        Unary::Cos => {
            let (sn, se) = R::value(Unary::Sin, m);
            (R::value(f, m), (-sn, se))
        }
        // One rounding of `m·m`; `2m` is exact.
        Unary::Pow(2) => {
            let fm = m * m;
            ((fm, R::of(2.0) * R::U * fm + R::ETA), (R::of(2.0) * m, R::ETA))
        }
        _ => return None,
    };
    Some(r)
}

/// `f''` over `[m − r, m + r]` lies in `[c − e − lip·r, c + e + lip·r] ∩ [−cap, cap]`.
struct Curvature<R> {
    /// `f''(m)` computed from the computed `f(m)`.
    c: R,
    /// Bound on that computation's error.
    e: R,
    /// Bound on `|f'''|` on the interval (a Lipschitz constant of `f''` there).
    lip: R,
    /// Bound on `|f''|` everywhere.
    cap: R,
}

/// The curvature of `f` on `[m − r, m + r]` from `fm` (within `fe` of `f(m)`) and `s` (within
/// `se` of `f'(m)`), for the functions this module serves. `f'''` is bounded through `f'`, so
/// that the bound shrinks in the tails (`e^x ≤ 1 + x + x²` for `0 ≤ x ≤ 1.79`):
/// - sigmoid: `σ'' = σ(1−σ)(1−2σ)`, `|σ''| ≤ 1/(6√3)`; `σ''' = σ'·(1 − 6σ(1−σ))`, so
///   `|σ'''| ≤ σ' ≤ σ'(m)·e^r` (`|(log σ')'| = |1 − 2σ| ≤ 1`), and `≤ 1/8`;
/// - tanh: `tanh'' = −2t(1−t²)`, `|tanh''| ≤ 4/(3√3)`; `tanh''' = tanh'·(6t² − 2)`, so
///   `|tanh'''| ≤ min(2, 4·tanh'(m)·e^{2r})`;
/// - sin and cos: `f'' = −f`, `|f'''| = |f'| ≤ min(1, |f'(m)| + r)`;
/// - the square: `f'' = 2`.
fn curvature<R: Real>(f: Unary, (fm, fe): (R, R), (s, se): (R, R), r: R) -> Option<Curvature<R>> {
    // The rounding of these few operations on values of magnitude ≤ 1.
    let tiny = R::of(16.0) * R::U;
    let (one, two, up) = (R::of(1.0), R::of(2.0), up::<R>());
    let ds = (s.abs() + se) * up;
    let k = match f {
        // dσ''/dσ = 1 − 6σ + 6σ² ∈ [−1/2, 1].
        Unary::Sigmoid => Curvature {
            c: fm * (one - fm) * (one - two * fm),
            e: fe + tiny,
            lip: (ds * (one + r + r * r) * up).min(R::of(0.125)),
            cap: R::of(0.0963),
        },
        // d tanh''/dt = −2 + 6t² ∈ [−2, 4].
        Unary::Tanh => Curvature {
            c: -(two * fm * (one - fm * fm)),
            e: R::of(4.0) * fe + tiny,
            lip: (R::of(4.0) * ds * (one + two * r + R::of(4.0) * r * r) * up).min(two),
            cap: R::of(0.7699),
        },
        Unary::Sin | Unary::Cos => {
            Curvature { c: -fm, e: fe + tiny, lip: ((ds + r) * up).min(one), cap: one }
        }
        Unary::Pow(2) => Curvature { c: two, e: R::of(0.0), lip: R::of(0.0), cap: two },
        _ => return None,
    };
    Some(k)
}

/// Lines of one slope: `lower(x) = s·x + b_lo ≤ f(x) ≤ s·x + b_hi = upper(x)` for every real
/// `x` of the interval.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Parallel<R> {
    pub s: R,
    pub b_lo: R,
    pub b_hi: R,
}

/// Lines of slope `s` (within `s_err` of `f'(m)`) from `f(m) = fm` (within `fm_err`), given
/// `rem_lo ≤ 0 ≤ rem_hi` bounding the remainder `f(x) − f(m) − f'(m)·(x − m)` on `ctx`'s
/// interval, whose midpoint is `m`; `err` bounds the deployed evaluation's error and `fmax`
/// `|f|` there.
fn parallel<R: Real>(
    (l, u, m): (R, R, R),
    (fm, fm_err): (R, R),
    (s, s_err): (R, R),
    (rem_lo, rem_hi): (R, R),
    (fmax, err): (R, R),
) -> Parallel<R> {
    let (zero, up) = (R::of(0.0), up::<R>());
    let r = half_width(l, u, m);
    let xmax = l.abs().max(u.abs());
    // The slope's error over the half-width, f(m)'s error, the roundings of `s·m` and of the
    // sums, and the usual margin (deployed errors, the line's own evaluation).
    let w = ((s_err + R::of(2.0) * R::U * s.abs()) * r
        + fm_err
        + R::of(4.0) * R::U * (fm.abs() + (s * m).abs())
        + err
        + R::EVAL * (fmax + s.abs() * xmax)
        + R::ETA)
        * up;
    let w_lo = (w + (-rem_lo).max(zero)) * up;
    let w_hi = (w + rem_hi.max(zero)) * up;
    let b = fm - s * m;
    let (lo, hi) = (b - w_lo, b + w_hi);
    let two_u = R::of(2.0) * R::U;
    Parallel { s, b_lo: lo - two_u * lo.abs() - R::ETA, b_hi: hi + two_u * hi.abs() + R::ETA }
}

/// The f64 lines from `f(m)`, `f'(m)` and the remainder's range on `ctx`'s interval (`trig`'s
/// expansion at huge arguments).
pub(super) fn lines(ctx: &Ctx, m: f64, fm: (f64, f64), s: (f64, f64), rem: (f64, f64)) -> Relax {
    let p = parallel((ctx.l, ctx.u, m), fm, s, rem, (ctx.fmax, ctx.err));
    Relax { lower: Line { slope: p.s, bias: p.b_lo }, upper: Line { slope: p.s, bias: p.b_hi } }
}

/// `f(x) − f(m) − f'(m)·(x − m)` over `|x − m| ≤ r` when `|f''| ≤ 1` (sin and cos anywhere).
pub(super) fn unit_curvature_remainder(r: f64) -> (f64, f64) {
    let q = 0.5 * r * r * (1.0 + 4.0 * EPS);
    (-q, q)
}

/// The Taylor lines of `f` on `[l, u]` in `R` and the interval image they imply, if `f` is one
/// this module serves and the interval is finite and narrow (half-width ≤ [`R_MAX`]); `None`
/// sends the caller to the full relaxation.
pub(crate) fn narrow_in<R: Real>(f: Unary, l: R, u: R) -> Option<(Parallel<R>, (R, R))> {
    if !(l <= u && l.is_finite() && u.is_finite()) || !(u - l <= R::of(2.0 * R_MAX)) {
        return None;
    }
    // Far from 0 the intercept `f(m) − s·m` loses `u·|s·m|` to rounding: beyond `2^-12/u`
    // (4096 in f32, 2^41 in f64) the full relaxation is tighter.
    if !(l.abs().max(u.abs()) * R::U <= R::of(1.0 / 4096.0)) {
        return None;
    }
    let (zero, half, up) = (R::of(0.0), R::of(0.5), up::<R>());
    let m = (l * half + u * half).max(l).min(u);
    let r = half_width(l, u, m);
    let ((fm, fe), (s, se)) = expansion(f, m)?;
    let k = curvature(f, (fm, fe), (s, se), r)?;
    let (q2, q3) = (half * r * r * up, r * r * r * up * R::of(1.0 / 6.0) * up);
    let spread = (k.e + k.lip * r) * up;
    let (c_lo, c_hi) = ((k.c - spread).max(-k.cap), (k.c + spread).min(k.cap));
    let third = k.lip * q3 * up;
    let rem_lo = -((-c_lo).max(zero) * q2 * up).min(((k.e - k.c).max(zero) * q2 + third) * up);
    let rem_hi = (c_hi.max(zero) * q2 * up).min(((k.c + k.e).max(zero) * q2 + third) * up);
    // |f| on the interval: |f(m)| plus the most the expansion moves.
    let fmax = (fm.abs() + fe + (s.abs() + se) * r + rem_hi.max(-rem_lo)) * up + R::ETA;
    if !(fmax <= R::of(F32_LIMIT)) {
        return None;
    }
    let err = R::of_up(super::err_total(f, l.f64(), u.f64(), fmax.f64()));
    let p = parallel((l, u, m), (fm, fe), (s, se), (rem_lo, rem_hi), (fmax, err));
    // The image: the lower line's least and the upper line's greatest value at the ends, each
    // evaluation's rounding (≤ 2u of `|s·x| + |b|`) charged.
    let four_u = R::of(4.0) * R::U;
    let at = |b: R, x: R| (s * x + b, four_u * ((s * x).abs() + b.abs()) + R::ETA);
    let ((a, ea), (b, eb)) = (at(p.b_lo, l), at(p.b_lo, u));
    let ((c, ec), (d, ed)) = (at(p.b_hi, l), at(p.b_hi, u));
    let image = ((a - ea).min(b - eb), (c + ec).max(d + ed));
    let ok = [p.b_lo, p.b_hi, s, image.0, image.1].iter().all(|v| v.is_finite());
    ok.then_some((p, image))
}

/// [`narrow_in`] in f64, as the other relaxations give their lines.
pub fn narrow(f: Unary, l: f64, u: f64) -> Option<(Relax, (f64, f64))> {
    let (p, image) = narrow_in(f, l, u)?;
    Some((
        Relax { lower: Line { slope: p.s, bias: p.b_lo }, upper: Line { slope: p.s, bias: p.b_hi } },
        image,
    ))
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::super::{Line, Relax, narrow, relax, relax_line};
    use super::narrow_in;
    use crate::unary::Unary;
    use core::f64::consts::{FRAC_PI_2, PI};

    const FNS: [Unary; 5] = [Unary::Sigmoid, Unary::Tanh, Unary::Sin, Unary::Cos, Unary::Pow(2)];

    /// A narrow interval: width log-uniform from 1e-9 to the module's limit, around a shape
    /// change (inflection, extremum), anywhere in `[−12, 12]`, or far out (tails, huge arguments).
    fn narrow_interval(rng: &mut Rng) -> (f64, f64) {
        let w = rng.log_uniform(-9.0, 0.0) * 0.5;
        let c = match rng.below(5) {
            0 => specials()[rng.below(27) as usize],
            1 => [0.0, FRAC_PI_2, PI, -FRAC_PI_2, -PI][rng.below(5) as usize],
            2 => rng.range(-12.0, 12.0),
            3 => rng.sign() * rng.log_uniform(1.0, 6.0),
            _ => rng.sign() * rng.log_uniform(6.0, 12.0),
        };
        let l = c - w * rng.unit();
        (l, l + w)
    }

    /// The lines and the image hold at the ends, the midpoint and random real and f32 points of
    /// the interval, for the f64 reference and the deployed f32 function (dense on every 40th).
    #[test]
    fn narrow_lines_and_image_are_sound() {
        for (i, f) in FNS.into_iter().enumerate() {
            let mut rng = Rng::new(0x7a71_0000 + i as u64);
            let mut given = 0;
            for k in 0..6000 {
                let (l, u) = narrow_interval(&mut rng);
                if let Some((r, iv)) = narrow(f, l, u) {
                    given += 1;
                    let npts = if k % 40 == 0 { 1000 } else { 12 };
                    check_lines_at_points(f, &r, iv, l, u, npts, &mut rng);
                }
            }
            // Only the square of huge arguments may be refused (f32 overflow).
            assert!(given > 5000, "{f:?}: {given} of 6000");
        }
    }

    /// The f32 construction on f32 intervals: sound as the f64 one, and its gap at most the f64
    /// construction's plus f32's larger error terms (at most `5e-6·(1 + |f| + |f'·x|)`).
    #[test]
    fn narrow_in_f32_is_sound_and_close_to_f64() {
        for (i, f) in FNS.into_iter().enumerate() {
            let mut rng = Rng::new(0x7a71_3200 + i as u64);
            let mut given = 0;
            for k in 0..6000 {
                let (l, u) = narrow_interval(&mut rng);
                let (Some(l), Some(u)) = (f32_down(l), f32_up(u)) else { continue };
                let Some((p, (a, b))) = narrow_in::<f32>(f, l, u) else { continue };
                given += 1;
                let line = |b: f32| Line { slope: p.s as f64, bias: b as f64 };
                let r = Relax { lower: line(p.b_lo), upper: line(p.b_hi) };
                let (l, u) = (l as f64, u as f64);
                let npts = if k % 40 == 0 { 1000 } else { 12 };
                check_lines_at_points(f, &r, (a as f64, b as f64), l, u, npts, &mut rng);
                if let Some((r64, _)) = narrow(f, l, u) {
                    let (g32, g64) = ((p.b_hi - p.b_lo) as f64, r64.upper.bias - r64.lower.bias);
                    let fmax = r64.upper.eval(l).abs().max(r64.upper.eval(u).abs());
                    // f32's intercept `f(m) − s·m` alone is off by up to `u·|s·m|`.
                    let tol = 5e-6 * (1.0 + fmax + r64.upper.slope.abs() * l.abs().max(u.abs()));
                    assert!(g32 <= 1.01 * g64 + tol, "{f:?} [{l}, {u}]: f32 gap {g32:e}, f64 {g64:e}");
                }
            }
            // Beyond 4096 f32 is refused (a fifth of the intervals lie at 1e6 to 1e12, some more
            // beyond 4096).
            assert!(given > 4000, "{f:?}: {given} of 6000");
        }
    }

    /// Wide, infinite, inverted and NaN intervals and other functions go to the full relaxation.
    #[test]
    fn narrow_refuses_what_it_does_not_serve() {
        for f in FNS {
            for (l, u) in [(0.0, 0.51), (-1.0, 1.0), (f64::NEG_INFINITY, 0.0), (1.0, 0.0), (f64::NAN, 0.0)] {
                assert!(narrow(f, l, u).is_none(), "{f:?} [{l}, {u}]");
            }
        }
        for f in [Unary::Exp, Unary::Relu, Unary::Gelu, Unary::Pow(3), Unary::Log] {
            assert!(narrow(f, 0.5, 0.6).is_none(), "{f:?}");
        }
        assert!(narrow(Unary::Pow(2), 1e20, 1e20 + 1e5).is_none(), "x² overflows f32");
        // f32 far from 0 (its intercept's rounding), f64 not.
        assert!(narrow_in::<f32>(Unary::Sin, 5000.0, 5000.1).is_none());
        assert!(narrow(Unary::Sin, 5000.0, 5000.1).is_some());
    }

    /// Against what a forward engine took before: the full relaxation's upper line and the tight
    /// lower line of the same slope ([`relax_line`]). On intervals narrower than 1e-3 the gap
    /// between the lines is the same (within 5 %); up to the module's limit it is at most four
    /// times that one (measured worst: 2.1× sigmoid, 2.3× tanh, 3.8× sin and cos around their
    /// inflections, where the tangent's slope leaves `|f'''|·r³/6` on each side; 1.0× the
    /// square). A remainder term taken too large or a wrong slope fails here.
    #[test]
    fn narrow_is_about_as_tight_as_the_full_relaxation() {
        let mut rng = Rng::new(0x7a71_7e57);
        let mut compared = 0;
        for f in FNS {
            for _ in 0..2000 {
                let (l, u) = narrow_interval(&mut rng);
                if !(l.abs() < 20.0) || u - l < 1e-4 {
                    continue;
                }
                let (Some((t, _)), Ok(full)) = (narrow(f, l, u), relax(f, l, u)) else { continue };
                let Ok((lower, _)) = relax_line(f, l, u, false, full.upper.slope) else { continue };
                let (gt, gf) = (t.upper.bias - t.lower.bias, full.upper.bias - lower.bias);
                let k = if u - l < 1e-3 { 1.05 } else { 4.0 };
                assert!(gt <= k * gf + 1e-9, "{f:?} [{l}, {u}]: Taylor gap {gt:e}, full {gf:e}");
                compared += 1;
            }
        }
        assert!(compared > 1000, "{compared}");
    }
}
