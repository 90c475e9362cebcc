//! Two physical connections ("legs") behind one handler: `Context::open_leg` opens a second
//! one to the same endpoint, callbacks say which leg they are for, `close_leg` closes one and
//! leaves the other (which becomes primary: it takes `send` commands and speaks in-band), a
//! standby leg that drops or is dropped is reported through `on_leg_closed`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tickwire_engine::config::{ConnectionConfig, EngineConfig};
use tickwire_engine::decimal::Decimal;
use tickwire_engine::engine::Engine;
use tickwire_engine::event::{Event, Side, StatusKind, Trade};
use tickwire_engine::handler::{Context, Leg, Message, Reconnect, WsHandler};
use tickwire_engine::instrument::InstrumentId;
use tickwire_engine::reason::Reason;
use tickwire_engine::ring::Consumer;
use tickwire_tests::server::{Peer, TestServer};
use tickwire_tests::test_options;

/// What the handler saw.
#[derive(Default)]
struct Seen {
    /// (leg of the callback, payload) per message.
    messages: Vec<(Leg, String)>,
    connects: Vec<Leg>,
    disconnects: Vec<(Leg, Reason)>,
    /// (closed leg, reason, leg of the callback).
    legs_closed: Vec<(Leg, Reason, Leg)>,
    opened: Vec<Leg>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Plan {
    /// Leg 1 takes over: after 20 messages on leg 1, close leg 0.
    Switch,
    /// Keep both; leg 1 does not reconnect when it drops.
    Standby,
    /// Keep both; leg 0 does not reconnect when it drops (leg 1 becomes primary).
    Fallback,
}

struct LegHandler {
    seen: Arc<Mutex<Seen>>,
    plan: Plan,
    opened: bool,
    closed_old: bool,
}

impl WsHandler for LegHandler {
    fn on_connect(&mut self, cx: &mut Context<'_>) {
        let mut s = self.seen.lock().unwrap();
        s.connects.push(cx.leg());
        if cx.leg() == Leg(0) && !self.opened {
            self.opened = true;
            let leg = cx.open_leg();
            // Asking twice in one callback names the same leg.
            assert_eq!(cx.open_leg(), leg);
            s.opened.push(leg);
        }
    }

    fn on_message(&mut self, msg: Message<'_>, cx: &mut Context<'_>) {
        let text = String::from_utf8_lossy(msg.payload()).into_owned();
        let mut s = self.seen.lock().unwrap();
        s.messages.push((cx.leg(), text));
        let trade = Trade {
            price: Decimal::from_parts(1, 0),
            qty: Decimal::from_parts(1, 0),
            side: Side::Buy,
            id: u64::from(cx.leg().0),
        };
        cx.publish(Event::trade(InstrumentId(0), trade, 0, cx.now()).unwrap());
        let on_new = s.messages.iter().filter(|(l, _)| *l == Leg(1)).count();
        if self.plan == Plan::Switch && cx.leg() == Leg(1) && on_new >= 20 && !self.closed_old {
            self.closed_old = true;
            cx.close_leg(Leg(0));
        }
    }

    fn on_disconnect(&mut self, reason: Reason, cx: &mut Context<'_>) -> Reconnect {
        self.seen
            .lock()
            .unwrap()
            .disconnects
            .push((cx.leg(), reason));
        match (self.plan, cx.leg()) {
            (Plan::Standby, Leg(1)) | (Plan::Fallback, Leg(0)) => Reconnect::No,
            _ => Reconnect::Yes,
        }
    }

