//! `tickwire run`: a Binance feed on the engine, every event printed as a JSON line
//! (`--print`, the `tickwire decode` format) or watched in the live view (`--stats`), until
//! Ctrl-C, `--duration`, or an error that needs the user (every subscription refused, no
//! connection possible). A summary goes to stderr at the end.
//!
//! [`drive`] is the session both `run` and the demo use: engine, telemetry collector,
//! consumer thread, feed, view, signals, shutdown and summary.

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tickwire_engine::FeedAdapter;
use tickwire_engine::telemetry::{self, CollectorThread, DefaultCollector};
use tickwire_engine::{
    ConnectionId, Engine, EngineConfig, EngineStats, IdleStrategy, Profile, Reason, Registry,
};
use tickwire_feeds::binance::{
    BinanceAdapter, BinanceFeed, Channel, DepthSpeed, FeedError, FeedPlan, Market, SubscribeVia,
    Subscription,
};
use tickwire_tools::consumer::{Idle, Note, NoteLevel, Tap, TapConfig, Watch};
use tickwire_tools::signal;
use tickwire_tools::view::{self, LiveView, Screen, Summary};

/// Exit code for a command line that cannot work (bad venue, channel, URL, symbol).
const USAGE: u8 = 2;

/// Failed attempts before the first session after which a run gives up.
const ATTEMPTS_BEFORE_LIVE: u64 = 5;

/// Capacity of the consumer ring, in events.
const RING: usize = 1 << 16;

/// Arguments of `tickwire run`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
tickwire run --symbols BTCUSDT,ETHUSDT --channels trade,book,bbo --stats\n  \
tickwire run --venue binance-usdm --symbols BTCUSDT --channels aggtrade --print | head\n  \
tickwire sim --port 9100 &  tickwire run --url ws://127.0.0.1:9100 --symbols BTCUSDT")]
pub struct Args {
    /// Venue: binance (spot), binance-usdm (USD-M futures) or okx (instIds like BTC-USDT;
    /// channels trade, bbo, book; events printed as JSON lines).
    #[arg(long, default_value = "binance")]
    venue: String,
    /// Symbols, comma-separated (BTCUSDT,ETHUSDT; any case).
    #[arg(long, value_delimiter = ',', required = true)]
    symbols: Vec<String>,
    /// Channels, comma-separated: trade, aggtrade, bbo (bookTicker), book (diff depth kept in
    /// sync with REST snapshots).
    #[arg(long, value_delimiter = ',', default_value = "trade,bbo,book")]
    channels: Vec<String>,
    /// Update speed of the book channel: 100ms, default (1000 ms spot, 250 ms USD-M); USD-M
    /// also 500ms and 0ms.
    #[arg(long, default_value = "100ms")]
    depth_speed: String,
    /// WebSocket endpoint instead of the venue's: testnet, a proxy, `tickwire sim`
    /// (ws://127.0.0.1:9100 or ws://127.0.0.1:9100/stream). Repeat it for redundant lines
    /// (A/B): every line stays live, each update is delivered once (the first copy), a
    /// book resyncs only when every line missed an update; per-line statistics in the
    /// live view and the summary.
    #[arg(long)]
    url: Vec<String>,
    /// REST endpoint for book snapshots instead of the venue's (default: the --url host when
    /// it is loopback, else the venue's).
    #[arg(long)]
    rest_url: Option<String>,
    /// Print every event, status events included, as a JSON line (the `tickwire decode`
    /// format). The default when stdout is not a terminal.
    #[arg(long, conflicts_with = "stats")]
    print: bool,
    /// Show the live view (rates, latency percentiles, book tops). The default on a terminal.
    #[arg(long)]
    stats: bool,
    /// Stop after this long (500ms, 30s, 5m); default: until Ctrl-C.
    #[arg(long, value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Trust this root certificate (PEM or DER file) for wss:// with a self-signed server.
    #[arg(long)]
    cert: Option<PathBuf>,
    /// Ask for microsecond timestamps (timeUnit=MICROSECOND).
    #[arg(long)]
    micros: bool,
    /// Take exchange_ts from a leading "ts" field in ns (`tickwire sim --probe`).
    #[arg(long)]
    probe: bool,
    /// How streams are requested: frames (SUBSCRIBE after connecting; each refusal is
    /// reported) or url (named in the URL; live at once).
    #[arg(long, default_value = "frames")]
    subscribe: String,
    /// Engine profile: standard (blocking poll), low-latency (busy poll), lightweight.
    #[arg(long, default_value = "standard")]
    profile: String,
    /// Also publish every event to NATS JetStream (nats://HOST:PORT, comma-separated for a
    /// cluster): stream TICKWIRE, subjects tickwire.VENUE.SYMBOL, read back with
    /// `tickwire subscribe`. An egress thread of its own drains a ring of its own.
    #[arg(long, value_name = "URL")]
    publish: Option<String>,
    /// Replicas of the stream when `--publish` creates it (3 on a 3-node JetStream cluster;
    /// an existing stream is used as it is).
    #[arg(long, default_value_t = 1, requires = "publish")]
    publish_replicas: usize,
    /// Offer permessage-deflate (RFC 7692): if the server accepts, its messages arrive
    /// compressed (several times fewer bytes on depth streams) and are inflated on the I/O
    /// thread; subscribe requests go out uncompressed.
    #[arg(long)]
    deflate: bool,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    tickwire_tools::sim::parse_duration(s).map_err(|e| e.to_string())
}

