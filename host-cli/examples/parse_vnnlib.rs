//! Parse VNN-LIB files and print their shape and the time taken:
//! `cargo run -p genbab-cli --release --example parse_vnnlib -- FILE...`.
fn main() {
    for f in std::env::args().skip(1) {
        let t = std::time::Instant::now();
        match genbab_cli::vnnlib::read(std::path::Path::new(&f)) {
            Ok(p) => {
                let clauses: usize = p.cases.iter().map(|c| c.clause_ends.len()).sum();
                println!(
                    "{f}: {} inputs, {} outputs, {} boxes, {clauses} clauses, {:.3}s",
                    p.n_inputs,
                    p.n_outputs,
                    p.cases.len(),
                    t.elapsed().as_secs_f64()
                );
            }
            Err(e) => println!("error: {e}"),
        }
    }
}
