//! Coinbase Advanced Trade in the simulator, on the venue-neutral core of [`crate::sim`]:
//! the envelope `{"channel","client_id","timestamp","sequence_num","events"}` with **one
//! `sequence_num` counter per connection** across every channel (heartbeats and
//! subscription answers included), `heartbeats` once a second of send time while
//! subscribed, the whole book as an `l2_data` snapshot after a `level2` subscribe (plus
//! `?deep=N` static far levels a side, to make snapshots megabytes), `market_trades`,
//! `ticker`, the `level2` product limit per connection (`?l2_limit=N`, default
//! [`SIM_L2_LIMIT`]: a subscribe past it is refused with the venue's error and subscribes
//! nothing), and the content faults `gap` (the next `l2_data` update is lost and its
//! `sequence_num` skipped) and `malformed` (the next message cut in half; its number is
//! used). Transport faults (drop, silent, ...) are the server's.
//!
//! Simplifications, said here so tests do not rely on them: a trades subscribe sends no
//! snapshot of recent trades; each update's `event_time` is a fixed text (tape bodies are
//! rendered once; the adapter does not read it); the trade `side` is rendered as the maker's
//! side (the adapter's default reading, see [`super::TradeSide`]).

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use crate::sim::tape::{Change, IdRule, StepKind, TapeText};
use crate::sim::{
    Book, BookSide, ContentFaults, ControlOutcome, FaultCounts, FeedRequest, HttpAnswer, Level,
    Model, SessionDefaults, SimFault, SimFeed, SimVenue, SimVenueConfig, SimVenueEntry,
    SnapshotQueue, SymbolSpec, VenueError, push_fixed, push_u64, query_param,
};

/// Coinbase in the simulator registry. Coinbase sends no WebSocket pings of its own that
/// the docs mention; the server's are set far apart.
pub const COINBASE_SIM: SimVenueEntry = SimVenueEntry {
    name: "coinbase",
    aliases: &["coinbase-advanced"],
    defaults: DEFAULTS,
    build,
};

const DEFAULTS: SessionDefaults = SessionDefaults {
    ping_interval: Duration::from_secs(30),
    pong_timeout: Duration::from_secs(600),
    // 8 unauthenticated messages a second per IP (venues.md §3a).
    inbound_limit: Some(8),
};

/// `level2` products one simulated connection accepts (venues.md §12: about 16 work, 32
/// are refused).
pub const SIM_L2_LIMIT: usize = 16;

/// The venue's refusal of a connection's 17th+ `level2` product (venues.md §12).
pub const TOO_MANY_L2: &str = "too many L2 streams requested in a single session";

const L2: u8 = 1;
const TRADES: u8 = 2;
const TICKER: u8 = 4;
const SNAP_L2: u8 = 0;
const SNAP_TICKER: u8 = 1;
/// Fraction digits of prices and sizes.
const DECIMALS: u8 = 6;
/// Far asks of the `deep` padding start here (1,000,000.000000): above every tape price.
const FAR_ASK: u64 = 1_000_000_000_000;

fn build(c: &SimVenueConfig) -> Result<Arc<dyn SimVenue>, VenueError> {
    let model = Model::build(
        c,
        spec,
        // One id a diff; the venue's own numbering is the connection's `sequence_num`.
        IdRule {
            base: 1,
            base_spread: 1,
            skip: None,
            span: (1, 1),
        },
        &CoinbaseText,
    )?;
    Ok(Arc::new(CoinbaseSim {
        model: Arc::new(model),
    }))
}

/// A product's formats: prices and sizes with six fraction digits, a tick of 0.0001; the
/// start price from the name (a few known products, else 1 to 1000).
fn spec(name: &str) -> Result<SymbolSpec, VenueError> {
    let upper = name.to_ascii_uppercase();
    if !(3..=32).contains(&upper.len()) || !super::valid_product(&upper) {
        return Err(VenueError::BadSymbol);
    }
    let start = match upper.as_str() {
        "BTC-USD" => 68_900_000_000,
        "ETH-USD" => 2_650_000_000,
        "SOL-USD" => 142_000_000,
        _ => {
            let h = upper.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
            });
            1_000_000 * (1 + h % 1000)
        }
    };
    Ok(SymbolSpec {
        name: upper,
        price_decimals: DECIMALS,
        tick: 100,
        qty_decimals: DECIMALS,
        lot: 1_000,
        start_price: start,
    })
}

