//! Any text: the frame-stream reader (`genbab bake/monitor --frames FILE`) returns frames or a
//! one-line error with its line, never panics; every frame it returns has `d` finite centres and
//! finite, non-negative radii.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&d, rest)) = data.split_first() else { return };
    let d = 1 + (d as usize % 8);
    let Ok(text) = std::str::from_utf8(rest) else { return };
    match genbab_cli::frames::parse(text, d) {
        Ok(frames) => {
            for f in &frames {
                assert_eq!((f.x.len(), f.r.len()), (d, d));
                assert!(f.x.iter().all(|v| v.is_finite()));
                assert!(f.r.iter().all(|v| v.is_finite() && *v >= 0.0));
            }
        }
        Err((_, e)) => assert!(!e.contains('\n'), "{e}"),
    }
});
