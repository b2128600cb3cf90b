//! Proof certificates: a `holds` verdict that a small checker can replay without trusting the
//! search that found it.
//!
//! A certificate is a tree of input cuts per input box of the property. A cut splits a node's
//! box — or the box clipped to where a clause may hold by the node's own linear bounds, which
//! prove the part the clip drops — at one point strictly inside one dimension, so the leaves
//! and the clipped-away parts cover the box exactly. Each leaf must pass the *leaf test*
//! ([`crate::bab`]'s `prove_box`): CROWN on the leaf's box refutes every clause, or clipping the
//! box leaves nothing. Every node is bounded on the way down, and a node's intervals and atom
//! margins cap those of the boxes inside it (CROWN alone on a small box can be far looser than
//! on the box around it).
//!
//! The checker ([`check`]) walks the tree in the order it is stored, one node at a time, with
//! memory fixed by a [`CheckPlan`] (the tree's depth and the model's sizes): one set of
//! intervals per level, nothing else. Nothing from the search — its α, β, interval caps,
//! clipped boxes, attack or thread schedule — enters it. The writer ([`write`]) finds its own
//! tree with the same leaf test and strong branching, so every tree it writes is one the checker
//! accepts (the search's tree leans on things the checker does not re-derive). Both run in the
//! caller's scalar type: a certificate for an f32 checker is written with the f32 leaf test.
//!
//! **Format, version 1** (all integers little-endian):
//!
//! | bytes | field |
//! |---|---|
//! | 8 | magic `GENBABCT` |
//! | 2 | version (1) |
//! | 1 | scalar of the leaf test: 0 = f32, 1 = f64, 2 = fixed point |
//! | 1 | leaf test: 0 = CROWN with clipping, capped by the enclosing nodes |
//! | 4 | number of input boxes |
//! | 32 | SHA-256 of the ONNX file (all zero: not recorded) |
//! | 32 | [`graph_digest`] of the lowered graph |
//! | 32 | [`property_digest`] of the lowered property |
//! | … | per box, its tree in preorder: a leaf is the byte `0`; a cut is the byte `1` (cut the node's box) or `2` (cut the node's box clipped to where a clause may hold by the node's own lines), the dimension (2 bytes) and the point (8 bytes, f64 bits), then the tree of the part at or below the point, then the part at or above it |
//! | 32 | SHA-256 of everything before |

use sha2::{Digest, Sha256};

use crate::bab::{branch, prove_box, strong};
use crate::bound::{BoundError, Config, Workspace};
use crate::graph::{Graph, Op};
use crate::num::Scalar;
use crate::spec::Spec;
use crate::unary::Unary;

/// First bytes of every certificate.
pub const MAGIC: [u8; 8] = *b"GENBABCT";
/// The format version this module reads and writes.
pub const VERSION: u16 = 1;
/// Bytes before the first tree.
pub const HEADER_LEN: usize = 112;
/// Bytes of the closing checksum.
pub const CHECKSUM_LEN: usize = 32;
/// The leaf test of version 1: plain CROWN, then clipping.
const LEAF_TEST_CROWN: u8 = 0;
const LEAF: u8 = 0;
const CUT: u8 = 1;
const CLIP_CUT: u8 = 2;
const CUT_LEN: usize = 11;
/// Most dimensions the writer probes per node, highest `|Λ_k|·width_k` first (all of a
/// controller's few inputs; on an image, probing all 784 would cost 1,568 bounds a node).
const PROBED: usize = 16;

