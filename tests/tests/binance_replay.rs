//! Real Binance captures (shared/data) through the full sync path: buffered diffs, the
//! in-capture REST snapshot, then the diff chain — through `FeedHandler` exactly as the
//! engine drives it, with a consumer rebuilding its own book from the published events.

use std::io::BufReader;
use std::path::PathBuf;

use tickwire_engine::adapter::{BookSnapshot, FeedConfig, FeedHandler, QueuedSnapshots};
use tickwire_engine::book::{Book, BookConfig};
use tickwire_engine::event::{EventKind, Flags, StatusKind};
use tickwire_engine::handler::{
    Actions, ConnectionId, Context, Message, Outbox, Publisher, WsHandler,
};
use tickwire_engine::ring::{Consumer, channel};
use tickwire_engine::{Decimal, Event, InstrumentId, Registry};
use tickwire_feeds::binance::{
    BinanceAdapter, BinanceConfig, Channel, DepthSpeed, Market, Subscription, TimeUnit,
    parse_depth_snapshot,
};
use tickwire_feeds::capture::CaptureReader;

fn data(name: &str) -> PathBuf {
    let local = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data")
        .join(name);
    if local.exists() {
        local
    } else {
        PathBuf::from("/work/shared/data").join(name)
    }
}

/// Every line of a capture: (recv ns, frame).
fn load(name: &str) -> Vec<(u64, Vec<u8>)> {
    let f = std::fs::File::open(data(name)).expect("capture file");
    let mut r = CaptureReader::new(BufReader::new(flate2::read::GzDecoder::new(f)));
    let mut v = Vec::new();
    while let Some(line) = r.next() {
        let line = line.unwrap();
        v.push((line.recv_ns, line.frame.to_vec()));
    }
    v
}

fn is_snapshot(frame: &[u8]) -> bool {
    frame.starts_with(b"{\"lastUpdateId\"")
}

fn is_depth(frame: &[u8]) -> bool {
    frame.windows(13).take(40).any(|w| w == b"\"btcusdt@dept")
}

struct Replay {
    handler: FeedHandler<BinanceAdapter>,
    feeder: QueuedSnapshots,
    outbox: Outbox,
    publisher: Publisher,
    actions: Actions,
    consumer: Consumer,
    btc: InstrumentId,
    market: Market,
    /// The consumer's book, rebuilt from events only.
    book: Book,
    events: Vec<Event>,
}

impl Replay {
    fn new(market: Market) -> Replay {
        let registry = Registry::new();
        let depth = match market {
            Market::Spot => DepthSpeed::Ms100,
            Market::UsdM => DepthSpeed::Ms0,
        };
        let mut config = BinanceConfig::for_market(market);
        config.usdm_routed = false; // one connection carried all three streams in 2024
        let subs = Subscription::product(
            &["BTCUSDT"],
            &[Channel::Depth(depth), Channel::BookTicker, Channel::Trade],
        );
        let adapter = BinanceAdapter::new(config, &subs, &registry).unwrap();
        let btc = registry.lookup(market.venue(), "BTCUSDT").unwrap();
        let snaps = QueuedSnapshots::new();
        let feeder = snaps.feeder();
        let handler = FeedHandler::new(adapter, Box::new(snaps), FeedConfig::default());
        let (p, c) = channel(1 << 16);
        let mut r = Replay {
            handler,
            feeder,
            outbox: Outbox::new(1 << 20),
            publisher: Publisher::new(vec![p]),
            actions: Actions::default(),
            consumer: c,
            btc,
            market,
            book: Book::new(BookConfig::with_depth(
                BinanceConfig::for_market(market).book_depth,
            )),
            events: Vec::new(),
        };
        let mut cx = Context::new(
            0,
            ConnectionId(1),
            &mut r.outbox,
            &mut r.publisher,
            &mut r.actions,
        );
        r.handler.on_connect(&mut cx);
        r
    }

