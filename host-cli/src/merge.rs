//! `genbab merge OUT.csv SHARD.csv... --dir DIR`: combine the results CSVs of `bench --shard`
//! runs (one per shard, from any machines) into the CSV, summary table and cactus plot one
//! `bench` run of `DIR` gives. Every instance of `DIR` must be in exactly one shard file: a
//! missing, duplicated or foreign row is an error, so a lost or repeated array task is noticed.
//!
//! `genbab merge --instance OUT PART_RESULT... --dir SPLIT_DIR`: the verdict of one instance cut
//! by `genbab split`, from its parts' VNN-COMP results files (`verify --results-file`, or any
//! verifier's): see [`crate::split::combine`].

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

use genbab_cli::results::Done;

use crate::bench::{self, Key};

#[derive(clap::Args)]
pub struct Args {
    /// The merged results CSV to write (with `--instance`: the instance's results file).
    pub out: PathBuf,
    /// The shards' results CSVs (`bench --shard I/N --out …`); with `--instance`, the parts'
    /// results files, one per part.
    #[arg(required = true)]
    pub shards: Vec<PathBuf>,
    /// The benchmark directory the shards ran (as given to `bench`): its instances are the ones
    /// expected, each exactly once. With `--instance`, the folder `split` wrote: one results file
    /// per part is expected.
    #[arg(long)]
    pub dir: PathBuf,
    /// Combine the parts of one instance cut by `genbab split` (`unsat` only if every part is).
    #[arg(long)]
    pub instance: bool,
    /// `--limit` as given to `bench`, if any.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Cactus plot (SVG); default: `OUT` with the extension `.svg`.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Overwrite existing `OUT` and plot files.
    #[arg(long)]
    pub force: bool,
}

pub fn run(a: Args) -> ExitCode {
    match merge(&a) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn merge(a: &Args) -> Result<ExitCode, String> {
    if a.instance {
        return merge_instance(a);
    }
    let plot = a.plot.clone().unwrap_or_else(|| a.out.with_extension("svg"));
    if !a.force
        && let Some(p) = [&a.out, &plot].into_iter().find(|p| p.exists())
    {
        return Err(format!("{}: exists (--force overwrites)", p.display()));
    }
    let instances = bench::list_instances(&a.dir, a.limit)?;
    let index: HashMap<Key, usize> = instances
        .iter()
        .enumerate()
        .map(|(k, i)| (bench::key(&i.benchmark, &i.onnx, &i.vnnlib), k))
        .collect();
    let mut done: Vec<Option<(Done, &PathBuf)>> = vec![None; instances.len()];
    for f in &a.shards {
        if !f.is_file() {
            return Err(format!("{}: no such shard file", f.display()));
        }
        for (key, _, d) in bench::read_rows(f)? {
            let (b, o, v) = &key;
            let Some(&k) = index.get(&key) else {
                return Err(format!(
                    "{}: {b} {o} {v} is not an instance of {}",
                    f.display(),
                    a.dir.display()
                ));
            };
            if let Some((_, first)) = &done[k] {
                return Err(format!(
                    "{}: {b} {o} {v} is also in {} (a shard ran twice?)",
                    f.display(),
                    first.display()
                ));
            }
            done[k] = Some((d, f));
        }
    }
    let missing: Vec<&bench::Instance> =
        instances.iter().zip(&done).filter(|(_, d)| d.is_none()).map(|(i, _)| i).collect();
    if let Some(first) = missing.first() {
        return Err(format!(
            "{} instance(s) of {} are in no shard file (a shard missing or stopped?), the first: {} {} {}",
            missing.len(),
            a.dir.display(),
            first.benchmark,
            first.onnx,
            first.vnnlib
        ));
    }
    let done: Vec<Done> = done.into_iter().flatten().map(|(d, _)| d).collect();
    let mut w = bench::open_rows(&a.out, false).map_err(|e| format!("{}: {e}", a.out.display()))?;
    for (i, d) in instances.iter().zip(&done) {
        bench::write_row(&mut w, (&i.benchmark, &i.onnx, &i.vnnlib), &i.expected, d)?;
    }
    w.flush().map_err(|e| format!("{}: {e}", a.out.display()))?;
    // The plot's timeout: the largest a row ran with (as `bench` would with its --timeout-scale).
    let timeout = done
        .iter()
        .zip(&instances)
        .map(|(d, i)| d.timeout.unwrap_or(i.timeout))
        .fold(None, |m: Option<f64>, t| Some(m.map_or(t, |m| m.max(t))));
    let (wrong, errors) = bench::summarize(&instances, &done, timeout, &plot)?;
    outln!("merged {} shard file(s): wrote {} and {}", a.shards.len(), a.out.display(), plot.display());
    if errors > 0 {
        eprintln!("{errors} instance(s) ended in an error (see their reason column in {})", a.out.display());
    }
    if wrong > 0 {
        eprintln!("!!! {wrong} WRONG VERDICT(S)");
    }
    Ok(if wrong > 0 || errors > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

fn merge_instance(a: &Args) -> Result<ExitCode, String> {
    if a.out.exists() && !a.force {
        return Err(format!("{}: exists (--force overwrites)", a.out.display()));
    }
    let parts = bench::list_instances(&a.dir, None)?.len();
    if a.shards.len() != parts {
        return Err(format!(
            "{} results file(s) for the {parts} part(s) of {}: give one per part",
            a.shards.len(),
            a.dir.display()
        ));
    }
    let mut results = Vec::new();
    for f in &a.shards {
        let text = std::fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()))?;
        results.push((f.clone(), text));
    }
    let verdict = crate::split::combine(&results)?;
    std::fs::write(&a.out, &verdict).map_err(|e| format!("{}: {e}", a.out.display()))?;
    outln!("{}", verdict.split_whitespace().next().unwrap_or(""));
    Ok(ExitCode::SUCCESS)
}
