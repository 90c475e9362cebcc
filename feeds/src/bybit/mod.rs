//! Bybit v5 public market data, spot (`bybit`) and linear (`bybit-linear`).
//!
//! * [`Subscription`]s (symbol × [`Channel`]: trades, BBO, a book of 1, 50 or 200 levels)
//!   become topics (`publicTrade.BTCUSDT`, `orderbook.50.BTCUSDT`, linear
//!   `tickers.BTCUSDT`; a spot BBO is `orderbook.1.BTCUSDT`, since spot tickers carry no
//!   bid/ask) and are spread over connections with [`plan_connections`] (21,000 characters
//!   of topics each; spot requests carry at most 10 topics).
//! * A [`BybitAdapter`] per connection sends `{"req_id":"<n>","op":"subscribe",..}` frames
//!   and tracks their acks, pings (`{"op":"ping"}` every 20 s, pong deadline), decodes
//!   frames with a hand scanner ([`decode`]), and carries the book rules: in-band snapshots
//!   (any later snapshot replaces the book, even with a lower `u`), deltas chained by
//!   `u = prev u + 1`, `u == 1` a reset (the delta is the whole book), a gap resubscribes the
//!   one topic. No checksum.
//! * [`BybitFeed`] plans and starts the connections on an engine, each over one line or
//!   several ([`BybitFeed::line`], [`lines`]: A/B arbitration).

pub mod adapter;
pub mod decode;
pub mod feed;
pub mod lines;
pub mod sim;
pub mod subscription;

pub use adapter::{BybitAdapter, BybitConfig, PING, PlanError, WS_BASE};
pub use decode::Decoder;
pub use feed::{BybitFeed, FeedError};
pub use subscription::{
    Channel, Depth, MAX_ARGS_CHARS_PER_CONNECTION, MAX_CONNECTIONS_PER_5_MIN, Market,
    SPOT_ARGS_PER_REQUEST, Subscription, plan_connections, topics, valid_symbol,
};

#[cfg(test)]
mod tests;
