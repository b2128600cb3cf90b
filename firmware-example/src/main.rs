//! genbab firmware example: a runtime monitor on a Cortex-M4F (thumbv7em-none-eabihf), run under
//! QEMU `mps2-an386`.
//!
//! Two networks are baked in by `genbab bake` (module [`models`]): an ACAS Xu collision-avoidance
//! network (ReLU) and the ml4acopf IEEE 14-bus power-flow proxy (sigmoid, sin, cos, squares and
//! products). Each comes with a stream of sensor frames — a reading plus an uncertainty radius per
//! input — and, per frame, the decision the host computed. For every frame the monitor
//! ([`monitor`]) certifies the network's safety property over the frame's uncertainty box with
//! `genbab_core` (attack, CROWN, then branch and bound within a fixed number of domains), logs the
//! decision with `defmt` — certified, violated (with the witness) or undecided → fallback — and
//! compares it with the host's. The core's buffers are `static` arrays sized by the baked
//! `const`s ([`arena`]); the heap is used only by the second, deserialised copy of the ml4acopf
//! model ([`heap_model`]).
//!
//! It prints what each check costs (module [`measure`]: instructions executed, stack high-water
//! mark, static RAM, flash), then `N passed, N failed` on a line of its own, and exits through
//! semihosting with 0 (everything agreed and passed) or 1 (a disagreement, a failed check, a
//! panic or a HardFault).
//!
//! Run: `cd firmware-example && cargo run --release` (the runner is `qemu-run.sh`).
#![no_std]
#![no_main]

extern crate alloc;

mod arena;
mod certificate;
mod costs;
mod fixed_check;
mod forward;
mod heap_model;
mod models;
mod monitor;

use cortex_m_rt::{ExceptionFrame, entry, exception};
use cortex_m_semihosting::debug::{self, EXIT_FAILURE, EXIT_SUCCESS};
use defmt_semihosting as _; // #[global_logger]: defmt frames on semihosting stdout
use embedded_alloc::LlffHeap as Heap;

use crate::models::{acas, acopf};
use crate::monitor::Baked;

/// The firmware's heap: holds the deserialised second copy of the ml4acopf model during its
/// check, in the arena's [`arena::HeapPhase`] (initialised right before that check, so the
/// monitors before it use the same RAM). The core's engines never allocate.
#[global_allocator]
static HEAP: Heap = Heap::empty();

/// RAM budget of one monitor (static RAM + stack), in bytes.
pub const RAM_BUDGET: usize = 64 * 1024;
/// Flash budget of the firmware (code + read-only data + `.data` initialisers), in bytes.
pub const FLASH_BUDGET: usize = 512 * 1024;

/// The ACAS Xu monitor.
fn acas_monitor() -> Baked {
    Baked {
        name: "acas",
        graph: acas::graph(),
        rows: &acas::SPEC_ROWS,
        rhs: &acas::SPEC_RHS,
        ends: &acas::SPEC_CLAUSE_ENDS,
        settings: acas::settings(),
        reuse: acas::REUSE,
        plan: acas::PLAN,
        frame_x: &acas::FRAME_X,
        frame_r: &acas::FRAME_R,
        kind: &acas::FRAME_KIND,
        expected: &acas::EXPECTED,
        expected_bounded: &acas::EXPECTED_BOUNDED,
        expected_step: &acas::EXPECTED_STEP,
        witness: &acas::EXPECTED_WITNESS,
        // Three domains of about 35 M instructions each, plus the attack: twice that as the net.
        budget: 200_000_000,
    }
}

/// The ml4acopf monitor.
fn acopf_monitor() -> Baked {
    Baked {
        name: "acopf",
        graph: acopf::graph(),
        rows: &acopf::SPEC_ROWS,
        rhs: &acopf::SPEC_RHS,
        ends: &acopf::SPEC_CLAUSE_ENDS,
        settings: acopf::settings(),
        reuse: acopf::REUSE,
        plan: acopf::PLAN,
        frame_x: &acopf::FRAME_X,
        frame_r: &acopf::FRAME_R,
        kind: &acopf::FRAME_KIND,
        expected: &acopf::EXPECTED,
        expected_bounded: &acopf::EXPECTED_BOUNDED,
        expected_step: &acopf::EXPECTED_STEP,
        witness: &acopf::EXPECTED_WITNESS,
        // Two domains of about 38 M instructions each, plus the attack: more than twice that.
        budget: 200_000_000,
    }
}

