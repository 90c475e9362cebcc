//! The journal file format (version 2, blocks with checksums; version 1 still read): writer,
//! reader, and the snapshot payloads.
//!
//! See the [module docs](super) for the layout. The reader lends each record's payload
//! mutably (the adapters parse in place) and reuses one buffer; nothing it reads from the
//! file can make it panic or allocate without bound (fields and the header line are capped,
//! payloads are limited to [`MAX_PAYLOAD`]). A version-2 block is verified (CRC-32) before
//! any of its records is handed out; a damaged stretch is skipped to the next good block and
//! reported as [`JournalError::Damaged`], after which reading goes on.

use std::io::{self, BufRead, Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use flate2::Compression;

use tickwire_engine::InstrumentId;
use tickwire_engine::adapter::{BookSnapshot, SnapshotError};
use tickwire_feeds::binance::{TimeUnit, parse_depth_snapshot};

/// First word of a journal's header line.
pub const MAGIC: &str = "tickwire-journal";
/// The version this code writes.
pub const VERSION: u32 = 2;
/// The oldest version this code reads (version 1 has no checksums: its records are not
/// verified).
pub const VERSION_UNVERIFIED: u32 = 1;
/// A block is closed once its records reach this many bytes (or at a flush).
pub const BLOCK_TARGET: usize = 64 << 10;
/// First word of a block header line.
const BLOCK: &[u8] = b"block ";
/// Longest block header line (`block` and four numbers).
const MAX_BLOCK_HEADER: usize = 96;
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
    /// The file is empty (or its gzip stream holds nothing).
    #[error("empty journal (no header line, no records)")]
    Empty,
    /// The first line is not a journal header.
    #[error("not a tickwire journal (the first line does not start with '{MAGIC}')")]
    NotJournal,
    /// A journal of another version.
    #[error(
        "journal version {0} is not supported (this tool reads versions {VERSION_UNVERIFIED} and {VERSION})"
    )]
    Version(u32),
    /// The gzip stream of a version-1 journal is corrupt (bad deflate data or gzip checksum);
    /// nothing after record `record` can be read.
    #[error(
        "journal corrupt: the gzip data is damaged (bad deflate data or checksum) in record {record}; nothing after it can be read"
    )]
    GzipCorrupt {
        /// 1-based record number.
        record: u64,
    },
    /// A version-2 stretch failed its checksum (or its framing) and was skipped: no record of
    /// it was handed out. Reading may go on with [`JournalReader::next`] (at the next good
    /// block, if any).
    #[error("{}", damaged_text(*.first_missing, *.lost, *.bytes, *.truncated))]
    Damaged {
        /// 1-based number of the first record not handed out.
        first_missing: u64,
        /// Records lost, when a good block after the damage tells (`None`: the damage runs
        /// to the end of the file).
        lost: Option<u64>,
        /// Bytes skipped (of the decompressed stream).
        bytes: u64,
        /// The file ends inside the damaged stretch (rather than a checksum failing).
        truncated: bool,
    },
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
    /// A header (the version this build writes) for `venue` and `streams`.
    pub fn new(venue: &str, streams: &[String], started_ns: u64) -> Header {
        Header {
            version: VERSION,
            venue: venue.to_owned(),
            streams: streams.to_vec(),
            tool: env!("CARGO_PKG_VERSION").to_owned(),
            started_ns,
        }
    }

    /// Whether its records carry checksums (version 2 on).
    pub fn verified(&self) -> bool {
        self.version >= 2
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
        if !(VERSION_UNVERIFIED..=VERSION).contains(&version) {
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

/// Writes a version-2 journal: the header at creation, then records gathered into blocks of
/// about [`BLOCK_TARGET`] bytes, each written with its record numbers, length and CRC-32 once
/// full or at [`JournalWriter::flush`]. With [`JournalWriter::gzip`] each block (and the
/// header) is its own gzip member, so a reader can restart at the next member after damage.
pub struct JournalWriter<W: Write> {
    out: W,
    gzip: Option<Compression>,
    /// Records of the open block, in the v1 record syntax.
    block: Vec<u8>,
    /// Records in the open block.
    block_records: u64,
    /// Records handed to `write`.
    records: u64,
    /// Records in blocks written out and flushed.
    committed: u64,
    payload_bytes: u64,
    /// A compressed block, reused.
    member: Vec<u8>,
}

impl<W: Write> JournalWriter<W> {
    /// Writes `header` to `out` (uncompressed) and returns the writer.
    pub fn new(out: W, header: &Header) -> io::Result<JournalWriter<W>> {
        JournalWriter::start(out, header, None)
    }

    /// Like [`JournalWriter::new`], each block (and the header) a gzip member of its own.
    pub fn gzip(out: W, header: &Header, level: Compression) -> io::Result<JournalWriter<W>> {
        JournalWriter::start(out, header, Some(level))
    }

    fn start(out: W, header: &Header, gzip: Option<Compression>) -> io::Result<JournalWriter<W>> {
        let mut w = JournalWriter {
            out,
            gzip,
            block: Vec::with_capacity(BLOCK_TARGET + 4096),
            block_records: 0,
            records: 0,
            committed: 0,
            payload_bytes: 0,
            member: Vec::new(),
        };
        let mut line = Vec::new();
        header.write_to(&mut line)?;
        w.emit(&line)?;
        w.out.flush()?;
        Ok(w)
    }

    /// Writes `bytes` out, as a gzip member when compressing.
    fn emit(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self.gzip {
            None => self.out.write_all(bytes),
            Some(level) => {
                self.member.clear();
                let mut gz = flate2::write::GzEncoder::new(&mut self.member, level);
                gz.write_all(bytes)?;
                gz.finish()?;
                self.out.write_all(&self.member)
            }
        }
    }

    /// Appends one record (to the open block; written out when the block is full).
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
            self.block.extend_from_slice(part);
        }
        self.block_records += 1;
        self.records += 1;
        self.payload_bytes += payload.len() as u64;
        if self.block.len() >= BLOCK_TARGET {
            self.close_block()?;
        }
        Ok(())
    }

    /// Writes the open block out (if it holds records) and flushes it to `out`'s writer.
    fn close_block(&mut self) -> io::Result<()> {
        if self.block_records == 0 {
            return Ok(());
        }
        let first = self.committed + 1;
        let mut frame = block_head(first, self.block_records, self.block.len());
        let crc = block_crc(&frame, &self.block);
        frame.extend_from_slice(format!("{crc:08x}\n").as_bytes());
        frame.extend_from_slice(&self.block);
        let result = self.emit(&frame).and_then(|()| self.out.flush());
        // Failed or not, the block is done with: a failed one is not retried (its records
        // are counted as not written, see `records_committed`).
        self.block.clear();
        let n = std::mem::take(&mut self.block_records);
        result?;
        self.committed += n;
        Ok(())
    }

    /// Writes the open block and flushes the underlying writer.
    pub fn flush(&mut self) -> io::Result<()> {
        self.close_block()?;
        self.out.flush()
    }

    /// Records written (handed to [`JournalWriter::write`]).
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Records in blocks written out and flushed to the underlying writer without error;
    /// `records() - records_committed()` never reached it (still open, or a write failed).
    pub fn records_committed(&self) -> u64 {
        self.committed
    }

    /// Payload bytes written.
    pub fn payload_bytes(&self) -> u64 {
        self.payload_bytes
    }

    /// Writes the open block and returns the underlying writer.
    pub fn into_inner(mut self) -> io::Result<W> {
        self.close_block()?;
        Ok(self.out)
    }
}

