//! Binance spot and USD-M futures market data.
//!
//! * [`Subscription`]s (symbol × [`Channel`]) are spread over connections with
//!   [`plan_connections`] (≤ 1024 streams each; USD-M routed `/public` and `/market` apart).
//! * A [`BinanceAdapter`] per connection names the combined-stream URL (or sends paced
//!   `SUBSCRIBE` frames and tracks every ack), decodes frames with simd-json ([`decode`]) and
//!   carries the venue's book-sync rules (spot: `U == prev u + 1`; USD-M: `pu == prev u`).
//! * [`RestSnapshots`] fetches depth snapshots through one scheduler thread per REST
//!   endpoint, shared by every feed of the process (merged requests, the venue's weight
//!   budget, `Retry-After` on 429/418); replay uses
//!   [`tickwire_engine::adapter::QueuedSnapshots`] fed from the capture.
//!
//! Building a feed for the engine:
//!
//! ```no_run
//! use tickwire_engine::adapter::{FeedConfig, FeedHandler};
//! use tickwire_engine::Registry;
//! use tickwire_feeds::binance::{
//!     plan_connections, BinanceAdapter, BinanceConfig, Channel, DepthSpeed, RestSnapshots,
//!     Subscription,
//! };
//!
//! let registry = Registry::new();
//! let config = BinanceConfig::spot();
//! let subs = Subscription::product(
//!     &["BTCUSDT", "ETHUSDT"],
//!     &[Channel::Trade, Channel::BookTicker, Channel::Depth(DepthSpeed::Ms100)],
//! );
//! for group in plan_connections(&config, &subs) {
//!     let adapter = BinanceAdapter::new(config.clone(), &group, &registry).unwrap();
//!     let symbols: Vec<&str> = group.iter().map(|s| s.symbol.as_str()).collect();
//!     let snapshots = RestSnapshots::spawn(&config, &registry, &symbols).unwrap();
//!     let url = tickwire_engine::FeedAdapter::endpoint(&adapter).url;
//!     let handler = FeedHandler::new(adapter, Box::new(snapshots), FeedConfig::default());
//!     // engine.connect(url, handler) ...
//!     let _ = (url, handler);
//! }
//! ```

pub mod adapter;
pub mod config;
pub mod decode;
pub mod feed;
pub mod lines;
mod number;
pub mod rotation;
pub(crate) mod scan;
pub mod sim;
pub mod snapshot;
pub mod subscription;
mod symbols;

pub use adapter::{BinanceAdapter, PlanError};
pub use config::{BinanceConfig, Market, SubscribeVia, TimeUnit};
pub use decode::{Decoder, parse_depth_snapshot};
pub use feed::{BinanceFeed, FeedError, FeedPlan};
pub use snapshot::RestSnapshots;
pub use subscription::{
    Channel, DepthSpeed, MAX_STREAMS_PER_CONNECTION, Route, Subscription, plan_connections,
};
pub use symbols::Symbols;

#[cfg(test)]
mod runtime_tests;
#[cfg(test)]
mod sync_tests;
#[cfg(test)]
mod tests;
