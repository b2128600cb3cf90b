//! Branch and bound: attack, root bound, then split domains until verified, falsified or out of
//! budget.
//!
//! A domain is its input box plus the list of activation splits that led to it; it is re-bounded
//! from scratch when popped, so it costs `O(input dim + depth)` memory, not `O(network)`. Domains
//! live in a fixed pool carved from caller buffers ([`BabPlan`]). Two ways to split plug into the
//! same loop: the input box (for low input dimension) and GenBaB's activation split with the
//! BBPS heuristic and table branching points.

pub mod attack;
pub(crate) mod branch;
mod clip;
mod pool;
pub(crate) mod strong;

use crate::alpha::{self, Alpha, AlphaPlan, AlphaSettings};
use crate::bound::{BoundError, Config, Deploy, Method, Plan, Saves, Split, Workspace};
use crate::graph::{Graph, NodeId, Op};
use crate::num::Scalar;
use crate::spec::Spec;

pub use branch::{Candidate, Inputs, bbps_scores};
use pool::Pool;

/// What to split.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Branching {
    /// Input split for small inputs, BBPS otherwise (and input split for nets with nothing to split).
    Auto,
    /// Split the input box (dimension by |coefficient|·width).
    Input,
    /// GenBaB activation split, neuron chosen by BBPS (shortcut concretisation).
    Bbps,
    /// Activation split, neuron chosen by a BaBSR-like intercept-only score.
    BabSr,
}

/// Where to split a neuron's interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Points {
    /// Pre-optimised branching points from the baked tables (midpoint outside the grid).
    Table,
    /// The midpoint.
    Midpoint,
}

/// Which domain to process next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Order {
    /// The domain with the lowest bound first.
    BestFirst,
    /// The newest domain first (least memory).
    DepthFirst,
}

/// Branch-and-bound settings.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Settings {
    /// Bound engine settings.
    pub bound: Config,
    /// What to split.
    pub branching: Branching,
    /// Where to split.
    pub points: Points,
    /// Domain order.
    pub order: Order,
    /// Maximum number of domains bounded (0 = no limit).
    pub max_steps: u64,
    /// Attack: random restarts.
    pub attack_restarts: u32,
    /// Attack: gradient steps per restart.
    pub attack_steps: u32,
    /// Attack: random points on and inside the faces of the box tried before the restarts
    /// (see [`attack::sample_faces`]; forward passes only).
    pub attack_samples: u32,
    /// Input split: signed-gradient attack steps inside every open domain, from its centre,
    /// after its centre and linear-bound corner failed (0 = only those two points). Cheap next
    /// to a bound, and finds counterexamples that live in a small part of a large box.
    pub domain_attack_steps: u32,
    /// Seed of the attack's generator (runs are deterministic for a given seed).
    pub seed: u64,
    /// Input dimension up to which `Auto` splits the input.
    pub input_split_max_dim: u32,
    /// Rounds of split-multiplier (β) optimisation per domain (0 = plain clamped CROWN).
    pub beta_iters: u32,
    /// How an activation-split domain gets its intermediate bounds.
    pub intermediate: Intermediate,
    /// α-CROWN for the output bound of the root and of every activation-split domain (an
    /// input split uses it at the root only), jointly with the split multipliers β when the
    /// domain has splits (then `beta_iters` is not used). `iters = 0` (the
    /// default) is plain CROWN with finite-difference β. Needs a plan with
    /// [`BabPlan::with_alpha`]; without its buffers the setting is ignored.
    pub alpha: AlphaSettings,
    /// Input split: strong branching over the `k` dimensions with the largest `|Λ_i|·width_i`
    /// (both halves of each are bounded, the cut whose worse half has the largest margin wins;
    /// see `strong`). 0 cuts the largest `|Λ_i|·width_i` without probing.
    pub input_lookahead: u32,
    /// Input split: give up (`Unknown(Gap)`) on an open domain when the smallest property margin
    /// at the points tried in it (its centre, the corner its linear bound points to) is below
    /// this factor times the bound's shortfall `−margin` (0 = never). A box that holds with room
    /// to spare shows a point margin well above the shortfall and is worth splitting; one that
    /// touches the unsafe set (a frame at the edge of the attack's reach) shows a point margin
    /// near 0 however far the bound is below it, and splitting it spends the budget for
    /// nothing. For monitors, whose mean cost per frame counts.
    pub split_promise: f32,
}

/// Intermediate bounds of an activation-split domain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Intermediate {
    /// Recompute every node after the earliest split node by CROWN (tightest, costly).
    Recompute,
    /// Keep the root's intervals, clamp the split neurons and re-relax only their consumers
    /// (as α,β-CROWN does in BaB: one output pass per domain).
    Fixed,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            bound: Config::default(),
            branching: Branching::Auto,
            points: Points::Table,
            order: Order::BestFirst,
            max_steps: 0,
            attack_restarts: 20,
            attack_steps: 50,
            attack_samples: 0,
            domain_attack_steps: 0,
            seed: 0x9e37_79b9_7f4a_7c15,
            input_split_max_dim: 16,
            beta_iters: 6,
            intermediate: Intermediate::Recompute,
            alpha: AlphaSettings::OFF,
            input_lookahead: 0,
            split_promise: 0.0,
        }
    }
}

/// Why no verdict was reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Reason {
    /// The keep-going hook said stop (wall clock, cycle budget).
    Timeout,
    /// The domain pool is full.
    Capacity,
    /// The step limit was reached.
    Steps,
    /// A split list reached the depth limit, or nothing is left to split.
    Depth,
    /// Bounds became unusable (NaN/overflow) or a relaxation failed.
    Numeric(BoundError),
    /// The model or spec does not fit the workspace.
    Shape,
    /// An open domain's bound lies far below the margin of the points tried in it (see
    /// [`Settings::split_promise`]): splitting within a monitor's budget would not close the gap.
    Gap,
}

/// The answer (VNN-COMP words in brackets).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Verdict {
    /// The property holds on the whole box (`unsat`: no counterexample exists).
    Holds,
    /// A counterexample was found and confirmed by a forward pass (`sat`); it is in `cex`.
    Violated,
    /// Neither could be shown.
    Unknown(Reason),
}

/// Counters of one run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Stats {
    /// Domains bounded (the root included).
    pub bounded: u64,
    /// Most domains alive at once.
    pub max_live: u32,
    /// Domains dropped as verified.
    pub verified: u64,
    /// Attack forward/backward passes.
    pub attack_passes: u64,
    /// Domains whose input box the CROWN lines shrank (see `clip`), or dropped outright.
    pub clipped: u64,
    /// Input split with strong branching: halves bounded to choose a cut (see `strong`).
    pub probed: u64,
    /// What the search is doing when it asks its caller whether to go on (not a counter).
    pub phase: Phase,
}

/// A part of the search with its own time budget: the caller's `keep_going` may stop it early
/// without stopping the search.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Phase {
    /// The search itself (stopping it ends the run with `Unknown(Timeout)`).
    #[default]
    Search,
    /// α for the intermediate bounds at the root ([`alpha::intermediate_bounds`]): stopping it
    /// keeps the intervals won so far.
    IntermediateAlpha,
}

