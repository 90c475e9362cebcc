//! The egress: a thread that drains one engine consumer ring and publishes its events to a
//! JetStream stream, batched per subject ([`crate::codec`], [`crate::subject`]).
//!
//! The engine's I/O thread never sees the bus: it pushes into this consumer's ring as into
//! any other. The egress thread runs a current-thread tokio runtime for the NATS client and
//! loops: drain the ring into one open batch per subject; seal them when the ring is empty
//! (or a batch is full); publish sealed batches, up to `max_in_flight` unacknowledged; take
//! the acks. Each publish carries the `Nats-Msg-Id` `<publisher>-<batch>`, so a batch sent
//! again after a lost ack or a broker restart is stored once (within the stream's
//! `duplicate_window`).
//!
//! **Faults.** A batch whose publish or ack fails stays in the buffer and is sent again, in
//! order, until acknowledged. The buffer (sealed and unacknowledged batches) is bounded by
//! `max_buffer_bytes`: past it, the egress keeps draining the ring (the engine never sees
//! the trouble) but drops events, counting them. Once the buffer has room again it
//! publishes the gap in-band: an `Overflow` status (no instrument; `value` = events
//! dropped, reason `backpressure`) on `<prefix>.<venue>._status` in a batch flagged
//! [`codec::BATCH_GAP`], then a snapshot run of every book it keeps, so consumers (whose
//! books the `Overflow` invalidated) are whole again.
//!
//! **Books.** The egress applies every level and status to its own books, dropped events
//! included. Each time a book becomes valid (the engine's snapshot run after a resync) and
//! every `snapshot_every`, it publishes a snapshot run of it on
//! `<prefix>.<venue>.<symbol>.snap`, tagged with the instrument's last batch number, so a
//! late joiner can start from the latest one ([`crate::remote`]).

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use async_nats::jetstream::{self, message::PublishMessage, stream};
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tickwire_engine::event::{Level, Status};
use tickwire_engine::{
    Book, BookConfig, Consumer, Event, EventKind, Flags, InstrumentId, Reason, Registry, Side,
    StatusKind, clock,
};

use crate::codec::{self, BatchWriter};
use crate::subject;

/// Egress settings.
#[derive(Clone, Debug)]
pub struct EgressConfig {
    /// NATS servers, `nats://host:port`, comma-separated for a cluster.
    pub url: String,
    /// JetStream stream name (created if missing).
    pub stream: String,
    /// First subject token(s).
    pub prefix: String,
    /// Venue named in the subject of status events that concern no instrument (`None`: the
    /// venue of the registry's first instrument).
    pub venue: Option<String>,
    /// Stream storage: file (the default) or memory.
    pub storage: stream::StorageType,
    /// Stream limit in bytes (-1: none). Old messages go first.
    pub max_bytes: i64,
    /// Stream limit on message age (zero: none).
    pub max_age: Duration,
    /// Stream replicas (3 on a 3-node cluster).
    pub replicas: usize,
    /// The stream's dedup window: retries within it are stored once.
    pub duplicate_window: Duration,
    /// Most events in one batch (at most [`codec::MAX_EVENTS`]).
    pub max_batch_events: usize,
    /// Bound on bytes of sealed and unacknowledged batches; past it events are dropped and
    /// the gap is published in-band.
    pub max_buffer_bytes: usize,
    /// Batches published and not yet acknowledged, at most.
    pub max_in_flight: usize,
    /// How long a publish ack is waited for before the batch is sent again.
    pub ack_timeout: Duration,
    /// Snapshot runs of every valid book this often (`None`: only when a book becomes valid
    /// and after a gap).
    pub snapshot_every: Option<Duration>,
    /// Levels a side kept in the egress's books (and so in its snapshot runs).
    pub book_depth: usize,
    /// This egress's id in batch headers and dedup ids (`None`: drawn at random).
    pub publisher: Option<u64>,
    /// How long start-up (connect, create the stream) may take.
    pub connect_timeout: Duration,
    /// After the engine stops, how long the egress still tries to publish what it holds.
    pub drain_timeout: Duration,
}