/// Coinbase's step bodies: `updates` entries (depth), `"price","size"` (trade),
/// `"best_bid",..` (ticker).
#[derive(Clone, Copy, Debug)]
pub struct CoinbaseText;

fn push_update(out: &mut Vec<u8>, side: BookSide, price: u64, qty: u64) {
    out.extend_from_slice(match side {
        BookSide::Bid => b"{\"side\":\"bid\"",
        BookSide::Ask => b"{\"side\":\"offer\"",
    });
    out.extend_from_slice(b",\"event_time\":\"2026-01-01T00:00:00Z\",\"price_level\":\"");
    push_fixed(out, price, DECIMALS);
    out.extend_from_slice(b"\",\"new_quantity\":\"");
    push_fixed(out, qty, DECIMALS);
    out.extend_from_slice(b"\"}");
}

impl TapeText for CoinbaseText {
    fn depth(&self, out: &mut Vec<u8>, _spec: &SymbolSpec, changes: &[Change], _book: &Book) {
        for (i, c) in changes.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            push_update(out, c.side, c.price, c.qty);
        }
    }

    fn trade(&self, out: &mut Vec<u8>, _spec: &SymbolSpec, price: u64, qty: u64, _maker: bool) {
        out.extend_from_slice(b"\"price\":\"");
        push_fixed(out, price, DECIMALS);
        out.extend_from_slice(b"\",\"size\":\"");
        push_fixed(out, qty, DECIMALS);
        out.push(b'"');
    }

    fn ticker(&self, out: &mut Vec<u8>, _spec: &SymbolSpec, bid: Level, ask: Level) {
        for (key, v) in [
            (&b"\"best_bid\":\""[..], bid.0),
            (b",\"best_bid_quantity\":\"", bid.1),
            (b",\"best_ask\":\"", ask.0),
            (b",\"best_ask_quantity\":\"", ask.1),
        ] {
            out.extend_from_slice(key);
            push_fixed(out, v, DECIMALS);
            out.push(b'"');
        }
    }
}

/// Appends `ns` since the epoch as RFC 3339 UTC with microseconds
/// (`2026-04-07T14:30:00.123456Z`). No allocation.
pub fn push_rfc3339(out: &mut Vec<u8>, ns: u64) {
    let secs = ns / 1_000_000_000;
    let micros = (ns % 1_000_000_000) / 1_000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let two = |out: &mut Vec<u8>, v: u64, sep: u8| {
        out.push(b'0' + (v / 10) as u8);
        out.push(b'0' + (v % 10) as u8);
        out.push(sep);
    };
    push_u64(out, year as u64);
    out.push(b'-');
    two(out, month as u64, b'-');
    two(out, day as u64, b'T');
    two(out, rem / 3600, b':');
    two(out, rem % 3600 / 60, b':');
    let s = rem % 60;
    out.push(b'0' + (s / 10) as u8);
    out.push(b'0' + (s % 10) as u8);
    out.push(b'.');
    let mut div = 100_000;
    while div > 0 {
        out.push(b'0' + (micros / div % 10) as u8);
        div /= 10;
    }
    out.push(b'Z');
}

/// A Coinbase venue served by the simulator.
#[derive(Debug, Clone)]
pub struct CoinbaseSim {
    model: Arc<Model>,
}

