//! Engine and connection configuration.
//!
//! One [`EngineConfig`] struct covers every deployment; the [`Profile`]s are presets of it, not
//! separate code paths. A [`ConnectionConfig`] names one WebSocket endpoint and, optionally,
//! per-connection [`ConnectionOptions`] that override the engine's defaults.

use std::sync::Arc;
use std::time::Duration;

/// What the I/O thread does when a poll finds nothing to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdleStrategy {
    /// Poll with a zero timeout forever. Lowest latency; burns its core. Use only with a core
    /// of its own (see `pin_core`): on a box where the consumer shares the core it starves it.
    BusySpin,
    /// Poll with a zero timeout; after `spins` consecutive empty polls, call `sched_yield` on
    /// every further empty poll. With `spins: 0` it yields on every empty poll and also right
    /// after a turn that handed messages to consumers, which lets a consumer thread sharing
    /// the core run between polls and see new events one poll sooner (the right choice on
    /// 2–4 cores).
    SpinThenYield {
        /// Empty polls before yielding starts.
        spins: u32,
    },
    /// Block in `poll` until a socket is ready, the next timer is due, or a command wakes the
    /// loop through its `mio::Waker`. Cheapest on CPU; adds a wake-up to every message.
    Blocking,
}

/// Deployment presets (the seeds' profiles).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// Busy-poll (yielding on empty polls), large buffers, telemetry with per-stage histograms.
    /// Set [`EngineConfig::pin_core`] (and [`IdleStrategy::BusySpin`] on a machine with cores
    /// to spare) for the lowest latency.
    LowLatency,
    /// Blocking poll with the next timer as timeout; telemetry and histograms on.
    Standard,
    /// Blocking poll, small buffers, telemetry counters only (no per-stage timestamps).
    Lightweight,
}

/// Exponential backoff with full jitter between reconnect attempts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackoffConfig {
    /// Upper bound of the first delay (the delay of attempt `n` is uniform in
    /// `[0, min(cap, base * 2^(n-1))]`).
    pub base: Duration,
    /// Largest delay.
    pub cap: Duration,
    /// Give up after this many consecutive failed attempts (`None`: never give up).
    pub max_attempts: Option<u32>,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        BackoffConfig {
            base: Duration::from_millis(100),
            cap: Duration::from_secs(30),
            max_attempts: None,
        }
    }
}

/// Per-connection tunables. The engine's [`EngineConfig::connection_defaults`] apply unless a
/// [`ConnectionConfig`] carries its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionOptions {
    /// `SO_RCVBUF` for the TCP socket, set before connecting (`None`: the OS default, which on
    /// Linux autotunes; an explicit size disables autotuning and is capped by
    /// `net.core.rmem_max`).
    pub tcp_recv_buffer: Option<usize>,
    /// `SO_SNDBUF` for the TCP socket (`None`: the OS default).
    pub tcp_send_buffer: Option<usize>,
    /// Initial size of the connection's receive buffer. It grows once, to hold `max_frame`,
    /// if a frame needs it.
    pub rx_buffer: usize,
    /// Limit on queued outbound bytes; sends over it fail with `SendError::Full`.
    pub tx_limit: usize,
    /// Largest frame payload accepted; a bigger one closes with 1009 and recycles.
    /// Default 16 MiB (4 MiB in the lightweight profile).
    pub max_frame: usize,
    /// Largest reassembled message accepted; a bigger one closes with 1009 and recycles.
    /// Default 16 MiB (4 MiB in the lightweight profile); this, not
    /// [`crate::ws::Limits::default`], is what engine connections enforce.
    pub max_message: usize,
    /// Send a WebSocket ping this often (the seeds' `keepalive`). `None`: no client pings.
    pub ping_interval: Option<Duration>,
    /// A ping unanswered for this long recycles the connection (the seeds' `ws_timeout`).
    pub pong_timeout: Duration,
    /// No data message for this long emits a `Stale` status and recycles. `None`: no limit.
    pub stale_after: Option<Duration>,
    /// Limit for one attempt from resolving to the completed upgrade.
    pub connect_timeout: Duration,
    /// How long a graceful close waits for the peer's close frame.
    pub close_timeout: Duration,
    /// Reconnect policy.
    pub backoff: BackoffConfig,
    /// Offer permessage-deflate (RFC 7692) in the upgrade. When the server accepts,
    /// compressed messages are inflated into a buffer the connection owns (bounded by
    /// `max_message`: a bigger inflated message closes with 1009). Our own frames are sent
    /// uncompressed, which the RFC allows. `None` (the default): no extension is offered.
    pub deflate: Option<crate::ws::DeflateOffer>,
}

