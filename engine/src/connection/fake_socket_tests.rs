//! The connection machine over a scripted socket ([`Socket`]): no network, every read and
//! write answered by the test. The upgrade response and frames arrive one byte per read
//! with `WouldBlock` between; the upgrade request leaves a few bytes per writable event;
//! the connect, the upgrade and the session each fail in turn. What the handler and the
//! consumer see is written out from what the test sent.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use super::*;
use crate::config::ConnectionOptions;
use crate::event::StatusKind;
use crate::ring::{Consumer, channel};
use crate::transport::fake::{FakeSocket, Script, Step};

type Shared = Rc<RefCell<Script>>;

thread_local! {
    /// The scripts the next connects get (none left: the connect is refused).
    static NEXT: RefCell<VecDeque<Shared>> = const { RefCell::new(VecDeque::new()) };
}

impl Socket for FakeSocket {
    fn connect(_: SocketAddr, _: sys::SocketOptions) -> io::Result<Self> {
        NEXT.with(|n| n.borrow_mut().pop_front())
            .map(FakeSocket)
            .ok_or_else(|| io::ErrorKind::ConnectionRefused.into())
    }

    fn connect_result(&self) -> io::Result<bool> {
        self.0.borrow_mut().connect.pop_front().unwrap_or(Ok(true))
    }

    fn register(&mut self, _: &mio::Registry, _: mio::Token) -> io::Result<()> {
        Ok(())
    }

    fn deregister(&mut self, _: &mio::Registry) {}
}

/// What the handler saw, in order.
#[derive(Default)]
struct Seen {
    log: Vec<String>,
}

/// Logs its callbacks; subscribes (`sub`) on every connect.
struct Recorder(Arc<Mutex<Seen>>);

impl WsHandler for Recorder {
    fn on_connect(&mut self, cx: &mut Context<'_>) {
        self.0.lock().unwrap().log.push("connect".into());
        cx.send_text(b"sub").unwrap();
    }

    fn on_message(&mut self, msg: Message<'_>, _: &mut Context<'_>) {
        let text = String::from_utf8_lossy(msg.payload()).into_owned();
        self.0.lock().unwrap().log.push(text);
    }

    fn on_disconnect(&mut self, reason: Reason, _: &mut Context<'_>) -> Reconnect {
        self.0
            .lock()
            .unwrap()
            .log
            .push(format!("disconnect {}", reason.name()));
        Reconnect::Yes
    }

    fn on_error(&mut self, reason: Reason, _: &mut Context<'_>) {
        self.0
            .lock()
            .unwrap()
            .log
            .push(format!("error {}", reason.name()));
    }
}

struct Rig {
    conn: Connection<FakeSocket>,
    core: Core,
    poll: mio::Poll,
    consumer: Consumer,
    seen: Arc<Mutex<Seen>>,
    now: u64,
}

const READY: Ready = Ready {
    readable: true,
    writable: true,
    read_closed: false,
};

impl Rig {
    /// A connection to an IP literal (no resolver), its consumer ring and handler log.
    fn new() -> Rig {
        let poll = mio::Poll::new().unwrap();
        let waker = Arc::new(mio::Waker::new(poll.registry(), mio::Token(usize::MAX)).unwrap());
        let (producer, consumer) = channel(1024);
        let core = Core {
            producers: vec![producer],
            telemetry: crate::telemetry::TelemetryTx::disabled(),
            stats: EngineStats::default(),
            resolver: Resolver::new(waker),
            pollers: Vec::new(),
            paused_reads: Vec::new(),
            congestion_paused: false,
            drops_pending: false,
            yield_on_congestion: false,
            yield_backlog: 0,
            yield_stall_ns: 0,
            deadline: LoopDeadline::default(),
            attempts: 0,
        };
        let config = ConnectionConfig::new("ws://127.0.0.1:9/feed").unwrap();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let conn = Connection::new(
            ConnectionId(7),
            0,
            Prepared::new(config).unwrap(),
            Box::new(Recorder(seen.clone())),
            vec![0],
            ConnectionOptions::default(),
            false,
        );
        Rig {
            conn,
            core,
            poll,
            consumer,
            seen,
            now: 1_000_000,
        }
    }

    /// Starts the next attempt on a fresh script.
    fn attempt(&mut self) -> Shared {
        let script = Shared::default();
        NEXT.with(|n| n.borrow_mut().push_back(script.clone()));
        if self.conn.state() == State::Closed {
            self.conn
                .start(self.now, self.poll.registry(), &mut self.core);
        } else {
            // Backing off: the backoff timer starts it.
            self.now += 60_000_000_000;
            self.conn
                .fire_timers(self.now, self.poll.registry(), &mut self.core);
        }
        script
    }

    fn ready(&mut self) {
        self.now += 1_000;
        self.conn
            .on_ready(READY, self.now, self.poll.registry(), &mut self.core);
    }

