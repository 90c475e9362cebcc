//! Replay: a journal or a capture through the same adapters, feed handlers and books as a
//! live feed, deterministically (every callback gets the recorded time, never the clock).
//!
//! [`Replay`] drives one feed handler per recorded connection (the journal's venue builds
//! it: [`VenueKind::replay_feed`]) directly, through
//! [`Context`] (no sockets), in record order:
//!
//! * `connect`: the handler is built from the connection's streams on first sight, then
//!   `on_connect`; a `Connected` status follows (as the engine publishes it).
//! * `text`/`binary`: `on_message` with the recorded payload and receive time.
//! * `snapshot`/`snapshot_error`: the result is handed to the handler's snapshot source and
//!   `on_poll` runs, exactly where the live handler received it.
//! * `disconnect`: a `Disconnected` status with the recorded reason, then `on_disconnect`
//!   (which publishes the books' `Resync`).
//! * `lost`: the recorder dropped records here; an `Overflow` status with the count tells
//!   consumers their books are no longer whole.
//!
//! Engine-timer statuses (`Reconnecting`, `Stale`) are not in a journal and are not
//! replayed; everything a feed handler publishes is reproduced exactly.
//!
//! A Binance capture (`<ns> <frame>` lines, see [`tickwire_feeds::capture`]) is one connection whose
//! streams are read from the frames' combined-stream envelopes (or given); its in-line REST
//! snapshot (`{"lastUpdateId":..}`) is served to the book's first snapshot request, so the
//! full book sync runs as it would live.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Cursor, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tickwire_engine::adapter::{
    BookSnapshot, FeedStats, QueuedSnapshots, SnapshotError, SnapshotSource,
};
use tickwire_engine::event::{EventKind, Status, StatusKind};
use tickwire_engine::handler::{Actions, ConnectionId, Context, Message, Outbox, Publisher};
use tickwire_engine::ring::{Consumer, channel};
use tickwire_engine::{Event, InstrumentId, Reason, Registry};
use tickwire_feeds::binance::{Market, PlanError, TimeUnit, parse_depth_snapshot};
use tickwire_feeds::capture::{CaptureError, CaptureReader};
use tickwire_feeds::launch::{FeedHandle, LaunchError};
use tickwire_feeds::venues::{self, VenueKind};

use super::format::{
    self, JournalError, JournalReader, Kind, MAGIC, payload_snapshot_error, payload_symbol,
};

/// Events one record may publish at most before the replay's own ring overflows (a
/// snapshot run plus the diffs buffered behind it).
const RING: usize = 1 << 18;

/// Why a replay could not start or go on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// The file could not be opened or read.
    #[error("cannot read the file: {0}")]
    Io(io::ErrorKind),
    /// The file is neither a journal nor a capture.
    #[error("not a tickwire journal ('{MAGIC} ...' header) nor a capture ('<ns> <frame>' lines)")]
    Unrecognized,
    /// The file is empty (or decompresses to nothing).
    #[error("empty file: no journal header, no capture lines")]
    Empty,
    /// A journal record could not be read.
    #[error("{0}")]
    Journal(#[from] JournalError),
    /// A capture line could not be read.
    #[error("{0}")]
    Capture(#[from] CaptureError),
    /// The venue is not one replay knows.
    #[error("unknown venue (known: {})", venues::known_names())]
    UnknownVenue,
    /// The venue cannot rebuild its feed from a journal (no replay hook yet).
    #[error("this venue's journals cannot be replayed yet")]
    Unsupported,
    /// A capture names no venue and none was given.
    #[error("a capture does not name its venue: give --venue binance or binance-usdm")]
    NoVenue,
    /// The venue given differs from the journal's.
    #[error("the journal was recorded from another venue than the one given")]
    VenueMismatch,
    /// No stream names are known for a capture.
    #[error(
        "no stream names in the capture (frames without combined-stream envelopes): give --symbols and --channels"
    )]
    NoStreams,
    /// A stream name is not one the adapter knows (record number, 1-based; 0: header or
    /// options).
    #[error("unknown stream name in record {0}")]
    BadStream(u64),
    /// The adapter refused the streams.
    #[error("adapter: {0}")]
    Plan(#[from] PlanError),
}

impl From<io::Error> for ReplayError {
    fn from(e: io::Error) -> Self {
        ReplayError::Io(e.kind())
    }
}

/// What was read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// A `tickwire record` journal.
    Journal,
    /// `<ns> <frame>` lines with the REST snapshot in line.
    Capture,
}

/// How to open an input.
#[derive(Clone, Debug, Default)]
pub struct ReplayOptions {
    /// Venue name; required for captures, checked against a journal's.
    pub venue: Option<String>,
    /// Streams of a capture (`btcusdt@trade`, ...); empty: read them from the frames.
    pub streams: Vec<String>,
}

