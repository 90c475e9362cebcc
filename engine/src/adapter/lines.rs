//! [`ArbitratedFeed`]: one feed over several lines (A/B redundancy): every line stays live,
//! each update is published once, from the line whose copy arrived first.
//!
//! The lines are legs of one engine connection (`ConnectionConfig::lines`: leg `n` is line
//! `n`), each with its own socket, session, backoff and stale detection: a line that drops
//! or goes silent reconnects on its own while the others carry the feed. Each line runs a
//! [`FeedHandler::line`] (subscribes, decodes, keeps acks and pings, publishes nothing);
//! its data goes to one *arbiter*, an active [`FeedHandler`] that owns the books, with the
//! same rules as a make-before-break hand-over (this is that hand-over kept running):
//!
//! * trades and BBOs: the first copy by the venue's id is published, later copies skipped
//!   ([`crate::adapter::Watermarks`]: ordered ids by comparison, UUID and hashed ids by
//!   membership); a line's new trade goes out when its previous trade of the session is
//!   published, else it is held (the line may be ahead of trades another line is still
//!   bringing), so the venue's order holds across a line's reconnect, UUIDs included;
//! * book diffs: by the adapter's sequence rule against the arbiter's book (or its buffered
//!   chain while it syncs): a diff that chains on is applied and published, one already
//!   covered is skipped; one past a hole is *held* (not published, not a gap yet) until every
//!   line in session has also passed the hole, or [`ArbitrationConfig::hold`] has elapsed:
//!   only then is the gap real (`Gap`, `Resync`, a fresh snapshot, once). A hole another
//!   line fills costs nothing but that line's latency for the diffs in between. A snapshot
//!   one line brings ahead of the book (in-band starts re-send one per (re)subscribe) is
//!   held the same way and installed only if the other lines do not bring the diffs up to
//!   it; a sequence reset every line brings applies once; a resubscribe goes out on a line
//!   (the arbiter owns no socket).
//!
//! Statuses, in-band: `Connected` (value: connection id) when the first line comes up,
//! `Disconnected` when the last one goes down (the books are resynced as after any
//! disconnect; with a single line these are the engine's own, as for any connection); per line, `Line` with [`LineState::value`]: up, down (reason: why), or
//! lagging (its copies come [`ArbitrationConfig::lag`] or more behind, or it went silent
//! that long while another line delivered). The engine's own lifecycle statuses are not
//! published for a connection with several lines.
//!
//! Statistics ([`LineMonitor`], from any thread): per line the updates it delivered first
//! and later, and per pair of lines the percentiles of how far the later copy came behind
//! (an HDR histogram per ordered pair, recorded without allocation; the percentiles are
//! published every [`ArbitrationConfig::report`]).
//!
//! **Failover** ([`FeedAdapter::copies_line_up`], Coinbase): a venue that numbers book
//! updates per connection gives two lines' copies of one update different ids, so they
//! cannot be lined up. Then every line is a full handler that keeps its own books in sync,
//! muted, and each book is published from one line at a time: the arbiter applies and
//! publishes what that line applied. When the line loses the book (a break in its
//! sequence, a book error, a drop) or goes silent or lags while another line delivers, the
//! book is taken over from a line that has it in sync, published as a SNAPSHOT run that
//! replaces the consumers' copy: no `Gap`, no `Resync`. Only when no line has the book are
//! `Gap` and `Resync` published; the next line to sync it brings it back. Trades are taken
//! first copy by their id as above; BBOs (numbered per connection too) come from one line
//! per instrument, another once it is down or lagging. What it cannot promise: the copy a
//! switch publishes is the new line's book as it stands, which may be a few milliseconds
//! older than the last update the old line delivered (the consumer's book steps back to a
//! state the venue had, then moves on); and a switch needs validating books
//! ([`FeedConfig::validate_books`]): without them every loss is a `Gap` and `Resync`.
//!
//! Cost: per message a line decode, a watermark or sequence comparison and one arrival-table
//! probe (set-associative, fixed size); nothing is allocated in steady state.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use super::feed::{Arbiter, MAX_LINES, NO_LINE};
use super::rotation::Side;
use super::{AddFeedError, FeedAdapter, FeedConfig, FeedHandler, SnapshotSource};
use crate::command::{ConsumerId, EngineHandle};
use crate::config::ConnectionOptions;
use crate::event::{Event, Status, StatusKind};
use crate::handler::{ConnectionId, Context, Leg, Message, Reconnect, WsHandler};
use crate::instrument::InstrumentId;
use crate::reason::Reason;

