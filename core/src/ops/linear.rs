//! Linear maps with constant weights: a dense `Affine` and a `Conv`, seen through one interface.
//!
//! Both compute each output element as a bias plus a dot product of weights with some of the
//! input's elements, so the engines' error analysis is the same for both (γ over the row's terms,
//! see `bound`): only *which* terms a row has differs. [`Linear`] names the row's terms; the dense
//! case keeps its own tight loops where they are hot. [`Graph::linear`] hands out the view of a
//! node; the engines' steps for both ops are here.

use super::rows::{RowSums, SumErr};
use super::{BackCx, BoundError, Check, IbpCx};
use crate::graph::{Graph, GraphError, Node, Op};
use crate::num::{Scalar, gamma};
use crate::ops::conv::ConvGeom;

/// The weights of a linear node, by structure.
#[derive(Clone, Copy, Debug)]
pub enum Map<'a, T> {
    /// Row-major `len × cols` matrix.
    Dense {
        /// The matrix.
        w: &'a [T],
        /// Its columns (the input length).
        cols: usize,
    },
    /// A convolution.
    Conv {
        /// The kernel, `c_out × c_in/groups × kh × kw`.
        w: &'a [T],
        /// The shape.
        geom: ConvGeom,
    },
}

/// A linear node `y = W x + b`: its input, weights and bias (empty, or one per row for a dense
/// map, one per output channel for a convolution).
#[derive(Clone, Copy, Debug)]
pub struct Linear<'a, T> {
    /// The input node (a `graph::NodeId`).
    pub x: u16,
    /// The weights.
    pub map: Map<'a, T>,
    /// The bias.
    pub b: &'a [T],
}

impl<'a, T: Scalar> Linear<'a, T> {
    /// Most terms in one row's dot product (the γ of its rounding counts these, plus the bias).
    pub fn terms(&self) -> usize {
        match self.map {
            Map::Dense { cols, .. } => cols,
            Map::Conv { geom, .. } => geom.taps(),
        }
    }

    /// Row `k`'s bias (zero without one).
    #[inline]
    pub fn bias(&self, k: usize) -> T {
        if self.b.is_empty() {
            return T::ZERO;
        }
        match self.map {
            Map::Dense { .. } => self.b[k],
            Map::Conv { geom, .. } => self.b[geom.channel(k)],
        }
    }

    /// Visit row `k`'s terms `f(j, w_kj)` (input element and weight), in the forward order.
    #[inline]
    pub fn for_each(&self, k: usize, mut f: impl FnMut(usize, T)) {
        match self.map {
            Map::Dense { w, cols } => {
                for (j, &wj) in w[k * cols..(k + 1) * cols].iter().enumerate() {
                    f(j, wj);
                }
            }
            Map::Conv { w, geom } => geom.for_each_tap(k, |j, i| f(j, w[i])),
        }
    }

    /// `out_k = b_k + Σ_j w_kj·x_j` in `T`, summed in the order of [`Linear::for_each`] after the
    /// bias (the forward value every evaluator of the core uses).
    pub fn forward(&self, x: &[T], out: &mut [T]) {
        match self.map {
            Map::Dense { w, cols } => {
                for (k, o) in out.iter_mut().enumerate() {
                    let mut acc = self.bias(k);
                    for (wj, xj) in w[k * cols..(k + 1) * cols].iter().zip(x) {
                        acc = acc.add(wj.mul(*xj));
                    }
                    *o = acc;
                }
            }
            Map::Conv { w, geom } => geom.forward(w, self.b, x, out),
        }
    }

