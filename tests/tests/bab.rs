//! Branch and bound end to end on small random networks whose true minimum is known from dense
//! sampling: a threshold below it must be proven (`Holds`), a threshold above it refuted with a
//! confirmed counterexample — for every branching mode. Never `Holds` when a sample violates.

use genbab_core::alpha::AlphaSettings;
use genbab_core::bab::{self, Branching, Order, Points, Settings, Verdict, verify_alloc};
use genbab_core::graph::{Graph, Unary};
use genbab_core::spec::Spec;
use genbab_tests::random_dag::{OwnedGraph, mirrored_relu, mlp, random_graph};

/// Minimum of the single output over a dense grid of the 2-D box.
fn grid_min(g: &Graph<'_, f32>, lo: &[f32], hi: &[f32]) -> f64 {
    let mut vals = vec![0.0f32; g.total_len()];
    let mut m = f64::INFINITY;
    let n = 200;
    for i in 0..=n {
        for j in 0..=n {
            let x = [
                lo[0] + (hi[0] - lo[0]) * i as f32 / n as f32,
                lo[1] + (hi[1] - lo[1]) * j as f32 / n as f32,
            ];
            let y = g.eval(&x, &mut vals).unwrap()[0] as f64;
            m = m.min(y);
        }
    }
    m
}

/// The settings of these tests: best first, 4,000 domains at most.
fn settings(branching: Branching, points: Points, alpha: u32) -> Settings {
    Settings {
        branching,
        points,
        order: Order::BestFirst,
        max_steps: 4_000,
        alpha: AlphaSettings { iters: alpha, ..AlphaSettings::OFF },
        ..Settings::default()
    }
}

fn run(
    g: &Graph<'_, f32>,
    lo: &[f32],
    hi: &[f32],
    threshold: f32,
    settings: &Settings,
) -> (Verdict, Vec<f32>) {
    // Unsafe: y ≤ threshold.
    let spec = Spec { lo, hi, rows: &[1.0], rhs: &[threshold], clause_ends: &[1] };
    let (v, stats, cex) = verify_alloc(g, &spec, settings, 50_000, 64, &mut |_| true, &[], None);
    if std::env::var("BAB_DEBUG").is_ok() {
        println!("{:?} thr {threshold}: {v:?} {stats:?}", settings.branching);
    }
    if v == Verdict::Violated {
        let mut vals = vec![0.0f32; g.total_len()];
        let y = g.eval(&cex, &mut vals).unwrap()[0];
        assert!(y <= threshold, "reported counterexample does not violate: {y} > {threshold}");
        assert!(spec.contains(&cex));
    }
    (v, cex)
}

fn decide_both_ways(g64: &OwnedGraph<f64>, branching: Branching, points: Points) -> (usize, usize) {
    decide_both_ways_with(g64, &settings(branching, points, 0))
}

fn decide_both_ways_alpha(
    g64: &OwnedGraph<f64>,
    branching: Branching,
    points: Points,
    alpha: u32,
) -> (usize, usize) {
    decide_both_ways_with(g64, &settings(branching, points, alpha))
}

/// Thresholds 5 % below and above the grid minimum of a 2-D net: (proved, refuted), each 0 or
/// 1; a verdict that contradicts the grid fails the test.
fn decide_both_ways_with(g64: &OwnedGraph<f64>, settings: &Settings) -> (usize, usize) {
    let g32: OwnedGraph<f32> = g64.convert();
    let g = g32.graph();
    let (lo, hi) = ([-1.0f32, -0.5], [0.5f32, 1.0]);
    let m = grid_min(&g, &lo, &hi);
    let spread = 0.05 * (1.0 + m.abs());
    let (holds, _) = run(&g, &lo, &hi, (m - spread) as f32, settings);
    let (viol, _) = run(&g, &lo, &hi, (m + spread) as f32, settings);
    let b = settings.branching;
    assert_ne!(holds, Verdict::Violated, "{b:?}: counterexample below the true minimum?");
    assert_ne!(viol, Verdict::Holds, "{b:?}: proved a property the grid refutes (min {m})");
    ((holds == Verdict::Holds) as usize, (viol == Verdict::Violated) as usize)
}

