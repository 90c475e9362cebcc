//! `tickwire bench --publish nats://...`: the NATS JetStream egress under load.
//!
//! 1. During the normal benchmark run, an egress drains a second engine ring and a remote
//!    consumer ([`tickwire_bus::Remote`], its own thread) times each event from the
//!    engine's publish stamp (the I/O thread's push into the rings) to its arrival: the hop
//!    latency. The engine's own latencies are the run's usual report, so the same command
//!    without `--publish` gives the comparison.
//! 2. Then a flood: `--flood` events pushed into a ring as fast as the egress takes them,
//!    timed until the broker acknowledged the last: egress events/s of one thread.
//!
//! Both use the stream `TICKWIRE_BENCH` (subjects `tickwire-bench.>`), deleted at the end.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tickwire_bus::{Egress, EgressConfig, From, Remote, RemoteConfig};
use tickwire_engine::event::{Level, Trade};
use tickwire_engine::{Consumer, Decimal, Event, Flags, Registry, Side, clock, ring};

use super::Args;

const STREAM: &str = "TICKWIRE_BENCH";
const PREFIX: &str = "tickwire-bench";

fn egress_config(url: &str) -> EgressConfig {
    let mut c = EgressConfig::new(url);
    c.stream = STREAM.into();
    c.prefix = PREFIX.into();
    c.max_bytes = 4 << 30;
    c.snapshot_every = None;
    c
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("constant histogram bounds")
}

/// What the remote consumer read: hop latencies (µs), events, events without a stamp.
type Read = (Histogram<u64>, u64, u64);

/// The egress of the benchmark run and the remote consumer timing it.
pub struct Hop {
    url: String,
    egress: Egress,
    stop: Arc<AtomicBool>,
    reader: JoinHandle<Result<Read, String>>,
}

