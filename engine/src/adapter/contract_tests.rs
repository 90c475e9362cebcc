//! The venue-neutral sync contract, driven through [`FeedHandler`] with a toy adapter (no
//! connection): in-band snapshots, sequence resets, checksums, per-instrument resubscribes
//! within a request budget, the REST fallback of an in-band start, application pongs, and
//! unordered trade ids across a hand-over.
//!
//! The toy wire format, one message per line of text:
//! `snap LAST [ck=N] b100x1 a101x2 ...`, `diff FIRST LAST [ck=N] b100x0 ...`,
//! `trade ID PRICE`, `pong`. Its checksum is an independent toy: the sum over the top five
//! levels a side of price mantissa × quantity mantissa, modulo 2³².

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::{
    AppPing, BookSnapshot, BookSpec, Cadence, DecodeError, DecodeStats, DiffIds, Endpoint,
    FeedAdapter, FeedConfig, FeedHandler, Frame, Heartbeat, Pacing, QueuedSnapshots, RequestBudget,
    ResyncPolicy, SeqCheck, SnapshotStart, StreamKind,
};
use crate::book::{Book, BookConfig};
use crate::decimal::Decimal;
use crate::event::{Event, EventKind, Flags, Level, Side, StatusKind, Trade, TradeId};
use crate::handler::{Actions, ConnectionId, Context, Message, Outbox, Publisher, WsHandler};
use crate::instrument::{InstrumentId, Registry};
use crate::reason::Reason;
use crate::ring::{Consumer, channel};

/// Bids best first, asks best first.
type Sides = (Vec<(Decimal, Decimal)>, Vec<(Decimal, Decimal)>);

const MS: u64 = 1_000_000;
const SEC: u64 = 1_000_000_000;

#[derive(Clone)]
pub(super) struct Toy {
    instrument: InstrumentId,
    start: SnapshotStart,
    budget: Option<RequestBudget>,
    /// No sequence at all (Kraken): every diff applies, the checksum is the only check.
    unsequenced: bool,
    /// A strict chain (OKX's `prevSeqId`): the next diff must follow the last one exactly;
    /// any other is a gap, older ones included. Only the join rule calls a covered one stale.
    pub(super) strict_chain: bool,
    /// Book ids numbered per connection (Coinbase's `sequence_num`): a break in a line's
    /// numbering is a connection gap, and any later id applies.
    pub(super) per_connection: bool,
    /// With `per_connection`: the last book id of this connection, and a break seen.
    conn_seq: Option<u64>,
    conn_gap: Option<u64>,
    /// Frames the adapter produced, in order (shared with the test).
    produced: Arc<Mutex<Vec<String>>>,
}

impl Toy {
    pub(super) fn new(instrument: InstrumentId, start: SnapshotStart) -> Toy {
        Toy {
            instrument,
            start,
            budget: None,
            unsequenced: false,
            strict_chain: false,
            per_connection: false,
            conn_seq: None,
            conn_gap: None,
            produced: Arc::default(),
        }
    }

    fn push(&self, out: &mut Vec<Vec<u8>>, frame: &str) {
        self.produced.lock().unwrap().push(frame.to_owned());
        out.push(frame.as_bytes().to_vec());
    }
}

fn dec(text: &str) -> Decimal {
    Decimal::parse(text.as_bytes()).unwrap()
}

/// The toy checksum of a book given as best-first sides.
fn toy_checksum<'a>(
    bids: impl Iterator<Item = (&'a Decimal, &'a Decimal)>,
    asks: impl Iterator<Item = (&'a Decimal, &'a Decimal)>,
) -> u32 {
    let mut sum: u64 = 0;
    for (p, q) in bids.take(5).chain(asks.take(5)) {
        sum = sum.wrapping_add((p.mantissa() as u64).wrapping_mul(q.mantissa() as u64));
    }
    sum as u32
}

impl FeedAdapter for Toy {
    type Subscription = ();

    fn venue(&self) -> &str {
        "toy"
    }

    fn endpoint(&self) -> Endpoint {
        Endpoint {
            url: "ws://127.0.0.1:1/".into(),
            headers: Vec::new(),
        }
    }

    fn heartbeat(&self) -> Heartbeat {
        Heartbeat {
            server_ping_interval_ns: None,
            client_ping_interval_ns: None,
            app_ping: Some(AppPing {
                interval_ns: SEC,
                payload: b"ping",
            }),
            pong_timeout_ns: 500 * MS,
            stale_after_ns: None,
        }
    }

    fn pacing(&self) -> Pacing {
        Pacing {
            min_interval_ns: 0,
            budget: self.budget,
        }
    }

    fn resync_policy(&self) -> ResyncPolicy {
        match self.start {
            SnapshotStart::Rest => ResyncPolicy::Snapshot,
            _ => ResyncPolicy::Resubscribe,
        }
    }

    fn snapshot_start(&self) -> SnapshotStart {
        self.start
    }

    fn books(&self) -> Vec<BookSpec> {
        vec![BookSpec {
            instrument: self.instrument,
            config: BookConfig::with_depth(100),
        }]
    }

    fn instruments(&self) -> Vec<InstrumentId> {
        vec![self.instrument]
    }

    fn connect_frames(&mut self, out: &mut Vec<Vec<u8>>) {
        self.conn_seq = None;
        self.push(out, "sub X");
    }

    fn subscribe(&mut self, _: &[()], _: &mut Vec<Vec<u8>>) {}

