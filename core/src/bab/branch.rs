//! Branching decisions: which neuron (or input dimension) to split, and where.
//!
//! * **BBPS** (notes §4.2): for each candidate neuron `j` of a split node `z`, the change of the
//!   consuming op's relaxation in each child is pushed through the domain's output coefficients
//!   (`lA`, saved by the output pass) to `z`, then straight to the input through the root's
//!   linear bounds of `z` (the *shortcut*) and concretised over the box; the score is the
//!   improvement of the worse child. Everything here is a heuristic and runs in `f64`: it only
//!   chooses, it proves nothing.
//! * **BaBSR-like** (notes §4.3): the same, but only the relaxation intercepts count.
//! * **Input split**: the dimension with the largest `|Λ_i|·width_i` (its share of the gap).

use crate::graph::{Graph, NodeId, Op, Unary};
use crate::num::Scalar;
use crate::relax;
use crate::tables::{self, Consumer};

use super::{Branching, Points};

/// A chosen split: node, element, point and its score.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Candidate {
    /// The node whose value is split.
    pub node: NodeId,
    /// The element.
    pub idx: u32,
    /// The branching point (strictly inside the element's interval; for a step, an integer in
    /// `(l, u]`).
    pub point: f64,
    /// The heuristic's score (larger is better).
    pub score: f64,
    /// The element feeds a Floor and `point` is one of its steps: the lower child ends just
    /// below the step ([`step_below`]), so that neither child holds the jump.
    pub step: bool,
}

/// The largest f32 below the step at `k`: where the lower child of a step split ends. Sound for
/// values computed in f32 (none lies strictly between it and `k`), which is what the deployed
/// network's are.
pub fn step_below(k: f64) -> f64 {
    let f = k as f32;
    (if f as f64 >= k { f.next_down() } else { f }) as f64
}

/// The first consumer of node `z` that branching acts for: a splittable unary op, or a product
/// (`None`).
fn unary_consumer<T: Scalar>(g: &Graph<'_, T>, z: NodeId) -> Option<Unary> {
    for n in &g.nodes[z as usize + 1..] {
        match n.op {
            Op::Unary { x, f } if x == z && relax::splittable(f) => return Some(f),
            // Products look their point up with the other factor (`point_for_mul`).
            Op::Mul { a, b } if a == z || b == z => return None,
            _ => {}
        }
    }
    None
}

/// What the branching heuristics read: the domain's node intervals, the output pass's target-row
/// coefficients at every node (`out_a`, node-offset indexed) and the root's shortcuts.
pub struct Inputs<'a, T> {
    /// The graph.
    pub g: &'a Graph<'a, T>,
    /// Node lower bounds of the domain.
    pub lo: &'a [T],
    /// Node upper bounds of the domain.
    pub hi: &'a [T],
    /// Target-row coefficients at each node's output.
    pub out_a: &'a [T],
    /// Root shortcuts: per split node, `len × (d+1)` lower rows then as many upper rows.
    pub shortcuts: &'a [T],
    /// Offset of each node's shortcut block (`usize::MAX` for none).
    pub offsets: &'a [usize],
    /// The domain's input box.
    pub x_lo: &'a [T],
    /// The domain's input box.
    pub x_hi: &'a [T],
}

/// Whether element `[l, u]` of a split node is worth splitting for these consumers.
fn branchable<T: Scalar>(g: &Graph<'_, T>, z: NodeId, l: f64, u: f64) -> bool {
    if !(u > l) {
        return false;
    }
    let mut any = false;
    for n in &g.nodes[z as usize + 1..] {
        match n.op {
            Op::Unary { x, f } if x == z && relax::splittable(f) => {
                any |= match f {
                    Unary::Relu | Unary::LeakyRelu(_) | Unary::Abs => l < 0.0 && u > 0.0,
                    Unary::Floor => libm::floor(l) < libm::floor(u),
                    _ => u - l > 1e-6 * (1.0 + l.abs().max(u.abs())),
                };
            }
            Op::Mul { a, b } if a == z || b == z => any |= u - l > 1e-6 * (1.0 + l.abs().max(u.abs())),
            _ => {}
        }
    }
    any
}

