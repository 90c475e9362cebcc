//! Generated OKX captures through `FeedHandler` exactly as the engine drives it, with a
//! consumer rebuilding its book from the published events.
//!
//! The generator below is independent of the adapter: a random walk of a book kept as
//! integers in `BTreeMap`s, rendered to OKX's messages (`books` snapshot/update with
//! `prevSeqId`/`seqId`, the CRC32 checksum computed over the rendered strings with
//! flate2's CRC, trades, keep-alives) as `recv_ns SPACE message` lines. Faults are injected
//! where the venue would produce them: a dropped update (gap), a wrong checksum, a reset of
//! `seqId` after maintenance, keep-alives. After a gap or a bad checksum the generator
//! "answers the resubscribe" with a fresh in-band snapshot, as OKX does. Expected: one
//! resync per gap and per bad checksum, none for resets and keep-alives, and the consumer's
//! final book equal to the generator's. The same stream, after warm-up, allocates nothing
//! per message (decode, sequence and checksum checks, validating book, publish, and the
//! consumer's book), counted by `tickwire_tests::alloc::CountingAlloc`.

use std::io::Cursor;

use tickwire_engine::adapter::{FeedConfig, FeedHandler, QueuedSnapshots};
use tickwire_engine::book::{Book, BookConfig};
use tickwire_engine::event::{EventKind, Side, StatusKind};
use tickwire_engine::handler::{
    Actions, ConnectionId, Context, Message, Outbox, Publisher, WsHandler,
};
use tickwire_engine::ring::{Consumer, channel};
use tickwire_engine::{InstrumentId, Reason, Registry};
use tickwire_feeds::capture::CaptureReader;
use tickwire_feeds::okx::{Channel, OkxAdapter, OkxConfig, Subscription, VENUE};
use tickwire_tests::alloc::{CountingAlloc, allocations, count_this_thread};
use tickwire_tests::book_model::{BookModel, Levels};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// xorshift64*: deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Price in tenths as OKX writes it: `30000`, `29999.5`.
fn px(tenths: i64) -> String {
    if tenths % 10 == 0 {
        format!("{}", tenths / 10)
    } else {
        format!("{}.{}", tenths / 10, tenths % 10)
    }
}

/// Size in thousandths as OKX writes it: `2`, `0.5`, `1.234`.
fn sz(milli: i64) -> String {
    let (i, f) = (milli / 1000, milli % 1000);
    if f == 0 {
        return format!("{i}");
    }
    let mut s = format!("{i}.{f:03}");
    while s.ends_with('0') {
        s.pop();
    }
    s
}

const MID: i64 = 300_000; // 30000.0: bids below, asks at or above (never crossed)

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Fault {
    None,
    Gap,
    BadChecksum,
    Reset,
    KeepAlive,
}

/// The generator: the venue's book and its stream.
struct Venue {
    rng: Rng,
    /// The model: prices in tenths, sizes in thousandths.
    book: BookModel,
    seq: u64,
    checksums: bool,
    lines: Vec<u8>,
    now: u64,
    trade_id: u64,
}

impl Venue {
    fn new(seed: u64, checksums: bool) -> Venue {
        let mut v = Venue {
            rng: Rng(seed | 1),
            book: BookModel::new(1, 3),
            seq: 1_000,
            checksums,
            lines: Vec::new(),
            now: 1_700_000_000_000_000_000,
            trade_id: 500_000_000,
        };
        for _ in 0..40 {
            let (b, a) = (
                MID - 1 - v.rng.below(300) as i64,
                MID + v.rng.below(300) as i64,
            );
            let (qb, qa) = (1 + v.rng.below(5_000) as i64, 1 + v.rng.below(5_000) as i64);
            v.book.set(Side::Buy, b, qb);
            v.book.set(Side::Sell, a, qa);
        }
        v
    }

    /// OKX's checksum over the rendered strings (venues.md §6), flate2's CRC32.
    fn checksum(&self) -> i32 {
        let bids: Vec<_> = self.book.bids.iter().rev().take(25).collect();
        let asks: Vec<_> = self.book.asks.iter().take(25).collect();
        let mut parts = Vec::new();
        for i in 0..25 {
            if let Some((p, q)) = bids.get(i) {
                parts.push(px(**p));
                parts.push(sz(**q));
            }
            if let Some((p, q)) = asks.get(i) {
                parts.push(px(**p));
                parts.push(sz(**q));
            }
        }
        let mut crc = flate2::Crc::new();
        crc.update(parts.join(":").as_bytes());
        crc.sum() as i32
    }