    fn unsubscribe(&mut self, _: &[()], _: &mut Vec<Vec<u8>>) {}

    fn resubscribe(&mut self, instrument: InstrumentId, out: &mut Vec<Vec<u8>>) {
        assert_eq!(instrument, self.instrument);
        self.push(out, "unsub X");
        self.push(out, "sub X");
    }

    fn pending_acks(&self) -> usize {
        0
    }

    fn decode(
        &mut self,
        payload: &mut [u8],
        recv_ts: u64,
        out: &mut Vec<Event>,
    ) -> Result<Frame, DecodeError> {
        let text = std::str::from_utf8(payload).map_err(|_| DecodeError::new(Reason::Json))?;
        let mut words = text.split(' ');
        let bad = || DecodeError::new(Reason::Schema);
        let kind = words.next().ok_or_else(bad)?;
        let num = |w: Option<&str>| w.and_then(|w| w.parse::<u64>().ok()).ok_or_else(bad);
        match kind {
            "pong" => Ok(Frame::Pong),
            "trade" => {
                let id =
                    TradeId::parse(words.next().ok_or_else(bad)?.as_bytes()).ok_or_else(bad)?;
                let price = dec(words.next().ok_or_else(bad)?);
                let t = Trade {
                    price,
                    qty: dec("1"),
                    side: Side::Buy,
                    id: 0,
                };
                out.push(
                    Event::trade(self.instrument, t, 0, recv_ts)
                        .map_err(|_| bad())?
                        .with_trade_id(id),
                );
                Ok(Frame::Market)
            }
            "snap" | "diff" => {
                let (first, last) = if kind == "snap" {
                    let l = num(words.next())?;
                    (l, l)
                } else {
                    (num(words.next())?, num(words.next())?)
                };
                let mut checksum = None;
                for w in words {
                    if let Some(ck) = w.strip_prefix("ck=") {
                        checksum = Some(ck.parse::<u32>().map_err(|_| bad())?);
                        continue;
                    }
                    let side = match w.as_bytes().first() {
                        Some(b'b') => Side::Buy,
                        Some(b'a') => Side::Sell,
                        _ => return Err(bad()),
                    };
                    let (p, q) = w[1..].split_once('x').ok_or_else(bad)?;
                    let level = Level {
                        side,
                        price: dec(p),
                        qty: dec(q),
                        seq: last,
                    };
                    out.push(
                        Event::level(self.instrument, level, Flags::EMPTY, 0, recv_ts)
                            .map_err(|_| bad())?,
                    );
                }
                if kind == "diff" {
                    if let Some(e) = out.last_mut() {
                        e.flags = e.flags.with(Flags::LAST_IN_BATCH);
                    }
                }
                let ids = DiffIds {
                    first,
                    last,
                    prev: None,
                };
                if self.per_connection {
                    if let Some(prev) = self.conn_seq {
                        if first != prev + 1 {
                            self.conn_gap = Some(prev + 1);
                        }
                    }
                    self.conn_seq = Some(last);
                }
                let instrument = self.instrument;
                Ok(if kind == "snap" {
                    Frame::BookSnapshot {
                        instrument,
                        ids,
                        checksum,
                    }
                } else {
                    Frame::BookDiff {
                        instrument,
                        ids,
                        checksum,
                    }
                })
            }
            _ => Ok(Frame::Unknown),
        }
    }

    fn decode_stats(&self) -> DecodeStats {
        DecodeStats::default()
    }

    fn take_connection_gap(&mut self) -> Option<u64> {
        self.conn_gap.take()
    }

    fn copies_line_up(&self) -> bool {
        !self.per_connection
    }

    fn first_diff(&self, snapshot_id: u64, diff: &DiffIds) -> SeqCheck {
        if self.per_connection {
            return if diff.last <= snapshot_id {
                SeqCheck::Stale
            } else {
                SeqCheck::Apply
            };
        }
        if self.unsequenced {
            SeqCheck::Apply
        } else if diff.last <= snapshot_id {
            SeqCheck::Stale
        } else if diff.first <= snapshot_id + 1 {
            SeqCheck::Apply
        } else {
            SeqCheck::Gap
        }
    }

    fn join_diff(&self, last: &DiffIds, diff: &DiffIds) -> SeqCheck {
        if self.strict_chain && diff.first != 1 && diff.last <= last.last {
            SeqCheck::Stale
        } else {
            self.next_diff(last, diff)
        }
    }

    fn next_diff(&self, last: &DiffIds, diff: &DiffIds) -> SeqCheck {
        if self.per_connection {
            return self.first_diff(last.last, diff);
        }
        if self.unsequenced {
            SeqCheck::Apply
        } else if diff.first == 1 {
            SeqCheck::Reset
        } else if diff.first == last.last + 1 {
            SeqCheck::Apply
        } else if self.strict_chain {
            SeqCheck::Gap
        } else if diff.last <= last.last {
            SeqCheck::Stale
        } else {
            SeqCheck::Gap
        }
    }

    fn book_checksum(&self, _: InstrumentId, book: &Book) -> Option<u32> {
        let bids: Vec<_> = book.bids(5).collect();
        let asks: Vec<_> = book.asks(5).collect();
        Some(toy_checksum(
            bids.iter().map(|(p, q)| (p, q)),
            asks.iter().map(|(p, q)| (p, q)),
        ))
    }

    fn cadence(&self, _: InstrumentId, _: StreamKind) -> Option<Cadence> {
        None
    }
}

