//! Soundness of the bound engines on random DAGs, for every engine × scalar type: the deployed
//! (f32) forward value at sampled inputs always lies inside the computed bounds. Also: CROWN is
//! never looser than IBP beyond rounding, and tighter on average.

use genbab_core::bab::attack::Rng;
use genbab_core::bound::{Config, Deploy, Method, Workspace, output_bounds};
use genbab_core::num::{Fix, Scalar};
use genbab_tests::engines::plan_for;
use genbab_tests::random_dag::{OwnedGraph, random_attention, random_graph, random_relu_mlp};
use genbab_tests::sample::f32_in_box;

const GRAPHS: u64 = 40;
/// Every bound engine.
const ALL: [Method; 5] = [Method::Ibp, Method::Crown, Method::Forward, Method::IbpCrown, Method::Zonotope];
const SAMPLES: usize = 300; // × GRAPHS = 12 000 sampled inputs per engine × scalar

struct Outcome {
    width: f64,
    checked: usize,
}

/// Bound `g` (converted to `T`) over a random box, sample inputs, and check the f32 forward value
/// (the deployed network) against the bounds. Returns the summed output width.
fn check<T: Scalar>(g64: &OwnedGraph<f64>, method: Method, seed: u64, radius: f64) -> Option<Outcome> {
    let gt: OwnedGraph<T> = g64.convert();
    let g32: OwnedGraph<f32> = g64.convert();
    let g = gt.graph();
    let d = g.input_len();
    let n = g.output_len();
    let mut rng = Rng::new(seed);
    let centre: Vec<f64> = (0..d).map(|_| rng.unit() * 2.0 - 1.0).collect();
    let lo: Vec<T> = centre.iter().map(|c| T::from_f64_down(c - radius)).collect();
    let hi: Vec<T> = centre.iter().map(|c| T::from_f64_up(c + radius)).collect();
    let plan = plan_for(&g, 8, method)?;
    let mut buf = vec![T::ZERO; plan.scalars()];
    let mut flags = vec![false; plan.flags()];
    let mut ws = Workspace::new(plan, &mut buf, &mut flags).ok()?;
    let cfg = Config { method, deploy: Deploy::F32 };
    let (mut olo, mut ohi, mut rows) = (vec![T::ZERO; n], vec![T::ZERO; n], vec![T::ZERO; n * n]);
    // Fixed point may legitimately overflow on a wide random net: that must be an error, and then
    // there is nothing to check.
    output_bounds(&mut ws, &g, &lo, &hi, &cfg, &mut rows, &mut olo, &mut ohi).ok()?;
    let g32g = g32.graph();
    let mut vals = vec![0.0f32; g32g.total_len()];
    let mut checked = 0;
    for s in 0..SAMPLES {
        let x: Vec<f32> = (0..d)
            .map(|i| {
                let (l, h) = (lo[i].to_f64(), hi[i].to_f64());
                // Corners and the centre first, then uniform points; rounded into the box.
                let t = match s {
                    0 => 0.0,
                    1 => 1.0,
                    2 => 0.5,
                    _ => rng.unit(),
                };
                f32_in_box(l, h, t)
            })
            .collect();
        let y = g32g.eval(&x, &mut vals).expect("forward pass");
        for j in 0..n {
            let v = y[j] as f64;
            assert!(
                olo[j].to_f64() <= v && v <= ohi[j].to_f64(),
                "{} {:?}: output {j} = {v} outside [{}, {}] (seed {seed})",
                T::NAME,
                method,
                olo[j].to_f64(),
                ohi[j].to_f64()
            );
        }
        checked += 1;
    }
    let width = (0..n).map(|j| ohi[j].to_f64() - olo[j].to_f64()).sum();
    Some(Outcome { width, checked })
}