/// Counters of a replay.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Records (journal) or lines (capture) read.
    pub records: u64,
    /// Messages replayed.
    pub messages: u64,
    /// Snapshots handed to handlers.
    pub snapshots: u64,
    /// Failed snapshot requests handed to handlers.
    pub snapshot_errors: u64,
    /// Snapshots whose instrument could not be told (a capture with several books).
    pub unattributed_snapshots: u64,
    /// Sessions started.
    pub sessions: u64,
    /// Sessions ended.
    pub disconnects: u64,
    /// Records the recorder lost (ring full).
    pub lost: u64,
    /// Damaged stretches of a version-2 journal skipped (none of their records replayed).
    pub damaged: u64,
    /// Records lost in damaged stretches (those a later good block accounts for).
    pub damaged_records: u64,
    /// Bytes skipped in damaged stretches (decompressed stream).
    pub damaged_bytes: u64,
    /// A damaged stretch ran to the end of the file (its record count is unknown).
    pub damaged_to_end: bool,
    /// Events published.
    pub events: u64,
    /// Trade events.
    pub trades: u64,
    /// Book-level events.
    pub levels: u64,
    /// BBO events.
    pub bbos: u64,
    /// Status events by [`StatusKind`] code.
    pub statuses: [u64; 16],
    /// Sequence gaps the handlers detected.
    pub gaps: u64,
    /// Resyncs the handlers published.
    pub resyncs: u64,
    /// Frames the handlers could not decode.
    pub decode_errors: u64,
    /// Snapshots installed.
    pub snapshots_applied: u64,
    /// First record time, ns.
    pub first_ns: u64,
    /// Last record time, ns.
    pub last_ns: u64,
}

impl Summary {
    /// Status events of `kind`.
    pub fn status(&self, kind: StatusKind) -> u64 {
        self.statuses[kind as usize & 15]
    }
}

/// One replayed record and what it published.
#[derive(Debug)]
pub struct Step<'a> {
    /// The record's kind.
    pub kind: Kind,
    /// Its time, ns.
    pub recv_ns: u64,
    /// Its connection.
    pub conn: u32,
    /// The events it published, in order.
    pub events: &'a [Event],
    /// A damaged stretch of the journal skipped here (`kind` is then [`Kind::Lost`]): none
    /// of its records was replayed; one `Overflow` status (reason none, value: the records
    /// lost, 0 when unknown) says the books are no longer whole.
    pub damage: Option<JournalError>,
}

type Results = VecDeque<(InstrumentId, Result<BookSnapshot, SnapshotError>)>;

/// A snapshot source whose results are delivered at the next poll, whatever was requested:
/// the journal says when the live handler received them.
#[derive(Clone, Default)]
struct Injected(Arc<Mutex<Results>>);

impl Injected {
    fn lock(&self) -> std::sync::MutexGuard<'_, Results> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl SnapshotSource for Injected {
    fn request(&mut self, _instrument: InstrumentId) {}

    fn poll(&mut self) -> Option<(InstrumentId, Result<BookSnapshot, SnapshotError>)> {
        self.lock().pop_front()
    }
}

enum Feeder {
    /// Journals: results go in at their recorded place.
    Injected(Injected),
    /// Captures: the snapshot waits for the book's request.
    Queued(QueuedSnapshots),
}

struct Conn {
    id: u32,
    handler: Box<dyn FeedHandle>,
    feeder: Feeder,
    outbox: Outbox,
}

/// Counts bytes read from the file (for progress).
struct Counting<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

type Input = Box<dyn BufRead + Send>;

/// The raw file, counting what is read, and whether it is gzip.
fn open_raw(
    path: &Path,
    read: &Arc<AtomicU64>,
) -> Result<(BufReader<Counting<File>>, bool), ReplayError> {
    let file = File::open(path)?;
    let mut raw = BufReader::with_capacity(
        256 * 1024,
        Counting {
            inner: file,
            read: read.clone(),
        },
    );
    let gz = raw.fill_buf()?.starts_with(&[0x1f, 0x8b]);
    Ok((raw, gz))
}

