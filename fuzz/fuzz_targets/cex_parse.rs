//! Any text: the counterexample reader (VNN-COMP results and witness files) returns a
//! counterexample or an error, never panics; what it returns formats and parses back unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(c) = genbab_cli::cex::parse(text) {
        if c.x.iter().chain(&c.y).all(|v| !v.is_nan()) {
            let again = genbab_cli::cex::parse(&genbab_cli::cex::format(&c)).expect("a formatted counterexample parses");
            assert_eq!(again, c);
        }
    }
});
