//! Kraken spot WebSocket v2 JSON frames to events: a hand scanner that reads the message
//! where it lies (no tape, no copy, no allocation after warm-up), in any key order.
//!
//! Accepted shapes (venues.md §4, §12):
//! * `{"channel":"book","type":"snapshot"|"update","data":[{"symbol","bids":[{"price","qty"}],"asks":[..],"checksum","timestamp"}]}`
//!   → [`Frame::BookSnapshot`] / [`Frame::BookDiff`] with the venue's CRC32. Kraken has no
//!   sequence: [`DiffIds`] are all zero and events carry `seq` 0 (the checksum is the only
//!   integrity check). Prices and quantities are JSON numbers, read exactly from their text
//!   (`0.00005325`, `84205.0`, `5.325e-05`; never through a float; the scale of the text is
//!   kept, so `1797.30` stays at two decimals). An update's levels are reduced to the last
//!   change per price (several changes to one level in one message apply in order, so only
//!   the last counts) and ordered deletes first: a book bounded at the subscribed depth
//!   then holds exactly the venue's truncated book (apply everything, then truncate);
//! * `{"channel":"trade","type":..,"data":[{"symbol","side","price","qty","ord_type","trade_id","timestamp"}]}`
//!   → one trade event each (`side` is the taker's, the aggressor);
//! * `{"channel":"ticker","type":..,"data":[{"symbol","bid","bid_qty","ask","ask_qty",..}]}`
//!   → one BBO event each;
//! * `{"channel":"instrument","data":{"assets":[..],"pairs":[{"symbol","price_precision","qty_precision",..}]}}`
//!   → the precisions of subscribed pairs are kept ([`Decoder::precision`]) for the checksum;
//!   [`Frame::Control`];
//! * `{"channel":"heartbeat"}`, `{"channel":"status",..}` → [`Frame::Control`];
//! * `{"method":"pong",..}` → [`Frame::Pong`]; `{"method":"subscribe"|"unsubscribe","success":true,"req_id":N,..}`
//!   → [`Frame::Ack`] (one per symbol: the adapter counts them); `success:false` →
//!   [`Frame::SubscriptionError`]; `{"Error":"Exceeded msg rate"}` → a
//!   [`Frame::SubscriptionError`] without an id.
//!
//! A frame that cannot be read is one error (JSON, number, schema, unknown symbol) and
//! produces no events; keys a known message does not use are counted, never an error.

use tickwire_engine::adapter::{DecodeError, DecodeStats, DiffIds, Frame};
use tickwire_engine::event::{Bbo, Event, Flags, Level, MAX_EVENT_SCALE, Side, Trade};
use tickwire_engine::{Decimal, InstrumentId, Reason};

use crate::binance::Symbols;

use crate::json_scan::{Cur, R, plain_decimal, valid_json};

impl<'a> Cur<'a> {
    /// A price or quantity: a JSON number (Kraken v2) or, tolerated, a string holding one,
    /// read exactly from its text with its scale (`1797.30` → scale 2; `5.325e-05` →
    /// `0.00005325`); trailing zeros past [`MAX_EVENT_SCALE`] dropped. Negative values and
    /// other digits past that scale are [`Reason::Number`].
    #[inline(always)]
    fn value_decimal(&mut self) -> R<Decimal> {
        match self.peek() {
            Some(b'0'..=b'9') => self.number_decimal(),
            Some(b'"') => plain_decimal(self.string()?),
            Some(b'-') => Err(Reason::Number),
            _ => Err(Reason::Schema),
        }
    }

    /// A non-negative JSON number at the cursor as an exact decimal: the grammar is checked
    /// by [`Cur::number`], so the text goes straight to [`Decimal::parse`].
    #[inline(always)]
    fn number_decimal(&mut self) -> R<Decimal> {
        let text = self.number()?;
        Decimal::parse(text)
            .and_then(|d| d.fit_scale(MAX_EVENT_SCALE))
            .map_err(|_| Reason::Number)
    }

