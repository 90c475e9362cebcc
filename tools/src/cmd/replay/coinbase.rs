//! `tickwire replay --venue coinbase CAPTURE`: a Coinbase Advanced Trade capture
//! (`<recv ns> <frame>` lines, plain or gzip, of ONE connection: `sequence_num` counts that
//! connection's messages) through the Coinbase adapter and the engine's `FeedHandler`, as a live
//! connection runs them (in-band snapshots installed as SNAPSHOT runs, the connection-wide
//! `sequence_num` checked: a break resyncs every book), deterministically: times come from
//! the file. The subscriptions are the products the frames name (`level2` for those with
//! `l2_data`, trades and tickers for the rest). `--print` writes every event as a JSON line;
//! a summary goes to stderr.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use tickwire_engine::adapter::{FeedConfig, FeedHandler, QueuedSnapshots};
use tickwire_engine::handler::{
    Actions, ConnectionId, Context, Message, Outbox, Publisher, WsHandler,
};
use tickwire_engine::ring::channel;
use tickwire_engine::{EventKind, FeedAdapter, Registry, StatusKind};
use tickwire_feeds::capture::CaptureReader;
use tickwire_feeds::coinbase::{Channel, CoinbaseAdapter, CoinbaseConfig, Subscription, VENUE};
use tickwire_feeds::jsonl::JsonLines;

/// What a Coinbase replay saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct CoinbaseSummary {
    /// Capture lines read.
    pub lines: u64,
    /// Events published.
    pub events: u64,
    /// Breaks of the connection's `sequence_num`.
    pub connection_gaps: u64,
    /// Gap statuses (one per book per break).
    pub gaps: u64,
    /// Frames that could not be decoded.
    pub decode_errors: u64,
    /// Books in sync at the end, of those subscribed.
    pub books_in_sync: (usize, usize),
}

/// Every `"product_id":"…"` value of a frame.
fn products_of(frame: &[u8]) -> Vec<&str> {
    let key = b"\"product_id\":\"";
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(at) = frame[i..].windows(key.len()).position(|w| w == key) {
        let start = i + at + key.len();
        let Some(end) = frame[start..].iter().position(|&b| b == b'"') else {
            break;
        };
        if let Ok(p) = std::str::from_utf8(&frame[start..start + end]) {
            if !out.contains(&p) {
                out.push(p);
            }
        }
        i = start + end;
    }
    out
}