fn suite<T: Scalar>(method: Method, radius: f64) -> (usize, usize) {
    let mut checked = 0;
    let mut graphs = 0;
    for k in 0..GRAPHS {
        let g = random_graph(1000 + k, 2 + (k as usize % 6), 1 + (k as usize % 6), 32);
        if let Some(o) = check::<T>(&g, method, 77 + k, radius) {
            checked += o.checked;
            graphs += 1;
        }
    }
    (graphs, checked)
}

#[test]
fn ibp_f64_contains_deployed_values() {
    let (g, c) = suite::<f64>(Method::Ibp, 0.3);
    assert_eq!(g as u64, GRAPHS);
    assert!(c >= 10_000, "{c}");
}

#[test]
fn crown_f64_contains_deployed_values() {
    let (g, c) = suite::<f64>(Method::Crown, 0.3);
    assert_eq!(g as u64, GRAPHS);
    assert!(c >= 10_000, "{c}");
}

#[test]
fn ibp_f32_contains_deployed_values() {
    let (g, c) = suite::<f32>(Method::Ibp, 0.3);
    assert_eq!(g as u64, GRAPHS);
    assert!(c >= 10_000);
}

#[test]
fn crown_f32_contains_deployed_values() {
    let (g, c) = suite::<f32>(Method::Crown, 0.3);
    assert_eq!(g as u64, GRAPHS);
    assert!(c >= 10_000);
}

#[test]
fn ibp_fixed_contains_deployed_values() {
    let (g, c) = suite::<Fix>(Method::Ibp, 0.3);
    // Fixed point may refuse some nets (overflow → error), never give a wrong bound.
    println!("fixed IBP: {g} of {GRAPHS} graphs bounded, {c} samples checked");
    assert!(g as u64 >= GRAPHS / 2);
}

#[test]
fn crown_fixed_contains_deployed_values() {
    let (g, c) = suite::<Fix>(Method::Crown, 0.3);
    println!("fixed CROWN: {g} of {GRAPHS} graphs bounded, {c} samples checked");
    assert!(g as u64 >= GRAPHS / 2);
}

#[test]
fn forward_f64_contains_deployed_values() {
    let (g, c) = suite::<f64>(Method::Forward, 0.3);
    assert_eq!(g as u64, GRAPHS);
    assert!(c >= 10_000, "{c}");
}

#[test]
fn forward_f32_contains_deployed_values() {
    let (g, c) = suite::<f32>(Method::Forward, 0.3);
    assert_eq!(g as u64, GRAPHS);
    assert!(c >= 10_000, "{c}");
}

#[test]
fn forward_fixed_contains_deployed_values() {
    let (g, c) = suite::<Fix>(Method::Forward, 0.3);
    println!("fixed forward: {g} of {GRAPHS} graphs bounded, {c} samples checked");
    assert!(g as u64 >= GRAPHS / 2);
}

#[test]
fn zonotope_contains_deployed_values() {
    let (g, c) = suite::<f64>(Method::Zonotope, 0.3);
    assert_eq!(g as u64, GRAPHS);
    assert!(c >= 10_000, "{c}");
    let (g, c) = suite::<f32>(Method::Zonotope, 0.3);
    assert_eq!(g as u64, GRAPHS);
    assert!(c >= 10_000, "{c}");
    let (g, _) = suite::<Fix>(Method::Zonotope, 0.3);
    assert!(g as u64 >= GRAPHS / 2);
    // Small boxes: the smooth functions get the Taylor lines (`relax::narrow`).
    for radius in [0.02, 0.001] {
        let (g, c) = suite::<f32>(Method::Zonotope, radius);
        assert_eq!(g as u64, GRAPHS);
        assert!(c >= 10_000, "{c}");
        let (g, c) = suite::<f64>(Method::Zonotope, radius);
        assert_eq!(g as u64, GRAPHS);
        assert!(c >= 10_000, "{c}");
    }
}

