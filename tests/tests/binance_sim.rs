//! End to end on loopback: the venue simulator, the engine's I/O thread, `BinanceFeed`
//! (adapter, REST snapshots on a helper thread, FeedHandler), and a consumer that rebuilds
//! its books from the events. Then a gap (resynced) and a venue shutdown (rotated).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tickwire_engine::event::{EventKind, StatusKind};
use tickwire_engine::{Consumer, Engine, EngineConfig, InstrumentId, Profile, Registry};
use tickwire_feeds::binance::{BinanceFeed, Channel, DepthSpeed, Market};
use tickwire_tests::seen::Seen;
use tickwire_tools::sim::{Fault, Market as SimMarket, SimConfig, SimServer};

#[test]
fn spot_feed_syncs_against_the_simulator_and_recovers() {
    let mut sc = SimConfig::new(SimMarket::Spot);
    sc.symbols = vec!["BTCUSDT".into(), "ETHUSDT".into()];
    sc.rate = 2_000;
    let sim = SimServer::start(sc).unwrap();
    let mut b = Engine::builder(EngineConfig::profile(Profile::Standard));
    let (cid, mut consumer) = b.consumer(1 << 17);
    let engine = b.start().unwrap();
    let registry = Registry::new();
    let feed = BinanceFeed::new(Market::Spot)
        .symbols(&["BTCUSDT", "ETHUSDT"])
        .channels(&[
            Channel::Trade,
            Channel::BookTicker,
            Channel::Depth(DepthSpeed::Ms100),
        ])
        .url(&sim.ws_url())
        .rest_url(&sim.rest_url());
    let ids = feed.start(&engine.handle(), &registry, &[cid]).unwrap();
    assert_eq!(ids.len(), 1);
    let mut seen = Seen::new(5000);
    seen.until(&mut consumer, "both books in sync and data flowing", |s| {
        s.valid_books() == 2 && s.trades > 10 && s.bbos > 10
    });
    assert_eq!(seen.count(StatusKind::Gap), 0);
    assert_eq!(seen.count(StatusKind::DecodeError), 0);

    // A missing depth event: Gap + Resync for that book, then a fresh snapshot run.
    let snapshots = seen.snapshots;
    assert_eq!(sim.inject(Fault::Gap), 1);
    seen.until(&mut consumer, "gap, resync and a new snapshot", |s| {
        s.count(StatusKind::Gap) == 1
            && s.count(StatusKind::Resync) == 1
            && s.snapshots > snapshots
            && s.valid_books() == 2
    });
    let gap_instrument = seen
        .statuses
        .iter()
        .find(|s| s.0 == StatusKind::Gap)
        .unwrap()
        .1;
    assert_ne!(gap_instrument, InstrumentId::NONE);

    // The venue announces a shutdown: make-before-break rotation (on by default), so
    // Rotating, then the switch to the new connection (Connected), and no resync: the new
    // connection's books join where the update ids line up.
    let resyncs = seen.count(StatusKind::Resync);
    let connected = seen.count(StatusKind::Connected);
    assert_eq!(sim.inject(Fault::ServerShutdown), 1);
    seen.until(&mut consumer, "rotation to a new connection", |s| {
        s.count(StatusKind::Rotating) == 1
            && s.count(StatusKind::Connected) > connected
            && s.valid_books() == 2
    });
    let trades = seen.trades;
    seen.until(&mut consumer, "data after the switch", |s| {
        s.trades > trades + 10
    });
    assert_eq!(
        seen.count(StatusKind::Resync),
        resyncs,
        "rotation needed no resync"
    );
    assert_eq!(seen.count(StatusKind::Gap), 1, "only the injected gap");
    assert_eq!(
        seen.crossed, 0,
        "no valid book was crossed at a message boundary"
    );
    assert_eq!(seen.count(StatusKind::DecodeError), 0);
    eprintln!(
        "trades {} bbos {} snapshots {} statuses {:?}",
        seen.trades, seen.bbos, seen.snapshots, seen.statuses
    );
    engine.join().unwrap();
}

/// Trades per instrument and subscription errors seen by a consumer.
#[derive(Default)]
struct Tally {
    trades: HashMap<InstrumentId, u64>,
    errors: u64,
}

impl Tally {
    fn drain(&mut self, c: &mut Consumer) {
        while let Some(e) = c.pop() {
            if e.kind() == EventKind::Trade {
                *self.trades.entry(e.instrument).or_default() += 1;
            } else if e.as_status().map(|s| s.kind) == Some(StatusKind::SubscriptionError) {
                self.errors += 1;
            }
        }
    }

    fn of(&self, i: InstrumentId) -> u64 {
        self.trades.get(&i).copied().unwrap_or(0)
    }

    fn wait(&mut self, c: &mut Consumer, what: &str, done: impl Fn(&Tally) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            self.drain(c);
            if done(self) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {:?}",
                self.trades
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

/// `EngineHandle::subscribe` / `unsubscribe` reach the feed at run time: stream names become
/// SUBSCRIBE / UNSUBSCRIBE requests, an unknown topic is a `SubscriptionError` in-band.
#[test]
fn runtime_subscribe_and_unsubscribe_reach_the_venue() {
    let mut sc = SimConfig::new(SimMarket::Spot);
    sc.symbols = vec!["BTCUSDT".into(), "ETHUSDT".into()];
    sc.rate = 2_000;
    let sim = SimServer::start(sc).unwrap();
    let mut b = Engine::builder(EngineConfig::profile(Profile::Standard));
    let (cid, mut consumer) = b.consumer(1 << 17);
    let engine = b.start().unwrap();
    let registry = Registry::new();
    let ids = BinanceFeed::new(Market::Spot)
        .symbols(&["BTCUSDT"])
        .channels(&[Channel::Trade])
        .url(&sim.ws_url())
        .rest_url(&sim.rest_url())
        .start(&engine.handle(), &registry, &[cid])
        .unwrap();
    let eth = registry.intern("binance", "ETHUSDT");
    let btc = registry.intern("binance", "BTCUSDT");
    let mut t = Tally::default();
    t.wait(&mut consumer, "BTCUSDT trades", |t| t.of(btc) > 20);
    assert_eq!(t.of(eth), 0, "not subscribed yet");
    let handle = engine.handle();
    handle
        .subscribe(ids[0], vec!["ethusdt@trade".into(), "not a stream".into()])
        .unwrap();
    t.wait(&mut consumer, "ETHUSDT trades", |t| {
        t.of(eth) > 20 && t.errors >= 1
    });
    assert_eq!(t.errors, 1, "the bad topic is reported once");
    handle
        .unsubscribe(ids[0], vec!["ethusdt@trade".into()])
        .unwrap();
    // Once the unsubscribe is acknowledged no ETHUSDT trades arrive; allow what was in flight.
    std::thread::sleep(Duration::from_millis(500));
    t.drain(&mut consumer);
    let (eth_then, btc_then) = (t.of(eth), t.of(btc));
    t.wait(&mut consumer, "more BTCUSDT trades", |t| {
        t.of(btc) > btc_then + 20
    });
    assert_eq!(
        t.of(eth),
        eth_then,
        "ETHUSDT still flowing after unsubscribe"
    );
    engine.join().unwrap();
}
