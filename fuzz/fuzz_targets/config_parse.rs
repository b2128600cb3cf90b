//! Any text as a `--config` file: the TOML settings reader returns command-line tokens or one
//! line of error, never panics; every flag it returns is a known one.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let known: Vec<String> =
        ["timeout", "alpha-iters", "branching", "no-prune", "jobs"].map(String::from).into();
    match genbab_cli::config::parse(text, "f.toml", &known) {
        Ok(tokens) => {
            // Each setting is a flag, possibly followed by its value.
            let mut it = tokens.iter().peekable();
            while let Some(t) = it.next() {
                let name = t.strip_prefix("--").expect("a setting starts with its flag");
                assert!(known.iter().any(|k| k == name), "unknown flag {t}");
                if it.peek().is_some_and(|v| !v.starts_with("--")) {
                    it.next();
                }
            }
        }
        Err(e) => assert!(e.starts_with("f.toml: ") && !e.contains('\n'), "{e}"),
    }
});