impl SimVenue for CoinbaseSim {
    fn name(&self) -> &'static str {
        "coinbase"
    }

    fn model(&self) -> &Model {
        &self.model
    }

    fn defaults(&self) -> SessionDefaults {
        DEFAULTS
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    /// Any path (the venue serves `/`); `?deep=N` pads each snapshot with `N` static far
    /// levels a side, `?l2_limit=N` sets the `level2` product limit.
    fn new_feed(
        &self,
        req: &FeedRequest<'_>,
        start_event: u64,
    ) -> Result<Box<dyn SimFeed>, HttpAnswer> {
        let num = |key: &str, default: usize| -> Result<usize, HttpAnswer> {
            match query_param(req.query, key) {
                None => Ok(default),
                Some(v) => v.parse().map_err(|_| {
                    let body = format!("{{\"type\":\"error\",\"message\":\"bad {key}\"}}");
                    ("400 Bad Request", body.into_bytes())
                }),
            }
        };
        let deep = num("deep", 0)?.min(1_000_000);
        let l2_limit = num("l2_limit", SIM_L2_LIMIT)?;
        Ok(Box::new(Feed::new(
            self.model.clone(),
            start_event,
            deep as u64,
            l2_limit,
        )))
    }

    /// Coinbase's books come in-band: no REST routes.
    fn rest(&self, _: &str, _: &str, _: &str, _: u64, _: u64) -> Option<HttpAnswer> {
        None
    }
}

/// One Coinbase connection of the simulator.
#[derive(Debug)]
pub struct Feed {
    model: Arc<Model>,
    /// Channel bits per product.
    subs: Vec<u8>,
    heartbeats: bool,
    /// The next `sequence_num` (one counter for the whole connection).
    seq: u64,
    /// When the next heartbeat is due (send time, ns; 0: at the next message).
    next_heartbeat_ns: u64,
    heartbeat_counter: u64,
    deep: u64,
    l2_limit: usize,
    snapshots: SnapshotQueue,
    faults: ContentFaults,
    cursor: u64,
}

impl Feed {
    fn new(model: Arc<Model>, start_event: u64, deep: u64, l2_limit: usize) -> Feed {
        let n = model.symbol_count();
        Feed {
            model,
            subs: vec![0; n],
            heartbeats: false,
            seq: 0,
            next_heartbeat_ns: 0,
            heartbeat_counter: 0,
            deep,
            l2_limit,
            snapshots: SnapshotQueue::new(2 * n + 8),
            faults: ContentFaults::default(),
            cursor: start_event,
        }
    }

    /// The envelope up to `"events":` for `channel`, taking the next sequence number.
    fn open(&mut self, out: &mut Vec<u8>, channel: &[u8], now_ns: u64) {
        out.extend_from_slice(b"{\"channel\":\"");
        out.extend_from_slice(channel);
        out.extend_from_slice(b"\",\"client_id\":\"\",\"timestamp\":\"");
        push_rfc3339(out, now_ns);
        out.extend_from_slice(b"\",\"sequence_num\":");
        push_u64(out, self.seq);
        self.seq += 1;
        out.extend_from_slice(b",\"events\":[");
    }

    fn product(&self, name: &str) -> Option<usize> {
        (0..self.model.symbol_count()).find(|&i| self.model.spec(i).name == name)
    }

    /// The whole book of `sym` now, with the `deep` padding, as an `l2_data` snapshot.
    fn render_snapshot(&mut self, sym: usize, now_ns: u64, out: &mut Vec<u8>) {
        let book = self.model.book_at(sym, self.cursor);
        self.open(out, b"l2_data", now_ns);
        out.extend_from_slice(b"{\"type\":\"snapshot\",\"product_id\":\"");
        out.extend_from_slice(self.model.spec(sym).name.as_bytes());
        out.extend_from_slice(b"\",\"updates\":[");
        let mut first = true;
        let mut sep = |out: &mut Vec<u8>| {
            if !first {
                out.push(b',');
            }
            first = false;
        };
        for side in [BookSide::Bid, BookSide::Ask] {
            for (p, q) in book.levels(side) {
                sep(out);
                push_update(out, side, p, q);
            }
        }
        for k in 1..=self.deep {
            sep(out);
            push_update(out, BookSide::Bid, k, 1_000_000);
            sep(out);
            push_update(out, BookSide::Ask, FAR_ASK + k, 1_000_000);
        }
        out.extend_from_slice(b"]}]}");
    }

