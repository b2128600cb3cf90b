//! Loader unit tests: small models built with the protobuf types, serialised, loaded, and
//! evaluated against values computed by hand.

use onnx_protobuf::{
    AttributeProto, GraphProto, Message, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
    TensorShapeProto, TypeProto, ValueInfoProto, tensor_shape_proto, type_proto,
};

use super::{Limits, LoadError, Model, load_bytes};

pub(crate) fn tensor(name: &str, dims: &[i64], data: &[f32]) -> TensorProto {
    let mut t = TensorProto::new();
    t.name = name.into();
    t.dims = dims.to_vec();
    t.data_type = 1;
    t.float_data = data.to_vec();
    t
}

pub(crate) fn itensor(name: &str, dims: &[i64], data: &[i64]) -> TensorProto {
    let mut t = TensorProto::new();
    t.name = name.into();
    t.dims = dims.to_vec();
    t.data_type = 7;
    t.int64_data = data.to_vec();
    t
}

pub(crate) fn value_info(name: &str, dims: &[i64]) -> ValueInfoProto {
    let mut shape = TensorShapeProto::new();
    for &d in dims {
        let mut dim = tensor_shape_proto::Dimension::new();
        dim.value = Some(if d < 0 {
            tensor_shape_proto::dimension::Value::DimParam("batch".into())
        } else {
            tensor_shape_proto::dimension::Value::DimValue(d)
        });
        shape.dim.push(dim);
    }
    let mut tt = type_proto::Tensor::new();
    tt.elem_type = 1;
    tt.shape = Some(shape).into();
    let mut ty = TypeProto::new();
    ty.value = Some(type_proto::Value::TensorType(tt));
    let mut v = ValueInfoProto::new();
    v.name = name.into();
    v.type_ = Some(ty).into();
    v
}

pub(crate) fn node(
    op: &str,
    name: &str,
    inputs: &[&str],
    outputs: &[&str],
    attrs: Vec<AttributeProto>,
) -> NodeProto {
    let mut n = NodeProto::new();
    n.op_type = op.into();
    n.name = name.into();
    n.input = inputs.iter().map(|s| s.to_string()).collect();
    n.output = outputs.iter().map(|s| s.to_string()).collect();
    n.attribute = attrs;
    n
}

pub(crate) fn ints(name: &str, v: &[i64]) -> AttributeProto {
    let mut a = AttributeProto::new();
    a.name = name.into();
    a.ints = v.to_vec();
    a
}

pub(crate) fn int(name: &str, v: i64) -> AttributeProto {
    let mut a = AttributeProto::new();
    a.name = name.into();
    a.i = v;
    a
}

pub(crate) fn model(
    input: (&str, &[i64]),
    output: &str,
    nodes: Vec<NodeProto>,
    inits: Vec<TensorProto>,
    opset: i64,
) -> Vec<u8> {
    let mut g = GraphProto::new();
    g.input.push(value_info(input.0, input.1));
    g.output.push(value_info(output, &[]));
    g.node = nodes;
    g.initializer = inits;
    let mut m = ModelProto::new();
    m.ir_version = 8;
    let mut o = OperatorSetIdProto::new();
    o.version = opset;
    m.opset_import.push(o);
    m.graph = Some(g).into();
    m.write_to_bytes().unwrap()
}

fn load(bytes: &[u8]) -> Result<Model, LoadError> {
    // `GENBAB_FUZZ_SEEDS=DIR cargo test -p genbab-cli --lib onnx::` writes these models as fuzz seeds.
    if let Some(dir) = std::env::var_os("GENBAB_FUZZ_SEEDS") {
        let h =
            bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3));
        let _ = std::fs::write(std::path::Path::new(&dir).join(format!("seed_unit_{h:016x}.onnx")), bytes);
    }
    load_bytes(bytes, "test.onnx", Limits::default())
}

fn eval(m: &Model, x: &[f64]) -> Vec<f64> {
    m.graph::<f64>().eval(x).unwrap()
}

fn close(a: &[f64], b: &[f64]) {
    assert_eq!(a.len(), b.len(), "{a:?} vs {b:?}");
    for (p, q) in a.iter().zip(b) {
        assert!((p - q).abs() <= 1e-9 * (1.0 + q.abs()), "{a:?} vs {b:?}");
    }
}

