//! Operators: what each node of the IR computes, and how every engine steps through it.
//!
//! The graph ([`crate::graph`]) is data: nodes, spans, lengths. Each module here owns one
//! operator's semantics — its shape check, its forward value, its interval image with the deployed
//! arithmetic's error (IBP), its backward linear step (CROWN), the primal value α-CROWN's gradient
//! reads, and the gradient the attack follows — so adding an operator touches its module, one line
//! per dispatch function below, and the loader. [`crate::bound`] is the traversal and the
//! workspace: it hands each step a view of the slices the node reads and writes ([`IbpCx`],
//! [`BackCx`]); the input node, where every pass starts or ends, stays with the traversal.
//!
//! | module | ops |
//! |---|---|
//! | [`linear`] (with [`conv`]'s geometry) | `Affine`, `Conv` |
//! | [`matmul`] | `MatMul` (two variables) |
//! | [`add`] | `Add`, `Sub` |
//! | [`mul`] | `Mul` (elementwise product of two variables) |
//! | [`scale_shift`] | `ScaleShift` |
//! | [`gather`], [`concat`](mod@concat), [`sum`] | the index maps |
//! | [`elementwise`] | `Unary` (every elementwise function) |
//!
//! `rows` holds the rounding bookkeeping that several backward steps share.

pub mod add;
pub mod concat;
pub mod conv;
pub mod elementwise;
pub mod gather;
pub mod linear;
pub mod matmul;
pub mod mul;
pub(crate) mod rows;
pub mod scale_shift;
pub mod sum;

use crate::graph::{Graph, GraphError, Node, NodeId, Op, Span};
use crate::num::Scalar;
use crate::relax::RelaxError;

/// The arithmetic of the deployed network, whose computed values the bounds must enclose.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Deploy {
    /// Unit roundoff (relative error of one rounded operation).
    pub rel: f64,
    /// Absolute error of one product near zero (underflow).
    pub abs: f64,
}

impl Deploy {
    /// IEEE binary32 with round-to-nearest: what ONNX float models and the Cortex-M4F compute.
    /// (`abs` is 2^-100 rather than the least subnormal: as sound, and it keeps the error terms
    /// normal, see [`Scalar::ABS_ERR`].)
    pub const F32: Deploy = Deploy { rel: 5.960_464_477_539_063e-8, abs: 7.888_609_052_210_118e-31 };
    /// Real arithmetic (for models whose deployed evaluation is exact or not of interest).
    pub const EXACT: Deploy = Deploy { rel: 0.0, abs: 0.0 };
}

/// Why bounds could not be computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum BoundError {
    /// The graph is invalid.
    Graph(GraphError),
    /// A relaxation failed (domain violation such as log of a negative interval, or overflow).
    Relax(RelaxError),
    /// A buffer is smaller than the plan, or the box/rows do not match the model.
    Shape,
    /// A bound became NaN, infinite or overflowed (fixed point): the result would be meaningless.
    Numeric,
    /// The caller's interrupt hook asked to stop (time budget).
    Interrupted,
}

impl From<GraphError> for BoundError {
    fn from(e: GraphError) -> Self {
        BoundError::Graph(e)
    }
}
impl From<RelaxError> for BoundError {
    fn from(e: RelaxError) -> Self {
        BoundError::Relax(e)
    }
}

/// Relaxation-cache scalars per output element of `op`: two lines for an elementwise function,
/// two planes for a product (per term of a matrix product), nothing for linear ops.
pub const fn line_stride(op: &Op) -> usize {
    match op {
        Op::Unary { .. } => 4,
        Op::Mul { .. } => 6,
        // Two planes per product term, `k` terms per output element.
        Op::MatMul { k, .. } => 6 * *k as usize,
        _ => 0,
    }
}

/// Offset of node `id`'s block in the relaxation cache (the cache's size for `id = nodes`).
pub fn line_base<T>(g: &Graph<'_, T>, id: usize) -> usize {
    g.nodes[..id].iter().map(|n| line_stride(&n.op) * n.len as usize).sum()
}

/// Whether `op` is relaxed (its interval and backward step depend on its inputs' intervals):
/// the nonlinearities whose inputs are worth a CROWN pass. Negation is exact.
pub fn relaxes(op: &Op) -> bool {
    match op {
        Op::Unary { f, .. } => !matches!(f, crate::unary::Unary::Neg),
        Op::Mul { .. } | Op::MatMul { .. } => true,
        _ => false,
    }
}

