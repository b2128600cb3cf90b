//! Random computation graphs mixing every op kind, for the soundness suites.
//!
//! Graphs are built in `f64` and converted to any scalar type (weights rounded to nearest), so
//! the same network can be bounded in f32, f64 and fixed point. Ops with restricted domains
//! (log, reciprocal, sqrt) and fast-growing ones (exp, pow) are fed from squashed, shifted nodes
//! so every forward value is finite.

use genbab_core::bab::attack::Rng;
use genbab_core::graph::{Node, NodeId, Op, Span, Unary};

pub use genbab_core::graph::OwnedGraph;

struct Builder {
    nodes: Vec<Node>,
    weights: Vec<f64>,
    indices: Vec<u32>,
    rng: Rng,
}

impl Builder {
    fn push(&mut self, op: Op, len: usize) -> NodeId {
        self.nodes.push(Node { op, len: len as u32 });
        (self.nodes.len() - 1) as NodeId
    }
    fn len(&self, n: NodeId) -> usize {
        self.nodes[n as usize].len as usize
    }
    fn w(&mut self, n: usize, scale: f64) -> Span {
        let s = Span::new(self.weights.len() as u32, n as u32);
        for _ in 0..n {
            // Multiples of 2^-12: exact in f32, f64 and Q16.16, so every scalar type bounds the
            // very same network.
            let v = (self.rng.unit() * 2.0 - 1.0) * scale;
            self.weights.push((v * 4096.0).round() / 4096.0);
        }
        s
    }
    fn idx(&mut self, v: &[u32]) -> Span {
        let s = Span::new(self.indices.len() as u32, v.len() as u32);
        self.indices.extend_from_slice(v);
        s
    }
    fn pick(&mut self, k: usize) -> usize {
        (self.rng.next_u64() % k as u64) as usize
    }
    fn affine(&mut self, x: NodeId, out: usize) -> NodeId {
        let n_in = self.len(x);
        let scale = 1.5 / (n_in as f64).sqrt();
        let w = self.w(out * n_in, scale);
        let b = self.w(out, 0.5);
        self.push(Op::Affine { x, w, b }, out)
    }
    /// A node with values in (0.125, 1.125): sigmoid then shift, safe for log/reciprocal/sqrt.
    fn positive(&mut self, x: NodeId) -> NodeId {
        let len = self.len(x);
        let s = self.push(Op::Unary { x, f: Unary::Sigmoid }, len);
        let one = Span::new(self.weights.len() as u32, 1);
        self.weights.push(1.0);
        let sh = Span::new(self.weights.len() as u32, 1);
        self.weights.push(0.125);
        self.push(Op::ScaleShift { x: s, scale: one, shift: sh }, len)
    }
    fn bounded(&mut self, x: NodeId, f: Unary) -> NodeId {
        let len = self.len(x);
        self.push(Op::Unary { x, f }, len)
    }
}

