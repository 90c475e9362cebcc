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
use tickwire_engine::handler::ConnectionId;
use tickwire_engine::instrument::{InstrumentId, Registry};
use tickwire_engine::reason::Reason;
use tickwire_feeds::binance::rotation::rotating_feed;
use tickwire_feeds::binance::sim::Market as SimMarket;
use tickwire_feeds::binance::sim::tape::StepKind;
use tickwire_feeds::binance::{
    BinanceConfig, Channel, DepthSpeed, Market, SubscribeVia, Subscription,
};
use tickwire_tests::test_options;
use tickwire_tools::sim::{Fault, ScheduledFault, SimConfig, SimServer};

const SYMBOLS: [&str; 2] = ["BTCUSDT", "ETHUSDT"];

struct Run {
    market: Market,
    sim: SimServer,
    engine: Option<Engine>,
    conn: ConnectionId,
    monitor: RotationMonitor,
    registry: Registry,
    events: Arc<Mutex<Vec<Event>>>,
    stop: Arc<AtomicBool>,
    reader: Option<JoinHandle<()>>,
}

fn start(market: Market, sim_lifetime: Option<Duration>, rotation: RotationConfig) -> Run {
    start_with(
        market,
        rotation,
        |c| c.lifetime = sim_lifetime,
        |_| {},
        &SYMBOLS,
    )
}