/// Opens `path` (gzip or plain) and returns its first line and a reader that still yields
/// that line first.
fn open_input(path: &Path, read: &Arc<AtomicU64>) -> Result<(Vec<u8>, Input), ReplayError> {
    let (raw, gz) = open_raw(path, read)?;
    let mut input: Input = if gz {
        Box::new(BufReader::with_capacity(
            256 * 1024,
            flate2::bufread::MultiGzDecoder::new(raw),
        ))
    } else {
        Box::new(raw)
    };
    let mut first = Vec::new();
    match format::read_line(&mut input, &mut first, 4 << 20) {
        Ok(Some(_)) => {}
        Ok(None) => return Err(ReplayError::Empty),
        // A damaged gzip stream names its damage, not "invalid input parameter".
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::InvalidInput | io::ErrorKind::InvalidData
            ) =>
        {
            return Err(JournalError::GzipCorrupt { record: 0 }.into());
        }
        Err(e) => return Err(e.into()),
    }
    let mut again = first.clone();
    again.push(b'\n');
    Ok((first, Box::new(Cursor::new(again).chain(input))))
}

/// A venue of the registry by name.
fn venue_of(name: &str) -> Result<&'static dyn VenueKind, ReplayError> {
    venues::find(name).map_err(|_| ReplayError::UnknownVenue)
}

fn is_capture_line(line: &[u8]) -> bool {
    let digits = line.iter().take_while(|b| b.is_ascii_digit()).count();
    digits > 0 && line.get(digits) == Some(&b' ')
}

/// How far into a frame the envelope's `"stream"` key is looked for: it leads the
/// envelope (`{"stream":"<name>","data":..}`), whatever the name's length (a stream name is
/// a symbol of up to a few dozen characters plus the channel).
const ENVELOPE_HEAD: usize = 1024;

/// The stream name of a combined-stream envelope.
fn envelope_stream(frame: &[u8]) -> Option<&str> {
    let head = &frame[..frame.len().min(ENVELOPE_HEAD)];
    let key = b"\"stream\":\"";
    let at = head.windows(key.len()).position(|w| w == key)? + key.len();
    let end = frame[at..]
        .iter()
        .take(ENVELOPE_HEAD)
        .position(|&b| b == b'"')?;
    std::str::from_utf8(&frame[at..at + end]).ok()
}

/// Whether a capture line is a REST depth snapshot rather than a stream frame: an object
/// with a `lastUpdateId` key and no envelope or event type, in any key order (spot starts
/// with `lastUpdateId`, USD-M may put `E` and `T` first), leading whitespace allowed.
fn is_rest_snapshot(frame: &[u8]) -> bool {
    let t = frame.trim_ascii_start();
    if !t.starts_with(b"{") || t[1..].trim_ascii_start().starts_with(b"\"stream\"") {
        return false;
    }
    let head = &t[..t.len().min(256)];
    let has = |key: &[u8]| head.windows(key.len()).any(|w| w == key);
    has(b"\"lastUpdateId\"") && !has(b"\"e\":")
}

/// The book a depth frame updates: its envelope's stream is `<symbol>@depth...`.
fn depth_instrument(frame: &[u8], registry: &Registry, venue: &str) -> Option<InstrumentId> {
    let stream = envelope_stream(frame)?;
    let (symbol, channel) = stream.split_once('@')?;
    if !channel.starts_with("depth") || symbol.len() > 64 {
        return None;
    }
    let mut upper = [0u8; 64];
    let upper = &mut upper[..symbol.len()];
    upper.copy_from_slice(symbol.as_bytes());
    upper.make_ascii_uppercase();
    registry.lookup(venue, std::str::from_utf8(upper).ok()?)
}

/// Every stream named in a capture, in order of first appearance.
fn scan_streams(path: &Path) -> Result<Vec<String>, ReplayError> {
    let (_, input) = open_input(path, &Arc::new(AtomicU64::new(0)))?;
    let mut r = CaptureReader::new(input);
    let mut streams: Vec<String> = Vec::new();
    while let Some(line) = r.next() {
        let line = line?;
        if let Some(s) = envelope_stream(line.frame) {
            if !streams.iter().any(|k| k == s) {
                streams.push(s.to_owned());
            }
        }
    }
    Ok(streams)
}

enum Source {
    Journal(JournalReader<Input>),
    Capture {
        reader: CaptureReader<Input>,
        connected: bool,
    },
}

/// A replay in progress. See the module docs.
pub struct Replay {
    source: Source,
    format: Format,
    venue: &'static dyn VenueKind,
    registry: Registry,
    streams: Vec<String>,
    conns: Vec<Conn>,
    publisher: Publisher,
    consumer: Consumer,
    actions: Actions,
    events: Vec<Event>,
    summary: Summary,
    read: Arc<AtomicU64>,
    total: u64,
    /// Depth messages per book and whether they were shown (see [`Replay::unsynced`]).
    books: Vec<BookWatch>,
}

/// Depth messages of one book, to tell those that never became events.
#[derive(Clone, Copy, Debug)]
struct BookWatch {
    conn: u32,
    instrument: InstrumentId,
    depth_messages: u64,
    /// Depth messages since the book was last in sync.
    pending: u64,
    ever_synced: bool,
}

