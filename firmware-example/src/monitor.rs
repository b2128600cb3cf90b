//! The runtime monitor: for each sensor frame, certify the baked property over the frame's
//! uncertainty box with the core's branch and bound under a fixed budget, log the decision, and
//! compare it with the decision the host computed for the same frame.
//!
//! The budget is `SETTINGS.max_steps` (domains bounded per check), the same on host and device,
//! so both decide identically; an instruction budget on the SysTick counter is a safety net that
//! stops a check that runs far longer than planned (it must never trigger: a check it stops is
//! `Unknown(Timeout)` and disagrees with the host).

use genbab_core::bab::{self, BabPlan, BabWorkspace, DomainRecord, Reason, Settings, Verdict};
use genbab_core::bound::Split;
use genbab_core::graph::Graph;
use genbab_core::monitor::{Check, Monitor, Reuse};
use genbab_core::num::Scalar;
use genbab_core::spec::Spec;
use heapless::Vec;

use crate::{forward, measure};

/// Most frames per model the decision log holds.
pub const MAX_FRAMES: usize = 128;
/// Largest input the monitor's box buffers hold.
pub const MAX_INPUT: usize = 32;

/// Decision codes (as baked in `EXPECTED`).
pub const CERTIFIED: u8 = 0;
/// A confirmed witness exists in the frame's box.
pub const VIOLATED: u8 = 1;
/// Neither within the budget: the application falls back.
pub const UNDECIDED: u8 = 2;

/// A baked model with its property, settings, plan, frames and the host's decisions.
pub struct Baked {
    /// Name in the log.
    pub name: &'static str,
    /// The network.
    pub graph: Graph<'static, f32>,
    /// Atom rows of the unsafe region.
    pub rows: &'static [f32],
    /// Atom right-hand sides.
    pub rhs: &'static [f32],
    /// Clause ends.
    pub ends: &'static [u32],
    /// Branch-and-bound settings (the host's).
    pub settings: Settings,
    /// How the monitor reuses earlier frames (the host's).
    pub reuse: Reuse,
    /// Buffer plan (the host's).
    pub plan: BabPlan,
    /// Frame centres, `frames × input`.
    pub frame_x: &'static [f32],
    /// Frame radii.
    pub frame_r: &'static [f32],
    /// What each frame was generated as (0 safe, 1 unsafe, 2 borderline).
    pub kind: &'static [u8],
    /// The host's decisions.
    pub expected: &'static [u8],
    /// The host's domain counts.
    pub expected_bounded: &'static [u32],
    /// What decided each frame on the host (`Step as u8`).
    pub expected_step: &'static [u8],
    /// The host's witnesses of violated frames.
    pub witness: &'static [f32],
    /// Safety-net budget per check, in instructions.
    pub budget: u64,
}

impl Baked {
    /// Number of frames.
    pub fn frames(&self) -> usize {
        self.expected.len()
    }
    /// Input length.
    pub fn input_len(&self) -> usize {
        self.graph.input_len()
    }
    /// Frame `k`'s box `[x − r, x + r]`, each end rounded outward by one ulp (as on the host).
    pub fn frame_box(&self, k: usize, lo: &mut [f32], hi: &mut [f32]) {
        let d = self.input_len();
        let (x, r) = (&self.frame_x[k * d..(k + 1) * d], &self.frame_r[k * d..(k + 1) * d]);
        for i in 0..d {
            lo[i] = x[i].sub_down(r[i]);
            hi[i] = x[i].add_up(r[i]);
        }
    }
}

/// The branch-and-bound buffers of one model (in the static arena).
pub struct Buffers<'a> {
    /// `PLAN.scalars()` values.
    pub scalars: &'a mut [f32],
    /// `PLAN.flags()`.
    pub flags: &'a mut [bool],
    /// `PLAN.splits()`.
    pub splits: &'a mut [Split<f32>],
    /// `PLAN.records()`.
    pub records: &'a mut [DomainRecord<f32>],
    /// `PLAN.offsets()`.
    pub offsets: &'a mut [usize],
    /// `PLAN.input` (f64 scratch).
    pub sum: &'a mut [f64],
    /// The witness (input length).
    pub cex: &'a mut [f32],
    /// The monitor's state (`Monitor::scalars(input)`), kept from frame to frame.
    pub state: &'a mut [f32],
}

