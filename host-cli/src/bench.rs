//! `genbab bench DIR`: run a VNN-COMP `instances.csv` (or every benchmark directory below DIR),
//! in-process on `--jobs` threads, compare with `expected.csv`, and report.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use genbab_cli::engine::{self, Outcome};
use genbab_cli::results::{self, Done, Row, is_wrong};
use genbab_cli::{onnx, report, vnnlib};

use crate::opts::EngineArgs;

#[derive(clap::Args)]
#[command(args_override_self = true)]
pub struct Args {
    /// A benchmark directory (with instances.csv) or a parent of several.
    pub dir: PathBuf,
    /// Multiply every instance's timeout by this factor (finite and positive).
    #[arg(long, default_value_t = 1.0, value_parser = genbab_cli::values::positive, allow_negative_numbers = true)]
    pub timeout_scale: f64,
    /// Instances run in parallel.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub jobs: u16,
    /// Per-instance results (CSV).
    #[arg(short, long, default_value = "results.csv")]
    pub out: PathBuf,
    /// Cactus plot (SVG).
    #[arg(long, default_value = "cactus.svg")]
    pub plot: PathBuf,
    /// Run only the first N instances of each benchmark.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Run only shard I of N (0 ≤ I < N; e.g. a Slurm array task's or a Kubernetes Indexed
    /// Job's index): a deterministic share, balanced by the instances' timeouts, every instance
    /// in exactly one shard; `genbab merge` combines the shards' CSVs.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<Shard>,
    /// Keep the rows already in `--out` and run only the instances it lacks, so that a long run
    /// stopped part way goes on where it was (rows are written to `--out` as instances finish).
    /// Warns about kept rows made with another timeout or other engine settings.
    #[arg(long)]
    pub resume: bool,
    /// Overwrite existing `--out`, `--plot` and `--log` files (without it, and without
    /// `--resume`, an existing one is an error).
    #[arg(long)]
    pub force: bool,
    /// Every instance's line (result, time, reason or error), also printed above the progress
    /// bar; default: `--out` with the extension `.log`. Appended to under `--resume`.
    #[arg(long)]
    pub log: Option<PathBuf>,
    #[command(flatten)]
    pub engine: EngineArgs,
}

pub(crate) struct Instance {
    pub(crate) benchmark: String,
    dir: PathBuf,
    pub(crate) onnx: String,
    pub(crate) vnnlib: String,
    pub(crate) timeout: f64,
    pub(crate) expected: String,
}

/// A short digest of the engine arguments as given (not as resolved on this machine: `--threads
/// 0` stays 0), so that `--resume` can tell rows made with other settings.
fn settings_digest(a: &Args) -> String {
    let text = format!("{:?}", a.engine);
    // FNV-1a, 64 bits: stable across runs and platforms.
    let h = text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3));
    format!("{h:016x}")
}

fn read_instances(dir: &Path, limit: Option<usize>) -> Result<Vec<Instance>, String> {
    let name =
        dir.file_name().map_or_else(|| dir.display().to_string(), |n| n.to_string_lossy().into_owned());
    let path = dir.join("instances.csv");
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .trim(csv::Trim::All)
        .flexible(true)
        .from_path(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let mut expected: HashMap<(String, String), String> = HashMap::new();
    let epath = dir.join("expected.csv");
    if epath.exists() {
        let mut er = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_path(&epath)
            .map_err(|e| format!("{}: {e}", epath.display()))?;
        let h = er.headers().map_err(|e| format!("{}: {e}", epath.display()))?.clone();
        let col = |n: &str| {
            h.iter().position(|c| c == n).ok_or_else(|| format!("{}: no column '{n}'", epath.display()))
        };
        let (co, cv, ce) = (col("onnx")?, col("vnnlib")?, col("expected")?);
        for rec in er.records() {
            let rec = rec.map_err(|e| format!("{}: {e}", epath.display()))?;
            let get = |i: usize| rec.get(i).unwrap_or("").to_string();
            expected.insert((norm(&get(co)), norm(&get(cv))), get(ce));
        }
    }
    let mut v = Vec::new();
    for (line, rec) in rdr.records().enumerate() {
        let rec = rec.map_err(|e| format!("{}: {e}", path.display()))?;
        if rec.is_empty() || rec.iter().all(|f| f.is_empty()) {
            continue;
        }
        if rec.len() < 3 {
            return Err(format!("{}:{}: expected onnx,vnnlib,timeout", path.display(), line + 1));
        }
        let timeout = genbab_cli::values::seconds(&rec[2])
            .map_err(|e| format!("{}:{}: bad timeout: {e}", path.display(), line + 1))?;
        let (o, p) = (rec[0].to_string(), rec[1].to_string());
        let expected = expected.get(&(norm(&o), norm(&p))).cloned().unwrap_or_default();
        v.push(Instance {
            benchmark: name.clone(),
            dir: dir.to_path_buf(),
            onnx: o,
            vnnlib: p,
            timeout,
            expected,
        });
        if limit.is_some_and(|l| v.len() >= l) {
            break;
        }
    }
    Ok(v)
}

/// Identifies an instance across runs.
pub(crate) type Key = (String, String, String);

pub(crate) fn key(benchmark: &str, onnx: &str, vnnlib: &str) -> Key {
    (benchmark.to_string(), norm(onnx), norm(vnnlib))
}

/// The rows of an earlier results CSV, in file order (empty when the file does not exist).
pub(crate) fn read_rows(path: &Path) -> Result<Vec<(Key, String, Done)>, String> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let rows = results::read(std::io::BufReader::new(file), &path.display().to_string())?;
    Ok(rows.into_iter().map(|r| (key(&r.benchmark, &r.onnx, &r.vnnlib), r.expected, r.done)).collect())
}

