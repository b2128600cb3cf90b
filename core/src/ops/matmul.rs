//! Product of two variable matrices (ONNX `MatMul` of two variables, batched): attention's
//! `Q·Kᵀ` and `softmax·V`.
//!
//! `y[t, i, j] = Σ_l a[t, i, l]·b[t, l, j]` for `t < nb`, `i < n`, `j < m`, `l < k`, all
//! row-major. Lowered to gathers, elementwise products and sums, this materialised three values
//! per product term (a ViT with 17 tokens: 250,000 values for six products); kept whole, it costs
//! its output values plus one relaxation (two McCormick planes, 6 scalars) per product term in the
//! relaxation cache, and the engines walk the terms in place: term `(out, l)` of output element
//! `out = (t·n + i)·m + j` reads `a[(t·n + i)·k + l]` and `b[(t·k + l)·m + j]`.

/// Shape of a batched matrix product, derived from the operand lengths and the op's `n`, `k`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MatMulDims {
    /// Batch count.
    pub nb: usize,
    /// Rows of `a` (and of the output).
    pub n: usize,
    /// Columns of `a`, rows of `b`: the terms per output element.
    pub k: usize,
    /// Columns of `b` (and of the output).
    pub m: usize,
}

impl MatMulDims {
    /// The shape for operands of `len_a` and `len_b` elements, output of `len`, with `n` rows and
    /// `k` terms; `None` unless `len_a = nb·n·k`, `len_b = nb·k·m` and `len = nb·n·m` for whole
    /// positive `nb`, `m`.
    pub fn new(len_a: usize, len_b: usize, len: usize, n: usize, k: usize) -> Option<MatMulDims> {
        let nk = n.checked_mul(k).filter(|&v| v > 0)?;
        if len_a == 0 || !len_a.is_multiple_of(nk) {
            return None;
        }
        let nb = len_a / nk;
        let nbn = nb * n;
        if len == 0 || !len.is_multiple_of(nbn) {
            return None;
        }
        let m = len / nbn;
        (nb.checked_mul(k)?.checked_mul(m)? == len_b).then_some(MatMulDims { nb, n, k, m })
    }

    /// Length of `a` (`nb·n·k`).
    pub fn a_len(&self) -> usize {
        self.nb * self.n * self.k
    }
    /// Length of `b` (`nb·k·m`).
    pub fn b_len(&self) -> usize {
        self.nb * self.k * self.m
    }

    /// Operand indices of term `l` of output element `out`: `(index into a, index into b)`.
    #[inline]
    pub fn operands(&self, out: usize, l: usize) -> (usize, usize) {
        let (row, j) = (out / self.m, out % self.m); // row = t·n + i
        let t = row / self.n;
        (row * self.k + l, (t * self.k + l) * self.m + j)
    }

    /// `y = a·b` in `T`'s nearest arithmetic, each dot product summed in `l` order from zero (the
    /// forward value every evaluator of the core uses).
    pub fn forward<T: crate::num::Scalar>(&self, a: &[T], b: &[T], out: &mut [T]) {
        for (o, y) in out.iter_mut().enumerate() {
            let mut acc = T::ZERO;
            for l in 0..self.k {
                let (ia, ib) = self.operands(o, l);
                acc = acc.add(a[ia].mul(b[ib]));
            }
            *y = acc;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_and_operands() {
        // 2 batches of (3 × 4)·(4 × 5).
        let d = MatMulDims::new(2 * 3 * 4, 2 * 4 * 5, 2 * 3 * 5, 3, 4).unwrap();
        assert_eq!(d, MatMulDims { nb: 2, n: 3, k: 4, m: 5 });
        // Output (t=1, i=2, j=3), term l=1: a[1,2,1], b[1,1,3].
        let out = (3 + 2) * 5 + 3;
        assert_eq!(d.operands(out, 1), ((3 + 2) * 4 + 1, (4 + 1) * 5 + 3));
        assert_eq!(MatMulDims::new(24, 40, 29, 3, 4), None);
        assert_eq!(MatMulDims::new(24, 41, 30, 3, 4), None);
        assert_eq!(MatMulDims::new(24, 40, 30, 0, 4), None);
        assert_eq!(MatMulDims::new(25, 40, 30, 3, 4), None);
    }

    #[test]
    fn forward_is_the_matrix_product() {
        let d = MatMulDims::new(2 * 2 * 3, 2 * 3 * 2, 2 * 2 * 2, 2, 3).unwrap();
        let a: [f64; 12] = core::array::from_fn(|i| i as f64 - 4.0);
        let b: [f64; 12] = core::array::from_fn(|i| (i * i) as f64 * 0.5 - 3.0);
        let mut y = [0.0; 8];
        d.forward(&a, &b, &mut y);
        for t in 0..2 {
            for i in 0..2 {
                for j in 0..2 {
                    let want: f64 = (0..3).map(|l| a[(t * 2 + i) * 3 + l] * b[(t * 3 + l) * 2 + j]).sum();
                    assert_eq!(y[(t * 2 + i) * 2 + j], want);
                }
            }
        }
    }
}
