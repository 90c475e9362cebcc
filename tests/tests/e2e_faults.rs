//! End to end: the engine running the Binance feed (adapter, REST snapshots, book sync)
//! against the venue simulator on 127.0.0.1, one test per simulator fault.
//!
//! Every test checks, beyond the fault's own signal, that nothing was lost silently: a
//! consumer book rebuilt from the events alone equals the simulator's model book at every
//! consistent point, the diffs delivered between resyncs form the venue's unbroken chain, and
//! trade ids only jump where a status says why ([`ModelCheck`]). Timeouts are generous; the
//! assertions bound counts and order, not timings.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use tickwire_engine::adapter::{
    FeedConfig, FeedHandler, SnapshotSource, StreamKind, connection_config,
};
use tickwire_engine::config::{ConnectionOptions, EngineConfig};
use tickwire_engine::event::{EventKind, Flags, Status, StatusKind};
use tickwire_engine::ring::Consumer;
use tickwire_engine::{Engine, Event, FeedAdapter, InstrumentId, Reason, Registry};
use tickwire_feeds::binance::{
    BinanceAdapter, BinanceConfig, Channel, DepthSpeed, Market, RestSnapshots, Subscription,
};
use tickwire_tests::model::ModelCheck;
use tickwire_tests::test_options;
use tickwire_tests::tls_rest::TlsRestSnapshots;
use tickwire_tools::sim::{self, Fault, SimConfig, SimServer};

const T: Duration = Duration::from_secs(30);

fn sim_config(market: sim::Market) -> SimConfig {
    let mut c = SimConfig::new(market);
    c.symbols = vec!["btcusdt".into(), "ethusdt".into()];
    c.rate = 2000;
    c.tape_len = 1024;
    c.inbound_limit = None;
    c
}

struct Rig {
    sim: SimServer,
    engine: Option<Engine>,
    consumer: Consumer,
    check: ModelCheck,
    events: Vec<Event>,
    books: Vec<InstrumentId>,
}

impl Rig {
    /// Starts the simulator and an engine with one Binance connection to it (trades,
    /// bookTicker and 100 ms depth for every simulated symbol). `tweak` adjusts the
    /// connection options after the adapter's heartbeat rules are applied.
    fn start(sim: SimConfig, ring: usize, tweak: impl FnOnce(&mut ConnectionOptions)) -> Rig {
        let tls = sim.tls;
        let sim = SimServer::start(sim).unwrap();
        let market = match sim.market() {
            Some(sim::Market::UsdM) => Market::UsdM,
            _ => Market::Spot,
        };
        let registry = Registry::new();
        let mut config = BinanceConfig::for_market(market);
        config.ws_base = Some(sim.ws_url());
        config.rest_base = Some(sim.rest_url());
        config.usdm_routed = false;
        // The simulator's books hold at most 300 levels a side: a depth of 1000 covers them
        // and lets a feed accept rings of 2001 events and more (its deepest snapshot run and
        // the overflow report before it), as the slow-consumer test's ring of 4096.
        config.book_depth = 1000;
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
        let adapter = BinanceAdapter::new(config.clone(), &subs, &registry).unwrap();
        let books: Vec<InstrumentId> = adapter.books().iter().map(|b| b.instrument).collect();
        let root = sim.cert_pem().map(|pem| {
            CertificateDer::from_pem_slice(pem.as_bytes())
                .unwrap()
                .to_vec()
        });
        let snapshots: Box<dyn SnapshotSource> = match &root {
            Some(der) => {
                let paths: HashMap<InstrumentId, String> = symbols
                    .iter()
                    .map(|s| {
                        // The path and query of the snapshot URL (after `scheme://host:port`).
                        let url = config.snapshot_url(s);
                        let host_at = url.find("//").unwrap() + 2;
                        let path = url[host_at + url[host_at..].find('/').unwrap()..].to_string();
                        (registry.lookup(market.venue(), s).unwrap(), path)
                    })
                    .collect();
                Box::new(TlsRestSnapshots::spawn(sim.local_addr(), der, paths))
            }
            None => Box::new(RestSnapshots::spawn(&config, &registry, &symbol_refs).unwrap()),
        };
        assert_eq!(tls, root.is_some());
        let handler = FeedHandler::new(adapter, snapshots, FeedConfig::default());
        let mut cc = connection_config(handler.adapter(), test_options()).unwrap();
        tweak(cc.options.as_mut().unwrap());
        if let Some(der) = &root {
            cc = cc.trust_root_der(der);
        }
        let mut b = Engine::builder(EngineConfig::default());
        let (cid, consumer) = b.consumer(ring);
        let engine = b.start().unwrap();
        engine
            .handle()
            .add_connection(cc, Box::new(handler), &[cid])
            .unwrap();
        let check = ModelCheck::new(
            sim.binance_venue().unwrap().clone(),
            registry,
            market.venue(),
            config.book_depth,
        );
        Rig {
            sim,
            engine: Some(engine),
            consumer,
            check,
            events: Vec::new(),
            books,
        }
    }

