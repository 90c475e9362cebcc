//! Book sync: per instrument, the state machine from idle through buffering to live (REST
//! or in-band snapshots, sequence checks and resets, checksums, the snapshot backoff).
//!
//! [`BookSync`] decides alone: each step takes the adapter (the venue's sequence and
//! checksum rules, its resubscribe frames), the input and the time ([`SyncEnv`]) and says
//! what to do, in order, to a [`SyncOut`] (events and statuses to publish, a snapshot to
//! fetch, frames to send, the connection to recycle, the timer to arm). [`FeedHandler`]
//! only carries that out on its connection ([`Carrier`]); the unit tests (`tests.rs`) drive
//! the type with a fake adapter and no connection. Outbound pacing, acks and the standby
//! hand-over stay in the handler.

use super::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum SyncState {
    /// Not connected, or connected and no diff seen yet.
    Idle,
    /// Diffs are buffered until a snapshot they line up with is installed.
    Buffering,
    /// Carried over from another connection: the next diff must join the book's last ids.
    Joining,
    /// In sync: each diff must chain onto the last.
    Live,
}

#[derive(Clone, Copy, Debug)]
pub(super) struct Buffered {
    pub(super) ids: DiffIds,
    pub(super) checksum: Option<u32>,
    pub(super) start: u32,
    pub(super) len: u32,
}

/// Sync state of one instrument's book.
pub(super) struct BookSync {
    pub(super) instrument: InstrumentId,
    pub(super) state: SyncState,
    pub(super) book: Book,
    pub(super) last: DiffIds,
    /// A snapshot request is in flight.
    pub(super) requested: bool,
    /// No snapshot request before this (the backoff; 0: as soon as possible).
    pub(super) retry_at: u64,
    /// The backoff's next delay.
    pub(super) retry_delay: u64,
    /// When the last request was sent.
    pub(super) last_request_at: u64,
    /// The handler timer was last armed with this book's `retry_at` in view (a request that
    /// must wait then needs no new arming).
    pub(super) deferred: bool,
    /// While buffering: when the wait for a usable snapshot times out (0: not waiting).
    pub(super) sync_deadline: u64,
    /// An in-band snapshot is on its way (the book was subscribed or resubscribed since the
    /// last one).
    pub(super) inband_expected: bool,
    /// Jitter state (xorshift).
    pub(super) rng: u64,
    pub(super) pending: Option<BookSnapshot>,
    pub(super) diffs: Vec<Buffered>,
    pub(super) events: Vec<Event>,
}

/// Fills `run` with a book's levels as a SNAPSHOT run: every level flagged `SNAPSHOT`, the
/// first also `RUN_START` (a consumer book starts a snapshot only there), the last also
/// `LAST_IN_BATCH`; an empty book is one zero-quantity level, which still tells consumers to
/// clear. Levels that do not fit an event are left out.
pub(super) fn snapshot_run(
    run: &mut Vec<Event>,
    instrument: InstrumentId,
    seq: u64,
    exchange_ts: u64,
    now: u64,
    levels: impl Iterator<Item = (Side, (crate::Decimal, crate::Decimal))>,
) {
    run.clear();
    let mut push = |side, price, qty| {
        let level = Level {
            side,
            price,
            qty,
            seq,
        };
        if let Ok(e) = Event::level(instrument, level, Flags::SNAPSHOT, exchange_ts, now) {
            run.push(e);
        }
    };
    let mut any = false;
    for (side, (price, qty)) in levels {
        any = true;
        push(side, price, qty);
    }
    if !any {
        push(Side::Buy, crate::Decimal::ZERO, crate::Decimal::ZERO);
    }
    if let Some(first) = run.first_mut() {
        first.flags = first.flags.with(Flags::RUN_START);
    }
    if let Some(last) = run.last_mut() {
        last.flags = last.flags.with(Flags::LAST_IN_BATCH);
    }
}