/// A random graph: input of `dim` values, `depth` layers of width up to `width`, every op kind.
pub fn random_graph(seed: u64, dim: usize, depth: usize, width: usize) -> OwnedGraph<f64> {
    let mut b = Builder { nodes: vec![], weights: vec![], indices: vec![], rng: Rng::new(seed) };
    let input = b.push(Op::Input, dim);
    let mut cur = input;
    let mut prev = input;
    for _ in 0..depth {
        let wdt = 2 + b.pick(width.max(3) - 1);
        let h = b.affine(cur, wdt);
        let kind = b.pick(17);
        let next = match kind {
            0 => b.bounded(h, Unary::Relu),
            1 => b.bounded(h, Unary::LeakyRelu(0.1)),
            2 => b.bounded(h, Unary::Sigmoid),
            3 => b.bounded(h, Unary::Tanh),
            4 => b.bounded(h, Unary::Sin),
            5 => b.bounded(h, Unary::Cos),
            // The two GeLUs by the layer's width (no extra draw: the other graphs stay as they were).
            6 => b.bounded(h, if wdt.is_multiple_of(2) { Unary::Gelu } else { Unary::GeluTanh }),
            7 => {
                let t = b.bounded(h, Unary::Tanh);
                b.bounded(t, Unary::Exp)
            }
            8 => {
                let p = b.positive(h);
                b.bounded(p, Unary::Log)
            }
            9 => {
                let p = b.positive(h);
                b.bounded(p, Unary::Reciprocal)
            }
            10 => {
                let p = b.positive(h);
                b.bounded(p, Unary::Sqrt)
            }
            11 => {
                let t = b.bounded(h, Unary::Tanh);
                let n = 2 + b.pick(3) as u8;
                b.bounded(t, Unary::Pow(n))
            }
            12 => {
                // |−h| then its floor: steps of width 1 inside the usual pre-activation ranges.
                let n = b.bounded(h, Unary::Neg);
                let a = b.bounded(n, Unary::Abs);
                b.bounded(a, Unary::Floor)
            }
            13 => {
                // Product of two branches of the same width.
                let t = b.bounded(h, Unary::Tanh);
                let g = b.affine(cur, wdt);
                let s = b.bounded(g, Unary::Sigmoid);
                b.push(Op::Mul { a: t, b: s }, wdt)
            }
            14 => {
                // Residual-style add/sub with a projection of the previous layer.
                let g = b.affine(prev, wdt);
                let r = b.bounded(h, Unary::Relu);
                if b.pick(2) == 0 {
                    b.push(Op::Add { a: r, b: g }, wdt)
                } else {
                    b.push(Op::Sub { a: r, b: g }, wdt)
                }
            }
            15 => {
                // Gather (reverse + duplicate) then concat with a sum over pairs.
                let t = b.bounded(h, Unary::Tanh);
                let rev: Vec<u32> = (0..wdt as u32).rev().collect();
                let gi = b.idx(&rev);
                let gth = b.push(Op::Gather { x: t, idx: gi }, wdt);
                let map: Vec<u32> = (0..wdt as u32).map(|j| j / 2).collect();
                let half = wdt.div_ceil(2);
                let mi = b.idx(&map);
                let sm = b.push(Op::Sum { x: gth, map: mi }, half);
                let parts = b.idx(&[gth as u32, sm as u32]);
                b.push(Op::Concat { parts }, wdt + half)
            }
            _ => {
                let t = b.bounded(h, Unary::Sigmoid);
                let sc = b.w(wdt, 2.0);
                let sh = b.w(1, 1.0);
                b.push(Op::ScaleShift { x: t, scale: sc, shift: sh }, wdt)
            }
        };
        prev = cur;
        cur = next;
    }
    let out_w = 1 + b.pick(4);
    let out = b.affine(cur, out_w);
    OwnedGraph { nodes: b.nodes, weights: b.weights, indices: b.indices, output: out }
}

/// A dense MLP `dims[0] → dims[1] → … → dims[last]` with `act` after every hidden layer
/// (weights ~ U(−1, 1)/√fan-in, seeded): the shapes of ACAS Xu and the ERAN sigmoid nets.
pub fn mlp(seed: u64, dims: &[usize], act: Unary) -> OwnedGraph<f64> {
    let mut b = Builder { nodes: vec![], weights: vec![], indices: vec![], rng: Rng::new(seed) };
    let mut cur = b.push(Op::Input, dims[0]);
    for (i, &w) in dims.iter().enumerate().skip(1) {
        cur = b.affine(cur, w);
        if i + 1 < dims.len() {
            cur = b.bounded(cur, act);
        }
    }
    OwnedGraph { nodes: b.nodes, weights: b.weights, indices: b.indices, output: cur }
}

/// A ReLU network with full-precision weights and biases (not the short multiples of 2^-12 of
/// [`random_graph`]): its f32 sums round at almost every step, so it exposes engine rounding
/// that exact-weight graphs hide. ReLU is exact, so no relaxation margin masks it either.
pub fn random_relu_mlp(seed: u64, dim: usize, depth: usize, width: usize) -> OwnedGraph<f64> {
    let mut b = Builder { nodes: vec![], weights: vec![], indices: vec![], rng: Rng::new(seed) };
    let mut cur = b.push(Op::Input, dim);
    for layer in 0..=depth {
        let n_in = b.len(cur);
        let out = if layer == depth { 3 } else { width };
        let scale = 1.5 / (n_in as f64).sqrt();
        let w = Span::new(b.weights.len() as u32, (out * n_in) as u32);
        for _ in 0..out * n_in {
            let v = (b.rng.unit() * 2.0 - 1.0) * scale;
            b.weights.push(v);
        }
        let bias = Span::new(b.weights.len() as u32, out as u32);
        for _ in 0..out {
            let v = (b.rng.unit() * 2.0 - 1.0) * 3.0;
            b.weights.push(v);
        }
        cur = b.push(Op::Affine { x: cur, w, b: bias }, out);
        if layer < depth {
            cur = b.bounded(cur, Unary::Relu);
        }
    }
    OwnedGraph { nodes: b.nodes, weights: b.weights, indices: b.indices, output: cur }
}

