//! How numbers, durations and status reasons read for people: the words and units the live
//! view, the summary and the consumer's notes share (a module of its own so the consumer
//! and the view do not import each other).

use std::time::Duration;

use tickwire_engine::Reason;

/// `1234567` → `1,234,567`.
pub fn fmt_count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A latency in ns with a unit: `850 ns`, `12.1 µs`, `1.23 ms`, `2.00 s`.
pub fn fmt_ns(ns: u64) -> String {
    let v = ns as f64;
    if ns < 1_000 {
        format!("{ns} ns")
    } else if ns < 100_000 {
        format!("{:.1} µs", v / 1e3)
    } else if ns < 1_000_000 {
        format!("{:.0} µs", v / 1e3)
    } else if ns < 1_000_000_000 {
        format!("{:.2} ms", v / 1e6)
    } else {
        format!("{:.2} s", v / 1e9)
    }
}

/// A duration for people: `850 µs`, `84 ms`, `1.2 s`.
pub fn fmt_duration(d: Duration) -> String {
    let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    if ns < 1_000_000 {
        format!("{} µs", ns / 1_000)
    } else if ns < 10_000_000_000 {
        if ns < 1_000_000_000 {
            format!("{} ms", ns / 1_000_000)
        } else {
            format!("{:.1} s", d.as_secs_f64())
        }
    } else {
        format!("{} s", d.as_secs())
    }
}

/// Uptime as `m:ss.d` (or `h:mm:ss`).
pub fn fmt_uptime(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
    } else {
        format!("{}:{:02}.{}", s / 60, s % 60, d.subsec_millis() / 100)
    }
}

/// A rate per second, whole: `31,204`.
pub fn fmt_rate(per_s: f64) -> String {
    fmt_count(per_s.max(0.0).round() as u64)
}

/// Bytes with a decimal unit: `25.1 MB`.
pub fn fmt_bytes(n: u64) -> String {
    let v = n as f64;
    if n < 1_000 {
        format!("{n} B")
    } else if n < 1_000_000 {
        format!("{:.1} kB", v / 1e3)
    } else if n < 1_000_000_000 {
        format!("{:.1} MB", v / 1e6)
    } else {
        format!("{:.2} GB", v / 1e9)
    }
}

/// What a disconnect or failed-attempt reason means, in words.
pub fn reason_text(code: u16) -> &'static str {
    match Reason::from_code(code) {
        Some(Reason::PeerClosed) => "closed by the venue",
        Some(Reason::Io) => "connection lost",
        Some(Reason::PongTimeout) => "no pong in time",
        Some(Reason::Stale) => "no data in time",
        Some(Reason::Protocol) => "WebSocket protocol error",
        Some(Reason::TooBig) => "message over the size limit",
        Some(Reason::InvalidUtf8) => "invalid UTF-8 in a text frame",
        Some(Reason::Shutdown) => "shut down",
        Some(Reason::ServerShutdown) => "venue shutting down",
        Some(Reason::Rotation) => "lifetime rotation",
        Some(Reason::Tls) => "TLS handshake failed",
        Some(Reason::Handshake) => "WebSocket upgrade refused",
        Some(Reason::UpgradeClosed) => "connection closed before the upgrade response",
        Some(Reason::UpgradeBusy) => "WebSocket upgrade refused: server busy (HTTP 429/503)",
        Some(Reason::CertExpired) => "TLS certificate expired",
        Some(Reason::CertNotYetValid) => "TLS certificate not valid yet",
        Some(Reason::CertWrongName) => "TLS certificate not valid for this host name",
        Some(Reason::CertUnknownIssuer) => "TLS certificate not trusted (unknown issuer)",
        Some(Reason::CertInvalid) => "TLS certificate rejected",
        Some(Reason::TlsTimeout) => "TLS handshake timed out",
        Some(Reason::TlsRecord) => "TLS record failed (bad record or fatal alert)",
        Some(Reason::Resolve) => "host name not found",
        Some(Reason::Connect) => "TCP connect failed",
        Some(r) => r.name(),
        None => "unknown reason",
    }
}

/// Why a book snapshot failed, from a `SnapshotFailed` status's reason and value.
pub fn snapshot_failure_text(code: u16, value: u64) -> String {
    match Reason::from_code(code) {
        Some(Reason::HttpStatus) => format!("HTTP {value}"),
        Some(Reason::RateLimited) => format!("rate-limited, retry after {value} ms"),
        Some(Reason::Banned) => format!("IP banned (HTTP 418), retry after {value} ms"),
        Some(Reason::Malformed) => "the answer is not a depth snapshot".to_owned(),
        Some(Reason::SnapshotTooOld) => {
            format!("snapshot (update {value}) older than the stream")
        }
        Some(Reason::SyncTimeout) => "no snapshot lined up with the stream in time".to_owned(),
        Some(Reason::Crossed) => format!("snapshot (update {value}) crossed: bid at or above ask"),
        Some(Reason::Number) => {
            format!("snapshot (update {value}) has a level the book cannot hold")
        }
        Some(Reason::Io) => "request failed (connect, TLS, timeout)".to_owned(),
        Some(Reason::Shutdown) => "snapshot source closed".to_owned(),
        Some(r) => r.name().to_owned(),
        None => "unknown reason".to_owned(),
    }
}
