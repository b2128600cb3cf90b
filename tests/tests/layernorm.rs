//! LayerNormalization against onnxruntime 1.32 (committed fixtures from
//! `fixtures/gen_layernorm_models.py`: rank 2 and 3, the last axis, a leading axis and axis 0,
//! with and without a bias, rows under 8 elements (onnxruntime's scalar Welford kernel) and of 8
//! or more (MLAS's AVX2 kernel), inputs near 1000 with a spread of 0.01 where the one-pass
//! variance would cancel, and a Gemm → LayerNormalization → Relu → Gemm network):
//!
//! - the reference graph (what witnesses are confirmed on) gives onnxruntime's outputs bit for
//!   bit at every recorded point of the LayerNormalization models (the network's Gemms sum in
//!   onnxruntime's own order, so there it is close);
//! - the core graph's f32 evaluation (another valid deployment: its mean summed in f32, divisions
//!   by reciprocals) is inside the bounds, and close to onnxruntime's outputs where the rows are
//!   well conditioned;
//! - IBP, CROWN and α-CROWN over each model's box, in f32 and f64, contain onnxruntime's outputs
//!   at all recorded points of the box (two corners and 24 random points).

use std::collections::BTreeMap;
use std::path::Path;

use genbab_cli::onnx;
use genbab_core::bound::Method;
use genbab_core::num::Scalar;
use genbab_tests::engines::bounds;

/// An input point and onnxruntime's output there.
type Point = (Vec<f32>, Vec<f32>);

fn parse(s: &str) -> Vec<f32> {
    s.split(' ').map(|t| t.parse::<f32>().unwrap()).collect()
}

fn b<T: Scalar>(
    m: &onnx::Model,
    lo: &[f32],
    hi: &[f32],
    method: Option<Method>,
) -> Option<(Vec<f64>, Vec<f64>)> {
    let g = m.graph::<T>();
    let l: Vec<T> = lo.iter().map(|&v| T::from_f64_down(v as f64)).collect();
    let h: Vec<T> = hi.iter().map(|&v| T::from_f64_up(v as f64)).collect();
    bounds(&g.graph(), &l, &h, method)
}

#[test]
fn layernorm_models_match_onnxruntime_and_bounds_contain_it() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/layernorm");
    let boxes: BTreeMap<String, (Vec<f32>, Vec<f32>)> = std::fs::read_to_string(dir.join("boxes.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[0].to_string(), (parse(f[1]), parse(f[2])))
        })
        .collect();
    let mut points: BTreeMap<String, Vec<Point>> = BTreeMap::new();
    for l in std::fs::read_to_string(dir.join("ort_outputs.csv")).unwrap().lines().skip(1) {
        let f: Vec<&str> = l.split(',').collect();
        points.entry(f[0].to_string()).or_default().push((parse(f[2]), parse(f[3])));
    }
    assert_eq!(points.len(), 9);
    let mut checked = 0;
    for (name, pts) in &points {
        let model = onnx::load(&dir.join(name)).unwrap_or_else(|e| panic!("{e}"));
        let (lo, hi) = &boxes[name];
        let well_conditioned = !name.contains("cancel");
        let mut enclosures = vec![];
        for method in [Some(Method::Ibp), Some(Method::Crown), None] {
            enclosures.push((format!("{method:?} f32"), b::<f32>(&model, lo, hi, method)));
            enclosures.push((format!("{method:?} f64"), b::<f64>(&model, lo, hi, method)));
        }
        let mut widths = vec![];
        for (what, e) in &enclosures {
            let (l, h) = e.as_ref().unwrap_or_else(|| panic!("{name}: {what} failed"));
            widths.push(format!("{what} {:.3}", l.iter().zip(h).map(|(a, b)| b - a).sum::<f64>()));
        }
        eprintln!("{name}: summed output widths {}", widths.join(", "));
        for (k, (x, want)) in pts.iter().enumerate() {
            let r = model.reference.eval(x).unwrap();
            if name.starts_with("ln_") {
                assert_eq!(&r, want, "{name} point {k}: the reference is not onnxruntime's value");
            } else {
                // onnxruntime's Gemm sums in its own order: close, not bit for bit.
                for (a, w) in r.iter().zip(want) {
                    assert!((a - w).abs() <= 1e-5 * (1.0 + w.abs()), "{name} point {k}: {a} vs {w}");
                }
            }
            let y = model.graph::<f32>().eval(x).unwrap();
            for (j, w) in want.iter().enumerate() {
                if well_conditioned {
                    assert!(
                        (y[j] - w).abs() <= 1e-5 * (1.0 + w.abs()),
                        "{name} point {k}: Y_{j} {} vs {w}",
                        y[j]
                    );
                }
                for (what, e) in &enclosures {
                    let (l, h) = e.as_ref().unwrap();
                    for v in [*w as f64, y[j] as f64] {
                        assert!(
                            l[j] <= v && v <= h[j],
                            "{name} point {k} {what}: Y_{j} = {v} outside [{}, {}]",
                            l[j],
                            h[j]
                        );
                    }
                }
                checked += 1;
            }
        }
    }
    eprintln!("{checked} onnxruntime outputs checked");
}
