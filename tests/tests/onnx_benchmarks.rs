//! The ONNX loader and the VNN-LIB reader on every model and property of the shared VNN-COMP
//! benchmarks (`../shared/benchmarks`, or `$GENBAB_BENCHMARKS`). They are not in this
//! repository, so these tests are `#[ignore]`d in the README's test command (which passes on a
//! clone alone) and run by an explicit `.ci/run` step, `cargo test --release -p genbab-tests --test onnx_benchmarks -- --ignored`, where a
//! missing directory fails them:
//!
//! - every property of every `instances.csv` parses;
//! - every model loads, except the known refusals (Floor of a variable in the ml4acopf
//!   `linear-residual` variants), which must fail with the precise one-line error;
//! - for every validated counterexample (X, Y) of `counterexamples/SOURCES.csv`, the lowered IR
//!   evaluated at X in f64 and f32 reproduces the recorded Y (these Y values come from the
//!   verification tools' own runs of the ONNX model).

use std::path::{Path, PathBuf};

use genbab_cli::cex;
use genbab_cli::onnx;

fn bench_root() -> PathBuf {
    let p = std::env::var_os("GENBAB_BENCHMARKS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/benchmarks"));
    assert!(
        p.is_dir(),
        "{} not found: put the shared benchmarks there or set GENBAB_BENCHMARKS",
        p.display()
    );
    p
}

fn models(root: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    for d in std::fs::read_dir(root).unwrap().flatten() {
        let od = d.path().join("onnx");
        if let Ok(rd) = std::fs::read_dir(&od) {
            for f in rd.flatten() {
                if f.path().extension().is_some_and(|e| e == "onnx") {
                    v.push(f.path());
                }
            }
        }
    }
    v.sort();
    v
}

#[test]
#[ignore = "needs ../shared/benchmarks; run by .ci/run with --ignored"]
fn every_benchmark_model_loads_or_is_refused_precisely() {
    let root = bench_root();
    let mut loaded = 0;
    for m in models(&root) {
        let name = m.file_name().unwrap().to_string_lossy().to_string();
        match onnx::load(&m) {
            Ok(model) => {
                loaded += 1;
                eprintln!(
                    "ok   {name}: {} inputs, {} outputs, {} IR nodes, {} weights",
                    model.input_len(),
                    model.output_len(),
                    model.nodes.len(),
                    model.weights.len()
                );
            }
            Err(e) => {
                let msg = e.to_string();
                eprintln!("FAIL {name}: {msg}");
                assert!(name.contains("linear-residual"), "unexpected load failure: {msg}");
                assert!(msg.contains("(Floor): Floor of a value that depends on the network input"), "{msg}");
                assert!(!msg.contains('\n'));
            }
        }
    }
    assert!(loaded > 0);
}

/// Every property of every benchmark's `instances.csv` parses (a reader limit that refuses a real
/// property is a regression: the VNN-LIB reader's DNF limit once refused `ml4acopf_2023`'s
/// 300-bus properties, which genbab had proved).
#[test]
#[ignore = "needs ../shared/benchmarks; run by .ci/run with --ignored"]
fn every_benchmark_property_parses() {
    let root = bench_root();
    let mut n = 0;
    for d in std::fs::read_dir(&root).unwrap().flatten() {
        let Ok(list) = std::fs::read_to_string(d.path().join("instances.csv")) else { continue };
        let mut seen = std::collections::HashSet::new();
        for line in list.lines() {
            let Some(v) = line.split(',').nth(1) else { continue };
            if !v.ends_with(".vnnlib") || !seen.insert(v.to_string()) {
                continue;
            }
            let path = d.path().join(v);
            if let Err(e) = genbab_cli::vnnlib::read(&path) {
                panic!("{}: {e}", path.display());
            }
            n += 1;
        }
    }
    eprintln!("{n} properties parsed");
    assert!(n > 100);
}

fn rel_err(a: f64, b: f64) -> f64 {
    (a - b).abs() / (1.0 + b.abs())
}

/// onnxruntime outputs (see `fixtures/gen_ort_reference.py`): (benchmark, point) →
/// [(output index, float32 value, float64 value if available)].
type Reference = std::collections::BTreeMap<(String, String, String), Vec<(usize, f64, Option<f64>)>>;

