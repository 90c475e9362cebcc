//! The generic [`WsHandler`] on any WebSocket URL, with reconnection.
//!
//! ```sh
//! cargo run --example ws_handler
//! ```
//!
//! No venue adapter, no events: the handler gets every whole message, borrowed from the
//! connection's receive buffer, on the engine's I/O thread, and does what it likes with it.
//! Here it subscribes in `on_connect` (so the subscription is sent again after every
//! reconnect), counts messages and bytes into atomics the main thread reads, and lets the
//! engine reconnect with backoff when the connection drops.
//!
//! The URL is the in-process Binance simulator's; any `ws://` or `wss://` URL works the same.
//! Halfway through, the simulator drops the TCP connection (no close frame); the engine
//! notices, calls `on_disconnect`, backs off and reconnects, and `on_connect` resubscribes.
//!
//! Ends by itself once messages flow on the second connection (or fails after [`TIMEOUT`]).

use std::error::Error;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tickwire_engine::config::{BackoffConfig, ConnectionConfig, ConnectionOptions};
use tickwire_engine::{Context, Engine, EngineConfig, Message, Reason, Reconnect, WsHandler};
use tickwire_tools::sim::{Fault, SimConfig, SimServer};

/// Give up (and fail) after this long.
const TIMEOUT: Duration = Duration::from_secs(20);

/// Messages to see on each connection.
const PER_CONNECTION: u64 = 200;

/// What the handler shares with the application: plain atomics, no locks.
#[derive(Default)]
struct Counters {
    connects: AtomicU64,
    disconnects: AtomicU64,
    messages: AtomicU64,
    bytes: AtomicU64,
}

/// The handler. Its callbacks run on the I/O thread: keep them short, never block, and do
/// not allocate per message (this one only touches atomics).
struct TradeCounter {
    subscribe: &'static [u8],
    counters: Arc<Counters>,
}

impl WsHandler for TradeCounter {
    /// The upgrade completed (first connect or reconnect): (re)subscribe.
    fn on_connect(&mut self, cx: &mut Context<'_>) {
        self.counters.connects.fetch_add(1, Ordering::Relaxed);
        // Fails only if the connection is no longer live; the next connect sends it again.
        let _ = cx.send_text(self.subscribe);
    }

    /// One whole message (fragments reassembled, UTF-8 checked for text).
    fn on_message(&mut self, msg: Message<'_>, _cx: &mut Context<'_>) {
        self.counters.messages.fetch_add(1, Ordering::Relaxed);
        let len = msg.payload().len() as u64;
        self.counters.bytes.fetch_add(len, Ordering::Relaxed);
    }

    /// The connection went down: ask for a reconnect (with the connection's backoff).
    fn on_disconnect(&mut self, _reason: Reason, _cx: &mut Context<'_>) -> Reconnect {
        self.counters.disconnects.fetch_add(1, Ordering::Relaxed);
        Reconnect::Yes
    }
}

/// Runs the example; fails if the connection did not come back.
pub fn main() -> Result<(), Box<dyn Error>> {
    let mut sim_config = SimConfig::new(tickwire_tools::sim::Market::Spot);
    sim_config.symbols = vec!["BTCUSDT".into()];
    sim_config.rate = 1_000;
    let sim = SimServer::start(sim_config)?;

    let engine = Engine::builder(EngineConfig::default()).start()?;
    let counters = Arc::new(Counters::default());
    let handler = TradeCounter {
        subscribe:
            br#"{"method":"SUBSCRIBE","params":["btcusdt@trade","btcusdt@depth@100ms"],"id":1}"#,
        counters: counters.clone(),
    };
    // Reconnect quickly (the delay before attempt n is uniform in [0, min(cap, base·2ⁿ⁻¹)]).
    let options = ConnectionOptions {
        backoff: BackoffConfig {
            base: Duration::from_millis(100),
            cap: Duration::from_secs(2),
            max_attempts: None,
        },
        ..ConnectionOptions::default()
    };
    let config = ConnectionConfig::new(&format!("{}/ws", sim.ws_url()))?.options(options);
    // No consumer rings: this handler publishes no events.
    let _conn = engine
        .handle()
        .add_connection(config, Box::new(handler), &[])?;

    let start = Instant::now();
    let mut dropped = false;
    let ok = loop {
        std::thread::sleep(Duration::from_millis(50));
        let messages = counters.messages.load(Ordering::Relaxed);
        let connects = counters.connects.load(Ordering::Relaxed);
        if !dropped && messages >= PER_CONNECTION {
            // Cut the TCP connection from the venue's side, without a close frame.
            sim.inject(Fault::Drop);
            dropped = true;
            println!("{messages} messages on the first connection; the venue drops it");
        }
        if dropped && connects >= 2 && messages >= 2 * PER_CONNECTION {
            break true;
        }
        if start.elapsed() > TIMEOUT {
            break false;
        }
    };
    println!(
        "connects {}, disconnects {}, messages {}, bytes {}",
        counters.connects.load(Ordering::Relaxed),
        counters.disconnects.load(Ordering::Relaxed),
        counters.messages.load(Ordering::Relaxed),
        counters.bytes.load(Ordering::Relaxed)
    );
    let stats = engine.join()?;
    sim.stop();
    println!("engine: {} reconnects", stats.reconnects);
    if !ok {
        return Err("the connection did not come back with data in time".into());
    }
    Ok(())
}