/// [`random_graph`] with a wide output: the concatenation of its output and a few random earlier
/// nodes (the shape of ml4acopf, whose output concatenates many heads), so a property that reads a
/// few outputs leaves most of the graph unread.
pub fn random_wide_graph(seed: u64, dim: usize, depth: usize, width: usize) -> OwnedGraph<f64> {
    let mut g = random_graph(seed, dim, depth, width);
    let mut rng = Rng::new(seed ^ 0x5eed_0fc0_ffee);
    let n = g.nodes.len() as u64;
    let mut parts = vec![u32::from(g.output)];
    for _ in 0..1 + rng.next_u64() % 4 {
        parts.push((1 + rng.next_u64() % (n - 1)) as u32);
    }
    let len = parts.iter().map(|&p| g.nodes[p as usize].len).sum();
    let span = Span::new(g.indices.len() as u32, parts.len() as u32);
    g.indices.extend(parts);
    g.nodes.push(Node { op: Op::Concat { parts: span }, len });
    g.output = (g.nodes.len() - 1) as NodeId;
    g
}

/// `y = g(x₀) + g(−x₀) + x₁/64` for a random one-input ReLU network `g` (`hidden` units in each
/// of two layers): even in `x₀`, so on a box symmetric in `x₀` the CROWN coefficient of `x₀` is
/// zero (up to rounding) however much `y` varies with it, while `x₁` enters exactly, linearly.
/// The `|Λ_i|·width_i` input split then only ever cuts the useless `x₁`.
pub fn mirrored_relu(seed: u64, hidden: usize) -> OwnedGraph<f64> {
    let g = mlp(seed, &[1, hidden, hidden, 1], Unary::Relu);
    let w = |op: &Op| match *op {
        Op::Affine { w, b, .. } => (g.weights[w.range()].to_vec(), g.weights[b.range()].to_vec()),
        _ => unreachable!("mlp alternates affine and relu"),
    };
    let (w1, b1) = w(&g.nodes[1].op);
    let (w2, b2) = w(&g.nodes[3].op);
    let (w3, b3) = w(&g.nodes[5].op);
    let h = hidden;
    let mut b = Builder { nodes: vec![], weights: vec![], indices: vec![], rng: Rng::new(seed) };
    let span = |b: &mut Builder, v: Vec<f64>| {
        let s = Span::new(b.weights.len() as u32, v.len() as u32);
        b.weights.extend(v);
        s
    };
    let input = b.push(Op::Input, 2);
    // Layer 1 on (x₀, x₁): the first copy reads x₀, the second −x₀.
    let mut l1 = vec![0.0; 2 * h * 2];
    for i in 0..h {
        l1[i * 2] = w1[i];
        l1[(h + i) * 2] = -w1[i];
    }
    let (ws, bs) = (span(&mut b, l1), span(&mut b, [b1.clone(), b1].concat()));
    let z1 = b.push(Op::Affine { x: input, w: ws, b: bs }, 2 * h);
    let r1 = b.bounded(z1, Unary::Relu);
    let mut l2 = vec![0.0; 4 * h * h];
    for i in 0..h {
        for j in 0..h {
            l2[i * 2 * h + j] = w2[i * h + j];
            l2[(h + i) * 2 * h + h + j] = w2[i * h + j];
        }
    }
    let (ws, bs) = (span(&mut b, l2), span(&mut b, [b2.clone(), b2].concat()));
    let z2 = b.push(Op::Affine { x: r1, w: ws, b: bs }, 2 * h);
    let r2 = b.bounded(z2, Unary::Relu);
    let (ws, bs) = (span(&mut b, [w3.clone(), w3].concat()), span(&mut b, vec![2.0 * b3[0]]));
    let y = b.push(Op::Affine { x: r2, w: ws, b: bs }, 1);
    let (ws, bs) = (span(&mut b, vec![0.0, 1.0 / 64.0]), span(&mut b, vec![0.0]));
    let lin = b.push(Op::Affine { x: input, w: ws, b: bs }, 1);
    let out = b.push(Op::Add { a: y, b: lin }, 1);
    OwnedGraph { nodes: b.nodes, weights: b.weights, indices: b.indices, output: out }
}

