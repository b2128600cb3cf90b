//! Shared helpers for the cross-crate suites.
pub mod engines;
pub mod random_dag;
pub mod sample;
