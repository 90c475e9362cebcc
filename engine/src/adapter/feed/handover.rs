//! Make-before-break hand-over: the watermarks of what a connection published, the
//! standby log, and [`FeedHandler::take_over`].

use super::*;

/// The last ids published per instrument, for exactly-once switching between connections.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Watermarks {
    /// Last plain trade id per instrument index (0: none).
    pub trades: Vec<u64>,
    /// Last aggregated trade id per instrument index (0: none).
    pub agg_trades: Vec<u64>,
    /// Last BBO update id per instrument index (0: none).
    pub bbos: Vec<u64>,
    /// Last applied diff per instrument index, for books in sync.
    pub books: Vec<Option<DiffIds>>,
    /// Keys ([`TradeId::key`]) of the last [`RECENT_TRADE_IDS`] trades whose ids are not
    /// ordered numbers (UUIDs, hashed text), any instrument: such trades are deduplicated by
    /// membership, not by comparison.
    pub recent_trades: Vec<u64>,
    /// Key of the last unordered trade per instrument index (0: none), so a take-over knows
    /// which instruments the old connection published such trades of.
    pub unordered: Vec<u64>,
    /// Next slot of `recent_trades` to overwrite once it is full.
    pub(super) recent_next: usize,
    /// `recent_trades` is sorted (a hand-over's copy): searched by bisection.
    pub(super) recent_sorted: bool,
}

/// How many unordered trade ids a handler remembers for a hand-over (a new connection lags
/// the old one by far fewer trades).
pub const RECENT_TRADE_IDS: usize = 4096;

/// Whether a trade event's id is unordered (a UUID or a hash).
#[inline]
pub(super) fn unordered_id(e: &Event) -> bool {
    e.flags.0 & (Flags::UUID_ID.0 | Flags::HASHED_ID.0) != 0
}

impl Watermarks {
    pub(super) fn with_len(n: usize) -> Watermarks {
        Watermarks {
            trades: vec![0; n],
            agg_trades: vec![0; n],
            bbos: vec![0; n],
            books: vec![None; n],
            recent_trades: Vec::new(),
            unordered: vec![0; n],
            recent_next: 0,
            recent_sorted: false,
        }
    }

    /// Makes room for instrument indexes below `n` (instruments subscribed at run time).
    pub(super) fn grow(&mut self, n: usize) {
        if n > self.trades.len() {
            self.trades.resize(n, 0);
            self.agg_trades.resize(n, 0);
            self.bbos.resize(n, 0);
            self.books.resize(n, None);
            self.unordered.resize(n, 0);
        }
    }

    /// Sorts the unordered trade ids for bisection (a hand-over's copy; control path).
    pub(super) fn seal(&mut self) {
        self.recent_trades.sort_unstable();
        self.recent_sorted = true;
    }

    /// Whether `e` was already published under these watermarks (trades and BBOs only).
    pub(super) fn covers(&self, e: &Event) -> bool {
        let i = e.instrument.index();
        if e.kind() == EventKind::Trade && unordered_id(e) {
            let key = e.trade_id().map_or(e.seq, TradeId::key);
            return if self.recent_sorted {
                self.recent_trades.binary_search(&key).is_ok()
            } else {
                self.recent_trades.contains(&key)
            };
        }
        let mark = match e.kind() {
            EventKind::Trade if e.flags.contains(Flags::AGGREGATED) => self.agg_trades.get(i),
            EventKind::Trade => self.trades.get(i),
            EventKind::Bbo => self.bbos.get(i),
            _ => None,
        };
        mark.is_some_and(|&m| m != 0 && e.seq <= m)
    }

    /// Whether an unordered trade id of this key ([`TradeId::key`]) was published.
    pub(super) fn covers_key(&self, key: u64) -> bool {
        if self.recent_sorted {
            self.recent_trades.binary_search(&key).is_ok()
        } else {
            self.recent_trades.contains(&key)
        }
    }

