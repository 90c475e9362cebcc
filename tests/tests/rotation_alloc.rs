//! A Binance feed wrapped in a `RotatingFeed` allocates nothing per message between
//! rotations: the capture replayed through it (decode, sequence check, validating book,
//! publish, plus the rotation's leg routing and timer bookkeeping) after warm-up.

use std::io::BufReader;
use std::path::PathBuf;

use tickwire_engine::Registry;
use tickwire_engine::adapter::{
    FeedConfig, FeedFactory, QueuedSnapshots, RotatingFeed, SnapshotSource,
};
use tickwire_engine::handler::{
    Actions, ConnectionId, Context, Message, Outbox, Publisher, WsHandler,
};
use tickwire_engine::ring::channel;
use tickwire_feeds::binance::rotation::rotation_config;
use tickwire_feeds::binance::{
    BinanceAdapter, BinanceConfig, Channel, DepthSpeed, Market, Subscription, TimeUnit,
    parse_depth_snapshot,
};
use tickwire_feeds::capture::CaptureReader;
use tickwire_tests::alloc::{CountingAlloc, allocations, count_this_thread};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

fn load(name: &str) -> Vec<(u64, Vec<u8>)> {
    let local = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data")
        .join(name);
    let path = if local.exists() {
        local
    } else {
        PathBuf::from("/work/shared/data").join(name)
    };
    let f = std::fs::File::open(path).expect("capture file");
    let mut r = CaptureReader::new(BufReader::new(flate2::read::GzDecoder::new(f)));
    let mut v = Vec::new();
    while let Some(line) = r.next() {
        let line = line.unwrap();
        v.push((line.recv_ns, line.frame.to_vec()));
    }
    v
}

/// Replays `name` through a rotating feed; returns (messages, allocations) over the second
/// half.
fn steady_state(market: Market, name: &str) -> (u64, u64) {
    let lines = load(name);
    let registry = Registry::new();
    let mut config = BinanceConfig::for_market(market);
    config.usdm_routed = false;
    let depth = match market {
        Market::Spot => DepthSpeed::Ms100,
        Market::UsdM => DepthSpeed::Ms0,
    };
    let subs = Subscription::product(
        &["BTCUSDT"],
        &[Channel::Depth(depth), Channel::BookTicker, Channel::Trade],
    );
    let snaps = QueuedSnapshots::new();
    let feeder = snaps.feeder();
    let r = registry.clone();
    let factory: FeedFactory<BinanceAdapter> = Box::new(move || {
        let adapter = BinanceAdapter::new(config.clone(), &subs, &r).ok()?;
        Some((adapter, Box::new(snaps.clone()) as Box<dyn SnapshotSource>))
    });
    let mut feed = RotatingFeed::new(factory, FeedConfig::default(), rotation_config()).unwrap();
    let btc = registry.lookup(market.venue(), "BTCUSDT").unwrap();
    let (p, mut consumer) = channel(1 << 16);
    let mut publisher = Publisher::new(vec![p]);
    let mut outbox = Outbox::new(1 << 20);
    let mut actions = Actions::default();
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
    feed.on_connect(&mut Context::new(
        lines[0].0,
        ConnectionId(1),
        &mut outbox,
        &mut publisher,
        &mut actions,
    ));
    let half = lines.len() / 2;
    let mut messages = 0;
    let mut allocs = 0;
    for (i, (recv, frame)) in lines.iter().enumerate() {
        let snapshot = frame.starts_with(b"{\"lastUpdateId\"");
        if snapshot {
            let mut b = frame.clone();
            feeder.push(parse_depth_snapshot(&mut b, btc, TimeUnit::Millisecond).unwrap());
        }
        buf.clear();
        buf.extend_from_slice(frame);
        let measure = i >= half;
        messages += measure as u64;
        let before = allocations();
        count_this_thread(measure);
        let mut cx = Context::new(
            *recv,
            ConnectionId(1),
            &mut outbox,
            &mut publisher,
            &mut actions,
        );
        if !snapshot {
            feed.on_message(Message::Text(&mut buf), &mut cx);
        }
        feed.on_poll(&mut cx);
        while consumer.pop().is_some() {}
        count_this_thread(false);
        allocs += allocations() - before;
    }
    assert!(feed.active().in_sync(btc));
    assert_eq!(feed.active().stats().gaps, 0);
    assert!(!feed.rotating());
    (messages, allocs)
}

#[test]
fn rotating_feed_allocates_nothing_per_message_between_rotations() {
    for (market, name) in [
        (Market::Spot, "binance_spot_btcusdt_20240808.gz"),
        (Market::UsdM, "binance_usdm_btcusdt_20240808.gz"),
    ] {
        let (messages, allocs) = steady_state(market, name);
        eprintln!("{market:?}: {messages} messages, {allocs} allocations");
        assert!(messages > 20_000);
        assert_eq!(allocs, 0, "{market:?}");
    }
    // The counter sees this thread's allocations when on.
    let before = allocations();
    count_this_thread(true);
    let v: Vec<u8> = std::hint::black_box(Vec::with_capacity(100));
    count_this_thread(false);
    assert!(v.capacity() >= 100);
    assert!(allocations() > before);
}