/// What one book's sync reads and counts besides its own state: the venue's rules (the
/// adapter), the handler's tuning, the callback's time, whether reports are published (not
/// by a standby), the counters, and the scratch a snapshot run is built in.
pub(super) struct SyncEnv<'e, A> {
    pub(super) adapter: &'e mut A,
    pub(super) config: &'e FeedConfig,
    pub(super) now: u64,
    /// The handler publishes (`Mode::Active`): `Checksum` and `SnapshotFailed` reports are
    /// published only then.
    pub(super) active: bool,
    pub(super) stats: &'e mut FeedStats,
    pub(super) run: &'e mut Vec<Event>,
    /// An arbitrated feed's arbiter: books to resubscribe, sent by a line (the arbiter owns
    /// no socket, and a line's adapter tracks the acks). `None` otherwise.
    pub(super) line_resubscribes: Option<&'e mut Vec<InstrumentId>>,
}

/// What one book's sync asks for, in the order it must happen: [`FeedHandler`] carries it
/// out on its connection; the unit tests record it.
pub(super) trait SyncOut {
    /// Publishes events (a diff's levels, a snapshot run).
    fn publish(&mut self, events: &[Event]);
    /// Publishes a status for `instrument`.
    fn status(&mut self, instrument: InstrumentId, kind: StatusKind, reason: Reason, value: u64);
    /// Asks the snapshot source for `instrument`'s (REST) snapshot.
    fn fetch_snapshot(&mut self, instrument: InstrumentId);
    /// Queues request frames (a resubscribe) to be sent paced with the others, then re-arms
    /// the timer.
    fn send(&mut self, frames: Vec<Vec<u8>>);
    /// Recycles the connection.
    fn recycle(&mut self, reason: Reason);
    /// Re-arms the handler timer (a backoff wait started).
    fn arm_timer(&mut self);
}

/// [`SyncOut`] on a connection: publishes, recycles and asks for snapshots at once, and
/// notes what needs the whole handler (flushing the outbox, arming the timer), done when the
/// sync step returns (each sync decision ends with its request, so the order is kept).
pub(super) struct Carrier<'a, 'c> {
    cx: &'a mut Context<'c>,
    connection: u32,
    outbox: &'a mut VecDeque<Vec<u8>>,
    snapshots: &'a mut dyn SnapshotSource,
    published: u64,
    flush: bool,
    arm: bool,
    /// A muted handler's: nothing is published.
    muted: bool,
}

impl SyncOut for Carrier<'_, '_> {
    #[inline]
    fn publish(&mut self, events: &[Event]) {
        if self.muted {
            return;
        }
        self.published += events.len() as u64;
        self.cx.publish_all(events);
    }

    fn status(&mut self, instrument: InstrumentId, kind: StatusKind, reason: Reason, value: u64) {
        if self.muted {
            return;
        }
        let status = Status {
            kind,
            reason: reason.code(),
            value,
            connection: self.connection,
        };
        let e = Event::status(instrument, status, self.cx.now());
        self.published += 1;
        self.cx.publish(e);
    }

    fn fetch_snapshot(&mut self, instrument: InstrumentId) {
        self.snapshots.request(instrument);
        // A source may answer at once (a queue, a capture): look next turn, then on the poll
        // timer.
        self.cx.request_poll();
    }

    fn send(&mut self, frames: Vec<Vec<u8>>) {
        self.outbox.extend(frames);
        self.flush = true;
        self.arm = true;
    }

    fn recycle(&mut self, reason: Reason) {
        self.cx.recycle(reason);
    }

    fn arm_timer(&mut self) {
        self.arm = true;
    }
}

