//! The product `x·y` of two variables (notes §2.6): McCormick planes with `r = 1`,
//!
//! - lower `x·y ≥ y_l·x + x_l·y − x_l·y_l` (from `(x − x_l)(y − y_l) ≥ 0`),
//! - upper `x·y ≤ y_u·x + x_l·y − x_l·y_u` (from `(x − x_l)(y − y_u) ≤ 0`),
//!
//! and the corner-product interval. The coefficients are the box bounds themselves (exact); only
//! the constants round, and they carry the margin of [`margin`].

use super::engine::{EPS, ETA, F32_ABS, F32_LIMIT};
use super::{Plane, RelaxError};
use crate::num::Scalar;

fn check(l: f64, u: f64) -> Result<(), RelaxError> {
    if !(l <= u) || l == f64::INFINITY || u == f64::NEG_INFINITY {
        return Err(RelaxError::BadInterval);
    }
    if !(l.is_finite() && u.is_finite()) {
        return Err(RelaxError::Overflow);
    }
    Ok(())
}

/// The four corner products and the largest magnitude `P` among them.
fn corners(lx: f64, ux: f64, ly: f64, uy: f64) -> Result<([f64; 4], f64), RelaxError> {
    check(lx, ux)?;
    check(ly, uy)?;
    let c = [lx * ly, lx * uy, ux * ly, ux * uy];
    let p = c.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    // The deployed f32 product of two f32 numbers in the box can overflow beyond this.
    if !(p <= F32_LIMIT) {
        return Err(RelaxError::Overflow);
    }
    Ok((c, p))
}

/// McCormick planes `ax·x + ay·y + c` (`[ax, ay, c]`) and the corner interval of a product.
#[derive(Clone, Copy, Debug)]
pub(crate) struct McCormick<T> {
    pub lower: [T; 3],
    pub upper: [T; 3],
    pub lo: T,
    pub hi: T,
}

/// The McCormick planes and the corner interval of `x·y` on the box, computed in `T` with
/// directed rounding: `lower = [ax, ay, c]`, `upper = [bx, by, d]` and `[lo, hi]` with
/// `ax·x + ay·y + c ≤ x·y ≤ bx·x + by·y + d` on the box and `x·y ∈ [lo, hi]`, each also holding
/// for the deployed f32 product. The coefficients are the box bounds (exact); the constants and
/// the interval are rounded outward and carry the margin of [`margin`]: `2^-23·P` for the
/// deployed product (`P ≥` every corner's magnitude) plus `eval·P` for a caller that evaluates
/// the planes in plain arithmetic (the f64 API below; the bound engines charge their own).
pub(crate) fn mccormick<T: Scalar>(
    (lx, ux): (T, T),
    (ly, uy): (T, T),
    eval: f64,
) -> Result<McCormick<T>, RelaxError> {
    check(lx.to_f64(), ux.to_f64())?;
    check(ly.to_f64(), uy.to_f64())?;
    let p = lx.abs().max_of(ux.abs()).mul_up(ly.abs().max_of(uy.abs()));
    // The deployed f32 product of two f32 numbers in the box can overflow beyond this.
    if !(p.is_usable() && p.to_f64() <= F32_LIMIT) {
        return Err(RelaxError::Overflow);
    }
    let e = T::from_f64_up(margin(eval)).mul_up(p).add_up(T::from_f64_up(F32_ABS + ETA));
    let lower = [ly, lx, lx.mul_up(ly).neg().sub_down(e)];
    let upper = [uy, lx, lx.mul_down(uy).neg().add_up(e)];
    let (xs, ys) = ([lx, lx, ux, ux], [ly, uy, ly, uy]);
    let (mut lo, mut hi) = (lx.mul_down(ly), lx.mul_up(ly));
    for k in 1..4 {
        lo = lo.min_of(xs[k].mul_down(ys[k]));
        hi = hi.max_of(xs[k].mul_up(ys[k]));
    }
    let (lo, hi) = (lo.sub_down(e), hi.add_up(e));
    if !(lower[2].is_usable() && upper[2].is_usable() && lo.is_usable() && hi.is_usable()) {
        return Err(RelaxError::Overflow);
    }
    Ok(McCormick { lower, upper, lo, hi })
}

/// The margin per unit of the largest corner: `2^-23` (the deployed f32 product `fl32(x·y)` is
/// within `2^-24·|x·y|` of the real one; its underflow, `2^-150`, is in `F32_ABS`) plus `eval`,
/// with room for the rounding of the margin's own product.
fn margin(eval: f64) -> f64 {
    (1.0 / 8_388_608.0 + eval) * (1.0 + 4.0 * EPS)
}

/// For the f64 API: evaluating a plane in f64 (two products and two sums of terms each bounded
/// by `P`, and `|c| ≤ P`) errs by at most `16 EPS·P`.
const F64_EVAL: f64 = 16.0 * EPS;

/// Sound interval image of `x·y` on the box.
pub(super) fn mul_interval(lx: f64, ux: f64, ly: f64, uy: f64) -> Result<(f64, f64), RelaxError> {
    let m = mccormick((lx, ux), (ly, uy), F64_EVAL)?;
    Ok((m.lo, m.hi))
}

