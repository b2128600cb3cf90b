//! Constant tensors, their decoding from `TensorProto`, and the index arithmetic that turns
//! shape operations (reshape, transpose, slice, gather, broadcast, concat) into flat index maps.
//!
//! Every value in the loader is a row-major flat vector with a static shape; a data-movement op
//! is a map `out[i] = in[map[i]]`, applied to constant data directly or emitted as an IR `Gather`.

use onnx_protobuf::TensorProto;

/// Element kind of a constant (all values are held as `f64`; integers up to 2^53 are exact).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// float32 (and float16/bfloat16 constants, whose values f32 holds exactly): every value is
    /// an f32 value, and a folded result is rounded to f32 as the deployed network rounds it.
    Float,
    /// float64: only constant computations may use it (the verified arithmetic is f32).
    Double,
    Int,
    Bool,
}

impl Kind {
    /// float32 or float64.
    pub fn is_float(self) -> bool {
        matches!(self, Kind::Float | Kind::Double)
    }
    /// The kind of a result of `self` and `o` (the wider float, else integer).
    pub fn join(self, o: Kind) -> Kind {
        if self == Kind::Double || o == Kind::Double {
            Kind::Double
        } else if self == Kind::Float || o == Kind::Float {
            Kind::Float
        } else {
            Kind::Int
        }
    }
    /// `v` as a value of this kind: rounded to f32 for [`Kind::Float`].
    pub fn round(self, v: f64) -> f64 {
        if self == Kind::Float { v as f32 as f64 } else { v }
    }
}

/// A constant tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: Vec<f64>,
    pub kind: Kind,
}

impl Tensor {
    /// A tensor of `kind` (float32 data is rounded to f32: constant folding computes in `f64`
    /// and rounds each node's result once, as the deployed network does).
    pub fn new(shape: Vec<usize>, mut data: Vec<f64>, kind: Kind) -> Tensor {
        debug_assert_eq!(shape.iter().product::<usize>(), data.len());
        if kind == Kind::Float {
            data.iter_mut().for_each(|v| *v = kind.round(*v));
        }
        Tensor { shape, data, kind }
    }
    pub fn scalar(v: f64, kind: Kind) -> Tensor {
        Tensor { shape: vec![], data: vec![v], kind }
    }
    pub fn ints(v: &[i64]) -> Tensor {
        Tensor { shape: vec![v.len()], data: v.iter().map(|&x| x as f64).collect(), kind: Kind::Int }
    }
    /// The values as integers (error if a value is not integral or out of `i64` range).
    pub fn as_i64s(&self) -> Result<Vec<i64>, String> {
        self.data
            .iter()
            .map(|&v| {
                if v.fract() == 0.0 && v.abs() <= 9.3e18 {
                    Ok((v as i64).clamp(i64::MIN / 2, i64::MAX / 2))
                } else {
                    Err(format!("expected integer values, found {v}"))
                }
            })
            .collect()
    }
}

/// Size limits (protect against absurd dimensions in malformed files).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Most elements in any tensor, value or dense matrix.
    pub max_elems: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_elems: 1 << 26 }
    }
}

/// Number of elements of a shape, checked against the limit.
pub fn numel(shape: &[usize], limits: &Limits) -> Result<usize, String> {
    let mut n: usize = 1;
    for &d in shape {
        n = n.checked_mul(d).filter(|&n| n <= limits.max_elems).ok_or_else(|| {
            format!("tensor of shape {shape:?} exceeds the size limit of {} elements", limits.max_elems)
        })?;
    }
    Ok(n)
}

/// Row-major strides.
pub fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1usize; shape.len()];
    for k in (0..shape.len().saturating_sub(1)).rev() {
        s[k] = s[k + 1] * shape[k + 1];
    }
    s
}

/// Call `f(flat, multi_index)` for every element of `shape` in row-major order.
pub fn for_each_index(shape: &[usize], mut f: impl FnMut(usize, &[usize])) {
    let n: usize = shape.iter().product();
    if n == 0 {
        return;
    }
    let mut idx = vec![0usize; shape.len()];
    for flat in 0..n {
        f(flat, &idx);
        for k in (0..shape.len()).rev() {
            idx[k] += 1;
            if idx[k] < shape[k] {
                break;
            }
            idx[k] = 0;
        }
    }
}

/// Normalise a possibly negative axis for a tensor of rank `rank`.
pub fn axis(a: i64, rank: usize) -> Result<usize, String> {
    let r = rank as i64;
    let v = if a < 0 { a + r } else { a };
    if (0..r).contains(&v) {
        Ok(v as usize)
    } else {
        Err(format!("axis {a} is out of range for rank {rank}"))
    }
}