    /// Readiness events until `script` has no reads left (a short read counts as draining
    /// the socket, as it does on TCP: the next byte needs the next event).
    fn ready_until_read(&mut self, script: &Shared) {
        let mut events = 0;
        while !script.borrow().reads.is_empty() {
            self.ready();
            events += 1;
            assert!(events < 100_000, "the script is never read");
            if matches!(self.conn.state(), State::Backoff | State::Closed) {
                return;
            }
        }
    }

    fn log(&self) -> Vec<String> {
        std::mem::take(&mut self.seen.lock().unwrap().log)
    }

    /// `(kind, reason)` of the statuses published since last asked.
    fn statuses(&mut self) -> Vec<(StatusKind, &'static str)> {
        std::iter::from_fn(|| self.consumer.pop())
            .filter_map(|e| e.as_status())
            .map(|s| {
                let reason = Reason::from_code(s.reason).map_or("?", Reason::name);
                (s.kind, reason)
            })
            .collect()
    }
}

/// The server's answer to the upgrade request in `written` (its key, RFC 6455 §4.2.2).
fn upgrade_response(written: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(written);
    let key = text
        .lines()
        .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
        .expect("a key in the request")
        .trim()
        .to_owned();
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\n\r\n"
    )
    .into_bytes()
}

/// An unmasked server text frame.
fn text_frame(payload: &str) -> Vec<u8> {
    let mut f = vec![0x81, payload.len() as u8];
    f.extend_from_slice(payload.as_bytes());
    f
}

/// The payloads of the masked client text frames in `bytes`.
fn client_texts(mut bytes: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    while bytes.len() >= 6 {
        assert_eq!(bytes[0], 0x81, "a final text frame");
        let len = usize::from(bytes[1] & 0x7f);
        assert!(bytes[1] & 0x80 != 0 && len < 126, "masked, short");
        let mask = &bytes[2..6];
        let payload: Vec<u8> = bytes[6..6 + len]
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ mask[i % 4])
            .collect();
        out.push(String::from_utf8(payload).unwrap());
        bytes = &bytes[6 + len..];
    }
    out
}

/// Takes the upgrade request out of `script`; returns it and what followed it.
fn take_request(script: &Shared) -> (Vec<u8>, Vec<u8>) {
    let written = std::mem::take(&mut script.borrow_mut().written);
    let end = written
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a whole request")
        + 4;
    (written[..end].to_vec(), written[end..].to_vec())
}

#[test]
fn the_upgrade_and_frames_come_through_one_byte_per_read_and_the_request_a_few_bytes_per_write() {
    let mut rig = Rig::new();
    let script = rig.attempt();
    assert_eq!(rig.conn.state(), State::Connecting);
    // The connect is still in flight once, then completes; writes take 7 bytes a turn.
    script.borrow_mut().connect.push_back(Ok(false));
    script.borrow_mut().write_budget = Some(7);
    rig.ready();
    assert_eq!(rig.conn.state(), State::Connecting);
    let mut turns = 0;
    loop {
        rig.ready();
        assert_eq!(rig.conn.state(), State::WsUpgrade);
        turns += 1;
        if script.borrow().written.ends_with(b"\r\n\r\n") {
            break;
        }
        assert!(turns < 1000, "the request never went out");
        script.borrow_mut().write_budget = Some(7);
    }
    let (request, _) = take_request(&script);
    assert!(
        turns > 10,
        "{turns} writable turns for {} bytes",
        request.len()
    );
    assert!(request.starts_with(b"GET /feed HTTP/1.1\r\n"));
    script.borrow_mut().write_budget = None;
    // The response, then two frames, each byte its own read.
    let mut wire = upgrade_response(&request);
    wire.extend(text_frame("hello"));
    wire.extend(text_frame("world"));
    script.borrow_mut().trickle(&wire);
    rig.ready_until_read(&script);
    assert_eq!(rig.conn.state(), State::Live);
    assert_eq!(rig.log(), ["connect", "hello", "world"]);
    assert_eq!(client_texts(&script.borrow().written), ["sub"]);
    assert_eq!(rig.statuses(), [(StatusKind::Connected, "none")]);
}

/// Brings an attempt to a live session; returns its script.
fn live(rig: &mut Rig) -> Shared {
    let script = rig.attempt();
    rig.ready(); // connected: the request goes out
    let (request, _) = take_request(&script);
    script
        .borrow_mut()
        .reads
        .push_back(Step::Data(upgrade_response(&request)));
    rig.ready();
    assert_eq!(rig.conn.state(), State::Live);
    script.borrow_mut().written.clear();
    script
}