/// A toy venue on a handler, with the independent model of what consumers should hold.
struct Rig {
    handler: FeedHandler<Toy>,
    feeder: QueuedSnapshots,
    outbox: Outbox,
    publisher: Publisher,
    actions: Actions,
    consumer: Consumer,
    now: u64,
    produced: Arc<Mutex<Vec<String>>>,
    /// The consumer's book, rebuilt from events only.
    book: Book,
    statuses: Vec<(StatusKind, Reason, u64)>,
    published: Vec<Event>,
}

impl Rig {
    fn new(toy: Toy) -> Rig {
        Rig::with_config(toy, FeedConfig::default())
    }

    fn with_config(toy: Toy, config: FeedConfig) -> Rig {
        let produced = toy.produced.clone();
        let snaps = QueuedSnapshots::new();
        let feeder = snaps.feeder();
        let handler = FeedHandler::new(toy, Box::new(snaps), config);
        let (p, consumer) = channel(1 << 12);
        let mut rig = Rig {
            handler,
            feeder,
            outbox: Outbox::new(1 << 20),
            publisher: Publisher::new(vec![p]),
            actions: Actions::default(),
            consumer,
            now: SEC,
            produced,
            book: Book::new(BookConfig::with_depth(100)),
            statuses: Vec::new(),
            published: Vec::new(),
        };
        rig.call(|h, cx| h.on_connect(cx));
        rig
    }

    fn call(&mut self, f: impl FnOnce(&mut FeedHandler<Toy>, &mut Context<'_>)) {
        self.actions = Actions::default();
        let mut cx = Context::new(
            self.now,
            ConnectionId(1),
            &mut self.outbox,
            &mut self.publisher,
            &mut self.actions,
        );
        f(&mut self.handler, &mut cx);
        while let Some(e) = self.consumer.pop() {
            if let Some(s) = e.as_status() {
                let reason = Reason::from_code(s.reason).unwrap();
                self.statuses.push((s.kind, reason, s.value));
            }
            if matches!(e.kind(), EventKind::BookLevel | EventKind::Status) {
                self.book.apply_event(&e).unwrap();
            }
            self.published.push(e);
        }
    }

    fn msg(&mut self, text: &str) {
        let mut buf = text.as_bytes().to_vec();
        self.call(|h, cx| h.on_message(Message::Text(&mut buf), cx));
    }

    fn at(&mut self, now: u64) {
        self.now = now;
        self.call(|h, cx| {
            h.on_poll(cx);
            h.on_timer(cx);
        });
    }

    /// Text frames the handler put on the wire, unmasked, in order.
    fn sent(&self) -> Vec<String> {
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
        out
    }

    fn count(&self, kind: StatusKind) -> usize {
        self.statuses.iter().filter(|s| s.0 == kind).count()
    }

    fn levels(&self) -> Sides {
        (self.book.bids(100).collect(), self.book.asks(100).collect())
    }
}

/// An independent model book: what a venue's messages mean, applied by hand.
#[derive(Default)]
struct Model {
    bids: BTreeMap<Decimal, Decimal>,
    asks: BTreeMap<Decimal, Decimal>,
}

impl Model {
    fn apply(&mut self, levels: &str) {
        for w in levels
            .split(' ')
            .filter(|w| !w.is_empty() && !w.starts_with("ck="))
        {
            let side = if w.starts_with('b') {
                &mut self.bids
            } else {
                &mut self.asks
            };
            let (p, q) = w[1..].split_once('x').unwrap();
            if dec(q).is_zero() {
                side.remove(&dec(p));
            } else {
                side.insert(dec(p), dec(q));
            }
        }
    }

    fn levels(&self) -> Sides {
        (
            self.bids.iter().rev().map(|(p, q)| (*p, *q)).collect(),
            self.asks.iter().map(|(p, q)| (*p, *q)).collect(),
        )
    }

