//! Recovery after a consumer ring dropped events: books republished to that ring alone.

use super::*;

/// Recovery state of one consumer ring (see [`FeedHandler::recover_from_drops`]).
#[derive(Clone, Copy, Debug)]
pub(super) struct RingMark {
    pub(super) key: RingKey,
    /// The ring's `lost` when its current round began (or when first seen).
    pub(super) lost: u64,
    /// Next book slot to republish to it; `usize::MAX`: none.
    pub(super) next: usize,
}

/// How soon a republish waiting for congested rings is tried again without new messages.
pub(super) const REPUBLISH_RETRY_NS: u64 = 1_000_000;

impl<A: FeedAdapter> FeedHandler<A> {
    /// A consumer ring dropped events: its consumer's books went invalid at the `Overflow`
    /// status. To that consumer alone (other consumers of the connection are not touched),
    /// every synced book goes out as a SNAPSHOT run from the validating book (no venue round
    /// trip), one book at a time as its ring has room for the whole run and the report
    /// before it, so a republished run is never dropped; a new drop on that ring meanwhile
    /// starts its round again. Without validating books, a synced book is resynced from a
    /// fresh snapshot instead (for every consumer: there is nothing to republish from).
    /// A ring first seen here gets no round (nothing is known to be lost).
    pub(super) fn recover_from_drops(&mut self, cx: &mut Context<'_>) {
        self.seen_lost = cx.lost();
        if self.mode != Mode::Active || self.muted {
            self.republish = false;
            return;
        }
        let mut waiting = false;
        for i in 0..cx.rings() {
            let Some(ring) = cx.ring(i) else {
                continue;
            };
            let m = match self.ring_marks.iter().position(|m| m.key == ring.key) {
                Some(m) => m,
                None => {
                    self.ring_marks.push(RingMark {
                        key: ring.key,
                        lost: ring.lost,
                        next: usize::MAX,
                    });
                    continue;
                }
            };
            if self.ring_marks[m].lost != ring.lost {
                self.ring_marks[m].lost = ring.lost;
                self.ring_marks[m].next = 0;
            }
            waiting |= self.republish_to(m, cx);
        }
        self.republish = waiting;
        // Drops while republishing (of other events, or by other connections) start again.
        self.seen_lost = cx.lost();
    }

    /// Continues the round of ring mark `m`; returns whether books remain (no room yet).
    pub(super) fn republish_to(&mut self, m: usize, cx: &mut Context<'_>) -> bool {
        let key = self.ring_marks[m].key;
        while self.ring_marks[m].next < self.books.len() {
            let slot = self.ring_marks[m].next;
            let b = &self.books[slot];
            let synced = matches!(b.state, SyncState::Live | SyncState::Joining);
            if !synced {
                // A snapshot run, to every consumer, follows its sync anyway.
                self.ring_marks[m].next += 1;
                continue;
            }
            if !(self.config.validate_books && b.book.is_valid()) {
                self.resync(slot, false, Reason::Backpressure, cx);
                self.request_snapshot(slot, cx);
                self.ring_marks[m].next += 1;
                continue;
            }
            let run_len = (b.book.bid_len() + b.book.ask_len()).max(1);
            let free = (0..cx.rings())
                .filter_map(|i| cx.ring(i))
                .find(|r| r.key == key)
                .map_or(0, |r| r.free);
            if free <= run_len {
                return true; // the timer (or the next message) tries again
            }
            self.republish_book(slot, key, cx);
            self.ring_marks[m].next += 1;
        }
        self.ring_marks[m].next = usize::MAX;
        false
    }

    pub(super) fn republish_book(&mut self, slot: usize, key: RingKey, cx: &mut Context<'_>) {
        let mut run = std::mem::take(&mut self.snapshot_run);
        let b = &self.books[slot];
        let sides = b
            .book
            .bids(usize::MAX)
            .map(|l| (Side::Buy, l))
            .chain(b.book.asks(usize::MAX).map(|l| (Side::Sell, l)));
        snapshot_run(&mut run, b.instrument, b.last.last, 0, cx.now(), sides);
        if cx.publish_all_to(key, &run) {
            self.stats.published += run.len() as u64;
            self.stats.republished += 1;
        }
        self.snapshot_run = run;
    }
}
