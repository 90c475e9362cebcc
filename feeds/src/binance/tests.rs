//! Fixtures written from the documented formats (venues.md §1–2, Binance docs).

use tickwire_engine::adapter::{
    BookSnapshot, DecodeStats, DiffIds, FeedAdapter, FeedConfig, FeedHandler, Frame,
    QueuedSnapshots, SeqCheck,
};
use tickwire_engine::event::{EventKind, Flags, Side, StatusKind};
use tickwire_engine::handler::{
    Actions, ConnectionId, Context, Message, Outbox, Publisher, WsHandler,
};
use tickwire_engine::ring::{Consumer, channel};
use tickwire_engine::{Decimal, Event, InstrumentId, Reason, Registry};

use super::*;

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn adapter(config: BinanceConfig, subs: &[Subscription]) -> (BinanceAdapter, Registry) {
    let reg = Registry::new();
    (BinanceAdapter::new(config, subs, &reg).unwrap(), reg)
}

fn spot_all() -> (BinanceAdapter, Registry) {
    adapter(
        BinanceConfig::spot(),
        &Subscription::product(
            &["BTCUSDT"],
            &[
                Channel::Trade,
                Channel::AggTrade,
                Channel::BookTicker,
                Channel::Depth(DepthSpeed::Ms100),
            ],
        ),
    )
}

fn decode(
    a: &mut BinanceAdapter,
    text: &str,
) -> (
    Result<Frame, tickwire_engine::adapter::DecodeError>,
    Vec<Event>,
) {
    let mut buf = text.as_bytes().to_vec();
    let mut out = Vec::new();
    let r = a.decode(&mut buf, 42, &mut out);
    (r, out)
}

const SPOT_DEPTH: &str = r#"{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1723161255308,"s":"BTCUSDT","U":50093239203,"u":50093239207,"b":[["55653.87000000","0.00000000"]],"a":[["61838.04000000","0.32332000"],["61862.51000000","0.00000000"]]}}"#;

#[test]
fn spot_depth_diff_decodes_exactly() {
    let (mut a, reg) = spot_all();
    let btc = reg.lookup("binance", "BTCUSDT").unwrap();
    let (r, ev) = decode(&mut a, SPOT_DEPTH);
    assert_eq!(
        r.unwrap(),
        Frame::BookDiff {
            instrument: btc,
            ids: DiffIds {
                first: 50093239203,
                last: 50093239207,
                prev: None
            },
            checksum: None,
        }
    );
    assert_eq!(ev.len(), 3);
    let l: Vec<_> = ev.iter().map(|e| e.as_level().unwrap()).collect();
    assert_eq!(
        (l[0].side, l[0].price.to_string(), l[0].qty.to_string()),
        (Side::Buy, "55653.87000000".into(), "0.00000000".into())
    );
    assert_eq!(
        (l[1].side, l[1].price, l[1].qty),
        (Side::Sell, d("61838.04"), d("0.32332"))
    );
    assert_eq!(l[2].price.to_string(), "61862.51000000");
    assert!(l.iter().all(|l| l.seq == 50093239207));
    assert!(
        ev.iter()
            .all(|e| e.exchange_ts == 1723161255308 * 1_000_000 && e.recv_ts == 42)
    );
    assert_eq!(ev[0].flags, Flags::EMPTY);
    assert_eq!(ev[1].flags, Flags::EMPTY);
    assert_eq!(ev[2].flags, Flags::LAST_IN_BATCH);
    assert!(ev.iter().all(|e| e.instrument == btc));
    assert_eq!(a.decode_stats().unknown_fields, 0);
}

#[test]
fn usdm_depth_carries_pu() {
    let (mut a, _) = adapter(
        BinanceConfig::usdm(),
        &[Subscription::new(
            "BTCUSDT",
            Channel::Depth(DepthSpeed::Ms0),
        )],
    );
    let text = r#"{"stream":"btcusdt@depth@0ms","data":{"e":"depthUpdate","E":1723161256299,"T":1723161256298,"s":"BTCUSDT","U":5123107832006,"u":5123107837557,"pu":5123107831937,"b":[["61510.90","0.000"],["61740.50","12.111"]],"a":[["61800.30","2.510"]]}}"#;
    let (r, ev) = decode(&mut a, text);
    let Frame::BookDiff { ids, .. } = r.unwrap() else {
        panic!()
    };
    assert_eq!(
        ids,
        DiffIds {
            first: 5123107832006,
            last: 5123107837557,
            prev: Some(5123107831937)
        }
    );
    let l: Vec<_> = ev.iter().map(|e| e.as_level().unwrap()).collect();
    assert_eq!(
        l.iter()
            .map(|l| (l.side, l.price.to_string(), l.qty.to_string()))
            .collect::<Vec<_>>(),
        [
            (Side::Buy, "61510.90".to_string(), "0.000".to_string()),
            (Side::Buy, "61740.50".into(), "12.111".into()),
            (Side::Sell, "61800.30".into(), "2.510".into()),
        ]
    );
    assert_eq!(
        ev[0].exchange_ts,
        1723161256299 * 1_000_000,
        "E, not T, for depth"
    );
}

#[test]
fn trades_take_the_aggressor_side() {
    let (mut a, _) = spot_all();
    // m = true: the buyer is the maker, so the aggressor sold.
    let (r, ev) = decode(
        &mut a,
        r#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1723161255343,"s":"BTCUSDT","t":3735683259,"p":"61837.63000000","q":"0.02000000","T":1723161255342,"m":true,"M":true}}"#,
    );
    assert_eq!(r.unwrap(), Frame::Market);
    let t = ev[0].as_trade().unwrap();
    assert_eq!((t.side, t.id), (Side::Sell, 3735683259));
    assert_eq!(
        (t.price.to_string(), t.qty.to_string()),
        ("61837.63000000".into(), "0.02000000".into())
    );
    assert_eq!(ev[0].exchange_ts, 1723161255342 * 1_000_000, "trade time T");
    assert_eq!(ev[0].flags, Flags::EMPTY);
    // aggTrade: id a, flagged, m = false → aggressor bought.
    let (_, ev) = decode(
        &mut a,
        r#"{"e":"aggTrade","E":123456789,"s":"BTCUSDT","a":12345,"p":"0.001","q":"100","f":100,"l":105,"T":123456785,"m":false,"M":true}"#,
    );
    let t = ev[0].as_trade().unwrap();
    assert_eq!(
        (t.side, t.id, t.price, t.qty),
        (Side::Buy, 12345, d("0.001"), d("100"))
    );
    assert_eq!(ev[0].flags, Flags::AGGREGATED);
    assert_eq!(a.decode_stats().unknown_fields, 0);
}

#[test]
fn usdm_trade_with_market_type() {
    let (mut a, _) = adapter(
        BinanceConfig::usdm(),
        &[Subscription::new("BTCUSDT", Channel::Trade)],
    );
    let (r, ev) = decode(
        &mut a,
        r#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1723161256322,"T":1723161256322,"s":"BTCUSDT","t":5266583935,"p":"61800.30","q":"0.006","X":"MARKET","m":false}}"#,
    );
    assert_eq!(r.unwrap(), Frame::Market);
    let t = ev[0].as_trade().unwrap();
    assert_eq!(
        (t.side, t.id, t.price.to_string(), t.qty.to_string()),
        (Side::Buy, 5266583935, "61800.30".into(), "0.006".into())
    );
}

