//! Book sync: per instrument, the state machine from idle through buffering to live (REST
//! or in-band snapshots, sequence checks and resets, checksums, the snapshot backoff).

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

impl<A: FeedAdapter> FeedHandler<A> {
    /// Gets `slot`'s book a snapshot, the venue's way ([`FeedAdapter::snapshot_start`],
    /// [`FeedAdapter::resync_policy`]): a REST request, or a resubscribe that brings one
    /// in-band, each through the book's backoff; or waits, when an in-band snapshot is on
    /// its way; or recycles the connection.
    pub(super) fn request_snapshot(&mut self, slot: usize, cx: &mut Context<'_>) {
        let policy = self.adapter.resync_policy();
        let start = self.adapter.snapshot_start();
        if policy == ResyncPolicy::Reconnect {
            cx.recycle(Reason::Adapter);
            return;
        }
        let (now, cap) = (cx.now(), self.config.snapshot_retry_max_ns);
        let b = &mut self.books[slot];
        if b.requested {
            return;
        }
        if b.inband_expected && start == SnapshotStart::InBand {
            return; // the sync deadline bounds the wait
        }
        // A book synced in-band resyncs by resubscribing; REST is the start's fallback.
        let resubscribe = policy == ResyncPolicy::Resubscribe
            && start != SnapshotStart::Rest
            && !b.inband_expected;
        if now < b.retry_at {
            // Backing off (or an in-band snapshot's grace): the timer asks later (armed once
            // per wait).
            if !b.deferred {
                b.deferred = true;
                self.arm_timer(cx);
            }
            return;
        }
        let delay = b.retry_delay;
        b.retry_at = now.saturating_add(b.jittered(delay));
        b.retry_delay = delay.saturating_mul(2).min(cap).max(1);
        b.last_request_at = now;
        b.deferred = false;
        if resubscribe {
            let instrument = b.instrument;
            if let Some(queue) = &mut self.line_resubscribes {
                // The arbiter: a line sends it (resync path, may allocate).
                if !queue.contains(&instrument) {
                    queue.push(instrument);
                }
                self.expect_inband(slot, now);
                self.stats.resubscribes += 1;
                self.arm_timer(cx);
                return;
            }
            let mut frames = Vec::new(); // resync path, not steady state
            self.adapter.resubscribe(instrument, &mut frames);
            if frames.is_empty() {
                cx.recycle(Reason::Adapter);
                return;
            }
            self.expect_inband(slot, now);
            self.stats.resubscribes += 1;
            self.outbox.extend(frames);
            self.flush(cx);
            self.arm_timer(cx);
            return;
        }
        b.requested = true;
        self.stats.snapshots_requested += 1;
        self.snapshots.request(b.instrument);
        // A source may answer at once (a queue, a capture): look next turn, then on the poll
        // timer.
        cx.request_poll();
    }

    /// `slot`'s book was (re)subscribed at `now`: its snapshot comes in-band. With a REST
    /// fallback, REST is asked only after the grace.
    pub(super) fn expect_inband(&mut self, slot: usize, now: u64) {
        let start = self.adapter.snapshot_start();
        let b = &mut self.books[slot];
        match start {
            SnapshotStart::Rest => {}
            SnapshotStart::InBand => b.inband_expected = true,
            SnapshotStart::InBandElseRest { grace_ns } => {
                b.inband_expected = true;
                b.retry_at = b.retry_at.max(now.saturating_add(grace_ns));
                b.deferred = false;
            }
        }
    }

    /// Publishes Gap (when `gap`) and Resync, and starts buffering `slot` again.
    pub(super) fn resync(&mut self, slot: usize, gap: bool, reason: Reason, cx: &mut Context<'_>) {
        let timeout = self.config.snapshot_sync_timeout_ns;
        let (instrument, expected) = {
            let b = &mut self.books[slot];
            b.start_buffering(cx.now(), timeout);
            b.pending = None;
            b.book.invalidate();
            (b.instrument, b.last.last.saturating_add(1))
        };
        if gap {
            self.stats.gaps += 1;
            self.status(instrument, StatusKind::Gap, reason, expected, cx);
        }
        self.stats.resyncs += 1;
        self.status(instrument, StatusKind::Resync, reason, 0, cx);
    }

