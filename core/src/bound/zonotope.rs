//! Zonotopes ([`Method::Zonotope`](super::Method::Zonotope)): every node value carried as one
//! affine form `z = c·x + c₀ + Σ_k g_k·ε_k ± e` in the input `x` (over the box), noise symbols
//! `ε_k ∈ [−1, 1]` and an error radius `e ≥ 0`.
//!
//! A relaxed element gets one line of slope `s` through its input's form and the range
//! `[t_lo, t_hi]` of `f(y) − s·y` on its input's interval: `z = s·y + t_mid ± t_rad`. The
//! largest `t_rad` of each relaxed node (up to an even share of the plan's symbols) become new
//! noise symbols, shared by every later value that depends on them, so a relaxation gap that
//! reaches the output along paths of opposite sign cancels, which linear bounds carried
//! separately ([`super::forward`]) cannot do; the rest go into `e`, which only grows. ReLU takes
//! DeepZ's line (the chord's slope, `t ∈ [0, −s·l]`); every unary function gets the slope of its
//! cached upper line and a lower intercept for that slope from [`relax::relax_line`] (rigorous,
//! deployed error included); a product `x·y` is linearised at the operands' midpoints,
//! `xy = m_y·x + m_x·y − m_x·m_y + (x − m_x)(y − m_y)`. A linear op composes its operands'
//! forms with the coefficients of its own CROWN step on `±e_r` (as [`super::forward`] does),
//! the two steps' constants giving `t`; a matrix product of two variables takes its interval.
//!
//! *Rounding.* Coefficients are composed in plain arithmetic; the error over the box,
//! `γ·Σ_j |A_j|·N_j` with `N ≥ Σ_i |c_i|·M_i + |c₀| + Σ_k |g_k|` kept per form, goes into `e`, as
//! do the node's deployed evaluation error (`aux`) and every `t_rad`, all rounded up; the
//! concretisation `c₀ + Σ_i min(c_i·l_i, c_i·u_i) − Σ_k |g_k| − e` is rounded down (up for the
//! upper end). A form that is not finite becomes the node's interval. So each form holds, in
//! exact arithmetic, for the coefficients it has.
//!
//! *Memory.* The ring of [`super::forward`] with `d + s + 4` scalars per slot (`s` = the plan's
//! symbols): coefficients, centre, symbols, error, `N` and the pending `t_rad`.

use super::Workspace;
use super::forward::{box_len, last_node, linear_range, mid_rad, pair, reached, ring_len, ring_slots};
use crate::graph::{Graph, NodeId, Op};
use crate::num::Scalar;
use crate::ops::rows::SumErr;
use crate::ops::{self, BoundError};
use crate::relax;
use crate::unary::Unary;

/// The f32 product's rounding, relative (`2^-24`, with slack) and absolute.
const F32_U: f64 = 5.960_464_477_539_063e-8 * 1.000_001;
const F32_ETA: f64 = 7.888_609_052_210_118e-31;

/// Most operand elements a dense node lists (their forms' norms and errors) once for all rows.
const LIST: usize = 64;

/// Scalars of one form of `d` inputs and `s` symbols.
const fn stride(d: usize, s: usize) -> usize {
    d + s + 4
}

/// Scalars of the zonotope arena of `g` with `symbols` noise symbols.
pub fn arena_len<T: Scalar>(g: &Graph<'_, T>, symbols: usize) -> usize {
    ring_slots(g) * stride(g.input_len(), symbols) + box_len(g.input_len())
}

/// The symbols of one sweep: how many are in use, and how many each relaxed node may add (an
/// even share of the plan's, so early layers cannot take them all).
pub(super) struct Budget {
    used: usize,
    cap: usize,
    per_node: usize,
}

impl Budget {
    /// A fresh budget of `symbols` for `g`.
    pub(super) fn new<T: Scalar>(g: &Graph<'_, T>, symbols: usize) -> Budget {
        if symbols == 0 {
            return Budget { used: 0, cap: 0, per_node: 0 };
        }
        let last = last_node(g);
        let relaxed = g.nodes[..=last as usize].iter().filter(|n| ops::relaxes(&n.op)).count();
        Budget { used: 0, cap: symbols, per_node: symbols.div_ceil(relaxed.max(1)) }
    }
}

