//! Coinbase Advanced Trade public JSON frames to events: a hand scanner that reads the
//! message where it lies (no tape, no copy, no allocation after warm-up), in any key order.
//! The scanner is Bybit's (`feeds/src/bybit/decode.rs`), copied so the two venues can be
//! tuned apart.
//!
//! Accepted shapes (venues.md §3a, §12; every message has the envelope
//! `{"channel","client_id","timestamp","sequence_num","events":[..]}`):
//! * `l2_data`: `events:[{"type":"snapshot"|"update","product_id","updates":[{"side":"bid"|"offer",
//!   "event_time","price_level","new_quantity"}]}]` → [`Frame::BookSnapshot`] /
//!   [`Frame::BookDiff`] whose ids are the message's `sequence_num` (one counter for the
//!   whole connection: see [`Decoder::take_sequence`]). `new_quantity` is the level's
//!   absolute size, `"0"` removes it. Several events of one product and type in one message
//!   are one frame; events of different products or types in one message are a schema error
//!   (never seen: one book frame per message is what the contract carries).
//! * `market_trades`: `events:[{"type","trades":[{"trade_id","product_id","price","size",
//!   "side":"BUY"|"SELL","time"}]}]` → one trade each, `exchange_ts` from `time`; the
//!   printed side is the **aggressor** (see [`TradeSide`]).
//! * `ticker` / `ticker_batch`: `events:[{"type","tickers":[{"product_id","best_bid",
//!   "best_bid_quantity","best_ask","best_ask_quantity",..}]}]` → one BBO each (`seq`: the
//!   message's `sequence_num`).
//! * `heartbeats` → [`Frame::Control`] (`heartbeat_counter` as a number or a string, §12);
//!   `subscriptions` (the venue's answer to a (un)subscribe, no request id) →
//!   [`Frame::Ack`] with id 0 (the adapter matches it to its oldest request);
//!   `{"type":"error","message":..}` → [`Frame::SubscriptionError`]; other channels
//!   (`status`, `candles`) → [`Frame::Unknown`].
//!
//! Level events carry the envelope's `timestamp` as their venue time (one parse per
//! message, not one per level: each update's `event_time` is the same instant in every
//! message seen). A frame that cannot be read is one error (JSON, number, schema, unknown
//! symbol) and produces no events.

use tickwire_engine::adapter::{DecodeError, DecodeStats, DiffIds, Frame};
use tickwire_engine::event::{Bbo, Event, Flags, Level, Side, Trade};
use tickwire_engine::{Decimal, InstrumentId, Reason, TradeId};

use crate::binance::Symbols;

use crate::json_scan::{Cur, R, valid_json};