    /// Pops and checks events until `done` holds; panics after [`T`].
    fn pump_until(&mut self, what: &str, done: impl Fn(&Rig) -> bool) {
        let deadline = Instant::now() + T;
        loop {
            let mut got = false;
            while let Some(e) = self.consumer.pop() {
                self.check.apply(&e);
                self.events.push(e);
                got = true;
            }
            if done(self) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {} events, statuses {:?}, violations {:?}",
                self.events.len(),
                self.statuses_since(0),
                self.check.violations().iter().take(5).collect::<Vec<_>>()
            );
            if !got {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }

    /// Pops and checks events for `d`.
    fn pump_for(&mut self, d: Duration) {
        let end = Instant::now() + d;
        self.pump_until("time", |_| Instant::now() >= end);
    }

    fn mark(&self) -> usize {
        self.events.len()
    }

    fn statuses_since(&self, from: usize) -> Vec<(usize, Status, InstrumentId)> {
        self.events[from.min(self.events.len())..]
            .iter()
            .enumerate()
            .filter_map(|(i, e)| e.as_status().map(|s| (from + i, s, e.instrument)))
            .collect()
    }

    fn count_since(&self, from: usize, kind: StatusKind) -> usize {
        self.statuses_since(from)
            .iter()
            .filter(|(_, s, _)| s.kind == kind)
            .count()
    }

    fn first_since(&self, from: usize, kind: StatusKind) -> Option<(usize, Status)> {
        self.statuses_since(from)
            .into_iter()
            .find(|(_, s, _)| s.kind == kind)
            .map(|(i, s, _)| (i, s))
    }

    /// Every book got a snapshot run after `from`, then at least `diffs` diffs and `trades`
    /// trades flowed.
    fn flowing_since(&self, from: usize, diffs: usize, trades: usize) -> bool {
        self.flowing_since_for(&self.books, from, diffs, trades)
    }

    /// Each of `books` got a snapshot run after `from`, then at least `diffs` diffs and
    /// `trades` trades flowed.
    fn flowing_since_for(
        &self,
        books: &[InstrumentId],
        from: usize,
        diffs: usize,
        trades: usize,
    ) -> bool {
        let evs = &self.events[from.min(self.events.len())..];
        let mut synced_at = 0;
        for b in books {
            match evs.iter().position(|e| {
                e.instrument == *b
                    && e.kind() == EventKind::BookLevel
                    && e.flags.contains(Flags::SNAPSHOT.with(Flags::LAST_IN_BATCH))
            }) {
                Some(i) => synced_at = synced_at.max(i),
                None => return false,
            }
        }
        let after = &evs[synced_at..];
        let d = after
            .iter()
            .filter(|e| {
                e.kind() == EventKind::BookLevel
                    && e.flags.contains(Flags::LAST_IN_BATCH)
                    && !e.flags.contains(Flags::SNAPSHOT)
            })
            .count();
        let t = after
            .iter()
            .filter(|e| e.kind() == EventKind::Trade)
            .count();
        d >= diffs && t >= trades
    }

    /// Connected after `from`, books re-synced after that, data flowing.
    fn recovered_since(&self, from: usize) -> bool {
        match self.first_since(from, StatusKind::Connected) {
            Some((i, _)) => self.flowing_since(i, 30, 5),
            None => false,
        }
    }

    /// Waits for the first sync and some data.
    fn live(&mut self) {
        self.pump_until("first sync and data", |r| {
            r.count_since(0, StatusKind::Connected) == 1 && r.flowing_since(0, 30, 5)
        });
    }

    fn inject(&self, fault: Fault) {
        assert_eq!(self.sim.inject(fault), 1, "one session gets the fault");
    }

    /// Asserts every book got a `Resync` after `from` (each instrument, reason `reason`).
    fn assert_books_resynced(&self, from: usize, reason: Reason) {
        for b in &self.books {
            assert!(
                self.statuses_since(from)
                    .iter()
                    .any(|(_, s, i)| s.kind == StatusKind::Resync
                        && *i == *b
                        && s.reason == reason.code()),
                "no resync ({reason:?}) for {b:?}: {:?}",
                self.statuses_since(from)
            );
        }
    }

    /// Stops the engine (connections close, books resync) and drains what is left.
    fn stop(&mut self) {
        if let Some(engine) = self.engine.take() {
            engine.join().unwrap();
        }
        while let Some(e) = self.consumer.pop() {
            self.check.apply(&e);
            self.events.push(e);
        }
    }

    /// Stops, then checks the model invariants held and enough was checked.
    fn finish(mut self) -> ModelCheck {
        self.stop();
        self.check.assert_clean();
        let c = self.check.checked();
        assert!(
            c.snapshots >= self.books.len() as u64 && c.diffs >= 60 && c.links >= 50,
            "{c:?}"
        );
        self.check
    }
}

/// A lost connection (no close frame) after the fault; recovery and resync with `reason`.
fn recovers_from(fault: Fault, reason: Reason, tweak: impl FnOnce(&mut ConnectionOptions)) {
    let mut rig = Rig::start(sim_config(sim::Market::Spot), 1 << 16, tweak);
    rig.live();
    let at = rig.mark();
    rig.inject(fault);
    rig.pump_until("disconnect, reconnect, resync, data", |r| {
        r.first_since(at, StatusKind::Disconnected).is_some()
            && r.recovered_since(r.first_since(at, StatusKind::Disconnected).unwrap().0)
    });
    let (down, s) = rig.first_since(at, StatusKind::Disconnected).unwrap();
    assert_eq!(
        Reason::from_code(s.reason),
        Some(reason),
        "{:?}",
        rig.statuses_since(at)
    );
    // The books were invalidated in band, with the same reason, before any new data.
    rig.assert_books_resynced(down, reason);
    assert_eq!(rig.count_since(at, StatusKind::Disconnected), 1);
    assert_eq!(rig.count_since(0, StatusKind::Connected), 2);
    assert!(rig.count_since(at, StatusKind::Reconnecting) >= 1);
    rig.finish();
}

#[test]
fn dropped_connection_reconnects_and_resyncs() {
    recovers_from(Fault::Drop, Reason::Io, |_| {});
}

#[test]
fn close_frame_from_the_venue_reconnects_and_resyncs() {
    recovers_from(Fault::Close(1011), Reason::PeerClosed, |_| {});
}

#[test]
fn oversized_frame_closes_1009_and_reconnects() {
    recovers_from(Fault::Oversized(256 * 1024), Reason::TooBig, |o| {
        o.max_frame = 64 * 1024;
        o.max_message = 64 * 1024;
    });
}

#[test]
fn invalid_utf8_closes_1007_and_reconnects() {
    recovers_from(Fault::InvalidUtf8, Reason::InvalidUtf8, |_| {});
}

#[test]
fn unanswered_pings_recycle_the_connection() {
    recovers_from(Fault::NoPongs(sim::FOREVER), Reason::PongTimeout, |o| {
        o.ping_interval = Some(Duration::from_millis(100));
        o.pong_timeout = Duration::from_millis(400);
    });
}

#[test]
fn silence_within_the_stale_limit_catches_up_and_past_it_recycles() {
    let mut c = sim_config(sim::Market::Spot);
    c.ping_interval = Duration::from_millis(100);
    let mut rig = Rig::start(c, 1 << 16, |o| {
        o.stale_after = Some(Duration::from_millis(1000))
    });
    rig.live();
    // Shorter than the stale limit: nothing at all for a while, then the backlog.
    let at = rig.mark();
    rig.inject(Fault::Silent(Duration::from_millis(200)));
    rig.pump_for(Duration::from_millis(600));
    assert!(
        rig.statuses_since(at).is_empty(),
        "{:?}",
        rig.statuses_since(at)
    );
    rig.pump_until("data after the short silence", |r| {
        r.flowing_since(0, 60, 10)
    });
    // Longer: Stale, then the connection is recycled.
    let at = rig.mark();
    rig.inject(Fault::Silent(Duration::from_secs(3)));
    rig.pump_until("stale, reconnect, resync, data", |r| {
        r.first_since(at, StatusKind::Stale).is_some() && r.recovered_since(at)
    });
    let (stale, _) = rig.first_since(at, StatusKind::Stale).unwrap();
    let (down, s) = rig.first_since(at, StatusKind::Disconnected).unwrap();
    assert!(stale < down);
    assert_eq!(Reason::from_code(s.reason), Some(Reason::Stale));
    // Per-stream detection (issue 17) may invalidate the books before the recycle.
    rig.assert_books_resynced(at, Reason::Stale);
    rig.finish();
}

/// Issue 17: at 5,000 events/s a connection that goes silent (open, sending nothing) is
/// noticed per stream within 1.5 s (the venue floor of depth@100ms is 1 s), by silence as the
/// engine saw it (the receive time of the last data message to the `Stale` status), and
/// recycled at once: no pong deadline, no 60 s fixed limit. Books are invalidated in band;
/// the new session resyncs, and the streams report back (`Resumed`).
#[test]
fn a_silent_connection_is_noticed_per_stream_within_1_5_s_and_recycled() {
    let mut c = sim_config(sim::Market::Spot);
    c.symbols = vec!["btcusdt".into()];
    c.rate = 5000;
    let mut rig = Rig::start(c, 1 << 18, |_| {});
    rig.live();
    // Every stream has seen its warm-up gaps (50) many times over.
    rig.pump_for(Duration::from_millis(1000));
    let at = rig.mark();
    let injected = Instant::now();
    rig.inject(Fault::Silent(Duration::from_secs(60)));
    rig.pump_until("per-stream stale", |r| {
        r.statuses_since(at)
            .iter()
            .any(|(_, s, i)| s.kind == StatusKind::Stale && *i != InstrumentId::NONE)
    });
    let wall = injected.elapsed();
    let (first, _, _) = rig
        .statuses_since(at)
        .into_iter()
        .find(|(_, s, i)| s.kind == StatusKind::Stale && *i != InstrumentId::NONE)
        .unwrap();
    let last_data = rig.events[..first]
        .iter()
        .rev()
        .find(|e| e.kind() != EventKind::Status)
        .unwrap()
        .recv_ts;
    let silence_ns = rig.events[first].recv_ts - last_data;
    println!(
        "issue 17: stale after {:.0} ms of silence (engine clock), {:.0} ms after the fault was injected (wall)",
        silence_ns as f64 / 1e6,
        wall.as_secs_f64() * 1e3
    );
    // The detector counts from when the handler saw the message, a little after its receive
    // time: the floor of 1 s shows as a hair under 1 s here.
    assert!(
        (900_000_000..=1_500_000_000).contains(&silence_ns),
        "{silence_ns} ns: {:?}",
        rig.statuses_since(at)
    );
    rig.pump_until("recycle, reconnect, resync, data", |r| {
        r.first_since(at, StatusKind::Disconnected).is_some() && r.recovered_since(at)
    });
    let (down, s) = rig.first_since(at, StatusKind::Disconnected).unwrap();
    assert_eq!(Reason::from_code(s.reason), Some(Reason::Stale));
    // Recycled at once: by the feed (every stream stale), not a pong or the fixed limit.
    let recycle_ns = rig.events[down].recv_ts - last_data;
    assert!(recycle_ns < 2_000_000_000, "{recycle_ns}");
    // Each of trade, book and BBO went stale before the recycle; the book was resynced.
    for kind in [StreamKind::Trade, StreamKind::Book, StreamKind::Bbo] {
        assert!(
            rig.statuses_since(at).iter().any(|(n, s, _)| *n < down
                && s.kind == StatusKind::Stale
                && StreamKind::from_status_value(s.value) == Some(kind)),
            "{kind:?}: {:?}",
            rig.statuses_since(at)
        );
    }
    rig.assert_books_resynced(at, Reason::Stale);
    rig.pump_until("streams report back", |r| {
        r.count_since(at, StatusKind::Resumed) >= 3
    });
    rig.finish();
}

#[test]
fn missing_server_pings_and_a_slow_reading_venue_keep_the_session() {
    let mut c = sim_config(sim::Market::Spot);
    c.ping_interval = Duration::from_millis(50);
    let mut rig = Rig::start(c, 1 << 16, |o| {
        o.ping_interval = Some(Duration::from_millis(100));
        o.pong_timeout = Duration::from_secs(3);
    });
    rig.live();
    rig.pump_until("the engine answers server pings", |r| {
        r.sim.stats().pongs > 0
    });
    let at = rig.mark();
    let pongs = rig.sim.stats().pongs;
    rig.inject(Fault::NoPings(Duration::from_millis(500)));
    rig.pump_for(Duration::from_millis(800));
    // The venue stops reading: our pings wait in its socket, data keeps coming.
    rig.inject(Fault::ReadSlowly(Duration::from_millis(800)));
    let during = rig.mark();
    rig.pump_for(Duration::from_millis(700));
    assert!(rig.flowing_since(0, 60, 10));
    let trades_during = rig.events[during..]
        .iter()
        .filter(|e| e.kind() == EventKind::Trade)
        .count();
    assert!(
        trades_during >= 5,
        "data flows while the venue does not read"
    );
    rig.pump_for(Duration::from_millis(800));
    assert!(
        rig.statuses_since(at).is_empty(),
        "{:?}",
        rig.statuses_since(at)
    );
    assert!(
        rig.sim.stats().pongs > pongs,
        "pongs resumed after the pause"
    );
    rig.finish();
}

#[test]
fn slow_reading_venue_past_the_pong_timeout_recycles() {
    recovers_from(
        Fault::ReadSlowly(Duration::from_secs(2)),
        Reason::PongTimeout,
        |o| {
            o.ping_interval = Some(Duration::from_millis(100));
            o.pong_timeout = Duration::from_millis(400);
        },
    );
}

fn gap_resyncs(market: sim::Market) {
    let mut rig = Rig::start(sim_config(market), 1 << 16, |_| {});
    rig.live();
    let at = rig.mark();
    rig.inject(Fault::Gap);
    rig.pump_until("gap, resync, snapshot, data", |r| {
        r.statuses_since(at)
            .iter()
            .find(|(_, s, _)| s.kind == StatusKind::Gap)
            .is_some_and(|(i, _, inst)| r.flowing_since_for(&[*inst], *i, 30, 5))
    });
    let statuses = rig.statuses_since(at);
    let kinds: Vec<StatusKind> = statuses.iter().map(|(_, s, _)| s.kind).collect();
    // One gap on one book, flagged Gap then Resync; the connection stays.
    assert_eq!(kinds, [StatusKind::Gap, StatusKind::Resync], "{statuses:?}");
    let (gap_i, gap, inst) = statuses[0];
    assert_eq!(statuses[1].2, inst);
    // The Gap names the update id it expected: one past the last diff delivered.
    let last_u = rig.events[..gap_i]
        .iter()
        .rev()
        .find(|e| e.instrument == inst && e.flags.contains(Flags::LAST_IN_BATCH))
        .and_then(|e| e.as_level())
        .unwrap()
        .seq;
    assert_eq!(gap.value, last_u + 1);
    assert_eq!(rig.sim.stats().gaps, 1);
    rig.finish();
}

#[test]
fn gap_in_the_spot_chain_resyncs_from_a_fresh_snapshot() {
    gap_resyncs(sim::Market::Spot);
}

#[test]
fn gap_in_the_usdm_chain_resyncs_from_a_fresh_snapshot() {
    gap_resyncs(sim::Market::UsdM);
}

#[test]
fn malformed_json_is_flagged_and_skipped() {
    let mut rig = Rig::start(sim_config(sim::Market::Spot), 1 << 16, |_| {});
    rig.live();
    let at = rig.mark();
    rig.inject(Fault::Malformed);
    // Data flows after the error, and a book whose diff was cut is whole again.
    rig.pump_until("decode error, then data", |r| {
        let resynced: Vec<InstrumentId> = r
            .statuses_since(at)
            .iter()
            .filter(|(_, s, _)| s.kind == StatusKind::Resync)
            .map(|(_, _, i)| *i)
            .collect();
        r.first_since(at, StatusKind::DecodeError)
            .is_some_and(|(i, _)| r.flowing_since_for(&resynced, i, 30, 5))
    });
    let statuses = rig.statuses_since(at);
    let (_, s) = rig.first_since(at, StatusKind::DecodeError).unwrap();
    assert_eq!(Reason::from_code(s.reason), Some(Reason::Json));
    assert_eq!(rig.count_since(at, StatusKind::DecodeError), 1);
    assert_eq!(rig.count_since(at, StatusKind::Disconnected), 0);
    // If the cut message was a book diff, the chain broke there: flagged and resynced.
    let gaps = rig.count_since(at, StatusKind::Gap);
    assert!(gaps <= 1, "{statuses:?}");
    assert_eq!(rig.count_since(at, StatusKind::Resync), gaps);
    rig.finish();
}

#[test]
fn server_shutdown_rotates_the_connection() {
    let mut c = sim_config(sim::Market::Spot);
    c.shutdown_grace = Duration::from_millis(300);
    let mut rig = Rig::start(c, 1 << 16, |_| {});
    rig.live();
    let at = rig.mark();
    rig.inject(Fault::ServerShutdown);
    rig.pump_until("rotation, reconnect, resync, data", |r| {
        r.first_since(at, StatusKind::Disconnected)
            .is_some_and(|(i, _)| r.recovered_since(i))
    });
    let (rot, s) = rig.first_since(at, StatusKind::Rotating).unwrap();
    assert_eq!(Reason::from_code(s.reason), Some(Reason::ServerShutdown));
    let (down, s) = rig.first_since(at, StatusKind::Disconnected).unwrap();
    assert!(rot < down);
    assert_eq!(
        Reason::from_code(s.reason),
        Some(Reason::ServerShutdown),
        "{:?}",
        rig.statuses_since(at)
    );
    rig.assert_books_resynced(down, Reason::ServerShutdown);
    rig.finish();
}

#[test]
fn a_slow_consumer_sees_overflow_with_the_exact_count() {
    // Room for the snapshot runs (at most 300 levels a side per book), not for a second of
    // the feed (about 8000 events).
    let mut rig = Rig::start(sim_config(sim::Market::Spot), 4096, |_| {});
    rig.live();
    // Stop consuming while the feed goes on: the ring overflows.
    let dropped_before = rig.consumer.stats().dropped();
    // Until the ring has dropped something (about half a second at the simulator's rate; a
    // loaded machine's simulator is slower, so no fixed sleep).
    let stall_until = Instant::now() + T;
    while rig.consumer.stats().dropped() == dropped_before {
        assert!(Instant::now() < stall_until, "the ring never overflowed");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    let at = rig.mark();
    rig.pump_until("overflow reported", |r| {
        r.first_since(at, StatusKind::Overflow).is_some()
    });
    let dropped = rig.consumer.stats().dropped() - dropped_before;
    assert!(dropped > 0);
    let reported: u64 = rig
        .statuses_since(0)
        .iter()
        .filter(|(_, s, _)| s.kind == StatusKind::Overflow)
        .map(|(_, s, _)| s.value)
        .sum();
    // Every dropped event is counted in band (later drops may still be pending).
    assert!(reported <= rig.consumer.stats().dropped(), "{reported}");
    assert!(reported >= dropped.min(1));
    // The consumer's books are invalid from the overflow on, until the feed republishes its
    // own validated books as snapshot runs (once the ring has room): valid again without a
    // gap, a resync or a venue round trip.
    let (overflow, _) = rig.first_since(at, StatusKind::Overflow).unwrap();
    let books = rig.books.clone();
    rig.pump_until("books republished after the overflow", |r| {
        books.iter().all(|b| {
            r.check.book_valid(*b)
                && r.events[overflow..].iter().any(|e| {
                    e.instrument == *b
                        && e.flags.contains(Flags::SNAPSHOT.with(Flags::LAST_IN_BATCH))
                })
        })
    });
    assert_eq!(rig.count_since(overflow, StatusKind::Resync), 0);
    assert_eq!(rig.count_since(overflow, StatusKind::Gap), 0);
    // After the engine stops, every event dropped has been reported, exactly.
    rig.stop();
    let reported: u64 = rig
        .statuses_since(0)
        .iter()
        .filter(|(_, s, _)| s.kind == StatusKind::Overflow)
        .map(|(_, s, _)| s.value)
        .sum();
    assert_eq!(reported, rig.consumer.stats().dropped());
    let check = rig.finish();
    assert!(check.checked().skipped_invalid > 0, "{:?}", check.checked());
}

#[test]
fn tls_feed_syncs_and_recovers_over_wss() {
    let mut c = sim_config(sim::Market::Spot);
    c.tls = true;
    let mut rig = Rig::start(c, 1 << 16, |_| {});
    assert!(rig.sim.ws_url().starts_with("wss://"));
    rig.live();
    let at = rig.mark();
    rig.inject(Fault::Drop);
    rig.pump_until("reconnect over TLS", |r| {
        r.first_since(at, StatusKind::Disconnected)
            .is_some_and(|(i, _)| r.recovered_since(i))
    });
    let (_, s) = rig.first_since(at, StatusKind::Disconnected).unwrap();
    // A TCP drop under TLS: an I/O or TLS (no close_notify) failure, never silent.
    assert!(
        matches!(Reason::from_code(s.reason), Some(Reason::Io | Reason::Tls)),
        "{s:?}"
    );
    rig.finish();
}
