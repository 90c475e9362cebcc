//! The journal file format (version 1): writer, reader, and the snapshot payloads.
//!
//! See the [module docs](super) for the layout. The reader lends each record's payload
//! mutably (the adapters parse in place) and reuses one buffer; nothing it reads from the
//! file can make it panic or allocate without bound (fields and the header line are capped,
//! payloads are limited to [`MAX_PAYLOAD`]).

use std::io::{self, BufRead, Read, Write};

use tickwire_engine::InstrumentId;
use tickwire_engine::adapter::{BookSnapshot, SnapshotError};
use tickwire_feeds::binance::{TimeUnit, parse_depth_snapshot};

/// First word of a journal's header line.
pub const MAGIC: &str = "tickwire-journal";
/// The version this code writes and reads.
pub const VERSION: u32 = 1;
/// Largest record payload accepted (a 5000-level snapshot is about 200 KB).
pub const MAX_PAYLOAD: usize = 256 << 20;
/// Longest header line accepted.
const MAX_HEADER: u64 = 4 << 20;
/// Longest numeric or kind field accepted (u64 has 20 digits).
const MAX_FIELD: u64 = 24;

/// What a record holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A text message as received (before decoding).
    Text,
    /// A binary message as received.
    Binary,
    /// A book snapshot handed to the feed handler (see [`write_snapshot`]).
    Snapshot,
    /// A failed snapshot request handed to the feed handler (see [`write_snapshot_error`]).
    SnapshotError,
    /// The connection's session started; the payload is its streams, comma-separated.
    Connect,
    /// The session ended; the payload is the reason's name (`io`, `too_big`, ...).
    Disconnect,
    /// The recorder dropped records here (its ring was full); the payload is how many.
    Lost,
}

impl Kind {
    const ALL: [Kind; 7] = [
        Kind::Text,
        Kind::Binary,
        Kind::Snapshot,
        Kind::SnapshotError,
        Kind::Connect,
        Kind::Disconnect,
        Kind::Lost,
    ];

    /// The word written in the file.
    pub const fn name(self) -> &'static str {
        match self {
            Kind::Text => "text",
            Kind::Binary => "binary",
            Kind::Snapshot => "snapshot",
            Kind::SnapshotError => "snapshot_error",
            Kind::Connect => "connect",
            Kind::Disconnect => "disconnect",
            Kind::Lost => "lost",
        }
    }

    /// The kind for a word, if known.
    pub fn from_name(name: &[u8]) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name().as_bytes() == name)
    }

    /// A small code (the recorder tags ring records with it).
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// The kind for a code, if known.
    pub fn from_code(code: u8) -> Option<Kind> {
        Kind::ALL.get(usize::from(code)).copied()
    }
}

/// Why a journal could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    /// Reading failed.
    #[error("read failed: {0}")]
    Io(io::ErrorKind),
    /// The first line is not a journal header.
    #[error("not a tickwire journal (the first line does not start with '{MAGIC}')")]
    NotJournal,
    /// A journal of another version.
    #[error("journal version {0} is not supported (this tool reads version {VERSION})")]
    Version(u32),
    /// The header line is malformed.
    #[error("journal header malformed")]
    Header,
    /// Record number `record` (1-based) is malformed.
    #[error("journal record {record} malformed")]
    Malformed {
        /// 1-based record number.
        record: u64,
    },
    /// The file ends inside record number `record` (the recorder was killed, or the file
    /// was cut).
    #[error("journal truncated in record {record}")]
    Truncated {
        /// 1-based record number.
        record: u64,
    },
}

/// The header line: `tickwire-journal 1 venue=V streams=a,b tool=X started=NS`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// Format version.
    pub version: u32,
    /// Venue name (`binance`, `binance-usdm`).
    pub venue: String,
    /// Every stream recorded, over all connections.
    pub streams: Vec<String>,
    /// Version of the tool that wrote it.
    pub tool: String,
    /// When recording started, ns since the UNIX epoch.
    pub started_ns: u64,
}

impl Header {
    /// A version-1 header for `venue` and `streams`, written by this build.
    pub fn new(venue: &str, streams: &[String], started_ns: u64) -> Header {
        Header {
            version: VERSION,
            venue: venue.to_owned(),
            streams: streams.to_vec(),
            tool: env!("CARGO_PKG_VERSION").to_owned(),
            started_ns,
        }
    }