/// An RFC 3339 UTC time (`2026-04-07T14:30:00.123456Z`, any number of fraction digits up to
/// nanoseconds, `Z` or a numeric offset) as ns since the Unix epoch. [`Reason::Number`] for
/// anything else, a time before 1970 included.
pub fn rfc3339_ns(t: &[u8]) -> R<u64> {
    fn digits(t: &[u8], at: usize, n: usize) -> R<u64> {
        let s = t.get(at..at + n).ok_or(Reason::Number)?;
        let mut v = 0u64;
        for &c in s {
            if !c.is_ascii_digit() {
                return Err(Reason::Number);
            }
            v = v * 10 + u64::from(c - b'0');
        }
        Ok(v)
    }
    let sep = |at: usize, c: &[u8]| match t.get(at) {
        Some(x) if c.contains(x) => Ok(()),
        _ => Err(Reason::Number),
    };
    let year = digits(t, 0, 4)?;
    sep(4, b"-")?;
    let month = digits(t, 5, 2)?;
    sep(7, b"-")?;
    let day = digits(t, 8, 2)?;
    sep(10, b"Tt ")?;
    let hour = digits(t, 11, 2)?;
    sep(13, b":")?;
    let min = digits(t, 14, 2)?;
    sep(16, b":")?;
    let sec = digits(t, 17, 2)?;
    if year < 1970 || !(1..=12).contains(&month) || hour > 23 || min > 59 || sec > 60 {
        return Err(Reason::Number);
    }
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if day < 1 || day > month_days[(month - 1) as usize] {
        return Err(Reason::Number);
    }
    let mut i = 19;
    let mut nanos = 0u64;
    if t.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while let Some(&c) = t.get(i) {
            if !c.is_ascii_digit() {
                break;
            }
            if i - start < 9 {
                nanos = nanos * 10 + u64::from(c - b'0');
            }
            i += 1;
        }
        let n = i - start;
        if n == 0 {
            return Err(Reason::Number);
        }
        for _ in n..9 {
            nanos *= 10;
        }
    }
    let offset_s: i64 = match t.get(i) {
        Some(b'Z' | b'z') if i + 1 == t.len() => 0,
        Some(&c @ (b'+' | b'-')) if i + 6 == t.len() => {
            sep(i + 3, b":")?;
            let (h, m) = (digits(t, i + 1, 2)?, digits(t, i + 4, 2)?);
            if h > 23 || m > 59 {
                return Err(Reason::Number);
            }
            let s = (h * 3600 + m * 60) as i64;
            if c == b'+' { s } else { -s }
        }
        _ => return Err(Reason::Number),
    };
    // Days from the civil date (Howard Hinnant's algorithm, proleptic Gregorian).
    let (y, m) = if month <= 2 {
        (year as i64 - 1, month as i64 + 9)
    } else {
        (year as i64, month as i64 - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + (hour * 3600 + min * 60 + sec) as i64 - offset_s;
    let secs = u64::try_from(secs).map_err(|_| Reason::Number)?;
    secs.checked_mul(1_000_000_000)
        .and_then(|s| s.checked_add(nanos))
        .ok_or(Reason::Number)
}

/// What the venue's trade `side` names. The Advanced Trade docs do not say (venues.md §3a
/// "(verify)"); Coinbase documents its Exchange feed's `match.side` (the same matching
/// engine) as "the maker order side", and the clients that print aggressors from Coinbase
/// (aggr, bbgo) turn that side over. Events always carry the **aggressor** side.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TradeSide {
    /// `side` is the resting (maker) order's side: the aggressor is the other one (default).
    #[default]
    Maker,
    /// `side` is the aggressor's side, printed as it is.
    Taker,
}

impl TradeSide {
    /// The aggressor side of a trade whose wire `side` is `wire`.
    pub fn aggressor(self, wire: Side) -> Side {
        match (self, wire) {
            (TradeSide::Taker, s) => s,
            (TradeSide::Maker, Side::Buy) => Side::Sell,
            (TradeSide::Maker, Side::Sell) => Side::Buy,
            (TradeSide::Maker, Side::None) => Side::None,
        }
    }
}

/// The envelope's `channel`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Channel {
    L2,
    Trades,
    Ticker,
    Heartbeats,
    Subscriptions,
    Other,
}

fn channel_of(name: &[u8]) -> Channel {
    match name {
        b"l2_data" | b"level2" => Channel::L2,
        b"market_trades" => Channel::Trades,
        b"ticker" | b"ticker_batch" => Channel::Ticker,
        b"heartbeats" => Channel::Heartbeats,
        b"subscriptions" => Channel::Subscriptions,
        _ => Channel::Other,
    }
}

/// What the events of one `l2_data` message said.
#[derive(Default)]
struct BookAcc {
    instrument: Option<InstrumentId>,
    snapshot: Option<bool>,
}

/// Decodes Coinbase Advanced Trade frames. Keeps the symbol table, the last message's
/// `sequence_num` and counters.
pub struct Decoder {
    symbols: Symbols,
    stats: DecodeStats,
    trade_side: TradeSide,
    seq: Option<u64>,
}

impl Decoder {
    /// A decoder over `symbols` reading trade sides as `trade_side` says.
    pub fn new(symbols: Symbols, trade_side: TradeSide) -> Decoder {
        Decoder {
            symbols,
            stats: DecodeStats::default(),
            trade_side,
            seq: None,
        }
    }

    /// The symbol table.
    pub fn symbols(&self) -> &Symbols {
        &self.symbols
    }

    /// The symbol table, mutably (to add products at subscribe time).
    pub fn symbols_mut(&mut self) -> &mut Symbols {
        &mut self.symbols
    }

    /// Decode counters.
    pub fn stats(&self) -> DecodeStats {
        self.stats
    }

    /// The `sequence_num` of the last message decoded without error, once (`None`: it had
    /// none, or it failed: a message that could not be read is as good as lost, and the
    /// next number shows the break).
    #[inline]
    pub fn take_sequence(&mut self) -> Option<u64> {
        self.seq.take()
    }

