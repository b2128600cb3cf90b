//! The native convolution, tried against what it must equal:
//!
//! - its forward value is bit for bit the dense twin's (the same map as an Affine built from the
//!   definition of a convolution), on random geometries (1-D and 2-D; strides, pads, dilations,
//!   groups);
//! - IBP and CROWN in f32, f64 and Q16.16 contain the deployed f32 value at sampled inputs, summed
//!   in the core's order *and* in another order (reversed taps, bias last), since onnxruntime's
//!   order is not ours;
//! - CROWN on the native op is never looser than on the dense twin (beyond rounding);
//! - ONNX models with Conv, with token-wise MatMuls lowered to grouped 1 × 1 convolutions, with
//!   average pooling (a unit-weight depthwise convolution and a division), with max pooling and
//!   Max/Min (pairwise maxima), and with MatMuls of two variables (committed fixtures from `fixtures/gen_conv_models.py`)
//!   evaluate to onnxruntime's outputs, and their certified bounds contain onnxruntime's outputs.

use genbab_cli::onnx;
use genbab_core::bab::attack::Rng;
use genbab_core::bound::Method;
use genbab_core::graph::{Graph, Op};
use genbab_core::num::{Fix, Scalar};
use genbab_core::ops::conv::ConvGeom;
use genbab_tests::engines::{bounds, check_deployments};
use genbab_tests::random_dag::{OwnedGraph, random_cnn};

const GRAPHS: u64 = 60;

/// The f32 forward pass with every convolution summed in another order than the core's: the taps
/// reversed and the bias added last (any order is a valid deployment).
fn eval_other_order(g: &Graph<'_, f32>, x: &[f32]) -> Vec<f32> {
    let mut vals: Vec<Vec<f32>> = Vec::new();
    for node in g.nodes {
        let v = match node.op {
            Op::Conv { x: xi, w, b, geom } => {
                let cg =
                    ConvGeom::decode(&g.indices[geom as usize..geom as usize + ConvGeom::WORDS]).unwrap();
                let (xv, w, b) = (&vals[xi as usize], &g.weights[w.range()], &g.weights[b.range()]);
                (0..node.len as usize)
                    .map(|k| {
                        let mut taps = vec![];
                        cg.for_each_tap(k, |j, i| taps.push((j, i)));
                        let mut acc = 0.0f32;
                        for &(j, i) in taps.iter().rev() {
                            acc += w[i] * xv[j];
                        }
                        if b.is_empty() { acc } else { acc + b[cg.channel(k)] }
                    })
                    .collect()
            }
            _ => one_node(g, vals.len(), &vals, x),
        };
        vals.push(v);
    }
    vals.swap_remove(g.output as usize)
}

/// Node `i` of `g` (not a Conv) evaluated on the operand values `vals` as the core computes it
/// (the functions through a one-node graph).
fn one_node(g: &Graph<'_, f32>, i: usize, vals: &[Vec<f32>], x: &[f32]) -> Vec<f32> {
    use genbab_core::graph::{Node, Unary};
    let node = g.nodes[i];
    let v = |n: u16| &vals[n as usize];
    match node.op {
        Op::Input => x.to_vec(),
        Op::Unary { x: xi, f } => v(xi)
            .iter()
            .map(|&t| match f {
                Unary::Relu => t.max(0.0),
                _ => {
                    let nodes = [Node { op: Op::Input, len: 1 }, Node { op: Op::Unary { x: 0, f }, len: 1 }];
                    let one = Graph { nodes: &nodes, weights: &[], indices: &[], output: 1 };
                    let mut buf = [0.0f32; 2];
                    one.eval(&[t], &mut buf).unwrap()[0]
                }
            })
            .collect(),
        Op::Add { a, b } => v(a).iter().zip(v(b)).map(|(p, q)| p + q).collect(),
        Op::Affine { x: xi, w, b } => {
            let (xv, w, b) = (v(xi), &g.weights[w.range()], &g.weights[b.range()]);
            (0..node.len as usize)
                .map(|k| {
                    let mut acc = if b.is_empty() { 0.0 } else { b[k] };
                    for (wj, xj) in w[k * xv.len()..(k + 1) * xv.len()].iter().zip(xv) {
                        acc += wj * xj;
                    }
                    acc
                })
                .collect()
        }
        op => panic!("random_cnn does not make {op:?}"),
    }
}

/// Bound the conv net in `T` by `method` over a random box of radius 0.25; deployed values in both
/// summation orders must lie inside. The summed output width, or None if `T` refused.
fn check<T: Scalar>(conv: &OwnedGraph<f64>, method: Method, seed: u64) -> Option<f64> {
    check_deployments::<T>(conv, Some(method), seed, 0.25, eval_other_order)
}

#[test]
fn conv_forward_is_the_dense_twins_bit_for_bit() {
    let mut convs = 0;
    for k in 0..GRAPHS {
        let (conv, twin) = random_cnn(500 + k);
        convs += conv.nodes.iter().filter(|n| matches!(n.op, Op::Conv { .. })).count();
        let (c32, t32): (OwnedGraph<f32>, OwnedGraph<f32>) = (conv.convert(), twin.convert());
        c32.graph().validate().unwrap();
        let mut rng = Rng::new(k);
        for _ in 0..20 {
            let x: Vec<f32> = (0..c32.graph().input_len()).map(|_| (rng.unit() * 4.0 - 2.0) as f32).collect();
            let (a, b) = (c32.eval(&x).unwrap(), t32.eval(&x).unwrap());
            assert_eq!(a, b, "graph {k}");
        }
    }
    assert!(convs >= GRAPHS as usize, "only {convs} convolutions");
}