/// Numpy-style broadcast shape of two shapes.
pub fn broadcast_shape(a: &[usize], b: &[usize]) -> Result<Vec<usize>, String> {
    let n = a.len().max(b.len());
    let mut out = vec![0; n];
    for k in 0..n {
        let da = if k + a.len() >= n { a[k + a.len() - n] } else { 1 };
        let db = if k + b.len() >= n { b[k + b.len() - n] } else { 1 };
        out[k] = if da == db || db == 1 {
            da
        } else if da == 1 {
            db
        } else {
            return Err(format!("shapes {a:?} and {b:?} do not broadcast"));
        };
    }
    Ok(out)
}

/// Map from `out` (a broadcast of `src`) to flat indices of `src`.
pub fn broadcast_map(src: &[usize], out: &[usize]) -> Vec<usize> {
    let off = out.len() - src.len();
    let st = strides(src);
    let mut map = Vec::with_capacity(out.iter().product());
    for_each_index(out, |_, m| {
        let mut s = 0;
        for k in 0..src.len() {
            if src[k] != 1 {
                s += m[k + off] * st[k];
            }
        }
        map.push(s);
    });
    map
}

/// Transpose: output shape and map.
pub fn transpose_map(shape: &[usize], perm: &[usize]) -> (Vec<usize>, Vec<usize>) {
    let st = strides(shape);
    let out: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
    let mut map = Vec::with_capacity(out.iter().product());
    for_each_index(&out, |_, m| map.push(m.iter().zip(perm).map(|(&i, &p)| i * st[p]).sum()));
    (out, map)
}

/// Whether a map is the identity on a source of length `src_len`.
pub fn is_identity(map: &[usize], src_len: usize) -> bool {
    map.len() == src_len && map.iter().enumerate().all(|(i, &j)| i == j)
}

/// Half-precision bits to f64.
/// The ONNX name of element type `t`.
pub fn type_name(t: impl Into<i64>) -> String {
    let names = [
        "undefined",
        "float32",
        "uint8",
        "int8",
        "uint16",
        "int16",
        "int32",
        "int64",
        "string",
        "bool",
        "float16",
        "float64",
        "uint32",
        "uint64",
        "complex64",
        "complex128",
        "bfloat16",
    ];
    let t = t.into();
    usize::try_from(t).ok().and_then(|i| names.get(i)).map_or_else(|| format!("type {t}"), |n| n.to_string())
}

/// `v` rounded to nearest-even in a binary format with `frac` fraction bits, least normal
/// exponent `emin` and largest finite value `max` (beyond it: ±∞).
fn round_binary(v: f64, frac: i32, emin: i32, max: f64) -> f64 {
    if !v.is_finite() || v == 0.0 {
        return v;
    }
    let a = v.abs();
    let e = ((a.to_bits() >> 52) & 0x7ff) as i32 - 1023;
    let q = 2f64.powi(e.max(emin) - frac);
    let r = (a / q).round_ties_even() * q;
    let r = if r > max { f64::INFINITY } else { r };
    r.copysign(v)
}

/// `v` rounded to IEEE binary16 (float16).
pub fn round_f16(v: f64) -> f64 {
    round_binary(v, 10, -14, 65504.0)
}

/// `v` rounded to bfloat16.
pub fn round_bf16(v: f64) -> f64 {
    round_binary(v, 7, -126, (2.0 - 2f64.powi(-7)) * 2f64.powi(127))
}

fn f16_to_f64(h: u16) -> f64 {
    let s = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let e = ((h >> 10) & 0x1f) as i32;
    let m = (h & 0x3ff) as f64;
    match e {
        0 => s * m * 2f64.powi(-24),
        31 => {
            if m == 0.0 {
                s * f64::INFINITY
            } else {
                f64::NAN
            }
        }
        _ => s * (1.0 + m / 1024.0) * 2f64.powi(e - 15),
    }
}

