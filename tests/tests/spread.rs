//! One universe spread over several engines of one process (`tickwire_feeds::spread`,
//! issue 13): each engine its own I/O thread and consumer ring, every symbol on exactly one
//! engine with all its channels, books in sync on each, instrument ids distinct across
//! engines (one registry), and one REST scheduler for all of them.

use std::collections::{HashMap, HashSet};

use tickwire_engine::event::{EventKind, StatusKind};
use tickwire_engine::{Engine, EngineConfig, InstrumentId, Profile, Registry};
use tickwire_feeds::launch::LaunchSpec;
use tickwire_feeds::{binance, spread, venues};
use tickwire_tests::seen::Seen;
use tickwire_tools::sim::{Market as SimMarket, SimConfig, SimServer};

#[test]
fn a_universe_spread_over_three_engines_lands_each_symbol_on_one_engine_in_sync() {
    let symbols: Vec<String> = (0..12).map(|i| format!("S{i:02}USDT")).collect();
    let mut sc = SimConfig::new(SimMarket::Spot);
    sc.symbols = symbols.clone();
    sc.rate = 3_000;
    let sim = SimServer::start(sc).unwrap();
    let mut spec = LaunchSpec::new(&symbols, &["trade", "book", "bbo"]);
    spec.url = Some(sim.ws_url());
    spec.rest_url = Some(sim.rest_url());
    let shards = spread::shards(&spec, 3, |_| 1).unwrap();
    assert_eq!(shards.len(), 3);
    let venue = venues::find("binance").unwrap();
    let registry = Registry::new();
    let mut running = Vec::new();
    for shard in &shards {
        let mut b = Engine::builder(EngineConfig::profile(Profile::Standard));
        let (cid, consumer) = b.consumer(1 << 17);
        let engine = b.start().unwrap();
        let launch = venue.launch(shard, &registry).unwrap();
        launch.start(&engine.handle(), &registry, &[cid]).unwrap();
        running.push((engine, consumer, launch, Seen::new(5000)));
    }
    // The shards' feeds share the venue's scheduler (one REST budget for the process).
    assert_eq!(binance::snapshot::scheduler_threads(), 1);

    // Each engine's books come in sync and trades and BBOs flow.
    for (i, (_, consumer, launch, seen)) in running.iter_mut().enumerate() {
        let books = launch.symbols().len();
        assert_eq!(books, 4, "12 symbols over 3 engines");
        seen.until(consumer, &format!("engine {i}: its books in sync"), |s| {
            s.valid_books() == books && s.trades > 20 && s.bbos > 20
        });
    }
    // Per engine: the instruments its events named (trades, BBOs and book levels).
    let mut per_engine: Vec<HashSet<InstrumentId>> = Vec::new();
    for (_, consumer, _, seen) in &mut running {
        let mut seen_ids = HashSet::new();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        while std::time::Instant::now() < deadline {
            while let Some(e) = consumer.pop() {
                if matches!(
                    e.kind(),
                    EventKind::Trade | EventKind::Bbo | EventKind::BookLevel
                ) {
                    seen_ids.insert(e.instrument);
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        seen_ids.extend(seen.books.keys().copied());
        assert_eq!(seen.count(StatusKind::Gap), 0);
        assert_eq!(seen.count(StatusKind::DecodeError), 0);
        per_engine.push(seen_ids);
    }
    // Every symbol on exactly one engine, the one the split put it on.
    let mut owner: HashMap<InstrumentId, usize> = HashMap::new();
    for (e, ids) in per_engine.iter().enumerate() {
        for id in ids {
            assert!(
                owner.insert(*id, e).is_none(),
                "instrument {id:?} on two engines"
            );
        }
    }
    assert_eq!(owner.len(), 12);
    for (e, shard) in shards.iter().enumerate() {
        for s in &shard.symbols {
            let id = registry.lookup("binance", s).unwrap();
            assert_eq!(owner.get(&id), Some(&e), "{s}");
        }
    }
    for (engine, _, _, _) in running {
        engine.join().unwrap();
    }
}