    fn on_leg_closed(&mut self, leg: Leg, reason: Reason, cx: &mut Context<'_>) {
        self.seen
            .lock()
            .unwrap()
            .legs_closed
            .push((leg, reason, cx.leg()));
    }
}

/// Each connection sends `c<index>:<n>` every millisecond until the client closes; peer
/// `drop.0` (if any) closes with 1001 after `drop.1` messages instead.
fn server(drop: Option<(usize, u64)>) -> TestServer {
    TestServer::plain(move |peer: &mut Peer| {
        let i = peer.index();
        for n in 0.. {
            if drop == Some((i, n)) {
                let _ = peer.send_close(1001);
                peer.serve(true, Duration::from_secs(2));
                return;
            }
            if peer.send_text(&format!("c{i}:{n}")).is_err() {
                return;
            }
            if let Some(f) = peer.read_frame(Duration::from_millis(1)) {
                if f.opcode == 8 {
                    let _ = peer.send_frame(8, true, &f.payload);
                    // Wait for the client's EOF so the record sees the end.
                    peer.serve(true, Duration::from_secs(2));
                    return;
                }
            }
        }
    })
}

fn wait(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn drain(consumer: &mut Consumer, out: &mut Vec<Event>) {
    while let Some(e) = consumer.pop() {
        out.push(e);
    }
}

fn statuses(events: &[Event], kind: StatusKind) -> usize {
    events
        .iter()
        .filter_map(Event::as_status)
        .filter(|s| s.kind == kind)
        .count()
}

fn count(seen: &Mutex<Seen>, leg: Leg) -> usize {
    let s = seen.lock().unwrap();
    s.messages.iter().filter(|(l, _)| *l == leg).count()
}

struct Setup {
    engine: Engine,
    conn: tickwire_engine::handler::ConnectionId,
    consumer: Consumer,
    seen: Arc<Mutex<Seen>>,
}

fn start(server: &TestServer, plan: Plan) -> Setup {
    let mut b = Engine::builder(EngineConfig::default());
    let (cid, consumer) = b.consumer(1 << 16);
    let engine = b.start().unwrap();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let handler = LegHandler {
        seen: seen.clone(),
        plan,
        opened: false,
        closed_old: false,
    };
    let cfg = ConnectionConfig::new(&server.ws_url("/"))
        .unwrap()
        .options(test_options());
    let conn = engine
        .handle()
        .add_connection(cfg, Box::new(handler), &[cid])
        .unwrap();
    Setup {
        engine,
        conn,
        consumer,
        seen,
    }
}

/// Every message reached the handler tagged with the leg of the socket it came on.
fn assert_legs_match_sockets(seen: &Mutex<Seen>) {
    let s = seen.lock().unwrap();
    for (leg, text) in &s.messages {
        let want = format!("c{}:", leg.0);
        assert!(text.starts_with(&want), "{text} arrived on {leg:?}");
    }
}

#[test]
fn two_legs_deliver_with_their_leg_and_closing_one_leaves_the_other() {
    let server = server(None);
    let mut t = start(&server, Plan::Switch);
    let seen = t.seen.clone();
    // Both legs deliver, each tagged with its own leg.
    wait("messages on both legs", Duration::from_secs(10), || {
        count(&seen, Leg(0)) > 0 && count(&seen, Leg(1)) >= 20
    });
    // The switch closed leg 0 with 1000; leg 1 goes on alone.
    server.wait_for(Duration::from_secs(10), "close of leg 0", |r| {
        r.frames
            .iter()
            .any(|f| f.conn == 0 && f.close_code() == Some(1000))
    });
    wait("leg 0 reported closed", Duration::from_secs(10), || {
        !seen.lock().unwrap().legs_closed.is_empty()
    });
    let after = count(&seen, Leg(1));
    let leg0_at_close = count(&seen, Leg(0));
    wait("leg 1 keeps going", Duration::from_secs(10), || {
        count(&seen, Leg(1)) >= after + 100
    });
    assert_eq!(
        count(&seen, Leg(0)),
        leg0_at_close,
        "leg 0 delivered after it closed"
    );
    assert_legs_match_sockets(&seen);
    {
        let s = seen.lock().unwrap();
        assert_eq!(s.opened, vec![Leg(1)]);
        assert_eq!(s.connects, vec![Leg(0), Leg(1)]);
        // Reported on the remaining (now primary) leg.
        assert_eq!(s.legs_closed, vec![(Leg(0), Reason::Shutdown, Leg(1))]);
        assert_eq!(s.disconnects, vec![(Leg(0), Reason::Shutdown)]);
    }
    // The closed leg is not reconnected.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(server.accepted(), 2);
    // Commands for the connection reach the remaining leg.
    t.engine.handle().send_text(t.conn, "to-primary").unwrap();
    server.wait_for(Duration::from_secs(10), "send on leg 1", |r| {
        r.frames
            .iter()
            .any(|f| f.conn == 1 && f.opcode == 1 && f.payload == b"to-primary")
    });
    let mut events = Vec::new();
    drain(&mut t.consumer, &mut events);
    // In-band: one Connected (leg 0); the standby's connect and leg 0's close are silent.
    assert_eq!(statuses(&events, StatusKind::Connected), 1);
    assert_eq!(statuses(&events, StatusKind::Disconnected), 0);
    // Both legs' publications reach the consumer (trade id = leg).
    let trades: Vec<u64> = events
        .iter()
        .filter_map(Event::as_trade)
        .map(|t| t.id)
        .collect();
    assert!(trades.contains(&0) && trades.contains(&1));
    t.engine.handle().remove(t.conn).unwrap();
    let stats = t.engine.join().unwrap();
    assert_eq!(stats.unknown_connection, 0);
}

#[test]
fn a_standby_leg_that_drops_is_reported_and_the_primary_keeps_running() {
    let server = server(Some((1, 30)));
    let t = start(&server, Plan::Standby);
    let seen = t.seen.clone();
    wait("leg 1 reported closed", Duration::from_secs(10), || {
        !seen.lock().unwrap().legs_closed.is_empty()
    });
    let before = count(&seen, Leg(0));
    wait("leg 0 keeps going", Duration::from_secs(10), || {
        count(&seen, Leg(0)) >= before + 100
    });
    {
        let s = seen.lock().unwrap();
        assert_eq!(s.legs_closed, vec![(Leg(1), Reason::PeerClosed, Leg(0))]);
        assert_eq!(s.disconnects, vec![(Leg(1), Reason::PeerClosed)]);
        assert_eq!(count_leg_msgs(&s, Leg(1)), 30);
    }
    assert_legs_match_sockets(&seen);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(server.accepted(), 2, "the dropped standby was reconnected");
    let mut consumer = t.consumer;
    let mut events = Vec::new();
    drain(&mut consumer, &mut events);
    assert_eq!(statuses(&events, StatusKind::Connected), 1);
    assert_eq!(statuses(&events, StatusKind::Disconnected), 0);
    assert_eq!(statuses(&events, StatusKind::Reconnecting), 0);
    t.engine.join().unwrap();
}

fn count_leg_msgs(s: &Seen, leg: Leg) -> usize {
    s.messages.iter().filter(|(l, _)| *l == leg).count()
}

#[test]
fn when_the_primary_drops_for_good_the_other_leg_becomes_primary() {
    let server = server(Some((0, 300)));
    let t = start(&server, Plan::Fallback);
    let seen = t.seen.clone();
    wait("leg 0 reported closed", Duration::from_secs(10), || {
        !seen.lock().unwrap().legs_closed.is_empty()
    });
    let before = count(&seen, Leg(1));
    wait("leg 1 keeps going", Duration::from_secs(10), || {
        count(&seen, Leg(1)) >= before + 100
    });
    {
        let s = seen.lock().unwrap();
        assert_eq!(s.legs_closed, vec![(Leg(0), Reason::PeerClosed, Leg(1))]);
    }
    assert_legs_match_sockets(&seen);
    t.engine
        .handle()
        .send_text(t.conn, "to-new-primary")
        .unwrap();
    server.wait_for(Duration::from_secs(10), "send on leg 1", |r| {
        r.frames
            .iter()
            .any(|f| f.conn == 1 && f.opcode == 1 && f.payload == b"to-new-primary")
    });
    let mut consumer = t.consumer;
    let mut events = Vec::new();
    drain(&mut consumer, &mut events);
    // Leg 0 was primary when it went down: its Disconnected is in-band, once.
    assert_eq!(statuses(&events, StatusKind::Connected), 1);
    assert_eq!(statuses(&events, StatusKind::Disconnected), 1);
    t.engine.join().unwrap();
}