#[test]
fn relu_nets_are_decided_by_every_mode() {
    for (branching, points) in [
        (Branching::Input, Points::Midpoint),
        (Branching::Bbps, Points::Table),
        (Branching::BabSr, Points::Table),
    ] {
        let (mut proved, mut refuted) = (0, 0);
        for k in 0..6 {
            let g = mlp(100 + k, &[2, 16, 16, 1], Unary::Relu);
            let (p, r) = decide_both_ways(&g, branching, points);
            proved += p;
            refuted += r;
        }
        println!("{branching:?}: proved {proved}/6, refuted {refuted}/6");
        assert_eq!(refuted, 6, "{branching:?}");
        // Activation splits without β multipliers cannot use the split constraints on the input
        // box, so on these 2-D nets only the input split is complete (see README).
        if branching == Branching::Input {
            assert!(proved >= 5, "{branching:?} proved only {proved}/6");
        }
    }
}

#[test]
fn general_nonlinear_nets_are_decided() {
    for (branching, points) in [
        (Branching::Input, Points::Midpoint),
        (Branching::Bbps, Points::Table),
        (Branching::Bbps, Points::Midpoint),
    ] {
        for act in [Unary::Sigmoid, Unary::Tanh, Unary::Sin, Unary::Gelu, Unary::GeluTanh] {
            let (mut proved, mut refuted) = (0, 0);
            for k in 0..4 {
                let g = mlp(300 + k, &[2, 12, 12, 1], act);
                let (p, r) = decide_both_ways(&g, branching, points);
                proved += p;
                refuted += r;
            }
            println!("{branching:?}/{points:?} {act:?}: proved {proved}/4, refuted {refuted}/4");
            assert_eq!(refuted, 4);
            if branching == Branching::Input {
                assert!(proved >= 3, "{branching:?} {act:?} proved only {proved}/4");
            }
        }
    }
}

#[test]
fn random_dags_never_get_a_wrong_verdict() {
    for k in 0..20 {
        let g64 = random_graph(700 + k, 2, 1 + (k as usize % 4), 8);
        if g64.nodes[g64.output as usize].len != 1 {
            continue;
        }
        for b in [Branching::Input, Branching::Bbps] {
            let _ = decide_both_ways(&g64, b, Points::Table);
        }
    }
}

/// α-CROWN in branch and bound (jointly with β in activation-split domains): never a wrong
/// verdict, refutes every violated threshold, and proves at least as many as plain CROWN.
#[test]
fn alpha_bab_is_never_wrong_and_proves_at_least_as_much() {
    for (branching, points) in [(Branching::Input, Points::Midpoint), (Branching::Bbps, Points::Table)] {
        for act in [Unary::Relu, Unary::Sigmoid, Unary::Tanh, Unary::Gelu, Unary::GeluTanh] {
            let (mut proved, mut refuted, mut proved0) = (0, 0, 0);
            for k in 0..4 {
                let g = mlp(900 + k, &[2, 12, 12, 1], act);
                let (p, r) = decide_both_ways_alpha(&g, branching, points, 20);
                proved += p;
                refuted += r;
                proved0 += decide_both_ways(&g, branching, points).0;
            }
            println!("α {branching:?} {act:?}: proved {proved}/4 (CROWN {proved0}/4), refuted {refuted}/4");
            assert_eq!(refuted, 4);
            assert!(proved >= proved0, "{branching:?} {act:?}: α proved {proved}, CROWN {proved0}");
        }
    }
    for k in 0..20 {
        let g64 = random_graph(700 + k, 2, 1 + (k as usize % 4), 8);
        if g64.nodes[g64.output as usize].len != 1 {
            continue;
        }
        for b in [Branching::Input, Branching::Bbps] {
            let _ = decide_both_ways_alpha(&g64, b, Points::Table, 10);
        }
    }
}

