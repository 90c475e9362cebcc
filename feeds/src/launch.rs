//! The venue-neutral launch hook: how `tickwire run`, `record`, `bench` and the demo start any
//! venue of the [registry](crate::venues) by name.
//!
//! A command fills a [`LaunchSpec`] (symbols, channel names as the user typed them, optional
//! endpoint overrides, trust roots, connection and handler tuning) and asks the venue for a
//! plan with [`VenueKind::launch`](crate::venues::VenueKind::launch). The venue checks the
//! spec, plans its connections (no I/O) and answers a [`Launch`]: what each connection will
//! open and carry (for the printers and the live view), and two ways to run it:
//! [`Launch::start`] adds every connection to an engine (the venue's own pacing, rotation and
//! snapshot sources), [`Launch::build`] builds one connection for a caller that wraps it
//! (`tickwire record` puts a recorder around the handler and a tee around the snapshot
//! source).
//!
//! # Implementing the hook for a venue
//!
//! 1. Write a type that implements [`Launch`] (keep the planned subscriptions, the resolved
//!    config, the roots, `spec.options` and `spec.handler` in it). `build(i, ..)` makes the
//!    venue's adapter for connection `i`, passes its snapshot source (REST, or an empty
//!    `QueuedSnapshots` for in-band snapshots) through `wrap` with the `(instrument, symbol)`
//!    of every book, builds the `FeedHandler`, and returns it with
//!    `connection_config(handler.adapter(), spec.options)` plus the extra roots. The default
//!    [`Launch::start`] ([`start_connections`]) then adds connection `i` after its
//!    [`PlannedConnection::start_after`]; override it only for more (Binance: rotation).
//! 2. Parse `spec.channels` with the common names `trade`, `bbo` and `book` (plus the
//!    venue's own, e.g. Binance `aggtrade`), lower-cased; an unknown name, a bad symbol or
//!    URL is a [`LaunchError::Usage`] whose text says what to use instead.
//! 3. Honour `spec.url` (the venue's URL override, e.g. a `tickwire sim` at
//!    `ws://127.0.0.1:PORT`) and, where books come by REST, `spec.rest_url` or else
//!    [`loopback_rest`] of `spec.url`.
//! 4. Return the boxed plan from the venue's `VenueKind::launch` in `venues.rs`. The tools
//!    need no change: every command reaches the venue by its name.

use std::time::{Duration, Instant};

use tickwire_engine::adapter::{
    AddFeedError, ArbitratedFeed, FeedConfig, FeedHandler, FeedStats, LineMonitor, SnapshotSource,
    add_arbitrated_feed,
};
use tickwire_engine::command::{ConsumerId, EngineHandle};
use tickwire_engine::config::{ConnectionConfig, ConnectionOptions};
use tickwire_engine::handler::WsHandler;
use tickwire_engine::{ConnectionId, FeedAdapter, InstrumentId, Registry};

use crate::venues::DecodeOptions;

pub mod binance;
pub mod bybit;
// Coinbase Advanced Trade
pub mod coinbase;
pub mod okx;

