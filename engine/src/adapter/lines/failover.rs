//! Failover between lines, the feed side (see the module docs of [`super`]): which line each
//! book is published from, and the switch when that line loses it, drops, stalls or lags.

use super::*;
use crate::adapter::Frame;

impl<A: FeedAdapter> ArbitratedFeed<A> {
    /// A failover line's message: its handler applies it to its own books (muted); trades
    /// go to the arbiter (first copy by id), BBOs from their instrument's line; a book frame
    /// is applied and published by the arbiter when this line leads that book and still has
    /// it in sync. Hot path: no allocation; a look at each book only after a line's books
    /// may have changed hands.
    #[inline]
    pub(super) fn failover_message(&mut self, line: usize, msg: Message<'_>, cx: &mut Context<'_>) {
        let (arbiter, arb, leader) = (&mut self.arbiter, &mut self.arb, &self.leader);
        let mut recheck = false;
        let compared = arb.won[line] + arb.lost[line];
        let resyncs = self.lines[line].handler.resync_count();
        self.lines[line].call(cx, |h, cx| {
            h.message_with(msg, cx, |frame, events, live, cx| match frame {
                Frame::Market => {
                    arbiter.call(cx, |a, cx| a.arbitrate(line, frame, events, arb, cx));
                }
                Frame::BookDiff { instrument, .. } | Frame::BookSnapshot { instrument, .. } => {
                    arb.delivered(line, cx.now());
                    let Some(slot) = arbiter.handler.book_slot(instrument) else {
                        return;
                    };
                    let lead = leader.get(slot).copied().unwrap_or(NO_LINE);
                    if usize::from(lead) == line && live && arbiter.handler.slot_live(slot) {
                        arbiter.call(cx, |a, cx| a.follow(slot, frame, events, cx));
                    } else if usize::from(lead) == line || lead == NO_LINE {
                        // This line lost the book it leads, or brought one nobody leads.
                        recheck = true;
                    }
                }
                _ => {}
            });
        });
        if recheck || self.lines[line].handler.resync_count() != resyncs {
            self.recheck = true;
        }
        // Only trades (and published BBOs) tell how far behind a line is.
        let copies = self.arb.won[line] + self.arb.lost[line] != compared;
        self.judge_copies(line, copies, cx);
        self.settle_books(cx);
        self.arm(line, cx);
    }

    /// Gives every book whose line lost it, went down or lags a line that has it in sync
    /// (the arbiter publishes that line's book as a SNAPSHOT run), and declares lost (`Gap`,
    /// `Resync`) a published book no line has. Runs only after something changed.
    pub(super) fn settle_books(&mut self, cx: &mut Context<'_>) {
        if !self.arb.failover || !self.recheck {
            return;
        }
        self.recheck = false;
        let (failovers, gaps) = (self.arb.failovers, self.arb.gaps);
        for slot in 0..self.leader.len() {
            self.settle_book(slot, cx);
        }
        if (failovers, gaps) != (self.arb.failovers, self.arb.gaps) {
            // A switch or a loss shows in the monitor at once, not at the next report.
            self.publish_report();
        }
    }

    fn settle_book(&mut self, slot: usize, cx: &mut Context<'_>) {
        let Some(instrument) = self.arbiter.handler.book_instrument(slot) else {
            self.leader[slot] = NO_LINE;
            return;
        };
        let lead = self.leader[slot];
        let published = self.arbiter.handler.slot_live(slot);
        let in_sync = |n: usize| self.lines[n].handler.synced_book(instrument).is_some();
        let up = |n: usize| self.state[n] == LineState::Up;
        let current = usize::from(lead);
        let keeps = lead != NO_LINE && current < self.lines.len() && in_sync(current);
        if keeps && published && up(current) {
            return;
        }
        // The best source: up before lagging, then the one whose data came last.
        let best = (0..self.lines.len())
            .filter(|&n| self.arb.live & (1 << n) != 0 && in_sync(n))
            .max_by_key(|&n| (up(n), n == current, self.arb.last_data[n]));
        match best {
            Some(n) if n == current && published => {}
            Some(n) => {
                let (lines, arbiter) = (&self.lines, &mut self.arbiter);
                if let Some((book, last)) = lines[n].handler.synced_book(instrument) {
                    arbiter.call(cx, |a, cx| a.adopt_book(slot, book, last, cx));
                }
                if published {
                    self.arb.failovers += 1;
                }
                self.leader[slot] = n as u8;
            }
            None => {
                self.leader[slot] = NO_LINE;
                if self.arbiter.call(cx, |a, cx| a.drop_book(slot, cx)) {
                    self.arb.gaps += 1;
                }
            }
        }
    }
}