/// Why a certificate is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Invalid {
    /// Shorter than its header and checksum.
    Truncated,
    /// Not a certificate (wrong magic).
    Magic,
    /// A format version this checker does not read.
    Version(u16),
    /// The closing SHA-256 does not match the bytes (a corrupted copy).
    Checksum,
    /// Written for another scalar type than the checker's.
    Scalar,
    /// A leaf test this checker does not know.
    LeafTest(u8),
    /// The ONNX file is not the one the certificate was written for.
    Onnx,
    /// The lowered graph is not the one the certificate was written for.
    Graph,
    /// The property is not the one the certificate was written for.
    Property,
    /// The number of input boxes differs from the property's.
    Boxes,
    /// Byte `at`: neither a leaf nor a cut, or the trees end before the checksum.
    Tag {
        /// Offset in the certificate.
        at: u32,
    },
    /// Byte `at`: a cut's dimension is not an input.
    Dim {
        /// Offset in the certificate.
        at: u32,
    },
    /// Byte `at`: a cut's point is not a value of the scalar type strictly inside its box.
    Point {
        /// Offset in the certificate.
        at: u32,
    },
    /// Byte `at`: the tree is deeper than the checker's plan.
    Depth {
        /// Offset in the certificate.
        at: u32,
    },
    /// Byte `at`: bytes after the last tree.
    Trailing {
        /// Offset in the certificate.
        at: u32,
    },
    /// Leaf `leaf` (counted from 0 in storage order) of box `input_box` fails the leaf test.
    Unproved {
        /// Index of the input box.
        input_box: u32,
        /// Index of the leaf within its box's tree.
        leaf: u32,
    },
    /// The bound engine failed on a leaf (numeric trouble or a buffer smaller than the plan).
    Bound(BoundError),
}

/// What a certificate holds ([`check`] and [`write`] return it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Summary {
    /// Input boxes.
    pub boxes: u32,
    /// Leaves (each bounded once by the checker).
    pub leaves: u32,
    /// Cuts.
    pub cuts: u32,
    /// The deepest leaf's number of cuts.
    pub depth: u32,
    /// Bytes of the certificate.
    pub bytes: u32,
}

/// Buffer sizes of the checker and the writer for one model and property: `scalars` values of
/// the scalar type and `words` `u32`s, besides the bound engine's own [`Workspace`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CheckPlan {
    /// Input length.
    pub input: usize,
    /// Atoms of the property (most over its boxes).
    pub atoms: usize,
    /// Most cuts on a path from the root to a leaf.
    pub depth: usize,
    /// Scalars of one node's intervals ([`crate::bound::caps_len`] of the graph).
    pub caps: usize,
}

impl CheckPlan {
    /// The plan for `g`, a property of at most `atoms` atoms, and trees of at most `depth` cuts
    /// on a path.
    pub fn new<T: Scalar>(g: &Graph<'_, T>, atoms: usize, depth: usize) -> CheckPlan {
        CheckPlan { input: g.input_len(), atoms, depth, caps: crate::bound::caps_len(g) }
    }

    /// Scalars: the box, the boxes the open cuts replaced, a clipped box, a line, the atoms'
    /// margins and lines, the clipping scratch, and the intervals and margins of each level.
    pub const fn scalars(&self) -> usize {
        2 * self.input
            + self.depth * (2 * self.input + 1)
            + 3 * self.input
            + self.atoms * (self.input + 2)
            + 6 * self.input
            + (self.depth + 1) * (self.caps + self.atoms)
    }
    /// Words: the open cuts' dimensions.
    pub const fn words(&self) -> usize {
        self.depth
    }
}

/// The walk over one box's tree, shared by the checker and the writer: the current box and the
/// stack of open cuts (dimension, which side, the box before the cut and the upper end of the
/// part it cut).
struct Walk<'b, T> {
    lo: &'b mut [T],
    hi: &'b mut [T],
    /// Per open cut, `2·d + 1` scalars: the box before it (lower ends, upper ends), then the
    /// upper end of the cut dimension in the (clipped) part that was cut.
    saved: &'b mut [T],
    /// Per open cut, its dimension times 2, plus 1 once its lower part is done.
    dims: &'b mut [u32],
    open: usize,
    depth: usize,
}

