//! Whole raw messages forwarded to another thread: [`RawForwarder`] + [`raw_channel`].
//!
//! ```sh
//! cargo run --example raw_forward
//! ```
//!
//! For consumers that parse the venue's messages themselves. The I/O thread copies each
//! message, with its connection id and receive time, into one SPSC byte ring (no allocation
//! per message); the consumer thread borrows each message from the ring in turn. A full
//! ring never blocks the socket: messages are dropped and counted, and the consumer reads
//! a `RawItem::Overflow { dropped }` with the exact count before the next message.
//!
//! Against the in-process Binance simulator (any WebSocket URL works the same). Ends by
//! itself after [`MESSAGES`] messages (or fails after [`TIMEOUT`]).

use std::error::Error;
use std::time::{Duration, Instant};

use tickwire_engine::config::ConnectionConfig;
use tickwire_engine::raw::{RawForwarder, RawItem, raw_channel};
use tickwire_engine::{Engine, EngineConfig};
use tickwire_tools::sim::{SimConfig, SimServer};

/// Messages to read before stopping.
const MESSAGES: u64 = 500;

/// Give up (and fail) after this long.
const TIMEOUT: Duration = Duration::from_secs(20);

/// Runs the example; fails if fewer than [`MESSAGES`] messages arrived.
pub fn main() -> Result<(), Box<dyn Error>> {
    let mut sim_config = SimConfig::new(tickwire_tools::sim::Market::Spot);
    sim_config.symbols = vec!["BTCUSDT".into(), "ETHUSDT".into()];
    sim_config.rate = 2_000;
    let sim = SimServer::start(sim_config)?;

    // A 1 MiB byte ring: the largest message it carries is 1 MiB - 16 bytes (the record
    // header). Size it for a burst of your largest messages.
    let (producer, mut consumer) = raw_channel(1 << 20);
    // The frames to send after every (re)connect.
    let subscribe =
        br#"{"method":"SUBSCRIBE","params":["btcusdt@trade","ethusdt@bookTicker"],"id":1}"#;
    let forwarder = RawForwarder::new(producer, vec![subscribe.to_vec()]);

    let engine = Engine::builder(EngineConfig::default()).start()?;
    let config = ConnectionConfig::new(&format!("{}/ws", sim.ws_url()))?;
    engine
        .handle()
        .add_connection(config, Box::new(forwarder), &[])?;

    // The consumer thread: borrow each message for the duration of the closure.
    let reader = std::thread::spawn(move || {
        let (mut messages, mut trades, mut dropped) = (0u64, 0u64, 0u64);
        let start = Instant::now();
        while messages < MESSAGES && start.elapsed() < TIMEOUT {
            let got = consumer.pop_with(|item| match item {
                RawItem::Message {
                    conn,
                    recv_ts,
                    payload,
                } => {
                    messages += 1;
                    // Parse with whatever you like; here a plain substring test.
                    if payload.windows(11).any(|w| w == br#""e":"trade""#) {
                        trades += 1;
                    }
                    if messages <= 3 {
                        let text = String::from_utf8_lossy(payload);
                        println!("conn {} at {recv_ts} ns: {text}", conn.0);
                    }
                }
                RawItem::Overflow { dropped: n } => dropped += n,
            });
            if got.is_none() {
                std::thread::yield_now(); // the ring is empty
            }
        }
        (messages, trades, dropped)
    });

    let (messages, trades, dropped) = reader.join().map_err(|_| "the reader panicked")?;
    engine.join()?;
    sim.stop();
    println!("{messages} messages ({trades} trades), {dropped} dropped by a full ring");
    if messages < MESSAGES {
        return Err("fewer messages than expected arrived".into());
    }
    Ok(())
}
