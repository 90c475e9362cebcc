//! Bybit v5 public spot and linear in the simulator, on the venue-neutral core of
//! [`crate::sim`]: Bybit's message shapes (venues.md §5: spot puts `ts` before `type`), its
//! control protocol (`{"req_id","op":"subscribe"|"unsubscribe"|"ping","args":[..]}` with
//! `success`/`ret_msg` replies, spot at most 10 args a request), a snapshot after every
//! book or ticker subscribe, `u` numbering one id per diff, and the content faults `gap`
//! (a delta skipped: the `u` chain breaks), `malformed` (a message cut in half) and `reset`
//! (the next delta is the whole book with `u == 1`, and the chain goes on from there).
//!
//! Simplifications, said here so tests do not rely on them: every `orderbook.{N}` topic
//! carries the model's whole book (at most 300 levels a side) rather than an N-level
//! window; `orderbook.1` is pushed at the tape's top-of-book steps (not every 10 ms), as a
//! snapshot with the current `u`; linear ticker deltas carry all four BBO fields plus a
//! field the adapter must skip.

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use super::Market;
use crate::binance::sim::Market as BinanceMarket;
use crate::sim::tape::{Change, StepKind, TapeText};
use crate::sim::{
    Book, BookSide, ContentFaults, ControlOutcome, FaultCounts, FeedRequest, HttpAnswer, Level,
    Model, SessionDefaults, SimFault, SimFeed, SimVenue, SimVenueConfig, SimVenueEntry,
    SnapshotQueue, SymbolSpec, VenueError, push_fixed, push_u64,
};

/// Bybit spot in the simulator registry: the server's WebSocket pings every 20 s are
/// answered by the engine; Bybit cuts a connection after about 10 minutes without pings.
pub const SPOT_SIM: SimVenueEntry = SimVenueEntry {
    name: "bybit",
    aliases: &["bybit-spot"],
    defaults: DEFAULTS,
    build: |c| build(Market::Spot, c),
};

/// Bybit linear in the simulator registry.
pub const LINEAR_SIM: SimVenueEntry = SimVenueEntry {
    name: "bybit-linear",
    aliases: &[],
    defaults: DEFAULTS,
    build: |c| build(Market::Linear, c),
};

const DEFAULTS: SessionDefaults = SessionDefaults {
    ping_interval: Duration::from_secs(20),
    pong_timeout: Duration::from_secs(600),
    inbound_limit: None,
};

/// Channel bits per symbol.
const BOOK: u8 = 1;
const BOOK1: u8 = 2;
const TRADE: u8 = 4;
const TICKER: u8 = 8;
/// Snapshot tags in the queue.
const SNAP_BOOK: u8 = 0;
const SNAP_TICKER: u8 = 1;

fn build(market: Market, c: &SimVenueConfig) -> Result<Arc<dyn SimVenue>, VenueError> {
    let spec_market = match market {
        Market::Spot => BinanceMarket::Spot,
        Market::Linear => BinanceMarket::UsdM,
    };
    let model = Model::build(
        c,
        |name| SymbolSpec::for_market(spec_market, name),
        crate::sim::tape::IdRule {
            base: 10_000_000,
            base_spread: 1_000_000,
            skip: None,
            span: (1, 1),
        },
        &BybitText,
    )?;
    Ok(Arc::new(BybitSim {
        market,
        model: Arc::new(model),
    }))
}

/// Bybit's step bodies: `"b":[..],"a":[..]` (depth), `"p":"..","v":".."` (trade),
/// `"bid1Price":..` (ticker).
#[derive(Clone, Copy, Debug)]
pub struct BybitText;

fn push_level(out: &mut Vec<u8>, spec: &SymbolSpec, (price, qty): Level) {
    out.extend_from_slice(b"[\"");
    push_fixed(out, price, spec.price_decimals);
    out.extend_from_slice(b"\",\"");
    push_fixed(out, qty, spec.qty_decimals);
    out.extend_from_slice(b"\"]");
}

