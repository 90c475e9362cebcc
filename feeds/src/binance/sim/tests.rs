//! Venue model tests: chains, snapshots, top of book, wire shapes, control, faults.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use simd_json::OwnedValue;
use simd_json::prelude::*;

use super::*;

const NOW: u64 = 1_723_161_255_308_123_456;

fn venue(market: Market, symbols: &[&str], tape_len: usize) -> Arc<Venue> {
    Venue::new(&VenueConfig {
        market,
        symbols: symbols.iter().map(|s| s.to_string()).collect(),
        mix: Mix::default(),
        seed: 42,
        tape_len,
    })
    .unwrap()
}

fn opts(combined: bool, probe: bool) -> FeedOptions {
    FeedOptions {
        route: Route::Any,
        combined,
        probe,
        time_unit: TimeUnit::Millisecond,
    }
}

/// A feed subscribed to `kinds` of every symbol.
fn feed(venue: &Arc<Venue>, kinds: &[StreamKind], combined: bool, probe: bool) -> Feed {
    let mut f = Feed::new(venue.clone(), opts(combined, probe), 0);
    let names: Vec<String> = venue
        .lower_names()
        .iter()
        .flat_map(|s| kinds.iter().map(move |k| format!("{s}@{}", k.suffix())))
        .collect();
    let refs: Vec<&str> = names.iter().map(|s| s.as_str()).collect();
    f.subscribe_names(&refs).unwrap();
    f
}

fn parse(bytes: &[u8]) -> OwnedValue {
    let mut b = bytes.to_vec();
    simd_json::to_owned_value(&mut b)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(bytes)))
}

/// Every message until `until`, each with the event it came from.
fn drain(f: &mut Feed, until: u64) -> Vec<(u64, Vec<u8>)> {
    let mut out = Vec::new();
    loop {
        let mut msg = Vec::new();
        let before = f.cursor();
        if !f.next_message(until, NOW, &mut msg) {
            return out;
        }
        // The event is the one just taken, unless a second stream of the same event.
        let event = if f.cursor() > before {
            f.cursor() - 1
        } else {
            before - 1
        };
        out.push((event, msg));
    }
}

/// Top-level keys of a JSON object, in order (a tiny scanner; the input is trusted).
fn keys(text: &[u8]) -> Vec<String> {
    let (mut depth, mut in_str, mut esc, mut start, mut keys) = (0, false, false, 0, Vec::new());
    let mut expect_key = false;
    for (i, &b) in text.iter().enumerate() {
        if in_str {
            if esc {
                esc = false;
            } else if b == b'\\' {
                esc = true;
            } else if b == b'"' {
                in_str = false;
                if depth == 1 && expect_key {
                    keys.push(String::from_utf8(text[start..i].to_vec()).unwrap());
                    expect_key = false;
                }
            }
            continue;
        }
        match b {
            b'"' => {
                in_str = true;
                start = i + 1;
            }
            b'{' | b'[' => {
                depth += 1;
                if depth == 1 {
                    expect_key = true;
                }
            }
            b'}' | b']' => depth -= 1,
            b',' if depth == 1 => expect_key = true,
            _ => {}
        }
    }
    keys
}

fn units(text: &str, decimals: u8) -> u64 {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    assert_eq!(frac.len(), usize::from(decimals), "{text}");
    format!("{int}{frac}").parse().unwrap()
}

fn levels(v: &OwnedValue, spec: &SymbolSpec) -> Vec<(u64, u64)> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let l = l.as_array().unwrap();
            (
                units(l[0].as_str().unwrap(), spec.price_decimals),
                units(l[1].as_str().unwrap(), spec.qty_decimals),
            )
        })
        .collect()
}

fn snapshot(venue: &Venue, sym: usize, event: u64) -> OwnedValue {
    let mut out = Vec::new();
    venue.render_snapshot(sym, event, 5000, NOW / 1_000_000, &mut out);
    parse(&out)
}