const NEVER: u64 = u64::MAX;

mod failover;

/// Builds the adapter (and snapshot source) of line `n` (`n` = 0, 1, ...), and once more
/// with `n` = 0 for the arbiter (its snapshot source serves the books). `None`: the feed
/// cannot be built.
pub type LineFactory<A> = Box<dyn FnMut(usize) -> Option<(A, Box<dyn SnapshotSource>)> + Send>;

/// Tuning of an [`ArbitratedFeed`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArbitrationConfig {
    /// How long a book's chain is held, when the leading line skipped ids, for another line
    /// to bring them; then the gap is declared.
    pub hold: Duration,
    /// A line whose copies come this far behind the first, or that is silent this long
    /// while another line delivers, is reported lagging.
    pub lag: Duration,
    /// How often the statistics are published to the [`LineMonitor`].
    pub report: Duration,
    /// How long the venue keeps a connection (Binance: 24 h), if it limits it. Lines that
    /// connected together would be closed together and miss the same updates: instead line
    /// `n` reconnects on its own `(n + 1) × margin` before the limit, one at a time, while
    /// the others carry the feed.
    pub lifetime: Option<Duration>,
    /// See `lifetime`.
    pub margin: Duration,
}

impl Default for ArbitrationConfig {
    fn default() -> ArbitrationConfig {
        ArbitrationConfig {
            hold: Duration::from_millis(250),
            lag: Duration::from_millis(50),
            report: Duration::from_secs(1),
            lifetime: None,
            margin: Duration::from_secs(600),
        }
    }
}

/// A line's state, as reported by a `Line` status event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum LineState {
    /// Not connected yet.
    Connecting = 0,
    /// In session, keeping up.
    Up = 1,
    /// Its session ended; it reconnects on its own.
    Down = 2,
    /// In session, but its copies come late (or not at all).
    Lagging = 3,
}

impl LineState {
    /// The `value` of a `Line` status: the line number in the low byte, the state above.
    pub const fn value(line: usize, state: LineState) -> u64 {
        (line as u64 & 0xff) | ((state as u64) << 8)
    }

    /// The line number and state of a `Line` status's `value`.
    pub fn from_value(value: u64) -> Option<(usize, LineState)> {
        let state = match value >> 8 {
            0 => LineState::Connecting,
            1 => LineState::Up,
            2 => LineState::Down,
            3 => LineState::Lagging,
            _ => return None,
        };
        Some(((value & 0xff) as usize, state))
    }

    fn from_u64(v: u64) -> LineState {
        LineState::from_value(v << 8).map_or(LineState::Connecting, |(_, s)| s)
    }

    /// Stable snake_case name.
    pub const fn name(self) -> &'static str {
        match self {
            LineState::Connecting => "connecting",
            LineState::Up => "up",
            LineState::Down => "down",
            LineState::Lagging => "lagging",
        }
    }
}

/// One line's statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LineReport {
    /// Its state now.
    pub state: Option<LineState>,
    /// Updates this line delivered first (published from it).
    pub won: u64,
    /// Copies this line delivered after another line (skipped).
    pub lost: u64,
    /// Diffs it delivered past a hole, held for another line to fill.
    pub held: u64,
    /// Sessions it lost.
    pub downs: u64,
    /// Times it was reported lagging.
    pub lagging: u64,
}

/// How far one line's copies came behind another's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PairReport {
    /// The line whose copy came first.
    pub first: usize,
    /// The line whose copy came later.
    pub later: usize,
    /// Copies measured.
    pub count: u64,
    /// Median delay, ns.
    pub p50_ns: u64,
    /// 99th percentile delay, ns.
    pub p99_ns: u64,
    /// Longest delay, ns.
    pub max_ns: u64,
}

