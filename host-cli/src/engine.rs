//! The verification driver: one model, one property (several input boxes), a wall-clock deadline.
//!
//! Each input box of the property is a separate [`Spec`]; the property holds (`unsat`) only if
//! every box holds, and is violated (`sat`) as soon as one box has a counterexample. A
//! counterexample is reported only after it is re-checked here: clamped into the box as written
//! in the file, evaluated on the reference graph (the ONNX graph as lowered, before any rewrite,
//! in f32: [`crate::onnx::Reference`]), and tested against the property as written (strict
//! comparisons strictly, with a margin for the f64 rounding of the check).
//!
//! Branch and bound runs on the model restricted to the outputs the property reads
//! ([`genbab_core::prune::restrict`]): every kept value is computed exactly as in the full model,
//! and the rest is work and memory for nothing. The counterexample check uses the full model.

use std::borrow::Cow;
use std::time::{Duration, Instant};

use genbab_core::alpha::{self, Alpha, AlphaPlan, AlphaSettings};
use genbab_core::bab::{DomainRecord, Reason, Settings, Stats, Verdict};
use genbab_core::bound::{self, Config, Plan, Split, Workspace};
use genbab_core::num::Scalar;
use genbab_core::prune;
use genbab_core::spec::Spec;

use crate::cex::Cex;
use crate::onnx::{Model, OwnedGraph, Span32};
use crate::parallel;
use crate::vnnlib::{Case, Property};

/// The scalar type the engines compute in on the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precision {
    F32,
    F64,
}

/// Engine options.
#[derive(Clone, Debug)]
pub struct Options {
    pub settings: Settings,
    pub precision: Precision,
    /// Memory for the branch-and-bound domain pool, in bytes.
    pub memory: usize,
    /// Most splits per domain (activation split).
    pub depth: usize,
    /// Threads of an input-split search (see [`crate::parallel`]).
    pub threads: usize,
    /// Restrict the model to the outputs the property reads before branch and bound.
    pub prune: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            settings: Settings::default(),
            precision: Precision::F64,
            memory: 1 << 30,
            depth: 48,
            threads: 1,
            prune: true,
        }
    }
}

/// The answer for a whole property.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Holds on every box (VNN-COMP `unsat`).
    Unsat,
    /// A confirmed counterexample (`sat`).
    Sat(Cex),
    /// The deadline passed (`timeout`).
    Timeout,
    /// No verdict, with the reason (`unknown`).
    Unknown(String),
}

impl Outcome {
    /// The VNN-COMP result word.
    pub fn word(&self) -> &'static str {
        match self {
            Outcome::Unsat => "unsat",
            Outcome::Sat(_) => "sat",
            Outcome::Timeout => "timeout",
            Outcome::Unknown(_) => "unknown",
        }
    }
}

/// Outcome plus counters.
#[derive(Clone, Debug)]
pub struct Report {
    pub outcome: Outcome,
    pub stats: Stats,
    /// Boxes decided before stopping.
    pub boxes_done: usize,
    /// Node values of the model and of the graph branch and bound ran on (after restriction).
    pub values: (usize, usize),
}

/// A shape mismatch between model and property.
pub fn check_shapes(model: &Model, prop: &Property) -> Result<(), String> {
    if prop.n_inputs != model.input_len() {
        return Err(format!(
            "the property has {} inputs (X_i), the model {}",
            prop.n_inputs,
            model.input_len()
        ));
    }
    if prop.n_outputs != model.output_len() {
        return Err(format!(
            "the property has {} outputs (Y_j), the model {}",
            prop.n_outputs,
            model.output_len()
        ));
    }
    Ok(())
}

/// The outputs (of `n`) that the atoms of `cases` read, ascending: those with a nonzero coefficient.
/// `[0]` when none does (such atoms are constants, but a graph needs an output).
pub fn read_outputs<'c>(cases: impl IntoIterator<Item = &'c Case>, n: usize) -> Vec<usize> {
    let mut read = vec![false; n];
    for c in cases {
        for row in c.rows.chunks(n.max(1)) {
            for (r, &v) in read.iter_mut().zip(row) {
                *r |= v != 0.0;
            }
        }
    }
    let out: Vec<usize> = (0..n).filter(|&j| read[j]).collect();
    if out.is_empty() { vec![0] } else { out }
}