/// Replays capture `input`, writing events as JSON lines to `out` when given.
pub(crate) fn replay_capture(
    input: impl BufRead,
    mut out: Option<&mut dyn Write>,
) -> Result<CoinbaseSummary, String> {
    let mut reader = CaptureReader::new(input);
    let mut frames: Vec<(u64, Vec<u8>)> = Vec::new();
    while let Some(line) = reader.next() {
        let line = line.map_err(|e| e.to_string())?;
        frames.push((line.recv_ns, line.frame.to_vec()));
    }
    let mut subs: Vec<Subscription> = Vec::new();
    for (_, f) in &frames {
        let head = &f[..f.len().min(64)];
        let channel = if head.windows(9).any(|w| w == b"\"l2_data\"") {
            Channel::Level2
        } else if head.windows(15).any(|w| w == b"\"market_trades\"") {
            Channel::Trades
        } else if head.windows(8).any(|w| w == b"\"ticker\"") {
            Channel::Ticker
        } else {
            continue;
        };
        for p in products_of(f) {
            let s = Subscription::new(p, channel);
            if s.is_valid() && !subs.contains(&s) {
                subs.push(s);
            }
        }
    }
    if subs.is_empty() {
        return Err("no Coinbase products in the capture".into());
    }
    let registry = Registry::new();
    // A capture is one connection whatever it carried: no per-connection limit here.
    let config = CoinbaseConfig {
        max_l2_products: usize::MAX,
        ..CoinbaseConfig::default()
    };
    let adapter = CoinbaseAdapter::new(config, &subs, &registry).map_err(|e| e.to_string())?;
    let books: Vec<_> = adapter.books().iter().map(|b| b.instrument).collect();
    let mut handler = FeedHandler::new(
        adapter,
        Box::new(QueuedSnapshots::new()),
        FeedConfig::default(),
    );
    let (p, mut consumer) = channel(1 << 16);
    let mut publisher = Publisher::new(vec![p]);
    let mut outbox = Outbox::new(1 << 24);
    let mut actions = Actions::default();
    let mut lines = JsonLines::new(registry.clone(), VENUE);
    let mut text = Vec::with_capacity(1 << 16);
    let mut summary = CoinbaseSummary::default();
    let first = frames.first().map_or(0, |f| f.0);
    handler.on_connect(&mut Context::new(
        first,
        ConnectionId(1),
        &mut outbox,
        &mut publisher,
        &mut actions,
    ));
    let mut drain = |summary: &mut CoinbaseSummary,
                     consumer: &mut tickwire_engine::ring::Consumer,
                     out: &mut Option<&mut dyn Write>| {
        text.clear();
        while let Some(e) = consumer.pop() {
            // The replay's own connection status is not part of what the capture holds.
            if e.kind() == EventKind::Status
                && e.as_status()
                    .is_some_and(|s| s.kind == StatusKind::Connected)
            {
                continue;
            }
            summary.events += 1;
            lines.write(&e, &mut text);
        }
        if let Some(o) = out.as_mut() {
            o.write_all(&text).map_err(|e| e.to_string())?;
        }
        Ok::<(), String>(())
    };
    drain(&mut summary, &mut consumer, &mut out)?;
    for (recv, mut frame) in frames {
        summary.lines += 1;
        let mut cx = Context::new(
            recv,
            ConnectionId(1),
            &mut outbox,
            &mut publisher,
            &mut actions,
        );
        handler.on_message(Message::Text(&mut frame), &mut cx);
        handler.on_poll(&mut cx);
        outbox.discard(); // requests (resubscribes) go nowhere
        drain(&mut summary, &mut consumer, &mut out)?;
    }
    let s = handler.stats();
    summary.connection_gaps = s.connection_gaps;
    summary.gaps = s.gaps;
    summary.decode_errors = s.decode_errors;
    summary.books_in_sync = (
        books.iter().filter(|&&b| handler.in_sync(b)).count(),
        books.len(),
    );
    Ok(summary)
}

