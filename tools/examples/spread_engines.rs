//! One universe over several engines: `tickwire_feeds::spread` splits the symbols, each
//! shard runs on an engine of its own (an I/O thread pinned to a core of its own where the
//! machine has the cores), each engine publishes to its own ring and consumer thread.
//!
//! ```sh
//! cargo run --example spread_engines
//! ```
//!
//! Runs offline against the built-in Binance simulator (in-process, on a loopback port).
//!
//! * Weights balance the shards: here the first two symbols are "busy" (weight 10, the
//!   others 1), so each goes to an engine of its own and the quiet ones fill in around them.
//! * The venue's per-IP limits are shared out by the launchers (the shards' connects
//!   interleave; engines of one process share one REST scheduler, so book snapshots keep to
//!   one budget, not one per engine).
//! * One `Registry` for every engine: instrument ids stay distinct across engines.
//!
//! Ends by itself once every book is valid on its engine and [`RUN_FOR`] has passed (or
//! fails after [`TIMEOUT`]).

use std::collections::{HashMap, HashSet};
use std::error::Error;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tickwire_engine::book::{Book, BookConfig};
use tickwire_engine::event::EventKind;
use tickwire_engine::{Consumer, Engine, EngineConfig, InstrumentId, Profile, Registry};
use tickwire_feeds::launch::LaunchSpec;
use tickwire_feeds::{spread, venues};
use tickwire_tools::sim::{SimConfig, SimServer};

/// How long the example runs at least.
const RUN_FOR: Duration = Duration::from_secs(2);

/// Give up (and fail) after this long without every book valid.
const TIMEOUT: Duration = Duration::from_secs(30);

const SYMBOLS: [&str; 8] = [
    "BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT", "DOGEUSDT", "TRXUSDT",
];

/// What one engine's consumer saw.
#[derive(Default)]
struct Seen {
    /// Instruments of its events (trades, BBOs, levels).
    instruments: HashSet<InstrumentId>,
    /// Its books, rebuilt from the events.
    books: HashMap<InstrumentId, Book>,
    events: u64,
}

/// A consumer thread for one engine's ring (on its own core in a real system); `valid`
/// follows how many of its books are valid.
fn consume(mut ring: Consumer, stop: Arc<AtomicBool>, valid: Arc<AtomicUsize>) -> JoinHandle<Seen> {
    std::thread::spawn(move || {
        let mut seen = Seen::default();
        while !stop.load(Ordering::Relaxed) {
            let taken = ring.drain(usize::MAX, |e| {
                seen.events += 1;
                if e.kind() != EventKind::Status {
                    seen.instruments.insert(e.instrument);
                }
                if e.instrument != InstrumentId::NONE {
                    let book = seen
                        .books
                        .entry(e.instrument)
                        .or_insert_with(|| Book::new(BookConfig::default()));
                    let _ = book.apply_event(e);
                }
                true
            });
            if taken == 0 {
                std::thread::sleep(Duration::from_millis(1));
            } else {
                let n = seen.books.values().filter(|b| b.is_valid()).count();
                valid.store(n, Ordering::Relaxed);
            }
        }
        seen
    })
}

/// Runs the example; fails if a symbol ran on no engine or on two, or a book never synced.
pub fn main() -> Result<(), Box<dyn Error>> {
    let mut sim_config = SimConfig::new(tickwire_tools::sim::Market::Spot);
    sim_config.symbols = SYMBOLS.iter().map(|s| s.to_string()).collect();
    sim_config.rate = 4_000;
    let sim = SimServer::start(sim_config)?;

    let mut spec = LaunchSpec::new(&SYMBOLS, &["trade", "book", "bbo"]);
    spec.url = Some(sim.ws_url());
    spec.rest_url = Some(sim.rest_url());
    let busy = |s: &str| {
        if s == "BTCUSDT" || s == "ETHUSDT" {
            10
        } else {
            1
        }
    };
    let shards = spread::shards(&spec, 2, busy)?;

    // A core per engine where the machine has them (core 0 left to the rest); else unpinned.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let venue = venues::find("binance")?;
    let registry = Registry::new();
    let stop = Arc::new(AtomicBool::new(false));
    let mut engines = Vec::new();
    let mut valid = Vec::new();
    for (k, shard) in shards.iter().enumerate() {
        let mut config = EngineConfig::profile(Profile::Standard);
        config.pin_core = (cores > shards.len()).then_some(1 + k);
        let mut builder = Engine::builder(config);
        let (consumer, ring) = builder.consumer(1 << 16);
        let engine = builder.start()?;
        let launch = venue.launch(shard, &registry)?;
        launch.start(&engine.handle(), &registry, &[consumer])?;
        println!("engine {k}: {}", shard.symbols.join(", "));
        let books = Arc::new(AtomicUsize::new(0));
        engines.push((engine, consume(ring, stop.clone(), books.clone())));
        valid.push(books);
    }

    // Run for RUN_FOR, and on until every book is valid on its engine (or TIMEOUT).
    let start = Instant::now();
    let all_valid = || {
        valid
            .iter()
            .map(|v| v.load(Ordering::Relaxed))
            .sum::<usize>()
            == SYMBOLS.len()
    };
    while (start.elapsed() < RUN_FOR || !all_valid()) && start.elapsed() < TIMEOUT {
        std::thread::sleep(Duration::from_millis(10));
    }
    stop.store(true, Ordering::Relaxed);
    let mut seen = Vec::new();
    for (engine, consumer) in engines {
        seen.push(consumer.join().map_err(|_| "a consumer thread panicked")?);
        engine.join()?;
    }
    let valid_books: usize = seen
        .iter()
        .map(|s| s.books.values().filter(|b| b.is_valid()).count())
        .sum();
    if valid_books != SYMBOLS.len() {
        sim.stop();
        return Err(format!(
            "{valid_books} of {} books valid after {TIMEOUT:?}",
            SYMBOLS.len()
        )
        .into());
    }
    sim.stop();
    for (k, s) in seen.iter().enumerate() {
        println!(
            "engine {k}: {} events, {} books valid",
            s.events,
            s.books.values().filter(|b| b.is_valid()).count()
        );
    }
    // Every symbol on exactly the engine the split chose, on no other.
    for (k, shard) in shards.iter().enumerate() {
        for sym in &shard.symbols {
            let id = registry
                .lookup("binance", sym)
                .ok_or("symbol not interned")?;
            for (j, s) in seen.iter().enumerate() {
                if s.instruments.contains(&id) != (j == k) {
                    return Err(format!("{sym}: engine {j}'s events, shard {k}'s symbol").into());
                }
            }
        }
    }
    if shards[0].symbols.contains(&"BTCUSDT".to_owned())
        == shards[0].symbols.contains(&"ETHUSDT".to_owned())
    {
        return Err("the two busy symbols landed on one engine".into());
    }
    Ok(())
}
