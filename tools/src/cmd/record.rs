//! `tickwire record`: a live feed of any venue of the registry to a gzip journal (format in
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
use tickwire_engine::adapter::SnapshotSource;
use tickwire_engine::event::{EventKind, StatusKind};
use tickwire_engine::raw::raw_channel;
use tickwire_engine::{EngineConfig, Registry};
use tickwire_feeds::launch::{LaunchSpec, parse_roots};
use tickwire_feeds::venues;
use tickwire_tools::journal::{
    BoxedHandler, BoxedSnapshots, Header, JournalWriter, Recorder, TeeSnapshots, spawn_writer,
};
use tickwire_tools::signal;
use tickwire_tools::sim::parse_duration;

/// Arguments of `tickwire record`.
#[derive(clap::Args)]
pub struct Args {
    /// Venue, by name: binance (spot), binance-usdm, bybit, bybit-linear, okx, or any other
    /// of the registry.
    #[arg(long, default_value = "binance")]
    venue: String,
    /// Symbols, comma-separated (BTCUSDT,ETHUSDT; any case).
    #[arg(long, value_delimiter = ',', required = true)]
    symbols: Vec<String>,
    /// Channels, comma-separated: trade, bbo, book (as `tickwire run`); Binance also
    /// aggtrade and stream suffixes (bookTicker, depth@100ms, depth@0ms, ...).
    #[arg(long, value_delimiter = ',', default_value = "trade,bbo,book")]
    channels: Vec<String>,
    /// The book channel's speed or depth, as `tickwire run`: Binance 100ms (the default) or
    /// default (USD-M also 500ms, 0ms); Bybit levels 1, 50 (the default) or 200.
    #[arg(long, alias = "depth")]
    depth_speed: Option<String>,
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

/// Root certificates (DER) from a PEM or DER file.
fn read_roots(path: &std::path::Path) -> Result<Vec<Vec<u8>>, String> {
    let bytes =
        std::fs::read(path).map_err(|e| format!("cannot read --cert {}: {e}", path.display()))?;
    parse_roots(&bytes).ok_or_else(|| format!("--cert {}: no valid certificate", path.display()))
}

fn fail(msg: &str) -> ExitCode {
    eprintln!("tickwire record: {msg}");
    ExitCode::FAILURE
}

/// Runs `tickwire record`.
pub fn run(args: Args) -> ExitCode {
    let venue = match venues::find(&args.venue) {
        Ok(v) => v,
        Err(e) => return fail(&e.to_string()),
    };
    let roots = match args.cert.as_deref().map(read_roots).transpose() {
        Ok(r) => r.unwrap_or_default(),
        Err(e) => return fail(&e),
    };
    let engine_config = EngineConfig::default();
    // The venue's launch hook checks and normalizes the endpoints and plans the connections
    // as for `tickwire run`; the connections are built here, each with a recorder.
    let mut spec = LaunchSpec::new(&args.symbols, &args.channels);
    spec.depth = args.depth_speed.clone();
    spec.url = args.url.clone();
    spec.rest_url = args.rest_url.clone();
    spec.roots = roots;
    spec.options = engine_config.connection_defaults;
    let registry = Registry::new();
    let launch = match venue.launch(&spec, &registry) {
        Ok(l) => l,
        Err(e) => return fail(&e.to_string()),
    };
    let streams: Vec<String> = launch
        .connections()
        .iter()
        .flat_map(|c| c.streams.iter().cloned())
        .collect();

    let file = match File::create(&args.out) {
        Ok(f) => f,
        Err(e) => return fail(&format!("cannot create {}: {e}", args.out.display())),
    };
    let header = Header::new(launch.venue(), &streams, tickwire_engine::clock::now_ns());
    // Each block its own gzip member with its own checksum: damage costs one block.
    let out = BufWriter::with_capacity(1 << 20, file);
    let writer = match JournalWriter::gzip(out, &header, Compression::default()) {
        Ok(w) => w,
        Err(e) => return fail(&format!("cannot write {}: {e}", args.out.display())),
    };

    let mut builder = tickwire_engine::Engine::builder(engine_config);
    let (consumer_id, mut consumer) = builder.consumer(1 << 16);
    let engine = match builder.start() {
        Ok(e) => e,
        Err(e) => return fail(&format!("engine: {e}")),
    };
    let mut rings = Vec::new();
    let begun = Instant::now();
    for (i, planned) in launch.connections().iter().enumerate() {
        // The venue's connect pacing (OKX: 3 a second).
        if let Some(wait) = planned.start_after.checked_sub(begun.elapsed()) {
            std::thread::sleep(wait);
        }
        let mut tap = None;
        let built = launch.build(i, &registry, &mut |source, names| {
            let (tee, t) = TeeSnapshots::new(BoxedSnapshots(source), names);
            tap = Some(t);
            Box::new(tee) as Box<dyn SnapshotSource>
        });
        let built = match built {
            Ok(b) => b,
            Err(e) => return fail(&e.to_string()),
        };
        let (producer, ring) = raw_channel(args.buffer_mb.max(1) << 20);
        let mut recorder = Recorder::new(BoxedHandler(built.handler), producer, &planned.streams);
        if let Some(tap) = tap {
            recorder = recorder.with_snapshots(tap);
        }
        if let Err(e) =
            engine
                .handle()
                .add_connection(built.config, Box::new(recorder), &[consumer_id])
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
