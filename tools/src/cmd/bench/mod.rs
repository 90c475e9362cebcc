//! `tickwire bench`: throughput and wire→consumer latency of the whole pipeline — socket,
//! WebSocket decoder, Binance adapter, SPSC ring, a consumer thread — with the per-stage
//! histograms of the engine's telemetry.
//!
//! * Default: against the built-in simulator (Binance spot, `"ts"` probe on, book sync from
//!   its REST snapshots) at `--rate` for `--count` messages; prints a summary.
//! * `--venue NAME`: the same against that venue's simulator, the feed planned and started
//!   by the venue's launch hook (`tickwire_feeds::launch`). Without Binance's `"ts"` probe
//!   the latency is measured from the venue's own timestamps (milliseconds).
//! * `--url ws://HOST:PORT/`: against a load server that follows the peer contract of
//!   `peers/README.md` (mdload: raw depth or trade messages, `"ts"` first, no SUBSCRIBE, no
//!   snapshot endpoint, so depth diffs are published without book sync); prints exactly one
//!   JSON line on stdout, the summary on stderr.
//!
//! One message is counted per venue message (the LAST_IN_BATCH level of a diff, each
//! trade, each BBO) and its latency is `now − exchange_ts` on the consumer thread, where
//! `exchange_ts` is the probe's send time (CLOCK_REALTIME on both sides).
//!
//! `--inline` (any mode) counts and measures on the I/O thread itself: the consumer is an
//! inline consumer (`tickwire_engine::inline`), called with each message's events right
//! after they are decoded, with no ring and no consumer thread.

mod consume;
mod hgrm;
mod plot;
#[cfg(feature = "nats")]
mod publish;
mod report;

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tickwire_engine::adapter::{FeedConfig, FeedHandler, QueuedSnapshots, add_feed};
use tickwire_engine::config::{BackoffConfig, ConnectionConfig, ConnectionOptions};
use tickwire_engine::telemetry::{self, CollectorThread, DefaultCollector, Stage};
use tickwire_engine::{
    Consumer, Engine, EngineConfig, EngineStats, FeedAdapter, IdleStrategy, Profile, Reason,
    Registry,
};
use tickwire_feeds::binance::{
    BinanceAdapter, BinanceConfig, Channel, DepthSpeed, RestSnapshots, Subscription,
};
use tickwire_tools::sim::{Market, Mix, SimConfig, SimServer};

use consume::{End, Shared, Tally, TallySlot};

/// What the I/O thread does on an empty poll.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Idle {
    /// Busy-poll forever (needs a core of its own).
    Spin,
    /// Busy-poll, `sched_yield` on every empty poll (cores shared with the consumer).
    Yield,
    /// Block in epoll until the socket is ready.
    Block,
}

/// Which streams the simulator sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// Book diffs only (`@depth@0ms`).
    Depth,
    /// Trades only.
    Trade,
    /// Diffs, trades and book tickers (the simulator's default mix).
    Mixed,
}

