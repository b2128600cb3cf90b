//! Branch and bound end to end on small random networks whose true minimum is known from dense
//! sampling: a threshold below it must be proven (`Holds`), a threshold above it refuted with a
//! confirmed counterexample — for every branching mode. Never `Holds` when a sample violates.

use genbab_core::alpha::AlphaSettings;
use genbab_core::bab::{Branching, Order, Points, Settings, Verdict, verify_alloc};
use genbab_core::graph::{Graph, Unary};
use genbab_core::spec::Spec;
use genbab_tests::random_dag::{OwnedGraph, mlp, random_graph};

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

fn run(
    g: &Graph<'_, f32>,
    lo: &[f32],
    hi: &[f32],
    threshold: f32,
    branching: Branching,
    points: Points,
    alpha: u32,
) -> (Verdict, Vec<f32>) {
    // Unsafe: y ≤ threshold.
    let spec = Spec { lo, hi, rows: &[1.0], rhs: &[threshold], clause_ends: &[1] };
    let settings = Settings {
        branching,
        points,
        order: Order::BestFirst,
        max_steps: 4_000,
        alpha: AlphaSettings { iters: alpha, ..AlphaSettings::OFF },
        ..Settings::default()
    };
    let (v, stats, cex) = verify_alloc(g, &spec, &settings, 50_000, 64, &mut |_| true);
    if std::env::var("BAB_DEBUG").is_ok() {
        println!("{branching:?} thr {threshold}: {v:?} {stats:?}");
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
    decide_both_ways_alpha(g64, branching, points, 0)
}

fn decide_both_ways_alpha(
    g64: &OwnedGraph<f64>,
    branching: Branching,
    points: Points,
    alpha: u32,
) -> (usize, usize) {
    let g32: OwnedGraph<f32> = g64.convert();
    let g = g32.graph();
    let (lo, hi) = ([-1.0f32, -0.5], [0.5f32, 1.0]);
    let m = grid_min(&g, &lo, &hi);
    let spread = 0.05 * (1.0 + m.abs());
    let (holds, _) = run(&g, &lo, &hi, (m - spread) as f32, branching, points, alpha);
    let (viol, _) = run(&g, &lo, &hi, (m + spread) as f32, branching, points, alpha);
    assert_ne!(holds, Verdict::Violated, "{branching:?}: counterexample below the true minimum?");
    assert_ne!(viol, Verdict::Holds, "{branching:?}: proved a property the grid refutes (min {m})");
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
        for act in [Unary::Sigmoid, Unary::Tanh, Unary::Sin, Unary::Gelu] {
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
        for act in [Unary::Relu, Unary::Sigmoid, Unary::Tanh, Unary::Gelu] {
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
            let (v, _, cex) = verify_alloc(&g, &spec, &settings, 1_000, 1, &mut |_| true);
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
