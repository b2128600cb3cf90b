//! Shared machinery of the relaxations: a *sound intercept* for any slope.
//!
//! Every relaxation in this module is built the same way:
//!
//! 1. a family-specific rule picks a **slope** `a` (chord, tangent at the midpoint, tangent through
//!    the far end, …) — this step only decides tightness and may be approximate;
//! 2. [`min_gap`] computes a **rigorous lower bound** of `min_{x∈[l,u]} s·(f(x) − a·x)` for the
//!    real function `f` (`s = +1` for a lower line, `−1` for an upper line) from the convexity
//!    decomposition of `[l, u]` into [`Piece`]s:
//!    - on a piece where `s·f` is concave or linear, the minimum of `s·(f − a·x)` is at an end;
//!    - on a piece where `s·f` is convex, `g = s·(f − a·x)` lies above its tangent at any point
//!      `t` of the piece, so `min g ≥ g(t) + min(g'(t)·(p − t), g'(t)·(q − t), 0)`; `t` is the
//!      construction's tangent point (a hint) or the stationary point found by bisection, and the
//!      bound holds for *any* `t` — an inexact `t` only costs tightness;
//!    - on an [`Shape::Unknown`] piece (a tiny bracket around an inflection point that is not
//!      representable, like `√2` or `kπ`), `g(x) ≥ g(p) − L·(q − p)` with a Lipschitz bound `L`;
//! 3. the intercept is that bound minus a margin (see [`finish_line`]) covering the f64 libm error,
//!    the deployed f32 evaluation error, and the rounding of the line's own evaluation.
//!
//! Every f64 evaluation inside [`min_gap`] is charged with its own error bound, so the result is a
//! bound for the real `f` and real arithmetic. Soundness therefore rests on three facts per
//! function: the convexity decomposition is right, the derivative error bound is right, and the
//! value error bounds are right (the last ones are checked by the ulp-sweep tests).

use super::{Line, RelaxError};

/// Unit roundoff of f64 (`2^-53`): one nearest-rounded operation has relative error ≤ `EPS`.
pub(super) const EPS: f64 = f64::EPSILON / 2.0;
/// Absolute allowance for f64 underflow: a rounded f64 operation has absolute error at most
/// `2^-1075` in the subnormal range; `ETA = 2^-1050` covers any handful of those.
pub(super) const ETA: f64 = f64::from_bits(1 << 24);
/// Absolute allowance for f32 underflow (`2^-140`): f32 subnormal results are rounded to
/// multiples of `2^-149`; the f32 formulas here lose at most a few dozen such units (measured
/// by the ulp sweeps, which include the subnormal output ranges).
pub(super) const F32_ABS: f64 = 7.174_648_137_343_063e-43; // 2^-140
/// Images whose magnitude exceeds this overflow (or may overflow) in f32: `value_f32` would be
/// infinite at some f32 point of the interval, and no finite line can bound it. Below the limit
/// every f32 result is finite because the f32 relative errors (≤ 2^-16 even for GeLU) cannot
/// carry a value above `3.0e38` beyond `f32::MAX ≈ 3.4028e38`.
pub(super) const F32_LIMIT: f64 = 3.0e38;

/// Local curvature of `f` on a piece of the input interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Shape {
    /// `f` is convex on the piece.
    Convex,
    /// `f` is concave on the piece.
    Concave,
    /// `f` is affine on the piece.
    Linear,
    /// Unknown curvature (a tiny bracket around an inexactly known inflection point).
    Unknown,
}

impl Shape {
    /// The shape of `−f`.
    pub(super) fn flip(self) -> Shape {
        match self {
            Shape::Convex => Shape::Concave,
            Shape::Concave => Shape::Convex,
            s => s,
        }
    }
}

/// A piece `[p, q]` of the input interval on which `f` has one [`Shape`], with the f64 values
/// `fp = f(p)`, `fq = f(q)` cached.
#[derive(Clone, Copy, Debug)]
pub(super) struct Piece {
    pub p: f64,
    pub q: f64,
    pub fp: f64,
    pub fq: f64,
    pub shape: Shape,
}

/// Maximum number of pieces of one decomposition (trig intervals shorter than 2π need ≤ 7).
const MAX_PIECES: usize = 12;

