//! The consumer thread behind `tickwire run`, the demo and the live view: it pops every
//! event of one engine ring, rebuilds each instrument's book from the events
//! ([`Book::apply_event`]), counts what it sees, records the consumer-side stage latencies
//! ([`StageRecorder`]) and, when asked, prints every event as a JSON line (the
//! `tickwire decode` format, [`tickwire_feeds::jsonl`]).
//!
//! What it has seen is a [`Watch`]: the thread copies its own into a shared slot every
//! `publish_every`, and hands the stage recorder to a sink (normally
//! `DefaultCollector::merge_consumer`) at the same time. Nothing is shared per event.

use std::collections::VecDeque;
use std::io::Write;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tickwire_engine::adapter::{StreamKind, status_silence_ms};
use tickwire_engine::book::{Book, BookConfig, EventEffect};
use tickwire_engine::clock;
use tickwire_engine::event::{Bbo, EventKind, Flags, StatusKind, Trade};
use tickwire_engine::telemetry::StageRecorder;
use tickwire_engine::{Consumer, Decimal, Event, InstrumentId, Reason, Registry};
use tickwire_feeds::jsonl::JsonLines;

/// Notes kept in [`Watch::log`].
pub const LOG_LEN: usize = 8;

/// Empty looks that only yield before [`Idle::Sleep`] starts sleeping.
pub const YIELDS_BEFORE_SLEEP: u32 = 64;

/// [`Idle::Sleep`] sleeps this fraction (1/n) of the quiet spell so far.
pub const QUIET_SHARE: u32 = 32;

/// The shortest sleep of [`Idle::Sleep`].
pub const FIRST_SLEEP: Duration = Duration::from_micros(20);

/// The sleep of [`Idle::Sleep`] after `empty` empty looks in a row spanning `quiet` (time
/// since the first of them), bounded by `max`: none (yield) for the first
/// [`YIELDS_BEFORE_SLEEP`], then 1/[`QUIET_SHARE`] of the quiet spell, at least
/// [`FIRST_SLEEP`]. Sleeping in proportion keeps the added delay of the next event to about
/// 1/32 of the gap before it (a busy feed sees short sleeps), while a feed quiet for more
/// than `32 × max`
/// wakes the thread only once per `max`.
pub fn idle_sleep(empty: u32, quiet: Duration, max: Duration) -> Option<Duration> {
    if empty < YIELDS_BEFORE_SLEEP {
        return None;
    }
    Some((quiet / QUIET_SHARE).clamp(FIRST_SLEEP, max.max(FIRST_SLEEP)))
}

/// Decode errors noted one by one before only the counter moves.
const DECODE_NOTES: u64 = 3;

/// Printed lines are written out once this many bytes are pending, and whenever the ring
/// is empty: one `write` per batch of events instead of one per line.
pub const PRINT_FLUSH_BYTES: usize = 32 * 1024;

/// What the consumer does when its ring is empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Idle {
    /// `sched_yield` and look again: lowest latency; the thread stays runnable.
    Yield,
    /// Yield for a while, then sleep between looks, 1/32 of the quiet spell so far,
    /// from [`FIRST_SLEEP`] up to this long ([`idle_sleep`]): near 0 % CPU when idle, and
    /// an event resets it, so a busy feed sees only short sleeps. The producer never wakes
    /// the consumer (that would be a syscall on the I/O thread's hot path), so this bounds
    /// the extra delay of the first event after a quiet spell.
    Sleep(Duration),
}

/// Settings of a consumer thread.
#[derive(Clone, Debug)]
pub struct TapConfig {
    /// Venue named by status lines that carry no instrument (JSON output).
    pub venue: String,
    /// Print every event as a JSON line on the output (stdout), written out whenever the
    /// ring is empty and every [`PRINT_FLUSH_BYTES`] in between.
    pub print: bool,
    /// Behaviour on an empty ring.
    pub idle: Idle,
    /// Levels per side of the rebuilt books.
    pub book_depth: usize,
    /// Times in notes are measured from here.
    pub epoch: Instant,
    /// How often the shared [`Watch`] is refreshed and the stage recorder handed over.
    pub publish_every: Duration,
}

