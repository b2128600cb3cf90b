//! One linear relaxation per nonlinearity.
//!
//! For every unary op `f` and input interval `[l, u]` this module gives (auto_LiRPA's operator
//! model): the forward value ([`value`] in f64, [`value_f32`] as the deployed f32 network computes
//! it), a sound interval image ([`interval`]) and a lower and an upper line ([`relax`]) that hold
//! for **every real** `x ∈ [l, u]` and for the f32 value the deployed network computes there.
//! The product of two variables has [`mul_interval`] and [`mul_relax`] (McCormick planes).
//!
//! Everything here is computed in `f64` with `libm`; the bound engines convert the lines to their
//! scalar type with directed rounding ([`Line::to_scalar_lower`]).
//!
//! # How soundness is obtained
//!
//! A family-specific rule chooses each line's *slope* (chord, tangent at the midpoint, the
//! S-shaped tangent through the far end, an area-optimal envelope slope); the *intercept* is then
//! computed rigorously for that slope from the convexity decomposition of `[l, u]`, with every f64
//! evaluation charged its error bound (see `engine`). Finally the intercept is moved outward by a
//! documented margin: the f64 libm error, the deployed f32 evaluation error (an error model per
//! function, checked by the ulp-sweep tests against dense f32 sweeps), and the rounding of the
//! line's own f64 evaluation. So a line is sound whatever the slope rule did.
//!
//! Files: `relu` (ReLU, LeakyReLU, Abs, Neg), `s_shaped` (sigmoid, tanh), `trig` (sin, cos),
//! `gelu` (the exact and the tanh-approximated GeLU), `convex` (exp, log, reciprocal, sqrt, pow),
//! `floor`, `bilinear` (x·y), `taylor` (parallel lines on narrow intervals), `engine` (the shared
//! machinery).

// `!(a <= b)` is used on purpose throughout: it is true for NaN operands, which must be rejected.
#![allow(clippy::neg_cmp_op_on_partial_ord, clippy::nonminimal_bool)]

use crate::num::{Format, Scalar};
use crate::unary::Unary;

mod bilinear;
mod convex;
pub mod deployed;
mod engine;
mod floor;
mod gelu;
mod param;
mod relu;
mod s_shaped;
mod taylor;
mod trig;

#[cfg(test)]
mod testutil;

use engine::{Ctx, EPS, ETA, F32_LIMIT};
use gelu::Gelu;

pub(crate) use bilinear::mccormick;
pub use bilinear::mul_relax_mix;
pub(crate) use param::project;
pub use param::{SlopeRange, relax_line, relax_slopes, slope_range};
pub(crate) use relu::relu_lines;
pub use taylor::narrow;
pub(crate) use taylor::narrow_in;

/// `y = slope·x + bias`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Line {
    /// Slope.
    pub slope: f64,
    /// Intercept.
    pub bias: f64,
}

/// A lower and an upper line valid on an interval.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Relax {
    /// `lower.slope·x + lower.bias ≤ f(x)` on the interval.
    pub lower: Line,
    /// `f(x) ≤ upper.slope·x + upper.bias` on the interval.
    pub upper: Line,
}

/// `z = ax·x + ay·y + c`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Plane {
    /// Coefficient of x.
    pub ax: f64,
    /// Coefficient of y.
    pub ay: f64,
    /// Constant.
    pub c: f64,
}

/// Why no relaxation could be given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum RelaxError {
    /// `l > u`, or a NaN bound.
    BadInterval,
    /// The interval leaves the op's domain (e.g. log or reciprocal of x ≤ 0, sqrt of x < 0).
    OutOfDomain,
    /// The result would not be finite (e.g. exp of 1e30).
    Overflow,
}

/// `slope·x + bias` in f64 (nearest rounding; the lines' margins cover this rounding).
#[inline]
pub fn eval_line(line: &Line, x: f64) -> f64 {
    line.slope * x + line.bias
}

/// `ax·x + ay·y + c` in f64 (nearest rounding; the planes' margins cover this rounding).
#[inline]
pub fn eval_plane(p: &Plane, x: f64, y: f64) -> f64 {
    p.ax * x + p.ay * y + p.c
}

