//! Pre-optimised branching points (notes §3), baked in at compile time.
//!
//! `genbab-tables` computes, for every grid cell `(l, u)` of a nonlinearity's input (and every
//! `(l₁, u₁, l₂, u₂)` of a product, splitting the first factor), the point that minimises the area
//! (volume) between the upper and lower relaxation over the two children, and writes one file per
//! table under `tables/data/{device,host}/`. This module bakes the files of one resolution into
//! the binary with `include_bytes!` (`device` by default, `host` with the feature `host-tables`),
//! validates them without I/O and looks points up.
//!
//! # File format (version 1, little endian)
//!
//! | bytes | field |
//! |---|---|
//! | 0..4 | magic `GBPT` |
//! | 4..6 | format version (`u16`, = [`FORMAT_VERSION`]) |
//! | 6 | table id ([`TableId::code`]) |
//! | 7 | dimensions: 1 (unary) or 2 (product) |
//! | 8 | entry width in bytes: 1 or 2 |
//! | 9 | resolution: 0 device, 1 host |
//! | 10..12 | reserved, zero |
//! | 12..16 | `n`: grid points per axis (`u32`, 2 ≤ n ≤ 65536) |
//! | 16..24 | `lo`: first grid point (`f64`) |
//! | 24..32 | `step`: grid step (`f64`); grid point `k` is `lo + k·step` |
//! | 32..40 | payload length in bytes (`u64`) |
//! | 40..48 | FNV-1a 64 of bytes 0..40 followed by the payload |
//! | 48.. | payload |
//!
//! Per axis the cells are the pairs `0 ≤ i < j < n` in row-major order ([`cell_index`]); a 2-D
//! table is the product of two such triangles (the first axis outer). An entry `k` (unsigned, `width`
//! bytes) is the fraction `k / 2^(8·width)` of the grid cell: the point is `g_i + frac·(g_j − g_i)`
//! ([`decode_point`]); `k = 0` means "no point" (midpoint), and `k = 2^(8·width−1)` (exactly ½, the
//! generator's tie-break) means "the midpoint of the queried interval".
//!
//! # Look-up (notes §3.7)
//!
//! Inward rounding: `i = ⌈(l − lo)/step⌉`, `j = ⌊(u − lo)/step⌋` (each axis), valid iff
//! `lo ≤ l`, `u ≤ g_{n−1}` and `i < j`. The grid cell `[g_i, g_j]` then lies inside `[l, u]`, and so
//! does its stored point. Anything else falls back to the midpoint. Every look-up is
//! bounds-checked and never panics; [`validate`] checks the checksums once (e.g. at start-up).

// `!(a < b)` is meant: it is true for NaN.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

use crate::unary::Unary;

/// The first four bytes of every table file.
pub const MAGIC: [u8; 4] = *b"GBPT";
/// The file format version this core reads and the generator writes.
pub const FORMAT_VERSION: u16 = 1;
/// Header length in bytes; the payload follows.
pub const HEADER_LEN: usize = 48;
/// Header bytes covered by the checksum (all fields before it).
const CHECKED_LEN: usize = 40;
/// Largest grid (points per axis) a file may declare.
pub const MAX_COUNT: u32 = 1 << 16;

/// One table per function with pre-optimised points.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum TableId {
    /// Sigmoid.
    Sigmoid,
    /// tanh.
    Tanh,
    /// sin.
    Sin,
    /// cos.
    Cos,
    /// GeLU (exact, erf-based).
    Gelu,
    /// x² (`Pow(2)`).
    Square,
    /// 1/x.
    Reciprocal,
    /// The product `x·y`, splitting `x` (the other factor keeps its interval).
    Mul,
    /// The tanh-approximated GeLU.
    GeluTanh,
}

impl TableId {
    /// All tables, in file-id order.
    pub const ALL: [TableId; 9] = [
        TableId::Sigmoid,
        TableId::Tanh,
        TableId::Sin,
        TableId::Cos,
        TableId::Gelu,
        TableId::Square,
        TableId::Reciprocal,
        TableId::Mul,
        TableId::GeluTanh,
    ];

    /// The id stored in the file header (1..=9).
    pub const fn code(self) -> u8 {
        match self {
            TableId::Sigmoid => 1,
            TableId::Tanh => 2,
            TableId::Sin => 3,
            TableId::Cos => 4,
            TableId::Gelu => 5,
            TableId::Square => 6,
            TableId::Reciprocal => 7,
            TableId::Mul => 8,
            TableId::GeluTanh => 9,
        }
    }

    /// Inverse of [`TableId::code`].
    pub const fn from_code(code: u8) -> Option<TableId> {
        match code {
            1 => Some(TableId::Sigmoid),
            2 => Some(TableId::Tanh),
            3 => Some(TableId::Sin),
            4 => Some(TableId::Cos),
            5 => Some(TableId::Gelu),
            6 => Some(TableId::Square),
            7 => Some(TableId::Reciprocal),
            8 => Some(TableId::Mul),
            9 => Some(TableId::GeluTanh),
            _ => None,
        }
    }

