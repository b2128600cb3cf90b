//! Output-cone pruning (`prune::restrict`) on random DAGs of every op kind with wide outputs and
//! random output selections (repeats and any order): the restricted graph computes the selected
//! outputs bit for bit, its IBP output intervals are the original's bit for bit, its CROWN bounds
//! are sound and never looser than the original's, and it is smaller.

use genbab_core::bab::attack::Rng;
use genbab_core::bound::{Config, Deploy, Method, Plan, Saves, Workspace, output_bounds};
use genbab_core::graph::Op;
use genbab_core::num::Scalar;
use genbab_core::prune::restrict;
use genbab_tests::random_dag::{OwnedGraph, random_wide_graph};

const GRAPHS: u64 = 300;

/// Graph `seed`, a random selection of its outputs (1–4, possibly repeated, any order) and a box.
struct Case {
    g: OwnedGraph<f64>,
    outputs: Vec<usize>,
    centre: Vec<f64>,
    radius: f64,
}

fn case(seed: u64) -> Case {
    let mut rng = Rng::new(seed.wrapping_mul(0x9e37_79b9) ^ 77);
    let dim = 2 + (rng.next_u64() % 4) as usize;
    let depth = 2 + (rng.next_u64() % 5) as usize;
    let g = random_wide_graph(seed, dim, depth, 7);
    let n = g.graph().output_len();
    let k = 1 + (rng.next_u64() % 4) as usize;
    let mut outputs: Vec<usize> = (0..k).map(|_| (rng.next_u64() % n as u64) as usize).collect();
    if rng.next_u64().is_multiple_of(2) {
        outputs.sort_unstable();
        outputs.dedup();
    }
    let centre = (0..dim).map(|_| rng.unit() * 2.0 - 1.0).collect();
    let radius = [0.01, 0.1, 0.5][(rng.next_u64() % 3) as usize];
    Case { g, outputs, centre, radius }
}

fn bits<T: Scalar>(v: &[T]) -> Vec<u64> {
    v.iter().map(|x| x.to_f64().to_bits()).collect()
}

/// Output bounds of `g` over the case's box, or `None` when the engine declines (a random net
/// may leave a domain, e.g. overflow); then the restricted graph must decline too or be checked.
fn bounds<T: Scalar>(g: &OwnedGraph<T>, c: &Case, cfg: &Config) -> Option<(Vec<T>, Vec<T>)> {
    let g = g.graph();
    let n = g.output_len();
    let lo: Vec<T> = c.centre.iter().map(|v| T::from_f64_down(v - c.radius)).collect();
    let hi: Vec<T> = c.centre.iter().map(|v| T::from_f64_up(v + c.radius)).collect();
    let plan = Plan::new(&g, 8).unwrap();
    let (mut scalars, mut flags) = (vec![T::ZERO; plan.scalars()], vec![false; plan.flags()]);
    let mut ws = Workspace::new(plan, &mut scalars, &mut flags).unwrap();
    let (mut l, mut h, mut rows) = (vec![T::ZERO; n], vec![T::ZERO; n], vec![T::ZERO; n * n]);
    output_bounds(&mut ws, &g, &lo, &hi, cfg, &mut rows, &mut l, &mut h).ok()?;
    Some((l, h))
}

#[test]
fn forward_values_are_bit_identical_and_the_graph_shrinks() {
    let (mut fewer_nodes, mut fewer_values) = (0, 0);
    for seed in 0..GRAPHS {
        let c = case(seed);
        let g32: OwnedGraph<f32> = c.g.convert();
        let r64 = restrict(&c.g.graph(), &c.outputs).unwrap();
        let r32 = restrict(&g32.graph(), &c.outputs).unwrap();
        // Restriction commutes with the conversion of the weights.
        assert_eq!(r64.convert::<f32>(), r32, "seed {seed}");
        assert_eq!(r64.nodes[0], c.g.nodes[0], "seed {seed}: the input changed");
        assert_eq!(r64.graph().output_len(), c.outputs.len());
        let (v0, v1) = (c.g.graph().total_len(), r64.graph().total_len());
        // At most the original plus the Gather that orders the selection.
        assert!(v1 <= v0 + c.outputs.len(), "seed {seed}: {v1} values from {v0}");
        fewer_nodes += usize::from(r64.nodes.len() < c.g.nodes.len());
        fewer_values += usize::from(v1 < v0);
        let mut rng = Rng::new(seed);
        for _ in 0..20 {
            let x: Vec<f64> = c.centre.iter().map(|v| v + c.radius * (2.0 * rng.unit() - 1.0)).collect();
            let y = c.g.eval(&x).unwrap();
            let want: Vec<f64> = c.outputs.iter().map(|&o| y[o]).collect();
            assert_eq!(bits(&r64.eval(&x).unwrap()), bits(&want), "seed {seed}, f64");
            let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
            let y = g32.eval(&x32).unwrap();
            let want: Vec<f32> = c.outputs.iter().map(|&o| y[o]).collect();
            assert_eq!(bits(&r32.eval(&x32).unwrap()), bits(&want), "seed {seed}, f32");
        }
    }
    // Wide outputs with few selected: most graphs lose nodes and values.
    assert!(fewer_nodes > GRAPHS as usize / 2, "only {fewer_nodes} of {GRAPHS} graphs lost nodes");
    assert!(fewer_values > GRAPHS as usize * 2 / 3, "only {fewer_values} of {GRAPHS} graphs lost values");
}

