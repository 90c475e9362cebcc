//! `tickwire replay --venue okx FILE`: an OKX capture (`<ns> <frame>` lines, plain or gzip)
//! through the OKX adapter and a `FeedHandler` exactly as live (in-band snapshots, the
//! `seqId` chain, checksums when non-zero), deterministically: receive times come from the
//! file, and there is no REST (a book that never gets an in-band snapshot stays unsynced).
//! `--print` writes every event as a JSON line; a summary follows on stderr. The
//! instruments are the `instId`s named in the file's `arg`s (or `--symbols`).

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
use tickwire_feeds::okx::{Channel, OkxAdapter, OkxConfig, Subscription};

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

/// The instIds of the `arg`s in the capture, in first-seen order.
fn inst_ids(path: &Path) -> std::io::Result<Vec<String>> {
    let mut r = CaptureReader::new(open(path)?);
    let mut ids: Vec<String> = Vec::new();
    while let Some(line) = r.next() {
        let Ok(line) = line else { break };
        let text = String::from_utf8_lossy(line.frame);
        for part in text.split("\"instId\":\"").skip(1) {
            if let Some((id, _)) = part.split_once('"') {
                let sub = Subscription::new(id, Channel::Books);
                if sub.is_valid() && !ids.contains(&sub.inst_id) {
                    ids.push(sub.inst_id);
                }
            }
        }
    }
    Ok(ids)
}

/// Replays `path`; `print` writes the events as JSON lines on stdout.
pub fn run(path: &Path, symbols: &[String], print: bool) -> ExitCode {
    let ids = if symbols.is_empty() {
        match inst_ids(path) {
            Ok(ids) => ids,
            Err(e) => {
                eprintln!("tickwire replay: {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
        }
    } else {
        symbols.iter().map(|s| s.to_ascii_uppercase()).collect()
    };
    if ids.is_empty() {
        eprintln!(
            "tickwire replay: {}: no OKX instId in the capture",
            path.display()
        );
        return ExitCode::FAILURE;
    }
    let registry = Registry::new();
    let subs = Subscription::product(&ids, &[Channel::Books, Channel::Trades, Channel::BboTbt]);
    let adapter = match OkxAdapter::new(OkxConfig::default(), &subs, &registry) {
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
    let mut lines = JsonLines::new(registry, "okx");
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
         snapshots {}, gaps {}, resyncs {}, resets applied as continuations, checksums \
         checked {} failed {}, decode errors {}",
        s.snapshots_applied,
        s.gaps,
        s.resyncs,
        s.checksums_checked,
        s.checksum_failures,
        s.decode_errors
    );
    ExitCode::SUCCESS
}
