//! Bound engines: IBP and CROWN (backward linear bound propagation) over the DAG.
//!
//! One forward sweep visits the nodes in order and gives every node an interval: IBP from its
//! inputs' intervals, tightened by a CROWN backward pass for every node whose interval feeds a
//! nonlinearity (a Unary op or a product). The output property is then bounded by one more
//! backward pass from the spec rows. All of it runs in a caller-provided [`Workspace`] whose size a
//! [`Plan`] computes from the model, so nothing is allocated.
//!
//! ## Soundness in floating point
//!
//! *Deployed arithmetic.* Node intervals enclose the value the deployed network computes, not only
//! the real-arithmetic value: every node adds its evaluation error `e_k` (γₙ·Σ|terms| for the
//! deployed unit roundoff, [`Deploy`]) to its interval, and a backward pass subtracts `Σ|A_k|·e_k`.
//! Unary ops get this from [`crate::relax`], whose lines also cover the f32 library functions.
//!
//! *Our own arithmetic.* Intervals and biases use the directed operations of [`Scalar`]. The
//! backward coefficients `A` are rounded to nearest; the error that makes in the linear identity
//! is bounded a posteriori and subtracted from the bias: for `A_x = A_n·W` it is
//! `γ_{n+1}·Σ_k |A_k|·r_k` with `r_k = Σ_j |W_kj|·max|x_j|` (precomputed per node, folded into
//! `aux`), and for elementwise accumulations `2u·|result|·max|x_j|` per add/product (plus the
//! absolute underflow / fixed-point resolution term). So the bound holds for whatever coefficients
//! were produced.

pub use crate::ops::{BoundError, Deploy, line_base, line_stride};

pub mod forward;
pub mod zonotope;

use crate::graph::{Graph, GraphError, NodeId, Op, Unary};
use crate::num::Scalar;
use crate::ops::rows::SumErr;
use crate::ops::{self, BackCx, IbpCx, copies_operands};

/// Which engine bounds the nodes: how the intermediate intervals (the ones the relaxations are
/// built on) are found, and whether the output gets a backward (linear) pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Method {
    /// Interval bound propagation only (cheap, loose).
    Ibp,
    /// CROWN for every nonlinearity's input and for the output (IBP intersected in).
    Crown,
    /// Forward-mode linear bounds ([`forward`]) for every node up to the last relaxed input,
    /// CROWN for the output: about `2·(d + 2)` forward passes for `d` inputs, so cheap for
    /// low-dimensional inputs (controllers), and needs [`Plan::with_forward_for`]'s buffer.
    Forward,
    /// IBP intervals, CROWN for the output (the cheapest linear bound).
    IbpCrown,
    /// Zonotopes ([`zonotope`]) for every node up to the last relaxed input, CROWN for the
    /// output: each value an affine form in the input and in noise symbols that the
    /// relaxations' largest gaps introduce, so the gaps cancel along paths of opposite sign;
    /// about `d + 2 + s` forward passes for `d` inputs and `s` symbols in use. Needs
    /// [`Plan::with_zonotope_for`]'s buffer.
    Zonotope,
}

impl Method {
    /// Whether the output gets a backward pass, so that branch and bound has linear bounds in the
    /// input (input coefficients, clipping, α/β on the output).
    pub const fn linear_output(self) -> bool {
        !matches!(self, Method::Ibp)
    }
}

/// Engine settings.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Config {
    /// IBP or CROWN.
    pub method: Method,
    /// The deployed arithmetic.
    pub deploy: Deploy,
}

impl Default for Config {
    fn default() -> Self {
        Config { method: Method::Crown, deploy: Deploy::F32 }
    }
}

/// A branch-and-bound split: node `node`, element `idx` is clamped to `≥ point` (`upper == false`)
/// or `≤ point` (`upper == true`) in this domain.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Split<T> {
    /// The node whose value is split (an input of a nonlinearity).
    pub node: NodeId,
    /// Element of that node.
    pub idx: u32,
    /// True: the element's upper bound becomes `point`; false: its lower bound does.
    pub upper: bool,
    /// The branching point.
    pub point: T,
}

/// Buffer sizes the engines need for one model: compute once, allocate (or declare `static`)
/// `scalars` values of `T` and `flags` booleans, then build a [`Workspace`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Plan {
    /// Number of nodes.
    pub nodes: usize,
    /// Scalars over all node values.
    pub values: usize,
    /// Scalars of the relaxation cache: 4 per unary element (two lines), 6 per product element
    /// (two planes); linear ops need none, which is most of a typical graph's values.
    pub lines: usize,
    /// Rows of a backward pass processed at once (more = faster, fewer = less RAM).
    pub chunk: usize,
    /// Scalars of the forward-mode arena ([`Method::Forward`], [`Method::Zonotope`]; 0
    /// without, see [`Plan::with_forward_for`], [`Plan::with_zonotope_for`]).
    pub forward: usize,
    /// Noise symbols a zonotope may introduce ([`Method::Zonotope`]).
    pub symbols: usize,
}

