//! Decoding Kraken v2 messages into events: tickwire's hand scanner (in place: it never
//! writes to the frame) against serde_json (`RawValue`) and sonic-rs (`RawNumber`) into
//! equivalent structs with exact decimals read from the numbers' text, and, in the same run,
//! Binance's scanner on Binance's `depth10` (20 levels), for the per-level comparison (goal:
//! Kraken within 1.5x of Binance's scanner per level).
//!
//! The Kraken book messages are venues.md's worked example A (ETH/USD, 10 levels a side,
//! full-precision numbers) as a snapshot and as an update (an update's levels are also
//! reduced to one change per level, deletes first: part of the measured cost).
//!
//! `cargo bench -p tickwire-benches --bench decode_kraken`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use serde::Deserialize;
use tickwire_benches::binance_messages::depth10;
use tickwire_engine::{Decimal, Event, FeedAdapter, Registry};
use tickwire_feeds::binance::{self, BinanceAdapter, BinanceConfig, DepthSpeed};
use tickwire_feeds::kraken::{Channel, KrakenAdapter, KrakenConfig, Subscription};

const BIDS: &str = r#"[{"price":1797.24,"qty":0.43393711},{"price":1797.18,"qty":139.10616255},{"price":1797.13,"qty":139.10995927},{"price":1797.12,"qty":0.80386470},{"price":1797.07,"qty":139.11517673},{"price":1796.98,"qty":5.22282896},{"price":1796.97,"qty":12.17138476},{"price":1796.95,"qty":139.69390939},{"price":1796.88,"qty":4.21870000},{"price":1796.85,"qty":1.22932317}]"#;
const ASKS: &str = r#"[{"price":1797.25,"qty":1.40355852},{"price":1797.28,"qty":10.82400000},{"price":1797.29,"qty":139.09899871},{"price":1797.30,"qty":139.09783403},{"price":1797.37,"qty":139.09216827},{"price":1797.41,"qty":5.24638952},{"price":1797.42,"qty":0.01780330},{"price":1797.46,"qty":33.05700000},{"price":1797.48,"qty":3.11556555},{"price":1797.49,"qty":139.49306646}]"#;

fn book(typ: &str) -> Vec<u8> {
    format!(
        r#"{{"channel":"book","type":"{typ}","data":[{{"symbol":"ETH/USD","bids":{BIDS},"asks":{ASKS},"checksum":2606672715,"timestamp":"2025-05-06T10:00:00.000000Z"}}]}}"#
    )
    .into_bytes()
}

fn trade() -> Vec<u8> {
    br#"{"channel":"trade","type":"update","data":[{"symbol":"ETH/USD","side":"sell","price":1797.24,"qty":0.01000000,"ord_type":"market","trade_id":74593467,"timestamp":"2025-05-06T10:00:00.742599Z"}]}"#.to_vec()
}

#[allow(dead_code)]
#[derive(Deserialize)]
struct LevelJ<'a> {
    #[serde(borrow)]
    price: &'a serde_json::value::RawValue,
    #[serde(borrow)]
    qty: &'a serde_json::value::RawValue,
}

#[allow(dead_code)]
#[derive(Deserialize)]
struct BookJ<'a> {
    symbol: &'a str,
    #[serde(borrow)]
    bids: Vec<LevelJ<'a>>,
    #[serde(borrow)]
    asks: Vec<LevelJ<'a>>,
    checksum: u32,
    timestamp: &'a str,
}

#[allow(dead_code)]
#[derive(Deserialize)]
struct TradeJ<'a> {
    symbol: &'a str,
    side: &'a str,
    #[serde(borrow)]
    price: &'a serde_json::value::RawValue,
    #[serde(borrow)]
    qty: &'a serde_json::value::RawValue,
    ord_type: &'a str,
    trade_id: u64,
    timestamp: &'a str,
}

#[allow(dead_code)]
#[derive(Deserialize)]
struct LevelS {
    price: sonic_rs::RawNumber,
    qty: sonic_rs::RawNumber,
}