#[test]
fn gemm_relu_is_one_affine_and_a_relu() {
    // y = relu(x W^T + b), x: [1, 2], W: [3, 2]
    let b = model(
        ("x", &[-1, 2]),
        "y",
        vec![
            node("Gemm", "fc", &["x", "W", "b"], &["h"], vec![int("transB", 1)]),
            node("Relu", "act", &["h"], &["y"], vec![]),
        ],
        vec![tensor("W", &[3, 2], &[1.0, 2.0, -1.0, 0.5, 0.0, 3.0]), tensor("b", &[3], &[0.5, 0.0, -10.0])],
        13,
    );
    let m = load(&b).unwrap();
    assert_eq!(m.nodes.len(), 3);
    assert_eq!(m.input_shape, vec![1, 2]);
    close(&eval(&m, &[1.0, 2.0]), &[5.5, 0.0, 0.0]);
}

#[test]
fn acas_style_sub_flatten_matmul_add() {
    let b = model(
        ("x", &[1, 1, 1, 2]),
        "y",
        vec![
            node("Sub", "norm", &["x", "mean"], &["a"], vec![]),
            node("Flatten", "fl", &["a"], &["f"], vec![]),
            node("MatMul", "mm", &["f", "W"], &["p"], vec![]),
            node("Add", "add", &["p", "b"], &["y"], vec![]),
        ],
        vec![
            tensor("mean", &[2], &[1.0, -1.0]),
            tensor("W", &[2, 2], &[1.0, 2.0, 3.0, 4.0]),
            tensor("b", &[2], &[0.5, 0.25]),
        ],
        8,
    );
    let m = load(&b).unwrap();
    // The Sub is rounded on its own (not folded into the matrix); Flatten vanishes and the Add
    // becomes the MatMul's bias.
    assert_eq!(m.nodes.len(), 3, "{:?}", m.nodes);
    // (x - mean) = [0, 3]; [0,3] @ [[1,2],[3,4]] = [9, 12]; + b
    close(&eval(&m, &[1.0, 2.0]), &[9.5, 12.25]);
}

#[test]
fn transpose_reshape_slice_concat_gather() {
    // x: [2, 3] -> transpose [3, 2] -> reshape [6] -> slice [1:5:2] -> concat with gather
    let b = model(
        ("x", &[2, 3]),
        "y",
        vec![
            node("Transpose", "t", &["x"], &["t"], vec![ints("perm", &[1, 0])]),
            node("Reshape", "r", &["t", "shape"], &["r"], vec![]),
            node("Slice", "s", &["r", "st", "en", "ax", "sp"], &["s"], vec![]),
            node("Gather", "g", &["r", "gi"], &["g"], vec![int("axis", 0)]),
            node("Concat", "c", &["s", "g"], &["y"], vec![int("axis", 0)]),
        ],
        vec![
            itensor("shape", &[1], &[-1]),
            itensor("st", &[1], &[1]),
            itensor("en", &[1], &[5]),
            itensor("ax", &[1], &[0]),
            itensor("sp", &[1], &[2]),
            itensor("gi", &[2], &[-1, 0]),
        ],
        13,
    );
    let m = load(&b).unwrap();
    // x = [[0,1,2],[3,4,5]] -> t = [[0,3],[1,4],[2,5]] -> r = [0,3,1,4,2,5]
    // slice 1:5:2 -> [3, 4]; gather [-1, 0] -> [5, 0]
    close(&eval(&m, &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]), &[3.0, 4.0, 5.0, 0.0]);
}

#[test]
fn products_division_pow_and_softmax() {
    // y = softmax(x * x / (x + 3)^2 - 1/x)  over the last axis
    let b = model(
        ("x", &[1, 3]),
        "y",
        vec![
            node("Mul", "sq", &["x", "x"], &["sq"], vec![]),
            node("Add", "a3", &["x", "three"], &["a3"], vec![]),
            node("Pow", "p2", &["a3", "two"], &["p2"], vec![]),
            node("Div", "d", &["sq", "p2"], &["d"], vec![]),
            node("Reciprocal", "rc", &["x"], &["rc"], vec![]),
            node("Sub", "s", &["d", "rc"], &["s"], vec![]),
            node("Softmax", "sm", &["s"], &["y"], vec![int("axis", -1)]),
        ],
        vec![tensor("three", &[], &[3.0]), tensor("two", &[1], &[2.0])],
        13,
    );
    let m = load(&b).unwrap();
    let x = [1.0f64, 2.0, 0.5];
    let s: Vec<f64> = x.iter().map(|v| v * v / ((v + 3.0) * (v + 3.0)) - 1.0 / v).collect();
    let z: f64 = s.iter().map(|v| v.exp()).sum();
    let want: Vec<f64> = s.iter().map(|v| v.exp() / z).collect();
    close(&eval(&m, &x), &want);
}

