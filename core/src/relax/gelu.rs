//! The two GeLUs, one family ([`Gelu`]):
//!
//! - [`Gelu::Erf`], `x·Φ(x)` (exact, erf-based): `f'' = φ(x)(2 − x²)`, inflections `±√2`, global
//!   minimum `≈ −0.16997` at `x ≈ −0.75179` (notes §2.3);
//! - [`Gelu::Tanh`], `0.5·x·(1 + tanh g(x))` with `g(x) = c·(x + a·x³)`, `c = √(2/π)`,
//!   `a = 0.044715` (ONNX `Gelu` with `approximate="tanh"`), evaluated as `x·σ(2g(x))` (the same
//!   function, since `1 + tanh z = 2σ(2z)`, without the cancellation of `1 + tanh` in the left
//!   tail): inflections `±x₀`, `x₀ ≈ 1.418504`, global minimum `≈ −0.17004` at `x ≈ −0.75246`.
//!
//! Both are concave on `(−∞, −x₀]`, convex on `[−x₀, x₀]`, concave on `[x₀, ∞)`, decrease on
//! `(−∞, x_min]` and increase on `[x_min, ∞)`, tend to 0 at −∞ and to `x` at +∞, and satisfy
//! `f(x) = x + f(−x)` (so `f'(x) = 1 − f'(−x)` and `|f'| ≤ f'(x₀)`). They differ only in the
//! constants ([`Consts`]) and in their f64 and f32 formulas; the relaxation is shared.
//!
//! The erf GeLU's inflections `±√2` are bracketed by the f64 neighbours of `SQRT_2` (which is
//! within half an ulp of √2).
//!
//! # The tanh GeLU's shape
//!
//! With `T = tanh g(x)`: `f' = ½(1 + T) + ½·x·(1 − T²)·g'` and
//! `f'' = c·(1 − T²)·h(x)`, `h(x) = (1 + 6a·x²) − c·x·T·(1 + 3a·x²)²` (from `g' = c(1 + 3a·x²)`,
//! `g'' = 6ac·x`, `T'' = (1 − T²)(g'' − 2T·g'²)`). `h` is even (`x·T` is), `h(0) = 1`, and on
//! `x > 0`, `h(x)/(1 + 3a·x²)² = q(3a·x²) − c·x·tanh g(x)` with `q(y) = (1 + 2y)/(1 + y)²`,
//! `q'(y) = −2y/(1 + y)³ ≤ 0`, while `c·x·tanh g(x)` is a product of two positive increasing
//! factors: the quotient strictly decreases from 1 to −∞, so `h` has exactly one positive root
//! `x₀` (and `−x₀`); `f` is convex on `[−x₀, x₀]`, concave outside.
//! In 60-digit arithmetic (mpmath, `tests/fixtures/gelu_tanh_constants.py`)
//! `x₀ = 1.418504008790828355548…`, and for [`X0_TANH`] `= 1.4185040087908283` (the f64 nearest
//! `x₀`) `h(X0_TANH.next_down()) = +5.39e-16 > 0`, `h(X0_TANH) = +1.44e-16`,
//! `h(X0_TANH.next_up()) = −2.51e-16 < 0`: `x₀` lies in `(X0_TANH, X0_TANH.next_up())`, so the
//! f64 neighbours bracket it (and `−x₀` by symmetry). `gelu_tanh_inflection_bracket` re-checks
//! the sign change in f64 at ±1e-9 (where it is far above the evaluation error).
//!
//! Minimum: `f'` decreases on the concave `(−∞, −x₀]` from its limit 0 (so `f' < 0` there),
//! increases on `[−x₀, x₀]` to `f'(x₀) > 0` with `f'(0) = ½`, and `f' > 0` for `x > 0` (both terms
//! are positive): one stationary point `x_min ∈ (−x₀, 0)`, the global minimum. mpmath:
//! `x_min = −0.752461422071016258…`, `f(x_min) = −0.170040750571254050…`, `f'(x₀) =
//! 1.128993068658771765…`, and `sup_{x<0} |g(x)|·|f(x)| = 0.1411699…` at `x ≈ −1.2395`.
//!
//! # Lines
//!
//! One curvature → chord + tangent at the midpoint; one inflection inside → the S-shaped
//! construction (or its mirror); both inside → lower: tangent at the midpoint clamped to the
//! tangent points `[t1, t2]` of the convex middle whose tangents pass below `(l, f(l))` and
//! `(u, f(u))` (the convex envelope's supporting line; the chord if no such tangent exists), upper:
//! the chord (notes). The intercepts are rigorous (engine).
//!
//! # Error model
//!
//! Both GeLUs lose accuracy in the left tail through the rounding of an inner argument, and both
//! model it as a relative error growing with a *tail weight* `w(x)` for `x < 0` ([`Gelu::tail`]):
//!
//! - erf: `0.5·x·erfc(−x/√2)`; the rounding of `−x/√2` is amplified by `erfc`'s relative
//!   sensitivity `≈ 2z² = x²`: `w = x²`, and `x²·|f(x)| ≤ 0.2257` for `x < 0` (at `x ≈ −1.528`);
//! - tanh: `x·σ(2g)`; a relative error `δ` of the computed `g` moves `σ(2g)` by a relative
//!   `(1 − σ(2g))·2|g|·δ ≤ 2|g|·δ`: `w = |g|` (about `c·a·|x|³` far out), and
//!   `|g(x)|·|f(x)| ≤ 0.1412` for `x < 0`. For `x ≥ 0`, `(1 − σ(y))·y ≤ 0.28`: no tail term.
//!
//! So the absolute error stays tiny wherever the relative one grows.