/// A Concat, or a Gather at least as long as its operand: an index op that repeats its operands
/// (attention repeats each query and key element once per token), whose interval is a copy of
/// theirs, so that tightening the operands once serves every copy.
pub fn copies_operands<T: Scalar>(g: &Graph<'_, T>, id: NodeId) -> bool {
    let node = &g.nodes[id as usize];
    match node.op {
        Op::Concat { .. } => true,
        Op::Gather { x, .. } => node.len >= g.nodes[x as usize].len,
        _ => false,
    }
}

impl<T: Scalar> Graph<'_, T> {
    /// Check every id, span, length and constant. Engines call this before they index.
    pub fn validate(&self) -> Result<(), GraphError> {
        if self.nodes.is_empty() || self.nodes[0].op != Op::Input {
            return Err(GraphError::BadInput);
        }
        if self.nodes.len() > NodeId::MAX as usize {
            return Err(GraphError::TooLarge);
        }
        if self.output as usize >= self.nodes.len() {
            return Err(GraphError::BadOutput);
        }
        for (i, node) in self.nodes.iter().enumerate() {
            let id = i as u16;
            if node.len == 0 {
                return Err(GraphError::TooLarge);
            }
            if i > 0 && node.op == Op::Input {
                return Err(GraphError::BadInput);
            }
            if let Op::Concat { parts } = node.op
                && (self.indices.get(parts.range_checked()?).is_none() || parts.len == 0)
            {
                return Err(GraphError::OutOfRange { node: id });
            }
            let ins = node.op.inputs(self.indices);
            for k in 0..ins.len() {
                if ins.get(k) as usize >= i {
                    return Err(GraphError::NotTopological { node: id });
                }
            }
            let c = Check { g: self, id, node };
            match node.op {
                Op::Input => Ok(()),
                Op::Affine { .. } | Op::Conv { .. } => linear::check(&c),
                Op::MatMul { .. } => matmul::check(&c),
                Op::Add { a, b } | Op::Sub { a, b } | Op::Mul { a, b } => c.same_len(&[a, b]),
                Op::ScaleShift { .. } => scale_shift::check(&c),
                Op::Gather { x, idx } => gather::check(&c, x, idx),
                Op::Concat { .. } => concat::check(&c),
                Op::Sum { x, map } => sum::check(&c, x, map),
                Op::Unary { x, f } => elementwise::check(&c, x, f),
            }?;
        }
        Ok(())
    }

    /// Forward evaluation in `T` as the deployed arithmetic computes it.
    ///
    /// `values` must hold at least [`Graph::total_len`] scalars; on return it holds every node's
    /// value at its [`Graph::offset`], and the output slice is returned. Validates first.
    pub fn eval<'v>(&self, x: &[T], values: &'v mut [T]) -> Result<&'v [T], GraphError> {
        self.validate()?;
        self.eval_validated(x, values)
    }

    /// [`Graph::eval`] for a graph already validated (the attack's hot loop): checks only the
    /// buffer sizes, so it cannot panic on a graph that passed [`Graph::validate`].
    pub(crate) fn eval_validated<'v>(&self, x: &[T], values: &'v mut [T]) -> Result<&'v [T], GraphError> {
        if x.len() != self.input_len() {
            return Err(GraphError::BadInputLength);
        }
        if values.len() < self.total_len() {
            return Err(GraphError::BufferTooSmall);
        }
        let mut off = 0usize;
        for node in self.nodes.iter() {
            let len = node.len as usize;
            let (done, rest) = values.split_at_mut(off);
            let out = &mut rest[..len];
            match node.op {
                Op::Input => out.copy_from_slice(x),
                _ => forward(self, node, done, out),
            }
            off += len;
        }
        let o = self.offset(self.output);
        Ok(&values[o..o + self.output_len()])
    }

    /// Node `n`'s slice of a buffer laid out by [`Graph::offset`].
    #[inline]
    pub(crate) fn of<'v>(&self, buf: &'v [T], n: NodeId) -> &'v [T] {
        let o = self.offset(n);
        &buf[o..o + self.nodes[n as usize].len as usize]
    }
}

/// What an op's shape check sees.
pub(crate) struct Check<'c, 'g, T> {
    pub g: &'c Graph<'g, T>,
    pub id: NodeId,
    pub node: &'c Node,
}

