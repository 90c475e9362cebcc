//! The simulator server against a plain tungstenite client (and ureq / raw HTTP for REST):
//! protocol, snapshots, heartbeats, every fault, TLS.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tickwire_tools::sim::{Fault, Market, SimConfig, SimServer};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::{Message, WebSocket};

fn config(market: Market) -> SimConfig {
    let mut c = SimConfig::new(market);
    c.symbols = vec!["btcusdt".into(), "ethusdt".into()];
    c.rate = 4000;
    c.tape_len = 256;
    c
}

fn start(c: SimConfig) -> SimServer {
    SimServer::start(c).unwrap()
}

type Ws = WebSocket<Box<dyn ReadWrite>>;
trait ReadWrite: Read + Write + Send {}
impl<T: Read + Write + Send> ReadWrite for T {}

fn tcp(sim: &SimServer) -> TcpStream {
    let s = TcpStream::connect(sim.local_addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    s.set_nodelay(true).unwrap();
    s
}

fn connect(sim: &SimServer, path: &str) -> Ws {
    let url = format!("{}{path}", sim.ws_url());
    let stream: Box<dyn ReadWrite> = Box::new(tcp(sim));
    tungstenite::client(url, stream).unwrap().0
}

/// The next text message as JSON (pings are answered by tungstenite and skipped).
fn next_json(ws: &mut Ws) -> Value {
    loop {
        match ws.read().unwrap() {
            Message::Text(t) => return serde_json::from_str(t.as_str()).unwrap(),
            Message::Ping(_) | Message::Pong(_) => {}
            m => panic!("unexpected {m:?}"),
        }
    }
}

/// Reads until a close frame; returns its code.
fn until_close(ws: &mut Ws) -> Option<u16> {
    loop {
        match ws.read() {
            Ok(Message::Close(f)) => return f.map(|f| u16::from(f.code)),
            Ok(_) => {}
            Err(e) => panic!("no close frame: {e}"),
        }
    }
}

fn send(ws: &mut Ws, text: &str) {
    ws.send(Message::text(text)).unwrap();
}

fn http_get(sim: &SimServer, path_and_query: &str) -> (u16, Value) {
    let mut resp = ureq::get(format!("{}{path_and_query}", sim.rest_url()))
        .config()
        .http_status_as_error(false)
        .build()
        .call()
        .unwrap();
    let status = resp.status().as_u16();
    let body = resp.body_mut().read_to_string().unwrap();
    (status, serde_json::from_str(&body).unwrap())
}

fn u(v: &Value, k: &str) -> u64 {
    v[k].as_u64().unwrap_or_else(|| panic!("{k} in {v}"))
}

#[test]
fn subscribe_acks_then_data_arrives_in_envelopes() {
    let sim = start(config(Market::Spot));
    let mut ws = connect(&sim, "/stream");
    send(
        &mut ws,
        r#"{"method":"SUBSCRIBE","params":["btcusdt@trade","ethusdt@depth@100ms"],"id":1}"#,
    );
    assert_eq!(
        next_json(&mut ws),
        serde_json::json!({"result": null, "id": 1})
    );
    let mut streams = std::collections::HashSet::new();
    for _ in 0..200 {
        let m = next_json(&mut ws);
        let stream = m["stream"].as_str().unwrap().to_string();
        match stream.as_str() {
            "btcusdt@trade" => assert_eq!(m["data"]["e"], "trade"),
            "ethusdt@depth@100ms" => {
                assert_eq!(m["data"]["e"], "depthUpdate");
                assert_eq!(m["data"]["s"], "ETHUSDT");
            }
            s => panic!("unsubscribed stream {s}"),
        }
        streams.insert(stream);
    }
    assert_eq!(streams.len(), 2);
    send(
        &mut ws,
        r#"{"method":"UNSUBSCRIBE","params":["btcusdt@trade"],"id":"x2"}"#,
    );
    // Data already queued may precede the ack; after the ack, no more trades.
    while next_json(&mut ws).get("result").is_none() {}
    for _ in 0..100 {
        assert_eq!(next_json(&mut ws)["stream"], "ethusdt@depth@100ms");
    }
    send(&mut ws, r#"{"method":"LIST_SUBSCRIPTIONS","id":3}"#);
    loop {
        let m = next_json(&mut ws);
        if m.get("id").is_some() {
            assert_eq!(
                m,
                serde_json::json!({"result": ["ethusdt@depth@100ms"], "id": 3})
            );
            break;
        }
    }
    send(
        &mut ws,
        r#"{"method":"SUBSCRIBE","params":["dogeusdt@trade"],"id":4}"#,
    );
    loop {
        let m = next_json(&mut ws);
        if m.get("id").is_some() {
            assert_eq!(m["code"], 2);
            assert_eq!(m["id"], 4);
            assert!(m["msg"].as_str().unwrap().starts_with("Invalid request"));
            break;
        }
    }
    let s = sim.stats();
    assert_eq!(
        (s.sessions, s.control_requests, s.control_errors),
        (1, 4, 1)
    );
    assert!(s.messages >= 300);
}

#[test]
fn raw_stream_url_sends_bare_events() {
    let sim = start(config(Market::UsdM));
    let mut ws = connect(&sim, "/market/ws/btcusdt@aggTrade");
    for _ in 0..20 {
        let m = next_json(&mut ws);
        assert!(m.get("stream").is_none());
        assert_eq!(m["e"], "aggTrade");
        assert_eq!(u(&m, "f"), u(&m, "l"));
    }
    // Book streams are not served on /market, trades not on /public.
    for path in [
        "/market/stream?streams=btcusdt@depth",
        "/public/ws/btcusdt@trade",
        "/ws/nope@trade",
    ] {
        let url = format!("{}{path}", sim.ws_url());
        let stream: Box<dyn ReadWrite> = Box::new(tcp(&sim));
        match tungstenite::client(url, stream) {
            Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(r))) => {
                assert_eq!(r.status(), 400, "{path}");
            }
            other => panic!("{path}: {:?}", other.map(|_| ())),
        }
    }
    let mut ws = connect(&sim, "/public/stream?streams=btcusdt@bookTicker");
    let m = next_json(&mut ws);
    assert_eq!(
        (m["stream"].as_str(), m["data"]["e"].as_str()),
        (Some("btcusdt@bookTicker"), Some("bookTicker"))
    );
}

