//! Strong branching for the input split: bound both halves of the most promising dimensions and
//! cut the one that verifies the most halves, then whose worse half comes out best.
//!
//! The `|Λ_i|·width_i` score (the target's linear coefficient times the width) only sees how
//! much the *linear* part of the bound moves with `x_i`. Where the output depends on `x_i`
//! non-monotonically, `Λ_i` is small while splitting `x_i` would remove most of the relaxation's
//! slack, and the search keeps cutting the wrong dimensions: on ACAS Xu 2_7 property 1, a
//! quarter-width part of the box took more than 17,000 domains with the score and 101 with this.
//! Probing costs up to two bounds per candidate dimension, but a child the probe verified is
//! never pushed, and the others enter the pool keyed by their own margin and, with caps, with the
//! intervals the probe found (popping them then costs an IBP sweep, not a CROWN bound).
//!
//! With caps ([`super::BabPlan::with_caps`]) each probe is bounded inside the current domain's
//! intervals. That matters as much as the choice itself: CROWN on a half can be far looser than
//! on the whole (its relaxations change with the intervals), so uncapped probes rank the
//! dimensions by noise. ACAS Xu 4_9 property 3 needs 7 domains with the score alone, more than
//! 1,800 with uncapped probes in 10 s, and 5 with capped ones.

use crate::bound::{BoundError, Config, Saves};
use crate::graph::Graph;
use crate::num::Scalar;
use crate::spec::Spec;

use super::{BabWorkspace, branch, worst_clause};

/// The chosen cut and what the probes found for its halves.
pub(super) struct InputCut<T> {
    /// The dimension.
    pub dim: usize,
    /// The cut point, strictly inside the dimension's interval.
    pub point: T,
    /// Margin of the lower and the upper half; `None` for a half the probe verified.
    pub margins: [Option<f64>; 2],
    /// Bounds computed (probes).
    pub probes: u64,
}

/// Probe the `k` cuttable dimensions with the largest `|Λ_i|·width_i` (`Λ`: the target atom's
/// input coefficients) of the domain `ws.x_lo..ws.x_hi` and choose the cut. Leaves the box as it
/// was; the bound workspace holds the last probe, and with caps the chosen halves' intervals are
/// in [`best_caps`]. `None` when no dimension can be cut.
pub(super) fn choose<T: Scalar>(
    g: &Graph<'_, T>,
    spec: &Spec<'_, T>,
    cfg: &Config,
    ws: &mut BabWorkspace<'_, T>,
    target: usize,
    k: usize,
    keep_going: &mut dyn FnMut() -> bool,
) -> Result<Option<InputCut<T>>, BoundError> {
    let d = ws.plan.input;
    let m = spec.atoms();
    let score = |ws: &BabWorkspace<'_, T>, i: usize| {
        ws.input_a[target * (d + 1) + i].to_f64().abs() * (ws.x_hi[i].to_f64() - ws.x_lo[i].to_f64())
    };
    let mut best: Option<InputCut<T>> = None;
    let mut probes = 0u64;
    // Candidates in decreasing score order (ties: lower index first), without a buffer: each
    // round takes the largest score below the previous one.
    let mut last: Option<(f64, usize)> = None;
    for _ in 0..k.min(d) {
        let mut next: Option<(f64, usize)> = None;
        for i in 0..d {
            let s = score(ws, i);
            let below_last = last.is_none_or(|(ls, li)| s < ls || (s == ls && i > li));
            if below_last && next.is_none_or(|(ns, ni)| s > ns || (s == ns && i < ni)) {
                next = Some((s, i));
            }
        }
        let Some((s, i)) = next else { break };
        last = Some((s, i));
        let (l0, h0) = (ws.x_lo[i], ws.x_hi[i]);
        let Some(p) = branch::cut_point(l0, h0) else { continue };
        let mut margins = [None; 2];
        for (half, slot) in margins.iter_mut().enumerate() {
            if half == 0 {
                ws.x_hi[i] = p;
            } else {
                ws.x_lo[i] = p;
            }
            probes += 1;
            let r = probe(g, spec, cfg, ws, m, half, keep_going);
            ws.x_lo[i] = l0;
            ws.x_hi[i] = h0;
            *slot = r?;
            // A dimension that cannot win even if its second half is verified is not probed
            // further.
            if half == 0 && best.as_ref().is_some_and(|b| !better(&[*slot, None], &b.margins)) {
                break;
            }
        }
        let cand = InputCut { dim: i, point: p, margins, probes: 0 };
        if best.as_ref().is_none_or(|b| better(&cand.margins, &b.margins)) {
            best = Some(cand);
            let c = ws.plan.caps;
            ws.probe_caps.copy_within(0..2 * c, 2 * c); // this dimension's halves become the best's
        }
        if margins == [None, None] {
            break; // both halves verified: nothing can beat it
        }
    }
    Ok(best.map(|b| InputCut { probes, ..b }))
}

