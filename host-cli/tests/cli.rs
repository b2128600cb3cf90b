//! End-to-end tests of the real `genbab` binary on the fixture files in `tests/fixtures/` (see
//! `tests/fixtures/SOURCES.md`); nothing here needs `../shared`.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use genbab_cli::{cex, engine, onnx, vnnlib};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

fn genbab() -> Command {
    Command::cargo_bin("genbab").unwrap()
}

fn stdout_of(args: &[&str]) -> (String, String, i32) {
    let out = genbab().args(args).timeout(std::time::Duration::from_secs(300)).output().unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code().unwrap_or(-1),
    )
}

fn path(rel: &str) -> String {
    fixtures().join(rel).display().to_string()
}

#[test]
fn verify_gives_the_expected_word_on_the_vnncomp_test_set() {
    for (m, p, want) in [
        ("test_nano", "test_nano", "unsat"),
        ("test_tiny", "test_tiny", "unsat"),
        ("test_small", "test_small", "unsat"),
        ("test_sat", "test_prop", "sat"),
        ("test_unsat", "test_prop", "unsat"),
    ] {
        let (out, err, code) = stdout_of(&[
            "verify",
            &path(&format!("vnncomp_test/onnx/{m}.onnx")),
            &path(&format!("vnncomp_test/vnnlib/{p}.vnnlib")),
            "--timeout",
            "60",
        ]);
        assert_eq!(code, 0, "{m}: {err}");
        assert_eq!(out, format!("{want}\n"), "{m} / {p}: {err}");
    }
}

#[test]
fn verify_on_acas_xu() {
    let net = path("acasxu/onnx/ACASXU_run2a_2_1_batch_2000.onnx");
    // One thread, and more threads than parts of the box need (the parallel input split).
    for threads in ["1", "3"] {
        let (out, err, _) = stdout_of(&[
            "verify",
            &net,
            &path("acasxu/vnnlib/prop_2.vnnlib"),
            "--timeout",
            "100",
            "--threads",
            threads,
        ]);
        assert_eq!(out, "sat\n", "threads {threads}: {err}");
        let (out, err, _) = stdout_of(&[
            "verify",
            &net,
            &path("acasxu/vnnlib/prop_4.vnnlib"),
            "--timeout",
            "100",
            "--threads",
            threads,
        ]);
        assert_eq!(out, "unsat\n", "threads {threads}: {err}");
    }
}

/// The tanh-approximated GeLU (ONNX `Gelu(approximate="tanh")`, opset 20) end to end: the MLP of
/// `gelu_tanh/` (see `tests/fixtures/gen_gelu_tanh_model.py`) has two properties that hold (one
/// proved at the root, one that needs branching) and one with a counterexample, which must be a
/// real one.
#[test]
fn verify_on_the_tanh_gelu_mlp() {
    let model = path("gelu_tanh/mlp.onnx");
    for (prop, want) in [("prop_unsat", "unsat"), ("prop_unsat_tight", "unsat"), ("prop_sat", "sat")] {
        let (out, err, code) =
            stdout_of(&["verify", &model, &path(&format!("gelu_tanh/{prop}.vnnlib")), "--timeout", "60"]);
        assert_eq!(code, 0, "{prop}: {err}");
        assert_eq!(out, format!("{want}\n"), "{prop}: {err}");
    }
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("cex.txt");
    let prop = path("gelu_tanh/prop_sat.vnnlib");
    let (out, err, _) = stdout_of(&["verify", &model, &prop, "--cex", f.to_str().unwrap()]);
    assert_eq!(out, "sat\n", "{err}");
    check_cex_file(&model, &prop, &f);
}

#[test]
fn json_output_has_result_seconds_and_stats() {
    let (out, _, code) = stdout_of(&[
        "verify",
        &path("vnncomp_test/onnx/test_sat.onnx"),
        &path("vnncomp_test/vnnlib/test_prop.vnnlib"),
        "--json",
    ]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["result"], "sat");
    assert!(v["seconds"].as_f64().unwrap() >= 0.0);
    assert!(v["stats"]["attack_passes"].is_u64());
}

/// The counterexample file parses, its X lies in the property's box and the model's output at X
/// lies in the unsafe region.
fn check_cex_file(model: &str, prop: &str, file: &Path) {
    let text = std::fs::read_to_string(file).unwrap();
    assert!(text.starts_with("sat\n((X_0 "), "{text}");
    assert!(text.trim_end().ends_with("))"), "{text}");
    let c = cex::parse(&text).unwrap();
    let m = onnx::load(Path::new(model)).unwrap();
    let p = vnnlib::read(Path::new(prop)).unwrap();
    assert_eq!((c.x.len(), c.y.len()), (m.input_len(), m.output_len()));
    let x32: Vec<f32> = c.x.iter().map(|&v| v as f32).collect();
    assert!(x32.iter().zip(&c.x).all(|(a, b)| *a as f64 == *b), "X is not a float32 point");
    let y: Vec<f64> = m.reference.eval(&x32).unwrap().iter().map(|&v| v as f64).collect();
    assert_eq!(y, c.y, "recorded Y is the f32 value of the graph as written");
    let inside = |case: &vnnlib::Case| {
        c.x.iter().zip(case.lo.iter().zip(&case.hi)).all(|(v, (l, h))| l <= v && v <= h)
    };
    assert!(p.cases.iter().any(|case| inside(case) && engine::violates(case, &y)), "not a counterexample");
}

#[test]
fn cex_file_is_a_real_counterexample() {
    let dir = tempfile::tempdir().unwrap();
    for (model, prop) in [
        ("vnncomp_test/onnx/test_sat.onnx", "vnncomp_test/vnnlib/test_prop.vnnlib"),
        ("acasxu/onnx/ACASXU_run2a_2_1_batch_2000.onnx", "acasxu/vnnlib/prop_2.vnnlib"),
    ] {
        let f = dir.path().join("cex.txt");
        let (out, err, _) = stdout_of(&[
            "verify",
            &path(model),
            &path(prop),
            "--cex",
            f.to_str().unwrap(),
            "--timeout",
            "100",
        ]);
        assert_eq!(out, "sat\n", "{err}");
        check_cex_file(&path(model), &path(prop), &f);
    }
}