    #[inline]
    pub(super) fn record(&mut self, e: &Event) {
        let i = e.instrument.index();
        if e.kind() == EventKind::Trade && unordered_id(e) {
            self.record_unordered(e);
            return;
        }
        let slot = match e.kind() {
            EventKind::Trade if e.flags.contains(Flags::AGGREGATED) => self.agg_trades.get_mut(i),
            EventKind::Trade => self.trades.get_mut(i),
            EventKind::Bbo => self.bbos.get_mut(i),
            _ => None,
        };
        if let Some(m) = slot {
            *m = e.seq;
        }
    }

    pub(super) fn record_unordered(&mut self, e: &Event) {
        let key = e.trade_id().map_or(e.seq, TradeId::key);
        if let Some(last) = self.unordered.get_mut(e.instrument.index()) {
            *last = key;
        }
        if self.recent_trades.len() < RECENT_TRADE_IDS {
            // Grows once to its bound (the first such trades), then overwrites in place.
            self.recent_trades
                .reserve_exact(RECENT_TRADE_IDS - self.recent_trades.len());
            self.recent_trades.push(key);
        } else {
            self.recent_trades[self.recent_next] = key;
            self.recent_next = (self.recent_next + 1) % RECENT_TRADE_IDS;
        }
        self.recent_sorted = false;
    }
}

/// The first trade a standby connection logged per instrument. A take-over waits until the
/// old connection has published up to it: the old one may lag (its socket or its network
/// path holds trades the standby, subscribed later, never gets), and what it has not read
/// when it is retired would fall between the two.
#[derive(Clone, Debug, Default)]
pub(super) struct FirstTrades {
    /// First plain trade id per instrument index (0: none yet).
    plain: Vec<u64>,
    /// First aggregated trade id per instrument index (0: none yet).
    agg: Vec<u64>,
    /// Key ([`TradeId::key`]) of the first unordered trade per instrument index.
    unordered: Vec<Option<u64>>,
}

impl FirstTrades {
    /// Notes `e` if it is the first trade of its kind for its instrument. Standby only.
    pub(super) fn note(&mut self, e: &Event) {
        if e.kind() != EventKind::Trade {
            return;
        }
        let i = e.instrument.index();
        if unordered_id(e) {
            if self.unordered.len() <= i {
                self.unordered.resize(i + 1, None);
            }
            let key = e.trade_id().map_or(e.seq, TradeId::key);
            self.unordered[i].get_or_insert(key);
            return;
        }
        let firsts = if e.flags.contains(Flags::AGGREGATED) {
            &mut self.agg
        } else {
            &mut self.plain
        };
        if firsts.len() <= i {
            firsts.resize(i + 1, 0);
        }
        if firsts[i] == 0 {
            firsts[i] = e.seq;
        }
    }

    /// Whether the old connection's watermarks reach every first trade: an ordered id at
    /// most one past what it published (nothing can lie between), an unordered one among
    /// what it published. Instruments it published no trade of do not hold the switch.
    pub(super) fn reached_by(&self, old: &Watermarks) -> bool {
        let ordered = |firsts: &[u64], marks: &[u64]| {
            firsts
                .iter()
                .zip(marks)
                .all(|(&first, &mark)| first == 0 || mark == 0 || first <= mark.saturating_add(1))
        };
        ordered(&self.plain, &old.trades)
            && ordered(&self.agg, &old.agg_trades)
            && self
                .unordered
                .iter()
                .zip(&old.unordered)
                .all(|(first, &last)| first.is_none_or(|key| last == 0 || old.covers_key(key)))
    }
}

