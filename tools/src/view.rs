//! The live terminal view of the demo, `tickwire run --stats` and `tickwire bench`, and the
//! summary printed when they end.
//!
//! [`render`] turns one [`Screen`] (telemetry snapshot, consumer [`Watch`], rates) into text;
//! [`LiveView`] redraws it in place with plain ANSI sequences (cursor home, clear to end of
//! line and of screen) about four times a second — only when stdout is a terminal, so a
//! redirected run prints nothing but its summary. [`summary`] is the final report.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use tickwire_engine::telemetry::{MetricsSnapshot, StageSummary};
use tickwire_engine::{Decimal, EngineStats};

use crate::consumer::{InstrumentWatch, Note, NoteLevel, Watch};

/// Width the view is laid out for.
pub const WIDTH: usize = 96;

/// Redraw period of the live view.
pub const REDRAW: Duration = Duration::from_millis(250);

/// Most instruments listed; the rest are counted.
const MAX_ROWS: usize = 12;

// ---- number formatting (in `crate::text`, shared with the consumer) ----

pub use crate::text::{
    fmt_bytes, fmt_count, fmt_duration, fmt_ns, fmt_rate, fmt_uptime, reason_text,
    snapshot_failure_text,
};

/// A price or quantity without trailing zeros.
fn fmt_decimal(d: Decimal) -> String {
    d.normalize().to_string()
}

// ---- colour ----

#[derive(Clone, Copy)]
enum Style {
    Bold,
    Dim,
    Green,
    Yellow,
    Red,
}

