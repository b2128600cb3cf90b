//! Test helpers: a seeded RNG, an adversarial interval generator and the soundness checker.

use super::*;

/// SplitMix64 (deterministic, no dependencies).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / 9_007_199_254_740_992.0)
    }
    pub fn range(&mut self, a: f64, b: f64) -> f64 {
        a + (b - a) * self.unit()
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
    pub fn sign(&mut self) -> f64 {
        if self.next_u64() & 1 == 0 { 1.0 } else { -1.0 }
    }
    /// `10^e` with `e` uniform in `[a, b]`.
    pub fn log_uniform(&mut self, a: f64, b: f64) -> f64 {
        libm::pow(10.0, self.range(a, b))
    }
}

/// Points where the functions change shape (inflections, extrema, kinks).
pub fn specials() -> [f64; 27] {
    use core::f64::consts::{FRAC_PI_2, PI, SQRT_2};
    [
        0.0,
        SQRT_2,
        -SQRT_2,
        -0.751_791_524_693_564_5,
        super::gelu::X0_TANH,
        -super::gelu::X0_TANH,
        -0.752_461_422_071_016_3,
        FRAC_PI_2,
        -FRAC_PI_2,
        PI,
        -PI,
        1.5 * PI,
        -1.5 * PI,
        2.0 * PI,
        -2.0 * PI,
        2.5 * PI,
        3.0 * PI,
        -3.5 * PI,
        10.0 * PI,
        1.0,
        -1.0,
        2.0,
        10.0,
        -10.0,
        88.0,
        -88.0,
        1000.0 * PI,
    ]
}

/// An adversarial random interval (may be degenerate; always `l ≤ u`, finite).
pub fn gen_interval(rng: &mut Rng) -> (f64, f64) {
    let c = match rng.below(7) {
        0 => rng.range(-6.0, 6.0),
        1 | 2 => {
            let s = specials();
            let c = s[rng.below(s.len() as u64) as usize];
            match rng.below(3) {
                0 => c,
                1 => c + rng.sign() * rng.log_uniform(-17.0, -3.0) * c.abs().max(1.0),
                _ => c + rng.range(-0.5, 0.5),
            }
        }
        3 => rng.sign() * rng.log_uniform(-40.0, 3.0),
        4 => rng.range(-100.0, 100.0),
        5 => rng.sign() * rng.log_uniform(3.0, 30.0),
        _ => {
            // f32-representable centre
            (rng.range(-30.0, 30.0) as f32) as f64
        }
    };
    let w = match rng.below(8) {
        0 => 0.0,
        1 => {
            let mut u = c;
            for _ in 0..=rng.below(4) {
                u = u.next_up();
            }
            u - c
        }
        2 => rng.log_uniform(-15.0, 0.0),
        3 => rng.range(0.0, 4.0),
        4 => c.abs() * rng.log_uniform(-16.0, 0.0),
        5 => rng.log_uniform(0.0, 31.0),
        6 => rng.range(0.0, 12.0),
        _ => rng.log_uniform(-8.0, 1.5),
    };
    let r = match rng.below(3) {
        0 => 0.0,
        1 => 1.0,
        _ => rng.unit(),
    };
    let mut l = c - w * r;
    let mut u = l + w;
    if rng.below(10) == 0 {
        // exactly at the special point on one side
        if rng.below(2) == 0 {
            l = c;
        } else {
            u = c;
        }
    }
    if !(l <= u) {
        core::mem::swap(&mut l, &mut u);
    }
    if !(l <= u) || !l.is_finite() || !u.is_finite() {
        return (0.0, 1.0);
    }
    (l, u)
}

/// Map an interval into the domain of `f` (positive for log/reciprocal, non-negative for sqrt).
pub fn into_domain(f: Unary, l: f64, u: f64) -> (f64, f64) {
    match f {
        Unary::Log | Unary::Reciprocal | Unary::Sqrt => {
            let (mut a, mut b) = (l.abs(), u.abs());
            if a > b {
                core::mem::swap(&mut a, &mut b);
            }
            if l < 0.0 && u > 0.0 {
                a = 0.0;
            }
            if f != Unary::Sqrt && a == 0.0 {
                a = if b > 1e-30 { 1e-30f64.min(b) } else { b };
                if a == 0.0 {
                    a = f64::from_bits(1);
                    b = b.max(a);
                }
            }
            (a, b)
        }
        _ => (l, u),
    }
}

/// Smallest f32 ≥ x (None if out of f32 range).
pub fn f32_up(x: f64) -> Option<f32> {
    let y = x as f32;
    let y = if (y as f64) < x { y.next_up() } else { y };
    if y.is_finite() { Some(y) } else { None }
}

/// Largest f32 ≤ x.
pub fn f32_down(x: f64) -> Option<f32> {
    let y = x as f32;
    let y = if (y as f64) > x { y.next_down() } else { y };
    if y.is_finite() { Some(y) } else { None }
}

