//! Inline consumers: a callback the I/O thread calls with each publication's events, in place
//! of a ring and a consumer thread.
//!
//! The lowest-latency way to act on market data is to run the strategy on the thread that
//! reads the socket: no ring to write, no cache line to hand over, no consumer to wake. An
//! [`InlineConsumer`] is registered like a ring consumer
//! ([`crate::EngineBuilder::inline_consumer`], [`crate::EngineHandle::add_inline_consumer`])
//! and gets a [`ConsumerId`](crate::ConsumerId) of the same kind: name it when adding
//! connections or feeds (`add_connection`, `add_feed`, a venue's `start` or launcher) and in
//! `route`/`remove_consumer`, alone or beside ring consumers.
//!
//! # The event contract
//!
//! An inline consumer sees what a ring consumer routed to the same connections sees: the same
//! events (levels, trades, BBOs, statuses such as `Connected`, `Gap`, `Resync`,
//! `Disconnected`), in the same order, with the same flags (`RUN_START`, `LAST_IN_BATCH`,
//! `SNAPSHOT`) and the same stage stamps (the publish stamp is set when stage histograms are
//! on). Events come in the runs the handler published them in: one call per venue message
//! for a feed (`FeedHandler` publishes each message's events in one go), one call per event
//! for statuses and for handlers that publish event by event. Concatenated, the calls are
//! the ring consumer's sequence. Two differences, both because nothing is queued:
//!
//! * there is never an `Overflow`: no event is dropped for an inline consumer;
//! * to the handler ([`crate::Context::ring`]) an inline consumer looks like a ring with
//!   [`crate::ring::MAX_CAPACITY`] free slots that never congests.
//!
//! Routing is the ring consumers' routing: per connection (each connection carries the
//! subscriptions it was built with), so an inline consumer routed to a feed's connections
//! gets exactly those instruments; filter further by `event.instrument` in the callback.
//!
//! # What the callback may do
//!
//! It runs on the I/O thread, between decoding one message and reading the next. **While it
//! runs, nothing else does**: no socket of this engine is read, no ping answered, no timer
//! fired. A slow callback slows the whole feed (the socket buffer then fills and the venue
//! may drop the connection), where a slow ring consumer only lags and, at worst, loses
//! events to an `Overflow`. So:
//!
//! * never block (locks others hold, I/O, sleeping, channels that can be full);
//! * keep allocation out of steady state if the engine's no-allocation guarantee matters to
//!   you (the engine itself allocates nothing to call it: see the allocation test
//!   `tests/tests/inline_alloc.rs`);
//! * do not call [`crate::Engine::join`] or wait on the engine from it (the engine waits for
//!   the callback: a deadlock); [`crate::EngineHandle`] commands are fine (they queue).
//!
//! Rings are served first: on a connection routed to both, every ring consumer has the
//! message's events before any inline consumer is called.
//!
//! # Panics
//!
//! A panic in [`InlineConsumer::on_events`] is caught where the engine calls it
//! (`catch_unwind`, which costs nothing measurable on the path that does not unwind:
//! `benches/benches/inline.rs`). The consumer is then dropped and no longer called, the
//! [`InlineHandle`] says so ([`InlineHandle::has_panicked`], with the panic's message), the
//! engine counts it in [`crate::EngineStats::inline_panics`], and everything else goes on:
//! the connection that was publishing, its other consumers and every other connection. The
//! events of the call that panicked are lost to that consumer only. (A build with
//! `panic = "abort"` aborts the process instead, as for any panic.)

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use crate::event::Event;

/// A consumer called on the I/O thread with each publication's events (see the
/// [module documentation](self) for the contract and the rules).
///
/// Any `FnMut(&[Event]) + Send + 'static` closure is one.
pub trait InlineConsumer: Send + 'static {
    /// One publication's events (a venue message's, or one status), in order. Runs on the
    /// I/O thread: the feed waits while it runs. Must not block.
    fn on_events(&mut self, events: &[Event]);
}

impl<F: FnMut(&[Event]) + Send + 'static> InlineConsumer for F {
    #[inline]
    fn on_events(&mut self, events: &[Event]) {
        self(events)
    }
}

/// What the engine tells the owner of an inline consumer.
#[derive(Debug, Default)]
struct Shared {
    panicked: AtomicBool,
    detached: AtomicBool,
    message: OnceLock<String>,
}

/// The application's view of an inline consumer: whether it still runs, and why not.
/// Cheap to clone; `Send + Sync`.
#[derive(Clone, Debug)]
pub struct InlineHandle {
    shared: Arc<Shared>,
}

impl InlineHandle {
    /// Whether the consumer panicked (it was then dropped and is not called again).
    pub fn has_panicked(&self) -> bool {
        self.shared.panicked.load(Ordering::Acquire)
    }

    /// The panic's message, when it had one (`panic!("...")` with a string).
    pub fn panic_message(&self) -> Option<&str> {
        self.shared.message.get().map(String::as_str)
    }

    /// Whether the engine let go of the consumer for good: it panicked, it was removed
    /// (`EngineHandle::remove_consumer`), or the engine stopped. The consumer has been
    /// dropped by then (on the I/O thread), so state it shared is final.
    pub fn is_detached(&self) -> bool {
        self.shared.detached.load(Ordering::Acquire)
    }
}

/// The I/O thread's end: the consumer, and a buffer for stamped copies.
pub(crate) struct InlineSink {
    /// `None` once it panicked.
    consumer: Option<Box<dyn InlineConsumer>>,
    /// Stamped copies of a run when stage stamps are on (ring consumers get the stamp on
    /// the way into the ring; here the run is lent, so it is copied once).
    scratch: Vec<Event>,
    shared: Arc<Shared>,
}