/// Wraps already padded text in a colour when `on`.
fn paint(on: bool, style: Style, text: &str) -> String {
    if !on {
        return text.to_owned();
    }
    let code = match style {
        Style::Bold => "1",
        Style::Dim => "2",
        Style::Green => "32",
        Style::Yellow => "33",
        Style::Red => "31",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

/// `label value`, the value yellow when non-zero.
fn counter(color: bool, label: &str, n: u64, bad: Style) -> String {
    let v = fmt_count(n);
    if n == 0 {
        format!("{label} {v}")
    } else {
        format!("{label} {}", paint(color, bad, &v))
    }
}

// ---- the screen ----

/// Everything one frame of the live view shows.
pub struct Screen<'a> {
    /// Title: what runs against what (`binance spot · ws://...`).
    pub title: &'a str,
    /// Time since start.
    pub uptime: Duration,
    /// Telemetry: messages, bytes, stage percentiles (consumer stages merged in).
    pub metrics: &'a MetricsSnapshot,
    /// What the consumer has seen.
    pub watch: &'a Watch,
    /// Messages per second, recent.
    pub msgs_per_s: f64,
    /// Events per second, recent.
    pub events_per_s: f64,
    /// Connections expected (the feed's plan).
    pub connections: usize,
    /// Notes of the caller (an injected fault, a refused stream), merged with the
    /// consumer's by time.
    pub notes: &'a [Note],
    /// Bottom line (`Ctrl-C to stop`).
    pub footer: &'a str,
}

fn rule(color: bool) -> String {
    paint(color, Style::Dim, &"─".repeat(WIDTH))
}

fn status_line(color: bool, w: &Watch, expected: usize) -> String {
    let live = w.live();
    let conns = format!("{live}/{}", expected.max(w.connections.len()));
    let conns = if live == 0 {
        paint(color, Style::Red, &conns)
    } else if live < expected {
        paint(color, Style::Yellow, &conns)
    } else {
        paint(color, Style::Green, &conns)
    };
    let parts = [
        format!("connections {conns} live"),
        counter(color, "reconnects", w.reconnects(), Style::Yellow),
        counter(color, "gaps", w.gaps, Style::Yellow),
        counter(color, "resyncs", w.resyncs, Style::Yellow),
        counter(color, "overflows", w.overflows, Style::Red),
        counter(color, "decode errors", w.decode_errors, Style::Yellow),
    ];
    let mut parts = parts.to_vec();
    let stale_now = w.instruments.iter().filter(|i| i.stale != 0).count() as u64;
    if w.stale > 0 {
        parts.push(format!(
            "{} ({} now)",
            counter(color, "stale", w.stale, Style::Yellow),
            fmt_count(stale_now)
        ));
    }
    if w.snapshot_failures > 0 {
        parts.push(counter(
            color,
            "snapshot failures",
            w.snapshot_failures,
            Style::Red,
        ));
    }
    let mut line = parts.join(" · ");
    if !w.refused.is_empty() {
        line.push_str(" · ");
        line.push_str(&counter(
            color,
            "refused",
            w.refused.len() as u64,
            Style::Red,
        ));
    }
    line
}

/// The latency table (stages with samples; the others as dashes).
fn latency_table(out: &mut String, color: bool, stages: &[StageSummary], indent: &str) {
    let head = format!(
        "{indent}{:<20}{:>11}{:>11}{:>11}{:>11}{:>14}",
        "latency", "p50", "p99", "p99.9", "max", "samples"
    );
    let _ = writeln!(out, "{}", paint(color, Style::Bold, &head));
    for s in stages {
        if s.count == 0 {
            let _ = writeln!(
                out,
                "{}",
                paint(
                    color,
                    Style::Dim,
                    &format!(
                        "{indent}{:<20}{:>11}{:>11}{:>11}{:>11}{:>14}",
                        s.name, "–", "–", "–", "–", "0"
                    )
                )
            );
            continue;
        }
        let _ = writeln!(
            out,
            "{indent}{:<20}{:>11}{:>11}{:>11}{:>11}{:>14}",
            s.name,
            fmt_ns(s.p50),
            fmt_ns(s.p99),
            fmt_ns(s.p999),
            fmt_ns(s.max),
            fmt_count(s.count)
        );
    }
}

/// A price and its quantity.
type PriceQty = Option<(Decimal, Decimal)>;

/// Best bid/ask of an instrument: from its rebuilt book, else its last BBO.
fn top(w: &InstrumentWatch) -> (PriceQty, PriceQty) {
    match (&w.book, &w.bbo) {
        (Some(b), _) if b.valid => (b.bid, b.ask),
        (None, Some(q)) => (
            Some((q.bid_price, q.bid_qty)),
            Some((q.ask_price, q.ask_qty)),
        ),
        _ => (None, None),
    }
}

/// The book-top table.
fn book_table(out: &mut String, color: bool, w: &Watch, indent: &str) {
    if w.instruments.is_empty() {
        return;
    }
    let head = format!(
        "{indent}{:<11}{:>12}{:>14}  {:<14}{:<12}{:>13}{:>10}  {}",
        "book", "bid qty", "bid", "ask", "ask qty", "last trade", "trades", "state"
    );
    let _ = writeln!(out, "{}", paint(color, Style::Bold, &head));
    for i in w.instruments.iter().take(MAX_ROWS) {
        let (bid, ask) = top(i);
        let (bq, bp) = bid.map_or((String::new(), String::from("–")), |(p, q)| {
            (fmt_decimal(q), fmt_decimal(p))
        });
        let (ap, aq) = ask.map_or((String::from("–"), String::new()), |(p, q)| {
            (fmt_decimal(p), fmt_decimal(q))
        });
        let last = i
            .last_trade
            .map_or(String::from("–"), |t| fmt_decimal(t.price));
        let state = match (&i.book, &i.bbo) {
            _ if i.stale != 0 => {
                let kinds: Vec<&str> = i.stale_kinds().map(|k| k.name()).collect();
                paint(color, Style::Red, &format!("stale: {}", kinds.join(",")))
            }
            (Some(b), _) if b.valid => paint(color, Style::Green, "in sync"),
            _ if i.last_snapshot_failure.is_some() && i.snapshot_failures > 0 => {
                let (code, value) = i.last_snapshot_failure.unwrap_or_default();
                let why = snapshot_failure_text(code, value);
                paint(
                    color,
                    Style::Red,
                    &format!("snapshot failing ×{}: {why}", i.snapshot_failures),
                )
            }
            (Some(_), _) => paint(color, Style::Yellow, "syncing"),
            (None, Some(_)) => String::from("bbo"),
            (None, None) => String::from("trades"),
        };
        let _ = writeln!(
            out,
            "{indent}{:<11}{:>12}{:>14}  {:<14}{:<12}{:>13}{:>10}  {state}",
            &*i.symbol,
            bq,
            bp,
            ap,
            aq,
            last,
            fmt_count(i.trades)
        );
    }
    if w.instruments.len() > MAX_ROWS {
        let _ = writeln!(
            out,
            "{indent}… and {} more instruments",
            w.instruments.len() - MAX_ROWS
        );
    }
}

/// The last notes of the consumer and the caller, oldest first.
fn merged_notes<'a>(w: &'a Watch, extra: &'a [Note]) -> Vec<&'a Note> {
    let mut all: Vec<&Note> = w.log.iter().chain(extra.iter()).collect();
    all.sort_by_key(|n| n.at);
    let skip = all.len().saturating_sub(crate::consumer::LOG_LEN);
    all.split_off(skip)
}

fn note_line(color: bool, n: &Note, indent: &str) -> String {
    let at = format!("{:>8.2} s", n.at.as_secs_f64());
    let text = match n.level {
        NoteLevel::Info => n.text.clone(),
        NoteLevel::Warn => paint(color, Style::Yellow, &n.text),
        NoteLevel::Error => paint(color, Style::Red, &n.text),
    };
    format!("{indent}{}  {text}", paint(color, Style::Dim, &at))
}

/// One frame of the live view.
pub fn render(s: &Screen<'_>, color: bool) -> String {
    let mut out = String::with_capacity(4096);
    let up = format!("up {}", fmt_uptime(s.uptime));
    let room = WIDTH.saturating_sub(up.chars().count() + 1);
    let title: String = s.title.chars().take(room).collect();
    let pad = WIDTH.saturating_sub(title.chars().count() + up.chars().count());
    let _ = writeln!(
        out,
        "{}{}{up}",
        paint(color, Style::Bold, &title),
        " ".repeat(pad)
    );
    let _ = writeln!(out, "{}", rule(color));
    let _ = writeln!(out, "{}", status_line(color, s.watch, s.connections));
    let _ = writeln!(out);
    let head = format!(
        "{:<20}{:>11}{:>11}{:>16}{:>16}{:>14}",
        "throughput", "msgs/s", "events/s", "messages", "events", "received"
    );
    let _ = writeln!(out, "{}", paint(color, Style::Bold, &head));
    let _ = writeln!(
        out,
        "{:<20}{:>11}{:>11}{:>16}{:>16}{:>14}",
        "",
        fmt_rate(s.msgs_per_s),
        fmt_rate(s.events_per_s),
        fmt_count(s.metrics.messages_received),
        fmt_count(s.watch.events),
        fmt_bytes(s.metrics.bytes_received)
    );
    let _ = writeln!(out);
    latency_table(&mut out, color, &s.metrics.stages, "");
    let _ = writeln!(out);
    book_table(&mut out, color, s.watch, "");
    let notes = merged_notes(s.watch, s.notes);
    if !notes.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "{}", paint(color, Style::Bold, "recent"));
        for n in notes {
            let _ = writeln!(out, "{}", note_line(color, n, ""));
        }
    }
    let _ = writeln!(out, "{}", rule(color));
    let _ = writeln!(out, "{}", paint(color, Style::Dim, s.footer));
    out
}

