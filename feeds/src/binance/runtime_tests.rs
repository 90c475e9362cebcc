//! Run-time subscriptions on one Binance feed handler, driven without a network: topic
//! validation (issue 19 item 4), what each connect requests (item 2), muted URL streams,
//! books of depth channels subscribed and unsubscribed at run time (issue 9, item 7).

use tickwire_engine::adapter::{
    BookSnapshot, FeedConfig, FeedHandler, QueuedSnapshots, StreamKind,
};
use tickwire_engine::event::{EventKind, Flags, StatusKind};
use tickwire_engine::handler::{
    Actions, ConnectionId, Context, Message, Outbox, Publisher, WsHandler,
};
use tickwire_engine::ring::{Consumer, channel};
use tickwire_engine::{Decimal, Event, FeedAdapter, InstrumentId, Reason, Registry};

use super::*;

/// The topic of issue 19 item 4: on the old code it became a frame with a second `method`.
const INJECTION: &str = r#"btc"],"method":"LIST_SUBSCRIPTIONS","x":["@trade"#;

struct Rig {
    outbox: Outbox,
    publisher: Publisher,
    actions: Actions,
    consumer: Consumer,
}

impl Rig {
    fn new() -> Rig {
        let (p, c) = channel(1 << 12);
        Rig {
            outbox: Outbox::new(1 << 20),
            publisher: Publisher::new(vec![p]),
            actions: Actions::default(),
            consumer: c,
        }
    }

    /// A context at `now` seconds (beyond the venue's pacing between steps).
    fn cx(&mut self, now: u64) -> Context<'_> {
        Context::new(
            now * 1_000_000_000,
            ConnectionId(7),
            &mut self.outbox,
            &mut self.publisher,
            &mut self.actions,
        )
    }

    fn message<H: WsHandler>(&mut self, h: &mut H, now: u64, text: &str) {
        let mut buf = text.as_bytes().to_vec();
        h.on_message(Message::Text(&mut buf), &mut self.cx(now));
        h.on_poll(&mut self.cx(now));
    }

    fn drain(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.consumer.pop()).collect()
    }

    /// Text payloads of the client frames queued since the last call (unmasked).
    fn take_sent(&mut self) -> Vec<String> {
        let b = self.outbox.bytes().to_vec();
        let mut i = 0;
        let mut v = Vec::new();
        while i < b.len() {
            let mut len = (b[i + 1] & 0x7f) as usize;
            let mut at = i + 2;
            if len == 126 {
                len = u16::from_be_bytes([b[at], b[at + 1]]) as usize;
                at += 2;
            }
            let mask = [b[at], b[at + 1], b[at + 2], b[at + 3]];
            at += 4;
            let p: Vec<u8> = b[at..at + len]
                .iter()
                .enumerate()
                .map(|(j, x)| x ^ mask[j & 3])
                .collect();
            v.push(String::from_utf8(p).unwrap());
            i = at + len;
        }
        // A fresh outbox: the next call sees only what was queued after this one.
        self.outbox = Outbox::new(1 << 20);
        v
    }
}

fn statuses(ev: &[Event]) -> Vec<(StatusKind, Option<Reason>, InstrumentId)> {
    ev.iter()
        .filter_map(|e| {
            let s = e.as_status()?;
            Some((s.kind, Reason::from_code(s.reason), e.instrument))
        })
        .collect()
}

fn trade(symbol: &str, id: u64) -> String {
    let stream = symbol.to_ascii_lowercase();
    format!(
        r#"{{"stream":"{stream}@trade","data":{{"e":"trade","E":1,"s":"{symbol}","t":{id},"p":"10.0","q":"1.0","T":1,"m":false,"M":true}}}}"#
    )
}

fn diff(symbol: &str, first: u64, last: u64, bid: (&str, &str)) -> String {
    let stream = symbol.to_ascii_lowercase();
    format!(
        r#"{{"stream":"{stream}@depth@100ms","data":{{"e":"depthUpdate","E":1,"s":"{symbol}","U":{first},"u":{last},"b":[["{}","{}"]],"a":[]}}}}"#,
        bid.0, bid.1
    )
}

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn trades_of(ev: &[Event], i: InstrumentId) -> usize {
    ev.iter()
        .filter(|e| e.kind() == EventKind::Trade && e.instrument == i)
        .count()
}

