//! α-CROWN: relaxation parameters optimised for one spec row, jointly with β split multipliers
//! (notes §1.3, §1.4, §5.3).
//!
//! CROWN's output bound for a row `c` is `min_{x ∈ box} c·ŷ(x)`, where `ŷ` is the network with every
//! nonlinear element replaced by the line (plane) the backward pass chose for it — the lower one
//! where its coefficient `A_e ≥ 0`, else the upper one. Any sound lines give a sound bound, so
//! the lines are a free parameter: here each unary element's lower and upper slope (normalised to
//! `θ ∈ [0, 1]` over its [`relax::slope_range`]; the intercept is recomputed rigorously by
//! [`relax::relax_line`]) and each product's two mixing weights (`λ ∈ [0, 1]`,
//! [`relax::mul_relax_mix`]), plus one `β_i ≥ 0` per split (the Lagrange multiplier of the split
//! constraint `s_i·(z_i − p_i) ≥ 0`, which `output_lower_beta` adds as `−β_i·s_i·(z_i − p_i)`).
//!
//! **Gradient by hand.** The bound equals `c·ŷ(x*)` at the *primal point*: `x*` is the box corner
//! chosen by the signs of the final input coefficients, and `ŷ` is evaluated forward with each
//! element on the line the pass chose. By Danskin's theorem (the bound is a minimum over `x`, the
//! intercept `b(a) = min_z f(z) − a·z` a minimum over `z`):
//!
//! - `∂ bound / ∂ slope_e = A_e·(ẑ_e − t_e)`, `t_e` the point the line touches (`db/da = −t_e`),
//!   times the range width for the normalised `θ`;
//! - `∂ bound / ∂ λ_e = A_e·(P₁ − P₂)(x̂_e, ŷ_e)` for the two McCormick planes mixed by `λ`;
//! - `∂ bound / ∂ β_i = −s_i·(ẑ_i − p_i)`.
//!
//! `A_e` comes from the backward pass itself ([`Saves::elem_a`]), `ẑ` from one forward sweep.
//!
//! **Optimiser.** Adam ascent with a decaying step; every parameter is projected into its range
//! before its line is built, so *every iterate is a sound bound*; the best one is kept
//! (iteration 0 is plain CROWN with the cached lines, so the result is never worse than CROWN).
//! Node bounds are held fixed while one bound is optimised.
//!
//! **Intermediate bounds** ([`intermediate_bounds`]): the same optimiser bounds an element `z_k`
//! of an intermediate node from a backward pass started at `z` ([`Alpha::optimise_element`]),
//! with parameters for the nodes before `z` only — each intermediate bound its own parameters,
//! per element and side, optimised one after the other in the same buffers (no memory beyond
//! [`AlphaPlan::scalars`]). The nodes after a tightened node are then recomputed on the tighter
//! intervals.
//!
//! **Memory.** All state lives in one caller buffer of [`AlphaPlan::scalars`] scalars (a `const
//! fn`); per parameter vectors use the relaxation cache's layout (element `e` at its block start
//! `o`: parameters at `o` (lower) and `o + 1` (upper)).

use crate::bound::{BoundError, Config, Method, Plan, Saves, Split, Workspace, line_stride};
use crate::graph::{Graph, NodeId, Op, Unary};
use crate::num::Scalar;
use crate::ops::{self, Elem, for_each_element, for_each_element_in, line_base};
use crate::relax;

/// Settings of the optimiser.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct AlphaSettings {
    /// Gradient steps (0 = plain CROWN).
    pub iters: u32,
    /// Adam step size for the relaxation parameters (each normalised to `[0, 1]`; ReLU-like
    /// slopes take twice this step).
    pub lr: f64,
    /// Adam step size for the split multipliers β.
    pub lr_beta: f64,
    /// Step-size decay per iteration (`lr·decay^t`).
    pub decay: f64,
    /// Stop after this many iterations without a gain above `10⁻⁴·max(1, |bound|)` (0 = never).
    pub patience: u32,
    /// Gradient steps per intermediate bound ([`intermediate_bounds`]) where the caller runs it
    /// (0 = intermediate bounds stay CROWN's).
    pub intermediate: u32,
}

impl AlphaSettings {
    /// No optimisation (plain CROWN); the step sizes are the tuned defaults.
    pub const OFF: AlphaSettings =
        AlphaSettings { iters: 0, lr: 0.1, lr_beta: 0.5, decay: 0.95, patience: 10, intermediate: 0 };
}

impl Default for AlphaSettings {
    /// [`AlphaSettings::OFF`]: set `iters` to optimise.
    fn default() -> Self {
        AlphaSettings::OFF
    }
}