#[test]
fn bounds_prints_one_certified_interval_per_output() {
    let model = path("acasxu/onnx/ACASXU_run2a_2_1_batch_2000.onnx");
    let prop = path("acasxu/vnnlib/prop_4.vnnlib");
    let m = onnx::load(Path::new(&model)).unwrap();
    let p = vnnlib::read(Path::new(&prop)).unwrap();
    for method in ["ibp", "crown"] {
        let (out, err, code) = stdout_of(&["bounds", &model, &prop, "--method", method]);
        assert_eq!(code, 0, "{err}");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 5);
        let iv: Vec<(f64, f64)> = lines
            .iter()
            .enumerate()
            .map(|(j, l)| {
                let rest = l.strip_prefix(&format!("Y_{j}: [")).unwrap().strip_suffix(']').unwrap();
                let (a, b) = rest.split_once(", ").unwrap();
                (a.parse().unwrap(), b.parse().unwrap())
            })
            .collect();
        // Sampled forward values (f32, the deployed arithmetic) lie inside.
        let g = m.graph::<f32>();
        let c = &p.cases[0];
        let mut s = 0x1234_5678u64;
        for _ in 0..500 {
            let x: Vec<f32> =
                c.lo.iter()
                    .zip(&c.hi)
                    .map(|(l, h)| {
                        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                        (l + (h - l) * ((s >> 11) as f64 / (1u64 << 53) as f64)) as f32
                    })
                    .collect();
            let x: Vec<f32> = x
                .iter()
                .zip(c.lo.iter().zip(&c.hi))
                .map(|(&v, (&l, &h))| v.clamp(l as f32, h as f32))
                .collect();
            let y = g.eval(&x).unwrap();
            for (j, &v) in y.iter().enumerate() {
                assert!(
                    iv[j].0 <= v as f64 && v as f64 <= iv[j].1,
                    "Y_{j} = {v} outside {:?} ({method})",
                    iv[j]
                );
            }
        }
    }
}

#[test]
fn bench_runs_a_directory_and_writes_csv_and_svg() {
    let dir = tempfile::tempdir().unwrap();
    let (csv, svg) = (dir.path().join("r.csv"), dir.path().join("c.svg"));
    let (out, err, code) = stdout_of(&[
        "bench",
        &path("vnncomp_test"),
        "--jobs",
        "2",
        "--out",
        csv.to_str().unwrap(),
        "--plot",
        svg.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("vnncomp_test") && out.contains("TOTAL"), "{out}");
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("benchmark,onnx,vnnlib,expected,result,seconds,timeout,reason,settings"));
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 5);
    for r in &rows {
        assert_eq!(r.len(), 9, "{r:?}");
        assert_eq!(r[0], "vnncomp_test");
        assert_eq!(r[3], r[4], "{r:?}");
        assert_eq!(r[8].len(), 16, "the settings digest: {r:?}");
    }
    let s = std::fs::read_to_string(&svg).unwrap();
    assert!(s.starts_with("<svg") && s.contains("vnncomp_test"));
    // The per-instance lines are in the log too, and the paths are printed.
    let log = std::fs::read_to_string(dir.path().join("r.log")).unwrap();
    assert_eq!(log.lines().filter(|l| l.starts_with('[')).count(), 5, "{log}");
    assert!(
        out.contains(&format!(
            "wrote {}, {} and {}",
            csv.display(),
            svg.display(),
            dir.path().join("r.log").display()
        )),
        "{out}"
    );
    // An existing result is not overwritten unless asked.
    let args =
        ["bench", &path("vnncomp_test"), "--out", csv.to_str().unwrap(), "--plot", svg.to_str().unwrap()];
    let (_, err, code) = stdout_of(&args);
    assert_eq!(code, 2);
    assert_eq!(
        err,
        format!("error: {}: exists (--resume continues a run, --force overwrites)\n", csv.display())
    );
    let (_, err, code) = stdout_of(&[&args[..], &["--force", "--limit", "1"]].concat());
    assert_eq!(code, 0, "{err}");
    assert_eq!(std::fs::read_to_string(&csv).unwrap().lines().count(), 2);
}

#[test]
fn bench_resume_keeps_earlier_rows_and_runs_only_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let (csv, svg) = (dir.path().join("r.csv"), dir.path().join("c.svg"));
    // An earlier, stopped run: one instance done (with a result a rerun would not give), and a
    // row of another benchmark that must be carried over.
    std::fs::write(
        &csv,
        "benchmark,onnx,vnnlib,expected,result,seconds\n\
         vnncomp_test,./onnx/test_nano.onnx,vnnlib/test_nano.vnnlib,unsat,timeout,123.000\n\
         elsewhere,onnx/a.onnx,vnnlib/b.vnnlib,sat,sat,4.500\n",
    )
    .unwrap();
    let args = [
        "bench",
        &path("vnncomp_test"),
        "--resume",
        "--out",
        csv.to_str().unwrap(),
        "--plot",
        svg.to_str().unwrap(),
    ];
    let (out, err, code) = stdout_of(&args);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("1 instance(s) kept"), "{out}");
    assert_eq!(err.lines().filter(|l| l.starts_with('[')).count(), 4, "{err}");
    let summary = out.lines().find(|l| l.starts_with("vnncomp_test")).unwrap();
    let cols: Vec<&str> = summary.split_whitespace().collect();
    // total, solved, sat, unsat, wrong, unknown, timeout, errors.
    assert_eq!(&cols[1..9], ["5", "4", "1", "3", "0", "0", "1", "0"], "{summary}");
    // The kept row was written before timeouts and settings were recorded: a warning.
    assert!(
        err.contains("warning:") && err.contains("1 kept row(s) were made with another timeout"),
        "{err}"
    );
    let text = std::fs::read_to_string(&csv).unwrap();
    let rows: Vec<&str> = text.lines().skip(1).collect();
    assert_eq!(rows.len(), 6, "{text}");
    assert!(rows.iter().any(|r| r.contains("test_nano") && r.contains(",timeout,123.000000,")), "{text}");
    assert_eq!(rows.last(), Some(&"elsewhere,onnx/a.onnx,vnnlib/b.vnnlib,sat,sat,4.500000,,,"));
    // Nothing left to run: a second resume runs none and keeps every row.
    let (out, err, code) = stdout_of(&args);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("5 instance(s) kept") && !err.contains("[1/"), "{out}\n{err}");
    assert_eq!(std::fs::read_to_string(&csv).unwrap(), text);
}