    pub(super) fn on_diff(
        &mut self,
        slot: usize,
        ids: DiffIds,
        checksum: Option<u32>,
        events: &[Event],
        cx: &mut Context<'_>,
    ) {
        match self.books[slot].state {
            SyncState::Idle | SyncState::Buffering => {
                // A reset is the whole new book whatever came before (Bybit `u == 1`): it
                // installs as a snapshot here too, or a book that has none yet would buffer
                // it and wait for a snapshot the venue never sends. A Reset verdict does not
                // depend on `last` (here the last diff applied before the book was lost, or
                // none).
                if self.adapter.next_diff(&self.books[slot].last, &ids) == SeqCheck::Reset {
                    self.stats.resets += 1;
                    self.on_book_snapshot(slot, ids, checksum, events, cx);
                    return;
                }
                let timeout = self.config.snapshot_sync_timeout_ns;
                self.books[slot].start_buffering(cx.now(), timeout);
                self.buffer(slot, ids, checksum, events);
                if self.books[slot].pending.is_some() {
                    self.try_sync(slot, cx);
                } else {
                    self.request_snapshot(slot, cx);
                }
            }
            SyncState::Live | SyncState::Joining => {
                let b = &self.books[slot];
                let check = if b.state == SyncState::Live {
                    self.adapter.next_diff(&b.last, &ids)
                } else {
                    self.adapter.join_diff(&b.last, &ids)
                };
                match check {
                    SeqCheck::Apply => {
                        self.books[slot].state = SyncState::Live;
                        if !self.apply_diff(slot, ids, checksum, events, cx) {
                            self.request_snapshot(slot, cx);
                        }
                    }
                    SeqCheck::Stale => self.stats.stale_diffs += 1,
                    SeqCheck::Gap => {
                        self.resync(slot, true, Reason::None, cx);
                        self.buffer(slot, ids, checksum, events);
                        self.request_snapshot(slot, cx);
                    }
                    SeqCheck::Reset => {
                        self.stats.resets += 1;
                        self.on_book_snapshot(slot, ids, checksum, events, cx);
                    }
                }
            }
        }
    }

    /// A whole book in-band (or a diff that resets the sequence): it replaces the book
    /// whatever state it was in. Diffs buffered before it are older in stream order and are
    /// dropped. While joining another connection's book, a snapshot not newer than that
    /// book is skipped (the old connection already published past it).
    pub(super) fn on_book_snapshot(
        &mut self,
        slot: usize,
        ids: DiffIds,
        checksum: Option<u32>,
        events: &[Event],
        cx: &mut Context<'_>,
    ) {
        let b = &mut self.books[slot];
        if b.state == SyncState::Joining && ids.last <= b.last.last {
            self.stats.stale_diffs += 1;
            return;
        }
        b.diffs.clear();
        b.events.clear();
        b.pending = None;
        b.inband_expected = false;
        match self.install_levels(slot, ids, checksum, events, cx) {
            Ok(()) => self.synced(slot),
            Err(reason) => {
                let timeout = self.config.snapshot_sync_timeout_ns;
                let b = &mut self.books[slot];
                b.book.invalidate();
                b.start_buffering(cx.now(), timeout);
                if reason == Reason::Checksum {
                    self.resync(slot, false, Reason::Checksum, cx);
                } else {
                    self.snapshot_failed(slot, reason, ids.last, cx);
                }
                self.request_snapshot(slot, cx);
            }
        }
    }

    /// A book has synced: its backoff starts again (still no two requests closer than the
    /// first step) and its sync bound stops.
    pub(super) fn synced(&mut self, slot: usize) {
        let base = self.config.snapshot_retry_ns;
        let b = &mut self.books[slot];
        b.retry_delay = base;
        b.retry_at = b.retry_at.min(b.last_request_at.saturating_add(base));
        b.sync_deadline = 0;
        b.inband_expected = false;
    }

