//! Convolution (ONNX `Conv`, 1-D and 2-D): geometry and the three kernels every engine needs.
//!
//! A convolution is a sparse linear map with shared weights. Lowered to a dense matrix or to a
//! gather per nonzero it costs memory and time per *tap* (a 20×20 sensor-window CNN became 250,800
//! values); kept as a convolution it costs per *value*, and its backward pass is a transposed
//! convolution of the coefficient rows. All three kernels walk the same taps:
//!
//! - [`ConvGeom::for_each_tap`]: output element `k`'s input elements and weights (forward value,
//!   interval image, attack gradient);
//! - [`ConvGeom::scatter_row`]: `dst += a_k·W_k` over all `k` (the backward step).
//!
//! Geometry is stored as [`ConvGeom::WORDS`] words in the graph's `indices`, so a baked model
//! keeps it in flash with the index maps. A 1-D convolution is a 2-D one of height 1.

/// Shape of a convolution: input `c_in × h × w`, kernel `c_out × (c_in/groups) × kh × kw`,
/// output `c_out × oh × ow`, with strides, leading pads (the trailing pads only decide `oh`,
/// `ow`) and dilations. Taps that fall into the padding read zero and are skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct ConvGeom {
    pub c_in: usize,
    pub h: usize,
    pub w: usize,
    pub c_out: usize,
    pub groups: usize,
    pub kh: usize,
    pub kw: usize,
    pub sh: usize,
    pub sw: usize,
    pub ph: usize,
    pub pw: usize,
    pub dh: usize,
    pub dw: usize,
    pub oh: usize,
    pub ow: usize,
}

/// Largest size of one geometry field and of any product of them the kernels form (keeps every
/// index computation far from overflow on 32-bit targets).
const MAX: usize = 1 << 30;

impl ConvGeom {
    /// Words of the encoded geometry.
    pub const WORDS: usize = 15;

    /// The encoded form (field order as declared).
    pub fn encode(&self) -> [u32; Self::WORDS] {
        let f = [
            self.c_in,
            self.h,
            self.w,
            self.c_out,
            self.groups,
            self.kh,
            self.kw,
            self.sh,
            self.sw,
            self.ph,
            self.pw,
            self.dh,
            self.dw,
            self.oh,
            self.ow,
        ];
        f.map(|v| v as u32)
    }

    /// Decode and check: every size positive (pads may be 0), groups divide both channel counts,
    /// and all lengths small enough to index. `None` otherwise.
    pub fn decode(words: &[u32]) -> Option<ConvGeom> {
        let f: &[u32; Self::WORDS] = words.try_into().ok()?;
        let v = f.map(|x| x as usize);
        let g = ConvGeom {
            c_in: v[0],
            h: v[1],
            w: v[2],
            c_out: v[3],
            groups: v[4],
            kh: v[5],
            kw: v[6],
            sh: v[7],
            sw: v[8],
            ph: v[9],
            pw: v[10],
            dh: v[11],
            dw: v[12],
            oh: v[13],
            ow: v[14],
        };
        let positive = [g.c_in, g.h, g.w, g.c_out, g.groups, g.kh, g.kw, g.sh, g.sw, g.dh, g.dw, g.oh, g.ow];
        if positive.contains(&0) || v.iter().any(|&x| x >= MAX) {
            return None;
        }
        if !g.c_in.is_multiple_of(g.groups) || !g.c_out.is_multiple_of(g.groups) {
            return None;
        }
        let sizes = [
            [g.c_in, g.h, g.w],
            [g.c_out, g.oh, g.ow],
            [g.c_out, g.c_in / g.groups, g.kh * g.kw],
            // The furthest tap position must stay indexable.
            [g.oh, g.sh, 1],
            [g.ow, g.sw, 1],
            [g.kh, g.dh, 1],
            [g.kw, g.dw, 1],
        ];
        for [a, b, c] in sizes {
            match a.checked_mul(b).and_then(|p| p.checked_mul(c)) {
                Some(p) if p < MAX => {}
                _ => return None,
            }
        }
        Some(g)
    }

    /// `groups` independent dense maps of `k` inputs to `m` outputs side by side (a 1 × 1
    /// convolution of one position): a transformer's token-wise projection, one group per token.
    pub const fn grouped_dense(groups: usize, k: usize, m: usize) -> ConvGeom {
        ConvGeom {
            c_in: groups * k,
            h: 1,
            w: 1,
            c_out: groups * m,
            groups,
            kh: 1,
            kw: 1,
            sh: 1,
            sw: 1,
            ph: 0,
            pw: 0,
            dh: 1,
            dw: 1,
            oh: 1,
            ow: 1,
        }
    }

