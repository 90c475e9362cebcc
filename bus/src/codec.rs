//! The batch encoding: many [`Event`]s of one subject in one bus message, version 1.
//!
//! An event is 64 bytes in memory; on the bus most fields are small deltas, so a book level
//! takes about 12–20 bytes. All integers are little-endian; "varint" is LEB128 (7 bits a
//! byte, low groups first, at most 10 bytes), "zigzag" maps signed to unsigned
//! (`(n << 1) ^ (n >> 63)`) before the varint.
//!
//! ```text
//! header, 32 bytes
//!   0  [u8; 2]  magic "TW"
//!   2  u8       version (1; a decoder refuses any other)
//!   3  u8       batch flags: bit 0 SNAPSHOT (a book snapshot run made by the egress for a
//!               late joiner: see `remote`), bit 1 GAP (the egress dropped events before
//!               this batch; the batch holds the in-band `Overflow` status), others 0
//!   4  u16      event count
//!   6  u16      reserved, 0
//!   8  u64      publisher id (random per egress; the dedup id and the order key use it)
//!  16  u64      subject sequence: 1, 2, 3, ... per publisher and subject
//!  24  u64      sent_ts: ns since the UNIX epoch when the egress sealed the batch
//! events, `count` times
//!   u8      head: bits 0-1 kind (0 trade, 1 level, 2 bbo, 3 status), bits 2-3 side
//!           (0 buy, 1 sell, 2 none), bit 4 exchange_ts follows, bit 5 publish stamp follows
//!   u8      event flags (`Flags`)
//!   u8      scales: price scale << 4 | quantity scale (each at most 15)
//!   varint  instrument id (the publisher's; u32::MAX for none)
//!   zigzag  recv_ts minus the previous event's (the first: minus sent_ts)
//!   zigzag  exchange_ts minus recv_ts                      (only with head bit 4)
//!   zigzag  seq minus the previous event's (the first: minus 0)
//!   zigzag  values: trade and level 2 (price, qty mantissas), bbo 4 (bid price, bid qty,
//!           ask price, ask qty), status 3 (status kind, reason, connection)
//!   zigzag  publish stamp minus recv_ts                    (only with head bit 5)
//! ```
//!
//! Decoding rebuilds each event through the public constructors, so a decoded event is
//! equal (`==`) to the one encoded. Malformed input is a typed [`DecodeError`], never a
//! panic.

use tickwire_engine::event::{Bbo, Level, Status, StatusKind, Trade};
use tickwire_engine::{Decimal, Event, EventKind, Flags, InstrumentId, Side};

/// The batch format version written and read.
pub const VERSION: u8 = 1;
/// Bytes of the batch header.
pub const HEADER_LEN: usize = 32;
/// The most events one batch holds (the count is a u16).
pub const MAX_EVENTS: usize = u16::MAX as usize;
/// Largest encoded size of one event (3 bytes, then 9 varints of at most 10 bytes).
pub const MAX_EVENT_LEN: usize = 3 + 9 * 10;

const MAGIC: [u8; 2] = *b"TW";

/// Batch flag: a snapshot run made by the egress from its own books.
pub const BATCH_SNAPSHOT: u8 = 1;
/// Batch flag: the egress dropped events before this batch (it holds the `Overflow` status).
pub const BATCH_GAP: u8 = 2;

/// The header of a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Batch flags ([`BATCH_SNAPSHOT`], [`BATCH_GAP`]).
    pub flags: u8,
    /// Number of events that follow.
    pub count: u16,
    /// The publishing egress.
    pub publisher: u64,
    /// 1, 2, 3, ... per publisher and subject.
    pub subject_seq: u64,
    /// When the egress sealed the batch (ns since the UNIX epoch).
    pub sent_ts: u64,
}

/// Why a batch could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Shorter than its header or its events say.
    #[error("batch truncated")]
    Truncated,
    /// Not a tickwire batch.
    #[error("not a tickwire batch (bad magic)")]
    Magic,
    /// A version this decoder does not read.
    #[error("batch version {0} not supported (this build reads {VERSION})")]
    Version(u8),
    /// A varint longer than 10 bytes or past 64 bits.
    #[error("malformed varint")]
    Varint,
    /// A field out of range (kind, side, scale, status kind, ...).
    #[error("field out of range: {0}")]
    Field(&'static str),
    /// Bytes left over after the last event.
    #[error("{0} bytes after the last event")]
    Trailing(usize),
}