impl Plan {
    /// The plan for `nodes` nodes with `values` scalars in all and `lines` relaxation-cache
    /// scalars ([`line_stride`] per element), processing `chunk` rows at once. A `const fn`, so a
    /// baked model's buffer sizes are compile-time constants.
    pub const fn from_sizes(nodes: usize, values: usize, lines: usize, chunk: usize) -> Plan {
        Plan { nodes, values, lines, chunk: if chunk == 0 { 1 } else { chunk }, forward: 0, symbols: 0 }
    }
    /// This plan with a forward-mode arena of `scalars` (a `const fn`; the number comes from
    /// [`forward::arena_len`] on the host).
    pub const fn with_forward(self, scalars: usize) -> Plan {
        Plan { forward: scalars, ..self }
    }
    /// This plan with the forward-mode arena `g` needs ([`Method::Forward`]).
    pub fn with_forward_for<T: Scalar>(self, g: &Graph<'_, T>) -> Plan {
        self.with_forward(forward::arena_len(g))
    }
    /// This plan with a zonotope arena of `scalars` holding forms of up to `symbols` noise
    /// symbols (a `const fn`; the number comes from [`zonotope::arena_len`] on the host).
    pub const fn with_zonotope(self, scalars: usize, symbols: usize) -> Plan {
        Plan { forward: scalars, symbols, ..self }
    }
    /// This plan with the zonotope arena `g` needs for `symbols` noise symbols
    /// ([`Method::Zonotope`]).
    pub fn with_zonotope_for<T: Scalar>(self, g: &Graph<'_, T>, symbols: usize) -> Plan {
        self.with_zonotope(zonotope::arena_len(g, symbols), symbols)
    }
    /// The plan for a graph.
    pub fn new<T: Scalar>(g: &Graph<'_, T>, chunk: usize) -> Result<Plan, GraphError> {
        g.validate()?;
        Ok(Plan::from_sizes(g.nodes.len(), g.total_len(), line_base(g, g.nodes.len()), chunk))
    }
    /// Scalars the workspace needs: bounds (2V), slack (V), relaxation cache (`lines`), per-node
    /// constants (N), backward coefficients (chunk·V), per-row bias and results (2·chunk) and the
    /// forward-mode arena.
    pub const fn scalars(&self) -> usize {
        3 * self.values + self.lines + self.nodes + self.chunk * (self.values + 2) + self.forward
    }
    /// Booleans the workspace needs.
    pub const fn flags(&self) -> usize {
        self.nodes
    }
}

/// Working memory carved from caller buffers.
pub struct Workspace<'w, T> {
    plan: Plan,
    lo: &'w mut [T],
    hi: &'w mut [T],
    aux: &'w mut [T],
    lines: &'w mut [T],
    consts: &'w mut [T],
    a: &'w mut [T],
    bias: &'w mut [T],
    res: &'w mut [T],
    /// Forward-mode linear bounds ([`forward`]).
    fwd: &'w mut [T],
    touched: &'w mut [bool],
    validated: Option<[usize; 7]>,
    /// Bumped whenever the node bounds or the relaxation cache are recomputed or restored, so a
    /// copy of the cache taken earlier (α-CROWN's starting point) can be recognised as stale.
    epoch: u64,
}

/// Optional outputs of a bounding run used by branch and bound.
pub struct Saves<'s, T> {
    /// Per node of interest, the linear bounds w.r.t. the input from its CROWN pass: for node `n`
    /// with `len` elements and input dimension `d`, `len × (d + 1)` lower rows (coefficients then
    /// constant) followed by as many upper rows. Indexed via `shortcut_offsets`.
    pub shortcuts: Option<(&'s mut [T], &'s [usize])>,
    /// Coefficients of the output pass's spec row `target_row` at every node's output:
    /// `values` scalars at the node offsets.
    pub output_a: Option<(&'s mut [T], usize)>,
    /// The output pass's coefficients at the input for every spec row: `rows × d`, or
    /// `rows × (d + 1)` to get each row's constant after its coefficients.
    pub input_a: Option<&'s mut [T]>,
    /// For a one-row output pass (α-CROWN): the coefficient at every relaxed element's output
    /// (the `A_e` whose sign chose its lower or upper line), at the first scalar of the element's
    /// block in the relaxation-cache layout ([`line_base`]; `plan.lines` scalars, 0 for elements
    /// the pass does not reach). The coefficient is taken after the split multipliers, i.e. the
    /// one the pass actually used.
    pub elem_a: Option<&'s mut [T]>,
}

impl<T> Default for Saves<'_, T> {
    fn default() -> Self {
        Saves { shortcuts: None, output_a: None, input_a: None, elem_a: None }
    }
}

/// Interval caps of a sweep (see [`Workspace::node_bounds_capped`]).
enum Caps<'c, T> {
    /// Both ends of the nodes that get a CROWN pass ([`Workspace::save_caps`]); `crown` says
    /// whether they get it.
    Crown { buf: &'c [T], crown: bool },
    /// Every node's interval.
    Within { lo: &'c [T], hi: &'c [T] },
}

/// Scalars of a domain's interval caps ([`Workspace::save_caps`]): both ends of every element of
/// the nodes that get a CROWN pass.
pub fn caps_len<T: Scalar>(g: &Graph<'_, T>) -> usize {
    2 * (0..g.nodes.len() as NodeId)
        .filter(|&id| needs_crown(g, id))
        .map(|id| g.nodes[id as usize].len as usize)
        .sum::<usize>()
}

impl<'w, T: Scalar> Workspace<'w, T> {
    /// Carve a workspace from `scalars` (at least `plan.scalars()`) and `flags` (`plan.flags()`).
    pub fn new(plan: Plan, scalars: &'w mut [T], flags: &'w mut [bool]) -> Result<Self, BoundError> {
        if scalars.len() < plan.scalars() || flags.len() < plan.flags() {
            return Err(BoundError::Shape);
        }
        let v = plan.values;
        let (lo, r) = scalars.split_at_mut(v);
        let (hi, r) = r.split_at_mut(v);
        let (aux, r) = r.split_at_mut(v);
        let (lines, r) = r.split_at_mut(plan.lines);
        let (consts, r) = r.split_at_mut(plan.nodes);
        let (a, r) = r.split_at_mut(plan.chunk * v);
        let (bias, r) = r.split_at_mut(plan.chunk);
        let (res, r) = r.split_at_mut(plan.chunk);
        let (fwd, _) = r.split_at_mut(plan.forward);
        Ok(Workspace {
            plan,
            lo,
            hi,
            aux,
            lines,
            consts,
            a,
            bias,
            res,
            fwd,
            touched: &mut flags[..plan.nodes],
            validated: None,
            epoch: 0,
        })
    }

    /// The plan this workspace was made for.
    pub fn plan(&self) -> Plan {
        self.plan
    }

    /// Interval of node `id` from the last [`Workspace::node_bounds`] run (offset-indexed slices).
    pub fn interval(&self, g: &Graph<'_, T>, id: NodeId) -> (&[T], &[T]) {
        let o = g.offset(id);
        let n = g.nodes[id as usize].len as usize;
        (&self.lo[o..o + n], &self.hi[o..o + n])
    }