/// Buffers depth events, takes a REST snapshot, and checks the venue's sync rule.
fn snapshot_lines_up(market: Market) {
    let sim = start(config(market));
    let mut ws = connect(&sim, "/stream?streams=btcusdt@depth@100ms");
    let mut events = Vec::new();
    for _ in 0..20 {
        events.push(next_json(&mut ws)["data"].clone());
    }
    let path = match market {
        Market::Spot => "/api/v3/depth?symbol=BTCUSDT&limit=1000",
        Market::UsdM => "/fapi/v1/depth?symbol=btcusdt&limit=1000",
    };
    let (status, snap) = http_get(&sim, path);
    assert_eq!(status, 200);
    let id = u(&snap, "lastUpdateId");
    assert!(snap["bids"].as_array().unwrap().len() > 50);
    if market == Market::UsdM {
        assert!(snap["E"].is_u64() && snap["T"].is_u64());
    }
    // Keep buffering until the stream has passed the snapshot.
    while u(events.last().unwrap(), "u") <= id {
        events.push(next_json(&mut ws)["data"].clone());
    }
    assert!(u(&events[0], "U") <= id, "snapshot older than the stream");
    let first = events.iter().find(|e| u(e, "u") >= id).unwrap();
    match market {
        Market::Spot => {
            let next = events.iter().find(|e| u(e, "u") > id).unwrap();
            assert!(
                u(next, "U") <= id + 1 && id < u(next, "u"),
                "{next} vs {id}"
            );
        }
        Market::UsdM => {
            assert!(
                u(first, "U") <= id && u(first, "u") >= id,
                "{first} vs {id}"
            );
            let i = events.iter().position(|e| u(e, "u") == id).unwrap();
            for w in events[i..].windows(2) {
                assert_eq!(u(&w[1], "pu"), u(&w[0], "u"));
            }
        }
    }
    // The simulator's snapshot ids are always the `u` of a diff (the book as of that diff).
    assert!(events.iter().any(|e| u(e, "u") == id));
    // Snapshot + the diffs after it = a later snapshot, level for level.
    let side = |v: &Value| -> BTreeMap<String, String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|l| {
                (
                    l[0].as_str().unwrap().to_string(),
                    l[1].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let (mut bids, mut asks) = (side(&snap["bids"]), side(&snap["asks"]));
    let (_, later) = http_get(&sim, path);
    let id2 = u(&later, "lastUpdateId");
    assert!(id2 > id);
    while u(events.last().unwrap(), "u") < id2 {
        events.push(next_json(&mut ws)["data"].clone());
    }
    for e in events.iter().filter(|e| u(e, "u") > id && u(e, "u") <= id2) {
        for (book, key) in [(&mut bids, "b"), (&mut asks, "a")] {
            for l in e[key].as_array().unwrap() {
                let (p, q) = (l[0].as_str().unwrap(), l[1].as_str().unwrap());
                if q.bytes().all(|b| b == b'0' || b == b'.') {
                    book.remove(p);
                } else {
                    book.insert(p.to_string(), q.to_string());
                }
            }
        }
    }
    assert_eq!(bids, side(&later["bids"]));
    assert_eq!(asks, side(&later["asks"]));
    // Bad requests answer like the venue.
    let (status, err) = http_get(
        &sim,
        &path.replace("BTCUSDT", "NOPE").replace("btcusdt", "nope"),
    );
    assert_eq!((status, err["code"].as_i64()), (400, Some(-1121)));
}

#[test]
fn rest_snapshot_lines_up_with_the_spot_stream() {
    snapshot_lines_up(Market::Spot);
}

#[test]
fn rest_snapshot_lines_up_with_the_usdm_stream() {
    snapshot_lines_up(Market::UsdM);
}

#[test]
fn pings_arrive_and_pongs_keep_the_session() {
    let mut c = config(Market::Spot);
    c.ping_interval = Duration::from_millis(50);
    c.pong_timeout = Duration::from_millis(200);
    c.inbound_limit = None;
    let sim = start(c);
    let mut ws = connect(&sim, "/ws/btcusdt@trade");
    let (mut pings, deadline) = (0, Instant::now() + Duration::from_millis(600));
    while Instant::now() < deadline {
        if let Message::Ping(_) = ws.read().unwrap() {
            pings += 1;
        }
    }
    assert!(pings >= 8, "{pings}");
    let s = sim.stats();
    assert!(s.pongs >= 8, "{s:?}");
    assert_eq!(s.pong_timeouts, 0);
}

#[test]
fn a_client_that_never_pongs_is_dropped() {
    let mut c = config(Market::Spot);
    c.ping_interval = Duration::from_millis(50);
    c.pong_timeout = Duration::from_millis(150);
    let sim = start(c);
    let mut ws = connect(&sim, "/ws/btcusdt@trade");
    std::thread::sleep(Duration::from_millis(500)); // not reading: tungstenite answers nothing
    assert_eq!(sim.stats().pong_timeouts, 1);
    // The connection ends without a close frame.
    loop {
        match ws.read() {
            Ok(Message::Close(_)) => panic!("expected a drop, got a close frame"),
            Ok(_) => {}
            Err(_) => break,
        }
    }
}

#[test]
fn faults_drop_close_shutdown_and_lifetime() {
    let sim = start(config(Market::Spot));
    // Drop: the TCP connection ends with no close frame.
    let mut ws = connect(&sim, "/ws/btcusdt@trade");
    next_json(&mut ws);
    assert_eq!(sim.inject(Fault::Drop), 1);
    loop {
        match ws.read() {
            Ok(Message::Close(_)) => panic!("drop sent a close frame"),
            Ok(_) => {}
            Err(_) => break,
        }
    }
    // Close with a code.
    let mut ws = connect(&sim, "/ws/btcusdt@trade");
    next_json(&mut ws);
    sim.inject(Fault::Close(4000));
    assert_eq!(until_close(&mut ws), Some(4000));
    // serverShutdown, then a close after the grace period.
    let mut ws = connect(&sim, "/stream?streams=btcusdt@trade");
    next_json(&mut ws);
    sim.inject(Fault::ServerShutdown);
    let t0 = Instant::now();
    loop {
        let m = next_json(&mut ws);
        if m.get("e").is_some() {
            assert_eq!(m["e"], "serverShutdown");
            assert!(m["E"].is_u64());
            break;
        }
    }
    assert_eq!(until_close(&mut ws), Some(1001));
    assert!(
        t0.elapsed() >= Duration::from_millis(900),
        "{:?}",
        t0.elapsed()
    );
    drop(sim);

    // Lifetime.
    let mut c = config(Market::UsdM);
    c.lifetime = Some(Duration::from_millis(300));
    let sim = start(c);
    let t0 = Instant::now();
    let mut ws = connect(&sim, "/ws/btcusdt@bookTicker");
    assert_eq!(until_close(&mut ws), Some(1000));
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(2),
        "{took:?}"
    );
    // stop() closes every session with 1001.
    let mut ws = connect(&sim, "/ws/btcusdt@bookTicker");
    next_json(&mut ws);
    let t = std::thread::spawn(move || until_close(&mut ws));
    sim.stop();
    assert_eq!(t.join().unwrap(), Some(1001));
}

#[test]
fn faults_silence_and_heartbeat_suppression() {
    let mut c = config(Market::Spot);
    c.ping_interval = Duration::from_millis(40);
    c.inbound_limit = None;
    let sim = start(c);
    let mut ws = connect(&sim, "/ws/btcusdt@bookTicker");
    next_json(&mut ws);
    // Silent: nothing at all for the period, then the backlog in a burst.
    sim.inject(Fault::Silent(Duration::from_millis(300)));
    let mut last = Instant::now();
    let mut longest = Duration::ZERO;
    let mut after = 0;
    let end = Instant::now() + Duration::from_millis(600);
    while Instant::now() < end {
        ws.read().unwrap();
        longest = longest.max(last.elapsed());
        last = Instant::now();
        after += 1;
    }
    assert!(longest >= Duration::from_millis(250), "{longest:?}");
    assert!(after > 100, "{after}");
    // No pings for a while.
    sim.inject(Fault::NoPings(Duration::from_millis(400)));
    std::thread::sleep(Duration::from_millis(30));
    let t0 = Instant::now();
    let mut first_ping = None;
    while t0.elapsed() < Duration::from_millis(700) {
        if let Message::Ping(_) = ws.read().unwrap() {
            first_ping.get_or_insert(t0.elapsed());
        }
    }
    let p = first_ping.expect("pings resume");
    assert!(p >= Duration::from_millis(300), "{p:?}");
    // No pongs: our ping goes unanswered while the fault lasts, and is answered without it.
    let pong_within = |ws: &mut Ws, d: Duration| {
        ws.send(Message::Ping(b"probe".to_vec().into())).unwrap();
        let t0 = Instant::now();
        while t0.elapsed() < d {
            if let Message::Pong(p) = ws.read().unwrap() {
                if &p[..] == b"probe" {
                    return true;
                }
            }
        }
        false
    };
    assert!(pong_within(&mut ws, Duration::from_millis(300)));
    sim.inject(Fault::NoPongs(Duration::from_secs(5)));
    std::thread::sleep(Duration::from_millis(50));
    assert!(!pong_within(&mut ws, Duration::from_millis(300)));
}

#[test]
fn faults_in_content_gap_malformed_oversized_bad_utf8() {
    let sim = start(config(Market::UsdM));
    let mut ws = connect(&sim, "/ws/btcusdt@depth@100ms");
    let mut prev = u(&next_json(&mut ws), "u");
    sim.inject(Fault::Gap);
    let mut breaks = 0;
    for _ in 0..300 {
        let m = next_json(&mut ws);
        breaks += usize::from(u(&m, "pu") != prev);
        prev = u(&m, "u");
    }
    assert_eq!(breaks, 1);
    assert_eq!(sim.stats().gaps, 1);
    // Malformed: exactly one message is not JSON.
    sim.inject(Fault::Malformed);
    let mut bad = 0;
    for _ in 0..200 {
        if let Message::Text(t) = ws.read().unwrap() {
            bad += usize::from(serde_json::from_str::<Value>(t.as_str()).is_err());
        }
    }
    assert_eq!(bad, 1);
    // Oversized: one frame of the asked size.
    sim.inject(Fault::Oversized(300_000));
    let mut big = 0;
    for _ in 0..400 {
        if let Message::Text(t) = ws.read().unwrap() {
            if t.len() == 300_000 {
                big += 1;
                break;
            }
        }
    }
    assert_eq!(big, 1);
    // Invalid UTF-8 in a text frame: tungstenite refuses it.
    sim.inject(Fault::InvalidUtf8);
    let err = loop {
        match ws.read() {
            Ok(_) => {}
            Err(e) => break e,
        }
    };
    assert!(matches!(err, tungstenite::Error::Utf8(_)), "{err}");
}

#[test]
fn read_slowly_delays_replies_and_flooding_is_refused() {
    let sim = start(config(Market::Spot));
    let mut ws = connect(&sim, "/ws");
    let before = sim.stats().faults;
    sim.inject(Fault::ReadSlowly(Duration::from_millis(400)));
    // The session applies the fault on its next turn; on a loaded machine that can take a while.
    let deadline = Instant::now() + Duration::from_secs(5);
    while sim.stats().faults == before && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let t0 = Instant::now();
    send(&mut ws, r#"{"method":"LIST_SUBSCRIPTIONS","id":1}"#);
    assert_eq!(next_json(&mut ws)["id"], 1);
    assert!(
        t0.elapsed() >= Duration::from_millis(300),
        "{:?}",
        t0.elapsed()
    );
    // Over 5 messages a second: closed with 1008.
    let mut ws = connect(&sim, "/ws");
    for i in 0..7 {
        send(
            &mut ws,
            &format!(r#"{{"method":"LIST_SUBSCRIPTIONS","id":{i}}}"#),
        );
    }
    assert_eq!(until_close(&mut ws), Some(u16::from(CloseCode::Policy)));
    assert_eq!(sim.stats().rate_limited, 1);
}

#[test]
fn scheduled_faults_apply_per_session() {
    let mut c = config(Market::Spot);
    c.faults = tickwire_tools::sim::parse_schedule("gap@50ms/100ms,close=4001@400ms").unwrap();
    let sim = start(c);
    let mut ws = connect(&sim, "/ws/btcusdt@depth");
    let mut prev: Option<u64> = None;
    let mut breaks = 0;
    let code = loop {
        match ws.read().unwrap() {
            Message::Text(t) => {
                let m: Value = serde_json::from_str(t.as_str()).unwrap();
                if let Some(p) = prev {
                    breaks += usize::from(u(&m, "U") != p + 1);
                }
                prev = Some(u(&m, "u"));
            }
            Message::Close(f) => break f.map(|f| u16::from(f.code)),
            _ => {}
        }
    };
    assert_eq!(code, Some(4001));
    assert!((3..=4).contains(&breaks), "{breaks}");
}

#[test]
fn tls_works_with_the_returned_certificate() {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, ServerName};
    let mut c = config(Market::Spot);
    c.tls = true;
    let sim = start(c);
    assert!(sim.ws_url().starts_with("wss://"));
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(sim.cert_pem().unwrap().as_bytes()).unwrap())
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    );
    let tls = |name: &str| {
        let conn = rustls::ClientConnection::new(
            cfg.clone(),
            ServerName::try_from(name.to_string()).unwrap(),
        )
        .unwrap();
        rustls::StreamOwned::new(conn, tcp(&sim))
    };
    // WebSocket over TLS, by IP and by name.
    for name in ["127.0.0.1", "localhost"] {
        let stream: Box<dyn ReadWrite> = Box::new(tls(name));
        let url = sim.stream_url(&["btcusdt@trade"]);
        let (mut ws, _) = tungstenite::client(url, stream).unwrap();
        assert_eq!(next_json(&mut ws)["data"]["e"], "trade");
    }
    // REST over TLS.
    let mut s = tls("127.0.0.1");
    s.write_all(b"GET /api/v3/depth?symbol=BTCUSDT&limit=5 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap(); // ends with close_notify, not a bare EOF
    assert!(resp.starts_with("HTTP/1.1 200 OK"), "{resp}");
    let body: Value = serde_json::from_str(resp.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(body["bids"].as_array().unwrap().len(), 5);
    // A client that does not trust the certificate fails.
    let untrusting = Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth(),
    );
    let conn =
        rustls::ClientConnection::new(untrusting, ServerName::try_from("localhost").unwrap())
            .unwrap();
    let stream: Box<dyn ReadWrite> = Box::new(rustls::StreamOwned::new(conn, tcp(&sim)));
    assert!(tungstenite::client(sim.stream_url(&["btcusdt@trade"]), stream).is_err());
}

#[test]
fn port_in_use_is_a_clear_error() {
    let sim = start(config(Market::Spot));
    let mut c = config(Market::Spot);
    c.port = sim.local_addr().port();
    let err = SimServer::start(c).err().unwrap();
    let text = err.to_string();
    assert!(
        text.contains("cannot listen") && text.contains("pick another port"),
        "{text}"
    );
}

#[test]
fn unpaced_rate_streams_as_fast_as_the_client_reads() {
    let mut c = config(Market::Spot);
    c.rate = 0;
    let sim = start(c);
    let mut ws = connect(
        &sim,
        "/stream?streams=btcusdt@depth/btcusdt@trade/btcusdt@bookTicker",
    );
    let mut prev: Option<u64> = None;
    for _ in 0..20_000 {
        let m = next_json(&mut ws);
        if m["stream"] == "btcusdt@depth" {
            if let Some(p) = prev {
                assert_eq!(u(&m["data"], "U"), p + 1);
            }
            prev = Some(u(&m["data"], "u"));
        }
    }
    // The venue clock follows the session, so a snapshot now is recent.
    let (_, snap) = http_get(&sim, "/api/v3/depth?symbol=BTCUSDT&limit=5");
    assert!(u(&snap, "lastUpdateId") >= prev.unwrap());
}

#[test]
fn bursts_arrive_in_groups_and_many_symbols_interleave() {
    let mut c = config(Market::Spot);
    c.symbols = tickwire_tools::sim::symbol_names(40);
    c.rate = 4000;
    c.burst = 400; // a group of 400 events every 100 ms
    c.mix = tickwire_tools::sim::Mix {
        depth: 0,
        trade: 0,
        ticker: 1,
    };
    let sim = start(c);
    let streams: Vec<String> = sim
        .venue()
        .lower_names()
        .iter()
        .map(|s| format!("{s}@bookTicker"))
        .collect();
    let refs: Vec<&str> = streams.iter().map(|s| s.as_str()).collect();
    let mut ws = connect(&sim, &format!("/stream?streams={}", refs.join("/")));
    let mut clumps = Vec::new();
    let (mut last, mut size) = (Instant::now(), 0);
    let mut symbols = std::collections::HashSet::new();
    let end = Instant::now() + Duration::from_millis(550);
    while Instant::now() < end {
        let m = next_json(&mut ws);
        symbols.insert(m["data"]["s"].as_str().unwrap().to_string());
        if last.elapsed() > Duration::from_millis(40) && size > 0 {
            clumps.push(size);
            size = 0;
        }
        size += 1;
        last = Instant::now();
    }
    assert_eq!(symbols.len(), 40);
    // Whole groups (the first may be cut by the connection time).
    assert!(clumps.len() >= 3, "{clumps:?}");
    assert!(clumps[1..].iter().all(|&n| n == 400), "{clumps:?}");
}

#[test]
fn data_starts_at_subscription_time() {
    let sim = start(config(Market::Spot));
    let mut ws = connect(&sim, "/ws");
    std::thread::sleep(Duration::from_millis(300));
    let at = sim.current_event();
    send(
        &mut ws,
        r#"{"method":"SUBSCRIBE","params":["btcusdt@depth"],"id":1}"#,
    );
    assert_eq!(next_json(&mut ws)["id"], 1);
    let first = next_json(&mut ws);
    // No backlog from before the subscription: the first diff follows the book at `at`.
    let before = sim.venue().update_id_at(0, at);
    assert!(u(&first, "U") > before, "{first} vs {before}");
}

/// A raw client: handshake by hand, then frames written as given.
fn raw_session(sim: &SimServer, path: &str) -> TcpStream {
    let mut s = tcp(sim);
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    )
    .unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut b).unwrap();
        head.push(b[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"));
    s
}

/// Reads server frames until a close; returns its code.
fn raw_close_code(s: &mut TcpStream) -> u16 {
    loop {
        let mut h = [0u8; 2];
        s.read_exact(&mut h).unwrap();
        let len = match h[1] & 0x7F {
            126 => {
                let mut l = [0u8; 2];
                s.read_exact(&mut l).unwrap();
                usize::from(u16::from_be_bytes(l))
            }
            127 => {
                let mut l = [0u8; 8];
                s.read_exact(&mut l).unwrap();
                u64::from_be_bytes(l) as usize
            }
            n => usize::from(n),
        };
        let mut payload = vec![0u8; len];
        s.read_exact(&mut payload).unwrap();
        if h[0] & 0x0F == 0x8 {
            return u16::from_be_bytes([payload[0], payload[1]]);
        }
    }
}

#[test]
fn client_protocol_errors_close_the_session() {
    use tickwire_engine::ws::{OpCode, encode_frame};
    let sim = start(config(Market::Spot));
    type Case<'a> = (&'a [u8], Option<[u8; 4]>, u16);
    let cases: [Case; 3] = [
        (b"{\"method\":\"LIST_SUBSCRIPTIONS\",\"id\":1}", None, 1002), // unmasked
        (b"{\"method\":\"\xff\"}", Some([9, 8, 7, 6]), 1007),          // not UTF-8
        (&[b' '; 70_000], Some([1, 2, 3, 4]), 1009),                   // over 64 KiB
    ];
    for (payload, mask, code) in cases {
        let mut s = raw_session(&sim, "/ws/btcusdt@trade");
        let mut frame = Vec::new();
        encode_frame(&mut frame, OpCode::Text, true, payload, mask);
        s.write_all(&frame).unwrap();
        assert_eq!(raw_close_code(&mut s), code);
    }
    assert_eq!(sim.stats().protocol_errors, 3);
}

