//! The fixed-size event every consumer receives.
//!
//! An [`Event`] is 64 bytes, `Copy`, `repr(C)` and owns no heap memory, so it moves through an
//! SPSC ring as a plain memory copy. Its payload is stored compactly (mantissas plus one scale
//! per quantity kind) and read back through typed views: [`Event::trade`], [`Event::level`],
//! [`Event::bbo`], [`Event::status`].

use crate::decimal::{Decimal, DecimalError};
use crate::instrument::InstrumentId;

/// What an [`Event`] carries.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A public trade.
    Trade = 0,
    /// One L2 level change; quantity 0 deletes the level.
    BookLevel = 1,
    /// Best bid and offer.
    Bbo = 2,
    /// A connection, book or delivery status change.
    Status = 3,
}

/// Side of a book level, or the aggressor side of a trade.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// Bid side of the book; for a trade, the aggressor bought.
    Buy = 0,
    /// Ask side of the book; for a trade, the aggressor sold.
    Sell = 1,
    /// Not known or not applicable.
    None = 2,
}

impl Side {
    /// Alias for [`Side::Buy`] when speaking of book sides.
    pub const BID: Side = Side::Buy;
    /// Alias for [`Side::Sell`] when speaking of book sides.
    pub const ASK: Side = Side::Sell;

    fn from_bits(bits: u8) -> Side {
        match bits {
            0 => Side::Buy,
            1 => Side::Sell,
            _ => Side::None,
        }
    }
}

/// Bit flags on an event.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Flags(pub u8);

impl Flags {
    /// No flags.
    pub const EMPTY: Flags = Flags(0);
    /// The level belongs to a snapshot run: the consumer clears its book at the run's first
    /// level (flagged [`Flags::RUN_START`]).
    pub const SNAPSHOT: Flags = Flags(1);
    /// The last event of one venue message (snapshot or diff): the book is consistent after it.
    pub const LAST_IN_BATCH: Flags = Flags(2);
    /// The trade aggregates fills of one taker order (Binance `aggTrade`): its id lives in a
    /// separate id space from plain trades of the same instrument.
    pub const AGGREGATED: Flags = Flags(4);
    /// The first level of a SNAPSHOT run. A consumer book starts a snapshot only here: after
    /// an `Overflow` the rest of a run whose start was dropped (or arrived before the
    /// overflow) is not a whole snapshot, and must not make the book valid.
    pub const RUN_START: Flags = Flags(8);
    /// The trade's venue id is a UUID (Bybit linear): 128 bits, read it with
    /// [`Event::trade_id`] (the `seq` field holds its upper half).
    pub const UUID_ID: Flags = Flags(16);
    /// The trade's venue id is neither a number nor a UUID: `seq` is a 64-bit hash of its
    /// text (FNV-1a), good for deduplication, not for ordering or display.
    pub const HASHED_ID: Flags = Flags(32);

    /// Whether every bit of `other` is set.
    #[inline]
    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Union of two flag sets.
    #[inline]
    #[must_use]
    pub const fn with(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }
}

