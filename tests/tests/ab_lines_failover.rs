//! A/B lines that fail over (`tickwire run --venue coinbase|kraken --url A --url B`): two
//! simulators of the venue with the same seed, products and stream clock serve the same
//! stream. Coinbase numbers each connection's messages with its own `sequence_num`, Kraken
//! numbers nothing, so the lines fail over between their books rather than take each
//! update's first copy. Each line has a book fault (Coinbase: a lost `l2_data` update, every
//! book of that line resyncs; Kraken: a wrong checksum, that book resyncs), a silent stall
//! and a drop, at different times (each new session repeats its line's schedule). The
//! consumer sees no gap, resync or disconnect; every trade exactly once and in order; books
//! that are, at the end, a state the venue's model had in the last seconds (the ids cannot
//! place them). One line alone with the same faults does show gaps and resyncs.

use std::collections::BTreeSet;
use std::collections::HashMap;
use std::time::Duration;

use tickwire_engine::adapter::LineMonitor;
use tickwire_engine::adapter::{
    ArbitrationConfig, FeedConfig, FeedHandler, QueuedSnapshots, add_arbitrated_feed, add_feed,
};
use tickwire_engine::book::{Book, BookConfig};
use tickwire_engine::event::{EventKind, Flags, StatusKind, TradeId};
use tickwire_engine::{Engine, EngineConfig, InstrumentId, Registry};
use tickwire_feeds::coinbase::lines::arbitrated_feed;
use tickwire_feeds::coinbase::{Channel, CoinbaseAdapter, CoinbaseConfig, Subscription};
use tickwire_feeds::launch::LaunchSpec;
use tickwire_feeds::venues;
use tickwire_tests::ab::{AbRun, line_down, snapshot_runs};
use tickwire_tests::consume::count_status;
use tickwire_tests::test_options;
use tickwire_tools::sim::{Fault, ScheduledFault, SimConfig, SimServer};

const RATE: u64 = 2000;

