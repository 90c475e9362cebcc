//! # tickwire-tools
//!
//! The library side of the `tickwire` binary: the venue simulator server ([`sim`]), used by
//! the demo, `tickwire bench` and the integration tests.
//! Also the consumer thread ([`consumer`]), the live terminal view ([`view`]) and the
//! SIGINT/SIGTERM flag ([`signal`]) that `tickwire run`, the demo and `bench` share.
//!
//! The examples (`tools/examples/`, `cargo run --example <name>`) start [`sim::SimServer`]
//! in-process: `binance_book`, `ws_handler`, `raw_forward`, `custom_adapter`,
//! `several_venues` (four venues on one engine), `inline_consumer` (a strategy on the I/O
//! thread beside a ring), and
//! `nats_remote` (an engine publishing to NATS JetStream and a remote consumer keeping its
//! books; needs a `nats-server -js` and the default `nats` feature).

#![deny(unsafe_code)]

pub mod consumer;
pub mod journal;
pub mod signal;
pub mod sim;
pub mod sys;
pub mod text;
pub mod view;

/// The repository README's code blocks, compiled and run as doc tests of this crate (it
/// depends on both `tickwire-engine` and `tickwire-feeds`), so the quick tour cannot drift
/// from the API. Only in doc-test builds: the published crate does not refer to the file.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

/// The adapter guide (`docs/writing-an-adapter.md`): any Rust block in it is compiled as a
/// doc test of this crate too.
#[cfg(doctest)]
#[doc = include_str!("../../docs/writing-an-adapter.md")]
pub struct AdapterGuideDoctests;
