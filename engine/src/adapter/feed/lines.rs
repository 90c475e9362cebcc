//! Line arbitration (A/B), the handler side: a *line* handler ([`FeedHandler::line`])
//! decodes one line and keeps its session (acks, pings, pacing, stale streams) without
//! publishing; the *arbiter* (an active handler that owns no socket) takes every line's
//! data and publishes each update once, the first copy, reusing the hand-over's watermarks
//! (trades and BBOs by the venue's id) and the sync state machine (diffs by the adapter's
//! sequence rule). See [`crate::adapter::ArbitratedFeed`].

use hdrhistogram::Histogram;

use super::*;
use crate::adapter::QueuedSnapshots;

/// Most lines of one arbitrated feed (the engine's legs per connection).
pub const MAX_LINES: usize = crate::engine::MAX_LEGS;

/// A book whose chain is held because the leading line skipped ids the other lines may
/// still bring (`since` 0: not held).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Hold {
    pub(crate) since: u64,
    /// Lines that delivered a diff past the hole.
    pub(crate) past: u32,
}

/// A whole book one line brought ahead of the arbiter's live book (a venue that re-sends
/// snapshots, Bybit and OKX, does so per connection: on a resubscribe, a reconnect, its own
/// restart): held while the other lines may still bring the diffs up to it, installed when
/// the hold ends without them. One per book; its buffer is kept for the next one.
#[derive(Default)]
pub(crate) struct HeldSnapshot {
    ids: Option<DiffIds>,
    checksum: Option<u32>,
    events: Vec<Event>,
    line: usize,
}

/// Trades of one instrument and kind (plain or aggregated) held because the line that
/// brought them may be ahead of a hole another line is still filling: each with the id of
/// the trade before it on its line (0: unknown), published once the published stream
/// reaches that id. Fixed capacity (a full hold drops the newest: another line brings it).
pub(crate) struct HeldTrades {
    events: Vec<Event>,
    prevs: Vec<u64>,
    lines: Vec<u8>,
    since: u64,
}

/// Most trades held per instrument and kind.
pub const HELD_TRADES: usize = 256;

impl HeldTrades {
    /// Takes out held trade `n`, keeping the others in arrival order; returns the line that
    /// brought it.
    fn remove(&mut self, n: usize) -> usize {
        self.events.remove(n);
        self.prevs.remove(n);
        usize::from(self.lines.remove(n))
    }

    fn new() -> HeldTrades {
        HeldTrades {
            events: Vec::with_capacity(HELD_TRADES),
            prevs: Vec::with_capacity(HELD_TRADES),
            lines: Vec::with_capacity(HELD_TRADES),
            since: 0,
        }
    }
}

/// Arrival times of recently published updates, for the latency difference of the later
/// copies: 4-way set-associative, fixed size, the oldest way replaced (no allocation).
pub(crate) struct Arrivals {
    keys: Box<[u64]>,
    at: Box<[u64]>,
    line: Box<[u8]>,
    mask: usize,
}

const WAYS: usize = 4;

impl Arrivals {
    fn new(sets: usize) -> Arrivals {
        let sets = sets.next_power_of_two();
        Arrivals {
            keys: vec![0; sets * WAYS].into_boxed_slice(),
            at: vec![0; sets * WAYS].into_boxed_slice(),
            line: vec![0; sets * WAYS].into_boxed_slice(),
            mask: sets - 1,
        }
    }

