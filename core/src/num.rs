//! Scalars with directed rounding.
//!
//! The bound engines are generic over [`Scalar`]: `f32` on the device, `f64` on the host, and
//! [`Fix`] (a checked fixed-point type from the `fixed` crate) where there is no FPU. Every
//! operation that feeds a bound exists in a round-down and a round-up form, so a lower bound is
//! never rounded up and an upper bound never down. Plain (nearest) operations are used only for
//! linear coefficients, whose rounding error the engines account for separately with the error
//! constants [`Scalar::REL_ERR`] and [`Scalar::ABS_ERR`].
//!
//! Invalid results (NaN, infinities, fixed-point overflow) are not errors at the point they occur:
//! they propagate, and [`Scalar::is_usable`] tells the engine to give up with `Unknown`. A
//! saturated or wrapped value never appears inside a bound.

use core::fmt::Debug;

use fixed::types::I16F16;

/// The arithmetic of a scalar type: which evaluation of the deployed network's functions it uses
/// (`relax::apply`): the f32 library functions, the f64 ones, or the f64 ones rounded to the
/// fixed-point grid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// IEEE binary32.
    F32,
    /// IEEE binary64.
    F64,
    /// Fixed point.
    Fixed,
}

/// A number type the bound engines can compute with soundly.
pub trait Scalar: Copy + PartialOrd + Debug + 'static {
    /// Additive identity.
    const ZERO: Self;
    /// Multiplicative identity.
    const ONE: Self;
    /// Relative error of one nearest-rounded `+`/`*` (unit roundoff; 0 for fixed point).
    const REL_ERR: f64;
    /// An upper bound of the absolute error of one nearest-rounded `*` near zero (underflow; the
    /// resolution for fixed point). For floats it is not the least subnormal but a tiny *normal*
    /// number (`2^-900` for f64, `2^-100` for f32): any larger value is as sound, and the error
    /// terms built from it (`η·Σm`, `n·η`) then stay normal. Subnormal operands and results cost
    /// x86 cores a microcode assist each, which made these terms a third of the bound engine's
    /// time.
    const ABS_ERR: f64;
    /// Short name for reports.
    const NAME: &'static str;

    /// Largest value of the type that is `<= x` (NaN stays unusable).
    fn from_f64_down(x: f64) -> Self;
    /// Smallest value of the type that is `>= x`.
    fn from_f64_up(x: f64) -> Self;
    /// Nearest value of the type.
    fn from_f64_near(x: f64) -> Self;
    /// Exact conversion to `f64` (all three types embed exactly).
    fn to_f64(self) -> f64;

    /// `self + o` rounded toward −∞.
    fn add_down(self, o: Self) -> Self;
    /// `self + o` rounded toward +∞.
    fn add_up(self, o: Self) -> Self;
    /// `self - o` rounded toward −∞.
    fn sub_down(self, o: Self) -> Self;
    /// `self - o` rounded toward +∞.
    fn sub_up(self, o: Self) -> Self;
    /// `self * o` rounded toward −∞.
    fn mul_down(self, o: Self) -> Self;
    /// `self * o` rounded toward +∞.
    fn mul_up(self, o: Self) -> Self;

    /// `self + o`, nearest (coefficients only).
    fn add(self, o: Self) -> Self;
    /// `self - o`, nearest (coefficients only).
    fn sub(self, o: Self) -> Self;
    /// `self * o`, nearest (coefficients only).
    fn mul(self, o: Self) -> Self;
    /// Exact negation.
    fn neg(self) -> Self;
    /// Exact absolute value.
    fn abs(self) -> Self;

    /// Finite and not poisoned by an overflow.
    fn is_usable(self) -> bool;

    /// Which arithmetic this is (how the deployed network's functions are evaluated in it).
    const FORMAT: Format;

    /// The smaller of two values (an unusable operand wins, so trouble is never hidden).
    #[inline]
    fn min_of(self, o: Self) -> Self {
        if !self.is_usable() || !o.is_usable() {
            return if self.is_usable() { o } else { self };
        }
        if o < self { o } else { self }
    }
    /// The larger of two values (an unusable operand wins).
    #[inline]
    fn max_of(self, o: Self) -> Self {
        if !self.is_usable() || !o.is_usable() {
            return if self.is_usable() { o } else { self };
        }
        if o > self { o } else { self }
    }
    /// Positive part.
    #[inline]
    fn pos(self) -> Self {
        if self > Self::ZERO { self } else { Self::ZERO }
    }
    /// Negative part (`<= 0`).
    #[inline]
    fn negpart(self) -> Self {
        if self < Self::ZERO { self } else { Self::ZERO }
    }
}