    fn checksum(&self) -> u32 {
        toy_checksum(self.bids.iter().rev(), self.asks.iter())
    }
}

fn toy(start: SnapshotStart) -> (Toy, Registry) {
    let registry = Registry::new();
    let x = registry.intern("toy", "X");
    (Toy::new(x, start), registry)
}

#[test]
fn in_band_snapshots_sync_and_replace_the_book_at_any_time() {
    let (t, _r) = toy(SnapshotStart::InBand);
    let mut rig = Rig::new(t);
    // A diff before the first snapshot is older in stream order: it waits, then is dropped.
    rig.msg("diff 3 3 b99x5");
    assert!(rig.book.best_bid().is_none());
    rig.msg("snap 10 b100x1 b99x2 a101x3");
    rig.msg("diff 11 11 b100x0 a102x4");
    let mut model = Model::default();
    model.apply("b100x1 b99x2 a101x3");
    model.apply("b100x0 a102x4");
    assert_eq!(rig.levels(), model.levels());
    assert!(rig.handler.in_sync(rig.handler.adapter().instrument));
    // Bybit re-sends snapshots, sometimes with a lower id: it replaces the book.
    rig.msg("snap 5 b90x1 a95x1");
    let mut model = Model::default();
    model.apply("b90x1 a95x1");
    assert_eq!(rig.levels(), model.levels());
    rig.msg("diff 6 6 b91x2");
    model.apply("b91x2");
    assert_eq!(rig.levels(), model.levels());
    // No gap, no resync, nothing requested: every snapshot came in-band.
    assert_eq!(rig.count(StatusKind::Gap), 0);
    assert_eq!(rig.count(StatusKind::Resync), 0);
    assert_eq!(rig.feeder.requests(), 0);
    assert_eq!(rig.handler.stats().snapshots_applied, 2);
    // Each snapshot went out as one run: RUN_START first, LAST_IN_BATCH last.
    let runs: Vec<_> = rig
        .published
        .iter()
        .filter(|e| e.flags.contains(Flags::SNAPSHOT))
        .collect();
    assert_eq!(runs.len(), 3 + 2);
    assert!(runs[0].flags.contains(Flags::RUN_START));
    assert!(runs[2].flags.contains(Flags::LAST_IN_BATCH));
    assert!(runs[3].flags.contains(Flags::RUN_START));
}

#[test]
fn a_sequence_reset_replaces_the_book_without_a_gap() {
    let (t, _r) = toy(SnapshotStart::InBand);
    let mut rig = Rig::new(t);
    rig.msg("snap 10 b100x1 a101x3");
    rig.msg("diff 11 11 b99x1");
    // `u == 1`: the venue restarted; the message is the whole new book.
    rig.msg("diff 1 1 b50x1 a51x1");
    let mut model = Model::default();
    model.apply("b50x1 a51x1");
    assert_eq!(rig.levels(), model.levels());
    rig.msg("diff 2 2 a52x7");
    model.apply("a52x7");
    assert_eq!(rig.levels(), model.levels());
    assert_eq!(rig.handler.stats().resets, 1);
    assert_eq!(rig.count(StatusKind::Gap), 0);
    assert_eq!(rig.count(StatusKind::Resync), 0);
    assert_eq!(rig.produced.lock().unwrap().len(), 1, "no resubscribe");
}

/// A reset (`u == 1`) before the book's first snapshot, while diffs are buffered: it is the
/// whole new book, installed at once (it was buffered and never installed, waiting for a
/// snapshot the venue never sends).
#[test]
fn a_sequence_reset_while_buffering_installs_the_book() {
    let (t, _r) = toy(SnapshotStart::InBand);
    let mut rig = Rig::new(t);
    // Diffs before any snapshot: buffered.
    rig.msg("diff 7 7 b99x5");
    rig.msg("diff 8 8 a103x1");
    assert!(rig.book.best_bid().is_none());
    rig.msg("diff 1 1 b50x1 b49x2 a51x1");
    let mut model = Model::default();
    model.apply("b50x1 b49x2 a51x1");
    assert_eq!(rig.levels(), model.levels());
    assert!(rig.handler.in_sync(rig.handler.adapter().instrument));
    // The chain goes on from the reset; the diffs buffered before it are gone.
    rig.msg("diff 2 2 b50x0 a52x7");
    model.apply("b50x0 a52x7");
    assert_eq!(rig.levels(), model.levels());
    assert_eq!(rig.handler.stats().resets, 1);
    assert_eq!(rig.handler.stats().snapshots_applied, 1);
    assert_eq!(rig.count(StatusKind::Gap), 0);
    assert_eq!(rig.count(StatusKind::Resync), 0);
    // It went out as one SNAPSHOT run of the three levels.
    let run: Vec<_> = rig
        .published
        .iter()
        .filter(|e| e.flags.contains(Flags::SNAPSHOT))
        .collect();
    assert_eq!(run.len(), 3);
    assert!(run[0].flags.contains(Flags::RUN_START));
    assert!(run[2].flags.contains(Flags::LAST_IN_BATCH));
}

/// The same with a REST start: a reset arriving while the book waits for its REST snapshot
/// installs at once, and the snapshot that comes later (older than the reset) is not used.
#[test]
fn a_sequence_reset_while_waiting_for_a_rest_snapshot_installs_the_book() {
    let (t, _r) = toy(SnapshotStart::Rest);
    let x = t.instrument;
    let mut rig = Rig::new(t);
    rig.msg("diff 7 7 b99x5");
    assert_eq!(rig.feeder.requests(), 1);
    rig.msg("diff 1 1 b50x1 a51x1");
    let mut model = Model::default();
    model.apply("b50x1 a51x1");
    assert_eq!(rig.levels(), model.levels());
    // The snapshot asked for before the reset answers now: the book is in sync already.
    rig.feeder.push(BookSnapshot {
        instrument: x,
        last_id: 6,
        exchange_ts: 0,
        bids: vec![(dec("99"), dec("1"))],
        asks: vec![(dec("103"), dec("1"))],
    });
    rig.at(SEC + MS);
    assert_eq!(rig.levels(), model.levels());
    rig.msg("diff 2 2 a52x7");
    model.apply("a52x7");
    assert_eq!(rig.levels(), model.levels());
    assert_eq!(rig.count(StatusKind::Gap), 0);
    assert_eq!(rig.handler.stats().resets, 1);
}

#[test]
fn a_gap_resubscribes_that_instrument_once_and_the_next_snapshot_heals() {
    let (t, _r) = toy(SnapshotStart::InBand);
    let mut rig = Rig::new(t);
    rig.msg("snap 10 b100x1 a101x3");
    rig.msg("diff 13 13 b99x1"); // 11 and 12 are missing
    assert_eq!(rig.count(StatusKind::Gap), 1);
    assert_eq!(rig.count(StatusKind::Resync), 1);
    assert!(!rig.book.is_valid(), "consumers hear the book is invalid");
    assert_eq!(rig.sent(), ["sub X", "unsub X", "sub X"]);
    // More diffs of the old subscription, and time, before the snapshot: no second request.
    rig.msg("diff 14 14 b98x1");
    rig.at(rig.now + 3 * SEC);
    rig.msg("diff 15 15 b97x1");
    assert_eq!(rig.handler.stats().resubscribes, 1);
    rig.msg("snap 20 b100x2 a101x1");
    rig.msg("diff 21 21 a103x1");
    let mut model = Model::default();
    model.apply("b100x2 a101x1 a103x1");
    assert_eq!(rig.levels(), model.levels());
    assert!(rig.book.is_valid());
    // The resubscribe's frames and the pings (sent each second) are all that went out.
    let requests: Vec<_> = rig.sent().into_iter().filter(|f| f != "ping").collect();
    assert_eq!(requests, ["sub X", "unsub X", "sub X"]);
    assert_eq!(rig.feeder.requests(), 0, "an in-band venue never asks REST");
}

#[test]
fn a_checksum_mismatch_withholds_the_message_reports_it_and_resyncs() {
    let (t, _r) = toy(SnapshotStart::InBand);
    let mut rig = Rig::new(t);
    let mut model = Model::default();
    model.apply("b100x1 a101x3");
    let good = model.checksum();
    rig.msg(&format!("snap 10 ck={good} b100x1 a101x3"));
    model.apply("b99x2");
    let good = model.checksum();
    rig.msg(&format!("diff 11 11 ck={good} b99x2"));
    assert_eq!(rig.levels(), model.levels());
    assert_eq!(rig.handler.stats().checksums_checked, 2);
    let before = rig.published.len();
    let wrong = good.wrapping_add(1);
    rig.msg(&format!("diff 12 12 ck={wrong} b98x2"));
    let new = &rig.published[before..];
    // Nothing of the diff reached consumers; a Checksum status (the venue's value), then
    // Resync with reason checksum.
    assert!(new.iter().all(|e| e.kind() == EventKind::Status));
    assert_eq!(
        rig.statuses
            .iter()
            .filter(|s| s.0 != StatusKind::Connected)
            .collect::<Vec<_>>(),
        [
            &(StatusKind::Checksum, Reason::Checksum, u64::from(wrong)),
            &(StatusKind::Resync, Reason::Checksum, 0)
        ]
    );
    assert_eq!(rig.handler.stats().checksum_failures, 1);
    assert_eq!(rig.handler.stats().resubscribes, 1);
    // A snapshot with a wrong checksum is refused too, and asks again after the backoff.
    rig.msg("snap 30 ck=1 b100x1 a101x1");
    assert!(!rig.book.is_valid());
    assert_eq!(rig.count(StatusKind::Checksum), 2);
    rig.at(rig.now + 20 * SEC);
    assert_eq!(rig.handler.stats().resubscribes, 2);
    let mut model = Model::default();
    model.apply("b100x1 a101x1");
    rig.msg(&format!("snap 31 ck={} b100x1 a101x1", model.checksum()));
    assert!(rig.book.is_valid());
    assert_eq!(rig.levels(), model.levels());
}

/// The "no sequence" mode (Kraken v2, venues.md §4, §12): ids all zero, every diff applies,
/// the checksum after each is the integrity check; a crossed book the checksum vouches for
/// is the venue's own and stays; a lost update shows as a checksum mismatch, which
/// resubscribes once, and the next snapshot heals.
#[test]
fn without_a_sequence_every_diff_applies_and_the_checksum_is_the_integrity_check() {
    let (mut t, _r) = toy(SnapshotStart::InBand);
    t.unsequenced = true;
    let mut rig = Rig::new(t);
    let mut model = Model::default();
    model.apply("b100x1 a101x3");
    rig.msg(&format!("snap 0 ck={} b100x1 a101x3", model.checksum()));
    for levels in ["b99x2", "a101x0 a102x1", "b100x5 b100x6"] {
        model.apply(levels);
        rig.msg(&format!("diff 0 0 ck={} {levels}", model.checksum()));
    }
    assert_eq!(rig.levels(), model.levels());
    // Crossed, and the checksum agrees: applied, no resync.
    model.apply("b103x1");
    rig.msg(&format!("diff 0 0 ck={} b103x1", model.checksum()));
    assert_eq!(rig.levels(), model.levels());
    assert_eq!(rig.handler.stats().crossed, 0);
    assert_eq!(rig.count(StatusKind::Resync), 0);
    assert_eq!(rig.handler.stats().checksums_checked, 5);
    // An update is lost on the way: the next message's checksum disagrees.
    model.apply("b103x0");
    model.apply("b98x1");
    rig.msg(&format!("diff 0 0 ck={} b98x1", model.checksum()));
    assert_eq!(rig.count(StatusKind::Checksum), 1);
    assert_eq!(rig.count(StatusKind::Gap), 0);
    assert_eq!(rig.count(StatusKind::Resync), 1);
    assert_eq!(rig.handler.stats().resubscribes, 1);
    let mut model = Model::default();
    model.apply("b100x6 b98x1 a102x1");
    rig.msg(&format!(
        "snap 0 ck={} b100x6 b98x1 a102x1",
        model.checksum()
    ));
    assert!(rig.book.is_valid());
    assert_eq!(rig.levels(), model.levels());
}

#[test]
fn resubscribes_stay_within_the_request_budget() {
    let (mut t, _r) = toy(SnapshotStart::InBand);
    // Three requests per minute; the connect frame spends one.
    t.budget = Some(RequestBudget {
        requests: 3,
        window_ns: 60 * SEC,
    });
    let start = SEC;
    // Only gaps ask here (no sync timeout within the test).
    let config = FeedConfig {
        snapshot_sync_timeout_ns: 3600 * SEC,
        ..FeedConfig::default()
    };
    let mut rig = Rig::with_config(t, config);
    rig.msg("snap 10 b100x1 a101x3");
    rig.msg("diff 12 12 b99x1"); // gap: unsubscribe + subscribe = two requests, both fit
    assert_eq!(rig.sent(), ["sub X", "unsub X", "sub X"]);
    rig.msg("snap 20 b100x1 a101x3");
    rig.at(rig.now + 2 * SEC); // the backoff's first step has passed
    rig.msg("pong");
    rig.msg("diff 22 22 b99x1"); // a second gap: the budget is spent until start + 60 s
    let requests = |rig: &Rig| rig.sent().into_iter().filter(|f| f != "ping").count();
    assert_eq!(requests(&rig), 3);
    assert!(rig.handler.stats().budget_waits >= 1);
    // The timer is armed for the moment the window frees a request.
    assert_eq!(rig.actions.timer.map(|t| t <= start + 60 * SEC), Some(true));
    rig.at(start + 60 * SEC - 1);
    assert_eq!(requests(&rig), 3, "no request before the window frees one");
    rig.at(start + 60 * SEC);
    assert_eq!(requests(&rig), 5);
    assert_eq!(
        rig.sent()
            .into_iter()
            .filter(|f| f != "ping")
            .collect::<Vec<_>>(),
        ["sub X", "unsub X", "sub X", "unsub X", "sub X"]
    );
}

#[test]
fn a_missing_application_pong_recycles_the_connection() {
    let (t, _r) = toy(SnapshotStart::InBand);
    let mut rig = Rig::new(t);
    rig.at(2 * SEC); // the first ping (interval 1 s from connect)
    assert_eq!(rig.sent().last().map(String::as_str), Some("ping"));
    rig.msg("pong");
    rig.at(2 * SEC + 600 * MS);
    assert_eq!(rig.actions.recycle, None, "answered in time");
    rig.at(3 * SEC); // next ping
    rig.at(3 * SEC + 499 * MS);
    assert_eq!(rig.actions.recycle, None);
    rig.at(3 * SEC + 500 * MS);
    assert_eq!(rig.actions.recycle, Some(Reason::PongTimeout));
    assert_eq!(rig.handler.stats().pong_timeouts, 1);
    assert_eq!(rig.handler.stats().pongs, 1);
}

#[test]
fn an_in_band_start_falls_back_to_rest_after_its_grace() {
    let (t, _r) = toy(SnapshotStart::InBandElseRest { grace_ns: 2 * SEC });
    let x = t.instrument;
    let mut rig = Rig::new(t); // connected at 1 s
    rig.msg("diff 5 5 b100x1");
    rig.msg("diff 6 6 b99x1");
    rig.at(2 * SEC);
    rig.msg("pong");
    assert_eq!(
        rig.feeder.requests(),
        0,
        "still waiting for an in-band snapshot"
    );
    rig.at(3 * SEC);
    rig.msg("pong");
    assert_eq!(rig.feeder.requests(), 1);
    rig.msg("diff 7 7 a101x1");
    rig.feeder.push(BookSnapshot {
        instrument: x,
        last_id: 5,
        exchange_ts: 0,
        bids: vec![(dec("100"), dec("1")), (dec("98"), dec("1"))],
        asks: vec![(dec("102"), dec("1"))],
    });
    rig.at(3 * SEC + MS);
    let mut model = Model::default();
    model.apply("b100x1 b98x1 a102x1");
    model.apply("b99x1");
    model.apply("a101x1");
    assert_eq!(rig.levels(), model.levels());
    assert!(rig.book.is_valid());
    // A gap afterwards resubscribes (the in-band way) rather than asking REST at once, no
    // sooner than the backoff's first step after the REST request.
    rig.msg("diff 9 9 b97x1");
    assert_eq!(rig.handler.stats().resubscribes, 0);
    rig.at(3 * SEC + 300 * MS);
    assert_eq!(rig.handler.stats().resubscribes, 1);
    assert_eq!(rig.feeder.requests(), 1);
}

#[test]
fn unordered_trade_ids_are_published_once_across_a_hand_over() {
    let (t, _r) = toy(SnapshotStart::InBand);
    let mut old = Rig::new(t.clone());
    let mut new = Rig::new(t.clone());
    new.handler = FeedHandler::standby(t, Box::new(QueuedSnapshots::new()), FeedConfig::default());
    new.call(|h, cx| h.on_connect(cx));
    let a = "9dc75fca-4bdd-4773-9f78-6f5d7ab2a110";
    let b = "0f4c1d2e-0000-4000-8000-000000000001";
    let c = "e7d6c5b4-a392-4181-b0f0-123456789abc";
    old.msg(&format!("trade {a} 100"));
    old.msg(&format!("trade {b} 101"));
    old.msg("trade x-not-a-uuid 102");
    for id in [a, b, "x-not-a-uuid", c, "y-also-text"] {
        new.msg(&format!("trade {id} 103"));
    }
    let mut cx = Context::new(
        new.now,
        ConnectionId(2),
        &mut new.outbox,
        &mut new.publisher,
        &mut new.actions,
    );
    let report = new.handler.take_over(&mut old.handler, &mut cx);
    assert_eq!(report.duplicates, 3);
    assert_eq!(report.published, 2);
    let mut ids = Vec::new();
    while let Some(e) = new.consumer.pop() {
        if let Some(id) = e.trade_id() {
            ids.push(id.to_string());
        }
    }
    assert_eq!(ids[0], c);
    assert!(ids[1].starts_with('#'));
    // After the hand-over the new connection's live copies of old trades are skipped too.
    new.msg(&format!("trade {b} 101"));
    assert_eq!(new.handler.stats().duplicates, 1);
}

// ---- Connection-wide sequences (Coinbase Advanced Trade's `sequence_num`) ----

/// A toy venue that numbers every message of the connection once, across books and
/// channels: `SEQ snap SYM b100x1 ..`, `SEQ diff SYM ..`, `SEQ hb`. Book ids are the
/// connection sequence, so a book's own diffs skip numbers and only the connection can tell
/// a loss.
struct ConnToy {
    x: InstrumentId,
    y: InstrumentId,
    /// The sequence number the next message must carry (`None`: the session's first).
    expected: Option<u64>,
    gap: Option<u64>,
    produced: Arc<Mutex<Vec<String>>>,
}

impl FeedAdapter for ConnToy {
    type Subscription = ();