fn parse_channel(name: &str, speed: DepthSpeed) -> Option<Channel> {
    Some(match name.trim().to_ascii_lowercase().as_str() {
        "trade" | "trades" => Channel::Trade,
        "aggtrade" | "aggtrades" | "agg" => Channel::AggTrade,
        "bbo" | "bookticker" | "ticker" => Channel::BookTicker,
        "book" | "depth" => Channel::Depth(speed),
        _ => return None,
    })
}

fn parse_speed(s: &str, market: Market) -> Result<DepthSpeed, String> {
    let speed = match s.trim().to_ascii_lowercase().as_str() {
        "100ms" | "100" => DepthSpeed::Ms100,
        "default" | "1000ms" | "250ms" => DepthSpeed::Default,
        "500ms" | "500" => DepthSpeed::Ms500,
        "0ms" | "0" => DepthSpeed::Ms0,
        _ => {
            return Err(format!(
                "unknown --depth-speed '{s}': use 100ms or default (USD-M also 500ms, 0ms)"
            ));
        }
    };
    if market == Market::Spot && matches!(speed, DepthSpeed::Ms500 | DepthSpeed::Ms0) {
        return Err(format!(
            "--depth-speed {s} is USD-M only; spot offers 100ms and default (1000 ms)"
        ));
    }
    Ok(speed)
}

fn parse_profile(s: &str) -> Option<Profile> {
    match s.trim().to_ascii_lowercase().as_str() {
        "standard" => Some(Profile::Standard),
        "low-latency" | "lowlatency" | "low_latency" => Some(Profile::LowLatency),
        "lightweight" => Some(Profile::Lightweight),
        _ => None,
    }
}

/// `ws://127.0.0.1:9100/stream` → `http://127.0.0.1:9100` when the host is loopback.
fn loopback_rest(url: &str) -> Option<String> {
    let endpoint = tickwire_engine::config::Endpoint::parse(url).ok()?;
    let host = endpoint.host.as_str();
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        return None;
    }
    let scheme = if endpoint.tls { "https" } else { "http" };
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    };
    Some(format!("{scheme}://{host}:{}", endpoint.port))
}

fn usage(msg: &str) -> ExitCode {
    eprintln!("tickwire run: {msg}");
    ExitCode::from(USAGE)
}

