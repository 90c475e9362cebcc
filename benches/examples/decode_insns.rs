//! Decodes one bench message (`depth10`, `trade`, `depth-mdload`) N times with the
//! Binance adapter, for load-independent instruction counts:
//! `valgrind --tool=cachegrind --cache-sim=no target/release/examples/decode_insns depth10 100000`
//! (divide by N, after subtracting a run with N = 0 for the set-up).

use std::hint::black_box;

use tickwire_benches::binance_messages::{depth_mdload, depth10, trade};
use tickwire_engine::{Event, FeedAdapter, Registry};
use tickwire_feeds::binance::{BinanceAdapter, BinanceConfig, Channel, DepthSpeed, Subscription};

fn main() {
    let mut args = std::env::args().skip(1);
    let shape = args.next().unwrap_or_else(|| "depth10".into());
    let n: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let fast = args.next().as_deref() != Some("tape");
    let msg = match shape.as_str() {
        "depth10" => depth10(),
        "trade" => trade(),
        "depth-mdload" => depth_mdload(),
        other => panic!("unknown shape {other}"),
    };
    let registry = Registry::new();
    let subs = Subscription::product(
        &["BTCUSDT"],
        &[Channel::Trade, Channel::Depth(DepthSpeed::Ms100)],
    );
    let mut config = BinanceConfig::spot();
    config.fast_scan = fast;
    config.latency_probe = shape == "depth-mdload";
    let mut adapter = BinanceAdapter::new(config, &subs, &registry).unwrap();
    let mut out: Vec<Event> = Vec::with_capacity(64);
    let mut scratch: Vec<u8> = Vec::with_capacity(4096);
    let mut events = 0;
    for _ in 0..n {
        scratch.clear();
        scratch.extend_from_slice(black_box(&msg));
        out.clear();
        let f = adapter.decode(&mut scratch, 1, &mut out);
        black_box(f.is_ok());
        events += out.len();
    }
    println!(
        "{shape}: {n} decodes, {events} events, hot path {}, {:?}",
        adapter.decoder().hot_path_frames(),
        adapter.decode_stats()
    );
}
