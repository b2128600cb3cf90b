//! Proof certificates on the host: write one for a property that holds (`verify --certificate`)
//! and check one (`genbab check`), with the core's [`genbab_core::cert`] on the full lowered
//! graph (not the one restricted to the outputs the property reads: the checker trusts no
//! rewrite) and the engine settings every verdict is about (CROWN on the f32-deployed network).

use std::time::Instant;

use genbab_core::bound::{Config, Plan, Workspace};
use genbab_core::cert::{self, CheckBuffers, CheckPlan, Invalid, Summary, WriteError};
use genbab_core::graph::Graph;
use genbab_core::num::Scalar;
use genbab_core::spec::Spec;

use crate::engine::{Precision, SpecT};
use crate::onnx::Model;
use crate::vnnlib::Property;

/// Most cuts on a path the host's writer makes and its checker follows (each halves a
/// dimension: 52 per dimension would reach single f64 values, far below what a proof needs).
pub const HOST_DEPTH: usize = 256;
/// Memory for the checker's intervals per level (one set of a node's intervals per level):
/// a model with many intervals gets fewer levels, the same for the writer and the checker.
const LEVELS_BYTES: usize = 64 << 20;

/// The depth the host's writer and checker use for `g`: [`HOST_DEPTH`], or fewer levels where
/// their intervals would take more than 64 MiB (at least 8).
pub fn host_depth<T: Scalar>(g: &Graph<'_, T>, atoms: usize) -> usize {
    let level = (genbab_core::bound::caps_len(g) + atoms).max(1) * size_of::<T>();
    (LEVELS_BYTES / level).clamp(8, HOST_DEPTH)
}

/// The bound workspace (`chunk` rows per backward pass) and the checker's buffers (trees of at
/// most `depth` cuts on a path) for `g` and `specs`, handed to `f`.
fn run_with<T: Scalar, R>(
    g: &Graph<'_, T>,
    specs: &[Spec<'_, T>],
    chunk: usize,
    depth: usize,
    f: impl FnOnce(&mut Workspace<'_, T>, &mut CheckBuffers<'_, T>) -> R,
) -> Result<R, String> {
    let plan = Plan::new(g, chunk).map_err(|e| format!("invalid graph: {e:?}"))?;
    let mut scalars = vec![T::ZERO; plan.scalars()];
    let mut flags = vec![false; plan.flags()];
    let mut ws = Workspace::new(plan, &mut scalars, &mut flags).map_err(|e| format!("workspace: {e:?}"))?;
    let atoms = specs.iter().map(|s| s.atoms()).max().unwrap_or(0);
    let cp = CheckPlan::new(g, atoms, depth);
    let (mut cs, mut cw) = (vec![T::ZERO; cp.scalars()], vec![0u32; cp.words()]);
    let mut buf = CheckBuffers::new(cp, &mut cs, &mut cw).ok_or("certificate buffers too small")?;
    Ok(f(&mut ws, &mut buf))
}

/// The model's lowered graph in `T` and the property's boxes, with the host's buffers.
fn with_buffers<T: Scalar, R>(
    model: &Model,
    prop: &Property,
    f: impl FnOnce(&Graph<'_, T>, &[Spec<'_, T>], &mut Workspace<'_, T>, &mut CheckBuffers<'_, T>) -> R,
) -> Result<R, String> {
    let gt = model.graph::<T>();
    let g = gt.graph();
    let specs_t = prop.cases.iter().map(SpecT::<T>::new).collect::<Result<Vec<_>, _>>()?;
    let specs: Vec<_> = specs_t.iter().map(|s| s.spec()).collect();
    let atoms = specs.iter().map(|s| s.atoms()).max().unwrap_or(0);
    run_with(&g, &specs, 64, host_depth(&g, atoms), |ws, buf| f(&g, &specs, ws, buf))
}

/// The settings every certificate is about: CROWN, the network deployed in f32.
fn config() -> Config {
    Config::default()
}