/// Runs `tickwire run`.
pub fn run(args: Args) -> ExitCode {
    if tickwire_feeds::venues::find(&args.venue).map(|v| v.name()) == Ok(tickwire_feeds::okx::VENUE)
    {
        return crate::run_okx::run(
            &args.symbols,
            &args.channels,
            args.url.first().map(String::as_str),
            args.rest_url.as_deref(),
            args.duration,
        );
    }
    let market = match tickwire_feeds::venues::find(&args.venue) {
        Ok(v) => match v.binance_market() {
            Some(m) => m,
            None => {
                return usage(&format!(
                    "venue '{}' cannot be run yet (run plans Binance connections only)",
                    v.name()
                ));
            }
        },
        Err(e) => return usage(&e.to_string()),
    };
    let speed = match parse_speed(&args.depth_speed, market) {
        Ok(s) => s,
        Err(e) => return usage(&e),
    };
    let mut channels: Vec<Channel> = Vec::new();
    for name in args.channels.iter().filter(|c| !c.trim().is_empty()) {
        match parse_channel(name, speed) {
            Some(c) if !channels.contains(&c) => channels.push(c),
            Some(_) => {}
            None => {
                return usage(&format!(
                    "unknown channel '{name}': use trade, aggtrade, bbo or book"
                ));
            }
        }
    }
    let symbols: Vec<String> = args
        .symbols
        .iter()
        .map(|s| s.trim().to_ascii_uppercase())
        .filter(|s| !s.is_empty())
        .collect();
    if symbols.is_empty() || channels.is_empty() {
        return usage("give at least one symbol (--symbols) and one channel (--channels)");
    }
    let via = match args.subscribe.as_str() {
        "frames" => SubscribeVia::Frames,
        "url" => SubscribeVia::Url,
        other => return usage(&format!("unknown --subscribe '{other}': use frames or url")),
    };
    let Some(profile) = parse_profile(&args.profile) else {
        return usage(&format!(
            "unknown --profile '{}': use standard, low-latency or lightweight",
            args.profile
        ));
    };

    let mut feed = BinanceFeed::new(market)
        .symbols(&symbols)
        .channels(&channels)
        .subscribe_via(via)
        .microseconds(args.micros)
        .latency_probe(args.probe);
    if via == SubscribeVia::Frames {
        // Small requests, aligned on symbols, so a refusal names the symbol at fault; at
        // most about 8 frames a connection (the venue paces them at 4-10 a second).
        let n = channels.len();
        let per = (symbols.len() * n).div_ceil(8).div_ceil(n) * n;
        feed.config_mut().streams_per_frame = per.clamp(n, 200);
    }
    if let Some(url) = args.url.first() {
        feed = feed.url(url);
    }
    for line in args.url.iter().skip(1) {
        feed = feed.line(line);
    }
    if args.deflate {
        feed = feed.options(tickwire_engine::ConnectionOptions {
            deflate: Some(tickwire_engine::ws::DeflateOffer::default()),
            ..tickwire_engine::ConnectionOptions::default()
        });
    }
    let rest = args
        .rest_url
        .clone()
        .or_else(|| args.url.first().and_then(|u| loopback_rest(u)));
    if let Some(rest) = &rest {
        feed = feed.rest_url(rest);
    }
    if let Some(path) = &args.cert {
        match std::fs::read(path) {
            Ok(bytes) if bytes.starts_with(b"-----BEGIN") => {
                feed = feed.trust_root_pem(&String::from_utf8_lossy(&bytes));
            }
            Ok(bytes) => feed = feed.trust_root_der(&bytes),
            Err(e) => return usage(&format!("cannot read --cert {}: {e}", path.display())),
        }
    }

    let mut engine = EngineConfig::profile(profile);
    if profile == Profile::LowLatency {
        // A pure spin starves a consumer sharing the core; yield on empty polls.
        engine.idle = IdleStrategy::SpinThenYield { spins: 0 };
    }
    let print = args.print || (!args.stats && !std::io::stdout().is_terminal());
    let market_name = match market {
        Market::Spot => "binance spot",
        Market::UsdM => "binance usd-m",
    };
    let ws = feed
        .resolved_config()
        .map(|c| c.ws_base().to_owned())
        .unwrap_or_default();
    let rest_base = feed
        .resolved_config()
        .map(|c| c.rest_base().to_owned())
        .unwrap_or_default();
    if print && channels.iter().any(|c| matches!(c, Channel::Depth(_))) {
        eprintln!("tickwire run: book snapshots from {rest_base} (--rest-url to change)");
    }
    let session = Session {
        label: "tickwire run",
        title: format!(
            "tickwire run · {market_name} · {ws} · {} symbols × {} channels",
            symbols.len(),
            channels.len()
        ),
        target: format!("{market_name} at {ws}"),
        feed,
        engine,
        print,
        live: !print,
        duration: args.duration,
        idle: if profile == Profile::LowLatency {
            Idle::Yield
        } else {
            Idle::Sleep(Duration::from_millis(1))
        },
        summary_on_stdout: false,
        footer: String::from("Ctrl-C to stop"),
        cert: args.cert.is_some(),
        publish: args.publish.clone().map(|url| (url, args.publish_replicas)),
    };
    let lines = session.feed.clone();
    drive(session, &mut |_| None, &|| line_summary(&lines))
}