/// Writes batches into one reusable buffer (no allocation once it has grown).
#[derive(Debug, Default)]
pub struct BatchWriter {
    buf: Vec<u8>,
    count: u16,
    prev_recv: u64,
    prev_seq: u64,
}

#[inline]
fn zigzag(n: i64) -> u64 {
    ((n << 1) ^ (n >> 63)) as u64
}

#[inline]
fn unzigzag(n: u64) -> i64 {
    ((n >> 1) as i64) ^ -((n & 1) as i64)
}

#[inline]
fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

#[inline]
fn put_signed(out: &mut Vec<u8>, v: i64) {
    put_varint(out, zigzag(v));
}

/// Difference `a - b` of two u64 as an i64 with wrap-around (decoded back with
/// `wrapping_add`, so any pair of values round-trips).
#[inline]
fn delta(a: u64, b: u64) -> i64 {
    a.wrapping_sub(b) as i64
}

impl BatchWriter {
    /// An empty writer.
    pub fn new() -> BatchWriter {
        BatchWriter::default()
    }

    /// Starts a batch (dropping anything written before).
    pub fn begin(&mut self, flags: u8, publisher: u64, subject_seq: u64, sent_ts: u64) {
        self.buf.clear();
        self.buf.extend_from_slice(&MAGIC);
        self.buf.push(VERSION);
        self.buf.push(flags);
        self.buf.extend_from_slice(&0u16.to_le_bytes());
        self.buf.extend_from_slice(&0u16.to_le_bytes());
        self.buf.extend_from_slice(&publisher.to_le_bytes());
        self.buf.extend_from_slice(&subject_seq.to_le_bytes());
        self.buf.extend_from_slice(&sent_ts.to_le_bytes());
        self.count = 0;
        self.prev_recv = sent_ts;
        self.prev_seq = 0;
    }

    /// Events in the batch so far.
    pub fn count(&self) -> usize {
        self.count as usize
    }

    /// Bytes of the batch so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether the batch holds no event yet.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Appends one event. Returns false (writing nothing) when the batch already holds
    /// [`MAX_EVENTS`], or for a status event whose kind this format does not know.
    pub fn push(&mut self, e: &Event) -> bool {
        if self.count as usize >= MAX_EVENTS {
            return false;
        }
        let (kind, scales, values, n): (u8, u8, [i64; 4], usize) = match e.kind() {
            EventKind::Trade => match e.as_trade() {
                Some(t) => (
                    0,
                    t.price.scale() << 4 | t.qty.scale(),
                    [t.price.mantissa(), t.qty.mantissa(), 0, 0],
                    2,
                ),
                None => return false,
            },
            EventKind::BookLevel => match e.as_level() {
                Some(l) => (
                    1,
                    l.price.scale() << 4 | l.qty.scale(),
                    [l.price.mantissa(), l.qty.mantissa(), 0, 0],
                    2,
                ),
                None => return false,
            },
            EventKind::Bbo => match e.as_bbo() {
                Some(b) => (
                    2,
                    b.bid_price.scale() << 4 | b.bid_qty.scale(),
                    [
                        b.bid_price.mantissa(),
                        b.bid_qty.mantissa(),
                        b.ask_price.mantissa(),
                        b.ask_qty.mantissa(),
                    ],
                    4,
                ),
                None => return false,
            },
            EventKind::Status => match e.as_status() {
                Some(s) => (
                    3,
                    0,
                    [s.kind as i64, s.reason as i64, s.connection as i64, 0],
                    3,
                ),
                None => return false,
            },
        };
        let side = match e.side() {
            Side::Buy => 0,
            Side::Sell => 1,
            Side::None => 2,
        };
        let stamp = e.published_ts();
        let head =
            kind | side << 2 | u8::from(e.exchange_ts != 0) << 4 | u8::from(stamp.is_some()) << 5;
        self.buf.push(head);
        self.buf.push(e.flags.0);
        self.buf.push(scales);
        put_varint(&mut self.buf, u64::from(e.instrument.0));
        put_signed(&mut self.buf, delta(e.recv_ts, self.prev_recv));
        if e.exchange_ts != 0 {
            put_signed(&mut self.buf, delta(e.exchange_ts, e.recv_ts));
        }
        put_signed(&mut self.buf, delta(e.seq, self.prev_seq));
        for v in &values[..n] {
            put_signed(&mut self.buf, *v);
        }
        if let Some(ts) = stamp {
            put_signed(&mut self.buf, delta(ts, e.recv_ts));
        }
        self.prev_recv = e.recv_ts;
        self.prev_seq = e.seq;
        self.count += 1;
        self.buf[4..6].copy_from_slice(&self.count.to_le_bytes());
        true
    }