/// Statistics of an [`ArbitratedFeed`], from [`LineMonitor::report`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ArbitrationReport {
    /// Per line, line 0 first.
    pub lines: Vec<LineReport>,
    /// Per ordered pair of lines with copies measured.
    pub pairs: Vec<PairReport>,
    /// Holes another line filled (no gap published).
    pub filled: u64,
    /// Holes every line missed: in a book (each published as `Gap` and `Resync`) or in a
    /// trade stream (the trades after it went out when the hold ended).
    pub gaps: u64,
    /// Failover feeds ([`FeedAdapter::copies_line_up`]): books taken over from another
    /// line, each published as a SNAPSHOT run.
    pub failovers: u64,
}

#[derive(Default)]
struct LineCounters {
    state: AtomicU64,
    won: AtomicU64,
    lost: AtomicU64,
    held: AtomicU64,
    downs: AtomicU64,
    lagging: AtomicU64,
}

#[derive(Default)]
struct PairCounters {
    count: AtomicU64,
    p50: AtomicU64,
    p99: AtomicU64,
    max: AtomicU64,
}

struct Shared {
    lines: Vec<LineCounters>,
    pairs: Vec<PairCounters>,
    filled: AtomicU64,
    gaps: AtomicU64,
    failovers: AtomicU64,
}

/// Reads an [`ArbitratedFeed`]'s statistics from any thread.
#[derive(Clone)]
pub struct LineMonitor(Arc<Shared>);

impl std::fmt::Debug for LineMonitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("LineMonitor").field(&self.report()).finish()
    }
}

impl LineMonitor {
    /// The statistics as last published (every [`ArbitrationConfig::report`]; line states
    /// at once).
    pub fn report(&self) -> ArbitrationReport {
        let s = &self.0;
        let n = s.lines.len();
        let lines = s
            .lines
            .iter()
            .map(|c| LineReport {
                state: Some(LineState::from_u64(c.state.load(Relaxed))),
                won: c.won.load(Relaxed),
                lost: c.lost.load(Relaxed),
                held: c.held.load(Relaxed),
                downs: c.downs.load(Relaxed),
                lagging: c.lagging.load(Relaxed),
            })
            .collect();
        let mut pairs = Vec::new();
        for first in 0..n {
            for later in 0..n {
                let p = &s.pairs[first * MAX_LINES + later];
                let count = p.count.load(Relaxed);
                if first != later && count != 0 {
                    pairs.push(PairReport {
                        first,
                        later,
                        count,
                        p50_ns: p.p50.load(Relaxed),
                        p99_ns: p.p99.load(Relaxed),
                        max_ns: p.max.load(Relaxed),
                    });
                }
            }
        }
        ArbitrationReport {
            lines,
            pairs,
            filled: s.filled.load(Relaxed),
            gaps: s.gaps.load(Relaxed),
            failovers: s.failovers.load(Relaxed),
        }
    }
}

/// Why an [`ArbitratedFeed`] could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ArbitrationError {
    /// No lines, or more than [`MAX_LINES`]; or a zero hold, lag or report period.
    #[error("an arbitrated feed needs 1 to {MAX_LINES} lines and non-zero hold, lag and report")]
    Config,
    /// The factory could not build a line's adapter.
    #[error("the line factory could not build line {0}")]
    Factory(usize),
}

/// A [`WsHandler`] that runs one feed over several lines and publishes each update once.
/// See the module docs.
pub struct ArbitratedFeed<A: FeedAdapter> {
    arbiter: Side<A>,
    lines: Vec<Side<A>>,
    state: [LineState; MAX_LINES],
    /// Consecutive late copies per line.
    slow: [u32; MAX_LINES],
    /// Later copies per line when last judged.
    seen_lost: [u64; MAX_LINES],
    /// Per line: when it reconnects ahead of the venue's lifetime (NEVER: not planned).
    renew_at: [u64; MAX_LINES],
    arb: Arbiter,
    config: ArbitrationConfig,
    report_at: u64,
    /// The feed as a whole is in session (some line is).
    up: bool,
    /// Failover ([`FeedAdapter::copies_line_up`]): per arbiter book slot, the line its
    /// updates are published from (`NO_LINE`: none has it in sync).
    leader: Vec<u8>,
    /// Failover: a line's state changed since the books' sources were last checked.
    recheck: bool,
    shared: Arc<Shared>,
}

