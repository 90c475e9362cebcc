//! `tickwire autobahn`: the Autobahn|Testsuite client protocol, run through the engine's own
//! connections and handler path (not a separate WebSocket loop).
//!
//! Protocol: read the case count from `/getCaseCount`; for each case open
//! `/runCase?case=N&agent=A` and echo every text and binary message until the server closes;
//! then open `/updateReports?agent=A`. Pings, pongs, fragmentation, UTF-8 validation and the
//! close handshake are the engine's own behaviour, which is what the suite grades.

use std::process::ExitCode;
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::{Duration, Instant};

use tickwire_engine::ws::DeflateOffer;
use tickwire_engine::{
    ConnectionConfig, ConnectionOptions, Context, Engine, EngineConfig, EngineHandle, Message,
    Profile, Reason, Reconnect, WsHandler,
};

/// Arguments of `tickwire autobahn`.
#[derive(clap::Args)]
pub struct Args {
    /// Fuzzing server URL (the suite's runner sets AUTOBAHN_URL).
    #[arg(long, env = "AUTOBAHN_URL", default_value = "ws://127.0.0.1:9001")]
    url: String,
    /// Agent name in the report (the runner sets AUTOBAHN_AGENT).
    #[arg(long, env = "AUTOBAHN_AGENT", default_value = "tickwire")]
    agent: String,
    /// Seconds to wait for one case to finish.
    #[arg(long, default_value_t = 60)]
    case_timeout: u64,
    /// Offer permessage-deflate (RFC 7692) on every connection, for the suite's 12.* and
    /// 13.* cases (the runner's `-x ""` schedules them). Echoes go back uncompressed.
    #[arg(long)]
    deflate: bool,
}

enum Outcome {
    Text(String),
    Closed,
}

/// Echoes data messages; reports the first text message and the end of the connection.
struct Echo {
    echo: bool,
    tx: Sender<Outcome>,
}

impl WsHandler for Echo {
    fn on_message(&mut self, msg: Message<'_>, cx: &mut Context<'_>) {
        if !self.echo {
            if let Message::Text(t) = &msg {
                let _ = self
                    .tx
                    .send(Outcome::Text(String::from_utf8_lossy(t).into_owned()));
            }
            return;
        }
        // A full outbox fails the case, which is what the report should then show.
        let _ = match msg {
            Message::Text(t) => cx.send_text(t),
            Message::Binary(b) => cx.send_binary(b),
        };
    }

    fn on_disconnect(&mut self, _reason: Reason, _cx: &mut Context<'_>) -> Reconnect {
        let _ = self.tx.send(Outcome::Closed);
        Reconnect::No
    }
}

fn options(deflate: bool) -> ConnectionOptions {
    ConnectionOptions {
        deflate: deflate.then(DeflateOffer::default),
        // Case 9.* sends 16 MiB messages and expects them echoed.
        max_frame: 20 << 20,
        max_message: 20 << 20,
        tx_limit: 48 << 20,
        ping_interval: None,
        stale_after: None,
        ..ConnectionOptions::default()
    }
}

fn open(
    engine: &EngineHandle,
    args: &Args,
    path: &str,
    echo: bool,
) -> Result<Receiver<Outcome>, String> {
    let base = &args.url;
    let url = format!("{}{}", base.trim_end_matches('/'), path);
    let config = ConnectionConfig::new(&url)
        .map_err(|e| format!("bad URL {url}: {e}"))?
        .options(options(args.deflate));
    let (tx, rx) = mpsc::channel();
    engine
        .add_connection(config, Box::new(Echo { echo, tx }), &[])
        .map_err(|e| format!("cannot add connection: {e}"))?;
    Ok(rx)
}

fn wait_closed(rx: &Receiver<Outcome>, timeout: Duration) -> Option<String> {
    let deadline = Instant::now() + timeout;
    let mut text = None;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(Outcome::Text(t)) => text = Some(t),
            Ok(Outcome::Closed) | Err(_) => return text,
        }
    }
}

/// Runs the client protocol.
pub fn run(args: Args) -> ExitCode {
    match drive(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tickwire autobahn: {e}");
            ExitCode::FAILURE
        }
    }
}

fn drive(args: &Args) -> Result<(), String> {
    let engine = Engine::builder(EngineConfig::profile(Profile::Standard))
        .start()
        .map_err(|e| format!("cannot start the engine: {e}"))?;
    let handle = engine.handle();
    let timeout = Duration::from_secs(args.case_timeout);
    let rx = open(&handle, args, "/getCaseCount", false)?;
    let count: u32 = wait_closed(&rx, timeout)
        .and_then(|t| t.trim().parse().ok())
        .ok_or_else(|| {
            format!(
                "no case count from {}/getCaseCount (is the fuzzing server running?)",
                args.url
            )
        })?;
    eprintln!(
        "tickwire autobahn: {count} cases against {} as {}",
        args.url, args.agent
    );
    let start = Instant::now();
    for case in 1..=count {
        let rx = open(
            &handle,
            args,
            &format!("/runCase?case={case}&agent={}", args.agent),
            true,
        )?;
        let t = Instant::now();
        wait_closed(&rx, timeout);
        if t.elapsed() > Duration::from_secs(3) {
            eprintln!("case {case}: {:.1} s", t.elapsed().as_secs_f64());
        }
    }
    let rx = open(
        &handle,
        args,
        &format!("/updateReports?agent={}", args.agent),
        false,
    )?;
    wait_closed(&rx, timeout);
    handle.shutdown();
    let stats = engine.join().map_err(|e| format!("engine: {e}"))?;
    eprintln!(
        "tickwire autobahn: done in {:.1} s; {stats:?}",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
