//! The error model of deployed elementwise functions (`genbab_core::relax::deployed::bound`) against
//! onnxruntime's CPU float32 kernels: for every sample (function, x, ort(x)) of
//! `fixtures/ort_function_samples.csv` (written by `fixtures/gen_ort_samples.py`: the worst points
//! of dense scans near the kernels' worst areas, their clamp and saturation points, and random
//! points over each domain),
//! `|ort(x) − f(x)| ≤ rel·|f(x)| + abs + abs_x·min(|x|, x_cap)` with `f` the f64 reference
//! `relax::value` (plus a few f64 ulps of slack for the reference itself).
//!
//! The test prints, per function, the largest error / bound ratio: how much of each model the
//! samples use.

use std::collections::BTreeMap;
use std::path::Path;

use genbab_core::graph::Unary;
use genbab_core::relax::{deployed, value};

/// Fewest samples per function, so the check cannot pass vacuously.
const MIN_ROWS: usize = 1000;

const FUNCTIONS: [(&str, Unary); 10] = [
    ("Sigmoid", Unary::Sigmoid),
    ("Tanh", Unary::Tanh),
    ("Exp", Unary::Exp),
    ("Log", Unary::Log),
    ("Sqrt", Unary::Sqrt),
    ("Reciprocal", Unary::Reciprocal),
    ("Sin", Unary::Sin),
    ("Cos", Unary::Cos),
    ("Gelu", Unary::Gelu),
    ("GeluTanh", Unary::GeluTanh),
];

/// Per function: rows, violations, and the largest error / bound with its row.
#[derive(Default)]
struct Usage {
    rows: usize,
    violations: usize,
    worst: f64,
    worst_row: Option<(f32, f32, f64, f64)>,
}

#[test]
fn deployed_error_model_covers_onnxruntime() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/ort_function_samples.csv");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("function,x,ort"), "{}: unexpected header", path.display());

    let mut usage: BTreeMap<&str, Usage> = FUNCTIONS.iter().map(|&(n, _)| (n, Usage::default())).collect();
    let mut failures = Vec::new();
    for (i, line) in lines.enumerate() {
        let c: Vec<&str> = line.split(',').collect();
        assert_eq!(c.len(), 3, "line {}: {line:?}", i + 2);
        let (name, f) = *FUNCTIONS
            .iter()
            .find(|(n, _)| *n == c[0])
            .unwrap_or_else(|| panic!("line {}: unknown function {:?}", i + 2, c[0]));
        // f64 → f32: the values are written as the exact f64 of an f32.
        let x = c[1].parse::<f64>().unwrap_or_else(|e| panic!("line {}: x {:?}: {e}", i + 2, c[1])) as f32;
        let ort =
            c[2].parse::<f64>().unwrap_or_else(|e| panic!("line {}: ort {:?}: {e}", i + 2, c[2])) as f32;
        assert_eq!(x as f64, c[1].parse::<f64>().unwrap(), "line {}: x is not a float32", i + 2);
        assert_eq!(ort as f64, c[2].parse::<f64>().unwrap(), "line {}: ort is not a float32", i + 2);

        let xf = x as f64;
        let reference = value(f, xf);
        let m = deployed::bound(f);
        let bound = m.rel * reference.abs()
            + m.abs
            + m.abs_x * xf.abs().min(m.x_cap)
            + 4.0 * f64::EPSILON * reference.abs()
            + 1e-300;
        let err = (ort as f64 - reference).abs();
        let u = usage.get_mut(name).unwrap();
        u.rows += 1;
        let ratio = err / bound;
        if ratio > u.worst || ratio.is_nan() {
            u.worst = if ratio.is_nan() { f64::INFINITY } else { ratio };
            u.worst_row = Some((x, ort, reference, bound));
        }
        if err.is_nan() || err > bound {
            u.violations += 1;
            failures.push((name, format!(
                "{name}: x = {x:e} ({xf:?}), ort = {ort:e}, reference = {reference:e}, |ort - reference| = {err:e} > bound = {bound:e} ({m:?})"
            )));
        }
    }

    eprintln!("largest |ort - f| / bound per function (how much of each error model the samples use):");
    for (name, u) in &usage {
        let at = match u.worst_row {
            Some((x, ort, r, b)) => format!(" at x = {x:e} (ort {ort:e}, f {r:e}, bound {b:e})"),
            None => String::new(),
        };
        eprintln!("  {name:<10} {:>5} rows, {:>4} over, max ratio {:.4}{at}", u.rows, u.violations, u.worst);
    }
    for (name, u) in &usage {
        assert!(u.rows >= MIN_ROWS, "{name}: only {} rows in {} (need {MIN_ROWS})", u.rows, path.display());
    }
    if !failures.is_empty() {
        // The first few of each function.
        const SHOWN: usize = 10;
        for (name, u) in usage.iter().filter(|(_, u)| u.violations > 0) {
            for (_, s) in failures.iter().filter(|(n, _)| n == name).take(SHOWN) {
                eprintln!("{s}");
            }
            if u.violations > SHOWN {
                eprintln!("{name}: ... and {} more", u.violations - SHOWN);
            }
        }
        panic!("{} samples exceed the deployed error model", failures.len());
    }
}
