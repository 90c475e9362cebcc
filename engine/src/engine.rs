//! The engine: one I/O thread running a mio `Poll` over every connection.
//!
//! Each loop turn drains the command queue, polls (zero timeout when spinning; the next
//! deadline when blocking), handles readiness, picks up resolver answers, fires due timers
//! and runs `on_poll` for handlers that asked. Every readiness event drains its socket until
//! `WouldBlock` (mio is edge-triggered: a socket not drained may never be reported again).
//!
//! ```no_run
//! use tickwire_engine::config::{ConnectionConfig, EngineConfig, Profile};
//! use tickwire_engine::engine::Engine;
//! use tickwire_engine::handler::{Context, Message, WsHandler};
//!
//! struct Print;
//! impl WsHandler for Print {
//!     fn on_connect(&mut self, cx: &mut Context<'_>) {
//!         let _ = cx.send_text(br#"{"method":"SUBSCRIBE","params":["btcusdt@trade"],"id":1}"#);
//!     }
//!     fn on_message(&mut self, msg: Message<'_>, _cx: &mut Context<'_>) {
//!         let _ = msg.payload(); // parse, then cx.publish(event)
//!     }
//! }
//!
//! let mut builder = Engine::builder(EngineConfig::profile(Profile::Standard));
//! let (consumer_id, mut consumer) = builder.consumer(4096);
//! let engine = builder.start()?;
//! let conn = engine.handle().add_connection(
//!     ConnectionConfig::new("wss://stream.binance.com:9443/ws")?,
//!     Box::new(Print),
//!     &[consumer_id],
//! )?;
//! std::thread::spawn(move || while let Some(_event) = consumer.pop() { /* ... */ });
//! let stats = engine.join()?; // shuts down: close handshakes, bounded wait
//! # let _ = (conn, stats);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::HashMap;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_queue::ArrayQueue;

use crate::clock;
use crate::command::{Command, ConsumerId, EngineHandle, Ids, Prepared, Shared, next_consumer_id};
use crate::config::{EngineConfig, IdleStrategy};
use crate::connection::{Connection, Core, Ready, State};
use crate::handler::{ConnectionId, Leg};
use crate::inline::{InlineConsumer, InlineHandle};
use crate::reason::Reason;
use crate::resolver::Resolver;
use crate::ring::{self, CapacityError, Consumer, EventProducer};
use crate::stats::EngineStats;
use crate::sys::{self, PinError};
use crate::telemetry::TelemetryTx;
use crate::timer::LoopDeadline;

mod legs;

const WAKER: mio::Token = mio::Token(usize::MAX);

/// Most legs one logical connection may have open at once (see `Context::open_leg`).
pub const MAX_LEGS: usize = 4;

