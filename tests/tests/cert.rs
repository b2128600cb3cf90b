//! Proof certificates (`genbab_core::cert`): a certificate the writer makes is valid, and every
//! way of breaking one is refused — a corrupted byte, a dropped leaf, a moved or misplaced cut,
//! swapped children, a changed weight, a loosened or false property, a cut-off or padded file.
//! The tree mutations are resealed (the checksum recomputed), so they reach the checks behind
//! the checksum.

use std::time::{Duration, Instant};

use genbab_cli::certificate;
use genbab_cli::engine::Precision;
use genbab_cli::onnx::{self, Model};
use genbab_cli::vnnlib::{self, Property};
use genbab_core::cert::{self, CHECKSUM_LEN, HEADER_LEN, Invalid, Summary};

const ACAS: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/acasxu/onnx/ACASXU_run2a_2_1_batch_2000.onnx");

/// ACAS Xu property 4 (clear of conflict is not the minimal score) on `boxes`, each
/// `[(lo, hi); 5]`, as one disjunction of input boxes.
fn property(boxes: &[[(f64, f64); 5]], rhs: f64) -> Property {
    let mut t = String::new();
    for i in 0..5 {
        t += &format!("(declare-const X_{i} Real)\n");
    }
    for i in 0..5 {
        t += &format!("(declare-const Y_{i} Real)\n");
    }
    t += "(assert (or\n";
    for b in boxes {
        t += "  (and";
        for (i, (l, h)) in b.iter().enumerate() {
            t += &format!(" (>= X_{i} {l:?}) (<= X_{i} {h:?})");
        }
        t += ")\n";
    }
    t += "))\n";
    // Unsafe: Y_0 is the minimal score (up to `rhs`).
    for j in 1..5 {
        t += &format!("(assert (<= (- Y_0 Y_{j}) {rhs:?}))\n");
    }
    vnnlib::parse(&t, "test.vnnlib").unwrap()
}

/// Property 4's box with `X_1` widened to `±w`.
fn prop4_box(w: f64) -> [(f64, f64); 5] {
    [(-0.303531156, -0.298552812), (-w, w), (0.0, 0.0), (0.318181818, 0.5), (0.083333333, 0.166666667)]
}

fn model() -> (Model, [u8; 32]) {
    let bytes = std::fs::read(ACAS).unwrap();
    let m = onnx::load_bytes(&bytes, ACAS, onnx::Limits::default()).unwrap();
    (m, cert::sha256(&bytes))
}

fn write(m: &Model, p: &Property, onnx: &[u8; 32], precision: Precision) -> (Vec<u8>, Summary) {
    certificate::write(m, p, onnx, precision, Instant::now() + Duration::from_secs(300)).unwrap()
}

fn check(m: &Model, p: &Property, onnx: &[u8; 32], bytes: &[u8]) -> Result<Summary, Invalid> {
    certificate::check(m, p, onnx, bytes).unwrap()
}

/// Recompute the closing checksum.
fn reseal(mut b: Vec<u8>) -> Vec<u8> {
    let n = b.len() - CHECKSUM_LEN;
    let sum = cert::sha256(&b[..n]);
    b[n..].copy_from_slice(&sum);
    b
}

/// A tree node in storage order: its offset, whether it is a cut, and the end of its subtree.
#[derive(Clone, Copy, Debug)]
struct Node {
    at: usize,
    cut: bool,
    end: usize,
}

/// The nodes of the trees (all boxes) in storage order.
fn nodes(b: &[u8], boxes: usize) -> Vec<Node> {
    fn walk(b: &[u8], at: usize, out: &mut Vec<Node>) -> usize {
        let i = out.len();
        out.push(Node { at, cut: b[at] != 0, end: 0 });
        let end = if b[at] != 0 {
            let mid = walk(b, at + 11, out);
            walk(b, mid, out)
        } else {
            at + 1
        };
        out[i].end = end;
        end
    }
    let mut out = Vec::new();
    let mut at = HEADER_LEN;
    for _ in 0..boxes {
        at = walk(b, at, &mut out);
    }
    assert_eq!(at, b.len() - CHECKSUM_LEN);
    out
}

/// The node starting at `at`.
fn node_at(ns: &[Node], at: usize) -> Node {
    *ns.iter().find(|n| n.at == at).unwrap()
}