    fn venue(&self) -> &str {
        "conntoy"
    }

    fn endpoint(&self) -> Endpoint {
        Endpoint {
            url: "ws://127.0.0.1:1/".into(),
            headers: Vec::new(),
        }
    }

    fn heartbeat(&self) -> Heartbeat {
        Heartbeat {
            server_ping_interval_ns: None,
            client_ping_interval_ns: None,
            app_ping: None,
            pong_timeout_ns: SEC,
            stale_after_ns: None,
        }
    }

    fn pacing(&self) -> Pacing {
        Pacing::default()
    }

    fn resync_policy(&self) -> ResyncPolicy {
        ResyncPolicy::Resubscribe
    }

    fn snapshot_start(&self) -> SnapshotStart {
        SnapshotStart::InBand
    }

    fn books(&self) -> Vec<BookSpec> {
        [self.x, self.y]
            .into_iter()
            .map(|instrument| BookSpec {
                instrument,
                config: BookConfig::with_depth(100),
            })
            .collect()
    }

    fn instruments(&self) -> Vec<InstrumentId> {
        vec![self.x, self.y]
    }

    fn connect_frames(&mut self, out: &mut Vec<Vec<u8>>) {
        self.expected = None;
        self.gap = None;
        self.produced.lock().unwrap().push("sub X Y".into());
        out.push(b"sub X Y".to_vec());
    }

