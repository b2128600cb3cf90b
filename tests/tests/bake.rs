//! `genbab bake`: the committed firmware modules are exactly what the documented commands produce
//! (so they cannot go stale), their sizes are the core's plans, their text is rustfmt-formatted,
//! and the baked models are the ONNX-loaded ones restricted to the property's outputs, bit for bit:
//! same IR, same weights, identical certified bounds, and the full model's values at those outputs.

use std::path::{Path, PathBuf};

use genbab_cli::bake::{self, Args};
use genbab_cli::onnx;
use genbab_core::bab::{BabPlan, Branching};
use genbab_core::bound::{self, Config, Plan, Workspace};
use genbab_core::graph::{Graph, Op};
use genbab_core::num::Fix;

#[allow(dead_code)]
#[path = "../../firmware-example/src/models/acas.rs"]
mod acas;

#[allow(dead_code)]
#[path = "../../firmware-example/src/models/acopf.rs"]
mod acopf;

#[allow(dead_code)]
#[path = "../fixtures/conv/baked_conv2d_pad_stride.rs"]
mod baked_conv;

#[allow(dead_code)]
#[path = "../fixtures/conv/baked_attention_tokens.rs"]
mod baked_attention;

const MODULES: [&str; 2] = ["firmware-example/src/models/acas.rs", "firmware-example/src/models/acopf.rs"];

/// Baked structured models (no property): a CNN (native Conv) and a self-attention block (native
/// MatMul of two variables, token-wise projections as grouped 1 × 1 Conv).
const STRUCTURED: [&str; 2] =
    ["tests/fixtures/conv/baked_conv2d_pad_stride.rs", "tests/fixtures/conv/baked_attention_tokens.rs"];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// Split a command line on spaces, keeping double-quoted words together.
