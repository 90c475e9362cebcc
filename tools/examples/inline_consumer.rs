//! A strategy on the feed thread: an inline consumer keeps Binance books on the engine's I/O
//! thread itself, beside an ordinary ring consumer (a logger on a thread of its own).
//!
//! ```sh
//! cargo run --example inline_consumer
//! ```
//!
//! Runs offline against the built-in Binance simulator (in-process, on a loopback port).
//!
//! An inline consumer ([`InlineConsumer`], or any `FnMut(&[Event])`) is called by the I/O
//! thread with each message's events right after they are decoded and validated: no ring,
//! no hand-off to another core, no wake-up. It is registered like a ring consumer and gets
//! a `ConsumerId` that feeds take like any other; it sees the same events, in the same order,
//! as a ring consumer of the same feed (never an `Overflow`: nothing is queued).
//!
//! The price: while it runs the feed waits. Keep it short, never block, and leave slow work
//! (logging, storage, anything that may wait) to ring consumers, as here.
//!
//! Ends by itself after [`RUN_FOR`] (or fails after [`TIMEOUT`] without a valid book).

use std::collections::HashMap;
use std::error::Error;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tickwire_engine::book::{Book, BookConfig};
use tickwire_engine::event::EventKind;
use tickwire_engine::{
    Engine, EngineConfig, Event, InlineConsumer, InstrumentId, Profile, Registry,
};
use tickwire_feeds::binance::{BinanceFeed, Channel, DepthSpeed, Market};
use tickwire_tools::sim::{SimConfig, SimServer};

/// How long the example runs (longer, up to [`TIMEOUT`], until a book has been valid).
const RUN_FOR: Duration = Duration::from_secs(3);

/// Give up (and fail) after this long without a valid book.
const TIMEOUT: Duration = Duration::from_secs(20);

const SYMBOLS: [&str; 2] = ["BTCUSDT", "ETHUSDT"];

/// What the strategy tells the rest of the program: plain atomics, written on the I/O
/// thread, read anywhere (a lock here could stall the feed).
#[derive(Default)]
struct Signals {
    /// Messages after which some book was valid.
    decisions: AtomicU64,
    /// Last mid price of the first symbol's book, in units of 1e-8.
    mid: AtomicI64,
    /// Events the strategy was given.
    events: AtomicU64,
}

/// The strategy: a book per instrument, a decision after every message.
struct Strategy {
    books: HashMap<InstrumentId, Book>,
    first: InstrumentId,
    signals: Arc<Signals>,
}

impl InlineConsumer for Strategy {
    /// One message's events (or one status). Runs on the I/O thread: no blocking here.
    fn on_events(&mut self, events: &[Event]) {
        self.signals
            .events
            .fetch_add(events.len() as u64, Ordering::Relaxed);
        for e in events {
            if e.instrument == InstrumentId::NONE {
                // Connection-level statuses concern every book.
                for book in self.books.values_mut() {
                    let _ = book.apply_event(e);
                }
            } else if let Some(book) = self.books.get_mut(&e.instrument) {
                // Snapshot runs, diffs, Resync; trades and BBOs leave the book as it is.
                let _ = book.apply_event(e);
            }
        }
        // The whole message is applied: decide now, on the thread that read it.
        let Some(last) = events.last() else {
            return;
        };
        if last.kind() == EventKind::Status {
            return;
        }
        if let Some(book) = self.books.get(&self.first).filter(|b| b.is_valid()) {
            if let (Some((bid, _)), Some((ask, _))) = (book.best_bid(), book.best_ask()) {
                // A real strategy would send an order here (through its own gateway).
                if let (Ok(b), Ok(a)) = (bid.mantissa_at(8), ask.mantissa_at(8)) {
                    self.signals.mid.store((a + b) / 2, Ordering::Relaxed);
                }
                self.signals.decisions.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Runs the example; fails if the strategy never had a valid book.
pub fn main() -> Result<(), Box<dyn Error>> {
    let mut sim_config = SimConfig::new(tickwire_tools::sim::Market::Spot);
    sim_config.symbols = SYMBOLS.iter().map(|s| s.to_string()).collect();
    sim_config.rate = 2_000;
    let sim = SimServer::start(sim_config)?;

    // Instruments are interned before the engine starts, so the strategy knows its ids
    // and allocates its books up front (nothing to allocate on the I/O thread later).
    let registry = Registry::new();
    let ids: Vec<InstrumentId> = SYMBOLS
        .iter()
        .map(|s| registry.intern("binance", s))
        .collect();
    let signals = Arc::new(Signals::default());
    let strategy = Strategy {
        books: ids
            .iter()
            .map(|&id| (id, Book::new(BookConfig::default())))
            .collect(),
        first: ids[0],
        signals: signals.clone(),
    };

    let mut builder = Engine::builder(EngineConfig::profile(Profile::LowLatency));
    // The strategy, inline: its `InlineHandle` says whether it is still running (a panic in
    // it is caught; it is then dropped, and the feed and the logger go on).
    let (strategy_id, strategy_handle) = builder.inline_consumer(strategy)?;
    // A logger on a ring, as usual: it may be slow; the ring absorbs it.
    let (logger_id, mut logger) = builder.consumer(1 << 16);
    let engine = builder.start()?;

    BinanceFeed::new(Market::Spot)
        .symbols(&SYMBOLS)
        .channels(&[
            Channel::Trade,
            Channel::BookTicker,
            Channel::Depth(DepthSpeed::Ms100),
        ])
        .url(&sim.ws_url())
        .rest_url(&sim.rest_url())
        // Both consumers take the same ids: the feed publishes to each.
        .start(&engine.handle(), &registry, &[strategy_id, logger_id])?;

    let logger_thread = std::thread::spawn(move || {
        let start = Instant::now();
        let mut logged = 0u64;
        while start.elapsed() < TIMEOUT {
            match logger.pop() {
                Some(_event) => logged += 1,            // write it somewhere
                None if logger.is_abandoned() => break, // the engine stopped
                None => std::thread::sleep(Duration::from_millis(1)),
            }
        }
        logged
    });

    let start = Instant::now();
    let mut next_print = start + Duration::from_millis(500);
    while (start.elapsed() < RUN_FOR || signals.decisions.load(Ordering::Relaxed) == 0)
        && start.elapsed() < TIMEOUT
    {
        std::thread::sleep(Duration::from_millis(10));
        if Instant::now() >= next_print {
            next_print += Duration::from_millis(500);
            let decisions = signals.decisions.load(Ordering::Relaxed);
            if decisions > 0 {
                let mid = signals.mid.load(Ordering::Relaxed) as f64 / 1e8;
                println!(
                    "{}: mid {mid:.2}, {decisions} decisions on the feed thread",
                    SYMBOLS[0]
                );
            }
        }
    }

    let stats = engine.join()?;
    sim.stop();
    let logged = logger_thread
        .join()
        .map_err(|_| "the logger thread panicked")?;
    let given = signals.events.load(Ordering::Relaxed);
    println!(
        "strategy: {} decisions, {given} events; logger: {logged} events; {} messages",
        signals.decisions.load(Ordering::Relaxed),
        stats.messages
    );
    if strategy_handle.has_panicked() {
        return Err("the strategy panicked".into());
    }
    if signals.decisions.load(Ordering::Relaxed) == 0 {
        return Err("the strategy never had a valid book".into());
    }
    // Same feed, same events: the logger got what the strategy got.
    if stats.dropped_events == 0 && logged != given {
        return Err(format!("strategy saw {given} events, logger {logged}").into());
    }
    Ok(())
}