/// McCormick planes (`r = 1`).
pub(super) fn mul_relax(lx: f64, ux: f64, ly: f64, uy: f64) -> Result<(Plane, Plane), RelaxError> {
    let McCormick { lower: [ax, ay, c], upper: [bx, by, d], .. } = mccormick((lx, ux), (ly, uy), F64_EVAL)?;
    Ok((Plane { ax, ay, c }, Plane { ax: bx, ay: by, c: d }))
}

/// The McCormick planes mixed by `λ` (α-CROWN's product parameters, notes §2.12):
///
/// - lower `λ·(x·y ≥ y_l·x + x_l·y − x_l·y_l) + (1 − λ)·(x·y ≥ y_u·x + x_u·y − x_u·y_u)`,
/// - upper `μ·(x·y ≤ y_u·x + x_l·y − x_l·y_u) + (1 − μ)·(x·y ≤ y_l·x + x_u·y − x_u·y_l)`,
///
/// `λ, μ` projected into `[0, 1]` (`λ = μ = 1` are [`super::mul_relax`]'s planes). Only the coefficients
/// are mixed (rounded to nearest); each constant is recomputed rigorously: `x·y` minus a plane is
/// bilinear, so its extremes over the box are at the four corners, evaluated in f64 and moved
/// outward by their rounding and by the relaxation margin.
pub fn mul_relax_mix(
    lx: f64,
    ux: f64,
    ly: f64,
    uy: f64,
    lam: f64,
    mu: f64,
) -> Result<(Plane, Plane), RelaxError> {
    let (c, p) = corners(lx, ux, ly, uy)?;
    let unit = |v: f64| if v >= 0.0 { v.min(1.0) } else { 0.0 }; // NaN → 0
    let (lam, mu) = (unit(lam), unit(mu));
    let ax = lam * ly + (1.0 - lam) * uy;
    let ay = lam * lx + (1.0 - lam) * ux;
    let bx = mu * uy + (1.0 - mu) * ly;
    let by = mu * lx + (1.0 - mu) * ux;
    let (xs, ys) = ([lx, lx, ux, ux], [ly, uy, ly, uy]);
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for k in 0..4 {
        let (x, y) = (xs[k], ys[k]);
        lo = lo.min(c[k] - ax * x - ay * y);
        hi = hi.max(c[k] - bx * x - by * y);
    }
    // Each corner value has three terms of magnitude ≤ p·(1 + 4 EPS) (|a_x| ≤ max(|y_l|, |y_u|)
    // up to rounding, and max|x|·max|y| = p), three products and two differences: ≤ 12 EPS·p;
    // evaluating the plane later adds terms ≤ p, p and |c| ≤ 3p (the margin's 16 EPS·p assumed
    // |c| ≤ p): 32 EPS·p covers both with room.
    let e = margin(F64_EVAL) * p + F32_ABS + ETA + 32.0 * EPS * p * (1.0 + 4.0 * EPS) + ETA;
    let lower = Plane { ax, ay, c: lo - e };
    let upper = Plane { ax: bx, ay: by, c: hi + e };
    if !(lower.c.is_finite() && upper.c.is_finite() && ax.is_finite() && ay.is_finite()) {
        return Err(RelaxError::Overflow);
    }
    Ok((lower, upper))
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::super::*;
    #[allow(unused_imports)]
    use super::super::{interval, relax, value, value_f32};

    fn rand_iv(rng: &mut Rng) -> (f64, f64) {
        let (l, u) = gen_interval(rng);
        if l.abs().max(u.abs()) > 1e18 && rng.below(2) == 0 { (l * 1e-12, u * 1e-12) } else { (l, u) }
    }

    fn check_box(lx: f64, ux: f64, ly: f64, uy: f64, rng: &mut Rng, n: usize) -> bool {
        let (r, iv) = match (mul_relax(lx, ux, ly, uy), mul_interval(lx, ux, ly, uy)) {
            (Ok(r), Ok(iv)) => (r, iv),
            (Err(a), Err(b)) => {
                assert_eq!(a, b);
                let p = [lx * ly, lx * uy, ux * ly, ux * uy].iter().fold(0.0f64, |m, v| m.max(v.abs()));
                assert!(p > 1e37, "mul failed on [{lx:e},{ux:e}]x[{ly:e},{uy:e}]");
                return false;
            }
            (a, b) => panic!("{a:?} {b:?}"),
        };
        let (lo, up) = r;
        let chk = |x: f64, y: f64, z: f64, what: &str| {
            let (a, b) = (lo.eval(x, y), up.eval(x, y));
            assert!(
                a <= z && z <= b && iv.0 <= z && z <= iv.1,
                "mul {what} on [{lx:e},{ux:e}]x[{ly:e},{uy:e}] at ({x:e},{y:e}): {a:e} <= {z:e} <= {b:e}, iv {iv:?}"
            );
        };
        let xs = [lx, ux];
        let ys = [ly, uy];
        for &x in &xs {
            for &y in &ys {
                chk(x, y, x * y, "corner");
            }
        }
        for _ in 0..n {
            let x = (lx + (ux - lx) * rng.unit()).clamp(lx, ux);
            let y = (ly + (uy - ly) * rng.unit()).clamp(ly, uy);
            chk(x, y, x * y, "f64");
            // f32 points
            let (x32, y32) = (x as f32, y as f32);
            let (xd, yd) = (x32 as f64, y32 as f64);
            if xd >= lx && xd <= ux && yd >= ly && yd <= uy {
                chk(xd, yd, xd * yd, "f64 at f32 point");
                chk(xd, yd, (x32 * y32) as f64, "f32");
            }
        }
        // f32 corners inside the box
        if let (Some(a), Some(b), Some(c), Some(d)) = (f32_up(lx), f32_down(ux), f32_up(ly), f32_down(uy))
            && a <= b
            && c <= d
        {
            for &x in &[a, b] {
                for &y in &[c, d] {
                    chk(x as f64, y as f64, (x * y) as f64, "f32 corner");
                }
            }
        }
        true
    }

    #[test]
    fn mul_sound() {
        let mut rng = Rng::new(0x5eed_0501);
        let mut ok = 0;
        for _ in 0..150_000 {
            let (lx, ux) = rand_iv(&mut rng);
            let (ly, uy) = rand_iv(&mut rng);
            if check_box(lx, ux, ly, uy, &mut rng, 8) {
                ok += 1;
            }
        }
        assert!(ok > 100_000, "{ok}");
    }

    /// The engines' instantiation in f32 (no evaluation margin): on f32 boxes the planes and the
    /// interval hold for the real product and for the f32 one (both exact in f64 here, as is
    /// every product of a plane; only the sums round, far below the `2^-23·P` margin).
    #[test]
    fn mul_sound_in_f32() {
        let mut rng = Rng::new(0x5eed_0532);
        let mut ok = 0;
        for _ in 0..100_000 {
            let (lx, ux) = rand_iv(&mut rng);
            let (ly, uy) = rand_iv(&mut rng);
            let (Some(lx), Some(ux), Some(ly), Some(uy)) =
                (f32_down(lx), f32_up(ux), f32_down(ly), f32_up(uy))
            else {
                continue;
            };
            let Ok(m) = super::mccormick((lx, ux), (ly, uy), 0.0) else { continue };
            let (lo, up, a, b) = (m.lower, m.upper, m.lo, m.hi);
            ok += 1;
            for k in 0..12 {
                let (x, y) = match k {
                    0..4 => ([lx, ux][k & 1], [ly, uy][k >> 1]),
                    _ => (
                        (lx as f64 + (ux as f64 - lx as f64) * rng.unit()).clamp(lx as f64, ux as f64) as f32,
                        (ly as f64 + (uy as f64 - ly as f64) * rng.unit()).clamp(ly as f64, uy as f64) as f32,
                    ),
                };
                if !(x >= lx && x <= ux && y >= ly && y <= uy) {
                    continue;
                }
                let (xd, yd) = (x as f64, y as f64);
                let p = |c: [f32; 3]| c[0] as f64 * xd + c[1] as f64 * yd + c[2] as f64;
                for z in [xd * yd, (x * y) as f64] {
                    assert!(
                        p(lo) <= z && z <= p(up) && a as f64 <= z && z <= b as f64,
                        "[{lx:e},{ux:e}]x[{ly:e},{uy:e}] at ({x:e},{y:e}): {} <= {z:e} <= {}, [{a:e}, {b:e}]",
                        p(lo),
                        p(up)
                    );
                }
            }
        }
        assert!(ok > 50_000, "{ok}");
    }

    #[test]
    fn mul_special() {
        let mut rng = Rng::new(3);
        let tiny = f64::from_bits(1);
        for &(lx, ux, ly, uy) in &[
            (0.0, 0.0, 0.0, 0.0),
            (-tiny, tiny, -tiny, tiny),
            (-1e-30, 1e-30, -1e30, 1e30),
            (1e19, 1e19, 1e19, 1e19),
            (-1.0, 1.0, -1.0, 1.0),
            (2.0, 2.0, -3.0, -3.0),
            (-1e-20, 1e-20, 1e-20, 1e-19),
        ] {
            check_box(lx, ux, ly, uy, &mut rng, 2000);
        }
        assert_eq!(mul_relax(1e20, 1e20, 1e20, 1e20).err(), Some(RelaxError::Overflow));
        assert_eq!(mul_relax(1.0, 0.0, 0.0, 1.0).err(), Some(RelaxError::BadInterval));
        assert_eq!(mul_interval(0.0, f64::INFINITY, 0.0, 1.0).err(), Some(RelaxError::Overflow));
        assert_eq!(mul_interval(f64::NAN, 1.0, 0.0, 1.0).err(), Some(RelaxError::BadInterval));
        // McCormick exactness at the corners (up to the margin).
        let (lo, up) = mul_relax(-1.0, 2.0, 3.0, 5.0).unwrap();
        assert!((lo.eval(-1.0, 3.0) + 3.0).abs() < 1e-5 && (up.eval(-1.0, 5.0) + 5.0).abs() < 1e-5);
    }
}
