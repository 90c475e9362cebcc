//! The README's quick tour, whole and offline: Binance spot books kept on a consumer thread,
//! the top of each book printed twice a second.
//!
//! ```sh
//! cargo run --example binance_book
//! ```
//!
//! Instead of `stream.binance.com` it connects to the built-in Binance simulator, started
//! in-process on a loopback port (the same one `tickwire sim` serves), so it runs anywhere.
//! To use the real venue, drop the `.url(..)` and `.rest_url(..)` lines.
//!
//! What happens: the engine's I/O thread connects, subscribes, buffers depth diffs until a
//! REST snapshot lines up with them, keeps a validating book per symbol and publishes
//! normalized `Event`s (64 bytes, `Copy`) into an SPSC ring. The consumer thread rebuilds
//! the same books from those events: a snapshot run makes a book valid, diffs keep it so,
//! a `Resync` or an `Overflow` status invalidates it until the next snapshot run.
//!
//! Ends by itself after [`RUN_FOR`] (or fails after [`TIMEOUT`] without a valid book).

use std::collections::HashMap;
use std::error::Error;
use std::time::{Duration, Instant};

use tickwire_engine::book::{Book, BookConfig};
use tickwire_engine::event::StatusKind;
use tickwire_engine::{Engine, EngineConfig, InstrumentId, Profile, Registry};
use tickwire_feeds::binance::{BinanceFeed, Channel, DepthSpeed, Market};
use tickwire_tools::sim::{SimConfig, SimServer};

/// How long the example runs (longer, up to [`TIMEOUT`], until a book has been printed).
const RUN_FOR: Duration = Duration::from_secs(3);

/// Give up (and fail) after this long without a valid book.
const TIMEOUT: Duration = Duration::from_secs(20);

const SYMBOLS: [&str; 2] = ["BTCUSDT", "ETHUSDT"];

/// Runs the example; fails if no valid book was printed.
pub fn main() -> Result<(), Box<dyn Error>> {
    // The simulated venue: both symbols, 2,000 venue events a second, on 127.0.0.1:<free port>.
    let mut sim_config = SimConfig::new(tickwire_tools::sim::Market::Spot);
    sim_config.symbols = SYMBOLS.iter().map(|s| s.to_string()).collect();
    sim_config.rate = 2_000;
    let sim = SimServer::start(sim_config)?;

    // One engine = one I/O thread. Each consumer is the reading end of an SPSC ring; a feed
    // with books needs room for a whole snapshot run (2 × book depth + 1 events: Binance spot
    // books are 5,000 levels a side), so 64 Ki events is plenty.
    let mut builder = Engine::builder(EngineConfig::profile(Profile::LowLatency));
    let (consumer_id, mut consumer) = builder.consumer(1 << 16);
    let engine = builder.start()?;

    // The registry interns (venue, symbol) pairs; events carry the small `InstrumentId`.
    let registry = Registry::new();
    BinanceFeed::new(Market::Spot)
        .symbols(&SYMBOLS)
        .channels(&[
            Channel::Trade,
            Channel::BookTicker,
            Channel::Depth(DepthSpeed::Ms100),
        ])
        .url(&sim.ws_url()) // the real venue needs neither of these two lines
        .rest_url(&sim.rest_url())
        .start(&engine.handle(), &registry, &[consumer_id])?;

    // The consumer thread: a `Consumer` is `Send`; move it to the thread that trades.
    let names = registry.clone();
    let reader = std::thread::spawn(move || {
        let mut books: HashMap<InstrumentId, Book> = HashMap::new();
        let mut printed = 0u64;
        let start = Instant::now();
        let mut next_print = start + Duration::from_millis(500);
        while (start.elapsed() < RUN_FOR || printed == 0) && start.elapsed() < TIMEOUT {
            let Some(event) = consumer.pop() else {
                std::thread::yield_now(); // a trading thread would spin or do other work
                continue;
            };
            if let Some(status) = event.as_status() {
                if event.instrument == InstrumentId::NONE {
                    // Connection-level (Connected, Overflow, ...): `Overflow` concerns every
                    // book, so pass it to each of them.
                    for book in books.values_mut() {
                        let _ = book.apply_event(&event);
                    }
                }
                if matches!(status.kind, StatusKind::Gap | StatusKind::Resync) {
                    println!("{:?} on instrument {}", status.kind, event.instrument.0);
                }
            }
            if event.instrument != InstrumentId::NONE {
                let book = books
                    .entry(event.instrument)
                    .or_insert_with(|| Book::new(BookConfig::default()));
                // Snapshot levels, diffs, and the `Resync` that invalidates; trades and
                // BBOs are ignored by the book (read them with `as_trade()` / `as_bbo()`).
                if book.apply_event(&event).is_err() {
                    eprintln!("a level the book refused (it stays invalid until a snapshot)");
                }
            }
            if Instant::now() >= next_print {
                next_print += Duration::from_millis(500);
                for (id, book) in &books {
                    let (Some((bid, bid_qty)), Some((ask, ask_qty))) =
                        (book.best_bid(), book.best_ask())
                    else {
                        continue;
                    };
                    if !book.is_valid() {
                        continue;
                    }
                    let symbol = names.name(*id).map(|n| n.symbol.to_string());
                    println!(
                        "{:<8} bid {bid_qty} @ {bid} | ask {ask_qty} @ {ask} (update {})",
                        symbol.as_deref().unwrap_or("?"),
                        book.seq()
                    );
                    printed += 1;
                }
            }
        }
        printed
    });

    let printed = reader.join().map_err(|_| "the consumer thread panicked")?;
    // Close handshakes, stop the I/O thread, and read its final counters.
    let stats = engine.join()?;
    sim.stop();
    println!(
        "{printed} tops of book printed; {} messages received, {} events dropped",
        stats.messages, stats.dropped_events
    );
    if printed == 0 {
        return Err("no valid book was printed".into());
    }
    Ok(())
}