/// `|Δ|·X` rounded up generously (for the directed conversions): `4 EPS` covers the product's
/// rounding; a zero `Δ` contributes nothing even when `X` is infinite.
fn slack(delta: f64, xmax: f64) -> f64 {
    if delta == 0.0 { 0.0 } else { delta.abs() * xmax * (1.0 + 4.0 * EPS) + ETA }
}

/// `b − s` rounded toward −∞ (`s ≥ 0`), then into `T` downward.
fn sub_down<T: Scalar>(b: f64, s: f64) -> T {
    if s == 0.0 {
        return T::from_f64_down(b); // exact in f64 already
    }
    let t = b - s;
    T::from_f64_down(t - (2.0 * EPS * t.abs() + ETA))
}

/// `b + s` rounded toward +∞ (`s ≥ 0`), then into `T` upward.
fn add_up<T: Scalar>(b: f64, s: f64) -> T {
    if s == 0.0 {
        return T::from_f64_up(b);
    }
    let t = b + s;
    T::from_f64_up(t + (2.0 * EPS * t.abs() + ETA))
}

impl Line {
    /// The line's value at `x` in f64 (see [`eval_line`]).
    #[inline]
    pub fn eval(&self, x: f64) -> f64 {
        eval_line(self, x)
    }

    /// This line, valid as a **lower** line on `[l, u]`, converted to `T`: `(slope_T, bias_T)` with
    /// `slope_T·x + bias_T ≤ slope·x + bias` for every real `x ∈ [l, u]`.
    ///
    /// The slope is rounded to nearest; the intercept absorbs the slope's rounding over the
    /// interval (`|slope − slope_T|·max(|l|, |u|)`, inflated for its own f64 rounding) and is
    /// rounded down. An unusable result (overflow, poison) is returned as is for the caller's
    /// `is_usable` check.
    pub fn to_scalar_lower<T: Scalar>(&self, l: f64, u: f64) -> (T, T) {
        let (a, s) = self.rounded_slope::<T>(l, u);
        (a, sub_down::<T>(self.bias, s))
    }

    /// This line, valid as an **upper** line on `[l, u]`, converted to `T`: `(slope_T, bias_T)`
    /// with `slope_T·x + bias_T ≥ slope·x + bias` for every real `x ∈ [l, u]`.
    pub fn to_scalar_upper<T: Scalar>(&self, l: f64, u: f64) -> (T, T) {
        let (a, s) = self.rounded_slope::<T>(l, u);
        (a, add_up::<T>(self.bias, s))
    }

    /// The slope rounded to `T` and the most its rounding moves the line on `[l, u]`.
    fn rounded_slope<T: Scalar>(&self, l: f64, u: f64) -> (T, f64) {
        let a = T::from_f64_near(self.slope);
        (a, slack(self.slope - a.to_f64(), l.abs().max(u.abs())))
    }
}

impl Plane {
    /// The plane's value at `(x, y)` in f64 (see [`eval_plane`]).
    #[inline]
    pub fn eval(&self, x: f64, y: f64) -> f64 {
        eval_plane(self, x, y)
    }

    /// This plane, valid as a **lower** plane on the box, converted to `T`: `(ax_T, ay_T, c_T)` with
    /// `ax_T·x + ay_T·y + c_T ≤ ax·x + ay·y + c` on `[lx, ux] × [ly, uy]` (see
    /// [`Line::to_scalar_lower`]).
    pub fn to_scalar_lower<T: Scalar>(&self, lx: f64, ux: f64, ly: f64, uy: f64) -> (T, T, T) {
        let (ax, ay, s) = self.rounded_coefficients::<T>(lx, ux, ly, uy);
        (ax, ay, sub_down::<T>(self.c, s))
    }

    /// This plane, valid as an **upper** plane on the box, converted to `T` (see
    /// [`Plane::to_scalar_lower`]).
    pub fn to_scalar_upper<T: Scalar>(&self, lx: f64, ux: f64, ly: f64, uy: f64) -> (T, T, T) {
        let (ax, ay, s) = self.rounded_coefficients::<T>(lx, ux, ly, uy);
        (ax, ay, add_up::<T>(self.c, s))
    }