/// Buffer size of the optimiser for one model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct AlphaPlan {
    /// Scalars of the relaxation cache (`Plan::lines`).
    pub lines: usize,
    /// Scalars over all node values (`Plan::values`).
    pub values: usize,
    /// Input dimension.
    pub input: usize,
}

impl AlphaPlan {
    /// The plan for a bound plan and an input of `input` values (a `const fn`).
    pub const fn for_plan(bound: &Plan, input: usize) -> AlphaPlan {
        AlphaPlan { lines: bound.lines, values: bound.values, input }
    }
    /// Scalars needed: eight vectors in the cache layout (CROWN lines, best lines, parameters and
    /// touch points, two Adam moments, ranges, coefficients, gradient), the primal values and the
    /// input coefficients.
    pub const fn scalars(&self) -> usize {
        8 * self.lines + self.values + self.input
    }
}

const B1: f64 = 0.9;
const B2: f64 = 0.999;
const ADAM_EPS: f64 = 1e-8;

/// One Adam step: updates the moments, returns the step (`None` if anything is not finite).
fn adam<T: Scalar>(m: &mut T, v: &mut T, g: f64, t: u32, lr: f64) -> Option<f64> {
    if !g.is_finite() {
        return None;
    }
    let (m0, v0) = (m.to_f64(), v.to_f64());
    let (m0, v0) = (if m0.is_finite() { m0 } else { 0.0 }, if v0.is_finite() { v0 } else { 0.0 });
    let m1 = B1 * m0 + (1.0 - B1) * g;
    let v1 = B2 * v0 + (1.0 - B2) * g * g;
    if !(m1.is_finite() && v1.is_finite()) {
        return None;
    }
    *m = T::from_f64_near(m1);
    *v = T::from_f64_near(v1);
    let ti = t as i32;
    let mh = m1 / (1.0 - libm::pow(B1, ti as f64));
    let vh = v1 / (1.0 - libm::pow(B2, ti as f64));
    let s = lr * mh / (libm::sqrt(vh.max(0.0)) + ADAM_EPS);
    if s.is_finite() { Some(s) } else { None }
}

/// `x` into `[0, 1]` (NaN → 0).
fn unit(x: f64) -> f64 {
    relax::project(x, 0.0, 1.0)
}

/// The optimiser's state, carved from one caller buffer.
pub struct Alpha<'w, T> {
    plan: AlphaPlan,
    /// The CROWN lines (the starting point), captured after the node bounds.
    base: &'w mut [T],
    /// Lines of the best iterate.
    best: &'w mut [T],
    /// Parameters (`o`, `o + 1`) and, for unary elements, the current lines' touch points
    /// (`o + 2`, `o + 3`).
    theta: &'w mut [T],
    m: &'w mut [T],
    v: &'w mut [T],
    /// Unary: slope ranges `[lo_l, hi_l, lo_u, hi_u]` (a frozen side has `lo == hi`); product: 1 at
    /// `o` if the mixing weights are free.
    range: &'w mut [T],
    /// `A_e` of the last pass at `o`.
    coef: &'w mut [T],
    /// Gradient of the last bound w.r.t. the parameters (`o`, `o + 1`).
    grad: &'w mut [T],
    /// Primal values of all nodes.
    primal: &'w mut [T],
    /// Input coefficients of the last pass.
    lam: &'w mut [T],
    /// [`Workspace::stamp`] of the captured cache.
    captured: Option<(usize, u64)>,
    /// Nodes the current bound reads (all for an output row; those before `z` for a bound of
    /// node `z`), and the relaxation-cache scalars they own: elements beyond are left alone.
    live: (usize, usize),
}

/// What [`Alpha`] bounds from below.
#[derive(Clone, Copy)]
enum Target<'r, T> {
    /// `row·y` over the output (the row's coefficients).
    Output(&'r [T]),
    /// `z_k`, or `−z_k` when `upper`, for element `k` of node `z`.
    Element { z: NodeId, k: usize, upper: bool },
}

impl<'w, T: Scalar> Alpha<'w, T> {
    /// Carve the state from `buf` (at least `plan.scalars()` scalars).
    pub fn new(plan: AlphaPlan, buf: &'w mut [T]) -> Result<Self, BoundError> {
        if buf.len() < plan.scalars() {
            return Err(BoundError::Shape);
        }
        let n = plan.lines;
        let (base, r) = buf.split_at_mut(n);
        let (best, r) = r.split_at_mut(n);
        let (theta, r) = r.split_at_mut(n);
        let (m, r) = r.split_at_mut(n);
        let (v, r) = r.split_at_mut(n);
        let (range, r) = r.split_at_mut(n);
        let (coef, r) = r.split_at_mut(n);
        let (grad, r) = r.split_at_mut(n);
        let (primal, r) = r.split_at_mut(plan.values);
        let (lam, _) = r.split_at_mut(plan.input);
        let live = (0, 0);
        Ok(Alpha { plan, base, best, theta, m, v, range, coef, grad, primal, lam, captured: None, live })
    }