impl<T: Scalar> Walk<'_, T> {
    /// Start at `spec`'s box.
    fn start(&mut self, spec: &Spec<'_, T>) {
        self.lo.copy_from_slice(spec.lo);
        self.hi.copy_from_slice(spec.hi);
        self.open = 0;
    }

    /// Descend into the lower part of a cut of dimension `k` at `p` of the box, or of
    /// `clipped` (a box inside it) when given. `Err(true)`: the stack is full; `Err(false)`: the
    /// clipped box is not inside the box, or `p` is not strictly inside it (the cut would not
    /// split it).
    fn cut(&mut self, k: usize, p: T, clipped: Option<(&[T], &[T])>) -> Result<(), bool> {
        let d = self.lo.len();
        if self.open == self.dims.len() {
            return Err(true);
        }
        if let Some((cl, ch)) = clipped
            && !(0..d).all(|i| self.lo[i] <= cl[i] && cl[i] <= ch[i] && ch[i] <= self.hi[i])
        {
            return Err(false);
        }
        let (l, h) = clipped.map_or((self.lo[k], self.hi[k]), |(cl, ch)| (cl[k], ch[k]));
        if !(l < p && p < h) {
            return Err(false);
        }
        let s = &mut self.saved[self.open * (2 * d + 1)..(self.open + 1) * (2 * d + 1)];
        s[..d].copy_from_slice(self.lo);
        s[d..2 * d].copy_from_slice(self.hi);
        s[2 * d] = h;
        if let Some((cl, ch)) = clipped {
            self.lo.copy_from_slice(cl);
            self.hi.copy_from_slice(ch);
        }
        self.dims[self.open] = (k as u32) << 1;
        self.open += 1;
        self.depth = self.depth.max(self.open);
        self.hi[k] = p;
        Ok(())
    }

    /// After a leaf: move to the next part still to cover (the upper part of the innermost cut
    /// whose lower part is done). `false` when the box is covered.
    fn next(&mut self) -> bool {
        let d = self.lo.len();
        while self.open > 0 {
            let top = self.open - 1;
            let k = (self.dims[top] >> 1) as usize;
            let s = &self.saved[top * (2 * d + 1)..(top + 1) * (2 * d + 1)];
            if self.dims[top] & 1 == 0 {
                // Lower part done: the upper part is [p, the cut part's upper end].
                self.lo[k] = self.hi[k];
                self.hi[k] = s[2 * d];
                self.dims[top] |= 1;
                return true;
            }
            self.lo.copy_from_slice(&s[..d]);
            self.hi.copy_from_slice(&s[d..2 * d]);
            self.open = top;
        }
        false
    }
}

/// Which box a leaf test bounds.
#[derive(Clone, Copy)]
enum Which {
    /// The walk's current box.
    Walk,
    /// The clipped box (a probe's half of it, while the writer probes).
    Clipped,
}

/// The checker's (and the writer's) buffers, carved from caller memory by a [`CheckPlan`].
pub struct CheckBuffers<'b, T> {
    walk: Walk<'b, T>,
    /// The box clipped by the last leaf test of a node (lower ends, then upper ends).
    clipped: &'b mut [T],
    /// The writer's copy of a node's target line (input coefficients).
    lam: &'b mut [T],
    margins: &'b mut [T],
    lines: &'b mut [T],
    scratch: &'b mut [T],
    /// Per level of the tree, the intervals and atom margins of the box bounded there.
    levels: &'b mut [T],
    plan: CheckPlan,
}

