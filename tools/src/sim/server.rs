//! The listener, the shared venue clock, counters and the public handle.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rustls::ServerConfig;
use tickwire_feeds::binance::sim::{BinanceSim, Market, Venue};
use tickwire_feeds::sim::{SimVenue, SimVenueConfig, UnknownVenue, VenueError};

use super::config::SimConfig;
use super::conn;
use super::fault::Fault;
use super::tls;

/// Why a simulator could not start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    /// The address is taken or not allowed.
    #[error("cannot listen on {addr}: {kind}; pick another port (or 0 for any free port)")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// What the OS said.
        kind: io::ErrorKind,
    },
    /// The venue model refused the configuration (symbols, tape length).
    #[error("bad venue configuration: {0}")]
    Venue(#[from] VenueError),
    /// No simulated venue has the configured name.
    #[error("unknown venue; known: {}", tickwire_feeds::sim::known_names())]
    UnknownVenue,
    /// A configuration value is out of range.
    #[error("bad configuration: {0}")]
    Config(&'static str),
    /// The certificate could not be generated.
    #[error("could not generate the self-signed certificate")]
    Certificate,
    /// rustls refused the certificate or key.
    #[error("could not build the TLS server configuration")]
    TlsConfig,
    /// A thread could not be started.
    #[error("could not start a thread: {0}")]
    Thread(io::ErrorKind),
}

/// Counters since start (a snapshot: see [`SimServer::stats`]).
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
            fn snapshot(&self) -> SimStats {
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
    sessions: Mutex<Vec<Arc<SessionHandle>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
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
fn stream_start(origin: Option<u64>) -> Instant {
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

/// A running simulator. Dropping it stops it.
pub struct SimServer {
    shared: Arc<Shared>,
    addr: SocketAddr,
    cert_pem: Option<String>,
    listener: Option<JoinHandle<()>>,
}

impl SimServer {
    /// Builds the venue, binds, and starts serving on a background thread.
    pub fn start(config: SimConfig) -> Result<SimServer, SimError> {
        if config.burst == 0 {
            return Err(SimError::Config("burst must be at least 1"));
        }
        if config.ping_interval.is_zero() || config.pong_timeout.is_zero() {
            return Err(SimError::Config(
                "ping interval and pong timeout must be more than zero",
            ));
        }
        if config.batch_bytes < 1024 {
            return Err(SimError::Config("batch size must be at least 1024 bytes"));
        }
        let venue = tickwire_feeds::sim::venue(
            &config.venue,
            &SimVenueConfig {
                symbols: config.symbols.clone(),
                mix: config.mix,
                seed: config.seed,
                tape_len: config.tape_len,
            },
        )
        .map_err(|e| match e {
            UnknownVenue::Config(e) => SimError::Venue(e),
            UnknownVenue::Name { .. } => SimError::UnknownVenue,
        })?;
        let (tls, cert_pem) = if config.tls {
            let (cfg, pem) = tls::identity()?;
            (Some(cfg), Some(pem))
        } else {
            (None, None)
        };
        let want = SocketAddr::new(config.bind, config.port);
        let listener = TcpListener::bind(want).map_err(|e| SimError::Bind {
            addr: want,
            kind: e.kind(),
        })?;
        let addr = listener.local_addr().map_err(|e| SimError::Bind {
            addr: want,
            kind: e.kind(),
        })?;
        let (config_origin, config_delay) = (config.clock_origin_ns, config.path_delay);
        let shared = Arc::new(Shared {
            config,
            venue,
            start: stream_start(config_origin) + config_delay,
            head: AtomicU64::new(0),
            counters: Counters::default(),
            stop: AtomicBool::new(false),
            tls,
            sessions: Mutex::new(Vec::new()),
            threads: Mutex::new(Vec::new()),
        });
        let s = shared.clone();
        let handle = std::thread::Builder::new()
            .name("sim-listen".into())
            .spawn(move || accept_loop(&s, &listener))
            .map_err(|e| SimError::Thread(e.kind()))?;
        Ok(SimServer {
            shared,
            addr,
            cert_pem,
            listener: Some(handle),
        })
    }

    /// The bound address (with the real port when 0 was asked).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The simulated venue's registry name.
    pub fn venue_name(&self) -> &'static str {
        self.shared.venue.name()
    }

    /// Binance spot or USD-M; `None` for other venues.
    pub fn market(&self) -> Option<Market> {
        self.binance_venue().map(|v| v.market())
    }

    /// The venue (symbols, tapes, books at any event).
    pub fn venue(&self) -> &Arc<dyn SimVenue> {
        &self.shared.venue
    }

    /// The Binance venue model (update ids, REST snapshots); `None` for other venues.
    pub fn binance_venue(&self) -> Option<&Arc<Venue>> {
        self.shared
            .venue
            .as_any()
            .downcast_ref::<BinanceSim>()
            .map(BinanceSim::venue)
    }

    fn host(&self) -> String {
        match self.addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => format!("127.0.0.1:{}", self.addr.port()),
            IpAddr::V6(ip) if ip.is_unspecified() => format!("[::1]:{}", self.addr.port()),
            _ => self.addr.to_string(),
        }
    }

    /// WebSocket base URL, e.g. `ws://127.0.0.1:9100` (`wss://` with TLS). Append
    /// `/ws/<stream>` or `/stream?streams=a/b` (USD-M also `/public/...`, `/market/...`).
    pub fn ws_url(&self) -> String {
        let scheme = if self.cert_pem.is_some() { "wss" } else { "ws" };
        format!("{scheme}://{}", self.host())
    }

    /// REST base URL, e.g. `http://127.0.0.1:9100` (`https://` with TLS). Append
    /// `/api/v3/depth?symbol=BTCUSDT&limit=100` (Binance spot) or `/fapi/v1/depth?...`
    /// (USD-M).
    pub fn rest_url(&self) -> String {
        let scheme = if self.cert_pem.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.host())
    }

    /// A combined-stream URL for these streams (`/stream?streams=a/b`).
    pub fn stream_url(&self, streams: &[&str]) -> String {
        format!("{}/stream?streams={}", self.ws_url(), streams.join("/"))
    }

    /// The REST book snapshot URL for a symbol (the REST base URL alone when the venue
    /// serves no snapshot by REST).
    pub fn depth_url(&self, symbol: &str, limit: u32) -> String {
        let path = self
            .shared
            .venue
            .snapshot_path(symbol, limit)
            .unwrap_or_default();
        format!("{}{path}", self.rest_url())
    }

    /// The certificate to trust (PEM) when serving TLS.
    pub fn cert_pem(&self) -> Option<&str> {
        self.cert_pem.as_deref()
    }

    /// Applies a fault to every open WebSocket session (within about 20 ms); returns how
    /// many sessions got it.
    pub fn inject(&self, fault: Fault) -> usize {
        let list = self
            .shared
            .sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut n = 0;
        for s in list.iter().filter(|s| !s.done.load(Relaxed)) {
            s.faults
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(fault);
            s.pending.store(true, Relaxed);
            n += 1;
        }
        n
    }

    /// The venue clock now: a REST snapshot taken now reflects every event before it.
    pub fn current_event(&self) -> u64 {
        self.shared.event_now(Instant::now())
    }

    /// Counters since start.
    pub fn stats(&self) -> SimStats {
        self.shared.counters.snapshot()
    }

    /// Stops accepting, closes every session (1001) and joins all threads.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if self.shared.stop.swap(true, Relaxed) {
            return;
        }
        // Wake the blocking accept.
        let wake = match self.addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => {
                SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), self.addr.port())
            }
            _ => self.addr,
        };
        let _ = TcpStream::connect_timeout(&wake, Duration::from_millis(200));
        if let Some(h) = self.listener.take() {
            let _ = h.join();
        }
        let threads = std::mem::take(
            &mut *self
                .shared
                .threads
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        for t in threads {
            let _ = t.join();
        }
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn accept_loop(shared: &Arc<Shared>, listener: &TcpListener) {
    let mut id = 0u64;
    loop {
        let accepted = listener.accept();
        if shared.stop.load(Relaxed) {
            return;
        }
        let sock = match accepted {
            Ok((sock, _)) => sock,
            Err(_) => {
                // Out of descriptors or similar: let it pass, try again.
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        id += 1;
        shared.counters.connections.fetch_add(1, Relaxed);
        let s = shared.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("sim-conn-{id}"))
            .spawn(move || conn::serve(&s, sock));
        if let Ok(h) = spawned {
            let mut threads = shared
                .threads
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            threads.retain(|t| !t.is_finished());
            threads.push(h);
        }
    }
}
