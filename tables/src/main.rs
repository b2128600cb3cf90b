//! `genbab-tables`: regenerate or check the branching-point tables.
//!
//! ```text
//! genbab-tables generate --out tables/data [--resolution device|host|all] [--threads N] [--only NAME,...]
//! genbab-tables check [DIR]
//! ```

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use genbab_core::tables::{Header, Resolution, TableId, validate_table};
use genbab_tables::{Spec, file, specs};

const USAGE: &str = "usage:
  genbab-tables generate --out DIR [--resolution device|host|all] [--threads N] [--only NAME,...]
  genbab-tables check [DIR]          (default DIR: tables/data)
NAME: sigmoid tanh sin cos gelu square reciprocal mul gelu_tanh";

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("genbab-tables: {e}");
            ExitCode::FAILURE
        }
    }
}

fn resolutions(s: &str) -> Result<Vec<Resolution>, String> {
    match s {
        "device" => Ok(vec![Resolution::Device]),
        "host" => Ok(vec![Resolution::Host]),
        "all" => Ok(vec![Resolution::Device, Resolution::Host]),
        _ => Err(format!("--resolution: expected device, host or all, got `{s}`")),
    }
}

fn selected(only: &Option<Vec<String>>, res: &[Resolution]) -> Result<Vec<Spec>, String> {
    if let Some(names) = only {
        for n in names {
            if !TableId::ALL.iter().any(|id| id.name() == n) {
                return Err(format!("--only: unknown table `{n}`\n{USAGE}"));
            }
        }
    }
    Ok(res
        .iter()
        .flat_map(|&r| specs(r))
        .filter(|s| only.as_ref().is_none_or(|v| v.iter().any(|n| n == s.id.name())))
        .collect())
}

fn run(args: Vec<String>) -> Result<(), String> {
    let mut it = args.into_iter();
    match it.next().as_deref() {
        Some("generate") => {
            let (mut out, mut res, mut threads, mut only) = (None, resolutions("all")?, 2usize, None);
            while let Some(a) = it.next() {
                let mut val = || it.next().ok_or_else(|| format!("{a}: missing value\n{USAGE}"));
                match a.as_str() {
                    "--out" => out = Some(PathBuf::from(val()?)),
                    "--resolution" => res = resolutions(&val()?)?,
                    "--threads" => {
                        let v = val()?;
                        threads =
                            v.parse().ok().filter(|&t| t > 0).ok_or(format!("--threads: bad count `{v}`"))?;
                    }
                    "--only" => only = Some(val()?.split(',').map(str::to_owned).collect::<Vec<_>>()),
                    _ => return Err(format!("unknown argument `{a}`\n{USAGE}")),
                }
            }
            let out = out.ok_or(format!("generate: --out DIR is required\n{USAGE}"))?;
            generate(&out, &selected(&only, &res)?, threads)
        }
        Some("check") => {
            let dir = it.next().map_or_else(|| PathBuf::from("tables/data"), PathBuf::from);
            check(&dir)
        }
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            Ok(())
        }
        _ => Err(USAGE.to_owned()),
    }
}

fn generate(out: &Path, specs: &[Spec], threads: usize) -> Result<(), String> {
    let t0 = Instant::now();
    let mut total = 0;
    for s in specs {
        let t = Instant::now();
        let bytes = file(s, threads);
        let path = out.join(s.file_name());
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        // Write then rename, so an interrupted run never leaves a truncated file behind.
        let tmp = path.with_extension("gbpt.tmp");
        std::fs::write(&tmp, &bytes).map_err(|e| format!("{}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, &path).map_err(|e| format!("{}: {e}", path.display()))?;
        total += bytes.len();
        println!(
            "{:<32} lo {:>9} step {:<9} n {:>4} width {} entries {:>8} {:>8} B  {:>7.1} s",
            path.display(),
            s.lo,
            s.step,
            s.count,
            s.width,
            s.entries(),
            bytes.len(),
            t.elapsed().as_secs_f64()
        );
    }
    println!("{} tables, {total} B, {:.1} s on {threads} threads", specs.len(), t0.elapsed().as_secs_f64());
    Ok(())
}

fn check(dir: &Path) -> Result<(), String> {
    let mut bad = 0;
    for res in [Resolution::Device, Resolution::Host] {
        let mut total = 0;
        for s in specs(res) {
            let path = dir.join(s.file_name());
            let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            total += bytes.len();
            match validate_table(&bytes, s.id, res) {
                Ok(h) if h == (Header { checksum: h.checksum, ..s.header() }) => {
                    println!("{}: ok", path.display())
                }
                Ok(_) => {
                    bad += 1;
                    println!(
                        "{}: valid, but its grid differs from the generator's (regenerate)",
                        path.display()
                    );
                }
                Err(e) => {
                    bad += 1;
                    println!("{}: {e:?}", path.display());
                }
            }
        }
        println!("{}: {total} B in total", res.name());
    }
    if bad == 0 { Ok(()) } else { Err(format!("{bad} bad table file(s)")) }
}
