//! A/B line tests: an engine with one consumer over simulator pairs, drained with a
//! deadline and cut at the shutdown; the status and snapshot tallies the tests assert on.

use std::time::{Duration, Instant};

use tickwire_engine::adapter::{LineMonitor, LineState};
use tickwire_engine::event::{Event, Flags, StatusKind};
use tickwire_engine::{Consumer, Engine, Reason};

/// A running A/B test: its engine, consumer and line monitors, and what was consumed.
pub struct AbRun {
    /// The simulators' shared stream clock origin (ns), for timelines.
    pub origin: u64,
    /// Taken by [`AbRun::finish`].
    pub engine: Option<Engine>,
    /// The consumer.
    pub consumer: Consumer,
    /// One per arbitrated connection (none for a single line).
    pub monitors: Vec<LineMonitor>,
    /// Consumed so far.
    pub events: Vec<Event>,
}

impl AbRun {
    /// Drains the consumer until `ok(events)`; panics after `timeout` with the status
    /// timeline and the line reports.
    pub fn wait(&mut self, what: &str, timeout: Duration, ok: impl Fn(&[Event]) -> bool) {
        let deadline = Instant::now() + timeout;
        loop {
            while let Some(e) = self.consumer.pop() {
                self.events.push(e);
            }
            if ok(&self.events) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; {:#?}; {:?}",
                crate::consume::status_timeline(&self.events, self.origin),
                self.monitors
                    .iter()
                    .map(LineMonitor::report)
                    .collect::<Vec<_>>()
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Stops the engine; returns what was consumed before the shutdown's own statuses.
    pub fn finish(&mut self) -> Vec<Event> {
        while let Some(e) = self.consumer.pop() {
            self.events.push(e);
        }
        let cut_from = self.events.len();
        if let Some(e) = self.engine.take() {
            e.join().expect("engine thread");
        }
        while let Some(e) = self.consumer.pop() {
            self.events.push(e);
        }
        let mut events = std::mem::take(&mut self.events);
        let shutdown = Reason::Shutdown.code();
        let cut = events[cut_from..]
            .iter()
            .position(|e| e.as_status().is_some_and(|s| s.reason == shutdown))
            .map_or(events.len(), |p| p + cut_from);
        events.truncate(cut);
        events
    }
}

/// Whether a `Line` status said `line` went down.
pub fn line_down(events: &[Event], line: usize) -> bool {
    events.iter().filter_map(Event::as_status).any(|s| {
        s.kind == StatusKind::Line
            && LineState::from_value(s.value) == Some((line, LineState::Down))
    })
}

/// Snapshot runs (their last level) in `events`.
pub fn snapshot_runs(events: &[Event]) -> usize {
    events
        .iter()
        .filter(|e| e.flags.contains(Flags::SNAPSHOT) && e.flags.contains(Flags::LAST_IN_BATCH))
        .count()
}
