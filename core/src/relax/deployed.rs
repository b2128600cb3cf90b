//! How far a deployed implementation of each elementwise function may be from the real function:
//! `|deployed(x) − f(x)| ≤ rel·|f(x)| + abs + abs_x·min(|x|, x_cap)` for every f32 `x`.
//!
//! "Deployed" covers the two implementations the verdicts are for: libm's f32 functions (the
//! firmware's math, [`super::value_f32`], whose errors the family modules bound and their ulp
//! sweeps check) and onnxruntime's CPU kernels, which approximate instead of rounding correctly.
//! Measured (`tests/fixtures/measure_ort_functions.py`, results and the CPU they ran on in
//! `tests/fixtures/ort_function_errors.md`), onnxruntime's kernels differ from libm's in kind:
//!
//! - Sigmoid's error is *absolute* (outputs come in steps of 2^-24 near 0), it returns exactly 0
//!   for x ≤ −18 where `σ(−18) ≈ 1.5e-8`, and it reaches 1.0000001, above its range.
//! - Tanh is a rational approximation, exactly ±1 beyond |x| ≈ 9 and up to ±1.0000002 before.
//! - GeLU, `0.5·x·(1 + erf(x/√2))`, cancels in the left tail: erf's error near −1 becomes an
//!   absolute error proportional to `|x|`, while the real value decays like `e^{−x²/2}`; below
//!   x ≈ −5.55 erf is exactly −1 and the output is −0.
//! - The tanh-approximated GeLU, `0.5·x·(1 + tanh z)`, `z = √(2/π)·(x + 0.044715·x³)`, cancels
//!   the same way with tanh's error near −1, and tanh may return a value below −1: outputs up to
//!   +6.1e-7 for negative `x`. Below x ≈ −5.155 (`z < −9`) tanh is exactly −1 and the output −0.
//! - Sigmoid, tanh and log are not monotone in f32 (nothing here assumes they are).
//!
//! The constants are the measured maxima times two. The family modules' bounds cover libm's f32
//! function and the f64 reference; [`extra`] widens them to the larger of libm's and
//! onnxruntime's error, so a relaxation holds for either implementation. The
//! `deployed_error_model_covers_onnxruntime` test checks them against committed samples.

use crate::unary::Unary;

/// `|deployed(x) − f(x)| ≤ rel·|f(x)| + abs + abs_x·min(|x|, x_cap)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FnErr {
    /// Relative to the function's value.
    pub rel: f64,
    /// Absolute.
    pub abs: f64,
    /// Per unit of `|x|` (the GeLUs' left-tail cancellation)...
    pub abs_x: f64,
    /// ...up to this `|x|` (beyond it erf, or tanh, is ±1 in f32 and the cancellation is complete).
    pub x_cap: f64,
}

/// The unit roundoff of f32: 2^-24.
const U: f64 = 5.960_464_477_539_063e-8;
/// An absolute term for results near f32's subnormal range (2^-140, as [`super::engine`]).
const TINY: f64 = 7.174_648_137_343_063e-43;

/// The error model of `f`'s deployed implementations beyond libm's f32 function.
pub const fn bound(f: Unary) -> FnErr {
    // Twice the maxima measured on onnxruntime 1.32 (ort_function_errors.md), in units of U.
    let (rel, abs, abs_x, x_cap) = match f {
        // Measured: absolute 1.78e-7 (3.0 U), exactly 0 below −18, 1.0000001 above 8.
        Unary::Sigmoid => (0.0, 6.0 * U, 0.0, 0.0),
        // Measured: 2.73·2^-23 relative (5.5 U); 3.25e-7 absolute at ±8.48, exactly ±1 beyond 9.
        Unary::Tanh => (12.0 * U, TINY, 0.0, 0.0),
        // Measured: 0.63·2^-23 (exp), 2.18·2^-23 (log), 1.45·2^-23 (sin, cos) relative.
        Unary::Exp => (4.0 * U, TINY, 0.0, 0.0),
        Unary::Log => (12.0 * U, 0.0, 0.0, 0.0),
        Unary::Sin | Unary::Cos => (6.0 * U, 0.0, 0.0, 0.0),
        // Measured: 1.07·2^-23 relative for x ≥ 0; in the left tail 0.48·|x|·U (erf is exactly −1
        // below x ≈ −5.55, where the output is −0 and the real value as large as −8.3e-8).
        Unary::Gelu => (8.0 * U, TINY, 2.0 * U, 16.0),
        // Measured: 1.76·2^-23 relative for x ≥ 0; in the left tail 2.67·|x|·U with a relative
        // 4·2^-23 allowed (as high as 7.98e-7 at x = −5.02, where the real value is −2.3e-7).
        Unary::GeluTanh => (8.0 * U, TINY, 6.0 * U, 16.0),
        // Correctly rounded (measured): half an ulp, up to U relative, and subnormal outputs.
        Unary::Sqrt | Unary::Reciprocal => (2.0 * U, TINY, 0.0, 0.0),
        // x^n as products (each rounded, covered by the convex family's bound), or exact
        // (piecewise linear).
        _ => (0.0, 0.0, 0.0, 0.0),
    };
    FnErr { rel, abs, abs_x, x_cap }
}

/// The bound over `[l, u]` given `fmax ≥ max |f|` there.
pub fn err(f: Unary, l: f64, u: f64, fmax: f64) -> f64 {
    let e = bound(f);
    let x = e.abs_x * l.abs().max(u.abs()).min(e.x_cap);
    (e.rel * fmax + e.abs + x) * (1.0 + 1e-9)
}

/// What the family bound must add so that it covers onnxruntime as well as libm: the family
/// bound already holds `libm32`, the part for libm's f32 function, and the deployed function
/// is one of the two, so the bound needs `max(libm32, err)`, not their sum.
pub(super) fn extra(f: Unary, l: f64, u: f64, fmax: f64, libm32: f64) -> f64 {
    let e = err(f, l, u, fmax);
    if e > libm32 { (e - libm32) * (1.0 + 1e-9) } else { 0.0 }
}