/// The summary lines of an A/B feed: per connection and line, its state and how often its
/// copy came first; per pair of lines, how far the later copy came behind.
fn line_summary(feed: &BinanceFeed) -> Vec<String> {
    let mut out = Vec::new();
    for (n, m) in feed.line_monitors().iter().enumerate() {
        let r = m.report();
        let total: u64 = r.lines.iter().map(|l| l.won).sum::<u64>().max(1);
        for (i, l) in r.lines.iter().enumerate() {
            out.push(format!(
                "connection #{n} line {i}: {}, first {} ({:.1}%), later {}, held {}, down {}×, lagging {}×",
                l.state.map_or("?", |s| s.name()),
                l.won,
                l.won as f64 * 100.0 / total as f64,
                l.lost,
                l.held,
                l.downs,
                l.lagging
            ));
        }
        for p in &r.pairs {
            out.push(format!(
                "connection #{n} line {} behind line {}: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms ({} copies)",
                p.later,
                p.first,
                p.p50_ns as f64 / 1e6,
                p.p99_ns as f64 / 1e6,
                p.max_ns as f64 / 1e6,
                p.count
            ));
        }
        out.push(format!(
            "connection #{n}: holes filled by another line {}, missed by every line {}",
            r.filled, r.gaps
        ));
    }
    out
}

/// One run of a feed on a fresh engine (see [`drive`]).
pub(crate) struct Session {
    /// Prefix of messages (`tickwire run`).
    pub label: &'static str,
    /// Title line of the live view.
    pub title: String,
    /// What the summary says it ran against.
    pub target: String,
    /// The feed to start.
    pub feed: BinanceFeed,
    /// The engine's configuration.
    pub engine: EngineConfig,
    /// Print every event as a JSON line.
    pub print: bool,
    /// Show the live view (when stdout is a terminal).
    pub live: bool,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// The consumer's idle behaviour.
    pub idle: Idle,
    /// Summary to stdout (demo) rather than stderr (run).
    pub summary_on_stdout: bool,
    /// Bottom line of the live view.
    pub footer: String,
    /// Extra trust roots were given (`--cert`): hints do not suggest it again.
    pub cert: bool,
    /// Publish every event to NATS JetStream at this URL, creating the stream with this many
    /// replicas if missing (`--publish`, `--publish-replicas`).
    pub publish: Option<(String, usize)>,
}

#[cfg(feature = "nats")]
type EgressThread = tickwire_bus::Egress;
#[cfg(not(feature = "nats"))]
type EgressThread = std::convert::Infallible;

/// Adds the egress's ring to `builder` and starts the egress on it.
#[cfg(feature = "nats")]
fn start_egress(
    builder: &mut tickwire_engine::EngineBuilder,
    url: &str,
    replicas: usize,
    venue: &str,
    registry: &Registry,
) -> Result<(tickwire_engine::ConsumerId, EgressThread), String> {
    let (id, ring) = builder.consumer(RING);
    let mut config = tickwire_bus::EgressConfig::new(url);
    config.venue = Some(venue.to_owned());
    config.replicas = replicas;
    let egress =
        tickwire_bus::Egress::spawn(ring, registry.clone(), config).map_err(|e| e.to_string())?;
    Ok((id, egress))
}

#[cfg(not(feature = "nats"))]
fn start_egress(
    _: &mut tickwire_engine::EngineBuilder,
    _: &str,
    _: usize,
    _: &str,
    _: &Registry,
) -> Result<(tickwire_engine::ConsumerId, EgressThread), String> {
    Err("this tickwire was built without the `nats` feature".into())
}

/// Waits for the egress and says what it published.
#[cfg(feature = "nats")]
fn join_egress(egress: EgressThread) -> String {
    let publisher = egress.publisher();
    match egress.join() {
        Ok(s) => format!(
            "published {} events in {} batches to NATS (publisher {publisher:016x}; {} retries, \
             {} duplicates, {} dropped in {} gaps, {} snapshot runs)",
            s.events_acked,
            s.batches_acked,
            s.retries,
            s.duplicates,
            s.dropped,
            s.gaps,
            s.snapshots
        ),
        Err(e) => format!("NATS egress: {e}"),
    }
}

#[cfg(not(feature = "nats"))]
fn join_egress(egress: EgressThread) -> String {
    match egress {}
}

/// Why a session ended.
#[derive(Clone, Debug, PartialEq, Eq)]
enum End {
    Signal,
    Duration,
    OutputClosed,
    Fatal(String),
}

/// What the main thread tracks between ticks.
struct Progress {
    /// The main thread's own notes (refusals, the caller's).
    notes: Vec<Note>,
    /// Of those, how many went to stderr.
    notes_printed: usize,
    /// The `seq` of the consumer's last note printed.
    printed: u64,
    /// Refusals of the consumer already explained.
    refusals_seen: usize,
    /// Streams the venue refused.
    refused: BTreeSet<String>,
}

