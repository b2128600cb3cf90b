//! Bounding a graph and checking deployed values against the bounds, shared by the operator suites.

use genbab_core::alpha::{self, Alpha, AlphaPlan, AlphaSettings};
use genbab_core::bab::attack::Rng;
use genbab_core::bound::{Config, Deploy, Method, Plan, Workspace, output_bounds};
use genbab_core::graph::{Graph, OwnedGraph};
use genbab_core::num::Scalar;

use crate::sample::f32_in_box;

/// The bound plan `method` needs for `g` (the forward-mode arena for [`Method::Forward`], 16
/// noise symbols for [`Method::Zonotope`]).
pub fn plan_for<T: Scalar>(g: &Graph<'_, T>, chunk: usize, method: Method) -> Option<Plan> {
    let plan = Plan::new(g, chunk).ok()?;
    Some(match method {
        Method::Forward => plan.with_forward_for(g),
        Method::Zonotope => plan.with_zonotope_for(g, 16),
        _ => plan,
    })
}

/// Certified output bounds of `g` over `[lo, hi]` by `method`, or by α-CROWN (20 iterations)
/// for `None`; `None` back if the engine refused (e.g. a fixed-point overflow).
pub fn bounds<T: Scalar>(
    g: &Graph<'_, T>,
    lo: &[T],
    hi: &[T],
    method: Option<Method>,
) -> Option<(Vec<f64>, Vec<f64>)> {
    let n = g.output_len();
    let plan = plan_for(g, 8, method.unwrap_or(Method::Crown))?;
    let mut buf = vec![T::ZERO; plan.scalars()];
    let mut flags = vec![false; plan.flags()];
    let mut ws = Workspace::new(plan, &mut buf, &mut flags).ok()?;
    let cfg = Config { method: method.unwrap_or(Method::Crown), deploy: Deploy::F32 };
    let (mut l, mut h, mut rows) = (vec![T::ZERO; n], vec![T::ZERO; n], vec![T::ZERO; n * n]);
    if method.is_some() {
        output_bounds(&mut ws, g, lo, hi, &cfg, &mut rows, &mut l, &mut h).ok()?;
    } else {
        let ap = AlphaPlan::for_plan(&plan, g.input_len());
        let mut abuf = vec![T::ZERO; ap.scalars()];
        let mut al = Alpha::new(ap, &mut abuf).ok()?;
        let set = AlphaSettings { iters: 20, ..AlphaSettings::default() };
        let mut row = vec![T::ZERO; n];
        alpha::output_bounds(&mut ws, &mut al, g, lo, hi, &cfg, &set, &mut row, &mut l, &mut h).ok()?;
    }
    Some((l.iter().map(|v| v.to_f64()).collect(), h.iter().map(|v| v.to_f64()).collect()))
}

/// Bound `g64` (converted to `T`) by `method` (as [`bounds`]) over a random box of `radius`
/// around a point of `[-1, 1]^d` (seeded), then evaluate the f32 network at 150 points of the box
/// (two corners, points on faces, uniform points) both by the core's forward pass and by `other`
/// (another valid deployment, e.g. another summation order): every value must lie inside.
/// Returns the summed output width, or `None` if the engine refused.
pub fn check_deployments<T: Scalar>(
    g64: &OwnedGraph<f64>,
    method: Option<Method>,
    seed: u64,
    radius: f64,
    other: impl Fn(&Graph<'_, f32>, &[f32]) -> Vec<f32>,
) -> Option<f64> {
    let gt: OwnedGraph<T> = g64.convert();
    let g32: OwnedGraph<f32> = g64.convert();
    let (g, g32) = (gt.graph(), g32.graph());
    let d = g.input_len();
    let mut rng = Rng::new(seed);
    let centre: Vec<f64> = (0..d).map(|_| rng.unit() * 2.0 - 1.0).collect();
    let lo: Vec<T> = centre.iter().map(|c| T::from_f64_down(c - radius)).collect();
    let hi: Vec<T> = centre.iter().map(|c| T::from_f64_up(c + radius)).collect();
    let (olo, ohi) = bounds(&g, &lo, &hi, method)?;
    let mut vals = vec![0.0f32; g32.total_len()];
    for s in 0..150 {
        let x: Vec<f32> = (0..d)
            .map(|i| {
                let t = match s {
                    0 => 0.0,
                    1 => 1.0,
                    _ if s % 3 == 0 => (rng.next_u64() & 1) as f64,
                    _ => rng.unit(),
                };
                f32_in_box(lo[i].to_f64(), hi[i].to_f64(), t)
            })
            .collect();
        let y = g32.eval(&x, &mut vals).ok()?.to_vec();
        let y2 = other(&g32, &x);
        for j in 0..y.len() {
            for v in [y[j] as f64, y2[j] as f64] {
                assert!(
                    olo[j] <= v && v <= ohi[j],
                    "{} {method:?} seed {seed}: output {j} = {v} outside [{}, {}]",
                    T::NAME,
                    olo[j],
                    ohi[j]
                );
            }
        }
    }
    Some((0..olo.len()).map(|j| ohi[j] - olo[j]).sum())
}