    /// Position in [`TableId::ALL`].
    pub const fn index(self) -> usize {
        self.code() as usize - 1
    }

    /// Number of `(l, u)` pairs in the key: 2 for the product, 1 otherwise.
    pub const fn dims(self) -> u8 {
        match self {
            TableId::Mul => 2,
            _ => 1,
        }
    }

    /// File stem (`tables/data/<resolution>/<name>.gbpt`).
    pub const fn name(self) -> &'static str {
        match self {
            TableId::Sigmoid => "sigmoid",
            TableId::Tanh => "tanh",
            TableId::Sin => "sin",
            TableId::Cos => "cos",
            TableId::Gelu => "gelu",
            TableId::Square => "square",
            TableId::Reciprocal => "reciprocal",
            TableId::Mul => "mul",
            TableId::GeluTanh => "gelu_tanh",
        }
    }

    /// The unary op of a 1-D table (`None` for the product).
    pub const fn unary(self) -> Option<Unary> {
        match self {
            TableId::Sigmoid => Some(Unary::Sigmoid),
            TableId::Tanh => Some(Unary::Tanh),
            TableId::Sin => Some(Unary::Sin),
            TableId::Cos => Some(Unary::Cos),
            TableId::Gelu => Some(Unary::Gelu),
            TableId::Square => Some(Unary::Pow(2)),
            TableId::Reciprocal => Some(Unary::Reciprocal),
            TableId::Mul => None,
            TableId::GeluTanh => Some(Unary::GeluTanh),
        }
    }

    /// The table of a unary op, if it has one.
    pub const fn for_unary(f: Unary) -> Option<TableId> {
        match f {
            Unary::Sigmoid => Some(TableId::Sigmoid),
            Unary::Tanh => Some(TableId::Tanh),
            Unary::Sin => Some(TableId::Sin),
            Unary::Cos => Some(TableId::Cos),
            Unary::Gelu => Some(TableId::Gelu),
            Unary::GeluTanh => Some(TableId::GeluTanh),
            Unary::Pow(2) => Some(TableId::Square),
            Unary::Reciprocal => Some(TableId::Reciprocal),
            _ => None,
        }
    }
}

/// Table resolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Resolution {
    /// Compact tables for a microcontroller's flash (all together ≤ 64 KiB).
    Device,
    /// Fine tables for the host.
    Host,
}

impl Resolution {
    /// The code stored in the file header.
    pub const fn code(self) -> u8 {
        match self {
            Resolution::Device => 0,
            Resolution::Host => 1,
        }
    }

    /// Inverse of [`Resolution::code`].
    pub const fn from_code(code: u8) -> Option<Resolution> {
        match code {
            0 => Some(Resolution::Device),
            1 => Some(Resolution::Host),
            _ => None,
        }
    }

    /// Directory name under `tables/data/`.
    pub const fn name(self) -> &'static str {
        match self {
            Resolution::Device => "device",
            Resolution::Host => "host",
        }
    }
}

/// The resolution baked into this build (feature `host-tables` → host).
pub const RESOLUTION: Resolution =
    if cfg!(feature = "host-tables") { Resolution::Host } else { Resolution::Device };

/// Why a table file was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum TableError {
    /// Shorter than the header.
    TooShort,
    /// Not a table file.
    BadMagic,
    /// A format version this core does not read.
    BadVersion,
    /// Unknown table id or resolution, reserved bytes not zero, or dims/width/grid out of range.
    BadHeader,
    /// The file length does not match the header's payload length (or the grid's entry count).
    BadLength,
    /// The checksum does not match.
    BadChecksum,
    /// A valid file, but of another table or resolution than expected.
    WrongTable,
}

/// A parsed file header.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Header {
    /// Which function.
    pub id: TableId,
    /// Which resolution.
    pub resolution: Resolution,
    /// Bytes per entry (1 or 2).
    pub width: u8,
    /// Grid points per axis.
    pub count: u32,
    /// First grid point.
    pub lo: f64,
    /// Grid step.
    pub step: f64,
    /// Payload length in bytes.
    pub payload_len: u64,
    /// FNV-1a 64 of header bytes 0..40 and the payload.
    pub checksum: u64,
}

const fn byte(b: &[u8], i: usize) -> u8 {
    if i < b.len() { b[i] } else { 0 }
}

const fn read_le(b: &[u8], at: usize, len: usize) -> u64 {
    let mut v = 0u64;
    let mut k = 0;
    while k < len {
        v |= (byte(b, at + k) as u64) << (8 * k);
        k += 1;
    }
    v
}

