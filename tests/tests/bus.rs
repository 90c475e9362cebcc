//! The NATS JetStream egress and remote consumer against a real `nats-server`
//! (`tickwire_tests::nats`): round trip, a broker SIGKILLed and restarted mid-run, a late
//! joiner's books, and the in-band gap when the egress buffer overflows.
//!
//! Events are pushed into an engine consumer ring by the test itself (as the I/O thread
//! would), from a small independent book model: each instrument gets a snapshot run, then
//! diffs, trades and BBOs; the model's books are what every rebuilt book must equal.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use tickwire_bus::{Egress, EgressConfig, From, Remote, RemoteConfig};
use tickwire_engine::event::{Bbo, Level, Status, Trade};
use tickwire_engine::ring::{self, EventProducer};
use tickwire_engine::{
    Decimal, Event, EventKind, Flags, InstrumentId, Reason, Registry, Side, StatusKind,
};
use tickwire_tests::nats::NatsServer;

const VENUE: &str = "binance";
const SYMBOLS: [&str; 3] = ["BTCUSDT", "ETHUSDT", "A.B*C"];

/// (price, qty) pairs, best first.
type Levels = Vec<(Decimal, Decimal)>;

/// Books of the model: price mantissa (scale 2) -> qty mantissa (scale 3), per side.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct ModelBook {
    bids: BTreeMap<i64, i64>,
    asks: BTreeMap<i64, i64>,
}

impl ModelBook {
    fn apply(&mut self, side: Side, price: i64, qty: i64) {
        let s = if side == Side::BID {
            &mut self.bids
        } else {
            &mut self.asks
        };
        if qty == 0 {
            s.remove(&price);
        } else {
            s.insert(price, qty);
        }
    }

    /// Levels best first, as `Book::bids` / `Book::asks` give them.
    fn levels(&self) -> (Levels, Levels) {
        let d = |(p, q): (&i64, &i64)| (Decimal::from_parts(*p, 2), Decimal::from_parts(*q, 3));
        (
            self.bids.iter().rev().map(d).collect(),
            self.asks.iter().map(d).collect(),
        )
    }
}

/// A deterministic event source (xorshift), with the model books it implies.
struct Feed {
    ids: Vec<InstrumentId>,
    books: Vec<ModelBook>,
    rng: u64,
    seq: u64,
    ts: u64,
}

impl Feed {
    fn new(registry: &Registry) -> Feed {
        Feed {
            ids: SYMBOLS.iter().map(|s| registry.intern(VENUE, s)).collect(),
            books: vec![ModelBook::default(); SYMBOLS.len()],
            rng: 0x9e37_79b9_7f4a_7c15,
            seq: 1000,
            ts: 1_700_000_000_000_000_000,
        }
    }