#[test]
fn ibp_crown_contains_deployed_values() {
    let (g, c) = suite::<f32>(Method::IbpCrown, 0.3);
    assert_eq!(g as u64, GRAPHS);
    assert!(c >= 10_000, "{c}");
    let (g, _) = suite::<Fix>(Method::IbpCrown, 0.3);
    assert!(g as u64 >= GRAPHS / 2);
}

/// Forward-mode intervals are intersected with IBP's, so the output is never looser than
/// CROWN-IBP's, and on these low-dimensional DAGs it is far tighter; full CROWN (a backward pass
/// per intermediate node, which picks each relaxation by the sign of the whole path's
/// coefficient) is tighter still (measured: summed widths 27 CROWN, 50 forward, 163 CROWN-IBP).
#[test]
fn forward_is_between_crown_ibp_and_crown() {
    let (mut fwd, mut ibp_crown, mut crown) = (0.0, 0.0, 0.0);
    for k in 0..GRAPHS {
        let g = random_graph(5000 + k, 2 + (k as usize % 6), 1 + (k as usize % 6), 32);
        let f = check::<f64>(&g, Method::Forward, 9 + k, 0.2).unwrap().width;
        let i = check::<f64>(&g, Method::IbpCrown, 9 + k, 0.2).unwrap().width;
        let c = check::<f64>(&g, Method::Crown, 9 + k, 0.2).unwrap().width;
        assert!(f <= i * (1.0 + 1e-9) + 1e-12, "graph {k}: forward {f} > CROWN-IBP {i}");
        (fwd, ibp_crown, crown) = (fwd + f, ibp_crown + i, crown + c);
    }
    let mut zono = 0.0;
    for k in 0..GRAPHS {
        let g = random_graph(5000 + k, 2 + (k as usize % 6), 1 + (k as usize % 6), 32);
        zono += check::<f64>(&g, Method::Zonotope, 9 + k, 0.2).unwrap().width;
    }
    println!(
        "summed output width: CROWN {crown:.4}, forward {fwd:.4}, zonotope {zono:.4}, CROWN-IBP {ibp_crown:.4}"
    );
    assert!(fwd < 0.5 * ibp_crown, "forward {fwd} vs CROWN-IBP {ibp_crown}");
    assert!(crown <= fwd * 1.001 && fwd < 2.5 * crown, "forward {fwd} vs CROWN {crown}");
}

#[test]
fn crown_is_never_looser_than_ibp_and_tighter_on_average() {
    let mut ratios = vec![];
    for k in 0..GRAPHS {
        let g = random_graph(5000 + k, 2 + (k as usize % 6), 1 + (k as usize % 6), 32);
        let ibp = check::<f64>(&g, Method::Ibp, 9 + k, 0.2).unwrap();
        let crown = check::<f64>(&g, Method::Crown, 9 + k, 0.2).unwrap();
        assert!(
            crown.width <= ibp.width * (1.0 + 1e-9) + 1e-12,
            "graph {k}: crown {} > ibp {}",
            crown.width,
            ibp.width
        );
        ratios.push(crown.width / ibp.width);
    }
    let mean = ratios.iter().sum::<f64>() / ratios.len() as f64;
    println!("mean CROWN/IBP output width ratio over {} random DAGs: {mean:.4}", ratios.len());
    assert!(mean < 0.95, "CROWN should be tighter on average: {mean}");
}

#[test]
fn adversarial_boxes_are_handled() {
    // Degenerate boxes, tiny radii and large magnitudes: bounds still contain the forward value,
    // or an error is returned (never a wrong bound, never a panic).
    for k in 0..10 {
        let g = random_graph(9000 + k, 3, 3, 8);
        for radius in [0.0, 1e-30, 1e-7, 10.0, 1e3] {
            for m in [Method::Crown, Method::Forward] {
                let _ = check::<f32>(&g, m, k, radius);
                let _ = check::<f64>(&g, m, k, radius);
                let _ = check::<Fix>(&g, m, k, radius);
            }
        }
    }
}