/// What a [`Status`] event reports.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StatusKind {
    /// The connection is live (upgraded, subscriptions sent). `value` = connection id.
    Connected = 0,
    /// The connection went down; `reason` says why.
    Disconnected = 1,
    /// A reconnect attempt is scheduled; `value` = attempt number (1-based).
    Reconnecting = 2,
    /// No data within the stale limit. With `instrument` NONE: the connection is recycled.
    /// With an instrument: one of its streams went silent past what its own history and the
    /// venue's cadence allow (`value`: see [`crate::adapter::status_value`], the stream kind
    /// and the silence in ms); a book stream is also resynced (`Resync`, reason `stale`).
    Stale = 3,
    /// The instrument's book is invalid from here until the next snapshot run.
    Resync = 4,
    /// A sequence gap was detected (followed by `Resync`); `value` = expected next id.
    Gap = 5,
    /// Events were dropped because this consumer's ring was full; `value` = how many.
    Overflow = 6,
    /// A frame could not be decoded; `reason` = category. The frame was skipped.
    DecodeError = 7,
    /// The venue refused a subscription; `value` = request id.
    SubscriptionError = 8,
    /// The venue asked to reconnect (e.g. Binance `serverShutdown`) or a lifetime rotation began.
    Rotating = 9,
    /// A book snapshot could not be had or used; `reason` says why (`http_status`,
    /// `rate_limited`, `banned`, `malformed`, `io`, `snapshot_too_old`, `sync_timeout`,
    /// `crossed`, `number`); `value` is reason-specific (the HTTP status, the `Retry-After`
    /// in ms, the snapshot's update id). The book stays invalid; the snapshot is fetched
    /// again after the handler's backoff.
    SnapshotFailed = 10,
    /// A stream reported `Stale` delivers again (`instrument` set; `value` as for the
    /// `Stale` status: the stream kind and the silence it broke in ms, 0 when it came back
    /// on a new session).
    Resumed = 11,
    /// The instrument's book did not match the checksum the venue sent with a diff or
    /// snapshot (`value`: the venue's checksum as an unsigned 32-bit number). The message was
    /// not published; a `Resync` (reason `checksum`) follows.
    Checksum = 12,
    /// One line of a feed with several (A/B redundancy) changed state; the feed goes on on
    /// the others. `value`: see [`crate::adapter::LineState::value`] (the line number and
    /// its state: up, down, lagging); `reason`: why a line went down.
    Line = 13,
}

impl StatusKind {
    fn from_bits(bits: u8) -> Option<StatusKind> {
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
            12 => Checksum,
            13 => Line,
            _ => return None,
        })
    }

    /// Stable snake_case name, as printed by `tickwire decode`.
    pub const fn name(self) -> &'static str {
        match self {
            StatusKind::Connected => "connected",
            StatusKind::Disconnected => "disconnected",
            StatusKind::Reconnecting => "reconnecting",
            StatusKind::Stale => "stale",
            StatusKind::Resync => "resync",
            StatusKind::Gap => "gap",
            StatusKind::Overflow => "overflow",
            StatusKind::DecodeError => "decode_error",
            StatusKind::SubscriptionError => "subscription_error",
            StatusKind::Rotating => "rotating",
            StatusKind::SnapshotFailed => "snapshot_failed",
            StatusKind::Resumed => "resumed",
            StatusKind::Checksum => "checksum",
            StatusKind::Line => "line",
        }
    }
}

/// A trade, read from an [`Event`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trade {
    /// Price.
    pub price: Decimal,
    /// Quantity.
    pub qty: Decimal,
    /// Aggressor side.
    pub side: Side,
    /// Venue trade id.
    pub id: u64,
}

/// A venue trade id, read with [`Event::trade_id`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TradeId {
    /// A numeric id (ordered per instrument on every venue that sends one).
    Number(u64),
    /// A UUID (Bybit linear), as its 128 bits.
    Uuid(u128),
    /// Another text id, as a 64-bit FNV-1a hash of its bytes (unordered).
    Hash(u64),
}

impl TradeId {
    /// Reads a venue's id text: a decimal number that fits u64, a UUID in its 8-4-4-4-12
    /// hex form, or else a hash of the text. `None` for an empty text.
    pub fn parse(text: &[u8]) -> Option<TradeId> {
        if text.is_empty() {
            return None;
        }
        if text.len() <= 20 && text.iter().all(u8::is_ascii_digit) {
            let mut v: u64 = 0;
            let mut ok = true;
            for &b in text {
                match v
                    .checked_mul(10)
                    .and_then(|v| v.checked_add(u64::from(b - b'0')))
                {
                    Some(n) => v = n,
                    None => ok = false,
                }
            }
            if ok {
                return Some(TradeId::Number(v));
            }
        }
        if let Some(u) = parse_uuid(text) {
            return Some(TradeId::Uuid(u));
        }
        Some(TradeId::Hash(fnv1a(text)))
    }

