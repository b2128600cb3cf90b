//! ACAS Xu bounded again with the fixed-point scalar `num::Fix` (Q16.16, `fixed::types::I16F16`):
//! for every 9th frame (the smallest boxes, which the monitor certifies), certified output bounds over the frame's box in fixed point, by the
//! monitor's own bound engine (the baked `settings().bound`), checked to contain the value the
//! network computes in f32 at the frame centre; their cost is the Q16.16 path's cost of a bound.
//!
//! The fixed-point graph uses the baked Q16.16 weights (`WEIGHTS_FIX_BITS`, each f32 weight
//! rounded to nearest), so it is a slightly different network from the f32 one. The bounds
//! enclose *its* f32 evaluation (`Deploy::F32`), which is what is checked; the original f32
//! network's value is compared too and its largest deviation reported.

use genbab_core::bound::{self, Config, Plan, Workspace};
use genbab_core::graph::Graph;
use genbab_core::num::{Fix, Scalar};
use genbab_core::relax;

use crate::arena::AcasFix;
use crate::forward;
use crate::measure;
use crate::models::acas;
use crate::monitor::Baked;

/// The baked Q16.16 weights as `Fix` values, without a copy.
fn fix_weights() -> &'static [Fix] {
    const _: () = assert!(size_of::<Fix>() == size_of::<i32>() && align_of::<Fix>() == align_of::<i32>());
    let bits = &acas::WEIGHTS_FIX_BITS;
    // SAFETY: `Fix` is a struct with one field, `I16F16`, which is `repr(transparent)` over `i32`;
    // with size and alignment equal to `i32`'s (asserted above) that field is the whole struct, so
    // every `i32` is a valid `Fix` with the same meaning. The slice borrows a `static`.
    unsafe { core::slice::from_raw_parts(bits.as_ptr().cast::<Fix>(), bits.len()) }
}

/// Every how many frames the check runs (a fixed-point CROWN pass costs about four f32 ones).
pub const EVERY: usize = 9;

/// Run the check over every [`EVERY`]-th frame of `m` (the ACAS Xu model); true if every interval
/// contains the value.
pub fn run(m: &Baked, bufs: &mut AcasFix) -> bool {
    let w = fix_weights();
    if w.iter().any(|v| !v.is_usable()) {
        defmt::error!("  a baked Q16.16 weight is the poison pattern");
        return false;
    }
    let g = Graph::<Fix> { nodes: &acas::NODES, weights: w, indices: &acas::INDICES, output: acas::OUTPUT };
    // The monitor's plan and bound engine, arena included.
    let baked = acas::PLAN.bound;
    let plan = match Plan::new(&g, acas::CHUNK) {
        Ok(p) if p.with_zonotope(baked.forward, baked.symbols) == baked => baked,
        _ => {
            defmt::error!("  the fixed-point graph does not match the baked plan");
            return false;
        }
    };
    let AcasFix { scalars, flags, values } = bufs;
    let mut ws = match Workspace::new(plan, scalars, flags) {
        Ok(ws) => ws,
        Err(e) => {
            defmt::error!("  workspace: {}", e);
            return false;
        }
    };
    let d = acas::INPUT_LEN;
    let n = acas::OUTPUT_LEN;
    let (mut lo32, mut hi32) = ([0.0f32; acas::INPUT_LEN], [0.0f32; acas::INPUT_LEN]);
    let (mut lo, mut hi) = ([Fix::ZERO; acas::INPUT_LEN], [Fix::ZERO; acas::INPUT_LEN]);
    let mut rows = [Fix::ZERO; acas::OUTPUT_LEN * acas::OUTPUT_LEN];
    let (mut yl, mut yh) = ([Fix::ZERO; acas::OUTPUT_LEN], [Fix::ZERO; acas::OUTPUT_LEN]);
    let cfg = Config { deploy: Config::default().deploy, ..m.settings.bound };
    let g32 = acas::graph();
    let (mut ok, mut original_inside, mut widest, mut deviation, mut instr) =
        (true, 0usize, 0.0f64, 0.0f64, 0u64);
    let mut checked = 0usize;
    for k in (0..m.frames()).step_by(EVERY) {
        checked += 1;
        m.frame_box(k, &mut lo32, &mut hi32);
        for i in 0..d {
            lo[i] = Fix::from_f64_down(f64::from(lo32[i]));
            hi[i] = Fix::from_f64_up(f64::from(hi32[i]));
        }
        let (r, n_instr) = measure::instructions(|| {
            bound::output_bounds(&mut ws, &g, &lo, &hi, &cfg, &mut rows, &mut yl, &mut yh)
        });
        instr += n_instr;
        if let Err(e) = r {
            defmt::error!("  frame {=usize}: fixed-point bounds failed: {}", k, e);
            ok = false;
            continue;
        }
        let centre = &m.frame_x[k * d..(k + 1) * d];
        // The Q16.16-weighted network evaluated in f32 (its weights are exact in f32: |w| < 2^8).
        let Some(yq) = forward::eval_with(&g32, |i| w[i].to_f64() as f32, relax::value_f32, centre, values)
        else {
            ok = false;
            continue;
        };
        let mut yq_copy = [0.0f32; acas::OUTPUT_LEN];
        yq_copy.copy_from_slice(yq);
        let yf = match g32.eval(centre, values) {
            Ok(y) => y,
            Err(_) => {
                ok = false;
                continue;
            }
        };
        let mut inside = true;
        for j in 0..n {
            let (l, h) = (yl[j].to_f64(), yh[j].to_f64());
            let v = f64::from(yq_copy[j]);
            if !(l <= v && v <= h) {
                defmt::error!(
                    "  frame {=usize} output {=usize}: {=f64} outside [{=f64}, {=f64}]",
                    k,
                    j,
                    v,
                    l,
                    h
                );
                ok = false;
            }
            inside &= l <= f64::from(yf[j]) && f64::from(yf[j]) <= h;
            widest = widest.max(h - l);
            deviation = deviation.max((f64::from(yf[j]) - v).abs());
        }
        original_inside += usize::from(inside);
    }
    defmt::info!(
        "  Q16.16 {} bounds over {=usize} frame boxes: contain the centre value {=str}; widest interval {=f64}; \
         mean {=u64} instructions per bound",
        cfg.method,
        checked,
        if ok { "at every frame" } else { "NOT at every frame" },
        widest,
        instr / checked.max(1) as u64
    );
    defmt::info!(
        "  original f32 network: largest deviation from the Q16.16-weighted one {=f64}; inside the bounds at {=usize} of {=usize} centres",
        deviation,
        original_inside,
        checked
    );
    ok
}