    /// `dst += Σ_k a_k·W_k` (one coefficient row through the transpose), skipping zero `a_k`,
    /// calling `each(k, a_k)` for every nonzero one (the caller's bias term) in the same pass.
    /// Each `dst_j` receives at most `len` products, the bound the callers' error terms use.
    #[inline]
    pub fn scatter(&self, arow: &[T], dst: &mut [T], mut each: impl FnMut(usize, T)) {
        match self.map {
            Map::Dense { w, cols } => {
                for (k, &a) in arow.iter().enumerate() {
                    if a == T::ZERO {
                        continue;
                    }
                    each(k, a);
                    for (d, &wj) in dst.iter_mut().zip(&w[k * cols..(k + 1) * cols]) {
                        *d = d.add(a.mul(wj));
                    }
                }
            }
            Map::Conv { w, geom } => geom.scatter_row(arow, w, dst, each),
        }
    }
}

impl<'a, T: Scalar> Graph<'a, T> {
    /// The linear view of `op` (of this graph, validated), if it is an `Affine` or a `Conv`.
    pub fn linear(&self, op: &Op) -> Option<Linear<'a, T>> {
        match *op {
            Op::Affine { x, w, b } => Some(Linear {
                x,
                map: Map::Dense { w: &self.weights[w.range()], cols: self.nodes[x as usize].len as usize },
                b: &self.weights[b.range()],
            }),
            Op::Conv { x, w, b, geom } => {
                let words = self.indices.get(geom as usize..geom as usize + ConvGeom::WORDS)?;
                Some(Linear {
                    x,
                    map: Map::Conv { w: &self.weights[w.range()], geom: ConvGeom::decode(words)? },
                    b: &self.weights[b.range()],
                })
            }
            _ => None,
        }
    }
}

/// Shape check: the weights fit the input and output lengths (a convolution's geometry decodes
/// and matches them), the bias is empty or one per row (per output channel), constants usable.
pub(crate) fn check<T: Scalar>(c: &Check<'_, '_, T>) -> Result<(), GraphError> {
    let len = c.node.len;
    match c.node.op {
        Op::Affine { x, w, b } => {
            if w.len as u64 != len as u64 * c.g.nodes[x as usize].len as u64 || (b.len != 0 && b.len != len) {
                return Err(c.mismatch());
            }
            c.weights(w)?;
            c.weights(b)
        }
        Op::Conv { x, w, b, geom } => {
            let words =
                (geom as usize).checked_add(ConvGeom::WORDS).and_then(|e| c.g.indices.get(geom as usize..e));
            let Some(cg) = words.and_then(ConvGeom::decode) else {
                return Err(GraphError::OutOfRange { node: c.id });
            };
            if cg.out_len() != len as usize
                || cg.in_len() != c.g.nodes[x as usize].len as usize
                || cg.weight_len() != w.len as usize
                || (b.len != 0 && b.len as usize != cg.c_out)
            {
                return Err(c.mismatch());
            }
            c.weights(w)?;
            c.weights(b)
        }
        _ => Err(c.mismatch()),
    }
}

