//! Coinbase Advanced Trade through `FeedHandler` exactly as the engine drives it, fed
//! GENERATED captures (`recv_ns SPACE message` lines, read back with `CaptureReader`): an
//! independent venue model in this file walks two books at random and writes Coinbase
//! messages (`l2_data` snapshots and updates, `market_trades`, `heartbeats`), numbering every
//! message of the connection with one `sequence_num`, and answers the handler's requests
//! (a `subscriptions` message each, a fresh snapshot after a `level2` subscribe). One fault
//! is injected per run: a lost update, a lost heartbeat, a malformed message, a repeated
//! message. A loss must give each book of the connection exactly one Gap and one Resync (the
//! lost message could have been any book's), and both consumer books (rebuilt from the
//! published events only) must equal the model's.

use std::collections::BTreeMap;
use std::io::Cursor;

use tickwire_engine::adapter::{FeedConfig, FeedHandler, QueuedSnapshots};
use tickwire_engine::book::{Book, BookConfig};
use tickwire_engine::event::{EventKind, StatusKind};
use tickwire_engine::handler::{
    Actions, ConnectionId, Context, Message, Outbox, Publisher, WsHandler,
};
use tickwire_engine::ring::{Consumer, channel};
use tickwire_engine::{Decimal, Event, FeedAdapter, InstrumentId, Registry};
use tickwire_feeds::capture::CaptureReader;
use tickwire_feeds::coinbase::{Channel, CoinbaseAdapter, CoinbaseConfig, Subscription};

const PRODUCTS: [&str; 2] = ["BTC-USD", "SOL-USD"];

/// The venue: per product a book in integer ticks (price in cents, size in thousandths),
/// and the connection's message counter.
struct Venue {
    rng: u64,
    books: [(BTreeMap<i64, i64>, BTreeMap<i64, i64>); 2],
    seq: u64,
    second: u64,
    trade_id: u64,
}

fn px(t: i64) -> String {
    format!("{}.{:02}", t / 100, t % 100)
}

fn sz(q: i64) -> String {
    format!("{}.{:03}", q / 1000, q % 1000)
}

fn update(side: &str, p: i64, q: i64) -> String {
    format!(
        r#"{{"side":"{side}","event_time":"2026-04-07T14:30:00.000001Z","price_level":"{}","new_quantity":"{}"}}"#,
        px(p),
        sz(q)
    )
}

impl Venue {
    fn new(seed: u64) -> Venue {
        let mut v = Venue {
            rng: seed | 1,
            books: Default::default(),
            seq: 0,
            second: 0,
            trade_id: 900,
        };
        for k in 0..2 {
            for _ in 0..20 {
                let (b, a) = (v.bid_price(k), v.ask_price(k));
                let (qb, qa) = (v.qty(), v.qty());
                v.books[k].0.insert(b, qb);
                v.books[k].1.insert(a, qa);
            }
        }
        v
    }

    fn next(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x
    }

    /// Bids below 1000.00 (BTC) / 100.00 (SOL), asks from there: never crossed.
    fn bid_price(&mut self, k: usize) -> i64 {
        [99_960, 9_960][k] + (self.next() % 40) as i64
    }

    fn ask_price(&mut self, k: usize) -> i64 {
        [100_000, 10_000][k] + (self.next() % 40) as i64
    }

    fn qty(&mut self) -> i64 {
        1 + (self.next() % 5000) as i64
    }

    /// The envelope around `events`, taking the next number.
    fn envelope(&mut self, channel: &str, events: &str) -> String {
        let n = self.seq;
        self.seq += 1;
        self.second += 1;
        format!(
            r#"{{"channel":"{channel}","client_id":"","timestamp":"2026-04-07T14:{:02}:{:02}.5Z","sequence_num":{n},"events":[{events}]}}"#,
            (self.second / 60) % 60,
            self.second % 60
        )
    }

