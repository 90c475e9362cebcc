//! End to end on loopback: `tickwire sim --venue okx` (the simulator server), the engine,
//! `OkxFeed` (adapter, FeedHandler, REST start source) and a consumer rebuilding its books
//! from the events; the books are compared with the simulator's own model. Then the faults:
//! gap, wrong checksum, seqId reset, malformed, drop, silent, pong timeout.

use std::time::Duration;

use tickwire_engine::event::StatusKind;
use tickwire_engine::{Engine, EngineConfig, Profile, Reason, Registry};
use tickwire_feeds::okx::{Channel, OkxConfig, OkxFeed, VENUE};
use tickwire_tests::seen::Seen;
use tickwire_tools::sim::{Fault, SimConfig, SimServer};

#[test]
fn okx_feed_syncs_against_the_simulator_and_recovers_from_every_fault() {
    let mut sc = SimConfig::for_venue("okx").unwrap();
    sc.symbols = vec!["BTC-USDT".into(), "ETH-USDT".into()];
    sc.rate = 2_000;
    let sim = SimServer::start(sc).unwrap();
    let mut b = Engine::builder(EngineConfig::profile(Profile::Standard));
    let (cid, mut consumer) = b.consumer(1 << 17);
    let engine = b.start().unwrap();
    let registry = Registry::new();
    let config = OkxConfig {
        ping_interval_ns: 300_000_000,
        pong_timeout_ns: 1_000_000_000,
        ..OkxConfig::default()
    };
    let ids = OkxFeed::with_config(config)
        .symbols(&["BTC-USDT", "ETH-USDT"])
        .channels(&[Channel::Books, Channel::Trades, Channel::BboTbt])
        .url(&format!("{}/ws/v5/public", sim.ws_url()))
        .rest_url(&sim.rest_url())
        .start(&engine.handle(), &registry, &[cid])
        .unwrap();
    assert_eq!(ids.len(), 1);
    let btc = registry.lookup(VENUE, "BTC-USDT").unwrap();
    let mut seen = Seen::new(400);
    seen.until(&mut consumer, "both books in sync, data flowing", |s| {
        s.valid_books() == 2 && s.trades > 10 && s.bbos > 10
    });
    assert_eq!(seen.count(StatusKind::Gap), 0);
    assert_eq!(seen.count(StatusKind::DecodeError), 0);
    assert_eq!(seen.count(StatusKind::SubscriptionError), 0);
    tickwire_tests::book_model::assert_matches_sim(
        sim.venue().as_ref(),
        "BTC-USDT",
        &seen.books[&btc],
    );

    // Gap: Gap + Resync for that book, a resubscribe, a fresh in-band snapshot.
    let snapshots = seen.snapshots;
    assert_eq!(sim.inject(Fault::Gap), 1);
    seen.until(&mut consumer, "gap, resync, new snapshot", |s| {
        s.count(StatusKind::Gap) == 1
            && s.count(StatusKind::Resync) == 1
            && s.snapshots > snapshots
            && s.valid_books() == 2
    });

    // A wrong checksum: Checksum + Resync, then a fresh snapshot.
    let snapshots = seen.snapshots;
    assert_eq!(sim.inject(Fault::Checksum), 1);
    seen.until(&mut consumer, "checksum, resync, new snapshot", |s| {
        s.count(StatusKind::Checksum) == 1
            && s.count(StatusKind::Resync) == 2
            && s.snapshots > snapshots
            && s.valid_books() == 2
    });
    let trades = seen.trades;
    seen.until(&mut consumer, "more data", |s| s.trades > trades + 20);
    tickwire_tests::book_model::assert_matches_sim(
        sim.venue().as_ref(),
        "BTC-USDT",
        &seen.books[&btc],
    );

    // A reset after maintenance (seqId below prevSeqId): applied, no resync.
    let snapshots = seen.snapshots;
    assert_eq!(sim.inject(Fault::Reset), 1);
    let trades = seen.trades;
    seen.until(&mut consumer, "data after the reset", |s| {
        s.trades > trades + 50
    });
    assert_eq!(seen.count(StatusKind::Resync), 2, "{:?}", seen.statuses);
    assert_eq!(seen.snapshots, snapshots);
    assert_eq!(seen.valid_books(), 2);

    // Malformed: a decode_error status; the stream goes on (a cut book update also breaks
    // the chain: at most one more resync).
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

    // Silent: the streams go stale; the connection is recycled and the books resync.
    let connected = seen.count(StatusKind::Connected);
    assert_eq!(sim.inject(Fault::Silent(Duration::from_secs(4))), 1);
    seen.until(&mut consumer, "stale, recycled, synced", |s| {
        s.count(StatusKind::Stale) >= 1
            && s.count(StatusKind::Connected) > connected
            && s.valid_books() == 2
    });
    let trades = seen.trades;
    seen.until(&mut consumer, "data at the end", |s| s.trades > trades + 20);
    assert_eq!(
        seen.crossed, 0,
        "no valid book was crossed at a message boundary"
    );
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