    /// The coefficients rounded to `T` and the most their rounding moves the plane on the box
    /// (the f64 sum of the two slacks is itself widened by `2·EPS`).
    fn rounded_coefficients<T: Scalar>(&self, lx: f64, ux: f64, ly: f64, uy: f64) -> (T, T, f64) {
        let ax = T::from_f64_near(self.ax);
        let ay = T::from_f64_near(self.ay);
        let s = slack(self.ax - ax.to_f64(), lx.abs().max(ux.abs()))
            + slack(self.ay - ay.to_f64(), ly.abs().max(uy.abs()));
        (ax, ay, s * (1.0 + 2.0 * EPS))
    }
}

/// f(x) in f64 (the reference).
pub fn value(f: Unary, x: f64) -> f64 {
    match f {
        Unary::Relu | Unary::LeakyRelu(_) | Unary::Neg | Unary::Abs => relu::value(f, x),
        Unary::Sigmoid => s_shaped::sigmoid(x),
        Unary::Tanh => libm::tanh(x),
        Unary::Sin => libm::sin(x),
        Unary::Cos => libm::cos(x),
        Unary::Gelu | Unary::GeluTanh => Gelu::of(f).value(x),
        Unary::Floor => floor::value(x),
        Unary::Exp | Unary::Log | Unary::Reciprocal | Unary::Sqrt | Unary::Pow(_) => convex::value(f, x),
    }
}

/// The forward value of `f` at `x` as the deployed arithmetic of `T` computes it: libm's f32
/// function for `f32`, libm's f64 one for `f64`, and the f64 one rounded to nearest for fixed
/// point.
#[inline]
pub fn apply<T: Scalar>(f: Unary, x: T) -> T {
    match T::FORMAT {
        Format::F32 => T::from_f64_near(value_f32(f, x.to_f64() as f32) as f64),
        Format::F64 | Format::Fixed => T::from_f64_near(value(f, x.to_f64())),
    }
}

/// f(x) as the deployed f32 network computes it (libm's f32 functions).
pub fn value_f32(f: Unary, x: f32) -> f32 {
    match f {
        Unary::Relu | Unary::LeakyRelu(_) | Unary::Neg | Unary::Abs => relu::value_f32(f, x),
        Unary::Sigmoid => s_shaped::sigmoid_f32(x),
        Unary::Tanh => libm::tanhf(x),
        Unary::Sin => libm::sinf(x),
        Unary::Cos => libm::cosf(x),
        Unary::Gelu | Unary::GeluTanh => Gelu::of(f).value_f32(x),
        Unary::Floor => floor::value_f32(x),
        Unary::Exp | Unary::Log | Unary::Reciprocal | Unary::Sqrt | Unary::Pow(_) => convex::value_f32(f, x),
    }
}

/// `l ≤ u`, no NaN, and at least one real point (`[+∞, +∞]` is not an interval of reals).
fn check_interval(l: f64, u: f64) -> Result<(), RelaxError> {
    if !(l <= u) || l == f64::INFINITY || u == f64::NEG_INFINITY {
        return Err(RelaxError::BadInterval);
    }
    Ok(())
}

fn check_domain(f: Unary, l: f64) -> Result<(), RelaxError> {
    let ok = match f {
        Unary::Log | Unary::Reciprocal => l > 0.0,
        Unary::Sqrt => l >= 0.0,
        Unary::LeakyRelu(a) => a.is_finite(),
        _ => true,
    };
    if ok { Ok(()) } else { Err(RelaxError::OutOfDomain) }
}

/// Whether the deployed f32 evaluation is exact or cannot overflow (piecewise-linear maps).
fn no_f32_overflow(f: Unary) -> bool {
    matches!(f, Unary::Relu | Unary::LeakyRelu(_) | Unary::Neg | Unary::Abs | Unary::Floor)
}

