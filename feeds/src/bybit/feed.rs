//! [`BybitFeed`]: runs Bybit market data on an engine — market, symbols, channels in,
//! running connections out.
//!
//! Plans the connections ([`plan_connections`]: at most 21,000 characters of topics and
//! [`BybitConfig::max_topics`] topics each), builds one [`BybitAdapter`] and one
//! [`FeedHandler`] per connection (books come in-band, so the snapshot source is an empty
//! [`QueuedSnapshots`]: a gap resubscribes the one topic) and adds each with [`add_feed`].
//!
//! Connection budget: Bybit allows 500 new connections per 5 minutes per domain. A plan that
//! needs more than [`MAX_CONNECTIONS_PER_5_MIN`] connections is refused
//! ([`FeedError::TooManyConnections`]); reconnects count against the same budget and are
//! spread by the engine's jittered exponential reconnect backoff.
//!
//! ```no_run
//! use tickwire_engine::{Engine, EngineConfig, Profile, Registry};
//! use tickwire_feeds::bybit::{BybitFeed, Channel, Depth, Market};
//!
//! let mut builder = Engine::builder(EngineConfig::profile(Profile::Standard));
//! let (consumer_id, _consumer) = builder.consumer(1 << 16);
//! let engine = builder.start()?;
//! let registry = Registry::new();
//! let connections = BybitFeed::new(Market::Linear)
//!     .symbols(&["BTCUSDT", "ETHUSDT"])
//!     .channels(&[Channel::Trade, Channel::Bbo, Channel::Book(Depth::L50)])
//!     .start(&engine.handle(), &registry, &[consumer_id])?;
//! # let _ = connections;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::sync::{Arc, Mutex};

use tickwire_engine::adapter::{
    AddFeedError, ArbitrationConfig, ArbitrationError, FeedConfig, FeedHandler, LineMonitor,
    QueuedSnapshots, add_arbitrated_feed, add_feed,
};
use tickwire_engine::command::{CommandError, ConsumerId, EngineHandle};
use tickwire_engine::config::{ConfigError, ConnectionOptions};
use tickwire_engine::{ConnectionId, Registry};

use super::adapter::{BybitAdapter, BybitConfig, PlanError};
use super::lines::{ArbitratedFeedError, arbitrated_feed};
use super::subscription::{
    Channel, MAX_CONNECTIONS_PER_5_MIN, Market, Subscription, plan_connections,
};

/// Why a [`BybitFeed`] could not start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FeedError {
    /// Nothing to subscribe to.
    #[error("no subscriptions: give at least one symbol and one channel")]
    NoSubscriptions,
    /// A symbol is not a Bybit symbol; `index` is its position in
    /// [`BybitFeed::subscriptions`].
    #[error("subscription {index}: a symbol is upper-case letters, digits and '-', like BTCUSDT")]
    InvalidSymbol {
        /// Position in [`BybitFeed::subscriptions`].
        index: usize,
    },
    /// The plan needs more connections than Bybit lets one domain open in 5 minutes.
    #[error("{needed} connections needed; Bybit allows {max} new connections per 5 minutes")]
    TooManyConnections {
        /// Connections the plan needs.
        needed: usize,
        /// The venue's limit.
        max: usize,
    },
    /// The WebSocket URL override is not usable.
    #[error("WebSocket URL: {0}")]
    Url(ConfigError),
    /// A connection's subscriptions could not be turned into an adapter.
    #[error("{0}")]
    Plan(PlanError),
    /// The engine refused a connection.
    #[error("engine: {0}")]
    Engine(CommandError),
    /// Too many lines ([`BybitFeed::line`]) or invalid arbitration settings.
    #[error("lines: {0}")]
    Arbitration(ArbitrationError),
}

impl From<AddFeedError> for FeedError {
    fn from(e: AddFeedError) -> FeedError {
        match e {
            AddFeedError::Config(c) | AddFeedError::Command(CommandError::Config(c)) => {
                FeedError::Url(c)
            }
            AddFeedError::Command(c) => FeedError::Engine(c),
        }
    }
}

/// A Bybit market-data feed to run on an engine. See the [module docs](self).
#[derive(Clone, Debug)]
pub struct BybitFeed {
    config: BybitConfig,
    symbols: Vec<String>,
    channels: Vec<Channel>,
    extra: Vec<Subscription>,
    roots: Vec<Vec<u8>>,
    options: ConnectionOptions,
    handler: FeedConfig,
    lines: Vec<String>,
    arbitration: ArbitrationConfig,
    monitors: Arc<Mutex<Vec<LineMonitor>>>,
}

impl BybitFeed {
    /// A feed on `market` with its defaults.
    pub fn new(market: Market) -> BybitFeed {
        BybitFeed::with_config(BybitConfig::for_market(market))
    }

    /// A feed with every setting given.
    pub fn with_config(config: BybitConfig) -> BybitFeed {
        BybitFeed {
            config,
            symbols: Vec::new(),
            channels: Vec::new(),
            extra: Vec::new(),
            roots: Vec::new(),
            options: ConnectionOptions::default(),
            handler: FeedConfig::default(),
            lines: Vec::new(),
            arbitration: ArbitrationConfig::default(),
            monitors: Arc::default(),
        }
    }

    /// Adds a further line (A/B redundancy): `base` (given like [`BybitFeed::url`]) serves
    /// the same data as the first line (the venue's host, or [`BybitFeed::url`]). Every
    /// connection then runs over all lines at once, each update published once, from the
    /// line whose copy came first (see [`super::lines`]).
    #[must_use]
    pub fn line(mut self, base: &str) -> BybitFeed {
        self.lines.push(base.to_owned());
        self
    }