impl<A: FeedAdapter> FeedHandler<A> {
    /// Runs one sync step of `slot`'s book ([`BookSync`]'s methods) and carries out what it
    /// asks for.
    #[inline]
    fn sync_step<R>(
        &mut self,
        slot: usize,
        cx: &mut Context<'_>,
        step: impl FnOnce(&mut BookSync, &mut SyncEnv<'_, A>, &mut Carrier<'_, '_>) -> R,
    ) -> R {
        let now = cx.now();
        let mut out = Carrier {
            cx,
            connection: self.connection,
            outbox: &mut self.outbox,
            snapshots: &mut *self.snapshots,
            published: 0,
            flush: false,
            arm: false,
            muted: self.muted,
        };
        let mut env = SyncEnv {
            adapter: &mut self.adapter,
            config: &self.config,
            now,
            active: self.mode == Mode::Active,
            stats: &mut self.stats,
            run: &mut self.snapshot_run,
            line_resubscribes: self.line_resubscribes.as_mut(),
        };
        let r = step(&mut self.books[slot], &mut env, &mut out);
        let (published, flush, arm) = (out.published, out.flush, out.arm);
        self.stats.published += published;
        if flush {
            self.flush(cx);
        }
        if arm {
            self.arm_timer(cx);
        }
        r
    }

    /// [`BookSync::request_snapshot`] of `slot`.
    pub(super) fn request_snapshot(&mut self, slot: usize, cx: &mut Context<'_>) {
        self.sync_step(slot, cx, |b, env, out| b.request_snapshot(env, out));
    }

    /// [`BookSync::expect_inband`] of `slot`.
    pub(super) fn expect_inband(&mut self, slot: usize, now: u64) {
        let start = self.adapter.snapshot_start();
        self.books[slot].expect_inband(start, now);
    }

    /// [`BookSync::resync`] of `slot`.
    pub(super) fn resync(&mut self, slot: usize, gap: bool, reason: Reason, cx: &mut Context<'_>) {
        self.sync_step(slot, cx, |b, env, out| b.resync(env, gap, reason, out));
    }

    /// [`BookSync::on_diff`] of `slot`.
    pub(super) fn on_diff(
        &mut self,
        slot: usize,
        ids: DiffIds,
        checksum: Option<u32>,
        events: &[Event],
        cx: &mut Context<'_>,
    ) {
        self.sync_step(slot, cx, |b, env, out| {
            b.on_diff(env, ids, checksum, events, out)
        });
    }

    /// [`BookSync::on_book_snapshot`] of `slot`.
    pub(super) fn on_book_snapshot(
        &mut self,
        slot: usize,
        ids: DiffIds,
        checksum: Option<u32>,
        events: &[Event],
        cx: &mut Context<'_>,
    ) {
        self.sync_step(slot, cx, |b, env, out| {
            b.on_book_snapshot(env, ids, checksum, events, out)
        });
    }

    /// [`BookSync::buffer`] of `slot`.
    pub(super) fn buffer(
        &mut self,
        slot: usize,
        ids: DiffIds,
        checksum: Option<u32>,
        events: &[Event],
    ) {
        let (config, stats) = (&self.config, &mut self.stats);
        self.books[slot].buffer(config, stats, ids, checksum, events);
    }

    /// [`BookSync::apply_diff`] of `slot`.
    pub(super) fn apply_diff(
        &mut self,
        slot: usize,
        ids: DiffIds,
        checksum: Option<u32>,
        events: &[Event],
        cx: &mut Context<'_>,
    ) -> bool {
        self.sync_step(slot, cx, |b, env, out| {
            b.apply_diff(env, ids, checksum, events, out)
        })
    }

    /// Picks up finished snapshot requests.
    pub(super) fn poll_snapshots(&mut self, cx: &mut Context<'_>) {
        while let Some((instrument, result)) = self.snapshots.poll() {
            let Some(slot) = self.slot(instrument) else {
                continue;
            };
            self.sync_step(slot, cx, |b, env, out| {
                b.on_snapshot_result(env, result, out)
            });
        }
    }

    /// [`BookSync::expire`] of every book.
    pub(super) fn expire_syncs(&mut self, cx: &mut Context<'_>) {
        for slot in 0..self.books.len() {
            self.sync_step(slot, cx, |b, env, out| b.expire(env, out));
        }
    }
}

impl BookSync {
    /// Gets the book a snapshot, the venue's way ([`FeedAdapter::snapshot_start`],
    /// [`FeedAdapter::resync_policy`]): a REST request, or a resubscribe that brings one
    /// in-band, each through the book's backoff; or waits, when an in-band snapshot is on
    /// its way; or recycles the connection.
    pub(super) fn request_snapshot<A: FeedAdapter>(
        &mut self,
        env: &mut SyncEnv<'_, A>,
        out: &mut impl SyncOut,
    ) {
        let policy = env.adapter.resync_policy();
        let start = env.adapter.snapshot_start();
        if policy == ResyncPolicy::Reconnect {
            out.recycle(Reason::Adapter);
            return;
        }
        let (now, cap) = (env.now, env.config.snapshot_retry_max_ns);
        if self.requested {
            return;
        }
        if self.inband_expected && start == SnapshotStart::InBand {
            return; // the sync deadline bounds the wait
        }
        // A book synced in-band resyncs by resubscribing; REST is the start's fallback.
        let resubscribe = policy == ResyncPolicy::Resubscribe
            && start != SnapshotStart::Rest
            && !self.inband_expected;
        if now < self.retry_at {
            // Backing off (or an in-band snapshot's grace): the timer asks later (armed once
            // per wait).
            if !self.deferred {
                self.deferred = true;
                out.arm_timer();
            }
            return;
        }
        let delay = self.retry_delay;
        self.retry_at = now.saturating_add(self.jittered(delay));
        self.retry_delay = delay.saturating_mul(2).min(cap).max(1);
        self.last_request_at = now;
        self.deferred = false;
        if resubscribe {
            if let Some(queue) = env.line_resubscribes.as_deref_mut() {
                // The arbiter: a line sends it (resync path, may allocate).
                if !queue.contains(&self.instrument) {
                    queue.push(self.instrument);
                }
                self.expect_inband(env.adapter.snapshot_start(), now);
                env.stats.resubscribes += 1;
                out.arm_timer();
                return;
            }
            let mut frames = Vec::new(); // resync path, not steady state
            env.adapter.resubscribe(self.instrument, &mut frames);
            if frames.is_empty() {
                out.recycle(Reason::Adapter);
                return;
            }
            self.expect_inband(env.adapter.snapshot_start(), now);
            env.stats.resubscribes += 1;
            out.send(frames);
            return;
        }
        self.requested = true;
        env.stats.snapshots_requested += 1;
        out.fetch_snapshot(self.instrument);
    }