    #[inline]
    fn set(&self, key: u64) -> usize {
        (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize & self.mask
    }

    #[inline]
    pub(crate) fn insert(&mut self, key: u64, at: u64, line: usize) {
        let base = self.set(key) * WAYS;
        let mut way = base;
        for w in base..base + WAYS {
            if self.keys[w] == key {
                way = w;
                break;
            }
            if self.at[w] < self.at[way] {
                way = w;
            }
        }
        self.keys[way] = key;
        self.at[way] = at;
        self.line[way] = line as u8;
    }

    /// When and on which line the first copy of `key` arrived, if still remembered.
    #[inline]
    pub(crate) fn get(&self, key: u64) -> Option<(u64, usize)> {
        let base = self.set(key) * WAYS;
        (base..base + WAYS)
            .find(|&w| self.keys[w] == key && self.at[w] != 0)
            .map(|w| (self.at[w], usize::from(self.line[w])))
    }
}

/// A key per update for [`Arrivals`] (never 0).
#[inline]
fn key(tag: u64, instrument: InstrumentId, id: u64) -> u64 {
    let k = id.wrapping_mul(0x100_0000_01B3).rotate_left(17) ^ (u64::from(instrument.0) << 8) ^ tag;
    k.max(1)
}

#[inline]
fn event_key(e: &Event) -> Option<u64> {
    match e.kind() {
        EventKind::Trade => {
            let id = e.trade_id().map_or(e.seq, TradeId::key);
            let tag = if e.flags.contains(Flags::AGGREGATED) {
                2
            } else {
                1
            };
            Some(key(tag, e.instrument, id))
        }
        EventKind::Bbo => Some(key(3, e.instrument, e.seq)),
        _ => None,
    }
}

/// Arbitration state shared by the lines of one feed (held by the arbitrated feed, passed
/// to the arbiter with each copy).
pub(crate) struct Arbiter {
    /// Lines in session now (bit per line).
    pub(crate) live: u32,
    /// How long a book's chain is held for the other lines to fill a hole, ns.
    pub(crate) hold_ns: u64,
    pub(crate) holds: Vec<Hold>,
    /// Per book: a snapshot held while its hold lasts.
    pub(crate) snapshots: Vec<HeldSnapshot>,
    /// Per book: sequence resets applied (Bybit `u == 1`: the venue restarted the chain,
    /// on every line); per line and book: resets that line brought. A line's reset beyond
    /// the count applied is new; one within it is another copy of one already applied.
    pub(crate) resets: Vec<u32>,
    pub(crate) line_resets: [Vec<u32>; MAX_LINES],
    /// Per line and book: the last update id the line brought in this session (a diff or a
    /// snapshot, first copy or later; 0: none yet). A snapshot below it is the line's own
    /// numbering going back (Bybit re-sends snapshots "sometimes with a lower `u`"), not a
    /// late copy.
    pub(crate) line_last: [Vec<u64>; MAX_LINES],
    pub(crate) arrivals: Arrivals,
    /// Per line: updates it delivered first, copies it delivered later, diffs it delivered
    /// past a hole (held), data messages, and when its last data arrived.
    pub(crate) won: [u64; MAX_LINES],
    pub(crate) lost: [u64; MAX_LINES],
    pub(crate) held: [u64; MAX_LINES],
    pub(crate) last_data: [u64; MAX_LINES],
    /// The last later copy's delay behind the first, per line (ns).
    pub(crate) behind: [u64; MAX_LINES],
    /// Per line: since when another line has delivered updates this one has not matched
    /// with any data since (0: it is keeping up).
    pub(crate) owed_since: [u64; MAX_LINES],
    /// Holes every line missed: in a book (each published as `Gap` and `Resync`), or in a
    /// trade stream (the held trades went out when the hold ended).
    pub(crate) gaps: u64,
    /// Holes another line filled.
    pub(crate) filled: u64,
    /// Per (first line, later line): how far the later copy came behind, ns.
    pub(crate) delays: Vec<Histogram<u64>>,
    /// Per line, per trade stream (instrument index × 2 + aggregated): the id of the last
    /// trade the line delivered in this session (0: none yet).
    pub(crate) prev_trade: [Vec<u64>; MAX_LINES],
    /// Per trade stream: trades held for the chain to reach them.
    pub(crate) held_trades: Vec<HeldTrades>,
    /// Per trade stream of unordered ids (UUIDs, hashes): the key of the last one
    /// published (0: none yet).
    pub(crate) last_unordered: Vec<u64>,
    /// See [`Arbiter::hold_deadline`].
    pub(crate) next_hold: u64,
    /// The venue numbers book updates and BBOs per connection
    /// ([`FeedAdapter::copies_line_up`]): books and BBOs fail over between lines
    /// instead of being taken first copy.
    pub(crate) failover: bool,
    /// Lines up and keeping up (bit per line): a failover source must be one.
    pub(crate) healthy: u32,
    /// Failover: per instrument index, the line whose BBOs are published (`NO_LINE`: none
    /// yet).
    pub(crate) bbo_lead: Vec<u8>,
    /// Failover: books taken over from another line (published as snapshot runs).
    pub(crate) failovers: u64,
}

/// "No line" in a per-book or per-instrument line table.
pub(crate) const NO_LINE: u8 = u8::MAX;

impl Arbiter {
    pub(crate) fn new(books: usize, hold_ns: u64) -> Arbiter {
        let delays = (0..MAX_LINES * MAX_LINES)
            .map(|_| crate::telemetry::stages::new_histogram())
            .collect();
        Arbiter {
            live: 0,
            hold_ns,
            holds: vec![Hold::default(); books],
            snapshots: (0..books).map(|_| HeldSnapshot::default()).collect(),
            resets: vec![0; books],
            line_resets: std::array::from_fn(|_| vec![0; books]),
            line_last: std::array::from_fn(|_| vec![0; books]),
            arrivals: Arrivals::new(1 << 14),
            won: [0; MAX_LINES],
            lost: [0; MAX_LINES],
            held: [0; MAX_LINES],
            last_data: [0; MAX_LINES],
            behind: [0; MAX_LINES],
            owed_since: [0; MAX_LINES],
            gaps: 0,
            filled: 0,
            delays,
            prev_trade: Default::default(),
            held_trades: Vec::new(),
            last_unordered: Vec::new(),
            next_hold: u64::MAX,
            failover: false,
            healthy: 0,
            bbo_lead: Vec::new(),
            failovers: 0,
        }
    }

    /// Holds for `books` book slots (control path: allocates).
    pub(crate) fn track_books(&mut self, books: usize) {
        if self.holds.len() < books {
            self.holds.resize(books, Hold::default());
        }
        while self.snapshots.len() < books {
            self.snapshots.push(HeldSnapshot::default());
        }
        if self.resets.len() < books {
            self.resets.resize(books, 0);
        }
        for r in &mut self.line_resets {
            if r.len() < books {
                r.resize(books, 0);
            }
        }
        for l in &mut self.line_last {
            if l.len() < books {
                l.resize(books, 0);
            }
        }
    }

