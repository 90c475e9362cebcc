//! A Binance feed arbitrated over two lines allocates nothing per message after warm-up:
//! the capture replayed on both lines (line B three messages behind line A, each line
//! missing some depth updates the other fills, so holds are taken and released), through
//! decode, arbitration, sequence checks, the validating book and publishing.

use std::io::BufReader;
use std::path::PathBuf;

use tickwire_engine::Registry;
use tickwire_engine::adapter::{
    ArbitratedFeed, ArbitrationConfig, FeedConfig, LineFactory, QueuedSnapshots, SnapshotSource,
};
use tickwire_engine::handler::{
    Actions, ConnectionId, Context, Leg, Message, Outbox, Publisher, WsHandler,
};
use tickwire_engine::ring::channel;
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

/// Line B runs this many messages behind line A.
const LAG: usize = 3;

#[test]
fn two_lines_allocate_nothing_per_message_after_warm_up() {
    let frames = load("binance_spot_btcusdt_20240808.gz");
    let registry = Registry::new();
    let mut config = BinanceConfig::for_market(Market::Spot);
    config.usdm_routed = false;
    let subs = Subscription::product(
        &["BTCUSDT"],
        &[
            Channel::Depth(DepthSpeed::Ms100),
            Channel::BookTicker,
            Channel::Trade,
        ],
    );
    let snaps = QueuedSnapshots::new();
    let feeder = snaps.feeder();
    let r = registry.clone();
    let factory: LineFactory<BinanceAdapter> = Box::new(move |_| {
        let adapter = BinanceAdapter::new(config.clone(), &subs, &r).ok()?;
        Some((adapter, Box::new(snaps.clone()) as Box<dyn SnapshotSource>))
    });
    let mut feed = ArbitratedFeed::new(
        factory,
        2,
        FeedConfig::default(),
        ArbitrationConfig::default(),
    )
    .unwrap();
    let btc = registry.lookup(Market::Spot.venue(), "BTCUSDT").unwrap();
    let (p, mut consumer) = channel(1 << 16);
    let mut publisher = Publisher::new(vec![p]);
    let mut outbox = Outbox::new(1 << 20);
    let mut actions = Actions::default();
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
    for leg in 0..2 {
        let mut cx = Context::new(
            frames[0].0,
            ConnectionId(1),
            &mut outbox,
            &mut publisher,
            &mut actions,
        )
        .for_leg(Leg(leg), 2);
        feed.on_connect(&mut cx);
    }
    let is_depth = |f: &[u8]| f.windows(13).any(|w| w == b"depthUpdate\",");
    let half = frames.len() / 2;
    let (mut messages, mut allocs, mut depth) = (0u64, 0u64, 0usize);
    for i in 0..frames.len() + LAG {
        // Line A gets frame i, line B frame i - LAG; each misses some depth updates.
        for (leg, n) in [(0u32, Some(i)), (1, i.checked_sub(LAG))] {
            let Some((recv, frame)) = n.and_then(|n| frames.get(n)) else {
                continue;
            };
            let snapshot = frame.starts_with(b"{\"lastUpdateId\"");
            if snapshot {
                if leg == 0 {
                    let mut b = frame.clone();
                    feeder.push(parse_depth_snapshot(&mut b, btc, TimeUnit::Millisecond).unwrap());
                }
                continue;
            }
            if is_depth(frame) {
                depth += usize::from(leg == 0);
                let skip = match leg {
                    0 => depth % 50 == 7,
                    _ => depth % 70 == 30,
                };
                if skip && depth > 20 {
                    continue;
                }
            }
            buf.clear();
            buf.extend_from_slice(frame);
            let measure = n.is_some_and(|n| n >= half);
            messages += u64::from(measure);
            let before = allocations();
            count_this_thread(measure);
            let mut cx = Context::new(
                *recv + u64::from(leg) * 1000,
                ConnectionId(1),
                &mut outbox,
                &mut publisher,
                &mut actions,
            )
            .for_leg(Leg(leg), 2);
            feed.on_message(Message::Text(&mut buf), &mut cx);
            feed.on_poll(&mut cx);
            while consumer.pop().is_some() {}
            count_this_thread(false);
            allocs += allocations() - before;
        }
    }
    let report = feed.report();
    eprintln!("{messages} messages, {allocs} allocations; {report:?}");
    assert!(feed.arbiter().in_sync(btc));
    assert_eq!(feed.arbiter().stats().gaps, 0);
    assert_eq!(report.gaps, 0);
    assert!(report.lines[0].held > 10, "holds were taken");
    assert!(messages > 40_000);
    assert_eq!(allocs, 0);
}
