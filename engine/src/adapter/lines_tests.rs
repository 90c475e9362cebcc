//! [`ArbitratedFeed`] driven by hand over two lines of the toy venue of the contract tests
//! (`snap LAST levels`, `diff FIRST LAST levels`, `trade ID PRICE`): a hole on one line
//! filled by the other, the same update missed by both, a hold that expires, lines going
//! down and up. The expected streams are written out from the toy messages sent.

use std::time::Duration;

use super::contract_tests::Toy;
use super::{
    ArbitratedFeed, ArbitrationConfig, FeedConfig, LineFactory, LineState, QueuedSnapshots,
    SnapshotSource, SnapshotStart,
};
use crate::event::{Event, Flags, StatusKind};
use crate::handler::{Actions, ConnectionId, Context, Leg, Message, Outbox, Publisher, WsHandler};
use crate::instrument::InstrumentId;
use crate::reason::Reason;
use crate::ring::{Consumer, channel};

const MS: u64 = 1_000_000;
const INST: InstrumentId = InstrumentId(0);

struct Lines {
    feed: ArbitratedFeed<Toy>,
    outbox: Outbox,
    publisher: Publisher,
    consumer: Consumer,
}

impl Lines {
    fn new(lines: usize) -> Lines {
        Lines::with_chain(lines, false)
    }

    /// `strict`: the toy chains diffs like OKX (any mismatch is a gap to `next_diff`).
    fn with_chain(lines: usize, strict: bool) -> Lines {
        Lines::build(lines, strict, false)
    }

    /// The toy numbers book updates per connection (Coinbase): the lines fail over.
    fn failover(lines: usize) -> Lines {
        Lines::build(lines, false, true)
    }

    fn build(lines: usize, strict: bool, per_connection: bool) -> Lines {
        let factory: LineFactory<Toy> = Box::new(move |_| {
            let mut toy = Toy::new(INST, SnapshotStart::InBand);
            toy.strict_chain = strict;
            toy.per_connection = per_connection;
            Some((
                toy,
                Box::new(QueuedSnapshots::new()) as Box<dyn SnapshotSource>,
            ))
        });
        let config = ArbitrationConfig {
            hold: Duration::from_millis(100),
            lag: Duration::from_millis(50),
            report: Duration::from_secs(1),
            lifetime: Some(Duration::from_secs(10)),
            margin: Duration::from_secs(2),
        };
        let feed = ArbitratedFeed::new(factory, lines, FeedConfig::default(), config).unwrap();
        let (p, consumer) = channel(4096);
        Lines {
            feed,
            outbox: Outbox::new(1 << 16),
            publisher: Publisher::new(vec![p]),
            consumer,
        }
    }

    fn call<R>(
        &mut self,
        line: u32,
        now: u64,
        f: impl FnOnce(&mut ArbitratedFeed<Toy>, &mut Context<'_>) -> R,
    ) -> (R, Actions) {
        let mut actions = Actions::default();
        let mut cx = Context::new(
            now,
            ConnectionId(3),
            &mut self.outbox,
            &mut self.publisher,
            &mut actions,
        )
        .for_leg(Leg(line), 4);
        let r = f(&mut self.feed, &mut cx);
        (r, actions)
    }

    fn send(&mut self, line: u32, now: u64, text: &str) {
        let mut buf = text.as_bytes().to_vec();
        self.call(line, now, |f, cx| f.on_message(Message::Text(&mut buf), cx));
    }

    fn drain(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.consumer.pop()).collect()
    }

    /// Both lines up, both sending the same snapshot (line 0's copy first).
    fn up(&mut self) {
        for line in 0..self.feed.line_count() as u32 {
            self.call(line, MS, |f, cx| f.on_connect(cx));
        }
        for line in 0..self.feed.line_count() as u32 {
            self.send(line, 2 * MS, "snap 10 b100x1 a101x1");
        }
    }
}

/// Final update ids of the diffs published (their LAST_IN_BATCH level).
fn diffs(events: &[Event]) -> Vec<u64> {
    events
        .iter()
        .filter(|e| !e.flags.contains(Flags::SNAPSHOT) && e.flags.contains(Flags::LAST_IN_BATCH))
        .filter_map(Event::as_level)
        .map(|l| l.seq)
        .collect()
}

fn trades(events: &[Event]) -> Vec<u64> {
    events
        .iter()
        .filter_map(|e| e.trade_id())
        .map(|id| match id {
            crate::event::TradeId::Number(n) => n,
            other => other.key(),
        })
        .collect()
}

fn count(events: &[Event], kind: StatusKind) -> usize {
    events
        .iter()
        .filter_map(Event::as_status)
        .filter(|s| s.kind == kind)
        .count()
}