/// The engine's *own* rounding (directed ops and the a-posteriori bounds of its plain sums) is
/// covered: with the deployed network taken as exact (`Deploy::EXACT`, so no deployment margin
/// hides our errors), bounds over point and near-point boxes must contain the network's value
/// in real arithmetic (the f32 weights evaluated in f64, whose own error is ~1e-16 relative,
/// far below an f32 ulp). Half the graphs are full-precision ReLU networks, whose sums round at
/// every step. Dropping the rounding terms of the backward or IBP sums fails this.
fn own_rounding<T: Scalar>(method: Method) -> usize {
    let mut checked = 0;
    for seed in 0..60u64 {
        let mut rng = Rng::new(seed + 7000);
        let (dim, depth, width) =
            (3 + (seed % 5) as usize, 1 + (seed % 4) as usize, 8 + (seed % 25) as usize);
        let g64 = if seed % 2 == 0 {
            random_relu_mlp(seed + 7000, dim, depth, width)
        } else {
            random_graph(seed + 7000, dim, depth, width)
        };
        // The network as deployed (f32 weights), kept in f64 for the reference evaluation.
        let g32: OwnedGraph<f32> = g64.convert();
        let gref: OwnedGraph<f64> = g32.convert();
        let gt: OwnedGraph<T> = g32.convert();
        let g = gt.graph();
        let (d, n) = (g.input_len(), g.output_len());
        let Some(plan) = plan_for(&g, 8, method) else { continue };
        let mut buf = vec![T::ZERO; plan.scalars()];
        let mut flags = vec![false; plan.flags()];
        let mut ws = Workspace::new(plan, &mut buf, &mut flags).expect("workspace");
        let cfg = Config { method, deploy: Deploy::EXACT };
        let (mut olo, mut ohi, mut rows) = (vec![T::ZERO; n], vec![T::ZERO; n], vec![T::ZERO; n * n]);
        let mut vals = vec![0.0f64; gref.graph().total_len()];
        for radius in [0.0, 1e-6] {
            for _ in 0..5 {
                let x: Vec<f32> = (0..d).map(|_| (rng.unit() * 4.0 - 2.0) as f32).collect();
                let lo: Vec<T> = x.iter().map(|&v| T::from_f64_down(v as f64 - radius)).collect();
                let hi: Vec<T> = x.iter().map(|&v| T::from_f64_up(v as f64 + radius)).collect();
                if output_bounds(&mut ws, &g, &lo, &hi, &cfg, &mut rows, &mut olo, &mut ohi).is_err() {
                    continue; // e.g. fixed-point overflow: an error, never a wrong bound
                }
                let xr: Vec<f64> = x.iter().map(|&v| v as f64).collect();
                let y = gref.graph().eval(&xr, &mut vals).expect("forward pass");
                for j in 0..n {
                    assert!(
                        olo[j].to_f64() <= y[j] && y[j] <= ohi[j].to_f64(),
                        "{} {method:?} seed {seed} radius {radius}: output {j} = {} outside [{}, {}]",
                        T::NAME,
                        y[j],
                        olo[j].to_f64(),
                        ohi[j].to_f64()
                    );
                }
                checked += 1;
            }
        }
    }
    checked
}

#[test]
fn own_rounding_is_covered_f32() {
    for m in ALL {
        assert!(own_rounding::<f32>(m) >= 500, "too few boxes checked");
    }
}

#[test]
fn own_rounding_is_covered_fixed() {
    for m in ALL {
        assert!(own_rounding::<Fix>(m) >= 100, "too few boxes checked");
    }
}