#[test]
fn tape_cycle_restores_the_book_and_ids_keep_rising() {
    for market in [Market::Spot, Market::UsdM] {
        let v = venue(market, &["BTCUSDT"], 256);
        let t = v.tape(0);
        assert_eq!(t.book_after(0), t.book_after(256));
        assert_eq!(t.book_after(17), t.book_after(256 + 17));
        assert!(t.update_id_after(256) > t.update_id_after(255));
        assert!(t.update_id_after(257) >= t.update_id_after(256));
        let book = t.book_after(100);
        assert!(book.best_bid().unwrap().0 < book.best_ask().unwrap().0);
    }
}

#[test]
fn the_book_is_never_crossed_or_thin_and_the_price_walks() {
    for market in [Market::Spot, Market::UsdM] {
        for sym in ["btcusdt", "xrpusdt", "abcusdt"] {
            let v = venue(market, &[sym], 2048);
            let t = v.tape(0);
            let (mut lo, mut hi) = (u64::MAX, 0);
            for pos in 0..t.len() {
                let b = t.book_after(pos);
                let (bid, ask) = (b.best_bid().unwrap().0, b.best_ask().unwrap().0);
                assert!(bid < ask, "{sym} crossed at {pos}");
                assert!(
                    b.len(BookSide::Bid) >= 50 && b.len(BookSide::Ask) >= 50,
                    "{sym} thin at {pos}"
                );
                lo = lo.min(bid);
                hi = hi.max(bid);
            }
            // Over a cycle the best bid wanders by at least ten ticks.
            assert!(hi - lo >= 10 * t.spec.tick, "{sym}: {lo}..{hi}");
        }
    }
}

#[test]
fn depth_chains_are_unbroken_across_cycles() {
    for market in [Market::Spot, Market::UsdM] {
        let v = venue(market, &["btcusdt", "ethusdt", "xrpusdt"], 64);
        let mut f = feed(&v, &[StreamKind::Depth100ms], false, false);
        let mut last: HashMap<String, u64> = HashMap::new();
        let mut count = 0;
        for (_, msg) in drain(&mut f, 3 * 64 * 5) {
            let m = parse(&msg);
            assert_eq!(m["e"].as_str(), Some("depthUpdate"));
            let s = m["s"].as_str().unwrap().to_string();
            let (first, last_id) = (m["U"].as_u64().unwrap(), m["u"].as_u64().unwrap());
            assert!(first <= last_id);
            if let Some(&prev) = last.get(&s) {
                match market {
                    Market::Spot => assert_eq!(first, prev + 1, "{s}"),
                    Market::UsdM => {
                        assert_eq!(m["pu"].as_u64(), Some(prev), "{s}");
                        assert!(first > prev);
                    }
                }
            }
            last.insert(s, last_id);
            count += 1;
        }
        assert!(count > 300, "{count}");
        assert_eq!(last.len(), 3);
    }
}