    /// The book was (re)subscribed at `now`: its snapshot comes in-band. With a REST
    /// fallback, REST is asked only after the grace.
    pub(super) fn expect_inband(&mut self, start: SnapshotStart, now: u64) {
        match start {
            SnapshotStart::Rest => {}
            SnapshotStart::InBand => self.inband_expected = true,
            SnapshotStart::InBandElseRest { grace_ns } => {
                self.inband_expected = true;
                self.retry_at = self.retry_at.max(now.saturating_add(grace_ns));
                self.deferred = false;
            }
        }
    }

    /// Publishes Gap (when `gap`) and Resync, and starts buffering again.
    pub(super) fn resync<A>(
        &mut self,
        env: &mut SyncEnv<'_, A>,
        gap: bool,
        reason: Reason,
        out: &mut impl SyncOut,
    ) {
        self.start_buffering(env.now, env.config.snapshot_sync_timeout_ns);
        self.pending = None;
        self.book.invalidate();
        let (instrument, expected) = (self.instrument, self.last.last.saturating_add(1));
        if gap {
            env.stats.gaps += 1;
            out.status(instrument, StatusKind::Gap, reason, expected);
        }
        env.stats.resyncs += 1;
        out.status(instrument, StatusKind::Resync, reason, 0);
    }

    /// A diff: buffered until the book has a snapshot it lines up with, applied once live
    /// (or joining another connection's book), by the venue's sequence verdict.
    pub(super) fn on_diff<A: FeedAdapter>(
        &mut self,
        env: &mut SyncEnv<'_, A>,
        ids: DiffIds,
        checksum: Option<u32>,
        events: &[Event],
        out: &mut impl SyncOut,
    ) {
        match self.state {
            SyncState::Idle | SyncState::Buffering => {
                // A reset is the whole new book whatever came before (Bybit `u == 1`): it
                // installs as a snapshot here too, or a book that has none yet would buffer
                // it and wait for a snapshot the venue never sends. A Reset verdict does not
                // depend on `last` (here the last diff applied before the book was lost, or
                // none).
                if env.adapter.next_diff(&self.last, &ids) == SeqCheck::Reset {
                    env.stats.resets += 1;
                    self.on_book_snapshot(env, ids, checksum, events, out);
                    return;
                }
                self.start_buffering(env.now, env.config.snapshot_sync_timeout_ns);
                self.buffer(env.config, env.stats, ids, checksum, events);
                if self.pending.is_some() {
                    self.try_sync(env, out);
                } else {
                    self.request_snapshot(env, out);
                }
            }
            SyncState::Live | SyncState::Joining => {
                let check = if self.state == SyncState::Live {
                    env.adapter.next_diff(&self.last, &ids)
                } else {
                    env.adapter.join_diff(&self.last, &ids)
                };
                match check {
                    SeqCheck::Apply => {
                        self.state = SyncState::Live;
                        if !self.apply_diff(env, ids, checksum, events, out) {
                            self.request_snapshot(env, out);
                        }
                    }
                    SeqCheck::Stale => env.stats.stale_diffs += 1,
                    SeqCheck::Gap => {
                        self.resync(env, true, Reason::None, out);
                        self.buffer(env.config, env.stats, ids, checksum, events);
                        self.request_snapshot(env, out);
                    }
                    SeqCheck::Reset => {
                        env.stats.resets += 1;
                        self.on_book_snapshot(env, ids, checksum, events, out);
                    }
                }
            }
        }
    }