impl TapConfig {
    /// Defaults for `venue`: no printing, yield when idle, 5000-level books, 100 ms refresh.
    pub fn new(venue: &str) -> TapConfig {
        TapConfig {
            venue: venue.to_owned(),
            print: false,
            idle: Idle::Yield,
            book_depth: 5000,
            epoch: Instant::now(),
            publish_every: Duration::from_millis(100),
        }
    }
}

/// Receives the consumer's stage recorder now and then (and must reset it, as
/// `DefaultCollector::merge_consumer` does).
pub type StageSink = Box<dyn FnMut(&mut StageRecorder) + Send>;

/// How serious a [`Note`] is (the view colours it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoteLevel {
    /// Normal life: connected, book in sync.
    Info,
    /// Recoverable trouble: gap, resync, reconnect, overflow, decode error.
    Warn,
    /// Needs the user: a refused subscription, a connection given up.
    Error,
}

/// Something worth a line in the view's log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    /// When, since [`TapConfig::epoch`].
    pub at: Duration,
    /// 1, 2, 3, ... in the order noted (to print each note once).
    pub seq: u64,
    /// How serious.
    pub level: NoteLevel,
    /// What happened.
    pub text: String,
}

/// One connection as seen through its status events.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnWatch {
    /// Engine connection id.
    pub id: u32,
    /// Live now (a `Connected` not followed by a `Disconnected`).
    pub live: bool,
    /// Sessions that became live.
    pub sessions: u64,
    /// Number of the last reconnect attempt announced (`Reconnecting` value); before the
    /// first session it counts the failed attempts.
    pub attempt: u64,
    /// Reason of the last disconnect or failed attempt.
    pub last_reason: Option<Reason>,
    /// The connection stopped for good (no reconnect follows).
    pub closed: bool,
}

/// A subscription the venue refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// Engine connection id.
    pub connection: u32,
    /// The request id of the refused subscribe frame.
    pub request: u64,
    /// When, since [`TapConfig::epoch`].
    pub at: Duration,
}

/// The top of one rebuilt book.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BookTop {
    /// Built from a complete snapshot and every diff since.
    pub valid: bool,
    /// Best bid (price, quantity).
    pub bid: Option<(Decimal, Decimal)>,
    /// Best ask (price, quantity).
    pub ask: Option<(Decimal, Decimal)>,
    /// Levels held (both sides).
    pub levels: usize,
    /// Venue sequence of the last complete message.
    pub seq: u64,
}

/// One instrument as seen through its events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstrumentWatch {
    /// The instrument.
    pub id: InstrumentId,
    /// Its symbol.
    pub symbol: Arc<str>,
    /// The rebuilt book, once a book event was seen.
    pub book: Option<BookTop>,
    /// The last best bid and offer (bookTicker).
    pub bbo: Option<Bbo>,
    /// Trades seen.
    pub trades: u64,
    /// The last trade.
    pub last_trade: Option<Trade>,
    /// Book events (levels) seen.
    pub levels: u64,
    /// Gaps reported.
    pub gaps: u64,
    /// Resyncs reported.
    pub resyncs: u64,
    /// Snapshot runs completed.
    pub snapshots: u64,
    /// `SnapshotFailed` statuses (snapshots that could not be had or used).
    pub snapshot_failures: u64,
    /// The last snapshot failure: its reason code and value.
    pub last_snapshot_failure: Option<(u16, u64)>,
    /// Time from the last resync to the snapshot that ended it.
    pub last_recovery: Option<Duration>,
    /// Its streams reported stale and not back yet (see [`InstrumentWatch::stale_kinds`]).
    pub stale: u8,
    /// Per-stream `Stale` statuses for this instrument.
    pub stale_reports: u64,
    /// I/O-thread time of the resync still open (0: none).
    resync_since: u64,
}

impl InstrumentWatch {
    /// The kinds of its streams stale now (trade, book, bbo).
    pub fn stale_kinds(&self) -> impl Iterator<Item = StreamKind> + '_ {
        StreamKind::ALL
            .into_iter()
            .filter(|k| self.stale & (1 << *k as u8) != 0)
    }
}