    /// Lower and upper bounds of all node values (after [`Workspace::node_bounds`]).
    pub fn all_bounds(&self) -> (&[T], &[T]) {
        (&self.lo[..], &self.hi[..])
    }

    /// The relaxation cache (layout of [`line_base`]: per unary element `[sl, bl, su, bu]`, per
    /// product element `[ax, ay, c, bx, by, d]`), as filled by the last bounding run.
    pub fn lines(&self) -> &[T] {
        &self.lines[..]
    }

    /// Identity of the current node bounds and relaxation cache: this workspace's cache address
    /// and a counter bumped by every bounding run, restore or split application.
    pub(crate) fn stamp(&self) -> (usize, u64) {
        (self.lines.as_ptr() as usize, self.epoch)
    }

    /// The node bounds and the relaxation cache, the latter writable: α-CROWN replaces cached
    /// lines by other *sound* lines for the same intervals (the output pass uses whatever is
    /// cached, so anything written here must be a valid relaxation on the element's interval).
    pub(crate) fn bounds_and_lines_mut(&mut self) -> (&[T], &[T], &mut [T]) {
        (&self.lo[..], &self.hi[..], &mut self.lines[..])
    }

    /// Validate `g` against the plan, once per graph: the last validated graph is remembered by
    /// the addresses and lengths of its arrays, so the hot path (many output passes per domain)
    /// does not re-check every weight.
    fn check_plan(&mut self, g: &Graph<'_, T>) -> Result<(), BoundError> {
        let id = g.fingerprint();
        if self.validated == Some(id) {
            return Ok(());
        }
        g.validate()?;
        self.trust(g)
    }

    /// [`Workspace::check_plan`] for a graph the caller has validated: only the plan's sizes are
    /// checked.
    pub(crate) fn trust(&mut self, g: &Graph<'_, T>) -> Result<(), BoundError> {
        if g.nodes.len() != self.plan.nodes
            || g.total_len() != self.plan.values
            || line_base(g, g.nodes.len()) != self.plan.lines
        {
            return Err(BoundError::Shape);
        }
        self.validated = Some(g.fingerprint());
        Ok(())
    }

    /// Forward sweep: an interval for every node over the box `[x_lo, x_hi]` with `splits`
    /// applied. Returns `Ok(false)` if the splits make the domain empty (nothing to verify).
    pub fn node_bounds(
        &mut self,
        g: &Graph<'_, T>,
        x_lo: &[T],
        x_hi: &[T],
        splits: &[Split<T>],
        cfg: &Config,
        saves: &mut Saves<'_, T>,
    ) -> Result<bool, BoundError> {
        self.node_bounds_until(g, x_lo, x_hi, splits, cfg, saves, &mut || true)
    }

    /// Recompute only the nodes from `from` on (the earlier ones keep their current intervals,
    /// e.g. restored from the root with [`Workspace::restore`]: valid when the box is the same
    /// and no split touches a node before `from`).
    ///
    /// With `within = Some((lo, hi))` (every node's interval, [`Graph::offset`] layout), each
    /// recomputed node's interval is intersected with it before the nodes after it are bounded:
    /// the caller guarantees that these enclose the node values on this box with these splits
    /// (e.g. the root's intervals, which α may have tightened, for a domain of the same box).
    #[allow(clippy::too_many_arguments)]
    pub fn node_bounds_from(
        &mut self,
        g: &Graph<'_, T>,
        x_lo: &[T],
        x_hi: &[T],
        splits: &[Split<T>],
        cfg: &Config,
        from: NodeId,
        within: Option<(&[T], &[T])>,
        keep_going: &mut dyn FnMut() -> bool,
    ) -> Result<bool, BoundError> {
        if splits.iter().any(|s| s.node < from)
            || within.is_some_and(|(l, h)| l.len() != self.plan.values || h.len() != self.plan.values)
        {
            return Err(BoundError::Shape);
        }
        let caps = within.map(|(lo, hi)| Caps::Within { lo, hi });
        self.sweep(g, x_lo, x_hi, splits, cfg, &mut Saves::default(), from, caps, keep_going)
    }

    /// [`Workspace::node_bounds`] that asks `keep_going` before each node's CROWN pass and stops
    /// with [`BoundError::Interrupted`] when it says no (a large model's root bound can take long).
    #[allow(clippy::too_many_arguments)]
    pub fn node_bounds_until(
        &mut self,
        g: &Graph<'_, T>,
        x_lo: &[T],
        x_hi: &[T],
        splits: &[Split<T>],
        cfg: &Config,
        saves: &mut Saves<'_, T>,
        keep_going: &mut dyn FnMut() -> bool,
    ) -> Result<bool, BoundError> {
        self.sweep(g, x_lo, x_hi, splits, cfg, saves, 0, None, keep_going)
    }

    /// [`Workspace::node_bounds_until`] on a box inside a domain already bounded, without
    /// splits: every node that gets a CROWN pass has its interval intersected with `caps` (the
    /// domain's intervals, from [`Workspace::save_caps`]). The caller guarantees that `caps`
    /// enclose the node values over this box; then the result is as sound and never looser than
    /// the caps, whereas CROWN alone on a smaller box can be much looser than on the larger one
    /// (its relaxations change with the intervals: ACAS Xu 4_9 property 3 bounds `Y_0` within
    /// `[-8.5, 38]` on the box and `[-32, 97]` on the upper half of `X_3`).
    ///
    /// `crown = false` skips the CROWN passes: right when `caps` were saved from this very box
    /// (the IBP sweep then reproduces the same intervals and relaxations at a fraction of the
    /// cost).
    #[allow(clippy::too_many_arguments)]
    pub fn node_bounds_capped(
        &mut self,
        g: &Graph<'_, T>,
        x_lo: &[T],
        x_hi: &[T],
        cfg: &Config,
        caps: &[T],
        crown: bool,
        keep_going: &mut dyn FnMut() -> bool,
    ) -> Result<bool, BoundError> {
        let caps = Some(Caps::Crown { buf: caps, crown });
        self.sweep(g, x_lo, x_hi, &[], cfg, &mut Saves::default(), 0, caps, keep_going)
    }

