//! IBP and CROWN on an ACAS-Xu-shaped ReLU MLP (5 → 6×50 → 5), an ERAN-shaped sigmoid MLP
//! (784 → 6×200 → 10), and a collins_rul_cnn-shaped CNN with its convolutions native and lowered
//! to gathers (the ratio is the native op's gain), in f32 and f64. Run:
//! `cargo bench -p genbab-tests --bench bounds`.

use criterion::{Criterion, criterion_group, criterion_main};
use genbab_core::bound::{Config, Deploy, Method, Plan, Workspace, output_bounds};
use genbab_core::graph::Unary;
use genbab_core::num::Scalar;
use genbab_tests::random_dag::{OwnedGraph, collins_like_cnn, gather_lowered, mlp};

fn bench_one<T: Scalar>(c: &mut Criterion, name: &str, g64: &OwnedGraph<f64>, radius: f64) {
    let gt: OwnedGraph<T> = g64.convert();
    let g = gt.graph();
    let d = g.input_len();
    let n = g.output_len();
    let lo: Vec<T> = (0..d).map(|i| T::from_f64_down(0.3 * ((i % 7) as f64 / 7.0) - radius)).collect();
    let hi: Vec<T> = (0..d).map(|i| T::from_f64_up(0.3 * ((i % 7) as f64 / 7.0) + radius)).collect();
    let plan = Plan::new(&g, 64).unwrap();
    let mut buf = vec![T::ZERO; plan.scalars()];
    let mut flags = vec![false; plan.flags()];
    let mut ws = Workspace::new(plan, &mut buf, &mut flags).unwrap();
    let (mut olo, mut ohi, mut rows) = (vec![T::ZERO; n], vec![T::ZERO; n], vec![T::ZERO; n * n]);
    for method in [Method::Ibp, Method::Crown] {
        let cfg = Config { method, deploy: Deploy::F32 };
        c.bench_function(&format!("{name}/{method:?}/{}", T::NAME), |b| {
            b.iter(|| output_bounds(&mut ws, &g, &lo, &hi, &cfg, &mut rows, &mut olo, &mut ohi).unwrap())
        });
    }
}

fn benches(c: &mut Criterion) {
    let acas = mlp(1, &[5, 50, 50, 50, 50, 50, 50, 5], Unary::Relu);
    bench_one::<f32>(c, "acas_5x6x50_relu", &acas, 0.05);
    bench_one::<f64>(c, "acas_5x6x50_relu", &acas, 0.05);
    let sig = mlp(2, &[784, 200, 200, 200, 200, 200, 200, 10], Unary::Sigmoid);
    bench_one::<f32>(c, "mnist_784x6x200_sigmoid", &sig, 0.015);
    bench_one::<f64>(c, "mnist_784x6x200_sigmoid", &sig, 0.015);
    let cnn = collins_like_cnn(3);
    bench_one::<f32>(c, "cnn_20x20_native_conv", &cnn, 0.01);
    bench_one::<f32>(c, "cnn_20x20_gather_lowered", &gather_lowered(&cnn), 0.01);
}

criterion_group! {
    name = group;
    config = Criterion::default().sample_size(10);
    targets = benches
}
criterion_main!(group);
