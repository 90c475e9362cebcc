//! Binance spot and USD-M futures market data.
//!
//! * [`Subscription`]s (symbol × [`Channel`]) are spread over connections with
//!   [`plan_connections`] (≤ 1024 streams each; USD-M routed `/public` and `/market` apart).
//! * A [`BinanceAdapter`] per connection names the combined-stream URL (or sends paced
//!   `SUBSCRIBE` frames and tracks every ack), decodes frames with simd-json ([`decode`]) and
//!   carries the venue's book-sync rules (spot: `U == prev u + 1`; USD-M: `pu == prev u`).
//! * [`RestSnapshots`] fetches depth snapshots on a helper thread; replay uses
//!   [`tickwire_engine::adapter::QueuedSnapshots`] fed from the capture.
//!
//! Running a feed on an engine ([`BinanceFeed`] does all of the above per connection):
//!
//! ```no_run
//! use tickwire_engine::{Engine, EngineConfig, Profile, Registry};
//! use tickwire_feeds::binance::{BinanceFeed, Channel, DepthSpeed, Market};
//!
//! let mut builder = Engine::builder(EngineConfig::profile(Profile::Standard));
//! let (consumer_id, mut consumer) = builder.consumer(1 << 16);
//! let engine = builder.start().unwrap();
//! let registry = Registry::new();
//! BinanceFeed::new(Market::Spot)
//!     .symbols(&["BTCUSDT", "ETHUSDT"])
//!     .channels(&[Channel::Trade, Channel::BookTicker, Channel::Depth(DepthSpeed::Ms100)])
//!     .start(&engine.handle(), &registry, &[consumer_id])
//!     .unwrap();
//! while let Some(event) = consumer.pop() {
//!     let _ = event;
//! }
//! ```
//!
//! By hand, per connection: `plan_connections` → `BinanceAdapter::new` →
//! `RestSnapshots::spawn` → `FeedHandler::new(adapter, Box::new(snapshots), FeedConfig)` →
//! `tickwire_engine::adapter::add_feed`.

pub mod adapter;
pub mod config;
pub mod decode;
pub mod feed;
pub mod rotation;
mod scan;
pub mod sim;
pub mod snapshot;
pub mod subscription;

pub use adapter::{BinanceAdapter, PlanError};
pub use config::{BinanceConfig, Market, SubscribeVia, TimeUnit};
pub use decode::{Decoder, Symbols, parse_depth_snapshot};
pub use feed::{BinanceFeed, FeedError, FeedPlan};
pub use snapshot::RestSnapshots;
pub use subscription::{
    Channel, DepthSpeed, MAX_STREAMS_PER_CONNECTION, Route, Subscription, plan_connections,
};

#[cfg(test)]
mod tests;
