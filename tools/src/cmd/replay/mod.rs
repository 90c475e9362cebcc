//! `tickwire replay FILE`: a journal (`tickwire record`) or a capture (`<ns> <frame>` lines,
//! the format of `shared/data`, REST snapshot in line) through the same adapters, books and
//! events as a live feed, deterministically (receive times come from the file). `--print`
//! writes every event as a JSON line (the `tickwire decode` format); a summary follows at the
//! end. `--speed 1` paces by the recorded receive times, `--speed 10` ten times faster,
//! `--speed max` (the default) not at all. On a terminal, large files show progress.
//!
//! Exit status 1 (after the summary) when the replay could not show everything the file
//! holds: a damaged journal (the stretches skipped are named), or a book that received depth
//! messages but never got in sync, so none of them became events (a journal of another
//! venue or market than its header says, or a capture given the wrong `--venue`). A book
//! that was in sync and is only out of sync at the end gets a warning, not a failure.

mod bybit;
// Coinbase Advanced Trade captures.
mod coinbase;
mod kraken;
mod okx;

use std::io::{BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use tickwire_engine::event::StatusKind;
use tickwire_feeds::binance::{Channel, Subscription};
use tickwire_feeds::jsonl::JsonLines;
use tickwire_tools::journal::{Format, Replay, ReplayError, ReplayOptions, Summary};

/// Arguments of `tickwire replay`.
#[derive(clap::Args)]
pub struct Args {
    /// Journal or capture file (gzip or plain).
    file: PathBuf,
    /// Venue of a capture (binance, binance-usdm, bybit, bybit-linear, okx, kraken, coinbase);
    /// a journal names its own.
    #[arg(long)]
    venue: Option<String>,
    /// Pace: 1 = as recorded, 10 = ten times faster, max = as fast as possible.
    #[arg(long, default_value = "max", value_parser = parse_speed)]
    speed: Speed,
    /// Print every event as a JSON line on stdout.
    #[arg(long)]
    print: bool,
    /// Capture only: symbols (with --channels) instead of the streams named in the frames.
    #[arg(long, value_delimiter = ',')]
    symbols: Vec<String>,
    /// Capture only: channels for --symbols (trade, bookTicker, depth@100ms, ...).
    #[arg(long, value_delimiter = ',')]
    channels: Vec<String>,
}

/// How fast to replay.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Speed {
    /// As fast as possible.
    Max,
    /// This many times the recorded pace.
    Times(f64),
}

fn parse_speed(s: &str) -> Result<Speed, String> {
    if s == "max" {
        return Ok(Speed::Max);
    }
    match s.parse::<f64>() {
        // Below 1/1000 a pause could outlast any Duration.
        Ok(x) if x.is_finite() && x >= 1e-3 => Ok(Speed::Times(x)),
        _ => Err(format!(
            "speed must be a positive number from 0.001 (1, 10, 0.5) or max, not {s:?}"
        )),
    }
}

/// A capture of a venue whose frames name topics (Bybit, OKX): its own reader.
fn replay_capture(
    venue: Option<&'static dyn tickwire_feeds::venues::VenueKind>,
    args: &Args,
) -> ExitCode {
    let Some(venue) = venue else {
        return fail("a capture does not name its venue: give --venue");
    };
    if venue.name() == tickwire_feeds::okx::VENUE {
        return okx::run(&args.file, &args.symbols, args.print);
    }
    if venue.name() == tickwire_feeds::kraken::VENUE {
        return kraken::run(&args.file, &args.symbols, None, args.print);
    }
    if venue.name() == tickwire_feeds::coinbase::VENUE {
        if !args.symbols.is_empty() || !args.channels.is_empty() {
            return fail("--symbols/--channels: a Coinbase capture names its products");
        }
        return coinbase::run(&args.file, args.print);
    }
    if let Some(m) = tickwire_feeds::bybit::Market::from_venue(venue.name()) {
        if !args.symbols.is_empty() || !args.channels.is_empty() {
            return fail("--symbols/--channels: a Bybit capture names its topics");
        }
        return bybit::run(m, &args.file, args.print);
    }
    fail(&format!(
        "{}: captures of {} cannot be replayed yet (record a journal with `tickwire record`)",
        args.file.display(),
        venue.name()
    ))
}