#[allow(dead_code)]
#[derive(Deserialize)]
struct BookS<'a> {
    symbol: &'a str,
    bids: Vec<LevelS>,
    asks: Vec<LevelS>,
    checksum: u32,
    timestamp: &'a str,
}

#[allow(dead_code)]
#[derive(Deserialize)]
struct TradeS<'a> {
    symbol: &'a str,
    side: &'a str,
    price: sonic_rs::RawNumber,
    qty: sonic_rs::RawNumber,
    ord_type: &'a str,
    trade_id: u64,
    timestamp: &'a str,
}

#[allow(dead_code)]
#[derive(Deserialize)]
struct Msg<'a, T> {
    channel: &'a str,
    #[serde(rename = "type")]
    typ: &'a str,
    data: Vec<T>,
}

fn dec(text: &str) -> Decimal {
    Decimal::parse(text.as_bytes()).unwrap()
}

fn bench(c: &mut Criterion) {
    let registry = Registry::new();
    let subs = Subscription::product(&["ETH/USD"], &[Channel::Trade, Channel::Book]);
    let mut kraken = KrakenAdapter::new(KrakenConfig::default(), &subs, &registry).unwrap();
    let bsubs = binance::Subscription::product(
        &["BTCUSDT"],
        &[
            binance::Channel::Trade,
            binance::Channel::Depth(DepthSpeed::Ms100),
        ],
    );
    let mut bn = BinanceAdapter::new(BinanceConfig::spot(), &bsubs, &registry).unwrap();
    let mut out: Vec<Event> = Vec::with_capacity(256);
    let mut g = c.benchmark_group("kraken");

    // Binance reference row, same run.
    let mut in_place = depth10();
    g.bench_function("binance-tickwire-in-place/depth10", |b| {
        b.iter(|| {
            out.clear();
            let f = bn.decode(black_box(&mut in_place), 1, &mut out);
            black_box((f.is_ok(), out.len()));
        })
    });

    for (name, msg, events) in [
        ("snapshot20", book("snapshot"), 20),
        ("update20", book("update"), 20),
        ("trade", trade(), 1),
    ] {
        let mut in_place = msg.clone();
        out.clear();
        kraken.decode(&mut in_place, 1, &mut out).unwrap();
        assert_eq!(out.len(), events, "{name}");
        g.bench_function(format!("tickwire-in-place/{name}"), |b| {
            b.iter(|| {
                out.clear();
                let f = kraken.decode(black_box(&mut in_place), 1, &mut out);
                black_box((f.is_ok(), out.len()));
            })
        });
        assert_eq!(
            in_place, msg,
            "{name}: the decoder left the frame as it was"
        );
        let is_trade = name == "trade";
        g.bench_function(format!("serde_json/{name}"), |b| {
            b.iter(|| {
                if is_trade {
                    let m: Msg<TradeJ> = serde_json::from_slice(black_box(&msg)).unwrap();
                    let t = &m.data[0];
                    black_box((dec(t.price.get()), dec(t.qty.get())));
                } else {
                    let m: Msg<BookJ> = serde_json::from_slice(black_box(&msg)).unwrap();
                    let mut n = 0;
                    for l in m.data[0].bids.iter().chain(&m.data[0].asks) {
                        black_box((dec(l.price.get()), dec(l.qty.get())));
                        n += 1;
                    }
                    black_box(n);
                }
            })
        });
        g.bench_function(format!("sonic-rs/{name}"), |b| {
            b.iter(|| {
                if is_trade {
                    let m: Msg<TradeS> = sonic_rs::from_slice(black_box(&msg)).unwrap();
                    let t = &m.data[0];
                    black_box((dec(t.price.as_str()), dec(t.qty.as_str())));
                } else {
                    let m: Msg<BookS> = sonic_rs::from_slice(black_box(&msg)).unwrap();
                    let mut n = 0;
                    for l in m.data[0].bids.iter().chain(&m.data[0].asks) {
                        black_box((dec(l.price.as_str()), dec(l.qty.as_str())));
                        n += 1;
                    }
                    black_box(n);
                }
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