    /// Failover: whether `line`'s BBO of `instrument` is published: it is that
    /// instrument's BBO line, or takes over from one that is not healthy (or none).
    #[inline]
    fn bbo_from(&mut self, line: usize, instrument: InstrumentId) -> bool {
        let Some(lead) = self.bbo_lead.get_mut(instrument.index()) else {
            return true;
        };
        if usize::from(*lead) == line {
            return true;
        }
        let healthy = |l: u8| l != NO_LINE && self.healthy & (1u32 << l) != 0;
        if healthy(*lead) || self.healthy & (1 << line) == 0 && *lead != NO_LINE {
            return false;
        }
        *lead = line as u8;
        true
    }

    /// Failover: `line` delivered data another line may owe (see `owed_since`).
    #[inline]
    pub(crate) fn delivered(&mut self, line: usize, now: u64) {
        self.last_data[line] = now;
        for (other, owed) in self.owed_since.iter_mut().enumerate() {
            if other == line {
                *owed = 0;
            } else if *owed == 0 && self.live & (1 << other) != 0 {
                *owed = now;
            }
        }
    }

    /// Starts (or joins) the hold of book `slot`: `line` is past its hole.
    #[inline]
    fn hold(&mut self, slot: usize, line: usize, now: u64) -> Option<&mut Hold> {
        let h = self.holds.get_mut(slot)?;
        if h.since == 0 {
            h.since = now;
            h.past = 0;
            self.next_hold = self.next_hold.min(now.saturating_add(self.hold_ns));
        }
        h.past |= 1 << line;
        Some(h)
    }

    /// Trade streams for instruments below `instruments` (control path: allocates).
    pub(crate) fn track_trades(&mut self, instruments: usize) {
        let n = instruments * 2;
        for p in &mut self.prev_trade {
            if p.len() < n {
                p.resize(n, 0);
            }
        }
        while self.held_trades.len() < n {
            self.held_trades.push(HeldTrades::new());
        }
        if self.last_unordered.len() < n {
            self.last_unordered.resize(n, 0);
        }
        if self.bbo_lead.len() < instruments {
            self.bbo_lead.resize(instruments, NO_LINE);
        }
    }

    /// Line `line` (re)connected: its trade streams start afresh, and its books on the
    /// chain in force (its subscribe brings their snapshots).
    pub(crate) fn line_up(&mut self, line: usize) {
        if let Some(p) = self.prev_trade.get_mut(line) {
            p.iter_mut().for_each(|x| *x = 0);
        }
        if let Some(l) = self.line_last.get_mut(line) {
            l.iter_mut().for_each(|x| *x = 0);
        }
        if let Some(r) = self.line_resets.get_mut(line) {
            for (seen, applied) in r.iter_mut().zip(&self.resets) {
                *seen = *applied;
            }
        }
    }

    /// `line` brought a reset of book `slot`'s numbering (a `u == 1` delta, or a snapshot
    /// below what the line brought before): `Some(true)` if it is the first copy of a reset
    /// (now counted as applied), `Some(false)` if another line already brought it, `None`
    /// for an untracked slot.
    fn note_reset(&mut self, line: usize, slot: usize) -> Option<bool> {
        let seen = self.line_resets.get_mut(line)?.get_mut(slot)?;
        let applied = self.resets.get_mut(slot)?;
        *seen += 1;
        let new = *seen > *applied;
        if new {
            *applied = *seen;
        }
        Some(new)
    }

    /// The histogram of how far `later`'s copies came behind `first`'s.
    pub(crate) fn delays(&self, first: usize, later: usize) -> &Histogram<u64> {
        &self.delays[first * MAX_LINES + later]
    }

    #[inline]
    fn won(&mut self, line: usize, key: Option<u64>, now: u64) {
        self.won[line] += 1;
        for (other, owed) in self.owed_since.iter_mut().enumerate() {
            if other == line {
                *owed = 0;
            } else if *owed == 0 && self.live & (1 << other) != 0 {
                *owed = now;
            }
        }
        if let Some(k) = key {
            self.arrivals.insert(k, now, line);
        }
    }

    #[inline]
    fn lost(&mut self, line: usize, key: Option<u64>, now: u64) {
        self.lost[line] += 1;
        self.owed_since[line] = 0;
        let Some((at, first)) = key.and_then(|k| self.arrivals.get(k)) else {
            return;
        };
        if first == line || first >= MAX_LINES {
            return;
        }
        let d = now.saturating_sub(at);
        self.behind[line] = d;
        self.delays[first * MAX_LINES + line].saturating_record(d.max(1));
    }

    /// When the earliest hold may end (u64::MAX: none); may be early (a hold that ended
    /// since), never late. Read for every message: a field, recomputed on the timer.
    #[inline]
    pub(crate) fn hold_deadline(&self) -> u64 {
        self.next_hold
    }