    /// The batch written so far.
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }
}

/// Reads the header of a batch.
pub fn header(batch: &[u8]) -> Result<Header, DecodeError> {
    let h = batch.get(..HEADER_LEN).ok_or(DecodeError::Truncated)?;
    if h[..2] != MAGIC {
        return Err(DecodeError::Magic);
    }
    if h[2] != VERSION {
        return Err(DecodeError::Version(h[2]));
    }
    let u64_at = |i: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&h[i..i + 8]);
        u64::from_le_bytes(b)
    };
    Ok(Header {
        flags: h[3],
        count: u16::from_le_bytes([h[4], h[5]]),
        publisher: u64_at(8),
        subject_seq: u64_at(16),
        sent_ts: u64_at(24),
    })
}

struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> Result<u8, DecodeError> {
        let b = *self.buf.get(self.at).ok_or(DecodeError::Truncated)?;
        self.at += 1;
        Ok(b)
    }

    fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let b = self.byte()?;
            let bits = u64::from(b & 0x7f);
            if i == 9 && bits > 1 {
                return Err(DecodeError::Varint);
            }
            v |= bits << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(DecodeError::Varint)
    }

    fn signed(&mut self) -> Result<i64, DecodeError> {
        self.varint().map(unzigzag)
    }
}

fn status_kind(bits: i64) -> Option<StatusKind> {
    use StatusKind::*;
    Some(match bits {
        0 => Connected,
        1 => Disconnected,
        2 => Reconnecting,
        3 => Stale,
        4 => Resync,
        5 => Gap,
        6 => Overflow,
        7 => DecodeError,
        8 => SubscriptionError,
        9 => Rotating,
        10 => SnapshotFailed,
        11 => Resumed,
        _ => return None,
    })
}

fn decimal(mantissa: i64, scale: u8) -> Result<Decimal, DecodeError> {
    Decimal::new(mantissa, scale).map_err(|_| DecodeError::Field("scale"))
}