/// An A/B pair: two simulators with the same seed and the same stream-clock origin serve
/// the same tape at the same position at the same time, whenever each was started; one
/// with its own clock (the default) starts its stream when it starts.
#[test]
fn two_simulators_with_one_clock_origin_serve_the_same_ids_at_the_same_time() {
    let origin = tickwire_engine::clock::now_ns();
    let make = |origin: Option<u64>| {
        let mut c = config(Market::Spot);
        c.rate = 10_000;
        c.seed = 9;
        c.clock_origin_ns = origin;
        start(c)
    };
    let a = make(Some(origin));
    std::thread::sleep(Duration::from_millis(200));
    let b = make(Some(origin));
    let own = make(None);
    // b's clock is a's (bracketed by two reads of a's; a few events of slack for the
    // wall-to-monotonic mapping of each).
    let x = a.current_event();
    let y = b.current_event();
    let z = own.current_event();
    let x2 = a.current_event();
    assert!(y + 5 >= x && y <= x2 + 5, "{x} ≤ {y} ≤ {x2}");
    // The one with its own clock is at least the 200 ms sleep (2000 events) behind.
    assert!(x2 >= z + 1900, "{z} vs {x2}");
    // A path delay: the same stream, 100 ms (1000 events) later.
    let mut c = config(Market::Spot);
    (c.rate, c.seed, c.clock_origin_ns) = (10_000, 9, Some(origin));
    c.path_delay = Duration::from_millis(100);
    let slow = start(c);
    let d = slow.current_event();
    let x3 = a.current_event();
    assert!(d + 1000 <= x3 + 5, "{d} + 1000 vs {x3}");
    // The same tape: the same update ids everywhere.
    for sym in 0..2 {
        let (ta, tb) = (a.venue().tape(sym), b.venue().tape(sym));
        for pos in 0..512 {
            assert_eq!(ta.depth_ids(pos), tb.depth_ids(pos));
            assert_eq!(ta.trades_before(pos), tb.trades_before(pos));
        }
    }
}
