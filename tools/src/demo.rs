//! The demo (`tickwire` with no arguments, `cargo run --release`): the built-in Binance
//! simulator on loopback, the engine on the LowLatency profile against it, a consumer
//! thread rebuilding the books, and the live view for about ten seconds (or until Ctrl-C),
//! then a summary.
//!
//! Six tenths of the way through, the simulator skips one depth update: the feed handler
//! sees the gap in the update ids, marks that book invalid (`Gap`, `Resync`), fetches a
//! fresh snapshot over REST and publishes it, and the view logs the recovery and its time.
//!
//! `TICKWIRE_DEMO_SECONDS` (e.g. `3`) shortens the run, for tests.

use std::cell::Cell;
use std::process::ExitCode;
use std::time::Duration;

use tickwire_engine::{EngineConfig, IdleStrategy, Profile};
use tickwire_feeds::binance::{BinanceFeed, Channel, DepthSpeed, Market};
use tickwire_tools::consumer::Idle;
use tickwire_tools::sim::{Fault, SimConfig, SimServer};
use tickwire_tools::view::fmt_count;

use crate::run::{Session, drive};

/// Symbols the simulator serves.
const SYMBOLS: [&str; 3] = ["BTCUSDT", "ETHUSDT", "SOLUSDT"];

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

/// Runs the demo.
pub fn run() -> ExitCode {
    let mut sim_config = SimConfig::new(tickwire_tools::sim::Market::Spot);
    sim_config.symbols = SYMBOLS.iter().map(|s| (*s).to_owned()).collect();
    sim_config.rate = RATE;
    sim_config.probe_ts = true;
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
    let feed = BinanceFeed::new(Market::Spot)
        .symbols(&SYMBOLS)
        .channels(&[
            Channel::Trade,
            Channel::BookTicker,
            Channel::Depth(DepthSpeed::Ms100),
        ])
        .url(&sim.ws_url())
        .rest_url(&sim.rest_url())
        .latency_probe(true)
        .options(engine.connection_defaults);
    let duration = duration();
    let fault_at = duration.mul_f64(FAULT_AT);
    let injected = Cell::new(false);
    let session = Session {
        label: "tickwire demo",
        title: format!(
            "tickwire demo · binance spot simulator · {} · {} events/s",
            sim.ws_url(),
            view_rate(RATE)
        ),
        target: format!("the built-in binance spot simulator at {}", sim.ws_url()),
        feed,
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

fn view_rate(rate: u64) -> String {
    if rate >= 1000 && rate % 1000 == 0 {
        format!("{}k", rate / 1000)
    } else {
        fmt_count(rate)
    }
}
