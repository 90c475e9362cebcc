//! `tickwire decode`: frames on stdin (one JSON message a line, raw or in the combined-stream
//! envelope) to normalized events on stdout (one JSON object a line, see
//! `tickwire_feeds::jsonl`). Stateless: no book sync; each symbol is interned on first
//! sight. A line that cannot be decoded prints a `decode_error` status line and decoding
//! goes on. A line may start with a receive time in ns and a space (the capture format of
//! `shared/data`); it becomes the events' receive time.

use std::io::{BufRead, BufWriter, Write};
use std::process::ExitCode;

use tickwire_engine::adapter::Frame;
use tickwire_engine::event::{Status, StatusKind};
use tickwire_engine::{Event, Registry};
use tickwire_feeds::jsonl::JsonLines;
use tickwire_feeds::venues::{self, DecodeOptions, VenueKind};

/// Arguments of `tickwire decode`.
#[derive(clap::Args)]
pub struct Args {
    /// Venue whose frames are on stdin (a name of `tickwire_feeds::venues`, e.g. binance,
    /// binance-usdm or okx).
    #[arg(long)]
    venue: String,
    /// Timestamps in the frames are microseconds (URL option timeUnit=MICROSECOND).
    #[arg(long)]
    micros: bool,
    /// Take exchange_ts from a leading "ts" field in ns (the load server's latency probe).
    #[arg(long)]
    probe: bool,
}

/// Splits an optional `<ns> ` prefix off a line.
fn split_recv_ts(line: &mut [u8]) -> (u64, &mut [u8]) {
    let digits = line.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits > 0 && line.get(digits) == Some(&b' ') {
        let ts = std::str::from_utf8(&line[..digits])
            .ok()
            .and_then(|s| s.parse().ok());
        if let Some(ts) = ts {
            return (ts, &mut line[digits + 1..]);
        }
    }
    (0, line)
}

/// Runs `tickwire decode`.
pub fn run(args: Args) -> ExitCode {
    let venue = match venues::find(&args.venue) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("tickwire decode: {e}");
            return ExitCode::from(2);
        }
    };
    let stdin = std::io::stdin();
    let mut out = BufWriter::new(std::io::stdout().lock());
    let result = decode_lines(venue, &args, stdin.lock(), &mut out);
    let _ = out.flush();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tickwire decode: reading stdin: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Decodes every line of `input` to JSON lines on `out`. Fails only when reading fails; a