impl Stats {
    /// No work yet (the `Default`, as a `const fn`).
    pub const fn new() -> Stats {
        Stats {
            bounded: 0,
            max_live: 0,
            verified: 0,
            attack_passes: 0,
            clipped: 0,
            probed: 0,
            phase: Phase::Search,
        }
    }
    /// Add the counters of another run (of a part of the same search); `max_live` is the larger.
    pub fn add(&mut self, other: &Stats) {
        self.bounded += other.bounded;
        self.verified += other.verified;
        self.attack_passes += other.attack_passes;
        self.clipped += other.clipped;
        self.probed += other.probed;
        self.max_live = self.max_live.max(other.max_live);
    }
}

/// Buffer sizes for branch and bound on one model and spec.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct BabPlan {
    /// The bound engine's plan.
    pub bound: Plan,
    /// Input dimension.
    pub input: usize,
    /// Number of spec atoms the workspace can hold.
    pub atoms: usize,
    /// Domain pool capacity.
    pub domains: usize,
    /// Maximum splits per domain.
    pub depth: usize,
    /// Scalars in all splittable nodes (for BBPS shortcuts; 0 disables activation split).
    pub split_values: usize,
    /// Scalars of the α-CROWN optimiser's state (0: no α; see [`BabPlan::with_alpha`]).
    pub alpha: usize,
    /// Scalars of one input-split domain's interval caps (0: none kept; see
    /// [`BabPlan::with_caps`]).
    pub caps: usize,
}

impl BabPlan {
    /// A plan from sizes (a `const fn`, for baked models).
    pub const fn from_sizes(
        bound: Plan,
        input: usize,
        atoms: usize,
        domains: usize,
        depth: usize,
        split_values: usize,
    ) -> Self {
        BabPlan { bound, input, atoms, domains, depth, split_values, alpha: 0, caps: 0 }
    }
    /// This plan with the α-CROWN optimiser's buffers ([`AlphaPlan`]) reserved (a `const fn`).
    pub const fn with_alpha(self) -> Self {
        let alpha = AlphaPlan::for_plan(&self.bound, self.input).scalars();
        BabPlan { alpha, ..self }
    }
    /// This plan with interval caps for the input split (a `const fn`; `caps` is
    /// [`crate::bound::caps_len`] of the graph plus `self.atoms`): every pooled domain keeps the
    /// intervals and atom margins its bound found, and its children are bounded inside them, so a
    /// child's bounds are never looser than its parent's (CROWN alone does not guarantee that).
    /// `caps` scalars per pooled
    /// domain, and the current domain's caps and strong branching's scratch (which needs them:
    /// without caps `input_lookahead` is not used).
    pub const fn with_caps(self, caps: usize) -> Self {
        BabPlan { caps, ..self }
    }
    /// The plan for a graph, `atoms` spec atoms, a pool of `domains` domains of up to `depth`
    /// splits, and a bound chunk of `chunk` rows. `activation_split` reserves the BBPS buffers.
    pub fn new<T: Scalar>(
        g: &Graph<'_, T>,
        atoms: usize,
        domains: usize,
        depth: usize,
        chunk: usize,
        activation_split: bool,
    ) -> Result<Self, BoundError> {
        let bound = Plan::new(g, chunk)?;
        let split_values = if activation_split { split_values(g) } else { 0 };
        Ok(BabPlan::from_sizes(bound, g.input_len(), atoms, domains.max(1), depth, split_values))
    }
    /// Scalars needed besides the bound workspace: domain boxes and bounds, shortcuts, saved
    /// coefficients, candidate scores and the attack's buffers.
    pub const fn scalars(&self) -> usize {
        let v = self.bound.values;
        let d = self.input;
        self.bound.scalars()
            + self.domains * (2 * d + 1)
            + 2 * self.split_values * (d + 1)
            + if self.split_values > 0 { v } else { 0 }
            + self.atoms * (d + 3)
            + 6 * d
            + attack::scalars(v, d)
            + 4 * self.depth
            + if self.split_values > 0 { Workspace::<f32>::snapshot_len(&self.bound) } else { 0 }
            + self.alpha
            + if self.caps > 0 {
                (self.domains + 1) * self.caps + strong::scratch(d, self.atoms, self.caps)
            } else {
                0
            }
    }
    /// Booleans needed.
    pub const fn flags(&self) -> usize {
        self.bound.flags()
    }
    /// Split records needed (domain pool × depth, plus one scratch list).
    pub const fn splits(&self) -> usize {
        (self.domains + 1) * self.depth
    }
    /// Per-domain records needed.
    pub const fn records(&self) -> usize {
        self.domains
    }
    /// Node-offset table entries needed.
    pub const fn offsets(&self) -> usize {
        self.bound.nodes
    }
}

/// Total length of the nodes GenBaB may split (inputs of splittable ops).
pub fn split_values<T: Scalar>(g: &Graph<'_, T>) -> usize {
    (0..g.nodes.len()).filter(|&i| is_split_node(g, i as NodeId)).map(|i| g.nodes[i].len as usize).sum()
}

/// Whether node `id` feeds a splittable nonlinearity (and so may be split).
pub fn is_split_node<T: Scalar>(g: &Graph<'_, T>, id: NodeId) -> bool {
    id != 0
        && g.nodes[id as usize + 1..].iter().any(|n| match n.op {
            Op::Unary { x, f } => x == id && crate::relax::splittable(f),
            Op::Mul { a, b } => a == id || b == id,
            _ => false,
        })
}

pub use pool::{Caps, DomainRecord};

/// All buffers branch and bound runs in, carved from caller storage sized by a [`BabPlan`].
pub struct BabWorkspace<'w, T> {
    plan: BabPlan,
    bound: Workspace<'w, T>,
    pool: Pool<'w, T>,
    shortcuts: &'w mut [T],
    out_a: &'w mut [T],
    lbs: &'w mut [T],
    /// Per spec atom, its CROWN line at the input: `d` coefficients and the constant.
    input_a: &'w mut [T],
    x_lo: &'w mut [T],
    x_hi: &'w mut [T],
    /// Scratch of the input-box clipping (`4·d`).
    clip: &'w mut [T],
    attack: &'w mut [T],
    offsets: &'w mut [usize],
    sum: &'w mut [f64],
    cur: &'w mut [Split<T>],
    beta: &'w mut [T],
    snapshot: &'w mut [T],
    alpha: Option<Alpha<'w, T>>,
    /// The current domain's interval caps (input split with caps; empty otherwise).
    dom_caps: &'w mut [T],
    /// Strong branching's scratch (see `strong::scratch`), without its probes' lines.
    probe: &'w mut [T],
    /// Strong branching's probes' input lines (`atoms × (d + 1)`).
    probe_a: &'w mut [T],
    /// Whether `dom_caps` holds caps for the root (see [`BabWorkspace::set_root_caps`]).
    root_caps: bool,
}

