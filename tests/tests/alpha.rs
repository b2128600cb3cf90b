//! α-CROWN: soundness of the optimised bounds on random DAGs of every op kind (f64 and f32, sampled
//! deployed f32 forward values inside), never looser than CROWN and tighter on average on ReLU and
//! sigmoid MLPs, and the hand-derived gradient against finite differences.

use genbab_core::alpha::{self, Alpha, AlphaPlan, AlphaSettings};
use genbab_core::bab::attack::Rng;
use genbab_core::bound::{Config, Deploy, Method, Plan, Saves, Split, Workspace, output_bounds};
use genbab_core::graph::{Op, Unary};
use genbab_core::num::Scalar;
use genbab_tests::random_dag::{OwnedGraph, mlp, random_graph};
use genbab_tests::sample::f32_in_box;

struct Bounds {
    crown: (Vec<f64>, Vec<f64>),
    alpha: (Vec<f64>, Vec<f64>),
}

fn settings() -> AlphaSettings {
    AlphaSettings { iters: 20, ..AlphaSettings::default() }
}

fn boxed<T: Scalar>(d: usize, rng: &mut Rng, radius: f64) -> (Vec<T>, Vec<T>) {
    let centre: Vec<f64> = (0..d).map(|_| rng.unit() * 2.0 - 1.0).collect();
    let lo = centre.iter().map(|c| T::from_f64_down(c - radius)).collect();
    let hi = centre.iter().map(|c| T::from_f64_up(c + radius)).collect();
    (lo, hi)
}

/// CROWN and α-CROWN output bounds of `g64` (converted to `T`) over `[lo, hi]`.
fn bound<T: Scalar>(g64: &OwnedGraph<f64>, lo: &[T], hi: &[T], set: &AlphaSettings) -> Option<Bounds> {
    let gt: OwnedGraph<T> = g64.convert();
    let g = gt.graph();
    let n = g.output_len();
    let plan = Plan::new(&g, 8).ok()?;
    let mut buf = vec![T::ZERO; plan.scalars()];
    let mut flags = vec![false; plan.flags()];
    let mut ws = Workspace::new(plan, &mut buf, &mut flags).ok()?;
    let cfg = Config { method: Method::Crown, deploy: Deploy::F32 };
    let (mut l, mut h, mut rows) = (vec![T::ZERO; n], vec![T::ZERO; n], vec![T::ZERO; n * n]);
    output_bounds(&mut ws, &g, lo, hi, &cfg, &mut rows, &mut l, &mut h).ok()?;
    let crown = (l.iter().map(|v| v.to_f64()).collect(), h.iter().map(|v| v.to_f64()).collect());
    let ap = AlphaPlan::for_plan(&plan, g.input_len());
    let mut abuf = vec![T::ZERO; ap.scalars()];
    let mut al = Alpha::new(ap, &mut abuf).unwrap();
    let mut row = vec![T::ZERO; n];
    alpha::output_bounds(&mut ws, &mut al, &g, lo, hi, &cfg, set, &mut row, &mut l, &mut h)
        .expect("α bounds fail where CROWN succeeded");
    let alpha = (l.iter().map(|v| v.to_f64()).collect(), h.iter().map(|v| v.to_f64()).collect());
    Some(Bounds { crown, alpha })
}