    /// The plan.
    pub fn plan(&self) -> AlphaPlan {
        self.plan
    }

    fn check(&self, ws: &Workspace<'_, T>, g: &Graph<'_, T>) -> Result<(), BoundError> {
        // The captured lines are valid only for the intervals they were computed on: refuse a
        // different workspace or one re-bounded since (restoring them there could be unsound).
        if AlphaPlan::for_plan(&ws.plan(), g.input_len()) != self.plan || self.captured != Some(ws.stamp()) {
            return Err(BoundError::Shape);
        }
        Ok(())
    }

    /// Record the workspace's current relaxations (after its node bounds) as the CROWN starting
    /// point of the following [`Alpha::optimise`] calls (which refuse to run once the workspace
    /// has been re-bounded: capture again then).
    pub fn capture(&mut self, ws: &Workspace<'_, T>) -> Result<(), BoundError> {
        let lines = ws.lines();
        if lines.len() != self.plan.lines {
            return Err(BoundError::Shape);
        }
        self.base.copy_from_slice(lines);
        self.captured = Some(ws.stamp());
        Ok(())
    }

    /// Put the captured CROWN lines back into the workspace and set every parameter to its
    /// starting value (the CROWN line's slope; McCormick's `λ = 1`), with ranges and touch points.
    fn init(&mut self, ws: &mut Workspace<'_, T>, g: &Graph<'_, T>) {
        let (lo, hi, lines) = ws.bounds_and_lines_mut();
        let n = self.live.1;
        lines[..n].copy_from_slice(&self.base[..n]);
        self.m[..n].fill(T::ZERO);
        self.v[..n].fill(T::ZERO);
        let (base, theta, range) = (&*self.base, &mut *self.theta, &mut *self.range);
        for_each_element_in(g, self.live.0, |o, e| match e {
            Elem::Unary(f, x) => {
                let (l, u) = (lo[x].to_f64(), hi[x].to_f64());
                let sr = relax::slope_range(f, l, u);
                for (side, r) in [(0usize, sr.lower), (1usize, sr.upper)] {
                    range[o + 2 * side] = T::ZERO;
                    range[o + 2 * side + 1] = T::ZERO;
                    theta[o + side] = T::ZERO;
                    theta[o + 2 + side] = T::ZERO;
                    let Some((a, b)) = r else { continue };
                    let (ta, tb) = (T::from_f64_near(a), T::from_f64_near(b));
                    if !(ta.is_usable() && tb.is_usable() && ta < tb) {
                        continue;
                    }
                    let s0 = base[o + 2 * side].to_f64();
                    let Ok((_, t)) = relax::relax_line(f, l, u, side == 1, s0) else { continue };
                    range[o + 2 * side] = ta;
                    range[o + 2 * side + 1] = tb;
                    theta[o + side] =
                        T::from_f64_near(unit((s0 - ta.to_f64()) / (tb.to_f64() - ta.to_f64())));
                    theta[o + 2 + side] = T::from_f64_near(t);
                }
            }
            Elem::Mul(a, b) => {
                let free = lo[a] < hi[a] && lo[b] < hi[b];
                range[o] = if free { T::ONE } else { T::ZERO };
                theta[o] = T::ONE;
                theta[o + 1] = T::ONE;
            }
        });
    }

    /// One backward pass for `target` with the cached lines, recording the coefficients;
    /// returns the bound (the better of IBP and CROWN, as [`Workspace::output_lower_beta`]).
    fn evaluate(
        &mut self,
        ws: &mut Workspace<'_, T>,
        g: &Graph<'_, T>,
        cfg: &Config,
        target: Target<'_, T>,
        splits: &[Split<T>],
        beta: &[T],
    ) -> Result<T, BoundError> {
        let mut saves =
            Saves { input_a: Some(&mut *self.lam), elem_a: Some(&mut *self.coef), ..Saves::default() };
        match target {
            Target::Output(row) => {
                let mut out = [T::ZERO];
                ws.output_lower_beta(g, row, &mut out, cfg, &mut saves, splits, beta)?;
                Ok(out[0])
            }
            Target::Element { z, k, upper } => ws.element_lower(g, z, k, upper, cfg, &mut saves),
        }
    }