use core::f64::consts::{FRAC_1_SQRT_2, SQRT_2};

use super::engine::{self, Ctx, EPS, ETA, F32_ABS, Fun, Pieces, Shape};
use super::s_shaped::{sigmoid, sigmoid_f32};
use super::{Relax, RelaxError};
use crate::unary::Unary;

/// `1/√(2π)`.
const INV_SQRT_2PI: f64 = 0.398_942_280_401_432_7;
/// `c = √(2/π)` of the tanh GeLU (f64 nearest).
const C_TANH: f64 = 0.797_884_560_802_865_4;
/// `a` of the tanh GeLU (f64 nearest 0.044715).
const A_TANH: f64 = 0.044_715;
/// `3a` (f64 nearest 0.134145).
const A3_TANH: f64 = 0.134_145;
/// The f64 nearest the tanh GeLU's positive inflection point `x₀ = 1.4185040087908283555…`,
/// which lies between this and its upper f64 neighbour (module doc).
pub(super) const X0_TANH: f64 = 1.418_504_008_790_828_3;

/// Which GeLU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Gelu {
    /// `x·Φ(x)`.
    Erf,
    /// `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`.
    Tanh,
}

/// What tells the two GeLUs apart besides their formulas.
pub(super) struct Consts {
    /// The f64 nearest the positive inflection point `x₀` (within one ulp of it; the pieces use
    /// its two f64 neighbours as the bracket).
    pub infl: f64,
    /// A lower bound of the global minimum.
    pub gmin_lo: f64,
    /// A bracket of the minimiser.
    pub xmin: (f64, f64),
    /// Bound of `sup_{x<0} w(x)·|f(x)|` (`w` the tail weight).
    pub wf_max: f64,
    /// f64 reference: `|value − f| ≤ (k64.0 + k64.1·w(x))·EPS·|f|` (the `w` term for `x < 0`).
    pub k64: (f64, f64),
    /// f32 model: `|value_f32 − f| ≤ 2^-24·(c32.0 + c32.1·w(x))·|f|` (the `w` term for `x < 0`),
    /// plus f32 underflow.
    pub c32: (f64, f64),
    /// `|f'| ≤ lip` everywhere.
    pub lip: f64,
}

/// The erf GeLU. f32: the measured errors (dense sweep of [−20, 20]) fit `2^-24·2.09·|f|` for
/// `x ≥ 0` and `2^-24·(2.0 + 2.0·x²)·|f|` for `x < 0`; the constants are about four times (constant
/// term) and exactly twice (x²) those. f64: erfc (≤ 2 ulps) and 2 roundings, plus the amplified
/// argument rounding for `x < 0` (`(2x² + 6)·EPS`).
const ERF: Consts = Consts {
    infl: SQRT_2,
    // −0.169971207479903… at −0.751791524693564…; x²·|f| ≤ 0.22567 (at x ≈ −1.5284).
    gmin_lo: -0.169_971_21,
    xmin: (-0.7518, -0.7517),
    wf_max: 0.23,
    k64: (32.0, 2.0),
    c32: (8.0, 4.0),
    lip: 1.13,
};