impl EgressConfig {
    /// Defaults for `url`: stream `TICKWIRE` on `tickwire.>`, file storage, 1 GiB, no age
    /// limit, 1 replica, 2 min dedup window, 1024-event batches, 64 MiB buffer, 256 batches
    /// in flight, 2 s ack timeout, snapshots every 5 s.
    pub fn new(url: &str) -> EgressConfig {
        EgressConfig {
            url: url.to_owned(),
            stream: "TICKWIRE".into(),
            prefix: "tickwire".into(),
            venue: None,
            storage: stream::StorageType::File,
            max_bytes: 1 << 30,
            max_age: Duration::ZERO,
            replicas: 1,
            duplicate_window: Duration::from_secs(120),
            max_batch_events: 1024,
            max_buffer_bytes: 64 << 20,
            max_in_flight: 256,
            ack_timeout: Duration::from_secs(2),
            snapshot_every: Some(Duration::from_secs(5)),
            book_depth: 5000,
            publisher: None,
            connect_timeout: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(10),
        }
    }
}

/// Why the egress could not start or finish.
#[derive(Debug, thiserror::Error)]
pub enum EgressError {
    /// The NATS URL does not parse.
    #[error("bad NATS URL {0:?}: {1}")]
    Url(String, String),
    /// No connection within the connect timeout.
    #[error("cannot connect to NATS at {0}: {1}")]
    Connect(String, String),
    /// The stream could not be created or read.
    #[error("JetStream stream {0:?}: {1}")]
    Stream(String, String),
    /// The thread or its runtime could not start.
    #[error("egress thread: {0}")]
    Thread(String),
    /// The engine stopped and batches were still unacknowledged after the drain timeout.
    #[error("{0} batches ({1} events) still unacknowledged when the egress stopped")]
    Unacked(usize, u64),
}

/// What the egress has done so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EgressStats {
    /// Events taken from the ring.
    pub events_in: u64,
    /// Events in acknowledged batches (snapshot runs and gap statuses not counted).
    pub events_acked: u64,
    /// Batches acknowledged.
    pub batches_acked: u64,
    /// Acks that said the batch was a duplicate (a retry of a stored batch).
    pub duplicates: u64,
    /// Publishes sent again after a failure or an ack timeout.
    pub retries: u64,
    /// Events dropped because the buffer was full.
    pub dropped: u64,
    /// `Overflow` statuses published for drops.
    pub gaps: u64,
    /// Snapshot runs published.
    pub snapshots: u64,
    /// Bytes buffered now (sealed and unacknowledged).
    pub buffered_bytes: u64,
    /// Publish or ack failures.
    pub errors: u64,
    /// Times the connection to the broker was found lost.
    pub disconnects: u64,
}

#[derive(Default)]
struct Shared {
    stop: AtomicBool,
    events_in: AtomicU64,
    events_acked: AtomicU64,
    batches_acked: AtomicU64,
    duplicates: AtomicU64,
    retries: AtomicU64,
    dropped: AtomicU64,
    gaps: AtomicU64,
    snapshots: AtomicU64,
    buffered_bytes: AtomicU64,
    errors: AtomicU64,
    disconnects: AtomicU64,
}

impl Shared {
    fn stats(&self) -> EgressStats {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        EgressStats {
            events_in: l(&self.events_in),
            events_acked: l(&self.events_acked),
            batches_acked: l(&self.batches_acked),
            duplicates: l(&self.duplicates),
            retries: l(&self.retries),
            dropped: l(&self.dropped),
            gaps: l(&self.gaps),
            snapshots: l(&self.snapshots),
            buffered_bytes: l(&self.buffered_bytes),
            errors: l(&self.errors),
            disconnects: l(&self.disconnects),
        }
    }
}

/// A running egress thread.
pub struct Egress {
    shared: Arc<Shared>,
    publisher: u64,
    thread: Option<JoinHandle<Result<(), EgressError>>>,
}

/// Longest a batch stays open while the ring keeps the egress busy.
const LINGER_NS: u64 = 1_000_000;

/// A random 64-bit id (time, pid and a std hasher's random keys; no extra crate).
fn random_id() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(clock::now_ns());
    h.write_u32(std::process::id());
    h.finish() | 1
}

/// Parses `nats://a:1,nats://b:2`.
pub(crate) fn server_addrs(url: &str) -> Result<Vec<async_nats::ServerAddr>, String> {
    url.split(',')
        .map(|u| {
            u.trim()
                .parse::<async_nats::ServerAddr>()
                .map_err(|e| e.to_string())
        })
        .collect()
}