    /// The primal forward sweep: the input corner by the signs of the input coefficients, every
    /// relaxed element on the line (plane) the last pass used.
    fn primal_sweep(&mut self, ws: &Workspace<'_, T>, g: &Graph<'_, T>) {
        let (lo, hi) = ws.all_bounds();
        let lines = ws.lines();
        let mut off = 0usize;
        let mut lb = 0usize;
        for node in g.nodes.iter().take(self.live.0) {
            let len = node.len as usize;
            let (done, rest) = self.primal.split_at_mut(off);
            let out = &mut rest[..len];
            let n = line_stride(&node.op) * len;
            match node.op {
                Op::Input => {
                    for (k, o) in out.iter_mut().enumerate() {
                        *o = if self.lam[k] >= T::ZERO { lo[k] } else { hi[k] };
                    }
                }
                _ => ops::primal(g, node, &lines[lb..lb + n], &self.coef[lb..lb + n], done, out),
            }
            off += len;
            lb += n;
        }
    }

    /// The gradient of the last evaluated bound (after [`Alpha::primal_sweep`]) into `grad` (for
    /// every free relaxation parameter, normalised; 0 elsewhere) and `bgrad(i, g)` for every split
    /// multiplier.
    fn gradient(
        &mut self,
        ws: &Workspace<'_, T>,
        g: &Graph<'_, T>,
        splits: &[Split<T>],
        mut bgrad: impl FnMut(usize, f64),
    ) {
        let (lo, hi) = ws.all_bounds();
        let (p, coef, range, theta, grad) =
            (&*self.primal, &*self.coef, &*self.range, &*self.theta, &mut *self.grad);
        grad[..self.live.1].fill(T::ZERO);
        for_each_element_in(g, self.live.0, |o, e| {
            let a = coef[o].to_f64();
            if a == 0.0 {
                return;
            }
            match e {
                Elem::Unary(_, x) => {
                    let side = if a > 0.0 { 0 } else { 1 };
                    let (rl, rh) = (range[o + 2 * side].to_f64(), range[o + 2 * side + 1].to_f64());
                    if !(rl < rh) {
                        return;
                    }
                    let t = theta[o + 2 + side].to_f64();
                    grad[o + side] = T::from_f64_near(a * (p[x].to_f64() - t) * (rh - rl));
                }
                Elem::Mul(xa, xb) => {
                    if range[o] != T::ONE {
                        return;
                    }
                    let (x, y) = (p[xa].to_f64(), p[xb].to_f64());
                    let (lx, ux, ly, uy) =
                        (lo[xa].to_f64(), hi[xa].to_f64(), lo[xb].to_f64(), hi[xb].to_f64());
                    grad[o + if a > 0.0 { 0 } else { 1 }] = T::from_f64_near(if a > 0.0 {
                        // P₁ − P₂ = (y_l − y_u)·x + (x_l − x_u)·y − x_l·y_l + x_u·y_u
                        a * ((ly - uy) * x + (lx - ux) * y - lx * ly + ux * uy)
                    } else {
                        // U₁ − U₂ = (y_u − y_l)·x + (x_l − x_u)·y − x_l·y_u + x_u·y_l
                        a * ((uy - ly) * x + (lx - ux) * y - lx * uy + ux * ly)
                    });
                }
            }
        });
        for (i, sp) in splits.iter().enumerate() {
            let z = p[g.offset(sp.node) + sp.idx as usize].to_f64();
            let s = if sp.upper { -1.0 } else { 1.0 };
            bgrad(i, -s * (z - sp.point.to_f64()));
        }
    }

    /// Whether parameter `side` of the element at `o` is free.
    fn free(&self, o: usize, e: Elem, side: usize) -> bool {
        match e {
            Elem::Unary(..) => self.range[o + 2 * side] < self.range[o + 2 * side + 1],
            Elem::Mul(..) => self.range[o] == T::ONE,
        }
    }

