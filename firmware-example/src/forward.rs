//! A forward pass over the core IR with pluggable weights and unary functions.
//!
//! The core's `Graph::eval` computes what the deployed network computes (exact `libm` math). This
//! evaluator runs the same graph with the arithmetic swapped: [`prescreen`] uses `micromath`'s
//! fast approximations (a hint, never a decision), and the fixed-point check evaluates the network
//! whose weights are the Q16.16 ones. Summation order is the core's.

use genbab_core::graph::{Graph, Op, Unary};
use genbab_core::ops::conv::ConvGeom;
use genbab_core::relax;
use micromath::F32Ext;

/// Forward pass; `weight(i)` gives weight `i`, `unary` the nonlinearities. `values` holds at least
/// `g.total_len()` scalars. `None` if the graph is invalid or a buffer too short.
pub fn eval_with<'v>(
    g: &Graph<'_, f32>,
    weight: impl Fn(usize) -> f32,
    unary: impl Fn(Unary, f32) -> f32,
    x: &[f32],
    values: &'v mut [f32],
) -> Option<&'v [f32]> {
    g.validate().ok()?;
    if x.len() != g.input_len() || values.len() < g.total_len() {
        return None;
    }
    let mut off = 0usize;
    for node in g.nodes {
        let len = node.len as usize;
        let (done, rest) = values.split_at_mut(off);
        let out = &mut rest[..len];
        let val = |n: u16| {
            let o = g.offset(n);
            &done[o..o + g.nodes[n as usize].len as usize]
        };
        match node.op {
            Op::Input => out.copy_from_slice(x),
            Op::Affine { x, w, b } => {
                let xv = val(x);
                let (w0, b0) = (w.start as usize, b.start as usize);
                for (r, o) in out.iter_mut().enumerate() {
                    let mut acc = if b.len == 0 { 0.0 } else { weight(b0 + r) };
                    for (j, xj) in xv.iter().enumerate() {
                        acc += weight(w0 + r * xv.len() + j) * xj;
                    }
                    *o = acc;
                }
            }
            Op::Conv { x, w, b, geom } => {
                let cg = ConvGeom::decode(g.indices.get(geom as usize..geom as usize + ConvGeom::WORDS)?)?;
                let xv = val(x);
                let (w0, b0) = (w.start as usize, b.start as usize);
                for (r, o) in out.iter_mut().enumerate() {
                    let mut acc = if b.len == 0 { 0.0 } else { weight(b0 + cg.channel(r)) };
                    cg.for_each_tap(r, |j, i| acc += weight(w0 + i) * xv[j]);
                    *o = acc;
                }
            }
            Op::MatMul { a, b, .. } => {
                let (va, vb) = (val(a), val(b));
                let d = g.matmul(node)?;
                for (o, y) in out.iter_mut().enumerate() {
                    let mut acc = 0.0;
                    for l in 0..d.k {
                        let (ia, ib) = d.operands(o, l);
                        acc += va[ia] * vb[ib];
                    }
                    *y = acc;
                }
            }
            Op::Add { a, b } => zip2(out, val(a), val(b), |p, q| p + q),
            Op::Sub { a, b } => zip2(out, val(a), val(b), |p, q| p - q),
            Op::Mul { a, b } => zip2(out, val(a), val(b), |p, q| p * q),
            Op::ScaleShift { x, scale, shift } => {
                let xv = val(x);
                for (j, o) in out.iter_mut().enumerate() {
                    let s = match scale.len {
                        0 => 1.0,
                        1 => weight(scale.start as usize),
                        _ => weight(scale.start as usize + j),
                    };
                    let c = match shift.len {
                        0 => 0.0,
                        1 => weight(shift.start as usize),
                        _ => weight(shift.start as usize + j),
                    };
                    *o = xv[j] * s + c;
                }
            }
            Op::Gather { x, idx } => {
                let xv = val(x);
                for (o, &j) in out.iter_mut().zip(&g.indices[idx.range()]) {
                    *o = xv[j as usize];
                }
            }
            Op::Concat { parts } => {
                let mut k0 = 0;
                for &p in &g.indices[parts.range()] {
                    let v = val(p as u16);
                    out[k0..k0 + v.len()].copy_from_slice(v);
                    k0 += v.len();
                }
            }
            Op::Sum { x, map } => {
                out.fill(0.0);
                for (xi, &j) in val(x).iter().zip(&g.indices[map.range()]) {
                    out[j as usize] += *xi;
                }
            }
            Op::Unary { x, f } => {
                for (o, xi) in out.iter_mut().zip(val(x)) {
                    *o = unary(f, *xi);
                }
            }
        }
        off += len;
    }
    let o = g.offset(g.output);
    Some(&values[o..o + g.output_len()])
}

fn zip2(out: &mut [f32], a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) {
    for ((o, p), q) in out.iter_mut().zip(a).zip(b) {
        *o = f(*p, *q);
    }
}

/// `micromath`'s approximations of the nonlinearities (errors of about 1e-3 relative; sqrt's is
/// larger, so it keeps libm). Only the pre-screen uses them.
pub fn fast_unary(f: Unary, x: f32) -> f32 {
    match f {
        Unary::Relu => x.max(0.0),
        Unary::Sigmoid => 1.0 / (1.0 + F32Ext::exp(-x)),
        Unary::Tanh => {
            let e = F32Ext::exp(2.0 * x);
            (e - 1.0) / (e + 1.0)
        }
        Unary::Sin => F32Ext::sin(x),
        Unary::Cos => F32Ext::cos(x),
        Unary::Exp => F32Ext::exp(x),
        Unary::Log => F32Ext::ln(x),
        Unary::Pow(n) => F32Ext::powi(x, i32::from(n)),
        f => relax::value_f32(f, x),
    }
}

/// Margin of output `y` against the unsafe region (`rows`, `rhs`, clause `ends`): the smallest,
/// over clauses, of the largest `c·y − d` over the clause's atoms. `≤ 0` means unsafe.
pub fn margin(rows: &[f32], rhs: &[f32], ends: &[u32], y: &[f32]) -> f32 {
    let n = y.len();
    let mut start = 0usize;
    let mut m = f32::INFINITY;
    for &e in ends {
        let mut best = f32::NEG_INFINITY;
        for i in start..e as usize {
            let s: f32 = rows[i * n..(i + 1) * n].iter().zip(y).map(|(c, v)| c * v).sum();
            best = best.max(s - rhs[i]);
        }
        start = e as usize;
        m = m.min(best);
    }
    m
}

/// The pre-screen: a fast approximate forward pass at the frame centre; returns the margin it
/// predicts (a hint: `≤ 0` suggests an unsafe frame).
pub fn prescreen(
    g: &Graph<'_, f32>,
    rows: &[f32],
    rhs: &[f32],
    ends: &[u32],
    x: &[f32],
    values: &mut [f32],
) -> Option<f32> {
    let y = eval_with(g, |i| g.weights[i], fast_unary, x, values)?;
    Some(margin(rows, rhs, ends, y))
}

/// The same pass with the exact deployed functions (for the pre-screen's cost comparison).
pub fn exact_margin(
    g: &Graph<'_, f32>,
    rows: &[f32],
    rhs: &[f32],
    ends: &[u32],
    x: &[f32],
    values: &mut [f32],
) -> Option<f32> {
    let y = g.eval(x, values).ok()?;
    Some(margin(rows, rhs, ends, y))
}
