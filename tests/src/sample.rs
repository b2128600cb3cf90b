//! Sampling the deployed (f32) network's inputs inside a box, for the soundness suites.

/// The f32 nearest to `l + t·(h − l)`, moved one step inward if rounding put it outside `[l, h]`
/// (the bounds only cover inputs inside the box).
pub fn f32_in_box(l: f64, h: f64, t: f64) -> f32 {
    let v = (l + t * (h - l)) as f32;
    if (v as f64) < l {
        v.next_up()
    } else if (v as f64) > h {
        v.next_down()
    } else {
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stays_inside() {
        // Ends that are not f32 values: the nearest f32 of each lies outside.
        let (l, h) = (0.1f64, 0.3f64);
        assert!((l as f32 as f64) < l || (h as f32 as f64) > h);
        for k in 0..=10 {
            let v = f32_in_box(l, h, k as f64 / 10.0) as f64;
            assert!(l <= v && v <= h, "{v}");
        }
    }
}