fn line_states(events: &[Event]) -> Vec<(usize, LineState)> {
    events
        .iter()
        .filter_map(Event::as_status)
        .filter(|s| s.kind == StatusKind::Line)
        .filter_map(|s| LineState::from_value(s.value))
        .collect()
}

#[test]
fn a_hole_on_one_line_is_filled_by_the_other() {
    let mut l = Lines::new(2);
    l.up();
    let ev = l.drain();
    assert_eq!(count(&ev, StatusKind::Connected), 1);
    assert_eq!(
        line_states(&ev),
        vec![(0, LineState::Up), (1, LineState::Up)]
    );
    // One snapshot run (line 1's copy is older-or-equal: skipped).
    let runs = ev
        .iter()
        .filter(|e| e.flags.contains(Flags::RUN_START))
        .count();
    assert_eq!(runs, 1);

    l.send(0, 3 * MS, "diff 11 11 b100x2");
    l.send(1, 4 * MS, "diff 11 11 b100x2");
    l.send(0, 5 * MS, "trade 1 100");
    l.send(1, 6 * MS, "trade 1 100");
    // Line 0 skips 12: its 13 is held, not a gap.
    l.send(0, 7 * MS, "diff 13 13 b100x4");
    l.send(0, 7 * MS, "trade 2 100");
    l.send(1, 8 * MS, "diff 12 12 b100x3");
    l.send(1, 9 * MS, "diff 13 13 b100x4");
    l.send(1, 9 * MS, "trade 2 100");
    l.send(1, 9 * MS, "trade 3 100");
    l.send(0, 10 * MS, "trade 3 100");
    l.send(0, 11 * MS, "diff 14 14 b100x5");
    l.send(1, 12 * MS, "diff 14 14 b100x5");
    let ev = l.drain();
    assert_eq!(diffs(&ev), vec![11, 12, 13, 14]);
    assert_eq!(trades(&ev), vec![1, 2, 3]);
    for kind in [
        StatusKind::Gap,
        StatusKind::Resync,
        StatusKind::Disconnected,
    ] {
        assert_eq!(count(&ev, kind), 0, "{kind:?}");
    }
    let book = l.feed.arbiter().book(INST).unwrap();
    assert_eq!(book.bids(1).next().map(|(_, q)| q.mantissa()), Some(5));
    let r = l.feed.report();
    assert_eq!(r.filled, 1);
    assert_eq!(r.gaps, 0);
    // Line 0 first: snapshot, 11, trade 1, trade 2, 14; line 1: 12, trade 3. Line 0's 13
    // was held and applied right after line 1's 12 (line 1's 13 then came too late).
    assert_eq!((r.lines[0].won, r.lines[1].won), (5, 2));
    assert_eq!(r.lines[0].held, 1);
    let p = r
        .pairs
        .iter()
        .find(|p| p.first == 0 && p.later == 1)
        .unwrap();
    // Line 1's copies of 11, trade 1, 14 came 1 ms behind; trade 2 2 ms.
    assert_eq!(p.count, 4);
    assert!((MS - MS / 100..=MS + MS / 100).contains(&p.p50_ns), "{p:?}");
}

#[test]
fn an_update_every_line_missed_resyncs_once() {
    let mut l = Lines::new(2);
    l.up();
    l.drain();
    l.send(0, 3 * MS, "diff 11 11 b100x2");
    l.send(1, 4 * MS, "diff 11 11 b100x2");
    l.send(0, 5 * MS, "diff 13 13 b100x4");
    assert_eq!(count(&l.drain(), StatusKind::Gap), 0, "held, not yet a gap");
    l.send(1, 6 * MS, "diff 13 13 b100x4");
    l.send(0, 7 * MS, "diff 14 14 b100x4");
    l.send(1, 8 * MS, "diff 14 14 b100x4");
    let ev = l.drain();
    assert_eq!(count(&ev, StatusKind::Gap), 1);
    assert_eq!(count(&ev, StatusKind::Resync), 1);
    assert_eq!(l.feed.report().gaps, 1);
    // The book comes back from the next snapshot; one line's copy is enough.
    l.send(1, 9 * MS, "snap 20 b100x9 a101x1");
    l.send(0, 10 * MS, "snap 20 b100x9 a101x1");
    l.send(0, 11 * MS, "diff 21 21 b100x8");
    l.send(1, 11 * MS, "diff 21 21 b100x8");
    let ev = l.drain();
    assert!(l.feed.arbiter().in_sync(INST));
    assert_eq!(diffs(&ev), vec![21]);
    assert_eq!(count(&ev, StatusKind::Resync), 0);
}