// ---- the terminal ----

/// Redraws frames in place on stdout, when stdout is a terminal.
pub struct LiveView {
    enabled: bool,
    color: bool,
    drawn: bool,
    last_draw: Option<Instant>,
    /// Recent (time, messages, events) samples for the rates.
    samples: VecDeque<(Instant, u64, u64)>,
}

impl Default for LiveView {
    fn default() -> Self {
        LiveView::new()
    }
}

impl LiveView {
    /// A view on stdout: live only if stdout is a terminal (and `TERM` is not `dumb`);
    /// colour unless `NO_COLOR` is set.
    pub fn new() -> LiveView {
        let tty =
            std::io::stdout().is_terminal() && std::env::var("TERM").map_or(true, |t| t != "dumb");
        LiveView {
            enabled: tty,
            color: tty && std::env::var_os("NO_COLOR").is_none(),
            drawn: false,
            last_draw: None,
            samples: VecDeque::new(),
        }
    }

    /// A view that never draws (rates still work).
    pub fn disabled() -> LiveView {
        let mut v = LiveView::new();
        v.enabled = false;
        v.color = false;
        v
    }

    /// Whether frames are drawn.
    pub fn is_live(&self) -> bool {
        self.enabled
    }

    /// Whether frames use colour.
    pub fn color(&self) -> bool {
        self.color
    }

    /// Whether a redraw is due (every [`REDRAW`]).
    pub fn due(&self, now: Instant) -> bool {
        self.enabled
            && self
                .last_draw
                .is_none_or(|t| now.duration_since(t) >= REDRAW)
    }

