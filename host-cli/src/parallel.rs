//! Branch and bound of one input box on several threads.
//!
//! The core's branch and bound is single-threaded (it runs on a microcontroller in fixed memory).
//! On the host, an input-split search is spread over the cores by bisecting the box up front into
//! a few parts and verifying the parts independently from a shared queue, each with its own domain
//! pool. Sound by construction: the parts cover the box (each cut point lies inside its interval,
//! and both halves contain it), the box holds only if every part holds, and a counterexample of a
//! part is one of the box. The first part that does not hold stops the others.
//!
//! Activation-split (BBPS) searches stay on one thread: their inputs are high-dimensional, so a
//! few input cuts would not divide their work.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use genbab_core::bab::{self, Branching, Reason, Settings, Stats, Verdict};
use genbab_core::graph::Graph;
use genbab_core::num::Scalar;
use genbab_core::spec::Spec;

/// Parts per thread: enough that a thread whose parts were easy can take over others' work.
const PARTS_PER_THREAD: usize = 4;

/// First pool capacity of an input-split part (about 9 MiB for ACAS Xu in f64).
const FIRST_INPUT_POOL: usize = 1 << 16;

/// The result of one box: verdict, effort, and the counterexample when violated.
pub type Outcome<T> = (Verdict, Stats, Vec<T>);

/// Whether the core will split the input for these settings (`Auto` picks input splitting for
/// low-dimensional inputs).
pub fn splits_input(settings: &Settings, input_len: usize) -> bool {
    match settings.branching {
        Branching::Input => true,
        Branching::Auto => input_len <= settings.input_split_max_dim as usize,
        _ => false,
    }
}

/// Verify `spec` on `g` until `deadline` with up to `threads` threads. `domains` is the pool
/// capacity of the whole search (each part gets an equal share) and `depth` the split depth.
pub fn verify<T: Scalar + Send + Sync>(
    g: &Graph<'_, T>,
    spec: &Spec<'_, T>,
    settings: &Settings,
    domains: usize,
    depth: usize,
    threads: usize,
    deadline: Instant,
) -> Outcome<T> {
    let threads = threads.max(1);
    if threads == 1 || !splits_input(settings, spec.lo.len()) {
        let stop = AtomicBool::new(false);
        return verify_part(g, spec, spec.lo, spec.hi, settings, domains, depth, deadline, &stop);
    }
    // The whole box first, root only (attack + one bound): many instances end here, and
    // cutting them up would only repeat that work per part.
    let stop = AtomicBool::new(false);
    let root_only = Settings { max_steps: 1, ..*settings };
    let (v, root_stats, cex) =
        verify_part(g, spec, spec.lo, spec.hi, &root_only, domains.min(4096), depth, deadline, &stop);
    if v != Verdict::Unknown(Reason::Steps) || settings.max_steps == 1 {
        return (v, root_stats, cex);
    }
    let settings = &Settings { max_steps: settings.max_steps.saturating_sub(1), ..*settings };
    let parts = bisect(spec.lo, spec.hi, threads * PARTS_PER_THREAD);
    let queue = Mutex::new(parts);
    let first: Mutex<Option<(Verdict, Vec<T>)>> = Mutex::new(None);
    let total = Mutex::new(root_stats);
    let share = (domains / threads).max(1);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let Some((lo, hi)) = queue.lock().map(|mut q| q.pop()).unwrap_or(None) else {
                        break;
                    };
                    let (v, st, cex) =
                        verify_part(g, spec, &lo, &hi, settings, share, depth, deadline, &stop);
                    add(&mut total.lock().unwrap_or_else(|e| e.into_inner()), &st);
                    if v != Verdict::Holds && !stop.swap(true, Ordering::SeqCst) {
                        *first.lock().unwrap_or_else(|e| e.into_inner()) = Some((v, cex));
                    }
                }
            });
        }
    });
    let stats = total.into_inner().unwrap_or_else(|e| e.into_inner());
    let first = first.into_inner().unwrap_or_else(|e| e.into_inner());
    let left = queue.into_inner().map(|q| q.len()).unwrap_or(1);
    match first {
        Some((v, cex)) => (v, stats, cex),
        None if left == 0 => (Verdict::Holds, stats, Vec::new()),
        None => (Verdict::Unknown(Reason::Timeout), stats, Vec::new()),
    }
}

/// One box: branch and bound with a domain pool that starts small (allocating it is not free)
/// and grows up to `domains` when it fills.
#[allow(clippy::too_many_arguments)]
fn verify_part<T: Scalar>(
    g: &Graph<'_, T>,
    spec: &Spec<'_, T>,
    lo: &[T],
    hi: &[T],
    settings: &Settings,
    domains: usize,
    depth: usize,
    deadline: Instant,
    stop: &AtomicBool,
) -> Outcome<T> {
    let part = Spec { lo, hi, ..*spec };
    let mut total = Stats::default();
    // A restart on a full pool repeats all the work so far, so start large where a domain is
    // small (input split: a box, no split list).
    let mut cap = domains.min(if splits_input(settings, lo.len()) { FIRST_INPUT_POOL } else { 4096 });
    loop {
        let mut keep_going = |_: &Stats| Instant::now() < deadline && !stop.load(Ordering::Relaxed);
        let (verdict, stats, cex) = bab::verify_alloc(g, &part, settings, cap, depth, &mut keep_going);
        add(&mut total, &stats);
        if verdict == Verdict::Unknown(Reason::Capacity) && cap < domains && Instant::now() < deadline {
            cap = domains.min(cap.saturating_mul(16));
            continue;
        }
        return (verdict, total, cex);
    }
}

