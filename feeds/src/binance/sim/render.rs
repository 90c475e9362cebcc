//! The venue's message shapes, field for field in the venue's order (venues.md §1–2).
//!
//! Every function appends to a caller-owned buffer and allocates nothing once the buffer has
//! grown to its working size. A message may start with `"ts":<ns>` (the send-time latency
//! probe of the load server contract); in a combined stream it comes before `"stream"`, so it
//! is always the first member of the frame.

use super::stream::StreamKind;
use super::tape::{Change, Step, Tape, TapeText};
use super::{Book, BookSide, Level, Market, SymbolSpec, push_fixed, push_u64};

/// Binance's step bodies, rendered once per step when the tape is built: `"b":[..],"a":[..]`
/// (depth), `"p":"..","q":".."` (trade) or `"b":"..","B":"..","a":"..","A":".."` (ticker).
/// Prices and quantities print with the symbol's fixed decimals, as the venue does.
#[derive(Clone, Copy, Debug)]
pub struct BinanceText;

impl TapeText for BinanceText {
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
        out.extend_from_slice(b"\",\"q\":\"");
        push_fixed(out, qty, spec.qty_decimals);
        out.push(b'"');
    }

    fn ticker(&self, out: &mut Vec<u8>, spec: &SymbolSpec, bid: Level, ask: Level) {
        let d = (spec.price_decimals, spec.qty_decimals);
        for (key, v, dec) in [
            (&b"\"b\":\""[..], bid.0, d.0),
            (b",\"B\":\"", bid.1, d.1),
            (b",\"a\":\"", ask.0, d.0),
            (b",\"A\":\"", ask.1, d.1),
        ] {
            out.extend_from_slice(key);
            push_fixed(out, v, dec);
            out.push(b'"');
        }
    }
}

/// Appends `["p","q"]`.
pub fn push_level(out: &mut Vec<u8>, spec: &SymbolSpec, (price, qty): Level) {
    out.extend_from_slice(b"[\"");
    push_fixed(out, price, spec.price_decimals);
    out.extend_from_slice(b"\",\"");
    push_fixed(out, qty, spec.qty_decimals);
    out.extend_from_slice(b"\"]");
}

/// Opens a message: `{`, the optional probe, and the combined-stream envelope
/// `"stream":"<sym>@<kind>","data":{` when `envelope` is given.
pub fn open(out: &mut Vec<u8>, ts: Option<u64>, envelope: Option<(&str, StreamKind)>) {
    out.push(b'{');
    if let Some(ts) = ts {
        out.extend_from_slice(b"\"ts\":");
        push_u64(out, ts);
        out.push(b',');
    }
    if let Some((sym, kind)) = envelope {
        out.extend_from_slice(b"\"stream\":\"");
        out.extend_from_slice(sym.as_bytes());
        out.push(b'@');
        out.extend_from_slice(kind.suffix().as_bytes());
        out.extend_from_slice(b"\",\"data\":{");
    }
}

/// Closes what [`open`] opened (the members in between end without a `}`).
pub fn close(out: &mut Vec<u8>, envelope: bool) {
    out.push(b'}');
    if envelope {
        out.push(b'}');
    }
}

fn push_key_num(out: &mut Vec<u8>, key: &[u8], v: u64) {
    out.extend_from_slice(key);
    push_u64(out, v);
}

fn push_symbol(out: &mut Vec<u8>, tape: &Tape) {
    out.extend_from_slice(b",\"s\":\"");
    out.extend_from_slice(tape.spec.name.as_bytes());
    out.push(b'"');
}