/// A book whose last depth messages never became events: it was out of sync (waiting for a
/// snapshot that fits) from some point to the end of the replay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unsynced {
    /// The book's symbol.
    pub symbol: String,
    /// Depth messages received since it was last in sync: never shown.
    pub pending: u64,
    /// All its depth messages.
    pub depth_messages: u64,
    /// It was in sync at some point (if not, none of its depth messages was shown: the
    /// journal's snapshots never fit its diffs, e.g. data of another venue or market than
    /// the header names).
    pub ever_synced: bool,
}

impl Replay {
    /// Opens a journal or a capture (gzip or plain).
    pub fn open(path: &Path, options: &ReplayOptions) -> Result<Replay, ReplayError> {
        let read = Arc::new(AtomicU64::new(0));
        let total = std::fs::metadata(path)?.len();
        let given = match &options.venue {
            Some(v) => Some(venue_of(v)?),
            None => None,
        };
        let (first, input) = open_input(path, &read)?;
        let (source, format, venue, streams) = if first.starts_with(MAGIC.as_bytes()) {
            // Again from the start, member by member (version 2 resyncs after damage).
            drop(input);
            read.store(0, Ordering::Relaxed);
            let (raw, gz) = open_raw(path, &read)?;
            let reader = if gz {
                JournalReader::open_gzip(raw)?
            } else {
                JournalReader::open(Box::new(raw) as Input)?
            };
            let h = reader.header();
            let venue = venue_of(&h.venue)?;
            if given.is_some_and(|g| g.name() != venue.name()) {
                return Err(ReplayError::VenueMismatch);
            }
            let streams = h.streams.clone();
            (Source::Journal(reader), Format::Journal, venue, streams)
        } else if is_capture_line(&first) {
            let venue = given.ok_or(ReplayError::NoVenue)?;
            // Captures here are Binance's (combined-stream envelopes, REST snapshots in
            // line); `tickwire replay` reads other venues' captures with their own readers.
            if venue.binance_market().is_none() {
                return Err(ReplayError::Unsupported);
            }
            let streams = if options.streams.is_empty() {
                scan_streams(path)?
            } else {
                options.streams.clone()
            };
            if streams.is_empty() {
                return Err(ReplayError::NoStreams);
            }
            let source = Source::Capture {
                reader: CaptureReader::new(input),
                connected: false,
            };
            (source, Format::Capture, venue, streams)
        } else {
            return Err(ReplayError::Unrecognized);
        };
        let (p, consumer) = channel(RING);
        let mut replay = Replay {
            source,
            format,
            venue,
            registry: Registry::new(),
            streams,
            conns: Vec::new(),
            publisher: Publisher::new(vec![p]),
            consumer,
            actions: Actions::default(),
            events: Vec::with_capacity(4096),
            summary: Summary::default(),
            read,
            total,
            books: Vec::new(),
        };
        // Build the capture's handler now so stream errors show before any output.
        if format == Format::Capture {
            let streams = replay.streams.clone();
            replay.parts().conn(1, &streams, 0)?;
        }
        Ok(replay)
    }

    /// Whether each record is verified by a checksum before it is replayed (a version-2
    /// journal); version-1 journals and captures carry none.
    pub fn verified(&self) -> bool {
        match &self.source {
            Source::Journal(r) => r.header().verified(),
            Source::Capture { .. } => false,
        }
    }

    /// The journal's format version (0 for a capture).
    pub fn version(&self) -> u32 {
        match &self.source {
            Source::Journal(r) => r.header().version,
            Source::Capture { .. } => 0,
        }
    }

    /// Journal or capture.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The Binance market, when the venue is Binance's.
    pub fn market(&self) -> Option<Market> {
        self.venue.binance_market()
    }