    /// A u32 (the checksum).
    fn u32(&mut self) -> R<u32> {
        u32::try_from(self.u64()?).map_err(|_| Reason::Number)
    }

    /// A small non-negative integer (a precision).
    fn precision(&mut self) -> R<u8> {
        match self.u64()? {
            p @ 0..=18 => Ok(p as u8),
            _ => Err(Reason::Number),
        }
    }
}

/// A price or quantity text as Kraken v2 sends it: a non-negative JSON number (`84205.0`,
/// `0.00005325`, `1e-8`), exact, at the scale its text shows (exponents shift it: `5.325e-05`
/// has scale 8). Anything else is [`Reason::Number`].
#[inline(always)]
pub fn kraken_decimal(text: &[u8]) -> Result<Decimal, Reason> {
    plain_decimal(text)
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian; Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// An RFC 3339 UTC timestamp as Kraken sends it (`2023-09-25T09:04:31.742599Z`, up to nine
/// fractional digits) in ns since the epoch; `None` when it is not one.
pub fn parse_timestamp(t: &[u8]) -> Option<u64> {
    fn num(b: &[u8]) -> Option<i64> {
        let mut v = 0i64;
        for &c in b {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + i64::from(c - b'0');
        }
        Some(v)
    }
    if t.len() < 20
        || t[4] != b'-'
        || t[7] != b'-'
        || !matches!(t[10], b'T' | b't' | b' ')
        || t[13] != b':'
        || t[16] != b':'
    {
        return None;
    }
    let (y, mo, d) = (num(&t[0..4])?, num(&t[5..7])?, num(&t[8..10])?);
    let (h, mi, s) = (num(&t[11..13])?, num(&t[14..16])?, num(&t[17..19])?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let mut rest = &t[19..];
    let mut frac: i64 = 0;
    if let Some(r) = rest.strip_prefix(b".") {
        let n = r.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 || n > 9 {
            return None;
        }
        frac = num(&r[..n])? * 10i64.pow(9 - n as u32);
        rest = &r[n..];
    }
    if !matches!(rest, b"Z" | b"z" | b"+00:00") {
        return None;
    }
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s;
    u64::try_from(secs)
        .ok()?
        .checked_mul(1_000_000_000)?
        .checked_add(frac as u64)
}

/// What a message's `channel` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Channel {
    Book,
    Trade,
    Ticker,
    Instrument,
    Quiet,
    Other,
}

fn channel_kind(c: &[u8]) -> Channel {
    match c {
        b"book" => Channel::Book,
        b"trade" => Channel::Trade,
        b"ticker" => Channel::Ticker,
        b"instrument" => Channel::Instrument,
        b"heartbeat" | b"status" => Channel::Quiet,
        _ => Channel::Other,
    }
}

/// The last request answer, for the adapter's ack accounting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reply {
    /// `req_id`, when it had one.
    pub req_id: Option<u64>,
    /// `method` was `subscribe` (else `unsubscribe` or another).
    pub subscribe: bool,
    /// `success`.
    pub success: bool,
}

/// Decodes Kraken v2 frames. Keeps the symbol table, the pairs' precisions and counters.
pub struct Decoder {
    symbols: Symbols,
    stats: DecodeStats,
    /// Per instrument index: (price precision, qty precision) from the `instrument` channel.
    precision: Vec<Option<(u8, u8)>>,
    last_reply: Reply,
}

impl Decoder {
    /// A decoder over `symbols`.
    pub fn new(symbols: Symbols) -> Decoder {
        Decoder {
            symbols,
            stats: DecodeStats::default(),
            precision: Vec::new(),
            last_reply: Reply::default(),
        }
    }

    /// The symbol table.
    pub fn symbols(&self) -> &Symbols {
        &self.symbols
    }

    /// The symbol table, mutably (to add symbols at subscribe time; call
    /// [`Decoder::prepare`] for each).
    pub fn symbols_mut(&mut self) -> &mut Symbols {
        &mut self.symbols
    }

