//! `tickwire`: the demo (no arguments), and the `run`, `sim`, `bench`, `decode`, `record`,
//! `replay`, `subscribe` (feature `nats`) and `autobahn` commands. Each command lives in its
//! own module under `cmd/`.

#![deny(unsafe_code)]

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd;
#[cfg(feature = "nats")]
use cmd::subscribe;
use cmd::{autobahn, bench, decode, demo, record, replay, run};
use tickwire_tools::sim;

/// Market-data WebSocket engine: demo, venue simulator, feeds, benchmarks, record/replay.
#[derive(Parser)]
#[command(name = "tickwire", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// The demo on any venue with a simulator (`tickwire` alone runs it on binance).
    Demo(demo::Args),
    /// Run a venue feed and print or summarize its events.
    Run(run::Args),
    /// Serve a venue simulator on loopback.
    Sim(sim::Args),
    /// Measure throughput and latency (against the built-in simulator or any URL).
    Bench(bench::Args),
    /// Decode frames from stdin (one JSON message a line) to normalized events on stdout.
    Decode(decode::Args),
    /// Record raw frames with receive times to a compressed journal.
    Record(record::Args),
    /// Replay a journal or a capture through the same adapters and books.
    Replay(replay::Args),
    /// Read events that `run --publish` put on NATS JetStream, from any host.
    #[cfg(feature = "nats")]
    Subscribe(subscribe::Args),
    /// Run the Autobahn client conformance protocol through the engine.
    Autobahn(autobahn::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        None => demo::run(),
        Some(Command::Demo(a)) => demo::run_venue(a),
        Some(Command::Run(a)) => run::run(a),
        Some(Command::Sim(a)) => sim::run(a),
        Some(Command::Bench(a)) => bench::run(a),
        Some(Command::Decode(a)) => decode::run(a),
        Some(Command::Record(a)) => record::run(a),
        Some(Command::Replay(a)) => replay::run(a),
        #[cfg(feature = "nats")]
        Some(Command::Subscribe(a)) => subscribe::run(a),
        Some(Command::Autobahn(a)) => autobahn::run(a),
    }
}