impl Hop {
    /// Starts the egress on `ring` and a remote consumer reading what it publishes.
    pub fn start(url: &str, ring: Consumer, registry: &Registry) -> Result<Hop, String> {
        // A fresh stream: the hop is timed on this run's events only.
        tickwire_bus::egress::delete_stream(url, STREAM).map_err(|e| e.to_string())?;
        let egress = Egress::spawn(ring, registry.clone(), egress_config(url))
            .map_err(|e| format!("--publish: {e}"))?;
        let mut rc = RemoteConfig::new(url);
        rc.stream = STREAM.into();
        rc.prefix = PREFIX.into();
        rc.from = From::Start;
        let mut remote = Remote::connect(rc).map_err(|e| format!("--publish: {e}"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let reader = std::thread::Builder::new()
            .name("tickwire-bench-remote".into())
            .spawn(move || {
                let mut h = histogram();
                let (mut events, mut unstamped) = (0u64, 0u64);
                let mut idle_since: Option<Instant> = None;
                loop {
                    match remote.next(Duration::from_millis(50)) {
                        Ok(Some(d)) => {
                            idle_since = None;
                            events += 1;
                            let now = clock::now_ns();
                            match d.event.published_ts() {
                                Some(ts) => {
                                    let _ = h.record(now.saturating_sub(ts).div_ceil(1000).max(1));
                                }
                                None => unstamped += 1,
                            }
                        }
                        Ok(None) => {
                            // After the egress ended, 1 s of silence means all arrived.
                            if flag.load(Ordering::Relaxed) {
                                let since = *idle_since.get_or_insert_with(Instant::now);
                                if since.elapsed() >= Duration::from_secs(1) {
                                    break;
                                }
                            }
                        }
                        Err(e) => return Err(e.to_string()),
                    }
                }
                Ok((h, events, unstamped))
            })
            .map_err(|e| format!("cannot start the remote consumer thread: {e}"))?;
        Ok(Hop {
            url: url.to_owned(),
            egress,
            stop,
            reader,
        })
    }
}

fn us(v: u64) -> String {
    if v >= 10_000 {
        format!("{:.1} ms", v as f64 / 1000.0)
    } else {
        format!("{v} µs")
    }
}

/// After the engine stopped: the hop report, then the flood phase.
pub fn after(a: &Args, hop: Hop) -> Result<(), String> {
    let Hop {
        url,
        egress,
        stop,
        reader,
    } = hop;
    let stats = egress.join().map_err(|e| format!("--publish: {e}"))?;
    stop.store(true, Ordering::Relaxed);
    let (h, events, unstamped) = reader
        .join()
        .map_err(|_| "the remote consumer thread panicked".to_string())??;
    eprintln!();
    eprintln!("NATS JetStream egress ({url}, stream {STREAM})");
    eprintln!(
        "  run: {} events published in {} batches ({:.1} events a batch), {} retries, {} dropped; \
         {events} read back by the remote consumer",
        stats.events_acked,
        stats.batches_acked,
        stats.events_acked as f64 / stats.batches_acked.max(1) as f64,
        stats.retries,
        stats.dropped,
    );
    if h.is_empty() {
        eprintln!("  hop latency: no stamped events (stage stamps off: drop --no-stages)");
    } else {
        eprintln!(
            "  hop latency engine publish → remote consumer ({} events{}): p50 {}  p90 {}  p99 {}  p99.9 {}  max {}",
            h.len(),
            if unstamped > 0 {
                format!(", {unstamped} unstamped (BBO) not timed")
            } else {
                String::new()
            },
            us(h.value_at_quantile(0.5)),
            us(h.value_at_quantile(0.9)),
            us(h.value_at_quantile(0.99)),
            us(h.value_at_quantile(0.999)),
            us(h.max()),
        );
    }
    let result = flood(&url, a.flood);
    let _ = tickwire_bus::egress::delete_stream(&url, STREAM);
    result
}

/// Events of 8 instruments: book levels and trades, as a depth feed makes them.
fn flood_events(registry: &Registry, n: u64) -> Vec<Event> {
    let ids: Vec<_> = (0..8)
        .map(|i| registry.intern("binance", &format!("SYM{i}USDT")))
        .collect();
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let base = clock::now_ns();
    (0..n.min(1 << 20))
        .map(|k| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let id = ids[(x % 8) as usize];
            let ts = base + k * 1_000;
            let price = Decimal::from_parts(6_000_000 + (x >> 20) as i64 % 5_000, 2);
            let qty = Decimal::from_parts((x >> 40) as i64 % 100_000, 5);
            if k % 8 == 0 {
                let t = Trade {
                    price,
                    qty,
                    side: Side::Buy,
                    id: k,
                };
                Event::trade(id, t, ts - 2_000, ts)
            } else {
                let l = Level {
                    side: if x & 1 == 0 { Side::BID } else { Side::ASK },
                    price,
                    qty,
                    seq: k,
                };
                Event::level(id, l, Flags::LAST_IN_BATCH, ts - 2_000, ts)
            }
            .unwrap_or_else(|_| unreachable!("constant scales fit"))
        })
        .collect()
}

/// Pushes `n` events into a ring as fast as the egress drains it; events/s until the broker
/// acknowledged the last one.
fn flood(url: &str, n: u64) -> Result<(), String> {
    if n == 0 {
        return Ok(());
    }
    tickwire_bus::egress::delete_stream(url, STREAM).map_err(|e| e.to_string())?;
    let registry = Registry::new();
    let events = flood_events(&registry, n);
    let (mut p, c) = ring::channel(1 << 16);
    let egress = Egress::spawn(c, registry, egress_config(url)).map_err(|e| e.to_string())?;
    let start = Instant::now();
    let mut pushed = 0u64;
    while pushed < n {
        let e = events[(pushed % events.len() as u64) as usize];
        if p.slots() == 0 {
            std::thread::yield_now();
            continue;
        }
        p.push(e);
        pushed += 1;
    }
    let pushed_in = start.elapsed();
    drop(p);
    let stats = egress.join().map_err(|e| e.to_string())?;
    let elapsed = start.elapsed();
    let rate = stats.events_acked as f64 / elapsed.as_secs_f64();
    eprintln!(
        "  egress flood: {} events of 8 instruments acknowledged in {:.2} s: {:.0} events/s \
         on one egress thread ({} batches, {:.0} events a batch; pushing took {:.2} s)",
        stats.events_acked,
        elapsed.as_secs_f64(),
        rate,
        stats.batches_acked,
        stats.events_acked as f64 / stats.batches_acked.max(1) as f64,
        pushed_in.as_secs_f64()
    );
    if stats.events_acked != n {
        return Err(format!(
            "the flood lost events: {} of {n} acknowledged",
            stats.events_acked
        ));
    }
    Ok(())
}