#[test]
fn var_times_var_matmul_and_reduce_mean() {
    // x: [2, 2]; y = mean over axis 1 of (x @ x)
    let b = model(
        ("x", &[2, 2]),
        "y",
        vec![
            node("MatMul", "mm", &["x", "x"], &["p"], vec![]),
            node("ReduceMean", "rm", &["p"], &["y"], vec![ints("axes", &[1]), int("keepdims", 0)]),
        ],
        vec![],
        13,
    );
    let m = load(&b).unwrap();
    // [[1,2],[3,4]]^2 = [[7,10],[15,22]] -> means [8.5, 18.5]
    close(&eval(&m, &[1.0, 2.0, 3.0, 4.0]), &[8.5, 18.5]);
}

#[test]
fn conv_with_padding_stride_and_batchnorm() {
    // x: [1, 1, 3, 3], kernel [1, 1, 2, 2] of ones, pads 1, stride 2 -> out [1, 1, 2, 2]
    let b = model(
        ("x", &[1, 1, 3, 3]),
        "y",
        vec![
            node(
                "Conv",
                "conv",
                &["x", "K", "B"],
                &["c"],
                vec![ints("pads", &[1, 1, 1, 1]), ints("strides", &[2, 2])],
            ),
            node("BatchNormalization", "bn", &["c", "g", "be", "mu", "var"], &["y"], vec![]),
        ],
        vec![
            tensor("K", &[1, 1, 2, 2], &[1.0, 1.0, 1.0, 1.0]),
            tensor("B", &[1], &[0.5]),
            tensor("g", &[1], &[2.0]),
            tensor("be", &[1], &[1.0]),
            tensor("mu", &[1], &[0.5]),
            tensor("var", &[1], &[4.0]),
        ],
        13,
    );
    let m = load(&b).unwrap();
    let x: Vec<f64> = (1..=9).map(|v| v as f64).collect();
    // windows (padded top-left): [1], [2+3], [4+7], [5+6+8+9] -> + 0.5; bn: (c - 0.5) * 2 / sqrt(4 + eps) + 1
    let conv = [1.5, 5.5, 11.5, 28.5];
    // The parameters in f32 as onnxruntime's kernel forms them: s = 2/sqrt(4 + eps), c = 1 − 0.5·s.
    let s = 2.0f32 * (1.0 / (4.0f32 + 1e-5).sqrt());
    let c = 1.0f32 - 0.5 * s;
    let want: Vec<f64> = conv.iter().map(|&v| v * s as f64 + c as f64).collect();
    close(&eval(&m, &x), &want);
}

#[test]
fn shape_arithmetic_is_folded() {
    // Reshape x to Shape(x)[0] x -1 computed from Shape/Gather/Unsqueeze/Concat, then Where with
    // a folded condition.
    let b = model(
        ("x", &[-1, 2, 2]),
        "y",
        vec![
            node("Shape", "sh", &["x"], &["sh"], vec![]),
            node("Gather", "g0", &["sh", "zero"], &["n"], vec![int("axis", 0)]),
            node("Unsqueeze", "u", &["n", "ax0"], &["n1"], vec![]),
            node("Concat", "cat", &["n1", "minus1"], &["target"], vec![int("axis", 0)]),
            node("Reshape", "r", &["x", "target"], &["r"], vec![]),
            node("ConstantOfShape", "cos", &["target_len"], &["ones"], vec![]),
            node("Equal", "eq", &["mask", "one"], &["cond"], vec![]),
            node("Where", "w", &["cond", "r", "negs"], &["y"], vec![]),
        ],
        vec![
            itensor("zero", &[], &[0]),
            itensor("ax0", &[1], &[0]),
            itensor("minus1", &[1], &[-1]),
            itensor("target_len", &[1], &[4]),
            itensor("mask", &[4], &[1, 0, 1, 0]),
            itensor("one", &[], &[1]),
            tensor("negs", &[4], &[-1.0, -2.0, -3.0, -4.0]),
        ],
        13,
    );
    let m = load(&b).unwrap();
    close(&eval(&m, &[10.0, 20.0, 30.0, 40.0]), &[10.0, -2.0, 30.0, -4.0]);
}