/// The deployed f32 network at sampled points of the box (corners, centre, uniform) lies in the
/// α bounds; without intermediate α, the α bounds are never looser than CROWN's (with it, the
/// output pass starts from other intervals, so only soundness is checked per output). Returns the
/// relative width reduction.
fn check_graph<T: Scalar>(
    g64: &OwnedGraph<f64>,
    seed: u64,
    radius: f64,
    set: &AlphaSettings,
) -> Option<(f64, usize)> {
    let mut rng = Rng::new(seed);
    let d = g64.graph().input_len();
    let (lo, hi) = boxed::<T>(d, &mut rng, radius);
    let b = bound::<T>(g64, &lo, &hi, set)?;
    let n = b.alpha.0.len();
    for j in (0..n).filter(|_| set.intermediate == 0) {
        assert!(
            b.alpha.0[j] >= b.crown.0[j] && b.alpha.1[j] <= b.crown.1[j],
            "{} output {j}: α [{}, {}] looser than CROWN [{}, {}] (seed {seed})",
            T::NAME,
            b.alpha.0[j],
            b.alpha.1[j],
            b.crown.0[j],
            b.crown.1[j]
        );
    }
    let g32: OwnedGraph<f32> = g64.convert();
    let g32g = g32.graph();
    let mut vals = vec![0.0f32; g32g.total_len()];
    let mut checked = 0;
    for s in 0..300 {
        let x: Vec<f32> = (0..d)
            .map(|i| {
                let (l, h) = (lo[i].to_f64(), hi[i].to_f64());
                let t = match s {
                    0 => 0.0,
                    1 => 1.0,
                    2 => 0.5,
                    _ if s % 3 == 0 => (rng.next_u64() & 1) as f64,
                    _ => rng.unit(),
                };
                f32_in_box(l, h, t)
            })
            .collect();
        let y = g32g.eval(&x, &mut vals).expect("forward pass");
        for (j, &yj) in y.iter().enumerate() {
            let v = yj as f64;
            assert!(
                b.alpha.0[j] <= v && v <= b.alpha.1[j],
                "{}: output {j} = {v} outside the α bounds [{}, {}] (seed {seed})",
                T::NAME,
                b.alpha.0[j],
                b.alpha.1[j]
            );
        }
        checked += 1;
    }
    let gain: f64 = (0..n).map(|j| (b.crown.1[j] - b.crown.0[j]) - (b.alpha.1[j] - b.alpha.0[j])).sum();
    let width: f64 = (0..n).map(|j| b.crown.1[j] - b.crown.0[j]).sum();
    Some((gain / width, checked))
}

fn soundness_suite<T: Scalar>() -> usize {
    soundness_suite_with::<T>(&settings())
}

fn soundness_suite_with<T: Scalar>(set: &AlphaSettings) -> usize {
    let (mut graphs, mut checked, mut gain) = (0, 0, 0.0);
    for k in 0..40u64 {
        let g = random_graph(3000 + k, 2 + (k as usize % 6), 1 + (k as usize % 6), 24);
        if let Some((gn, c)) = check_graph::<T>(&g, 500 + k, 0.3, set) {
            graphs += 1;
            checked += c;
            gain += gn;
        }
    }
    println!(
        "{} (intermediate α {} steps): {graphs} random DAGs, {checked} samples inside the α bounds; mean output-width reduction vs CROWN {:.2}%",
        T::NAME,
        set.intermediate,
        100.0 * gain / graphs as f64
    );
    assert!(gain > 0.0);
    graphs
}

#[test]
fn alpha_f64_contains_deployed_values() {
    assert_eq!(soundness_suite::<f64>(), 40);
}

#[test]
fn alpha_f32_contains_deployed_values() {
    assert_eq!(soundness_suite::<f32>(), 40);
}

/// α for the intermediate bounds too: every node that gets a CROWN pass re-bounded with its own
/// relaxation parameters; the deployed values stay inside, and the outputs tighten on average.
#[test]
fn intermediate_alpha_contains_deployed_values() {
    let set = AlphaSettings { intermediate: 10, ..settings() };
    assert_eq!(soundness_suite_with::<f64>(&set), 40);
    assert_eq!(soundness_suite_with::<f32>(&set), 40);
}

/// Checked fixed point: the optimiser's state may overflow Q16.16 (then it stops moving), a net
/// may be refused (overflow is an error), but no bound is ever wrong and nothing panics.
#[test]
fn alpha_fixed_point_contains_deployed_values() {
    assert!(soundness_suite::<genbab_core::num::Fix>() >= 20);
}