fn handler(
    via: SubscribeVia,
    subs: &[Subscription],
) -> (FeedHandler<BinanceAdapter>, Registry, QueuedSnapshots) {
    let reg = Registry::new();
    let mut config = BinanceConfig::spot();
    config.subscribe_via = via;
    let a = BinanceAdapter::new(config, subs, &reg).unwrap();
    let snaps = QueuedSnapshots::new();
    let feeder = snaps.feeder();
    (
        FeedHandler::new(a, Box::new(snaps), FeedConfig::default()),
        reg,
        feeder,
    )
}

fn topics(t: &[&str]) -> Vec<String> {
    t.iter().map(|s| s.to_string()).collect()
}

/// Item 4: a topic outside Binance's alphabet is refused in-band before any frame is built
/// and before anything is interned; valid ones go out as well-formed JSON.
#[test]
fn injected_topics_send_nothing_and_intern_nothing() {
    let btc = Subscription::new("BTCUSDT", Channel::Trade);
    let (mut h, reg, _) = handler(SubscribeVia::Frames, &[btc]);
    let mut r = Rig::new();
    h.on_connect(&mut r.cx(0));
    let _ = r.take_sent();
    let names = reg.len();
    h.on_subscribe(&topics(&[INJECTION, "ethusdt@trade"]), &mut r.cx(1));
    let sent = r.take_sent();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(
        sent[0], r#"{"method":"SUBSCRIBE","params":["ethusdt@trade"],"id":2}"#,
        "only the valid topic, one method key"
    );
    assert!(!sent[0].contains("LIST_SUBSCRIPTIONS"));
    assert_eq!(reg.len(), names + 1, "only ETHUSDT was interned");
    assert!(reg.lookup("binance", "ETHUSDT").is_some());
    let st = statuses(&r.drain());
    assert_eq!(
        st,
        vec![(
            StatusKind::SubscriptionError,
            Some(Reason::Schema),
            InstrumentId::NONE
        )]
    );
    // Through the adapter directly (no topic parsing): an invalid symbol is skipped.
    let mut frames = Vec::new();
    let bad = Subscription::new("BTC\"],\"method\":\"X", Channel::Trade);
    h.adapter_mut().subscribe(&[bad], &mut frames);
    assert!(frames.is_empty());
    assert_eq!(reg.len(), names + 1);
    // Unsubscribing it is refused in-band the same way and sends nothing.
    h.on_unsubscribe(&topics(&[INJECTION]), &mut r.cx(2));
    assert!(r.take_sent().is_empty());
}