/// α for the intermediate bounds at the root of the activation split (and the domains
/// recomputed within the root's intervals): never a wrong verdict, and it proves at least as
/// many thresholds as output-only α on deeper nets.
#[test]
fn intermediate_alpha_bab_is_never_wrong() {
    for act in [Unary::Relu, Unary::Sigmoid, Unary::Tanh] {
        let (mut proved, mut proved0) = (0, 0);
        for k in 0..4 {
            let g = mlp(950 + k, &[2, 10, 10, 10, 1], act);
            let base = settings(Branching::Bbps, Points::Table, 20);
            let with = Settings { alpha: AlphaSettings { intermediate: 20, ..base.alpha }, ..base };
            let (p, r) = decide_both_ways_with(&g, &with);
            assert_eq!(r, 1, "{act:?} net {k}: the violated threshold was not refuted");
            proved += p;
            proved0 += decide_both_ways_with(&g, &base).0;
        }
        println!("intermediate α, BBPS, {act:?}: proved {proved}/4 (output-only α {proved0}/4)");
        assert!(proved >= proved0, "{act:?}: {proved} < {proved0}");
    }
}

/// Intermediate α has its own time budget: a caller that refuses `Phase::IntermediateAlpha`
/// from the start gets the search of plain root intervals (the same verdict and counters as with
/// intermediate α off), not a timeout.
#[test]
fn intermediate_alpha_budget_stops_only_that_phase() {
    for k in 0..4 {
        let g64 = mlp(960 + k, &[2, 10, 10, 1], Unary::Relu);
        let g32: OwnedGraph<f32> = g64.convert();
        let g = g32.graph();
        let (lo, hi) = ([-1.0f32, -0.5], [0.5f32, 1.0]);
        let m = grid_min(&g, &lo, &hi);
        let thr = (m - 0.05 * (1.0 + m.abs())) as f32;
        let spec = Spec { lo: &lo, hi: &hi, rows: &[1.0], rhs: &[thr], clause_ends: &[1] };
        let off = settings(Branching::Bbps, Points::Table, 20);
        let on = Settings { alpha: AlphaSettings { intermediate: 20, ..off.alpha }, ..off };
        let (v0, s0, _) = verify_alloc(&g, &spec, &off, 50_000, 64, &mut |_| true, &[], None);
        let mut asked = 0;
        let mut refuse = |s: &bab::Stats| {
            asked += usize::from(s.phase == bab::Phase::IntermediateAlpha);
            s.phase != bab::Phase::IntermediateAlpha
        };
        let (v1, s1, _) = verify_alloc(&g, &spec, &on, 50_000, 64, &mut refuse, &[], None);
        assert!(asked > 0, "net {k}: intermediate α never asked for its budget");
        assert_eq!((v1, s1.bounded, s1.verified), (v0, s0.bounded, s0.verified), "net {k}");
        assert_ne!(v1, Verdict::Unknown(bab::Reason::Timeout));
    }
}

/// The input split's attack inside each open domain finds counterexamples that live in a small
/// part of the box: thresholds barely above the grid minimum (a tiny unsafe region), no attack
/// at the root, a budget of 40 domains. With the domain attack more instances end `Violated`
/// (every counterexample confirmed by `run`), and none ends `Holds`.
#[test]
fn domain_attack_finds_small_unsafe_regions() {
    let (lo, hi) = ([-1.0f32, -0.5], [0.5f32, 1.0]);
    let mut found = [0usize; 2];
    for k in 0..12 {
        let g32: OwnedGraph<f32> = mlp(300 + k, &[2, 16, 16, 1], Unary::Relu).convert();
        let g = g32.graph();
        let m = grid_min(&g, &lo, &hi);
        let threshold = (m + 1e-3 * (1.0 + m.abs())) as f32;
        let spec = Spec { lo: &lo, hi: &hi, rows: &[1.0], rhs: &[threshold], clause_ends: &[1] };
        for (i, steps) in [0u32, 20].into_iter().enumerate() {
            let settings = Settings {
                branching: Branching::Input,
                max_steps: 40,
                attack_restarts: 0,
                domain_attack_steps: steps,
                ..Settings::default()
            };
            let (v, _, cex) = verify_alloc(&g, &spec, &settings, 1_000, 1, &mut |_| true, &[], None);
            assert_ne!(v, Verdict::Holds, "net {k}: proved a property the grid refutes");
            if v == Verdict::Violated {
                let mut vals = vec![0.0f32; g.total_len()];
                assert!(g.eval(&cex, &mut vals).unwrap()[0] <= threshold && spec.contains(&cex));
                found[i] += 1;
            }
        }
    }
    println!("counterexamples without / with the domain attack: {} / {}", found[0], found[1]);
    assert!(found[1] > found[0], "domain attack found {} vs {} without", found[1], found[0]);
}

