//! `tickwire record`: a live feed (Binance spot or USD-M) to a gzip journal (format in
//! `tickwire_tools::journal`): every raw message with its receive time and connection, the
//! REST snapshots where the feed handler received them, and session starts and ends. The
//! I/O thread copies into a ring; a writer thread compresses and writes. SIGINT or SIGTERM
//! (or `--duration`) stops it: connections close, the rings drain, the file is finished.

use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use flate2::Compression;
use flate2::write::GzEncoder;
use tickwire_engine::adapter::{FeedConfig, FeedHandler, connection_config};
use tickwire_engine::event::{EventKind, StatusKind};
use tickwire_engine::raw::raw_channel;
use tickwire_engine::{EngineConfig, FeedAdapter, Registry};
use tickwire_feeds::binance::{
    BinanceAdapter, BinanceConfig, Channel, Market, RestSnapshots, Subscription, plan_connections,
};
use tickwire_tools::journal::{Header, JournalWriter, Recorder, TeeSnapshots, spawn_writer};
use tickwire_tools::sim::parse_duration;

/// Arguments of `tickwire record`.
#[derive(clap::Args)]
pub struct Args {
    /// Venue: binance (spot) or binance-usdm (USD-M futures).
    #[arg(long)]
    venue: String,
    /// Symbols, comma-separated (BTCUSDT,ETHUSDT).
    #[arg(long, value_delimiter = ',', required = true)]
    symbols: Vec<String>,
    /// Channels, comma-separated: trade, aggTrade, bookTicker, depth, depth@100ms,
    /// depth@500ms, depth@0ms.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "trade,bookTicker,depth@100ms"
    )]
    channels: Vec<String>,
    /// WebSocket base URL instead of the venue's (e.g. ws://127.0.0.1:9100 for `tickwire sim`).
    #[arg(long)]
    url: Option<String>,
    /// REST base URL for snapshots instead of the venue's (e.g. http://127.0.0.1:9100).
    #[arg(long)]
    rest_url: Option<String>,
    /// The journal to write (gzip).
    #[arg(long)]
    out: PathBuf,
    /// Stop after this long (500ms, 30s, 5m, 1h); default: until SIGINT.
    #[arg(long, value_parser = parse_duration_arg)]
    duration: Option<Duration>,
    /// Ring between the I/O thread and the writer, MiB per connection.
    #[arg(long, default_value_t = 32)]
    buffer_mb: usize,
}

fn parse_duration_arg(s: &str) -> Result<Duration, String> {
    parse_duration(s).map_err(|e| e.to_string())
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_signal: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    STOP.store(true, Ordering::Relaxed);
}

fn install_signal_handlers() {
    let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: `on_signal` is an `extern "C"` function that only stores to an atomic,
        // which is async-signal-safe; `signal` has no other preconditions.
        unsafe {
            libc::signal(signal, handler);
        }
    }
}

fn fail(msg: &str) -> ExitCode {
    eprintln!("tickwire record: {msg}");
    ExitCode::FAILURE
}