/// The step of a Floor consumer of node `z` nearest the midpoint of `[l, u]`, if one lies in
/// `(l, u]`.
fn step_for<T: Scalar>(g: &Graph<'_, T>, z: NodeId, l: f64, u: f64) -> Option<f64> {
    let (first, last) = (libm::floor(l) + 1.0, libm::floor(u));
    (unary_consumer(g, z) == Some(Unary::Floor) && first <= last)
        .then(|| libm::round(tables::midpoint(l, u)).max(first).min(last))
}

/// The branching point for element `[l, u]` of node `z`.
fn point_for<T: Scalar>(inp: &Inputs<'_, T>, z: NodeId, l: f64, u: f64, points: Points) -> f64 {
    let consumer = unary_consumer(inp.g, z).map(Consumer::Unary);
    let p = match (points, consumer) {
        (_, Some(Consumer::Unary(f @ (Unary::Relu | Unary::LeakyRelu(_) | Unary::Abs)))) => {
            tables::branch_point(Consumer::Unary(f), l, u)
        }
        (Points::Table, Some(c)) => tables::branch_point(c, l, u),
        _ => tables::midpoint(l, u),
    };
    if p > l && p < u { p } else { tables::midpoint(l, u) }
}

/// The branching point for element `idx` of node `z` when `z` feeds a product with another node
/// (looked up with the other factor's interval).
fn point_for_mul<T: Scalar>(
    inp: &Inputs<'_, T>,
    z: NodeId,
    idx: usize,
    l: f64,
    u: f64,
    points: Points,
) -> Option<f64> {
    if points != Points::Table {
        return None;
    }
    let g = inp.g;
    for n in &g.nodes[z as usize + 1..] {
        if let Op::Mul { a, b } = n.op
            && (a == z || b == z)
        {
            {
                let other = if a == z { b } else { a };
                let oo = g.offset(other) + idx;
                let c = Consumer::Mul { other_lo: inp.lo[oo].to_f64(), other_hi: inp.hi[oo].to_f64() };
                let p = tables::branch_point(c, l, u);
                return if p > l && p < u { Some(p) } else { None };
            }
        }
        if let Op::Unary { x, .. } = n.op
            && x == z
        {
            return None;
        }
    }
    None
}

/// Contribution of element `k` of split node `z` through all its consumers, for the element
/// interval `[l, u]`: the coefficient on `z_k` and the constant, given the output coefficients.
fn contribution<T: Scalar>(inp: &Inputs<'_, T>, z: NodeId, k: usize, l: f64, u: f64) -> (f64, f64) {
    let g = inp.g;
    let (mut a_z, mut beta) = (0.0, 0.0);
    let mut off = g.offset(z) + g.nodes[z as usize].len as usize;
    for n in &g.nodes[z as usize + 1..] {
        let len = n.len as usize;
        match n.op {
            Op::Unary { x, f } if x == z => {
                let la = inp.out_a[off + k].to_f64();
                if la != 0.0
                    && let Ok(r) = relax::relax(f, l, u)
                {
                    let line = if la > 0.0 { r.lower } else { r.upper };
                    a_z += la * line.slope;
                    beta += la * line.bias;
                }
            }
            Op::Mul { a, b } if a == z || b == z => {
                let la = inp.out_a[off + k].to_f64();
                let other = if a == z { b } else { a };
                let oo = g.offset(other) + k;
                let (ol, oh) = (inp.lo[oo].to_f64(), inp.hi[oo].to_f64());
                if la != 0.0 && a != b {
                    let planes =
                        if a == z { relax::mul_relax(l, u, ol, oh) } else { relax::mul_relax(ol, oh, l, u) };
                    if let Ok((lp, up)) = planes {
                        let p = if la > 0.0 { lp } else { up };
                        let (cz, co) = if a == z { (p.ax, p.ay) } else { (p.ay, p.ax) };
                        a_z += la * cz;
                        let t = la * co;
                        beta += la * p.c + if t > 0.0 { t * ol } else { t * oh };
                    }
                }
            }
            _ => {}
        }
        off += len;
    }
    (a_z, beta)
}