/// The output node's interval after a forward sweep (IBP, or CROWN for nodes feeding
/// nonlinearities): the bounds before `output_bounds` concretises rows `±I`, whose directed sum
/// steps one ulp per output and so depends on the output count.
fn output_interval<T: Scalar>(g: &OwnedGraph<T>, c: &Case, cfg: &Config) -> Option<(Vec<T>, Vec<T>)> {
    let g = g.graph();
    let lo: Vec<T> = c.centre.iter().map(|v| T::from_f64_down(v - c.radius)).collect();
    let hi: Vec<T> = c.centre.iter().map(|v| T::from_f64_up(v + c.radius)).collect();
    let plan = Plan::new(&g, 8).unwrap();
    let (mut scalars, mut flags) = (vec![T::ZERO; plan.scalars()], vec![false; plan.flags()]);
    let mut ws = Workspace::new(plan, &mut scalars, &mut flags).unwrap();
    if !ws.node_bounds(&g, &lo, &hi, &[], cfg, &mut Saves::default()).ok()? {
        return None;
    }
    let (l, h) = ws.interval(&g, g.output);
    Some((l.to_vec(), h.to_vec()))
}

/// IBP of the selected outputs, restricted vs original, in `T`: identical bits with exact deployed
/// arithmetic, and with f32 deployed arithmetic too when the graph has no Sum (a Sum's error term
/// counts all its terms, so a restricted Sum's is smaller).
fn ibp_identical<T: Scalar>() {
    let mut compared = 0;
    for seed in 0..GRAPHS {
        let c = case(seed);
        let gt: OwnedGraph<T> = c.g.convert();
        let r = restrict(&gt.graph(), &c.outputs).unwrap();
        let has_sum = c.g.nodes.iter().any(|n| matches!(n.op, Op::Sum { .. }));
        for deploy in [Deploy::EXACT, Deploy::F32] {
            if deploy == Deploy::F32 && has_sum {
                continue;
            }
            let cfg = Config { method: Method::Ibp, deploy };
            let (Some((l0, h0)), Some((l1, h1))) =
                (output_interval(&gt, &c, &cfg), output_interval(&r, &c, &cfg))
            else {
                continue;
            };
            let pick = |v: &[T]| c.outputs.iter().map(|&o| v[o]).collect::<Vec<T>>();
            assert_eq!(bits(&l1), bits(&pick(&l0)), "{} seed {seed} {deploy:?}: lower", T::NAME);
            assert_eq!(bits(&h1), bits(&pick(&h0)), "{} seed {seed} {deploy:?}: upper", T::NAME);
            compared += 1;
        }
    }
    assert!(compared > GRAPHS as usize, "{}: only {compared} comparisons", T::NAME);
}

#[test]
fn ibp_bounds_are_bit_identical_f64() {
    ibp_identical::<f64>();
}

#[test]
fn ibp_bounds_are_bit_identical_f32() {
    ibp_identical::<f32>();
}

