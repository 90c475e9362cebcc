//! Bridge to the `metrics` crate facade (feature `metrics`), so any `metrics` exporter
//! (Prometheus, StatsD, ...) sees tickwire's telemetry.

use metrics::{counter, gauge, histogram};

use super::{MetricsCollector, TelemetryEvent};

/// A collector that forwards every record to the `metrics` facade. Metric names start with
/// `tickwire_`; reasons and connection ids are labels.
#[derive(Debug, Default)]
pub struct FacadeCollector;

impl MetricsCollector for FacadeCollector {
    fn handle_connection_event(&mut self, ev: &TelemetryEvent) {
        match *ev {
            TelemetryEvent::ConnectStarted { .. } => {
                counter!("tickwire_connects_started_total").increment(1)
            }
            TelemetryEvent::ConnectionOpened { duration_ns, .. } => {
                counter!("tickwire_connection_success_total").increment(1);
                histogram!("tickwire_connection_open_seconds").record(duration_ns as f64 / 1e9);
            }
            TelemetryEvent::Upgraded { duration_ns, .. } => {
                histogram!("tickwire_websocket_upgrade_seconds").record(duration_ns as f64 / 1e9)
            }
            TelemetryEvent::ConnectFailed { reason, .. } => {
                counter!("tickwire_connection_failure_total", "reason" => reason.name())
                    .increment(1)
            }
            TelemetryEvent::ConnectionClosed { reason, .. } => {
                counter!("tickwire_connection_disconnected_total", "reason" => reason.name())
                    .increment(1)
            }
            TelemetryEvent::PongTimeout { .. } => {
                counter!("tickwire_connection_timeout_total").increment(1)
            }
            TelemetryEvent::Status { conn, up } => {
                gauge!("tickwire_connection_status", "conn" => conn.0.to_string()).set(if up {
                    1.0
                } else {
                    0.0
                })
            }
            _ => {}
        }
    }

    fn handle_message_event(&mut self, ev: &TelemetryEvent) {
        match *ev {
            TelemetryEvent::MessageReceived {
                size,
                recv_ts,
                decoded_ts,
                published_ts,
                ..
            } => {
                counter!("tickwire_messages_received_total").increment(1);
                counter!("tickwire_bytes_received_total").increment(size as u64);
                if decoded_ts >= recv_ts && recv_ts != 0 {
                    histogram!("tickwire_stage_seconds", "stage" => "recv_to_decoded")
                        .record((decoded_ts - recv_ts) as f64 / 1e9);
                }
                if published_ts >= decoded_ts && decoded_ts != 0 {
                    histogram!("tickwire_stage_seconds", "stage" => "decoded_to_published")
                        .record((published_ts - decoded_ts) as f64 / 1e9);
                }
            }
            TelemetryEvent::MessageSent { size, .. } => {
                counter!("tickwire_messages_sent_total").increment(1);
                counter!("tickwire_bytes_sent_total").increment(size as u64);
            }
            _ => {}
        }
    }

    fn handle_error_event(&mut self, ev: &TelemetryEvent) {
        if let TelemetryEvent::Error { reason, .. } = *ev {
            counter!("tickwire_errors_total", "reason" => reason.name()).increment(1);
        }
    }
}