    /// Rebuild the cached line of `side` (a product: both planes) of the element at `o` from its
    /// parameters.
    /// A line that cannot be built keeps the CROWN line (always sound).
    fn rebuild(&mut self, ws: &mut Workspace<'_, T>, o: usize, e: Elem, side: usize) {
        let (lo, hi, lines) = ws.bounds_and_lines_mut();
        match e {
            Elem::Unary(f, x) => {
                let (l, u) = (lo[x].to_f64(), hi[x].to_f64());
                let (rl, rh) = (self.range[o + 2 * side].to_f64(), self.range[o + 2 * side + 1].to_f64());
                let s = rl + self.theta[o + side].to_f64() * (rh - rl);
                let s = relax::project(s, rl, rh);
                let built = relax::relax_line(f, l, u, side == 1, s).ok().and_then(|(ln, t)| {
                    let (a, b) =
                        if side == 0 { ln.to_scalar_lower::<T>(l, u) } else { ln.to_scalar_upper::<T>(l, u) };
                    (a.is_usable() && b.is_usable()).then_some((a, b, t))
                });
                let c = o + 2 * side;
                match built {
                    Some((a, b, t)) => {
                        lines[c] = a;
                        lines[c + 1] = b;
                        self.theta[o + 2 + side] = T::from_f64_near(t);
                    }
                    None => {
                        lines[c] = self.base[c];
                        lines[c + 1] = self.base[c + 1];
                    }
                }
            }
            Elem::Mul(a, b) => {
                let (lx, ux, ly, uy) = (lo[a].to_f64(), hi[a].to_f64(), lo[b].to_f64(), hi[b].to_f64());
                let (lam, mu) = (self.theta[o].to_f64(), self.theta[o + 1].to_f64());
                let built = relax::mul_relax_mix(lx, ux, ly, uy, lam, mu).ok().and_then(|(pl, pu)| {
                    let (ax, ay, c) = pl.to_scalar_lower::<T>(lx, ux, ly, uy);
                    let (bx, by, d) = pu.to_scalar_upper::<T>(lx, ux, ly, uy);
                    [ax, ay, c, bx, by, d].iter().all(|v| v.is_usable()).then_some([ax, ay, c, bx, by, d])
                });
                match built {
                    Some(v) => lines[o..o + 6].copy_from_slice(&v),
                    None => lines[o..o + 6].copy_from_slice(&self.base[o..o + 6]),
                }
            }
        }
    }

    /// Diagnostics (gradient checks): reset to the CROWN starting point of the last
    /// [`Alpha::capture`] (lines back in the workspace, parameters at their starting values).
    pub fn start(&mut self, ws: &mut Workspace<'_, T>, g: &Graph<'_, T>) -> Result<(), BoundError> {
        self.check(ws, g)?;
        self.live_until(g, g.nodes.len());
        self.init(ws, g);
        Ok(())
    }

    /// Diagnostics: the parameters in the cache layout (element at `o`: lower at `o`, upper at
    /// `o + 1`, each normalised to `[0, 1]`; a product's mixing weights `λ`, `μ`).
    pub fn params(&self) -> &[T] {
        &self.theta[..]
    }

    /// Diagnostics: whether parameter `slot` is free (frozen ones have no effect).
    pub fn is_free(&self, g: &Graph<'_, T>, slot: usize) -> bool {
        let mut free = false;
        for_each_element(g, |o, e| {
            if slot == o || slot == o + 1 {
                free = self.free(o, e, slot - o);
            }
        });
        free
    }

    /// Diagnostics: set parameter `slot` to `value` (projected into `[0, 1]`) and rebuild its line.
    pub fn set_param(&mut self, ws: &mut Workspace<'_, T>, g: &Graph<'_, T>, slot: usize, value: f64) {
        let mut hit = None;
        for_each_element(g, |o, e| {
            if (slot == o || slot == o + 1) && self.free(o, e, slot - o) {
                hit = Some((o, e, slot - o));
            }
        });
        if let Some((o, e, side)) = hit {
            self.theta[slot] = T::from_f64_near(unit(value));
            self.rebuild(ws, o, e, side);
        }
    }

    /// Diagnostics: the bound of `row` with the current parameters and multipliers `beta`, its
    /// gradient w.r.t. the parameters (returned slice, cache layout, 0 for frozen or inactive
    /// parameters) and w.r.t. the multipliers (`beta_grad`, one per split).
    #[allow(clippy::too_many_arguments)]
    pub fn bound_and_gradient(
        &mut self,
        ws: &mut Workspace<'_, T>,
        g: &Graph<'_, T>,
        cfg: &Config,
        row: &[T],
        splits: &[Split<T>],
        beta: &[T],
        beta_grad: &mut [f64],
    ) -> Result<(T, &[T]), BoundError> {
        self.check(ws, g)?;
        if beta.len() < splits.len() || beta_grad.len() < splits.len() {
            return Err(BoundError::Shape);
        }
        self.live_until(g, g.nodes.len());
        let v = self.evaluate(ws, g, cfg, Target::Output(row), splits, beta)?;
        self.primal_sweep(ws, g);
        self.gradient(ws, g, splits, |i, gr| beta_grad[i] = gr);
        Ok((v, &self.grad[..]))
    }

