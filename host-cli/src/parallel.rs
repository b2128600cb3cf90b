//! Branch and bound of one input box on several threads.
//!
//! The core's branch and bound is single-threaded (it runs on a microcontroller in fixed memory).
//! On the host, an input-split search is spread over the cores through a shared queue of boxes:
//! a thread takes a box, runs the core's search on it for a limited number of domains, and puts
//! the boxes of the domains still open back into the queue. So the cuts are the ones the search
//! itself chose (cutting the box blindly up front made parts that were harder than the whole:
//! ACAS Xu 2_7 property 1 took 1,905 domains on one thread and did not finish in 30 s on two),
//! and an idle thread finds work as long as any is left. Sound by construction: the open boxes
//! of a part cover every point of it that is not yet verified, the box holds once the queue is
//! empty and no part is running, and a counterexample of a part is one of the box. The first
//! part that ends otherwise (violated, unknown) stops the others.
//!
//! Activation-split (BBPS) searches stay on one thread: their domains are more than a box.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Instant;

use genbab_core::bab::{self, OpenDomain, Phase, Reason, Settings, Stats, Verdict};
use genbab_core::graph::Graph;
use genbab_core::num::Scalar;
use genbab_core::spec::Spec;

/// Domains a part bounds before it hands its open boxes back to the queue while the queue is
/// short (so that the work spreads quickly), and once every thread has work.
const SPREAD_STEPS: u64 = 8;
const PART_STEPS: u64 = 256;

/// First pool capacity of an input-split search (about 9 MiB for ACAS Xu in f64).
const FIRST_INPUT_POOL: usize = 1 << 16;

/// The result of one box: verdict, effort, and the counterexample when violated.
pub type Outcome<T> = (Verdict, Stats, Vec<T>);

/// The shared state of a parallel search.
struct Work<T> {
    /// Domains not yet verified and not taken (box and interval caps).
    queue: Vec<OpenDomain<T>>,
    /// Parts being searched.
    busy: usize,
    /// Domains granted to the running parts and bounded by the finished ones (for `max_steps`).
    spent: u64,
    /// Counters of all parts so far.
    stats: Stats,
    /// The first part that ended other than verified or out of steps.
    end: Option<(Verdict, Vec<T>)>,
}

/// Verify `spec` on `g` until `deadline` with up to `threads` threads. `domains` is the pool
/// capacity of the whole search and `depth` the split depth.
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
    let stop = AtomicBool::new(false);
    if threads == 1 || !settings.splits_input(spec.lo.len()) {
        let whole = OpenDomain { lo: spec.lo.to_vec(), hi: spec.hi.to_vec(), caps: Vec::new() };
        return verify_part(g, spec, &whole, settings, domains, depth, deadline, &stop, None);
    }
    let work = Mutex::new(Work {
        queue: vec![OpenDomain { lo: spec.lo.to_vec(), hi: spec.hi.to_vec(), caps: Vec::new() }],
        busy: 0,
        spent: 0,
        stats: Stats::default(),
        end: None,
    });
    let wake = Condvar::new();
    let lock = || work.lock().unwrap_or_else(|e| e.into_inner());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                while let Some((dom, steps)) =
                    take(&work, &wake, threads, settings.max_steps, deadline, &stop)
                {
                    let part = Settings { max_steps: steps, ..*settings };
                    let cap = domains.min(steps as usize + 2);
                    let mut open = Vec::new();
                    let (v, st, cex) =
                        verify_part(g, spec, &dom, &part, cap, depth, deadline, &stop, Some(&mut open));
                    let mut w = lock();
                    w.stats.add(&st);
                    w.busy -= 1;
                    w.spent -= steps - st.bounded.min(steps); // give back what the part did not use
                    match v {
                        Verdict::Holds => {}
                        Verdict::Unknown(Reason::Steps) if !open.is_empty() => w.queue.append(&mut open),
                        _ => {
                            if w.end.is_none() {
                                w.end = Some((v, cex));
                            }
                            stop.store(true, Ordering::SeqCst);
                        }
                    }
                    wake.notify_all();
                }
            });
        }
    });
    let w = work.into_inner().unwrap_or_else(|e| e.into_inner());
    match w.end {
        Some((v, cex)) => (v, w.stats, cex),
        None if w.queue.is_empty() && w.busy == 0 => (Verdict::Holds, w.stats, Vec::new()),
        None if settings.max_steps > 0 && w.spent >= settings.max_steps => {
            (Verdict::Unknown(Reason::Steps), w.stats, Vec::new())
        }
        None => (Verdict::Unknown(Reason::Timeout), w.stats, Vec::new()),
    }
}

