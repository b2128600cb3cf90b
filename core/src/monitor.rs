//! Runtime checks of a stream of sensor frames: for each frame (a box around a reading), decide
//! whether the property holds on the whole box, cheaply and in bounded time.
//!
//! A check is, in order, the first step that decides:
//!
//! 1. **Reuse** (with [`Reuse::on`]): a box inside the region an earlier frame certified holds
//!    (every point of it was proved); a box that holds the last frame's witness is violated once
//!    a forward pass confirms it there. Consecutive frames of a trajectory overlap, so these
//!    decide many frames for a box test or one forward pass. Each frame is still decided on its
//!    own evidence: the region was proved, the witness is re-checked.
//! 2. **The centre**: one forward pass; a reading that is itself unsafe is violated.
//! 3. **Branch and bound** ([`bab::verify`]) on the box, with the caller's settings and budget.
//!    With [`Reuse::grow`] the box enlarged about its centre is tried first: if it holds, it
//!    becomes the certified region for the next frames (otherwise the frame's own box is
//!    checked).
//!
//! The state is a few boxes in a caller buffer ([`Monitor::scalars`]), so the monitor is as
//! allocation-free as the rest of the core; host and device replaying the same stream with the
//! same settings reach the same decisions.

use crate::bab::{self, BabWorkspace, Reason, Settings, Stats, Verdict};
use crate::graph::Graph;
use crate::num::Scalar;
use crate::spec::Spec;

/// How a monitor reuses earlier frames.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Reuse {
    /// Decide from the certified region and the last witness when they apply.
    pub on: bool,
    /// Before a frame's own box, try its box enlarged by this factor of its radius (0: never);
    /// a proof of the larger box is the region the next frames reuse.
    pub grow: f32,
}

impl Reuse {
    /// No reuse: every frame checked from scratch.
    pub const OFF: Reuse = Reuse { on: false, grow: 0.0 };
}

/// What decided a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Step {
    /// The box lies in the region certified earlier.
    Region,
    /// The last frame's witness, confirmed in this box.
    Witness,
    /// The box's centre is a counterexample.
    Centre,
    /// Branch and bound on the box enlarged by [`Reuse::grow`] (which now is the region).
    Grown,
    /// Branch and bound on the frame's own box (whatever its verdict).
    Search,
}

/// One frame's decision.
#[derive(Clone, Copy, Debug)]
pub struct Check {
    /// The verdict for the frame's box.
    pub verdict: Verdict,
    /// What decided it.
    pub step: Step,
    /// Branch-and-bound counters of the searches this check ran (both, when the grown box
    /// failed).
    pub stats: Stats,
    /// Forward passes of the reuse and centre steps (not counted in `stats`).
    pub passes: u32,
}

impl Check {
    /// The answer to a model, property or buffer that does not fit: `Unknown(Shape)`, no work.
    pub const fn refused() -> Check {
        Check { verdict: Verdict::Unknown(Reason::Shape), step: Step::Search, stats: Stats::new(), passes: 0 }
    }
}

/// The monitor's state: the certified region and the last witness, in a caller buffer.
pub struct Monitor<'m, T> {
    region_lo: &'m mut [T],
    region_hi: &'m mut [T],
    witness: &'m mut [T],
    /// Scratch: the centre, then the grown box.
    lo: &'m mut [T],
    hi: &'m mut [T],
    has_region: bool,
    has_witness: bool,
    /// The graph validated last (validation reads every weight: once per stream, not per frame).
    validated: Option<[usize; 7]>,
}

impl<'m, T: Scalar> Monitor<'m, T> {
    /// Scalars of the state for `d` inputs.
    pub const fn scalars(d: usize) -> usize {
        5 * d
    }

    /// A monitor with an empty state, in `buf` ([`Monitor::scalars`] of the input length).
    pub fn new(buf: &'m mut [T], d: usize) -> Option<Self> {
        if buf.len() < Self::scalars(d) {
            return None;
        }
        let (region_lo, r) = buf.split_at_mut(d);
        let (region_hi, r) = r.split_at_mut(d);
        let (witness, r) = r.split_at_mut(d);
        let (lo, r) = r.split_at_mut(d);
        let (hi, _) = r.split_at_mut(d);
        Some(Monitor {
            region_lo,
            region_hi,
            witness,
            lo,
            hi,
            has_region: false,
            has_witness: false,
            validated: None,
        })
    }

