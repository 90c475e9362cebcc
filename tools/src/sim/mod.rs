//! `tickwire sim`: a simulated venue (Binance spot or USD-M today) on loopback, faithful enough for the real
//! adapter — and the Rust API ([`SimServer`]) the demo, `tickwire bench` and the
//! integration tests use.
//!
//! One port serves both protocols of the venue:
//!
//! * REST: `GET /api/v3/depth?symbol=BTCUSDT&limit=100` (spot) or `GET /fapi/v1/depth?...`
//!   (USD-M, limits 5..1000), a snapshot consistent with the streams' update ids; also
//!   `ping` and `time` under the same prefix.
//! * WebSocket: `/ws`, `/ws/<stream>[/<stream>..]` (raw) and `/stream?streams=a/b`
//!   (combined envelopes); USD-M also under `/public/...` (book streams) and `/market/...`
//!   (trade streams). Streams: `<sym>@trade`, `@aggTrade`, `@bookTicker`, `@depth`,
//!   `@depth@100ms`, `@depth@0ms`. `SUBSCRIBE`, `UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`,
//!   `SET_PROPERTY`/`GET_PROPERTY combined`, acks and errors as the venue sends them.
//!   Server pings with a pong deadline (pongs must echo the payload), an inbound message
//!   limit, an optional lifetime and `serverShutdown`.
//!
//! Any venue of the simulator registry (`tickwire_feeds::sim::sim_venues`) is served by
//! `--venue NAME`: the venue model, rendering and control protocol come from its
//! `tickwire_feeds::sim::SimVenue`; this module adds sockets, TLS, pacing and faults.
//!
//! ```no_run
//! use tickwire_tools::sim::{Fault, SimConfig, SimServer};
//! use tickwire_feeds::binance::sim::Market;
//!
//! let sim = SimServer::start(SimConfig::new(Market::Spot)).unwrap();
//! let url = sim.stream_url(&["btcusdt@depth@100ms", "btcusdt@trade"]);
//! // ... connect a client to `url`, GET `sim.depth_url("BTCUSDT", 1000)` ...
//! sim.inject(Fault::Gap);
//! sim.stop();
//! ```

mod config;
mod conn;
mod deflate;
mod fault;
mod http;
mod server;
mod session;
mod shared;
mod tls;
mod transport;

use std::process::ExitCode;
use std::time::Duration;

pub use config::SimConfig;
pub use fault::{FOREVER, Fault, FaultParseError, ScheduledFault, parse_duration, parse_schedule};
pub use server::{SimError, SimServer};
pub use shared::{SimStats, aligned_origin};
pub use tickwire_feeds::binance::sim::{Market, Mix};

const FAULTS_HELP: &str = "Faults applied to every WebSocket session, comma-separated \
KIND[=ARG]@AT[/EVERY], times after the session opens (500ms, 2s, 1m, 1h). Kinds: \
drop (close TCP, no close frame); silent[=DUR] (send nothing, then catch up); \
no-pongs[=DUR] (ignore client pings); no-pings[=DUR] (stop server pings); \
gap (skip one depth event: the update-id chain breaks once); malformed (cut one message); \
oversized[=BYTES] (one text frame of BYTES, default 4 MiB); bad-utf8 (one text frame that is \
not UTF-8); read-slow[=DUR] (stop reading the socket); shutdown (serverShutdown, then close \
after --shutdown-grace); close[=CODE] (close frame, default 1000). DUR defaults to for ever. \
Example: gap@2s/5s,silent=3s@20s,drop@60s";

/// Arguments of `tickwire sim` (boxed: the options are many, the command enum stays small).
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The options.
    #[command(flatten)]
    pub options: Box<Options>,
}

