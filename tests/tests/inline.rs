//! Inline consumers against the venue simulator: an inline consumer and a ring consumer of
//! the same feed see the same events (kinds, order, flags, stage stamps, statuses); an
//! inline consumer that panics is dropped and reported, and the engine goes on serving the
//! other consumers and connections.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tickwire_engine::book::{Book, BookConfig};
use tickwire_engine::event::{EventKind, Flags, StatusKind};
use tickwire_engine::telemetry::{self, CollectorThread, DefaultCollector};
use tickwire_engine::{Consumer, Engine, EngineConfig, Event, InstrumentId, Profile, Registry};
use tickwire_feeds::binance::{BinanceFeed, Channel, DepthSpeed, Market};
use tickwire_tools::sim::{Fault, Market as SimMarket, SimConfig, SimServer};

/// Every call an inline consumer got, in order.
type Calls = Arc<Mutex<Vec<Vec<Event>>>>;

fn recorder() -> (impl FnMut(&[Event]) + Send + 'static, Calls) {
    let calls: Calls = Arc::default();
    let c = calls.clone();
    (
        move |events: &[Event]| c.lock().unwrap().push(events.to_vec()),
        calls,
    )
}

fn drain(c: &mut Consumer, into: &mut Vec<Event>) {
    while let Some(e) = c.pop() {
        into.push(e);
    }
}

fn status_count(events: &[Event], kind: StatusKind) -> usize {
    events
        .iter()
        .filter(|e| e.as_status().is_some_and(|s| s.kind == kind))
        .count()
}

