//! [`BinanceFeed`]: the one-call way to run Binance market data on an engine.
//!
//! It plans the connections ([`super::plan_connections`]), builds a [`super::BinanceAdapter`]
//! and a [`FeedHandler`] per connection with a [`super::RestSnapshots`] helper thread for its
//! books, and adds each to the engine ([`tickwire_engine::adapter::add_feed`]).

use tickwire_engine::adapter::{
    AddFeedError, FeedConfig, FeedHandler, QueuedSnapshots, SnapshotSource, add_feed,
};
use tickwire_engine::{ConnectionId, ConnectionOptions, ConsumerId, EngineHandle, Registry};

use super::adapter::{BinanceAdapter, PlanError};
use super::config::{BinanceConfig, Market};
use super::snapshot::RestSnapshots;
use super::subscription::{Channel, Subscription, plan_connections};

/// Why a feed could not be started.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// The subscriptions cannot be carried (empty, or a connection plan was refused).
    #[error("subscriptions: {0}")]
    Plan(#[from] PlanError),
    /// The snapshot helper thread could not be spawned.
    #[error("snapshot thread: {0:?}")]
    Spawn(std::io::ErrorKind),
    /// The engine refused a connection.
    #[error("{0}")]
    Engine(#[from] AddFeedError),
}

/// A Binance feed to start on an engine. See the module docs.
#[derive(Clone, Debug)]
pub struct BinanceFeed {
    config: BinanceConfig,
    symbols: Vec<String>,
    channels: Vec<Channel>,
    feed: FeedConfig,
    options: ConnectionOptions,
    roots: Vec<Vec<u8>>,
}

impl BinanceFeed {
    /// A feed on `market` with its defaults ([`BinanceConfig::for_market`]).
    pub fn new(market: Market) -> BinanceFeed {
        BinanceFeed::with_config(BinanceConfig::for_market(market))
    }

    /// A feed with explicit settings.
    pub fn with_config(config: BinanceConfig) -> BinanceFeed {
        BinanceFeed {
            config,
            symbols: Vec::new(),
            channels: Vec::new(),
            feed: FeedConfig::default(),
            options: ConnectionOptions::default(),
            roots: Vec::new(),
        }
    }

    /// The symbols (any case).
    pub fn symbols(mut self, symbols: &[&str]) -> BinanceFeed {
        self.symbols = symbols.iter().map(|s| s.to_ascii_uppercase()).collect();
        self
    }

    /// The channels, for every symbol.
    pub fn channels(mut self, channels: &[Channel]) -> BinanceFeed {
        self.channels = channels.to_vec();
        self
    }

    /// WebSocket base URL (testnet, proxy, simulator): `ws://127.0.0.1:9100`; a trailing
    /// `/stream` or `/ws` path is ignored (the adapter builds the path).
    pub fn url(mut self, url: &str) -> BinanceFeed {
        let base = url.trim_end_matches('/');
        let base = base
            .strip_suffix("/stream")
            .or_else(|| base.strip_suffix("/ws"))
            .unwrap_or(base);
        self.config.ws_base = Some(base.to_owned());
        self
    }

    /// REST base URL for book snapshots: `http://127.0.0.1:9100`.
    pub fn rest_url(mut self, url: &str) -> BinanceFeed {
        self.config.rest_base = Some(url.trim_end_matches('/').to_owned());
        self
    }

    /// The Binance settings, to adjust anything else (time unit, probe, depth, pacing).
    pub fn config_mut(&mut self) -> &mut BinanceConfig {
        &mut self.config
    }

    /// Handler tuning (book validation, snapshot retry, buffers).
    pub fn feed_config(mut self, feed: FeedConfig) -> BinanceFeed {
        self.feed = feed;
        self
    }

    /// Connection options (heartbeat timings are then set from the adapter).
    pub fn options(mut self, options: ConnectionOptions) -> BinanceFeed {
        self.options = options;
        self
    }

    /// Trusts an extra root certificate (DER) for `wss://`, e.g. a simulator's.
    pub fn trust_root_der(mut self, der: &[u8]) -> BinanceFeed {
        self.roots.push(der.to_vec());
        self
    }

    /// The subscriptions: every symbol × channel.
    pub fn subscriptions(&self) -> Vec<Subscription> {
        let syms: Vec<&str> = self.symbols.iter().map(String::as_str).collect();
        Subscription::product(&syms, &self.channels)
    }

    /// The per-connection groups this feed will open.
    pub fn plan(&self) -> Vec<Vec<Subscription>> {
        plan_connections(&self.config, &self.subscriptions())
    }

    /// Opens the connections on `engine`, interning the symbols in `registry` and publishing
    /// to `consumers`. Returns the connection ids, one per group of [`BinanceFeed::plan`].
    pub fn start(
        &self,
        engine: &EngineHandle,
        registry: &Registry,
        consumers: &[ConsumerId],
    ) -> Result<Vec<ConnectionId>, FeedError> {
        let groups = self.plan();
        if groups.is_empty() {
            return Err(FeedError::Plan(PlanError::Empty));
        }
        let mut ids = Vec::with_capacity(groups.len());
        for group in groups {
            let adapter = BinanceAdapter::new(self.config.clone(), &group, registry)?;
            let mut book_symbols: Vec<&str> = group
                .iter()
                .filter(|s| matches!(s.channel, Channel::Depth(_)))
                .map(|s| s.symbol.as_str())
                .collect();
            book_symbols.dedup();
            let snapshots: Box<dyn SnapshotSource> = if book_symbols.is_empty() {
                Box::new(QueuedSnapshots::new())
            } else {
                Box::new(
                    RestSnapshots::spawn(&self.config, registry, &book_symbols)
                        .map_err(|e| FeedError::Spawn(e.kind()))?,
                )
            };
            let handler = FeedHandler::new(adapter, snapshots, self.feed);
            ids.push(add_feed(
                engine,
                handler,
                self.options,
                &self.roots,
                consumers,
            )?);
        }
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binance::DepthSpeed;

    #[test]
    fn builder_plans_and_overrides() {
        let f = BinanceFeed::new(Market::Spot)
            .symbols(&["btcusdt", "ETHUSDT"])
            .channels(&[Channel::Trade, Channel::Depth(DepthSpeed::Ms100)])
            .url("ws://127.0.0.1:9100/stream")
            .rest_url("http://127.0.0.1:9100/");
        assert_eq!(f.subscriptions().len(), 4);
        assert_eq!(f.plan().len(), 1);
        assert_eq!(f.config.ws_base(), "ws://127.0.0.1:9100");
        assert_eq!(
            f.config.snapshot_url("BTCUSDT"),
            "http://127.0.0.1:9100/api/v3/depth?symbol=BTCUSDT&limit=5000"
        );
        let u = BinanceFeed::new(Market::UsdM)
            .symbols(&["BTCUSDT"])
            .channels(&[Channel::AggTrade, Channel::BookTicker]);
        assert_eq!(u.plan().len(), 2, "USD-M routes /market and /public apart");
    }
}
