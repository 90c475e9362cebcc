//! OKX v5 public market data (`--venue okx`): `books` (400 levels), `trades`, `bbo-tbt`.
//!
//! * [`OkxAdapter`]: subscribe/unsubscribe frames (acks matched by their echoed `arg`),
//!   text `ping`/`pong` with a deadline, 480 requests an hour per connection, the hand
//!   scanner [`decode`], the sequence rules (`prevSeqId == last seqId`; keep-alives and
//!   resets after maintenance included), the book checksum ([`checksum`], checked when
//!   non-zero), and a gap resynced by resubscribing that one instId.
//! * Both starts of a book (venues.md §12): the in-band snapshot when one comes, else the
//!   REST start from [`OkxRestSnapshots`] on the venue-neutral shared scheduler
//!   ([`crate::rest`]).
//! * [`OkxFeed`]: plans connections and starts them at most 3 a second.
//! * [`lines`]: one connection over several lines (A/B arbitration).
//!
//! ```no_run
//! use tickwire_engine::{Engine, EngineConfig, Profile, Registry};
//! use tickwire_feeds::okx::{Channel, OkxFeed};
//!
//! let mut builder = Engine::builder(EngineConfig::profile(Profile::Standard));
//! let (consumer_id, _consumer) = builder.consumer(1 << 16);
//! let engine = builder.start()?;
//! let registry = Registry::new();
//! let _connections = OkxFeed::new()
//!     .symbols(&["BTC-USDT", "ETH-USDT"])
//!     .channels(&[Channel::Books, Channel::Trades, Channel::BboTbt])
//!     .start(&engine.handle(), &registry, &[consumer_id])?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod adapter;
pub mod checksum;
pub mod decode;
pub mod feed;
pub mod lines;
pub mod sim;
pub mod snapshot;

pub use adapter::{Channel, OkxAdapter, OkxConfig, PlanError, Subscription, VENUE};
pub use decode::{Decoder, okx_decimal, parse_books_snapshot};
pub use feed::{FeedError, OkxFeed, plan_connections};
pub use snapshot::{OkxRestSnapshots, okx_limits};

#[cfg(test)]
mod tests;
