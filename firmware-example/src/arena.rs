//! The core's working memory: `static` buffers sized by the baked `const`s, so the firmware's RAM
//! is fixed at link time and the core never touches the heap.
//!
//! The models are checked one after the other, so their buffers share one arena (a `union`): the
//! image needs the largest of them, not their sum. Each model's own need is `size_of` its member,
//! which the firmware reports.

use core::mem::MaybeUninit;

use genbab_core::bab::DomainRecord;
use genbab_core::bound::{Plan, Split};
use genbab_core::num::Fix;

use crate::models::{acas, acopf};
use crate::monitor::Buffers;

// The sizes are the host's `BabPlan` figures; recompute them here with the core's const fns.
const _: () = {
    assert!(genbab_core::monitor::Monitor::<f32>::scalars(1) == 5);
    assert!(acas::PLAN.scalars() == acas::SCALARS && acas::PLAN.flags() == acas::FLAGS);
    assert!(acas::PLAN.splits() == acas::SPLITS && acas::PLAN.records() == acas::RECORDS);
    assert!(acas::PLAN.offsets() == acas::OFFSETS && acas::PLAN.input == acas::SUM);
    assert!(
        acas::PLAN.bound.scalars() == acas::BOUND_SCALARS && acas::PLAN.bound.flags() == acas::BOUND_FLAGS
    );
    assert!(acopf::PLAN.scalars() == acopf::SCALARS && acopf::PLAN.flags() == acopf::FLAGS);
    assert!(acopf::PLAN.splits() == acopf::SPLITS && acopf::PLAN.records() == acopf::RECORDS);
    assert!(acopf::PLAN.offsets() == acopf::OFFSETS && acopf::PLAN.input == acopf::SUM);
    assert!(
        acopf::PLAN.bound.scalars() == acopf::BOUND_SCALARS
            && acopf::PLAN.bound.flags() == acopf::BOUND_FLAGS
    );
};

/// Branch-and-bound buffers for a plan of these sizes (`D` = input length).
#[derive(Clone, Copy)]
pub struct BabBufs<
    const S: usize,
    const F: usize,
    const SP: usize,
    const R: usize,
    const O: usize,
    const D: usize,
> {
    scalars: [f32; S],
    flags: [bool; F],
    splits: [Split<f32>; SP],
    records: [DomainRecord<f32>; R],
    offsets: [usize; O],
    sum: [f64; D],
    cex: [f32; D],
    /// The monitor's state: `Monitor::scalars(D)`.
    state: [[f32; D]; 5],
}

impl<const S: usize, const F: usize, const SP: usize, const R: usize, const O: usize, const D: usize>
    BabBufs<S, F, SP, R, O, D>
{
    /// The buffers as the monitor takes them.
    pub fn buffers(&mut self) -> Buffers<'_> {
        Buffers {
            scalars: &mut self.scalars,
            flags: &mut self.flags,
            splits: &mut self.splits,
            records: &mut self.records,
            offsets: &mut self.offsets,
            sum: &mut self.sum,
            cex: &mut self.cex,
            state: self.state.as_flattened_mut(),
        }
    }
}

/// ACAS Xu: branch and bound in f32.
pub type AcasBab = BabBufs<
    { acas::SCALARS },
    { acas::FLAGS },
    { acas::SPLITS },
    { acas::RECORDS },
    { acas::OFFSETS },
    { acas::SUM },
>;

/// ACAS Xu: a bounds-only workspace in Q16.16, and a forward-value buffer.
#[derive(Clone, Copy)]
pub struct AcasFix {
    /// `Plan::scalars()` fixed-point values.
    pub scalars: [Fix; acas::BOUND_SCALARS],
    /// `Plan::flags()`.
    pub flags: [bool; acas::BOUND_FLAGS],
    /// Forward values (f32).
    pub values: [f32; acas::VALUES],
}

/// ml4acopf: branch and bound in f32.
pub type AcopfBab = BabBufs<
    { acopf::SCALARS },
    { acopf::FLAGS },
    { acopf::SPLITS },
    { acopf::RECORDS },
    { acopf::OFFSETS },
    { acopf::SUM },
>;