/// Attention-shaped graphs lowered to products of duplicating gathers (whose operands get the
/// CROWN pass in their place; the native product is `tests/matmul.rs`): every engine × scalar type contains the deployed values, and CROWN beats IBP.
#[test]
fn attention_blocks_contain_deployed_values() {
    let (mut crown, mut ibp) = (0.0, 0.0);
    for k in 0..GRAPHS {
        let g = random_attention(3000 + k, false);
        for m in ALL {
            let w = check::<f64>(&g, m, 40 + k, 0.3).expect("f64 bounds").width;
            match m {
                Method::Crown => crown += w,
                Method::Ibp => ibp += w,
                _ => {}
            }
            check::<f32>(&g, m, 40 + k, 0.3).expect("f32 bounds");
            let _ = check::<Fix>(&g, m, 40 + k, 0.3);
        }
    }
    println!("attention blocks: summed width CROWN {crown:.4}, IBP {ibp:.4}");
    assert!(crown < 0.9 * ibp, "CROWN {crown} vs IBP {ibp}");
}

/// Every node's interval (not only the output's) contains the node's value in real arithmetic,
/// with the deployed network taken as exact, over point and near-point boxes: the intermediate
/// intervals are what the relaxations are built on, and forward-mode bounds produce them from
/// coefficients composed in plain arithmetic (dropping that composition's error term fails this).
fn node_intervals_exact<T: Scalar>(method: Method) -> usize {
    let mut checked = 0;
    for seed in 0..60u64 {
        let mut rng = Rng::new(seed + 8000);
        let (dim, depth, width) =
            (2 + (seed % 6) as usize, 1 + (seed % 5) as usize, 8 + (seed % 33) as usize);
        let g64 = if seed % 2 == 0 {
            random_relu_mlp(seed + 8000, dim, depth, width)
        } else {
            random_graph(seed + 8000, dim, depth, width)
        };
        let g32: OwnedGraph<f32> = g64.convert();
        let gref: OwnedGraph<f64> = g32.convert();
        let gt: OwnedGraph<T> = g32.convert();
        let g = gt.graph();
        let d = g.input_len();
        let Some(plan) = plan_for(&g, 8, method) else { continue };
        let mut buf = vec![T::ZERO; plan.scalars()];
        let mut flags = vec![false; plan.flags()];
        let mut ws = Workspace::new(plan, &mut buf, &mut flags).expect("workspace");
        let cfg = Config { method, deploy: Deploy::EXACT };
        let mut vals = vec![0.0f64; gref.graph().total_len()];
        for radius in [0.0, 1e-7, 1e-5, 1e-3] {
            for _ in 0..5 {
                let x: Vec<f32> = (0..d).map(|_| (rng.unit() * 4.0 - 2.0) as f32).collect();
                let lo: Vec<T> = x.iter().map(|&v| T::from_f64_down(v as f64 - radius)).collect();
                let hi: Vec<T> = x.iter().map(|&v| T::from_f64_up(v as f64 + radius)).collect();
                if !matches!(ws.node_bounds(&g, &lo, &hi, &[], &cfg, &mut Default::default()), Ok(true)) {
                    continue;
                }
                // Every corner of the box: where the network is linear on the box, the extremes
                // of every node are attained there and a tight bound meets them up to rounding.
                let (l, h) = ws.all_bounds();
                for c in 0..1usize << d {
                    let xr: Vec<f64> = (0..d)
                        .map(|i| if c >> i & 1 == 1 { hi[i].to_f64() } else { lo[i].to_f64() })
                        .collect();
                    gref.graph().eval(&xr, &mut vals).expect("forward pass");
                    for (k, &v) in vals.iter().enumerate() {
                        assert!(
                            l[k].to_f64() <= v && v <= h[k].to_f64(),
                            "{} {method:?} seed {seed} radius {radius}: value {k} = {v} outside [{}, {}]",
                            T::NAME,
                            l[k].to_f64(),
                            h[k].to_f64()
                        );
                    }
                }
                checked += 1;
            }
        }
    }
    checked
}

#[test]
fn node_intervals_contain_exact_values() {
    for m in ALL {
        assert!(node_intervals_exact::<f32>(m) >= 700, "too few boxes checked");
        assert!(node_intervals_exact::<Fix>(m) >= 100, "too few boxes checked");
    }
}
