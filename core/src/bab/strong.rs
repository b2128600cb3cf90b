//! Strong branching for the input split: bound both halves of the most promising dimensions and
//! cut the one whose halves are left with the least gap to verification.
//!
//! The `|Λ_i|·width_i` score (the target's linear coefficient times the width) only sees how
//! much the *linear* part of the bound moves with `x_i`. Where the output depends on `x_i`
//! non-monotonically, `Λ_i` is small while splitting `x_i` would remove most of the relaxation's
//! slack, and the search keeps cutting the wrong dimensions: on ACAS Xu 2_7 property 1, a
//! quarter-width part of the box took more than 17,000 domains with the score and 101 with this.
//!
//! A probe bounds its half like a popped domain would be: inside the current domain's caps
//! (intervals, and atom margins never below the domain's), then clipped (see `clip`). So a half
//! the probe verifies is never pushed, and the others enter the pool keyed by their own margin,
//! as their clipped box, with the intervals the probe found: popping one then costs an IBP
//! sweep, not a CROWN bound (unless the clip shrank it, then it is bounded again on the smaller
//! box). The caps matter as much as the choice: CROWN on a half can be far looser than on the
//! whole (its relaxations change with the intervals), and uncapped probes rank the dimensions by
//! that noise. ACAS Xu 4_9 property 3 needs 7 domains with the score alone, more than 1,800 with
//! uncapped probes in 10 s, and 3 with capped ones. Probing needs a plan with caps; it costs up
//! to two bounds per candidate dimension, fewer when a first half already rules a dimension out.

use crate::bound::{BoundError, Config};
use crate::graph::Graph;
use crate::num::Scalar;
use crate::spec::Spec;

use super::{
    BabWorkspace, Caps, atom_margins, branch, clip, inherit_margins, split_caps, split_caps_mut, worst_clause,
};

/// The chosen cut: the halves' margins (`None` for a half the probe verified); their boxes and
/// caps are in [`half`].
pub(super) struct InputCut {
    /// Margin of the lower and the upper half.
    pub margins: [Option<f64>; 2],
    /// What the halves' caps are: their own intervals, or (when the clip shrank the half) those
    /// of the larger box, so that the half is bounded again on its clipped box.
    pub caps: [Caps; 2],
    /// Bounds computed (probes).
    pub probes: u64,
    /// Probed halves whose box the clip shrank.
    pub clipped: u64,
}

/// Scalars of strong branching's scratch for input dimension `d`, `atoms` spec atoms and `caps`
/// scalars of caps: five slots (the current dimension's halves, the best's, the parent's box) of
/// a box and caps each, and the probes' input lines.
pub(super) const fn scratch(d: usize, atoms: usize, caps: usize) -> usize {
    5 * (2 * d + caps) + atoms * (d + 1)
}

/// Slot `k` of the scratch: a box (`2·d`) then caps.
fn slot<T>(probe: &mut [T], d: usize, caps: usize, k: usize) -> &mut [T] {
    &mut probe[k * (2 * d + caps)..(k + 1) * (2 * d + caps)]
}

/// Box (`lo`, `hi`) and caps of half `h` (0 lower, 1 upper) of the chosen cut.
pub(super) fn half<T>(probe: &[T], d: usize, caps: usize, h: usize) -> (&[T], &[T], &[T]) {
    let s = &probe[(2 + h) * (2 * d + caps)..(3 + h) * (2 * d + caps)];
    (&s[..d], &s[d..2 * d], &s[2 * d..])
}

/// Probe the `k` cuttable dimensions with the largest `|Λ_i|·width_i` (`Λ`: the target atom's
/// input coefficients) of the domain `ws.x_lo..ws.x_hi` (bounded, its caps in `ws.dom_caps`) and
/// choose the cut. Each half is bounded inside the domain's caps and clipped like a popped
/// domain (see `clip`), so a half the clip empties counts as verified and a pushed half is its
/// clipped box. Leaves the domain's box in `ws.x_lo..ws.x_hi`; the bound workspace holds the last
/// probe. `None` when no dimension can be cut. Needs a plan with caps.
pub(super) fn choose<T: Scalar>(
    g: &Graph<'_, T>,
    spec: &Spec<'_, T>,
    cfg: &Config,
    ws: &mut BabWorkspace<'_, T>,
    target: usize,
    k: usize,
    keep_going: &mut dyn FnMut() -> bool,
) -> Result<Option<InputCut>, BoundError> {
    let d = ws.plan.input;
    let c = ws.plan.caps;
    let score = |ws: &BabWorkspace<'_, T>, i: usize| {
        ws.input_a[target * (d + 1) + i].to_f64().abs() * (ws.x_hi[i].to_f64() - ws.x_lo[i].to_f64())
    };
    let parent = slot(ws.probe, d, c, 4);
    parent[..d].copy_from_slice(ws.x_lo);
    parent[d..2 * d].copy_from_slice(ws.x_hi);
    let mut best: Option<[Option<f64>; 2]> = None;
    let mut best_caps = [Caps::Own; 2];
    let (mut probes, mut clipped) = (0u64, 0u64);
    // Candidates in decreasing score order (ties: lower index first), without a buffer: each
    // round takes the largest score below the previous one.
    let mut last: Option<(f64, usize)> = None;
    for _ in 0..k.min(d) {
        let Some((s, i)) = next_candidate(d, last, |i| score(ws, i)) else { break };
        last = Some((s, i));
        let (l0, h0) = (ws.x_lo[i], ws.x_hi[i]);
        let Some(p) = branch::cut_point(l0, h0) else { continue };
        let mut margins = [None; 2];
        let mut kinds = [Caps::Own; 2];
        for (h, m) in margins.iter_mut().enumerate() {
            if h == 0 {
                ws.x_hi[i] = p;
            } else {
                ws.x_lo[i] = p;
            }
            probes += 1;
            let r = probe(g, spec, cfg, ws, h, keep_going);
            let parent = slot(ws.probe, d, c, 4);
            ws.x_lo.copy_from_slice(&parent[..d]);
            ws.x_hi.copy_from_slice(&parent[d..2 * d]);
            let (mr, shrunk) = r?;
            *m = mr;
            if shrunk {
                kinds[h] = Caps::Enclosing;
                clipped += 1;
            }
            // A dimension that cannot win even if its second half is verified is not probed
            // further.
            if h == 0 && best.is_some_and(|b| !better(&[*m, None], &b)) {
                break;
            }
        }
        if best.is_none_or(|b| better(&margins, &b)) {
            best = Some(margins);
            best_caps = kinds;
            let w = 2 * (2 * d + c);
            ws.probe.copy_within(0..w, w); // this dimension's halves become the best's
        }
        if margins == [None, None] {
            break; // both halves verified: nothing can beat it
        }
    }
    Ok(best.map(|margins| InputCut { margins, caps: best_caps, probes, clipped }))
}

