//! Recording: a [`Recorder`] wraps a connection's handler on the I/O thread and copies what
//! it is given into a byte ring; a writer thread ([`spawn_writer`]) drains the rings into a
//! [`JournalWriter`]. The I/O thread never touches the disk.
//!
//! * Every message is copied into the ring **before** the inner handler decodes it (decoders
//!   work in place and change the payload).
//! * Book snapshots are captured where the feed handler receives them: a [`TeeSnapshots`]
//!   wraps the snapshot source and hands each result (serialized) to the recorder, which
//!   pushes it into the same ring right after the inner handler's `on_poll`, the only place
//!   a [`tickwire_engine::adapter::FeedHandler`] polls its source. The journal therefore
//!   holds each snapshot exactly between the messages it came between.
//! * Session starts and ends are recorded with their time and (for ends) the reason, so a
//!   replay runs the same resyncs.
//!
//! A full ring drops the record and counts it; the writer writes a `lost` record with the
//! count before the next record of that connection, so the loss is visible in the journal.

use std::io::{self, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tickwire_engine::adapter::{BookSnapshot, SnapshotError, SnapshotSource};
use tickwire_engine::handler::{ConnectionId, Context, Leg, Message, Reconnect, WsHandler};
use tickwire_engine::raw::{RawConsumer, RawItem, RawProducer};
use tickwire_engine::{InstrumentId, Reason};

use super::format::{JournalWriter, Kind, write_snapshot, write_snapshot_error};

/// Ring records carry the record kind in the top byte of the connection id.
const KIND_SHIFT: u32 = 24;
const CONN_MASK: u32 = (1 << KIND_SHIFT) - 1;

fn tag(kind: Kind, conn: ConnectionId) -> ConnectionId {
    ConnectionId((conn.0 & CONN_MASK) | (u32::from(kind.code()) << KIND_SHIFT))
}

fn untag(conn: ConnectionId) -> (Option<Kind>, u32) {
    (
        Kind::from_code((conn.0 >> KIND_SHIFT) as u8),
        conn.0 & CONN_MASK,
    )
}

/// A serialized snapshot result on its way from a [`TeeSnapshots`] to its [`Recorder`].
type Tapped = (Kind, Vec<u8>);

/// Wraps a [`SnapshotSource`] and hands every result it delivers, serialized, to the
/// [`Recorder`] that owns the [`SnapshotTap`].
pub struct TeeSnapshots<S> {
    inner: S,
    names: Vec<(InstrumentId, String)>,
    tx: Sender<Tapped>,
}

/// The recorder's end of a [`TeeSnapshots`].
pub struct SnapshotTap {
    rx: Receiver<Tapped>,
}

impl<S: SnapshotSource> TeeSnapshots<S> {
    /// Wraps `inner`; `names` gives the symbol written for each instrument.
    pub fn new(inner: S, names: Vec<(InstrumentId, String)>) -> (TeeSnapshots<S>, SnapshotTap) {
        let (tx, rx) = mpsc::channel();
        (TeeSnapshots { inner, names, tx }, SnapshotTap { rx })
    }

    fn name(&self, instrument: InstrumentId) -> &str {
        self.names
            .iter()
            .find(|(i, _)| *i == instrument)
            .map_or("?", |(_, n)| n.as_str())
    }
}

impl<S: SnapshotSource> SnapshotSource for TeeSnapshots<S> {
    fn request(&mut self, instrument: InstrumentId) {
        self.inner.request(instrument);
    }

    fn track(&mut self, instrument: InstrumentId) {
        self.inner.track(instrument);
    }

    fn poll(&mut self) -> Option<(InstrumentId, Result<BookSnapshot, SnapshotError>)> {
        let (instrument, result) = self.inner.poll()?;
        // A snapshot result is rare (a resync), so serializing here is off the hot path.
        let mut payload = Vec::new();
        let kind = match &result {
            Ok(snap) => {
                write_snapshot(&mut payload, self.name(instrument), snap);
                Kind::Snapshot
            }
            Err(e) => {
                write_snapshot_error(&mut payload, self.name(instrument), *e);
                Kind::SnapshotError
            }
        };
        // The recorder may be gone (engine shutting down): the result still goes on.
        let _ = self.tx.send((kind, payload));
        Some((instrument, result))
    }
}

/// A boxed snapshot source (what a venue's launch hands its tee) as a [`SnapshotSource`],
/// for [`TeeSnapshots`].
pub struct BoxedSnapshots(pub Box<dyn SnapshotSource>);

impl SnapshotSource for BoxedSnapshots {
    fn request(&mut self, instrument: InstrumentId) {
        self.0.request(instrument);
    }

    fn track(&mut self, instrument: InstrumentId) {
        self.0.track(instrument);
    }

    fn poll(&mut self) -> Option<(InstrumentId, Result<BookSnapshot, SnapshotError>)> {
        self.0.poll()
    }
}

/// A boxed handler (what a venue's launch builds) as a [`WsHandler`], for [`Recorder`]:
/// every callback forwarded.
pub struct BoxedHandler(pub Box<dyn WsHandler>);

impl WsHandler for BoxedHandler {
    fn on_connect(&mut self, cx: &mut Context<'_>) {
        self.0.on_connect(cx);
    }

    #[inline]
    fn on_message(&mut self, msg: Message<'_>, cx: &mut Context<'_>) {
        self.0.on_message(msg, cx);
    }

    fn on_disconnect(&mut self, reason: Reason, cx: &mut Context<'_>) -> Reconnect {
        self.0.on_disconnect(reason, cx)
    }

    fn on_error(&mut self, reason: Reason, cx: &mut Context<'_>) {
        self.0.on_error(reason, cx);
    }

    fn on_timer(&mut self, cx: &mut Context<'_>) {
        self.0.on_timer(cx);
    }

    fn on_poll(&mut self, cx: &mut Context<'_>) {
        self.0.on_poll(cx);
    }

    fn on_subscribe(&mut self, topics: &[String], cx: &mut Context<'_>) {
        self.0.on_subscribe(topics, cx);
    }

    fn on_unsubscribe(&mut self, topics: &[String], cx: &mut Context<'_>) {
        self.0.on_unsubscribe(topics, cx);
    }

    fn on_leg_closed(&mut self, leg: Leg, reason: Reason, cx: &mut Context<'_>) {
        self.0.on_leg_closed(leg, reason, cx);
    }

    fn min_ring_capacity(&self) -> usize {
        self.0.min_ring_capacity()
    }
}

/// A [`WsHandler`] that records everything its inner handler is given into a byte ring,
/// then passes it on. See the module docs.
pub struct Recorder<H> {
    inner: H,
    ring: RawProducer,
    tap: Option<SnapshotTap>,
    streams: Vec<u8>,
}

impl<H: WsHandler> Recorder<H> {
    /// Records `inner` into `ring` (make it with [`tickwire_engine::raw::raw_channel`]).
    /// `streams` are written with every session start (what this connection carries).
    pub fn new(inner: H, ring: RawProducer, streams: &[String]) -> Recorder<H> {
        Recorder {
            inner,
            ring,
            tap: None,
            streams: streams.join(",").into_bytes(),
        }
    }

    /// Also records the snapshot results of the [`TeeSnapshots`] that `tap` belongs to
    /// (give the tee to the inner handler as its snapshot source).
    #[must_use]
    pub fn with_snapshots(mut self, tap: SnapshotTap) -> Recorder<H> {
        self.tap = Some(tap);
        self
    }

    /// The wrapped handler.
    pub fn inner(&self) -> &H {
        &self.inner
    }

    /// The wrapped handler, mutably.
    pub fn inner_mut(&mut self) -> &mut H {
        &mut self.inner
    }

    /// Writes the snapshot results the inner handler took in its last callback, at that
    /// callback's time (replay hands them over there).
    fn record_snapshots(&mut self, cx: &Context<'_>) {
        if let Some(tap) = &self.tap {
            while let Ok((kind, payload)) = tap.rx.try_recv() {
                self.ring
                    .push(tag(kind, cx.connection()), cx.now(), &payload);
            }
        }
    }

    /// Records the ring dropped because it was full.
    pub fn dropped(&self) -> u64 {
        self.ring.dropped()
    }
}

impl<H: WsHandler> WsHandler for Recorder<H> {
    fn min_ring_capacity(&self) -> usize {
        self.inner.min_ring_capacity()
    }

    fn on_connect(&mut self, cx: &mut Context<'_>) {
        let conn = cx.connection();
        self.ring
            .push(tag(Kind::Connect, conn), cx.now(), &self.streams);
        self.inner.on_connect(cx);
    }

    #[inline]
    fn on_message(&mut self, msg: Message<'_>, cx: &mut Context<'_>) {
        let kind = match msg {
            Message::Text(_) => Kind::Text,
            Message::Binary(_) => Kind::Binary,
        };
        self.ring
            .push(tag(kind, cx.connection()), cx.now(), msg.payload());
        self.inner.on_message(msg, cx);
    }

    fn on_disconnect(&mut self, reason: Reason, cx: &mut Context<'_>) -> Reconnect {
        self.ring.push(
            tag(Kind::Disconnect, cx.connection()),
            cx.now(),
            reason.name().as_bytes(),
        );
        self.inner.on_disconnect(reason, cx)
    }

    fn on_error(&mut self, reason: Reason, cx: &mut Context<'_>) {
        self.inner.on_error(reason, cx);
    }

    fn on_timer(&mut self, cx: &mut Context<'_>) {
        self.inner.on_timer(cx);
        // Feed handlers pick snapshot answers up on their timer too.
        self.record_snapshots(cx);
    }

    fn on_poll(&mut self, cx: &mut Context<'_>) {
        self.inner.on_poll(cx);
        self.record_snapshots(cx);
    }

    fn on_subscribe(&mut self, topics: &[String], cx: &mut Context<'_>) {
        self.inner.on_subscribe(topics, cx);
    }

    fn on_unsubscribe(&mut self, topics: &[String], cx: &mut Context<'_>) {
        self.inner.on_unsubscribe(topics, cx);
    }
}

/// Counters of a journal writer thread.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Records written out and flushed (`lost` records included).
    pub records: u64,
    /// Records taken from the rings that never reached the file because writing failed
    /// (the block being written, and everything after the failure: the thread keeps
    /// draining the rings to count them).
    pub unwritten: u64,
    /// Messages written.
    pub messages: u64,
    /// Snapshot results written (errors included).
    pub snapshots: u64,
    /// Payload bytes written (before compression).
    pub payload_bytes: u64,
    /// Records the rings dropped (written as `lost` records).
    pub lost: u64,
}

