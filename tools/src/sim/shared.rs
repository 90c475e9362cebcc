//! What the simulator's listener and its connection threads share: the configuration, the
//! venue, the stream clock (which event is due when), the live counters and each session's
//! fault mailbox. Its own module so that the server, the connections and the sessions all
//! depend on it and not on each other.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rustls::ServerConfig;
use tickwire_feeds::sim::SimVenue;

use super::config::SimConfig;
use super::fault::Fault;

/// Counters since start (a snapshot: see [`SimServer::stats`](super::SimServer::stats)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SimStats {
    /// TCP connections accepted.
    pub connections: u64,
    /// WebSocket sessions opened.
    pub sessions: u64,
    /// WebSocket sessions open now.
    pub live_sessions: u64,
    /// REST requests answered (any status).
    pub rest_requests: u64,
    /// Data messages queued for sending.
    pub messages: u64,
    /// Bytes written to sockets (WebSocket sessions).
    pub bytes: u64,
    /// Pings sent.
    pub pings: u64,
    /// Pongs received that answered a ping.
    pub pongs: u64,
    /// Sessions dropped because a ping went unanswered past the deadline.
    pub pong_timeouts: u64,
    /// Control requests received (text frames).
    pub control_requests: u64,
    /// Control requests refused with an error reply.
    pub control_errors: u64,
    /// Faults applied (injected or scheduled), counted per session.
    pub faults: u64,
    /// Depth events skipped by gap faults.
    pub gaps: u64,
    /// Wrong checksums sent by checksum faults.
    pub checksums: u64,
    /// Sequence resets made by reset faults.
    pub resets: u64,
    /// Client protocol violations (bad frames, bad handshakes, invalid UTF-8).
    pub protocol_errors: u64,
    /// Sessions closed for exceeding the inbound message limit.
    pub rate_limited: u64,
}

macro_rules! counters {
    ($($f:ident),*) => {
        /// Live counters (relaxed atomics; see [`SimStats`] for meanings).
        #[derive(Debug, Default)]
        pub(crate) struct Counters { $(pub $f: AtomicU64,)* }
        impl Counters {
            pub(crate) fn snapshot(&self) -> SimStats {
                SimStats { $($f: self.$f.load(Relaxed),)* }
            }
        }
    };
}
counters!(
    connections,
    sessions,
    live_sessions,
    rest_requests,
    messages,
    bytes,
    pings,
    pongs,
    pong_timeouts,
    control_requests,
    control_errors,
    faults,
    gaps,
    checksums,
    resets,
    protocol_errors,
    rate_limited
);

impl Counters {
    pub(crate) fn add(c: &AtomicU64, n: u64) {
        if n != 0 {
            c.fetch_add(n, Relaxed);
        }
    }
}

/// A live session's mailbox for injected faults.
#[derive(Debug, Default)]
pub(crate) struct SessionHandle {
    pub faults: Mutex<Vec<Fault>>,
    pub pending: AtomicBool,
    pub done: AtomicBool,
}

impl SessionHandle {
    /// Takes the injected faults (cheap when there are none).
    pub fn take(&self) -> Vec<Fault> {
        if !self.pending.swap(false, Relaxed) {
            return Vec::new();
        }
        std::mem::take(&mut *self.faults.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// State shared by the listener and every connection thread.
pub(crate) struct Shared {
    pub config: SimConfig,
    pub venue: Arc<dyn SimVenue>,
    pub start: Instant,
    /// The furthest event any session has reached (the venue clock at rate 0).
    pub head: AtomicU64,
    pub counters: Counters,
    pub stop: AtomicBool,
    pub tls: Option<Arc<ServerConfig>>,
    pub sessions: Mutex<Vec<Arc<SessionHandle>>>,
    pub threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Shared {
    /// Events due by `now` at the configured rate, in whole bursts.
    pub fn due_count(&self, now: Instant) -> u64 {
        let ns = now.saturating_duration_since(self.start).as_nanos();
        let n = (ns * u128::from(self.config.rate) / 1_000_000_000) as u64;
        n / self.config.burst * self.config.burst
    }

    /// When event `event` becomes due (rate > 0).
    pub fn due_time(&self, event: u64) -> Instant {
        let group_end = (event / self.config.burst + 1) * self.config.burst;
        let ns =
            (u128::from(group_end) * 1_000_000_000).div_ceil(u128::from(self.config.rate.max(1)));
        self.start + Duration::from_nanos(ns.min(u128::from(u64::MAX)) as u64)
    }

    /// The venue clock: every event before it has happened.
    pub fn event_now(&self, now: Instant) -> u64 {
        let head = self.head.load(Relaxed);
        if self.config.rate == 0 {
            head
        } else {
            self.due_count(now).max(head)
        }
    }

    /// Registers a new WebSocket session.
    pub fn register(&self) -> Arc<SessionHandle> {
        let h = Arc::new(SessionHandle::default());
        let mut list = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        list.retain(|s| !s.done.load(Relaxed));
        list.push(h.clone());
        h
    }
}

/// The `Instant` of the stream clock's origin: now, or the wall-clock `origin` (UNIX ns)
/// mapped onto the monotonic clock (an origin further back than the monotonic clock
/// reaches is taken as now).
pub(crate) fn stream_start(origin: Option<u64>) -> Instant {
    let now = Instant::now();
    let Some(origin) = origin else {
        return now;
    };
    let wall = tickwire_engine::clock::now_ns();
    if origin <= wall {
        now.checked_sub(Duration::from_nanos(wall - origin))
            .unwrap_or(now)
    } else {
        now + Duration::from_nanos(origin - wall)
    }
}

/// The last whole multiple of `align` on the wall clock (UNIX ns): a stream-clock origin
/// two simulators started within the same period agree on.
pub fn aligned_origin(align: Duration) -> u64 {
    let wall = tickwire_engine::clock::now_ns();
    let a = u64::try_from(align.as_nanos()).unwrap_or(u64::MAX).max(1);
    wall / a * a
}
