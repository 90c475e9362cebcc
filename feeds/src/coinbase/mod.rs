//! Coinbase Advanced Trade public market data (`coinbase`), venues.md §3a and §12.
//!
//! * [`Subscription`]s (product × [`Channel`]: `level2`, `market_trades`, `ticker`) are
//!   spread over connections with [`plan_connections`]: at most
//!   [`L2_PRODUCTS_PER_CONNECTION`] `level2` products each (about 16 work, 32 are refused).
//! * A [`CoinbaseAdapter`] per connection subscribes `heartbeats` first on every
//!   (re)connect, then one request per channel; answers (`subscriptions`, no id) are matched
//!   to the oldest request. It decodes frames with a hand scanner ([`decode`]) and carries
//!   the book rules: in-band snapshots (`l2_data` `snapshot`, the whole book), updates with
//!   absolute sizes, and one `sequence_num` for the whole connection: a missing number
//!   resyncs every book of the connection ([`FeedAdapter::take_connection_gap`]), each by
//!   resubscribing its `level2`. No checksum.
//! * [`CoinbaseFeed`] plans and starts the connections on an engine, with a message limit
//!   that admits whole-book snapshots ([`MAX_MESSAGE`]).
//! * [`lines::arbitrated_feed`]: one connection's subscriptions over several lines (A/B),
//!   failing over between the lines' books (the `sequence_num` is per connection).
//!
//! [`FeedAdapter::take_connection_gap`]: tickwire_engine::adapter::FeedAdapter::take_connection_gap

pub mod adapter;
pub mod decode;
pub mod feed;
pub mod lines;
pub mod sim;
pub mod subscription;

pub use adapter::{
    CoinbaseAdapter, CoinbaseConfig, HEARTBEATS, MAX_MESSAGE, PlanError, VENUE, WS_URL,
};
pub use decode::{Decoder, TradeSide, rfc3339_ns};
pub use feed::{CoinbaseFeed, FeedError};
pub use subscription::{
    Channel, L2_PRODUCTS_PER_CONNECTION, PRODUCTS_PER_CONNECTION, Subscription, plan_connections,
    valid_product,
};

#[cfg(test)]
mod tests;
