//! The remote consumer: reads the batches of a JetStream stream back into [`Event`]s, in
//! stream order per subject, without duplicates, and rebuilds each instrument's book.
//!
//! [`Remote`] is blocking (it owns a small current-thread tokio runtime), so it fits a plain
//! consumer thread like the engine's own. Instruments get ids of a local [`Registry`]
//! (from the subjects' venue and symbol), so events print with the same JSON lines as
//! `tickwire run --print`.
//!
//! **Order and duplicates.** Every batch carries its publisher and a sequence number per
//! subject. A batch already delivered (a retry stored twice outside the dedup window) is
//! dropped; one that arrives ahead of a missing one (a retry after a broker fault lands
//! later in the stream) waits until the missing one arrives, or at most `hold` batches /
//! `hold_timeout`; past that the instrument gets a `Resync` status (its book is invalid
//! until the next snapshot) and delivery goes on.
//!
//! **Books and late joiners.** The egress publishes snapshot runs of its books on
//! `<subject>.snap`, each tagged with the batch number of the instrument it follows. A
//! snapshot run is delivered only to an instrument whose book here is not valid (a late
//! joiner, or after a gap), and only at its place in the order: right after the batch it
//! follows. [`From::LatestSnapshot`] starts at the oldest of the latest snapshot runs of the
//! subjects it reads, so each book becomes valid at once.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream};
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::{SelectAll, Stream};
use tickwire_engine::event::Status;
use tickwire_engine::{
    Book, BookConfig, Event, EventKind, InstrumentId, Reason, Registry, StatusKind, clock,
};

use crate::codec;
use crate::egress::{connect_options, server_addrs};
use crate::subject::{self, Parsed};

/// Where in the stream a [`Remote`] starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum From {
    /// The first message the stream holds.
    Start,
    /// Messages stored after the consumer is created.
    Now,
    /// Messages stored at or after this time (ns since the UNIX epoch).
    Time(u64),
    /// The oldest of the latest snapshot runs of the subjects read (where there are none:
    /// [`From::Now`]).
    LatestSnapshot,
}

/// Reads an RFC 3339 time (`2026-12-02T21:00:00Z`) as ns since the UNIX epoch.
pub fn parse_time(text: &str) -> Option<u64> {
    let t = async_nats::datetime::parse_rfc3339(text).ok()?;
    u64::try_from(t.unix_timestamp_nanos()).ok()
}

/// Remote consumer settings.
#[derive(Clone, Debug)]
pub struct RemoteConfig {
    /// NATS servers, `nats://host:port`, comma-separated for a cluster.
    pub url: String,
    /// The stream to read.
    pub stream: String,
    /// First subject token(s), as the egress was given.
    pub prefix: String,
    /// NATS subject filter (`None`: `<prefix>.>`, everything).
    pub filter: Option<String>,
    /// Where to start.
    pub from: From,
    /// Levels per side of the rebuilt books.
    pub book_depth: usize,
    /// Most batches of one subject held back waiting for a missing one.
    pub hold: usize,
    /// Longest a batch is held back waiting for a missing one.
    pub hold_timeout: Duration,
    /// How long connecting and creating the consumer may take.
    pub connect_timeout: Duration,
}

impl RemoteConfig {
    /// Defaults for `url`: stream `TICKWIRE`, prefix `tickwire`, everything, from the latest
    /// snapshot, 5000-level books, hold 4096 batches or 30 s.
    pub fn new(url: &str) -> RemoteConfig {
        RemoteConfig {
            url: url.to_owned(),
            stream: "TICKWIRE".into(),
            prefix: "tickwire".into(),
            filter: None,
            from: From::LatestSnapshot,
            book_depth: 5000,
            hold: 4096,
            hold_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// Why a remote consumer could not start or go on.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The NATS URL does not parse.
    #[error("bad NATS URL {0:?}: {1}")]
    Url(String, String),
    /// No connection within the connect timeout.
    #[error("cannot connect to NATS at {0}: {1}")]
    Connect(String, String),
    /// The stream or its consumer could not be had.
    #[error("JetStream: {0}")]
    JetStream(String),
    /// The runtime could not start.
    #[error("runtime: {0}")]
    Runtime(String),
}

/// What a remote consumer has seen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RemoteStats {
    /// Bus messages received.
    pub messages: u64,
    /// Event batches delivered.
    pub batches: u64,
    /// Events delivered.
    pub events: u64,
    /// Batches dropped as already delivered.
    pub duplicates: u64,
    /// Batches that arrived ahead of a missing one and were held back.
    pub held: u64,
    /// Missing batches given up on (each followed by a `Resync` of the instrument).
    pub gaps: u64,
    /// Snapshot runs delivered (to an invalid book).
    pub snapshots_used: u64,
    /// Snapshot runs not needed (valid book) or too old.
    pub snapshots_skipped: u64,
    /// Messages that were not tickwire batches or did not decode.
    pub bad_messages: u64,
}

/// One delivered event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The event; its instrument is an id of [`Remote::registry`].
    pub event: Event,
    /// The venue of its subject (status events without an instrument have no other).
    pub venue: Arc<str>,
    /// When the egress sealed the batch it came in (ns since the UNIX epoch).
    pub sent_ts: u64,
}