/// A convexity decomposition of `[l, u]`: consecutive pieces covering the interval.
#[derive(Clone, Copy, Debug)]
pub(super) struct Pieces {
    n: usize,
    v: [Piece; MAX_PIECES],
    /// More pieces were pushed than fit (the decomposition is then unusable).
    pub overflow: bool,
}

impl Pieces {
    /// No pieces.
    pub(super) fn new() -> Pieces {
        let z = Piece { p: 0.0, q: 0.0, fp: 0.0, fq: 0.0, shape: Shape::Unknown };
        Pieces { n: 0, v: [z; MAX_PIECES], overflow: false }
    }

    /// Append `[p, q] ∩ [l, u]` with `shape` (nothing if the intersection is empty).
    pub(super) fn push_clipped(&mut self, l: f64, u: f64, p: f64, q: f64, shape: Shape) {
        let p = if p > l { p } else { l };
        let q = if q < u { q } else { u };
        if !(p <= q) {
            return;
        }
        if self.n == MAX_PIECES {
            self.overflow = true;
            return;
        }
        self.v[self.n] = Piece { p, q, fp: 0.0, fq: 0.0, shape };
        self.n += 1;
    }

    /// The decomposition of `[l, u]` given sorted, disjoint brackets `[c_lo, c_hi]` around the
    /// inflection points and the shapes of the `brackets.len() + 1` regions between them.
    /// Brackets become [`Shape::Unknown`] pieces (zero-width ones for exact inflections).
    pub(super) fn from_breaks(l: f64, u: f64, brackets: &[(f64, f64)], shapes: &[Shape]) -> Pieces {
        let mut ps = Pieces::new();
        let mut start = f64::NEG_INFINITY;
        for (i, &(blo, bhi)) in brackets.iter().enumerate() {
            let sh = shapes.get(i).copied().unwrap_or(Shape::Unknown);
            ps.push_clipped(l, u, start, blo, sh);
            if blo < bhi {
                ps.push_clipped(l, u, blo, bhi, Shape::Unknown);
            }
            start = bhi;
        }
        let sh = shapes.get(brackets.len()).copied().unwrap_or(Shape::Unknown);
        ps.push_clipped(l, u, start, f64::INFINITY, sh);
        if brackets.len() + 1 != shapes.len() {
            ps.overflow = true;
        }
        ps
    }

    /// A single piece `[l, u]`.
    pub(super) fn single(l: f64, u: f64, shape: Shape) -> Pieces {
        let mut ps = Pieces::new();
        ps.push_clipped(l, u, l, u, shape);
        ps
    }

    /// Cache `f` at the piece ends.
    pub(super) fn fill<F: Fun + ?Sized>(&mut self, fun: &F) {
        for pc in self.v[..self.n].iter_mut() {
            pc.fp = fun.f(pc.p);
            pc.fq = if pc.q == pc.p { pc.fp } else { fun.f(pc.q) };
        }
    }

    /// The pieces.
    pub(super) fn as_slice(&self) -> &[Piece] {
        &self.v[..self.n]
    }

    /// Whether the decomposition covers a non-empty interval and is usable.
    pub(super) fn ok(&self) -> bool {
        self.n > 0 && !self.overflow
    }
}

/// A real function with rigorous f64 error bounds.
///
/// `f` and `df` are the f64 (libm) evaluations; `f_err`/`df_err` bound their distance to the real
/// value and derivative; `pieces` is the convexity decomposition of the *real* function.
pub(super) trait Fun {
    /// `f(x)` in f64.
    fn f(&self, x: f64) -> f64;
    /// `f'(x)` in f64.
    fn df(&self, x: f64) -> f64;
    /// Bound on `|f_computed(x) − f(x)|` given the computed value `fx`.
    fn f_err(&self, x: f64, fx: f64) -> f64;
    /// Bound on `|df_computed(x) − f'(x)|` given the computed value `d`.
    fn df_err(&self, x: f64, d: f64) -> f64;
    /// Convexity decomposition of `[l, u]` (values not yet cached).
    fn pieces(&self, l: f64, u: f64) -> Pieces;
    /// Upper bound of `|f'|` on the (tiny) piece `[p, q]` (used on [`Shape::Unknown`] pieces).
    fn lip(&self, p: f64, q: f64) -> f64;
    /// A point of `[p, q]` where `f' ≈ a`, if there is a closed form (a hint only).
    fn solve_df(&self, _a: f64, _p: f64, _q: f64) -> Option<f64> {
        None
    }
}

