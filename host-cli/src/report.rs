//! Cactus plots (drawn with `plotters` into an SVG string): for each series, the number of
//! instances solved within a time `t`, against `t` on a log axis. Used by `genbab bench` (one
//! series per benchmark) and `genbab plot` (runs and the VNN-COMP best times side by side).
//!
//! What the picture promises: the legend, inside the plot, gives each series' "solved / total";
//! a run's timeout is a dashed vertical line; the time axis starts at the decade of the fastest
//! solve, however small (times below the CSVs' microsecond resolution are drawn at 1 µs and the
//! axis says so), and ends at the decade of the timeout or the slowest solve; a series that
//! solved nothing has its legend entry and no curve.

use plotters::prelude::*;

/// One curve.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Legend name.
    pub name: String,
    /// Runtimes of the solved instances, in seconds.
    pub times: Vec<f64>,
    /// Instances attempted (solved or not).
    pub total: usize,
}

/// A plot: its series, the title and the timeout to mark (if one applies to all series).
#[derive(Clone, Debug, PartialEq)]
pub struct Cactus {
    pub title: String,
    pub series: Vec<Series>,
    pub timeout: Option<f64>,
}

/// The resolution of the runtimes in result CSVs (microseconds); shorter times are drawn there.
pub const RESOLUTION: f64 = 1e-6;

const COLORS: [RGBColor; 10] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
    RGBColor(0xe3, 0x77, 0xc2),
    RGBColor(0x7f, 0x7f, 0x7f),
    RGBColor(0xbc, 0xbd, 0x22),
    RGBColor(0x17, 0xbe, 0xcf),
];

/// A time tick label: µs, ms or s.
pub fn time_label(t: f64) -> String {
    let trim = |v: f64| {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    };
    if t < 1e-3 {
        format!("{} µs", trim(t * 1e6))
    } else if t < 1.0 {
        format!("{} ms", trim(t * 1e3))
    } else {
        format!("{} s", trim(t))
    }
}

/// The time axis: from the decade of the fastest solve (at least [`RESOLUTION`]) to the decade
/// of the timeout or the slowest solve; 1 ms to 10 s when there is nothing to show.
fn time_range(c: &Cactus) -> (f64, f64) {
    let solved = c.series.iter().flat_map(|s| s.times.iter().copied()).filter(|t| t.is_finite());
    let (mut lo, mut hi) = (f64::INFINITY, 0.0f64);
    for t in solved {
        lo = lo.min(t.max(RESOLUTION));
        hi = hi.max(t);
    }
    if let Some(t) = c.timeout.filter(|t| t.is_finite() && *t > 0.0) {
        hi = hi.max(t);
        lo = lo.min(t);
    }
    if !lo.is_finite() {
        return (1e-3, 10.0);
    }
    // A decade below a time on a decade boundary, so that its tick is labelled inside.
    let mut l = 10f64.powf(lo.log10().floor());
    if l >= lo {
        l /= 10.0;
    }
    let hi = 10f64.powf(hi.max(l).log10().ceil()).max(l * 10.0);
    let lo = l;
    (lo, hi)
}

/// The SVG document of `c`.
pub fn cactus_svg(c: &Cactus) -> Result<String, String> {
    let mut out = String::new();
    draw(c, &mut out).map_err(|e| format!("cannot draw the plot: {e}"))?;
    Ok(out)
}

