//! A/B line arbitration end to end: the engine runs one Binance feed over two lines, each
//! to its own simulator. Both simulators have the same seed and symbols, so they serve the
//! same stream (same update and trade ids); each has its own faults: depth gaps, a dropped
//! connection and a silent stall, at different times. The consumer sees no gap, resync or
//! disconnect; every depth update exactly once, in order (the venue's consecutive depth
//! steps after the one snapshot); every trade once, ids climbing by one; and books equal to
//! the venue model's. The same faults on one line alone do show gaps and resyncs.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tickwire_engine::adapter::{
    ArbitrationConfig, ArbitrationReport, FeedConfig, LineMonitor, LineState, add_arbitrated_feed,
};
use tickwire_engine::config::EngineConfig;
use tickwire_engine::engine::Engine;
use tickwire_engine::event::{Event, Flags, Side, StatusKind};
use tickwire_engine::instrument::{InstrumentId, Registry};
use tickwire_engine::reason::Reason;
use tickwire_feeds::binance::lines::arbitrated_feed;
use tickwire_feeds::binance::sim::Market as SimMarket;
use tickwire_feeds::binance::sim::tape::StepKind;
use tickwire_feeds::binance::{BinanceConfig, Channel, DepthSpeed, Market, Subscription};
use tickwire_tests::test_options;
use tickwire_tools::sim::{Fault, ScheduledFault, SimConfig, SimServer};

const SYMBOLS: [&str; 2] = ["BTCUSDT", "ETHUSDT"];

fn at(fault: Fault, ms: u64) -> ScheduledFault {
    ScheduledFault {
        fault,
        at: Duration::from_millis(ms),
        every: None,
    }
}

/// Line A: gaps at 0.3 s and 1 s, dropped at 2 s (every session). Line B: gaps at 0.6 s
/// and 2.7 s, silent from 1.3 s to 1.8 s, dropped at 3.4 s. In a 4 s run no fault of one
/// line falls while the other is down or silent.
fn faults_a() -> Vec<ScheduledFault> {
    vec![
        at(Fault::Gap, 300),
        at(Fault::Gap, 1000),
        at(Fault::Drop, 2000),
    ]
}

fn faults_b() -> Vec<ScheduledFault> {
    vec![
        at(Fault::Gap, 600),
        at(Fault::Silent(Duration::from_millis(500)), 1300),
        at(Fault::Gap, 2700),
        at(Fault::Drop, 3400),
    ]
}

struct Run {
    sims: Vec<SimServer>,
    engine: Option<Engine>,
    monitor: LineMonitor,
    registry: Registry,
    events: Arc<Mutex<Vec<Event>>>,
    stop: Arc<AtomicBool>,
    reader: Option<JoinHandle<()>>,
}

/// One simulator per entry of `faults` (same seed and symbols, 2000 events/s) and an
/// engine running one arbitrated Binance spot feed over them into one consumer.
fn start(faults: Vec<Vec<ScheduledFault>>) -> Run {
    // One stream clock for both: the same ids at the same time.
    let origin = tickwire_engine::clock::now_ns();
    let sims: Vec<SimServer> = faults
        .into_iter()
        .map(|f| {
            let mut sc = SimConfig::new(SimMarket::Spot);
            sc.symbols = SYMBOLS.iter().map(|s| s.to_string()).collect();
            sc.rate = 2000;
            sc.seed = 7;
            sc.faults = f;
            sc.clock_origin_ns = Some(origin);
            SimServer::start(sc).unwrap()
        })
        .collect();
    let lines: Vec<BinanceConfig> = sims
        .iter()
        .map(|sim| {
            let mut config = BinanceConfig::for_market(Market::Spot);
            config.ws_base = Some(sim.ws_url());
            config.rest_base = Some(sim.rest_url());
            config
        })
        .collect();
    let subs = Subscription::product(
        &SYMBOLS,
        &[
            Channel::Depth(DepthSpeed::Ms100),
            Channel::Trade,
            Channel::BookTicker,
        ],
    );
    let registry = Registry::new();
    let feed = arbitrated_feed(
        &lines,
        &subs,
        &registry,
        &[],
        FeedConfig::default(),
        ArbitrationConfig::default(),
    )
    .unwrap();
    let monitor = feed.monitor();
    let mut b = Engine::builder(EngineConfig::default());
    let (cid, mut consumer) = b.consumer(1 << 20);
    let engine = b.start().unwrap();
    add_arbitrated_feed(&engine.handle(), feed, test_options(), &[], &[cid]).unwrap();

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
        sims,
        engine: Some(engine),
        monitor,
        registry,
        events,
        stop,
        reader: Some(reader),
    }
}