    /// Optimise the relaxations (and, with `splits`, the multipliers `beta`) for the lower bound
    /// of `row·y` (`row`: `output_len` coefficients) with the workspace's node bounds held fixed,
    /// starting from the CROWN lines of the last [`Alpha::capture`] and `β = 0`.
    ///
    /// Returns the best bound seen (every iterate is sound, iteration 0 is plain CROWN). On
    /// return the workspace caches the best iterate's lines and `beta[..splits.len()]` holds its
    /// multipliers; `beta_state` is scratch of `3·splits.len()` scalars. Stops early once the
    /// bound exceeds `stop_above`, or when `keep_going` says no.
    #[allow(clippy::too_many_arguments)]
    pub fn optimise(
        &mut self,
        ws: &mut Workspace<'_, T>,
        g: &Graph<'_, T>,
        cfg: &Config,
        row: &[T],
        splits: &[Split<T>],
        beta: &mut [T],
        beta_state: &mut [T],
        set: &AlphaSettings,
        stop_above: Option<T>,
        keep_going: &mut dyn FnMut() -> bool,
    ) -> Result<T, BoundError> {
        self.check(ws, g)?;
        let ns = splits.len();
        if beta.len() < ns || beta_state.len() < 3 * ns || row.len() != g.output_len() {
            return Err(BoundError::Shape);
        }
        self.live_until(g, g.nodes.len());
        let best =
            self.run(ws, g, cfg, Target::Output(row), splits, beta, beta_state, set, stop_above, keep_going);
        // The workspace keeps the best iterate's lines.
        let n = self.live.1;
        ws.bounds_and_lines_mut().2[..n].copy_from_slice(&self.best[..n]);
        best
    }

    /// Optimise the relaxations of the nodes before `z` for the lower bound of `z_k` (`upper`:
    /// of `−z_k`) with the workspace's node bounds held fixed, from the CROWN lines of the last
    /// [`Alpha::capture`]: α-CROWN for one intermediate bound. Returns the best bound seen (every
    /// iterate is sound, iteration 0 is plain CROWN; never looser than the node's interval); the
    /// workspace's lines are the captured ones again on return. Stops early once the bound
    /// exceeds `stop_above`, or when `keep_going` says no.
    #[allow(clippy::too_many_arguments)]
    pub fn optimise_element(
        &mut self,
        ws: &mut Workspace<'_, T>,
        g: &Graph<'_, T>,
        cfg: &Config,
        (z, k, upper): (NodeId, usize, bool),
        set: &AlphaSettings,
        stop_above: Option<T>,
        keep_going: &mut dyn FnMut() -> bool,
    ) -> Result<T, BoundError> {
        self.check(ws, g)?;
        if z as usize >= g.nodes.len() {
            return Err(BoundError::Shape);
        }
        self.live_until(g, z as usize);
        let target = Target::Element { z, k, upper };
        let best = self.run(ws, g, cfg, target, &[], &mut [], &mut [], set, stop_above, keep_going);
        let n = self.live.1;
        ws.bounds_and_lines_mut().2[..n].copy_from_slice(&self.base[..n]);
        best
    }

    /// The elements of the first `nodes` nodes are the live ones.
    fn live_until(&mut self, g: &Graph<'_, T>, nodes: usize) {
        self.live = (nodes, line_base(g, nodes));
    }

    /// The optimisation loop of [`Alpha::optimise`] and [`Alpha::optimise_element`]: the best
    /// iterate's lines end in `best`.
    #[allow(clippy::too_many_arguments)]
    fn run(
        &mut self,
        ws: &mut Workspace<'_, T>,
        g: &Graph<'_, T>,
        cfg: &Config,
        target: Target<'_, T>,
        splits: &[Split<T>],
        beta: &mut [T],
        beta_state: &mut [T],
        set: &AlphaSettings,
        stop_above: Option<T>,
        keep_going: &mut dyn FnMut() -> bool,
    ) -> Result<T, BoundError> {
        let ns = splits.len();
        let (bm, rest) = beta_state.split_at_mut(ns);
        let (bv, rest) = rest.split_at_mut(ns);
        let bbest = &mut rest[..ns];
        let beta = &mut beta[..ns];
        self.init(ws, g);
        beta.fill(T::ZERO);
        bm.fill(T::ZERO);
        bv.fill(T::ZERO);
        bbest.fill(T::ZERO);
        let iters = if cfg.method.linear_output() { set.iters } else { 0 };
        let mut best: Option<T> = None;
        let mut lr = set.lr;
        let mut lr_b = set.lr_beta;
        let mut stale = 0u32;
        for it in 0..=iters {
            let val = match self.evaluate(ws, g, cfg, target, splits, beta) {
                Ok(v) => v,
                // A later iterate in numeric trouble: keep the best so far.
                Err(_) if best.is_some() => break,
                Err(e) => return Err(e),
            };
            if best.is_none_or(|b| val > b) {
                let b0 = best.map_or(f64::NEG_INFINITY, |b| b.to_f64());
                if val.to_f64() - b0 > 1e-4 * b0.abs().max(1.0) {
                    stale = 0;
                }
                best = Some(val);
                let n = self.live.1;
                self.best[..n].copy_from_slice(&ws.lines()[..n]);
                bbest.copy_from_slice(beta);
            }
            let b = best.unwrap_or(val);
            let tired = set.patience > 0 && stale >= set.patience;
            if it == iters || tired || stop_above.is_some_and(|s| b > s) || !keep_going() {
                break;
            }
            stale += 1;
            self.primal_sweep(ws, g);
            self.step(ws, g, splits, beta, bm, bv, it + 1, lr, lr_b);
            lr *= set.decay;
            lr_b *= set.decay;
        }
        beta.copy_from_slice(bbest);
        best.ok_or(BoundError::Numeric)
    }

