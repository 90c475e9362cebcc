//! The venue simulator's send cost: it must push well over 1 M messages/s on one core so that
//! the engine, not the simulator, is the bottleneck in end-to-end benches.
//!
//! `sim_render`: the per-message work of a session (walk the venue's events, render the next
//! subscribed message with its probe and envelope, frame it), 1000 messages per iteration.
//! `sim_socket`: a `SimServer` at rate 0 and a loopback reader that only counts frames;
//! time per message through the socket (server thread and reader share the machine).

use std::hint::black_box;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tickwire_engine::clock::now_ns;
use tickwire_engine::ws::{OpCode, encode_frame};
use tickwire_feeds::binance::sim::{
    Feed, FeedOptions, Market, Route, TimeUnit, Venue, VenueConfig,
};
use tickwire_tools::sim::{SimConfig, SimServer};

const STREAMS: [&str; 3] = ["btcusdt@depth@100ms", "btcusdt@trade", "btcusdt@bookTicker"];

fn render(c: &mut Criterion) {
    let mut g = c.benchmark_group("sim_render");
    g.throughput(Throughput::Elements(1000));
    for (name, market) in [("spot", Market::Spot), ("usdm", Market::UsdM)] {
        let venue = Venue::new(&VenueConfig::new(market)).unwrap();
        let opts = FeedOptions {
            route: Route::Any,
            combined: true,
            probe: true,
            time_unit: TimeUnit::Millisecond,
        };
        let mut feed = Feed::new(venue, opts, 0);
        feed.subscribe_names(&STREAMS).unwrap();
        let (mut out, mut scratch) = (Vec::with_capacity(1 << 20), Vec::with_capacity(4096));
        g.bench_function(name, |b| {
            b.iter(|| {
                out.clear();
                for _ in 0..1000 {
                    scratch.clear();
                    feed.next_message(u64::MAX, now_ns(), &mut scratch);
                    encode_frame(&mut out, OpCode::Text, true, &scratch, None);
                }
                black_box(out.len())
            })
        });
    }
    g.finish();
}

/// Counts complete server frames in `buf[*at..]`, advancing `at`.
fn count_frames(buf: &[u8], at: &mut usize) -> u64 {
    let mut n = 0;
    loop {
        let b = &buf[*at..];
        if b.len() < 2 {
            return n;
        }
        let (len, hdr) = match b[1] & 0x7F {
            126 if b.len() >= 4 => (usize::from(u16::from_be_bytes([b[2], b[3]])), 4),
            127 if b.len() >= 10 => (
                u64::from_be_bytes(b[2..10].try_into().unwrap()) as usize,
                10,
            ),
            126 | 127 => return n,
            l => (usize::from(l), 2),
        };
        if b.len() < hdr + len {
            return n;
        }
        *at += hdr + len;
        n += 1;
    }
}

fn socket(c: &mut Criterion) {
    let mut config = SimConfig::new(Market::Spot);
    config.rate = 0;
    config.probe_ts = true;
    let sim = SimServer::start(config).unwrap();
    let mut s = TcpStream::connect(sim.local_addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET /stream?streams={} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        STREAMS.join("/")
    )
    .unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let mut filled = 0;
    while !buf[..filled].windows(4).any(|w| w == b"\r\n\r\n") {
        filled += s.read(&mut buf[filled..]).unwrap();
    }
    let mut at = buf[..filled]
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap()
        + 4;
    const N: u64 = 10_000;
    let mut g = c.benchmark_group("sim_socket");
    g.throughput(Throughput::Elements(N));
    g.bench_function("spot_unpaced", |b| {
        b.iter(|| {
            let mut got = 0;
            while got < N {
                got += count_frames(&buf[..filled], &mut at);
                if got >= N {
                    break;
                }
                buf.copy_within(at..filled, 0);
                filled -= at;
                at = 0;
                filled += s.read(&mut buf[filled..]).unwrap();
            }
            black_box(got)
        })
    });
    g.finish();
    drop(s);
    sim.stop();
}

criterion_group!(benches, render, socket);
criterion_main!(benches);