/// The tanh GeLU (constants: module doc). f64: `g` has relative error ≤ 7 EPS (five roundings and
/// the two constants), amplified by ≤ `2|g|` for `x < 0` (by ≤ 0.28 for `x ≥ 0`); σ ≤ 16 EPS; the
/// product one more: `(17 + 14|g|)·EPS`, bounded by `(32 + 32|g|)·EPS`. f32: the measured errors (every third f32 of
/// [−20, 20]) fit `2^-24·3.13·|f|` for `x ≥ 0` and `2^-24·(2.5 + 6.96·|g|)·|f|` for `x < 0` (the
/// rounding of `g` amplified, module doc); the constants are 2.6 and 2.3 times those.
const TANH: Consts = Consts {
    infl: X0_TANH,
    // −0.170040750571254… at −0.752461422071016…; |g|·|f| ≤ 0.14117 (at x ≈ −1.2395).
    gmin_lo: -0.170_040_76,
    xmin: (-0.7525, -0.7524),
    wf_max: 0.15,
    k64: (32.0, 32.0),
    c32: (8.0, 16.0),
    // f'(x₀) = 1.12899306865877…
    lip: 1.13,
};

/// `g(x) = c·x·(1 + a·x²)` in f64 (±∞ beyond |x| ≈ 1e103).
fn g_tanh(x: f64) -> f64 {
    C_TANH * (x * (1.0 + A_TANH * (x * x)))
}

/// `x·σ(2g(x))` in f32 as the firmware computes it (libm's `expf` inside σ).
fn gelu_tanh_f32(x: f32) -> f32 {
    const C: f32 = 0.797_884_6;
    const A: f32 = 0.044_715;
    let g = C * (x * (1.0 + A * (x * x)));
    x * sigmoid_f32(2.0 * g)
}

impl Gelu {
    /// The GeLU of a unary op (`Erf` for anything but [`Unary::GeluTanh`]).
    pub(super) fn of(f: Unary) -> Gelu {
        if f == Unary::GeluTanh { Gelu::Tanh } else { Gelu::Erf }
    }

    pub(super) const fn consts(self) -> &'static Consts {
        match self {
            Gelu::Erf => &ERF,
            Gelu::Tanh => &TANH,
        }
    }

    /// The function in f64 (`−∞ ↦ 0`, the limit).
    pub(super) fn value(self, x: f64) -> f64 {
        if x == f64::NEG_INFINITY {
            return 0.0;
        }
        match self {
            Gelu::Erf => 0.5 * x * libm::erfc(-x * FRAC_1_SQRT_2),
            Gelu::Tanh => x * sigmoid(2.0 * g_tanh(x)),
        }
    }

    /// The deployed f32 function: `0.5·x·erfcf(−x/√2)` (erfc form: no cancellation in the left
    /// tail), or `x·σ(2g(x))` with the stable f32 sigmoid.
    pub(super) fn value_f32(self, x: f32) -> f32 {
        match self {
            Gelu::Erf => 0.5 * x * libm::erfcf(-x * core::f32::consts::FRAC_1_SQRT_2),
            Gelu::Tanh => gelu_tanh_f32(x),
        }
    }

    /// The tail weight `w(x)` of the error models (`x²`, or `|g(x)|`), uncapped.
    pub(super) fn tail(self, x: f64) -> f64 {
        match self {
            Gelu::Erf => x * x,
            Gelu::Tanh => g_tanh(x).abs(),
        }
    }

    /// `w(x)` capped (beyond it every term it multiplies is 0, or exact).
    fn tail_capped(self, x: f64) -> f64 {
        self.tail(x).min(1e6)
    }

    /// The f64 relative error factor (units of EPS) at `x`.
    fn k64(self, x: f64) -> f64 {
        let k = self.consts().k64;
        if x < 0.0 { k.0 + k.1 * self.tail_capped(x) } else { k.0 }
    }
}

