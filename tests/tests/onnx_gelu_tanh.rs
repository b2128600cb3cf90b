//! The tanh-approximated GeLU end to end through the loader: the committed MLP
//! `fixtures/gelu_tanh/mlp.onnx` (two ONNX `Gelu(approximate="tanh")` layers, opset 20; written by
//! `fixtures/gen_gelu_tanh_model.py`) lowers to `Unary::GeluTanh`, evaluates (core IR in f32, and
//! the reference graph) to onnxruntime's recorded outputs, and its certified bounds — IBP, CROWN
//! and α-CROWN in f32, f64 and Q16.16, over each recorded input and a small box around it —
//! contain onnxruntime's output there. (`host-cli/tests/cli.rs` checks `genbab verify`'s verdicts
//! on the fixture's two properties.)

use genbab_cli::onnx;
use genbab_core::bound::Method;
use genbab_core::graph::{Op, Unary};
use genbab_core::num::{Fix, Scalar};
use genbab_tests::engines::bounds;

#[test]
fn gelu_tanh_mlp_matches_onnxruntime_and_its_bounds_contain_it() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/gelu_tanh");
    let text = std::fs::read_to_string(dir.join("ort_outputs.csv")).unwrap();
    let parse = |s: &str| s.split(' ').map(|t| t.parse::<f32>().unwrap()).collect::<Vec<f32>>();
    let model = onnx::load(&dir.join("mlp.onnx")).unwrap_or_else(|e| panic!("{e}"));
    let gelus = model.nodes.iter().filter(|n| matches!(n.op, Op::Unary { f: Unary::GeluTanh, .. })).count();
    assert_eq!(gelus, 2, "{:?}", model.nodes);
    assert!(!model.nodes.iter().any(|n| matches!(n.op, Op::Unary { f: Unary::Gelu, .. })));
    let mut checked = 0;
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(f[0], "mlp.onnx");
        let (x, want) = (parse(f[2]), parse(f[3]));
        let y = model.graph::<f32>().eval(&x).unwrap();
        let yr = model.reference.eval(&x).unwrap();
        assert_eq!(y.len(), want.len());
        for j in 0..y.len() {
            let tol = 1e-5 * (1.0 + want[j].abs());
            assert!(
                (y[j] - want[j]).abs() <= tol && (yr[j] - want[j]).abs() <= tol,
                "point {}: Y_{j} = {} (reference {}) vs onnxruntime {}",
                f[1],
                y[j],
                yr[j],
                want[j]
            );
        }
        for r in [0.0, 1e-3, 0.05] {
            let xl: Vec<f64> = x.iter().map(|&v| v as f64 - r).collect();
            let xh: Vec<f64> = x.iter().map(|&v| v as f64 + r).collect();
            fn b<T: Scalar>(
                m: &onnx::Model,
                xl: &[f64],
                xh: &[f64],
                method: Option<Method>,
            ) -> (Vec<f64>, Vec<f64>) {
                let g = m.graph::<T>();
                let lo: Vec<T> = xl.iter().map(|&v| T::from_f64_down(v)).collect();
                let hi: Vec<T> = xh.iter().map(|&v| T::from_f64_up(v)).collect();
                bounds(&g.graph(), &lo, &hi, method).expect("bounded")
            }
            for method in [Some(Method::Ibp), Some(Method::Crown), None] {
                for (name, (lo, hi)) in [
                    ("f32", b::<f32>(&model, &xl, &xh, method)),
                    ("f64", b::<f64>(&model, &xl, &xh, method)),
                    ("Q16.16", b::<Fix>(&model, &xl, &xh, method)),
                ] {
                    for j in 0..want.len() {
                        let v = want[j] as f64;
                        assert!(
                            lo[j] <= v && v <= hi[j],
                            "point {} {name} {method:?} r={r}: Y_{j} = {v} outside [{}, {}]",
                            f[1],
                            lo[j],
                            hi[j]
                        );
                    }
                    checked += 1;
                }
            }
        }
    }
    assert_eq!(checked, 9 * 3 * 3 * 3);
}
