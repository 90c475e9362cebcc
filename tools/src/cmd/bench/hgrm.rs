//! HdrHistogram's percentile-distribution text (the `.hgrm` layout that HdrHistogram's
//! `outputPercentileDistribution` writes and its plotting page reads), and a reader for it.
//!
//! Values are written in microseconds with three decimals (ns / 1000), five percentile ticks
//! per half distance, as the Java implementation does by default.

use std::io::{self, Write};

use hdrhistogram::Histogram;

/// Recorded ns are written divided by this (microseconds).
pub(super) const UNIT_RATIO: f64 = 1000.0;
/// Percentile ticks per half distance to 100 %.
const TICKS: u32 = 5;

/// One row of a percentile distribution.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Row {
    /// Latency in the file's unit (µs).
    pub(super) value: f64,
    /// Quantile, 0..=1.
    pub(super) quantile: f64,
    /// Samples at or below `value`.
    pub(super) total: u64,
}

/// The rows of `h`'s percentile distribution (values in µs).
pub(super) fn rows(h: &Histogram<u64>) -> Vec<Row> {
    let mut total = 0u64;
    h.iter_quantiles(TICKS)
        .map(|v| {
            total += v.count_since_last_iteration();
            Row {
                value: v.value_iterated_to() as f64 / UNIT_RATIO,
                quantile: v.quantile_iterated_to(),
                total,
            }
        })
        .collect()
}

/// Sub-buckets per bucket for `sigfig` significant digits (HdrHistogram's layout).
fn sub_buckets(sigfig: u8) -> u64 {
    let largest = 2 * 10u64.pow(u32::from(sigfig));
    largest.next_power_of_two()
}

/// Writes `h` as an `.hgrm` percentile distribution.
pub(super) fn write(h: &Histogram<u64>, out: &mut impl Write) -> io::Result<()> {
    writeln!(
        out,
        "{:>12} {:>14} {:>10} {:>14}\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    )?;
    for r in rows(h) {
        if r.quantile < 1.0 {
            writeln!(
                out,
                "{:12.3} {:2.12} {:10} {:14.2}",
                r.value,
                r.quantile,
                r.total,
                1.0 / (1.0 - r.quantile)
            )?;
        } else {
            writeln!(out, "{:12.3} {:2.12} {:10}", r.value, r.quantile, r.total)?;
        }
    }
    let (mean, stdev, max) = if h.is_empty() {
        (0.0, 0.0, 0.0)
    } else {
        (
            h.mean() / UNIT_RATIO,
            h.stdev() / UNIT_RATIO,
            h.max() as f64 / UNIT_RATIO,
        )
    };
    writeln!(
        out,
        "#[Mean    = {mean:12.3}, StdDeviation   = {stdev:12.3}]"
    )?;
    writeln!(
        out,
        "#[Max     = {max:12.3}, Total count    = {:12}]",
        h.len()
    )?;
    writeln!(
        out,
        "#[Buckets = {:12}, SubBuckets     = {:12}]",
        h.buckets(),
        sub_buckets(h.sigfig())
    )
}

/// Why an `.hgrm` text could not be read.
#[cfg(test)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub(super) enum ParseError {
    /// No `Value Percentile TotalCount 1/(1-Percentile)` header.
    #[error("no header line")]
    Header,
    /// A data line with too few or unparsable columns (1-based line number).
    #[error("line {0}: expected value, percentile, total count")]
    Line(usize),
    /// The `#[Mean`, `#[Max` and `#[Buckets` footer is missing.
    #[error("no footer")]
    Footer,
}

/// Reads the rows of an `.hgrm` text (as written by [`write`] or HdrHistogram).
#[cfg(test)]
pub(super) fn parse(text: &str) -> Result<Vec<Row>, ParseError> {
    let mut lines = text.lines().enumerate();
    let header = lines
        .by_ref()
        .find(|(_, l)| !l.trim().is_empty())
        .ok_or(ParseError::Header)?;
    let cols: Vec<&str> = header.1.split_whitespace().collect();
    if cols != ["Value", "Percentile", "TotalCount", "1/(1-Percentile)"] {
        return Err(ParseError::Header);
    }
    let mut rows = Vec::new();
    let mut footer = 0;
    for (i, line) in lines {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if line.starts_with("#[") {
            footer += 1;
            continue;
        }
        let mut it = line.split_whitespace();
        let mut next = || it.next().ok_or(ParseError::Line(i + 1));
        let value = next()?.parse().map_err(|_| ParseError::Line(i + 1))?;
        let quantile = next()?.parse().map_err(|_| ParseError::Line(i + 1))?;
        let total = next()?.parse().map_err(|_| ParseError::Line(i + 1))?;
        rows.push(Row {
            value,
            quantile,
            total,
        });
    }
    if footer < 3 {
        return Err(ParseError::Footer);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::bench::consume::histogram;

    #[test]
    fn round_trips_and_matches_the_histogram() {
        let mut h = histogram();
        for i in 1..=10_000u64 {
            h.record(i * 1_000).unwrap(); // 1 µs .. 10 ms
        }
        let mut out = Vec::new();
        write(&h, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("       Value     Percentile TotalCount 1/(1-Percentile)\n\n"));
        assert!(text.contains("#[Buckets = "));
        assert!(text.contains("SubBuckets     =         2048]"));
        let rows = parse(&text).unwrap();
        assert!(rows.len() > 50);
        let last = rows.last().unwrap();
        assert_eq!((last.quantile, last.total), (1.0, 10_000));
        assert!(rows.windows(2).all(|w| w[0].quantile <= w[1].quantile));
        assert!(rows.windows(2).all(|w| w[0].value <= w[1].value));
        let median = rows.iter().find(|r| r.quantile >= 0.5).unwrap();
        let want = h.value_at_quantile(0.5) as f64 / 1000.0;
        assert!((median.value - want).abs() < 0.01, "{median:?} vs {want}");
    }

    #[test]
    fn empty_histogram_and_bad_text() {
        let mut out = Vec::new();
        write(&histogram(), &mut out).unwrap();
        assert_eq!(parse(&String::from_utf8(out).unwrap()).unwrap(), vec![]);
        assert_eq!(parse(""), Err(ParseError::Header));
        let bad = "Value Percentile TotalCount 1/(1-Percentile)\n\n1.0 x 3\n";
        assert_eq!(parse(bad), Err(ParseError::Line(3)));
    }
}