/// Runs `tickwire record`.
pub fn run(args: Args) -> ExitCode {
    let Some(market) = Market::from_venue(&args.venue) else {
        return fail(&format!(
            "unknown venue {:?} (binance, binance-usdm)",
            args.venue
        ));
    };
    let mut channels = Vec::new();
    for c in &args.channels {
        match Channel::from_suffix(c) {
            Some(ch) => channels.push(ch),
            None => {
                return fail(&format!(
                    "unknown channel {c:?} (trade, aggTrade, bookTicker, depth, depth@100ms, depth@500ms, depth@0ms)"
                ));
            }
        }
    }
    let symbols: Vec<&str> = args
        .symbols
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect();
    if symbols.is_empty() {
        return fail("no symbols given");
    }
    let mut config = BinanceConfig::for_market(market);
    config.ws_base = args.url.clone();
    config.rest_base = args.rest_url.clone();
    let subs = Subscription::product(&symbols, &channels);
    let streams: Vec<String> = subs.iter().map(Subscription::stream).collect();

    let file = match File::create(&args.out) {
        Ok(f) => f,
        Err(e) => return fail(&format!("cannot create {}: {e}", args.out.display())),
    };
    let gz = GzEncoder::new(
        BufWriter::with_capacity(1 << 20, file),
        Compression::default(),
    );
    let header = Header::new(market.venue(), &streams, tickwire_engine::clock::now_ns());
    let writer = match JournalWriter::new(gz, &header) {
        Ok(w) => w,
        Err(e) => return fail(&format!("cannot write {}: {e}", args.out.display())),
    };

    let engine_config = EngineConfig::default();
    let mut builder = tickwire_engine::Engine::builder(engine_config);
    let (consumer_id, mut consumer) = builder.consumer(1 << 16);
    let engine = match builder.start() {
        Ok(e) => e,
        Err(e) => return fail(&format!("engine: {e}")),
    };
    let registry = Registry::new();
    let mut rings = Vec::new();
    for group in plan_connections(&config, &subs) {
        let adapter = match BinanceAdapter::new(config.clone(), &group, &registry) {
            Ok(a) => a,
            Err(e) => return fail(&format!("subscriptions: {e}")),
        };
        let syms: Vec<String> = group.iter().map(|s| s.symbol.clone()).collect();
        let sym_refs: Vec<&str> = syms.iter().map(String::as_str).collect();
        let names = sym_refs
            .iter()
            .filter_map(|s| adapter.instrument(s).map(|i| (i, (*s).to_owned())))
            .collect();
        let rest = match RestSnapshots::spawn(&config, &registry, &sym_refs) {
            Ok(r) => r,
            Err(e) => return fail(&format!("snapshot thread: {e}")),
        };
        let (tee, tap) = TeeSnapshots::new(rest, names);
        let handler = FeedHandler::new(adapter, Box::new(tee), FeedConfig::default());
        let conn_config =
            match connection_config(handler.adapter(), engine_config.connection_defaults) {
                Ok(c) => c,
                Err(e) => return fail(&format!("{}: {e}", handler.adapter().endpoint().url)),
            };
        let (producer, ring) = raw_channel(args.buffer_mb.max(1) << 20);
        let group_streams: Vec<String> = group.iter().map(Subscription::stream).collect();
        let recorder = Recorder::new(handler, producer, &group_streams).with_snapshots(tap);
        if let Err(e) =
            engine
                .handle()
                .add_connection(conn_config, Box::new(recorder), &[consumer_id])
        {
            return fail(&format!("engine: {e}"));
        }
        rings.push(ring);
    }
    let sink = match spawn_writer(rings, writer) {
        Ok(s) => s,
        Err(e) => return fail(&format!("writer thread: {e}")),
    };
    install_signal_handlers();

    let started = Instant::now();
    let progress = std::io::stderr().is_terminal();
    let mut last_progress = Instant::now();
    let mut counts = Counts::default();
    loop {
        while let Some(e) = consumer.pop() {
            counts.add(&e);
        }
        if STOP.load(Ordering::Relaxed)
            || args.duration.is_some_and(|d| started.elapsed() >= d)
            || sink.is_finished()
        {
            break;
        }
        if progress && last_progress.elapsed() >= Duration::from_secs(1) {
            last_progress = Instant::now();
            let p = sink.progress();
            eprint!(
                "\rtickwire record: {:.0}s, {} records, {:.1} MB, {} sessions, {} resyncs   ",
                started.elapsed().as_secs_f64(),
                p.records.load(Ordering::Relaxed),
                p.payload_bytes.load(Ordering::Relaxed) as f64 / 1e6,
                counts.connected,
                counts.resyncs,
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    if progress {
        eprint!("\r\x1b[K");
    }
    // Closing the connections drops the recorders: the writer drains their rings and ends.
    let engine_stats = engine.join();
    while let Some(e) = consumer.pop() {
        counts.add(&e);
    }
    let (stats, writer, result) = sink.finish();
    let finished = result.and_then(|()| {
        writer
            .into_inner()
            .finish()
            .and_then(|mut w| w.flush().map(|()| w))
            .and_then(|w| w.into_inner().map_err(|e| e.into_error()))
            .and_then(|f| f.sync_all())
    });
    let size = std::fs::metadata(&args.out).map_or(0, |m| m.len());
    eprintln!(
        "tickwire record: {} messages, {} snapshots, {} records lost, {:.1} MB raw, {:.1} MB written to {}",
        stats.messages,
        stats.snapshots,
        stats.lost,
        stats.payload_bytes as f64 / 1e6,
        size as f64 / 1e6,
        args.out.display()
    );
    eprintln!(
        "tickwire record: {} sessions, {} disconnects, {} resyncs, {} gaps, {} decode errors over {:.1}s",
        counts.connected,
        counts.disconnected,
        counts.resyncs,
        counts.gaps,
        counts.decode_errors,
        started.elapsed().as_secs_f64()
    );
    if let Err(e) = engine_stats {
        eprintln!("tickwire record: engine: {e}");
    }
    match finished {
        Ok(()) if stats.lost == 0 => ExitCode::SUCCESS,
        Ok(()) => fail(&format!(
            "{} records were lost (the writer fell behind; raise --buffer-mb)",
            stats.lost
        )),
        Err(e) => fail(&format!("writing {}: {e}", args.out.display())),
    }
}

#[derive(Default)]
struct Counts {
    connected: u64,
    disconnected: u64,
    resyncs: u64,
    gaps: u64,
    decode_errors: u64,
}

impl Counts {
    fn add(&mut self, e: &tickwire_engine::Event) {
        if e.kind() != EventKind::Status {
            return;
        }
        match e.as_status().map(|s| s.kind) {
            Some(StatusKind::Connected) => self.connected += 1,
            Some(StatusKind::Disconnected) => self.disconnected += 1,
            Some(StatusKind::Resync) => self.resyncs += 1,
            Some(StatusKind::Gap) => self.gaps += 1,
            Some(StatusKind::DecodeError) => self.decode_errors += 1,
            _ => {}
        }
    }
}