/// `c` over the outputs `outputs` of a model with `n` outputs: each atom keeps those columns.
pub fn restrict_case(c: &Case, n: usize, outputs: &[usize]) -> Case {
    let rows = c.rows.chunks(n.max(1)).flat_map(|row| outputs.iter().map(|&j| row[j])).collect();
    Case { rows, ..c.clone() }
}

/// `g` restricted to `outputs`, or `None` when they are all of its outputs in order (nothing to cut).
pub fn restrict_graph<T: Scalar>(
    g: &OwnedGraph<T>,
    outputs: &[usize],
) -> Result<Option<OwnedGraph<T>>, String> {
    if outputs.iter().copied().eq(0..g.graph().output_len()) {
        return Ok(None);
    }
    prune::restrict(&g.graph(), outputs).map(Some).map_err(|e| format!("cannot restrict the model: {e:?}"))
}

/// A spec in scalar `T`, rounded so that the box and the unsafe region only grow.
pub(crate) struct SpecT<T> {
    lo: Vec<T>,
    hi: Vec<T>,
    rows: Vec<T>,
    rhs: Vec<T>,
    ends: Vec<u32>,
}

impl<T: Scalar> SpecT<T> {
    /// The spec in `T`: the box rounded outward and the right-hand sides up (the unsafe region
    /// only grows); a coefficient that `T` cannot hold exactly is an error, since rounding it
    /// would change the property in either direction.
    pub(crate) fn new(c: &Case) -> Result<Self, String> {
        let rows = exact_rows(c)?;
        Ok(SpecT {
            lo: c.lo.iter().map(|&v| T::from_f64_down(v)).collect(),
            hi: c.hi.iter().map(|&v| T::from_f64_up(v)).collect(),
            rows,
            rhs: c.rhs.iter().map(|&v| T::from_f64_up(v)).collect(),
            ends: c.clause_ends.clone(),
        })
    }
    pub(crate) fn spec(&self) -> Spec<'_, T> {
        Spec { lo: &self.lo, hi: &self.hi, rows: &self.rows, rhs: &self.rhs, clause_ends: &self.ends }
    }
}

/// The output constraints' coefficients of `c` in `T`, each exact: a coefficient that `T` cannot
/// hold is an error, since rounding it would change the property in either direction.
pub fn exact_rows<T: Scalar>(c: &Case) -> Result<Vec<T>, String> {
    let n = (c.rows.len() / c.rhs.len().max(1)).max(1);
    c.rows
        .iter()
        .enumerate()
        .map(|(k, &v)| {
            let t = T::from_f64_near(v);
            if t.to_f64() == v {
                Ok(t)
            } else {
                Err(format!(
                    "the coefficient {v:e} of Y_{} in output constraint {} is not exact in {} (use the \
                     f64 engines, or a coefficient that {} holds)",
                    k % n,
                    k / n + 1,
                    core::any::type_name::<T>(),
                    core::any::type_name::<T>(),
                ))
            }
        })
        .collect()
}

/// Whether `y` lies in the unsafe region of `c` as written: some clause has every atom
/// `rows[i]·y ≤ rhs[i]` (`<` where strict) hold with a margin that covers the f64 rounding of the
/// sum (`γ_{n+1}·Σ|c_j·y_j|`), so rounding never makes a point a witness.
pub fn violates(c: &Case, y: &[f64]) -> bool {
    violates_box(c, y, y)
}