type Messages = Pin<Box<dyn Stream<Item = Result<jetstream::Message, String>> + Send>>;

struct Batch {
    payload: Bytes,
    header: codec::Header,
    snapshot: bool,
}

/// One publisher's batches of one instrument (or a venue's status subject).
struct Chan {
    instrument: InstrumentId,
    venue: Arc<str>,
    /// The next batch number due (`None`: not seen yet).
    next: Option<u64>,
    held: BTreeMap<u64, Batch>,
    held_since: u64,
    /// A snapshot run waiting for the batch it follows.
    snapshot: Option<Batch>,
}

/// A blocking remote consumer. See the module docs.
pub struct Remote {
    rt: tokio::runtime::Runtime,
    inner: Inner,
}

struct Inner {
    config: RemoteConfig,
    messages: SelectAll<Messages>,
    registry: Registry,
    /// By (publisher, events subject).
    chans: HashMap<(u64, String), Chan>,
    books: Vec<Option<Book>>,
    ready: VecDeque<Delivery>,
    stats: RemoteStats,
    /// Whether the stream begins at its first message ever (no batch was cut off by limits).
    whole: bool,
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The filter of the snapshot subjects under `filter`.
fn snapshot_filter(prefix: &str, filter: &str) -> String {
    let mut tokens: Vec<&str> = filter.split('.').collect();
    if tokens.last() == Some(&">") {
        tokens.pop();
        // <prefix>.<venue>.<symbol>.snap: pad to the symbol with `*`.
        let upto = prefix.split('.').count() + 2;
        while tokens.len() < upto {
            tokens.push("*");
        }
    }
    let mut s = tokens.join(".");
    s.push('.');
    s.push_str(subject::SNAPSHOT_TOKEN);
    s
}

impl Remote {
    /// Connects and creates the consumer(s).
    pub fn connect(config: RemoteConfig) -> Result<Remote, RemoteError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| RemoteError::Runtime(e.to_string()))?;
        let inner = rt.block_on(Inner::connect(config))?;
        Ok(Remote { rt, inner })
    }

    /// The next event, waiting at most `timeout`; `None` when none came within it.
    pub fn next(&mut self, timeout: Duration) -> Result<Option<Delivery>, RemoteError> {
        let Remote { rt, inner } = self;
        rt.block_on(inner.next(timeout))
    }

    /// The local names of instruments.
    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    /// The rebuilt book of `id` (an id of [`Remote::registry`]).
    pub fn book(&self, id: InstrumentId) -> Option<&Book> {
        self.inner.books.get(id.index()).and_then(Option::as_ref)
    }

    /// What it has seen.
    pub fn stats(&self) -> RemoteStats {
        self.inner.stats
    }
}

