//! Piecewise-linear maps: ReLU, LeakyReLU, Abs, Neg.
//!
//! Stable ReLU neurons, Neg, Abs on one side of 0, and the ReLU lower lines `0`/`x` are exact
//! (no margin: the f32 evaluation is exact too). The chords (upper lines of ReLU, LeakyReLU and
//! Abs on an interval crossing 0) have rounded slopes, so their intercepts come from the engine.
//! LeakyReLU's `α·x` rounds in f64 and f32, so its lines carry that error as margin.

use super::engine::{self, Ctx, EPS, ETA, F32_ABS, Fun, Pieces, Shape};
use super::{Line, Relax, RelaxError};
use crate::unary::Unary;

/// f64 value.
pub(super) fn value(f: Unary, x: f64) -> f64 {
    match f {
        Unary::Relu => {
            if x > 0.0 {
                x
            } else {
                0.0
            }
        }
        Unary::LeakyRelu(a) => leaky(a as f64, x),
        Unary::Neg => -x,
        _ => x.abs(),
    }
}

fn leaky(a: f64, x: f64) -> f64 {
    if x >= 0.0 {
        x
    } else if a == 0.0 {
        0.0
    } else {
        a * x
    }
}

/// f32 value (the deployed network).
pub(super) fn value_f32(f: Unary, x: f32) -> f32 {
    match f {
        Unary::Relu => {
            if x > 0.0 {
                x
            } else {
                0.0
            }
        }
        Unary::LeakyRelu(a) => {
            if x >= 0.0 {
                x
            } else {
                a * x
            }
        }
        Unary::Neg => -x,
        _ => x.abs(),
    }
}

/// `x ↦ x` for `x ≥ 0`, `α·x` for `x < 0` (ReLU is `α = 0`; Abs is `α = −1`).
pub(super) struct Hinge {
    pub alpha: f64,
}

impl Fun for Hinge {
    fn f(&self, x: f64) -> f64 {
        leaky(self.alpha, x)
    }
    fn df(&self, x: f64) -> f64 {
        if x >= 0.0 { 1.0 } else { self.alpha }
    }
    /// `α·x` is one rounded f64 product (ε relative, or underflow); 0 otherwise.
    fn f_err(&self, x: f64, fx: f64) -> f64 {
        if x >= 0.0 || self.alpha == 0.0 || self.alpha == -1.0 { 0.0 } else { EPS * fx.abs() + ETA }
    }
    fn df_err(&self, _x: f64, _d: f64) -> f64 {
        0.0
    }
    fn pieces(&self, l: f64, u: f64) -> Pieces {
        Pieces::from_breaks(l, u, &[(0.0, 0.0)], &[Shape::Linear, Shape::Linear])
    }
    fn lip(&self, _p: f64, _q: f64) -> f64 {
        self.alpha.abs().max(1.0)
    }
}

/// Computed image.
pub(super) fn range(f: Unary, l: f64, u: f64) -> (f64, f64) {
    if f == Unary::Neg {
        return (-u, -l);
    }
    let (fl, fu) = (value(f, l), value(f, u));
    let (mut lo, mut hi) = (fl.min(fu), fl.max(fu));
    if l < 0.0 && u > 0.0 {
        lo = lo.min(0.0);
        hi = hi.max(0.0);
    }
    (lo, hi)
}

/// Total error bound: 0 for the exact maps; for LeakyReLU the f64 and the f32 rounding of `α·x`
/// (`2^-53` and `2^-24` relative of `|α·x| ≤ |α|·max(−l, 0)`), plus f32 underflow.
pub(super) fn err(f: Unary, l: f64, _u: f64) -> f64 {
    match f {
        Unary::LeakyRelu(a) if a != 0.0 && a != 1.0 => {
            let xneg = if l < 0.0 { -l } else { 0.0 };
            (EPS + 1.0 / 16_777_216.0) * (a as f64).abs() * xneg * (1.0 + 4.0 * EPS) + F32_ABS + ETA
        }
        _ => 0.0,
    }
}

