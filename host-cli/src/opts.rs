//! Options shared by the subcommands.

use clap::ValueEnum;
use genbab_cli::engine::{Options, Precision};
use genbab_cli::values;
use genbab_core::alpha::AlphaSettings;
use genbab_core::bab::{Branching, Intermediate, Points, Settings};
use genbab_core::bound::{Config, Deploy, Method};

#[derive(Clone, Copy, Debug, ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BranchingArg {
    Auto,
    Bbps,
    Babsr,
    Input,
}

#[derive(Clone, Copy, Debug, ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PointsArg {
    Table,
    Midpoint,
}

#[derive(Clone, Copy, Debug, ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MethodArg {
    /// Interval bound propagation (no α).
    Ibp,
    /// CROWN, α-optimised when `--alpha-iters` is above 0 (the default).
    Crown,
}

#[derive(Clone, Copy, Debug, ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PrecisionArg {
    F32,
    F64,
}

impl MethodArg {
    pub fn config(self) -> Config {
        Config {
            method: match self {
                MethodArg::Ibp => Method::Ibp,
                MethodArg::Crown => Method::Crown,
            },
            deploy: Deploy::F32,
        }
    }
}

impl PrecisionArg {
    pub fn precision(self) -> Precision {
        match self {
            PrecisionArg::F32 => Precision::F32,
            PrecisionArg::F64 => Precision::F64,
        }
    }
}

/// Engine options of `verify` and `bench`.
#[derive(clap::Args, Clone, Debug, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct EngineArgs {
    /// What branch and bound splits.
    #[arg(long, value_enum, default_value = "auto")]
    pub branching: BranchingArg,
    /// Where an activation split cuts a neuron's interval.
    #[arg(long, value_enum, default_value = "table")]
    pub points: PointsArg,
    /// Bound engine: `crown` is α-CROWN as long as `--alpha-iters` is above 0 (the default).
    #[arg(long, value_enum, default_value = "crown")]
    pub method: MethodArg,
    /// Scalar type the host computes bounds in (both are sound for the f32 network).
    #[arg(long, value_enum, default_value = "f64")]
    pub precision: PrecisionArg,
    /// Seed of the counterexample search.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Memory for the domain pool, in MiB (1 to 2^24).
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=1 << 24))]
    pub memory_mib: u64,
    /// Domains to bound at most (0 = no limit; 1 = the root only, i.e. attack + CROWN, no BaB).
    #[arg(long, default_value_t = 0)]
    pub max_steps: u64,
    /// Activation splits one domain may hold (the pool keeps this many per domain, so a larger
    /// value means fewer domains in `--memory-mib`); a domain that needs more ends `unknown [Depth]`.
    #[arg(long, default_value_t = Options::default().depth as u32, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub depth: u32,
    /// Rounds of split-multiplier (β) optimisation per domain (0 = off).
    #[arg(long, default_value_t = Settings::default().beta_iters)]
    pub beta_iters: u32,
    /// Input split: signed-gradient attack steps inside every open domain, from its centre (0 = off).
    #[arg(long, default_value_t = 10)]
    pub domain_attack_steps: u32,
    /// Counterexample search: random points on and inside the faces of the input box tried first
    /// (forward passes only)
    #[arg(long, default_value_t = ATTACK_SAMPLES)]
    pub attack_samples: u32,
    /// Input split: strong branching over the N dimensions with the largest |coefficient|·width
    /// (both halves of each are bounded; 0 = cut the largest without probing)
    #[arg(long, default_value_t = INPUT_LOOKAHEAD)]
    pub input_lookahead: u32,
    /// Intermediate bounds of activation-split domains: recompute every later node (tight) or
    /// keep the root's and re-relax only the split neurons (fast).
    #[arg(long, value_enum, default_value = "recompute")]
    pub intermediate: IntermediateArg,
    /// Threads of an input-split search (0 = the machine's cores, divided among `bench` jobs).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Run branch and bound on the whole model, not only on the outputs the property reads.
    #[arg(long)]
    pub no_prune: bool,
    #[command(flatten)]
    #[serde(flatten)]
    pub alpha: AlphaArgs,
    /// Settings from a TOML file whose keys are these long flag names (`alpha-iters = 20`,
    /// `branching = "input"`, `no-prune = true`); a flag given on the command line wins.
    /// `verify --print-config` writes such a file.
    #[arg(long, value_name = "FILE")]
    #[serde(skip)]
    pub config: Option<std::path::PathBuf>,
}