/// A random convolutional network and its *dense twin* (every Conv replaced by the Affine of the
/// same map, built here from the definition of a convolution, not from the core's tap walk).
/// Input `c × h × w` (1-D when `h = 1`), two convolutions with random strides, pads, dilations and
/// groups, an activation after each (ReLU, LeakyReLU, sigmoid or tanh), a residual Add when the
/// shapes allow, and a dense head of 1–4 outputs.
pub fn random_cnn(seed: u64) -> (OwnedGraph<f64>, OwnedGraph<f64>) {
    use genbab_core::ops::conv::ConvGeom;
    let mut b = Builder { nodes: vec![], weights: vec![], indices: vec![], rng: Rng::new(seed) };
    let one_d = b.pick(3) == 0;
    let (mut c, mut h, mut w) = (1 + b.pick(3), if one_d { 1 } else { 2 + b.pick(6) }, 2 + b.pick(8));
    let input = b.push(Op::Input, c * h * w);
    let mut cur = input;
    let mut dense: Vec<Option<(Vec<f64>, Vec<f64>)>> = vec![None];
    for _ in 0..2 {
        let groups = [1, 1, c][b.pick(3)];
        let c_out = groups * (1 + b.pick(3));
        let (kh, sh, dh) = if one_d { (1, 1, 1) } else { (1 + b.pick(3), 1 + b.pick(2), 1 + b.pick(2)) };
        let (kw, sw, dw) = (1 + b.pick(4), 1 + b.pick(3), 1 + b.pick(2));
        let (ph, eh) = if one_d { (0, 0) } else { (b.pick(3), b.pick(3)) };
        let (pw, ew) = (b.pick(3), b.pick(3));
        let span_h = (kh - 1) * dh + 1;
        let span_w = (kw - 1) * dw + 1;
        if h + ph + eh < span_h || w + pw + ew < span_w {
            continue;
        }
        let (oh, ow) = ((h + ph + eh - span_h) / sh + 1, (w + pw + ew - span_w) / sw + 1);
        let geom = ConvGeom { c_in: c, h, w, c_out, groups, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow };
        let cg = c / groups;
        let scale = 1.5 / ((cg * kh * kw) as f64).sqrt();
        let ws = b.w(geom.weight_len(), scale);
        let bs = if b.pick(4) == 0 { Span::EMPTY } else { b.w(c_out, 0.3) };
        // The dense matrix from the definition: y[co, oy, ox] = Σ W[co, ci, ky, kx]·x[g·cg + ci, iy, ix].
        let (n_in, n_out) = (c * h * w, geom.out_len());
        let mut m = vec![0.0; n_out * n_in];
        for co in 0..c_out {
            for oy in 0..oh {
                for ox in 0..ow {
                    let row = (co * oh + oy) * ow + ox;
                    for ci in 0..cg {
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let iy = (oy * sh + ky * dh) as i64 - ph as i64;
                                let ix = (ox * sw + kx * dw) as i64 - pw as i64;
                                if iy < 0 || ix < 0 || iy >= h as i64 || ix >= w as i64 {
                                    continue;
                                }
                                let cin = co / (c_out / groups) * cg + ci;
                                let col = (cin * h + iy as usize) * w + ix as usize;
                                m[row * n_in + col] =
                                    b.weights[ws.range()][((co * cg + ci) * kh + ky) * kw + kx];
                            }
                        }
                    }
                }
            }
        }
        let bias: Vec<f64> = if bs.len == 0 {
            vec![]
        } else {
            (0..n_out).map(|k| b.weights[bs.start as usize + k / (oh * ow)]).collect()
        };
        let at = b.idx(&geom.encode()).start;
        let conv = b.push(Op::Conv { x: cur, w: ws, b: bs, geom: at }, n_out);
        dense.push(Some((m, bias)));
        let f = [Unary::Relu, Unary::LeakyRelu(0.125), Unary::Sigmoid, Unary::Tanh][b.pick(4)];
        let mut next = b.bounded(conv, f);
        dense.push(None);
        if n_out == b.len(cur) && b.pick(2) == 0 {
            next = b.push(Op::Add { a: next, b: cur }, n_out);
            dense.push(None);
        }
        cur = next;
        (c, h, w) = (c_out, oh, ow);
    }
    let outs = 1 + b.pick(4);
    let head = b.affine(cur, outs);
    dense.push(None);
    let conv = OwnedGraph { nodes: b.nodes, weights: b.weights, indices: b.indices, output: head };
    // The twin: the same nodes, each Conv's weights replaced by its dense matrix and full bias.
    let mut twin = OwnedGraph { nodes: vec![], weights: vec![], indices: vec![], output: conv.output };
    for (node, d) in conv.nodes.iter().zip(dense) {
        let op = match (node.op, d) {
            (Op::Conv { x, .. }, Some((m, bias))) => {
                let w = Span::new(twin.weights.len() as u32, m.len() as u32);
                twin.weights.extend(m);
                let b = Span::new(twin.weights.len() as u32, bias.len() as u32);
                twin.weights.extend(bias);
                Op::Affine { x, w, b }
            }
            (Op::Affine { x, w, b }, _) => {
                let (wv, bv) = (conv.weights[w.range()].to_vec(), conv.weights[b.range()].to_vec());
                let w = Span::new(twin.weights.len() as u32, wv.len() as u32);
                twin.weights.extend(wv);
                let b = Span::new(twin.weights.len() as u32, bv.len() as u32);
                twin.weights.extend(bv);
                Op::Affine { x, w, b }
            }
            (op, _) => op,
        };
        twin.nodes.push(Node { op, len: node.len });
    }
    (conv, twin)
}

