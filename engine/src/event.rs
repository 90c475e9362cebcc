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
