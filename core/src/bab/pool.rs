//! The fixed domain pool: boxes, split lists and a binary heap over slots, all in caller memory.
//!
//! Slot `s` owns `2·d` scalars of `boxes` (its input box), `depth` entries of `splits` and
//! `caps` scalars of `caps` (interval caps of an input-split domain, see
//! [`crate::bound::Workspace::node_bounds_capped`]); its [`DomainRecord`] holds the priority key,
//! the split count, what its caps are and the free-list/heap links. The heap (min on `key`) lives
//! in the records' `heap` fields, so no extra buffer is needed.

use crate::bound::Split;
use crate::num::Scalar;

/// Bookkeeping of one pooled domain (and one heap position).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DomainRecord<T> {
    /// The parent's worst margin lower bound (for reports).
    pub score: T,
    /// Priority: smallest first.
    pub key: f64,
    /// Number of splits.
    pub depth: u16,
    /// What the slot's interval caps are.
    pub caps: Caps,
    /// Heap position `i` holds slot `records[i].heap`.
    pub heap: u32,
    /// Next free slot (free list link).
    pub next_free: u32,
}

impl<T: Scalar> DomainRecord<T> {
    /// An unused record.
    pub const EMPTY: DomainRecord<T> =
        DomainRecord { score: T::ZERO, key: 0.0, depth: 0, caps: Caps::None, heap: 0, next_free: 0 };
}

/// The interval caps stored with an input-split domain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Caps {
    /// None: the domain is bounded from scratch.
    None,
    /// The intervals of a domain that contains this one (its parent's): bound with CROWN, then
    /// intersect.
    Enclosing,
    /// This domain's own intervals (its bound was computed when it was probed): an IBP sweep
    /// inside them restores them.
    Own,
}

const NONE: u32 = u32::MAX;

pub(crate) struct Pool<'w, T> {
    cap: usize,
    depth: usize,
    input: usize,
    boxes: &'w mut [T],
    splits: &'w mut [Split<T>],
    records: &'w mut [DomainRecord<T>],
    /// Interval caps, `caps_len` scalars per slot (0: none are kept).
    caps: &'w mut [T],
    caps_len: usize,
    len: usize,
    free: u32,
}

impl<'w, T: Scalar> Pool<'w, T> {
    pub(crate) fn new(
        cap: usize,
        depth: usize,
        input: usize,
        boxes: &'w mut [T],
        splits: &'w mut [Split<T>],
        records: &'w mut [DomainRecord<T>],
        caps: &'w mut [T],
    ) -> Self {
        let caps_len = caps.len().checked_div(cap).unwrap_or(0);
        let mut p = Pool { cap, depth, input, boxes, splits, records, caps, caps_len, len: 0, free: NONE };
        p.clear();
        p
    }