/// What a command asks a venue to run. Built with [`LaunchSpec::new`], then fields set;
/// venues read it (fields may be added: it is `#[non_exhaustive]`).
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct LaunchSpec {
    /// Symbols or instrument ids as the user gave them (venues normalize the case).
    pub symbols: Vec<String>,
    /// Channel names as the user gave them: `trade`, `bbo`, `book`, and venue-specific ones.
    pub channels: Vec<String>,
    /// The book's speed or depth, venue-specific text (Binance `100ms`, Bybit `50`); `None`:
    /// the venue's default.
    pub depth: Option<String>,
    /// WebSocket endpoint instead of the venue's.
    pub url: Option<String>,
    /// Further endpoints serving the same stream: redundant lines (A/B), arbitrated so each
    /// update is delivered once ([`tickwire_engine::adapter::ArbitratedFeed`]). Binance,
    /// Bybit and OKX (a per-instrument sequence on every book update) take each update's
    /// first copy; Coinbase (a per-connection sequence) and Kraken (none) fail over between
    /// the lines' books.
    pub lines: Vec<String>,
    /// REST endpoint (book snapshots) instead of the venue's.
    pub rest_url: Option<String>,
    /// Extra trusted root certificates (DER), for `wss://` and REST to a self-signed server.
    pub roots: Vec<Vec<u8>>,
    /// Connection tunables.
    pub options: ConnectionOptions,
    /// Feed handler tunables.
    pub handler: FeedConfig,
    /// Timestamp unit and latency probe (Binance; others ignore what does not apply).
    pub decode: DecodeOptions,
    /// How subscriptions are requested, venue-specific (Binance `frames` or `url`); `None`:
    /// the venue's default.
    pub subscribe: Option<String>,
    /// Spread the streams over at least this many connections (as far as there are symbols
    /// to spread: a symbol's streams stay on one), for benchmarks of the I/O thread's cost
    /// per connection; `None`: as few as the venue allows. Binance only so far; the other
    /// venues refuse it ([`NO_CONNECTIONS`]).
    pub connections: Option<usize>,
    /// This launch's place among the shards spreading one universe over several engines
    /// ([`crate::spread`]): venues share out their per-IP limits (connect pacing, message
    /// rates, REST weight) among the shards. Default: the whole universe on one engine.
    pub shard: crate::spread::Shard,
}

impl LaunchSpec {
    /// A spec for these symbols and channels, everything else the venue's default.
    pub fn new<S: AsRef<str>, C: AsRef<str>>(symbols: &[S], channels: &[C]) -> LaunchSpec {
        LaunchSpec {
            symbols: symbols.iter().map(|s| s.as_ref().to_owned()).collect(),
            channels: channels.iter().map(|c| c.as_ref().to_owned()).collect(),
            ..LaunchSpec::default()
        }
    }

    /// The symbols trimmed and upper-cased, empty ones dropped.
    pub fn symbols_upper(&self) -> Vec<String> {
        self.symbols
            .iter()
            .map(|s| s.trim().to_ascii_uppercase())
            .filter(|s| !s.is_empty())
            .collect()
    }

    /// The channel names trimmed, empty ones dropped (case kept: some venues' stream
    /// suffixes are mixed case).
    pub fn channel_names(&self) -> Vec<&str> {
        self.channels
            .iter()
            .map(|c| c.trim())
            .filter(|c| !c.is_empty())
            .collect()
    }
}

/// Why a venue other than Binance refuses [`LaunchSpec::connections`].
pub const NO_CONNECTIONS: &str = "--connections is implemented for binance and binance-usdm \
     only; other venues pack their streams into as few connections as they allow";

/// Why a venue could not plan or start a launch.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LaunchError {
    /// The command line cannot work (bad symbol, channel, URL, certificate): exit code 2.
    #[error("{0}")]
    Usage(String),
    /// Something else failed (threads, the engine).
    #[error("{0}")]
    Failed(String),
    /// The venue has no launcher (yet).
    #[error("venue '{0}' cannot be run yet (no launcher)")]
    Unsupported(&'static str),
}

impl LaunchError {
    /// The exit code a command reports it with.
    pub fn exit_code(&self) -> u8 {
        match self {
            LaunchError::Usage(_) | LaunchError::Unsupported(_) => 2,
            LaunchError::Failed(_) => 1,
        }
    }
}

/// One planned connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedConnection {
    /// The WebSocket URL it opens.
    pub url: String,
    /// Its subscriptions as the venue names them (stream names, topics).
    pub streams: Vec<String>,
    /// How long after the launch's start it may be opened (the venue's connect pacing).
    pub start_after: Duration,
}

