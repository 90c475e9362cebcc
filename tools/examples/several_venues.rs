//! Several venues on one engine: Binance spot, Bybit spot, OKX and Kraken feeds on one I/O
//! thread, publishing into one consumer ring; the consumer keeps a book per (venue, symbol)
//! and prints the top of each.
//!
//! ```sh
//! cargo run --example several_venues
//! ```
//!
//! Each venue is reached by its registry name through the launch hook
//! (`tickwire_feeds::venues::find(name)?.launch(..)`), the same path `tickwire run --venue
//! NAME` takes: one [`LaunchSpec`] shape for every venue, with the common channel names
//! `trade`, `bbo` and `book`. The venues' own builders (`BinanceFeed`, `BybitFeed`,
//! `OkxFeed`, `KrakenFeed`) do the same with typed settings.
//!
//! Instead of the real endpoints each feed connects to that venue's built-in simulator,
//! started in-process on a loopback port. To use the real venues, leave `spec.url` unset.
//!
//! The books differ in how they are kept in sync (Binance: REST snapshot and `U`/`u`/`pu`;
//! Bybit: in-band snapshots and `u`; OKX: `seqId`/`prevSeqId` and a CRC32; Kraken: a CRC32
//! and no sequence), but the events that reach the consumer are the same: a snapshot run
//! makes a book valid, diffs keep it so, a `Resync` invalidates it until the next snapshot
//! run. The consumer needs no venue-specific code.
//!
//! Ends by itself once every venue has shown a valid book (or fails after [`TIMEOUT`]).

use std::collections::{HashMap, HashSet};
use std::error::Error;
use std::time::{Duration, Instant};

use tickwire_engine::book::{Book, BookConfig};
use tickwire_engine::{Engine, EngineConfig, InstrumentId, Profile, Registry};
use tickwire_feeds::launch::LaunchSpec;
use tickwire_feeds::venues;
use tickwire_tools::sim::{SimConfig, SimServer};

/// Give up (and fail) after this long without a valid book from every venue.
const TIMEOUT: Duration = Duration::from_secs(30);

/// (registry name, the symbol as that venue spells it).
const FEEDS: [(&str, &str); 4] = [
    ("binance", "BTCUSDT"),
    ("bybit", "BTCUSDT"),
    ("okx", "BTC-USDT"),
    ("kraken", "BTC/USD"),
];

/// Runs the example; fails unless every venue printed a valid top of book.
pub fn main() -> Result<(), Box<dyn Error>> {
    // One engine (one I/O thread) and one consumer ring for all four venues. A ring must
    // hold each feed's deepest snapshot run: Binance spot books are 5,000 levels a side.
    let mut builder = Engine::builder(EngineConfig::profile(Profile::LowLatency));
    let (consumer_id, mut consumer) = builder.consumer(1 << 16);
    let engine = builder.start()?;
    let registry = Registry::new();

    let mut sims = Vec::new();
    for (venue, symbol) in FEEDS {
        // The venue's simulator: its paths, message shapes, sequences and heartbeats.
        let mut sim_config = SimConfig::for_venue(venue)?;
        sim_config.symbols = vec![symbol.to_owned()];
        sim_config.rate = 1_000;
        let sim = SimServer::start(sim_config)?;

        // The same spec for every venue; the venue checks it and plans its connections.
        let mut spec = LaunchSpec::new(&[symbol], &["trade", "bbo", "book"]);
        spec.url = Some(sim.ws_url()); // the real venue needs neither of these two lines
        spec.rest_url = Some(sim.rest_url());
        let plan = venues::find(venue)?.launch(&spec, &registry)?;
        plan.start(&engine.handle(), &registry, &[consumer_id])?;
        sims.push(sim);
    }

    // The consumer: books by instrument; the registry names each one (venue, symbol).
    let mut books: HashMap<InstrumentId, Book> = HashMap::new();
    // Instruments whose first valid top of book was printed (one symbol a venue).
    let mut shown: HashSet<InstrumentId> = HashSet::new();
    let start = Instant::now();
    while shown.len() < FEEDS.len() && start.elapsed() < TIMEOUT {
        let Some(event) = consumer.pop() else {
            std::thread::yield_now(); // a trading thread would spin or do other work
            continue;
        };
        if event.instrument == InstrumentId::NONE {
            if event.as_status().is_some() {
                // Connection-level (Connected, Overflow, ...): an `Overflow` concerns every
                // book on the ring.
                for book in books.values_mut() {
                    let _ = book.apply_event(&event);
                }
            }
            continue;
        }
        let book = books
            .entry(event.instrument)
            .or_insert_with(|| Book::new(BookConfig::default()));
        if book.apply_event(&event).is_err() {
            eprintln!("a level the book refused (it stays invalid until a snapshot)");
        }
        // Print each venue's first valid top of book.
        if !book.is_valid() || shown.contains(&event.instrument) {
            continue;
        }
        let (Some((bid, bid_qty)), Some((ask, ask_qty))) = (book.best_bid(), book.best_ask())
        else {
            continue;
        };
        let name = registry
            .name(event.instrument)
            .ok_or("an unnamed instrument")?;
        println!(
            "{:<8} {:<9} bid {bid_qty} @ {bid} | ask {ask_qty} @ {ask}",
            name.venue, name.symbol
        );
        shown.insert(event.instrument);
    }

    let stats = engine.join()?;
    for sim in sims {
        sim.stop();
    }
    println!(
        "{} of {} venues showed a valid book; {} messages received on one I/O thread, {} events dropped",
        shown.len(),
        FEEDS.len(),
        stats.messages,
        stats.dropped_events
    );
    if shown.len() < FEEDS.len() {
        return Err(format!("only {} venues showed a valid book", shown.len()).into());
    }
    Ok(())
}
