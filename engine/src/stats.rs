//! Counters kept by the I/O thread and returned by `Engine::join`.

use crate::reason::Reason;

/// Number of reason codes a [`ReasonCounts`] can hold.
pub const REASON_SLOTS: usize = 64;

/// A counter per [`Reason`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReasonCounts([u64; REASON_SLOTS]);

impl Default for ReasonCounts {
    fn default() -> Self {
        ReasonCounts([0; REASON_SLOTS])
    }
}

impl ReasonCounts {
    /// Adds one for `reason`.
    #[inline]
    pub fn add(&mut self, reason: Reason) {
        if let Some(c) = self.0.get_mut(reason.code() as usize) {
            *c += 1;
        }
    }

    /// The count for `reason`.
    pub fn get(&self, reason: Reason) -> u64 {
        self.0.get(reason.code() as usize).copied().unwrap_or(0)
    }

    /// The sum over all reasons.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// `(reason, count)` for every non-zero count.
    pub fn iter(&self) -> impl Iterator<Item = (Reason, u64)> + '_ {
        self.0.iter().enumerate().filter_map(|(i, &n)| {
            let r = Reason::from_code(i as u16)?;
            (n > 0).then_some((r, n))
        })
    }
}

/// What the I/O thread did over its life.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EngineStats {
    /// Data messages (text and binary) handed to handlers.
    pub messages: u64,
    /// Bytes read from sockets (after TLS).
    pub bytes_received: u64,
    /// Frames queued for sending (data, pings, pongs, closes).
    pub frames_sent: u64,
    /// Bytes written (before TLS).
    pub bytes_sent: u64,
    /// Sessions that reached `Live`.
    pub connects: u64,
    /// Connect attempts that failed before the upgrade completed.
    pub connect_failures: u64,
    /// Reconnect attempts started after a backoff.
    pub reconnects: u64,
    /// Sessions ended, by reason.
    pub disconnects: ReasonCounts,
    /// Protocol violations by the peer (close 1002/1007/1009), by reason.
    pub protocol_errors: ReasonCounts,
    /// Connections recycled because a ping went unanswered.
    pub pong_timeouts: u64,
    /// Connections recycled because no data arrived within the stale limit.
    pub stale_recycles: u64,
    /// Events dropped on full consumer rings (all rings, over the engine's life).
    pub dropped_events: u64,
    /// Times reading paused so a consumer could catch up: its ring congested, or holding
    /// more than [`crate::EngineConfig::yield_backlog`] unread events.
    pub congestion_pauses: u64,
    /// Consumer rings retired because their `Consumer` end was dropped (found when the ring
    /// filled): nothing is published to them any more.
    pub abandoned_consumers: u64,
    /// Consumer rings removed with `EngineHandle::remove_consumer`.
    pub removed_consumers: u64,
    /// Telemetry records dropped because the collector fell behind.
    pub telemetry_dropped: u64,
    /// Frames from `EngineHandle::send` that could not be queued (not live, outbox full).
    pub sends_rejected: u64,
    /// Commands naming a connection the engine does not know.
    pub unknown_connection: u64,
    /// Handler callbacks that panicked (each closed its connection for good, reason
    /// `HandlerPanic`; the other connections went on).
    pub handler_panics: u64,
    /// Inline consumers that panicked (each dropped and no longer called; its connections
    /// and their other consumers went on). See [`crate::inline`].
    pub inline_panics: u64,
}