/// Runs `session` until a signal, its duration, a closed output or a fatal error; then shuts
/// the engine down, prints the summary and returns the exit code. `tick` is called about
/// every 50 ms with the time since start; a note it returns is shown in the view. `extra`
/// gives lines for the summary's counters block, once the engine has stopped.
pub(crate) fn drive(
    session: Session,
    tick: &mut dyn FnMut(Duration) -> Option<String>,
    extra: &dyn Fn() -> Vec<String>,
) -> ExitCode {
    let label = session.label;
    // `--duration` counts from here: a long start-up is part of the run.
    let started = Instant::now();
    if let Err(e) = signal::install() {
        eprintln!("{label}: cannot catch Ctrl-C ({e}); stop with SIGKILL");
    }
    let registry = Registry::new();
    // Planning thousands of symbols takes a while: off this thread, so Ctrl-C and
    // `--duration` still end the run.
    let planned = {
        let feed = session.feed.clone();
        interruptible(started, session.duration, move || {
            let plan = feed.plan()?;
            Ok::<_, FeedError>((plan, feed))
        })
    };
    let (plan, feed) = match planned {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => return feed_error(label, &session.feed, e),
        Err(end) => return stopped_during_start_up(label, &end),
    };
    let urls = urls_of(&feed, &plan, &registry);
    let (tx, rx) = telemetry::channel(session.engine.telemetry_capacity);
    let mut builder = Engine::builder(session.engine);
    builder.telemetry(tx);
    let (consumer_id, consumer) = builder.consumer(RING);
    let mut consumers = vec![consumer_id];
    let egress = match &session.publish {
        Some((url, replicas)) => match start_egress(
            &mut builder,
            url,
            *replicas,
            session.feed.venue(),
            &registry,
        ) {
            Ok((id, egress)) => {
                consumers.push(id);
                Some(egress)
            }
            Err(e) => {
                eprintln!("{label}: --publish: {e}");
                return ExitCode::FAILURE;
            }
        },
        None => None,
    };
    let engine = match builder.start() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("{label}: the engine could not start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let collector =
        match CollectorThread::spawn(rx, DefaultCollector::new(), Duration::from_millis(10)) {
            Ok(c) => Arc::new(c),
            Err(e) => {
                eprintln!("{label}: cannot start the telemetry thread: {e}");
                return ExitCode::FAILURE;
            }
        };
    let epoch = Instant::now();
    let tap_config = TapConfig {
        print: session.print,
        idle: session.idle,
        epoch,
        book_depth: session
            .feed
            .resolved_config()
            .map_or(5000, |c| c.book_depth),
        ..TapConfig::new(session.feed.venue())
    };
    let sink_collector = collector.clone();
    let tap = match Tap::spawn(
        consumer,
        registry.clone(),
        tap_config,
        Box::new(move |rec| sink_collector.lock().merge_consumer(rec)),
    ) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{label}: cannot start the consumer thread: {e}");
            return ExitCode::FAILURE;
        }
    };
    let starting = {
        let (handle, registry) = (engine.handle(), registry.clone());
        interruptible(started, session.duration, move || {
            feed.start(&handle, &registry, &consumers)
        })
    };
    // A signal or the duration during start-up: no loop, straight to the shutdown and the
    // summary (connections the start-up thread still adds are refused by the stopping
    // engine).
    let (conns, early_end) = match starting {
        Ok(Ok(c)) => (c, None),
        Ok(Err(e)) => {
            let _ = engine.join();
            let _ = tap.join();
            return feed_error(label, &session.feed, e);
        }
        Err(end) => (Vec::new(), Some(end)),
    };
    if session.print {
        for (i, url) in urls.iter().enumerate() {
            eprintln!(
                "{label}: connection {} → {url}",
                conns.get(i).map_or(0, |c| c.0)
            );
        }
    }

    let mut live = if session.live {
        LiveView::new()
    } else {
        LiveView::disabled()
    };
    let mut progress = Progress {
        notes: Vec::new(),
        notes_printed: 0,
        printed: 0,
        refusals_seen: 0,
        refused: BTreeSet::new(),
    };
    let end = loop {
        if let Some(end) = early_end {
            break end;
        }
        let now = Instant::now();
        let elapsed = now.duration_since(epoch);
        if signal::received() {
            break End::Signal;
        }
        if session.duration.is_some_and(|d| started.elapsed() >= d) {
            break End::Duration;
        }
        if let Some(text) = tick(elapsed) {
            progress.notes.push(Note {
                at: elapsed,
                seq: 0,
                level: NoteLevel::Warn,
                text,
            });
        }
        let watch = tap.watch().clone();
        if watch.output_closed {
            break End::OutputClosed;
        }
        if watch.finished {
            break End::Fatal(String::from("the engine stopped unexpectedly"));
        }
        if let Some(fatal) = check(
            &watch,
            &plan,
            &conns,
            &urls,
            &mut progress,
            elapsed,
            session.cert,
        ) {
            break End::Fatal(fatal);
        }
        if session.print {
            print_notes(label, &watch, &mut progress);
        }
        if live.due(now) {
            let metrics = collector.lock().snapshot();
            let (msgs, events) = live.rates(now, metrics.messages_received, watch.events);
            let footer = match session.duration {
                Some(d) => format!(
                    "{} · ends in {:.0} s",
                    session.footer,
                    d.saturating_sub(started.elapsed()).as_secs_f64().ceil()
                ),
                None => session.footer.clone(),
            };
            let frame = view::render(
                &Screen {
                    title: &session.title,
                    uptime: elapsed,
                    metrics: &metrics,
                    watch: &watch,
                    msgs_per_s: msgs,
                    events_per_s: events,
                    connections: conns.len(),
                    notes: &progress.notes,
                    footer: &footer,
                },
                live.color(),
            );
            live.draw(&frame, now);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let elapsed = epoch.elapsed();
    let color = live.color();
    let was_live = live.is_live();
    live.finish();

    let stats = engine.join().unwrap_or_else(|e| {
        eprintln!("{label}: the I/O thread failed: {e}");
        EngineStats::default()
    });
    let watch = tap.join();
    if session.print {
        print_notes(label, &watch, &mut progress);
    }
    if let Some(egress) = egress {
        // The engine has stopped: the egress publishes what it still holds, then ends.
        eprintln!("{label}: {}", join_egress(egress));
    }
    let metrics = match Arc::try_unwrap(collector) {
        Ok(c) => {
            let shared = c.stop();
            shared.lock().unwrap_or_else(|e| e.into_inner()).snapshot()
        }
        Err(c) => c.lock().snapshot(),
    };
    let extra = extra();
    let text = view::summary(
        &Summary {
            label,
            target: &session.target,
            elapsed,
            engine: &stats,
            metrics: &metrics,
            watch: &watch,
            extra: &extra,
            // The story of the run, unless it went to stderr line by line.
            notes: (!session.print && (was_live || session.summary_on_stdout))
                .then_some(progress.notes.as_slice()),
        },
        color,
    );
    if session.summary_on_stdout {
        print!("{text}");
    } else {
        eprint!("{text}");
    }
    match end {
        End::Fatal(msg) => {
            eprintln!("{label}: {msg}");
            ExitCode::FAILURE
        }
        End::Signal | End::Duration | End::OutputClosed => ExitCode::SUCCESS,
    }
}

/// Runs `f` on a thread of its own while this one watches for SIGINT/SIGTERM and for the
/// run's `duration` (counted from `started`), every 10 ms. `Err` when one of those came
/// first: the thread is left to finish on its own (the run is ending).
fn interruptible<T: Send + 'static>(
    started: Instant,
    duration: Option<Duration>,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, End> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let spawned = std::thread::Builder::new()
        .name("tickwire-start".into())
        .spawn(move || {
            let _ = tx.send(f());
        });
    if let Err(e) = spawned {
        return Err(End::Fatal(format!("cannot start the start-up thread: {e}")));
    }
    loop {
        match rx.recv_timeout(Duration::from_millis(10)) {
            Ok(v) => return Ok(v),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                return Err(End::Fatal(String::from("the start-up thread failed")));
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
        }
        if signal::received() {
            return Err(End::Signal);
        }
        if duration.is_some_and(|d| started.elapsed() >= d) {
            return Err(End::Duration);
        }
    }
}

