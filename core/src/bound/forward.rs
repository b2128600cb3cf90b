//! Forward-mode linear bounds ([`Method::Forward`](super::Method::Forward)): every node value
//! carried as a lower and an upper linear function of the input, `L(x) ≤ z ≤ U(x)` on the box.
//!
//! A node's functions come from one backward step of its operator (the op's own CROWN step,
//! [`ops::backward`], on the rows `±e_r`: `±z_r ≥ Σ_j A_rj·x_j + b_r` over its operands'
//! intervals) composed with its operands' functions (`L_j` where `A_rj > 0`, `U_j` where it is
//! negative). So every operator is covered by the code it already has, and a node costs about
//! `2·(d + 2)` times its forward evaluation for `d` inputs: for a controller's 5 inputs about a
//! tenth of what CROWN's backward pass per intermediate node costs on ACAS Xu. Each function is
//! concretised on the box and intersected into the node's interval, which the next nodes'
//! relaxations are built on; the output then gets CROWN's backward pass as usual.
//!
//! *Rounding.* The op step charges its own rounding to `b_r` (as in any CROWN pass), and the
//! node's deployed evaluation error (`aux`) is subtracted like CROWN's own-slack term. The
//! composition `Σ_j A_rj·F_j + b_r` runs in plain arithmetic; its error anywhere in the box is at
//! most `γ·(Σ_j |A_rj|·N_j + |b_r|) + nη·Σ_i M_i` (`SumErr::composed`), where each stored function
//! keeps `N ≥ Σ_i |c_i|·M_i + |c_0|` (`M_i = max|x_i|`), and that is taken off the constant. So
//! each stored function is a sound bound, in exact arithmetic, for the coefficients it holds. A
//! function that is not finite (overflow, or a fixed-point poison) is replaced by the node's
//! interval as a constant function, which is always sound.
//!
//! *Memory.* Only the functions still to be read are kept: element `v` of the graph's value
//! layout lives in slot `v mod cap` of a ring of `cap` slots, `2·(d + 2)` scalars each (lower,
//! then upper: `d` coefficients, the constant and `N`). [`arena_len`] finds the smallest `cap`
//! under which no value is overwritten before its last reader has run: the longest span, in
//! value offsets, of any edge of the graph. A chain of layers needs two layers' worth (ACAS Xu:
//! 100 slots, 5,600 bytes in f32), wherever a value is read far downstream more. A smaller ring
//! (at least the longest node) also works: a reader that finds an operand's slot possibly
//! overwritten uses the operand's interval as a constant function instead, which is sound and
//! loses only that edge's correlation.

use super::Workspace;
use crate::graph::{Graph, Inputs, NodeId};
use crate::num::Scalar;
use crate::ops::rows::SumErr;
use crate::ops::{self, BoundError, line_stride};

/// The last node whose functions are needed: the last input of a relaxed node (nothing after it
/// builds a relaxation on an interval). 0 if nothing is relaxed.
pub(super) fn last_node<T: Scalar>(g: &Graph<'_, T>) -> NodeId {
    let mut last = 0;
    for n in g.nodes.iter().filter(|n| ops::relaxes(&n.op)) {
        let ins = n.op.inputs(g.indices);
        for k in 0..ins.len() {
            last = last.max(ins.get(k));
        }
    }
    last
}

/// Operand `i` of `ins` if the last op step reached it and no earlier operand is the same node
/// (a repeated operand's block holds both uses): `(node, length, value offset)`.
pub(super) fn reached<T: Scalar>(
    g: &Graph<'_, T>,
    ins: Inputs<'_>,
    i: usize,
    touched: &[bool],
) -> Option<(NodeId, usize, usize)> {
    let p = ins.get(i);
    if (0..i).any(|q| ins.get(q) == p) || !touched[p as usize] {
        return None;
    }
    Some((p, g.nodes[p as usize].len as usize, g.offset(p)))
}

/// Scalars at the end of a forward arena: the input box as [`linear_range`] reads it, per input
/// its midpoint, a radius covering the box from there and its magnitude.
pub(super) const fn box_len(d: usize) -> usize {
    3 * d
}