/// Per-node precomputation of the BBPS shortcut sums: `Σ_j G_j` under the parent relaxation
/// (into `sum[..d]`) and its concretisation.
fn node_sum<T: Scalar>(inp: &Inputs<'_, T>, z: NodeId, sum: &mut [f64]) -> f64 {
    let d = inp.g.input_len();
    let len = inp.g.nodes[z as usize].len as usize;
    let off = inp.g.offset(z);
    sum[..d].fill(0.0);
    for k in 0..len {
        let (l, u) = (inp.lo[off + k].to_f64(), inp.hi[off + k].to_f64());
        let (a, _) = contribution(inp, z, k, l, u);
        if a != 0.0 {
            for (i, s) in sum[..d].iter_mut().enumerate() {
                *s += shortcut(inp, z, k, a, i);
            }
        }
    }
    concretise(inp, &|i| sum[i])
}

/// Coefficient `i` (`i == d`: the constant) of `a·z_k` routed through the root's linear bounds
/// of `z` (lower bound rows for `a ≥ 0`, upper rows otherwise).
fn shortcut<T: Scalar>(inp: &Inputs<'_, T>, z: NodeId, k: usize, a: f64, i: usize) -> f64 {
    let d = inp.g.input_len();
    let len = inp.g.nodes[z as usize].len as usize;
    let row = if a >= 0.0 { k } else { len + k };
    a * inp.shortcuts[inp.offsets[z as usize] + row * (d + 1) + i].to_f64()
}

/// `min over the box` of `v·x`.
fn concretise<T: Scalar>(inp: &Inputs<'_, T>, v: &dyn Fn(usize) -> f64) -> f64 {
    let mut acc = 0.0;
    for i in 0..inp.x_lo.len() {
        let c = v(i);
        acc += if c >= 0.0 { c * inp.x_lo[i].to_f64() } else { c * inp.x_hi[i].to_f64() };
    }
    acc
}

/// Score of splitting element `k` of `z` at `p`: the estimated improvement of the worse child.
/// `sum`/`base` come from [`node_sum`] (BBPS only).
#[allow(clippy::too_many_arguments)]
fn score<T: Scalar>(
    inp: &Inputs<'_, T>,
    z: NodeId,
    k: usize,
    (p, step): (f64, bool),
    branching: Branching,
    sum: &[f64],
    base: f64,
) -> (f64, f64) {
    let d = inp.g.input_len();
    let off = inp.g.offset(z);
    let (l, u) = (inp.lo[off + k].to_f64(), inp.hi[off + k].to_f64());
    let (a0, b0) = contribution(inp, z, k, l, u);
    let mut worst = f64::INFINITY;
    let below = if step { step_below(p).max(l) } else { p };
    for (cl, cu) in [(l, below), (p, u)] {
        let (a1, b1) = contribution(inp, z, k, cl, cu);
        let delta = if branching == Branching::Bbps {
            let before = base + b0 + shortcut(inp, z, k, a0, d);
            let after =
                concretise(inp, &|i| sum[i] - shortcut(inp, z, k, a0, i) + shortcut(inp, z, k, a1, i))
                    + b1
                    + shortcut(inp, z, k, a1, d);
            after - before
        } else {
            b1 - b0
        };
        worst = worst.min(delta);
    }
    (worst, a0)
}

/// Visit every branchable element of every split node with its point and score.
fn for_each_candidate<T: Scalar>(
    inp: &Inputs<'_, T>,
    branching: Branching,
    points: Points,
    sum: &mut [f64],
    mut visit: impl FnMut(NodeId, usize, (f64, bool), f64, f64),
) {
    let g = inp.g;
    for z in 1..g.nodes.len() {
        if inp.offsets[z] == usize::MAX {
            continue;
        }
        let z = z as NodeId;
        let len = g.nodes[z as usize].len as usize;
        let off = g.offset(z);
        let base = if branching == Branching::Bbps { node_sum(inp, z, sum) } else { 0.0 };
        for k in 0..len {
            let (l, u) = (inp.lo[off + k].to_f64(), inp.hi[off + k].to_f64());
            if !branchable(g, z, l, u) {
                continue;
            }
            let step = step_for(g, z, l, u);
            let p = match step {
                Some(at) => at,
                None => {
                    point_for_mul(inp, z, k, l, u, points).unwrap_or_else(|| point_for(inp, z, l, u, points))
                }
            };
            let step = step.is_some();
            let (sc, a0) = score(inp, z, k, (p, step), branching, sum, base);
            if sc.is_finite() {
                visit(z, k, (p, step), sc, (u - l) * (1.0 + a0.abs()));
            }
        }
    }
}