/// The run ended while the connections were still being planned (nothing started yet).
fn stopped_during_start_up(label: &str, end: &End) -> ExitCode {
    match end {
        End::Fatal(msg) => {
            eprintln!("{label}: {msg}");
            ExitCode::FAILURE
        }
        End::Signal => {
            eprintln!("{label}: stopped by a signal during start-up");
            ExitCode::SUCCESS
        }
        End::Duration | End::OutputClosed => {
            eprintln!("{label}: the duration ended during start-up");
            ExitCode::SUCCESS
        }
    }
}

/// The WebSocket URL of each connection of `plan` ([`BinanceFeed::urls`] without planning
/// again: planning is the slow part of a start-up with thousands of symbols).
fn urls_of(feed: &BinanceFeed, plan: &FeedPlan, registry: &Registry) -> Vec<String> {
    let Ok(config) = feed.resolved_config() else {
        return Vec::new();
    };
    plan.groups()
        .iter()
        .map(|g| {
            BinanceAdapter::new(config.clone(), g, registry)
                .ok()
                .map(|a| FeedAdapter::endpoint(&a).url)
        })
        .collect::<Option<Vec<_>>>()
        .unwrap_or_default()
}

/// Explains a feed that could not start; the exit code says whose fault it is.
fn feed_error(label: &str, feed: &BinanceFeed, e: FeedError) -> ExitCode {
    let (msg, code) = match e {
        FeedError::InvalidSymbol { index } => {
            let subs = feed.subscriptions();
            let sym = subs.get(index).map_or("", |s| s.symbol.as_str());
            (
                format!("'{sym}' is not a Binance symbol: letters and digits only, like BTCUSDT"),
                USAGE,
            )
        }
        FeedError::Url(_) | FeedError::UrlQuery => (
            format!("bad --url: {e} (e.g. wss://stream.binance.com:9443 or ws://127.0.0.1:9100)"),
            USAGE,
        ),
        FeedError::RestUrl => (
            format!("bad --rest-url: {e} (e.g. https://api.binance.com or http://127.0.0.1:9100)"),
            USAGE,
        ),
        FeedError::Certificate => (format!("bad --cert: {e}"), USAGE),
        FeedError::NoSubscriptions => (e.to_string(), USAGE),
        _ => (e.to_string(), 1),
    };
    eprintln!("{label}: {msg}");
    ExitCode::from(code)
}