/// Whether every `y` in the box `[lo, hi]` lies in the unsafe region of `c` as written (see
/// [`violates`]): each atom is taken at its largest value over the box.
pub fn violates_box(c: &Case, lo: &[f64], hi: &[f64]) -> bool {
    let n = lo.len();
    let gamma = (n as f64 + 2.0) * f64::EPSILON;
    let mut start = 0usize;
    c.clause_ends.iter().any(|&e| {
        let r = start..e as usize;
        start = e as usize;
        r.clone().all(|i| {
            let (mut s, mut mag) = (0.0f64, 0.0f64);
            for ((a, l), h) in c.rows[i * n..(i + 1) * n].iter().zip(lo).zip(hi) {
                let t = if *a == 0.0 { 0.0 } else { (a * l).max(a * h) };
                s += t;
                mag += t.abs();
            }
            let top = s + gamma * mag;
            if c.strict.get(i).copied().unwrap_or(false) { top < c.rhs[i] } else { top <= c.rhs[i] }
        })
    })
}

/// Whether `x` is a counterexample for every implementation of the elementwise functions within
/// their error model (libm's f32 functions and onnxruntime's CPU kernels alike): the reference
/// evaluated over f32 intervals ([`Span32`]) must put the whole output interval in the unsafe
/// region. So a witness does not rest on one library's last ulp.
fn violates_for_every_implementation(model: &Model, c: &Case, x: &[f32]) -> bool {
    let x: Vec<Span32> = x.iter().map(|&v| Span32::point(v)).collect();
    let Some(y) = model.reference.eval(&x) else { return false };
    let lo: Vec<f64> = y.iter().map(|s| s.lo as f64).collect();
    let hi: Vec<f64> = y.iter().map(|s| s.hi as f64).collect();
    lo.iter().chain(&hi).all(|v| v.is_finite()) && violates_box(c, &lo, &hi)
}

/// Re-check a candidate from the engine: clamp into the box as written, evaluate the reference
/// graph in f32 (the ONNX graph, node by node, before any rewrite) and test the property as
/// written, then check that it holds for every implementation of the functions
/// ([`violates_for_every_implementation`]). Each input is the f32 value nearest the candidate inside the points that satisfy the
/// input constraints ([`Case::inner_lo`]..[`Case::inner_hi`]). Where that interval holds no f32
/// value at all (a fixed input written as, say, `0.1`, which f32 cannot represent) it is the f32
/// value nearest the interval: the one the deployed network is given for that input, a choice
/// the README documents (VNN-COMP checks witnesses' inputs with a tolerance for this). Without
/// that, no witness of such a property could ever be confirmed: collins_rul_cnn fixes 200 of its
/// 400 inputs so.
fn confirm(model: &Model, c: &Case, x: &[f64]) -> Option<Cex> {
    let (xf, y) = evaluate(model, c, x)?;
    if !violates(c, &y) || !violates_for_every_implementation(model, c, &xf) {
        return None;
    }
    Some(Cex { x: xf.iter().map(|&v| v as f64).collect(), y })
}

/// The f32 input for candidate `x` (see [`confirm`]) and the reference's finite output there.
fn evaluate(model: &Model, c: &Case, x: &[f64]) -> Option<(Vec<f32>, Vec<f64>)> {
    let mut xf = Vec::with_capacity(x.len());
    for (&v, (&l, &h)) in x.iter().zip(c.inner_lo.iter().zip(&c.inner_hi)) {
        if l.is_nan() || h.is_nan() || l > h {
            return None;
        }
        let v = v.clamp(l, h) as f32;
        // Rounding to f32 may step outside [l, h]; step back in when an f32 value exists.
        let inside = |f: f32| l <= f as f64 && f as f64 <= h;
        let v = [v, v.next_up(), v.next_down()].into_iter().find(|&f| inside(f));
        let v = match v {
            Some(f) => f,
            // No f32 in [l, h]: it lies between two neighbouring f32 values; take the nearer.
            None if f32_between(l, h) => {
                let (a, mid) = (f32_floor(l), 0.5 * (l + h));
                let b = a.next_up();
                if mid - a as f64 <= b as f64 - mid { a } else { b }
            }
            None => return None,
        };
        xf.push(v);
    }
    let y: Vec<f64> = model.reference.eval(&xf)?.iter().map(|&v| v as f64).collect();
    y.iter().all(|v| v.is_finite()).then_some((xf, y))
}

