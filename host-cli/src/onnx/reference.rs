//! The reference evaluation: the lowered graph *before* any rewrite, evaluated in f32 one node
//! at a time, each node's result rounded as the ONNX node that produced it rounds it.
//!
//! This is what a counterexample is confirmed on. The engines run on the rewritten graph
//! ([`super::builder`]): its exact fusions, and divisions turned into products with a
//! reciprocal, whose extra rounding the bounds cover but a witness must not rely on. Here a
//! division divides, a matrix product rounds its sum before a bias is added, and sums are taken
//! in index order.
//!
//! Two evaluations share the one traversal ([`Value`]): plain f32 with libm's f32 functions
//! (the firmware's math), and [`Span32`], an interval of f32 values that holds the result of
//! *every* implementation of the elementwise functions within their documented error
//! ([`genbab_core::relax::interval`]: libm's and onnxruntime's CPU kernels alike), the
//! arithmetic still rounded to nearest f32 in the same order. A witness must hold over the whole
//! interval, so it does not rest on one library's last ulp.

use genbab_core::graph::{Unary, broadcast};
use genbab_core::ops::matmul::MatMulDims;

use super::builder::{INode, IOp};

/// The lowered node list as the ONNX graph computes it, and its output node.
#[derive(Clone, Debug)]
pub struct Reference {
    pub nodes: Vec<INode>,
    pub output: usize,
}

/// What the reference evaluates in: f32 arithmetic rounded to nearest, elementwise.
pub trait Value: Copy {
    fn constant(c: f64) -> Self;
    fn add(self, o: Self) -> Self;
    fn sub(self, o: Self) -> Self;
    fn mul(self, o: Self) -> Self;
    fn div(self, o: Self) -> Self;
    fn unary(self, f: Unary) -> Self;
    /// The larger (`min`: smaller) of the two, exactly.
    fn max_min(self, o: Self, min: bool) -> Self;
    /// `fl(self·self)`.
    fn square(self) -> Self;
    /// `fl(self·self + acc)` with one rounding (a fused multiply-add).
    fn square_add(self, acc: Self) -> Self;
    /// `fl(self·s + b)` with one rounding (a fused multiply-add) for constants `s` and `b`.
    fn mul_add(self, s: f32, b: f32) -> Self;
    /// The mean of `v` as onnxruntime's AVX2 LayerNormalization kernel forms it
    /// ([`mean_f64_lanes`]).
    fn mean_f64(v: &[Self]) -> Self;
}

/// `f32(Σ v / n)` with the sum in f64 as onnxruntime's AVX2 LayerNormalization kernel takes it:
/// four lanes over the leading multiple of four (`lane_l += v[i + l]`), the lanes reduced as
/// `(l0 + l2) + (l1 + l3)`, then the rest added one by one; the quotient by `n` in f64, then
/// rounded to f32.
pub fn mean_f64_lanes(v: &[f32]) -> f32 {
    let mut lanes = [0.0f64; 4];
    let whole = v.len() / 4 * 4;
    for c in v[..whole].chunks_exact(4) {
        for (l, &x) in lanes.iter_mut().zip(c) {
            *l += x as f64;
        }
    }
    let mut s = (lanes[0] + lanes[2]) + (lanes[1] + lanes[3]);
    for &x in &v[whole..] {
        s += x as f64;
    }
    (s / v.len() as f64) as f32
}

/// `Σ v_j²` as onnxruntime's AVX2 LayerNormalization kernel accumulates it, in `V`: eight
/// lanes of fused multiply-adds over the leading multiple of eight, reduced as
/// `((l0+l4) + (l2+l6)) + ((l1+l5) + (l3+l7))`; then the rest in steps of four, each square
/// rounded before it is added (the compiler's unrolled tail), and the last up to three fused.
pub fn sum_squares_lanes<V: Value>(v: &[V]) -> V {
    let zero = V::constant(0.0);
    let mut lanes = [zero; 8];
    let whole = v.len() / 8 * 8;
    for c in v[..whole].chunks_exact(8) {
        for (l, &x) in lanes.iter_mut().zip(c) {
            *l = x.square_add(*l);
        }
    }
    let h: Vec<V> = (0..4).map(|l| lanes[l].add(lanes[l + 4])).collect();
    let mut s = h[0].add(h[2]).add(h[1].add(h[3]));
    let mut i = whole;
    while i + 4 <= v.len() {
        for &x in &v[i..i + 4] {
            s = s.add(x.square());
        }
        i += 4;
    }
    for &x in &v[i..] {
        s = x.square_add(s);
    }
    s
}