/// `−f` (turns a concave-then-convex function into a convex-then-concave one).
pub(super) struct Flip<'a, F: Fun + ?Sized>(pub &'a F);

impl<F: Fun + ?Sized> Fun for Flip<'_, F> {
    fn f(&self, x: f64) -> f64 {
        -self.0.f(x)
    }
    fn df(&self, x: f64) -> f64 {
        -self.0.df(x)
    }
    fn f_err(&self, x: f64, fx: f64) -> f64 {
        self.0.f_err(x, -fx)
    }
    fn df_err(&self, x: f64, d: f64) -> f64 {
        self.0.df_err(x, -d)
    }
    fn pieces(&self, l: f64, u: f64) -> Pieces {
        let mut ps = self.0.pieces(l, u);
        for pc in ps.v[..ps.n].iter_mut() {
            pc.shape = pc.shape.flip();
        }
        ps
    }
    fn lip(&self, p: f64, q: f64) -> f64 {
        self.0.lip(p, q)
    }
    fn solve_df(&self, a: f64, p: f64, q: f64) -> Option<f64> {
        self.0.solve_df(-a, p, q)
    }
}

/// Interval facts the margins need.
#[derive(Clone, Copy, Debug)]
pub(super) struct Ctx {
    pub l: f64,
    pub u: f64,
    /// `max(|l|, |u|)`.
    pub xmax: f64,
    /// Upper bound of `|f|` on `[l, u]` (inflated from the computed image).
    pub fmax: f64,
    /// Bound on `|f − value|` plus `|f − value_f32|` over the interval (f64 and f32 evaluation
    /// errors, from the function's error model).
    pub err: f64,
}

impl Ctx {
    /// Context for `[l, u]` whose computed image is `[lo, hi]` and total evaluation error `err`.
    pub(super) fn new(l: f64, u: f64, lo: f64, hi: f64, err: f64) -> Ctx {
        Ctx { l, u, xmax: l.abs().max(u.abs()), fmax: fmax_of(lo, hi), err }
    }
    /// The midpoint (no overflow).
    pub(super) fn mid(&self) -> f64 {
        mid(self.l, self.u)
    }
}

/// An upper bound of `|f|` from a computed image `[lo, hi]`: inflated by `2^-30` relative, far
/// more than the f64 error of the values (≤ 2^-40 relative for every function here).
pub(super) fn fmax_of(lo: f64, hi: f64) -> f64 {
    lo.abs().max(hi.abs()) * (1.0 + 1.0 / 1_073_741_824.0) + ETA
}

/// The midpoint of `[l, u]` without overflow, inside `[l, u]`.
pub(super) fn mid(l: f64, u: f64) -> f64 {
    let m = l * 0.5 + u * 0.5;
    m.max(l).min(u)
}

/// The chord slope `(f(u) − f(l))/(u − l)` (0 when it is not finite, e.g. for `l = u`).
pub(super) fn chord<F: Fun + ?Sized>(fun: &F, l: f64, u: f64) -> f64 {
    let k = (fun.f(u) - fun.f(l)) / (u - l);
    if k.is_finite() { k } else { 0.0 }
}

/// `s·(f(x) − a·x)` lowered by a bound on its evaluation error (so it is ≤ the real value).
#[inline]
fn gval<F: Fun + ?Sized>(fun: &F, s: f64, a: f64, x: f64, fx: f64) -> f64 {
    let ax = a * x;
    let g = s * (fx - ax);
    // f's own error, plus the roundings of `a·x` and of the subtraction (each ≤ EPS relative of
    // a quantity bounded by |fx| + |ax|), plus underflow.
    g - (fun.f_err(x, fx) + 3.0 * EPS * (fx.abs() + ax.abs()) + ETA)
}

/// Total-order key of an f64 (`-0.0` and `+0.0` are adjacent; NaNs lie beyond the infinities).
#[inline]
fn key(x: f64) -> i64 {
    let b = x.to_bits() as i64;
    b ^ ((((b >> 63) as u64) >> 1) as i64)
}

