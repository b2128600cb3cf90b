//! The committed tables are what the generator computes, entry for entry, and the search does
//! what it promises.

use std::path::PathBuf;

use genbab_core::graph::Unary;
use genbab_core::tables::{self as fmt, Header, Resolution, TableId, validate_bytes, validate_table};
use genbab_tables::{Spec, best_fraction, file, payload, read_entry, spec, specs};

/// splitmix64.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn committed(s: &Spec) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data").join(s.file_name());
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn committed_tables_have_the_generator_grids() {
    for res in [Resolution::Device, Resolution::Host] {
        let mut total = 0;
        for s in specs(res) {
            let bytes = committed(&s);
            total += bytes.len();
            let h = validate_table(&bytes, s.id, res).unwrap_or_else(|e| panic!("{}: {e:?}", s.file_name()));
            assert_eq!(h, Header { checksum: h.checksum, ..s.header() }, "{}", s.file_name());
        }
        println!("{}: {total} bytes", res.name());
        if res == Resolution::Device {
            assert!(total <= 64 * 1024, "device tables: {total} bytes > 64 KiB");
        }
    }
}

/// Entries to sample from a table: both corners and random ones.
fn sample(s: &Spec, n: usize, rng: &mut Rng) -> Vec<usize> {
    let e = s.entries();
    let mut v = vec![0, e - 1];
    v.extend((0..n).map(|_| rng.below(e)));
    v
}

fn check_sampled(res: Resolution, per_table: usize) {
    let mut rng = Rng(0x7ab1e5 + res.code() as u64);
    for s in specs(res) {
        let bytes = committed(&s);
        let mut nonmid = 0;
        for e in sample(&s, per_table, &mut rng) {
            let stored = read_entry(&bytes, s.width, e).unwrap();
            let fresh = s.compute(e);
            assert_eq!(stored, fresh, "{} entry {e} (cells {:?})", s.file_name(), s.entry_cells(e));
            // Never worse than the midpoint of the cell (up to the tie tolerance).
            let ((gl, gu), _) = s.entry_cells(e);
            if stored != 0 {
                let p = fmt::decode_point(gl, gu, stored, s.width);
                assert!(gl < p && p < gu);
                let (lp, lm) = (s.loss(e, p), s.loss(e, 0.5 * (gl + gu)));
                assert!(lp <= lm * (1.0 + 1e-9), "{} entry {e}: {lp} > midpoint {lm}", s.file_name());
                nonmid += (2 * stored != fmt::denominator(s.width)) as usize;
            }
        }
        println!(
            "{}: {} sampled entries match; {nonmid} of them differ from ½",
            s.file_name(),
            per_table + 2
        );
    }
}

#[test]
fn sampled_device_entries_recompute_bit_for_bit() {
    check_sampled(Resolution::Device, 200);
}

#[test]
fn sampled_host_entries_recompute_bit_for_bit() {
    check_sampled(Resolution::Host, 200);
}

#[test]
fn payload_does_not_depend_on_threads() {
    let small = Spec { lo: -2.0, step: 0.25, count: 17, ..spec(TableId::Gelu, Resolution::Host) };
    let one = file(&small, 1);
    assert_eq!(one, file(&small, 3));
    assert_eq!(validate_bytes(&one).map(|h| h.count), Ok(17));
    let mul = Spec { lo: -1.0, step: 0.5, count: 5, ..spec(TableId::Mul, Resolution::Device) };
    assert_eq!(payload(&mul, 1), payload(&mul, 2));
    assert_eq!(payload(&mul, 1).len(), 10 * 10);
}

#[test]
fn cell_of_inverts_cell_index() {
    for s in [spec(TableId::Sin, Resolution::Host), spec(TableId::Reciprocal, Resolution::Device)] {
        let n = s.count as usize;
        let mut t = 0;
        for i in 0..n {
            for j in i + 1..n {
                assert_eq!(fmt::cell_index(n, i, j), t);
                assert_eq!(s.cell_of(t), (i, j));
                t += 1;
            }
        }
        assert_eq!(t, s.cells());
    }
}

#[test]
fn search_finds_minima_and_breaks_ties_toward_the_midpoint() {
    for width in [1u8, 2] {
        let den = fmt::denominator(width);
        let mid = den / 2;
        // Flat: the midpoint.
        assert_eq!(best_fraction(width, |_| 1.0), mid);
        // Any minimum, found exactly (unimodal loss).
        for target in [1, 10, mid - 3, mid + 7, den - 1] {
            let k = best_fraction(width, |k| (k as f64 - target as f64).powi(2) + 5.0);
            assert_eq!(k, target, "width {width}");
        }
        // Two equal minima (on the coarse candidates): the one nearer the midpoint; equally
        // near → the smaller.
        let s = den as f64 / 64.0;
        let two = |a: f64, b: f64| {
            move |k: u32| (k as f64 - (mid as f64 + a)).abs().min((k as f64 - (mid as f64 + b)).abs())
        };
        assert_eq!(best_fraction(width, two(-2.0 * s, s)) as f64, mid as f64 + s);
        assert_eq!(best_fraction(width, two(-2.0 * s, 2.0 * s)) as f64, mid as f64 - 2.0 * s);
        // Within the relative tie tolerance counts as a tie.
        let k = best_fraction(width, |k| if k == mid { 1.0 } else { 1.0 - 1e-12 });
        assert_eq!(k, mid);
        // No finite loss anywhere: no point.
        assert_eq!(best_fraction(width, |_| f64::INFINITY), 0);
        assert_eq!(best_fraction(width, |_| f64::NAN), 0);
    }
}

#[test]
fn an_off_centre_optimum_beats_the_midpoint() {
    // A sanity check of the objective on one cell, independent of the grid: GeLU on [−1, 3] is
    // nearly linear on the right, so the best split lies left of the midpoint.
    let (l, u) = (-1.0, 3.0);
    let f = Unary::Gelu;
    let k = best_fraction(2, |k| genbab_tables::loss_1d(f, l, fmt::decode_point(l, u, k, 2), u));
    let p = fmt::decode_point(l, u, k, 2);
    let (lp, lm) = (genbab_tables::loss_1d(f, l, p, u), genbab_tables::loss_1d(f, l, 1.0, u));
    println!("gelu on [{l}, {u}]: p = {p}, loss {lp} vs midpoint {lm}");
    assert!(p < 1.0 && lp < 0.95 * lm);
}
