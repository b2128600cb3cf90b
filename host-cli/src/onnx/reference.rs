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
                IOp::Unary { x, f } => v(*x).iter().map(|&xi| xi.unary(*f)).collect(),
            };
            vals.push(out);
        }
        vals.into_iter().nth(self.output)
    }
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
