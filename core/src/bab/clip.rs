//! Input-box clipping for the input split.
//!
//! CROWN gives, for every spec atom `c·y ≤ rhs`, a line `Λ·x + b ≤ c·y` valid on the domain's box.
//! A point can only satisfy the atom where `Λ·x + b − rhs ≤ 0`, so a clause (a conjunction of
//! atoms) can only hold inside the intersection of those half-spaces. Shrinking the box to the
//! bounding box of that set — per clause, then the hull over clauses — loses no unsafe point, and
//! the smaller box makes every later bound tighter. It cuts only where the margin is small next
//! to a dimension's `|Λ_i|·width` (late in a search, or near a counterexample); where the
//! relaxation's slack dominates the margin (most ACAS Xu property 1 domains) nothing is cut.
//!
//! Soundness: every limit is computed with outward rounding from a lower estimate of the line's
//! constant, so the clipped box contains every point of the old box where the clause could hold.

use crate::num::Scalar;
use crate::spec::Spec;

/// Sweeps over the dimensions per half-space (a cut in one dimension lets the others shrink more).
const SWEEPS: usize = 2;

/// What [`clip_box`] did to the box.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clipped {
    /// No point of the box can satisfy a clause: the domain is verified (the box is left
    /// unspecified).
    Empty,
    /// The box shrank.
    Shrunk,
    /// Nothing to cut (or the inputs were unusable).
    Unchanged,
}

/// Shrink `[lo, hi]` to the points where some clause of `spec` may hold. `lines` holds per atom
/// `d` coefficients and the constant of its CROWN line (`atoms × (d + 1)`); `scratch` holds at least
/// `4·d` scalars. The clipped box is never larger than the old one.
pub fn clip_box<T: Scalar>(
    spec: &Spec<'_, T>,
    lines: &[T],
    lo: &mut [T],
    hi: &mut [T],
    scratch: &mut [T],
) -> Clipped {
    let d = lo.len();
    if hi.len() != d || scratch.len() < 4 * d || lines.len() < spec.atoms() * (d + 1) {
        return Clipped::Unchanged;
    }
    let (cl, rest) = scratch.split_at_mut(d);
    let (ch, rest) = rest.split_at_mut(d);
    let (hl, rest) = rest.split_at_mut(d);
    let hh = &mut rest[..d];
    let mut any = false;
    for k in 0..spec.clauses() {
        cl.copy_from_slice(lo);
        ch.copy_from_slice(hi);
        let mut alive = true;
        for i in spec.clause(k) {
            let line = &lines[i * (d + 1)..(i + 1) * (d + 1)];
            // A lower estimate of the constant keeps the half-space a superset.
            let b = line[d].sub_down(spec.rhs[i]);
            if !clip_halfspace(&line[..d], b, cl, ch) {
                alive = false;
                break;
            }
        }
        if !alive {
            continue;
        }
        if any {
            for j in 0..d {
                hl[j] = hl[j].min_of(cl[j]);
                hh[j] = hh[j].max_of(ch[j]);
            }
        } else {
            hl.copy_from_slice(cl);
            hh.copy_from_slice(ch);
            any = true;
        }
    }
    if !any {
        return Clipped::Empty;
    }
    let shrunk = (0..d).any(|j| hl[j] > lo[j] || hh[j] < hi[j]);
    lo.copy_from_slice(hl);
    hi.copy_from_slice(hh);
    if shrunk { Clipped::Shrunk } else { Clipped::Unchanged }
}

/// Shrink `[lo, hi]` to the bounding box of its points with `a·x + b ≤ 0`. Returns `false` if there
/// are none. Non-finite coefficients leave the box unchanged.
pub fn clip_halfspace<T: Scalar>(a: &[T], b: T, lo: &mut [T], hi: &mut [T]) -> bool {
    if !b.is_usable() || a.iter().any(|v| !v.is_usable()) {
        return true;
    }
    for _ in 0..SWEEPS {
        // s ≤ Σ_j min over the box of a_j·x_j.
        let mut s = b;
        for j in 0..a.len() {
            s = s.add_down(min_term_down(a[j], lo[j], hi[j]));
        }
        if !s.is_usable() {
            return true;
        }
        if s > T::ZERO {
            return false; // a·x + b > 0 on the whole box
        }
        let mut changed = false;
        for i in 0..a.len() {
            if a[i] == T::ZERO {
                continue;
            }
            // a_i·x_i ≤ −(b + Σ_{j≠i} a_j·x_j) ≤ −(s − min_i): subtract an upper estimate of
            // dimension i's own term from the lower estimate s.
            let rest = s.sub_down(min_term_up(a[i], lo[i], hi[i]));
            let r = rest.neg().to_f64();
            let q = r / a[i].to_f64();
            if !q.is_finite() {
                continue;
            }
            if a[i] > T::ZERO {
                let lim = T::from_f64_up(q.next_up());
                if lim < hi[i] {
                    hi[i] = lim.max_of(lo[i]);
                    changed = true;
                    if lim < lo[i] {
                        return false;
                    }
                }
            } else {
                let lim = T::from_f64_down(q.next_down());
                if lim > lo[i] {
                    lo[i] = lim.min_of(hi[i]);
                    changed = true;
                    if lim > hi[i] {
                        return false;
                    }
                }
            }
        }
        if !changed {
            break;
        }
    }
    true
}

