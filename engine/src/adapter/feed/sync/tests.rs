//! [`BookSync`] alone: a fake adapter with one book, no connection, no handler. Each test
//! feeds diffs, in-band books and REST answers and checks what the type asked for (in
//! order) and the book it holds against values worked out by hand from the fake's rules:
//! ids chain when a diff's `first` is the last `last` + 1, `first == 1` is a reset, and
//! the checksum is the sum over every level of price × quantity (integers here).

use super::*;
use crate::adapter::{
    BookSpec, Cadence, DecodeError, DecodeStats, Endpoint, Heartbeat, Pacing, SnapshotError,
};
use crate::instrument::Registry;

const SEC: u64 = 1_000_000_000;

struct Fake {
    instrument: InstrumentId,
    start: SnapshotStart,
    policy: ResyncPolicy,
}

impl FeedAdapter for Fake {
    type Subscription = ();

    fn venue(&self) -> &str {
        "fake"
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
        Pacing {
            min_interval_ns: 0,
            budget: None,
        }
    }

    fn resync_policy(&self) -> ResyncPolicy {
        self.policy
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
        out.push(b"sub".to_vec());
    }

    fn subscribe(&mut self, _: &[()], _: &mut Vec<Vec<u8>>) {}

    fn unsubscribe(&mut self, _: &[()], _: &mut Vec<Vec<u8>>) {}

    fn resubscribe(&mut self, _: InstrumentId, out: &mut Vec<Vec<u8>>) {
        out.push(b"unsub".to_vec());
        out.push(b"sub".to_vec());
    }

    fn pending_acks(&self) -> usize {
        0
    }

    fn decode(&mut self, _: &mut [u8], _: u64, _: &mut Vec<Event>) -> Result<Frame, DecodeError> {
        Ok(Frame::Unknown)
    }

    fn decode_stats(&self) -> DecodeStats {
        DecodeStats::default()
    }

    fn first_diff(&self, snapshot_id: u64, diff: &DiffIds) -> SeqCheck {
        if diff.last <= snapshot_id {
            SeqCheck::Stale
        } else if diff.first <= snapshot_id + 1 {
            SeqCheck::Apply
        } else {
            SeqCheck::Gap
        }
    }

    fn next_diff(&self, last: &DiffIds, diff: &DiffIds) -> SeqCheck {
        if diff.first == 1 {
            SeqCheck::Reset
        } else if diff.first == last.last + 1 {
            SeqCheck::Apply
        } else if diff.last <= last.last {
            SeqCheck::Stale
        } else {
            SeqCheck::Gap
        }
    }

    fn book_checksum(&self, _: InstrumentId, book: &Book) -> Option<u32> {
        let sum = book
            .bids(usize::MAX)
            .chain(book.asks(usize::MAX))
            .fold(0i64, |s, (p, q)| s + p.mantissa() * q.mantissa());
        Some(sum as u32)
    }

    fn cadence(&self, _: InstrumentId, _: StreamKind) -> Option<Cadence> {
        None
    }
}

/// One thing the sync asked for.
#[derive(Debug, PartialEq)]
enum Out {
    /// Published levels: (side, price, qty, flags).
    Publish(Vec<(Side, i64, i64, Flags)>),
    Status(StatusKind, Reason, u64),
    Fetch,
    Send(usize),
    Recycle(Reason),
    Arm,
}

#[derive(Default)]
struct Record(Vec<Out>);

impl SyncOut for Record {
    fn publish(&mut self, events: &[Event]) {
        let levels = events
            .iter()
            .map(|e| {
                let l = e.as_level().expect("a level");
                (l.side, l.price.mantissa(), l.qty.mantissa(), e.flags)
            })
            .collect();
        self.0.push(Out::Publish(levels));
    }

    fn status(&mut self, _: InstrumentId, kind: StatusKind, reason: Reason, value: u64) {
        self.0.push(Out::Status(kind, reason, value));
    }

