//! Linear maps with constant weights: a dense `Affine` and a `Conv`, seen through one interface.
//!
//! Both compute each output element as a bias plus a dot product of weights with some of the
//! input's elements, so the engines' error analysis is the same for both (γ over the row's terms,
//! see `bound`): only *which* terms a row has differs. [`Linear`] names the row's terms; the dense
//! case keeps its own tight loops where they are hot. A graph hands out the view of its node
//! (`Graph::linear`), so this module does not know the graph.

use crate::num::Scalar;
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