#[test]
fn a_hole_no_line_fills_becomes_a_gap_when_the_hold_ends() {
    let mut l = Lines::new(2);
    l.up();
    l.drain();
    l.send(0, 3 * MS, "diff 11 11 b100x2");
    l.send(0, 5 * MS, "diff 13 13 b100x4");
    // Line 1 is silent: the hold (100 ms) ends on the timer.
    let (_, a) = l.call(0, 6 * MS, |f, cx| f.on_timer(cx));
    assert_eq!(a.timer(), Some(105 * MS));
    assert_eq!(count(&l.drain(), StatusKind::Gap), 0);
    l.call(1, 105 * MS, |f, cx| f.on_timer(cx));
    let ev = l.drain();
    assert_eq!(count(&ev, StatusKind::Gap), 1);
    assert_eq!(count(&ev, StatusKind::Resync), 1);
    // A line silent past the lag bound while the other delivered is reported lagging.
    assert!(
        line_states(&ev).contains(&(1, LineState::Lagging)) || {
            l.send(0, 106 * MS, "trade 5 100");
            line_states(&l.drain()).contains(&(1, LineState::Lagging))
        }
    );
}

#[test]
fn a_line_going_down_is_reported_and_only_the_last_one_down_disconnects() {
    let mut l = Lines::new(2);
    l.up();
    l.drain();
    let (again, _) = l.call(1, 3 * MS, |f, cx| f.on_disconnect(Reason::Io, cx));
    assert_eq!(again, crate::handler::Reconnect::Yes);
    let ev = l.drain();
    assert_eq!(line_states(&ev), vec![(1, LineState::Down)]);
    assert_eq!(count(&ev, StatusKind::Disconnected), 0);
    assert_eq!(count(&ev, StatusKind::Resync), 0);
    // With line 1 down, a hole on line 0 is a gap at once (no line can fill it).
    l.send(0, 4 * MS, "diff 12 12 b100x2");
    assert_eq!(count(&l.drain(), StatusKind::Gap), 1);
    l.call(1, 5 * MS, |f, cx| f.on_connect(cx));
    assert_eq!(line_states(&l.drain()), vec![(1, LineState::Up)]);
    l.call(0, 6 * MS, |f, cx| f.on_disconnect(Reason::Io, cx));
    l.call(1, 6 * MS, |f, cx| f.on_disconnect(Reason::Stale, cx));
    let ev = l.drain();
    assert_eq!(
        line_states(&ev),
        vec![(0, LineState::Down), (1, LineState::Down)]
    );
    assert_eq!(count(&ev, StatusKind::Disconnected), 1);
    let r = l.feed.report();
    assert_eq!((r.lines[0].downs, r.lines[1].downs), (1, 2));
}

#[test]
fn a_line_that_reconnects_ahead_does_not_skip_the_trades_between() {
    let mut l = Lines::new(2);
    l.up();
    l.drain();
    for line in 0..2 {
        l.send(line, 3 * MS, "trade 1 100");
        l.send(line, 3 * MS, "trade 2 100");
    }
    assert_eq!(trades(&l.drain()), vec![1, 2]);
    l.call(1, 4 * MS, |f, cx| f.on_disconnect(Reason::Io, cx));
    l.call(1, 5 * MS, |f, cx| f.on_connect(cx));
    // Line 0 is behind: trade 3 so far. Line 1's new session starts at 5 (it never saw 4):
    // its 5 and 6 wait for the published stream to reach them.
    l.send(0, 6 * MS, "trade 3 100");
    l.send(1, 6 * MS, "trade 5 100");
    l.send(1, 6 * MS, "trade 6 100");
    assert_eq!(trades(&l.drain()), vec![3]);
    l.send(0, 7 * MS, "trade 4 100");
    // 4 published; 5 has no known predecessor on line 1, so it waits for line 0's copy...
    assert_eq!(trades(&l.drain()), vec![4]);
    l.send(0, 8 * MS, "trade 5 100");
    // ...after which line 1's held 6 chains on (before line 0's copy of it).
    assert_eq!(trades(&l.drain()), vec![5, 6]);
    l.send(0, 9 * MS, "trade 6 100");
    l.send(1, 9 * MS, "trade 7 100");
    l.send(0, 9 * MS, "trade 7 100");
    assert_eq!(trades(&l.drain()), vec![7]);
}

#[test]
fn held_trades_go_out_in_order_when_no_line_brings_the_hole() {
    let mut l = Lines::new(2);
    l.up();
    l.drain();
    l.send(0, 3 * MS, "trade 1 100");
    l.send(1, 3 * MS, "trade 1 100");
    assert_eq!(trades(&l.drain()), vec![1]);
    l.call(1, 4 * MS, |f, cx| f.on_disconnect(Reason::Io, cx));
    l.call(1, 5 * MS, |f, cx| f.on_connect(cx));
    // Line 1 comes back at 3 (2 lost to it); line 0 then goes silent.
    l.send(1, 6 * MS, "trade 3 100");
    l.send(1, 6 * MS, "trade 4 100");
    assert!(trades(&l.drain()).is_empty());
    l.call(1, 106 * MS, |f, cx| f.on_timer(cx));
    assert_eq!(trades(&l.drain()), vec![3, 4]);
    assert_eq!(l.feed.report().gaps, 1);
}

