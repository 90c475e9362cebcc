//! `tickwire subscribe`: reads the events that `tickwire run --publish` put on NATS
//! JetStream (from this host or any other) through [`tickwire_bus::Remote`], and prints
//! them as the JSON lines of `tickwire run --print` (`--print`) or a line of counters a
//! second (`--stats`).

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use hdrhistogram::Histogram;
use tickwire_bus::{From, Remote, RemoteConfig};
use tickwire_engine::clock;
use tickwire_feeds::jsonl::JsonLines;
use tickwire_tools::signal;

/// Arguments of `tickwire subscribe`.
#[derive(Parser, Debug)]
#[command(after_help = "Examples:\n  \
tickwire run --symbols BTCUSDT --publish nats://127.0.0.1:4222 &\n  \
tickwire subscribe nats://127.0.0.1:4222 --print | head\n  \
tickwire subscribe nats://127.0.0.1:4222 --subject 'tickwire.binance.*' --from start --idle-exit 2s --stats")]
pub struct Args {
    /// NATS server(s): nats://HOST:PORT, comma-separated for a cluster.
    url: String,
    /// NATS subject filter: tickwire.> (everything), tickwire.VENUE.> (one venue),
    /// tickwire.VENUE.SYMBOL (one instrument; see README for escaping).
    #[arg(long)]
    subject: Option<String>,
    /// Where to start: start (all the stream holds), now (new events only), snapshot (the
    /// latest snapshot run of each book: valid books at once), or a time (RFC 3339, e.g.
    /// 2026-12-02T21:00:00Z, or a duration ago: 30s, 5m).
    #[arg(long, default_value = "snapshot")]
    from: String,
    /// Stop after nothing arrived for this long (500ms, 2s); default: until Ctrl-C.
    #[arg(long, value_parser = parse_duration)]
    idle_exit: Option<Duration>,
    /// Stop after this many events.
    #[arg(long)]
    count: Option<u64>,
    /// Print every event as a JSON line (the `tickwire run --print` format). The default
    /// when stdout is not a terminal.
    #[arg(long, conflicts_with = "stats")]
    print: bool,
    /// Print a line of counters and hop latencies every second, and a summary at the end.
    #[arg(long)]
    stats: bool,
    /// JetStream stream name.
    #[arg(long, default_value = "TICKWIRE")]
    stream: String,
    /// First subject token, as the publisher used.
    #[arg(long, default_value = "tickwire")]
    prefix: String,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    tickwire_tools::sim::parse_duration(s).map_err(|e| e.to_string())
}

fn parse_from(s: &str) -> Result<From, String> {
    match s {
        "start" => Ok(From::Start),
        "now" => Ok(From::Now),
        "snapshot" => Ok(From::LatestSnapshot),
        t => {
            if let Some(ns) = tickwire_bus::remote::parse_time(t) {
                return Ok(From::Time(ns));
            }
            let ago = parse_duration(t).map_err(|_| {
                format!("--from '{t}': use start, now, snapshot, an RFC 3339 time or 30s/5m ago")
            })?;
            let ago = u64::try_from(ago.as_nanos()).unwrap_or(u64::MAX);
            Ok(From::Time(clock::now_ns().saturating_sub(ago)))
        }
    }
}

/// Hop latencies in µs.
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("constant histogram bounds")
}