impl<'b, T: Scalar> CheckBuffers<'b, T> {
    /// Buffers for `plan` in `scalars` ([`CheckPlan::scalars`]) and `words`
    /// ([`CheckPlan::words`]); `None` if either is too small.
    pub fn new(plan: CheckPlan, scalars: &'b mut [T], words: &'b mut [u32]) -> Option<Self> {
        if scalars.len() < plan.scalars() || words.len() < plan.words() {
            return None;
        }
        let (d, m) = (plan.input, plan.atoms);
        let (lo, r) = scalars.split_at_mut(d);
        let (hi, r) = r.split_at_mut(d);
        let (saved, r) = r.split_at_mut(plan.depth * (2 * d + 1));
        let (clipped, r) = r.split_at_mut(2 * d);
        let (lam, r) = r.split_at_mut(d);
        let (margins, r) = r.split_at_mut(m);
        let (lines, r) = r.split_at_mut(m * (d + 1));
        let (scratch, r) = r.split_at_mut(6 * d);
        let (levels, _) = r.split_at_mut((plan.depth + 1) * (plan.caps + m));
        let walk = Walk { lo, hi, saved, dims: &mut words[..plan.depth], open: 0, depth: 0 };
        Some(CheckBuffers { walk, clipped, lam, margins, lines, scratch, levels, plan })
    }

    /// The leaf test on a box: its intervals capped by those saved at level `inside` (a box
    /// around it), and saved at level `keep` (for the boxes inside it). When it does not prove
    /// the box, the box clipped to where a clause may hold is left in `clipped` if `keep` is set.
    #[allow(clippy::too_many_arguments)]
    fn prove(
        &mut self,
        bound: &mut Workspace<'_, T>,
        g: &Graph<'_, T>,
        spec: &Spec<'_, T>,
        cfg: &Config,
        which: Which,
        inside: Option<usize>,
        keep: Option<usize>,
    ) -> Result<Option<(f64, usize)>, BoundError> {
        let d = self.plan.input;
        let stride = self.plan.caps + spec.atoms();
        let top = self.plan.depth + 1;
        // `keep` is always a deeper level than `inside`.
        let (outer, deeper) = self.levels.split_at_mut(keep.map_or(top, |k| k.min(top)) * stride);
        let enclosing = inside.map(|l| &outer[l * stride..(l + 1) * stride]);
        let kept = if keep.is_some() { &mut deeper[..stride] } else { &mut [][..] };
        let bx = match which {
            Which::Walk => (&*self.walk.lo, &*self.walk.hi),
            Which::Clipped => (&self.clipped[..d], &self.clipped[d..]),
        };
        let r = prove_box(bound, g, spec, cfg, bx, enclosing, kept, self.margins, self.lines, self.scratch)?;
        if r.is_some() && keep.is_some() {
            self.clipped.copy_from_slice(&self.scratch[..2 * d]);
        }
        Ok(r)
    }

    /// The levels a node at the current depth reads and writes: inside its parent's box (none
    /// at the root), kept at its own depth.
    fn here(&self) -> (Option<usize>, Option<usize>) {
        (self.walk.open.checked_sub(1), Some(self.walk.open))
    }

    /// Descend into a cut of the current box (of its clipped box with `clip`).
    fn cut(&mut self, k: usize, p: T, clip: bool) -> Result<(), bool> {
        let d = self.plan.input;
        let c = &*self.clipped;
        self.walk.cut(k, p, clip.then(|| (&c[..d], &c[d..])))
    }

    /// Whether the buffers fit `g` and `specs` (and a cut's dimension fits its 2 bytes).
    fn fits(&self, g: &Graph<'_, T>, specs: &[Spec<'_, T>]) -> bool {
        self.plan.caps == crate::bound::caps_len(g)
            && self.plan.input == g.input_len()
            && g.input_len() <= usize::from(u16::MAX) + 1
            && specs
                .iter()
                .all(|s| s.atoms() <= self.plan.atoms && s.validate(g.input_len(), g.output_len()).is_ok())
    }
}