    fn subscribe(&mut self, _: &[()], _: &mut Vec<Vec<u8>>) {}

    fn unsubscribe(&mut self, _: &[()], _: &mut Vec<Vec<u8>>) {}

    fn resubscribe(&mut self, instrument: InstrumentId, out: &mut Vec<Vec<u8>>) {
        let name = if instrument == self.x { "X" } else { "Y" };
        for f in [format!("unsub {name}"), format!("sub {name}")] {
            self.produced.lock().unwrap().push(f.clone());
            out.push(f.into_bytes());
        }
    }

    fn pending_acks(&self) -> usize {
        0
    }

    fn decode(
        &mut self,
        payload: &mut [u8],
        recv_ts: u64,
        out: &mut Vec<Event>,
    ) -> Result<Frame, DecodeError> {
        let bad = || DecodeError::new(Reason::Schema);
        let text = std::str::from_utf8(payload).map_err(|_| bad())?;
        let mut words = text.split(' ');
        let seq: u64 = words.next().and_then(|w| w.parse().ok()).ok_or_else(bad)?;
        if let Some(e) = self.expected {
            if seq > e {
                self.gap = Some(e);
            }
        }
        self.expected = Some(seq + 1);
        let kind = words.next().ok_or_else(bad)?;
        if kind == "hb" {
            return Ok(Frame::Control);
        }
        let instrument = match words.next() {
            Some("X") => self.x,
            Some("Y") => self.y,
            _ => return Err(bad()),
        };
        for w in words {
            let side = if w.starts_with('b') {
                Side::Buy
            } else {
                Side::Sell
            };
            let (p, q) = w[1..].split_once('x').ok_or_else(bad)?;
            let level = Level {
                side,
                price: dec(p),
                qty: dec(q),
                seq,
            };
            out.push(Event::level(instrument, level, Flags::EMPTY, 0, recv_ts).map_err(|_| bad())?);
        }
        if let Some(last) = out.last_mut() {
            last.flags = Flags::LAST_IN_BATCH;
        }
        let ids = DiffIds {
            first: seq,
            last: seq,
            prev: None,
        };
        Ok(match kind {
            "snap" => Frame::BookSnapshot {
                instrument,
                ids,
                checksum: None,
            },
            _ => Frame::BookDiff {
                instrument,
                ids,
                checksum: None,
            },
        })
    }

