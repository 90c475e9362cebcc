//! Bodies of the fuzz targets (`fuzz/fuzz_targets/*.rs`), kept here so unit tests run the
//! very same checks over generated inputs. Each panics when a property fails.

use tickwire_engine::adapter::DecodeStats;
use tickwire_engine::{Decimal, InstrumentId, Registry};

use crate::binance::{Decoder, Symbols, TimeUnit, parse_depth_snapshot};
use crate::jsonl::JsonLines;

/// `decimal_parse`: the fast and general parsers agree on every input, and every parsed
/// value renders to text that parses back to the same mantissa and scale.
pub fn decimal_parse(data: &[u8]) {
    let fast = Decimal::parse(data);
    let slow = Decimal::parse_slow(data);
    let parts = |d: Decimal| (d.mantissa(), d.scale());
    assert_eq!(fast.map(parts), slow.map(parts), "{data:?}");
    if let Ok(d) = fast {
        let text = d.to_string();
        let back = Decimal::parse(text.as_bytes()).map(parts);
        assert_eq!(back, Ok(parts(d)), "{text}");
        // Ordering is consistent with equality across scales.
        if let Ok(n) = d.rescale(tickwire_engine::decimal::MAX_SCALE) {
            assert_eq!(n, d);
        }
    }
}

/// `binance_decode`: the hand scanner and the simd-json path agree on every input (result,
/// events, counters), with the latency probe on (milliseconds) and off (microseconds);
/// nothing panics, including formatting the events and parsing the input as a REST
/// snapshot.
pub fn binance_decode(data: &[u8]) {
    for (unit, probe) in [
        (TimeUnit::Millisecond, true),
        (TimeUnit::Microsecond, false),
    ] {
        let registry = Registry::new();
        let run = |fast: bool, registry: Registry| {
            let mut d = Decoder::new(Symbols::interning("binance", registry), unit, probe);
            d.set_fast_scan(fast);
            let mut buf = data.to_vec();
            let mut out = Vec::new();
            let r = d.decode(&mut buf, 1, &mut out);
            let stats = DecodeStats {
                fast_path: 0,
                ..d.stats()
            };
            (r, out, stats)
        };
        let fast = run(true, registry.clone());
        let slow = run(false, Registry::new());
        assert_eq!(
            fast,
            slow,
            "{:?} ({unit:?}, probe {probe})",
            String::from_utf8_lossy(data)
        );
        let mut lines = JsonLines::new(registry, "binance");
        let mut text = Vec::new();
        for e in &fast.1 {
            lines.write(e, &mut text);
        }
    }
    let mut buf = data.to_vec();
    let _ = parse_depth_snapshot(&mut buf, InstrumentId(0), TimeUnit::Millisecond);
}