    /// Feeds one capture line; returns the events it published (also applied to the
    /// consumer book).
    fn feed(&mut self, recv: u64, frame: &[u8]) -> &[Event] {
        let mut cx = Context::new(
            recv,
            ConnectionId(1),
            &mut self.outbox,
            &mut self.publisher,
            &mut self.actions,
        );
        let mut buf = frame.to_vec();
        if is_snapshot(frame) {
            let snap = parse_depth_snapshot(&mut buf, self.btc, TimeUnit::Millisecond).unwrap();
            self.feeder.push(snap);
        } else {
            self.handler.on_message(Message::Text(&mut buf), &mut cx);
        }
        self.handler.on_poll(&mut cx);
        self.events.clear();
        while let Some(e) = self.consumer.pop() {
            if e.kind() == EventKind::BookLevel || e.kind() == EventKind::Status {
                self.book.apply_event(&e).unwrap();
            }
            self.events.push(e);
        }
        &self.events
    }

    /// The handler's validating book as a snapshot at its last applied id.
    fn snapshot_now(&self) -> BookSnapshot {
        let b = self.handler.book(self.btc).unwrap();
        BookSnapshot {
            instrument: self.btc,
            last_id: b.seq(),
            exchange_ts: 0,
            bids: b.bids(usize::MAX).collect(),
            asks: b.asks(usize::MAX).collect(),
        }
    }
}

type Top = (Option<(Decimal, Decimal)>, Option<(Decimal, Decimal)>);

#[derive(Debug, Default)]
struct BboCheck {
    bbos: u64,
    compared: u64,
    matched: u64,
    mismatched: u64,
    bbo_ahead: u64,
    states: u64,
    states_before_first_bbo: u64,
    first_mismatches: Vec<String>,
}

/// Replays a whole capture, checking sync and comparing every bookTicker with the book.
fn replay_capture(market: Market, name: &str) -> (Replay, BboCheck) {
    let lines = load(name);
    let mut r = Replay::new(market);
    // Book states at each consistent point (last applied u, top), and every BBO (u, top).
    let mut states: Vec<(u64, Top)> = Vec::new();
    let mut bbos: Vec<(u64, Top)> = Vec::new();
    let mut statuses = Vec::new();
    for (recv, frame) in &lines {
        let btc = r.btc;
        let events = r.feed(*recv, frame).to_vec();
        for e in &events {
            match e.kind() {
                EventKind::Bbo => {
                    let b = e.as_bbo().unwrap();
                    bbos.push((
                        b.seq,
                        (
                            Some((b.bid_price, b.bid_qty)),
                            Some((b.ask_price, b.ask_qty)),
                        ),
                    ));
                }
                EventKind::Status => statuses.push(e.as_status().unwrap().kind),
                EventKind::BookLevel if e.flags.contains(Flags::LAST_IN_BATCH) => {
                    assert!(r.book.is_valid());
                    // The consumer's book and the I/O thread's book agree at every boundary.
                    let hb = r.handler.book(btc).unwrap();
                    assert_eq!(r.book.best_bid(), hb.best_bid());
                    assert_eq!(r.book.best_ask(), hb.best_ask());
                    assert_eq!(r.book.seq(), hb.seq());
                    states.push((r.book.seq(), (r.book.best_bid(), r.book.best_ask())));
                }
                _ => {}
            }
        }
    }
    assert!(
        statuses.is_empty(),
        "no status events expected: {statuses:?}"
    );
    // Full consumer book == I/O thread book at the end.
    let hb = r.handler.book(r.btc).unwrap();
    assert!(r.book.bids(usize::MAX).eq(hb.bids(usize::MAX)));
    assert!(r.book.asks(usize::MAX).eq(hb.asks(usize::MAX)));
    // bookTicker vs book: bookTicker u and depth u share one id space, so the book at a
    // consistent point with last id L shows the top of the latest bookTicker B <= L.
    // Compare every BBO with the book states L in [B, next B).
    let mut check = BboCheck {
        bbos: bbos.len() as u64,
        ..BboCheck::default()
    };
    let mut sorted = bbos.clone();
    sorted.sort_by_key(|b| b.0);
    sorted.dedup_by_key(|b| b.0);
    let mut si = 0;
    states.sort_by_key(|s| s.0);
    check.states = states.len() as u64;
    check.states_before_first_bbo = states
        .iter()
        .filter(|s| sorted.first().is_none_or(|b| s.0 < b.0))
        .count() as u64;
    for (k, (b, top)) in sorted.iter().enumerate() {
        let next = sorted.get(k + 1).map_or(u64::MAX, |n| n.0);
        while si < states.len() && states[si].0 < *b {
            si += 1;
        }
        let mut j = si;
        let mut any = false;
        while j < states.len() && states[j].0 < next {
            any = true;
            if states[j].1 == *top {
                check.matched += 1;
            } else {
                check.mismatched += 1;
                if check.first_mismatches.len() < 5 {
                    check.first_mismatches.push(format!(
                        "bbo u={b} {:?} vs book L={} {:?}",
                        top, states[j].0, states[j].1
                    ));
                }
            }
            j += 1;
        }
        if any {
            check.compared += 1;
        } else {
            check.bbo_ahead += 1;
        }
    }
    (r, check)
}