fn ort_reference() -> Reference {
    let text = include_str!("../fixtures/ort_reference.csv");
    let mut m = Reference::new();
    for line in text.lines().skip(1) {
        let c: Vec<&str> = line.split(',').collect();
        let e = m.entry((c[0].to_string(), c[1].to_string(), c[2].to_string())).or_default();
        e.push((c[3].parse().unwrap(), c[4].parse().unwrap(), c[5].parse().ok()));
    }
    m
}

/// Tolerance against onnxruntime's float32 output. The ml4acopf networks sum large terms with
/// cancellation, so their own float32 evaluation is off by up to ~1e-3 relative; the float64
/// reference shows that the lowering itself is exact there.
fn f32_tolerance(bench: &str) -> f64 {
    if bench.starts_with("ml4acopf") { 2e-3 } else { 1e-4 }
}

/// The lowered IR at every reference point (validated counterexamples and box centres of every
/// model) against onnxruntime: the recorded Y and onnxruntime float32 within `f32_tolerance`, and
/// onnxruntime float64 to 1e-9 (where it has the kernels: everything but Conv).
#[test]
#[ignore = "needs ../shared/benchmarks; run by .ci/run with --ignored"]
fn ir_matches_onnxruntime() {
    let root = bench_root();
    let reference = ort_reference();
    let mut worst: std::collections::BTreeMap<String, (f64, f64, usize)> = Default::default();
    let mut models: std::collections::HashMap<PathBuf, Option<onnx::Model>> = Default::default();
    for ((bench, point, onnx_rel), values) in &reference {
        let dir = root.join(bench);
        let model = models.entry(dir.join(onnx_rel)).or_insert_with_key(|p| match onnx::load(p) {
            Ok(m) => Some(m),
            Err(e) => {
                assert!(e.to_string().contains("(Floor)"), "{e}");
                None
            }
        });
        let Some(model) = model else { continue };
        let x: Vec<f64> = if let Some(v) = point.strip_prefix("center:") {
            let p = genbab_cli::vnnlib::read(&dir.join(v)).unwrap();
            if p.cases.len() != 1 {
                continue;
            }
            p.cases[0].lo.iter().zip(&p.cases[0].hi).map(|(l, h)| (l + h) / 2.0).collect()
        } else {
            let c = cex::parse(&std::fs::read_to_string(dir.join(point)).unwrap()).unwrap();
            for &(k, y32, _) in values {
                assert_eq!(
                    c.y[k], y32,
                    "{bench}/{point}: onnxruntime float32 differs from the recorded Y_{k}"
                );
            }
            c.x
        };
        assert_eq!(x.len(), model.input_len(), "{bench}/{point}");
        let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        let x64: Vec<f64> = x32.iter().map(|&v| v as f64).collect();
        let y64 = model.graph::<f64>().eval(&x64).unwrap();
        let y32 = model.graph::<f32>().eval(&x32).unwrap();
        let yr = model.reference.eval(&x32).unwrap();
        let w = worst.entry(bench.clone()).or_default();
        w.2 += 1;
        for &(j, r32, r64) in values {
            let e = rel_err(y64[j], r32).max(rel_err(y32[j] as f64, r32)).max(rel_err(yr[j] as f64, r32));
            assert!(
                e < f32_tolerance(bench),
                "{bench}/{point}: Y_{j} = {} (f64 IR) / {} (f32 IR) / {} (f32 reference), onnxruntime f32 {r32}",
                y64[j],
                y32[j],
                yr[j]
            );
            w.0 = w.0.max(e);
            if let Some(r64) = r64 {
                let e = rel_err(y64[j], r64);
                assert!(
                    e < 1e-9,
                    "{bench}/{point}: Y_{j} = {} in the IR, {r64} by onnxruntime (f64)",
                    y64[j]
                );
                w.1 = w.1.max(e);
            }
        }
    }
    for (b, (e32, e64, n)) in &worst {
        eprintln!("{b}: {n} points; worst relative error vs onnxruntime f32 {e32:.2e}, vs f64 {e64:.2e}");
    }
    assert!(!worst.is_empty());
}