    /// Forget the region and the witness.
    pub fn reset(&mut self) {
        self.has_region = false;
        self.has_witness = false;
    }

    /// Decide the frame whose box is `spec`'s (see the module doc). `cex` receives the witness
    /// of a violated frame; `keep_going` is the budget of the branch and bound.
    #[allow(clippy::too_many_arguments)]
    pub fn check(
        &mut self,
        g: &Graph<'_, T>,
        spec: &Spec<'_, T>,
        settings: &Settings,
        reuse: Reuse,
        ws: &mut BabWorkspace<'_, T>,
        keep_going: &mut dyn FnMut(&Stats) -> bool,
        cex: &mut [T],
    ) -> Check {
        let d = self.lo.len();
        let mut out = Check {
            verdict: Verdict::Unknown(Reason::Shape),
            step: Step::Search,
            stats: Stats::default(),
            passes: 0,
        };
        if spec.lo.len() != d || spec.hi.len() != d || cex.len() != d {
            return out;
        }
        if self.validated != Some(g.fingerprint()) {
            if g.validate().is_err() {
                return out;
            }
            self.validated = Some(g.fingerprint());
        }
        if spec.validate(d, g.output_len()).is_err() {
            return out;
        }
        if reuse.on && self.has_region && inside(spec.lo, spec.hi, self.region_lo, self.region_hi) {
            out.verdict = Verdict::Holds;
            out.step = Step::Region;
            return out;
        }
        if reuse.on && self.has_witness && inside(self.witness, self.witness, spec.lo, spec.hi) {
            out.passes += 1;
            if ws.try_point_with(g, spec, self.witness, cex, true) {
                out.verdict = Verdict::Violated;
                out.step = Step::Witness;
                return out;
            }
        }
        for i in 0..d {
            let c = T::from_f64_near(0.5 * (spec.lo[i].to_f64() + spec.hi[i].to_f64()));
            self.lo[i] = c.max_of(spec.lo[i]).min_of(spec.hi[i]);
        }
        out.passes += 1;
        if ws.try_point_with(g, spec, self.lo, cex, true) {
            self.keep_witness(cex);
            out.verdict = Verdict::Violated;
            out.step = Step::Centre;
            return out;
        }
        if reuse.grow > 0.0 {
            let k = T::from_f64_up(f64::from(reuse.grow));
            for i in 0..d {
                // The centre ± (1 + grow)·radius, rounded outward: it contains the frame's box.
                let c = self.lo[i];
                let r = spec.hi[i].add_up(c.neg()).max_of(c.add_up(spec.lo[i].neg()));
                let r = r.add_up(k.mul_up(r));
                self.lo[i] = c.sub_down(r).min_of(spec.lo[i]);
                self.hi[i] = c.add_up(r).max_of(spec.hi[i]);
            }
            let big = Spec { lo: &*self.lo, hi: &*self.hi, ..*spec };
            let (v, s) = bab::verify_with(g, &big, settings, ws, keep_going, cex, true);
            out.stats.add(&s);
            if v == Verdict::Holds {
                self.region_lo.copy_from_slice(self.lo);
                self.region_hi.copy_from_slice(self.hi);
                self.has_region = true;
                out.verdict = Verdict::Holds;
                out.step = Step::Grown;
                return out;
            }
        }
        let (v, s) = bab::verify_with(g, spec, settings, ws, keep_going, cex, true);
        out.stats.add(&s);
        match v {
            Verdict::Holds => {
                self.region_lo.copy_from_slice(spec.lo);
                self.region_hi.copy_from_slice(spec.hi);
                self.has_region = true;
            }
            Verdict::Violated => self.keep_witness(cex),
            Verdict::Unknown(_) => {}
        }
        out.verdict = v;
        out
    }

    fn keep_witness(&mut self, w: &[T]) {
        self.witness.copy_from_slice(w);
        self.has_witness = true;
    }
}

/// Whether `[lo, hi]` lies inside `[rlo, rhi]`.
fn inside<T: Scalar>(lo: &[T], hi: &[T], rlo: &[T], rhi: &[T]) -> bool {
    lo.iter().zip(hi).zip(rlo.iter().zip(rhi)).all(|((l, h), (rl, rh))| rl <= l && h <= rh)
}
