//! The results CSV of `genbab bench` (one row per instance), read back by `bench --resume` and
//! `genbab plot`, and the VNN-COMP `expected.csv` files `plot` also draws: one reader, so that a
//! file `bench` writes is one `plot` and `--resume` read the same way.

use std::io::{Read, Write};

use crate::report::Series;

/// The columns of the results CSV; files written before the last three were recorded (six
/// columns) still read.
pub const COLUMNS: [&str; 9] =
    ["benchmark", "onnx", "vnnlib", "expected", "result", "seconds", "timeout", "reason", "settings"];

/// How one instance ended.
#[derive(Clone, Debug, PartialEq)]
pub struct Done {
    /// `sat`, `unsat`, `unknown`, `timeout` or `error`.
    pub result: String,
    pub seconds: f64,
    /// The reason of an `unknown`, or the error.
    pub detail: Option<String>,
    /// The effective timeout and the engine settings' digest it ran with (`None` in a row of a
    /// CSV written before they were recorded).
    pub timeout: Option<f64>,
    pub settings: Option<String>,
}

/// One row: the instance (benchmark, ONNX and VNNLIB paths as listed), its expected verdict and
/// how it ended.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub benchmark: String,
    pub onnx: String,
    pub vnnlib: String,
    pub expected: String,
    pub done: Done,
}

/// The rows of a results CSV read from `rdr`; `p` names it in errors (`p:line: reason`).
pub fn read(rdr: impl Read, p: &str) -> Result<Vec<Row>, String> {
    rows(&mut reader(rdr), p)
}

/// The CSV reader both formats are read with (fields trimmed, rows of any length).
fn reader<R: Read>(rdr: R) -> csv::Reader<R> {
    csv::ReaderBuilder::new().trim(csv::Trim::All).flexible(true).from_reader(rdr)
}

/// A finite, non-negative number (seconds) of column `what` in line `line` of `p`.
fn number(v: &str, what: &str, p: &str, line: u64) -> Result<f64, String> {
    match v.parse::<f64>() {
        Ok(x) if x.is_finite() && x >= 0.0 => Ok(x),
        _ => Err(format!("{p}:{line}: bad {what} '{}'", v.escape_debug())),
    }
}

fn csv_err(p: &str, e: csv::Error) -> String {
    format!("{p}: {}", e.to_string().replace('\n', " "))
}

/// The rows of a results CSV from `r` (which may have read the header already).
fn rows<R: Read>(r: &mut csv::Reader<R>, p: &str) -> Result<Vec<Row>, String> {
    let err = |e| csv_err(p, e);
    let h = r.headers().map_err(err)?.clone();
    let col = |n: &str| h.iter().position(|c| c == n).ok_or_else(|| format!("{p}: no column '{n}'"));
    let (cb, co, cv) = (col("benchmark")?, col("onnx")?, col("vnnlib")?);
    let (ce, cr, cs) = (col("expected")?, col("result")?, col("seconds")?);
    // Optional: absent from files written before they were recorded.
    let (ct, cre, cse) = (col("timeout").ok(), col("reason").ok(), col("settings").ok());
    let mut rows = Vec::new();
    for rec in r.records() {
        let rec = rec.map_err(err)?;
        let line = rec.position().map_or(0, |q| q.line());
        let get = |i: usize| rec.get(i).unwrap_or("");
        let num = |v: &str, what: &str| number(v, what, p, line);
        let opt = |c: Option<usize>| c.map(get).filter(|v| !v.is_empty()).map(str::to_string);
        let timeout = opt(ct).map(|t| num(&t, "timeout")).transpose()?;
        rows.push(Row {
            benchmark: get(cb).to_string(),
            onnx: get(co).to_string(),
            vnnlib: get(cv).to_string(),
            expected: get(ce).to_string(),
            done: Done {
                result: get(cr).to_string(),
                seconds: num(get(cs), "seconds")?,
                detail: opt(cre),
                timeout,
                settings: opt(cse),
            },
        });
    }
    Ok(rows)
}

/// A CSV writer of rows to `w`, with the header unless it appends to a file that has one.
pub fn writer<W: Write>(w: W, header: bool) -> Result<csv::Writer<W>, String> {
    let mut w = csv::WriterBuilder::new().has_headers(false).from_writer(w);
    if header {
        w.write_record(COLUMNS).map_err(|e| e.to_string())?;
    }
    Ok(w)
}

/// Write one row.
pub fn write<W: Write>(w: &mut csv::Writer<W>, r: &Row) -> Result<(), String> {
    let opt = |x: &Option<String>| x.clone().unwrap_or_default();
    let d = &r.done;
    w.write_record([
        &r.benchmark,
        &r.onnx,
        &r.vnnlib,
        &r.expected,
        &d.result,
        // Microseconds: the plots show sub-millisecond solves as they were.
        &format!("{:.6}", d.seconds),
        &d.timeout.map(|t| format!("{t}")).unwrap_or_default(),
        // One line per row.
        &opt(&d.detail).replace(['\n', '\r'], " "),
        &opt(&d.settings),
    ])
    .map_err(|e| e.to_string())
}

/// Whether `result` contradicts `expected` (a wrong verdict).
pub fn is_wrong(expected: &str, result: &str) -> bool {
    (expected == "sat" && result == "unsat") || (expected == "unsat" && result == "sat")
}