fn suite<T: Scalar>(method: Method) -> usize {
    let mut bounded = 0;
    for k in 0..GRAPHS {
        let (conv, _) = random_cnn(500 + k);
        bounded += usize::from(check::<T>(&conv, method, 900 + k).is_some());
    }
    bounded
}

#[test]
fn ibp_and_crown_contain_deployed_values_f64() {
    assert_eq!(suite::<f64>(Method::Ibp), GRAPHS as usize);
    assert_eq!(suite::<f64>(Method::Crown), GRAPHS as usize);
}

#[test]
fn ibp_and_crown_contain_deployed_values_f32() {
    assert_eq!(suite::<f32>(Method::Ibp), GRAPHS as usize);
    assert_eq!(suite::<f32>(Method::Crown), GRAPHS as usize);
}

#[test]
fn ibp_and_crown_contain_deployed_values_fixed() {
    // Fixed point may refuse a net (overflow is an error), never give a wrong bound.
    let n = suite::<Fix>(Method::Ibp) + suite::<Fix>(Method::Crown);
    assert!(n >= GRAPHS as usize, "fixed point bounded only {n} of {} runs", 2 * GRAPHS);
}

/// CROWN through the native op is as tight as through the dense matrix: the same linear map, whose
/// rounding terms count a row's taps rather than all inputs. Tighter intermediate intervals can
/// flip a ReLU's adaptive lower line, so a single graph may come out a hair looser (seen: 9e-6
/// relative); over all graphs it must not be, and it must beat IBP clearly.
#[test]
fn crown_native_is_not_looser_than_dense() {
    let (mut native, mut dense, mut ibp) = (0.0, 0.0, 0.0);
    for k in 0..GRAPHS {
        let (conv, twin) = random_cnn(500 + k);
        let w = |g: &OwnedGraph<f64>, m| check::<f64>(g, m, 900 + k).unwrap();
        let (a, b) = (w(&conv, Method::Crown), w(&twin, Method::Crown));
        assert!(a <= b * (1.0 + 1e-4) + 1e-12, "graph {k}: native {a} > dense {b}");
        native += a;
        dense += b;
        ibp += w(&conv, Method::Ibp);
    }
    assert!(native <= dense, "native {native} > dense {dense}");
    assert!(native < 0.9 * ibp, "CROWN {native} vs IBP {ibp}");
    eprintln!("summed widths: native CROWN {native:.4}, dense CROWN {dense:.4}, IBP {ibp:.4}");
}

/// The committed ONNX fixtures: the lowered model (core IR in f32, and the reference graph) agrees
/// with onnxruntime to float32 accuracy, and bounds over a small box around each recorded input —
/// in f32, f64 and Q16.16 — contain onnxruntime's output (its own summation order) there.
#[test]
fn onnx_conv_models_match_onnxruntime() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/conv");
    let text = std::fs::read_to_string(dir.join("ort_outputs.csv")).unwrap();
    let parse = |s: &str| s.split(' ').map(|t| t.parse::<f32>().unwrap()).collect::<Vec<f32>>();
    let mut checked = 0;
    let mut models = std::collections::BTreeSet::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let model = onnx::load(&dir.join(f[0])).unwrap_or_else(|e| panic!("{e}"));
        // Every fixture has a native Conv or MatMul, or is one of the max-pooling ones.
        let native = |n: &genbab_core::graph::Node| matches!(n.op, Op::Conv { .. } | Op::MatMul { .. });
        assert!(model.nodes.iter().any(native) || f[0].starts_with("maxpool"), "{}: no native op", f[0]);
        models.insert(f[0].to_string());
        let (x, want) = (parse(f[2]), parse(f[3]));
        let y = model.graph::<f32>().eval(&x).unwrap();
        let yr = model.reference.eval(&x).unwrap();
        assert_eq!(y.len(), want.len(), "{}", f[0]);
        for j in 0..y.len() {
            let tol = 1e-5 * (1.0 + want[j].abs());
            assert!(
                (y[j] - want[j]).abs() <= tol && (yr[j] - want[j]).abs() <= tol,
                "{} point {}: Y_{j}",
                f[0],
                f[1]
            );
        }
        for r in [0.0, 1e-3] {
            let xl: Vec<f64> = x.iter().map(|&v| v as f64 - r).collect();
            let xh: Vec<f64> = x.iter().map(|&v| v as f64 + r).collect();
            let mut check = |lo: Vec<f64>, hi: Vec<f64>, name: &str| {
                for j in 0..want.len() {
                    let v = want[j] as f64;
                    assert!(
                        lo[j] <= v && v <= hi[j],
                        "{} point {} {name} r={r}: Y_{j} = {v} outside [{}, {}]",
                        f[0],
                        f[1],
                        lo[j],
                        hi[j]
                    );
                }
                checked += 1;
            };
            fn b<T: Scalar>(m: &onnx::Model, xl: &[f64], xh: &[f64], method: Method) -> (Vec<f64>, Vec<f64>) {
                let g = m.graph::<T>();
                let lo: Vec<T> = xl.iter().map(|&v| T::from_f64_down(v)).collect();
                let hi: Vec<T> = xh.iter().map(|&v| T::from_f64_up(v)).collect();
                bounds(&g.graph(), &lo, &hi, Some(method)).expect("bounded")
            }
            for method in [Method::Ibp, Method::Crown] {
                let (l, h) = b::<f32>(&model, &xl, &xh, method);
                check(l, h, "f32");
                let (l, h) = b::<f64>(&model, &xl, &xh, method);
                check(l, h, "f64");
                let (l, h) = b::<Fix>(&model, &xl, &xh, method);
                check(l, h, "Q16.16");
            }
        }
    }
    assert_eq!(models.len(), 14);
    assert_eq!(checked, 14 * 6 * 2 * 2 * 3);
}
