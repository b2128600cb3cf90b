//! The reference evaluation: the lowered graph *before* any rewrite, evaluated in f32 one node
//! at a time, each node's result rounded as the ONNX node that produced it rounds it.
//!
//! This is what a counterexample is confirmed on. The engines run on the rewritten graph
//! ([`super::builder`]): its exact fusions, and divisions turned into products with a
//! reciprocal, whose extra rounding the bounds cover but a witness must not rely on. Here a
//! division divides, a matrix product rounds its sum before a bias is added, and the elementwise
//! functions are libm's f32 functions (the firmware's). Sums are taken in index order; onnxruntime
//! may take them in another order and its functions differ from libm's by a few ulps, which is
//! why the bounds, unlike this one evaluation, enclose every order and every function within
//! the documented error.

use genbab_core::graph::broadcast;
use genbab_core::num::Scalar;

use super::builder::{INode, IOp};

/// The lowered node list as the ONNX graph computes it, and its output node.
#[derive(Clone, Debug)]
pub struct Reference {
    pub nodes: Vec<INode>,
    pub output: usize,
}

impl Reference {
    /// The output for input `x` in f32 (`None` when `x` has the wrong length).
    pub fn eval(&self, x: &[f32]) -> Option<Vec<f32>> {
        if self.nodes.first().is_none_or(|n| n.len != x.len()) {
            return None;
        }
        let mut vals: Vec<Vec<f32>> = Vec::with_capacity(self.nodes.len());
        for node in &self.nodes {
            let v = |j: usize| &vals[j];
            let c32 = |c: &[f64], k: usize, d: f64| broadcast(c, k, d) as f32;
            let out: Vec<f32> = match &node.op {
                IOp::Input => x.to_vec(),
                IOp::Affine { x, w, b } => {
                    let xv = v(*x);
                    (0..node.len)
                        .map(|r| {
                            let row = &w[r * xv.len()..(r + 1) * xv.len()];
                            let dot = row.iter().zip(xv).fold(0.0f32, |acc, (&wi, &xi)| acc + wi as f32 * xi);
                            if b.is_empty() { dot } else { dot + b[r] as f32 }
                        })
                        .collect()
                }
                IOp::Add { a, b } => v(*a).iter().zip(v(*b)).map(|(p, q)| p + q).collect(),
                IOp::Sub { a, b } => v(*a).iter().zip(v(*b)).map(|(p, q)| p - q).collect(),
                IOp::Mul { a, b } => v(*a).iter().zip(v(*b)).map(|(p, q)| p * q).collect(),
                IOp::Div { a, b } => v(*a).iter().zip(v(*b)).map(|(p, q)| p / q).collect(),
                IOp::ScaleShift { x, scale, shift } => v(*x)
                    .iter()
                    .enumerate()
                    .map(|(k, &xi)| xi * c32(scale, k, 1.0) + c32(shift, k, 0.0))
                    .collect(),
                IOp::DivConst { x, c } => {
                    v(*x).iter().enumerate().map(|(k, &xi)| xi / c32(c, k, 1.0)).collect()
                }
                IOp::RDivConst { x, c } => {
                    v(*x).iter().enumerate().map(|(k, &xi)| c32(c, k, 1.0) / xi).collect()
                }
                IOp::Gather { x, idx } => idx.iter().map(|&j| v(*x)[j as usize]).collect(),
                IOp::Concat { parts } => parts.iter().flat_map(|&p| v(p).iter().copied()).collect(),
                IOp::Sum { x, map } => {
                    let mut o = vec![0.0f32; node.len];
                    for (&xi, &j) in v(*x).iter().zip(map) {
                        o[j as usize] += xi;
                    }
                    o
                }
                IOp::Unary { x, f } => v(*x).iter().map(|&xi| f32::unary(*f, xi)).collect(),
            };
            vals.push(out);
        }
        vals.into_iter().nth(self.output)
    }
}