/// `block <first> <records> <length> ` (the checksum follows).
fn block_head(first: u64, records: u64, len: usize) -> Vec<u8> {
    format!("block {first} {records} {len} ").into_bytes()
}

/// The checksum of a block: CRC-32 over its header words (all but the checksum) and its
/// records, so a damaged record number or length fails as surely as damaged records.
fn block_crc(head: &[u8], body: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(head);
    h.update(body);
    h.finalize()
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

fn damaged_text(first_missing: u64, lost: Option<u64>, bytes: u64, truncated: bool) -> String {
    if truncated && lost.is_none() {
        return format!(
            "journal truncated at record {first_missing}: the file ends inside a block (cut, \
             or the recorder was killed); its records are not shown, {bytes} bytes skipped"
        );
    }
    let what = match lost {
        Some(1) => "1 record lost (not shown)".to_owned(),
        Some(n) => format!("{n} records lost (not shown)"),
        None if truncated => "the file ends inside a block (cut, or the recorder was killed): \
                              its records are lost (not shown)"
            .to_owned(),
        None => "no good block follows: the rest is lost (not shown)".to_owned(),
    };
    format!(
        "journal damaged at record {first_missing} (checksum or framing failed): {what}, \
         {bytes} bytes skipped"
    )
}

/// State shared between a [`JournalReader`] and the gzip member reader under it.
#[derive(Debug, Default)]
struct GzState {
    /// Skip a damaged member to the next one (version 2); else report the damage.
    resync: AtomicBool,
    /// Compressed bytes skipped looking for the next member.
    skipped: AtomicU64,
    /// Damaged members (or bytes between members) met so far.
    failures: AtomicU64,
}

/// Decompresses a stream of gzip members one by one. After a damaged member (bad deflate
/// data, bad gzip checksum, cut) it either reports the error, as `InvalidData` (version 1:
/// one stream, nothing after the damage can be trusted), or skips to the next gzip member
/// header (version 2: blocks are their own members, and the block checksums above catch
/// whatever the damaged member let through).
struct GzMembers<R: BufRead> {
    raw: Option<R>,
    member: Option<flate2::bufread::GzDecoder<R>>,
    state: Arc<GzState>,
}

impl<R: BufRead> GzMembers<R> {
    fn new(raw: R, state: Arc<GzState>) -> Self {
        GzMembers {
            raw: Some(raw),
            member: None,
            state,
        }
    }

    /// Moves `raw` to the next gzip member header (`1f 8b 08`), counting what it skips.
    /// `false` at the end of the input.
    fn seek_member(&mut self, raw: &mut R) -> io::Result<bool> {
        loop {
            let buf = raw.fill_buf()?;
            if buf.is_empty() {
                return Ok(false);
            }
            if let Some(at) = buf.windows(3).position(|w| w == [0x1f, 0x8b, 0x08]) {
                raw.consume(at);
                self.state.skipped.fetch_add(at as u64, Ordering::Relaxed);
                return Ok(true);
            }
            // Keep two bytes: a header may straddle the buffer's end.
            let n = buf.len().saturating_sub(2).max(1);
            raw.consume(n);
            self.state.skipped.fetch_add(n as u64, Ordering::Relaxed);
        }
    }
}

impl<R: BufRead> Read for GzMembers<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        loop {
            if let Some(m) = self.member.as_mut() {
                match m.read(out) {
                    Ok(0) => {
                        self.raw = self
                            .member
                            .take()
                            .map(flate2::bufread::GzDecoder::into_inner);
                    }
                    Ok(n) => return Ok(n),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        let Some(mut raw) = self
                            .member
                            .take()
                            .map(flate2::bufread::GzDecoder::into_inner)
                        else {
                            return Err(e);
                        };
                        if !self.state.resync.load(Ordering::Relaxed) {
                            self.raw = Some(raw);
                            return Err(io::Error::new(
                                io::ErrorKind::InvalidData,
                                format!("gzip data corrupt: {e}"),
                            ));
                        }
                        self.state.failures.fetch_add(1, Ordering::Relaxed);
                        // Past the damaged member's header: the next header is a later one.
                        let more = self.seek_member(&mut raw)?;
                        self.raw = Some(raw);
                        if !more {
                            return Ok(0);
                        }
                    }
                }
                continue;
            }
            let Some(mut raw) = self.raw.take() else {
                return Ok(0);
            };
            if raw.fill_buf()?.is_empty() {
                self.raw = Some(raw);
                return Ok(0);
            }
            if !raw.fill_buf()?.starts_with(&[0x1f, 0x8b]) {
                // Not a member where one must start: damage between members.
                if !self.state.resync.load(Ordering::Relaxed) {
                    self.raw = Some(raw);
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "gzip data corrupt: bytes after the gzip stream",
                    ));
                }
                raw.consume(1);
                self.state.skipped.fetch_add(1, Ordering::Relaxed);
                self.state.failures.fetch_add(1, Ordering::Relaxed);
                let more = self.seek_member(&mut raw)?;
                self.raw = Some(raw);
                if !more {
                    return Ok(0);
                }
                continue;
            }
            self.member = Some(flate2::bufread::GzDecoder::new(raw));
        }
    }
}