/// One connection built by [`Launch::build`], to add to an engine.
pub struct BuiltConnection {
    /// Endpoint, headers, options and roots.
    pub config: ConnectionConfig,
    /// The feed handler (the venue's adapter and book sync).
    pub handler: Box<dyn WsHandler>,
}

/// Passes a connection's snapshot source through the caller (a tee that records what it
/// hands out), with the `(instrument, symbol)` of every book on the connection. Identity:
/// `&mut |s, _| s`.
pub type SnapshotWrap<'a> = &'a mut dyn FnMut(
    Box<dyn SnapshotSource>,
    Vec<(InstrumentId, String)>,
) -> Box<dyn SnapshotSource>;

/// A venue's planned launch: answered by `VenueKind::launch`. See the [module docs](self)
/// for how a venue implements it.
pub trait Launch: Send {
    /// The venue name events carry.
    fn venue(&self) -> &'static str;
    /// The market in words for titles and summaries (`binance spot`, `bybit linear`).
    fn market_name(&self) -> String;
    /// The WebSocket base it connects to (for messages).
    fn ws_base(&self) -> String;
    /// The REST base book snapshots come from; `None` when books come in-band only.
    fn rest_base(&self) -> Option<String> {
        None
    }
    /// Levels a side each book keeps (what a consumer rebuilding the books should keep).
    fn book_depth(&self) -> usize;
    /// The symbols as the venue spells them, in plan order, without repeats.
    fn symbols(&self) -> Vec<String>;
    /// The planned connections, in start order.
    fn connections(&self) -> &[PlannedConnection];
    /// The subscriptions request `request_id` of connection `connection` asked for, when
    /// the venue numbers its requests (a refusal names the request): the tools say which
    /// streams were refused.
    fn request(&self, connection: usize, request_id: u64) -> Option<Vec<String>> {
        let _ = (connection, request_id);
        None
    }
    /// A hint on where the venue lists its symbols, for an error where every subscription
    /// was refused.
    fn symbols_hint(&self) -> &'static str {
        "check the venue's symbol list"
    }
    /// The line statistics of each arbitrated connection started so far (empty without
    /// [`LaunchSpec::lines`]).
    fn line_monitors(&self) -> Vec<tickwire_engine::adapter::LineMonitor> {
        Vec::new()
    }
    /// Builds connection `index` ([`Launch::connections`]), its snapshot source passed
    /// through `wrap`; symbols are interned in `registry`.
    fn build(
        &self,
        index: usize,
        registry: &Registry,
        wrap: SnapshotWrap<'_>,
    ) -> Result<BuiltConnection, LaunchError>;
    /// Adds every connection to `engine`, publishing to `consumers`; blocks while pacing
    /// the connects. If one cannot be added, those already added are removed again.
    fn start(
        &self,
        engine: &EngineHandle,
        registry: &Registry,
        consumers: &[ConsumerId],
    ) -> Result<Vec<ConnectionId>, LaunchError> {
        start_connections(self, engine, registry, consumers)
    }
}

/// [`Launch::start`]'s default: builds each connection (identity wrap) and adds it after its
/// [`PlannedConnection::start_after`].
pub fn start_connections<L: Launch + ?Sized>(
    launch: &L,
    engine: &EngineHandle,
    registry: &Registry,
    consumers: &[ConsumerId],
) -> Result<Vec<ConnectionId>, LaunchError> {
    let begun = Instant::now();
    let mut ids = Vec::with_capacity(launch.connections().len());
    for (i, c) in launch.connections().iter().enumerate() {
        if let Some(wait) = c.start_after.checked_sub(begun.elapsed()) {
            std::thread::sleep(wait);
        }
        let added = launch.build(i, registry, &mut |s, _| s).and_then(|b| {
            engine
                .add_connection(b.config, b.handler, consumers)
                .map_err(|e| LaunchError::Failed(format!("engine: {e}")))
        });
        match added {
            Ok(id) => ids.push(id),
            Err(e) => {
                for id in ids {
                    let _ = engine.remove(id);
                }
                return Err(e);
            }
        }
    }
    Ok(ids)
}