/// Connect options shared by the egress and remote consumers: reconnect for ever, quickly
/// (a restarted broker is found within 250 ms).
pub(crate) fn connect_options() -> async_nats::ConnectOptions {
    async_nats::ConnectOptions::new()
        .max_reconnects(None)
        .reconnect_delay_callback(|n| Duration::from_millis((n as u64 * 25).min(250)))
        .connection_timeout(Duration::from_secs(2))
}

impl Egress {
    /// Starts the egress on `consumer` (a ring of the engine, from
    /// `EngineBuilder::consumer`), naming instruments through `registry`. Returns once it is
    /// connected and the stream exists, or with the error that stopped it.
    pub fn spawn(
        consumer: Consumer,
        registry: Registry,
        config: EgressConfig,
    ) -> Result<Egress, EgressError> {
        let shared = Arc::new(Shared::default());
        let publisher = config.publisher.unwrap_or_else(random_id);
        let (tx, rx) = std::sync::mpsc::channel();
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("tickwire-egress".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| EgressError::Thread(e.to_string()))?;
                rt.block_on(async move {
                    let mut w = match Worker::start(consumer, registry, config, publisher, s).await
                    {
                        Ok(w) => {
                            let _ = tx.send(Ok(()));
                            w
                        }
                        Err(e) => {
                            let _ = tx.send(Err(e));
                            return Ok(());
                        }
                    };
                    w.run().await
                })
            })
            .map_err(|e| EgressError::Thread(e.to_string()))?;
        match rx.recv() {
            Ok(Ok(())) => Ok(Egress {
                shared,
                publisher,
                thread: Some(thread),
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => match thread.join() {
                Ok(Err(e)) => Err(e),
                _ => Err(EgressError::Thread("the egress thread died".into())),
            },
        }
    }

    /// This egress's publisher id.
    pub fn publisher(&self) -> u64 {
        self.publisher
    }

    /// What it has done so far.
    pub fn stats(&self) -> EgressStats {
        self.shared.stats()
    }

    /// Asks the thread to stop without waiting for the engine (what is buffered is still
    /// published, within the drain timeout).
    pub fn stop(&self) {
        self.shared.stop.store(true, Ordering::Relaxed);
    }

    /// Waits for the thread: it ends once the engine has stopped (the ring is abandoned) or
    /// [`Egress::stop`] was called, and everything taken is acknowledged or the drain timeout
    /// has passed.
    pub fn join(mut self) -> Result<EgressStats, EgressError> {
        let r = match self.thread.take().map(JoinHandle::join) {
            Some(Ok(r)) => r,
            _ => Err(EgressError::Thread("the egress thread panicked".into())),
        };
        r.map(|()| self.shared.stats())
    }
}