impl<'w, T: Scalar> BabWorkspace<'w, T> {
    /// Carve the workspace. Each buffer must be at least the plan's size for it; `sum` holds
    /// `plan.input` values (the BBPS heuristic's scratch, in f64).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        plan: BabPlan,
        scalars: &'w mut [T],
        flags: &'w mut [bool],
        splits: &'w mut [Split<T>],
        records: &'w mut [DomainRecord<T>],
        offsets: &'w mut [usize],
        sum: &'w mut [f64],
    ) -> Result<Self, BoundError> {
        if scalars.len() < plan.scalars()
            || splits.len() < plan.splits()
            || records.len() < plan.records()
            || offsets.len() < plan.offsets()
            || sum.len() < plan.input
        {
            return Err(BoundError::Shape);
        }
        let d = plan.input;
        let v = plan.bound.values;
        let (bsc, rest) = scalars.split_at_mut(plan.bound.scalars());
        let bound = Workspace::new(plan.bound, bsc, flags)?;
        let (boxes, rest) = rest.split_at_mut(plan.domains * (2 * d + 1));
        let (shortcuts, rest) = rest.split_at_mut(2 * plan.split_values * (d + 1));
        // BBPS's per-node output coefficients: only activation splitting reads them.
        let (out_a, rest) = rest.split_at_mut(if plan.split_values > 0 { v } else { 0 });
        let (lbs, rest) = rest.split_at_mut(2 * plan.atoms);
        let (input_a, rest) = rest.split_at_mut(plan.atoms * (d + 1));
        let (x_lo, rest) = rest.split_at_mut(d);
        let (x_hi, rest) = rest.split_at_mut(d);
        let (clip, rest) = rest.split_at_mut(4 * d);
        let (attack, rest) = rest.split_at_mut(attack::scalars(v, d));
        let (beta, rest) = rest.split_at_mut(4 * plan.depth);
        let snap = if plan.split_values > 0 { Workspace::<T>::snapshot_len(&plan.bound) } else { 0 };
        let (snapshot, rest) = rest.split_at_mut(snap);
        let (alpha_buf, rest) = rest.split_at_mut(plan.alpha);
        let alpha = if plan.alpha > 0 {
            let ap = AlphaPlan::for_plan(&plan.bound, d);
            if ap.scalars() != plan.alpha {
                return Err(BoundError::Shape);
            }
            Some(Alpha::new(ap, alpha_buf)?)
        } else {
            None
        };
        let (pool_caps, rest) = rest.split_at_mut(plan.domains * plan.caps);
        let (dom_caps, rest) = rest.split_at_mut(plan.caps);
        let strong_len = if plan.caps > 0 { strong::scratch(d, plan.atoms, plan.caps) } else { 0 };
        let lines_len = if plan.caps > 0 { plan.atoms * (d + 1) } else { 0 };
        let (probe, rest) = rest.split_at_mut(strong_len - lines_len);
        let probe_a = &mut rest[..lines_len];
        let (pool_splits, cur) = splits.split_at_mut(plan.domains * plan.depth);
        let pool = Pool::new(plan.domains, plan.depth, d, boxes, pool_splits, records, pool_caps);
        Ok(BabWorkspace {
            plan,
            bound,
            pool,
            shortcuts,
            out_a,
            lbs,
            input_a,
            x_lo,
            x_hi,
            clip,
            attack,
            offsets: &mut offsets[..plan.bound.nodes],
            sum: &mut sum[..d],
            cur: &mut cur[..plan.depth],
            beta,
            snapshot,
            alpha,
            dom_caps,
            probe,
            probe_a,
            root_caps: false,
        })
    }
    /// The plan.
    pub fn plan(&self) -> BabPlan {
        self.plan
    }
    /// The bound engine's workspace (node intervals of the last bounding run).
    pub fn bound_workspace(&mut self) -> &mut Workspace<'w, T> {
        &mut self.bound
    }
    /// Interval caps for the next run's root (an input split with caps), e.g. those of an open
    /// domain another search handed out: they must enclose the node values over the run's box.
    pub fn set_root_caps(&mut self, caps: &[T]) -> Result<(), BoundError> {
        if caps.len() != self.dom_caps.len() || caps.is_empty() {
            return Err(BoundError::Shape);
        }
        self.dom_caps.copy_from_slice(caps);
        self.root_caps = true;
        Ok(())
    }
    /// Whether `x` is a confirmed counterexample of `spec` (inside its box, and the deployed
    /// forward pass lands in the unsafe region; [`attack::confirm`] in the attack's buffers);
    /// then `cex` holds it. One forward pass.
    pub fn try_point(&mut self, g: &Graph<'_, T>, spec: &Spec<'_, T>, x: &[T], cex: &mut [T]) -> bool {
        self.try_point_with(g, spec, x, cex, false)
    }
    /// [`BabWorkspace::try_point`]; `trusted`: the caller has validated `g`.
    pub(crate) fn try_point_with(
        &mut self,
        g: &Graph<'_, T>,
        spec: &Spec<'_, T>,
        x: &[T],
        cex: &mut [T],
        trusted: bool,
    ) -> bool {
        let v = g.total_len();
        if x.len() != cex.len()
            || self.attack.len() < v
            || !attack::confirm_with(g, spec, x, &mut self.attack[..v], trusted)
        {
            return false;
        }
        cex.copy_from_slice(x);
        true
    }
}

/// Outcome of bounding one domain.
enum Bounded {
    /// Every clause is refuted (or the domain is empty).
    Verified,
    /// Not yet: the worst clause's best margin, and the atom that attains it.
    Open { margin: f64, target: usize },
}

