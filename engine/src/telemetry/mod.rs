//! Telemetry: the seeds' event tables as `Copy` records that leave the I/O thread through
//! their own ring to a collector thread.
//!
//! The I/O thread only [`TelemetryTx::emit`]s fixed-size records (a ring push, no formatting,
//! no locks); a [`CollectorThread`] drains the ring into a [`MetricsCollector`] — by default
//! [`DefaultCollector`], which keeps counters and HDR histograms per stage and renders a
//! [`MetricsSnapshot`]. With the `metrics` feature, `facade::FacadeCollector` forwards
//! everything to the `metrics` crate so Prometheus and other exporters work.

mod collector;
#[cfg(feature = "metrics")]
pub mod facade;
pub(crate) mod stages;

pub use collector::{DefaultCollector, MetricsCollector, MetricsSnapshot, StageSummary};
pub use stages::{Stage, StageRecorder};

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

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

/// The collector's end of the telemetry ring.
pub struct TelemetryRx {
    inner: rtrb::Consumer<TelemetryEvent>,
}

/// A telemetry ring of `capacity` records.
pub fn channel(capacity: usize) -> (TelemetryTx, TelemetryRx) {
    let (p, c) = rtrb::RingBuffer::new(capacity.max(2));
    (
        TelemetryTx {
            inner: Some(p),
            dropped: 0,
        },
        TelemetryRx { inner: c },
    )
}

impl TelemetryTx {
    /// A sink that discards everything (Lightweight profile, tests).
    pub fn disabled() -> TelemetryTx {
        TelemetryTx {
            inner: None,
            dropped: 0,
        }
    }

    /// Whether records go anywhere.
    #[inline]
    pub fn is_enabled(&self) -> bool {
        self.inner.is_some()
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

impl TelemetryRx {
    /// Hands every waiting record to `collector`; returns how many.
    pub fn drain(&mut self, collector: &mut dyn MetricsCollector) -> usize {
        let mut n = 0;
        while let Ok(ev) = self.inner.pop() {
            collector.record(&ev);
            n += 1;
        }
        n
    }

    /// Whether the I/O thread dropped its end.
    pub fn is_abandoned(&self) -> bool {
        self.inner.is_abandoned()
    }
}

/// A thread that drains a telemetry ring into a collector every `interval`.
pub struct CollectorThread<C: MetricsCollector> {
    collector: Arc<Mutex<C>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl<C: MetricsCollector + 'static> CollectorThread<C> {
    /// Starts draining `rx` into `collector`. The collector is shared behind a mutex with
    /// [`CollectorThread::lock`]; the I/O thread never touches that mutex.
    pub fn spawn(
        mut rx: TelemetryRx,
        collector: C,
        interval: Duration,
    ) -> std::io::Result<CollectorThread<C>> {
        let collector = Arc::new(Mutex::new(collector));
        let stop = Arc::new(AtomicBool::new(false));
        let (c, s) = (collector.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("tickwire-metrics".into())
            .spawn(move || {
                loop {
                    let stopping = s.load(Ordering::Acquire) || rx.is_abandoned();
                    {
                        let mut guard = c.lock().unwrap_or_else(|e| e.into_inner());
                        rx.drain(&mut *guard);
                    }
                    if stopping {
                        break;
                    }
                    std::thread::sleep(interval);
                }
            })?;
        Ok(CollectorThread {
            collector,
            stop,
            thread: Some(thread),
        })
    }

    /// Locks the collector (for a snapshot, or to merge consumer-side stage recorders).
    pub fn lock(&self) -> MutexGuard<'_, C> {
        self.collector.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Drains what is left, stops the thread and returns the collector's handle.
    pub fn stop(mut self) -> Arc<Mutex<C>> {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.collector.clone()
    }
}

impl<C: MetricsCollector> Drop for CollectorThread<C> {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