#[inline]
fn unkey(k: i64) -> f64 {
    f64::from_bits((k ^ ((((k >> 63) as u64) >> 1) as i64)) as u64)
}

/// Bisection over the f64 numbers between `good` (where `pred` holds) and `bad` (where it does
/// not); returns the last point found where `pred` holds. Bisecting the *ordered bit patterns*
/// converges in ≤ 64 steps whatever the magnitudes (e.g. `[-1e30, 0]`). Stops once the bracket
/// is 2^12 representable numbers wide (≈ 2^-40 relative), which is far below any effect on the
/// lines (the intercepts are computed rigorously for whatever point is returned).
pub(super) fn bisect(good: f64, bad: f64, mut pred: impl FnMut(f64) -> bool) -> f64 {
    let (mut kg, mut kb) = (key(good), key(bad));
    for _ in 0..70 {
        if kg.abs_diff(kb) <= 4096 {
            break;
        }
        let mid = ((kg as i128 + kb as i128) / 2) as i64;
        let x = unkey(mid);
        if !x.is_finite() {
            break;
        }
        if pred(x) {
            kg = mid;
        } else {
            kb = mid;
        }
    }
    unkey(kg)
}

/// The point of the piece where `g = s·(f − a·x)` (convex there) is smallest, approximately.
fn stationary<F: Fun + ?Sized>(fun: &F, s: f64, a: f64, pc: &Piece) -> f64 {
    if pc.p == pc.q {
        return pc.p;
    }
    if let Some(t) = fun.solve_df(a, pc.p, pc.q)
        && t.is_finite()
    {
        return t.max(pc.p).min(pc.q);
    }
    // g' = s·(f' − a) is nondecreasing on the piece.
    let gd = |x: f64| s * (fun.df(x) - a);
    if !(gd(pc.p) < 0.0) {
        return pc.p;
    }
    if !(gd(pc.q) > 0.0) {
        return pc.q;
    }
    bisect(pc.p, pc.q, |x| gd(x) < 0.0)
}

/// Rigorous lower bound of `min_{x ∈ [l,u]} s·(f(x) − a·x)` for the real `f` (`s = ±1`), given the
/// decomposition `pcs` (values cached) and an optional tangent point `hint`.
pub(super) fn min_gap<F: Fun + ?Sized>(fun: &F, s: f64, a: f64, pcs: &Pieces, hint: Option<f64>) -> f64 {
    min_gap_arg(fun, s, a, pcs, hint).0
}

/// [`min_gap`] and the point where the minimum is (approximately) attained: the tangent point of
/// the best convex piece, or the better end of a concave, linear or unknown one. The point is what
/// the line touches (its argmin), which α-CROWN's gradient needs (Danskin: `d intercept / d slope =
/// −argmin`); the bound does not depend on its accuracy.
pub(super) fn min_gap_arg<F: Fun + ?Sized>(
    fun: &F,
    s: f64,
    a: f64,
    pcs: &Pieces,
    hint: Option<f64>,
) -> (f64, f64) {
    let mut best = f64::INFINITY;
    let mut arg = f64::NAN;
    for pc in pcs.as_slice() {
        let shape = if s > 0.0 { pc.shape } else { pc.shape.flip() };
        let (v, x) = match shape {
            Shape::Linear | Shape::Concave => {
                let (gp, gq) = (gval(fun, s, a, pc.p, pc.fp), gval(fun, s, a, pc.q, pc.fq));
                (gp.min(gq), if gq < gp { pc.q } else { pc.p })
            }
            Shape::Convex => {
                let t = match hint {
                    Some(h) if h >= pc.p && h <= pc.q => h,
                    _ => stationary(fun, s, a, pc),
                };
                let ft = if t == pc.p {
                    pc.fp
                } else if t == pc.q {
                    pc.fq
                } else {
                    fun.f(t)
                };
                let gt = gval(fun, s, a, t, ft);
                let d = fun.df(t);
                // The real g'(t) lies within `derr` of the computed `gd` (derivative error, the
                // rounding of `d − a`, underflow).
                let derr = fun.df_err(t, d) + 4.0 * EPS * (d.abs() + a.abs()) + ETA;
                let gd = s * (d - a);
                // min over x of g'(t)·(x − t): x − t ranges over [p − t, q − t] ∋ 0.
                let tl = (gd + derr) * (pc.p - t);
                let tr = (gd - derr) * (pc.q - t);
                let term = 0.0f64.min(tl).min(tr);
                // Roundings of the differences, the sums and the products: ≤ 4 EPS relative.
                (gt + term - (4.0 * EPS * term.abs() + ETA), t)
            }
            Shape::Unknown => {
                let lmax = (fun.lip(pc.p, pc.q) + a.abs()) * (1.0 + 4.0 * EPS);
                let w = (pc.q - pc.p) * (1.0 + 4.0 * EPS);
                let (gp, gq) = (gval(fun, s, a, pc.p, pc.fp), gval(fun, s, a, pc.q, pc.fq));
                let g0 = gp.min(gq);
                (g0 - lmax * w * (1.0 + 4.0 * EPS) - ETA, if gq < gp { pc.q } else { pc.p })
            }
        };
        if v < best || v.is_nan() {
            best = v;
            arg = x;
        }
    }
    // The comparisons are exact; only the final subtractions above rounded (covered per term),
    // but keep one more EPS for the additions `gt + term`.
    (best - 2.0 * EPS * best.abs(), arg)
}

