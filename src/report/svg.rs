//! SVG plots of search runs: the Pareto front (validation accuracy against cost, strategies
//! overlaid), the heat map of the degrees the shown schedules give each step (by degree for
//! a SimpleRNN, by slot for gated cells), and the hypervolume of the front found so far
//! against judgements or seconds (one line per run, or per strategy the median over seeds
//! with a min-max band).
//!
//! Written as plain SVG text: the viewer lays the text out, so no font file is needed
//! (plotters' layout needs a registered font even for SVG output).

use std::fmt::Write as _;

/// Plot area and margins, in SVG units.
const W: f64 = 720.0;
const H: f64 = 440.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 170.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 55.0;
const COLORS: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
];

/// One named series of (x, y) points.
pub struct Series {
    /// Legend label.
    pub name: String,
    /// Points, drawn in the given order.
    pub points: Vec<(f64, f64)>,
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Round tick values covering `[lo, hi]`.
fn ticks(lo: f64, hi: f64) -> Vec<f64> {
    let span = (hi - lo).max(1e-12);
    let raw = span / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|&s| s >= raw)
        .unwrap_or(10.0 * mag);
    let mut t = (lo / step).ceil() * step;
    let mut out = Vec::new();
    while t <= hi + 1e-9 * span {
        out.push(t);
        t += step;
    }
    out
}

fn bounds(series: &[Series]) -> Option<(f64, f64, f64, f64)> {
    let pts = series
        .iter()
        .flat_map(|s| s.points.iter())
        .filter(|p| p.0.is_finite() && p.1.is_finite());
    let mut b: Option<(f64, f64, f64, f64)> = None;
    for &(x, y) in pts {
        b = Some(match b {
            None => (x, x, y, y),
            Some((a, c, d, e)) => (a.min(x), c.max(x), d.min(y), e.max(y)),
        });
    }
    b.map(|(x0, x1, y0, y1)| {
        let (px, py) = ((x1 - x0).max(1e-9) * 0.05, (y1 - y0).max(1e-9) * 0.05);
        (x0 - px, x1 + px, y0 - py, y1 + py)
    })
}

/// Maps data coordinates to the plot area.
struct Frame {
    x0: f64,
    x1: f64,
    y0: f64,
    y1: f64,
}

impl Frame {
    fn x(&self, x: f64) -> f64 {
        LEFT + (x - self.x0) / (self.x1 - self.x0) * (W - LEFT - RIGHT)
    }

    fn y(&self, y: f64) -> f64 {
        let ph = H - TOP - BOTTOM;
        TOP + ph - (y - self.y0) / (self.y1 - self.y0) * ph
    }
}