/// `bybit_decode`: on spot and linear decoders that intern every symbol, nothing panics;
/// an error leaves no events; a book frame's events are that instrument's levels at the
/// frame's `u` (a diff's last one alone flagged LAST_IN_BATCH); a market frame carries trades
/// and BBOs only; and for a valid JSON document without duplicate keys or escapes, reversing
/// the key order of every object (through simd-json, an independent parser) gives the same
/// answer: the same frame and the same events. Returns (decodes that succeeded, key-order
/// comparisons made), over the two markets, for drivers to report coverage.
pub fn bybit_decode(data: &[u8]) -> (u32, u32) {
    use crate::bybit::{Decoder as BybitDecoder, Market};
    use tickwire_engine::Event;
    use tickwire_engine::adapter::Frame;
    use tickwire_engine::event::{EventKind, Flags};

    fn decode(
        market: Market,
        registry: &Registry,
        data: &[u8],
    ) -> (
        Result<Frame, tickwire_engine::adapter::DecodeError>,
        Vec<Event>,
    ) {
        let mut d = BybitDecoder::new(Symbols::interning(market.venue(), registry.clone()), market);
        let mut out = Vec::new();
        let r = d.decode(data, 1, &mut out);
        (r, out)
    }

    let (mut ok, mut compared) = (0, 0);
    for market in [Market::Spot, Market::Linear] {
        let registry = Registry::new();
        let (r, out) = decode(market, &registry, data);
        ok += u32::from(r.is_ok());
        match r {
            Err(_) => assert!(out.is_empty()),
            Ok(
                Frame::BookDiff {
                    instrument, ids, ..
                }
                | Frame::BookSnapshot {
                    instrument, ids, ..
                },
            ) => {
                let diff = matches!(r, Ok(Frame::BookDiff { .. }));
                for (i, e) in out.iter().enumerate() {
                    assert_eq!(e.kind(), EventKind::BookLevel);
                    assert_eq!((e.instrument, e.seq), (instrument, ids.last));
                    if diff {
                        let last = i + 1 == out.len();
                        assert_eq!(e.flags.contains(Flags::LAST_IN_BATCH), last);
                    }
                }
            }
            Ok(Frame::Market) => {
                assert!(
                    out.iter()
                        .all(|e| matches!(e.kind(), EventKind::Trade | EventKind::Bbo))
                );
            }
            Ok(_) => assert!(out.is_empty()),
        }
        let mut lines = JsonLines::new(registry.clone(), market.venue());
        let mut text = Vec::new();
        for e in &out {
            lines.write(e, &mut text);
        }
        if let Some(rev) = reversed_keys(data) {
            compared += 1;
            let (r2, out2) = decode(market, &registry, &rev);
            assert_eq!(
                r.is_ok(),
                r2.is_ok(),
                "{:?} / {:?}",
                String::from_utf8_lossy(data),
                String::from_utf8_lossy(&rev)
            );
            if let (Ok(f), Ok(f2)) = (r, r2) {
                assert_eq!(f, f2);
                let norm = |v: &[Event]| {
                    let mut s: Vec<String> = v
                        .iter()
                        .map(|e| {
                            let mut e = *e;
                            e.flags = Flags::EMPTY;
                            format!("{e:?}")
                        })
                        .collect();
                    s.sort();
                    s
                };
                assert_eq!(
                    norm(&out),
                    norm(&out2),
                    "{:?}",
                    String::from_utf8_lossy(data)
                );
            }
        }
    }
    (ok, compared)
}

/// `data` re-written by simd-json with every object's keys in reverse order, when it is one
/// valid JSON document with no escapes and no duplicate keys (which re-writing would change).
fn reversed_keys(data: &[u8]) -> Option<Vec<u8>> {
    use simd_json::OwnedValue;
    if data.contains(&b'\\') {
        return None;
    }
    let mut buf = data.to_vec();
    let v: OwnedValue = simd_json::to_owned_value(&mut buf).ok()?;
    fn write(v: &OwnedValue, out: &mut String) -> Option<()> {
        match v {
            OwnedValue::Object(o) => {
                let kv: Vec<(&String, &OwnedValue)> = o.iter().collect();
                let mut seen = std::collections::HashSet::new();
                if !kv.iter().all(|(k, _)| seen.insert(*k)) {
                    return None; // which duplicate wins depends on the order
                }
                out.push('{');
                for (i, (k, v)) in kv.into_iter().rev().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&simd_json::to_string(k).ok()?);
                    out.push(':');
                    write(v, out)?;
                }
                out.push('}');
            }
            OwnedValue::Array(a) => {
                out.push('[');
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(v, out)?;
                }
                out.push(']');
            }
            // Only integers keep their text through a re-write; other numbers are left out.
            OwnedValue::Static(simd_json::StaticNode::F64(_)) => return None,
            other => out.push_str(&simd_json::to_string(other).ok()?),
        }
        Some(())
    }
    let mut out = String::new();
    write(&v, &mut out)?;
    Some(out.into_bytes())
}