    /// One Adam step on every free parameter and multiplier (projected), and the rebuild of the
    /// lines whose parameters moved.
    #[allow(clippy::too_many_arguments)]
    fn step(
        &mut self,
        ws: &mut Workspace<'_, T>,
        g: &Graph<'_, T>,
        splits: &[Split<T>],
        beta: &mut [T],
        bm: &mut [T],
        bv: &mut [T],
        t: u32,
        lr: f64,
        lr_b: f64,
    ) {
        self.gradient(ws, g, splits, |i, gr| {
            if let Some(s) = adam(&mut bm[i], &mut bv[i], gr, t, lr_b) {
                let b = beta[i].to_f64() + s;
                beta[i] = T::from_f64_near(if b > 0.0 { b } else { 0.0 });
            }
        });
        for_each_element_in(g, self.live.0, |o, e| {
            // Piecewise-linear ops' lower slopes are best at or near an end of their range (an
            // unstable ReLU's 0 or 1): they take twice the step of the smooth ops' slopes, whose
            // best values lie inside (measured on ACAS Xu and the ERAN sigmoid net).
            let lr = match e {
                Elem::Unary(Unary::Relu | Unary::LeakyRelu(_) | Unary::Abs, _) => 2.0 * lr,
                _ => lr,
            };
            let mut moved = [false; 2];
            for (side, mv) in moved.iter_mut().enumerate() {
                let k = o + side;
                if !self.free(o, e, side) || (self.grad[k] == T::ZERO && self.m[k] == T::ZERO) {
                    continue;
                }
                if let Some(s) = adam(&mut self.m[k], &mut self.v[k], self.grad[k].to_f64(), t, lr) {
                    let new = T::from_f64_near(unit(self.theta[k].to_f64() + s));
                    if new != self.theta[k] {
                        self.theta[k] = new;
                        *mv = true;
                    }
                }
            }
            match e {
                Elem::Unary(..) => {
                    for (side, mv) in moved.into_iter().enumerate() {
                        if mv {
                            self.rebuild(ws, o, e, side);
                        }
                    }
                }
                Elem::Mul(..) => {
                    if moved[0] || moved[1] {
                        self.rebuild(ws, o, e, 0);
                    }
                }
            }
        });
    }
}

/// α for intermediate bounds (α-CROWN proper) on the workspace's current box, after a bounding
/// run on it without splits: in topological order, every node that gets a CROWN pass has each
/// element whose interval its readers' relaxations depend on ([`Readers::depend`]) bounded
/// again, from below and from above, by [`Alpha::optimise_element`] with `set` — its own
/// relaxation parameters for the nodes before it, per element and side — and the nodes after it
/// are then recomputed with the tighter intervals. Returns `Ok(false)` if the box turns out to hold
/// no point. Every interval stays sound: each is the best of sound bounds.
///
/// `set.intermediate` steps per bound (nothing to do when 0). Costs up to `2·(steps + 1)`
/// backward passes per element bounded, plus one partial sweep per node tightened: worth it where
/// the intervals carry far (the root of an activation split, whose intervals every domain starts
/// from).
#[allow(clippy::too_many_arguments)]
pub fn intermediate_bounds<T: Scalar>(
    ws: &mut Workspace<'_, T>,
    al: &mut Alpha<'_, T>,
    g: &Graph<'_, T>,
    x_lo: &[T],
    x_hi: &[T],
    cfg: &Config,
    set: &AlphaSettings,
    keep_going: &mut dyn FnMut() -> bool,
) -> Result<bool, BoundError> {
    if set.intermediate == 0 || cfg.method != Method::Crown {
        return Ok(true);
    }
    let set = &AlphaSettings { iters: set.intermediate, ..*set };
    for z in 1..g.nodes.len() as NodeId {
        if !crate::bound::needs_crown(g, z) {
            continue;
        }
        let readers = Readers::of(g, z);
        if !readers.kink && !readers.smooth {
            continue;
        }
        al.capture(ws)?;
        let o = g.offset(z);
        let mut tightened = false;
        for k in 0..g.nodes[z as usize].len as usize {
            for upper in [false, true] {
                let (lo, hi) = ws.all_bounds();
                let (l, h) = (lo[o + k], hi[o + k]);
                let Some(stop) = readers.depend(l, h) else { break };
                if !keep_going() {
                    return Err(BoundError::Interrupted);
                }
                // A ReLU-like reader is exact once its input's sign is known: stop there.
                let stop_above = stop.then_some(T::ZERO);
                let v = al.optimise_element(ws, g, cfg, (z, k, upper), set, stop_above, keep_going)?;
                let old = if upper { h.neg() } else { l };
                if v > old {
                    tightened = true;
                    if !ws.tighten(g, z, k, upper, v)? {
                        return Ok(false);
                    }
                }
            }
        }
        if tightened
            && (z as usize) + 1 < g.nodes.len()
            && !ws.node_bounds_from(g, x_lo, x_hi, &[], cfg, z + 1, None, keep_going)?
        {
            return Ok(false);
        }
    }
    Ok(true)
}