    fn snapshot(&mut self, k: usize) -> String {
        let (bids, asks) = &self.books[k];
        let mut u: Vec<String> = bids
            .iter()
            .rev()
            .map(|(p, q)| update("bid", *p, *q))
            .collect();
        u.extend(asks.iter().map(|(p, q)| update("offer", *p, *q)));
        let events = format!(
            r#"{{"type":"snapshot","product_id":"{}","updates":[{}]}}"#,
            PRODUCTS[k],
            u.join(",")
        );
        self.envelope("l2_data", &events)
    }

    /// One update of 1–4 changes (size 0 deletes), in order; a price may change twice.
    fn update(&mut self, k: usize) -> String {
        let mut u = Vec::new();
        for _ in 0..1 + self.next() % 4 {
            let bid = self.next() % 2 == 0;
            let p = if bid {
                self.bid_price(k)
            } else {
                self.ask_price(k)
            };
            let q = if self.next() % 3 == 0 { 0 } else { self.qty() };
            let book = if bid {
                &mut self.books[k].0
            } else {
                &mut self.books[k].1
            };
            if q == 0 {
                book.remove(&p);
            } else {
                book.insert(p, q);
            }
            u.push(update(if bid { "bid" } else { "offer" }, p, q));
        }
        let events = format!(
            r#"{{"type":"update","product_id":"{}","updates":[{}]}}"#,
            PRODUCTS[k],
            u.join(",")
        );
        self.envelope("l2_data", &events)
    }

    fn trade(&mut self, k: usize) -> String {
        self.trade_id += 1;
        let side = if self.next() % 2 == 0 { "BUY" } else { "SELL" };
        let events = format!(
            r#"{{"type":"update","trades":[{{"trade_id":"{}","product_id":"{}","price":"1.5","size":"2","side":"{side}","time":"2026-04-07T14:30:00Z"}}]}}"#,
            self.trade_id, PRODUCTS[k]
        );
        self.envelope("market_trades", &events)
    }

    fn heartbeat(&mut self) -> String {
        let events = format!(
            r#"{{"current_time":"2026-04-07 14:30:00.5 +0000 UTC","heartbeat_counter":"{}"}}"#,
            self.second
        );
        self.envelope("heartbeats", &events)
    }

    fn subscriptions(&mut self) -> String {
        self.envelope(
            "subscriptions",
            r#"{"subscriptions":{"level2":["BTC-USD","SOL-USD"],"market_trades":["BTC-USD","SOL-USD"],"heartbeats":["heartbeats"]}}"#,
        )
    }

    fn model(&self, k: usize) -> (Levels, Levels) {
        let d = |p: i64, s: u8| Decimal::from_parts(p, s);
        let (bids, asks) = &self.books[k];
        (
            bids.iter()
                .rev()
                .map(|(p, q)| (d(*p, 2), d(*q, 3)))
                .collect(),
            asks.iter().map(|(p, q)| (d(*p, 2), d(*q, 3))).collect(),
        )
    }
}

/// A side of a book, best first.
type Levels = Vec<(Decimal, Decimal)>;

struct Replay {
    handler: FeedHandler<CoinbaseAdapter>,
    outbox: Outbox,
    publisher: Publisher,
    actions: Actions,
    consumer: Consumer,
    ids: [InstrumentId; 2],
    books: [Book; 2],
    /// (kind, instrument, value) of every status.
    statuses: Vec<(StatusKind, InstrumentId, u64)>,
    /// Frames of the outbox already answered.
    answered: usize,
    now: u64,
}