impl Value for f32 {
    fn constant(c: f64) -> Self {
        c as f32
    }
    fn add(self, o: Self) -> Self {
        self + o
    }
    fn sub(self, o: Self) -> Self {
        self - o
    }
    fn mul(self, o: Self) -> Self {
        self * o
    }
    fn div(self, o: Self) -> Self {
        self / o
    }
    fn unary(self, f: Unary) -> Self {
        genbab_core::relax::apply(f, self)
    }
    fn max_min(self, o: Self, min: bool) -> Self {
        if min { self.min(o) } else { self.max(o) }
    }
    fn square(self) -> Self {
        self * self
    }
    fn square_add(self, acc: Self) -> Self {
        self.mul_add(self, acc)
    }
    fn mul_add(self, s: f32, b: f32) -> Self {
        f32::mul_add(self, s, b)
    }
    fn mean_f64(v: &[Self]) -> Self {
        mean_f64_lanes(v)
    }
}

/// The f32 values `lo..=hi`. Rounding to nearest is monotone, so an operation's rounded results
/// over intervals lie between its rounded results at the extreme corners: f32 arithmetic on the
/// ends is exact for this purpose. A NaN end (0/0, ∞−∞, a function outside its domain) makes
/// the interval unusable, and so does an infinite one.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Span32 {
    pub lo: f32,
    pub hi: f32,
}

impl Span32 {
    /// The one value `v`.
    pub fn point(v: f32) -> Span32 {
        Span32 { lo: v, hi: v }
    }
    const UNKNOWN: Span32 = Span32 { lo: f32::NEG_INFINITY, hi: f32::INFINITY };
    /// `[lo, hi]`, or unusable if either end is NaN.
    fn checked(lo: f32, hi: f32) -> Span32 {
        if lo.is_nan() || hi.is_nan() { Span32::UNKNOWN } else { Span32 { lo, hi } }
    }
    fn corners(a: Span32, b: Span32, op: impl Fn(f32, f32) -> f32) -> Span32 {
        let c = [op(a.lo, b.lo), op(a.lo, b.hi), op(a.hi, b.lo), op(a.hi, b.hi)];
        if c.iter().any(|v| v.is_nan()) {
            return Span32::UNKNOWN;
        }
        Span32 {
            lo: c.iter().copied().fold(f32::INFINITY, f32::min),
            hi: c.iter().copied().fold(f32::NEG_INFINITY, f32::max),
        }
    }
}