#[test]
fn snapshots_line_up_with_the_diff_stream() {
    for market in [Market::Spot, Market::UsdM] {
        let v = venue(market, &["btcusdt", "ethusdt"], 128);
        let spec = v.spec(1).clone();
        let mut f = feed(&v, &[StreamKind::Depth], false, false);
        let msgs: Vec<(u64, OwnedValue)> = drain(&mut f, 2 * 128 * 3)
            .into_iter()
            .map(|(e, m)| (e, parse(&m)))
            .filter(|(_, m)| m["s"].as_str() == Some("ETHUSDT"))
            .collect();
        // Rebuild the book from the snapshot at event 0 plus the diffs, and compare with the
        // venue's snapshot at several later points (across tape cycles).
        let s0 = snapshot(&v, 1, 0);
        let mut bids: std::collections::BTreeMap<u64, u64> =
            levels(&s0["bids"], &spec).into_iter().collect();
        let mut asks: std::collections::BTreeMap<u64, u64> =
            levels(&s0["asks"], &spec).into_iter().collect();
        let mut checked = 0;
        for (i, (event, m)) in msgs.iter().enumerate() {
            for (side, key) in [(&mut bids, "b"), (&mut asks, "a")] {
                for (p, q) in levels(&m[key], &spec) {
                    if q == 0 {
                        side.remove(&p);
                    } else {
                        side.insert(p, q);
                    }
                }
            }
            if i % 37 == 0 {
                let snap = snapshot(&v, 1, event + 1);
                assert_eq!(snap["lastUpdateId"].as_u64(), m["u"].as_u64());
                let sb: Vec<_> = levels(&snap["bids"], &spec);
                let sa: Vec<_> = levels(&snap["asks"], &spec);
                assert_eq!(
                    sb,
                    bids.iter().rev().map(|(p, q)| (*p, *q)).collect::<Vec<_>>()
                );
                assert_eq!(sa, asks.iter().map(|(p, q)| (*p, *q)).collect::<Vec<_>>());
                // The venue's sync rule holds for the next diff.
                if let Some((_, next)) = msgs.get(i + 1) {
                    let id = snap["lastUpdateId"].as_u64().unwrap();
                    let (first, last) = (next["U"].as_u64().unwrap(), next["u"].as_u64().unwrap());
                    match market {
                        Market::Spot => assert!(first <= id + 1 && id < last),
                        Market::UsdM => assert_eq!(next["pu"].as_u64(), Some(id)),
                    }
                }
                checked += 1;
            }
        }
        assert!(checked > 3, "{checked}");
    }
}

#[test]
fn book_ticker_equals_the_book_top_in_the_same_id_space() {
    for market in [Market::Spot, Market::UsdM] {
        let v = venue(market, &["btcusdt", "solusdt"], 128);
        let mut f = feed(&v, &[StreamKind::BookTicker], false, false);
        let mut n = 0;
        for (event, msg) in drain(&mut f, 1000) {
            let m = parse(&msg);
            let sym = v.symbol_index(m["s"].as_str().unwrap()).unwrap();
            let spec = v.spec(sym);
            let book = v.book_at(sym, event);
            let (bid, ask) = (book.best_bid().unwrap(), book.best_ask().unwrap());
            assert_eq!(m["u"].as_u64(), Some(v.update_id_at(sym, event)));
            assert_eq!(units(m["b"].as_str().unwrap(), spec.price_decimals), bid.0);
            assert_eq!(units(m["B"].as_str().unwrap(), spec.qty_decimals), bid.1);
            assert_eq!(units(m["a"].as_str().unwrap(), spec.price_decimals), ask.0);
            assert_eq!(units(m["A"].as_str().unwrap(), spec.qty_decimals), ask.1);
            assert!(bid.0 < ask.0);
            n += 1;
        }
        assert!(n > 50, "{n}");
    }
}

#[test]
fn messages_have_the_venue_fields_in_order() {
    let all = [
        StreamKind::Trade,
        StreamKind::AggTrade,
        StreamKind::BookTicker,
        StreamKind::Depth,
    ];
    let expect_spot: &[(&str, &[&str])] = &[
        ("depthUpdate", &["e", "E", "s", "U", "u", "b", "a"]),
        ("trade", &["e", "E", "s", "t", "p", "q", "T", "m", "M"]),
        (
            "aggTrade",
            &["e", "E", "s", "a", "p", "q", "f", "l", "T", "m", "M"],
        ),
        ("", &["u", "s", "b", "B", "a", "A"]),
    ];
    let expect_usdm: &[(&str, &[&str])] = &[
        (
            "depthUpdate",
            &["e", "E", "T", "s", "U", "u", "pu", "b", "a"],
        ),
        ("trade", &["e", "E", "T", "s", "t", "p", "q", "X", "m"]),
        (
            "aggTrade",
            &["e", "E", "s", "a", "p", "q", "f", "l", "T", "m"],
        ),
        ("bookTicker", &["e", "u", "s", "b", "B", "a", "A", "T", "E"]),
    ];
    for (market, expect) in [(Market::Spot, expect_spot), (Market::UsdM, expect_usdm)] {
        let v = venue(market, &["btcusdt"], 64);
        let mut f = feed(&v, &all, false, false);
        let mut seen = HashMap::new();
        let mut trade_ids = Vec::new();
        for (_, msg) in drain(&mut f, 400) {
            let m = parse(&msg);
            let e = m
                .get("e")
                .and_then(|e| e.as_str())
                .unwrap_or("")
                .to_string();
            let want = expect.iter().find(|x| x.0 == e).unwrap().1;
            assert_eq!(keys(&msg), want, "{}", String::from_utf8_lossy(&msg));
            assert_eq!(m["s"].as_str(), Some("BTCUSDT"));
            if e == "trade" {
                trade_ids.push(m["t"].as_u64().unwrap());
                assert_eq!(m["E"].as_u64(), Some(NOW / 1_000_000));
            }
            *seen.entry(e).or_insert(0) += 1;
        }
        assert_eq!(seen.len(), 4, "{seen:?}");
        assert!(
            trade_ids.windows(2).all(|w| w[1] == w[0] + 1),
            "{trade_ids:?}"
        );
    }
    // Number formats: spot prices carry 8 decimals, USD-M BTC 2 and quantities 3.
    let mut f = feed(
        &venue(Market::UsdM, &["btcusdt"], 64),
        &[StreamKind::BookTicker],
        false,
        false,
    );
    let (_, msg) = drain(&mut f, 100).remove(0);
    let m = parse(&msg);
    units(m["b"].as_str().unwrap(), 2);
    units(m["B"].as_str().unwrap(), 3);
}

