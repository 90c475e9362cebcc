//! Applying level changes to the L2 book: every diff level of the real spot capture on top
//! of its REST snapshot (5000-deep book), and synthetic changes near the top of a 1000-level
//! book; a `BTreeMap` book as the baseline. Per-level time = iteration time / levels.
//!
//! `cargo bench -p tickwire-benches --bench book`

use std::collections::BTreeMap;
use std::hint::black_box;
use std::io::BufReader;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use tickwire_engine::book::{Book, BookConfig};
use tickwire_engine::event::Side;
use tickwire_engine::{Decimal, Event, Registry};
use tickwire_feeds::binance::{Decoder, Symbols, TimeUnit, parse_depth_snapshot};
use tickwire_feeds::capture::CaptureReader;

struct Capture {
    snapshot: Vec<(Side, Decimal, Decimal)>,
    diffs: Vec<(Side, Decimal, Decimal)>,
}

fn spot_capture() -> Capture {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/binance_spot_btcusdt_20240808.gz");
    let path = if path.exists() {
        path
    } else {
        "/work/shared/data/binance_spot_btcusdt_20240808.gz".into()
    };
    let f = std::fs::File::open(path).unwrap();
    let mut r = CaptureReader::new(BufReader::new(flate2::read::GzDecoder::new(f)));
    let registry = Registry::new();
    let mut dec = Decoder::new(
        Symbols::interning("binance", registry.clone()),
        TimeUnit::Millisecond,
        false,
    );
    let mut snap_id = None;
    let mut cap = Capture {
        snapshot: Vec::new(),
        diffs: Vec::new(),
    };
    let mut out: Vec<Event> = Vec::new();
    while let Some(line) = r.next() {
        let line = line.unwrap();
        if line.frame.starts_with(b"{\"lastUpdateId\"") {
            let s = parse_depth_snapshot(
                line.frame,
                tickwire_engine::InstrumentId(0),
                TimeUnit::Millisecond,
            )
            .unwrap();
            snap_id = Some(s.last_id);
            cap.snapshot
                .extend(s.bids.iter().map(|&(p, q)| (Side::Buy, p, q)));
            cap.snapshot
                .extend(s.asks.iter().map(|&(p, q)| (Side::Sell, p, q)));
            continue;
        }
        out.clear();
        if dec.decode(line.frame, 0, &mut out).is_err() {
            continue;
        }
        for e in &out {
            if let (Some(l), Some(id)) = (e.as_level(), snap_id) {
                if l.seq > id {
                    cap.diffs.push((l.side, l.price, l.qty));
                }
            }
        }
    }
    cap
}

fn bench(c: &mut Criterion) {
    let cap = spot_capture();
    let mut base = Book::new(BookConfig::with_depth(5000));
    for &(s, p, q) in &cap.snapshot {
        base.apply(s, p, q).unwrap();
    }
    // As the feed does once a snapshot is installed (sizes the book's storage for it).
    base.set_valid(0);
    let ps = base.price_scale().unwrap();
    let qs = base.qty_scale().unwrap();
    let raw: Vec<(Side, i64, i64)> = cap
        .diffs
        .iter()
        .map(|&(s, p, q)| (s, p.mantissa_at(ps).unwrap(), q.mantissa_at(qs).unwrap()))
        .collect();
    let mut g = c.benchmark_group("book");
    g.throughput(Throughput::Elements(raw.len() as u64));
    g.bench_function(
        format!("spot capture, {} levels, mantissas", raw.len()),
        |b| {
            b.iter_batched_ref(
                || base.clone(),
                |book| {
                    for &(s, p, q) in &raw {
                        black_box(book.apply_mantissas(s, p, q).unwrap());
                    }
                },
                BatchSize::LargeInput,
            )
        },
    );
    g.bench_function(
        format!("spot capture, {} levels, decimals", raw.len()),
        |b| {
            b.iter_batched_ref(
                || base.clone(),
                |book| {
                    for &(s, p, q) in &cap.diffs {
                        black_box(book.apply(s, p, q).unwrap());
                    }
                },
                BatchSize::LargeInput,
            )
        },
    );
    // Baseline: the same changes on BTreeMaps (no depth bound).
    let mut tb: (BTreeMap<i64, i64>, BTreeMap<i64, i64>) = Default::default();
    for &(s, p, q) in &cap.snapshot {
        let m = if s == Side::Buy { &mut tb.0 } else { &mut tb.1 };
        m.insert(p.mantissa_at(ps).unwrap(), q.mantissa_at(qs).unwrap());
    }
    g.bench_function(
        format!("spot capture, {} levels, BTreeMap baseline", raw.len()),
        |b| {
            b.iter_batched_ref(
                || tb.clone(),
                |(bids, asks)| {
                    for &(s, p, q) in &raw {
                        let m = if s == Side::Buy {
                            &mut *bids
                        } else {
                            &mut *asks
                        };
                        if q == 0 {
                            m.remove(&p);
                        } else {
                            m.insert(p, q);
                        }
                    }
                    black_box((bids.last_key_value(), asks.first_key_value()));
                },
                BatchSize::LargeInput,
            )
        },
    );
    // Near the top of a 1000-level book: updates, deletes and re-inserts within 10 ticks.
    let mut top = Book::new(BookConfig::with_depth(1000));
    for i in 0..1000 {
        top.apply_mantissas(Side::Buy, 100_000 - i, 5).unwrap();
        top.apply_mantissas(Side::Sell, 100_001 + i, 5).unwrap();
    }
    let ops: Vec<(Side, i64, i64)> = (0..4096i64)
        .map(|i| {
            let side = if i % 2 == 0 { Side::Buy } else { Side::Sell };
            let off = (i * 7919) % 10;
            let price = if side == Side::Buy {
                100_000 - off
            } else {
                100_001 + off
            };
            // Every third change deletes; the next change at that price re-inserts it.
            (side, price, if i % 3 == 0 { 0 } else { 1 + i % 9 })
        })
        .collect();
    g.throughput(Throughput::Elements(ops.len() as u64));
    g.bench_function("near top, 4096 levels", |b| {
        b.iter_batched_ref(
            || top.clone(),
            |book| {
                for &(s, p, q) in &ops {
                    black_box(book.apply_mantissas(s, p, q).unwrap());
                }
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