#[test]
fn lines_reconnect_one_at_a_time_ahead_of_the_venues_lifetime() {
    // Lifetime 10 s, margin 2 s: line 0 at 8 s into its session, line 1 at 6 s.
    let mut l = Lines::new(2);
    l.up();
    l.drain();
    let (_, a) = l.call(1, 5_000 * MS, |f, cx| f.on_timer(cx));
    assert_eq!(a.recycles(), None);
    let (_, a) = l.call(1, MS + 6_000 * MS, |f, cx| f.on_timer(cx));
    assert_eq!(a.recycles(), Some(Reason::Rotation));
    let (_, a) = l.call(0, MS + 6_000 * MS, |f, cx| f.on_timer(cx));
    assert_eq!(a.recycles(), None);
    let (_, a) = l.call(0, MS + 8_000 * MS, |f, cx| f.on_timer(cx));
    assert_eq!(a.recycles(), Some(Reason::Rotation));
}

/// Snapshot runs published (each ends with a SNAPSHOT level flagged LAST_IN_BATCH).
fn snapshot_runs(events: &[Event]) -> usize {
    events
        .iter()
        .filter(|e| e.flags.contains(Flags::SNAPSHOT) && e.flags.contains(Flags::LAST_IN_BATCH))
        .count()
}

/// A venue that re-sends snapshots per connection (Bybit, OKX: a resubscribe, a
/// reconnect) brings one on line 0 ahead of the live book: it is held while line 1 brings
/// the diffs up to it, then skipped as covered. The consumer sees every diff once and no
/// second snapshot run (installing it at once would skip 11-13).
#[test]
fn a_snapshot_ahead_on_one_line_waits_for_the_other_lines_diffs() {
    let mut l = Lines::new(2);
    l.up();
    l.drain();
    l.send(0, 3 * MS, "snap 13 b100x4 a101x1");
    l.send(0, 4 * MS, "diff 14 14 b100x5");
    assert!(diffs(&l.drain()).is_empty(), "held for line 1");
    l.send(1, 5 * MS, "diff 11 11 b100x2");
    l.send(1, 5 * MS, "diff 12 12 b100x3");
    l.send(1, 6 * MS, "diff 13 13 b100x4");
    l.send(1, 7 * MS, "diff 14 14 b100x5");
    l.send(0, 8 * MS, "diff 15 15 b100x6");
    let ev = l.drain();
    assert_eq!(diffs(&ev), vec![11, 12, 13, 14, 15]);
    assert_eq!(snapshot_runs(&ev), 0);
    assert_eq!(
        count(&ev, StatusKind::Gap) + count(&ev, StatusKind::Resync),
        0
    );
    // The hold ends quietly: the snapshot was covered.
    l.call(0, 200 * MS, |f, cx| f.on_timer(cx));
    let ev = l.drain();
    assert_eq!(snapshot_runs(&ev) + count(&ev, StatusKind::Gap), 0);
    assert_eq!(l.feed.report().gaps, 0);
}

/// The same snapshot when line 1 never brings the diffs up to it: installed when the hold
/// ends (not a gap: the venue gave the whole book), the diff held after it applied next.
#[test]
fn a_snapshot_no_other_line_catches_up_to_is_installed_when_the_hold_ends() {
    let mut l = Lines::new(2);
    l.up();
    l.drain();
    l.send(0, 3 * MS, "snap 13 b100x4 a101x1");
    l.send(0, 4 * MS, "diff 14 14 b100x5");
    l.send(0, 5 * MS, "diff 15 15 b100x6");
    assert_eq!(snapshot_runs(&l.drain()), 0);
    l.call(1, 104 * MS, |f, cx| f.on_timer(cx));
    let ev = l.drain();
    assert_eq!(snapshot_runs(&ev), 1);
    assert_eq!(diffs(&ev), vec![14, 15]);
    assert_eq!(
        count(&ev, StatusKind::Gap) + count(&ev, StatusKind::Resync),
        0
    );
    assert!(l.feed.arbiter().in_sync(INST));
    l.send(1, 106 * MS, "diff 16 16 b100x7");
    assert_eq!(diffs(&l.drain()), vec![16]);
}