    /// Parses a header line (without its newline).
    pub fn parse(line: &[u8]) -> Result<Header, JournalError> {
        let line = std::str::from_utf8(line).map_err(|_| JournalError::Header)?;
        let mut words = line.split(' ');
        if words.next() != Some(MAGIC) {
            return Err(JournalError::NotJournal);
        }
        let version: u32 = words
            .next()
            .and_then(|v| v.parse().ok())
            .ok_or(JournalError::Header)?;
        if version != VERSION {
            return Err(JournalError::Version(version));
        }
        let mut h = Header {
            version,
            venue: String::new(),
            streams: Vec::new(),
            tool: String::new(),
            started_ns: 0,
        };
        for word in words.filter(|w| !w.is_empty()) {
            // Unknown keys are skipped: later writers may add some.
            match word.split_once('=') {
                Some(("venue", v)) => h.venue = v.to_owned(),
                Some(("streams", v)) => {
                    h.streams = v
                        .split(',')
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect()
                }
                Some(("tool", v)) => h.tool = v.to_owned(),
                Some(("started", v)) => {
                    h.started_ns = v.parse().map_err(|_| JournalError::Header)?
                }
                Some(_) => {}
                None => return Err(JournalError::Header),
            }
        }
        if h.venue.is_empty() {
            return Err(JournalError::Header);
        }
        Ok(h)
    }

    fn write_to(&self, out: &mut impl Write) -> io::Result<()> {
        writeln!(
            out,
            "{MAGIC} {} venue={} streams={} tool={} started={}",
            self.version,
            self.venue,
            self.streams.join(","),
            self.tool,
            self.started_ns
        )
    }
}

/// Writes a journal: the header at creation, then one record per call.
pub struct JournalWriter<W: Write> {
    out: W,
    records: u64,
    payload_bytes: u64,
}

impl<W: Write> JournalWriter<W> {
    /// Writes `header` to `out` and returns the writer.
    pub fn new(mut out: W, header: &Header) -> io::Result<JournalWriter<W>> {
        header.write_to(&mut out)?;
        Ok(JournalWriter {
            out,
            records: 0,
            payload_bytes: 0,
        })
    }

    /// Appends one record.
    pub fn write(&mut self, kind: Kind, recv_ns: u64, conn: u32, payload: &[u8]) -> io::Result<()> {
        let mut ts = itoa::Buffer::new();
        let mut c = itoa::Buffer::new();
        let mut len = itoa::Buffer::new();
        for part in [
            kind.name().as_bytes(),
            b" ",
            ts.format(recv_ns).as_bytes(),
            b" ",
            c.format(conn).as_bytes(),
            b" ",
            len.format(payload.len()).as_bytes(),
            b" ",
            payload,
            b"\n",
        ] {
            self.out.write_all(part)?;
        }
        self.records += 1;
        self.payload_bytes += payload.len() as u64;
        Ok(())
    }

    /// Flushes the underlying writer.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// Records written.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Payload bytes written.
    pub fn payload_bytes(&self) -> u64 {
        self.payload_bytes
    }

    /// The underlying writer (finish a gzip stream on it).
    pub fn into_inner(self) -> W {
        self.out
    }
}

/// One record, its payload lent mutably.
#[derive(Debug)]
pub struct Record<'a> {
    /// What it holds.
    pub kind: Kind,
    /// Receive time (frames) or callback time (the rest), ns since the UNIX epoch.
    pub recv_ns: u64,
    /// The engine's connection id.
    pub conn: u32,
    /// The payload.
    pub payload: &'a mut [u8],
    /// 1-based record number.
    pub index: u64,
}

/// Reads a journal record by record.
pub struct JournalReader<R> {
    inner: R,
    header: Header,
    buf: Vec<u8>,
    field: Vec<u8>,
    index: u64,
}

fn io_error(e: &io::Error, record: u64) -> JournalError {
    match e.kind() {
        io::ErrorKind::UnexpectedEof => JournalError::Truncated { record },
        // flate2 reports a corrupt or cut gzip stream as InvalidInput / InvalidData.
        k => JournalError::Io(k),
    }
}

/// Reads one line of at most `max` bytes (newline dropped); `None` at end of input.
pub(crate) fn read_line(
    r: &mut impl BufRead,
    buf: &mut Vec<u8>,
    max: u64,
) -> io::Result<Option<usize>> {
    buf.clear();
    let n = r.take(max).read_until(b'\n', buf)?;
    if n == 0 {
        return Ok(None);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
    }
    Ok(Some(n))
}

