//! Any text: the VNN-LIB reader returns a property or a one-line error (positioned, or without a
//! position), never panics; a
//! property it returns is consistent (box and row sizes, increasing clause ends).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match genbab_cli::vnnlib::parse(text, "fuzz.vnnlib") {
        Ok(p) => {
            for c in &p.cases {
                assert_eq!(c.lo.len(), p.n_inputs);
                assert_eq!(c.hi.len(), p.n_inputs);
                assert_eq!(c.rows.len(), c.rhs.len() * p.n_outputs);
                assert!(c.clause_ends.windows(2).all(|w| w[0] < w[1]));
                assert_eq!(c.clause_ends.last().map(|&e| e as usize), Some(c.rhs.len()));
                assert!(c.lo.iter().zip(&c.hi).all(|(l, h)| l <= h && l.is_finite() && h.is_finite()));
            }
        }
        Err(e) => {
            // A position in the text, or none at all (what is missing is missing everywhere).
            assert!((e.line >= 1 && e.col >= 1) || (e.line == 0 && e.col == 0), "{e}");
            assert!(!e.to_string().contains('\n'), "{e}");
        }
    }
});