/// The scalar code of `T` in the header, by its precision near 1: 1 = f64, 0 = f32, 2 = other
/// (fixed point).
fn scalar_code<T: Scalar>() -> u8 {
    let one = T::from_f64_near(1.0).to_f64();
    // 2^-40 and 2^-20 above 1.
    let holds = |e: f64| T::from_f64_near(1.0 + e).to_f64() > one;
    if holds(9.094_947_017_729_282e-13) {
        1
    } else if holds(9.536_743_164_062_5e-7) {
        0
    } else {
        2
    }
}

/// SHA-256 of bytes (the ONNX file's fingerprint).
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// A node's operator as words: a tag, then its fields in declaration order (a `Span` as start
/// and length, a function as its tag and parameter bits), zero-padded.
fn op_words(op: &Op) -> [u32; 8] {
    let id = u32::from;
    match *op {
        Op::Input => [0; 8],
        Op::Affine { x, w, b } => [1, id(x), w.start, w.len, b.start, b.len, 0, 0],
        Op::Conv { x, w, b, geom } => [2, id(x), w.start, w.len, b.start, b.len, geom, 0],
        Op::MatMul { a, b, n, k } => [3, id(a), id(b), n, k, 0, 0, 0],
        Op::Add { a, b } => [4, id(a), id(b), 0, 0, 0, 0, 0],
        Op::Sub { a, b } => [5, id(a), id(b), 0, 0, 0, 0, 0],
        Op::Mul { a, b } => [6, id(a), id(b), 0, 0, 0, 0, 0],
        Op::ScaleShift { x, scale, shift } => {
            [7, id(x), scale.start, scale.len, shift.start, shift.len, 0, 0]
        }
        Op::Gather { x, idx } => [8, id(x), idx.start, idx.len, 0, 0, 0, 0],
        Op::Concat { parts } => [9, parts.start, parts.len, 0, 0, 0, 0, 0],
        Op::Sum { x, map } => [10, id(x), map.start, map.len, 0, 0, 0, 0],
        Op::Unary { x, f } => {
            let (t, p) = match f {
                Unary::Relu => (0, 0),
                Unary::LeakyRelu(a) => (1, a.to_bits()),
                Unary::Sigmoid => (2, 0),
                Unary::Tanh => (3, 0),
                Unary::Sin => (4, 0),
                Unary::Cos => (5, 0),
                Unary::Gelu => (6, 0),
                Unary::Exp => (7, 0),
                Unary::Log => (8, 0),
                Unary::Reciprocal => (9, 0),
                Unary::Sqrt => (10, 0),
                Unary::Pow(k) => (11, u32::from(k)),
                Unary::Neg => (12, 0),
                Unary::Abs => (13, 0),
                Unary::Floor => (14, 0),
                Unary::GeluTanh => (15, 0),
            };
            [11, id(x), t, p, 0, 0, 0, 0]
        }
    }
}

/// Fingerprint of a lowered graph: every node (its operator's words and its length), every
/// weight as f64 bits (so an f32 and an f64 lowering of the same ONNX file agree) and every
/// index.
pub fn graph_digest<T: Scalar>(g: &Graph<'_, T>) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"genbab graph 1");
    h.update((g.nodes.len() as u64).to_le_bytes());
    for n in g.nodes {
        for w in op_words(&n.op) {
            h.update(w.to_le_bytes());
        }
        h.update(n.len.to_le_bytes());
    }
    h.update(u64::from(g.output).to_le_bytes());
    h.update((g.weights.len() as u64).to_le_bytes());
    for w in g.weights {
        h.update(w.to_f64().to_bits().to_le_bytes());
    }
    h.update((g.indices.len() as u64).to_le_bytes());
    for i in g.indices {
        h.update(i.to_le_bytes());
    }
    h.finalize().into()
}