/// Options of `tickwire sim`.
#[derive(clap::Args, Debug)]
pub struct Options {
    /// Venue: binance (spot), binance-usdm (USD-M futures) or okx (instIds like BTC-USDT;
    /// serves /ws/v5/public and /api/v5/market/books).
    #[arg(long, default_value = "binance")]
    pub venue: String,
    /// TCP port (0 = any free port).
    #[arg(long, default_value_t = 9100)]
    pub port: u16,
    /// Listen address.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: std::net::IpAddr,
    /// Venue events per second over all symbols (0 = as fast as each client reads).
    #[arg(long, default_value_t = 1000)]
    pub rate: u64,
    /// Events become due in groups of this many (bursts); 1 = evenly paced.
    #[arg(long, default_value_t = 1)]
    pub burst: u64,
    /// Symbols, comma-separated, or a count N for N symbols (BTCUSDT, ETHUSDT, ... then
    /// SYM0006USDT, ...).
    #[arg(long, default_value = "btcusdt", value_delimiter = ',')]
    pub symbols: Vec<String>,
    /// Event mix as weights: depth=D,trade=T,ticker=K.
    #[arg(long, default_value = "depth=50,trade=20,ticker=30")]
    pub mix: String,
    /// Seed of the venue model.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Serve wss:// and https:// with a fresh self-signed certificate.
    #[arg(long)]
    pub tls: bool,
    /// With --tls, write the certificate (PEM) here so clients can trust it.
    #[arg(long)]
    pub cert_out: Option<std::path::PathBuf>,
    /// Start each data message with a "ts" field, the send time in ns (latency probe).
    #[arg(long)]
    pub probe: bool,
    /// Server ping period (default: 20s spot, 3m USD-M).
    #[arg(long, value_parser = parse_duration_arg)]
    pub ping_interval: Option<Duration>,
    /// Drop a session whose ping is unanswered this long (default: 1m spot, 10m USD-M).
    #[arg(long, value_parser = parse_duration_arg)]
    pub pong_timeout: Option<Duration>,
    /// Close sessions after this long (the venue's 24h limit, shortened).
    #[arg(long, value_parser = parse_duration_arg)]
    pub lifetime: Option<Duration>,
    /// Client messages allowed per second (0 = no limit; default 5 spot, 10 USD-M).
    #[arg(long)]
    pub inbound_limit: Option<u32>,
    #[arg(long, help = FAULTS_HELP)]
    /// Scheduled faults.
    pub faults: Option<String>,
    /// Time between serverShutdown and the close that follows.
    #[arg(long, value_parser = parse_duration_arg, default_value = "1s")]
    pub shutdown_grace: Duration,
    /// Steps per symbol tape (memory is about 200 B a step per symbol).
    #[arg(long, default_value_t = 4096)]
    pub tape_len: usize,
    /// Bytes per socket write at most when catching up.
    #[arg(long, default_value_t = 64 * 1024)]
    pub batch_bytes: usize,
    /// Accept permessage-deflate when a client offers it (RFC 7692) and compress outgoing
    /// data messages.
    #[arg(long)]
    pub deflate: bool,
    /// Anchor the stream clock on the wall clock at the last whole multiple of this (e.g.
    /// 1m): two simulators with the same --seed, --symbols and --rate started within the
    /// same period serve the same ids at the same time (an A/B pair, each with its own
    /// --faults). Default: the clock starts with the server.
    #[arg(long, value_parser = parse_duration_arg)]
    pub clock_align: Option<Duration>,
    /// Send every message this much later than the venue time it carries (a slower network
    /// path: the slow line of an A/B pair).
    #[arg(long, value_parser = parse_duration_arg)]
    pub delay: Option<Duration>,
}

fn parse_duration_arg(s: &str) -> Result<Duration, String> {
    parse_duration(s).map_err(|e| e.to_string())
}

/// Parses `depth=50,trade=20,ticker=30` (missing kinds weigh 0).
pub fn parse_mix(s: &str) -> Result<Mix, String> {
    let mut mix = Mix {
        depth: 0,
        trade: 0,
        ticker: 0,
    };
    for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (k, v) = item
            .split_once('=')
            .ok_or_else(|| format!("bad mix item '{item}': use depth=D,trade=T,ticker=K"))?;
        let v: u32 = v
            .parse()
            .map_err(|_| format!("bad weight in mix item '{item}'"))?;
        match k {
            "depth" => mix.depth = v,
            "trade" => mix.trade = v,
            "ticker" | "bookTicker" => mix.ticker = v,
            _ => {
                return Err(format!(
                    "unknown mix kind '{k}': use depth, trade or ticker"
                ));
            }
        }
    }
    if mix.depth + mix.trade + mix.ticker == 0 {
        return Err("the mix needs at least one non-zero weight".into());
    }
    Ok(mix)
}

