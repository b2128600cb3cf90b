//! `genbab bench DIR`: run a VNN-COMP `instances.csv` (or every benchmark directory below DIR),
//! in-process on `--jobs` threads, compare with `expected.csv`, and report.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use genbab_cli::engine::{self, Outcome};
use genbab_cli::{onnx, report, vnnlib};

use crate::opts::EngineArgs;

#[derive(clap::Args)]
pub struct Args {
    /// A benchmark directory (with instances.csv) or a parent of several.
    pub dir: PathBuf,
    /// Multiply every instance's timeout by this factor.
    #[arg(long, default_value_t = 1.0)]
    pub timeout_scale: f64,
    /// Instances run in parallel.
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
    /// Per-instance results (CSV).
    #[arg(long, default_value = "results.csv")]
    pub out: PathBuf,
    /// Cactus plot (SVG).
    #[arg(long, default_value = "cactus.svg")]
    pub plot: PathBuf,
    /// Run only the first N instances of each benchmark.
    #[arg(long)]
    pub limit: Option<usize>,
    #[command(flatten)]
    pub engine: EngineArgs,
}

struct Instance {
    benchmark: String,
    dir: PathBuf,
    onnx: String,
    vnnlib: String,
    timeout: f64,
    expected: String,
}

struct Done {
    result: String,
    seconds: f64,
    detail: Option<String>,
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
        let timeout: f64 = rec[2]
            .parse()
            .map_err(|_| format!("{}:{}: bad timeout '{}'", path.display(), line + 1, &rec[2]))?;
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

fn norm(p: &str) -> String {
    p.trim_start_matches("./").to_string()
}

fn run_one(inst: &Instance, a: &Args, share: usize) -> Done {
    let start = Instant::now();
    let deadline = engine::deadline(start, inst.timeout * a.timeout_scale);
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
            Done { result: rep.outcome.word().to_string(), seconds, detail }
        }
        Err(e) => Done { result: "error".into(), seconds, detail: Some(e) },
    }
}

fn is_wrong(expected: &str, result: &str) -> bool {
    (expected == "sat" && result == "unsat") || (expected == "unsat" && result == "sat")
}

pub fn run(a: Args) -> ExitCode {
    let dirs: Vec<PathBuf> = if a.dir.join("instances.csv").is_file() {
        vec![a.dir.clone()]
    } else {
        let mut d: Vec<PathBuf> = match std::fs::read_dir(&a.dir) {
            Ok(rd) => rd.flatten().map(|e| e.path()).filter(|p| p.join("instances.csv").is_file()).collect(),
            Err(e) => {
                eprintln!("error: {}: {e}", a.dir.display());
                return ExitCode::from(2);
            }
        };
        d.sort();
        d
    };
    if dirs.is_empty() {
        eprintln!("error: {}: no instances.csv here or in a subdirectory", a.dir.display());
        return ExitCode::from(2);
    }
    let mut instances = Vec::new();
    for d in &dirs {
        match read_instances(d, a.limit) {
            Ok(v) => instances.extend(v),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let n = instances.len();
    let jobs = a.jobs.clamp(1, 256);
    let results: Vec<Mutex<Option<Done>>> = (0..n).map(|_| Mutex::new(None)).collect();
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
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= n {
                        break;
                    }
                    let inst = &instances[i];
                    let d = run_one(inst, &a, jobs);
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
                    if is_wrong(&inst.expected, &d.result) {
                        let msg = format!(
                            "!!! WRONG VERDICT: {} {} {}: expected {}, got {}",
                            inst.benchmark, inst.onnx, inst.vnnlib, inst.expected, d.result
                        );
                        match &bar {
                            Some(b) => b.println(&msg),
                            None => eprintln!("{msg}"),
                        }
                    }
                    match &bar {
                        Some(b) => {
                            b.set_message(format!("{} {}", inst.benchmark, inst.vnnlib));
                            b.inc(1);
                        }
                        None => eprintln!("{line}"),
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
    let wall = wall.elapsed().as_secs_f64();
    let done: Vec<Done> = results
        .into_iter()
        .map(|m| {
            m.into_inner().ok().flatten().unwrap_or(Done {
                result: "error".into(),
                seconds: 0.0,
                detail: None,
            })
        })
        .collect();

    // Per-instance CSV.
    let write_csv = || -> Result<(), String> {
        let mut w = csv::Writer::from_path(&a.out).map_err(|e| e.to_string())?;
        w.write_record(["benchmark", "onnx", "vnnlib", "expected", "result", "seconds"])
            .map_err(|e| e.to_string())?;
        for (inst, d) in instances.iter().zip(&done) {
            w.write_record([
                &inst.benchmark,
                &inst.onnx,
                &inst.vnnlib,
                &inst.expected,
                &d.result,
                &format!("{:.3}", d.seconds),
            ])
            .map_err(|e| e.to_string())?;
        }
        w.flush().map_err(|e| e.to_string())
    };
    if let Err(e) = write_csv() {
        eprintln!("error: {}: {e}", a.out.display());
        return ExitCode::from(2);
    }

    // Summary per benchmark.
    let mut names: Vec<String> = Vec::new();
    for i in &instances {
        if !names.contains(&i.benchmark) {
            names.push(i.benchmark.clone());
        }
    }
    let mut series = Vec::new();
    let mut total_wrong = 0;
    outln!(
        "{:<22} {:>6} {:>6} {:>5} {:>6} {:>6} {:>8} {:>6} {:>10}",
        "benchmark",
        "total",
        "solved",
        "sat",
        "unsat",
        "wrong",
        "unk/t.o.",
        "errors",
        "seconds"
    );
    let mut tot = [0usize; 7];
    let mut tot_s = 0.0;
    for name in names.iter().map(Some).chain([None]) {
        let rows: Vec<(&Instance, &Done)> =
            instances.iter().zip(&done).filter(|(i, _)| name.is_none_or(|n| &i.benchmark == n)).collect();
        let c = |f: &dyn Fn(&Instance, &Done) -> bool| rows.iter().filter(|(i, d)| f(i, d)).count();
        let wrong = c(&|i, d| is_wrong(&i.expected, &d.result));
        let sat = c(&|i, d| d.result == "sat" && !is_wrong(&i.expected, &d.result));
        let unsat = c(&|i, d| d.result == "unsat" && !is_wrong(&i.expected, &d.result));
        let unk = c(&|_, d| d.result == "unknown" || d.result == "timeout");
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
            series.push((nm.clone(), solved));
            for (k, v) in [rows.len(), sat + unsat, sat, unsat, wrong, unk, err].into_iter().enumerate() {
                tot[k] += v;
            }
            tot_s += secs;
            total_wrong += wrong;
        }
        outln!(
            "{label:<22} {:>6} {:>6} {sat:>5} {unsat:>6} {wrong:>6} {unk:>8} {err:>6} {secs:>10.1}",
            rows.len(),
            sat + unsat
        );
    }
    let _ = (tot, tot_s);
    outln!("wall time {wall:.1}s with {jobs} job(s)");
    let svg = report::cactus_svg("genbab: instances solved within a time", &series);
    if let Err(e) = std::fs::write(&a.plot, svg) {
        eprintln!("error: {}: {e}", a.plot.display());
        return ExitCode::from(2);
    }
    if total_wrong > 0 {
        eprintln!("!!! {total_wrong} WRONG VERDICT(S) — see the lines marked WRONG above");
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}
