//! `tickwire replay --venue kraken FILE`: a Kraken v2 capture (`<ns> <frame>` lines, plain
//! or gzip) through the Kraken adapter and a `FeedHandler` exactly as live (in-band
//! snapshots, the CRC32 after every book message, depth truncation; no sequence),
//! deterministically: receive times come from the file, and no request reaches a venue (a
//! checksum failure reports and waits for the next snapshot in the file). `--print` writes
//! every event as a JSON line (`seq` null); a summary follows on stderr. The pairs are the
//! `symbol`s in the file (or `--symbols`); the book depth is the deepest snapshot's (or
//! `--depth`), the precisions the file's `instrument` messages or the numbers' text.

use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::Path;
use std::process::ExitCode;

use tickwire_engine::Registry;
use tickwire_engine::adapter::{FeedConfig, FeedHandler, QueuedSnapshots};
use tickwire_engine::event::EventKind;
use tickwire_engine::handler::{
    Actions, ConnectionId, Context, Message, Outbox, Publisher, WsHandler,
};
use tickwire_engine::ring::channel;
use tickwire_feeds::capture::CaptureReader;
use tickwire_feeds::jsonl::JsonLines;
use tickwire_feeds::kraken::{Channel, DEPTHS, KrakenAdapter, KrakenConfig, Subscription, VENUE};

fn open(path: &Path) -> std::io::Result<Box<dyn BufRead>> {
    let mut f = std::fs::File::open(path)?;
    let mut magic = [0u8; 2];
    let n = f.read(&mut magic)?;
    let f = std::fs::File::open(path)?;
    Ok(if n == 2 && magic == [0x1f, 0x8b] {
        Box::new(BufReader::new(flate2::read::MultiGzDecoder::new(f)))
    } else {
        Box::new(BufReader::new(f))
    })
}

/// The book/trade/ticker `symbol`s in the capture (first-seen order) and the most levels a
/// side any book snapshot held.
fn scan(path: &Path) -> std::io::Result<(Vec<String>, usize)> {
    let mut r = CaptureReader::new(open(path)?);
    let mut symbols: Vec<String> = Vec::new();
    let mut deepest = 0;
    while let Some(line) = r.next() {
        let Ok(line) = line else { break };
        let text = String::from_utf8_lossy(line.frame);
        if !text.contains("\"channel\":\"book\"")
            && !text.contains("\"channel\":\"trade\"")
            && !text.contains("\"channel\":\"ticker\"")
        {
            continue;
        }
        for part in text.split("\"symbol\":\"").skip(1) {
            if let Some((s, _)) = part.split_once('"') {
                let sub = Subscription::new(s, Channel::Book);
                if sub.is_valid() && !symbols.contains(&sub.symbol) {
                    symbols.push(sub.symbol);
                }
            }
        }
        if text.contains("\"type\":\"snapshot\"") {
            for side in ["\"bids\":[", "\"asks\":["] {
                if let Some((_, rest)) = text.split_once(side) {
                    let body = rest.split_once(']').map_or(rest, |(b, _)| b);
                    deepest = deepest.max(body.matches("\"price\"").count());
                }
            }
        }
    }
    Ok((symbols, deepest))
}

/// Replays `path`; `print` writes the events as JSON lines on stdout.
pub fn run(path: &Path, symbols: &[String], depth: Option<&str>, print: bool) -> ExitCode {
    let (found, deepest) = match scan(path) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("tickwire replay: {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    };
    let symbols: Vec<String> = if symbols.is_empty() {
        found
    } else {
        symbols.iter().map(|s| s.to_ascii_uppercase()).collect()
    };
    if symbols.is_empty() {
        eprintln!(
            "tickwire replay: {}: no Kraken book, trade or ticker symbol in the capture",
            path.display()
        );
        return ExitCode::FAILURE;
    }
    let depth = match depth {
        Some(d) => match d.trim().parse::<u16>().ok().filter(|d| DEPTHS.contains(d)) {
            Some(d) => d,
            None => {
                eprintln!(
                    "tickwire replay: --depth {d}: Kraken books are 10, 25, 100, 500 or 1000"
                );
                return ExitCode::FAILURE;
            }
        },
        // The smallest subscribable depth that holds the deepest snapshot.
        None => DEPTHS
            .iter()
            .copied()
            .find(|d| usize::from(*d) >= deepest)
            .unwrap_or(1000),
    };
    let registry = Registry::new();
    let subs = Subscription::product(&symbols, &[Channel::Book, Channel::Trade, Channel::Ticker]);
    let config = KrakenConfig {
        book_depth: depth,
        ..KrakenConfig::default()
    };
    let adapter = match KrakenAdapter::new(config, &subs, &registry) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("tickwire replay: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut handler = FeedHandler::new(
        adapter,
        Box::new(QueuedSnapshots::new()),
        FeedConfig::default(),
    );
    let (p, mut consumer) = channel(1 << 16);
    let mut outbox = Outbox::new(1 << 20);
    let mut publisher = Publisher::new(vec![p]);
    let mut actions = Actions::default();
    let mut lines = JsonLines::new(registry, VENUE);
    let mut out = BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let mut text = Vec::with_capacity(1 << 16);
    let mut reader = match open(path) {
        Ok(r) => CaptureReader::new(r),
        Err(e) => {
            eprintln!("tickwire replay: {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    };
    let (mut messages, mut events, mut book_levels) = (0u64, 0u64, 0u64);
    let mut buf = Vec::with_capacity(1 << 16);
    let mut first = true;
    while let Some(line) = reader.next() {
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                eprintln!("tickwire replay: {}: {e}", path.display());
                break;
            }
        };
        messages += 1;
        buf.clear();
        buf.extend_from_slice(line.frame);
        let mut cx = Context::new(
            line.recv_ns,
            ConnectionId(1),
            &mut outbox,
            &mut publisher,
            &mut actions,
        );
        if first {
            handler.on_connect(&mut cx);
            first = false;
        }
        handler.on_message(Message::Text(&mut buf), &mut cx);
        handler.on_timer(&mut cx);
        // What the handler would send (pings, resubscribes) has no venue here.
        outbox.discard();
        text.clear();
        while let Some(e) = consumer.pop() {
            events += 1;
            book_levels += u64::from(e.kind() == EventKind::BookLevel);
            if print {
                lines.write(&e, &mut text);
            }
        }
        if print && out.write_all(&text).is_err() {
            return ExitCode::SUCCESS; // output closed
        }
    }
    let _ = out.flush();
    let s = handler.stats();
    eprintln!(
        "tickwire replay: {messages} messages, {events} events ({book_levels} book levels); \
         depth {depth}, snapshots {}, resyncs {}, checksums checked {} failed {}, decode \
         errors {}",
        s.snapshots_applied, s.resyncs, s.checksums_checked, s.checksum_failures, s.decode_errors
    );
    ExitCode::SUCCESS
}