    /// Save the intervals of the nodes that get a CROWN pass (lower ends, then upper ends, in
    /// node order; [`caps_len`] scalars) after a bounding run: the caps of any box inside this
    /// one (see [`Workspace::node_bounds_capped`]).
    pub fn save_caps(&self, g: &Graph<'_, T>, buf: &mut [T]) -> Result<(), BoundError> {
        let half = caps_len(g) / 2;
        if buf.len() != 2 * half {
            return Err(BoundError::Shape);
        }
        let (lo, hi) = buf.split_at_mut(half);
        let mut c = 0;
        for id in 0..g.nodes.len() as NodeId {
            if needs_crown(g, id) {
                let (o, n) = (g.offset(id), g.nodes[id as usize].len as usize);
                lo[c..c + n].copy_from_slice(&self.lo[o..o + n]);
                hi[c..c + n].copy_from_slice(&self.hi[o..o + n]);
                c += n;
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn sweep(
        &mut self,
        g: &Graph<'_, T>,
        x_lo: &[T],
        x_hi: &[T],
        splits: &[Split<T>],
        cfg: &Config,
        saves: &mut Saves<'_, T>,
        from: NodeId,
        caps: Option<Caps<'_, T>>,
        keep_going: &mut dyn FnMut() -> bool,
    ) -> Result<bool, BoundError> {
        self.epoch = self.epoch.wrapping_add(1);
        self.check_plan(g)?;
        // The graph scans (`caps_len`, `needs_crown`) only where CROWN passes or caps are wanted:
        // on the device's forward engines they were a tenth of a bound.
        let capped = matches!(caps, Some(Caps::Crown { .. }));
        let half = if capped { caps_len(g) / 2 } else { 0 };
        if let Some(Caps::Crown { buf, .. }) = &caps
            && buf.len() != 2 * half
        {
            return Err(BoundError::Shape);
        }
        let crown_pass =
            cfg.method == Method::Crown && !matches!(caps, Some(Caps::Crown { crown: false, .. }));
        // Forward modes carry every node's linear bounds from the input on, so they start there.
        let last_fwd = if matches!(cfg.method, Method::Forward | Method::Zonotope) {
            if from > 0 || self.fwd.is_empty() || x_lo.len() != g.input_len() || x_hi.len() != x_lo.len() {
                return Err(BoundError::Shape);
            }
            forward::fill_box(self.fwd, x_lo, x_hi)?;
            forward::last_node(g)
        } else {
            0
        };
        let mut zono =
            zonotope::Budget::new(g, if cfg.method == Method::Zonotope { self.plan.symbols } else { 0 });
        let mut cap_at = 0;
        if x_lo.len() != g.input_len() || x_hi.len() != g.input_len() {
            return Err(BoundError::Shape);
        }
        let mut off = 0usize;
        let mut lb = 0usize;
        for (i, node) in g.nodes.iter().enumerate() {
            let id = i as NodeId;
            let len = node.len as usize;
            let node_lb = lb;
            lb += line_stride(&node.op) * len;
            if id < from {
                off += len;
                continue;
            }
            if i == 0 {
                self.lo[..len].copy_from_slice(x_lo);
                self.hi[..len].copy_from_slice(x_hi);
                for (l, h) in x_lo.iter().zip(x_hi) {
                    if !l.is_usable() || !h.is_usable() || l > h {
                        return Err(BoundError::Shape);
                    }
                }
                self.aux[..len].fill(T::ZERO);
                self.consts[0] = T::ZERO;
            } else {
                // A zonotope tightens a linear node's interval right after, far below IBP's on the
                // small boxes it is for, so IBP gives only a magnitude bound there (one product
                // per weight instead of four), and a smooth function on a narrow interval the cheap
                // Taylor lines.
                let coarse = cfg.method == Method::Zonotope && id <= last_fwd;
                self.ibp_node(g, id, off, node_lb, cfg, coarse)?;
                if id <= last_fwd {
                    if cfg.method == Method::Zonotope {
                        self.zonotope_node(g, id, off, node_lb, x_lo, x_hi, &mut zono)?;
                    } else {
                        self.forward_node(g, id, off, node_lb, x_lo, x_hi)?;
                    }
                }
                if (crown_pass || capped) && needs_crown(g, id) {
                    if crown_pass {
                        self.crown_node(g, id, off, cfg, saves, keep_going)?;
                    }
                    if let Some(Caps::Crown { buf, .. }) = &caps {
                        let (lo, hi) = (&buf[cap_at..cap_at + len], &buf[half + cap_at..half + cap_at + len]);
                        self.intersect(off, lo, hi);
                        cap_at += len;
                    }
                } else if crown_pass && records_shortcuts(saves, id) {
                    // A node branching may split whose interval needs no CROWN pass (a plain
                    // function of the input, whose IBP interval is already exact, or a repeating
                    // index op, whose interval is its operand's): its linear bounds are wanted all
                    // the same (the root's BBPS shortcuts).
                    self.crown_node(g, id, off, cfg, saves, keep_going)?;
                }
                if let Some(Caps::Within { lo, hi }) = &caps {
                    self.intersect(off, &lo[off..off + len], &hi[off..off + len]);
                }
            }
            for s in splits.iter().filter(|s| s.node == id) {
                let k = off + s.idx as usize;
                if s.idx as usize >= len {
                    return Err(BoundError::Shape);
                }
                if s.upper {
                    self.hi[k] = self.hi[k].min_of(s.point);
                } else {
                    self.lo[k] = self.lo[k].max_of(s.point);
                }
            }
            for k in off..off + len {
                if !self.lo[k].is_usable() || !self.hi[k].is_usable() {
                    return Err(BoundError::Numeric);
                }
                if self.lo[k] > self.hi[k] {
                    return Ok(false);
                }
            }
            off += len;
        }
        Ok(true)
    }

    /// Intersect the intervals from value offset `off` on with `[lo, hi]`.
    fn intersect(&mut self, off: usize, lo: &[T], hi: &[T]) {
        for (k, (&l, &h)) in (off..off + lo.len()).zip(lo.iter().zip(hi)) {
            self.lo[k] = self.lo[k].max_of(l);
            self.hi[k] = self.hi[k].min_of(h);
        }
    }

    /// IBP for node `id` from its inputs' intervals, plus its deployed evaluation error; also
    /// fills the node's slack vector and relaxation cache ([`ops::ibp`]).
    fn ibp_node(
        &mut self,
        g: &Graph<'_, T>,
        id: NodeId,
        off: usize,
        lb: usize,
        cfg: &Config,
        coarse: bool,
    ) -> Result<(), BoundError> {
        let node = g.nodes[id as usize];
        let len = node.len as usize;
        let (lo, lo_out) = self.lo.split_at_mut(off);
        let (hi, hi_out) = self.hi.split_at_mut(off);
        let aux = &mut self.aux[off..off + len];
        aux.fill(T::ZERO);
        let konst = &mut self.consts[id as usize];
        *konst = T::ZERO;
        let mut cx = IbpCx {
            lo,
            hi,
            out_lo: &mut lo_out[..len],
            out_hi: &mut hi_out[..len],
            aux,
            konst,
            lines: &mut self.lines[lb..lb + line_stride(&node.op) * len],
            deploy: cfg.deploy,
            coarse,
            scratch: &mut self.a[..],
        };
        ops::ibp(g, &node, &mut cx)
    }

    /// Scalars of a snapshot of the node bounds and relaxation cache ([`Workspace::save`]).
    pub const fn snapshot_len(plan: &Plan) -> usize {
        3 * plan.values + plan.lines + plan.nodes
    }

    /// Save node intervals, slacks and relaxations (e.g. the root's) into `buf`.
    pub fn save(&self, buf: &mut [T]) -> Result<(), BoundError> {
        let v = self.plan.values;
        if buf.len() < Self::snapshot_len(&self.plan) {
            return Err(BoundError::Shape);
        }
        let (a, r) = buf.split_at_mut(v);
        let (b, r) = r.split_at_mut(v);
        let (c, r) = r.split_at_mut(v);
        let (d, r) = r.split_at_mut(self.plan.lines);
        a.copy_from_slice(self.lo);
        b.copy_from_slice(self.hi);
        c.copy_from_slice(self.aux);
        d.copy_from_slice(self.lines);
        r[..self.plan.nodes].copy_from_slice(self.consts);
        Ok(())
    }

    /// Restore what [`Workspace::save`] stored.
    pub fn restore(&mut self, buf: &[T]) -> Result<(), BoundError> {
        self.epoch = self.epoch.wrapping_add(1);
        let v = self.plan.values;
        if buf.len() < Self::snapshot_len(&self.plan) {
            return Err(BoundError::Shape);
        }
        self.lo.copy_from_slice(&buf[..v]);
        self.hi.copy_from_slice(&buf[v..2 * v]);
        self.aux.copy_from_slice(&buf[2 * v..3 * v]);
        let w = 3 * v + self.plan.lines;
        self.lines.copy_from_slice(&buf[3 * v..w]);
        self.consts.copy_from_slice(&buf[w..w + self.plan.nodes]);
        Ok(())
    }

    /// Apply activation splits to restored (root) bounds *without* recomputing other nodes: clamp
    /// each split element and re-relax the ops that read it. Sound because every other interval
    /// is the root's, a superset of the domain's. Returns `Ok(false)` if a clamp empties the
    /// domain.
    pub fn apply_splits_fixed(&mut self, g: &Graph<'_, T>, splits: &[Split<T>]) -> Result<bool, BoundError> {
        self.epoch = self.epoch.wrapping_add(1);
        for s in splits {
            let z = s.node as usize;
            if z >= g.nodes.len() || s.idx >= g.nodes[z].len {
                return Err(BoundError::Shape);
            }
            let k = g.offset(s.node) + s.idx as usize;
            if s.upper {
                self.hi[k] = self.hi[k].min_of(s.point);
            } else {
                self.lo[k] = self.lo[k].max_of(s.point);
            }
            if !(self.lo[k] <= self.hi[k]) {
                return Ok(false);
            }
        }
        for s in splits {
            let mut lb = 0;
            for node in g.nodes.iter() {
                let n = line_stride(&node.op) * node.len as usize;
                let lines = &mut self.lines[lb..lb + n];
                ops::rerelax(g, node, s.node, s.idx as usize, (&self.lo[..], &self.hi[..]), lines)?;
                lb += n;
            }
        }
        Ok(true)
    }

    /// Tighten node `id`'s interval by CROWN (identity rows in chunks, both signs).
    fn crown_node(
        &mut self,
        g: &Graph<'_, T>,
        id: NodeId,
        off: usize,
        cfg: &Config,
        saves: &mut Saves<'_, T>,
        keep_going: &mut dyn FnMut() -> bool,
    ) -> Result<(), BoundError> {
        let len = g.nodes[id as usize].len as usize;
        let d = g.input_len();
        const CAP: usize = 64;
        let cap = self.plan.chunk.min(CAP);
        // Rows whose result cannot matter are skipped: an element read only by ReLUs whose
        // interval is already `≤ 0` has the ReLU output `[0, 0]` whatever CROWN finds, so
        // bounds are unchanged (the same is *not* true of stable-active elements: their tighter
        // intervals feed the next node's IBP, and skipping them cost ACAS Xu 10× the domains).
        // Not when BBPS records this node's shortcuts (it reads every row).
        let records = records_shortcuts(saves, id);
        let relu_only = !records && relu_only_consumers(g, id);
        let skip = |hi: T| relu_only && hi <= T::ZERO;
        for upper in [false, true] {
            let mut k = 0;
            while k < len {
                if !keep_going() {
                    return Err(BoundError::Interrupted);
                }
                let mut idx = [0usize; CAP];
                let mut rows = 0;
                while k < len && rows < cap {
                    if !skip(self.hi[off + k]) {
                        idx[rows] = k;
                        rows += 1;
                    }
                    k += 1;
                }
                if rows == 0 {
                    break;
                }
                let init = |a: &mut [T]| {
                    a.fill(T::ZERO);
                    for r in 0..rows {
                        a[r * len + idx[r]] = if upper { T::ONE.neg() } else { T::ONE };
                    }
                };
                let mut sc_buf = None;
                if let Some((buf, offs)) = saves.shortcuts.as_mut()
                    && let Some(&o) = offs.get(id as usize)
                    && o != usize::MAX
                {
                    sc_buf = Some((&mut **buf, o));
                }
                let mut input_save = sc_buf.map(|(buf, o)| {
                    // Layout: lower rows [len × (d+1)] then upper rows.
                    let base = o + if upper { len * (d + 1) } else { 0 } + idx[0] * (d + 1);
                    (&mut buf[base..base + rows * (d + 1)], upper)
                });
                self.backward(g, id, rows, init, cfg, None, input_save.as_mut(), (&[], &[]), None)?;
                for (r, &e) in idx[..rows].iter().enumerate() {
                    let v = self.res[r];
                    if upper {
                        self.hi[off + e] = self.hi[off + e].min_of(v.neg());
                    } else {
                        self.lo[off + e] = self.lo[off + e].max_of(v);
                    }
                }
            }
        }
        Ok(())
    }

    /// Lower bounds of `rows·y` (rows: `m × output_len`, row-major) into `out` (m values), after
    /// [`Workspace::node_bounds`]. With IBP, the interval concretisation; with CROWN, the better of
    /// that and a backward pass.
    pub fn output_lower(
        &mut self,
        g: &Graph<'_, T>,
        rows: &[T],
        out: &mut [T],
        cfg: &Config,
        saves: &mut Saves<'_, T>,
    ) -> Result<(), BoundError> {
        self.output_lower_beta(g, rows, out, cfg, saves, &[], &[])
    }

    /// [`Workspace::output_lower`] with split multipliers (β-CROWN, generalised to arbitrary split
    /// points, notes §1.4): for split `i` with `β_i ≥ 0`, the valid inequality `s_i·(z − p_i) ≥ 0`
    /// of the domain is added to the objective as `−β_i·s_i·(z − p_i)`, so the bound can use the
    /// split constraints on the input box. Any `β ≥ 0` gives a sound bound (negative entries are
    /// treated as 0); only the tightness depends on the choice.
    #[allow(clippy::too_many_arguments)]
    pub fn output_lower_beta(
        &mut self,
        g: &Graph<'_, T>,
        rows: &[T],
        out: &mut [T],
        cfg: &Config,
        saves: &mut Saves<'_, T>,
        splits: &[Split<T>],
        beta: &[T],
    ) -> Result<(), BoundError> {
        self.check_plan(g)?;
        let n = g.output_len();
        let m = out.len();
        if rows.len() != m * n {
            return Err(BoundError::Shape);
        }
        if let Some(buf) = saves.elem_a.as_deref()
            && (m != 1 || buf.len() < self.plan.lines)
        {
            return Err(BoundError::Shape);
        }
        if let Some(buf) = saves.input_a.as_deref()
            && buf.len() < m * g.input_len()
        {
            return Err(BoundError::Shape);
        }
        let oo = g.offset(g.output);
        for (r, o) in out.iter_mut().enumerate() {
            let mut s = T::ZERO;
            for (j, &c) in rows[r * n..(r + 1) * n].iter().enumerate() {
                let t = if c >= T::ZERO { c.mul_down(self.lo[oo + j]) } else { c.mul_down(self.hi[oo + j]) };
                s = s.add_down(t);
            }
            *o = s;
        }
        if !cfg.method.linear_output() {
            return Ok(());
        }
        let d = g.input_len();
        let chunk = self.plan.chunk;
        let mut start = 0;
        while start < m {
            let cnt = chunk.min(m - start);
            let init = |a: &mut [T]| {
                a[..cnt * n].copy_from_slice(&rows[start * n..(start + cnt) * n]);
            };
            let target = saves.output_a.as_mut().and_then(|(buf, t)| {
                if *t >= start && *t < start + cnt { Some((&mut **buf, *t - start)) } else { None }
            });
            let mut input_save = saves.input_a.as_mut().map(|buf| {
                let w = if buf.len() == m * (d + 1) { d + 1 } else { d };
                (&mut buf[start * w..(start + cnt) * w], false)
            });
            let elem_a = saves.elem_a.as_deref_mut();
            self.backward(g, g.output, cnt, init, cfg, target, input_save.as_mut(), (splits, beta), elem_a)?;
            for r in 0..cnt {
                let v = self.res[r];
                if !v.is_usable() {
                    return Err(BoundError::Numeric);
                }
                out[start + r] = out[start + r].max_of(v);
            }
            start += cnt;
        }
        Ok(())
    }

    /// The lower bound of `z_k` (`upper`: of `−z_k`, i.e. minus an upper bound of `z_k`) by one
    /// backward pass from node `z` with the cached relaxations, never looser than the node's
    /// interval; records, like a one-row output pass, the input coefficients (`saves.input_a`,
    /// `d` or `d + 1` scalars) and every relaxed element's coefficient (`saves.elem_a`). After a
    /// bounding run; sound for whatever sound lines are cached (α-CROWN's intermediate bounds).
    pub fn element_lower(
        &mut self,
        g: &Graph<'_, T>,
        z: NodeId,
        k: usize,
        upper: bool,
        cfg: &Config,
        saves: &mut Saves<'_, T>,
    ) -> Result<T, BoundError> {
        self.check_plan(g)?;
        let len = g.nodes.get(z as usize).map_or(0, |n| n.len as usize);
        if k >= len || saves.elem_a.as_deref().is_some_and(|b| b.len() < self.plan.lines) {
            return Err(BoundError::Shape);
        }
        let o = g.offset(z) + k;
        let ibp = if upper { self.hi[o].neg() } else { self.lo[o] };
        if !cfg.method.linear_output() {
            return Ok(ibp);
        }
        let init = |a: &mut [T]| {
            a[..len].fill(T::ZERO);
            a[k] = if upper { T::ONE.neg() } else { T::ONE };
        };
        let d = g.input_len();
        let mut input_save = saves.input_a.as_mut().and_then(|buf| {
            let w = if buf.len() > d { d + 1 } else { d };
            buf.get_mut(..w).map(|b| (b, false))
        });
        let elem_a = saves.elem_a.as_deref_mut();
        self.backward(g, z, 1, init, cfg, None, input_save.as_mut(), (&[], &[]), elem_a)?;
        let v = self.res[0];
        if !v.is_usable() {
            return Err(BoundError::Numeric);
        }
        Ok(v.max_of(ibp))
    }

    /// Tighten element `k` of node `z` with a lower bound `v` of `z_k` (`upper`: of `−z_k`).
    /// Returns `Ok(false)` if the interval becomes empty (the box holds no point), `Err` for an
    /// unusable bound. Every cached relaxation stays sound (it was built on a superset), so the
    /// cache's stamp is kept; the caller recomputes the nodes after `z`
    /// ([`Workspace::node_bounds_from`]) to tighten them with the new interval.
    pub fn tighten(
        &mut self,
        g: &Graph<'_, T>,
        z: NodeId,
        k: usize,
        upper: bool,
        v: T,
    ) -> Result<bool, BoundError> {
        let len = g.nodes.get(z as usize).map_or(0, |n| n.len as usize);
        if k >= len || !v.is_usable() {
            return Err(BoundError::Shape);
        }
        let o = g.offset(z) + k;
        if upper {
            self.hi[o] = self.hi[o].min_of(v.neg());
        } else {
            self.lo[o] = self.lo[o].max_of(v);
        }
        Ok(self.lo[o] <= self.hi[o])
    }

    /// One backward pass from node `s` with `rows` rows initialised by `init` (a `rows × len(s)`
    /// block). Leaves each row's lower bound in `res`. Optionally records the coefficients of row
    /// `target` at every node's output, and the coefficients (and constant) at the input.
    #[allow(clippy::too_many_arguments)]
    fn backward(
        &mut self,
        g: &Graph<'_, T>,
        s: NodeId,
        rows: usize,
        init: impl FnOnce(&mut [T]),
        cfg: &Config,
        mut target: Option<(&mut [T], usize)>,
        input_save: Option<&mut (&mut [T], bool)>,
        (splits, beta): (&[Split<T>], &[T]),
        mut elem_a: Option<&mut [T]>,
    ) -> Result<(), BoundError> {
        let _ = cfg;
        let v = self.plan.values;
        let chunk = self.plan.chunk;
        debug_assert!(rows <= chunk);
        let two_u = T::from_f64_up(2.0 * T::REL_ERR * 1.000_001);
        self.touched[..=s as usize].fill(false);
        if let Some((buf, _)) = target.as_mut() {
            buf[..v].fill(T::ZERO);
        }
        self.bias[..rows].fill(T::ZERO);
        if let Some(buf) = elem_a.as_deref_mut() {
            buf[..self.plan.lines].fill(T::ZERO);
        }
        let s_len = g.nodes[s as usize].len as usize;
        let s_off = g.offset(s);
        // Blocks: node n's coefficients live at chunk·offset(n), row-major rows × len(n).
        {
            let blk = &mut self.a[chunk * s_off..chunk * s_off + rows * s_len];
            init(blk);
        }
        self.touched[s as usize] = true;
        let mut off_n = s_off + s_len;
        let mut lb_n = line_base(g, s as usize + 1);
        for n in (0..=s as usize).rev() {
            let node = g.nodes[n];
            let len = node.len as usize;
            off_n -= len;
            lb_n -= line_stride(&node.op) * len;
            if !self.touched[n] {
                continue;
            }
            let bn = chunk * off_n;
            // Record the target row's coefficients at this node's output.
            if let Some((buf, t)) = target.as_mut() {
                buf[off_n..off_n + len].copy_from_slice(&self.a[bn + *t * len..bn + (*t + 1) * len]);
            }
            // Split multipliers on this node: A[idx] −= β·s, bias += β·s·p (s = +1 for z ≥ p).
            for (sp, &b) in splits.iter().zip(beta) {
                if sp.node as usize != n || !(b > T::ZERO) || sp.idx as usize >= len {
                    continue;
                }
                let k = off_n + sp.idx as usize;
                let m = self.lo[k].abs().max_of(self.hi[k].abs());
                for r in 0..rows {
                    let dst = &mut self.a[bn + r * len + sp.idx as usize];
                    let t = if sp.upper { b } else { b.neg() };
                    *dst = dst.add(t);
                    let err = two_u.mul_up(dst.abs().add_up(t.abs()));
                    let c = if sp.upper { b.mul_up(sp.point).neg() } else { b.mul_down(sp.point) };
                    self.bias[r] = self.bias[r].add_down(c).sub_down(err.mul_up(m));
                }
            }
            // Own slack: deployed error and (for affine) coefficient error, Σ|A_k|·aux_k.
            if self.aux[off_n..off_n + len].iter().any(|e| *e != T::ZERO) || self.consts[n] != T::ZERO {
                let k_err = SumErr::new(len);
                let aux = &self.aux[off_n..off_n + len];
                for r in 0..rows {
                    let arow = &self.a[bn + r * len..bn + (r + 1) * len];
                    let sl = k_err.abs_dot_up(arow, |k| aux[k]).add_up(self.consts[n]);
                    self.bias[r] = self.bias[r].sub_down(sl);
                }
            }
            match node.op {
                Op::Input => {
                    for r in 0..rows {
                        let mut acc = self.bias[r];
                        for k in 0..len {
                            let a = self.a[bn + r * len + k];
                            let t =
                                if a >= T::ZERO { a.mul_down(self.lo[k]) } else { a.mul_down(self.hi[k]) };
                            acc = acc.add_down(t);
                        }
                        self.res[r] = acc;
                    }
                    if let Some((buf, negate)) = input_save {
                        // Coefficients then the constant, per row; for an upper-bound pass (rows
                        // are −e_k) store the negation so the saved line reads z ≤ U x + c.
                        let with_const = buf.len() == rows * (len + 1);
                        let w = if with_const { len + 1 } else { len };
                        for r in 0..rows {
                            for k in 0..len {
                                let a = self.a[bn + r * len + k];
                                buf[r * w + k] = if *negate { a.neg() } else { a };
                            }
                            if with_const {
                                buf[r * w + len] = if *negate { self.bias[r].neg() } else { self.bias[r] };
                            }
                        }
                    }
                    return Ok(());
                }
                _ => {
                    let nl = line_stride(&node.op) * len;
                    let ea = elem_a.as_deref_mut().map(|b| &mut b[lb_n..lb_n + nl]);
                    let mut cx = self.back_cx(bn, (rows, len), lb_n..lb_n + nl, ea);
                    ops::backward(g, &node, &mut cx)?;
                }
            }
        }
        Err(BoundError::Shape)
    }
}

impl<T: Scalar> Workspace<'_, T> {
    /// What one backward step of a node gets: the coefficient blocks before its own (which
    /// starts at `bn`), its `rows × len` rows, their biases, every interval, its relaxation lines
    /// (`lines` in the cache) and, for α-CROWN, where to record its elements' coefficients.
    fn back_cx<'s>(
        &'s mut self,
        bn: usize,
        (rows, len): (usize, usize),
        lines: core::ops::Range<usize>,
        elem_a: Option<&'s mut [T]>,
    ) -> BackCx<'s, T> {
        let (head, tail) = self.a.split_at_mut(bn);
        BackCx {
            a: head,
            own: &tail[..rows * len],
            len,
            chunk: self.plan.chunk,
            rows,
            touched: &mut self.touched[..],
            bias: &mut self.bias[..rows],
            lo: &self.lo[..],
            hi: &self.hi[..],
            lines: &self.lines[lines],
            elem_a,
        }
    }
}