/// Fingerprint of a lowered property (its boxes, atoms and clauses, in the scalar type).
pub fn property_digest<T: Scalar>(specs: &[Spec<'_, T>]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"genbab property 1");
    h.update((specs.len() as u64).to_le_bytes());
    for s in specs {
        for part in [s.lo, s.hi, s.rows, s.rhs] {
            h.update((part.len() as u64).to_le_bytes());
            for v in part {
                h.update(v.to_f64().to_bits().to_le_bytes());
            }
        }
        h.update((s.clause_ends.len() as u64).to_le_bytes());
        for e in s.clause_ends {
            h.update(e.to_le_bytes());
        }
    }
    h.finalize().into()
}

/// The header of a certificate for `specs` of `g`.
fn header<T: Scalar>(g: &Graph<'_, T>, specs: &[Spec<'_, T>], onnx: &[u8; 32]) -> [u8; HEADER_LEN] {
    let mut b = [0u8; HEADER_LEN];
    b[..8].copy_from_slice(&MAGIC);
    b[8..10].copy_from_slice(&VERSION.to_le_bytes());
    b[10] = scalar_code::<T>();
    b[11] = LEAF_TEST_CROWN;
    b[12..16].copy_from_slice(&(specs.len() as u32).to_le_bytes());
    b[16..48].copy_from_slice(onnx);
    b[48..80].copy_from_slice(&graph_digest(g));
    b[80..112].copy_from_slice(&property_digest(specs));
    b
}

/// Check `cert` for the property `specs` (its input boxes, in order) of `g`: its checksum, its
/// fingerprints (`onnx`: the ONNX file's SHA-256 when the caller has the file), that each tree
/// covers its box, and the leaf test on every leaf with the engine settings `cfg` (the
/// deployed arithmetic must be the verdict's). Memory: `bound` (a CROWN plan of `g`) and
/// `buf`, nothing else.
pub fn check<T: Scalar>(
    cert: &[u8],
    g: &Graph<'_, T>,
    specs: &[Spec<'_, T>],
    cfg: &Config,
    onnx: Option<&[u8; 32]>,
    bound: &mut Workspace<'_, T>,
    buf: &mut CheckBuffers<'_, T>,
) -> Result<Summary, Invalid> {
    if cert.len() < HEADER_LEN + CHECKSUM_LEN {
        return Err(Invalid::Truncated);
    }
    if cert[..8] != MAGIC {
        return Err(Invalid::Magic);
    }
    let version = u16::from_le_bytes([cert[8], cert[9]]);
    if version != VERSION {
        return Err(Invalid::Version(version));
    }
    let (body, sum) = cert.split_at(cert.len() - CHECKSUM_LEN);
    if sha256(body)[..] != sum[..] {
        return Err(Invalid::Checksum);
    }
    if cert[10] != scalar_code::<T>() {
        return Err(Invalid::Scalar);
    }
    if cert[11] != LEAF_TEST_CROWN {
        return Err(Invalid::LeafTest(cert[11]));
    }
    if onnx.is_some_and(|o| cert[16..48] != o[..]) {
        return Err(Invalid::Onnx);
    }
    if cert[48..80] != graph_digest(g) {
        return Err(Invalid::Graph);
    }
    if cert[80..112] != property_digest(specs) {
        return Err(Invalid::Property);
    }
    if u32::from_le_bytes([cert[12], cert[13], cert[14], cert[15]]) as usize != specs.len() {
        return Err(Invalid::Boxes);
    }
    if !buf.fits(g, specs) {
        return Err(Invalid::Bound(BoundError::Shape));
    }
    let d = g.input_len();
    let mut at = HEADER_LEN;
    let mut sum = Summary { boxes: specs.len() as u32, bytes: cert.len() as u32, ..Summary::default() };
    buf.walk.depth = 0;
    for (b, spec) in specs.iter().enumerate() {
        buf.walk.start(spec);
        let mut leaf = 0u32;
        loop {
            let pos = at as u32;
            match body.get(at) {
                Some(&tag @ (CUT | CLIP_CUT)) => {
                    let Some(c) = body.get(at + 1..at + CUT_LEN) else {
                        return Err(Invalid::Tag { at: pos });
                    };
                    let k = u16::from_le_bytes([c[0], c[1]]) as usize;
                    let mut p8 = [0u8; 8];
                    p8.copy_from_slice(&c[2..10]);
                    let p = f64::from_bits(u64::from_le_bytes(p8));
                    if k >= d {
                        return Err(Invalid::Dim { at: pos });
                    }
                    let t = T::from_f64_near(p);
                    if t.to_f64().to_bits() != p.to_bits() {
                        return Err(Invalid::Point { at: pos });
                    }
                    if buf.walk.open == buf.walk.dims.len() {
                        return Err(Invalid::Depth { at: pos });
                    }
                    // The cut's box is bounded for the intervals of the boxes inside it (and,
                    // for a clipped cut, for the box its lines leave).
                    let (inside, keep) = buf.here();
                    let open =
                        buf.prove(bound, g, spec, cfg, Which::Walk, inside, keep).map_err(Invalid::Bound)?;
                    match buf.cut(k, t, tag == CLIP_CUT && open.is_some()) {
                        Ok(()) => {}
                        Err(true) => return Err(Invalid::Depth { at: pos }),
                        Err(false) => return Err(Invalid::Point { at: pos }),
                    }
                    sum.cuts += 1;
                    at += CUT_LEN;
                }
                Some(&LEAF) => {
                    at += 1;
                    let (inside, _) = buf.here();
                    match buf.prove(bound, g, spec, cfg, Which::Walk, inside, None) {
                        Ok(None) => {}
                        Ok(Some(_)) => return Err(Invalid::Unproved { input_box: b as u32, leaf }),
                        Err(e) => return Err(Invalid::Bound(e)),
                    }
                    leaf += 1;
                    if !buf.walk.next() {
                        break;
                    }
                }
                _ => return Err(Invalid::Tag { at: pos }),
            }
        }
        sum.leaves += leaf;
    }
    if at != body.len() {
        return Err(Invalid::Trailing { at: at as u32 });
    }
    sum.depth = buf.walk.depth as u32;
    Ok(sum)
}

/// Why [`write`] wrote no certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum WriteError {
    /// A part of box `input_box` fails the leaf test at the plan's depth (or has no cut point
    /// left): the leaf test is weaker than the search that proved it.
    Unproved {
        /// Index of the input box.
        input_box: u32,
    },
    /// The caller's `keep_going` said stop.
    Interrupted,
    /// The bound engine failed (numeric trouble, or buffers smaller than the plan).
    Bound(BoundError),
}

