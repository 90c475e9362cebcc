//! Per-stage latency histograms.

use hdrhistogram::Histogram;

use crate::event::{Event, EventKind, Flags};
use crate::reason::Reason;

/// A stage of the pipeline, measured between two timestamps of the same clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stage {
    /// Venue send time (`exchange_ts`) to socket read. Meaningful only with synchronized clocks
    /// or a loopback source that stamps its send time (the `"ts"` probe).
    ExchangeToRecv = 0,
    /// Socket read to the end of decoding the message.
    RecvToDecoded = 1,
    /// End of decoding to the first event of the message pushed to the rings.
    DecodedToPublished = 2,
    /// Push to the ring to pop by the consumer (recorded on the consumer thread).
    PublishedToConsumed = 3,
    /// Socket read to pop by the consumer: the engine's whole share of the latency.
    RecvToConsumed = 4,
}

impl Stage {
    /// Every stage, in pipeline order.
    pub const ALL: [Stage; 5] = [
        Stage::ExchangeToRecv,
        Stage::RecvToDecoded,
        Stage::DecodedToPublished,
        Stage::PublishedToConsumed,
        Stage::RecvToConsumed,
    ];

    /// Short name for tables (`exchange→recv`).
    pub const fn name(self) -> &'static str {
        match self {
            Stage::ExchangeToRecv => "exchange→recv",
            Stage::RecvToDecoded => "recv→decoded",
            Stage::DecodedToPublished => "decoded→published",
            Stage::PublishedToConsumed => "published→consumed",
            Stage::RecvToConsumed => "recv→consumed",
        }
    }
}

/// A histogram from 1 ns to 100 s with 3 significant digits (the peers' setting).
pub(crate) fn new_histogram() -> Histogram<u64> {
    // Constant bounds that hdrhistogram accepts (low >= 1, high >= 2 * low, sigfig <= 5).
    #[allow(clippy::expect_used)]
    Histogram::new_with_bounds(1, 100_000_000_000, 3).expect("constant histogram bounds are valid")
}

/// Consumer-side recorder of the published→consumed and recv→consumed stages. Lives on the
/// consumer thread (no sharing on the hot path); merge it into the collector now and then.
pub struct StageRecorder {
    pub(crate) published_to_consumed: Histogram<u64>,
    pub(crate) recv_to_consumed: Histogram<u64>,
}

impl Default for StageRecorder {
    fn default() -> Self {
        StageRecorder {
            published_to_consumed: new_histogram(),
            recv_to_consumed: new_histogram(),
        }
    }
}

impl StageRecorder {
    /// A recorder with empty histograms.
    pub fn new() -> StageRecorder {
        StageRecorder::default()
    }

    /// Records one popped event at consumer time `now` (ns, [`crate::clock::now_ns`]).
    ///
    /// Statuses with reason [`Reason::Shutdown`] are not recorded: the engine publishes them
    /// as it stops (one `Resync` per book, one `Disconnected` per connection) in a single
    /// burst behind the I/O thread's own teardown, so their delay measures the shutdown, not
    /// delivery. Counted as samples they would set a short run's tail by the number of books
    /// (1,000 symbols: 2 % of a 5 s run's events).
    ///
    /// A snapshot run is one sample, its last level (flagged [`Flags::LAST_IN_BATCH`]): the
    /// time until the whole book reached the consumer. Its hundreds or thousands of levels
    /// share one publish stamp, so each would count the consumer's work on the levels before
    /// it; while books sync (100 symbols: 21 runs of 454 levels in a 10 s run, 4 % of the
    /// samples) they set the p99 by the number of books (issue 16). Events behind a run
    /// still count their whole wait.
    #[inline]
    pub fn record(&mut self, event: &Event, now: u64) {
        if event.kind() == EventKind::Status
            && event
                .as_status()
                .is_some_and(|s| s.reason == Reason::Shutdown.code())
        {
            return;
        }
        if event.flags.contains(Flags::SNAPSHOT) && !event.flags.contains(Flags::LAST_IN_BATCH) {
            return;
        }
        if let Some(p) = event.published_ts() {
            self.published_to_consumed
                .saturating_record(now.saturating_sub(p).max(1));
        }
        if event.recv_ts != 0 {
            self.recv_to_consumed
                .saturating_record(now.saturating_sub(event.recv_ts).max(1));
        }
    }

    /// Empties both histograms (after a merge).
    pub fn reset(&mut self) {
        self.published_to_consumed.reset();
        self.recv_to_consumed.reset();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Status, StatusKind};
    use crate::instrument::InstrumentId;

    fn status(kind: StatusKind, reason: Reason) -> Event {
        let mut e = Event::status(
            InstrumentId(1),
            Status {
                kind,
                reason: reason.code(),
                value: 0,
                connection: 1,
            },
            1_000,
        );
        e.stamp_published(2_000);
        e
    }

    #[test]
    fn shutdown_statuses_are_not_delivery_samples() {
        let mut rec = StageRecorder::new();
        // A teardown burst: popped 30 ms after it was published.
        rec.record(&status(StatusKind::Resync, Reason::Shutdown), 30_002_000);
        rec.record(
            &status(StatusKind::Disconnected, Reason::Shutdown),
            30_002_000,
        );
        assert_eq!(rec.published_to_consumed.len(), 0);
        assert_eq!(rec.recv_to_consumed.len(), 0);
        // Any other status is a sample: published at 2 µs, popped at 5 µs.
        rec.record(&status(StatusKind::Resync, Reason::None), 5_000);
        assert_eq!(rec.published_to_consumed.len(), 1);
        assert_eq!(rec.recv_to_consumed.len(), 1);
        assert!(
            rec.published_to_consumed
                .equivalent(rec.published_to_consumed.max(), 3_000)
        );
    }

    fn level(flags: Flags, published: u64) -> Event {
        let level = crate::event::Level {
            side: crate::event::Side::Buy,
            price: crate::Decimal::from_parts(100, 0),
            qty: crate::Decimal::from_parts(1, 0),
            seq: 7,
        };
        let mut e = Event::level(InstrumentId(1), level, flags, 0, 1_000).expect("fits an event");
        e.stamp_published(published);
        e
    }

    #[test]
    fn a_snapshot_run_is_one_sample_at_its_last_level() {
        let mut rec = StageRecorder::new();
        // A run of 500 levels published at 2 µs, popped 1 µs apart: only the last, popped at
        // 2 µs + 500 µs, is a sample.
        for i in 1..=500u64 {
            let flags = if i == 500 {
                Flags::SNAPSHOT.with(Flags::LAST_IN_BATCH)
            } else {
                Flags::SNAPSHOT
            };
            rec.record(&level(flags, 2_000), 2_000 + i * 1_000);
        }
        assert_eq!(rec.published_to_consumed.len(), 1);
        assert_eq!(rec.recv_to_consumed.len(), 1);
        assert!(
            rec.published_to_consumed
                .equivalent(rec.published_to_consumed.max(), 500_000)
        );
        // Live diff levels are samples each, the last of a message or not.
        rec.record(&level(Flags::EMPTY, 600_000), 603_000);
        rec.record(&level(Flags::LAST_IN_BATCH, 600_000), 604_000);
        assert_eq!(rec.published_to_consumed.len(), 3);
    }
}