impl Value for Span32 {
    fn constant(c: f64) -> Self {
        Span32::point(c as f32)
    }
    fn add(self, o: Self) -> Self {
        Span32 { lo: self.lo + o.lo, hi: self.hi + o.hi }
    }
    fn sub(self, o: Self) -> Self {
        Span32 { lo: self.lo - o.hi, hi: self.hi - o.lo }
    }
    fn mul(self, o: Self) -> Self {
        Span32::corners(self, o, |p, q| p * q)
    }
    fn div(self, o: Self) -> Self {
        if o.lo <= 0.0 && o.hi >= 0.0 {
            return Span32::UNKNOWN;
        }
        Span32::corners(self, o, |p, q| p / q)
    }
    fn square(self) -> Self {
        // Monotone in |x|: the ends' squares, and 0 where the interval holds it.
        let (a, b) = (self.lo * self.lo, self.hi * self.hi);
        let lo = if self.lo <= 0.0 && self.hi >= 0.0 { 0.0 } else { a.min(b) };
        Span32::checked(lo, a.max(b))
    }
    fn square_add(self, acc: Self) -> Self {
        // fl(s + c) is monotone in the exact square s and in c: the end of least (largest)
        // square with the low (high) accumulator.
        let (lo2, hi2) = (self.lo as f64 * self.lo as f64, self.hi as f64 * self.hi as f64);
        let (at_min, at_max) = if lo2 <= hi2 { (self.lo, self.hi) } else { (self.hi, self.lo) };
        let lo = if self.lo <= 0.0 && self.hi >= 0.0 { acc.lo } else { at_min.mul_add(at_min, acc.lo) };
        Span32::checked(lo, at_max.mul_add(at_max, acc.hi))
    }
    fn mul_add(self, s: f32, b: f32) -> Self {
        // Monotone in x: increasing for s ≥ 0, decreasing otherwise.
        let (p, q) = (self.lo.mul_add(s, b), self.hi.mul_add(s, b));
        Span32::checked(p.min(q), p.max(q))
    }
    fn mean_f64(v: &[Self]) -> Self {
        // Monotone (nondecreasing) in every member.
        let lo: Vec<f32> = v.iter().map(|t| t.lo).collect();
        let hi: Vec<f32> = v.iter().map(|t| t.hi).collect();
        Span32::checked(mean_f64_lanes(&lo), mean_f64_lanes(&hi))
    }
    fn max_min(self, o: Self, min: bool) -> Self {
        // Monotone in both operands: the ends map to the ends.
        let f = |p: f32, q: f32| if min { p.min(q) } else { p.max(q) };
        Span32 { lo: f(self.lo, o.lo), hi: f(self.hi, o.hi) }
    }
    fn unary(self, f: Unary) -> Self {
        if matches!(f, Unary::Relu | Unary::LeakyRelu(_) | Unary::Neg | Unary::Abs | Unary::Floor) {
            // Computed exactly (or with one monotone rounding) everywhere: the f32 function at
            // the ends (and at 0, where |x| turns).
            let at = |v: f32| genbab_core::relax::apply(f, v);
            let zero = if f == Unary::Abs && self.lo < 0.0 && self.hi > 0.0 { 0.0 } else { at(self.lo) };
            let c = [at(self.lo), at(self.hi), zero];
            if c.iter().any(|v| v.is_nan()) {
                return Span32::UNKNOWN;
            }
            let lo = c.iter().copied().fold(f32::INFINITY, f32::min);
            return Span32 { lo, hi: c.iter().copied().fold(f32::NEG_INFINITY, f32::max) };
        }
        match genbab_core::relax::interval(f, self.lo as f64, self.hi as f64) {
            // The deployed value is an f32 inside [a, b]: widen each end to the f32 beyond it.
            Ok((a, b)) => {
                let (lo, hi) = (a as f32, b as f32);
                Span32 {
                    lo: if lo as f64 > a { lo.next_down() } else { lo },
                    hi: if (hi as f64) < b { hi.next_up() } else { hi },
                }
            }
            Err(_) => Span32::UNKNOWN,
        }
    }
}