/// A gap every line missed resyncs by resubscribing: a line sends the request (the arbiter
/// owns no socket, and the line's adapter numbers the request and takes its ack).
#[test]
fn a_resubscribe_goes_out_on_a_line() {
    let mut l = Lines::new(2);
    l.up();
    l.drain();
    l.send(0, 3 * MS, "diff 12 12 b100x2");
    l.send(1, 4 * MS, "diff 12 12 b100x2");
    let ev = l.drain();
    assert_eq!(count(&ev, StatusKind::Resync), 1);
    let sent: u64 = (0..2)
        .map(|n| l.feed.line(n).unwrap().stats().resubscribes)
        .sum();
    assert_eq!(sent, 1, "one line resubscribed");
}

/// A UUID trade id (Bybit linear's shape) whose last group is `n`.
fn uuid(n: u64) -> String {
    format!("9dc75fca-4bdd-4773-9f78-{n:012x}")
}

/// The key [`trades`] reports for [`uuid`]`(n)`.
fn ukey(n: u64) -> u64 {
    crate::event::TradeId::parse(uuid(n).as_bytes())
        .unwrap()
        .key()
}

/// UUID ids cannot be compared, but a line's trades within a session come complete and in
/// order: a line that reconnects ahead (it never saw 4) holds its 5 and 6 until the
/// published stream reaches them, so the venue's order is kept; when no line brings what
/// held trades follow, they go out in arrival order when the hold ends.
#[test]
fn uuid_trades_keep_the_venue_order_when_a_line_reconnects_ahead() {
    let mut l = Lines::new(2);
    l.up();
    l.drain();
    for line in 0..2 {
        l.send(line, 3 * MS, &format!("trade {} 100", uuid(1)));
        l.send(line, 3 * MS, &format!("trade {} 100", uuid(2)));
    }
    assert_eq!(trades(&l.drain()), vec![ukey(1), ukey(2)]);
    l.call(1, 4 * MS, |f, cx| f.on_disconnect(Reason::Io, cx));
    l.call(1, 5 * MS, |f, cx| f.on_connect(cx));
    l.send(0, 6 * MS, &format!("trade {} 100", uuid(3)));
    l.send(1, 6 * MS, &format!("trade {} 100", uuid(5)));
    l.send(1, 6 * MS, &format!("trade {} 100", uuid(6)));
    assert_eq!(trades(&l.drain()), vec![ukey(3)]);
    l.send(0, 7 * MS, &format!("trade {} 100", uuid(4)));
    assert_eq!(trades(&l.drain()), vec![ukey(4)]);
    l.send(0, 8 * MS, &format!("trade {} 100", uuid(5)));
    assert_eq!(trades(&l.drain()), vec![ukey(5), ukey(6)]);
    l.send(0, 9 * MS, &format!("trade {} 100", uuid(6)));
    l.send(1, 9 * MS, &format!("trade {} 100", uuid(7)));
    l.send(0, 9 * MS, &format!("trade {} 100", uuid(7)));
    assert_eq!(trades(&l.drain()), vec![ukey(7)]);
    // Line 1 reconnects again and comes back at 9; line 0 goes silent: 9 and 10 wait for
    // the hold, then go out in arrival order.
    l.call(1, 10 * MS, |f, cx| f.on_disconnect(Reason::Io, cx));
    l.call(1, 11 * MS, |f, cx| f.on_connect(cx));
    l.send(1, 12 * MS, &format!("trade {} 100", uuid(9)));
    l.send(1, 12 * MS, &format!("trade {} 100", uuid(10)));
    assert!(trades(&l.drain()).is_empty());
    l.call(1, 112 * MS, |f, cx| f.on_timer(cx));
    assert_eq!(trades(&l.drain()), vec![ukey(9), ukey(10)]);
    l.send(1, 113 * MS, &format!("trade {} 100", uuid(11)));
    assert_eq!(trades(&l.drain()), vec![ukey(11)]);
}

/// A sequence reset (Bybit `u == 1`: the venue restarted the chain) comes on every line:
/// the first copy resets the book, later copies (and the deltas after them already
/// published) are skipped, not a second reset of a book already past it.
#[test]
fn a_reset_on_every_line_resets_the_book_once() {
    let mut l = Lines::new(2);
    l.up();
    l.drain();
    l.send(0, 3 * MS, "diff 1 1 b200x1 a201x1");
    l.send(0, 4 * MS, "diff 2 2 b200x2");
    l.send(1, 5 * MS, "diff 1 1 b200x1 a201x1");
    l.send(1, 6 * MS, "diff 2 2 b200x2");
    l.send(0, 7 * MS, "diff 3 3 b200x3");
    l.send(1, 7 * MS, "diff 3 3 b200x3");
    let ev = l.drain();
    assert_eq!(snapshot_runs(&ev), 1, "one reset");
    assert_eq!(diffs(&ev), vec![2, 3]);
    assert_eq!(
        count(&ev, StatusKind::Gap) + count(&ev, StatusKind::Resync),
        0
    );
    // A line that reconnects after the reset is on the new chain: its next reset is new.
    l.call(1, 8 * MS, |f, cx| f.on_disconnect(Reason::Io, cx));
    l.call(1, 9 * MS, |f, cx| f.on_connect(cx));
    l.send(1, 10 * MS, "diff 1 1 b300x1 a301x1");
    assert_eq!(snapshot_runs(&l.drain()), 1, "the next restart");
}