/// Pick a neuron by BBPS (or BaBSR-like) and its branching point; `sum` is scratch of `d` values.
/// Ties (e.g. all scores zero) go to the widest interval weighted by its coefficient, so a neuron
/// with no effect never wins over one that has some.
pub fn choose_activation<T: Scalar>(
    inp: &Inputs<'_, T>,
    branching: Branching,
    points: Points,
    sum: &mut [f64],
) -> Option<Candidate> {
    let mut best: Option<(Candidate, f64)> = None;
    for_each_candidate(inp, branching, points, sum, |z, k, (p, step), sc, tie| {
        let better = match best {
            None => true,
            Some((b, bt)) => sc > b.score || (sc == b.score && tie > bt),
        };
        if better {
            best = Some((Candidate { node: z, idx: k as u32, point: p, score: sc, step }, tie));
        }
    });
    best.map(|(c, _)| c)
}

/// BBPS (or BaBSR-like) scores and branching points of every candidate, in node-offset order
/// into `scores` and `points_out` (non-candidates get NaN). For tests and reports.
pub fn bbps_scores<T: Scalar>(
    inp: &Inputs<'_, T>,
    branching: Branching,
    points: Points,
    sum: &mut [f64],
    scores: &mut [f64],
    points_out: &mut [f64],
) {
    scores.fill(f64::NAN);
    points_out.fill(f64::NAN);
    let g = inp.g;
    for_each_candidate(inp, branching, points, sum, |z, k, (p, _), sc, _| {
        scores[g.offset(z) + k] = sc;
        points_out[g.offset(z) + k] = p;
    });
}

/// Pick the input dimension with the largest `|Λ_i|·width_i` (the widest one if Λ is all zero).
pub fn choose_input<T: Scalar>(lambda: Option<&[T]>, lo: &[T], hi: &[T]) -> Option<(usize, T)> {
    let mut best: Option<(usize, f64, f64, T)> = None;
    for i in 0..lo.len() {
        // A dimension without a representable point strictly inside cannot be cut: skip it
        // (otherwise a large |Λ_i| keeps choosing it after it has shrunk to one ulp).
        let Some(p) = cut_point(lo[i], hi[i]) else { continue };
        let w = hi[i].to_f64() - lo[i].to_f64();
        let s = lambda.map_or(0.0, |l| l[i].to_f64().abs()) * w;
        let better = match best {
            None => true,
            Some((_, bs, bw, _)) => s > bs || (s == bs && w > bw),
        };
        if better {
            best = Some((i, s, w, p));
        }
    }
    best.map(|(i, _, _, p)| (i, p))
}

/// Where the input split cuts `[lo, hi]`: the representable midpoint, if it lies strictly inside.
pub(crate) fn cut_point<T: Scalar>(lo: T, hi: T) -> Option<T> {
    let p = T::from_f64_near(tables::midpoint(lo.to_f64(), hi.to_f64()));
    (lo < p && p < hi).then_some(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_split_skips_dimensions_that_cannot_be_cut() {
        let one_ulp = f32::from_bits(1.0f32.to_bits() + 1);
        // Dimension 0 has by far the largest |Λ|·width but is one ulp wide.
        let (lo, hi) = ([1.0f32, 0.0, 5.0], [one_ulp, 1e-3, 5.0]);
        let lam = [1e12f32, 1.0, 1e12];
        let (i, m) = choose_input(Some(&lam), &lo, &hi).expect("dimension 1 can be cut");
        assert_eq!(i, 1);
        assert!(0.0 < m && m < 1e-3);
        // Nothing left to cut.
        assert!(choose_input(Some(&lam), &[1.0f32, 5.0], &[one_ulp, 5.0]).is_none());
        // Otherwise the largest |Λ|·width wins.
        let (i, _) = choose_input(Some(&[1.0f32, 3.0]), &[0.0, 0.0], &[1.0, 0.5]).unwrap();
        assert_eq!(i, 1);
    }
}