    /// Adds a sample of the running totals and returns (messages/s, events/s) over about
    /// the last second.
    pub fn rates(&mut self, now: Instant, messages: u64, events: u64) -> (f64, f64) {
        self.samples.push_back((now, messages, events));
        while self.samples.len() > 2
            && self
                .samples
                .get(1)
                .is_some_and(|s| now.duration_since(s.0) >= Duration::from_secs(1))
        {
            self.samples.pop_front();
        }
        match self.samples.front() {
            Some(&(t, m, e)) if now > t => {
                let dt = now.duration_since(t).as_secs_f64();
                (
                    messages.saturating_sub(m) as f64 / dt,
                    events.saturating_sub(e) as f64 / dt,
                )
            }
            _ => (0.0, 0.0),
        }
    }

    /// Draws `frame` over the previous one.
    pub fn draw(&mut self, frame: &str, now: Instant) {
        if !self.enabled {
            return;
        }
        let mut out = String::with_capacity(frame.len() + 256);
        if !self.drawn {
            // Hide the cursor and start from a clean screen.
            crate::signal::cursor_hidden(true);
            out.push_str("\x1b[?25l\x1b[2J");
        }
        out.push_str("\x1b[H");
        for line in frame.lines() {
            out.push_str(line);
            out.push_str("\x1b[K\n");
        }
        out.push_str("\x1b[J");
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(out.as_bytes());
        let _ = stdout.flush();
        self.drawn = true;
        self.last_draw = Some(now);
    }

    /// Clears the last frame (the summary takes its place) and shows the cursor again.
    pub fn finish(&mut self) {
        if self.drawn {
            let mut stdout = std::io::stdout().lock();
            let _ = stdout.write_all(b"\x1b[H\x1b[J\x1b[?25h");
            let _ = stdout.flush();
            crate::signal::cursor_hidden(false);
            self.drawn = false;
        }
    }
}

impl Drop for LiveView {
    fn drop(&mut self) {
        self.finish();
    }
}

// ---- the summary ----

/// What [`summary`] reports.
pub struct Summary<'a> {
    /// `tickwire demo`, `tickwire run`.
    pub label: &'a str,
    /// What ran against what.
    pub target: &'a str,
    /// How long it ran.
    pub elapsed: Duration,
    /// The I/O thread's counters (`Engine::join`).
    pub engine: &'a EngineStats,
    /// Telemetry with the consumer stages merged in.
    pub metrics: &'a MetricsSnapshot,
    /// What the consumer saw.
    pub watch: &'a Watch,
    /// Extra lines for the counters block (`simulator  ... sent`), already indented.
    pub extra: &'a [String],
    /// The caller's notes to list with the consumer's last ones under "what happened";
    /// `None` leaves the section out (they were printed as they came).
    pub notes: Option<&'a [Note]>,
}

