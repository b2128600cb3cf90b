//! Sensor-frame streams: the readings a runtime monitor checks, one box per frame.
//!
//! # The CSV format
//!
//! One header row, then one row per frame, comma-separated, `#` starts a comment line:
//!
//! ```text
//! kind,x_0,x_1,…,x_{d-1},r_0,r_1,…,r_{d-1}
//! track,0.63,0.01,-0.10,0.47,-0.47,0.0004,0.004,0.004,0.0002,0.0002
//! ```
//!
//! `x_i` is the reading of input `i` and `r_i ≥ 0` its uncertainty radius: the frame's box is
//! `[x − r, x + r]`, each end rounded outward to f32 (as the device does). The `kind` column is
//! optional (default `frame`); its words are `safe`, `unsafe`, `borderline` (what a generated
//! frame was meant to be), `track` (a frame of a trajectory: consecutive `track` frames may reuse
//! each other's results, see `genbab_core::monitor`) and `frame` (anything else). Columns may
//! come in any order; every `x_i` and `r_i` must be present. Numbers are read as f64 and rounded
//! to the nearest f32; they are written as the shortest decimal that reads back to the same f32.

use std::fmt::Write as _;
use std::path::Path;

/// What a frame is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Generated inside the safe set.
    Safe = 0,
    /// Generated inside the unsafe set.
    Unsafe = 1,
    /// Generated at the edge of what the check finds violated.
    Borderline = 2,
    /// A frame of a trajectory (consecutive ones overlap: the monitor may reuse).
    Track = 3,
    /// Any other reading.
    Frame = 4,
}

impl Kind {
    /// The CSV word.
    pub fn word(self) -> &'static str {
        match self {
            Kind::Safe => "safe",
            Kind::Unsafe => "unsafe",
            Kind::Borderline => "borderline",
            Kind::Track => "track",
            Kind::Frame => "frame",
        }
    }

    fn parse(w: &str) -> Option<Kind> {
        Some(match w {
            "safe" => Kind::Safe,
            "unsafe" => Kind::Unsafe,
            "borderline" => Kind::Borderline,
            "track" => Kind::Track,
            "frame" => Kind::Frame,
            _ => return None,
        })
    }
}

/// One frame: reading, radius, kind.
#[derive(Clone, Debug, PartialEq)]
pub struct Frame {
    /// The reading (box centre).
    pub x: Vec<f32>,
    /// The uncertainty radius per input.
    pub r: Vec<f32>,
    /// What it is.
    pub kind: Kind,
}

/// Read a stream of frames of `d` inputs; errors name the file, the line and the reason.
pub fn read(path: &Path, d: usize) -> Result<Vec<Frame>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    parse(&text, d).map_err(|(line, why)| format!("{}:{line}: {why}", path.display()))
}

/// Parse the CSV text (see the module doc); the error is `(line, reason)`, lines from 1.
pub fn parse(text: &str, d: usize) -> Result<Vec<Frame>, (usize, String)> {
    let mut rows =
        text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
    let Some((hl, header)) = rows.next() else { return Err((1, "no header row".into())) };
    let names: Vec<&str> = header.split(',').map(str::trim).collect();
    let find = |n: &str| names.iter().position(|c| *c == n);
    let mut xi = Vec::with_capacity(d);
    let mut ri = Vec::with_capacity(d);
    for i in 0..d {
        xi.push(
            find(&format!("x_{i}"))
                .ok_or((hl + 1, format!("the header has no column x_{i} ({d} inputs)")))?,
        );
        ri.push(
            find(&format!("r_{i}"))
                .ok_or((hl + 1, format!("the header has no column r_{i} ({d} inputs)")))?,
        );
    }
    if let Some(extra) = names.iter().find(|c| {
        c.strip_prefix("x_")
            .or(c.strip_prefix("r_"))
            .and_then(|n| n.parse::<usize>().ok())
            .is_some_and(|n| n >= d)
    }) {
        return Err((hl + 1, format!("column {extra}, but the model has {d} inputs")));
    }
    let ki = find("kind");
    let mut frames = vec![];
    for (ln, row) in rows {
        let cells: Vec<&str> = row.split(',').map(str::trim).collect();
        if cells.len() != names.len() {
            return Err((ln + 1, format!("{} cells, the header has {}", cells.len(), names.len())));
        }
        let num = |c: usize, what: &str| -> Result<f32, (usize, String)> {
            let v: f64 =
                cells[c].parse().map_err(|_| (ln + 1, format!("{what} = {:?} is not a number", cells[c])))?;
            let f = v as f32;
            if !f.is_finite() {
                return Err((ln + 1, format!("{what} = {} is not a finite f32", cells[c])));
            }
            Ok(f)
        };
        let mut x = Vec::with_capacity(d);
        let mut r = Vec::with_capacity(d);
        for i in 0..d {
            x.push(num(xi[i], &format!("x_{i}"))?);
            let ri = num(ri[i], &format!("r_{i}"))?;
            if ri < 0.0 {
                return Err((ln + 1, format!("r_{i} = {ri} is negative")));
            }
            r.push(ri);
        }
        let kind = match ki {
            None => Kind::Frame,
            Some(c) => Kind::parse(cells[c]).ok_or((
                ln + 1,
                format!("kind {:?}: use safe, unsafe, borderline, track or frame", cells[c]),
            ))?,
        };
        frames.push(Frame { x, r, kind });
    }
    if frames.is_empty() {
        return Err((hl + 1, "no frames after the header".into()));
    }
    Ok(frames)
}

