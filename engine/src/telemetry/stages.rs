//! Per-stage latency histograms.

use hdrhistogram::Histogram;

use crate::event::Event;

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
    #[inline]
    pub fn record(&mut self, event: &Event, now: u64) {
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