    /// Compares the venue's checksum with the validating book's (when the venue sent one
    /// and books are validated): on a mismatch publishes `Checksum` and returns false.
    pub(super) fn checksum_ok(
        &mut self,
        slot: usize,
        expected: Option<u32>,
        cx: &mut Context<'_>,
    ) -> bool {
        let Some(expected) = expected else {
            return true;
        };
        if !self.config.validate_books {
            return true;
        }
        let b = &self.books[slot];
        let Some(actual) = self.adapter.book_checksum(b.instrument, &b.book) else {
            return true;
        };
        self.stats.checksums_checked += 1;
        if actual == expected {
            return true;
        }
        self.stats.checksum_failures += 1;
        let instrument = b.instrument;
        if self.mode == Mode::Active {
            let value = u64::from(expected);
            self.status(
                instrument,
                StatusKind::Checksum,
                Reason::Checksum,
                value,
                cx,
            );
        }
        false
    }

    pub(super) fn buffer(
        &mut self,
        slot: usize,
        ids: DiffIds,
        checksum: Option<u32>,
        events: &[Event],
    ) {
        let max = self.config.max_buffered_events;
        let b = &mut self.books[slot];
        if b.events.len() + events.len() > max {
            b.events.clear();
            b.diffs.clear();
            self.stats.buffer_overflows += 1;
        }
        b.diffs.push(Buffered {
            ids,
            checksum,
            start: b.events.len() as u32,
            len: events.len() as u32,
        });
        b.events.extend_from_slice(events);
    }

    /// Applies a diff that passed its sequence check to the validating book and publishes
    /// it. Returns false (after publishing a resync) when the book rejected a level.
    pub(super) fn apply_diff(
        &mut self,
        slot: usize,
        ids: DiffIds,
        checksum: Option<u32>,
        events: &[Event],
        cx: &mut Context<'_>,
    ) -> bool {
        if self.config.validate_books {
            let book = &mut self.books[slot].book;
            for e in events {
                let ok = e
                    .as_level()
                    .is_some_and(|l| book.apply(l.side, l.price, l.qty).is_ok());
                if !ok {
                    self.stats.book_errors += 1;
                    self.resync(slot, false, Reason::Number, cx);
                    return false;
                }
            }
            book.set_seq(ids.last);
            // A diff message is applied whole, so a crossed book means lost updates, unless
            // the venue's checksum vouches for the book: then the venue's own book is
            // crossed (Kraken, venues.md §12) and the checksum below decides.
            if book.is_crossed() && checksum.is_none() {
                self.stats.crossed += 1;
                self.resync(slot, false, Reason::Crossed, cx);
                return false;
            }
        }
        if !self.checksum_ok(slot, checksum, cx) {
            self.resync(slot, false, Reason::Checksum, cx);
            return false;
        }
        self.books[slot].last = ids;
        self.publish_all(events, cx);
        true
    }

