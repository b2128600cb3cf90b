//! `genbab bake MODEL.onnx [PROP.vnnlib] -o module.rs`: a model (and optionally a property and a
//! stream of sensor frames) as a Rust module for firmware that links `genbab-core`.
//!
//! The module holds the model as core IR in `static` arrays (`NODES`, `WEIGHTS`, `INDICES`, in
//! flash), `graph()`, the property's chosen input box and its unsafe region (`SPEC_*`, `spec()`),
//! the branch-and-bound settings the firmware runs with (`settings()`) and `const` sizes of every
//! buffer the core needs, computed here with the core's own plan functions ([`Plan`],
//! [`BabPlan`]) for the device's domain capacity, depth and chunk. The firmware declares its
//! buffers with these sizes, so its RAM is fixed at link time; `PLAN` restates the plan as a
//! `const` expression so the firmware can check the sizes at compile time.
//!
//! With a property, the model is restricted to the outputs that box's atoms read
//! ([`genbab_core::prune::restrict`]; each kept value is computed exactly as in the full model) and
//! the atoms are rewritten over those outputs, so `OUTPUT_LEN` is the number of outputs read and
//! the firmware's RAM pays only for the values the property depends on. Without one the whole
//! model is baked.
//!
//! Weights are printed with `{:?}`, Rust's shortest representation that parses back to the same
//! `f32`, so the baked model is bit-for-bit the loaded one. The text is emitted already formatted
//! the way `rustfmt` (edition 2024, `max_width = 110`, `use_small_heuristics = "Max"`) formats it.
//!
//! # Frames (`--frames N`)
//!
//! A *frame* is a sensor reading `x` (a point) with an uncertainty radius `r` per input; the
//! firmware certifies the property over the box `[x − r, x + r]` (each end rounded outward by one
//! ulp: `x.sub_down(r)`, `x.add_up(r)`). The generator, deterministic for `--frame-seed`:
//!
//! 1. The *region* is the property's first input box scaled about its centre by `--frame-spread`.
//! 2. It draws `20·N` uniform points in the region and evaluates the network (f32) at each; a
//!    point's *margin* is `min over clauses (max over atoms (c·y − d))`, negative or zero exactly
//!    when the output is in the unsafe region.
//! 3. Frame `k` is, by `k mod 3`: *safe* (the next point with a positive margin), *unsafe* (the
//!    next point with margin ≤ 0) or *borderline* (on the segment from the next safe to the next
//!    unsafe point, the boundary of the unsafe set is found by 40 bisections; then 30 bisections
//!    between the safe point and the boundary find the centre closest to the boundary whose box
//!    the check below does *not* find violated: a box that touches the boundary).
//! 4. Its radius is `f · (half-width of the region)` per input, with `f` the `(k div 3)`-th entry
//!    (cyclically) of `--frame-radius`, a comma-separated list.
//!
//! The host then decides every frame exactly as the firmware will: `bab::verify` with `settings()`
//! in a workspace of exactly the baked plan's sizes (zeroed before each frame), the step limit
//! `max_steps` as the only budget. The decisions (certified / violated / undecided), the
//! number of domains bounded and the witnesses are baked in as `EXPECTED*` for the firmware to
//! compare against.
//!
//! # Blob (`--blob FILE`)
//!
//! Also writes the f32 model as a byte blob for a loader that builds the model on a heap (the
//! firmware's `embedded-alloc` copy). Little-endian: magic `GBM1`, then `u32` node count, weight
//! count, index count and output id; then one 32-byte record per node (`u8` op tag, `u8` unary
//! tag, `u8` power, `u8` 0, `u32` len, five `u32` operand fields, `f32` LeakyReLU slope); then
//! the weights (`f32` bits) and the indices (`u32`). See [`blob`] for the field order per op.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use genbab_core::alpha::AlphaSettings;
use genbab_core::bab::{self, BabPlan, Branching, DomainRecord, Settings, Verdict};
use genbab_core::bound::{Config, Method, Plan, Split};
use genbab_core::graph::{Graph, Node, Op, Span, Unary};
use genbab_core::monitor::{self, Monitor, Reuse};
use genbab_core::num::{Fix, Scalar};
use genbab_core::spec::Spec;

use crate::frames::{self, Frame, Kind};
use crate::onnx;
use crate::vnnlib;

/// Options of `genbab bake`.
#[derive(clap::Args, Clone, Debug)]
pub struct Args {
    /// The network (ONNX).
    pub model: PathBuf,
    /// A property (VNN-LIB): an input box and the unsafe region are baked as `SPEC_*`, and the model
    /// is restricted to the outputs they read.
    pub property: Option<PathBuf>,
    /// The Rust module to write (required by `bake`; `monitor` writes none).
    #[arg(short, long, visible_alias = "out")]
    pub output: Option<PathBuf>,
    /// A name for the module's title line (default: the model file's stem).
    #[arg(long)]
    pub name: Option<String>,
    /// Scalar type of the baked weights (the device's FPU type).
    #[arg(long, value_enum, default_value = "f32")]
    pub scalar: ScalarArg,
    /// Which input box of the property (VNN-LIB files may hold several).
    #[arg(long, default_value_t = 0)]
    pub case: usize,
    /// Branch-and-bound domain pool capacity on the device.
    #[arg(long, default_value_t = 64)]
    pub domains: usize,
    /// Most activation splits per domain (0 suffices for input splitting). Smaller than
    /// `verify`'s 48: the device's pool keeps this many splits for every one of `--domains`.
    #[arg(long, default_value_t = 24)]
    pub depth: usize,
    /// Rows of a backward pass processed at once (RAM ∝ chunk × node values).
    #[arg(long, default_value_t = 4)]
    pub chunk: usize,
    /// What branch and bound splits on the device (`auto`: the input when it has ≤ 16 values).
    #[arg(long, value_enum, default_value = "auto")]
    pub branching: BranchingArg,
    /// Domains bounded per check at most: the device's fixed per-frame budget.
    #[arg(long, default_value_t = 8)]
    pub max_steps: u64,
    /// Counterexample search: random restarts (the first starts at the box centre).
    #[arg(long, default_value_t = 2)]
    pub attack_restarts: u32,
    /// Counterexample search: gradient steps per restart.
    #[arg(long, default_value_t = 8)]
    pub attack_steps: u32,
    /// Counterexample search inside every open box of the input split: signed-gradient steps
    /// from the corner its linear bound points to (after that corner and the centre).
    #[arg(long, default_value_t = 0)]
    pub domain_attack_steps: u32,
    /// Seed of the counterexample search.
    #[arg(long, default_value_t = Settings::default().seed)]
    pub seed: u64,
    /// Rounds of split-multiplier (β) optimisation per domain (activation splits only).
    #[arg(long, default_value_t = Settings::default().beta_iters)]
    pub beta_iters: u32,
    /// α-CROWN iterations per bounded spec row on the device (0 = plain CROWN, the default;
    /// otherwise the plan reserves the optimiser's buffers, `PLAN = ….with_alpha()`).
    #[arg(long, default_value_t = 0)]
    pub alpha_iters: u32,
    /// α-CROWN iterations per intermediate bound at the root box of each check (0 = the
    /// intermediate bounds stay CROWN's, the default; needs `--alpha-iters` > 0 for the buffers).
    #[arg(long, default_value_t = 0)]
    pub alpha_intermediate: u32,
    /// Bound engine of a check: `crown` (a backward pass per intermediate node, tightest),
    /// `zonotope` and `forward` (intermediate intervals carried forward from the input: cheap
    /// for low-dimensional inputs), `ibp-crown` (interval intermediates, cheapest), `auto` (the
    /// cheapest that certifies as many `--frames` as the best, found by replaying them with each).
    #[arg(long, value_enum, default_value = "crown")]
    pub method: MethodArg,
    /// Give up on a box whose bound lies below the smallest property margin seen at its centre
    /// and its bound's corner by more than 1/F (`Settings::split_promise`; 0 = never).
    #[arg(long, default_value_t = 0.0, value_parser = crate::values::non_negative_f32, allow_negative_numbers = true)]
    pub split_promise: f32,
    /// Noise symbols a zonotope may introduce (`--method zonotope`; RAM and work grow with it).
    #[arg(long, default_value_t = 16)]
    pub symbols: usize,
    /// Monitor: reuse earlier frames (a box inside the region certified before holds; the last
    /// witness, confirmed in a new box, violates it).
    #[arg(long)]
    pub reuse: bool,
    /// Monitor: before a frame's own box, try it enlarged by this factor of its radius; a proof
    /// becomes the region the next frames reuse (0 = never; needs `--reuse`).
    #[arg(long, default_value_t = 0.0, value_parser = crate::values::non_negative_f32, allow_negative_numbers = true)]
    pub grow: f32,
    /// Also bake the weights as Q16.16 bit patterns (`WEIGHTS_FIX_BITS`, for `num::Fix`).
    #[arg(long)]
    pub fixed: bool,
    /// Also bake a proof certificate (`genbab_core::cert`, f32 leaf test) that the property's
    /// output constraints hold over this VNN-LIB file's input box (its output constraints must be
    /// the property's), for the device to check at boot: `CERT_LO`/`CERT_HI`, `CERTIFICATE`,
    /// `CERT_PLAN` and `cert_spec()`.
    #[arg(long)]
    pub certificate_region: Option<PathBuf>,
    /// Most cuts on a path of the baked certificate's tree (the device's checker keeps one set of
    /// intervals per level).
    #[arg(long, default_value_t = 12)]
    pub certificate_depth: usize,
    /// Sensor frames to bake with the host's decisions for them (needs a property): a number of
    /// frames to generate (safe, unsafe and borderline in turn), or a CSV stream file (format in
    /// [`crate::frames`]).
    #[arg(long, default_value = "0")]
    pub frames: FramesArg,
    /// Append a trajectory of this many `track` frames (a slow random walk through the frame
    /// region from the first safe frame, radius the first `--frame-radius`): consecutive frames
    /// overlap, which `--reuse` exploits.
    #[arg(long, default_value_t = 0)]
    pub trajectory: usize,
    /// The trajectory's step: its speed as a fraction of the region's half-width per frame.
    #[arg(long, default_value_t = 0.02, value_parser = crate::values::non_negative, allow_negative_numbers = true)]
    pub trajectory_step: f64,
    /// Also write the frames (generated or read) as a CSV stream to this file.
    #[arg(long)]
    pub write_frames: Option<PathBuf>,
    /// Seed of the frame generator.
    #[arg(long, default_value_t = 1)]
    pub frame_seed: u64,
    /// Frame region: the property's box scaled about its centre by this factor.
    #[arg(long, default_value_t = 1.0, value_parser = crate::values::positive, allow_negative_numbers = true)]
    pub frame_spread: f64,
    /// Frame radii as fractions of the region's half-width, used in turn.
    #[arg(long, value_delimiter = ',', default_value = "0.001,0.004,0.02", value_parser = crate::values::non_negative, allow_negative_numbers = true)]
    pub frame_radius: Vec<f64>,
    /// Also write the model as a byte blob (for a heap-allocating loader) to this file.
    #[arg(long)]
    pub blob: Option<PathBuf>,
}

