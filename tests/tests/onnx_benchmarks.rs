//! The ONNX loader on every model of the shared VNN-COMP benchmarks (`../shared/benchmarks`, or
//! `$GENBAB_BENCHMARKS`; skipped with a note when absent):
//!
//! - every model loads, except the known refusals (Floor of a variable in the ml4acopf
//!   `linear-residual` variants), which must fail with the precise one-line error;
//! - for every validated counterexample (X, Y) of `counterexamples/SOURCES.csv`, the lowered IR
//!   evaluated at X in f64 and f32 reproduces the recorded Y (these Y values come from the
//!   verification tools' own runs of the ONNX model).

use std::path::{Path, PathBuf};

use genbab_cli::cex;
use genbab_cli::onnx;

fn bench_root() -> Option<PathBuf> {
    let p = std::env::var_os("GENBAB_BENCHMARKS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/benchmarks"));
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!("note: {} not found; benchmark checks skipped", p.display());
        None
    }
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
fn every_benchmark_model_loads_or_is_refused_precisely() {
    let Some(root) = bench_root() else { return };
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

fn rel_err(a: f64, b: f64) -> f64 {
    (a - b).abs() / (1.0 + b.abs())
}

#[test]
fn ir_reproduces_counterexample_outputs() {
    let Some(root) = bench_root() else { return };
    let mut checked = 0;
    let mut worst: (f64, String) = (0.0, String::new());
    for d in std::fs::read_dir(&root).unwrap().flatten() {
        let src = d.path().join("counterexamples/SOURCES.csv");
        let Ok(text) = std::fs::read_to_string(&src) else { continue };
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split(',').collect();
            let (file, onnx_rel) = (cols[0], cols[1]);
            let model = match onnx::load(&d.path().join(onnx_rel)) {
                Ok(m) => m,
                Err(e) => {
                    eprintln!("skip {file}: {e}");
                    continue;
                }
            };
            let c = cex::parse(&std::fs::read_to_string(d.path().join(file)).unwrap()).unwrap();
            assert_eq!(c.x.len(), model.input_len(), "{file}");
            assert_eq!(c.y.len(), model.output_len(), "{file}");
            let y64 = model.graph::<f64>().eval(&c.x).unwrap();
            let x32: Vec<f32> = c.x.iter().map(|&v| v as f32).collect();
            let y32 = model.graph::<f32>().eval(&x32).unwrap();
            let mut e_file = 0.0f64;
            for j in 0..c.y.len() {
                e_file = e_file.max(rel_err(y64[j], c.y[j])).max(rel_err(y32[j] as f64, c.y[j]));
            }
            if e_file > worst.0 {
                worst = (e_file, file.to_string());
            }
            assert!(e_file < 1e-4, "{}/{file}: IR output differs from the recorded Y by {e_file:e}", d.path().display());
            checked += 1;
        }
    }
    eprintln!("checked {checked} counterexamples; worst relative error {:e} ({})", worst.0, worst.1);
}
