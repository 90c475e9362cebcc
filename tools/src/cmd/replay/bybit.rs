//! `tickwire replay --venue bybit|bybit-linear CAPTURE`: a Bybit capture (`<recv ns> <frame>`
//! lines, plain or gzip) through the Bybit adapter and the engine's `FeedHandler`, as a live
//! connection runs them (in-band snapshots installed as SNAPSHOT runs, the `u` chain
//! checked, a gap or reset reported), deterministically: times come from the file. The
//! subscriptions are the topics the frames name. `--print` writes every event as a JSON
//! line; a summary goes to stderr.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use tickwire_engine::adapter::{FeedConfig, FeedHandler, QueuedSnapshots};
use tickwire_engine::handler::{
    Actions, ConnectionId, Context, Message, Outbox, Publisher, WsHandler,
};
use tickwire_engine::ring::channel;
use tickwire_engine::{EventKind, FeedAdapter, Registry, StatusKind};
use tickwire_feeds::bybit::{BybitAdapter, BybitConfig, Channel, Market, Subscription};
use tickwire_feeds::capture::CaptureReader;
use tickwire_feeds::jsonl::JsonLines;

/// What a Bybit replay saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct BybitSummary {
    /// Capture lines read.
    pub lines: u64,
    /// Events published.
    pub events: u64,
    /// Sequence gaps.
    pub gaps: u64,
    /// Sequence resets (`u == 1`).
    pub resets: u64,
    /// Frames that could not be decoded.
    pub decode_errors: u64,
    /// Books in sync at the end, of those subscribed.
    pub books_in_sync: (usize, usize),
}

/// The topic a frame names (searched in its first 1,024 bytes).
fn topic_of(frame: &[u8]) -> Option<&str> {
    let head = &frame[..frame.len().min(1024)];
    let key = b"\"topic\":\"";
    let at = head.windows(key.len()).position(|w| w == key)? + key.len();
    let end = head[at..].iter().position(|&b| b == b'"')?;
    std::str::from_utf8(&head[at..at + end]).ok()
}

/// Replays capture `lines` on `market`, writing events as JSON lines to `out` when given.
pub(crate) fn replay_capture(
    market: Market,
    input: impl BufRead,
    mut out: Option<&mut dyn Write>,
) -> Result<BybitSummary, String> {
    let mut reader = CaptureReader::new(input);
    let mut frames: Vec<(u64, Vec<u8>)> = Vec::new();
    while let Some(line) = reader.next() {
        let line = line.map_err(|e| e.to_string())?;
        frames.push((line.recv_ns, line.frame.to_vec()));
    }
    // The subscriptions are the topics named; one book depth a symbol (the first seen).
    let mut subs: Vec<Subscription> = Vec::new();
    let mut seen = BTreeSet::new();
    for (_, f) in &frames {
        let Some(topic) = topic_of(f) else { continue };
        if !seen.insert(topic.to_owned()) {
            continue;
        }
        if let Some(s) = Subscription::from_topic(market, topic) {
            let second_depth = matches!(s.channel, Channel::Book(_))
                && subs
                    .iter()
                    .any(|t| t.symbol == s.symbol && matches!(t.channel, Channel::Book(_)));
            if !second_depth && !subs.contains(&s) {
                subs.push(s);
            }
        }
    }
    if subs.is_empty() {
        return Err("no Bybit topics in the capture".into());
    }
    let registry = Registry::new();
    let adapter = BybitAdapter::new(BybitConfig::for_market(market), &subs, &registry)
        .map_err(|e| e.to_string())?;
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
    let mut lines = JsonLines::new(registry.clone(), market.venue());
    let mut text = Vec::with_capacity(1 << 16);
    let mut summary = BybitSummary::default();
    let first = frames.first().map_or(0, |f| f.0);
    handler.on_connect(&mut Context::new(
        first,
        ConnectionId(1),
        &mut outbox,
        &mut publisher,
        &mut actions,
    ));
    let mut drain = |summary: &mut BybitSummary, out: &mut Option<&mut dyn Write>| {
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
    drain(&mut summary, &mut out)?;
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
        drain(&mut summary, &mut out)?;
    }
    let s = handler.stats();
    summary.gaps = s.gaps;
    summary.resets = s.resets;
    summary.decode_errors = s.decode_errors;
    summary.books_in_sync = (
        books.iter().filter(|&&b| handler.in_sync(b)).count(),
        books.len(),
    );
    Ok(summary)
}

