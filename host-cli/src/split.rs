//! `genbab split MODEL PROPERTY --parts N --out DIR`: one hard instance as a benchmark folder of
//! N parts for several machines (`bench --shard`, Slurm, any verifier).
//!
//! The cuts are the input-split search's own ([`genbab_cli::engine::open_boxes`]): the search
//! runs breadth first until about N boxes are left open, dropping the boxes it verifies on the
//! way, so the parts are the hard rest, balanced by what the search found hard rather than by
//! volume. The open boxes are dealt round-robin in search order into N parts; part `k` is the
//! property as written (the file's text, unchanged) with one more assertion: the input lies in
//! one of its boxes. A part is thus never larger than the property, and the parts together
//! cover every point of it the search did not verify. So the property holds if every part holds
//! (`genbab merge --instance`), and a counterexample of a part is one of the property.
//!
//! Input splitting only (at most 16 inputs, or `--branching input`): with more inputs the
//! search splits activations, whose domains are not input regions; `split` then refuses.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use genbab_cli::engine::CaseBox;
use genbab_cli::{engine, files, onnx, vnnlib};

use crate::opts::EngineArgs;

#[derive(clap::Args)]
#[command(args_override_self = true)]
pub struct Args {
    /// The network (ONNX).
    pub model: PathBuf,
    /// The property (VNN-LIB).
    pub property: PathBuf,
    /// How many parts to cut.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub parts: u32,
    /// The folder to write (`onnx/`, `vnnlib/part_K.vnnlib`, `instances.csv`).
    #[arg(long)]
    pub out: PathBuf,
    /// The timeout each part's row in `instances.csv` gets, seconds.
    #[arg(long, default_value_t = 300.0, value_parser = genbab_cli::values::positive, allow_negative_numbers = true)]
    pub part_timeout: f64,
    /// Most seconds the search may spend cutting.
    #[arg(long, default_value_t = 60.0, value_parser = genbab_cli::values::positive, allow_negative_numbers = true)]
    pub timeout: f64,
    /// Overwrite an existing `--out` folder's files.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub engine: EngineArgs,
}

pub fn run(a: Args) -> ExitCode {
    match split(&a) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn split(a: &Args) -> Result<(), String> {
    let csv = a.out.join("instances.csv");
    if csv.exists() && !a.force {
        return Err(format!("{}: exists (--force overwrites)", csv.display()));
    }
    let model = onnx::load(&a.model).map_err(|e| e.to_string())?;
    let prop = vnnlib::read(&a.property).map_err(|e| e.to_string())?;
    let text = files::read(&a.property).map_err(|e| format!("{}: {e}", a.property.display()))?;
    let text = String::from_utf8(text).map_err(|_| format!("{}: not UTF-8 text", a.property.display()))?;
    let deadline = engine::deadline(Instant::now(), a.timeout);
    let boxes = engine::open_boxes(&model, &prop, &a.engine.options(1), a.parts as usize, deadline)
        .map_err(|e| format!("{}: {e}", a.model.display()))?;
    if boxes.is_empty() {
        outln!("unsat: the search verified the whole property while cutting it; no parts written");
        return Ok(());
    }
    let n = (a.parts as usize).min(boxes.len());
    let name = a.model.file_name().map_or_else(|| "model.onnx".into(), |s| s.to_string_lossy().into_owned());
    let (onnx_dir, vnnlib_dir) = (a.out.join("onnx"), a.out.join("vnnlib"));
    for d in [&onnx_dir, &vnnlib_dir] {
        std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
    }
    let copy = onnx_dir.join(&name);
    std::fs::copy(&a.model, &copy).map_err(|e| format!("{}: {e}", copy.display()))?;
    let mut rows = String::new();
    for k in 0..n {
        let mine: Vec<&CaseBox> = boxes.iter().skip(k).step_by(n).collect();
        let path = vnnlib_dir.join(format!("part_{k}.vnnlib"));
        std::fs::write(&path, part_text(&text, &a.property, k, n, &mine))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let _ = writeln!(rows, "onnx/{name},vnnlib/part_{k}.vnnlib,{}", a.part_timeout);
    }
    std::fs::write(&csv, rows).map_err(|e| format!("{}: {e}", csv.display()))?;
    outln!("{n} part(s) of {} open box(es) in {}", boxes.len(), a.out.display());
    Ok(())
}

/// Part `k` of `n`: the property's text and the assertion that the input is in one of `boxes`.
fn part_text(text: &str, from: &Path, k: usize, n: usize, boxes: &[&CaseBox]) -> String {
    let mut s = format!("; part {k} of {n} of {} (genbab split): the property as written, ", from.display());
    s.push_str("restricted to the boxes below\n");
    s.push_str(text);
    if !text.ends_with('\n') {
        s.push('\n');
    }
    s.push_str("(assert (or");
    for (_, lo, hi) in boxes {
        s.push_str("\n  (and");
        for (i, (l, h)) in lo.iter().zip(hi).enumerate() {
            // Rust prints an f64 in decimal, without an exponent, and exactly (it parses back).
            let _ = write!(s, " (>= X_{i} {l}) (<= X_{i} {h})");
        }
        s.push(')');
    }
    s.push_str("))\n");
    s
}

/// The verdict of an instance from its parts' VNN-COMP results files (`genbab merge --instance`):
/// `unsat` if every part is `unsat`; `sat` with the counterexample if any part is `sat`;
/// otherwise the weakest answer, `error` before `unknown` before `timeout`.
pub fn combine(results: &[(PathBuf, String)]) -> Result<String, String> {
    let mut worst: Option<&str> = None;
    for (path, text) in results {
        let word = text.split_whitespace().next().unwrap_or("");
        match word {
            "sat" => {
                genbab_cli::cex::parse(text)
                    .map_err(|e| format!("{}: sat without a counterexample: {e}", path.display()))?;
                return Ok(text.clone());
            }
            "unsat" => {}
            "error" | "unknown" | "timeout" => {
                let rank = |w: &str| ["error", "unknown", "timeout"].iter().position(|x| *x == w);
                if worst.is_none_or(|w| rank(word) < rank(w)) {
                    worst = Some(word);
                }
            }
            other => return Err(format!("{}: '{other}' is not a result word", path.display())),
        }
    }
    Ok(format!("{}\n", worst.unwrap_or("unsat")))
}
