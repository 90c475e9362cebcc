//! # tickwire-feeds
//!
//! Venue adapters for tickwire: one module per venue, each holding the adapter, the venue's
//! wire shapes and what the simulator needs to know about the venue.
#![deny(unsafe_code)]
#![warn(clippy::unwrap_used, clippy::expect_used)]

pub mod binance;
pub mod capture;
#[doc(hidden)]
pub mod fuzzing;
pub mod jsonl;