/// An instance that ends in an error makes the run's exit code non-zero and keeps its reason in
/// the CSV and the log; a resume with another timeout scale warns about the rows it keeps.
#[test]
fn bench_keeps_error_reasons_and_warns_on_a_resume_with_other_settings() {
    let dir = tempfile::tempdir().unwrap();
    let b = dir.path().join("broken");
    std::fs::create_dir_all(b.join("vnnlib")).unwrap();
    std::fs::copy(path("vnncomp_test/vnnlib/test_prop.vnnlib"), b.join("vnnlib/p.vnnlib")).unwrap();
    std::fs::write(b.join("instances.csv"), "onnx/missing.onnx,vnnlib/p.vnnlib,30\n").unwrap();
    let (csv, svg) = (dir.path().join("r.csv"), dir.path().join("c.svg"));
    let args =
        ["bench", b.to_str().unwrap(), "--out", csv.to_str().unwrap(), "--plot", svg.to_str().unwrap()];
    let (out, err, code) = stdout_of(&args);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(err.contains("1 instance(s) ended in an error"), "{err}");
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(text.contains(",error,") && text.contains("missing.onnx: cannot read"), "{text}");
    let log = std::fs::read_to_string(dir.path().join("r.log")).unwrap();
    assert!(log.contains("missing.onnx: cannot read"), "{log}");
    let (_, err, _) = stdout_of(&[&args[..], &["--resume", "--timeout-scale", "2"]].concat());
    assert!(
        err.contains("warning:") && err.contains("1 kept row(s) were made with another timeout"),
        "{err}"
    );
    let (_, err, _) = stdout_of(&[&args[..], &["--resume"]].concat());
    assert!(!err.contains("warning:"), "the same settings: {err}");
}