    fn fetch_snapshot(&mut self, _: InstrumentId) {
        self.0.push(Out::Fetch);
    }

    fn send(&mut self, frames: Vec<Vec<u8>>) {
        self.0.push(Out::Send(frames.len()));
    }

    fn recycle(&mut self, reason: Reason) {
        self.0.push(Out::Recycle(reason));
    }

    fn arm_timer(&mut self) {
        self.0.push(Out::Arm);
    }
}

type Lv = (Side, i64, i64);

const B: Side = Side::Buy;
const A: Side = Side::Sell;

struct Rig {
    adapter: Fake,
    config: FeedConfig,
    stats: FeedStats,
    run: Vec<Event>,
    sync: BookSync,
    out: Record,
    now: u64,
}

impl Rig {
    fn new(start: SnapshotStart, policy: ResyncPolicy) -> Rig {
        let instrument = Registry::new().intern("fake", "X");
        let config = FeedConfig::default();
        Rig {
            adapter: Fake {
                instrument,
                start,
                policy,
            },
            sync: BookSync::new(instrument, BookConfig::with_depth(100), &config),
            config,
            stats: FeedStats::default(),
            run: Vec::new(),
            out: Record::default(),
            now: 1_000 * SEC,
        }
    }

    /// REST start, resync by a new REST snapshot (Binance's way).
    fn rest() -> Rig {
        Rig::new(SnapshotStart::Rest, ResyncPolicy::Snapshot)
    }

    /// In-band start, resync by resubscribing (Bybit's, OKX's way).
    fn inband() -> Rig {
        Rig::new(SnapshotStart::InBand, ResyncPolicy::Resubscribe)
    }