    /// With a snapshot pending, drops buffered diffs it covers and, if the next one lines up,
    /// publishes the snapshot run and the buffered diffs after it.
    pub(super) fn try_sync(&mut self, slot: usize, cx: &mut Context<'_>) {
        let Some(snap_id) = self.books[slot].pending.as_ref().map(|s| s.last_id) else {
            return;
        };
        let mut first = None;
        let mut first_check = SeqCheck::Apply;
        for (i, d) in self.books[slot].diffs.iter().enumerate() {
            match self.adapter.first_diff(snap_id, &d.ids) {
                SeqCheck::Stale => {}
                check @ (SeqCheck::Apply | SeqCheck::Reset) => {
                    first = Some(i);
                    first_check = check;
                    break;
                }
                SeqCheck::Gap => {
                    // Snapshot older than the buffered diffs: fetch a newer one.
                    self.books[slot].pending = None;
                    self.snapshot_failed(slot, Reason::SnapshotTooOld, snap_id, cx);
                    self.request_snapshot(slot, cx);
                    return;
                }
            }
        }
        let Some(first) = first else {
            // Every buffered diff is older than the snapshot: wait for the one that joins it.
            let b = &mut self.books[slot];
            b.diffs.clear();
            b.events.clear();
            return;
        };
        let Some(snap) = self.books[slot].pending.take() else {
            return;
        };
        if let Err(reason) = self.install_snapshot(slot, &snap, cx) {
            self.snapshot_failed(slot, reason, snap.last_id, cx);
            self.request_snapshot(slot, cx);
            return;
        }
        // Apply the buffered diffs from `first` on; a gap among them resyncs again.
        let diffs = std::mem::take(&mut self.books[slot].diffs);
        let events = std::mem::take(&mut self.books[slot].events);
        let mut rest_from = None;
        for (i, d) in diffs.iter().enumerate().skip(first) {
            let evs = &events[d.start as usize..(d.start + d.len) as usize];
            let check = if i == first {
                first_check
            } else {
                self.adapter.next_diff(&self.books[slot].last, &d.ids)
            };
            match check {
                SeqCheck::Apply => {
                    if !self.apply_diff(slot, d.ids, d.checksum, evs, cx) {
                        rest_from = Some(i + 1);
                        break;
                    }
                }
                SeqCheck::Reset => {
                    self.stats.resets += 1;
                    if self
                        .install_levels(slot, d.ids, d.checksum, evs, cx)
                        .is_err()
                    {
                        self.resync(slot, false, Reason::SequenceReset, cx);
                        rest_from = Some(i + 1);
                        break;
                    }
                }
                SeqCheck::Stale => self.stats.stale_diffs += 1,
                SeqCheck::Gap => {
                    self.resync(slot, true, Reason::None, cx);
                    rest_from = Some(i);
                    break;
                }
            }
        }
        let b = &mut self.books[slot];
        b.diffs = diffs;
        b.events = events;
        match rest_from {
            None => {
                b.diffs.clear();
                b.events.clear();
                self.synced(slot);
            }
            Some(from) => {
                // Keep the diffs after the gap for the next snapshot.
                let keep_from = b
                    .diffs
                    .get(from)
                    .map_or(b.events.len(), |d| d.start as usize);
                b.diffs.drain(..from);
                b.events.drain(..keep_from);
                for d in &mut b.diffs {
                    d.start -= keep_from as u32;
                }
                self.request_snapshot(slot, cx);
            }
        }
    }

