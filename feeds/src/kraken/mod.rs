//! Kraken spot WebSocket v2 public market data (`--venue kraken`): `book` (10, 25, 100,
//! 500 or 1000 levels), `trade`, `ticker` (BBO).
//!
//! * [`KrakenAdapter`]: subscribe/unsubscribe frames with a `req_id` (one answer per
//!   symbol, counted), `{"method":"ping"}` with a pong deadline, the `heartbeat` channel as
//!   the idle check, the hand scanner [`decode`] (JSON numbers read exactly from their
//!   text), the `instrument` channel for the pairs' precisions.
//! * Books have **no sequence**: every update applies, and the CRC32 of the top 10
//!   ([`checksum`]) is checked after every message, on by default. The validating book
//!   holds exactly the subscribed depth, so levels pushed out are truncated as Kraken does.
//!   A mismatch publishes a `checksum` status and resubscribes that symbol alone.
//! * [`KrakenFeed`]: plans connections and starts them.
//!
//! ```no_run
//! use tickwire_engine::{Engine, EngineConfig, Profile, Registry};
//! use tickwire_feeds::kraken::{Channel, KrakenFeed};
//!
//! let mut builder = Engine::builder(EngineConfig::profile(Profile::Standard));
//! let (consumer_id, _consumer) = builder.consumer(1 << 16);
//! let engine = builder.start()?;
//! let registry = Registry::new();
//! let _connections = KrakenFeed::new()
//!     .symbols(&["BTC/USD", "ETH/USD"])
//!     .channels(&[Channel::Book, Channel::Trade, Channel::Ticker])
//!     .start(&engine.handle(), &registry, &[consumer_id])?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod adapter;
pub mod checksum;
pub mod decode;
pub mod feed;
pub mod launch;
pub mod sim;

pub use adapter::{
    Channel, DEPTHS, KrakenAdapter, KrakenConfig, PING, PlanError, Subscription, VENUE,
};
pub use decode::{Decoder, kraken_decimal, parse_timestamp};
pub use feed::{FeedError, KrakenFeed, plan_connections};

#[cfg(test)]
mod tests;