/// A simulator (2 symbols, 2000 events/s, adjusted by `sim`) and an engine running a
/// rotating Binance feed of depth, trades and BBOs of `symbols` (adjusted by `feed`) into
/// one consumer.
fn start_with(
    market: Market,
    rotation: RotationConfig,
    sim: impl FnOnce(&mut SimConfig),
    feed: impl FnOnce(&mut BinanceConfig),
    symbols: &[&str],
) -> Run {
    let sim_market = match market {
        Market::Spot => SimMarket::Spot,
        Market::UsdM => SimMarket::UsdM,
    };
    let mut sc = SimConfig::new(sim_market);
    sc.symbols = SYMBOLS.iter().map(|s| s.to_string()).collect();
    sc.rate = 2000;
    sim(&mut sc);
    let sim = SimServer::start(sc).unwrap();

    let mut config = BinanceConfig::for_market(market);
    config.ws_base = Some(sim.ws_url());
    config.rest_base = Some(sim.rest_url());
    config.usdm_routed = false;
    feed(&mut config);
    let depth = match market {
        Market::Spot => DepthSpeed::Ms100,
        Market::UsdM => DepthSpeed::Ms0,
    };
    let subs = Subscription::product(
        symbols,
        &[Channel::Depth(depth), Channel::Trade, Channel::BookTicker],
    );
    let registry = Registry::new();
    let feed = rotating_feed(
        config,
        &subs,
        &registry,
        &[],
        FeedConfig::default(),
        rotation,
    )
    .unwrap();
    let monitor = feed.monitor();

    let mut b = Engine::builder(EngineConfig::default());
    let (cid, mut consumer) = b.consumer(1 << 20);
    let engine = b.start().unwrap();
    let conn = add_rotating_feed(&engine.handle(), feed, test_options(), &[], &[cid]).unwrap();

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
        conn,
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

/// Per instrument: after each snapshot run, every depth update exactly once (the diffs are
/// exactly the venue's consecutive depth steps from the snapshot on), no update id twice
/// overall, the rebuilt book equal to the venue's after the last update, trade ids strictly
/// increasing (consecutive unless `segments` > 1 lets a resync lose some) and BBO ids never
/// going back. `segments`: snapshot runs expected per instrument (1: no resync).
fn check_streams(run: &Run, events: &[Event], segments: usize) {
    check_symbols(run, events, segments, &SYMBOLS);
}

/// [`check_streams`] for `symbols`.
fn check_symbols(run: &Run, events: &[Event], segments: usize, symbols: &[&str]) {
    let venue = run.sim.venue();
    for &symbol in symbols {
        let inst = run.instrument(symbol);
        let sym = venue.symbol_index(symbol).unwrap();
        let spec = venue.spec(sym);
        let s = book_stream(events, inst, spec.price_decimals, spec.qty_decimals);
        assert_eq!(s.segments.len(), segments, "{symbol}: snapshot runs");
        let mut all = Vec::new();
        let mut last_pos = None;
        for (n, (snapshot_id, diffs)) in s.segments.iter().enumerate() {
            assert!(diffs.len() > 100, "{symbol}: only {} diffs", diffs.len());
            let last = *diffs.last().unwrap();
            // The first diff applied on a snapshot: spot `U <= S + 1 <= u`; USD-M
            // `U <= S <= u` (a diff ending exactly at the snapshot is applied again:
            // quantities are absolute).
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
                    "{symbol} segment {n}: diff #{i} is {:?}, the venue's next step is {:?} \
                     ({} delivered, {} expected)",
                    diffs.get(i),
                    want_ids.get(i),
                    diffs.len(),
                    want_ids.len()
                );
            }
            if let Some(prev) = all.last() {
                assert!(*snapshot_id >= *prev, "{symbol}: resync went back");
            }
            all.extend_from_slice(diffs);
            last_pos = want.last().map(|(p, _)| *p);
        }
        let mut sorted = all.clone();
        sorted.dedup();
        assert_eq!(sorted.len(), all.len(), "{symbol}: an update id twice");
        // The consumer's book equals the venue model's after the last delivered update.
        let model = venue.tape(sym).book_after(last_pos.unwrap() + 1);
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
        // Trades exactly once: ids climb by one, across every switch (a resync may lose
        // some, never repeat one).
        let trades: Vec<u64> = events
            .iter()
            .filter(|e| e.instrument == inst)
            .filter_map(Event::as_trade)
            .map(|t| t.id)
            .collect();
        assert!(trades.len() > 50, "{symbol}: only {} trades", trades.len());
        for w in trades.windows(2) {
            if segments == 1 {
                assert_eq!(w[1], w[0] + 1, "{symbol}: trade ids jump");
            } else {
                assert!(w[1] > w[0], "{symbol}: trade id {} after {}", w[1], w[0]);
            }
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
    check_streams(&run, &events, 1);
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
    check_streams(&run, &events, 1);
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

fn at(fault: Fault, at_ms: u64) -> ScheduledFault {
    ScheduledFault {
        fault,
        at: Duration::from_millis(at_ms),
        every: None,
    }
}

fn connected_reasons(events: &[Event]) -> Vec<u16> {
    statuses(events)
        .iter()
        .filter(|s| s.0 == StatusKind::Connected)
        .map(|s| s.1)
        .collect()
}

/// The active leg dies during a rotation while the standby's session is up but not ready
/// (its subscription is not acknowledged yet): the standby takes over at once, and when its
/// data starts past the old book's last update id the gap is flagged in-band (`Gap`,
/// `Resync`) and the books are rebuilt from snapshots.
#[test]
fn spot_active_leg_dying_mid_rotation_falls_back_to_the_standby() {
    // Every session: the server reads nothing for its first 1.5 s (so a feed that subscribes
    // with frames gets no ack and no data) and drops the TCP connection at 4 s. The feed
    // rotates 3 s into a session: the standby is up at 3 s but unacknowledged until 4.5 s.
    let rotation = RotationConfig {
        retry: Duration::from_millis(200),
        switch_timeout: Duration::from_secs(5),
        ..RotationConfig::new(Duration::from_millis(4500), Duration::from_millis(1500))
    };
    let mut run = start_with(
        Market::Spot,
        rotation,
        |c| {
            c.faults = vec![
                at(Fault::ReadSlowly(Duration::from_millis(1500)), 0),
                at(Fault::Drop, 4000),
            ]
        },
        |b| b.subscribe_via = SubscribeVia::Frames,
        &SYMBOLS,
    );
    run.wait(
        "the fallback, books rebuilt",
        Duration::from_secs(20),
        |s, ev| s.fallbacks == 1 && synced(ev) == 2 * SYMBOLS.len(),
    );
    std::thread::sleep(Duration::from_millis(300));
    let stats = run.monitor.stats();
    let events = run.finish();
    eprintln!("fallback in session: {stats:?}; {:?}", statuses(&events));
    assert_eq!(
        (
            stats.started,
            stats.completed,
            stats.fallbacks,
            stats.abandoned
        ),
        (1, 0, 1, 0),
        "{stats:?}"
    );
    assert_eq!(count(&events, StatusKind::Rotating), 1);
    assert_eq!(count(&events, StatusKind::Disconnected), 1);
    assert_eq!(count(&events, StatusKind::Reconnecting), 0);
    assert_eq!(count(&events, StatusKind::Gap), SYMBOLS.len());
    assert_eq!(count(&events, StatusKind::Resync), SYMBOLS.len());
    // The engine's Connected for the first leg; the feed's at the switch.
    assert_eq!(
        connected_reasons(&events),
        vec![Reason::None.code(), Reason::Rotation.code()]
    );
    check_streams(&run, &events, 2);
}

/// The active leg dies during a rotation before the standby's session is even up: the
/// books are resynced at once, as after any disconnect, and rebuilt on the standby when it
/// comes up (the engine then reports it `Connected`: it is the primary leg by then).
#[test]
fn usdm_active_leg_dying_before_the_standby_is_up_resyncs_on_the_standby() {
    // Every session: the server sends nothing (not even the upgrade answer) for 1.5 s and
    // drops the TCP connection at 3 s. The feed rotates 1 s after its upgrade (about 2.5 s
    // into the first session): the standby's upgrade is held until about 4 s.
    let rotation = RotationConfig {
        retry: Duration::from_millis(200),
        switch_timeout: Duration::from_secs(5),
        ..RotationConfig::new(Duration::from_millis(2500), Duration::from_millis(1500))
    };
    let mut run = start_with(
        Market::UsdM,
        rotation,
        |c| {
            c.faults = vec![
                at(Fault::Silent(Duration::from_millis(1500)), 0),
                at(Fault::Drop, 3000),
            ]
        },
        |_| {},
        &SYMBOLS,
    );
    run.wait(
        "the fallback, books rebuilt",
        Duration::from_secs(20),
        |s, ev| s.fallbacks == 1 && synced(ev) == 2 * SYMBOLS.len(),
    );
    std::thread::sleep(Duration::from_millis(300));
    let stats = run.monitor.stats();
    let events = run.finish();
    eprintln!(
        "fallback before session: {stats:?}; {:?}",
        statuses(&events)
    );
    assert_eq!(
        (
            stats.started,
            stats.completed,
            stats.fallbacks,
            stats.abandoned
        ),
        (1, 0, 1, 0),
        "{stats:?}"
    );
    assert_eq!(count(&events, StatusKind::Disconnected), 1);
    assert_eq!(count(&events, StatusKind::Reconnecting), 0);
    assert_eq!(count(&events, StatusKind::Resync), SYMBOLS.len());
    assert_eq!(
        connected_reasons(&events),
        vec![Reason::None.code(), Reason::None.code()]
    );
    check_streams(&run, &events, 2);
}

/// Subscriptions changed at run time (`EngineHandle::subscribe`/`unsubscribe`) survive
/// rotations: the standby connections are brought up to date before they take over, the
/// added trades keep arriving exactly once across every switch, and a removed stream stays
/// removed.
#[test]
fn spot_run_time_subscriptions_survive_rotations() {
    let rotation = RotationConfig {
        retry: Duration::from_millis(200),
        switch_timeout: Duration::from_millis(800),
        ..RotationConfig::new(Duration::from_millis(2500), Duration::from_millis(1000))
    };
    let mut run = start_with(
        Market::Spot,
        rotation,
        |c| c.lifetime = Some(Duration::from_millis(2500)),
        |_| {},
        &["BTCUSDT"],
    );
    // Enough BBOs for `check_symbols` before they are unsubscribed: they stop at once (an
    // unsubscribed stream is muted even while a reconnect's URL still names it).
    run.wait("BTCUSDT in sync", Duration::from_secs(20), |_, ev| {
        synced(ev) == 1 && ev.iter().filter(|e| e.kind() == EventKind::Bbo).count() > 50
    });
    let engine = run.engine.as_ref().unwrap().handle();
    engine
        .subscribe(run.conn, vec!["ethusdt@trade".into()])
        .unwrap();
    engine
        .unsubscribe(run.conn, vec!["btcusdt@bookTicker".into()])
        .unwrap();
    run.wait("two rotations", Duration::from_secs(30), |s, _| {
        s.completed >= 2
    });
    let settled = run.events.lock().unwrap().len();
    std::thread::sleep(Duration::from_millis(400));
    let stats = run.monitor.stats();
    let events = run.finish();
    eprintln!("run-time subscriptions: {stats:?}, {} events", events.len());
    assert_eq!((stats.fallbacks, stats.abandoned), (0, 0), "{stats:?}");
    check_statuses(&events, &stats);
    check_symbols(&run, &events, 1, &["BTCUSDT"]);
    let eth = run.instrument("ETHUSDT");
    let btc = run.instrument("BTCUSDT");
    let eth_trades: Vec<u64> = events
        .iter()
        .filter(|e| e.instrument == eth)
        .filter_map(Event::as_trade)
        .map(|t| t.id)
        .collect();
    assert!(
        eth_trades.len() > 100,
        "only {} ETHUSDT trades",
        eth_trades.len()
    );
    for w in eth_trades.windows(2) {
        assert_eq!(w[1], w[0] + 1, "ETHUSDT trade ids jump");
    }
    // Still arriving after the last switch.
    let last_switch = events
        .iter()
        .rposition(|e| {
            e.as_status()
                .is_some_and(|s| s.kind == StatusKind::Connected)
        })
        .unwrap();
    assert!(
        events[last_switch..]
            .iter()
            .any(|e| e.instrument == eth && e.kind() == EventKind::Trade)
    );
    // The unsubscribed stream stays gone once things settled after the second switch.
    let late_bbos = events[settled.min(events.len())..]
        .iter()
        .filter(|e| e.instrument == btc && e.kind() == EventKind::Bbo)
        .count();
    assert_eq!(late_bbos, 0, "btcusdt@bookTicker came back");
}