/// Write a certificate for `specs` of `g` into `sink` (in pieces, in order): for each box, a
/// tree found depth first by bisection with the leaf test, at the representable midpoint of the
/// dimension (among the 16 with the largest `|Λ_k|·width_k`) whose halves' leaf tests leave the
/// least gap.
/// `onnx` is the ONNX file's SHA-256 (zero when there is none). `keep_going` is asked before
/// every leaf test. On an error, what `sink` received is not a certificate.
#[allow(clippy::too_many_arguments)]
pub fn write<T: Scalar>(
    g: &Graph<'_, T>,
    specs: &[Spec<'_, T>],
    cfg: &Config,
    onnx: &[u8; 32],
    bound: &mut Workspace<'_, T>,
    buf: &mut CheckBuffers<'_, T>,
    sink: &mut dyn FnMut(&[u8]),
    keep_going: &mut dyn FnMut() -> bool,
) -> Result<Summary, WriteError> {
    if !buf.fits(g, specs) {
        return Err(WriteError::Bound(BoundError::Shape));
    }
    let mut h = Sha256::new();
    let mut bytes = 0usize;
    let mut emit = |b: &[u8]| {
        h.update(b);
        bytes += b.len();
        sink(b);
    };
    emit(&header(g, specs, onnx));
    let d = g.input_len();
    let mut sum = Summary { boxes: specs.len() as u32, ..Summary::default() };
    buf.walk.depth = 0;
    for (b, spec) in specs.iter().enumerate() {
        buf.walk.start(spec);
        loop {
            if !keep_going() {
                return Err(WriteError::Interrupted);
            }
            let (inside, keep) = buf.here();
            let open =
                buf.prove(bound, g, spec, cfg, Which::Walk, inside, keep).map_err(WriteError::Bound)?;
            if open.is_none() {
                emit(&[LEAF]);
                sum.leaves += 1;
                if buf.walk.next() {
                    continue;
                }
                break;
            }
            let unproved = WriteError::Unproved { input_box: b as u32 };
            if buf.walk.open == buf.walk.dims.len() {
                return Err(unproved);
            }
            // As the search does: cut the box clipped to where a clause may hold (when the clip
            // shrank it), in the dimension whose halves' leaf tests leave the least gap
            // ([`strong::better`]): the checker bounds the tree once, so a small tree is worth
            // the probes.
            let clip =
                (0..d).any(|i| buf.clipped[i] != buf.walk.lo[i] || buf.clipped[d + i] != buf.walk.hi[i]);
            if !clip {
                buf.clipped[..d].copy_from_slice(buf.walk.lo);
                buf.clipped[d..].copy_from_slice(buf.walk.hi);
            }
            let target = open.map_or(0, |(_, t)| t);
            let mut best: Option<([Option<f64>; 2], usize, T)> = None;
            let mut last = None;
            // In the search's order: largest |Λ_k|·width_k of the target atom's line first (the
            // node's line: the probes overwrite `lines`).
            buf.lam.copy_from_slice(&buf.lines[target * (d + 1)..target * (d + 1) + d]);
            for _ in 0..d.min(PROBED) {
                let (lam, c) = (&*buf.lam, &*buf.clipped);
                let score = |i: usize| lam[i].to_f64().abs() * (c[d + i].to_f64() - c[i].to_f64());
                let Some((s, k)) = strong::next_candidate(d, last, score) else { break };
                last = Some((s, k));
                let (l0, h0) = (buf.clipped[k], buf.clipped[d + k]);
                let Some(p) = branch::cut_point(l0, h0) else { continue };
                let mut ms = [None, None];
                for (h, m) in ms.iter_mut().enumerate() {
                    if h == 0 {
                        buf.clipped[d + k] = p;
                    } else {
                        buf.clipped[k] = p;
                    }
                    if !keep_going() {
                        return Err(WriteError::Interrupted);
                    }
                    let r = buf.prove(bound, g, spec, cfg, Which::Clipped, keep, None);
                    (buf.clipped[k], buf.clipped[d + k]) = (l0, h0);
                    *m = r.map_err(WriteError::Bound)?.map(|(v, _)| v);
                    // A dimension that cannot win even if its upper half is proved is not probed
                    // further (the choice is the same).
                    if h == 0 && best.as_ref().is_some_and(|b| !strong::better(&[*m, None], &b.0)) {
                        break;
                    }
                }
                if best.as_ref().is_none_or(|b| strong::better(&ms, &b.0)) {
                    best = Some((ms, k, p));
                }
                if ms == [None, None] {
                    break;
                }
            }
            let (_, k, p) = best.ok_or(unproved)?;
            buf.cut(k, p, clip).map_err(|_| unproved)?;
            let mut c = [0u8; CUT_LEN];
            c[0] = if clip { CLIP_CUT } else { CUT };
            c[1..3].copy_from_slice(&(k as u16).to_le_bytes());
            c[3..].copy_from_slice(&p.to_f64().to_bits().to_le_bytes());
            emit(&c);
            sum.cuts += 1;
        }
    }
    sum.depth = buf.walk.depth as u32;
    let total: [u8; 32] = h.finalize().into();
    sink(&total);
    sum.bytes = (bytes + CHECKSUM_LEN) as u32;
    Ok(sum)
}