/// What kinds of relaxed readers a node has (looked up once per node, asked per element).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Readers {
    /// A piecewise-linear function with its kink at 0 (ReLU, LeakyReLU, Abs).
    pub kink: bool,
    /// A reader whose relaxation depends on the whole interval: a smooth (or stepped) function,
    /// a product, or a repeating index op (its copies feed nonlinearities).
    pub smooth: bool,
}

impl Readers {
    /// The readers of node `z` (negation and linear ops are exact on any interval: not counted).
    pub fn of<T: Scalar>(g: &Graph<'_, T>, z: NodeId) -> Readers {
        let mut r = Readers { kink: false, smooth: false };
        for (i, n) in g.nodes.iter().enumerate().skip(z as usize + 1) {
            let ins = n.op.inputs(g.indices);
            if !(0..ins.len()).any(|j| ins.get(j) == z) {
                continue;
            }
            match n.op {
                Op::Unary { f: Unary::Relu | Unary::LeakyRelu(_) | Unary::Abs, .. } => r.kink = true,
                Op::Unary { f: Unary::Neg, .. } => {}
                Op::Unary { .. } | Op::Mul { .. } | Op::MatMul { .. } => r.smooth = true,
                _ if ops::copies_operands(g, i as NodeId) => r.smooth = true,
                _ => {}
            }
        }
        r
    }

    /// Whether these readers' relaxations depend on an element's interval `[l, u]`, so that a
    /// tighter interval can tighten later bounds: `None` if not (a point, or only kinked readers
    /// and a fixed sign), `Some(true)` if only kinked readers see it (a bound past 0 is then as
    /// good as any), `Some(false)` otherwise.
    pub fn depend<T: Scalar>(&self, l: T, u: T) -> Option<bool> {
        if !(l < u) {
            return None;
        }
        let kink = self.kink && l < T::ZERO && u > T::ZERO;
        (kink || self.smooth).then_some(!self.smooth)
    }
}

/// α-CROWN bounds of every output over a box: [`Workspace::node_bounds`] (and
/// [`intermediate_bounds`] with `set.intermediate` steps), then each output's lower and upper
/// bound optimised separately (rows `±e_j`). `row` is scratch of `output_len` scalars;
/// `lo`/`hi` receive `output_len` values each. Never looser than [`crate::bound::output_bounds`].
#[allow(clippy::too_many_arguments)]
pub fn output_bounds<T: Scalar>(
    ws: &mut Workspace<'_, T>,
    al: &mut Alpha<'_, T>,
    g: &Graph<'_, T>,
    x_lo: &[T],
    x_hi: &[T],
    cfg: &Config,
    set: &AlphaSettings,
    row: &mut [T],
    lo: &mut [T],
    hi: &mut [T],
) -> Result<(), BoundError> {
    let n = g.output_len();
    if row.len() != n || lo.len() != n || hi.len() != n {
        return Err(BoundError::Shape);
    }
    if !ws.node_bounds(g, x_lo, x_hi, &[], cfg, &mut Saves::default())?
        || !intermediate_bounds(ws, al, g, x_lo, x_hi, cfg, set, &mut || true)?
    {
        return Err(BoundError::Numeric);
    }
    al.capture(ws)?;
    for j in 0..n {
        for upper in [false, true] {
            row.fill(T::ZERO);
            row[j] = if upper { T::ONE.neg() } else { T::ONE };
            let v = al.optimise(ws, g, cfg, row, &[], &mut [], &mut [], set, None, &mut || true)?;
            if upper {
                hi[j] = v.neg();
            } else {
                lo[j] = v;
            }
        }
    }
    Ok(())
}