/// Bound one domain: node intervals with its splits, then the spec atoms; decides each clause.
#[allow(clippy::too_many_arguments)]
fn bound_domain<T: Scalar>(
    g: &Graph<'_, T>,
    spec: &Spec<'_, T>,
    cfg: &Config,
    ws: &mut BabWorkspace<'_, T>,
    n_splits: usize,
    root: bool,
    caps: Caps,
    settings: &Settings,
    activation: bool,
    keep_going_in: &mut dyn FnMut(Phase) -> bool,
) -> Result<Bounded, BoundError> {
    let phase = core::cell::Cell::new(Phase::Search);
    let keep_going = &mut || keep_going_in(phase.get());
    let beta_iters = settings.beta_iters;
    // An input split with caps bounds inside the intervals the domain came with, and keeps its
    // own for its children.
    let keep_caps = !activation && ws.plan.caps > 0;
    let splits = &ws.cur[..n_splits];
    let d = ws.plan.input;
    let m = spec.atoms();
    let mut saves = Saves::default();
    if root && ws.plan.split_values > 0 {
        saves.shortcuts = Some((&mut *ws.shortcuts, &*ws.offsets));
    }
    let nonempty = if keep_caps && caps != Caps::None {
        let crown = caps == Caps::Enclosing;
        let (intervals, _) = split_caps(ws.dom_caps, ws.plan.atoms);
        ws.bound.node_bounds_capped(g, ws.x_lo, ws.x_hi, cfg, intervals, crown, keep_going)?
    } else if root || !activation || ws.snapshot.is_empty() {
        let mut ok = ws.bound.node_bounds_until(g, ws.x_lo, ws.x_hi, splits, cfg, &mut saves, keep_going)?;
        // α for the intermediate bounds, at the root of an activation split only: every domain
        // starts from the root's intervals. (An input split bounds its children inside the
        // root's intervals too, but a child's smaller box tightens them far more: on ACAS Xu the
        // root's intermediate α cost 5-6 s per property-1 instance and saved no domain.)
        if ok
            && root
            && activation
            && splits.is_empty()
            && let Some(al) = ws.alpha.as_mut()
        {
            // Its own time budget (the caller's `keep_going` in `Phase::IntermediateAlpha`): when
            // it runs out, the intervals won so far are kept (each is sound) and the search goes
            // on.
            phase.set(Phase::IntermediateAlpha);
            let (x_lo, x_hi) = (&*ws.x_lo, &*ws.x_hi);
            let r = alpha::intermediate_bounds(
                &mut ws.bound,
                al,
                g,
                x_lo,
                x_hi,
                cfg,
                &settings.alpha,
                keep_going,
            );
            phase.set(Phase::Search);
            ok = match r {
                Err(BoundError::Interrupted) if keep_going() => true,
                r => r?,
            };
        }
        if root && !ws.snapshot.is_empty() {
            ws.bound.save(ws.snapshot)?;
        }
        ok
    } else {
        // Same box as the root: start from the root's intervals.
        ws.bound.restore(ws.snapshot)?;
        match settings.intermediate {
            Intermediate::Fixed => ws.bound.apply_splits_fixed(g, splits)?,
            Intermediate::Recompute => {
                let from = splits.iter().map(|s| s.node).min().unwrap_or(g.output);
                // Within the root's intervals (the same box, fewer constraints): keeps what α
                // won for the intermediate bounds there.
                let v = ws.plan.bound.values;
                let within = (&ws.snapshot[..v], &ws.snapshot[v..2 * v]);
                ws.bound.node_bounds_from(g, ws.x_lo, ws.x_hi, splits, cfg, from, Some(within), keep_going)?
            }
        }
    };
    if !nonempty {
        return Ok(Bounded::Verified);
    }
    if keep_caps {
        ws.bound.save_caps(g, split_caps_mut(ws.dom_caps, ws.plan.atoms).0)?;
    }
    // α in every domain of an activation split, but only at the root of an input split: there a
    // child's box is smaller, which tightens its bounds far more than α does, and the α
    // iterations cost more than the few domains they save (ACAS Xu 2_6 prop_1: 1,259 domains in
    // 3.2 s with α in every domain, 1,275 in 2.4 s without).
    let use_alpha =
        settings.alpha.iters > 0 && cfg.method.linear_output() && ws.alpha.is_some() && (root || activation);
    if use_alpha && let Some(al) = ws.alpha.as_mut() {
        al.capture(&ws.bound)?;
    }
    // First pass: all atoms, to find the target (worst clause, its best atom).
    let (lbs, _) = ws.lbs.split_at_mut(m);
    atom_margins(&mut ws.bound, g, spec, cfg, lbs, &mut ws.input_a[..m * (d + 1)])?;
    // With caps, never below the enclosing domain's.
    if keep_caps {
        let (_, kept) = split_caps_mut(ws.dom_caps, ws.plan.atoms);
        inherit_margins(lbs, &mut kept[..m], caps != Caps::None);
    }
    let worst = worst_clause(spec, lbs);
    let Some((mut margin, mut target)) = worst else { return Ok(Bounded::Verified) };
    // Split multipliers (or α-CROWN jointly with them): try to refute the open clauses through
    // their best atoms, worst clause first; the first clause that stays open decides the domain's
    // margin (no need to pay for the others).
    let mut use_beta = false;
    if use_alpha || (n_splits > 0 && beta_iters > 0 && cfg.method.linear_output()) {
        let n = g.output_len();
        // Visit clauses in increasing margin order without extra memory: each round takes the
        // smallest margin above the previous one.
        if ws.lbs[..m].iter().any(|v| !v.is_usable()) {
            return Err(BoundError::Numeric);
        }
        // Order key (margin, clause index), so equal margins are each visited once.
        let mut last: Option<(f64, usize)> = None;
        let mut open: Option<(f64, usize)> = None;
        loop {
            let mut next: Option<(f64, usize, usize)> = None;
            for k in 0..spec.clauses() {
                let b = best_atom(spec, k, ws.lbs);
                if b.0 > 0.0 {
                    continue; // refuted already
                }
                let after_last = last.is_none_or(|(lm, lk)| b.0 > lm || (b.0 == lm && k > lk));
                if after_last && next.is_none_or(|(nm, _, nk)| b.0 < nm || (b.0 == nm && k < nk)) {
                    next = Some((b.0, b.1, k));
                }
            }
            let Some((m0, atom, k)) = next else { break };
            last = Some((m0, k));
            let row = &spec.rows[atom * n..(atom + 1) * n];
            let v = if use_alpha {
                optimise_alpha(g, cfg, ws, n_splits, row, spec.rhs[atom], &settings.alpha, keep_going)?
            } else {
                optimise_beta(g, cfg, ws, n_splits, row, spec.rhs[atom], beta_iters)?
            };
            if v <= 0.0 {
                open = Some((v, atom));
                break;
            }
        }
        let Some((m2, t2)) = open else { return Ok(Bounded::Verified) };
        margin = m2;
        target = t2;
        use_beta = true;
    }
    // Second pass for the target row only, recording its coefficients at every node (BBPS's lA).
    // After α the target's optimised lines are cached. (The input split keeps the first pass's
    // CROWN coefficients: choosing the input dimension by the α-optimised ones makes the ACAS Xu
    // trees several times larger.)
    if cfg.method == Method::Crown && ws.plan.split_values > 0 {
        let n = g.output_len();
        let (one, _) = ws.lbs[m..].split_at_mut(1);
        let nb = if use_beta { n_splits } else { 0 };
        ws.bound.output_lower_beta(
            g,
            &spec.rows[target * n..(target + 1) * n],
            one,
            cfg,
            &mut Saves { output_a: Some((&mut *ws.out_a, 0)), ..Saves::default() },
            &ws.cur[..nb],
            &ws.beta[..nb],
        )?;
    }
    Ok(Bounded::Open { margin, target })
}

