//! `tickwire run`: any venue of the registry (`tickwire_feeds::venues`) on the engine, every event printed as a JSON line
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

use tickwire_engine::telemetry::{self, CollectorThread, DefaultCollector};
use tickwire_engine::{
    ConnectionId, Engine, EngineConfig, EngineStats, IdleStrategy, Profile, Reason, Registry,
};
use tickwire_feeds::launch::{Launch, LaunchError, LaunchSpec, parse_roots};
use tickwire_feeds::venues::{self, DecodeOptions, VenueKind};
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
    /// Venue, by name: binance (spot), binance-usdm (USD-M futures), bybit (spot),
    /// bybit-linear, okx (instIds like BTC-USDT), or any other of the registry.
    #[arg(long, default_value = "binance")]
    venue: String,
    /// Symbols, comma-separated (BTCUSDT,ETHUSDT; any case).
    #[arg(long, value_delimiter = ',', required = true)]
    symbols: Vec<String>,
    /// Channels, comma-separated: trade, bbo, book (kept in sync: REST or in-band snapshots,
    /// as the venue does it); Binance also aggtrade.
    #[arg(long, value_delimiter = ',', default_value = "trade,bbo,book")]
    channels: Vec<String>,
    /// The book channel's speed or depth. Binance: 100ms (the default), default (1000 ms
    /// spot, 250 ms USD-M), USD-M also 500ms and 0ms. Bybit: levels, 1, 50 (the default) or
    /// 200.
    #[arg(long, alias = "depth")]
    depth_speed: Option<String>,
    /// WebSocket endpoint instead of the venue's: testnet, a proxy, `tickwire sim`
    /// (ws://127.0.0.1:9100 or ws://127.0.0.1:9100/stream). Repeat it for redundant lines
    /// (A/B): every line stays live, each update is delivered once (the first copy), a
    /// book resyncs only when every line missed an update; per-line statistics in the
    /// live view and the summary. Binance, Bybit and OKX; Coinbase and Kraken take one
    /// (their books have no per-instrument sequence to line copies up by).
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
    /// How Binance streams are requested: frames (SUBSCRIBE after connecting; each refusal is
    /// reported) or url (named in the URL; live at once). Other venues subscribe by frames.
    #[arg(long, default_value = "frames")]
    subscribe: String,
    /// Engine profile: standard (blocking poll), low-latency (busy poll), lightweight.
    #[arg(long, default_value = "standard")]
    profile: String,
    /// Spread the streams over at least this many connections on the one I/O thread (as
    /// far as there are symbols; Binance only), e.g. to measure the cost per connection.
    #[arg(long)]
    connections: Option<usize>,
    /// Run one shard of the symbols: `I/N` takes shard I (from 0) of N, so N processes
    /// given the same --symbols (e.g. each pinned to a core of its own with `taskset`)
    /// spread one universe over N engines, every symbol on exactly one. The processes share
    /// the venue's per-IP limits out: REST snapshot weight, connect pacing, Coinbase's
    /// message rate (`tickwire_feeds::spread`).
    #[arg(long, value_parser = tickwire_feeds::spread::Shard::parse, value_name = "I/N")]
    shard: Option<tickwire_feeds::spread::Shard>,
    /// Pause reading and yield the core once a consumer is this many events behind and has
    /// stood still for `--yield-stall` (`EngineConfig::yield_backlog`; default: the
    /// profile's). `0`: only when a ring is three quarters full.
    #[arg(long)]
    yield_backlog: Option<usize>,
    /// How long a consumer past `--yield-backlog` may stand still before the I/O thread
    /// yields to it (`EngineConfig::yield_stall`, e.g. `20us`; default: the profile's). `0`:
    /// by backlog size alone.
    #[arg(long, value_parser = parse_duration)]
    yield_stall: Option<Duration>,
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

fn parse_profile(s: &str) -> Option<Profile> {
    match s.trim().to_ascii_lowercase().as_str() {
        "standard" => Some(Profile::Standard),
        "low-latency" | "lowlatency" | "low_latency" => Some(Profile::LowLatency),
        "lightweight" => Some(Profile::Lightweight),
        _ => None,
    }
}

fn usage(msg: &str) -> ExitCode {
    eprintln!("tickwire run: {msg}");
    ExitCode::from(USAGE)
}

