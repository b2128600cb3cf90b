//! No-heap link check for genbab-core.
//!
//! A bare `#![no_std]` Cortex-M binary with **no global allocator** that uses genbab-core with its
//! default features: it builds a small model in statics, validates and evaluates it, and does one
//! fixed-point computation. If the core ever depends on the `alloc` crate without the `alloc`
//! feature, linking this binary fails ("no global memory allocator found but one is required").
//! It is built by CI, never run.
#![no_std]
#![no_main]

use core::hint::black_box;

use cortex_m_rt::entry;
use genbab_core::graph::{Graph, Node, Op, Span, Unary};
use genbab_core::num::{Fix, Scalar};

static WEIGHTS: [f32; 13] = [
    1.0, 2.0, -1.0, 1.0, 0.5, -0.5, // W1 (3×2)
    0.5, 1.0, 2.0, // b1
    1.0, -2.0, 0.25,  // W2 (1×3)
    0.125, // b2
];
static NODES: [Node; 4] = [
    Node { op: Op::Input, len: 2 },
    Node { op: Op::Affine { x: 0, w: Span::new(0, 6), b: Span::new(6, 3) }, len: 3 },
    Node { op: Op::Unary { x: 1, f: Unary::Relu }, len: 3 },
    Node { op: Op::Affine { x: 2, w: Span::new(9, 3), b: Span::new(12, 1) }, len: 1 },
];
static MODEL: Graph<'static, f32> = Graph { nodes: &NODES, weights: &WEIGHTS, indices: &[], output: 3 };

#[entry]
fn main() -> ! {
    let model = black_box(MODEL);
    let ok = model.validate().is_ok();
    let mut values = [0.0f32; 9];
    let y = match model.eval(&black_box([1.0, 2.0]), &mut values) {
        Ok(out) => out.first().copied().unwrap_or(f32::NAN),
        Err(_) => f32::NAN,
    };
    let a = Fix::from_f64_near(black_box(1.5));
    let b = Fix::from_f64_near(black_box(-2.25));
    let z = a.mul_down(b).add_up(Fix::ONE);
    loop {
        black_box((ok, y, z));
        idle();
    }
}

/// Idle between iterations (a spin hint keeps clippy's `empty_loop` quiet).
#[inline(always)]
fn idle() {
    core::hint::spin_loop();
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {
        core::hint::spin_loop();
    }
}
