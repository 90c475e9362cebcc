//! Telemetry: the seeds' event tables as `Copy` records that leave the I/O thread through
//! their own ring to a collector thread. (API first; the collector is being written.)

use crate::handler::ConnectionId;
use crate::reason::Reason;

/// One telemetry record. Emitted on the I/O thread with [`TelemetryTx::emit`]; never blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
#[allow(missing_docs)] // fields are described in each variant's doc
pub enum TelemetryEvent {
    /// A connection attempt started (DNS resolved, TCP connect issued).
    ConnectStarted { conn: ConnectionId, at: u64 },
    /// TCP (+TLS) connected; `duration_ns` since the attempt started.
    ConnectionOpened {
        conn: ConnectionId,
        duration_ns: u64,
    },
    /// WebSocket upgrade done; `duration_ns` since the attempt started; `status` the HTTP code.
    Upgraded {
        conn: ConnectionId,
        duration_ns: u64,
        status: u16,
    },
    /// A connection attempt failed (resolve, connect, TLS, upgrade).
    ConnectFailed { conn: ConnectionId, reason: Reason },
    /// The connection closed; `duration_ns` it was open.
    ConnectionClosed {
        conn: ConnectionId,
        reason: Reason,
        duration_ns: u64,
    },
    /// No pong within the timeout (also followed by `ConnectionClosed`).
    PongTimeout { conn: ConnectionId },
    /// One data message received and processed. Timestamps are ns since the UNIX epoch;
    /// `exchange_ts` is 0 when the venue sent none.
    MessageReceived {
        conn: ConnectionId,
        size: u32,
        exchange_ts: u64,
        recv_ts: u64,
        decoded_ts: u64,
        published_ts: u64,
    },
    /// One frame sent; `size` in bytes.
    MessageSent { conn: ConnectionId, size: u32 },
    /// An error observed on the connection (counted by reason).
    Error { conn: ConnectionId, reason: Reason },
    /// Connection status gauge: 1 = up (live), 0 = down.
    Status { conn: ConnectionId, up: bool },
}

/// The I/O thread's end of the telemetry ring.
pub struct TelemetryTx {
    inner: Option<rtrb::Producer<TelemetryEvent>>,
    dropped: u64,
}

impl TelemetryTx {
    /// A sink that discards everything (Lightweight profile, tests).
    pub fn disabled() -> TelemetryTx {
        TelemetryTx {
            inner: None,
            dropped: 0,
        }
    }

    /// Emits a record; a full ring drops it and counts the drop.
    #[inline]
    pub fn emit(&mut self, ev: TelemetryEvent) {
        if let Some(p) = &mut self.inner {
            if p.push(ev).is_err() {
                self.dropped += 1;
            }
        }
    }

    /// Records dropped because the collector fell behind.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}