impl InstrumentWatch {
    /// Nothing seen yet of `id` (`symbol`).
    pub fn new(id: InstrumentId, symbol: Arc<str>) -> InstrumentWatch {
        InstrumentWatch {
            id,
            symbol,
            book: None,
            bbo: None,
            trades: 0,
            last_trade: None,
            levels: 0,
            gaps: 0,
            resyncs: 0,
            snapshots: 0,
            snapshot_failures: 0,
            last_snapshot_failure: None,
            last_recovery: None,
            stale: 0,
            stale_reports: 0,
            resync_since: 0,
        }
    }
}

/// Everything the consumer has seen so far.
#[derive(Clone, Debug, Default)]
pub struct Watch {
    /// Events popped.
    pub events: u64,
    /// Trade events.
    pub trades: u64,
    /// Book-level events.
    pub levels: u64,
    /// BBO events.
    pub bbos: u64,
    /// Status events.
    pub statuses: u64,
    /// `Gap` statuses.
    pub gaps: u64,
    /// `Resync` statuses.
    pub resyncs: u64,
    /// Snapshot runs completed (books (re)built).
    pub snapshots: u64,
    /// `SnapshotFailed` statuses: snapshots that could not be had (HTTP error, rate limit,
    /// ban, garbage) or used (too old, crossed, never lining up with the stream).
    pub snapshot_failures: u64,
    /// `Overflow` statuses (this consumer fell behind).
    pub overflows: u64,
    /// Events dropped, per the `Overflow` statuses.
    pub dropped: u64,
    /// `DecodeError` statuses.
    pub decode_errors: u64,
    /// `Stale` statuses (per stream and per connection).
    pub stale: u64,
    /// `Resumed` statuses: stale streams that came back.
    pub resumed: u64,
    /// `Rotating` statuses.
    pub rotations: u64,
    /// Levels the rebuilt books rejected (then resynced by the next snapshot).
    pub book_errors: u64,
    /// Connections, by id.
    pub connections: Vec<ConnWatch>,
    /// Refused subscriptions, in arrival order.
    pub refused: Vec<Refusal>,
    /// Instruments seen, in order of first sight.
    pub instruments: Vec<InstrumentWatch>,
    /// The last [`LOG_LEN`] notes.
    pub log: VecDeque<Note>,
    /// Notes made so far (the `seq` of the last one).
    pub notes: u64,
    /// Printing failed (stdout closed): the run should end.
    pub output_closed: bool,
    /// The engine is gone and the ring drained: nothing more will come.
    pub finished: bool,
}

impl Watch {
    /// Sessions that went live again after the first, over all connections.
    pub fn reconnects(&self) -> u64 {
        self.connections
            .iter()
            .map(|c| c.sessions.saturating_sub(1))
            .sum()
    }

    /// Connections live now.
    pub fn live(&self) -> usize {
        self.connections.iter().filter(|c| c.live).count()
    }

    /// The connection `id`, if seen.
    pub fn connection(&self, id: u32) -> Option<&ConnWatch> {
        self.connections.iter().find(|c| c.id == id)
    }
}

/// A running consumer thread.
pub struct Tap {
    shared: Arc<Mutex<Watch>>,
    thread: Option<JoinHandle<Watch>>,
}

impl Tap {
    /// Starts a thread consuming `consumer`, naming instruments through `registry`; printed
    /// lines go to stdout.
    pub fn spawn(
        consumer: Consumer,
        registry: Registry,
        config: TapConfig,
        sink: StageSink,
    ) -> std::io::Result<Tap> {
        Tap::spawn_with_output(
            consumer,
            registry,
            config,
            sink,
            Box::new(std::io::stdout()),
        )
    }

    /// [`Tap::spawn`] printing to `out` instead of stdout.
    pub fn spawn_with_output(
        consumer: Consumer,
        registry: Registry,
        config: TapConfig,
        sink: StageSink,
        out: Box<dyn Write + Send>,
    ) -> std::io::Result<Tap> {
        let shared = Arc::new(Mutex::new(Watch::default()));
        let worker = Worker {
            lines: JsonLines::new(registry.clone(), &config.venue),
            registry,
            consumer,
            shared: shared.clone(),
            rec: StageRecorder::new(),
            sink,
            watch: Watch::default(),
            books: Vec::new(),
            slots: Vec::new(),
            text: Vec::with_capacity(PRINT_FLUSH_BYTES + 4096),
            out,
            config,
        };
        let thread = std::thread::Builder::new()
            .name("tickwire-consumer".into())
            .spawn(move || worker.run())?;
        Ok(Tap {
            shared,
            thread: Some(thread),
        })
    }