/// Build the line `a·x + b` from `mg`, a rigorous bound of `min s·(f − a·x)` (see [`min_gap`]).
///
/// Margin, all added outward:
/// - `ctx.err`: the f64 libm error and the deployed f32 evaluation error over the interval, so the
///   line bounds `f`, `value` and `value_f32` alike;
/// - `8·EPS·(fmax + |a|·xmax)`: the rounding of the line's own f64 evaluation `a·x + b` (≤ 2 EPS of
///   `|a·x| + |b|`, and `|b| ≤ fmax + |a|·xmax` up to the margin) and of forming `b`, with slack;
/// - `ETA` for underflow.
pub(super) fn finish_line(ctx: &Ctx, s: f64, a: f64, mg: f64) -> Result<Line, RelaxError> {
    let margin = ctx.err + 8.0 * EPS * (ctx.fmax + a.abs() * ctx.xmax) + ETA;
    let b = s * (mg - margin);
    let b = b + s * (-2.0 * EPS * b.abs());
    if !(a.is_finite() && b.is_finite()) {
        return Err(RelaxError::Overflow);
    }
    Ok(Line { slope: a, bias: b })
}

/// Sound lower line of slope `a`.
pub(super) fn lower_line<F: Fun + ?Sized>(
    fun: &F,
    ctx: &Ctx,
    pcs: &Pieces,
    a: f64,
    hint: Option<f64>,
) -> Result<Line, RelaxError> {
    finish_line(ctx, 1.0, a, min_gap(fun, 1.0, a, pcs, hint))
}

/// Sound upper line of slope `a`.
pub(super) fn upper_line<F: Fun + ?Sized>(
    fun: &F,
    ctx: &Ctx,
    pcs: &Pieces,
    a: f64,
    hint: Option<f64>,
) -> Result<Line, RelaxError> {
    finish_line(ctx, -1.0, a, min_gap(fun, -1.0, a, pcs, hint))
}

/// A usable tangent slope at `t`, trying `t`, then `alt1`, `alt2` (e.g. √ at 0 has none).
pub(super) fn tangent_point<F: Fun + ?Sized>(fun: &F, t: f64, alt1: f64, alt2: f64) -> Option<(f64, f64)> {
    for x in [t, alt1, alt2] {
        let d = fun.df(x);
        if d.is_finite() {
            return Some((x, d));
        }
    }
    None
}

/// Tight lines on an interval where `f` has one curvature: chord on the concave side of the
/// bound, tangent at the midpoint on the other (area-optimal among tangents).
pub(super) fn single_shape<F: Fun + ?Sized>(
    fun: &F,
    ctx: &Ctx,
    pcs: &Pieces,
    convex: bool,
) -> Result<super::Relax, RelaxError> {
    let (l, u) = (ctx.l, ctx.u);
    if l == u {
        return const_slope(fun, ctx, pcs);
    }
    let k = chord(fun, l, u);
    let m = ctx.mid();
    let tan = tangent_point(fun, m, u, l);
    let (lower, upper) = if convex {
        let lower = match tan {
            Some((t, d)) => lower_line(fun, ctx, pcs, d, Some(t))?,
            None => lower_line(fun, ctx, pcs, 0.0, None)?,
        };
        (lower, upper_line(fun, ctx, pcs, k, None)?)
    } else {
        let upper = match tan {
            Some((t, d)) => upper_line(fun, ctx, pcs, d, Some(t))?,
            None => upper_line(fun, ctx, pcs, 0.0, None)?,
        };
        (lower_line(fun, ctx, pcs, k, None)?, upper)
    };
    Ok(super::Relax { lower, upper })
}

