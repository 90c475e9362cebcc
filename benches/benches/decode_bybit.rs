//! Decoding Bybit messages into events: tickwire's hand scanner (in place: it never writes
//! to the frame) against serde_json and sonic-rs into equivalent structs with exact decimals,
//! and, in the same run, Binance's scanner and Binance's simd-json tape path on Binance's
//! `depth10` (the same level strings), for the per-level comparison (goal: Bybit within
//! 1.5x of Binance's scanner per level).
//!
//! `cargo bench -p tickwire-benches --bench decode_bybit`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use serde::Deserialize;
use serde::de::{Deserializer, Error as _, Visitor};
use tickwire_benches::binance_messages::{bybit, depth10};
use tickwire_engine::{Decimal, Event, FeedAdapter, Registry};
use tickwire_feeds::binance::{self, BinanceAdapter, BinanceConfig, DepthSpeed};
use tickwire_feeds::bybit::{BybitAdapter, BybitConfig, Channel, Depth, Market, Subscription};

/// Exact decimal from a JSON string, for the serde baselines.
#[derive(Clone, Copy, Debug)]
struct Dec(#[allow(dead_code)] Decimal);

impl<'de> Deserialize<'de> for Dec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Dec, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Dec;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a decimal string")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Dec, E> {
                Decimal::parse(s.as_bytes())
                    .map(Dec)
                    .map_err(|_| E::custom("decimal"))
            }
        }
        d.deserialize_str(V).map_err(D::Error::custom)
    }
}

#[allow(dead_code)]
#[derive(Deserialize)]
struct BookData<'a> {
    s: &'a str,
    b: Vec<(Dec, Dec)>,
    a: Vec<(Dec, Dec)>,
    u: u64,
    seq: u64,
}

#[allow(dead_code, non_snake_case)]
#[derive(Deserialize)]
struct TradeData<'a> {
    T: u64,
    s: &'a str,
    S: &'a str,
    v: Dec,
    p: Dec,
    i: &'a str,
}

#[allow(dead_code)]
#[derive(Deserialize)]
struct Msg<'a, T> {
    topic: &'a str,
    #[serde(rename = "type")]
    typ: &'a str,
    ts: u64,
    data: T,
}

fn bench(c: &mut Criterion) {
    let registry = Registry::new();
    let subs = Subscription::product(&["BTCUSDT"], &[Channel::Trade, Channel::Book(Depth::L50)]);
    let mut linear =
        BybitAdapter::new(BybitConfig::for_market(Market::Linear), &subs, &registry).unwrap();
    let mut spot =
        BybitAdapter::new(BybitConfig::for_market(Market::Spot), &subs, &registry).unwrap();
    let bsubs = binance::Subscription::product(
        &["BTCUSDT"],
        &[
            binance::Channel::Trade,
            binance::Channel::Depth(DepthSpeed::Ms100),
        ],
    );
    let make = |fast: bool| {
        let mut config = BinanceConfig::spot();
        config.fast_scan = fast;
        BinanceAdapter::new(config, &bsubs, &registry).unwrap()
    };
    let (mut bn, mut bn_tape) = (make(true), make(false));
    let mut out: Vec<Event> = Vec::with_capacity(256);
    let mut scratch: Vec<u8> = Vec::with_capacity(8192);
    let mut g = c.benchmark_group("bybit");

    // Binance reference rows, same run.
    let msg = depth10();
    let mut in_place = msg.clone();
    g.bench_function("binance-tickwire-in-place/depth10", |b| {
        b.iter(|| {
            out.clear();
            let f = bn.decode(black_box(&mut in_place), 1, &mut out);
            black_box((f.is_ok(), out.len()));
        })
    });
    g.bench_function("binance-simd-json-tape/depth10", |b| {
        b.iter(|| {
            scratch.clear();
            scratch.extend_from_slice(black_box(&msg));
            out.clear();
            let f = bn_tape.decode(&mut scratch, 1, &mut out);
            black_box((f.is_ok(), out.len()));
        })
    });

    for (name, msg, events) in [
        ("depth10", bybit::depth10(), 20),
        ("snapshot50", bybit::snapshot50(), 100),
        ("trade", bybit::trade(), 1),
        ("trade-spot", bybit::trade_spot(), 1),
    ] {
        let adapter = if name == "trade-spot" {
            &mut spot
        } else {
            &mut linear
        };
        let mut in_place = msg.clone();
        out.clear();
        adapter.decode(&mut in_place, 1, &mut out).unwrap();
        assert_eq!(out.len(), events, "{name}");
        g.bench_function(format!("tickwire-in-place/{name}"), |b| {
            b.iter(|| {
                out.clear();
                let f = adapter.decode(black_box(&mut in_place), 1, &mut out);
                black_box((f.is_ok(), out.len()));
            })
        });
        assert_eq!(
            in_place, msg,
            "{name}: the decoder left the frame as it was"
        );
        let trade = name.starts_with("trade");
        g.bench_function(format!("serde_json/{name}"), |b| {
            b.iter(|| {
                if trade {
                    let m: Msg<Vec<TradeData>> = serde_json::from_slice(black_box(&msg)).unwrap();
                    black_box(m.data.len());
                } else {
                    let m: Msg<BookData> = serde_json::from_slice(black_box(&msg)).unwrap();
                    black_box(m.data.b.len());
                }
            })
        });
        g.bench_function(format!("sonic-rs/{name}"), |b| {
            b.iter(|| {
                if trade {
                    let m: Msg<Vec<TradeData>> = sonic_rs::from_slice(black_box(&msg)).unwrap();
                    black_box(m.data.len());
                } else {
                    let m: Msg<BookData> = sonic_rs::from_slice(black_box(&msg)).unwrap();
                    black_box(m.data.b.len());
                }
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
