//! [`KrakenFeed`]: runs Kraken v2 public market data on an engine — symbols, channels and
//! the endpoint in, running connections out.
//!
//! It spreads the subscriptions over connections ([`plan_connections`]) and builds one
//! [`KrakenAdapter`] and one [`FeedHandler`] per connection. Books start in-band (a
//! [`QueuedSnapshots`] that never answers: a resync resubscribes the one symbol).

use tickwire_engine::adapter::{AddFeedError, FeedConfig, FeedHandler, QueuedSnapshots, add_feed};
use tickwire_engine::command::{CommandError, ConsumerId, EngineHandle};
use tickwire_engine::config::{ConfigError, ConnectionOptions};
use tickwire_engine::{ConnectionId, Registry};

use super::adapter::{Channel, KrakenAdapter, KrakenConfig, PlanError, Subscription};

/// Subscriptions per connection (keeps one connection's traffic and its connect frames
/// small; Kraken documents no count limit for public channels).
pub const MAX_SUBSCRIPTIONS_PER_CONNECTION: usize = 200;

/// Spreads `subs` over connections of at most `per_connection` subscriptions, keeping a
/// symbol's channels together.
pub fn plan_connections(subs: &[Subscription], per_connection: usize) -> Vec<Vec<Subscription>> {
    let per = per_connection.max(1);
    let mut unique: Vec<Subscription> = Vec::with_capacity(subs.len());
    for s in subs {
        if !unique.contains(s) {
            unique.push(s.clone());
        }
    }
    let mut order: Vec<&str> = Vec::new();
    for s in &unique {
        if !order.contains(&s.symbol.as_str()) {
            order.push(&s.symbol);
        }
    }
    let mut groups: Vec<Vec<Subscription>> = Vec::new();
    let mut current: Vec<Subscription> = Vec::new();
    for sym in order {
        let mine: Vec<Subscription> = unique.iter().filter(|s| s.symbol == sym).cloned().collect();
        if !current.is_empty() && current.len() + mine.len() > per {
            groups.push(std::mem::take(&mut current));
        }
        current.extend(mine);
    }
    if !current.is_empty() {
        groups.push(current);
    }
    groups
}

/// Why a [`KrakenFeed`] could not start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FeedError {
    /// Nothing to subscribe to.
    #[error("no subscriptions: give at least one symbol and one channel")]
    NoSubscriptions,
    /// A connection's subscriptions could not be turned into an adapter.
    #[error("{0}")]
    Plan(PlanError),
    /// The URL is not usable.
    #[error("WebSocket URL: {0}")]
    Url(ConfigError),
    /// The engine refused a connection.
    #[error("engine: {0}")]
    Engine(CommandError),
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

/// A Kraken market-data feed to run on an engine.
#[derive(Clone, Debug)]
pub struct KrakenFeed {
    config: KrakenConfig,
    symbols: Vec<String>,
    channels: Vec<Channel>,
    roots: Vec<Vec<u8>>,
    options: ConnectionOptions,
    handler: FeedConfig,
    per_connection: usize,
}

impl Default for KrakenFeed {
    fn default() -> KrakenFeed {
        KrakenFeed::new()
    }
}

impl KrakenFeed {
    /// A feed with the production endpoint.
    pub fn new() -> KrakenFeed {
        KrakenFeed::with_config(KrakenConfig::default())
    }

    /// A feed with every Kraken setting given.
    pub fn with_config(config: KrakenConfig) -> KrakenFeed {
        KrakenFeed {
            config,
            symbols: Vec::new(),
            channels: Vec::new(),
            roots: Vec::new(),
            options: ConnectionOptions::default(),
            handler: FeedConfig::default(),
            per_connection: MAX_SUBSCRIPTIONS_PER_CONNECTION,
        }
    }

    /// Adds symbols (`BTC/USD`, any case); each gets every channel.
    #[must_use]
    pub fn symbols<S: AsRef<str>>(mut self, symbols: &[S]) -> KrakenFeed {
        self.symbols
            .extend(symbols.iter().map(|s| s.as_ref().to_ascii_uppercase()));
        self
    }

    /// Adds channels.
    #[must_use]
    pub fn channels(mut self, channels: &[Channel]) -> KrakenFeed {
        self.channels.extend_from_slice(channels);
        self
    }

    /// The `book` depth (10, 25, 100, 500 or 1000).
    #[must_use]
    pub fn depth(mut self, depth: u16) -> KrakenFeed {
        self.config.book_depth = depth;
        self
    }

    /// Connects here instead of Kraken (a simulator, a proxy): the full WebSocket URL.
    #[must_use]
    pub fn url(mut self, url: &str) -> KrakenFeed {
        self.config.ws_url = url.to_owned();
        self
    }

    /// Trusts an extra root certificate (DER) for `wss://`.
    #[must_use]
    pub fn trust_root_der(mut self, der: &[u8]) -> KrakenFeed {
        self.roots.push(der.to_vec());
        self
    }

    /// Connection tunables.
    #[must_use]
    pub fn options(mut self, options: ConnectionOptions) -> KrakenFeed {
        self.options = options;
        self
    }

    /// Feed handler tunables.
    #[must_use]
    pub fn handler_config(mut self, config: FeedConfig) -> KrakenFeed {
        self.handler = config;
        self
    }

    /// Subscriptions per connection (default [`MAX_SUBSCRIPTIONS_PER_CONNECTION`]).
    #[must_use]
    pub fn per_connection(mut self, n: usize) -> KrakenFeed {
        self.per_connection = n.max(1);
        self
    }

    /// The Kraken settings.
    pub fn config(&self) -> &KrakenConfig {
        &self.config
    }

    /// Every subscription: each symbol × each channel.
    pub fn subscriptions(&self) -> Vec<Subscription> {
        Subscription::product(&self.symbols, &self.channels)
    }

    /// The subscriptions of each connection, in start order.
    pub fn plan(&self) -> Result<Vec<Vec<Subscription>>, FeedError> {
        let subs = self.subscriptions();
        if subs.is_empty() {
            return Err(FeedError::NoSubscriptions);
        }
        if !subs.iter().all(Subscription::is_valid) {
            return Err(FeedError::Plan(PlanError::InvalidSymbol));
        }
        Ok(plan_connections(&subs, self.per_connection))
    }

    /// Starts one connection per group of [`KrakenFeed::plan`], publishing to `consumers`.
    /// If any connection cannot be added, those already added are removed again.
    pub fn start(
        &self,
        engine: &EngineHandle,
        registry: &Registry,
        consumers: &[ConsumerId],
    ) -> Result<Vec<ConnectionId>, FeedError> {
        let plan = self.plan()?;
        let mut ids = Vec::with_capacity(plan.len());
        for group in &plan {
            let added = KrakenAdapter::new(self.config.clone(), group, registry)
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
}