/// The line monitors of a launch's arbitrated connections, filled as they start
/// ([`start_arbitrated`]); what [`Launch::line_monitors`] returns.
#[derive(Clone, Default)]
pub struct LineMonitors(std::sync::Arc<std::sync::Mutex<Vec<LineMonitor>>>);

impl LineMonitors {
    /// The monitors so far, one per arbitrated connection started.
    pub fn get(&self) -> Vec<LineMonitor> {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<LineMonitor>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// [`Launch::start`] with [`LaunchSpec::lines`]: one [`ArbitratedFeed`] per planned
/// connection (`build(i)`: connection `i`'s feed over every line), each added after its
/// [`PlannedConnection::start_after`] with `options` and `roots`; each feed's monitor is
/// pushed to `monitors`. On an error the connections already added are removed.
#[allow(clippy::too_many_arguments)]
pub fn start_arbitrated<A: FeedAdapter>(
    planned: &[PlannedConnection],
    engine: &EngineHandle,
    options: ConnectionOptions,
    roots: &[Vec<u8>],
    consumers: &[ConsumerId],
    monitors: &LineMonitors,
    mut build: impl FnMut(usize) -> Result<ArbitratedFeed<A>, LaunchError>,
) -> Result<Vec<ConnectionId>, LaunchError> {
    let begun = Instant::now();
    let mut ids = Vec::with_capacity(planned.len());
    for (i, c) in planned.iter().enumerate() {
        if let Some(wait) = c.start_after.checked_sub(begun.elapsed()) {
            std::thread::sleep(wait);
        }
        let added = build(i).and_then(|feed| {
            let monitor = feed.monitor();
            let id =
                add_arbitrated_feed(engine, feed, options, roots, consumers).map_err(
                    |e| match e {
                        AddFeedError::Config(c) => LaunchError::Usage(format!("bad --url: {c}")),
                        e => LaunchError::Failed(e.to_string()),
                    },
                )?;
            monitors.lock().push(monitor);
            Ok(id)
        });
        match added {
            Ok(id) => ids.push(id),
            Err(e) => {
                for id in ids {
                    let _ = engine.remove(id);
                }
                return Err(e);
            }
        }
    }
    Ok(ids)
}

/// A venue's feed handler seen through what a replay asks of it (any `FeedHandler`):
/// `tickwire replay` drives a journal through one per recorded connection.
pub trait FeedHandle: WsHandler {
    /// The handler's counters.
    fn stats(&self) -> FeedStats;
    /// Whether `instrument`'s book is in sync.
    fn in_sync(&self, instrument: InstrumentId) -> bool;
    /// The books the handler keeps.
    fn book_instruments(&self) -> Vec<InstrumentId>;
}

impl<A: FeedAdapter> FeedHandle for FeedHandler<A> {
    fn stats(&self) -> FeedStats {
        FeedHandler::stats(self)
    }

    fn in_sync(&self, instrument: InstrumentId) -> bool {
        FeedHandler::in_sync(self, instrument)
    }

    fn book_instruments(&self) -> Vec<InstrumentId> {
        self.adapter()
            .books()
            .iter()
            .map(|b| b.instrument)
            .collect()
    }
}

/// `ws://127.0.0.1:9100/stream` → `http://127.0.0.1:9100` when the host is loopback (where
/// `tickwire sim` serves both WebSocket and REST); `None` otherwise.
pub fn loopback_rest(url: &str) -> Option<String> {
    let endpoint = tickwire_engine::config::Endpoint::parse(url).ok()?;
    let host = endpoint.host.as_str();
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        return None;
    }
    let scheme = if endpoint.tls { "https" } else { "http" };
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    };
    Some(format!("{scheme}://{host}:{}", endpoint.port))
}

