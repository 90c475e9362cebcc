//! A venue of your own: the smallest [`FeedAdapter`] with a book that has gaps and resyncs.
//!
//! ```sh
//! cargo run --example custom_adapter
//! ```
//!
//! The toy venue (a few lines of `tungstenite` server at the bottom of this file) streams
//! one-level book diffs as text frames, `"<seq> <b|a> <price> <qty>"`, each `seq` one more
//! than the last, and serves snapshots of its book (`BookSnapshot`, standing in for a REST
//! endpoint). After [`GAP_AT`] diffs it leaves one out.
//!
//! The adapter is protocol code only: no sockets, no threads. It names the endpoint and the
//! subscribe frame, decodes one frame into `Event`s plus a `Frame` that says what it was,
//! and states the sequence rules. The engine's generic `FeedHandler` does the rest: it
//! buffers diffs until a snapshot lines up (`first_diff`), checks every later diff
//! (`next_diff`), keeps a validating book, and on a gap publishes `Gap` and `Resync`,
//! asks the `SnapshotSource` for a fresh snapshot and republishes the book as a snapshot run.
//!
//! The guide to writing a real one, and the tests it needs: `docs/writing-an-adapter.md`.
//!
//! Ends by itself once the book is valid again after the gap and [`AFTER_RESYNC`] more diffs
//! have been applied (or fails after [`TIMEOUT`]).

use std::collections::BTreeMap;
use std::error::Error;
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tickwire_engine::adapter::{
    BookSnapshot, BookSpec, DecodeError, DecodeStats, DiffIds, Endpoint, FeedConfig, Frame,
    Heartbeat, Pacing, SeqCheck, SnapshotError, SnapshotSource, add_feed,
};
use tickwire_engine::book::{Book, BookConfig};
use tickwire_engine::config::ConnectionOptions;
use tickwire_engine::event::{Flags, Level, StatusKind};
use tickwire_engine::{
    Decimal, Engine, EngineConfig, Event, FeedAdapter, FeedHandler, InstrumentId, Reason, Registry,
    Side,
};

/// The toy venue skips the diff after this many.
const GAP_AT: u64 = 300;

/// Diffs to apply after the resync before stopping.
const AFTER_RESYNC: u64 = 200;

/// Give up (and fail) after this long.
const TIMEOUT: Duration = Duration::from_secs(20);

/// Levels per side the books keep. Consumer rings must hold a whole snapshot run and the
/// report before it: at least 2 × depth + 1 events.
const DEPTH: usize = 50;

// ---------------------------------------------------------------------------------------
// The adapter.

/// Protocol state for one connection to the toy venue.
struct ToyAdapter {
    url: String,
    /// The one instrument, interned in the application's `Registry`.
    instrument: InstrumentId,
    stats: DecodeStats,
}

impl FeedAdapter for ToyAdapter {
    /// What an application subscribes to. The toy venue has one stream, so nothing to say.
    type Subscription = ();

    fn venue(&self) -> &str {
        "toy"
    }

    fn endpoint(&self) -> Endpoint {
        Endpoint {
            url: self.url.clone(),
            headers: Vec::new(),
        }
    }

    /// The toy venue sends no pings and takes none; a real one states its rules here.
    fn heartbeat(&self) -> Heartbeat {
        Heartbeat {
            server_ping_interval_ns: None,
            client_ping_interval_ns: None,
            app_ping: None,
            pong_timeout_ns: 10_000_000_000,
            stale_after_ns: None,
        }
    }

    /// No limit on outbound frames; Binance, for one, allows 5 a second.
    fn pacing(&self) -> Pacing {
        Pacing::default()
    }

    /// The books the handler keeps in sync (and resyncs from the `SnapshotSource`).
    fn books(&self) -> Vec<BookSpec> {
        vec![BookSpec {
            instrument: self.instrument,
            config: BookConfig::with_depth(DEPTH),
        }]
    }

    fn instruments(&self) -> Vec<InstrumentId> {
        vec![self.instrument]
    }

    /// Sent on every (re)connect: the whole subscription set.
    fn connect_frames(&mut self, out: &mut Vec<Vec<u8>>) {
        out.push(b"subscribe".to_vec());
    }

    fn subscribe(&mut self, _subs: &[()], _out: &mut Vec<Vec<u8>>) {}

    fn unsubscribe(&mut self, _subs: &[()], _out: &mut Vec<Vec<u8>>) {}