/// closed output ends quietly.
fn decode_lines(
    venue: &dyn VenueKind,
    args: &Args,
    mut input: impl BufRead,
    out: &mut impl Write,
) -> std::io::Result<()> {
    let registry = Registry::new();
    let mut decoder = venue.decoder(
        &registry,
        DecodeOptions {
            micros: args.micros,
            probe: args.probe,
        },
    );
    let mut lines = JsonLines::new(registry, venue.name());
    let mut line = Vec::with_capacity(64 * 1024);
    let mut events: Vec<Event> = Vec::with_capacity(4096);
    let mut text = Vec::with_capacity(64 * 1024);
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        while matches!(line.last(), Some(b'\n' | b'\r')) {
            line.pop();
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let (recv_ts, frame) = split_recv_ts(&mut line);
        events.clear();
        text.clear();
        let status = |kind, reason: u16, value| {
            Event::status(
                tickwire_engine::InstrumentId::NONE,
                Status {
                    kind,
                    reason,
                    value,
                    connection: 0,
                },
                recv_ts,
            )
        };
        match decoder.decode(frame, recv_ts, &mut events) {
            Ok(Frame::Market | Frame::BookDiff { .. }) => {}
            Ok(Frame::BookSnapshot { .. }) => {
                tickwire_engine::adapter::mark_snapshot_run(&mut events)
            }
            Ok(Frame::SubscriptionError { id, .. }) => events.push(status(
                StatusKind::SubscriptionError,
                tickwire_engine::Reason::Adapter.code(),
                id.unwrap_or(0),
            )),
            Ok(Frame::Rotate) => events.push(status(
                StatusKind::Rotating,
                tickwire_engine::Reason::ServerShutdown.code(),
                0,
            )),
            Ok(Frame::Ack { .. } | Frame::Control | Frame::Pong | Frame::Unknown) => {}
            Err(e) => {
                let mut ev = status(StatusKind::DecodeError, e.reason.code(), 0);
                ev.instrument = e.instrument;
                events.push(ev);
            }
        }
        for e in &events {
            lines.write(e, &mut text);
        }
        if out.write_all(&text).is_err() {
            // Output closed (e.g. piped into `head`): nothing more to do.
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickwire_feeds::binance::Market;

    fn decode(market: Market, input: &str) -> Vec<String> {
        let args = Args {
            venue: market.venue().into(),
            micros: false,
            probe: false,
        };
        let venue = venues::find(market.venue()).unwrap();
        let mut out = Vec::new();
        decode_lines(venue, &args, input.as_bytes(), &mut out).unwrap();
        String::from_utf8(out)
            .unwrap()
            .lines()
            .map(String::from)
            .collect()
    }

    #[test]
    fn frames_to_lines() {
        let input = concat!(
            r#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1,"s":"BTCUSDT","t":3000123456,"p":"43250.12","q":"0.012","T":1723161255123,"m":false}}"#,
            "\n\n{\"bad\n",
            r#"1723161253937085768 {"e":"depthUpdate","E":1723161255123,"T":1,"s":"ETHUSDT","U":1,"u":1000123460,"pu":0,"b":[["43249.99","0.51234"]],"a":[]}"#,
            "\n",
            r#"{"e":"serverShutdown","E":1}"#,
            "\n",
            r#"{"result":null,"id":1}"#,
        );
        let lines = decode(Market::UsdM, input);
        assert_eq!(
            lines,
            [
                r#"{"kind":"trade","venue":"binance-usdm","symbol":"BTCUSDT","side":"buy","price":"43250.12","qty":"0.012","id":3000123456,"exchange_ts":1723161255123000000,"flags":[]}"#,
                r#"{"kind":"status","venue":"binance-usdm","symbol":null,"status":"decode_error","detail":"json"}"#,
                r#"{"kind":"book","venue":"binance-usdm","symbol":"ETHUSDT","side":"bid","price":"43249.99","qty":"0.51234","seq":1000123460,"exchange_ts":1723161255123000000,"flags":["last"]}"#,
                r#"{"kind":"status","venue":"binance-usdm","symbol":null,"status":"rotating","detail":"server_shutdown"}"#,
            ]
        );
    }

    #[test]
    fn okx_frames_to_lines() {
        // venues.md §6: a books snapshot (one run, every level "snapshot", the last also
        // "last"), an update (no snapshot flag), a keep-alive, a pong, an ack, a trade, and a
        // malformed line (a decode_error status, then the stream goes on).
        let input = concat!(
            r#"1 {"arg":{"channel":"books","instId":"AVAX-USDT"},"action":"snapshot","data":[{"asks":[["8476.98","415","0","13"]],"bids":[["8476.97","256","0","12"]],"ts":"1597026383085","checksum":0,"prevSeqId":-1,"seqId":123456}]}"#,
            "\n",
            r#"2 {"arg":{"channel":"books","instId":"AVAX-USDT"},"action":"update","data":[{"asks":[],"bids":[["8476.9","0","0","0"]],"ts":"1597026383185","checksum":0,"prevSeqId":123456,"seqId":123457}]}"#,
            "\n",
            r#"{"arg":{"channel":"books","instId":"AVAX-USDT"},"action":"update","data":[{"asks":[],"bids":[],"ts":"1597026383285","checksum":0,"prevSeqId":123457,"seqId":123457}]}"#,
            "\npong\n",
            r#"{"event":"subscribe","arg":{"channel":"trades","instId":"BTC-USDT"}}"#,
            "\n",
            r#"{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[{"instId":"BTC-USDT","tradeId":"130639474","px":"42219.9","sz":"0.12060306","side":"sell","ts":"1630048897897","count":"1"}]}"#,
            "\n{\"arg\":\n",
        );
        let args = Args {
            venue: "okx".into(),
            micros: false,
            probe: false,
        };
        let venue = venues::find("okx").unwrap();
        let mut out = Vec::new();
        decode_lines(venue, &args, input.as_bytes(), &mut out).unwrap();
        let lines: Vec<String> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(String::from)
            .collect();
        assert_eq!(
            lines,
            [
                r#"{"kind":"book","venue":"okx","symbol":"AVAX-USDT","side":"ask","price":"8476.98","qty":"415","seq":123456,"exchange_ts":1597026383085000000,"flags":["snapshot"]}"#,
                r#"{"kind":"book","venue":"okx","symbol":"AVAX-USDT","side":"bid","price":"8476.97","qty":"256","seq":123456,"exchange_ts":1597026383085000000,"flags":["snapshot","last"]}"#,
                r#"{"kind":"book","venue":"okx","symbol":"AVAX-USDT","side":"bid","price":"8476.9","qty":"0","seq":123457,"exchange_ts":1597026383185000000,"flags":["last"]}"#,
                r#"{"kind":"trade","venue":"okx","symbol":"BTC-USDT","side":"sell","price":"42219.9","qty":"0.12060306","id":130639474,"exchange_ts":1630048897897000000,"flags":[]}"#,
                r#"{"kind":"status","venue":"okx","symbol":null,"status":"decode_error","detail":"json"}"#,
            ]
        );
    }
}

#[cfg(test)]
mod bybit_tests {
    use super::*;

    fn decode(venue: &str, input: &str) -> Vec<String> {
        let args = Args {
            venue: venue.into(),
            micros: false,
            probe: false,
        };
        let v = venues::find(venue).unwrap();
        let mut out = Vec::new();
        decode_lines(v, &args, input.as_bytes(), &mut out).unwrap();
        String::from_utf8(out)
            .unwrap()
            .lines()
            .map(String::from)
            .collect()
    }

    /// `tickwire decode --venue bybit-linear`: venues.md §5's messages, a pong, an ack and a
    /// broken line. Expected lines written by hand from the documented messages.
    #[test]
    fn bybit_frames_to_lines() {
        let input = concat!(
            r#"1 {"topic":"orderbook.50.BTCUSDT","type":"snapshot","ts":1672304484978,"data":{"s":"BTCUSDT","b":[["16493.50","0.006"]],"a":[["16611.00","0.029"],["16612.00","0.213"]],"u":18521288,"seq":7961638724},"cts":1672304484976}"#,
            "\n",
            r#"{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":1672304484988,"data":{"s":"BTCUSDT","b":[["16493.50","0"]],"a":[["16611.00","0.031"]],"u":18521289,"seq":7961638726},"cts":1672304484985}"#,
            "\n",
            r#"{"topic":"publicTrade.BTCUSDT","type":"snapshot","ts":1709891679005,"data":[{"T":1709891679000,"s":"BTCUSDT","S":"Sell","v":"0.010","p":"27451.00","L":"PlusTick","i":"9dc75fca-4bdd-4773-9f78-6f5d7ab2a110","BT":false,"seq":987654322}]}"#,
            "\n",
            r#"{"success":true,"ret_msg":"pong","conn_id":"c","op":"ping"}"#,
            "\n",
            r#"{"success":true,"ret_msg":"","conn_id":"c","req_id":"1","op":"subscribe"}"#,
            "\n{\"topic\":\n",
        );
        let lines = decode("bybit-linear", input);
        assert_eq!(
            lines,
            [
                r#"{"kind":"book","venue":"bybit-linear","symbol":"BTCUSDT","side":"bid","price":"16493.50","qty":"0.006","seq":18521288,"exchange_ts":1672304484978000000,"flags":["snapshot"]}"#,
                r#"{"kind":"book","venue":"bybit-linear","symbol":"BTCUSDT","side":"ask","price":"16611.00","qty":"0.029","seq":18521288,"exchange_ts":1672304484978000000,"flags":["snapshot"]}"#,
                r#"{"kind":"book","venue":"bybit-linear","symbol":"BTCUSDT","side":"ask","price":"16612.00","qty":"0.213","seq":18521288,"exchange_ts":1672304484978000000,"flags":["snapshot","last"]}"#,
                r#"{"kind":"book","venue":"bybit-linear","symbol":"BTCUSDT","side":"bid","price":"16493.50","qty":"0","seq":18521289,"exchange_ts":1672304484988000000,"flags":[]}"#,
                r#"{"kind":"book","venue":"bybit-linear","symbol":"BTCUSDT","side":"ask","price":"16611.00","qty":"0.031","seq":18521289,"exchange_ts":1672304484988000000,"flags":["last"]}"#,
                r#"{"kind":"trade","venue":"bybit-linear","symbol":"BTCUSDT","side":"sell","price":"27451.00","qty":"0.010","id":"9dc75fca-4bdd-4773-9f78-6f5d7ab2a110","exchange_ts":1709891679000000000,"flags":[]}"#,
                r#"{"kind":"status","venue":"bybit-linear","symbol":null,"status":"decode_error","detail":"json"}"#,
            ]
        );
        // Spot: numeric trade ids print as integers; `bybit-spot` is an alias.
        let spot = decode(
            "bybit-spot",
            r#"{"topic":"publicTrade.OPUSDT","ts":1672304486868,"type":"snapshot","data":[{"i":"2290000000007764263","T":1672304486865,"p":"1.5","v":"10","S":"Buy","s":"OPUSDT","BT":false}]}"#,
        );
        assert_eq!(
            spot,
            [
                r#"{"kind":"trade","venue":"bybit","symbol":"OPUSDT","side":"buy","price":"1.5","qty":"10","id":2290000000007764263,"exchange_ts":1672304486865000000,"flags":[]}"#
            ]
        );
    }
}
