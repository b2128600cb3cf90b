//! Floor: the step function `⌊x⌋`, exact in f64 and in f32.
//!
//! Networks use it for range reduction (`x − 2π·⌊(x + π)/2π⌋` before a polynomial cosine), where
//! the input interval usually stays inside one step: then the map is the constant `⌊l⌋`, exact.
//! Across steps no line is tight, so each side takes the best of three sound candidates (by the
//! line's mean over `[l, u]`): the constant at the image, the slope-1 line through the steps'
//! corners (`x` above, `x − 1` below), and the steep line through the first (above) or last
//! (below) corner. Whatever the slope, the intercept is the exact extremum of `⌊x⌋ − a·x` over
//! the few points where it can occur, rounded outward, so rounding a slope never breaks a line.
//!
//! Branch and bound splits a Floor's input at a step (`bab::branch`), after which each child is
//! one constant piece. No α parameter (the lines are already the useful ones).

use super::engine::{EPS, ETA};
use super::{Line, Relax};

/// `2^52`: from here on every f64 is an integer.
const BIG: f64 = 4_503_599_627_370_496.0;

/// f64 value.
pub(super) fn value(x: f64) -> f64 {
    libm::floor(x)
}

/// f32 value (the deployed network).
pub(super) fn value_f32(x: f32) -> f32 {
    libm::floorf(x)
}

/// Image `[⌊l⌋, ⌊u⌋]` (exact: `floor` is exact in f64).
pub(super) fn range(l: f64, u: f64) -> (f64, f64) {
    (value(l), value(u))
}

/// `y − a·x` rounded outward: down for `lower`, up otherwise (`|error| ≤ 2 EPS·(|y| + |a·x|)`).
fn intercept(a: f64, (x, y): (f64, f64), lower: bool) -> f64 {
    let ax = a * x;
    let t = y - ax;
    let e = 4.0 * EPS * (y.abs() + ax.abs()) + ETA;
    if lower { t - e } else { t + e }
}

/// The line of slope `a ≥ 0` below (`lower`) or above `⌊x⌋` on finite `[l, u]` with `⌊l⌋ < ⌊u⌋`.
///
/// `⌊x⌋ − a·x` is `j − a·x` on each step `[j, j + 1)`: its supremum on a step is at the step's
/// left end (`(j, j)`, or `(l, ⌊l⌋)` for the first), its infimum at the right end (the limit
/// `(j + 1, j)`, or `(u, ⌊u⌋)` for the last). Over the inner steps both are affine in `j`, so
/// only the first and the last inner step count.
fn line(a: f64, l: f64, u: f64, lower: bool) -> Line {
    let (fl, fu) = (value(l), value(u));
    let pts: [(f64, f64); 3] = if lower {
        [(fl + 1.0, fl), (fu, fu - 1.0), (u, fu)]
    } else {
        [(l, fl), (fl + 1.0, fl + 1.0), (fu, fu)]
    };
    let mut bias = intercept(a, pts[0], lower);
    for &p in &pts[1..] {
        let b = intercept(a, p, lower);
        bias = if lower { bias.min(b) } else { bias.max(b) };
    }
    Line { slope: a, bias }
}

