//! Failover lines, the handler side: for a venue whose book update ids are numbered per
//! connection ([`FeedAdapter::copies_line_up`], Coinbase Advanced Trade's
//! `sequence_num`) two lines' copies of one update cannot be lined up, so each line keeps
//! its own books in sync, muted ([`FeedHandler::failover_line`]), and the arbiter follows
//! one line per book: it applies and publishes what that line applied
//! ([`FeedHandler::follow`]), takes another line's book over as a snapshot run when that
//! line loses it ([`FeedHandler::adopt_book`]), and declares the book lost only when no
//! line has it ([`FeedHandler::drop_book`]). See [`crate::adapter::ArbitratedFeed`].

use super::*;

impl<A: FeedAdapter> FeedHandler<A> {
    /// A handler for one line of a failover feed: a full handler (subscribes, keeps its
    /// books in sync, resyncs them on its own connection) that publishes nothing but
    /// subscription errors.
    pub fn failover_line(
        adapter: A,
        snapshots: Box<dyn SnapshotSource>,
        config: FeedConfig,
    ) -> Self {
        let mut h = FeedHandler::new(adapter, snapshots, config);
        h.muted = true;
        h
    }

    /// The book slot of `instrument`, if tracked.
    #[inline]
    pub(crate) fn book_slot(&self, instrument: InstrumentId) -> Option<usize> {
        self.slot(instrument)
    }

    /// The instrument of book slot `slot`, if it is still tracked (not unsubscribed).
    #[inline]
    pub(crate) fn book_instrument(&self, slot: usize) -> Option<InstrumentId> {
        let i = self.books.get(slot)?.instrument;
        (self.slot(i) == Some(slot)).then_some(i)
    }

    /// Whether book slot `slot` is live (in sync, published as valid).
    #[inline]
    pub(crate) fn slot_live(&self, slot: usize) -> bool {
        self.books
            .get(slot)
            .is_some_and(|b| b.state == SyncState::Live)
    }

    /// `instrument`'s validating book and the ids of the last update applied to it, if the
    /// book is in sync and valid.
    pub(crate) fn synced_book(&self, instrument: InstrumentId) -> Option<(&Book, DiffIds)> {
        let b = &self.books[self.slot(instrument)?];
        (b.state == SyncState::Live && b.book.is_valid()).then_some((&b.book, b.last))
    }

    /// Resyncs counted so far (a line's books may have left sync when it changes).
    #[inline]
    pub(crate) fn resync_count(&self) -> u64 {
        self.stats.resyncs + self.stats.connection_gaps
    }

    /// The arbiter: a book frame the leading line applied to its own book, applied and
    /// published here the same way.
    #[inline]
    pub(crate) fn follow(
        &mut self,
        slot: usize,
        frame: Frame,
        events: &[Event],
        cx: &mut Context<'_>,
    ) {
        match frame {
            Frame::BookDiff { ids, checksum, .. } => self.on_diff(slot, ids, checksum, events, cx),
            Frame::BookSnapshot { ids, checksum, .. } => {
                self.on_book_snapshot(slot, ids, checksum, events, cx);
            }
            _ => {}
        }
        if cx.lost() != self.seen_lost || self.republish {
            self.recover_from_drops(cx);
            self.arm_timer(cx);
        }
    }

    /// The arbiter: book `slot` is taken over from another line's `book` (in sync, `last`
    /// its last update's ids): published as a SNAPSHOT run that replaces the consumers'
    /// copy (no `Gap`, no `Resync`: it was valid and stays valid). Allocates the run's
    /// buffer on a first switch; a switch is rare.
    pub(crate) fn adopt_book(
        &mut self,
        slot: usize,
        book: &Book,
        last: DiffIds,
        cx: &mut Context<'_>,
    ) {
        let Some(instrument) = self.book_instrument(slot) else {
            return;
        };
        let mut run = std::mem::take(&mut self.adopt_run);
        let sides = book
            .bids(usize::MAX)
            .map(|l| (Side::Buy, l))
            .chain(book.asks(usize::MAX).map(|l| (Side::Sell, l)));
        snapshot_run(&mut run, instrument, last.last, 0, cx.now(), sides);
        let ids = DiffIds {
            first: last.last,
            last: last.last,
            prev: None,
        };
        // A live book takes any snapshot; one buffering after a loss has nothing buffered
        // (the arbiter follows only a line that is in sync).
        let b = &mut self.books[slot];
        b.diffs.clear();
        b.events.clear();
        b.pending = None;
        if b.state == SyncState::Joining {
            b.state = SyncState::Buffering;
        }
        self.on_book_snapshot(slot, ids, None, &run, cx);
        self.adopt_run = run;
    }

    /// The arbiter: no line has book `slot` in sync: if it was published as valid, `Gap`
    /// and `Resync` go out (it waits for a line to sync again; returns true).
    pub(crate) fn drop_book(&mut self, slot: usize, cx: &mut Context<'_>) -> bool {
        if !matches!(
            self.books.get(slot).map(|b| b.state),
            Some(SyncState::Live | SyncState::Joining)
        ) {
            return false;
        }
        self.resync(slot, true, Reason::None, cx);
        true
    }
}