/// Why the engine could not start or stopped abnormally.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// Creating the poller, the waker or the thread failed.
    #[error("i/o error starting the engine: {0:?}")]
    Io(io::ErrorKind),
    /// The I/O thread could not be pinned to the configured core.
    #[error("pinning the I/O thread failed: {0}")]
    Pin(#[from] PinError),
    /// The I/O thread panicked.
    #[error("the I/O thread panicked")]
    Panicked,
    /// Too many consumers (an engine holds at most 65,535 rings).
    #[error("too many consumers")]
    TooManyConsumers,
    /// A consumer ring's capacity is over [`ring::MAX_CAPACITY`].
    #[error(transparent)]
    Capacity(#[from] CapacityError),
}

impl From<io::Error> for EngineError {
    fn from(e: io::Error) -> Self {
        EngineError::Io(e.kind())
    }
}

/// Sets up consumers and telemetry, then starts the I/O thread.
pub struct EngineBuilder {
    config: EngineConfig,
    producers: Vec<(ConsumerId, EventProducer)>,
    telemetry: Option<TelemetryTx>,
    /// The first consumer that could not be made: [`EngineBuilder::start`] fails with it.
    error: Option<EngineError>,
}

impl EngineBuilder {
    /// Adds a consumer ring of `capacity` events (at least 2, at most
    /// [`ring::MAX_CAPACITY`]). Hand the [`Consumer`] to any thread; name the id when adding
    /// connections. A capacity over the maximum allocates nothing and makes
    /// [`EngineBuilder::start`] fail with [`EngineError::Capacity`] (the `Consumer` returned
    /// then never receives anything); [`EngineBuilder::try_consumer`] says so at once.
    pub fn consumer(&mut self, capacity: usize) -> (ConsumerId, Consumer) {
        match self.try_consumer(capacity) {
            Ok(pair) => pair,
            Err(e) => {
                self.error.get_or_insert(e);
                // Id 0 is never issued: nothing can be routed to it.
                (ConsumerId(0), ring::channel(2).1)
            }
        }
    }

    /// [`EngineBuilder::consumer`], failing at once for a capacity over
    /// [`ring::MAX_CAPACITY`] or beyond 65,535 consumers.
    pub fn try_consumer(&mut self, capacity: usize) -> Result<(ConsumerId, Consumer), EngineError> {
        if self.producers.len() >= usize::from(u16::MAX) {
            return Err(EngineError::TooManyConsumers);
        }
        let (p, c) = ring::try_channel(capacity)?;
        let id = next_consumer_id().ok_or(EngineError::TooManyConsumers)?;
        self.producers.push((id, p));
        Ok((id, c))
    }

    /// Adds an inline consumer: `consumer` is called on the I/O thread with the events of
    /// every connection routed to the returned id, instead of a ring and a thread (see
    /// [`crate::inline`] for the contract, the rules and what a panic does). Name the id
    /// like a ring consumer's; watch it with the [`InlineHandle`]. Fails beyond 65,535
    /// consumers.
    pub fn inline_consumer(
        &mut self,
        consumer: impl InlineConsumer,
    ) -> Result<(ConsumerId, InlineHandle), EngineError> {
        if self.producers.len() >= usize::from(u16::MAX) {
            return Err(EngineError::TooManyConsumers);
        }
        let id = next_consumer_id().ok_or(EngineError::TooManyConsumers)?;
        let (p, handle) = ring::inline(consumer);
        self.producers.push((id, p));
        Ok((id, handle))
    }

    /// Sends telemetry to `tx` (see [`crate::telemetry::channel`]). Ignored when
    /// [`EngineConfig::telemetry`] is off.
    pub fn telemetry(&mut self, tx: TelemetryTx) -> &mut EngineBuilder {
        self.telemetry = Some(tx);
        self
    }

    /// Starts the I/O thread (pinned if configured). Fails if pinning fails.
    pub fn start(self) -> Result<Engine, EngineError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let config = self.config;
        // Calibrated once per process, off the I/O thread and without holding up `start`
        // (the calibration spins for up to 200 ms); only for an engine that takes stage
        // stamps or times its consumers' stalls.
        if config.stage_histograms || !config.yield_stall.is_zero() {
            crate::clock::init_stage_clock_in_background();
        }
        let poll = mio::Poll::new()?;
        let waker = Arc::new(mio::Waker::new(poll.registry(), WAKER)?);
        let shared = Arc::new(Shared {
            queue: ArrayQueue::new(config.command_capacity.max(1)),
            waker: waker.clone(),
            blocking: config.idle == IdleStrategy::Blocking,
            ids: std::sync::Mutex::new(Ids {
                connections: HashMap::new(),
                consumers: self
                    .producers
                    .iter()
                    .map(|(id, p)| (*id, p.capacity()))
                    .collect(),
                rings: self.producers.len(),
            }),
            shutdown: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
        });
        let telemetry = match (config.telemetry, self.telemetry) {
            (true, Some(tx)) => tx,
            _ => TelemetryTx::disabled(),
        };
        let consumer_index = self
            .producers
            .iter()
            .enumerate()
            .map(|(i, (id, _))| (*id, i as u16))
            .collect();
        let producers: Vec<EventProducer> = self.producers.into_iter().map(|(_, p)| p).collect();
        let rings = producers.iter().any(|p| !p.is_inline());
        let io = IoLoop {
            config,
            poll,
            shared: shared.clone(),
            conns: Vec::new(),
            free: Vec::new(),
            ids: HashMap::new(),
            consumer_index,
            groups: HashMap::new(),
            core: Core {
                producers,
                telemetry,
                stats: EngineStats::default(),
                resolver: Resolver::new(waker),
                pollers: Vec::new(),
                paused_reads: Vec::new(),
                congestion_paused: false,
                drops_pending: false,
                yield_on_congestion: config.idle != IdleStrategy::BusySpin,
                yield_backlog: config.yield_backlog,
                yield_stall_ns: u64::try_from(config.yield_stall.as_nanos()).unwrap_or(u64::MAX),
                deadline: LoopDeadline::default(),
                attempts: 0,
            },
            polling: Vec::new(),
            resuming: Vec::new(),
            rings,
        };
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), PinError>>();
        let thread = std::thread::Builder::new()
            .name("tickwire-io".into())
            .spawn(move || {
                if let Some(core) = config.pin_core {
                    if let Err(e) = sys::pin_current_thread(core) {
                        let _ = ready_tx.send(Err(e));
                        io.shared.stopped.store(true, Ordering::Release);
                        return EngineStats::default();
                    }
                }
                let _ = ready_tx.send(Ok(()));
                let mut io = io;
                // Handler panics are contained per connection; anything else that unwinds
                // out of the loop stops the engine, and everyone is told before the
                // panic goes on to `join`.
                match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| io.run())) {
                    Ok(stats) => stats,
                    Err(panic) => {
                        io.stop_after_panic();
                        std::panic::resume_unwind(panic)
                    }
                }
            })?;
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                let _ = thread.join();
                return Err(EngineError::Pin(e));
            }
            Err(_) => {
                let _ = thread.join();
                return Err(EngineError::Panicked);
            }
        }
        Ok(Engine {
            handle: EngineHandle { shared },
            thread: Some(thread),
        })
    }
}