#[test]
fn book_tickers() {
    let (mut a, _) = spot_all();
    let (r, ev) = decode(
        &mut a,
        r#"{"stream":"btcusdt@bookTicker","data":{"u":50093239212,"s":"BTCUSDT","b":"61837.63000000","B":"3.78826000","a":"61837.64000000","A":"1.54698000"}}"#,
    );
    assert_eq!(r.unwrap(), Frame::Market);
    let b = ev[0].as_bbo().unwrap();
    assert_eq!(b.seq, 50093239212);
    assert_eq!(b.bid_price.to_string(), "61837.63000000");
    assert_eq!(b.bid_qty, d("3.78826"));
    assert_eq!(b.ask_price, d("61837.64"));
    assert_eq!(b.ask_qty, d("1.54698"));
    assert_eq!(ev[0].exchange_ts, 0, "spot bookTicker has no time");
    let (mut f, _) = adapter(
        BinanceConfig::usdm(),
        &[Subscription::new("BTCUSDT", Channel::BookTicker)],
    );
    let (_, ev) = decode(
        &mut f,
        r#"{"e":"bookTicker","u":5123107839020,"s":"BTCUSDT","b":"61800.20","B":"2.507","a":"61800.30","A":"2.510","T":1723161256313,"E":1723161256314}"#,
    );
    let b = ev[0].as_bbo().unwrap();
    assert_eq!(
        (b.seq, b.bid_price.to_string(), b.ask_qty.to_string()),
        (5123107839020, "61800.20".into(), "2.510".into())
    );
    assert_eq!(ev[0].exchange_ts, 1723161256314 * 1_000_000);
}

#[test]
fn latency_probe_and_microseconds() {
    let mut cfg = BinanceConfig::spot();
    cfg.latency_probe = true;
    let (mut a, _) = adapter(
        cfg,
        &[Subscription::new(
            "BTCUSDT",
            Channel::Depth(DepthSpeed::Ms100),
        )],
    );
    let (_, ev) = decode(
        &mut a,
        r#"{"ts":1764400000123456789,"e":"depthUpdate","E":1764400000123,"s":"BTCUSDT","U":1,"u":2,"b":[["1.0","2.0"]],"a":[]}"#,
    );
    assert_eq!(ev[0].exchange_ts, 1764400000123456789);
    assert_eq!(ev[0].flags, Flags::LAST_IN_BATCH);
    let mut cfg = BinanceConfig::spot();
    cfg.time_unit = TimeUnit::Microsecond;
    let (mut a, _) = adapter(cfg, &[Subscription::new("BTCUSDT", Channel::Trade)]);
    let (_, ev) = decode(
        &mut a,
        r#"{"e":"trade","E":1723161255343000,"s":"BTCUSDT","t":1,"p":"1","q":"1","T":1723161255342123,"m":true}"#,
    );
    assert_eq!(ev[0].exchange_ts, 1_723_161_255_342_123_000);
    // Without the probe the ts field is unknown but harmless.
    let (mut a, _) = spot_all();
    let (r, ev) = decode(
        &mut a,
        r#"{"ts":5,"e":"trade","E":1,"s":"BTCUSDT","t":1,"p":"1","q":"1","T":2,"m":true}"#,
    );
    assert!(r.is_ok());
    assert_eq!(ev[0].exchange_ts, 2_000_000);
}