/// How far `y` is inside the unsafe region of `c` (negative: outside): the best clause's
/// smallest `rhs − row·y`.
fn unsafe_margin(c: &Case, y: &[f64]) -> f64 {
    let n = y.len();
    let mut start = 0usize;
    let mut best = f64::NEG_INFINITY;
    for &e in &c.clause_ends {
        let worst = (start..e as usize)
            .map(|i| c.rhs[i] - c.rows[i * n..(i + 1) * n].iter().zip(y).map(|(a, b)| a * b).sum::<f64>())
            .fold(f64::INFINITY, f64::min);
        best = best.max(worst);
        start = e as usize;
    }
    best
}

/// Points of the reference search after the hint, the centre and the two corners, and as many
/// again for the local search around the best of them.
const REFERENCE_SAMPLES: usize = 256;

/// A last look for a counterexample before answering `unknown`. The engines search in their own
/// scalar type (f64 by default), so a counterexample that exists only through f32 rounding
/// (`x + 1024 − 1024`) escapes them, and one they find may lie within the rounding tolerance of
/// the boundary (not a witness for every evaluation, see [`confirm`]). Tries, on the reference
/// graph, the engine's last candidate `hint`, the centre, the two extreme corners and
/// [`REFERENCE_SAMPLES`] random points (each input at an end of its interval or uniform inside),
/// then as many random steps around the point deepest in the unsafe region (shrinking while
/// they fail), until `deadline`.
fn search_reference(model: &Model, c: &Case, hint: &[f64], deadline: Instant) -> Option<Cex> {
    let (lo, hi) = (&c.inner_lo, &c.inner_hi);
    if lo.iter().zip(hi).any(|(l, h)| l.is_nan() || h.is_nan() || l > h) {
        return None;
    }
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut uniform = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let centre: Vec<f64> = lo.iter().zip(hi).map(|(l, h)| l + 0.5 * (h - l)).collect();
    let fixed = [hint, &centre, lo, hi];
    let mut best: Option<(f64, Vec<f64>)> = None;
    let mut radius = 0.05;
    for k in 0..fixed.len() + 2 * REFERENCE_SAMPLES {
        if Instant::now() >= deadline {
            return None;
        }
        let local = k >= fixed.len() + REFERENCE_SAMPLES;
        let x: Vec<f64> = match (fixed.get(k), &best) {
            (Some(p), _) if p.len() == lo.len() => p.to_vec(),
            (Some(_), _) => continue,
            (None, Some((_, b))) if local => b
                .iter()
                .zip(lo.iter().zip(hi))
                .map(|(&v, (&l, &h))| (v + radius * (h - l) * (2.0 * uniform() - 1.0)).clamp(l, h))
                .collect(),
            (None, _) if local => return None,
            (None, _) => lo
                .iter()
                .zip(hi)
                .map(|(&l, &h)| match uniform() {
                    r if r < 0.25 => l,
                    r if r < 0.5 => h,
                    _ => l + uniform() * (h - l),
                })
                .collect(),
        };
        let Some((_, y)) = evaluate(model, c, &x) else { continue };
        let m = unsafe_margin(c, &y);
        if best.as_ref().is_none_or(|(bm, _)| m > *bm) {
            if m >= 0.0
                && let Some(cex) = confirm(model, c, &x)
            {
                return Some(cex);
            }
            best = Some((m, x));
        } else if local {
            radius *= 0.95;
        }
    }
    None
}

/// Whether `[l, h]` (finite, `l ≤ h`) lies strictly between two neighbouring f32 values.
fn f32_between(l: f64, h: f64) -> bool {
    if !l.is_finite() || !h.is_finite() || l > h {
        return false;
    }
    let below = f32_floor(l);
    below.is_finite() && (below as f64) < l && (below.next_up() as f64) > h
}

/// The largest f32 value `≤ v`.
fn f32_floor(v: f64) -> f32 {
    let f = v as f32;
    if f as f64 > v { f.next_down() } else { f }
}