/// Every op kind appears in the random DAGs used above (so the suites cover them all).
#[test]
fn random_dags_cover_every_op_kind() {
    let mut seen = std::collections::HashSet::new();
    for k in 0..40u64 {
        let g = random_graph(3000 + k, 2 + (k as usize % 6), 1 + (k as usize % 6), 24);
        for n in &g.nodes {
            let name = match n.op {
                Op::Unary { f, .. } => match f {
                    Unary::LeakyRelu(_) => "leaky".to_string(),
                    Unary::Pow(_) => "pow".to_string(),
                    f => format!("{f:?}"),
                },
                op => format!("{op:?}").split([' ', '{']).next().unwrap().to_string(),
            };
            seen.insert(name);
        }
    }
    for op in [
        "Relu",
        "leaky",
        "Sigmoid",
        "Tanh",
        "Sin",
        "Cos",
        "Gelu",
        "GeluTanh",
        "Exp",
        "Log",
        "Reciprocal",
        "Sqrt",
        "pow",
        "Neg",
        "Abs",
        "Mul",
        "Add",
        "Sub",
        "Gather",
        "Sum",
        "Concat",
        "ScaleShift",
        "Affine",
    ] {
        assert!(seen.contains(op), "{op} missing from the random DAGs: {seen:?}");
    }
}

/// Mean relative width reduction of α over CROWN on random MLPs with `act`.
fn mean_gain(act: Unary, dims: &[usize], radius: f64, nets: u64) -> (f64, usize) {
    let (mut sum, mut better) = (0.0, 0);
    for k in 0..nets {
        let g = mlp(7000 + k, dims, act);
        let mut rng = Rng::new(k);
        let (lo, hi) = boxed::<f64>(dims[0], &mut rng, radius);
        let b = bound::<f64>(&g, &lo, &hi, &AlphaSettings { iters: 30, ..AlphaSettings::default() }).unwrap();
        let wc: f64 = (0..b.crown.0.len()).map(|j| b.crown.1[j] - b.crown.0[j]).sum();
        let wa: f64 = (0..b.alpha.0.len()).map(|j| b.alpha.1[j] - b.alpha.0[j]).sum();
        assert!(wa <= wc);
        sum += (wc - wa) / wc;
        if wa < wc * (1.0 - 1e-6) {
            better += 1;
        }
    }
    (sum / nets as f64, better)
}

#[test]
fn alpha_tightens_relu_and_sigmoid_mlps() {
    let (relu, rb) = mean_gain(Unary::Relu, &[5, 30, 30, 30, 4], 0.1, 12);
    let (sig, sb) = mean_gain(Unary::Sigmoid, &[8, 30, 30, 30, 4], 0.4, 12);
    let (tanh, tb) = mean_gain(Unary::Tanh, &[8, 30, 30, 4], 0.3, 8);
    println!(
        "mean output-width reduction α vs CROWN: ReLU {:.2}% ({rb}/12 nets better), sigmoid {:.2}% ({sb}/12), tanh {:.2}% ({tb}/8)",
        100.0 * relu,
        100.0 * sig,
        100.0 * tanh
    );
    assert!(relu > 0.0 && sig > 0.0 && tanh > 0.0);
    assert!(rb >= 6 && sb >= 6, "{rb} {sb}");
}