    fn rand(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    fn level(&mut self, i: usize, side: Side, price: i64, qty: i64, flags: Flags) -> Event {
        self.books[i].apply(side, price, qty);
        let l = Level {
            side,
            price: Decimal::from_parts(price, 2),
            qty: Decimal::from_parts(qty, 3),
            seq: self.seq,
        };
        Event::level(self.ids[i], l, flags, self.ts - 1_000, self.ts)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// A snapshot run of 10 levels a side for instrument `i`.
    fn snapshot(&mut self, i: usize) -> Vec<Event> {
        self.books[i] = ModelBook::default();
        self.seq += 1;
        self.ts += 1_000;
        let mut v = Vec::new();
        for k in 0..20i64 {
            let (side, price) = if k < 10 {
                (Side::BID, 10_000 - k)
            } else {
                (Side::ASK, 10_001 + (k - 10))
            };
            let mut flags = Flags::SNAPSHOT;
            if k == 0 {
                flags = flags.with(Flags::RUN_START);
            }
            if k == 19 {
                flags = flags.with(Flags::LAST_IN_BATCH);
            }
            let qty = 1 + (self.rand() % 5000) as i64;
            v.push(self.level(i, side, price, qty, flags));
        }
        v
    }

    /// One venue message: a diff of 1–3 levels, a trade or a BBO.
    fn step(&mut self) -> Vec<Event> {
        let i = (self.rand() % self.ids.len() as u64) as usize;
        self.seq += 1;
        self.ts += 1_000;
        let id = self.ids[i];
        match self.rand() % 4 {
            0 => {
                let t = Trade {
                    price: Decimal::from_parts(10_000, 2),
                    qty: Decimal::from_parts((self.rand() % 100) as i64 + 1, 3),
                    side: Side::Buy,
                    id: self.seq,
                };
                vec![Event::trade(id, t, self.ts - 500, self.ts).unwrap_or_else(|e| panic!("{e}"))]
            }
            1 => {
                let b = Bbo {
                    bid_price: Decimal::from_parts(10_000, 2),
                    bid_qty: Decimal::from_parts(5, 3),
                    ask_price: Decimal::from_parts(10_001, 2),
                    ask_qty: Decimal::from_parts(7, 3),
                    seq: self.seq,
                };
                vec![Event::bbo(id, b, 0, self.ts).unwrap_or_else(|e| panic!("{e}"))]
            }
            _ => {
                let n = 1 + (self.rand() % 3) as usize;
                (0..n)
                    .map(|k| {
                        let side = if self.rand() % 2 == 0 {
                            Side::BID
                        } else {
                            Side::ASK
                        };
                        let off = (self.rand() % 15) as i64;
                        let price = if side == Side::BID {
                            10_000 - off
                        } else {
                            10_001 + off
                        };
                        let qty = if self.rand() % 4 == 0 {
                            0
                        } else {
                            (self.rand() % 9000) as i64 + 1
                        };
                        let flags = if k + 1 == n {
                            Flags::LAST_IN_BATCH
                        } else {
                            Flags::EMPTY
                        };
                        self.level(i, side, price, qty, flags)
                    })
                    .collect()
            }
        }
    }
}

fn connected(recv_ts: u64) -> Event {
    let s = Status {
        kind: StatusKind::Connected,
        reason: 0,
        value: 1,
        connection: 1,
    };
    Event::status(InstrumentId::NONE, s, recv_ts)
}

/// Pushes every event, waiting while the ring is full (the test is the I/O thread here and
/// must not drop: drops are the engine's business, tested elsewhere).
fn push_all(p: &mut EventProducer, events: &[Event], out: &mut Vec<Event>) {
    for e in events {
        let deadline = Instant::now() + Duration::from_secs(30);
        while p.slots() == 0 {
            assert!(
                Instant::now() < deadline,
                "the egress stopped draining its ring"
            );
            std::thread::sleep(Duration::from_micros(200));
        }
        assert!(p.push(*e));
        out.push(*e);
    }
}

fn egress_config(url: &str) -> EgressConfig {
    let mut c = EgressConfig::new(url);
    c.max_batch_events = 64;
    c.ack_timeout = Duration::from_millis(500);
    c.drain_timeout = Duration::from_secs(30);
    c.snapshot_every = None;
    c
}

/// Reads until `want` events arrived, or nothing for `idle`.
fn read(remote: &mut Remote, want: usize, idle: Duration) -> Vec<Event> {
    let mut got = Vec::new();
    while got.len() < want {
        match remote.next(idle) {
            Ok(Some(d)) => got.push(d.event),
            Ok(None) => break,
            Err(e) => panic!("{e}"),
        }
    }
    // Anything past `want` is a duplicate or an invention.
    while let Ok(Some(d)) = remote.next(Duration::from_millis(300)) {
        got.push(d.event);
    }
    got
}

/// Events by (venue, symbol) of their registry; status events without an instrument under
/// ("", "").
fn by_subject(events: &[Event], registry: &Registry) -> HashMap<(String, String), Vec<Event>> {
    let mut m: HashMap<(String, String), Vec<Event>> = HashMap::new();
    for e in events {
        let key = match registry.name(e.instrument) {
            Some(n) => (n.venue.to_string(), n.symbol.to_string()),
            None => (String::new(), String::new()),
        };
        let mut e = *e;
        e.instrument = InstrumentId(0);
        m.entry(key).or_default().push(e);
    }
    m
}

fn remote_from_start(url: &str) -> Remote {
    let mut c = RemoteConfig::new(url);
    c.from = From::Start;
    c.hold_timeout = Duration::from_secs(10);
    Remote::connect(c).unwrap_or_else(|e| panic!("{e}"))
}

fn assert_books(remote: &Remote, feed: &Feed) {
    for (i, sym) in SYMBOLS.iter().enumerate() {
        let id = remote
            .registry()
            .lookup(VENUE, sym)
            .unwrap_or_else(|| panic!("{sym} never arrived"));
        let book = remote
            .book(id)
            .unwrap_or_else(|| panic!("no book for {sym}"));
        assert!(book.is_valid(), "{sym}: rebuilt book not valid");
        let (bids, asks) = feed.books[i].levels();
        assert_eq!(
            book.bids(usize::MAX).collect::<Vec<_>>(),
            bids,
            "{sym} bids"
        );
        assert_eq!(
            book.asks(usize::MAX).collect::<Vec<_>>(),
            asks,
            "{sym} asks"
        );
    }
}

#[test]
fn round_trip_delivers_every_event_once_in_order_per_subject() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let registry = Registry::new();
    let mut feed = Feed::new(&registry);
    let (mut p, c) = ring::channel(4096);
    let egress = Egress::spawn(c, registry.clone(), egress_config(&nats.url()))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut sent = Vec::new();
    push_all(&mut p, &[connected(feed.ts)], &mut sent);
    for i in 0..SYMBOLS.len() {
        let run = feed.snapshot(i);
        push_all(&mut p, &run, &mut sent);
    }
    for _ in 0..5_000 {
        let step = feed.step();
        push_all(&mut p, &step, &mut sent);
    }
    drop(p);
    let stats = egress.join().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stats.events_in, sent.len() as u64);
    assert_eq!(stats.events_acked, sent.len() as u64);
    assert_eq!(stats.dropped, 0);

