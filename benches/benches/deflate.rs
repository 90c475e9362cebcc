//! permessage-deflate (RFC 7692): what inflating costs per message, by backend, on real
//! Binance depth messages, and how many bytes it saves on the two Binance captures.
//!
//! The messages are the `depthUpdate` frames of `shared/data/binance_spot_btcusdt_20240808.gz`
//! (the first 2,000, about 1 KiB each), compressed as a server's zlib does (level 6, raw
//! deflate, sync flush, the `00 00 ff ff` tail stripped): with context takeover (one stream,
//! the RFC's default) and without (`server_no_context_takeover`, a fresh stream a message).
//!
//! - `engine_decoder`: tickwire's `ws::Decoder` with deflate on, whole frames in, inflated
//!   messages lent out (header checks, inflate, UTF-8): what a connection pays.
//! - `engine_decoder_plain`: the same messages uncompressed through the same decoder, for
//!   scale (the path a connection without deflate takes).
//! - `flate2_zlib_rs`: flate2's `Decompress` with the zlib-rs backend (what the engine
//!   uses), the payload then the tail, into a reused buffer.
//! - `miniz_oxide`: miniz_oxide's streaming inflater (flate2's default backend) called
//!   directly, the same way.
//!
//! libdeflater is not here: it cannot stream (no inflate across messages, so no context
//! takeover) and is not in the offline registry. Measured apart, see the README.
//!
//! Before the groups run, the bandwidth table is printed: payload bytes of every WebSocket
//! frame in each capture, raw and compressed, with and without context takeover.

use std::hint::black_box;
use std::io::{BufRead, BufReader};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use tickwire_engine::ws::{Decoder, DeflateParams, Frame, Limits, OpCode, Role, encode_frame};

const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];
/// Depth messages inflated per iteration.
const N: usize = 2000;

fn capture(name: &str) -> Vec<Vec<u8>> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data")
        .join(name);
    let path = if path.exists() {
        path
    } else {
        std::path::Path::new("/work/shared/data").join(name)
    };
    let f = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    BufReader::new(flate2::read::GzDecoder::new(f))
        .lines()
        .map_while(Result::ok)
        // `<receive ns> <frame>`; the one REST snapshot line is not a WebSocket frame.
        .filter_map(|l| l.split_once(' ').map(|(_, m)| m.to_string()))
        .filter(|m| m.starts_with("{\"stream\""))
        .map(String::into_bytes)
        .collect()
}

/// Compresses each message as a permessage-deflate sender does.
fn compress(msgs: &[Vec<u8>], takeover: bool) -> Vec<Vec<u8>> {
    let mut z = Compress::new(Compression::default(), false);
    msgs.iter()
        .map(|m| {
            if !takeover {
                z.reset();
            }
            let mut out = Vec::with_capacity(m.len() + 64);
            let start = z.total_in();
            loop {
                let done = (z.total_in() - start) as usize;
                if out.len() == out.capacity() {
                    out.reserve(4096);
                }
                z.compress_vec(&m[done..], &mut out, FlushCompress::Sync)
                    .unwrap();
                if (z.total_in() - start) as usize == m.len() && out.len() < out.capacity() {
                    break;
                }
            }
            assert!(out.ends_with(&TAIL));
            out.truncate(out.len() - 4);
            out
        })
        .collect()
}

fn bandwidth() {
    println!("permessage-deflate bandwidth (payload bytes of every frame, zlib level 6):");
    for name in [
        "binance_spot_btcusdt_20240808.gz",
        "binance_usdm_btcusdt_20240808.gz",
    ] {
        let msgs = capture(name);
        let raw: usize = msgs.iter().map(Vec::len).sum();
        let on: usize = compress(&msgs, true).iter().map(Vec::len).sum();
        let off: usize = compress(&msgs, false).iter().map(Vec::len).sum();
        println!(
            "  {name}: {} frames, raw {raw} B; context takeover {on} B ({:.1}% of raw, {:.2}x); \
             no context takeover {off} B ({:.1}%, {:.2}x)",
            msgs.len(),
            100.0 * on as f64 / raw as f64,
            raw as f64 / on as f64,
            100.0 * off as f64 / raw as f64,
            raw as f64 / off as f64,
        );
    }
}