/// Slope-0 lines (for a point interval).
pub(super) fn const_slope<F: Fun + ?Sized>(
    fun: &F,
    ctx: &Ctx,
    pcs: &Pieces,
) -> Result<super::Relax, RelaxError> {
    Ok(super::Relax {
        lower: lower_line(fun, ctx, pcs, 0.0, None)?,
        upper: upper_line(fun, ctx, pcs, 0.0, None)?,
    })
}

/// S-shaped lines for `f` convex on `[l, c]` and concave on `[c, u]`, `l < c < u` (notes §2.1):
///
/// - lower: the chord if it is valid (`chord slope ≤ f'(l)`), else the tangent at `min(m, d)`
///   where `d ∈ [l, c]` is the tangent point whose tangent passes through `(u, f(u))`, found by
///   bisection keeping the *valid* side (tangents at points `≤ d` on the convex side are valid);
/// - upper: mirror (chord if `chord slope ≤ f'(u)`, else tangent at `max(m, d')`, `d' ∈ [c, u]`
///   the tangent point whose tangent passes through `(l, f(l))`).
///
/// Tangent at `min(m, d)` is the convex envelope's supporting line at the midpoint (auto_LiRPA's
/// "smoothness enhancement"). Soundness does not depend on the bisection: the intercepts come from
/// [`min_gap`].
pub(super) fn s_shape<F: Fun + ?Sized>(
    fun: &F,
    ctx: &Ctx,
    pcs: &Pieces,
    c: f64,
) -> Result<super::Relax, RelaxError> {
    let (l, u) = (ctx.l, ctx.u);
    let (fl, fu) = (fun.f(l), fun.f(u));
    let k = chord(fun, l, u);
    let m = ctx.mid();
    let lower = if k <= fun.df(l) {
        lower_line(fun, ctx, pcs, k, None)?
    } else {
        // h(d) = tangent at d evaluated at u, minus f(u): ≤ 0 means valid; nondecreasing on [l, c].
        let valid = |d: f64| fun.f(d) + fun.df(d) * (u - d) <= fu;
        let d = if valid(c) { c } else { bisect(l, c, valid) };
        let t = if m < d { m } else { d };
        lower_line(fun, ctx, pcs, fun.df(t), Some(t))?
    };
    let upper = if k <= fun.df(u) {
        upper_line(fun, ctx, pcs, k, None)?
    } else {
        let valid = |d: f64| fun.f(d) + fun.df(d) * (l - d) >= fl;
        let d = if valid(c) { c } else { bisect(u, c, valid) };
        let t = if m > d { m } else { d };
        upper_line(fun, ctx, pcs, fun.df(t), Some(t))?
    };
    Ok(super::Relax { lower, upper })
}

/// Concave on `[l, c]`, convex on `[c, u]`: the S-shaped construction applied to `−f`.
pub(super) fn inverse_s_shape<F: Fun + ?Sized>(
    fun: &F,
    ctx: &Ctx,
    c: f64,
) -> Result<super::Relax, RelaxError> {
    let neg = Flip(fun);
    let mut pcs = neg.pieces(ctx.l, ctx.u);
    pcs.fill(&neg);
    let r = s_shape(&neg, ctx, &pcs, c)?;
    Ok(super::Relax {
        lower: Line { slope: -r.upper.slope, bias: -r.upper.bias },
        upper: Line { slope: -r.lower.slope, bias: -r.lower.bias },
    })
}

