//! The runtime monitor (`genbab_core::monitor`) over trajectories of frames on small random
//! networks: every decision is checked against a dense grid of the frame's box (never `Holds`
//! when a grid point is unsafe; a witness always lies in the box and is unsafe), and reuse must
//! decide frames without a search while agreeing with the monitor that checks every frame from
//! scratch.

use genbab_cli::bake::DeviceWorkspace;
use genbab_core::bab::{BabPlan, Settings, Verdict};
use genbab_core::bound::Method;
use genbab_core::graph::{Graph, Unary};
use genbab_core::monitor::{Monitor, Reuse, Step};
use genbab_core::spec::Spec;
use genbab_tests::random_dag::{OwnedGraph, mlp};

/// The device's buffers (the ones `bake` decides frames in) for `g` and `method`.
fn buffers(g: &Graph<'_, f32>, method: Method) -> DeviceWorkspace {
    let mut plan = BabPlan::new(g, 1, 16, 0, 4, false).unwrap();
    plan.bound = match method {
        Method::Zonotope => plan.bound.with_zonotope_for(g, 8),
        Method::Forward => plan.bound.with_forward_for(g),
        _ => plan.bound,
    };
    DeviceWorkspace::new(plan, g.input_len())
}

/// Minimum of the single output over a 41 × 41 grid of the 2-D box.
fn grid_min(g: &Graph<'_, f32>, lo: &[f32], hi: &[f32]) -> f32 {
    let mut vals = vec![0.0f32; g.total_len()];
    let n = 40;
    let mut m = f32::INFINITY;
    for i in 0..=n {
        for j in 0..=n {
            let x = [
                lo[0] + (hi[0] - lo[0]) * i as f32 / n as f32,
                lo[1] + (hi[1] - lo[1]) * j as f32 / n as f32,
            ];
            m = m.min(g.eval(&x, &mut vals).unwrap()[0]);
        }
    }
    m
}

/// A trajectory: a slow walk through `[-1, 1]²`, frames of radius `r` (deterministic).
fn trajectory(seed: u64, frames: usize, r: f32) -> Vec<[f32; 2]> {
    let mut s = seed;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s % 2001) as f32 / 1000.0 - 1.0
    };
    let (mut x, mut v) = ([next() * 0.8, next() * 0.8], [next() * 0.02, next() * 0.02]);
    (0..frames)
        .map(|_| {
            v = [0.9 * v[0] + 0.004 * next(), 0.9 * v[1] + 0.004 * next()];
            x = [(x[0] + v[0]).clamp(-1.0 + r, 1.0 - r), (x[1] + v[1]).clamp(-1.0 + r, 1.0 - r)];
            x
        })
        .collect()
}

/// Run the monitor over a trajectory of one net with the unsafe set `y ≤ threshold`; every
/// decision checked against the grid. Returns the decisions and the domains bounded.
fn replay(
    g: &Graph<'_, f32>,
    path: &[[f32; 2]],
    r: f32,
    threshold: f32,
    s: &Settings,
    reuse: Reuse,
) -> (Vec<(Verdict, Step)>, u64) {
    let mut bufs = buffers(g, s.bound.method);
    let mut state = vec![0.0f32; Monitor::<f32>::scalars(2)];
    let mut mon = Monitor::new(&mut state, 2).unwrap();
    let (mut out, mut domains) = (vec![], 0);
    let mut vals = vec![0.0f32; g.total_len()];
    for x in path {
        let (lo, hi) = ([x[0] - r, x[1] - r], [x[0] + r, x[1] + r]);
        let spec = Spec { lo: &lo, hi: &hi, rows: &[1.0], rhs: &[threshold], clause_ends: &[1] };
        let (c, w) = bufs.check(g, &spec, s, reuse, &mut mon);
        let cex = [w[0], w[1]];
        match c.verdict {
            Verdict::Holds => {
                let m = grid_min(g, &lo, &hi);
                assert!(m > threshold, "{:?} Holds on a box whose grid reaches {m} ≤ {threshold}", c.step);
            }
            Verdict::Violated => {
                assert!(spec.contains(&cex), "witness {cex:?} outside the box");
                let y = g.eval(&cex, &mut vals).unwrap()[0];
                assert!(y <= threshold, "witness gives {y} > {threshold}");
            }
            Verdict::Unknown(_) => {}
        }
        domains += c.stats.bounded;
        out.push((c.verdict, c.step));
    }
    (out, domains)
}