    fn render_ticker(
        &mut self,
        sym: usize,
        typ: &[u8],
        body: &[u8],
        now_ns: u64,
        out: &mut Vec<u8>,
    ) {
        self.open(out, b"ticker", now_ns);
        out.extend_from_slice(b"{\"type\":\"");
        out.extend_from_slice(typ);
        out.extend_from_slice(b"\",\"tickers\":[{\"type\":\"ticker\",\"product_id\":\"");
        out.extend_from_slice(self.model.spec(sym).name.as_bytes());
        out.extend_from_slice(b"\",\"price\":\"1\",\"volume_24_h\":\"0\",");
        out.extend_from_slice(body);
        out.extend_from_slice(b"}]}]}");
    }

    /// The `subscriptions` answer: every channel and its products now.
    fn render_subscriptions(&mut self, out: &mut Vec<u8>, now_ns: u64) {
        self.open(out, b"subscriptions", now_ns);
        out.extend_from_slice(b"{\"subscriptions\":{");
        let mut any = false;
        for (bit, name) in [
            (L2, "level2"),
            (TRADES, "market_trades"),
            (TICKER, "ticker"),
        ] {
            let products: Vec<&str> = (0..self.model.symbol_count())
                .filter(|&i| self.subs[i] & bit != 0)
                .map(|i| self.model.spec(i).name.as_str())
                .collect();
            if products.is_empty() {
                continue;
            }
            if any {
                out.push(b',');
            }
            any = true;
            out.extend_from_slice(
                format!("\"{name}\":[\"{}\"]", products.join("\",\"")).as_bytes(),
            );
        }
        if self.heartbeats {
            if any {
                out.push(b',');
            }
            out.extend_from_slice(b"\"heartbeats\":[\"heartbeats\"]");
        }
        out.extend_from_slice(b"}}]}");
    }
}

fn error(out: &mut Vec<u8>, message: &str) {
    out.extend_from_slice(format!("{{\"type\":\"error\",\"message\":\"{message}\"}}").as_bytes());
}

impl SimFeed for Feed {
    fn has_subscriptions(&self) -> bool {
        self.heartbeats || self.subs.iter().any(|&m| m != 0)
    }

    fn cursor(&self) -> u64 {
        self.cursor
    }

    fn skip_to(&mut self, event: u64) {
        if event > self.cursor {
            self.cursor = event;
        }
    }

    fn next_message(&mut self, until: u64, now_ns: u64, out: &mut Vec<u8>) -> bool {
        let start = out.len();
        let sent = self.next_inner(until, now_ns, out);
        if sent && self.faults.fire(SimFault::Malformed) {
            out.truncate(start + (out.len() - start) / 2);
        }
        sent
    }