impl<R: BufRead> JournalReader<R> {
    /// Reads the header line and returns the reader.
    pub fn open(mut inner: R) -> Result<JournalReader<R>, JournalError> {
        let mut line = Vec::new();
        match read_line(&mut inner, &mut line, MAX_HEADER) {
            Ok(Some(_)) => {}
            Ok(None) => return Err(JournalError::NotJournal),
            Err(e) => return Err(io_error(&e, 0)),
        }
        let header = Header::parse(&line)?;
        Ok(JournalReader {
            inner,
            header,
            buf: Vec::with_capacity(64 * 1024),
            field: Vec::with_capacity(32),
            index: 0,
        })
    }

    /// The header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Reads one space-terminated field into `self.field`. `Ok(false)` at a clean end of
    /// input (only allowed before the first field of a record).
    fn field(&mut self, first: bool) -> Result<bool, JournalError> {
        self.field.clear();
        let record = self.index + 1;
        let n = (&mut self.inner)
            .take(MAX_FIELD)
            .read_until(b' ', &mut self.field)
            .map_err(|e| io_error(&e, record))?;
        if n == 0 {
            return if first {
                Ok(false)
            } else {
                Err(JournalError::Truncated { record })
            };
        }
        if self.field.pop() != Some(b' ') {
            return Err(if n < MAX_FIELD as usize {
                JournalError::Truncated { record }
            } else {
                JournalError::Malformed { record }
            });
        }
        Ok(true)
    }

    fn number(&self) -> Result<u64, JournalError> {
        let malformed = JournalError::Malformed {
            record: self.index + 1,
        };
        if self.field.is_empty() || !self.field.iter().all(u8::is_ascii_digit) {
            return Err(malformed);
        }
        std::str::from_utf8(&self.field)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or(malformed)
    }

    /// The next record, `None` at the end.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Option<Result<Record<'_>, JournalError>> {
        match self.read_record() {
            Ok(None) => None,
            Ok(Some((kind, recv_ns, conn))) => Some(Ok(Record {
                kind,
                recv_ns,
                conn,
                payload: &mut self.buf,
                index: self.index,
            })),
            Err(e) => Some(Err(e)),
        }
    }

    fn read_record(&mut self) -> Result<Option<(Kind, u64, u32)>, JournalError> {
        let record = self.index + 1;
        let malformed = JournalError::Malformed { record };
        if !self.field(true)? {
            return Ok(None);
        }
        let kind = Kind::from_name(&self.field).ok_or(malformed)?;
        self.field(false)?;
        let recv_ns = self.number()?;
        self.field(false)?;
        let conn = u32::try_from(self.number()?).map_err(|_| malformed)?;
        self.field(false)?;
        let len = usize::try_from(self.number()?).map_err(|_| malformed)?;
        if len > MAX_PAYLOAD {
            return Err(malformed);
        }
        // Payload and its newline.
        self.buf.clear();
        self.buf.resize(len + 1, 0);
        self.inner
            .read_exact(&mut self.buf)
            .map_err(|e| io_error(&e, record))?;
        if self.buf.pop() != Some(b'\n') {
            return Err(malformed);
        }
        self.index = record;
        Ok(Some((kind, recv_ns, conn)))
    }
}

fn push_decimal(out: &mut Vec<u8>, d: tickwire_engine::Decimal) {
    let mut buf = [0u8; 48];
    out.push(b'"');
    out.extend_from_slice(d.write_to(&mut buf).as_bytes());
    out.push(b'"');
}

/// Appends a snapshot payload:
/// `{"symbol":"BTCUSDT","lastUpdateId":N,"exchange_ts":NS,"bids":[["p","q"],..],"asks":[..]}`
/// (the venue's REST shape plus the symbol and the exact venue time in ns).
pub fn write_snapshot(out: &mut Vec<u8>, symbol: &str, snap: &BookSnapshot) {
    let mut n = itoa::Buffer::new();
    out.extend_from_slice(b"{\"symbol\":\"");
    out.extend_from_slice(symbol.as_bytes());
    out.extend_from_slice(b"\",\"lastUpdateId\":");
    out.extend_from_slice(n.format(snap.last_id).as_bytes());
    out.extend_from_slice(b",\"exchange_ts\":");
    out.extend_from_slice(n.format(snap.exchange_ts).as_bytes());
    for (key, levels) in [
        (&b",\"bids\":["[..], &snap.bids),
        (b"],\"asks\":[", &snap.asks),
    ] {
        out.extend_from_slice(key);
        for (i, (p, q)) in levels.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.push(b'[');
            push_decimal(out, *p);
            out.push(b',');
            push_decimal(out, *q);
            out.push(b']');
        }
    }
    out.extend_from_slice(b"]}");
}

