//! `genbab bounds MODEL PROP`: certified output bounds, one line per output.

use std::path::PathBuf;
use std::process::ExitCode;

use genbab_cli::{engine, onnx, vnnlib};

use genbab_core::bound::{Config, Deploy, Method};

use crate::opts::{AlphaArgs, PrecisionArg};

/// `bounds --method`.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum BoundsMethod {
    /// Interval bound propagation.
    Ibp,
    /// CROWN.
    Crown,
    /// α-CROWN: CROWN with each output bound's relaxations optimised (`--alpha-iters` steps).
    Alpha,
}

#[derive(clap::Args)]
pub struct Args {
    /// The network (ONNX).
    pub model: PathBuf,
    /// The property (VNN-LIB) whose input box(es) are bounded over (their union).
    pub property: PathBuf,
    /// Bound engine (`alpha` = CROWN with `--alpha-iters` optimisation steps per output bound).
    #[arg(long, value_enum, default_value = "crown")]
    pub method: BoundsMethod,
    /// Scalar type of the computation.
    #[arg(long, value_enum, default_value = "f64")]
    pub precision: PrecisionArg,
    #[command(flatten)]
    pub alpha: AlphaArgs,
}

pub fn run(a: Args) -> ExitCode {
    let r = (|| -> Result<(Vec<f64>, Vec<f64>), String> {
        let model = onnx::load(&a.model).map_err(|e| e.to_string())?;
        let prop = vnnlib::read(&a.property).map_err(|e| e.to_string())?;
        for w in prop.warnings() {
            eprintln!("warning: {}: {w}", a.property.display());
        }
        engine::check_shapes(&model, &prop).map_err(|e| format!("{}: {e}", a.property.display()))?;
        let method = if matches!(a.method, BoundsMethod::Ibp) { Method::Ibp } else { Method::Crown };
        let cfg = Config { method, deploy: Deploy::F32 };
        let mut alpha = a.alpha.settings();
        if !matches!(a.method, BoundsMethod::Alpha) {
            alpha.iters = 0;
        }
        engine::output_bounds(&model, &prop, &cfg, a.precision.precision(), &alpha)
            .map_err(|e| format!("{}: {e}", a.model.display()))
    })();
    match r {
        Ok((lo, hi)) => {
            for (j, (l, h)) in lo.iter().zip(&hi).enumerate() {
                outln!("Y_{j}: [{l:?}, {h:?}]");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