/// Scalar types `bake` can emit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ScalarArg {
    /// IEEE binary32 (the Cortex-M4F's FPU).
    F32,
}

/// `--frames`: how many to generate, or a stream file.
#[derive(Clone, Debug, PartialEq)]
pub enum FramesArg {
    /// Generate this many (0: none).
    Count(usize),
    /// Read them from this CSV file.
    File(PathBuf),
}

impl std::str::FromStr for FramesArg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s.parse::<usize>() {
            Ok(n) => FramesArg::Count(n),
            Err(_) => FramesArg::File(PathBuf::from(s)),
        })
    }
}

impl std::fmt::Display for FramesArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FramesArg::Count(n) => write!(f, "{n}"),
            FramesArg::File(p) => write!(f, "{}", p.display()),
        }
    }
}

impl Args {
    /// Whether any frames are baked.
    pub fn has_frames(&self) -> bool {
        self.frames != FramesArg::Count(0) || self.trajectory > 0
    }
}

/// Bound engines of a check on the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum MethodArg {
    Crown,
    Zonotope,
    Forward,
    IbpCrown,
    /// The cheapest engine that certifies as many of the `--frames` as the best one
    /// ([`choose_method`]).
    Auto,
}

impl MethodArg {
    /// The flag's value.
    pub fn word(self) -> &'static str {
        match self {
            MethodArg::Crown => "crown",
            MethodArg::Zonotope => "zonotope",
            MethodArg::Forward => "forward",
            MethodArg::IbpCrown => "ibp-crown",
            MethodArg::Auto => "auto",
        }
    }

    /// The core's engine (`auto` is resolved by [`choose_method`] before any use; CROWN if not).
    pub fn method(self) -> Method {
        match self {
            MethodArg::Crown | MethodArg::Auto => Method::Crown,
            MethodArg::Zonotope => Method::Zonotope,
            MethodArg::Forward => Method::Forward,
            MethodArg::IbpCrown => Method::IbpCrown,
        }
    }
}

/// What branch and bound splits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BranchingArg {
    Auto,
    Input,
    Bbps,
    Babsr,
}

/// The generated module and, with `--blob`, the blob.
#[derive(Clone, Debug)]
pub struct Baked {
    pub module: String,
    pub blob: Option<Vec<u8>>,
    /// Host decisions per frame (0 certified, 1 violated, 2 undecided).
    pub decisions: Vec<u8>,
    /// The work of each frame's check on the host, as the device will do it: domains bounded,
    /// attack passes, the monitor's own forward passes.
    pub work: Vec<Work>,
    /// Bytes of the plan's `f32` scalars (most of the device's workspace; the firmware reports the
    /// whole of it, flags, records and stack included).
    pub plan_bytes: usize,
}

/// A check's work: domains bounded, attack passes, the monitor's own forward passes.
pub type Work = (u64, u64, u32);

/// Decision codes baked into `EXPECTED`.
pub const CERTIFIED: u8 = 0;
/// The property is violated in the frame's box (a confirmed witness exists).
pub const VIOLATED: u8 = 1;
/// Neither within the budget: the monitor falls back.
pub const UNDECIDED: u8 = 2;

/// Parse `bake`'s arguments (without the program and subcommand names), e.g. for tests.
pub fn parse_args<S: AsRef<str>>(argv: &[S]) -> Result<Args, String> {
    use clap::{Args as _, FromArgMatches as _};
    let cmd = Args::augment_args(clap::Command::new("bake").no_binary_name(true));
    let m = cmd.try_get_matches_from(argv.iter().map(|s| s.as_ref())).map_err(|e| e.to_string())?;
    Args::from_arg_matches(&m).map_err(|e| e.to_string())
}

/// The `bake` subcommand.
pub fn run(a: Args) -> ExitCode {
    let baked = match bake(&a, Path::new(".")) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let Some(output) = &a.output else {
        eprintln!("error: bake: give the module to write with -o/--output");
        return ExitCode::from(2);
    };
    if let Err(e) = std::fs::write(output, &baked.module) {
        eprintln!("error: {}: cannot write: {e}", output.display());
        return ExitCode::from(2);
    }
    if let (Some(path), Some(blob)) = (&a.blob, &baked.blob)
        && let Err(e) = std::fs::write(path, blob)
    {
        eprintln!("error: {}: cannot write: {e}", path.display());
        return ExitCode::from(2);
    }
    eprintln!("plan: {} B of f32 scalars in the core's workspace", baked.plan_bytes);
    if !baked.decisions.is_empty() {
        let count = |c: u8| baked.decisions.iter().filter(|&&d| d == c).count();
        eprintln!(
            "{} frames: {} certified, {} violated, {} undecided",
            baked.decisions.len(),
            count(CERTIFIED),
            count(VIOLATED),
            count(UNDECIDED)
        );
        // The expected cost of a check: its work, which the firmware's unit costs (its
        // `unit costs` line) turn into instructions, as `genbab monitor --unit-costs` does.
        let n = baked.work.len().max(1) as f64;
        let sum = |f: fn(&Work) -> f64| baked.work.iter().map(f).sum::<f64>() / n;
        let max_dom = baked.work.iter().map(|w| w.0).max().unwrap_or(0);
        eprintln!(
            "expected cost per check: {:.2} domains bounded (at most {max_dom}), {:.2} attack passes, {:.2} forward passes of the monitor",
            sum(|w| w.0 as f64),
            sum(|w| w.1 as f64),
            sum(|w| f64::from(w.2))
        );
    }
    ExitCode::SUCCESS
}

/// The settings the device runs with: the core's defaults but for the fields `bake` sets (the
/// emitted `settings()` lists exactly these).
pub fn settings(a: &Args) -> Settings {
    Settings {
        bound: Config { method: a.method.method(), ..Config::default() },
        branching: match a.branching {
            BranchingArg::Auto => Branching::Auto,
            BranchingArg::Input => Branching::Input,
            BranchingArg::Bbps => Branching::Bbps,
            BranchingArg::Babsr => Branching::BabSr,
        },
        max_steps: a.max_steps,
        attack_restarts: a.attack_restarts,
        attack_steps: a.attack_steps,
        domain_attack_steps: a.domain_attack_steps,
        seed: a.seed,
        beta_iters: a.beta_iters,
        split_promise: a.split_promise,
        alpha: AlphaSettings {
            iters: a.alpha_iters,
            intermediate: a.alpha_intermediate,
            ..AlphaSettings::OFF
        },
        ..Settings::default()
    }
}

/// The monitor's reuse settings.
pub fn reuse(a: &Args) -> Reuse {
    Reuse { on: a.reuse, grow: if a.reuse { a.grow } else { 0.0 } }
}

/// The device's branch-and-bound plan for `g` with `atoms` property atoms.
pub fn device_plan(a: &Args, g: &Graph<'_, f32>, atoms: usize) -> Result<BabPlan, String> {
    let activation = !settings(a).splits_input(g.input_len());
    let plan = BabPlan::new(g, atoms, a.domains, a.depth, a.chunk, activation)
        .map_err(|e| format!("{}: cannot plan: {e:?}", a.model.display()))?;
    let plan = if a.alpha_iters > 0 { plan.with_alpha() } else { plan };
    Ok(BabPlan { bound: bound_plan(g, plan.bound, a), ..plan })
}