/// Runs the replay of `path` (gzip or plain) and prints the summary.
pub(crate) fn run(path: &Path, print: bool) -> std::process::ExitCode {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("tickwire replay: {}: {e}", path.display());
            return std::process::ExitCode::FAILURE;
        }
    };
    let mut head = BufReader::new(file);
    let gz = head
        .fill_buf()
        .map(|b| b.starts_with(&[0x1f, 0x8b]))
        .unwrap_or(false);
    let input: Box<dyn BufRead> = if gz {
        Box::new(BufReader::new(flate2::read::MultiGzDecoder::new(head)))
    } else {
        Box::new(head)
    };
    let stdout = std::io::stdout();
    let mut lock = std::io::BufWriter::new(stdout.lock());
    let result = replay_capture(input, print.then_some(&mut lock as &mut dyn Write));
    let _ = lock.flush();
    match result {
        Ok(s) => {
            eprintln!(
                "tickwire replay: coinbase · {} lines, {} events, {} sequence breaks ({} book gaps), {} decode errors, books in sync {}/{}",
                s.lines,
                s.events,
                s.connection_gaps,
                s.gaps,
                s.decode_errors,
                s.books_in_sync.0,
                s.books_in_sync.1
            );
            if s.books_in_sync.0 < s.books_in_sync.1 {
                std::process::ExitCode::FAILURE
            } else {
                std::process::ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("tickwire replay: {}: {e}", path.display());
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two books and a trade on one connection; `sequence_num` 4 is lost, so both books get
    /// a gap and a resync (value: 4, the number that should have come), and the snapshots
    /// that follow (the resubscribes' answers) heal them. The JSON lines are the contract's,
    /// written by hand; `seq` is the `sequence_num`, the symbol as Coinbase spells it, the
    /// trade's side the aggressor (a "BUY" maker side: a sell).
    #[test]
    fn a_capture_replays_through_the_handler() {
        let env = |n: u32, ch: &str, ev: &str| {
            format!(
                r#"{{"channel":"{ch}","client_id":"","timestamp":"1970-01-01T00:00:0{n}Z","sequence_num":{n},"events":[{ev}]}}"#
            )
        };
        let snap = |p: &str, bid: &str, ask: &str| {
            format!(
                r#"{{"type":"snapshot","product_id":"{p}","updates":[{{"side":"bid","event_time":"x","price_level":"{bid}","new_quantity":"1"}},{{"side":"offer","event_time":"x","price_level":"{ask}","new_quantity":"2"}}]}}"#
            )
        };
        let capture = [
            (1000, env(1, "l2_data", &snap("SOL-USD", "142.1", "142.2"))),
            (2000, env(2, "l2_data", &snap("BTC-USD", "68900", "68901"))),
            (
                3000,
                env(
                    3,
                    "market_trades",
                    r#"{"type":"update","trades":[{"trade_id":"77","product_id":"SOL-USD","price":"142.15","size":"3","side":"BUY","time":"1970-01-01T00:00:03Z"}]}"#,
                ),
            ),
            (5000, env(5, "heartbeats", r#"{"current_time":"x","heartbeat_counter":"5"}"#)),
            (6000, env(6, "l2_data", &snap("SOL-USD", "142", "142.3"))),
            (7000, env(7, "l2_data", &snap("BTC-USD", "68800", "68801"))),
        ]
        .map(|(t, m)| format!("{t} {m}\n"))
        .concat();
        let mut out = Vec::new();
        let s = replay_capture(capture.as_bytes(), Some(&mut out)).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let book = |sym: &str, side: &str, price: &str, qty: &str, seq: u32, last: bool| {
            format!(
                r#"{{"kind":"book","venue":"coinbase","symbol":"{sym}","side":"{side}","price":"{price}","qty":"{qty}","seq":{seq},"exchange_ts":{},"flags":["snapshot"{}]}}"#,
                u64::from(seq) * 1_000_000_000,
                if last { r#","last""# } else { "" }
            )
        };
        let status = |sym: &str, what: &str| {
            format!(r#"{{"kind":"status","venue":"coinbase","symbol":"{sym}","status":{what}}}"#)
        };
        let want = [
            book("SOL-USD", "bid", "142.1", "1", 1, false),
            book("SOL-USD", "ask", "142.2", "2", 1, true),
            book("BTC-USD", "bid", "68900", "1", 2, false),
            book("BTC-USD", "ask", "68901", "2", 2, true),
            r#"{"kind":"trade","venue":"coinbase","symbol":"SOL-USD","side":"sell","price":"142.15","qty":"3","id":77,"exchange_ts":3000000000,"flags":[]}"#.to_owned(),
            status("SOL-USD", r#""gap","detail":"expected 4""#),
            status("SOL-USD", r#""resync","detail":"none""#),
            status("BTC-USD", r#""gap","detail":"expected 4""#),
            status("BTC-USD", r#""resync","detail":"none""#),
            book("SOL-USD", "bid", "142", "1", 6, false),
            book("SOL-USD", "ask", "142.3", "2", 6, true),
            book("BTC-USD", "bid", "68800", "1", 7, false),
            book("BTC-USD", "ask", "68801", "2", 7, true),
        ];
        assert_eq!(lines, want, "{text}");
        assert_eq!(
            (s.lines, s.connection_gaps, s.gaps, s.decode_errors),
            (6, 1, 2, 0)
        );
        assert_eq!(s.books_in_sync, (2, 2));
    }
}