impl Fun for Gelu {
    fn f(&self, x: f64) -> f64 {
        self.value(x)
    }
    /// erf: `Φ(x) + x·φ(x)`; tanh: `σ(2g) + 2x·g'·σ(2g)(1 − σ(2g))`, the last factor as
    /// `e/(1 + e)²` with `e = exp(−2|g|)` (no cancellation).
    fn df(&self, x: f64) -> f64 {
        match self {
            Gelu::Erf => 0.5 * libm::erfc(-x * FRAC_1_SQRT_2) + x * (libm::exp(-0.5 * x * x) * INV_SQRT_2PI),
            Gelu::Tanh => {
                let y = 2.0 * g_tanh(x);
                sigmoid(y) + tanh_df_tail(x, y)
            }
        }
    }
    /// `k64(x)·EPS` relative (the consts' f64 model).
    fn f_err(&self, x: f64, fx: f64) -> f64 {
        self.k64(x) * EPS * fx.abs() + ETA
    }
    /// erf: Φ as in `f_err`; `x·φ(x)` has relative error `≤ (x²/2 + 6)·EPS` (the rounding of `x²`
    /// is amplified by the exponential); the sum adds one rounding.
    /// tanh: σ(2g) as in `f_err`; `q = σ(1 − σ)` at the computed `2g` has relative error
    /// `≤ 2|g|·8 EPS` (`|d ln q/dy| ≤ 1`) plus 8 EPS (exp, three roundings), `2x·g'` ≤ 9 EPS:
    /// `(32 + 32|g|)·EPS` with room, for every `x`; the sum adds one rounding.
    fn df_err(&self, x: f64, _d: f64) -> f64 {
        let kp = self.k64(x);
        match self {
            Gelu::Erf => {
                let phi_big = 0.5 * libm::erfc(-x * FRAC_1_SQRT_2);
                let xphi = (x * libm::exp(-0.5 * x * x) * INV_SQRT_2PI).abs();
                (kp * phi_big + (self.tail_capped(x) + 16.0) * xphi) * EPS * (1.0 + 1e-6) + ETA
            }
            Gelu::Tanh => {
                let y = 2.0 * g_tanh(x);
                let (s, t) = (sigmoid(y), tanh_df_tail(x, y).abs());
                let kq = 32.0 + 32.0 * self.tail_capped(x);
                (kp * s + kq * t) * EPS * (1.0 + 1e-6) + ETA
            }
        }
    }
    fn pieces(&self, l: f64, u: f64) -> Pieces {
        let x0 = self.consts().infl;
        let (a, b) = (x0.next_down(), x0.next_up());
        Pieces::from_breaks(l, u, &[(-b, -a), (a, b)], &[Shape::Concave, Shape::Convex, Shape::Concave])
    }
    /// `|f'| ≤ f'(x₀) < lip` everywhere (module doc).
    fn lip(&self, _p: f64, _q: f64) -> f64 {
        self.consts().lip
    }
}

/// `2x·g'(x)·σ(y)(1 − σ(y))` for `y = 2g(x)` (0 where `σ(1 − σ)` underflows, also for huge
/// `|x|`, where `g'` would overflow).
fn tanh_df_tail(x: f64, y: f64) -> f64 {
    let e = libm::exp(-y.abs());
    let d = 1.0 + e;
    let q = e / (d * d);
    if q == 0.0 { 0.0 } else { 2.0 * x * (C_TANH * (1.0 + A3_TANH * (x * x))) * q }
}

/// Computed image: monotone on each side of the minimiser.
pub(super) fn range(k: Gelu, l: f64, u: f64) -> (f64, f64) {
    let c = k.consts();
    let (fl, fu) = (k.value(l), k.value(u));
    let lo = if l <= c.xmin.1 && u >= c.xmin.0 { c.gmin_lo } else { fl.min(fu) };
    (lo, fl.max(fu))
}

/// The libm f32 part of [`err`] without its left-tail term (what `deployed::extra` compares
/// onnxruntime's error with: a smaller part only widens).
pub(super) fn libm32(k: Gelu, fmax: f64) -> f64 {
    k.consts().c32.0 * fmax / 16_777_216.0
}

/// Total error bound on `[l, u]` with `|f| ≤ fmax`: f32 and f64 models (see the module doc), with
/// `w(x)·|f| ≤ min(fmax·w(l), wf_max)` on the negative part (`w` grows with `|x|`).
pub(super) fn err(k: Gelu, l: f64, fmax: f64) -> f64 {
    let c = k.consts();
    let xn = if l < 0.0 { -l } else { 0.0 };
    let wf = if xn == 0.0 || fmax == 0.0 {
        0.0
    } else {
        let w = match k {
            Gelu::Erf => fmax * xn * xn,
            Gelu::Tanh => fmax * k.tail(l),
        };
        w.min(c.wf_max)
    };
    let e32 = (c.c32.0 * fmax + c.c32.1 * wf) / 16_777_216.0;
    let e64 = (c.k64.0 * fmax + c.k64.1 * wf) * EPS;
    (e32 + e64) * (1.0 + 1e-6) + F32_ABS + ETA
}