/// What a [`FeedHandler::take_over`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HandoverReport {
    /// Books carried over and joined at an aligned diff of the log.
    pub joined: usize,
    /// Books carried over whose joining diff is still to come (the log ended exactly at the
    /// old book's last id); the next diff joins them.
    pub joining: usize,
    /// Books that could not be joined and were resynced from a snapshot.
    pub resynced: usize,
    /// Logged events already published by the old connection (skipped).
    pub duplicates: u64,
    /// Logged events published by the take-over.
    pub published: u64,
    /// The standby log overflowed: every book was resynced.
    pub overflowed: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Mode {
    /// Publishing.
    Active,
    /// Second connection of a make-before-break rotation: log everything, publish nothing.
    Standby,
    /// Replaced by another connection: ignore everything.
    Retired,
    /// One line of an arbitrated feed: decodes and keeps its session (acks, pings, pacing,
    /// stale streams), hands its data to the arbiter, publishes nothing itself.
    Line,
}

#[derive(Clone, Copy, Debug)]
pub(super) enum LogItem {
    Market {
        start: u32,
        len: u32,
    },
    Diff {
        slot: u32,
        ids: DiffIds,
        checksum: Option<u32>,
        start: u32,
        len: u32,
    },
    Snapshot {
        slot: u32,
        ids: DiffIds,
        checksum: Option<u32>,
        start: u32,
        len: u32,
    },
}

/// How long after a take-over trades and BBOs are checked against the old connection's
/// watermarks (the new connection's lag behind the old one is far shorter).
pub(super) const CARRY_MARKS_NS: u64 = 60_000_000_000;

impl<A: FeedAdapter> FeedHandler<A> {
    /// The ids published so far, per instrument.
    pub fn watermarks(&self) -> Watermarks {
        let mut w = self.marks.clone();
        for b in &self.books {
            if let Some(m) = w.books.get_mut(b.instrument.index()) {
                *m = matches!(b.state, SyncState::Live | SyncState::Joining).then_some(b.last);
            }
        }
        w
    }

    /// Whether this standby handler can take over from one whose watermarks are `old`: every
    /// subscription is acknowledged and, for every book `old` has in sync, this connection's
    /// logged diffs reach back to (or before) the old book's last id, so its own diff chain
    /// passes through the join point. It may still be behind `old`: until it catches up, its
    /// diffs are skipped as stale and its trades and BBOs as duplicates.
    pub fn ready_to_take_over(&self, old: &Watermarks) -> bool {
        self.ready_for(old, |i| old.books.get(i.index()).copied().flatten())
    }

    /// [`FeedHandler::ready_to_take_over`] from `old` itself (no copy of its watermarks:
    /// called for every message of a standby connection).
    pub fn ready_to_replace(&self, old: &FeedHandler<A>) -> bool {
        self.ready_for(&old.marks, |i| {
            let b = &old.books[old.slot(i)?];
            matches!(b.state, SyncState::Live | SyncState::Joining).then_some(b.last)
        })
    }

    pub(super) fn ready_for(
        &self,
        old_marks: &Watermarks,
        old_last: impl Fn(InstrumentId) -> Option<DiffIds>,
    ) -> bool {
        if self.mode != Mode::Standby
            || self.adapter.pending_acks() != 0
            || self.log_overflow
            || !self.first_trades.reached_by(old_marks)
        {
            return false;
        }
        self.books.iter().enumerate().all(|(slot, b)| {
            let Some(last) = old_last(b.instrument) else {
                return true;
            };
            let last = &last;
            let first = self.log.iter().find_map(|item| match item {
                LogItem::Diff { slot: s, ids, .. } if *s as usize == slot => Some(Some(ids)),
                LogItem::Snapshot { slot: s, .. } if *s as usize == slot => Some(None),
                _ => None,
            });
            match first {
                // A whole book: it joins whatever the old connection had.
                Some(None) => true,
                Some(Some(ids)) => self.adapter.join_diff(last, ids) != SeqCheck::Gap,
                None => false,
            }
        })
    }

