//! BBPS scores against a brute-force recomputation of the two children's bounds.
//!
//! For every candidate neuron of small random networks, the true improvement of the worse child
//! (both children re-bounded with CROWN, intermediate bounds recomputed) is compared with the
//! BBPS estimate; the test reports how often the two rank a pair of neurons the same way and how
//! often BBPS's choice is among the truly best few. BaBSR-like scores are measured the same way.

use genbab_core::bab::{Branching, Inputs, Points, bbps_scores, is_split_node};
use genbab_core::bound::{Config, Plan, Saves, Split, Workspace};
use genbab_core::graph::{NodeId, Unary};
use genbab_tests::random_dag::{OwnedGraph, mlp};

struct Agreement {
    pairs: usize,
    agree: usize,
    top: usize,
    nets: usize,
}

fn measure(branching: Branching, act: Unary, seeds: std::ops::Range<u64>) -> Agreement {
    let mut acc = Agreement { pairs: 0, agree: 0, top: 0, nets: 0 };
    for seed in seeds {
        let g64: OwnedGraph<f64> = mlp(seed, &[3, 10, 10, 1], act);
        let g = g64.graph();
        let d = g.input_len();
        let v = g.total_len();
        let lo = [-0.6, -0.4, -0.5];
        let hi = [0.5, 0.7, 0.4];
        let cfg = Config::default();
        let plan = Plan::new(&g, 16).unwrap();
        let mut buf = vec![0.0; plan.scalars()];
        let mut flags = vec![false; plan.flags()];
        let mut ws = Workspace::new(plan, &mut buf, &mut flags).unwrap();
        // Shortcut offsets for the split nodes.
        let mut offsets = vec![usize::MAX; g.nodes.len()];
        let mut o = 0;
        for (i, off) in offsets.iter_mut().enumerate() {
            if is_split_node(&g, i as NodeId) {
                *off = o;
                o += 2 * g.nodes[i].len as usize * (d + 1);
            }
        }
        let mut shortcuts = vec![0.0; o];
        let row = [1.0];
        let mut out_a = vec![0.0; v];
        let mut lb = [0.0];
        ws.node_bounds(
            &g,
            &lo,
            &hi,
            &[],
            &cfg,
            &mut Saves { shortcuts: Some((&mut shortcuts, &offsets)), ..Saves::default() },
        )
        .unwrap();
        ws.output_lower(
            &g,
            &row,
            &mut lb,
            &cfg,
            &mut Saves { output_a: Some((&mut out_a, 0)), ..Saves::default() },
        )
        .unwrap();
        let parent = lb[0];
        let (nlo, nhi) = ws.all_bounds();
        let (nlo, nhi) = (nlo.to_vec(), nhi.to_vec());
        let inp = Inputs {
            g: &g,
            lo: &nlo,
            hi: &nhi,
            out_a: &out_a,
            shortcuts: &shortcuts,
            offsets: &offsets,
            x_lo: &lo,
            x_hi: &hi,
        };
        let mut sum = vec![0.0; d];
        let mut scores = vec![0.0; v];
        let mut points = vec![0.0; v];
        bbps_scores(&inp, branching, Points::Table, &mut sum, &mut scores, &mut points);
        // Brute force: bound both children of every candidate.
        let mut est = vec![];
        let mut truth = vec![];
        let mut off = 0;
        for (z, node) in g.nodes.iter().enumerate() {
            for k in 0..node.len as usize {
                let s = scores[off + k];
                if s.is_nan() {
                    continue;
                }
                let p = points[off + k];
                let mut worst = f64::INFINITY;
                for upper in [true, false] {
                    let split = [Split { node: z as NodeId, idx: k as u32, upper, point: p }];
                    let child = if ws.node_bounds(&g, &lo, &hi, &split, &cfg, &mut Saves::default()).unwrap()
                    {
                        ws.output_lower(&g, &row, &mut lb, &cfg, &mut Saves::default()).unwrap();
                        lb[0]
                    } else {
                        f64::INFINITY
                    };
                    worst = worst.min(child);
                }
                est.push(s);
                truth.push(worst - parent);
            }
            off += node.len as usize;
        }
        if est.len() < 2 {
            continue;
        }
        acc.nets += 1;
        for i in 0..est.len() {
            for j in i + 1..est.len() {
                if (truth[i] - truth[j]).abs() < 1e-9 {
                    continue;
                }
                acc.pairs += 1;
                if (est[i] - est[j]) * (truth[i] - truth[j]) > 0.0 {
                    acc.agree += 1;
                }
            }
        }
        // Is the estimated best among the true top 3?
        let best = (0..est.len()).max_by(|&a, &b| est[a].total_cmp(&est[b])).unwrap();
        let better = truth.iter().filter(|&&t| t > truth[best] + 1e-12).count();
        if better < 3 {
            acc.top += 1;
        }
    }
    acc
}

#[test]
fn bbps_ranks_neurons_like_the_true_child_bounds() {
    for act in [Unary::Sigmoid, Unary::Tanh, Unary::Relu] {
        let b = measure(Branching::Bbps, act, 0..12);
        let s = measure(Branching::BabSr, act, 0..12);
        let rate = |a: &Agreement| a.agree as f64 / a.pairs.max(1) as f64;
        println!(
            "{act:?}: BBPS pairwise agreement {:.3} ({} pairs), choice in true top-3 {}/{}; \
             BaBSR-like {:.3}, top-3 {}/{}",
            rate(&b),
            b.pairs,
            b.top,
            b.nets,
            rate(&s),
            s.top,
            s.nets
        );
        assert!(b.nets >= 8, "too few networks with candidates");
        assert!(rate(&b) > 0.6, "{act:?}: BBPS agrees with the true improvement only {:.3}", rate(&b));
    }
}