impl<T: Scalar> Check<'_, '_, T> {
    fn len_of(&self, n: NodeId) -> u32 {
        self.g.nodes[n as usize].len
    }
    /// Every operand as long as the node.
    pub fn same_len(&self, xs: &[NodeId]) -> Result<(), GraphError> {
        if xs.iter().all(|&x| self.len_of(x) == self.node.len) { Ok(()) } else { Err(self.mismatch()) }
    }
    /// Operand lengths do not fit.
    pub fn mismatch(&self) -> GraphError {
        GraphError::LengthMismatch { node: self.id }
    }
    /// A weight span inside the weights, every value usable.
    pub fn weights(&self, s: Span) -> Result<(), GraphError> {
        let r = s.range_checked().map_err(|_| GraphError::OutOfRange { node: self.id })?;
        match self.g.weights.get(r) {
            None => Err(GraphError::OutOfRange { node: self.id }),
            Some(w) if w.iter().any(|w| !w.is_usable()) => Err(GraphError::BadConstant { node: self.id }),
            Some(_) => Ok(()),
        }
    }
    /// An index span inside the indices, every entry below `bound`.
    pub fn index_map(&self, s: Span, bound: u32) -> Result<(), GraphError> {
        let r = s.range_checked().map_err(|_| GraphError::OutOfRange { node: self.id })?;
        match self.g.indices.get(r) {
            Some(m) if m.iter().all(|&j| j < bound) => Ok(()),
            _ => Err(GraphError::OutOfRange { node: self.id }),
        }
    }
}

/// The forward value of `node` (not the input) from the values before it (`done`, laid out by
/// [`Graph::offset`]) into `out`, in `T`'s arithmetic as the deployed network computes it.
pub(crate) fn forward<T: Scalar>(g: &Graph<'_, T>, node: &Node, done: &[T], out: &mut [T]) {
    match node.op {
        Op::Input => {}
        Op::Affine { .. } | Op::Conv { .. } => {
            if let Some(lin) = g.linear(&node.op) {
                lin.forward(g.of(done, lin.x), out);
            }
        }
        Op::MatMul { a, b, .. } => {
            if let Some(d) = g.matmul(node) {
                d.forward(g.of(done, a), g.of(done, b), out);
            }
        }
        Op::Add { a, b } => add::forward(g.of(done, a), g.of(done, b), false, out),
        Op::Sub { a, b } => add::forward(g.of(done, a), g.of(done, b), true, out),
        Op::Mul { a, b } => mul::forward(g.of(done, a), g.of(done, b), out),
        Op::ScaleShift { x, scale, shift } => scale_shift::forward(g, scale, shift, g.of(done, x), out),
        Op::Gather { x, idx } => gather::forward(&g.indices[idx.range()], g.of(done, x), out),
        Op::Concat { .. } => concat::forward(g, node, done, out),
        Op::Sum { x, map } => sum::forward(&g.indices[map.range()], g.of(done, x), out),
        Op::Unary { x, f } => elementwise::forward(f, g.of(done, x), out),
    }
}

/// What an interval step reads and writes: the intervals of the nodes before this one, and this
/// node's own interval, slack and relaxation cache.
pub struct IbpCx<'w, T> {
    /// Lower ends of every earlier node's interval ([`Graph::offset`] layout).
    pub lo: &'w [T],
    /// Upper ends, as `lo`.
    pub hi: &'w [T],
    /// This node's lower ends.
    pub out_lo: &'w mut [T],
    /// This node's upper ends.
    pub out_hi: &'w mut [T],
    /// This node's per-element slack `e_k`: how far the deployed evaluation may be from the
    /// relaxed value beyond what the backward step accounts for (a backward pass subtracts
    /// `Σ|A_k|·e_k`). Zero unless the step sets it.
    pub aux: &'w mut [T],
    /// A slack charged once per backward row, whatever its coefficients (zero unless set).
    pub konst: &'w mut T,
    /// This node's relaxation cache ([`line_stride`] scalars per element).
    pub lines: &'w mut [T],
    /// The deployed arithmetic.
    pub deploy: Deploy,
    /// A forward engine tightens this node's interval right after: a linear node may give a
    /// cheap magnitude bound instead of its IBP image (its slack must be exact all the same), and
    /// a smooth function on a narrow interval gets the parallel Taylor lines (one slope, the
    /// only one a forward engine uses).
    pub coarse: bool,
    /// Scratch a step may use (the backward coefficient buffer, idle during the sweep's IBP).
    pub scratch: &'w mut [T],
}