impl Inner {
    async fn connect(config: RemoteConfig) -> Result<Inner, RemoteError> {
        let addrs =
            server_addrs(&config.url).map_err(|e| RemoteError::Url(config.url.clone(), e))?;
        let limit = config.connect_timeout;
        let client = tokio::time::timeout(
            limit,
            async_nats::connect_with_options(addrs, connect_options()),
        )
        .await
        .map_err(|_| RemoteError::Connect(config.url.clone(), "timed out".into()))?
        .map_err(|e| RemoteError::Connect(config.url.clone(), e.to_string()))?;
        let js = jetstream::new(client);
        let js_err = |e: &dyn std::fmt::Display| RemoteError::JetStream(e.to_string());
        let stream = tokio::time::timeout(limit, js.get_stream(&config.stream))
            .await
            .map_err(|_| RemoteError::JetStream("timed out".into()))?
            .map_err(|e| js_err(&e))?;
        let info = stream.get_info().await.map_err(|e| js_err(&e))?;
        let filter = config
            .filter
            .clone()
            .unwrap_or_else(|| format!("{}.>", config.prefix));
        let snap_filter = snapshot_filter(&config.prefix, &filter);
        // From the latest snapshot: those runs, each delivered first for its instrument (the
        // batches they cover are then dropped as already seen), whatever order the two
        // consumers below deliver in.
        let mut first_runs = Vec::new();
        let deliver = match config.from {
            From::Start => consumer::DeliverPolicy::All,
            From::Now => consumer::DeliverPolicy::New,
            From::Time(ns) => consumer::DeliverPolicy::ByStartTime {
                start_time: async_nats::datetime::from_nanos(i128::from(ns))
                    .map_err(|e| js_err(&e))?,
            },
            From::LatestSnapshot => {
                let (oldest, runs) =
                    latest_snapshots(&stream, &snap_filter, info.state.last_sequence).await?;
                first_runs = runs;
                match oldest {
                    Some(seq) => consumer::DeliverPolicy::ByStartSequence {
                        start_sequence: seq,
                    },
                    None => consumer::DeliverPolicy::New,
                }
            }
        };
        let mut messages = SelectAll::new();
        let mut filters = vec![filter.clone()];
        if !subject::matches(&filter, &snap_filter) {
            // The filter leaves the snapshot runs out (`tickwire.*.*`, one symbol): read
            // them with a consumer of their own; the per-subject order puts them in place.
            filters.push(snap_filter);
        }
        for f in filters {
            let c = stream
                .create_consumer(consumer::pull::OrderedConfig {
                    filter_subject: f,
                    deliver_policy: deliver,
                    ..Default::default()
                })
                .await
                .map_err(|e| js_err(&e))?;
            let m = c.messages().await.map_err(|e| js_err(&e))?;
            let m: Messages = Box::pin(m.map(|r| r.map_err(|e| e.to_string())));
            messages.push(m);
        }
        let mut inner = Inner {
            whole: info.state.first_sequence <= 1,
            config,
            messages,
            registry: Registry::new(),
            chans: HashMap::new(),
            books: Vec::new(),
            ready: VecDeque::new(),
            stats: RemoteStats::default(),
        };
        for (subject, payload) in first_runs {
            inner.on_payload(&subject, &payload);
        }
        Ok(inner)
    }

