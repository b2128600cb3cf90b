//! Counterexamples in the VNN-COMP format:
//!
//! ```text
//! sat
//! ((X_0 0.6)
//! (X_1 0.01)
//! (Y_0 -0.02))
//! ```
//!
//! The result word on the first line is what VNN-COMP result files carry; the shared witness files
//! omit it, and [`parse`] accepts both.

use std::fmt::Write as _;

/// A counterexample: input and output values.
#[derive(Clone, Debug, PartialEq)]
pub struct Cex {
    pub x: Vec<f64>,
    pub y: Vec<f64>,
}

/// Format with the `sat` line (values printed so that they parse back exactly).
pub fn format(c: &Cex) -> String {
    let mut s = String::from("sat\n(");
    let n = c.x.len() + c.y.len();
    let mut k = 0;
    for (name, vals) in [("X", &c.x), ("Y", &c.y)] {
        for (i, v) in vals.iter().enumerate() {
            k += 1;
            let _ = write!(s, "({name}_{i} {v:?})");
            if k < n {
                s.push('\n');
            }
        }
    }
    s.push_str(")\n");
    s
}

/// Parse a counterexample file (with or without the leading `sat`).
pub fn parse(text: &str) -> Result<Cex, String> {
    let cleaned: String = text.chars().map(|c| if c == '(' || c == ')' { ' ' } else { c }).collect();
    let mut toks = cleaned.split_whitespace().peekable();
    if toks.peek() == Some(&"sat") {
        toks.next();
    }
    let mut xs: Vec<Option<f64>> = Vec::new();
    let mut ys: Vec<Option<f64>> = Vec::new();
    while let Some(name) = toks.next() {
        let v = toks.next().ok_or_else(|| format!("no value for {name}"))?;
        let v: f64 = v.parse().map_err(|_| format!("bad value '{v}' for {name}"))?;
        let (vec, idx) = if let Some(i) = name.strip_prefix("X_") {
            (&mut xs, i)
        } else if let Some(i) = name.strip_prefix("Y_") {
            (&mut ys, i)
        } else {
            return Err(format!("unexpected name '{name}'"));
        };
        let i: usize = idx.parse().map_err(|_| format!("bad index in '{name}'"))?;
        if i > 10_000_000 {
            return Err(format!("index too large in '{name}'"));
        }
        if vec.len() <= i {
            vec.resize(i + 1, None);
        }
        vec[i] = Some(v);
    }
    let fin = |v: Vec<Option<f64>>, n: &str| -> Result<Vec<f64>, String> {
        v.into_iter().enumerate().map(|(i, o)| o.ok_or_else(|| format!("{n}_{i} is missing"))).collect()
    };
    Ok(Cex { x: fin(xs, "X")?, y: fin(ys, "Y")? })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let c = Cex { x: vec![0.1, -2.5e-7], y: vec![1.0 / 3.0] };
        let s = format(&c);
        assert!(s.starts_with("sat\n((X_0 0.1)\n(X_1 -2.5e-7)\n(Y_0 0.333"));
        assert!(s.ends_with("))\n"));
        assert_eq!(parse(&s).unwrap(), c);
        assert_eq!(parse("((X_0 1)\n(Y_0 2))").unwrap(), Cex { x: vec![1.0], y: vec![2.0] });
        assert!(parse("((X_1 1))").is_err());
    }
}