impl TapeText for BybitText {
    fn depth(&self, out: &mut Vec<u8>, spec: &SymbolSpec, changes: &[Change], _book: &Book) {
        for (side, key) in [
            (BookSide::Bid, &b"\"b\":["[..]),
            (BookSide::Ask, b",\"a\":["),
        ] {
            out.extend_from_slice(key);
            let mut first = true;
            for c in changes.iter().filter(|c| c.side == side) {
                if !first {
                    out.push(b',');
                }
                first = false;
                push_level(out, spec, (c.price, c.qty));
            }
            out.push(b']');
        }
    }

    fn trade(&self, out: &mut Vec<u8>, spec: &SymbolSpec, price: u64, qty: u64, _maker: bool) {
        out.extend_from_slice(b"\"p\":\"");
        push_fixed(out, price, spec.price_decimals);
        out.extend_from_slice(b"\",\"v\":\"");
        push_fixed(out, qty, spec.qty_decimals);
        out.push(b'"');
    }

    fn ticker(&self, out: &mut Vec<u8>, spec: &SymbolSpec, bid: Level, ask: Level) {
        let d = (spec.price_decimals, spec.qty_decimals);
        for (key, v, dec) in [
            (&b"\"bid1Price\":\""[..], bid.0, d.0),
            (b",\"bid1Size\":\"", bid.1, d.1),
            (b",\"ask1Price\":\"", ask.0, d.0),
            (b",\"ask1Size\":\"", ask.1, d.1),
        ] {
            out.extend_from_slice(key);
            push_fixed(out, v, dec);
            out.push(b'"');
        }
    }
}

/// A Bybit venue served by the simulator.
#[derive(Debug, Clone)]
pub struct BybitSim {
    market: Market,
    model: Arc<Model>,
}

impl SimVenue for BybitSim {
    fn name(&self) -> &'static str {
        self.market.venue()
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

    /// `/v5/public/spot` or `/v5/public/linear` (the market's path).
    fn new_feed(
        &self,
        req: &FeedRequest<'_>,
        start_event: u64,
    ) -> Result<Box<dyn SimFeed>, HttpAnswer> {
        if req.path.trim_end_matches('/') != self.market.path() {
            let body = format!(
                "{{\"success\":false,\"ret_msg\":\"no such path; this simulator serves {}\"}}",
                self.market.path()
            );
            return Err(("404 Not Found", body.into_bytes()));
        }
        Ok(Box::new(Feed::new(
            self.market,
            self.model.clone(),
            start_event,
        )))
    }

    /// Bybit's books come in-band: no REST routes.
    fn rest(&self, _: &str, _: &str, _: &str, _: u64, _: u64) -> Option<HttpAnswer> {
        None
    }
}

/// One Bybit connection of the simulator.
#[derive(Debug)]
pub struct Feed {
    market: Market,
    model: Arc<Model>,
    /// Channel bits per symbol.
    subs: Vec<u8>,
    /// Book depth per symbol as subscribed (the topic's N).
    depth: Vec<u16>,
    snapshots: SnapshotQueue,
    faults: ContentFaults,
    /// Per symbol: ids to take off the tape's `u` after a reset (the chain restarts at 1).
    reset_offset: Vec<u64>,
    cursor: u64,
    /// Messages still to send for event `current` (channel bits).
    pending: u8,
    current: u64,
}

impl Feed {
    fn new(market: Market, model: Arc<Model>, start_event: u64) -> Feed {
        let n = model.symbol_count();
        Feed {
            market,
            model,
            subs: vec![0; n],
            depth: vec![0; n],
            snapshots: SnapshotQueue::new(4 * n + 8),
            faults: ContentFaults::default(),
            reset_offset: vec![0; n],
            cursor: start_event,
            pending: 0,
            current: start_event,
        }
    }

    fn u(&self, sym: usize, tape_u: u64) -> u64 {
        tape_u - self.reset_offset[sym]
    }