    /// A whole book in-band (or a diff that resets the sequence): it replaces the book
    /// whatever state it was in. Diffs buffered before it are older in stream order and are
    /// dropped. While joining another connection's book, a snapshot not newer than that
    /// book is skipped (the old connection already published past it).
    pub(super) fn on_book_snapshot<A: FeedAdapter>(
        &mut self,
        env: &mut SyncEnv<'_, A>,
        ids: DiffIds,
        checksum: Option<u32>,
        events: &[Event],
        out: &mut impl SyncOut,
    ) {
        if self.state == SyncState::Joining && ids.last <= self.last.last {
            env.stats.stale_diffs += 1;
            return;
        }
        self.diffs.clear();
        self.events.clear();
        self.pending = None;
        self.inband_expected = false;
        match self.install_levels(env, ids, checksum, events, out) {
            Ok(()) => self.synced(env.config),
            Err(reason) => {
                self.book.invalidate();
                self.start_buffering(env.now, env.config.snapshot_sync_timeout_ns);
                if reason == Reason::Checksum {
                    self.resync(env, false, Reason::Checksum, out);
                } else {
                    self.snapshot_failed(env, reason, ids.last, out);
                }
                self.request_snapshot(env, out);
            }
        }
    }

    /// The book has synced: its backoff starts again (still no two requests closer than the
    /// first step) and its sync bound stops.
    fn synced(&mut self, config: &FeedConfig) {
        let base = config.snapshot_retry_ns;
        self.retry_delay = base;
        self.retry_at = self.retry_at.min(self.last_request_at.saturating_add(base));
        self.sync_deadline = 0;
        self.inband_expected = false;
    }

    /// Compares the venue's checksum with the validating book's (when the venue sent one
    /// and books are validated): on a mismatch publishes `Checksum` and returns false.
    fn checksum_ok<A: FeedAdapter>(
        &mut self,
        env: &mut SyncEnv<'_, A>,
        expected: Option<u32>,
        out: &mut impl SyncOut,
    ) -> bool {
        let Some(expected) = expected else {
            return true;
        };
        if !env.config.validate_books {
            return true;
        }
        let Some(actual) = env.adapter.book_checksum(self.instrument, &self.book) else {
            return true;
        };
        env.stats.checksums_checked += 1;
        if actual == expected {
            return true;
        }
        env.stats.checksum_failures += 1;
        if env.active {
            let value = u64::from(expected);
            out.status(
                self.instrument,
                StatusKind::Checksum,
                Reason::Checksum,
                value,
            );
        }
        false
    }

    /// Keeps a diff (its events copied) for when a snapshot lines up; past
    /// `max_buffered_events` the buffer starts again (counted).
    pub(super) fn buffer(
        &mut self,
        config: &FeedConfig,
        stats: &mut FeedStats,
        ids: DiffIds,
        checksum: Option<u32>,
        events: &[Event],
    ) {
        let max = config.max_buffered_events;
        if self.events.len() + events.len() > max {
            self.events.clear();
            self.diffs.clear();
            stats.buffer_overflows += 1;
        }
        self.diffs.push(Buffered {
            ids,
            checksum,
            start: self.events.len() as u32,
            len: events.len() as u32,
        });
        self.events.extend_from_slice(events);
    }

