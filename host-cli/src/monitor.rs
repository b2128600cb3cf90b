//! `genbab monitor MODEL PROPERTY --frames STREAM.csv [device settings]`: replay a recorded sensor
//! stream through exactly the check a baked device runs (the same flags as `bake`: plan, engine,
//! budget, reuse), print each frame's decision and cost, and a summary.
//!
//! The decisions are the device's, frame for frame: the same core, settings, buffer sizes and
//! monitor state in f32 (`bake` bakes these very decisions for the firmware to compare with).
//! The cost is the work counted (domains bounded, attack passes, the monitor's own forward
//! passes) and, with `--unit-costs`, an instruction estimate from the unit costs the firmware
//! prints for the model (`<model>: unit costs …`, measured under QEMU).

use std::path::Path;
use std::process::ExitCode;

use genbab_cli::bake::{self, Args as BakeArgs};
use genbab_cli::frames::Kind;
use genbab_core::bab::{BabPlan, Verdict};
use genbab_core::monitor::Step;
use genbab_core::spec::Spec;

/// Options of `genbab monitor`.
#[derive(clap::Args, Clone, Debug)]
pub struct Args {
    /// The model, property, frames and device settings, as `bake` takes them (`-o` not needed).
    #[command(flatten)]
    pub bake: BakeArgs,
    /// Instructions of a forward pass, an attack pass and one domain's bound on the device (the
    /// firmware's `unit costs` line), comma-separated: adds an instruction estimate per frame.
    #[arg(long, value_delimiter = ',')]
    pub unit_costs: Option<Vec<u64>>,
    /// One JSON object per frame, then a summary object (for tools).
    #[arg(long)]
    pub json: bool,
}

/// The `monitor` subcommand.
pub fn run(a: Args) -> ExitCode {
    match monitor(&a) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn step_word(s: Step) -> &'static str {
    match s {
        Step::Region => "region",
        Step::Witness => "witness",
        Step::Centre => "centre",
        Step::Grown => "grown",
        Step::Search => "search",
    }
}

fn monitor(a: &Args) -> Result<(), String> {
    let b = &bake::resolve_method(&a.bake, Path::new("."))?;
    if a.unit_costs.as_ref().is_some_and(|u| u.len() != 3) {
        return Err("--unit-costs: give three numbers: forward pass, attack pass, domain bound".into());
    }
    if !b.has_frames() {
        return Err("monitor: give the frames with --frames STREAM.csv (or a number to generate)".into());
    }
    let base = Path::new(".");
    let r = bake::restricted(b, base)?;
    let g = r.graph.graph();
    let case = r.case.as_ref().ok_or("monitor: give a property")?;
    let spec_rows = genbab_cli::engine::exact_rows::<f32>(case)?;
    let lo: Vec<f32> = case.lo.iter().map(|&v| genbab_core::num::Scalar::from_f64_down(v)).collect();
    let hi: Vec<f32> = case.hi.iter().map(|&v| genbab_core::num::Scalar::from_f64_up(v)).collect();
    let rhs: Vec<f32> = case.rhs.iter().map(|&v| genbab_core::num::Scalar::from_f64_up(v)).collect();
    let spec = Spec { lo: &lo, hi: &hi, rows: &spec_rows, rhs: &rhs, clause_ends: &case.clause_ends };
    spec.validate(g.input_len(), g.output_len()).map_err(|e| format!("invalid property: {e:?}"))?;
    let s = bake::settings(b);
    let activation = !s.splits_input(g.input_len());
    let plan = BabPlan::new(&g, rhs.len(), b.domains, b.depth, b.chunk, activation)
        .map_err(|e| format!("{}: cannot plan: {e:?}", b.model.display()))?;
    let plan = if b.alpha_iters > 0 { plan.with_alpha() } else { plan };
    let plan = BabPlan { bound: bake::bound_plan(&g, plan.bound, b), ..plan };
    let frames = bake::stream(b, base, &g, &spec, (&case.lo, &case.hi), &plan, &s)?;
    let replayed = bake::replay(b, &g, &spec, &plan, &s, &frames)?;
    let cost = |c: &genbab_core::monitor::Check| {
        a.unit_costs
            .as_ref()
            .map(|u| u64::from(c.passes) * u[0] + c.stats.attack_passes * u[1] + c.stats.bounded * u[2])
    };
    let (mut n, mut cert, mut viol, mut und, mut total) = (0usize, 0usize, 0usize, 0usize, 0u64);
    let mut max = 0u64;
    for (k, (f, r)) in frames.iter().zip(&replayed).enumerate() {
        let c = &r.check;
        let (word, reason) = match c.verdict {
            Verdict::Holds => ("CERTIFIED", String::new()),
            Verdict::Violated => ("VIOLATED", String::new()),
            Verdict::Unknown(why) => ("UNDECIDED", format!("{why:?}")),
        };
        match c.verdict {
            Verdict::Holds => cert += 1,
            Verdict::Violated => viol += 1,
            Verdict::Unknown(_) => und += 1,
        }
        n += 1;
        let est = cost(c);
        if let Some(e) = est {
            total += e;
            max = max.max(e);
        }
        if a.json {
            let w: Vec<String> = r.witness.iter().map(|v| format!("{v:?}")).collect();
            println!(
                "{{\"frame\":{k},\"kind\":\"{}\",\"decision\":\"{word}\",\"reason\":\"{reason}\",\"step\":\"{}\",\"domains\":{},\"attack_passes\":{},\"passes\":{},\"witness\":[{}],\"instructions\":{}}}",
                f.kind.word(),
                step_word(c.step),
                c.stats.bounded,
                c.stats.attack_passes,
                c.passes,
                w.join(","),
                est.map_or("null".into(), |e| e.to_string())
            );
        } else {
            let mut line = format!(
                "frame {k} ({}): {word}{} by {}, {} domains, {} attack passes, {} passes",
                f.kind.word(),
                if reason.is_empty() { String::new() } else { format!(" [{reason}]") },
                step_word(c.step),
                c.stats.bounded,
                c.stats.attack_passes,
                c.passes
            );
            if let Some(e) = est {
                line.push_str(&format!(", ≈ {e} instructions"));
            }
            if !r.witness.is_empty() {
                line.push_str(&format!(", witness {:?}", r.witness));
            }
            println!("{line}");
        }
    }
    let track = frames.iter().filter(|f| f.kind == Kind::Track).count();
    let mean = total / n.max(1) as u64;
    if a.json {
        println!(
            "{{\"frames\":{n},\"track\":{track},\"certified\":{cert},\"violated\":{viol},\"undecided\":{und},\"mean_instructions\":{},\"max_instructions\":{}}}",
            if a.unit_costs.is_some() { mean.to_string() } else { "null".into() },
            if a.unit_costs.is_some() { max.to_string() } else { "null".into() }
        );
    } else {
        let mut line = format!(
            "{n} frames ({track} of a trajectory): {cert} certified, {viol} violated, {und} undecided"
        );
        if let Some(u) = &a.unit_costs {
            let f = u[0].max(1) as f64;
            line.push_str(&format!(
                "; ≈ {mean} instructions per check on average ({:.1} forward passes), {max} at most ({:.1})",
                mean as f64 / f,
                max as f64 / f
            ));
        }
        println!("{line}");
    }
    Ok(())
}