fn bench(c: &mut Criterion) {
    bandwidth();
    let depth: Vec<Vec<u8>> = capture("binance_spot_btcusdt_20240808.gz")
        .into_iter()
        .filter(|m| m.windows(13).any(|w| w == b"\"depthUpdate\""))
        .take(N)
        .collect();
    assert_eq!(depth.len(), N);
    let raw: usize = depth.iter().map(Vec::len).sum();
    println!(
        "inflate bench: {N} spot depth messages, {} B on average",
        raw / N
    );

    let mut g = c.benchmark_group("inflate_depth");
    g.throughput(Throughput::Elements(N as u64));

    // Uncompressed, through the same decoder: the cost deflate adds to.
    let mut plain = Vec::new();
    for m in &depth {
        encode_frame(&mut plain, OpCode::Text, true, m, None);
    }
    let mut dec = Decoder::new(Role::Client, Limits::default());
    g.bench_function("engine_decoder_plain", |b| {
        b.iter(|| decode_all(&mut dec, &mut plain, raw))
    });

    for takeover in [true, false] {
        let label = if takeover { "takeover" } else { "no_takeover" };
        let packed = compress(&depth, takeover);
        let mut frames = Vec::new();
        for p in &packed {
            let at = frames.len();
            encode_frame(&mut frames, OpCode::Text, true, p, None);
            frames[at] |= 0x40;
        }
        let mut dec = Decoder::new(Role::Client, Limits::default());
        dec.set_deflate(Some(DeflateParams {
            server_max_window_bits: 15,
            client_max_window_bits: 15,
            server_no_context_takeover: !takeover,
            client_no_context_takeover: false,
        }));
        g.bench_function(format!("engine_decoder/{label}"), |b| {
            b.iter(|| {
                // A new session: the stream starts over (memory kept).
                dec.reset();
                decode_all(&mut dec, &mut frames, raw)
            })
        });

        let mut z = Decompress::new(false);
        let mut out = Vec::with_capacity(1 << 16);
        g.bench_function(format!("flate2_zlib_rs/{label}"), |b| {
            b.iter(|| {
                z.reset(false);
                let mut total = 0;
                for p in &packed {
                    if !takeover {
                        z.reset(false);
                    }
                    out.clear();
                    z.decompress_vec(p, &mut out, FlushDecompress::Sync)
                        .unwrap();
                    z.decompress_vec(&TAIL, &mut out, FlushDecompress::Sync)
                        .unwrap();
                    total += black_box(&out).len();
                }
                assert_eq!(total, raw);
            })
        });

        let mut st =
            miniz_oxide::inflate::stream::InflateState::new_boxed(miniz_oxide::DataFormat::Raw);
        let mut out = vec![0u8; 1 << 16];
        g.bench_function(format!("miniz_oxide/{label}"), |b| {
            b.iter(|| {
                st.reset(miniz_oxide::DataFormat::Raw);
                let mut total = 0;
                for p in &packed {
                    if !takeover {
                        st.reset(miniz_oxide::DataFormat::Raw);
                    }
                    let flush = miniz_oxide::MZFlush::Sync;
                    let r = miniz_oxide::inflate::stream::inflate(&mut st, p, &mut out, flush);
                    let r2 = miniz_oxide::inflate::stream::inflate(
                        &mut st,
                        &TAIL,
                        &mut out[r.bytes_written..],
                        flush,
                    );
                    total += black_box(&out[..r.bytes_written + r2.bytes_written]).len();
                }
                assert_eq!(total, raw);
            })
        });
    }
    g.finish();
}

/// Decodes every frame in `frames`; checks the inflated bytes add up.
fn decode_all(dec: &mut Decoder, frames: &mut [u8], raw: usize) {
    let mut at = 0;
    let mut total = 0;
    while at < frames.len() {
        let d = dec.decode(&mut frames[at..]).unwrap();
        if let Some(Frame::Text(t)) = d.frame {
            total += black_box(t).len();
        }
        at += d.consumed;
    }
    assert_eq!(total, raw);
}

criterion_group!(benches, bench);
criterion_main!(benches);
