//! `genbab bounds MODEL PROP`: certified output bounds, one line per output.

use std::path::PathBuf;
use std::process::ExitCode;

use genbab_cli::{engine, onnx, vnnlib};

use crate::opts::{MethodArg, PrecisionArg};

#[derive(clap::Args)]
pub struct Args {
    /// The network (ONNX).
    pub model: PathBuf,
    /// The property (VNN-LIB) whose input box(es) are bounded over (their union).
    pub property: PathBuf,
    /// Bound engine.
    #[arg(long, value_enum, default_value = "crown")]
    pub method: MethodArg,
    /// Scalar type of the computation.
    #[arg(long, value_enum, default_value = "f64")]
    pub precision: PrecisionArg,
}

pub fn run(a: Args) -> ExitCode {
    let r = (|| -> Result<(Vec<f64>, Vec<f64>), String> {
        let model = onnx::load(&a.model).map_err(|e| e.to_string())?;
        let prop = vnnlib::read(&a.property).map_err(|e| e.to_string())?;
        engine::check_shapes(&model, &prop).map_err(|e| format!("{}: {e}", a.property.display()))?;
        engine::output_bounds(&model, &prop, &a.method.config(), a.precision.precision())
            .map_err(|e| format!("{}: {e}", a.model.display()))
    })();
    match r {
        Ok((lo, hi)) => {
            for (j, (l, h)) in lo.iter().zip(&hi).enumerate() {
                println!("Y_{j}: [{l:?}, {h:?}]");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