fn fail(msg: &str) -> ExitCode {
    eprintln!("tickwire replay: {msg}");
    ExitCode::FAILURE
}

/// Runs `tickwire replay`.
pub fn run(args: Args) -> ExitCode {
    let path = &args.file;
    if !path.exists() {
        return fail(&format!("{}: no such file", path.display()));
    }
    // Journals of every venue, and Binance captures, go through `Replay` (the venue builds
    // the feed handler). Other venues' captures have their own readers (their frames name
    // topics, not combined streams).
    let venue = match args.venue.as_deref().map(tickwire_feeds::venues::find) {
        Some(Ok(v)) => Some(v),
        Some(Err(e)) => return fail(&e.to_string()),
        None => None,
    };
    let capture_venue = venue.filter(|v| v.binance_market().is_none());
    let mut streams = Vec::new();
    if capture_venue.is_none() && (!args.symbols.is_empty() || !args.channels.is_empty()) {
        if args.symbols.is_empty() || args.channels.is_empty() {
            return fail("--symbols and --channels go together");
        }
        let mut channels = Vec::new();
        for c in &args.channels {
            match Channel::from_suffix(c) {
                Some(ch) => channels.push(ch),
                None => return fail(&format!("unknown channel {c:?}")),
            }
        }
        let symbols: Vec<&str> = args.symbols.iter().map(String::as_str).collect();
        streams = Subscription::product(&symbols, &channels)
            .iter()
            .map(Subscription::stream)
            .collect();
    }
    let options = ReplayOptions {
        venue: args.venue.clone(),
        streams,
    };
    let mut replay = match Replay::open(path, &options) {
        Ok(r) => r,
        Err(ReplayError::Unsupported) if capture_venue.is_some() => {
            return replay_capture(capture_venue, &args);
        }
        Err(e) => return fail(&format!("{}: {e}", path.display())),
    };
    if replay.format() == Format::Journal && !options.streams.is_empty() {
        eprintln!("tickwire replay: a journal names its streams; --symbols/--channels ignored");
    }
    if replay.format() == Format::Journal && !replay.verified() {
        eprintln!(
            "tickwire replay: journal version {} has no checksums: its records are not \
             verified (damage may show as wrong events before it is noticed)",
            replay.version()
        );
    }
    let mut lines = JsonLines::new(replay.registry().clone(), replay.venue());
    let mut out = BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let mut text = Vec::with_capacity(1 << 16);
    let terminal = std::io::stderr().is_terminal();
    let started = Instant::now();
    let mut last_progress = started;
    let mut showed_progress = false;
    let mut first_ts: Option<u64> = None;
    let mut stdout_open = true;
    let result = loop {
        let step = match replay.step() {
            Ok(Some(step)) => step,
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        };
        if let Some(damage) = &step.damage {
            // Said where it happens; the records skipped were never replayed.
            if showed_progress {
                eprint!("\r\x1b[K");
            }
            eprintln!("tickwire replay: {}: {damage}", path.display());
        }
        if let Speed::Times(x) = args.speed {
            let t0 = *first_ts.get_or_insert(step.recv_ns);
            let due = Duration::try_from_secs_f64(step.recv_ns.saturating_sub(t0) as f64 / 1e9 / x)
                .unwrap_or(Duration::MAX);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                // Output waits for its time; a terminal refreshes as events are written.
                let _ = out.flush();
                std::thread::sleep(wait);
            }
        }
        if args.print && stdout_open {
            text.clear();
            for e in step.events {
                lines.write(e, &mut text);
            }
            if out.write_all(&text).is_err() {
                // stdout closed (piped into `head`): keep replaying for the summary.
                stdout_open = false;
            }
        }
        if terminal && last_progress.elapsed() >= Duration::from_millis(500) {
            last_progress = Instant::now();
            if started.elapsed() >= Duration::from_secs(1) {
                let (read, total) = replay.progress();
                let s = replay.summary();
                eprint!(
                    "\rtickwire replay: {:>3.0}% of {:.1} MB, {} records, {} events   ",
                    read as f64 * 100.0 / total.max(1) as f64,
                    total as f64 / 1e6,
                    s.records,
                    s.events
                );
                showed_progress = true;
            }
        }
    };
    let _ = out.flush();
    if showed_progress {
        eprint!("\r\x1b[K");
    }
    let summary = replay.summary();
    let report = render_summary(&replay, &summary, started.elapsed());
    if args.print {
        eprint!("{report}");
    } else {
        let _ = out.write_all(report.as_bytes());
        let _ = out.flush();
    }
    // Depth messages that never became events must not vanish unnoticed.
    let mut never_synced = Vec::new();
    for u in replay.unsynced() {
        if u.ever_synced {
            eprintln!(
                "tickwire replay: book {} out of sync at the end: its last {} depth messages \
                 were not shown (the {} ends before a snapshot that fits)",
                u.symbol,
                u.pending,
                match replay.format() {
                    Format::Journal => "journal",
                    Format::Capture => "capture",
                }
            );
        } else {
            never_synced.push(format!(
                "book {} never got in sync: none of its {} depth messages was shown",
                u.symbol, u.depth_messages
            ));
        }
    }
    if result.is_ok() && !never_synced.is_empty() && summary.damaged == 0 {
        return fail(&format!(
            "{}: {} ({} snapshots, {} applied): its snapshots never fit its diffs. Data of \
             another venue or market than {} (e.g. USD-M recorded as spot)? For a capture, \
             give the right --venue",
            path.display(),
            never_synced.join("; "),
            summary.snapshots,
            summary.snapshots_applied,
            replay.venue()
        ));
    }
    match result {
        Ok(()) if summary.damaged > 0 => fail(&format!(
            "{}: journal damaged: {} stretch(es) skipped, {} records lost{}, {} bytes; every \
             event shown came from a verified block",
            path.display(),
            summary.damaged,
            summary.damaged_records,
            if summary.damaged_to_end {
                " plus the records of the last stretch (to the end of the file)"
            } else {
                ""
            },
            summary.damaged_bytes
        )),
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&format!(
            "{}: {e} (the summary covers what was read)",
            path.display()
        )),
    }
}