#[test]
fn a_failure_at_each_step_is_named_and_the_connection_tries_again() {
    let mut rig = Rig::new();
    // The connect fails: no other address, the attempt fails.
    let script = rig.attempt();
    script
        .borrow_mut()
        .connect
        .push_back(Err(io::ErrorKind::ConnectionRefused.into()));
    rig.ready();
    assert_eq!(rig.conn.state(), State::Backoff);
    assert_eq!(rig.log(), ["error connect"]);
    assert_eq!(rig.statuses(), [(StatusKind::Reconnecting, "connect")]);

    // The server hangs up in the middle of the upgrade response.
    let script = rig.attempt();
    rig.ready();
    assert_eq!(rig.conn.state(), State::WsUpgrade);
    {
        let mut s = script.borrow_mut();
        s.trickle(b"HTTP/1.1 101 Swi");
        s.reads
            .push_back(Step::Fail(io::ErrorKind::ConnectionReset));
    }
    rig.ready_until_read(&script);
    assert_eq!(rig.conn.state(), State::Backoff);
    assert_eq!(rig.log(), ["error upgrade_closed"]);
    assert_eq!(
        rig.statuses(),
        [(StatusKind::Reconnecting, "upgrade_closed")]
    );

    // A live session: a frame, then EOF.
    let script = live(&mut rig);
    script.borrow_mut().trickle(&text_frame("last"));
    script.borrow_mut().reads.push_back(Step::Eof);
    rig.ready_until_read(&script);
    assert_eq!(rig.conn.state(), State::Backoff);
    assert_eq!(rig.log(), ["connect", "last", "disconnect io"]);
    assert_eq!(
        rig.statuses(),
        [
            (StatusKind::Connected, "none"),
            (StatusKind::Disconnected, "io"),
            (StatusKind::Reconnecting, "io")
        ]
    );

    // The venue closes the session: its code is echoed, then the connection reconnects.
    let script = live(&mut rig);
    let close = [0x88, 2, 0x03, 0xe9]; // 1001
    script
        .borrow_mut()
        .reads
        .push_back(Step::Data(close.to_vec()));
    rig.ready();
    assert_eq!(rig.conn.state(), State::Backoff);
    let written = script.borrow().written.clone();
    assert_eq!(written[0], 0x88, "a close frame went back");
    let code: Vec<u8> = written[6..8]
        .iter()
        .zip(&written[2..4])
        .map(|(b, m)| b ^ m)
        .collect();
    assert_eq!(code, [0x03, 0xe9], "with the venue's code");
    assert_eq!(rig.log(), ["connect", "disconnect peer_closed"]);
    assert_eq!(
        rig.statuses(),
        [
            (StatusKind::Connected, "none"),
            (StatusKind::Disconnected, "peer_closed"),
            (StatusKind::Reconnecting, "peer_closed")
        ]
    );
}

#[test]
fn a_masked_server_frame_fails_the_session_with_1002_and_what_follows_is_discarded() {
    let mut rig = Rig::new();
    let script = live(&mut rig);
    rig.statuses();
    rig.log();
    // RFC 6455 §5.1: a client closes on a masked frame from the server (1002).
    let mut wire = text_frame("fine");
    wire.extend([
        0x81,
        0x84,
        1,
        2,
        3,
        4,
        b'b' ^ 1,
        b'a' ^ 2,
        b'd' ^ 3,
        b'!' ^ 4,
    ]);
    wire.extend(text_frame("after"));
    script.borrow_mut().reads.push_back(Step::Data(wire));
    rig.ready();
    assert_eq!(rig.conn.state(), State::Closing);
    let written = script.borrow().written.clone();
    assert_eq!(written[0], 0x88, "a close frame");
    let code: Vec<u8> = written[6..8]
        .iter()
        .zip(&written[2..4])
        .map(|(b, m)| b ^ m)
        .collect();
    assert_eq!(code, [0x03, 0xea], "1002");
    // Whatever the peer sends now is discarded (the decoder cannot be trusted), its close
    // frame too; its end of the stream ends the session. "after" was never delivered.
    script
        .borrow_mut()
        .reads
        .push_back(Step::Data(vec![0x88, 2, 0x03, 0xea]));
    rig.ready();
    assert_eq!(rig.conn.state(), State::Closing);
    script.borrow_mut().reads.push_back(Step::Eof);
    rig.ready();
    assert_eq!(rig.conn.state(), State::Backoff);
    let log = rig.log();
    assert_eq!(log[0], "fine");
    assert!(log[1].starts_with("error "), "{log:?}");
    assert!(log[2].starts_with("disconnect "), "{log:?}");
    assert_eq!(log.len(), 3, "{log:?}");
    let statuses = rig.statuses();
    assert_eq!(statuses.len(), 2, "{statuses:?}");
    assert_eq!(statuses[0].0, StatusKind::Disconnected);
    assert_eq!(statuses[1].0, StatusKind::Reconnecting);
}
