//! Any bytes as a results CSV (`bench --resume`, `genbab plot`) or a VNN-COMP `expected.csv`:
//! the readers return rows or one line of error, never panic; rows written back read back the
//! same, and writing them again changes nothing.
#![no_main]

use genbab_cli::results;
use libfuzzer_sys::fuzz_target;

fn write(rows: &[results::Row]) -> Vec<u8> {
    let mut w = results::writer(Vec::new(), true).expect("a header writes");
    for r in rows {
        results::write(&mut w, r).expect("a row writes");
    }
    w.into_inner().expect("a Vec flushes")
}

fuzz_target!(|data: &[u8]| {
    let one_line = |e: &String| assert!(e.starts_with("r.csv") && !e.contains('\n'), "{e}");
    match results::read(data, "r.csv") {
        Ok(rows) => {
            let once = write(&rows);
            let back = results::read(&once[..], "r.csv").expect("written rows read back");
            assert_eq!(back.len(), rows.len());
            assert_eq!(write(&back), once, "writing read-back rows changes nothing");
        }
        Err(e) => one_line(&e),
    }
    match results::series(data, "r.csv", "r", Some("dir")) {
        Ok((s, t)) => {
            assert!(s.times.len() <= s.total);
            assert!(s.times.iter().chain(&t).all(|x| x.is_finite() && *x >= 0.0));
        }
        Err(e) => one_line(&e),
    }
});