    /// Recomputes [`Arbiter::hold_deadline`] from the holds (timer path).
    pub(crate) fn recompute_hold_deadline(&mut self) {
        self.next_hold = self
            .holds
            .iter()
            .map(|h| h.since)
            .chain(self.held_trades.iter().map(|h| h.since))
            .filter(|&since| since != 0)
            .map(|since| since.saturating_add(self.hold_ns))
            .min()
            .unwrap_or(u64::MAX);
    }
}

impl<A: FeedAdapter> FeedHandler<A> {
    /// A handler for one line of an arbitrated feed: it subscribes, keeps its session and
    /// decodes, and hands data to the arbiter instead of publishing.
    pub fn line(adapter: A, config: FeedConfig) -> Self {
        let mut h = FeedHandler::new(adapter, Box::new(QueuedSnapshots::new()), config);
        h.mode = Mode::Line;
        h
    }

    /// The arbiter's side of a run-time (un)subscription: the adapter's set and the tracked
    /// books change (an unsubscribed book is declared invalid in-band), no frame is sent
    /// (each line sends its own). Control path.
    pub(crate) fn arbiter_subscription(
        &mut self,
        topics: &[String],
        subscribe: bool,
        cx: &mut Context<'_>,
    ) {
        let subs: Vec<A::Subscription> = topics
            .iter()
            .filter_map(|t| self.adapter.parse_topic(t))
            .collect();
        if subs.is_empty() {
            return;
        }
        let mut frames = Vec::new();
        if subscribe {
            self.adapter.subscribe(&subs, &mut frames);
            self.track_books(cx.now());
            let n = self
                .adapter
                .instruments()
                .iter()
                .chain(self.books.iter().map(|b| &b.instrument))
                .filter(|i| **i != InstrumentId::NONE)
                .map(|i| i.index() + 1)
                .max()
                .unwrap_or(0);
            self.marks.grow(n);
        } else {
            self.adapter.unsubscribe(&subs, &mut frames);
            self.untrack_books(cx);
        }
        self.track_streams();
    }

    /// Makes this handler an arbiter's: a book it resyncs by resubscribing is queued for a
    /// line to send ([`FeedHandler::next_line_resubscribe`]). Control path.
    pub(crate) fn resubscribe_via_lines(&mut self) {
        self.line_resubscribes = Some(Vec::with_capacity(self.books.len()));
    }

    /// The arbiter: the next book a line should resubscribe, if any.
    #[inline]
    pub(crate) fn next_line_resubscribe(&mut self) -> Option<InstrumentId> {
        self.line_resubscribes.as_mut().and_then(Vec::pop)
    }

    /// A line: resubscribes `instrument`'s book for the arbiter (the venue sends a new
    /// snapshot on this line), through this line's pacing and ack tracking. Resync path.
    pub(crate) fn line_resubscribe(&mut self, instrument: InstrumentId, cx: &mut Context<'_>) {
        let mut frames = Vec::new();
        self.adapter.resubscribe(instrument, &mut frames);
        if frames.is_empty() {
            cx.recycle(Reason::Adapter);
            return;
        }
        self.stats.resubscribes += 1;
        self.outbox.extend(frames);
        self.flush(cx);
        self.arm_timer(cx);
    }

    /// Frames that failed to decode (a line that lost one cannot vouch for its trade chain).
    #[inline]
    pub(crate) fn decode_errors(&self) -> u64 {
        self.stats.decode_errors
    }

    /// Instruments with watermarks (for the arbiter's trade streams).
    pub(crate) fn instrument_slots(&self) -> usize {
        self.marks.trades.len()
    }

    /// Book slots (for the arbiter's holds).
    pub(crate) fn book_count(&self) -> usize {
        self.books.len()
    }