impl WriterStats {
    /// Every record that is not in the file: dropped by a full ring, or never written.
    pub fn missing(&self) -> u64 {
        self.lost + self.unwritten
    }
}

/// Live counters of a writer thread, readable while it runs.
#[derive(Debug, Default)]
pub struct WriterProgress {
    /// Records handed to the journal writer so far.
    pub records: AtomicU64,
    /// Payload bytes written so far.
    pub payload_bytes: AtomicU64,
}

/// A running writer thread. [`JournalSink::finish`] stops it once the rings are drained.
pub struct JournalSink<W: Write> {
    stop: Arc<AtomicBool>,
    progress: Arc<WriterProgress>,
    thread: JoinHandle<(WriterStats, JournalWriter<W>, io::Result<()>)>,
}

/// One ring's next record, copied out so records of several rings can be merged by time.
struct Staged {
    full: bool,
    kind: Kind,
    recv_ns: u64,
    conn: u32,
    payload: Vec<u8>,
}

/// Starts a thread that drains `rings` into `writer` until every ring is abandoned (its
/// handler dropped, e.g. by `Engine::join`) and empty, or [`JournalSink::finish`] is called.
/// Records of one ring keep their order; records of several rings are merged by time. The
/// writer is flushed about once a second so a killed recorder loses little.
pub fn spawn_writer<W: Write + Send + 'static>(
    rings: Vec<RawConsumer>,
    writer: JournalWriter<W>,
) -> io::Result<JournalSink<W>> {
    let stop = Arc::new(AtomicBool::new(false));
    let progress = Arc::new(WriterProgress::default());
    let (s, p) = (stop.clone(), progress.clone());
    let thread = std::thread::Builder::new()
        .name("tickwire-journal".into())
        .spawn(move || drain(rings, writer, &s, &p))?;
    Ok(JournalSink {
        stop,
        progress,
        thread,
    })
}