/// A running engine. Dropping it shuts it down and waits for the I/O thread.
pub struct Engine {
    handle: EngineHandle,
    thread: Option<JoinHandle<EngineStats>>,
}

impl Engine {
    /// A builder for an engine with `config`.
    pub fn builder(config: EngineConfig) -> EngineBuilder {
        EngineBuilder {
            config,
            producers: Vec::new(),
            telemetry: None,
            error: None,
        }
    }

    /// A handle for controlling the engine from any thread.
    pub fn handle(&self) -> EngineHandle {
        self.handle.clone()
    }

    /// Shuts down (close handshakes with a bounded wait), waits for the I/O thread and
    /// returns its final counters.
    pub fn join(mut self) -> Result<EngineStats, EngineError> {
        self.handle.shutdown();
        match self.thread.take() {
            Some(t) => t.join().map_err(|_| EngineError::Panicked),
            None => Ok(EngineStats::default()),
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            self.handle.shutdown();
            let _ = t.join();
        }
    }
}

/// The I/O thread's state.
struct IoLoop {
    config: EngineConfig,
    poll: mio::Poll,
    shared: Arc<Shared>,
    conns: Vec<Option<Box<Connection>>>,
    free: Vec<usize>,
    ids: HashMap<ConnectionId, usize>,
    consumer_index: HashMap<ConsumerId, u16>,
    /// Slots of every leg of the connections that have more than one leg open.
    groups: HashMap<ConnectionId, Vec<usize>>,
    core: Core,
    /// Scratch for the handlers polled this turn (swapped with `core.pollers`).
    polling: Vec<usize>,
    /// Scratch for the reads resumed this turn (swapped with `core.paused_reads`).
    resuming: Vec<usize>,
    /// Some ring consumer was ever added (with inline consumers only, no thread waits for
    /// the core: the loop does not yield after data).
    rings: bool,
}