impl Drop for Egress {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Per instrument (by publisher instrument index).
struct Inst {
    subject: Arc<str>,
    snap_subject: Arc<str>,
    /// Batch numbers on `subject` so far (the last one used).
    seq: u64,
    open: BatchWriter,
    /// Whether an `open` batch has been begun.
    opened: bool,
    book: Option<Book>,
    /// A snapshot run of the book is due (it became valid, or after a gap).
    snapshot_due: bool,
}

struct Sealed {
    subject: Arc<str>,
    msg_id: String,
    payload: Bytes,
    /// Events that count as published (0 for snapshot runs and gap statuses).
    events: u64,
    in_flight: bool,
    acked: bool,
}

type AckFuture = std::pin::Pin<
    Box<dyn std::future::Future<Output = (u64, Result<jetstream::publish::PublishAck, String>)>>,
>;

struct Worker {
    config: EgressConfig,
    registry: Registry,
    consumer: Consumer,
    shared: Arc<Shared>,
    js: jetstream::Context,
    client: async_nats::Client,
    /// Whether the client was connected at the last look.
    connected: bool,
    /// After a failed publish or ack, nothing is sent before this time (ns)...
    resend_after: u64,
    /// ... and the pause doubles with each failure in a row (an election of the stream's
    /// leader answers every publish at once with an error: no hot loop meanwhile).
    backoff: u64,
    publisher: u64,
    /// Instruments by index; `None` until seen.
    insts: Vec<Option<Inst>>,
    /// Venue of the ring's instruments seen so far, for connection-level status events.
    venue: Option<String>,
    status: Option<Inst>,
    /// Sealed batches in publish order; `queue[0]` is batch number `base`.
    queue: VecDeque<Sealed>,
    base: u64,
    /// The first batch not yet in flight or acknowledged (index into `queue`).
    cursor: usize,
    buffered: usize,
    in_flight: FuturesUnordered<AckFuture>,
    /// Events dropped since the last gap status.
    dropping: u64,
    /// When the oldest open batch got its first event (ns; 0: none open).
    first_open: u64,
    next_snapshot: u64,
}

impl Worker {
    async fn start(
        consumer: Consumer,
        registry: Registry,
        config: EgressConfig,
        publisher: u64,
        shared: Arc<Shared>,
    ) -> Result<Worker, EgressError> {
        let addrs =
            server_addrs(&config.url).map_err(|e| EgressError::Url(config.url.clone(), e))?;
        let connect = async_nats::connect_with_options(addrs, connect_options());
        let client = tokio::time::timeout(config.connect_timeout, connect)
            .await
            .map_err(|_| EgressError::Connect(config.url.clone(), "timed out".into()))?
            .map_err(|e| EgressError::Connect(config.url.clone(), e.to_string()))?;
        let js = jetstream::context::ContextBuilder::new()
            .timeout(config.ack_timeout)
            .max_ack_inflight(config.max_in_flight.max(1))
            .build(client.clone());
        ensure_stream(&js, &config).await?;
        let every = config.snapshot_every.map(nanos);
        let config_venue = config
            .venue
            .clone()
            .or_else(|| registry.name(InstrumentId(0)).map(|n| n.venue.to_string()));
        Ok(Worker {
            next_snapshot: every.map_or(u64::MAX, |e| clock::now_ns().saturating_add(e)),
            config,
            registry,
            consumer,
            shared,
            js,
            client,
            connected: true,
            resend_after: 0,
            backoff: 0,
            publisher,
            insts: Vec::new(),
            venue: config_venue,
            status: None,
            queue: VecDeque::new(),
            base: 0,
            cursor: 0,
            buffered: 0,
            in_flight: FuturesUnordered::new(),
            dropping: 0,
            first_open: 0,
        })
    }

    async fn run(&mut self) -> Result<(), EgressError> {
        let max_batch = self.config.max_batch_events.clamp(1, codec::MAX_EVENTS);
        let mut stop_at: Option<u64> = None;
        let mut idle = 0u32;
        loop {
            let mut got = 0usize;
            // Drain a bounded slice so acks and publishes keep up under a flood.
            while got < 8192 {
                let Some(e) = self.consumer.pop() else { break };
                got += 1;
                self.on_event(&e, max_batch);
            }
            let now = clock::now_ns();
            // Seal when the ring is empty; under a flood, still within 1 ms of a batch's
            // first event (a quiet instrument's batch must not wait for a busy one's).
            let stale = self.first_open != 0 && now.saturating_sub(self.first_open) >= LINGER_NS;
            if got == 0 || stale || self.buffered >= self.config.max_buffer_bytes / 2 {
                self.seal_all();
            }
            if self.dropping > 0 && self.buffered < self.config.max_buffer_bytes / 2 {
                self.publish_gap(now);
            }
            if now >= self.next_snapshot {
                self.seal_all();
                for i in self.insts.iter_mut().flatten() {
                    i.snapshot_due = true;
                }
                self.next_snapshot = self
                    .config
                    .snapshot_every
                    .map_or(u64::MAX, |e| now.saturating_add(nanos(e)));
            }
            self.publish_snapshots(now);
            let sent = self.send().await;
            let acked = self.take_acks(Duration::ZERO).await;
            self.shared
                .buffered_bytes
                .store(self.buffered as u64, Ordering::Relaxed);

            let ended = self.consumer.is_abandoned() || self.shared.stop.load(Ordering::Relaxed);
            if ended && got == 0 && self.consumer.is_empty() {
                self.seal_all();
                if self.queue.is_empty() && self.dropping == 0 {
                    return Ok(());
                }
                let deadline = *stop_at
                    .get_or_insert_with(|| now.saturating_add(nanos(self.config.drain_timeout)));
                if now >= deadline {
                    let events = self.queue.iter().map(|s| s.events).sum();
                    return Err(EgressError::Unacked(self.queue.len(), events));
                }
            }
            if got == 0 && !sent && !acked {
                // Nothing to do. The producer never wakes this thread, so the wait bounds the
                // delay of the next event: with acks due, wait for one (an ack wakes it at
                // once; tokio's timer counts in milliseconds); else let the NATS connection's
                // task run, then a short thread sleep.
                idle = idle.saturating_add(1);
                let wait = if idle < 256 {
                    Duration::from_micros(20)
                } else {
                    Duration::from_micros(200)
                };
                if self.in_flight.is_empty() {
                    tokio::task::yield_now().await;
                    std::thread::sleep(wait);
                } else {
                    self.take_acks(Duration::from_millis(1)).await;
                }
            } else {
                idle = 0;
            }
        }
    }

