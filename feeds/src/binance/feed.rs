//! [`BinanceFeed`]: the launcher a trading system calls to run Binance market data on an
//! engine — venue, symbols, channels and endpoints in, running connections out.
//!
//! It does what the [module example](super) spells out by hand: spreads the subscriptions
//! over connections ([`plan_connections`]), builds one [`BinanceAdapter`] and one
//! [`FeedHandler`] per connection with a [`RestSnapshots`] source for its books (every feed of
//! a REST endpoint shares one scheduler thread: 200 feeds cost one thread), and adds each to
//! the engine with [`add_feed`].
//!
//! ```no_run
//! use tickwire_engine::{Engine, EngineConfig, Profile, Registry};
//! use tickwire_feeds::binance::{BinanceFeed, Channel, DepthSpeed, Market};
//!
//! let mut builder = Engine::builder(EngineConfig::profile(Profile::Standard));
//! let (consumer_id, mut consumer) = builder.consumer(1 << 16);
//! let engine = builder.start()?;
//! let registry = Registry::new();
//! let connections = BinanceFeed::new(Market::Spot)
//!     .symbols(&["BTCUSDT", "ETHUSDT"])
//!     .channels(&[Channel::Trade, Channel::BookTicker, Channel::Depth(DepthSpeed::Ms100)])
//!     // .url("ws://127.0.0.1:9100/stream").rest_url("http://127.0.0.1:9100") for a simulator
//!     .start(&engine.handle(), &registry, &[consumer_id])?;
//! std::thread::spawn(move || {
//!     while let Some(event) = consumer.pop() {
//!         let _ = registry.name(event.instrument); // trade, book level, BBO or status
//!     }
//! });
//! # let _ = connections;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use std::sync::{Arc, Mutex};

use tickwire_engine::adapter::{
    AddFeedError, ArbitrationConfig, ArbitrationError, FeedConfig, FeedHandler, LineMonitor,
    RotationConfig, RotationError, SnapshotSource, add_arbitrated_feed, add_feed,
    add_rotating_feed,
};
use tickwire_engine::command::{CommandError, ConsumerId, EngineHandle};
use tickwire_engine::config::{ConfigError, ConnectionOptions, Endpoint};
use tickwire_engine::{ConnectionId, Registry};

use super::adapter::{BinanceAdapter, PlanError};
use super::config::{BinanceConfig, Market, SubscribeVia, TimeUnit};
use super::lines::{ArbitratedFeedError, arbitrated_feed};
use super::rotation::{RotatingFeedError, rotating_feed, rotation_config};
use super::snapshot::RestSnapshots;
use super::subscription::{Channel, Subscription, plan_connections};

/// Longest symbol accepted (Binance's are far shorter; this only stops garbage early).
const MAX_SYMBOL_LEN: usize = 32;

/// Why a [`BinanceFeed`] could not start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FeedError {
    /// Nothing to subscribe to: give symbols and channels (or subscriptions).
    #[error("no subscriptions: give at least one symbol and one channel")]
    NoSubscriptions,
    /// A symbol is not a Binance symbol (letters and digits, like `BTCUSDT`). `index` is its
    /// position in [`BinanceFeed::subscriptions`].
    #[error("subscription {index}: a symbol is letters and digits only, like BTCUSDT")]
    InvalidSymbol {
        /// Position in [`BinanceFeed::subscriptions`].
        index: usize,
    },
    /// The WebSocket URL override is not a usable `ws://` or `wss://` URL.
    #[error("WebSocket URL: {0}")]
    Url(ConfigError),
    /// The WebSocket URL override carries a query; the feed writes its own.
    #[error("WebSocket URL: give it without a query (the feed adds ?streams=...)")]
    UrlQuery,
    /// The REST URL override is not an `http://` or `https://` URL without a query.
    #[error("REST URL: must be http:// or https://, host and optional path, no query")]
    RestUrl,
    /// An extra trusted root is neither a PEM certificate nor a valid DER one.
    #[error("extra trusted root: not a valid certificate (PEM or DER)")]
    Certificate,
    /// A connection's subscriptions could not be turned into an adapter.
    #[error("{0}")]
    Plan(PlanError),
    /// The shared REST snapshot thread could not be started.
    #[error("starting the snapshot thread: {0:?}")]
    SnapshotThread(std::io::ErrorKind),
    /// The engine refused a connection (stopped, queue full, too many consumers).
    #[error("engine: {0}")]
    Engine(CommandError),
    /// The rotation settings are invalid (see [`RotationConfig`]).
    #[error("rotation: {0}")]
    Rotation(RotationError),
    /// Too many lines, or invalid arbitration settings (see [`ArbitrationConfig`]).
    #[error("lines: {0}")]
    Arbitration(ArbitrationError),
}