/// Strong branching for the input split (`input_lookahead`) on networks even in `x₀`
/// ([`mirrored_relu`]): the `|Λ_i|·width_i` score sees no dependence on `x₀` and keeps cutting
/// the linear `x₁`, so a threshold between the root's bound and the true minimum stays open for
/// 300 domains; probing both halves cuts `x₀` and proves it. Both never contradict the grid.
#[test]
fn strong_branching_cuts_the_dimension_the_score_misses() {
    let (lo, hi) = ([-1.0f32, -100.0], [1.0f32, 100.0]);
    let mut meaningful = 0;
    for k in 0..6 {
        let g32: OwnedGraph<f32> = mirrored_relu(40 + k, 8).convert();
        let g = g32.graph();
        let m = grid_min(&g, &lo, &hi);
        let threshold = (m - 0.02 * (1.0 + m.abs())) as f32;
        let spec = Spec { lo: &lo, hi: &hi, rows: &[1.0], rhs: &[threshold], clause_ends: &[1] };
        let with = |max_steps: u64, input_lookahead: u32| Settings {
            branching: Branching::Input,
            max_steps,
            input_lookahead,
            ..Settings::default()
        };
        let (root, _, _) = verify_alloc(&g, &spec, &with(1, 0), 1_000, 1, &mut |_| true, &[], None);
        if root != Verdict::Unknown(bab::Reason::Steps) {
            continue; // the root decides: nothing for branching to show
        }
        meaningful += 1;
        let (score, s0, _) = verify_alloc(&g, &spec, &with(300, 0), 1_000, 1, &mut |_| true, &[], None);
        let (strong, s1, _) = verify_alloc(&g, &spec, &with(300, 2), 1_000, 1, &mut |_| true, &[], None);
        println!(
            "net {k}: |Λ|·width {score:?} ({} domains), strong {strong:?} ({} domains, {} probes)",
            s0.bounded, s1.bounded, s1.probed
        );
        assert_eq!(score, Verdict::Unknown(bab::Reason::Steps), "net {k}: the score alone decided");
        assert_eq!(strong, Verdict::Holds, "net {k}: strong branching did not prove it");
        assert!(s1.probed > 0);
    }
    assert!(meaningful >= 3, "only {meaningful} of 6 nets needed branching");
}

/// Strong branching is as sound as the plain input split on random ReLU and general nets:
/// decides both thresholds, never contradicts the grid (checked in `decide_both_ways`).
#[test]
fn strong_branching_decides_random_nets() {
    let mut proved = 0;
    let mut total = 0;
    for (k, act) in
        [Unary::Relu, Unary::Sigmoid, Unary::Tanh, Unary::Gelu, Unary::GeluTanh].into_iter().enumerate()
    {
        for s in 0..3 {
            let g = mlp(500 + 10 * k as u64 + s, &[2, 12, 12, 1], act);
            let settings = Settings { input_lookahead: 2, ..settings(Branching::Input, Points::Midpoint, 0) };
            let (p, r) = decide_both_ways_with(&g, &settings);
            assert_eq!(r, 1, "{act:?} net {s}: not refuted");
            proved += p;
            total += 1;
        }
    }
    println!("strong branching proved {proved}/{total}");
    assert!(proved >= total - 1, "strong branching proved only {proved}/{total}");
}