/// A random attention block: queries, keys and values are affine maps of a hidden layer (`t`
/// tokens of `e` features), the scores `s = q·kᵀ` are squashed by tanh (standing in for softmax)
/// and mixed with the values, `o = tanh(s)·v`, then a dense head. `native`: the products are
/// [`Op::MatMul`] nodes (keys transposed by a permutation gather); otherwise they are lowered as
/// the loader once did, to products of *duplicating* gathers summed per output element (which
/// exercises CROWN on the operands of repeating index ops). The same seed gives the same network
/// both ways.
pub fn random_attention(seed: u64, native: bool) -> OwnedGraph<f64> {
    let mut b = Builder { nodes: vec![], weights: vec![], indices: vec![], rng: Rng::new(seed) };
    let (t, e) = (2 + b.pick(3), 1 + b.pick(3));
    let d = 2 + b.pick(4);
    let input = b.push(Op::Input, d);
    let hidden = 4 + b.pick(4);
    let h0 = b.affine(input, hidden);
    let h = b.bounded(h0, Unary::Relu);
    let (q, k, v) = (b.affine(h, t * e), b.affine(h, t * e), b.affine(h, t * e));
    // Row-major product of an (n × l) node and an (l × m) node (`yt`: y stored as m × l).
    let matmul = |b: &mut Builder, x: NodeId, y: NodeId, yt: bool, n: usize, l: usize, m: usize| {
        if native {
            let y = if yt {
                let perm: Vec<u32> = (0..l * m).map(|p| ((p % m) * l + p / m) as u32).collect();
                let s = b.idx(&perm);
                b.push(Op::Gather { x: y, idx: s }, l * m)
            } else {
                y
            };
            return b.push(Op::MatMul { a: x, b: y, n: n as u32, k: l as u32 }, n * m);
        }
        let (mut ia, mut ib, mut map) = (vec![], vec![], vec![]);
        for i in 0..n {
            for j in 0..m {
                for r in 0..l {
                    ia.push((i * l + r) as u32);
                    ib.push(if yt { (j * l + r) as u32 } else { (r * m + j) as u32 });
                    map.push((i * m + j) as u32);
                }
            }
        }
        let (sa, sb, sm) = (b.idx(&ia), b.idx(&ib), b.idx(&map));
        let ga = b.push(Op::Gather { x, idx: sa }, ia.len());
        let gb = b.push(Op::Gather { x: y, idx: sb }, ib.len());
        let p = b.push(Op::Mul { a: ga, b: gb }, ia.len());
        b.push(Op::Sum { x: p, map: sm }, n * m)
    };
    let s = matmul(&mut b, q, k, true, t, e, t);
    let a = b.bounded(s, Unary::Tanh);
    let o = matmul(&mut b, a, v, false, t, t, e);
    let outs = 1 + b.pick(3);
    let out = b.affine(o, outs);
    OwnedGraph { nodes: b.nodes, weights: b.weights, indices: b.indices, output: out }
}

