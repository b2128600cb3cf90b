//! Properties: an input box and an unsafe region over the outputs (VNNLIB semantics).
//!
//! The unsafe region is a disjunction of *clauses*; a clause is a conjunction of *atoms*
//! `c·y ≤ d` over the network output `y`. The property holds on the box (VNN-COMP `unsat`) when no
//! input in the box reaches any clause. A clause is refuted by showing that one of its atoms is
//! violated everywhere: `min (c·y − d) > 0`. A VNNLIB file with several input boxes becomes several
//! [`Spec`]s, checked one after the other.

use crate::num::Scalar;

/// Why a spec was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SpecError {
    /// Input box length differs from the model's input, or `lo > hi`, or a bound is not finite.
    BadBox,
    /// Atom rows are not `atoms × output_len`, or clause ends are not increasing up to `atoms`.
    BadAtoms,
}

/// One input box and the unsafe region, borrowing flat arrays.
#[derive(Clone, Copy, Debug)]
pub struct Spec<'a, T> {
    /// Lower end of the input box.
    pub lo: &'a [T],
    /// Upper end of the input box.
    pub hi: &'a [T],
    /// Atom coefficients, row-major `atoms × output_len`: atom `i` is `rows[i]·y ≤ rhs[i]`.
    pub rows: &'a [T],
    /// Atom right-hand sides.
    pub rhs: &'a [T],
    /// Clause `k` is atoms `clause_ends[k-1]..clause_ends[k]` (with `clause_ends[-1] = 0`).
    pub clause_ends: &'a [u32],
}

impl<T: Scalar> Spec<'_, T> {
    /// Number of atoms.
    pub fn atoms(&self) -> usize {
        self.rhs.len()
    }
    /// Number of clauses.
    pub fn clauses(&self) -> usize {
        self.clause_ends.len()
    }
    /// Atom range of clause `k`.
    pub fn clause(&self, k: usize) -> core::ops::Range<usize> {
        let start = if k == 0 { 0 } else { self.clause_ends[k - 1] as usize };
        start..self.clause_ends[k] as usize
    }
    /// Check shapes against a model with `input_len` inputs and `output_len` outputs.
    pub fn validate(&self, input_len: usize, output_len: usize) -> Result<(), SpecError> {
        if self.lo.len() != input_len || self.hi.len() != input_len {
            return Err(SpecError::BadBox);
        }
        for (l, h) in self.lo.iter().zip(self.hi) {
            if !l.is_usable() || !h.is_usable() || l > h {
                return Err(SpecError::BadBox);
            }
        }
        if self.rows.len() != self.rhs.len() * output_len
            || self.rows.iter().chain(self.rhs).any(|v| !v.is_usable())
        {
            return Err(SpecError::BadAtoms);
        }
        let mut prev = 0u32;
        for &e in self.clause_ends {
            if e <= prev {
                return Err(SpecError::BadAtoms);
            }
            prev = e;
        }
        if prev as usize != self.rhs.len() || self.clause_ends.is_empty() {
            return Err(SpecError::BadAtoms);
        }
        Ok(())
    }

    /// Whether output `y` lies in the unsafe region. The atoms are evaluated in f64 and must hold
    /// with a margin covering that evaluation's rounding (`γ_n·Σ|c_j·y_j|`), so a witness is never
    /// accepted because of a rounding error.
    pub fn is_violated_by(&self, y: &[T]) -> bool {
        let n = y.len();
        let gamma = (n as f64 + 2.0) * f64::EPSILON;
        (0..self.clauses()).any(|k| {
            self.clause(k).all(|i| {
                let row = &self.rows[i * n..(i + 1) * n];
                let (mut s, mut mag) = (0.0f64, 0.0f64);
                for (c, v) in row.iter().zip(y) {
                    let t = c.to_f64() * v.to_f64();
                    s += t;
                    mag += t.abs();
                }
                s + gamma * mag <= self.rhs[i].to_f64()
            })
        })
    }

    /// How far the output `y` is from the unsafe region: the smallest over the clauses of
    /// [`Spec::clause_margin`] (≤ 0 when `y` is unsafe), in f64.
    pub fn margin(&self, y: &[T]) -> f64 {
        (0..self.clauses()).map(|k| self.clause_margin(k, y).0).fold(f64::INFINITY, f64::min)
    }

    /// Clause `k`'s margin at output `y`: the largest `c·y − d` over its atoms (≤ 0 when every
    /// atom holds, i.e. `y` is in this clause's part of the unsafe region), in f64, and the atom
    /// attaining it.
    pub fn clause_margin(&self, k: usize, y: &[T]) -> (f64, usize) {
        let n = y.len();
        let mut best = (f64::NEG_INFINITY, 0);
        for i in self.clause(k) {
            let row = &self.rows[i * n..(i + 1) * n];
            let s: f64 =
                row.iter().zip(y).map(|(c, v)| c.to_f64() * v.to_f64()).sum::<f64>() - self.rhs[i].to_f64();
            if s > best.0 {
                best = (s, i);
            }
        }
        best
    }

    /// Whether `x` lies in the input box.
    pub fn contains(&self, x: &[T]) -> bool {
        x.len() == self.lo.len()
            && x.iter().zip(self.lo.iter().zip(self.hi)).all(|(v, (l, h))| l <= v && v <= h)
    }
}
