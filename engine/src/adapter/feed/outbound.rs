//! Outbound frames: pacing, the request budget, the handler timer and acknowledgements.

use super::*;

impl<A: FeedAdapter> FeedHandler<A> {
    pub(super) fn flush(&mut self, cx: &mut Context<'_>) {
        let pacing = self.adapter.pacing();
        let interval = pacing.min_interval_ns;
        while let Some(frame) = self.outbox.front() {
            let now = cx.now();
            if now < self.next_send_at {
                break;
            }
            if let Some(budget) = pacing.budget {
                let window = budget.window_ns;
                while self
                    .sent_at
                    .front()
                    .is_some_and(|&t| now >= t.saturating_add(window))
                {
                    self.sent_at.pop_front();
                }
                if self.sent_at.len() >= budget.requests.max(1) as usize {
                    // Spent: the next request waits until the oldest leaves the window.
                    let free_at = self
                        .sent_at
                        .front()
                        .map_or(now, |&t| t.saturating_add(window));
                    if self.next_send_at != free_at {
                        self.stats.budget_waits += 1;
                        self.next_send_at = free_at;
                    }
                    break;
                }
            }
            match cx.send_text(frame) {
                Ok(()) => {
                    self.outbox.pop_front();
                    self.next_send_at = now.saturating_add(interval);
                    if pacing.budget.is_some() {
                        self.sent_at.push_back(now);
                    }
                }
                Err(SendError::Full | SendError::NotLive) => {
                    self.stats.send_retries += 1;
                    self.next_send_at = cx.now().saturating_add(interval);
                    break;
                }
            }
        }
    }

    pub(super) fn arm_timer(&mut self, cx: &mut Context<'_>) {
        self.track_acks(cx);
        let mut next = u64::MAX;
        if !self.outbox.is_empty() {
            next = next.min(self.next_send_at);
        }
        if self.adapter.heartbeat().app_ping.is_some() && self.next_ping_at != 0 {
            next = next.min(self.next_ping_at);
        }
        if self.pong_deadline != 0 {
            next = next.min(self.pong_deadline);
        }
        let inband_only = self.adapter.snapshot_start() == SnapshotStart::InBand;
        let mut in_flight = false;
        for b in &mut self.books {
            in_flight |= b.requested;
            if b.state == SyncState::Buffering {
                // An in-band snapshot needs no timer of its own: the sync deadline bounds it.
                let waits_inband = inband_only && b.inband_expected;
                if !b.requested && b.pending.is_none() && !waits_inband {
                    next = next.min(b.retry_at);
                    b.deferred = true; // the timer covers its retry
                }
                if b.sync_deadline != 0 {
                    next = next.min(b.sync_deadline);
                }
            }
        }
        if in_flight {
            // Answers are picked up on a timer, not every loop turn: the loop can sleep.
            next = next.min(cx.now().saturating_add(self.config.snapshot_poll_ns));
        }
        if self.ack_deadline != 0 {
            next = next.min(self.ack_deadline);
        }
        if self.republish {
            // Look again soon, in case the feed goes quiet while the rings drain.
            next = next.min(cx.now().saturating_add(REPUBLISH_RETRY_NS));
        }
        if self.stale.deadline() != 0 {
            next = next.min(self.stale.deadline());
        }
        if next != u64::MAX {
            cx.set_timer(next);
        }
    }

    /// Follows the unacknowledged requests: any change (a request sent, an ack received)
    /// restarts the ack clock; when it runs out, what is still pending is reported and
    /// forgotten (a venue that never answers must not hold up a rotation forever).
    pub(super) fn track_acks(&mut self, cx: &mut Context<'_>) {
        let pending = self.adapter.pending_acks();
        if pending == 0 {
            self.ack_deadline = 0;
        } else if pending != self.seen_pending || self.ack_deadline == 0 || !self.outbox.is_empty()
        {
            // Requests still queued by pacing cannot have been answered yet.
            self.ack_deadline = cx.now().saturating_add(self.config.ack_timeout_ns);
        } else if cx.now() >= self.ack_deadline {
            let n = self.adapter.expire_acks();
            self.stats.ack_timeouts += n as u64;
            self.stats.subscription_errors += 1;
            if self.mode == Mode::Active {
                self.status(
                    InstrumentId::NONE,
                    StatusKind::SubscriptionError,
                    Reason::AckTimeout,
                    n as u64,
                    cx,
                );
            }
            self.ack_deadline = 0;
        }
        self.seen_pending = self.adapter.pending_acks();
    }
}
