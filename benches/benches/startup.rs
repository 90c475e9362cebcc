//! Memory per subscribed symbol and start-up time, for 1, 100, 1,000 and 10,000 symbols.
//!
//! `cargo bench -p tickwire-benches --bench startup`
//!
//! Each size runs in a fresh child process (so the resident set is its own): it does what
//! `tickwire run` does before its first event: plans the connections, builds their URLs
//! from the plan, starts an engine with one consumer and starts a Binance spot feed of
//! `trade`, `book` (depth@100ms) and `bbo` per symbol (which plans again), against a
//! loopback port nobody listens on (no data ever arrives: every symbol is idle). It reports the wall time of those steps and the
//! resident set (`VmRSS` in `/proc/self/status`) before and after them, once the engine has
//! taken every connection. Not a timed test: numbers for the README's table.

use std::process::Command;
use std::time::{Duration, Instant};

use tickwire_engine::{Engine, EngineConfig, FeedAdapter, Registry};
use tickwire_feeds::binance::{BinanceAdapter, BinanceFeed, Channel, DepthSpeed, Market};

const CHILD: &str = "TICKWIRE_STARTUP_SYMBOLS";

/// `VmRSS` in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn child(n: usize) {
    let symbols: Vec<String> = (0..n).map(|i| format!("S{i:05}USDT")).collect();
    let before = rss_kib();
    let t0 = Instant::now();
    let feed = BinanceFeed::new(Market::Spot)
        .symbols(&symbols)
        .channels(&[
            Channel::Trade,
            Channel::Depth(DepthSpeed::Ms100),
            Channel::BookTicker,
        ])
        // Port 9 (discard) on loopback: refused, retried in the background.
        .url("ws://127.0.0.1:9/")
        .rest_url("http://127.0.0.1:9/");
    let plan = feed.plan().expect("plan");
    let registry = Registry::new();
    // The URLs from the plan, as `tickwire run` builds them.
    let config = feed.resolved_config().expect("config");
    let urls: Vec<String> = plan
        .groups()
        .iter()
        .map(|g| {
            let adapter = BinanceAdapter::new(config.clone(), g, &registry).expect("adapter");
            FeedAdapter::endpoint(&adapter).url
        })
        .collect();
    let mut builder = Engine::builder(EngineConfig::default());
    let (consumer_id, _consumer) = builder.consumer(1 << 16);
    let engine = builder.start().expect("engine");
    let conns = feed
        .start(&engine.handle(), &registry, &[consumer_id])
        .expect("feed start");
    let took = t0.elapsed();
    assert_eq!(
        (conns.len(), urls.len()),
        (plan.groups().len(), plan.groups().len())
    );
    // The I/O thread takes the connections (and their books) asynchronously.
    std::thread::sleep(Duration::from_millis(500));
    let after = rss_kib();
    println!(
        "{n} {} {} {} {}",
        took.as_micros(),
        before,
        after,
        plan.groups().len()
    );
    // No orderly shutdown: the measurement is done, and exit ends every thread.
    std::process::exit(0);
}

fn main() {
    if let Some(n) = std::env::var(CHILD).ok().and_then(|v| v.parse().ok()) {
        child(n);
        return;
    }
    // `cargo bench` passes `--bench`; a filter, if any, is ignored.
    let exe = std::env::current_exe().expect("current exe");
    println!(
        "| symbols | connections | start-up | resident before | resident after | per symbol |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    let mut base = None;
    for n in [1usize, 100, 1_000, 10_000] {
        let out = Command::new(&exe)
            .env(CHILD, n.to_string())
            .output()
            .expect("child");
        let text = String::from_utf8_lossy(&out.stdout);
        let v: Vec<u64> = text
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        let [_, micros, before, after, conns] = v[..] else {
            eprintln!(
                "{n} symbols: no result ({})",
                String::from_utf8_lossy(&out.stderr)
            );
            continue;
        };
        // Per symbol: the growth over the one-symbol run, so the fixed cost (engine,
        // threads, code) is left out.
        let per = match base {
            None => {
                base = Some(after);
                String::from("(base)")
            }
            Some(b) => format!("{:.1} KiB", after.saturating_sub(b) as f64 / (n - 1) as f64),
        };
        println!(
            "| {n} | {conns} | {:.1} ms | {:.1} MiB | {:.1} MiB | {per} |",
            micros as f64 / 1000.0,
            before as f64 / 1024.0,
            after as f64 / 1024.0,
        );
    }
}