impl IoLoop {
    fn run(&mut self) -> EngineStats {
        let mut events = mio::Events::with_capacity(self.config.poll_events.max(16));
        let mut empty_polls: u32 = 0;
        let mut shutdown_deadline: Option<u64> = None;
        // `SpinThenYield { spins: 0 }` is the shared-core setting: there the loop also yields
        // right after a turn that handed messages to consumers (its sockets are drained by
        // then), so a consumer on the same core runs one poll sooner.
        let yield_after_data = self.config.idle == IdleStrategy::SpinThenYield { spins: 0 };
        loop {
            let messages_before = self.core.stats.messages;
            let now = clock::now_ns();
            while let Some(cmd) = self.shared.queue.pop() {
                self.command(cmd, now);
            }
            if shutdown_deadline.is_none() && self.shared.shutdown.load(Ordering::Acquire) {
                shutdown_deadline = Some(now.saturating_add(nanos(self.config.shutdown_timeout)));
                self.close_all(now);
            }
            if let Some(deadline) = shutdown_deadline {
                if now >= deadline || self.all_closed() {
                    break;
                }
            }

            let timeout = self.poll_timeout(now, shutdown_deadline);
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != io::ErrorKind::Interrupted {
                    // A broken poller cannot recover; stop rather than spin on the error.
                    break;
                }
            }
            let now = clock::now_ns();
            let mut busy = false;
            for ev in events.iter() {
                busy = true;
                let token = ev.token();
                if token == WAKER {
                    continue;
                }
                let ready = Ready {
                    readable: ev.is_readable() || ev.is_read_closed() || ev.is_error(),
                    writable: ev.is_writable() || ev.is_write_closed() || ev.is_error(),
                    read_closed: ev.is_read_closed() || ev.is_error(),
                };
                self.with_conn(token.0, |c, reg, core| c.on_ready(ready, now, reg, core));
            }
            while let Some(answer) = self.core.resolver.poll() {
                busy = true;
                let (attempt, result) = (answer.attempt, answer.result);
                self.with_conn(answer.slot, |c, reg, core| {
                    c.on_resolved(attempt, result, now, reg, core)
                });
            }
            if self.core.deadline.due(now) {
                self.fire_timers(now);
            }
            if !self.core.pollers.is_empty() {
                busy = true;
                std::mem::swap(&mut self.polling, &mut self.core.pollers);
                for i in 0..self.polling.len() {
                    let slot = self.polling[i];
                    self.with_conn(slot, |c, _, core| c.poll_handler(now, core));
                }
                self.polling.clear();
            }
            if self.core.drops_pending {
                self.core.drops_pending = false;
                for i in 0..self.core.producers.len() {
                    let p = &mut self.core.producers[i];
                    if p.has_pending_drops() && !p.is_retired() && p.is_abandoned() {
                        // Its consumer is gone (an inline one: it panicked): stop
                        // publishing to it.
                        let inline = p.is_inline();
                        self.retire_consumer(i);
                        if inline {
                            self.core.stats.inline_panics += 1;
                        } else {
                            self.core.stats.abandoned_consumers += 1;
                        }
                        continue;
                    }
                    self.core.drops_pending |= p.flush_overflow(now);
                }
            }
            if !self.core.paused_reads.is_empty() {
                busy = true;
                if std::mem::take(&mut self.core.congestion_paused) {
                    // A consumer ring is congested: give its thread the core, then go on.
                    std::thread::yield_now();
                }
                let now = clock::now_ns();
                std::mem::swap(&mut self.resuming, &mut self.core.paused_reads);
                for i in 0..self.resuming.len() {
                    let slot = self.resuming[i];
                    self.with_conn(slot, |c, _, core| c.resume_read(now, core));
                }
                self.resuming.clear();
            }
            if busy {
                empty_polls = 0;
                if yield_after_data && self.rings && self.core.stats.messages != messages_before {
                    std::thread::yield_now();
                }
            } else if let IdleStrategy::SpinThenYield { spins } = self.config.idle {
                if empty_polls >= spins {
                    std::thread::yield_now();
                } else {
                    empty_polls += 1;
                }
            }
        }
        self.finish()
    }

    fn poll_timeout(&self, now: u64, shutdown: Option<u64>) -> Option<Duration> {
        match self.config.idle {
            IdleStrategy::BusySpin | IdleStrategy::SpinThenYield { .. } => Some(Duration::ZERO),
            IdleStrategy::Blocking => {
                if !self.core.pollers.is_empty()
                    || !self.core.paused_reads.is_empty()
                    || !self.shared.queue.is_empty()
                {
                    return Some(Duration::ZERO);
                }
                let next = match (self.core.deadline.get(), shutdown) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                // No deadline: block until an event or a wake-up.
                next.map(|at| Duration::from_nanos(at.saturating_sub(now)))
            }
        }
    }

    /// Runs `f` on the connection in `slot` (if any), then records its next deadline, carries
    /// out the leg requests its handler made, and frees the slot if it was removed (or was
    /// one leg of several) and has closed.
    #[inline]
    fn with_conn(
        &mut self,
        slot: usize,
        f: impl FnOnce(&mut Connection, &mio::Registry, &mut Core),
    ) {
        let Some(Some(conn)) = self.conns.get_mut(slot) else {
            return;
        };
        if !conn.primary {
            return self.with_lent_handler(slot, f);
        }
        f(conn, self.poll.registry(), &mut self.core);
        self.core.deadline.note(conn.timers.earliest());
        if conn.leg_requests.is_some()
            || (conn.state() == State::Closed && (conn.remove_when_closed || conn.grouped))
        {
            self.after_dispatch(slot);
        }
    }

    fn conn(&self, slot: usize) -> Option<&Connection> {
        self.conns.get(slot).and_then(|c| c.as_deref())
    }

    fn conn_mut(&mut self, slot: usize) -> Option<&mut Connection> {
        self.conns.get_mut(slot).and_then(|c| c.as_deref_mut())
    }

    fn fire_timers(&mut self, now: u64) {
        self.core.deadline.reset();
        for slot in 0..self.conns.len() {
            self.with_conn(slot, |c, reg, core| c.fire_timers(now, reg, core));
        }
    }

    fn command(&mut self, cmd: Command, now: u64) {
        match cmd {
            Command::Add {
                id,
                prepared,
                handler,
                consumers,
            } => {
                let routes = self.routes(&consumers);
                let opts = prepared
                    .config
                    .options
                    .unwrap_or(self.config.connection_defaults);
                let slot = match self.free.pop() {
                    Some(s) => s,
                    None => {
                        self.conns.push(None);
                        self.conns.len() - 1
                    }
                };
                let conn = Connection::new(
                    id,
                    slot,
                    *prepared,
                    handler,
                    routes,
                    opts,
                    self.config.stage_histograms && self.config.telemetry,
                );
                self.conns[slot] = Some(Box::new(conn));
                self.ids.insert(id, slot);
                // Room for every connection to request a poll without growing mid-turn.
                self.core.pollers.reserve(self.conns.len());
                self.polling.reserve(self.conns.len());
                self.core.paused_reads.reserve(self.conns.len());
                self.resuming.reserve(self.conns.len());
                let lines = self
                    .conn_mut(slot)
                    .map(|c| std::mem::take(&mut c.lines))
                    .unwrap_or_default();
                self.with_conn(slot, |c, reg, core| c.start(now, reg, core));
                // A/B: every further line is a leg of its own from the start (leg n: line n).
                for line in lines {
                    self.open_leg_to(id, Some(line), now);
                }
            }
            Command::AddConsumer { id, producer } => {
                self.rings |= !producer.is_inline();
                let index = self.core.producers.len() as u16;
                self.core.producers.push(producer);
                self.consumer_index.insert(id, index);
            }
            Command::RemoveConsumer(id) => {
                if let Some(&index) = self.consumer_index.get(&id) {
                    self.retire_consumer(index as usize);
                    self.core.stats.removed_consumers += 1;
                }
            }
            Command::Remove(id) => self.on_legs(id, |c, _, core| {
                c.remove_when_closed = true;
                c.close(1000, now, core);
            }),
            Command::Subscribe(id, topics) => {
                self.on_legs(id, |c, _, core| c.subscription(&topics, true, now, core))
            }
            Command::Unsubscribe(id, topics) => {
                self.on_legs(id, |c, _, core| c.subscription(&topics, false, now, core))
            }
            Command::Send(id, frame) => self.on_conn(id, |c, _, core| c.send(&frame, now, core)),
            Command::Close(id, code) => self.on_legs(id, |c, _, core| c.close(code, now, core)),
            Command::Route(id, consumers) => {
                let routes = self.routes(&consumers);
                self.on_legs(id, |c, _, _| c.set_routes(routes.clone()));
            }
        }
    }

    fn on_conn(
        &mut self,
        id: ConnectionId,
        f: impl FnOnce(&mut Connection, &mio::Registry, &mut Core),
    ) {
        match self.ids.get(&id) {
            Some(&slot) => self.with_conn(slot, f),
            None => self.core.stats.unknown_connection += 1,
        }
    }

    /// Stops publishing to consumer ring `index` for good and releases it (its slot in the
    /// table stays, so other routes keep their indices).
    #[cold]
    fn retire_consumer(&mut self, index: usize) {
        let Some(p) = self.core.producers.get_mut(index) else {
            return;
        };
        p.retire();
        self.consumer_index
            .retain(|_, &mut i| usize::from(i) != index);
        for c in self.conns.iter_mut().flatten() {
            c.unroute(index as u16);
        }
    }

    fn routes(&self, consumers: &[ConsumerId]) -> Vec<u16> {
        let mut routes: Vec<u16> = consumers
            .iter()
            .filter_map(|c| self.consumer_index.get(c).copied())
            .collect();
        routes.sort_unstable();
        routes.dedup();
        // Rings first: their consumer threads get each message before any inline
        // consumer's callback runs (and delays everything after it).
        let producers = &self.core.producers;
        routes.sort_by_key(|&r| producers.get(usize::from(r)).is_some_and(|p| p.is_inline()));
        routes
    }

    fn close_all(&mut self, now: u64) {
        for slot in 0..self.conns.len() {
            self.with_conn(slot, |c, _, core| c.close(1000, now, core));
        }
    }

    fn all_closed(&self) -> bool {
        self.conns
            .iter()
            .flatten()
            .all(|c| c.state() == State::Closed)
    }

    /// The loop unwound: mark the engine stopped (commands fail from here), tell each
    /// connection's consumers (`Disconnected`, reason `EnginePanic`), and close the sockets.
    /// The consumer rings are dropped with the loop, so consumers then see them abandoned.
    #[cold]
    fn stop_after_panic(&mut self) {
        self.shared.stopped.store(true, Ordering::Release);
        let now = clock::now_ns();
        for slot in 0..self.conns.len() {
            if let Some(Some(c)) = self.conns.get_mut(slot) {
                let core = &mut self.core;
                // The loop's state may be inconsistent: a second panic here must not
                // keep the rest from being told.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    c.report_engine_stop(now, core);
                }));
            }
        }
        self.conns.clear();
    }

    fn finish(&mut self) -> EngineStats {
        self.shared.stopped.store(true, Ordering::Release);
        // Dropping the connections closes their sockets.
        self.conns.clear();
        let mut stats = self.core.stats;
        stats.dropped_events = self
            .core
            .producers
            .iter()
            .map(|p| p.stats().dropped())
            .sum();
        stats.telemetry_dropped = self.core.telemetry.dropped();
        stats
    }
}

