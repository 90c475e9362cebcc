//! `tickwire record`: a live feed (Binance spot or USD-M) to a gzip journal (format in
//! `tickwire_tools::journal`): every raw message with its receive time and connection, the
//! REST snapshots where the feed handler received them, and session starts and ends. The
//! I/O thread copies into a ring; a writer thread compresses and writes. SIGINT or SIGTERM
//! (or `--duration`) stops it: connections close, the rings drain, the file is finished (a
//! second signal exits at once, leaving a journal that replays up to its last flush).
//! Symbols, channels and endpoints are given as for `tickwire run`.

use std::fs::File;
use std::io::{BufWriter, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use flate2::Compression;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use tickwire_engine::adapter::{FeedConfig, FeedHandler, connection_config};
use tickwire_engine::event::{EventKind, StatusKind};
use tickwire_engine::raw::raw_channel;
use tickwire_engine::{EngineConfig, FeedAdapter, Registry};
use tickwire_feeds::binance::{
    BinanceAdapter, BinanceFeed, Channel, DepthSpeed, Market, RestSnapshots, Subscription,
};
use tickwire_tools::journal::{Header, JournalWriter, Recorder, TeeSnapshots, spawn_writer};
use tickwire_tools::signal;
use tickwire_tools::sim::parse_duration;

/// Arguments of `tickwire record`.
#[derive(clap::Args)]
pub struct Args {
    /// Venue: binance (spot) or binance-usdm (USD-M futures).
    #[arg(long, default_value = "binance")]
    venue: String,
    /// Symbols, comma-separated (BTCUSDT,ETHUSDT; any case).
    #[arg(long, value_delimiter = ',', required = true)]
    symbols: Vec<String>,
    /// Channels, comma-separated: trade, aggtrade, bbo, book (as `tickwire run`), or stream
    /// suffixes (bookTicker, depth@100ms, depth@0ms, ...).
    #[arg(long, value_delimiter = ',', default_value = "trade,bbo,book")]
    channels: Vec<String>,
    /// Update speed of the book channel: 100ms or default (USD-M also 500ms, 0ms).
    #[arg(long, default_value = "100ms")]
    depth_speed: String,
    /// WebSocket endpoint instead of the venue's (ws://127.0.0.1:9100 for `tickwire sim`).
    #[arg(long)]
    url: Option<String>,
    /// REST endpoint for book snapshots instead of the venue's (default: the --url host when
    /// it is loopback).
    #[arg(long)]
    rest_url: Option<String>,
    /// Trust this root certificate (PEM or DER file) for wss:// with a self-signed server
    /// (for the WebSocket and the REST snapshots).
    #[arg(long)]
    cert: Option<PathBuf>,
    /// The journal to write (gzip).
    #[arg(long)]
    out: PathBuf,
    /// Stop after this long (500ms, 30s, 5m, 1h); default: until Ctrl-C.
    #[arg(long, value_parser = parse_duration_arg)]
    duration: Option<Duration>,
    /// Ring between the I/O thread and the writer, MiB per connection.
    #[arg(long, default_value_t = 32)]
    buffer_mb: usize,
}

fn parse_duration_arg(s: &str) -> Result<Duration, String> {
    parse_duration(s).map_err(|e| e.to_string())
}

fn parse_speed(s: &str, market: Market) -> Option<DepthSpeed> {
    let speed = match s.trim().to_ascii_lowercase().as_str() {
        "100ms" | "100" => DepthSpeed::Ms100,
        "default" | "1000ms" | "250ms" => DepthSpeed::Default,
        "500ms" | "500" if market == Market::UsdM => DepthSpeed::Ms500,
        "0ms" | "0" if market == Market::UsdM => DepthSpeed::Ms0,
        _ => return None,
    };
    Some(speed)
}

/// A channel by `tickwire run`'s name or by its stream suffix.
fn parse_channel(name: &str, speed: DepthSpeed) -> Option<Channel> {
    let name = name.trim();
    Channel::from_suffix(name).or(match name.to_ascii_lowercase().as_str() {
        "trade" | "trades" => Some(Channel::Trade),
        "aggtrade" | "aggtrades" => Some(Channel::AggTrade),
        "bbo" | "bookticker" => Some(Channel::BookTicker),
        "book" | "depth" => Some(Channel::Depth(speed)),
        _ => None,
    })
}

/// `ws://127.0.0.1:9100/stream` → `http://127.0.0.1:9100` when the host is loopback (where
/// `tickwire sim` serves both).
fn loopback_rest(url: &str) -> Option<String> {
    let e = tickwire_engine::config::Endpoint::parse(url).ok()?;
    let loopback = e.host == "localhost"
        || e.host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    let host = if e.host.contains(':') {
        format!("[{}]", e.host)
    } else {
        e.host.clone()
    };
    let scheme = if e.tls { "https" } else { "http" };
    loopback.then(|| format!("{scheme}://{host}:{}", e.port))
}

/// Root certificates (DER) from a PEM or DER file.
fn read_roots(path: &std::path::Path) -> Result<Vec<Vec<u8>>, String> {
    let bytes =
        std::fs::read(path).map_err(|e| format!("cannot read --cert {}: {e}", path.display()))?;
    if !bytes.starts_with(b"-----BEGIN") {
        return Ok(vec![bytes]);
    }
    match CertificateDer::pem_slice_iter(&bytes).collect::<Result<Vec<_>, _>>() {
        Ok(certs) if !certs.is_empty() => Ok(certs.iter().map(|c| c.as_ref().to_vec()).collect()),
        _ => Err(format!("--cert {}: no valid certificate", path.display())),
    }
}

fn fail(msg: &str) -> ExitCode {
    eprintln!("tickwire record: {msg}");
    ExitCode::FAILURE
}

/// Runs `tickwire record`.
pub fn run(args: Args) -> ExitCode {
    let market = match tickwire_feeds::venues::find(&args.venue) {
        Ok(v) => match v.binance_market() {
            Some(m) => m,
            None => {
                return fail(&format!(
                    "venue '{}' cannot be recorded yet (record plans Binance connections only)",
                    v.name()
                ));
            }
        },
        Err(e) => return fail(&e.to_string()),
    };
    let Some(speed) = parse_speed(&args.depth_speed, market) else {
        return fail(&format!(
            "unknown --depth-speed {:?} for {}: 100ms or default (USD-M also 500ms, 0ms)",
            args.depth_speed,
            market.venue()
        ));
    };
    let mut channels = Vec::new();
    for c in args.channels.iter().filter(|c| !c.trim().is_empty()) {
        match parse_channel(c, speed) {
            Some(ch) if !channels.contains(&ch) => channels.push(ch),
            Some(_) => {}
            None => {
                return fail(&format!(
                    "unknown channel {c:?} (trade, aggtrade, bbo, book, or a stream suffix such as depth@100ms)"
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
        return fail("give at least one symbol (--symbols) and one channel (--channels)");
    }
    // The launcher checks and normalizes the endpoints and plans the connections as for
    // `tickwire run`; the connections are built here, each with a recorder.
    let mut feed = BinanceFeed::new(market)
        .symbols(&symbols)
        .channels(&channels);
    if let Some(url) = &args.url {
        feed = feed.url(url);
    }
    if let Some(rest) = args
        .rest_url
        .clone()
        .or_else(|| args.url.as_deref().and_then(loopback_rest))
    {
        feed = feed.rest_url(&rest);
    }
    let (config, plan) = match (feed.resolved_config(), feed.plan()) {
        (Ok(c), Ok(p)) => (c, p),
        (Err(e), _) | (_, Err(e)) => return fail(&e.to_string()),
    };
    let roots = match args.cert.as_deref().map(read_roots).transpose() {
        Ok(r) => r.unwrap_or_default(),
        Err(e) => return fail(&e),
    };
    let streams: Vec<String> = plan.subscriptions().map(Subscription::stream).collect();

    let file = match File::create(&args.out) {
        Ok(f) => f,
        Err(e) => return fail(&format!("cannot create {}: {e}", args.out.display())),
    };
    let header = Header::new(market.venue(), &streams, tickwire_engine::clock::now_ns());
    // Each block its own gzip member with its own checksum: damage costs one block.
    let out = BufWriter::with_capacity(1 << 20, file);
    let writer = match JournalWriter::gzip(out, &header, Compression::default()) {
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
    for group in plan.groups() {
        let adapter = match BinanceAdapter::new(config.clone(), group, &registry) {
            Ok(a) => a,
            Err(e) => return fail(&format!("subscriptions: {e}")),
        };
        let mut book_symbols: Vec<&str> = Vec::new();
        for s in group {
            if matches!(s.channel, Channel::Depth(_)) && !book_symbols.contains(&s.symbol.as_str())
            {
                book_symbols.push(&s.symbol);
            }
        }
        let names = book_symbols
            .iter()
            .filter_map(|s| adapter.instrument(s).map(|i| (i, (*s).to_owned())))
            .collect();
        let rest = match RestSnapshots::spawn_with_roots(&config, &registry, &book_symbols, &roots)
        {
            Ok(r) => r,
            Err(e) => return fail(&format!("snapshot thread: {e}")),
        };
        let (tee, tap) = TeeSnapshots::new(rest, names);
        let handler = FeedHandler::new(adapter, Box::new(tee), FeedConfig::default());
        let mut conn_config =
            match connection_config(handler.adapter(), engine_config.connection_defaults) {
                Ok(c) => c,
                Err(e) => return fail(&format!("{}: {e}", handler.adapter().endpoint().url)),
            };
        for der in &roots {
            conn_config = conn_config.trust_root_der(der);
        }
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
    if let Err(e) = signal::install() {
        return fail(&format!("installing the signal handler: {e}"));
    }

    let started = Instant::now();
    let progress = std::io::stderr().is_terminal();
    let mut last_progress = Instant::now();
    let mut counts = Counts::default();
    loop {
        while let Some(e) = consumer.pop() {
            counts.add(&e);
        }
        if signal::received()
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
    // The writer flushed every block it counts as written; what is left is the sync.
    let finished = result.and_then(|()| {
        writer
            .into_inner()
            .and_then(|w| w.into_inner().map_err(|e| e.into_error()))
            .and_then(|f| f.sync_all())
    });
    let size = std::fs::metadata(&args.out).map_or(0, |m| m.len());
    eprintln!(
        "tickwire record: {} records in the file ({} messages, {} snapshots), {} records lost \
         ({} dropped by a full ring, {} never written), {:.1} MB raw, {:.1} MB written to {}",
        stats.records,
        stats.messages,
        stats.snapshots,
        stats.missing(),
        stats.lost,
        stats.unwritten,
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
        Ok(()) if stats.missing() == 0 => ExitCode::SUCCESS,
        Ok(()) => fail(&format!(
            "{} records were lost (the writer fell behind; raise --buffer-mb)",
            stats.lost
        )),
        Err(e) => fail(&format!(
            "writing {} failed: {e}; {} records never reached the file (the journal holds the \
             {} before the failure, each block verified by its checksum)",
            args.out.display(),
            stats.unwritten,
            stats.records
        )),
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