/// Root certificates (DER) from a PEM file's bytes (every certificate in it) or one DER
/// certificate; `None` for a PEM file without a valid certificate.
pub fn parse_roots(bytes: &[u8]) -> Option<Vec<Vec<u8>>> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    if !bytes.starts_with(b"-----BEGIN") {
        return Some(vec![bytes.to_vec()]);
    }
    match CertificateDer::pem_slice_iter(bytes).collect::<Result<Vec<_>, _>>() {
        Ok(certs) if !certs.is_empty() => Some(certs.iter().map(|c| c.as_ref().to_vec()).collect()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rest_defaults_to_a_loopback_ws_host() {
        assert_eq!(
            loopback_rest("ws://127.0.0.1:9100/stream").as_deref(),
            Some("http://127.0.0.1:9100")
        );
        assert_eq!(
            loopback_rest("wss://localhost:1/").as_deref(),
            Some("https://localhost:1")
        );
        assert_eq!(
            loopback_rest("ws://[::1]:7").as_deref(),
            Some("http://[::1]:7")
        );
        assert_eq!(loopback_rest("wss://stream.binance.com:9443"), None);
    }
}

#[cfg(test)]
mod hook_tests {
    use super::*;
    use crate::venues;

    fn plan(venue: &str, symbols: &[&str], url: &str) -> Result<Box<dyn Launch>, LaunchError> {
        let mut spec = LaunchSpec::new(symbols, &["trade", "bbo", "book"]);
        spec.url = Some(url.to_owned());
        let v = venues::find(venue).map_err(|e| LaunchError::Usage(e.to_string()))?;
        v.launch(&spec, &Registry::new())
    }

    /// Every registered venue launches by name; URLs follow each venue's documented
    /// endpoint shape (Bybit appends the market's path, OKX the public path).
    #[test]
    fn every_venue_plans_by_name() {
        let Ok(b) = plan("binance", &["btcusdt"], "ws://127.0.0.1:9") else {
            panic!("binance plans")
        };
        assert_eq!(b.venue(), "binance");
        assert_eq!(b.symbols(), ["BTCUSDT"]);
        assert_eq!(b.rest_base().as_deref(), Some("http://127.0.0.1:9"));
        let Ok(y) = plan("bybit-linear", &["BTCUSDT"], "ws://127.0.0.1:9") else {
            panic!("bybit-linear plans")
        };
        assert_eq!(y.connections().len(), 1);
        assert_eq!(y.connections()[0].url, "ws://127.0.0.1:9/v5/public/linear");
        assert_eq!(y.book_depth(), 50);
        let Ok(o) = plan("okx", &["btc-usdt"], "ws://127.0.0.1:9") else {
            panic!("okx plans")
        };
        assert_eq!(o.connections()[0].url, "ws://127.0.0.1:9/ws/v5/public");
        assert_eq!(o.symbols(), ["BTC-USDT"]);
        assert_eq!(o.rest_base().as_deref(), Some("http://127.0.0.1:9"));
    }

    #[test]
    fn bad_input_is_a_usage_error() {
        let mut spec = LaunchSpec::new(&["BTCUSDT"], &["kline"]);
        for v in venues::VENUES {
            let e = v.launch(&spec, &Registry::new()).err();
            assert!(
                matches!(&e, Some(LaunchError::Usage(m)) if m.contains("unknown channel 'kline'")),
                "{}: {e:?}",
                v.name()
            );
        }
        spec.channels = vec!["trade".into()];
        // A quote would break every venue's request JSON: no venue spells a symbol so.
        spec.symbols = vec!["BTC\"USDT".into()];
        for v in venues::VENUES {
            let e = v.launch(&spec, &Registry::new()).err();
            assert!(
                matches!(e, Some(LaunchError::Usage(_))),
                "{}: {e:?}",
                v.name()
            );
        }
    }
}