/// The name of a snapshot error in a payload.
pub const fn snapshot_error_name(e: SnapshotError) -> &'static str {
    match e {
        SnapshotError::Request => "request",
        SnapshotError::Malformed => "malformed",
        SnapshotError::Closed => "closed",
        SnapshotError::Status(_) => "status",
        SnapshotError::RateLimited { .. } => "rate_limited",
    }
}

/// Appends a snapshot error payload: `{"symbol":"BTCUSDT","error":"request"}`.
pub fn write_snapshot_error(out: &mut Vec<u8>, symbol: &str, e: SnapshotError) {
    out.extend_from_slice(b"{\"symbol\":\"");
    out.extend_from_slice(symbol.as_bytes());
    out.extend_from_slice(b"\",\"error\":\"");
    out.extend_from_slice(snapshot_error_name(e).as_bytes());
    out.push(b'"');
    let (status, wait) = match e {
        SnapshotError::Status(s) => (Some(s), None),
        SnapshotError::RateLimited {
            status,
            retry_after_ms,
        } => (Some(status), Some(retry_after_ms)),
        _ => (None, None),
    };
    if let Some(s) = status {
        out.extend_from_slice(format!(",\"status\":{s}").as_bytes());
    }
    if let Some(ms) = wait {
        out.extend_from_slice(format!(",\"retry_after_ms\":{ms}").as_bytes());
    }
    out.push(b'}');
}

/// The symbol a snapshot or snapshot-error payload names (its leading `"symbol"` member).
pub fn payload_symbol(payload: &[u8]) -> Option<&str> {
    let rest = payload.strip_prefix(b"{\"symbol\":\"")?;
    let end = rest.iter().position(|&b| b == b'"')?;
    std::str::from_utf8(&rest[..end]).ok()
}

/// The error a snapshot-error payload names.
pub fn payload_snapshot_error(payload: &[u8]) -> Option<SnapshotError> {
    let at = payload.windows(9).position(|w| w == b"\"error\":\"")? + 9;
    let rest = &payload[at..];
    let end = rest.iter().position(|&b| b == b'"')?;
    match &rest[..end] {
        b"request" => Some(SnapshotError::Request),
        b"malformed" => Some(SnapshotError::Malformed),
        b"closed" => Some(SnapshotError::Closed),
        b"status" => Some(SnapshotError::Status(
            u16::try_from(member_u64(payload, b"\"status\":")?).ok()?,
        )),
        b"rate_limited" => Some(SnapshotError::RateLimited {
            status: u16::try_from(member_u64(payload, b"\"status\":")?).ok()?,
            retry_after_ms: member_u64(payload, b"\"retry_after_ms\":")?,
        }),
        _ => None,
    }
}