#[test]
fn written_certificates_check_in_f64_and_f32_over_several_boxes() {
    let (m, onnx) = model();
    let p = property(&[prop4_box(0.05), prop4_box(0.009549297)], 0.0);
    for precision in [Precision::F64, Precision::F32] {
        let (b, s) = write(&m, &p, &onnx, precision);
        assert_eq!(s.boxes, 2);
        assert!(s.cuts > 10, "{s:?}");
        assert_eq!(s.leaves, s.cuts + 2, "a binary tree per box");
        assert_eq!(s.bytes as usize, b.len());
        assert_eq!(b.len(), HEADER_LEN + CHECKSUM_LEN + s.leaves as usize + 11 * s.cuts as usize);
        assert_eq!(b[10], if precision == Precision::F32 { 0 } else { 1 });
        assert_eq!(check(&m, &p, &onnx, &b), Ok(s));
        // The boxes in the other order: another property.
        let q = property(&[prop4_box(0.009549297), prop4_box(0.05)], 0.0);
        assert_eq!(check(&m, &q, &onnx, &b), Err(Invalid::Property));
    }
}

#[test]
fn every_mutation_of_a_certificate_is_refused() {
    let (m, onnx) = model();
    let p = property(&[prop4_box(0.05)], 0.0);
    let (b, s) = write(&m, &p, &onnx, Precision::F64);
    assert_eq!(check(&m, &p, &onnx, &b), Ok(s));
    let ns = nodes(&b, 1);
    assert_eq!(ns.len() as u32, s.leaves + s.cuts);

    // One flipped byte anywhere: the checksum.
    for at in [0, 9, 20, HEADER_LEN, HEADER_LEN + 5, b.len() / 2, b.len() - 1] {
        let mut c = b.clone();
        c[at] ^= 0x10;
        assert!(check(&m, &p, &onnx, &c).is_err(), "byte {at}");
        if at >= 16 {
            assert_eq!(check(&m, &p, &onnx, &c), Err(Invalid::Checksum), "byte {at}");
        }
    }

    // Drop a leaf: a cut of two leaves becomes one leaf. The writer cut that part because the
    // leaf test failed on it, so the merged leaf must fail.
    let twin = ns.iter().find(|n| n.cut && n.end == n.at + 13).expect("a cut of two leaves");
    let mut c = b.clone();
    c.splice(twin.at..twin.end, [0u8]);
    assert!(matches!(check(&m, &p, &onnx, &reseal(c)), Err(Invalid::Unproved { .. })));
    // Or just delete one leaf byte: the nodes after it shift into other parts of the box (and
    // the tree ends early).
    let mut c = b.clone();
    c.remove(twin.at + 11);
    let r = check(&m, &p, &onnx, &reseal(c));
    assert!(
        matches!(r, Err(Invalid::Tag { .. } | Invalid::Unproved { .. } | Invalid::Point { .. })),
        "{r:?}"
    );

    // Swap the children of a cut whose one child is a leaf and the other a subtree: the leaf lands
    // on a part the writer had to cut.
    let (cut, lo, hi) = ns
        .iter()
        .filter(|n| n.cut)
        .map(|n| (*n, node_at(&ns, n.at + 11), node_at(&ns, node_at(&ns, n.at + 11).end)))
        .find(|(_, l, h)| l.cut != h.cut)
        .expect("a cut with a leaf and a subtree");
    let mut c = b[..cut.at + 11].to_vec();
    c.extend_from_slice(&b[hi.at..hi.end]);
    c.extend_from_slice(&b[lo.at..lo.end]);
    c.extend_from_slice(&b[cut.end..]);
    assert_eq!(c.len(), b.len());
    let r = check(&m, &p, &onnx, &reseal(c));
    assert!(matches!(r, Err(Invalid::Unproved { .. } | Invalid::Point { .. })), "{r:?}");

    // Move that cut's point: to its box's edge (no longer strictly inside), outside the box, and
    // most of the way towards the subtree's side (the leaf then covers what needed cuts).
    let point = |c: &[u8]| f64::from_le_bytes(c[cut.at + 3..cut.at + 11].try_into().unwrap());
    let set = |p: f64| {
        let mut c = b.clone();
        c[cut.at + 3..cut.at + 11].copy_from_slice(&p.to_le_bytes());
        reseal(c)
    };
    let k = u16::from_le_bytes([b[cut.at + 1], b[cut.at + 2]]) as usize;
    let (l0, h0) = prop4_box(0.05)[k];
    let p0 = point(&b);
    assert!(l0 < p0 && p0 < h0);
    for bad in [l0, h0, h0 + 1.0, f64::NAN] {
        let r = check(&m, &p, &onnx, &set(bad));
        assert!(matches!(r, Err(Invalid::Point { .. })), "{bad}: {r:?}");
    }
    // The subtree is the upper part when the leaf is the lower one, and the other way round.
    let towards = if lo.cut { p0 - 0.99 * (p0 - l0) } else { p0 + 0.99 * (h0 - p0) };
    let r = check(&m, &p, &onnx, &set(towards));
    assert!(matches!(r, Err(Invalid::Unproved { .. } | Invalid::Point { .. })), "{r:?}");
    // A dimension that is not an input.
    let mut c = b.clone();
    c[cut.at + 1] = 5;
    assert!(matches!(check(&m, &p, &onnx, &reseal(c)), Err(Invalid::Dim { .. })));

    // Cut off, padded, or not a certificate at all.
    let mut c = b.clone();
    c.remove(b.len() - CHECKSUM_LEN - 1);
    assert!(matches!(check(&m, &p, &onnx, &reseal(c)), Err(Invalid::Tag { .. })));
    let mut c = b.clone();
    c.insert(b.len() - CHECKSUM_LEN, 0);
    assert!(matches!(check(&m, &p, &onnx, &reseal(c)), Err(Invalid::Trailing { .. })));
    assert_eq!(check(&m, &p, &onnx, &b[..HEADER_LEN]), Err(Invalid::Truncated));
    let mut c = b.clone();
    c[0] = b'X';
    assert_eq!(check(&m, &p, &onnx, &c), Err(Invalid::Magic));
    let mut c = b.clone();
    c[8] = 2;
    assert_eq!(check(&m, &p, &onnx, &reseal(c)), Err(Invalid::Version(2)));
    let mut c = b.clone();
    c[11] = 7;
    assert_eq!(check(&m, &p, &onnx, &reseal(c)), Err(Invalid::LeafTest(7)));
}