/// One mutation step of the in-repo fuzz driver (`tests/tests/bybit_fuzz.rs`; cargo-fuzz
/// mutates by itself): flips, inserts JSON tokens, deletes, duplicates or splices from
/// `other`, `rounds` times, driven by the xorshift state `rng`.
pub fn mutate(input: &[u8], other: &[u8], rng: &mut u64, rounds: u32) -> Vec<u8> {
    const TOKENS: [&[u8]; 24] = [
        b"\"",
        b",",
        b":",
        b"{",
        b"}",
        b"[",
        b"]",
        b"0",
        b"1",
        b"-",
        b".",
        b"e",
        b"null",
        b"true",
        b"\"delta\"",
        b"\"snapshot\"",
        b"\"u\":1",
        b"\"\"",
        b"99999999999999999999",
        b"\"BTCUSDT\"",
        b"\"orderbook.1.BTCUSDT\"",
        b"\"tickers.BTCUSDT\"",
        b" ",
        b"\\",
    ];
    let mut next = || {
        let mut x = *rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *rng = x;
        x as usize
    };
    let mut v = input.to_vec();
    for _ in 0..rounds {
        let len = v.len().max(1);
        let at = next() % len;
        match next() % 6 {
            0 if !v.is_empty() => {
                let i = at % v.len();
                v[i] ^= 1 << (next() % 8);
            }
            1 => {
                let t = TOKENS[next() % TOKENS.len()];
                let at = at.min(v.len());
                v.splice(at..at, t.iter().copied());
            }
            2 if !v.is_empty() => {
                let end = (at + 1 + next() % 8).min(v.len());
                v.drain(at.min(v.len())..end);
            }
            3 if !v.is_empty() => {
                let end = (at + 1 + next() % 32).min(v.len());
                let piece = v[at.min(v.len())..end].to_vec();
                let to = next() % (v.len() + 1);
                v.splice(to..to, piece);
            }
            4 if !other.is_empty() => {
                let from = next() % other.len();
                let end = (from + 1 + next() % 64).min(other.len());
                let to = at.min(v.len());
                let cut = (to + next() % 16).min(v.len());
                v.splice(to..cut, other[from..end].iter().copied());
            }
            _ => {
                // A digit replaced by another, or a byte by a random one.
                if let Some(i) = (0..v.len())
                    .map(|k| (at + k) % v.len())
                    .find(|&i| v[i].is_ascii_digit())
                {
                    v[i] = b'0' + (next() % 10) as u8;
                } else if !v.is_empty() {
                    let i = at % v.len();
                    v[i] = next() as u8;
                }
            }
        }
    }
    v
}

/// `okx_decode`: the OKX decoder never panics; a rejected frame leaves no events behind and
/// moves exactly one error counter; decoding is deterministic; the events format as JSON
/// lines; the input read as a REST `market/books` answer never panics either.
pub fn okx_decode(data: &[u8]) {
    use crate::okx::{Decoder, parse_books_snapshot};
    let registry = Registry::new();
    let run = || {
        let mut d = Decoder::new(Symbols::interning("okx", registry.clone()));
        let mut out = Vec::new();
        let r = d.decode(data, 1, &mut out);
        (r, out, d.stats())
    };
    let (r, out, stats) = run();
    let errors =
        stats.json_errors + stats.number_errors + stats.schema_errors + stats.unknown_symbols;
    match r {
        Ok(_) => assert_eq!(errors, 0, "{:?}", String::from_utf8_lossy(data)),
        Err(_) => {
            assert!(out.is_empty(), "{:?}", String::from_utf8_lossy(data));
            assert_eq!(errors, 1);
        }
    }
    assert_eq!(run(), (r, out.clone(), stats));
    let mut lines = JsonLines::new(registry, "okx");
    let mut text = Vec::new();
    for e in &out {
        lines.write(e, &mut text);
    }
    let _ = parse_books_snapshot(data, InstrumentId(0));
    // The one-pass decimal reader agrees with the general parser wherever it accepts.
    if let Some(d) = crate::okx::okx_decimal(data) {
        let parts = |d: Decimal| (d.mantissa(), d.scale());
        assert_eq!(Decimal::parse(data).map(parts), Ok(parts(d)), "{data:?}");
    }
}