fn ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(NEVER)
}

impl<A: FeedAdapter> ArbitratedFeed<A> {
    /// A feed of `lines` lines whose adapters come from `factory`, run with `feed`.
    pub fn new(
        mut factory: LineFactory<A>,
        lines: usize,
        feed: FeedConfig,
        config: ArbitrationConfig,
    ) -> Result<ArbitratedFeed<A>, ArbitrationError> {
        if lines == 0
            || lines > MAX_LINES
            || config.hold.is_zero()
            || config.lag.is_zero()
            || config.report.is_zero()
        {
            return Err(ArbitrationError::Config);
        }
        let (adapter, snapshots) = factory(0).ok_or(ArbitrationError::Factory(0))?;
        let failover = !adapter.copies_line_up();
        let mut arbiter = FeedHandler::new(adapter, snapshots, feed);
        arbiter.resubscribe_via_lines();
        let mut sides = Vec::with_capacity(lines);
        for n in 0..lines {
            let (adapter, source) = factory(n).ok_or(ArbitrationError::Factory(n))?;
            let handler = if failover {
                // A full handler of its own books (in-band snapshots, resubscribes on its
                // own connection), muted.
                FeedHandler::failover_line(adapter, source, feed)
            } else {
                FeedHandler::line(adapter, feed)
            };
            sides.push(Side::new(handler, Leg(n as u32)));
        }
        let mut arb = Arbiter::new(arbiter.book_count(), ns(config.hold));
        arb.failover = failover;
        arb.track_trades(arbiter.instrument_slots());
        let leader = vec![NO_LINE; arbiter.book_count()];
        let shared = Arc::new(Shared {
            lines: (0..lines).map(|_| LineCounters::default()).collect(),
            pairs: (0..MAX_LINES * MAX_LINES)
                .map(|_| PairCounters::default())
                .collect(),
            filled: AtomicU64::new(0),
            gaps: AtomicU64::new(0),
            failovers: AtomicU64::new(0),
        });
        Ok(ArbitratedFeed {
            arbiter: Side::new(arbiter, Leg(u32::MAX)),
            lines: sides,
            state: [LineState::Connecting; MAX_LINES],
            slow: [0; MAX_LINES],
            seen_lost: [0; MAX_LINES],
            renew_at: [NEVER; MAX_LINES],
            arb,
            config,
            report_at: 0,
            up: false,
            leader,
            recheck: false,
            shared,
        })
    }

    /// The arbiter (the publishing handler: books, counters).
    pub fn arbiter(&self) -> &FeedHandler<A> {
        &self.arbiter.handler
    }

    /// Line `n`'s handler (its session counters), if there is one.
    pub fn line(&self, n: usize) -> Option<&FeedHandler<A>> {
        self.lines.get(n).map(|s| &s.handler)
    }

    /// How many lines.
    pub fn line_count(&self) -> usize {
        self.lines.len()
    }

    /// A handle on the statistics that works from any thread.
    pub fn monitor(&self) -> LineMonitor {
        LineMonitor(self.shared.clone())
    }

    /// The statistics now (publishes them to the monitor first). Control path.
    pub fn report(&mut self) -> ArbitrationReport {
        self.publish_report();
        self.monitor().report()
    }

    fn line_of(&self, cx: &Context<'_>) -> Option<usize> {
        let n = cx.leg().0 as usize;
        (n < self.lines.len()).then_some(n)
    }

    fn status(kind: StatusKind, reason: Reason, value: u64, cx: &mut Context<'_>) {
        let connection = cx.connection().0;
        let e = Event::status(
            InstrumentId::NONE,
            Status {
                kind,
                reason: reason.code(),
                value,
                connection,
            },
            cx.now(),
        );
        cx.publish(e);
    }