/// The computed image `[lo, hi]` (no margin; may be infinite) of `[l, u]`.
fn raw_range(f: Unary, l: f64, u: f64) -> (f64, f64) {
    match f {
        Unary::Relu | Unary::LeakyRelu(_) | Unary::Neg | Unary::Abs => relu::range(f, l, u),
        Unary::Sigmoid | Unary::Tanh => s_shaped::range(f, l, u),
        Unary::Sin | Unary::Cos => trig::range(f, l, u),
        Unary::Gelu | Unary::GeluTanh => gelu::range(Gelu::of(f), l, u),
        Unary::Floor => floor::range(l, u),
        Unary::Exp | Unary::Log | Unary::Reciprocal | Unary::Sqrt | Unary::Pow(_) => convex::range(f, l, u),
    }
}

/// Bound on `|f − value| + |f − deployed|` over `[l, u]` given `fmax ≥ max |f|` there, for
/// `deployed` libm's f32 function ([`value_f32`]) or onnxruntime's kernel ([`deployed`]): the
/// family's bound, whose libm f32 part is `libm32`, widened to onnxruntime's where larger.
fn err_total(f: Unary, l: f64, u: f64, fmax: f64) -> f64 {
    let (family, libm32) = match f {
        Unary::Relu | Unary::LeakyRelu(_) | Unary::Neg | Unary::Abs => (relu::err(f, l, u), 0.0),
        Unary::Floor => (0.0, 0.0),
        Unary::Sigmoid | Unary::Tanh => (s_shaped::err(f, fmax), s_shaped::REL32 * fmax),
        Unary::Sin | Unary::Cos => (trig::err(fmax), trig::REL32 * fmax),
        // The left-tail term of gelu's libm model is left out here (a smaller libm32 only widens).
        Unary::Gelu | Unary::GeluTanh => {
            let g = Gelu::of(f);
            (gelu::err(g, l, fmax), gelu::libm32(g, fmax))
        }
        Unary::Exp | Unary::Log | Unary::Reciprocal | Unary::Sqrt | Unary::Pow(_) => {
            (convex::err(f, fmax), convex::rel32(f) * fmax)
        }
    };
    family + deployed::extra(f, l, u, fmax, libm32)
}

/// Validated image: computed `[lo, hi]`, and the error bound `err` of [`err_total`].
fn image(f: Unary, l: f64, u: f64) -> Result<(f64, f64, f64), RelaxError> {
    check_interval(l, u)?;
    check_domain(f, l)?;
    let (lo, hi) = raw_range(f, l, u);
    if !(lo.is_finite() && hi.is_finite()) {
        return Err(RelaxError::Overflow);
    }
    let fmax = engine::fmax_of(lo, hi);
    if !no_f32_overflow(f) && fmax > F32_LIMIT {
        // value_f32 may be infinite at an f32 point of [l, u] (f32 points lie within ±f32::MAX):
        // no finite line bounds it.
        let m32 = f32::MAX as f64;
        let (cl, cu) = (l.max(-m32), u.min(m32));
        if cl <= cu {
            let (a, b) = if cl == l && cu == u { (lo, hi) } else { raw_range(f, cl, cu) };
            if !(engine::fmax_of(a, b) <= F32_LIMIT) {
                return Err(RelaxError::Overflow);
            }
        }
    }
    let err = err_total(f, l, u, fmax);
    if !err.is_finite() {
        return Err(RelaxError::Overflow);
    }
    Ok((lo, hi, err))
}

/// Sound interval image of `[l, u]` under `f` (covers the f32 evaluation too).
///
/// The computed image (endpoints, and the extrema inside) widened by the function's total error
/// bound (f64 libm error + deployed f32 error) and the rounding of the widening itself.
pub fn interval(f: Unary, l: f64, u: f64) -> Result<(f64, f64), RelaxError> {
    let (lo, hi, err) = image(f, l, u)?;
    let e = err + 4.0 * EPS * lo.abs().max(hi.abs()) + ETA;
    let (a, b) = (lo - e, hi + e);
    if !(a.is_finite() && b.is_finite()) {
        return Err(RelaxError::Overflow);
    }
    Ok((a, b))
}

