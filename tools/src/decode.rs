//! `tickwire decode`: frames on stdin (one JSON message a line, raw or in the combined-stream
//! envelope) to normalized events on stdout (one JSON object a line, see
//! `tickwire_feeds::jsonl`). Stateless: no book sync; each symbol is interned on first
//! sight. A line that cannot be decoded prints a `decode_error` status line and decoding
//! goes on. A line may start with a receive time in ns and a space (the capture format of
//! `shared/data`); it becomes the events' receive time.

use std::io::{BufRead, BufWriter, Write};
use std::process::ExitCode;

use tickwire_engine::adapter::Frame;
use tickwire_engine::event::{Status, StatusKind};
use tickwire_engine::{Event, Registry};
use tickwire_feeds::binance::{Decoder, Market, Symbols, TimeUnit};
use tickwire_feeds::jsonl::JsonLines;

/// Arguments of `tickwire decode`.
#[derive(clap::Args)]
pub struct Args {
    /// Venue whose frames are on stdin: binance or binance-usdm.
    #[arg(long)]
    venue: String,
    /// Timestamps in the frames are microseconds (URL option timeUnit=MICROSECOND).
    #[arg(long)]
    micros: bool,
    /// Take exchange_ts from a leading "ts" field in ns (the load server's latency probe).
    #[arg(long)]
    probe: bool,
}

/// Splits an optional `<ns> ` prefix off a line.
fn split_recv_ts(line: &mut [u8]) -> (u64, &mut [u8]) {
    let digits = line.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits > 0 && line.get(digits) == Some(&b' ') {
        let ts = std::str::from_utf8(&line[..digits])
            .ok()
            .and_then(|s| s.parse().ok());
        if let Some(ts) = ts {
            return (ts, &mut line[digits + 1..]);
        }
    }
    (0, line)
}

/// Runs `tickwire decode`.
pub fn run(args: Args) -> ExitCode {
    let Some(market) = Market::from_venue(&args.venue) else {
        eprintln!(
            "tickwire decode: unknown venue {:?} (binance, binance-usdm)",
            args.venue
        );
        return ExitCode::from(2);
    };
    let registry = Registry::new();
    let unit = if args.micros {
        TimeUnit::Microsecond
    } else {
        TimeUnit::Millisecond
    };
    let mut decoder = Decoder::new(
        Symbols::interning(market.venue(), registry.clone()),
        unit,
        args.probe,
    );
    let mut lines = JsonLines::new(registry, market.venue());
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut out = BufWriter::new(std::io::stdout().lock());
    let mut line = Vec::with_capacity(64 * 1024);
    let mut events: Vec<Event> = Vec::with_capacity(4096);
    let mut text = Vec::with_capacity(64 * 1024);
    loop {
        line.clear();
        match input.read_until(b'\n', &mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                eprintln!("tickwire decode: reading stdin: {e}");
                let _ = out.flush();
                return ExitCode::FAILURE;
            }
        }
        while matches!(line.last(), Some(b'\n' | b'\r')) {
            line.pop();
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let (recv_ts, frame) = split_recv_ts(&mut line);
        events.clear();
        text.clear();
        let status = |kind, reason: u16, value| {
            Event::status(
                tickwire_engine::InstrumentId::NONE,
                Status {
                    kind,
                    reason,
                    value,
                    connection: 0,
                },
                recv_ts,
            )
        };
        match decoder.decode(frame, recv_ts, &mut events) {
            Ok(Frame::Market | Frame::BookDiff { .. }) => {}
            Ok(Frame::SubscriptionError { id, .. }) => events.push(status(
                StatusKind::SubscriptionError,
                tickwire_engine::Reason::Adapter.code(),
                id.unwrap_or(0),
            )),
            Ok(Frame::Rotate) => events.push(status(
                StatusKind::Rotating,
                tickwire_engine::Reason::ServerShutdown.code(),
                0,
            )),
            Ok(Frame::Ack { .. } | Frame::Control | Frame::Unknown) => {}
            Err(e) => {
                let mut ev = status(StatusKind::DecodeError, e.reason.code(), 0);
                ev.instrument = e.instrument;
                events.push(ev);
            }
        }
        for e in &events {
            lines.write(e, &mut text);
        }
        if out.write_all(&text).is_err() {
            // stdout closed (e.g. piped into `head`): nothing more to do.
            return ExitCode::SUCCESS;
        }
    }
    let _ = out.flush();
    ExitCode::SUCCESS
}
