//! `tickwire run --venue okx`: OKX public data on an engine through `OkxFeed`, every event
//! printed as a JSON line (the `tickwire decode` format) until Ctrl-C or `--duration`; a
//! one-line summary on stderr. Channels: `trade`, `bbo` (`bbo-tbt`), `book` (`books`, 400
//! levels kept in sync). The live view and statistics of Binance's `run` are not wired for
//! OKX yet.

use std::io::{BufWriter, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use tickwire_engine::event::StatusKind;
use tickwire_engine::{Engine, EngineConfig, Profile, Registry};
use tickwire_feeds::jsonl::JsonLines;
use tickwire_feeds::okx::{Channel, OkxFeed, VENUE};

use tickwire_tools::signal;

/// Exit code for a command line that cannot work.
const USAGE: u8 = 2;

fn usage(msg: &str) -> ExitCode {
    eprintln!("tickwire run: {msg}");
    ExitCode::from(USAGE)
}

/// Runs OKX: `symbols` are instIds (`BTC-USDT`), `channels` trade, bbo or book.
pub fn run(
    symbols: &[String],
    channels: &[String],
    url: Option<&str>,
    rest_url: Option<&str>,
    duration: Option<Duration>,
) -> ExitCode {
    let mut chans = Vec::new();
    for c in channels.iter().filter(|c| !c.trim().is_empty()) {
        let ch = match c.trim().to_ascii_lowercase().as_str() {
            "trade" | "trades" => Channel::Trades,
            "bbo" | "bbo-tbt" => Channel::BboTbt,
            "book" | "books" | "depth" => Channel::Books,
            _ => {
                return usage(&format!(
                    "unknown channel '{c}' for okx: use trade, bbo or book"
                ));
            }
        };
        if !chans.contains(&ch) {
            chans.push(ch);
        }
    }
    let ids: Vec<String> = symbols
        .iter()
        .map(|s| s.trim().to_ascii_uppercase())
        .filter(|s| !s.is_empty())
        .collect();
    if ids.is_empty() || chans.is_empty() {
        return usage("give at least one instId (--symbols BTC-USDT) and one channel");
    }
    let mut feed = OkxFeed::new().symbols(&ids).channels(&chans);
    if let Some(u) = url {
        feed = feed.url(u);
    }
    if let Some(r) = rest_url {
        feed = feed.rest_url(r);
    }
    if let Err(e) = feed.plan() {
        return usage(&e.to_string());
    }
    if let Err(e) = signal::install() {
        eprintln!("tickwire run: cannot install the signal handler: {e}");
    }
    let mut b = Engine::builder(EngineConfig::profile(Profile::Standard));
    let (cid, mut consumer) = b.consumer(1 << 16);
    let engine = match b.start() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("tickwire run: engine: {e}");
            return ExitCode::FAILURE;
        }
    };
    let registry = Registry::new();
    if let Err(e) = feed.start(&engine.handle(), &registry, &[cid]) {
        eprintln!("tickwire run: {e}");
        return ExitCode::FAILURE;
    }
    let mut lines = JsonLines::new(registry, VENUE);
    let mut out = BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let mut text = Vec::with_capacity(1 << 16);
    let started = Instant::now();
    let (mut events, mut resyncs) = (0u64, 0u64);
    loop {
        if signal::received() || duration.is_some_and(|d| started.elapsed() >= d) {
            break;
        }
        text.clear();
        let mut got = false;
        while let Some(e) = consumer.pop() {
            got = true;
            events += 1;
            resyncs += u64::from(e.as_status().is_some_and(|s| s.kind == StatusKind::Resync));
            lines.write(&e, &mut text);
        }
        if out.write_all(&text).is_err() {
            break; // output closed
        }
        if !got {
            let _ = out.flush();
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let _ = out.flush();
    let _ = engine.join();
    eprintln!(
        "tickwire run: okx, {events} events in {:.1} s, {resyncs} resyncs",
        started.elapsed().as_secs_f64()
    );
    ExitCode::SUCCESS
}
