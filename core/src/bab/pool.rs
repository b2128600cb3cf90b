//! The fixed domain pool: boxes, split lists and a binary heap over slots, all in caller memory.
//!
//! Slot `s` owns `2·d` scalars of `boxes` (its input box) and `depth` entries of `splits`; its
//! [`DomainRecord`] holds the priority key, the split count and the free-list/heap links. The
//! heap (min on `key`) lives in the records' `heap` fields, so no extra buffer is needed.

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
    /// Heap position `i` holds slot `records[i].heap`.
    pub heap: u32,
    /// Next free slot (free list link).
    pub next_free: u32,
}

impl<T: Scalar> DomainRecord<T> {
    /// An unused record.
    pub const EMPTY: DomainRecord<T> =
        DomainRecord { score: T::ZERO, key: 0.0, depth: 0, heap: 0, next_free: 0 };
}

const NONE: u32 = u32::MAX;

pub(crate) struct Pool<'w, T> {
    cap: usize,
    depth: usize,
    input: usize,
    boxes: &'w mut [T],
    splits: &'w mut [Split<T>],
    records: &'w mut [DomainRecord<T>],
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
    ) -> Self {
        let mut p = Pool { cap, depth, input, boxes, splits, records, len: 0, free: NONE };
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

    /// Insert a domain; `None` when full or the split list is too long.
    pub(crate) fn push(&mut self, lo: &[T], hi: &[T], splits: &[Split<T>], score: T, key: f64) -> Option<()> {
        if self.free == NONE || splits.len() > self.depth {
            return None;
        }
        let s = self.free as usize;
        self.free = self.records[s].next_free;
        let d = self.input;
        self.boxes[s * 2 * d..s * 2 * d + d].copy_from_slice(lo);
        self.boxes[s * 2 * d + d..(s + 1) * 2 * d].copy_from_slice(hi);
        self.splits[s * self.depth..s * self.depth + splits.len()].copy_from_slice(splits);
        let r = &mut self.records[s];
        r.score = score;
        r.key = key;
        r.depth = splits.len() as u16;
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

    /// Remove the domain with the smallest key and copy it out: box into `lo`/`hi`, splits into
    /// `splits` (returned length).
    pub(crate) fn pop(&mut self, lo: &mut [T], hi: &mut [T], splits: &mut [Split<T>]) -> Option<(usize, T)> {
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
        let score = self.records[s].score;
        self.records[s].next_free = self.free;
        self.free = s as u32;
        Some((n, score))
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
        let mut p = Pool::new(4, 3, 2, &mut boxes, &mut splits, &mut recs);
        for (i, k) in [3.0, 1.0, 2.0, 0.5].iter().enumerate() {
            let sp = [Split { node: 1, idx: i as u32, upper: true, point: *k }];
            p.push(&[*k, 0.0], &[*k, 1.0], &sp, *k, *k).unwrap();
        }
        assert!(p.push(&[0.0, 0.0], &[0.0, 0.0], &[], 9.0, 9.0).is_none(), "pool is full");
        let (mut lo, mut hi) = ([0.0; 2], [0.0; 2]);
        let mut sp = [Split { node: 0, idx: 0, upper: false, point: 0.0 }; 3];
        let mut keys = std::vec::Vec::new();
        while let Some((n, score)) = p.pop(&mut lo, &mut hi, &mut sp) {
            assert_eq!(n, 1);
            assert_eq!(lo[0], score);
            assert_eq!(sp[0].point, score);
            keys.push(score);
        }
        assert_eq!(keys, [0.5, 1.0, 2.0, 3.0]);
        // Slots are free again.
        for k in 0..4 {
            p.push(&[0.0, 0.0], &[1.0, 1.0], &[], 0.0, k as f64).unwrap();
        }
        assert_eq!(p.len(), 4);
    }
}