/// Item 2: with the default `SubscribeVia::Url` the engine reconnects with the URL built at
/// the start, so every connect requests what was subscribed since and cancels what was
/// unsubscribed since; with frames, every connect requests the current set.
#[test]
fn every_connect_restores_the_current_set() {
    let btc = Subscription::new("BTCUSDT", Channel::Trade);
    let bnb = Subscription::new("BNBUSDT", Channel::Trade);
    let (mut h, _, _) = handler(SubscribeVia::Url, &[btc.clone(), bnb.clone()]);
    let url = h.adapter().endpoint().url;
    assert_eq!(
        url,
        "wss://stream.binance.com:9443/stream?streams=btcusdt@trade/bnbusdt@trade"
    );
    let mut r = Rig::new();
    h.on_connect(&mut r.cx(0));
    assert!(r.take_sent().is_empty(), "the URL carries the set");
    h.on_subscribe(&topics(&["ethusdt@trade"]), &mut r.cx(1));
    h.on_unsubscribe(&topics(&["bnbusdt@trade"]), &mut r.cx(2));
    assert_eq!(r.take_sent().len(), 2);
    // The connection drops and comes back with the same URL.
    let _ = h.on_disconnect(Reason::Io, &mut r.cx(3));
    assert_eq!(h.adapter().endpoint().url, url, "the URL the engine holds");
    h.on_connect(&mut r.cx(4));
    let mut sent = r.take_sent();
    h.on_timer(&mut r.cx(5));
    sent.extend(r.take_sent());
    assert_eq!(
        sent,
        vec![
            r#"{"method":"UNSUBSCRIBE","params":["bnbusdt@trade"],"id":3}"#.to_string(),
            r#"{"method":"SUBSCRIBE","params":["ethusdt@trade"],"id":4}"#.to_string(),
        ]
    );
    // Frames: the whole current set, whatever was asked before.
    let (mut h, _, _) = handler(SubscribeVia::Frames, &[btc, bnb]);
    h.on_connect(&mut r.cx(0));
    let _ = r.take_sent();
    h.on_subscribe(&topics(&["ethusdt@trade"]), &mut r.cx(1));
    h.on_unsubscribe(&topics(&["bnbusdt@trade"]), &mut r.cx(2));
    let _ = h.on_disconnect(Reason::Io, &mut r.cx(3));
    let _ = r.take_sent();
    h.on_connect(&mut r.cx(4));
    assert_eq!(
        r.take_sent(),
        vec![r#"{"method":"SUBSCRIBE","params":["btcusdt@trade","ethusdt@trade"],"id":4}"#]
    );
}

/// Item 7: a subscribe made before the first connect is requested by that connect.
#[test]
fn a_subscribe_before_the_first_connect_is_kept() {
    let btc = Subscription::new("BTCUSDT", Channel::Trade);
    let (mut h, _, _) = handler(SubscribeVia::Url, &[btc]);
    let mut r = Rig::new();
    // Not connected yet: the engine refuses every frame (an outbox with no room stands in).
    r.outbox = Outbox::new(0);
    h.on_subscribe(&topics(&["ethusdt@trade"]), &mut r.cx(1));
    r.outbox = Outbox::new(1 << 20);
    h.on_connect(&mut r.cx(2));
    assert_eq!(
        r.take_sent(),
        vec![r#"{"method":"SUBSCRIBE","params":["ethusdt@trade"],"id":2}"#]
    );
}

/// Item 2: a stream the URL still names after it was unsubscribed yields no events (the
/// venue sends it from each reconnect until the UNSUBSCRIBE is processed).
#[test]
fn unsubscribed_url_streams_are_muted() {
    let subs = Subscription::product(&["BTCUSDT", "BNBUSDT"], &[Channel::Trade]);
    let (mut h, reg, _) = handler(SubscribeVia::Url, &subs);
    let btc = reg.lookup("binance", "BTCUSDT").unwrap();
    let bnb = reg.lookup("binance", "BNBUSDT").unwrap();
    let mut r = Rig::new();
    h.on_connect(&mut r.cx(0));
    r.message(&mut h, 1, &trade("BNBUSDT", 1));
    assert_eq!(trades_of(&r.drain(), bnb), 1);
    h.on_unsubscribe(&topics(&["bnbusdt@trade"]), &mut r.cx(2));
    let _ = h.on_disconnect(Reason::Io, &mut r.cx(3));
    h.on_connect(&mut r.cx(4));
    r.message(&mut h, 5, &trade("BNBUSDT", 2));
    r.message(&mut h, 6, &trade("BTCUSDT", 3));
    let ev = r.drain();
    assert_eq!(trades_of(&ev, bnb), 0, "unsubscribed: muted");
    assert_eq!(trades_of(&ev, btc), 1);
    // Subscribed again: it flows again.
    h.on_subscribe(&topics(&["bnbusdt@trade"]), &mut r.cx(7));
    r.message(&mut h, 8, &trade("BNBUSDT", 4));
    assert_eq!(trades_of(&r.drain(), bnb), 1);
}

fn snapshot(instrument: InstrumentId, last_id: u64, bid: (&str, &str)) -> BookSnapshot {
    BookSnapshot {
        instrument,
        last_id,
        exchange_ts: 0,
        bids: vec![(d(bid.0), d(bid.1))],
        asks: vec![(d("20.0"), d("1"))],
    }
}

/// Issue 9: a depth channel subscribed at run time is synced (snapshot, diffs checked and
/// applied); item 7: unsubscribing it tells consumers (`Resync`, reason `Unsubscribed`)
/// and stops tracking it.
#[test]
fn a_depth_channel_subscribed_at_run_time_gets_its_book_until_unsubscribed() {
    use tickwire_engine::book::{Book, BookConfig};
    let btc_trade = Subscription::new("BTCUSDT", Channel::Trade);
    let (mut h, reg, feeder) = handler(SubscribeVia::Url, &[btc_trade]);
    let mut r = Rig::new();
    h.on_connect(&mut r.cx(0));
    h.on_subscribe(&topics(&["ethusdt@depth@100ms"]), &mut r.cx(1));
    let eth = reg.lookup("binance", "ETHUSDT").unwrap();
    r.message(&mut h, 2, &diff("ETHUSDT", 90, 99, ("10.0", "1")));
    assert_eq!(feeder.requests(), 1, "the first diff asks for a snapshot");
    assert_eq!(h.stats().untracked_diffs, 0);
    feeder.push(snapshot(eth, 100, ("10.0", "5")));
    r.message(&mut h, 3, &diff("ETHUSDT", 101, 102, ("10.1", "2")));
    assert!(h.in_sync(eth));
    let mut book = Book::new(BookConfig::default());
    for e in r.drain() {
        if e.instrument == eth {
            book.apply_event(&e).unwrap();
        }
    }
    assert!(book.is_valid());
    assert_eq!(book.best_bid().unwrap(), (d("10.1"), d("2")));
    assert_eq!(book.best_ask().unwrap(), (d("20.0"), d("1")));
    // Unsubscribed: one Resync(Unsubscribed) for ETHUSDT; the consumer's book goes
    // invalid; later diffs are not tracked.
    h.on_unsubscribe(&topics(&["ethusdt@depth@100ms"]), &mut r.cx(4));
    let ev = r.drain();
    assert_eq!(
        statuses(&ev),
        vec![(StatusKind::Resync, Some(Reason::Unsubscribed), eth)]
    );
    for e in &ev {
        book.apply_event(e).unwrap();
    }
    assert!(!book.is_valid());
    assert!(!h.in_sync(eth));
    assert!(h.book(eth).is_none());
    r.message(&mut h, 5, &diff("ETHUSDT", 103, 103, ("10.2", "1")));
    assert!(r.drain().iter().all(|e| e.kind() != EventKind::BookLevel));
    // Subscribed again: the slot is reused and synced from a fresh snapshot.
    h.on_subscribe(&topics(&["ethusdt@depth@100ms"]), &mut r.cx(6));
    r.message(&mut h, 7, &diff("ETHUSDT", 104, 105, ("10.3", "1")));
    feeder.push(snapshot(eth, 104, ("10.0", "5")));
    h.on_poll(&mut r.cx(8));
    let ev = r.drain();
    assert!(
        ev.iter()
            .any(|e| e.flags.contains(Flags::SNAPSHOT.with(Flags::LAST_IN_BATCH)))
    );
    assert!(h.in_sync(eth));
}

/// A USD-M routed connection carries one route: a topic of the other route is refused
/// (it would never arrive on this connection).
#[test]
fn usdm_routed_topics_must_match_the_connections_route() {
    let reg = Registry::new();
    let depth = Subscription::new("BTCUSDT", Channel::Depth(DepthSpeed::Ms100));
    let a = BinanceAdapter::new(BinanceConfig::usdm(), &[depth], &reg).unwrap();
    assert!(a.parse_topic("ethusdt@bookTicker").is_some(), "/public");
    assert!(a.parse_topic("ethusdt@depth@0ms").is_some(), "/public");
    assert!(a.parse_topic("ethusdt@trade").is_none(), "/market");
    let spot = BinanceAdapter::new(
        BinanceConfig::spot(),
        &[Subscription::new("BTCUSDT", Channel::Trade)],
        &reg,
    )
    .unwrap();
    assert!(
        spot.parse_topic("ethusdt@depth").is_some(),
        "spot has no routes"
    );
}

/// Issue 17, the feed handler with the Binance adapter on virtual time: BTCUSDT trades and
/// depth@100ms warm up, then the depth stream alone goes silent: the timer (armed for the
/// earliest deadline) reports it `Stale` at the venue floor of 1 s and resyncs the book;
/// trades keep the connection. Then the trades stop too: the connection is recycled at once.
/// A diff that comes back reports `Resumed`.
#[test]
fn a_silent_depth_stream_is_stale_at_its_floor_and_a_silent_connection_is_recycled() {
    const MS: u64 = 1_000_000;
    let subs = [
        Subscription::new("BTCUSDT", Channel::Trade),
        Subscription::new("BTCUSDT", Channel::Depth(DepthSpeed::Ms100)),
    ];
    let (mut h, reg, feeder) = handler(SubscribeVia::Url, &subs);
    let btc = reg.lookup("binance", "BTCUSDT").unwrap();
    let mut rig = Rig::new();
    h.on_connect(&mut Context::new(
        MS,
        ConnectionId(7),
        &mut rig.outbox,
        &mut rig.publisher,
        &mut rig.actions,
    ));
    feeder.push(snapshot(btc, 100, ("10.0", "1.0")));
    let send = |h: &mut FeedHandler<BinanceAdapter>, rig: &mut Rig, ns: u64, text: &str| {
        let mut buf = text.as_bytes().to_vec();
        rig.actions = Actions::default();
        let mut cx = Context::new(
            ns,
            ConnectionId(7),
            &mut rig.outbox,
            &mut rig.publisher,
            &mut rig.actions,
        );
        h.on_message(Message::Text(&mut buf), &mut cx);
        h.on_poll(&mut cx);
        rig.actions.timer()
    };
    // Runs the handler timer at every deadline up to `until`; returns the recycle, if any.
    let run_timer =
        |h: &mut FeedHandler<BinanceAdapter>, rig: &mut Rig, mut timer: Option<u64>, until: u64| {
            while let Some(t) = timer.filter(|&t| t <= until) {
                rig.actions = Actions::default();
                let mut cx = Context::new(
                    t,
                    ConnectionId(7),
                    &mut rig.outbox,
                    &mut rig.publisher,
                    &mut rig.actions,
                );
                h.on_timer(&mut cx);
                if let Some(r) = rig.actions.recycles() {
                    return (timer, Some((t, r)));
                }
                timer = rig.actions.timer();
            }
            (timer, None)
        };
    // 10 s: a diff every 100 ms, a trade every 50 ms.
    let mut timer = None;
    let mut id = 100;
    let mut trade_id = 1;
    for step in 1..=200u64 {
        let now = step * 50 * MS;
        let (t, _) = run_timer(&mut h, &mut rig, timer, now);
        timer = t;
        let armed = if step % 2 == 0 {
            id += 1;
            send(
                &mut h,
                &mut rig,
                now,
                &diff("BTCUSDT", id, id, ("10.0", "2.0")),
            )
        } else {
            trade_id += 1;
            send(&mut h, &mut rig, now, &trade("BTCUSDT", trade_id))
        };
        timer = armed.or(timer);
    }
    assert!(h.in_sync(btc));
    let ev = rig.drain();
    assert!(
        !statuses(&ev).iter().any(|s| s.0 == StatusKind::Stale),
        "{:?}",
        statuses(&ev)
    );
    // The depth stream stops at 10 s; trades go on for 3 s.
    let last_diff = 200 * 50 * MS;
    for step in 201..=260u64 {
        let now = step * 50 * MS;
        let (t, r) = run_timer(&mut h, &mut rig, timer, now);
        assert_eq!(r, None);
        timer = t;
        trade_id += 1;
        timer = send(&mut h, &mut rig, now, &trade("BTCUSDT", trade_id)).or(timer);
    }
    let ev = rig.drain();
    let stale: Vec<&Event> = ev
        .iter()
        .filter(|e| e.as_status().is_some_and(|s| s.kind == StatusKind::Stale))
        .collect();
    assert_eq!(stale.len(), 1, "{:?}", statuses(&ev));
    let s = stale[0].as_status().unwrap();
    assert_eq!(stale[0].instrument, btc);
    assert_eq!(
        StreamKind::from_status_value(s.value),
        Some(StreamKind::Book)
    );
    // depth@100ms: stale at the documented floor of 1 s (its own gaps are 100 ms).
    assert_eq!(stale[0].recv_ts - last_diff, 1_000 * MS);
    assert!(statuses(&ev).contains(&(StatusKind::Resync, Some(Reason::Stale), btc)));
    assert!(!h.in_sync(btc));
    // Trades stop at 13 s: the connection is recycled once they too are stale.
    let last_trade = 260 * 50 * MS;
    let (_, r) = run_timer(&mut h, &mut rig, timer, last_trade + 5_000 * MS);
    let (when, reason) = r.expect("recycled");
    assert_eq!(reason, Reason::Stale);
    assert_eq!(
        when - last_trade,
        1_000 * MS,
        "trades: event-driven, floor 1 s"
    );
    // A diff comes back: `Resumed`, and the book buffers for a snapshot again.
    let ev = rig.drain();
    assert!(statuses(&ev).contains(&(StatusKind::Stale, Some(Reason::Stale), InstrumentId::NONE)));
    send(
        &mut h,
        &mut rig,
        when + 100 * MS,
        &diff("BTCUSDT", id + 1, id + 1, ("10.0", "3.0")),
    );
    let ev = rig.drain();
    assert!(
        statuses(&ev).contains(&(StatusKind::Resumed, Some(Reason::None), btc)),
        "{:?}",
        statuses(&ev)
    );
    assert!(h.stats().stale_streams >= 2 && h.stats().stale_recycles == 1);
}