/// The host's parallel input split (`genbab_cli::parallel`) hands the open domains of one part
/// to the next with their caps: it decides like one thread, with 1, 2 and 3 threads, on random
/// ReLU nets with thresholds 1 % off the grid minimum (with and without strong branching; without,
/// searches of dozens of domains, so of several parts), and a step limit bounds the domains of all
/// parts together.
#[test]
fn parallel_input_split_decides_like_one_thread() {
    use genbab_cli::parallel;
    let (lo, hi) = ([-1.0f32, -0.5], [0.5f32, 1.0]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let mut most = 0;
    for k in 0..6 {
        let g32: OwnedGraph<f32> = mlp(100 + k, &[2, 16, 16, 1], Unary::Relu).convert();
        let g = g32.graph();
        let m = grid_min(&g, &lo, &hi);
        let spread = 0.01 * (1.0 + m.abs());
        for (threshold, want, la) in [
            (m - spread, Verdict::Holds, 0),
            (m - spread, Verdict::Holds, 2),
            (m + spread, Verdict::Violated, 0),
            (m + spread, Verdict::Violated, 2),
        ] {
            let settings =
                Settings { branching: Branching::Input, input_lookahead: la, ..Settings::default() };
            let rhs = [threshold as f32];
            let spec = Spec { lo: &lo, hi: &hi, rows: &[1.0], rhs: &rhs, clause_ends: &[1] };
            for threads in [1, 2, 3] {
                let (v, stats, cex) = parallel::verify(&g, &spec, &settings, 10_000, 1, threads, deadline);
                assert_eq!(v, want, "net {k}, {threads} threads");
                if v == Verdict::Violated {
                    let mut vals = vec![0.0f32; g.total_len()];
                    assert!(g.eval(&cex, &mut vals).unwrap()[0] <= rhs[0] && spec.contains(&cex));
                } else {
                    most = most.max(stats.bounded);
                }
            }
            // Five domains in all, however the parts are cut.
            if want == Verdict::Holds {
                let few = Settings { max_steps: 5, ..settings };
                let (v, stats, _) = parallel::verify(&g, &spec, &few, 10_000, 1, 2, deadline);
                if v != Verdict::Holds {
                    assert_eq!(v, Verdict::Unknown(bab::Reason::Steps), "net {k}");
                }
                assert!(stats.bounded <= 5, "net {k}: {} domains", stats.bounded);
            }
        }
    }
    println!("largest proof: {most} domains");
    assert!(most > 16, "no search took more than two parts ({most} domains)");
}

/// The fractional part `r = z − ⌊z⌋` of `z = x` near the step at 0: on `[−0.001, 0.001]`, `r`
/// is in `[0.999, 1)` left of 0 and in `[0, 0.001]` right of it, so it never lies in
/// `[0.01, 0.99]`. The floor's lines across the step only give `r ∈ [0, 1]`. A split at the step
/// proves it in two children, each one constant piece; a split that kept 0 in both children
/// never would (the child below would still hold the jump, and be split there again and again).
/// `r ∉ [0.5, 0.9995]` is false (`x = −0.0001` gives `r = 0.9999`) and must never be proved.
#[test]
fn floor_splits_at_its_step() {
    use genbab_core::graph::{Node, Op, Span};
    let node = |op, len| Node { op, len };
    let g64 = OwnedGraph::<f64> {
        nodes: vec![
            node(Op::Input, 1),
            node(Op::ScaleShift { x: 0, scale: Span::new(0, 1), shift: Span::new(1, 0) }, 1),
            node(Op::Unary { x: 1, f: Unary::Floor }, 1),
            node(Op::Sub { a: 1, b: 2 }, 1),
        ],
        weights: vec![1.0],
        indices: vec![],
        output: 3,
    };
    let g32: OwnedGraph<f32> = g64.convert();
    let g = g32.graph();
    let (lo, hi) = ([-0.001f32], [0.001f32]);
    // Unsafe: a ≤ r ≤ b, as the atoms −r ≤ −a and r ≤ b of one clause.
    let decide = |a: f32, b: f32, s: &Settings| {
        let rhs = [-a, b];
        let spec = Spec { lo: &lo, hi: &hi, rows: &[-1.0, 1.0], rhs: &rhs, clause_ends: &[2] };
        verify_alloc(&g, &spec, s, 50_000, 64, &mut |_| true, &[], None).0
    };
    for branching in [Branching::Bbps, Branching::BabSr] {
        let s = settings(branching, Points::Table, 0);
        assert_eq!(decide(0.01, 0.99, &s), Verdict::Holds, "{branching:?}");
        assert_ne!(decide(0.5, 0.9995, &s), Verdict::Holds, "{branching:?}");
    }
    // The root alone cannot prove it.
    let root = Settings { max_steps: 1, ..settings(Branching::Bbps, Points::Table, 0) };
    assert_ne!(decide(0.01, 0.99, &root), Verdict::Holds);
}