fn norm(p: &str) -> String {
    p.trim_start_matches("./").to_string()
}

fn run_one(inst: &Instance, a: &Args, share: usize, settings: &str) -> Done {
    let start = Instant::now();
    let timeout = inst.timeout * a.timeout_scale;
    let deadline = engine::deadline(start, timeout);
    let r = (|| -> Result<engine::Report, String> {
        let model = onnx::load(&inst.dir.join(&inst.onnx)).map_err(|e| e.to_string())?;
        let prop = vnnlib::read(&inst.dir.join(&inst.vnnlib)).map_err(|e| e.to_string())?;
        engine::check(&model, &prop, &a.engine.options(share), deadline)
    })();
    let seconds = start.elapsed().as_secs_f64();
    match r {
        Ok(rep) => {
            let detail = match &rep.outcome {
                Outcome::Unknown(s) => Some(s.clone()),
                _ => None,
            };
            let settings = Some(settings.to_string());
            Done { result: rep.outcome.word().to_string(), seconds, detail, timeout: Some(timeout), settings }
        }
        Err(e) => Done {
            result: "error".into(),
            seconds,
            detail: Some(e),
            timeout: Some(timeout),
            settings: Some(settings.to_string()),
        },
    }
}

/// The results CSV, with its header, or (to append to an existing one) without.
pub(crate) fn open_rows(path: &Path, append: bool) -> Result<csv::Writer<std::fs::File>, String> {
    let append = append && path.exists();
    let file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(append)
        .truncate(!append)
        .open(path)
        .map_err(|e| e.to_string())?;
    results::writer(file, !append)
}

pub(crate) fn write_row(
    w: &mut csv::Writer<std::fs::File>,
    (b, o, v): (&str, &str, &str),
    expected: &str,
    d: &Done,
) -> Result<(), String> {
    let (benchmark, onnx, vnnlib, expected) =
        (b.to_string(), o.to_string(), v.to_string(), expected.to_string());
    results::write(w, &Row { benchmark, onnx, vnnlib, expected, done: d.clone() })
}

/// The instances of `dir` (a benchmark directory or a parent of several), the first `limit` of
/// each benchmark, in order.
pub(crate) fn list_instances(dir: &Path, limit: Option<usize>) -> Result<Vec<Instance>, String> {
    let dirs: Vec<PathBuf> = if dir.join("instances.csv").is_file() {
        vec![dir.to_path_buf()]
    } else {
        let rd = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut d: Vec<PathBuf> =
            rd.flatten().map(|e| e.path()).filter(|p| p.join("instances.csv").is_file()).collect();
        d.sort();
        d
    };
    if dirs.is_empty() {
        return Err(format!("{}: no instances.csv here or in a subdirectory", dir.display()));
    }
    let mut instances = Vec::new();
    for d in &dirs {
        instances.extend(read_instances(d, limit)?);
    }
    Ok(instances)
}

/// `--shard I/N`: shard `i` of `n`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub i: usize,
    pub n: usize,
}