    /// The latest copy of what the consumer has seen (at most `publish_every` old).
    pub fn watch(&self) -> MutexGuard<'_, Watch> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for the thread (it ends once the engine has stopped and the ring is drained)
    /// and returns its final [`Watch`].
    pub fn join(mut self) -> Watch {
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(w)) => w,
            _ => self.watch().clone(),
        }
    }
}

struct Worker {
    config: TapConfig,
    registry: Registry,
    consumer: Consumer,
    shared: Arc<Mutex<Watch>>,
    rec: StageRecorder,
    sink: StageSink,
    lines: JsonLines,
    watch: Watch,
    /// Rebuilt book per instrument index.
    books: Vec<Option<Book>>,
    /// Position in `watch.instruments` per instrument index (`usize::MAX`: not yet).
    slots: Vec<usize>,
    /// Printed lines not yet written out.
    text: Vec<u8>,
    out: Box<dyn Write + Send>,
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn reason_name(code: u16) -> &'static str {
    Reason::from_code(code).map_or("unknown", Reason::name)
}

impl Worker {
    fn run(mut self) -> Watch {
        let every = nanos(self.config.publish_every).max(1);
        let mut next_publish = clock::now_ns().saturating_add(every);
        let mut empty: u32 = 0;
        // When the current run of empty looks began.
        let mut quiet_since: u64 = 0;
        loop {
            if let Some(e) = self.consumer.pop() {
                empty = 0;
                let now = clock::now_ns();
                self.rec.record(&e, now);
                self.on_event(&e, now);
                if self.text.len() >= PRINT_FLUSH_BYTES {
                    self.flush_print();
                }
                if now >= next_publish {
                    self.publish();
                    next_publish = now.saturating_add(every);
                }
                continue;
            }
            if self.consumer.is_abandoned() {
                // The I/O thread is gone: take what it pushed before it left.
                while let Some(e) = self.consumer.pop() {
                    let now = clock::now_ns();
                    self.rec.record(&e, now);
                    self.on_event(&e, now);
                    if self.text.len() >= PRINT_FLUSH_BYTES {
                        self.flush_print();
                    }
                }
                self.flush_print();
                break;
            }
            // Caught up: what was printed goes out before the thread idles.
            self.flush_print();
            let now = clock::now_ns();
            if now >= next_publish {
                self.publish();
                next_publish = now.saturating_add(every);
            }
            if empty == 0 {
                quiet_since = now;
            }
            match self.config.idle {
                Idle::Yield => std::thread::yield_now(),
                Idle::Sleep(max) => {
                    let quiet = Duration::from_nanos(now.saturating_sub(quiet_since));
                    match idle_sleep(empty, quiet, max) {
                        Some(d) => std::thread::sleep(d),
                        None => std::thread::yield_now(),
                    }
                    empty = empty.saturating_add(1);
                }
            }
        }
        self.watch.finished = true;
        self.publish();
        self.watch
    }

    /// Refreshes the book tops, hands over the stage recorder and copies the watch out.
    fn publish(&mut self) {
        for w in &mut self.watch.instruments {
            if let Some(Some(book)) = self.books.get(w.id.index()) {
                w.book = Some(top_of(book));
            }
        }
        (self.sink)(&mut self.rec);
        let mut shared = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        shared.clone_from(&self.watch);
    }

    fn note(&mut self, level: NoteLevel, text: String) {
        self.watch.notes += 1;
        if self.watch.log.len() == LOG_LEN {
            self.watch.log.pop_front();
        }
        self.watch.log.push_back(Note {
            at: self.config.epoch.elapsed(),
            seq: self.watch.notes,
            level,
            text,
        });
    }

    /// The watch slot of `id`, created on first sight (`None` for no instrument).
    fn slot(&mut self, id: InstrumentId) -> Option<usize> {
        if id == InstrumentId::NONE {
            return None;
        }
        let i = id.index();
        if self.slots.len() <= i {
            self.slots.resize(i + 1, usize::MAX);
        }
        if self.slots[i] == usize::MAX {
            let symbol: Arc<str> = match self.registry.name(id) {
                Some(n) => n.symbol,
                None => format!("#{}", id.0).into(),
            };
            self.slots[i] = self.watch.instruments.len();
            self.watch
                .instruments
                .push(InstrumentWatch::new(id, symbol));
        }
        Some(self.slots[i])
    }