/// With a strict chain (OKX), a slower line's copy of a diff already applied is a later
/// copy, not a diff past a hole: it must not count that line as past a hole, or a real skip
/// on the leading line would be declared a gap at once while the slower line still brings
/// the missing diff.
#[test]
fn a_slower_lines_copies_do_not_count_as_past_a_hole() {
    let mut l = Lines::with_chain(2, true);
    l.up();
    l.drain();
    l.send(0, 3 * MS, "diff 11 11 b100x2");
    l.send(0, 4 * MS, "diff 12 12 b100x3");
    // Line 1 lags: its copy of 11 arrives after line 0's 12.
    l.send(1, 5 * MS, "diff 11 11 b100x2");
    // Line 0 skips 13.
    l.send(0, 6 * MS, "diff 14 14 b100x5");
    assert_eq!(count(&l.drain(), StatusKind::Gap), 0, "held, not yet a gap");
    l.send(1, 7 * MS, "diff 12 12 b100x3");
    l.send(1, 8 * MS, "diff 13 13 b100x4");
    l.send(1, 9 * MS, "diff 14 14 b100x5");
    let ev = l.drain();
    assert_eq!(diffs(&ev), vec![13, 14]);
    assert_eq!(count(&ev, StatusKind::Gap), 0);
    let r = l.feed.report();
    assert_eq!((r.gaps, r.filled), (0, 1));
    assert_eq!(
        r.lines[1].lost, 4,
        "the snapshot, 11, 12 and 14 were later copies"
    );
}

/// At the start both lines subscribe at about the same time, line 1 a little earlier: its
/// first trade (1) precedes the stream line 0 started publishing (2, 3) and no other line
/// will ever bring it. Once line 1's next trade turns out already published, 1 is known to
/// be behind the stream: skipped (as an ordered id below the watermark is), not held until
/// the hold ends and then published late, out of order, as a "gap".
#[test]
fn a_uuid_trade_from_before_the_streams_start_is_skipped_not_published_late() {
    let mut l = Lines::new(2);
    l.up();
    l.drain();
    l.send(0, 3 * MS, &format!("trade {} 100", uuid(2)));
    l.send(0, 3 * MS, &format!("trade {} 100", uuid(3)));
    l.send(1, 4 * MS, &format!("trade {} 100", uuid(1)));
    assert_eq!(trades(&l.drain()), vec![ukey(2), ukey(3)]);
    l.send(1, 4 * MS, &format!("trade {} 100", uuid(2)));
    l.send(1, 4 * MS, &format!("trade {} 100", uuid(3)));
    l.send(1, 5 * MS, &format!("trade {} 100", uuid(4)));
    l.send(0, 6 * MS, &format!("trade {} 100", uuid(4)));
    // The hold's time passes: nothing is left to release.
    l.call(0, 200 * MS, |f, cx| f.on_timer(cx));
    assert_eq!(trades(&l.drain()), vec![ukey(4)]);
    let r = l.feed.report();
    assert_eq!(r.gaps, 0);
    assert_eq!(l.feed.arbiter().stats().behind_trades, 1);
}