    /// The venue's name.
    pub fn venue(&self) -> &'static str {
        self.venue.name()
    }

    /// Every stream (journal header, or the capture's).
    pub fn streams(&self) -> &[String] {
        &self.streams
    }

    /// The registry instruments are interned in (for naming events).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Bytes of the file read so far, and its size.
    pub fn progress(&self) -> (u64, u64) {
        (self.read.load(Ordering::Relaxed), self.total)
    }

    /// Counters so far (the handlers' gap, resync and decode counters included).
    pub fn summary(&self) -> Summary {
        let mut s = self.summary;
        for c in &self.conns {
            let f = c.handler.stats();
            s.gaps += f.gaps;
            s.resyncs += f.resyncs;
            s.decode_errors += f.decode_errors;
            s.snapshots_applied += f.snapshots_applied;
        }
        s
    }

    /// Books whose last depth messages never became events (out of sync at the end, after
    /// depth messages came in). Empty when every depth message was shown (or superseded).
    pub fn unsynced(&self) -> Vec<Unsynced> {
        self.books
            .iter()
            .filter(|b| b.pending > 0)
            .map(|b| Unsynced {
                symbol: self
                    .registry
                    .name(b.instrument)
                    .map_or_else(|| format!("#{}", b.instrument.0), |n| n.symbol.to_string()),
                pending: b.pending,
                depth_messages: b.depth_messages,
                ever_synced: b.ever_synced,
            })
            .collect()
    }

    /// After a record of `conn`: a depth message of `depth` counts as pending until its book
    /// is in sync; a book in sync clears what was pending (shown, or superseded by the
    /// snapshot).
    fn watch_books(&mut self, conn: u32, depth: Option<InstrumentId>) {
        let Some(c) = self.conns.iter().find(|c| c.id == conn) else {
            return;
        };
        if let Some(instrument) = depth {
            if !self
                .books
                .iter()
                .any(|b| b.conn == conn && b.instrument == instrument)
            {
                self.books.push(BookWatch {
                    conn,
                    instrument,
                    depth_messages: 0,
                    pending: 0,
                    ever_synced: false,
                });
            }
        }
        for b in self.books.iter_mut().filter(|b| b.conn == conn) {
            if Some(b.instrument) == depth {
                b.depth_messages += 1;
                b.pending += 1;
            }
            // In sync now, or it published levels in this step (a snapshot run and the
            // buffered diffs, even if a gap broke the book again right after).
            let shown = self
                .events
                .iter()
                .any(|e| e.kind() == EventKind::BookLevel && e.instrument == b.instrument);
            if shown || c.handler.in_sync(b.instrument) {
                b.pending = 0;
                b.ever_synced = true;
            }
        }
    }

    /// Each connection's feed-handler counters.
    pub fn feed_stats(&self) -> Vec<(u32, FeedStats)> {
        self.conns
            .iter()
            .map(|c| (c.id, c.handler.stats()))
            .collect()
    }

    fn parts(&mut self) -> Parts<'_> {
        Parts {
            conns: &mut self.conns,
            publisher: &mut self.publisher,
            actions: &mut self.actions,
            summary: &mut self.summary,
            registry: &self.registry,
            venue: self.venue,
            format: self.format,
            streams: &self.streams,
        }
    }

    /// Replays the next record; `None` at the end of the input.
    pub fn step(&mut self) -> Result<Option<Step<'_>>, ReplayError> {
        self.events.clear();
        let mut damage = None;
        // The book a depth message updates (looked up before the handler decodes in place).
        let mut depth = None;
        let (kind, recv_ns, conn) = match &mut self.source {
            Source::Journal(r) => {
                let Some(rec) = r.next() else {
                    return Ok(None);
                };
                match rec {
                    Ok(rec) => {
                        let (kind, ts, conn) = (rec.kind, rec.recv_ns, rec.conn);
                        if matches!(kind, Kind::Text | Kind::Binary) {
                            depth =
                                depth_instrument(rec.payload, &self.registry, self.venue.name());
                        }
                        Self::apply(
                            &mut Parts {
                                conns: &mut self.conns,
                                publisher: &mut self.publisher,
                                actions: &mut self.actions,
                                summary: &mut self.summary,
                                registry: &self.registry,
                                venue: self.venue,
                                format: self.format,
                                streams: &self.streams,
                            },
                            kind,
                            ts,
                            conn,
                            rec.payload,
                            rec.index,
                        )?;
                        (kind, ts, conn)
                    }
                    Err(e @ JournalError::Damaged { lost, bytes, .. }) => {
                        let s = &mut self.summary;
                        s.damaged += 1;
                        s.damaged_records += lost.unwrap_or(0);
                        s.damaged_bytes += bytes;
                        s.damaged_to_end |= lost.is_none();
                        damage = Some(e);
                        let ts = s.last_ns;
                        self.publisher.publish(Event::status(
                            InstrumentId::NONE,
                            Status {
                                kind: StatusKind::Overflow,
                                reason: Reason::None.code(),
                                value: lost.unwrap_or(0),
                                connection: 0,
                            },
                            ts,
                        ));
                        (Kind::Lost, ts, 0)
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Source::Capture { reader, connected } => {
                let Some(line) = reader.next() else {
                    return Ok(None);
                };
                let line = line?;
                let mut parts = Parts {
                    conns: &mut self.conns,
                    publisher: &mut self.publisher,
                    actions: &mut self.actions,
                    summary: &mut self.summary,
                    registry: &self.registry,
                    venue: self.venue,
                    format: self.format,
                    streams: &self.streams,
                };
                if !*connected {
                    *connected = true;
                    let streams = parts.streams.join(",");
                    Self::apply(
                        &mut parts,
                        Kind::Connect,
                        line.recv_ns,
                        1,
                        &mut streams.into_bytes(),
                        0,
                    )?;
                }
                let kind = if is_rest_snapshot(line.frame) {
                    Kind::Snapshot
                } else {
                    depth = depth_instrument(line.frame, parts.registry, parts.venue.name());
                    Kind::Text
                };
                Self::apply(&mut parts, kind, line.recv_ns, 1, line.frame, line.line)?;
                (kind, line.recv_ns, 1)
            }
        };
        while let Some(e) = self.consumer.pop() {
            self.events.push(e);
        }
        if damage.is_none() {
            self.watch_books(conn, depth);
        }
        let s = &mut self.summary;
        for e in &self.events {
            s.events += 1;
            match e.kind() {
                EventKind::Trade => s.trades += 1,
                EventKind::BookLevel => s.levels += 1,
                EventKind::Bbo => s.bbos += 1,
                EventKind::Status => {
                    if let Some(st) = e.as_status() {
                        s.statuses[st.kind as usize & 15] += 1;
                    }
                }
            }
        }
        Ok(Some(Step {
            kind,
            recv_ns,
            conn,
            events: &self.events,
            damage,
        }))
    }

    fn apply(
        p: &mut Parts<'_>,
        kind: Kind,
        ts: u64,
        conn: u32,
        payload: &mut [u8],
        record: u64,
    ) -> Result<(), ReplayError> {
        let s = &mut *p.summary;
        s.records += 1;
        if s.first_ns == 0 {
            s.first_ns = ts;
        }
        s.last_ns = s.last_ns.max(ts);
        let status = |kind, reason: Reason, value| {
            Event::status(
                InstrumentId::NONE,
                Status {
                    kind,
                    reason: reason.code(),
                    value,
                    connection: conn,
                },
                ts,
            )
        };
        match kind {
            Kind::Connect => {
                let streams: Vec<String> = std::str::from_utf8(payload)
                    .map_err(|_| ReplayError::BadStream(record))?
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect();
                // A recorder given no stream list: the journal's are the best guess.
                let streams = if streams.is_empty() {
                    p.streams.to_vec()
                } else {
                    streams
                };
                let i = p.conn(conn, &streams, record)?;
                p.summary.sessions += 1;
                let c = &mut p.conns[i];
                c.outbox = Outbox::new(1 << 20);
                let mut cx = Context::new(
                    ts,
                    ConnectionId(conn),
                    &mut c.outbox,
                    p.publisher,
                    p.actions,
                );
                c.handler.on_connect(&mut cx);
                cx.publish(status(StatusKind::Connected, Reason::None, u64::from(conn)));
            }
            Kind::Text | Kind::Binary => {
                let streams = p.streams.to_vec();
                let i = p.conn(conn, &streams, record)?;
                p.summary.messages += 1;
                let c = &mut p.conns[i];
                let mut cx = Context::new(
                    ts,
                    ConnectionId(conn),
                    &mut c.outbox,
                    p.publisher,
                    p.actions,
                );
                let msg = if kind == Kind::Text {
                    Message::Text(payload)
                } else {
                    Message::Binary(payload)
                };
                c.handler.on_message(msg, &mut cx);
                // A capture's snapshot may come before the diff that makes the book ask
                // for it: serve it now, as a live source would answer the request.
                if let Feeder::Queued(q) = &c.feeder {
                    if q.outstanding() > 0 {
                        c.handler.on_poll(&mut cx);
                    }
                }
            }
            Kind::Snapshot | Kind::SnapshotError => {
                let streams = p.streams.to_vec();
                let i = p.conn(conn, &streams, record)?;
                let c = &mut p.conns[i];
                let instrument = match p.format {
                    Format::Journal => payload_symbol(payload)
                        .and_then(|sym| p.registry.lookup(p.venue.name(), sym)),
                    // A capture's REST body does not name its symbol: it belongs to the
                    // capture's one book.
                    Format::Capture => match c.handler.book_instruments().as_slice() {
                        [one] => Some(*one),
                        _ => None,
                    },
                };
                let Some(instrument) = instrument else {
                    p.summary.unattributed_snapshots += 1;
                    return Ok(());
                };
                let result = match (kind, p.format) {
                    (Kind::SnapshotError, _) => {
                        Err(payload_snapshot_error(payload).unwrap_or(SnapshotError::Malformed))
                    }
                    (_, Format::Journal) => format::parse_snapshot(payload, instrument),
                    (_, Format::Capture) => {
                        parse_depth_snapshot(payload, instrument, TimeUnit::Millisecond)
                            .map_err(|_| SnapshotError::Malformed)
                    }
                };
                match &result {
                    Ok(_) => p.summary.snapshots += 1,
                    Err(_) => p.summary.snapshot_errors += 1,
                }
                match (&c.feeder, result) {
                    (Feeder::Injected(q), result) => q.lock().push_back((instrument, result)),
                    (Feeder::Queued(q), Ok(snap)) => q.push(snap),
                    // A capture's malformed snapshot: counted above; the book keeps waiting.
                    (Feeder::Queued(_), Err(_)) => {}
                }
                let mut cx = Context::new(
                    ts,
                    ConnectionId(conn),
                    &mut c.outbox,
                    p.publisher,
                    p.actions,
                );
                c.handler.on_poll(&mut cx);
            }
            Kind::Disconnect => {
                let reason = std::str::from_utf8(payload)
                    .ok()
                    .and_then(reason_by_name)
                    .unwrap_or(Reason::None);
                let streams = p.streams.to_vec();
                let i = p.conn(conn, &streams, record)?;
                p.summary.disconnects += 1;
                let c = &mut p.conns[i];
                let mut cx = Context::new(
                    ts,
                    ConnectionId(conn),
                    &mut c.outbox,
                    p.publisher,
                    p.actions,
                );
                cx.publish(status(StatusKind::Disconnected, reason, 0));
                let _ = c.handler.on_disconnect(reason, &mut cx);
            }
            Kind::Lost => {
                let n = std::str::from_utf8(payload)
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                p.summary.lost += n;
                p.publisher
                    .publish(status(StatusKind::Overflow, Reason::Backpressure, n));
            }
        }
        // Recycles and closes the live handler asked for are in the journal already (as
        // the disconnect that followed); frames it sent are not replayed.
        *p.actions = Actions::default();
        Ok(())
    }
}

/// Borrowed parts of a [`Replay`], so a record can be applied while the reader lends its
/// payload.
struct Parts<'a> {
    conns: &'a mut Vec<Conn>,
    publisher: &'a mut Publisher,
    actions: &'a mut Actions,
    summary: &'a mut Summary,
    registry: &'a Registry,
    venue: &'static dyn VenueKind,
    format: Format,
    streams: &'a [String],
}