/// Decodes a whole batch, calling `f` with each event in order. Returns the header. On an
/// error the events before it have been passed to `f` already.
pub fn decode(batch: &[u8], mut f: impl FnMut(Event)) -> Result<Header, DecodeError> {
    let h = header(batch)?;
    let mut r = Reader {
        buf: batch,
        at: HEADER_LEN,
    };
    let mut prev_recv = h.sent_ts;
    let mut prev_seq = 0u64;
    for _ in 0..h.count {
        let head = r.byte()?;
        let flags = Flags(r.byte()?);
        let scales = r.byte()?;
        let instrument =
            u32::try_from(r.varint()?).map_err(|_| DecodeError::Field("instrument"))?;
        let instrument = InstrumentId(instrument);
        let recv_ts = prev_recv.wrapping_add(r.signed()? as u64);
        let exchange_ts = if head & 0x10 != 0 {
            recv_ts.wrapping_add(r.signed()? as u64)
        } else {
            0
        };
        let seq = prev_seq.wrapping_add(r.signed()? as u64);
        let side = match (head >> 2) & 3 {
            0 => Side::Buy,
            1 => Side::Sell,
            2 => Side::None,
            _ => return Err(DecodeError::Field("side")),
        };
        let (ps, qs) = (scales >> 4, scales & 0x0f);
        let bad = |_| DecodeError::Field("decimal");
        let mut e = match head & 3 {
            0 => {
                let (p, q) = (r.signed()?, r.signed()?);
                let t = Trade {
                    price: decimal(p, ps)?,
                    qty: decimal(q, qs)?,
                    side,
                    id: seq,
                };
                Event::trade(instrument, t, exchange_ts, recv_ts).map_err(bad)?
            }
            1 => {
                let (p, q) = (r.signed()?, r.signed()?);
                let l = Level {
                    side,
                    price: decimal(p, ps)?,
                    qty: decimal(q, qs)?,
                    seq,
                };
                Event::level(instrument, l, flags, exchange_ts, recv_ts).map_err(bad)?
            }
            2 => {
                let v = [r.signed()?, r.signed()?, r.signed()?, r.signed()?];
                let b = Bbo {
                    bid_price: decimal(v[0], ps)?,
                    bid_qty: decimal(v[1], qs)?,
                    ask_price: decimal(v[2], ps)?,
                    ask_qty: decimal(v[3], qs)?,
                    seq,
                };
                Event::bbo(instrument, b, exchange_ts, recv_ts).map_err(bad)?
            }
            _ => {
                let (k, reason, conn) = (r.signed()?, r.signed()?, r.signed()?);
                let s = Status {
                    kind: status_kind(k).ok_or(DecodeError::Field("status kind"))?,
                    reason: u16::try_from(reason).map_err(|_| DecodeError::Field("reason"))?,
                    value: seq,
                    connection: u32::try_from(conn)
                        .map_err(|_| DecodeError::Field("connection"))?,
                };
                let mut e = Event::status(instrument, s, recv_ts);
                e.exchange_ts = exchange_ts;
                e
            }
        };
        e.flags = flags;
        if head & 0x20 != 0 {
            let ts = recv_ts.wrapping_add(r.signed()? as u64);
            if ts == 0 || e.kind() == EventKind::Bbo {
                return Err(DecodeError::Field("publish stamp"));
            }
            e.stamp_published(ts);
        }
        prev_recv = recv_ts;
        prev_seq = seq;
        f(e);
    }
    if r.at != batch.len() {
        return Err(DecodeError::Trailing(batch.len() - r.at));
    }
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickwire_engine::Reason;

    fn d(m: i64, s: u8) -> Decimal {
        Decimal::from_parts(m, s)
    }

    /// One event of every kind and shape, with the extremes of each field.
    fn sample() -> Vec<Event> {
        let i = InstrumentId(7);
        let mut v = Vec::new();
        let t = Trade {
            price: d(4_325_012, 2),
            qty: d(12, 3),
            side: Side::Sell,
            id: 3_000_123_456,
        };
        let mut e = Event::trade(i, t, 1_723_161_255_123_000_000, 1_723_161_255_124_000_000)
            .unwrap_or_else(|e| panic!("{e}"));
        e.flags = Flags::AGGREGATED;
        v.push(e);
        e.stamp_published(1_723_161_255_124_000_500);
        v.push(e);
        let l = Level {
            side: Side::BID,
            price: d(-5, 15),
            qty: d(i64::MAX, 15),
            seq: u64::MAX,
        };
        let flags = Flags::SNAPSHOT.with(Flags::RUN_START);
        v.push(Event::level(i, l, flags, 0, 5).unwrap_or_else(|e| panic!("{e}")));
        let l = Level {
            side: Side::ASK,
            price: d(i64::MIN, 0),
            qty: d(0, 0),
            seq: 0,
        };
        v.push(
            Event::level(i, l, Flags::LAST_IN_BATCH, u64::MAX, 0).unwrap_or_else(|e| panic!("{e}")),
        );
        let b = Bbo {
            bid_price: d(100, 1),
            bid_qty: d(2, 4),
            ask_price: d(101, 1),
            ask_qty: d(3, 4),
            seq: 9,
        };
        v.push(Event::bbo(i, b, 11, 12).unwrap_or_else(|e| panic!("{e}")));
        let s = Status {
            kind: StatusKind::Overflow,
            reason: Reason::Backpressure as u16,
            value: 1234,
            connection: u32::MAX,
        };
        v.push(Event::status(InstrumentId::NONE, s, 99));
        let s = Status {
            kind: StatusKind::Resumed,
            reason: u16::MAX,
            value: u64::MAX,
            connection: 0,
        };
        let mut e = Event::status(i, s, u64::MAX);
        e.stamp_published(1);
        v.push(e);
        v
    }

    fn encode(events: &[Event], flags: u8) -> Vec<u8> {
        let mut w = BatchWriter::new();
        w.begin(flags, 0xdead_beef, 42, 1_000);
        for e in events {
            assert!(w.push(e));
        }
        w.bytes().to_vec()
    }

    #[test]
    fn every_kind_round_trips_equal() {
        let events = sample();
        let bytes = encode(&events, BATCH_GAP);
        let mut out = Vec::new();
        let h = decode(&bytes, |e| out.push(e)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out, events);
        assert_eq!(
            h,
            Header {
                flags: BATCH_GAP,
                count: events.len() as u16,
                publisher: 0xdead_beef,
                subject_seq: 42,
                sent_ts: 1_000,
            }
        );
    }

    #[test]
    fn the_header_layout_is_as_documented() {
        let bytes = encode(&[], BATCH_SNAPSHOT);
        assert_eq!(bytes.len(), HEADER_LEN);
        assert_eq!(&bytes[..4], &[b'T', b'W', 1, BATCH_SNAPSHOT]);
        assert_eq!(&bytes[8..16], &0xdead_beefu64.to_le_bytes());
        assert_eq!(&bytes[16..24], &42u64.to_le_bytes());
        assert_eq!(&bytes[24..32], &1_000u64.to_le_bytes());
    }

    #[test]
    fn a_typical_level_is_small() {
        // A level of a busy book: recv 1 µs after the previous, seq +1, 5-digit mantissas.
        let i = InstrumentId(3);
        let base = 1_723_161_255_000_000_000u64;
        let mut events = Vec::new();
        for k in 0..100u64 {
            let l = Level {
                side: Side::BID,
                price: d(4_325_000 + k as i64, 2),
                qty: d(51_234, 5),
                seq: 1_000_000 + k,
            };
            events.push(
                Event::level(i, l, Flags::EMPTY, base + k * 1_000 - 500, base + k * 1_000)
                    .unwrap_or_else(|e| panic!("{e}")),
            );
        }
        let bytes = encode(&events, 0);
        let per_event = (bytes.len() - HEADER_LEN) / events.len();
        // head, flags, scales, instrument, recv delta (2), exchange delta (2), seq delta,
        // price (4), qty (3) = 16 bytes, a quarter of the 64 in memory.
        assert!(per_event <= 16, "{per_event} bytes an event");
    }

    #[test]
    fn malformed_batches_are_errors_not_panics() {
        let bytes = encode(&sample(), 0);
        // Every truncation is an error.
        for n in 0..bytes.len() {
            assert!(decode(&bytes[..n], |_| {}).is_err(), "truncated at {n}");
        }
        let mut b = bytes.clone();
        b[0] = b'X';
        assert_eq!(decode(&b, |_| {}), Err(DecodeError::Magic));
        let mut b = bytes.clone();
        b[2] = 2;
        assert_eq!(decode(&b, |_| {}), Err(DecodeError::Version(2)));
        let mut b = bytes.clone();
        b.push(0);
        assert_eq!(decode(&b, |_| {}), Err(DecodeError::Trailing(1)));
        // A price scale of 15 is the most an event holds; the nibble cannot say more, but
        // a status kind past the known ones is refused.
        let s = Status {
            kind: StatusKind::Gap,
            reason: 0,
            value: 0,
            connection: 0,
        };
        let mut b = encode(&[Event::status(InstrumentId::NONE, s, 0)], 0);
        let kind_at = b.len() - 3;
        assert_eq!(b[kind_at], 10, "zigzag(5)");
        b[kind_at] = 100;
        assert_eq!(decode(&b, |_| {}), Err(DecodeError::Field("status kind")));
        // Flipping any byte never panics (it may decode to something else).
        for i in 0..bytes.len() {
            for x in [0x01u8, 0x80, 0xff] {
                let mut b = bytes.clone();
                b[i] ^= x;
                let _ = decode(&b, |_| {});
            }
        }
    }

    #[test]
    fn an_overlong_varint_is_refused() {
        let mut b = encode(&[], 0);
        b[4] = 1;
        b.extend_from_slice(&[0, 0, 0]);
        b.extend_from_slice(&[0xff; 10]);
        b.push(0x7f);
        assert_eq!(decode(&b, |_| {}), Err(DecodeError::Varint));
    }
}