/// A venue that re-sends a book's snapshot with a *lower* id (Bybit: "a re-sent snapshot
/// may carry a lower `u`; accept any snapshot") does so on each line. Below the book, it
/// read as a late copy, and the diffs after it as stale: the book froze while claiming to
/// be valid. A snapshot below what the same line brought before is that line's numbering
/// going back: the first copy replaces the book, the other line's copy is a later copy.
#[test]
fn a_snapshot_with_a_lower_id_on_every_line_replaces_the_book_once() {
    let mut l = Lines::new(2);
    l.up();
    l.drain();
    for line in 0..2 {
        l.send(line, 3 * MS, "diff 11 11 b100x2");
        l.send(line, 4 * MS, "diff 12 12 b100x3");
    }
    l.send(0, 5 * MS, "snap 5 b100x7 a101x1");
    l.send(1, 6 * MS, "snap 5 b100x7 a101x1");
    l.send(0, 7 * MS, "diff 6 6 b100x8");
    l.send(1, 8 * MS, "diff 6 6 b100x8");
    let ev = l.drain();
    assert_eq!(diffs(&ev), vec![11, 12, 6]);
    let runs = ev
        .iter()
        .filter(|e| e.flags.contains(Flags::RUN_START))
        .count();
    assert_eq!(runs, 1, "the lower snapshot once");
    for kind in [StatusKind::Gap, StatusKind::Resync] {
        assert_eq!(count(&ev, kind), 0, "{kind:?}");
    }
    let book = l.feed.arbiter().book(INST).unwrap();
    assert_eq!(book.bids(1).next().map(|(_, q)| q.mantissa()), Some(8));
    assert!(l.feed.arbiter().in_sync(INST));
    // A line that reconnects brings a snapshot below the book too: a late copy (its own
    // numbering did not go back: it brought nothing before in this session).
    l.call(1, 9 * MS, |f, cx| f.on_disconnect(Reason::Io, cx));
    l.call(1, 10 * MS, |f, cx| f.on_connect(cx));
    l.send(0, 11 * MS, "diff 7 7 b100x9");
    l.send(1, 12 * MS, "snap 6 b100x8 a101x1");
    l.send(1, 13 * MS, "diff 7 7 b100x9");
    let ev = l.drain();
    assert_eq!(diffs(&ev), vec![7]);
    assert_eq!(
        ev.iter()
            .filter(|e| e.flags.contains(Flags::RUN_START))
            .count(),
        0
    );
}

// Failover (book ids per connection): each line numbers its own updates, as Coinbase's
// `sequence_num` does; line 0's copies below are numbered from 100, line 1's from 500.

/// The consumer's book, rebuilt from the events independently of the feed.
fn consumer_book(events: &[Event]) -> crate::book::Book {
    let mut b = crate::book::Book::new(crate::book::BookConfig::with_depth(100));
    for e in events {
        b.apply_event(e).unwrap();
    }
    b
}

fn levels(b: &crate::book::Book) -> Vec<(String, String)> {
    b.bids(100)
        .chain(b.asks(100))
        .map(|(p, q)| (p.to_string(), q.to_string()))
        .collect()
}

fn snapshot_runs_of(events: &[Event]) -> usize {
    events
        .iter()
        .filter(|e| e.flags.contains(Flags::SNAPSHOT.with(Flags::LAST_IN_BATCH)))
        .count()
}

impl Lines {
    /// Both lines up with the same book, line 0's copy first.
    fn failover_up(&mut self) {
        for line in 0..2 {
            self.call(line, MS, |f, cx| f.on_connect(cx));
        }
        self.send(0, 2 * MS, "snap 100 b100x1 a101x1");
        self.send(1, 2 * MS, "snap 500 b100x1 a101x1");
    }
}

#[test]
fn failover_a_line_that_loses_its_book_hands_it_to_the_other_as_a_snapshot_run() {
    let mut l = Lines::failover(2);
    l.failover_up();
    l.send(0, 3 * MS, "diff 101 101 b100x2");
    l.send(1, 4 * MS, "diff 501 501 b100x2");
    // Line 0 loses its update 102 (b100x3): a break in its numbering.
    l.send(0, 5 * MS, "diff 103 103 b100x4");
    l.send(1, 6 * MS, "diff 502 502 b100x3");
    l.send(1, 7 * MS, "diff 503 503 b100x4");
    let ev = l.drain();
    assert_eq!(count(&ev, StatusKind::Gap), 0, "{ev:#?}");
    assert_eq!(count(&ev, StatusKind::Resync), 0);
    // The first sync, then line 1's book (at b100x2) when line 0 lost it.
    assert_eq!(snapshot_runs_of(&ev), 2);
    assert_eq!(
        diffs(&ev),
        vec![101, 502, 503],
        "line 0's 101, then line 1's"
    );
    assert_eq!(
        levels(&consumer_book(&ev)),
        vec![("100".into(), "4".into()), ("101".into(), "1".into())]
    );
    // Line 0 resynced its own book on its own connection.
    assert_eq!(l.feed.line(0).unwrap().stats().resubscribes, 1);
    assert_eq!(l.feed.report().failovers, 1);
    // Line 0 syncs again and carries on; line 1 still leads: nothing twice.
    l.send(0, 8 * MS, "snap 104 b100x4 a101x1");
    l.send(0, 9 * MS, "diff 105 105 a101x2");
    l.send(1, 10 * MS, "diff 504 504 a101x2");
    let ev = l.drain();
    assert_eq!(snapshot_runs_of(&ev), 0);
    assert_eq!(diffs(&ev), vec![504]);
}

