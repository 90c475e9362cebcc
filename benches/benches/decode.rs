//! Decoding one Binance message into normalized values: tickwire's adapter (hand scanner
//! fast path; and with it off, the simd-json tape walk), exact decimals into events, against serde baselines (serde_json, sonic-rs, simd-json serde)
//! that parse into an equivalent struct, also with exact decimals. Every variant starts from
//! the same bytes; the in-place parsers (tickwire, simd-json serde) copy them into a reused
//! scratch buffer first, inside the measurement.
//!
//! `cargo bench -p tickwire-benches --bench decode`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use serde::Deserialize;
use serde::de::{Deserializer, Error as _, Visitor};
use tickwire_benches::binance_messages::{MDLOAD_LEVELS, depth_mdload, depth10, trade};
use tickwire_engine::{Decimal, Event, FeedAdapter, Registry};
use tickwire_feeds::binance::{BinanceAdapter, BinanceConfig, Channel, DepthSpeed, Subscription};

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
struct Depth<'a> {
    e: &'a str,
    E: u64,
    s: &'a str,
    U: u64,
    u: u64,
    b: Vec<(Dec, Dec)>,
    a: Vec<(Dec, Dec)>,
}

/// mdload's depth message: not enveloped, send time first.
#[allow(dead_code, non_snake_case)]
#[derive(Deserialize)]
struct DepthTs<'a> {
    ts: u64,
    e: &'a str,
    E: u64,
    s: &'a str,
    U: u64,
    u: u64,
    b: Vec<(Dec, Dec)>,
    a: Vec<(Dec, Dec)>,
}

#[allow(dead_code, non_snake_case)]
#[derive(Deserialize)]
struct TradeMsg<'a> {
    e: &'a str,
    E: u64,
    s: &'a str,
    t: u64,
    p: Dec,
    q: Dec,
    T: u64,
    m: bool,
    M: bool,
}

#[allow(dead_code)]
#[derive(Deserialize)]
struct Envelope<'a, T> {
    stream: &'a str,
    data: T,
}