fn stream_list(subs: &[Subscription]) -> String {
    subs.iter()
        .map(Subscription::stream)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Reacts to refusals and connections that never came up; returns a fatal message.
fn check(
    watch: &Watch,
    plan: &FeedPlan,
    conns: &[ConnectionId],
    urls: &[String],
    progress: &mut Progress,
    elapsed: Duration,
    cert_given: bool,
) -> Option<String> {
    let group_of = |c: u32| conns.iter().position(|id| id.0 == c);
    // Only a new refusal can complete the set: the stream names (one string per
    // subscription, thousands with a large universe) are not rebuilt every turn.
    let new_refusals = watch.refused.len() > progress.refusals_seen;
    for r in &watch.refused[progress.refusals_seen..] {
        let streams = group_of(r.connection).and_then(|g| plan.request(g, r.request));
        let text = match streams {
            Some(subs) => {
                for s in subs {
                    progress.refused.insert(s.stream());
                }
                format!(
                    "the venue refused {} (request {} on connection {})",
                    stream_list(subs),
                    r.request,
                    r.connection
                )
            }
            None => format!(
                "the venue refused request {} on connection {}",
                r.request, r.connection
            ),
        };
        progress.notes.push(Note {
            at: elapsed,
            seq: 0,
            level: NoteLevel::Error,
            text,
        });
    }
    progress.refusals_seen = watch.refused.len();
    let all_refused = new_refusals && {
        let mut all = plan.subscriptions().map(Subscription::stream).peekable();
        all.peek().is_some() && all.all(|s| progress.refused.contains(&s))
    };
    if all_refused {
        let mut symbols: Vec<&str> = plan.subscriptions().map(|s| s.symbol.as_str()).collect();
        symbols.dedup();
        return Some(format!(
            "the venue refused every subscription ({}). Check the symbols ({}) and channels: \
             the venue lists its symbols at /api/v3/exchangeInfo",
            stream_list(&plan.subscriptions().cloned().collect::<Vec<_>>()),
            symbols.join(", ")
        ));
    }
    for (g, id) in conns.iter().enumerate() {
        let Some(c) = watch.connection(id.0) else {
            continue;
        };
        let reason = c.last_reason.unwrap_or(Reason::None);
        // A rejected certificate will not change by retrying: give up at the first.
        let hopeless = reason.is_certificate() && c.attempt > 0;
        if c.sessions > 0
            || !(c.attempt >= ATTEMPTS_BEFORE_LIVE || (c.closed && c.attempt > 0) || hopeless)
        {
            continue;
        }
        let url = urls.get(g).map_or("", String::as_str);
        return Some(format!(
            "could not connect to {url} after {} attempt{}: {}. Hint: {}",
            c.attempt,
            if c.attempt == 1 { "" } else { "s" },
            view::reason_text(reason.code()),
            connect_hint(reason, cert_given)
        ));
    }
    None
}

/// What to try when connections never came up for `reason`.
fn connect_hint(reason: Reason, cert_given: bool) -> &'static str {
    match reason {
        Reason::Resolve => "check the host name in --url",
        Reason::Connect => "is anything listening there? check the host and port in --url",
        Reason::CertUnknownIssuer | Reason::CertInvalid if cert_given => {
            "the certificate given with --cert is not the one that signed the server's \
             (same name, other key: a bad signature), or the server's is unusable (retrying \
             will not help)"
        }
        Reason::CertUnknownIssuer => {
            "the server's certificate is not signed by a trusted root: for a self-signed \
             server pass --cert (retrying will not help)"
        }
        Reason::CertExpired | Reason::CertNotYetValid => {
            "check the server's certificate dates and this machine's clock (retrying will \
             not help)"
        }
        Reason::CertWrongName => {
            "the host in --url must be a name (or IP) the certificate lists (retrying will \
             not help)"
        }
        Reason::CertInvalid => "the server's certificate is unusable (retrying will not help)",
        Reason::Tls | Reason::TlsTimeout | Reason::TlsRecord => {
            "is it a TLS server? for a plain one use ws://; else the server may offer no \
             protocol version or cipher in common (TLS 1.2 or 1.3 needed)"
        }
        Reason::UpgradeClosed => {
            "the server closed the connection without answering the upgrade: is it a \
             WebSocket server, and does the scheme match (wss:// for TLS)?"
        }
        Reason::UpgradeBusy => {
            "the server refuses connections for now (rate limit or overload); each attempt \
             waited its Retry-After: try again later"
        }
        Reason::Protocol => {
            "the server's upgrade response breaks RFC 6455 (e.g. it chose an extension or \
             subprotocol never offered)"
        }
        Reason::Handshake => {
            "the server refused the WebSocket upgrade: check the path in --url, and the \
             symbols (an unknown stream in the URL is refused)"
        }
        _ => "check --url and the network",
    }
}

