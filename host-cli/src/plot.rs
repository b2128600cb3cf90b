//! `genbab plot FILE... -o cactus.svg`: one cactus plot of several runs, to compare them: results
//! CSVs of `genbab bench` (two configurations, two versions) and VNN-COMP `expected.csv` files
//! (the best published time per instance), drawn by the same code as `bench`'s plot.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use genbab_cli::report::{self, Cactus, Series};

#[derive(clap::Args)]
pub struct Args {
    /// Results CSVs of `genbab bench` (a curve each: the instances it solved correctly) and
    /// VNN-COMP `expected.csv` files (a curve of the best published time per instance).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Names of the curves, in the files' order, comma-separated (default: from the file names).
    #[arg(long, value_delimiter = ',')]
    pub label: Vec<String>,
    /// The plot (SVG).
    #[arg(short, long, default_value = "cactus.svg")]
    pub out: PathBuf,
    /// The plot's title.
    #[arg(long, default_value = "instances solved within a time")]
    pub title: String,
    /// Overwrite `--out` if it exists.
    #[arg(long)]
    pub force: bool,
}

/// One file's curve and the timeout its rows record (the largest), if any.
fn read_series(path: &Path) -> Result<(Series, Option<f64>), String> {
    let p = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| format!("{p}: cannot read: {e}"))?;
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let dir = path.parent().and_then(|d| d.file_name()).map(|d| d.to_string_lossy().into_owned());
    genbab_cli::results::series(&bytes, &p, &stem, dir.as_deref())
}

pub fn run(a: Args) -> ExitCode {
    if a.out.exists() && !a.force {
        eprintln!("error: {}: exists (--force overwrites)", a.out.display());
        return ExitCode::from(2);
    }
    if !a.label.is_empty() && a.label.len() != a.files.len() {
        eprintln!("error: {} labels for {} files", a.label.len(), a.files.len());
        return ExitCode::from(2);
    }
    let mut series: Vec<Series> = Vec::new();
    let mut timeout: Option<f64> = None;
    for (k, f) in a.files.iter().enumerate() {
        match read_series(f) {
            Ok((mut s, t)) => {
                if let Some(l) = a.label.get(k) {
                    s.name = l.clone();
                } else if series.iter().any(|o| o.name == s.name) {
                    s.name = f.display().to_string();
                }
                timeout = match (timeout, t) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                };
                series.push(s);
            }
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let c = Cactus { title: a.title.clone(), series, timeout };
    match report::cactus_svg(&c).and_then(|svg| std::fs::write(&a.out, svg).map_err(|e| e.to_string())) {
        Ok(()) => {
            for s in &c.series {
                outln!("{}: {} / {} solved", s.name, s.times.len(), s.total);
            }
            outln!("wrote {}", a.out.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {}: {e}", a.out.display());
            ExitCode::from(2)
        }
    }
}
