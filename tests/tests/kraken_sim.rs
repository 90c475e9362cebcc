//! End to end on loopback: `tickwire sim --venue kraken` (the simulator server), the engine,
//! `KrakenFeed` (adapter, FeedHandler) and a consumer rebuilding its books (at the
//! subscribed depth) from the events. Then the faults: a wrong checksum, an update not sent
//! (no sequence: the next checksum shows it), a fresh snapshot, malformed, drop, silent,
//! pong timeout.

use std::time::Duration;

use tickwire_engine::event::StatusKind;
use tickwire_engine::{Engine, EngineConfig, Profile, Reason, Registry};
use tickwire_feeds::kraken::{Channel, KrakenConfig, KrakenFeed, VENUE};
use tickwire_tests::seen::Seen;
use tickwire_tools::sim::{Fault, SimConfig, SimServer};

#[test]
fn kraken_feed_syncs_against_the_simulator_and_recovers_from_every_fault() {
    let mut sc = SimConfig::for_venue("kraken").unwrap();
    sc.symbols = vec!["BTC/USD".into(), "ETH/USD".into()];
    sc.rate = 2_000;
    let sim = SimServer::start(sc).unwrap();
    let mut b = Engine::builder(EngineConfig::profile(Profile::Standard));
    let (cid, mut consumer) = b.consumer(1 << 17);
    let engine = b.start().unwrap();
    let registry = Registry::new();
    let config = KrakenConfig {
        ping_interval_ns: 300_000_000,
        pong_timeout_ns: 1_000_000_000,
        idle_timeout_ns: 3_000_000_000,
        ..KrakenConfig::default()
    };
    let ids = KrakenFeed::with_config(config)
        .symbols(&["BTC/USD", "ETH/USD"])
        .channels(&[Channel::Book, Channel::Trade, Channel::Ticker])
        .url(&format!("{}/v2", sim.ws_url()))
        .start(&engine.handle(), &registry, &[cid])
        .unwrap();
    assert_eq!(ids.len(), 1);
    let btc = registry.lookup(VENUE, "BTC/USD").unwrap();
    let mut seen = Seen::new(10);
    seen.until(&mut consumer, "both books in sync, data flowing", |s| {
        s.valid_books() == 2 && s.trades > 10 && s.bbos > 10
    });
    assert_eq!(seen.count(StatusKind::Checksum), 0, "{:?}", seen.statuses);
    assert_eq!(seen.count(StatusKind::DecodeError), 0);
    assert_eq!(seen.count(StatusKind::SubscriptionError), 0);
    assert_eq!(seen.books[&btc].bid_len(), 10);

    // A wrong checksum: Checksum + Resync, a resubscribe, a fresh snapshot.
    let snapshots = seen.snapshots;
    assert_eq!(sim.inject(Fault::Checksum), 1);
    seen.until(&mut consumer, "checksum, resync, new snapshot", |s| {
        s.count(StatusKind::Checksum) == 1
            && s.count(StatusKind::Resync) == 1
            && s.snapshots > snapshots
            && s.valid_books() == 2
    });

    // An update not sent: no sequence shows it, the next checksum does.
    let snapshots = seen.snapshots;
    assert_eq!(sim.inject(Fault::Gap), 1);
    seen.until(&mut consumer, "checksum after a lost update", |s| {
        s.count(StatusKind::Checksum) == 2
            && s.count(StatusKind::Resync) == 2
            && s.snapshots > snapshots
            && s.valid_books() == 2
    });
    assert_eq!(seen.count(StatusKind::Gap), 0);

    // A fresh snapshot mid-stream: it replaces the book, no resync.
    let snapshots = seen.snapshots;
    assert_eq!(sim.inject(Fault::Reset), 1);
    seen.until(&mut consumer, "a snapshot mid-stream", |s| {
        s.snapshots > snapshots
    });
    let trades = seen.trades;
    seen.until(&mut consumer, "data after it", |s| s.trades > trades + 50);
    assert_eq!(seen.count(StatusKind::Resync), 2, "{:?}", seen.statuses);

    // Malformed: a decode_error status; the stream goes on (a cut book update shows up as
    // the next checksum's mismatch: at most one more resync).
    assert_eq!(sim.inject(Fault::Malformed), 1);
    seen.until(&mut consumer, "decode error and books valid", |s| {
        s.count(StatusKind::DecodeError) == 1 && s.valid_books() == 2
    });
    assert!(seen.count(StatusKind::Resync) <= 3);

    // Drop: reconnect, resubscribe, books synced again.
    let connected = seen.count(StatusKind::Connected);
    assert_eq!(sim.inject(Fault::Drop), 1);
    seen.until(&mut consumer, "reconnected and synced", |s| {
        s.count(StatusKind::Connected) > connected && s.valid_books() == 2
    });

    // The server stops answering `ping`: the pong deadline recycles the connection.
    let connected = seen.count(StatusKind::Connected);
    assert_eq!(sim.inject(Fault::NoPongs(Duration::from_secs(3))), 1);
    seen.until(&mut consumer, "pong timeout, reconnect, sync", |s| {
        s.statuses
            .iter()
            .any(|x| x.0 == StatusKind::Disconnected && x.2 == Reason::PongTimeout as u16)
            && s.count(StatusKind::Connected) > connected
            && s.valid_books() == 2
    });

    // Silent: no data, no heartbeat; the connection is recycled and the books resync.
    let connected = seen.count(StatusKind::Connected);
    assert_eq!(sim.inject(Fault::Silent(Duration::from_secs(5))), 1);
    seen.until(&mut consumer, "silence, recycled, synced", |s| {
        s.count(StatusKind::Connected) > connected && s.valid_books() == 2
    });
    let trades = seen.trades;
    seen.until(&mut consumer, "data at the end", |s| s.trades > trades + 20);
    assert_eq!(seen.over_deep, 0);
    assert_eq!(
        seen.count(StatusKind::SubscriptionError),
        0,
        "{:?}",
        seen.statuses
    );
    eprintln!(
        "trades {} bbos {} snapshots {} statuses {:?}",
        seen.trades, seen.bbos, seen.snapshots, seen.statuses
    );
    engine.join().unwrap();
}