#[test]
fn floor_and_ceil_of_variables_lower_to_the_floor_op() {
    let b = model(
        ("x", &[1, 4]),
        "y",
        vec![
            node("Floor", "fl", &["x"], &["f"], vec![]),
            node("Ceil", "ce", &["x"], &["c"], vec![]),
            node("Sub", "d", &["c", "f"], &["y"], vec![]),
        ],
        vec![],
        13,
    );
    let m = load(&b).unwrap();
    // ⌈x⌉ − ⌊x⌋: 1 off the integers, 0 on them.
    close(&eval(&m, &[-1.5, 2.0, 0.25, -3.0]), &[1.0, 0.0, 1.0, 0.0]);
}

#[test]
fn errors_name_the_node_the_op_and_the_file() {
    let b = model(
        ("x", &[1, 2]),
        "y",
        vec![node("Round", "rd", &["x"], &["f"], vec![]), node("Relu", "r", &["f"], &["y"], vec![])],
        vec![],
        13,
    );
    let e = load(&b).unwrap_err().to_string();
    assert_eq!(
        e,
        "test.onnx: node 'rd' (Round): Round of a value that depends on the network input is not supported (piecewise constant)"
    );
    let b = model(("x", &[1, 2]), "y", vec![node("LpPool", "", &["x"], &["y"], vec![])], vec![], 13);
    assert_eq!(
        load(&b).unwrap_err().to_string(),
        "test.onnx: node 'y' (LpPool): operator LpPool is not supported"
    );
    let b = model(("x", &[1, 2]), "y", vec![node("Relu", "r", &["nope"], &["y"], vec![])], vec![], 13);
    assert!(load(&b).unwrap_err().to_string().contains("input 'nope' is not produced"));
    // Two graph inputs: named as such, not as a missing value.
    let mut m = ModelProto::parse_from_bytes(&model(
        ("X1", &[1, 2]),
        "y",
        vec![node("Add", "a", &["X1", "X2"], &["y"], vec![])],
        vec![],
        13,
    ))
    .unwrap();
    m.graph.as_mut().unwrap().input.push(value_info("X2", &[1, 2]));
    assert_eq!(
        load(&m.write_to_bytes().unwrap()).unwrap_err().to_string(),
        "test.onnx: the graph has 2 inputs (X1, X2); only models with one input tensor are supported \
         (VNN-LIB's X_i index one input)"
    );
    assert!(matches!(load(b"\x0a\xff\xff").unwrap_err(), LoadError::Decode { .. }));
    // Absurd dimensions are refused, not allocated.
    let b = model(
        ("x", &[1, 2]),
        "y",
        vec![node("Relu", "r", &["x"], &["y"], vec![])],
        vec![itensor("big", &[1 << 40, 1 << 40], &[])],
        13,
    );
    assert!(load(&b).unwrap_err().to_string().contains("size limit"));

    // Found by review before fuzzing: SAME padding with an empty kernel underflowed.
    let mut same = AttributeProto::new();
    same.name = "auto_pad".into();
    same.s = b"SAME_UPPER".to_vec();
    let b = model(
        ("x", &[1, 1, 3, 3]),
        "y",
        vec![node("Conv", "c", &["x", "K"], &["y"], vec![same])],
        vec![tensor("K", &[1, 1, 0, 2], &[])],
        13,
    );
    assert!(load(&b).unwrap_err().to_string().contains("empty input"));
    // A convolution whose loops would run for ages is refused quickly.
    let b = model(
        ("x", &[1, 1, 64, 64]),
        "y",
        vec![node("Conv", "c", &["x", "K"], &["y"], vec![ints("pads", &[1 << 20, 1 << 20, 0, 0])])],
        vec![tensor("K", &[1, 1, 1, 1], &[1.0])],
        13,
    );
    assert!(load(&b).is_err());
}

