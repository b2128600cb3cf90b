//! The elementwise functions of the IR, named apart from the graph so that the relaxations (and
//! the tables built from them) need not know the graph, and the graph's evaluator can use them.

/// Elementwise nonlinearities (and the two sign/abs maps).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Unary {
    /// max(x, 0)
    Relu,
    /// x if x ≥ 0 else αx, with 0 ≤ α ≤ 1.
    LeakyRelu(f32),
    /// 1 / (1 + e^{−x})
    Sigmoid,
    /// tanh x
    Tanh,
    /// sin x
    Sin,
    /// cos x
    Cos,
    /// x·Φ(x) (exact, erf-based GeLU)
    Gelu,
    /// e^x
    Exp,
    /// ln x (x > 0)
    Log,
    /// 1/x (x > 0)
    Reciprocal,
    /// √x (x ≥ 0)
    Sqrt,
    /// x^n for an integer n ≥ 2 (n = 2 is the square).
    Pow(u8),
    /// −x
    Neg,
    /// |x|
    Abs,
    /// ⌊x⌋ (range reduction before periodic approximations; split at its steps).
    Floor,
    /// `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))` (the tanh-approximated GeLU, ONNX `Gelu`
    /// with `approximate="tanh"`). Last, so that the baked blobs' unary tags (declaration order)
    /// of the older variants keep their values.
    GeluTanh,
}