/// `plan` with the buffer `--method` needs (a forward-mode or zonotope arena).
pub fn bound_plan(g: &Graph<'_, f32>, plan: Plan, a: &Args) -> Plan {
    match a.method {
        MethodArg::Forward => plan.with_forward_for(g),
        MethodArg::Zonotope => plan.with_zonotope_for(g, a.symbols),
        _ => plan,
    }
}

/// A property case in f32, rounded so that the box and the unsafe region only grow.
struct Prop {
    lo: Vec<f32>,
    hi: Vec<f32>,
    rows: Vec<f32>,
    rhs: Vec<f32>,
    ends: Vec<u32>,
    /// The box as written (f64), for the frame region.
    lo64: Vec<f64>,
    hi64: Vec<f64>,
}

impl Prop {
    fn spec<'a>(&'a self, lo: &'a [f32], hi: &'a [f32]) -> Spec<'a, f32> {
        Spec { lo, hi, rows: &self.rows, rhs: &self.rhs, clause_ends: &self.ends }
    }
}

/// The model and property as baked: with a property, the model restricted to the outputs its
/// chosen box reads. Public so tests can compare a baked module with what it should hold.
pub struct Restricted {
    /// The model as baked (f32 weights).
    pub graph: onnx::OwnedGraph<f32>,
    /// The full model's output index of each baked output.
    pub outputs: Vec<usize>,
    /// The full model's number of outputs.
    pub model_outputs: usize,
    /// The chosen box of the property, over the baked outputs.
    pub case: Option<vnnlib::Case>,
}

/// Load the model (and property) of `a` and restrict as [`bake`] does.
pub fn restricted(a: &Args, base: &Path) -> Result<Restricted, String> {
    let model = onnx::load(&base.join(&a.model)).map_err(|e| e.to_string())?;
    let og = model.graph::<f32>();
    og.graph().validate().map_err(|e| format!("{}: invalid graph: {e:?}", a.model.display()))?;
    let n = model.output_len();
    let Some(p) = &a.property else {
        return Ok(Restricted { graph: og, outputs: (0..n).collect(), model_outputs: n, case: None });
    };
    let pr = vnnlib::read(&base.join(p)).map_err(|e| e.to_string())?;
    crate::engine::check_shapes(&model, &pr).map_err(|e| format!("{}: {e}", p.display()))?;
    let c = pr.cases.get(a.case).ok_or_else(|| {
        format!("{}: --case {} but the property has {} input box(es)", p.display(), a.case, pr.cases.len())
    })?;
    let outputs = crate::engine::read_outputs([c], n);
    let graph = crate::engine::restrict_graph(&og, &outputs)?.unwrap_or(og);
    let case = crate::engine::restrict_case(c, n, &outputs);
    Ok(Restricted { graph, outputs, model_outputs: n, case: Some(case) })
}

/// The settings' own checks (before any work).
fn check_args(a: &Args) -> Result<(), String> {
    if a.frame_radius.is_empty() || a.frame_radius.iter().any(|r| !(r.is_finite() && *r >= 0.0)) {
        return Err("--frame-radius: give non-negative fractions".into());
    }
    if !(a.split_promise.is_finite() && a.split_promise >= 0.0) {
        return Err("--split-promise: give a non-negative factor".into());
    }
    if !(a.grow.is_finite() && a.grow >= 0.0) || (a.grow > 0.0 && !a.reuse) {
        return Err("--grow: give a non-negative factor, with --reuse".into());
    }
    Ok(())
}

/// `a` with `--method auto` replaced by the engine [`choose_method`] picks (its trials printed
/// on stderr); `a` itself otherwise.
pub fn resolve_method(a: &Args, base: &Path) -> Result<Args, String> {
    check_args(a)?;
    if a.method != MethodArg::Auto {
        return Ok(a.clone());
    }
    let (method, trials) = choose_method(a, base)?;
    for t in &trials {
        eprintln!(
            "method auto: {:<9} certifies {} of {} frames ({} domains bounded, {} attack passes)",
            t.method.word(),
            t.certified,
            t.frames,
            t.domains,
            t.attack_passes
        );
    }
    eprintln!("method auto: chose {}", method.word());
    Ok(Args { method, ..a.clone() })
}

/// One engine's replay of the frames (`--method auto`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trial {
    pub method: MethodArg,
    /// Frames replayed, and how many of them it certifies.
    pub frames: usize,
    pub certified: usize,
    /// The work of the replay: domains bounded and attack passes, summed over the frames.
    pub domains: u64,
    pub attack_passes: u64,
}

/// `--method auto`: replay the frames through the device's check with each engine, cheapest
/// first, and take the first that certifies as many frames as the best one. The order is by a
/// domain's work in forward passes for `d` inputs, `s` noise symbols and `m` property atoms:
/// IBP with CROWN for the output (about `2 + m`), forward mode (`2·(d + 1) + 1 + m`) and
/// zonotopes (`d + s + 5 + m`), the smaller first, then CROWN (a backward pass for every
/// unstable intermediate value: ACAS Xu's was about 60 under QEMU, its zonotope's 25). Forward
/// mode and zonotopes only for at most 64 inputs, where their arenas stay small.
pub fn choose_method(a: &Args, base: &Path) -> Result<(MethodArg, Vec<Trial>), String> {
    if !a.has_frames() {
        return Err("--method auto: give --frames (the engine is chosen by replaying them)".into());
    }
    let r = restricted(a, base)?;
    let g = r.graph.graph();
    let prop = prop_of(a, &r, &g)?.ok_or("--method auto: give a property (the frames' check)")?;
    let spec = prop.spec(&prop.lo, &prop.hi);
    let with = |method| Args { method, ..a.clone() };
    let crown = with(MethodArg::Crown);
    let plan = device_plan(&crown, &g, prop.rhs.len())?;
    let frames = stream(&crown, base, &g, &spec, (&prop.lo64, &prop.hi64), &plan, &settings(&crown))?;
    if frames.is_empty() {
        return Err("--method auto: no frames to choose on".into());
    }
    let d = g.input_len();
    let mut order = vec![MethodArg::IbpCrown];
    if d <= 64 {
        let (fwd, zono) = (2 * (d + 1) + 1, d + a.symbols + 5);
        order.extend(if fwd <= zono {
            [MethodArg::Forward, MethodArg::Zonotope]
        } else {
            [MethodArg::Zonotope, MethodArg::Forward]
        });
    }
    order.push(MethodArg::Crown);
    let mut trials = Vec::new();
    for m in order {
        let b = with(m);
        let out = replay(&b, &g, &spec, &device_plan(&b, &g, prop.rhs.len())?, &settings(&b), &frames)?;
        trials.push(Trial {
            method: m,
            frames: frames.len(),
            certified: out.iter().filter(|r| r.check.verdict == Verdict::Holds).count(),
            domains: out.iter().map(|r| r.check.stats.bounded).sum(),
            attack_passes: out.iter().map(|r| r.check.stats.attack_passes).sum(),
        });
    }
    let best = trials.iter().map(|t| t.certified).max().unwrap_or(0);
    let pick = trials.iter().find(|t| t.certified == best).map_or(MethodArg::Crown, |t| t.method);
    Ok((pick, trials))
}

/// The chosen case of the property of `a`, in f32 (none without a property).
fn prop_of(a: &Args, r: &Restricted, g: &Graph<'_, f32>) -> Result<Option<Prop>, String> {
    Ok(match (&a.property, &r.case) {
        (Some(p), Some(c)) => {
            let pr = Prop {
                lo: c.lo.iter().map(|&v| f32::from_f64_down(v)).collect(),
                hi: c.hi.iter().map(|&v| f32::from_f64_up(v)).collect(),
                rows: crate::engine::exact_rows::<f32>(c).map_err(|e| format!("{}: {e}", p.display()))?,
                rhs: c.rhs.iter().map(|&v| f32::from_f64_up(v)).collect(),
                ends: c.clause_ends.clone(),
                lo64: c.lo.clone(),
                hi64: c.hi.clone(),
            };
            pr.spec(&pr.lo, &pr.hi)
                .validate(g.input_len(), g.output_len())
                .map_err(|e| format!("{}: invalid property: {e:?}", p.display()))?;
            Some(pr)
        }
        _ => None,
    })
}