    fn line(&mut self, msg: &str) {
        self.now += 100_000_000;
        self.lines
            .extend_from_slice(format!("{} {msg}\n", self.now).as_bytes());
    }

    fn levels(l: &[(i64, i64)]) -> String {
        l.iter()
            .map(|(p, q)| format!(r#"["{}","{}","0","1"]"#, px(*p), sz(*q)))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn book_msg(
        &self,
        action: &str,
        prev: i64,
        seq: u64,
        bids: &[(i64, i64)],
        asks: &[(i64, i64)],
        checksum: i32,
    ) -> String {
        let ms = self.now / 1_000_000;
        // Key order varies, as nothing promises it.
        if seq % 2 == 0 {
            format!(
                r#"{{"arg":{{"channel":"books","instId":"BTC-USDT"}},"action":"{action}","data":[{{"asks":[{}],"bids":[{}],"ts":"{ms}","checksum":{checksum},"prevSeqId":{prev},"seqId":{seq}}}]}}"#,
                Self::levels(asks),
                Self::levels(bids)
            )
        } else {
            format!(
                r#"{{"data":[{{"seqId":{seq},"prevSeqId":{prev},"checksum":{checksum},"ts":"{ms}","bids":[{}],"asks":[{}]}}],"action":"{action}","arg":{{"instId":"BTC-USDT","channel":"books"}}}}"#,
                Self::levels(bids),
                Self::levels(asks)
            )
        }
    }

    fn snapshot(&mut self) {
        self.seq += 1 + self.rng.below(3);
        let (bids, asks) = (self.book.bids_best_first(), self.book.asks_best_first());
        let c = if self.checksums { self.checksum() } else { 0 };
        let msg = self.book_msg("snapshot", -1, self.seq, &bids, &asks, c);
        self.line(&msg);
    }

    /// One update (1–4 level changes), possibly faulty.
    fn update(&mut self, fault: Fault) {
        if fault == Fault::KeepAlive {
            let msg = self.book_msg(
                "update",
                self.seq as i64,
                self.seq,
                &[],
                &[],
                if self.checksums { self.checksum() } else { 0 },
            );
            self.line(&msg);
            return;
        }
        let (mut bids, mut asks) = (Vec::new(), Vec::new());
        for _ in 0..1 + self.rng.below(4) {
            let buy = self.rng.below(2) == 0;
            let (side, price) = if buy {
                (Side::Buy, MID - 1 - self.rng.below(300) as i64)
            } else {
                (Side::Sell, MID + self.rng.below(300) as i64)
            };
            let len = if buy {
                self.book.bids.len()
            } else {
                self.book.asks.len()
            };
            let qty = if self.rng.below(3) == 0 && len > 10 {
                0
            } else {
                1 + self.rng.below(5_000) as i64
            };
            self.book.set(side, price, qty);
            if buy {
                bids.retain(|l: &(i64, i64)| l.0 != price);
                bids.push((price, qty));
            } else {
                asks.retain(|l: &(i64, i64)| l.0 != price);
                asks.push((price, qty));
            }
        }
        let prev = self.seq;
        self.seq = if fault == Fault::Reset {
            1 + self.rng.below(50) // after maintenance: below prevSeqId
        } else {
            self.seq + 1 + self.rng.below(3)
        };
        let mut c = if self.checksums { self.checksum() } else { 0 };
        if fault == Fault::BadChecksum {
            c = c.wrapping_add(1).max(1);
        }
        let msg = self.book_msg("update", prev as i64, self.seq, &bids, &asks, c);
        if fault == Fault::Gap {
            self.now += 100_000_000; // lost on the way
        } else {
            self.line(&msg);
        }
    }

    fn trade(&mut self) {
        self.trade_id += 1;
        let side = if self.rng.below(2) == 0 {
            "buy"
        } else {
            "sell"
        };
        let ms = self.now / 1_000_000;
        let msg = format!(
            r#"{{"arg":{{"channel":"trades","instId":"BTC-USDT"}},"data":[{{"instId":"BTC-USDT","tradeId":"{}","px":"30000.1","sz":"0.01","side":"{side}","ts":"{ms}","count":"1"}}]}}"#,
            self.trade_id
        );
        self.line(&msg);
    }
}

struct Replay {
    handler: FeedHandler<OkxAdapter>,
    outbox: Outbox,
    publisher: Publisher,
    actions: Actions,
    consumer: Consumer,
    btc: InstrumentId,
    book: Book,
    statuses: Vec<(StatusKind, Option<Reason>)>,
}

impl Replay {
    fn new() -> Replay {
        let registry = Registry::new();
        let subs = Subscription::product(&["BTC-USDT"], &[Channel::Books, Channel::Trades]);
        let adapter = OkxAdapter::new(OkxConfig::default(), &subs, &registry).unwrap();
        let btc = registry.lookup(VENUE, "BTC-USDT").unwrap();
        let handler = FeedHandler::new(
            adapter,
            Box::new(QueuedSnapshots::new()),
            FeedConfig::default(),
        );
        let (p, c) = channel(1 << 14);
        let mut r = Replay {
            handler,
            outbox: Outbox::new(1 << 24),
            publisher: Publisher::new(vec![p]),
            actions: Actions::default(),
            consumer: c,
            btc,
            book: Book::new(BookConfig::with_depth(400)),
            statuses: Vec::new(),
        };
        let mut cx = Context::new(
            1_700_000_000_000_000_000,
            ConnectionId(1),
            &mut r.outbox,
            &mut r.publisher,
            &mut r.actions,
        );
        r.handler.on_connect(&mut cx);
        r
    }

    fn run(&mut self, capture: &[u8]) {
        let mut reader = CaptureReader::new(Cursor::new(capture));
        while let Some(line) = reader.next() {
            let line = line.unwrap();
            let mut buf = line.frame.to_vec();
            let mut cx = Context::new(
                line.recv_ns,
                ConnectionId(1),
                &mut self.outbox,
                &mut self.publisher,
                &mut self.actions,
            );
            self.handler.on_message(Message::Text(&mut buf), &mut cx);
            self.handler.on_timer(&mut cx);
            while let Some(e) = self.consumer.pop() {
                if let Some(s) = e.as_status() {
                    self.statuses.push((s.kind, Reason::from_code(s.reason)));
                }
                if e.kind() == EventKind::BookLevel || e.kind() == EventKind::Status {
                    self.book.apply_event(&e).unwrap();
                }
            }
            // The outbox is the socket's: emptied as it would be.
            self.outbox = Outbox::new(1 << 24);
        }
    }

    fn count(&self, kind: StatusKind) -> usize {
        self.statuses.iter().filter(|s| s.0 == kind).count()
    }
}

/// The generator's book as the consumer should hold it.
fn truth(v: &Venue) -> (Levels, Levels) {
    v.book.sides()
}

/// A script of `n` steps with `faults` at given steps; after a gap or bad checksum the venue
/// sends a fresh snapshot two messages later (the resubscribe's answer).
fn generate(seed: u64, checksums: bool, n: usize, faults: &[(usize, Fault)]) -> Venue {
    let mut v = Venue::new(seed, checksums);
    v.snapshot();
    let mut resnap_at = None;
    for step in 0..n {
        let fault = faults
            .iter()
            .find(|f| f.0 == step)
            .map_or(Fault::None, |f| f.1);
        if Some(step) == resnap_at {
            v.snapshot();
            resnap_at = None;
        }
        if v.rng.below(4) == 0 {
            v.trade();
        }
        v.update(fault);
        if matches!(fault, Fault::Gap | Fault::BadChecksum) {
            resnap_at = Some(step + 3);
        }
    }
    v
}

#[test]
fn a_clean_generated_stream_syncs_in_band_and_ends_equal_to_the_model() {
    for checksums in [true, false] {
        let v = generate(7, checksums, 2_000, &[]);
        let mut r = Replay::new();
        r.run(&v.lines);
        assert_eq!(r.count(StatusKind::Resync), 0, "{:?}", r.statuses);
        let (bids, asks) = truth(&v);
        assert!(r.book.is_valid());
        assert_eq!(r.book.bids(usize::MAX).collect::<Vec<_>>(), bids);
        assert_eq!(r.book.asks(usize::MAX).collect::<Vec<_>>(), asks);
        let stats = r.handler.stats();
        assert_eq!(stats.checksums_checked > 0, checksums);
        assert_eq!(stats.checksum_failures, 0);
    }
}

#[test]
fn each_gap_and_bad_checksum_gives_exactly_one_resync_resets_and_keep_alives_none() {
    let faults = [
        (100, Fault::KeepAlive),
        (150, Fault::KeepAlive),
        (300, Fault::Reset),
        (500, Fault::Gap),
        (800, Fault::BadChecksum),
        (1_000, Fault::KeepAlive),
        (1_200, Fault::Reset),
        (1_500, Fault::Gap),
    ];
    let v = generate(11, true, 2_000, &faults);
    let mut r = Replay::new();
    r.run(&v.lines);
    let resyncs: Vec<_> = r
        .statuses
        .iter()
        .filter(|s| s.0 == StatusKind::Resync)
        .collect();
    assert_eq!(resyncs.len(), 3, "{:?}", r.statuses);
    assert_eq!(r.count(StatusKind::Gap), 2);
    assert_eq!(r.count(StatusKind::Checksum), 1);
    assert!(resyncs.contains(&&(StatusKind::Resync, Some(Reason::Checksum))));
    let stats = r.handler.stats();
    assert_eq!(stats.checksum_failures, 1);
    assert_eq!(stats.resubscribes, 3);
    let (bids, asks) = truth(&v);
    assert!(r.book.is_valid());
    assert!(r.handler.in_sync(r.btc));
    assert_eq!(r.book.bids(usize::MAX).collect::<Vec<_>>(), bids);
    assert_eq!(r.book.asks(usize::MAX).collect::<Vec<_>>(), asks);
    let hb = r.handler.book(r.btc).unwrap();
    assert_eq!(hb.bids(usize::MAX).collect::<Vec<_>>(), bids);
}

#[test]
fn without_checksums_a_gap_is_still_found_by_the_sequence() {
    let v = generate(13, false, 1_000, &[(400, Fault::Gap), (600, Fault::Reset)]);
    let mut r = Replay::new();
    r.run(&v.lines);
    assert_eq!(r.count(StatusKind::Resync), 1, "{:?}", r.statuses);
    assert_eq!(r.count(StatusKind::Gap), 1);
    let (bids, asks) = truth(&v);
    assert_eq!(r.book.bids(usize::MAX).collect::<Vec<_>>(), bids);
    assert_eq!(r.book.asks(usize::MAX).collect::<Vec<_>>(), asks);
}

#[test]
fn steady_state_allocates_nothing_per_message() {
    let v = generate(
        17,
        true,
        6_000,
        &[(2_000, Fault::KeepAlive), (2_500, Fault::Reset)],
    );
    let mut lines = Vec::new();
    let mut reader = CaptureReader::new(Cursor::new(&v.lines[..]));
    while let Some(line) = reader.next() {
        let line = line.unwrap();
        lines.push((line.recv_ns, line.frame.to_vec()));
    }
    let mut r = Replay::new();
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 16);
    let warm = 1_500;
    let step = |r: &mut Replay, recv: u64, frame: &[u8], buf: &mut Vec<u8>| {
        buf.clear();
        buf.extend_from_slice(frame);
        let mut cx = Context::new(
            recv,
            ConnectionId(1),
            &mut r.outbox,
            &mut r.publisher,
            &mut r.actions,
        );
        r.handler.on_message(Message::Text(buf), &mut cx);
        r.handler.on_timer(&mut cx);
        while let Some(e) = r.consumer.pop() {
            if e.kind() == EventKind::BookLevel || e.kind() == EventKind::Status {
                r.book.apply_event(&e).unwrap();
            }
        }
    };
    for (recv, frame) in &lines[..warm] {
        step(&mut r, *recv, frame, &mut buf);
    }
    let before = allocations();
    count_this_thread(true);
    for (recv, frame) in &lines[warm..] {
        step(&mut r, *recv, frame, &mut buf);
    }
    count_this_thread(false);
    let n = allocations() - before;
    assert_eq!(n, 0, "{n} allocations over {} messages", lines.len() - warm);
    assert!(r.handler.stats().checksums_checked > 3_000);
    assert_eq!(r.handler.stats().resyncs, 0);
}