fn key32(x: f32) -> i64 {
    let b = x.to_bits() as i32 as i64;
    if b < 0 { -(b & 0x7fff_ffff) - 1 } else { b }
}

fn unkey32(k: i64) -> f32 {
    if k < 0 { f32::from_bits(((-(k + 1)) as u32) | 0x8000_0000) } else { f32::from_bits(k as u32) }
}

/// Whether relax/interval must succeed on this input (moderate magnitudes).
pub fn must_succeed(f: Unary, l: f64, u: f64) -> bool {
    let x = l.abs().max(u.abs());
    match f {
        Unary::Exp => u <= 80.0 && l >= -1e300,
        Unary::Reciprocal => l >= 1e-30,
        Unary::Pow(n) => libm::pow(x, n as f64) <= 1e37,
        Unary::Log => true,
        Unary::Sqrt => l <= 3e76,
        Unary::Gelu | Unary::GeluTanh => u <= 1e37,
        _ => x <= 1e300,
    }
}

fn check_point(f: Unary, r: &Relax, iv: (f64, f64), x: f64, y: f64, what: &str, (l, u): (f64, f64)) {
    if y.is_nan() {
        panic!("{f:?} NaN value at {x:e} ({what}) on [{l:e}, {u:e}]");
    }
    let lo = r.lower.eval(x);
    let hi = r.upper.eval(x);
    assert!(
        lo <= y && y <= hi,
        "{f:?} line violation ({what}) on [{l:e}, {u:e}] at x={x:e}: lower {lo:e} value {y:e} upper {hi:e}; {r:?}"
    );
    assert!(
        iv.0 <= y && y <= iv.1,
        "{f:?} interval violation ({what}) on [{l:e}, {u:e}] at x={x:e}: {iv:?} value {y:e}"
    );
}

/// Check relax and interval of `f` on `[l, u]` at the endpoints, the midpoint, `npts` random
/// reals and f32 points (both `value` and `value_f32`). Returns whether a relaxation was given.
pub fn check_interval_sound(f: Unary, l: f64, u: f64, npts: usize) -> bool {
    check_interval_sound_rng(f, l, u, npts, &mut Rng::new(l.to_bits() ^ u.to_bits().rotate_left(17)))
}

pub fn check_interval_sound_rng(f: Unary, l: f64, u: f64, npts: usize, rng: &mut Rng) -> bool {
    let r = relax(f, l, u);
    let iv = interval(f, l, u);
    let (r, iv) = match (r, iv) {
        (Ok(r), Ok(iv)) => (r, iv),
        (Err(e1), Err(e2)) => {
            assert_eq!(e1, e2, "{f:?} on [{l:e}, {u:e}]");
            assert!(!must_succeed(f, l, u), "{f:?} unexpectedly failed with {e1:?} on [{l:e}, {u:e}]");
            return false;
        }
        (r, iv) => panic!("{f:?} on [{l:e}, {u:e}]: relax {r:?} but interval {iv:?}"),
    };
    assert!(iv.0 <= iv.1);
    check_lines_at_points(f, &r, iv, l, u, npts, rng);
    true
}

/// Check lines `r` and image `iv` of `f` on `[l, u]` at the endpoints, the midpoint, `npts` random
/// reals and f32 points (both `value` and `value_f32`).
pub fn check_lines_at_points(
    f: Unary,
    r: &Relax,
    iv: (f64, f64),
    l: f64,
    u: f64,
    npts: usize,
    rng: &mut Rng,
) {
    let r = *r;
    let mut pts = [0.0f64; 3];
    pts[0] = l;
    pts[1] = u;
    pts[2] = l * 0.5 + u * 0.5;
    for &x in &pts {
        if !x.is_finite() {
            let y = value(f, x);
            assert!(
                iv.0 <= y && y <= iv.1,
                "{f:?} interval violation at {x} on [{l:e}, {u:e}]: {iv:?} value {y:e}"
            );
            continue;
        }
        if x >= l && x <= u {
            check_point(f, &r, iv, x, value(f, x), "f64", (l, u));
        }
    }
    for _ in 0..npts {
        let x = (l + (u - l) * rng.unit()).max(l).min(u);
        if x.is_finite() {
            check_point(f, &r, iv, x, value(f, x), "f64", (l, u));
        }
    }
    // f32 points inside [l, u].
    if let (Some(a), Some(b)) = (f32_up(l), f32_down(u))
        && a <= b
    {
        let (ka, kb) = (key32(a), key32(b));
        let f32pts = [a, b, a.next_up().min(b), b.next_down().max(a)];
        let n = npts.max(4);
        for i in 0..n + f32pts.len() {
            let x32 = if i < f32pts.len() {
                f32pts[i]
            } else if i % 2 == 0 {
                unkey32(ka + (rng.next_u64() % ((kb - ka) as u64 + 1)) as i64)
            } else {
                // f32 near a random real point
                let x = (l + (u - l) * rng.unit()).max(l).min(u);
                let y = x as f32;
                if (y as f64) < l || (y as f64) > u {
                    continue;
                }
                y
            };
            let xd = x32 as f64;
            if !(xd >= l && xd <= u) {
                continue;
            }
            check_point(f, &r, iv, xd, value(f, xd), "f64 at f32 point", (l, u));
            check_point(f, &r, iv, xd, value_f32(f, x32) as f64, "f32", (l, u));
        }
    }
}