/// An unsigned integer member `"key":N` among the first bytes of a payload.
fn member_u64(payload: &[u8], key: &[u8]) -> Option<u64> {
    let head = &payload[..payload.len().min(256)];
    let at = head.windows(key.len()).position(|w| w == key)? + key.len();
    let digits = payload[at..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    std::str::from_utf8(&payload[at..at + digits])
        .ok()?
        .parse()
        .ok()
}

/// Parses a snapshot payload (parsed in place) for `instrument`.
pub fn parse_snapshot(
    payload: &mut [u8],
    instrument: InstrumentId,
) -> Result<BookSnapshot, SnapshotError> {
    let exchange_ts = member_u64(payload, b"\"exchange_ts\":").ok_or(SnapshotError::Malformed)?;
    let mut snap = parse_depth_snapshot(payload, instrument, TimeUnit::Millisecond)
        .map_err(|_| SnapshotError::Malformed)?;
    snap.exchange_ts = exchange_ts;
    Ok(snap)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickwire_engine::Decimal;

    fn d(s: &str) -> Decimal {
        Decimal::parse(s.as_bytes()).unwrap()
    }

    #[test]
    fn records_round_trip_with_any_bytes() {
        let header = Header::new("binance", &["btcusdt@trade".into(), "x@depth".into()], 5);
        let mut w = JournalWriter::new(Vec::new(), &header).unwrap();
        let payloads: [(Kind, &[u8]); 4] = [
            (Kind::Connect, b"btcusdt@trade"),
            (Kind::Text, b"{\"a\":1}\n{\"b\":2} with spaces"),
            (Kind::Binary, &[0, 255, b'\n', b' ']),
            (Kind::Lost, b""),
        ];
        for (i, (k, p)) in payloads.iter().enumerate() {
            w.write(*k, 1_000 + i as u64, 7, p).unwrap();
        }
        assert_eq!(w.records(), 4);
        let bytes = w.into_inner();
        let mut r = JournalReader::open(&bytes[..]).unwrap();
        assert_eq!(r.header(), &header);
        for (i, (k, p)) in payloads.iter().enumerate() {
            let rec = r.next().unwrap().unwrap();
            assert_eq!(
                (rec.kind, rec.recv_ns, rec.conn, &*rec.payload, rec.index),
                (*k, 1_000 + i as u64, 7, *p, i as u64 + 1)
            );
        }
        assert!(r.next().is_none());
        // Every cut inside a record is reported as truncation, never a panic.
        let body_start = bytes.iter().position(|&b| b == b'\n').unwrap() + 1;
        for cut in body_start + 1..bytes.len() - 1 {
            let mut r = JournalReader::open(&bytes[..cut]).unwrap();
            let mut err = None;
            while let Some(rec) = r.next() {
                if let Err(e) = rec {
                    err = Some(e);
                    break;
                }
            }
            if let Some(e) = err {
                assert!(matches!(e, JournalError::Truncated { .. }), "{cut}: {e:?}");
            }
        }
    }

    #[test]
    fn bad_input_is_a_typed_error() {
        assert_eq!(
            JournalReader::open(&b"123 {\"a\":1}\n"[..]).err(),
            Some(JournalError::NotJournal)
        );
        assert_eq!(
            JournalReader::open(&b""[..]).err(),
            Some(JournalError::NotJournal)
        );
        assert_eq!(
            JournalReader::open(&b"tickwire-journal 9 venue=binance\n"[..]).err(),
            Some(JournalError::Version(9))
        );
        assert_eq!(
            JournalReader::open(&b"tickwire-journal 1 streams=a\n"[..]).err(),
            Some(JournalError::Header)
        );
        for body in [
            &b"nope 1 1 0 \n"[..],
            b"text x 1 0 \n",
            b"text 1 99999999999 0 \n",
            b"text 1 1 3 abcd\n",
            b"text 1 1 999999999999999999 x\n",
            b"text 111111111111111111111111111111 1 0 \n",
        ] {
            let mut file = b"tickwire-journal 1 venue=binance\n".to_vec();
            file.extend_from_slice(body);
            let mut r = JournalReader::open(&file[..]).unwrap();
            assert_eq!(
                r.next().unwrap().err(),
                Some(JournalError::Malformed { record: 1 }),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn snapshots_round_trip_exactly() {
        let snap = BookSnapshot {
            instrument: InstrumentId(3),
            last_id: 5_123_107_852_948,
            exchange_ts: 1_723_161_255_123_456_789,
            bids: vec![
                (d("61837.60"), d("0.00000001")),
                (d("61837.5"), d("123456789012.5")),
            ],
            asks: vec![(d("61837.7"), d("1"))],
        };
        let mut out = Vec::new();
        write_snapshot(&mut out, "BTCUSDT", &snap);
        assert_eq!(payload_symbol(&out), Some("BTCUSDT"));
        assert_eq!(parse_snapshot(&mut out, InstrumentId(3)).unwrap(), snap);
        let empty = BookSnapshot {
            bids: vec![],
            asks: vec![],
            ..snap
        };
        let mut out = Vec::new();
        write_snapshot(&mut out, "X", &empty);
        assert_eq!(parse_snapshot(&mut out, InstrumentId(3)).unwrap(), empty);
        let mut out = Vec::new();
        write_snapshot_error(&mut out, "ETHUSDT", SnapshotError::Request);
        assert_eq!(payload_symbol(&out), Some("ETHUSDT"));
        assert_eq!(payload_snapshot_error(&out), Some(SnapshotError::Request));
        for e in [
            SnapshotError::Status(503),
            SnapshotError::RateLimited {
                status: 418,
                retry_after_ms: 120_000,
            },
        ] {
            out.clear();
            write_snapshot_error(&mut out, "ETHUSDT", e);
            assert_eq!(payload_snapshot_error(&out), Some(e));
        }
        assert_eq!(
            parse_snapshot(&mut b"{\"symbol\":\"X\"}".to_vec(), InstrumentId(0)),
            Err(SnapshotError::Malformed)
        );
    }
}