/// The opening of a chart: title, and for `bounds` (x0, x1, y0, y1) the frame, ticks and
/// axis labels; `None` with "no points" written when there are no bounds.
fn open_chart(
    s: &mut String,
    title: &str,
    x_label: &str,
    y_label: &str,
    bounds: Option<(f64, f64, f64, f64)>,
) -> Option<Frame> {
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = write!(s, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = write!(
        s,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="15">{}</text>"#,
        (LEFT + W - RIGHT) / 2.0,
        escape(title)
    );
    let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
    let Some((x0, x1, y0, y1)) = bounds else {
        s.push_str(r#"<text x="100" y="100">no points</text></svg>"#);
        return None;
    };
    let f = Frame { x0, x1, y0, y1 };
    let _ = write!(
        s,
        r##"<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="#444"/>"##
    );
    for t in ticks(x0, x1) {
        let _ = write!(
            s,
            r##"<line x1="{0}" y1="{1}" x2="{0}" y2="{2}" stroke="#ddd"/><text x="{0}" y="{3}" text-anchor="middle">{4}</text>"##,
            f.x(t),
            TOP,
            TOP + ph,
            TOP + ph + 16.0,
            fmt_tick(t)
        );
    }
    for t in ticks(y0, y1) {
        let _ = write!(
            s,
            r##"<line x1="{0}" y1="{1}" x2="{2}" y2="{1}" stroke="#ddd"/><text x="{3}" y="{4}" text-anchor="end">{5}</text>"##,
            LEFT,
            f.y(t),
            LEFT + pw,
            LEFT - 6.0,
            f.y(t) + 4.0,
            fmt_tick(t)
        );
    }
    let _ = write!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
        LEFT + pw / 2.0,
        H - 14.0,
        escape(x_label)
    );
    let _ = write!(
        s,
        r#"<text x="16" y="{0}" text-anchor="middle" transform="rotate(-90 16 {0})">{1}</text>"#,
        TOP + ph / 2.0,
        escape(y_label)
    );
    Some(f)
}

/// The legend entry of series `k`.
fn legend(s: &mut String, k: usize, color: &str, name: &str) {
    let ly = TOP + 10.0 + 18.0 * k as f64;
    let _ = write!(
        s,
        r#"<rect x="{}" y="{}" width="12" height="12" fill="{color}"/><text x="{}" y="{}">{}</text>"#,
        W - RIGHT + 12.0,
        ly - 10.0,
        W - RIGHT + 30.0,
        ly,
        escape(name)
    );
}

/// A line or scatter chart of several series with axes, ticks, labels and a legend.
pub fn chart(title: &str, x_label: &str, y_label: &str, series: &[Series], lines: bool) -> String {
    let mut s = String::new();
    let Some(f) = open_chart(&mut s, title, x_label, y_label, bounds(series)) else {
        return s;
    };
    for (k, ser) in series.iter().enumerate() {
        let color = COLORS[k % COLORS.len()];
        if lines && ser.points.len() > 1 {
            let path: Vec<String> = ser
                .points
                .iter()
                .map(|&(x, y)| format!("{:.2},{:.2}", f.x(x), f.y(y)))
                .collect();
            let _ = write!(
                s,
                r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="1.8"/>"#,
                path.join(" ")
            );
        }
        for &(x, y) in &ser.points {
            let _ = write!(
                s,
                r#"<circle cx="{:.2}" cy="{:.2}" r="3" fill="{color}" fill-opacity="0.8"/>"#,
                f.x(x),
                f.y(y)
            );
        }
        legend(&mut s, k, color, &ser.name);
    }
    s.push_str("</svg>\n");
    s
}

/// One series of a band chart: at each x, the median and the range (min, max) over runs.
pub struct Band {
    /// Legend label.
    pub name: String,
    /// (x, median, min, max), x ascending.
    pub points: Vec<(f64, f64, f64, f64)>,
}

/// Median lines with shaded min-max bands (one per series), axes, labels and a legend, and
/// optionally a labelled horizontal line at a level (e.g. the true front's value).
pub fn band_chart(
    title: &str,
    x_label: &str,
    y_label: &str,
    bands: &[Band],
    level: Option<(&str, f64)>,
) -> String {
    let mut outline: Vec<Series> = bands
        .iter()
        .map(|b| Series {
            name: b.name.clone(),
            points: b
                .points
                .iter()
                .flat_map(|&(x, _, lo, hi)| [(x, lo), (x, hi)])
                .collect(),
        })
        .collect();
    let xs = outline.iter().flat_map(|o| o.points.iter().map(|p| p.0));
    let (lo, hi) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| {
        (lo.min(x), hi.max(x))
    });
    if let Some((name, y)) = level
        && lo.is_finite()
    {
        outline.push(Series {
            name: name.to_string(),
            points: vec![(lo, y), (hi, y)],
        });
    }
    let mut s = String::new();
    let Some(f) = open_chart(&mut s, title, x_label, y_label, bounds(&outline)) else {
        return s;
    };
    if let Some((name, y)) = level
        && lo.is_finite()
    {
        let _ = write!(
            s,
            r##"<line x1="{0:.2}" y1="{1:.2}" x2="{2:.2}" y2="{1:.2}" stroke="#555" stroke-width="1.4" stroke-dasharray="6 4"/><text x="{3:.2}" y="{4:.2}" text-anchor="end" fill="#555">{5}</text>"##,
            f.x(lo),
            f.y(y),
            f.x(hi),
            f.x(hi) - 4.0,
            f.y(y) - 5.0,
            escape(name)
        );
    }
    for (k, b) in bands.iter().enumerate() {
        let color = COLORS[k % COLORS.len()];
        let finite: Vec<_> = b
            .points
            .iter()
            .filter(|p| p.0.is_finite() && p.1.is_finite() && p.2.is_finite() && p.3.is_finite())
            .collect();
        let upper = finite.iter().map(|p| (p.0, p.3));
        let lower = finite.iter().rev().map(|p| (p.0, p.2));
        let polygon: Vec<String> = upper
            .chain(lower)
            .map(|(x, y)| format!("{:.2},{:.2}", f.x(x), f.y(y)))
            .collect();
        if finite.len() > 1 {
            let _ = write!(
                s,
                r#"<polygon points="{}" fill="{color}" fill-opacity="0.18" stroke="none"/>"#,
                polygon.join(" ")
            );
        }
        let median: Vec<String> = finite
            .iter()
            .map(|p| format!("{:.2},{:.2}", f.x(p.0), f.y(p.1)))
            .collect();
        let _ = write!(
            s,
            r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="1.8"/>"#,
            median.join(" ")
        );
        legend(&mut s, k, color, &b.name);
    }
    s.push_str("</svg>\n");
    s
}