/// Domains that fit `memory` bytes for an input of `d` values and `depth` splits.
fn domain_capacity<T: Scalar>(d: usize, depth: usize, caps: usize, memory: usize) -> usize {
    let per =
        (2 * d + 1 + caps) * size_of::<T>() + depth * size_of::<Split<T>>() + size_of::<DomainRecord<T>>();
    (memory / per.max(1)).clamp(256, 4_000_000)
}

/// Decide the property. `deadline` bounds the wall clock.
pub fn check(model: &Model, prop: &Property, opts: &Options, deadline: Instant) -> Result<Report, String> {
    check_shapes(model, prop)?;
    match opts.precision {
        Precision::F32 => check_t::<f32>(model, prop, opts, deadline),
        Precision::F64 => check_t::<f64>(model, prop, opts, deadline),
    }
}

fn check_t<T: Scalar + Send + Sync>(
    model: &Model,
    prop: &Property,
    opts: &Options,
    deadline: Instant,
) -> Result<Report, String> {
    let full = model.graph::<T>();
    let n = model.output_len();
    let outputs = read_outputs(&prop.cases, n);
    let restricted = if opts.prune { restrict_graph(&full, &outputs)? } else { None };
    let (gt, cases): (&OwnedGraph<T>, Cow<'_, [Case]>) = match &restricted {
        Some(r) => (r, prop.cases.iter().map(|c| restrict_case(c, n, &outputs)).collect()),
        None => (&full, Cow::Borrowed(&prop.cases)),
    };
    let g = gt.graph();
    let values = (full.graph().total_len(), g.total_len());
    let mut total = Stats::default();
    let mut unknown: Option<String> = None;
    let mut done = 0;
    // An input split keeps no split list per domain, so its pool holds many more domains.
    // (It keeps interval caps per domain instead, see `bab::verify_alloc`.)
    let input = opts.settings.splits_input(g.input_len());
    let (depth, caps) = if input {
        (1, bound::caps_len(&g) + prop.cases.iter().map(|c| c.rhs.len()).max().unwrap_or(0))
    } else {
        (opts.depth, 0)
    };
    let domains = domain_capacity::<T>(model.input_len(), depth, caps, opts.memory);
    for (case, case_g) in prop.cases.iter().zip(cases.iter()) {
        let st = SpecT::<T>::new(case_g)?;
        let spec = st.spec();
        spec.validate(g.input_len(), g.output_len()).map_err(|e| format!("invalid property: {e:?}"))?;
        let (verdict, stats, cex) =
            parallel::verify(&g, &spec, &opts.settings, domains, depth, opts.threads, deadline);
        total.add(&stats);
        let report = |outcome, done| Report { outcome, stats: total, boxes_done: done, values };
        match verdict {
            Verdict::Holds => done += 1,
            Verdict::Violated => {
                // Confirmed on the full model, against the property as written.
                let x: Vec<f64> = cex.iter().map(|v| v.to_f64()).collect();
                match confirm(model, case, &x).or_else(|| search_reference(model, case, &x, deadline)) {
                    Some(c) => return Ok(report(Outcome::Sat(c), done + 1)),
                    None => {
                        done += 1;
                        unknown.get_or_insert_with(|| {
                            "the engine's counterexample was not confirmed on the f32 network".into()
                        });
                    }
                }
            }
            Verdict::Unknown(Reason::Timeout) => return Ok(report(Outcome::Timeout, done)),
            Verdict::Unknown(r) => {
                let x: Vec<f64> = cex.iter().map(|v| v.to_f64()).collect();
                if let Some(c) = search_reference(model, case, &x, deadline) {
                    return Ok(report(Outcome::Sat(c), done + 1));
                }
                done += 1;
                unknown.get_or_insert_with(|| format!("{r:?}"));
            }
        }
        if Instant::now() >= deadline && done < prop.cases.len() {
            return Ok(report(Outcome::Timeout, done));
        }
    }
    let outcome = match unknown {
        None => Outcome::Unsat,
        Some(r) => Outcome::Unknown(r),
    };
    Ok(Report { outcome, stats: total, boxes_done: done, values })
}

/// An input box of a property case: the case's index, `lo` and `hi`.
pub type CaseBox = (usize, Vec<f64>, Vec<f64>);