/// Whether CROWN proves the box `[lo, hi]` (the property's box replaced): every clause refuted
/// by an atom's margin, or no point of the box left once clipped to where a clause may hold
/// ([`clip::clip_box`]). The leaf test of a certificate ([`crate::cert`]): nothing but the box,
/// the model, the property and the enclosing box's results enters it.
///
/// `enclosing`: the intervals and atom margins ([`bound::caps_len`] + atoms scalars) saved by
/// this call on a box that contains this one; the intervals cap this box's, and a margin never
/// drops below the enclosing one (both hold on any box inside). `keep` (empty, or that many
/// scalars) receives this box's. Returns `None` when proved, else the worst clause's best
/// margin and atom (its line is in `lines`; the box clipped to where a clause may hold is in the
/// first `2·d` scalars of `scratch`, lower ends first). `margins` holds the atoms, `lines`
/// `atoms × (d + 1)`, `scratch` `6·d` scalars.
#[allow(clippy::too_many_arguments)]
pub(crate) fn prove_box<T: Scalar>(
    bound: &mut Workspace<'_, T>,
    g: &Graph<'_, T>,
    spec: &Spec<'_, T>,
    cfg: &Config,
    (lo, hi): (&[T], &[T]),
    enclosing: Option<&[T]>,
    keep: &mut [T],
    margins: &mut [T],
    lines: &mut [T],
    scratch: &mut [T],
) -> Result<Option<(f64, usize)>, BoundError> {
    let (d, m, c) = (lo.len(), spec.atoms(), crate::bound::caps_len(g));
    if hi.len() != d
        || margins.len() < m
        || lines.len() < m * (d + 1)
        || scratch.len() < 6 * d
        || enclosing.is_some_and(|e| e.len() != c + m)
        || !(keep.is_empty() || keep.len() == c + m)
    {
        return Err(BoundError::Shape);
    }
    let nonempty = match enclosing {
        Some(e) => bound.node_bounds_capped(g, lo, hi, cfg, &e[..c], true, &mut || true)?,
        None => bound.node_bounds(g, lo, hi, &[], cfg, &mut Saves::default())?,
    };
    if !nonempty {
        // (A box without splits is never empty; its caps would be meaningless.)
        return if keep.is_empty() { Ok(None) } else { Err(BoundError::Numeric) };
    }
    let (margins, lines) = (&mut margins[..m], &mut lines[..m * (d + 1)]);
    atom_margins(bound, g, spec, cfg, margins, lines)?;
    if margins.iter().any(|v| !v.is_usable()) {
        return Err(BoundError::Numeric);
    }
    if let Some(e) = enclosing {
        for (v, k) in margins.iter_mut().zip(&e[c..]) {
            *v = v.max_of(*k);
        }
    }
    if !keep.is_empty() {
        bound.save_caps(g, &mut keep[..c])?;
        keep[c..].copy_from_slice(margins);
    }
    let Some((margin, target)) = worst_clause(spec, margins) else { return Ok(None) };
    let (b, rest) = scratch.split_at_mut(2 * d);
    let (blo, bhi) = b.split_at_mut(d);
    blo.copy_from_slice(lo);
    bhi.copy_from_slice(hi);
    if cfg.method.linear_output() && clip::clip_box(spec, lines, blo, bhi, rest) == clip::Clipped::Empty {
        return Ok(None);
    }
    Ok(Some((margin, target)))
}

/// The margin `lb(c·y) − d` of every spec atom, rounded down, into `margins`, and each atom's CROWN
/// line at the input (`d` coefficients and the constant) into `lines`, after a bounding run.
fn atom_margins<T: Scalar>(
    bound: &mut Workspace<'_, T>,
    g: &Graph<'_, T>,
    spec: &Spec<'_, T>,
    cfg: &Config,
    margins: &mut [T],
    lines: &mut [T],
) -> Result<(), BoundError> {
    bound.output_lower(
        g,
        spec.rows,
        margins,
        cfg,
        &mut Saves { input_a: Some(lines), ..Saves::default() },
    )?;
    for (l, r) in margins.iter_mut().zip(spec.rhs) {
        *l = l.sub_down(*r);
    }
    Ok(())
}

/// A domain's caps: the node intervals ([`crate::bound::Workspace::save_caps`]) and the margins
/// of the spec atoms (`atoms` scalars at the end).
fn split_caps<T>(caps: &[T], atoms: usize) -> (&[T], &[T]) {
    caps.split_at(caps.len().saturating_sub(atoms))
}

/// [`split_caps`], writable.
fn split_caps_mut<T>(caps: &mut [T], atoms: usize) -> (&mut [T], &mut [T]) {
    let n = caps.len().saturating_sub(atoms);
    caps.split_at_mut(n)
}

/// Raise `margins` to the enclosing domain's `kept` ones when `inherited` (a margin bound over a
/// box holds on any box inside it), then keep them for the children. Without this a child's
/// margin can come out below its parent's even inside the parent's intervals (the output pass
/// relaxes differently), and strong branching then ranks cuts by noise: ACAS Xu 1_1 property 5
/// kept cutting its two thinnest dimensions, whose halves "did not get worse".
fn inherit_margins<T: Scalar>(margins: &mut [T], kept: &mut [T], inherited: bool) {
    for (l, k) in margins.iter_mut().zip(kept.iter_mut()) {
        if inherited {
            *l = l.max_of(*k);
        }
        *k = *l;
    }
}

/// The best (largest) margin among clause `k`'s atoms and that atom; `margins[i]` is atom `i`'s
/// `lb − rhs`. A clause whose best margin is positive can never hold.
fn best_atom<T: Scalar>(spec: &Spec<'_, T>, k: usize, margins: &[T]) -> (f64, usize) {
    let mut best = (f64::NEG_INFINITY, 0usize);
    for i in spec.clause(k) {
        let v = margins[i].to_f64();
        if v > best.0 {
            best = (v, i);
        }
    }
    best
}

/// The domain's margin: the smallest best margin over the clauses that may still hold, and its
/// atom; `None` when every clause is refuted (the domain is verified).
fn worst_clause<T: Scalar>(spec: &Spec<'_, T>, margins: &[T]) -> Option<(f64, usize)> {
    let mut worst: Option<(f64, usize)> = None;
    for k in 0..spec.clauses() {
        let best = best_atom(spec, k, margins);
        if best.0 > 0.0 {
            continue; // refuted: one atom can never hold
        }
        if worst.is_none_or(|w| best.0 < w.0) {
            worst = Some(best);
        }
    }
    worst
}

/// α-CROWN for one spec row (`row·y ≤ rhs` unsafe), jointly with the split multipliers when the
/// domain has splits: leaves the best β in `ws.beta[..n_splits]` and the best lines in the bound
/// workspace, and returns the best margin `lb(row·y) − rhs`.
#[allow(clippy::too_many_arguments)]
fn optimise_alpha<T: Scalar>(
    g: &Graph<'_, T>,
    cfg: &Config,
    ws: &mut BabWorkspace<'_, T>,
    n_splits: usize,
    row: &[T],
    rhs: T,
    set: &AlphaSettings,
    keep_going: &mut dyn FnMut() -> bool,
) -> Result<f64, BoundError> {
    let depth = ws.plan.depth;
    let (beta, state) = ws.beta.split_at_mut(depth);
    let al = ws.alpha.as_mut().ok_or(BoundError::Shape)?;
    let splits = &ws.cur[..n_splits];
    let lb = al.optimise(&mut ws.bound, g, cfg, row, splits, beta, state, set, Some(rhs), keep_going)?;
    Ok(lb.sub_down(rhs).to_f64())
}