/// Arguments of `tickwire bench`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Simulator mode: the venue, by name (binance, binance-usdm, bybit, bybit-linear, okx,
    /// or any other of the registry with a simulator).
    #[arg(long, default_value = "binance")]
    pub venue: String,
    /// Consume from this load server (ws://HOST:PORT/, raw messages with a leading "ts" in
    /// ns, e.g. the peers' mdload) instead of the built-in simulator, and print one JSON line
    /// on stdout (peer contract).
    #[arg(long)]
    pub url: Option<String>,
    /// Consume this many messages, then stop (also stops at a close frame).
    #[arg(long, default_value_t = 100_000)]
    pub count: u64,
    /// The first W messages are not recorded in the latency histograms (still counted).
    #[arg(long, default_value_t = 0)]
    pub warmup: u64,
    /// Capacity of the I/O → consumer ring, in events (a depth diff is one event per level;
    /// a full ring drops and reports the count, it never blocks the socket).
    #[arg(long, default_value_t = 65_536)]
    pub qcap: usize,
    /// Simulator: messages per second (0 = as fast as the client reads).
    #[arg(long, default_value_t = 50_000)]
    pub rate: u64,
    /// Simulator: which streams.
    #[arg(long, value_enum, default_value_t = Kind::Depth)]
    pub kind: Kind,
    /// Symbols the load server sends (--url; upper case). Unknown symbols are decode errors.
    #[arg(long, default_value = "BTCUSDT", value_delimiter = ',')]
    pub symbols: Vec<String>,
    /// I/O thread idle strategy. `yield` suits a box where the consumer shares its core.
    #[arg(long, value_enum, default_value_t = Idle::Yield)]
    pub idle: Idle,
    /// Pause reading and yield the core once the consumer is this many events behind and
    /// has stood still for `--yield-stall` (`EngineConfig::yield_backlog`; default: the
    /// low-latency profile's). `0`: never (pause only on a congested ring).
    #[arg(long)]
    pub yield_backlog: Option<usize>,
    /// How long a consumer past `--yield-backlog` may stand still before the I/O thread
    /// yields to it (`EngineConfig::yield_stall`, e.g. `20us`; default: the low-latency
    /// profile's). `0`: by backlog size alone.
    #[arg(long, value_parser = parse_stall)]
    pub yield_stall: Option<Duration>,
    /// Pin the I/O thread to this core.
    #[arg(long)]
    pub pin: Option<usize>,
    /// Pin the consumer thread to this core.
    #[arg(long)]
    pub consumer_pin: Option<usize>,
    /// Empty polls the consumer spins through before it yields its core on each further one.
    /// Default: 0 when the consumer shares one core with the I/O thread (one CPU allowed,
    /// or both pinned to the same core), where spinning only delays the I/O thread; else 64.
    #[arg(long)]
    pub consumer_spins: Option<u32>,
    /// Turn off telemetry and the per-stage timestamps (the I/O thread then reads the clock
    /// once per socket read only).
    #[arg(long)]
    pub no_stages: bool,
    /// Write the wire→consumer distribution here in HdrHistogram's percentile format (.hgrm,
    /// values in µs).
    #[arg(long)]
    pub hgrm: Option<PathBuf>,
    /// Draw the latency-by-percentile plot here (SVG).
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Also print the peer-contract JSON line in simulator mode.
    #[arg(long)]
    pub json: bool,
    /// Stop after this many seconds even if fewer messages arrived (0 = no limit).
    #[arg(long, default_value_t = 0)]
    pub timeout: u64,
    /// The "peer" name in the JSON line.
    #[arg(long, default_value = "tickwire")]
    pub peer_name: String,
    /// Also publish to NATS JetStream at this URL (an egress on a second ring, stream
    /// TICKWIRE_BENCH, deleted at the end): reports the hop latency engine → remote
    /// consumer, then floods the egress alone with --flood events for its events/s.
    #[arg(long, value_name = "URL")]
    pub publish: Option<String>,
    /// Events of the egress flood phase (with --publish).
    #[arg(long, default_value_t = 1_000_000)]
    pub flood: u64,
    /// Consume on the I/O thread itself: an inline consumer (no ring, no consumer thread)
    /// counts the messages and measures now − ts there.
    #[arg(long)]
    pub inline: bool,
    /// Receive buffer per connection, bytes (the most one socket read takes); default: the
    /// low-latency profile's.
    #[arg(long, value_name = "BYTES")]
    pub rx_buffer: Option<usize>,
}