/// Bake the module; relative paths in `a` are resolved against `base`.
pub fn bake(a: &Args, base: &Path) -> Result<Baked, String> {
    let a = &resolve_method(a, base)?;
    let r = restricted(a, base)?;
    let og = &r.graph;
    let g = og.graph();
    let prop = prop_of(a, &r, &g)?;
    if a.has_frames() && prop.is_none() {
        return Err("--frames needs a property (its box is the frame region, its atoms the check)".into());
    }
    let settings = settings(a);
    let atoms = prop.as_ref().map_or(0, |p| p.rhs.len());
    let activation = !settings.splits_input(g.input_len());
    let plan = device_plan(a, &g, atoms)?;
    let bound_plan = bound_plan(
        &g,
        Plan::new(&g, a.chunk).map_err(|e| format!("{}: cannot plan: {e:?}", a.model.display()))?,
        a,
    );

    let mut w = Writer::default();
    let name = a.name.clone().unwrap_or_else(|| {
        a.model.file_stem().map_or_else(|| "model".into(), |s| s.to_string_lossy().into_owned())
    });
    header(&mut w, a, &name, &g, atoms, &r);
    imports(&mut w, &g, prop.is_some(), a.alpha_iters > 0, settings.bound.method);
    if a.certificate_region.is_some() {
        w.line("use genbab_core::cert::CheckPlan;");
    }
    model_items(&mut w, og);
    if a.fixed {
        fixed_items(&mut w, &og.weights)?;
    }
    plan_items(&mut w, &plan, &bound_plan, &settings, activation, reuse(a));
    let (mut decisions, mut work) = (Vec::new(), Vec::new());
    if a.certificate_region.is_some() && prop.is_none() {
        return Err(
            "--certificate-region needs a property (its atoms are what the certificate proves)".into()
        );
    }
    if let Some(p) = &prop {
        spec_items(&mut w, p);
        if let Some(region) = &a.certificate_region {
            certificate_items(&mut w, a, base, region, &r, &g, p)?;
        }
        if a.has_frames() {
            (decisions, work) = frame_items(&mut w, a, base, &g, p, &plan, &settings)?;
        }
    }
    let blob = a.blob.as_ref().map(|_| blob(&og.graph()));
    let plan_bytes = plan.scalars() * size_of::<f32>();
    Ok(Baked { module: w.finish(), blob, decisions, work, plan_bytes })
}

// ---- the parts of the module --------------------------------------------------------------------

fn header(w: &mut Writer, a: &Args, name: &str, g: &Graph<'_, f32>, atoms: usize, r: &Restricted) {
    w.line(&format!("//! {name}: baked by `genbab bake`. Generated code, do not edit: regenerate with"));
    w.line("//!");
    w.line("//! ```sh");
    let cmd = command_line(a);
    for (k, l) in cmd.iter().enumerate() {
        let sep = if k + 1 < cmd.len() { " \\" } else { "" };
        w.line(&format!("//! {l}{sep}"));
    }
    w.line("//! ```");
    w.line("//!");
    if !r.outputs.iter().copied().eq(0..r.model_outputs) {
        let list: Vec<String> = r.outputs.iter().map(|o| o.to_string()).collect();
        w.line(&format!(
            "//! Model `{}` restricted to the outputs the property reads ({} of {}: {}):",
            a.model.display(),
            r.outputs.len(),
            r.model_outputs,
            list.join(", ")
        ));
        w.line(&format!(
            "//! {} nodes, {} inputs, {} outputs, {} weights, {} index entries.",
            g.nodes.len(),
            g.input_len(),
            g.output_len(),
            g.weights.len(),
            g.indices.len()
        ));
    } else {
        w.line(&format!(
            "//! Model `{}`: {} nodes, {} inputs, {} outputs, {} weights, {} index entries.",
            a.model.display(),
            g.nodes.len(),
            g.input_len(),
            g.output_len(),
            g.weights.len(),
            g.indices.len()
        ));
    }
    if let Some(p) = &a.property {
        w.line(&format!("//! Property `{}`, input box {}: {} atoms.", p.display(), a.case, atoms));
    }
    w.blank();
}

/// The regenerating command, one argument group per line, run from the repository root.
fn command_line(a: &Args) -> Vec<String> {
    let mut l = vec![format!("cargo run --release -p genbab-cli -- bake {}", a.model.display())];
    if let Some(p) = &a.property {
        l[0].push(' ');
        l[0].push_str(&p.display().to_string());
    }
    let mut opts: Vec<String> = a.output.iter().map(|o| format!("-o {}", o.display())).collect();
    if let Some(n) = &a.name {
        opts.push(format!("--name {n:?}"));
    }
    if let Some(b) = &a.blob {
        opts.push(format!("--blob {}", b.display()));
    }
    if a.case != 0 {
        opts.push(format!("--case {}", a.case));
    }
    let branching = format!("{:?}", a.branching).to_lowercase();
    opts.push(format!(
        "--domains {} --depth {} --chunk {} --branching {branching}",
        a.domains, a.depth, a.chunk
    ));
    opts.push(format!(
        "--max-steps {} --attack-restarts {} --attack-steps {} --seed {} --beta-iters {}",
        a.max_steps, a.attack_restarts, a.attack_steps, a.seed, a.beta_iters
    ));
    if a.method != MethodArg::Crown {
        let m = match a.method {
            MethodArg::Zonotope => format!("--method zonotope --symbols {}", a.symbols),
            MethodArg::Forward => "--method forward".into(),
            _ => "--method ibp-crown".into(),
        };
        opts.push(m);
    }
    if a.domain_attack_steps > 0 {
        opts.push(format!("--domain-attack-steps {}", a.domain_attack_steps));
    }
    if a.split_promise > 0.0 {
        opts.push(format!("--split-promise {:?}", a.split_promise));
    }
    if a.reuse {
        opts.push(if a.grow > 0.0 { format!("--reuse --grow {:?}", a.grow) } else { "--reuse".into() });
    }
    if a.alpha_iters > 0 {
        opts.push(format!("--alpha-iters {}", a.alpha_iters));
    }
    if a.alpha_intermediate > 0 {
        opts.push(format!("--alpha-intermediate {}", a.alpha_intermediate));
    }
    if a.fixed {
        opts.push("--fixed".into());
    }
    if let Some(c) = &a.certificate_region {
        opts.push(format!(
            "--certificate-region {} --certificate-depth {}",
            c.display(),
            a.certificate_depth
        ));
    }
    if let FramesArg::File(p) = &a.frames {
        opts.push(format!("--frames {}", p.display()));
    } else if a.has_frames() {
        let radii: Vec<String> = a.frame_radius.iter().map(|r| format!("{r:?}")).collect();
        opts.push(format!(
            "--frames {} --frame-seed {} --frame-spread {:?} --frame-radius {}",
            a.frames,
            a.frame_seed,
            a.frame_spread,
            radii.join(",")
        ));
    }
    if a.trajectory > 0 {
        opts.push(format!("--trajectory {} --trajectory-step {:?}", a.trajectory, a.trajectory_step));
    }
    if let Some(p) = &a.write_frames {
        opts.push(format!("--write-frames {}", p.display()));
    }
    l.extend(opts.into_iter().map(|o| format!("    {o}")));
    l
}

fn imports(w: &mut Writer, g: &Graph<'_, f32>, spec: bool, alpha: bool, method: Method) {
    let unary = g.nodes.iter().any(|n| matches!(n.op, Op::Unary { .. }));
    let span = g.nodes.iter().any(|n| {
        !matches!(
            n.op,
            Op::Input
                | Op::Unary { .. }
                | Op::Add { .. }
                | Op::Sub { .. }
                | Op::Mul { .. }
                | Op::MatMul { .. }
        )
    });
    if alpha {
        w.line("use genbab_core::alpha::AlphaSettings;");
    }
    w.line("use genbab_core::bab::{BabPlan, Branching, Settings};");
    if method == Method::Crown {
        w.line("use genbab_core::bound::Plan;");
    } else {
        w.line("use genbab_core::bound::{Config, Method, Plan};");
    }
    let mut items = vec!["Graph", "Node", "NodeId", "Op"];
    if span {
        items.push("Span");
    }
    if unary {
        items.push("Unary");
    }
    w.line(&format!("use genbab_core::graph::{{{}}};", items.join(", ")));
    w.line("use genbab_core::monitor::Reuse;");
    if spec {
        w.line("use genbab_core::spec::Spec;");
    }
    w.blank();
}

fn model_items(w: &mut Writer, og: &onnx::OwnedGraph<f32>) {
    let g = og.graph();
    w.line("/// Input length.");
    w.line(&format!("pub const INPUT_LEN: usize = {};", g.input_len()));
    w.line("/// Output length: with a property, the outputs its atoms read (the header says which).");
    w.line(&format!("pub const OUTPUT_LEN: usize = {};", g.output_len()));
    w.line("/// Scalars over all node values (a forward-value buffer).");
    w.line(&format!("pub const VALUES: usize = {};", g.total_len()));
    w.line("/// The node whose value is the network output.");
    w.line(&format!("pub const OUTPUT: NodeId = {};", g.output));
    w.blank();
    w.line("/// The nodes, in topological order.");
    let nodes: Vec<String> = g.nodes.iter().map(node_expr).collect();
    w.array(&format!("pub static NODES: [Node; {}]", nodes.len()), &nodes);
    w.blank();
    w.line("/// All weights, biases and constants (`{:?}` of each `f32`: parses back to the same bits).");
    let weights: Vec<String> = g.weights.iter().map(|v| format!("{v:?}")).collect();
    w.array(&format!("pub static WEIGHTS: [f32; {}]", weights.len()), &weights);
    w.blank();
    w.line("/// All index maps and Concat part lists.");
    let indices: Vec<String> = g.indices.iter().map(|v| v.to_string()).collect();
    w.array(&format!("pub static INDICES: [u32; {}]", indices.len()), &indices);
    w.blank();
    w.line("/// The model as core IR, borrowing the statics above (validated by the engines before use).");
    w.line("pub const fn graph() -> Graph<'static, f32> {");
    w.line("    Graph { nodes: &NODES, weights: &WEIGHTS, indices: &INDICES, output: OUTPUT }");
    w.line("}");
    w.blank();
}