/// Constant lines at the interval image (always sound).
fn const_lines(f: Unary, l: f64, u: f64) -> Result<Relax, RelaxError> {
    let (a, b) = interval(f, l, u)?;
    Ok(Relax { lower: Line { slope: 0.0, bias: a }, upper: Line { slope: 0.0, bias: b } })
}

fn finite(r: &Relax) -> bool {
    r.lower.slope.is_finite()
        && r.lower.bias.is_finite()
        && r.upper.slope.is_finite()
        && r.upper.bias.is_finite()
}

/// Sound lower and upper lines for `f` on `[l, u]` (the tight non-optimised forms).
///
/// Infinite bounds get constant lines at the image when it is bounded (sigmoid on `[−∞, ∞]`),
/// `Overflow` otherwise. If a tight construction cannot be represented (e.g. a slope times the
/// interval magnitude overflows) the constant lines at the image are returned instead.
pub fn relax(f: Unary, l: f64, u: f64) -> Result<Relax, RelaxError> {
    let (lo, hi, err) = image(f, l, u)?;
    if !(l.is_finite() && u.is_finite()) {
        return const_lines(f, l, u);
    }
    let ctx = Ctx::new(l, u, lo, hi, err);
    let r = match f {
        Unary::Relu | Unary::LeakyRelu(_) | Unary::Neg | Unary::Abs => relu::relax(f, &ctx),
        Unary::Sigmoid | Unary::Tanh => s_shaped::relax(f, &ctx),
        Unary::Sin | Unary::Cos => trig::relax(f, &ctx),
        Unary::Gelu | Unary::GeluTanh => gelu::relax(Gelu::of(f), &ctx),
        Unary::Floor => Ok(floor::relax(l, u)),
        Unary::Exp | Unary::Log | Unary::Reciprocal | Unary::Sqrt | Unary::Pow(_) => convex::relax(f, &ctx),
    };
    let c = const_lines(f, l, u)?;
    match r {
        Ok(mut r) if finite(&r) => {
            // Keep the better of the tight line and the constant at the image (both are sound):
            // a line below the constant lower bound everywhere on [l, u] is dominated, e.g. the
            // Taylor lines of sin at huge arguments whose intercept carries `EPS·|slope·x|`.
            if r.lower.eval(l).max(r.lower.eval(u)) <= c.lower.bias {
                r.lower = c.lower;
            }
            if r.upper.eval(l).min(r.upper.eval(u)) >= c.upper.bias {
                r.upper = c.upper;
            }
            Ok(r)
        }
        _ => Ok(c),
    }
}

/// Sound interval image of `x·y` for `x ∈ [lx, ux]`, `y ∈ [ly, uy]`.
pub fn mul_interval(lx: f64, ux: f64, ly: f64, uy: f64) -> Result<(f64, f64), RelaxError> {
    bilinear::mul_interval(lx, ux, ly, uy)
}

/// Sound lower and upper planes for `x·y` on the box (McCormick).
pub fn mul_relax(lx: f64, ux: f64, ly: f64, uy: f64) -> Result<(Plane, Plane), RelaxError> {
    bilinear::mul_relax(lx, ux, ly, uy)
}

/// Whether GenBaB may branch on the input of `f` (notes §2.10).
pub fn splittable(f: Unary) -> bool {
    !matches!(f, Unary::Exp | Unary::Log | Unary::Sqrt | Unary::Neg | Unary::Abs)
}

#[cfg(test)]
mod tests {
    use super::testutil::*;
    use super::*;
    use crate::num::Fix;