fn add(total: &mut Stats, s: &Stats) {
    total.bounded += s.bounded;
    total.verified += s.verified;
    total.attack_passes += s.attack_passes;
    total.clipped += s.clipped;
    total.max_live = total.max_live.max(s.max_live);
}

/// Cut `[lo, hi]` into `n` boxes (at most), each time halving the widest dimension of the widest
/// box. Each cut point is inside its interval, so the boxes cover the original.
pub fn bisect<T: Scalar>(lo: &[T], hi: &[T], n: usize) -> Vec<(Vec<T>, Vec<T>)> {
    let mut boxes = vec![(lo.to_vec(), hi.to_vec())];
    let width = |b: &(Vec<T>, Vec<T>)| -> (f64, usize) {
        b.0.iter().zip(&b.1).enumerate().fold((0.0, 0), |(w, k), (i, (l, h))| {
            let d = h.to_f64() - l.to_f64();
            if d > w { (d, i) } else { (w, k) }
        })
    };
    while boxes.len() < n {
        let (i, (w, k)) = boxes
            .iter()
            .map(width)
            .enumerate()
            .fold((0, (0.0, 0)), |best, (i, wk)| if wk.0 > best.1.0 { (i, wk) } else { best });
        if w.is_nan() || w <= 0.0 {
            break;
        }
        let (l, h) = (boxes[i].0[k], boxes[i].1[k]);
        let m = T::from_f64_near(0.5 * (l.to_f64() + h.to_f64())).max_of(l).min_of(h);
        if !(l < m && m < h) {
            break; // no representable point strictly inside: stop cutting
        }
        let mut right = boxes[i].clone();
        boxes[i].1[k] = m;
        right.0[k] = m;
        boxes.push(right);
    }
    boxes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bisect_covers_the_box() {
        let (lo, hi) = ([0.0f64, -1.0, 2.0], [1.0f64, 3.0, 2.0]);
        let parts = bisect(&lo, &hi, 8);
        assert_eq!(parts.len(), 8);
        // Every sampled point of the box is in some part; every part is inside the box.
        let mut r = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..2000 {
            let x: Vec<f64> = (0..3)
                .map(|i| {
                    r ^= r << 13;
                    r ^= r >> 7;
                    r ^= r << 17;
                    lo[i] + (hi[i] - lo[i]) * (r >> 11) as f64 / (1u64 << 53) as f64
                })
                .collect();
            assert!(parts.iter().any(|(l, h)| (0..3).all(|i| l[i] <= x[i] && x[i] <= h[i])));
        }
        for (l, h) in &parts {
            assert!((0..3).all(|i| lo[i] <= l[i] && l[i] <= h[i] && h[i] <= hi[i]));
        }
        // Volumes add up to the box's (the cuts neither overlap nor leave gaps).
        let vol = |l: &[f64], h: &[f64]| (0..2).map(|i| h[i] - l[i]).product::<f64>();
        let sum: f64 = parts.iter().map(|(l, h)| vol(l, h)).sum();
        assert!((sum - vol(&lo, &hi)).abs() < 1e-12);
    }

    /// `y = relu(x) − x/2 = |x|/2` on `x ∈ [−1, 2]`: the root's bounds (IBP −1, CROWN −0.5) do
    /// not prove `y > −0.2`, branch and bound does; and `y ≤ 0.1` is violated (`|x| ≤ 0.2`).
    #[test]
    fn parallel_input_split_agrees_with_one_thread() {
        use genbab_core::graph::{Node, Op, Span, Unary};
        let nodes = [
            Node { op: Op::Input, len: 1 },
            Node { op: Op::Unary { x: 0, f: Unary::Relu }, len: 1 },
            Node { op: Op::ScaleShift { x: 0, scale: Span::new(0, 1), shift: Span::new(1, 0) }, len: 1 },
            Node { op: Op::Add { a: 1, b: 2 }, len: 1 },
        ];
        let weights = [-0.5f64];
        let g = Graph { nodes: &nodes, weights: &weights, indices: &[], output: 3 };
        let (lo, hi) = ([-1.0f64], [2.0f64]);
        let settings = Settings { branching: Branching::Input, ..Settings::default() };
        let deadline = Instant::now() + std::time::Duration::from_secs(60);
        for (rhs, want) in [(-0.2, Verdict::Holds), (0.1, Verdict::Violated)] {
            let rhs = [rhs];
            let spec = Spec { lo: &lo, hi: &hi, rows: &[1.0], rhs: &rhs, clause_ends: &[1] };
            let root = Settings { max_steps: 1, ..settings };
            let (v, _, _) = verify(&g, &spec, &root, 1 << 12, 0, 1, deadline);
            if want == Verdict::Holds {
                assert_eq!(v, Verdict::Unknown(Reason::Steps), "the root alone must not decide");
            }
            for threads in [1, 2, 3] {
                let (v, stats, cex) = verify(&g, &spec, &settings, 1 << 12, 0, threads, deadline);
                assert_eq!(v, want, "threads {threads}");
                if want == Verdict::Holds {
                    assert!(stats.bounded > 1);
                } else {
                    assert!(cex[0].abs() <= 0.2 + 1e-9, "witness {cex:?}");
                }
            }
        }
    }

    #[test]
    fn bisect_stops_on_a_point_box() {
        let parts = bisect(&[1.0f32, 2.0], &[1.0f32, 2.0], 8);
        assert_eq!(parts.len(), 1);
        let parts = bisect(&[1.0f32], &[f32::from_bits(1.0f32.to_bits() + 1)], 8);
        assert_eq!(parts.len(), 1);
    }
}