#[test]
fn failover_with_no_line_in_sync_the_gap_is_declared_once_and_the_first_line_to_sync_ends_it() {
    let mut l = Lines::failover(2);
    l.failover_up();
    l.send(0, 3 * MS, "diff 101 101 b100x2");
    l.send(1, 3 * MS, "diff 501 501 b100x2");
    l.send(0, 4 * MS, "diff 103 103 b100x4"); // line 0 breaks: line 1 takes over
    l.send(1, 5 * MS, "diff 503 503 b100x4"); // line 1 breaks too: nobody has the book
    let ev = l.drain();
    assert_eq!(count(&ev, StatusKind::Gap), 1, "{ev:#?}");
    assert_eq!(count(&ev, StatusKind::Resync), 1);
    assert!(!consumer_book(&ev).is_valid());
    // Line 1's resubscribe brings its snapshot first: the book is back, from it.
    l.send(1, 6 * MS, "snap 504 b100x4 a101x1");
    l.send(0, 7 * MS, "snap 104 b100x4 a101x1");
    l.send(1, 8 * MS, "diff 505 505 b99x1");
    l.send(0, 9 * MS, "diff 105 105 b99x1");
    let ev2 = l.drain();
    assert_eq!(
        count(&ev2, StatusKind::Gap) + count(&ev2, StatusKind::Resync),
        0
    );
    assert_eq!(snapshot_runs_of(&ev2), 1);
    assert_eq!(diffs(&ev2), vec![505]);
    let all: Vec<Event> = ev.into_iter().chain(ev2).collect();
    let b = consumer_book(&all);
    assert!(b.is_valid());
    assert_eq!(
        levels(&b),
        vec![
            ("100".into(), "4".into()),
            ("99".into(), "1".into()),
            ("101".into(), "1".into())
        ]
    );
}

#[test]
fn failover_a_silent_line_loses_its_books_to_one_that_delivers() {
    let mut l = Lines::failover(2);
    l.failover_up();
    l.send(0, 3 * MS, "diff 101 101 b100x2");
    l.send(1, 4 * MS, "diff 501 501 b100x2");
    // Line 0 goes silent; line 1 delivers for longer than the lag (50 ms).
    for (n, t) in (0..8).zip((10..=80).step_by(10)) {
        l.send(
            1,
            t * MS,
            &format!("diff {} {} b100x{}", 502 + n, 502 + n, 3 + n),
        );
    }
    let ev = l.drain();
    assert_eq!(
        count(&ev, StatusKind::Gap) + count(&ev, StatusKind::Resync),
        0
    );
    assert!(
        line_states(&ev).contains(&(0, LineState::Lagging)),
        "{ev:#?}"
    );
    assert_eq!(
        snapshot_runs_of(&ev),
        2,
        "the first sync, then line 1's book"
    );
    // Line 1's diffs after the switch are published; the book is line 1's.
    let d = diffs(&ev);
    assert_eq!(d.first(), Some(&101));
    assert_eq!(d.last(), Some(&509), "{d:?}");
    assert_eq!(
        levels(&consumer_book(&ev)),
        vec![("100".into(), "10".into()), ("101".into(), "1".into())]
    );
    // Line 0's backlog arrives late: not published.
    l.send(0, 81 * MS, "diff 102 102 b100x3");
    assert!(diffs(&l.drain()).is_empty());
}

#[test]
fn failover_a_dropped_line_hands_its_books_over_without_a_disconnect() {
    let mut l = Lines::failover(2);
    l.failover_up();
    l.send(0, 3 * MS, "diff 101 101 b100x2");
    l.send(0, 3 * MS, "trade 7 100");
    l.send(1, 4 * MS, "trade 7 100");
    l.send(1, 4 * MS, "diff 501 501 b100x2");
    l.call(0, 5 * MS, |f, cx| f.on_disconnect(Reason::Io, cx));
    l.send(1, 6 * MS, "diff 502 502 b100x3");
    l.send(1, 6 * MS, "trade 8 100");
    let ev = l.drain();
    for kind in [
        StatusKind::Gap,
        StatusKind::Resync,
        StatusKind::Disconnected,
    ] {
        assert_eq!(count(&ev, kind), 0, "{kind:?}: {ev:#?}");
    }
    assert!(line_states(&ev).contains(&(0, LineState::Down)));
    assert_eq!(trades(&ev), vec![7, 8], "each trade once");
    assert_eq!(snapshot_runs_of(&ev), 2);
    assert_eq!(diffs(&ev), vec![101, 502]);
    assert_eq!(
        levels(&consumer_book(&ev)),
        vec![("100".into(), "3".into()), ("101".into(), "1".into())]
    );
    // Both down: the feed is, and the book is invalid.
    l.call(1, 7 * MS, |f, cx| f.on_disconnect(Reason::Io, cx));
    let ev = l.drain();
    assert_eq!(count(&ev, StatusKind::Disconnected), 1);
    assert_eq!(count(&ev, StatusKind::Resync), 1);
}
