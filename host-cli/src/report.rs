//! A cactus plot as a small hand-written SVG (no font or plotting dependencies): for each series,
//! the number of instances solved within a time `t`, against `t` on a log axis.

use std::fmt::Write as _;

const W: f64 = 720.0;
const H: f64 = 440.0;
const L: f64 = 70.0;
const R: f64 = 170.0;
const T: f64 = 30.0;
const B: f64 = 50.0;
const COLORS: [&str; 10] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
    "#17becf",
];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// `series`: (name, runtimes in seconds of the solved instances). Returns the SVG document.
pub fn cactus_svg(title: &str, series: &[(String, Vec<f64>)]) -> String {
    let all: Vec<f64> = series.iter().flat_map(|s| s.1.iter().copied()).filter(|t| t.is_finite()).collect();
    let tmin = all.iter().copied().fold(f64::INFINITY, f64::min).clamp(1e-3, 1e6);
    let tmax = all.iter().copied().fold(0.0, f64::max).clamp(tmin * 10.0, 1e7);
    let (lx0, lx1) = (tmin.log10().floor(), tmax.log10().ceil());
    let ymax = series.iter().map(|s| s.1.len()).max().unwrap_or(0).max(1) as f64;
    let px = |t: f64| L + (t.max(10f64.powf(lx0)).log10() - lx0) / (lx1 - lx0) * (W - L - R);
    let py = |n: f64| H - B - n / ymax * (H - T - B);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="18" text-anchor="middle" font-size="14">{}</text>"#,
        (L + W - R) / 2.0,
        esc(title)
    );
    // Axes and grid.
    let _ = writeln!(s, r#"<path d="M{L},{T} V{} H{}" stroke="black" fill="none"/>"#, H - B, W - R);
    let mut e = lx0;
    while e <= lx1 + 1e-9 {
        let x = px(10f64.powf(e));
        let _ = writeln!(s, r##"<line x1="{x:.1}" y1="{T}" x2="{x:.1}" y2="{}" stroke="#ddd"/>"##, H - B);
        let _ = writeln!(
            s,
            r#"<text x="{x:.1}" y="{}" text-anchor="middle">{}</text>"#,
            H - B + 16.0,
            10f64.powf(e)
        );
        e += 1.0;
    }
    let ystep = ((ymax / 8.0).ceil()).max(1.0);
    let mut n = 0.0;
    while n <= ymax + 1e-9 {
        let y = py(n);
        let _ = writeln!(s, r##"<line x1="{L}" y1="{y:.1}" x2="{}" y2="{y:.1}" stroke="#eee"/>"##, W - R);
        let _ = writeln!(s, r#"<text x="{}" y="{:.1}" text-anchor="end">{n}</text>"#, L - 6.0, y + 4.0);
        n += ystep;
    }
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">time per instance (s, log scale)</text>"#,
        (L + W - R) / 2.0,
        H - 12.0
    );
    let _ = writeln!(
        s,
        r#"<text x="16" y="{}" text-anchor="middle" transform="rotate(-90 16 {})">instances solved</text>"#,
        (T + H - B) / 2.0,
        (T + H - B) / 2.0
    );
    for (k, (name, times)) in series.iter().enumerate() {
        let c = COLORS[k % COLORS.len()];
        let mut t: Vec<f64> = times.iter().copied().filter(|v| v.is_finite()).collect();
        t.sort_by(f64::total_cmp);
        if !t.is_empty() {
            let mut d = format!("M{:.1},{:.1}", px(t[0]), py(0.0));
            for (i, &v) in t.iter().enumerate() {
                let _ =
                    write!(d, " L{:.1},{:.1} L{:.1},{:.1}", px(v), py(i as f64), px(v), py(i as f64 + 1.0));
            }
            let _ = writeln!(s, r#"<path d="{d}" stroke="{c}" stroke-width="2" fill="none"/>"#);
        }
        let ly = T + 10.0 + 18.0 * k as f64;
        let _ = writeln!(
            s,
            r#"<line x1="{}" y1="{ly}" x2="{}" y2="{ly}" stroke="{c}" stroke-width="3"/>"#,
            W - R + 10.0,
            W - R + 30.0
        );
        let _ =
            writeln!(s, r#"<text x="{}" y="{}">{} ({})</text>"#, W - R + 36.0, ly + 4.0, esc(name), t.len());
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn svg_is_well_formed_enough() {
        let s = super::cactus_svg("t <&>", &[("a".into(), vec![0.1, 2.0, 0.5]), ("b".into(), vec![])]);
        assert!(s.starts_with("<svg") && s.trim_end().ends_with("</svg>"));
        assert!(s.contains("t &lt;&amp;&gt;"));
        assert_eq!(s.matches("<path").count(), 2);
        // Nothing solved (or no series) still gives a finite plot.
        let s = super::cactus_svg("none", &[("a".into(), vec![])]);
        assert!(s.len() < 10_000 && s.trim_end().ends_with("</svg>"));
        assert!(super::cactus_svg("none", &[]).len() < 10_000);
    }
}
