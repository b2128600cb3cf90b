//! `genbab verify MODEL PROP`: one result word (or a JSON object) on stdout.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use genbab_cli::engine::{self, Outcome};
use genbab_cli::{certificate, cex, onnx, vnnlib};

use crate::opts::EngineArgs;

#[derive(clap::Args)]
#[command(args_override_self = true)]
pub struct Args {
    /// The network (ONNX).
    #[arg(required_unless_present = "print_config")]
    pub model: Option<PathBuf>,
    /// The property (VNN-LIB): input box(es) and the unsafe output region.
    #[arg(required_unless_present = "print_config")]
    pub property: Option<PathBuf>,
    /// Print the effective settings (defaults, `--config` file, flags) as a TOML file for
    /// `--config`, and exit.
    #[arg(long)]
    pub print_config: bool,
    /// Wall-clock limit in seconds (loading included): finite and positive.
    #[arg(long, default_value_t = 60.0, value_parser = genbab_cli::values::seconds, allow_negative_numbers = true)]
    pub timeout: f64,
    /// Write the counterexample here (VNN-COMP format) when the result is `sat`.
    #[arg(long)]
    pub cex: Option<PathBuf>,
    /// VNN-COMP results file, always written: the result word (`sat`, `unsat`, `timeout`,
    /// `unknown` or `error`), and after `sat` the counterexample.
    #[arg(long)]
    pub results_file: Option<PathBuf>,
    /// Print a JSON object (result, seconds, stats, reason) instead of the result word.
    #[arg(long)]
    pub json: bool,
    /// After `unsat`, write a proof certificate here that `genbab check` replays without the
    /// search (written within the same `--timeout`; an error if it cannot be).
    #[arg(long)]
    pub certificate: Option<PathBuf>,
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// The tuning settings `--print-config` shows and `--config` reads.
#[derive(serde::Serialize)]
struct Effective<'a> {
    timeout: f64,
    #[serde(flatten)]
    engine: &'a EngineArgs,
}

pub fn run(a: Args) -> ExitCode {
    if a.print_config {
        return match toml::to_string(&Effective { timeout: a.timeout, engine: &a.engine }) {
            Ok(t) => {
                outln!("{}", t.trim_end());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: cannot print the settings: {e}");
                ExitCode::from(2)
            }
        };
    }
    let (Some(model_path), Some(property_path)) = (a.model.clone(), a.property.clone()) else {
        eprintln!("error: MODEL and PROPERTY are required");
        return ExitCode::from(2);
    };
    let start = Instant::now();
    let deadline = engine::deadline(start, a.timeout);
    let opts = a.engine.options(1);
    let mut written: Option<Result<(genbab_core::cert::Summary, f64), String>> = None;
    let result = (|| -> Result<engine::Report, String> {
        let (model, bytes) = onnx::load_with_bytes(&model_path).map_err(|e| e.to_string())?;
        let prop = vnnlib::read(&property_path).map_err(|e| e.to_string())?;
        for w in prop.warnings() {
            eprintln!("warning: {}: {w}", property_path.display());
        }
        engine::check_shapes(&model, &prop).map_err(|e| format!("{}: {e}", property_path.display()))?;
        let report = engine::check(&model, &prop, &opts, deadline)?;
        if let Some(path) = &a.certificate
            && report.outcome == Outcome::Unsat
        {
            let t = Instant::now();
            let onnx = genbab_core::cert::sha256(&bytes);
            written = Some(
                write_certificate(&model, &prop, &onnx, path, opts.precision, deadline)
                    .map(|s| (s, t.elapsed().as_secs_f64())),
            );
        }
        Ok(report)
    })();
    let seconds = start.elapsed().as_secs_f64();
    if let Some(path) = &a.results_file {
        let text = match &result {
            Ok(r) => match &r.outcome {
                Outcome::Sat(c) => cex::format(c),
                o => format!("{}\n", o.word()),
            },
            Err(_) => "error\n".to_string(),
        };
        if let Err(e) = std::fs::write(path, text) {
            eprintln!("error: {}: cannot write the results file: {e}", path.display());
            return ExitCode::from(2);
        }
    }
    match result {
        Err(msg) => {
            if a.json {
                outln!("{}", serde_json::json!({ "result": "error", "seconds": seconds, "reason": msg }));
            } else {
                outln!("error");
            }
            eprintln!("error: {msg}");
            ExitCode::from(2)
        }
        Ok(r) => {
            if let (Outcome::Sat(c), Some(path)) = (&r.outcome, &a.cex)
                && let Err(e) = std::fs::write(path, cex::format(c))
            {
                eprintln!("error: {}: cannot write the counterexample: {e}", path.display());
                return ExitCode::from(2);
            }
            if a.json {
                let reason = match &r.outcome {
                    Outcome::Unknown(s) => Some(s.clone()),
                    Outcome::Timeout => Some("timeout".to_string()),
                    _ => None,
                };
                let v = serde_json::json!({
                    "result": r.outcome.word(),
                    "seconds": seconds,
                    "reason": reason,
                    "boxes_done": r.boxes_done,
                    "values": { "model": r.values.0, "checked": r.values.1 },
                    "certificate": match &written {
                        Some(Ok((c, secs))) => serde_json::json!({
                            "leaves": c.leaves, "cuts": c.cuts, "depth": c.depth, "bytes": c.bytes, "seconds": secs,
                        }),
                        _ => serde_json::Value::Null,
                    },
                    "stats": {
                        "bounded": r.stats.bounded,
                        "max_live": r.stats.max_live,
                        "clipped": r.stats.clipped,
                        "probed": r.stats.probed,
                        "verified": r.stats.verified,
                        "attack_passes": r.stats.attack_passes,
                    },
                });
                outln!("{v}");
            } else {
                outln!("{}", r.outcome.word());
                // The reason on stderr, so that stdout stays the one word scripts read.
                if let Outcome::Unknown(s) = &r.outcome {
                    eprintln!("note: unknown: {s}");
                }
            }
            match written {
                Some(Err(msg)) => {
                    eprintln!("error: {msg}");
                    ExitCode::from(2)
                }
                None if a.certificate.is_some() => {
                    eprintln!("note: no certificate: the result is not unsat");
                    ExitCode::SUCCESS
                }
                _ => ExitCode::SUCCESS,
            }
        }
    }
}

/// Write the certificate of an `unsat` verdict to `path` (`onnx`: the model file's SHA-256).
fn write_certificate(
    model: &genbab_cli::onnx::Model,
    prop: &genbab_cli::vnnlib::Property,
    onnx: &[u8; 32],
    path: &std::path::Path,
    precision: engine::Precision,
    deadline: Instant,
) -> Result<genbab_core::cert::Summary, String> {
    let (cert, summary) = certificate::write(model, prop, onnx, precision, deadline)?;
    std::fs::write(path, cert)
        .map_err(|e| format!("{}: cannot write the certificate: {e}", path.display()))?;
    Ok(summary)
}