    /// Publishes `snap` as a SNAPSHOT run and rebuilds the validating book from it. Fails
    /// (publishing nothing) when a level cannot be carried by an event or the book rejects it
    /// ([`Reason::Number`]), or when the snapshot is crossed ([`Reason::Crossed`]).
    pub(super) fn install_snapshot(
        &mut self,
        slot: usize,
        snap: &BookSnapshot,
        cx: &mut Context<'_>,
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
        let instrument = self.books[slot].instrument;
        if self.config.validate_books {
            let book = &mut self.books[slot].book;
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
        let mut run = std::mem::take(&mut self.snapshot_run);
        let (seq, ts) = (snap.last_id, snap.exchange_ts);
        snapshot_run(&mut run, instrument, seq, ts, cx.now(), levels);
        self.publish_all(&run, cx);
        self.snapshot_run = run;
        let b = &mut self.books[slot];
        b.last = DiffIds {
            first: snap.last_id,
            last: snap.last_id,
            prev: None,
        };
        b.state = SyncState::Live;
        self.stats.snapshots_applied += 1;
        Ok(())
    }

    /// Installs a book sent in-band (its levels as decoded events, any order, zero
    /// quantities skipped) as a SNAPSHOT run, after the same checks as a REST snapshot
    /// ([`FeedHandler::install_snapshot`]) and the venue's checksum. Publishes nothing on
    /// failure: [`Reason::Number`], [`Reason::Crossed`] or [`Reason::Checksum`] (after a
    /// `Checksum` status).
    pub(super) fn install_levels(
        &mut self,
        slot: usize,
        ids: DiffIds,
        checksum: Option<u32>,
        events: &[Event],
        cx: &mut Context<'_>,
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
        let instrument = self.books[slot].instrument;
        if self.config.validate_books {
            let book = &mut self.books[slot].book;
            book.invalidate();
            for l in levels() {
                if book.apply(l.side, l.price, l.qty).is_err() {
                    book.invalidate();
                    return Err(Reason::Number);
                }
            }
            book.set_valid(ids.last);
            if !self.checksum_ok(slot, checksum, cx) {
                self.books[slot].book.invalidate();
                return Err(Reason::Checksum);
            }
        }
        let exchange_ts = events.first().map_or(0, |e| e.exchange_ts);
        let mut run = std::mem::take(&mut self.snapshot_run);
        let sides = levels().map(|l| (l.side, (l.price, l.qty)));
        snapshot_run(&mut run, instrument, ids.last, exchange_ts, cx.now(), sides);
        self.publish_all(&run, cx);
        self.snapshot_run = run;
        let b = &mut self.books[slot];
        b.last = ids;
        b.state = SyncState::Live;
        self.stats.snapshots_applied += 1;
        Ok(())
    }

    /// A snapshot could not be had or used: counted, and reported in-band for `slot`'s
    /// instrument (the book stays invalid; the next request waits for the backoff).
    pub(super) fn snapshot_failed(
        &mut self,
        slot: usize,
        reason: Reason,
        value: u64,
        cx: &mut Context<'_>,
    ) {
        self.stats.snapshot_failures += 1;
        if self.mode == Mode::Active {
            let instrument = self.books[slot].instrument;
            self.status(instrument, StatusKind::SnapshotFailed, reason, value, cx);
        }
    }

    /// Picks up finished snapshot requests.
    pub(super) fn poll_snapshots(&mut self, cx: &mut Context<'_>) {
        while let Some((instrument, result)) = self.snapshots.poll() {
            self.on_snapshot_result(instrument, result, cx);
        }
    }

    /// Books that waited past the sync bound: reported, and fetched again (through the
    /// backoff) instead of waiting on a snapshot that may never line up.
    pub(super) fn expire_syncs(&mut self, cx: &mut Context<'_>) {
        let (now, timeout) = (cx.now(), self.config.snapshot_sync_timeout_ns);
        for slot in 0..self.books.len() {
            let b = &mut self.books[slot];
            if b.state != SyncState::Buffering || b.sync_deadline == 0 || now < b.sync_deadline {
                continue;
            }
            let held = b.pending.take().map_or(0, |s| s.last_id);
            b.sync_deadline = now.saturating_add(timeout).max(1);
            // The in-band snapshot did not come: the next try resubscribes.
            b.inband_expected = false;
            self.stats.sync_timeouts += 1;
            self.snapshot_failed(slot, Reason::SyncTimeout, held, cx);
        }
    }

    pub(super) fn on_snapshot_result(
        &mut self,
        instrument: InstrumentId,
        result: Result<BookSnapshot, crate::adapter::SnapshotError>,
        cx: &mut Context<'_>,
    ) {
        let Some(slot) = self.slot(instrument) else {
            return;
        };
        let b = &mut self.books[slot];
        b.requested = false;
        if b.state != SyncState::Buffering {
            return; // a late answer for a book that is no longer waiting
        }
        match result {
            Ok(snap) => {
                b.pending = Some(snap);
                b.deferred = false;
                self.try_sync(slot, cx);
            }
            Err(e) => {
                // The backoff set at the request holds; a venue's Retry-After extends it.
                b.retry_at = b.retry_at.max(cx.now().saturating_add(e.retry_after_ns()));
                self.snapshot_failed(slot, e.reason(), e.value(), cx);
            }
        }
    }
}

impl BookSync {
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
