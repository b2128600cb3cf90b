//! Any byte string: the ONNX loader returns a model or an error, never panics, and a model it
//! returns validates and evaluates.
#![no_main]

use genbab_cli::onnx::{Limits, load_bytes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Small size limits keep absurd dimensions from exhausting the fuzzer's memory.
    if let Ok(m) = load_bytes(data, "fuzz.onnx", Limits { max_elems: 1 << 16 }) {
        let g = m.graph::<f64>();
        g.graph().validate().expect("a loaded model validates");
        let x = vec![0.5; m.input_len()];
        let _ = g.eval(&x);
    }
});
