//! Bybit through `FeedHandler` exactly as the engine drives it, fed GENERATED captures
//! (`recv_ns SPACE message` lines, read back with `CaptureReader`): an independent venue
//! model in this file walks a book at random and writes Bybit v5 messages (snapshot, then
//! deltas chained by `u`), with a gap, a sequence reset (`u == 1`), a re-sent snapshot with
//! a lower `u`, and keep-alives (pongs, acks, level-1 re-pushes) injected. Each fault must
//! give exactly one resync, and the consumer's book (rebuilt from the published events only)
//! must equal the model's book.

use std::io::Cursor;

use tickwire_engine::adapter::{FeedConfig, FeedHandler, QueuedSnapshots};
use tickwire_engine::book::{Book, BookConfig};
use tickwire_engine::event::{EventKind, Flags, Side, StatusKind};
use tickwire_engine::handler::{
    Actions, ConnectionId, Context, Message, Outbox, Publisher, WsHandler,
};
use tickwire_engine::ring::{Consumer, channel};
use tickwire_engine::{Event, FeedAdapter, InstrumentId, Reason, Registry};
use tickwire_feeds::bybit::{BybitAdapter, BybitConfig, Channel, Depth, Market, Subscription};
use tickwire_feeds::capture::CaptureReader;
use tickwire_tests::book_model::BookModel;

/// The venue: a book in integer ticks (price in cents, size in thousandths) and its `u`.
struct Venue {
    rng: u64,
    /// The model: prices in cents, sizes in thousandths.
    book: BookModel,
    u: u64,
    ts: u64,
    /// Alternate spot's key order (`ts` before `type`) and linear's.
    spot_order: bool,
}

fn px(t: i64) -> String {
    format!("{}.{:02}", t / 100, t % 100)
}

fn sz(q: i64) -> String {
    format!("{}.{:03}", q / 1000, q % 1000)
}

fn side_json(levels: &[(i64, i64)]) -> String {
    let v: Vec<String> = levels
        .iter()
        .map(|(p, q)| format!("[\"{}\",\"{}\"]", px(*p), sz(*q)))
        .collect();
    format!("[{}]", v.join(","))
}