/// The input boxes of `prop`'s cases that the input-split search has
/// not verified, about `want` in all ([`parallel::open_boxes`], each case given its share), in
/// f64: the parts `genbab split` writes. Empty when the search verified everything.
pub fn open_boxes(
    model: &Model,
    prop: &Property,
    opts: &Options,
    want: usize,
    deadline: Instant,
) -> Result<Vec<CaseBox>, String> {
    check_shapes(model, prop)?;
    if !opts.settings.splits_input(model.input_len()) {
        return Err(format!(
            "the search splits activations here ({} inputs), not the input: there are no input parts to cut \
             (input splitting applies to at most 16 inputs, or --branching input)",
            model.input_len()
        ));
    }
    let full = model.graph::<f64>();
    let n = model.output_len();
    let outputs = read_outputs(&prop.cases, n);
    let restricted = if opts.prune { restrict_graph(&full, &outputs)? } else { None };
    let g = restricted.as_ref().unwrap_or(&full).graph();
    let mut out = Vec::new();
    let share = want.div_ceil(prop.cases.len().max(1)).max(1);
    for (k, case) in prop.cases.iter().enumerate() {
        let case_g = if restricted.is_some() { restrict_case(case, n, &outputs) } else { case.clone() };
        let st = SpecT::<f64>::new(&case_g)?;
        let spec = st.spec();
        spec.validate(g.input_len(), g.output_len()).map_err(|e| format!("invalid property: {e:?}"))?;
        for d in parallel::open_boxes(&g, &spec, &opts.settings, 1, share, deadline) {
            out.push((k, d.lo, d.hi));
        }
    }
    Ok(out)
}

/// Certified bounds of every output over the union of the property's input boxes (α-CROWN per
/// output bound when `alpha.iters > 0`).
pub fn output_bounds(
    model: &Model,
    prop: &Property,
    cfg: &Config,
    precision: Precision,
    alpha: &AlphaSettings,
) -> Result<(Vec<f64>, Vec<f64>), String> {
    check_shapes(model, prop)?;
    match precision {
        Precision::F32 => bounds_t::<f32>(model, prop, cfg, alpha),
        Precision::F64 => bounds_t::<f64>(model, prop, cfg, alpha),
    }
}

fn bounds_t<T: Scalar>(
    model: &Model,
    prop: &Property,
    cfg: &Config,
    alpha: &AlphaSettings,
) -> Result<(Vec<f64>, Vec<f64>), String> {
    let gt = model.graph::<T>();
    let g = gt.graph();
    let n = g.output_len();
    let plan = Plan::new(&g, 64).map_err(|e| format!("invalid graph: {e:?}"))?;
    let mut scalars = vec![T::ZERO; plan.scalars()];
    let mut flags = vec![false; plan.flags()];
    let mut ws = Workspace::new(plan, &mut scalars, &mut flags).map_err(|e| format!("workspace: {e:?}"))?;
    let ap = AlphaPlan::for_plan(&plan, g.input_len());
    let mut abuf = vec![T::ZERO; if alpha.iters > 0 { ap.scalars() } else { 0 }];
    let mut al = if alpha.iters > 0 {
        Some(Alpha::new(ap, &mut abuf).map_err(|e| format!("α: {e:?}"))?)
    } else {
        None
    };
    let (mut lo, mut hi) = (vec![f64::INFINITY; n], vec![f64::NEG_INFINITY; n]);
    let (mut l, mut h, mut rows) = (vec![T::ZERO; n], vec![T::ZERO; n], vec![T::ZERO; n * n]);
    for case in &prop.cases {
        let st = SpecT::<T>::new(case)?;
        match al.as_mut() {
            Some(al) => alpha::output_bounds(
                &mut ws,
                al,
                &g,
                &st.lo,
                &st.hi,
                cfg,
                alpha,
                &mut rows[..n],
                &mut l,
                &mut h,
            ),
            None => bound::output_bounds(&mut ws, &g, &st.lo, &st.hi, cfg, &mut rows, &mut l, &mut h),
        }
        .map_err(|e| format!("bounds could not be computed: {e:?}"))?;
        for j in 0..n {
            lo[j] = lo[j].min(l[j].to_f64());
            hi[j] = hi[j].max(h[j].to_f64());
        }
    }
    Ok((lo, hi))
}