    /// Input length `c_in·h·w`.
    pub fn in_len(&self) -> usize {
        self.c_in * self.h * self.w
    }
    /// Output length `c_out·oh·ow`.
    pub fn out_len(&self) -> usize {
        self.c_out * self.oh * self.ow
    }
    /// Kernel length `c_out·(c_in/groups)·kh·kw`.
    pub fn weight_len(&self) -> usize {
        self.c_out * (self.c_in / self.groups) * self.kh * self.kw
    }
    /// Most taps of one output element: the number of terms of its dot product.
    pub fn taps(&self) -> usize {
        (self.c_in / self.groups) * self.kh * self.kw
    }
    /// The output channel of output element `k` (its bias index).
    #[inline]
    pub fn channel(&self, k: usize) -> usize {
        k / (self.oh * self.ow)
    }

    /// Kernel offsets `t` with `0 ≤ o·s + t·d − p < n`: the taps of output position `o` that fall
    /// inside the input along one axis.
    #[inline]
    fn inside(o: usize, s: usize, d: usize, p: usize, k: usize, n: usize) -> core::ops::Range<usize> {
        let base = o * s; // position of tap 0, plus p
        // t ≥ ceil((p − base)/d) and t·d < n + p − base.
        let lo = if base >= p { 0 } else { (p - base).div_ceil(d) };
        let hi = if n + p > base { (n + p - base).div_ceil(d).min(k) } else { 0 };
        lo..hi.max(lo)
    }

    /// Visit output element `k`'s taps in a fixed order (input channel, kernel row, kernel
    /// column) as runs of consecutive taps: `f(j, i, n)` stands for the taps `(j + t, i + t)`,
    /// `t < n`, with `j` the input element and `i` the weight index. Runs are as long as the
    /// geometry allows (a kernel row without dilation; all channels of a 1 × 1 convolution of a
    /// single position, i.e. a grouped dense map), so the kernels below are slice loops. Call
    /// only with `k < out_len()` on a decoded geometry.
    #[inline]
    pub fn for_each_run(&self, k: usize, mut f: impl FnMut(usize, usize, usize)) {
        let plane = self.oh * self.ow;
        let (co, p) = (k / plane, k % plane);
        let cg = self.c_in / self.groups;
        let g = co / (self.c_out / self.groups);
        if self.h * self.w * self.kh * self.kw * self.oh * self.ow == 1 {
            // One position in, one out: its only tap is inside unless a leading pad moved it out.
            if self.ph == 0 && self.pw == 0 {
                f(g * cg, co * cg, cg);
            }
            return;
        }
        let (oy, ox) = (p / self.ow, p % self.ow);
        let ys = Self::inside(oy, self.sh, self.dh, self.ph, self.kh, self.h);
        let xs = Self::inside(ox, self.sw, self.dw, self.pw, self.kw, self.w);
        if xs.is_empty() {
            return;
        }
        for ci in 0..cg {
            let cin = g * cg + ci;
            for ky in ys.clone() {
                let iy = oy * self.sh + ky * self.dh - self.ph;
                let row = (cin * self.h + iy) * self.w;
                let wrow = ((co * cg + ci) * self.kh + ky) * self.kw;
                let ix0 = ox * self.sw + xs.start * self.dw - self.pw;
                if self.dw == 1 {
                    f(row + ix0, wrow + xs.start, xs.len());
                } else {
                    for (t, kx) in xs.clone().enumerate() {
                        f(row + ix0 + t * self.dw, wrow + kx, 1);
                    }
                }
            }
        }
    }

    /// Visit output element `k`'s taps one by one, in [`ConvGeom::for_each_run`] order: `f(j, i)`.
    #[inline]
    pub fn for_each_tap(&self, k: usize, mut f: impl FnMut(usize, usize)) {
        self.for_each_run(k, |j, i, n| {
            for t in 0..n {
                f(j + t, i + t);
            }
        });
    }

    /// `out_k = b_c + Σ w_i·x_j` over output element `k`'s taps in [`ConvGeom::for_each_tap`]
    /// order, bias first (`b` empty: no bias), in `T`'s nearest arithmetic: the forward value.
    pub fn forward<T: crate::num::Scalar>(&self, w: &[T], b: &[T], x: &[T], out: &mut [T]) {
        for (k, o) in out.iter_mut().enumerate() {
            let mut acc = if b.is_empty() { T::ZERO } else { b[self.channel(k)] };
            self.for_each_run(k, |j, i, n| {
                for (wi, xj) in w[i..i + n].iter().zip(&x[j..j + n]) {
                    acc = acc.add(wi.mul(*xj));
                }
            });
            *o = acc;
        }
    }