impl Replay {
    fn new() -> Replay {
        let registry = Registry::new();
        let products: Vec<String> = PRODUCTS.iter().map(|s| s.to_string()).collect();
        let subs = Subscription::product(&products, &[Channel::Level2, Channel::Trades]);
        let config = CoinbaseConfig {
            depth: 100,
            ..CoinbaseConfig::default()
        };
        let adapter = CoinbaseAdapter::new(config, &subs, &registry).unwrap();
        let ids = PRODUCTS.map(|p| registry.lookup("coinbase", p).unwrap());
        let handler = FeedHandler::new(
            adapter,
            Box::new(QueuedSnapshots::new()),
            FeedConfig::default(),
        );
        let (p, c) = channel(1 << 16);
        let mut r = Replay {
            handler,
            outbox: Outbox::new(1 << 22),
            publisher: Publisher::new(vec![p]),
            actions: Actions::default(),
            consumer: c,
            ids,
            books: [
                Book::new(BookConfig::with_depth(100)),
                Book::new(BookConfig::with_depth(100)),
            ],
            statuses: Vec::new(),
            answered: 0,
            now: 1_000_000_000,
        };
        let mut cx = Context::new(
            r.now,
            ConnectionId(1),
            &mut r.outbox,
            &mut r.publisher,
            &mut r.actions,
        );
        r.handler.on_connect(&mut cx);
        r
    }

    fn feed(&mut self, recv: u64, frame: &mut [u8]) {
        self.now = recv;
        let mut cx = Context::new(
            recv,
            ConnectionId(1),
            &mut self.outbox,
            &mut self.publisher,
            &mut self.actions,
        );
        self.handler.on_message(Message::Text(frame), &mut cx);
        self.handler.on_timer(&mut cx);
        while let Some(e) = self.consumer.pop() {
            self.consume(&e);
        }
    }

    fn consume(&mut self, e: &Event) {
        if !matches!(e.kind(), EventKind::BookLevel | EventKind::Status) {
            return;
        }
        if let Some(s) = e.as_status() {
            self.statuses.push((s.kind, e.instrument, s.value));
        }
        for k in 0..2 {
            if e.instrument == self.ids[k] || e.instrument == InstrumentId::NONE {
                self.books[k].apply_event(e).unwrap();
            }
        }
    }

    /// Text frames the handler sent and the venue has not answered yet (unmasked).
    fn new_requests(&mut self) -> Vec<String> {
        let b = self.outbox.bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i + 2 <= b.len() {
            let mut len = (b[i + 1] & 0x7f) as usize;
            let mut at = i + 2;
            if len == 126 {
                len = u16::from_be_bytes([b[at], b[at + 1]]) as usize;
                at += 2;
            }
            let mask = [b[at], b[at + 1], b[at + 2], b[at + 3]];
            at += 4;
            let payload: Vec<u8> = (0..len).map(|k| b[at + k] ^ mask[k % 4]).collect();
            out.push(String::from_utf8(payload).unwrap());
            i = at + len;
        }
        let new = out.split_off(self.answered.min(out.len()));
        self.answered += new.len();
        new
    }

    fn per_book(&self, kind: StatusKind, k: usize) -> usize {
        self.statuses
            .iter()
            .filter(|s| s.0 == kind && s.1 == self.ids[k])
            .count()
    }