/// Cells per axis: pairs `i < j` of `n` grid points.
pub const fn cells(n: usize) -> usize {
    if n < 2 { 0 } else { n * (n - 1) / 2 }
}

/// Index of cell `(i, j)`, `i < j < n`, in the row-major triangle.
pub const fn cell_index(n: usize, i: usize, j: usize) -> usize {
    i * (2 * n - i - 1) / 2 + (j - i - 1)
}

/// Grid point `k`: `lo + k·step`.
pub fn grid_point(lo: f64, step: f64, k: usize) -> f64 {
    lo + k as f64 * step
}

/// Fraction denominator of an entry of `width` bytes: `2^(8·width)`.
pub const fn denominator(width: u8) -> u32 {
    if width >= 2 { 1 << 16 } else { 1 << 8 }
}

/// The point of entry `k` on grid cell `[gl, gu]`: `gl + (k / 2^(8·width))·(gu − gl)`.
pub fn decode_point(gl: f64, gu: f64, k: u32, width: u8) -> f64 {
    gl + (k as f64 / denominator(width) as f64) * (gu - gl)
}

/// FNV-1a 64 offset basis.
pub const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a 64 of `bytes[start..end]` (clipped to the slice), continuing from `h`.
pub const fn fnv1a64(mut h: u64, bytes: &[u8], start: usize, end: usize) -> u64 {
    let end = if end < bytes.len() { end } else { bytes.len() };
    let mut i = start;
    while i < end {
        h ^= bytes[i] as u64;
        h = h.wrapping_mul(FNV_PRIME);
        i += 1;
    }
    h
}

/// The checksum of a whole file: FNV-1a 64 of bytes 0..40 then bytes 48.. (the payload).
pub const fn file_checksum(file: &[u8]) -> u64 {
    let h = fnv1a64(FNV_OFFSET, file, 0, CHECKED_LEN);
    fnv1a64(h, file, HEADER_LEN, file.len())
}

impl Header {
    /// Entries in the payload of a table with `dims` axes of `count` grid points.
    pub const fn entries(dims: u8, count: u32) -> u64 {
        let t = cells(count as usize) as u64;
        if dims == 2 { t * t } else { t }
    }

    /// Parses and checks the header of `file` (not the checksum): magic, version, ids, shape, and
    /// that the file is exactly header + payload long.
    pub const fn parse(file: &[u8]) -> Result<Header, TableError> {
        if file.len() < HEADER_LEN {
            return Err(TableError::TooShort);
        }
        if file[0] != MAGIC[0] || file[1] != MAGIC[1] || file[2] != MAGIC[2] || file[3] != MAGIC[3] {
            return Err(TableError::BadMagic);
        }
        if read_le(file, 4, 2) != FORMAT_VERSION as u64 {
            return Err(TableError::BadVersion);
        }
        let id = match TableId::from_code(file[6]) {
            Some(id) => id,
            None => return Err(TableError::BadHeader),
        };
        let resolution = match Resolution::from_code(file[9]) {
            Some(r) => r,
            None => return Err(TableError::BadHeader),
        };
        let dims = file[7];
        let width = file[8];
        let count = read_le(file, 12, 4) as u32;
        let lo = f64::from_bits(read_le(file, 16, 8));
        let step = f64::from_bits(read_le(file, 24, 8));
        let payload_len = read_le(file, 32, 8);
        let checksum = read_le(file, 40, 8);
        if dims != id.dims() || (width != 1 && width != 2) || file[10] != 0 || file[11] != 0 {
            return Err(TableError::BadHeader);
        }
        if count < 2 || count > MAX_COUNT || !lo.is_finite() || !step.is_finite() || step <= 0.0 {
            return Err(TableError::BadHeader);
        }
        let hi = lo + (count - 1) as f64 * step;
        if !hi.is_finite() {
            return Err(TableError::BadHeader);
        }
        if payload_len != Header::entries(dims, count) * width as u64 {
            return Err(TableError::BadLength);
        }
        if (file.len() - HEADER_LEN) as u64 != payload_len {
            return Err(TableError::BadLength);
        }
        Ok(Header { id, resolution, width, count, lo, step, payload_len, checksum })
    }

    /// The 48 header bytes (with this header's `checksum` field as it is).
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..4].copy_from_slice(&MAGIC);
        b[4..6].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        b[6] = self.id.code();
        b[7] = self.id.dims();
        b[8] = self.width;
        b[9] = self.resolution.code();
        b[12..16].copy_from_slice(&self.count.to_le_bytes());
        b[16..24].copy_from_slice(&self.lo.to_bits().to_le_bytes());
        b[24..32].copy_from_slice(&self.step.to_bits().to_le_bytes());
        b[32..40].copy_from_slice(&self.payload_len.to_le_bytes());
        b[40..48].copy_from_slice(&self.checksum.to_le_bytes());
        b
    }

    /// The last grid point `lo + (count − 1)·step`.
    pub fn hi(&self) -> f64 {
        grid_point(self.lo, self.step, self.count as usize - 1)
    }
}

