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

use crate::graph::{Graph, GraphError, NodeId, Op, Unary, broadcast};
use crate::num::{Scalar, gamma};
use crate::ops::linear::Map;
use crate::relax::{self, RelaxError};

/// Which engine bounds the nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Method {
    /// Interval bound propagation only (cheap, loose).
    Ibp,
    /// CROWN for every nonlinearity's input and for the output (IBP intersected in).
    Crown,
}

/// The arithmetic of the deployed network, whose computed values the bounds must enclose.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Deploy {
    /// Unit roundoff (relative error of one rounded operation).
    pub rel: f64,
    /// Absolute error of one product near zero (underflow).
    pub abs: f64,
}

impl Deploy {
    /// IEEE binary32 with round-to-nearest: what ONNX float models and the Cortex-M4F compute.
    /// (`abs` is 2^-100 rather than the least subnormal: as sound, and it keeps the error terms
    /// normal, see [`Scalar::ABS_ERR`].)
    pub const F32: Deploy = Deploy { rel: 5.960_464_477_539_063e-8, abs: 7.888_609_052_210_118e-31 };
    /// Real arithmetic (for models whose deployed evaluation is exact or not of interest).
    pub const EXACT: Deploy = Deploy { rel: 0.0, abs: 0.0 };
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

/// Why bounds could not be computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum BoundError {
    /// The graph is invalid.
    Graph(GraphError),
    /// A relaxation failed (domain violation such as log of a negative interval, or overflow).
    Relax(RelaxError),
    /// A buffer is smaller than the plan, or the box/rows do not match the model.
    Shape,
    /// A bound became NaN, infinite or overflowed (fixed point): the result would be meaningless.
    Numeric,
    /// The caller's interrupt hook asked to stop (time budget).
    Interrupted,
}