    fn book(&mut self, id: InstrumentId) -> &mut Book {
        let i = id.index();
        if self.books.len() <= i {
            self.books.resize_with(i + 1, || None);
        }
        let depth = self.config.book_depth;
        self.books[i].get_or_insert_with(|| Book::new(BookConfig::with_depth(depth)))
    }

    /// Writes out the printed lines held (stdout is line-buffered: a batch of whole lines
    /// goes out at once, in one `write` when it fits the pipe).
    fn flush_print(&mut self) {
        if self.text.is_empty() {
            return;
        }
        if !self.watch.output_closed
            && (self.out.write_all(&self.text).is_err() || self.out.flush().is_err())
        {
            self.watch.output_closed = true;
        }
        self.text.clear();
    }

    fn on_event(&mut self, e: &Event, now: u64) {
        self.watch.events += 1;
        if self.config.print && !self.watch.output_closed {
            self.lines.write(e, &mut self.text);
        }
        match e.kind() {
            EventKind::Trade => {
                self.watch.trades += 1;
                if let Some(s) = self.slot(e.instrument) {
                    let w = &mut self.watch.instruments[s];
                    w.trades += 1;
                    w.last_trade = e.as_trade();
                }
            }
            EventKind::Bbo => {
                self.watch.bbos += 1;
                if let Some(s) = self.slot(e.instrument) {
                    self.watch.instruments[s].bbo = e.as_bbo();
                }
            }
            EventKind::BookLevel => self.on_level(e, now),
            EventKind::Status => self.on_status(e, now),
        }
    }

    fn on_level(&mut self, e: &Event, now: u64) {
        let at = if e.recv_ts != 0 { e.recv_ts } else { now };
        self.watch.levels += 1;
        let Some(s) = self.slot(e.instrument) else {
            return;
        };
        self.watch.instruments[s].levels += 1;
        let effect = self.book(e.instrument).apply_event(e);
        let snapshot_done = e.flags.contains(Flags::SNAPSHOT.with(Flags::LAST_IN_BATCH));
        match effect {
            Err(_) => {
                self.watch.book_errors += 1;
                let text = format!(
                    "{}: a level did not fit the rebuilt book; waiting for the next snapshot",
                    self.watch.instruments[s].symbol
                );
                self.note(NoteLevel::Warn, text);
            }
            Ok(EventEffect::Level { .. }) if snapshot_done => {
                let (levels, seq) = {
                    let b = self.book(e.instrument);
                    (b.bid_len() + b.ask_len(), b.seq())
                };
                self.watch.snapshots += 1;
                let w = &mut self.watch.instruments[s];
                w.snapshots += 1;
                // Both ends stamped by the I/O thread, so consumer lag does not count.
                let recovered = (w.resync_since != 0)
                    .then(|| Duration::from_nanos(at.saturating_sub(w.resync_since)));
                w.resync_since = 0;
                w.last_snapshot_failure = None;
                if recovered.is_some() {
                    w.last_recovery = recovered;
                }
                let symbol = w.symbol.clone();
                let text = match recovered {
                    Some(d) => format!(
                        "{symbol}: book back in sync after {} ({levels} levels, update {seq})",
                        crate::text::fmt_duration(d)
                    ),
                    None => format!("{symbol}: book in sync ({levels} levels, update {seq})"),
                };
                self.note(NoteLevel::Info, text);
            }
            Ok(_) => {}
        }
    }

    fn conn(&mut self, id: u32) -> &mut ConnWatch {
        let i = match self.watch.connections.iter().position(|c| c.id == id) {
            Some(i) => i,
            None => {
                self.watch.connections.push(ConnWatch {
                    id,
                    ..ConnWatch::default()
                });
                self.watch.connections.sort_by_key(|c| c.id);
                self.watch
                    .connections
                    .iter()
                    .position(|c| c.id == id)
                    .unwrap_or(0)
            }
        };
        &mut self.watch.connections[i]
    }