/// `n` symbol names: the well-known ones first (BTCUSDT, ETHUSDT, BNBUSDT, SOLUSDT,
/// XRPUSDT), then `SYM0006USDT`, `SYM0007USDT`, ...
pub fn symbol_names(n: usize) -> Vec<String> {
    const KNOWN: [&str; 5] = ["BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT"];
    (0..n)
        .map(|i| match KNOWN.get(i) {
            Some(k) => (*k).to_string(),
            None => format!("SYM{:04}USDT", i + 1),
        })
        .collect()
}

/// Builds a [`SimConfig`] from command-line arguments.
pub fn config_from_args(a: &Options) -> Result<SimConfig, String> {
    let mut c = SimConfig::for_venue(&a.venue).map_err(|e| e.to_string())?;
    c.bind = a.bind;
    c.port = a.port;
    c.rate = a.rate;
    c.burst = a.burst;
    c.symbols = match a.symbols.as_slice() {
        [n] if n.bytes().all(|b| b.is_ascii_digit()) => {
            symbol_names(n.parse().map_err(|_| format!("bad symbol count '{n}'"))?)
        }
        list => list.to_vec(),
    };
    c.mix = parse_mix(&a.mix)?;
    c.seed = a.seed;
    c.tls = a.tls;
    c.probe_ts = a.probe;
    if let Some(d) = a.ping_interval {
        c.ping_interval = d;
    }
    if let Some(d) = a.pong_timeout {
        c.pong_timeout = d;
    }
    c.lifetime = a.lifetime;
    if let Some(n) = a.inbound_limit {
        c.inbound_limit = (n > 0).then_some(n);
    }
    if let Some(spec) = &a.faults {
        c.faults = parse_schedule(spec).map_err(|(e, item)| format!("--faults '{item}': {e}"))?;
    }
    c.shutdown_grace = a.shutdown_grace;
    c.tape_len = a.tape_len;
    c.batch_bytes = a.batch_bytes;
    c.deflate = a.deflate;
    c.clock_origin_ns = a.clock_align.map(shared::aligned_origin);
    c.path_delay = a.delay.unwrap_or_default();
    if a.cert_out.is_some() && !a.tls {
        return Err("--cert-out needs --tls".into());
    }
    Ok(c)
}

/// Runs `tickwire sim` until interrupted.
pub fn run(args: Args) -> ExitCode {
    let args = args.options;
    let config = match config_from_args(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("tickwire sim: {e}");
            return ExitCode::FAILURE;
        }
    };
    let sim = match SimServer::start(config.clone()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("tickwire sim: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let (Some(path), Some(pem)) = (&args.cert_out, sim.cert_pem()) {
        if let Err(e) = std::fs::write(path, pem) {
            eprintln!(
                "tickwire sim: cannot write the certificate to {}: {e}",
                path.display()
            );
            return ExitCode::FAILURE;
        }
        eprintln!("tickwire sim: certificate written to {}", path.display());
    }
    let venue = sim.venue_name();
    let sym = sim.venue().lower_names()[0].clone();
    eprintln!(
        "tickwire sim: {venue} on {} ({} symbols, {} events/s{})",
        sim.local_addr(),
        config.symbols.len(),
        config.rate,
        if config.rate == 0 { " = unpaced" } else { "" }
    );
    if sim.market().is_some() {
        println!("ws   {}/ws/{sym}@trade", sim.ws_url());
        println!(
            "ws   {}",
            sim.stream_url(&[&format!("{sym}@depth@100ms"), &format!("{sym}@bookTicker")])
        );
    } else {
        println!("ws   {}", sim.ws_url());
    }
    if sim.market() == Some(Market::UsdM) {
        println!(
            "ws   {}/public/stream?streams={sym}@depth@100ms",
            sim.ws_url()
        );
        println!("ws   {}/market/stream?streams={sym}@aggTrade", sim.ws_url());
    }
    println!("rest {}", sim.depth_url(&sym, 100));
    let mut last = sim.stats();
    loop {
        std::thread::sleep(Duration::from_secs(5));
        let s = sim.stats();
        eprintln!(
            "tickwire sim: {} sessions open ({} total), {} msg/s, {} REST, {} pings/{} pongs, {} faults",
            s.live_sessions,
            s.sessions,
            (s.messages - last.messages) / 5,
            s.rest_requests,
            s.pings,
            s.pongs,
            s.faults
        );
        last = s;
    }
}
