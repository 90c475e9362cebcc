//! What a run prints: the peer-contract JSON line and the human-readable summary.

use std::fmt::Write as _;

use hdrhistogram::Histogram;
use tickwire_engine::EngineStats;

use super::consume::Tally;

pub(super) use tickwire_tools::sys::{Usage, usage};

/// The one JSON line of the peer contract: required keys first, then the optional extras
/// (`recorded utime_s stime_s nvcsw nivcsw digest`) and tickwire's own (`events`,
/// `dropped_events`).
pub(super) fn json_line(peer: &str, t: &Tally, u: Usage) -> String {
    let h = &t.wire;
    let q = |x: f64| {
        if h.is_empty() {
            0
        } else {
            h.value_at_quantile(x)
        }
    };
    let mut s = String::with_capacity(384);
    let _ = write!(
        s,
        "{{\"peer\":\"{}\",\"msgs\":{},\"secs\":{:.6},\"msgs_per_s\":{:.0},\"p50_ns\":{},\"p90_ns\":{},\"p99_ns\":{},\"p999_ns\":{},\"max_ns\":{}",
        json_escape(peer),
        t.msgs,
        t.secs(),
        t.rate(),
        q(0.5),
        q(0.9),
        q(0.99),
        q(0.999),
        h.max(),
    );
    let _ = write!(
        s,
        ",\"recorded\":{},\"utime_s\":{:.3},\"stime_s\":{:.3},\"nvcsw\":{},\"nivcsw\":{},\"digest\":{},\"events\":{},\"dropped_events\":{}}}",
        h.len(),
        u.utime_s,
        u.stime_s,
        u.nvcsw,
        u.nivcsw,
        t.digest % 1000,
        t.events,
        t.dropped,
    );
    s
}

fn json_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// ns as µs with one decimal (or ms above 10 ms).
fn us(v: u64) -> String {
    if v >= 10_000_000 {
        format!("{:.1} ms", v as f64 / 1e6)
    } else {
        format!("{:.1} µs", v as f64 / 1e3)
    }
}

fn row(out: &mut String, name: &str, h: &Histogram<u64>) {
    if h.is_empty() {
        let _ = writeln!(out, "  {name:<26} {:>10}", "-");
        return;
    }
    let _ = writeln!(
        out,
        "  {name:<26} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}",
        h.len(),
        us(h.value_at_quantile(0.5)),
        us(h.value_at_quantile(0.9)),
        us(h.value_at_quantile(0.99)),
        us(h.value_at_quantile(0.999)),
        us(h.max())
    );
}

/// The human-readable summary: throughput, wire→consumer percentiles, the per-stage table
/// (`stages`: the engine's histograms by name) and the counters that say whether the run was
/// clean.
pub(super) fn summary(
    t: &Tally,
    u: Usage,
    stages: &[(&str, Histogram<u64>)],
    engine: &EngineStats,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} messages ({} events) in {:.3} s: {:.0} msg/s; CPU {:.2} s user + {:.2} s sys ({:.0} ns/msg); {} voluntary / {} involuntary context switches",
        t.msgs,
        t.events,
        t.secs(),
        t.rate(),
        u.utime_s,
        u.stime_s,
        (u.utime_s + u.stime_s) * 1e9 / t.msgs.max(1) as f64,
        u.nvcsw,
        u.nivcsw
    );
    let _ = writeln!(
        out,
        "  {:<26} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "stage (per message)", "count", "p50", "p90", "p99", "p99.9", "max"
    );
    row(&mut out, "wire→consumer", &t.wire);
    row(&mut out, "  wire→recv", &t.wire_to_recv);
    for (name, h) in stages {
        row(&mut out, &format!("  {name}"), h);
    }
    let _ = writeln!(
        out,
        "  (wire: the server's \"ts\" send stamp; recv: the socket read; decoded/published on the I/O thread; consumed: the pop)"
    );
    let _ = writeln!(
        out,
        "engine: {} messages, {} bytes, {} dropped events, {} congestion pauses, {} telemetry records dropped, {} disconnects; consumer: {} gaps, {} resyncs, {} decode errors, {} snapshot runs{}",
        engine.messages,
        engine.bytes_received,
        engine.dropped_events.max(t.dropped),
        engine.congestion_pauses,
        engine.telemetry_dropped,
        engine.disconnects.total(),
        t.gaps,
        t.resyncs,
        t.decode_errors,
        t.snapshots,
        if t.unstamped > 0 {
            format!(
                ", {} messages without a \"ts\" probe (not in latency)",
                t.unstamped
            )
        } else {
            String::new()
        }
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_json_strings() {
        assert_eq!(json_escape("a\"b\\c\n"), "a\\\"b\\\\c\\u000a");
    }

    #[test]
    fn usage_reads_this_process() {
        let u = usage();
        assert!(u.utime_s + u.stime_s >= 0.0);
        assert!(u.nvcsw >= 0);
    }
}
