//! Where book snapshots come from: a pluggable, non-blocking source.
//!
//! The live source (REST on a helper thread) lives with its venue in `tickwire-feeds`; the
//! [`QueuedSnapshots`] source here serves snapshots pushed by a test or a capture replay.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use crate::decimal::Decimal;
use crate::instrument::InstrumentId;
use crate::reason::Reason;

/// A full book at one update id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BookSnapshot {
    /// The instrument.
    pub instrument: InstrumentId,
    /// Last update id the snapshot includes (Binance `lastUpdateId`).
    pub last_id: u64,
    /// Venue time of the snapshot in ns, 0 when not sent.
    pub exchange_ts: u64,
    /// Bids, best first (price, quantity).
    pub bids: Vec<(Decimal, Decimal)>,
    /// Asks, best first (price, quantity).
    pub asks: Vec<(Decimal, Decimal)>,
}

/// Why a snapshot could not be had. The handler publishes a `SnapshotFailed` status with
/// [`SnapshotError::reason`] and [`SnapshotError::value`], and asks again after its backoff
/// (no sooner than [`SnapshotError::retry_after_ns`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    /// The request failed (connect, TLS, timeout, a broken body).
    #[error("snapshot request failed")]
    Request,
    /// The response was not a valid snapshot.
    #[error("snapshot response malformed")]
    Malformed,
    /// The source is gone (helper thread ended).
    #[error("snapshot source closed")]
    Closed,
    /// The venue answered with an HTTP error status (not a rate limit).
    #[error("snapshot request answered HTTP {0}")]
    Status(u16),
    /// The venue rate-limited or banned the client (HTTP 429, 418, or 503 with a
    /// `Retry-After`): no request may be sent before `retry_after_ms` has passed.
    #[error("snapshot request answered HTTP {status}: retry after {retry_after_ms} ms")]
    RateLimited {
        /// The HTTP status (429 rate limit, 418 IP ban, 503 unavailable).
        status: u16,
        /// How long to wait, ms (the `Retry-After` header, or the source's default).
        retry_after_ms: u64,
    },
}

impl SnapshotError {
    /// The reason published with the `SnapshotFailed` status.
    pub const fn reason(self) -> Reason {
        match self {
            SnapshotError::Request => Reason::Io,
            SnapshotError::Malformed => Reason::Malformed,
            SnapshotError::Closed => Reason::Shutdown,
            SnapshotError::Status(_) => Reason::HttpStatus,
            SnapshotError::RateLimited { status: 418, .. } => Reason::Banned,
            SnapshotError::RateLimited { .. } => Reason::RateLimited,
        }
    }

    /// The status event's `value`: the HTTP status, or the wait in ms when rate-limited.
    pub const fn value(self) -> u64 {
        match self {
            SnapshotError::Status(s) => s as u64,
            SnapshotError::RateLimited { retry_after_ms, .. } => retry_after_ms,
            _ => 0,
        }
    }

    /// The least time before the next request, ns (0: the handler's backoff alone).
    pub const fn retry_after_ns(self) -> u64 {
        match self {
            SnapshotError::RateLimited { retry_after_ms, .. } => {
                retry_after_ms.saturating_mul(1_000_000)
            }
            _ => 0,
        }
    }
}

/// A non-blocking snapshot source, polled on the I/O thread.
pub trait SnapshotSource: Send {
    /// Asks for a snapshot of `instrument`. Must not block.
    fn request(&mut self, instrument: InstrumentId);

    /// `instrument`'s book is now synced (a depth channel subscribed at run time): prepare
    /// to serve it. Called on the control path (may allocate); must not block.
    fn track(&mut self, instrument: InstrumentId) {
        let _ = instrument;
    }

    /// A finished request, if any. Must not block.
    fn poll(&mut self) -> Option<(InstrumentId, Result<BookSnapshot, SnapshotError>)>;
}

#[derive(Debug, Default)]
struct Queue {
    requested: VecDeque<InstrumentId>,
    ready: VecDeque<BookSnapshot>,
    requests: u64,
}

/// A source fed by hand: snapshots pushed through its [`QueuedSnapshots::feeder`] are handed
/// out for requests of their instrument (in push order). For tests and capture replay.
#[derive(Clone, Debug, Default)]
pub struct QueuedSnapshots {
    inner: Arc<Mutex<Queue>>,
}

impl QueuedSnapshots {
    /// An empty source.
    pub fn new() -> QueuedSnapshots {
        QueuedSnapshots::default()
    }

    /// A handle that shares the queue (give the source to the handler, keep the feeder).
    pub fn feeder(&self) -> QueuedSnapshots {
        self.clone()
    }

    /// Queues a snapshot; it is delivered once its instrument is (or was) requested.
    pub fn push(&self, snapshot: BookSnapshot) {
        self.lock().ready.push_back(snapshot);
    }

    /// Requests made so far.
    pub fn requests(&self) -> u64 {
        self.lock().requests
    }

    /// Requests not served yet.
    pub fn outstanding(&self) -> usize {
        self.lock().requested.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl SnapshotSource for QueuedSnapshots {
    fn request(&mut self, instrument: InstrumentId) {
        let mut q = self.lock();
        q.requests += 1;
        if !q.requested.contains(&instrument) {
            q.requested.push_back(instrument);
        }
    }

    fn poll(&mut self) -> Option<(InstrumentId, Result<BookSnapshot, SnapshotError>)> {
        let mut q = self.lock();
        let i = q
            .ready
            .iter()
            .position(|s| q.requested.contains(&s.instrument))?;
        let snap = q.ready.remove(i)?;
        q.requested.retain(|&r| r != snap.instrument);
        Some((snap.instrument, Ok(snap)))
    }
}