/// Lines on finite `[l, u]`.
pub(super) fn relax(l: f64, u: f64) -> Relax {
    let (fl, fu) = (value(l), value(u));
    if fl == fu {
        let c = Line { slope: 0.0, bias: fl };
        return Relax { lower: c, upper: c };
    }
    if l.abs().max(u.abs()) >= BIG {
        // Every float here is an integer and `⌊l⌋ + 1` may round: the constants at the image.
        return Relax { lower: Line { slope: 0.0, bias: fl }, upper: Line { slope: 0.0, bias: fu } };
    }
    let mid = 0.5 * l + 0.5 * u;
    let mean = |line: &Line| line.eval(mid);
    // Upper: steepest through (l, ⌊l⌋) and the first corner (⌊l⌋ + 1, ⌊l⌋ + 1).
    let steep_up = 1.0 / (fl + 1.0 - l);
    let mut upper = line(0.0, l, u, false);
    for a in [1.0, steep_up] {
        let c = line(a, l, u, false);
        if a.is_finite() && c.bias.is_finite() && mean(&c) < mean(&upper) {
            upper = c;
        }
    }
    // Lower: through the last corner (⌊u⌋, ⌊u⌋ − 1) and (u, ⌊u⌋) (none if u is an integer).
    let mut lower = line(0.0, l, u, true);
    let mut slopes = [1.0, f64::INFINITY];
    if u > fu {
        slopes[1] = 1.0 / (u - fu);
    }
    for a in slopes {
        let c = line(a, l, u, true);
        if a.is_finite() && c.bias.is_finite() && mean(&c) > mean(&lower) {
            lower = c;
        }
    }
    Relax { lower, upper }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every line holds at dense points of `[l, u]`, at every step's corners and just left of
    /// them, in f64 and at the f32 points.
    fn check(l: f64, u: f64) {
        let r = relax(l, u);
        let mut xs = std::vec::Vec::new();
        for k in 0..=400 {
            xs.push(l + (u - l) * k as f64 / 400.0);
        }
        let mut j = value(l) + 1.0;
        while j <= u && xs.len() < 10_000 {
            xs.extend([j, j.next_down(), (j as f32).next_down() as f64]);
            j += 1.0;
        }
        xs.extend([l, u, (l as f32) as f64, (u as f32) as f64]);
        for x in xs {
            if !(l <= x && x <= u) {
                continue;
            }
            let y = value(x);
            assert!(r.lower.eval(x) <= y, "lower {:?} above floor at {x} on [{l}, {u}]", r.lower);
            assert!(r.upper.eval(x) >= y, "upper {:?} below floor at {x} on [{l}, {u}]", r.upper);
            let x32 = x as f32;
            if (x32 as f64) >= l && (x32 as f64) <= u {
                let y32 = value_f32(x32) as f64;
                assert!(r.lower.eval(x32 as f64) <= y32 && r.upper.eval(x32 as f64) >= y32);
            }
        }
    }

    #[test]
    fn inside_one_step_is_exact() {
        let r = relax(0.25, 0.75);
        assert_eq!(r.lower, Line { slope: 0.0, bias: 0.0 });
        assert_eq!(r.upper, r.lower);
        let r = relax(-3.0, -2.5);
        assert_eq!(r.lower.bias, -3.0);
        check(-3.0, -2.5);
    }

    #[test]
    fn lines_hold_across_steps() {
        let cases = [
            (0.0, 1.0),
            (0.9, 1.1),
            (1.0f64.next_down(), 1.0),
            (-1.0, 1.0f64.next_down()),
            (-0.5, 0.5),
            (-7.3, 12.9),
            (2.0, 5.0),
            (-1e6 - 0.5, -1e6 + 0.5),
            (1e15 + 0.5, 1e15 + 2.5),
            (3.0e7, 3.0e7 + 7.0),
        ];
        for (l, u) in cases {
            check(l, u);
        }
        let mut s: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..3000 {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let a = (s % 20_000) as f64 / 1000.0 - 10.0;
            let w = ((s >> 20) % 4000) as f64 / 1000.0;
            check(a, a + w);
        }
    }

    #[test]
    fn crossing_one_step_is_tighter_than_the_constants() {
        // Just below a step the steep upper line beats the constant image; just above, the
        // steep lower line does.
        let r = relax(0.8, 1.1);
        assert!(r.upper.slope > 4.9 && r.upper.eval(0.95) < 0.76, "{r:?}");
        let r = relax(0.9, 1.2);
        assert!(r.lower.slope > 4.9 && r.lower.eval(1.05) > 0.24, "{r:?}");
        // Wide intervals take the slope-1 lines through the corners.
        let r = relax(-7.3, 12.9);
        assert_eq!((r.lower.slope, r.upper.slope), (1.0, 1.0));
        check(1e16, 1e16 + 64.0);
    }
}
