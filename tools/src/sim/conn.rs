//! One accepted connection: read the HTTP request head, then answer a REST request or
//! upgrade to a WebSocket session.

use std::io;
use std::net::TcpStream;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use tickwire_engine::clock::now_ns;
use tickwire_feeds::sim::{FeedRequest, HttpAnswer, SimFeed};

use super::deflate::Deflater;
use super::http::{self, Head};
use super::session;
use super::shared::Shared;
use super::transport::Transport;
use crate::sys;

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

/// Answers a REST request from the venue's routes (404 for any other path).
fn rest(shared: &Shared, head: &Head) -> HttpAnswer {
    let now = now_ns();
    shared
        .venue
        .rest(
            &head.method,
            &head.path,
            &head.query,
            shared.event_now(Instant::now()),
            now,
        )
        .unwrap_or_else(|| {
            (
                "404 Not Found",
                b"{\"code\":-1,\"msg\":\"Not found\"}".to_vec(),
            )
        })
}

/// Builds the session's feed from the upgrade URL, or the HTTP error to answer.
fn open_feed(shared: &Shared, head: &Head) -> Result<Box<dyn SimFeed>, HttpAnswer> {
    let req = FeedRequest {
        path: &head.path,
        query: &head.query,
        probe: shared.config.probe_ts,
    };
    shared
        .venue
        .new_feed(&req, shared.event_now(Instant::now()))
}