fn fixed_items(w: &mut Writer, weights: &[f32]) -> Result<(), String> {
    let mut bits = Vec::with_capacity(weights.len());
    for (i, &v) in weights.iter().enumerate() {
        let f = Fix::from_f64_near(f64::from(v));
        let b = f.get().ok_or_else(|| format!("--fixed: weight {i} ({v:?}) does not fit Q16.16"))?;
        bits.push(b.to_bits().to_string());
    }
    w.line("/// `WEIGHTS` in Q16.16 (`num::Fix`), each rounded to nearest: the bit patterns of");
    w.line("/// `fixed::types::I16F16` (none is the reserved poison pattern `i32::MIN`).");
    w.array(&format!("pub static WEIGHTS_FIX_BITS: [i32; {}]", bits.len()), &bits);
    w.blank();
    Ok(())
}

fn plan_items(w: &mut Writer, plan: &BabPlan, bound: &Plan, s: &Settings, activation: bool, reuse: Reuse) {
    w.line("/// Branch-and-bound domain pool capacity.");
    w.line(&format!("pub const DOMAINS: usize = {};", plan.domains));
    w.line("/// Most splits per domain.");
    w.line(&format!("pub const DEPTH: usize = {};", plan.depth));
    w.line("/// Rows of a backward pass processed at once.");
    w.line(&format!("pub const CHUNK: usize = {};", bound.chunk));
    w.line("/// Spec atoms the workspace holds.");
    w.line(&format!("pub const ATOMS: usize = {};", plan.atoms));
    w.line("/// Whether `PLAN` reserves the buffers of activation splitting (BBPS).");
    w.line(&format!("pub const ACTIVATION_SPLIT: bool = {activation};"));
    w.line("/// The branch-and-bound plan (`BabPlan::new` on the host gave the sizes below).");
    let expr = plan_expr(plan);
    // As rustfmt lays it out (max_width 110): one line if it fits, else broken after `=`.
    let one = format!("pub const PLAN: BabPlan = {expr};");
    if one.chars().count() <= 110 {
        w.line(&one);
    } else {
        w.line("pub const PLAN: BabPlan =");
        let two = format!("    {expr};");
        match expr.strip_suffix(".with_alpha()") {
            // rustfmt puts a trailing call of a line still too long on its own line.
            Some(head) if two.chars().count() > 110 => {
                w.line(&format!("    {head}"));
                w.line("        .with_alpha();");
            }
            _ => w.line(&two),
        }
    }
    w.line("/// `PLAN.scalars()`: scalars of the branch-and-bound workspace.");
    w.line(&format!("pub const SCALARS: usize = {};", plan.scalars()));
    w.line("/// `PLAN.flags()`.");
    w.line(&format!("pub const FLAGS: usize = {};", plan.flags()));
    w.line("/// `PLAN.splits()`: split records.");
    w.line(&format!("pub const SPLITS: usize = {};", plan.splits()));
    w.line("/// `PLAN.records()`: domain records.");
    w.line(&format!("pub const RECORDS: usize = {};", plan.records()));
    w.line("/// `PLAN.offsets()`: node-offset entries.");
    w.line(&format!("pub const OFFSETS: usize = {};", plan.offsets()));
    w.line("/// `PLAN.input`: f64 scratch of the BBPS heuristic.");
    w.line(&format!("pub const SUM: usize = {};", plan.input));
    w.line("/// `PLAN.bound.scalars()`: a bounds-only workspace (no branching).");
    w.line(&format!("pub const BOUND_SCALARS: usize = {};", bound.scalars()));
    w.line("/// `PLAN.bound.flags()`.");
    w.line(&format!("pub const BOUND_FLAGS: usize = {};", bound.flags()));
    debug_assert_eq!(plan.bound, *bound);
    w.blank();
    w.line("/// Branch-and-bound settings of a check (`max_steps` is the per-frame budget); the fields not");
    w.line("/// listed keep the core's defaults, as they did on the host.");
    w.line("pub fn settings() -> Settings {");
    w.line("    Settings {");
    if s.bound.method != Method::Crown {
        w.line(&format!(
            "        bound: Config {{ method: Method::{:?}, ..Config::default() }},",
            s.bound.method
        ));
    }
    w.line(&format!("        branching: Branching::{:?},", s.branching));
    w.line(&format!("        max_steps: {},", s.max_steps));
    w.line(&format!("        attack_restarts: {},", s.attack_restarts));
    w.line(&format!("        attack_steps: {},", s.attack_steps));
    if s.domain_attack_steps > 0 {
        w.line(&format!("        domain_attack_steps: {},", s.domain_attack_steps));
    }
    w.line(&format!("        seed: {},", hex_u64(s.seed)));
    w.line(&format!("        beta_iters: {},", s.beta_iters));
    if s.split_promise > 0.0 {
        w.line(&format!("        split_promise: {:?},", s.split_promise));
    }
    if s.alpha.iters > 0 && s.alpha.intermediate > 0 {
        w.line(&format!(
            "        alpha: AlphaSettings {{ iters: {}, intermediate: {}, ..AlphaSettings::OFF }},",
            s.alpha.iters, s.alpha.intermediate
        ));
    } else if s.alpha.iters > 0 {
        w.line(&format!(
            "        alpha: AlphaSettings {{ iters: {}, ..AlphaSettings::OFF }},",
            s.alpha.iters
        ));
    }
    w.line("        ..Settings::default()");
    w.line("    }");
    w.line("}");
    w.blank();
    w.line("/// How the monitor reuses earlier frames.");
    w.line(&format!("pub const REUSE: Reuse = Reuse {{ on: {}, grow: {:?} }};", reuse.on, reuse.grow));
    w.blank();
}

/// The `const` expression of `plan` as the module states it.
pub fn plan_expr(plan: &BabPlan) -> String {
    let arena = match (plan.bound.forward, plan.bound.symbols) {
        (0, _) => String::new(),
        (f, 0) => format!(".with_forward({f})"),
        (f, k) => format!(".with_zonotope({f}, {k})"),
    };
    format!(
        "BabPlan::from_sizes(Plan::from_sizes({}, {}, {}, {}){arena}, {}, {}, {}, {}, {}){}",
        plan.bound.nodes,
        plan.bound.values,
        plan.bound.lines,
        plan.bound.chunk,
        plan.input,
        plan.atoms,
        plan.domains,
        plan.depth,
        plan.split_values,
        if plan.alpha > 0 { ".with_alpha()" } else { "" }
    )
}

fn spec_items(w: &mut Writer, p: &Prop) {
    let f = |v: &[f32]| v.iter().map(|x| format!("{x:?}")).collect::<Vec<_>>();
    w.line("/// The property's input box, lower ends (rounded down to f32).");
    w.array(&format!("pub static SPEC_LO: [f32; {}]", p.lo.len()), &f(&p.lo));
    w.line("/// The property's input box, upper ends (rounded up to f32).");
    w.array(&format!("pub static SPEC_HI: [f32; {}]", p.hi.len()), &f(&p.hi));
    w.line("/// Atom coefficients, `ATOMS × OUTPUT_LEN` row-major: atom `i` is `rows[i]·y ≤ rhs[i]`.");
    w.array(&format!("pub static SPEC_ROWS: [f32; {}]", p.rows.len()), &f(&p.rows));
    w.line("/// Atom right-hand sides (rounded up: the unsafe region only grows).");
    w.array(&format!("pub static SPEC_RHS: [f32; {}]", p.rhs.len()), &f(&p.rhs));
    w.line("/// Clause `k` (a conjunction; the unsafe region is their disjunction) ends at atom `ends[k]`.");
    let ends: Vec<String> = p.ends.iter().map(|v| v.to_string()).collect();
    w.array(&format!("pub static SPEC_CLAUSE_ENDS: [u32; {}]", ends.len()), &ends);
    w.blank();
    w.line("/// The property over its own input box.");
    w.line("pub const fn spec() -> Spec<'static, f32> {");
    w.line("    Spec { lo: &SPEC_LO, hi: &SPEC_HI, rows: &SPEC_ROWS, rhs: &SPEC_RHS, clause_ends: &SPEC_CLAUSE_ENDS }");
    w.line("}");
    w.blank();
}