/// ReLU's lines on `[l, u]` and its image, in `T` directly (the hot case of every ReLU network
/// on a device without f64 hardware, where the f64 construction costs thousands of
/// instructions per element): `[sl, bl, su, bu]` as [`relax`] chooses them (identity, zero, or
/// the chord above and the adaptive `0`/`x` below), the chord's slope rounded to `T` and its
/// intercept `max(−s·l, u·(1 − s))` rounded up, which puts the line above both ends, hence above
/// the convex ReLU on all of `[l, u]`. The f32 ReLU is exact, so no margin is needed. `None` for
/// an interval that is not finite.
pub(crate) fn relu_lines<T: crate::num::Scalar>(l: T, u: T) -> Option<([T; 4], (T, T))> {
    if !(l.is_usable() && u.is_usable() && l <= u) {
        return None;
    }
    let (z, one) = (T::ZERO, T::ONE);
    if l >= z {
        return Some(([one, z, one, z], (l, u)));
    }
    if u <= z {
        return Some(([z, z, z, z], (z, z)));
    }
    let k = u.to_f64() / (u.to_f64() - l.to_f64());
    let s = T::from_f64_near(k).max_of(z).min_of(one);
    let b = l.neg().mul_up(s).max_of(u.mul_up(one.sub_up(s)));
    // Lower slope 1 when the chord is steeper than 1/2 (u > −l), else 0 (auto_LiRPA's choice).
    let sl = if u > l.neg() { one } else { z };
    Some(([sl, z, s, b], (z, u)))
}

const ID: Line = Line { slope: 1.0, bias: 0.0 };
const ZERO: Line = Line { slope: 0.0, bias: 0.0 };