/// Runs `tickwire bench`.
pub fn run(args: Args) -> ExitCode {
    match bench(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tickwire bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Where the messages are counted: a consumer thread on a ring, or the I/O thread.
enum Sink {
    /// A ring, for the consumer thread.
    Ring(Consumer),
    /// `--inline`: the inline consumer's tally, once it has one.
    Inline(TallySlot),
}

/// A running pipeline: engine, its consumer, telemetry collector, maybe a simulator.
struct Pipeline {
    engine: Engine,
    sink: Sink,
    /// Progress and the stop request, shared with the consumer.
    shared: Arc<Shared>,
    collector: Option<CollectorThread<DefaultCollector>>,
    sim: Option<SimServer>,
    /// What it is connected to, for messages.
    target: String,
    /// `--publish`: the egress and its remote reader.
    hop: Option<Hop>,
}

#[cfg(feature = "nats")]
type Hop = publish::Hop;
#[cfg(not(feature = "nats"))]
type Hop = std::convert::Infallible;

/// `--publish`: the egress on its own ring, and a remote consumer timing the hop.
#[cfg(feature = "nats")]
fn start_hop(a: &Args, ring: Option<Consumer>, registry: &Registry) -> Result<Option<Hop>, String> {
    match (&a.publish, ring) {
        (Some(url), Some(ring)) => publish::Hop::start(url, ring, registry).map(Some),
        _ => Ok(None),
    }
}

#[cfg(not(feature = "nats"))]
fn start_hop(a: &Args, _: Option<Consumer>, _: &Registry) -> Result<Option<Hop>, String> {
    match &a.publish {
        Some(_) => Err("--publish: this tickwire was built without the `nats` feature".into()),
        None => Ok(None),
    }
}

fn parse_stall(s: &str) -> Result<Duration, String> {
    crate::sim::parse_duration(s).map_err(|e| e.to_string())
}

fn engine_config(a: &Args) -> EngineConfig {
    let mut c = EngineConfig::profile(Profile::LowLatency);
    c.idle = match a.idle {
        Idle::Spin => IdleStrategy::BusySpin,
        Idle::Yield => IdleStrategy::SpinThenYield { spins: 0 },
        Idle::Block => IdleStrategy::Blocking,
    };
    c.pin_core = a.pin;
    match a.yield_backlog {
        Some(0) => c.yield_backlog = usize::MAX,
        Some(n) => c.yield_backlog = n,
        None => {}
    }
    if let Some(stall) = a.yield_stall {
        c.yield_stall = stall;
    }
    c.telemetry = !a.no_stages;
    c.stage_histograms = !a.no_stages;
    c.shutdown_timeout = Duration::from_millis(500);
    if let Some(n) = a.rx_buffer {
        c.connection_defaults.rx_buffer = n;
    }
    c
}

/// The engine started by [`start_engine`].
struct Started {
    engine: Engine,
    sink: Sink,
    shared: Arc<Shared>,
    collector: Option<CollectorThread<DefaultCollector>>,
    /// Every consumer the feed publishes to.
    ids: Vec<tickwire_engine::ConsumerId>,
    /// `--publish`: the egress's ring.
    egress_ring: Option<Consumer>,
}

/// How the consumer counts.
fn consume_options(a: &Args) -> consume::Options {
    consume::Options {
        count: a.count,
        warmup: a.warmup,
        stages: !a.no_stages,
        spins: a.consumer_spins.unwrap_or_else(|| default_spins(a)),
    }
}

/// Starts the engine with one consumer (a ring, or with `--inline` an inline consumer) and
/// (with stages) a telemetry collector.
fn start_engine(a: &Args) -> Result<Started, String> {
    let config = engine_config(a);
    let mut builder = Engine::builder(config);
    let shared = Arc::new(Shared::default());
    let (id, sink) = if a.inline {
        let (inline, slot) = consume::Inline::new(consume_options(a), shared.clone());
        let (id, _handle) = builder
            .inline_consumer(inline)
            .map_err(|e| format!("cannot add the inline consumer: {e}"))?;
        (id, Sink::Inline(slot))
    } else {
        let (id, ring) = builder
            .try_consumer(a.qcap.max(2))
            .map_err(|e| format!("bad --qcap: {e}"))?;
        (id, Sink::Ring(ring))
    };
    let mut ids = vec![id];
    let mut egress_ring = None;
    if a.publish.is_some() {
        let (id, ring) = builder
            .try_consumer(a.qcap.max(2))
            .map_err(|e| format!("bad --qcap: {e}"))?;
        ids.push(id);
        egress_ring = Some(ring);
    }
    let collector = if config.telemetry {
        let (tx, rx) = telemetry::channel(config.telemetry_capacity);
        builder.telemetry(tx);
        // Every 10 ms, as `tickwire run`: the telemetry ring (64 Ki records) holds 50 ms of
        // a 1.3 M msg/s flood, and each wake-up of this thread on a core shared with the I/O
        // thread delays the messages that arrive meanwhile; at 2 ms that was 1 % of a 50 k
        // msg/s stream, enough to set the inline consumer's p99 (4 of 4 interleaved runs
        // better at 10 ms: benches/results/peers-collector-interval-2026-12-03.jsonl).
        let c = CollectorThread::spawn(rx, DefaultCollector::new(), Duration::from_millis(10))
            .map_err(|e| format!("cannot start the telemetry thread: {e}"))?;
        Some(c)
    } else {
        None
    };
    // Calibrated before the engine starts, not beside it: every measured message then has
    // its stage stamps from the one clock, and the calibration's spin does not share the
    // cores with the first messages.
    tickwire_engine::clock::init_stage_clock();
    let engine = builder
        .start()
        .map_err(|e| format!("cannot start the engine: {e}"))?;
    Ok(Started {
        engine,
        sink,
        shared,
        collector,
        ids,
        egress_ring,
    })
}

/// `--url`: the adapter on a raw stream with the probe on and no book sync, no SUBSCRIBE, one
/// attempt (a failed connect or a close ends the run).
fn connect_url(a: &Args, url: &str) -> Result<Pipeline, String> {
    let conn = ConnectionConfig::new(url).map_err(|e| {
        format!("bad --url '{url}': {e} (expected ws://HOST:PORT/ or wss://HOST:PORT/)")
    })?;
    if a.symbols.is_empty() {
        return Err("--symbols needs at least one symbol".into());
    }
    let mut config = BinanceConfig::spot();
    config.latency_probe = true;
    config.book_sync = false;
    let registry = Registry::new();
    let symbols: Vec<String> = a.symbols.iter().map(|s| s.to_ascii_uppercase()).collect();
    let names: Vec<&str> = symbols.iter().map(String::as_str).collect();
    let subs = Subscription::product(&names, &[Channel::Depth(DepthSpeed::Ms0), Channel::Trade]);
    let adapter = BinanceAdapter::new(config, &subs, &registry).map_err(|e| e.to_string())?;
    let heartbeat = adapter.heartbeat();
    let Started {
        engine,
        sink,
        shared,
        collector,
        ids: consumer_ids,
        egress_ring,
    } = start_engine(a)?;
    let hop = start_hop(a, egress_ring, &registry)?;
    let base = engine_config(a).connection_defaults;
    let options = ConnectionOptions {
        ping_interval: None,
        pong_timeout: Duration::from_nanos(heartbeat.pong_timeout_ns),
        stale_after: heartbeat.stale_after_ns.map(Duration::from_nanos),
        connect_timeout: Duration::from_secs(5),
        backoff: BackoffConfig {
            max_attempts: Some(0),
            ..BackoffConfig::default()
        },
        ..base
    };
    let handler = FeedHandler::new(
        adapter,
        Box::new(QueuedSnapshots::new()),
        FeedConfig::default(),
    );
    engine
        .handle()
        .add_connection(conn.options(options), Box::new(handler), &consumer_ids)
        .map_err(|e| format!("cannot add the connection: {e}"))?;
    Ok(Pipeline {
        engine,
        sink,
        shared,
        collector,
        sim: None,
        target: url.to_string(),
        hop,
    })
}

/// Default mode: the simulator on loopback, the adapter with book sync from its REST
/// snapshots, the probe on.
fn start_sim(a: &Args) -> Result<Pipeline, String> {
    let (mix, channels): (Mix, &[Channel]) = match a.kind {
        Kind::Depth => (
            Mix {
                depth: 1,
                trade: 0,
                ticker: 0,
            },
            &[Channel::Depth(DepthSpeed::Ms0)],
        ),
        Kind::Trade => (
            Mix {
                depth: 0,
                trade: 1,
                ticker: 0,
            },
            &[Channel::Trade],
        ),
        Kind::Mixed => (
            Mix::default(),
            &[
                Channel::Depth(DepthSpeed::Ms0),
                Channel::Trade,
                Channel::BookTicker,
            ],
        ),
    };
    let mut sc = SimConfig::new(Market::Spot);
    sc.rate = a.rate;
    sc.mix = mix;
    sc.probe_ts = true;
    sc.inbound_limit = None;
    let sim = SimServer::start(sc).map_err(|e| format!("cannot start the simulator: {e}"))?;
    let mut config = BinanceConfig::spot();
    config.ws_base = Some(sim.ws_url());
    config.rest_base = Some(sim.rest_url());
    config.latency_probe = true;
    config.snapshot_limit = 1000;
    let registry = Registry::new();
    let subs = Subscription::product(&["BTCUSDT"], channels);
    let adapter =
        BinanceAdapter::new(config.clone(), &subs, &registry).map_err(|e| e.to_string())?;
    let snapshots = RestSnapshots::spawn(&config, &registry, &["BTCUSDT"])
        .map_err(|e| format!("cannot start the snapshot thread: {e}"))?;
    let target = adapter.endpoint().url;
    let Started {
        engine,
        sink,
        shared,
        collector,
        ids: consumer_ids,
        egress_ring,
    } = start_engine(a)?;
    let hop = start_hop(a, egress_ring, &registry)?;
    let handler = FeedHandler::new(adapter, Box::new(snapshots), FeedConfig::default());
    add_feed(
        &engine.handle(),
        handler,
        engine_config(a).connection_defaults,
        &[],
        &consumer_ids,
    )
    .map_err(|e| format!("cannot add the feed: {e}"))?;
    Ok(Pipeline {
        engine,
        sink,
        shared,
        collector,
        sim: Some(sim),
        target,
        hop,
    })
}

/// `--venue`: the venue's simulator, the feed from the venue's launch hook (book sync as the
/// venue does it: in-band snapshots, or REST from the simulator).
fn start_venue_sim(
    a: &Args,
    venue: &'static dyn tickwire_feeds::venues::VenueKind,
) -> Result<Pipeline, String> {
    let (mix, channels): (Mix, &[&str]) = match a.kind {
        Kind::Depth => (
            Mix {
                depth: 1,
                trade: 0,
                ticker: 0,
            },
            &["book"],
        ),
        Kind::Trade => (
            Mix {
                depth: 0,
                trade: 1,
                ticker: 0,
            },
            &["trade"],
        ),
        Kind::Mixed => (Mix::default(), &["book", "trade", "bbo"]),
    };
    let mut sc = SimConfig::for_venue(venue.name()).map_err(|e| e.to_string())?;
    let symbols: Vec<String> = a.symbols.iter().map(|s| s.to_ascii_uppercase()).collect();
    sc.symbols = symbols.clone();
    sc.rate = a.rate;
    sc.mix = mix;
    // The `"ts"` probe is Binance's.
    sc.probe_ts = venue.binance_market().is_some();
    sc.inbound_limit = None;
    let sim = SimServer::start(sc).map_err(|e| format!("cannot start the simulator: {e}"))?;
    let mut spec = tickwire_feeds::launch::LaunchSpec::new(&symbols, channels);
    spec.url = Some(sim.ws_url());
    spec.rest_url = Some(sim.rest_url());
    spec.decode.probe = venue.binance_market().is_some();
    spec.options = engine_config(a).connection_defaults;
    let registry = Registry::new();
    let launch = venue.launch(&spec, &registry).map_err(|e| e.to_string())?;
    let target = launch
        .connections()
        .first()
        .map_or_else(String::new, |c| c.url.clone());
    let Started {
        engine,
        sink,
        shared,
        collector,
        ids: consumer_ids,
        egress_ring,
    } = start_engine(a)?;
    let hop = start_hop(a, egress_ring, &registry)?;
    launch
        .start(&engine.handle(), &registry, &consumer_ids)
        .map_err(|e| format!("cannot add the feed: {e}"))?;
    Ok(Pipeline {
        engine,
        sink,
        shared,
        collector,
        sim: Some(sim),
        target,
        hop,
    })
}

fn bench(a: &Args) -> Result<(), String> {
    if a.count == 0 {
        return Err("--count must be at least 1".into());
    }
    let peer_mode = a.url.is_some();
    let venue = tickwire_feeds::venues::find(&a.venue).map_err(|e| e.to_string())?;
    let p = match &a.url {
        Some(_) if venue.name() != "binance" => {
            return Err(
                "--url (a load server of the peer contract) sends Binance-format messages: \
                 leave --venue at binance"
                    .into(),
            );
        }
        Some(url) => connect_url(a, url)?,
        None => {
            eprintln!(
                "tickwire bench: {}simulator, {} messages of {:?} at {}",
                if venue.name() == "binance" {
                    String::new()
                } else {
                    format!("{} ", venue.name())
                },
                a.count,
                a.kind,
                if a.rate == 0 {
                    "max rate".to_string()
                } else {
                    format!("{} msg/s", a.rate)
                }
            );
            if venue.name() == "binance" {
                start_sim(a)?
            } else {
                start_venue_sim(a, venue)?
            }
        }
    };
    let Pipeline {
        engine,
        sink,
        shared,
        collector,
        sim,
        target,
        hop,
    } = p;

    let tally: Box<dyn FnOnce() -> Tally + '_> = match sink {
        Sink::Ring(ring) => {
            let consumer = spawn_consumer(a, ring, &shared)?;
            wait(a, &|| consumer.is_finished(), &shared);
            let tally = consumer
                .join()
                .map_err(|_| "the consumer thread panicked".to_string())?;
            Box::new(move || tally)
        }
        Sink::Inline(slot) => {
            let done = || {
                shared.stop.load(Ordering::Relaxed)
                    || slot.lock().unwrap_or_else(|e| e.into_inner()).is_some()
            };
            wait(a, &done, &shared);
            // Read once the engine has stopped: it drops the consumer, which then hands
            // over its tally if the run was not over yet.
            Box::new(move || {
                let mut t = slot.lock().unwrap_or_else(|e| e.into_inner());
                t.take().unwrap_or_else(|| consume::Tally::empty(a.warmup))
            })
        }
    };
    finish(a, engine, collector, sim, tally, &target, peer_mode)?;
    match hop {
        #[cfg(feature = "nats")]
        Some(hop) => publish::after(a, hop),
        #[cfg(not(feature = "nats"))]
        Some(hop) => match hop {},
        None => Ok(()),
    }
}

fn spawn_consumer(
    a: &Args,
    ring: Consumer,
    shared: &Arc<Shared>,
) -> Result<JoinHandle<Tally>, String> {
    let options = consume_options(a);
    let pin = a.consumer_pin;
    let shared = shared.clone();
    std::thread::Builder::new()
        .name("tickwire-bench-consumer".into())
        .spawn(move || {
            if let Some(core) = pin {
                if let Err(e) = tickwire_engine::sys::pin_current_thread(core) {
                    eprintln!("tickwire bench: consumer not pinned to core {core}: {e}");
                }
            }
            consume::consume(ring, options, &shared)
        })
        .map_err(|e| format!("cannot start the consumer thread: {e}"))
}

/// Consumer spins before yielding: none when it shares a core with the I/O thread.
fn default_spins(a: &Args) -> u32 {
    let one_cpu = std::thread::available_parallelism().is_ok_and(|n| n.get() == 1);
    let same_core = a.pin.is_some() && a.pin == a.consumer_pin;
    if one_cpu || same_core { 0 } else { 64 }
}

/// Waits for the consumer (until `finished`), drawing progress on a terminal and enforcing
/// `--timeout`.
fn wait(a: &Args, finished: &dyn Fn() -> bool, shared: &Shared) {
    let tty = std::io::stderr().is_terminal();
    let start = Instant::now();
    let limit = (a.timeout > 0).then(|| Duration::from_secs(a.timeout));
    let mut drawn = false;
    let mut last = (Instant::now(), 0u64);
    while !finished() {
        std::thread::sleep(Duration::from_millis(50));
        if limit.is_some_and(|l| start.elapsed() >= l) {
            shared.stop.store(true, Ordering::Relaxed);
        }
        if tty
            && start.elapsed() >= Duration::from_secs(1)
            && last.0.elapsed() >= Duration::from_millis(500)
        {
            let n = shared.progress.load(Ordering::Relaxed);
            let dt = last.0.elapsed().as_secs_f64();
            let rate = (n - last.1.min(n)) as f64 / dt;
            let pct = 100.0 * n as f64 / a.count as f64;
            eprint!(
                "\r  {n} / {} messages ({pct:.0} %), {rate:.0} msg/s   ",
                a.count
            );
            let _ = std::io::stderr().flush();
            drawn = true;
            last = (Instant::now(), n);
        }
    }
    if drawn {
        eprint!("\r{:70}\r", "");
    }
}

fn finish(
    a: &Args,
    engine: Engine,
    collector: Option<CollectorThread<DefaultCollector>>,
    sim: Option<SimServer>,
    tally: Box<dyn FnOnce() -> Tally + '_>,
    target: &str,
    peer_mode: bool,
) -> Result<(), String> {
    let usage = report::usage();
    // The simulator goes first: the engine drains a socket until it would block, so against
    // an unpaced sender it only sees the shutdown request once the sender stops.
    if let Some(sim) = sim {
        sim.stop();
    }
    let stats: EngineStats = engine.join().unwrap_or_default();
    let mut tally = tally();
    let stages: Vec<(&str, hdrhistogram::Histogram<u64>)> = match collector {
        Some(c) => {
            let shared = c.stop();
            let mut col = shared.lock().unwrap_or_else(|e| e.into_inner());
            col.merge_consumer(&mut tally.stages);
            [
                Stage::RecvToDecoded,
                Stage::DecodedToPublished,
                Stage::PublishedToConsumed,
                Stage::RecvToConsumed,
            ]
            .iter()
            .map(|&s| (s.name(), col.stage(s).clone()))
            .collect()
        }
        None => Vec::new(),
    };
    if let End::Disconnected {
        reason,
        was_connected: false,
    } = tally.end
    {
        return Err(connect_error(target, reason));
    }
    if tally.msgs == 0 {
        return Err(format!(
            "no messages from {target} ({}): does it send Binance depth or trade messages for {}?",
            end_text(tally.end),
            a.symbols.join(",")
        ));
    }
    if tally.msgs < a.count {
        eprintln!(
            "tickwire bench: stopped after {} of {} messages: {}",
            tally.msgs,
            a.count,
            end_text(tally.end)
        );
    }
    if tally.wire.is_empty() {
        eprintln!(
            "tickwire bench: no message carried a \"ts\" probe (or all were warm-up): latency not measured"
        );
    }

    let summary = report::summary(&tally, usage, &stages, &stats);
    // An inline run is a row of its own in the peers' tables.
    let name = match (a.inline, a.peer_name.as_str()) {
        (true, "tickwire") => "tickwire-inline",
        (_, name) => name,
    };
    let line = report::json_line(name, &tally, usage);
    if peer_mode {
        eprint!("{summary}");
        println!("{line}");
    } else {
        print!("{summary}");
        if a.json {
            println!("{line}");
        }
    }

    if let Some(path) = &a.hgrm {
        let mut text = Vec::new();
        hgrm::write(&tally.wire, &mut text).map_err(|e| e.to_string())?;
        write_file(path, &text)?;
    }
    if let Some(path) = &a.plot {
        let wire = hgrm::rows(&tally.wire);
        let engine_rows = stages
            .iter()
            .find(|(n, _)| *n == Stage::RecvToConsumed.name())
            .map(|(_, h)| hgrm::rows(h))
            .unwrap_or_default();
        let mut series = vec![plot::Series {
            name: "wire→consumer",
            rows: &wire,
        }];
        if !engine_rows.is_empty() {
            series.push(plot::Series {
                name: "recv→consumed (engine)",
                rows: &engine_rows,
            });
        }
        let title = format!(
            "tickwire: latency by percentile ({} messages, {:.0} msg/s)",
            tally.wire.len(),
            tally.rate()
        );
        write_file(path, plot::svg(&title, &series).as_bytes())?;
    }
    Ok(())
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), String> {
    std::fs::write(path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn end_text(end: End) -> String {
    match end {
        End::Count => "count reached".into(),
        End::Disconnected { reason, .. } => format!("the connection closed ({})", reason.name()),
        End::EngineStopped => "the engine stopped".into(),
        End::Stopped => "--timeout reached".into(),
    }
}

fn connect_error(target: &str, reason: Reason) -> String {
    let hint = match reason {
        Reason::Connect | Reason::Io => {
            "connection refused or unreachable: is the server running and listening on that port?"
        }
        Reason::Resolve => "the host name did not resolve: check the URL",
        Reason::Handshake => {
            "the WebSocket upgrade failed: is it a WebSocket server, and is the path right?"
        }
        Reason::Tls | Reason::TlsTimeout => {
            "the TLS handshake failed: is it a TLS server (else use ws://)?"
        }
        r if r.is_certificate() => {
            "the server's certificate was rejected: wss:// needs a certificate the system trusts"
        }
        Reason::UpgradeClosed => {
            "the server closed the connection before answering the WebSocket upgrade"
        }
        _ => "the connection failed before it was live",
    };
    format!("could not connect to {target} ({}): {hint}", reason.name())
}
