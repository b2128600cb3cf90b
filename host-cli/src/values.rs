//! Value parsers for the numeric command-line arguments: each refuses what would silently give
//! a meaningless run (`inf`, `nan`, a negative or zero timeout) with one message naming the value.

/// A number of seconds: finite and positive. There is no "no limit" value: a run without a limit
/// takes a large one (`1e9`).
pub fn seconds(s: &str) -> Result<f64, String> {
    let v = number(s)?;
    if v > 0.0 { Ok(v) } else { Err(format!("'{s}' is not a positive number of seconds")) }
}

/// A finite number greater than 0 (a scale, a spread).
pub fn positive(s: &str) -> Result<f64, String> {
    let v = number(s)?;
    if v > 0.0 { Ok(v) } else { Err(format!("'{s}' is not greater than 0")) }
}

/// A finite number at least 0 (a step size, a radius, a factor where 0 means "off").
pub fn non_negative(s: &str) -> Result<f64, String> {
    let v = number(s)?;
    if v >= 0.0 { Ok(v) } else { Err(format!("'{s}' is negative")) }
}

/// [`non_negative`] as an `f32` (the device's settings), finite there too.
pub fn non_negative_f32(s: &str) -> Result<f32, String> {
    let v = non_negative(s)? as f32;
    if v.is_finite() { Ok(v) } else { Err(format!("'{s}' is too large for f32")) }
}

/// A factor in `(0, 1]` (a decay).
pub fn unit_factor(s: &str) -> Result<f64, String> {
    let v = number(s)?;
    if v > 0.0 && v <= 1.0 { Ok(v) } else { Err(format!("'{s}' is not in (0, 1]")) }
}

/// A finite number (`inf`, `nan` and overflowing literals are refused).
fn number(s: &str) -> Result<f64, String> {
    let v: f64 = s.trim().parse().map_err(|_| format!("'{s}' is not a number"))?;
    if v.is_finite() { Ok(v) } else { Err(format!("'{s}' is not a finite number")) }
}
