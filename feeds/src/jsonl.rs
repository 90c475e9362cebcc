//! Events as JSON lines, the output of `tickwire decode`, `run --print` and `replay --print`:
//!
//! ```text
//! {"kind":"trade","venue":"binance","symbol":"BTCUSDT","side":"buy","price":"43250.12","qty":"0.012","id":3000123456,"exchange_ts":1723161255123000000,"flags":[]}
//! {"kind":"book","venue":"binance-usdm","symbol":"BTCUSDT","side":"bid","price":"43249.99","qty":"0.51234","seq":1000123460,"exchange_ts":1723161255123000000,"flags":["last"]}
//! {"kind":"bbo","venue":"binance","symbol":"BTCUSDT","bid_price":"1","bid_qty":"2","ask_price":"3","ask_qty":"4","seq":7,"exchange_ts":0,"flags":[]}
//! {"kind":"status","venue":"binance","symbol":null,"status":"decode_error","detail":"json"}
//! ```
//!
//! A trade's `side` is the aggressor's; its `id` is a number when the venue's id is one, else
//! a string (a UUID as the venue wrote it, other text as `#` and a 16-hex-digit hash); book
//! sides are `bid`/`ask`; flags are `snapshot` and `last`. Prices and quantities are exact decimal strings.
//! `seq` is `null` for a venue without sequences (Kraken).

use std::io::Write;
use std::sync::Arc;

use tickwire_engine::event::{EventKind, Flags, Side, StatusKind};
use tickwire_engine::{Decimal, Event, InstrumentId, Reason, Registry, TradeId};

// Kraken: venues without any sequence print `"seq":null` (issue 10's contract).
/// Venues whose book and BBO events carry no sequence at all.
const UNSEQUENCED: &[&str] = &["kraken"];

/// `,"seq":N`, or `,"seq":null` for a venue without sequences.
fn push_seq(out: &mut Vec<u8>, name: &Option<(Arc<str>, Arc<str>)>, seq: u64) {
    if name
        .as_ref()
        .is_some_and(|(v, _)| UNSEQUENCED.contains(&&**v))
    {
        out.extend_from_slice(b",\"seq\":null");
    } else {
        let _ = write!(out, ",\"seq\":{seq}");
    }
}

/// Formats events as JSON lines, caching instrument names.
pub struct JsonLines {
    registry: Registry,
    venue: String,
    names: Vec<Option<(Arc<str>, Arc<str>)>>,
}

fn push_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let mut b = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            }
        }
    }
    out.push(b'"');
}

fn push_decimal(out: &mut Vec<u8>, d: Decimal) {
    let mut buf = [0u8; 48];
    out.push(b'"');
    out.extend_from_slice(d.write_to(&mut buf).as_bytes());
    out.push(b'"');
}

fn push_flags(out: &mut Vec<u8>, f: Flags) {
    out.extend_from_slice(b"\"flags\":[");
    let mut first = true;
    for (bit, name) in [
        (Flags::SNAPSHOT, "snapshot"),
        (Flags::LAST_IN_BATCH, "last"),
    ] {
        if f.contains(bit) {
            if !first {
                out.push(b',');
            }
            first = false;
            push_str(out, name);
        }
    }
    out.extend_from_slice(b"]}\n");
}

impl JsonLines {
    /// A formatter resolving instruments through `registry`; `venue` names status events
    /// that carry no instrument.
    pub fn new(registry: Registry, venue: &str) -> JsonLines {
        JsonLines {
            registry,
            venue: venue.to_owned(),
            names: Vec::new(),
        }
    }

    fn name(&mut self, id: InstrumentId) -> Option<(Arc<str>, Arc<str>)> {
        if id == InstrumentId::NONE {
            return None;
        }
        let i = id.index();
        if self.names.get(i).is_none_or(Option::is_none) {
            let n = self.registry.name(id)?;
            if self.names.len() <= i {
                self.names.resize(i + 1, None);
            }
            self.names[i] = Some((n.venue, n.symbol));
        }
        self.names[i].clone()
    }

