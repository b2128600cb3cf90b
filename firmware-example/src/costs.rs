//! What the parts of a check cost on this core: a forward pass (exact `libm` math and the
//! `micromath` pre-screen), one attack pass, and one domain's bound with the baked engine.
//!
//! Each is measured directly (instructions under QEMU `-icount`, see `measure`), averaged over
//! the model's frames, so that a check's instructions can be read as "this many forward passes"
//! and its parts (attack, bound) told apart; `genbab monitor` on the host estimates a check's
//! instructions from its counts with the same unit costs.

use genbab_core::bab::attack::{Attack, Rng};
use genbab_core::bound::{Saves, Workspace};
use genbab_core::spec::Spec;

use crate::forward;
use crate::measure;
use crate::monitor::{Baked, MAX_INPUT};

/// Mean instructions of each part.
#[derive(Clone, Copy, Debug, Default, defmt::Format)]
pub struct Units {
    /// `Graph::validate` (every engine entry checks the model once).
    pub validate: u64,
    /// A forward pass in exact (`libm`) math, validation excluded.
    pub forward: u64,
    /// A forward pass in `micromath` (the pre-screen), validation excluded.
    pub forward_fast: u64,
    /// One attack pass (a forward pass and a gradient).
    pub attack_pass: u64,
    /// One domain's bound (the node intervals by the baked engine, then the property's rows).
    pub bound: u64,
}

/// Measure the unit costs of `m` over its frames; `scalars` is scratch of at least the bound
/// plan's and the attack's size, `flags` the bound plan's.
pub fn measure(m: &Baked, scalars: &mut [f32], flags: &mut [bool]) -> Option<Units> {
    let d = m.input_len();
    let v = m.graph.total_len();
    let n = m.frames().max(1) as u64;
    let mut u = Units::default();
    let (mut lo, mut hi) = ([0.0f32; MAX_INPUT], [0.0f32; MAX_INPUT]);
    let mut cex = [0.0f32; MAX_INPUT];
    let cfg = m.settings.bound;
    let atoms = m.rhs.len();
    for k in 0..m.frames() {
        let x = &m.frame_x[k * d..(k + 1) * d];
        let (ok, t) = measure::instructions(|| m.graph.validate().is_ok());
        if !ok {
            return None;
        }
        u.validate += t;
        let (_, t) = measure::instructions(|| m.graph.eval(x, &mut scalars[..v]).is_ok());
        u.forward += t.saturating_sub(u.validate / (k as u64 + 1));
        let (_, t) = measure::instructions(|| {
            forward::prescreen(&m.graph, m.rows, m.rhs, m.ends, x, &mut scalars[..v])
        });
        u.forward_fast += t.saturating_sub(u.validate / (k as u64 + 1));
        m.frame_box(k, &mut lo[..d], &mut hi[..d]);
        let spec = Spec { lo: &lo[..d], hi: &hi[..d], rows: m.rows, rhs: m.rhs, clause_ends: m.ends };
        // One restart of eight steps from the centre.
        let (passes, t) = measure::instructions(|| {
            let mut atk = Attack::new(&m.graph, scalars)?;
            let mut rng = Rng::new(m.settings.seed);
            let (p, _) = atk.run(&m.graph, &spec, None, 1, 8, false, &mut rng, &mut cex[..d], &mut || true);
            Some(p)
        });
        u.attack_pass += t / passes?.max(1);
        let (ok, t) = measure::instructions(|| {
            let mut ws = Workspace::new(m.plan.bound, scalars, flags).ok()?;
            ws.node_bounds(&m.graph, &lo[..d], &hi[..d], &[], &cfg, &mut Saves::default()).ok()?;
            let mut out = [0.0f32; 8];
            let out = out.get_mut(..atoms)?;
            ws.output_lower(&m.graph, m.rows, out, &cfg, &mut Saves::default()).ok()
        });
        ok?;
        u.bound += t;
        #[cfg(feature = "profile")]
        if k == 0 {
            measure::start_counter(25);
            for _ in 0..20 {
                let c2 = genbab_core::bound::Config { method: genbab_core::bound::Method::Zonotope, ..cfg };
                let mut ws = Workspace::new(m.plan.bound, scalars, flags).ok()?;
                ws.node_bounds(&m.graph, &lo[..d], &hi[..d], &[], &c2, &mut Saves::default()).ok()?;
            }
            measure::start_counter(measure::RELOAD_MAX);
            let mut top = [(0u32, 0usize); 24];
            for (i, s) in measure::SAMPLES.iter().enumerate() {
                let n = s.swap(0, core::sync::atomic::Ordering::Relaxed);
                if let Some(p) = top.iter().position(|t| t.0 < n) {
                    top.copy_within(p..23, p + 1);
                    top[p] = (n, i << 6);
                }
            }
            for (n, a) in top {
                defmt::info!("PROFILE {=u32} samples at {=usize:#x}", n, a);
            }
        }
    }
    u.validate /= n;
    u.forward /= n;
    u.forward_fast /= n;
    u.attack_pass /= n;
    u.bound /= n;
    Some(u)
}

/// [`measure`] in the model's monitor buffers, then [`report`].
pub fn measured(m: &Baked, b: crate::monitor::Buffers<'_>) -> Option<Units> {
    let u = measure(m, b.scalars, b.flags)?;
    report(m.name, &u);
    Some(u)
}

/// Log the unit costs.
pub fn report(name: &str, u: &Units) {
    let f = u.forward.max(1);
    defmt::info!(
        "{=str}: unit costs (mean over the frames, instructions): forward pass {=u64} (libm), {=u64} (micromath); model validation {=u64}; attack pass {=u64} = {=u64}.{=u64} forward passes; one domain's bound {=u64} = {=u64}.{=u64} forward passes",
        name,
        u.forward,
        u.forward_fast,
        u.validate,
        u.attack_pass,
        u.attack_pass / f,
        u.attack_pass * 10 / f % 10,
        u.bound,
        u.bound / f,
        u.bound * 10 / f % 10
    );
}