    /// Applies a diff that passed its sequence check to the validating book and publishes
    /// it. Returns false (after publishing a resync) when the book rejected a level.
    pub(super) fn apply_diff<A: FeedAdapter>(
        &mut self,
        env: &mut SyncEnv<'_, A>,
        ids: DiffIds,
        checksum: Option<u32>,
        events: &[Event],
        out: &mut impl SyncOut,
    ) -> bool {
        if env.config.validate_books {
            let book = &mut self.book;
            for e in events {
                let ok = e
                    .as_level()
                    .is_some_and(|l| book.apply(l.side, l.price, l.qty).is_ok());
                if !ok {
                    env.stats.book_errors += 1;
                    self.resync(env, false, Reason::Number, out);
                    return false;
                }
            }
            book.set_seq(ids.last);
            // A diff message is applied whole, so a crossed book means lost updates, unless
            // the venue's checksum vouches for the book: then the venue's own book is
            // crossed (Kraken, venues.md §12) and the checksum below decides.
            if book.is_crossed() && checksum.is_none() {
                env.stats.crossed += 1;
                self.resync(env, false, Reason::Crossed, out);
                return false;
            }
        }
        if !self.checksum_ok(env, checksum, out) {
            self.resync(env, false, Reason::Checksum, out);
            return false;
        }
        self.last = ids;
        out.publish(events);
        true
    }

    /// With a snapshot pending, drops buffered diffs it covers and, if the next one lines up,
    /// publishes the snapshot run and the buffered diffs after it.
    fn try_sync<A: FeedAdapter>(&mut self, env: &mut SyncEnv<'_, A>, out: &mut impl SyncOut) {
        let Some(snap_id) = self.pending.as_ref().map(|s| s.last_id) else {
            return;
        };
        let mut first = None;
        let mut first_check = SeqCheck::Apply;
        for (i, d) in self.diffs.iter().enumerate() {
            match env.adapter.first_diff(snap_id, &d.ids) {
                SeqCheck::Stale => {}
                check @ (SeqCheck::Apply | SeqCheck::Reset) => {
                    first = Some(i);
                    first_check = check;
                    break;
                }
                SeqCheck::Gap => {
                    // Snapshot older than the buffered diffs: fetch a newer one.
                    self.pending = None;
                    self.snapshot_failed(env, Reason::SnapshotTooOld, snap_id, out);
                    self.request_snapshot(env, out);
                    return;
                }
            }
        }
        let Some(first) = first else {
            // Every buffered diff is older than the snapshot: wait for the one that joins it.
            self.diffs.clear();
            self.events.clear();
            return;
        };
        let Some(snap) = self.pending.take() else {
            return;
        };
        if let Err(reason) = self.install_snapshot(env, &snap, out) {
            self.snapshot_failed(env, reason, snap.last_id, out);
            self.request_snapshot(env, out);
            return;
        }
        // Apply the buffered diffs from `first` on; a gap among them resyncs again.
        let diffs = std::mem::take(&mut self.diffs);
        let events = std::mem::take(&mut self.events);
        let mut rest_from = None;
        for (i, d) in diffs.iter().enumerate().skip(first) {
            let evs = &events[d.start as usize..(d.start + d.len) as usize];
            let check = if i == first {
                first_check
            } else {
                env.adapter.next_diff(&self.last, &d.ids)
            };
            match check {
                SeqCheck::Apply => {
                    if !self.apply_diff(env, d.ids, d.checksum, evs, out) {
                        rest_from = Some(i + 1);
                        break;
                    }
                }
                SeqCheck::Reset => {
                    env.stats.resets += 1;
                    if self
                        .install_levels(env, d.ids, d.checksum, evs, out)
                        .is_err()
                    {
                        self.resync(env, false, Reason::SequenceReset, out);
                        rest_from = Some(i + 1);
                        break;
                    }
                }
                SeqCheck::Stale => env.stats.stale_diffs += 1,
                SeqCheck::Gap => {
                    self.resync(env, true, Reason::None, out);
                    rest_from = Some(i);
                    break;
                }
            }
        }
        self.diffs = diffs;
        self.events = events;
        match rest_from {
            None => {
                self.diffs.clear();
                self.events.clear();
                self.synced(env.config);
            }
            Some(from) => {
                // Keep the diffs after the gap for the next snapshot.
                let keep_from = self
                    .diffs
                    .get(from)
                    .map_or(self.events.len(), |d| d.start as usize);
                self.diffs.drain(..from);
                self.events.drain(..keep_from);
                for d in &mut self.diffs {
                    d.start -= keep_from as u32;
                }
                self.request_snapshot(env, out);
            }
        }
    }