    /// The toy venue does not acknowledge requests.
    fn pending_acks(&self) -> usize {
        0
    }

    /// The hot path: one frame into events. No allocation (`out` has room already), no
    /// panics on bad input: a typed error, which the handler counts and reports.
    fn decode(
        &mut self,
        payload: &mut [u8],
        recv_ts: u64,
        out: &mut Vec<Event>,
    ) -> Result<Frame, DecodeError> {
        self.stats.frames += 1;
        let result = self.parse(payload, recv_ts, out);
        if let Err(e) = result {
            self.stats.count_error(e.reason);
        }
        result
    }

    fn decode_stats(&self) -> DecodeStats {
        self.stats
    }

    /// The first diff on top of a snapshot that includes every update up to `snapshot_id`:
    /// older diffs are already in it, the next one applies, a later one means a gap.
    fn first_diff(&self, snapshot_id: u64, diff: &DiffIds) -> SeqCheck {
        if diff.last <= snapshot_id {
            SeqCheck::Stale
        } else if diff.first <= snapshot_id + 1 {
            SeqCheck::Apply
        } else {
            SeqCheck::Gap
        }
    }

    /// Each later diff must follow the last one applied exactly.
    fn next_diff(&self, last: &DiffIds, diff: &DiffIds) -> SeqCheck {
        if diff.last <= last.last {
            SeqCheck::Stale
        } else if diff.first == last.last + 1 {
            SeqCheck::Apply
        } else {
            SeqCheck::Gap
        }
    }
}

impl ToyAdapter {
    /// `"<seq> <b|a> <price> <qty>"` into one level event flagged LAST_IN_BATCH (the book is
    /// consistent after it).
    fn parse(
        &self,
        payload: &[u8],
        recv_ts: u64,
        out: &mut Vec<Event>,
    ) -> Result<Frame, DecodeError> {
        let schema = DecodeError::new(Reason::Schema);
        let number = DecodeError::new(Reason::Number);
        let text = std::str::from_utf8(payload).map_err(|_| schema)?;
        let mut fields = text.split_ascii_whitespace();
        let mut next = || fields.next().ok_or(schema);
        let seq: u64 = next()?.parse().map_err(|_| number)?;
        let side = match next()? {
            "b" => Side::BID,
            "a" => Side::ASK,
            _ => return Err(schema),
        };
        let price = Decimal::parse(next()?.as_bytes()).map_err(|_| number)?;
        let qty = Decimal::parse(next()?.as_bytes()).map_err(|_| number)?;
        let level = Level {
            side,
            price,
            qty,
            seq,
        };
        let event = Event::level(self.instrument, level, Flags::LAST_IN_BATCH, 0, recv_ts)
            .map_err(|_| number)?;
        out.push(event);
        Ok(Frame::BookDiff {
            instrument: self.instrument,
            ids: DiffIds {
                first: seq,
                last: seq,
                prev: None,
            },
            checksum: None,
        })
    }
}

/// Snapshots straight from the toy venue's book (a real adapter asks a REST endpoint on a
/// helper thread, or reads them in-band). `request` and `poll` run on the I/O thread and
/// must not block.
struct ToySnapshots {
    venue: Arc<Mutex<ToyBook>>,
    requested: Option<InstrumentId>,
}

impl SnapshotSource for ToySnapshots {
    fn request(&mut self, instrument: InstrumentId) {
        self.requested = Some(instrument);
    }

    fn poll(&mut self) -> Option<(InstrumentId, Result<BookSnapshot, SnapshotError>)> {
        let instrument = self.requested.take()?;
        let venue = self.venue.lock().unwrap_or_else(|e| e.into_inner());
        Some((instrument, Ok(venue.snapshot(instrument))))
    }
}

// ---------------------------------------------------------------------------------------
// The application.