    /// A 64-bit key for deduplication (a UUID's halves folded together).
    #[inline]
    pub const fn key(self) -> u64 {
        match self {
            TradeId::Number(n) | TradeId::Hash(n) => n,
            TradeId::Uuid(u) => (u >> 64) as u64 ^ (u as u64).rotate_left(29),
        }
    }
}

impl core::fmt::Display for TradeId {
    /// A number as itself, a UUID in its hyphenated lower-case form, a hash as `#` and 16
    /// hex digits.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            TradeId::Number(n) => write!(f, "{n}"),
            TradeId::Uuid(u) => write!(
                f,
                "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
                u >> 96,
                (u >> 80) & 0xffff,
                (u >> 64) & 0xffff,
                (u >> 48) & 0xffff,
                u & 0xffff_ffff_ffff
            ),
            TradeId::Hash(h) => write!(f, "#{h:016x}"),
        }
    }
}

fn parse_uuid(text: &[u8]) -> Option<u128> {
    if text.len() != 36 {
        return None;
    }
    let mut v: u128 = 0;
    for (i, &b) in text.iter().enumerate() {
        if matches!(i, 8 | 13 | 18 | 23) {
            if b != b'-' {
                return None;
            }
            continue;
        }
        let d = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            b'A'..=b'F' => b - b'A' + 10,
            _ => return None,
        };
        v = v << 4 | u128::from(d);
    }
    Some(v)
}

fn fnv1a(text: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in text {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// One L2 level change, read from an [`Event`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Level {
    /// Book side.
    pub side: Side,
    /// Price.
    pub price: Decimal,
    /// New absolute quantity; zero deletes the level.
    pub qty: Decimal,
    /// Venue sequence of the message (for Binance the final update id `u`).
    pub seq: u64,
}

/// Best bid and offer, read from an [`Event`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bbo {
    /// Best bid price.
    pub bid_price: Decimal,
    /// Quantity at the best bid.
    pub bid_qty: Decimal,
    /// Best ask price.
    pub ask_price: Decimal,
    /// Quantity at the best ask.
    pub ask_qty: Decimal,
    /// Venue book update id.
    pub seq: u64,
}

/// A status change, read from an [`Event`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status {
    /// What happened.
    pub kind: StatusKind,
    /// Why, as a stable code (see [`crate::reason::Reason`]).
    pub reason: u16,
    /// Kind-specific value (attempt number, dropped count, request id, ...).
    pub value: u64,
    /// The connection it concerns (0 when none).
    pub connection: u32,
}

/// The fixed-size event delivered to consumers. See the module docs.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    /// Receive time in ns since the UNIX epoch (CLOCK_REALTIME), one per socket read.
    pub recv_ts: u64,
    /// Venue time in ns since the UNIX epoch; 0 when the venue sends none.
    pub exchange_ts: u64,
    /// Trade id, final update id of the book message, BBO update id, or status value.
    pub seq: u64,
    /// Interned instrument ([`InstrumentId::NONE`] for connection-level status).
    pub instrument: InstrumentId,
    kind: EventKind,
    side: Side,
    /// Event flags.
    pub flags: Flags,
    scales: u8,
    values: [i64; 4],
}

const _: () = assert!(core::mem::size_of::<Event>() == 64);

/// Largest scale an event can hold (scales are packed into one nibble each).
pub const MAX_EVENT_SCALE: u8 = 15;

#[inline]
fn pack_scales(price: u8, qty: u8) -> Result<u8, DecimalError> {
    if price > MAX_EVENT_SCALE || qty > MAX_EVENT_SCALE {
        return Err(DecimalError::ScaleTooLarge);
    }
    Ok(price << 4 | qty)
}