/// Parses `file` and checks its checksum.
pub const fn validate_bytes(file: &[u8]) -> Result<Header, TableError> {
    match Header::parse(file) {
        Ok(h) => {
            if file_checksum(file) == h.checksum {
                Ok(h)
            } else {
                Err(TableError::BadChecksum)
            }
        }
        Err(e) => Err(e),
    }
}

/// Like [`validate_bytes`], and the file must be table `id` of resolution `res`.
pub const fn validate_table(file: &[u8], id: TableId, res: Resolution) -> Result<Header, TableError> {
    match validate_bytes(file) {
        Ok(h) => {
            if h.id.code() == id.code() && h.resolution.code() == res.code() {
                Ok(h)
            } else {
                Err(TableError::WrongTable)
            }
        }
        Err(e) => Err(e),
    }
}

macro_rules! baked {
    ($res:literal) => {
        [
            include_bytes!(concat!("../../tables/data/", $res, "/sigmoid.gbpt")),
            include_bytes!(concat!("../../tables/data/", $res, "/tanh.gbpt")),
            include_bytes!(concat!("../../tables/data/", $res, "/sin.gbpt")),
            include_bytes!(concat!("../../tables/data/", $res, "/cos.gbpt")),
            include_bytes!(concat!("../../tables/data/", $res, "/gelu.gbpt")),
            include_bytes!(concat!("../../tables/data/", $res, "/square.gbpt")),
            include_bytes!(concat!("../../tables/data/", $res, "/reciprocal.gbpt")),
            include_bytes!(concat!("../../tables/data/", $res, "/mul.gbpt")),
            include_bytes!(concat!("../../tables/data/", $res, "/gelu_tanh.gbpt")),
        ]
    };
}

#[cfg(not(feature = "host-tables"))]
const FILES: [&[u8]; 9] = baked!("device");
#[cfg(feature = "host-tables")]
const FILES: [&[u8]; 9] = baked!("host");

/// A baked file and its header (parsed at compile time).
struct Table {
    bytes: &'static [u8],
    header: Option<Header>,
}

const fn load(k: usize) -> Table {
    let header = match Header::parse(FILES[k]) {
        Ok(h) => Some(h),
        Err(_) => None,
    };
    Table { bytes: FILES[k], header }
}

static TABLES: [Table; 9] = [load(0), load(1), load(2), load(3), load(4), load(5), load(6), load(7), load(8)];

// Compile-time checks of the baked files: every header parses and names the right table and
// resolution; the (small) device tables are checksummed too. A corrupt or stale file is a build
// error, not a runtime surprise. (The host tables are checksummed by `validate()` at run time:
// hashing megabytes in const evaluation would be slow.)
const _: () = {
    let mut k = 0;
    while k < FILES.len() {
        let ok = match Header::parse(FILES[k]) {
            Ok(h) => h.id.code() == TableId::ALL[k].code() && h.resolution.code() == RESOLUTION.code(),
            Err(_) => false,
        };
        assert!(ok, "a baked branching-point table has a bad header; regenerate tables/data");
        if !cfg!(feature = "host-tables") {
            assert!(
                file_checksum(FILES[k]) == read_le(FILES[k], 40, 8),
                "a baked branching-point table fails its checksum; regenerate tables/data"
            );
        }
        k += 1;
    }
};

/// The baked file of table `id`.
pub fn baked(id: TableId) -> &'static [u8] {
    TABLES.get(id.index()).map_or(&[], |t| t.bytes)
}

/// Total size in bytes of the baked table files.
pub fn baked_total_bytes() -> usize {
    TABLES.iter().map(|t| t.bytes.len()).sum()
}

/// Checks every baked table (header, checksum, id and resolution). Call once, e.g. at start-up;
/// look-ups are safe without it (they fall back to the midpoint on anything malformed).
pub fn validate() -> Result<(), TableError> {
    for (t, &id) in TABLES.iter().zip(TableId::ALL.iter()) {
        validate_table(t.bytes, id, RESOLUTION)?;
    }
    Ok(())
}

/// Who consumes the neuron being split.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Consumer {
    /// A unary nonlinearity.
    Unary(Unary),
    /// A product with another variable whose interval is `[other_lo, other_hi]`.
    Mul {
        /// Lower bound of the other factor.
        other_lo: f64,
        /// Upper bound of the other factor.
        other_hi: f64,
    },
}