    #[cold]
    fn set_state(&mut self, line: usize, state: LineState, reason: Reason, cx: &mut Context<'_>) {
        if self.state[line] == state {
            return;
        }
        self.state[line] = state;
        if state == LineState::Up {
            self.arb.healthy |= 1 << line;
        } else {
            self.arb.healthy &= !(1 << line);
        }
        self.recheck = true;
        let c = &self.shared.lines[line];
        c.state.store(state as u64, Relaxed);
        match state {
            LineState::Down => {
                c.downs.fetch_add(1, Relaxed);
            }
            LineState::Lagging => {
                c.lagging.fetch_add(1, Relaxed);
            }
            _ => {}
        }
        Self::status(StatusKind::Line, reason, LineState::value(line, state), cx);
    }

    /// Lagging lines: late copies, or silence while this line delivers.
    #[inline]
    fn judge(&mut self, line: usize, cx: &mut Context<'_>) {
        self.judge_copies(line, true, cx);
    }

    /// [`Self::judge`]; `copies`: this message could have been a later copy (a failover
    /// line's book frames cannot: they say nothing of how far behind the line is).
    #[inline]
    fn judge_copies(&mut self, line: usize, copies: bool, cx: &mut Context<'_>) {
        let (now, lag) = (cx.now(), ns(self.config.lag));
        let lost = self.arb.lost[line];
        if !copies {
            // Only whether the other lines owe data.
        } else if self.seen_lost[line] != lost {
            self.seen_lost[line] = lost;
            if self.arb.behind[line] >= lag {
                self.slow[line] += 1;
            } else {
                self.slow[line] = 0;
            }
        } else {
            self.slow[line] = 0;
        }
        match self.state[line] {
            LineState::Up if self.slow[line] >= 3 => {
                self.set_state(line, LineState::Lagging, Reason::Stale, cx)
            }
            LineState::Lagging if self.slow[line] == 0 => {
                self.set_state(line, LineState::Up, Reason::None, cx)
            }
            _ => {}
        }
        for other in 0..self.lines.len() {
            let owed = self.arb.owed_since[other];
            if other != line
                && self.state[other] == LineState::Up
                && owed != 0
                && now.saturating_sub(owed) >= lag
            {
                self.set_state(other, LineState::Lagging, Reason::Stale, cx);
            }
        }
    }

    /// A run-time (un)subscription: the engine passes it to every leg; each line sends its
    /// own request, the arbiter changes its books once (from line 0's callback).
    fn subscription(&mut self, topics: &[String], subscribe: bool, cx: &mut Context<'_>) {
        let Some(line) = self.line_of(cx) else {
            return;
        };
        self.lines[line].call(cx, |h, cx| {
            if subscribe {
                h.on_subscribe(topics, cx);
            } else {
                h.on_unsubscribe(topics, cx);
            }
        });
        if line == 0 {
            self.arbiter
                .call(cx, |h, cx| h.arbiter_subscription(topics, subscribe, cx));
            self.arb.track_books(self.arbiter.handler.book_count());
            self.arb
                .track_trades(self.arbiter.handler.instrument_slots());
            self.leader.resize(
                self.arbiter.handler.book_count().max(self.leader.len()),
                NO_LINE,
            );
            self.recheck = true;
        }
        self.settle_books(cx);
        self.arm(line, cx);
    }

    /// Books the arbiter resyncs by resubscribing: this callback's line sends the requests
    /// (its adapter numbers them and tracks their acks); the snapshot then comes on it.
    /// A line not in session leaves them to the next line that calls.
    #[inline]
    fn route_resubscribes(&mut self, line: usize, cx: &mut Context<'_>) {
        if self.arb.failover {
            // Each line resyncs its own books; the arbiter's wait for a line to have one.
            while self.arbiter.handler.next_line_resubscribe().is_some() {}
            return;
        }
        if self.arb.live & (1 << line) == 0 {
            return;
        }
        while let Some(instrument) = self.arbiter.handler.next_line_resubscribe() {
            self.lines[line].call(cx, |h, cx| h.line_resubscribe(instrument, cx));
        }
    }