    fn on_status(&mut self, e: &Event, now: u64) {
        let at = if e.recv_ts != 0 { e.recv_ts } else { now };
        self.watch.statuses += 1;
        let Some(s) = e.as_status() else {
            return;
        };
        let slot = self.slot(e.instrument);
        let symbol: Arc<str> = match slot {
            Some(i) => self.watch.instruments[i].symbol.clone(),
            None => Arc::from(""),
        };
        let reason = reason_name(s.reason);
        let c = s.connection;
        match s.kind {
            StatusKind::Connected => {
                let w = self.conn(c);
                w.live = true;
                w.sessions += 1;
                w.attempt = 0;
                w.closed = false;
                let text = if w.sessions > 1 {
                    format!("connection {c} live again (session {})", w.sessions)
                } else {
                    format!("connection {c} live")
                };
                self.note(NoteLevel::Info, text);
            }
            StatusKind::Disconnected => {
                let w = self.conn(c);
                w.live = false;
                w.last_reason = Reason::from_code(s.reason);
                // Closed for good unless a `Reconnecting` follows.
                w.closed = true;
                if s.reason == Reason::Shutdown.code() {
                    self.note(NoteLevel::Info, format!("connection {c} closed"));
                } else {
                    let text = format!(
                        "connection {c} down: {}",
                        crate::text::reason_text(s.reason)
                    );
                    self.note(NoteLevel::Warn, text);
                }
            }
            StatusKind::Reconnecting => {
                let w = self.conn(c);
                w.live = false;
                w.closed = false;
                w.attempt = s.value;
                w.last_reason = Reason::from_code(s.reason);
                let text = format!(
                    "connection {c}: {}, reconnecting (attempt {})",
                    crate::text::reason_text(s.reason),
                    s.value
                );
                self.note(NoteLevel::Warn, text);
            }
            StatusKind::Stale if e.instrument != InstrumentId::NONE => {
                self.watch.stale += 1;
                let kind = StreamKind::from_status_value(s.value);
                if let (Some(i), Some(k)) = (slot, kind) {
                    let w = &mut self.watch.instruments[i];
                    w.stale |= 1 << k as u8;
                    w.stale_reports += 1;
                }
                let name = kind.map_or("?", StreamKind::name);
                self.note(
                    NoteLevel::Warn,
                    format!(
                        "{symbol}: {name} stream stale (silent {} ms)",
                        status_silence_ms(s.value)
                    ),
                );
            }
            StatusKind::Resumed => {
                self.watch.resumed += 1;
                let kind = StreamKind::from_status_value(s.value);
                if let (Some(i), Some(k)) = (slot, kind) {
                    self.watch.instruments[i].stale &= !(1 << k as u8);
                }
                let name = kind.map_or("?", StreamKind::name);
                let text = match status_silence_ms(s.value) {
                    0 => format!("{symbol}: {name} stream back (new session)"),
                    ms => format!("{symbol}: {name} stream back after {ms} ms"),
                };
                self.note(NoteLevel::Info, text);
            }
            StatusKind::Stale => {
                self.watch.stale += 1;
                self.note(
                    NoteLevel::Warn,
                    format!("connection {c}: no data within the stale limit, recycling"),
                );
            }
            StatusKind::Gap => {
                self.watch.gaps += 1;
                if let Some(i) = slot {
                    self.watch.instruments[i].gaps += 1;
                }
                self.note(
                    NoteLevel::Warn,
                    format!(
                        "{symbol}: gap in the update ids (expected {}), resyncing",
                        s.value
                    ),
                );
            }
            // The engine is shutting down: the stream ends here, the book is kept as last seen.
            StatusKind::Resync if s.reason == Reason::Shutdown.code() => {}
            StatusKind::Resync => {
                self.watch.resyncs += 1;
                let after_gap = self
                    .watch
                    .log
                    .back()
                    .is_some_and(|n| n.text.starts_with(&format!("{symbol}: gap")));
                if let Some(i) = slot {
                    let w = &mut self.watch.instruments[i];
                    w.resyncs += 1;
                    if w.resync_since == 0 {
                        w.resync_since = at;
                    }
                    self.book(e.instrument).invalidate();
                }
                if !after_gap {
                    self.note(
                        NoteLevel::Warn,
                        format!("{symbol}: book invalid ({reason}), resyncing"),
                    );
                }
            }
            StatusKind::Overflow => {
                self.watch.overflows += 1;
                self.watch.dropped += s.value;
                for b in self.books.iter_mut().flatten() {
                    b.invalidate();
                }
                for w in &mut self.watch.instruments {
                    if w.book.is_some() && w.resync_since == 0 {
                        w.resync_since = at;
                    }
                }
                self.note(
                    NoteLevel::Warn,
                    format!(
                        "overflow: {} events dropped (this consumer fell behind); books wait for a snapshot",
                        s.value
                    ),
                );
            }
            StatusKind::DecodeError => {
                self.watch.decode_errors += 1;
                if self.watch.decode_errors <= DECODE_NOTES {
                    let what = if symbol.is_empty() {
                        String::new()
                    } else {
                        format!(" ({symbol})")
                    };
                    self.note(
                        NoteLevel::Warn,
                        format!("a frame could not be decoded: {reason}{what}; skipped"),
                    );
                }
            }
            StatusKind::SubscriptionError => {
                let at = self.config.epoch.elapsed();
                // Noted by the caller, who knows which streams the request asked for.
                self.watch.refused.push(Refusal {
                    connection: c,
                    request: s.value,
                    at,
                });
            }
            StatusKind::SnapshotFailed => {
                self.watch.snapshot_failures += 1;
                let mut first = true;
                if let Some(i) = slot {
                    let w = &mut self.watch.instruments[i];
                    w.snapshot_failures += 1;
                    // Noted when the reason changes (each repeat is counted, not noted).
                    first = w.last_snapshot_failure.map(|(r, _)| r) != Some(s.reason);
                    w.last_snapshot_failure = Some((s.reason, s.value));
                }
                if first {
                    let why = crate::text::snapshot_failure_text(s.reason, s.value);
                    self.note(
                        NoteLevel::Warn,
                        format!("{symbol}: book snapshot failed: {why}; retrying with backoff"),
                    );
                }
            }
            StatusKind::Line => {
                // One line of an A/B feed: the feed goes on on the others.
                if let Some((line, state)) =
                    tickwire_engine::adapter::LineState::from_value(s.value)
                {
                    use tickwire_engine::adapter::LineState;
                    let (level, text) = match state {
                        LineState::Down => (
                            NoteLevel::Warn,
                            format!(
                                "connection {c}: line {line} down: {} (the other lines carry the feed)",
                                crate::text::reason_text(s.reason)
                            ),
                        ),
                        LineState::Lagging => (
                            NoteLevel::Warn,
                            format!("connection {c}: line {line} lagging"),
                        ),
                        _ => (NoteLevel::Info, format!("connection {c}: line {line} up")),
                    };
                    self.note(level, text);
                }
            }
            StatusKind::Rotating => {
                self.watch.rotations += 1;
                self.note(
                    NoteLevel::Info,
                    format!("connection {c}: the venue asked to reconnect ({reason})"),
                );
            }
            _ => {}
        }
    }
}