/// Pass/fail tally.
#[derive(Default)]
struct Tally {
    passed: u32,
    failed: u32,
}

impl Tally {
    fn check(&mut self, name: &str, ok: bool, instructions: u64) {
        if ok {
            self.passed += 1;
            defmt::info!("PASS {=str} ({=u64} instructions)", name, instructions);
        } else {
            self.failed += 1;
            defmt::error!("FAIL {=str} ({=u64} instructions)", name, instructions);
        }
    }
    fn add(&mut self, (p, f): (u32, u32)) {
        self.passed += p;
        self.failed += f;
    }
}

#[entry]
fn main() -> ! {
    // First, before the deep calls: paint the free stack so its high-water mark can be read later.
    measure::paint_stack();
    measure::start_counter(measure::RELOAD_MAX);
    let arena = arena::take();
    let (acas_m, acopf_m) = (acas_monitor(), acopf_monitor());
    let mut t = Tally::default();

    // The instruction counter itself, and the baked modules.
    for c in checks::ALL {
        let (ok, n) = measure::instructions(c.run);
        t.check(c.name, ok, n);
    }

    // ---- Boot: the ACAS Xu operating region's certificate ---------------------------------------
    measure::paint_stack();
    // SAFETY (union access): as below.
    t.add(certificate::boot(unsafe { &mut arena.acas_cert }));
    let cert_stack = measure::stack_hwm();

    // ---- ACAS Xu -------------------------------------------------------------------------------
    let acas_units = costs::measured(&acas_m, unsafe { &mut arena.acas }.buffers());
    t.check("acas_unit_costs", acas_units.is_some(), 0);
    let acas_units = acas_units.unwrap_or_default();
    measure::paint_stack();
    let mut log = monitor::Log::new();
    // SAFETY (union access): every member is valid for any bytes the others leave behind (plain
    // numbers and bools written by safe code), and one member is borrowed at a time.
    t.add(monitor::run(&acas_m, unsafe { &mut arena.acas }.buffers(), &mut log));
    monitor::summary(acas_m.name, &log, &acas_units);
    let (ok, n) = measure::instructions(|| fixed_check::run(&acas_m, unsafe { &mut arena.acas_fix }));
    t.check("acas_fixed_point_bounds_contain_f32", ok, n);
    let acas_stack = measure::stack_hwm();

    // ---- ml4acopf ------------------------------------------------------------------------------
    let acopf_units = costs::measured(&acopf_m, unsafe { &mut arena.acopf }.buffers());
    t.check("acopf_unit_costs", acopf_units.is_some(), 0);
    let acopf_units = acopf_units.unwrap_or_default();
    measure::paint_stack();
    log.clear();
    t.add(monitor::run(&acopf_m, unsafe { &mut arena.acopf }.buffers(), &mut log));
    monitor::summary(acopf_m.name, &log, &acopf_units);
    let acopf_stack = measure::stack_hwm();
    measure::paint_stack();
    // SAFETY (union access): as above. The heap is handed its region once, here, before the only
    // allocations of the program; nothing else uses `heap_phase` from now on.
    let phase = unsafe { &mut arena.heap_phase };
    unsafe { HEAP.init(phase.heap.as_mut_ptr() as usize, arena::HEAP_SIZE) }
    let ((_, ok), n) = measure::instructions(|| checks::heap_copy(&acopf_m, &mut phase.bound));
    t.check("acopf_heap_copy_agrees", ok, n);
    let heap_stack = measure::stack_hwm();
    let (ok, n) = measure::instructions(|| checks::prescreen_speed(&acopf_m, &mut phase.bound.values));
    t.check("prescreen_cost", ok, n);

    // ---- figures and budgets -------------------------------------------------------------------
    let ram = measure::static_ram();
    let arena_bytes = size_of::<arena::Arena>();
    // Statics other than the arena (logger, counters, allocator state).
    let base = ram.total() - arena_bytes;
    defmt::info!(
        "image: static RAM {=usize} B (data {=usize}, bss {=usize}, uninit {=usize}) = arena {=usize} (the heap's {=usize} inside) + other {=usize}; flash {=usize} B",
        ram.total(),
        ram.data,
        ram.bss,
        ram.uninit,
        arena_bytes,
        arena::HEAP_SIZE,
        base,
        measure::flash_used()
    );
    let acas_ram = base + arena::ACAS_BYTES + acas_stack.used;
    let cert_ram = base + arena::CERT_BYTES + cert_stack.used;
    let acopf_ram = base + arena::ACOPF_BYTES + acopf_stack.used;
    // The heap copy's phase: its heap region (reserved whether or not the copy fills it) and
    // bounds workspace.
    let heap_ram = base + size_of::<arena::HeapPhase>() + heap_stack.used;
    figures("acas", arena::ACAS_BYTES, 0, &acas_stack, acas_ram, checks::acas_flash());
    defmt::info!(
        "acas certificate: RAM {=usize} B = workspace {=usize} + stack high-water {=usize}{=str} + other statics; flash for the certificate {=usize} B",
        cert_ram,
        arena::CERT_BYTES,
        cert_stack.used,
        if cert_stack.window_exhausted { " (paint window exhausted: at least)" } else { "" },
        size_of_val(&acas::CERTIFICATE)
    );
    figures("acopf", arena::ACOPF_BYTES, 0, &acopf_stack, acopf_ram, checks::acopf_flash());
    figures(
        "acopf heap copy",
        size_of::<arena::HeapPhase>(),
        arena::HEAP_SIZE,
        &heap_stack,
        heap_ram,
        checks::acopf_flash(),
    );
    t.check("acas_ram_within_budget", acas_ram <= RAM_BUDGET && !acas_stack.window_exhausted, 0);
    t.check("certificate_ram_within_budget", cert_ram <= RAM_BUDGET && !cert_stack.window_exhausted, 0);
    t.check("acopf_ram_within_budget", acopf_ram <= RAM_BUDGET && !acopf_stack.window_exhausted, 0);
    t.check("heap_copy_ram_within_budget", heap_ram <= RAM_BUDGET && !heap_stack.window_exhausted, 0);
    t.check("flash_within_budget", measure::flash_used() <= FLASH_BUDGET, 0);
    #[cfg(feature = "demo-failure")]
    t.check("demo_failure (feature demo-failure)", false, 0);

    // Bare line (println! has no level prefix): the line CI reads.
    defmt::println!("{=u32} passed, {=u32} failed", t.passed, t.failed);
    debug::exit(if t.failed == 0 { EXIT_SUCCESS } else { EXIT_FAILURE });
    halt()
}