/// `--certificate-region`: the region's box, a certificate over it (written here, in f32, for the
/// baked graph) and its checker's plan.
fn certificate_items(
    w: &mut Writer,
    a: &Args,
    base: &Path,
    region: &Path,
    r: &Restricted,
    g: &Graph<'_, f32>,
    p: &Prop,
) -> Result<(), String> {
    use genbab_core::cert::{self, CheckPlan};
    let pr = vnnlib::read(&base.join(region)).map_err(|e| e.to_string())?;
    let [c] = &pr.cases[..] else {
        return Err(format!("{}: give one input box, not {}", region.display(), pr.cases.len()));
    };
    if c.lo.len() != g.input_len() || c.rows.len() != p.rhs.len() * r.model_outputs {
        return Err(format!("{}: does not fit the model and property", region.display()));
    }
    let c = crate::engine::restrict_case(c, r.model_outputs, &r.outputs);
    let lo: Vec<f32> = c.lo.iter().map(|&v| f32::from_f64_down(v)).collect();
    let hi: Vec<f32> = c.hi.iter().map(|&v| f32::from_f64_up(v)).collect();
    let rows = crate::engine::exact_rows::<f32>(&c).map_err(|e| format!("{}: {e}", region.display()))?;
    let rhs: Vec<f32> = c.rhs.iter().map(|&v| f32::from_f64_up(v)).collect();
    if rows != p.rows || rhs != p.rhs || c.clause_ends != p.ends {
        return Err(format!("{}: its output constraints are not the property's", region.display()));
    }
    let spec = p.spec(&lo, &hi);
    spec.validate(g.input_len(), g.output_len())
        .map_err(|e| format!("{}: invalid box: {e:?}", region.display()))?;
    let bytes =
        crate::files::read(&base.join(&a.model)).map_err(|e| format!("{}: {e}", a.model.display()))?;
    // The device's CROWN plan (its chunk): the certificate is written with the bounds it checks.
    let onnx = cert::sha256(&bytes);
    let (out, s) =
        crate::certificate::write_graph(g, &[spec], &onnx, (a.chunk, a.certificate_depth), &mut || true)
            .map_err(|e| {
                format!("{}: {e} (a smaller region, or a larger --certificate-depth)", region.display())
            })?;
    let cp = CheckPlan::new(g, p.rhs.len(), a.certificate_depth);
    let plan = CheckPlan { depth: s.depth as usize, ..cp };
    let f = |v: &[f32]| v.iter().map(|x| format!("{x:?}")).collect::<Vec<_>>();
    w.line(&format!(
        "/// The certified region `{}`: its input box, lower ends (rounded down to f32).",
        region.display()
    ));
    w.array(&format!("pub static CERT_LO: [f32; {}]", lo.len()), &f(&lo));
    w.line("/// The certified region's upper ends (rounded up to f32).");
    w.array(&format!("pub static CERT_HI: [f32; {}]", hi.len()), &f(&hi));
    w.line(&format!(
        "/// A proof certificate (`genbab_core::cert`, f32 leaf test) that the property's output constraints hold over the region: {} leaves, {} cuts, depth {}, {} bytes.",
        s.leaves, s.cuts, s.depth, s.bytes
    ));
    let b: Vec<String> = out.iter().map(|v| format!("0x{v:02x}")).collect();
    w.array(&format!("pub static CERTIFICATE: [u8; {}]", b.len()), &b);
    w.line("/// The checker's buffer sizes for [`CERTIFICATE`] (its depth is the tree's).");
    w.line(&format!(
        "pub const CERT_PLAN: CheckPlan = CheckPlan {{ input: {}, atoms: {}, depth: {}, caps: {} }};",
        plan.input, plan.atoms, plan.depth, plan.caps
    ));
    w.blank();
    w.line("/// The property over the certified region.");
    w.line("pub const fn cert_spec() -> Spec<'static, f32> {");
    w.line("    Spec { lo: &CERT_LO, hi: &CERT_HI, rows: &SPEC_ROWS, rhs: &SPEC_RHS, clause_ends: &SPEC_CLAUSE_ENDS }");
    w.line("}");
    w.blank();
    Ok(())
}

/// One frame's decision on the host, as the device will reach it.
pub struct Replayed {
    /// The monitor's decision.
    pub check: monitor::Check,
    /// The witness of a violated frame (empty otherwise).
    pub witness: Vec<f32>,
}

/// Decide every frame of `frames` as the device will: the monitor (state kept from frame to
/// frame) in a workspace of exactly `plan`'s sizes, zeroed before each frame, with `s` and no
/// clock. Reuse (`--reuse`) applies within a trajectory (consecutive `track` frames); the
/// monitor forgets its region and witness when one starts.
pub fn replay(
    a: &Args,
    g: &Graph<'_, f32>,
    spec: &Spec<'_, f32>,
    plan: &BabPlan,
    s: &Settings,
    frames: &[Frame],
) -> Result<Vec<Replayed>, String> {
    let d = g.input_len();
    let mut ws = DeviceWorkspace::new(*plan, d);
    let mut state = vec![0.0f32; Monitor::<f32>::scalars(d)];
    let mut mon = Monitor::new(&mut state, d).ok_or("monitor state")?;
    let mut out = Vec::with_capacity(frames.len());
    let mut prev = None;
    for f in frames {
        if f.x.len() != d || f.r.len() != d {
            return Err(format!("a frame has {} inputs, the model {d}", f.x.len()));
        }
        let track = f.kind == Kind::Track;
        if track && prev != Some(Kind::Track) {
            mon.reset();
        }
        prev = Some(f.kind);
        let (lo, hi) = frame_box(&f.x, &f.r);
        let frame = Spec { lo: &lo, hi: &hi, ..*spec };
        let r = if track { reuse(a) } else { Reuse::OFF };
        let (c, cex) = ws.check(g, &frame, s, r, &mut mon);
        let witness = if c.verdict == Verdict::Violated { cex.to_vec() } else { vec![] };
        out.push(Replayed { check: c, witness });
    }
    Ok(out)
}

/// The frames of `a`: read from the stream file or generated, then the trajectory.
pub fn stream(
    a: &Args,
    base: &Path,
    g: &Graph<'_, f32>,
    spec: &Spec<'_, f32>,
    region: (&[f64], &[f64]),
    plan: &BabPlan,
    s: &Settings,
) -> Result<Vec<Frame>, String> {
    let d = g.input_len();
    let mut ws = DeviceWorkspace::new(*plan, d);
    let mut frames = match &a.frames {
        FramesArg::File(p) => frames::read(&base.join(p), d)?,
        FramesArg::Count(0) => vec![],
        FramesArg::Count(n) => generate_frames(a, *n, g, spec, region, &mut ws, s)?,
    };
    if a.trajectory > 0 {
        let (lo, hi) = region;
        let centre: Vec<f64> = lo.iter().zip(hi).map(|(l, h)| 0.5 * (l + h)).collect();
        let half: Vec<f64> = lo.iter().zip(hi).map(|(l, h)| 0.5 * (h - l) * a.frame_spread).collect();
        let (rlo, rhi): (Vec<f64>, Vec<f64>) =
            (0..d).map(|i| (centre[i] - half[i], centre[i] + half[i])).unzip();
        let f0 = a.frame_radius.first().copied().unwrap_or(0.0);
        let r: Vec<f32> = half.iter().map(|h| (h * f0) as f32).collect();
        let start = frames
            .iter()
            .find(|f| f.kind == Kind::Safe)
            .map_or_else(|| centre.iter().map(|&c| c as f32).collect(), |f| f.x.clone());
        frames.extend(frames::trajectory(
            &start,
            &rlo,
            &rhi,
            &r,
            a.trajectory,
            a.trajectory_step,
            a.frame_seed,
        ));
    }
    Ok(frames)
}

/// The frames, the host's decisions for them; returns the decisions.
#[allow(clippy::too_many_arguments)]
fn frame_items(
    w: &mut Writer,
    a: &Args,
    base: &Path,
    g: &Graph<'_, f32>,
    p: &Prop,
    plan: &BabPlan,
    s: &Settings,
) -> Result<(Vec<u8>, Vec<Work>), String> {
    let spec = p.spec(&p.lo, &p.hi);
    let frames = stream(a, base, g, &spec, (&p.lo64, &p.hi64), plan, s)?;
    if let Some(path) = &a.write_frames {
        std::fs::write(base.join(path), frames::to_csv(&frames))
            .map_err(|e| format!("{}: cannot write: {e}", path.display()))?;
    }
    let replayed = replay(a, g, &spec, plan, s, &frames)?;
    let mut decisions = Vec::new();
    let mut bounded = Vec::new();
    let mut steps = Vec::new();
    let mut witness = Vec::new();
    for r in &replayed {
        let code = match r.check.verdict {
            Verdict::Holds => CERTIFIED,
            Verdict::Violated => VIOLATED,
            Verdict::Unknown(_) => UNDECIDED,
        };
        decisions.push(code);
        bounded.push(r.check.stats.bounded.to_string());
        steps.push((r.check.step as u8).to_string());
        witness.extend(r.witness.iter().map(|v| format!("{v:?}")));
    }
    let n = frames.len();
    let fmt = |v: &mut dyn Iterator<Item = f32>| v.map(|x| format!("{x:?}")).collect::<Vec<_>>();
    w.line("/// Number of sensor frames.");
    w.line(&format!("pub const FRAMES: usize = {n};"));
    w.line("/// Frame readings (box centres), `FRAMES × INPUT_LEN` row-major.");
    let xs = fmt(&mut frames.iter().flat_map(|f| f.x.iter().copied()));
    w.array(&format!("pub static FRAME_X: [f32; {}]", xs.len()), &xs);
    w.line("/// Frame uncertainty radii: the box is `[x.sub_down(r), x.add_up(r)]` per input.");
    let rs = fmt(&mut frames.iter().flat_map(|f| f.r.iter().copied()));
    w.array(&format!("pub static FRAME_R: [f32; {}]", rs.len()), &rs);
    w.line("/// What each frame is: 0 safe, 1 unsafe, 2 borderline (as generated), 3 track (a trajectory,");
    w.line("/// where the monitor reuses earlier frames: `REUSE`), 4 any other reading.");
    let kinds: Vec<String> = frames.iter().map(|f| (f.kind as u8).to_string()).collect();
    w.array(&format!("pub static FRAME_KIND: [u8; {n}]"), &kinds);
    w.blank();
    w.line("/// The host's decision per frame: 0 certified, 1 violated, 2 undecided (same core, same `settings()`).");
    let ds: Vec<String> = decisions.iter().map(|v| v.to_string()).collect();
    w.array(&format!("pub static EXPECTED: [u8; {n}]"), &ds);
    w.line("/// Domains the host bounded per frame (`Stats::bounded`).");
    w.array(&format!("pub static EXPECTED_BOUNDED: [u32; {n}]"), &bounded);
    w.line("/// What decided each frame on the host (`monitor::Step as u8`).");
    w.array(&format!("pub static EXPECTED_STEP: [u8; {n}]"), &steps);
    w.line("/// The witnesses of the violated frames, in frame order, `INPUT_LEN` values each.");
    w.array(&format!("pub static EXPECTED_WITNESS: [f32; {}]", witness.len()), &witness);
    w.blank();
    let work = replayed
        .iter()
        .map(|r| (r.check.stats.bounded, r.check.stats.attack_passes, r.check.passes))
        .collect();
    Ok((decisions, work))
}

