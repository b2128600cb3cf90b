//! Operators that own their kernels.
//!
//! The core is moving to one module per operator, each owning its forward value, interval image
//! and backward step, with `bound` as the traversal. Today [`conv`] (a convolution's geometry and
//! its transposed scatter) and [`linear`] (dense and convolutional maps behind one interface,
//! which forward evaluation, IBP, CROWN, α-CROWN's primal sweep and the attack's gradient all
//! use) live here; the elementwise and index ops still sit in `graph` and `bound`.

pub mod conv;
pub mod linear;