    fn take_connection_gap(&mut self) -> Option<u64> {
        self.gap.take()
    }

    fn decode_stats(&self) -> DecodeStats {
        DecodeStats::default()
    }

    fn first_diff(&self, snapshot_id: u64, diff: &DiffIds) -> SeqCheck {
        if diff.last <= snapshot_id {
            SeqCheck::Stale
        } else {
            SeqCheck::Apply
        }
    }

    /// A book's diffs only have to move forward: the connection checks continuity.
    fn next_diff(&self, last: &DiffIds, diff: &DiffIds) -> SeqCheck {
        self.first_diff(last.last, diff)
    }
}

/// The connection toy on a handler; consumers' books per instrument, rebuilt from events.
struct ConnRig {
    handler: FeedHandler<ConnToy>,
    outbox: Outbox,
    publisher: Publisher,
    actions: Actions,
    consumer: Consumer,
    now: u64,
    produced: Arc<Mutex<Vec<String>>>,
    books: [Book; 2],
    x: InstrumentId,
    statuses: Vec<(InstrumentId, StatusKind, u64)>,
}

impl ConnRig {
    fn new() -> ConnRig {
        let registry = Registry::new();
        let (x, y) = (
            registry.intern("conntoy", "X"),
            registry.intern("conntoy", "Y"),
        );
        let produced: Arc<Mutex<Vec<String>>> = Arc::default();
        let toy = ConnToy {
            x,
            y,
            expected: None,
            gap: None,
            produced: produced.clone(),
        };
        let handler =
            FeedHandler::new(toy, Box::new(QueuedSnapshots::new()), FeedConfig::default());
        let (p, consumer) = channel(1 << 12);
        let mut rig = ConnRig {
            handler,
            outbox: Outbox::new(1 << 20),
            publisher: Publisher::new(vec![p]),
            actions: Actions::default(),
            consumer,
            now: SEC,
            produced,
            books: [
                Book::new(BookConfig::with_depth(100)),
                Book::new(BookConfig::with_depth(100)),
            ],
            x,
            statuses: Vec::new(),
        };
        rig.call(|h, cx| h.on_connect(cx));
        rig
    }