/// The caps of half `half` (0 lower, 1 upper) of the chosen cut, within strong branching's
/// scratch (`4·caps` scalars).
pub(super) fn best_caps<T>(probe_caps: &[T], caps: usize, half: usize) -> &[T] {
    &probe_caps[(2 + half) * caps..(3 + half) * caps]
}

/// Whether cut `a` beats cut `b` (margins of the halves, `None` = verified): more verified
/// halves, then a better worse half, then a better other half. Verifying a half comes first
/// because it ends that half's search, while a worse-half criterion alone prefers cuts that
/// improve both halves a little: on ACAS Xu 4_9 property 3 it kept cutting `X_1` (halves at
/// −4.6 and −6.2, parent −6.7) over `X_3` (one half verified, the other at −8.0) and did not
/// finish in 10 s; counting verified halves first it needs 3 domains. (A smallest summed gap
/// `Σ max(0, −m)` did about as well on ACAS Xu: 179 against 180 of 186 at 11.6 s.)
fn better(a: &[Option<f64>; 2], b: &[Option<f64>; 2]) -> bool {
    let key = |m: &[Option<f64>; 2]| {
        let v = |i: usize| m[i].unwrap_or(f64::INFINITY);
        (m.iter().filter(|x| x.is_none()).count(), v(0).min(v(1)), v(0).max(v(1)))
    };
    let ((na, wa, oa), (nb, wb, ob)) = (key(a), key(b));
    na > nb || (na == nb && (wa > wb || (wa == wb && oa > ob)))
}

/// Plain CROWN on the box in `ws.x_lo..ws.x_hi` (no splits; inside the current domain's caps
/// when kept, saving the result as slot `half` of the probe caps): the box's margin, or `None`
/// when every clause is refuted or the box is empty.
#[allow(clippy::too_many_arguments)]
fn probe<T: Scalar>(
    g: &Graph<'_, T>,
    spec: &Spec<'_, T>,
    cfg: &Config,
    ws: &mut BabWorkspace<'_, T>,
    m: usize,
    half: usize,
    keep_going: &mut dyn FnMut() -> bool,
) -> Result<Option<f64>, BoundError> {
    let c = ws.plan.caps;
    let nonempty = if c > 0 {
        ws.bound.node_bounds_capped(g, ws.x_lo, ws.x_hi, cfg, ws.dom_caps, true, keep_going)?
    } else {
        ws.bound.node_bounds_until(g, ws.x_lo, ws.x_hi, &[], cfg, &mut Saves::default(), keep_going)?
    };
    if !nonempty {
        return Ok(None);
    }
    if c > 0 {
        ws.bound.save_caps(g, &mut ws.probe_caps[half * c..(half + 1) * c])?;
    }
    let lbs = &mut ws.lbs[m..2 * m];
    ws.bound.output_lower(g, spec.rows, lbs, cfg, &mut Saves::default())?;
    for (l, r) in lbs.iter_mut().zip(spec.rhs) {
        *l = l.sub_down(*r);
    }
    Ok(worst_clause(spec, lbs).map(|(v, _)| v))
}