impl std::str::FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("'{s}': expected I/N with 0 <= I < N (e.g. 0/4)");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (i, n): (usize, usize) =
            (i.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
        if n == 0 || i >= n {
            return Err(bad());
        }
        Ok(Shard { i, n })
    }
}

/// Which shard each instance is in: longest timeout first, each to the shard with the least
/// total timeout so far (the lowest such shard on ties), so the shards' worst-case times are
/// balanced; deterministic, and every instance is in exactly one shard.
pub fn shard_of(timeouts: &[f64], n: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..timeouts.len()).collect();
    order.sort_by(|&x, &y| timeouts[y].total_cmp(&timeouts[x]).then(x.cmp(&y)));
    let mut load = vec![0.0f64; n.max(1)];
    let mut of = vec![0; timeouts.len()];
    for k in order {
        let s = (0..load.len()).min_by(|&x, &y| load[x].total_cmp(&load[y]).then(x.cmp(&y))).unwrap_or(0);
        load[s] += timeouts[k];
        of[k] = s;
    }
    of
}

pub fn run(a: Args) -> ExitCode {
    let mut instances = match list_instances(&a.dir, a.limit) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(sh) = a.shard {
        let of = shard_of(&instances.iter().map(|i| i.timeout).collect::<Vec<_>>(), sh.n);
        let mut k = 0;
        instances.retain(|_| {
            k += 1;
            of[k - 1] == sh.i
        });
        outln!("shard {}/{}: {} instance(s)", sh.i, sh.n, instances.len());
    }
    let log_path = a.log.clone().unwrap_or_else(|| a.out.with_extension("log"));
    // Never overwrite a file without being asked: `--resume` continues `--out` (and appends to
    // the log, rewrites the plot), `--force` overwrites all three.
    if !a.force {
        let guarded: &[&PathBuf] = if a.resume { &[] } else { &[&a.out, &a.plot, &log_path] };
        if let Some(p) = guarded.iter().find(|p| p.exists()) {
            eprintln!("error: {}: exists (--resume continues a run, --force overwrites)", p.display());
            return ExitCode::from(2);
        }
    }
    let settings = settings_digest(&a);
    // Rows of an earlier run: those of this run's instances are kept instead of run again, the
    // others are carried over to the rewritten file.
    let mut earlier: HashMap<Key, Done> = HashMap::new();
    let mut other: Vec<(Key, String, Done)> = Vec::new();
    if a.resume {
        match read_rows(&a.out) {
            Ok(rows) => {
                let ours: std::collections::HashSet<Key> =
                    instances.iter().map(|i| key(&i.benchmark, &i.onnx, &i.vnnlib)).collect();
                for (k, e, d) in rows {
                    if ours.contains(&k) {
                        earlier.insert(k, d);
                    } else {
                        other.push((k, e, d));
                    }
                }
            }
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let prior: Vec<Option<Done>> =
        instances.iter().map(|i| earlier.remove(&key(&i.benchmark, &i.onnx, &i.vnnlib))).collect();
    // Kept rows made otherwise: another timeout, other engine settings, or not recorded.
    let differ = instances
        .iter()
        .zip(&prior)
        .filter(|(i, d)| {
            d.as_ref().is_some_and(|d| {
                d.timeout != Some(i.timeout * a.timeout_scale)
                    || d.settings.as_deref() != Some(settings.as_str())
            })
        })
        .count();
    if differ > 0 {
        eprintln!(
            "warning: {}: {differ} kept row(s) were made with another timeout or other engine settings \
             (or do not record them); run without --resume to redo them",
            a.out.display()
        );
    }
    let todo: Vec<usize> = (0..instances.len()).filter(|&i| prior[i].is_none()).collect();
    let results: Vec<Mutex<Option<Done>>> = prior.into_iter().map(Mutex::new).collect();
    let kept = instances.len() - todo.len();
    if kept > 0 {
        outln!("{kept} instance(s) kept from {}", a.out.display());
    }
    // Each row is appended as its instance finishes, so a stopped run loses none.
    let live = match open_rows(&a.out, a.resume) {
        Ok(w) => Mutex::new(w),
        Err(e) => {
            eprintln!("error: {}: {e}", a.out.display());
            return ExitCode::from(2);
        }
    };
    let log = match std::fs::OpenOptions::new()
        .create(true)
        .append(a.resume)
        .write(true)
        .truncate(!a.resume)
        .open(&log_path)
    {
        Ok(f) => Mutex::new(std::io::LineWriter::new(f)),
        Err(e) => {
            eprintln!("error: {}: {e}", log_path.display());
            return ExitCode::from(2);
        }
    };
    let n = todo.len();
    let jobs = a.jobs as usize;
    let next = AtomicUsize::new(0);
    let finished = AtomicUsize::new(0);
    let bar = if std::io::stderr().is_terminal() {
        let b = indicatif::ProgressBar::new(n as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos}/{len} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Some(b)
    } else {
        None
    };
    let wall = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| {
                while let Some(&i) = todo.get(next.fetch_add(1, Ordering::SeqCst)) {
                    let inst = &instances[i];
                    let d = run_one(inst, &a, jobs, &settings);
                    let k = finished.fetch_add(1, Ordering::SeqCst) + 1;
                    let line = format!(
                        "[{k}/{n}] {} {} {}: {} ({:.2}s){}",
                        inst.benchmark,
                        inst.onnx,
                        inst.vnnlib,
                        d.result,
                        d.seconds,
                        d.detail.as_ref().map(|s| format!(" [{s}]")).unwrap_or_default()
                    );
                    let mut lines = vec![line];
                    if is_wrong(&inst.expected, &d.result) {
                        lines.push(format!(
                            "!!! WRONG VERDICT: {} {} {}: expected {}, got {}",
                            inst.benchmark, inst.onnx, inst.vnnlib, inst.expected, d.result
                        ));
                    }
                    // Every line above the bar (or on stderr) and in the log.
                    for l in &lines {
                        match &bar {
                            Some(b) => b.println(l),
                            None => eprintln!("{l}"),
                        }
                        if let Ok(mut f) = log.lock() {
                            let _ = writeln!(f, "{l}");
                        }
                    }
                    if let Some(b) = &bar {
                        b.set_message(format!("{} {} {}", inst.benchmark, inst.onnx, inst.vnnlib));
                        b.inc(1);
                    }
                    if let Ok(mut w) = live.lock() {
                        let row = (inst.benchmark.as_str(), inst.onnx.as_str(), inst.vnnlib.as_str());
                        let _ = write_row(&mut w, row, &inst.expected, &d)
                            .and_then(|_| w.flush().map_err(|e| e.to_string()));
                    }
                    if let Ok(mut slot) = results[i].lock() {
                        *slot = Some(d);
                    }
                }
            });
        }
    });
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    drop(live);
    let wall = wall.elapsed().as_secs_f64();
    let done: Vec<Done> = results
        .into_iter()
        .map(|m| {
            m.into_inner().ok().flatten().unwrap_or(Done {
                result: "error".into(),
                seconds: 0.0,
                detail: Some("no result (a worker stopped)".into()),
                timeout: None,
                settings: None,
            })
        })
        .collect();

    // Per-instance CSV, rewritten in instance order.
    let write_csv = || -> Result<(), String> {
        let mut w = open_rows(&a.out, false).map_err(|e| e.to_string())?;
        for (inst, d) in instances.iter().zip(&done) {
            write_row(&mut w, (&inst.benchmark, &inst.onnx, &inst.vnnlib), &inst.expected, d)?;
        }
        for ((b, o, v), e, d) in &other {
            write_row(&mut w, (b, o, v), e, d)?;
        }
        w.flush().map_err(|e| e.to_string())
    };
    if let Err(e) = write_csv() {
        eprintln!("error: {}: {e}", a.out.display());
        return ExitCode::from(2);
    }

    let timeout = instances
        .iter()
        .map(|i| i.timeout * a.timeout_scale)
        .fold(None, |m: Option<f64>, t| Some(m.map_or(t, |m| m.max(t))));
    let (total_wrong, total_errors) = match summarize(&instances, &done, timeout, &a.plot) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let now = if kept > 0 { format!(" for the {n} instance(s) run now") } else { String::new() };
    outln!("wall time {wall:.1}s with {jobs} job(s){now}");
    outln!("wrote {}, {} and {}", a.out.display(), a.plot.display(), log_path.display());
    let mut code = ExitCode::SUCCESS;
    if total_errors > 0 {
        eprintln!(
            "{total_errors} instance(s) ended in an error: their reasons are in {}",
            log_path.display()
        );
        code = ExitCode::from(1);
    }
    if total_wrong > 0 {
        eprintln!("!!! {total_wrong} WRONG VERDICT(S) — see the lines marked WRONG above");
        code = ExitCode::from(1);
    }
    code
}

