//! Decoding Coinbase Advanced Trade messages into events: tickwire's hand scanner (in place:
//! it never writes to the frame) against serde_json and sonic-rs into equivalent structs
//! with exact decimals, and, in the same run, Binance's scanner on Binance's `depth10` (20
//! levels), for the per-level comparison (goal: Coinbase within 1.5x of Binance's scanner
//! per level). Coinbase's levels are objects (`side`, `event_time`, `price_level`,
//! `new_quantity`, about 110 bytes) where Binance's are `["p","q"]` pairs (about 30).
//!
//! `cargo bench -p tickwire-benches --bench decode_coinbase`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use serde::Deserialize;
use serde::de::{Deserializer, Error as _, Visitor};
use tickwire_benches::binance_messages::depth10;
use tickwire_engine::{Decimal, Event, FeedAdapter, Registry};
use tickwire_feeds::binance::{self, BinanceAdapter, BinanceConfig, DepthSpeed};
use tickwire_feeds::coinbase::{Channel, CoinbaseAdapter, CoinbaseConfig, Subscription};

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
struct Update<'a> {
    side: &'a str,
    event_time: &'a str,
    price_level: Dec,
    new_quantity: Dec,
}

#[allow(dead_code)]
#[derive(Deserialize)]
struct L2Event<'a> {
    #[serde(rename = "type")]
    typ: &'a str,
    product_id: &'a str,
    #[serde(borrow)]
    updates: Vec<Update<'a>>,
}

#[allow(dead_code)]
#[derive(Deserialize)]
struct Trade<'a> {
    trade_id: &'a str,
    product_id: &'a str,
    price: Dec,
    size: Dec,
    side: &'a str,
    time: &'a str,
}

#[allow(dead_code)]
#[derive(Deserialize)]
struct TradeEvent<'a> {
    #[serde(rename = "type")]
    typ: &'a str,
    #[serde(borrow)]
    trades: Vec<Trade<'a>>,
}

#[allow(dead_code)]
#[derive(Deserialize)]
struct Envelope<'a, T> {
    channel: &'a str,
    client_id: &'a str,
    timestamp: &'a str,
    sequence_num: u64,
    events: Vec<T>,
}

/// An `l2_data` message of `levels` updates (half bids, half offers), prices like
/// BTC-USD's.
fn l2(typ: &str, levels: usize) -> Vec<u8> {
    let u: Vec<String> = (0..levels)
        .map(|i| {
            let (side, p) = if i % 2 == 0 {
                ("bid", 6_890_000 - i)
            } else {
                ("offer", 6_890_100 + i)
            };
            format!(
                r#"{{"side":"{side}","event_time":"2026-04-07T14:30:00.123456Z","price_level":"{}.{:02}","new_quantity":"{}.{:08}"}}"#,
                p / 100,
                p % 100,
                i % 7,
                (i * 7919) % 100_000_000
            )
        })
        .collect();
    format!(
        r#"{{"channel":"l2_data","client_id":"","timestamp":"2026-04-07T14:30:00.123456Z","sequence_num":1234567,"events":[{{"type":"{typ}","product_id":"BTC-USD","updates":[{}]}}]}}"#,
        u.join(",")
    )
    .into_bytes()
}

fn trade() -> Vec<u8> {
    br#"{"channel":"market_trades","client_id":"","timestamp":"2026-04-07T14:30:02.789012Z","sequence_num":5,"events":[{"type":"update","trades":[{"trade_id":"995098700","product_id":"BTC-USD","price":"68900.50","size":"0.00150000","side":"BUY","time":"2026-04-07T14:30:02.789012Z"}]}]}"#.to_vec()
}

fn bench(c: &mut Criterion) {
    let registry = Registry::new();
    let subs = Subscription::product(&["BTC-USD".to_owned()], &[Channel::Trades, Channel::Level2]);
    let mut cb = CoinbaseAdapter::new(CoinbaseConfig::default(), &subs, &registry).unwrap();
    let bsubs = binance::Subscription::product(
        &["BTCUSDT"],
        &[
            binance::Channel::Trade,
            binance::Channel::Depth(DepthSpeed::Ms100),
        ],
    );
    let mut bn = BinanceAdapter::new(BinanceConfig::spot(), &bsubs, &registry).unwrap();
    let mut out: Vec<Event> = Vec::with_capacity(4096);
    let mut g = c.benchmark_group("coinbase");

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
        ("update20", l2("update", 20), 20),
        ("snapshot1000", l2("snapshot", 1000), 1000),
        ("trade", trade(), 1),
    ] {
        let mut in_place = msg.clone();
        out.clear();
        cb.decode(&mut in_place, 1, &mut out).unwrap();
        assert_eq!(out.len(), events, "{name}");
        g.bench_function(format!("tickwire-in-place/{name}"), |b| {
            b.iter(|| {
                out.clear();
                let f = cb.decode(black_box(&mut in_place), 1, &mut out);
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
                    let m: Envelope<TradeEvent> = serde_json::from_slice(black_box(&msg)).unwrap();
                    black_box(m.events.len());
                } else {
                    let m: Envelope<L2Event> = serde_json::from_slice(black_box(&msg)).unwrap();
                    black_box(m.events[0].updates.len());
                }
            })
        });
        g.bench_function(format!("sonic-rs/{name}"), |b| {
            b.iter(|| {
                if is_trade {
                    let m: Envelope<TradeEvent> = sonic_rs::from_slice(black_box(&msg)).unwrap();
                    black_box(m.events.len());
                } else {
                    let m: Envelope<L2Event> = sonic_rs::from_slice(black_box(&msg)).unwrap();
                    black_box(m.events[0].updates.len());
                }
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