/// Lines on finite `[l, u]`.
///
/// Not inlined: its frame (two convexity decompositions, 1.7 KB on the Cortex-M4F) would become
/// part of `relax::relax`'s, which every op pays on the firmware's stack.
#[inline(never)]
pub(super) fn relax(g: Gelu, ctx: &Ctx) -> Result<Relax, RelaxError> {
    let x0 = g.consts().infl;
    let (l, u) = (ctx.l, ctx.u);
    let mut pcs = g.pieces(l, u);
    pcs.fill(&g);
    if l == u {
        return engine::const_slope(&g, ctx, &pcs);
    }
    let left = l < -x0 && -x0 < u;
    let right = l < x0 && x0 < u;
    match (left, right) {
        (false, false) => {
            let m = ctx.mid();
            engine::single_shape(&g, ctx, &pcs, m.abs() < x0)
        }
        (false, true) => engine::s_shape(&g, ctx, &pcs, x0),
        (true, false) => engine::inverse_s_shape(&g, ctx, -x0),
        (true, true) => {
            let (fl, fu) = (g.f(l), g.f(u));
            let (a, b) = (-x0, x0);
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

/// The f32 model of GeLU `f` (the consts' `c32`) at `x` with f64 value `v` (the ulp sweeps).
#[cfg(test)]
pub(super) fn model32(f: Unary, x: f64, v: f64) -> f64 {
    let g = Gelu::of(f);
    let c = g.consts().c32;
    let k = if x < 0.0 { c.0 + c.1 * g.tail(x) } else { c.0 };
    k * v.abs() / 16_777_216.0 + F32_ABS
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::super::*;
    #[allow(unused_imports)]
    use super::super::{interval, relax, value, value_f32};
    use super::*;
    use std::println;

    const BOTH: [Unary; 2] = [Unary::Gelu, Unary::GeluTanh];

    #[test]
    fn gelu_sound() {
        check_op_sound(Unary::Gelu, 100_000, 0x5eed_0301);
    }

    #[test]
    fn gelu_tanh_sound() {
        check_op_sound(Unary::GeluTanh, 100_000, 0x5eed_0302);
    }

    #[test]
    fn gelu_ulp_sweep() {
        for f in BOTH {
            let mut worst = (0.0f64, 0.0f64);
            for (lo, hi, stride) in [(-20.0f32, 20.0f32, 257), (-f32::MAX, f32::MAX, 65_537)] {
                let w = sweep_f32(f, lo, hi, stride, |x, v| model32(f, x, v));
                worst = (worst.0.max(w.0), worst.1.max(w.1));
            }
            println!("{f:?}: max |value_f32 - value| = {:.3} f32 ulps; model usage {:.3}", worst.0, worst.1);
            assert!(worst.1 <= 0.5, "{f:?}: f32 error uses {} of the margin", worst.1);
        }
    }

    /// `w(x)·|f(x)|` for `x < 0` stays below `wf_max`; the minimum is above `gmin_lo` (by < 1e-8)
    /// and inside `xmin`; `|f'| ≤ lip`; the f64 derivative matches a central difference.
    #[test]
    fn gelu_constants() {
        for g in [Gelu::Erf, Gelu::Tanh] {
            let c = g.consts();
            let mut m: f64 = 0.0;
            let mut gmin = f64::INFINITY;
            let mut argmin = 0.0;
            let mut x = -40.0;
            while x < 0.0 {
                let v = g.value(x);
                m = m.max(g.tail(x) * v.abs());
                if v < gmin {
                    gmin = v;
                    argmin = x;
                }
                x += 1e-5;
            }
            assert!(m < c.wf_max, "{g:?}: {m}");
            assert!(gmin > c.gmin_lo && gmin < c.gmin_lo + 1e-8, "{g:?}: {gmin}");
            assert!(argmin > c.xmin.0 && argmin < c.xmin.1, "{g:?}: {argmin}");
            let mut x = -10.0;
            while x < 10.0 {
                let d = g.df(x);
                assert!(d.abs() < c.lip, "{g:?}: f'({x}) = {d}");
                let h = 1e-6;
                let fd = (g.value(x + h) - g.value(x - h)) / (2.0 * h);
                assert!((fd - d).abs() < 1e-8, "{g:?}: f'({x}) = {d}, difference quotient {fd}");
                // The attack's gradient (its own formula) agrees.
                let da = crate::ops::elementwise::derivative(
                    if g == Gelu::Tanh { Unary::GeluTanh } else { Unary::Gelu },
                    x,
                );
                assert!((da - d).abs() < 1e-12, "{g:?}: attack's f'({x}) = {da}, {d}");
                x += 1e-3;
            }
        }
    }

    /// `f'' = c·sech²(g)·h(x)` changes sign at `±x₀`: `h` evaluated in f64 at `X0_TANH ± 1e-9`
    /// (where `|h| ≈ 1.8e-9`, far above its f64 evaluation error) has the signs the module doc
    /// derives, and the second difference of `f` agrees away from `x₀`.
    #[test]
    fn gelu_tanh_inflection_bracket() {
        let h = |x: f64| {
            let t = libm::tanh(g_tanh(x));
            let s = 1.0 + A3_TANH * x * x;
            (1.0 + 2.0 * A3_TANH * x * x) - C_TANH * x * t * s * s
        };
        for s in [1.0, -1.0] {
            let (a, b) = (s * (X0_TANH - 1e-9), s * (X0_TANH + 1e-9));
            assert!(h(a) > 1e-9 && h(b) < -1e-9, "{} {}", h(a), h(b));
        }
        assert_eq!(h(0.0), 1.0);
        let g = Gelu::Tanh;
        let d2 = |x: f64| (g.value(x + 1e-3) - 2.0 * g.value(x) + g.value(x - 1e-3)) / 1e-6;
        for x in [0.0, 0.5, 1.0, 1.4, -1.4, -0.7] {
            assert!(d2(x) > 0.0, "convex at {x}");
        }
        for x in [1.44, 2.0, 3.0, -1.44, -2.0, -3.0] {
            assert!(d2(x) < 0.0, "concave at {x}");
        }
        // The tanh GeLU as ONNX writes it, where it does not cancel.
        for x in [-2.0f64, -0.5, 0.0, 0.3, 1.0, 4.0] {
            let onnx = 0.5 * x * (1.0 + libm::tanh(C_TANH * (x + A_TANH * x * x * x)));
            assert!((onnx - g.value(x)).abs() <= 1e-15, "{x}");
        }
    }

    #[test]
    fn gelu_special() {
        for f in BOTH {
            let c = Gelu::of(f).consts();
            let r = relax(f, f64::NEG_INFINITY, 1.0).unwrap();
            assert!(r.lower.bias <= c.gmin_lo && r.upper.bias >= value(f, 1.0));
            assert_eq!(relax(f, 0.0, f64::INFINITY), Err(RelaxError::Overflow));
            let tiny = f64::from_bits(1);
            let x0 = c.infl;
            let xm = 0.5 * (c.xmin.0 + c.xmin.1);
            for &(l, u) in &[
                (-tiny, tiny),
                (-1e30, 1e30),
                (-1e30, -1e30),
                (1e30, 1e30),
                (-1e30, -1e29),
                (-40.0, -38.0),
                (-15.0, -13.0),
                (-11.0, -9.0),
                (-x0, x0),
                (-x0.next_up(), x0.next_down()),
                (x0, x0),
                (x0.next_down(), x0.next_up()),
                (-SQRT_2, SQRT_2),
                (-0.751_791_524_693_564_5, -0.751_791_524_693_564_5),
                (-0.752_461_422_071_016_3, -0.752_461_422_071_016_3),
                (xm, xm),
                (-0.8, -0.7),
                (-3.0, 3.0),
                (-1e-12, 1e-12),
                (-100.0, 1e3),
                (f32::MAX as f64, f32::MAX as f64),
                (f64::NEG_INFINITY, -3.0),
                (f64::NEG_INFINITY, 2.0),
                (f64::NEG_INFINITY, 1e30),
                (-1.0, f64::INFINITY),
                (f64::NEG_INFINITY, f64::INFINITY),
            ] {
                check_interval_sound(f, l, u, 300);
            }
        }
    }

    #[test]
    fn gelu_tight() {
        for f in BOTH {
            let r = gap_ratio(f, &mut Rng::new(13), (-5.0, 5.0), (0.05, 5.0));
            assert!(r < 0.3, "{f:?}: {r}");
        }
    }
}