/// Optimise the split multipliers for one spec row (`row·y ≤ rhs` unsafe): projected ascent with
/// forward-difference gradients and a backtracking step, keeping the best. Leaves the best β in
/// `ws.beta[..n_splits]` and returns the best margin `lb(row·y) − rhs`. Every evaluated β is ≥ 0,
/// so every evaluated bound is sound; the optimiser only affects tightness.
fn optimise_beta<T: Scalar>(
    g: &Graph<'_, T>,
    cfg: &Config,
    ws: &mut BabWorkspace<'_, T>,
    n_splits: usize,
    row: &[T],
    rhs: T,
    iters: u32,
) -> Result<f64, BoundError> {
    let depth = ws.plan.depth;
    let (beta, rest) = ws.beta.split_at_mut(depth);
    let (trial, rest) = rest.split_at_mut(depth);
    let grad = &mut rest[..depth];
    let splits = &ws.cur[..n_splits];
    let bound = &mut ws.bound;
    let mut eval = |b: &[T]| -> Result<f64, BoundError> {
        let mut out = [T::ZERO];
        bound.output_lower_beta(g, row, &mut out, cfg, &mut Saves::default(), splits, b)?;
        Ok(out[0].sub_down(rhs).to_f64())
    };
    beta[..n_splits].fill(T::ZERO);
    let mut best = eval(&beta[..n_splits])?;
    let mut step = 1.0f64;
    for _ in 0..iters {
        if best > 0.0 {
            break;
        }
        // Forward differences.
        let mut gmax = 0.0f64;
        for i in 0..n_splits {
            trial[..n_splits].copy_from_slice(&beta[..n_splits]);
            let h = 0.05 * beta[i].to_f64().max(1.0);
            trial[i] = T::from_f64_near(beta[i].to_f64() + h);
            let gi = (eval(&trial[..n_splits])? - best) / h;
            let gi = if beta[i] > T::ZERO || gi > 0.0 { gi } else { 0.0 };
            grad[i] = T::from_f64_near(gi);
            gmax = gmax.max(gi.abs());
        }
        if !(gmax > 0.0) {
            break;
        }
        // Backtracking along the projected gradient.
        let mut improved = false;
        for _ in 0..4 {
            for i in 0..n_splits {
                let v = beta[i].to_f64() + step * grad[i].to_f64() / gmax;
                trial[i] = T::from_f64_near(v.max(0.0));
            }
            let v = eval(&trial[..n_splits])?;
            if v > best {
                best = v;
                beta[..n_splits].copy_from_slice(&trial[..n_splits]);
                improved = true;
                step *= 2.0;
                break;
            }
            step *= 0.25;
        }
        if !improved {
            break;
        }
    }
    Ok(best)
}

/// Decide `spec` on `g`. `keep_going` is called between steps with the counters so far; returning
/// false stops with `Unknown(Timeout)`. On `Violated`, `cex` (input length) holds the
/// counterexample, confirmed by a forward pass in `T`.
pub fn verify<T: Scalar>(
    g: &Graph<'_, T>,
    spec: &Spec<'_, T>,
    settings: &Settings,
    ws: &mut BabWorkspace<'_, T>,
    keep_going: &mut dyn FnMut(&Stats) -> bool,
    cex: &mut [T],
) -> (Verdict, Stats) {
    verify_with(g, spec, settings, ws, keep_going, cex, false)
}

