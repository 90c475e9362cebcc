//! End to end on loopback: the venue simulator serving Coinbase Advanced Trade (`tickwire
//! sim --venue coinbase`), the engine's I/O thread, `CoinbaseFeed` (planner, adapter,
//! in-band snapshots, FeedHandler) and a consumer that rebuilds its books from the events.
//! Then the faults: a lost update (its `sequence_num` skipped: every book of the connection
//! resyncs), a malformed message, a dropped connection, a silent one; the `level2` product
//! limit (sharded over connections, refused on one); a multi-megabyte snapshot, and one over
//! a lowered message limit.

use std::time::Duration;

use tickwire_engine::event::StatusKind;
use tickwire_engine::{Consumer, Engine, EngineConfig, InstrumentId, Profile, Reason, Registry};
use tickwire_feeds::coinbase::{Channel, CoinbaseConfig, CoinbaseFeed};
use tickwire_tests::seen::Seen;
use tickwire_tools::sim::{Fault, SimConfig, SimServer};

fn sim(products: &[String]) -> SimServer {
    let mut sc = SimConfig::for_venue("coinbase").unwrap();
    sc.symbols = products.to_vec();
    sc.rate = 2_000;
    SimServer::start(sc).unwrap()
}

fn new_engine() -> (Engine, tickwire_engine::command::ConsumerId, Consumer) {
    let mut b = Engine::builder(EngineConfig::profile(Profile::Standard));
    let (cid, consumer) = b.consumer(1 << 17);
    (b.start().unwrap(), cid, consumer)
}

fn config() -> CoinbaseConfig {
    CoinbaseConfig {
        depth: 1000,
        send_interval_ns: 20_000_000,
        stale_after_ns: 1_500_000_000,
        ..CoinbaseConfig::default()
    }
}

#[test]
fn books_sync_and_a_lost_update_resyncs_every_book_of_the_connection() {
    let products = vec!["BTC-USD".to_owned(), "SOL-USD".to_owned()];
    let sim = sim(&products);
    let (engine, cid, mut consumer) = new_engine();
    let registry = Registry::new();
    let feed = CoinbaseFeed::with_config(config())
        .products(&products)
        .channels(&[Channel::Level2, Channel::Trades, Channel::Ticker])
        .url(&sim.ws_url());
    let ids = feed.start(&engine.handle(), &registry, &[cid]).unwrap();
    assert_eq!(ids.len(), 1);
    let mut seen = Seen::new(1000);
    seen.until(&mut consumer, "books in sync, data flowing", |s| {
        s.valid_books() == 2 && s.trades > 10 && s.bbos > 10
    });
    assert_eq!(seen.count(StatusKind::Gap), 0);
    assert_eq!(seen.count(StatusKind::DecodeError), 0);
    assert_eq!(seen.count(StatusKind::SubscriptionError), 0);

    // One update lost (its number skipped): which book it belonged to is unknown, so both
    // books hear Gap and Resync and are subscribed again.
    let snapshots = seen.snapshots;
    assert_eq!(sim.inject(Fault::Gap), 1);
    seen.until(&mut consumer, "gap on both books, new snapshots", |s| {
        s.count(StatusKind::Gap) == 2 && s.snapshots >= snapshots + 2 && s.valid_books() == 2
    });
    let gapped: Vec<InstrumentId> = seen
        .statuses
        .iter()
        .filter(|s| s.0 == StatusKind::Gap)
        .map(|s| s.1)
        .collect();
    let btc = registry.lookup("coinbase", "BTC-USD").unwrap();
    let sol = registry.lookup("coinbase", "SOL-USD").unwrap();
    assert!(gapped.contains(&btc) && gapped.contains(&sol), "{gapped:?}");
    assert_eq!(seen.count(StatusKind::Resync), 2);

    // A message cut in half: one decode error; its number is never seen, so the next
    // message shows a break and both books resync again.
    assert_eq!(sim.inject(Fault::Malformed), 1);
    seen.until(&mut consumer, "decode error, resync, books back", |s| {
        s.count(StatusKind::DecodeError) == 1
            && s.count(StatusKind::Gap) == 4
            && s.valid_books() == 2
    });

    // A dropped connection: reconnect (heartbeats and every channel again), books again.
    let connected = seen.count(StatusKind::Connected);
    sim.inject(Fault::Drop);
    seen.until(&mut consumer, "drop, reconnect, books again", |s| {
        s.count(StatusKind::Connected) > connected && s.valid_books() == 2
    });

    // Silence past the stale limit (heartbeats tick every second): recycled, back again.
    let connected = seen.count(StatusKind::Connected);
    sim.inject(Fault::Silent(Duration::from_secs(3)));
    seen.until(&mut consumer, "stale, reconnect, books again", |s| {
        s.count(StatusKind::Connected) > connected && s.valid_books() == 2
    });
    assert!(seen.count(StatusKind::Stale) >= 1, "{:?}", seen.statuses);
    let trades = seen.trades;
    seen.until(&mut consumer, "data after the faults", |s| {
        s.trades > trades + 20
    });
    assert_eq!(seen.crossed, 0);
    assert_eq!(seen.count(StatusKind::SubscriptionError), 0);
    drop(engine);
    sim.stop();
}