    fn call(&mut self, f: impl FnOnce(&mut FeedHandler<ConnToy>, &mut Context<'_>)) {
        self.actions = Actions::default();
        let mut cx = Context::new(
            self.now,
            ConnectionId(1),
            &mut self.outbox,
            &mut self.publisher,
            &mut self.actions,
        );
        f(&mut self.handler, &mut cx);
        while let Some(e) = self.consumer.pop() {
            if let Some(s) = e.as_status() {
                self.statuses.push((e.instrument, s.kind, s.value));
            }
            let book = &mut self.books[usize::from(e.instrument != self.x)];
            if matches!(e.kind(), EventKind::BookLevel | EventKind::Status) {
                book.apply_event(&e).unwrap();
            }
        }
    }

    fn msg(&mut self, text: &str) {
        let mut buf = text.as_bytes().to_vec();
        self.call(|h, cx| h.on_message(Message::Text(&mut buf), cx));
    }
}

#[test]
fn a_connection_sequence_gap_invalidates_every_book_of_the_connection_and_resubscribes_each() {
    let mut rig = ConnRig::new();
    rig.msg("1 snap X b100x1 a101x1");
    rig.msg("2 snap Y b10x1 a11x1");
    rig.msg("3 hb");
    rig.msg("4 diff X b99x1");
    assert!(rig.books.iter().all(Book::is_valid));
    // 5 is lost (it could have been either book's): the next message is Y's and looks fine
    // to Y's own chain (6 > 2), yet both books must be declared invalid.
    rig.msg("6 diff Y b9x1");
    let gaps: Vec<_> = rig
        .statuses
        .iter()
        .filter(|s| s.1 == StatusKind::Gap)
        .map(|s| s.2)
        .collect();
    assert_eq!(
        gaps,
        [5, 5],
        "one Gap per book, valued with the lost number"
    );
    assert_eq!(
        rig.statuses
            .iter()
            .filter(|s| s.1 == StatusKind::Resync)
            .count(),
        2
    );
    assert!(rig.books.iter().all(|b| !b.is_valid()));
    assert_eq!(rig.handler.stats().connection_gaps, 1);
    assert_eq!(
        *rig.produced.lock().unwrap(),
        ["sub X Y", "unsub X", "sub X", "unsub Y", "sub Y"]
    );
    // Fresh snapshots heal each book; the diff that revealed the gap was not applied.
    rig.msg("7 snap X b100x2 a101x1");
    rig.msg("8 snap Y b10x3 a11x1");
    rig.msg("9 diff Y b9x4");
    assert!(rig.books.iter().all(Book::is_valid));
    let y: (Vec<_>, Vec<_>) = (
        rig.books[1].bids(10).collect(),
        rig.books[1].asks(10).collect(),
    );
    assert_eq!(
        y,
        (
            vec![(dec("10"), dec("3")), (dec("9"), dec("4"))],
            vec![(dec("11"), dec("1"))]
        )
    );
}

#[test]
fn a_new_connection_numbers_afresh_and_an_unbroken_sequence_resyncs_nothing() {
    let mut rig = ConnRig::new();
    rig.msg("10 snap X b100x1 a101x1");
    rig.msg("11 snap Y b10x1 a11x1");
    rig.msg("12 diff X b99x1");
    rig.msg("13 hb");
    rig.call(|h, cx| {
        h.on_disconnect(Reason::PeerClosed, cx);
        h.on_connect(cx);
    });
    let resyncs = rig.statuses.len();
    // The venue starts counting again on the new connection: not a gap.
    rig.msg("0 snap X b100x1 a101x1");
    rig.msg("1 snap Y b10x1 a11x1");
    rig.msg("2 diff Y b9x1");
    assert_eq!(rig.statuses.len(), resyncs, "no status after the reconnect");
    assert_eq!(rig.handler.stats().connection_gaps, 0);
    assert!(rig.books.iter().all(Book::is_valid));
}