/// The boxes of `spec`'s input region that the search has not verified, at least `want` of them
/// when it gets that far before `deadline`: breadth first, each box searched for a few domains
/// (as a part of [`verify`] is) and replaced by the boxes left open, so the cuts are the search's
/// own. A box the search verifies is dropped; one it decides otherwise (a counterexample, an
/// unknown) is kept whole, for whoever runs the parts to decide. Input splitting only.
pub fn open_boxes<T: Scalar>(
    g: &Graph<'_, T>,
    spec: &Spec<'_, T>,
    settings: &Settings,
    depth: usize,
    want: usize,
    deadline: Instant,
) -> Vec<OpenDomain<T>> {
    let stop = AtomicBool::new(false);
    let mut queue = std::collections::VecDeque::from([OpenDomain {
        lo: spec.lo.to_vec(),
        hi: spec.hi.to_vec(),
        caps: Vec::new(),
    }]);
    let mut kept = Vec::new();
    while queue.len() + kept.len() < want && Instant::now() < deadline {
        let Some(dom) = queue.pop_front() else { break };
        let part = Settings { max_steps: SPREAD_STEPS, ..*settings };
        let mut open = Vec::new();
        let cap = SPREAD_STEPS as usize + 2;
        let (v, _, _) = verify_part(g, spec, &dom, &part, cap, depth, deadline, &stop, Some(&mut open));
        match v {
            Verdict::Holds => {}
            Verdict::Unknown(Reason::Steps) if !open.is_empty() => queue.extend(open),
            _ => kept.push(dom),
        }
    }
    kept.extend(queue);
    kept
}

/// Wait for a box to search and the number of domains to spend on it; `None` when the search
/// is over (decided, stopped, out of time or out of steps).
fn take<T>(
    work: &Mutex<Work<T>>,
    wake: &Condvar,
    threads: usize,
    max_steps: u64,
    deadline: Instant,
    stop: &AtomicBool,
) -> Option<(OpenDomain<T>, u64)> {
    let mut w = work.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let now = Instant::now();
        if stop.load(Ordering::SeqCst) || now >= deadline {
            return None;
        }
        let left = if max_steps > 0 { max_steps.saturating_sub(w.spent) } else { u64::MAX };
        if left == 0 {
            return None;
        }
        if let Some(dom) = w.queue.pop() {
            let steps = if w.queue.len() + w.busy < threads { SPREAD_STEPS } else { PART_STEPS }.min(left);
            w.busy += 1;
            w.spent += steps;
            return Some((dom, steps));
        }
        if w.busy == 0 {
            return None; // nothing queued, nothing running: every box is verified
        }
        w = wake.wait_timeout(w, deadline - now).map(|r| r.0).unwrap_or_else(|e| e.into_inner().0);
    }
}

/// One domain (box and caps): branch and bound with a domain pool that starts small (allocating it is not free)
/// and grows up to `domains` when it fills.
#[allow(clippy::too_many_arguments)]
fn verify_part<T: Scalar>(
    g: &Graph<'_, T>,
    spec: &Spec<'_, T>,
    dom: &OpenDomain<T>,
    settings: &Settings,
    domains: usize,
    depth: usize,
    deadline: Instant,
    stop: &AtomicBool,
    mut open: Option<&mut Vec<OpenDomain<T>>>,
) -> Outcome<T> {
    let part = Spec { lo: &dom.lo, hi: &dom.hi, ..*spec };
    let mut total = Stats::default();
    // A restart on a full pool repeats all the work so far, so start large where a domain is
    // small (input split: a box, no split list).
    let mut cap = domains.min(if settings.splits_input(dom.lo.len()) { FIRST_INPUT_POOL } else { 4096 });
    // α for the intermediate bounds at the root may take a quarter of the time left.
    let now = Instant::now();
    let alpha_end = now + deadline.saturating_duration_since(now) / 4;
    loop {
        let mut keep_going = |s: &Stats| {
            let t = Instant::now();
            t < deadline
                && !stop.load(Ordering::Relaxed)
                && (s.phase != Phase::IntermediateAlpha || t < alpha_end)
        };
        let (verdict, stats, cex) = bab::verify_alloc(
            g,
            &part,
            settings,
            cap,
            depth,
            &mut keep_going,
            &dom.caps,
            open.as_deref_mut(),
        );
        total.add(&stats);
        if verdict == Verdict::Unknown(Reason::Capacity) && cap < domains && Instant::now() < deadline {
            cap = domains.min(cap.saturating_mul(16));
            continue;
        }
        return (verdict, total, cex);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use genbab_core::bab::Branching;

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
}