impl Default for ConnectionOptions {
    fn default() -> Self {
        ConnectionOptions {
            tcp_recv_buffer: None,
            tcp_send_buffer: None,
            rx_buffer: 64 * 1024,
            tx_limit: 256 * 1024,
            max_frame: 16 * 1024 * 1024,
            max_message: 16 * 1024 * 1024,
            ping_interval: Some(Duration::from_secs(10)),
            pong_timeout: Duration::from_secs(15),
            stale_after: Some(Duration::from_secs(60)),
            connect_timeout: Duration::from_secs(10),
            close_timeout: Duration::from_secs(2),
            backoff: BackoffConfig::default(),
            deflate: None,
        }
    }
}

/// Engine-wide configuration. Build one with [`EngineConfig::profile`] and adjust fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EngineConfig {
    /// What the I/O thread does on an empty poll.
    pub idle: IdleStrategy,
    /// Pin the I/O thread to this core (`core_affinity` id). `None`: leave it to the OS.
    pub pin_core: Option<usize>,
    /// Capacity of the command queue; a full queue fails the command at the caller.
    pub command_capacity: usize,
    /// Emit telemetry records at all.
    pub telemetry: bool,
    /// Take the extra timestamps (decoded, published) that per-stage histograms need.
    pub stage_histograms: bool,
    /// Capacity of the telemetry ring.
    pub telemetry_capacity: usize,
    /// Readiness events fetched per `poll` call.
    pub poll_events: usize,
    /// How long shutdown waits for close handshakes before dropping sockets.
    pub shutdown_timeout: Duration,
    /// Options for connections that do not bring their own.
    pub connection_defaults: ConnectionOptions,
    /// Reading pauses, and the loop yields, once a consumer ring holds more than this many
    /// unread events and its consumer has not read for [`EngineConfig::yield_stall`]
    /// (every idle strategy but busy-spin; `usize::MAX`: only when a ring is three quarters
    /// full). Where a consumer shares the I/O thread's core it runs only when the loop
    /// yields, so without a bound every event of a backlog read in one turn waits for the
    /// last (issue 16: a p99 of ~2 ms after each stall).
    pub yield_backlog: usize,
    /// See [`EngineConfig::yield_backlog`]: how long a consumer that far behind may stand
    /// still before the loop yields to it. A consumer on a core of its own keeps reading and
    /// is never yielded to for its backlog (a yield every few messages cost the ring
    /// consumer 2.5x its throughput on the peers bench when the bound was by size alone);
    /// zero: by size alone.
    pub yield_stall: Duration,
}

/// [`EngineConfig::yield_backlog`] of [`Profile::LowLatency`].
pub const LOW_LATENCY_YIELD_BACKLOG: usize = 64;

/// [`EngineConfig::yield_stall`] of [`Profile::LowLatency`].
pub const LOW_LATENCY_YIELD_STALL: Duration = Duration::from_micros(20);

impl EngineConfig {
    /// The preset for `profile`.
    pub fn profile(profile: Profile) -> EngineConfig {
        let base = EngineConfig {
            idle: IdleStrategy::Blocking,
            pin_core: None,
            command_capacity: 1024,
            telemetry: true,
            stage_histograms: true,
            telemetry_capacity: 64 * 1024,
            poll_events: 256,
            shutdown_timeout: Duration::from_secs(2),
            connection_defaults: ConnectionOptions::default(),
            yield_backlog: usize::MAX,
            yield_stall: Duration::ZERO,
        };
        match profile {
            Profile::LowLatency => EngineConfig {
                idle: IdleStrategy::SpinThenYield { spins: 0 },
                yield_backlog: LOW_LATENCY_YIELD_BACKLOG,
                yield_stall: LOW_LATENCY_YIELD_STALL,
                // SO_RCVBUF stays unset: setting it turns off Linux's receive-buffer
                // autotuning and is capped at `net.core.rmem_max`.
                connection_defaults: ConnectionOptions {
                    rx_buffer: 256 * 1024,
                    ..ConnectionOptions::default()
                },
                ..base
            },
            Profile::Standard => base,
            Profile::Lightweight => EngineConfig {
                command_capacity: 128,
                stage_histograms: false,
                telemetry_capacity: 4 * 1024,
                poll_events: 64,
                connection_defaults: ConnectionOptions {
                    rx_buffer: 16 * 1024,
                    tx_limit: 64 * 1024,
                    max_frame: 4 * 1024 * 1024,
                    max_message: 4 * 1024 * 1024,
                    ..ConnectionOptions::default()
                },
                ..base
            },
        }
    }
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig::profile(Profile::Standard)
    }
}