fn render_summary(replay: &Replay, s: &Summary, took: Duration) -> String {
    let kind = match replay.format() {
        Format::Journal => "journal",
        Format::Capture => "capture",
    };
    let span = s.last_ns.saturating_sub(s.first_ns) as f64 / 1e9;
    let mut r = format!(
        "{kind} {} ({} streams): {} records, {span:.1}s of data, replayed in {:.2}s\n",
        replay.venue(),
        replay.streams().len(),
        s.records,
        took.as_secs_f64()
    );
    r += &format!(
        "  messages {}  snapshots {} (applied {}, failed requests {}, unattributed {})  sessions {}  disconnects {}  lost {}\n",
        s.messages,
        s.snapshots,
        s.snapshots_applied,
        s.snapshot_errors,
        s.unattributed_snapshots,
        s.sessions,
        s.disconnects,
        s.lost
    );
    r += &format!(
        "  events {}: trades {}  book levels {}  bbo {}  status {}\n",
        s.events,
        s.trades,
        s.levels,
        s.bbos,
        s.statuses.iter().sum::<u64>()
    );
    let kinds = [
        StatusKind::Connected,
        StatusKind::Disconnected,
        StatusKind::Resync,
        StatusKind::Gap,
        StatusKind::DecodeError,
        StatusKind::Overflow,
        StatusKind::SubscriptionError,
        StatusKind::Rotating,
        StatusKind::SnapshotFailed,
    ];
    let statuses: Vec<String> = kinds
        .iter()
        .map(|k| format!("{} {}", k.name(), s.status(*k)))
        .collect();
    r += &format!("  statuses: {}\n", statuses.join("  "));
    r += &format!(
        "  gaps {}  resyncs {}  decode errors {}\n",
        s.gaps, s.resyncs, s.decode_errors
    );
    if s.damaged > 0 {
        r += &format!(
            "  damaged: {} stretch(es) skipped, {} records lost{}, {} bytes (nothing unverified shown)\n",
            s.damaged,
            s.damaged_records,
            if s.damaged_to_end { " + the tail" } else { "" },
            s.damaged_bytes
        );
    }
    r
}