fn draw<'a>(c: &Cactus, out: &'a mut String) -> Result<(), Box<dyn std::error::Error + 'a>> {
    let (lo, hi) = time_range(c);
    let ymax = c.series.iter().map(|s| s.total).max().unwrap_or(0).max(1);
    let legend_rows = c.series.len() as u32;
    let height = 460 + 18 * legend_rows.saturating_sub(6);
    let root = SVGBackend::with_string(out, (800, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(&c.title, ("sans-serif", 18))
        .margin_top(10)
        .margin_left(10)
        .margin_right(40)
        .margin_bottom(10)
        .x_label_area_size(45)
        .y_label_area_size(55)
        .build_cartesian_2d((lo..hi).log_scale(), 0..ymax)?;
    let below = if c.series.iter().any(|s| s.times.iter().any(|&t| t < RESOLUTION)) {
        format!(", times under {} drawn at it", time_label(RESOLUTION))
    } else {
        String::new()
    };
    chart
        .configure_mesh()
        .x_desc(format!("time per instance (log scale{below})"))
        .y_desc("instances solved")
        .x_label_formatter(&|t| time_label(*t))
        .light_line_style(WHITE.mix(0.0))
        .draw()?;
    if let Some(t) = c.timeout.filter(|t| t.is_finite() && *t > 0.0) {
        let dash = DashedLineSeries::new([(t, 0), (t, ymax)], 6, 4, BLACK.mix(0.6).stroke_width(1));
        chart
            .draw_series(dash)?
            .label(format!("timeout {}", time_label(t)))
            .legend(|(x, y)| PathElement::new([(x, y), (x + 24, y)], BLACK.mix(0.6).stroke_width(1)));
    }
    for (k, s) in c.series.iter().enumerate() {
        let color = COLORS[k % COLORS.len()];
        let mut t: Vec<f64> =
            s.times.iter().copied().filter(|v| v.is_finite()).map(|v| v.max(RESOLUTION)).collect();
        t.sort_by(f64::total_cmp);
        let label = format!("{} ({} / {} solved)", s.name, t.len(), s.total);
        // A step per solve: up at its time, then flat to the next one, and on to the right edge.
        let mut pts = Vec::with_capacity(2 * t.len() + 1);
        for (i, &v) in t.iter().enumerate() {
            pts.push((v, i));
            pts.push((v, i + 1));
        }
        if let Some(&last) = t.last() {
            pts.push((c.timeout.unwrap_or(hi).max(last).min(hi), t.len()));
        }
        chart
            .draw_series(LineSeries::new(pts, color.stroke_width(2)))?
            .label(label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 24, y)], color.stroke_width(3)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .margin(12)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .label_font(("sans-serif", 13))
        .draw()?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(name: &str, times: &[f64], total: usize) -> Series {
        Series { name: name.into(), times: times.to_vec(), total }
    }

    #[test]
    fn the_plot_says_what_it_shows() {
        let c = Cactus {
            title: "t <&>".into(),
            series: vec![s("a", &[0.1, 2.0, 0.5, 0.0], 5), s("none solved", &[], 3)],
            timeout: Some(60.0),
        };
        let svg = cactus_svg(&c).unwrap();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("t &lt;&amp;&gt;"), "the title, escaped");
        assert!(svg.contains("a (4 / 5 solved)") && svg.contains("none solved (0 / 3 solved)"));
        assert!(svg.contains("timeout 60 s"));
        // A time of 0 is drawn at the resolution, and the axis says so; it starts there.
        assert!(svg.contains("times under 1 µs drawn at it"));
        assert!(svg.contains(">\n1 µs\n<") || svg.contains("1 µs"));
        assert_eq!(time_range(&c), (1e-7, 100.0));
    }

    #[test]
    fn axes_follow_the_data_and_nothing_solved_still_draws() {
        let c = Cactus { title: "x".into(), series: vec![s("a", &[0.0042, 0.3], 2)], timeout: None };
        assert_eq!(time_range(&c), (1e-3, 1.0));
        let on = Cactus { title: "x".into(), series: vec![s("a", &[0.001, 0.3], 2)], timeout: None };
        assert_eq!(time_range(&on), (1e-4, 1.0));
        // Nothing solved: the axis is the timeout's decade, not an arbitrary far range.
        let none = Cactus { title: "x".into(), series: vec![s("a", &[], 4)], timeout: Some(60.0) };
        assert_eq!(time_range(&none), (10.0, 100.0));
        // The series' colour appears in its legend entry only: no curve for nothing solved.
        let svg = cactus_svg(&none).unwrap();
        assert_eq!(svg.matches("stroke=\"#1F77B4\"").count(), 1, "{svg}");
        let one = Cactus { title: "x".into(), series: vec![s("a", &[2.0], 4)], timeout: Some(60.0) };
        assert_eq!(cactus_svg(&one).unwrap().matches("stroke=\"#1F77B4\"").count(), 2);
        let empty = Cactus { title: "x".into(), series: vec![], timeout: None };
        assert_eq!(time_range(&empty), (1e-3, 10.0));
        for c in [c, none, empty] {
            assert!(cactus_svg(&c).unwrap().trim_end().ends_with("</svg>"));
        }
        assert_eq!(time_label(2.5e-4), "250 µs");
        assert_eq!(time_label(0.01), "10 ms");
        assert_eq!(time_label(100.0), "100 s");
    }
}