/// [`verify`]; `trusted`: the caller has validated `g` (a monitor checks it once per stream,
/// not once per frame: validation reads every weight, as much work as a forward pass).
pub(crate) fn verify_with<T: Scalar>(
    g: &Graph<'_, T>,
    spec: &Spec<'_, T>,
    settings: &Settings,
    ws: &mut BabWorkspace<'_, T>,
    keep_going: &mut dyn FnMut(&Stats) -> bool,
    cex: &mut [T],
    trusted: bool,
) -> (Verdict, Stats) {
    let mut stats = Stats::default();
    let d = g.input_len();
    if (!trusted && g.validate().is_err())
        || spec.validate(d, g.output_len()).is_err()
        || d != ws.plan.input
        || spec.atoms() > ws.plan.atoms
        || cex.len() != d
        || g.nodes.len() != ws.plan.bound.nodes
        || g.total_len() != ws.plan.bound.values
    {
        return (Verdict::Unknown(Reason::Shape), stats);
    }
    if ws.bound.trust(g).is_err() {
        return (Verdict::Unknown(Reason::Shape), stats);
    }
    let cfg = settings.bound;
    // 1. Attack.
    let mut rng = attack::Rng::new(settings.seed);
    if let Some(mut atk) = attack::Attack::trusted(g, ws.attack) {
        let snapshot = stats;
        let n = settings.attack_samples;
        let (passes, found) =
            attack::sample_faces(&mut atk, g, spec, n, &mut rng, cex, &mut || keep_going(&snapshot));
        stats.attack_passes += passes;
        if found {
            return (Verdict::Violated, stats);
        }
        let (r, s) = (settings.attack_restarts, settings.attack_steps);
        if run_attack(&mut atk, g, spec, None, (r, s), &mut rng, cex, &mut stats, keep_going) {
            return (Verdict::Violated, stats);
        }
    }
    // 2. Branching mode.
    let mut branching = settings.branching;
    if branching == Branching::Auto {
        branching = if d <= settings.input_split_max_dim as usize || ws.plan.split_values == 0 {
            Branching::Input
        } else {
            Branching::Bbps
        };
    }
    if matches!(branching, Branching::Bbps | Branching::BabSr)
        && (ws.plan.split_values == 0 || cfg.method != Method::Crown)
    {
        branching = Branching::Input;
    }
    let activation = branching != Branching::Input;
    // Shortcut block offsets for the split nodes.
    let mut o = 0usize;
    for (i, off) in ws.offsets.iter_mut().enumerate() {
        if activation && is_split_node(g, i as NodeId) {
            *off = o;
            o += 2 * g.nodes[i].len as usize * (d + 1);
        } else {
            *off = usize::MAX;
        }
    }
    if o > ws.shortcuts.len() {
        return (Verdict::Unknown(Reason::Shape), stats);
    }
    // 3. Root.
    ws.pool.clear();
    ws.x_lo.copy_from_slice(spec.lo);
    ws.x_hi.copy_from_slice(spec.hi);
    let root_caps = if core::mem::take(&mut ws.root_caps) { Caps::Enclosing } else { Caps::None };
    if ws.pool.push(spec.lo, spec.hi, &[], (root_caps, ws.dom_caps), T::ZERO, f64::NEG_INFINITY).is_none() {
        return (Verdict::Unknown(Reason::Capacity), stats);
    }
    let mut root = true;
    let mut stamp = 0u64;
    loop {
        if !keep_going(&stats) {
            return (Verdict::Unknown(Reason::Timeout), stats);
        }
        if ws.pool.len() == 0 {
            return (Verdict::Holds, stats);
        }
        if settings.max_steps > 0 && stats.bounded >= settings.max_steps {
            return (Verdict::Unknown(Reason::Steps), stats);
        }
        let Some((n_splits, caps)) = ws.pool.pop(ws.x_lo, ws.x_hi, ws.cur, ws.dom_caps) else {
            return (Verdict::Holds, stats);
        };
        stats.bounded += 1;
        let res = {
            let snapshot = stats;
            bound_domain(g, spec, &cfg, ws, n_splits, root, caps, settings, activation, &mut |p| {
                keep_going(&Stats { phase: p, ..snapshot })
            })
        };
        root = false;
        let (margin, target) = match res {
            Ok(Bounded::Verified) => {
                stats.verified += 1;
                continue;
            }
            Ok(Bounded::Open { margin, target }) => (margin, target),
            Err(BoundError::Interrupted) => return (Verdict::Unknown(Reason::Timeout), stats),
            Err(e) => return (Verdict::Unknown(Reason::Numeric(e)), stats),
        };
        // Input split: drop the parts of the box where no clause can hold (see `clip`).
        if !activation && cfg.method.linear_output() {
            let lines = &ws.input_a[..spec.atoms() * (d + 1)];
            match clip::clip_box(spec, lines, ws.x_lo, ws.x_hi, ws.clip) {
                clip::Clipped::Empty => {
                    stats.verified += 1;
                    stats.clipped += 1;
                    continue;
                }
                clip::Clipped::Shrunk => stats.clipped += 1,
                clip::Clipped::Unchanged => {}
            }
        }
        // A cheap look for a witness in this domain: its centre and the corner minimising the
        // target row's linear lower bound.
        if let Some(mut atk) = attack::Attack::trusted(g, ws.attack) {
            let lam = &ws.input_a[target * (d + 1)..target * (d + 1) + d];
            let mut seen = f64::INFINITY;
            for corner in [false, true] {
                stats.attack_passes += 1;
                if atk.try_box_point(g, spec, ws.x_lo, ws.x_hi, lam, corner, cex) {
                    return (Verdict::Violated, stats);
                }
                seen = seen.min(atk.last_margin(g, spec));
            }
            if settings.split_promise > 0.0
                && margin < 0.0
                && seen < f64::from(settings.split_promise) * -margin
            {
                return (Verdict::Unknown(Reason::Gap), stats);
            }
            // (An activation split keeps the box, so there this would repeat the same search.)
            if settings.domain_attack_steps > 0 && !activation {
                let (sub, s) = (Some((&*ws.x_lo, &*ws.x_hi)), settings.domain_attack_steps);
                if run_attack(&mut atk, g, spec, sub, (1, s), &mut rng, cex, &mut stats, keep_going) {
                    return (Verdict::Violated, stats);
                }
            }
        }
        // Choose the split.
        let key = if settings.order == Order::BestFirst { margin } else { -((stamp + 1) as f64) };
        stamp += 2;
        let score = T::from_f64_down(margin);
        let mut done = false;
        if branching != Branching::Input {
            let (lo, hi) = ws.bound.all_bounds();
            let inp = branch::Inputs {
                g,
                lo,
                hi,
                out_a: ws.out_a,
                shortcuts: ws.shortcuts,
                offsets: ws.offsets,
                x_lo: ws.x_lo,
                x_hi: ws.x_hi,
            };
            if let Some(c) = branch::choose_activation(&inp, branching, settings.points, ws.sum) {
                if n_splits >= ws.plan.depth {
                    return (Verdict::Unknown(Reason::Depth), stats);
                }
                // Both children share the point, except at a Floor step of an f32 network: there
                // the lower child ends at the last f32 below the step (no deployed value lies in
                // between), and each child sees one constant piece.
                let (below, above) = if c.step && cfg.deploy == Deploy::F32 {
                    (T::from_f64_up(branch::step_below(c.point)), T::from_f64_down(c.point))
                } else {
                    let p = T::from_f64_near(c.point);
                    (p, p)
                };
                // `upper`: the element's upper bound becomes the point (the child below it).
                for upper in [true, false] {
                    let point = if upper { below } else { above };
                    ws.cur[n_splits] = Split { node: c.node, idx: c.idx, upper, point };
                    let (pool, cur) = (&mut ws.pool, &ws.cur[..n_splits + 1]);
                    if pool.push(ws.x_lo, ws.x_hi, cur, (Caps::None, &[]), score, key).is_none() {
                        return (Verdict::Unknown(Reason::Capacity), stats);
                    }
                }
                done = true;
            } else if d > settings.input_split_max_dim as usize {
                // A leaf: no element of this domain can be split any more, so only its split
                // multipliers β can still prove it (with the best β, a ReLU leaf's bound is the
                // exact minimum over the box cut by its split constraints). One more bound with
                // ten times the α/β steps before giving up.
                if settings.alpha.iters > 0 && ws.alpha.is_some() {
                    let a = settings.alpha;
                    let leaf = Settings {
                        alpha: AlphaSettings {
                            iters: a.iters.saturating_mul(10),
                            patience: a.patience.saturating_mul(5),
                            ..a
                        },
                        ..*settings
                    };
                    stats.bounded += 1;
                    let snapshot = stats;
                    let res =
                        bound_domain(g, spec, &cfg, ws, n_splits, false, caps, &leaf, activation, &mut |p| {
                            keep_going(&Stats { phase: p, ..snapshot })
                        });
                    match res {
                        Ok(Bounded::Verified) => {
                            stats.verified += 1;
                            continue;
                        }
                        Ok(Bounded::Open { .. }) => {}
                        Err(BoundError::Interrupted) => return (Verdict::Unknown(Reason::Timeout), stats),
                        Err(e) => return (Verdict::Unknown(Reason::Numeric(e)), stats),
                    }
                }
                return (Verdict::Unknown(Reason::Depth), stats);
            }
        }
        if !done {
            let key_of = |m: f64| if settings.order == Order::BestFirst { m } else { key };
            if settings.input_lookahead > 0 && cfg.method.linear_output() && ws.plan.caps > 0 {
                // Strong branching: push the probed halves (clipped, with their intervals).
                let k = settings.input_lookahead as usize;
                let snapshot = stats;
                let cut = match strong::choose(g, spec, &cfg, ws, target, k, &mut || keep_going(&snapshot)) {
                    Ok(Some(c)) => c,
                    Ok(None) => return (Verdict::Unknown(Reason::Depth), stats),
                    Err(BoundError::Interrupted) => return (Verdict::Unknown(Reason::Timeout), stats),
                    Err(e) => return (Verdict::Unknown(Reason::Numeric(e)), stats),
                };
                stats.probed += cut.probes;
                stats.clipped += cut.clipped;
                for (h, m) in cut.margins.into_iter().enumerate() {
                    let Some(m) = m else {
                        stats.verified += 1; // the probe verified this half
                        continue;
                    };
                    let (lo, hi, caps) = strong::half(ws.probe, d, ws.plan.caps, h);
                    let sc = T::from_f64_down(m);
                    if ws.pool.push(lo, hi, &[], (cut.caps[h], caps), sc, key_of(m)).is_none() {
                        return (Verdict::Unknown(Reason::Capacity), stats);
                    }
                }
            } else {
                // The largest |Λ_i|·width_i; both halves inside this domain's intervals.
                let lam = &ws.input_a[target * (d + 1)..target * (d + 1) + d];
                let lam = if cfg.method.linear_output() { Some(lam) } else { None };
                let Some((i, mid)) = branch::choose_input(lam, ws.x_lo, ws.x_hi) else {
                    return (Verdict::Unknown(Reason::Depth), stats);
                };
                let (l0, h0) = (ws.x_lo[i], ws.x_hi[i]);
                for (lo, hi) in [(l0, mid), (mid, h0)] {
                    ws.x_lo[i] = lo;
                    ws.x_hi[i] = hi;
                    let (pool, cur) = (&mut ws.pool, &ws.cur[..n_splits]);
                    let pushed = pool.push(
                        ws.x_lo,
                        ws.x_hi,
                        cur,
                        (Caps::Enclosing, ws.dom_caps),
                        score,
                        key_of(margin),
                    );
                    ws.x_lo[i] = l0;
                    ws.x_hi[i] = h0;
                    if pushed.is_none() {
                        return (Verdict::Unknown(Reason::Capacity), stats);
                    }
                }
            }
        }
        stats.max_live = stats.max_live.max(ws.pool.len() as u32);
    }
}