/// Golden-section search for the slope in `[lo, hi]` maximising the concave `phi`.
pub(super) fn golden_max(mut lo: f64, mut hi: f64, iters: usize, mut phi: impl FnMut(f64) -> f64) -> f64 {
    const R: f64 = 0.618_033_988_749_894_9;
    let mut x1 = hi - R * (hi - lo);
    let mut x2 = lo + R * (hi - lo);
    let mut f1 = phi(x1);
    let mut f2 = phi(x2);
    for _ in 0..iters {
        if f1 < f2 || f1.is_nan() {
            lo = x1;
            x1 = x2;
            f1 = f2;
            x2 = lo + R * (hi - lo);
            f2 = phi(x2);
        } else {
            hi = x2;
            x2 = x1;
            f2 = f1;
            x1 = hi - R * (hi - lo);
            f1 = phi(x1);
        }
    }
    if f1 >= f2 { x1 } else { x2 }
}

/// Area-optimal lines for a function of mixed curvature: the slope maximising the lower line's
/// value at the midpoint (the convex envelope's supporting line there; `a ↦ min_gap(a) + a·m` is
/// concave) and likewise for the upper line, by golden section over `[slo, shi]`, which must
/// contain the range of `f'` on `[l, u]`.
pub(super) fn envelope_lines<F: Fun + ?Sized>(
    fun: &F,
    ctx: &Ctx,
    pcs: &Pieces,
    slo: f64,
    shi: f64,
) -> Result<super::Relax, RelaxError> {
    let m = ctx.mid();
    let al = golden_max(slo, shi, 40, |a| min_gap(fun, 1.0, a, pcs, None) + a * m);
    let au = golden_max(slo, shi, 40, |a| min_gap(fun, -1.0, a, pcs, None) - a * m);
    Ok(super::Relax {
        lower: lower_line(fun, ctx, pcs, al, None)?,
        upper: upper_line(fun, ctx, pcs, au, None)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_monotone_and_invertible() {
        let xs = [
            f64::NEG_INFINITY,
            -1e300,
            -1.0,
            -f64::MIN_POSITIVE,
            -f64::from_bits(1),
            -0.0,
            0.0,
            f64::from_bits(1),
            f64::MIN_POSITIVE,
            1.0,
            1e300,
            f64::INFINITY,
        ];
        for w in xs.windows(2) {
            assert!(key(w[0]) < key(w[1]), "{} {}", w[0], w[1]);
            assert_eq!(key(w[0]) + 1 == key(w[1]), w[0].next_up() == w[1] || (w[0] == -0.0 && w[1] == 0.0));
        }
        for &x in &xs {
            assert_eq!(unkey(key(x)).to_bits(), x.to_bits());
        }
    }

    #[test]
    fn bisect_finds_the_boundary_at_any_scale() {
        for &c in &[-1e30, -3.5, -1e-200, 0.0, 2e-300, 0.7, 1e25] {
            let x = bisect(-1e300, 1e300, |x| x <= c);
            assert!(x <= c);
            assert!(c - x <= 1e-9 * c.abs() + 1e-290, "{c} {x}");
            let y = bisect(1e300, -1e300, |x| x >= c);
            assert!(y >= c && y - c <= 1e-9 * c.abs() + 1e-290, "{c} {y}");
        }
    }

    #[test]
    fn pieces_cover_the_interval() {
        let br = [(-2.0, -1.0), (1.0, 1.0), (3.0, 3.5)];
        let sh = [Shape::Concave, Shape::Convex, Shape::Concave, Shape::Convex];
        let ps = Pieces::from_breaks(-5.0, 10.0, &br, &sh);
        let v: std::vec::Vec<(f64, f64, Shape)> = ps.as_slice().iter().map(|p| (p.p, p.q, p.shape)).collect();
        assert_eq!(
            v,
            std::vec![
                (-5.0, -2.0, Shape::Concave),
                (-2.0, -1.0, Shape::Unknown),
                (-1.0, 1.0, Shape::Convex),
                (1.0, 3.0, Shape::Concave),
                (3.0, 3.5, Shape::Unknown),
                (3.5, 10.0, Shape::Convex),
            ]
        );
        let ps = Pieces::from_breaks(-1.5, -1.2, &br, &sh);
        assert_eq!(ps.as_slice().len(), 1);
        assert_eq!(ps.as_slice()[0].shape, Shape::Unknown);
        assert!(ps.ok());
        assert!(!Pieces::from_breaks(0.0, 1.0, &br, &sh[..2]).ok());
    }
}