/// How a journal's records are framed.
enum Body {
    /// Version 1: records one after the other, unverified.
    Records,
    /// Version 2: verified blocks of records.
    Blocks(Blocks),
}

/// The version-2 block reader's state: a window over the input (blocks are verified whole
/// before any record is handed out) and the current block's records.
struct Blocks {
    /// Input bytes not consumed yet start at `start`.
    win: Vec<u8>,
    start: usize,
    eof: bool,
    /// Records of the verified block being handed out, and the next record's offset.
    block: Vec<u8>,
    pos: usize,
}

/// A verified block: its first record number and where its records lie in the window.
struct Frame {
    first: u64,
    body: std::ops::Range<usize>,
}

/// Why a block candidate failed.
enum Bad {
    /// It does not verify.
    Corrupt,
    /// The input ends before it does.
    Cut,
}

/// Reads a journal record by record.
pub struct JournalReader<R> {
    inner: R,
    header: Header,
    buf: Vec<u8>,
    field: Vec<u8>,
    index: u64,
    body: Body,
    gz: Option<Arc<GzState>>,
    /// Gzip member failures already accounted for.
    gz_failures: u64,
}

fn io_error(e: &io::Error, record: u64) -> JournalError {
    match e.kind() {
        io::ErrorKind::UnexpectedEof => JournalError::Truncated { record },
        // flate2 reports a corrupt gzip stream as InvalidInput ("invalid input parameter")
        // or InvalidData; GzMembers reports it as InvalidData.
        io::ErrorKind::InvalidInput | io::ErrorKind::InvalidData => {
            JournalError::GzipCorrupt { record }
        }
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

/// A decimal number of ASCII digits (no sign, no leading `+`), if it fits.
fn ascii_u64(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 20 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// Parses one record at the start of `body`: kind, time, connection, and the payload's
/// range; plus the length of the whole record.
fn parse_record(body: &[u8]) -> Option<(Kind, u64, u32, std::ops::Range<usize>, usize)> {
    let mut at = 0;
    let mut word = || {
        let rest = body.get(at..)?;
        let end = rest
            .iter()
            .take(MAX_FIELD as usize)
            .position(|&b| b == b' ')?;
        let w = &rest[..end];
        at += end + 1;
        Some(w)
    };
    let kind = Kind::from_name(word()?)?;
    let ts = ascii_u64(word()?)?;
    let conn = u32::try_from(ascii_u64(word()?)?).ok()?;
    let len = usize::try_from(ascii_u64(word()?)?).ok()?;
    let end = at.checked_add(len)?;
    if body.get(end) != Some(&b'\n') {
        return None;
    }
    Some((kind, ts, conn, at..end, end + 1))
}

impl JournalReader<Box<dyn BufRead + Send>> {
    /// Opens a gzip journal from its raw (compressed) bytes: version 1 as one stream
    /// (damage ends the reading with [`JournalError::GzipCorrupt`]), version 2 member by
    /// member (damage is skipped to the next good block).
    pub fn open_gzip(
        raw: impl BufRead + Send + 'static,
    ) -> Result<JournalReader<Box<dyn BufRead + Send>>, JournalError> {
        let state = Arc::new(GzState::default());
        let input: Box<dyn BufRead + Send> = Box::new(io::BufReader::with_capacity(
            256 * 1024,
            GzMembers::new(raw, state.clone()),
        ));
        let mut r = JournalReader::open(input)?;
        if r.header.verified() {
            state.resync.store(true, Ordering::Relaxed);
        }
        r.gz = Some(state);
        Ok(r)
    }
}

impl<R: BufRead> JournalReader<R> {
    /// Reads the header line and returns the reader (plain input; see
    /// [`JournalReader::open_gzip`] for compressed).
    pub fn open(mut inner: R) -> Result<JournalReader<R>, JournalError> {
        let mut line = Vec::new();
        match read_line(&mut inner, &mut line, MAX_HEADER) {
            Ok(Some(_)) => {}
            Ok(None) => return Err(JournalError::Empty),
            Err(e) => return Err(io_error(&e, 0)),
        }
        let header = Header::parse(&line)?;
        let body = if header.verified() {
            Body::Blocks(Blocks {
                win: Vec::with_capacity(BLOCK_TARGET * 2),
                start: 0,
                eof: false,
                block: Vec::with_capacity(BLOCK_TARGET * 2),
                pos: 0,
            })
        } else {
            Body::Records
        };
        Ok(JournalReader {
            inner,
            header,
            buf: Vec::with_capacity(64 * 1024),
            field: Vec::with_capacity(32),
            index: 0,
            body,
            gz: None,
            gz_failures: 0,
        })
    }

    /// The header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Compressed bytes skipped to find the next gzip member after damage (gzip input).
    pub fn gzip_bytes_skipped(&self) -> u64 {
        self.gz
            .as_ref()
            .map_or(0, |g| g.skipped.load(Ordering::Relaxed))
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

    /// The next record, `None` at the end. After [`JournalError::Damaged`] reading may go
    /// on; after any other error it should stop.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Option<Result<Record<'_>, JournalError>> {
        if matches!(self.body, Body::Blocks(_)) {
            return self.next_in_block();
        }
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

    fn next_in_block(&mut self) -> Option<Result<Record<'_>, JournalError>> {
        while !matches!(&self.body, Body::Blocks(b) if b.pos < b.block.len()) {
            match self.next_block() {
                Ok(true) => {}
                Ok(false) => return None,
                Err(e) => return Some(Err(e)),
            }
        }
        let Body::Blocks(b) = &mut self.body else {
            return None;
        };
        let record = self.index + 1;
        let Some((kind, recv_ns, conn, payload, len)) = parse_record(&b.block[b.pos..]) else {
            // Verified but unreadable: a writer bug (or a checksum collision).
            b.pos = b.block.len();
            return Some(Err(JournalError::Malformed { record }));
        };
        let at = b.pos;
        b.pos += len;
        self.index = record;
        Some(Ok(Record {
            kind,
            recv_ns,
            conn,
            payload: &mut b.block[at + payload.start..at + payload.end],
            index: record,
        }))
    }

    /// Makes at least `n` unconsumed bytes available in the window, if the input has them.
    fn fill(&mut self, n: usize) -> Result<bool, JournalError> {
        let record = self.index + 1;
        let Body::Blocks(b) = &mut self.body else {
            return Ok(false);
        };
        while b.win.len() - b.start < n && !b.eof {
            if b.start > 0 {
                b.win.drain(..b.start);
                b.start = 0;
            }
            let chunk = self.inner.fill_buf().map_err(|e| io_error(&e, record))?;
            if chunk.is_empty() {
                b.eof = true;
                break;
            }
            let take = chunk.len();
            b.win.extend_from_slice(chunk);
            self.inner.consume(take);
        }
        Ok(b.win.len() - b.start >= n)
    }

    /// Tries to read a verified block at the window's start.
    fn frame_at_start(&mut self) -> Result<Result<Frame, Bad>, JournalError> {
        self.fill(MAX_BLOCK_HEADER)?;
        let Body::Blocks(b) = &self.body else {
            return Ok(Err(Bad::Corrupt));
        };
        let head = &b.win[b.start..];
        let head = &head[..head.len().min(MAX_BLOCK_HEADER)];
        let Some(nl) = head.iter().position(|&b| b == b'\n') else {
            return Ok(Err(if b.eof { Bad::Cut } else { Bad::Corrupt }));
        };
        let line = &head[..nl];
        let Some(words) = line.strip_prefix(BLOCK) else {
            return Ok(Err(Bad::Corrupt));
        };
        let mut w = words.split(|&c| c == b' ');
        let (Some(first), Some(count), Some(len), Some(crc), None) = (
            w.next().and_then(ascii_u64),
            w.next().and_then(ascii_u64),
            w.next().and_then(ascii_u64),
            w.next(),
            w.next(),
        ) else {
            return Ok(Err(Bad::Corrupt));
        };
        let Some(crc) = std::str::from_utf8(crc)
            .ok()
            .filter(|c| c.len() == 8)
            .and_then(|c| u32::from_str_radix(c, 16).ok())
        else {
            return Ok(Err(Bad::Corrupt));
        };
        let Ok(len) = usize::try_from(len) else {
            return Ok(Err(Bad::Corrupt));
        };
        if first == 0 || count == 0 || len > MAX_PAYLOAD + MAX_BLOCK_HEADER {
            return Ok(Err(Bad::Corrupt));
        }
        let crc_at = line.len() - 8;
        let total = nl + 1 + len;
        if !self.fill(total)? {
            return Ok(Err(Bad::Cut));
        }
        let Body::Blocks(b) = &self.body else {
            return Ok(Err(Bad::Corrupt));
        };
        let s = b.start;
        let body = s + nl + 1..s + total;
        if block_crc(&b.win[s..s + crc_at], &b.win[body.clone()]) != crc {
            return Ok(Err(Bad::Corrupt));
        }
        let _ = count;
        Ok(Ok(Frame { first, body }))
    }

    /// Loads the next verified block. `Ok(false)` at a clean end; `Err(Damaged)` when a
    /// stretch was skipped (the good block after it, if any, is loaded and held back).
    fn next_block(&mut self) -> Result<bool, JournalError> {
        let expected = self.index + 1;
        let mut skipped: u64 = 0;
        let mut damaged = false;
        let mut cut = false;
        loop {
            if !self.fill(1)? {
                // A damaged gzip member at the end leaves no bytes to fail a checksum:
                // only the member reader knows something was skipped.
                let gz_failures = self
                    .gz
                    .as_ref()
                    .map_or(0, |g| g.failures.load(Ordering::Relaxed));
                if gz_failures > self.gz_failures {
                    self.gz_failures = gz_failures;
                    damaged = true;
                }
                if damaged {
                    return Err(JournalError::Damaged {
                        first_missing: expected,
                        lost: None,
                        bytes: skipped,
                        truncated: cut,
                    });
                }
                return Ok(false);
            }
            match self.frame_at_start()? {
                Ok(frame) => {
                    let Body::Blocks(b) = &mut self.body else {
                        return Ok(false);
                    };
                    b.block.clear();
                    b.block.extend_from_slice(&b.win[frame.body.clone()]);
                    b.pos = 0;
                    b.start = frame.body.end;
                    if let Some(g) = &self.gz {
                        // Damage before this block is reported with it (by numbering).
                        self.gz_failures = g.failures.load(Ordering::Relaxed);
                    }
                    if !damaged && frame.first == expected {
                        return Ok(true);
                    }
                    // Blocks missing (damaged, or cut out) before this one: report them; the
                    // records of this one follow at the next call.
                    self.index = frame.first - 1;
                    return Err(JournalError::Damaged {
                        first_missing: expected,
                        lost: Some(frame.first.saturating_sub(expected)),
                        bytes: skipped,
                        truncated: false,
                    });
                }
                Err(bad) => {
                    damaged = true;
                    cut = matches!(bad, Bad::Cut);
                    skipped += self.skip_to_candidate()?;
                }
            }
        }
    }

    /// Moves the window's start to the next line starting with `block ` (at least one byte
    /// on), or to the end of the input; returns the bytes skipped.
    fn skip_to_candidate(&mut self) -> Result<u64, JournalError> {
        let mut skipped = 0u64;
        loop {
            let Body::Blocks(b) = &mut self.body else {
                return Ok(skipped);
            };
            let from = b.start + 1;
            let hay = b.win.get(from..).unwrap_or(&[]);
            let pat = [b"\n".as_slice(), BLOCK].concat();
            if let Some(i) = hay.windows(pat.len()).position(|w| w == pat.as_slice()) {
                let to = from + i + 1;
                skipped += (to - b.start) as u64;
                b.start = to;
                return Ok(skipped);
            }
            // Keep the last few bytes: the pattern may straddle what is read next.
            let keep = pat.len() - 1;
            let to = b.win.len().saturating_sub(keep).max(from.min(b.win.len()));
            skipped += (to - b.start) as u64;
            b.start = to;
            if b.eof {
                skipped += (b.win.len() - b.start) as u64;
                b.start = b.win.len();
                return Ok(skipped);
            }
            let want = b.win.len() - b.start + BLOCK_TARGET;
            self.fill(want)?;
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
        let bytes = w.into_inner().unwrap();
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
        // Every cut inside the block is reported as a cut block, and none of its records
        // is handed out (they are not verified).
        let body_start = bytes.iter().position(|&b| b == b'\n').unwrap() + 1;
        for cut in body_start + 1..bytes.len() {
            let mut r = JournalReader::open(&bytes[..cut]).unwrap();
            match r.next() {
                Some(Err(JournalError::Damaged {
                    first_missing: 1,
                    lost: None,
                    truncated: true,
                    ..
                })) => {}
                other => panic!("{cut}: {:?}", other.map(|r| r.map(|r| r.index))),
            }
            assert!(r.next().is_none());
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
            Some(JournalError::Empty)
        );
        assert!(JournalError::Empty.to_string().contains("empty journal"));
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
            // Version 1: records without blocks.
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

    /// A small journal: 40 records in five blocks (a flush closes a block).
    /// A record as written: kind, time, connection, payload.
    type Written = (Kind, u64, u32, Vec<u8>);
    /// A record as read: its number, then as written.
    type ReadBack = (u64, Kind, u64, u32, Vec<u8>);

    fn sample(gzip: bool) -> (Vec<u8>, Vec<Written>) {
        let header = Header::new("binance", &["btcusdt@trade".into()], 5);
        let mut want = Vec::new();
        let mut w = if gzip {
            JournalWriter::gzip(Vec::new(), &header, Compression::fast()).unwrap()
        } else {
            JournalWriter::new(Vec::new(), &header).unwrap()
        };
        for i in 0..40u64 {
            let payload = format!(
                r#"{{"e":"trade","t":{i},"p":"61837.6{i}","q":"0.0264300{i}"}}{}"#,
                " ".repeat(if i % 7 == 0 { 30 } else { 2 })
            )
            .into_bytes();
            w.write(Kind::Text, 1_000 + i, 1, &payload).unwrap();
            want.push((Kind::Text, 1_000 + i, 1, payload));
            if i % 9 == 8 {
                w.flush().unwrap();
            }
        }
        (w.into_inner().unwrap(), want)
    }

    /// Reads everything `bytes` yields; returns the records handed out and the damage seen.
    fn read_all(bytes: &[u8], gzip: bool) -> (Vec<ReadBack>, u32, bool) {
        let reader = if gzip {
            JournalReader::open_gzip(io::Cursor::new(bytes.to_vec()))
        } else {
            JournalReader::open(Box::new(io::Cursor::new(bytes.to_vec())) as Box<dyn BufRead + Send>)
        };
        let Ok(mut r) = reader else {
            return (Vec::new(), 0, true);
        };
        let (mut got, mut damaged, mut fatal) = (Vec::new(), 0, false);
        while let Some(rec) = r.next() {
            match rec {
                Ok(rec) => got.push((
                    rec.index,
                    rec.kind,
                    rec.recv_ns,
                    rec.conn,
                    rec.payload.to_vec(),
                )),
                Err(JournalError::Damaged { .. }) => damaged += 1,
                Err(_) => {
                    fatal = true;
                    break;
                }
            }
            assert!(got.len() <= 40 && damaged < 100);
        }
        (got, damaged, fatal)
    }

    /// Flips every byte of a small journal, one at a time: the reader hands out only
    /// records exactly as written (under their own numbers), and says when some are missing.
    fn flip_every_byte(gzip: bool) {
        let (bytes, want) = sample(gzip);
        let (got, damaged, fatal) = read_all(&bytes, gzip);
        assert_eq!((got.len(), damaged, fatal), (40, 0, false));
        for at in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[at] ^= 0x20;
            let (got, damaged, fatal) = read_all(&bad, gzip);
            for (index, kind, ts, conn, payload) in &got {
                let (k, t, c, p) = &want[(*index - 1) as usize];
                assert_eq!(
                    (kind, ts, conn, payload),
                    (k, t, c, p),
                    "byte {at}: record {index} is not what was written"
                );
            }
            if got.len() < 40 {
                assert!(
                    damaged > 0 || fatal,
                    "byte {at}: records missing unannounced"
                );
            }
        }
    }

    #[test]
    fn a_flipped_byte_anywhere_never_yields_a_wrong_record_plain() {
        flip_every_byte(false);
    }

    #[test]
    fn a_flipped_byte_anywhere_never_yields_a_wrong_record_gzip() {
        flip_every_byte(true);
    }

    #[test]
    fn damage_is_skipped_to_the_next_good_block_and_counted() {
        let (bytes, _) = sample(false);
        // Damage one byte inside the second block's records.
        let second = bytes
            .windows(7)
            .enumerate()
            .filter(|(_, w)| *w == b"\nblock ")
            .nth(1)
            .unwrap()
            .0;
        let mut bad = bytes.clone();
        bad[second + 200] ^= 1;
        let mut r = JournalReader::open(&bad[..]).unwrap();
        let mut indices = Vec::new();
        let mut damage = Vec::new();
        while let Some(rec) = r.next() {
            match rec {
                Ok(rec) => indices.push(rec.index),
                Err(e) => damage.push(e),
            }
        }
        // The first blocks flushed at records 9, 18, 27, 36 (and size): record numbers say
        // exactly which went missing.
        let missing: Vec<u64> = (1..=40).filter(|i| !indices.contains(i)).collect();
        assert!(!missing.is_empty());
        assert_eq!(damage.len(), 1);
        let JournalError::Damaged {
            first_missing,
            lost,
            truncated,
            ..
        } = damage[0]
        else {
            panic!("{:?}", damage[0]);
        };
        assert_eq!(first_missing, missing[0]);
        assert_eq!(lost, Some(missing.len() as u64));
        assert!(!truncated);
        assert!(damage[0].to_string().contains("records lost"));
    }

    #[test]
    fn version_1_journals_still_read_and_gzip_damage_is_named() {
        let v1 = b"tickwire-journal 1 venue=binance streams=a tool=0 started=1\n\
                   text 5 1 3 abc\ntext 6 1 2 de\n";
        let mut r = JournalReader::open(&v1[..]).unwrap();
        assert!(!r.header().verified());
        assert_eq!(&*r.next().unwrap().unwrap().payload, b"abc");
        assert_eq!(&*r.next().unwrap().unwrap().payload, b"de");
        assert!(r.next().is_none());
        // One gzip stream (as version 1 was written), damaged in its deflate data.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), Compression::default());
        gz.write_all(v1).unwrap();
        for _ in 0..200 {
            gz.write_all(b"text 7 1 31 0123456789012345678901234567890\n")
                .unwrap_or(());
        }
        let mut z = gz.finish().unwrap();
        let n = z.len();
        z[n - 6] ^= 0xff; // the gzip trailer's checksum
        let mut r = JournalReader::open_gzip(io::Cursor::new(z)).unwrap();
        let mut err = None;
        while let Some(rec) = r.next() {
            if let Err(e) = rec {
                err = Some(e);
                break;
            }
        }
        let e = err.unwrap();
        assert!(matches!(e, JournalError::GzipCorrupt { .. }), "{e:?}");
        assert!(e.to_string().contains("gzip data is damaged"), "{e}");
        assert!(!e.to_string().contains("invalid input parameter"));
    }
}