#[test]
fn average_pooling_sums_its_window_and_divides() {
    // 1 × 1 × 3 × 3 input 1..9, 2 × 2 windows, stride 1, a leading pad of 1 in each dimension.
    let pool = |count_pad: i64| {
        model(
            ("x", &[1, 1, 3, 3]),
            "y",
            vec![node(
                "AveragePool",
                "p",
                &["x"],
                &["y"],
                vec![
                    ints("kernel_shape", &[2, 2]),
                    ints("pads", &[1, 1, 0, 0]),
                    int("count_include_pad", count_pad),
                ],
            )],
            vec![],
            13,
        )
    };
    let x: Vec<f64> = (1..=9).map(f64::from).collect();
    // Output 3 × 3; the window at (0, 0) holds only x[0] = 1, the one at (1, 1) holds 1, 2, 4, 5.
    let m = load(&pool(0)).unwrap();
    assert!(m.nodes.iter().any(|n| matches!(n.op, genbab_core::graph::Op::Conv { .. })));
    let y = eval(&m, &x);
    close(&y, &[1.0, 1.5, 2.5, 2.5, 3.0, 4.0, 5.5, 6.0, 7.0]);
    let y = eval(&load(&pool(1)).unwrap(), &x);
    close(&y, &[0.25, 0.75, 1.25, 1.25, 3.0, 4.0, 2.75, 6.0, 7.0]);
    // Global: the mean of each channel.
    let b = model(
        ("x", &[1, 1, 3, 3]),
        "y",
        vec![node("GlobalAveragePool", "g", &["x"], &["y"], vec![])],
        vec![],
        13,
    );
    close(&eval(&load(&b).unwrap(), &x), &[5.0]);
    // What is refused, with the reason.
    for (attrs, why) in [
        (vec![ints("kernel_shape", &[2, 2]), int("ceil_mode", 1)], "ceil_mode"),
        (vec![ints("kernel_shape", &[2, 2]), ints("dilations", &[2, 1])], "dilated"),
        (vec![ints("kernel_shape", &[2])], "kernel_shape"),
    ] {
        let b = model(
            ("x", &[1, 1, 3, 3]),
            "y",
            vec![node("AveragePool", "p", &["x"], &["y"], attrs)],
            vec![],
            13,
        );
        let e = load(&b).unwrap_err().to_string();
        assert!(e.contains("(AveragePool)") && e.contains(why), "{e}");
    }
    let b = model(
        ("x", &[1, 1, 2, 2, 2]),
        "y",
        vec![node("AveragePool", "p", &["x"], &["y"], vec![ints("kernel_shape", &[1, 1, 1])])],
        vec![],
        13,
    );
    assert!(load(&b).unwrap_err().to_string().contains("only 1-D and 2-D pooling"));
}

#[test]
fn max_min_and_max_pooling_are_exact_in_the_reference() {
    // Max of two variables and a constant, Min with a constant.
    let b = model(
        ("x", &[2]),
        "y",
        vec![
            node("Slice", "s0", &["x", "z", "o"], &["a"], vec![]),
            node("Slice", "s1", &["x", "o", "t"], &["b"], vec![]),
            node("Max", "mx", &["a", "b", "c"], &["m"], vec![]),
            node("Min", "mn", &["m", "d"], &["y"], vec![]),
        ],
        vec![
            itensor("z", &[1], &[0]),
            itensor("o", &[1], &[1]),
            itensor("t", &[1], &[2]),
            tensor("c", &[], &[-5.0]),
            tensor("d", &[1], &[1e9]),
        ],
        13,
    );
    let m = load(&b).unwrap();
    // max(−1, 2^24 + 2): the engines' a + relu(b − a) rounds twice in f32 (to 2^24 + 4); the
    // reference, like onnxruntime, gives b exactly.
    let x = [-1.0f32, 16_777_218.0];
    assert_eq!(m.reference.eval(&x).unwrap(), vec![16_777_218.0]);
    assert_eq!(m.graph::<f32>().eval(&x).unwrap(), vec![16_777_220.0]);
    close(&eval(&m, &[-1.0, 3.0]), &[3.0]);
    close(&eval(&m, &[-7.0, -9.0]), &[-5.0]);
    close(&eval(&m, &[2e9, 0.0]), &[1e9]);
    // Max pooling ignores padding: 1 × 1 × 2 × 3 input, 2 × 2 windows, pads (1, 1, 0, 0).
    let pool = model(
        ("x", &[1, 1, 2, 3]),
        "y",
        vec![node(
            "MaxPool",
            "p",
            &["x"],
            &["y"],
            vec![ints("kernel_shape", &[2, 2]), ints("pads", &[1, 1, 0, 0])],
        )],
        vec![],
        13,
    );
    let x: Vec<f64> = vec![-1.0, -2.0, -3.0, -4.0, -5.0, -6.0];
    close(&eval(&load(&pool).unwrap(), &x), &[-1.0, -1.0, -2.0, -1.0, -1.0, -2.0]);
    for (attrs, outs, why) in [
        (vec![ints("kernel_shape", &[2, 2]), int("ceil_mode", 1)], vec!["y"], "ceil_mode"),
        (vec![ints("kernel_shape", &[2, 2])], vec!["y", "i"], "Indices"),
        (vec![ints("kernel_shape", &[2])], vec!["y"], "kernel_shape"),
    ] {
        let b =
            model(("x", &[1, 1, 2, 3]), "y", vec![node("MaxPool", "p", &["x"], &outs, attrs)], vec![], 13);
        let e = load(&b).unwrap_err().to_string();
        assert!(e.contains("(MaxPool)") && e.contains(why), "{e}");
    }
}