/// Offsets in a form: `d` coefficients, then these.
struct Layout {
    d: usize,
    s: usize,
}

impl Layout {
    const fn centre(&self) -> usize {
        self.d
    }
    const fn sym(&self, k: usize) -> usize {
        self.d + 1 + k
    }
    const fn err(&self) -> usize {
        self.d + 1 + self.s
    }
    const fn norm(&self) -> usize {
        self.d + 2 + self.s
    }
    const fn gap(&self) -> usize {
        self.d + 3 + self.s
    }
    const fn len(&self) -> usize {
        stride(self.d, self.s)
    }
}

impl<T: Scalar> Workspace<'_, T> {
    /// Node `id`'s forms (after its IBP step filled its interval, slack and relaxations), and
    /// its interval tightened by them.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn zonotope_node(
        &mut self,
        g: &Graph<'_, T>,
        id: NodeId,
        off: usize,
        lb: usize,
        x_lo: &[T],
        x_hi: &[T],
        budget: &mut Budget,
    ) -> Result<(), BoundError> {
        let node = g.nodes[id as usize];
        let len = node.len as usize;
        let d = g.input_len();
        let ly = Layout { d, s: self.plan.symbols };
        let w = ly.len();
        let cap = ring_len(self.fwd, d) / w;
        if cap < len || self.plan.chunk == 0 {
            return Err(BoundError::Shape);
        }
        let m = |i: usize| x_lo[i].abs().max_of(x_hi[i].abs());
        let mut mags = T::ONE;
        for i in 0..d {
            mags = mags.add_up(m(i));
        }
        // Entries composed: coefficients, centre and the symbols in use so far.
        let used = d + 1 + budget.used;
        let slot = |v: usize| (v % cap) * w;
        match node.op {
            Op::Unary { x, f } => {
                let xo = g.offset(x);
                let k_err = SumErr::<T>::new(2);
                for r in 0..len {
                    let (l, u) = (self.lo[xo + r], self.hi[xo + r]);
                    let c = &self.lines[lb + 4 * r..lb + 4 * r + 4];
                    let (sl, bl, su, bu) = (c[0], c[1], c[2], c[3]);
                    let s = su;
                    let t_lo = if sl == su {
                        bl
                    } else if f == Unary::Relu && s >= T::ZERO && s <= T::ONE {
                        // DeepZ: ReLU(y) ≥ s·y on all of ℝ for a slope in [0, 1].
                        T::ZERO
                    } else {
                        let (lf, uf) = (l.to_f64(), u.to_f64());
                        let tight = relax::relax_line(f, lf, uf, false, s.to_f64())
                            .ok()
                            .map(|(line, _)| line.to_scalar_lower::<T>(lf, uf))
                            .filter(|&(s2, _)| s2 == s);
                        match tight {
                            Some((_, b)) => b,
                            // The cached lower line's intercept, moved to slope `s`.
                            None => bl.add_down(min_product(sl, s, l, u)),
                        }
                    };
                    let dst = slot(off + r);
                    self.fwd[dst..dst + w].fill(T::ZERO);
                    if s == T::ZERO && t_lo == T::ZERO && bu == T::ZERO {
                        // Exactly 0 (an inactive ReLU): no term, no rounding; the zeroed form with
                        // `N = 0` and no error is what the next linear node skips outright.
                        self.fwd[dst + ly.err()] = self.aux[off + r];
                        continue;
                    }
                    let sums = if s == T::ZERO {
                        (T::ZERO, T::ZERO)
                    } else {
                        self.add_scaled(dst, &ly, used, s, xo + r, cap, off + len, d, m)
                    };
                    self.finish_row(dst, &ly, (t_lo, bu), sums, &k_err, mags, off + r);
                }
            }
            Op::Mul { a, b } => {
                let (ao, bo) = (g.offset(a), g.offset(b));
                let k_err = SumErr::<T>::new(3);
                let half = T::from_f64_near(0.5);
                let (u32_, eta32) = (T::from_f64_up(F32_U), T::from_f64_up(F32_ETA));
                for r in 0..len {
                    // x·y = m_y·x + m_x·y + t, t = (x − m_x)(y − m_y) − m_x·m_y.
                    let (lx, ux, lyv, uy) =
                        (self.lo[ao + r], self.hi[ao + r], self.lo[bo + r], self.hi[bo + r]);
                    let (mx, my) = (lx.add(ux).mul(half), lyv.add(uy).mul(half));
                    let (dx_lo, dx_hi) = (lx.sub_down(mx), ux.add_up(mx.neg()));
                    let (dy_lo, dy_hi) = (lyv.sub_down(my), uy.add_up(my.neg()));
                    let pr = [
                        dx_lo.mul_down(dy_lo),
                        dx_lo.mul_down(dy_hi),
                        dx_hi.mul_down(dy_lo),
                        dx_hi.mul_down(dy_hi),
                    ];
                    let qr =
                        [dx_lo.mul_up(dy_lo), dx_lo.mul_up(dy_hi), dx_hi.mul_up(dy_lo), dx_hi.mul_up(dy_hi)];
                    let p_lo = pr.iter().fold(pr[0], |acc, &v| acc.min_of(v));
                    let p_hi = qr.iter().fold(qr[0], |acc, &v| acc.max_of(v));
                    // The f32 product's rounding (`u·|xy| + η`, `|xy|` within the IBP interval).
                    let z = self.lo[off + r].abs().max_of(self.hi[off + r].abs());
                    let dep = u32_.mul_up(z).add_up(eta32);
                    let t_lo = p_lo.sub_down(mx.mul_up(my)).sub_down(dep);
                    let t_hi = p_hi.add_up(mx.mul_down(my).neg()).add_up(dep);
                    let dst = slot(off + r);
                    self.fwd[dst..dst + w].fill(T::ZERO);
                    let (mut sn, mut se) = (T::ZERO, T::ZERO);
                    for (o, coef) in [(ao, my), (bo, mx)] {
                        let (n, e) = self.add_scaled(dst, &ly, used, coef, o + r, cap, off + len, d, m);
                        (sn, se) = (sn.add(n), se.add(e));
                    }
                    self.finish_row(dst, &ly, (t_lo, t_hi), (sn, se), &k_err, mags, off + r);
                }
            }
            Op::MatMul { .. } => {
                for r in 0..len {
                    let dst = slot(off + r);
                    self.fwd[dst..dst + w].fill(T::ZERO);
                    let v = off + r;
                    self.interval_form(dst, &ly, v);
                }
            }
            Op::Affine { x, w: ws, b } => {
                // The weights themselves: the rows of a CROWN step on `e_r`, with the exact bias.
                let (wts, bias) = (&g.weights[ws.range()], &g.weights[b.range()]);
                let n_in = g.nodes[x as usize].len as usize;
                let xo = g.offset(x);
                let k_err = SumErr::<T>::new(n_in + 1);
                // The operand's forms still in the ring: from element `jmin` on (not the input,
                // not overwritten); element `j`'s slot without a division per weight.
                let jmin = if x == 0 { n_in } else { (off + len).saturating_sub(cap + xo).min(n_in) };
                let s0 = xo % cap;
                let src_of = |j: usize| {
                    let s = s0 + j;
                    (if s >= cap { s - cap } else { s }) * w
                };
                // The operand's forms that are not exactly 0, listed once for all rows (on small
                // boxes about half a ReLU layer is inactive).
                let mut list = [(0u16, 0u32, T::ZERO, T::ZERO); LIST];
                let mut active = 0;
                let listed = n_in <= LIST && self.fwd.len() <= u32::MAX as usize;
                if listed {
                    for j in jmin..n_in {
                        let src = src_of(j);
                        let (n, e) = (self.fwd[src + ly.norm()], self.fwd[src + ly.err()]);
                        if n != T::ZERO || e != T::ZERO {
                            list[active] = (j as u16, src as u32, n, e);
                            active += 1;
                        }
                    }
                }
                for r in 0..len {
                    let row = &wts[r * n_in..(r + 1) * n_in];
                    let dst = slot(off + r);
                    // The stored forms into a local accumulator, their error and norm sums.
                    let (mut sn, mut se) = (T::ZERO, T::ZERO);
                    if listed {
                        // The terms with a form (`nz`), then their sum four entries at a time in
                        // registers: each entry is summed in list order as before, so the result
                        // is the same to the bit, at a third of the instructions on the M4F.
                        let mut nz = [(0u32, T::ZERO); LIST];
                        let mut terms = 0;
                        for &(j, src, n, e) in &list[..active] {
                            let a = row[j as usize];
                            if a == T::ZERO {
                                continue;
                            }
                            sn = sn.add(a.abs().mul(n));
                            se = se.add(a.abs().mul(e));
                            if n != T::ZERO {
                                nz[terms] = (src, a);
                                terms += 1;
                            }
                        }
                        self.fwd[dst..dst + w].fill(T::ZERO);
                        // Lanes past `used` read the same slot's tail (`used + 2 < w`: the
                        // error, norm and gap follow the symbols) and are dropped.
                        for k0 in (0..used).step_by(4) {
                            let mut acc = [T::ZERO; 4];
                            for &(src, a) in &nz[..terms] {
                                let f = &self.fwd[src as usize + k0..src as usize + k0 + 4];
                                acc[0] = acc[0].add(a.mul(f[0]));
                                acc[1] = acc[1].add(a.mul(f[1]));
                                acc[2] = acc[2].add(a.mul(f[2]));
                                acc[3] = acc[3].add(a.mul(f[3]));
                            }
                            let k1 = (k0 + 4).min(used);
                            self.fwd[dst + k0..dst + k1].copy_from_slice(&acc[..k1 - k0]);
                        }
                    } else {
                        self.fwd[dst..dst + w].fill(T::ZERO);
                        for (j, &a) in row.iter().enumerate().skip(jmin) {
                            if a != T::ZERO {
                                let (n, e) = self.add_scaled(dst, &ly, used, a, xo + j, cap, off + len, d, m);
                                (sn, se) = (sn.add(n), se.add(e));
                            }
                        }
                    }
                    // The input's values and the overwritten ones.
                    for (j, &a) in row.iter().enumerate().take(jmin) {
                        if a != T::ZERO {
                            let (n, e) = self.add_scaled(dst, &ly, used, a, xo + j, cap, off + len, d, m);
                            (sn, se) = (sn.add(n), se.add(e));
                        }
                    }
                    let br = bias.get(r).copied().unwrap_or(T::ZERO);
                    self.finish_row(dst, &ly, (br, br), (sn, se), &k_err, mags, off + r);
                }
            }
            ref op if ops::terms(g, op, 0).is_some() => {
                // An elementwise-structured op: each element from at most two operand forms.
                let ins = op.inputs(g.indices);
                let offs = [g.offset(ins.get(0)), if ins.len() > 1 { g.offset(ins.get(1)) } else { 0 }];
                let k_err = SumErr::<T>::new(3);
                for r in 0..len {
                    let t = ops::terms(g, op, r).ok_or(BoundError::Shape)?;
                    let dst = slot(off + r);
                    self.fwd[dst..dst + w].fill(T::ZERO);
                    let (mut sn, mut se) = (T::ZERO, T::ZERO);
                    for &(i, e, c) in &t.t[..t.n] {
                        if c != T::ZERO {
                            let (n, e) =
                                self.add_scaled(dst, &ly, used, c, offs[i] + e, cap, off + len, d, m);
                            (sn, se) = (sn.add(n), se.add(e));
                        }
                    }
                    self.finish_row(dst, &ly, (t.b, t.b), (sn, se), &k_err, mags, off + r);
                }
            }
            _ => self.linear_node(g, id, off, lb, &ly, used, mags, m)?,
        }
        // The largest gaps of a relaxed node become symbols; every other gap joins the error.
        if ops::relaxes(&node.op) {
            let mut k = budget.per_node.min(budget.cap - budget.used);
            while k > 0 {
                let mut best: Option<(usize, T)> = None;
                for r in 0..len {
                    let gap = self.fwd[slot(off + r) + ly.gap()];
                    if gap > T::ZERO && best.is_none_or(|(_, b)| gap > b) {
                        best = Some((r, gap));
                    }
                }
                let Some((r, gap)) = best else { break };
                let dst = slot(off + r);
                self.fwd[dst + ly.sym(budget.used)] = gap;
                self.fwd[dst + ly.gap()] = T::ZERO;
                budget.used += 1;
                k -= 1;
            }
        }
        let slack = self.consts[id as usize];
        let (k_sym, k_in) = (SumErr::<T>::new(budget.used), SumErr::<T>::new(d + 1));
        for r in 0..len {
            self.conclude(slot(off + r), &ly, (budget.used, &k_sym), &k_in, off + r, slack);
        }
        Ok(())
    }

    /// A linear op: its forms composed with the coefficients of its own CROWN step on `+e_r`,
    /// the constants of the steps on `+e_r` and `−e_r` bounding `t`.
    #[allow(clippy::too_many_arguments)]
    fn linear_node(
        &mut self,
        g: &Graph<'_, T>,
        id: NodeId,
        off: usize,
        lb: usize,
        ly: &Layout,
        used: usize,
        mags: T,
        m: impl Fn(usize) -> T + Copy,
    ) -> Result<(), BoundError> {
        let node = g.nodes[id as usize];
        let len = node.len as usize;
        let w = ly.len();
        let cap = ring_len(self.fwd, ly.d) / w;
        let ins = node.op.inputs(g.indices);
        let terms: usize = (0..ins.len()).map(|k| g.nodes[ins.get(k) as usize].len as usize).sum();
        let k_err = SumErr::<T>::new(terms + 1);
        const CAP: usize = 64;
        let rows_max = self.plan.chunk.min(CAP);
        let mut k = 0;
        while k < len {
            let rows = rows_max.min(len - k);
            let mut idx = [0usize; CAP];
            for (r, i) in idx[..rows].iter_mut().enumerate() {
                *i = k + r;
            }
            // The upper constants first (−z_r ≥ −A·y + b', so t_hi = −b'), kept in the gap slot.
            self.op_step(g, id, off, lb, &idx[..rows], true)?;
            for r in 0..rows {
                let dst = ((off + k + r) % cap) * w;
                self.fwd[dst + ly.gap()] = self.bias[r].neg();
            }
            self.op_step(g, id, off, lb, &idx[..rows], false)?;
            let mut sums = [(T::ZERO, T::ZERO); CAP];
            for r in 0..rows {
                let dst = ((off + k + r) % cap) * w;
                let t_hi = self.fwd[dst + ly.gap()];
                self.fwd[dst..dst + w].fill(T::ZERO);
                self.fwd[dst + ly.gap()] = t_hi;
            }
            for i in 0..ins.len() {
                let Some((_, lp, po)) = reached(g, ins, i, self.touched) else { continue };
                for (r, (sn, se)) in sums[..rows].iter_mut().enumerate() {
                    let dst = ((off + k + r) % cap) * w;
                    let bx = self.plan.chunk * po + r * lp;
                    for j in 0..lp {
                        let a = self.a[bx + j];
                        if a != T::ZERO {
                            let (n, e) = self.add_scaled(dst, ly, used, a, po + j, cap, off + len, ly.d, m);
                            (*sn, *se) = (sn.add(n), se.add(e));
                        }
                    }
                }
            }
            for (r, &sums) in sums[..rows].iter().enumerate() {
                let dst = ((off + k + r) % cap) * w;
                let (t_lo, t_hi) = (self.bias[r], self.fwd[dst + ly.gap()]);
                self.finish_row(dst, ly, (t_lo, t_hi), sums, &k_err, mags, off + k + r);
            }
            k += rows;
        }
        Ok(())
    }

    /// `form[dst] += a·form(value v)` over the `used` leading entries; returns `|a|·N_v` (for
    /// the composition's rounding) and `|a|·e_v` (the error radius it adds), both in plain
    /// arithmetic (the caller bounds their sums). A value of the input (`v < d`) is `x_v` itself;
    /// a value whose slot may hold a later one by now (`v + cap < end`) is its interval: the
    /// midpoint in the centre, the radius in the error.
    #[allow(clippy::too_many_arguments)]
    fn add_scaled(
        &mut self,
        dst: usize,
        ly: &Layout,
        used: usize,
        a: T,
        v: usize,
        cap: usize,
        end: usize,
        d: usize,
        m: impl Fn(usize) -> T,
    ) -> (T, T) {
        let w = ly.len();
        let aa = a.abs();
        if v < d {
            self.fwd[dst + v] = self.fwd[dst + v].add(a);
            return (aa.mul(m(v)), T::ZERO);
        }
        if v + cap < end {
            let (mid, rad) = mid_rad(self.lo[v], self.hi[v]);
            let c = dst + ly.centre();
            self.fwd[c] = self.fwd[c].add(a.mul(mid));
            return (aa.mul(mid.abs()), aa.mul(rad));
        }
        let (to, from) = pair(self.fwd, dst, (v % cap) * w, w);
        for (t, &f) in to[..used].iter_mut().zip(&from[..used]) {
            *t = t.add(a.mul(f));
        }
        (aa.mul(from[ly.norm()]), aa.mul(from[ly.err()]))
    }

    /// Value `v`'s interval as its form (no correlation).
    fn interval_form(&mut self, dst: usize, ly: &Layout, v: usize) {
        let (mid, rad) = mid_rad(self.lo[v], self.hi[v]);
        let w = ly.len();
        self.fwd[dst..dst + w].fill(T::ZERO);
        self.fwd[dst + ly.centre()] = mid;
        self.fwd[dst + ly.err()] = rad;
    }

    /// Finish a composed row: `t = [t_lo, t_hi]`'s midpoint into the centre and its radius as
    /// the pending gap; into the error radius the operands' errors (`se`, the plain sum of
    /// `|A_j|·e_j`), the composition's rounding (`sn`, the plain sum of `|A_j|·N_j`) and the
    /// value's deployed slack.
    #[allow(clippy::too_many_arguments)]
    fn finish_row(
        &mut self,
        dst: usize,
        ly: &Layout,
        (t_lo, t_hi): (T, T),
        (sn, se): (T, T),
        k: &SumErr<T>,
        mags: T,
        v: usize,
    ) {
        let (mid, rad) = mid_rad(t_lo, t_hi);
        let c = dst + ly.centre();
        self.fwd[c] = self.fwd[c].add(mid);
        let e = k.bound_sum(se).add_up(k.composed(sn.add(mid.abs()), mags)).add_up(self.aux[v]);
        self.fwd[dst + ly.err()] = e;
        self.fwd[dst + ly.gap()] = rad;
    }

    /// Fold a remaining gap and the node's constant slack into the error, store `N`, and intersect the form's concretisation
    /// into value `v`'s interval; a form that is not finite becomes the interval.
    fn conclude(
        &mut self,
        dst: usize,
        ly: &Layout,
        (used, k_sym): (usize, &SumErr<T>),
        k_in: &SumErr<T>,
        v: usize,
        slack: T,
    ) {
        let d = ly.d;
        let gap = self.fwd[dst + ly.gap()];
        let e = self.fwd[dst + ly.err()].add_up(gap).add_up(slack);
        self.fwd[dst + ly.gap()] = T::ZERO;
        self.fwd[dst + ly.err()] = e;
        let f = &self.fwd[dst..dst + ly.len()];
        let bx = &self.fwd[ring_len(self.fwd, d)..];
        let (mut lo, mut hi, mut n) = linear_range(&f[..d], f[ly.centre()], bx, k_in);
        let mut ok = e.is_usable();
        // The symbols' radius: a plain sum, bounded once.
        let mut gs = T::ZERO;
        for &g in &f[ly.sym(0)..ly.sym(used)] {
            gs = gs.add(g.abs());
        }
        ok &= gs.is_usable();
        // A plain sum of absolute values is 0 only when every term is: then exactly 0, so that
        // `N = 0` marks a zero form (which the next linear node skips).
        let gs = if gs == T::ZERO { T::ZERO } else { k_sym.bound_sum(gs) };
        if gs != T::ZERO {
            n = n.add_up(gs);
        }
        let r = gs.add_up(e);
        lo = lo.sub_down(r);
        hi = hi.add_up(r);
        if !(ok && n.is_usable() && lo.is_usable() && hi.is_usable()) {
            self.interval_form(dst, ly, v);
            let (mid, rad) = mid_rad(self.lo[v], self.hi[v]);
            self.fwd[dst + ly.norm()] = mid.abs().add_up(rad);
            return;
        }
        self.fwd[dst + ly.norm()] = n;
        self.lo[v] = self.lo[v].max_of(lo);
        self.hi[v] = self.hi[v].min_of(hi);
    }
}

/// A lower bound of `(a − b)·y` over `y ∈ [l, u]`.
fn min_product<T: Scalar>(a: T, b: T, l: T, u: T) -> T {
    let (d_lo, d_hi) = (a.sub_down(b), a.add_up(b.neg()));
    let c = [d_lo.mul_down(l), d_lo.mul_down(u), d_hi.mul_down(l), d_hi.mul_down(u)];
    c.iter().fold(c[0], |acc, &v| acc.min_of(v))
}