/// `node`'s interval image (IBP) from its inputs' intervals, plus the deployed evaluation's error;
/// fills the node's slack and relaxation cache too (the input node is the traversal's).
pub(crate) fn ibp<T: Scalar>(g: &Graph<'_, T>, node: &Node, cx: &mut IbpCx<'_, T>) -> Result<(), BoundError> {
    match node.op {
        Op::Input => {}
        Op::Affine { .. } | Op::Conv { .. } => linear::ibp(g, node, cx)?,
        Op::MatMul { a, b, .. } => matmul::ibp(g, node, g.offset(a), g.offset(b), cx)?,
        Op::Add { a, b } => add::ibp(g.offset(a), g.offset(b), false, cx),
        Op::Sub { a, b } => add::ibp(g.offset(a), g.offset(b), true, cx),
        Op::Mul { a, b } => mul::ibp(g.offset(a), g.offset(b), cx)?,
        Op::ScaleShift { x, scale, shift } => scale_shift::ibp(g, g.offset(x), scale, shift, cx),
        Op::Gather { x, idx } => gather::ibp(&g.indices[idx.range()], g.offset(x), cx),
        Op::Concat { .. } => concat::ibp(g, node, cx),
        Op::Sum { x, map } => sum::ibp(&g.indices[map.range()], g.offset(x), cx),
        Op::Unary { x, f } => elementwise::ibp(f, g.offset(x), cx)?,
    }
    Ok(())
}

/// Re-relax the elements of `node` that read element `e` of node `split` after `split`'s
/// interval changed (a branch-and-bound split applied to fixed bounds); `lines` is `node`'s cache.
pub(crate) fn rerelax<T: Scalar>(
    g: &Graph<'_, T>,
    node: &Node,
    split: NodeId,
    e: usize,
    (lo, hi): (&[T], &[T]),
    lines: &mut [T],
) -> Result<(), BoundError> {
    match node.op {
        Op::Unary { x, f } if x == split => {
            elementwise::relax_element(f, (lo, hi), g.offset(x) + e, &mut lines[4 * e..4 * e + 4], false)?;
        }
        Op::Mul { a, b } if a == split || b == split => {
            let (ia, ib) = (g.offset(a) + e, g.offset(b) + e);
            mul::relax_element((lo, hi), ia, ib, &mut lines[6 * e..6 * e + 6])?;
        }
        _ => {}
    }
    Ok(())
}

/// Output element `r` of an elementwise-structured linear op as an exact linear function of at
/// most two operand elements, `y_r = Σ_i c_i·x_{op_i}[e_i] + b` (`(op_i, e_i, c_i)`: the operand's
/// position in the op's inputs, its element, the coefficient), the deployed rounding being the
/// node's slack (as in its backward step). The forward engines compose these directly instead of
/// a backward step on `e_r`, which costs a pass over the whole node per row.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Terms<T> {
    /// Terms in use.
    pub n: usize,
    /// `(operand position, element, coefficient)`.
    pub t: [(usize, usize, T); 2],
    /// The constant.
    pub b: T,
}

/// [`Terms`] of `op`'s element `r`, for the ops that have them (`None` for the others).
pub(crate) fn terms<T: Scalar>(g: &Graph<'_, T>, op: &Op, r: usize) -> Option<Terms<T>> {
    let z = (0, 0, T::ZERO);
    match *op {
        Op::ScaleShift { scale, shift, .. } => Some(scale_shift::terms(g, scale, shift, r)),
        Op::Gather { idx, .. } => {
            let j = *g.indices.get(idx.range()).and_then(|m| m.get(r))? as usize;
            Some(Terms { n: 1, t: [(0, j, T::ONE), z], b: T::ZERO })
        }
        Op::Add { .. } => Some(Terms { n: 2, t: [(0, r, T::ONE), (1, r, T::ONE)], b: T::ZERO }),
        Op::Sub { .. } => Some(Terms { n: 2, t: [(0, r, T::ONE), (1, r, T::ONE.neg())], b: T::ZERO }),
        _ => None,
    }
}