/// `min(a·l, a·h)` rounded down.
fn min_term_down<T: Scalar>(a: T, l: T, h: T) -> T {
    if a >= T::ZERO { a.mul_down(l) } else { a.mul_down(h) }
}

/// `min(a·l, a·h)` rounded up.
fn min_term_up<T: Scalar>(a: T, l: T, h: T) -> T {
    if a >= T::ZERO { a.mul_up(l) } else { a.mul_up(h) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tiny deterministic generator (xorshift).
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> f64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 >> 11) as f64 / (1u64 << 53) as f64
        }
        fn range(&mut self, l: f64, h: f64) -> f64 {
            l + (h - l) * self.next()
        }
    }

    /// Every sampled point of the old box where some clause's half-spaces all hold (checked in
    /// exact-enough f64 arithmetic on the f32 data) stays inside the clipped box; some cases clip.
    #[test]
    fn clipped_box_keeps_every_point_that_may_be_unsafe() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let (mut clipped, mut emptied) = (0, 0);
        for case in 0..3000 {
            let d = 1 + case % 5;
            let atoms = 1 + case % 3;
            let clause_ends: [u32; 2] = [1, atoms as u32];
            let n_clauses = if atoms > 1 { 2 } else { 1 };
            let mut lines = [0f32; 3 * 6];
            let mut rhs = [0f32; 3];
            for i in 0..atoms {
                for j in 0..d {
                    // Some zero and some tiny coefficients (adversarial divisions).
                    lines[i * (d + 1) + j] = match (case + j) % 7 {
                        0 => 0.0,
                        1 => rng.range(-1e-30, 1e-30) as f32,
                        _ => rng.range(-3.0, 3.0) as f32,
                    };
                }
                lines[i * (d + 1) + d] = rng.range(-4.0, 4.0) as f32;
                rhs[i] = rng.range(-1.0, 1.0) as f32;
            }
            let mut lo = [0f32; 5];
            let mut hi = [0f32; 5];
            for j in 0..d {
                let (a, b) = (rng.range(-2.0, 2.0) as f32, rng.range(-2.0, 2.0) as f32);
                lo[j] = a.min(b);
                hi[j] = a.max(b);
            }
            let (lo0, hi0) = (lo, hi);
            let spec = Spec {
                lo: &lo0[..d],
                hi: &hi0[..d],
                rows: &[],
                rhs: &rhs[..atoms],
                clause_ends: &clause_ends[2 - n_clauses..],
            };
            let mut scratch = [0f32; 20];
            let res = clip_box(&spec, &lines, &mut lo[..d], &mut hi[..d], &mut scratch);
            let alive = res != Clipped::Empty;
            let shrunk = (0..d).any(|j| lo[j] > lo0[j] || hi[j] < hi0[j]);
            assert_eq!(res == Clipped::Shrunk, alive && shrunk, "case {case}: wrong report");
            match res {
                Clipped::Empty => emptied += 1,
                Clipped::Shrunk => clipped += 1,
                Clipped::Unchanged => {}
            }
            for j in 0..d {
                if alive {
                    assert!(lo0[j] <= lo[j] && lo[j] <= hi[j] && hi[j] <= hi0[j], "case {case}: box grew");
                }
            }
            // Samples: corners-heavy, plus the minimiser corner of each atom.
            for s in 0..200 {
                let mut x = [0f64; 5];
                for j in 0..d {
                    x[j] = match s % 4 {
                        0 => lo0[j] as f64,
                        1 => hi0[j] as f64,
                        _ => rng.range(lo0[j] as f64, hi0[j] as f64),
                    };
                    if s % 3 == 0 {
                        x[j] = if rng.next() < 0.5 { lo0[j] as f64 } else { hi0[j] as f64 };
                    }
                }
                let holds = |i: usize| {
                    let line = &lines[i * (d + 1)..(i + 1) * (d + 1)];
                    let v: f64 =
                        (0..d).map(|j| line[j] as f64 * x[j]).sum::<f64>() + line[d] as f64 - rhs[i] as f64;
                    v <= 0.0
                };
                let unsafe_pt = (0..n_clauses).any(|k| spec.clause(k).all(holds));
                if unsafe_pt {
                    assert!(alive, "case {case}: box emptied with a possibly unsafe point {x:?}");
                    for j in 0..d {
                        assert!(
                            lo[j] as f64 <= x[j] && x[j] <= hi[j] as f64,
                            "case {case}: point {x:?} cut off (dim {j}: [{}, {}])",
                            lo[j],
                            hi[j]
                        );
                    }
                }
            }
        }
        assert!(clipped > 300 && emptied > 100, "clipped {clipped}, emptied {emptied}");
    }

    /// Adversarial rounding: the half-space `a·x + b ≤ 0` touches the clipped side of the box at a
    /// real point whose other coordinates sit at their minimising corner, so the exact limit is
    /// `x_i = −(b + Σ_{j≠i} a_j·c_j)/a_i`, usually not an f32. The clipped end must not cut it:
    /// checked as `a_i·end ≥ −(b + Σ …)` with f32 products exact in f64 (a tolerance of a few f64
    /// ulps, far below one f32 ulp, covers the f64 sum).
    #[test]
    fn clip_limits_round_outward() {
        let mut rng = Rng(0x1234_5678_9abc_def1);
        let mut tight = 0;
        for case in 0..20_000 {
            let d = 1 + case % 4;
            let mut a = [0f32; 4];
            let (mut lo, mut hi) = ([0f32; 4], [0f32; 4]);
            for j in 0..d {
                a[j] = rng.range(-5.0, 5.0) as f32;
                if case % 3 == 0 {
                    lo[j] = 0.0; // exact corner products: only the division rounds
                    hi[j] = rng.range(0.5, 8.0) as f32;
                } else {
                    lo[j] = rng.range(-3.0, 0.0) as f32;
                    hi[j] = rng.range(0.1, 3.0) as f32;
                }
            }
            // The minimum of a·x over the box, and a constant that makes the cut land inside.
            let corner = |j: usize| if a[j] >= 0.0 { lo[j] } else { hi[j] };
            let min: f64 = (0..d).map(|j| a[j] as f64 * corner(j) as f64).sum();
            let span: f64 = (0..d).map(|j| (a[j] as f64 * (hi[j] - lo[j]) as f64).abs()).sum();
            let b = (-min - rng.range(0.05, 0.95) * span) as f32;
            let (mut l2, mut h2) = (lo, hi);
            if !clip_halfspace(&a[..d], b, &mut l2[..d], &mut h2[..d]) {
                // Allowed only if the box really misses the half-space.
                assert!(b as f64 + min > 0.0, "case {case}: emptied a box the half-space meets");
                continue;
            }
            for i in 0..d {
                let rest: f64 = (0..d).filter(|&j| j != i).map(|j| a[j] as f64 * corner(j) as f64).sum();
                let need = -(b as f64 + rest); // a_i·x_i must reach this
                let tol = 8.0 * f64::EPSILON * (b.abs() as f64 + rest.abs() + 1.0);
                let (end, end0) = if a[i] > 0.0 { (h2[i], hi[i]) } else { (l2[i], lo[i]) };
                let (reach, reach0) = (a[i] as f64 * end as f64, a[i] as f64 * end0 as f64);
                if need < reach0 {
                    tight += 1; // the touching point is inside the old box
                }
                let need = need.min(reach0);
                assert!(reach >= need - tol, "case {case} dim {i}: a_i·end {reach} < {need}");
            }
        }
        assert!(tight > 10_000, "only {tight} limits were inside the box");
    }

    /// A half-space touching the box exactly at a corner keeps that corner.
    #[test]
    fn touching_corner_is_kept() {
        // x + y − 2 ≤ 0 on [1, 3]²: only (1, 1) is left.
        let (mut lo, mut hi) = ([1.0f64, 1.0], [3.0f64, 3.0]);
        assert!(clip_halfspace(&[1.0, 1.0], -2.0, &mut lo, &mut hi));
        assert!(lo[0] <= 1.0 && hi[0] >= 1.0 && hi[0] < 1.0 + 1e-12);
        assert!(lo[1] <= 1.0 && hi[1] >= 1.0 && hi[1] < 1.0 + 1e-12);
        // Strictly outside: empty.
        let (mut lo, mut hi) = ([1.0f64, 1.0], [3.0f64, 3.0]);
        assert!(!clip_halfspace(&[1.0, 1.0], -1.5, &mut lo, &mut hi));
    }
}