    let mut remote = remote_from_start(&nats.url());
    let got = read(&mut remote, sent.len(), Duration::from_secs(10));
    assert_eq!(got.len(), sent.len(), "events consumed vs published");
    assert_eq!(
        by_subject(&got, remote.registry()),
        by_subject(&sent, &registry)
    );
    assert_eq!(remote.stats().duplicates, 0);
    assert_books(&remote, &feed);
}

#[test]
fn a_broker_killed_and_restarted_mid_run_loses_and_duplicates_nothing() {
    let Some(mut nats) = NatsServer::start() else {
        return;
    };
    let registry = Registry::new();
    let mut feed = Feed::new(&registry);
    let (mut p, c) = ring::channel(1 << 16);
    let egress = Egress::spawn(c, registry.clone(), egress_config(&nats.url()))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut sent = Vec::new();
    push_all(&mut p, &[connected(feed.ts)], &mut sent);
    for i in 0..SYMBOLS.len() {
        let run = feed.snapshot(i);
        push_all(&mut p, &run, &mut sent);
    }
    for round in 0..40 {
        for _ in 0..500 {
            let step = feed.step();
            push_all(&mut p, &step, &mut sent);
        }
        if round == 15 {
            // SIGKILL with publishes in flight (a burst just pushed); events keep coming
            // while it is down.
            for _ in 0..2_000 {
                let step = feed.step();
                push_all(&mut p, &step, &mut sent);
            }
            nats.kill();
        }
        if round == 25 {
            nats.restart();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(p);
    let stats = egress.join().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stats.events_acked, sent.len() as u64, "{stats:?}");
    assert_eq!(stats.dropped, 0, "{stats:?}");
    assert!(
        stats.disconnects > 0,
        "the broker's death went unnoticed: {stats:?}"
    );
    eprintln!("egress across the broker restart: {stats:?}");

    let mut remote = remote_from_start(&nats.url());
    let got = read(&mut remote, sent.len(), Duration::from_secs(10));
    assert_eq!(got.len(), sent.len(), "events consumed vs published");
    assert_eq!(
        by_subject(&got, remote.registry()),
        by_subject(&sent, &registry)
    );
    assert_eq!(remote.stats().gaps, 0);
    assert_books(&remote, &feed);
}

#[test]
fn a_late_joiner_rebuilds_the_publishers_books_from_the_latest_snapshot() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let registry = Registry::new();
    let mut feed = Feed::new(&registry);
    let (mut p, c) = ring::channel(1 << 16);
    let mut config = egress_config(&nats.url());
    config.snapshot_every = Some(Duration::from_millis(100));
    let egress = Egress::spawn(c, registry.clone(), config).unwrap_or_else(|e| panic!("{e}"));
    let mut sent = Vec::new();
    push_all(&mut p, &[connected(feed.ts)], &mut sent);
    for i in 0..SYMBOLS.len() {
        let run = feed.snapshot(i);
        push_all(&mut p, &run, &mut sent);
    }
    // Diffs, over several snapshot periods, before the joiner comes.
    for _ in 0..10 {
        for _ in 0..300 {
            let step = feed.step();
            push_all(&mut p, &step, &mut sent);
        }
        std::thread::sleep(Duration::from_millis(30));
    }
    while egress.stats().snapshots < 2 * SYMBOLS.len() as u64 {
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut rc = RemoteConfig::new(&nats.url());
    rc.from = From::LatestSnapshot;
    let mut remote = Remote::connect(rc).unwrap_or_else(|e| panic!("{e}"));
    for _ in 0..3_000 {
        let step = feed.step();
        push_all(&mut p, &step, &mut sent);
    }
    drop(p);
    egress.join().unwrap_or_else(|e| panic!("{e}"));
    let got = read(&mut remote, usize::MAX, Duration::from_secs(3));
    // It joined late: the engine's own snapshot runs and the first diffs are not in what
    // it read, yet its books are the publisher's.
    assert!(got.len() < sent.len(), "{} of {}", got.len(), sent.len());
    assert!(
        !got.iter().any(|e| e.kind() == EventKind::Status),
        "the start-up status is before the joiner's start"
    );
    assert!(
        remote.stats().snapshots_used >= SYMBOLS.len() as u64,
        "{:?}",
        remote.stats()
    );
    assert_books(&remote, &feed);
}

#[test]
fn an_egress_buffer_overflow_is_published_in_band() {
    let Some(mut nats) = NatsServer::start() else {
        return;
    };
    let registry = Registry::new();
    let mut feed = Feed::new(&registry);
    let (mut p, c) = ring::channel(1 << 16);
    let mut config = egress_config(&nats.url());
    config.max_buffer_bytes = 16 << 10;
    let egress = Egress::spawn(c, registry.clone(), config).unwrap_or_else(|e| panic!("{e}"));
    let mut sent = Vec::new();
    push_all(&mut p, &[connected(feed.ts)], &mut sent);
    for i in 0..SYMBOLS.len() {
        let run = feed.snapshot(i);
        push_all(&mut p, &run, &mut sent);
    }
    // Wait until it is all stored, then take the broker away.
    while egress.stats().events_acked < sent.len() as u64 {
        std::thread::sleep(Duration::from_millis(5));
    }
    let before = sent.len();
    nats.kill();
    // Far more than 16 KiB of batches while the broker is down.
    for _ in 0..5_000 {
        let step = feed.step();
        push_all(&mut p, &step, &mut sent);
    }
    while egress.stats().events_in < sent.len() as u64 {
        std::thread::sleep(Duration::from_millis(5));
    }
    nats.restart();
    // Once the buffer has drained the gap is published; events from then on are kept.
    let deadline = Instant::now() + Duration::from_secs(30);
    while egress.stats().gaps == 0 {
        assert!(
            Instant::now() < deadline,
            "no gap published: {:?}",
            egress.stats()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let after = sent.len();
    for _ in 0..500 {
        let step = feed.step();
        push_all(&mut p, &step, &mut sent);
    }
    drop(p);
    let stats = egress.join().unwrap_or_else(|e| panic!("{e}"));
    assert!(stats.dropped > 0, "{stats:?}");
    assert_eq!(stats.gaps, 1, "{stats:?}");

    let mut remote = remote_from_start(&nats.url());
    let got = read(&mut remote, usize::MAX, Duration::from_secs(3));
    let gaps: Vec<&Event> = got
        .iter()
        .filter(|e| {
            e.as_status().is_some_and(|s| {
                s.kind == StatusKind::Overflow && e.instrument == InstrumentId::NONE
            })
        })
        .collect();
    assert_eq!(gaps.len(), 1, "one in-band gap");
    let status = gaps[0].as_status().unwrap_or_else(|| panic!("status"));
    assert_eq!(
        status.value, stats.dropped,
        "the gap says how many were dropped"
    );
    assert_eq!(status.reason, Reason::Backpressure as u16);
    // Everything before the outage arrived; the last events after it too; what is missing
    // is exactly the count the gap names.
    let names = remote.registry().clone();
    let got_plain: Vec<Event> = got
        .iter()
        .filter(|e| !e.flags.contains(Flags::SNAPSHOT) || e.recv_ts < sent[before].recv_ts)
        .filter(|e| !std::ptr::eq(*e, gaps[0]))
        .copied()
        .collect();
    let kept = sent.len() as u64 - stats.dropped;
    assert_eq!(got_plain.len() as u64, kept, "delivered = sent - dropped");
    let g = by_subject(&got_plain, &names);
    let s = by_subject(&sent[..before], &registry);
    for (k, v) in &s {
        assert_eq!(&g[k][..v.len()], &v[..], "{k:?} before the outage");
    }
    let tail = by_subject(&sent[after..], &registry);
    for (k, v) in &tail {
        assert!(g[k].ends_with(v), "{k:?} after the outage");
    }
    // The egress's snapshot runs after the gap made the books whole again.
    assert!(remote.stats().snapshots_used >= SYMBOLS.len() as u64);
    assert_books(&remote, &feed);
}
