//! Per-stream liveness: the stale detector fed and judged from the handler.

use super::*;

impl<A: FeedAdapter> FeedHandler<A> {
    /// Feeds one decoded message to the stale detector: one stream (messages carry one
    /// instrument), one histogram update. Hot path.
    #[inline]
    pub(super) fn observe(&mut self, frame: Frame, events: &[Event], cx: &mut Context<'_>) {
        if !self.stale.enabled() {
            return;
        }
        let (instrument, kind) = match frame {
            Frame::BookDiff { instrument, .. } | Frame::BookSnapshot { instrument, .. } => {
                (instrument, StreamKind::Book)
            }
            Frame::Market => match events.first() {
                Some(e) => match e.kind() {
                    EventKind::Trade => (e.instrument, StreamKind::Trade),
                    EventKind::Bbo => (e.instrument, StreamKind::Bbo),
                    EventKind::BookLevel => (e.instrument, StreamKind::Book),
                    EventKind::Status => return,
                },
                None => return,
            },
            _ => return,
        };
        match self.stale.on_data(instrument, kind, cx.now()) {
            Seen::Quiet => {}
            Seen::Resumed(silence) => self.stream_resumed(instrument, kind, silence, cx),
            Seen::Judged => {
                self.stale.check_soon(cx.now());
                self.arm_timer(cx);
            }
        }
    }

    #[cold]
    #[inline(never)]
    pub(super) fn stream_resumed(
        &mut self,
        instrument: InstrumentId,
        kind: StreamKind,
        silence: u64,
        cx: &mut Context<'_>,
    ) {
        self.stats.resumed_streams += 1;
        if self.mode == Mode::Active {
            let value = status_value(kind, silence);
            self.status(instrument, StatusKind::Resumed, Reason::None, value, cx);
        }
    }

    /// Timer: streams silent past their limit publish `Stale` (a book also `Resync`: it goes
    /// idle and syncs again from a snapshot when diffs return); when every judged stream is
    /// stale and none spoke since, the connection is recycled at once.
    #[cold]
    pub(super) fn check_stale(&mut self, cx: &mut Context<'_>) {
        // The detector is moved out so the report can publish (an empty one allocates nothing).
        let mut det = std::mem::replace(&mut self.stale, StaleDetector::new(StaleMode::Off, None));
        let verdict = det.check(cx.now(), |instrument, kind, silence| {
            self.stream_stale(instrument, kind, silence, cx);
        });
        self.stale = det;
        if verdict.all_stale && matches!(self.mode, Mode::Active | Mode::Line) {
            self.stats.stale_recycles += 1;
            if self.mode == Mode::Active {
                self.status(InstrumentId::NONE, StatusKind::Stale, Reason::Stale, 0, cx);
            }
            // A line that went silent reconnects on its own; the others carry the feed.
            cx.recycle(Reason::Stale);
        }
    }

    pub(super) fn stream_stale(
        &mut self,
        instrument: InstrumentId,
        kind: StreamKind,
        silence: u64,
        cx: &mut Context<'_>,
    ) {
        self.stats.stale_streams += 1;
        if self.mode != Mode::Active {
            return;
        }
        self.status(
            instrument,
            StatusKind::Stale,
            Reason::Stale,
            status_value(kind, silence),
            cx,
        );
        if kind != StreamKind::Book {
            return;
        }
        let Some(slot) = self.slot(instrument) else {
            return;
        };
        if self.books[slot].state == SyncState::Idle {
            return;
        }
        // Consumers' books treat `Resync` as invalidating; the feed's own syncs afresh when
        // diffs come back (as after a reconnect).
        let b = &mut self.books[slot];
        b.state = SyncState::Idle;
        b.diffs.clear();
        b.events.clear();
        b.pending = None;
        b.book.invalidate();
        self.stats.resyncs += 1;
        self.status(instrument, StatusKind::Resync, Reason::Stale, 0, cx);
    }
}