    fn inst(&mut self, id: InstrumentId) -> Option<&mut Inst> {
        let i = id.index();
        if id == InstrumentId::NONE {
            return None;
        }
        if self.insts.len() <= i {
            self.insts.resize_with(i + 1, || None);
        }
        if self.insts[i].is_none() {
            let name = self.registry.name(id)?;
            if self.venue.is_none() {
                self.venue = Some(name.venue.to_string());
            }
            self.insts[i] = Some(Inst {
                subject: subject::events(&self.config.prefix, &name.venue, &name.symbol).into(),
                snap_subject: subject::snapshot(&self.config.prefix, &name.venue, &name.symbol)
                    .into(),
                seq: 0,
                open: BatchWriter::new(),
                opened: false,
                book: None,
                snapshot_due: false,
            });
        }
        self.insts[i].as_mut()
    }

    fn status_inst(&mut self) -> &mut Inst {
        let venue = self.venue.clone().unwrap_or_else(|| "unknown".into());
        let prefix = &self.config.prefix;
        self.status.get_or_insert_with(|| Inst {
            subject: subject::status(prefix, &venue).into(),
            snap_subject: subject::status(prefix, &venue).into(),
            seq: 0,
            open: BatchWriter::new(),
            opened: false,
            book: None,
            snapshot_due: false,
        })
    }