    /// Decodes one frame (not modified), appending its events to `out`. On error `out` is
    /// left as it was.
    pub fn decode(
        &mut self,
        payload: &[u8],
        recv_ts: u64,
        out: &mut Vec<Event>,
    ) -> Result<Frame, DecodeError> {
        self.stats.frames += 1;
        self.stats.fast_path += 1;
        self.seq = None;
        let start = out.len();
        let mut instrument = InstrumentId::NONE;
        match self.message(payload, recv_ts, out, &mut instrument) {
            Ok((f, seq)) => {
                self.seq = seq;
                Ok(f)
            }
            Err(reason) => {
                out.truncate(start);
                let reason = if !valid_json(payload) {
                    Reason::Json
                } else if reason == Reason::Json {
                    Reason::Schema
                } else {
                    reason
                };
                self.stats.count_error(reason);
                Err(DecodeError { reason, instrument })
            }
        }
    }

    #[inline(always)]
    fn instrument(&mut self, symbol: Option<&[u8]>) -> R<InstrumentId> {
        let s = symbol.ok_or(Reason::Schema)?;
        self.symbols.get(s).ok_or(Reason::UnknownSymbol)
    }

    fn message(
        &mut self,
        payload: &[u8],
        recv_ts: u64,
        out: &mut Vec<Event>,
        instrument: &mut InstrumentId,
    ) -> R<(Frame, Option<u64>)> {
        let start = out.len();
        let mut c = Cur { b: payload, i: 0 };
        let mut channel: Option<Channel> = None;
        let mut typ: Option<&[u8]> = None;
        let mut seq: Option<u64> = None;
        let mut ts: Option<u64> = None;
        let mut events_at: Option<usize> = None;
        let mut parsed = false;
        let mut book = BookAcc::default();
        let mut unknown = 0u64;
        c.object(|c, key| {
            match key {
                b"channel" => channel = Some(channel_of(c.string()?)),
                b"sequence_num" => seq = Some(c.u64()?),
                b"timestamp" => ts = Some(rfc3339_ns(c.string()?)?),
                b"events" => {
                    c.ws();
                    events_at = Some(c.i);
                    match channel {
                        Some(ch) => {
                            self.events(c, ch, recv_ts, out, &mut book, &mut unknown)?;
                            parsed = true;
                        }
                        None => c.skip(0)?,
                    }
                }
                b"type" => typ = Some(c.string()?),
                b"client_id" | b"message" | b"reason" => c.skip(0)?,
                _ => {
                    unknown += 1;
                    c.skip(0)?;
                }
            }
            Ok(())
        })?;
        c.ws();
        if c.i != payload.len() {
            return Err(Reason::Json);
        }
        let Some(channel) = channel else {
            // `{"type":"error","message":"..."}`: a refused request (no id).
            if typ == Some(b"error") {
                self.stats.unknown_fields += unknown;
                return Ok((Frame::SubscriptionError { id: None, code: 0 }, seq));
            }
            self.stats.unknown_messages += 1;
            return Ok((Frame::Unknown, seq));
        };
        if !parsed {
            match events_at {
                Some(at) => {
                    let mut d = Cur { b: payload, i: at };
                    self.events(&mut d, channel, recv_ts, out, &mut book, &mut unknown)?;
                }
                None if matches!(channel, Channel::L2 | Channel::Trades | Channel::Ticker) => {
                    return Err(Reason::Schema);
                }
                None => {}
            }
        }
        self.stats.unknown_fields += unknown;
        let exchange_ts = ts.unwrap_or(0);
        let frame = match channel {
            Channel::L2 => {
                let id = book.instrument.ok_or(Reason::Schema)?;
                *instrument = id;
                let n = seq.ok_or(Reason::Schema)?;
                for e in &mut out[start..] {
                    e.instrument = id;
                    e.seq = n;
                    e.exchange_ts = exchange_ts;
                }
                if let Some(last) = out.get_mut(start..).and_then(<[Event]>::last_mut) {
                    last.flags = Flags::LAST_IN_BATCH;
                }
                let ids = DiffIds {
                    first: n,
                    last: n,
                    prev: None,
                };
                if book.snapshot == Some(true) {
                    Frame::BookSnapshot {
                        instrument: id,
                        ids,
                        checksum: None,
                    }
                } else {
                    Frame::BookDiff {
                        instrument: id,
                        ids,
                        checksum: None,
                    }
                }
            }
            Channel::Ticker => {
                let n = seq.unwrap_or(0);
                for e in &mut out[start..] {
                    e.seq = n;
                    e.exchange_ts = exchange_ts;
                }
                Frame::Market
            }
            Channel::Trades => {
                // The docs do not say in which order a message lists its trades (a batch may
                // come newest first): they go out in trade-id order, each product's oldest
                // first, which is what consumers and the A/B arbiter (a later id covers the
                // earlier ones) expect. In place; a message of one trade costs a length check.
                let t = &mut out[start..];
                let numbered = |e: &Event| e.flags.0 & (Flags::UUID_ID.0 | Flags::HASHED_ID.0) == 0;
                if t.len() > 1
                    && t.iter().all(numbered)
                    && t.windows(2).any(|w| w[0].seq > w[1].seq)
                {
                    t.sort_unstable_by_key(|e| e.seq);
                }
                Frame::Market
            }
            Channel::Heartbeats => Frame::Control,
            Channel::Subscriptions => Frame::Ack { id: 0 },
            Channel::Other => {
                self.stats.unknown_messages += 1;
                Frame::Unknown
            }
        };
        Ok((frame, seq))
    }

