//! Generator of GenBaB's pre-optimised branching-point tables (notes §3).
//!
//! For every grid cell `[g_i, g_j]` of a nonlinearity's input (for the product `x·y`: every pair of
//! cells `[g_i, g_j] × [g_k, g_l]`, splitting `x`), find the point `p` that minimises the *looseness*
//! of the two children: the area between the upper and lower relaxation lines of `f` on `[g_i, p]`
//! plus that on `[p, g_j]` (for the product, the volume between the planes over each child box).
//! The relaxations are genbab-core's own non-optimised ones ([`relax::relax`],
//! [`relax::mul_relax`]), so the tables are regenerated whenever those change.
//!
//! The search is a deterministic grid search over the fractions that the file can store
//! (`k / 2^(8·width)` of the cell): 63 uniform candidates `k = j·2^(8·width)/64`, then windows of
//! ± the previous spacing around the best one at an 8× finer spacing, down to spacing 1. Among
//! candidates whose loss is within a relative `1e-10` of the stage's minimum, the one closest to
//! the midpoint wins (ties toward the midpoint; exact ½ is among the first candidates, so the
//! result never loses to the midpoint by more than that tolerance).
//!
//! The file format and the look-up live in `genbab_core::tables`; this crate only writes files.

use std::sync::Mutex;

use genbab_core::graph::Unary;
use genbab_core::relax;
use genbab_core::tables::{self as fmt, Header, Resolution, TableId};

/// Relative tolerance under which two losses count as a tie.
pub const TIE_TOLERANCE: f64 = 1e-10;

/// The grid and storage of one table.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spec {
    /// Which function.
    pub id: TableId,
    /// Which resolution.
    pub resolution: Resolution,
    /// First grid point.
    pub lo: f64,
    /// Grid step.
    pub step: f64,
    /// Grid points per axis.
    pub count: u32,
    /// Bytes per entry (1: fractions k/256; 2: fractions k/65536).
    pub width: u8,
}

/// The committed grid of table `id` at resolution `res`.
///
/// * device: 1-D on [−5, 5] step 1/8 (81 points), Reciprocal on [1/8, 5] step 1/8, the product on
///   [−5, 5] step 1 (11 points per axis); one byte per entry. All nine files: ~26 KiB.
/// * host: 1-D on [−5, 5] step 1/64 (641 points), Reciprocal on [1/64, 5] step 1/64, the product on
///   [−5, 5] step 1/2 (21 points per axis); two bytes per entry. All nine files: ~3.1 MB.
///
/// Steps are powers of two, so every grid point `lo + k·step` is exact in `f64`.
pub fn spec(id: TableId, res: Resolution) -> Spec {
    let (step, width, mul_step): (f64, u8, f64) = match res {
        Resolution::Device => (0.125, 1, 1.0),
        Resolution::Host => (1.0 / 64.0, 2, 0.5),
    };
    let (lo, step) = match id {
        TableId::Mul => (-5.0, mul_step),
        TableId::Reciprocal => (step, step),
        _ => (-5.0, step),
    };
    // Points from lo up to 5 inclusive.
    let count = ((5.0 - lo) / step).round() as u32 + 1;
    Spec { id, resolution: res, lo, step, count, width }
}

/// All nine tables of a resolution, in [`TableId::ALL`] order.
pub fn specs(res: Resolution) -> Vec<Spec> {
    TableId::ALL.iter().map(|&id| spec(id, res)).collect()
}

impl Spec {
    /// Grid cells per axis.
    pub fn cells(&self) -> usize {
        fmt::cells(self.count as usize)
    }

    /// Entries in the payload.
    pub fn entries(&self) -> usize {
        Header::entries(self.id.dims(), self.count) as usize
    }

    /// Grid point `k`.
    pub fn grid(&self, k: usize) -> f64 {
        fmt::grid_point(self.lo, self.step, k)
    }