/// α-CROWN options (`verify`, `bench`, `bounds`).
#[derive(clap::Args, Clone, Debug, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct AlphaArgs {
    /// α-CROWN gradient steps per bound: per output bound in `bounds --method alpha`; in
    /// `verify`/`bench` per spec row, jointly with β in split domains (0 = plain CROWN, with
    /// `--beta-iters` finite-difference β).
    #[arg(long, default_value_t = ALPHA_ITERS)]
    pub alpha_iters: u32,
    /// α-CROWN Adam step size (relaxation parameters normalised to [0, 1]).
    #[arg(long, default_value_t = AlphaSettings::OFF.lr, value_parser = values::non_negative, allow_negative_numbers = true)]
    pub alpha_lr: f64,
    /// Adam step size of the split multipliers β under α-CROWN (`verify`, `bench`: `bounds` has
    /// no split domains).
    #[arg(long, default_value_t = AlphaSettings::OFF.lr_beta, value_parser = values::non_negative, allow_negative_numbers = true)]
    pub beta_lr: f64,
    /// Step-size decay per α-CROWN iteration.
    #[arg(long, default_value_t = AlphaSettings::OFF.decay, value_parser = values::unit_factor, allow_negative_numbers = true)]
    pub alpha_decay: f64,
    /// Stop a row's α-CROWN after this many iterations without a relative gain of 10⁻⁴ (0 = never).
    #[arg(long, default_value_t = AlphaSettings::OFF.patience)]
    pub alpha_patience: u32,
    /// α-CROWN gradient steps per intermediate bound at the root of an activation split (whose
    /// intervals every domain starts from; 0 = they stay CROWN's). `bounds --method alpha`
    /// applies it to its box.
    #[arg(long, default_value_t = ALPHA_INTERMEDIATE)]
    pub alpha_intermediate: u32,
}

/// Default `--attack-samples` of `verify` and `bench`.
pub const ATTACK_SAMPLES: u32 = 4096;

/// Default `--input-lookahead` of `verify` and `bench`: every dimension of an input that `auto`
/// splits (at most 16).
pub const INPUT_LOOKAHEAD: u32 = 16;

/// Default `--alpha-iters` of `verify` and `bench`.
pub const ALPHA_ITERS: u32 = 50;

/// Default `--alpha-intermediate`.
pub const ALPHA_INTERMEDIATE: u32 = 20;

impl AlphaArgs {
    pub fn settings(&self) -> AlphaSettings {
        AlphaSettings {
            iters: self.alpha_iters,
            lr: self.alpha_lr,
            lr_beta: self.beta_lr,
            decay: self.alpha_decay,
            patience: self.alpha_patience,
            intermediate: self.alpha_intermediate,
        }
    }
}

/// `--intermediate`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum IntermediateArg {
    /// Recompute every node after the earliest split.
    Recompute,
    /// Keep the root's intervals.
    Fixed,
}

impl EngineArgs {
    /// Options for one run; `share` divides the memory among parallel jobs.
    pub fn options(&self, share: usize) -> Options {
        let mut s = Settings {
            bound: self.method.config(),
            branching: match self.branching {
                BranchingArg::Auto => Branching::Auto,
                BranchingArg::Bbps => Branching::Bbps,
                BranchingArg::Babsr => Branching::BabSr,
                BranchingArg::Input => Branching::Input,
            },
            points: match self.points {
                PointsArg::Table => Points::Table,
                PointsArg::Midpoint => Points::Midpoint,
            },
            max_steps: self.max_steps,
            beta_iters: self.beta_iters,
            domain_attack_steps: self.domain_attack_steps,
            input_lookahead: self.input_lookahead,
            attack_samples: self.attack_samples,
            intermediate: match self.intermediate {
                IntermediateArg::Recompute => Intermediate::Recompute,
                IntermediateArg::Fixed => Intermediate::Fixed,
            },
            alpha: self.alpha.settings(),
            ..Settings::default()
        };
        if let Some(seed) = self.seed {
            s.seed = seed;
        }
        Options {
            settings: s,
            precision: self.precision.precision(),
            memory: ((self.memory_mib << 20) as usize) / share.max(1),
            threads: match self.threads {
                0 => std::thread::available_parallelism().map_or(1, |n| n.get()).div_ceil(share.max(1)),
                n => n,
            },
            depth: self.depth as usize,
            prune: !self.no_prune,
        }
    }
}