/// A point between `l` and `u`, always finite.
///
/// For `l < u` the result is strictly inside `(l, u)` whenever a float lies there (the midpoint for
/// finite bounds; for an infinite bound, a finite point at distance `max(1, |other bound|)` from the
/// finite one, or 0). For `l == u` it is `l`; for `l > u`, a NaN or two infinite bounds it is the
/// finite one of `(l + u)/2`, `l`, `u`, `0` (in that order).
pub fn midpoint(l: f64, u: f64) -> f64 {
    if l < u {
        let p = match (l.is_finite(), u.is_finite()) {
            (true, true) => {
                let m = 0.5 * l + 0.5 * u;
                if l < m && m < u {
                    m
                } else {
                    // Subnormal halving can land on an end; `l + (u − l)/2` may not.
                    let d = u - l;
                    let m2 = l + 0.5 * d;
                    if d.is_finite() && l < m2 && m2 < u { m2 } else { m }
                }
            }
            (false, true) => {
                if u > 1.0 {
                    0.0
                } else {
                    let p = u - f64::max(1.0, libm::fabs(u));
                    if p.is_finite() { p } else { f64::MIN }
                }
            }
            (true, false) => {
                if l < -1.0 {
                    0.0
                } else {
                    let p = l + f64::max(1.0, libm::fabs(l));
                    if p.is_finite() { p } else { f64::MAX }
                }
            }
            (false, false) => 0.0,
        };
        return p;
    }
    if l == u && l.is_finite() {
        return l;
    }
    let m = 0.5 * l + 0.5 * u;
    if m.is_finite() {
        m
    } else if l.is_finite() {
        l
    } else if u.is_finite() {
        u
    } else {
        0.0
    }
}

fn zero_or_midpoint(l: f64, u: f64) -> f64 {
    if l < 0.0 && 0.0 < u { 0.0 } else { midpoint(l, u) }
}

/// The branching point for a neuron with input interval `[l, u]` feeding `consumer`.
///
/// * ReLU, LeakyReLU, Abs and unary ops without a table (Exp, Log, Sqrt, Neg): 0 if `l < 0 < u`,
///   else the midpoint.
/// * `Pow(n ≠ 2)`: the midpoint.
/// * Sigmoid, Tanh, Sin, Cos, both GeLUs, `Pow(2)`, Reciprocal and products: the baked table, inward
///   rounded (module docs); the midpoint outside the table's range, for intervals that contain no
///   whole grid cell, and for any malformed entry.
///
/// The result is always finite, and strictly inside `(l, u)` whenever `l < u` and a float lies
/// strictly between them ([`midpoint`]).
pub fn branch_point(consumer: Consumer, l: f64, u: f64) -> f64 {
    if !(l < u) {
        return midpoint(l, u);
    }
    let (id, other) = match consumer {
        Consumer::Unary(f) => match TableId::for_unary(f) {
            Some(id) => (id, None),
            None if matches!(f, Unary::Pow(_)) => return midpoint(l, u),
            None => return zero_or_midpoint(l, u),
        },
        Consumer::Mul { other_lo, other_hi } => (TableId::Mul, Some((other_lo, other_hi))),
    };
    match lookup(id, l, u, other) {
        Some(p) if l < p && p < u && p.is_finite() => p,
        _ => midpoint(l, u),
    }
}

/// The grid cell `(i, j, g_i, g_j)` of `[l, u]` by inward rounding, if any.
fn cell(h: &Header, l: f64, u: f64) -> Option<(usize, usize, f64, f64)> {
    let n = h.count as usize;
    // NaN-safe: every comparison with NaN is false.
    if !(h.lo <= l && l < u && u <= h.hi()) {
        return None;
    }
    let a = libm::ceil((l - h.lo) / h.step);
    let b = libm::floor((u - h.lo) / h.step);
    if !(a >= 0.0 && b >= 0.0) {
        return None;
    }
    // `as` saturates; both are at most about n − 1 here.
    let mut i = a as usize;
    let mut j = (b as usize).min(n - 1);
    // Guard the rounding of `(x − lo)/step`: the cell must lie inside [l, u].
    if i < n && grid_point(h.lo, h.step, i) < l {
        i += 1;
    }
    if j > 0 && grid_point(h.lo, h.step, j) > u {
        j -= 1;
    }
    if i < j && j < n { Some((i, j, grid_point(h.lo, h.step, i), grid_point(h.lo, h.step, j))) } else { None }
}

/// Entry `idx` of a table, bounds-checked.
fn entry(t: &Table, h: &Header, idx: usize) -> Option<u32> {
    let w = h.width as usize;
    let start = HEADER_LEN.checked_add(idx.checked_mul(w)?)?;
    match t.bytes.get(start..start.checked_add(w)?)? {
        [a] => Some(*a as u32),
        [a, b] => Some(u16::from_le_bytes([*a, *b]) as u32),
        _ => None,
    }
}