/// The forward arena's part before the input box (the ring).
pub(super) fn ring_len<T>(fwd: &[T], d: usize) -> usize {
    fwd.len().saturating_sub(box_len(d))
}

/// Write the input box `[x_lo, x_hi]` at the end of `fwd`, once per sweep.
pub(super) fn fill_box<T: Scalar>(fwd: &mut [T], x_lo: &[T], x_hi: &[T]) -> Result<(), BoundError> {
    let d = x_lo.len();
    let s = fwd.len().checked_sub(box_len(d)).ok_or(BoundError::Shape)?;
    let bx = &mut fwd[s..];
    for (i, (&l, &h)) in x_lo.iter().zip(x_hi).enumerate() {
        let (mid, rad) = mid_rad(l, h);
        bx[i] = mid;
        bx[d + i] = rad;
        bx[2 * d + i] = l.abs().max_of(h.abs()).max_of(mid.abs());
    }
    Ok(())
}

/// A midpoint of `[lo, hi]` and a radius covering it from there (rounded up).
pub(super) fn mid_rad<T: Scalar>(lo: T, hi: T) -> (T, T) {
    let mid = lo.add(hi).mul(T::from_f64_near(0.5));
    (mid, hi.add_up(mid.neg()).max_of(mid.add_up(lo.neg())))
}

/// The range of `c·x + c₀` over the input box (`bx`, as [`fill_box`] wrote it) and its norm
/// `N ≥ |c₀| + Σ_i |c_i|·max|x_i|`: `(lo, hi, N)`. Three plain sums of `n = c.len() + 1` terms
/// (`k = SumErr::new(n)`): `c₀ + Σ c_i·mid_i` (within `γ·N + nη` of exact, as `|mid_i| ≤ M_i`),
/// `Σ |c_i|·rad_i` and `N`, the last two bounded by their own sums. On the device a directed sum
/// (each of its `3n` operations rounded outward) cost more than the whole bound's relaxations. A
/// zero form (every coefficient and `c₀` zero) gets exactly `N = 0`; not finite when a
/// coefficient is not.
pub(super) fn linear_range<T: Scalar>(c: &[T], c0: T, bx: &[T], k: &SumErr<T>) -> (T, T, T) {
    let d = c.len();
    let (mid, rad, mag) = (&bx[..d], &bx[d..2 * d], &bx[2 * d..3 * d]);
    let (mut s, mut r, mut n) = (c0, T::ZERO, c0.abs());
    for i in 0..d {
        let (ci, a) = (c[i], c[i].abs());
        s = s.add(ci.mul(mid[i]));
        r = r.add(a.mul(rad[i]));
        n = n.add(a.mul(mag[i]));
    }
    if n == T::ZERO && c0 == T::ZERO && c.iter().all(|&v| v == T::ZERO) {
        return (T::ZERO, T::ZERO, T::ZERO);
    }
    let n = k.bound_sum(n);
    let e = k.dot_err(n).add_up(k.bound_sum(r));
    (s.sub_down(e), s.add_up(e), n)
}

/// Scalars of one slot: a lower and an upper function of `d` inputs.
const fn slot_len(d: usize) -> usize {
    2 * (d + 2)
}

/// Scalars of the forward-mode arena of `g`: [`ring_slots`] slots of `2·(d + 2)` scalars and
/// the input box.
pub fn arena_len<T: Scalar>(g: &Graph<'_, T>) -> usize {
    ring_slots(g) * slot_len(g.input_len()) + box_len(g.input_len())
}

/// Slots of a ring in which no value is overwritten before its last reader has run (see the
/// module doc): the longest span, in value offsets, of an edge into a node up to [`last_node`].
pub fn ring_slots<T: Scalar>(g: &Graph<'_, T>) -> usize {
    let last = last_node(g);
    let mut cap = 0usize;
    let mut off = 0usize;
    for (k, n) in g.nodes.iter().enumerate() {
        let len = n.len as usize;
        if k > 0 && k as NodeId <= last {
            cap = cap.max(len);
            let ins = n.op.inputs(g.indices);
            for i in 0..ins.len() {
                let j = ins.get(i);
                if j > 0 {
                    cap = cap.max(off + len - g.offset(j));
                }
            }
        }
        off += len;
    }
    cap
}

