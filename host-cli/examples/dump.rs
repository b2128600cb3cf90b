//! Print the lowered IR of an ONNX model: `cargo run -p genbab-cli --example dump -- MODEL.onnx`.
fn main() {
    let Some(p) = std::env::args().nth(1) else {
        eprintln!("usage: dump MODEL.onnx");
        std::process::exit(2);
    };
    match genbab_cli::onnx::load(std::path::Path::new(&p)) {
        Ok(m) => {
            println!("input shape {:?}, output shape {:?}", m.input_shape, m.output_shape);
            for (i, n) in m.nodes.iter().enumerate() {
                println!("{i}: len {} {:?}", n.len, n.op);
            }
            println!("output: node {}; {} weights, {} indices", m.output, m.weights.len(), m.indices.len());
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    }
}