    /// Makes this standby handler the publishing one in place of `old` (same adapter type,
    /// same instruments, same I/O thread): books in sync move over, the log is replayed with
    /// what `old` already published skipped (trades and BBOs by id, book diffs by the
    /// adapter's join rule), and `old` is retired (its connection should then be closed).
    pub fn take_over(&mut self, old: &mut FeedHandler<A>, cx: &mut Context<'_>) -> HandoverReport {
        let mut marks = old.watermarks();
        marks.seal();
        let mut report = HandoverReport {
            overflowed: self.log_overflow,
            ..HandoverReport::default()
        };
        old.mode = Mode::Retired;
        self.mode = Mode::Active;
        self.connection = cx.connection().0;
        for slot in 0..self.books.len() {
            let instrument = self.books[slot].instrument;
            let carried = old.slot(instrument).and_then(|os| {
                let ob = &mut old.books[os];
                matches!(ob.state, SyncState::Live | SyncState::Joining).then(|| {
                    std::mem::swap(&mut ob.book, &mut self.books[slot].book);
                    ob.last
                })
            });
            let b = &mut self.books[slot];
            b.diffs.clear();
            b.events.clear();
            b.pending = None;
            match carried {
                Some(last) if !self.log_overflow => {
                    b.state = SyncState::Joining;
                    b.last = last;
                }
                _ => {
                    b.state = SyncState::Idle;
                    if carried.is_some() {
                        self.resync(slot, false, Reason::Rotation, cx);
                        report.resynced += 1;
                    }
                }
            }
        }
        for (mine, theirs) in [
            (&mut self.marks.trades, &marks.trades),
            (&mut self.marks.agg_trades, &marks.agg_trades),
            (&mut self.marks.bbos, &marks.bbos),
        ] {
            for (m, t) in mine.iter_mut().zip(theirs) {
                *m = (*m).max(*t);
            }
        }
        let log = std::mem::take(&mut self.log);
        let log_events = std::mem::take(&mut self.log_events);
        let before = self.stats.published;
        for item in &log {
            match *item {
                LogItem::Market { start, len } => {
                    for e in &log_events[start as usize..(start + len) as usize] {
                        if marks.covers(e) {
                            report.duplicates += 1;
                        } else {
                            self.marks.record(e);
                            self.publish(*e, cx);
                        }
                    }
                }
                LogItem::Diff {
                    slot,
                    ids,
                    checksum,
                    start,
                    len,
                }
                | LogItem::Snapshot {
                    slot,
                    ids,
                    checksum,
                    start,
                    len,
                } => {
                    let evs = &log_events[start as usize..(start + len) as usize];
                    let was_joining = self.books[slot as usize].state == SyncState::Joining;
                    if matches!(item, LogItem::Snapshot { .. }) {
                        self.on_book_snapshot(slot as usize, ids, checksum, evs, cx);
                    } else {
                        self.on_diff(slot as usize, ids, checksum, evs, cx);
                    }
                    let b = &self.books[slot as usize];
                    if was_joining && b.state == SyncState::Live {
                        report.joined += 1;
                    } else if was_joining && b.state != SyncState::Joining {
                        report.resynced += 1;
                    }
                }
            }
        }
        report.published = self.stats.published - before;
        self.carried = Some((marks, cx.now().saturating_add(CARRY_MARKS_NS)));
        report.joining = self
            .books
            .iter()
            .filter(|b| b.state == SyncState::Joining)
            .count();
        self.log = log;
        self.log.clear();
        self.log_events = log_events;
        self.log_events.clear();
        self.log_overflow = false;
        self.first_trades = FirstTrades::default();
        self.arm_timer(cx);
        report
    }

    pub(super) fn log_item(&mut self, item: LogItem, events: &[Event]) {
        if self.log_overflow
            || self.log_events.len() + events.len() > self.config.max_standby_events
        {
            self.log_overflow = true;
            return;
        }
        self.log.push(item);
        self.log_events.extend_from_slice(events);
    }
}