impl<T: Scalar> Workspace<'_, T> {
    /// Node `id`'s forward-mode functions (after its IBP step filled its interval, slack and
    /// relaxations), and its interval tightened by them.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn forward_node(
        &mut self,
        g: &Graph<'_, T>,
        id: NodeId,
        off: usize,
        lb: usize,
        x_lo: &[T],
        x_hi: &[T],
    ) -> Result<(), BoundError> {
        let node = g.nodes[id as usize];
        let len = node.len as usize;
        let d = g.input_len();
        let w = d + 2;
        let cap = ring_len(self.fwd, d) / slot_len(d);
        let chunk = self.plan.chunk;
        if cap < len || chunk == 0 {
            // The node's own rows would overwrite each other.
            return Err(BoundError::Shape);
        }
        let ins = node.op.inputs(g.indices);
        // Terms of one composed coefficient: every operand element (and the bias).
        let terms: usize = (0..ins.len()).map(|k| g.nodes[ins.get(k) as usize].len as usize).sum();
        let k_err = SumErr::<T>::new(terms + 1);
        let k_in = SumErr::<T>::new(d + 1);
        let m = |i: usize| x_lo[i].abs().max_of(x_hi[i].abs());
        let mut mags = T::ONE;
        for i in 0..d {
            mags = mags.add_up(m(i));
        }
        // An element read only by ReLUs whose interval is already `≤ 0` needs no function: the
        // ReLU's lines are 0 there, so no coefficient ever reads it (it gets its interval as a
        // constant function all the same).
        let relu_only = super::relu_only_consumers(g, id);
        const CAP: usize = 64;
        let rows_max = chunk.min(CAP);
        for upper in [false, true] {
            let mut k = 0;
            while k < len {
                let mut idx = [0usize; CAP];
                let mut rows = 0;
                while k < len && rows < rows_max {
                    if relu_only && self.hi[off + k] <= T::ZERO {
                        self.constant_function(off + k, cap, w, upper);
                    } else {
                        idx[rows] = k;
                        rows += 1;
                    }
                    k += 1;
                }
                if rows == 0 {
                    break;
                }
                self.op_step(g, id, off, lb, &idx[..rows], upper)?;
                for (r, &e) in idx[..rows].iter().enumerate() {
                    self.bias[r] = self.bias[r].sub_down(self.aux[off + e].add_up(self.consts[id as usize]));
                }
                // Compose each row with the operands' functions, operand by operand.
                let mut sums = [T::ZERO; CAP];
                for (r, &e) in idx[..rows].iter().enumerate() {
                    let dst = ((off + e) % cap) * 2 * w + if upper { w } else { 0 };
                    self.fwd[dst..dst + w].fill(T::ZERO);
                    sums[r] = self.bias[r].abs();
                }
                for i in 0..ins.len() {
                    let Some((p, lp, po)) = reached(g, ins, i, self.touched) else { continue };
                    for (r, &e) in idx[..rows].iter().enumerate() {
                        let dst = ((off + e) % cap) * 2 * w + if upper { w } else { 0 };
                        let bx = chunk * po + r * lp;
                        let mut s = sums[r];
                        for j in 0..lp {
                            let a = self.a[bx + j];
                            if a == T::ZERO {
                                continue;
                            }
                            if p == 0 {
                                // The input: x_j itself (`N = M_j`).
                                self.fwd[dst + j] = self.fwd[dst + j].add(a);
                                s = s.add(a.abs().mul(m(j)));
                                continue;
                            }
                            if po + j + cap < off + len {
                                // Its slot may hold a later value by now: its interval, as a
                                // constant function.
                                let c = if a > T::ZERO { self.lo[po + j] } else { self.hi[po + j] };
                                self.fwd[dst + d] = self.fwd[dst + d].add(a.mul(c));
                                s = s.add(a.abs().mul(c.abs()));
                                continue;
                            }
                            let src = ((po + j) % cap) * 2 * w + if a > T::ZERO { 0 } else { w };
                            let (to, from) = pair(self.fwd, dst, src, w);
                            for (t, &f) in to[..d + 1].iter_mut().zip(&from[..d + 1]) {
                                *t = t.add(a.mul(f));
                            }
                            s = s.add(a.abs().mul(from[d + 1]));
                        }
                        sums[r] = s;
                    }
                }
                for (r, &e) in idx[..rows].iter().enumerate() {
                    let dst = ((off + e) % cap) * 2 * w + if upper { w } else { 0 };
                    let c = self.fwd[dst + d].add(self.bias[r]);
                    self.fwd[dst + d] = c.sub_down(k_err.composed(sums[r], mags));
                    if upper {
                        for t in &mut self.fwd[dst..dst + d + 1] {
                            *t = t.neg();
                        }
                    }
                    self.finish(dst, d, &k_in, off + e, upper, cap, w);
                }
            }
        }
        Ok(())
    }

    /// Store `N` of the function at `dst`, and intersect its concretisation into element `v`'s
    /// interval; a function that is not finite becomes the interval as a constant.
    #[allow(clippy::too_many_arguments)]
    fn finish(
        &mut self,
        dst: usize,
        d: usize,
        k_in: &SumErr<T>,
        v: usize,
        upper: bool,
        cap: usize,
        w: usize,
    ) {
        let bx = ring_len(self.fwd, d);
        let (lo, hi, n) = linear_range(&self.fwd[dst..dst + d], self.fwd[dst + d], &self.fwd[bx..], k_in);
        let b = if upper { hi } else { lo };
        if !(n.is_usable() && b.is_usable()) {
            self.constant_function(v, cap, w, upper);
            return;
        }
        self.fwd[dst + d + 1] = n;
        if upper {
            self.hi[v] = self.hi[v].min_of(b);
        } else {
            self.lo[v] = self.lo[v].max_of(b);
        }
    }

    /// Element `v`'s interval end as a constant function (sound whatever the box).
    fn constant_function(&mut self, v: usize, cap: usize, w: usize, upper: bool) {
        let dst = (v % cap) * 2 * w + if upper { w } else { 0 };
        let c = if upper { self.hi[v] } else { self.lo[v] };
        let f = &mut self.fwd[dst..dst + w];
        f.fill(T::ZERO);
        f[w - 2] = c;
        f[w - 1] = c.abs();
    }
}