fn assert_clean_sync(r: &Replay, expect_stale: u64) {
    let s = r.handler.stats();
    assert_eq!(s.gaps, 0);
    assert_eq!(s.resyncs, 0);
    assert_eq!(s.snapshots_requested, 1);
    assert_eq!(s.snapshots_applied, 1);
    assert_eq!(s.snapshot_failures, 0);
    assert_eq!(s.book_errors, 0);
    assert_eq!(s.decode_errors, 0);
    assert_eq!(s.crossed, 0, "book never crossed at a message boundary");
    assert_eq!(s.stale_diffs, expect_stale);
    assert_eq!(s.decode.unknown_messages, 0);
    assert!(r.handler.in_sync(r.btc));
    let _ = r.market;
}

#[test]
fn spot_capture_syncs_without_gaps_and_matches_book_ticker() {
    let (r, check) = replay_capture(Market::Spot, "binance_spot_btcusdt_20240808.gz");
    // The first two buffered diffs are older than the snapshot; the third is applied.
    assert_clean_sync(&r, 0);
    let s = r.handler.stats();
    eprintln!("spot: {s:?}\nspot bookTicker check: {check:?}");
    assert_eq!(s.messages, 41_248);
    assert_eq!(check.bbos, 28_040);
    assert_eq!(check.mismatched, 0, "{:?}", check.first_mismatches);
    assert!(check.compared > 1_000, "{check:?}");
    // Every book state after the first bookTicker was compared, and matched.
    assert_eq!(check.matched, check.states - check.states_before_first_bbo);
}

#[test]
fn usdm_capture_syncs_without_gaps_and_matches_book_ticker() {
    let (r, check) = replay_capture(Market::UsdM, "binance_usdm_btcusdt_20240808.gz");
    assert_clean_sync(&r, 0);
    let s = r.handler.stats();
    eprintln!("usdm: {s:?}\nusdm bookTicker check: {check:?}");
    assert_eq!(s.messages, 93_953);
    assert_eq!(check.bbos, 66_089);
    assert_eq!(check.mismatched, 0, "{:?}", check.first_mismatches);
    assert!(check.compared > 1_000, "{check:?}");
    // Every book state after the first bookTicker was compared, and matched.
    assert_eq!(check.matched, check.states - check.states_before_first_bbo);
}

