//! `genbab check MODEL PROPERTY CERTIFICATE`: replay a proof certificate (`verify
//! --certificate`); prints `valid`, or `invalid: <reason>` and exits 1.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use genbab_cli::{certificate, files, onnx, vnnlib};

#[derive(clap::Args)]
pub struct Args {
    /// The network (ONNX) the certificate is about.
    pub model: PathBuf,
    /// The property (VNN-LIB) the certificate proves.
    pub property: PathBuf,
    /// The certificate (`verify --certificate`).
    pub certificate: PathBuf,
}

pub fn run(a: Args) -> ExitCode {
    let start = Instant::now();
    let setup = (|| -> Result<_, String> {
        let (model, bytes) = onnx::load_with_bytes(&a.model).map_err(|e| e.to_string())?;
        let prop = vnnlib::read(&a.property).map_err(|e| e.to_string())?;
        genbab_cli::engine::check_shapes(&model, &prop)
            .map_err(|e| format!("{}: {e}", a.property.display()))?;
        let cert = files::read(&a.certificate).map_err(|e| format!("{}: {e}", a.certificate.display()))?;
        let onnx = genbab_core::cert::sha256(&bytes);
        certificate::check(&model, &prop, &onnx, &cert)
    })();
    match setup {
        Err(msg) => {
            eprintln!("error: {msg}");
            ExitCode::from(2)
        }
        Ok(Ok(s)) => {
            outln!("valid");
            eprintln!(
                "note: {} input box(es), {} leaves bounded, {} cuts, depth {}, {} bytes, {:.3} s",
                s.boxes,
                s.leaves,
                s.cuts,
                s.depth,
                s.bytes,
                start.elapsed().as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        Ok(Err(e)) => {
            outln!("invalid: {}", certificate::describe(&e));
            ExitCode::from(1)
        }
    }
}