/// A LayerNormalization model: input `x` of shape `xs`, normalised from `axis` on, scale
/// `0.5 + k/4` (per normalised element `k`, alternating in sign) and, if `bias`, bias `k/8 − 0.3`.
fn layer_norm_model(xs: &[i64], axis: i64, bias: bool, eps: f32) -> (Vec<u8>, Vec<f32>, Option<Vec<f32>>) {
    let r = xs.len() as i64;
    let ax = if axis < 0 { axis + r } else { axis } as usize;
    let ns = &xs[ax..];
    let n: i64 = ns.iter().product();
    let sc: Vec<f32> = (0..n).map(|k| (0.5 + k as f32 / 4.0) * if k % 2 == 0 { 1.0 } else { -1.0 }).collect();
    let bi: Vec<f32> = (0..n).map(|k| k as f32 / 8.0 - 0.3).collect();
    let mut e = AttributeProto::new();
    e.name = "epsilon".into();
    e.f = eps;
    let mut inits = vec![tensor("S", ns, &sc)];
    let mut ins = vec!["x", "S"];
    if bias {
        inits.push(tensor("B", ns, &bi));
        ins.push("B");
    }
    let b = model(
        (("x"), xs),
        "y",
        vec![node("LayerNormalization", "ln", &ins, &["y"], vec![int("axis", axis), e])],
        inits,
        17,
    );
    (b, sc, bias.then_some(bi))
}

/// Output bounds of `g` over `[lo, hi]` by `method` (f32 deployment), `None` if the engine fails.
fn engine_bounds(
    g: &genbab_core::graph::Graph<'_, f64>,
    lo: &[f64],
    hi: &[f64],
    method: genbab_core::bound::Method,
) -> Option<(Vec<f64>, Vec<f64>)> {
    use genbab_core::bound::{Config, Deploy, Plan, Workspace, output_bounds};
    let n = g.output_len();
    let plan = Plan::new(g, 8).ok()?;
    let mut buf = vec![0.0; plan.scalars()];
    let mut flags = vec![false; plan.flags()];
    let mut ws = Workspace::new(plan, &mut buf, &mut flags).ok()?;
    let cfg = Config { method, deploy: Deploy::F32 };
    let (mut l, mut h, mut rows) = (vec![0.0; n], vec![0.0; n], vec![0.0; n * n]);
    output_bounds(&mut ws, g, lo, hi, &cfg, &mut rows, &mut l, &mut h).ok()?;
    Some((l, h))
}