    /// Reads the `events` array for `channel`.
    fn events(
        &mut self,
        c: &mut Cur<'_>,
        channel: Channel,
        recv_ts: u64,
        out: &mut Vec<Event>,
        book: &mut BookAcc,
        unknown: &mut u64,
    ) -> R<()> {
        match channel {
            Channel::L2 | Channel::Trades | Channel::Ticker => {}
            // Heartbeats, subscription lists, other channels: checked, not read.
            _ => return c.skip(0),
        }
        match c.peek() {
            Some(b'[') => c.i += 1,
            _ => return Err(Reason::Schema),
        }
        if c.try_eat(b']') {
            return Ok(());
        }
        loop {
            match channel {
                Channel::L2 => self.book_event(c, recv_ts, out, book, unknown)?,
                Channel::Trades => self.list_event(c, b"trades", recv_ts, out, unknown)?,
                _ => self.list_event(c, b"tickers", recv_ts, out, unknown)?,
            }
            if c.try_eat(b',') {
                continue;
            }
            return c.eat(b']');
        }
    }

    /// One `l2_data` event: its levels are appended (instrument set here once the product is
    /// known; sequence and time by the caller).
    fn book_event(
        &mut self,
        c: &mut Cur<'_>,
        recv_ts: u64,
        out: &mut Vec<Event>,
        book: &mut BookAcc,
        unknown: &mut u64,
    ) -> R<()> {
        let start = out.len();
        let mut product: Option<&[u8]> = None;
        let mut snapshot: Option<bool> = None;
        let mut updates = false;
        c.object(|c, key| {
            match key {
                b"type" => {
                    snapshot = Some(match c.string()? {
                        b"snapshot" => true,
                        b"update" => false,
                        _ => return Err(Reason::Schema),
                    })
                }
                b"product_id" => product = Some(c.string()?),
                b"updates" => {
                    updates_array(c, recv_ts, out, unknown)?;
                    updates = true;
                }
                _ => {
                    *unknown += 1;
                    c.skip(0)?;
                }
            }
            Ok(())
        })?;
        let snapshot = snapshot.ok_or(Reason::Schema)?;
        if !updates {
            return Err(Reason::Schema);
        }
        let id = self.instrument(product)?;
        // One book frame a message: more events must be of the same product and type.
        if book.instrument.is_some_and(|i| i != id) || book.snapshot.is_some_and(|s| s != snapshot)
        {
            return Err(Reason::Schema);
        }
        book.instrument = Some(id);
        book.snapshot = Some(snapshot);
        for e in &mut out[start..] {
            e.instrument = id;
        }
        Ok(())
    }