/// One model's figures.
fn figures(
    name: &str,
    arena: usize,
    heap: usize,
    stack: &measure::StackUse,
    total: usize,
    flash: checks::Flash,
) {
    defmt::info!(
        "{=str}: RAM {=usize} B = workspace {=usize} (heap {=usize} of it) + stack high-water {=usize}{=str} + other statics; budget {=usize} B",
        name,
        total,
        arena,
        heap,
        stack.used,
        if stack.window_exhausted { " (paint window exhausted: at least)" } else { "" },
        RAM_BUDGET
    );
    defmt::info!(
        "{=str}: flash for the model {=usize} B (nodes, weights, indices{=str}), property {=usize} B, frames {=usize} B",
        name,
        flash.model,
        if flash.fixed { ", Q16.16 weights" } else { "" },
        flash.spec,
        flash.frames
    );
}

/// Park the core (after `debug::exit`, which QEMU never returns from).
fn halt() -> ! {
    loop {
        cortex_m::asm::wfi();
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    defmt::error!("PANIC: {}", defmt::Display2Format(info));
    debug::exit(EXIT_FAILURE);
    halt()
}

/// `defmt::panic!`, `defmt::unwrap!` and friends land here.
#[defmt::panic_handler]
fn defmt_panic() -> ! {
    debug::exit(EXIT_FAILURE);
    halt()
}

#[exception]
unsafe fn HardFault(ef: &ExceptionFrame) -> ! {
    defmt::error!("HardFault at pc={=u32:#010x} lr={=u32:#010x}", ef.pc(), ef.lr());
    debug::exit(EXIT_FAILURE);
    halt()
}

/// Cost figures: instructions executed, stack high-water mark, static RAM, flash.
pub mod measure {
    use core::cell::Cell;
    use core::sync::atomic::{AtomicU32, Ordering};

    use cortex_m::interrupt::{self, Mutex};
    use cortex_m::peripheral::syst::SystClkSource;
    use cortex_m::peripheral::{SCB, SYST};
    #[cfg(not(feature = "profile"))]
    use cortex_m_rt::exception;

    // ---- instruction counter -------------------------------------------------------------------
    //
    // SysTick runs from the core clock and counts down from RELOAD to 0, then reloads; its
    // exception counts the wraps, so a reading is `wraps · (RELOAD + 1) + (RELOAD − current)`
    // ticks and regions of any length can be measured.
    //
    // What a tick means: the runner starts QEMU with `-icount shift=0`, so virtual time advances
    // exactly 2^0 = 1 ns per executed instruction, independent of host speed and load. The
    // mps2-an386 SysTick core clock is 25 MHz (40 ns per tick), hence **one tick = 40
    // instructions** (not one): instructions = ticks × 40. Resolution is therefore 40
    // instructions; the `timer_calibration` check verifies the factor against a loop of known
    // length. The figure is instructions executed on the M4 ISA, not silicon cycles (no wait
    // states or pipeline effects; `vdiv.f32` counts 1). Without -icount, SysTick follows host time
    // and the numbers are noise.

    /// Largest SysTick reload value (24-bit counter).
    pub const RELOAD_MAX: u32 = 0x00FF_FFFF;
    /// Instructions per SysTick tick under `-icount shift=0` on mps2-an386 (40 ns tick / 1 ns).
    pub const INSTRUCTIONS_PER_TICK: u64 = 40;

    static WRAPS: AtomicU32 = AtomicU32::new(0);
    static RELOAD: AtomicU32 = AtomicU32::new(RELOAD_MAX);
    /// Ticks counted under earlier reload settings (keeps [`ticks`] continuous across them).
    static BASE: Mutex<Cell<u64>> = Mutex::new(Cell::new(0));

    /// Counts the counter's 1 → 0 transitions (the SysTick exception fires on each).
    #[cfg(not(feature = "profile"))]
    #[exception]
    fn SysTick() {
        WRAPS.fetch_add(1, Ordering::Relaxed);
    }

    /// With `profile`: the interrupted program counter, per 64-byte block of flash.
    #[cfg(feature = "profile")]
    pub static SAMPLES: [AtomicU32; 8192] = [const { AtomicU32::new(0) }; 8192];

    #[cfg(feature = "profile")]
    core::arch::global_asm!(
        ".section .text.SysTick,\"ax\",%progbits",
        ".global SysTick",
        ".thumb_func",
        "SysTick:",
        "    mrs r0, msp",
        "    b {sample}",
        sample = sym systick_sample,
    );

    /// The SysTick handler's body under `profile`: `frame` is the exception frame the core
    /// pushed (r0–r3, r12, lr, pc, xpsr).
    #[cfg(feature = "profile")]
    extern "C" fn systick_sample(frame: *const u32) {
        WRAPS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the hardware pushed eight words at `frame` on exception entry.
        let pc = unsafe { core::ptr::read_volatile(frame.add(6)) } as usize;
        if let Some(s) = SAMPLES.get(pc >> 6) {
            s.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Start the counter, or change its reload value without breaking [`ticks`]'s continuity
    /// (`RELOAD_MAX` in normal use; a small value only to exercise the wrap handling).
    pub fn start_counter(reload: u32) {
        // SAFETY: single-threaded firmware; SYST is used by this module only.
        let mut syst = unsafe { cortex_m::Peripherals::steal() }.SYST;
        let reload = reload.clamp(1, RELOAD_MAX);
        let running = syst.is_counter_enabled();
        let so_far = if running { ticks() } else { 0 };
        syst.disable_counter();
        syst.disable_interrupt();
        SCB::clear_pendst();
        syst.set_clock_source(SystClkSource::Core);
        syst.set_reload(reload);
        syst.clear_current(); // CVR = 0: the counter reloads on the next tick
        interrupt::free(|cs| BASE.borrow(cs).set(so_far));
        RELOAD.store(reload, Ordering::Relaxed);
        WRAPS.store(0, Ordering::Relaxed);
        syst.enable_interrupt();
        syst.enable_counter();
    }

    /// SysTick ticks since the first [`start_counter`], with wraps accounted for.
    ///
    /// With period P = RELOAD + 1, the current value after T ticks from the clear is
    /// `(P − T mod P) mod P` (0, RELOAD, …, 1, 0, RELOAD, …) and the exception has fired
    /// `T div P` times, so T = wraps · P + (P − cur) mod P.
    pub fn ticks() -> u64 {
        let base = interrupt::free(|cs| BASE.borrow(cs).get());
        let reload = RELOAD.load(Ordering::Relaxed);
        let period = u64::from(reload) + 1;
        loop {
            let w1 = WRAPS.load(Ordering::Relaxed);
            let cur = SYST::get_current().min(reload);
            let pending = SCB::is_pendst_pending();
            let w2 = WRAPS.load(Ordering::Relaxed);
            if w1 != w2 {
                continue; // the wrap exception ran in between: read again
            }
            // A 1 → 0 transition whose exception has not run yet: count it if `cur` was read
            // after it (cur is 0 or has just reloaded into the upper half), not if before (cur
            // was still small).
            let late = u64::from(pending && (cur == 0 || cur > reload / 2));
            // (P − cur) mod P without a 64-bit division (a library call on the M4).
            let within = if cur == 0 { 0 } else { period - u64::from(cur) };
            return base + (u64::from(w1) + late) * period + within;
        }
    }

    /// Instructions executed by `f` (resolution [`INSTRUCTIONS_PER_TICK`]), and its result.
    #[inline(never)]
    pub fn instructions<R>(f: impl FnOnce() -> R) -> (R, u64) {
        let t0 = ticks();
        let r = f();
        let t1 = ticks();
        (r, t1.saturating_sub(t0) * INSTRUCTIONS_PER_TICK)
    }

    // ---- stack high-water mark ------------------------------------------------------------------
    //
    // The stack grows down from `_stack_start` (end of RAM) toward `_stack_end` (= `__sheap`, the
    // end of the statics). `paint_stack` fills the free stack below the current stack pointer —
    // at most `PAINT_WINDOW` bytes of it, since the budget is far below the board's 4 MiB — with
    // a pattern; `stack_hwm` finds the lowest word that no longer holds it.

    /// Paint pattern.
    const PAINT: u32 = 0xC5AC_CE55;
    /// How far below `_stack_start` painting reaches at most (the whole RAM budget).
    pub const PAINT_WINDOW: usize = super::RAM_BUDGET;
    /// Bytes left unpainted just below the stack pointer of `paint_stack` itself.
    const PAINT_MARGIN: usize = 64;

    static PAINT_BOTTOM: AtomicU32 = AtomicU32::new(0);
    static PAINT_TOP: AtomicU32 = AtomicU32::new(0);

    unsafe extern "C" {
        static _stack_start: u32;
        static _stack_end: u32;
        static __sdata: u32;
        static __edata: u32;
        static __sidata: u32;
        static __sbss: u32;
        static __ebss: u32;
        static __suninit: u32;
        static __euninit: u32;
    }

    fn stack_top() -> usize {
        &raw const _stack_start as usize
    }

    /// Paint the free stack (call first thing in `main`).
    #[inline(never)]
    pub fn paint_stack() {
        let sp = cortex_m::register::msp::read() as usize;
        let top = (sp - PAINT_MARGIN) & !3;
        let floor = &raw const _stack_end as usize;
        let bottom = stack_top().saturating_sub(PAINT_WINDOW).max(floor).min(top);
        let mut p = bottom;
        while p < top {
            // SAFETY: [bottom, top) lies between the end of the statics and the live stack
            // (below this function's own frame): memory nothing else uses.
            unsafe { core::ptr::write_volatile(p as *mut u32, PAINT) };
            p += 4;
        }
        PAINT_BOTTOM.store(bottom as u32, Ordering::Relaxed);
        PAINT_TOP.store(top as u32, Ordering::Relaxed);
    }

    /// Stack use so far.
    pub struct StackUse {
        /// Bytes between `_stack_start` and the lowest word written since painting.
        pub used: usize,
        /// The lowest painted word was overwritten too: the stack went at least this deep,
        /// maybe deeper.
        pub window_exhausted: bool,
    }

    /// Deepest stack use since [`paint_stack`].
    pub fn stack_hwm() -> StackUse {
        let bottom = PAINT_BOTTOM.load(Ordering::Relaxed) as usize;
        let top = PAINT_TOP.load(Ordering::Relaxed) as usize;
        let mut p = bottom;
        // SAFETY: reads of the painted region, which is ordinary RAM.
        while p < top && unsafe { core::ptr::read_volatile(p as *const u32) } == PAINT {
            p += 4;
        }
        StackUse { used: stack_top() - p, window_exhausted: p == bottom && bottom < top }
    }

    // ---- static RAM and flash --------------------------------------------------------------------

    /// RAM taken by statics, from the linker symbols of cortex-m-rt's link.x.
    pub struct StaticRam {
        /// `.data` (initialised statics).
        pub data: usize,
        /// `.bss` (zeroed statics, including the heap).
        pub bss: usize,
        /// `.uninit`.
        pub uninit: usize,
    }

    impl StaticRam {
        /// All static RAM.
        pub fn total(&self) -> usize {
            self.data + self.bss + self.uninit
        }
    }

    /// Static RAM as laid out by the linker.
    pub fn static_ram() -> StaticRam {
        StaticRam {
            data: &raw const __edata as usize - &raw const __sdata as usize,
            bss: &raw const __ebss as usize - &raw const __sbss as usize,
            uninit: &raw const __euninit as usize - &raw const __suninit as usize,
        }
    }

    /// Flash in use: everything up to the end of the `.data` initialisers (FLASH starts at 0).
    pub fn flash_used() -> usize {
        &raw const __sidata as usize + static_ram().data
    }
}

/// Checks besides the monitor loop.
mod checks {
    use genbab_core::bound::{Config, Plan, Saves, Workspace};

    use crate::arena::AcopfBound;
    use crate::models::{self, acas, acopf};
    use crate::monitor::Baked;
    use crate::{forward, heap_model, measure};

    /// One named check.
    pub struct Check {
        /// Name in the log.
        pub name: &'static str,
        /// Runs it; true = passed (details are logged by the check).
        pub run: fn() -> bool,
    }

    /// The instruction counter's self-checks (the figures rest on them).
    pub const ALL: &[Check] = &[
        Check { name: "timer_calibration", run: timer_calibration },
        Check { name: "timer_wraps", run: timer_wraps },
        Check { name: "acas_baked_module_valid", run: acas_valid },
        Check { name: "acopf_baked_module_valid", run: acopf_valid },
    ];

    macro_rules! baked_valid {
        ($name:literal, $m:ident) => {{
            let (g, spec) = ($m::graph(), $m::spec());
            let graph_ok = g.validate();
            let spec_ok = spec.validate($m::INPUT_LEN, $m::OUTPUT_LEN);
            defmt::info!(
                "  {=str}: {=usize} nodes, {=usize} -> {=usize} values, graph {}, property {} ({=usize} atoms); \
                 plan: {=usize} domains, depth {=usize}, chunk {=usize}, activation split {=bool}; {=usize} frames",
                $name,
                g.nodes.len(),
                g.input_len(),
                g.output_len(),
                graph_ok,
                spec_ok,
                $m::ATOMS,
                $m::DOMAINS,
                $m::DEPTH,
                $m::CHUNK,
                $m::ACTIVATION_SPLIT,
                $m::FRAMES
            );
            graph_ok.is_ok()
                && spec_ok.is_ok()
                && g.input_len() == $m::INPUT_LEN
                && g.total_len() == $m::VALUES
                && spec.atoms() == $m::ATOMS
                && $m::EXPECTED.len() == $m::FRAMES
                && $m::FRAME_X.len() == $m::FRAMES * $m::INPUT_LEN
        }};
    }

    fn acas_valid() -> bool {
        baked_valid!("acas", acas)
    }

    fn acopf_valid() -> bool {
        baked_valid!("acopf", acopf)
    }

    /// `cortex_m::asm::delay(n)` runs `n + 1` iterations of `subs; bne`: 2n + 2 instructions.
    fn delay_matches(n: u32) -> bool {
        let ((), got) = measure::instructions(|| cortex_m::asm::delay(n));
        let want = 2 * u64::from(n) + 2;
        // Two ticks of quantisation plus the counter reads themselves.
        let tol = 2 * measure::INSTRUCTIONS_PER_TICK + 100;
        defmt::info!("  delay({=u32}): measured {=u64} instructions, expected {=u64}", n, got, want);
        got.abs_diff(want) <= tol
    }

    fn timer_calibration() -> bool {
        delay_matches(1_000_000)
    }

    fn timer_wraps() -> bool {
        // A 2^16-tick period (2.6 M instructions) wraps 3 times in 8 M instructions.
        measure::start_counter(0xFFFF);
        let ok = delay_matches(4_000_000);
        measure::start_counter(measure::RELOAD_MAX);
        ok
    }

    /// Flash taken by a model's tables.
    pub struct Flash {
        /// Nodes, weights, indices (and Q16.16 weights).
        pub model: usize,
        /// Whether Q16.16 weights are included.
        pub fixed: bool,
        /// The property's box and atoms.
        pub spec: usize,
        /// The frames and the host's decisions.
        pub frames: usize,
    }

    pub fn acas_flash() -> Flash {
        use acas::*;
        use core::mem::size_of_val as s;
        Flash {
            model: s(&NODES) + s(&WEIGHTS) + s(&INDICES) + s(&WEIGHTS_FIX_BITS),
            fixed: true,
            spec: s(&SPEC_LO) + s(&SPEC_HI) + s(&SPEC_ROWS) + s(&SPEC_RHS) + s(&SPEC_CLAUSE_ENDS),
            frames: s(&FRAME_X)
                + s(&FRAME_R)
                + s(&FRAME_KIND)
                + s(&EXPECTED)
                + s(&EXPECTED_BOUNDED)
                + s(&EXPECTED_WITNESS),
        }
    }

    pub fn acopf_flash() -> Flash {
        use acopf::*;
        use core::mem::size_of_val as s;
        Flash {
            model: s(&NODES) + s(&WEIGHTS) + s(&INDICES),
            fixed: false,
            spec: s(&SPEC_LO) + s(&SPEC_HI) + s(&SPEC_ROWS) + s(&SPEC_RHS) + s(&SPEC_CLAUSE_ENDS),
            frames: s(&FRAME_X)
                + s(&FRAME_R)
                + s(&FRAME_KIND)
                + s(&EXPECTED)
                + s(&EXPECTED_BOUNDED)
                + s(&EXPECTED_WITNESS),
        }
    }

    /// Frames whose node intervals are compared (the forward pass is compared at every frame).
    const BOUND_FRAMES: [usize; 3] = [0, 1, 2];

    /// The heap copy of ml4acopf (deserialised from the blob) against the baked one: the same
    /// forward outputs at every frame centre and the same node intervals and property bounds over
    /// three frame boxes, bit for bit. Returns (heap bytes the copy uses, passed).
    /// FNV-1a over the bit patterns: bit-identical slices give equal digests.
    fn digest(v: &[f32]) -> u64 {
        v.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, x| {
            x.to_bits()
                .to_le_bytes()
                .iter()
                .fold(h, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
        })
    }

    pub fn heap_copy(m: &Baked, b: &mut AcopfBound) -> (usize, bool) {
        let before = crate::HEAP.used();
        let model = match heap_model::parse(models::ACOPF_BLOB) {
            Ok(m) => m,
            Err(e) => {
                defmt::error!("  blob rejected: {}", e);
                return (0, false);
            }
        };
        let used = crate::HEAP.used() - before;
        let (baked, copy) = (acopf::graph(), model.graph());
        if let Err(e) = copy.validate() {
            defmt::error!("  the heap copy is invalid: {}", e);
            return (used, false);
        }
        defmt::info!(
            "  heap copy: {=usize} nodes, {=usize} weights, {=usize} indices in {=usize} B of heap ({=usize} B free)",
            copy.nodes.len(),
            copy.weights.len(),
            copy.indices.len(),
            used,
            crate::HEAP.free()
        );
        let d = acopf::INPUT_LEN;
        let mut ok = true;
        let mut forward_same = 0usize;
        // Every node value is compared through a digest, so one buffer serves both models.
        for k in 0..acopf::FRAMES {
            let x = &acopf::FRAME_X[k * d..(k + 1) * d];
            let p = baked.eval(x, &mut b.values).map(|_| ()).map(|()| digest(&b.values));
            let q = copy.eval(x, &mut b.values).map(|_| ()).map(|()| digest(&b.values));
            match (p, q) {
                (Ok(p), Ok(q)) if p == q => forward_same += 1,
                _ => ok = false,
            }
        }
        let plan = match Plan::new(&baked, acopf::CHUNK) {
            Ok(p) => p,
            Err(_) => return (used, false),
        };
        let Ok(mut ws) = Workspace::new(plan, &mut b.scalars, &mut b.flags) else { return (used, false) };
        let cfg = Config::default();
        let (mut lo, mut hi) = ([0.0f32; acopf::INPUT_LEN], [0.0f32; acopf::INPUT_LEN]);
        let (mut atoms1, mut atoms2) = ([0.0f32; acopf::ATOMS], [0.0f32; acopf::ATOMS]);
        let mut bounds_same = 0usize;
        for k in BOUND_FRAMES {
            m.frame_box(k, &mut lo, &mut hi);
            let r1 = ws.node_bounds(&baked, &lo, &hi, &[], &cfg, &mut Saves::default()).and_then(|_| {
                ws.output_lower(&baked, &acopf::SPEC_ROWS, &mut atoms1, &cfg, &mut Saves::default())
            });
            let (l, h) = ws.all_bounds();
            let d1 = (digest(l), digest(h));
            let r2 = ws.node_bounds(&copy, &lo, &hi, &[], &cfg, &mut Saves::default()).and_then(|_| {
                ws.output_lower(&copy, &acopf::SPEC_ROWS, &mut atoms2, &cfg, &mut Saves::default())
            });
            let (l, h) = ws.all_bounds();
            let same = r1.is_ok()
                && r2.is_ok()
                && (digest(l), digest(h)) == d1
                && atoms1.iter().zip(&atoms2).all(|(p, q)| p.to_bits() == q.to_bits());
            bounds_same += usize::from(same);
            ok &= same;
            defmt::info!(
                "  frame {=usize}: property lower bounds {} (baked) vs {} (heap)",
                k,
                atoms1,
                atoms2
            );
        }
        defmt::info!(
            "  all {=usize} node values bit-identical (64-bit digest) at {=usize} of {=usize} frame centres; all node intervals and the atoms' bounds identical over {=usize} of {=usize} frame boxes",
            acopf::VALUES,
            forward_same,
            acopf::FRAMES,
            bounds_same,
            BOUND_FRAMES.len()
        );
        (used, ok)
    }

    /// The pre-screen's point: its forward pass is cheaper than the exact one (ml4acopf: sigmoid,
    /// sin, cos); and its margin is close to the exact one.
    pub fn prescreen_speed(m: &Baked, values: &mut [f32]) -> bool {
        let d = m.input_len();
        let (mut fast, mut exact, mut err) = (0u64, 0u64, 0.0f32);
        for k in 0..m.frames() {
            let x = &m.frame_x[k * d..(k + 1) * d];
            let (a, n1) =
                measure::instructions(|| forward::prescreen(&m.graph, m.rows, m.rhs, m.ends, x, values));
            let (b, n2) =
                measure::instructions(|| forward::exact_margin(&m.graph, m.rows, m.rhs, m.ends, x, values));
            fast += n1;
            exact += n2;
            if let (Some(a), Some(b)) = (a, b) {
                err = err.max((a - b).abs());
            }
        }
        let n = m.frames().max(1) as u64;
        defmt::info!(
            "  acopf forward pass at a frame centre: micromath {=u64} vs libm {=u64} instructions (mean); largest margin difference {=f32}",
            fast / n,
            exact / n,
            err
        );
        fast < exact
    }
}