/// Lines on finite `[l, u]`.
pub(super) fn relax(f: Unary, ctx: &Ctx) -> Result<Relax, RelaxError> {
    let (l, u) = (ctx.l, ctx.u);
    let alpha = match f {
        Unary::Neg => {
            let n = Line { slope: -1.0, bias: 0.0 };
            return Ok(Relax { lower: n, upper: n });
        }
        Unary::Abs => -1.0,
        Unary::Relu => 0.0,
        Unary::LeakyRelu(a) => a as f64,
        _ => return Err(RelaxError::OutOfDomain),
    };
    if l >= 0.0 {
        return Ok(Relax { lower: ID, upper: ID });
    }
    let exact_neg = alpha == 0.0 || alpha == -1.0;
    let fun = Hinge { alpha };
    let mut pcs = fun.pieces(l, u);
    pcs.fill(&fun);
    if u <= 0.0 {
        if exact_neg {
            let n = Line { slope: alpha, bias: 0.0 };
            return Ok(Relax { lower: n, upper: n });
        }
        return Ok(Relax {
            lower: engine::lower_line(&fun, ctx, &pcs, alpha, None)?,
            upper: engine::upper_line(&fun, ctx, &pcs, alpha, None)?,
        });
    }
    // l < 0 < u: upper chord, lower slope chosen adaptively (auto_LiRPA: 1 if the upper slope
    // exceeds the middle of [α, 1], else α; for Abs the sign of the larger side).
    let k = engine::chord(&fun, l, u);
    let upper = engine::upper_line(&fun, ctx, &pcs, k, None)?;
    let lower = if alpha == -1.0 {
        // Abs: any slope in [−1, 1] through the origin is below |x|, exactly.
        if u > -l {
            ID
        } else if u < -l {
            Line { slope: -1.0, bias: 0.0 }
        } else {
            ZERO
        }
    } else {
        let s = if k > 0.5 * (1.0 + alpha) { 1.0 } else { alpha };
        if s == 1.0 || alpha == 0.0 {
            // x ≤ ReLU/LeakyReLU(x) and 0 ≤ ReLU(x), exactly and in f32.
            Line { slope: s, bias: 0.0 }
        } else {
            engine::lower_line(&fun, ctx, &pcs, s, None)?
        }
    };
    Ok(Relax { lower, upper })
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::super::*;
    #[allow(unused_imports)]
    use super::super::{interval, relax, value, value_f32};

    /// The `T`-native ReLU lines hold at every point of the interval (the ends, 0 and random
    /// points, evaluated exactly in f64), in f32 and Q16.16, over intervals from tiny to huge,
    /// and they are the f64 construction's lines up to the chord's rounding.
    #[test]
    fn relu_lines_in_t_are_sound() {
        use crate::num::{Fix, Scalar};
        fn check<T: Scalar>(l: T, u: T) -> usize {
            let Some((c, (a, b))) = super::relu_lines(l, u) else { return 0 };
            let (sl, bl, su, bu) = (c[0].to_f64(), c[1].to_f64(), c[2].to_f64(), c[3].to_f64());
            let (lf, uf) = (l.to_f64(), u.to_f64());
            let mut n = 0;
            for t in [0.0, 1.0, 0.5, 0.25, 0.999_999, 1e-7] {
                for x in [lf + t * (uf - lf), 0.0f64.clamp(lf, uf)] {
                    let x = x.clamp(lf, uf);
                    let r = x.max(0.0);
                    assert!(sl * x + bl <= r && r <= su * x + bu, "{l:?} {u:?} at {x}: {c:?}");
                    assert!(a.to_f64() <= r && r <= b.to_f64());
                    n += 1;
                }
            }
            n
        }
        let mut s = 0x1234_5678_u64;
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        let mut n = 0;
        for _ in 0..200_000 {
            let e1 = (next() % 40) as i32 - 20;
            let e2 = (next() % 40) as i32 - 20;
            let l = -((next() % 1000) as f64 / 1000.0 + 1e-3) * 2f64.powi(e1);
            let u = ((next() % 1000) as f64 / 1000.0 + 1e-3) * 2f64.powi(e2);
            n += check::<f32>(l as f32, u as f32);
            n += check::<Fix>(Fix::from_f64_down(l), Fix::from_f64_up(u));
        }
        assert!(n > 2_000_000);
        // Same choices as the f64 construction (lower slope, chord slope to rounding).
        let (c, _) = super::relu_lines(-1.0f32, 3.0f32).unwrap();
        let r = relax(Unary::Relu, -1.0, 3.0).unwrap();
        assert_eq!(c[0] as f64, r.lower.slope);
        assert!((c[2] as f64 - r.upper.slope).abs() < 1e-7 && (c[3] as f64 - r.upper.bias).abs() < 1e-6);
    }

    #[test]
    fn relu_family_sound() {
        for f in [Unary::Relu, Unary::LeakyRelu(0.01), Unary::LeakyRelu(0.3), Unary::Abs, Unary::Neg] {
            check_op_sound(f, 100_000, 0x5eed_0001);
        }
    }

    #[test]
    fn relu_exact_cases() {
        let r = relax(Unary::Relu, 1.0, 2.0).unwrap();
        assert_eq!(r.lower, Line { slope: 1.0, bias: 0.0 });
        assert_eq!(r.upper, Line { slope: 1.0, bias: 0.0 });
        let r = relax(Unary::Relu, -3.0, -2.0).unwrap();
        assert_eq!(r.lower, Line { slope: 0.0, bias: 0.0 });
        assert_eq!(r.upper, Line { slope: 0.0, bias: 0.0 });
        let r = relax(Unary::Relu, -1.0, 3.0).unwrap();
        assert_eq!(r.lower, Line { slope: 1.0, bias: 0.0 });
        assert!((r.upper.slope - 0.75).abs() < 1e-15 && (r.upper.bias - 0.75).abs() < 1e-12);
        assert!(r.upper.bias >= 0.75);
        // Unbounded above: no finite upper line.
        assert_eq!(relax(Unary::Relu, 0.0, f64::INFINITY), Err(RelaxError::Overflow));
        // Unbounded below but bounded image.
        let r = relax(Unary::Relu, f64::NEG_INFINITY, 2.0).unwrap();
        assert_eq!(r.lower.slope, 0.0);
        assert!(r.lower.bias <= 0.0 && r.upper.bias >= 2.0 && r.upper.bias < 2.0 + 1e-9);
        assert_eq!(relax(Unary::LeakyRelu(0.1), f64::NEG_INFINITY, 2.0), Err(RelaxError::Overflow));
        assert_eq!(relax(Unary::Relu, 1.0, 0.0), Err(RelaxError::BadInterval));
        assert_eq!(relax(Unary::Relu, f64::NAN, 0.0), Err(RelaxError::BadInterval));
    }

    #[test]
    fn relu_adversarial() {
        let tiny = f64::from_bits(1); // smallest subnormal
        for f in [Unary::Relu, Unary::LeakyRelu(0.01), Unary::Abs] {
            for &(l, u) in &[
                (-tiny, tiny),
                (-tiny, 0.0),
                (0.0, tiny),
                (-1e30, 1e30),
                (-1e300, 1e-300),
                (-1e-300, 1e300),
                (-(1.0f64.next_down()), 1.0),
                (0.0f64.next_down(), 1.0),
                (-1.0, 0.0f64.next_up()),
                (-1e30, -1e30),
                (1e30, 1e30),
                (-1.0, -1.0),
            ] {
                check_interval_sound(f, l, u, 64);
            }
        }
    }
}