    /// One `market_trades` or `ticker` event: `{"type", "<list>":[..]}`.
    fn list_event(
        &mut self,
        c: &mut Cur<'_>,
        list: &[u8],
        recv_ts: u64,
        out: &mut Vec<Event>,
        unknown: &mut u64,
    ) -> R<()> {
        let mut seen = false;
        c.object(|c, key| {
            if key == list {
                seen = true;
                match c.peek() {
                    Some(b'[') => c.i += 1,
                    _ => return Err(Reason::Schema),
                }
                if c.try_eat(b']') {
                    return Ok(());
                }
                loop {
                    if list == b"trades" {
                        self.trade(c, recv_ts, out, unknown)?;
                    } else {
                        self.ticker(c, recv_ts, out, unknown)?;
                    }
                    if c.try_eat(b',') {
                        continue;
                    }
                    return c.eat(b']');
                }
            }
            match key {
                b"type" => {
                    c.string()?;
                }
                _ => {
                    *unknown += 1;
                    c.skip(0)?;
                }
            }
            Ok(())
        })?;
        if seen { Ok(()) } else { Err(Reason::Schema) }
    }

    /// One trade of a `market_trades` event.
    fn trade(
        &mut self,
        c: &mut Cur<'_>,
        recv_ts: u64,
        out: &mut Vec<Event>,
        unknown: &mut u64,
    ) -> R<()> {
        let (mut id, mut product, mut price, mut size, mut side, mut time) =
            (None, None, None, None, None, None);
        c.object(|c, key| {
            match key {
                b"trade_id" => id = Some(c.string()?),
                b"product_id" => product = Some(c.string()?),
                b"price" => price = Some(c.decimal()?),
                b"size" => size = Some(c.decimal()?),
                b"side" => {
                    side = Some(match c.string()? {
                        b"BUY" | b"buy" => Side::Buy,
                        b"SELL" | b"sell" => Side::Sell,
                        _ => return Err(Reason::Schema),
                    })
                }
                b"time" => time = Some(rfc3339_ns(c.string()?)?),
                _ => {
                    *unknown += 1;
                    c.skip(0)?;
                }
            }
            Ok(())
        })?;
        let instrument = self.instrument(product)?;
        let tid = TradeId::parse(id.ok_or(Reason::Schema)?).ok_or(Reason::Schema)?;
        let trade = Trade {
            price: price.ok_or(Reason::Schema)?,
            qty: size.ok_or(Reason::Schema)?,
            side: self.trade_side.aggressor(side.ok_or(Reason::Schema)?),
            id: 0,
        };
        let ts = time.ok_or(Reason::Schema)?;
        let e = Event::trade(instrument, trade, ts, recv_ts).map_err(|_| Reason::Number)?;
        out.push(e.with_trade_id(tid));
        Ok(())
    }

    /// One ticker of a `ticker` event: a BBO (quantities zero when the venue left them out;
    /// no event without both prices).
    fn ticker(
        &mut self,
        c: &mut Cur<'_>,
        recv_ts: u64,
        out: &mut Vec<Event>,
        unknown: &mut u64,
    ) -> R<()> {
        let mut product = None;
        let mut v: [Option<Decimal>; 4] = [None; 4];
        c.object(|c, key| {
            let slot = match key {
                b"product_id" => {
                    product = Some(c.string()?);
                    return Ok(());
                }
                b"best_bid" => 0,
                b"best_bid_quantity" => 1,
                b"best_ask" => 2,
                b"best_ask_quantity" => 3,
                b"type"
                | b"price"
                | b"volume_24_h"
                | b"low_24_h"
                | b"high_24_h"
                | b"low_52_w"
                | b"high_52_w"
                | b"price_percent_chg_24_h" => return c.skip(0),
                _ => {
                    *unknown += 1;
                    return c.skip(0);
                }
            };
            v[slot] = Some(c.decimal()?);
            Ok(())
        })?;
        let instrument = self.instrument(product)?;
        let (Some(bid_price), Some(ask_price)) = (v[0], v[2]) else {
            return Ok(());
        };
        let b = Bbo {
            bid_price,
            bid_qty: v[1].unwrap_or(Decimal::ZERO),
            ask_price,
            ask_qty: v[3].unwrap_or(Decimal::ZERO),
            seq: 0,
        };
        out.push(Event::bbo(instrument, b, 0, recv_ts).map_err(|_| Reason::Number)?);
        Ok(())
    }
}

