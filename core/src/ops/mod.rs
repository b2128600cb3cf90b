//! Operators that own their kernels.
//!
//! The core is moving to one module per operator, each owning its forward value, interval image
//! and backward step, with `bound` as the traversal. Today [`conv`] (a convolution's geometry and
//! its transposed scatter), [`linear`] (dense and convolutional maps behind one interface, which
//! forward evaluation, IBP, CROWN, α-CROWN's primal sweep and the attack's gradient all use) and
//! [`matmul`] (the batched product of two variable matrices: shape and term indexing) live here;
//! the elementwise and index ops, and the engines' steps for products, still sit in `graph`,
//! `bound` and `alpha`.

pub mod conv;
pub mod linear;
pub mod matmul;