/// Whether the run records node `id`'s linear bounds (BBPS shortcuts).
fn records_shortcuts<T>(saves: &Saves<'_, T>, id: NodeId) -> bool {
    saves.shortcuts.as_ref().is_some_and(|(_, o)| o.get(id as usize).is_some_and(|&o| o != usize::MAX))
}

/// Whether every reader of node `id` is a ReLU (and `id` is not the output).
fn relu_only_consumers<T: Scalar>(g: &Graph<'_, T>, id: NodeId) -> bool {
    if id == g.output {
        return false;
    }
    g.nodes[id as usize + 1..].iter().all(|n| {
        let ins = n.op.inputs(g.indices);
        let reads = (0..ins.len()).any(|k| ins.get(k) == id);
        !reads || matches!(n.op, Op::Unary { f: Unary::Relu, .. })
    })
}

/// A node gets a CROWN pass when it feeds a nonlinearity (directly or through copying index ops)
/// and is not a plain function of the input, unless it is itself a copying index op. An index op's
/// interval is a copy of its operands' (IBP), so where it repeats them (a Concat, or a Gather at
/// least as long as its operand: attention repeats each query and key element once per token),
/// tightening the operand once serves every copy with fewer rows. A shorter Gather (a selection,
/// e.g. a few outputs of a wide layer) keeps its own pass: its operand would cost more rows.
pub(crate) fn needs_crown<T: Scalar>(g: &Graph<'_, T>, id: NodeId) -> bool {
    let op = &g.nodes[id as usize].op;
    if copies_operands(g, id) || !feeds_nonlinear(g, id, 4) {
        return false;
    }
    let ins = op.inputs(g.indices);
    !(0..ins.len()).all(|k| ins.get(k) == 0)
}