/// Appends an `updates` array's levels (instrument, sequence and time set by the callers).
#[inline(always)]
fn updates_array(c: &mut Cur<'_>, recv_ts: u64, out: &mut Vec<Event>, unknown: &mut u64) -> R<()> {
    match c.peek() {
        Some(b'[') => c.i += 1,
        _ => return Err(Reason::Schema),
    }
    if c.try_eat(b']') {
        return Ok(());
    }
    let template = |side| {
        let zero = Level {
            side,
            price: Decimal::ZERO,
            qty: Decimal::ZERO,
            seq: 0,
        };
        Event::level(InstrumentId::NONE, zero, Flags::EMPTY, 0, recv_ts).map_err(|_| Reason::Number)
    };
    let (bid, offer) = (template(Side::Buy)?, template(Side::Sell)?);
    loop {
        if let Some(e) = fast_update(c, &bid, &offer) {
            out.push(e);
            if c.b.get(c.i) == Some(&b',') {
                c.i += 1;
                continue;
            }
            if c.try_eat(b',') {
                continue;
            }
            return c.eat(b']');
        }
        let (mut side, mut price, mut qty) = (None, None, None);
        c.object(|c, key| {
            match key {
                b"side" => {
                    side = Some(match c.string()? {
                        b"bid" => Side::Buy,
                        b"offer" | b"ask" => Side::Sell,
                        _ => return Err(Reason::Schema),
                    })
                }
                b"price_level" => price = Some(c.decimal()?),
                b"new_quantity" => qty = Some(c.decimal()?),
                b"event_time" => {
                    c.string()?;
                }
                _ => {
                    *unknown += 1;
                    c.skip(0)?;
                }
            }
            Ok(())
        })?;
        let t = match side.ok_or(Reason::Schema)? {
            Side::Sell => &offer,
            _ => &bid,
        };
        let e = t
            .with_level(price.ok_or(Reason::Schema)?, qty.ok_or(Reason::Schema)?)
            .map_err(|_| Reason::Number)?;
        out.push(e);
        if c.try_eat(b',') {
            continue;
        }
        return c.eat(b']');
    }
}

/// One update in the venue's usual shape, compact and in the documented key order
/// (`{"side":"bid","event_time":"..","price_level":"..","new_quantity":".."}`), read with
/// literal compares; `None` (cursor unmoved) for anything else, which the general reader
/// then takes (the same answer: the key-order property of `fuzzing::coinbase_decode`
/// compares the two).
#[inline(always)]
fn fast_update(c: &mut Cur<'_>, bid: &Event, offer: &Event) -> Option<Event> {
    const BID: &[u8] = b"{\"side\":\"bid\",\"event_time\":\"";
    const OFFER: &[u8] = b"{\"side\":\"offer\",\"event_time\":\"";
    const PRICE: &[u8] = b",\"price_level\":";
    const QTY: &[u8] = b",\"new_quantity\":";
    let b = c.b;
    let rest = b.get(c.i..)?;
    let (t, mut i) = if rest.starts_with(BID) {
        (bid, c.i + BID.len())
    } else if rest.starts_with(OFFER) {
        (offer, c.i + OFFER.len())
    } else {
        return None;
    };
    // The time text, unread: plain bytes to its closing quote. The venue's usual length
    // (`2026-04-07T14:30:00.123456Z`, 27 bytes) is checked in one branch-free pass.
    const TIME: usize = 27;
    let plain = |t: &[u8]| {
        !t.iter().fold(false, |bad, &x| {
            bad | (x == b'"') | (x == b'\\') | (x < 0x20)
        })
    };
    match b.get(i..i + TIME + 1) {
        Some(t) if t[TIME] == b'"' && plain(&t[..TIME]) => i += TIME + 1,
        _ => {
            let end = b
                .get(i..)?
                .iter()
                .position(|&x| x == b'"' || x == b'\\' || x < 0x20)?;
            i += end;
            if b.get(i) != Some(&b'"') {
                return None;
            }
            i += 1;
        }
    }
    if !b.get(i..)?.starts_with(PRICE) {
        return None;
    }
    let mut d = Cur {
        b,
        i: i + PRICE.len(),
    };
    let price = d.decimal().ok()?;
    if !b.get(d.i..)?.starts_with(QTY) {
        return None;
    }
    d.i += QTY.len();
    let qty = d.decimal().ok()?;
    if b.get(d.i) != Some(&b'}') {
        return None;
    }
    let e = t.with_level(price, qty).ok()?;
    c.i = d.i + 1;
    Some(e)
}
