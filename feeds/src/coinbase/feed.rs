//! [`CoinbaseFeed`]: runs Coinbase Advanced Trade market data on an engine — products and
//! channels in, running connections out.
//!
//! Plans the connections ([`plan_connections`]: at most
//! [`CoinbaseConfig::max_l2_products`] `level2` products each, every channel of a product on
//! one connection), builds one [`CoinbaseAdapter`] and one [`FeedHandler`] per connection
//! (books come in-band: the snapshot source is an empty [`QueuedSnapshots`]) and adds each
//! with [`add_feed`] to the same engine.
//!
//! Message size: a `level2` snapshot is the whole book in one frame, so the connection
//! options default to a frame and message limit of [`MAX_MESSAGE`] (128 MiB). A message over
//! the limit in force closes the connection with 1009 and a `Disconnected` status of reason
//! `too_big` (then reconnects); raise it with [`CoinbaseFeed::max_message`].
//!
//! Request rate: Coinbase allows 8 unauthenticated messages a second per IP, so each
//! connection's request interval is [`CoinbaseConfig::send_interval_ns`] times the number
//! of connections.
//!
//! ```no_run
//! use tickwire_engine::{Engine, EngineConfig, Profile, Registry};
//! use tickwire_feeds::coinbase::{Channel, CoinbaseFeed};
//!
//! let mut builder = Engine::builder(EngineConfig::profile(Profile::Standard));
//! let (consumer_id, _consumer) = builder.consumer(1 << 16);
//! let engine = builder.start()?;
//! let registry = Registry::new();
//! let connections = CoinbaseFeed::new()
//!     .products(&["BTC-USD", "SOL-USD"])
//!     .channels(&[Channel::Level2, Channel::Trades])
//!     .start(&engine.handle(), &registry, &[consumer_id])?;
//! # let _ = connections;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use tickwire_engine::adapter::{AddFeedError, FeedConfig, FeedHandler, QueuedSnapshots, add_feed};
use tickwire_engine::command::{CommandError, ConsumerId, EngineHandle};
use tickwire_engine::config::{ConfigError, ConnectionOptions};
use tickwire_engine::{ConnectionId, Registry};

use super::adapter::{CoinbaseAdapter, CoinbaseConfig, MAX_MESSAGE, PlanError};
use super::subscription::{Channel, Subscription, plan_connections};