/// `n` random intervals of the adversarial generator, each checked at several points.
pub fn check_op_sound(f: Unary, n: usize, seed: u64) {
    check_op_sound_scaled(f, n, seed, 1.0)
}

/// As [`check_op_sound`] with the generated intervals multiplied by `scale` (for steep ops).
pub fn check_op_sound_scaled(f: Unary, n: usize, seed: u64, scale: f64) {
    let mut rng = Rng::new(seed);
    let mut ok = 0usize;
    for _ in 0..n {
        let (l, u) = gen_interval(&mut rng);
        let (l, u) = if scale == 1.0 || rng.below(4) == 0 { (l, u) } else { (l * scale, u * scale) };
        let (l, u) = into_domain(f, l, u);
        // Every 64th interval is checked densely (1000 points).
        let npts = if rng.below(64) == 0 { 1000 } else { 6 };
        if check_interval_sound_rng(f, l, u, npts, &mut rng) {
            ok += 1;
        }
    }
    // The generator must mostly produce intervals that get relaxations.
    assert!(ok * 2 > n, "{f:?}: only {ok} of {n} intervals relaxed");
}

/// Spacing of f32 numbers at magnitude `|v|` (as f64).
pub fn ulp32(v: f64) -> f64 {
    let a = (v.abs() as f32).min(f32::MAX);
    let a = if (a as f64) > v.abs() { a.next_down() } else { a };
    ((a.next_up() as f64) - (a as f64)).max(f64::from(f32::from_bits(1)))
}

/// Sweep the f32 numbers in `[lo, hi]`, every `stride`-th representable number in order (an odd
/// stride, so the visited mantissa patterns shift from binade to binade), comparing `value_f32`
/// with the f64 reference `value`. Returns (max error in f32 ulps of the result, max of
/// error / `model(x, value)`).
pub fn sweep_f32(f: Unary, lo: f32, hi: f32, stride: i64, model: impl Fn(f64, f64) -> f64) -> (f64, f64) {
    let (ka, kb) = (key32(lo), key32(hi));
    let mut k = ka;
    let (mut worst_ulp, mut worst_use) = (0.0f64, 0.0f64);
    while k <= kb {
        let x = unkey32(k);
        k += stride;
        let v64 = value(f, x as f64);
        let v32 = value_f32(f, x);
        if !v64.is_finite() {
            continue;
        }
        if !v32.is_finite() {
            if v64.abs() <= super::engine::F32_LIMIT {
                worst_use = f64::INFINITY;
            }
            continue;
        }
        let e = (v32 as f64 - v64).abs();
        worst_ulp = worst_ulp.max(e / ulp32(v64));
        let m = model(x as f64, v64);
        let usage = if e == 0.0 { 0.0 } else { e / m };
        if usage > worst_use {
            worst_use = usage;
        }
    }
    (worst_ulp, worst_use)
}

/// Every unary op kind (with a few parameters), for suites that sweep them all.
pub fn all_ops() -> [Unary; 20] {
    [
        Unary::Relu,
        Unary::LeakyRelu(0.01),
        Unary::LeakyRelu(0.2),
        Unary::Sigmoid,
        Unary::Tanh,
        Unary::Sin,
        Unary::Cos,
        Unary::Gelu,
        Unary::GeluTanh,
        Unary::Exp,
        Unary::Log,
        Unary::Reciprocal,
        Unary::Sqrt,
        Unary::Pow(2),
        Unary::Pow(3),
        Unary::Pow(4),
        Unary::Pow(5),
        Unary::Neg,
        Unary::Abs,
        Unary::Floor,
    ]
}

/// Tightness of `f`'s relaxation: over 20,000 random intervals `[l, l + w]` (`l` uniform in `ls`,
/// `w` in `ws`), the summed gap between the upper and the lower line at the midpoint (the mean gap
/// over the interval: the lines are affine) over the summed height of the interval image.
pub fn gap_ratio(f: Unary, rng: &mut Rng, ls: (f64, f64), ws: (f64, f64)) -> f64 {
    let (mut gap, mut height) = (0.0, 0.0);
    for _ in 0..20_000 {
        let l = rng.range(ls.0, ls.1);
        let u = l + rng.range(ws.0, ws.1);
        let r = relax(f, l, u).unwrap();
        let m = 0.5 * (l + u);
        gap += r.upper.eval(m) - r.lower.eval(m);
        let (a, b) = interval(f, l, u).unwrap();
        height += b - a;
    }
    std::println!("{f:?}: mean line gap / mean image height = {:.4}", gap / height);
    gap / height
}