#[derive(Clone, Copy)]
struct Venue {
    name: &'static str,
    products: [&'static str; 2],
    /// The fault that spoils one line's books.
    book_fault: Fault,
    /// Levels a side the consumer's books hold (Kraken's are cut at the subscribed depth).
    depth: usize,
}

const COINBASE: Venue = Venue {
    name: "coinbase",
    products: ["BTC-USD", "ETH-USD"],
    book_fault: Fault::Gap,
    depth: usize::MAX,
};

const KRAKEN: Venue = Venue {
    name: "kraken",
    products: ["BTC/USD", "ETH/USD"],
    book_fault: Fault::Checksum,
    depth: 10,
};

fn at(fault: Fault, ms: u64) -> ScheduledFault {
    ScheduledFault {
        fault,
        at: Duration::from_millis(ms),
        every: None,
    }
}

/// Subscribing and a resync take about 0.1 s. Line A (times from each of its sessions'
/// start): a book fault at 1 s, silent 2–2.5 s, dropped at 3 s. Line B: a book fault at
/// 1.5 s, silent 2.6–3.1 s, dropped at 3.6 s. Each fault hits the line the books are
/// published from (the other has them in sync), except A's drop, which comes while B is
/// silent: B's books, in sync but late, take over.
fn faults_a(v: Venue) -> Vec<ScheduledFault> {
    vec![
        at(v.book_fault, 1000),
        at(Fault::Silent(Duration::from_millis(500)), 2000),
        at(Fault::Drop, 3000),
    ]
}

fn faults_b(v: Venue) -> Vec<ScheduledFault> {
    vec![
        at(v.book_fault, 1500),
        at(Fault::Silent(Duration::from_millis(500)), 2600),
        at(Fault::Drop, 3600),
    ]
}

struct Run {
    ab: AbRun,
    venue: Venue,
    sims: Vec<SimServer>,
    registry: Registry,
}

fn start(venue: Venue, faults: Vec<Vec<ScheduledFault>>) -> Run {
    let origin = tickwire_engine::clock::now_ns();
    let sims: Vec<SimServer> = faults
        .into_iter()
        .enumerate()
        .map(|(n, f)| {
            let mut sc = SimConfig::for_venue(venue.name).unwrap();
            // Line B is the slower path (5 ms).
            sc.path_delay = Duration::from_millis(5 * n as u64);
            sc.symbols = venue.products.iter().map(|s| s.to_string()).collect();
            sc.rate = RATE;
            sc.seed = 9;
            sc.faults = f;
            sc.clock_origin_ns = Some(origin);
            SimServer::start(sc).unwrap()
        })
        .collect();
    let registry = Registry::new();
    let mut b = Engine::builder(EngineConfig::default());
    let (cid, consumer) = b.consumer(1 << 20);
    let engine = b.start().unwrap();
    let monitors = if venue.name == "coinbase" {
        start_coinbase(&sims, &engine, &registry, cid)
    } else {
        let mut spec = LaunchSpec::new(&venue.products, &["book", "trade", "bbo"]);
        spec.url = Some(sims[0].ws_url());
        spec.lines = sims[1..].iter().map(SimServer::ws_url).collect();
        spec.options = test_options();
        let launch = venues::find(venue.name)
            .unwrap()
            .launch(&spec, &registry)
            .unwrap();
        launch.start(&engine.handle(), &registry, &[cid]).unwrap();
        launch.line_monitors()
    };
    Run {
        ab: AbRun {
            origin,
            engine: Some(engine),
            consumer,
            monitors,
            events: Vec::new(),
        },
        venue,
        sims,
        registry,
    }
}

/// Coinbase the library's way: the launcher paces requests 150 ms apart per line (the
/// venue's per-IP message limit), which makes each resync take a second; 20 ms here.
/// (`tickwire run --venue coinbase --url A --url B` is tested in the CLI tests.)
fn start_coinbase(
    sims: &[SimServer],
    engine: &Engine,
    registry: &Registry,
    cid: tickwire_engine::command::ConsumerId,
) -> Vec<LineMonitor> {
    let configs: Vec<CoinbaseConfig> = sims
        .iter()
        .map(|s| CoinbaseConfig {
            ws_url: Some(s.ws_url()),
            send_interval_ns: 20_000_000,
            ..CoinbaseConfig::default()
        })
        .collect();
    let subs: Vec<Subscription> = COINBASE
        .products
        .iter()
        .flat_map(|p| {
            [Channel::Level2, Channel::Trades, Channel::Ticker].map(|c| Subscription::new(p, c))
        })
        .collect();
    if configs.len() > 1 {
        let feed = arbitrated_feed(
            &configs,
            &subs,
            registry,
            FeedConfig::default(),
            ArbitrationConfig::default(),
        )
        .unwrap();
        let monitor = feed.monitor();
        add_arbitrated_feed(&engine.handle(), feed, test_options(), &[], &[cid]).unwrap();
        vec![monitor]
    } else {
        let adapter = CoinbaseAdapter::new(configs[0].clone(), &subs, registry).unwrap();
        let handler = FeedHandler::new(
            adapter,
            Box::new(QueuedSnapshots::new()),
            FeedConfig::default(),
        );
        add_feed(&engine.handle(), handler, test_options(), &[], &[cid]).unwrap();
        Vec::new()
    }
}

impl Run {
    fn instrument(&self, product: &str) -> InstrumentId {
        self.registry
            .lookup(self.venue.name, product)
            .expect("interned")
    }
}

fn ab_pair(v: Venue) {
    let mut run = start(v, vec![faults_a(v), faults_b(v)]);
    assert_eq!(run.ab.monitors.len(), 1, "one connection over two lines");
    run.ab.wait("both books", Duration::from_secs(10), |e| {
        snapshot_runs(e) >= 2
    });
    run.ab
        .wait("both lines' drops", Duration::from_secs(20), |e| {
            line_down(e, 0) && line_down(e, 1)
        });
    std::thread::sleep(Duration::from_millis(300));
    let report = run.ab.monitors[0].report();
    // The stream's position when the consumer stopped.
    let head = run.sims[0].current_event();
    let events = run.ab.finish();
    let timeline = || tickwire_tests::consume::status_timeline(&events, run.ab.origin);
    for kind in [
        StatusKind::Gap,
        StatusKind::Resync,
        StatusKind::Disconnected,
        StatusKind::Reconnecting,
        StatusKind::Overflow,
        StatusKind::SnapshotFailed,
        StatusKind::SubscriptionError,
    ] {
        assert_eq!(
            count_status(&events, kind),
            0,
            "{kind:?}: {:#?}; {report:?}",
            timeline()
        );
    }
    // Both lines had their book faults and drops; the books changed hands.
    let stats: Vec<_> = run.sims.iter().map(SimServer::stats).collect();
    assert!(stats.iter().all(|s| s.gaps + s.checksums >= 1), "{stats:?}");
    assert!(report.failovers >= 3, "{report:?}; {:#?}", timeline());
    assert_eq!(report.gaps, 0, "{report:?}");

    let mut books: HashMap<InstrumentId, Book> = HashMap::new();
    let mut trades: HashMap<InstrumentId, Vec<u64>> = HashMap::new();
    for e in &events {
        match e.kind() {
            EventKind::BookLevel => {
                let book = books
                    .entry(e.instrument)
                    .or_insert_with(|| Book::new(BookConfig::with_depth(5000)));
                book.apply_event(e).unwrap();
                if e.flags.contains(Flags::LAST_IN_BATCH) {
                    assert!(book.is_valid(), "a book published invalid");
                }
            }
            EventKind::Trade => match e.trade_id() {
                Some(TradeId::Number(n)) => trades.entry(e.instrument).or_default().push(n),
                other => panic!("trade id {other:?}"),
            },
            _ => {}
        }
    }
    let venue = run.sims[0].venue().clone();
    for name in v.products {
        let inst = run.instrument(name);
        let book = &books[&inst];
        assert!(book.is_valid(), "{name}");
        // The last two seconds of the stream (both products share the event counter).
        let lo = head.saturating_sub(4 * RATE);
        tickwire_tests::book_model::assert_matches_sim_within(
            venue.as_ref(),
            name,
            book,
            lo..head + RATE,
            v.depth,
        );
        let t = &trades[&inst];
        assert!(t.len() > 50, "{name}: only {} trades", t.len());
        let unique: BTreeSet<u64> = t.iter().copied().collect();
        assert_eq!(unique.len(), t.len(), "{name}: a trade twice");
        if let Some(w) = t.windows(2).find(|w| w[1] != w[0] + 1) {
            panic!("{name}: trade {} after {}", w[1], w[0]);
        }
    }
}

fn one_line_alone(v: Venue) {
    let mut run = start(v, vec![faults_a(v)]);
    assert!(run.ab.monitors.is_empty(), "one line: a plain connection");
    run.ab.wait(
        "the book fault and the drop",
        Duration::from_secs(15),
        |e| {
            count_status(e, StatusKind::Resync) >= 1
                && count_status(e, StatusKind::Disconnected) >= 1
        },
    );
    let events = run.ab.finish();
    assert!(
        count_status(&events, StatusKind::Resync) >= 2,
        "the book fault's and the drop's"
    );
}

#[test]
fn a_coinbase_ab_pair_fails_over_through_gaps_drops_and_stalls_of_each_line() {
    ab_pair(COINBASE);
}

#[test]
fn one_coinbase_line_alone_shows_the_same_faults() {
    one_line_alone(COINBASE);
}

#[test]
fn a_kraken_ab_pair_fails_over_through_checksum_faults_drops_and_stalls_of_each_line() {
    ab_pair(KRAKEN);
}

#[test]
fn one_kraken_line_alone_shows_the_same_faults() {
    one_line_alone(KRAKEN);
}