    /// Adversarial floating-point inputs for every op: points, subnormals, ±1e30, intervals
    /// crossing 0 (or an inflection) by one ulp.
    #[test]
    fn adversarial_intervals() {
        let tiny = f64::from_bits(1);
        let min_normal = f64::MIN_POSITIVE;
        let s2 = core::f64::consts::SQRT_2;
        let pi = core::f64::consts::PI;
        let mut ivs: std::vec::Vec<(f64, f64)> = std::vec![
            (0.0, 0.0),
            (-0.0, 0.0),
            (-tiny, tiny),
            (-tiny, 0.0),
            (0.0, tiny),
            (tiny, tiny),
            (min_normal, 2.0 * min_normal),
            (-min_normal, min_normal),
            (1e-30, 1e-30),
            (-1e30, 1e30),
            (1e30, 1e30),
            (-1e30, -1e30),
            (1e30, 1e30 * (1.0 + f64::EPSILON)),
            (-1e-300, 1e-300),
            (0.0f64.next_down(), 1.0),
            (-1.0, 0.0f64.next_up()),
            (1.0f64.next_down(), 1.0f64.next_up()),
            (s2.next_down(), s2.next_up()),
            (-s2.next_up(), -s2.next_down()),
            (-s2, s2),
            (pi.next_down(), pi.next_up()),
            (0.5 * pi, 0.5 * pi),
            (-0.751_791_524_693_564_5, -0.751_791_524_693_564_5),
            (f32::MAX as f64, f32::MAX as f64),
            (-(f32::MAX as f64), f32::MAX as f64),
            (f32::MIN_POSITIVE as f64, f32::MIN_POSITIVE as f64),
            (f32::from_bits(1) as f64, f32::from_bits(3) as f64),
            (-(f32::from_bits(1) as f64), f32::from_bits(1) as f64),
            (-1e300, 1e300),
            (1e300, 1e300),
            (-3.0, 3.0),
            (0.25, 0.25 + 1e-12),
            (-5.0, -5.0 + 1e-12),
        ];
        let mut rng = Rng::new(99);
        for _ in 0..200 {
            let c = rng.sign() * rng.log_uniform(-300.0, 30.0);
            let mut u = c;
            for _ in 0..rng.below(3) {
                u = u.next_up();
            }
            ivs.push((c, u));
        }
        for f in all_ops() {
            for &(l, u) in &ivs {
                let (l, u) = testutil::into_domain(f, l, u);
                check_interval_sound(f, l, u, 100);
            }
        }
    }

    /// Bad inputs give errors, never panics.
    #[test]
    fn errors_not_panics() {
        let weird = [
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            0.0,
            -0.0,
            1.0,
            -1.0,
            1e308,
            -1e308,
            f64::from_bits(1),
        ];
        for f in all_ops().into_iter().chain([
            Unary::LeakyRelu(f32::NAN),
            Unary::Pow(0),
            Unary::Pow(1),
            Unary::Pow(255),
        ]) {
            for &l in &weird {
                for &u in &weird {
                    let r = relax(f, l, u);
                    let i = interval(f, l, u);
                    if l.is_nan() || u.is_nan() || l > u {
                        assert_eq!(r, Err(RelaxError::BadInterval), "{f:?} [{l}, {u}]");
                    }
                    if let Ok(r) = r {
                        assert!(finite(&r), "{f:?} [{l}, {u}] {r:?}");
                        let (a, b) = i.unwrap();
                        assert!(a.is_finite() && b.is_finite() && a <= b);
                    }
                }
            }
        }
        for &a in &weird {
            for &b in &weird {
                for &c in &weird {
                    let _ = mul_relax(a, b, c, 1.0);
                    let _ = mul_interval(a, 1.0, b, c);
                }
            }
        }
        assert_eq!(relax(Unary::Sigmoid, 1.0, 0.0), Err(RelaxError::BadInterval));
        assert_eq!(relax(Unary::Sigmoid, f64::INFINITY, f64::INFINITY), Err(RelaxError::BadInterval));
    }

    /// `D = (a_T − a)·x + (b_T − b)`; `a_T − a` is exact (a rounding residual), the rest rounds by
    /// far less than the conversion's slack.
    fn conv_gap(a: f64, b: f64, at: f64, bt: f64, x: f64) -> f64 {
        (at - a) * x + (bt - b)
    }