/// Runs `tickwire subscribe`.
pub fn run(args: Args) -> ExitCode {
    let from = match parse_from(&args.from) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("tickwire subscribe: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = signal::install() {
        eprintln!("tickwire subscribe: cannot catch Ctrl-C ({e})");
    }
    let mut config = RemoteConfig::new(&args.url);
    config.stream = args.stream.clone();
    config.prefix = args.prefix.clone();
    config.filter = args.subject.clone();
    config.from = from;
    let mut remote = match Remote::connect(config) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("tickwire subscribe: {e}");
            return ExitCode::FAILURE;
        }
    };
    let print = args.print || (!args.stats && !std::io::stdout().is_terminal());
    let mut lines: HashMap<Arc<str>, JsonLines> = HashMap::new();
    let mut text = Vec::with_capacity(4096);
    let mut hop = histogram();
    let mut stamped = 0u64;
    let started = Instant::now();
    let mut last_event = Instant::now();
    let mut next_report = Instant::now() + Duration::from_secs(1);
    let mut events = 0u64;
    let mut events_at_report = 0u64;
    let stdout = std::io::stdout();
    let code = loop {
        if signal::received() {
            break ExitCode::SUCCESS;
        }
        if args.count.is_some_and(|n| events >= n) {
            break ExitCode::SUCCESS;
        }
        if args.idle_exit.is_some_and(|d| last_event.elapsed() >= d) {
            break ExitCode::SUCCESS;
        }
        if !print && Instant::now() >= next_report {
            let s = remote.stats();
            println!(
                "{:>7.1} s  {:>9} events  {:>8} ev/s  {} batches  {} dup  {} gaps  {} snapshots  hop µs p50 {} p99 {} max {}",
                started.elapsed().as_secs_f64(),
                events,
                events - events_at_report,
                s.batches,
                s.duplicates,
                s.gaps,
                s.snapshots_used,
                hop.value_at_quantile(0.5),
                hop.value_at_quantile(0.99),
                hop.max()
            );
            events_at_report = events;
            next_report += Duration::from_secs(1);
        }
        let d = match remote.next(Duration::from_millis(100)) {
            Ok(Some(d)) => d,
            Ok(None) => continue,
            Err(e) => {
                eprintln!("tickwire subscribe: {e}");
                break ExitCode::FAILURE;
            }
        };
        let now = clock::now_ns();
        last_event = Instant::now();
        events += 1;
        // Engine publish (stage stamp) → here where the engine stamped it, else the egress's
        // batch seal → here.
        let from_ts = match d.event.published_ts() {
            Some(ts) => {
                stamped += 1;
                ts
            }
            None => d.sent_ts,
        };
        let _ = hop.record(now.saturating_sub(from_ts).div_ceil(1_000).max(1));
        if print {
            let registry = remote.registry().clone();
            let l = lines
                .entry(d.venue.clone())
                .or_insert_with(|| JsonLines::new(registry, &d.venue));
            text.clear();
            l.write(&d.event, &mut text);
            if stdout.lock().write_all(&text).is_err() {
                break ExitCode::SUCCESS;
            }
        }
    };
    let s = remote.stats();
    eprintln!(
        "tickwire subscribe: {events} events in {} batches over {:.1} s; {} duplicates dropped, \
         {} held back, {} gaps, {} snapshot runs used ({} skipped), {} bad messages; hop \
         ({} from the engine's stamp, the rest from the egress's batch) µs p50 {} p99 {} \
         p99.9 {} max {}",
        s.batches,
        started.elapsed().as_secs_f64(),
        s.duplicates,
        s.held,
        s.gaps,
        s.snapshots_used,
        s.snapshots_skipped,
        s.bad_messages,
        stamped,
        hop.value_at_quantile(0.5),
        hop.value_at_quantile(0.99),
        hop.value_at_quantile(0.999),
        hop.max()
    );
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_parses_words_times_and_durations_ago() {
        assert_eq!(parse_from("start"), Ok(From::Start));
        assert_eq!(parse_from("now"), Ok(From::Now));
        assert_eq!(parse_from("snapshot"), Ok(From::LatestSnapshot));
        assert_eq!(
            parse_from("2024-08-09T00:00:01Z"),
            Ok(From::Time(1_723_161_601_000_000_000))
        );
        let before = clock::now_ns();
        match parse_from("30s") {
            Ok(From::Time(t)) => {
                assert!(t <= before.saturating_sub(30_000_000_000) + 5_000_000_000)
            }
            other => panic!("{other:?}"),
        }
        assert!(parse_from("soon").is_err());
    }
}