#[test]
fn twenty_books_shard_over_two_connections_where_one_would_be_refused() {
    let products: Vec<String> = (0..20).map(|i| format!("P{i}-USD")).collect();
    let sim = sim(&products);
    let (engine, cid, mut consumer) = new_engine();
    let registry = Registry::new();
    let feed = CoinbaseFeed::with_config(config())
        .products(&products)
        .channels(&[Channel::Level2])
        .url(&sim.ws_url());
    let ids = feed.start(&engine.handle(), &registry, &[cid]).unwrap();
    assert_eq!(ids.len(), 2, "16 + 4 books");
    let mut seen = Seen::new(1000);
    seen.until(&mut consumer, "all twenty books", |s| s.valid_books() == 20);
    assert_eq!(seen.count(StatusKind::SubscriptionError), 0);
    // A gap on one connection resyncs only that connection's books.
    let gaps = seen.count(StatusKind::Gap);
    sim.inject(Fault::Gap);
    seen.until(&mut consumer, "gaps and books back", |s| {
        s.count(StatusKind::Gap) > gaps && s.valid_books() == 20
    });
    drop(engine);

    // The same twenty on one connection: the venue refuses the subscribe.
    let (engine, cid, mut consumer) = new_engine();
    let one = CoinbaseConfig {
        max_l2_products: 32,
        ..config()
    };
    let feed = CoinbaseFeed::with_config(one)
        .products(&products)
        .channels(&[Channel::Level2])
        .url(&sim.ws_url());
    assert_eq!(
        feed.start(&engine.handle(), &Registry::new(), &[cid])
            .unwrap()
            .len(),
        1
    );
    let mut seen = Seen::new(1000);
    seen.until(&mut consumer, "the refusal", |s| {
        s.count(StatusKind::SubscriptionError) >= 1
    });
    assert_eq!(seen.valid_books(), 0);
    drop(engine);
    sim.stop();
}

#[test]
fn a_multi_megabyte_snapshot_arrives_whole_and_one_over_the_limit_is_refused_clearly() {
    let products = vec!["BTC-USD".to_owned()];
    let sim = sim(&products);
    // 40,000 far levels a side: about 8.5 MiB in one frame.
    let url = format!("{}/?deep=40000", sim.ws_url());
    let (engine, cid, mut consumer) = new_engine();
    // The default stale limit: rendering and reading 8.5 MiB takes a while in a debug build.
    let config = CoinbaseConfig {
        stale_after_ns: CoinbaseConfig::default().stale_after_ns,
        ..config()
    };
    let feed = CoinbaseFeed::with_config(config.clone())
        .products(&products)
        .channels(&[Channel::Level2, Channel::Trades])
        .url(&url);
    feed.start(&engine.handle(), &Registry::new(), &[cid])
        .unwrap();
    let mut seen = Seen::new(1000);
    seen.until(&mut consumer, "the deep book", |s| {
        s.valid_books() == 1 && s.trades > 10
    });
    let book = seen.books.values().next().unwrap();
    // More levels than the tape ever holds (300 a side): the far ones came through, up to
    // the book's depth of 1000 (less the tape's deletions since the snapshot).
    let bids = book.bids(2000).count();
    assert!((900..=1000).contains(&bids), "{bids}");
    assert_eq!(seen.count(StatusKind::DecodeError), 0);
    assert_eq!(
        seen.count(StatusKind::Disconnected),
        0,
        "{:?}",
        seen.statuses
    );
    drop(engine);

    // The same snapshot over a 4 MiB limit: the connection is closed with `too_big`
    // (1009) every time, never a truncated book.
    let (engine, cid, mut consumer) = new_engine();
    let feed = CoinbaseFeed::with_config(config)
        .products(&products)
        .channels(&[Channel::Level2])
        .max_message(4 << 20)
        .url(&url);
    feed.start(&engine.handle(), &Registry::new(), &[cid])
        .unwrap();
    let mut seen = Seen::new(1000);
    seen.until(&mut consumer, "a too_big disconnect", |s| {
        s.statuses
            .iter()
            .any(|x| x.0 == StatusKind::Disconnected && x.2 == Reason::TooBig.code())
    });
    assert_eq!(seen.valid_books(), 0);
    drop(engine);
    sim.stop();
}
