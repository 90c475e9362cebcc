//! The `MetricsCollector` trait (the seeds' behaviour) and the default collector.

use std::collections::BTreeMap;
use std::fmt;

use hdrhistogram::Histogram;

use super::TelemetryEvent;
use super::stages::{Stage, StageRecorder, new_histogram};
use crate::handler::ConnectionId;
use crate::reason::Reason;

/// Receives telemetry records on the collector thread. Implement it to forward metrics
/// elsewhere; the three handlers mirror the seeds' connection / message / error split.
pub trait MetricsCollector: Send {
    /// Connection lifecycle: started, opened, upgraded, failed, closed, pong timeout, status.
    fn handle_connection_event(&mut self, ev: &TelemetryEvent);
    /// Messages received and sent.
    fn handle_message_event(&mut self, ev: &TelemetryEvent);
    /// Errors.
    fn handle_error_event(&mut self, ev: &TelemetryEvent);

    /// Dispatches one record to the handler of its category.
    fn record(&mut self, ev: &TelemetryEvent) {
        match ev {
            TelemetryEvent::MessageReceived { .. } | TelemetryEvent::MessageSent { .. } => {
                self.handle_message_event(ev)
            }
            TelemetryEvent::Error { .. } => self.handle_error_event(ev),
            _ => self.handle_connection_event(ev),
        }
    }
}

const REASONS: usize = crate::stats::REASON_SLOTS;

/// Counters and per-stage HDR histograms.
pub struct DefaultCollector {
    connects_started: u64,
    connections_opened: u64,
    upgrades: u64,
    connect_failures: [u64; REASONS],
    closes: [u64; REASONS],
    pong_timeouts: u64,
    messages_received: u64,
    bytes_received: u64,
    messages_sent: u64,
    bytes_sent: u64,
    errors: [u64; REASONS],
    status: BTreeMap<ConnectionId, bool>,
    open_duration: Histogram<u64>,
    upgrade_duration: Histogram<u64>,
    connected_for: Histogram<u64>,
    message_size: Histogram<u64>,
    stages: [Histogram<u64>; 5],
}

impl Default for DefaultCollector {
    fn default() -> Self {
        DefaultCollector {
            connects_started: 0,
            connections_opened: 0,
            upgrades: 0,
            connect_failures: [0; REASONS],
            closes: [0; REASONS],
            pong_timeouts: 0,
            messages_received: 0,
            bytes_received: 0,
            messages_sent: 0,
            bytes_sent: 0,
            errors: [0; REASONS],
            status: BTreeMap::new(),
            open_duration: new_histogram(),
            upgrade_duration: new_histogram(),
            connected_for: new_histogram(),
            message_size: new_histogram(),
            stages: [
                new_histogram(),
                new_histogram(),
                new_histogram(),
                new_histogram(),
                new_histogram(),
            ],
        }
    }
}

fn bump(counts: &mut [u64; REASONS], reason: Reason) {
    let i = (reason.code() as usize).min(REASONS - 1);
    counts[i] += 1;
}

fn since(later: u64, earlier: u64) -> Option<u64> {
    (earlier != 0 && later >= earlier).then(|| (later - earlier).max(1))
}

impl DefaultCollector {
    /// An empty collector.
    pub fn new() -> DefaultCollector {
        DefaultCollector::default()
    }

    /// Merges a consumer thread's stage histograms (and resets the recorder).
    pub fn merge_consumer(&mut self, rec: &mut StageRecorder) {
        let _ = self.stages[Stage::PublishedToConsumed as usize].add(&rec.published_to_consumed);
        let _ = self.stages[Stage::RecvToConsumed as usize].add(&rec.recv_to_consumed);
        rec.reset();
    }

    /// The histogram of one stage.
    pub fn stage(&self, stage: Stage) -> &Histogram<u64> {
        &self.stages[stage as usize]
    }