#[inline]
fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Profile;

    #[test]
    fn handle_is_clone_send_sync() {
        fn check<T: Clone + Send + Sync>() {}
        check::<EngineHandle>();
    }

    #[test]
    fn pinning_to_a_missing_core_fails_start() {
        let config = EngineConfig {
            pin_core: Some(100_000),
            ..EngineConfig::profile(Profile::LowLatency)
        };
        let err = Engine::builder(config).start().err();
        assert_eq!(err, Some(EngineError::Pin(PinError::NoSuchCore(100_000))));
    }

    #[test]
    fn pinned_engine_starts_and_joins_with_nothing_to_do() {
        let config = EngineConfig {
            pin_core: Some(0),
            ..EngineConfig::profile(Profile::LowLatency)
        };
        let mut b = Engine::builder(config);
        let (_, consumer) = b.consumer(8);
        let engine = b.start().unwrap();
        let h = engine.handle();
        let stats = engine.join().unwrap();
        assert_eq!(stats, EngineStats::default());
        assert!(h.is_stopped());
        assert!(consumer.is_abandoned());
        assert_eq!(
            h.remove(ConnectionId(1)),
            Err(crate::command::CommandError::Stopped)
        );
    }

    /// A handler that does nothing (the connection never gets anywhere).
    struct Idle;
    impl crate::handler::WsHandler for Idle {
        fn on_message(
            &mut self,
            _: crate::handler::Message<'_>,
            _: &mut crate::handler::Context<'_>,
        ) {
        }
    }

    fn unreachable() -> crate::config::ConnectionConfig {
        // Port 9 on loopback: refused at once; the connection backs off and retries.
        crate::config::ConnectionConfig::new("ws://127.0.0.1:9/").unwrap()
    }

    #[test]
    fn a_full_command_queue_is_an_error_at_the_caller() {
        let config = EngineConfig {
            command_capacity: 2,
            ..EngineConfig::default()
        };
        let engine = Engine::builder(config).start().unwrap();
        let h = engine.handle();
        let conn = h
            .add_connection(unreachable(), Box::new(Idle), &[])
            .unwrap();
        // The loop drains the queue concurrently, so push until it reports full.
        let mut full = false;
        for _ in 0..1_000_000 {
            if h.subscribe(conn, Vec::new()) == Err(crate::command::CommandError::QueueFull) {
                full = true;
                break;
            }
        }
        assert!(full);
        engine.join().unwrap();
    }

    /// Issue 19 item 7: capacities beyond the maximum are errors (they aborted the process
    /// or panicked in rtrb), and the engine still starts without them.
    #[test]
    fn consumer_capacities_over_the_maximum_are_errors() {
        use crate::command::CommandError;
        let mut b = Engine::builder(EngineConfig::default());
        for cap in [1 << 30, usize::MAX, ring::MAX_CAPACITY + 1] {
            assert_eq!(
                b.try_consumer(cap).err(),
                Some(EngineError::Capacity(CapacityError { requested: cap }))
            );
        }
        let engine = b.start().unwrap();
        let h = engine.handle();
        for cap in [1 << 30, usize::MAX] {
            assert_eq!(
                h.add_consumer(cap).err(),
                Some(CommandError::Capacity(CapacityError { requested: cap }))
            );
        }
        assert!(h.add_consumer(ring::MAX_CAPACITY / 1024).is_ok());
        engine.join().unwrap();
        // The infallible form defers the error to `start`.
        let mut b = Engine::builder(EngineConfig::default());
        let (_, c) = b.consumer(1 << 30);
        assert!(c.is_abandoned());
        assert_eq!(
            b.start().err(),
            Some(EngineError::Capacity(CapacityError { requested: 1 << 30 }))
        );
    }

    /// Issue 19 item 7: ids from one engine do not act on another's objects, and commands
    /// for unknown ids are errors rather than `Ok(())`.
    #[test]
    fn ids_of_another_engine_and_unknown_ids_are_refused() {
        use crate::command::CommandError;
        let mut b1 = Engine::builder(EngineConfig::default());
        let (c1, _r1) = b1.consumer(64);
        let e1 = b1.start().unwrap();
        let mut b2 = Engine::builder(EngineConfig::default());
        let (c2, _r2) = b2.consumer(64);
        let e2 = b2.start().unwrap();
        let (h1, h2) = (e1.handle(), e2.handle());
        assert_ne!(c1, c2);
        let k1 = h1
            .add_connection(unreachable(), Box::new(Idle), &[c1])
            .unwrap();
        let k2 = h2
            .add_connection(unreachable(), Box::new(Idle), &[c2])
            .unwrap();
        assert_ne!(k1, k2);
        // Engine 2 refuses engine 1's ids, for every command.
        assert_eq!(
            h2.add_connection(unreachable(), Box::new(Idle), &[c1])
                .err(),
            Some(CommandError::UnknownConsumer(c1))
        );
        assert_eq!(h2.route(k2, &[c1]), Err(CommandError::UnknownConsumer(c1)));
        let unknown = Err(CommandError::UnknownConnection(k1));
        assert_eq!(h2.subscribe(k1, vec!["x".into()]), unknown);
        assert_eq!(h2.unsubscribe(k1, vec!["x".into()]), unknown);
        assert_eq!(h2.send_text(k1, "x"), unknown);
        assert_eq!(h2.close(k1, 1000), unknown);
        assert_eq!(h2.route(k1, &[c2]), unknown);
        assert_eq!(h2.remove(k1), unknown);
        assert_eq!(
            h2.remove_consumer(c1),
            Err(CommandError::UnknownConsumer(c1))
        );
        // Never issued at all.
        let never = crate::handler::ConnectionId(u32::MAX);
        assert_eq!(
            h1.subscribe(never, Vec::new()),
            Err(CommandError::UnknownConnection(never))
        );
        // Their own ids work; a removed one is unknown from then on.
        assert_eq!(h1.route(k1, &[c1]), Ok(()));
        assert_eq!(h1.remove(k1), Ok(()));
        assert_eq!(h1.remove(k1), Err(CommandError::UnknownConnection(k1)));
        assert_eq!(h2.remove_consumer(c2), Ok(()));
        assert_eq!(h2.route(k2, &[c2]), Err(CommandError::UnknownConsumer(c2)));
        let s1 = e1.join().unwrap();
        let s2 = e2.join().unwrap();
        assert_eq!((s1.unknown_connection, s2.unknown_connection), (0, 0));
        assert_eq!(s2.removed_consumers, 1);
    }

    /// Issue 19 item 6: a ring that cannot take the handler's deepest run is refused.
    #[test]
    fn a_ring_smaller_than_the_handler_needs_is_refused() {
        use crate::command::CommandError;
        struct Deep;
        impl crate::handler::WsHandler for Deep {
            fn on_message(
                &mut self,
                _: crate::handler::Message<'_>,
                _: &mut crate::handler::Context<'_>,
            ) {
            }
            fn min_ring_capacity(&self) -> usize {
                100
            }
        }
        let mut b = Engine::builder(EngineConfig::default());
        let (small, _s) = b.consumer(99);
        let (big, _b) = b.consumer(100);
        let engine = b.start().unwrap();
        let h = engine.handle();
        assert_eq!(
            h.add_connection(unreachable(), Box::new(Deep), &[big, small])
                .err(),
            Some(CommandError::RingTooSmall {
                consumer: small,
                capacity: 99,
                needed: 100
            })
        );
        let conn = h
            .add_connection(unreachable(), Box::new(Deep), &[big])
            .unwrap();
        assert!(matches!(
            h.route(conn, &[small]),
            Err(CommandError::RingTooSmall { .. })
        ));
        let (late, _l) = h.add_consumer(50).unwrap();
        assert!(matches!(
            h.route(conn, &[late]),
            Err(CommandError::RingTooSmall { needed: 100, .. })
        ));
        // A handler that needs nothing takes any ring.
        assert!(
            h.add_connection(unreachable(), Box::new(Idle), &[small])
                .is_ok()
        );
        engine.join().unwrap();
    }
}