/// Print the summary table (per benchmark and in total) of `done`, the results of `instances`,
/// and draw their cactus plot to `plot`; returns the wrong verdicts and the errors.
pub(crate) fn summarize(
    instances: &[Instance],
    done: &[Done],
    timeout: Option<f64>,
    plot: &Path,
) -> Result<(usize, usize), String> {
    // Summary per benchmark.
    let mut names: Vec<String> = Vec::new();
    for i in instances {
        if !names.contains(&i.benchmark) {
            names.push(i.benchmark.clone());
        }
    }
    let mut series = Vec::new();
    let mut total_wrong = 0;
    outln!(
        "{:<22} {:>6} {:>6} {:>5} {:>6} {:>6} {:>7} {:>7} {:>6} {:>10}",
        "benchmark",
        "total",
        "solved",
        "sat",
        "unsat",
        "wrong",
        "unknown",
        "timeout",
        "errors",
        "seconds"
    );
    let mut total_errors = 0;
    for name in names.iter().map(Some).chain([None]) {
        let rows: Vec<(&Instance, &Done)> =
            instances.iter().zip(done).filter(|(i, _)| name.is_none_or(|n| &i.benchmark == n)).collect();
        let c = |f: &dyn Fn(&Instance, &Done) -> bool| rows.iter().filter(|(i, d)| f(i, d)).count();
        let wrong = c(&|i, d| is_wrong(&i.expected, &d.result));
        let sat = c(&|i, d| d.result == "sat" && !is_wrong(&i.expected, &d.result));
        let unsat = c(&|i, d| d.result == "unsat" && !is_wrong(&i.expected, &d.result));
        let unk = c(&|_, d| d.result == "unknown");
        let tmo = c(&|_, d| d.result == "timeout");
        let err = c(&|_, d| d.result == "error");
        let secs: f64 = rows.iter().map(|(_, d)| d.seconds).sum();
        let label = name.cloned().unwrap_or_else(|| "TOTAL".into());
        if let Some(nm) = name {
            let solved: Vec<f64> = rows
                .iter()
                .filter(|(i, d)| {
                    (d.result == "sat" || d.result == "unsat") && !is_wrong(&i.expected, &d.result)
                })
                .map(|(_, d)| d.seconds)
                .collect();
            series.push(report::Series { name: nm.clone(), times: solved, total: rows.len() });
            total_wrong += wrong;
            total_errors += err;
        }
        outln!(
            "{label:<22} {:>6} {:>6} {sat:>5} {unsat:>6} {wrong:>6} {unk:>7} {tmo:>7} {err:>6} {secs:>10.1}",
            rows.len(),
            sat + unsat
        );
    }
    let c = report::Cactus { title: "genbab: instances solved within a time".into(), series, timeout };
    report::cactus_svg(&c)
        .and_then(|svg| std::fs::write(plot, svg).map_err(|e| e.to_string()))
        .map_err(|e| format!("{}: {e}", plot.display()))?;
    Ok((total_wrong, total_errors))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_balance_timeouts_and_cover_every_instance_once() {
        // Longest first, each to the least-loaded shard (the lowest on ties).
        assert_eq!(shard_of(&[100.0, 50.0, 50.0, 30.0, 20.0, 10.0], 2), [0, 1, 1, 0, 1, 1]);
        let t: Vec<f64> = (0..37).map(|k| f64::from((k * 7919) % 300 + 1)).collect();
        for n in [1, 2, 5, 37, 50] {
            let of = shard_of(&t, n);
            assert_eq!(of.len(), t.len());
            assert!(of.iter().all(|&s| s < n));
            let load = |s: usize| of.iter().zip(&t).filter(|(o, _)| **o == s).map(|(_, t)| t).sum::<f64>();
            let (max, min) = (0..n).map(load).fold((0.0f64, f64::MAX), |(a, b), l| (a.max(l), b.min(l)));
            // LPT: the spread is at most the largest single timeout.
            assert!(max - min <= 300.0, "{n}: {max} - {min}");
        }
        assert_eq!("1/4".parse::<Shard>(), Ok(Shard { i: 1, n: 4 }));
        for bad in ["4/4", "1", "a/2", "0/0", "-1/2"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }
}
