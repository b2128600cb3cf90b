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
//! STUB: to be filled in by the relax work (one file per family).

use crate::graph::Unary;

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

/// f(x) in f64 (the reference).
pub fn value(f: Unary, x: f64) -> f64 {
    let _ = f;
    x
}

/// f(x) as the deployed f32 network computes it (libm's f32 functions).
pub fn value_f32(f: Unary, x: f32) -> f32 {
    let _ = f;
    x
}

/// Sound interval image of `[l, u]` under `f` (covers the f32 evaluation too).
pub fn interval(f: Unary, l: f64, u: f64) -> Result<(f64, f64), RelaxError> {
    let _ = (f, l, u);
    Err(RelaxError::BadInterval)
}

/// Sound lower and upper lines for `f` on `[l, u]` (the tight non-optimised forms).
pub fn relax(f: Unary, l: f64, u: f64) -> Result<Relax, RelaxError> {
    let _ = (f, l, u);
    Err(RelaxError::BadInterval)
}

/// Sound interval image of `x·y` for `x ∈ [lx, ux]`, `y ∈ [ly, uy]`.
pub fn mul_interval(lx: f64, ux: f64, ly: f64, uy: f64) -> Result<(f64, f64), RelaxError> {
    let _ = (lx, ux, ly, uy);
    Err(RelaxError::BadInterval)
}

/// Sound lower and upper planes for `x·y` on the box (McCormick).
pub fn mul_relax(lx: f64, ux: f64, ly: f64, uy: f64) -> Result<(Plane, Plane), RelaxError> {
    let _ = (lx, ux, ly, uy);
    Err(RelaxError::BadInterval)
}

/// Whether GenBaB may branch on the input of `f` (notes §2.10).
pub fn splittable(f: Unary) -> bool {
    !matches!(f, Unary::Exp | Unary::Log | Unary::Sqrt | Unary::Neg | Unary::Abs)
}