macro_rules! outward_fn {
    ($name:ident, $t:ident) => {
        /// `r` moved at least one ulp in direction `dir` (±1): `r + dir·(|r|·ε + tiny)`, where
        /// `ε = 2^-p` for a `p+1`-bit significand, is enough because `|r|·ε ≥ ulp(r)` (rounded to
        /// nearest, it stays ≥ the representable `ulp(r)`; `tiny`, the least normal number, is
        /// more than the ulp of `r = 0` and of any subnormal, and keeps the sum normal, see
        /// [`Scalar::ABS_ERR`]), and the final rounding is monotonic, so the result is at
        /// least the neighbour of `r` in that direction, which bounds the exact value `r` was
        /// rounded from. Unlike `next_up`/`next_down` this is four float ops without branches,
        /// so the backward pass's loops vectorise. The one NaN it can make (`−∞` up, `+∞` down)
        /// falls back to the neighbour.
        #[inline]
        fn $name(r: $t, dir: $t) -> $t {
            let y = r + dir * (r.abs() * $t::EPSILON + $t::MIN_POSITIVE);
            if y.is_nan() && !r.is_nan() { if dir > 0.0 { r.next_up() } else { r.next_down() } } else { y }
        }
    };
}

outward_fn!(outward_f32, f32);
outward_fn!(outward_f64, f64);

macro_rules! float_scalar {
    ($t:ident, $outward:ident, $name:expr, $rel:expr, $abs:expr, $format:expr) => {
        impl Scalar for $t {
            const FORMAT: Format = $format;
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const REL_ERR: f64 = $rel;
            const ABS_ERR: f64 = $abs;
            const NAME: &'static str = $name;

            #[inline]
            fn from_f64_down(x: f64) -> Self {
                let y = x as $t;
                if (y as f64) > x { y.next_down() } else { y }
            }
            #[inline]
            fn from_f64_up(x: f64) -> Self {
                let y = x as $t;
                if (y as f64) < x { y.next_up() } else { y }
            }
            #[inline]
            fn from_f64_near(x: f64) -> Self {
                x as $t
            }
            #[inline]
            fn to_f64(self) -> f64 {
                self as f64
            }
            // At least one ulp outward after every rounded operation (see `outward`): sound
            // without access to the FPU's rounding mode (round-to-nearest is all the targets
            // offer).
            #[inline]
            fn add_down(self, o: Self) -> Self {
                $outward(self + o, -1.0)
            }
            #[inline]
            fn add_up(self, o: Self) -> Self {
                $outward(self + o, 1.0)
            }
            #[inline]
            fn sub_down(self, o: Self) -> Self {
                $outward(self - o, -1.0)
            }
            #[inline]
            fn sub_up(self, o: Self) -> Self {
                $outward(self - o, 1.0)
            }
            #[inline]
            fn mul_down(self, o: Self) -> Self {
                $outward(self * o, -1.0)
            }
            #[inline]
            fn mul_up(self, o: Self) -> Self {
                $outward(self * o, 1.0)
            }
            #[inline]
            fn add(self, o: Self) -> Self {
                self + o
            }
            #[inline]
            fn sub(self, o: Self) -> Self {
                self - o
            }
            #[inline]
            fn mul(self, o: Self) -> Self {
                self * o
            }
            #[inline]
            fn neg(self) -> Self {
                -self
            }
            #[inline]
            fn abs(self) -> Self {
                if self < 0.0 { -self } else { self }
            }
            #[inline]
            fn is_usable(self) -> bool {
                self.is_finite()
            }
        }
    };
}

float_scalar!(
    f32,
    outward_f32,
    "f32",
    f32::EPSILON as f64 / 2.0,
    7.888_609_052_210_118e-31, // 2^-100
    Format::F32
);
// 2^-900
float_scalar!(f64, outward_f64, "f64", f64::EPSILON / 2.0, 1.183_052_186_166_774_7e-271, Format::F64);

/// Upper bound on γₙ = n·u/(1 − n·u), as an `f64` (rounded up generously): the relative error
/// of a sum or dot product of `n` terms in an arithmetic of unit roundoff `u` (the engines'
/// error terms are built from it).
pub fn gamma(n: usize, u: f64) -> f64 {
    if u == 0.0 {
        return 0.0;
    }
    let nu = (n as f64 + 1.0) * u;
    if nu >= 0.5 { f64::INFINITY } else { nu / (1.0 - nu) * (1.0 + 1e-6) }
}

/// Checked fixed-point scalar: Q16.16 (`fixed::types::I16F16`) with a poison state.
///
/// Any overflow, or any operation on a poisoned value, yields [`Fix::POISON`]; the engines see it
/// through [`Scalar::is_usable`] and answer `Unknown`. Directed rounding is exact: products are
/// computed in 64-bit integers and rounded by floor/ceil of the discarded bits.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd)]
pub struct Fix(I16F16);

impl Fix {
    /// The poisoned value (the most negative bit pattern is reserved for it).
    pub const POISON: Fix = Fix(I16F16::MIN);
    const FRAC: u32 = 16;