#[test]
fn a_changed_model_or_property_is_refused() {
    let (m, onnx) = model();
    let p = property(&[prop4_box(0.009549297)], 0.0);
    let (b, _) = write(&m, &p, &onnx, Precision::F64);
    // Another ONNX file.
    assert_eq!(check(&m, &p, &[7; 32], &b), Err(Invalid::Onnx));
    // One weight changed by one ulp.
    let mut m2 = m.clone();
    m2.weights[0] = f64::from((m2.weights[0] as f32).next_up());
    assert_eq!(check(&m2, &p, &onnx, &b), Err(Invalid::Graph));
    // A loosened property (a wider box, or a larger unsafe region).
    let wide = property(&[prop4_box(0.01)], 0.0);
    assert_eq!(check(&m, &wide, &onnx, &b), Err(Invalid::Property));
    // A forged property fingerprint does not help a property that does not hold: Y_0 is the
    // minimal score up to 1000 everywhere, so no leaf can prove it.
    let false_p = property(&[prop4_box(0.009549297)], 1000.0);
    let mut c = b.clone();
    c[80..112].copy_from_slice(&certificate::property_digest(&false_p, Precision::F64).unwrap());
    assert!(matches!(check(&m, &false_p, &onnx, &reseal(c)), Err(Invalid::Unproved { .. })));
}

/// The core's checker with a plan shallower than the tree refuses it (`Depth`) instead of
/// overrunning its buffers, and buffers smaller than the plan are refused up front.
#[test]
fn a_tree_deeper_than_the_plan_is_refused() {
    use genbab_core::bound::{Config, Plan, Workspace};
    use genbab_core::cert::{CheckBuffers, CheckPlan};
    use genbab_core::spec::Spec;
    let (m, onnx) = model();
    let p = property(&[prop4_box(0.05)], 0.0);
    let (b, s) = write(&m, &p, &onnx, Precision::F64);
    assert!(s.depth >= 3, "{s:?}");
    let og = m.graph::<f64>();
    let g = og.graph();
    let c = &p.cases[0];
    let spec = Spec { lo: &c.lo, hi: &c.hi, rows: &c.rows, rhs: &c.rhs, clause_ends: &c.clause_ends };
    let plan = Plan::new(&g, 64).unwrap();
    let (mut sc, mut fl) = (vec![0f64; plan.scalars()], vec![false; plan.flags()]);
    let mut ws = Workspace::new(plan, &mut sc, &mut fl).unwrap();
    for depth in [s.depth as usize - 1, s.depth as usize] {
        let cp = CheckPlan::new(&g, spec.atoms(), depth);
        assert!(
            CheckBuffers::<f64>::new(cp, &mut vec![0.0; cp.scalars() - 1], &mut vec![0; cp.words()])
                .is_none()
        );
        let (mut cs, mut cw) = (vec![0f64; cp.scalars()], vec![0u32; cp.words()]);
        let mut buf = CheckBuffers::new(cp, &mut cs, &mut cw).unwrap();
        let r = cert::check(&b, &g, &[spec], &Config::default(), Some(&onnx), &mut ws, &mut buf);
        if depth < s.depth as usize {
            assert!(matches!(r, Err(Invalid::Depth { .. })), "{r:?}");
        } else {
            assert_eq!(r, Ok(s));
        }
    }
}