impl From<AddFeedError> for FeedError {
    fn from(e: AddFeedError) -> FeedError {
        match e {
            AddFeedError::Config(ConfigError::RootCert) => FeedError::Certificate,
            AddFeedError::Config(c) => FeedError::Url(c),
            AddFeedError::Command(CommandError::Config(ConfigError::RootCert)) => {
                FeedError::Certificate
            }
            AddFeedError::Command(CommandError::Config(c)) => FeedError::Url(c),
            AddFeedError::Command(c) => FeedError::Engine(c),
        }
    }
}

/// An extra trusted root as given, parsed at start.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Root {
    Der(Vec<u8>),
    Pem(Vec<u8>),
}

/// A Binance market-data feed to run on an engine. See the [module docs](self).
#[derive(Clone, Debug)]
pub struct BinanceFeed {
    config: BinanceConfig,
    symbols: Vec<String>,
    channels: Vec<Channel>,
    extra: Vec<Subscription>,
    url: Option<String>,
    rest_url: Option<String>,
    roots: Vec<Root>,
    options: ConnectionOptions,
    handler: FeedConfig,
    rotation: Option<RotationConfig>,
    /// Further lines (A/B): WebSocket URLs serving the same data as the first.
    lines: Vec<String>,
    arbitration: ArbitrationConfig,
    /// The statistics of every arbitrated connection started (shared by clones).
    monitors: Arc<Mutex<Vec<LineMonitor>>>,
}

/// How a started feed's subscriptions are spread: one group per connection, in the order of
/// the ids [`BinanceFeed::start`] returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeedPlan {
    groups: Vec<Vec<Subscription>>,
    streams_per_frame: usize,
    via: SubscribeVia,
}

impl FeedPlan {
    /// The subscriptions of each connection.
    pub fn groups(&self) -> &[Vec<Subscription>] {
        &self.groups
    }

    /// Every subscription, over all connections.
    pub fn subscriptions(&self) -> impl Iterator<Item = &Subscription> {
        self.groups.iter().flatten()
    }

    /// The subscriptions that request `request_id` of connection `group` asked for (with
    /// [`SubscribeVia::Frames`]). The adapter numbers its `SUBSCRIBE` frames 1, 2, ... in
    /// subscription order and keeps counting on every reconnect, so a venue's error reply
    /// (a `SubscriptionError` status carries the request id) names these streams.
    pub fn request(&self, group: usize, request_id: u64) -> Option<&[Subscription]> {
        if self.via != SubscribeVia::Frames || request_id == 0 {
            return None;
        }
        let subs = self.groups.get(group)?;
        let per = self.streams_per_frame.max(1);
        let frames = subs.len().div_ceil(per) as u64;
        if frames == 0 {
            return None;
        }
        let k = ((request_id - 1) % frames) as usize;
        subs.chunks(per).nth(k)
    }
}

impl BinanceFeed {
    /// A feed on `market` with its defaults (production endpoints, millisecond timestamps,
    /// streams named in the URL, [`ConnectionOptions::default`]).
    pub fn new(market: Market) -> BinanceFeed {
        BinanceFeed::with_config(BinanceConfig::for_market(market))
    }

    /// A feed with every Binance setting given (see [`BinanceConfig`]).
    pub fn with_config(config: BinanceConfig) -> BinanceFeed {
        BinanceFeed {
            config,
            symbols: Vec::new(),
            channels: Vec::new(),
            extra: Vec::new(),
            url: None,
            rest_url: None,
            roots: Vec::new(),
            options: ConnectionOptions::default(),
            handler: FeedConfig::default(),
            rotation: Some(rotation_config()),
            lines: Vec::new(),
            arbitration: super::lines::arbitration_config(),
            monitors: Arc::default(),
        }
    }