/// Intermediate α against output-only α on deeper MLPs: the intermediate intervals carry into
/// every later relaxation, so the outputs tighten further on most nets.
#[test]
fn intermediate_alpha_tightens_deep_mlps() {
    let out_only = AlphaSettings { iters: 20, ..AlphaSettings::default() };
    let inter = AlphaSettings { intermediate: 20, ..out_only };
    for (act, dims, radius) in
        [(Unary::Relu, &[5, 20, 20, 20, 20, 4][..], 0.15), (Unary::Sigmoid, &[6, 20, 20, 20, 4][..], 0.6)]
    {
        let (mut better, mut worse, mut sum) = (0, 0, 0.0);
        for k in 0..10u64 {
            let g = mlp(9100 + k, dims, act);
            let mut rng = Rng::new(k);
            let (lo, hi) = boxed::<f64>(dims[0], &mut rng, radius);
            let a = bound::<f64>(&g, &lo, &hi, &out_only).unwrap().alpha;
            let b = bound::<f64>(&g, &lo, &hi, &inter).unwrap().alpha;
            let (wa, wb): (f64, f64) = (0..a.0.len())
                .map(|j| (a.1[j] - a.0[j], b.1[j] - b.0[j]))
                .fold((0.0, 0.0), |(x, y), (p, q)| (x + p, y + q));
            better += usize::from(wb < wa * (1.0 - 1e-6));
            worse += usize::from(wb > wa * (1.0 + 1e-6));
            sum += (wa - wb) / wa;
        }
        println!(
            "{act:?} {dims:?}: intermediate α vs output-only α: mean width reduction {:.1}%, {better}/10 nets tighter, {worse} looser",
            10.0 * sum
        );
        assert!(better >= 6 && sum > 0.0, "{act:?}: {better} tighter, {worse} looser");
    }
}

