//! Steady state allocates nothing: decode + sequence check + validating book + publish
//! (FeedHandler, as the I/O thread runs it) and the consumer's book rebuild, per message,
//! after warm-up — counted by a global allocator in this test binary.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::BufReader;
use std::path::PathBuf;

use tickwire_engine::Registry;
use tickwire_engine::adapter::{FeedConfig, FeedHandler, QueuedSnapshots};
use tickwire_engine::book::{Book, BookConfig};
use tickwire_engine::handler::{
    Actions, ConnectionId, Context, Message, Outbox, Publisher, WsHandler,
};
use tickwire_engine::ring::channel;
use tickwire_feeds::binance::{
    BinanceAdapter, BinanceConfig, Channel, DepthSpeed, Market, Subscription, TimeUnit,
    parse_depth_snapshot,
};
use tickwire_feeds::capture::CaptureReader;

struct Counting;

thread_local! {
    static ON: Cell<bool> = const { Cell::new(false) };
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
    static FREES: Cell<u64> = const { Cell::new(0) };
}

fn count(c: &'static std::thread::LocalKey<Cell<u64>>) {
    // try_with: the allocator may run while thread locals are being torn down.
    let _ = ON.try_with(|on| {
        if on.get() {
            let _ = c.try_with(|n| n.set(n.get() + 1));
        }
    });
}

// SAFETY: every call is forwarded unchanged to the system allocator; counting touches only
// const-initialised thread locals, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(&ALLOCS);
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(&FREES);
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(&ALLOCS);
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn counted<R>(f: impl FnOnce() -> R) -> R {
    ON.with(|on| on.set(true));
    let r = f();
    ON.with(|on| on.set(false));
    r
}

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

/// Replays `name`; returns (messages counted, allocations, frees) over the second half.
fn steady_state(market: Market, name: &str) -> (u64, u64, u64) {
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
    let book_depth = config.book_depth;
    let adapter = BinanceAdapter::new(config, &subs, &registry).unwrap();
    let btc = registry.lookup(market.venue(), "BTCUSDT").unwrap();
    let snaps = QueuedSnapshots::new();
    let feeder = snaps.feeder();
    let mut handler = FeedHandler::new(adapter, Box::new(snaps), FeedConfig::default());
    let (p, mut consumer) = channel(1 << 16);
    let mut publisher = Publisher::new(vec![p]);
    let mut outbox = Outbox::new(1 << 20);
    let mut actions = Actions::default();
    let mut book = Book::new(BookConfig::with_depth(book_depth));
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
    handler.on_connect(&mut Context::new(
        0,
        ConnectionId(1),
        &mut outbox,
        &mut publisher,
        &mut actions,
    ));
    let half = lines.len() / 2;
    let mut messages = 0;
    for (i, (recv, frame)) in lines.iter().enumerate() {
        if frame.starts_with(b"{\"lastUpdateId\"") {
            let mut b = frame.clone();
            feeder.push(parse_depth_snapshot(&mut b, btc, TimeUnit::Millisecond).unwrap());
        }
        buf.clear();
        buf.extend_from_slice(frame);
        let measure = i >= half;
        messages += measure as u64;
        let mut step = || {
            let mut cx = Context::new(
                *recv,
                ConnectionId(1),
                &mut outbox,
                &mut publisher,
                &mut actions,
            );
            if !frame.starts_with(b"{\"lastUpdateId\"") {
                handler.on_message(Message::Text(&mut buf), &mut cx);
            }
            handler.on_poll(&mut cx);
            while let Some(e) = consumer.pop() {
                book.apply_event(&e).unwrap();
            }
        };
        if measure { counted(step) } else { step() }
    }
    assert!(handler.in_sync(btc));
    assert!(book.is_valid());
    assert_eq!(handler.stats().gaps, 0);
    (messages, ALLOCS.with(Cell::get), FREES.with(Cell::get))
}

#[test]
fn no_allocation_per_message_after_warm_up() {
    for (market, name) in [
        (Market::Spot, "binance_spot_btcusdt_20240808.gz"),
        (Market::UsdM, "binance_usdm_btcusdt_20240808.gz"),
    ] {
        ALLOCS.with(|c| c.set(0));
        FREES.with(|c| c.set(0));
        let (messages, allocs, frees) = steady_state(market, name);
        eprintln!("{market:?}: {messages} messages, {allocs} allocations, {frees} frees");
        assert!(messages > 20_000);
        assert_eq!((allocs, frees), (0, 0), "{market:?}");
    }
}

#[test]
fn the_counter_counts() {
    // A test that could fail: the allocator does see allocations while counting.
    ALLOCS.with(|c| c.set(0));
    let v = counted(|| vec![1u8; 100]);
    assert_eq!(v.len(), 100);
    assert!(ALLOCS.with(Cell::get) >= 1);
}