    /// Publishes `snap` as a SNAPSHOT run and rebuilds the validating book from it. Fails
    /// (publishing nothing) when a level cannot be carried by an event or the book rejects it
    /// ([`Reason::Number`]), or when the snapshot is crossed ([`Reason::Crossed`]).
    fn install_snapshot<A>(
        &mut self,
        env: &mut SyncEnv<'_, A>,
        snap: &BookSnapshot,
        out: &mut impl SyncOut,
    ) -> Result<(), Reason> {
        let fits = |(p, q): &(crate::Decimal, crate::Decimal)| {
            p.scale() <= MAX_EVENT_SCALE && q.scale() <= MAX_EVENT_SCALE && !q.is_negative()
        };
        if !snap.bids.iter().all(fits) || !snap.asks.iter().all(fits) {
            return Err(Reason::Number);
        }
        // Checked on the levels themselves: with or without a validating book.
        let live = |l: &&(crate::Decimal, crate::Decimal)| !l.1.is_zero();
        let best_bid = snap.bids.iter().filter(live).map(|l| l.0).max();
        let best_ask = snap.asks.iter().filter(live).map(|l| l.0).min();
        if let (Some(bid), Some(ask)) = (best_bid, best_ask) {
            if bid >= ask {
                return Err(Reason::Crossed);
            }
        }
        if env.config.validate_books {
            let book = &mut self.book;
            book.invalidate();
            for (side, levels) in [(Side::Buy, &snap.bids), (Side::Sell, &snap.asks)] {
                for &(p, q) in levels.iter() {
                    if book.apply(side, p, q).is_err() {
                        book.invalidate();
                        return Err(Reason::Number);
                    }
                }
            }
            book.set_valid(snap.last_id);
        }
        let levels = snap
            .bids
            .iter()
            .map(|l| (Side::Buy, *l))
            .chain(snap.asks.iter().map(|l| (Side::Sell, *l)));
        let (seq, ts) = (snap.last_id, snap.exchange_ts);
        snapshot_run(env.run, self.instrument, seq, ts, env.now, levels);
        out.publish(env.run);
        self.last = DiffIds {
            first: snap.last_id,
            last: snap.last_id,
            prev: None,
        };
        self.state = SyncState::Live;
        env.stats.snapshots_applied += 1;
        Ok(())
    }

    /// Installs a book sent in-band (its levels as decoded events, any order, zero
    /// quantities skipped) as a SNAPSHOT run, after the same checks as a REST snapshot
    /// ([`BookSync::install_snapshot`]) and the venue's checksum. Publishes nothing on
    /// failure: [`Reason::Number`], [`Reason::Crossed`] or [`Reason::Checksum`] (after a
    /// `Checksum` status).
    fn install_levels<A: FeedAdapter>(
        &mut self,
        env: &mut SyncEnv<'_, A>,
        ids: DiffIds,
        checksum: Option<u32>,
        events: &[Event],
        out: &mut impl SyncOut,
    ) -> Result<(), Reason> {
        let levels = || {
            events
                .iter()
                .filter_map(Event::as_level)
                .filter(|l| !l.qty.is_zero())
        };
        if levels().any(|l| l.qty.is_negative()) {
            return Err(Reason::Number);
        }
        let best_bid = levels()
            .filter(|l| l.side == Side::Buy)
            .map(|l| l.price)
            .max();
        let best_ask = levels()
            .filter(|l| l.side == Side::Sell)
            .map(|l| l.price)
            .min();
        if let (Some(bid), Some(ask)) = (best_bid, best_ask) {
            // As for diffs: a crossed book the venue's checksum vouches for is its own.
            if bid >= ask && checksum.is_none() {
                return Err(Reason::Crossed);
            }
        }
        if env.config.validate_books {
            let book = &mut self.book;
            book.invalidate();
            for l in levels() {
                if book.apply(l.side, l.price, l.qty).is_err() {
                    book.invalidate();
                    return Err(Reason::Number);
                }
            }
            book.set_valid(ids.last);
            if !self.checksum_ok(env, checksum, out) {
                self.book.invalidate();
                return Err(Reason::Checksum);
            }
        }
        let exchange_ts = events.first().map_or(0, |e| e.exchange_ts);
        let sides = levels().map(|l| (l.side, (l.price, l.qty)));
        snapshot_run(
            env.run,
            self.instrument,
            ids.last,
            exchange_ts,
            env.now,
            sides,
        );
        out.publish(env.run);
        self.last = ids;
        self.state = SyncState::Live;
        env.stats.snapshots_applied += 1;
        Ok(())
    }

