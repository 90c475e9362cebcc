//! Consumer-side helpers: collect events with a deadline.

use std::time::{Duration, Instant};

use tickwire_engine::event::{Event, Status, StatusKind};
use tickwire_engine::ring::Consumer;

/// Pops events into `out` until `done(out)` holds; panics after `timeout`.
pub fn collect_until(
    consumer: &mut Consumer,
    out: &mut Vec<Event>,
    timeout: Duration,
    what: &str,
    done: impl Fn(&[Event]) -> bool,
) {
    let deadline = Instant::now() + timeout;
    loop {
        let mut got = false;
        while let Some(e) = consumer.pop() {
            out.push(e);
            got = true;
        }
        if done(out) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; {} events so far, statuses: {:?}",
            out.len(),
            statuses(out)
        );
        if !got {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}

/// The status events in `events`.
pub fn statuses(events: &[Event]) -> Vec<Status> {
    events.iter().filter_map(Event::as_status).collect()
}

/// How many status events of `kind` are in `events`.
pub fn count_status(events: &[Event], kind: StatusKind) -> usize {
    statuses(events).iter().filter(|s| s.kind == kind).count()
}

/// Trade ids (sequence numbers) in `events`, in order.
pub fn trade_ids(events: &[Event]) -> Vec<u64> {
    events
        .iter()
        .filter_map(Event::as_trade)
        .map(|t| t.id)
        .collect()
}

/// Every status in `events` with its receive time in ms since `origin_ns` (a simulator's
/// stream clock), for a failure message: `"2311ms Line(0, Down)"`, `"3323ms Gap i0 v1731
/// r0"` (instrument index, value, reason code).
pub fn status_timeline(events: &[Event], origin_ns: u64) -> Vec<String> {
    use tickwire_engine::adapter::LineState;
    events
        .iter()
        .filter_map(|e| {
            let s = e.as_status()?;
            let ms = e.recv_ts.saturating_sub(origin_ns) / 1_000_000;
            let what = match (s.kind, LineState::from_value(s.value)) {
                (StatusKind::Line, Some((line, state))) => format!("Line({line}, {state:?})"),
                (k, _) => format!("{k:?} i{} v{} r{}", e.instrument.index(), s.value, s.reason),
            };
            Some(format!("{ms}ms {what}"))
        })
        .collect()
}