/// A CNN shaped like `collins_rul_cnn`'s small model: a `1 × 20 × 20` sensor window, four
/// convolutions along time (kernels 5, 5, 5, 3 by 1; 5, 10, 5, 5 channels) with ReLUs, a
/// convolution over the whole remaining window (100 channels) as the dense layer, ReLU, and one
/// output.
pub fn collins_like_cnn(seed: u64) -> OwnedGraph<f64> {
    use genbab_core::ops::conv::ConvGeom;
    let mut b = Builder { nodes: vec![], weights: vec![], indices: vec![], rng: Rng::new(seed) };
    let (mut c, mut h, w) = (1usize, 20usize, 20usize);
    let mut cur = b.push(Op::Input, c * h * w);
    for (c_out, kh, kw) in [(5, 5, 1), (10, 5, 1), (5, 5, 1), (5, 3, 1), (100, 6, 20)] {
        let (oh, ow) = (h - kh + 1, w - kw + 1);
        let geom = ConvGeom {
            c_in: c,
            h,
            w,
            c_out,
            groups: 1,
            kh,
            kw,
            sh: 1,
            sw: 1,
            ph: 0,
            pw: 0,
            dh: 1,
            dw: 1,
            oh,
            ow,
        };
        let ws = b.w(geom.weight_len(), 1.5 / ((c * kh * kw) as f64).sqrt());
        let bs = b.w(c_out, 0.3);
        let at = b.idx(&geom.encode()).start;
        let conv = b.push(Op::Conv { x: cur, w: ws, b: bs, geom: at }, geom.out_len());
        cur = b.bounded(conv, Unary::Relu);
        (c, h) = (c_out, oh);
        let _ = ow;
    }
    let out = b.affine(cur, 1);
    OwnedGraph { nodes: b.nodes, weights: b.weights, indices: b.indices, output: out }
}

/// `g` with every Conv lowered as the loader did before it had a native one: a gather of every
/// tap's input, a scale by its weight, a sum per output element and a shift by the bias (values
/// per tap instead of per output). The same network; for benchmarks and cross-checks.
pub fn gather_lowered(g: &OwnedGraph<f64>) -> OwnedGraph<f64> {
    use genbab_core::ops::conv::ConvGeom;
    let mut b = Builder { nodes: vec![], weights: vec![], indices: vec![], rng: Rng::new(0) };
    let mut id = vec![0 as NodeId; g.nodes.len()];
    let copy = |b: &mut Builder, s: Span| {
        let n = Span::new(b.weights.len() as u32, s.len);
        b.weights.extend_from_slice(&g.weights[s.range()]);
        n
    };
    for (i, node) in g.nodes.iter().enumerate() {
        let m = |x: NodeId| id[x as usize];
        id[i] = match node.op {
            Op::Conv { x, w, b: bias, geom } => {
                let cg =
                    ConvGeom::decode(&g.indices[geom as usize..geom as usize + ConvGeom::WORDS]).unwrap();
                let (mut cols, mut scale, mut rows) = (vec![], vec![], vec![]);
                for k in 0..cg.out_len() {
                    cg.for_each_tap(k, |j, wi| {
                        cols.push(j as u32);
                        scale.push(g.weights[w.start as usize + wi]);
                        rows.push(k as u32);
                    });
                }
                let ci = b.idx(&cols);
                let ga = b.push(Op::Gather { x: m(x), idx: ci }, cols.len());
                let sc = Span::new(b.weights.len() as u32, scale.len() as u32);
                b.weights.extend(scale);
                let sd = b.push(Op::ScaleShift { x: ga, scale: sc, shift: Span::EMPTY }, cols.len());
                let ri = b.idx(&rows);
                let sm = b.push(Op::Sum { x: sd, map: ri }, cg.out_len());
                if bias.len == 0 {
                    sm
                } else {
                    let full: Vec<f64> =
                        (0..cg.out_len()).map(|k| g.weights[bias.start as usize + cg.channel(k)]).collect();
                    let sh = Span::new(b.weights.len() as u32, full.len() as u32);
                    b.weights.extend(full);
                    b.push(Op::ScaleShift { x: sm, scale: Span::EMPTY, shift: sh }, cg.out_len())
                }
            }
            Op::Input => b.push(Op::Input, node.len as usize),
            Op::Affine { x, w, b: bias } => {
                let (w, bias) = (copy(&mut b, w), copy(&mut b, bias));
                b.push(Op::Affine { x: m(x), w, b: bias }, node.len as usize)
            }
            Op::Unary { x, f } => b.push(Op::Unary { x: m(x), f }, node.len as usize),
            Op::Add { a, b: c } => b.push(Op::Add { a: m(a), b: m(c) }, node.len as usize),
            op => panic!("gather_lowered: {op:?} not handled"),
        };
    }
    OwnedGraph { nodes: b.nodes, weights: b.weights, indices: b.indices, output: id[g.output as usize] }
}