    /// Opens a message: `{"topic":"<prefix><SYM>"` plus `type` and `ts` in the market's
    /// order (spot: `ts` first).
    fn open(&self, out: &mut Vec<u8>, prefix: &[u8], sym: usize, typ: &[u8], ts_ms: u64) {
        out.extend_from_slice(b"{\"topic\":\"");
        out.extend_from_slice(prefix);
        out.extend_from_slice(self.model.spec(sym).name.as_bytes());
        out.push(b'"');
        if self.market == Market::Spot {
            out.extend_from_slice(b",\"ts\":");
            push_u64(out, ts_ms);
            out.extend_from_slice(b",\"type\":\"");
            out.extend_from_slice(typ);
            out.push(b'"');
        } else {
            out.extend_from_slice(b",\"type\":\"");
            out.extend_from_slice(typ);
            out.extend_from_slice(b"\",\"ts\":");
            push_u64(out, ts_ms);
        }
    }

    fn book_prefix(&self, sym: usize, out: &mut Vec<u8>) {
        out.extend_from_slice(b"orderbook.");
        push_u64(out, u64::from(self.depth[sym].max(1)));
        out.push(b'.');
    }

    /// A whole book message (a snapshot, or with `typ` `delta` and `u == 1` a reset).
    fn render_book(&self, sym: usize, typ: &[u8], u: u64, ts_ms: u64, out: &mut Vec<u8>) {
        let book = self.model.book_at(sym, self.cursor);
        let spec = self.model.spec(sym);
        let mut prefix = Vec::with_capacity(16);
        self.book_prefix(sym, &mut prefix);
        self.open(out, &prefix, sym, typ, ts_ms);
        out.extend_from_slice(b",\"data\":{\"s\":\"");
        out.extend_from_slice(spec.name.as_bytes());
        out.push(b'"');
        for (side, key) in [
            (BookSide::Bid, &b",\"b\":["[..]),
            (BookSide::Ask, b"],\"a\":["),
        ] {
            out.extend_from_slice(key);
            for (i, l) in book.levels(side).enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                push_level(out, spec, l);
            }
        }
        out.extend_from_slice(b"],\"u\":");
        push_u64(out, u);
        out.extend_from_slice(b",\"seq\":");
        push_u64(out, u);
        out.extend_from_slice(b"},\"cts\":");
        push_u64(out, ts_ms);
        out.push(b'}');
    }

    fn render_ticker(
        &self,
        sym: usize,
        typ: &[u8],
        body: &[u8],
        seq: u64,
        ts_ms: u64,
        out: &mut Vec<u8>,
    ) {
        let spec = self.model.spec(sym);
        out.extend_from_slice(b"{\"topic\":\"tickers.");
        out.extend_from_slice(spec.name.as_bytes());
        out.extend_from_slice(b"\",\"type\":\"");
        out.extend_from_slice(typ);
        out.extend_from_slice(b"\",\"data\":{\"symbol\":\"");
        out.extend_from_slice(spec.name.as_bytes());
        out.extend_from_slice(b"\",\"markPrice\":\"1\",");
        out.extend_from_slice(body);
        out.extend_from_slice(b"},\"cs\":");
        push_u64(out, seq);
        out.extend_from_slice(b",\"ts\":");
        push_u64(out, ts_ms);
        out.push(b'}');
    }

    /// Parses a topic to (symbol, channel bit, depth).
    fn topic(&self, t: &str) -> Option<(usize, u8, u16)> {
        let (bit, depth, sym) = if let Some(rest) = t.strip_prefix("orderbook.") {
            let (n, sym) = rest.split_once('.')?;
            match n {
                "1" => (BOOK1, 1, sym),
                "50" => (BOOK, 50, sym),
                "200" => (BOOK, 200, sym),
                _ => return None,
            }
        } else if let Some(sym) = t.strip_prefix("publicTrade.") {
            (TRADE, 0, sym)
        } else if let Some(sym) = t.strip_prefix("tickers.") {
            if self.market != Market::Linear {
                return None;
            }
            (TICKER, 0, sym)
        } else {
            return None;
        };
        let i = (0..self.model.symbol_count()).find(|&i| self.model.spec(i).name == sym)?;
        Some((i, bit, depth))
    }
}