/// A certificate that `specs` hold on `g` (the ONNX file's SHA-256 `onnx`), written with a
/// workspace of `chunk` rows and trees of at most `depth` cuts on a path (the checker's plan
/// must allow as many), while `keep_going` says so. The error is one line.
pub fn write_graph<T: Scalar>(
    g: &Graph<'_, T>,
    specs: &[Spec<'_, T>],
    onnx: &[u8; 32],
    (chunk, depth): (usize, usize),
    keep_going: &mut dyn FnMut() -> bool,
) -> Result<(Vec<u8>, Summary), String> {
    run_with(g, specs, chunk, depth, |ws, buf| write_in(g, specs, onnx, ws, buf, keep_going))?
}

/// [`cert::write`] into a vector, with the error as one line.
fn write_in<T: Scalar>(
    g: &Graph<'_, T>,
    specs: &[Spec<'_, T>],
    onnx: &[u8; 32],
    ws: &mut Workspace<'_, T>,
    buf: &mut CheckBuffers<'_, T>,
    keep_going: &mut dyn FnMut() -> bool,
) -> Result<(Vec<u8>, Summary), String> {
    let mut out = Vec::new();
    match cert::write(g, specs, &config(), onnx, ws, buf, &mut |b| out.extend_from_slice(b), keep_going) {
        Ok(s) => Ok((out, s)),
        Err(WriteError::Interrupted) => Err("no certificate: the time ran out while writing it".into()),
        Err(WriteError::Unproved { input_box }) => Err(format!(
            "no certificate: input box {input_box} has a part that CROWN with clipping does not prove within \
             the tree's depth limit"
        )),
        Err(WriteError::Bound(e)) => Err(format!("no certificate: the bound engine failed ({e:?})")),
    }
}

/// A certificate that `prop` holds on `model` (the ONNX file's SHA-256 `onnx`), in the scalar
/// of `precision`, found before `deadline`.
pub fn write(
    model: &Model,
    prop: &Property,
    onnx: &[u8; 32],
    precision: Precision,
    deadline: Instant,
) -> Result<(Vec<u8>, Summary), String> {
    let mut keep_going = || Instant::now() < deadline;
    match precision {
        Precision::F32 => with_buffers::<f32, _>(model, prop, |g, specs, ws, buf| {
            write_in(g, specs, onnx, ws, buf, &mut keep_going)
        })?,
        Precision::F64 => with_buffers::<f64, _>(model, prop, |g, specs, ws, buf| {
            write_in(g, specs, onnx, ws, buf, &mut keep_going)
        })?,
    }
}

/// Check `bytes` for `prop` on `model` (the ONNX file's SHA-256 `onnx`): the outer error is a
/// setup failure, the inner one the reason the certificate is invalid.
pub fn check(
    model: &Model,
    prop: &Property,
    onnx: &[u8; 32],
    bytes: &[u8],
) -> Result<Result<Summary, Invalid>, String> {
    // The scalar of the leaf test is in the header (checked again, with the checksum, by the
    // core); anything unreadable is left to the core to refuse.
    let f32 = bytes.len() > 10 && bytes[10] == 0;
    if f32 {
        with_buffers::<f32, _>(model, prop, |g, specs, ws, buf| {
            cert::check(bytes, g, specs, &config(), Some(onnx), ws, buf)
        })
    } else {
        with_buffers::<f64, _>(model, prop, |g, specs, ws, buf| {
            cert::check(bytes, g, specs, &config(), Some(onnx), ws, buf)
        })
    }
}

/// The fingerprint a certificate of `prop` in `precision` records ([`cert::property_digest`]).
pub fn property_digest(prop: &Property, precision: Precision) -> Result<[u8; 32], String> {
    fn go<T: Scalar>(prop: &Property) -> Result<[u8; 32], String> {
        let specs_t = prop.cases.iter().map(SpecT::<T>::new).collect::<Result<Vec<_>, _>>()?;
        let specs: Vec<_> = specs_t.iter().map(|s| s.spec()).collect();
        Ok(cert::property_digest(&specs))
    }
    match precision {
        Precision::F32 => go::<f32>(prop),
        Precision::F64 => go::<f64>(prop),
    }
}

/// One line for a reason a certificate is invalid.
pub fn describe(e: &Invalid) -> String {
    match e {
        Invalid::Truncated => "shorter than a certificate's header and checksum".into(),
        Invalid::Magic => "not a genbab certificate".into(),
        Invalid::Version(v) => format!("format version {v}, this genbab reads version {}", cert::VERSION),
        Invalid::Checksum => "the checksum does not match (the file is corrupted)".into(),
        Invalid::Scalar => "written for a scalar type this checker does not run".into(),
        Invalid::LeafTest(t) => format!("unknown leaf test {t}"),
        Invalid::Onnx => "written for another ONNX file".into(),
        Invalid::Graph => "written for another lowered model".into(),
        Invalid::Property => "written for another property".into(),
        Invalid::Boxes => "its number of input boxes differs from the property's".into(),
        Invalid::Tag { at } => format!("byte {at}: not a leaf or a cut (or the trees end early)"),
        Invalid::Dim { at } => format!("byte {at}: the cut's dimension is not an input"),
        Invalid::Point { at } => format!("byte {at}: the cut's point is not strictly inside its box"),
        Invalid::Depth { at } => format!("byte {at}: the tree is deeper than this checker's limit"),
        Invalid::Trailing { at } => format!("byte {at}: bytes after the last tree"),
        Invalid::Unproved { input_box, leaf } => {
            format!("input box {input_box}, leaf {leaf}: the bound does not prove it")
        }
        Invalid::Bound(e) => format!("the bound engine failed ({e:?})"),
    }
}