#[test]
fn control_messages() {
    let mut cfg = BinanceConfig::spot();
    cfg.subscribe_via = SubscribeVia::Frames;
    let (mut a, _) = adapter(cfg, &[Subscription::new("BTCUSDT", Channel::Trade)]);
    let mut frames = Vec::new();
    a.connect_frames(&mut frames);
    assert_eq!(
        String::from_utf8(frames[0].clone()).unwrap(),
        r#"{"method":"SUBSCRIBE","params":["btcusdt@trade"],"id":1}"#
    );
    assert_eq!(a.pending_acks(), 1);
    assert_eq!(
        decode(&mut a, r#"{"result":null,"id":1}"#).0.unwrap(),
        Frame::Ack { id: 1 }
    );
    assert_eq!(a.pending_acks(), 0);
    assert_eq!(
        decode(
            &mut a,
            r#"{"code":2,"msg":"Invalid request: unknown stream","id":7}"#
        )
        .0
        .unwrap(),
        Frame::SubscriptionError {
            id: Some(7),
            code: 2
        }
    );
    assert_eq!(
        decode(&mut a, r#"{"code":-1121,"msg":"Invalid symbol."}"#)
            .0
            .unwrap(),
        Frame::SubscriptionError {
            id: None,
            code: -1121
        }
    );
    assert_eq!(
        decode(&mut a, r#"{"error":{"code":3,"msg":"bad"},"id":9}"#)
            .0
            .unwrap(),
        Frame::SubscriptionError {
            id: Some(9),
            code: 3
        }
    );
    assert_eq!(
        decode(&mut a, r#"{"result":["btcusdt@trade"],"id":3}"#)
            .0
            .unwrap(),
        Frame::Control
    );
    assert_eq!(
        decode(&mut a, r#"{"e":"serverShutdown","E":1}"#).0.unwrap(),
        Frame::Rotate
    );
    assert_eq!(
        decode(&mut a, r#"{"e":"24hrTicker","E":1,"s":"BTCUSDT"}"#)
            .0
            .unwrap(),
        Frame::Unknown
    );
    assert_eq!(decode(&mut a, r#"{"hello":1}"#).0.unwrap(), Frame::Unknown);
    assert_eq!(a.decode_stats().unknown_messages, 2);
}

#[test]
fn bad_frames_are_typed_errors_with_no_events() {
    let (mut a, reg) = spot_all();
    let btc = reg.lookup("binance", "BTCUSDT").unwrap();
    let cases: &[(&str, Reason)] = &[
        ("{\"e\":", Reason::Json),
        ("not json", Reason::Json),
        ("[1,2]", Reason::Schema),
        (
            r#"{"e":"trade","s":"BTCUSDT","t":1,"p":"1","q":"1","T":2}"#,
            Reason::Schema,
        ),
        (
            r#"{"e":"trade","s":"BTCUSDT","t":1,"p":1.5,"q":"1","T":2,"m":true}"#,
            Reason::Schema,
        ),
        (
            r#"{"e":"trade","s":"BTCUSDT","t":1,"p":"1.5x","q":"1","T":2,"m":true}"#,
            Reason::Number,
        ),
        (
            r#"{"e":"trade","s":"BTCUSDT","t":1,"p":"99999999999999999999","q":"1","T":2,"m":true}"#,
            Reason::Number,
        ),
        (
            r#"{"e":"trade","s":"ETHUSDT","t":1,"p":"1","q":"1","T":2,"m":true}"#,
            Reason::UnknownSymbol,
        ),
        (
            r#"{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":1,"u":2,"b":[["1","2"]],"a":[["1"]]}"#,
            Reason::Schema,
        ),
        (
            r#"{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":1,"u":2,"b":[["1","2"]],"a":[["1","0.0000000000000000001"]]}"#,
            Reason::Number,
        ),
        (
            r#"{"e":"depthUpdate","E":18446744073709551,"s":"BTCUSDT","U":1,"u":2,"b":[],"a":[]}"#,
            Reason::Number,
        ),
        (r#"{"e":7}"#, Reason::Schema),
    ];
    for (text, reason) in cases {
        let mut buf = text.as_bytes().to_vec();
        let mut out = vec![Event::status(
            InstrumentId(0),
            tickwire_engine::Status {
                kind: StatusKind::Connected,
                reason: 0,
                value: 0,
                connection: 0,
            },
            0,
        )];
        let err = a.decode(&mut buf, 1, &mut out).unwrap_err();
        assert_eq!(err.reason, *reason, "{text}");
        assert_eq!(out.len(), 1, "{text}: no partial events");
        if *reason == Reason::Number {
            assert_eq!(err.instrument, btc);
        }
    }
    let s = a.decode_stats();
    assert_eq!(
        (s.json_errors, s.number_errors, s.unknown_symbols),
        (2, 4, 1)
    );
    assert_eq!(s.schema_errors, 5);
}

#[test]
fn unknown_fields_are_counted_not_errors() {
    let (mut a, _) = spot_all();
    let (r, ev) = decode(
        &mut a,
        r#"{"e":"trade","E":1,"s":"BTCUSDT","t":1,"p":"1","q":"1","T":2,"m":true,"new":{"x":[1,2]},"z":null}"#,
    );
    assert_eq!(r.unwrap(), Frame::Market);
    assert_eq!(ev.len(), 1);
    assert_eq!(a.decode_stats().unknown_fields, 2);
}

#[test]
fn endpoints() {
    let subs = Subscription::product(
        &["BTCUSDT", "ethusdt"],
        &[Channel::Trade, Channel::Depth(DepthSpeed::Ms100)],
    );
    let (a, _) = adapter(BinanceConfig::spot(), &subs);
    assert_eq!(
        a.endpoint().url,
        "wss://stream.binance.com:9443/stream?streams=btcusdt@trade/btcusdt@depth@100ms/ethusdt@trade/ethusdt@depth@100ms"
    );
    let mut cfg = BinanceConfig::spot();
    cfg.ws_base = Some("ws://127.0.0.1:9001/".into());
    cfg.subscribe_via = SubscribeVia::Frames;
    cfg.time_unit = TimeUnit::Microsecond;
    let (a, _) = adapter(cfg, &subs);
    assert_eq!(
        a.endpoint().url,
        "ws://127.0.0.1:9001/stream?timeUnit=MICROSECOND"
    );
    let (a, _) = adapter(
        BinanceConfig::usdm(),
        &[Subscription::new("BTCUSDT", Channel::BookTicker)],
    );
    assert_eq!(
        a.endpoint().url,
        "wss://fstream.binance.com/public/stream?streams=btcusdt@bookTicker"
    );
    let mut legacy = BinanceConfig::usdm();
    legacy.usdm_routed = false;
    let (a, _) = adapter(legacy.clone(), &subs);
    assert!(
        a.endpoint()
            .url
            .starts_with("wss://fstream.binance.com/stream?streams=")
    );
    assert_eq!(
        BinanceAdapter::new(BinanceConfig::usdm(), &subs, &Registry::new()).err(),
        Some(PlanError::MixedRoutes)
    );
    let mut tiny = BinanceConfig::spot();
    tiny.max_streams = 2;
    assert_eq!(
        BinanceAdapter::new(tiny, &subs, &Registry::new()).err(),
        Some(PlanError::TooManyStreams { count: 4, max: 2 })
    );
    assert_eq!(
        BinanceConfig::usdm().snapshot_url("btcusdt"),
        "https://fapi.binance.com/fapi/v1/depth?symbol=BTCUSDT&limit=1000"
    );
    let mut sim = BinanceConfig::spot();
    sim.rest_base = Some("http://127.0.0.1:8080".into());
    assert_eq!(
        sim.snapshot_url("BTCUSDT"),
        "http://127.0.0.1:8080/api/v3/depth?symbol=BTCUSDT&limit=5000"
    );
}

fn ids(first: u64, last: u64, prev: Option<u64>) -> DiffIds {
    DiffIds { first, last, prev }
}

#[test]
fn sequence_rules() {
    let (s, _) = spot_all();
    // Spot: drop u <= lid; first has U <= lid+1 <= u; then U == prev u + 1.
    assert_eq!(s.first_diff(100, &ids(90, 100, None)), SeqCheck::Stale);
    assert_eq!(s.first_diff(100, &ids(95, 101, None)), SeqCheck::Apply);
    assert_eq!(s.first_diff(100, &ids(101, 105, None)), SeqCheck::Apply);
    assert_eq!(s.first_diff(100, &ids(102, 105, None)), SeqCheck::Gap);
    assert_eq!(
        s.next_diff(&ids(101, 105, None), &ids(106, 110, None)),
        SeqCheck::Apply
    );
    assert_eq!(
        s.next_diff(&ids(101, 105, None), &ids(107, 110, None)),
        SeqCheck::Gap
    );
    assert_eq!(
        s.next_diff(&ids(101, 105, None), &ids(101, 105, None)),
        SeqCheck::Stale
    );
    let (f, _) = adapter(
        BinanceConfig::usdm(),
        &[Subscription::new(
            "BTCUSDT",
            Channel::Depth(DepthSpeed::Ms0),
        )],
    );
    // USD-M: drop u < lid; first has U <= lid <= u; then pu == prev u.
    assert_eq!(f.first_diff(100, &ids(90, 99, Some(80))), SeqCheck::Stale);
    assert_eq!(f.first_diff(100, &ids(90, 100, Some(80))), SeqCheck::Apply);
    assert_eq!(f.first_diff(100, &ids(100, 120, Some(99))), SeqCheck::Apply);
    assert_eq!(f.first_diff(100, &ids(101, 120, Some(100))), SeqCheck::Gap);
    assert_eq!(
        f.next_diff(&ids(90, 120, Some(80)), &ids(130, 140, Some(120))),
        SeqCheck::Apply
    );
    assert_eq!(
        f.next_diff(&ids(90, 120, Some(80)), &ids(130, 140, Some(121))),
        SeqCheck::Gap
    );
    assert_eq!(
        f.next_diff(&ids(90, 120, Some(80)), &ids(90, 120, Some(80))),
        SeqCheck::Stale
    );
    // Joining a second connection: the chain, or a range covering the next id.
    assert_eq!(
        f.join_diff(&ids(90, 120, Some(80)), &ids(130, 140, Some(120))),
        SeqCheck::Apply
    );
    assert_eq!(
        f.join_diff(&ids(90, 120, Some(80)), &ids(110, 140, Some(100))),
        SeqCheck::Apply
    );
    assert_eq!(
        f.join_diff(&ids(90, 120, Some(80)), &ids(125, 140, Some(122))),
        SeqCheck::Gap
    );
    assert_eq!(
        f.join_diff(&ids(90, 120, Some(80)), &ids(100, 119, Some(90))),
        SeqCheck::Stale
    );
}

/// Drives a handler without a network.
struct Harness {
    outbox: Outbox,
    publisher: Publisher,
    actions: Actions,
    consumer: Consumer,
}

impl Harness {
    fn new() -> Harness {
        Harness::with_ring(1 << 16)
    }

    fn with_ring(capacity: usize) -> Harness {
        let (p, c) = channel(capacity);
        Harness {
            outbox: Outbox::new(1 << 20),
            publisher: Publisher::new(vec![p]),
            actions: Actions::default(),
            consumer: c,
        }
    }

    fn cx(&mut self, now: u64) -> Context<'_> {
        Context::new(
            now,
            ConnectionId(3),
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

    /// Text payloads of the client frames queued so far (unmasked).
    fn sent(&self) -> Vec<String> {
        let b = self.outbox.bytes();
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
        v
    }
}

fn diff(first: u64, last: u64, bid: (&str, &str)) -> String {
    format!(
        r#"{{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":{first},"u":{last},"b":[["{}","{}"]],"a":[]}}"#,
        bid.0, bid.1
    )
}

fn snapshot(
    instrument: InstrumentId,
    last_id: u64,
    bids: &[(&str, &str)],
    asks: &[(&str, &str)],
) -> BookSnapshot {
    let conv = |l: &[(&str, &str)]| l.iter().map(|(p, q)| (d(p), d(q))).collect();
    BookSnapshot {
        instrument,
        last_id,
        exchange_ts: 0,
        bids: conv(bids),
        asks: conv(asks),
    }
}

#[test]
fn handler_syncs_then_resyncs_after_a_gap() {
    let (a, reg) = adapter(
        BinanceConfig::spot(),
        &[Subscription::new(
            "BTCUSDT",
            Channel::Depth(DepthSpeed::Ms100),
        )],
    );
    let btc = reg.lookup("binance", "BTCUSDT").unwrap();
    let snaps = QueuedSnapshots::new();
    let feeder = snaps.feeder();
    let mut h = FeedHandler::new(a, Box::new(snaps), FeedConfig::default());
    let mut t = Harness::new();
    h.on_connect(&mut t.cx(0));
    // Times in seconds: the snapshot backoff (250 ms first) is long past at each step.
    let s = 1_000_000_000;
    assert!(t.sent().is_empty(), "URL mode sends no frames");
    // Buffered until the snapshot; the first diff asks for it.
    t.message(&mut h, s, &diff(90, 99, ("10.0", "1")));
    t.message(&mut h, 2 * s, &diff(100, 104, ("10.1", "1")));
    assert_eq!(feeder.requests(), 1);
    assert!(t.drain().is_empty());
    feeder.push(snapshot(
        btc,
        101,
        &[("10.0", "5"), ("9.9", "1")],
        &[("10.5", "2")],
    ));
    t.message(&mut h, 3 * s, &diff(105, 106, ("10.2", "3")));
    let ev = t.drain();
    // Snapshot run (3 levels), then diff 100..104 (overlaps 101: applies), then 105..106.
    assert_eq!(ev.len(), 5);
    assert!(
        ev[..3]
            .iter()
            .all(|e| e.flags.contains(Flags::SNAPSHOT) && e.seq == 101)
    );
    assert!(ev[2].flags.contains(Flags::LAST_IN_BATCH));
    assert_eq!(ev[3].as_level().unwrap().seq, 104);
    assert_eq!(ev[4].as_level().unwrap().seq, 106);
    assert!(h.in_sync(btc));
    let book = h.book(btc).unwrap();
    assert_eq!(book.best_bid().unwrap(), (d("10.2"), d("3")));
    assert_eq!(book.best_ask().unwrap(), (d("10.5"), d("2")));
    // A gap: 107 is missing.
    t.message(&mut h, 4 * s, &diff(108, 110, ("10.3", "1")));
    let ev = t.drain();
    let st: Vec<_> = ev.iter().map(|e| e.as_status().unwrap()).collect();
    assert_eq!((st[0].kind, st[0].value), (StatusKind::Gap, 107));
    assert_eq!(st[1].kind, StatusKind::Resync);
    assert_eq!(ev[1].instrument, btc);
    assert!(!h.in_sync(btc));
    assert_eq!(feeder.requests(), 2);
    // A snapshot older than the buffered diff is refused and fetched again.
    feeder.push(snapshot(btc, 105, &[("1", "1")], &[]));
    h.on_poll(&mut t.cx(5 * s));
    assert_eq!(feeder.requests(), 3);
    let ev = t.drain();
    assert_eq!(ev.len(), 1, "one status: the snapshot failed, and why");
    let st = ev[0].as_status().unwrap();
    assert_eq!(
        (
            ev[0].instrument,
            st.kind,
            Reason::from_code(st.reason),
            st.value
        ),
        (
            btc,
            StatusKind::SnapshotFailed,
            Some(Reason::SnapshotTooOld),
            105
        )
    );
    feeder.push(snapshot(btc, 109, &[("10.0", "7")], &[("10.6", "1")]));
    h.on_poll(&mut t.cx(6 * s));
    let ev = t.drain();
    assert_eq!(ev.len(), 3);
    assert!(
        ev[1]
            .flags
            .contains(Flags::SNAPSHOT.with(Flags::LAST_IN_BATCH))
    );
    assert_eq!(ev[2].as_level().unwrap().price, d("10.3"));
    assert_eq!(
        h.book(btc).unwrap().best_bid().unwrap(),
        (d("10.3"), d("1"))
    );
    let s = h.stats();
    assert_eq!(
        (s.gaps, s.resyncs, s.snapshots_applied, s.snapshot_failures),
        (1, 1, 2, 1)
    );
}

#[test]
fn after_a_consumer_overflow_the_books_are_republished_and_consumers_recover() {
    use tickwire_engine::book::{Book, BookConfig};
    let (a, reg) = adapter(
        BinanceConfig::spot(),
        &[Subscription::new(
            "BTCUSDT",
            Channel::Depth(DepthSpeed::Ms100),
        )],
    );
    let btc = reg.lookup("binance", "BTCUSDT").unwrap();
    let snaps = QueuedSnapshots::new();
    let feeder = snaps.feeder();
    let mut h = FeedHandler::new(a, Box::new(snaps), FeedConfig::default());
    let mut t = Harness::with_ring(16);
    let mut mine = Book::new(BookConfig::with_depth(100));
    let rebuild = |t: &mut Harness, book: &mut Book| -> Vec<Event> {
        let ev = t.drain();
        for e in &ev {
            let _ = book.apply_event(e);
        }
        ev
    };
    h.on_connect(&mut t.cx(0));
    feeder.push(snapshot(
        btc,
        100,
        &[("10.0", "5"), ("9.9", "1")],
        &[("10.5", "2")],
    ));
    t.message(&mut h, 1, &diff(101, 101, ("10.1", "1")));
    rebuild(&mut t, &mut mine);
    assert!(mine.is_valid());
    // The consumer stalls: 30 diffs into a ring of 16 drop 14 events.
    for i in 0..30u64 {
        // Five price levels (one decimal, as the snapshot's: the book's scale is fixed),
        // quantities changing.
        let price = format!("9.{}", 8 - i % 5);
        let qty = format!("{}", 1 + i);
        t.message(&mut h, 2 + i, &diff(102 + i, 102 + i, (&price, &qty)));
    }
    assert_eq!(h.stats().republished, 0, "rings congested: not yet");
    let ev = rebuild(&mut t, &mut mine);
    assert_eq!(ev.len(), 16);
    // Recovery waits for room; the next message brings the Overflow report, its own level
    // and the republished book.
    t.message(&mut h, 40, &diff(132, 132, ("10.2", "4")));
    let ev = rebuild(&mut t, &mut mine);
    let s = ev[0].as_status().unwrap();
    assert_eq!((s.kind, s.value), (StatusKind::Overflow, 14));
    assert_eq!(ev[1].as_level().unwrap().seq, 132);
    assert!(ev[2..].iter().all(|e| e.flags.contains(Flags::SNAPSHOT)));
    assert!(ev.last().unwrap().flags.contains(Flags::LAST_IN_BATCH));
    assert_eq!(h.stats().republished, 1);
    // The consumer's book is valid again and equals the handler's, level for level.
    let theirs = h.book(btc).unwrap();
    assert!(mine.is_valid());
    assert_eq!(mine.seq(), 132);
    assert_eq!((theirs.bid_len(), theirs.ask_len()), (9, 1));
    assert!(mine.bids(usize::MAX).eq(theirs.bids(usize::MAX)));
    assert!(mine.asks(usize::MAX).eq(theirs.asks(usize::MAX)));
    // Nothing more is republished without new drops.
    t.message(&mut h, 41, &diff(133, 133, ("10.2", "5")));
    assert_eq!(rebuild(&mut t, &mut mine).len(), 1);
    assert_eq!(h.stats().republished, 1);
    assert_eq!(mine.best_bid().unwrap(), (d("10.2"), d("5")));
}

#[test]
fn unanswered_subscriptions_time_out_as_one_subscription_error() {
    let mut cfg = BinanceConfig::spot();
    cfg.subscribe_via = SubscribeVia::Frames;
    cfg.streams_per_frame = 1;
    let subs = Subscription::product(&["BTCUSDT"], &[Channel::Trade, Channel::BookTicker]);
    let (a, _) = adapter(cfg, &subs);
    let config = FeedConfig {
        ack_timeout_ns: 1_000_000_000,
        ..FeedConfig::default()
    };
    let mut h = FeedHandler::new(a, Box::new(QueuedSnapshots::new()), config);
    let mut t = Harness::new();
    let s = 1_000_000_000;
    h.on_connect(&mut t.cx(s));
    h.on_timer(&mut t.cx(s + 300_000_000));
    assert_eq!(t.sent().len(), 2);
    // One ack within the timeout restarts the clock for the other.
    t.message(&mut h, s + 900_000_000, r#"{"result":null,"id":1}"#);
    h.on_timer(&mut t.cx(s + 1_500_000_000));
    assert_eq!(h.adapter().pending_acks(), 1);
    assert!(t.drain().is_empty());
    h.on_timer(&mut t.cx(s + 1_950_000_000));
    let ev = t.drain();
    assert_eq!(ev.len(), 1);
    let st = ev[0].as_status().unwrap();
    assert_eq!(
        (st.kind, Reason::from_code(st.reason), st.value),
        (StatusKind::SubscriptionError, Some(Reason::AckTimeout), 1)
    );
    assert_eq!(h.adapter().pending_acks(), 0);
    assert_eq!(h.stats().ack_timeouts, 1);
    // Reported once.
    h.on_timer(&mut t.cx(s + 5_000_000_000));
    assert!(t.drain().is_empty());
}

#[test]
fn handler_reports_errors_and_rotation() {
    let mut cfg = BinanceConfig::spot();
    cfg.subscribe_via = SubscribeVia::Frames;
    cfg.streams_per_frame = 1;
    let subs = Subscription::product(
        &["BTCUSDT"],
        &[Channel::Trade, Channel::BookTicker, Channel::AggTrade],
    );
    let (a, _) = adapter(cfg, &subs);
    let mut h = FeedHandler::new(a, Box::new(QueuedSnapshots::new()), FeedConfig::default());
    let mut t = Harness::new();
    h.on_connect(&mut t.cx(1_000));
    // Paced: one frame now, the next no sooner than 250 ms later.
    assert_eq!(
        t.sent(),
        [r#"{"method":"SUBSCRIBE","params":["btcusdt@trade"],"id":1}"#]
    );
    h.on_timer(&mut t.cx(1_000 + 100_000_000));
    assert_eq!(t.sent().len(), 1);
    h.on_timer(&mut t.cx(1_000 + 250_000_000));
    assert_eq!(t.sent().len(), 2);
    h.on_timer(&mut t.cx(1_000 + 500_000_000));
    assert_eq!(
        t.sent()[2],
        r#"{"method":"SUBSCRIBE","params":["btcusdt@aggTrade"],"id":3}"#
    );
    assert_eq!(h.adapter().pending_acks(), 3);
    t.message(&mut h, 2, r#"{"result":null,"id":1}"#);
    t.message(&mut h, 2, r#"{"result":null,"id":2}"#);
    t.message(&mut h, 3, r#"{"code":2,"msg":"Invalid request","id":3}"#);
    assert_eq!(h.adapter().pending_acks(), 0);
    t.message(&mut h, 4, "{garbage");
    t.message(&mut h, 5, r#"{"e":"serverShutdown","E":1}"#);
    let ev = t.drain();
    let st: Vec<_> = ev.iter().map(|e| e.as_status().unwrap()).collect();
    assert_eq!(
        (st[0].kind, st[0].value, st[0].connection),
        (StatusKind::SubscriptionError, 3, 3)
    );
    assert_eq!(
        (st[1].kind, st[1].reason),
        (StatusKind::DecodeError, Reason::Json.code())
    );
    assert_eq!(
        (st[2].kind, st[2].reason),
        (StatusKind::Rotating, Reason::ServerShutdown.code())
    );
    assert_eq!(h.stats().acks, 2);
    assert_eq!(h.stats().decode.json_errors, 1);
}

#[test]
fn jsonl_lines() {
    let (mut a, reg) = spot_all();
    let mut j = crate::jsonl::JsonLines::new(reg, "binance");
    let mut out = Vec::new();
    let (_, ev) = decode(&mut a, SPOT_DEPTH);
    j.write(&ev[2], &mut out);
    let (_, ev) = decode(
        &mut a,
        r#"{"e":"trade","E":1,"s":"BTCUSDT","t":3000123456,"p":"43250.12","q":"0.012","T":1723161255123,"m":false}"#,
    );
    j.write(&ev[0], &mut out);
    let (_, ev) = decode(
        &mut a,
        r#"{"u":7,"s":"BTCUSDT","b":"1.0","B":"2","a":"3.00","A":"4"}"#,
    );
    j.write(&ev[0], &mut out);
    let st = Event::status(
        InstrumentId::NONE,
        tickwire_engine::Status {
            kind: StatusKind::DecodeError,
            reason: Reason::Json.code(),
            value: 0,
            connection: 0,
        },
        0,
    );
    j.write(&st, &mut out);
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        r#"{"kind":"book","venue":"binance","symbol":"BTCUSDT","side":"ask","price":"61862.51000000","qty":"0.00000000","seq":50093239207,"exchange_ts":1723161255308000000,"flags":["last"]}"#
    );
    assert_eq!(
        lines[1],
        r#"{"kind":"trade","venue":"binance","symbol":"BTCUSDT","side":"buy","price":"43250.12","qty":"0.012","id":3000123456,"exchange_ts":1723161255123000000,"flags":[]}"#
    );
    assert_eq!(
        lines[2],
        r#"{"kind":"bbo","venue":"binance","symbol":"BTCUSDT","bid_price":"1.00","bid_qty":"2","ask_price":"3.00","ask_qty":"4","seq":7,"exchange_ts":0,"flags":[]}"#
    );
    assert_eq!(
        lines[3],
        r#"{"kind":"status","venue":"binance","symbol":null,"status":"decode_error","detail":"json"}"#
    );
    let _ = EventKind::Trade;
}

/// Decodes `input` with and without the hand scanner (fresh interning decoders) and
/// checks they agree on the result, the events and every counter, with the latency probe
/// on and off, in milliseconds and microseconds; and so does the hot path (`scan::hot`) on
/// its own where it answers. Returns whether it answered in every mode.
pub(crate) fn assert_paths_agree(input: &[u8]) -> bool {
    let mut answered = true;
    for unit in [TimeUnit::Millisecond, TimeUnit::Microsecond] {
        for probe in [true, false] {
            let run = |fast: bool| {
                let reg = Registry::new();
                let mut d = Decoder::new(Symbols::interning("binance", reg), unit, probe);
                d.set_fast_scan(fast);
                let mut buf = input.to_vec();
                let mut out = Vec::new();
                let r = d.decode(&mut buf, 9, &mut out);
                let fast_path = d.stats().fast_path;
                let stats = DecodeStats {
                    fast_path: 0,
                    ..d.stats()
                };
                ((r, out, stats), fast_path)
            };
            let ((fast, _), (slow, _)) = (run(true), run(false));
            let text = String::from_utf8_lossy(input);
            assert_eq!(fast, slow, "input: {text:?} ({unit:?}, probe {probe})");
            // The hot path on its own, where it answers, gives the same.
            let mut symbols = Symbols::interning("binance", Registry::new());
            let mut out = Vec::new();
            match super::scan::hot_only(input, &mut symbols, unit, probe, &mut out) {
                Some(frame) => {
                    let (r, events, stats) = &slow;
                    assert_eq!((Ok(frame), &out), (*r, events), "hot path on {text:?}");
                    assert_eq!(stats.unknown_fields, 0, "hot path on {text:?}");
                }
                None => answered = false,
            }
        }
    }
    answered
}

const FIXTURES: &[&str] = &[
    SPOT_DEPTH,
    r#"{"stream":"btcusdt@depth@0ms","data":{"e":"depthUpdate","E":1723161256299,"T":1723161256298,"s":"BTCUSDT","U":5123107832006,"u":5123107837557,"pu":5123107831937,"b":[["61510.90","0.000"],["61740.50","12.111"]],"a":[["61800.30","2.510"]]}}"#,
    r#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1723161255343,"s":"BTCUSDT","t":3735683259,"p":"61837.63000000","q":"0.02000000","T":1723161255342,"m":true,"M":true}}"#,
    r#"{"e":"aggTrade","E":123456789,"s":"BNBBTC","a":12345,"p":"0.001","q":"100","f":100,"l":105,"T":123456785,"m":false,"M":true}"#,
    r#"{"stream":"btcusdt@bookTicker","data":{"u":50093239212,"s":"BTCUSDT","b":"61837.63000000","B":"3.78826000","a":"61837.64000000","A":"1.54698000"}}"#,
    r#"{"e":"bookTicker","u":5123107839020,"s":"BTCUSDT","b":"61800.20","B":"2.507","a":"61800.30","A":"2.510","T":1723161256313,"E":1723161256313}"#,
    r#"{"ts":1764400000123456789,"e":"depthUpdate","E":1764400000123,"s":"BTCUSDT","U":1,"u":2,"b":[["1.0","2.0"]],"a":[]}"#,
    r#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1723161256322,"T":1723161256322,"s":"BTCUSDT","t":5266583935,"p":"61800.30","q":"0.006","X":"MARKET","m":false,"new":{"x":[1,{"y":null}]}}}"#,
    r#"{"result":null,"id":1}"#,
    r#"{"e":"serverShutdown","E":1}"#,
];

/// The shapes the hot path (module `scan::hot`) must answer: what Binance spot and USD-M
/// futures send (venues.md §1–2, the captures) and what mdload sends (ts first, no envelope).
const HOT_SHAPES: &[&str] = &[
    SPOT_DEPTH,
    r#"{"stream":"btcusdt@depth@0ms","data":{"e":"depthUpdate","E":1723161256299,"T":1723161256298,"s":"BTCUSDT","U":5123107832006,"u":5123107837557,"pu":5123107831937,"b":[["61510.90","0.000"],["61740.50","12.111"]],"a":[["61800.30","2.510"]]}}"#,
    r#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1723161255343,"s":"BTCUSDT","t":3735683259,"p":"61837.63000000","q":"0.02000000","T":1723161255342,"m":true,"M":true}}"#,
    r#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1723161256322,"T":1723161256322,"s":"BTCUSDT","t":5266583935,"p":"61800.30","q":"0.006","X":"MARKET","m":false}}"#,
    r#"{"stream":"btcusdt@aggTrade","data":{"e":"aggTrade","E":1723161256322,"a":2345678901,"s":"BTCUSDT","p":"61800.30","q":"0.006","f":5266583935,"l":5266583936,"T":1723161256321,"m":true}}"#,
    r#"{"e":"aggTrade","E":123456789,"s":"BNBBTC","a":12345,"p":"0.001","q":"100","f":100,"l":105,"T":123456785,"m":false,"M":true}"#,
    r#"{"stream":"btcusdt@bookTicker","data":{"u":50093239212,"s":"BTCUSDT","b":"61837.63000000","B":"3.78826000","a":"61837.64000000","A":"1.54698000"}}"#,
    r#"{"stream":"btcusdt@bookTicker","data":{"e":"bookTicker","u":5123107839020,"s":"BTCUSDT","b":"61800.20","B":"2.507","a":"61800.30","A":"2.510","T":1723161256313,"E":1723161256313}}"#,
    r#"{"e":"bookTicker","u":5123107839020,"s":"BTCUSDT","b":"61800.20","B":"2.507","a":"61800.30","A":"2.510","T":1723161256313,"E":1723161256313}"#,
    r#"{"ts":1764400000123456789,"e":"depthUpdate","E":1764400000123,"s":"BTCUSDT","U":1000123456,"u":1000123460,"b":[["43249.99","0.51234000"],["43249.98","0.00000000"],["43249.50","12.00000000"]],"a":[["43250.01","0.00000000"],["43250.02","1.10000000"],["43251.00","0.00100000"],["43299.99","99.99999999"],["43300.00","0.00000001"]]}"#,
    r#"{"ts":1764400000123456789,"e":"trade","E":1764400000123,"s":"BTCUSDT","t":3000123456,"p":"43250.12","q":"0.01200000","T":1764400000123,"m":true,"M":true}"#,
    // Ends of the subset: 7 and 8 integer digits, no fraction, 8 fraction digits against the
    // end of the buffer, empty sides, ids of 15, 16 and 19 digits.
    r#"{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":999999999999999,"u":9999999999999999,"pu":9999999999999999999,"b":[["1234567.1","12345678.12345678"],["7","0"],["1234567.12345678","0.5"]],"a":[["0.12345678","1.00000000"]]}"#,
    r#"{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":1,"u":2,"b":[],"a":[]}"#,
    r#"{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":1,"u":2,"b":[],"a":[["1.5","2.12345678"]]}"#,
    // Probe time after the levels (ignored without the probe), and none at all.
    r#"{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":1,"u":2,"b":[["1.5","2"]],"a":[],"ts":77}"#,
];

/// Every hot shape goes through `scan::hot` (not only some scanner) and agrees with simd-json.
#[test]
fn hot_path_answers_every_hot_shape() {
    for f in HOT_SHAPES {
        // A late probe `ts` would change the levels' time: left to the general walker.
        let late_ts = f.ends_with(r#""ts":77}"#);
        assert_eq!(
            assert_paths_agree(f.as_bytes()),
            !late_ts,
            "hot path on {f}"
        );
    }
}

#[test]
fn scanner_agrees_with_simd_json_on_fixtures() {
    for f in FIXTURES.iter().chain(HOT_SHAPES) {
        assert_paths_agree(f.as_bytes());
    }
    // Shapes the scanner must hand over (whitespace, escapes, duplicates, asks first,
    // floats, leading zeros, trailing bytes) still decode the same.
    for f in [
        r#"{ "e":"trade","E":1,"s":"BTCUSDT","t":1,"p":"1","q":"1","T":2,"m":true}"#,
        r#"{"e":"trade","E":1,"s":"BTC\u0055SDT","t":1,"p":"1","q":"1","T":2,"m":true}"#,
        r#"{"e":"trade","E":1,"s":"BTCUSDT","t":1,"t":2,"p":"1","q":"1","T":2,"m":true}"#,
        r#"{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":1,"u":2,"a":[["1","2"]],"b":[["1","3"]]}"#,
        r#"{"e":"trade","E":1.5,"s":"BTCUSDT","t":1,"p":"1","q":"1","T":2,"m":true}"#,
        r#"{"e":"trade","E":01,"s":"BTCUSDT","t":1,"p":"1","q":"1","T":2,"m":true}"#,
        r#"{"e":"trade","E":1,"s":"BTCUSDT","t":1,"p":"1","q":"1","T":2,"m":true} "#,
        r#"{"e":"trade","E":1,"s":"BTCUSDT","t":1,"p":"1","q":"1","T":2,"m":true}x"#,
        r#"{"b":[["1","2"]],"data":{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":1,"u":2,"b":[],"a":[]}}"#,
        r#"{"e":"trade","E":99999999999999999999,"s":"BTCUSDT","t":1,"p":"1","q":"1","T":2,"m":true}"#,
        r#"{"e":"trade","E":1,"s":"BTCUSDT","t":1,"p":"1","q":"1","T":18446744073709551,"m":true}"#,
        // Venue order read by prediction, then a key seen in it again, or out of order.
        r#"{"e":"trade","E":1,"s":"BTCUSDT","t":1,"p":"1","q":"1","T":2,"m":true,"M":true,"E":3}"#,
        r#"{"e":"trade","E":1,"s":"BTCUSDT","t":1,"q":"1","p":"1","T":2,"m":true,"M":true}"#,
        r#"{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":1,"u":2,"b":[["1","3"]],"a":[],"s":"ETHUSDT"}"#,
        r#"{"ts":5,"e":"depthUpdate","E":1,"s":"BTCUSDT","U":1,"u":2,"b":[["1","3"]],"a":[],"ts":6}"#,
        r#"{"u":1,"s":"BTCUSDT","b":"1","B":"2","a":"3","A":"4","u":2}"#,
        r#"{"u":1,"e":"bookTicker","s":"BTCUSDT","b":"1","B":"2","a":"3","A":"4"}"#,
    ] {
        assert_paths_agree(f.as_bytes());
    }
}

mod scanner_props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1500))]

        /// Fixtures with one byte replaced, inserted or removed.
        #[test]
        fn mutated_fixtures(
            which in 0..FIXTURES.len() + HOT_SHAPES.len(),
            at in any::<prop::sample::Index>(),
            op in 0u8..3,
            byte in prop_oneof![
                Just(b'"'), Just(b','), Just(b'}'), Just(b']'), Just(b'['), Just(b'{'),
                Just(b':'), Just(b'0'), Just(b'9'), Just(b'.'), Just(b'-'), Just(b'e'),
                Just(b' '), Just(b'\\'), Just(0x80u8), any::<u8>()
            ],
        ) {
            let f = FIXTURES.get(which).unwrap_or_else(|| &HOT_SHAPES[which - FIXTURES.len()]);
            let mut v = f.as_bytes().to_vec();
            let i = at.index(v.len());
            match op {
                0 => v[i] = byte,
                1 => v.insert(i, byte),
                _ => { v.remove(i); }
            }
            assert_paths_agree(&v);
        }

        /// Generated depth/trade/bookTicker messages: any key order, optional envelope,
        /// unknown fields, odd but valid numbers and decimals.
        #[test]
        fn generated_messages(
            kind in 0u8..5,
            envelope in any::<bool>(),
            shuffle in any::<u64>(),
            in_order in any::<bool>(),
            unknown in proptest::option::of("[a-z]{1,3}"),
            price in "-?[0-9]{1,10}(\\.[0-9]{0,10})?(e-?[0-9])?",
            qty in "[0-9]{1,3}\\.[0-9]{1,9}",
            num in prop_oneof![Just("0".to_string()), "[1-9][0-9]{0,20}", Just("-1".to_string()), Just("1.0".to_string())],
            levels in 0usize..4,
            extras in 0u8..64,
        ) {
            let lv = |n: usize| (0..n).map(|_| format!("[\"{price}\",\"{qty}\"]")).collect::<Vec<_>>().join(",");
            let mut fields: Vec<String> = match kind {
                0 => vec![r#""e":"depthUpdate""#.into(), format!("\"E\":{num}"), r#""s":"BTCUSDT""#.into(),
                          format!("\"U\":{num}"), "\"u\":7".into(), format!("\"b\":[{}]", lv(levels)), format!("\"a\":[{}]", lv(levels / 2))],
                1 => vec![r#""e":"trade""#.into(), "\"E\":1".into(), r#""s":"BTCUSDT""#.into(), format!("\"t\":{num}"),
                          format!("\"p\":\"{price}\""), format!("\"q\":\"{qty}\""), "\"T\":2".into(), "\"m\":true".into()],
                // USD-M's trade order (spot's is kind 1 with `M` from the extras).
                4 => vec![r#""e":"trade""#.into(), "\"E\":1".into(), format!("\"T\":{num}"), r#""s":"BTCUSDT""#.into(),
                          format!("\"t\":{num}"), format!("\"p\":\"{price}\""), format!("\"q\":\"{qty}\""),
                          r#""X":"MARKET""#.into(), "\"m\":false".into()],
                2 => vec![r#""e":"aggTrade""#.into(), format!("\"a\":{num}"), r#""s":"BTCUSDT""#.into(),
                          format!("\"p\":\"{price}\""), format!("\"q\":\"{qty}\""), "\"m\":false".into(), "\"f\":1".into()],
                _ => vec![format!("\"u\":{num}"), r#""s":"BTCUSDT""#.into(), format!("\"b\":\"{price}\""),
                          format!("\"B\":\"{qty}\""), format!("\"a\":\"{price}\""), format!("\"A\":\"{qty}\"")],
            };
            if let Some(k) = unknown {
                fields.push(format!("\"{k}\":[1,\"x\",{{}}]"));
            }
            // Known keys the hot messages may carry (the probe's ts, futures' T/pu/X, spot's M).
            for (bit, field) in [
                (1, format!("\"ts\":{num}")),
                (2, format!("\"T\":{num}")),
                (4, format!("\"pu\":{num}")),
                (8, r#""X":"MARKET""#.to_string()),
                (16, r#""M":true"#.to_string()),
                (32, format!("\"l\":{num}")),
            ] {
                let key = field.split(':').next().unwrap_or_default().to_string();
                if extras & bit != 0 && !fields.iter().any(|f| f.starts_with(&key)) {
                    fields.push(field);
                }
            }
            // Deterministic shuffle from the seed, or the venue's order (the scanner's
            // predicted path) with the extras after it.
            let mut s = shuffle;
            for i in (1..if in_order { 0 } else { fields.len() }).rev() {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                fields.swap(i, (s >> 33) as usize % (i + 1));
            }
            let body = format!("{{{}}}", fields.join(","));
            let msg = if envelope { format!("{{\"stream\":\"x\",\"data\":{body}}}") } else { body };
            assert_paths_agree(msg.as_bytes());
        }
    }
}

#[test]
fn without_book_sync_diffs_are_published_as_they_arrive() {
    let mut cfg = BinanceConfig::spot();
    cfg.book_sync = false;
    cfg.latency_probe = true;
    let (a, _) = adapter(
        cfg,
        &[Subscription::new(
            "BTCUSDT",
            Channel::Depth(DepthSpeed::Ms0),
        )],
    );
    assert!(a.books().is_empty());
    let mut h = FeedHandler::new(a, Box::new(QueuedSnapshots::new()), FeedConfig::default());
    let mut t = Harness::new();
    // Unchained ids, deletions of unknown levels, no snapshot: all published in order.
    t.message(&mut h, 10, &diff(100, 105, ("1.00", "2")));
    t.message(&mut h, 11, &diff(500, 500, ("1.01", "0")));
    let raw = r#"{"ts":77,"e":"depthUpdate","E":1,"s":"BTCUSDT","U":7,"u":9,"b":[["1.0","1"]],"a":[["2.0","0"],["2.1","3"]]}"#;
    t.message(&mut h, 12, raw);
    let ev = t.drain();
    assert_eq!(ev.len(), 5);
    assert!(ev.iter().all(|e| e.kind() == EventKind::BookLevel));
    let last: Vec<u64> = ev
        .iter()
        .filter(|e| e.flags.contains(Flags::LAST_IN_BATCH))
        .map(|e| e.seq)
        .collect();
    assert_eq!(last, vec![105, 500, 9]);
    assert_eq!(ev[4].exchange_ts, 77);
    let s = h.stats();
    assert_eq!(
        (s.snapshots_requested, s.untracked_diffs, s.gaps),
        (0, 0, 0)
    );
}

/// The symbol table's cached comparison (two overlapping words for 4 to 16 bytes) tells
/// apart symbols of every length that differ in any one byte.
#[test]
fn symbol_lookups_tell_every_byte_apart() {
    let reg = Registry::new();
    let mut symbols = Symbols::new("binance");
    for len in 1..=20usize {
        let base: String = (0..len).map(|i| (b'A' + i as u8) as char).collect();
        let id = symbols.add(&reg, &base);
        for at in 0..len {
            let mut other = base.clone().into_bytes();
            other[at] = b'z';
            // Cached `base` first, then a look-up of a symbol one byte off.
            assert_eq!(symbols.get(base.as_bytes()), Some(id));
            assert_eq!(symbols.get(&other), None, "{len} {at}");
            assert_eq!(symbols.get(base.as_bytes()), Some(id));
        }
    }
}

/// Issue 18 item 3: a price or quantity with more decimals than the book has seen (venues
/// that do not pad decimals) re-keys the book instead of resyncing it; the next snapshot
/// holding such a level installs.
#[test]
fn finer_prices_after_the_snapshot_keep_the_book_in_sync() {
    let (a, reg) = adapter(
        BinanceConfig::spot(),
        &[Subscription::new(
            "BTCUSDT",
            Channel::Depth(DepthSpeed::Ms100),
        )],
    );
    let btc = reg.lookup("binance", "BTCUSDT").unwrap();
    let snaps = QueuedSnapshots::new();
    let feeder = snaps.feeder();
    let mut h = FeedHandler::new(a, Box::new(snaps), FeedConfig::default());
    let mut t = Harness::new();
    // Times in seconds: the snapshot backoff (250 ms first) is long past at each step.
    let s = 1_000_000_000;
    h.on_connect(&mut t.cx(0));
    t.message(&mut h, s, &diff(100, 101, ("99.40000000", "1")));
    feeder.push(snapshot(
        btc,
        100,
        &[("99.50000000", "2.00000000"), ("99.40000000", "1.00000000")],
        &[("99.60000000", "3.00000000")],
    ));
    h.on_poll(&mut t.cx(2 * s));
    assert!(h.in_sync(btc));
    // 9 decimals after 8: then 2 decimals, then a finer quantity.
    t.message(&mut h, 3 * s, &diff(102, 102, ("99.500000001", "0.5")));
    t.message(&mut h, 4 * s, &diff(103, 103, ("99.55", "0.000000000001")));
    t.message(&mut h, 5 * s, &diff(104, 104, ("99.5", "7")));
    let ev = t.drain();
    assert!(ev.iter().all(|e| e.as_status().is_none()), "{ev:?}");
    assert!(h.in_sync(btc));
    let book = h.book(btc).unwrap();
    let bids: Vec<_> = book.bids(10).collect();
    assert_eq!(
        bids,
        [
            (d("99.55"), d("0.000000000001")),
            (d("99.500000001"), d("0.5")),
            (d("99.5"), d("7")),
            (d("99.4"), d("1")),
        ]
    );
    assert_eq!(book.best_ask(), Some((d("99.6"), d("3"))));
    let st = h.stats();
    assert_eq!(
        (st.resyncs, st.book_errors, st.snapshots_applied),
        (0, 0, 1)
    );
    // A gap, then a snapshot with a level finer than any seen (10 decimals): installed.
    t.message(&mut h, 6 * s, &diff(106, 106, ("99.1", "1")));
    assert!(!h.in_sync(btc));
    feeder.push(snapshot(
        btc,
        105,
        &[("99.5000000001", "1"), ("99.4", "1")],
        &[("99.60", "3")],
    ));
    h.on_poll(&mut t.cx(7 * s));
    assert!(h.in_sync(btc));
    let book = h.book(btc).unwrap();
    assert_eq!(book.best_bid(), Some((d("99.5000000001"), d("1"))));
    assert_eq!(book.price_scale(), Some(10));
    assert_eq!(h.stats().snapshots_applied, 2);
}

/// Issue 20 item 1: a subscribed instrument costs no book storage until its data arrives.
#[test]
fn idle_instruments_hold_no_book_storage() {
    let symbols: Vec<String> = (0..500).map(|i| format!("S{i:04}USDT")).collect();
    let names: Vec<&str> = symbols.iter().map(String::as_str).collect();
    let (a, reg) = adapter(
        BinanceConfig::spot(),
        &Subscription::product(&names, &[Channel::Trade, Channel::Depth(DepthSpeed::Ms100)]),
    );
    let h = FeedHandler::new(a, Box::new(QueuedSnapshots::new()), FeedConfig::default());
    for s in &symbols {
        let id = reg.lookup("binance", s).unwrap();
        let book = h.book(id).unwrap();
        assert_eq!((book.heap_bytes(), book.capacity()), (0, (0, 0)), "{s}");
    }
}