/// Why a [`CoinbaseFeed`] could not start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FeedError {
    /// Nothing to subscribe to.
    #[error("no subscriptions: give at least one product and one channel")]
    NoSubscriptions,
    /// A product is not a Coinbase product id; `index` is its position in
    /// [`CoinbaseFeed::subscriptions`].
    #[error("subscription {index}: a product is upper-case letters, digits and '-', like SOL-USD")]
    InvalidProduct {
        /// Position in [`CoinbaseFeed::subscriptions`].
        index: usize,
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

/// A Coinbase market-data feed to run on an engine. See the [module docs](self).
#[derive(Clone, Debug)]
pub struct CoinbaseFeed {
    config: CoinbaseConfig,
    products: Vec<String>,
    channels: Vec<Channel>,
    extra: Vec<Subscription>,
    roots: Vec<Vec<u8>>,
    options: ConnectionOptions,
    handler: FeedConfig,
}

impl Default for CoinbaseFeed {
    fn default() -> CoinbaseFeed {
        CoinbaseFeed::new()
    }
}

impl CoinbaseFeed {
    /// A feed with the defaults.
    pub fn new() -> CoinbaseFeed {
        CoinbaseFeed::with_config(CoinbaseConfig::default())
    }

    /// A feed with every setting given.
    pub fn with_config(config: CoinbaseConfig) -> CoinbaseFeed {
        CoinbaseFeed {
            config,
            products: Vec::new(),
            channels: Vec::new(),
            extra: Vec::new(),
            roots: Vec::new(),
            options: ConnectionOptions {
                max_frame: MAX_MESSAGE,
                max_message: MAX_MESSAGE,
                ..ConnectionOptions::default()
            },
            handler: FeedConfig::default(),
        }
    }

    /// Adds products (upper-cased); each gets every channel of [`CoinbaseFeed::channels`].
    #[must_use]
    pub fn products<S: AsRef<str>>(mut self, products: &[S]) -> CoinbaseFeed {
        self.products
            .extend(products.iter().map(|s| s.as_ref().to_ascii_uppercase()));
        self
    }

    /// Adds channels, subscribed for every product.
    #[must_use]
    pub fn channels(mut self, channels: &[Channel]) -> CoinbaseFeed {
        self.channels.extend_from_slice(channels);
        self
    }

    /// Adds single subscriptions.
    #[must_use]
    pub fn subscribe(mut self, subs: &[Subscription]) -> CoinbaseFeed {
        self.extra.extend_from_slice(subs);
        self
    }

    /// Connects here instead of `wss://advanced-trade-ws.coinbase.com` (a proxy, a
    /// simulator): the whole URL.
    #[must_use]
    pub fn url(mut self, url: &str) -> CoinbaseFeed {
        self.config.ws_url = Some(url.to_owned());
        self
    }

    /// Trusts an extra root certificate (DER), for `wss://` to a simulator.
    #[must_use]
    pub fn trust_root_der(mut self, der: &[u8]) -> CoinbaseFeed {
        self.roots.push(der.to_vec());
        self
    }

    /// Connection tunables (replacing the defaults, [`MAX_MESSAGE`] included); the adapter's
    /// heartbeat rules apply on top.
    #[must_use]
    pub fn options(mut self, options: ConnectionOptions) -> CoinbaseFeed {
        self.options = options;
        self
    }

    /// The largest frame and message accepted, bytes (default [`MAX_MESSAGE`]).
    #[must_use]
    pub fn max_message(mut self, bytes: usize) -> CoinbaseFeed {
        self.options.max_frame = bytes;
        self.options.max_message = bytes;
        self
    }

    /// Tuning of the feed handlers.
    #[must_use]
    pub fn handler_config(mut self, config: FeedConfig) -> CoinbaseFeed {
        self.handler = config;
        self
    }

    /// The settings.
    pub fn config(&self) -> &CoinbaseConfig {
        &self.config
    }

    /// The connection options each connection gets.
    pub fn connection_options(&self) -> ConnectionOptions {
        self.options
    }

    /// Every subscription: each product × each channel, then the single ones.
    pub fn subscriptions(&self) -> Vec<Subscription> {
        let mut subs = Subscription::product(&self.products, &self.channels);
        subs.extend(self.extra.iter().cloned());
        subs
    }

    /// The subscriptions of each connection [`CoinbaseFeed::start`] opens.
    pub fn plan(&self) -> Result<Vec<Vec<Subscription>>, FeedError> {
        let subs = self.subscriptions();
        if subs.is_empty() {
            return Err(FeedError::NoSubscriptions);
        }
        if let Some(index) = subs.iter().position(|s| !s.is_valid()) {
            return Err(FeedError::InvalidProduct { index });
        }
        Ok(plan_connections(
            &subs,
            self.config.max_l2_products,
            self.config.max_products,
        ))
    }

    /// Starts the feed: one connection per group of [`CoinbaseFeed::plan`] on `engine`, each
    /// publishing to `consumers`. If one cannot be added, those already added are removed
    /// again.
    pub fn start(
        &self,
        engine: &EngineHandle,
        registry: &Registry,
        consumers: &[ConsumerId],
    ) -> Result<Vec<ConnectionId>, FeedError> {
        let plan = self.plan()?;
        let mut config = self.config.clone();
        // The per-IP message rate is shared by every connection.
        config.send_interval_ns = config.send_interval_ns.saturating_mul(plan.len() as u64);
        let mut ids = Vec::with_capacity(plan.len());
        for group in &plan {
            let added = CoinbaseAdapter::new(config.clone(), group, registry)
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