/// What a backward (CROWN) step reads and writes: this node's coefficient rows, and the blocks of
/// the nodes before it that the step adds into.
pub struct BackCx<'w, T> {
    /// Coefficient blocks of the nodes before this one: node `x`'s rows start at
    /// `chunk·offset(x)`, row-major `rows × len(x)`.
    pub a: &'w mut [T],
    /// This node's rows (`rows × len`).
    pub own: &'w [T],
    /// This node's length.
    pub len: usize,
    /// Scalars per node value in a block's layout (the workspace's chunk).
    pub chunk: usize,
    /// Rows of this pass.
    pub rows: usize,
    /// Which nodes' blocks this pass has reached (a block is zeroed when first reached).
    pub touched: &'w mut [bool],
    /// Each row's constant, rounded down; steps subtract their rounding errors from it.
    pub bias: &'w mut [T],
    /// Lower ends of every node's interval.
    pub lo: &'w [T],
    /// Upper ends.
    pub hi: &'w [T],
    /// This node's relaxation cache.
    pub lines: &'w [T],
    /// For a one-row pass (α-CROWN), where to record the coefficient each relaxed element of
    /// this node sees, at the first scalar of its block in `lines`' layout.
    pub elem_a: Option<&'w mut [T]>,
}

impl<T: Scalar> BackCx<'_, T> {
    /// Node `x`'s block offset; the block is zeroed and marked the first time the pass reaches
    /// it. Returns the offset and whether it was fresh.
    pub fn reach(&mut self, g: &Graph<'_, T>, x: NodeId) -> (usize, bool) {
        let bx = self.chunk * g.offset(x);
        let fresh = !self.touched[x as usize];
        if fresh {
            let xl = g.nodes[x as usize].len as usize;
            self.a[bx..bx + self.rows * xl].fill(T::ZERO);
            self.touched[x as usize] = true;
        }
        (bx, fresh)
    }

    /// `max |v|` over node-value element `k`'s interval.
    #[inline]
    pub fn mag(&self, k: usize) -> T {
        self.lo[k].abs().max_of(self.hi[k].abs())
    }

    /// `A_x += ±A_n` along a [`Route`]: elementwise (Add/Sub, or one Concat operand's segment),
    /// through a Gather map or through a Sum map. A first write into a zero coefficient is exact;
    /// every other add is charged its rounding (`2u·|result|·max|x|`) in the bias.
    pub fn route(&mut self, g: &Graph<'_, T>, x: NodeId, route: Route<'_>, neg: bool) {
        let len = self.len;
        let xo = g.offset(x);
        let xl = g.nodes[x as usize].len as usize;
        let (bx, _) = self.reach(g, x);
        let two_u = T::from_f64_up(2.0 * T::REL_ERR * 1.000_001);
        let count = match route {
            Route::Same { .. } => xl,
            Route::Gather(m) | Route::Sum(m) => m.len(),
        };
        for r in 0..self.rows {
            let mut sl = T::ZERO;
            for i in 0..count {
                let (src, dst) = match route {
                    Route::Same { from } => (from + i, i),
                    Route::Gather(m) => (i, m[i] as usize),
                    Route::Sum(m) => (m[i] as usize, i),
                };
                let t = self.own[r * len + src];
                if t == T::ZERO {
                    continue;
                }
                let t = if neg { t.neg() } else { t };
                let d = &mut self.a[bx + r * xl + dst];
                if *d == T::ZERO {
                    *d = t; // exact
                } else {
                    *d = d.add(t);
                    let m = self.lo[xo + dst].abs().max_of(self.hi[xo + dst].abs());
                    sl = sl.add_up(two_u.mul_up(d.abs()).mul_up(m));
                }
            }
            self.bias[r] = self.bias[r].sub_down(sl);
        }
    }
}

