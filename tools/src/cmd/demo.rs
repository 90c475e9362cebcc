//! The demo (`tickwire` with no arguments, `cargo run --release`, or `tickwire demo --venue
//! NAME` for any venue with a simulator): the venue's built-in simulator on loopback, the engine on the LowLatency profile against it, a consumer
//! thread rebuilding the books, and the live view for about ten seconds (or until Ctrl-C),
//! then a summary.
//!
//! Six tenths of the way through, the simulator skips one depth update: the feed handler
//! sees the gap in the update ids, marks that book invalid (`Gap`, `Resync`), gets a fresh
//! snapshot (Binance: over REST; Bybit: by resubscribing; OKX: in-band or REST) and
//! publishes it, and the view logs the recovery and its time.
//!
//! `TICKWIRE_DEMO_SECONDS` (e.g. `3`) shortens the run, for tests.

use std::cell::Cell;
use std::process::ExitCode;
use std::time::Duration;

use tickwire_engine::{EngineConfig, IdleStrategy, Profile};
use tickwire_feeds::launch::LaunchSpec;
use tickwire_feeds::venues::{self, DecodeOptions};
use tickwire_tools::consumer::Idle;
use tickwire_tools::sim::{Fault, SimConfig, SimServer};
use tickwire_tools::view::fmt_count;

use crate::cmd::run::{Session, drive};

/// Symbols the simulator serves.
const SYMBOLS: [&str; 3] = ["BTCUSDT", "ETHUSDT", "SOLUSDT"];

/// The same as OKX instIds.
const OKX_SYMBOLS: [&str; 3] = ["BTC-USDT", "ETH-USDT", "SOL-USDT"];

/// Arguments of `tickwire demo`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Venue, by name: any venue with a simulator (binance, binance-usdm, bybit,
    /// bybit-linear, okx, ...).
    #[arg(long, default_value = "binance")]
    venue: String,
    /// Venue events a second over all symbols.
    #[arg(long, default_value_t = RATE)]
    rate: u64,
}

/// Venue events a second over all symbols: lively, and well within a 2-core machine.
const RATE: u64 = 30_000;

/// Default length of the demo.
const DEFAULT_SECONDS: f64 = 10.0;

/// Fraction of the run after which the gap is injected.
const FAULT_AT: f64 = 0.6;

/// The demo's length: `TICKWIRE_DEMO_SECONDS` if it is a positive number of seconds.
fn duration() -> Duration {
    std::env::var("TICKWIRE_DEMO_SECONDS")
        .ok()
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0 && *s < 1e6)
        .map_or(
            Duration::from_secs_f64(DEFAULT_SECONDS),
            Duration::from_secs_f64,
        )
}

/// Runs the demo on Binance spot (`tickwire` with no arguments).
pub fn run() -> ExitCode {
    run_venue(Args {
        venue: String::from("binance"),
        rate: RATE,
    })
}

/// Runs the demo on `args.venue`.
pub fn run_venue(args: Args) -> ExitCode {
    let venue = match venues::find(&args.venue) {
        Ok(v) if v.sim().is_some() => v,
        Ok(v) => {
            eprintln!("tickwire demo: venue '{}' has no simulator", v.name());
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("tickwire demo: {e}");
            return ExitCode::from(2);
        }
    };
    let mut sim_config = match SimConfig::for_venue(venue.name()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("tickwire demo: {e}");
            return ExitCode::from(2);
        }
    };
    let symbols: &[&str] = if venue.name() == tickwire_feeds::okx::VENUE {
        &OKX_SYMBOLS
    } else {
        &SYMBOLS
    };
    // The latency probe (a leading "ts" in ns) is the Binance simulator's and decoder's.
    let probe = venue.binance_market().is_some();
    sim_config.symbols = symbols.iter().map(|s| (*s).to_owned()).collect();
    sim_config.rate = args.rate;
    sim_config.probe_ts = probe;
    let sim = match SimServer::start(sim_config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("tickwire demo: the simulator could not start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut engine = EngineConfig::profile(Profile::LowLatency);
    // Busy-poll, but yield on every empty poll: on a 2-core machine a pure spin starves the
    // consumer thread that shares a core with it.
    engine.idle = IdleStrategy::SpinThenYield { spins: 0 };
    let mut spec = LaunchSpec::new(symbols, &["trade", "bbo", "book"]);
    spec.url = Some(sim.ws_url());
    spec.rest_url = Some(sim.rest_url());
    spec.decode = DecodeOptions {
        micros: false,
        probe,
    };
    spec.options = engine.connection_defaults;
    let duration = duration();
    let fault_at = duration.mul_f64(FAULT_AT);
    let injected = Cell::new(false);
    let session = Session {
        label: "tickwire demo",
        title: Some(format!(
            "tickwire demo · {} simulator · {} · {} events/s",
            market_name(venue.name()),
            sim.ws_url(),
            view_rate(args.rate)
        )),
        target: Some(format!(
            "the built-in {} simulator at {}",
            market_name(venue.name()),
            sim.ws_url()
        )),
        venue,
        spec,
        engine,
        print: false,
        live: true,
        duration: Some(duration),
        idle: Idle::Yield,
        summary_on_stdout: true,
        footer: String::from("tickwire demo · Ctrl-C to stop"),
        cert: false,
        publish: None,
    };
    let mut tick = |elapsed: Duration| {
        if injected.get() || elapsed < fault_at {
            return None;
        }
        injected.set(true);
        let sessions = sim.inject(Fault::Gap);
        Some(format!(
            "demo: the simulator skips one depth update ({sessions} session{}): expect a gap, a resync and a fresh snapshot",
            if sessions == 1 { "" } else { "s" }
        ))
    };
    let extra = || {
        let sent = sim.stats();
        vec![format!(
            "  {:<13}{} messages sent · {} REST snapshots served · {} fault injected",
            "simulator",
            fmt_count(sent.messages),
            fmt_count(sent.rest_requests),
            u64::from(injected.get())
        )]
    };
    let code = drive(session, &mut tick, &extra);
    sim.stop();
    code
}

/// `binance` → `binance spot` (the demo's words before the registry; others as named).
fn market_name(venue: &str) -> String {
    match venue {
        "binance" => String::from("binance spot"),
        "binance-usdm" => String::from("binance usd-m"),
        "bybit" => String::from("bybit spot"),
        other => other.replace('-', " "),
    }
}

fn view_rate(rate: u64) -> String {
    if rate >= 1000 && rate % 1000 == 0 {
        format!("{}k", rate / 1000)
    } else {
        fmt_count(rate)
    }
}
