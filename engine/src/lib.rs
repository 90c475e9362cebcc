//! # tickwire-engine
//!
//! The hot path of tickwire: it takes market-data WebSocket feeds and delivers them,
//! normalized and validated, to the threads of a trading system with the least latency the
//! machine allows. It knows nothing about any venue; venue adapters (crate `tickwire-feeds`,
//! or your own) plug in through [`adapter::FeedAdapter`] or the generic
//! [`handler::WsHandler`].
//!
//! ## Data flow (one I/O thread)
//!
//! ```text
//! socket ──read──▶ TLS (rustls) ──▶ receive buffer ──▶ WS decoder lends one Frame<'_> at a time
//!    ──▶ adapter.decode(&mut payload, recv_ts, &mut out)   (simd-json in place)
//!    ──▶ sequence validation, L2 book (per instrument, on the I/O thread)
//!    ──▶ Event (Copy, 64 bytes) ──push──▶ SPSC ring per consumer ──pop──▶ consumer thread
//!                               └──call──▶ inline consumer, on the I/O thread itself
//! ```
//!
//! A consumer is a ring read by a thread of yours, or an [`inline::InlineConsumer`] the
//! I/O thread calls with each message's events (no hand-off; the feed waits while it runs):
//! the module's documentation and the README's "Ring or inline consumer" say which to choose.
//!
//! One I/O thread runs a `mio::Poll`. Every readiness event drains its socket until
//! `WouldBlock`. One receive timestamp (CLOCK_REALTIME ns, [`clock::now_ns`]) is taken per
//! socket read and carried by every event from that read; parsers never read the clock, so
//! replays are deterministic.
//!
//! ## Getting started
//!
//! The repository README's quick tour is a whole program (Binance books on a consumer
//! thread). The examples in the repository's `tools/examples/`, each running offline against
//! the built-in simulator or a toy venue (`cargo run --example <name>`):
//!
//! * `binance_book`: the quick tour against an in-process simulator;
//! * `ws_handler`: the generic [`handler::WsHandler`] on any URL, with reconnection;
//! * `raw_forward`: whole raw messages to another thread ([`raw::RawForwarder`],
//!   [`raw::raw_channel`]);
//! * `custom_adapter`: a [`adapter::FeedAdapter`] of your own, with a book, a gap and a
//!   resync (the guide: `docs/writing-an-adapter.md`);
//! * `inline_consumer`: a strategy on the I/O thread itself ([`inline::InlineConsumer`]),
//!   beside a ring consumer.
//!
//! ## Hot-path rules
//!
//! In steady state the I/O thread allocates nothing (buffers belong to the connection and are
//! reused; events are plain values; symbols are interned at subscribe time), takes no locks,
//! makes no syscalls beyond socket reads and writes (and `poll`), and never logs or formats.
//! Telemetry leaves through its own ring. A counting global allocator in the test suite
//! proves the allocation rule. All `unsafe` and OS-specific code sits in `sys`.
#![deny(unsafe_code)]
#![warn(clippy::unwrap_used, clippy::expect_used)]

// Modules in data-flow order: set-up and control, then a message's way from the socket
// to a consumer, then what the engine reports about itself. A blank line after each keeps
// rustfmt from sorting them; each line says what the module holds.

// Engine and connection settings, and the profiles.
pub mod config;

// Control from other threads: the command queue and `EngineHandle`.
pub mod command;

// The I/O thread: one `mio::Poll` over every connection.
pub mod engine;

// Host names resolved off the I/O thread.
pub mod resolver;

// Reconnect delays: exponential backoff with full jitter.
pub mod backoff;

// Per-connection deadlines in fixed slots.
pub mod timer;

// OS-specific pieces (socket options, CPU pinning): the crate's only `unsafe`.
pub mod sys;

// The byte pipe: TCP, optionally TLS (rustls).
pub mod transport;

// WebSocket framing (RFC 6455) and the client handshake.
pub mod ws;

// One WebSocket connection's state machine, from connect to close.
pub mod connection;

// The receive clock: CLOCK_REALTIME ns, one reading per socket read.
pub mod clock;

// The callbacks a connection's messages go to (`WsHandler`).
pub mod handler;

// Whole raw messages to another thread, undecoded.
pub mod raw;

// The venue extension point: `FeedAdapter`, book sync, rotation, A/B lines.
pub mod adapter;

// Exact decimals parsed straight from venue text.
pub mod decimal;

// Instruments interned to small ids at subscribe time.
pub mod instrument;

// The validating L2 order book per instrument.
pub mod book;

// The fixed-size (64-byte) event every consumer receives.
pub mod event;

// Why a connection went down or a frame was rejected: stable numeric codes.
pub mod reason;

// SPSC delivery of events to a consumer thread.
pub mod ring;

// Consumers called on the I/O thread itself, with no ring.
pub mod inline;

// Per-stage latency records that leave the I/O thread through their own ring.
pub mod telemetry;

// Counters the I/O thread keeps, returned by `Engine::join`.
pub mod stats;

pub use adapter::{FeedAdapter, FeedHandler};
pub use book::{Book, BookConfig};
pub use command::{CommandError, ConsumerId, EngineHandle, OutFrame};
pub use config::{ConnectionConfig, ConnectionOptions, EngineConfig, IdleStrategy, Profile};
pub use decimal::{Decimal, DecimalError};
pub use engine::{Engine, EngineBuilder, EngineError};
pub use event::{Bbo, Event, EventKind, Flags, Level, Side, Status, StatusKind, Trade, TradeId};
pub use handler::Leg;
pub use handler::{ConnectionId, Context, Message, Reconnect, WsHandler};
pub use inline::{InlineConsumer, InlineHandle};
pub use instrument::{InstrumentId, Registry};
pub use reason::Reason;
pub use ring::{Consumer, EventProducer};
pub use stats::EngineStats;