    fn handle_control(&mut self, text: &mut [u8], out: &mut Vec<u8>) -> ControlOutcome {
        use simd_json::prelude::*;
        let Ok(v) = simd_json::to_owned_value(text) else {
            error(out, "failed to parse request");
            return ControlOutcome::Rejected;
        };
        let op = v.get_str("type").unwrap_or("").to_owned();
        let channel = v.get_str("channel").unwrap_or("").to_owned();
        let subscribe = match op.as_str() {
            "subscribe" => true,
            "unsubscribe" => false,
            _ => {
                error(out, "unknown message type");
                return ControlOutcome::Rejected;
            }
        };
        let now = tickwire_engine::clock::now_ns();
        if channel == "heartbeats" {
            self.heartbeats = subscribe;
            self.render_subscriptions(out, now);
            return if subscribe {
                ControlOutcome::Subscribed
            } else {
                ControlOutcome::Unsubscribed
            };
        }
        let bit = match channel.as_str() {
            "level2" => L2,
            "market_trades" => TRADES,
            "ticker" => TICKER,
            _ => {
                error(out, "Failed to subscribe: unknown channel");
                return ControlOutcome::Rejected;
            }
        };
        let names: Vec<String> = v
            .get_array("product_ids")
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let mut syms = Vec::with_capacity(names.len());
        for n in &names {
            match self.product(n) {
                Some(i) => syms.push(i),
                None => {
                    error(out, &format!("Failed to subscribe: unknown product {n}"));
                    return ControlOutcome::Rejected;
                }
            }
        }
        if !subscribe && syms.is_empty() {
            // Empty `product_ids` unsubscribes the whole channel.
            syms = (0..self.subs.len()).collect();
        }
        if subscribe && bit == L2 {
            let mut after: Vec<usize> = (0..self.subs.len())
                .filter(|&i| self.subs[i] & L2 != 0)
                .collect();
            after.extend(syms.iter().copied());
            after.sort_unstable();
            after.dedup();
            if after.len() > self.l2_limit {
                error(out, TOO_MANY_L2);
                return ControlOutcome::Rejected;
            }
        }
        for &i in &syms {
            if subscribe {
                self.subs[i] |= bit;
                match bit {
                    L2 => {
                        self.snapshots.cancel(i, SNAP_L2);
                        self.snapshots.push(i, SNAP_L2);
                    }
                    TICKER => {
                        self.snapshots.cancel(i, SNAP_TICKER);
                        self.snapshots.push(i, SNAP_TICKER);
                    }
                    _ => {}
                }
            } else {
                self.subs[i] &= !bit;
                self.snapshots
                    .cancel(i, if bit == L2 { SNAP_L2 } else { SNAP_TICKER });
            }
        }
        self.render_subscriptions(out, now);
        if subscribe {
            ControlOutcome::Subscribed
        } else {
            ControlOutcome::Unsubscribed
        }
    }

    /// Gaps (an update lost, its number skipped) and malformed messages; Coinbase sends no
    /// checksum and announces no resets.
    fn inject(&mut self, fault: SimFault) -> bool {
        if matches!(fault, SimFault::Checksum | SimFault::Reset) {
            return false;
        }
        self.faults.arm(fault);
        true
    }

    fn faults_made(&self) -> FaultCounts {
        self.faults.made()
    }
}