impl Run {
    fn wait(&self, what: &str, timeout: Duration, ok: impl Fn(&[Event]) -> bool) {
        let deadline = Instant::now() + timeout;
        while !ok(&self.events.lock().unwrap()) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; statuses {:?}; {:?}",
                statuses(&self.events.lock().unwrap()),
                self.monitor.report()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Stops the engine and the reader; returns what was consumed before the shutdown
    /// (whose own `Line`/`Disconnected`/`Resync` statuses are cut off).
    fn finish(&mut self) -> Vec<Event> {
        // Shutdown statuses begin with the first status of reason `Shutdown`.
        let cut_from = self.events.lock().unwrap().len();
        if let Some(e) = self.engine.take() {
            e.join().unwrap();
        }
        self.stop.store(true, Ordering::Release);
        if let Some(r) = self.reader.take() {
            r.join().unwrap();
        }
        let mut events = std::mem::take(&mut *self.events.lock().unwrap());
        let shutdown = Reason::Shutdown.code();
        let cut = events[cut_from.min(events.len())..]
            .iter()
            .position(|e| e.as_status().is_some_and(|s| s.reason == shutdown))
            .map_or(events.len(), |p| p + cut_from);
        events.truncate(cut);
        events
    }

    fn instrument(&self, symbol: &str) -> InstrumentId {
        self.registry
            .lookup(Market::Spot.venue(), symbol)
            .expect("interned")
    }
}

fn statuses(events: &[Event]) -> Vec<(StatusKind, u16, u64)> {
    events
        .iter()
        .filter_map(Event::as_status)
        .map(|s| (s.kind, s.reason, s.value))
        .collect()
}

fn count(events: &[Event], kind: StatusKind) -> usize {
    statuses(events).iter().filter(|s| s.0 == kind).count()
}

fn line_events(events: &[Event], state: LineState) -> Vec<usize> {
    events
        .iter()
        .filter_map(Event::as_status)
        .filter(|s| s.kind == StatusKind::Line)
        .filter_map(|s| LineState::from_value(s.value))
        .filter(|(_, s)| *s == state)
        .map(|(l, _)| l)
        .collect()
}

fn synced(events: &[Event]) -> usize {
    events
        .iter()
        .filter(|e| e.flags.contains(Flags::SNAPSHOT) && e.flags.contains(Flags::LAST_IN_BATCH))
        .count()
}

/// One instrument's book stream: per snapshot run its update id and the final update ids
/// of the diffs after it; and the book rebuilt from all of it, keyed by (side, price) in
/// the venue's integer units.
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

/// Per instrument, checked against the venue model (independent of the engine): one
/// snapshot run, then exactly the venue's consecutive depth steps (those with changes)
/// after it; the rebuilt book equal to the model's after the last one; trade ids climbing
/// by one (every trade exactly once, in order).
fn check_symbols(run: &Run, events: &[Event]) {
    let venue = run.sims[0].venue();
    for symbol in SYMBOLS {
        let inst = run.instrument(symbol);
        let sym = venue.symbol_index(symbol).unwrap();
        let spec = venue.spec(sym);
        let tape = venue.tape(sym);
        let s = book_stream(events, inst, spec.price_decimals, spec.qty_decimals);
        assert_eq!(s.segments.len(), 1, "{symbol}: snapshot runs");
        let (snapshot_id, diffs) = &s.segments[0];
        assert!(diffs.len() > 100, "{symbol}: only {} diffs", diffs.len());
        let last = *diffs.last().unwrap();
        let mut want = Vec::new();
        let mut last_pos = 0;
        for pos in 0.. {
            let step = tape.step(pos);
            if step.kind != StepKind::Depth {
                continue;
            }
            let (_, u, _) = tape.depth_ids(pos);
            if u > last {
                break;
            }
            if u > *snapshot_id && !tape.changes(step).is_empty() {
                want.push(u);
                last_pos = pos;
            }
        }
        if let Some(i) = (0..want.len().max(diffs.len())).find(|&i| want.get(i) != diffs.get(i)) {
            panic!(
                "{symbol}: diff #{i} is {:?}, the venue's next step is {:?}",
                diffs.get(i),
                want.get(i)
            );
        }
        let model = tape.book_after(last_pos + 1);
        let mut expected = BTreeMap::new();
        for (side, levels) in [
            (0u8, model.bids().collect::<Vec<_>>()),
            (1, model.asks().collect()),
        ] {
            for (p, q) in levels {
                expected.insert((side, p as i64), q as i64);
            }
        }
        assert!(
            s.book == expected,
            "{symbol}: book differs from the venue's"
        );
        let trades: Vec<u64> = events
            .iter()
            .filter(|e| e.instrument == inst)
            .filter_map(Event::as_trade)
            .map(|t| t.id)
            .collect();
        assert!(trades.len() > 50, "{symbol}: only {} trades", trades.len());
        if let Some(w) = trades.windows(2).find(|w| w[1] != w[0] + 1) {
            panic!("{symbol}: trade {} after {}", w[1], w[0]);
        }
    }
}

fn report_line(r: &ArbitrationReport) -> String {
    let mut s = String::new();
    for (n, l) in r.lines.iter().enumerate() {
        s += &format!(
            "line {n}: won {} lost {} held {} downs {} lagging {}; ",
            l.won, l.lost, l.held, l.downs, l.lagging
        );
    }
    for p in &r.pairs {
        s += &format!(
            "{} behind {}: n={} p50={}us p99={}us; ",
            p.later,
            p.first,
            p.count,
            p.p50_ns / 1000,
            p.p99_ns / 1000
        );
    }
    s
}

#[test]
fn an_ab_pair_hides_gaps_drops_and_stalls_of_each_line() {
    let mut run = start(vec![faults_a(), faults_b()]);
    run.wait("both books", Duration::from_secs(10), |e| synced(e) >= 2);
    let began = Instant::now();
    // Past line A's drop and reconnect and line B's drop.
    run.wait("line B's drop", Duration::from_secs(15), |e| {
        line_events(e, LineState::Down).contains(&1)
    });
    std::thread::sleep(Duration::from_millis(300));
    let report = run.monitor.report();
    let events = run.finish();
    eprintln!("{:?} after sync: {}", began.elapsed(), report_line(&report));
    for kind in [
        StatusKind::Gap,
        StatusKind::Resync,
        StatusKind::Disconnected,
        StatusKind::Reconnecting,
        StatusKind::Overflow,
        StatusKind::SnapshotFailed,
    ] {
        assert_eq!(count(&events, kind), 0, "{kind:?}: {:?}", statuses(&events));
    }
    assert_eq!(count(&events, StatusKind::Connected), 1);
    let downs = line_events(&events, LineState::Down);
    assert!(downs.contains(&0) && downs.contains(&1), "{downs:?}");
    check_symbols(&run, &events);
    // Both lines' faults were real: each line's gaps were filled by the other.
    let stats: Vec<u64> = run.sims.iter().map(|s| s.stats().gaps).collect();
    assert!(stats.iter().all(|&g| g >= 2), "simulator gaps {stats:?}");
    // (A hole is held only when the line that missed the update was ahead; otherwise the
    // other line's copy was already in. Either way: nothing unfilled.)
    assert_eq!(report.gaps, 0, "{}", report_line(&report));
    assert!(report.lines.iter().all(|l| l.won > 0 && l.lost > 0));
}

#[test]
fn one_line_alone_shows_the_same_faults() {
    let mut run = start(vec![faults_a()]);
    run.wait("the book", Duration::from_secs(10), |e| synced(e) >= 2);
    run.wait(
        "line A's drop and a resync after it",
        Duration::from_secs(15),
        |e| line_events(e, LineState::Down).contains(&0) && count(e, StatusKind::Gap) >= 2,
    );
    let events = run.finish();
    assert!(
        count(&events, StatusKind::Gap) >= 2,
        "{:?}",
        statuses(&events)
    );
    assert!(count(&events, StatusKind::Resync) >= 2);
    // Each drop is one `Disconnected` (the engine's, with one line), never two.
    let downs = line_events(&events, LineState::Down).len();
    assert!(downs >= 1);
    assert_eq!(count(&events, StatusKind::Disconnected), downs);
}