/// The hand-derived gradient against central finite differences of the bound (f64), for the
/// relaxation parameters of random DAGs of every op kind and for the split multipliers.
#[test]
fn gradient_matches_finite_differences() {
    let (mut agree, mut total, mut nonzero) = (0usize, 0usize, 0usize);
    let (mut bagree, mut btotal) = (0usize, 0usize);
    for k in 0..60u64 {
        let g64 = if k % 3 == 0 {
            mlp(100 + k, &[4, 8, 8, 2], [Unary::Relu, Unary::Sigmoid, Unary::Tanh][(k / 3 % 3) as usize])
        } else {
            random_graph(200 + k, 2 + (k as usize % 4), 1 + (k as usize % 4), 8)
        };
        let g = g64.graph();
        let n = g.output_len();
        let d = g.input_len();
        let mut rng = Rng::new(k + 1);
        let (lo, hi) = boxed::<f64>(d, &mut rng, 0.4);
        let plan = Plan::new(&g, 4).unwrap();
        let mut buf = vec![0.0; plan.scalars()];
        let mut flags = vec![false; plan.flags()];
        let mut ws = Workspace::new(plan, &mut buf, &mut flags).unwrap();
        let cfg = Config { method: Method::Crown, deploy: Deploy::F32 };
        // Splits: a few elements of nodes feeding nonlinearities, at points inside their intervals.
        let mut splits: Vec<Split<f64>> = vec![];
        if ws.node_bounds(&g, &lo, &hi, &[], &cfg, &mut Saves::default()).is_err() {
            continue;
        }
        for (i, node) in g.nodes.iter().enumerate() {
            if let Op::Unary { x, .. } = node.op
                && splits.len() < 3
                && rng.unit() < 0.5
            {
                let (l, h) = ws.interval(&g, x);
                let e = (rng.next_u64() % l.len() as u64) as usize;
                if l[e] < h[e] {
                    let p = l[e] + (h[e] - l[e]) * (0.3 + 0.4 * rng.unit());
                    splits.push(Split { node: x, idx: e as u32, upper: rng.unit() < 0.5, point: p });
                }
            }
            let _ = i;
        }
        if !matches!(ws.node_bounds(&g, &lo, &hi, &splits, &cfg, &mut Saves::default()), Ok(true)) {
            continue;
        }
        let ap = AlphaPlan::for_plan(&plan, d);
        let mut abuf = vec![0.0; ap.scalars()];
        let mut al = Alpha::new(ap, &mut abuf).unwrap();
        al.capture(&ws).unwrap();
        al.start(&mut ws, &g).unwrap();
        let row: Vec<f64> = (0..n).map(|_| rng.unit() * 2.0 - 1.0).collect();
        let beta: Vec<f64> = splits.iter().map(|_| rng.unit()).collect();
        // Move every free parameter to a random interior point (away from the starting kinks).
        let slots: Vec<usize> = (0..plan.lines).filter(|&s| al.is_free(&g, s)).collect();
        for &s in &slots {
            al.set_param(&mut ws, &g, s, 0.1 + 0.8 * rng.unit());
        }
        let ibp: f64 = {
            let (olo, ohi) = ws.interval(&g, g.output);
            row.iter().enumerate().map(|(j, &c)| if c >= 0.0 { c * olo[j] } else { c * ohi[j] }).sum()
        };
        let mut bgrad = vec![0.0; splits.len()];
        let (b0, grad) = match al.bound_and_gradient(&mut ws, &g, &cfg, &row, &splits, &beta, &mut bgrad) {
            Ok((b, gr)) => (b, gr.to_vec()),
            Err(_) => continue,
        };
        if b0 <= ibp + 1e-9 * ibp.abs().max(1.0) {
            continue; // the IBP concretisation decides this bound: no gradient through CROWN
        }
        let h = 1e-6;
        for &s in slots.iter().take(40) {
            let th = al.params()[s];
            let (tp, tm) = (th + h, th - h);
            al.set_param(&mut ws, &g, s, tp);
            let (bp, _) = al.bound_and_gradient(&mut ws, &g, &cfg, &row, &splits, &beta, &mut bgrad).unwrap();
            al.set_param(&mut ws, &g, s, tm);
            let (bm, _) = al.bound_and_gradient(&mut ws, &g, &cfg, &row, &splits, &beta, &mut bgrad).unwrap();
            al.set_param(&mut ws, &g, s, th);
            let fd = (bp - bm) / (2.0 * h);
            let an = grad[s];
            total += 1;
            if an != 0.0 {
                nonzero += 1;
            }
            if (fd - an).abs() <= 1e-4 * (fd.abs() + an.abs()) + 1e-7 {
                agree += 1;
            } else {
                println!("net {k} slot {s}: analytic {an:e}, finite difference {fd:e}");
            }
        }
        let (b1, _) = al.bound_and_gradient(&mut ws, &g, &cfg, &row, &splits, &beta, &mut bgrad).unwrap();
        assert_eq!(b0, b1, "parameters not restored");
        let bg = bgrad.clone();
        for i in 0..splits.len() {
            let mut bp = beta.clone();
            let mut bm = beta.clone();
            bp[i] += h;
            bm[i] -= h;
            let mut scratch = vec![0.0; splits.len()];
            let (vp, _) = al.bound_and_gradient(&mut ws, &g, &cfg, &row, &splits, &bp, &mut scratch).unwrap();
            let (vm, _) = al.bound_and_gradient(&mut ws, &g, &cfg, &row, &splits, &bm, &mut scratch).unwrap();
            let fd = (vp - vm) / (2.0 * h);
            btotal += 1;
            if (fd - bg[i]).abs() <= 1e-4 * (fd.abs() + bg[i].abs()) + 1e-7 {
                bagree += 1;
            } else {
                println!("net {k} β{i}: analytic {:e}, finite difference {fd:e}", bg[i]);
            }
        }
    }
    println!("gradient check: {agree}/{total} parameters agree ({nonzero} nonzero), β {bagree}/{btotal}");
    assert!(total >= 300 && nonzero >= 150, "{total} {nonzero}");
    assert!(agree as f64 >= 0.97 * total as f64, "{agree}/{total}");
    assert!(btotal >= 20 && bagree as f64 >= 0.95 * btotal as f64, "{bagree}/{btotal}");
}