/// Run the attack on `sub` (or the whole box) with `(restarts, steps)`, counting its passes in
/// `stats`. On a sub-box (a domain) the first start is the point `try_box_point` tried last (the
/// corner minimising the target's linear bound). Returns whether `cex` holds a confirmed
/// counterexample.
#[allow(clippy::too_many_arguments)]
fn run_attack<T: Scalar>(
    atk: &mut attack::Attack<'_, T>,
    g: &Graph<'_, T>,
    spec: &Spec<'_, T>,
    sub: Option<(&[T], &[T])>,
    (restarts, steps): (u32, u32),
    rng: &mut attack::Rng,
    cex: &mut [T],
    stats: &mut Stats,
    keep_going: &mut dyn FnMut(&Stats) -> bool,
) -> bool {
    let snapshot = *stats;
    let (passes, found) =
        atk.run(g, spec, sub, restarts, steps, sub.is_some(), rng, cex, &mut || keep_going(&snapshot));
    stats.attack_passes += passes;
    found
}

/// An open input-split domain handed out of a search (see [`verify_alloc`]): its box and, when
/// the search kept them, its interval caps (empty otherwise), which a search of the box may start
/// from.
#[cfg(feature = "alloc")]
#[derive(Clone, Debug, PartialEq)]
pub struct OpenDomain<T> {
    /// Lower ends of the box.
    pub lo: alloc::vec::Vec<T>,
    /// Upper ends of the box.
    pub hi: alloc::vec::Vec<T>,
    /// Interval caps ([`crate::bound::Workspace::save_caps`] layout), or empty.
    pub caps: alloc::vec::Vec<T>,
}

impl Settings {
    /// Whether branch and bound splits the input box on a model with `input_len` inputs (`Auto`
    /// picks the input split for low-dimensional inputs; an activation split falls back to it
    /// only on models with nothing to split).
    pub fn splits_input(&self, input_len: usize) -> bool {
        match self.branching {
            Branching::Input => true,
            Branching::Auto => input_len <= self.input_split_max_dim as usize,
            _ => false,
        }
    }
}

/// Host convenience (feature `alloc`): size a workspace on the heap and run [`verify`]; an input
/// split keeps interval caps ([`BabPlan::with_caps`]). `root_caps` (empty for none) are the caps
/// of the box of `spec`, from an [`OpenDomain`] of an earlier search. When the run stops at
/// `settings.max_steps` and `open` is given, the domains still open are appended to it (input
/// split only: a domain with activation splits is more than its box, so then nothing is
/// appended); together they cover every point of the box not yet verified.
#[cfg(feature = "alloc")]
#[allow(clippy::too_many_arguments)]
pub fn verify_alloc<T: Scalar>(
    g: &Graph<'_, T>,
    spec: &Spec<'_, T>,
    settings: &Settings,
    domains: usize,
    depth: usize,
    keep_going: &mut dyn FnMut(&Stats) -> bool,
    root_caps: &[T],
    open: Option<&mut alloc::vec::Vec<OpenDomain<T>>>,
) -> (Verdict, Stats, alloc::vec::Vec<T>) {
    use alloc::vec;
    let input = settings.splits_input(g.input_len());
    let plan = match BabPlan::new(g, spec.atoms(), domains, depth, 64, !input) {
        Ok(p) => p,
        Err(e) => return (Verdict::Unknown(Reason::Numeric(e)), Stats::default(), vec![]),
    };
    let plan = if settings.alpha.iters > 0 { plan.with_alpha() } else { plan };
    let plan = if input { plan.with_caps(crate::bound::caps_len(g) + spec.atoms()) } else { plan };
    let plan = if settings.bound.method == Method::Forward {
        BabPlan { bound: plan.bound.with_forward_for(g), ..plan }
    } else {
        plan
    };
    let mut scalars = vec![T::ZERO; plan.scalars()];
    let mut flags = vec![false; plan.flags()];
    let mut splits = vec![Split { node: 0, idx: 0, upper: false, point: T::ZERO }; plan.splits()];
    let mut records = vec![DomainRecord::EMPTY; plan.records()];
    let mut offsets = vec![0usize; plan.offsets()];
    let mut sum = vec![0.0f64; plan.input];
    let mut cex = vec![T::ZERO; g.input_len()];
    let mut ws = match BabWorkspace::new(
        plan,
        &mut scalars,
        &mut flags,
        &mut splits,
        &mut records,
        &mut offsets,
        &mut sum,
    ) {
        Ok(w) => w,
        Err(e) => return (Verdict::Unknown(Reason::Numeric(e)), Stats::default(), vec![]),
    };
    if !root_caps.is_empty()
        && let Err(e) = ws.set_root_caps(root_caps)
    {
        return (Verdict::Unknown(Reason::Numeric(e)), Stats::default(), vec![]);
    }
    let (v, s) = verify(g, spec, settings, &mut ws, keep_going, &mut cex);
    if let Some(out) = open
        && v == Verdict::Unknown(Reason::Steps)
    {
        let at = out.len();
        ws.pool.for_each(|lo, hi, splits, caps| {
            if splits == 0 {
                out.push(OpenDomain { lo: lo.to_vec(), hi: hi.to_vec(), caps: caps.to_vec() });
            }
        });
        if out.len() - at != ws.pool.len() {
            out.truncate(at); // some domain had splits: its box alone would be wrong
        }
    }
    (v, s, cex)
}