/// Decode a `TensorProto` (initializer or attribute) into a constant.
pub fn decode(t: &TensorProto, limits: &Limits) -> Result<Tensor, String> {
    let mut shape = Vec::with_capacity(t.dims.len());
    for &d in &t.dims {
        if d < 0 {
            return Err(format!("tensor '{}' has a negative dimension {d}", t.name));
        }
        shape
            .push(usize::try_from(d).map_err(|_| format!("tensor '{}' dimension {d} is too large", t.name))?);
    }
    let n = numel(&shape, limits).map_err(|e| format!("tensor '{}': {e}", t.name))?;
    if !t.external_data.is_empty() || t.data_location.value() == 1 {
        return Err(format!("tensor '{}' uses external data, which is not supported", t.name));
    }
    let raw = &t.raw_data;
    // Element size in raw_data and how to read one element.
    fn from_raw<const W: usize>(
        raw: &[u8],
        n: usize,
        name: &str,
        f: impl Fn([u8; W]) -> f64,
    ) -> Result<Vec<f64>, String> {
        if raw.len() != n * W {
            return Err(format!(
                "tensor '{name}' has {} bytes of raw data, its dims need {}",
                raw.len(),
                n * W
            ));
        }
        Ok(raw.chunks_exact(W).map(|c| f(c.try_into().unwrap_or([0; W]))).collect())
    }
    let name = t.name.as_str();
    let use_raw = !raw.is_empty();
    let (data, kind) = match t.data_type {
        1 => (
            if use_raw {
                from_raw::<4>(raw, n, name, |b| f32::from_le_bytes(b) as f64)?
            } else {
                t.float_data.iter().map(|&v| v as f64).collect()
            },
            Kind::Float,
        ),
        11 => (
            if use_raw { from_raw::<8>(raw, n, name, f64::from_le_bytes)? } else { t.double_data.clone() },
            Kind::Double,
        ),
        10 => (
            if use_raw {
                from_raw::<2>(raw, n, name, |b| f16_to_f64(u16::from_le_bytes(b)))?
            } else {
                t.int32_data.iter().map(|&v| f16_to_f64(v as u16)).collect()
            },
            Kind::Float,
        ),
        7 => (
            if use_raw {
                from_raw::<8>(raw, n, name, |b| i64::from_le_bytes(b) as f64)?
            } else {
                t.int64_data.iter().map(|&v| v as f64).collect()
            },
            Kind::Int,
        ),
        6 | 5 | 4 | 3 | 2 | 9 => {
            let kind = if t.data_type == 9 { Kind::Bool } else { Kind::Int };
            let data = if use_raw {
                match t.data_type {
                    6 => from_raw::<4>(raw, n, name, |b| i32::from_le_bytes(b) as f64)?,
                    5 => from_raw::<2>(raw, n, name, |b| i16::from_le_bytes(b) as f64)?,
                    4 => from_raw::<2>(raw, n, name, |b| u16::from_le_bytes(b) as f64)?,
                    3 => from_raw::<1>(raw, n, name, |b| b[0] as i8 as f64)?,
                    _ => from_raw::<1>(raw, n, name, |b| b[0] as f64)?,
                }
            } else {
                t.int32_data.iter().map(|&v| v as f64).collect()
            };
            (data, kind)
        }
        12 => (
            if use_raw {
                from_raw::<4>(raw, n, name, |b| u32::from_le_bytes(b) as f64)?
            } else {
                t.uint64_data.iter().map(|&v| v as f64).collect()
            },
            Kind::Int,
        ),
        13 => (
            if use_raw {
                from_raw::<8>(raw, n, name, |b| u64::from_le_bytes(b) as f64)?
            } else {
                t.uint64_data.iter().map(|&v| v as f64).collect()
            },
            Kind::Int,
        ),
        other => return Err(format!("tensor '{name}' has unsupported data type {other}")),
    };
    if data.len() != n {
        return Err(format!("tensor '{name}' has {} values, its dims {shape:?} need {n}", data.len()));
    }
    let data =
        if kind == Kind::Bool { data.into_iter().map(|v| (v != 0.0) as u8 as f64).collect() } else { data };
    Ok(Tensor { shape, data, kind })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps() {
        assert_eq!(broadcast_shape(&[3, 1], &[4]).unwrap(), vec![3, 4]);
        assert!(broadcast_shape(&[3], &[4]).is_err());
        assert_eq!(broadcast_map(&[3, 1], &[3, 2]), vec![0, 0, 1, 1, 2, 2]);
        assert_eq!(broadcast_map(&[2], &[3, 2]), vec![0, 1, 0, 1, 0, 1]);
        let (s, m) = transpose_map(&[2, 3], &[1, 0]);
        assert_eq!(s, vec![3, 2]);
        assert_eq!(m, vec![0, 3, 1, 4, 2, 5]);
        assert_eq!(f16_to_f64(0x3c00), 1.0);
        assert_eq!(f16_to_f64(0xc000), -2.0);
    }

    #[test]
    fn narrow_float_rounding() {
        // Every f16 bit pattern rounds to itself; the midpoints of neighbours round to even.
        for h in 0u16..0x7c00 {
            let v = f16_to_f64(h);
            assert_eq!(round_f16(v), v, "{h:#x}");
            assert_eq!(round_f16(-v), -v);
            if h + 1 < 0x7c00 {
                let mid = 0.5 * (v + f16_to_f64(h + 1));
                let even = if h % 2 == 0 { v } else { f16_to_f64(h + 1) };
                assert_eq!(round_f16(mid), even, "{h:#x}");
            }
        }
        assert_eq!(round_f16(1000.3), 1000.5);
        assert_eq!(round_f16(65519.0), 65504.0);
        assert_eq!(round_f16(65520.0), f64::INFINITY);
        // bfloat16: 8 significant bits.
        assert_eq!(round_bf16(1.0 + 1.0 / 256.0), 1.0);
        assert_eq!(round_bf16(1.0 + 3.0 / 256.0), 1.0 + 4.0 / 256.0);
        assert_eq!(round_bf16(f32::MAX as f64), f64::INFINITY);
        assert_eq!(round_bf16(3.3895314e38), 3.3895314e38_f32 as f64);
    }
}