/// One line of the decision log.
#[derive(Clone, Copy, Debug, defmt::Format)]
pub struct Entry {
    /// Frame number.
    pub frame: u16,
    /// Decision code.
    pub decision: u8,
    /// Same decision, domain count and witness as the host.
    pub agrees: bool,
    /// Instructions of the check (SysTick under `-icount shift=0`, 40-instruction resolution).
    pub instructions: u32,
    /// Domains bounded.
    pub bounded: u32,
    /// The pre-screen's margin at the centre was `≤ 0` (it guessed "unsafe").
    pub hint_unsafe: bool,
    /// The frame's kind code.
    pub kind: u8,
}

/// The per-model decision log (fixed capacity, no heap).
pub type Log = Vec<Entry, MAX_FRAMES>;

/// Kind code of a trajectory frame (as baked in `FRAME_KIND`).
pub const TRACK: u8 = 3;

fn kind_name(k: u8) -> &'static str {
    match k {
        0 => "safe",
        1 => "unsafe",
        2 => "borderline",
        TRACK => "track",
        _ => "frame",
    }
}

/// Run the monitor over all frames; fills `log` and returns (frames agreeing, frames disagreeing).
pub fn run(m: &Baked, b: Buffers<'_>, log: &mut Log) -> (u32, u32) {
    let d = m.input_len();
    let (mut passed, mut failed) = (0u32, 0u32);
    let mut witness_at = 0usize;
    if d > MAX_INPUT || m.frames() > MAX_FRAMES {
        defmt::error!(
            "{=str}: {=usize} inputs / {=usize} frames exceed the monitor's buffers",
            m.name,
            d,
            m.frames()
        );
        return (0, 1);
    }
    let Buffers { scalars, flags, splits, records, offsets, sum, cex, state } = b;
    let Some(mut mon) = Monitor::new(state, d) else {
        defmt::error!("{=str}: the monitor's state buffer is too small", m.name);
        return (0, 1);
    };
    let (mut lo, mut hi) = ([0.0f32; MAX_INPUT], [0.0f32; MAX_INPUT]);
    let budget_ticks = m.budget / measure::INSTRUCTIONS_PER_TICK;
    for k in 0..m.frames() {
        m.frame_box(k, &mut lo[..d], &mut hi[..d]);
        // The pre-screen (micromath) borrows the value buffer before the check clears it.
        let centre = &m.frame_x[k * d..(k + 1) * d];
        let v = m.graph.total_len();
        let hint = forward::prescreen(&m.graph, m.rows, m.rhs, m.ends, centre, &mut scalars[..v]);
        let hint_unsafe = hint.is_some_and(|h| h <= 0.0);
        // Zero everything but the monitor's state, so that a check depends on the earlier frames
        // only through it (the host does the same).
        scalars.fill(0.0);
        flags.fill(false);
        splits.fill(Split { node: 0, idx: 0, upper: false, point: 0.0 });
        records.fill(DomainRecord::EMPTY);
        offsets.fill(0);
        sum.fill(0.0);
        cex.fill(0.0);
        let spec = Spec { lo: &lo[..d], hi: &hi[..d], rows: m.rows, rhs: m.rhs, clause_ends: m.ends };
        // Reuse within a trajectory only, from its first frame on (as on the host).
        let track = m.kind[k] == TRACK;
        if track && (k == 0 || m.kind[k - 1] != TRACK) {
            mon.reset();
        }
        let reuse = if track { m.reuse } else { Reuse::OFF };
        let (c, instructions) = measure::instructions(|| {
            let ws = BabWorkspace::new(m.plan, scalars, flags, splits, records, offsets, sum);
            match ws {
                Ok(mut ws) => {
                    let t0 = measure::ticks();
                    let mut keep_going = |_: &bab::Stats| measure::ticks() - t0 < budget_ticks;
                    mon.check(&m.graph, &spec, &m.settings, reuse, &mut ws, &mut keep_going, &mut cex[..d])
                }
                Err(_) => Check::refused(),
            }
        });
        let (verdict, stats) = (c.verdict, c.stats);
        let decision = match verdict {
            Verdict::Holds => CERTIFIED,
            Verdict::Violated => VIOLATED,
            Verdict::Unknown(_) => UNDECIDED,
        };
        let mut agrees = decision == m.expected[k]
            && stats.bounded == u64::from(m.expected_bounded[k])
            && c.step as u8 == m.expected_step[k];
        let kind = kind_name(m.kind[k]);
        let r0 = m.frame_r[k * d];
        match verdict {
            Verdict::Holds => defmt::info!(
                "{=str} frame {=usize} ({=str}, r0={=f32}): CERTIFIED ({}), {=u64} domains, {=u64} attack passes, {=u32} passes, {=u64} instructions",
                m.name,
                k,
                kind,
                r0,
                c.step,
                stats.bounded,
                stats.attack_passes,
                c.passes,
                instructions
            ),
            Verdict::Violated => {
                let w = m.witness.get(witness_at..witness_at + d);
                agrees &= w.is_some_and(|w| w.iter().zip(&cex[..d]).all(|(p, q)| p.to_bits() == q.to_bits()));
                witness_at += d;
                defmt::warn!(
                    "{=str} frame {=usize} ({=str}, r0={=f32}): VIOLATED ({}), witness {}, {=u64} instructions",
                    m.name,
                    k,
                    kind,
                    r0,
                    c.step,
                    &cex[..d],
                    instructions
                );
            }
            Verdict::Unknown(reason) => {
                defmt::warn!(
                    "{=str} frame {=usize} ({=str}, r0={=f32}): UNDECIDED ({}) after {=u64} domains, {=u64} attack passes, {=u32} passes, {=u64} instructions -> fallback",
                    m.name,
                    k,
                    kind,
                    r0,
                    reason,
                    stats.bounded,
                    stats.attack_passes,
                    c.passes,
                    instructions
                );
                if reason == Reason::Timeout {
                    // The host has no such limit: a check the net stops does not count as agreeing.
                    defmt::error!("  the instruction safety net ({=u64}) stopped this check", m.budget);
                    agrees = false;
                }
            }
        }
        if agrees {
            passed += 1;
        } else {
            failed += 1;
            defmt::error!(
                "{=str} frame {=usize}: DISAGREES with the host (host: decision {=u8}, {=u32} domains, step {=u8})",
                m.name,
                k,
                m.expected[k],
                m.expected_bounded[k],
                m.expected_step[k]
            );
        }
        let e = Entry {
            frame: k as u16,
            decision,
            agrees,
            instructions: instructions.min(u64::from(u32::MAX)) as u32,
            bounded: stats.bounded as u32,
            hint_unsafe,
            kind: m.kind[k],
        };
        // Capacity was checked above.
        let _ = log.push(e);
    }
    (passed, failed)
}