/// Figures for the README (run on demand: `cargo test --release -p genbab-tests --test alpha --
/// --ignored --nocapture measure_real_models`): on real benchmark models, the root bounds of
/// CROWN and α-CROWN (f64, 20 iterations; output-only, then with intermediate α too): summed
/// output width `Σ(upper − lower)`, and the lower bounds of the property's atoms `c·y` (mean improvement, and the share of the CROWN margin
/// `rhs − lb` it closes).
#[test]
#[ignore]
fn measure_real_models() {
    use genbab_cli::{onnx, vnnlib};
    let root = std::env::var_os("GENBAB_BENCHMARKS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/benchmarks"));
    let cases: &[(&str, &[&str])] = &[
        (
            "acasxu/onnx/ACASXU_run2a_1_1_batch_2000.onnx",
            &["acasxu/vnnlib/prop_1.vnnlib", "acasxu/vnnlib/prop_3.vnnlib"],
        ),
        (
            "acasxu/onnx/ACASXU_run2a_2_1_batch_2000.onnx",
            &["acasxu/vnnlib/prop_2.vnnlib", "acasxu/vnnlib/prop_4.vnnlib"],
        ),
        (
            "eran_mnist_2021/onnx/ffnnSIGMOID__Point_6x200.onnx",
            &[
                "eran_mnist_2021/vnnlib/mnist_spec_idx_6553_eps_0.01200.vnnlib",
                "eran_mnist_2021/vnnlib/mnist_spec_idx_9044_eps_0.01200.vnnlib",
                "eran_mnist_2021/vnnlib/mnist_spec_idx_7107_eps_0.01200.vnnlib",
            ],
        ),
        (
            "ml4acopf_2024/onnx/14_ieee_ml4acopf.onnx",
            &["ml4acopf_2024/vnnlib/14_ieee_prop2.vnnlib", "ml4acopf_2024/vnnlib/14_ieee_prop6.vnnlib"],
        ),
        (
            "ml4acopf_2024/onnx/14_ieee_ml4acopf-linear-nonresidual.onnx",
            &["ml4acopf_2024/vnnlib/14_ieee_prop5.vnnlib"],
        ),
        ("mnist_fc/onnx/mnist-net_256x2.onnx", &["mnist_fc/vnnlib/prop_6_0.03.vnnlib"]),
        (
            "eran_mnist_2021/onnx/mnist_relu_9_200.onnx",
            &["eran_mnist_2021/vnnlib/mnist_spec_idx_186_eps_0.01500.vnnlib"],
        ),
    ];
    let set = AlphaSettings { iters: 20, ..AlphaSettings::OFF };
    let cfg = Config { method: Method::Crown, deploy: Deploy::F32 };
    for (m, props) in cases {
        let model = onnx::load(&root.join(m)).unwrap();
        let gt = model.graph::<f64>();
        let g = gt.graph();
        let n = g.output_len();
        let plan = Plan::new(&g, 64).unwrap();
        let mut buf = vec![0.0; plan.scalars()];
        let mut flags = vec![false; plan.flags()];
        let mut ws = Workspace::new(plan, &mut buf, &mut flags).unwrap();
        let ap = AlphaPlan::for_plan(&plan, g.input_len());
        let mut abuf = vec![0.0; ap.scalars()];
        let mut al = Alpha::new(ap, &mut abuf).unwrap();
        for p in props.iter() {
            let prop = vnnlib::read(&root.join(p)).unwrap();
            let c = &prop.cases[0];
            let t0 = std::time::Instant::now();
            let (mut l, mut h, mut rows) = (vec![0.0; n], vec![0.0; n], vec![0.0; n * n]);
            output_bounds(&mut ws, &g, &c.lo, &c.hi, &cfg, &mut rows, &mut l, &mut h).unwrap();
            let wc: f64 = (0..n).map(|j| h[j] - l[j]).sum();
            let tc = t0.elapsed().as_secs_f64();
            // Atoms: CROWN lower bounds (one pass), then α per atom.
            let atoms = c.rhs.len();
            let mut lb = vec![0.0; atoms];
            ws.output_lower(&g, &c.rows, &mut lb, &cfg, &mut Saves::default()).unwrap();
            al.capture(&ws).unwrap();
            let t1 = std::time::Instant::now();
            let (mut gain, mut closed) = (0.0, 0.0);
            for (i, &crown) in lb.iter().enumerate() {
                let row = &c.rows[i * n..(i + 1) * n];
                let v = al
                    .optimise(&mut ws, &g, &cfg, row, &[], &mut [], &mut [], &set, None, &mut || true)
                    .unwrap();
                assert!(v >= crown);
                gain += v - crown;
                let gap = c.rhs[i] - crown;
                closed += if gap > 0.0 { ((v - crown) / gap).min(1.0) } else { 0.0 };
            }
            let ta = t1.elapsed().as_secs_f64();
            let mut row = vec![0.0; n];
            alpha::output_bounds(&mut ws, &mut al, &g, &c.lo, &c.hi, &cfg, &set, &mut row, &mut l, &mut h)
                .unwrap();
            let wa: f64 = (0..n).map(|j| h[j] - l[j]).sum();
            // And with α for the intermediate bounds (20 steps each).
            let t2 = std::time::Instant::now();
            let inter = AlphaSettings { intermediate: 20, ..set };
            alpha::output_bounds(&mut ws, &mut al, &g, &c.lo, &c.hi, &cfg, &inter, &mut row, &mut l, &mut h)
                .unwrap();
            let wi: f64 = (0..n).map(|j| h[j] - l[j]).sum();
            let ti = t2.elapsed().as_secs_f64();
            println!(
                "{m} {p}: output width CROWN {wc:.4} α {wa:.4} ({:+.1}%) α with intermediate α {wi:.4} ({:+.1}%, {ti:.2} s); {atoms} atoms: mean lb gain {:.4}, mean share of the CROWN margin closed {:.1}%; CROWN {:.0} ms, α {:.1} ms per atom",
                100.0 * (wa - wc) / wc,
                100.0 * (wi - wc) / wc,
                gain / atoms as f64,
                100.0 * closed / atoms as f64,
                tc * 1e3,
                ta * 1e3 / atoms as f64
            );
        }
    }
}