/// Appends a reply `{"success":..,"ret_msg":"..","conn_id":"sim","req_id":"..","op":".."}`.
fn reply(out: &mut Vec<u8>, success: bool, msg: &str, req_id: &str, op: &str) {
    out.extend_from_slice(
        format!(
            "{{\"success\":{success},\"ret_msg\":\"{msg}\",\"conn_id\":\"sim\",\"req_id\":\"{req_id}\",\"op\":\"{op}\"}}"
        )
        .as_bytes(),
    );
}

impl SimFeed for Feed {
    fn has_subscriptions(&self) -> bool {
        self.subs.iter().any(|&m| m != 0)
    }

    fn cursor(&self) -> u64 {
        self.cursor
    }

    fn skip_to(&mut self, event: u64) {
        if event > self.cursor {
            self.cursor = event;
            self.pending = 0;
        }
    }

    fn next_message(&mut self, until: u64, now_ns: u64, out: &mut Vec<u8>) -> bool {
        let ts = now_ns / 1_000_000;
        let start = out.len();
        if let Some((sym, tag)) = self.snapshots.pop() {
            let u = self.u(sym, self.model.update_id_at(sym, self.cursor));
            if tag == SNAP_BOOK {
                self.render_book(sym, b"snapshot", u, ts, out);
            } else {
                let book = self.model.book_at(sym, self.cursor);
                let (Some(bid), Some(ask)) = (book.best_bid(), book.best_ask()) else {
                    return true;
                };
                let mut body = Vec::with_capacity(128);
                BybitText.ticker(&mut body, self.model.spec(sym), bid, ask);
                self.render_ticker(sym, b"snapshot", &body, u, ts, out);
            }
            return true;
        }
        while self.pending == 0 {
            if self.cursor >= until {
                return false;
            }
            let n = self.cursor;
            self.cursor += 1;
            let (sym, pos) = self.model.locate(n);
            let mask = self.subs[sym];
            if mask == 0 {
                continue;
            }
            let m = mask
                & match self.model.tape(sym).step(pos).kind {
                    StepKind::Depth => BOOK,
                    StepKind::Trade => TRADE,
                    StepKind::Ticker => BOOK1 | TICKER,
                };
            if m == 0 {
                continue;
            }
            if m & BOOK != 0 && self.faults.fire(SimFault::Gap) {
                continue;
            }
            if m & BOOK != 0 && self.faults.fire(SimFault::Reset) {
                // The service restarted: the whole book as a delta with u == 1.
                // This diff's own id becomes 1 (`update_id_after` is the id before it).
                let (_, tape_u, _) = self.model.tape(sym).depth_ids(pos);
                self.reset_offset[sym] = tape_u - 1;
                // `cursor` is past this event: the book rendered includes its diff.
                self.render_book(sym, b"delta", 1, ts, out);
                return true;
            }
            self.pending = m;
            self.current = n;
        }
        let bit = self.pending & self.pending.wrapping_neg();
        self.pending &= !bit;
        let (sym, pos) = self.model.locate(self.current);
        let tape = self.model.tape(sym);
        let step = tape.step(pos);
        match bit {
            BOOK => {
                let (_, last, _) = tape.depth_ids(pos);
                let u = self.u(sym, last);
                out.extend_from_slice(b"{\"topic\":\"orderbook.");
                push_u64(out, u64::from(self.depth[sym]));
                out.push(b'.');
                out.extend_from_slice(tape.spec.name.as_bytes());
                out.push(b'"');
                if self.market == Market::Spot {
                    out.extend_from_slice(b",\"ts\":");
                    push_u64(out, ts);
                    out.extend_from_slice(b",\"type\":\"delta\"");
                } else {
                    out.extend_from_slice(b",\"type\":\"delta\",\"ts\":");
                    push_u64(out, ts);
                }
                out.extend_from_slice(b",\"data\":{\"s\":\"");
                out.extend_from_slice(tape.spec.name.as_bytes());
                out.extend_from_slice(b"\",");
                out.extend_from_slice(tape.text(step));
                out.extend_from_slice(b",\"u\":");
                push_u64(out, u);
                out.extend_from_slice(b",\"seq\":");
                push_u64(out, last);
                out.extend_from_slice(b"},\"cts\":");
                push_u64(out, ts);
                out.push(b'}');
            }
            BOOK1 => {
                let u = self.u(sym, tape.update_id_after(pos));
                let spec = &tape.spec;
                out.extend_from_slice(b"{\"topic\":\"orderbook.1.");
                out.extend_from_slice(spec.name.as_bytes());
                out.push(b'"');
                if self.market == Market::Spot {
                    out.extend_from_slice(b",\"ts\":");
                    push_u64(out, ts);
                    out.extend_from_slice(b",\"type\":\"snapshot\"");
                } else {
                    out.extend_from_slice(b",\"type\":\"snapshot\",\"ts\":");
                    push_u64(out, ts);
                }
                out.extend_from_slice(b",\"data\":{\"s\":\"");
                out.extend_from_slice(spec.name.as_bytes());
                out.extend_from_slice(b"\",\"b\":[");
                push_level(out, spec, step.top.0);
                out.extend_from_slice(b"],\"a\":[");
                push_level(out, spec, step.top.1);
                out.extend_from_slice(b"],\"u\":");
                push_u64(out, u);
                out.extend_from_slice(b",\"seq\":");
                push_u64(out, u);
                out.extend_from_slice(b"},\"cts\":");
                push_u64(out, ts);
                out.push(b'}');
            }
            TRADE => {
                let id = tape.base_trade_id + tape.trades_before(pos);
                out.extend_from_slice(b"{\"topic\":\"publicTrade.");
                out.extend_from_slice(tape.spec.name.as_bytes());
                out.extend_from_slice(b"\",\"type\":\"snapshot\",\"ts\":");
                push_u64(out, ts);
                out.extend_from_slice(b",\"data\":[{\"T\":");
                push_u64(out, ts);
                out.extend_from_slice(b",\"s\":\"");
                out.extend_from_slice(tape.spec.name.as_bytes());
                // The buyer is the maker: the seller took.
                out.extend_from_slice(if step.maker {
                    b"\",\"S\":\"Sell\","
                } else {
                    b"\",\"S\":\"Buy\","
                });
                out.extend_from_slice(tape.text(step));
                out.extend_from_slice(b",\"L\":\"PlusTick\",\"i\":\"");
                match self.market {
                    Market::Spot => push_u64(out, id),
                    Market::Linear => {
                        // A UUID whose last group is the trade number.
                        out.extend_from_slice(b"9dc75fca-4bdd-4773-9f78-");
                        let hex = format_hex12(id);
                        out.extend_from_slice(&hex);
                    }
                }
                out.extend_from_slice(b"\",\"BT\":false}]}");
            }
            _ => {
                self.render_ticker(
                    sym,
                    b"delta",
                    tape.text(step),
                    tape.update_id_after(pos),
                    ts,
                    out,
                );
            }
        }
        if self.faults.fire(SimFault::Malformed) {
            out.truncate(start + (out.len() - start) / 2);
        }
        true
    }