/// The ml4acopf plan without a forward arena: the heap copy's comparison bounds with CROWN.
pub const ACOPF_CROWN: Plan = Plan { forward: 0, symbols: 0, ..acopf::PLAN.bound };

/// ml4acopf: a bounds-only workspace and a forward buffer (the heap copy's comparison, which
/// compares digests, so the two models share them).
#[derive(Clone, Copy)]
pub struct AcopfBound {
    /// [`ACOPF_CROWN`]`.scalars()` values.
    pub scalars: [f32; ACOPF_CROWN.scalars()],
    /// `Plan::flags()`.
    pub flags: [bool; acopf::BOUND_FLAGS],
    /// Forward values.
    pub values: [f32; acopf::VALUES],
}

/// Heap size in bytes: the ml4acopf copy's three vectors (the blob declares the baked model's
/// counts) plus 64 B of allocator bookkeeping per allocation.
pub const HEAP_SIZE: usize = acopf::NODES.len() * size_of::<genbab_core::graph::Node>()
    + acopf::WEIGHTS.len() * size_of::<f32>()
    + acopf::INDICES.len() * size_of::<u32>()
    + 3 * 64;

/// The heap copy's check: the heap region and the bounds workspace that compares the copies.
#[derive(Clone, Copy)]
pub struct HeapPhase {
    /// The heap (`embedded-alloc` is given it right before the check).
    pub heap: [MaybeUninit<u8>; HEAP_SIZE],
    /// The comparison's workspace.
    pub bound: AcopfBound,
}

/// The ACAS Xu plan without a zonotope arena: the certificate checker's CROWN bounds.
pub const ACAS_CROWN: Plan = Plan { forward: 0, symbols: 0, ..acas::PLAN.bound };

/// ACAS Xu's boot check of its baked certificate: a CROWN workspace, the checker's buffers
/// (`acas::CERT_PLAN`), and a copy of the certificate to corrupt.
#[derive(Clone, Copy)]
pub struct AcasCert {
    /// [`ACAS_CROWN`]`.scalars()` values.
    pub scalars: [f32; ACAS_CROWN.scalars()],
    /// `Plan::flags()`.
    pub flags: [bool; acas::BOUND_FLAGS],
    /// The checker's scalars.
    pub check: [f32; acas::CERT_PLAN.scalars()],
    /// The checker's words.
    pub words: [u32; acas::CERT_PLAN.words()],
    /// A copy of the certificate (corrupted on purpose).
    pub copy: [u8; acas::CERTIFICATE.len()],
}

/// One arena for all of them.
pub union Arena {
    /// ACAS Xu certificate check at boot.
    pub acas_cert: AcasCert,
    /// ACAS Xu monitor.
    pub acas: AcasBab,
    /// ACAS Xu fixed-point bounds.
    pub acas_fix: AcasFix,
    /// ml4acopf monitor.
    pub acopf: AcopfBab,
    /// ml4acopf heap copy and its comparison.
    pub heap_phase: HeapPhase,
}

/// Bytes the ACAS Xu checks use.
pub const ACAS_BYTES: usize = max(size_of::<AcasBab>(), size_of::<AcasFix>());
/// Bytes the ACAS Xu certificate check uses.
pub const CERT_BYTES: usize = size_of::<AcasCert>();
/// Bytes the ml4acopf monitor uses (its heap-copy check is [`HeapPhase`]).
pub const ACOPF_BYTES: usize = size_of::<AcopfBab>();

const fn max(a: usize, b: usize) -> usize {
    if a > b { a } else { b }
}

/// The arena: all zero bytes, which is a valid value of every member (floats 0.0, `false`, id 0,
/// `Fix` 0), so it lives in `.bss` and any member may be read first.
static mut ARENA: Arena = unsafe { core::mem::zeroed() };

/// The arena; call once (from `main`).
pub fn take() -> &'static mut Arena {
    static TAKEN: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);
    assert!(!TAKEN.swap(true, core::sync::atomic::Ordering::Relaxed), "arena taken twice");
    let arena = &raw mut ARENA;
    // SAFETY: handed out once (checked above), so this is the only reference to ARENA.
    unsafe { &mut *arena }
}
