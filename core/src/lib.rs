//! genbab-core: a `no_std`, allocation-free neural-network verifier core.
//!
//! Data flows one way: **model + input box → bounds → verdict**.
//!
//! - [`num`]: scalars with directed rounding (f32, f64, checked fixed point);
//! - [`unary`]: the elementwise functions of the IR;
//! - [`graph`]: the model IR over flat vectors with borrowed weights (data only);
//! - [`relax`]: interval images and linear relaxations of every nonlinearity;
//! - [`ops`]: one module per operator, owning its shape check, forward value (`Graph::eval`),
//!   interval image, backward linear step, α-CROWN primal value and attack gradient;
//! - [`bound`]: the IBP, CROWN, forward-mode and zonotope traversals over the graph, into a
//!   caller-provided workspace sized by a [`bound::Plan`];
//! - [`spec`]: properties (input box + unsafe region);
//! - [`bab`]: branch and bound (input split, GenBaB activation split with BBPS), attack, budget;
//! - [`cert`]: proof certificates (a cut tree per input box) and their streaming checker;
//! - [`monitor`]: runtime checks of a stream of frames (reuse of earlier frames, the centre,
//!   then branch and bound);
//! - `prune` (feature `alloc`): restrict a graph to the output elements a property reads.
//!
//! No heap unless the `alloc` feature is on; no `unsafe`; no panics on user data (graphs are
//! validated, buffers are checked against the plan, numeric trouble becomes `Unknown`).
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]
// `!(a < b)` is deliberate throughout: it is true for NaN, which must take the safe branch.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod alpha;
pub mod bab;
pub mod bound;
pub mod cert;
pub mod graph;
pub mod monitor;
pub mod num;
pub mod ops;
#[cfg(feature = "alloc")]
pub mod prune;
pub mod relax;
pub mod spec;
pub mod tables;
pub mod unary;
