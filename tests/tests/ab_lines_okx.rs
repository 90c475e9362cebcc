//! A/B arbitration is venue-neutral: the same two-line test as `ab_lines.rs` on OKX
//! (in-band snapshots, `seqId`/`prevSeqId` chains, CRC32 checksums), written against the
//! engine's adapter contract only. Two OKX simulators with the same seed and stream clock,
//! each with its own gaps, drop and stall: no gap, resync, checksum failure or disconnect
//! in-band; trade ids climbing by one (each once, in order); books equal to the model.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tickwire_engine::adapter::{
    ArbitratedFeed, ArbitrationConfig, FeedConfig, LineFactory, LineState, QueuedSnapshots,
    SnapshotSource, add_arbitrated_feed,
};
use tickwire_engine::book::{Book, BookConfig};
use tickwire_engine::event::{Event, EventKind, StatusKind};
use tickwire_engine::{Engine, EngineConfig, InstrumentId, Registry};
use tickwire_feeds::okx::{Channel, OkxAdapter, OkxConfig, OkxRestSnapshots, Subscription, VENUE};
use tickwire_feeds::sim::SimVenue;
use tickwire_tests::test_options;
use tickwire_tools::sim::{Fault, ScheduledFault, SimConfig, SimServer};

const SYMBOLS: [&str; 2] = ["BTC-USDT", "ETH-USDT"];

fn at(fault: Fault, ms: u64) -> ScheduledFault {
    ScheduledFault {
        fault,
        at: Duration::from_millis(ms),
        every: None,
    }
}

#[test]
fn an_okx_ab_pair_hides_gaps_drops_and_stalls_of_each_line() {
    let origin = tickwire_engine::clock::now_ns();
    let faults = [
        vec![
            at(Fault::Gap, 300),
            at(Fault::Gap, 1000),
            at(Fault::Drop, 2000),
        ],
        vec![
            at(Fault::Gap, 600),
            at(Fault::Silent(Duration::from_millis(500)), 1300),
            at(Fault::Gap, 2700),
            at(Fault::Drop, 3400),
        ],
    ];
    let sims: Vec<SimServer> = faults
        .into_iter()
        .map(|f| {
            let mut sc = SimConfig::for_venue("okx").unwrap();
            sc.symbols = SYMBOLS.iter().map(|s| s.to_string()).collect();
            sc.rate = 2000;
            sc.seed = 11;
            sc.faults = f;
            sc.clock_origin_ns = Some(origin);
            SimServer::start(sc).unwrap()
        })
        .collect();
    let configs: Vec<OkxConfig> = sims
        .iter()
        .map(|s| OkxConfig {
            ws_url: format!("{}/ws/v5/public", s.ws_url()),
            rest_base: s.rest_url(),
            ..OkxConfig::default()
        })
        .collect();
    let subs = Subscription::product(
        &SYMBOLS,
        &[Channel::Books, Channel::Trades, Channel::BboTbt],
    );
    let registry = Registry::new();
    let rest = OkxRestSnapshots::spawn(&configs[0], &registry, &SYMBOLS, &[]).unwrap();
    let mut arbiter_source: Option<Box<dyn SnapshotSource>> = Some(Box::new(rest));
    let (r, c) = (registry.clone(), configs.clone());
    let factory: LineFactory<OkxAdapter> = Box::new(move |n| {
        let adapter = OkxAdapter::new(c.get(n)?.clone(), &subs, &r).ok()?;
        let source = arbiter_source
            .take()
            .unwrap_or_else(|| Box::new(QueuedSnapshots::new()));
        Some((adapter, source))
    });
    let feed = ArbitratedFeed::new(
        factory,
        2,
        FeedConfig::default(),
        ArbitrationConfig::default(),
    )
    .unwrap();
    let monitor = feed.monitor();
    let mut b = Engine::builder(EngineConfig::default());
    let (cid, mut consumer) = b.consumer(1 << 20);
    let engine = b.start().unwrap();
    add_arbitrated_feed(&engine.handle(), feed, test_options(), &[], &[cid]).unwrap();

    let mut events: Vec<Event> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let line_down = |events: &[Event], line: usize| {
        events.iter().filter_map(Event::as_status).any(|s| {
            s.kind == StatusKind::Line
                && LineState::from_value(s.value) == Some((line, LineState::Down))
        })
    };
    let mut stop_at = None;
    loop {
        while let Some(e) = consumer.pop() {
            events.push(e);
        }
        if stop_at.is_none() && line_down(&events, 0) && line_down(&events, 1) {
            stop_at = Some(Instant::now() + Duration::from_millis(300));
        }
        if stop_at.is_some_and(|t| Instant::now() >= t) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "timed out; {:?}",
            monitor.report()
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    let report = monitor.report();
    drop(engine);
    let kinds: Vec<StatusKind> = events
        .iter()
        .filter_map(Event::as_status)
        .map(|s| s.kind)
        .collect();
    // What happened when, for a failure's message.
    let timeline = tickwire_tests::consume::status_timeline(&events, origin);
    for bad in [
        StatusKind::Gap,
        StatusKind::Resync,
        StatusKind::Checksum,
        StatusKind::Disconnected,
        StatusKind::SnapshotFailed,
        StatusKind::Overflow,
    ] {
        assert!(
            !kinds.contains(&bad),
            "{bad:?} in {timeline:#?}; {report:?}"
        );
    }
    let mut books: HashMap<InstrumentId, Book> = HashMap::new();
    let mut trades: HashMap<InstrumentId, Vec<u64>> = HashMap::new();
    for e in &events {
        match e.kind() {
            EventKind::BookLevel => {
                let book = books
                    .entry(e.instrument)
                    .or_insert_with(|| Book::new(BookConfig::with_depth(400)));
                book.apply_event(e).unwrap();
            }
            EventKind::Trade => trades
                .entry(e.instrument)
                .or_default()
                .push(e.as_trade().unwrap().id),
            _ => {}
        }
    }
    let venue: Arc<dyn SimVenue> = sims[0].venue().clone();
    for name in SYMBOLS {
        let inst = registry.lookup(VENUE, name).unwrap();
        let book = &books[&inst];
        assert!(book.is_valid(), "{name}");
        tickwire_tests::book_model::assert_matches_sim(venue.as_ref(), name, book);
        let t = &trades[&inst];
        assert!(t.len() > 50, "{name}: {} trades", t.len());
        if let Some(w) = t.windows(2).find(|w| w[1] != w[0] + 1) {
            panic!("{name}: trade {} after {}", w[1], w[0]);
        }
    }
    let gaps: Vec<u64> = sims.iter().map(|s| s.stats().gaps).collect();
    assert!(gaps.iter().all(|&g| g >= 2), "simulator gaps {gaps:?}");
    assert_eq!(report.gaps, 0, "{report:?}");
    // Holes one line filled for the other, not every later copy (a slower line's copies
    // once read as diffs past a hole: thousands "filled", and a real skip on the leading
    // line during such a "hold" was declared a gap at once).
    assert!(report.filled <= 20, "filled {}: {report:?}", report.filled);
    // Line B's stall makes it lag once; its catch-up must not flap the state per message.
    let lagging = report.lines[1].lagging;
    assert!(
        (1..=6).contains(&lagging),
        "line B lagging {lagging} times; {timeline:#?}"
    );
}