    /// A snapshot could not be had or used: counted, and reported in-band for the
    /// instrument (the book stays invalid; the next request waits for the backoff).
    fn snapshot_failed<A>(
        &mut self,
        env: &mut SyncEnv<'_, A>,
        reason: Reason,
        value: u64,
        out: &mut impl SyncOut,
    ) {
        env.stats.snapshot_failures += 1;
        if env.active {
            out.status(self.instrument, StatusKind::SnapshotFailed, reason, value);
        }
    }

    /// A book that waited past the sync bound: reported, and fetched again (through the
    /// backoff) instead of waiting on a snapshot that may never line up.
    pub(super) fn expire<A>(&mut self, env: &mut SyncEnv<'_, A>, out: &mut impl SyncOut) {
        let (now, timeout) = (env.now, env.config.snapshot_sync_timeout_ns);
        if self.state != SyncState::Buffering || self.sync_deadline == 0 || now < self.sync_deadline
        {
            return;
        }
        let held = self.pending.take().map_or(0, |s| s.last_id);
        self.sync_deadline = now.saturating_add(timeout).max(1);
        // The in-band snapshot did not come: the next try resubscribes.
        self.inband_expected = false;
        env.stats.sync_timeouts += 1;
        self.snapshot_failed(env, Reason::SyncTimeout, held, out);
    }

    /// The answer to a snapshot request: installed if the book still waits for one and it
    /// lines up with the buffered diffs; a failure is reported (a venue's Retry-After
    /// extends the backoff).
    pub(super) fn on_snapshot_result<A: FeedAdapter>(
        &mut self,
        env: &mut SyncEnv<'_, A>,
        result: Result<BookSnapshot, crate::adapter::SnapshotError>,
        out: &mut impl SyncOut,
    ) {
        self.requested = false;
        if self.state != SyncState::Buffering {
            return; // a late answer for a book that is no longer waiting
        }
        match result {
            Ok(snap) => {
                self.pending = Some(snap);
                self.deferred = false;
                self.try_sync(env, out);
            }
            Err(e) => {
                // The backoff set at the request holds; a venue's Retry-After extends it.
                self.retry_at = self
                    .retry_at
                    .max(env.now.saturating_add(e.retry_after_ns()));
                self.snapshot_failed(env, e.reason(), e.value(), out);
            }
        }
    }

    /// `delay` less up to a quarter of it, at random (spreads the retries of many books).
    pub(super) fn jittered(&mut self, delay: u64) -> u64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        delay - x % (delay / 4 + 1)
    }

    /// Starts buffering (if not already) and the bound on the wait for a usable snapshot.
    pub(super) fn start_buffering(&mut self, now: u64, timeout: u64) {
        if self.state != SyncState::Buffering {
            self.state = SyncState::Buffering;
            self.sync_deadline = now.saturating_add(timeout).max(1);
            self.deferred = false;
        }
    }

    pub(super) fn new(instrument: InstrumentId, book: BookConfig, config: &FeedConfig) -> BookSync {
        BookSync {
            instrument,
            state: SyncState::Idle,
            book: Book::new(book),
            last: DiffIds::default(),
            requested: false,
            retry_at: 0,
            retry_delay: config.snapshot_retry_ns,
            last_request_at: 0,
            deferred: false,
            sync_deadline: 0,
            inband_expected: false,
            rng: (instrument.index() as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
            pending: None,
            // Grown by the first diffs buffered while syncing (off the steady-state path):
            // reserved up front, 1,024 events cost 64 KiB per subscribed instrument.
            diffs: Vec::new(),
            events: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests;