fn fmt_tick(t: f64) -> String {
    // Ticks that are zero up to rounding print as 0, not -0.
    let t = if t.abs() < 1e-12 { 0.0 } else { t };
    if t.abs() >= 1000.0 || t == t.round() {
        format!("{t:.0}")
    } else {
        let s = format!("{t:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// A heat map: `share[row][col]` in [0, 1], rows labelled (e.g. degrees or slots), columns
/// numbered (steps), `x_label` under the columns (it should say what the shade means).
pub fn heatmap(title: &str, row_labels: &[String], share: &[Vec<f64>], x_label: &str) -> String {
    let cols = share.first().map_or(0, Vec::len).max(1);
    let rows = share.len().max(1);
    let (cw, ch) = ((W - LEFT - 40.0) / cols as f64, 40.0);
    let height = TOP + ch * rows as f64 + 60.0;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{height}" font-family="sans-serif" font-size="12"><rect width="{W}" height="{height}" fill="white"/>"#
    );
    let _ = write!(
        s,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="15">{}</text>"#,
        W / 2.0,
        escape(title)
    );
    for (r, row) in share.iter().enumerate() {
        let y = TOP + ch * r as f64;
        let _ = write!(
            s,
            r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#,
            LEFT - 8.0,
            y + ch / 2.0 + 4.0,
            escape(row_labels.get(r).map_or("", |l| l.as_str()))
        );
        for (c, &v) in row.iter().enumerate() {
            // White (0) to dark blue (1).
            let v = v.clamp(0.0, 1.0);
            let (rr, gg, bb) = (
                (255.0 * (1.0 - 0.88 * v)) as u8,
                (255.0 * (1.0 - 0.7 * v)) as u8,
                (255.0 * (1.0 - 0.35 * v)) as u8,
            );
            let _ = write!(
                s,
                r##"<rect x="{:.2}" y="{y}" width="{cw:.2}" height="{ch}" fill="rgb({rr},{gg},{bb})" stroke="#fff"><title>{:.0} %</title></rect>"##,
                LEFT + cw * c as f64,
                100.0 * v
            );
        }
    }
    for c in 0..cols {
        let _ = write!(
            s,
            r#"<text x="{:.2}" y="{}" text-anchor="middle" font-size="10">{c}</text>"#,
            LEFT + cw * (c as f64 + 0.5),
            TOP + ch * rows as f64 + 14.0
        );
    }
    let _ = write!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">{}</text></svg>"#,
        LEFT + (W - LEFT - 40.0) / 2.0,
        TOP + ch * rows as f64 + 40.0,
        escape(x_label)
    );
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_contain_their_points_and_labels() {
        let svg = chart(
            "front",
            "cost",
            "accuracy",
            &[Series {
                name: "dfs <a>".into(),
                points: vec![(1.0, 0.5), (2.0, 0.9)],
            }],
            true,
        );
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<circle").count(), 2);
        assert!(svg.contains("dfs &lt;a&gt;"));
        let h = heatmap(
            "map",
            &["17".into(), "7".into()],
            &[vec![1.0, 0.0], vec![0.0, 1.0]],
            "step; shade <share>",
        );
        assert_eq!(h.matches("<rect x=").count(), 4);
        assert!(h.contains("step; shade &lt;share&gt;"));
        let b = band_chart(
            "quality",
            "judgements",
            "hypervolume",
            &[Band {
                name: "random".into(),
                points: vec![
                    (1.0, 0.2, 0.1, 0.3),
                    (2.0, 0.4, 0.3, 0.6),
                    (3.0, 0.5, 0.5, 0.5),
                ],
            }],
            Some(("true front", 0.7)),
        );
        assert!(b.contains("stroke-dasharray") && b.contains(">true front</text>"));
        assert_eq!(fmt_tick(-1e-17), "0");
        assert_eq!(b.matches("<polygon").count(), 1);
        // The band goes out along the maxima and back along the minima: 6 vertices.
        let poly = b.split("<polygon points=\"").nth(1).unwrap();
        assert_eq!(poly.split('"').next().unwrap().split(' ').count(), 6);
        assert_eq!(b.matches("<polyline").count(), 1);
        assert!(band_chart("t", "x", "y", &[], None).contains("no points"));
        let t = ticks(0.0, 1.0);
        assert_eq!(t.len(), 6);
        assert!(t[0] == 0.0 && (t[5] - 1.0).abs() < 1e-9);
    }
}