/// IBP of a linear node: each row's interval in midpoint-radius form, its rounding bounded a
/// posteriori, plus the deployed dot product's error (also the node's slack) and the constant
/// slack of our own backward coefficient products.
pub(crate) fn ibp<T: Scalar>(g: &Graph<'_, T>, node: &Node, cx: &mut IbpCx<'_, T>) -> Result<(), BoundError> {
    let lin = g.linear(&node.op).ok_or(BoundError::Shape)?;
    let len = node.len as usize;
    let (u_dep, eta_dep) = (cx.deploy.rel, cx.deploy.abs);
    let xo = g.offset(lin.x);
    let n_in = g.nodes[lin.x as usize].len as usize;
    let (xl, xh) = (&cx.lo[xo..xo + n_in], &cx.hi[xo..xo + n_in]);
    // Terms of one row's dot product: all inputs (dense) or the kernel's taps (conv).
    let terms = lin.terms();
    // Error factors: our own coefficient products (γ over len+1 terms: no input's backward
    // coefficient sums more) and the deployed dot product (γ over terms+1).
    let g_own = T::from_f64_up(gamma(len + 1, T::REL_ERR));
    let g_dep = T::from_f64_up(gamma(terms + 1, u_dep));
    let eta_d = T::from_f64_up(eta_dep * (terms as f64 + 1.0));
    let mut msum = T::ZERO;
    for (l, h) in xl.iter().zip(xh) {
        msum = msum.add_up(l.abs().max_of(h.abs()));
    }
    *cx.konst = T::from_f64_up(T::ABS_ERR * len as f64 * 1.000_001).mul_up(msum);
    // Midpoint-radius form in plain arithmetic (vectorisable), its rounding bounded a posteriori.
    // With c_j = fl((l+h)/2), ρ̃_j = fl((h−l)/2), m_j = max|x_j|: [l_j, h_j] ⊆ c_j ± (ρ̃_j +
    // 2u·m_j + 2η), so the row's interval lies within S_c ± S_r ± E for the float sums
    // S_c = b + Σ w_j c_j, S_r = Σ |w_j| ρ̃_j, R = Σ |w_j| m_j, W = Σ |w_j| and
    // E = G·(|b| + 3R + 2S_r) + (3W + 4n + 8)·η, G = 1.01·γ_{n+2} + 4u: the sums' errors
    // (γ_{n+1}(|b| + Σ|w_j c_j|), γ_n·Σ|w_j| ρ̃_j, nη each), |c_j| ≤ (1+u)m_j + η, and the radius
    // correction, with slack for the floats of R and S_r themselves (n: the row's terms).
    let half = T::from_f64_near(0.5);
    let big_g = T::from_f64_up(1.01 * gamma(terms + 2, T::REL_ERR) + 4.0 * T::REL_ERR);
    let g_n = T::from_f64_up(gamma(terms + 1, T::REL_ERR));
    let eta = T::from_f64_up(T::ABS_ERR);
    let eta_n = T::from_f64_up(T::ABS_ERR * (4 * terms + 8) as f64);
    // Only the slack exactly, and `|y_k| ≤ R + |b| + e` as the interval (one product per weight
    // instead of four): a forward engine tightens it next. Where that magnitude overflows the
    // scalar (fixed point), the IBP image below.
    if cx.coarse {
        let pre = cx.scratch.len() >= n_in;
        if pre {
            for j in 0..n_in {
                cx.scratch[j] = xl[j].abs().max_of(xh[j].abs());
            }
        }
        let ms = &cx.scratch[..if pre { n_in } else { 0 }];
        let mut fits = true;
        for k in 0..len {
            let bk = lin.bias(k);
            let mut rr = T::ZERO;
            match lin.map {
                Map::Dense { w, cols } if pre => {
                    for (&wj, &m) in w[k * cols..(k + 1) * cols].iter().zip(ms) {
                        rr = rr.add(wj.abs().mul(m));
                    }
                }
                _ => lin.for_each(k, |j, wj| rr = rr.add(wj.abs().mul(xl[j].abs().max_of(xh[j].abs())))),
            }
            let r = rr.add_up(g_n.mul_up(rr)).add_up(eta_n);
            let e = g_dep.mul_up(r.add_up(bk.abs())).add_up(eta_d);
            let m = r.add_up(bk.abs()).add_up(e);
            if !m.is_usable() {
                fits = false;
                break;
            }
            cx.out_lo[k] = m.neg();
            cx.out_hi[k] = m;
            cx.aux[k] = e.add_up(g_own.mul_up(r));
        }
        if fits {
            return Ok(());
        }
    }
    // Each input's midpoint, radius and magnitude once (not once per weight), when the scratch
    // holds them: the same values, so the same sums.
    let pre = cx.scratch.len() >= 3 * n_in;
    if pre {
        let (c, r) = cx.scratch.split_at_mut(n_in);
        let (rho, r) = r.split_at_mut(n_in);
        for j in 0..n_in {
            let (l, h) = (xl[j], xh[j]);
            c[j] = l.add(h).mul(half);
            rho[j] = h.sub(l).mul(half);
            r[j] = l.abs().max_of(h.abs());
        }
    }
    let (cs, rest) = cx.scratch.split_at(if pre { n_in } else { 0 });
    let (rhos, ms) = rest.split_at(if pre { n_in } else { 0 });
    for k in 0..len {
        let bk = lin.bias(k);
        let mut acc = MidRad { sc: bk, sr: T::ZERO, rr: T::ZERO, ws: T::ZERO };
        match lin.map {
            Map::Dense { w, cols } if pre => {
                let row = &w[k * cols..(k + 1) * cols];
                for (((&wj, &c), &rho), &m) in row.iter().zip(cs).zip(rhos).zip(ms) {
                    acc.add_pre(wj, c, rho, m);
                }
            }
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
            .mul_up(bk.abs().add_up(T::from_f64_near(3.0).mul_up(r)).add_up(sr.abs().add_up(sr.abs())))
            .add_up(T::from_f64_near(3.0).mul_up(wsum).mul_up(eta))
            .add_up(eta_n);
        let l = sc.sub_down(sr).sub_down(big_e);
        let h = sc.add_up(sr).add_up(big_e);
        let e = g_dep.mul_up(r.add_up(bk.abs())).add_up(eta_d);
        cx.out_lo[k] = l.sub_down(e);
        cx.out_hi[k] = h.add_up(e);
        cx.aux[k] = e.add_up(g_own.mul_up(r));
    }
    Ok(())
}

/// CROWN's step through a linear node: each row through the transpose (a transposed
/// convolution for a `Conv`: never a dense matrix, never a gather), the bias term and its
/// rounding into the row's constant. Only an input already reached by another path pays for
/// its old coefficients (their sums now round).
pub(crate) fn backward<T: Scalar>(
    g: &Graph<'_, T>,
    node: &Node,
    cx: &mut BackCx<'_, T>,
) -> Result<(), BoundError> {
    let lin = g.linear(&node.op).ok_or(BoundError::Shape)?;
    let len = cx.len;
    let n_in = g.nodes[lin.x as usize].len as usize;
    let xo = g.offset(lin.x);
    let (bx, fresh) = cx.reach(g, lin.x);
    let k_err = SumErr::new(len);
    let old = (!fresh).then(|| (T::from_f64_up(gamma(len + 1, T::REL_ERR)), SumErr::new(n_in)));
    let (lo, hi) = (&cx.lo[xo..xo + n_in], &cx.hi[xo..xo + n_in]);
    for r in 0..cx.rows {
        let arow = &cx.own[r * len..(r + 1) * len];
        let xrow = &mut cx.a[bx + r * n_in..bx + (r + 1) * n_in];
        if let Some((g_old, k_in)) = &old {
            let sl = k_in.abs_dot_up(xrow, |j| lo[j].abs().max_of(hi[j].abs()));
            cx.bias[r] = cx.bias[r].sub_down(g_old.mul_up(sl));
        }
        let mut acc = RowSums::new();
        let biased = !lin.b.is_empty();
        lin.scatter(arow, xrow, |k, a| {
            if biased {
                acc.add_product(a.mul(lin.bias(k)));
            }
        });
        cx.bias[r] = acc.apply(cx.bias[r], &k_err);
    }
    Ok(())
}

/// One row of a linear node's interval in midpoint-radius form (see [`ibp`]): the float sums
/// `S_c = b + Σ w_j c_j`, `S_r = Σ |w_j| ρ̃_j`, `R = Σ |w_j| m_j` and `W = Σ |w_j|`.
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
        self.add_pre(wj, c, rho, m);
    }

    /// [`MidRad::add`] with the input's `c`, `ρ̃` and `m` computed already.
    #[inline(always)]
    fn add_pre(&mut self, wj: T, c: T, rho: T, m: T) {
        let wa = wj.abs();
        self.sc = self.sc.add(wj.mul(c));
        self.sr = self.sr.add(wa.mul(rho));
        self.rr = self.rr.add(wa.mul(m));
        self.ws = self.ws.add(wa);
    }
}