/// One file's cactus curve and the timeout its rows record (the largest), if any: a results CSV
/// (its correctly solved instances) or a VNN-COMP `expected.csv` (the best published time of
/// each decided instance, named after `dir`, the benchmark's folder). `stem` names a results
/// CSV's curve; `p` names the file in errors.
pub fn series(bytes: &[u8], p: &str, stem: &str, dir: Option<&str>) -> Result<(Series, Option<f64>), String> {
    let err = |e| csv_err(p, e);
    let mut r = reader(bytes);
    let h = r.headers().map_err(err)?.clone();
    let col = |n: &str| h.iter().position(|c| c == n);
    let largest = |ts: &mut dyn Iterator<Item = Option<f64>>| {
        ts.flatten().filter(|t| *t > 0.0).fold(None, |m: Option<f64>, t| Some(m.map_or(t, |m| m.max(t))))
    };
    if col("result").is_some() && col("seconds").is_some() {
        let rows = rows(&mut r, p)?;
        let times = rows
            .iter()
            .filter(|r| {
                matches!(r.done.result.as_str(), "sat" | "unsat") && !is_wrong(&r.expected, &r.done.result)
            })
            .map(|r| r.done.seconds)
            .collect();
        let timeout = largest(&mut rows.iter().map(|r| r.done.timeout));
        return Ok((Series { name: stem.to_string(), times, total: rows.len() }, timeout));
    }
    let (Some(ce), Some(cb)) = (col("expected"), col("best_time_s")) else {
        return Err(format!(
            "{p}: neither a genbab bench CSV (columns benchmark, onnx, vnnlib, expected, result, seconds) \
             nor a VNN-COMP expected.csv (expected, best_time_s)"
        ));
    };
    let ct = col("timeout_s");
    let (mut times, mut total, mut timeouts) = (Vec::new(), 0usize, Vec::new());
    for rec in r.records() {
        let rec = rec.map_err(err)?;
        let line = rec.position().map_or(0, |q| q.line());
        let get = |c: usize| rec.get(c).unwrap_or("");
        let num = |v: &str, what: &str| number(v, what, p, line);
        total += 1;
        let best = get(cb);
        if matches!(get(ce), "sat" | "unsat") && !best.is_empty() {
            times.push(num(best, "best_time_s")?);
        }
        timeouts.push(ct.map(get).filter(|v| !v.is_empty()).map(|v| num(v, "timeout_s")).transpose()?);
    }
    let name = format!("VNN-COMP best{}", dir.map(|d| format!(" ({d})")).unwrap_or_default());
    Ok((Series { name, times, total }, largest(&mut timeouts.into_iter())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(result: &str, seconds: f64) -> Row {
        Row {
            benchmark: "acasxu".into(),
            onnx: "onnx/a.onnx".into(),
            vnnlib: "vnnlib/p.vnnlib".into(),
            expected: "unsat".into(),
            done: Done {
                result: result.into(),
                seconds,
                detail: Some("line\none".into()),
                timeout: Some(116.0),
                settings: Some("00ff".into()),
            },
        }
    }

    #[test]
    fn rows_round_trip() {
        let mut w = writer(Vec::new(), true).unwrap();
        for r in [row("unsat", 0.000_25), row("unknown", 3.5)] {
            write(&mut w, &r).unwrap();
        }
        let bytes = w.into_inner().unwrap();
        let back = read(&bytes[..], "r.csv").unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[0].done.seconds, 0.000_25);
        assert_eq!(back[1].done.detail.as_deref(), Some("line one"));
        assert_eq!(back[1].done.timeout, Some(116.0));
    }

    #[test]
    fn old_six_columns_read() {
        let text = "benchmark,onnx,vnnlib,expected,result,seconds\nb,o,v,sat,sat,1.5\n";
        let rows = read(text.as_bytes(), "old.csv").unwrap();
        assert_eq!(
            rows[0].done,
            Done { result: "sat".into(), seconds: 1.5, detail: None, timeout: None, settings: None }
        );
    }

    #[test]
    fn bad_numbers_name_the_line() {
        let text = "benchmark,onnx,vnnlib,expected,result,seconds\nb,o,v,sat,sat,1\nb,o,v,sat,sat,NaN\n";
        assert_eq!(read(text.as_bytes(), "r.csv").unwrap_err(), "r.csv:3: bad seconds 'NaN'");
        let text = "benchmark,onnx,vnnlib,expected,result,seconds,timeout\nb,o,v,sat,sat,1,-4\n";
        assert_eq!(read(text.as_bytes(), "r.csv").unwrap_err(), "r.csv:2: bad timeout '-4'");
        let text = "onnx,vnnlib,expected,result,seconds\n";
        assert_eq!(read(text.as_bytes(), "r.csv").unwrap_err(), "r.csv: no column 'benchmark'");
    }

    #[test]
    fn series_counts_correct_solves_only() {
        let mut w = writer(Vec::new(), true).unwrap();
        for r in [row("unsat", 2.0), row("sat", 1.0), row("unknown", 3.0)] {
            write(&mut w, &r).unwrap();
        }
        let bytes = w.into_inner().unwrap();
        let (s, t) = series(&bytes, "r.csv", "run", None).unwrap();
        // The `sat` contradicts the expected `unsat`: not a solve.
        assert_eq!((s.name.as_str(), s.times.clone(), s.total, t), ("run", vec![2.0], 3, Some(116.0)));
        let e = "onnx,vnnlib,expected,best_time_s,timeout_s\na,b,unsat,0.5,60\na,c,unknown,,60\na,d,sat,1.25,120\n";
        let (s, t) = series(e.as_bytes(), "expected.csv", "expected", Some("acasxu")).unwrap();
        assert_eq!(
            (s.name.as_str(), s.times.clone(), s.total, t),
            ("VNN-COMP best (acasxu)", vec![0.5, 1.25], 3, Some(120.0))
        );
        assert!(series(b"a,b\n1,2\n", "x.csv", "x", None).unwrap_err().starts_with("x.csv: neither"));
    }
}