/// Runs `tickwire run`.
pub fn run(args: Args) -> ExitCode {
    let venue = match venues::find(&args.venue) {
        Ok(v) => v,
        Err(e) => return usage(&e.to_string()),
    };
    let Some(profile) = parse_profile(&args.profile) else {
        return usage(&format!(
            "unknown --profile '{}': use standard, low-latency or lightweight",
            args.profile
        ));
    };
    let mut spec = LaunchSpec::new(&args.symbols, &args.channels);
    spec.depth = args.depth_speed.clone();
    spec.subscribe = Some(args.subscribe.clone());
    spec.decode = DecodeOptions {
        micros: args.micros,
        probe: args.probe,
    };
    spec.url = args.url.first().cloned();
    spec.lines = args.url.iter().skip(1).cloned().collect();
    spec.rest_url = args.rest_url.clone();
    spec.connections = args.connections;
    if args.deflate {
        spec.options = tickwire_engine::ConnectionOptions {
            deflate: Some(tickwire_engine::ws::DeflateOffer::default()),
            ..tickwire_engine::ConnectionOptions::default()
        };
    }
    if let Some(path) = &args.cert {
        match std::fs::read(path) {
            Ok(bytes) => match parse_roots(&bytes) {
                Some(roots) => spec.roots = roots,
                None => {
                    return usage(&format!(
                        "bad --cert: {}: not a valid certificate (PEM or DER)",
                        path.display()
                    ));
                }
            },
            Err(e) => return usage(&format!("cannot read --cert {}: {e}", path.display())),
        }
    }
    if let Some(shard) = args.shard {
        spec = match tickwire_feeds::spread::shard_of(&spec, shard, |_| 1) {
            Ok(s) => s,
            Err(e) => return launch_error("tickwire run", &e),
        };
    }
    // Checked here, before anything starts (the plan is made again, off this thread, by
    // `drive`): a bad command line is answered at once.
    if let Err(e) = venue.launch(&spec, &Registry::new()) {
        return launch_error("tickwire run", &e);
    }

    let mut engine = EngineConfig::profile(profile);
    if profile == Profile::LowLatency {
        // A pure spin starves a consumer sharing the core; yield on empty polls.
        engine.idle = IdleStrategy::SpinThenYield { spins: 0 };
    }
    match args.yield_backlog {
        Some(0) => engine.yield_backlog = usize::MAX,
        Some(n) => engine.yield_backlog = n,
        None => {}
    }
    if let Some(stall) = args.yield_stall {
        engine.yield_stall = stall;
    }
    let print = args.print || (!args.stats && !std::io::stdout().is_terminal());
    let session = Session {
        label: "tickwire run",
        title: None,
        target: None,
        venue,
        spec,
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
    drive(session, &mut |_| None, &Vec::new)
}

/// The summary lines of an A/B feed: per connection and line, its state and how often its
/// copy came first; per pair of lines, how far the later copy came behind.
fn line_summary(monitors: &[tickwire_engine::adapter::LineMonitor]) -> Vec<String> {
    let mut out = Vec::new();
    for (n, m) in monitors.iter().enumerate() {
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
            "connection #{n}: holes filled by another line {}, missed by every line {}, books taken over from another line {}",
            r.filled, r.gaps, r.failovers
        ));
    }
    out
}