/// A frame's box: `[x − r, x + r]`, each end rounded outward by one ulp (as the firmware does).
pub fn frame_box(x: &[f32], r: &[f32]) -> (Vec<f32>, Vec<f32>) {
    (
        x.iter().zip(r).map(|(x, r)| x.sub_down(*r)).collect(),
        x.iter().zip(r).map(|(x, r)| x.add_up(*r)).collect(),
    )
}

fn generate_frames(
    a: &Args,
    count: usize,
    g: &Graph<'_, f32>,
    p: &Spec<'_, f32>,
    (lo64, hi64): (&[f64], &[f64]),
    ws: &mut DeviceWorkspace,
    s: &Settings,
) -> Result<Vec<Frame>, String> {
    let d = g.input_len();
    let mut values = vec![0.0f32; g.total_len()];
    let mut eval = |x: &[f32]| -> Result<f64, String> {
        let y = g.eval(x, &mut values).map_err(|e| format!("forward pass failed: {e:?}"))?;
        Ok(p.margin(y))
    };
    let centre: Vec<f64> = lo64.iter().zip(hi64).map(|(l, h)| 0.5 * (l + h)).collect();
    let half: Vec<f64> = lo64.iter().zip(hi64).map(|(l, h)| 0.5 * (h - l) * a.frame_spread).collect();
    let mut rng = bab::attack::Rng::new(a.frame_seed);
    let (mut safe, mut unsafe_) = (Vec::new(), Vec::new());
    for _ in 0..20 * count {
        let x: Vec<f32> = (0..d).map(|i| (centre[i] + (2.0 * rng.unit() - 1.0) * half[i]) as f32).collect();
        if eval(&x)? > 0.0 {
            safe.push(x);
        } else {
            unsafe_.push(x);
        }
    }
    if safe.is_empty() || unsafe_.is_empty() {
        return Err(format!(
            "the frame region holds {} safe and {} unsafe points out of {}: change --frame-spread",
            safe.len(),
            unsafe_.len(),
            20 * count
        ));
    }
    let mut frames = Vec::with_capacity(count);
    for k in 0..count {
        let j = k / 3;
        let f = a.frame_radius[j % a.frame_radius.len()];
        let r: Vec<f32> = half.iter().map(|h| (h * f) as f32).collect();
        let (x, kind) = match k % 3 {
            0 => (safe[j % safe.len()].clone(), Kind::Safe),
            1 => (unsafe_[j % unsafe_.len()].clone(), Kind::Unsafe),
            _ => {
                let (s0, u0) = (&safe[(j + 1) % safe.len()], &unsafe_[(j + 1) % unsafe_.len()]);
                let at = |t: f64| -> Vec<f32> {
                    s0.iter()
                        .zip(u0)
                        .map(|(a, b)| (f64::from(*a) + t * (f64::from(*b) - f64::from(*a))) as f32)
                        .collect()
                };
                // The boundary of the unsafe set on the segment…
                let (mut ts, mut tu) = (0.0f64, 1.0f64);
                for _ in 0..40 {
                    let t = 0.5 * (ts + tu);
                    if eval(&at(t))? > 0.0 {
                        ts = t;
                    } else {
                        tu = t;
                    }
                }
                // …then the centre closest to it whose box the check does not find violated.
                let violated = |ws: &mut DeviceWorkspace, t: f64| {
                    let (lo, hi) = frame_box(&at(t), &r);
                    matches!(ws.verify(g, &Spec { lo: &lo, hi: &hi, ..*p }, s), Verdict::Violated)
                };
                let (mut tn, mut tv) = (0.0f64, ts);
                if violated(ws, tn) {
                    tv = tn;
                }
                for _ in 0..30 {
                    let t = 0.5 * (tn + tv);
                    if violated(ws, t) {
                        tv = t;
                    } else {
                        tn = t;
                    }
                }
                (at(tn), Kind::Borderline)
            }
        };
        frames.push(Frame { x, r, kind });
    }
    Ok(frames)
}

/// Heap copies of the device's static buffers, sized by the plan exactly.
pub struct DeviceWorkspace {
    plan: BabPlan,
    scalars: Vec<f32>,
    flags: Vec<bool>,
    splits: Vec<Split<f32>>,
    records: Vec<DomainRecord<f32>>,
    offsets: Vec<usize>,
    sum: Vec<f64>,
    cex: Vec<f32>,
}

impl DeviceWorkspace {
    /// The buffers of `plan` for a model of `d` inputs.
    pub fn new(plan: BabPlan, d: usize) -> Self {
        DeviceWorkspace {
            plan,
            scalars: vec![0.0; plan.scalars()],
            flags: vec![false; plan.flags()],
            splits: vec![Split { node: 0, idx: 0, upper: false, point: 0.0 }; plan.splits()],
            records: vec![DomainRecord::EMPTY; plan.records()],
            offsets: vec![0; plan.offsets()],
            sum: vec![0.0; plan.input],
            cex: vec![0.0; d],
        }
    }