impl Reference {
    /// The output for input `x` (`None` when `x` has the wrong length).
    pub fn eval<V: Value>(&self, x: &[V]) -> Option<Vec<V>> {
        if self.nodes.first().is_none_or(|n| n.len != x.len()) {
            return None;
        }
        let mut vals: Vec<Vec<V>> = Vec::with_capacity(self.nodes.len());
        for node in &self.nodes {
            let v = |j: usize| &vals[j];
            let c = |c: &[f64], k: usize, d: f64| V::constant(broadcast(c, k, d));
            let zip = |a: usize, b: usize, f: fn(V, V) -> V| -> Vec<V> {
                v(a).iter().zip(v(b)).map(|(&p, &q)| f(p, q)).collect()
            };
            let out: Vec<V> = match &node.op {
                IOp::Input => x.to_vec(),
                IOp::Affine { x, w, b } => {
                    let xv = v(*x);
                    (0..node.len)
                        .map(|r| {
                            let row = &w[r * xv.len()..(r + 1) * xv.len()];
                            let dot = row
                                .iter()
                                .zip(xv)
                                .fold(V::constant(0.0), |acc, (&wi, &xi)| acc.add(V::constant(wi).mul(xi)));
                            if b.is_empty() { dot } else { dot.add(V::constant(b[r])) }
                        })
                        .collect()
                }
                IOp::Conv { x, w, b, geom } => {
                    let xv = v(*x);
                    (0..node.len)
                        .map(|r| {
                            let mut dot = V::constant(0.0);
                            geom.for_each_tap(r, |j, i| dot = dot.add(V::constant(w[i]).mul(xv[j])));
                            if b.is_empty() { dot } else { dot.add(V::constant(b[geom.channel(r)])) }
                        })
                        .collect()
                }
                IOp::MatMul { a, b, n, k } => {
                    let (va, vb) = (v(*a), v(*b));
                    let d = MatMulDims::new(va.len(), vb.len(), node.len, *n, *k)?;
                    (0..node.len)
                        .map(|o| {
                            (0..d.k).fold(V::constant(0.0), |acc, l| {
                                let (ia, ib) = d.operands(o, l);
                                acc.add(va[ia].mul(vb[ib]))
                            })
                        })
                        .collect()
                }
                IOp::Add { a, b } => zip(*a, *b, V::add),
                IOp::Sub { a, b } => zip(*a, *b, V::sub),
                IOp::Mul { a, b } => zip(*a, *b, V::mul),
                IOp::Div { a, b } => zip(*a, *b, V::div),
                IOp::MaxMin { a, b, min } => {
                    v(*a).iter().zip(v(*b)).map(|(&p, &q)| p.max_min(q, *min)).collect()
                }
                IOp::ScaleShift { x, scale, shift } => v(*x)
                    .iter()
                    .enumerate()
                    .map(|(k, &xi)| xi.mul(c(scale, k, 1.0)).add(c(shift, k, 0.0)))
                    .collect(),
                IOp::DivConst { x, c: d } => {
                    v(*x).iter().enumerate().map(|(k, &xi)| xi.div(c(d, k, 1.0))).collect()
                }
                IOp::RDivConst { x, c: d } => {
                    v(*x).iter().enumerate().map(|(k, &xi)| c(d, k, 1.0).div(xi)).collect()
                }
                IOp::Gather { x, idx } => idx.iter().map(|&j| v(*x)[j as usize]).collect(),
                IOp::Concat { parts } => parts.iter().flat_map(|&p| v(p).iter().copied()).collect(),
                IOp::Sum { x, map } => {
                    let mut o = vec![V::constant(0.0); node.len];
                    for (&xi, &j) in v(*x).iter().zip(map) {
                        o[j as usize] = o[j as usize].add(xi);
                    }
                    o
                }
                IOp::MeanF64 { x, map, .. } => {
                    groups(v(*x), map, node.len).iter().map(|g| V::mean_f64(g)).collect()
                }
                IOp::SumSquares { x, map } => {
                    groups(v(*x), map, node.len).iter().map(|g| sum_squares_lanes(g)).collect()
                }
                IOp::MulAdd { x, scale, shift } => v(*x)
                    .iter()
                    .enumerate()
                    .map(|(k, &xi)| {
                        xi.mul_add(broadcast(scale, k, 1.0) as f32, broadcast(shift, k, 0.0) as f32)
                    })
                    .collect(),
                IOp::Unary { x, f } => v(*x).iter().map(|&xi| xi.unary(*f)).collect(),
            };
            vals.push(out);
        }
        vals.into_iter().nth(self.output)
    }
}

