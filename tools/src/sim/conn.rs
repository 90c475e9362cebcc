//! One accepted connection: read the HTTP request head, then answer a REST request or
//! upgrade to a WebSocket session.

use std::io;
use std::net::TcpStream;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use tickwire_engine::clock::now_ns;
use tickwire_feeds::binance::sim::{Feed, FeedOptions, Market, Route, TimeUnit, render_error};

use super::deflate::Deflater;
use super::http::{self, Head};
use super::server::Shared;
use super::session;
use super::sys;
use super::transport::Transport;

/// How long a client may take to send its request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest request head accepted.
const MAX_HEAD: usize = 16 * 1024;

/// Serves one connection to its end.
pub(crate) fn serve(shared: &Shared, sock: TcpStream) {
    let Ok(mut t) = Transport::new(sock, shared.tls.as_ref()) else {
        return;
    };
    let mut inbuf = Vec::with_capacity(4096);
    let deadline = Instant::now() + HEAD_TIMEOUT;
    let head = loop {
        match http::parse_head(&inbuf) {
            Ok(Some(h)) => break h,
            Ok(None) if inbuf.len() < MAX_HEAD => {}
            _ => {
                shared.counters.protocol_errors.fetch_add(1, Relaxed);
                let mut out = Vec::new();
                http::response(
                    &mut out,
                    "400 Bad Request",
                    b"{\"code\":-1,\"msg\":\"malformed HTTP request\"}",
                );
                let _ = write_all(&mut t, &out, Instant::now() + Duration::from_secs(1));
                return;
            }
        }
        if Instant::now() >= deadline || shared.stop.load(Relaxed) {
            return;
        }
        match t.read(&mut inbuf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                sys::wait(t.fd(), true, t.pending(), Duration::from_millis(20));
            }
            Err(_) => return,
        }
    };
    inbuf.drain(..head.len);
    let mut out = Vec::new();
    if head.upgrade {
        match open_feed(shared, &head) {
            Ok(feed) => {
                let deflate = match head.extensions.as_deref() {
                    Some(offer) if shared.config.deflate => Deflater::accept(offer),
                    _ => None,
                };
                let (answer, deflater) = deflate.unzip();
                let key = head.ws_key.as_deref().unwrap_or("");
                http::switching_protocols(&mut out, key, answer.as_deref());
                session::run(shared, t, out, inbuf, feed, deflater);
            }
            Err((status, body)) => {
                shared.counters.protocol_errors.fetch_add(1, Relaxed);
                http::response(&mut out, status, &body);
                let _ = write_all(&mut t, &out, Instant::now() + Duration::from_secs(1));
            }
        }
        return;
    }
    shared.counters.rest_requests.fetch_add(1, Relaxed);
    let (status, body) = rest(shared, &head);
    http::response(&mut out, status, &body);
    let _ = write_all(&mut t, &out, Instant::now() + Duration::from_secs(5));
    t.close_notify();
}