/// A deadline `secs` seconds after `start` (saturating for huge values).
pub fn deadline(start: Instant, secs: f64) -> Instant {
    let d =
        if secs.is_finite() && secs > 0.0 { Duration::from_secs_f64(secs.min(1e9)) } else { Duration::ZERO };
    start.checked_add(d).unwrap_or(start + Duration::from_secs(1 << 30))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::tests::{model, node, tensor};
    use crate::onnx::{Limits, load_bytes};

    /// `y = x·w` for a 1×1 weight, as an ONNX model.
    fn times(w: f32) -> Model {
        let b = model(
            ("x", &[1, 1]),
            "y",
            vec![node("MatMul", "mm", &["x", "W"], &["y"], vec![])],
            vec![tensor("W", &[1, 1], &[w])],
            13,
        );
        load_bytes(&b, "times.onnx", Limits::default()).unwrap()
    }

    fn unsafe_above(l: f64, h: f64, t: f64, strict: bool) -> Case {
        // Unsafe: y ≥ t (or y > t), i.e. −y ≤ −t.
        Case {
            lo: vec![l],
            hi: vec![h],
            inner_lo: vec![l],
            inner_hi: vec![h],
            rows: vec![-1.0],
            rhs: vec![-t],
            strict: vec![strict],
            clause_ends: vec![1],
        }
    }

    /// `y = x` with the input fixed at 0.1 (no f32 value equals it): the witness is the f32 value
    /// nearest 0.1, and it is confirmed; an interval with f32 values inside keeps its witness
    /// inside.
    #[test]
    fn witnesses_of_fixed_inputs_without_an_f32_value_are_confirmed() {
        let g = times(1.0);
        let case = |l: f64, h: f64| unsafe_above(l, h, 0.05, false);
        assert!(f32_between(0.1, 0.1) && !f32_between(0.5, 0.5) && !f32_between(0.1, 0.2));
        let c = confirm(&g, &case(0.1, 0.1), &[0.1]).expect("confirmed");
        assert_eq!(c.x[0], 0.1f32 as f64);
        let c = confirm(&g, &case(0.1, 0.2), &[0.1]).expect("confirmed");
        assert!((0.1..=0.2).contains(&c.x[0]));
        // Safe there: not confirmed.
        assert!(confirm(&g, &case(0.01, 0.01), &[0.01]).is_none());
    }

    /// A witness must hold for every implementation of the functions. `y = x·1` at `x = 2` is 2
    /// in f32 whatever the library: `y > 2` is not violated there, `y ≥ 2 − 1e-9` is (the check's
    /// own f64 margin keeps `y ≥ 2` itself out). Through a sigmoid
    /// the output is known only within the functions' error model: a threshold just below the
    /// libm value is not a witness, one clearly below it is.
    #[test]
    fn witnesses_hold_for_every_implementation() {
        let g = times(1.0);
        assert!(confirm(&g, &unsafe_above(2.0, 2.0, 2.0 - 1e-9, false), &[2.0]).is_some());
        assert!(confirm(&g, &unsafe_above(2.0, 2.0, 2.0, true), &[2.0]).is_none());
        let b = model(("x", &[1, 1]), "y", vec![node("Sigmoid", "s", &["x"], &["y"], vec![])], vec![], 13);
        let s = load_bytes(&b, "sigmoid.onnx", Limits::default()).unwrap();
        let y = s.reference.eval(&[1.0f32]).unwrap()[0] as f64;
        assert!(violates(&unsafe_above(1.0, 1.0, y - 1e-12, false), &[y]));
        assert!(confirm(&s, &unsafe_above(1.0, 1.0, y - 1e-12, false), &[1.0]).is_none());
        assert!(confirm(&s, &unsafe_above(1.0, 1.0, y - 1e-5, false), &[1.0]).is_some());
    }
}