/// The top of `book`.
fn top_of(book: &Book) -> BookTop {
    BookTop {
        valid: book.is_valid(),
        bid: book.best_bid(),
        ask: book.best_ask(),
        levels: book.bid_len() + book.ask_len(),
        seq: book.seq(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Wake-ups of the idle schedule over `span` of silence (an independent simulation of
    /// the loop: each look sleeps what `idle_sleep` says, yields count as 1 µs).
    fn wakeups(span: Duration, max: Duration) -> (u32, Duration) {
        let (mut t, mut n, mut longest) = (Duration::ZERO, 0u32, Duration::ZERO);
        while t < span {
            let d = idle_sleep(n, t, max).unwrap_or(Duration::from_micros(1));
            longest = longest.max(d);
            t += d;
            n += 1;
        }
        (n, longest)
    }

    #[test]
    fn an_idle_consumer_wakes_about_once_a_millisecond() {
        // The old loop slept a fixed 50 µs: 20,000 wake-ups a second.
        let (n, longest) = wakeups(Duration::from_secs(1), Duration::from_millis(1));
        assert!(n < 1_200, "{n} wake-ups in an idle second");
        assert_eq!(longest, Duration::from_millis(1));
        // Never a sleep longer than the bound, whatever the silence.
        let (_, longest) = wakeups(Duration::from_secs(60), Duration::from_millis(1));
        assert_eq!(longest, Duration::from_millis(1));
    }

    /// A writer that counts its `write` calls and keeps the bytes.
    #[derive(Clone, Default)]
    struct Counting(Arc<Mutex<(usize, Vec<u8>)>>);

    impl Write for Counting {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let mut g = self.0.lock().unwrap_or_else(|e| e.into_inner());
            g.0 += 1;
            g.1.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn trade(registry: &Registry, id: u64) -> Event {
        let instrument = registry.intern("binance", "BTCUSDT");
        let t = Trade {
            price: Decimal::from_parts(100, 0),
            qty: Decimal::from_parts(1, 0),
            side: tickwire_engine::Side::Buy,
            id,
        };
        Event::trade(instrument, t, 0, 0).expect("fits an event")
    }

    fn print_config() -> TapConfig {
        TapConfig {
            print: true,
            ..TapConfig::new("binance")
        }
    }

    #[test]
    fn printed_lines_go_out_per_batch_not_per_event() {
        const N: u64 = 2_000;
        let registry = Registry::new();
        let (mut producer, consumer) = tickwire_engine::ring::channel(4096);
        for i in 0..N {
            assert!(producer.push(trade(&registry, i)));
        }
        // The I/O end is gone: the thread drains the ring, prints and ends.
        drop(producer);
        let out = Counting::default();
        let tap = Tap::spawn_with_output(
            consumer,
            registry,
            print_config(),
            Box::new(|_: &mut StageRecorder| {}),
            Box::new(out.clone()),
        )
        .expect("thread");
        let watch = tap.join();
        assert_eq!(watch.events, N);
        let (writes, bytes) = out.0.lock().unwrap().clone();
        let text = String::from_utf8(bytes).expect("UTF-8");
        let ids: Vec<u64> = text
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).expect("a JSON line");
                v["id"]
                    .as_u64()
                    .or_else(|| v["id"].as_str()?.parse().ok())
                    .expect("id")
            })
            .collect();
        assert_eq!(ids, (0..N).collect::<Vec<_>>(), "every line once, in order");
        // One write per PRINT_FLUSH_BYTES at most, plus the last: it was one per line.
        let most = text.len() / PRINT_FLUSH_BYTES + 1;
        assert!(writes <= most, "{writes} writes for {N} lines");
    }

    #[test]
    fn printed_lines_go_out_as_soon_as_the_ring_is_empty() {
        let registry = Registry::new();
        let (mut producer, consumer) = tickwire_engine::ring::channel(64);
        let event = trade(&registry, 7);
        let out = Counting::default();
        let tap = Tap::spawn_with_output(
            consumer,
            registry,
            print_config(),
            Box::new(|_: &mut StageRecorder| {}),
            Box::new(out.clone()),
        )
        .expect("thread");
        assert!(producer.push(event));
        // One short line, far below the flush size, with the I/O end still there: it is
        // written once the consumer finds the ring empty (bounded wait, not a timing).
        let deadline = Instant::now() + Duration::from_secs(20);
        while out.0.lock().unwrap().1.is_empty() {
            assert!(Instant::now() < deadline, "the line was held back");
            std::thread::sleep(Duration::from_millis(1));
        }
        drop(producer);
        assert_eq!(tap.join().events, 1);
        assert_eq!(
            out.0
                .lock()
                .unwrap()
                .1
                .iter()
                .filter(|&&b| b == b'\n')
                .count(),
            1
        );
    }

    #[test]
    fn the_sleep_stays_small_against_short_gaps() {
        // Yields first, so an event right behind another costs no sleep at all.
        for empty in 0..YIELDS_BEFORE_SLEEP {
            assert_eq!(
                idle_sleep(empty, Duration::ZERO, Duration::from_millis(1)),
                None
            );
        }
        // 2 ms into a quiet spell the sleep is 62.5 µs (1/32), so an event arriving then
        // waits at most that long.
        assert_eq!(
            idle_sleep(100, Duration::from_millis(2), Duration::from_millis(1)),
            Some(Duration::from_nanos(62_500))
        );
        assert_eq!(
            idle_sleep(100, Duration::ZERO, Duration::from_millis(1)),
            Some(FIRST_SLEEP)
        );
    }
}
