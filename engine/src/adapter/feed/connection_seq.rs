//! A break in a connection-wide sequence ([`FeedAdapter::take_connection_gap`], Coinbase
//! Advanced Trade's `sequence_num`): the lost message could have been any book's, so every
//! book of the connection is resynced.

use super::*;

impl<A: FeedAdapter> FeedHandler<A> {
    /// Invalidates every tracked book: `Gap` (value: the connection sequence `expected`) and
    /// `Resync` for each, then a new snapshot the venue's way. Books still waiting for their
    /// first in-band snapshot are asked again too: that snapshot may be what was lost.
    pub(super) fn on_connection_gap(&mut self, expected: u64, cx: &mut Context<'_>) {
        self.stats.connection_gaps += 1;
        if self.mode != Mode::Active {
            // A standby cannot tell which logged diffs the break spoiled: its take-over
            // resyncs every book instead (as when its log overflows).
            self.log_overflow = true;
            return;
        }
        let timeout = self.config.snapshot_sync_timeout_ns;
        for slot in 0..self.books.len() {
            let instrument = self.books[slot].instrument;
            if self.slot(instrument) != Some(slot) {
                continue; // unsubscribed
            }
            {
                let b = &mut self.books[slot];
                b.start_buffering(cx.now(), timeout);
                b.pending = None;
                b.diffs.clear();
                b.events.clear();
                b.inband_expected = false;
                b.book.invalidate();
            }
            self.stats.gaps += 1;
            self.status(instrument, StatusKind::Gap, Reason::None, expected, cx);
            self.stats.resyncs += 1;
            self.status(instrument, StatusKind::Resync, Reason::None, 0, cx);
            self.request_snapshot(slot, cx);
        }
    }
}