fn bench(c: &mut Criterion) {
    let registry = Registry::new();
    let subs = Subscription::product(
        &["BTCUSDT"],
        &[Channel::Trade, Channel::Depth(DepthSpeed::Ms100)],
    );
    // Plain Binance (spot config) and mdload's feed (latency probe on, as `tickwire bench`
    // runs it), each with the hand scanner and with the simd-json tape only.
    let make = |fast_scan: bool, latency_probe: bool| {
        let mut config = BinanceConfig::spot();
        config.fast_scan = fast_scan;
        config.latency_probe = latency_probe;
        BinanceAdapter::new(config, &subs, &registry).unwrap()
    };
    let mut out: Vec<Event> = Vec::with_capacity(64);
    let mut scratch: Vec<u8> = Vec::with_capacity(4096);
    let mut buffers = simd_json::Buffers::new(4096);
    let mut g = c.benchmark_group("decode");
    for (name, msg, events) in [
        ("depth10", depth10(), 20),
        ("trade", trade(), 1),
        ("depth-mdload", depth_mdload(), 2 * MDLOAD_LEVELS),
    ] {
        let probe = name == "depth-mdload";
        let mut adapter = make(true, probe);
        let mut tape_only = make(false, probe);
        // Sanity: both paths read the message, and the scanner answers for it.
        for a in [&mut adapter, &mut tape_only] {
            scratch.clear();
            scratch.extend_from_slice(&msg);
            out.clear();
            a.decode(&mut scratch, 1, &mut out).unwrap();
            assert_eq!(out.len(), events);
        }
        assert_eq!(adapter.decoder().hot_path_frames(), 1, "{name}: hot path");
        g.bench_function(format!("tickwire/{name}"), |b| {
            b.iter(|| {
                scratch.clear();
                scratch.extend_from_slice(black_box(&msg));
                out.clear();
                let f = adapter.decode(&mut scratch, 1, &mut out);
                black_box((f.is_ok(), out.len()));
            })
        });
        // As the engine runs it: the frame decoded where it lies, no copy (the hot path
        // does not write to it; checked below), like the serde_json and sonic-rs rows.
        let mut in_place = msg.clone();
        let hot_before = adapter.decoder().hot_path_frames();
        g.bench_function(format!("tickwire-in-place/{name}"), |b| {
            b.iter(|| {
                out.clear();
                let f = adapter.decode(black_box(&mut in_place), 1, &mut out);
                black_box((f.is_ok(), out.len()));
            })
        });
        let decoded = adapter.decoder().hot_path_frames() - hot_before;
        assert_eq!(
            in_place, msg,
            "{name}: the hot path left the frame as it was"
        );
        // Every frame this adapter decoded took the hot path.
        assert_eq!(
            adapter.decode_stats().frames,
            adapter.decoder().hot_path_frames()
        );
        assert!(decoded > 0);
        g.bench_function(format!("tickwire-simd-json-tape/{name}"), |b| {
            b.iter(|| {
                scratch.clear();
                scratch.extend_from_slice(black_box(&msg));
                out.clear();
                let f = tape_only.decode(&mut scratch, 1, &mut out);
                black_box((f.is_ok(), out.len()));
            })
        });
        g.bench_function(format!("serde_json/{name}"), |b| {
            b.iter(|| match name {
                "trade" => {
                    let m: Envelope<TradeMsg> = serde_json::from_slice(black_box(&msg)).unwrap();
                    black_box(m.data.t);
                }
                "depth10" => {
                    let m: Envelope<Depth> = serde_json::from_slice(black_box(&msg)).unwrap();
                    black_box(m.data.b.len());
                }
                _ => {
                    let m: DepthTs = serde_json::from_slice(black_box(&msg)).unwrap();
                    black_box(m.b.len());
                }
            })
        });
        g.bench_function(format!("sonic-rs/{name}"), |b| {
            b.iter(|| match name {
                "trade" => {
                    let m: Envelope<TradeMsg> = sonic_rs::from_slice(black_box(&msg)).unwrap();
                    black_box(m.data.t);
                }
                "depth10" => {
                    let m: Envelope<Depth> = sonic_rs::from_slice(black_box(&msg)).unwrap();
                    black_box(m.data.b.len());
                }
                _ => {
                    let m: DepthTs = sonic_rs::from_slice(black_box(&msg)).unwrap();
                    black_box(m.b.len());
                }
            })
        });
        g.bench_function(format!("simd-json-serde/{name}"), |b| {
            b.iter(|| {
                scratch.clear();
                scratch.extend_from_slice(black_box(&msg));
                let bufs = &mut buffers;
                match name {
                    "trade" => {
                        let m: Envelope<TradeMsg> =
                            simd_json::serde::from_slice_with_buffers(&mut scratch, bufs).unwrap();
                        black_box(m.data.t);
                    }
                    "depth10" => {
                        let m: Envelope<Depth> =
                            simd_json::serde::from_slice_with_buffers(&mut scratch, bufs).unwrap();
                        black_box(m.data.b.len());
                    }
                    _ => {
                        let m: DepthTs =
                            simd_json::serde::from_slice_with_buffers(&mut scratch, bufs).unwrap();
                        black_box(m.b.len());
                    }
                }
            })
        });
    }
    g.finish();
    let mut g = c.benchmark_group("decimal");
    let texts: Vec<&[u8]> = vec![
        b"61837.63000000",
        b"0.02000000",
        b"3.78826000",
        b"61862.51000000",
    ];
    g.bench_function("parse x4", |b| {
        b.iter(|| {
            for t in &texts {
                black_box(Decimal::parse(black_box(t)).unwrap());
            }
        })
    });
    g.bench_function("parse_slow x4", |b| {
        b.iter(|| {
            for t in &texts {
                black_box(Decimal::parse_slow(black_box(t)).unwrap());
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
