//! The native product of two variable matrices, tried against its lowered twin (the same
//! attention block as gathers, elementwise products and sums) and against deployed values:
//!
//! - the forward value is bit for bit the twin's;
//! - IBP and CROWN in f32, f64 and Q16.16, and α-CROWN in f64 and f32, contain the deployed f32
//!   value at sampled inputs, with the dot products summed in the core's order *and* in reverse
//!   with fused multiply-adds (onnxruntime's kernels may do either);
//! - CROWN on the native op is as tight as on the twin, α-CROWN (whose product parameters now
//!   reach every term) tightens it, and IBP is looser.

use genbab_core::bab::attack::Rng;
use genbab_core::bound::Method;
use genbab_core::graph::{Graph, Op};
use genbab_core::num::{Fix, Scalar};
use genbab_core::ops::matmul::MatMulDims;
use genbab_tests::engines::{bounds, check_deployments};
use genbab_tests::random_dag::{OwnedGraph, random_attention};

const GRAPHS: u64 = 60;

/// The f32 forward pass with every matrix product summed in reverse with fused multiply-adds;
/// the other nodes (affine, unary and gather ops in `random_attention`) as the core computes them,
/// each through a one-node graph over its operand's values.
fn eval_fma_reversed(g: &Graph<'_, f32>, x: &[f32]) -> Vec<f32> {
    use genbab_core::graph::Node;
    if !g.nodes.iter().any(|n| matches!(n.op, Op::MatMul { .. })) {
        // The lowered twin: its products are rounded one by one, its sums in map order.
        let mut buf = vec![0.0f32; g.total_len()];
        return g.eval(x, &mut buf).unwrap().to_vec();
    }
    let mut vals: Vec<Vec<f32>> = vec![];
    for node in g.nodes {
        let v = match node.op {
            Op::Input => x.to_vec(),
            Op::MatMul { a, b, n, k } => {
                let (va, vb) = (&vals[a as usize], &vals[b as usize]);
                let d =
                    MatMulDims::new(va.len(), vb.len(), node.len as usize, n as usize, k as usize).unwrap();
                (0..node.len as usize)
                    .map(|o| {
                        (0..d.k).rev().fold(0.0f32, |acc, l| {
                            let (ia, ib) = d.operands(o, l);
                            va[ia].mul_add(vb[ib], acc)
                        })
                    })
                    .collect()
            }
            op => {
                let (xi, op) = match op {
                    Op::Unary { x, f } => (x, Op::Unary { x: 0, f }),
                    Op::Affine { x, w, b } => (x, Op::Affine { x: 0, w, b }),
                    Op::Gather { x, idx } => (x, Op::Gather { x: 0, idx }),
                    op => panic!("random_attention does not make {op:?}"),
                };
                let xv = &vals[xi as usize];
                let nodes = [Node { op: Op::Input, len: xv.len() as u32 }, Node { op, len: node.len }];
                let one = Graph { nodes: &nodes, weights: g.weights, indices: g.indices, output: 1 };
                let mut buf = vec![0.0f32; one.total_len()];
                one.eval(xv, &mut buf).unwrap().to_vec()
            }
        };
        vals.push(v);
    }
    vals.swap_remove(g.output as usize)
}

/// Bounds of the attention graph in `T` (`method`, or α-CROWN for `None`) over a random box of
/// radius 0.3; deployed values in both orders must lie inside. The summed output width, or None
/// if `T` refused.
fn check<T: Scalar>(g64: &OwnedGraph<f64>, method: Option<Method>, seed: u64) -> Option<f64> {
    check_deployments::<T>(g64, method, seed, 0.3, eval_fma_reversed)
}

#[test]
fn native_forward_is_the_lowered_twins_bit_for_bit() {
    for k in 0..GRAPHS {
        let (native, twin) = (random_attention(700 + k, true), random_attention(700 + k, false));
        assert_eq!(native.nodes.iter().filter(|n| matches!(n.op, Op::MatMul { .. })).count(), 2);
        let (n32, t32): (OwnedGraph<f32>, OwnedGraph<f32>) = (native.convert(), twin.convert());
        n32.graph().validate().unwrap();
        let mut rng = Rng::new(k);
        for _ in 0..20 {
            let x: Vec<f32> = (0..n32.graph().input_len()).map(|_| (rng.unit() * 4.0 - 2.0) as f32).collect();
            assert_eq!(n32.eval(&x).unwrap(), t32.eval(&x).unwrap(), "graph {k}");
        }
    }
}

fn suite<T: Scalar>(method: Option<Method>) -> usize {
    (0..GRAPHS).filter(|&k| check::<T>(&random_attention(700 + k, true), method, 50 + k).is_some()).count()
}

#[test]
fn engines_contain_deployed_values_f64() {
    for m in [Some(Method::Ibp), Some(Method::Crown), None] {
        assert_eq!(suite::<f64>(m), GRAPHS as usize, "{m:?}");
    }
}

#[test]
fn engines_contain_deployed_values_f32() {
    for m in [Some(Method::Ibp), Some(Method::Crown), None] {
        assert_eq!(suite::<f32>(m), GRAPHS as usize, "{m:?}");
    }
}