    pub(crate) fn clear(&mut self) {
        self.len = 0;
        for s in 0..self.cap {
            self.records[s].next_free = if s + 1 < self.cap { (s + 1) as u32 } else { NONE };
        }
        self.free = if self.cap > 0 { 0 } else { NONE };
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Insert a domain with its interval caps (ignored when the pool keeps none); `None` when
    /// full or the split list is too long.
    pub(crate) fn push(
        &mut self,
        lo: &[T],
        hi: &[T],
        splits: &[Split<T>],
        caps: (Caps, &[T]),
        score: T,
        key: f64,
    ) -> Option<()> {
        if self.free == NONE || splits.len() > self.depth {
            return None;
        }
        let kind = if self.caps_len > 0 && caps.1.len() == self.caps_len { caps.0 } else { Caps::None };
        let s = self.free as usize;
        self.free = self.records[s].next_free;
        let d = self.input;
        self.boxes[s * 2 * d..s * 2 * d + d].copy_from_slice(lo);
        self.boxes[s * 2 * d + d..(s + 1) * 2 * d].copy_from_slice(hi);
        self.splits[s * self.depth..s * self.depth + splits.len()].copy_from_slice(splits);
        if kind != Caps::None {
            self.caps[s * self.caps_len..(s + 1) * self.caps_len].copy_from_slice(caps.1);
        }
        let r = &mut self.records[s];
        r.score = score;
        r.key = key;
        r.depth = splits.len() as u16;
        r.caps = kind;
        // Sift up.
        let mut i = self.len;
        self.len += 1;
        self.records[i].heap = s as u32;
        while i > 0 {
            let parent = (i - 1) / 2;
            if self.key_at(i) < self.key_at(parent) {
                self.swap(i, parent);
                i = parent;
            } else {
                break;
            }
        }
        Some(())
    }

    fn key_at(&self, i: usize) -> f64 {
        self.records[self.records[i].heap as usize].key
    }

    fn swap(&mut self, i: usize, j: usize) {
        let t = self.records[i].heap;
        self.records[i].heap = self.records[j].heap;
        self.records[j].heap = t;
    }

    /// Visit every domain in the pool (heap order): its box, its number of splits and its caps
    /// (empty when it has none).
    #[cfg(feature = "alloc")]
    pub(crate) fn for_each(&self, mut f: impl FnMut(&[T], &[T], usize, &[T])) {
        let d = self.input;
        for i in 0..self.len {
            let s = self.records[i].heap as usize;
            let b = &self.boxes[s * 2 * d..(s + 1) * 2 * d];
            let r = &self.records[s];
            let c = if r.caps == Caps::None {
                &[][..]
            } else {
                &self.caps[s * self.caps_len..(s + 1) * self.caps_len]
            };
            f(&b[..d], &b[d..], r.depth as usize, c);
        }
    }

    /// Remove the domain with the smallest key and copy it out: box into `lo`/`hi`, splits into
    /// `splits` (returned length), its caps into `caps` (returned kind).
    pub(crate) fn pop(
        &mut self,
        lo: &mut [T],
        hi: &mut [T],
        splits: &mut [Split<T>],
        caps: &mut [T],
    ) -> Option<(usize, Caps)> {
        if self.len == 0 {
            return None;
        }
        let s = self.records[0].heap as usize;
        self.len -= 1;
        if self.len > 0 {
            self.swap(0, self.len);
            let mut i = 0;
            loop {
                let (l, r) = (2 * i + 1, 2 * i + 2);
                let mut m = i;
                if l < self.len && self.key_at(l) < self.key_at(m) {
                    m = l;
                }
                if r < self.len && self.key_at(r) < self.key_at(m) {
                    m = r;
                }
                if m == i {
                    break;
                }
                self.swap(i, m);
                i = m;
            }
        }
        let d = self.input;
        lo.copy_from_slice(&self.boxes[s * 2 * d..s * 2 * d + d]);
        hi.copy_from_slice(&self.boxes[s * 2 * d + d..(s + 1) * 2 * d]);
        let n = self.records[s].depth as usize;
        splits[..n].copy_from_slice(&self.splits[s * self.depth..s * self.depth + n]);
        let kind = self.records[s].caps;
        if kind != Caps::None && caps.len() == self.caps_len {
            caps.copy_from_slice(&self.caps[s * self.caps_len..(s + 1) * self.caps_len]);
        }
        self.records[s].next_free = self.free;
        self.free = s as u32;
        Some((n, if caps.len() == self.caps_len { kind } else { Caps::None }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heap_pops_in_key_order_and_reuses_slots() {
        let mut boxes = [0.0f64; 2 * 2 * 4];
        let mut splits = [Split { node: 0, idx: 0, upper: false, point: 0.0 }; 4 * 3];
        let mut recs = [DomainRecord::<f64>::EMPTY; 4];
        let mut caps = [0.0f64; 4 * 2];
        let mut p = Pool::new(4, 3, 2, &mut boxes, &mut splits, &mut recs, &mut caps);
        for (i, k) in [3.0, 1.0, 2.0, 0.5].iter().enumerate() {
            let sp = [Split { node: 1, idx: i as u32, upper: true, point: *k }];
            let kind = if i % 2 == 0 { Caps::Own } else { Caps::Enclosing };
            p.push(&[*k, 0.0], &[*k, 1.0], &sp, (kind, &[-*k, *k]), *k, *k).unwrap();
        }
        assert!(p.push(&[0.0, 0.0], &[0.0, 0.0], &[], (Caps::None, &[]), 9.0, 9.0).is_none(), "pool is full");
        let (mut lo, mut hi, mut c) = ([0.0; 2], [0.0; 2], [0.0; 2]);
        let mut sp = [Split { node: 0, idx: 0, upper: false, point: 0.0 }; 3];
        let mut keys = std::vec::Vec::new();
        while let Some((n, kind)) = p.pop(&mut lo, &mut hi, &mut sp, &mut c) {
            assert_eq!(n, 1);
            assert_eq!(sp[0].point, lo[0]);
            assert_eq!(c, [-lo[0], lo[0]], "the caps travel with their domain");
            assert_eq!(kind, if [3.0, 2.0].contains(&lo[0]) { Caps::Own } else { Caps::Enclosing });
            keys.push(lo[0]);
        }
        assert_eq!(keys, [0.5, 1.0, 2.0, 3.0]);
        // Slots are free again.
        for k in 0..4 {
            p.push(&[0.0, 0.0], &[1.0, 1.0], &[], (Caps::None, &[]), 0.0, k as f64).unwrap();
        }
        assert_eq!(p.len(), 4);
    }
}