    async fn next(&mut self, timeout: Duration) -> Result<Option<Delivery>, RemoteError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(d) = self.ready.pop_front() {
                return Ok(Some(d));
            }
            let wait = deadline.saturating_duration_since(tokio::time::Instant::now());
            // Wake at least every 100 ms to release batches held past the hold timeout.
            let slice = wait.min(Duration::from_millis(100));
            match tokio::time::timeout(slice, self.messages.next()).await {
                Ok(Some(Ok(m))) => self.on_message(&m),
                // The ordered consumer recreates itself after errors; a closed stream ends.
                Ok(Some(Err(_))) => {}
                Ok(None) => return Err(RemoteError::JetStream("message stream ended".into())),
                Err(_) => {
                    self.release_overdue();
                    if wait <= slice {
                        return Ok(self.ready.pop_front());
                    }
                }
            }
        }
    }

    fn on_message(&mut self, m: &jetstream::Message) {
        self.on_payload(m.subject.as_str(), &m.payload);
    }

    fn on_payload(&mut self, subject_name: &str, payload: &Bytes) {
        self.stats.messages += 1;
        let Some(parsed) = subject::parse(&self.config.prefix, subject_name) else {
            self.stats.bad_messages += 1;
            return;
        };
        let header = match codec::header(payload) {
            Ok(h) => h,
            Err(_) => {
                self.stats.bad_messages += 1;
                return;
            }
        };
        let venue: Arc<str> = match &parsed {
            Parsed::Events { venue, .. }
            | Parsed::Snapshot { venue, .. }
            | Parsed::Status { venue } => venue.as_str().into(),
        };
        let (key, instrument, snapshot) = match &parsed {
            Parsed::Events { venue, symbol } => (
                subject::events(&self.config.prefix, venue, symbol),
                self.registry.intern(venue, symbol),
                false,
            ),
            Parsed::Snapshot { venue, symbol } => (
                subject::events(&self.config.prefix, venue, symbol),
                self.registry.intern(venue, symbol),
                true,
            ),
            Parsed::Status { venue } => (
                subject::status(&self.config.prefix, venue),
                InstrumentId::NONE,
                false,
            ),
        };
        let batch = Batch {
            payload: payload.clone(),
            header,
            snapshot: snapshot || header.flags & codec::BATCH_SNAPSHOT != 0,
        };
        let whole = self.whole && self.config.from == From::Start;
        let chan = self
            .chans
            .entry((header.publisher, key.clone()))
            .or_insert_with(|| Chan {
                instrument,
                venue,
                // From the very start of the stream, batch 1 is the first of each subject.
                next: whole.then_some(1),
                held: BTreeMap::new(),
                held_since: 0,
                snapshot: None,
            });
        let id = chan.instrument;
        let key = (header.publisher, key);
        if batch.snapshot {
            self.on_snapshot(id, key, batch);
        } else {
            self.on_batch(key, batch);
        }
    }

    fn on_batch(&mut self, key: (u64, String), batch: Batch) {
        let Some(chan) = self.chans.get_mut(&key) else {
            return;
        };
        let s = batch.header.subject_seq;
        let next = *chan.next.get_or_insert(s);
        if s < next {
            self.stats.duplicates += 1;
            return;
        }
        if s > next {
            if chan.held.is_empty() {
                chan.held_since = clock::now_ns();
            }
            if chan.held.insert(s, batch).is_none() {
                self.stats.held += 1;
            } else {
                self.stats.duplicates += 1;
            }
            if chan.held.len() > self.config.hold {
                self.give_up(&key);
            }
            return;
        }
        self.deliver_in_order(&key, batch);
    }

    /// Delivers `batch` (the one due) and then whatever it unblocks.
    fn deliver_in_order(&mut self, key: &(u64, String), batch: Batch) {
        let mut batch = Some(batch);
        while let Some(b) = batch.take() {
            let (id, venue) = match self.chans.get_mut(key) {
                Some(c) => {
                    c.next = Some(b.header.subject_seq + 1);
                    (c.instrument, c.venue.clone())
                }
                None => return,
            };
            self.deliver(id, &venue, &b);
            let Some(c) = self.chans.get_mut(key) else {
                return;
            };
            let due = b.header.subject_seq + 1;
            // A snapshot run that follows this batch, for a book that needs it.
            if let Some(snap) = c.snapshot.take() {
                if snap.header.subject_seq == b.header.subject_seq {
                    if self.book_invalid(id) {
                        self.deliver(id, &venue, &snap);
                        self.stats.snapshots_used += 1;
                    } else {
                        self.stats.snapshots_skipped += 1;
                    }
                } else if snap.header.subject_seq > b.header.subject_seq {
                    if let Some(c) = self.chans.get_mut(key) {
                        c.snapshot = Some(snap);
                    }
                } else {
                    self.stats.snapshots_skipped += 1;
                }
            }
            let Some(c) = self.chans.get_mut(key) else {
                return;
            };
            // Duplicates held below the due number go.
            while let Some((&s, _)) = c.held.first_key_value() {
                if s >= due {
                    break;
                }
                c.held.pop_first();
                self.stats.duplicates += 1;
            }
            if c.held.first_key_value().is_some_and(|(&s, _)| s == due) {
                batch = c.held.pop_first().map(|(_, b)| b);
                c.held_since = clock::now_ns();
            }
        }
    }

    fn on_snapshot(&mut self, id: InstrumentId, key: (u64, String), batch: Batch) {
        if !self.book_invalid(id) {
            self.stats.snapshots_skipped += 1;
            return;
        }
        let Some(chan) = self.chans.get_mut(&key) else {
            return;
        };
        let after = batch.header.subject_seq;
        let venue = chan.venue.clone();
        match chan.next {
            None => {
                // First sight of the instrument: start from the snapshot.
                chan.next = Some(after + 1);
                self.deliver(id, &venue, &batch);
                self.stats.snapshots_used += 1;
            }
            Some(n) if n == after + 1 => {
                self.deliver(id, &venue, &batch);
                self.stats.snapshots_used += 1;
            }
            Some(n) if n <= after => {
                // Ahead of the batches it follows: wait for them.
                if chan
                    .snapshot
                    .as_ref()
                    .is_none_or(|s| s.header.subject_seq < after)
                {
                    chan.snapshot = Some(batch);
                }
            }
            Some(_) => self.stats.snapshots_skipped += 1,
        }
    }

    fn book_invalid(&self, id: InstrumentId) -> bool {
        self.books
            .get(id.index())
            .and_then(Option::as_ref)
            .is_none_or(|b| !b.is_valid())
    }

    /// Gives up on the missing batches before the first held one.
    fn give_up(&mut self, key: &(u64, String)) {
        let Some(c) = self.chans.get_mut(key) else {
            return;
        };
        let Some((_, first)) = c.held.pop_first() else {
            return;
        };
        let id = c.instrument;
        let venue = c.venue.clone();
        self.stats.gaps += 1;
        let missing = c.next.unwrap_or(0);
        let status = Status {
            kind: StatusKind::Resync,
            reason: Reason::None as u16,
            value: missing,
            connection: 0,
        };
        let e = Event::status(id, status, clock::now_ns());
        self.apply(&e);
        self.ready.push_back(Delivery {
            event: e,
            venue,
            sent_ts: first.header.sent_ts,
        });
        self.deliver_in_order(key, first);
    }

    fn release_overdue(&mut self) {
        let limit = nanos(self.config.hold_timeout);
        let now = clock::now_ns();
        let overdue: Vec<(u64, String)> = self
            .chans
            .iter()
            .filter(|(_, c)| !c.held.is_empty() && now.saturating_sub(c.held_since) >= limit)
            .map(|(k, _)| k.clone())
            .collect();
        for k in overdue {
            self.give_up(&k);
        }
    }

    fn apply(&mut self, e: &Event) {
        if !matches!(e.kind(), EventKind::BookLevel | EventKind::Status) {
            return;
        }
        if e.instrument == InstrumentId::NONE {
            for b in self.books.iter_mut().flatten() {
                let _ = b.apply_event(e);
            }
            return;
        }
        let i = e.instrument.index();
        if self.books.len() <= i {
            self.books.resize_with(i + 1, || None);
        }
        let depth = self.config.book_depth;
        let b = self.books[i].get_or_insert_with(|| Book::new(BookConfig::with_depth(depth)));
        let _ = b.apply_event(e);
    }

    fn deliver(&mut self, id: InstrumentId, venue: &Arc<str>, b: &Batch) {
        let mut events = Vec::with_capacity(b.header.count as usize);
        let r = codec::decode(&b.payload, |mut e| {
            if e.instrument != InstrumentId::NONE {
                e.instrument = id;
            }
            events.push(e);
        });
        // The events before a malformed spot are delivered; the rest of the batch is lost.
        if r.is_err() {
            self.stats.bad_messages += 1;
        }
        if !b.snapshot {
            self.stats.batches += 1;
        }
        for e in events {
            self.apply(&e);
            self.stats.events += 1;
            self.ready.push_back(Delivery {
                event: e,
                venue: venue.clone(),
                sent_ts: b.header.sent_ts,
            });
        }
    }
}