/// The captured CROWN lines belong to one bounding run: after the workspace is re-bounded (a
/// different box), optimising without a new capture is refused instead of restoring lines that
/// may not hold on the new intervals.
#[test]
fn stale_capture_is_refused() {
    let g64 = mlp(5, &[3, 6, 2], Unary::Sigmoid);
    let g = g64.graph();
    let plan = Plan::new(&g, 4).unwrap();
    let mut buf = vec![0.0; plan.scalars()];
    let mut flags = vec![false; plan.flags()];
    let mut ws = Workspace::new(plan, &mut buf, &mut flags).unwrap();
    let cfg = Config::default();
    let ap = AlphaPlan::for_plan(&plan, 3);
    let mut abuf = vec![0.0; ap.scalars()];
    let mut al = Alpha::new(ap, &mut abuf).unwrap();
    let set = AlphaSettings { iters: 5, ..AlphaSettings::OFF };
    let row = [1.0, -1.0];
    let opt = |ws: &mut Workspace<'_, f64>, al: &mut Alpha<'_, f64>| {
        al.optimise(ws, &g, &cfg, &row, &[], &mut [], &mut [], &set, None, &mut || true)
    };
    ws.node_bounds(&g, &[-0.1; 3], &[0.1; 3], &[], &cfg, &mut Saves::default()).unwrap();
    assert!(opt(&mut ws, &mut al).is_err(), "optimise before any capture");
    al.capture(&ws).unwrap();
    assert!(opt(&mut ws, &mut al).is_ok());
    ws.node_bounds(&g, &[-2.0; 3], &[2.0; 3], &[], &cfg, &mut Saves::default()).unwrap();
    assert!(opt(&mut ws, &mut al).is_err(), "stale capture accepted");
    al.capture(&ws).unwrap();
    assert!(opt(&mut ws, &mut al).is_ok());
}