/// The dimension after `last` in decreasing `score` order (ties: lower index first), with its
/// score: candidates ranked without a buffer, each round taking the largest score below the
/// previous one. (The order decides between cuts that [`better`] ties, which happens often when
/// margins come out at their enclosing domain's: then the highest-scoring dimension must win,
/// or a thin dimension gets peeled forever.)
pub(crate) fn next_candidate(
    d: usize,
    last: Option<(f64, usize)>,
    score: impl Fn(usize) -> f64,
) -> Option<(f64, usize)> {
    let mut next: Option<(f64, usize)> = None;
    for i in 0..d {
        let s = score(i);
        let below_last = last.is_none_or(|(ls, li)| s < ls || (s == ls && i > li));
        if below_last && next.is_none_or(|(ns, ni)| s > ns || (s == ns && i < ni)) {
            next = Some((s, i));
        }
    }
    next
}

/// Whether cut `a` beats cut `b` (margins of the halves, `None` = verified): a smaller summed
/// gap `Σ max(0, −m)` over the halves (a verified half adds nothing), then a better worse half.
/// The sum values both verifying a half and closing most of one half's gap, where a worse-half
/// criterion prefers cuts that improve both halves a little: on ACAS Xu 1_1 property 5 that kept
/// cutting dimensions whose halves only moved a little, and did not finish in 20 s; with the
/// sum it takes 3 s. (Counting verified halves first, then the sum, did as well on ACAS Xu: 182
/// of 186 at 11.6 s either way.)
pub(crate) fn better(a: &[Option<f64>; 2], b: &[Option<f64>; 2]) -> bool {
    let gap = |m: &[Option<f64>; 2]| m.iter().map(|v| v.map_or(0.0, |x| (-x).max(0.0))).sum::<f64>();
    let worse =
        |m: &[Option<f64>; 2]| m.iter().map(|v| v.unwrap_or(f64::INFINITY)).fold(f64::INFINITY, f64::min);
    let (ga, gb) = (gap(a), gap(b));
    ga < gb || (ga == gb && worse(a) > worse(b))
}

/// Plain CROWN on the box in `ws.x_lo..ws.x_hi` inside the current domain's caps, then the clip:
/// the half's margin, or `None` when every clause is refuted, the clip empties the box or the box
/// is empty; and whether the clip shrank the box. The (clipped) box and the intervals go to slot
/// `h` of the scratch.
fn probe<T: Scalar>(
    g: &Graph<'_, T>,
    spec: &Spec<'_, T>,
    cfg: &Config,
    ws: &mut BabWorkspace<'_, T>,
    h: usize,
    keep_going: &mut dyn FnMut() -> bool,
) -> Result<(Option<f64>, bool), BoundError> {
    let (d, c, m, a) = (ws.plan.input, ws.plan.caps, spec.atoms(), ws.plan.atoms);
    let (intervals, kept) = split_caps(ws.dom_caps, a);
    if !ws.bound.node_bounds_capped(g, ws.x_lo, ws.x_hi, cfg, intervals, true, keep_going)? {
        return Ok((None, false));
    }
    let lbs = &mut ws.lbs[m..2 * m];
    let lines = &mut ws.probe_a[..m * (d + 1)];
    atom_margins(&mut ws.bound, g, spec, cfg, lbs, lines)?;
    let s = slot(ws.probe, d, c, h);
    let (_, half_kept) = split_caps_mut(&mut s[2 * d..], a);
    half_kept[..m].copy_from_slice(&kept[..m]);
    inherit_margins(lbs, &mut half_kept[..m], true);
    let Some((margin, _)) = worst_clause(spec, lbs) else { return Ok((None, false)) };
    let shrunk = match clip::clip_box(spec, lines, ws.x_lo, ws.x_hi, ws.clip) {
        clip::Clipped::Empty => return Ok((None, false)),
        clip::Clipped::Shrunk => true,
        clip::Clipped::Unchanged => false,
    };
    let s = slot(ws.probe, d, c, h);
    s[..d].copy_from_slice(ws.x_lo);
    s[d..2 * d].copy_from_slice(ws.x_hi);
    ws.bound.save_caps(g, split_caps_mut(&mut s[2 * d..], a).0)?;
    Ok((Some(margin), shrunk))
}