/// A diff cut out of the capture: Gap and Resync for the instrument, a new snapshot
/// requested, and after it (built from an uncut replay at a later diff) the book is exactly
/// the uncut replay's book.
fn gap_recovers(market: Market, name: &str) {
    let lines = load(name);
    let depth_lines: Vec<usize> = (0..lines.len())
        .filter(|&i| is_depth(&lines[i].1))
        .collect();
    let cut = depth_lines[depth_lines.len() / 2];
    let resume_at = depth_lines[depth_lines.len() / 2 + 10];
    // Reference: uncut, recording its book right after line `resume_at`.
    let mut reference = Replay::new(market);
    let mut later_snapshot = None;
    for (i, (recv, frame)) in lines.iter().enumerate() {
        reference.feed(*recv, frame);
        if i == resume_at {
            later_snapshot = Some(reference.snapshot_now());
        }
    }
    let later_snapshot = later_snapshot.unwrap();
    let mut r = Replay::new(market);
    let mut saw = Vec::new();
    for (i, (recv, frame)) in lines.iter().enumerate() {
        if i == cut {
            continue;
        }
        let requests_before = r.feeder.requests();
        let events = r.feed(*recv, frame).to_vec();
        for e in &events {
            if let Some(s) = e.as_status() {
                assert_eq!(e.instrument, r.btc);
                saw.push((s.kind, i));
            }
        }
        if r.feeder.requests() > requests_before && i > cut {
            assert!(!r.book.is_valid(), "consumer book invalid while resyncing");
        }
        if i == resume_at {
            // The snapshot ends at this line's diff: installed with the next diff that joins
            // it (spot drops u <= lastUpdateId), or at once (USD-M applies u == lastUpdateId).
            r.feeder.push(later_snapshot.clone());
        }
    }
    let next_after_cut = depth_lines[depth_lines.len() / 2 + 1];
    assert_eq!(
        saw,
        [
            (StatusKind::Gap, next_after_cut),
            (StatusKind::Resync, next_after_cut)
        ]
    );
    let s = r.handler.stats();
    assert_eq!(
        (
            s.gaps,
            s.resyncs,
            s.snapshots_requested,
            s.snapshots_applied
        ),
        (1, 1, 2, 2)
    );
    assert!(r.handler.in_sync(r.btc));
    // Same book as the uncut replay, level for level, on both sides.
    let want = reference.handler.book(reference.btc).unwrap();
    assert!(r.book.bids(usize::MAX).eq(want.bids(usize::MAX)));
    assert!(r.book.asks(usize::MAX).eq(want.asks(usize::MAX)));
    assert_eq!(r.book.seq(), want.seq());
}

#[test]
fn spot_gap_resyncs_and_recovers() {
    gap_recovers(Market::Spot, "binance_spot_btcusdt_20240808.gz");
}

#[test]
fn usdm_gap_resyncs_and_recovers() {
    gap_recovers(Market::UsdM, "binance_usdm_btcusdt_20240808.gz");
}

