//! Record, then replay: the engine runs the Binance feed against the simulator (with a gap,
//! a malformed message and a dropped connection on the way) while a [`Recorder`] journals
//! what each feed handler is given; replaying the journal must publish the same events, in
//! the same order, with the same receive times.
//!
//! Compared: everything the live consumer got except the engine's timer statuses
//! (`Reconnecting`, `Stale`, which a journal does not hold); `Connected` without its receive
//! time (the engine stamps it when the subscriptions are written, replay at the session
//! start). Publish stamps (stage histograms) are cleared on both sides.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use flate2::Compression;
use tickwire_engine::adapter::{FeedConfig, FeedHandler, connection_config};
use tickwire_engine::config::EngineConfig;
use tickwire_engine::event::{EventKind, Flags, StatusKind};
use tickwire_engine::raw::raw_channel;
use tickwire_engine::{Engine, Event, Registry};
use tickwire_feeds::binance::{
    BinanceAdapter, BinanceConfig, Channel, DepthSpeed, Market, RestSnapshots, Subscription,
    plan_connections,
};
use tickwire_tests::test_options;
use tickwire_tools::journal::{
    Format, Header, JournalWriter, Recorder, Replay, ReplayOptions, TeeSnapshots, spawn_writer,
};
use tickwire_tools::sim::{self, Fault, SimConfig, SimServer};

const T: Duration = Duration::from_secs(30);

struct Live {
    events: Vec<Event>,
    journal: PathBuf,
    connections: usize,
}

fn journal_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "tickwire-e2e-{}-{name}.journal.gz",
        std::process::id()
    ))
}

