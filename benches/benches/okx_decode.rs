//! Decoding one OKX message into normalized values: tickwire's OKX adapter (hand scanner,
//! exact decimals into events) against serde baselines (serde_json, sonic-rs) that parse into
//! an equivalent struct with exact decimals, and Binance's adapter on its depth10 message
//! (20 levels, as the OKX book message here) in the same run, for the per-level comparison.
//!
//! `cargo bench -p tickwire-benches --bench okx_decode`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use serde::Deserialize;
use serde::de::{Deserializer, Error as _, Visitor};
use tickwire_benches::binance_messages::depth10;
use tickwire_benches::binance_messages::okx::books10;
use tickwire_engine::{Decimal, Event, FeedAdapter, Registry};
use tickwire_feeds::binance::{BinanceAdapter, BinanceConfig, DepthSpeed};
use tickwire_feeds::okx::{Channel, OkxAdapter, OkxConfig, Subscription};

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

#[allow(dead_code, non_snake_case)]
#[derive(Deserialize)]
struct Arg<'a> {
    channel: &'a str,
    instId: &'a str,
}

#[allow(dead_code, non_snake_case)]
#[derive(Deserialize)]
struct BookData<'a> {
    #[serde(borrow)]
    asks: Vec<(Dec, Dec, &'a str, &'a str)>,
    #[serde(borrow)]
    bids: Vec<(Dec, Dec, &'a str, &'a str)>,
    ts: &'a str,
    checksum: i64,
    prevSeqId: i64,
    seqId: u64,
}

#[allow(dead_code)]
#[derive(Deserialize)]
struct BookMsg<'a> {
    #[serde(borrow)]
    arg: Arg<'a>,
    action: &'a str,
    #[serde(borrow)]
    data: Vec<BookData<'a>>,
}

#[allow(dead_code, non_snake_case)]
#[derive(Deserialize)]
struct TradeData<'a> {
    instId: &'a str,
    tradeId: &'a str,
    px: Dec,
    sz: Dec,
    side: &'a str,
    ts: &'a str,
    count: &'a str,
}

#[allow(dead_code)]
#[derive(Deserialize)]
struct TradeMsg<'a> {
    #[serde(borrow)]
    arg: Arg<'a>,
    #[serde(borrow)]
    data: Vec<TradeData<'a>>,
}

fn trade() -> Vec<u8> {
    br#"{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[{"instId":"BTC-USDT","tradeId":"130639474","px":"42219.9","sz":"0.12060306","side":"buy","ts":"1630048897897","count":"3"}]}"#.to_vec()
}

fn bench(c: &mut Criterion) {
    let registry = Registry::new();
    let subs = Subscription::product(&["BTC-USDT"], &[Channel::Books, Channel::Trades]);
    let mut okx = OkxAdapter::new(OkxConfig::default(), &subs, &registry).unwrap();
    let bsubs = tickwire_feeds::binance::Subscription::product(
        &["BTCUSDT"],
        &[tickwire_feeds::binance::Channel::Depth(DepthSpeed::Ms100)],
    );
    let mut binance = BinanceAdapter::new(BinanceConfig::spot(), &bsubs, &registry).unwrap();
    let mut out: Vec<Event> = Vec::with_capacity(64);
    let mut scratch: Vec<u8> = Vec::with_capacity(4096);
    let mut g = c.benchmark_group("okx_decode");
    let depth = depth10();
    scratch.extend_from_slice(&depth);
    binance.decode(&mut scratch, 1, &mut out).unwrap();
    assert_eq!(out.len(), 20);
    g.bench_function("tickwire-binance/depth10", |b| {
        b.iter(|| {
            scratch.clear();
            scratch.extend_from_slice(black_box(&depth));
            out.clear();
            let f = binance.decode(&mut scratch, 1, &mut out);
            black_box((f.is_ok(), out.len()));
        })
    });
    for (name, msg, events) in [("books10", books10(), 20), ("trade", trade(), 1)] {
        scratch.clear();
        scratch.extend_from_slice(&msg);
        out.clear();
        okx.decode(&mut scratch, 1, &mut out).unwrap();
        assert_eq!(out.len(), events);
        g.bench_function(format!("tickwire-okx/{name}"), |b| {
            b.iter(|| {
                scratch.clear();
                scratch.extend_from_slice(black_box(&msg));
                out.clear();
                let f = okx.decode(&mut scratch, 1, &mut out);
                black_box((f.is_ok(), out.len()));
            })
        });
        g.bench_function(format!("serde_json/{name}"), |b| {
            b.iter(|| {
                if name == "trade" {
                    let m: TradeMsg = serde_json::from_slice(black_box(&msg)).unwrap();
                    black_box(m.data.len());
                } else {
                    let m: BookMsg = serde_json::from_slice(black_box(&msg)).unwrap();
                    black_box(m.data[0].bids.len());
                }
            })
        });
        g.bench_function(format!("sonic-rs/{name}"), |b| {
            b.iter(|| {
                if name == "trade" {
                    let m: TradeMsg = sonic_rs::from_slice(black_box(&msg)).unwrap();
                    black_box(m.data.len());
                } else {
                    let m: BookMsg = sonic_rs::from_slice(black_box(&msg)).unwrap();
                    black_box(m.data[0].bids.len());
                }
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
