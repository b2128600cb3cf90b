//! The `genbab` command. Each subcommand is one variant of [`Command`] and one module with an
//! `Args` struct and a `run(args) -> ExitCode` function.

/// `println!` that ends the program quietly when stdout is closed (`genbab bounds … | head`)
/// instead of panicking.
macro_rules! outln {
    ($($t:tt)*) => {
        $crate::out_line(format_args!($($t)*))
    };
}

mod bench;
mod bounds;
mod check;
mod merge;
mod monitor;
mod opts;
mod plot;
mod split;
mod verify;

use std::io::Write;
use std::process::ExitCode;

/// One line on stdout; a write error (a closed pipe) ends the run with status 0, since whoever
/// reads the output has stopped reading.
fn out_line(args: std::fmt::Arguments<'_>) {
    if writeln!(std::io::stdout().lock(), "{args}").is_err() {
        std::process::exit(0);
    }
}

use clap::{CommandFactory, Parser, Subcommand};

/// `genbab --version`: the crate version and the commit it was built from.
const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("GENBAB_COMMIT"), ")");

/// genbab: verify neural networks with general nonlinearities (ONNX + VNN-LIB in, VNN-COMP verdicts out).
#[derive(Parser)]
#[command(name = "genbab", version = VERSION, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Decide a property: prints `unsat` (holds), `sat` (counterexample), `timeout` or `unknown`.
    Verify(verify::Args),
    /// Replay a proof certificate (`verify --certificate`): prints `valid` or `invalid: <reason>`.
    Check(check::Args),
    /// Print certified bounds of every output over the property's input box(es).
    Bounds(bounds::Args),
    /// Run a VNN-COMP benchmark directory (instances.csv), compare with expected.csv, report.
    Bench(bench::Args),
    /// Combine the results CSVs of `bench --shard` runs into one run's CSV, summary and plot
    /// (or, with `--instance`, the parts' results of one instance cut by `split`).
    Merge(merge::Args),
    /// Cut one hard instance into parts for several machines: a benchmark folder of VNN-LIB parts.
    Split(split::Args),
    /// Turn a model (and optionally a property and sensor frames) into a Rust module for firmware.
    Bake(genbab_cli::bake::Args),
    /// Replay a sensor stream through the device's check (the same settings as `bake`).
    Monitor(monitor::Args),
    /// Draw one cactus plot of several runs (bench CSVs) and VNN-COMP best times (expected.csv).
    Plot(plot::Args),
    /// Print a shell completion script (e.g. `genbab completions bash > /etc/bash_completion.d/genbab`).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// The long flags of the subcommands that take `--config` (`None` for the others).
fn config_flags(sub: &str) -> Option<Vec<String>> {
    if sub != "verify" && sub != "bench" {
        return None;
    }
    let cmd = Cli::command();
    let c = cmd.find_subcommand(sub)?;
    Some(c.get_arguments().filter_map(|a| a.get_long()).map(String::from).collect())
}

fn main() -> ExitCode {
    let args = match genbab_cli::config::expand(std::env::args_os().collect(), config_flags) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let cli = Cli::parse_from(args);
    match cli.command {
        Command::Verify(a) => verify::run(a),
        Command::Bounds(a) => bounds::run(a),
        Command::Check(a) => check::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Merge(a) => merge::run(a),
        Command::Split(a) => split::run(a),
        Command::Bake(a) => genbab_cli::bake::run(a),
        Command::Monitor(a) => monitor::run(a),
        Command::Plot(a) => plot::run(a),
        Command::Completions { shell } => {
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "genbab", &mut out);
            if std::io::stdout().lock().write_all(&out).is_err() {
                return ExitCode::SUCCESS; // a closed pipe: the reader stopped
            }
            ExitCode::SUCCESS
        }
    }
}

#[cfg(test)]
mod tests {
    /// clap's own consistency checks (duplicate flags, aliases, conflicting settings), which
    /// release builds skip at run time.
    #[test]
    fn the_command_line_definition_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