/// Writes everything (or gives up at `deadline`).
fn write_all(t: &mut Transport, mut data: &[u8], deadline: Instant) -> io::Result<()> {
    while !data.is_empty() || t.pending() {
        if Instant::now() >= deadline {
            return Err(io::ErrorKind::TimedOut.into());
        }
        if data.is_empty() {
            match t.flush() {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    sys::wait(t.fd(), false, true, Duration::from_millis(20));
                }
                Err(e) => return Err(e),
            }
            continue;
        }
        match t.write(data) {
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                sys::wait(t.fd(), false, true, Duration::from_millis(20));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn error_body(code: i64, msg: &str) -> Vec<u8> {
    format!("{{\"code\":{code},\"msg\":\"{msg}\"}}").into_bytes()
}

/// Answers a REST request: the depth snapshot (plus `ping` and `time`).
fn rest(shared: &Shared, head: &Head) -> (&'static str, Vec<u8>) {
    let market = shared.config.market;
    let prefix = match market {
        Market::Spot => "/api/v3/",
        Market::UsdM => "/fapi/v1/",
    };
    let Some(endpoint) = head.path.strip_prefix(prefix) else {
        return (
            "404 Not Found",
            error_body(-1, "Not found: this simulator serves depth, ping and time"),
        );
    };
    if head.method != "GET" {
        return (
            "405 Method Not Allowed",
            error_body(-1, "Only GET is served"),
        );
    }
    let now_ms = now_ns() / 1_000_000;
    match endpoint {
        "ping" => ("200 OK", b"{}".to_vec()),
        "time" => (
            "200 OK",
            format!("{{\"serverTime\":{now_ms}}}").into_bytes(),
        ),
        "depth" => {
            let venue = &shared.venue;
            let Some(symbol) = http::query_param(&head.query, "symbol").filter(|s| !s.is_empty())
            else {
                return (
                    "400 Bad Request",
                    error_body(
                        -1102,
                        "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.",
                    ),
                );
            };
            let Some(sym) = venue.symbol_index(&symbol) else {
                return ("400 Bad Request", error_body(-1121, "Invalid symbol."));
            };
            let limit = match http::query_param(&head.query, "limit") {
                None => match market {
                    Market::Spot => 100,
                    Market::UsdM => 500,
                },
                Some(l) => match l.parse::<usize>() {
                    Ok(n) if n > 0 => n,
                    _ => {
                        return (
                            "400 Bad Request",
                            error_body(
                                -1100,
                                "Illegal characters found in parameter 'limit'; legal range is '^[0-9]{1,20}$'.",
                            ),
                        );
                    }
                },
            };
            let limit = match market {
                Market::Spot => limit.min(5000),
                // USD-M serves 5, 10, 20, 50, 100, 500 or 1000 levels: round up.
                Market::UsdM => [5, 10, 20, 50, 100, 500, 1000]
                    .into_iter()
                    .find(|&v| v >= limit)
                    .unwrap_or(1000),
            };
            let mut body = Vec::with_capacity(64 + limit * 60);
            venue.render_snapshot(
                sym,
                shared.event_now(Instant::now()),
                limit,
                now_ms,
                &mut body,
            );
            ("200 OK", body)
        }
        _ => (
            "404 Not Found",
            error_body(-1, "Not found: this simulator serves depth, ping and time"),
        ),
    }
}

/// Builds the session's feed from the upgrade URL, or the HTTP error to answer.
fn open_feed(shared: &Shared, head: &Head) -> Result<Feed, (&'static str, Vec<u8>)> {
    let market = shared.config.market;
    let (route, rest) = match market {
        Market::UsdM if head.path.starts_with("/public/") => (Route::Public, &head.path[7..]),
        Market::UsdM if head.path.starts_with("/market/") => (Route::Market, &head.path[7..]),
        _ => (Route::Any, head.path.as_str()),
    };
    let streams_param;
    let (combined, streams): (bool, Vec<&str>) = if rest == "/stream" {
        streams_param = http::query_param(&head.query, "streams").unwrap_or_default();
        (
            true,
            streams_param.split('/').filter(|s| !s.is_empty()).collect(),
        )
    } else if rest == "/ws" || rest == "/ws/" {
        (false, Vec::new())
    } else if let Some(list) = rest.strip_prefix("/ws/") {
        (false, list.split('/').filter(|s| !s.is_empty()).collect())
    } else {
        let mut body = Vec::new();
        render_error(
            &mut body,
            2,
            "Invalid request: no such stream path: ",
            head.path.as_bytes(),
            b"null",
        );
        return Err(("404 Not Found", body));
    };
    let time_unit = match http::query_param(&head.query, "timeUnit") {
        Some(u) if u.eq_ignore_ascii_case("microsecond") => TimeUnit::Microsecond,
        _ => TimeUnit::Millisecond,
    };
    let opts = FeedOptions {
        route,
        combined,
        probe: shared.config.probe_ts,
        time_unit,
    };
    let mut feed = Feed::new(shared.venue.clone(), opts, shared.event_now(Instant::now()));
    if let Err((e, name)) = feed.subscribe_names(&streams) {
        let mut body = Vec::new();
        let detail = format!("{e}: {name}");
        render_error(
            &mut body,
            2,
            "Invalid request: ",
            detail.as_bytes(),
            b"null",
        );
        return Err(("400 Bad Request", body));
    }
    Ok(feed)
}