impl From<GraphError> for BoundError {
    fn from(e: GraphError) -> Self {
        BoundError::Graph(e)
    }
}
impl From<RelaxError> for BoundError {
    fn from(e: RelaxError) -> Self {
        BoundError::Relax(e)
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
}

impl Plan {
    /// The plan for `nodes` nodes with `values` scalars in all and `lines` relaxation-cache
    /// scalars ([`line_stride`] per element), processing `chunk` rows at once. A `const fn`, so a
    /// baked model's buffer sizes are compile-time constants.
    pub const fn from_sizes(nodes: usize, values: usize, lines: usize, chunk: usize) -> Plan {
        Plan { nodes, values, lines, chunk: if chunk == 0 { 1 } else { chunk } }
    }
    /// The plan for a graph.
    pub fn new<T: Scalar>(g: &Graph<'_, T>, chunk: usize) -> Result<Plan, GraphError> {
        g.validate()?;
        Ok(Plan::from_sizes(g.nodes.len(), g.total_len(), line_base(g, g.nodes.len()), chunk))
    }
    /// Scalars the workspace needs: bounds (2V), slack (V), relaxation cache (`lines`), per-node
    /// constants (N), backward coefficients (chunk·V) and per-row bias and results (2·chunk).
    pub const fn scalars(&self) -> usize {
        3 * self.values + self.lines + self.nodes + self.chunk * (self.values + 2)
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
    touched: &'w mut [bool],
    validated: Option<[usize; 7]>,
    /// Bumped whenever the node bounds or the relaxation cache are recomputed or restored, so a
    /// copy of the cache taken earlier (α-CROWN's starting point) can be recognised as stale.
    epoch: u64,
}

/// Identity of a graph's arrays (addresses and lengths) and output.
/// Relaxation-cache scalars per element of a node with op `op`: two lines for a unary op, two
/// planes for a product (per term of a matrix product), nothing for linear ops.
pub const fn line_stride(op: &Op) -> usize {
    match op {
        Op::Unary { .. } => 4,
        Op::Mul { .. } => 6,
        // Two planes per product term, `k` terms per output element.
        Op::MatMul { k, .. } => 6 * *k as usize,
        _ => 0,
    }
}

/// Offset of node `id`'s block in the relaxation cache (the cache's size for `id = nodes`).
pub fn line_base<T>(g: &Graph<'_, T>, id: usize) -> usize {
    g.nodes[..id].iter().map(|n| line_stride(&n.op) * n.len as usize).sum()
}

fn fingerprint<T>(g: &Graph<'_, T>) -> [usize; 7] {
    [
        g.nodes.as_ptr() as usize,
        g.nodes.len(),
        g.weights.as_ptr() as usize,
        g.weights.len(),
        g.indices.as_ptr() as usize,
        g.indices.len(),
        g.output as usize,
    ]
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
struct Caps<'c, T> {
    buf: &'c [T],
    crown: bool,
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
        let (res, _) = r.split_at_mut(plan.chunk);
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
        let id = fingerprint(g);
        if self.validated == Some(id) {
            return Ok(());
        }
        g.validate()?;
        if g.nodes.len() != self.plan.nodes
            || g.total_len() != self.plan.values
            || line_base(g, g.nodes.len()) != self.plan.lines
        {
            return Err(BoundError::Shape);
        }
        self.validated = Some(id);
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
    #[allow(clippy::too_many_arguments)]
    pub fn node_bounds_from(
        &mut self,
        g: &Graph<'_, T>,
        x_lo: &[T],
        x_hi: &[T],
        splits: &[Split<T>],
        cfg: &Config,
        from: NodeId,
        keep_going: &mut dyn FnMut() -> bool,
    ) -> Result<bool, BoundError> {
        if splits.iter().any(|s| s.node < from) {
            return Err(BoundError::Shape);
        }
        self.sweep(g, x_lo, x_hi, splits, cfg, &mut Saves::default(), from, None, keep_going)
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
        let caps = Some(Caps { buf: caps, crown });
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
        let half = caps_len(g) / 2;
        if caps.as_ref().is_some_and(|c| c.buf.len() != 2 * half) {
            return Err(BoundError::Shape);
        }
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
                self.ibp_node(g, id, off, node_lb, cfg)?;
                if needs_crown(g, id) {
                    if cfg.method == Method::Crown && caps.as_ref().is_none_or(|c| c.crown) {
                        self.crown_node(g, id, off, cfg, saves, keep_going)?;
                    }
                    if let Some(c) = &caps {
                        let (lo, hi) =
                            (&c.buf[cap_at..cap_at + len], &c.buf[half + cap_at..half + cap_at + len]);
                        for (k, (&l, &h)) in (off..off + len).zip(lo.iter().zip(hi)) {
                            self.lo[k] = self.lo[k].max_of(l);
                            self.hi[k] = self.hi[k].min_of(h);
                        }
                        cap_at += len;
                    }
                } else if cfg.method == Method::Crown
                    && copies_operands(g, id)
                    && records_shortcuts(saves, id)
                {
                    // A repeating index op that branching may split: its linear bounds are wanted
                    // (the root's BBPS shortcuts), though its interval is its operand's.
                    self.crown_node(g, id, off, cfg, saves, keep_going)?;
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

    /// IBP for node `id` from its inputs' intervals, plus its deployed evaluation error; also
    /// fills the node's slack vector and relaxation cache.
    fn ibp_node(
        &mut self,
        g: &Graph<'_, T>,
        id: NodeId,
        off: usize,
        lb: usize,
        cfg: &Config,
    ) -> Result<(), BoundError> {
        let node = g.nodes[id as usize];
        let len = node.len as usize;
        let u_dep = cfg.deploy.rel;
        let eta_dep = cfg.deploy.abs;
        self.consts[id as usize] = T::ZERO;
        let mag = |lo: &[T], hi: &[T], j: usize| lo[j].abs().max_of(hi[j].abs());
        match node.op {
            Op::Input => {}
            Op::Affine { .. } | Op::Conv { .. } => {
                let lin = g.linear(&node.op).ok_or(BoundError::Shape)?;
                let xo = g.offset(lin.x);
                let n_in = g.nodes[lin.x as usize].len as usize;
                // Terms of one row's dot product: all inputs (dense) or the kernel's taps (conv).
                let terms = lin.terms();
                // Error factors: our own coefficient products (γ over len+1 terms: no input's
                // backward coefficient sums more) and the deployed dot product (γ over terms+1).
                let g_own = T::from_f64_up(gamma(len + 1, T::REL_ERR));
                let g_dep = T::from_f64_up(gamma(terms + 1, u_dep));
                let eta_d = T::from_f64_up(eta_dep * (terms as f64 + 1.0));
                let mut msum = T::ZERO;
                for j in 0..n_in {
                    msum = msum.add_up(mag(self.lo, self.hi, xo + j));
                }
                self.consts[id as usize] = T::from_f64_up(T::ABS_ERR * len as f64 * 1.000_001).mul_up(msum);
                // Midpoint-radius form in plain arithmetic (vectorisable), its rounding bounded
                // a posteriori. With c_j = fl((l+h)/2), ρ̃_j = fl((h−l)/2), m_j = max|x_j|:
                // [l_j, h_j] ⊆ c_j ± (ρ̃_j + 2u·m_j + 2η), so the row's interval lies within
                // S_c ± S_r ± E for the float sums S_c = b + Σ w_j c_j, S_r = Σ |w_j| ρ̃_j,
                // R = Σ |w_j| m_j, W = Σ |w_j| and
                // E = G·(|b| + 3R + 2S_r) + (3W + 4n + 8)·η, G = 1.01·γ_{n+2} + 4u: the sums'
                // errors (γ_{n+1}(|b| + Σ|w_j c_j|), γ_n·Σ|w_j| ρ̃_j, nη each), |c_j| ≤ (1+u)m_j + η,
                // and the radius correction, with slack for the floats of R and S_r themselves
                // (n: the row's terms).
                let half = T::from_f64_near(0.5);
                let big_g = T::from_f64_up(1.01 * gamma(terms + 2, T::REL_ERR) + 4.0 * T::REL_ERR);
                let g_n = T::from_f64_up(gamma(terms + 1, T::REL_ERR));
                let eta = T::from_f64_up(T::ABS_ERR);
                let eta_n = T::from_f64_up(T::ABS_ERR * (4 * terms + 8) as f64);
                let (lo_in, lo_out) = self.lo.split_at_mut(off);
                let (hi_in, hi_out) = self.hi.split_at_mut(off);
                let (xl, xh) = (&lo_in[xo..xo + n_in], &hi_in[xo..xo + n_in]);
                for k in 0..len {
                    let bk = lin.bias(k);
                    let mut acc = MidRad { sc: bk, sr: T::ZERO, rr: T::ZERO, ws: T::ZERO };
                    match lin.map {
                        Map::Dense { w, cols } => {
                            for ((&wj, &l), &h) in w[k * cols..(k + 1) * cols].iter().zip(xl).zip(xh) {
                                acc.add(wj, l, h, half);
                            }
                        }
                        Map::Conv { w, geom } => geom.for_each_run(k, |j, i, n| {
                            for ((&wj, &l), &h) in w[i..i + n].iter().zip(&xl[j..j + n]).zip(&xh[j..j + n]) {
                                acc.add(wj, l, h, half);
                            }
                        }),
                    }
                    let MidRad { sc, sr, rr, ws } = acc;
                    // Upper bounds of the exact Σ|w_j| m_j and Σ|w_j|.
                    let r = rr.add_up(g_n.mul_up(rr)).add_up(eta_n);
                    let wsum = ws.add_up(g_n.mul_up(ws)).add_up(eta_n);
                    let big_e = big_g
                        .mul_up(
                            bk.abs()
                                .add_up(T::from_f64_near(3.0).mul_up(r))
                                .add_up(sr.abs().add_up(sr.abs())),
                        )
                        .add_up(T::from_f64_near(3.0).mul_up(wsum).mul_up(eta))
                        .add_up(eta_n);
                    let l = sc.sub_down(sr).sub_down(big_e);
                    let h = sc.add_up(sr).add_up(big_e);
                    let e = g_dep.mul_up(r.add_up(bk.abs())).add_up(eta_d);
                    lo_out[k] = l.sub_down(e);
                    hi_out[k] = h.add_up(e);
                    self.aux[off + k] = e.add_up(g_own.mul_up(r));
                }
            }
            Op::Add { a, b } | Op::Sub { a, b } => {
                let (ao, bo) = (g.offset(a), g.offset(b));
                let sub = matches!(node.op, Op::Sub { .. });
                let u2 = T::from_f64_up(2.0 * u_dep);
                for k in 0..len {
                    let (al, ah) = (self.lo[ao + k], self.hi[ao + k]);
                    let (bl, bh) = if sub {
                        (self.hi[bo + k].neg(), self.lo[bo + k].neg())
                    } else {
                        (self.lo[bo + k], self.hi[bo + k])
                    };
                    let l = al.add_down(bl);
                    let h = ah.add_up(bh);
                    let e = u2.mul_up(l.abs().max_of(h.abs()));
                    self.lo[off + k] = l.sub_down(e);
                    self.hi[off + k] = h.add_up(e);
                    self.aux[off + k] = e;
                }
            }
            Op::MatMul { a, b, .. } => {
                let (ao, bo) = (g.offset(a), g.offset(b));
                let d = g.matmul(&node).ok_or(BoundError::Shape)?;
                // Each term's interval and planes cover its f32 product (see `relax::mul_relax`);
                // the deployed dot product adds at most γ_{k+1}·Σ|p_l| + (k+1)η for its sum (any
                // order, with or without fused multiply-adds), charged here and as the slack.
                let g_dep = T::from_f64_up(gamma(d.k + 1, u_dep));
                let eta_d = T::from_f64_up(eta_dep * (d.k as f64 + 1.0));
                for o in 0..len {
                    let (mut l, mut h, mut mags) = (T::ZERO, T::ZERO, T::ZERO);
                    for t in 0..d.k {
                        let (ia, ib) = d.operands(o, t);
                        let (pl, ph) = self.relax_mul_element(ao + ia, bo + ib, lb + 6 * (o * d.k + t))?;
                        let (pl, ph) = (T::from_f64_down(pl), T::from_f64_up(ph));
                        l = l.add_down(pl);
                        h = h.add_up(ph);
                        mags = mags.add_up(pl.abs().max_of(ph.abs()));
                    }
                    let e = g_dep.mul_up(mags).add_up(eta_d);
                    self.lo[off + o] = l.sub_down(e);
                    self.hi[off + o] = h.add_up(e);
                    self.aux[off + o] = e;
                }
            }
            Op::Mul { a, b } => {
                let (ao, bo) = (g.offset(a), g.offset(b));
                let u2 = 2.0 * u_dep;
                for k in 0..len {
                    let (pl, ph) = self.relax_mul_element(ao + k, bo + k, lb + 6 * k)?;
                    let e = (pl.abs().max(ph.abs()) * u2 + eta_dep) * 1.000_001;
                    self.lo[off + k] = T::from_f64_down(pl);
                    self.hi[off + k] = T::from_f64_up(ph);
                    // The deployed f32 product's rounding is inside mul_relax/mul_interval already;
                    // `e` is kept for a deployed arithmetic coarser than f32.
                    self.aux[off + k] = if u_dep > Deploy::F32.rel { T::from_f64_up(e) } else { T::ZERO };
                }
            }
            Op::ScaleShift { x, scale, shift } => {
                let xo = g.offset(x);
                let sc = &g.weights[scale.range()];
                let sh = &g.weights[shift.range()];
                let g2 = T::from_f64_up(gamma(2, u_dep));
                let eta = T::from_f64_up(eta_dep);
                for k in 0..len {
                    let s = broadcast(sc, k, T::ONE);
                    let c = broadcast(sh, k, T::ZERO);
                    let (xl, xh) = (self.lo[xo + k], self.hi[xo + k]);
                    let (l, h) = if s >= T::ZERO {
                        (xl.mul_down(s), xh.mul_up(s))
                    } else {
                        (xh.mul_down(s), xl.mul_up(s))
                    };
                    let e = g2.mul_up(l.abs().max_of(h.abs()).add_up(c.abs())).add_up(eta);
                    self.lo[off + k] = l.add_down(c).sub_down(e);
                    self.hi[off + k] = h.add_up(c).add_up(e);
                    self.aux[off + k] = e;
                }
            }
            Op::Gather { x, idx } => {
                let xo = g.offset(x);
                for (k, &j) in g.indices[idx.range()].iter().enumerate() {
                    self.lo[off + k] = self.lo[xo + j as usize];
                    self.hi[off + k] = self.hi[xo + j as usize];
                    self.aux[off + k] = T::ZERO;
                }
            }
            Op::Concat { .. } => {
                let ins = node.op.inputs(g.indices);
                let mut k0 = off;
                for p in 0..ins.len() {
                    let pid = ins.get(p);
                    let po = g.offset(pid);
                    let pl = g.nodes[pid as usize].len as usize;
                    self.lo.copy_within(po..po + pl, k0);
                    self.hi.copy_within(po..po + pl, k0);
                    k0 += pl;
                }
                self.aux[off..off + len].fill(T::ZERO);
            }
            Op::Sum { x, map } => {
                let xo = g.offset(x);
                let map = &g.indices[map.range()];
                for k in off..off + len {
                    self.lo[k] = T::ZERO;
                    self.hi[k] = T::ZERO;
                    self.aux[k] = T::ZERO; // Σ|x| of the group, turned into an error below
                }
                for (j, &m) in map.iter().enumerate() {
                    let k = off + m as usize;
                    self.lo[k] = self.lo[k].add_down(self.lo[xo + j]);
                    self.hi[k] = self.hi[k].add_up(self.hi[xo + j]);
                    self.aux[k] = self.aux[k].add_up(mag(self.lo, self.hi, xo + j));
                }
                let g_dep = T::from_f64_up(gamma(map.len() + 1, u_dep));
                for k in off..off + len {
                    let e = g_dep.mul_up(self.aux[k]);
                    self.lo[k] = self.lo[k].sub_down(e);
                    self.hi[k] = self.hi[k].add_up(e);
                    self.aux[k] = e;
                }
            }
            Op::Unary { x, f } => {
                let xo = g.offset(x);
                for k in 0..len {
                    let (il, iu) = self.relax_unary_element(f, xo + k, lb + 4 * k)?;
                    self.lo[off + k] = T::from_f64_down(il);
                    self.hi[off + k] = T::from_f64_up(iu);
                    self.aux[off + k] = T::ZERO; // relax covers the deployed f32 function
                }
            }
        }
        Ok(())
    }

    /// Cache the lines of unary op `f` at cache offset `out` (input element `inp`) from the
    /// input's interval; returns the op's interval image.
    fn relax_unary_element(&mut self, f: Unary, inp: usize, out: usize) -> Result<(f64, f64), BoundError> {
        let (l, u) = (self.lo[inp].to_f64(), self.hi[inp].to_f64());
        let image = relax::interval(f, l, u)?;
        let r = relax::relax(f, l, u)?;
        let (sl, bl) = r.lower.to_scalar_lower::<T>(l, u);
        let (su, bu) = r.upper.to_scalar_upper::<T>(l, u);
        self.lines[out..out + 4].copy_from_slice(&[sl, bl, su, bu]);
        Ok(image)
    }

    /// Cache the planes of a product at cache offset `out` (operand elements `a`, `b`); returns the
    /// product's interval image (covering the f32 product too).
    fn relax_mul_element(&mut self, a: usize, b: usize, out: usize) -> Result<(f64, f64), BoundError> {
        let (lx, ux) = (self.lo[a].to_f64(), self.hi[a].to_f64());
        let (ly, uy) = (self.lo[b].to_f64(), self.hi[b].to_f64());
        let image = relax::mul_interval(lx, ux, ly, uy)?;
        let (lower, upper) = relax::mul_relax(lx, ux, ly, uy)?;
        let (ax, ay, c) = lower.to_scalar_lower::<T>(lx, ux, ly, uy);
        let (bx, by, d) = upper.to_scalar_upper::<T>(lx, ux, ly, uy);
        self.lines[out..out + 6].copy_from_slice(&[ax, ay, c, bx, by, d]);
        Ok(image)
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
                let e = s.idx as usize;
                match node.op {
                    Op::Unary { x, f } if x == s.node => {
                        self.relax_unary_element(f, g.offset(x) + e, lb + 4 * e)?;
                    }
                    Op::Mul { a, b } if a == s.node || b == s.node => {
                        self.relax_mul_element(g.offset(a) + e, g.offset(b) + e, lb + 6 * e)?;
                    }
                    _ => {}
                }
                lb += line_stride(&node.op) * node.len as usize;
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
        if cfg.method == Method::Ibp {
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
        let eta = T::from_f64_up(T::ABS_ERR);
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
                Op::Affine { .. } | Op::Conv { .. } => {
                    let lin = g.linear(&node.op).ok_or(BoundError::Shape)?;
                    let x = lin.x;
                    let n_in = g.nodes[x as usize].len as usize;
                    let xo = g.offset(x);
                    let bx = chunk * xo;
                    let fresh = !self.touched[x as usize];
                    let k_err = SumErr::new(len);
                    // Only an input already reached by another path pays for its old coefficients.
                    let old =
                        (!fresh).then(|| (T::from_f64_up(gamma(len + 1, T::REL_ERR)), SumErr::new(n_in)));
                    for r in 0..rows {
                        let (head, tail) = self.a.split_at_mut(bn);
                        let arow = &tail[r * len..(r + 1) * len];
                        let xrow = &mut head[bx + r * n_in..bx + (r + 1) * n_in];
                        if let Some((g_old, k_in)) = &old {
                            let (lo, hi) = (&self.lo[xo..xo + n_in], &self.hi[xo..xo + n_in]);
                            let sl = k_in.abs_dot_up(xrow, |j| lo[j].abs().max_of(hi[j].abs()));
                            self.bias[r] = self.bias[r].sub_down(g_old.mul_up(sl));
                        } else {
                            xrow.fill(T::ZERO);
                        }
                        let mut acc = RowSums::new();
                        let biased = !lin.b.is_empty();
                        lin.scatter(arow, xrow, |k, a| {
                            if biased {
                                acc.add_product(a.mul(lin.bias(k)));
                            }
                        });
                        self.bias[r] = acc.apply(self.bias[r], &k_err);
                    }
                    self.touched[x as usize] = true;
                }
                Op::MatMul { a: na, b: nb, .. } => {
                    let (ao, bo) = (g.offset(na), g.offset(nb));
                    let d = g.matmul(&node).ok_or(BoundError::Shape)?;
                    let (la, lbl) = (d.a_len(), d.b_len());
                    for (nx, xo, xl) in [(na, ao, la), (nb, bo, lbl)] {
                        if !self.touched[nx as usize] {
                            self.a[chunk * xo..chunk * xo + rows * xl].fill(T::ZERO);
                            self.touched[nx as usize] = true;
                        }
                    }
                    // Every term of output element `o` sees that element's coefficient.
                    if let Some(buf) = elem_a.as_deref_mut() {
                        for o in 0..len {
                            for t in 0..d.k {
                                buf[lb_n + 6 * (o * d.k + t)] = self.a[bn + o];
                            }
                        }
                    }
                    // Term by term as for an elementwise product, each plane's coefficients added
                    // into the two operands' rows; per row, plain sums whose rounding is bounded
                    // once (`RowSums`, over the row's at most 2·len·k updates).
                    let k_err = SumErr::new(2 * len * d.k);
                    let (lo, hi, lines) = (&self.lo[..], &self.hi[..], &self.lines[..]);
                    let mag = |x: usize| {
                        let (l, h) = (lo[x].abs(), hi[x].abs());
                        if h > l { h } else { l }
                    };
                    for r in 0..rows {
                        let mut acc = RowSums::new();
                        for o in 0..len {
                            let lam = self.a[bn + r * len + o];
                            if lam == T::ZERO {
                                continue;
                            }
                            let side = if lam > T::ZERO { 0 } else { 3 };
                            for t in 0..d.k {
                                let (ia, ib) = d.operands(o, t);
                                let c = lb_n + 6 * (o * d.k + t) + side;
                                acc.add_product(lam.mul(lines[c + 2]));
                                for (at, coef, x) in [
                                    (chunk * ao + r * la + ia, lines[c], ao + ia),
                                    (chunk * bo + r * lbl + ib, lines[c + 1], bo + ib),
                                ] {
                                    let tv = lam.mul(coef);
                                    let new = self.a[at].add(tv);
                                    self.a[at] = new;
                                    let m = mag(x);
                                    acc.err = acc.err.add(tv.abs().add(new.abs()).mul(m));
                                    acc.mags = acc.mags.add(m);
                                }
                            }
                        }
                        self.bias[r] = acc.apply(self.bias[r], &k_err);
                    }
                }
                Op::Unary { x, .. } | Op::ScaleShift { x, .. } => {
                    let xo = g.offset(x);
                    let bx = chunk * xo;
                    let fresh = !self.touched[x as usize];
                    if fresh {
                        self.a[bx..bx + rows * len].fill(T::ZERO);
                    }
                    let (sc, sh) = match node.op {
                        Op::ScaleShift { scale, shift, .. } => {
                            (&g.weights[scale.range()], &g.weights[shift.range()])
                        }
                        _ => (&g.weights[0..0], &g.weights[0..0]),
                    };
                    let unary = matches!(node.op, Op::Unary { .. });
                    if unary && let Some(buf) = elem_a.as_deref_mut() {
                        for k in 0..len {
                            buf[lb_n + 4 * k] = self.a[bn + k];
                        }
                    }
                    // Per row, plain sums (rounding bounded once at the end, see `RowSums`).
                    let k_err = SumErr::new(len);
                    let (lo, hi) = (&self.lo[xo..xo + len], &self.hi[xo..xo + len]);
                    for r in 0..rows {
                        let (head, tail) = self.a.split_at_mut(bn);
                        let arow = &tail[r * len..(r + 1) * len];
                        let dst = &mut head[bx + r * len..bx + (r + 1) * len];
                        let acc = if unary {
                            let lines = &self.lines[lb_n..lb_n + 4 * len];
                            elementwise_row(arow, dst, lo, hi, |k, pos| {
                                let c = &lines[4 * k..4 * k + 4];
                                if pos { (c[0], c[1]) } else { (c[2], c[3]) }
                            })
                        } else {
                            elementwise_row(arow, dst, lo, hi, |k, _| {
                                (broadcast(sc, k, T::ONE), broadcast(sh, k, T::ZERO))
                            })
                        };
                        self.bias[r] = acc.apply(self.bias[r], &k_err);
                    }
                    self.touched[x as usize] = true;
                }
                Op::Mul { a: na, b: nb } => {
                    let ao = g.offset(na);
                    let bo = g.offset(nb);
                    for (nx, xo, which) in [(na, ao, 0usize), (nb, bo, 1usize)] {
                        if !self.touched[nx as usize] {
                            self.a[chunk * xo..chunk * xo + rows * len].fill(T::ZERO);
                            self.touched[nx as usize] = true;
                        }
                        let _ = which;
                    }
                    if let Some(buf) = elem_a.as_deref_mut() {
                        for k in 0..len {
                            buf[lb_n + 6 * k] = self.a[bn + k];
                        }
                    }
                    for k in 0..len {
                        let c = &self.lines[lb_n + 6 * k..lb_n + 6 * k + 6];
                        let (lp, up) = ((c[0], c[1], c[2]), (c[3], c[4], c[5]));
                        let ma = self.lo[ao + k].abs().max_of(self.hi[ao + k].abs());
                        let mb = self.lo[bo + k].abs().max_of(self.hi[bo + k].abs());
                        for r in 0..rows {
                            let a = self.a[bn + r * len + k];
                            if a == T::ZERO {
                                continue;
                            }
                            let (px, py, pc) = if a > T::ZERO { lp } else { up };
                            self.bias[r] = self.bias[r].add_down(a.mul_down(pc));
                            for (xo, coef, m) in [(ao, px, ma), (bo, py, mb)] {
                                let t = a.mul(coef);
                                let dst = &mut self.a[chunk * xo + r * len + k];
                                *dst = dst.add(t);
                                let err = two_u.mul_up(t.abs().add_up(dst.abs())).add_up(eta);
                                self.bias[r] = self.bias[r].sub_down(err.mul_up(m));
                            }
                        }
                    }
                }
                Op::Add { a: na, b: nb } | Op::Sub { a: na, b: nb } => {
                    let neg_b = matches!(node.op, Op::Sub { .. });
                    for (nx, neg) in [(na, false), (nb, neg_b)] {
                        self.accumulate_copy(g, bn, len, rows, nx, Route::Same { from: 0 }, neg);
                    }
                }
                Op::Gather { x, idx } => {
                    self.accumulate_copy(g, bn, len, rows, x, Route::Gather(&g.indices[idx.range()]), false);
                }
                Op::Sum { x, map } => {
                    self.accumulate_copy(g, bn, len, rows, x, Route::Sum(&g.indices[map.range()]), false);
                }
                Op::Concat { .. } => {
                    let ins = node.op.inputs(g.indices);
                    let mut k0 = 0;
                    for p in 0..ins.len() {
                        let pid = ins.get(p);
                        let pl = g.nodes[pid as usize].len as usize;
                        self.accumulate_copy(g, bn, len, rows, pid, Route::Same { from: k0 }, false);
                        k0 += pl;
                    }
                }
            }
        }
        Err(BoundError::Shape)
    }

    /// `A_x += ±A_n` along a [`Route`]: elementwise (Add/Sub, or one Concat operand's segment),
    /// through a Gather map or through a Sum map. A first write into a zero coefficient is exact;
    /// every other add is charged its rounding (`2u·|result|·max|x|`) in the bias.
    #[allow(clippy::too_many_arguments)]
    fn accumulate_copy(
        &mut self,
        g: &Graph<'_, T>,
        bn: usize,
        len: usize,
        rows: usize,
        x: NodeId,
        route: Route<'_>,
        neg: bool,
    ) {
        let chunk = self.plan.chunk;
        let xo = g.offset(x);
        let xl = g.nodes[x as usize].len as usize;
        let bx = chunk * xo;
        if !self.touched[x as usize] {
            self.a[bx..bx + rows * xl].fill(T::ZERO);
            self.touched[x as usize] = true;
        }
        let two_u = T::from_f64_up(2.0 * T::REL_ERR * 1.000_001);
        let count = match route {
            Route::Same { .. } => xl,
            Route::Gather(m) | Route::Sum(m) => m.len(),
        };
        for r in 0..rows {
            let mut sl = T::ZERO;
            for i in 0..count {
                let (src, dst) = match route {
                    Route::Same { from } => (from + i, i),
                    Route::Gather(m) => (i, m[i] as usize),
                    Route::Sum(m) => (m[i] as usize, i),
                };
                let t = self.a[bn + r * len + src];
                if t == T::ZERO {
                    continue;
                }
                let t = if neg { t.neg() } else { t };
                let d = &mut self.a[bx + r * xl + dst];
                if *d == T::ZERO {
                    *d = t; // exact
                } else {
                    *d = d.add(t);
                    let m = self.lo[xo + dst].abs().max_of(self.hi[xo + dst].abs());
                    sl = sl.add_up(two_u.mul_up(d.abs()).mul_up(m));
                }
            }
            self.bias[r] = self.bias[r].sub_down(sl);
        }
    }
}

/// How a linear index op routes coefficients from its output back to one input.
#[derive(Clone, Copy)]
enum Route<'m> {
    /// Element `i` of the input takes output element `from + i`.
    Same { from: usize },
    /// `y_i = x[map_i]`.
    Gather(&'m [u32]),
    /// `y[map_j] += x_j`.
    Sum(&'m [u32]),
}

/// One row of a linear node's interval in midpoint-radius form (see the IBP step): the float
/// sums `S_c = b + Σ w_j c_j`, `S_r = Σ |w_j| ρ̃_j`, `R = Σ |w_j| m_j` and `W = Σ |w_j|`.
struct MidRad<T> {
    sc: T,
    sr: T,
    rr: T,
    ws: T,
}

impl<T: Scalar> MidRad<T> {
    #[inline(always)]
    fn add(&mut self, wj: T, l: T, h: T, half: T) {
        let c = l.add(h).mul(half);
        let rho = h.sub(l).mul(half);
        let (la, ha) = (l.abs(), h.abs());
        let m = if ha > la { ha } else { la };
        let wa = wj.abs();
        self.sc = self.sc.add(wj.mul(c));
        self.sr = self.sr.add(wa.mul(rho));
        self.rr = self.rr.add(wa.mul(m));
        self.ws = self.ws.add(wa);
    }
}

/// One backward row's contributions to its bias through a node, summed in plain arithmetic and
/// bounded once: `Σ p_k` (intercept products `p_k = fl(a_k·b_k)`) with `Σ |p_k|`, and the
/// coefficient-update error `Σ (|t_k| + |dst_k|)·m_k` with `Σ m_k` (see the unary backward step).
struct RowSums<T> {
    sum: T,
    abs: T,
    err: T,
    mags: T,
}

impl<T: Scalar> RowSums<T> {
    fn new() -> Self {
        RowSums { sum: T::ZERO, abs: T::ZERO, err: T::ZERO, mags: T::ZERO }
    }
    #[inline]
    fn add_product(&mut self, p: T) {
        self.sum = self.sum.add(p);
        self.abs = self.abs.add(p.abs());
    }
    /// `bias` plus the sums, rounded down by their worst-case error over `n` terms: the
    /// intercept sum is within `γ_{n+1}·Σ|a_k b_k| + nη` of exact, and `Σ|a_k b_k| ≤
    /// (1+γ_{n+1})·abs + nη`; the update error `Σ (2u(|t_k| + |dst_k|) + η)·m_k` is at most
    /// `2u(1+γ_{n+2})·err + (1+γ_{n+1})·η·mags + 4nη` by the same argument for its own sums.
    /// `k` holds the constants for `n` ([`SumErr::new`]), computed once per node, not per row.
    #[inline]
    fn apply(&self, bias: T, k: &SumErr<T>) -> T {
        if self.abs == T::ZERO && self.mags == T::ZERO {
            return bias;
        }
        // The error total in plain arithmetic: ten operations on non-negative values, each off
        // by at most u relative plus η/2 absolute, so `(e + 8η)·(1 + 16u)` bounds the exact total.
        let e =
            k.g.mul(self.abs.add(k.g.mul(self.abs)))
                .add(k.two_u.mul(self.err))
                .add(k.eta.mul(self.mags.add(k.g.mul(self.mags))))
                .add(k.eta_n);
        bias.add_down(self.sum).sub_down(e.add_up(k.eta8).mul_up(k.safe))
    }
}

/// One backward row through an element-wise linear step `z_k ↦ slope_k·x_k + icpt_k` (the
/// relaxation line `line(k, a_k > 0)`): `dst_k += a_k·slope_k`, and the row's intercept sum
/// `Σ a_k·icpt_k` with the update error terms, for [`RowSums::apply`]. Each update is off by at
/// most `2u(|t_k| + |dst_k|) + η` (`t_k = fl(a_k·slope_k)`) times `m_k = max|x_k|`. One
/// accumulator per sum: splitting them into lanes was no faster on x86-64 and cost the
/// Cortex-M4F 12 % more instructions per check.
#[inline]
fn elementwise_row<T: Scalar>(
    arow: &[T],
    dst: &mut [T],
    lo: &[T],
    hi: &[T],
    line: impl Fn(usize, bool) -> (T, T),
) -> RowSums<T> {
    let mut acc = RowSums::new();
    let n = arow.len().min(dst.len()).min(lo.len()).min(hi.len());
    for k in 0..n {
        let a = arow[k];
        if a == T::ZERO {
            continue;
        }
        let (slope, icpt) = line(k, a > T::ZERO);
        acc.add_product(a.mul(icpt));
        let t = a.mul(slope);
        let new = dst[k].add(t);
        dst[k] = new;
        let (l, h) = (lo[k].abs(), hi[k].abs());
        let m = if h > l { h } else { l };
        acc.err = acc.err.add(t.abs().add(new.abs()).mul(m));
        acc.mags = acc.mags.add(m);
    }
    acc
}

/// The error constants of [`RowSums::apply`] for rows of `n` terms.
struct SumErr<T> {
    g: T,
    two_u: T,
    eta: T,
    eta_n: T,
    eta8: T,
    safe: T,
    one_g: T,
}

impl<T: Scalar> SumErr<T> {
    /// An upper bound of `Σ_k |a_k|·m(k)` (`m(k) ≥ 0`, `n` terms as in [`SumErr::new`]), summed
    /// in plain arithmetic: the computed sum of `n` products is within `γ_{n+1}` relative and
    /// `nη/2` absolute of the exact one, so `(s + nη)·(1 + γ)` bounds it.
    #[inline]
    fn abs_dot_up(&self, a: &[T], m: impl Fn(usize) -> T) -> T {
        let mut s = T::ZERO;
        for (k, &v) in a.iter().enumerate() {
            // Zero coefficients contribute nothing, even against an unbounded `m` (and rows are
            // often sparse).
            if v != T::ZERO {
                s = s.add(v.abs().mul(m(k)));
            }
        }
        if s == T::ZERO && self.eta_n == T::ZERO {
            return T::ZERO;
        }
        s.add_up(self.eta_n).mul_up(self.one_g)
    }

    fn new(n: usize) -> Self {
        let g = gamma(n + 3, T::REL_ERR) * 1.01;
        SumErr {
            g: T::from_f64_up(g),
            two_u: T::from_f64_up(2.0 * T::REL_ERR * (1.0 + g)),
            eta: T::from_f64_up(T::ABS_ERR),
            eta_n: T::from_f64_up(T::ABS_ERR * (8 * n + 8) as f64),
            eta8: T::from_f64_up(8.0 * T::ABS_ERR),
            safe: T::from_f64_up(1.0 + 16.0 * T::REL_ERR),
            one_g: T::from_f64_up(1.0 + g),
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
fn needs_crown<T: Scalar>(g: &Graph<'_, T>, id: NodeId) -> bool {
    let op = &g.nodes[id as usize].op;
    if copies_operands(g, id) || !feeds_nonlinear(g, id, 4) {
        return false;
    }
    let ins = op.inputs(g.indices);
    !(0..ins.len()).all(|k| ins.get(k) == 0)
}

/// A Concat, or a Gather at least as long as its operand (see [`needs_crown`]).
fn copies_operands<T: Scalar>(g: &Graph<'_, T>, id: NodeId) -> bool {
    let node = &g.nodes[id as usize];
    match node.op {
        Op::Concat { .. } => true,
        Op::Gather { x, .. } => node.len >= g.nodes[x as usize].len,
        _ => false,
    }
}

/// Whether a nonlinearity reads node `id`, directly or through at most `depth` copying index ops
/// (beyond that depth the answer is yes: an extra CROWN pass is only work, never unsound).
fn feeds_nonlinear<T: Scalar>(g: &Graph<'_, T>, id: NodeId, depth: u32) -> bool {
    g.nodes[id as usize + 1..].iter().enumerate().any(|(i, n)| {
        let nid = id + 1 + i as NodeId;
        match n.op {
            Op::Unary { x, f } => x == id && !matches!(f, Unary::Neg),
            Op::Mul { a, b } | Op::MatMul { a, b, .. } => a == id || b == id,
            Op::Gather { .. } | Op::Concat { .. } if copies_operands(g, nid) => {
                let ins = n.op.inputs(g.indices);
                (0..ins.len()).any(|k| ins.get(k) == id) && (depth == 0 || feeds_nonlinear(g, nid, depth - 1))
            }
            _ => false,
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// xorshift64* in [−1, 1) with a random binary exponent, so sums cancel and round.
    fn rand(s: &mut u64) -> f64 {
        *s ^= *s >> 12;
        *s ^= *s << 25;
        *s ^= *s >> 27;
        let r = s.wrapping_mul(0x2545_f491_4f6c_dd1d);
        let u = (r >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0;
        u * f64::powi(2.0, (r % 9) as i32 - 4)
    }

    /// An element-wise backward row (`elementwise_row` + `RowSums::apply`) never exceeds the
    /// exact bias (f32 products and their sums are exact in f64 up to ~1e-16 relative, far
    /// below the f32 errors being bounded).
    #[test]
    fn row_sums_bound_the_exact_bias() {
        let mut s = 0x1234_5678_9abc_def1u64;
        let mut slack_used = 0usize;
        for trial in 0..20_000 {
            let n = 1 + trial % 60;
            let bias = rand(&mut s) as f32;
            // One element-wise backward row: coefficients a, lines (slope, intercept) by sign,
            // old coefficients at the input, and its interval.
            let mut v = |k: usize| -> [f32; 9] {
                core::array::from_fn(|i| if i == 8 { k as f32 } else { rand(&mut s) as f32 })
            };
            let data: [[f32; 9]; 60] = core::array::from_fn(&mut v);
            let arow: [f32; 60] = core::array::from_fn(|k| if k % 7 == 3 { 0.0 } else { data[k][0] });
            let dst0: [f32; 60] = core::array::from_fn(|k| if k % 5 == 1 { 0.0 } else { data[k][1] });
            let lo: [f32; 60] = core::array::from_fn(|k| data[k][2].min(data[k][3]));
            let hi: [f32; 60] = core::array::from_fn(|k| data[k][2].max(data[k][3]));
            let line = |k: usize, pos: bool| {
                let c = &data[k];
                // Some exact slopes (a stable ReLU's 0 or 1).
                let slope = match k % 4 {
                    0 => 1.0,
                    1 => 0.0,
                    _ => {
                        if pos {
                            c[4]
                        } else {
                            c[6]
                        }
                    }
                };
                (slope, if pos { c[5] } else { c[7] })
            };
            let mut dst = dst0;
            let acc = elementwise_row(&arow[..n], &mut dst[..n], &lo[..n], &hi[..n], line);
            let mut exact = bias as f64;
            for k in 0..n {
                let a = arow[k] as f64;
                let (slope, icpt) = line(k, arow[k] > 0.0);
                exact += a * icpt as f64;
                // The float coefficient differs from the true one by the rounding, worth up to
                // that difference times max|x| in the bias; charge the worst sign.
                let true_dst = dst0[k] as f64 + a * slope as f64;
                let m = (lo[k].abs()).max(hi[k].abs()) as f64;
                exact -= (dst[k] as f64 - true_dst).abs() * m;
            }
            let got = acc.apply(bias, &SumErr::new(n)) as f64;
            assert!(got <= exact, "trial {trial}: {got} > exact {exact}");
            slack_used += usize::from(bias.add(acc.sum) as f64 > exact);
        }
        // The plain sum alone would have been unsound often: the test can fail.
        assert!(slack_used > 1000, "only {slack_used} plain sums exceeded the exact value");
    }
}
