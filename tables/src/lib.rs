//! Branching-point table generator.