    fn check_conversions<T: Scalar>(rng: &mut Rng, n: usize) -> usize {
        let mut checked = 0;
        for i in 0..n {
            let f = all_ops()[i % all_ops().len()];
            let (l, u) = gen_interval(rng);
            let (l, u) = testutil::into_domain(f, l, u);
            let Ok(r) = relax(f, l, u) else { continue };
            let (al, bl) = r.lower.to_scalar_lower::<T>(l, u);
            let (au, bu) = r.upper.to_scalar_upper::<T>(l, u);
            if !(al.is_usable() && bl.is_usable() && au.is_usable() && bu.is_usable()) {
                continue;
            }
            checked += 1;
            for k in 0..8 {
                let x = match k {
                    0 => l,
                    1 => u,
                    _ => (l + (u - l) * rng.unit()).clamp(l, u),
                };
                let gl = conv_gap(r.lower.slope, r.lower.bias, al.to_f64(), bl.to_f64(), x);
                let gu = conv_gap(r.upper.slope, r.upper.bias, au.to_f64(), bu.to_f64(), x);
                assert!(
                    gl <= 0.0 && gu >= 0.0,
                    "{} {f:?} [{l:e}, {u:e}] x={x:e}: {gl:e} {gu:e} {r:?}",
                    T::NAME
                );
            }
        }
        checked
    }

    #[test]
    fn line_conversion_is_directed() {
        let mut rng = Rng::new(0xc0de);
        assert!(check_conversions::<f32>(&mut rng, 60_000) > 30_000);
        assert!(check_conversions::<f64>(&mut rng, 20_000) > 10_000);
        assert!(check_conversions::<Fix>(&mut rng, 60_000) > 10_000);
        // A slope Fix cannot hold exactly: the intercept absorbs the difference.
        let line = Line { slope: 1e-7, bias: 0.5 };
        let (a, b) = line.to_scalar_lower::<Fix>(-100.0, 100.0);
        assert_eq!(a.to_f64(), 0.0);
        assert!(b.to_f64() <= 0.5 - 1e-5 && b.to_f64() > 0.5 - 2e-5);
        let (a, b) = line.to_scalar_upper::<Fix>(-100.0, 100.0);
        assert_eq!(a.to_f64(), 0.0);
        assert!(b.to_f64() >= 0.5 + 1e-5);
    }

    #[test]
    fn plane_conversion_is_directed() {
        let mut rng = Rng::new(0xbeef);
        let mut checked = 0;
        for _ in 0..40_000 {
            let (lx, ux) = gen_interval(&mut rng);
            let (ly, uy) = gen_interval(&mut rng);
            let Ok((lo, up)) = mul_relax(lx, ux, ly, uy) else { continue };
            for which in 0..2 {
                let (ax, ay, c, ok) = if which == 0 {
                    let (a, b, c) = lo.to_scalar_lower::<f32>(lx, ux, ly, uy);
                    (a.to_f64(), b.to_f64(), c.to_f64(), a.is_usable() && b.is_usable() && c.is_usable())
                } else {
                    let (a, b, c) = lo.to_scalar_lower::<Fix>(lx, ux, ly, uy);
                    (a.to_f64(), b.to_f64(), c.to_f64(), a.is_usable() && b.is_usable() && c.is_usable())
                };
                let (bx, by, d, ok2) = if which == 0 {
                    let (a, b, c) = up.to_scalar_upper::<f32>(lx, ux, ly, uy);
                    (a.to_f64(), b.to_f64(), c.to_f64(), a.is_usable() && b.is_usable() && c.is_usable())
                } else {
                    let (a, b, c) = up.to_scalar_upper::<Fix>(lx, ux, ly, uy);
                    (a.to_f64(), b.to_f64(), c.to_f64(), a.is_usable() && b.is_usable() && c.is_usable())
                };
                if !(ok && ok2) {
                    continue;
                }
                checked += 1;
                for _ in 0..6 {
                    let x = (lx + (ux - lx) * rng.unit()).clamp(lx, ux);
                    let y = (ly + (uy - ly) * rng.unit()).clamp(ly, uy);
                    let gl = (ax - lo.ax) * x + (ay - lo.ay) * y + (c - lo.c);
                    let gu = (bx - up.ax) * x + (by - up.ay) * y + (d - up.c);
                    assert!(
                        gl <= 0.0 && gu >= 0.0,
                        "[{lx:e},{ux:e}]x[{ly:e},{uy:e}] ({x:e},{y:e}) {gl:e} {gu:e}"
                    );
                }
            }
        }
        assert!(checked > 20_000, "{checked}");
    }
}

