//! Make-before-break rotation end to end: the engine runs a Binance [`RotatingFeed`] against
//! the venue simulator whose sessions live only a couple of seconds (or which announces
//! `serverShutdown`), at a steady rate, across at least two rotations. Every depth update
//! reaches the consumer exactly once (each instrument's diffs are exactly the venue's
//! consecutive depth steps after the one snapshot), the book the consumer rebuilds equals
//! the venue model's book at the last update, trade ids climb by one across every switch,
//! and no gap, resync or disconnect is reported in-band.
//!
//! A control run without rotation shows what these checks see when the lifetime ends a
//! session: a disconnect, a resync, and missing update ids.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tickwire_engine::adapter::{
    FeedConfig, RotationConfig, RotationMonitor, RotationStats, add_rotating_feed,
};
use tickwire_engine::config::EngineConfig;
use tickwire_engine::engine::Engine;
use tickwire_engine::event::{Event, EventKind, Flags, Side, StatusKind};
use tickwire_engine::instrument::{InstrumentId, Registry};
use tickwire_engine::reason::Reason;
use tickwire_feeds::binance::rotation::rotating_feed;
use tickwire_feeds::binance::sim::Market as SimMarket;
use tickwire_feeds::binance::sim::tape::StepKind;
use tickwire_feeds::binance::{BinanceConfig, Channel, DepthSpeed, Market, Subscription};
use tickwire_tests::test_options;
use tickwire_tools::sim::{Fault, SimConfig, SimServer};

const SYMBOLS: [&str; 2] = ["BTCUSDT", "ETHUSDT"];

struct Run {
    market: Market,
    sim: SimServer,
    engine: Option<Engine>,
    monitor: RotationMonitor,
    registry: Registry,
    events: Arc<Mutex<Vec<Event>>>,
    stop: Arc<AtomicBool>,
    reader: Option<JoinHandle<()>>,
}