    /// The header (with checksum 0 until the file is sealed).
    pub fn header(&self) -> Header {
        Header {
            id: self.id,
            resolution: self.resolution,
            width: self.width,
            count: self.count,
            lo: self.lo,
            step: self.step,
            payload_len: (self.entries() * self.width as usize) as u64,
            checksum: 0,
        }
    }

    /// File name under the output directory: `<resolution>/<name>.gbpt`.
    pub fn file_name(&self) -> String {
        format!("{}/{}.gbpt", self.resolution.name(), self.id.name())
    }

    /// `(i, j)` of axis cell number `t` (inverse of [`fmt::cell_index`]).
    pub fn cell_of(&self, t: usize) -> (usize, usize) {
        let n = self.count as usize;
        // Largest row i with cell_index(n, i, i + 1) <= t.
        let (mut a, mut b) = (0usize, n - 1);
        while b - a > 1 {
            let m = (a + b) / 2;
            if fmt::cell_index(n, m, m + 1) <= t { a = m } else { b = m }
        }
        let i = a;
        (i, t - fmt::cell_index(n, i, i + 1) + i + 1)
    }

    /// The grid cells of entry `e`: `(g_i, g_j)` and, for the product, the other factor's cell.
    pub fn entry_cells(&self, e: usize) -> ((f64, f64), Option<(f64, f64)>) {
        let cell = |t: usize| {
            let (i, j) = self.cell_of(t);
            (self.grid(i), self.grid(j))
        };
        if self.id.dims() == 2 {
            let t = self.cells();
            (cell(e / t), Some(cell(e % t)))
        } else {
            (cell(e), None)
        }
    }

    /// The stored value of entry `e` (0 = no point).
    pub fn compute(&self, e: usize) -> u32 {
        let ((gl, gu), other) = self.entry_cells(e);
        match (self.id.unary(), other) {
            (Some(f), _) => best_fraction(self.width, |k| {
                let p = fmt::decode_point(gl, gu, k, self.width);
                loss_1d(f, gl, p, gu)
            }),
            (None, Some((ol, ou))) => best_fraction(self.width, |k| {
                let p = fmt::decode_point(gl, gu, k, self.width);
                loss_mul(gl, p, gu, ol, ou)
            }),
            (None, None) => 0,
        }
    }

    /// The loss of splitting entry `e`'s cell at `p` (used by the tests).
    pub fn loss(&self, e: usize, p: f64) -> f64 {
        let ((gl, gu), other) = self.entry_cells(e);
        match (self.id.unary(), other) {
            (Some(f), _) => loss_1d(f, gl, p, gu),
            (None, Some((ol, ou))) => loss_mul(gl, p, gu, ol, ou),
            (None, None) => f64::INFINITY,
        }
    }
}

/// ∫ (upper − lower) over `[a, b]` for the non-optimised relaxation of `f`; `None` if there is none.
pub fn area(f: Unary, a: f64, b: f64) -> Option<f64> {
    let r = relax::relax(f, a, b).ok()?;
    let ds = r.upper.slope - r.lower.slope;
    let db = r.upper.bias - r.lower.bias;
    let v = ds * (b - a) * (b + a) * 0.5 + db * (b - a);
    v.is_finite().then_some(v)
}

/// ∫∫ (upper − lower) over `[a, b] × [c, d]` for the product's planes; `None` if there are none.
pub fn volume(a: f64, b: f64, c: f64, d: f64) -> Option<f64> {
    let (lo, up) = relax::mul_relax(a, b, c, d).ok()?;
    let (wx, wy) = (b - a, d - c);
    let v = (up.ax - lo.ax) * wx * (b + a) * 0.5 * wy
        + (up.ay - lo.ay) * wy * (d + c) * 0.5 * wx
        + (up.c - lo.c) * wx * wy;
    v.is_finite().then_some(v)
}

/// Looseness of splitting `[l, u]` at `p` for `f` (`+∞` where a relaxation fails).
pub fn loss_1d(f: Unary, l: f64, p: f64, u: f64) -> f64 {
    match (area(f, l, p), area(f, p, u)) {
        (Some(a), Some(b)) => a + b,
        _ => f64::INFINITY,
    }
}