fn shell_words(s: &str) -> Vec<String> {
    let (mut words, mut cur, mut quoted, mut any) = (Vec::new(), String::new(), false, false);
    for c in s.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            ' ' if !quoted => {
                if any {
                    words.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            c => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any {
        words.push(cur);
    }
    words
}

/// The `bake` arguments of the regenerating command in a module's header.
fn header_args(module: &str) -> Args {
    let text: String = module
        .lines()
        .skip_while(|l| *l != "//! ```sh")
        .skip(1)
        .take_while(|l| *l != "//! ```")
        .map(|l| l.trim_start_matches("//!").trim().trim_end_matches('\\').trim().to_string())
        .collect::<Vec<_>>()
        .join(" ");
    let args =
        text.strip_prefix("cargo run --release -p genbab-cli -- bake ").expect("a `genbab bake` command");
    bake::parse_args(&shell_words(args)).expect("the header's command parses")
}

fn committed(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `pub const NAME: usize = N;` from a module's text.
fn const_usize(text: &str, name: &str) -> usize {
    let prefix = format!("pub const {name}: usize = ");
    let line = text.lines().find(|l| l.starts_with(&prefix)).unwrap_or_else(|| panic!("no {name}"));
    line[prefix.len()..].trim_end_matches(';').parse().unwrap()
}

#[test]
fn committed_modules_are_what_the_documented_commands_bake() {
    for path in MODULES {
        let old = committed(path);
        let args = header_args(&old);
        assert_eq!(
            args.output.as_deref(),
            Some(Path::new(path)),
            "{path}: the header's -o names another file"
        );
        let baked = bake::bake(&args, &root()).unwrap_or_else(|e| panic!("{path}: {e}"));
        if baked.module != old {
            let line = baked.module.lines().zip(old.lines()).position(|(a, b)| a != b).unwrap_or(0);
            panic!(
                "{path} is stale (first difference at line {}): regenerate it with the command in its header",
                line + 1
            );
        }
        if let (Some(blob_path), Some(blob)) = (&args.blob, &baked.blob) {
            let old_blob = std::fs::read(root().join(blob_path)).unwrap();
            assert!(
                old_blob == *blob,
                "{} is stale: regenerate it with the command in {path}",
                blob_path.display()
            );
        }
        // The decisions cover all three outcomes (a monitor that only ever says one thing shows little).
        for code in [bake::CERTIFIED, bake::VIOLATED, bake::UNDECIDED] {
            assert!(baked.decisions.contains(&code), "{path}: no frame decided {code}");
        }
        assert!(baked.decisions.len() >= 50, "{path}: fewer than 50 frames");
    }
}

/// Frames a module of these arguments holds: the stream's (read or generated) and the trajectory.
fn frame_count(args: &bake::Args, d: usize) -> usize {
    let stream = match &args.frames {
        genbab_cli::bake::FramesArg::Count(n) => *n,
        genbab_cli::bake::FramesArg::File(p) => genbab_cli::frames::read(&root().join(p), d).unwrap().len(),
    };
    stream + args.trajectory
}

#[test]
fn baked_sizes_are_the_core_plans() {
    for path in MODULES {
        let text = committed(path);
        let args = header_args(&text);
        let r = bake::restricted(&args, &root()).unwrap();
        let g = r.graph.graph();
        let atoms = const_usize(&text, "ATOMS");
        let prop = genbab_cli::vnnlib::read(&root().join(args.property.as_ref().unwrap())).unwrap();
        assert_eq!(atoms, prop.cases[args.case].rhs.len());
        let s = bake::settings(&args);
        let activation = match s.branching {
            Branching::Input => false,
            Branching::Auto => g.input_len() > s.input_split_max_dim as usize,
            _ => true,
        };
        let plan = BabPlan::new(&g, atoms, args.domains, args.depth, args.chunk, activation).unwrap();
        let plan = BabPlan { bound: bake::bound_plan(&g, plan.bound, &args), ..plan };
        let bound = bake::bound_plan(&g, Plan::new(&g, args.chunk).unwrap(), &args);
        for (name, want) in [
            ("INPUT_LEN", g.input_len()),
            ("OUTPUT_LEN", g.output_len()),
            ("VALUES", g.total_len()),
            ("DOMAINS", plan.domains),
            ("DEPTH", plan.depth),
            ("CHUNK", bound.chunk),
            ("SCALARS", plan.scalars()),
            ("FLAGS", plan.flags()),
            ("SPLITS", plan.splits()),
            ("RECORDS", plan.records()),
            ("OFFSETS", plan.offsets()),
            ("SUM", plan.input),
            ("BOUND_SCALARS", bound.scalars()),
            ("BOUND_FLAGS", bound.flags()),
            ("FRAMES", frame_count(&args, g.input_len())),
        ] {
            assert_eq!(const_usize(&text, name), want, "{path}: {name}");
        }
        let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            flat.contains(&format!("pub const PLAN: BabPlan = {};", bake::plan_expr(&plan))),
            "{path}: PLAN"
        );
        assert!(text.contains(&format!("pub static WEIGHTS: [f32; {}] = [", g.weights.len())));
        assert!(text.contains(&format!("pub static NODES: [Node; {}] = [", g.nodes.len())));
    }
    // The included modules agree with their text.
    assert_eq!(acas::PLAN.scalars(), acas::SCALARS);
    assert_eq!(acopf::PLAN.scalars(), acopf::SCALARS);
    assert_eq!(acas::PLAN.bound.scalars(), acas::BOUND_SCALARS);
}

/// The baked CNN and attention block are the ONNX-loaded models bit for bit (nodes, weights,
/// geometry), are what their header commands bake today, and give identical certified bounds on
/// boxes around the fixture points.
#[test]
fn baked_structured_models_are_the_onnx_models_with_identical_bounds() {
    let graphs = [baked_conv::graph(), baked_attention::graph()];
    for (path, baked) in STRUCTURED.iter().zip(graphs) {
        let text = committed(path);
        let args = header_args(&text);
        let b = bake::bake(&args, &root()).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert!(b.module == text, "{path} is stale: regenerate it with the command in its header");
        let model = onnx::load(&root().join(&args.model)).unwrap();
        let og = model.graph::<f32>();
        let loaded = og.graph();
        assert_same_graph(&baked, &loaded, path);
        assert!(baked.nodes.iter().any(|n| matches!(n.op, Op::Conv { .. })), "{path}: no Conv");
        let d = baked.input_len();
        let mut boxes = vec![];
        let mut s = 0x2545_f491_4f6c_dd1du64;
        for r in [0.0f32, 0.01, 0.1] {
            let x: Vec<f32> = (0..d)
                .map(|_| {
                    s ^= s << 13;
                    s ^= s >> 7;
                    s ^= s << 17;
                    (s % 2000) as f32 / 1000.0 - 1.0
                })
                .collect();
            boxes.push((x.iter().map(|v| v - r).collect(), x.iter().map(|v| v + r).collect()));
        }
        assert_same_bounds(&baked, &loaded, &boxes, path);
    }
    assert!(baked_attention::graph().nodes.iter().any(|n| matches!(n.op, Op::MatMul { .. })));
}

#[test]
fn generated_text_is_rustfmt_formatted() {
    let rustfmt = std::process::Command::new("rustfmt").arg("--version").output();
    if !rustfmt.is_ok_and(|o| o.status.success()) {
        eprintln!("rustfmt not found: skipped");
        return;
    }
    for path in MODULES.iter().chain(&STRUCTURED) {
        let out = std::process::Command::new("rustfmt")
            .args(["--edition", "2024", "--check", "--config-path"])
            .arg(root().join("rustfmt.toml"))
            .arg(root().join(path))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{path} is not rustfmt-formatted:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

/// The same nodes, the same weights (bit for bit), the same indices and output.
fn assert_same_graph(baked: &Graph<'_, f32>, loaded: &Graph<'_, f32>, name: &str) {
    assert_eq!(baked.nodes, loaded.nodes, "{name}: nodes");
    assert_eq!(baked.indices, loaded.indices, "{name}: indices");
    assert_eq!(baked.output, loaded.output, "{name}: output");
    assert_eq!(baked.weights.len(), loaded.weights.len(), "{name}: weight count");
    for (i, (a, b)) in baked.weights.iter().zip(loaded.weights).enumerate() {
        assert_eq!(a.to_bits(), b.to_bits(), "{name}: weight {i}: {a:?} vs {b:?}");
    }
}

/// Certified CROWN bounds of every output over `boxes`, for both graphs: identical bits.
fn assert_same_bounds(
    baked: &Graph<'_, f32>,
    loaded: &Graph<'_, f32>,
    boxes: &[(Vec<f32>, Vec<f32>)],
    name: &str,
) {
    let n = baked.output_len();
    let plan = Plan::new(baked, 16).unwrap();
    let (mut scalars, mut flags) = (vec![0.0f32; plan.scalars()], vec![false; plan.flags()]);
    let mut rows = vec![0.0f32; n * n];
    let cfg = Config::default();
    for (k, (lo, hi)) in boxes.iter().enumerate() {
        let mut out = Vec::new();
        for g in [baked, loaded] {
            let mut ws = Workspace::new(plan, &mut scalars, &mut flags).unwrap();
            let (mut l, mut h) = (vec![0.0f32; n], vec![0.0f32; n]);
            bound::output_bounds(&mut ws, g, lo, hi, &cfg, &mut rows, &mut l, &mut h).unwrap();
            assert!(l.iter().zip(&h).all(|(a, b)| a <= b));
            out.push((l, h));
        }
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&out[0].0), bits(&out[1].0), "{name}: box {k}: lower bounds differ");
        assert_eq!(bits(&out[0].1), bits(&out[1].1), "{name}: box {k}: upper bounds differ");
    }
}

fn frame_boxes(x: &[f32], r: &[f32], d: usize, every: usize) -> Vec<(Vec<f32>, Vec<f32>)> {
    (0..x.len() / d)
        .step_by(every)
        .map(|k| bake::frame_box(&x[k * d..(k + 1) * d], &r[k * d..(k + 1) * d]))
        .collect()
}

#[test]
fn baked_acas_is_the_onnx_model_with_identical_bounds() {
    let args = header_args(&committed(MODULES[0]));
    let model = onnx::load(&root().join(&args.model)).unwrap();
    let r = bake::restricted(&args, &root()).unwrap();
    // prop_2 reads every output: nothing to restrict.
    assert_eq!(r.outputs, (0..model.output_len()).collect::<Vec<_>>());
    let og = model.graph::<f32>();
    assert_eq!(r.graph, og);
    let (baked, loaded) = (acas::graph(), og.graph());
    assert_same_graph(&baked, &loaded, "acas");
    let mut boxes = frame_boxes(&acas::FRAME_X, &acas::FRAME_R, acas::INPUT_LEN, 1);
    boxes.push((acas::SPEC_LO.to_vec(), acas::SPEC_HI.to_vec()));
    assert_same_bounds(&baked, &loaded, &boxes, "acas");
    // The Q16.16 weights are the loader's `Fix` conversion.
    let fix = model.graph::<Fix>();
    assert_eq!(fix.weights.len(), acas::WEIGHTS_FIX_BITS.len());
    for (i, (w, &b)) in fix.weights.iter().zip(&acas::WEIGHTS_FIX_BITS).enumerate() {
        assert_eq!(w.get().map(|v| v.to_bits()), Some(b), "Q16.16 weight {i}");
    }
}

#[test]
fn baked_acopf_is_the_onnx_model_restricted_with_identical_bounds() {
    let args = header_args(&committed(MODULES[1]));
    let model = onnx::load(&root().join(&args.model)).unwrap();
    let full = model.graph::<f32>();
    let r = bake::restricted(&args, &root()).unwrap();
    // prop6 reads one output of 186: the baked model keeps under half of the values.
    assert_eq!(r.outputs, [160]);
    assert_eq!((acopf::OUTPUT_LEN, r.model_outputs), (1, 186));
    assert!(2 * acopf::VALUES <= full.graph().total_len(), "{} values baked", acopf::VALUES);
    let (baked, loaded) = (acopf::graph(), r.graph.graph());
    assert_same_graph(&baked, &loaded, "acopf");
    let boxes = frame_boxes(&acopf::FRAME_X, &acopf::FRAME_R, acopf::INPUT_LEN, 10);
    assert_same_bounds(&baked, &loaded, &boxes, "acopf");
    // The forward pass at every frame centre is the full model's at the property's outputs.
    let d = acopf::INPUT_LEN;
    let mut v = vec![0.0f32; baked.total_len()];
    for k in 0..acopf::FRAMES {
        let x = &acopf::FRAME_X[k * d..(k + 1) * d];
        let y = full.eval(x).unwrap();
        let a = baked.eval(x, &mut v).unwrap();
        let want: Vec<u32> = r.outputs.iter().map(|&o| y[o].to_bits()).collect();
        assert_eq!(a.iter().map(|p| p.to_bits()).collect::<Vec<_>>(), want, "frame {k}");
    }
    // The frames' witnesses are real counterexamples of the baked property, and of the property
    // as written on the full model.
    let spec = acopf::spec();
    let prop = genbab_cli::vnnlib::read(&root().join(args.property.as_ref().unwrap())).unwrap();
    for w in acopf::EXPECTED_WITNESS.chunks(d) {
        let y = baked.eval(w, &mut v).unwrap();
        assert!(spec.is_violated_by(y));
        let y: Vec<f64> = full.eval(w).unwrap().iter().map(|&v| f64::from(v)).collect();
        assert!(genbab_cli::engine::violates(&prop.cases[args.case], &y));
    }
}

#[test]
fn bake_without_property_emits_model_and_sizes_only() {
    let args = bake::parse_args(&[
        "tests/fixtures/acasxu/onnx/ACASXU_run2a_2_1_batch_2000.onnx",
        "-o",
        "/dev/null",
        "--domains",
        "8",
        "--depth",
        "3",
        "--chunk",
        "2",
    ])
    .unwrap();
    let b = bake::bake(&args, &root()).unwrap();
    assert!(b.module.contains("pub static WEIGHTS: [f32; 13305] = ["));
    assert!(!b.module.contains("SPEC_"));
    assert!(!b.module.contains("use genbab_core::spec::Spec;"));
    assert_eq!(const_usize(&b.module, "DOMAINS"), 8);
    assert_eq!(const_usize(&b.module, "DEPTH"), 3);
    assert_eq!(const_usize(&b.module, "CHUNK"), 2);
    assert_eq!(const_usize(&b.module, "ATOMS"), 0);
    // Frames need a property.
    let args = bake::parse_args(&[
        "tests/fixtures/acasxu/onnx/ACASXU_run2a_2_1_batch_2000.onnx",
        "-o",
        "/dev/null",
        "--frames",
        "3",
    ])
    .unwrap();
    assert!(bake::bake(&args, &root()).unwrap_err().contains("--frames needs a property"));
    // Every printed weight parses back to its bits.
    let g = onnx::load(&root().join("tests/fixtures/acasxu/onnx/ACASXU_run2a_2_1_batch_2000.onnx"))
        .unwrap()
        .graph::<f32>();
    for w in &g.weights {
        assert_eq!(format!("{w:?}").parse::<f32>().unwrap().to_bits(), w.to_bits());
    }
}

/// `bake --alpha-iters N` (off by default, so the committed modules stay as they are): the plan
/// reserves the α optimiser's buffers (`.with_alpha()`, and `SCALARS` counts them), the settings
/// carry the iterations, and the text stays rustfmt-formatted.
#[test]
fn bake_with_alpha_reserves_its_buffers() {
    let mut args = header_args(&committed(MODULES[0]));
    args.alpha_iters = 20;
    args.frames = genbab_cli::bake::FramesArg::Count(6);
    let dir = std::env::temp_dir().join(format!("genbab-bake-alpha-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let output = dir.join("acas_alpha.rs");
    args.output = Some(output.clone());
    let baked = bake::bake(&args, &root()).unwrap();
    let text = &baked.module;
    assert!(text.contains("use genbab_core::alpha::AlphaSettings;"));
    assert!(text.contains("        alpha: AlphaSettings { iters: 20, ..AlphaSettings::OFF },"));
    assert!(text.contains("--alpha-iters 20"));
    let plan_item = text.split("pub const PLAN: BabPlan =").nth(1).and_then(|t| t.split(';').next()).unwrap();
    assert!(
        plan_item.trim().starts_with("BabPlan::from_sizes(") && plan_item.ends_with(".with_alpha()"),
        "{plan_item}"
    );
    let model = onnx::load(&root().join(&args.model)).unwrap();
    let og = model.graph::<f32>();
    let g = og.graph();
    let plan =
        BabPlan::new(&g, const_usize(text, "ATOMS"), args.domains, args.depth, args.chunk, false).unwrap();
    let plan = BabPlan { bound: bake::bound_plan(&g, plan.bound, &args), ..plan };
    assert_eq!(const_usize(text, "SCALARS"), plan.with_alpha().scalars());
    assert!(plan.with_alpha().scalars() > plan.scalars());
    std::fs::write(&output, text).unwrap();
    let out = std::process::Command::new("rustfmt")
        .args(["--edition", "2024", "--check", "--config-path"])
        .arg(root().join("rustfmt.toml"))
        .arg(&output)
        .output();
    if let Ok(out) = out {
        assert!(out.status.success(), "not rustfmt-formatted:\n{}", String::from_utf8_lossy(&out.stdout));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--method auto` replays the frames with each engine, cheapest first, and takes the first that
/// certifies as many as the best; the module it bakes is the chosen engine's, command line
/// included. On the committed ml4acopf module's settings and stream it picks the zonotope.
#[test]
fn method_auto_takes_the_cheapest_engine_that_certifies_as_many() {
    let mut args = header_args(&committed("firmware-example/src/models/acopf.rs"));
    let explicit = args.method;
    args.method = bake::MethodArg::Auto;
    let (pick, trials) = bake::choose_method(&args, &root()).unwrap();
    let words: Vec<&str> = trials.iter().map(|t| t.method.word()).collect();
    // 22 inputs, 8 symbols: a zonotope domain (35 passes) is cheaper than forward mode's (47).
    assert_eq!(words, ["ibp-crown", "zonotope", "forward", "crown"]);
    let best = trials.iter().map(|t| t.certified).max().unwrap();
    let first = trials.iter().position(|t| t.certified == best).unwrap();
    assert_eq!(pick, trials[first].method);
    assert!(trials.iter().all(|t| t.frames == 51 && t.certified <= t.frames));
    // The interval engine proves less here: the choice is not the first one by default.
    assert!(trials[0].certified < best, "{trials:?}");
    assert_eq!(pick, explicit, "the committed module's engine is the one auto picks");
    let auto = bake::bake(&args, &root()).unwrap();
    args.method = pick;
    assert_eq!(auto.module, bake::bake(&args, &root()).unwrap().module);
    // Without frames there is nothing to choose on.
    let args = bake::parse_args(&[
        "firmware-example/models/14_ieee_ml4acopf.onnx",
        "firmware-example/models/14_ieee_prop6.vnnlib",
        "-o",
        "/dev/null",
        "--method",
        "auto",
    ])
    .unwrap();
    assert!(bake::bake(&args, &root()).unwrap_err().contains("--method auto: give --frames"));
}

/// `--certificate-region`: the committed ACAS Xu module's certificate is valid for the baked graph
/// over its region (with the device's plan), the region lies in the property's box, and a region
/// with other output constraints or one where the property fails gets no certificate.
#[test]
fn baked_certificate_checks_and_bad_regions_are_refused() {
    use genbab_core::cert::{self, CheckBuffers, Invalid};
    let g = acas::graph();
    let plan = Plan::new(&g, acas::CHUNK).unwrap();
    let (mut s, mut f) = (vec![0f32; plan.scalars()], vec![false; plan.flags()]);
    let mut ws = Workspace::new(plan, &mut s, &mut f).unwrap();
    let (mut cs, mut cw) = (vec![0f32; acas::CERT_PLAN.scalars()], vec![0u32; acas::CERT_PLAN.words()]);
    let mut buf = CheckBuffers::new(acas::CERT_PLAN, &mut cs, &mut cw).unwrap();
    let spec = acas::cert_spec();
    let r =
        cert::check(&acas::CERTIFICATE, &g, &[spec], &Config::default(), None, &mut ws, &mut buf).unwrap();
    assert_eq!(r.depth as usize, acas::CERT_PLAN.depth);
    assert!(r.leaves > 1);
    for i in 0..acas::INPUT_LEN {
        assert!(acas::SPEC_LO[i] <= acas::CERT_LO[i] && acas::CERT_HI[i] <= acas::SPEC_HI[i]);
    }
    // The property's whole box is another property (and does not hold).
    let whole = acas::spec();
    let r = cert::check(&acas::CERTIFICATE, &g, &[whole], &Config::default(), None, &mut ws, &mut buf);
    assert_eq!(r, Err(Invalid::Property));

    let dir = tempfile::tempdir().unwrap();
    let region = std::fs::read_to_string(root().join("firmware-example/models/acas_region.vnnlib")).unwrap();
    let bake_with = |text: &str| {
        let p = dir.path().join("region.vnnlib");
        std::fs::write(&p, text).unwrap();
        let mut a = header_args(&committed(MODULES[0]));
        a.certificate_region = Some(p);
        a.output = None;
        bake::bake(&a, &root())
    };
    // Other output constraints.
    let other = region.replace("(assert (<= Y_4 Y_0))", "(assert (<= Y_4 Y_1))");
    assert!(bake_with(&other).err().unwrap().contains("not the property's"));
    // A region where the property has a counterexample (the property's whole box): no
    // certificate.
    let whole = std::fs::read_to_string(root().join("firmware-example/models/prop_2.vnnlib")).unwrap();
    assert!(bake_with(&whole).err().unwrap().contains("no certificate"));
}