/// Runs the example; fails if the book did not come back after the gap.
pub fn main() -> Result<(), Box<dyn Error>> {
    let venue = Arc::new(Mutex::new(ToyBook::default()));
    let addr = serve_toy_venue(venue.clone())?;

    let mut builder = Engine::builder(EngineConfig::default());
    let (consumer_id, mut consumer) = builder.consumer(4 * DEPTH + 64);
    let engine = builder.start()?;
    let registry = Registry::new();
    let instrument = registry.intern("toy", "XYZ");

    let adapter = ToyAdapter {
        url: format!("ws://{addr}/"),
        instrument,
        stats: DecodeStats::default(),
    };
    let snapshots = ToySnapshots {
        venue,
        requested: None,
    };
    let handler = FeedHandler::new(adapter, Box::new(snapshots), FeedConfig::default());
    let options = ConnectionOptions {
        close_timeout: Duration::from_millis(200), // the toy server does not answer a close
        ..ConnectionOptions::default()
    };
    add_feed(&engine.handle(), handler, options, &[], &[consumer_id])?;

    // The consumer: the same `Book` type, rebuilt from the events.
    let mut book = Book::new(BookConfig::with_depth(DEPTH));
    let (mut gaps, mut resyncs, mut after) = (0u64, 0u64, 0u64);
    let start = Instant::now();
    while after < AFTER_RESYNC && start.elapsed() < TIMEOUT {
        let Some(event) = consumer.pop() else {
            std::thread::yield_now();
            continue;
        };
        let _ = book.apply_event(&event);
        if let Some(status) = event.as_status() {
            match status.kind {
                StatusKind::Gap => {
                    gaps += 1;
                    println!("gap: the next diff should have been {}", status.value);
                }
                StatusKind::Resync => {
                    resyncs += 1;
                    println!("resync: the book is invalid until a snapshot run");
                }
                _ => {}
            }
        }
        let is_diff = event.as_level().is_some() && !event.flags.contains(Flags::SNAPSHOT);
        if is_diff && book.is_valid() {
            if resyncs > 0 {
                after += 1;
                if after == 1 {
                    println!("valid again at update {}", book.seq());
                }
            }
            if book.seq() % 100 == 0 {
                if let (Some((bid, _)), Some((ask, _))) = (book.best_bid(), book.best_ask()) {
                    println!("update {}: {bid} / {ask}", book.seq());
                }
            }
        }
    }
    engine.join()?;
    println!("{gaps} gap, {resyncs} resync, {after} diffs applied after it");
    if gaps == 0 || resyncs == 0 || after < AFTER_RESYNC {
        return Err("the book did not resync in time".into());
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The toy venue.

/// The venue's own book: price ticks (2 decimals) to quantity (3 decimals).
#[derive(Default)]
struct ToyBook {
    seq: u64,
    bids: BTreeMap<i64, i64>,
    asks: BTreeMap<i64, i64>,
    rng: u64,
}

impl ToyBook {
    /// Makes one change and returns its diff. Bids stay under 100.00, asks at or over 100.01,
    /// so the book is never crossed.
    fn step(&mut self) -> String {
        self.rng = self
            .rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let r = self.rng >> 33;
        self.seq += 1;
        let offset = (r % 40) as i64;
        let qty = ((r >> 8) % 4) as i64 * 250; // 0 deletes the level
        let (side, price, book) = if r & (1 << 20) == 0 {
            ("b", 10_000 - offset, &mut self.bids)
        } else {
            ("a", 10_001 + offset, &mut self.asks)
        };
        if qty == 0 {
            book.remove(&price);
        } else {
            book.insert(price, qty);
        }
        let (price, qty) = (Decimal::from_parts(price, 2), Decimal::from_parts(qty, 3));
        format!("{} {side} {price} {qty}", self.seq)
    }

    fn snapshot(&self, instrument: InstrumentId) -> BookSnapshot {
        let level = |(p, q): (&i64, &i64)| (Decimal::from_parts(*p, 2), Decimal::from_parts(*q, 3));
        BookSnapshot {
            instrument,
            last_id: self.seq,
            exchange_ts: 0,
            bids: self.bids.iter().rev().take(DEPTH).map(level).collect(),
            asks: self.asks.iter().take(DEPTH).map(level).collect(),
        }
    }
}

/// Serves one client: waits for its subscribe frame, then sends a diff every 200 µs, leaving
/// out the one after [`GAP_AT`]. Stops when the client goes away.
fn serve_toy_venue(venue: Arc<Mutex<ToyBook>>) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    std::thread::spawn(move || {
        let Ok((stream, _)) = listener.accept() else {
            return;
        };
        let Ok(mut ws) = tungstenite::accept(stream) else {
            return;
        };
        if ws.read().is_err() {
            return; // the subscribe frame
        }
        loop {
            let (seq, diff) = {
                let mut book = venue.lock().unwrap_or_else(|e| e.into_inner());
                let diff = book.step();
                (book.seq, diff)
            };
            // The gap: the venue's book moved on, the client never hears of it.
            if seq != GAP_AT + 1 && ws.send(tungstenite::Message::text(diff)).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    });
    Ok(addr)
}