    /// Adds a further line (A/B redundancy): `url` (given like [`BinanceFeed::url`]) serves
    /// the same data as the first line (the venue's host, or [`BinanceFeed::url`]). Every
    /// connection then runs over all lines at once, each update published once, from the
    /// line whose copy came first (see [`tickwire_engine::adapter::ArbitratedFeed`]); the
    /// lines replace make-before-break rotation (a line the venue closes reconnects while
    /// the others carry the feed). Checked by [`BinanceFeed::start`].
    #[must_use]
    pub fn line(mut self, url: &str) -> BinanceFeed {
        self.lines.push(url.to_owned());
        self
    }

    /// How lines are arbitrated (with [`BinanceFeed::line`]).
    #[must_use]
    pub fn arbitration(mut self, config: ArbitrationConfig) -> BinanceFeed {
        self.arbitration = config;
        self
    }

    /// The line statistics of each arbitrated connection started so far (empty without
    /// further lines).
    pub fn line_monitors(&self) -> Vec<LineMonitor> {
        self.monitors
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Make-before-break rotation of every connection (on by default: Binance closes
    /// connections at 24 h, so each is replaced at 23 h 50 m, and on `serverShutdown`, by a
    /// synced new one with no update lost or repeated). `None` turns it off: a venue close is
    /// then a reconnect with a book resync.
    #[must_use]
    pub fn rotation(mut self, rotation: Option<RotationConfig>) -> BinanceFeed {
        self.rotation = rotation;
        self
    }

    /// Adds symbols (any case); each gets every channel of [`BinanceFeed::channels`].
    #[must_use]
    pub fn symbols<S: AsRef<str>>(mut self, symbols: &[S]) -> BinanceFeed {
        self.symbols
            .extend(symbols.iter().map(|s| s.as_ref().to_ascii_uppercase()));
        self
    }

    /// Adds channels, subscribed for every symbol.
    #[must_use]
    pub fn channels(mut self, channels: &[Channel]) -> BinanceFeed {
        self.channels.extend_from_slice(channels);
        self
    }

    /// Adds single subscriptions (a symbol with its own channels).
    #[must_use]
    pub fn subscribe(mut self, subs: &[Subscription]) -> BinanceFeed {
        self.extra.extend_from_slice(subs);
        self
    }

    /// Connects here instead of the venue's WebSocket host: testnet, a proxy, a simulator.
    /// Give the base (`ws://127.0.0.1:9100`) or the stream endpoint
    /// (`ws://127.0.0.1:9100/stream`; a trailing `/stream` or `/ws`, and on USD-M `/public`
    /// or `/market`, is dropped); the feed adds the path and `?streams=...` as it does for
    /// the venue's host. Checked by [`BinanceFeed::start`].
    #[must_use]
    pub fn url(mut self, url: &str) -> BinanceFeed {
        self.url = Some(url.to_owned());
        self
    }

    /// Fetches depth snapshots here instead of the venue's REST host (`http://127.0.0.1:9100`;
    /// a trailing `/api/v3/depth` or `/fapi/v1/depth` is dropped).
    #[must_use]
    pub fn rest_url(mut self, url: &str) -> BinanceFeed {
        self.rest_url = Some(url.to_owned());
        self
    }

    /// Timestamps in microseconds (`timeUnit=MICROSECOND`) instead of milliseconds.
    #[must_use]
    pub fn microseconds(mut self, on: bool) -> BinanceFeed {
        self.config.time_unit = if on {
            TimeUnit::Microsecond
        } else {
            TimeUnit::Millisecond
        };
        self
    }

    /// Takes `exchange_ts` from a leading `"ts"` field (ns) when a message has one: the
    /// simulator's latency probe, which makes the exchange→recv stage meaningful.
    #[must_use]
    pub fn latency_probe(mut self, on: bool) -> BinanceFeed {
        self.config.latency_probe = on;
        self
    }

    /// Names the streams in the URL (live at once) or sends `SUBSCRIBE` frames after
    /// connecting (paced; each refusal comes back as a `SubscriptionError` status whose
    /// streams [`FeedPlan::request`] names).
    #[must_use]
    pub fn subscribe_via(mut self, via: SubscribeVia) -> BinanceFeed {
        self.config.subscribe_via = via;
        self
    }

    /// Trusts an extra root certificate in PEM (e.g. a simulator's self-signed one), for
    /// `wss://` connections and the HTTPS REST snapshots (which then trust only the given
    /// roots). Every certificate in the text is added.
    #[must_use]
    pub fn trust_root_pem(mut self, pem: &str) -> BinanceFeed {
        self.roots.push(Root::Pem(pem.as_bytes().to_vec()));
        self
    }

    /// Trusts an extra root certificate in DER (see [`BinanceFeed::trust_root_pem`]).
    #[must_use]
    pub fn trust_root_der(mut self, der: &[u8]) -> BinanceFeed {
        self.roots.push(Root::Der(der.to_vec()));
        self
    }

    /// Connection tunables (buffers, timeouts, backoff). The adapter's heartbeat rules
    /// (pong timeout, stale limit) are applied on top.
    #[must_use]
    pub fn options(mut self, options: ConnectionOptions) -> BinanceFeed {
        self.options = options;
        self
    }

    /// Tuning of the feed handlers (book validation, snapshot retries, buffers).
    #[must_use]
    pub fn handler_config(mut self, config: FeedConfig) -> BinanceFeed {
        self.handler = config;
        self
    }

    /// The Binance settings, to adjust anything the builder does not name.
    pub fn config_mut(&mut self) -> &mut BinanceConfig {
        &mut self.config
    }

    /// The Binance settings as given (URL overrides are applied at start).
    pub fn config(&self) -> &BinanceConfig {
        &self.config
    }

    /// The venue name events carry (`binance`, `binance-usdm`).
    pub fn venue(&self) -> &'static str {
        self.config.market.venue()
    }

    /// Every subscription: each symbol × each channel, then the single ones.
    pub fn subscriptions(&self) -> Vec<Subscription> {
        let mut subs = Vec::with_capacity(self.symbols.len() * self.channels.len());
        for s in &self.symbols {
            for c in &self.channels {
                subs.push(Subscription::new(s, *c));
            }
        }
        subs.extend(self.extra.iter().cloned());
        subs
    }

    /// The settings with the URL overrides applied, checked.
    pub fn resolved_config(&self) -> Result<BinanceConfig, FeedError> {
        let mut config = self.config.clone();
        if let Some(url) = &self.url {
            config.ws_base = Some(ws_base(url, config.market)?);
        }
        if let Some(url) = &self.rest_url {
            config.rest_base = Some(rest_base(url).ok_or(FeedError::RestUrl)?);
        }
        Ok(config)
    }

    /// How [`BinanceFeed::start`] spreads the subscriptions over connections.
    pub fn plan(&self) -> Result<FeedPlan, FeedError> {
        let subs = self.subscriptions();
        if subs.is_empty() {
            return Err(FeedError::NoSubscriptions);
        }
        if let Some(index) = subs.iter().position(|s| !valid_symbol(&s.symbol)) {
            return Err(FeedError::InvalidSymbol { index });
        }
        let config = self.resolved_config()?;
        Ok(FeedPlan {
            groups: plan_connections(&config, &subs),
            streams_per_frame: config.streams_per_frame,
            via: config.subscribe_via,
        })
    }

    /// The WebSocket URL each connection of the plan opens (what the engine connects to).
    pub fn urls(&self, registry: &Registry) -> Result<Vec<String>, FeedError> {
        let config = self.resolved_config()?;
        self.plan()?
            .groups
            .iter()
            .map(|g| {
                let adapter =
                    BinanceAdapter::new(config.clone(), g, registry).map_err(FeedError::Plan)?;
                Ok(tickwire_engine::FeedAdapter::endpoint(&adapter).url)
            })
            .collect()
    }

    /// Starts the feed: one connection per group of [`BinanceFeed::plan`] (in that order),
    /// each publishing to `consumers`, with its symbols interned in `registry`. Connections
    /// are made in the background; watch the consumers for `Connected` statuses. If any
    /// connection cannot be added, those already added are removed again.
    pub fn start(
        &self,
        engine: &EngineHandle,
        registry: &Registry,
        consumers: &[ConsumerId],
    ) -> Result<Vec<ConnectionId>, FeedError> {
        let plan = self.plan()?;
        let config = self.resolved_config()?;
        let roots = self.roots_der()?;
        let mut ids = Vec::with_capacity(plan.groups.len());
        for group in &plan.groups {
            match self.start_one(&config, group, &roots, engine, registry, consumers) {
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

    fn start_one(
        &self,
        config: &BinanceConfig,
        group: &[Subscription],
        roots: &[Vec<u8>],
        engine: &EngineHandle,
        registry: &Registry,
        consumers: &[ConsumerId],
    ) -> Result<ConnectionId, FeedError> {
        if !self.lines.is_empty() {
            let mut lines = vec![config.clone()];
            for url in &self.lines {
                let mut line = config.clone();
                line.ws_base = Some(ws_base(url, config.market)?);
                lines.push(line);
            }
            let feed = arbitrated_feed(
                &lines,
                group,
                registry,
                roots,
                self.handler,
                self.arbitration,
            )
            .map_err(|e| match e {
                ArbitratedFeedError::Plan(p) => FeedError::Plan(p),
                ArbitratedFeedError::Arbitration(a) => FeedError::Arbitration(a),
                ArbitratedFeedError::Snapshots(k) => FeedError::SnapshotThread(k),
            })?;
            let monitor = feed.monitor();
            let id = add_arbitrated_feed(engine, feed, self.options, roots, consumers)?;
            self.monitors
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(monitor);
            return Ok(id);
        }
        if let Some(rotation) = self.rotation {
            let feed = rotating_feed(
                config.clone(),
                group,
                registry,
                roots,
                self.handler,
                rotation,
            )
            .map_err(|e| match e {
                RotatingFeedError::Plan(p) => FeedError::Plan(p),
                RotatingFeedError::Rotation(r) => FeedError::Rotation(r),
                RotatingFeedError::Snapshots(k) => FeedError::SnapshotThread(k),
            })?;
            return Ok(add_rotating_feed(
                engine,
                feed,
                self.options,
                roots,
                consumers,
            )?);
        }
        let adapter =
            BinanceAdapter::new(config.clone(), group, registry).map_err(FeedError::Plan)?;
        let mut book_symbols: Vec<&str> = Vec::new();
        for s in group {
            if matches!(s.channel, Channel::Depth(_)) && !book_symbols.contains(&s.symbol.as_str())
            {
                book_symbols.push(&s.symbol);
            }
        }
        // Books subscribed at run time are served too (the venue's shared scheduler).
        let snapshots: Box<dyn SnapshotSource> = Box::new(
            RestSnapshots::spawn_with_roots(config, registry, &book_symbols, roots)
                .map_err(|e| FeedError::SnapshotThread(e.kind()))?,
        );
        let handler = FeedHandler::new(adapter, snapshots, self.handler);
        Ok(add_feed(engine, handler, self.options, roots, consumers)?)
    }

    /// The extra roots as DER.
    fn roots_der(&self) -> Result<Vec<Vec<u8>>, FeedError> {
        let mut out = Vec::new();
        for root in &self.roots {
            match root {
                Root::Der(der) => out.push(der.clone()),
                Root::Pem(pem) => {
                    let before = out.len();
                    for cert in CertificateDer::pem_slice_iter(pem) {
                        let cert = cert.map_err(|_| FeedError::Certificate)?;
                        out.push(cert.as_ref().to_vec());
                    }
                    if out.len() == before {
                        return Err(FeedError::Certificate);
                    }
                }
            }
        }
        Ok(out)
    }
}

/// Whether `symbol` looks like a Binance symbol.
fn valid_symbol(symbol: &str) -> bool {
    !symbol.is_empty()
        && symbol.len() <= MAX_SYMBOL_LEN
        && symbol.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The WebSocket base (scheme, host, port, optional path prefix) of a URL override.
fn ws_base(url: &str, market: Market) -> Result<String, FeedError> {
    let url = url.trim();
    let endpoint = Endpoint::parse(url).map_err(FeedError::Url)?;
    if endpoint.path.contains('?') || url.contains('#') {
        return Err(FeedError::UrlQuery);
    }
    let mut base = url.trim_end_matches('/');
    for suffix in ["/stream", "/ws"] {
        if let Some(b) = strip_suffix_ci(base, suffix) {
            base = b;
            break;
        }
    }
    if market == Market::UsdM {
        for suffix in ["/public", "/market"] {
            if let Some(b) = strip_suffix_ci(base, suffix) {
                base = b;
                break;
            }
        }
    }
    Ok(base.trim_end_matches('/').to_owned())
}

/// The REST base of a URL override, if it is one.
fn rest_base(url: &str) -> Option<String> {
    let url = url.trim();
    let rest = strip_prefix_ci(url, "https://").or_else(|| strip_prefix_ci(url, "http://"))?;
    let host = rest.split('/').next().unwrap_or("");
    if host.is_empty() || url.contains(['?', '#']) {
        return None;
    }
    let mut base = url.trim_end_matches('/');
    for suffix in ["/api/v3/depth", "/fapi/v1/depth"] {
        if let Some(b) = strip_suffix_ci(base, suffix) {
            base = b;
            break;
        }
    }
    Some(base.trim_end_matches('/').to_owned())
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

fn strip_suffix_ci<'a>(s: &'a str, suffix: &str) -> Option<&'a str> {
    let at = s.len().checked_sub(suffix.len())?;
    let tail = s.get(at..)?;
    tail.eq_ignore_ascii_case(suffix).then(|| &s[..at])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binance::subscription::DepthSpeed;
    use tickwire_engine::FeedAdapter;

    fn feed() -> BinanceFeed {
        BinanceFeed::new(Market::Spot)
            .symbols(&["btcusdt", "ETHUSDT"])
            .channels(&[Channel::Trade, Channel::Depth(DepthSpeed::Ms100)])
    }

    #[test]
    fn subscriptions_are_symbols_times_channels_then_singles() {
        let f = feed().subscribe(&[Subscription::new("solusdt", Channel::BookTicker)]);
        let names: Vec<String> = f.subscriptions().iter().map(Subscription::stream).collect();
        assert_eq!(
            names,
            [
                "btcusdt@trade",
                "btcusdt@depth@100ms",
                "ethusdt@trade",
                "ethusdt@depth@100ms",
                "solusdt@bookTicker"
            ]
        );
        assert_eq!(f.plan().unwrap().groups().len(), 1);
    }

    #[test]
    fn url_overrides_land_where_the_venue_host_would() {
        let registry = Registry::new();
        let f = feed()
            .url("ws://127.0.0.1:9443/stream")
            .rest_url("http://127.0.0.1:9443/");
        let urls = f.urls(&registry).unwrap();
        assert_eq!(
            urls,
            [
                "ws://127.0.0.1:9443/stream?streams=btcusdt@trade/btcusdt@depth@100ms/ethusdt@trade/ethusdt@depth@100ms"
            ]
        );
        let c = f.resolved_config().unwrap();
        assert_eq!(
            c.snapshot_url("BTCUSDT"),
            "http://127.0.0.1:9443/api/v3/depth?symbol=BTCUSDT&limit=5000"
        );
        // A bare base, a path prefix, /ws, and microseconds.
        for (given, want) in [
            ("ws://h:1", "ws://h:1/stream?"),
            (
                "wss://proxy.example/binance/",
                "wss://proxy.example/binance/stream?",
            ),
            ("ws://h:1/ws", "ws://h:1/stream?"),
        ] {
            let u = feed()
                .url(given)
                .microseconds(true)
                .urls(&registry)
                .unwrap();
            assert!(u[0].starts_with(want), "{given} -> {}", u[0]);
            assert!(u[0].ends_with("&timeUnit=MICROSECOND"), "{}", u[0]);
        }
        // USD-M routed paths come back for each route.
        let u = BinanceFeed::new(Market::UsdM)
            .symbols(&["BTCUSDT"])
            .channels(&[Channel::AggTrade, Channel::Depth(DepthSpeed::Ms100)])
            .url("ws://h:2/public/stream")
            .urls(&registry)
            .unwrap();
        assert_eq!(
            u,
            [
                "ws://h:2/market/stream?streams=btcusdt@aggTrade",
                "ws://h:2/public/stream?streams=btcusdt@depth@100ms"
            ]
        );
    }

    #[test]
    fn bad_input_is_a_typed_error() {
        let registry = Registry::new();
        assert_eq!(
            BinanceFeed::new(Market::Spot).plan(),
            Err(FeedError::NoSubscriptions)
        );
        assert_eq!(
            feed().symbols(&["BTC-USD"]).plan(),
            Err(FeedError::InvalidSymbol { index: 4 })
        );
        assert_eq!(
            feed().symbols(&[""]).plan().err(),
            Some(FeedError::InvalidSymbol { index: 4 })
        );
        assert_eq!(
            feed().url("http://h/stream").plan(),
            Err(FeedError::Url(ConfigError::Scheme))
        );
        assert_eq!(
            feed().url("ws://h:99999").plan(),
            Err(FeedError::Url(ConfigError::Port))
        );
        assert_eq!(
            feed().url("ws://h/stream?streams=x").plan(),
            Err(FeedError::UrlQuery)
        );
        assert_eq!(feed().rest_url("ftp://h").plan(), Err(FeedError::RestUrl));
        assert_eq!(feed().rest_url("http://").plan(), Err(FeedError::RestUrl));
        assert_eq!(
            feed().rest_url("http://h/x?y").plan(),
            Err(FeedError::RestUrl)
        );
        assert_eq!(
            feed().trust_root_pem("not a certificate").roots_der(),
            Err(FeedError::Certificate)
        );
        assert!(feed().urls(&registry).is_ok());
    }

    #[test]
    fn pem_roots_become_der() {
        let der = [0x30u8, 0x03, 0x02, 0x01, 0x05];
        let pem = "-----BEGIN CERTIFICATE-----\nMAMCAQU=\n-----END CERTIFICATE-----\n";
        let f = feed().trust_root_pem(pem).trust_root_der(&der);
        assert_eq!(f.roots_der().unwrap(), vec![der.to_vec(), der.to_vec()]);
    }

    /// The request-id mapping follows what the adapter really sends, over reconnects.
    #[test]
    fn request_ids_name_the_streams_of_each_frame() {
        let registry = Registry::new();
        let mut f = BinanceFeed::new(Market::Spot)
            .symbols(&["AUSDT", "BUSDT", "CUSDT"])
            .channels(&[Channel::Trade, Channel::BookTicker])
            .subscribe_via(SubscribeVia::Frames);
        f.config_mut().streams_per_frame = 2;
        let plan = f.plan().unwrap();
        let group = &plan.groups()[0];
        let mut adapter =
            BinanceAdapter::new(f.resolved_config().unwrap(), group, &registry).unwrap();
        for _connect in 0..3 {
            let mut frames = Vec::new();
            adapter.connect_frames(&mut frames);
            assert_eq!(frames.len(), 3);
            for frame in frames {
                let text = String::from_utf8(frame).unwrap();
                let id: u64 = text
                    .rsplit("\"id\":")
                    .next()
                    .unwrap()
                    .trim_end_matches('}')
                    .parse()
                    .unwrap();
                let streams: Vec<String> = plan
                    .request(0, id)
                    .unwrap()
                    .iter()
                    .map(|s| format!("\"{}\"", s.stream()))
                    .collect();
                assert!(text.contains(&streams.join(",")), "{text} vs {streams:?}");
            }
        }
        assert_eq!(plan.request(0, 0), None);
        assert_eq!(plan.request(1, 1), None);
        let url_plan = feed().plan().unwrap();
        assert_eq!(url_plan.request(0, 1), None);
    }
}