fn start(market: Market, sim_lifetime: Option<Duration>, rotation: RotationConfig) -> Run {
    let sim_market = match market {
        Market::Spot => SimMarket::Spot,
        Market::UsdM => SimMarket::UsdM,
    };
    let mut sc = SimConfig::new(sim_market);
    sc.symbols = SYMBOLS.iter().map(|s| s.to_string()).collect();
    sc.rate = 2000;
    sc.lifetime = sim_lifetime;
    let sim = SimServer::start(sc).unwrap();

    let mut config = BinanceConfig::for_market(market);
    config.ws_base = Some(sim.ws_url());
    config.rest_base = Some(sim.rest_url());
    config.usdm_routed = false;
    let depth = match market {
        Market::Spot => DepthSpeed::Ms100,
        Market::UsdM => DepthSpeed::Ms0,
    };
    let subs = Subscription::product(
        &SYMBOLS,
        &[Channel::Depth(depth), Channel::Trade, Channel::BookTicker],
    );
    let registry = Registry::new();
    let feed = rotating_feed(config, &subs, &registry, FeedConfig::default(), rotation).unwrap();
    let monitor = feed.monitor();

    let mut b = Engine::builder(EngineConfig::default());
    let (cid, mut consumer) = b.consumer(1 << 20);
    let engine = b.start().unwrap();
    add_rotating_feed(&engine.handle(), feed, test_options(), &[], &[cid]).unwrap();

    let events = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let (ev, st) = (events.clone(), stop.clone());
    let reader = std::thread::spawn(move || {
        let mut batch = Vec::with_capacity(4096);
        loop {
            let done = st.load(Ordering::Acquire);
            while let Some(e) = consumer.pop() {
                batch.push(e);
            }
            if !batch.is_empty() {
                ev.lock().unwrap().append(&mut batch);
            } else if done {
                return;
            } else {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    });
    Run {
        market,
        sim,
        engine: Some(engine),
        monitor,
        registry,
        events,
        stop,
        reader: Some(reader),
    }
}

impl Run {
    fn wait(&self, what: &str, timeout: Duration, ok: impl Fn(&RotationStats, &[Event]) -> bool) {
        let deadline = Instant::now() + timeout;
        loop {
            let stats = self.monitor.stats();
            if ok(&stats, &self.events.lock().unwrap()) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{:?}: timed out waiting for {what}; {stats:?}; statuses {:?}",
                self.market,
                statuses(&self.events.lock().unwrap())
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Stops the engine and the reader; returns everything consumed before the shutdown.
    /// The shutdown itself (one `Disconnected`, then a `Resync` per book, reason
    /// `Shutdown`) is cut off after checking that nothing else follows it.
    fn finish(&mut self) -> Vec<Event> {
        if let Some(e) = self.engine.take() {
            e.join().unwrap();
        }
        self.stop.store(true, Ordering::Release);
        if let Some(r) = self.reader.take() {
            r.join().unwrap();
        }
        let mut events = std::mem::take(&mut *self.events.lock().unwrap());
        let shutdown = Reason::Shutdown.code();
        let cut = events
            .iter()
            .position(|e| {
                e.as_status()
                    .is_some_and(|s| s.kind == StatusKind::Disconnected && s.reason == shutdown)
            })
            .expect("the shutdown's Disconnected");
        let tail = statuses(&events[cut + 1..]);
        assert_eq!(
            events.len() - cut - 1,
            tail.len(),
            "data after the shutdown"
        );
        assert!(
            tail.iter().all(|s| *s == (StatusKind::Resync, shutdown)),
            "{tail:?}"
        );
        events.truncate(cut);
        events
    }

    fn instrument(&self, symbol: &str) -> InstrumentId {
        self.registry
            .lookup(self.market.venue(), symbol)
            .expect("interned")
    }
}

fn statuses(events: &[Event]) -> Vec<(StatusKind, u16)> {
    events
        .iter()
        .filter_map(Event::as_status)
        .map(|s| (s.kind, s.reason))
        .collect()
}

fn count(events: &[Event], kind: StatusKind) -> usize {
    statuses(events).iter().filter(|s| s.0 == kind).count()
}

fn synced(events: &[Event]) -> usize {
    events
        .iter()
        .filter(|e| e.flags.contains(Flags::SNAPSHOT) && e.flags.contains(Flags::LAST_IN_BATCH))
        .count()
}

/// One instrument's book stream as the consumer saw it: per snapshot run, its update id
/// and the final update ids of the diffs after it; and the book rebuilt from all of it,
/// keyed by (side, price) in the venue's integer units.
struct BookStream {
    segments: Vec<(u64, Vec<u64>)>,
    book: BTreeMap<(u8, i64), i64>,
}

fn book_stream(events: &[Event], instrument: InstrumentId, price_dp: u8, qty_dp: u8) -> BookStream {
    let mut s = BookStream {
        segments: Vec::new(),
        book: BTreeMap::new(),
    };
    let mut in_snapshot = false;
    for e in events.iter().filter(|e| e.instrument == instrument) {
        let Some(l) = e.as_level() else {
            continue;
        };
        let snap = e.flags.contains(Flags::SNAPSHOT);
        if snap && !in_snapshot {
            s.book.clear();
            s.segments.push((l.seq, Vec::new()));
        }
        in_snapshot = snap && !e.flags.contains(Flags::LAST_IN_BATCH);
        let side = u8::from(l.side == Side::Sell);
        let price = l.price.mantissa_at(price_dp).unwrap();
        let qty = l.qty.mantissa_at(qty_dp).unwrap();
        if qty == 0 {
            s.book.remove(&(side, price));
        } else {
            s.book.insert((side, price), qty);
        }
        if !snap && e.flags.contains(Flags::LAST_IN_BATCH) {
            let seg = s.segments.last_mut().expect("a diff before any snapshot");
            seg.1.push(l.seq);
        }
    }
    s
}

/// The venue's depth steps of `symbol` (tape position, final update id) in order, up to
/// the first whose id is beyond `until`; steps without changes (no events) are left out.
fn venue_depth_steps(sim: &SimServer, symbol: &str, until: u64) -> Vec<(u64, u64)> {
    let venue = sim.venue();
    let tape = venue.tape(venue.symbol_index(symbol).unwrap());
    let mut out = Vec::new();
    for pos in 0.. {
        let step = tape.step(pos);
        if step.kind != StepKind::Depth {
            continue;
        }
        let (_, last, _) = tape.depth_ids(pos);
        if last > until {
            return out;
        }
        if !tape.changes(step).is_empty() {
            out.push((pos, last));
        }
    }
    out
}

/// Every depth update exactly once after the single snapshot, the rebuilt book equal to the
/// venue's, trade ids consecutive and BBO ids increasing: per instrument.
fn check_streams(run: &Run, events: &[Event]) {
    let venue = run.sim.venue();
    for symbol in SYMBOLS {
        let inst = run.instrument(symbol);
        let sym = venue.symbol_index(symbol).unwrap();
        let spec = venue.spec(sym);
        let s = book_stream(events, inst, spec.price_decimals, spec.qty_decimals);
        assert_eq!(
            s.segments.len(),
            1,
            "{symbol}: one snapshot run expected (no resync)"
        );
        let (snapshot_id, diffs) = &s.segments[0];
        assert!(diffs.len() > 200, "{symbol}: only {} diffs", diffs.len());
        let last = *diffs.last().unwrap();
        // The first diff applied on a snapshot: spot `U <= S + 1 <= u`; USD-M `U <= S <= u`
        // (a diff ending exactly at the snapshot is applied again: quantities are absolute).
        let first_after = |u: u64| match run.market {
            Market::Spot => u > *snapshot_id,
            Market::UsdM => u >= *snapshot_id,
        };
        let want: Vec<(u64, u64)> = venue_depth_steps(&run.sim, symbol, last)
            .into_iter()
            .filter(|(_, u)| first_after(*u))
            .collect();
        let want_ids: Vec<u64> = want.iter().map(|(_, u)| *u).collect();
        if let Some(i) =
            (0..want_ids.len().max(diffs.len())).find(|&i| want_ids.get(i) != diffs.get(i))
        {
            panic!(
                "{symbol}: diff #{i} is {:?}, the venue's next step is {:?} ({} delivered, {} expected)",
                diffs.get(i),
                want_ids.get(i),
                diffs.len(),
                want_ids.len()
            );
        }
        let mut sorted = diffs.clone();
        sorted.dedup();
        assert_eq!(sorted.len(), diffs.len(), "{symbol}: an update id twice");
        // The consumer's book equals the venue model's after the last delivered update.
        let (pos, _) = *want.last().unwrap();
        let model = venue.tape(sym).book_after(pos + 1);
        let mut expected = BTreeMap::new();
        for (side, levels) in [
            (0u8, model.bids().collect::<Vec<_>>()),
            (1, model.asks().collect()),
        ] {
            for (p, q) in levels {
                expected.insert((side, p as i64), q as i64);
            }
        }
        assert_eq!(
            s.book.len(),
            expected.len(),
            "{symbol}: level count differs from the venue's book"
        );
        assert!(
            s.book == expected,
            "{symbol}: book differs from the venue's"
        );
        // Trades exactly once: ids climb by one, across every switch.
        let trades: Vec<u64> = events
            .iter()
            .filter(|e| e.instrument == inst)
            .filter_map(Event::as_trade)
            .map(|t| t.id)
            .collect();
        assert!(trades.len() > 50, "{symbol}: only {} trades", trades.len());
        for w in trades.windows(2) {
            assert_eq!(w[1], w[0] + 1, "{symbol}: trade ids jump");
        }
        let bbos: Vec<u64> = events
            .iter()
            .filter(|e| e.instrument == inst && e.kind() == EventKind::Bbo)
            .map(|e| e.seq)
            .collect();
        assert!(bbos.len() > 50, "{symbol}: only {} BBOs", bbos.len());
        // A BBO carries the book's update id: two in a row share it when no diff came
        // between them, so ids never go back but may repeat.
        if let Some(w) = bbos.windows(2).find(|w| w[1] < w[0]) {
            panic!("{symbol}: BBO id {} after {}", w[1], w[0]);
        }
    }
}

/// Nothing went wrong in-band: no gap, resync, disconnect, reconnect, overflow or decode
/// error; one `Connected` from the engine and one per switch (reason `Rotation`).
fn check_statuses(events: &[Event], stats: &RotationStats) {
    for kind in [
        StatusKind::Gap,
        StatusKind::Resync,
        StatusKind::Disconnected,
        StatusKind::Reconnecting,
        StatusKind::Stale,
        StatusKind::Overflow,
        StatusKind::DecodeError,
    ] {
        assert_eq!(count(events, kind), 0, "{kind:?}: {:?}", statuses(events));
    }
    let connected: Vec<u16> = statuses(events)
        .iter()
        .filter(|s| s.0 == StatusKind::Connected)
        .map(|s| s.1)
        .collect();
    assert_eq!(connected[0], Reason::None.code());
    assert!(connected[1..].iter().all(|&r| r == Reason::Rotation.code()));
    assert_eq!(connected.len() as u64, 1 + stats.completed);
    assert_eq!(count(events, StatusKind::Rotating) as u64, stats.started);
}

fn lifetime_rotations(market: Market) {
    // Sessions last 2.5 s at the venue; the feed rotates 1 s before that.
    let rotation = RotationConfig {
        retry: Duration::from_millis(200),
        switch_timeout: Duration::from_millis(800),
        ..RotationConfig::new(Duration::from_millis(2500), Duration::from_millis(1000))
    };
    let mut run = start(market, Some(Duration::from_millis(2500)), rotation);
    run.wait("two rotations", Duration::from_secs(30), |s, _| {
        s.completed >= 2
    });
    // Some data after the last switch, then stop.
    std::thread::sleep(Duration::from_millis(300));
    let stats = run.monitor.stats();
    let events = run.finish();
    eprintln!("{market:?}: {stats:?}, {} events", events.len());
    assert_eq!(
        (stats.fallbacks, stats.abandoned, stats.resynced_books),
        (0, 0, 0),
        "{stats:?}"
    );
    assert!(run.sim.stats().sessions >= 3);
    let rotating: Vec<u16> = statuses(&events)
        .iter()
        .filter(|s| s.0 == StatusKind::Rotating)
        .map(|s| s.1)
        .collect();
    assert!(rotating.iter().all(|&r| r == Reason::Rotation.code()));
    check_statuses(&events, &stats);
    check_streams(&run, &events);
}

#[test]
fn spot_rotates_before_the_lifetime_without_losing_or_repeating_updates() {
    lifetime_rotations(Market::Spot);
}

#[test]
fn usdm_rotates_before_the_lifetime_without_losing_or_repeating_updates() {
    lifetime_rotations(Market::UsdM);
}

fn server_shutdown_rotations(market: Market) {
    let rotation = RotationConfig {
        retry: Duration::from_millis(200),
        ..RotationConfig::on_request_only()
    };
    let mut run = start(market, None, rotation);
    for n in 1..=2u64 {
        run.wait(
            "books in sync, one session",
            Duration::from_secs(20),
            |s, ev| synced(ev) == SYMBOLS.len() && s.completed == n - 1,
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while run.sim.stats().live_sessions != 1 {
            assert!(Instant::now() < deadline, "old session still open");
            std::thread::sleep(Duration::from_millis(5));
        }
        // Let data flow a little on this session, then the venue announces its shutdown
        // (and closes the session a second later).
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(run.sim.inject(Fault::ServerShutdown), 1);
        run.wait("the rotation", Duration::from_secs(20), |s, _| {
            s.completed == n
        });
    }
    std::thread::sleep(Duration::from_millis(300));
    let stats = run.monitor.stats();
    let events = run.finish();
    eprintln!("{market:?}: {stats:?}, {} events", events.len());
    assert_eq!(
        (
            stats.started,
            stats.completed,
            stats.fallbacks,
            stats.abandoned
        ),
        (2, 2, 0, 0),
        "{stats:?}"
    );
    let rotating: Vec<u16> = statuses(&events)
        .iter()
        .filter(|s| s.0 == StatusKind::Rotating)
        .map(|s| s.1)
        .collect();
    assert_eq!(rotating, vec![Reason::ServerShutdown.code(); 2]);
    check_statuses(&events, &stats);
    check_streams(&run, &events);
}

#[test]
fn spot_server_shutdown_rotates_instead_of_leaving_a_gap() {
    server_shutdown_rotations(Market::Spot);
}

#[test]
fn usdm_server_shutdown_rotates_instead_of_leaving_a_gap() {
    server_shutdown_rotations(Market::UsdM);
}

/// The control: with rotation off, the venue ending the session shows up as a disconnect,
/// a resync and update ids that never reached the consumer.
#[test]
fn without_rotation_the_lifetime_costs_a_gap() {
    let rotation = RotationConfig::on_request_only();
    let mut run = start(Market::Spot, Some(Duration::from_millis(1500)), rotation);
    run.wait(
        "a resync after the session ended",
        Duration::from_secs(20),
        |_, ev| count(ev, StatusKind::Resync) >= SYMBOLS.len() && synced(ev) >= 2 * SYMBOLS.len(),
    );
    let events = run.finish();
    assert!(count(&events, StatusKind::Disconnected) >= 1);
    assert_eq!(run.monitor.stats().started, 0);
    let inst = run.instrument("BTCUSDT");
    let venue = run.sim.venue();
    let spec = venue.spec(venue.symbol_index("BTCUSDT").unwrap());
    let s = book_stream(&events, inst, spec.price_decimals, spec.qty_decimals);
    assert!(s.segments.len() >= 2);
    let delivered: Vec<u64> = s.segments.iter().flat_map(|(_, d)| d.clone()).collect();
    let last = *delivered.last().unwrap();
    let first = s.segments[0].0;
    let missing = venue_depth_steps(&run.sim, "BTCUSDT", last)
        .into_iter()
        .filter(|(_, u)| *u > first && !delivered.contains(u))
        .count();
    assert!(missing > 0, "the reconnect lost no update id?");
}