// ---- Kraken v2 ----

/// `kraken_decode`: on a decoder that interns every symbol, nothing panics; a rejected frame
/// leaves no events and moves exactly one error counter; a book frame's events are that
/// instrument's levels with no sequence (`seq` 0, ids all zero), the last alone flagged
/// LAST_IN_BATCH, and an update holds one change per level with the deletes first; a market
/// frame carries trades and BBOs only; decoding is deterministic; the events format as JSON
/// lines and, applied to a depth-10 book, give a checksum; the input read as a client
/// request or a decimal never panics, and the decimal reader agrees with the general parser.
/// Returns whether the frame decoded.
pub fn kraken_decode(data: &[u8]) -> bool {
    use crate::kraken::{Decoder, checksum::book_checksum, decode::parse_request, kraken_decimal};
    use tickwire_engine::adapter::{DiffIds, Frame};
    use tickwire_engine::book::{Book, BookConfig};
    use tickwire_engine::event::{EventKind, Flags};
    let registry = Registry::new();
    let run = || {
        let mut d = Decoder::new(Symbols::interning("kraken", registry.clone()));
        let mut out = Vec::new();
        let r = d.decode(data, 1, &mut out);
        (r, out, d.stats())
    };
    let (r, out, stats) = run();
    let errors =
        stats.json_errors + stats.number_errors + stats.schema_errors + stats.unknown_symbols;
    match r {
        Ok(_) => assert_eq!(errors, 0, "{:?}", String::from_utf8_lossy(data)),
        Err(_) => {
            assert!(out.is_empty(), "{:?}", String::from_utf8_lossy(data));
            assert_eq!(errors, 1);
        }
    }
    match r {
        Ok(
            Frame::BookDiff {
                instrument, ids, ..
            }
            | Frame::BookSnapshot {
                instrument, ids, ..
            },
        ) => {
            assert_eq!(ids, DiffIds::default());
            let diff = matches!(r, Ok(Frame::BookDiff { .. }));
            let mut seen_set = false;
            for (i, e) in out.iter().enumerate() {
                assert_eq!(e.kind(), EventKind::BookLevel);
                assert_eq!((e.instrument, e.seq), (instrument, 0));
                assert_eq!(e.flags.contains(Flags::LAST_IN_BATCH), i + 1 == out.len());
                if diff {
                    let l = e.as_level().unwrap_or_else(|| unreachable!());
                    if l.qty.is_zero() {
                        assert!(!seen_set, "deletes first");
                    } else {
                        seen_set = true;
                    }
                    assert!(!out[i + 1..].iter().any(|o| {
                        o.as_level()
                            .is_some_and(|m| m.side == l.side && m.price == l.price)
                    }));
                }
            }
            let mut book = Book::new(BookConfig::with_depth(10));
            for e in &out {
                let _ = book.apply_event(e);
            }
            let _ = book_checksum(&book, None);
            let _ = book_checksum(&book, Some((10, 10)));
        }
        Ok(Frame::Market) => assert!(
            out.iter()
                .all(|e| matches!(e.kind(), EventKind::Trade | EventKind::Bbo))
        ),
        _ => assert!(out.is_empty()),
    }
    assert_eq!(run(), (r, out.clone(), stats));
    let mut lines = JsonLines::new(registry, "kraken");
    let mut text = Vec::new();
    for e in &out {
        lines.write(e, &mut text);
    }
    let _ = parse_request(data);
    if let Ok(d) = kraken_decimal(data) {
        let parts = |d: Decimal| (d.mantissa(), d.scale());
        assert_eq!(
            Decimal::parse(data)
                .and_then(|v| v.fit_scale(tickwire_engine::event::MAX_EVENT_SCALE))
                .map(parts),
            Ok(parts(d)),
            "{data:?}"
        );
    }
    r.is_ok()
}