/// Price and quantity with their packed scales. An exact value written with trailing zeros
/// past [`MAX_EVENT_SCALE`] (`1.0000000000000000`) is brought down to it first (off the hot
/// path: the common case costs the one scale check it always did); only digits that are
/// not zeros past it are an error.
#[inline(always)]
fn fit_pair(price: Decimal, qty: Decimal) -> Result<(Decimal, Decimal, u8), DecimalError> {
    match pack_scales(price.scale(), qty.scale()) {
        Ok(scales) => Ok((price, qty, scales)),
        Err(_) => fit_pair_cold(price, qty),
    }
}

#[cold]
#[inline(never)]
fn fit_pair_cold(price: Decimal, qty: Decimal) -> Result<(Decimal, Decimal, u8), DecimalError> {
    let price = price.fit_scale(MAX_EVENT_SCALE)?;
    let qty = qty.fit_scale(MAX_EVENT_SCALE)?;
    Ok((price, qty, pack_scales(price.scale(), qty.scale())?))
}

/// Brings two decimals to one scale (the larger), exactly.
#[inline]
fn common_scale(a: Decimal, b: Decimal) -> Result<(i64, i64, u8), DecimalError> {
    let s = a.scale().max(b.scale());
    Ok((a.rescale(s)?.mantissa(), b.rescale(s)?.mantissa(), s))
}

impl Event {
    /// A zeroed status event; the building block of the constructors below.
    const fn blank(kind: EventKind) -> Event {
        Event {
            recv_ts: 0,
            exchange_ts: 0,
            seq: 0,
            instrument: InstrumentId::NONE,
            kind,
            side: Side::None,
            flags: Flags::EMPTY,
            scales: 0,
            values: [0; 4],
        }
    }

    /// A trade event.
    #[inline(always)]
    pub fn trade(
        instrument: InstrumentId,
        t: Trade,
        exchange_ts: u64,
        recv_ts: u64,
    ) -> Result<Event, DecimalError> {
        let mut e = Event::blank(EventKind::Trade);
        e.instrument = instrument;
        e.side = t.side;
        e.seq = t.id;
        e.exchange_ts = exchange_ts;
        e.recv_ts = recv_ts;
        let (price, qty, scales) = fit_pair(t.price, t.qty)?;
        e.scales = scales;
        e.values[0] = price.mantissa();
        e.values[1] = qty.mantissa();
        Ok(e)
    }

    /// A book-level event.
    #[inline]
    pub fn level(
        instrument: InstrumentId,
        l: Level,
        flags: Flags,
        exchange_ts: u64,
        recv_ts: u64,
    ) -> Result<Event, DecimalError> {
        let mut e = Event::blank(EventKind::BookLevel);
        e.instrument = instrument;
        e.side = l.side;
        e.seq = l.seq;
        e.flags = flags;
        e.exchange_ts = exchange_ts;
        e.recv_ts = recv_ts;
        let (price, qty, scales) = fit_pair(l.price, l.qty)?;
        e.scales = scales;
        e.values[0] = price.mantissa();
        e.values[1] = qty.mantissa();
        Ok(e)
    }

    /// This event with another price and quantity (instrument, side, seq, flags and times
    /// kept): the levels of one depth message are built from one [`Event::level`] template.
    #[inline]
    pub fn with_level(mut self, price: Decimal, qty: Decimal) -> Result<Event, DecimalError> {
        debug_assert_eq!(self.kind, EventKind::BookLevel);
        let (price, qty, scales) = fit_pair(price, qty)?;
        self.scales = scales;
        self.values[0] = price.mantissa();
        self.values[1] = qty.mantissa();
        Ok(self)
    }

    /// A best-bid-and-offer event. Bid and ask are brought to a common scale exactly.
    #[inline]
    pub fn bbo(
        instrument: InstrumentId,
        b: Bbo,
        exchange_ts: u64,
        recv_ts: u64,
    ) -> Result<Event, DecimalError> {
        let mut e = Event::blank(EventKind::Bbo);
        e.instrument = instrument;
        e.seq = b.seq;
        e.exchange_ts = exchange_ts;
        e.recv_ts = recv_ts;
        let (bid_price, bid_qty, _) = fit_pair(b.bid_price, b.bid_qty)?;
        let (ask_price, ask_qty, _) = fit_pair(b.ask_price, b.ask_qty)?;
        let (bp, ap, ps) = common_scale(bid_price, ask_price)?;
        let (bq, aq, qs) = common_scale(bid_qty, ask_qty)?;
        e.scales = pack_scales(ps, qs)?;
        e.values = [bp, bq, ap, aq];
        Ok(e)
    }