    fn on_event(&mut self, e: &Event, max_batch: usize) {
        self.shared.events_in.fetch_add(1, Ordering::Relaxed);
        let depth = self.config.book_depth;
        let full = self.buffered >= self.config.max_buffer_bytes;
        // Books first: they see every event, dropped or not.
        if e.instrument == InstrumentId::NONE {
            if e.kind() == EventKind::Status {
                for i in self.insts.iter_mut().flatten() {
                    if let Some(b) = i.book.as_mut() {
                        let _ = b.apply_event(e);
                    }
                }
            }
        } else if let Some(i) = self.inst(e.instrument) {
            if matches!(e.kind(), EventKind::BookLevel | EventKind::Status) {
                let b = i
                    .book
                    .get_or_insert_with(|| Book::new(BookConfig::with_depth(depth)));
                let was_valid = b.is_valid();
                let _ = b.apply_event(e);
                if b.is_valid() && !was_valid {
                    i.snapshot_due = true;
                }
            }
        }
        if full || self.dropping > 0 {
            self.dropping += 1;
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if e.instrument == InstrumentId::NONE {
            // Order matters around connection-level events (an Overflow invalidates every
            // book): what came before goes out first.
            self.seal_all();
            let (publisher, now) = (self.publisher, clock::now_ns());
            let s = self.status_inst();
            push_open(s, e, publisher, now);
            self.seal_status();
            return;
        }
        let (publisher, now) = (self.publisher, clock::now_ns());
        if self.first_open == 0 {
            self.first_open = now;
        }
        let Some(i) = self.inst(e.instrument) else {
            return;
        };
        push_open(i, e, publisher, now);
        if i.open.count() >= max_batch {
            let idx = e.instrument.index();
            self.seal(idx);
        }
    }

    fn enqueue(&mut self, subject: Arc<str>, payload: &[u8], events: u64) {
        let n = self.base + self.queue.len() as u64;
        self.buffered += payload.len();
        self.queue.push_back(Sealed {
            subject,
            msg_id: format!("{:016x}-{n}", self.publisher),
            payload: Bytes::copy_from_slice(payload),
            events,
            in_flight: false,
            acked: false,
        });
    }

    fn seal(&mut self, idx: usize) {
        let Some(Some(i)) = self.insts.get_mut(idx) else {
            return;
        };
        if !i.opened {
            return;
        }
        i.opened = false;
        let subject = i.subject.clone();
        let events = i.open.count() as u64;
        let bytes = std::mem::take(&mut i.open);
        self.enqueue(subject, bytes.bytes(), events);
        if let Some(Some(i)) = self.insts.get_mut(idx) {
            i.open = bytes;
        }
    }

    fn seal_status(&mut self) {
        let Some(s) = self.status.as_mut() else {
            return;
        };
        if !s.opened {
            return;
        }
        s.opened = false;
        let subject = s.subject.clone();
        let events = s.open.count() as u64;
        let bytes = std::mem::take(&mut s.open);
        self.enqueue(subject, bytes.bytes(), events);
        if let Some(s) = self.status.as_mut() {
            s.open = bytes;
        }
    }

    fn seal_all(&mut self) {
        self.first_open = 0;
        for idx in 0..self.insts.len() {
            self.seal(idx);
        }
        self.seal_status();
    }

    /// The in-band record of a drop: an `Overflow` status, then snapshot runs of every book.
    fn publish_gap(&mut self, now: u64) {
        self.seal_all();
        let status = Status {
            kind: StatusKind::Overflow,
            reason: Reason::Backpressure as u16,
            value: self.dropping,
            connection: 0,
        };
        let e = Event::status(InstrumentId::NONE, status, now);
        let publisher = self.publisher;
        let s = self.status_inst();
        s.seq += 1;
        let mut w = BatchWriter::new();
        w.begin(codec::BATCH_GAP, publisher, s.seq, now);
        w.push(&e);
        let subject = s.subject.clone();
        self.enqueue(subject, w.bytes(), 0);
        self.dropping = 0;
        self.shared.gaps.fetch_add(1, Ordering::Relaxed);
        for i in self.insts.iter_mut().flatten() {
            i.snapshot_due = true;
        }
    }

    /// Snapshot runs of the books that are due and valid: a batch on the `.snap` subject
    /// whose subject sequence is the instrument's last batch number (the run is the book
    /// after that batch).
    fn publish_snapshots(&mut self, now: u64) {
        if self.dropping > 0 {
            return;
        }
        for idx in 0..self.insts.len() {
            let due = matches!(&self.insts[idx], Some(i) if i.snapshot_due);
            if !due {
                continue;
            }
            // The run must follow every delta of the instrument taken so far.
            self.seal(idx);
            let Some(Some(i)) = self.insts.get_mut(idx) else {
                continue;
            };
            i.snapshot_due = false;
            let Some(book) = i.book.as_ref().filter(|b| b.is_valid()) else {
                continue;
            };
            let mut w = BatchWriter::new();
            w.begin(codec::BATCH_SNAPSHOT, self.publisher, i.seq, now);
            let n = book.bid_len() + book.ask_len();
            if n == 0 {
                continue;
            }
            let id = InstrumentId(idx as u32);
            let seq = book.seq();
            let levels = book
                .bids(usize::MAX)
                .map(|l| (Side::BID, l))
                .chain(book.asks(usize::MAX).map(|l| (Side::ASK, l)));
            for (k, (side, (price, qty))) in levels.enumerate() {
                let mut flags = Flags::SNAPSHOT;
                if k == 0 {
                    flags = flags.with(Flags::RUN_START);
                }
                if k + 1 == n {
                    flags = flags.with(Flags::LAST_IN_BATCH);
                }
                let l = Level {
                    side,
                    price,
                    qty,
                    seq,
                };
                if let Ok(e) = Event::level(id, l, flags, 0, now) {
                    w.push(&e);
                }
            }
            let subject = i.snap_subject.clone();
            self.enqueue(subject, w.bytes(), 0);
            self.shared.snapshots.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Publishes queued batches, in order, while fewer than `max_in_flight` wait for acks.
    async fn send(&mut self) -> bool {
        let mut sent = false;
        if self.client.connection_state() != async_nats::connection::State::Connected {
            // While the client reconnects its queue would only fill with stale publishes.
            if self.connected {
                self.connected = false;
                self.shared.disconnects.fetch_add(1, Ordering::Relaxed);
            }
            return false;
        }
        self.connected = true;
        if clock::now_ns() < self.resend_after {
            return false;
        }
        while self.cursor < self.queue.len() && self.in_flight.len() < self.config.max_in_flight {
            let s = &mut self.queue[self.cursor];
            if s.in_flight || s.acked {
                self.cursor += 1;
                continue;
            }
            let n = self.base + self.cursor as u64;
            let publish = PublishMessage::build()
                .payload(s.payload.clone())
                .message_id(s.msg_id.as_str());
            let subject = s.subject.to_string();
            match self.js.send_publish(subject, publish).await {
                Ok(ack) => {
                    s.in_flight = true;
                    self.in_flight.push(Box::pin(async move {
                        (n, ack.await.map_err(|e| e.to_string()))
                    }));
                    self.cursor += 1;
                    sent = true;
                }
                Err(_) => {
                    // Disconnected, or the client's queue is full: try again later.
                    self.shared.errors.fetch_add(1, Ordering::Relaxed);
                    self.pause();
                    break;
                }
            }
        }
        sent
    }

    /// Holds back sending for a while after a failure: 10 ms, doubling to 500 ms.
    fn pause(&mut self) {
        self.backoff = (self.backoff * 2).clamp(10_000_000, 500_000_000);
        self.resend_after = clock::now_ns().saturating_add(self.backoff);
    }

    /// Takes acks: those ready now, or (with a non-zero `wait`) the first within `wait`.
    async fn take_acks(&mut self, wait: Duration) -> bool {
        let mut any = false;
        loop {
            let next = if wait.is_zero() || any {
                match futures_util::FutureExt::now_or_never(self.in_flight.next()) {
                    Some(x) => x,
                    None => break,
                }
            } else {
                match tokio::time::timeout(wait, self.in_flight.next()).await {
                    Ok(x) => x,
                    Err(_) => break,
                }
            };
            let Some((n, result)) = next else { break };
            any = true;
            let Some(idx) = n.checked_sub(self.base).map(|i| i as usize) else {
                continue;
            };
            let Some(s) = self.queue.get_mut(idx) else {
                continue;
            };
            s.in_flight = false;
            match result {
                Ok(ack) => {
                    s.acked = true;
                    self.backoff = 0;
                    if ack.duplicate {
                        self.shared.duplicates.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Err(_) => {
                    // Sent again (same dedup id) from here, in order.
                    self.shared.errors.fetch_add(1, Ordering::Relaxed);
                    self.shared.retries.fetch_add(1, Ordering::Relaxed);
                    self.cursor = self.cursor.min(idx);
                    self.pause();
                }
            }
        }
        while self.queue.front().is_some_and(|s| s.acked) {
            if let Some(s) = self.queue.pop_front() {
                self.buffered -= s.payload.len();
                self.base += 1;
                self.cursor = self.cursor.saturating_sub(1);
                self.shared
                    .events_acked
                    .fetch_add(s.events, Ordering::Relaxed);
                self.shared.batches_acked.fetch_add(1, Ordering::Relaxed);
            }
        }
        any
    }
}

fn push_open(i: &mut Inst, e: &Event, publisher: u64, now: u64) {
    if !i.opened {
        i.seq += 1;
        i.open.begin(0, publisher, i.seq, now);
        i.opened = true;
    }
    i.open.push(e);
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Creates the stream if missing (an existing one is used as it is).
pub(crate) async fn ensure_stream(
    js: &jetstream::Context,
    config: &EgressConfig,
) -> Result<(), EgressError> {
    let cfg = stream::Config {
        name: config.stream.clone(),
        subjects: vec![format!("{}.>", config.prefix)],
        storage: config.storage,
        max_bytes: config.max_bytes,
        max_age: config.max_age,
        num_replicas: config.replicas.max(1),
        duplicate_window: config.duplicate_window,
        ..Default::default()
    };
    js.get_or_create_stream(cfg)
        .await
        .map(|_| ())
        .map_err(|e| EgressError::Stream(config.stream.clone(), e.to_string()))
}

/// Deletes stream `name` at `url` (benchmarks clean up after themselves). Returns whether it
/// existed.
pub fn delete_stream(url: &str, name: &str) -> Result<bool, EgressError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| EgressError::Thread(e.to_string()))?;
    rt.block_on(async {
        let addrs = server_addrs(url).map_err(|e| EgressError::Url(url.to_owned(), e))?;
        let client = tokio::time::timeout(
            Duration::from_secs(10),
            async_nats::connect_with_options(addrs, connect_options()),
        )
        .await
        .map_err(|_| EgressError::Connect(url.to_owned(), "timed out".into()))?
        .map_err(|e| EgressError::Connect(url.to_owned(), e.to_string()))?;
        let js = jetstream::new(client);
        match js.delete_stream(name).await {
            Ok(_) => Ok(true),
            Err(e) if e.to_string().contains("not found") => Ok(false),
            Err(e) => Err(EgressError::Stream(name.to_owned(), e.to_string())),
        }
    })
}