impl Feed {
    fn next_inner(&mut self, until: u64, now_ns: u64, out: &mut Vec<u8>) -> bool {
        if self.heartbeats && now_ns >= self.next_heartbeat_ns {
            self.next_heartbeat_ns = now_ns.saturating_add(1_000_000_000);
            self.open(out, b"heartbeats", now_ns);
            out.extend_from_slice(b"{\"current_time\":\"");
            push_rfc3339(out, now_ns);
            out.extend_from_slice(b"\",\"heartbeat_counter\":");
            push_u64(out, self.heartbeat_counter);
            self.heartbeat_counter += 1;
            out.extend_from_slice(b"}]}");
            return true;
        }
        if let Some((sym, tag)) = self.snapshots.pop() {
            if tag == SNAP_L2 {
                self.render_snapshot(sym, now_ns, out);
            } else {
                let book = self.model.book_at(sym, self.cursor);
                let (Some(bid), Some(ask)) = (book.best_bid(), book.best_ask()) else {
                    return self.next_inner(until, now_ns, out);
                };
                let mut body = Vec::with_capacity(160);
                CoinbaseText.ticker(&mut body, self.model.spec(sym), bid, ask);
                self.render_ticker(sym, b"snapshot", &body, now_ns, out);
            }
            return true;
        }
        loop {
            if self.cursor >= until {
                return false;
            }
            let n = self.cursor;
            self.cursor += 1;
            let (sym, pos) = self.model.locate(n);
            let model = self.model.clone();
            let tape = model.tape(sym);
            let step = tape.step(pos);
            let bit = self.subs[sym]
                & match step.kind {
                    StepKind::Depth => L2,
                    StepKind::Trade => TRADES,
                    StepKind::Ticker => TICKER,
                };
            match bit {
                0 => continue,
                L2 => {
                    if self.faults.fire(SimFault::Gap) {
                        // Lost on the way: its number is used, nobody sees it.
                        self.seq += 1;
                        continue;
                    }
                    self.open(out, b"l2_data", now_ns);
                    out.extend_from_slice(b"{\"type\":\"update\",\"product_id\":\"");
                    out.extend_from_slice(tape.spec.name.as_bytes());
                    out.extend_from_slice(b"\",\"updates\":[");
                    out.extend_from_slice(tape.text(step));
                    out.extend_from_slice(b"]}]}");
                }
                TRADES => {
                    let id = tape.base_trade_id + tape.trades_before(pos);
                    self.open(out, b"market_trades", now_ns);
                    out.extend_from_slice(b"{\"type\":\"update\",\"trades\":[{\"trade_id\":\"");
                    push_u64(out, id);
                    out.extend_from_slice(b"\",\"product_id\":\"");
                    out.extend_from_slice(tape.spec.name.as_bytes());
                    out.extend_from_slice(b"\",");
                    out.extend_from_slice(tape.text(step));
                    // The maker's side: a buyer maker is a "BUY" (the seller took).
                    out.extend_from_slice(if step.maker {
                        b",\"side\":\"BUY\",\"time\":\""
                    } else {
                        b",\"side\":\"SELL\",\"time\":\""
                    });
                    push_rfc3339(out, now_ns);
                    out.extend_from_slice(b"\"}]}]}");
                }
                _ => {
                    self.render_ticker(sym, b"update", tape.text(step), now_ns, out);
                }
            }
            return true;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use tickwire_engine::adapter::Frame;
    use tickwire_engine::{Decimal, Event, Registry, Side};

    use super::*;
    use crate::binance::Symbols;
    use crate::coinbase::{Decoder, TradeSide, rfc3339_ns};

    fn venue() -> Arc<dyn SimVenue> {
        let c = SimVenueConfig {
            symbols: vec!["BTC-USD".into(), "SOL-USD".into()],
            ..SimVenueConfig::default()
        };
        build(&c).unwrap()
    }

    fn feed(v: &Arc<dyn SimVenue>, query: &str) -> Box<dyn SimFeed> {
        let req = FeedRequest {
            path: "/",
            query,
            probe: false,
        };
        v.new_feed(&req, 0).unwrap()
    }

    fn control(f: &mut dyn SimFeed, text: &str) -> (ControlOutcome, String) {
        let mut t = text.as_bytes().to_vec();
        let mut out = Vec::new();
        let o = f.handle_control(&mut t, &mut out);
        (o, String::from_utf8(out).unwrap())
    }

    fn decoder() -> Decoder {
        Decoder::new(
            Symbols::interning("coinbase", Registry::new()),
            TradeSide::Maker,
        )
    }

    #[test]
    fn rfc3339_rendering_reads_back() {
        for ns in [
            0u64,
            1_775_572_200_123_456_000,
            951_782_400_000_001_000,
            4_102_444_799_999_999_000,
        ] {
            let mut out = Vec::new();
            push_rfc3339(&mut out, ns);
            assert_eq!(
                rfc3339_ns(&out),
                Ok(ns),
                "{}",
                String::from_utf8_lossy(&out)
            );
        }
        let mut out = Vec::new();
        push_rfc3339(&mut out, 1_775_572_200_123_456_000);
        assert_eq!(out, b"2026-04-07T14:30:00.123456Z");
    }

    #[test]
    fn the_level2_limit_refuses_like_the_venue() {
        let names: Vec<String> = (0..20).map(|i| format!("P{i}-USD")).collect();
        let c = SimVenueConfig {
            symbols: names.clone(),
            tape_len: 64,
            ..SimVenueConfig::default()
        };
        let v = build(&c).unwrap();
        let mut f = feed(&v, "");
        let list = |n: &[String]| {
            n.iter()
                .map(|s| format!("\"{s}\""))
                .collect::<Vec<_>>()
                .join(",")
        };
        let (o, _) = control(
            &mut *f,
            &format!(
                r#"{{"type":"subscribe","product_ids":[{}],"channel":"level2"}}"#,
                list(&names[..16])
            ),
        );
        assert_eq!(o, ControlOutcome::Subscribed);
        let (o, r) = control(
            &mut *f,
            &format!(
                r#"{{"type":"subscribe","product_ids":[{}],"channel":"level2"}}"#,
                list(&names[16..17])
            ),
        );
        assert_eq!(o, ControlOutcome::Rejected);
        assert!(r.contains(TOO_MANY_L2), "{r}");
        let mut d = decoder();
        assert_eq!(
            d.decode(r.as_bytes(), 0, &mut Vec::new()),
            Ok(Frame::SubscriptionError { id: None, code: 0 })
        );
        // Trades of the 17th are fine: the limit is on books.
        let (o, _) = control(
            &mut *f,
            &format!(
                r#"{{"type":"subscribe","product_ids":[{}],"channel":"market_trades"}}"#,
                list(&names[16..])
            ),
        );
        assert_eq!(o, ControlOutcome::Subscribed);
        // A lower limit by query.
        let mut f = feed(&v, "l2_limit=2");
        let (o, _) = control(
            &mut *f,
            &format!(
                r#"{{"type":"subscribe","product_ids":[{}],"channel":"level2"}}"#,
                list(&names[..3])
            ),
        );
        assert_eq!(o, ControlOutcome::Rejected);
        assert!(!f.inject(SimFault::Checksum));
        assert!(!f.inject(SimFault::Reset));
    }

    /// The stream a subscribe starts: one `sequence_num` counter across every channel (a
    /// gap skips exactly one number and loses that update), heartbeats, a snapshot first;
    /// the book rebuilt from the messages equals the model's at the end (after a second
    /// snapshot that heals the gap).
    #[test]
    fn one_counter_for_the_connection_and_the_book_matches_the_model() {
        let v = venue();
        let mut f = feed(&v, "");
        let mut d = decoder();
        let mut seqs = Vec::new();
        let mut replies = Vec::new();
        for req in [
            r#"{"type":"subscribe","channel":"heartbeats"}"#,
            r#"{"type":"subscribe","product_ids":["SOL-USD"],"channel":"level2"}"#,
            r#"{"type":"subscribe","product_ids":["SOL-USD","BTC-USD"],"channel":"market_trades"}"#,
            r#"{"type":"subscribe","product_ids":["BTC-USD"],"channel":"ticker"}"#,
        ] {
            let (o, r) = control(&mut *f, req);
            assert_eq!(o, ControlOutcome::Subscribed);
            replies.push(r);
        }
        for r in &replies {
            assert_eq!(
                d.decode(r.as_bytes(), 0, &mut Vec::new()),
                Ok(Frame::Ack { id: 0 })
            );
            seqs.push(d.take_sequence().unwrap());
        }
        let mut book: BTreeMap<(bool, Decimal), Decimal> = BTreeMap::new();
        let (mut snapshots, mut heartbeats, mut trades, mut bbos) = (0, 0, 0, 0);
        let mut out = Vec::new();
        let mut n = 0u64;
        let t0 = 1_775_572_200_000_000_000u64;
        while f.next_message(4000, t0 + n * 10_000_000, &mut out) {
            n += 1;
            if n == 300 {
                assert!(f.inject(SimFault::Gap));
            }
            let mut events: Vec<Event> = Vec::new();
            let frame = d.decode(&out, 0, &mut events).unwrap();
            seqs.push(d.take_sequence().unwrap());
            out.clear();
            match frame {
                Frame::BookSnapshot { ids, .. } => {
                    snapshots += 1;
                    assert_eq!(ids.last, *seqs.last().unwrap());
                    book.clear();
                    for e in &events {
                        let l = e.as_level().unwrap();
                        book.insert((l.side == Side::Buy, l.price), l.qty);
                    }
                }
                Frame::BookDiff { .. } => {
                    assert!(snapshots > 0, "a snapshot came first");
                    for e in &events {
                        let l = e.as_level().unwrap();
                        let k = (l.side == Side::Buy, l.price);
                        if l.qty.is_zero() {
                            book.remove(&k);
                        } else {
                            book.insert(k, l.qty);
                        }
                    }
                }
                Frame::Market => {
                    for e in &events {
                        if e.as_trade().is_some() {
                            trades += 1;
                        } else {
                            assert!(e.as_bbo().is_some());
                            bbos += 1;
                        }
                    }
                }
                Frame::Control => heartbeats += 1,
                other => panic!("{other:?}"),
            }
            if n == 600 {
                // The gap's repair: resubscribe, a fresh snapshot.
                let (o, r) = control(
                    &mut *f,
                    r#"{"type":"unsubscribe","product_ids":["SOL-USD"],"channel":"level2"}"#,
                );
                assert_eq!(o, ControlOutcome::Unsubscribed);
                d.decode(r.as_bytes(), 0, &mut Vec::new()).unwrap();
                seqs.push(d.take_sequence().unwrap());
                let (_, r) = control(
                    &mut *f,
                    r#"{"type":"subscribe","product_ids":["SOL-USD"],"channel":"level2"}"#,
                );
                d.decode(r.as_bytes(), 0, &mut Vec::new()).unwrap();
                seqs.push(d.take_sequence().unwrap());
            }
        }
        let skipped: Vec<_> = seqs.windows(2).filter(|w| w[1] != w[0] + 1).collect();
        assert!(skipped.iter().all(|w| w[1] == w[0] + 2), "{skipped:?}");
        assert_eq!(skipped.len(), 1, "one number skipped: {skipped:?}");
        assert_eq!(seqs[0], 0);
        assert_eq!(f.faults_made().gaps, 1);
        assert_eq!(snapshots, 2);
        // One a second of send time: messages go out 10 ms apart.
        assert!(
            (n / 100..=n / 100 + 1).contains(&heartbeats),
            "{heartbeats} in {n}"
        );
        assert!(trades > 10 && bbos > 10, "{trades} trades, {bbos} BBOs");
        let sym = v.symbol_index("SOL-USD").unwrap();
        let model = v.book_at(sym, f.cursor());
        let dec = |x: u64| Decimal::from_parts(x as i64, DECIMALS);
        let mut want = BTreeMap::new();
        for (bid, side) in [(true, BookSide::Bid), (false, BookSide::Ask)] {
            for (p, q) in model.levels(side) {
                want.insert((bid, dec(p)), dec(q));
            }
        }
        assert_eq!(book, want);
    }

    #[test]
    fn a_deep_snapshot_is_megabytes_and_decodes_whole() {
        let v = venue();
        let mut f = feed(&v, "deep=40000");
        control(
            &mut *f,
            r#"{"type":"subscribe","product_ids":["BTC-USD"],"channel":"level2"}"#,
        );
        let mut out = Vec::new();
        assert!(f.next_message(1, 1_775_572_200_000_000_000, &mut out));
        assert!(out.len() > 8 << 20, "{} bytes", out.len());
        let mut d = decoder();
        let mut events = Vec::new();
        let frame = d.decode(&out, 0, &mut events).unwrap();
        assert!(matches!(frame, Frame::BookSnapshot { .. }));
        let book = v.book_at(v.symbol_index("BTC-USD").unwrap(), f.cursor());
        let tape_levels = book.len(BookSide::Bid) + book.len(BookSide::Ask);
        assert_eq!(events.len(), tape_levels + 80_000);
        // A cut message is malformed, and the next one still reads.
        assert!(f.inject(SimFault::Malformed));
        control(
            &mut *f,
            r#"{"type":"subscribe","product_ids":["BTC-USD"],"channel":"level2"}"#,
        );
        out.clear();
        assert!(f.next_message(1, 1_775_572_200_000_000_000, &mut out));
        assert!(d.decode(&out, 0, &mut Vec::new()).is_err());
        assert_eq!(f.faults_made().malformed, 1);
    }
}