/// Dense f32 sweeps (every 3rd f32; run on demand: `cargo test --release dense_ulp_sweep --
/// --ignored --nocapture`). The default suite uses strided sweeps (see each family's
/// `*_ulp_sweep`); this one backs the quoted worst-case numbers.
#[cfg(test)]
mod dense {
    use super::testutil::*;
    use super::*;
    use std::println;

    #[test]
    #[ignore]
    fn dense_ulp_sweep() {
        let ops = [
            (Unary::Sigmoid, -120.0f32, 120.0f32, s_shaped::REL32),
            (Unary::Tanh, -20.0, 20.0, s_shaped::REL32),
            (Unary::Sin, -64.0, 64.0, trig::REL32),
            (Unary::Cos, -64.0, 64.0, trig::REL32),
            (Unary::Exp, -104.0, 88.7, 1.0 / 4_194_304.0),
            (Unary::Log, 1e-30, 1e30, 1.0 / 4_194_304.0),
            (Unary::Pow(3), -1e12, 1e12, 1.0 / 4_194_304.0),
        ];
        for (f, lo, hi, rel) in ops {
            let w = sweep_f32(f, lo, hi, 3, |_x, v| rel * v.abs() + engine::F32_ABS);
            println!("{f:?} on [{lo}, {hi}]: max {:.3} f32 ulps, model usage {:.3}", w.0, w.1);
            assert!(w.1 <= 0.5);
        }
        for f in [Unary::Gelu, Unary::GeluTanh] {
            let w = sweep_f32(f, -20.0, 20.0, 3, |x, v| gelu::model32(f, x, v));
            println!("{f:?} on [-20, 20]: max {:.3} f32 ulps, model usage {:.3}", w.0, w.1);
            assert!(w.1 <= 0.5);
        }
    }
}

/// Rough per-call cost (run on demand: `cargo test --release relax_cost -- --ignored --nocapture`).
#[cfg(test)]
mod cost {
    use super::testutil::*;
    use super::*;
    use std::println;

    #[test]
    #[ignore]
    fn relax_cost() {
        let mut rng = Rng::new(5);
        let ivs: std::vec::Vec<(f64, f64)> = (0..20_000)
            .map(|_| {
                let l = rng.range(-8.0, 8.0);
                (l, l + rng.range(0.0, 6.0))
            })
            .collect();
        for f in [
            Unary::Relu,
            Unary::Sigmoid,
            Unary::Tanh,
            Unary::Sin,
            Unary::Cos,
            Unary::Gelu,
            Unary::GeluTanh,
            Unary::Exp,
            Unary::Pow(3),
        ] {
            let t = std::time::Instant::now();
            let mut acc = 0.0;
            for &(l, u) in &ivs {
                if let Ok(r) = relax(f, l, u) {
                    acc += r.lower.bias;
                }
            }
            println!(
                "{f:?}: {:.2} us per relax ({acc:.1})",
                t.elapsed().as_secs_f64() * 1e6 / ivs.len() as f64
            );
        }
        for &(f, l, u) in &[
            (Unary::Sin, -0.5, 3.5),
            (Unary::Sin, -1.0, 1.0),
            (Unary::Cos, -2.0, 2.0),
            (Unary::Sigmoid, -1.0, 1.0),
            (Unary::Sigmoid, -1.0, 8.0),
            (Unary::Gelu, -3.0, 3.0),
            (Unary::Gelu, -1.0, 3.0),
            (Unary::GeluTanh, -3.0, 3.0),
            (Unary::Pow(3), -1.0, 2.0),
        ] {
            println!("{f:?} [{l}, {u}]: {:?}", relax(f, l, u).unwrap());
        }
    }
}