    fn step<R>(
        &mut self,
        f: impl FnOnce(&mut BookSync, &mut SyncEnv<'_, Fake>, &mut Record) -> R,
    ) -> R {
        let mut env = SyncEnv {
            adapter: &mut self.adapter,
            config: &self.config,
            now: self.now,
            active: true,
            stats: &mut self.stats,
            run: &mut self.run,
            line_resubscribes: None,
        };
        f(&mut self.sync, &mut env, &mut self.out)
    }

    fn events(&self, seq: u64, levels: &[Lv]) -> Vec<Event> {
        let mut events: Vec<Event> = levels
            .iter()
            .map(|&(side, p, q)| {
                let level = Level {
                    side,
                    price: crate::Decimal::new(p, 0).unwrap(),
                    qty: crate::Decimal::new(q, 0).unwrap(),
                    seq,
                };
                Event::level(self.sync.instrument, level, Flags::EMPTY, 7, self.now).unwrap()
            })
            .collect();
        if let Some(e) = events.last_mut() {
            e.flags = e.flags.with(Flags::LAST_IN_BATCH);
        }
        events
    }

    fn diff(&mut self, first: u64, last: u64, checksum: Option<u32>, levels: &[Lv]) {
        let events = self.events(last, levels);
        let ids = DiffIds {
            first,
            last,
            prev: None,
        };
        self.step(|b, env, out| b.on_diff(env, ids, checksum, &events, out));
    }

    fn inband_book(&mut self, last: u64, checksum: Option<u32>, levels: &[Lv]) {
        let events = self.events(last, levels);
        let ids = DiffIds {
            first: last,
            last,
            prev: None,
        };
        self.step(|b, env, out| b.on_book_snapshot(env, ids, checksum, &events, out));
    }

    fn rest_answer(&mut self, last_id: u64, bids: &[(i64, i64)], asks: &[(i64, i64)]) {
        let d = |&(p, q): &(i64, i64)| {
            (
                crate::Decimal::new(p, 0).unwrap(),
                crate::Decimal::new(q, 0).unwrap(),
            )
        };
        let snap = BookSnapshot {
            instrument: self.sync.instrument,
            last_id,
            exchange_ts: 9,
            bids: bids.iter().map(d).collect(),
            asks: asks.iter().map(d).collect(),
        };
        self.step(|b, env, out| b.on_snapshot_result(env, Ok(snap), out));
    }

    fn take(&mut self) -> Vec<Out> {
        std::mem::take(&mut self.out.0)
    }

    /// The validating book as (side, price, qty), bids then asks, best first.
    fn book(&self) -> Vec<Lv> {
        let b = &self.sync.book;
        b.bids(usize::MAX)
            .map(|(p, q)| (B, p.mantissa(), q.mantissa()))
            .chain(
                b.asks(usize::MAX)
                    .map(|(p, q)| (A, p.mantissa(), q.mantissa())),
            )
            .collect()
    }
}

/// Levels of a diff as published (its own flags: the last one LAST_IN_BATCH).
fn diff_out(levels: &[Lv]) -> Out {
    let n = levels.len();
    Out::Publish(
        levels
            .iter()
            .enumerate()
            .map(|(i, &(s, p, q))| {
                let f = if i + 1 == n {
                    Flags::LAST_IN_BATCH
                } else {
                    Flags::EMPTY
                };
                (s, p, q, f)
            })
            .collect(),
    )
}

/// Levels as a SNAPSHOT run: all SNAPSHOT, the first RUN_START, the last LAST_IN_BATCH.
fn run_out(levels: &[Lv]) -> Out {
    let n = levels.len();
    Out::Publish(
        levels
            .iter()
            .enumerate()
            .map(|(i, &(s, p, q))| {
                let mut f = Flags::SNAPSHOT;
                if i == 0 {
                    f = f.with(Flags::RUN_START);
                }
                if i + 1 == n {
                    f = f.with(Flags::LAST_IN_BATCH);
                }
                (s, p, q, f)
            })
            .collect(),
    )
}

#[test]
fn rest_start_buffers_until_a_snapshot_that_lines_up_then_replays_the_buffer() {
    let mut r = Rig::rest();
    r.diff(5, 6, None, &[(B, 100, 3)]);
    assert_eq!(r.take(), [Out::Fetch]);
    assert_eq!(r.sync.state, SyncState::Buffering);
    r.diff(7, 7, None, &[(A, 102, 0), (A, 103, 4)]);
    assert_eq!(r.take(), [], "a request is in flight: no second one");
    // Snapshot 5: diff 5..6 is the first to apply (it straddles the snapshot), then 7.
    r.rest_answer(5, &[(100, 1), (99, 2)], &[(101, 5), (102, 6)]);
    assert_eq!(
        r.take(),
        [
            run_out(&[(B, 100, 1), (B, 99, 2), (A, 101, 5), (A, 102, 6)]),
            diff_out(&[(B, 100, 3)]),
            diff_out(&[(A, 102, 0), (A, 103, 4)]),
        ]
    );
    assert_eq!(r.sync.state, SyncState::Live);
    assert_eq!(r.sync.last.last, 7);
    assert_eq!(
        r.book(),
        [(B, 100, 3), (B, 99, 2), (A, 101, 5), (A, 103, 4)]
    );
    assert!(r.sync.diffs.is_empty() && r.sync.events.is_empty());
    assert_eq!(r.stats.snapshots_applied, 1);
    assert_eq!(r.stats.snapshots_requested, 1);
}

#[test]
fn a_snapshot_older_than_the_buffered_diffs_is_reported_and_fetched_again_after_the_backoff() {
    let mut r = Rig::rest();
    r.diff(5, 6, None, &[(B, 100, 3)]);
    assert_eq!(r.take(), [Out::Fetch]);
    // Snapshot 3: diff 5 does not join it (4 is missing).
    r.rest_answer(3, &[(100, 1)], &[(101, 1)]);
    // Reported (value: the snapshot's id); the next request waits for the backoff, which
    // the timer covers.
    assert_eq!(
        r.take(),
        [
            Out::Status(StatusKind::SnapshotFailed, Reason::SnapshotTooOld, 3),
            Out::Arm
        ]
    );
    assert!(r.sync.pending.is_none());
    assert_eq!(
        r.sync.diffs.len(),
        1,
        "the diff waits for the next snapshot"
    );
    // Past the backoff (at most the first step, 250 ms) the timer's request goes out.
    r.now += SEC;
    r.step(|b, env, out| b.request_snapshot(env, out));
    assert_eq!(r.take(), [Out::Fetch]);
    r.rest_answer(5, &[(100, 1)], &[(101, 1)]);
    assert_eq!(
        r.take(),
        [
            run_out(&[(B, 100, 1), (A, 101, 1)]),
            diff_out(&[(B, 100, 3)])
        ]
    );
    assert_eq!(r.stats.snapshot_failures, 1);
    assert_eq!(r.sync.state, SyncState::Live);
}

#[test]
fn a_snapshot_newer_than_every_buffered_diff_waits_for_the_diff_that_joins_it() {
    let mut r = Rig::rest();
    r.diff(5, 6, None, &[(B, 100, 3)]);
    r.diff(7, 7, None, &[(B, 100, 4)]);
    r.take();
    r.rest_answer(10, &[(100, 1)], &[(101, 1)]);
    assert_eq!(r.take(), [], "nothing lines up yet: nothing published");
    assert!(
        r.sync.diffs.is_empty(),
        "diffs the snapshot covers are dropped"
    );
    assert!(r.sync.pending.is_some());
    r.diff(11, 11, None, &[(A, 101, 2)]);
    assert_eq!(
        r.take(),
        [
            run_out(&[(B, 100, 1), (A, 101, 1)]),
            diff_out(&[(A, 101, 2)])
        ]
    );
    assert_eq!(r.book(), [(B, 100, 1), (A, 101, 2)]);
    assert_eq!(r.sync.last.last, 11);
}

#[test]
fn a_gap_among_the_buffered_diffs_installs_up_to_it_and_keeps_the_rest() {
    let mut r = Rig::rest();
    r.diff(5, 6, None, &[(B, 100, 3)]);
    r.diff(9, 9, None, &[(B, 100, 9)]);
    r.take();
    r.rest_answer(5, &[(100, 1)], &[(101, 1)]);
    // The snapshot and 5..6 go out; 9 does not chain onto 6: Gap (expected 7), Resync, and a
    // new snapshot once the backoff allows (armed).
    assert_eq!(
        r.take(),
        [
            run_out(&[(B, 100, 1), (A, 101, 1)]),
            diff_out(&[(B, 100, 3)]),
            Out::Status(StatusKind::Gap, Reason::None, 7),
            Out::Status(StatusKind::Resync, Reason::None, 0),
            Out::Arm,
        ]
    );
    assert_eq!(r.sync.state, SyncState::Buffering);
    assert_eq!(r.sync.diffs.len(), 1);
    assert_eq!(r.sync.diffs[0].ids.first, 9);
    assert_eq!(r.sync.diffs[0].start, 0, "kept events start the buffer");
    assert_eq!(r.sync.events.len(), 1);
    assert!(!r.sync.book.is_valid());
    assert_eq!(r.stats.gaps, 1);
}

/// A live book at `last` 6 holding bid 100x1, ask 101x1.
fn live(mut r: Rig) -> Rig {
    r.inband_book(6, None, &[(B, 100, 1), (A, 101, 1)]);
    assert_eq!(r.take(), [run_out(&[(B, 100, 1), (A, 101, 1)])]);
    assert_eq!(r.sync.state, SyncState::Live);
    r.now += SEC;
    r
}

#[test]
fn live_diffs_apply_stale_ones_are_skipped_and_a_gap_resyncs() {
    let mut r = live(Rig::rest());
    r.diff(7, 8, None, &[(B, 99, 2)]);
    assert_eq!(r.take(), [diff_out(&[(B, 99, 2)])]);
    r.diff(5, 8, None, &[(B, 98, 2)]);
    assert_eq!(r.take(), [], "stale: already covered");
    assert_eq!(r.stats.stale_diffs, 1);
    assert_eq!(r.book(), [(B, 100, 1), (B, 99, 2), (A, 101, 1)]);
    // 9 is missing.
    r.diff(10, 10, None, &[(B, 97, 1)]);
    assert_eq!(
        r.take(),
        [
            Out::Status(StatusKind::Gap, Reason::None, 9),
            Out::Status(StatusKind::Resync, Reason::None, 0),
            Out::Fetch,
        ]
    );
    assert_eq!(r.sync.state, SyncState::Buffering);
    assert_eq!(r.sync.diffs.len(), 1, "the diff after the gap is buffered");
    assert!(!r.sync.book.is_valid());
}

#[test]
fn a_reset_replaces_the_book_live_or_while_buffering() {
    let mut r = live(Rig::rest());
    // `first == 1`: the diff's levels are the whole new book (zero quantities skipped).
    r.diff(1, 1, None, &[(B, 90, 1), (B, 91, 0), (A, 95, 3)]);
    assert_eq!(r.take(), [run_out(&[(B, 90, 1), (A, 95, 3)])]);
    assert_eq!(r.book(), [(B, 90, 1), (A, 95, 3)]);
    assert_eq!((r.sync.state, r.sync.last.last), (SyncState::Live, 1));
    assert_eq!(r.stats.resets, 1);

    // A book that has no snapshot yet installs a reset too (no request, nothing buffered).
    let mut r = Rig::rest();
    r.diff(1, 1, None, &[(B, 90, 1)]);
    assert_eq!(r.take(), [run_out(&[(B, 90, 1)])]);
    assert_eq!(r.sync.state, SyncState::Live);
    assert!(r.sync.diffs.is_empty());
    assert_eq!(r.stats.snapshots_requested, 0);
}

#[test]
fn a_checksum_mismatch_reports_and_resyncs_by_resubscribing() {
    let mut r = live(Rig::inband());
    // After bid 99x2: 100·1 + 99·2 + 101·1 = 399.
    r.diff(7, 7, Some(399), &[(B, 99, 2)]);
    assert_eq!(r.take(), [diff_out(&[(B, 99, 2)])]);
    assert_eq!(r.stats.checksums_checked, 1);
    // After ask 102x1 the book sums to 501; the venue says 500.
    r.diff(8, 8, Some(500), &[(A, 102, 1)]);
    assert_eq!(
        r.take(),
        [
            Out::Status(StatusKind::Checksum, Reason::Checksum, 500),
            Out::Status(StatusKind::Resync, Reason::Checksum, 0),
            Out::Send(2),
        ],
        "nothing of the diff published; one unsubscribe + subscribe"
    );
    assert_eq!(r.stats.checksum_failures, 1);
    assert_eq!(r.stats.resubscribes, 1);
    assert!(
        r.sync.inband_expected,
        "the resubscribe brings a book in-band"
    );
    assert_eq!(r.sync.state, SyncState::Buffering);
    // Diffs meanwhile are buffered without a second request (the in-band book is coming).
    r.diff(9, 9, None, &[(A, 103, 1)]);
    assert_eq!(r.take(), []);
    r.inband_book(20, Some(100 * 4 + 101 * 5), &[(B, 100, 4), (A, 101, 5)]);
    assert_eq!(r.take(), [run_out(&[(B, 100, 4), (A, 101, 5)])]);
    assert!(r.sync.diffs.is_empty(), "older diffs are dropped");
    assert_eq!(r.sync.state, SyncState::Live);
}

#[test]
fn an_inband_book_with_a_wrong_checksum_is_not_installed() {
    let mut r = Rig::inband();
    r.now += SEC;
    r.inband_book(6, Some(1), &[(B, 100, 1), (A, 101, 1)]);
    assert_eq!(
        r.take(),
        [
            Out::Status(StatusKind::Checksum, Reason::Checksum, 1),
            Out::Status(StatusKind::Resync, Reason::Checksum, 0),
            Out::Send(2),
        ]
    );
    assert!(!r.sync.book.is_valid());
    assert_eq!(r.sync.state, SyncState::Buffering);
    assert_eq!(r.stats.snapshots_applied, 0);
}

#[test]
fn a_crossed_inband_book_fails_as_a_snapshot() {
    let mut r = Rig::inband();
    r.now += SEC;
    r.inband_book(6, None, &[(B, 101, 1), (A, 101, 1)]);
    assert_eq!(
        r.take(),
        [
            Out::Status(StatusKind::SnapshotFailed, Reason::Crossed, 6),
            Out::Send(2),
        ]
    );
    assert_eq!(r.sync.state, SyncState::Buffering);
}

#[test]
fn the_sync_bound_reports_a_timeout_and_drops_the_held_snapshot() {
    let mut r = Rig::rest();
    r.diff(5, 6, None, &[(B, 100, 3)]);
    r.take();
    r.rest_answer(10, &[(100, 1)], &[(101, 1)]);
    assert!(r.sync.pending.is_some());
    let deadline = r.sync.sync_deadline;
    assert_eq!(deadline, r.now + r.config.snapshot_sync_timeout_ns);
    r.now = deadline - 1;
    r.step(|b, env, out| b.expire(env, out));
    assert_eq!(r.take(), [], "not yet");
    r.now = deadline;
    r.step(|b, env, out| b.expire(env, out));
    assert_eq!(
        r.take(),
        [Out::Status(
            StatusKind::SnapshotFailed,
            Reason::SyncTimeout,
            10
        )]
    );
    assert!(r.sync.pending.is_none());
    assert_eq!(
        r.sync.sync_deadline,
        deadline + r.config.snapshot_sync_timeout_ns
    );
    assert_eq!(r.stats.sync_timeouts, 1);
}

#[test]
fn a_failed_rest_request_is_reported_and_retry_after_extends_the_backoff() {
    let mut r = Rig::rest();
    r.diff(5, 6, None, &[(B, 100, 3)]);
    assert_eq!(r.take(), [Out::Fetch]);
    let err = SnapshotError::RateLimited {
        status: 429,
        retry_after_ms: 5_000,
    };
    r.step(|b, env, out| b.on_snapshot_result(env, Err(err), out));
    assert_eq!(
        r.take(),
        [Out::Status(
            StatusKind::SnapshotFailed,
            Reason::RateLimited,
            5_000
        )]
    );
    assert_eq!(r.sync.retry_at, r.now + 5 * SEC);
    r.now += 4 * SEC;
    r.step(|b, env, out| b.request_snapshot(env, out));
    assert_eq!(r.take(), [Out::Arm], "still backing off");
    r.step(|b, env, out| b.request_snapshot(env, out));
    assert_eq!(r.take(), [], "armed once per wait");
    r.now += SEC;
    r.step(|b, env, out| b.request_snapshot(env, out));
    assert_eq!(r.take(), [Out::Fetch]);
}

#[test]
fn a_reconnect_venue_recycles_and_an_adapter_without_resubscribe_frames_too() {
    let mut r = Rig::new(SnapshotStart::InBand, ResyncPolicy::Reconnect);
    r.step(|b, env, out| b.request_snapshot(env, out));
    assert_eq!(r.take(), [Out::Recycle(Reason::Adapter)]);
}

#[test]
fn joining_skips_what_the_old_connection_covered_and_joins_the_next() {
    let mut r = Rig::rest();
    r.sync.state = SyncState::Joining;
    r.sync.last = DiffIds {
        first: 8,
        last: 8,
        prev: None,
    };
    r.inband_book(8, None, &[(B, 100, 1)]);
    assert_eq!(r.take(), [], "not newer than the carried book");
    assert_eq!(r.stats.stale_diffs, 1);
    r.diff(9, 9, None, &[(B, 100, 2)]);
    assert_eq!(r.take(), [diff_out(&[(B, 100, 2)])]);
    assert_eq!(r.sync.state, SyncState::Live);
}