    /// A point-in-time copy of counters and stage percentiles.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let reasons = |a: &[u64; REASONS]| {
            a.iter()
                .enumerate()
                .filter(|(_, n)| **n > 0)
                .map(|(i, n)| {
                    (
                        Reason::from_code(i as u16).map_or("other", Reason::name),
                        *n,
                    )
                })
                .collect()
        };
        MetricsSnapshot {
            connects_started: self.connects_started,
            connections_opened: self.connections_opened,
            upgrades: self.upgrades,
            connect_failures: reasons(&self.connect_failures),
            closes: reasons(&self.closes),
            pong_timeouts: self.pong_timeouts,
            messages_received: self.messages_received,
            bytes_received: self.bytes_received,
            messages_sent: self.messages_sent,
            bytes_sent: self.bytes_sent,
            errors: reasons(&self.errors),
            connections_up: self.status.values().filter(|up| **up).count(),
            connections_known: self.status.len(),
            stages: Stage::ALL
                .iter()
                .map(|s| StageSummary::of(s.name(), &self.stages[*s as usize]))
                .collect(),
            upgrade_duration: StageSummary::of("upgrade", &self.upgrade_duration),
            message_size: StageSummary::of("message size (B)", &self.message_size),
        }
    }
}

impl MetricsCollector for DefaultCollector {
    fn handle_connection_event(&mut self, ev: &TelemetryEvent) {
        match *ev {
            TelemetryEvent::ConnectStarted { .. } => self.connects_started += 1,
            TelemetryEvent::ConnectionOpened { duration_ns, .. } => {
                self.connections_opened += 1;
                self.open_duration.saturating_record(duration_ns.max(1));
            }
            TelemetryEvent::Upgraded { duration_ns, .. } => {
                self.upgrades += 1;
                self.upgrade_duration.saturating_record(duration_ns.max(1));
            }
            TelemetryEvent::ConnectFailed { reason, .. } => {
                bump(&mut self.connect_failures, reason)
            }
            TelemetryEvent::ConnectionClosed {
                reason,
                duration_ns,
                ..
            } => {
                bump(&mut self.closes, reason);
                self.connected_for.saturating_record(duration_ns.max(1));
            }
            TelemetryEvent::PongTimeout { .. } => self.pong_timeouts += 1,
            TelemetryEvent::Status { conn, up } => {
                self.status.insert(conn, up);
            }
            _ => {}
        }
    }

    fn handle_message_event(&mut self, ev: &TelemetryEvent) {
        match *ev {
            TelemetryEvent::MessageReceived {
                size,
                exchange_ts,
                recv_ts,
                decoded_ts,
                published_ts,
                ..
            } => {
                self.messages_received += 1;
                self.bytes_received += size as u64;
                self.message_size.saturating_record((size as u64).max(1));
                if let Some(d) = since(recv_ts, exchange_ts) {
                    self.stages[Stage::ExchangeToRecv as usize].saturating_record(d);
                }
                if let Some(d) = since(decoded_ts, recv_ts) {
                    self.stages[Stage::RecvToDecoded as usize].saturating_record(d);
                }
                if let Some(d) = since(published_ts, decoded_ts) {
                    self.stages[Stage::DecodedToPublished as usize].saturating_record(d);
                }
            }
            TelemetryEvent::MessageSent { size, .. } => {
                self.messages_sent += 1;
                self.bytes_sent += size as u64;
            }
            _ => {}
        }
    }

    fn handle_error_event(&mut self, ev: &TelemetryEvent) {
        if let TelemetryEvent::Error { reason, .. } = *ev {
            bump(&mut self.errors, reason);
        }
    }
}

/// Percentiles of one histogram, in its unit (ns for stages).
#[derive(Clone, Debug, PartialEq)]
pub struct StageSummary {
    /// Stage or histogram name.
    pub name: &'static str,
    /// Samples recorded.
    pub count: u64,
    /// Median.
    pub p50: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest sample.
    pub max: u64,
}

impl StageSummary {
    fn of(name: &'static str, h: &Histogram<u64>) -> StageSummary {
        StageSummary {
            name,
            count: h.len(),
            p50: h.value_at_quantile(0.50),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
        }
    }
}