/// Runs the feed against `sim` with a recorder per connection, applies `script` (which
/// injects faults and waits on the events so far), stops, and returns what the consumer got
/// and the journal.
fn record(
    sim: &SimServer,
    market: Market,
    routed: bool,
    name: &str,
    script: impl Fn(&SimServer, &mut dyn FnMut(&str, &dyn Fn(&[Event]) -> bool)),
) -> Live {
    let registry = Registry::new();
    let mut config = BinanceConfig::for_market(market);
    config.ws_base = Some(sim.ws_url());
    config.rest_base = Some(sim.rest_url());
    config.usdm_routed = routed;
    let symbols: Vec<String> = sim
        .venue()
        .lower_names()
        .iter()
        .map(|s| s.to_ascii_uppercase())
        .collect();
    let symbol_refs: Vec<&str> = symbols.iter().map(String::as_str).collect();
    let subs = Subscription::product(
        &symbol_refs,
        &[
            Channel::Trade,
            Channel::BookTicker,
            Channel::Depth(DepthSpeed::Ms100),
        ],
    );
    let streams: Vec<String> = subs.iter().map(Subscription::stream).collect();
    let mut b = Engine::builder(EngineConfig::default());
    let (cid, mut consumer) = b.consumer(1 << 18);
    let engine = b.start().unwrap();
    let mut rings = Vec::new();
    let groups = plan_connections(&config, &subs);
    for group in &groups {
        let adapter = BinanceAdapter::new(config.clone(), group, &registry).unwrap();
        let names = symbol_refs
            .iter()
            .filter_map(|s| adapter.instrument(s).map(|i| (i, (*s).to_owned())))
            .collect();
        let rest = RestSnapshots::spawn(&config, &registry, &symbol_refs).unwrap();
        let (tee, tap) = TeeSnapshots::new(rest, names);
        let handler = FeedHandler::new(adapter, Box::new(tee), FeedConfig::default());
        let cc = connection_config(handler.adapter(), test_options()).unwrap();
        let (producer, ring) = raw_channel(8 << 20);
        let group_streams: Vec<String> = group.iter().map(Subscription::stream).collect();
        let recorder = Recorder::new(handler, producer, &group_streams).with_snapshots(tap);
        engine
            .handle()
            .add_connection(cc, Box::new(recorder), &[cid])
            .unwrap();
        rings.push(ring);
    }
    let journal = journal_path(name);
    // As `tickwire record` writes it: each block its own gzip member.
    let out = BufWriter::new(File::create(&journal).unwrap());
    let header = Header::new(market.venue(), &streams, 1);
    let sink = spawn_writer(
        rings,
        JournalWriter::gzip(out, &header, Compression::fast()).unwrap(),
    )
    .unwrap();

    let mut events = Vec::new();
    let mut wait = |what: &str, done: &dyn Fn(&[Event]) -> bool| {
        let deadline = Instant::now() + T;
        loop {
            while let Some(e) = consumer.pop() {
                events.push(e);
            }
            if done(&events) {
                return;
            }
            if Instant::now() >= deadline {
                let statuses: Vec<String> = events
                    .iter()
                    .filter_map(|e| e.as_status())
                    .map(|s| format!("{:?}/c{}/r{}/v{}", s.kind, s.connection, s.reason, s.value))
                    .collect();
                panic!("timed out waiting for {what}; statuses: {statuses:?}");
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    };
    script(sim, &mut wait);
    engine.join().unwrap();
    while let Some(e) = consumer.pop() {
        events.push(e);
    }
    assert_eq!(consumer.stats().dropped(), 0);
    let (stats, writer, result) = sink.finish();
    result.unwrap();
    writer.into_inner().unwrap().flush().unwrap();
    assert_eq!(stats.lost, 0);
    assert!(stats.snapshots >= 2, "{stats:?}");
    Live {
        events,
        journal,
        connections: groups.len(),
    }
}

fn status_count(events: &[Event], kind: StatusKind) -> usize {
    events
        .iter()
        .filter(|e| e.as_status().is_some_and(|s| s.kind == kind))
        .count()
}

fn snapshot_runs(events: &[Event]) -> usize {
    events
        .iter()
        .filter(|e| e.flags.contains(Flags::SNAPSHOT.with(Flags::LAST_IN_BATCH)))
        .count()
}

/// After the `connects`-th `Connected`: a snapshot run for each of two books (when
/// `trades` is 0) or `trades` trades. Data flows (again).
fn flowing_after_reconnect(events: &[Event], connects: usize, trades: usize) -> bool {
    let mut seen = 0;
    let Some(at) = events.iter().position(|e| {
        if e.as_status()
            .is_some_and(|s| s.kind == StatusKind::Connected)
        {
            seen += 1;
        }
        seen == connects
    }) else {
        return false;
    };
    let after = &events[at..];
    if trades == 0 {
        return after
            .iter()
            .filter(|e| {
                e.kind() == EventKind::BookLevel
                    && e.flags.contains(Flags::SNAPSHOT.with(Flags::LAST_IN_BATCH))
            })
            .count()
            >= 2;
    }
    after
        .iter()
        .filter(|e| e.kind() == EventKind::Trade)
        .count()
        >= trades
}

/// The comparable form of an event (see the module docs).
fn normalized(e: &Event) -> Option<Event> {
    let mut e = *e;
    e.stamp_published(0);
    match e.as_status().map(|s| s.kind) {
        Some(StatusKind::Reconnecting | StatusKind::Stale) => None,
        Some(StatusKind::Connected) => {
            e.recv_ts = 0;
            Some(e)
        }
        _ => Some(e),
    }
}

fn replay_all(path: &Path) -> (Vec<Event>, tickwire_tools::journal::Summary) {
    let mut replay = Replay::open(path, &ReplayOptions::default()).unwrap();
    assert_eq!(replay.format(), Format::Journal);
    let mut events = Vec::new();
    while let Some(step) = replay.step().unwrap() {
        events.extend_from_slice(step.events);
    }
    (events, replay.summary())
}

/// Index and both sides of the first difference, with a little context.
fn first_difference(live: &[Event], replayed: &[Event]) -> Option<String> {
    let n = live.len().min(replayed.len());
    let i = (0..n).find(|&i| live[i] != replayed[i]).unwrap_or(n);
    if i == n && live.len() == replayed.len() {
        return None;
    }
    Some(format!(
        "at {i} of {} live / {} replayed:\nlive     {:?}\nreplayed {:?}",
        live.len(),
        replayed.len(),
        live.get(i),
        replayed.get(i)
    ))
}

fn sim_config(market: sim::Market) -> SimConfig {
    let mut c = SimConfig::new(market);
    c.symbols = vec!["btcusdt".into(), "ethusdt".into()];
    c.rate = 2000;
    c.tape_len = 1024;
    c.inbound_limit = None;
    c
}

#[test]
fn record_then_replay_reproduces_every_event() {
    let sim = SimServer::start(sim_config(sim::Market::Spot)).unwrap();
    let live = record(&sim, Market::Spot, true, "spot", |sim, wait| {
        wait("first sync", &|e| {
            flowing_after_reconnect(e, 1, 0) && flowing_after_reconnect(e, 1, 10)
        });
        sim.inject(Fault::Gap);
        wait("gap and its resync", &|e| {
            status_count(e, StatusKind::Gap) == 1 && snapshot_runs(e) == 3
        });
        sim.inject(Fault::Malformed);
        wait("decode error", &|e| {
            status_count(e, StatusKind::DecodeError) == 1
        });
        sim.inject(Fault::Drop);
        wait("reconnect and data", &|e| {
            flowing_after_reconnect(e, 2, 0) && flowing_after_reconnect(e, 2, 100)
        });
    });
    assert_eq!(live.connections, 1);
    let (replayed, summary) = replay_all(&live.journal);
    let _ = std::fs::remove_file(&live.journal);
    let a: Vec<Event> = live.events.iter().filter_map(normalized).collect();
    let b: Vec<Event> = replayed.iter().filter_map(normalized).collect();
    if let Some(d) = first_difference(&a, &b) {
        panic!("replay differs from live {d}");
    }
    // What was exercised: two sessions, a gap, a decode error, snapshots, disconnects.
    assert_eq!(status_count(&b, StatusKind::Connected), 2);
    assert_eq!(status_count(&b, StatusKind::Disconnected), 2); // the drop, then shutdown
    assert_eq!(summary.gaps, status_count(&a, StatusKind::Gap) as u64);
    assert!(
        summary.gaps >= 1 && summary.decode_errors == 1,
        "{summary:?}"
    );
    let runs = snapshot_runs(&b) as u64;
    // Two books synced twice (start, reconnect) and once more after the gap.
    assert!(runs >= 5, "{runs} {summary:?}");
    assert_eq!(summary.snapshots_applied, runs, "{summary:?}");
    assert!(
        a.len() > 2000 && summary.trades > 100,
        "{} {summary:?}",
        a.len()
    );
}

#[test]
fn record_then_replay_two_usdm_connections() {
    let sim = SimServer::start(sim_config(sim::Market::UsdM)).unwrap();
    // USD-M routed: books and tickers on /public, trades on /market — two connections, two
    // rings merged into one journal.
    let live = record(&sim, Market::UsdM, true, "usdm", |sim, wait| {
        wait("first sync", &|e| {
            status_count(e, StatusKind::Connected) == 2
                && e.iter()
                    .filter(|e| e.flags.contains(Flags::SNAPSHOT.with(Flags::LAST_IN_BATCH)))
                    .count()
                    >= 2
                && e.iter().filter(|e| e.kind() == EventKind::Trade).count() >= 10
        });
        assert_eq!(sim.inject(Fault::Gap), 2);
        wait("gap", &|e| status_count(e, StatusKind::Gap) == 1);
        sim.inject(Fault::Drop);
        // Both connections back: book snapshots after the third Connected, trades after the
        // fourth.
        wait("both reconnected and data", &|e| {
            status_count(e, StatusKind::Connected) == 4
                && flowing_after_reconnect(e, 3, 0)
                && flowing_after_reconnect(e, 4, 100)
        });
    });
    assert_eq!(live.connections, 2);
    let (replayed, summary) = replay_all(&live.journal);
    let _ = std::fs::remove_file(&live.journal);
    // Connections are independent: compare each one's events (statuses by connection,
    // trades from /market, levels and BBOs from /public), each in order.
    let class = |e: &Event| match e.kind() {
        EventKind::Status => 100 + e.as_status().map_or(0, |s| s.connection),
        EventKind::Trade => 1,
        EventKind::BookLevel | EventKind::Bbo => 2,
    };
    let a: Vec<Event> = live.events.iter().filter_map(normalized).collect();
    let b: Vec<Event> = replayed.iter().filter_map(normalized).collect();
    assert_eq!(a.len(), b.len());
    // Connection ids are unique in the process (other tests add connections too).
    let mut conns: Vec<u32> = a
        .iter()
        .filter_map(|e| e.as_status())
        .map(|s| s.connection)
        .filter(|&c| c != 0)
        .collect();
    conns.sort_unstable();
    conns.dedup();
    assert_eq!(conns.len(), 2, "{conns:?}");
    for c in [1, 2].into_iter().chain(conns.iter().map(|&c| 100 + c)) {
        let pa: Vec<Event> = a.iter().filter(|e| class(e) == c).copied().collect();
        let pb: Vec<Event> = b.iter().filter(|e| class(e) == c).copied().collect();
        assert!(!pa.is_empty(), "class {c}");
        if let Some(d) = first_difference(&pa, &pb) {
            panic!("class {c}: replay differs from live {d}");
        }
    }
    assert_eq!(summary.sessions, 4);
    assert_eq!(summary.gaps, 1);
}