/// Summary figures of a decision log: the independent frames and the trajectory apart.
pub fn summary(name: &str, log: &Log, units: &crate::costs::Units) {
    for (part, track) in [("independent frames", false), ("trajectory", true)] {
        let part_log = || log.iter().filter(move |e| (e.kind == TRACK) == track);
        let len = part_log().count();
        if len == 0 {
            continue;
        }
        let count = |c: u8| part_log().filter(|e| e.decision == c).count();
        let n = len as u64;
        let total: u64 = part_log().map(|e| u64::from(e.instructions)).sum();
        let max = part_log().map(|e| e.instructions).max().unwrap_or(0);
        let min = part_log().map(|e| e.instructions).min().unwrap_or(0);
        defmt::info!(
            "{=str} {=str}: {=usize} frames: {=usize} certified, {=usize} violated, {=usize} undecided; {=usize} agree with the host",
            name,
            part,
            len,
            count(CERTIFIED),
            count(VIOLATED),
            count(UNDECIDED),
            part_log().filter(|e| e.agrees).count()
        );
        let f = units.forward.max(1);
        let fp = |x: u64| (x / f, x * 10 / f % 10);
        let ((a, b), (c, e), (g, h)) = (fp(u64::from(min)), fp(total / n), fp(u64::from(max)));
        defmt::info!(
            "{=str} {=str}: instructions per check: min {=u32}, mean {=u64}, max {=u32} = {=u64}.{=u64} / {=u64}.{=u64} / {=u64}.{=u64} forward passes of {=u64} (SysTick under -icount shift=0, 40 per tick)",
            name,
            part,
            min,
            total / n,
            max,
            a,
            b,
            c,
            e,
            g,
            h,
            f
        );
    }
    let hints = log.iter().filter(|e| e.hint_unsafe == (e.decision == VIOLATED)).count();
    defmt::info!(
        "{=str}: the micromath pre-screen's guess (unsafe iff margin <= 0 at the centre) matched violated/not in {=usize} of {=usize} frames",
        name,
        hints,
        log.len()
    );
}