    fn handle_control(&mut self, text: &mut [u8], out: &mut Vec<u8>) -> ControlOutcome {
        let Ok(v) = simd_json::to_owned_value(text) else {
            reply(out, false, "error:invalid json", "", "");
            return ControlOutcome::Rejected;
        };
        use simd_json::prelude::*;
        let req_id = v.get_str("req_id").unwrap_or("").to_owned();
        let op = v.get_str("op").unwrap_or("").to_owned();
        match op.as_str() {
            "ping" => {
                out.extend_from_slice(
                    format!(
                        "{{\"success\":true,\"ret_msg\":\"pong\",\"conn_id\":\"sim\",\"req_id\":\"{req_id}\",\"op\":\"ping\"}}"
                    )
                    .as_bytes(),
                );
                ControlOutcome::Pong
            }
            "subscribe" | "unsubscribe" => {
                let subscribe = op == "subscribe";
                let args: Vec<String> = v
                    .get_array("args")
                    .map(|a| {
                        a.iter()
                            .filter_map(|x| x.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default();
                if self.market == Market::Spot && args.len() > 10 {
                    reply(out, false, "error:args size >10", &req_id, &op);
                    return ControlOutcome::Rejected;
                }
                let mut parsed = Vec::with_capacity(args.len());
                for a in &args {
                    match self.topic(a) {
                        Some(t) => parsed.push(t),
                        None => {
                            let msg = format!("error:handler not found,topic:{a}");
                            reply(out, false, &msg, &req_id, &op);
                            return ControlOutcome::Rejected;
                        }
                    }
                }
                for (sym, bit, depth) in parsed {
                    if subscribe {
                        self.subs[sym] |= bit;
                        match bit {
                            BOOK => {
                                self.depth[sym] = depth;
                                self.snapshots.push(sym, SNAP_BOOK);
                            }
                            TICKER => {
                                self.snapshots.push(sym, SNAP_TICKER);
                            }
                            _ => {}
                        }
                    } else {
                        self.subs[sym] &= !bit;
                        match bit {
                            BOOK => self.snapshots.cancel(sym, SNAP_BOOK),
                            TICKER => self.snapshots.cancel(sym, SNAP_TICKER),
                            _ => {}
                        }
                    }
                }
                reply(out, true, "", &req_id, &op);
                if subscribe {
                    ControlOutcome::Subscribed
                } else {
                    ControlOutcome::Unsubscribed
                }
            }
            _ => {
                reply(out, false, "error:unknown op", &req_id, &op);
                ControlOutcome::Rejected
            }
        }
    }

    /// Gaps, malformed messages and sequence resets; Bybit sends no checksum.
    fn inject(&mut self, fault: SimFault) -> bool {
        if fault == SimFault::Checksum {
            return false;
        }
        self.faults.arm(fault);
        true
    }

    fn faults_made(&self) -> FaultCounts {
        self.faults.made()
    }
}

fn format_hex12(v: u64) -> [u8; 12] {
    let mut out = [b'0'; 12];
    for (i, o) in out.iter_mut().enumerate() {
        let d = (v >> (4 * (11 - i))) & 0xf;
        *o = b"0123456789abcdef"[d as usize];
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use tickwire_engine::adapter::Frame;
    use tickwire_engine::{Decimal, Event, Registry};

    use super::*;
    use crate::binance::Symbols;
    use crate::bybit::Decoder;

    fn venue(market: Market) -> Arc<dyn SimVenue> {
        let c = SimVenueConfig {
            symbols: vec!["BTCUSDT".into(), "ETHUSDT".into()],
            ..SimVenueConfig::default()
        };
        build(market, &c).unwrap()
    }

    fn feed(v: &Arc<dyn SimVenue>, market: Market) -> Box<dyn SimFeed> {
        let req = FeedRequest {
            path: market.path(),
            query: "",
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

    fn decoder(market: Market) -> Decoder {
        Decoder::new(Symbols::interning(market.venue(), Registry::new()), market)
    }

    #[test]
    fn control_replies_as_bybit_documents() {
        let v = venue(Market::Spot);
        let mut f = feed(&v, Market::Spot);
        let mut d = decoder(Market::Spot);
        let (o, r) = control(
            &mut *f,
            r#"{"req_id":"7","op":"subscribe","args":["orderbook.50.BTCUSDT","publicTrade.BTCUSDT"]}"#,
        );
        assert_eq!(o, ControlOutcome::Subscribed);
        let buf = r.into_bytes();
        assert_eq!(d.decode(&buf, 0, &mut Vec::new()), Ok(Frame::Ack { id: 7 }));
        let eleven: Vec<String> = (0..11).map(|_| "\"publicTrade.BTCUSDT\"".into()).collect();
        let (o, r) = control(
            &mut *f,
            &format!(
                r#"{{"req_id":"8","op":"subscribe","args":[{}]}}"#,
                eleven.join(",")
            ),
        );
        assert_eq!(o, ControlOutcome::Rejected);
        assert!(r.contains(r#""success":false"#), "{r}");
        let (o, r) = control(
            &mut *f,
            r#"{"req_id":"9","op":"subscribe","args":["tickers.BTCUSDT"]}"#,
        );
        assert_eq!(
            o,
            ControlOutcome::Rejected,
            "spot tickers carry no BBO here"
        );
        let buf = r.into_bytes();
        assert_eq!(
            d.decode(&buf, 0, &mut Vec::new()),
            Ok(Frame::SubscriptionError {
                id: Some(9),
                code: 0
            })
        );
        let (o, r) = control(&mut *f, r#"{"req_id":"ping","op":"ping"}"#);
        assert_eq!(o, ControlOutcome::Pong);
        let buf = r.into_bytes();
        assert_eq!(d.decode(&buf, 0, &mut Vec::new()), Ok(Frame::Pong));
        assert!(!f.inject(SimFault::Checksum));
    }

    /// The stream a subscribe starts: a snapshot, then deltas chained `u = prev + 1`; a
    /// gap skips one id, a reset restarts at 1 with the whole book; the book rebuilt from
    /// the messages equals the model's at the end.
    #[test]
    fn the_stream_chains_and_matches_the_model() {
        for market in [Market::Spot, Market::Linear] {
            let v = venue(market);
            let mut f = feed(&v, market);
            let mut d = decoder(market);
            let (o, _) = control(
                &mut *f,
                r#"{"req_id":"1","op":"subscribe","args":["orderbook.200.ETHUSDT","publicTrade.ETHUSDT"]}"#,
            );
            assert_eq!(o, ControlOutcome::Subscribed);
            let mut book: BTreeMap<(bool, Decimal), Decimal> = BTreeMap::new();
            let mut last_u = None::<u64>;
            let (mut gaps, mut resets, mut trades) = (0, 0, 0);
            let mut out = Vec::new();
            let mut n = 0;
            while f.next_message(3000, 1_700_000_000_000_000_000, &mut out) {
                n += 1;
                if n == 100 {
                    assert!(f.inject(SimFault::Gap));
                }
                if n == 200 {
                    assert!(f.inject(SimFault::Reset));
                }
                let mut events: Vec<Event> = Vec::new();
                let frame = d.decode(&out, 0, &mut events).unwrap();
                out.clear();
                let whole = |book: &mut BTreeMap<_, _>, events: &[Event]| {
                    book.clear();
                    for e in events {
                        let l = e.as_level().unwrap();
                        book.insert((l.side == tickwire_engine::Side::Buy, l.price), l.qty);
                    }
                };
                match frame {
                    Frame::BookSnapshot { ids, .. } => {
                        assert!(last_u.is_none(), "one snapshot, first");
                        whole(&mut book, &events);
                        last_u = Some(ids.last);
                    }
                    Frame::BookDiff { ids, .. } => {
                        let prev = last_u.expect("a snapshot came first");
                        if ids.last == 1 {
                            resets += 1;
                            whole(&mut book, &events);
                        } else {
                            if ids.last == prev + 2 {
                                gaps += 1; // the skipped delta is lost: stop comparing
                                book.clear();
                            } else {
                                assert_eq!(ids.last, prev + 1);
                            }
                            for e in &events {
                                let l = e.as_level().unwrap();
                                let k = (l.side == tickwire_engine::Side::Buy, l.price);
                                if l.qty.is_zero() {
                                    book.remove(&k);
                                } else {
                                    book.insert(k, l.qty);
                                }
                            }
                        }
                        last_u = Some(ids.last);
                    }
                    Frame::Market => trades += events.len(),
                    other => panic!("{other:?}"),
                }
            }
            assert_eq!((gaps, resets), (1, 1), "{market:?}");
            assert!(trades > 10);
            assert_eq!(f.faults_made().gaps, 1);
            assert_eq!(f.faults_made().resets, 1);
            // After the reset the book is whole again: compare with the model.
            let sym = v.symbol_index("ETHUSDT").unwrap();
            let model = v.book_at(sym, f.cursor());
            let spec = v.spec(sym);
            let dec = |x: u64, s: u8| Decimal::from_parts(x as i64, s);
            let mut want = BTreeMap::new();
            for (bid, side) in [(true, BookSide::Bid), (false, BookSide::Ask)] {
                for (p, q) in model.levels(side) {
                    want.insert(
                        (bid, dec(p, spec.price_decimals)),
                        dec(q, spec.qty_decimals),
                    );
                }
            }
            assert_eq!(book, want, "{market:?}");
        }
    }
}