    /// The underlying fixed-point number, if usable.
    pub fn get(self) -> Option<I16F16> {
        if self.is_usable() { Some(self.0) } else { None }
    }
    /// Wrap a fixed-point number (the reserved pattern becomes poison).
    pub fn new(v: I16F16) -> Fix {
        Fix(v)
    }
    fn from_bits_checked(b: i64) -> Fix {
        if b <= i32::MIN as i64 || b > i32::MAX as i64 {
            Fix::POISON
        } else {
            Fix(I16F16::from_bits(b as i32))
        }
    }
    fn bits(self) -> i64 {
        self.0.to_bits() as i64
    }
    fn from_f64_rounded(x: f64, mode: i8) -> Fix {
        if !x.is_finite() {
            return Fix::POISON;
        }
        let s = x * (1u64 << Self::FRAC) as f64; // exact scaling by a power of two
        let r = match mode {
            -1 => libm::floor(s),
            1 => libm::ceil(s),
            _ => libm::round(s),
        };
        if !(r > i32::MIN as f64 && r <= i32::MAX as f64) {
            return Fix::POISON;
        }
        Fix::from_bits_checked(r as i64)
    }
    fn lift2(a: Fix, b: Fix, f: impl Fn(i64, i64) -> i64) -> Fix {
        if !a.is_usable() || !b.is_usable() {
            return Fix::POISON;
        }
        Fix::from_bits_checked(f(a.bits(), b.bits()))
    }
}

impl Scalar for Fix {
    const ZERO: Self = Fix(I16F16::ZERO);
    const ONE: Self = Fix(I16F16::ONE);
    const REL_ERR: f64 = 0.0;
    const ABS_ERR: f64 = 1.0 / 131_072.0; // half the resolution 2^-16: nearest rounding
    const NAME: &'static str = "fix16.16";

    fn from_f64_down(x: f64) -> Self {
        Fix::from_f64_rounded(x, -1)
    }
    fn from_f64_up(x: f64) -> Self {
        Fix::from_f64_rounded(x, 1)
    }
    fn from_f64_near(x: f64) -> Self {
        Fix::from_f64_rounded(x, 0)
    }
    fn to_f64(self) -> f64 {
        if self.is_usable() { self.bits() as f64 / (1u64 << Fix::FRAC) as f64 } else { f64::NAN }
    }
    fn add_down(self, o: Self) -> Self {
        Fix::lift2(self, o, |a, b| a + b)
    }
    fn add_up(self, o: Self) -> Self {
        Fix::lift2(self, o, |a, b| a + b)
    }
    fn sub_down(self, o: Self) -> Self {
        Fix::lift2(self, o, |a, b| a - b)
    }
    fn sub_up(self, o: Self) -> Self {
        Fix::lift2(self, o, |a, b| a - b)
    }
    fn mul_down(self, o: Self) -> Self {
        // Arithmetic shift right is floor division by 2^16.
        Fix::lift2(self, o, |a, b| (a * b) >> Fix::FRAC)
    }
    fn mul_up(self, o: Self) -> Self {
        Fix::lift2(self, o, |a, b| -((-(a * b)) >> Fix::FRAC))
    }
    fn add(self, o: Self) -> Self {
        self.add_down(o)
    }
    fn sub(self, o: Self) -> Self {
        self.sub_down(o)
    }
    fn mul(self, o: Self) -> Self {
        Fix::lift2(self, o, |a, b| (a * b + (1 << (Fix::FRAC - 1))) >> Fix::FRAC)
    }
    fn neg(self) -> Self {
        Fix::lift2(self, Fix::ZERO, |a, _| -a)
    }
    fn abs(self) -> Self {
        Fix::lift2(self, Fix::ZERO, |a, _| a.abs())
    }
    fn is_usable(self) -> bool {
        self != Fix::POISON
    }
    const FORMAT: Format = Format::Fixed;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_conversions_are_directed() {
        let x = 0.1f64;
        assert!((f32::from_f64_down(x) as f64) <= x);
        assert!((f32::from_f64_up(x) as f64) >= x);
        assert!(f32::from_f64_up(x) > f32::from_f64_down(x));
        assert_eq!(f32::from_f64_down(0.5), 0.5);
        assert_eq!(f32::from_f64_up(0.5), 0.5);
        assert!(!f32::from_f64_down(1e300).is_usable() || f32::from_f64_down(1e300) == f32::MAX);
    }

    #[test]
    fn fixed_products_round_outward() {
        let a = Fix::from_f64_near(0.3);
        let b = Fix::from_f64_near(-0.7);
        let exact = a.to_f64() * b.to_f64();
        assert!(a.mul_down(b).to_f64() <= exact);
        assert!(a.mul_up(b).to_f64() >= exact);
        assert!(a.mul_up(b).to_f64() - a.mul_down(b).to_f64() <= 1.0 / 65536.0);
    }

    #[test]
    fn fixed_overflow_poisons() {
        let big = Fix::from_f64_near(30000.0);
        assert!(big.is_usable());
        let p = big.mul_up(big);
        assert!(!p.is_usable());
        assert!(!p.add_up(Fix::ONE).is_usable());
        assert!(!Fix::from_f64_up(1e9).is_usable());
        assert!(!Fix::from_f64_up(f64::NAN).is_usable());
        // Poison is not hidden by min/max.
        assert!(!Fix::ONE.min_of(p).is_usable());
        assert!(!Fix::ONE.max_of(p).is_usable());
    }
}
