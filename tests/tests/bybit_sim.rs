//! End to end on loopback: the venue simulator serving Bybit (`tickwire sim --venue
//! bybit-linear` / `bybit`), the engine's I/O thread, `BybitFeed` (adapter, in-band
//! snapshots, FeedHandler) and a consumer that rebuilds its books from the events. Then the
//! faults: a gap (resubscribe of the one topic), a sequence reset (`u == 1`), a malformed
//! message, a pong that never comes, a dropped connection.

use std::time::Duration;

use tickwire_engine::event::StatusKind;
use tickwire_engine::{Consumer, Engine, EngineConfig, Profile, Reason, Registry};
use tickwire_feeds::bybit::{BybitConfig, BybitFeed, Channel, Depth, Market};
use tickwire_tests::seen::Seen;
use tickwire_tools::sim::{Fault, SimConfig, SimServer};

/// A feed on `market` against a fresh simulator; the app ping every 300 ms with a 400 ms
/// pong deadline so a test sees a pong timeout quickly.
fn start(market: Market) -> (SimServer, Engine, Consumer, Seen) {
    let mut sc = SimConfig::for_venue(market.venue()).unwrap();
    sc.symbols = vec!["BTCUSDT".into(), "ETHUSDT".into()];
    sc.rate = 2_000;
    let sim = SimServer::start(sc).unwrap();
    let mut b = Engine::builder(EngineConfig::profile(Profile::Standard));
    let (cid, mut consumer) = b.consumer(1 << 17);
    let engine = b.start().unwrap();
    let registry = Registry::new();
    let mut config = BybitConfig::for_market(market);
    config.ping_interval_ns = 300_000_000;
    config.pong_timeout_ns = 400_000_000;
    let feed = BybitFeed::with_config(config)
        .symbols(&["BTCUSDT", "ETHUSDT"])
        .channels(&[Channel::Trade, Channel::Bbo, Channel::Book(Depth::L200)])
        .url(&sim.ws_url());
    let ids = feed.start(&engine.handle(), &registry, &[cid]).unwrap();
    assert_eq!(ids.len(), 1);
    let mut seen = Seen::new(1000);
    seen.until(&mut consumer, "both books in sync and data flowing", |s| {
        s.valid_books() == 2 && s.trades > 10 && s.bbos > 10
    });
    assert_eq!(seen.count(StatusKind::Gap), 0);
    assert_eq!(seen.count(StatusKind::DecodeError), 0);
    (sim, engine, consumer, seen)
}

#[test]
fn linear_feed_syncs_and_recovers_from_gap_reset_and_malformed() {
    let (sim, engine, mut consumer, mut seen) = start(Market::Linear);
    assert!(seen.uuid_trades > 0, "linear trade ids are UUIDs");

    // A missing delta: Gap + Resync for that book, a resubscribe, a new snapshot.
    let snapshots = seen.snapshots;
    assert_eq!(sim.inject(Fault::Gap), 1);
    seen.until(&mut consumer, "gap, resync, new snapshot", |s| {
        s.count(StatusKind::Gap) == 1
            && s.count(StatusKind::Resync) == 1
            && s.snapshots > snapshots
            && s.valid_books() == 2
    });

    // The venue restarts a book's sequence (u == 1, the whole book): replaced without a
    // gap.
    let snapshots = seen.snapshots;
    assert_eq!(sim.inject(Fault::Reset), 1);
    seen.until(&mut consumer, "reset installed", |s| {
        s.snapshots > snapshots && s.valid_books() == 2
    });
    // Data flows on after the reset without a gap.
    let trades = seen.trades;
    seen.until(&mut consumer, "data after the reset", |s| {
        s.trades > trades + 20
    });
    assert_eq!(seen.count(StatusKind::Gap), 1, "{:?}", seen.statuses);

    // A message cut in half: one decode error and the stream goes on (when the lost
    // message was a delta, its book also resyncs: the `u` chain broke).
    assert_eq!(sim.inject(Fault::Malformed), 1);
    seen.until(&mut consumer, "decode error", |s| {
        s.count(StatusKind::DecodeError) == 1
    });
    let trades = seen.trades;
    seen.until(
        &mut consumer,
        "data and books after the malformed message",
        |s| s.trades > trades + 20 && s.valid_books() == 2,
    );
    assert!(seen.count(StatusKind::Gap) <= 2);
    assert_eq!(seen.count(StatusKind::Gap), seen.count(StatusKind::Resync));
    assert_eq!(seen.count(StatusKind::DecodeError), 1);
    assert_eq!(seen.count(StatusKind::Disconnected), 0);
    assert_eq!(seen.crossed, 0);
    assert_eq!(seen.valid_books(), 2);
    drop(engine);
    sim.stop();
}

#[test]
fn spot_feed_notices_a_pong_that_never_comes_and_a_dropped_connection() {
    let (sim, engine, mut consumer, mut seen) = start(Market::Spot);
    assert_eq!(seen.uuid_trades, 0, "spot trade ids are numbers");

    // The server stops answering the application pings: the pong deadline recycles the
    // connection, which reconnects and resyncs both books.
    assert_eq!(sim.inject(Fault::NoPongs(Duration::from_secs(1))), 1);
    seen.until(&mut consumer, "pong timeout, reconnect, books again", |s| {
        s.statuses
            .iter()
            .any(|x| x.0 == StatusKind::Disconnected && x.2 == Reason::PongTimeout.code())
            && s.count(StatusKind::Connected) >= 2
            && s.valid_books() == 2
    });

    // A dropped TCP connection: reconnect and resync.
    let connected = seen.count(StatusKind::Connected);
    sim.inject(Fault::Drop);
    seen.until(&mut consumer, "drop, reconnect, books again", |s| {
        s.count(StatusKind::Connected) > connected && s.valid_books() == 2
    });
    assert_eq!(seen.crossed, 0);
    drop(engine);
    sim.stop();
}