fn lookup(id: TableId, l: f64, u: f64, other: Option<(f64, f64)>) -> Option<f64> {
    let t = TABLES.get(id.index())?;
    let h = t.header.as_ref()?;
    let n = h.count as usize;
    let (i, j, gl, gu) = cell(h, l, u)?;
    let mut idx = cell_index(n, i, j);
    if let Some((ol, ou)) = other {
        let (i2, j2, _, _) = cell(h, ol, ou)?;
        idx = idx.checked_mul(cells(n))?.checked_add(cell_index(n, i2, j2))?;
    }
    let k = entry(t, h, idx)?;
    let den = denominator(h.width);
    if k == 0 || k >= den {
        None
    } else if 2 * k == den {
        Some(midpoint(l, u))
    } else {
        Some(decode_point(gl, gu, k, h.width))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relax;
    use std::println;
    use std::vec::Vec;

    const DEVICE_FILES: [&[u8]; 9] = baked!("device");
    const HOST_FILES: [&[u8]; 9] = baked!("host");

    /// splitmix64: a small deterministic generator for the tests.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }
        fn unit(&mut self) -> f64 {
            (self.next() >> 11) as f64 / (1u64 << 53) as f64
        }
        fn range(&mut self, a: f64, b: f64) -> f64 {
            a + (b - a) * self.unit()
        }
        /// A random interval inside `[a, b]`: sorted pair of uniform points.
        fn interval(&mut self, a: f64, b: f64) -> (f64, f64) {
            let (x, y) = (self.range(a, b), self.range(a, b));
            if x < y { (x, y) } else { (y, x) }
        }
    }

    fn header(id: TableId) -> Header {
        Header::parse(baked(id)).unwrap()
    }

    /// ∫ (upper − lower) over [a, b] for the non-optimised relaxation.
    fn area(f: Unary, a: f64, b: f64) -> Option<f64> {
        let r = relax::relax(f, a, b).ok()?;
        let ds = r.upper.slope - r.lower.slope;
        let db = r.upper.bias - r.lower.bias;
        let v = ds * (b - a) * (b + a) * 0.5 + db * (b - a);
        v.is_finite().then_some(v)
    }

    /// ∫∫ (upper − lower) over [a, b] × [c, d] for the product's planes.
    fn volume(a: f64, b: f64, c: f64, d: f64) -> Option<f64> {
        let (lo, up) = relax::mul_relax(a, b, c, d).ok()?;
        let (wx, wy) = (b - a, d - c);
        let v = (up.ax - lo.ax) * wx * (b + a) * 0.5 * wy
            + (up.ay - lo.ay) * wy * (d + c) * 0.5 * wx
            + (up.c - lo.c) * wx * wy;
        v.is_finite().then_some(v)
    }

    #[test]
    fn baked_tables_validate() {
        assert_eq!(validate(), Ok(()));
        for (k, id) in TableId::ALL.iter().enumerate() {
            assert_eq!(validate_table(DEVICE_FILES[k], *id, Resolution::Device).map(|h| h.id), Ok(*id));
            assert_eq!(validate_table(HOST_FILES[k], *id, Resolution::Host).map(|h| h.id), Ok(*id));
        }
    }

    #[test]
    fn device_tables_fit_64k() {
        let total: usize = DEVICE_FILES.iter().map(|f| f.len()).sum();
        let host: usize = HOST_FILES.iter().map(|f| f.len()).sum();
        println!("device tables: {total} bytes in total; host tables: {host} bytes");
        for (k, id) in TableId::ALL.iter().enumerate() {
            let (d, h) = (Header::parse(DEVICE_FILES[k]).unwrap(), Header::parse(HOST_FILES[k]).unwrap());
            println!(
                "  {:<10} device: lo {} step {} n {} width {} ({} B) | host: lo {} step {} n {} width {} ({} B)",
                id.name(),
                d.lo,
                d.step,
                d.count,
                d.width,
                DEVICE_FILES[k].len(),
                h.lo,
                h.step,
                h.count,
                h.width,
                HOST_FILES[k].len()
            );
        }
        assert!(total <= 64 * 1024, "device tables take {total} bytes > 64 KiB");
        if RESOLUTION == Resolution::Device {
            assert_eq!(baked_total_bytes(), total);
        }
    }

    #[test]
    fn corrupted_copies_fail_validation() {
        for (k, id) in TableId::ALL.iter().enumerate() {
            for file in [DEVICE_FILES[k], HOST_FILES[k]] {
                let good: Vec<u8> = file.to_vec();
                assert!(validate_bytes(&good).is_ok());
                // One flipped bit anywhere in the payload or the checked header.
                for &at in &[HEADER_LEN, good.len() / 2, good.len() - 1, 20, 33] {
                    let mut bad = good.clone();
                    bad[at] ^= 0x10;
                    assert!(validate_bytes(&bad).is_err(), "{}: flip at {at} not detected", id.name());
                }
                // The checksum field itself.
                let mut bad = good.clone();
                bad[41] ^= 1;
                assert_eq!(validate_bytes(&bad), Err(TableError::BadChecksum));
                let mut bad = good.clone();
                bad[0] = b'X';
                assert_eq!(validate_bytes(&bad), Err(TableError::BadMagic));
                let mut bad = good.clone();
                bad[4] = 9;
                assert_eq!(validate_bytes(&bad), Err(TableError::BadVersion));
                assert_eq!(validate_bytes(&good[..good.len() - 1]), Err(TableError::BadLength));
                assert_eq!(validate_bytes(&good[..10]), Err(TableError::TooShort));
                assert_eq!(validate_bytes(&[]), Err(TableError::TooShort));
                let other = TableId::ALL[(k + 1) % TableId::ALL.len()];
                assert!(validate_table(&good, other, Resolution::Device).is_err());
            }
        }
    }

    fn consumer(id: TableId, other: (f64, f64)) -> Consumer {
        match id.unary() {
            Some(f) => Consumer::Unary(f),
            None => Consumer::Mul { other_lo: other.0, other_hi: other.1 },
        }
    }

    /// Mean area with the table's points over mean area with midpoints, on random intervals
    /// inside the grid range: sorted pairs of uniform points, or (`narrow`) widths uniform in
    /// [0, 1].
    fn area_ratio(id: TableId, samples: usize, seed: u64, narrow: bool) -> f64 {
        let h = header(id);
        let (lo, hi) = (h.lo, h.hi());
        let mut rng = Rng(seed);
        let (mut table, mut mid) = (0.0, 0.0);
        let mut n = 0;
        for _ in 0..4 * samples {
            if n == samples {
                break;
            }
            let (l, u) = if narrow {
                let w = rng.unit();
                let l = rng.range(lo, hi - w);
                (l, l + w)
            } else {
                rng.interval(lo, hi)
            };
            let other = rng.interval(lo, hi);
            let loss = |p: f64| -> Option<f64> {
                match id.unary() {
                    Some(f) => Some(area(f, l, p)? + area(f, p, u)?),
                    None => Some(volume(l, p, other.0, other.1)? + volume(p, u, other.0, other.1)?),
                }
            };
            let p = branch_point(consumer(id, other), l, u);
            assert!(l < p && p < u);
            if let (Some(a), Some(b)) = (loss(p), loss(midpoint(l, u))) {
                table += a;
                mid += b;
                n += 1;
            }
        }
        assert_eq!(n, samples, "{}: the relaxation failed on too many random intervals", id.name());
        table / mid
    }

    #[test]
    fn table_points_beat_the_midpoint() {
        let mut ratios = Vec::new();
        for id in TableId::ALL {
            let r = area_ratio(id, 4000, 0x5eed ^ id.code() as u64, false);
            let rn = area_ratio(id, 4000, 0x1dea ^ id.code() as u64, true);
            println!(
                "{:<10} ({:?} tables) table area / midpoint area = {r:.4} (random intervals), {rn:.4} (widths ≤ 1)",
                id.name(),
                RESOLUTION
            );
            ratios.push((id, r, rn));
        }
        for (id, r, rn) in ratios {
            match id {
                // The midpoint is optimal for these relaxations, and every entry of these tables is
                // ½ (which the look-up maps to the queried interval's midpoint): the square's
                // chord + midpoint tangent leave a gap of area w³/4 per child, McCormick's planes
                // a volume of w_x²·w_y²/2 per child box, both minimised by equal children.
                TableId::Square | TableId::Mul => {
                    assert!(
                        (r - 1.0).abs() <= 1e-12 && (rn - 1.0).abs() <= 1e-12,
                        "{}: ratios {r}, {rn}",
                        id.name()
                    )
                }
                _ => assert!(r < 1.0 && rn < 1.0, "{}: ratios {r}, {rn}", id.name()),
            }
        }
    }

    #[test]
    fn relu_like_split_at_zero() {
        for f in [Unary::Relu, Unary::LeakyRelu(0.1), Unary::Abs, Unary::Exp] {
            assert_eq!(branch_point(Consumer::Unary(f), -1.0, 3.0), 0.0);
            assert_eq!(branch_point(Consumer::Unary(f), 1.0, 3.0), 2.0);
            assert_eq!(branch_point(Consumer::Unary(f), -3.0, 0.0), -1.5);
        }
        assert_eq!(branch_point(Consumer::Unary(Unary::Pow(3)), -1.0, 3.0), 1.0);
        assert_eq!(branch_point(Consumer::Unary(Unary::Pow(4)), -1.0, 3.0), 1.0);
    }

    #[test]
    fn midpoint_fallbacks() {
        let all: Vec<Consumer> = TableId::ALL.iter().map(|&id| consumer(id, (-1.0, 1.0))).collect();
        for &c in &all {
            // Outside the grid: midpoint (Sin/Cos only cover [−5, 5]).
            assert_eq!(branch_point(c, -7.0, -6.0), -6.5);
            assert_eq!(branch_point(c, 6.0, 9.0), 7.5);
            assert_eq!(branch_point(c, -6.0, 9.0), 1.5);
            // Degenerate.
            assert_eq!(branch_point(c, 1.0, 1.0), 1.0);
            assert_eq!(branch_point(c, 2.0, 1.0), 1.5);
            // Tiny intervals contain no grid cell.
            let (l, u) = (1.0 + 1e-9, 1.0 + 3e-9);
            assert_eq!(branch_point(c, l, u), midpoint(l, u));
            let l: f64 = 0.3;
            let u = f64::from_bits(l.to_bits() + 1);
            let p = branch_point(c, l, u);
            assert!(p == l || p == u);
            // NaN and infinities: finite, no panic.
            for (l, u) in [
                (f64::NAN, 1.0),
                (0.0, f64::NAN),
                (f64::NAN, f64::NAN),
                (f64::NEG_INFINITY, f64::INFINITY),
                (f64::NEG_INFINITY, 1.0),
                (1.0, f64::INFINITY),
                (f64::INFINITY, f64::INFINITY),
                (f64::MIN, f64::MAX),
            ] {
                let p = branch_point(c, l, u);
                assert!(p.is_finite(), "{c:?} [{l}, {u}] → {p}");
                if l < u {
                    assert!(l < p && p < u, "{c:?} [{l}, {u}] → {p}");
                }
            }
        }
        // Products whose other factor is out of range or degenerate: midpoint.
        for other in [(-9.0, 0.0), (0.0, 9.0), (1.0, 1.0), (f64::NAN, 1.0), (2.0, 2.1)] {
            let c = Consumer::Mul { other_lo: other.0, other_hi: other.1 };
            assert_eq!(branch_point(c, -3.0, 2.0), -0.5);
        }
        assert_eq!(midpoint(f64::NEG_INFINITY, -5.0), -10.0);
        assert_eq!(midpoint(5.0, f64::INFINITY), 10.0);
        assert_eq!(midpoint(f64::NEG_INFINITY, 0.5), -0.5);
        assert_eq!(midpoint(f64::MIN, f64::MAX), 0.0);
        assert_eq!(midpoint(0.0, 5e-324), 0.0);
    }

    #[test]
    fn inward_rounding_stays_inside() {
        let mut rng = Rng(7);
        for id in TableId::ALL {
            let h = header(id);
            let (lo, hi, step) = (h.lo, h.hi(), h.step);
            let c = |other| consumer(id, other);
            // Exact grid edges: the whole range and single cells.
            let p = branch_point(c((lo, hi)), lo, hi);
            assert!(lo < p && p < hi);
            for k in [0usize, 1, h.count as usize - 2] {
                let (gl, gu) = (grid_point(lo, step, k), grid_point(lo, step, k + 1));
                let p = branch_point(c((lo, hi)), gl, gu);
                assert!(gl < p && p < gu, "{} [{gl}, {gu}] → {p}", id.name());
                // Just inside a cell's ends: no whole cell → midpoint.
                let (l, u) = (gl + step * 1e-3, gu - step * 1e-3);
                assert_eq!(branch_point(c((lo, hi)), l, u), midpoint(l, u));
                // Just outside the range: midpoint.
                let p = branch_point(c((lo, hi)), lo - 1e-12, gu);
                assert_eq!(p, midpoint(lo - 1e-12, gu));
            }
            // A hair past a grid point (and back): the point stays inside.
            for _ in 0..20_000 {
                let (mut l, mut u) = rng.interval(lo, hi);
                if rng.next().is_multiple_of(3) {
                    // Snap to a grid point, perturbed by a few ulps either way.
                    let k = ((l - lo) / step).round();
                    let g = grid_point(lo, step, k as usize);
                    l = f64::from_bits((g.to_bits() as i64 + (rng.next() % 5) as i64 - 2) as u64).max(lo);
                    let k = ((u - lo) / step).round();
                    let g = grid_point(lo, step, k as usize);
                    u = f64::from_bits((g.to_bits() as i64 + (rng.next() % 5) as i64 - 2) as u64).min(hi);
                }
                let other = rng.interval(lo, hi);
                let p = branch_point(c(other), l, u);
                assert!(p.is_finite());
                // (Strictly inside whenever a float lies strictly between l and u.)
                if l.next_up() < u {
                    assert!(l < p && p < u, "{} [{l}, {u}] → {p}", id.name());
                }
                // The looked-up cell itself lies in [l, u].
                if let Some((i, j, gl, gu)) = cell(&h, l, u) {
                    assert!(i < j && l <= gl && gu <= u);
                }
            }
        }
    }
}