/// Looseness of splitting `x ∈ [l, u]` at `p` for `x·y`, `y ∈ [ol, ou]` (`+∞` on failure).
pub fn loss_mul(l: f64, p: f64, u: f64, ol: f64, ou: f64) -> f64 {
    match (volume(l, p, ol, ou), volume(p, u, ol, ou)) {
        (Some(a), Some(b)) => a + b,
        _ => f64::INFINITY,
    }
}

/// The stored fraction `k ∈ 1..2^(8·width)` minimising `loss(k)` (module docs), or 0 when every
/// candidate's loss is infinite or NaN.
pub fn best_fraction(width: u8, mut loss: impl FnMut(u32) -> f64) -> u32 {
    let den = fmt::denominator(width);
    let mid = den / 2;
    let mut spacing = den / 64;
    let mut cands: Vec<u32> = (1..64).map(|j| j * spacing).collect();
    let mut best = match pick(&cands, mid, &mut loss) {
        Some(k) => k,
        None => return 0,
    };
    while spacing > 1 {
        let next = (spacing / 8).max(1);
        cands.clear();
        let mut k = best.saturating_sub(spacing) + next;
        while k < best + spacing {
            if k >= 1 && k < den {
                cands.push(k);
            }
            k += next;
        }
        // `best` is among them (spacing is a multiple of next).
        best = pick(&cands, mid, &mut loss).unwrap_or(best);
        spacing = next;
    }
    best
}

/// The best candidate of one stage: the minimum loss, then, among those within the tie
/// tolerance of it, the one closest to `mid` (the smaller on equal distance).
fn pick(cands: &[u32], mid: u32, loss: &mut impl FnMut(u32) -> f64) -> Option<u32> {
    let vals: Vec<f64> =
        cands.iter().map(|&k| loss(k)).map(|v| if v.is_nan() { f64::INFINITY } else { v }).collect();
    let min = vals.iter().copied().fold(f64::INFINITY, f64::min);
    if !min.is_finite() {
        return None;
    }
    let tol = TIE_TOLERANCE * min.abs();
    cands
        .iter()
        .zip(&vals)
        .filter(|&(_, &v)| v <= min + tol)
        .map(|(&k, _)| k)
        .min_by_key(|&k| (k.abs_diff(mid), k))
}

/// The payload of `spec` (entries in file order, little endian), computed on `threads` threads.
/// The result does not depend on the number of threads.
pub fn payload(spec: &Spec, threads: usize) -> Vec<u8> {
    const CHUNK: usize = 2048;
    let entries = spec.entries();
    let w = spec.width as usize;
    let mut out = vec![0u8; entries * w];
    let chunks = Mutex::new(out.chunks_mut(CHUNK * w).enumerate());
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| {
                loop {
                    let taken = chunks.lock().unwrap_or_else(|e| e.into_inner()).next();
                    let Some((c, buf)) = taken else { break };
                    for (n, slot) in buf.chunks_mut(w).enumerate() {
                        let k = spec.compute(c * CHUNK + n);
                        slot.copy_from_slice(&k.to_le_bytes()[..w]);
                    }
                }
            });
        }
    });
    out
}

/// The complete file (header, payload) of `spec`, sealed with its checksum.
pub fn file(spec: &Spec, threads: usize) -> Vec<u8> {
    let mut bytes = spec.header().to_bytes().to_vec();
    bytes.extend_from_slice(&payload(spec, threads));
    let sum = fmt::file_checksum(&bytes);
    bytes[40..48].copy_from_slice(&sum.to_le_bytes());
    bytes
}

/// Reads entry `e` of a table file's payload (for the tests and tools).
pub fn read_entry(file: &[u8], width: u8, e: usize) -> Option<u32> {
    let w = width as usize;
    let start = fmt::HEADER_LEN + e * w;
    let b = file.get(start..start + w)?;
    Some(match *b {
        [a] => a as u32,
        [a, b] => u16::from_le_bytes([a, b]) as u32,
        _ => return None,
    })
}