#[test]
fn combined_envelope_and_probe_come_first() {
    let v = venue(Market::Spot, &["btcusdt"], 64);
    let mut f = feed(&v, &[StreamKind::Depth100ms], true, true);
    let (_, msg) = drain(&mut f, 100).remove(0);
    let text = String::from_utf8(msg.clone()).unwrap();
    assert!(
        text.starts_with(&format!(
            "{{\"ts\":{NOW},\"stream\":\"btcusdt@depth@100ms\",\"data\":{{\"e\":\"depthUpdate\",\"E\":{},",
            NOW / 1_000_000
        )),
        "{text}"
    );
    let m = parse(&msg);
    assert_eq!(keys(&msg), ["ts", "stream", "data"]);
    assert_eq!(m["data"]["s"].as_str(), Some("BTCUSDT"));
    // Raw stream with a probe; microsecond time unit.
    let mut f = Feed::new(
        v.clone(),
        FeedOptions {
            time_unit: TimeUnit::Microsecond,
            ..opts(false, true)
        },
        0,
    );
    f.subscribe_names(&["btcusdt@trade"]).unwrap();
    let (_, msg) = drain(&mut f, 200).remove(0);
    let m = parse(&msg);
    assert_eq!(keys(&msg)[..2], ["ts", "e"]);
    assert_eq!(m["E"].as_u64(), Some(NOW / 1_000));
}

#[test]
fn gap_fault_breaks_the_chain_exactly_once() {
    for market in [Market::Spot, Market::UsdM] {
        let v = venue(market, &["btcusdt"], 64);
        let mut f = feed(&v, &[StreamKind::Depth], false, false);
        let mut msgs = drain(&mut f, 100);
        f.inject_gap();
        msgs.extend(drain(&mut f, 400));
        let mut breaks = 0;
        let mut prev: Option<u64> = None;
        for (_, msg) in &msgs {
            let m = parse(msg);
            let (first, last) = (m["U"].as_u64().unwrap(), m["u"].as_u64().unwrap());
            if let Some(p) = prev {
                let linked = match market {
                    Market::Spot => first == p + 1,
                    Market::UsdM => m["pu"].as_u64() == Some(p),
                };
                breaks += usize::from(!linked);
            }
            prev = Some(last);
        }
        assert_eq!(breaks, 1);
        assert_eq!(f.gaps_made(), 1);
    }
}

