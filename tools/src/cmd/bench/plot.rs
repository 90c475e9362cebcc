//! A latency-by-percentile plot as hand-written SVG, drawn the way HdrHistogram's plots are:
//! latency on a linear y axis against the percentile on a logarithmic "number of nines" x axis
//! (x = log10(1 / (1 − q)): 90 % at 1, 99 % at 2, 99.9 % at 3, ...).

use std::fmt::Write as _;

use super::hgrm::Row;

const W: f64 = 820.0;
const H: f64 = 500.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 24.0;
const TOP: f64 = 48.0;
const BOTTOM: f64 = 64.0;
const COLORS: [&str; 6] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
];

/// One curve: a name for the legend and its percentile rows (values in µs).
pub(super) struct Series<'a> {
    /// Legend text.
    pub(super) name: &'a str,
    /// Rows from [`super::hgrm::rows`].
    pub(super) rows: &'a [Row],
}

/// x position of quantile `q` in nines, capped at `max` (q = 1 has infinitely many).
fn nines(q: f64, max: f64) -> f64 {
    if q >= 1.0 {
        max
    } else {
        (1.0 / (1.0 - q)).log10().clamp(0.0, max)
    }
}

/// The smallest 1, 2 or 5 × 10^k at or above `v` (and above zero).
fn nice_ceil(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let mag = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 5.0, 10.0] {
        if m * mag >= v {
            return m * mag;
        }
    }
    10.0 * mag
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Percentile label of `n` nines: 0%, 90%, 99%, 99.9%, ...
fn label(n: u32) -> String {
    match n {
        0 => "0%".into(),
        1 => "90%".into(),
        n => format!("99.{}%", "9".repeat(n as usize - 2)).replace("99.%", "99%"),
    }
}

/// Renders the series as an SVG document titled `title`.
pub(super) fn svg(title: &str, series: &[Series<'_>]) -> String {
    let samples = series
        .iter()
        .filter_map(|s| s.rows.last().map(|r| r.total))
        .max()
        .unwrap_or(0);
    // Enough nines to show every sample's own percentile, at least 99.99 %.
    let max_nines = ((samples.max(1) as f64).log10().ceil()).clamp(4.0, 9.0);
    let top_value = series
        .iter()
        .flat_map(|s| s.rows.iter().map(|r| r.value))
        .fold(0.0, f64::max);
    let y_max = nice_ceil(top_value);
    let pw = W - LEFT - RIGHT;
    let ph = H - TOP - BOTTOM;
    let x = |n: f64| LEFT + pw * n / max_nines;
    let y = |v: f64| TOP + ph * (1.0 - v / y_max);

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="24" text-anchor="middle" font-size="15">{}</text>"#,
        W / 2.0,
        escape(title)
    );
    // Grid and axes.
    for n in 0..=max_nines as u32 {
        let px = x(f64::from(n));
        let _ = writeln!(
            s,
            r##"<line x1="{px:.1}" y1="{TOP}" x2="{px:.1}" y2="{:.1}" stroke="#ddd"/>"##,
            TOP + ph
        );
        let _ = writeln!(
            s,
            r#"<text x="{px:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            TOP + ph + 18.0,
            label(n)
        );
    }
    for i in 0..=5 {
        let v = y_max * f64::from(i) / 5.0;
        let py = y(v);
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" y1="{py:.1}" x2="{:.1}" y2="{py:.1}" stroke="#ddd"/>"##,
            LEFT + pw
        );
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            LEFT - 6.0,
            py + 4.0,
            trim(v)
        );
    }
    let _ = writeln!(
        s,
        r#"<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="black"/>"#
    );
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">Percentile</text>"#,
        LEFT + pw / 2.0,
        H - 18.0
    );
    let _ = writeln!(
        s,
        r#"<text x="18" y="{:.1}" text-anchor="middle" transform="rotate(-90 18 {:.1})">Latency (µs)</text>"#,
        TOP + ph / 2.0,
        TOP + ph / 2.0
    );
    // Curves and legend.
    for (i, ser) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let points: Vec<String> = ser
            .rows
            .iter()
            .map(|r| format!("{:.1},{:.1}", x(nines(r.quantile, max_nines)), y(r.value)))
            .collect();
        if !points.is_empty() {
            let _ = writeln!(
                s,
                r#"<polyline fill="none" stroke="{color}" stroke-width="2" points="{}"/>"#,
                points.join(" ")
            );
        }
        let ly = TOP + 16.0 + 18.0 * i as f64;
        let lx = LEFT + 14.0;
        let _ = writeln!(
            s,
            r#"<line x1="{lx}" y1="{ly}" x2="{}" y2="{ly}" stroke="{color}" stroke-width="3"/>"#,
            lx + 22.0
        );
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}">{}</text>"#,
            lx + 28.0,
            ly + 4.0,
            escape(ser.name)
        );
    }
    s.push_str("</svg>\n");
    s
}

/// A tick value without trailing zeros.
fn trim(v: f64) -> String {
    let t = format!("{v:.3}");
    t.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_scales() {
        assert_eq!(
            (0..5).map(label).collect::<Vec<_>>(),
            ["0%", "90%", "99%", "99.9%", "99.99%"]
        );
        assert_eq!(nice_ceil(13.2), 20.0);
        assert_eq!(nice_ceil(0.7), 1.0);
        assert_eq!(nice_ceil(51.0), 100.0);
        assert!((nines(0.99, 6.0) - 2.0).abs() < 1e-9);
        assert_eq!(nines(1.0, 6.0), 6.0);
        assert_eq!(trim(2.5), "2.5");
        assert_eq!(trim(20.0), "20");
    }

    #[test]
    fn draws_one_polyline_per_series() {
        let rows = [
            Row {
                value: 9.0,
                quantile: 0.0,
                total: 1,
            },
            Row {
                value: 12.0,
                quantile: 0.99,
                total: 99,
            },
            Row {
                value: 40.0,
                quantile: 1.0,
                total: 100,
            },
        ];
        let svg = svg(
            "a <b> & c",
            &[
                Series {
                    name: "wire→consumer",
                    rows: &rows,
                },
                Series {
                    name: "empty",
                    rows: &[],
                },
            ],
        );
        assert!(svg.starts_with("<svg "));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<polyline").count(), 1);
        assert!(svg.contains("a &lt;b&gt; &amp; c"));
        assert!(svg.contains("99.99%"));
        assert!(svg.contains("wire→consumer"));
    }
}