    /// Publishes counters and percentiles to the monitor. Control path (timer).
    fn publish_report(&self) {
        let s = &self.shared;
        for (n, c) in s.lines.iter().enumerate() {
            c.won.store(self.arb.won[n], Relaxed);
            c.lost.store(self.arb.lost[n], Relaxed);
            c.held.store(self.arb.held[n], Relaxed);
        }
        for first in 0..self.lines.len() {
            for later in 0..self.lines.len() {
                let h = self.arb.delays(first, later);
                let p = &s.pairs[first * MAX_LINES + later];
                p.count.store(h.len(), Relaxed);
                if !h.is_empty() {
                    p.p50.store(h.value_at_quantile(0.5), Relaxed);
                    p.p99.store(h.value_at_quantile(0.99), Relaxed);
                    p.max.store(h.max(), Relaxed);
                }
            }
        }
        s.filled.store(self.arb.filled, Relaxed);
        s.gaps.store(self.arb.gaps, Relaxed);
        s.failovers.store(self.arb.failovers, Relaxed);
    }

    /// The arbiter's next deadline: its own, a hold's, the next report.
    fn arbiter_at(&self) -> u64 {
        self.arbiter
            .inner_at
            .min(self.arb.hold_deadline())
            .min(self.report_at)
    }

    /// Arms this callback's leg at the earliest of its line's and the arbiter's deadlines
    /// (every leg carries the arbiter's, so it fires whichever lines are up).
    #[inline]
    fn arm(&mut self, line: usize, cx: &mut Context<'_>) {
        let want = self.lines[line]
            .inner_at
            .min(self.arbiter_at())
            .min(self.renew_at[line]);
        let side = &mut self.lines[line];
        if want != side.armed_at {
            side.armed_at = want;
            if want == NEVER {
                cx.cancel_timer();
            } else {
                cx.set_timer(want);
            }
        }
    }
}

impl<A: FeedAdapter> WsHandler for ArbitratedFeed<A> {
    fn min_ring_capacity(&self) -> usize {
        self.arbiter.handler.min_ring_capacity()
    }

    fn on_connect(&mut self, cx: &mut Context<'_>) {
        let Some(line) = self.line_of(cx) else {
            return;
        };
        let now = cx.now();
        self.lines[line].connected_at = now;
        self.lines[line].call(cx, |h, cx| h.on_connect(cx));
        self.arb.live |= 1 << line;
        self.arb.line_up(line);
        self.arb.last_data[line] = now;
        self.slow[line] = 0;
        if !self.up {
            self.up = true;
            // With one line the engine publishes the lifecycle statuses itself.
            if self.lines.len() > 1 {
                Self::status(
                    StatusKind::Connected,
                    Reason::None,
                    u64::from(cx.connection().0),
                    cx,
                );
            }
        }
        self.arbiter.call(cx, |h, cx| h.arbiter_line_up(cx));
        self.route_resubscribes(line, cx);
        if self.report_at == 0 || self.report_at == NEVER {
            self.report_at = now.saturating_add(ns(self.config.report));
        }
        self.set_state(line, LineState::Up, Reason::None, cx);
        self.renew_at[line] = match self.config.lifetime {
            Some(l) => now
                .saturating_add(ns(l))
                .saturating_sub(ns(self.config.margin).saturating_mul(line as u64 + 1))
                .max(now.saturating_add(1)),
            None => NEVER,
        };
        self.settle_books(cx);
        self.arm(line, cx);
    }

    fn on_subscribe(&mut self, topics: &[String], cx: &mut Context<'_>) {
        self.subscription(topics, true, cx);
    }

    fn on_unsubscribe(&mut self, topics: &[String], cx: &mut Context<'_>) {
        self.subscription(topics, false, cx);
    }

    #[inline]
    fn on_message(&mut self, msg: Message<'_>, cx: &mut Context<'_>) {
        let Some(line) = self.line_of(cx) else {
            return;
        };
        if self.arb.failover {
            return self.failover_message(line, msg, cx);
        }
        let (arbiter, arb) = (&mut self.arbiter, &mut self.arb);
        let errors = self.lines[line].handler.decode_errors();
        self.lines[line].call(cx, |h, cx| {
            h.line_message(msg, cx, |frame, events, cx| {
                arbiter.call(cx, |a, cx| a.arbitrate(line, frame, events, arb, cx));
            })
        });
        self.route_resubscribes(line, cx);
        if self.lines[line].handler.decode_errors() != errors {
            // A message of this line was lost: its next trades must chain afresh.
            self.arb.line_up(line);
        }
        self.judge(line, cx);
        self.arm(line, cx);
    }