    /// Run `f` in a branch-and-bound workspace carved from the buffers, all zeroed first, so that
    /// a check does not depend on the previous one (as on the device); `f` also gets the witness
    /// buffer. `None` if the plan does not fit (it always does: the buffers are its sizes).
    fn with<R>(&mut self, f: impl FnOnce(&mut bab::BabWorkspace<'_, f32>, &mut [f32]) -> R) -> Option<R> {
        self.scalars.fill(0.0);
        self.flags.fill(false);
        self.splits.fill(Split { node: 0, idx: 0, upper: false, point: 0.0 });
        self.records.fill(DomainRecord::EMPTY);
        self.offsets.fill(0);
        self.sum.fill(0.0);
        self.cex.fill(0.0);
        let mut ws = bab::BabWorkspace::new(
            self.plan,
            &mut self.scalars,
            &mut self.flags,
            &mut self.splits,
            &mut self.records,
            &mut self.offsets,
            &mut self.sum,
        )
        .ok()?;
        Some(f(&mut ws, &mut self.cex))
    }

    /// One monitor check as the firmware runs it: [`Monitor::check`] with no clock; the check
    /// and the witness buffer.
    pub fn check(
        &mut self,
        g: &Graph<'_, f32>,
        spec: &Spec<'_, f32>,
        s: &Settings,
        reuse: Reuse,
        mon: &mut Monitor<'_, f32>,
    ) -> (monitor::Check, &[f32]) {
        let c = self.with(|ws, cex| mon.check(g, spec, s, reuse, ws, &mut |_| true, cex));
        (c.unwrap_or(monitor::Check::refused()), &self.cex)
    }

    /// One branch-and-bound run on a box (the frame generator's test).
    fn verify(&mut self, g: &Graph<'_, f32>, spec: &Spec<'_, f32>, s: &Settings) -> Verdict {
        self.with(|ws, cex| bab::verify(g, spec, s, ws, &mut |_| true, cex).0)
            .unwrap_or(Verdict::Unknown(bab::Reason::Shape))
    }
}

// ---- the blob ---------------------------------------------------------------------------------

/// Serialise a graph (format in the module docs). Per op, the five operand fields are:
/// Input: none; Affine: x, w.start, w.len, b.start, b.len; Add/Sub/Mul: a, b; ScaleShift: x,
/// scale.start, scale.len, shift.start, shift.len; Gather: x, idx.start, idx.len; Concat:
/// parts.start, parts.len; Sum: x, map.start, map.len; Unary: x (the unary tag and power or slope
/// in their own fields); Conv: x, w.start, w.len, b.start, b.len, and the geometry's offset in
/// the index array in the slope's field; MatMul: a, b, n, k. Op tags 0–11 in that order (Conv is
/// 10, MatMul 11); unary tags in `graph::Unary` order.
pub fn blob(g: &Graph<'_, f32>) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(b"GBM1");
    for v in [g.nodes.len() as u32, g.weights.len() as u32, g.indices.len() as u32, u32::from(g.output)] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    for n in g.nodes {
        let mut extra = None;
        let (tag, f, fields): (u8, Option<Unary>, [u32; 5]) = match n.op {
            Op::Input => (0, None, [0; 5]),
            Op::Affine { x, w, b } => (1, None, [x.into(), w.start, w.len, b.start, b.len]),
            Op::Add { a, b } => (2, None, [a.into(), b.into(), 0, 0, 0]),
            Op::Sub { a, b } => (3, None, [a.into(), b.into(), 0, 0, 0]),
            Op::Mul { a, b } => (4, None, [a.into(), b.into(), 0, 0, 0]),
            Op::ScaleShift { x, scale, shift } => {
                (5, None, [x.into(), scale.start, scale.len, shift.start, shift.len])
            }
            Op::Gather { x, idx } => (6, None, [x.into(), idx.start, idx.len, 0, 0]),
            Op::Concat { parts } => (7, None, [parts.start, parts.len, 0, 0, 0]),
            Op::Sum { x, map } => (8, None, [x.into(), map.start, map.len, 0, 0]),
            Op::Unary { x, f } => (9, Some(f), [x.into(), 0, 0, 0, 0]),
            Op::Conv { x, w, b, geom } => {
                extra = Some(geom);
                (10, None, [x.into(), w.start, w.len, b.start, b.len])
            }
            Op::MatMul { a, b, n, k } => (11, None, [a.into(), b.into(), n, k, 0]),
        };
        let (ft, pow, slope) = match f {
            None => (0, 0, 0.0),
            Some(f) => unary_tag(f),
        };
        b.extend_from_slice(&[tag, ft, pow, 0]);
        b.extend_from_slice(&n.len.to_le_bytes());
        for v in fields {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(&extra.unwrap_or(slope.to_bits()).to_le_bytes());
    }
    for w in g.weights {
        b.extend_from_slice(&w.to_le_bytes());
    }
    for i in g.indices {
        b.extend_from_slice(&i.to_le_bytes());
    }
    b
}

/// (tag, power, slope) of a unary op.
fn unary_tag(f: Unary) -> (u8, u8, f32) {
    match f {
        Unary::Relu => (0, 0, 0.0),
        Unary::LeakyRelu(a) => (1, 0, a),
        Unary::Sigmoid => (2, 0, 0.0),
        Unary::Tanh => (3, 0, 0.0),
        Unary::Sin => (4, 0, 0.0),
        Unary::Cos => (5, 0, 0.0),
        Unary::Gelu => (6, 0, 0.0),
        Unary::Exp => (7, 0, 0.0),
        Unary::Log => (8, 0, 0.0),
        Unary::Reciprocal => (9, 0, 0.0),
        Unary::Sqrt => (10, 0, 0.0),
        Unary::Pow(n) => (11, n, 0.0),
        Unary::Neg => (12, 0, 0.0),
        Unary::Abs => (13, 0, 0.0),
        Unary::Floor => (14, 0, 0.0),
        Unary::GeluTanh => (15, 0, 0.0),
    }
}

// ---- formatting ---------------------------------------------------------------------------------

fn span_expr(s: Span) -> String {
    if s == Span::EMPTY { "Span::EMPTY".into() } else { format!("Span::new({}, {})", s.start, s.len) }
}

fn unary_expr(f: Unary) -> String {
    match f {
        Unary::LeakyRelu(a) => format!("Unary::LeakyRelu({a:?})"),
        Unary::Pow(n) => format!("Unary::Pow({n})"),
        f => format!("Unary::{f:?}"),
    }
}

fn op_expr(op: &Op) -> String {
    match *op {
        Op::Input => "Op::Input".into(),
        Op::Affine { x, w, b } => {
            format!("Op::Affine {{ x: {x}, w: {}, b: {} }}", span_expr(w), span_expr(b))
        }
        Op::Add { a, b } => format!("Op::Add {{ a: {a}, b: {b} }}"),
        Op::Sub { a, b } => format!("Op::Sub {{ a: {a}, b: {b} }}"),
        Op::Mul { a, b } => format!("Op::Mul {{ a: {a}, b: {b} }}"),
        Op::ScaleShift { x, scale, shift } => {
            format!("Op::ScaleShift {{ x: {x}, scale: {}, shift: {} }}", span_expr(scale), span_expr(shift))
        }
        Op::Gather { x, idx } => format!("Op::Gather {{ x: {x}, idx: {} }}", span_expr(idx)),
        Op::Concat { parts } => format!("Op::Concat {{ parts: {} }}", span_expr(parts)),
        Op::Sum { x, map } => format!("Op::Sum {{ x: {x}, map: {} }}", span_expr(map)),
        Op::Unary { x, f } => format!("Op::Unary {{ x: {x}, f: {} }}", unary_expr(f)),
        Op::Conv { x, w, b, geom } => {
            format!("Op::Conv {{ x: {x}, w: {}, b: {}, geom: {geom} }}", span_expr(w), span_expr(b))
        }
        Op::MatMul { a, b, n, k } => format!("Op::MatMul {{ a: {a}, b: {b}, n: {n}, k: {k} }}"),
    }
}

/// A node literal; multi-line (as rustfmt breaks it) when it does not fit one line of an array.
fn node_expr(n: &Node) -> String {
    let one = format!("Node {{ op: {}, len: {} }}", op_expr(&n.op), n.len);
    // The line is `    {one},`.
    if INDENT + one.len() < MAX_WIDTH {
        one
    } else {
        format!("Node {{\n        op: {},\n        len: {},\n    }}", op_expr(&n.op), n.len)
    }
}

fn hex_u64(v: u64) -> String {
    let h = format!("{v:016x}");
    format!("0x{}_{}_{}_{}", &h[0..4], &h[4..8], &h[8..12], &h[12..16])
}

const MAX_WIDTH: usize = 110;
const INDENT: usize = 4;
/// rustfmt's `short_array_element_width_threshold`: longer items forbid the mixed array layout.
const SHORT_ITEM: usize = 10;

/// Builds the module text in rustfmt's layout.
#[derive(Default)]
struct Writer {
    s: String,
}

impl Writer {
    fn line(&mut self, l: &str) {
        self.s.push_str(l);
        self.s.push('\n');
    }
    fn blank(&mut self) {
        self.s.push('\n');
    }
    fn finish(mut self) -> String {
        while self.s.ends_with("\n\n") {
            self.s.pop();
        }
        self.s
    }

    /// `decl = [items];` laid out as rustfmt does: one line if it fits; else the whole list on a
    /// hanging line if it fits there; else one item per line, or as many per line as fit when
    /// every item is short (rustfmt's "mixed" layout for short literals, whose lines stay one
    /// column short of `max_width`).
    fn array(&mut self, decl: &str, items: &[String]) {
        let multiline = items.iter().any(|i| i.contains('\n'));
        let joined = items.join(", ");
        if !multiline {
            let one = format!("{decl} = [{joined}];");
            if one.len() <= MAX_WIDTH {
                self.line(&one);
                return;
            }
            if INDENT + joined.len() + 3 <= MAX_WIDTH {
                let _ = writeln!(self.s, "{decl} =\n    [{joined}];");
                return;
            }
        }
        let _ = writeln!(self.s, "{decl} = [");
        if !multiline && items.iter().all(|i| i.len() <= SHORT_ITEM) {
            let mut line = String::new();
            for it in items {
                if !line.is_empty() && INDENT + line.len() + 1 + it.len() + 1 > MAX_WIDTH - 1 {
                    let _ = writeln!(self.s, "    {line}");
                    line.clear();
                }
                if !line.is_empty() {
                    line.push(' ');
                }
                line.push_str(it);
                line.push(',');
            }
            if !line.is_empty() {
                let _ = writeln!(self.s, "    {line}");
            }
        } else {
            for it in items {
                let _ = writeln!(self.s, "    {it},");
            }
        }
        self.line("];");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_of_f32_round_trips() {
        let mut rng = bab::attack::Rng::new(3);
        let specials =
            [0.0f32, -0.0, 1.0, -1.0, f32::MIN_POSITIVE, 1e-45, f32::MAX, f32::MIN, 0.1, 1.0 / 3.0];
        let randoms = (0..100_000).map(|_| f32::from_bits(rng.next_u64() as u32)).filter(|v| v.is_finite());
        for v in specials.into_iter().chain(randoms) {
            let s = format!("{v:?}");
            assert_eq!(s.parse::<f32>().unwrap().to_bits(), v.to_bits(), "{s}");
        }
    }

    #[test]
    fn arrays_are_laid_out_like_rustfmt() {
        let mut w = Writer::default();
        w.array("pub static A: [u32; 3]", &["1".into(), "2".into(), "3".into()]);
        assert_eq!(w.s, "pub static A: [u32; 3] = [1, 2, 3];\n");
        let mut w = Writer::default();
        let items: Vec<String> = (0..40).map(|i| format!("0.{i:07}")).collect();
        w.array("pub static A: [f32; 40]", &items);
        let lines: Vec<&str> = w.s.lines().collect();
        assert_eq!(lines[0], "pub static A: [f32; 40] = [");
        assert_eq!(lines[1].len(), 102); // 9 items of 9 characters
        let mut w = Writer::default();
        w.array("pub static A: [f32; 2]", &["-0.123456789".into(), "1.0".into()]);
        assert_eq!(w.s, "pub static A: [f32; 2] = [-0.123456789, 1.0];\n");
    }

    #[test]
    fn hex_seed() {
        assert_eq!(hex_u64(0x9e37_79b9_7f4a_7c15), "0x9e37_79b9_7f4a_7c15");
    }
}
