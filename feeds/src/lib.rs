//! # tickwire-feeds
//!
//! Venue adapters for tickwire: one module per venue, each holding the adapter, the venue's
//! wire shapes and what the simulator needs to know about the venue.
//!
//! Data flow: [`binance::BinanceFeed`] plans the connections for a set of symbols and
//! channels, and starts each on a `tickwire_engine` engine as a `FeedHandler` running the
//! [`binance::BinanceAdapter`] (decode, the venue's sequence rules) with REST snapshots
//! from a shared scheduler thread ([`binance::RestSnapshots`]). Consumers read normalized
//! `Event`s from their rings and rebuild books with `tickwire_engine::Book`.
//!
//! A whole program is the README's quick tour; it runs offline as the example
//! `binance_book` in the repository's `tools/examples/` (`cargo run --example binance_book`),
//! against the simulator built on [`binance::sim`].
#![deny(unsafe_code)]
#![warn(clippy::unwrap_used, clippy::expect_used)]

pub mod binance;
pub mod bybit;
pub mod capture;
// Coinbase Advanced Trade
pub mod coinbase;
#[doc(hidden)]
pub mod fuzzing;
pub mod jsonl;
// Kraken v2
mod json_scan;
pub mod kraken;
pub mod launch;
pub mod okx;
pub mod rest;
mod scan_levels;
pub mod sim;
pub mod spread;
pub mod venues;