    fn on_disconnect(&mut self, reason: Reason, cx: &mut Context<'_>) -> Reconnect {
        let Some(line) = self.line_of(cx) else {
            return Reconnect::No;
        };
        self.lines[line].connected_at = 0;
        self.renew_at[line] = NEVER;
        self.lines[line].call(cx, |h, cx| h.on_disconnect(reason, cx));
        self.arb.live &= !(1 << line);
        self.set_state(line, LineState::Down, reason, cx);
        if self.arb.live == 0 && self.up {
            // Every line is down: the feed is, and its books are invalid until they resync.
            self.up = false;
            if self.lines.len() > 1 {
                Self::status(StatusKind::Disconnected, reason, 0, cx);
            }
            self.arbiter.call(cx, |h, cx| h.on_disconnect(reason, cx));
            // Each line subscribes everything again when it reconnects.
            while self.arbiter.handler.next_line_resubscribe().is_some() {}
            self.leader.iter_mut().for_each(|l| *l = NO_LINE);
            self.recheck = false;
        }
        self.settle_books(cx);
        self.arm(line, cx);
        Reconnect::Yes
    }

    fn on_error(&mut self, reason: Reason, cx: &mut Context<'_>) {
        let Some(line) = self.line_of(cx) else {
            return;
        };
        self.lines[line].call(cx, |h, cx| h.on_error(reason, cx));
        self.arm(line, cx);
    }

    fn on_timer(&mut self, cx: &mut Context<'_>) {
        let Some(line) = self.line_of(cx) else {
            return;
        };
        let now = cx.now();
        self.lines[line].armed_at = NEVER;
        if now >= self.lines[line].inner_at {
            self.lines[line].inner_at = NEVER;
            self.lines[line].call(cx, |h, cx| h.on_timer(cx));
        }
        if now >= self.arbiter.inner_at || now >= self.arb.hold_deadline() {
            self.arbiter.inner_at = NEVER;
            let arb = &mut self.arb;
            self.arbiter.call(cx, |h, cx| h.arbiter_timer(arb, cx));
            self.route_resubscribes(line, cx);
        }
        if now >= self.renew_at[line] {
            // Ahead of the venue's limit, this line alone: the others carry the feed.
            self.renew_at[line] = NEVER;
            cx.recycle(Reason::Rotation);
        }
        if now >= self.report_at {
            self.report_at = now.saturating_add(ns(self.config.report));
            self.publish_report();
            if self.arb.live & (1 << line) != 0 {
                self.judge(line, cx);
            }
        }
        if self.arb.failover {
            // The line's own timer may have resynced its books (stale streams, deadlines).
            self.recheck = true;
            self.settle_books(cx);
        }
        self.arm(line, cx);
    }

    fn on_poll(&mut self, cx: &mut Context<'_>) {
        let Some(line) = self.line_of(cx) else {
            return;
        };
        self.lines[line].call(cx, |h, cx| h.on_poll(cx));
        self.arbiter.call(cx, |h, cx| h.on_poll(cx));
        self.route_resubscribes(line, cx);
        self.arm(line, cx);
    }
}

/// Adds `feed` to a running engine as one connection of `feed.line_count()` lines (line `n`
/// connects to its adapter's endpoint; headers, heartbeat rules and options are line 0's)
/// publishing to `consumers`. `extra_roots` are trusted in addition to the webpki roots.
pub fn add_arbitrated_feed<A: FeedAdapter>(
    engine: &EngineHandle,
    feed: ArbitratedFeed<A>,
    base: ConnectionOptions,
    extra_roots: &[Vec<u8>],
    consumers: &[ConsumerId],
) -> Result<ConnectionId, AddFeedError> {
    let mut config = super::connection_config(feed.lines[0].handler.adapter(), base)?;
    for side in &feed.lines[1..] {
        config = config.line(&side.handler.adapter().endpoint().url)?;
    }
    for der in extra_roots {
        config = config.trust_root_der(der);
    }
    Ok(engine.add_connection(config, Box::new(feed), consumers)?)
}