impl Venue {
    fn new(seed: u64) -> Venue {
        let mut v = Venue {
            rng: seed | 1,
            book: BookModel::new(2, 3),
            u: 1000,
            ts: 1_700_000_000_000,
            spot_order: false,
        };
        v.refill();
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

    /// A fresh random book: bids 999.60–999.99, asks 1000.00–1000.39 (never crossed, at
    /// most 40 levels a side: within the 50-level book).
    fn refill(&mut self) {
        self.book.clear();
        for _ in 0..20 {
            let b = 99_960 + (self.next() % 40) as i64;
            let a = 100_000 + (self.next() % 40) as i64;
            let (qb, qa) = (
                1 + (self.next() % 5000) as i64,
                1 + (self.next() % 5000) as i64,
            );
            self.book.set(Side::Buy, b, qb);
            self.book.set(Side::Sell, a, qa);
        }
    }

    fn message(&mut self, typ: &str, bids: &[(i64, i64)], asks: &[(i64, i64)]) -> String {
        self.ts += 10;
        self.spot_order = !self.spot_order;
        let data = format!(
            r#"{{"s":"BTCUSDT","b":{},"a":{},"u":{},"seq":{}}}"#,
            side_json(bids),
            side_json(asks),
            self.u,
            self.u * 3
        );
        if self.spot_order {
            format!(
                r#"{{"topic":"orderbook.50.BTCUSDT","ts":{},"type":"{typ}","data":{data},"cts":{}}}"#,
                self.ts,
                self.ts - 2
            )
        } else {
            format!(
                r#"{{"topic":"orderbook.50.BTCUSDT","type":"{typ}","ts":{},"data":{data},"cts":{}}}"#,
                self.ts,
                self.ts - 2
            )
        }
    }

    fn snapshot(&mut self) -> String {
        let (bids, asks) = (self.book.bids_best_first(), self.book.asks_best_first());
        self.message("snapshot", &bids, &asks)
    }

    /// One delta of 1–4 changes (size 0 deletes), `u` advanced by one.
    fn delta(&mut self) -> String {
        let (mut bids, mut asks) = (Vec::new(), Vec::new());
        for _ in 0..1 + self.next() % 4 {
            let bid = self.next() % 2 == 0;
            let p = if bid {
                99_960 + (self.next() % 40) as i64
            } else {
                100_000 + (self.next() % 40) as i64
            };
            let q = if self.next() % 3 == 0 {
                0
            } else {
                1 + (self.next() % 5000) as i64
            };
            let (side, out) = if bid {
                (Side::Buy, &mut bids)
            } else {
                (Side::Sell, &mut asks)
            };
            self.book.set(side, p, q);
            if let Some(i) = out.iter().position(|(x, _)| *x == p) {
                out.remove(i); // one change per price per message
            }
            out.push((p, q));
        }
        self.u += 1;
        self.message("delta", &bids, &asks)
    }

    /// The service restarted: a new book sent as a delta with `u == 1`.
    fn reset(&mut self) -> String {
        self.refill();
        self.u = 1;
        let (bids, asks) = (self.book.bids_best_first(), self.book.asks_best_first());
        self.message("delta", &bids, &asks)
    }
}

struct Replay {
    handler: FeedHandler<BybitAdapter>,
    outbox: Outbox,
    publisher: Publisher,
    actions: Actions,
    consumer: Consumer,
    btc: InstrumentId,
    book: Book,
    statuses: Vec<(StatusKind, u16)>,
    snapshot_runs: u64,
    now: u64,
}

impl Replay {
    fn new() -> Replay {
        let registry = Registry::new();
        let subs =
            Subscription::product(&["BTCUSDT"], &[Channel::Book(Depth::L50), Channel::Trade]);
        let adapter =
            BybitAdapter::new(BybitConfig::for_market(Market::Linear), &subs, &registry).unwrap();
        let btc = registry.lookup("bybit-linear", "BTCUSDT").unwrap();
        let handler = FeedHandler::new(
            adapter,
            Box::new(QueuedSnapshots::new()),
            FeedConfig::default(),
        );
        let (p, c) = channel(1 << 16);
        let mut r = Replay {
            handler,
            outbox: Outbox::new(1 << 20),
            publisher: Publisher::new(vec![p]),
            actions: Actions::default(),
            consumer: c,
            btc,
            book: Book::new(BookConfig::with_depth(50)),
            statuses: Vec::new(),
            snapshot_runs: 0,
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

    /// One capture line through the handler (message, then the timer as the engine would
    /// run it); the published events go to the consumer book.
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
        match e.kind() {
            EventKind::BookLevel | EventKind::Status => {
                if e.instrument == self.btc || e.kind() == EventKind::Status {
                    self.book.apply_event(e).unwrap();
                }
                if e.flags.contains(Flags::RUN_START) {
                    self.snapshot_runs += 1;
                }
                if let Some(s) = e.as_status() {
                    self.statuses.push((s.kind, s.reason));
                }
            }
            _ => {}
        }
    }

    fn count(&self, kind: StatusKind) -> usize {
        self.statuses.iter().filter(|s| s.0 == kind).count()
    }

    fn assert_matches(&self, venue: &Venue) {
        venue.book.assert_matches(&self.book);
    }
}

/// What the generator injects at a step.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Inject {
    None,
    Gap,
    Reset,
    LowerSnapshot,
    KeepAlive,
}

/// Runs 400 steps with `inject` at step 200; returns the replay and the venue. The venue
/// answers the handler's requests: an ack for each, and a new snapshot after a resubscribe.
fn run(inject: Inject, seed: u64) -> (Replay, Venue, usize) {
    let mut venue = Venue::new(seed);
    let mut r = Replay::new();
    let mut text = String::new();
    let mut recv = r.now;
    let mut push = |text: &mut String, msg: String| {
        recv += 10_000_000;
        text.push_str(&format!("{recv} {msg}\n"));
    };
    let mut lines = 0;
    let replies = |r: &mut Replay, venue: &mut Venue, text: &mut String| {
        // Acks for what the handler sent, the way Bybit answers (string req_id).
        let pending: Vec<u64> = r.handler.adapter().pending_ids().to_vec();
        for id in pending {
            text.push_str(&format!(
                "{} {{\"success\":true,\"ret_msg\":\"\",\"conn_id\":\"c1\",\"req_id\":\"{id}\",\"op\":\"subscribe\"}}\n",
                r.now + 1
            ));
        }
        let _ = venue;
    };
    // The first message after subscribing is a snapshot.
    let s = venue.snapshot();
    push(&mut text, s);
    let mut resubscribes = r.handler.stats().resubscribes;
    let mut i = 0;
    while i < 400 {
        let msg = match (i, inject) {
            (200, Inject::Gap) => {
                let _lost = venue.delta(); // never sent
                venue.delta()
            }
            (200, Inject::Reset) => venue.reset(),
            (200, Inject::LowerSnapshot) => {
                venue.u -= 50;
                venue.snapshot()
            }
            (200, Inject::KeepAlive) => {
                push(
                    &mut text,
                    r#"{"success":true,"ret_msg":"pong","conn_id":"c1","op":"ping"}"#.to_owned(),
                );
                push(
                    &mut text,
                    r#"{"op":"pong","args":["1675418560633"],"conn_id":"c1"}"#.to_owned(),
                );
                venue.delta()
            }
            _ => venue.delta(),
        };
        push(&mut text, msg);
        // Every capture line, read back as a capture.
        let mut reader = CaptureReader::new(Cursor::new(std::mem::take(&mut text).into_bytes()));
        while let Some(line) = reader.next() {
            let line = line.unwrap();
            r.feed(line.recv_ns, line.frame);
            lines += 1;
        }
        replies(&mut r, &mut venue, &mut text);
        if r.handler.stats().resubscribes != resubscribes {
            // The venue answers a resubscribe with the current book.
            resubscribes = r.handler.stats().resubscribes;
            let s = venue.snapshot();
            push(&mut text, s);
        }
        i += 1;
    }
    let mut reader = CaptureReader::new(Cursor::new(text.into_bytes()));
    while let Some(line) = reader.next() {
        let line = line.unwrap();
        r.feed(line.recv_ns, line.frame);
        lines += 1;
    }
    (r, venue, lines)
}

#[test]
fn an_unbroken_chain_stays_in_sync_with_the_model() {
    for seed in 1..4 {
        let (r, venue, lines) = run(Inject::None, seed);
        assert!(lines > 400);
        r.assert_matches(&venue);
        let s = r.handler.stats();
        assert_eq!((s.gaps, s.resyncs, s.resubscribes, s.resets), (0, 0, 0, 0));
        assert_eq!(r.snapshot_runs, 1);
        assert_eq!(s.decode_errors, 0);
        assert_eq!(r.handler.adapter().pending_acks(), 0);
    }
}

#[test]
fn a_gap_resubscribes_the_one_topic_once_and_the_book_matches_the_model() {
    for seed in 1..4 {
        let (r, venue, _) = run(Inject::Gap, seed);
        r.assert_matches(&venue);
        let s = r.handler.stats();
        assert_eq!((s.gaps, s.resyncs, s.resubscribes), (1, 1, 1), "{s:?}");
        assert_eq!(r.count(StatusKind::Gap), 1);
        assert_eq!(r.count(StatusKind::Resync), 1);
        // The initial snapshot and the one the resubscribe brought.
        assert_eq!(r.snapshot_runs, 2);
        // Diffs between the gap and the new snapshot were not published on a stale book:
        // the consumer's book is the model's (checked above) and it was invalid meanwhile.
        assert_eq!(s.snapshots_applied, 2);
    }
}

#[test]
fn a_sequence_reset_replaces_the_book_once_without_a_gap() {
    for seed in 1..4 {
        let (r, venue, _) = run(Inject::Reset, seed);
        r.assert_matches(&venue);
        let s = r.handler.stats();
        assert_eq!((s.gaps, s.resets, s.resubscribes), (0, 1, 0), "{s:?}");
        assert_eq!(r.count(StatusKind::Gap), 0);
        assert_eq!(r.snapshot_runs, 2);
        assert_eq!(r.book.seq(), venue.u);
    }
}

#[test]
fn a_snapshot_mid_stream_with_a_lower_u_replaces_the_book() {
    for seed in 1..4 {
        let (r, venue, _) = run(Inject::LowerSnapshot, seed);
        r.assert_matches(&venue);
        let s = r.handler.stats();
        assert_eq!((s.gaps, s.resyncs, s.resubscribes), (0, 0, 0), "{s:?}");
        assert_eq!(r.snapshot_runs, 2);
        assert_eq!(r.book.seq(), venue.u);
    }
}

#[test]
fn keep_alives_give_no_events_and_no_resync() {
    let (r, venue, _) = run(Inject::KeepAlive, 7);
    r.assert_matches(&venue);
    let s = r.handler.stats();
    assert_eq!((s.gaps, s.resyncs, s.resubscribes), (0, 0, 0));
    assert_eq!(s.pongs, 2);
    assert_eq!(r.snapshot_runs, 1);
}

/// The handler's app ping goes out every 20 s; a pong clears the deadline; a ping left
/// unanswered for the pong timeout (10 s) recycles the connection with `pong_timeout`.
#[test]
fn a_pong_that_never_comes_recycles_the_connection() {
    let mut r = Replay::new();
    let t0 = r.now;
    let ping_at = t0 + 20_000_000_000;
    let timer = |r: &mut Replay, now: u64| {
        r.actions = Actions::default();
        let mut cx = Context::new(
            now,
            ConnectionId(1),
            &mut r.outbox,
            &mut r.publisher,
            &mut r.actions,
        );
        r.handler.on_timer(&mut cx);
    };
    timer(&mut r, ping_at);
    let sent = r.outbox.bytes().len();
    assert!(sent > 0);
    // Answered in time: no recycle at the deadline.
    let mut pong = br#"{"success":true,"ret_msg":"pong","conn_id":"c1","op":"ping"}"#.to_vec();
    r.feed(ping_at + 1_000_000_000, &mut pong);
    timer(&mut r, ping_at + 10_500_000_000);
    assert_eq!(r.actions.recycles(), None);
    assert_eq!(r.handler.stats().pongs, 1);
    // The next ping is never answered.
    let next = ping_at + 20_000_000_000;
    timer(&mut r, next);
    timer(&mut r, next + 9_000_000_000);
    assert_eq!(r.actions.recycles(), None);
    timer(&mut r, next + 10_000_000_000);
    assert_eq!(r.actions.recycles(), Some(Reason::PongTimeout));
    assert_eq!(r.handler.stats().pong_timeouts, 1);
    // The ping is the documented text frame.
    assert_eq!(
        tickwire_feeds::bybit::PING,
        br#"{"req_id":"ping","op":"ping"}"#
    );
    assert!(r.handler.adapter().heartbeat().app_ping.is_some());
}

/// A reset (`u == 1`) that comes before the subscription's first snapshot, while the deltas
/// are buffered: it is the whole new book (venues.md §5), installed at once as one
/// SNAPSHOT run; the deltas after it chain on it and the book matches the model.
#[test]
fn a_sequence_reset_before_the_first_snapshot_installs_the_book() {
    let mut venue = Venue::new(7);
    let mut r = Replay::new();
    let mut recv = r.now;
    let mut feed = |r: &mut Replay, msg: String| {
        recv += 10_000_000;
        let mut line = format!("{recv} {msg}\n").into_bytes();
        let mut reader = CaptureReader::new(Cursor::new(std::mem::take(&mut line)));
        while let Some(line) = reader.next() {
            let line = line.unwrap();
            r.feed(line.recv_ns, line.frame);
        }
    };
    // Deltas whose snapshot never came: buffered, nothing published.
    for _ in 0..3 {
        let d = venue.delta();
        feed(&mut r, d);
    }
    assert!(!r.handler.in_sync(r.btc));
    assert_eq!(r.snapshot_runs, 0);
    let reset = venue.reset();
    feed(&mut r, reset);
    assert!(r.handler.in_sync(r.btc));
    r.assert_matches(&venue);
    for _ in 0..50 {
        let d = venue.delta();
        feed(&mut r, d);
    }
    r.assert_matches(&venue);
    let s = r.handler.stats();
    assert_eq!((s.gaps, s.resets, s.resyncs), (0, 1, 0), "{s:?}");
    assert_eq!(r.snapshot_runs, 1);
    assert_eq!(r.book.seq(), venue.u);
}