/// LayerNormalization: the reference graph (the lowered IOps, unmerged) computes exactly what
/// the kernel does, row by row, on both of onnxruntime's paths (fewer than 8 elements: Welford;
/// 8 or more: the AVX2 kernel), rank 2 and 3, the last and a leading axis, with and without a
/// bias, and where the one-pass variance would cancel (mean 1000, spread 0.01); the core
/// graph's f32 evaluation agrees to rounding; and IBP and CROWN enclose the reference's values
/// at sampled points of a box.
#[test]
fn layer_norm_reference_is_the_kernel_and_bounds_enclose_it() {
    use genbab_core::bab::attack::Rng;
    use genbab_core::bound::Method;
    let mut rng = Rng::new(7);
    for (xs, axis, bias) in [
        (&[2i64, 5][..], -1, true),
        (&[3, 5][..], 1, false),
        (&[2, 9][..], -1, true),
        (&[1, 20][..], -1, false),
        (&[2, 3, 4][..], 1, true),
        (&[2, 3, 4][..], -1, false),
        (&[2, 3, 2][..], 0, true),
        (&[1, 1, 1][..], -1, true),
    ] {
        let (b, sc, bi) = layer_norm_model(xs, axis, bias, 1e-5);
        let m = load(&b).unwrap_or_else(|e| panic!("{e}"));
        let len = m.input_len();
        let ax = if axis < 0 { axis + xs.len() as i64 } else { axis } as usize;
        let n: usize = xs[ax..].iter().map(|&d| d as usize).product();
        for (centre, spread) in [(0.0f64, 1.0f64), (1000.0, 0.01), (-3.0, 1e-3)] {
            let lo: Vec<f64> =
                (0..len).map(|i| centre + spread * ((i * 37 % 11) as f64 / 5.0 - 1.0)).collect();
            let hi: Vec<f64> = lo.iter().map(|v| v + spread * 0.5).collect();
            let g = m.graph::<f64>();
            let lo32: Vec<f32> = lo.iter().map(|&v| (v as f32).next_down()).collect();
            let hi32: Vec<f32> = hi.iter().map(|&v| (v as f32).next_up()).collect();
            let (l64, h64): (Vec<f64>, Vec<f64>) =
                (lo32.iter().map(|&v| v as f64).collect(), hi32.iter().map(|&v| v as f64).collect());
            let boxes: Vec<Option<(Vec<f64>, Vec<f64>)>> = [Method::Ibp, Method::Crown]
                .iter()
                .map(|&mt| engine_bounds(&g.graph(), &l64, &h64, mt))
                .collect();
            for _ in 0..40 {
                let x: Vec<f32> =
                    lo32.iter().zip(&hi32).map(|(&l, &h)| l + (h - l) * rng.unit() as f32).collect();
                let want: Vec<f32> = x
                    .chunks(n)
                    .flat_map(|row| super::layer_norm_row(row, &sc, bi.as_deref(), 1e-5))
                    .collect();
                let got = m.reference.eval(&x).unwrap();
                assert_eq!(got, want, "{xs:?} axis {axis}: reference vs kernel at {x:?}");
                // The core graph in f32 is another valid deployment (its mean summed in f32, a
                // division as a product with the reciprocal): close where the row is well
                // conditioned, and inside the bounds everywhere.
                let y32 = m.graph::<f32>().eval(&x).unwrap();
                if centre == 0.0 {
                    for (a, w) in y32.iter().zip(&want) {
                        assert!((a - w).abs() <= 1e-5 * (1.0 + w.abs()), "{xs:?}: core f32 {a} vs {w}");
                    }
                }
                for (k, bx) in boxes.iter().enumerate() {
                    let (l, h) = bx.as_ref().unwrap_or_else(|| panic!("{xs:?} {centre}: method {k} failed"));
                    for (j, v) in want.iter().chain(&y32).enumerate() {
                        let (v, j) = (*v as f64, j % want.len());
                        assert!(
                            l[j] <= v && v <= h[j],
                            "{xs:?} {centre} method {k}: Y_{j} {v} outside [{}, {}]",
                            l[j],
                            h[j]
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn layer_norm_refuses_what_it_does_not_model() {
    let ln = |ins: &[&str], outs: &[&str], inits: Vec<TensorProto>, pre: Vec<NodeProto>| {
        let mut nodes = pre;
        nodes.push(node("LayerNormalization", "ln", ins, outs, vec![]));
        load(&model(("x", &[2, 4]), outs[0], nodes, inits, 17)).unwrap_err().to_string()
    };
    let s = || tensor("S", &[4], &[1.0, 2.0, 3.0, 4.0]);
    assert_eq!(
        ln(&["x", "S"], &["y", "mean"], vec![s()], vec![]),
        "test.onnx: node 'ln' (LayerNormalization): only output 0 (Y) is supported, not the Mean and InvStdDev outputs"
    );
    assert_eq!(
        ln(&["x", "x"], &["y"], vec![], vec![]),
        "test.onnx: node 'ln' (LayerNormalization): the scale (input 1) must be a constant, but it depends on the network input"
    );
    assert_eq!(
        ln(&["x", "S", "x"], &["y"], vec![s()], vec![]),
        "test.onnx: node 'ln' (LayerNormalization): the bias (input 2) must be a constant, but it depends on the network input"
    );
    assert_eq!(
        ln(&["x", "S"], &["y"], vec![tensor("S", &[2, 4], &[1.0; 8])], vec![]),
        "test.onnx: node 'ln' (LayerNormalization): the scale has shape [2, 4], not the normalised shape [4] (broadcasting it is not supported)"
    );
    // A constant input is folded with the kernel.
    let b = model(
        ("x", &[1, 4]),
        "y",
        vec![
            node("LayerNormalization", "ln", &["C", "S"], &["n"], vec![]),
            node("Add", "a", &["x", "n"], &["y"], vec![]),
        ],
        vec![s(), tensor("C", &[1, 4], &[1.0, 2.0, 4.0, 8.0])],
        17,
    );
    let want = super::layer_norm_row(&[1.0, 2.0, 4.0, 8.0], &[1.0, 2.0, 3.0, 4.0], None, 1e-5);
    let y = load(&b).unwrap().reference.eval(&[0.0f32; 4]).unwrap();
    assert_eq!(y, want);
}

#[test]
fn gelu_approximate_attribute_picks_the_function() {
    use genbab_core::graph::{Op, Unary};
    let approx = |s: &str| {
        let mut a = AttributeProto::new();
        a.name = "approximate".into();
        a.s = s.as_bytes().to_vec();
        a
    };
    let gelu = |attrs: Vec<AttributeProto>| {
        model(("x", &[3]), "y", vec![node("Gelu", "g", &["x"], &["y"], attrs)], vec![], 20)
    };
    let x = [-3.0, -0.5, 2.0];
    let erf = |v: f64| 0.5 * v * (1.0 + libm::erf(v / core::f64::consts::SQRT_2));
    let tanh = |v: f64| 0.5 * v * (1.0 + libm::tanh(0.797_884_560_802_865_4 * (v + 0.044_715 * v * v * v)));
    for (attrs, f, want) in [
        (vec![], Unary::Gelu, x.map(erf)),
        (vec![approx("none")], Unary::Gelu, x.map(erf)),
        (vec![approx("tanh")], Unary::GeluTanh, x.map(tanh)),
    ] {
        let m = load(&gelu(attrs)).unwrap();
        assert!(m.nodes.iter().any(|n| matches!(n.op, Op::Unary { f: g, .. } if g == f)), "{:?}", m.nodes);
        close(&eval(&m, &x), &want);
    }
    // On a constant: folded with the same function.
    let b = model(
        ("x", &[1]),
        "y",
        vec![
            node("Gelu", "g", &["c"], &["k"], vec![approx("tanh")]),
            node("Add", "a", &["x", "k"], &["y"], vec![]),
        ],
        vec![tensor("c", &[1], &[-1.5])],
        20,
    );
    close(&eval(&load(&b).unwrap(), &[1.0]), &[1.0 + tanh(-1.5)]);
    let e = load(&gelu(vec![approx("fast")])).unwrap_err().to_string();
    assert!(e.contains("(Gelu)") && e.contains("approximate=\"fast\""), "{e}");
}

/// The fuzzer's stack overflow (nested protobuf groups the `protobuf` crate skips by unbounded
/// recursion; one level per byte, so a few MB crash any build) is a one-line error, in the input
/// it found and in a million nested group starts.
#[test]
fn nested_protobuf_groups_are_an_error_not_a_stack_overflow() {
    let found = include_bytes!("../../../tests/fixtures/fuzz/onnx_nested_groups.onnx");
    for bytes in [&found[..], &vec![0x0b; 1 << 20][..]] {
        let e = load_bytes(bytes, "g.onnx", Limits::default()).unwrap_err().to_string();
        assert!(e.starts_with("g.onnx: ") && e.contains("groups nested deeper than"), "{e}");
    }
}