/// Events a sink's stamping buffer holds before it would grow: a depth-1000 snapshot run
/// and its statuses (a larger run grows it once; it is kept).
const SCRATCH: usize = 2048;

impl InlineSink {
    /// A sink for `consumer` and the handle that watches it. Control path (allocates).
    pub(crate) fn new(consumer: Box<dyn InlineConsumer>) -> (InlineSink, InlineHandle) {
        let shared = Arc::new(Shared::default());
        let sink = InlineSink {
            consumer: Some(consumer),
            scratch: Vec::with_capacity(SCRATCH),
            shared: shared.clone(),
        };
        (sink, InlineHandle { shared })
    }

    /// Calls the consumer with `events`, stamped with publish time `at` when given.
    #[inline]
    pub(crate) fn deliver(&mut self, events: &[Event], at: Option<u64>) {
        let InlineSink {
            consumer, scratch, ..
        } = self;
        let Some(c) = consumer else {
            return;
        };
        let run = match at {
            None => events,
            Some(ts) => {
                scratch.clear();
                scratch.extend(events.iter().map(|e| {
                    let mut e = *e;
                    e.stamp_published(ts);
                    e
                }));
                &scratch[..]
            }
        };
        // A panicking consumer must not take the I/O thread, or the connection publishing,
        // down with it. No cost on the path that does not unwind.
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| c.on_events(run))) {
            self.failed(panic);
        }
    }

    /// Calls the consumer with each event of `events` passed through `stamp` (the generic
    /// form of [`InlineSink::deliver`]: a copy per run).
    pub(crate) fn deliver_with(&mut self, events: &[Event], stamp: impl Fn(Event) -> Event) {
        if self.consumer.is_none() {
            return;
        }
        let mut run = std::mem::take(&mut self.scratch);
        run.clear();
        run.extend(events.iter().map(|e| stamp(*e)));
        self.deliver(&run, None);
        self.scratch = run;
    }

    /// Whether the consumer panicked (and waits to be retired by the loop).
    #[inline]
    pub(crate) fn has_failed(&self) -> bool {
        self.consumer.is_none()
    }

    #[cold]
    #[inline(never)]
    fn failed(&mut self, panic: Box<dyn std::any::Any + Send>) {
        let text = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned());
        if let Some(text) = text {
            let _ = self.shared.message.set(text);
        }
        // Dropping the payload or the consumer may panic again: contain both.
        let broken = self.consumer.take();
        let _ = catch_unwind(AssertUnwindSafe(move || drop((panic, broken))));
        self.shared.panicked.store(true, Ordering::Release);
        self.shared.detached.store(true, Ordering::Release);
    }
}

impl Drop for InlineSink {
    fn drop(&mut self) {
        let consumer = self.consumer.take();
        // Its drop may panic (on the I/O thread, maybe while it unwinds): contain it.
        let _ = catch_unwind(AssertUnwindSafe(move || drop(consumer)));
        self.shared.detached.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Status, StatusKind};
    use crate::instrument::InstrumentId;
    use std::sync::Mutex;

    fn ev(i: u64) -> Event {
        Event::status(
            InstrumentId(0),
            Status {
                kind: StatusKind::Connected,
                reason: 0,
                value: i,
                connection: 1,
            },
            i,
        )
    }

    /// Every call a test consumer got.
    type Calls = Arc<Mutex<Vec<Vec<Event>>>>;

    fn recording() -> (Box<dyn InlineConsumer>, Calls) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let c = move |events: &[Event]| s.lock().unwrap().push(events.to_vec());
        (Box::new(c), seen)
    }

    #[test]
    fn runs_arrive_whole_and_stamped_only_when_asked() {
        let (c, seen) = recording();
        let (mut sink, handle) = InlineSink::new(c);
        let run: Vec<Event> = (1..4).map(ev).collect();
        sink.deliver(&run, None);
        sink.deliver(&run[..1], Some(77));
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0], run);
        assert_eq!(seen[0][0].published_ts(), None);
        assert_eq!(seen[1].len(), 1);
        assert_eq!(seen[1][0].published_ts(), Some(77));
        assert!(!handle.has_panicked() && !handle.is_detached());
    }

    #[test]
    fn a_panic_is_contained_reported_and_the_consumer_dropped() {
        struct Boom(Arc<AtomicBool>);
        impl InlineConsumer for Boom {
            fn on_events(&mut self, events: &[Event]) {
                if events[0].seq == 2 {
                    panic!("boom at {}", events[0].seq);
                }
            }
        }
        impl Drop for Boom {
            fn drop(&mut self) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let dropped = Arc::new(AtomicBool::new(false));
        let (mut sink, handle) = InlineSink::new(Box::new(Boom(dropped.clone())));
        sink.deliver(&[ev(1)], None);
        assert!(!sink.has_failed());
        sink.deliver(&[ev(2)], None);
        assert!(sink.has_failed());
        assert!(handle.has_panicked() && handle.is_detached());
        assert_eq!(handle.panic_message(), Some("boom at 2"));
        assert!(dropped.load(Ordering::SeqCst));
        // Not called again.
        sink.deliver(&[ev(2)], None);
        sink.deliver_with(&[ev(2)], |e| e);
    }

    #[test]
    fn dropping_the_sink_detaches_without_a_panic() {
        let (c, _seen) = recording();
        let (sink, handle) = InlineSink::new(c);
        drop(sink);
        assert!(handle.is_detached() && !handle.has_panicked());
        assert_eq!(handle.panic_message(), None);
    }
}