/// Waits (draining `ring` into `seen`) until `done` holds for the inline calls so far.
fn until(
    ring: &mut Consumer,
    seen: &mut Vec<Event>,
    calls: &Calls,
    what: &str,
    done: impl Fn(&[Vec<Event>]) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        drain(ring, seen);
        if done(&calls.lock().unwrap()) {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn an_inline_and_a_ring_consumer_of_one_feed_see_the_same_events() {
    let mut sc = SimConfig::new(SimMarket::Spot);
    sc.symbols = vec!["BTCUSDT".into(), "ETHUSDT".into()];
    sc.rate = 2_000;
    let sim = SimServer::start(sc).unwrap();
    // Stage stamps on: both consumers must see the same publish stamps.
    let config = EngineConfig::profile(Profile::Standard);
    assert!(config.telemetry && config.stage_histograms);
    let mut b = Engine::builder(config);
    let (tx, rx) = telemetry::channel(1 << 16);
    b.telemetry(tx);
    let collector =
        CollectorThread::spawn(rx, DefaultCollector::new(), Duration::from_millis(5)).unwrap();
    // The inline consumer is made first: the ring must still be served before it.
    let (on_events, calls) = recorder();
    let (inline_id, handle) = b.inline_consumer(on_events).unwrap();
    let (ring_id, mut ring) = b.consumer(1 << 18);
    let engine = b.start().unwrap();
    let registry = Registry::new();
    BinanceFeed::new(Market::Spot)
        .symbols(&["BTCUSDT", "ETHUSDT"])
        .channels(&[
            Channel::Trade,
            Channel::BookTicker,
            Channel::Depth(DepthSpeed::Ms100),
        ])
        .url(&sim.ws_url())
        .rest_url(&sim.rest_url())
        .start(&engine.handle(), &registry, &[inline_id, ring_id])
        .unwrap();
    let mut seen = Vec::new();
    let snapshots = |calls: &[Vec<Event>]| {
        calls
            .iter()
            .flatten()
            .filter(|e| e.flags.contains(Flags::SNAPSHOT.with(Flags::LAST_IN_BATCH)))
            .count()
    };
    until(&mut ring, &mut seen, &calls, "both books' snapshots", |c| {
        snapshots(c) >= 2
    });
    let before = snapshots(&calls.lock().unwrap());
    // A gap: Gap, Resync and a new snapshot run, on both.
    assert_eq!(sim.inject(Fault::Gap), 1);
    until(
        &mut ring,
        &mut seen,
        &calls,
        "gap, resync, data after",
        |c| {
            let f = c.concat();
            status_count(&f, StatusKind::Resync) >= 1
                && snapshots(c) > before
                && f.iter().filter(|e| e.kind() == EventKind::Trade).count() > 50
        },
    );
    let stats = engine.join().unwrap();
    drain(&mut ring, &mut seen);
    collector.stop();
    assert!(handle.is_detached() && !handle.has_panicked());
    assert_eq!(stats.inline_panics, 0);

    let calls = calls.lock().unwrap();
    let inline: Vec<Event> = calls.concat();
    assert_eq!(status_count(&seen, StatusKind::Overflow), 0);
    assert_eq!(seen.len(), inline.len());
    assert!(seen == inline, "the two sequences differ");
    // What the sequence holds, from the venue's side: statuses of the session and the gap,
    // data of every kind, publish stamps.
    for kind in [
        StatusKind::Connected,
        StatusKind::Gap,
        StatusKind::Resync,
        StatusKind::Disconnected,
    ] {
        assert!(status_count(&inline, kind) >= 1, "no {kind:?}");
    }
    for kind in [EventKind::Trade, EventKind::Bbo, EventKind::BookLevel] {
        assert!(inline.iter().any(|e| e.kind() == kind), "no {kind:?}");
    }
    assert!(inline.iter().any(|e| e.published_ts().is_some()));
    // One call per publication: a book run is whole (it ends with its last level).
    for call in calls.iter() {
        assert!(!call.is_empty());
        if call.iter().all(|e| e.kind() == EventKind::BookLevel) {
            assert!(call.last().unwrap().flags.contains(Flags::LAST_IN_BATCH));
            assert!(
                call[..call.len() - 1]
                    .iter()
                    .all(|e| !e.flags.contains(Flags::LAST_IN_BATCH))
            );
        }
    }
    // The inline consumer can keep books from what it got: both valid after their last
    // message (the shutdown's statuses invalidate them after that).
    let mut books: std::collections::HashMap<InstrumentId, Book> = Default::default();
    let mut valid_at_last: std::collections::HashMap<InstrumentId, bool> = Default::default();
    for e in &inline {
        match e.kind() {
            EventKind::BookLevel => {
                let book = books
                    .entry(e.instrument)
                    .or_insert_with(|| Book::new(BookConfig::default()));
                book.apply_event(e).unwrap();
                if e.flags.contains(Flags::LAST_IN_BATCH) {
                    valid_at_last.insert(e.instrument, book.is_valid());
                }
            }
            EventKind::Status if e.instrument != InstrumentId::NONE => {
                if let Some(b) = books.get_mut(&e.instrument) {
                    b.apply_event(e).unwrap();
                }
            }
            _ => {}
        }
    }
    assert_eq!(valid_at_last.len(), 2);
    assert!(valid_at_last.values().all(|&v| v), "{valid_at_last:?}");
}

#[test]
fn a_panicking_inline_consumer_is_reported_and_the_engine_serves_the_rest() {
    let mut sc = SimConfig::new(SimMarket::Spot);
    sc.symbols = vec!["BTCUSDT".into(), "ETHUSDT".into()];
    sc.rate = 2_000;
    let sim = SimServer::start(sc).unwrap();
    let mut b = Engine::builder(EngineConfig::profile(Profile::Standard));
    let (ring_id, mut ring) = b.consumer(1 << 18);
    let mut n = 0u64;
    let (bad_id, bad) = b
        .inline_consumer(move |events: &[Event]| {
            n += events.len() as u64;
            if n > 200 {
                panic!("strategy bug after {n} events");
            }
        })
        .unwrap();
    let (on_events, good_calls) = recorder();
    let (good_id, good) = b.inline_consumer(on_events).unwrap();
    let engine = b.start().unwrap();
    let registry = Registry::new();
    let feed = |symbol: &str| {
        BinanceFeed::new(Market::Spot)
            .symbols(&[symbol])
            .channels(&[Channel::Trade, Channel::Depth(DepthSpeed::Ms100)])
            .url(&sim.ws_url())
            .rest_url(&sim.rest_url())
    };
    // Connection A feeds the bad consumer; B does not. Both feed the ring and `good`.
    feed("BTCUSDT")
        .start(&engine.handle(), &registry, &[ring_id, bad_id, good_id])
        .unwrap();
    feed("ETHUSDT")
        .start(&engine.handle(), &registry, &[ring_id, good_id])
        .unwrap();
    let btc = registry.lookup("binance", "BTCUSDT").unwrap();
    let eth = registry.lookup("binance", "ETHUSDT").unwrap();

    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !bad.has_panicked() {
        drain(&mut ring, &mut seen);
        assert!(Instant::now() < deadline, "the consumer never panicked");
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(bad.is_detached());
    assert!(
        bad.panic_message()
            .unwrap()
            .starts_with("strategy bug after")
    );
    // Both connections go on: trades of each instrument after the panic, on the ring and
    // on the good inline consumer.
    drain(&mut ring, &mut seen);
    let mark = seen.len();
    let trades = |events: &[Event], i: InstrumentId| {
        events
            .iter()
            .filter(|e| e.kind() == EventKind::Trade && e.instrument == i)
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while trades(&seen[mark..], btc) < 20 || trades(&seen[mark..], eth) < 20 {
        drain(&mut ring, &mut seen);
        assert!(Instant::now() < deadline, "no trades after the panic");
        std::thread::sleep(Duration::from_millis(2));
    }
    let stats = engine.join().unwrap();
    drain(&mut ring, &mut seen);
    assert_eq!(stats.inline_panics, 1);
    assert_eq!(stats.handler_panics, 0);
    assert!(good.is_detached() && !good.has_panicked());
    // No connection was lost: one Connected each, the only Disconnected ones at shutdown
    // (the last status of each connection).
    assert_eq!(status_count(&seen, StatusKind::Connected), 2);
    assert_eq!(status_count(&seen, StatusKind::Disconnected), 2);
    assert_eq!(status_count(&seen, StatusKind::Reconnecting), 0);
    let last_data = seen
        .iter()
        .rposition(|e| e.kind() != EventKind::Status)
        .unwrap();
    assert_eq!(
        status_count(&seen[..last_data], StatusKind::Disconnected),
        0
    );
    // The good inline consumer saw exactly what the ring did.
    assert!(good_calls.lock().unwrap().concat() == seen);
}