#[test]
fn engines_contain_deployed_values_fixed() {
    // Fixed point may refuse a net (overflow is an error), never give a wrong bound.
    let n = suite::<Fix>(Some(Method::Ibp)) + suite::<Fix>(Some(Method::Crown));
    assert!(n >= GRAPHS as usize, "fixed point bounded only {n} of {} runs", 2 * GRAPHS);
}

/// Native CROWN is as tight as the twin's (the same planes; one γ over each dot product instead
/// of one per product and one per sum), α-CROWN tightens it, IBP is looser.
#[test]
fn native_is_as_tight_as_the_twin_and_alpha_tightens_it() {
    let (mut native, mut twin, mut alpha, mut ibp) = (0.0, 0.0, 0.0, 0.0);
    for k in 0..GRAPHS {
        let (gn, gt) = (random_attention(700 + k, true), random_attention(700 + k, false));
        let a = check::<f64>(&gn, Some(Method::Crown), 50 + k).unwrap();
        let b = check::<f64>(&gt, Some(Method::Crown), 50 + k).unwrap();
        let c = check::<f64>(&gn, None, 50 + k).unwrap();
        assert!(a <= b * (1.0 + 1e-4) + 1e-12, "graph {k}: native {a} > twin {b}");
        assert!(c <= a * (1.0 + 1e-9) + 1e-12, "graph {k}: α {c} > CROWN {a}");
        native += a;
        twin += b;
        alpha += c;
        ibp += check::<f64>(&gn, Some(Method::Ibp), 50 + k).unwrap();
    }
    eprintln!(
        "summed widths: native CROWN {native:.4}, twin CROWN {twin:.4}, native α {alpha:.4}, IBP {ibp:.4}"
    );
    assert!(native <= twin, "native {native} > twin {twin}");
    assert!(alpha < 0.99 * native, "α {alpha} vs CROWN {native}");
    assert!(native < 0.9 * ibp, "CROWN {native} vs IBP {ibp}");
}

/// Point and near-point boxes, where the relaxations are (almost) exact and only rounding is left:
/// the bounds still contain the deployed values in both summation orders (dropping the dot
/// product's summation error from the op's interval fails this).
#[test]
fn point_boxes_contain_deployed_values_in_any_order() {
    let mut checked = 0;
    for k in 0..200u64 {
        let g64 = random_attention(9000 + k, true);
        let g32: OwnedGraph<f32> = g64.convert();
        let g32g = g32.graph();
        let mut rng = Rng::new(k);
        for radius in [0.0, 1e-7] {
            let x: Vec<f32> = (0..g32g.input_len()).map(|_| (rng.unit() * 8.0 - 4.0) as f32).collect();
            let y = g32.eval(&x).unwrap();
            let y2 = eval_fma_reversed(&g32g, &x);
            for method in [Method::Ibp, Method::Crown] {
                let lo: Vec<f32> = x.iter().map(|&v| f32::from_f64_down(v as f64 - radius)).collect();
                let hi: Vec<f32> = x.iter().map(|&v| f32::from_f64_up(v as f64 + radius)).collect();
                let (l, h) = bounds(&g32g, &lo, &hi, Some(method)).expect("bounded");
                for j in 0..y.len() {
                    for v in [y[j] as f64, y2[j] as f64] {
                        assert!(
                            l[j] <= v && v <= h[j],
                            "graph {k} {method:?} r={radius}: Y_{j} = {v} outside [{}, {}]",
                            l[j],
                            h[j]
                        );
                    }
                }
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 800);
}

/// One dot product built to lose its small terms: `1 + Σ 2^-25` summed from the left in f32 is
/// exactly 1, while the real value is larger by more than all products' own rounding margins.
/// The bounds must still contain the deployed 1 (the summation error is the op's to charge).
#[test]
fn a_dot_product_that_loses_its_small_terms_is_covered() {
    use genbab_core::graph::{Node, Span};
    let k = 33usize;
    let idx: Vec<u32> = (0..2 * k as u32).collect();
    let nodes = [
        Node { op: Op::Input, len: 2 * k as u32 },
        Node { op: Op::Gather { x: 0, idx: Span::new(0, k as u32) }, len: k as u32 },
        Node { op: Op::Gather { x: 0, idx: Span::new(k as u32, k as u32) }, len: k as u32 },
        Node { op: Op::MatMul { a: 1, b: 2, n: 1, k: k as u32 }, len: 1 },
    ];
    let g = Graph { nodes: &nodes, weights: &[], indices: &idx, output: 3 };
    let mut x = vec![1.0f32; 2 * k];
    x[1..k].fill(2f32.powi(-25));
    let mut buf = vec![0.0f32; g.total_len()];
    assert_eq!(g.eval(&x, &mut buf).unwrap(), &[1.0]);
    let exact = 1.0 + (k - 1) as f64 * 2f64.powi(-25);
    for method in [Method::Ibp, Method::Crown] {
        let (l, h) = bounds(&g, &x, &x, Some(method)).unwrap();
        assert!(l[0] <= 1.0 && exact <= h[0], "{method:?}: [{}, {}]", l[0], h[0]);
        let g64: Vec<f64> = x.iter().map(|&v| v as f64).collect();
        let gd = Graph { nodes: &nodes, weights: &[], indices: &idx, output: 3 };
        let (l, h) = bounds(&gd, &g64, &g64, Some(method)).unwrap();
        assert!(l[0] <= 1.0 && exact <= h[0], "f64 {method:?}: [{}, {}]", l[0], h[0]);
    }
}