    /// A status event.
    #[inline]
    pub const fn status(instrument: InstrumentId, s: Status, recv_ts: u64) -> Event {
        let mut e = Event::blank(EventKind::Status);
        e.instrument = instrument;
        e.seq = s.value;
        e.recv_ts = recv_ts;
        e.values[0] = s.kind as i64;
        e.values[1] = s.reason as i64;
        e.values[2] = s.connection as i64;
        e
    }

    /// What this event carries.
    #[inline]
    pub const fn kind(&self) -> EventKind {
        self.kind
    }

    /// Side (book side or trade aggressor); [`Side::None`] for BBO and status.
    #[inline]
    pub const fn side(&self) -> Side {
        self.side
    }

    #[inline]
    fn price_at(&self, i: usize) -> Decimal {
        Decimal::from_parts(self.values[i], self.scales >> 4)
    }

    #[inline]
    fn qty_at(&self, i: usize) -> Decimal {
        Decimal::from_parts(self.values[i], self.scales & 0x0f)
    }

    /// The trade, if this is a trade event.
    #[inline]
    pub fn as_trade(&self) -> Option<Trade> {
        (self.kind == EventKind::Trade).then(|| Trade {
            price: self.price_at(0),
            qty: self.qty_at(1),
            side: self.side,
            id: self.seq,
        })
    }

    /// This trade event with its venue id set from `id` (a numeric id is what
    /// [`Event::trade`] already stored from [`Trade::id`]). A no-op on other kinds.
    #[inline]
    #[must_use]
    pub fn with_trade_id(mut self, id: TradeId) -> Event {
        if self.kind != EventKind::Trade {
            return self;
        }
        let keep = Flags(self.flags.0 & !(Flags::UUID_ID.0 | Flags::HASHED_ID.0));
        match id {
            TradeId::Number(n) => {
                self.seq = n;
                self.flags = keep;
            }
            TradeId::Uuid(u) => {
                self.seq = (u >> 64) as u64;
                self.values[2] = u as u64 as i64;
                self.flags = keep.with(Flags::UUID_ID);
            }
            TradeId::Hash(h) => {
                self.seq = h;
                self.flags = keep.with(Flags::HASHED_ID);
            }
        }
        self
    }

    /// The venue id of a trade event (`None` for other kinds).
    #[inline]
    pub fn trade_id(&self) -> Option<TradeId> {
        if self.kind != EventKind::Trade {
            return None;
        }
        Some(if self.flags.contains(Flags::UUID_ID) {
            TradeId::Uuid(u128::from(self.seq) << 64 | u128::from(self.values[2] as u64))
        } else if self.flags.contains(Flags::HASHED_ID) {
            TradeId::Hash(self.seq)
        } else {
            TradeId::Number(self.seq)
        })
    }

    /// The level change, if this is a book-level event.
    #[inline]
    pub fn as_level(&self) -> Option<Level> {
        (self.kind == EventKind::BookLevel).then(|| Level {
            side: self.side,
            price: self.price_at(0),
            qty: self.qty_at(1),
            seq: self.seq,
        })
    }

    /// The best bid and offer, if this is a BBO event.
    #[inline]
    pub fn as_bbo(&self) -> Option<Bbo> {
        (self.kind == EventKind::Bbo).then(|| Bbo {
            bid_price: self.price_at(0),
            bid_qty: self.qty_at(1),
            ask_price: self.price_at(2),
            ask_qty: self.qty_at(3),
            seq: self.seq,
        })
    }