    fn assert_matches(&self, venue: &Venue) {
        for (k, product) in PRODUCTS.iter().enumerate() {
            assert!(self.books[k].is_valid(), "{product}");
            let (bids, asks) = venue.model(k);
            assert_eq!(
                self.books[k].bids(usize::MAX).collect::<Vec<_>>(),
                bids,
                "{product}"
            );
            assert_eq!(
                self.books[k].asks(usize::MAX).collect::<Vec<_>>(),
                asks,
                "{product}"
            );
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Inject {
    None,
    LostUpdate,
    LostHeartbeat,
    Malformed,
    Repeat,
}

/// Runs 600 steps with `inject` at step 300; returns the replay, the venue and the lines
/// replayed.
fn run(inject: Inject, seed: u64) -> (Replay, Venue, usize) {
    let mut venue = Venue::new(seed);
    let mut r = Replay::new();
    let mut text = String::new();
    let mut recv = r.now;
    let mut lines = 0;
    let mut pending_snapshots: Vec<usize> = Vec::new();
    for step in 0..600 {
        // The venue answers what the handler sent: one `subscriptions` message per request,
        // the whole book after a `level2` subscribe.
        for req in r.new_requests() {
            text.push_str(&format!("{} {}\n", recv + 1, venue.subscriptions()));
            if req.contains(r#""type":"subscribe""#) && req.contains(r#""channel":"level2""#) {
                for (k, p) in PRODUCTS.iter().enumerate() {
                    if req.contains(p) {
                        pending_snapshots.push(k);
                    }
                }
            }
        }
        for k in pending_snapshots.drain(..) {
            let s = venue.snapshot(k);
            text.push_str(&format!("{} {s}\n", recv + 2));
        }
        recv += 50_000_000;
        let k = (venue.next() % 2) as usize;
        let msg = match venue.next() % 10 {
            0 => venue.heartbeat(),
            1 => venue.trade(k),
            _ => venue.update(k),
        };
        let msg = match (step, inject) {
            (300, Inject::LostUpdate) => {
                let _lost = venue.update(0); // never sent, its number used
                msg
            }
            (300, Inject::LostHeartbeat) => {
                let _lost = venue.heartbeat();
                msg
            }
            (300, Inject::Malformed) => {
                let cut = venue.heartbeat();
                text.push_str(&format!("{recv} {}\n", &cut[..cut.len() / 2]));
                msg
            }
            (300, Inject::Repeat) => {
                text.push_str(&format!("{recv} {msg}\n"));
                msg
            }
            _ => msg,
        };
        text.push_str(&format!("{recv} {msg}\n"));
        let mut reader = CaptureReader::new(Cursor::new(std::mem::take(&mut text).into_bytes()));
        while let Some(line) = reader.next() {
            let line = line.unwrap();
            r.feed(line.recv_ns, line.frame);
            lines += 1;
        }
    }
    (r, venue, lines)
}

#[test]
fn an_unbroken_connection_sequence_stays_in_sync_with_the_model() {
    for seed in 1..4 {
        let (r, venue, lines) = run(Inject::None, seed);
        assert!(lines > 600);
        r.assert_matches(&venue);
        let s = r.handler.stats();
        assert_eq!(
            (s.gaps, s.resyncs, s.resubscribes, s.connection_gaps),
            (0, 0, 0, 0),
            "{s:?}"
        );
        assert_eq!(s.snapshots_applied, 2);
        assert_eq!(s.decode_errors, 0);
        assert_eq!(r.handler.adapter().pending_acks(), 0);
    }
}

/// Any lost message (an update of one book, or a heartbeat that touched no book) gives each
/// book one Gap, valued with the lost number, and one Resync; both resubscribe and heal.
#[test]
fn a_lost_message_resyncs_each_book_of_the_connection_once() {
    for inject in [Inject::LostUpdate, Inject::LostHeartbeat, Inject::Malformed] {
        for seed in 1..4 {
            let (r, venue, _) = run(inject, seed);
            r.assert_matches(&venue);
            let s = r.handler.stats();
            assert_eq!(s.connection_gaps, 1, "{inject:?} {s:?}");
            assert_eq!(
                (s.gaps, s.resyncs, s.resubscribes),
                (2, 2, 2),
                "{inject:?} {s:?}"
            );
            for k in 0..2 {
                assert_eq!(r.per_book(StatusKind::Gap, k), 1, "{inject:?}");
                assert_eq!(r.per_book(StatusKind::Resync, k), 1, "{inject:?}");
            }
            assert_eq!(s.snapshots_applied, 4, "{inject:?}");
            assert_eq!(s.decode_errors, u64::from(inject == Inject::Malformed));
        }
    }
}

/// A message seen twice (same number) is neither a gap nor applied twice.
#[test]
fn a_repeated_message_is_skipped() {
    for seed in 1..4 {
        let (r, venue, _) = run(Inject::Repeat, seed);
        r.assert_matches(&venue);
        let s = r.handler.stats();
        assert_eq!((s.gaps, s.resyncs, s.connection_gaps), (0, 0, 0), "{s:?}");
    }
}