impl Parts<'_> {
    fn conn(&mut self, id: u32, streams: &[String], record: u64) -> Result<usize, ReplayError> {
        if let Some(i) = self.conns.iter().position(|c| c.id == id) {
            return Ok(i);
        }
        let (source, feeder): (Box<dyn SnapshotSource>, Feeder) = match self.format {
            Format::Journal => {
                let s = Injected::default();
                (Box::new(s.clone()), Feeder::Injected(s))
            }
            Format::Capture => {
                let s = QueuedSnapshots::new();
                (Box::new(s.feeder()), Feeder::Queued(s))
            }
        };
        self.conns.push(Conn {
            id,
            handler: self
                .venue
                .replay_feed(streams, self.registry, source)
                .map_err(|e| match e {
                    LaunchError::Usage(_) => ReplayError::BadStream(record),
                    _ => ReplayError::Unsupported,
                })?,
            feeder,
            outbox: Outbox::new(1 << 20),
        });
        Ok(self.conns.len() - 1)
    }
}

fn reason_by_name(name: &str) -> Option<Reason> {
    (0..64u16)
        .filter_map(Reason::from_code)
        .find(|r| r.name() == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::format::{Header, JournalWriter};
    use tickwire_engine::Decimal;
    use tickwire_engine::event::Flags;

    fn diff(first: u64, last: u64, bid: &str) -> Vec<u8> {
        format!(
            r#"{{"stream":"btcusdt@depth@100ms","data":{{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":{first},"u":{last},"b":[["100.0","{bid}"]],"a":[["101.0","2.0"]]}}}}"#
        )
        .into_bytes()
    }

    #[test]
    fn a_journal_replays_sync_loss_and_disconnect_in_band() {
        let streams = vec!["btcusdt@depth@100ms".to_string()];
        let mut w = JournalWriter::new(Vec::new(), &Header::new("binance", &streams, 0)).unwrap();
        let snap = BookSnapshot {
            instrument: InstrumentId(0),
            last_id: 11,
            exchange_ts: 0,
            bids: vec![(
                Decimal::parse(b"100.0").unwrap(),
                Decimal::parse(b"0.5").unwrap(),
            )],
            asks: vec![(
                Decimal::parse(b"101.0").unwrap(),
                Decimal::parse(b"1.0").unwrap(),
            )],
        };
        let mut snap_payload = Vec::new();
        format::write_snapshot(&mut snap_payload, "BTCUSDT", &snap);
        w.write(Kind::Connect, 1, 7, b"btcusdt@depth@100ms")
            .unwrap();
        w.write(Kind::Text, 2, 7, &diff(10, 12, "1.0")).unwrap();
        w.write(Kind::Snapshot, 3, 7, &snap_payload).unwrap();
        w.write(Kind::Text, 4, 7, &diff(13, 14, "3.0")).unwrap();
        w.write(Kind::Lost, 4, 7, b"3").unwrap();
        w.write(Kind::Disconnect, 5, 7, b"io").unwrap();
        let path = std::env::temp_dir().join(format!("tickwire-replay-{}.j", std::process::id()));
        std::fs::write(&path, w.into_inner().unwrap()).unwrap();
        let mut r = Replay::open(&path, &ReplayOptions::default()).unwrap();
        let _ = std::fs::remove_file(&path);
        let mut all = Vec::new();
        while let Some(step) = r.step().unwrap() {
            for e in step.events {
                all.push((step.kind, *e));
            }
        }
        let seen: Vec<String> = all
            .iter()
            .map(|(k, e)| match (e.as_status(), e.as_level()) {
                (Some(s), _) => format!("{} {} {}", k.name(), s.kind.name(), s.value),
                (_, Some(l)) => format!(
                    "{} {}@{} {}{}",
                    k.name(),
                    l.qty,
                    l.seq,
                    if e.flags.contains(Flags::SNAPSHOT) {
                        "s"
                    } else {
                        ""
                    },
                    if e.flags.contains(Flags::LAST_IN_BATCH) {
                        "l"
                    } else {
                        ""
                    }
                ),
                _ => format!("{} other", k.name()),
            })
            .collect();
        assert_eq!(
            seen,
            [
                "connect connected 7",
                // The snapshot run, then the buffered diff that straddles it.
                "snapshot 0.5@11 s",
                "snapshot 1.0@11 sl",
                "snapshot 1.0@12 ",
                "snapshot 2.0@12 l",
                "text 3.0@14 ",
                "text 2.0@14 l",
                "lost overflow 3",
                "disconnect disconnected 0",
                "disconnect resync 0",
            ]
        );
        // Every event carries the recorded time of its record, never the clock.
        assert!(all.iter().all(|(_, e)| e.recv_ts <= 5));
        let s = r.summary();
        assert_eq!(
            (
                s.records,
                s.messages,
                s.snapshots_applied,
                s.lost,
                s.disconnects
            ),
            (6, 2, 1, 3, 1)
        );
        assert_eq!(s.status(StatusKind::Resync), 1);
    }

    #[test]
    fn capture_lines_are_told_apart_in_any_key_order() {
        // Spot REST body, USD-M REST body in either key order, with leading whitespace.
        for snap in [
            &br#"{"lastUpdateId":1027024,"bids":[["4.0","431.0"]],"asks":[]}"#[..],
            br#"{"lastUpdateId":1027024,"E":1589436922972,"T":1589436922959,"bids":[],"asks":[]}"#,
            br#"{"E":1589436922972,"T":1589436922959,"lastUpdateId":1027024,"bids":[],"asks":[]}"#,
            br#"  {"lastUpdateId":1,"bids":[],"asks":[]}"#,
            b"\t{ \"E\":1,\"T\":1,\"lastUpdateId\":1,\"bids\":[],\"asks\":[]}",
        ] {
            assert!(is_rest_snapshot(snap), "{}", String::from_utf8_lossy(snap));
        }
        for frame in [
            &br#"{"stream":"btcusdt@depth","data":{"e":"depthUpdate","U":1,"u":2}}"#[..],
            br#"{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":1,"u":2,"b":[],"a":[]}"#,
            br#"{"stream":"btcusdt@depth5","data":{"lastUpdateId":1,"bids":[],"asks":[]}}"#,
        ] {
            assert!(
                !is_rest_snapshot(frame),
                "{}",
                String::from_utf8_lossy(frame)
            );
        }
    }

    #[test]
    fn a_long_stream_name_is_found() {
        // 100 characters of symbol: past the 96 bytes the name used to be looked for in.
        let symbol = "A".repeat(100);
        let frame = format!(r#"{{"stream":"{symbol}@trade","data":{{"e":"trade"}}}}"#);
        assert_eq!(
            envelope_stream(frame.as_bytes()),
            Some(format!("{symbol}@trade").as_str())
        );
        assert_eq!(envelope_stream(br#"{"e":"trade"}"#), None);
    }
}