    /// How lines are arbitrated (with [`BybitFeed::line`]).
    #[must_use]
    pub fn arbitration(mut self, config: ArbitrationConfig) -> BybitFeed {
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

    /// Adds symbols (upper-cased); each gets every channel of [`BybitFeed::channels`].
    #[must_use]
    pub fn symbols<S: AsRef<str>>(mut self, symbols: &[S]) -> BybitFeed {
        self.symbols
            .extend(symbols.iter().map(|s| s.as_ref().to_ascii_uppercase()));
        self
    }

    /// Adds channels, subscribed for every symbol.
    #[must_use]
    pub fn channels(mut self, channels: &[Channel]) -> BybitFeed {
        self.channels.extend_from_slice(channels);
        self
    }

    /// Adds single subscriptions.
    #[must_use]
    pub fn subscribe(mut self, subs: &[Subscription]) -> BybitFeed {
        self.extra.extend_from_slice(subs);
        self
    }

    /// Connects here instead of `wss://stream.bybit.com` (testnet, a proxy, a simulator):
    /// scheme and host; the market's path is appended.
    #[must_use]
    pub fn url(mut self, base: &str) -> BybitFeed {
        self.config.ws_base = Some(base.to_owned());
        self
    }

    /// Trusts an extra root certificate (DER), for `wss://` to a simulator.
    #[must_use]
    pub fn trust_root_der(mut self, der: &[u8]) -> BybitFeed {
        self.roots.push(der.to_vec());
        self
    }

    /// Connection tunables; the adapter's heartbeat rules apply on top.
    #[must_use]
    pub fn options(mut self, options: ConnectionOptions) -> BybitFeed {
        self.options = options;
        self
    }

    /// Tuning of the feed handlers.
    #[must_use]
    pub fn handler_config(mut self, config: FeedConfig) -> BybitFeed {
        self.handler = config;
        self
    }

    /// The settings.
    pub fn config(&self) -> &BybitConfig {
        &self.config
    }

    /// The venue name events carry.
    pub fn venue(&self) -> &'static str {
        self.config.market.venue()
    }

    /// Every subscription: each symbol × each channel, then the single ones.
    pub fn subscriptions(&self) -> Vec<Subscription> {
        let mut subs = Subscription::product(&self.symbols, &self.channels);
        subs.extend(self.extra.iter().cloned());
        subs
    }

    /// The subscriptions of each connection [`BybitFeed::start`] opens.
    pub fn plan(&self) -> Result<Vec<Vec<Subscription>>, FeedError> {
        let subs = self.subscriptions();
        if subs.is_empty() {
            return Err(FeedError::NoSubscriptions);
        }
        if let Some(index) = subs.iter().position(|s| !s.is_valid()) {
            return Err(FeedError::InvalidSymbol { index });
        }
        let groups = plan_connections(
            self.config.market,
            &subs,
            self.config.max_topics,
            self.config.max_args_chars,
        );
        if groups.len() > MAX_CONNECTIONS_PER_5_MIN {
            return Err(FeedError::TooManyConnections {
                needed: groups.len(),
                max: MAX_CONNECTIONS_PER_5_MIN,
            });
        }
        Ok(groups)
    }

    /// Starts the feed: one connection per group of [`BybitFeed::plan`], each publishing to
    /// `consumers`. If one cannot be added, those already added are removed again.
    pub fn start(
        &self,
        engine: &EngineHandle,
        registry: &Registry,
        consumers: &[ConsumerId],
    ) -> Result<Vec<ConnectionId>, FeedError> {
        let plan = self.plan()?;
        let mut ids = Vec::with_capacity(plan.len());
        for group in &plan {
            if !self.lines.is_empty() {
                match self.start_lines(group, engine, registry, consumers) {
                    Ok(id) => ids.push(id),
                    Err(e) => {
                        for id in ids {
                            let _ = engine.remove(id);
                        }
                        return Err(e);
                    }
                }
                continue;
            }
            let added = BybitAdapter::new(self.config.clone(), group, registry)
                .map_err(FeedError::Plan)
                .and_then(|adapter| {
                    let handler =
                        FeedHandler::new(adapter, Box::new(QueuedSnapshots::new()), self.handler);
                    Ok(add_feed(
                        engine,
                        handler,
                        self.options,
                        &self.roots,
                        consumers,
                    )?)
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

    /// One connection of `group` over the first line and every [`BybitFeed::line`].
    fn start_lines(
        &self,
        group: &[Subscription],
        engine: &EngineHandle,
        registry: &Registry,
        consumers: &[ConsumerId],
    ) -> Result<ConnectionId, FeedError> {
        let mut lines = vec![self.config.clone()];
        for base in &self.lines {
            let mut line = self.config.clone();
            line.ws_base = Some(base.clone());
            lines.push(line);
        }
        let feed = arbitrated_feed(&lines, group, registry, self.handler, self.arbitration)
            .map_err(|e| match e {
                ArbitratedFeedError::Plan(p) => FeedError::Plan(p),
                ArbitratedFeedError::Arbitration(a) => FeedError::Arbitration(a),
            })?;
        let monitor = feed.monitor();
        let id = add_arbitrated_feed(engine, feed, self.options, &self.roots, consumers)?;
        self.monitors
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(monitor);
        Ok(id)
    }
}