/// The members of one stream message for the step at tape position `pos`: `depthUpdate`,
/// `trade`, `aggTrade` or `bookTicker`, as `kind` says. `time` fills `E`/`T`.
pub fn members(
    out: &mut Vec<u8>,
    market: Market,
    tape: &Tape,
    pos: u64,
    step: &Step,
    kind: StreamKind,
    time: u64,
) {
    let usdm = market == Market::UsdM;
    match kind {
        StreamKind::Depth | StreamKind::Depth100ms | StreamKind::Depth0ms => {
            let (first, last, prev) = tape.depth_ids(pos);
            push_key_num(out, b"\"e\":\"depthUpdate\",\"E\":", time);
            if usdm {
                push_key_num(out, b",\"T\":", time);
            }
            push_symbol(out, tape);
            push_key_num(out, b",\"U\":", first);
            push_key_num(out, b",\"u\":", last);
            if usdm {
                push_key_num(out, b",\"pu\":", prev);
            }
            out.push(b',');
            out.extend_from_slice(tape.text(step));
        }
        StreamKind::Trade => {
            let n = tape.trades_before(pos);
            push_key_num(out, b"\"e\":\"trade\",\"E\":", time);
            if usdm {
                push_key_num(out, b",\"T\":", time);
            }
            push_symbol(out, tape);
            push_key_num(out, b",\"t\":", tape.base_trade_id + n);
            out.push(b',');
            out.extend_from_slice(tape.text(step));
            if usdm {
                out.extend_from_slice(b",\"X\":\"MARKET\"");
            } else {
                push_key_num(out, b",\"T\":", time);
            }
            out.extend_from_slice(if step.maker {
                b",\"m\":true"
            } else {
                b",\"m\":false"
            });
            if !usdm {
                out.extend_from_slice(b",\"M\":true");
            }
        }
        StreamKind::AggTrade => {
            let n = tape.trades_before(pos);
            push_key_num(out, b"\"e\":\"aggTrade\",\"E\":", time);
            push_symbol(out, tape);
            push_key_num(out, b",\"a\":", tape.base_agg_id + n);
            out.push(b',');
            out.extend_from_slice(tape.text(step));
            push_key_num(out, b",\"f\":", tape.base_trade_id + n);
            push_key_num(out, b",\"l\":", tape.base_trade_id + n);
            push_key_num(out, b",\"T\":", time);
            out.extend_from_slice(if step.maker {
                b",\"m\":true"
            } else {
                b",\"m\":false"
            });
            if !usdm {
                out.extend_from_slice(b",\"M\":true");
            }
        }
        StreamKind::BookTicker => {
            if usdm {
                out.extend_from_slice(b"\"e\":\"bookTicker\",");
            }
            push_key_num(out, b"\"u\":", tape.update_id_after(pos));
            push_symbol(out, tape);
            out.push(b',');
            out.extend_from_slice(tape.text(step));
            if usdm {
                push_key_num(out, b",\"T\":", time);
                push_key_num(out, b",\"E\":", time);
            }
        }
    }
}

/// Appends a JSON string literal, escaped.
pub fn push_json_str(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &b in s {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0..=0x1f => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 15)]);
            }
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

/// Appends `{"code":C,"msg":"<msg><detail>","id":<id>}`. `id` is the request id as raw
/// JSON (`1`, `"abc"` or `null`); `detail` is escaped.
pub fn render_error(out: &mut Vec<u8>, code: u32, msg: &str, detail: &[u8], id: &[u8]) {
    out.extend_from_slice(b"{\"code\":");
    push_u64(out, u64::from(code));
    out.extend_from_slice(b",\"msg\":");
    let mut text = Vec::with_capacity(msg.len() + detail.len());
    text.extend_from_slice(msg.as_bytes());
    text.extend_from_slice(detail);
    push_json_str(out, &text);
    out.extend_from_slice(b",\"id\":");
    out.extend_from_slice(id);
    out.push(b'}');
}

/// Appends `{"e":"serverShutdown","E":<time>}` (with the probe first when `ts` is given).
pub fn render_server_shutdown(out: &mut Vec<u8>, ts: Option<u64>, time: u64) {
    open(out, ts, None);
    push_key_num(out, b"\"e\":\"serverShutdown\",\"E\":", time);
    close(out, false);
}