// ---- Coinbase Advanced Trade ----

/// `coinbase_decode`: on a decoder that interns every product, nothing panics; an error
/// leaves no events and no sequence number; a book frame's events are that product's levels
/// at the message's `sequence_num` (the last one alone flagged LAST_IN_BATCH); a market frame
/// carries trades and BBOs only, other frames nothing; and for a valid JSON document without
/// duplicate keys or escapes, reversing every object's key order (through simd-json, an
/// independent parser) gives the same frame, events and sequence number. Returns (decoded
/// without error, key-order comparisons made) for drivers to report coverage.
pub fn coinbase_decode(data: &[u8]) -> (u32, u32) {
    use crate::coinbase::{Decoder as CoinbaseDecoder, TradeSide, VENUE};
    use tickwire_engine::Event;
    use tickwire_engine::adapter::Frame;
    use tickwire_engine::event::{EventKind, Flags};

    type Decoded = (
        Result<Frame, tickwire_engine::adapter::DecodeError>,
        Vec<Event>,
        Option<u64>,
    );
    fn decode(registry: &Registry, data: &[u8]) -> Decoded {
        let mut d = CoinbaseDecoder::new(
            Symbols::interning(VENUE, registry.clone()),
            TradeSide::Maker,
        );
        let mut out = Vec::new();
        let r = d.decode(data, 1, &mut out);
        (r, out, d.take_sequence())
    }

    let registry = Registry::new();
    let (r, out, seq) = decode(&registry, data);
    match r {
        Err(_) => assert!(out.is_empty() && seq.is_none()),
        Ok(
            Frame::BookDiff {
                instrument, ids, ..
            }
            | Frame::BookSnapshot {
                instrument, ids, ..
            },
        ) => {
            assert_eq!(seq, Some(ids.last));
            for (i, e) in out.iter().enumerate() {
                assert_eq!(e.kind(), EventKind::BookLevel);
                assert_eq!((e.instrument, e.seq), (instrument, ids.last));
                assert_eq!(e.flags.contains(Flags::LAST_IN_BATCH), i + 1 == out.len());
            }
        }
        Ok(Frame::Market) => {
            assert!(
                out.iter()
                    .all(|e| matches!(e.kind(), EventKind::Trade | EventKind::Bbo))
            );
        }
        Ok(_) => assert!(out.is_empty()),
    }
    let mut lines = JsonLines::new(registry.clone(), VENUE);
    let mut text = Vec::new();
    for e in &out {
        lines.write(e, &mut text);
    }
    let mut compared = 0;
    if let Some(rev) = reversed_keys(data) {
        compared += 1;
        let (r2, out2, seq2) = decode(&registry, &rev);
        assert_eq!(
            r.is_ok(),
            r2.is_ok(),
            "{:?} / {:?}",
            String::from_utf8_lossy(data),
            String::from_utf8_lossy(&rev)
        );
        if let (Ok(f), Ok(f2)) = (r, r2) {
            assert_eq!((f, seq), (f2, seq2));
            let norm = |v: &[Event]| {
                let mut s: Vec<String> = v
                    .iter()
                    .map(|e| {
                        let mut e = *e;
                        e.flags = Flags::EMPTY;
                        format!("{e:?}")
                    })
                    .collect();
                s.sort();
                s
            };
            assert_eq!(
                norm(&out),
                norm(&out2),
                "{:?}",
                String::from_utf8_lossy(data)
            );
        }
    }
    (u32::from(r.is_ok()), compared)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        #[test]
        fn decimal_parse_body(data in proptest::collection::vec(any::<u8>(), 0..24)) {
            super::decimal_parse(&data);
        }

        #[test]
        fn decimal_parse_body_on_numeric_text(s in "[-+]?[0-9]{0,20}[.]?[0-9]{0,20}([eE][-+]?[0-9]{1,4})?") {
            super::decimal_parse(s.as_bytes());
        }

        #[test]
        fn okx_decode_body(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            super::okx_decode(&data);
        }

        #[test]
        fn okx_decode_body_on_json_like(s in r#"\{("(arg|data|action|event|code|asks|bids|seqId|prevSeqId|checksum|ts|channel|instId|px|sz|side|tradeId)":("[a-z0-9.\-]{0,8}"|-?[0-9]{1,12}|\{"channel":"(books|trades|bbo-tbt)","instId":"[A-Z-]{1,8}"\}|\[(\{|\[("[0-9.]{1,6}",?){0,4}\],?|\},?){0,4}\]),?){0,8}\}"#) {
            super::okx_decode(s.as_bytes());
        }

        #[test]
        fn okx_decimal_agrees_with_the_general_parser(s in "[0-9]{0,21}[.]?[0-9]{0,21}") {
            super::okx_decode(s.as_bytes());
        }

        #[test]
        fn binance_decode_body(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            super::binance_decode(&data);
        }

        #[test]
        fn bybit_decode_body(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            super::bybit_decode(&data);
        }

        #[test]
        fn bybit_decode_body_on_json_like(s in r#"\{("(topic|type|ts|data|s|b|a|u|T|S|p|v|i|symbol|bid1Price|op|success|req_id)":("orderbook\.(1|50)\.BTCUSDT"|"publicTrade\.BTCUSDT"|"tickers\.BTCUSDT"|"(snapshot|delta|Buy|Sell|BTCUSDT|subscribe|ping)"|"[0-9.]{0,12}"|[0-9]{1,14}|\[(\["[0-9.]{1,9}","[0-9.]{1,9}"\],?){0,3}\]|\{"s":"BTCUSDT","b":\[\],"a":\[\],"u":[0-9]{1,3}\}|true|null),?){0,8}\}"#) {
            super::bybit_decode(s.as_bytes());
        }


        #[test]
        fn kraken_decode_body(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            super::kraken_decode(&data);
        }


        #[test]
        fn kraken_decode_body_on_json_like(s in r#"\{("(channel|type|data|symbol|bids|asks|price|qty|checksum|timestamp|method|success|req_id|side|trade_id)":("(book|trade|ticker|heartbeat|snapshot|update|BTC/USD|buy|sell|pong|subscribe)"|[0-9]{1,6}(\.[0-9]{1,8})?(e-?[0-9])?|\[(\{"symbol":"BTC/USD","(bids|asks)":\[(\{"price":[0-9.]{1,6},"qty":[0-9.]{1,4}\},?){0,3}\]\},?){0,2}\]|true|null),?){0,8}\}"#) {
            super::kraken_decode(s.as_bytes());
        }

        #[test]
        fn binance_decode_body_on_json_like(s in r#"\{("[a-zA-Z]{1,2}":("[0-9.]{0,12}"|[0-9]{1,14}|\[(\["[0-9.]{1,9}","[0-9.]{1,9}"\],?){0,3}\]|true|null),?){0,8}\}"#) {
            super::binance_decode(s.as_bytes());
        }

        // Coinbase Advanced Trade
        #[test]
        fn coinbase_decode_body(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            super::coinbase_decode(&data);
        }

        #[test]
        fn coinbase_decode_body_on_json_like(s in r#"\{("(channel|sequence_num|timestamp|events|type|product_id|updates|trades|tickers|side|price_level|new_quantity|price|size|trade_id|time|best_bid|best_ask)":("(l2_data|market_trades|ticker|heartbeats|subscriptions|snapshot|update|bid|offer|BUY|SELL|BTC-USD|2026-04-07T14:30:00Z)"|"[0-9.]{0,12}"|[0-9]{1,14}|\[(\{"side":"(bid|offer)","price_level":"[0-9.]{1,6}","new_quantity":"[0-9.]{1,6}"\},?){0,3}\]|\[\{"type":"(snapshot|update)","product_id":"BTC-USD","updates":\[\]\}\]|null),?){0,8}\}"#) {
            super::coinbase_decode(s.as_bytes());
        }
    }
}