/// Counters and stage percentiles at one point in time. `Display` renders a small table.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricsSnapshot {
    /// Connection attempts started.
    pub connects_started: u64,
    /// TCP (+TLS) connections established.
    pub connections_opened: u64,
    /// WebSocket upgrades completed.
    pub upgrades: u64,
    /// Failed attempts by reason.
    pub connect_failures: Vec<(&'static str, u64)>,
    /// Closes by reason.
    pub closes: Vec<(&'static str, u64)>,
    /// Pong timeouts.
    pub pong_timeouts: u64,
    /// Data messages received.
    pub messages_received: u64,
    /// Payload bytes received.
    pub bytes_received: u64,
    /// Frames sent.
    pub messages_sent: u64,
    /// Bytes sent.
    pub bytes_sent: u64,
    /// Errors by reason.
    pub errors: Vec<(&'static str, u64)>,
    /// Connections whose last status was up.
    pub connections_up: usize,
    /// Connections seen.
    pub connections_known: usize,
    /// Per-stage latency percentiles (ns).
    pub stages: Vec<StageSummary>,
    /// WebSocket upgrade duration (ns).
    pub upgrade_duration: StageSummary,
    /// Message sizes (bytes).
    pub message_size: StageSummary,
}

fn ns(v: u64) -> String {
    if v >= 1_000_000 {
        format!("{:.2} ms", v as f64 / 1e6)
    } else if v >= 1_000 {
        format!("{:.2} µs", v as f64 / 1e3)
    } else {
        format!("{v} ns")
    }
}

impl fmt::Display for MetricsSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "connections: {} up / {} known, {} attempts, {} opened, {} upgraded, {} pong timeouts",
            self.connections_up,
            self.connections_known,
            self.connects_started,
            self.connections_opened,
            self.upgrades,
            self.pong_timeouts
        )?;
        writeln!(
            f,
            "messages: {} received ({} B), {} sent ({} B)",
            self.messages_received, self.bytes_received, self.messages_sent, self.bytes_sent
        )?;
        for (label, list) in [
            ("closes", &self.closes),
            ("connect failures", &self.connect_failures),
            ("errors", &self.errors),
        ] {
            if !list.is_empty() {
                let items: Vec<String> = list.iter().map(|(r, n)| format!("{r}={n}")).collect();
                writeln!(f, "{label}: {}", items.join(" "))?;
            }
        }
        writeln!(
            f,
            "{:<20} {:>10} {:>10} {:>10} {:>10} {:>10}",
            "stage", "count", "p50", "p99", "p99.9", "max"
        )?;
        for s in &self.stages {
            if s.count == 0 {
                continue;
            }
            writeln!(
                f,
                "{:<20} {:>10} {:>10} {:>10} {:>10} {:>10}",
                s.name,
                s.count,
                ns(s.p50),
                ns(s.p99),
                ns(s.p999),
                ns(s.max)
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_and_counters_from_records() {
        let mut c = DefaultCollector::new();
        let conn = ConnectionId(1);
        c.record(&TelemetryEvent::ConnectStarted { conn, at: 1 });
        c.record(&TelemetryEvent::Upgraded {
            conn,
            duration_ns: 5_000,
            status: 101,
        });
        c.record(&TelemetryEvent::Status { conn, up: true });
        for i in 0..100u64 {
            c.record(&TelemetryEvent::MessageReceived {
                conn,
                size: 100,
                exchange_ts: 1_000,
                recv_ts: 2_000 + i,
                decoded_ts: 2_300 + i,
                published_ts: 2_310 + i,
            });
        }
        c.record(&TelemetryEvent::Error {
            conn,
            reason: Reason::Json,
        });
        c.record(&TelemetryEvent::ConnectionClosed {
            conn,
            reason: Reason::PongTimeout,
            duration_ns: 10,
        });
        let s = c.snapshot();
        assert_eq!(s.messages_received, 100);
        assert_eq!(s.bytes_received, 10_000);
        assert_eq!(s.connections_up, 1);
        assert_eq!(s.errors, vec![("json", 1)]);
        assert_eq!(s.closes, vec![("pong_timeout", 1)]);
        let decode = &s.stages[Stage::RecvToDecoded as usize];
        assert_eq!((decode.count, decode.p50), (100, 300));
        assert_eq!(s.stages[Stage::DecodedToPublished as usize].p50, 10);
        assert!(s.to_string().contains("recv→decoded"));
    }
}