/// One row of onnxruntime 1.32's float LayerNormalization on x86-64 with AVX2 and FMA, computed
/// directly (the loader folds constants with it; tests check the lowered graph against it):
///
/// - fewer than 8 elements, the scalar kernel (Welford): for `k = 1..n`,
///   `d = x_k − m`, `m = m + d/k`, `M2 = M2 + d·(x_k − m)`; then
///   `y = (x − m) / sqrt(M2/n + ε) · scale (+ bias)`, every operation rounded to f32;
/// - 8 or more, MLAS's AVX2 kernel: `m` = [`mean_f64_lanes`], `v` = [`sum_squares_lanes`] of
///   `x − m`, `inv = 1 / sqrt(v/n + ε)`, `y = fma((x − m)·inv, scale, bias)` (without a bias,
///   `((x − m)·inv)·scale`).
pub fn layer_norm_row(x: &[f32], scale: &[f32], bias: Option<&[f32]>, eps: f32) -> Vec<f32> {
    let n = x.len();
    if n < 8 {
        let (mut m, mut m2) = (0.0f32, 0.0f32);
        for (k, &xk) in x.iter().enumerate() {
            let d = xk - m;
            m += d / (k + 1) as f32;
            m2 += d * (xk - m);
        }
        let den = (m2 / n as f32 + eps).sqrt();
        (0..n)
            .map(|h| {
                let y = (x[h] - m) / den * scale[h];
                bias.map_or(y, |b| y + b[h])
            })
            .collect()
    } else {
        let m = mean_f64_lanes(x);
        let d: Vec<f32> = x.iter().map(|&v| v - m).collect();
        let inv = 1.0 / (sum_squares_lanes(&d) / n as f32 + eps).sqrt();
        (0..n)
            .map(|h| {
                let t = d[h] * inv;
                bias.map_or(t * scale[h], |b| t.mul_add(scale[h], b[h]))
            })
            .collect()
    }
}

/// The members of each of `len` groups in index order (`map[j]`: the group of `x[j]`).
fn groups<V: Value>(x: &[V], map: &[u32], len: usize) -> Vec<Vec<V>> {
    let mut g = vec![Vec::new(); len];
    for (&xi, &j) in x.iter().zip(map) {
        g[j as usize].push(xi);
    }
    g
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The interval evaluation holds the plain one, is a point where every operation is exact
    /// f32 arithmetic, and widens only at the functions (by their error model).
    #[test]
    fn interval_evaluation_holds_the_point_evaluation() {
        let r = Reference {
            nodes: vec![
                INode { op: IOp::Input, len: 2 },
                INode {
                    op: IOp::Affine { x: 0, w: vec![1.5, -0.25, 3.0, 1.0], b: vec![0.125, 0.0] },
                    len: 2,
                },
                INode { op: IOp::DivConst { x: 1, c: vec![3.0] }, len: 2 },
                INode { op: IOp::Unary { x: 2, f: Unary::Relu }, len: 2 },
                INode { op: IOp::Unary { x: 3, f: Unary::Sigmoid }, len: 2 },
                INode { op: IOp::Concat { parts: vec![3, 4] }, len: 4 },
            ],
            output: 5,
        };
        for x in [[0.3f32, -1.7], [-2.0, 0.1], [1e-3, 7.0]] {
            let p = r.eval(&x).unwrap();
            let s = r.eval(&[Span32::point(x[0]), Span32::point(x[1])]).unwrap();
            for (k, (v, i)) in p.iter().zip(&s).enumerate() {
                assert!(i.lo <= *v && *v <= i.hi, "{k}: {v} outside {i:?}");
                if k < 2 {
                    assert_eq!((i.lo, i.hi), (*v, *v), "exact f32 arithmetic is a point");
                } else {
                    assert!(i.hi > i.lo && i.hi - i.lo < 1e-6, "{i:?}");
                }
            }
        }
        // 1/x over an interval holding 0 is unusable, not a wrong finite interval.
        assert_eq!(Span32 { lo: 1.0, hi: 1.0 }.div(Span32 { lo: -1.0, hi: 1.0 }), Span32::UNKNOWN);
    }
}
