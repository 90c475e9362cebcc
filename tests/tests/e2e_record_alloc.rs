//! Recording keeps the I/O thread's steady state allocation-free: a [`Recorder`] around the
//! Binance feed handler (snapshot source teed) copies every message into its ring and hands
//! it on, with the journal writer draining on its own thread — zero allocations per message
//! on the calling thread after warm-up, over the second half of a real capture.

use std::io::BufReader;
use std::path::PathBuf;

use tickwire_engine::Registry;
use tickwire_engine::adapter::{FeedConfig, FeedHandler, QueuedSnapshots};
use tickwire_engine::handler::{
    Actions, ConnectionId, Context, Message, Outbox, Publisher, WsHandler,
};
use tickwire_engine::raw::raw_channel;
use tickwire_engine::ring::channel;
use tickwire_feeds::binance::{
    BinanceAdapter, BinanceConfig, Channel, DepthSpeed, Subscription, TimeUnit,
    parse_depth_snapshot,
};
use tickwire_feeds::capture::CaptureReader;
use tickwire_tests::alloc::{CountingAlloc, allocations, count_this_thread};
use tickwire_tools::journal::{Header, JournalWriter, Recorder, TeeSnapshots, spawn_writer};

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

#[test]
fn recording_allocates_nothing_per_message_after_warm_up() {
    let lines = load("binance_spot_btcusdt_20240808.gz");
    let registry = Registry::new();
    let subs = Subscription::product(
        &["BTCUSDT"],
        &[
            Channel::Depth(DepthSpeed::Ms100),
            Channel::BookTicker,
            Channel::Trade,
        ],
    );
    let adapter = BinanceAdapter::new(BinanceConfig::spot(), &subs, &registry).unwrap();
    let btc = registry.lookup("binance", "BTCUSDT").unwrap();
    let snaps = QueuedSnapshots::new();
    let feeder = snaps.feeder();
    let (tee, tap) = TeeSnapshots::new(snaps, vec![(btc, "BTCUSDT".into())]);
    let handler = FeedHandler::new(adapter, Box::new(tee), FeedConfig::default());
    let streams: Vec<String> = subs.iter().map(Subscription::stream).collect();
    let (producer, ring) = raw_channel(4 << 20);
    let mut recorder = Recorder::new(handler, producer, &streams).with_snapshots(tap);
    let header = Header::new("binance", &streams, 0);
    let sink = spawn_writer(
        vec![ring],
        JournalWriter::new(std::io::sink(), &header).unwrap(),
    )
    .unwrap();

    let (p, mut consumer) = channel(1 << 16);
    let mut publisher = Publisher::new(vec![p]);
    let mut outbox = Outbox::new(1 << 20);
    let mut actions = Actions::default();
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
    recorder.on_connect(&mut Context::new(
        0,
        ConnectionId(1),
        &mut outbox,
        &mut publisher,
        &mut actions,
    ));
    let half = lines.len() / 2;
    let mut before = 0;
    for (i, (recv, frame)) in lines.iter().enumerate() {
        let snapshot = frame.starts_with(b"{\"lastUpdateId\"");
        if snapshot {
            let mut b = frame.clone();
            feeder.push(parse_depth_snapshot(&mut b, btc, TimeUnit::Millisecond).unwrap());
        }
        buf.clear();
        buf.extend_from_slice(frame);
        if i == half {
            before = allocations();
            count_this_thread(true);
        }
        let mut cx = Context::new(
            *recv,
            ConnectionId(1),
            &mut outbox,
            &mut publisher,
            &mut actions,
        );
        if !snapshot {
            recorder.on_message(Message::Text(&mut buf), &mut cx);
        }
        recorder.on_poll(&mut cx);
        while consumer.pop().is_some() {}
        // Give the writer a chance: a full ring would count as lost, not allocate.
        if i % 4096 == 0 {
            std::thread::yield_now();
        }
    }
    count_this_thread(false);
    let allocated = allocations() - before;
    assert!(recorder.inner().in_sync(btc));
    drop(recorder);
    let (stats, _, result) = sink.finish();
    result.unwrap();
    // Everything reached the journal: the session start, every frame, the snapshot.
    assert_eq!(stats.lost, 0);
    assert_eq!(stats.messages, lines.len() as u64 - 1);
    assert_eq!(stats.snapshots, 1);
    assert_eq!(
        allocated,
        0,
        "allocations while recording {} messages",
        lines.len() - half
    );
}