/// How a linear index op routes coefficients from its output back to one input.
#[derive(Clone, Copy)]
pub enum Route<'m> {
    /// Element `i` of the input takes output element `from + i`.
    Same {
        /// The first output element.
        from: usize,
    },
    /// `y_i = x[map_i]`.
    Gather(&'m [u32]),
    /// `y[map_j] += x_j`.
    Sum(&'m [u32]),
}

/// One backward step through `node` (not the input): its rows' coefficients added into its
/// inputs' blocks, the step's intercepts and rounding errors into the rows' bias.
pub(crate) fn backward<T: Scalar>(
    g: &Graph<'_, T>,
    node: &Node,
    cx: &mut BackCx<'_, T>,
) -> Result<(), BoundError> {
    match node.op {
        Op::Input => {}
        Op::Affine { .. } | Op::Conv { .. } => linear::backward(g, node, cx)?,
        Op::MatMul { a, b, .. } => matmul::backward(g, node, a, b, cx)?,
        Op::Add { a, b } => add::backward(g, a, b, false, cx),
        Op::Sub { a, b } => add::backward(g, a, b, true, cx),
        Op::Mul { a, b } => mul::backward(g, a, b, cx),
        Op::ScaleShift { x, scale, shift } => scale_shift::backward(g, x, scale, shift, cx),
        Op::Gather { x, idx } => cx.route(g, x, Route::Gather(&g.indices[idx.range()]), false),
        Op::Concat { .. } => concat::backward(g, node, cx),
        Op::Sum { x, map } => cx.route(g, x, Route::Sum(&g.indices[map.range()]), false),
        Op::Unary { x, .. } => elementwise::backward(g, x, cx),
    }
    Ok(())
}

/// A relaxed element, as α-CROWN optimises it.
#[derive(Clone, Copy)]
pub enum Elem {
    /// Elementwise function `f` of the node value at offset `x`.
    Unary(crate::unary::Unary, usize),
    /// The product of the node values at offsets `a` and `b`.
    Mul(usize, usize),
}

/// Visit every relaxed element of the graph: `(cache offset, element)`.
pub fn for_each_element<T: Scalar>(g: &Graph<'_, T>, visit: impl FnMut(usize, Elem)) {
    for_each_element_in(g, g.nodes.len(), visit);
}

/// [`for_each_element`] over the first `nodes` nodes only.
pub fn for_each_element_in<T: Scalar>(g: &Graph<'_, T>, nodes: usize, mut visit: impl FnMut(usize, Elem)) {
    let mut lb = 0usize;
    for node in g.nodes.iter().take(nodes) {
        match node.op {
            Op::Unary { x, f } => elementwise::elements(f, g.offset(x), node.len as usize, lb, &mut visit),
            Op::Mul { a, b } => mul::elements(g.offset(a), g.offset(b), node.len as usize, lb, &mut visit),
            Op::MatMul { a, b, .. } => {
                if let Some(d) = g.matmul(node) {
                    matmul::elements(&d, g.offset(a), g.offset(b), node.len as usize, lb, &mut visit);
                }
            }
            _ => {}
        }
        lb += line_stride(&node.op) * node.len as usize;
    }
}

/// α-CROWN's primal value of `node` (not the input): linear ops forward their inputs' primal
/// values, every relaxed element sits on the line (plane) the last backward pass chose by the
/// sign of its coefficient (`coef`, this node's slice of the recorded coefficients, `lines` its
/// cache).
pub(crate) fn primal<T: Scalar>(
    g: &Graph<'_, T>,
    node: &Node,
    lines: &[T],
    coef: &[T],
    done: &[T],
    out: &mut [T],
) {
    match node.op {
        Op::Mul { a, b } => mul::primal(lines, coef, g.of(done, a), g.of(done, b), out),
        Op::MatMul { a, b, .. } => {
            if let Some(d) = g.matmul(node) {
                matmul::primal(&d, lines, coef, g.of(done, a), g.of(done, b), out);
            }
        }
        Op::Unary { x, .. } => elementwise::primal(lines, coef, g.of(done, x), out),
        _ => forward(g, node, done, out),
    }
}

/// The attack's reverse step through `node` (not the input): the gradient `own` of its output
/// added into its inputs' gradients in `head` (the [`Graph::offset`] layout before the node),
/// at the forward `values`.
pub(crate) fn gradient<T: Scalar>(g: &Graph<'_, T>, node: &Node, values: &[T], own: &[T], head: &mut [T]) {
    match node.op {
        Op::Input => {}
        Op::Affine { .. } | Op::Conv { .. } => {
            if let Some(lin) = g.linear(&node.op) {
                let (xo, nin) = (g.offset(lin.x), g.nodes[lin.x as usize].len as usize);
                lin.scatter(own, &mut head[xo..xo + nin], |_, _| {});
            }
        }
        Op::Add { a, b } => add::gradient(own, g.offset(a), g.offset(b), false, head),
        Op::Sub { a, b } => add::gradient(own, g.offset(a), g.offset(b), true, head),
        Op::Mul { a, b } => mul::gradient(own, values, g.offset(a), g.offset(b), head),
        Op::MatMul { a, b, .. } => {
            if let Some(d) = g.matmul(node) {
                matmul::gradient(&d, own, values, g.offset(a), g.offset(b), head);
            }
        }
        Op::ScaleShift { x, scale, .. } => scale_shift::gradient(g, scale, own, g.offset(x), head),
        Op::Gather { x, idx } => gather::gradient(&g.indices[idx.range()], own, g.offset(x), head),
        Op::Concat { .. } => concat::gradient(g, node, own, head),
        Op::Sum { x, map } => sum::gradient(&g.indices[map.range()], own, g.offset(x), head),
        Op::Unary { x, f } => elementwise::gradient(f, own, values, g.offset(x), head),
    }
}