    /// The status, if this is a status event.
    #[inline]
    pub fn as_status(&self) -> Option<Status> {
        if self.kind != EventKind::Status {
            return None;
        }
        Some(Status {
            kind: StatusKind::from_bits(self.values[0] as u8)?,
            reason: self.values[1] as u16,
            value: self.seq,
            connection: self.values[2] as u32,
        })
    }

    /// Stamps the time the event was pushed to its rings (ns), for the published→consumed
    /// stage histogram. BBO events have no room for it and are left unstamped.
    #[inline]
    pub fn stamp_published(&mut self, ts: u64) {
        if self.kind != EventKind::Bbo {
            self.values[3] = ts as i64;
        }
    }

    /// The publish stamp set by [`Event::stamp_published`], if any (stage histograms on).
    #[inline]
    pub fn published_ts(&self) -> Option<u64> {
        (self.kind != EventKind::Bbo && self.values[3] != 0).then_some(self.values[3] as u64)
    }

    /// Side bits for internal use by decoders that build levels in bulk.
    #[doc(hidden)]
    pub fn side_from_bits(bits: u8) -> Side {
        Side::from_bits(bits)
    }
}

#[cfg(test)]
mod trade_id_tests {
    use super::*;

    fn trade() -> Event {
        let t = Trade {
            price: Decimal::from_parts(27451, 0),
            qty: Decimal::from_parts(10, 3),
            side: Side::Buy,
            id: 0,
        };
        Event::trade(InstrumentId::NONE, t, 0, 0).unwrap()
    }

    #[test]
    fn ids_parse_by_their_form() {
        // Bybit spot sends numeric strings, Bybit linear UUIDs (venues.md §5), OKX numbers.
        assert_eq!(
            TradeId::parse(b"130639474"),
            Some(TradeId::Number(130_639_474))
        );
        assert_eq!(
            TradeId::parse(b"18446744073709551615"),
            Some(TradeId::Number(u64::MAX))
        );
        // One past u64: not a number any more, so hashed rather than wrapped.
        assert!(matches!(
            TradeId::parse(b"18446744073709551616"),
            Some(TradeId::Hash(_))
        ));
        let uuid = TradeId::parse(b"9dc75fca-4bdd-4773-9f78-6f5d7ab2a110");
        assert_eq!(
            uuid,
            Some(TradeId::Uuid(0x9dc75fca_4bdd_4773_9f78_6f5d7ab2a110))
        );
        assert_eq!(
            uuid.unwrap().to_string(),
            "9dc75fca-4bdd-4773-9f78-6f5d7ab2a110"
        );
        assert!(matches!(
            TradeId::parse(b"9dc75fca-4bdd"),
            Some(TradeId::Hash(_))
        ));
        assert!(matches!(
            TradeId::parse(b"9dc75fca+4bdd-4773-9f78-6f5d7ab2a110"),
            Some(TradeId::Hash(_))
        ));
        assert_eq!(TradeId::parse(b""), None);
        // FNV-1a of "a" (the published test vector).
        assert_eq!(
            TradeId::parse(b"a"),
            Some(TradeId::Hash(0xaf63_dc4c_8601_ec8c))
        );
    }

    #[test]
    fn every_id_form_survives_the_event() {
        for id in [
            TradeId::Number(7),
            TradeId::Uuid(u128::MAX - 5),
            TradeId::Uuid(1),
            TradeId::Hash(42),
        ] {
            let mut e = trade().with_trade_id(id);
            e.stamp_published(99); // the publish stamp must not touch the id
            assert_eq!(e.trade_id(), Some(id));
            // Setting another form clears the previous one's flag.
            let back = e.with_trade_id(TradeId::Number(3));
            assert_eq!(back.trade_id(), Some(TradeId::Number(3)));
            assert_eq!(back.as_trade().map(|t| t.id), Some(3));
        }
        let uuid = TradeId::Uuid(0x0123_4567_89ab_cdef_fedc_ba98_7654_3210);
        assert_ne!(uuid.key(), TradeId::Uuid(0x0123_4567_89ab_cdef).key());
    }
}