impl<T: Scalar> Workspace<'_, T> {
    /// One backward step of node `id`'s op on the rows `±e_k` for `k` in `idx` (`upper`: `−e_k`),
    /// from zero biases: afterwards each operand's block (when `touched`) holds the rows'
    /// coefficients and `bias` their constants, `±z_k ≥ Σ_j A_kj·y_j + b_k` over the operands'
    /// intervals, every rounding of the step charged to `b_k` (not the node's own slack).
    pub(super) fn op_step(
        &mut self,
        g: &Graph<'_, T>,
        id: NodeId,
        off: usize,
        lb: usize,
        idx: &[usize],
        upper: bool,
    ) -> Result<(), BoundError> {
        let node = g.nodes[id as usize];
        let len = node.len as usize;
        let (chunk, rows) = (self.plan.chunk, idx.len());
        let bn = chunk * off;
        {
            let own = &mut self.a[bn..bn + rows * len];
            own.fill(T::ZERO);
            for (r, &e) in idx.iter().enumerate() {
                own[r * len + e] = if upper { T::ONE.neg() } else { T::ONE };
            }
        }
        let ins = node.op.inputs(g.indices);
        for i in 0..ins.len() {
            self.touched[ins.get(i) as usize] = false;
        }
        self.touched[id as usize] = true;
        self.bias[..rows].fill(T::ZERO);
        let mut cx = self.back_cx(bn, (rows, len), lb..lb + line_stride(&node.op) * len, None);
        ops::backward(g, &node, &mut cx)
    }
}

/// The function at `dst` (writable) and the one at `src` (`w` scalars each, disjoint slots).
pub(super) fn pair<T>(buf: &mut [T], dst: usize, src: usize, w: usize) -> (&mut [T], &[T]) {
    if dst < src {
        let (a, b) = buf.split_at_mut(src);
        (&mut a[dst..dst + w], &b[..w])
    } else {
        let (a, b) = buf.split_at_mut(dst);
        (&mut b[..w], &a[src..src + w])
    }
}