/// One run of a feed on a fresh engine (see [`drive`]).
pub(crate) struct Session {
    /// Prefix of messages (`tickwire run`).
    pub label: &'static str,
    /// Title line of the live view; `None`: venue, endpoint, symbols and channels.
    pub title: Option<String>,
    /// What the summary says it ran against; `None`: the market at its endpoint.
    pub target: Option<String>,
    /// The venue to launch.
    pub venue: &'static dyn VenueKind,
    /// What to launch on it.
    pub spec: LaunchSpec,
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
        let (venue, spec, registry) = (session.venue, session.spec.clone(), registry.clone());
        interruptible(started, session.duration, move || {
            venue.launch(&spec, &registry)
        })
    };
    let launch: Box<dyn Launch> = match planned {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => return launch_error(label, &e),
        Err(end) => return stopped_during_start_up(label, &end),
    };
    let urls: Vec<String> = launch.connections().iter().map(|c| c.url.clone()).collect();
    let target = session
        .target
        .clone()
        .unwrap_or_else(|| format!("{} at {}", launch.market_name(), launch.ws_base()));
    let title = session.title.clone().unwrap_or_else(|| {
        let shard = session.spec.shard;
        format!(
            "tickwire run · {} · {} · {} symbols × {} channels{}",
            launch.market_name(),
            launch.ws_base(),
            launch.symbols().len(),
            session.spec.channel_names().len(),
            if shard.count > 1 {
                format!(" · shard {}/{}", shard.index, shard.count)
            } else {
                String::new()
            }
        )
    });
    if session.print
        && session.spec.channel_names().iter().any(|c| {
            let c = c.to_ascii_lowercase();
            c.starts_with("book") || c.starts_with("depth")
        })
        && let Some(rest) = launch.rest_base()
    {
        eprintln!("{label}: book snapshots from {rest} (--rest-url to change)");
    }
    let (tx, rx) = telemetry::channel(session.engine.telemetry_capacity);
    let mut builder = Engine::builder(session.engine);
    builder.telemetry(tx);
    let (consumer_id, consumer) = builder.consumer(RING);
    let mut consumers = vec![consumer_id];
    let egress = match &session.publish {
        Some((url, replicas)) => {
            match start_egress(&mut builder, url, *replicas, launch.venue(), &registry) {
                Ok((id, egress)) => {
                    consumers.push(id);
                    Some(egress)
                }
                Err(e) => {
                    eprintln!("{label}: --publish: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
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
        book_depth: launch.book_depth(),
        ..TapConfig::new(launch.venue())
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
        // The plan goes to the start-up thread and comes back with its result (it explains
        // refusals later); a run that ends during start-up no longer needs it.
        interruptible(started, session.duration, move || {
            let started = launch.start(&handle, &registry, &consumers);
            (started, launch)
        })
    };
    // A signal or the duration during start-up: no loop, straight to the shutdown and the
    // summary (connections the start-up thread still adds are refused by the stopping
    // engine).
    let (conns, early_end, launch) = match starting {
        Ok((Ok(c), launch)) => (c, None, Some(launch)),
        Ok((Err(e), _)) => {
            let _ = engine.join();
            let _ = tap.join();
            return launch_error(label, &e);
        }
        Err(end) => (Vec::new(), Some(end), None),
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
        if let Some(fatal) = launch.as_deref().and_then(|launch| {
            check(
                &watch,
                launch,
                &conns,
                &urls,
                &mut progress,
                elapsed,
                session.cert,
            )
        }) {
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
                    title: &title,
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
    let mut extra = extra();
    if let Some(launch) = &launch {
        extra.extend(line_summary(&launch.line_monitors()));
    }
    let text = view::summary(
        &Summary {
            label,
            target: &target,
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

/// Explains a launch that could not plan or start; the exit code says whose fault it is.
fn launch_error(label: &str, e: &LaunchError) -> ExitCode {
    eprintln!("{label}: {e}");
    ExitCode::from(e.exit_code())
}
/// Reacts to refusals and connections that never came up; returns a fatal message.
fn check(
    watch: &Watch,
    launch: &dyn Launch,
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
        let streams = group_of(r.connection).and_then(|g| launch.request(g, r.request));
        let text = match streams {
            Some(subs) => {
                let list = subs.join(", ");
                progress.refused.extend(subs);
                format!(
                    "the venue refused {list} (request {} on connection {})",
                    r.request, r.connection
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
        let mut all = launch
            .connections()
            .iter()
            .flat_map(|c| c.streams.iter())
            .peekable();
        all.peek().is_some() && all.all(|s| progress.refused.contains(s))
    };
    if all_refused {
        let streams: Vec<&str> = launch
            .connections()
            .iter()
            .flat_map(|c| c.streams.iter().map(String::as_str))
            .collect();
        return Some(format!(
            "the venue refused every subscription ({}). Check the symbols ({}) and channels: \
             {}",
            streams.join(", "),
            launch.symbols().join(", "),
            launch.symbols_hint()
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
    fn profiles_parse() {
        assert_eq!(parse_profile("low-latency"), Some(Profile::LowLatency));
        assert_eq!(parse_profile("turbo"), None);
    }
}