/// The stream sequence of the oldest of the latest snapshot runs under `filter`.
async fn latest_snapshots(
    stream: &stream::Stream,
    filter: &str,
    last: u64,
) -> Result<(Option<u64>, Vec<(String, Bytes)>), RemoteError> {
    let mut runs = Vec::new();
    if last == 0 {
        return Ok((None, runs));
    }
    let js_err = |e: &dyn std::fmt::Display| RemoteError::JetStream(e.to_string());
    let c = stream
        .create_consumer(consumer::pull::OrderedConfig {
            filter_subject: filter.to_owned(),
            deliver_policy: consumer::DeliverPolicy::LastPerSubject,
            ..Default::default()
        })
        .await
        .map_err(|e| js_err(&e))?;
    let mut m = c.messages().await.map_err(|e| js_err(&e))?;
    let mut oldest: Option<u64> = None;
    // One message per subject; `pending` says how many are still to come.
    loop {
        let next = tokio::time::timeout(Duration::from_secs(2), m.next()).await;
        let Ok(Some(Ok(msg))) = next else { break };
        let Ok(info) = msg.info() else { break };
        oldest = Some(oldest.map_or(info.stream_sequence, |o| o.min(info.stream_sequence)));
        let pending = info.pending;
        runs.push((msg.subject.to_string(), msg.payload.clone()));
        if pending == 0 {
            break;
        }
    }
    Ok((oldest, runs))
}

#[cfg(test)]
mod tests {
    use super::snapshot_filter;

    #[test]
    fn times_parse_as_rfc3339() {
        assert_eq!(
            super::parse_time("2024-08-09T00:00:01.5Z"),
            Some(1_723_161_601_500_000_000)
        );
        assert_eq!(super::parse_time("yesterday"), None);
    }

    #[test]
    fn snapshot_filters_follow_the_event_filter() {
        assert_eq!(
            snapshot_filter("tickwire", "tickwire.>"),
            "tickwire.*.*.snap"
        );
        assert_eq!(
            snapshot_filter("tickwire", "tickwire.binance.>"),
            "tickwire.binance.*.snap"
        );
        assert_eq!(
            snapshot_filter("tickwire", "tickwire.binance.*"),
            "tickwire.binance.*.snap"
        );
        assert_eq!(
            snapshot_filter("tickwire", "tickwire.b.BTCUSDT"),
            "tickwire.b.BTCUSDT.snap"
        );
        assert_eq!(snapshot_filter("md.tw", "md.tw.>"), "md.tw.*.*.snap");
    }
}