/// Make-before-break: connection A carries the first part of the capture; B connects near
/// the middle and receives the same lines `lead` lines ahead of A (negative: behind), and
/// takes over as soon as it is ready. The merged published stream must equal a single
/// connection's exactly: nothing lost, nothing twice.
fn rotation_is_exactly_once(market: Market, name: &str, lead: isize) {
    let lines = load(name);
    let published = |r: &mut Replay, recv: u64, f: &[u8], out: &mut Vec<Event>| {
        out.extend(r.feed(recv, f).iter().copied());
    };
    let mut single = Replay::new(market);
    let mut want = Vec::new();
    for (recv, f) in &lines {
        published(&mut single, *recv, f, &mut want);
    }
    let start = lines.len() / 2;
    let stop = start + 2_000;
    let mut a = Replay::new(market);
    let mut got = Vec::new();
    for (recv, f) in &lines[..start] {
        published(&mut a, *recv, f, &mut got);
    }
    let registry = Registry::new();
    let mut cfg = BinanceConfig::for_market(market);
    cfg.usdm_routed = false;
    let depth = if market == Market::Spot {
        DepthSpeed::Ms100
    } else {
        DepthSpeed::Ms0
    };
    let subs = Subscription::product(
        &["BTCUSDT"],
        &[Channel::Depth(depth), Channel::BookTicker, Channel::Trade],
    );
    let adapter = BinanceAdapter::new(cfg, &subs, &registry).unwrap();
    let mut b = FeedHandler::standby(
        adapter,
        Box::new(QueuedSnapshots::new()),
        FeedConfig::default(),
    );
    let (mut ob, mut pb, mut acts) = (
        Outbox::new(1 << 20),
        Publisher::new(Vec::new()),
        Actions::default(),
    );
    b.on_connect(&mut Context::new(
        0,
        ConnectionId(2),
        &mut ob,
        &mut pb,
        &mut acts,
    ));
    let mut took_over_at = None;
    let end = lines.len() + lead.unsigned_abs() + 1;
    for step in start..end {
        if took_over_at.is_none() && step < lines.len() {
            let (recv, f) = &lines[step];
            published(&mut a, *recv, f, &mut got);
        }
        let j = step as isize + lead;
        if j >= start as isize && (j as usize) < lines.len() {
            let (recv, f) = &lines[j as usize];
            if !is_snapshot(f) {
                let mut buf = f.clone();
                let mut cx = Context::new(
                    *recv,
                    ConnectionId(2),
                    &mut a.outbox,
                    &mut a.publisher,
                    &mut a.actions,
                );
                b.on_message(Message::Text(&mut buf), &mut cx);
            }
        }
        if took_over_at.is_none() && step >= stop && b.ready_to_take_over(&a.handler.watermarks()) {
            let now = lines[step.min(lines.len() - 1)].0;
            let mut cx = Context::new(
                now,
                ConnectionId(2),
                &mut a.outbox,
                &mut a.publisher,
                &mut a.actions,
            );
            let report = b.take_over(&mut a.handler, &mut cx);
            eprintln!("{market:?} lead {lead}: take-over at step {step}: {report:?}");
            assert_eq!(report.joined + report.joining, 1, "{report:?}");
            assert_eq!((report.resynced, report.overflowed), (0, false));
            took_over_at = Some(step);
        }
        if took_over_at.is_some() {
            // B now publishes (into the same consumer ring).
            got.extend(std::iter::from_fn(|| a.consumer.pop()));
        }
    }
    assert!(took_over_at.is_some());
    assert!(!got.iter().any(|e| e.kind() == EventKind::Status));
    assert_eq!(got.len(), want.len());
    // Receive times follow whichever connection delivered an event; compare the rest.
    let strip = |v: &[Event]| -> Vec<Event> {
        v.iter()
            .map(|e| {
                let mut e = *e;
                e.recv_ts = 0;
                e
            })
            .collect()
    };
    assert!(
        strip(&got) == strip(&want),
        "merged stream differs from a single connection's"
    );
    assert!(b.in_sync(a.btc));
    eprintln!("B stats after take-over: {:?}", b.stats());
}

#[test]
fn spot_rotation_is_exactly_once() {
    for lead in [0, 300, -300] {
        rotation_is_exactly_once(Market::Spot, "binance_spot_btcusdt_20240808.gz", lead);
    }
}

#[test]
fn usdm_rotation_is_exactly_once() {
    for lead in [0, 300, -300] {
        rotation_is_exactly_once(Market::UsdM, "binance_usdm_btcusdt_20240808.gz", lead);
    }
}

/// The hand scanner and the simd-json path agree on every line of both captures (events,
/// frames, counters), and the scanner answers for every market-data line.
#[test]
fn scanner_agrees_with_simd_json_on_every_capture_line() {
    use tickwire_feeds::binance::{Decoder, Symbols};
    for name in [
        "binance_spot_btcusdt_20240808.gz",
        "binance_usdm_btcusdt_20240808.gz",
    ] {
        let lines = load(name);
        let mk = |fast: bool| {
            let mut d = Decoder::new(
                Symbols::interning("binance", Registry::new()),
                TimeUnit::Millisecond,
                false,
            );
            d.set_fast_scan(fast);
            d
        };
        let (mut fast, mut slow) = (mk(true), mk(false));
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for (recv, frame) in &lines {
            let (mut x, mut y) = (frame.clone(), frame.clone());
            a.clear();
            b.clear();
            let ra = fast.decode(&mut x, *recv, &mut a);
            let rb = slow.decode(&mut y, *recv, &mut b);
            assert_eq!(ra, rb);
            assert_eq!(a, b);
        }
        let fs = fast.stats();
        assert_eq!(
            tickwire_engine::adapter::DecodeStats { fast_path: 0, ..fs },
            slow.stats()
        );
        // Every line but the REST snapshot took the fast path, and its hot shapes path.
        assert_eq!(fs.fast_path, lines.len() as u64 - 1);
        assert_eq!(fast.hot_path_frames(), lines.len() as u64 - 1);
        eprintln!("{name}: {} lines agree; {:?}", lines.len(), fast.stats());
    }
}