impl<W: Write> JournalSink<W> {
    /// Live counters.
    pub fn progress(&self) -> &WriterProgress {
        &self.progress
    }

    /// Whether the thread has ended (all rings abandoned, or a write failed).
    pub fn is_finished(&self) -> bool {
        self.thread.is_finished()
    }

    /// Asks the thread to stop once the rings are empty, waits, and returns its counters and
    /// the writer (finish a gzip stream on [`JournalWriter::into_inner`]). A write error
    /// ends the thread early and is returned with the writer.
    pub fn finish(self) -> (WriterStats, JournalWriter<W>, io::Result<()>) {
        self.stop.store(true, Ordering::Release);
        match self.thread.join() {
            Ok(r) => r,
            // The thread only writes; a panic there is a bug, reported as an error.
            Err(_) => std::panic::resume_unwind(Box::new("journal writer thread panicked")),
        }
    }
}

fn drain<W: Write>(
    mut rings: Vec<RawConsumer>,
    mut writer: JournalWriter<W>,
    stop: &AtomicBool,
    progress: &WriterProgress,
) -> (WriterStats, JournalWriter<W>, io::Result<()>) {
    let mut stats = WriterStats::default();
    let mut staged: Vec<Staged> = rings
        .iter()
        .map(|_| Staged {
            full: false,
            kind: Kind::Text,
            recv_ns: 0,
            conn: 0,
            payload: Vec::new(),
        })
        .collect();
    // The last time and connection seen per ring: a `lost` record is stamped with them.
    let mut last: Vec<(u64, u32)> = vec![(0, 0); rings.len()];
    let mut flushed = Instant::now();
    // Records taken from the rings (lost-records records included).
    let mut taken: u64 = 0;
    // The first write error; after it records are only counted.
    let mut failed: Option<io::Error> = None;
    loop {
        // Check for the end before popping: a ring abandoned and then found empty is done.
        let stopping = stop.load(Ordering::Acquire) || rings.iter().all(|r| r.is_abandoned());
        for (i, ring) in rings.iter_mut().enumerate() {
            let s = &mut staged[i];
            if s.full {
                continue;
            }
            let got = ring.pop_with(|item| match item {
                RawItem::Message {
                    conn,
                    recv_ts,
                    payload,
                } => {
                    let (kind, conn) = untag(conn);
                    s.kind = kind.unwrap_or(Kind::Text);
                    s.recv_ns = recv_ts;
                    s.conn = conn;
                    s.payload.clear();
                    s.payload.extend_from_slice(payload);
                    last[i] = (recv_ts, conn);
                }
                RawItem::Overflow { dropped } => {
                    s.kind = Kind::Lost;
                    (s.recv_ns, s.conn) = last[i];
                    s.payload.clear();
                    s.payload
                        .extend_from_slice(itoa::Buffer::new().format(dropped).as_bytes());
                    stats.lost += dropped;
                }
            });
            s.full = got.is_some();
        }
        let next = staged
            .iter()
            .enumerate()
            .filter(|(_, s)| s.full)
            .min_by_key(|(_, s)| s.recv_ns)
            .map(|(i, _)| i);
        let Some(i) = next else {
            if stopping {
                break;
            }
            if failed.is_none() && flushed.elapsed() >= Duration::from_secs(1) {
                if let Err(e) = writer.flush() {
                    failed = Some(e);
                }
                flushed = Instant::now();
            }
            std::thread::sleep(Duration::from_millis(1));
            continue;
        };
        let s = &mut staged[i];
        s.full = false;
        taken += 1;
        if failed.is_some() {
            // The file is broken (disk full, ...): keep the rings moving, count what is lost.
            continue;
        }
        if let Err(e) = writer.write(s.kind, s.recv_ns, s.conn, &s.payload) {
            failed = Some(e);
            continue;
        }
        stats.payload_bytes += s.payload.len() as u64;
        match s.kind {
            Kind::Text | Kind::Binary => stats.messages += 1,
            Kind::Snapshot | Kind::SnapshotError => stats.snapshots += 1,
            _ => {}
        }
        progress.records.store(taken, Ordering::Relaxed);
        progress
            .payload_bytes
            .store(stats.payload_bytes, Ordering::Relaxed);
    }
    let result = match failed {
        Some(e) => Err(e),
        None => writer.flush(),
    };
    // Only blocks written and flushed without error are in the file.
    stats.records = writer.records_committed();
    stats.unwritten = taken - stats.records;
    (stats, writer, result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::format::{Header, JournalError, JournalReader};
    use tickwire_engine::handler::{Actions, Outbox, Publisher};
    use tickwire_engine::raw::raw_channel;

    struct Parts {
        outbox: Outbox,
        publisher: Publisher,
        actions: Actions,
    }

    impl Parts {
        fn new() -> Parts {
            Parts {
                outbox: Outbox::new(1024),
                publisher: Publisher::new(Vec::new()),
                actions: Actions::default(),
            }
        }

        fn cx(&mut self, now: u64, conn: u32) -> Context<'_> {
            Context::new(
                now,
                ConnectionId(conn),
                &mut self.outbox,
                &mut self.publisher,
                &mut self.actions,
            )
        }
    }

    /// Counts messages; on `on_poll` drains its snapshot source.
    struct Probe<S> {
        source: S,
        seen: Vec<Vec<u8>>,
    }

    impl<S: SnapshotSource + Send + 'static> WsHandler for Probe<S> {
        fn on_message(&mut self, msg: Message<'_>, _cx: &mut Context<'_>) {
            let Message::Text(p) = msg else { return };
            self.seen.push(p.to_vec());
            p.fill(b'#'); // what an in-place decoder may do
        }
        fn on_poll(&mut self, _cx: &mut Context<'_>) {
            while self.source.poll().is_some() {}
        }
    }

    #[test]
    fn records_before_decoding_in_order_with_snapshots_in_line() {
        let queued = tickwire_engine::adapter::QueuedSnapshots::new();
        let feeder = queued.feeder();
        let btc = InstrumentId(0);
        let (tee, tap) = TeeSnapshots::new(queued, vec![(btc, "BTCUSDT".into())]);
        let mut source = tee;
        source.request(btc);
        let probe = Probe {
            source,
            seen: Vec::new(),
        };
        let (p, c) = raw_channel(1 << 16);
        let mut rec = Recorder::new(probe, p, &["btcusdt@depth".into()]).with_snapshots(tap);
        let mut parts = Parts::new();
        rec.on_connect(&mut parts.cx(10, 3));
        rec.on_message(Message::Text(&mut b"one".to_vec()), &mut parts.cx(11, 3));
        feeder.push(BookSnapshot {
            instrument: btc,
            last_id: 42,
            exchange_ts: 0,
            bids: vec![],
            asks: vec![],
        });
        rec.on_poll(&mut parts.cx(12, 3));
        rec.on_message(Message::Text(&mut b"two".to_vec()), &mut parts.cx(13, 3));
        rec.on_disconnect(Reason::TooBig, &mut parts.cx(14, 3));
        assert_eq!(rec.inner().seen, [b"one".to_vec(), b"two".to_vec()]);
        drop(rec); // abandons the ring: the writer ends once it is drained

        let header = Header::new("binance", &["btcusdt@depth".into()], 1);
        let sink = spawn_writer(vec![c], JournalWriter::new(Vec::new(), &header).unwrap()).unwrap();
        let (stats, w, result) = sink.finish();
        result.unwrap();
        assert_eq!((stats.records, stats.messages, stats.snapshots), (5, 2, 1));
        let bytes = w.into_inner().unwrap();
        let mut r = JournalReader::open(&bytes[..]).unwrap();
        let mut got = Vec::new();
        while let Some(rec) = r.next() {
            let rec = rec.unwrap();
            got.push((
                rec.kind,
                rec.recv_ns,
                rec.conn,
                String::from_utf8(rec.payload.to_vec()).unwrap(),
            ));
        }
        let snap = r#"{"symbol":"BTCUSDT","lastUpdateId":42,"exchange_ts":0,"bids":[],"asks":[]}"#;
        assert_eq!(
            got,
            [
                (Kind::Connect, 10, 3, "btcusdt@depth".to_string()),
                (Kind::Text, 11, 3, "one".into()),
                (Kind::Snapshot, 12, 3, snap.into()),
                (Kind::Text, 13, 3, "two".into()),
                (Kind::Disconnect, 14, 3, "too_big".into()),
            ]
        );
    }

    #[test]
    fn a_full_ring_is_written_as_lost_and_rings_merge_by_time() {
        struct Nop;
        impl WsHandler for Nop {
            fn on_message(&mut self, _: Message<'_>, _: &mut Context<'_>) {}
        }
        let (p1, c1) = raw_channel(100);
        let (p2, c2) = raw_channel(1000);
        let mut a = Recorder::new(Nop, p1, &[]);
        let mut b = Recorder::new(Nop, p2, &[]);
        let mut parts = Parts::new();
        // 100 bytes hold two 30-byte messages (16-byte headers): the next three are lost.
        for t in 0..5 {
            a.on_message(Message::Text(&mut [b'a'; 30]), &mut parts.cx(10 + 2 * t, 1));
            b.on_message(Message::Text(&mut [b'b'; 30]), &mut parts.cx(11 + 2 * t, 2));
        }
        assert_eq!(a.dropped(), 3);
        let header = Header::new("binance", &[], 1);
        let sink = spawn_writer(
            vec![c1, c2],
            JournalWriter::new(Vec::new(), &header).unwrap(),
        )
        .unwrap();
        std::thread::sleep(Duration::from_millis(50));
        // One more on the first ring: the loss is written just before it.
        a.on_message(Message::Text(&mut [b'a'; 30]), &mut parts.cx(30, 1));
        drop((a, b));
        let (stats, w, result) = sink.finish();
        result.unwrap();
        assert_eq!((stats.lost, stats.messages), (3, 8));
        let bytes = w.into_inner().unwrap();
        let mut r = JournalReader::open(&bytes[..]).unwrap();
        let mut got = Vec::new();
        while let Some(rec) = r.next() {
            let rec = rec.unwrap();
            got.push((rec.kind, rec.recv_ns, rec.conn));
        }
        let mut want = vec![
            (Kind::Text, 10, 1),
            (Kind::Text, 11, 2),
            (Kind::Text, 12, 1),
        ];
        want.extend((0..5).skip(1).map(|t| (Kind::Text, 11 + 2 * t, 2)));
        want.extend([(Kind::Lost, 12, 1), (Kind::Text, 30, 1)]);
        assert_eq!(got, want);
    }

    /// A writer that takes `room` bytes, then fails like a full disk.
    struct Full {
        out: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
        room: usize,
    }

    impl Write for Full {
        fn write(&mut self, data: &[u8]) -> io::Result<usize> {
            let mut out = self.out.lock().unwrap();
            let n = data.len().min(self.room - out.len());
            if n == 0 {
                return Err(io::Error::from_raw_os_error(28)); // ENOSPC
            }
            out.extend_from_slice(&data[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_full_disk_counts_every_record_that_missed_the_file() {
        struct Nop;
        impl WsHandler for Nop {
            fn on_message(&mut self, _: Message<'_>, _: &mut Context<'_>) {}
        }
        let total = 5_000u64;
        // Room for the header and a few blocks of 64 KiB, not for all 5,000 x 100 bytes.
        for room in [60, 70_000, 200_000, 400_000] {
            let (p, c) = raw_channel(64 << 20);
            let mut rec = Recorder::new(Nop, p, &[]);
            let mut parts = Parts::new();
            for t in 0..total {
                rec.on_message(Message::Text(&mut [b'x'; 100]), &mut parts.cx(t + 1, 1));
            }
            drop(rec);
            let out = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
            let header = Header::new("binance", &[], 1);
            let writer = match JournalWriter::new(
                Full {
                    out: out.clone(),
                    room,
                },
                &header,
            ) {
                Ok(w) => w,
                // Not even the header fits: nothing to count yet (record says so at start).
                Err(_) => {
                    assert_eq!(room, 60);
                    continue;
                }
            };
            let sink = spawn_writer(vec![c], writer).unwrap();
            let (stats, _, result) = sink.finish();
            assert!(result.is_err(), "room {room}");
            // Every record is either in the file or counted as missing.
            assert_eq!(stats.records + stats.missing(), total, "room {room}");
            assert!(stats.unwritten > 0);
            // And the file holds exactly the records said to be there, each verified.
            let bytes = out.lock().unwrap().clone();
            let mut r = JournalReader::open(&bytes[..]).unwrap();
            let mut good = 0;
            while let Some(rec) = r.next() {
                match rec {
                    Ok(rec) => {
                        good += 1;
                        assert_eq!(rec.recv_ns, good);
                        assert_eq!(&*rec.payload, &[b'x'; 100]);
                    }
                    // The block cut by the full disk.
                    Err(JournalError::Damaged {
                        truncated: true, ..
                    }) => {}
                    Err(e) => panic!("room {room}: {e}"),
                }
            }
            assert_eq!(good, stats.records, "room {room}");
        }
    }
}