    /// Appends `e` as one line (with its newline) to `out`.
    pub fn write(&mut self, e: &Event, out: &mut Vec<u8>) {
        let name = self.name(e.instrument);
        let kind = match e.kind() {
            EventKind::Trade => "trade",
            EventKind::BookLevel => "book",
            EventKind::Bbo => "bbo",
            EventKind::Status => "status",
        };
        out.extend_from_slice(b"{\"kind\":");
        push_str(out, kind);
        out.extend_from_slice(b",\"venue\":");
        match &name {
            Some((v, _)) => push_str(out, v),
            None => push_str(out, &self.venue),
        }
        out.extend_from_slice(b",\"symbol\":");
        match &name {
            Some((_, s)) => push_str(out, s),
            None => out.extend_from_slice(b"null"),
        }
        if let Some(t) = e.as_trade() {
            out.extend_from_slice(b",\"side\":");
            push_str(out, if t.side == Side::Sell { "sell" } else { "buy" });
            out.extend_from_slice(b",\"price\":");
            push_decimal(out, t.price);
            out.extend_from_slice(b",\"qty\":");
            push_decimal(out, t.qty);
            // Numeric ids print as numbers; UUIDs and hashed text ids as strings.
            match e.trade_id() {
                Some(id @ (TradeId::Uuid(_) | TradeId::Hash(_))) => {
                    let _ = write!(out, ",\"id\":\"{id}\",\"exchange_ts\":{},", e.exchange_ts);
                }
                _ => {
                    let _ = write!(out, ",\"id\":{},\"exchange_ts\":{},", t.id, e.exchange_ts);
                }
            }
            push_flags(out, e.flags);
        } else if let Some(l) = e.as_level() {
            out.extend_from_slice(b",\"side\":");
            push_str(out, if l.side == Side::Sell { "ask" } else { "bid" });
            out.extend_from_slice(b",\"price\":");
            push_decimal(out, l.price);
            out.extend_from_slice(b",\"qty\":");
            push_decimal(out, l.qty);
            push_seq(out, &name, l.seq);
            let _ = write!(out, ",\"exchange_ts\":{},", e.exchange_ts);
            push_flags(out, e.flags);
        } else if let Some(b) = e.as_bbo() {
            for (key, d) in [
                ("bid_price", b.bid_price),
                ("bid_qty", b.bid_qty),
                ("ask_price", b.ask_price),
                ("ask_qty", b.ask_qty),
            ] {
                out.push(b',');
                push_str(out, key);
                out.push(b':');
                push_decimal(out, d);
            }
            push_seq(out, &name, b.seq);
            let _ = write!(out, ",\"exchange_ts\":{},", e.exchange_ts);
            push_flags(out, e.flags);
        } else {
            let s = e.as_status();
            out.extend_from_slice(b",\"status\":");
            push_str(out, s.map_or("unknown", |s| s.kind.name()));
            out.extend_from_slice(b",\"detail\":");
            let detail = match s {
                None => String::from("unknown status"),
                Some(s) => {
                    let reason = Reason::from_code(s.reason).map_or("unknown", Reason::name);
                    match s.kind {
                        StatusKind::Gap => format!("expected {}", s.value),
                        StatusKind::Overflow => format!("dropped {}", s.value),
                        StatusKind::SubscriptionError => format!("request id {}", s.value),
                        StatusKind::Line => {
                            match tickwire_engine::adapter::LineState::from_value(s.value) {
                                Some((line, state)) => {
                                    format!("line {line} {}: {reason}", state.name())
                                }
                                None => format!("{reason} {}", s.value),
                            }
                        }
                        _ if s.value != 0 => format!("{reason} {}", s.value),
                        _ => reason.to_owned(),
                    }
                }
            };
            push_str(out, &detail);
            out.extend_from_slice(b"}\n");
        }
    }
}