/// Why a [`ConnectionConfig`] could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The URL does not start with `ws://` or `wss://`.
    #[error("url scheme must be ws:// or wss://")]
    Scheme,
    /// The URL has no host.
    #[error("url has no host")]
    Host,
    /// The port is not a number in 1..=65535.
    #[error("url port is invalid")]
    Port,
    /// The host is not a valid TLS server name.
    #[error("host is not a valid TLS server name")]
    ServerName,
    /// An extra root certificate could not be parsed.
    #[error("extra root certificate is invalid")]
    RootCert,
}

/// The parts of a `ws://` or `wss://` URL the engine needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// Whether the scheme is `wss`.
    pub tls: bool,
    /// Host name or IP literal (without IPv6 brackets).
    pub host: String,
    /// TCP port (default 80 / 443).
    pub port: u16,
    /// Path and query, starting with `/`.
    pub path: String,
}

impl Endpoint {
    /// Parses a `ws://` or `wss://` URL.
    pub fn parse(url: &str) -> Result<Endpoint, ConfigError> {
        let (tls, rest) = if let Some(r) = strip_prefix_ci(url, "wss://") {
            (true, r)
        } else if let Some(r) = strip_prefix_ci(url, "ws://") {
            (false, r)
        } else {
            return Err(ConfigError::Scheme);
        };
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(split);
        // Userinfo is not supported on WebSocket URLs; drop it if present.
        let authority = authority.rsplit('@').next().unwrap_or(authority);
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let end = v6.find(']').ok_or(ConfigError::Host)?;
            let after = &v6[end + 1..];
            let port = match after.strip_prefix(':') {
                Some(p) => Some(p),
                None if after.is_empty() => None,
                None => return Err(ConfigError::Port),
            };
            (&v6[..end], port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(ConfigError::Host);
        }
        let port = match port {
            Some(p) => match p.parse::<u16>() {
                Ok(n) if n > 0 => n,
                _ => return Err(ConfigError::Port),
            },
            None if tls => 443,
            None => 80,
        };
        let path = if path.is_empty() {
            "/".to_owned()
        } else if path.starts_with('?') {
            format!("/{path}")
        } else {
            path.to_owned()
        };
        Ok(Endpoint {
            tls,
            host: host.to_owned(),
            port,
            path,
        })
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// One WebSocket endpoint and how to talk to it.
#[derive(Clone, Debug)]
pub struct ConnectionConfig {
    /// The URL as given (`ws://` or `wss://`).
    pub url: String,
    /// Its parsed parts.
    pub endpoint: Endpoint,
    /// Extra HTTP headers for the upgrade request (API keys, signatures).
    pub headers: Vec<(String, String)>,
    /// `Sec-WebSocket-Protocol` values offered.
    pub subprotocols: Vec<String>,
    /// Extra trusted root certificates (DER), added to the webpki roots.
    pub extra_roots: Vec<Arc<[u8]>>,
    /// Tunables; `None` takes [`EngineConfig::connection_defaults`].
    pub options: Option<ConnectionOptions>,
    /// Further lines (A/B redundancy): URLs serving the same data as `url`, each opened as
    /// its own leg (leg `n` is line `n`; `url` is line 0) when the connection starts, with
    /// the same headers, options and roots. All stay live; the handler arbitrates
    /// (see `adapter::ArbitratedFeed`). Lifecycle statuses of a connection with several
    /// lines are the handler's to publish (one line going down is not the feed going down).
    ///
    /// What arbitration promises depends on the venue's ids:
    ///
    /// * **A per-instrument book sequence** (Binance `U`/`u`/`pu`, Bybit `u`, OKX
    ///   `seqId`/`prevSeqId`): each book update is published once, in order, from the first
    ///   line that brought it; a book resyncs only when every line missed an update (or no
    ///   line filled the hole within the hold). A snapshot one line brings ahead of the book
    ///   (Bybit and OKX send one on every (re)subscribe) is held for the other lines' diffs
    ///   and installed only if they do not come within the hold.
    /// * **Trades** by the venue's id: numeric ids once and in id order; UUIDs and hashed ids
    ///   (Bybit linear) once, and in the venue's order as long as some line's session saw the
    ///   trades in between (a line's trades are released when its previous trade is
    ///   published); when no line in session brings them within the hold, the held trades
    ///   go out in arrival order. Membership is remembered for the last 4096 such ids.
    /// * **No per-book ids** (Coinbase's `sequence_num` counts a connection's messages,
    ///   Kraken numbers nothing; [`crate::adapter::FeedAdapter::copies_line_up`] is false):
    ///   copies cannot be lined up, so the lines fail over. Each line keeps its own books in
    ///   sync; each book is published from one line; when that line loses it, drops, stalls
    ///   or lags, another line's book (in sync) replaces the consumers' copy as a SNAPSHOT
    ///   run, without `Gap` or `Resync`; only when no line has it is the book declared lost.
    ///   The switched-to copy may be a few milliseconds older than the last update the old
    ///   line delivered. Trades are still taken first copy by id; BBOs come from one line
    ///   per instrument.
    pub lines: Vec<String>,
}

impl ConnectionConfig {
    /// A configuration for `url` with no extra headers, protocols or roots.
    pub fn new(url: &str) -> Result<ConnectionConfig, ConfigError> {
        Ok(ConnectionConfig {
            url: url.to_owned(),
            endpoint: Endpoint::parse(url)?,
            headers: Vec::new(),
            subprotocols: Vec::new(),
            extra_roots: Vec::new(),
            options: None,
            lines: Vec::new(),
        })
    }

    /// Adds an upgrade-request header.
    #[must_use]
    pub fn header(mut self, name: &str, value: &str) -> ConnectionConfig {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Offers a subprotocol.
    #[must_use]
    pub fn subprotocol(mut self, protocol: &str) -> ConnectionConfig {
        self.subprotocols.push(protocol.to_owned());
        self
    }

    /// Trusts an extra root certificate (DER), e.g. a test server's self-signed certificate.
    #[must_use]
    pub fn trust_root_der(mut self, der: &[u8]) -> ConnectionConfig {
        self.extra_roots.push(der.into());
        self
    }

    /// Adds a further line: `url` serves the same data (A/B redundancy; see
    /// [`ConnectionConfig::lines`]). Fails on a malformed URL.
    pub fn line(mut self, url: &str) -> Result<ConnectionConfig, ConfigError> {
        Endpoint::parse(url)?;
        self.lines.push(url.to_owned());
        Ok(self)
    }

    /// Overrides the engine's default options for this connection.
    #[must_use]
    pub fn options(mut self, options: ConnectionOptions) -> ConnectionConfig {
        self.options = Some(options);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        let e = Endpoint::parse("wss://stream.binance.com:9443/ws/btcusdt@trade").unwrap();
        assert_eq!(
            (e.tls, e.host.as_str(), e.port, e.path.as_str()),
            (true, "stream.binance.com", 9443, "/ws/btcusdt@trade")
        );
        let e = Endpoint::parse("ws://127.0.0.1").unwrap();
        assert_eq!((e.tls, e.port, e.path.as_str()), (false, 80, "/"));
        let e = Endpoint::parse("WSS://h?x=1").unwrap();
        assert_eq!((e.port, e.path.as_str()), (443, "/?x=1"));
        let e = Endpoint::parse("ws://[::1]:8080/a").unwrap();
        assert_eq!((e.host.as_str(), e.port), ("::1", 8080));
        assert_eq!(Endpoint::parse("http://x"), Err(ConfigError::Scheme));
        assert_eq!(Endpoint::parse("ws://:80/"), Err(ConfigError::Host));
        assert_eq!(Endpoint::parse("ws://h:0/"), Err(ConfigError::Port));
        assert_eq!(Endpoint::parse("ws://h:99999/"), Err(ConfigError::Port));
        assert_eq!(Endpoint::parse("ws://[::1]x/"), Err(ConfigError::Port));
    }

    #[test]
    fn profiles_differ_only_in_values() {
        let low = EngineConfig::profile(Profile::LowLatency);
        let light = EngineConfig::profile(Profile::Lightweight);
        assert!(matches!(low.idle, IdleStrategy::SpinThenYield { .. }));
        assert_eq!(EngineConfig::default().idle, IdleStrategy::Blocking);
        assert!(!light.stage_histograms);
        assert!(light.connection_defaults.rx_buffer < low.connection_defaults.rx_buffer);
    }

    #[test]
    fn message_limits_are_what_the_docs_say() {
        // ConnectionOptions: 16 MiB frames and messages; lightweight 4 MiB (the docs of
        // `max_frame`, `max_message` and `ws::Limits`).
        let o = ConnectionOptions::default();
        assert_eq!((o.max_frame, o.max_message), (16 << 20, 16 << 20));
        let l = EngineConfig::profile(Profile::Lightweight).connection_defaults;
        assert_eq!((l.max_frame, l.max_message), (4 << 20, 4 << 20));
        let d = crate::ws::Limits::default();
        assert_eq!((d.max_frame, d.max_message), (16 << 20, 64 << 20));
    }
}