/// The CSV text of a stream (see the module doc).
pub fn to_csv(frames: &[Frame]) -> String {
    let d = frames.first().map_or(0, |f| f.x.len());
    let mut s = String::from("kind");
    for i in 0..d {
        let _ = write!(s, ",x_{i}");
    }
    for i in 0..d {
        let _ = write!(s, ",r_{i}");
    }
    s.push('\n');
    for f in frames {
        s.push_str(f.kind.word());
        for v in f.x.iter().chain(&f.r) {
            let _ = write!(s, ",{v:?}");
        }
        s.push('\n');
    }
    s
}

/// A trajectory of `n` frames through the box `[lo, hi]` (the frame region): a random walk with
/// momentum from `start`, each step a small fraction (`step`) of the half-width, kept inside the
/// region; radius `r` per input. Deterministic for `seed`.
pub fn trajectory(
    start: &[f32],
    lo: &[f64],
    hi: &[f64],
    r: &[f32],
    n: usize,
    step: f64,
    seed: u64,
) -> Vec<Frame> {
    let d = start.len();
    let mut rng = genbab_core::bab::attack::Rng::new(seed);
    let mut x: Vec<f64> = start.iter().map(|&v| f64::from(v)).collect();
    let mut v = vec![0.0f64; d];
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        for i in 0..d {
            let half = 0.5 * (hi[i] - lo[i]);
            v[i] = 0.8 * v[i] + 0.2 * step * half * (2.0 * rng.unit() - 1.0);
            x[i] = (x[i] + v[i]).clamp(lo[i] + f64::from(r[i]), hi[i] - f64::from(r[i]));
        }
        out.push(Frame { x: x.iter().map(|&v| v as f32).collect(), r: r.to_vec(), kind: Kind::Track });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_round_trips_and_errors_name_the_line() {
        let f = vec![
            Frame { x: vec![0.1, -2.5e-7], r: vec![0.001, 0.0], kind: Kind::Safe },
            Frame { x: vec![1.0 / 3.0, 7.0], r: vec![0.5, 0.25], kind: Kind::Track },
        ];
        assert_eq!(parse(&to_csv(&f), 2).unwrap(), f);
        // Any column order, no kind column, comments.
        let t = "# a stream\nr_1,x_0,r_0,x_1\n0.1,1,0.2,2\n";
        let g = parse(t, 2).unwrap();
        assert_eq!(g[0], Frame { x: vec![1.0, 2.0], r: vec![0.2, 0.1], kind: Kind::Frame });
        for (bad, line, why) in [
            ("x_0,r_0\n1,2\n", 1, "no column x_1"),
            ("x_0,x_1,r_0,r_1\n1,2,3\n", 2, "3 cells"),
            ("x_0,x_1,r_0,r_1\n1,2,3,-1\n", 2, "negative"),
            ("x_0,x_1,r_0,r_1\n1,two,3,1\n", 2, "not a number"),
            ("x_0,x_1,r_0,r_1\n1,1e39,3,1\n", 2, "finite"),
            ("kind,x_0,x_1,r_0,r_1\nfast,1,1,3,1\n", 2, "kind"),
            ("x_0,x_1,x_2,r_0,r_1\n1,1,1,3,1\n", 1, "x_2"),
            ("x_0,x_1,r_0,r_1\n", 1, "no frames"),
            ("", 1, "no header"),
        ] {
            let (l, w) = parse(bad, 2).unwrap_err();
            assert!(l == line && w.contains(why), "{bad:?}: {l}: {w}");
        }
    }

    #[test]
    fn trajectories_stay_in_the_region_and_move_slowly() {
        let (lo, hi) = ([0.0f64, -1.0], [1.0f64, 1.0]);
        let t = trajectory(&[0.5, 0.0], &lo, &hi, &[0.01, 0.02], 200, 0.02, 3);
        assert_eq!(t.len(), 200);
        for w in t.windows(2) {
            for i in 0..2 {
                assert!((w[1].x[i] - w[0].x[i]).abs() < 0.02 * (hi[i] - lo[i]) as f32);
            }
        }
        assert!(
            t.iter().all(|f| f
                .x
                .iter()
                .zip(&lo)
                .zip(&hi)
                .all(|((x, l), h)| *l as f32 <= *x && *x <= *h as f32))
        );
    }
}