#[test]
fn bench_on_a_parent_directory_and_a_wrong_verdict_fails_loudly() {
    let dir = tempfile::tempdir().unwrap();
    // A benchmark whose expected.csv lies: test_sat is labelled unsat.
    let b = dir.path().join("liar");
    std::fs::create_dir_all(b.join("onnx")).unwrap();
    std::fs::create_dir_all(b.join("vnnlib")).unwrap();
    std::fs::copy(path("vnncomp_test/onnx/test_sat.onnx"), b.join("onnx/m.onnx")).unwrap();
    std::fs::copy(path("vnncomp_test/vnnlib/test_prop.vnnlib"), b.join("vnnlib/p.vnnlib")).unwrap();
    std::fs::write(b.join("instances.csv"), "onnx/m.onnx,vnnlib/p.vnnlib,30\n").unwrap();
    std::fs::write(b.join("expected.csv"), "onnx,vnnlib,expected\nonnx/m.onnx,vnnlib/p.vnnlib,unsat\n")
        .unwrap();
    let csv = dir.path().join("r.csv");
    let svg = dir.path().join("c.svg");
    let (out, err, code) = stdout_of(&[
        "bench",
        dir.path().to_str().unwrap(),
        "--out",
        csv.to_str().unwrap(),
        "--plot",
        svg.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(err.contains("WRONG VERDICT"), "{err}");
    assert!(svg.exists() && csv.exists());
    assert!(out.contains("liar"), "{out}");
}

#[test]
fn malformed_inputs_give_one_error_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let bad_onnx = dir.path().join("bad.onnx");
    std::fs::write(&bad_onnx, b"this is not protobuf \xff\xff\xff").unwrap();
    let bad_vnn = dir.path().join("bad.vnnlib");
    std::fs::write(&bad_vnn, "(declare-const X_0 Real)\n(assert (<= X_0 (foo 1)))\n").unwrap();
    let good_onnx = path("vnncomp_test/onnx/test_nano.onnx");
    let good_vnn = path("vnncomp_test/vnnlib/test_nano.vnnlib");
    let missing = dir.path().join("missing.onnx");
    let cases = [
        (bad_onnx.to_str().unwrap().to_string(), good_vnn.clone(), "bad.onnx: not a valid ONNX model"),
        (
            good_onnx.clone(),
            bad_vnn.to_str().unwrap().to_string(),
            "bad.vnnlib:2:17: unsupported term operator 'foo'",
        ),
        (missing.to_str().unwrap().to_string(), good_vnn.clone(), "missing.onnx: cannot read"),
        (
            path("acasxu/onnx/ACASXU_run2a_2_1_batch_2000.onnx"),
            good_vnn.clone(),
            "the property has 1 inputs (X_i), the model 5",
        ),
    ];
    for (m, p, msg) in cases {
        for sub in ["verify", "bounds"] {
            let (out, err, code) = stdout_of(&[sub, &m, &p]);
            assert_eq!(code, 2, "{sub} {m} {p}: {out} {err}");
            assert_eq!(err.lines().count(), 1, "{err}");
            assert!(err.starts_with("error: ") && err.contains(msg), "{err}");
            if sub == "verify" {
                assert_eq!(out, "error\n");
            }
        }
    }
}

/// Nonsense arguments are refused before any verdict, with one message naming the value; an
/// empty input box is an error with its lines; a region without output constraints is warned
/// about; a file that cannot be read has no position.
#[test]
fn arguments_and_properties_are_checked_before_any_verdict() {
    let (m, p) = (path("vnncomp_test/onnx/test_nano.onnx"), path("vnncomp_test/vnnlib/test_nano.vnnlib"));
    for (flag, value, msg) in [
        ("--timeout", "inf", "'inf' is not a finite number"),
        ("--timeout", "nan", "'nan' is not a finite number"),
        ("--timeout", "1e400", "'1e400' is not a finite number"),
        ("--timeout", "0", "'0' is not a positive number of seconds"),
        ("--timeout", "-5", "'-5' is not a positive number of seconds"),
        ("--timeout", "abc", "'abc' is not a number"),
        ("--alpha-decay", "1.5", "'1.5' is not in (0, 1]"),
        ("--alpha-lr", "-1", "'-1' is negative"),
        ("--memory-mib", "0", "0 is not in 1..=16777216"),
    ] {
        let (out, err, code) = stdout_of(&["verify", &m, &p, flag, value]);
        assert_eq!((out.as_str(), code), ("", 2), "{flag} {value}: {err}");
        assert!(err.starts_with("error: invalid value") && err.contains(msg), "{flag} {value}: {err}");
    }
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.vnnlib");
    std::fs::write(&empty, "(declare-const X_0 Real)\n(declare-const Y_0 Real)\n(assert (>= X_0 2))\n(assert (<= X_0 1))\n(assert (<= Y_0 -1))\n").unwrap();
    let noout = dir.path().join("noout.vnnlib");
    std::fs::write(
        &noout,
        "(declare-const X_0 Real)\n(declare-const Y_0 Real)\n(assert (>= X_0 -1))\n(assert (<= X_0 1))\n",
    )
    .unwrap();
    let missing = dir.path().join("missing.vnnlib");
    for sub in ["verify", "bounds"] {
        let (out, err, code) = stdout_of(&[sub, &m, empty.to_str().unwrap()]);
        assert_eq!(code, 2, "{sub}: {out} {err}");
        assert_eq!(
            err,
            format!(
                "error: {}:3:9: the input region is empty: X_0 >= 2 (line 3) and X_0 <= 1 (line 4)\n",
                empty.display()
            )
        );
        let (out, err, code) = stdout_of(&[sub, &m, noout.to_str().unwrap()]);
        assert_eq!(code, 0, "{sub}: {out} {err}");
        assert!(
            err.starts_with(&format!(
                "warning: {}: input region 0 has a clause that constrains no output",
                noout.display()
            )),
            "{err}"
        );
        if sub == "verify" {
            assert_eq!(out, "sat\n");
        }
        let (_, err, code) = stdout_of(&[sub, &m, missing.to_str().unwrap()]);
        assert_eq!(code, 2);
        assert!(err.starts_with(&format!("error: {}: cannot read", missing.display())), "{err}");
    }
    // bench: the scale and the instances' timeouts.
    let (_, err, code) = stdout_of(&["bench", dir.path().to_str().unwrap(), "--timeout-scale", "0"]);
    assert_eq!(code, 2);
    assert!(err.contains("'0' is not greater than 0"), "{err}");
    std::fs::write(dir.path().join("instances.csv"), "m.onnx,p.vnnlib,inf\n").unwrap();
    let (_, err, code) = stdout_of(&["bench", dir.path().to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(err.contains("instances.csv:1: bad timeout: 'inf' is not a finite number"), "{err}");
}

/// The VNN-COMP tool interface (`vnncomp/`) on the bundled `vnncomp_test` set: the results file
/// holds the expected word for each instance (and a checked counterexample after `sat`), and
/// `error` for swapped arguments; gzip-compressed models and properties are read directly.
#[test]
fn vnncomp_scripts_write_the_results_file() {
    let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../vnncomp");
    let bin = assert_cmd::cargo::cargo_bin("genbab");
    let dir = tempfile::tempdir().unwrap();
    let run = |script: &str, args: &[&str]| {
        let out = std::process::Command::new("bash")
            .arg(scripts.join(script))
            .args(args)
            .env("GENBAB", &bin)
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let gz = |src: &str, name: &str| {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(&std::fs::read(path(src)).unwrap()).unwrap();
        let p = dir.path().join(name);
        std::fs::write(&p, e.finish().unwrap()).unwrap();
        p.display().to_string()
    };
    let sat_gz = (
        gz("vnncomp_test/onnx/test_sat.onnx", "s.onnx.gz"),
        gz("vnncomp_test/vnnlib/test_prop.vnnlib", "p.vnnlib.gz"),
    );
    let mut cases: Vec<(String, String, &str)> = [
        ("test_nano", "test_nano", "unsat"),
        ("test_tiny", "test_tiny", "unsat"),
        ("test_small", "test_small", "unsat"),
        ("test_sat", "test_prop", "sat"),
        ("test_unsat", "test_prop", "unsat"),
    ]
    .iter()
    .map(|(m, p, w)| {
        (path(&format!("vnncomp_test/onnx/{m}.onnx")), path(&format!("vnncomp_test/vnnlib/{p}.vnnlib")), *w)
    })
    .collect();
    cases.push((sat_gz.0, sat_gz.1, "sat"));
    // Swapped: an error, with a hint, and still a results file.
    cases.push((
        path("vnncomp_test/vnnlib/test_prop.vnnlib"),
        path("vnncomp_test/onnx/test_sat.onnx"),
        "error",
    ));
    for (k, (m, p, want)) in cases.iter().enumerate() {
        let res = dir.path().join(format!("r{k}.txt"));
        assert_eq!(run("prepare_instance.sh", &["v1", "test", m, p]).0, Some(0), "{m} {p}");
        let (code, err) = run("run_instance.sh", &["v1", "test", m, p, res.to_str().unwrap(), "60"]);
        assert_eq!(code, Some(0), "{m} {p}: {err}");
        let text = std::fs::read_to_string(&res).unwrap();
        assert_eq!(text.lines().next(), Some(*want), "{m} {p}: {text} {err}");
        if *want == "sat" {
            check_cex_file(m, p, &res);
        }
        if *want == "error" {
            assert!(err.contains("this looks like a VNNLIB property: the model comes first"), "{err}");
        }
    }
    assert_ne!(run("run_instance.sh", &["v2"]).0, Some(0));
    assert_ne!(
        run("prepare_instance.sh", &["v1", "c", "/nonexistent.onnx", "/nonexistent.vnnlib"]).0,
        Some(0)
    );
}

/// `--version` names the commit; `completions` prints a script for each shell clap supports.
#[test]
fn version_names_the_commit_and_completions_are_printed() {
    let (out, _, code) = stdout_of(&["--version"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("genbab 0.") && out.contains("(commit "), "{out}");
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let (out, err, code) = stdout_of(&["completions", shell]);
        assert_eq!(code, 0, "{shell}: {err}");
        assert!(out.contains("genbab") && out.contains("verify") && out.contains("timeout"), "{shell}");
    }
    let (_, _, code) = stdout_of(&["completions", "tcsh"]);
    assert_eq!(code, 2);
}

/// `--config FILE` sets any tuning flag of `verify`/`bench` from TOML, the command line wins,
/// `verify --print-config` writes a file `--config` reads back to the same settings, and a key
/// that is not a flag of the subcommand is an error naming the file.
#[test]
fn config_files_set_flags_and_the_command_line_wins() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, "alpha-iters = 3\nbranching = \"input\"\ntimeout = 5\nno-prune = true\n").unwrap();
    let c = cfg.to_str().unwrap();
    let (out, err, code) = stdout_of(&["verify", "--config", c, "--print-config"]);
    assert_eq!(code, 0, "{err}");
    for line in ["alpha-iters = 3", "branching = \"input\"", "timeout = 5.0", "no-prune = true", "depth = 48"]
    {
        assert!(out.lines().any(|l| l == line), "{line}: {out}");
    }
    let (out, _, _) = stdout_of(&["verify", "--config", c, "--alpha-iters", "9", "--print-config"]);
    assert!(out.lines().any(|l| l == "alpha-iters = 9"), "{out}");
    // Round trip: the printed settings, read back, print the same.
    let full = dir.path().join("full.toml");
    std::fs::write(&full, &out).unwrap();
    let (again, _, _) = stdout_of(&["verify", "--config", full.to_str().unwrap(), "--print-config"]);
    assert_eq!(again, out);
    // A config file drives a real run.
    let (out, err, code) = stdout_of(&[
        "verify",
        &path("vnncomp_test/onnx/test_sat.onnx"),
        &path("vnncomp_test/vnnlib/test_prop.vnnlib"),
        "--config",
        c,
    ]);
    assert_eq!((out.as_str(), code), ("sat\n", 0), "{err}");
    std::fs::write(&cfg, "alpha-iterz = 3\n").unwrap();
    let (_, err, code) = stdout_of(&["verify", "--config", c, "--print-config"]);
    assert_eq!(code, 2);
    assert_eq!(
        err,
        format!(
            "error: {c}: 'alpha-iterz' is not a setting of this subcommand (keys are its long flag names)\n"
        )
    );
}

/// `genbab plot` draws several runs and the VNN-COMP best times in one picture: each curve's
/// "solved / total" in the legend (a wrong verdict does not count as solved), the timeout the
/// rows record, and sub-millisecond times on the axis.
#[test]
fn plot_compares_runs_and_vnncomp_best_times() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("fast.csv");
    std::fs::write(
        &a,
        "benchmark,onnx,vnnlib,expected,result,seconds,timeout,reason,settings\n\
         b,m,p1,unsat,unsat,0.000200,60,,x\nb,m,p2,sat,sat,0.5,60,,x\nb,m,p3,unsat,timeout,60,60,,x\n\
         b,m,p4,unsat,sat,0.1,60,,x\n",
    )
    .unwrap();
    // An older six-column CSV.
    let b = dir.path().join("slow.csv");
    std::fs::write(
        &b,
        "benchmark,onnx,vnnlib,expected,result,seconds\nb,m,p1,unsat,unsat,2.0\nb,m,p2,sat,unknown,1.0\n",
    )
    .unwrap();
    let e = dir.path().join("expected.csv");
    std::fs::write(
        &e,
        "onnx,vnnlib,expected,best_time_s,timeout_s\nm,p1,unsat,0.9,60\nm,p2,sat,,60\nm,p3,unknown,,60\n",
    )
    .unwrap();
    let out = dir.path().join("c.svg");
    let files = [a.to_str().unwrap(), b.to_str().unwrap(), e.to_str().unwrap()];
    let (stdout, err, code) = stdout_of(&[&["plot"], &files[..], &["-o", out.to_str().unwrap()]].concat());
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("fast: 2 / 4 solved") && stdout.contains("slow: 1 / 2 solved"), "{stdout}");
    let svg = std::fs::read_to_string(&out).unwrap();
    for s in [
        "fast (2 / 4 solved)",
        "slow (1 / 2 solved)",
        "VNN-COMP best (",
        "(1 / 3 solved)",
        "timeout 60 s",
        "1 ms",
        "instances solved",
    ] {
        assert!(svg.contains(s), "{s}");
    }
    // Labels; an existing plot is kept unless --force; a CSV of another kind is refused.
    let (_, err, code) = stdout_of(&["plot", files[0], "-o", out.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("exists (--force overwrites)"), "{err}");
    let (_, _, code) =
        stdout_of(&["plot", files[0], files[1], "--label", "A,B", "-o", out.to_str().unwrap(), "--force"]);
    assert_eq!(code, 0);
    let svg = std::fs::read_to_string(&out).unwrap();
    assert!(svg.contains("A (2 / 4 solved)") && svg.contains("B (1 / 2 solved)"));
    let other = dir.path().join("other.csv");
    std::fs::write(&other, "a,b\n1,2\n").unwrap();
    let (_, err, code) =
        stdout_of(&["plot", other.to_str().unwrap(), "-o", dir.path().join("x.svg").to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("neither a genbab bench CSV"), "{err}");
}

#[test]
fn unsupported_operator_error_names_op_node_and_file() {
    use onnx_protobuf::{
        GraphProto, Message, ModelProto, NodeProto, OperatorSetIdProto, TypeProto, ValueInfoProto,
    };
    let vi = |name: &str| {
        let mut shape = onnx_protobuf::TensorShapeProto::new();
        let mut d = onnx_protobuf::tensor_shape_proto::Dimension::new();
        d.value = Some(onnx_protobuf::tensor_shape_proto::dimension::Value::DimValue(1));
        shape.dim.push(d);
        let mut tt = onnx_protobuf::type_proto::Tensor::new();
        tt.elem_type = 1;
        tt.shape = Some(shape).into();
        let mut ty = TypeProto::new();
        ty.value = Some(onnx_protobuf::type_proto::Value::TensorType(tt));
        let mut v = ValueInfoProto::new();
        v.name = name.into();
        v.type_ = Some(ty).into();
        v
    };
    let mut n = NodeProto::new();
    n.op_type = "HardSwish".into();
    n.name = "act_7".into();
    n.input.push("x".into());
    n.output.push("y".into());
    let mut g = GraphProto::new();
    g.input.push(vi("x"));
    g.output.push(vi("y"));
    g.node.push(n);
    let mut m = ModelProto::new();
    let mut o = OperatorSetIdProto::new();
    o.version = 14;
    m.opset_import.push(o);
    m.graph = Some(g).into();
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("hs.onnx");
    std::fs::write(&f, m.write_to_bytes().unwrap()).unwrap();
    let (out, err, code) =
        stdout_of(&["verify", f.to_str().unwrap(), &path("vnncomp_test/vnnlib/test_nano.vnnlib")]);
    assert_eq!((out.as_str(), code), ("error\n", 2));
    assert_eq!(
        err,
        format!("error: {}: node 'act_7' (HardSwish): operator HardSwish is not supported\n", f.display())
    );
}

#[test]
fn timeout_is_reported() {
    // A nanosecond cannot decide anything that needs a search.
    let (out, _, code) = stdout_of(&[
        "verify",
        &path("acasxu/onnx/ACASXU_run2a_2_1_batch_2000.onnx"),
        &path("acasxu/vnnlib/prop_4.vnnlib"),
        "--timeout",
        "1e-9",
    ]);
    assert_eq!(code, 0);
    assert!(out == "timeout\n" || out == "unsat\n", "{out}");
}

/// ml4acopf 14-bus with prop6, which reads output 160 of 186: `verify` runs branch and bound on the
/// restricted model (the JSON reports both sizes; `--no-prune` keeps the whole model), and a
/// counterexample found there is still checked and written on the full model: all 186 outputs.
#[test]
fn verify_restricts_to_the_outputs_read_and_writes_full_counterexamples() {
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("../firmware-example/models");
    let model = models.join("14_ieee_ml4acopf.onnx").display().to_string();
    let prop6 = models.join("14_ieee_prop6.vnnlib");
    for (flag, checked) in [(None, 837), (Some("--no-prune"), 1678)] {
        let mut args = vec!["verify", &model, prop6.to_str().unwrap(), "--json", "--timeout", "1e-9"];
        args.extend(flag);
        let (out, err, code) = stdout_of(&args);
        assert_eq!(code, 0, "{err}");
        let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(v["values"]["model"], 1678, "{out}");
        assert_eq!(v["values"]["checked"], checked, "{flag:?}: {out}");
    }
    // prop6's box with an unsafe region every point reaches: `sat`, with a full-model witness.
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(&prop6).unwrap();
    let head = &text[..text.find("; Output property:").unwrap()];
    let prop = dir.path().join("always.vnnlib");
    std::fs::write(&prop, format!("{head}(assert (<= Y_160 1000000.0))\n")).unwrap();
    let f = dir.path().join("cex.txt");
    let (out, err, _) = stdout_of(&[
        "verify",
        &model,
        prop.to_str().unwrap(),
        "--cex",
        f.to_str().unwrap(),
        "--timeout",
        "100",
    ]);
    assert_eq!(out, "sat\n", "{err}");
    check_cex_file(&model, prop.to_str().unwrap(), &f);
}

#[test]
fn a_closed_stdout_ends_quietly_without_a_panic() {
    // `genbab bounds … | head -0`: the reader is gone before anything is written.
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("genbab"))
        .args([
            "bounds",
            &path("acasxu/onnx/ACASXU_run2a_2_1_batch_2000.onnx"),
            &path("acasxu/vnnlib/prop_4.vnnlib"),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.code(), Some(0), "{err}");
}

/// LayerNormalization end to end (fixtures from `tests/fixtures/gen_layernorm_models.py`): on a
/// Gemm → LayerNormalization → Relu → Gemm network and on a LayerNormalization of inputs near 1000
/// with a spread of 0.01 (where the one-pass variance would cancel), a property that holds is
/// never `sat`, and one that onnxruntime's outputs violate is `sat` (or `unknown`) with a
/// witness that is a real counterexample of the reference graph (which gives onnxruntime's
/// LayerNormalization outputs bit for bit: `tests/tests/layernorm.rs`; both witnesses were also
/// run through onnxruntime 1.32 when the fixtures were made, and violate the property there).
#[test]
fn verify_layer_normalization() {
    let dir = tempfile::tempdir().unwrap();
    for model in ["mlp_ln", "ln_cancel_bias_n8"] {
        let net = path(&format!("layernorm/{model}.onnx"));
        let holds = path(&format!("layernorm/{model}_true.vnnlib"));
        let (out, err, code) = stdout_of(&["verify", &net, &holds, "--timeout", "60"]);
        assert_eq!(code, 0, "{model}: {err}");
        assert!(out == "unsat\n" || out == "unknown\n", "{model}, a true property: {out} {err}");
        eprintln!("{model}, true property: {}", out.trim());
        let violated = path(&format!("layernorm/{model}_false.vnnlib"));
        let f = dir.path().join(format!("{model}.cex"));
        let (out, err, code) =
            stdout_of(&["verify", &net, &violated, "--timeout", "60", "--cex", f.to_str().unwrap()]);
        assert_eq!(code, 0, "{model}: {err}");
        assert!(out == "sat\n" || out == "unknown\n", "{model}, a false property: {out} {err}");
        eprintln!("{model}, false property: {}", out.trim());
        if out == "sat\n" {
            check_cex_file(&net, &violated, &f);
        }
    }
}

/// `genbab monitor` replays the firmware's ACAS Xu stream with the firmware's settings and
/// reaches the decisions baked into the firmware module, frame for frame (the module's
/// `EXPECTED` array); JSON lines carry every frame; a malformed stream is one error line.
#[test]
fn monitor_replays_the_firmware_stream_as_baked() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let module = std::fs::read_to_string(root.join("firmware-example/src/models/acas.rs")).unwrap();
    // The bake command in the module's header, minus `-o` and `--name`: the device's settings.
    let header: String = module
        .lines()
        .skip_while(|l| !l.starts_with("//! ```sh"))
        .skip(1)
        .take_while(|l| !l.starts_with("//! ```"))
        .map(|l| l.trim_start_matches("//! ").trim_end_matches('\\').to_string() + " ")
        .collect();
    let words: Vec<String> = header.split_whitespace().map(str::to_string).collect();
    let start = words.iter().position(|w| w == "bake").unwrap() + 1;
    let mut args = vec!["monitor".to_string()];
    let mut i = start;
    while i < words.len() {
        match words[i].as_str() {
            "-o" => i += 2,
            "--name" => {
                i += 1;
                while !words[i].ends_with('"') {
                    i += 1;
                }
                i += 1;
            }
            w => {
                args.push(w.to_string());
                i += 1;
            }
        }
    }
    args.push("--json".into());
    let out = Command::cargo_bin("genbab").unwrap().current_dir(&root).args(&args).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let expected: Vec<u8> = module
        .split("pub static EXPECTED: [u8;")
        .nth(1)
        .and_then(|t| t.split('[').nth(1))
        .and_then(|t| t.split(']').next())
        .unwrap()
        .split(',')
        .filter_map(|v| v.trim().parse().ok())
        .collect();
    let words = ["CERTIFIED", "VIOLATED", "UNDECIDED"];
    let got: Vec<u8> = text
        .lines()
        .filter(|l| l.contains("\"decision\""))
        .map(|l| words.iter().position(|w| l.contains(&format!("\"decision\":\"{w}\""))).unwrap() as u8)
        .collect();
    assert_eq!(got, expected);
    assert!(text.contains("\"step\":\"region\""), "the trajectory reuses its region");
    // A malformed stream: one line naming the file and the line.
    let bad = std::env::temp_dir().join(format!("genbab-bad-stream-{}.csv", std::process::id()));
    std::fs::write(&bad, "kind,x_0,x_1,x_2,x_3,x_4,r_0,r_1,r_2,r_3,r_4\nsafe,1,2,3,4,5,0,0,0,0\n").unwrap();
    let (_, err, code) = stdout_of(&[
        "monitor",
        &path("acasxu/onnx/ACASXU_run2a_2_1_batch_2000.onnx"),
        &path("acasxu/vnnlib/prop_2.vnnlib"),
        "--frames",
        &bad.display().to_string(),
    ]);
    let _ = std::fs::remove_file(&bad);
    assert_eq!(code, 2);
    assert!(err.contains(":2: 10 cells, the header has 11"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// `bench --shard I/N` runs disjoint shares that together are every instance; `genbab merge`
/// combines their CSVs into the rows, summary and plot of a single run, and refuses a missing,
/// duplicated or foreign row.
#[test]
fn sharded_bench_merges_into_the_single_run() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).display().to_string();
    let run = |args: &[String]| stdout_of(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<String>>();
    let test_set = path("vnncomp_test");
    let bench = |out: &str, extra: &[&str]| {
        let svg = p(&format!("{out}.svg"));
        let (o, e, code) =
            run(&[s(&["bench", &test_set, "--out", &p(out), "--plot", &svg]), s(extra)].concat());
        assert_eq!(code, 0, "{o}{e}");
        o
    };
    let single = bench("single.csv", &[]);
    let mut shards = Vec::new();
    for i in 0..3 {
        let o = bench(&format!("s{i}.csv"), &["--shard", &format!("{i}/3")]);
        assert!(o.starts_with(&format!("shard {i}/3: ")), "{o}");
        shards.push(p(&format!("s{i}.csv")));
    }
    // The rows (instance and verdict; not the times) of a results CSV.
    let rows = |f: &str| -> Vec<String> {
        let text = std::fs::read_to_string(f).unwrap();
        text.lines().skip(1).map(|l| l.split(',').take(5).collect::<Vec<_>>().join(",")).collect()
    };
    // Each shard has some instances (the test set has five), and together they are the run's.
    assert!(shards.iter().all(|f| !rows(f).is_empty()));
    let mut all: Vec<String> = shards.iter().flat_map(|f| rows(f)).collect();
    let mut want = rows(&p("single.csv"));
    all.sort();
    want.sort();
    assert_eq!(all, want, "the shards' rows are the single run's");
    let merge = |files: &[&String]| {
        let files: Vec<String> = files.iter().map(|f| f.to_string()).collect();
        run(&[s(&["merge", &p("m.csv")]), files, s(&["--dir", &test_set, "--force"])].concat())
    };
    let (o, e, code) = merge(&shards.iter().collect::<Vec<_>>());
    assert_eq!(code, 0, "{o}{e}");
    assert_eq!(rows(&p("m.csv")), rows(&p("single.csv")), "merged rows in instance order");
    // The summary table is the single run's (the seconds column aside).
    let table = |o: &str| -> Vec<String> {
        o.lines()
            .filter(|l| l.starts_with("vnncomp_test") || l.starts_with("TOTAL"))
            .map(|l| l.trim_end().rsplit_once(' ').unwrap().0.trim_end().to_string())
            .collect()
    };
    assert_eq!(table(&o), table(&single));
    assert_eq!(table(&o).len(), 2, "{o}");
    assert!(std::fs::read_to_string(p("m.svg")).unwrap().contains("<svg"));
    // A shard missing, a shard given twice, a row of another benchmark: errors.
    let (_, e, code) = merge(&[&shards[0], &shards[1]]);
    assert_eq!(code, 2);
    assert!(e.contains("are in no shard file"), "{e}");
    let (_, e, code) = merge(&[&shards[0], &shards[1], &shards[2], &shards[0]]);
    assert_eq!(code, 2);
    assert!(e.contains("is also in"), "{e}");
    let foreign = p("x.csv");
    std::fs::write(&foreign, "benchmark,onnx,vnnlib,expected,result,seconds\nother,a.onnx,b.vnnlib,,sat,1\n")
        .unwrap();
    let (_, e, code) = merge(&[&shards[0], &shards[1], &shards[2], &foreign]);
    assert_eq!(code, 2);
    assert!(e.contains("is not an instance of"), "{e}");
    // Shard syntax.
    let (_, e, code) = stdout_of(&["bench", &test_set, "--shard", "3/3"]);
    assert_eq!(code, 2);
    assert!(e.contains("expected I/N with 0 <= I < N"), "{e}");
}

/// `genbab split` cuts a property that needs branching into parts that are the property within
/// boxes the search left open; the parts are an ordinary benchmark folder, and `merge
/// --instance` gives `unsat` when every part is, `sat` with a part's counterexample otherwise.
#[test]
fn split_instance_parts_verify_and_merge() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).display().to_string();
    let net = path("acasxu/onnx/ACASXU_run2a_2_1_batch_2000.onnx");
    // Property 4 with X_1 widened from ±0.0095 to ±0.2: it holds, after about 100 domains.
    let text = std::fs::read_to_string(path("acasxu/vnnlib/prop_4.vnnlib")).unwrap();
    let wide = text
        .replace("(<= X_1 0.009549297)", "(<= X_1 0.2)")
        .replace("(>= X_1 -0.009549297)", "(>= X_1 -0.2)");
    assert_ne!(wide, text);
    std::fs::write(p("wide.vnnlib"), &wide).unwrap();
    let whole = vnnlib::read(Path::new(&p("wide.vnnlib"))).unwrap();
    let (o, e, code) = stdout_of(&["split", &net, &p("wide.vnnlib"), "--parts", "4", "--out", &p("parts")]);
    assert_eq!(code, 0, "{o}{e}");
    let rows = std::fs::read_to_string(p("parts/instances.csv")).unwrap();
    assert_eq!(rows.lines().count(), 4, "{o}");
    let mut results = Vec::new();
    for (k, row) in rows.lines().enumerate() {
        let f: Vec<&str> = row.split(',').collect();
        assert_eq!(f[1], format!("vnnlib/part_{k}.vnnlib"));
        // A part: the property's region within its boxes (the boxes inside the property's box).
        let part = vnnlib::read(&dir.path().join("parts").join(f[1])).unwrap();
        for c in &part.cases {
            let w = &whole.cases[0];
            assert!(
                c.lo.iter().zip(&w.lo).all(|(a, b)| a >= b) && c.hi.iter().zip(&w.hi).all(|(a, b)| a <= b)
            );
            assert_eq!((&c.rows, &c.rhs), (&w.rows, &w.rhs));
        }
        let r = p(&format!("r{k}.txt"));
        let model = dir.path().join("parts").join(f[0]).display().to_string();
        let (o, e, code) =
            stdout_of(&["verify", &model, &p(&format!("parts/{}", f[1])), "--results-file", &r]);
        assert_eq!((code, o.as_str()), (0, "unsat\n"), "{e}");
        results.push(r);
    }
    let merge = |files: &[String], out: &str| {
        let args = [
            vec!["merge".to_string(), "--instance".into(), p(out)],
            files.to_vec(),
            vec!["--dir".into(), p("parts")],
        ]
        .concat();
        stdout_of(&args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let (o, e, code) = merge(&results, "inst.txt");
    assert_eq!((code, o.as_str()), (0, "unsat\n"), "{e}");
    // One part's result missing: refused.
    let (_, e, code) = merge(&results[..3], "inst2.txt");
    assert_eq!(code, 2);
    assert!(e.contains("give one per part"), "{e}");
    // A part that is sat makes the instance sat, with that part's counterexample.
    std::fs::write(&results[2], "sat\n((X_0 0.5)\n(Y_0 1.0))\n").unwrap();
    std::fs::write(&results[1], "timeout\n").unwrap();
    let (o, _, code) = merge(&results, "inst3.txt");
    assert_eq!((code, o.as_str()), (0, "sat\n"));
    assert!(std::fs::read_to_string(p("inst3.txt")).unwrap().contains("(X_0 0.5)"));
    std::fs::write(&results[2], "unknown\n").unwrap();
    let (o, _, _) = merge(&results, "inst4.txt");
    assert_eq!(o, "unknown\n", "unknown is weaker than timeout");
    // An activation-split search has no input parts to cut.
    let (_, e, code) = stdout_of(&[
        "split",
        &net,
        &p("wide.vnnlib"),
        "--parts",
        "2",
        "--out",
        &p("p2"),
        "--branching",
        "bbps",
    ]);
    assert_eq!(code, 2);
    assert!(e.contains("no input parts to cut"), "{e}");
}

#[test]
fn verify_writes_a_certificate_that_check_replays() {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("p4.cert");
    let c = cert.display().to_string();
    let net = path("acasxu/onnx/ACASXU_run2a_2_1_batch_2000.onnx");
    let p4 = path("acasxu/vnnlib/prop_4.vnnlib");
    let (out, err, code) = stdout_of(&["verify", &net, &p4, "--certificate", &c, "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["result"], "unsat");
    let bytes = std::fs::read(&cert).unwrap();
    assert_eq!(v["certificate"]["bytes"], bytes.len());
    assert!(v["certificate"]["leaves"].as_u64().unwrap() >= 1);
    let (out, err, code) = stdout_of(&["check", &net, &p4, &c]);
    assert_eq!((out.as_str(), code), ("valid\n", 0), "{err}");
    assert!(err.contains("leaves bounded"), "{err}");
    // Against another property, and corrupted: invalid, exit 1, one line.
    let (out, _, code) = stdout_of(&["check", &net, &path("acasxu/vnnlib/prop_2.vnnlib"), &c]);
    assert_eq!((out.as_str(), code), ("invalid: written for another property\n", 1));
    let mut bad = bytes.clone();
    let n = bad.len();
    bad[n / 2] ^= 1;
    std::fs::write(&cert, &bad).unwrap();
    let (out, _, code) = stdout_of(&["check", &net, &p4, &c]);
    assert_eq!((out.as_str(), code), ("invalid: the checksum does not match (the file is corrupted)\n", 1));
    // No file: an error, exit 2.
    let (_, err, code) = stdout_of(&["check", &net, &p4, &dir.path().join("none").display().to_string()]);
    assert_eq!(code, 2);
    assert!(err.starts_with("error: ") && err.lines().count() == 1, "{err}");
    // A property that does not hold: the verdict, and no certificate.
    let sat = dir.path().join("sat.cert");
    let (out, err, code) = stdout_of(&[
        "verify",
        &net,
        &path("acasxu/vnnlib/prop_2.vnnlib"),
        "--certificate",
        &sat.display().to_string(),
    ]);
    assert_eq!((out.as_str(), code), ("sat\n", 0), "{err}");
    assert!(err.contains("no certificate"), "{err}");
    assert!(!sat.exists());
}