/// Runs the replay of `path` (gzip or plain) and prints the summary.
pub(crate) fn run(market: Market, path: &Path, print: bool) -> std::process::ExitCode {
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
    let result = replay_capture(market, input, print.then_some(&mut lock as &mut dyn Write));
    let _ = lock.flush();
    match result {
        Ok(s) => {
            eprintln!(
                "tickwire replay: {} · {} lines, {} events, {} gaps, {} resets, {} decode errors, books in sync {}/{}",
                market.venue(),
                s.lines,
                s.events,
                s.gaps,
                s.resets,
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

    /// A capture with a snapshot, a delta, a trade, a pong, a gap and the snapshot the
    /// resubscribe brings: the JSON lines are the contract's (written by hand).
    #[test]
    fn a_capture_replays_through_the_handler() {
        let capture = concat!(
            r#"1000 {"topic":"orderbook.50.OPUSDT","type":"snapshot","ts":1,"data":{"s":"OPUSDT","b":[["1.50","10"]],"a":[["1.60","20"]],"u":100,"seq":1}}"#,
            "\n",
            r#"2000 {"topic":"orderbook.50.OPUSDT","type":"delta","ts":2,"data":{"s":"OPUSDT","b":[["1.50","0"]],"a":[],"u":101,"seq":2}}"#,
            "\n",
            r#"3000 {"success":true,"ret_msg":"pong","conn_id":"c","op":"ping"}"#,
            "\n",
            r#"4000 {"topic":"publicTrade.OPUSDT","ts":4,"type":"snapshot","data":[{"i":"77","T":4,"p":"1.55","v":"3","S":"Buy","s":"OPUSDT","BT":false}]}"#,
            "\n",
            r#"5000 {"topic":"orderbook.50.OPUSDT","type":"delta","ts":5,"data":{"s":"OPUSDT","b":[],"a":[["1.70","1"]],"u":103,"seq":3}}"#,
            "\n",
            r#"6000 {"topic":"orderbook.50.OPUSDT","type":"snapshot","ts":6,"data":{"s":"OPUSDT","b":[["1.40","5"]],"a":[["1.60","20"]],"u":103,"seq":3}}"#,
            "\n",
        );
        let mut out = Vec::new();
        let s = replay_capture(Market::Spot, capture.as_bytes(), Some(&mut out)).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                r#"{"kind":"book","venue":"bybit","symbol":"OPUSDT","side":"bid","price":"1.50","qty":"10","seq":100,"exchange_ts":1000000,"flags":["snapshot"]}"#,
                r#"{"kind":"book","venue":"bybit","symbol":"OPUSDT","side":"ask","price":"1.60","qty":"20","seq":100,"exchange_ts":1000000,"flags":["snapshot","last"]}"#,
                r#"{"kind":"book","venue":"bybit","symbol":"OPUSDT","side":"bid","price":"1.50","qty":"0","seq":101,"exchange_ts":2000000,"flags":["last"]}"#,
                r#"{"kind":"trade","venue":"bybit","symbol":"OPUSDT","side":"buy","price":"1.55","qty":"3","id":77,"exchange_ts":4000000,"flags":[]}"#,
                r#"{"kind":"status","venue":"bybit","symbol":"OPUSDT","status":"gap","detail":"expected 102"}"#,
                r#"{"kind":"status","venue":"bybit","symbol":"OPUSDT","status":"resync","detail":"none"}"#,
                r#"{"kind":"book","venue":"bybit","symbol":"OPUSDT","side":"bid","price":"1.40","qty":"5","seq":103,"exchange_ts":6000000,"flags":["snapshot"]}"#,
                r#"{"kind":"book","venue":"bybit","symbol":"OPUSDT","side":"ask","price":"1.60","qty":"20","seq":103,"exchange_ts":6000000,"flags":["snapshot","last"]}"#,
            ],
            "{text}"
        );
        assert_eq!((s.lines, s.gaps, s.resets, s.decode_errors), (6, 1, 0, 0));
        assert_eq!(s.books_in_sync, (1, 1));
    }
}