    /// `dst[j] += a_k·w_i` over every output element `k` with `a_k ≠ 0` and its taps `(j, i)`,
    /// calling `each(k, a_k)` first for each such `k`: one coefficient row through the
    /// transposed convolution. Returns nothing; the caller bounds
    /// the rounding of these accumulations (each `dst[j]` receives at most `c_out/groups·kh·kw`
    /// terms, fewer than `out_len()`).
    #[inline]
    pub fn scatter_row<T: crate::num::Scalar>(
        &self,
        arow: &[T],
        w: &[T],
        dst: &mut [T],
        mut each: impl FnMut(usize, T),
    ) {
        for (k, &a) in arow.iter().enumerate() {
            if a == T::ZERO {
                continue;
            }
            each(k, a);
            self.for_each_run(k, |j, i, n| {
                for (d, wi) in dst[j..j + n].iter_mut().zip(&w[i..i + n]) {
                    *d = d.add(a.mul(*wi));
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec;
    use std::vec::Vec;

    /// The taps by brute force from the definition (every kernel offset, bounds-checked).
    fn taps_naive(g: &ConvGeom, k: usize) -> Vec<(usize, usize)> {
        let mut v = vec![];
        let plane = g.oh * g.ow;
        let (co, p) = (k / plane, k % plane);
        let (oy, ox) = (p / g.ow, p % g.ow);
        let cg = g.c_in / g.groups;
        let grp = co / (g.c_out / g.groups);
        for ci in 0..cg {
            for ky in 0..g.kh {
                for kx in 0..g.kw {
                    let iy = (oy * g.sh + ky * g.dh) as i64 - g.ph as i64;
                    let ix = (ox * g.sw + kx * g.dw) as i64 - g.pw as i64;
                    if iy >= 0 && ix >= 0 && (iy as usize) < g.h && (ix as usize) < g.w {
                        let j = ((grp * cg + ci) * g.h + iy as usize) * g.w + ix as usize;
                        v.push((j, ((co * cg + ci) * g.kh + ky) * g.kw + kx));
                    }
                }
            }
        }
        v
    }

    fn rng(s: &mut u64, n: usize) -> usize {
        *s ^= *s << 13;
        *s ^= *s >> 7;
        *s ^= *s << 17;
        (*s % n as u64) as usize
    }

    #[test]
    fn taps_match_the_definition_on_random_geometries() {
        let mut s = 0x9e37_79b9_7f4a_7c15u64;
        let mut border = 0;
        for _ in 0..3000 {
            let groups = 1 + rng(&mut s, 3);
            let mut g = ConvGeom {
                c_in: groups * (1 + rng(&mut s, 3)),
                h: 1 + rng(&mut s, 7),
                w: 1 + rng(&mut s, 7),
                c_out: groups * (1 + rng(&mut s, 3)),
                groups,
                kh: 1 + rng(&mut s, 4),
                kw: 1 + rng(&mut s, 4),
                sh: 1 + rng(&mut s, 3),
                sw: 1 + rng(&mut s, 3),
                ph: rng(&mut s, 3),
                pw: rng(&mut s, 3),
                dh: 1 + rng(&mut s, 3),
                dw: 1 + rng(&mut s, 3),
                oh: 1,
                ow: 1,
            };
            // Output size as ONNX computes it, with random trailing pads.
            let (eh, ew) = (rng(&mut s, 3), rng(&mut s, 3));
            let span_h = (g.kh - 1) * g.dh + 1;
            let span_w = (g.kw - 1) * g.dw + 1;
            if g.h + g.ph + eh < span_h || g.w + g.pw + ew < span_w {
                continue;
            }
            g.oh = (g.h + g.ph + eh - span_h) / g.sh + 1;
            g.ow = (g.w + g.pw + ew - span_w) / g.sw + 1;
            assert_eq!(ConvGeom::decode(&g.encode()), Some(g));
            for k in 0..g.out_len() {
                let mut got = vec![];
                g.for_each_tap(k, |j, i| got.push((j, i)));
                let want = taps_naive(&g, k);
                border += usize::from(want.len() < g.taps());
                assert_eq!(got, want, "{g:?} output {k}");
            }
        }
        assert!(border > 1000, "padding was exercised only {border} times");
    }

    #[test]
    fn decode_rejects_bad_geometry() {
        let g = ConvGeom {
            c_in: 4,
            h: 5,
            w: 5,
            c_out: 6,
            groups: 2,
            kh: 3,
            kw: 3,
            sh: 1,
            sw: 1,
            ph: 1,
            pw: 1,
            dh: 1,
            dw: 1,
            oh: 5,
            ow: 5,
        };
        assert!(ConvGeom::decode(&g.encode()).is_some());
        for (field, value) in [(0, 0), (4, 3), (3, 5), (7, 0), (13, 0), (1, u32::MAX)] {
            let mut w = g.encode();
            w[field] = value;
            assert_eq!(ConvGeom::decode(&w), None, "field {field} = {value}");
        }
        assert_eq!(ConvGeom::decode(&g.encode()[..14]), None);
    }
}