/// A spec of the wrong output length is an error (`Unknown(Shape)`), never a panic.
#[test]
fn a_spec_of_the_wrong_shape_is_refused() {
    let g: OwnedGraph<f32> = mlp(5, &[2, 8, 3], Unary::Relu).convert();
    let g = g.graph();
    let mut bufs = buffers(&g, Method::Crown);
    let mut state = vec![0.0f32; Monitor::<f32>::scalars(2)];
    let mut mon = Monitor::new(&mut state, 2).unwrap();
    let spec = Spec { lo: &[0.0, 0.0], hi: &[0.1, 0.1], rows: &[1.0], rhs: &[0.0], clause_ends: &[1] };
    let (c, _) = bufs.check(&g, &spec, &settings(Method::Crown), Reuse::OFF, &mut mon);
    assert_eq!(c.verdict, Verdict::Unknown(genbab_core::bab::Reason::Shape));
}

/// Nets whose output crosses a threshold near the middle of its range over the square.
fn cases() -> Vec<(OwnedGraph<f32>, f32)> {
    let mut v = vec![];
    for k in 0..6u64 {
        let g64 = match k % 3 {
            0 => mlp(300 + k, &[2, 16, 16, 1], Unary::Relu),
            1 => mlp(300 + k, &[2, 12, 12, 1], Unary::Tanh),
            _ => mlp(300 + k, &[2, 12, 12, 1], Unary::Sigmoid),
        };
        let g: OwnedGraph<f32> = g64.convert();
        let m = grid_min(&g.graph(), &[-1.0, -1.0], &[1.0, 1.0]);
        let mut vals = vec![0.0f32; g.graph().total_len()];
        let c = g.graph().eval(&[0.0, 0.0], &mut vals).unwrap()[0];
        v.push((g, 0.5 * (m + c)));
    }
    v
}

fn settings(method: Method) -> Settings {
    let mut s = Settings { max_steps: 3, attack_restarts: 0, ..Settings::default() };
    s.bound.method = method;
    s
}

#[test]
fn monitor_decisions_hold_on_the_grid_for_every_engine() {
    let mut decided = 0;
    for (g, thr) in cases() {
        let path = trajectory(7, 40, 0.03);
        for method in [Method::Crown, Method::Zonotope, Method::Forward, Method::IbpCrown] {
            for reuse in [Reuse::OFF, Reuse { on: true, grow: 0.0 }, Reuse { on: true, grow: 1.5 }] {
                let (d, _) = replay(&g.graph(), &path, 0.03, thr, &settings(method), reuse);
                decided += d.iter().filter(|(v, _)| !matches!(v, Verdict::Unknown(_))).count();
            }
        }
    }
    assert!(decided > 1500, "only {decided} frames decided");
}

#[test]
fn reuse_decides_overlapping_frames_without_a_search_and_agrees() {
    let (mut reused, mut witnessed, mut saved) = (0, 0, 0i64);
    for (g, thr) in cases() {
        let g = g.graph();
        let path = trajectory(11, 60, 0.02);
        let s = settings(Method::Zonotope);
        let (plain, d0) = replay(&g, &path, 0.02, thr, &s, Reuse::OFF);
        let (with, d1) = replay(&g, &path, 0.02, thr, &s, Reuse { on: true, grow: 2.0 });
        for ((a, _), (b, step)) in plain.iter().zip(&with) {
            // Decided both ways: the same answer (a region or a witness never contradicts).
            if !matches!(a, Verdict::Unknown(_)) && !matches!(b, Verdict::Unknown(_)) {
                assert_eq!(a, b);
            }
            reused += usize::from(*step == Step::Region);
            witnessed += usize::from(*step == Step::Witness);
        }
        assert!(plain.iter().all(|(_, s)| *s != Step::Region && *s != Step::Witness && *s != Step::Grown));
        saved += d0 as i64 - d1 as i64;
    }
    println!("reuse: {reused} frames by the region, {witnessed} by the last witness, {saved} domains saved");
    assert!(reused > 60 && witnessed > 10 && saved > 0, "{reused} {witnessed} {saved}");
}

/// `split_promise` only ever turns a search into `Unknown(Gap)`, on an open box whose bound is
/// far below the margins of the points tried in it: on large boxes just below the true minimum
/// (open at the root), a huge factor gives up at once, none never does, and neither is wrong.
#[test]
fn split_promise_gives_up_without_being_wrong() {
    let (mut gaps, mut without) = (0, 0);
    for (g, _) in cases() {
        let g = g.graph();
        let (lo, hi) = ([-0.6f32, -0.6], [0.6f32, 0.6]);
        let m = grid_min(&g, &lo, &hi);
        let thr = m - 0.01 * (1.0 + m.abs());
        for (promise, count) in [(1e9f32, &mut gaps), (0.0, &mut without)] {
            let mut s = settings(Method::Zonotope);
            s.split_promise = promise;
            let path = [[0.0f32, 0.0]];
            let (d, _) = replay(&g, &path, 0.6, thr, &s, Reuse::OFF);
            *count += d.iter().filter(|(v, _)| *v == Verdict::Unknown(genbab_core::bab::Reason::Gap)).count();
        }
    }
    assert!(gaps > 0 && without == 0, "{gaps} {without}");
}