    /// Sizes the per-symbol state for `instrument` (off the hot path).
    pub fn prepare(&mut self, instrument: InstrumentId) {
        let i = instrument.index();
        if self.precision.len() <= i {
            self.precision.resize(i + 1, None);
        }
    }

    /// `instrument`'s (price, qty) precision, once the `instrument` channel told it.
    pub fn precision(&self, instrument: InstrumentId) -> Option<(u8, u8)> {
        self.precision.get(instrument.index()).copied().flatten()
    }

    /// Sets `instrument`'s precision (tests, or a REST AssetPairs lookup).
    pub fn set_precision(&mut self, instrument: InstrumentId, price: u8, qty: u8) {
        self.prepare(instrument);
        if let Some(p) = self.precision.get_mut(instrument.index()) {
            *p = Some((price, qty));
        }
    }

    /// The last request answer decoded.
    pub fn last_reply(&self) -> Reply {
        self.last_reply
    }

    /// Decode counters.
    pub fn stats(&self) -> DecodeStats {
        self.stats
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
        let start = out.len();
        let mut instrument = InstrumentId::NONE;
        match self.message(payload, recv_ts, out, &mut instrument) {
            Ok(f) => Ok(f),
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

    fn message(
        &mut self,
        payload: &[u8],
        recv_ts: u64,
        out: &mut Vec<Event>,
        instrument: &mut InstrumentId,
    ) -> R<Frame> {
        let mut c = Cur { b: payload, i: 0 };
        let mut channel: Option<Channel> = None;
        let mut typ: Option<&[u8]> = None;
        let mut method: Option<&[u8]> = None;
        let mut success: Option<bool> = None;
        let mut req_id: Option<u64> = None;
        let mut rate_error = false;
        let mut data_at: Option<usize> = None;
        let mut frame: Option<Frame> = None;
        let mut unknown = 0u64;
        c.object(|c, key| {
            match key {
                b"channel" => channel = Some(channel_kind(c.string()?)),
                b"type" => typ = Some(c.string()?),
                b"data" => {
                    c.ws();
                    data_at = Some(c.i);
                    match channel {
                        Some(ch) if typ.is_some() || ch != Channel::Book => {
                            frame = Some(self.data(c, ch, typ, recv_ts, out, instrument)?);
                        }
                        _ => c.skip(0)?,
                    }
                }
                b"method" => method = Some(c.string()?),
                b"success" => success = Some(c.bool()?),
                b"req_id" => req_id = Some(c.u64()?),
                b"Error" => {
                    c.skip(0)?;
                    rate_error = true;
                }
                b"result" | b"error" | b"time_in" | b"time_out" | b"symbol" | b"warnings" => {
                    c.skip(0)?
                }
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
        let f = match channel {
            Some(ch @ (Channel::Book | Channel::Trade | Channel::Ticker | Channel::Instrument)) => {
                match frame {
                    Some(f) => f,
                    None => {
                        // `data` came before `channel` (or `type`): read it now.
                        let at = data_at.ok_or(Reason::Schema)?;
                        let mut d = Cur { b: payload, i: at };
                        self.data(&mut d, ch, typ, recv_ts, out, instrument)?
                    }
                }
            }
            Some(Channel::Quiet) => Frame::Control,
            Some(Channel::Other) => {
                self.stats.unknown_messages += 1;
                return Ok(Frame::Unknown);
            }
            None => {
                if rate_error {
                    Frame::SubscriptionError { id: None, code: -1 }
                } else {
                    match self.reply(method, success, req_id) {
                        Some(f) => f,
                        None => {
                            self.stats.unknown_messages += 1;
                            return Ok(Frame::Unknown);
                        }
                    }
                }
            }
        };
        self.stats.unknown_fields += unknown;
        Ok(f)
    }

    /// An answer to a request (a `method` and no `channel`).
    fn reply(
        &mut self,
        method: Option<&[u8]>,
        success: Option<bool>,
        req_id: Option<u64>,
    ) -> Option<Frame> {
        let method = method?;
        if method == b"pong" {
            return Some(Frame::Pong);
        }
        let subscribe = method == b"subscribe";
        let known = subscribe || method == b"unsubscribe";
        self.last_reply = Reply {
            req_id,
            subscribe,
            success: success == Some(true),
        };
        Some(match success {
            Some(true) if known => match req_id {
                Some(id) => Frame::Ack { id },
                None => Frame::Control,
            },
            Some(false) => Frame::SubscriptionError {
                id: req_id,
                code: 0,
            },
            _ => Frame::Control,
        })
    }

    /// Reads a `data` value of channel `ch`.
    #[inline(always)]
    fn data(
        &mut self,
        c: &mut Cur<'_>,
        ch: Channel,
        typ: Option<&[u8]>,
        recv_ts: u64,
        out: &mut Vec<Event>,
        instrument: &mut InstrumentId,
    ) -> R<Frame> {
        match ch {
            Channel::Book => {
                let snapshot = match typ {
                    Some(b"snapshot") => true,
                    Some(b"update") => false,
                    _ => return Err(Reason::Schema),
                };
                self.book(c, snapshot, recv_ts, out, instrument)
            }
            Channel::Trade => {
                self.array(c, |d, c| d.trade(c, recv_ts, out, instrument))?;
                Ok(Frame::Market)
            }
            Channel::Ticker => {
                self.array(c, |d, c| d.ticker(c, recv_ts, out, instrument))?;
                Ok(Frame::Market)
            }
            Channel::Instrument => {
                self.instruments(c)?;
                Ok(Frame::Control)
            }
            Channel::Quiet | Channel::Other => {
                c.skip(0)?;
                Ok(Frame::Control)
            }
        }
    }

    /// Reads `[item, ...]`, calling `f` at each item.
    #[inline(always)]
    fn array<'a>(
        &mut self,
        c: &mut Cur<'a>,
        mut f: impl FnMut(&mut Decoder, &mut Cur<'a>) -> R<()>,
    ) -> R<()> {
        match c.peek() {
            Some(b'[') => c.i += 1,
            _ => return Err(Reason::Schema),
        }
        if c.try_eat(b']') {
            return Ok(());
        }
        loop {
            f(self, c)?;
            if c.try_eat(b',') {
                continue;
            }
            return c.eat(b']');
        }
    }

    /// The instrument of `symbol`.
    #[inline(always)]
    fn lookup(&mut self, symbol: Option<&[u8]>) -> R<InstrumentId> {
        let s = symbol.ok_or(Reason::Schema)?;
        self.symbols.get(s).ok_or(Reason::UnknownSymbol)
    }

    /// A book message's `data`: exactly one entry.
    fn book(
        &mut self,
        c: &mut Cur<'_>,
        snapshot: bool,
        recv_ts: u64,
        out: &mut Vec<Event>,
        instrument: &mut InstrumentId,
    ) -> R<Frame> {
        let start = out.len();
        let mut entries = 0u32;
        let mut symbol = None;
        let mut checksum: Option<u32> = None;
        let mut ts: Option<&[u8]> = None;
        let (mut bids, mut asks) = (false, false);
        let mut unknown = 0u64;
        self.array(c, |_, c| {
            entries += 1;
            if entries > 1 {
                return Err(Reason::Schema);
            }
            c.object(|c, key| {
                match key {
                    b"symbol" => symbol = Some(c.string()?),
                    b"bids" => {
                        levels(c, Side::Buy, recv_ts, out)?;
                        bids = true;
                    }
                    b"asks" => {
                        levels(c, Side::Sell, recv_ts, out)?;
                        asks = true;
                    }
                    b"checksum" => checksum = Some(c.u32()?),
                    b"timestamp" => ts = Some(c.string()?),
                    _ => {
                        unknown += 1;
                        c.skip(0)?;
                    }
                }
                Ok(())
            })
        })?;
        self.stats.unknown_fields += unknown;
        let id = self.lookup(symbol)?;
        *instrument = id;
        if entries != 1 || !(bids || asks) {
            return Err(Reason::Schema);
        }
        let exchange_ts = match ts {
            Some(t) => parse_timestamp(t).ok_or(Reason::Schema)?,
            None => 0,
        };
        let levels = &mut out[start..];
        for e in levels.iter_mut() {
            e.instrument = id;
            e.exchange_ts = exchange_ts;
        }
        if !snapshot {
            let n = last_change_per_level(levels);
            out.truncate(start + n);
            deletes_first(&mut out[start..]);
        }
        if let Some(last) = out.get_mut(start..).and_then(<[Event]>::last_mut) {
            last.flags = Flags::LAST_IN_BATCH;
        }
        let ids = DiffIds::default();
        Ok(if snapshot {
            Frame::BookSnapshot {
                instrument: id,
                ids,
                checksum,
            }
        } else {
            Frame::BookDiff {
                instrument: id,
                ids,
                checksum,
            }
        })
    }

    /// One trade object.
    fn trade(
        &mut self,
        c: &mut Cur<'_>,
        recv_ts: u64,
        out: &mut Vec<Event>,
        instrument: &mut InstrumentId,
    ) -> R<()> {
        let mut symbol = None;
        let (mut price, mut qty, mut side, mut id) = (None, None, None, None);
        let mut ts: Option<&[u8]> = None;
        let mut unknown = 0u64;
        c.object(|c, key| {
            match key {
                b"symbol" => symbol = Some(c.string()?),
                b"price" => price = Some(c.value_decimal()?),
                b"qty" => qty = Some(c.value_decimal()?),
                b"side" => {
                    side = Some(match c.string()? {
                        b"buy" => Side::Buy,
                        b"sell" => Side::Sell,
                        _ => return Err(Reason::Schema),
                    })
                }
                b"trade_id" => id = Some(c.u64()?),
                b"timestamp" => ts = Some(c.string()?),
                b"ord_type" => c.skip(0)?,
                _ => {
                    unknown += 1;
                    c.skip(0)?;
                }
            }
            Ok(())
        })?;
        self.stats.unknown_fields += unknown;
        let inst = self.lookup(symbol)?;
        *instrument = inst;
        let t = Trade {
            price: price.ok_or(Reason::Schema)?,
            qty: qty.ok_or(Reason::Schema)?,
            side: side.ok_or(Reason::Schema)?,
            id: id.ok_or(Reason::Schema)?,
        };
        let exchange_ts = match ts {
            Some(t) => parse_timestamp(t).ok_or(Reason::Schema)?,
            None => 0,
        };
        out.push(Event::trade(inst, t, exchange_ts, recv_ts).map_err(|_| Reason::Number)?);
        Ok(())
    }

    /// One ticker object: its best bid and offer.
    fn ticker(
        &mut self,
        c: &mut Cur<'_>,
        recv_ts: u64,
        out: &mut Vec<Event>,
        instrument: &mut InstrumentId,
    ) -> R<()> {
        let mut symbol = None;
        let mut v: [Option<Decimal>; 4] = [None; 4];
        let mut ts: Option<&[u8]> = None;
        let mut unknown = 0u64;
        c.object(|c, key| {
            match key {
                b"symbol" => symbol = Some(c.string()?),
                b"bid" => v[0] = Some(c.value_decimal()?),
                b"bid_qty" => v[1] = Some(c.value_decimal()?),
                b"ask" => v[2] = Some(c.value_decimal()?),
                b"ask_qty" => v[3] = Some(c.value_decimal()?),
                b"timestamp" => ts = Some(c.string()?),
                b"last" | b"volume" | b"vwap" | b"low" | b"high" | b"change" | b"change_pct" => {
                    c.skip(0)?
                }
                _ => {
                    unknown += 1;
                    c.skip(0)?;
                }
            }
            Ok(())
        })?;
        self.stats.unknown_fields += unknown;
        let inst = self.lookup(symbol)?;
        *instrument = inst;
        let [
            Some(bid_price),
            Some(bid_qty),
            Some(ask_price),
            Some(ask_qty),
        ] = v
        else {
            return Err(Reason::Schema);
        };
        let exchange_ts = match ts {
            Some(t) => parse_timestamp(t).ok_or(Reason::Schema)?,
            None => 0,
        };
        let b = Bbo {
            bid_price,
            bid_qty,
            ask_price,
            ask_qty,
            seq: 0,
        };
        out.push(Event::bbo(inst, b, exchange_ts, recv_ts).map_err(|_| Reason::Number)?);
        Ok(())
    }

    /// The `instrument` channel's data: keeps the precisions of subscribed pairs.
    fn instruments(&mut self, c: &mut Cur<'_>) -> R<()> {
        c.object(|c, key| {
            if key != b"pairs" {
                return c.skip(0);
            }
            self.array(c, |d, c| {
                let mut symbol = None;
                let (mut pp, mut qp) = (None, None);
                c.object(|c, key| {
                    match key {
                        b"symbol" => symbol = Some(c.string()?),
                        b"price_precision" => pp = Some(c.precision()?),
                        b"qty_precision" => qp = Some(c.precision()?),
                        _ => c.skip(0)?,
                    }
                    Ok(())
                })?;
                // Pairs not subscribed are skipped (never interned: no allocation).
                if let (Some(s), Some(pp), Some(qp)) = (symbol, pp, qp) {
                    if let Some(id) = d.symbols.get(s) {
                        if let Some(slot) = d.precision.get_mut(id.index()) {
                            *slot = Some((pp, qp));
                        }
                    }
                }
                Ok(())
            })
        })
    }
}

/// Reads `[{"price":..,"qty":..}, ...]` into level events of `side` (instrument and times
/// set by the caller).
#[inline(always)]
fn levels(c: &mut Cur<'_>, side: Side, recv_ts: u64, out: &mut Vec<Event>) -> R<()> {
    match c.peek() {
        Some(b'[') => c.i += 1,
        _ => return Err(Reason::Schema),
    }
    if c.try_eat(b']') {
        return Ok(());
    }
    loop {
        // Fast path: `{"price":N,"qty":N}` as Kraken writes it; anything else (other key
        // order, spaces, strings, extra keys) takes the general object reader below.
        if let Some((price, qty)) = level_fast(c) {
            let level = Level {
                side,
                price,
                qty,
                seq: 0,
            };
            out.push(
                Event::level(InstrumentId::NONE, level, Flags::EMPTY, 0, recv_ts)
                    .map_err(|_| Reason::Number)?,
            );
            if c.try_eat(b',') {
                continue;
            }
            return c.eat(b']');
        }
        let (mut price, mut qty) = (None, None);
        c.object(|c, key| {
            match key {
                b"price" => price = Some(c.value_decimal()?),
                b"qty" => qty = Some(c.value_decimal()?),
                _ => c.skip(0)?,
            }
            Ok(())
        })?;
        let level = Level {
            side,
            price: price.ok_or(Reason::Schema)?,
            qty: qty.ok_or(Reason::Schema)?,
            seq: 0,
        };
        out.push(
            Event::level(InstrumentId::NONE, level, Flags::EMPTY, 0, recv_ts)
                .map_err(|_| Reason::Number)?,
        );
        if c.try_eat(b',') {
            continue;
        }
        return c.eat(b']');
    }
}

/// `{"price":N,"qty":N}` at the cursor, both non-negative JSON numbers, read in one go;
/// `None` (cursor unmoved) for any other shape or value.
#[inline(always)]
fn level_fast(c: &mut Cur<'_>) -> Option<(Decimal, Decimal)> {
    let b = c.b;
    let rest = b.get(c.i..)?;
    if !rest.starts_with(br#"{"price":"#) || !rest.get(9).is_some_and(u8::is_ascii_digit) {
        return None;
    }
    let mut d = Cur { b, i: c.i + 9 };
    let price = d.number_decimal().ok()?;
    if !b.get(d.i..)?.starts_with(br#","qty":"#) || !b.get(d.i + 7).is_some_and(u8::is_ascii_digit)
    {
        return None;
    }
    d.i += 7;
    let qty = d.number_decimal().ok()?;
    if b.get(d.i) != Some(&b'}') {
        return None;
    }
    c.i = d.i + 1;
    Some((price, qty))
}

/// Keeps, of several changes to one level (side and price) in `levels`, only the last, in
/// place and in order; returns how many remain. Quadratic in the message's levels, which
/// are few in an update; the keys are read once into a stack array (up to 64 levels).
fn last_change_per_level(levels: &mut [Event]) -> usize {
    const STACK: usize = 64;
    let n = levels.len();
    let key = |e: &Event| e.as_level().map(|l| (l.side, l.price));
    if n > STACK {
        let mut w = 0;
        for i in 0..n {
            let k = key(&levels[i]);
            let later = k.is_some() && levels[i + 1..].iter().any(|e| key(e) == k);
            if !later {
                levels.swap(w, i);
                w += 1;
            }
        }
        return w;
    }
    let mut keys = [None; STACK];
    for (k, e) in keys.iter_mut().zip(levels.iter()) {
        *k = key(e);
    }
    let mut w = 0;
    for i in 0..n {
        let k = keys[i];
        let later = k.is_some() && keys[i + 1..n].contains(&k);
        if !later {
            levels.swap(w, i);
            keys.swap(w, i);
            w += 1;
        }
    }
    w
}

/// Moves the deletes (quantity zero) ahead of the other changes, keeping each group's order
/// (no allocation).
fn deletes_first(levels: &mut [Event]) {
    let mut k = 0;
    for i in 0..levels.len() {
        if levels[i].as_level().is_some_and(|l| l.qty.is_zero()) {
            levels[k..=i].rotate_right(1);
            k += 1;
        }
    }
}

/// A client request as the simulator reads it: `{"method":..,"params":{"channel":..,
/// "symbol":[..],"depth":..,"snapshot":..},"req_id":..}`, keys in any order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Request {
    /// `method`.
    pub method: String,
    /// `params.channel`.
    pub channel: Option<String>,
    /// `params.symbol`.
    pub symbols: Vec<String>,
    /// `params.depth`.
    pub depth: Option<u64>,
    /// `params.snapshot`.
    pub snapshot: Option<bool>,
    /// `req_id`.
    pub req_id: Option<u64>,
}

/// Reads a client request (control path: allocates); `None` when it is not one.
pub fn parse_request(text: &[u8]) -> Option<Request> {
    fn utf8(b: &[u8]) -> R<String> {
        std::str::from_utf8(b)
            .map(str::to_owned)
            .map_err(|_| Reason::Json)
    }
    let mut c = Cur { b: text, i: 0 };
    let mut r = Request::default();
    let mut method = None;
    c.object(|c, key| {
        match key {
            b"method" => method = Some(utf8(c.string()?)?),
            b"req_id" => r.req_id = Some(c.u64()?),
            b"params" => c.object(|c, key| {
                match key {
                    b"channel" => r.channel = Some(utf8(c.string()?)?),
                    b"depth" => r.depth = Some(c.u64()?),
                    b"snapshot" => r.snapshot = Some(c.bool()?),
                    b"symbol" => {
                        match c.peek() {
                            Some(b'[') => c.i += 1,
                            _ => return Err(Reason::Schema),
                        }
                        if !c.try_eat(b']') {
                            loop {
                                r.symbols.push(utf8(c.string()?)?);
                                if c.try_eat(b',') {
                                    continue;
                                }
                                c.eat(b']')?;
                                break;
                            }
                        }
                    }
                    _ => c.skip(0)?,
                }
                Ok(())
            })?,
            _ => c.skip(0)?,
        }
        Ok(())
    })
    .ok()?;
    c.ws();
    if c.i != text.len() {
        return None;
    }
    r.method = method?;
    Some(r)
}
