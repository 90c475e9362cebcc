//! WebSocket frame decoding: tickwire's lending `Decoder` against tungstenite reading the
//! same bytes, on a ~770-byte text frame shaped like a Binance `depthUpdate` (the common
//! case on a market-data socket: one unfragmented, unmasked server frame).
//!
//! - `tickwire_in_place`: decode the frame where it lies in the receive buffer (header
//!   checks, UTF-8 validation, lending the payload).
//! - `tickwire_copy_then_decode`: copy the frame into the receive buffer first, as a socket
//!   read would, then decode; the fair comparison with tungstenite, which copies from its
//!   stream into its own buffer.
//! - `tungstenite_read`: `WebSocket::read` over an in-memory stream that serves the frame
//!   back to back forever (buffered reads, message allocation and UTF-8 check included).
//!
//! A second group measures masking (what a client pays per outbound byte).

use std::hint::black_box;
use std::io::{self, Read, Write};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tickwire_engine::ws::{Decoder, Frame, Limits, OpCode, Role, apply_mask, encode_frame};
use tungstenite::protocol::{Role as TgRole, WebSocket};

/// A depth update with 10 bid and 10 ask levels, about 770 bytes.
fn depth_update() -> Vec<u8> {
    let level = |p: f64, q: f64| format!("[\"{p:.8}\",\"{q:.8}\"]");
    let bids: Vec<String> = (0..10)
        .map(|i| level(67234.1 - i as f64 * 0.1, 0.125 + i as f64))
        .collect();
    let asks: Vec<String> = (0..10)
        .map(|i| level(67234.2 + i as f64 * 0.1, 1.5 + i as f64))
        .collect();
    format!(
        "{{\"stream\":\"btcusdt@depth@100ms\",\"data\":{{\"e\":\"depthUpdate\",\"E\":1717000000123,\
         \"s\":\"BTCUSDT\",\"U\":48213360981,\"u\":48213361020,\"b\":[{}],\"a\":[{}]}}}}",
        bids.join(","),
        asks.join(",")
    )
    .into_bytes()
}

/// Serves `frame` back to back, forever; writes are discarded.
struct Replay {
    frame: Vec<u8>,
    pos: usize,
}

impl Read for Replay {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let mut n = 0;
        while n < out.len() {
            let rest = &self.frame[self.pos..];
            let k = rest.len().min(out.len() - n);
            out[n..n + k].copy_from_slice(&rest[..k]);
            n += k;
            self.pos = (self.pos + k) % self.frame.len();
        }
        Ok(n)
    }
}

impl Write for Replay {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn decode(c: &mut Criterion) {
    let payload = depth_update();
    let mut frame = Vec::new();
    encode_frame(&mut frame, OpCode::Text, true, &payload, None);

    let mut g = c.benchmark_group("ws_decode");
    g.throughput(Throughput::Bytes(frame.len() as u64));

    let mut dec = Decoder::new(Role::Client, Limits::default());
    let mut buf = frame.clone();
    g.bench_function(format!("tickwire_in_place/{}B", frame.len()), |b| {
        b.iter(|| match dec.decode(black_box(&mut buf)) {
            Ok(d) => match d.frame {
                Some(Frame::Text(p)) => black_box(p.len()) + d.consumed,
                _ => unreachable!("bench frame is one text frame"),
            },
            Err(e) => panic!("{e}"),
        })
    });

    let mut dec = Decoder::new(Role::Client, Limits::default());
    let mut rbuf = vec![0u8; 64 * 1024];
    g.bench_function(format!("tickwire_copy_then_decode/{}B", frame.len()), |b| {
        b.iter(|| {
            let n = frame.len();
            rbuf[..n].copy_from_slice(black_box(&frame));
            match dec.decode(&mut rbuf[..n]) {
                Ok(d) => match d.frame {
                    Some(Frame::Text(p)) => black_box(p.len()) + d.consumed,
                    _ => unreachable!("bench frame is one text frame"),
                },
                Err(e) => panic!("{e}"),
            }
        })
    });

    let stream = Replay {
        frame: frame.clone(),
        pos: 0,
    };
    let mut ws = WebSocket::from_raw_socket(stream, TgRole::Client, None);
    g.bench_function(format!("tungstenite_read/{}B", frame.len()), |b| {
        b.iter(|| match ws.read() {
            Ok(msg) => black_box(msg.len()),
            Err(e) => panic!("{e}"),
        })
    });
    g.finish();
}

fn mask(c: &mut Criterion) {
    let mut g = c.benchmark_group("ws_mask");
    for n in [770usize, 16 * 1024] {
        let mut data = vec![0x5au8; n];
        g.throughput(Throughput::Bytes(n as u64));
        g.bench_function(format!("apply_mask/{n}B"), |b| {
            b.iter(|| apply_mask(black_box(&mut data), [1, 2, 3, 4], 0))
        });
        g.bench_function(format!("bytewise/{n}B"), |b| {
            b.iter(|| {
                let key = black_box([1u8, 2, 3, 4]);
                for (i, x) in black_box(&mut data).iter_mut().enumerate() {
                    *x ^= key[i & 3];
                }
            })
        });
    }
    g.finish();
}

/// UTF-8 validation of a text payload (RFC 6455 §8.1), the part of the decode that grows
/// with the frame: the validator alone, and the ASCII screens that could run before it.
fn utf8(c: &mut Criterion) {
    let payload = depth_update();
    let mut g = c.benchmark_group("ws_utf8");
    g.throughput(Throughput::Bytes(payload.len() as u64));
    let n = payload.len();
    g.bench_function(format!("simdutf8_basic/{n}B"), |b| {
        b.iter(|| simdutf8::basic::from_utf8(black_box(&payload)).is_ok())
    });
    g.bench_function(format!("std_is_ascii/{n}B"), |b| {
        b.iter(|| black_box(&payload).is_ascii())
    });
    g.bench_function(format!("or_fold/{n}B"), |b| {
        b.iter(|| black_box(&payload).iter().fold(0u8, |a, &x| a | x) < 0x80)
    });
    g.finish();
}

criterion_group!(benches, decode, mask, utf8);
criterion_main!(benches);
