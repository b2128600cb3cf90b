//! The rounding bookkeeping of backward rows: the steps add coefficient products into their
//! inputs' rows and intercept products into each row's constant in plain (vectorisable)
//! arithmetic, and bound the error of all of it once per row.

use crate::num::{Scalar, gamma};

/// One backward row's contributions to its bias through a node, summed in plain arithmetic and
/// bounded once: `Σ p_k` (intercept products `p_k = fl(a_k·b_k)`) with `Σ |p_k|`, and the
/// coefficient-update error `Σ (|t_k| + |dst_k|)·m_k` with `Σ m_k` (see the unary backward step).
pub(crate) struct RowSums<T> {
    sum: T,
    abs: T,
    /// `Σ (|t_k| + |dst_k|)·m_k` of the coefficient updates.
    pub(crate) err: T,
    /// `Σ m_k` of the coefficient updates.
    pub(crate) mags: T,
}

impl<T: Scalar> RowSums<T> {
    /// Empty sums.
    pub(crate) fn new() -> Self {
        RowSums { sum: T::ZERO, abs: T::ZERO, err: T::ZERO, mags: T::ZERO }
    }
    /// Add an intercept product.
    #[inline]
    pub(crate) fn add_product(&mut self, p: T) {
        self.sum = self.sum.add(p);
        self.abs = self.abs.add(p.abs());
    }
    /// `bias` plus the sums, rounded down by their worst-case error over `n` terms: the
    /// intercept sum is within `γ_{n+1}·Σ|a_k b_k| + nη` of exact, and `Σ|a_k b_k| ≤
    /// (1+γ_{n+1})·abs + nη`; the update error `Σ (2u(|t_k| + |dst_k|) + η)·m_k` is at most
    /// `2u(1+γ_{n+2})·err + (1+γ_{n+1})·η·mags + 4nη` by the same argument for its own sums.
    /// `k` holds the constants for `n` ([`SumErr::new`]), computed once per node, not per row.
    #[inline]
    pub(crate) fn apply(&self, bias: T, k: &SumErr<T>) -> T {
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
pub(crate) fn elementwise_row<T: Scalar>(
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
pub(crate) struct SumErr<T> {
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
    pub(crate) fn abs_dot_up(&self, a: &[T], m: impl Fn(usize) -> T) -> T {
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

    /// An upper bound of the exact `Σ_k |a_k|·m_k` of `n` terms given its plain-arithmetic sum
    /// `s` (as [`SumErr::abs_dot_up`] bounds it).
    pub(crate) fn bound_sum(&self, s: T) -> T {
        if s == T::ZERO && self.eta_n == T::ZERO {
            return T::ZERO;
        }
        s.add_up(self.eta_n).mul_up(self.one_g)
    }

    /// An upper bound of the error of a plain-arithmetic sum of `n` terms, each a rounded product
    /// (or exact), given `nb ≥ Σ_k |exact term k|`: `γ·nb + nη`.
    pub(crate) fn dot_err(&self, nb: T) -> T {
        self.g.mul_up(nb).add_up(self.eta_n)
    }

    /// An upper bound of the error, over a box, of a linear function composed in plain
    /// arithmetic as `Σ_j a_j·F_j + b` from `n` terms (forward-mode bounds): each computed
    /// coefficient `c_i` is within `γ·Σ_j |a_j F_ji| + nη` of exact, so the function is off by at
    /// most `γ·Σ_j |a_j|·N_j + nη·Σ_i M_i` anywhere in the box, given `s`, the computed
    /// `Σ_j |a_j|·N_j + |b|` with `N_j ≥ Σ_i |F_ji|·M_i` (`M_i = max|x_i|`, 1 for the constant),
    /// and `mags = Σ_i M_i`.
    pub(crate) fn composed(&self, s: T, mags: T) -> T {
        let s = s.add_up(self.eta_n).mul_up(self.one_g);
        self.g.mul_up(s).add_up(self.eta_n.mul_up(mags))
    }

    /// The constants for rows of `n` terms.
    pub(crate) fn new(n: usize) -> Self {
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