/// The final report: counts, rates, problems, stage percentiles and book tops.
pub fn summary(s: &Summary<'_>, color: bool) -> String {
    let w = s.watch;
    let e = s.engine;
    let secs = s.elapsed.as_secs_f64().max(1e-9);
    let mut out = String::with_capacity(4096);
    let _ = writeln!(
        out,
        "{}",
        paint(
            color,
            Style::Bold,
            &format!(
                "{}: {:.1} s against {}",
                s.label,
                s.elapsed.as_secs_f64(),
                s.target
            )
        )
    );
    let _ = writeln!(
        out,
        "  {:<13}{:>12}  ({}/s)  {} received",
        "messages",
        fmt_count(e.messages),
        fmt_rate(e.messages as f64 / secs),
        fmt_bytes(e.bytes_received)
    );
    let _ = writeln!(
        out,
        "  {:<13}{:>12}  ({}/s)  trades {} · book levels {} · bbo {} · status {}",
        "events",
        fmt_count(w.events),
        fmt_rate(w.events as f64 / secs),
        fmt_count(w.trades),
        fmt_count(w.levels),
        fmt_count(w.bbos),
        fmt_count(w.statuses)
    );
    let _ = writeln!(
        out,
        "  {:<13}{} opened · {} · {}",
        "connections",
        fmt_count(e.connects),
        counter(color, "reconnects", w.reconnects(), Style::Yellow),
        counter(color, "failed attempts", e.connect_failures, Style::Yellow),
    );
    let in_sync = w
        .instruments
        .iter()
        .filter(|i| i.book.is_some_and(|b| b.valid))
        .count();
    let books = w
        .instruments
        .iter()
        .filter(|i| i.book.is_some() || i.snapshot_failures > 0)
        .count();
    if books > 0 {
        let recovery = w
            .instruments
            .iter()
            .filter_map(|i| i.last_recovery)
            .max()
            .map(|d| format!(" · slowest recovery {}", fmt_duration(d)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {:<13}{in_sync}/{books} in sync · {} snapshots · {} · {} · {}{recovery}",
            "books",
            fmt_count(w.snapshots),
            counter(color, "snapshot failures", w.snapshot_failures, Style::Red),
            counter(color, "gaps", w.gaps, Style::Yellow),
            counter(color, "resyncs", w.resyncs, Style::Yellow),
        );
    }
    let _ = writeln!(
        out,
        "  {:<13}{} ({} events dropped) · {} · {}",
        "delivery",
        counter(color, "overflows", w.overflows, Style::Red),
        fmt_count(e.dropped_events),
        counter(color, "decode errors", w.decode_errors, Style::Yellow),
        counter(
            color,
            "refused subscriptions",
            w.refused.len() as u64,
            Style::Red
        ),
    );
    if e.telemetry_dropped > 0 {
        let _ = writeln!(
            out,
            "  {:<13}{} telemetry records dropped (percentiles undercount)",
            "telemetry",
            fmt_count(e.telemetry_dropped)
        );
    }
    for line in s.extra {
        let _ = writeln!(out, "{line}");
    }
    let _ = writeln!(out);
    latency_table(&mut out, color, &s.metrics.stages, "  ");
    if !w.instruments.is_empty() {
        let _ = writeln!(out);
        book_table(&mut out, color, w, "  ");
    }
    if let Some(extra) = s.notes {
        let notes = merged_notes(w, extra);
        if !notes.is_empty() {
            let _ = writeln!(out);
            let _ = writeln!(out, "{}", paint(color, Style::Bold, "  what happened"));
            for n in notes {
                let _ = writeln!(out, "{}", note_line(color, n, "  "));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consumer::{BookTop, ConnWatch};
    use tickwire_engine::event::Trade;
    use tickwire_engine::telemetry::DefaultCollector;
    use tickwire_engine::{InstrumentId, Reason, Side};

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn watch() -> Watch {
        let mut w = Watch {
            events: 1_234_567,
            gaps: 1,
            resyncs: 1,
            connections: vec![ConnWatch {
                id: 1,
                live: true,
                sessions: 2,
                ..ConnWatch::default()
            }],
            ..Watch::default()
        };
        let mut i = InstrumentWatch::new(InstrumentId(0), "BTCUSDT".into());
        i.book = Some(BookTop {
            valid: true,
            bid: Some((d("43250.12000000"), d("1.50000000"))),
            ask: Some((d("43250.13"), d("0.25"))),
            levels: 10,
            seq: 7,
        });
        i.trades = 42;
        i.last_trade = Some(Trade {
            price: d("43250.12"),
            qty: d("0.1"),
            side: Side::Buy,
            id: 9,
        });
        w.instruments.push(i);
        w.instruments
            .push(InstrumentWatch::new(InstrumentId(1), "ETHUSDT".into()));
        w
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(fmt_count(0), "0");
        assert_eq!(fmt_count(999), "999");
        assert_eq!(fmt_count(1_000), "1,000");
        assert_eq!(fmt_count(1_234_567), "1,234,567");
        assert_eq!(fmt_ns(850), "850 ns");
        assert_eq!(fmt_ns(12_140), "12.1 µs");
        assert_eq!(fmt_ns(250_000), "250 µs");
        assert_eq!(fmt_ns(1_234_000), "1.23 ms");
        assert_eq!(fmt_ns(2_000_000_000), "2.00 s");
        assert_eq!(fmt_duration(Duration::from_micros(850)), "850 µs");
        assert_eq!(fmt_duration(Duration::from_millis(84)), "84 ms");
        assert_eq!(fmt_duration(Duration::from_millis(1_250)), "1.2 s");
        assert_eq!(fmt_uptime(Duration::from_millis(62_300)), "1:02.3");
        assert_eq!(fmt_bytes(25_100_000), "25.1 MB");
        assert_eq!(fmt_decimal(d("43250.12000000")), "43250.12");
        assert_eq!(
            reason_text(Reason::Handshake.code()),
            "WebSocket upgrade refused"
        );
    }

    #[test]
    fn frame_is_aligned_and_complete() {
        let metrics = DefaultCollector::new().snapshot();
        let w = watch();
        let screen = Screen {
            title: "tickwire demo · binance spot · ws://127.0.0.1:1",
            uptime: Duration::from_millis(6_200),
            metrics: &metrics,
            watch: &w,
            msgs_per_s: 31_204.4,
            events_per_s: 88_120.0,
            connections: 1,
            notes: &[],
            footer: "Ctrl-C to stop",
        };
        let text = render(&screen, false);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("tickwire demo"));
        assert!(lines[0].ends_with("up 0:06.2"));
        assert_eq!(lines[0].chars().count(), WIDTH);
        assert!(text.contains("connections 1/1 live · reconnects 1 · gaps 1 · resyncs 1"));
        assert!(text.contains("31,204"));
        assert!(text.contains("1,234,567"));
        // Every stage appears, with dashes when it has no samples.
        for stage in tickwire_engine::telemetry::Stage::ALL {
            assert!(text.contains(stage.name()), "{}", stage.name());
        }
        // Book rows line up under their headers.
        let head = lines.iter().find(|l| l.starts_with("book")).unwrap();
        let btc = lines.iter().find(|l| l.starts_with("BTCUSDT")).unwrap();
        let upto = |l: &str, n: usize| l.chars().take(n).collect::<String>();
        // Right-aligned bid column ends at 11 + 12 + 14; the ask column starts after 2 more.
        assert!(upto(head, 37).ends_with(" bid") && upto(btc, 37).ends_with(" 43250.12"));
        assert!(upto(head, 42).ends_with("  ask") && upto(btc, 47).ends_with("  43250.13"));
        println!("{text}");
        assert!(btc.contains("1.5") && btc.contains("0.25") && btc.contains("in sync"));
        let eth = lines.iter().find(|l| l.starts_with("ETHUSDT")).unwrap();
        assert!(eth.trim_end().ends_with("trades"));
        assert!(lines.last().unwrap().contains("Ctrl-C"));
        // No colour codes unless asked.
        assert!(!text.contains('\x1b'));
        assert!(render(&screen, true).contains("\x1b[1m"));
    }

    #[test]
    fn summary_reports_problems_and_books() {
        let metrics = DefaultCollector::new().snapshot();
        let mut w = watch();
        w.log.push_back(Note {
            at: Duration::from_millis(4_210),
            seq: 1,
            level: NoteLevel::Warn,
            text: "BTCUSDT: gap".into(),
        });
        let engine = EngineStats {
            messages: 1000,
            bytes_received: 123_456,
            connects: 2,
            ..EngineStats::default()
        };
        let text = summary(
            &Summary {
                label: "tickwire run",
                target: "binance at ws://x",
                elapsed: Duration::from_secs(2),
                engine: &engine,
                metrics: &metrics,
                watch: &w,
                extra: &[String::from("  simulator    7 sent")],
                notes: Some(&[]),
            },
            false,
        );
        assert!(text.starts_with("tickwire run: 2.0 s against binance at ws://x"));
        assert!(text.contains("messages            1,000  (500/s)  123.5 kB received"));
        assert!(text.contains("1/1 in sync"));
        assert!(text.contains("gaps 1 · resyncs 1"));
        assert!(text.contains("overflows 0 (0 events dropped)"));
        assert!(text.contains("recv→consumed"));
        assert!(text.contains("BTCUSDT"));
        assert!(text.contains("refused subscriptions 0\n  simulator    7 sent\n"));
        assert!(
            text.contains("  what happened\n      4.21 s  BTCUSDT: gap\n"),
            "{text}"
        );
    }

    #[test]
    fn snapshot_failures_show_in_the_live_view_and_the_book_row() {
        let metrics = DefaultCollector::new().snapshot();
        let mut w = watch();
        w.snapshot_failures = 2;
        w.instruments[1].snapshot_failures = 2;
        w.instruments[1].last_snapshot_failure = Some((Reason::Banned.code(), 120_000));
        let screen = Screen {
            title: "t",
            uptime: Duration::from_secs(1),
            metrics: &metrics,
            watch: &w,
            msgs_per_s: 0.0,
            events_per_s: 0.0,
            connections: 1,
            notes: &[],
            footer: "",
        };
        let text = render(&screen, false);
        assert!(
            text.contains("decode errors 0 · snapshot failures 2"),
            "{text}"
        );
        let eth = text.lines().find(|l| l.starts_with("ETHUSDT")).unwrap();
        assert!(
            eth.contains("snapshot failing ×2: IP banned (HTTP 418), retry after 120000 ms"),
            "{eth}"
        );
        // None yet: not shown.
        let quiet = watch();
        let screen = Screen {
            watch: &quiet,
            ..screen
        };
        assert!(!render(&screen, false).contains("snapshot failures"));
    }
}