/// Whether a nonlinearity reads node `id`, directly or through at most `depth` copying index ops
/// (beyond that depth the answer is yes: an extra CROWN pass is only work, never unsound).
fn feeds_nonlinear<T: Scalar>(g: &Graph<'_, T>, id: NodeId, depth: u32) -> bool {
    g.nodes[id as usize + 1..].iter().enumerate().any(|(i, n)| {
        let nid = id + 1 + i as NodeId;
        let ins = n.op.inputs(g.indices);
        let reads = (0..ins.len()).any(|k| ins.get(k) == id);
        reads
            && (ops::relaxes(&n.op)
                || (copies_operands(g, nid) && (depth == 0 || feeds_nonlinear(g, nid, depth - 1))))
    })
}

/// Convenience: interval bounds of every output over a box, via `node_bounds` + `output_lower`
/// on `±I`. `lo`/`hi` receive `output_len` values each; `rows` is scratch of `output_len²`.
#[allow(clippy::too_many_arguments)]
pub fn output_bounds<T: Scalar>(
    ws: &mut Workspace<'_, T>,
    g: &Graph<'_, T>,
    x_lo: &[T],
    x_hi: &[T],
    cfg: &Config,
    rows: &mut [T],
    lo: &mut [T],
    hi: &mut [T],
) -> Result<(), BoundError> {
    let n = g.output_len();
    if rows.len() < n * n || lo.len() != n || hi.len() != n {
        return Err(BoundError::Shape);
    }
    if !ws.node_bounds(g, x_lo, x_hi, &[], cfg, &mut Saves::default())? {
        return Err(BoundError::Numeric);
    }
    let rows = &mut rows[..n * n];
    rows.fill(T::ZERO);
    for k in 0..n {
        rows[k * n + k] = T::ONE;
    }
    ws.output_lower(g, rows, lo, cfg, &mut Saves::default())?;
    for k in 0..n {
        rows[k * n + k] = T::ONE.neg();
    }
    ws.output_lower(g, rows, hi, cfg, &mut Saves::default())?;
    for h in hi.iter_mut() {
        *h = h.neg();
    }
    Ok(())
}