/// CROWN of the selected outputs: sound for the original's deployed (f32) values at sampled inputs,
/// and never looser than the original's beyond `tol` (relative to the bound's magnitude). Bits
/// may differ: the engine's rounding terms count a node's elements and a chunk's rows, which only
/// shrink with restriction.
fn crown_not_looser<T: Scalar>(tol: f64) {
    let cfg = Config { method: Method::Crown, deploy: Deploy::F32 };
    let (mut compared, mut outputs, mut identical) = (0, 0, 0);
    for seed in 0..GRAPHS {
        let c = case(seed);
        let gt: OwnedGraph<T> = c.g.convert();
        let r = restrict(&gt.graph(), &c.outputs).unwrap();
        let (Some((l0, h0)), Some((l1, h1))) = (bounds(&gt, &c, &cfg), bounds(&r, &c, &cfg)) else {
            continue;
        };
        compared += 1;
        for (k, &o) in c.outputs.iter().enumerate() {
            let (a0, b0, a1, b1) = (l0[o].to_f64(), h0[o].to_f64(), l1[k].to_f64(), h1[k].to_f64());
            let slack = tol * (b0 - a0).max(a0.abs()).max(b0.abs()).max(1e-30);
            assert!(
                a1 >= a0 - slack && b1 <= b0 + slack,
                "{} seed {seed}: output {o}: restricted [{a1}, {b1}], original [{a0}, {b0}]",
                T::NAME
            );
            outputs += 1;
            identical += usize::from(a0.to_bits() == a1.to_bits() && b0.to_bits() == b1.to_bits());
        }
        let g32: OwnedGraph<f32> = c.g.convert();
        let mut rng = Rng::new(seed ^ 1);
        for _ in 0..50 {
            let x: Vec<f32> =
                c.centre.iter().map(|v| (v + c.radius * (2.0 * rng.unit() - 1.0) * 0.999) as f32).collect();
            let y = g32.eval(&x).unwrap();
            for (k, &o) in c.outputs.iter().enumerate() {
                let v = f64::from(y[o]);
                assert!(l1[k].to_f64() <= v && v <= h1[k].to_f64(), "{} seed {seed}: unsound", T::NAME);
            }
        }
    }
    eprintln!("{}: {compared} graphs, {identical} of {outputs} outputs bit-identical", T::NAME);
    assert!(compared > GRAPHS as usize / 2, "{}: only {compared} graphs bounded", T::NAME);
}

#[test]
fn crown_bounds_are_sound_and_not_looser_f64() {
    crown_not_looser::<f64>(1e-12);
}

#[test]
fn crown_bounds_are_sound_and_not_looser_f32() {
    crown_not_looser::<f32>(1e-6);
}

/// The ml4acopf 14-bus model through the ONNX loader, restricted to output 160 (what prop6 reads):
/// under half the values, the same f32 values at that output, and CROWN bounds over prop6's box
/// that are sound and not looser than the full model's.
#[test]
fn acopf_restricted_to_the_property_output() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let model = genbab_cli::onnx::load(&root.join("firmware-example/models/14_ieee_ml4acopf.onnx")).unwrap();
    let prop = genbab_cli::vnnlib::read(&root.join("firmware-example/models/14_ieee_prop6.vnnlib")).unwrap();
    let outputs = genbab_cli::engine::read_outputs(&prop.cases, model.output_len());
    assert_eq!(outputs, [160]);
    let full = model.graph::<f32>();
    let r = restrict(&full.graph(), &outputs).unwrap();
    let (v0, v1) = (full.graph().total_len(), r.graph().total_len());
    assert_eq!(v0, 1678);
    assert!(2 * v1 <= v0, "{v1} of {v0} values kept");
    assert!(r.nodes.len() < full.nodes.len());
    let c = &prop.cases[0];
    let mut rng = Rng::new(5);
    for _ in 0..200 {
        let x: Vec<f32> = c.lo.iter().zip(&c.hi).map(|(l, h)| (l + rng.unit() * (h - l)) as f32).collect();
        let y = full.eval(&x).unwrap();
        assert_eq!(r.eval(&x).unwrap()[0].to_bits(), y[160].to_bits());
    }
    let lo: Vec<f32> = c.lo.iter().map(|&v| f32::from_f64_down(v)).collect();
    let hi: Vec<f32> = c.hi.iter().map(|&v| f32::from_f64_up(v)).collect();
    let mut out = Vec::new();
    for (g, o) in [(full.graph(), 160), (r.graph(), 0)] {
        let n = g.output_len();
        let plan = Plan::new(&g, 8).unwrap();
        let (mut scalars, mut flags) = (vec![0.0f32; plan.scalars()], vec![false; plan.flags()]);
        let mut ws = Workspace::new(plan, &mut scalars, &mut flags).unwrap();
        let (mut l, mut h, mut rows) = (vec![0.0f32; n], vec![0.0f32; n], vec![0.0f32; n * n]);
        output_bounds(&mut ws, &g, &lo, &hi, &Config::default(), &mut rows, &mut l, &mut h).unwrap();
        out.push((l[o], h[o]));
    }
    let ((a0, b0), (a1, b1)) = (out[0], out[1]);
    assert!(a1 >= a0 && b1 <= b0, "restricted [{a1}, {b1}], full [{a0}, {b0}]");
}
