//! The listener, the shared venue clock, counters and the public handle.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tickwire_feeds::binance::sim::{BinanceSim, Market, Venue};
use tickwire_feeds::sim::{SimVenue, SimVenueConfig, UnknownVenue, VenueError};

use super::config::SimConfig;
use super::conn;
use super::fault::Fault;
use super::shared::{Counters, Shared, SimStats, stream_start};
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
