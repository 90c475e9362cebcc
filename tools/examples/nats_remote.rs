//! Events on another host: an engine publishes its events to NATS JetStream, and a remote
//! consumer (here a thread; in production a process on any host that reaches the broker)
//! reads them back and keeps the same books.
//!
//! ```sh
//! nats-server -js -a 127.0.0.1 -p 4222 -sd /tmp/nats-store &   # Debian: apt-get install nats-server
//! cargo run --example nats_remote -- nats://127.0.0.1:4222
//! ```
//!
//! The venue is the built-in Binance simulator (started in-process on loopback), so the
//! example needs nothing but the broker. Needs the tools' default `nats` feature.
//!
//! What happens: the engine's I/O thread never touches the bus. `EngineBuilder::consumer`
//! gives the egress a ring of its own, like any other consumer; the egress thread drains it,
//! batches events per instrument subject (`tickwire.binance.BTCUSDT`) and publishes them
//! with a deduplication id, plus a snapshot run of every book now and then. The remote
//! consumer starts at the latest snapshot run of each instrument, so its books are valid as
//! soon as the first one arrives, then applies the diffs after it, in order, without
//! duplicates.
//!
//! Ends by itself after [`RUN_FOR`] (or fails after [`TIMEOUT`] without a valid remote book).

use std::error::Error;
use std::time::{Duration, Instant};

use tickwire_bus::{Egress, EgressConfig, From, Remote, RemoteConfig};
use tickwire_engine::{Engine, EngineConfig, Profile, Registry};
use tickwire_feeds::binance::{BinanceFeed, Channel, DepthSpeed, Market};
use tickwire_tools::sim::{SimConfig, SimServer};

/// How long the example runs (longer, up to [`TIMEOUT`], until a remote book was printed).
const RUN_FOR: Duration = Duration::from_secs(3);

/// Give up (and fail) after this long without a valid remote book.
const TIMEOUT: Duration = Duration::from_secs(30);

const SYMBOLS: [&str; 2] = ["BTCUSDT", "ETHUSDT"];

/// Runs the example against the broker named by the first argument or `$NATS_URL`.
#[allow(dead_code)] // `run` is what the examples test calls
pub fn main() -> Result<(), Box<dyn Error>> {
    let url = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("NATS_URL").ok())
        .ok_or("usage: nats_remote nats://HOST:PORT (or set NATS_URL); start a broker with `nats-server -js`")?;
    run(&url)
}

/// Runs the example against the broker at `url`; fails if no valid remote book was printed.
pub fn run(url: &str) -> Result<(), Box<dyn Error>> {
    // --- The publishing host: a venue, an engine, and the egress on a ring of its own. ---
    let mut sim_config = SimConfig::new(tickwire_tools::sim::Market::Spot);
    sim_config.symbols = SYMBOLS.iter().map(|s| s.to_string()).collect();
    sim_config.rate = 2_000;
    let sim = SimServer::start(sim_config)?;

    let mut builder = Engine::builder(EngineConfig::profile(Profile::LowLatency));
    let (egress_ring_id, egress_ring) = builder.consumer(1 << 16);
    let engine = builder.start()?;
    let registry = Registry::new();
    // Snapshot runs every second (5 s by default) so that a late joiner is served quickly.
    let mut egress_config = EgressConfig::new(url);
    egress_config.snapshot_every = Some(Duration::from_secs(1));
    let egress = Egress::spawn(egress_ring, registry.clone(), egress_config)?;
    BinanceFeed::new(Market::Spot)
        .symbols(&SYMBOLS)
        .channels(&[Channel::Trade, Channel::Depth(DepthSpeed::Ms100)])
        .url(&sim.ws_url()) // the real venue needs neither of these two lines
        .rest_url(&sim.rest_url())
        .start(&engine.handle(), &registry, &[egress_ring_id])?;

    // --- The remote host: only the broker's URL in common with the publisher. ---
    let remote_url = url.to_owned();
    let remote = std::thread::spawn(move || -> Result<u64, String> {
        let mut config = RemoteConfig::new(&remote_url);
        config.from = From::LatestSnapshot;
        let mut remote = Remote::connect(config).map_err(|e| e.to_string())?;
        let (mut printed, start) = (0u64, Instant::now());
        let mut next_print = start + Duration::from_millis(500);
        while (start.elapsed() < RUN_FOR || printed == 0) && start.elapsed() < TIMEOUT {
            // Events come back as the engine published them (`Delivery::event`); the remote
            // keeps books from them itself (`Remote::book`).
            let _ = remote
                .next(Duration::from_millis(50))
                .map_err(|e| e.to_string())?;
            if Instant::now() < next_print {
                continue;
            }
            next_print += Duration::from_millis(500);
            for symbol in SYMBOLS {
                // The remote's own registry: its ids need not be the engine's.
                let Some(id) = remote.registry().lookup("binance", symbol) else {
                    continue; // no event of it yet
                };
                let Some(book) = remote.book(id).filter(|b| b.is_valid()) else {
                    continue;
                };
                if let (Some((bid, bid_qty)), Some((ask, ask_qty))) =
                    (book.best_bid(), book.best_ask())
                {
                    println!(
                        "remote {symbol:<8} bid {bid_qty} @ {bid} | ask {ask_qty} @ {ask} (update {})",
                        book.seq()
                    );
                    printed += 1;
                }
            }
        }
        let stats = remote.stats();
        println!(
            "remote: {} events in {} batches, {} snapshot runs used, {} duplicates dropped",
            stats.events, stats.batches, stats.snapshots_used, stats.duplicates
        );
        Ok(printed)
    });

    let printed = remote.join().map_err(|_| "the remote thread panicked")??;
    // The egress ends once the engine has stopped and what it took is acknowledged.
    let stats = engine.join()?;
    let published = egress.join()?;
    sim.stop();
    println!(
        "engine: {} messages received; egress: {} events acknowledged in {} batches, {} snapshot runs",
        stats.messages, published.events_acked, published.batches_acked, published.snapshots
    );
    if printed == 0 {
        return Err("no valid remote book was printed".into());
    }
    Ok(())
}