    /// A line handler's message: session frames are handled here, data frames go to
    /// `data` (the arbiter). Hot path: no allocation.
    #[inline]
    pub(crate) fn line_message(
        &mut self,
        msg: Message<'_>,
        cx: &mut Context<'_>,
        data: impl FnOnce(Frame, &[Event], &mut Context<'_>),
    ) {
        self.stats.messages += 1;
        let payload = match msg {
            Message::Text(p) | Message::Binary(p) => p,
        };
        let mut events = std::mem::take(&mut self.scratch);
        events.clear();
        let decoded = self.adapter.decode(payload, cx.now(), &mut events);
        cx.mark_decoded();
        match decoded {
            Ok(frame @ (Frame::Market | Frame::BookDiff { .. } | Frame::BookSnapshot { .. })) => {
                data(frame, &events, cx);
                self.observe(frame, &events, cx);
            }
            Ok(frame) => self.handle_frame(frame, &events, cx),
            // Counted per line; the other lines carry the update.
            Err(_) => self.stats.decode_errors += 1,
        }
        self.scratch = events;
        if self.seen_pending != 0 || self.ack_deadline != 0 {
            self.track_acks(cx);
        }
    }

    /// The arbiter's view of a line coming up: books not yet synced expect their snapshot
    /// the venue's way (the line subscribed them).
    pub(crate) fn arbiter_line_up(&mut self, cx: &mut Context<'_>) {
        self.connection = cx.connection().0;
        for slot in 0..self.books.len() {
            if self.books[slot].state == SyncState::Idle {
                self.expect_inband(slot, cx.now());
            }
        }
        self.arm_timer(cx);
    }

    /// The arbiter: one copy of an update from `line`. The first copy is published (book
    /// diffs through the sync state machine), later copies are counted; a diff past a hole
    /// is held until every line in session has passed the hole or the hold expires.
    #[inline]
    pub(crate) fn arbitrate(
        &mut self,
        line: usize,
        frame: Frame,
        events: &[Event],
        arb: &mut Arbiter,
        cx: &mut Context<'_>,
    ) {
        let now = cx.now();
        if let Some(t) = arb.last_data.get_mut(line) {
            *t = now;
        }
        match frame {
            Frame::Market => {
                for e in events {
                    if e.kind() == EventKind::Trade {
                        if unordered_id(e) {
                            self.arbitrate_unordered_trade(line, e, arb, now, cx);
                        } else {
                            self.arbitrate_trade(line, e, arb, now, cx);
                        }
                        continue;
                    }
                    let k = event_key(e);
                    if arb.failover {
                        // Numbered per connection: one line's BBOs at a time.
                        if arb.bbo_from(line, e.instrument) {
                            self.publish(*e, cx);
                            arb.won(line, None, now);
                        } else {
                            // Not a later copy (no id to line it up by): only a sign of life.
                            arb.delivered(line, now);
                        }
                        continue;
                    }
                    if self.marks.covers(e) {
                        self.stats.duplicates += 1;
                        arb.lost(line, k, now);
                    } else {
                        self.marks.record(e);
                        self.publish(*e, cx);
                        arb.won(line, k, now);
                    }
                }
            }
            Frame::BookDiff {
                instrument,
                ids,
                checksum,
            } => {
                let Some(slot) = self.slot(instrument) else {
                    self.stats.untracked_diffs += 1;
                    return;
                };
                let k = Some(key(4, instrument, ids.last));
                if let Some(l) = arb.line_last.get_mut(line).and_then(|l| l.get_mut(slot)) {
                    *l = ids.last;
                }
                let b = &self.books[slot];
                let reference = match b.state {
                    SyncState::Live | SyncState::Joining => Some(b.last),
                    SyncState::Idle | SyncState::Buffering => b.diffs.last().map(|d| d.ids),
                };
                // The join rule, not the next-diff rule: a later copy from a slower line must
                // read as stale, not as a diff past a hole (OKX's `prevSeqId` chain calls
                // any mismatch a gap), and lines may cut batches differently (Binance).
                let check = reference.map_or(SeqCheck::Apply, |r| self.adapter.join_diff(&r, &ids));
                // (No let chains: the engine's rust-version is 1.85.)
                if check == SeqCheck::Reset && arb.note_reset(line, slot) == Some(false) {
                    // Another line already brought this reset: a later copy.
                    self.stats.stale_diffs += 1;
                    arb.lost(line, k, now);
                    return;
                }
                match check {
                    SeqCheck::Stale => {
                        self.stats.stale_diffs += 1;
                        arb.lost(line, k, now);
                        return;
                    }
                    SeqCheck::Gap => {
                        let (live, hold_ns) = (arb.live, arb.hold_ns);
                        let Some(h) = arb.hold(slot, line, now) else {
                            return;
                        };
                        let waiting =
                            h.past & live != live && now < h.since.saturating_add(hold_ns);
                        if waiting {
                            // Kept in the book's buffer (empty while live) so that it is
                            // applied the moment another line fills the hole. The feed arms
                            // the hold's deadline (`Arbiter::hold_deadline`).
                            arb.held[line] += 1;
                            if self.books[slot].state == SyncState::Live {
                                self.buffer(slot, ids, checksum, events);
                            }
                            return;
                        }
                        // Every line in session passed the hole (or the wait is over).

                        *h = Hold::default();
                        if self.install_held_snapshot(slot, arb, now, cx) {
                            // The hole is behind a snapshot a line brought: no gap.
                            return self.arbitrate(line, frame, events, arb, cx);
                        }
                        arb.gaps += 1;
                    }
                    SeqCheck::Apply | SeqCheck::Reset => {
                        if let Some(h) = arb.holds.get_mut(slot) {
                            if h.since != 0 {
                                arb.filled += 1;
                                *h = Hold::default();
                            }
                        }
                    }
                }
                arb.won(line, k, now);
                self.on_diff(slot, ids, checksum, events, cx);
                if check == SeqCheck::Apply && !self.books[slot].diffs.is_empty() {
                    self.apply_held(slot, arb, now, cx);
                }
                if let Some(s) = arb.snapshots.get_mut(slot) {
                    if s.ids.is_some_and(|x| x.last <= self.books[slot].last.last) {
                        // The diffs came up to the held snapshot: it is covered.
                        s.ids = None;
                    }
                }
            }
            Frame::BookSnapshot {
                instrument,
                ids,
                checksum,
            } => {
                let Some(slot) = self.slot(instrument) else {
                    self.stats.untracked_diffs += 1;
                    return;
                };
                let b = &self.books[slot];
                let live = b.state == SyncState::Live;
                let line_last = arb
                    .line_last
                    .get_mut(line)
                    .and_then(|l| l.get_mut(slot))
                    .map_or(0, |l| std::mem::replace(l, ids.last));
                if live && ids.last <= b.last.last {
                    // Below what this very line brought before: its numbering went back (a
                    // re-sent snapshot with a lower id; venues.md: accept any snapshot). The
                    // first line to bring it installs it, as a sequence reset; the others'
                    // copies of it are later copies (the reset counters tell them apart).
                    let renumbered =
                        line_last > ids.last && arb.note_reset(line, slot) == Some(true);
                    if !renumbered {
                        // Another line's book is already past this one.
                        self.stats.stale_diffs += 1;
                        arb.lost[line] += 1;
                        return;
                    }
                    self.stats.resets += 1;
                    if let Some(h) = arb.holds.get_mut(slot) {
                        *h = Hold::default();
                    }
                    if let Some(s) = arb.snapshots.get_mut(slot) {
                        s.ids = None;
                    }
                    arb.won[line] += 1;
                    self.on_book_snapshot(slot, ids, checksum, events, cx);
                    return;
                }
                let reset = live && self.adapter.next_diff(&b.last, &ids) == SeqCheck::Reset;
                if live && !reset && arb.live & !(1 << line) != 0 {
                    // Ahead of the live book, on this line alone so far: the other lines
                    // may still bring the diffs up to it (then it is covered and skipped),
                    // else it is installed when the hold ends.
                    if arb.hold(slot, line, now).is_none() {
                        return;
                    }
                    arb.held[line] += 1;
                    if let Some(s) = arb.snapshots.get_mut(slot) {
                        if s.ids.is_none_or(|x| x.last < ids.last) {
                            s.ids = Some(ids);
                            s.checksum = checksum;
                            s.line = line;
                            s.events.clear();
                            s.events.extend_from_slice(events);
                        }
                    }
                    return;
                }
                if let Some(h) = arb.holds.get_mut(slot) {
                    *h = Hold::default();
                }
                if let Some(s) = arb.snapshots.get_mut(slot) {
                    s.ids = None;
                }
                arb.won[line] += 1;
                self.on_book_snapshot(slot, ids, checksum, events, cx);
            }
            _ => {}
        }
        if cx.lost() != self.seen_lost || self.republish {
            self.recover_from_drops(cx);
            self.arm_timer(cx);
        }
    }

    /// One ordered trade from `line`: published when it is new and chains on what was
    /// published (the line's previous trade is published, or nothing was yet, or no other
    /// line is in session); held when new but the line may be ahead of a hole (it just
    /// (re)connected, or skipped a trade another line is still bringing); skipped when
    /// already published.
    #[inline]
    fn arbitrate_trade(
        &mut self,
        line: usize,
        e: &Event,
        arb: &mut Arbiter,
        now: u64,
        cx: &mut Context<'_>,
    ) {
        let k = event_key(e);
        let agg = e.flags.contains(Flags::AGGREGATED);
        let i = e.instrument.index();
        let stream = i * 2 + usize::from(agg);
        let marks = if agg {
            &self.marks.agg_trades
        } else {
            &self.marks.trades
        };
        let (Some(&mark), Some(prev)) = (
            marks.get(i),
            arb.prev_trade.get_mut(line).and_then(|p| p.get_mut(stream)),
        ) else {
            // Not a tracked instrument: first copy by id.
            if self.marks.covers(e) {
                arb.lost(line, k, now);
            } else {
                self.marks.record(e);
                self.publish(*e, cx);
                arb.won(line, k, now);
            }
            return;
        };
        let before = std::mem::replace(prev, e.seq);
        if mark != 0 && e.seq <= mark {
            self.stats.duplicates += 1;
            arb.lost(line, k, now);
            return;
        }
        let alone = arb.live & !(1 << line) == 0;
        if mark == 0 || (before != 0 && before <= mark) || alone {
            self.marks.record(e);
            self.publish(*e, cx);
            arb.won(line, k, now);
            self.release_trades(stream, arb, now, false, cx);
            return;
        }
        let Some(h) = arb.held_trades.get_mut(stream) else {
            return;
        };
        if h.events.len() < HELD_TRADES && !h.events.iter().any(|x| x.seq == e.seq) {
            if h.since == 0 {
                h.since = now;
                arb.next_hold = arb.next_hold.min(now.saturating_add(arb.hold_ns));
            }
            h.events.push(*e);
            h.prevs.push(before);
            h.lines.push(line as u8);
            arb.held[line] += 1;
        }
    }

    /// One trade with an unordered id (a UUID: Bybit linear; a hashed text id) from `line`:
    /// the same rule as [`FeedHandler::arbitrate_trade`], by membership instead of by
    /// comparison: skipped when already published; published when the line's previous
    /// trade of this session was (or nothing was yet, or no other line is in session);
    /// else held (the line may be ahead of trades another line is still bringing: it just
    /// (re)connected), in arrival order, until its predecessor is published or the hold
    /// ends. Within a session a line's trades come complete and in venue order (TCP), so
    /// the published order is the venue's.
    #[inline]
    fn arbitrate_unordered_trade(
        &mut self,
        line: usize,
        e: &Event,
        arb: &mut Arbiter,
        now: u64,
        cx: &mut Context<'_>,
    ) {
        let k = event_key(e);
        let id = e.trade_id().map_or(e.seq, TradeId::key);
        let stream = e.instrument.index() * 2 + usize::from(e.flags.contains(Flags::AGGREGATED));
        let (Some(&last), Some(prev)) = (
            arb.last_unordered.get(stream),
            arb.prev_trade.get_mut(line).and_then(|p| p.get_mut(stream)),
        ) else {
            // Not a tracked instrument: first copy by id.
            if self.marks.covers(e) {
                arb.lost(line, k, now);
            } else {
                self.marks.record(e);
                self.publish(*e, cx);
                arb.won(line, k, now);
            }
            return;
        };
        let before = std::mem::replace(prev, id);
        if self.marks.covers(e) {
            self.stats.duplicates += 1;
            arb.lost(line, k, now);
            if let Some(h) = arb.held_trades.get_mut(stream) {
                // This line's held trades came before `e` on it (a session's trades come in
                // venue order), and `e` is published: they are behind the published stream
                // (from before the feed's start, when this line subscribed before the line
                // that started it; or a hole the other lines passed). An ordered id there is
                // at or below the watermark and skipped; so are these, never published late.
                let mut n = 0;
                while n < h.events.len() {
                    if usize::from(h.lines[n]) == line && !self.marks.covers(&h.events[n]) {
                        h.remove(n);
                        self.stats.behind_trades += 1;
                    } else {
                        n += 1;
                    }
                }
                if h.events.is_empty() {
                    h.since = 0;
                }
            }
            if arb
                .held_trades
                .get(stream)
                .is_some_and(|h| !h.events.is_empty())
            {
                self.release_trades(stream, arb, now, false, cx);
            }
            return;
        }
        let alone = arb.live & !(1 << line) == 0;
        let chained = last == 0
            || alone
            || (before != 0 && (before == last || self.marks.covers_key(before)));
        if chained {
            self.marks.record(e);
            self.publish(*e, cx);
            arb.last_unordered[stream] = id;
            arb.won(line, k, now);
            if arb
                .held_trades
                .get(stream)
                .is_some_and(|h| !h.events.is_empty())
            {
                self.release_trades(stream, arb, now, false, cx);
            }
            return;
        }
        let Some(h) = arb.held_trades.get_mut(stream) else {
            return;
        };
        let held = |x: &Event| x.trade_id().map_or(x.seq, TradeId::key) == id;
        if h.events.len() < HELD_TRADES && !h.events.iter().any(held) {
            if h.since == 0 {
                h.since = now;
                arb.next_hold = arb.next_hold.min(now.saturating_add(arb.hold_ns));
            }
            h.events.push(*e);
            h.prevs.push(before);
            h.lines.push(line as u8);
            arb.held[line] += 1;
        }
    }

    /// [`FeedHandler::release_trades`] for unordered ids: in arrival order, each once its
    /// predecessor on its line is published (every one when `expired`); those already
    /// published are dropped. Resync path (bounded by [`HELD_TRADES`]).
    fn release_unordered(
        &mut self,
        stream: usize,
        arb: &mut Arbiter,
        now: u64,
        expired: bool,
        cx: &mut Context<'_>,
    ) {
        let Some(h) = arb.held_trades.get_mut(stream) else {
            return;
        };
        let mut progress = true;
        while progress && !h.events.is_empty() {
            progress = false;
            let mut n = 0;
            while n < h.events.len() {
                let e = h.events[n];
                if self.marks.covers(&e) {
                    h.remove(n);
                    progress = true;
                    continue;
                }
                let prev = h.prevs[n];
                if expired || (prev != 0 && self.marks.covers_key(prev)) {
                    let line = h.remove(n);
                    self.marks.record(&e);
                    self.stats.published += 1;
                    cx.publish(e);
                    if let Some(l) = arb.last_unordered.get_mut(stream) {
                        *l = e.trade_id().map_or(e.seq, TradeId::key);
                    }
                    arb.won[line.min(MAX_LINES - 1)] += 1;
                    if let Some(k) = event_key(&e) {
                        arb.arrivals.insert(k, e.recv_ts.max(1), line);
                    }
                    progress = true;
                    continue;
                }
                n += 1;
            }
        }
        h.since = if h.events.is_empty() {
            0
        } else {
            h.since.max(1).min(now)
        };
    }

    /// Publishes the held trades of `stream` that now chain on the published ones (all of
    /// them, in id order, when `expired`), drops those already published.
    fn release_trades(
        &mut self,
        stream: usize,
        arb: &mut Arbiter,
        now: u64,
        expired: bool,
        cx: &mut Context<'_>,
    ) {
        let Some(h) = arb.held_trades.get_mut(stream) else {
            return;
        };
        if h.events.is_empty() {
            return;
        }
        if h.events.first().is_some_and(unordered_id) {
            return self.release_unordered(stream, arb, now, expired, cx);
        }
        let (i, agg) = (stream / 2, stream % 2 == 1);
        let mut progress = true;
        while progress && !h.events.is_empty() {
            progress = false;
            let mark = if agg {
                self.marks.agg_trades[i]
            } else {
                self.marks.trades[i]
            };
            // The lowest held id that is new: published if it chains (or the hold expired).
            let mut best: Option<usize> = None;
            let mut n = 0;
            while n < h.events.len() {
                if h.events[n].seq <= mark {
                    h.events.swap_remove(n);
                    h.prevs.swap_remove(n);
                    h.lines.swap_remove(n);
                    progress = true;
                    continue;
                }
                if best.is_none_or(|b| h.events[n].seq < h.events[b].seq) {
                    best = Some(n);
                }
                n += 1;
            }
            let Some(b) = best else {
                break;
            };
            let prev = h.prevs[b];
            if expired || (prev != 0 && prev <= mark) {
                let e = h.events.swap_remove(b);
                h.prevs.swap_remove(b);
                let line = usize::from(h.lines.swap_remove(b));
                self.marks.record(&e);
                self.stats.published += 1;
                cx.publish(e);
                let k = event_key(&e);
                arb.won[line.min(MAX_LINES - 1)] += 1;
                if let Some(k) = k {
                    arb.arrivals.insert(k, e.recv_ts.max(1), line);
                }
                progress = true;
            }
        }
        h.since = if h.events.is_empty() {
            0
        } else {
            h.since.max(1).min(now)
        };
    }

    /// Installs `slot`'s held snapshot if it is still ahead of the live book (its hold
    /// ended without the diffs up to it), then applies the diffs held past it. Returns
    /// whether it did.
    fn install_held_snapshot(
        &mut self,
        slot: usize,
        arb: &mut Arbiter,
        now: u64,
        cx: &mut Context<'_>,
    ) -> bool {
        let Some(s) = arb.snapshots.get_mut(slot) else {
            return false;
        };
        let Some(ids) = s.ids.take() else {
            return false;
        };
        let b = &mut self.books[slot];
        if b.state != SyncState::Live || ids.last <= b.last.last {
            return false;
        }
        let (checksum, line) = (s.checksum, s.line);
        let events = std::mem::take(&mut s.events);
        // The diffs held past the hole: those after the snapshot still apply.
        let mut diffs = std::mem::take(&mut b.diffs);
        let mut held = std::mem::take(&mut b.events);
        self.on_book_snapshot(slot, ids, checksum, &events, cx);
        arb.snapshots[slot].events = events;
        arb.won[line.min(MAX_LINES - 1)] += 1;
        let b = &mut self.books[slot];
        if b.state == SyncState::Live {
            std::mem::swap(&mut b.diffs, &mut diffs);
            std::mem::swap(&mut b.events, &mut held);
            if !b.diffs.is_empty() {
                self.apply_held(slot, arb, now, cx);
            }
        }
        true
    }

    /// A hole was filled: the diffs held past it that now chain on are applied and
    /// published, in order; those already covered are dropped; any past a further hole stay
    /// held (a new hold starts).
    fn apply_held(&mut self, slot: usize, arb: &mut Arbiter, now: u64, cx: &mut Context<'_>) {
        let mut done = 0;
        while self.books[slot].state == SyncState::Live {
            let b = &self.books[slot];
            let Some(d) = b.diffs.get(done).copied() else {
                break;
            };
            match self.adapter.next_diff(&b.last, &d.ids) {
                SeqCheck::Apply => {
                    let evs = std::mem::take(&mut self.books[slot].events);
                    let range = d.start as usize..(d.start + d.len) as usize;
                    let ok = self.apply_diff(slot, d.ids, d.checksum, &evs[range], cx);
                    self.books[slot].events = evs;
                    if !ok {
                        return self.request_snapshot(slot, cx);
                    }
                    done += 1;
                }
                SeqCheck::Stale => done += 1,
                SeqCheck::Gap | SeqCheck::Reset => {
                    if let Some(h) = arb.holds.get_mut(slot) {
                        h.since = now;
                        arb.next_hold = arb.next_hold.min(now.saturating_add(arb.hold_ns));
                    }
                    break;
                }
            }
        }
        let b = &mut self.books[slot];
        if b.state != SyncState::Live {
            return;
        }
        match b.diffs.get(done).map(|d| d.start) {
            None => {
                b.diffs.clear();
                b.events.clear();
            }
            Some(off) => {
                b.events.drain(..off as usize);
                b.diffs.drain(..done);
                for d in &mut b.diffs {
                    d.start -= off;
                }
            }
        }
    }

    /// The arbiter's timer: holds past their bound become gaps (`Gap`, `Resync`, a fresh
    /// snapshot), then the handler's own timer work.
    pub(crate) fn arbiter_timer(&mut self, arb: &mut Arbiter, cx: &mut Context<'_>) {
        let now = cx.now();
        for slot in 0..self.books.len().min(arb.holds.len()) {
            let h = arb.holds[slot];
            if h.since == 0 || now < h.since.saturating_add(arb.hold_ns) {
                continue;
            }
            arb.holds[slot] = Hold::default();
            if self.install_held_snapshot(slot, arb, now, cx) {
                continue;
            }
            arb.gaps += 1;
            match self.books[slot].state {
                SyncState::Live | SyncState::Joining => {
                    self.resync(slot, true, Reason::None, cx);
                    self.request_snapshot(slot, cx);
                }
                SyncState::Buffering => {
                    // The buffered chain has a hole: start it again from the next diff.
                    let b = &mut self.books[slot];
                    b.diffs.clear();
                    b.events.clear();
                }
                SyncState::Idle => {}
            }
        }
        for stream in 0..arb.held_trades.len() {
            let since = arb.held_trades[stream].since;
            if since != 0 && now >= since.saturating_add(arb.hold_ns) {
                // No line brought what the held trades follow: they go out in id order.
                arb.gaps += 1;
                self.release_trades(stream, arb, now, true, cx);
            }
        }
        arb.recompute_hold_deadline();
        self.on_timer(cx);
    }
}