/// Prints notes not printed yet to stderr (`--print` mode, where stdout is the data).
fn print_notes(label: &str, watch: &Watch, progress: &mut Progress) {
    for n in &watch.log {
        if n.seq > progress.printed {
            eprintln!("{label}: {:.2} s  {}", n.at.as_secs_f64(), n.text);
            progress.printed = n.seq;
        }
    }
    for n in &progress.notes[progress.notes_printed..] {
        eprintln!("{label}: {:.2} s  {}", n.at.as_secs_f64(), n.text);
    }
    progress.notes_printed = progress.notes.len();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 20 item 1: a start-up step that does not finish (planning thousands of symbols)
    /// no longer holds the run past its duration, which counts from the command's start.
    #[test]
    fn a_start_up_step_is_cut_short_by_the_duration() {
        let (hold, wait) = std::sync::mpsc::channel::<()>();
        let started = Instant::now();
        // A step that only ends when `hold` is dropped: never, before the answer.
        let r = interruptible(started, Some(Duration::ZERO), move || {
            let _ = wait.recv();
        });
        assert!(matches!(r, Err(End::Duration)));
        drop(hold);
        // A step that finishes is answered with its value; no duration, no cut.
        assert!(matches!(interruptible(started, None, || 7), Ok(7)));
    }

    #[test]
    fn channels_and_speeds_parse() {
        assert_eq!(
            parse_channel("trade", DepthSpeed::Ms100),
            Some(Channel::Trade)
        );
        assert_eq!(
            parse_channel("aggTrade", DepthSpeed::Ms100),
            Some(Channel::AggTrade)
        );
        assert_eq!(
            parse_channel("BBO", DepthSpeed::Ms100),
            Some(Channel::BookTicker)
        );
        assert_eq!(
            parse_channel("book", DepthSpeed::Default),
            Some(Channel::Depth(DepthSpeed::Default))
        );
        assert_eq!(parse_channel("kline", DepthSpeed::Ms100), None);
        assert_eq!(parse_speed("100ms", Market::Spot), Ok(DepthSpeed::Ms100));
        assert!(parse_speed("0ms", Market::Spot).is_err());
        assert_eq!(parse_speed("0ms", Market::UsdM), Ok(DepthSpeed::Ms0));
        assert!(parse_speed("fast", Market::UsdM).is_err());
        assert_eq!(parse_profile("low-latency"), Some(Profile::LowLatency));
        assert_eq!(parse_profile("turbo"), None);
    }

    #[test]
    fn rest_defaults_to_a_loopback_ws_host() {
        assert_eq!(
            loopback_rest("ws://127.0.0.1:9100/stream").as_deref(),
            Some("http://127.0.0.1:9100")
        );
        assert_eq!(
            loopback_rest("wss://localhost:1/").as_deref(),
            Some("https://localhost:1")
        );
        assert_eq!(
            loopback_rest("ws://[::1]:7").as_deref(),
            Some("http://[::1]:7")
        );
        assert_eq!(loopback_rest("wss://stream.binance.com:9443"), None);
    }
}