#[test]
fn malformed_fault_cuts_exactly_one_message() {
    let v = venue(Market::Spot, &["btcusdt"], 64);
    let mut f = feed(&v, &[StreamKind::Trade, StreamKind::Depth], true, false);
    f.inject_malformed();
    let msgs = drain(&mut f, 200);
    let bad: Vec<_> = msgs
        .iter()
        .filter(|(_, m)| simd_json::to_owned_value(&mut m.clone()).is_err())
        .collect();
    assert_eq!(bad.len(), 1);
    assert!(std::str::from_utf8(&bad[0].1).is_ok());
    assert_eq!(f.malformed_made(), 1);
}

#[test]
fn same_seed_same_bytes() {
    let render = || {
        let v = venue(Market::UsdM, &["btcusdt", "foousdt"], 64);
        let mut f = feed(&v, &[StreamKind::Depth, StreamKind::Trade], true, false);
        drain(&mut f, 300)
    };
    assert_eq!(render(), render());
}

fn control(f: &mut Feed, req: &str) -> (ControlOutcome, OwnedValue) {
    let mut out = Vec::new();
    let outcome = f.handle_control(&mut req.as_bytes().to_vec(), &mut out);
    (outcome, parse(&out))
}

#[test]
fn control_protocol_acks_lists_and_refuses() {
    let v = venue(Market::Spot, &["btcusdt", "ethusdt"], 64);
    let mut f = Feed::new(v.clone(), opts(false, false), 0);
    let (o, r) = control(
        &mut f,
        r#"{"method":"SUBSCRIBE","params":["btcusdt@trade","ethusdt@depth@100ms"],"id":1}"#,
    );
    assert_eq!(o, ControlOutcome::Subscribed);
    assert_eq!(r.encode(), r#"{"result":null,"id":1}"#);
    let (_, r) = control(&mut f, r#"{"method":"LIST_SUBSCRIPTIONS","id":"abc"}"#);
    assert_eq!(r["id"].as_str(), Some("abc"));
    let list: Vec<&str> = r["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_eq!(list, ["btcusdt@trade", "ethusdt@depth@100ms"]);
    // A bad name refuses the whole request.
    let (o, r) = control(
        &mut f,
        r#"{"method":"SUBSCRIBE","params":["btcusdt@bookTicker","dogeusdt@trade"],"id":2}"#,
    );
    assert_eq!(o, ControlOutcome::Rejected);
    assert_eq!(r["code"].as_u64(), Some(2));
    assert_eq!(r["id"].as_u64(), Some(2));
    assert!(
        r["msg"]
            .as_str()
            .unwrap()
            .starts_with("Invalid request: unknown symbol: dogeusdt")
    );
    assert_eq!(f.subscriptions().len(), 2);
    for bad in [
        r#"{"method":"SUBSCRIBE","params":["BTCUSDT@trade"],"id":3}"#,
        r#"{"method":"SUBSCRIBE","params":["btcusdt@kline_1m"],"id":3}"#,
        r#"{"method":"SUBSCRIBE","params":[],"id":3}"#,
        r#"{"method":"SUBSCRIBE","params":[1],"id":3}"#,
        r#"{"method":"FLY","id":3}"#,
        r#"{"params":[],"id":3}"#,
    ] {
        let (o, r) = control(&mut f, bad);
        assert_eq!(o, ControlOutcome::Rejected, "{bad}");
        assert_eq!(
            (r["code"].as_u64(), r["id"].as_u64()),
            (Some(2), Some(3)),
            "{bad}"
        );
    }
    let (_, r) = control(
        &mut f,
        r#"{"method":"SUBSCRIBE","params":["btcusdt@trade"],"id":1.5}"#,
    );
    assert_eq!((r["code"].as_u64(), r["id"].is_null()), (Some(2), true));
    let (_, r) = control(&mut f, "{not json");
    assert_eq!(r["code"].as_u64(), Some(3));
    let (o, _) = control(
        &mut f,
        r#"{"method":"UNSUBSCRIBE","params":["btcusdt@trade"],"id":null}"#,
    );
    assert_eq!(o, ControlOutcome::Unsubscribed);
    assert_eq!(f.subscriptions().len(), 1);
    // Combined property.
    let (_, r) = control(
        &mut f,
        r#"{"method":"GET_PROPERTY","params":["combined"],"id":7}"#,
    );
    assert_eq!(r["result"].as_bool(), Some(false));
    control(
        &mut f,
        r#"{"method":"SET_PROPERTY","params":["combined",true],"id":8}"#,
    );
    assert!(f.options().combined);
    let (_, r) = control(
        &mut f,
        r#"{"method":"SET_PROPERTY","params":["combined","yes"],"id":9}"#,
    );
    assert_eq!(r["code"].as_u64(), Some(1));
}

#[test]
fn usdm_routes_split_streams_by_category() {
    let v = venue(Market::UsdM, &["btcusdt"], 64);
    let mut public = Feed::new(
        v.clone(),
        FeedOptions {
            route: Route::Public,
            ..opts(true, false)
        },
        0,
    );
    assert!(
        public
            .subscribe_names(&["btcusdt@depth@100ms", "btcusdt@bookTicker"])
            .is_ok()
    );
    assert_eq!(
        public.subscribe_names(&["btcusdt@aggTrade"]).unwrap_err().0,
        StreamError::WrongRoute
    );
    let mut market = Feed::new(
        v.clone(),
        FeedOptions {
            route: Route::Market,
            ..opts(true, false)
        },
        0,
    );
    assert!(
        market
            .subscribe_names(&["btcusdt@aggTrade", "btcusdt@trade"])
            .is_ok()
    );
    assert!(market.subscribe_names(&["btcusdt@depth"]).is_err());
    // Spot has no routes: everything is accepted anywhere.
    let s = venue(Market::Spot, &["btcusdt"], 64);
    let mut f = Feed::new(
        s,
        FeedOptions {
            route: Route::Public,
            ..opts(true, false)
        },
        0,
    );
    assert!(f.subscribe_names(&["btcusdt@trade"]).is_ok());
}

#[test]
fn venue_config_errors_are_typed() {
    let mut c = VenueConfig::new(Market::Spot);
    c.symbols = vec![];
    assert_eq!(Venue::new(&c).unwrap_err(), VenueError::NoSymbols);
    c.symbols = vec!["btc-usdt".into()];
    assert_eq!(Venue::new(&c).unwrap_err(), VenueError::BadSymbol);
    c.symbols = vec!["btcusdt".into(), "BTCUSDT".into()];
    assert_eq!(Venue::new(&c).unwrap_err(), VenueError::DuplicateSymbol);
    c.symbols = vec!["btcusdt".into()];
    c.tape_len = 10;
    assert_eq!(Venue::new(&c).unwrap_err(), VenueError::TapeTooShort);
}

/// FNV-1a of the first 20,000 messages (every stream kind of three symbols, combined, with
/// the probe) and of REST snapshots at several events, per market.
fn wire_digest(market: Market) -> u64 {
    let v = venue(market, &["BTCUSDT", "XRPUSDT", "ABCUSDT"], 512);
    let mut f = feed(&v, &StreamKind::ALL, true, true);
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    };
    let mut out = Vec::new();
    for i in 0..20_000u64 {
        out.clear();
        assert!(f.next_message(u64::MAX, NOW + i, &mut out));
        eat(&out);
    }
    for event in [0, 1, 2, 777, 5_000, 123_456] {
        for sym in 0..3 {
            out.clear();
            v.render_snapshot(sym, event, 1000, NOW / 1_000_000, &mut out);
            eat(&out);
        }
    }
    h
}

/// The venue-neutral core (feeds::sim) must leave Binance's wire output byte for byte as
/// it was: the digests are those of the Binance-only simulator before the split (commit
/// 571a0b0), computed by this same function there.
#[test]
fn wire_output_is_unchanged_by_the_venue_neutral_core() {
    assert_eq!(wire_digest(Market::Spot), GOLDEN_SPOT, "spot");
    assert_eq!(wire_digest(Market::UsdM), GOLDEN_USDM, "usdm");
}

const GOLDEN_SPOT: u64 = 0xb846_ab19_e30f_ae34;
const GOLDEN_USDM: u64 = 0xff66_e98e_2c78_fdc0;
