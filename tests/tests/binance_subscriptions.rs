//! Run-time subscriptions end to end against the venue simulator: they survive reconnects
//! and rotations whichever way streams are requested (issue 19 item 2), a subscribe made
//! before the first `Connected` is kept (item 7), a depth channel subscribed at run time
//! gets its book (issue 9) and unsubscribing it invalidates the consumer's copy (item 7).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tickwire_engine::adapter::RotationConfig;
use tickwire_engine::book::{Book, BookConfig};
use tickwire_engine::event::{EventKind, Flags, StatusKind};
use tickwire_engine::{Consumer, Engine, EngineConfig, InstrumentId, Profile, Reason, Registry};
use tickwire_feeds::binance::{BinanceFeed, Channel, Market, SubscribeVia};
use tickwire_tests::test_options;
use tickwire_tools::sim::{Fault, Market as SimMarket, SimConfig, SimServer};

/// Trades per (session, instrument): the session number counts the `Connected` statuses
/// seen before the trade (1 = first session).
#[derive(Default)]
struct Sessions {
    connected: u64,
    trades: HashMap<(u64, InstrumentId), u64>,
    statuses: Vec<(StatusKind, Option<Reason>)>,
}

impl Sessions {
    fn drain(&mut self, c: &mut Consumer) {
        while let Some(e) = c.pop() {
            if e.kind() == EventKind::Trade {
                *self
                    .trades
                    .entry((self.connected, e.instrument))
                    .or_default() += 1;
            } else if let Some(s) = e.as_status() {
                self.statuses.push((s.kind, Reason::from_code(s.reason)));
                if s.kind == StatusKind::Connected {
                    self.connected += 1;
                }
            }
        }
    }

    fn of(&self, session: u64, i: InstrumentId) -> u64 {
        self.trades.get(&(session, i)).copied().unwrap_or(0)
    }

    fn wait(&mut self, c: &mut Consumer, what: &str, done: impl Fn(&Sessions) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            self.drain(c);
            if done(self) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: statuses {:?}",
                self.statuses
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

fn sim() -> SimServer {
    let mut sc = SimConfig::new(SimMarket::Spot);
    sc.symbols = vec!["BTCUSDT".into(), "ETHUSDT".into(), "BNBUSDT".into()];
    sc.rate = 3_000;
    sc.shutdown_grace = Duration::from_millis(500);
    SimServer::start(sc).unwrap()
}

/// Starts with BTCUSDT and BNBUSDT trades, subscribes ETHUSDT and unsubscribes BNBUSDT at
/// run time, then drops the connection (and, rotating, has the venue shut it down): after
/// each new session ETHUSDT trades flow and BNBUSDT trades do not.
fn survives_reconnects(via: SubscribeVia, rotating: bool) {
    let sim = sim();
    let mut b = Engine::builder(EngineConfig::profile(Profile::Standard));
    let (cid, mut consumer) = b.consumer(1 << 17);
    let engine = b.start().unwrap();
    let registry = Registry::new();
    let rotation = rotating.then(RotationConfig::on_request_only);
    let ids = BinanceFeed::new(Market::Spot)
        .symbols(&["BTCUSDT", "BNBUSDT"])
        .channels(&[Channel::Trade])
        .subscribe_via(via)
        .rotation(rotation)
        .options(test_options())
        .url(&sim.ws_url())
        .rest_url(&sim.rest_url())
        .start(&engine.handle(), &registry, &[cid])
        .unwrap();
    let btc = registry.intern("binance", "BTCUSDT");
    let eth = registry.intern("binance", "ETHUSDT");
    let bnb = registry.intern("binance", "BNBUSDT");
    let mut s = Sessions::default();
    s.wait(&mut consumer, "first session", |s| {
        s.of(1, btc) > 20 && s.of(1, bnb) > 20
    });
    let h = engine.handle();
    h.subscribe(ids[0], vec!["ethusdt@trade".into()]).unwrap();
    h.unsubscribe(ids[0], vec!["bnbusdt@trade".into()]).unwrap();
    s.wait(&mut consumer, "ETHUSDT in session 1", |s| s.of(1, eth) > 20);
    assert_eq!(sim.inject(Fault::Drop), 1);
    s.wait(&mut consumer, "session 2 with ETHUSDT", |s| {
        s.of(2, eth) > 50 && s.of(2, btc) > 50
    });
    assert_eq!(s.of(2, bnb), 0, "an unsubscribed stream came back");
    if rotating {
        assert_eq!(sim.inject(Fault::ServerShutdown), 1);
        s.wait(&mut consumer, "the switch, then ETHUSDT", |s| {
            s.of(3, eth) > 50 && s.of(3, btc) > 50
        });
        assert!(
            s.statuses
                .contains(&(StatusKind::Connected, Some(Reason::Rotation)))
        );
        assert_eq!(s.of(3, bnb), 0, "an unsubscribed stream came back");
    }
    engine.join().unwrap();
}

#[test]
fn runtime_subscriptions_survive_a_reconnect_with_streams_in_the_url() {
    survives_reconnects(SubscribeVia::Url, false);
}

#[test]
fn runtime_subscriptions_survive_a_reconnect_with_subscribe_frames() {
    survives_reconnects(SubscribeVia::Frames, false);
}

#[test]
fn runtime_subscriptions_survive_a_reconnect_and_a_rotation() {
    survives_reconnects(SubscribeVia::Url, true);
}

/// Item 7: a subscribe queued right after the feed is added (before its first `Connected`).
#[test]
fn a_subscribe_before_the_first_connected_is_kept() {
    let sim = sim();
    let mut b = Engine::builder(EngineConfig::profile(Profile::Standard));
    let (cid, mut consumer) = b.consumer(1 << 17);
    let engine = b.start().unwrap();
    let registry = Registry::new();
    let ids = BinanceFeed::new(Market::Spot)
        .symbols(&["BTCUSDT"])
        .channels(&[Channel::Trade])
        .url(&sim.ws_url())
        .rest_url(&sim.rest_url())
        .start(&engine.handle(), &registry, &[cid])
        .unwrap();
    engine
        .handle()
        .subscribe(ids[0], vec!["ethusdt@trade".into()])
        .unwrap();
    let eth = registry.intern("binance", "ETHUSDT");
    let mut s = Sessions::default();
    s.wait(&mut consumer, "ETHUSDT trades", |s| s.of(1, eth) > 20);
    assert_eq!(s.connected, 1);
    engine.join().unwrap();
}

/// Issue 9: a depth channel subscribed at run time on a feed that started without a book
/// is synced (REST snapshot, then diffs); item 7: unsubscribing it publishes
/// `Resync(Unsubscribed)`, which invalidates the consumer's book, and no level follows.
#[test]
fn a_depth_channel_subscribed_at_run_time_gets_a_book_until_unsubscribed() {
    let sim = sim();
    let mut b = Engine::builder(EngineConfig::profile(Profile::Standard));
    let (cid, mut consumer) = b.consumer(1 << 18);
    let engine = b.start().unwrap();
    let registry = Registry::new();
    let ids = BinanceFeed::new(Market::Spot)
        .symbols(&["BTCUSDT"])
        .channels(&[Channel::Trade])
        .url(&sim.ws_url())
        .rest_url(&sim.rest_url())
        .start(&engine.handle(), &registry, &[cid])
        .unwrap();
    let h = engine.handle();
    h.subscribe(ids[0], vec!["ethusdt@depth@100ms".into()])
        .unwrap();
    let eth = registry.intern("binance", "ETHUSDT");
    let mut book = Book::new(BookConfig::default());
    let (mut snapshots, mut diffs_after, mut unsubscribed, mut levels_after) = (0, 0, 0, 0);
    let mut step = |c: &mut Consumer, book: &mut Book| {
        while let Some(e) = c.pop() {
            if e.instrument != eth {
                continue;
            }
            book.apply_event(&e).unwrap();
            match e.kind() {
                EventKind::BookLevel if unsubscribed > 0 => levels_after += 1,
                EventKind::BookLevel if e.flags.contains(Flags::LAST_IN_BATCH) => {
                    if e.flags.contains(Flags::SNAPSHOT) {
                        snapshots += 1;
                    } else if snapshots > 0 {
                        diffs_after += 1;
                        assert!(book.is_valid() && !book.is_crossed());
                    }
                }
                EventKind::Status => {
                    let s = e.as_status().unwrap();
                    if (s.kind, Reason::from_code(s.reason))
                        == (StatusKind::Resync, Some(Reason::Unsubscribed))
                    {
                        unsubscribed += 1;
                    }
                }
                _ => {}
            }
        }
        (snapshots, diffs_after, unsubscribed, levels_after)
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (snaps, diffs, _, _) = step(&mut consumer, &mut book);
        if snaps >= 1 && diffs >= 20 {
            break;
        }
        assert!(Instant::now() < deadline, "no synced ETHUSDT book");
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(book.is_valid());
    assert!(book.best_bid().is_some() && book.best_ask().is_some());
    h.unsubscribe(ids[0], vec!["ethusdt@depth@100ms".into()])
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, _, unsub, _) = step(&mut consumer, &mut book);
        if unsub >= 1 {
            break;
        }
        assert!(Instant::now() < deadline, "no Resync(Unsubscribed)");
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(!book.is_valid(), "a frozen book must not stay valid");
    std::thread::sleep(Duration::from_millis(500));
    let (_, _, unsub, after) = step(&mut consumer, &mut book);
    assert_eq!((unsub, after), (1, 0), "levels after the unsubscribe");
    engine.join().unwrap();
}

/// One instrument's book as a consumer keeps it, and every status seen.
struct Follow {
    instrument: InstrumentId,
    book: Book,
    /// Diffs applied to a valid book.
    diffs: u64,
    statuses: Vec<(StatusKind, Option<Reason>, InstrumentId)>,
}

impl Follow {
    fn pump(&mut self, c: &mut Consumer) {
        while let Some(e) = c.pop() {
            if let Some(s) = e.as_status() {
                self.statuses
                    .push((s.kind, Reason::from_code(s.reason), e.instrument));
            }
            if e.instrument != self.instrument {
                continue;
            }
            self.book.apply_event(&e).unwrap();
            if e.kind() == EventKind::BookLevel
                && e.flags.contains(Flags::LAST_IN_BATCH)
                && !e.flags.contains(Flags::SNAPSHOT)
                && self.book.is_valid()
            {
                self.diffs += 1;
                assert!(!self.book.is_crossed());
            }
        }
    }

    fn wait(&mut self, c: &mut Consumer, what: &str, done: impl Fn(&Follow) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            self.pump(c);
            if done(self) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {:?}",
                self.statuses
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

/// Issue 9 across a rotation: a book subscribed at run time on a rotating feed is carried
/// over to the new connection (the standby subscribes it too and joins it on the update
/// ids), so the consumer's book stays valid with no resync.
#[test]
fn a_run_time_book_is_carried_across_a_rotation() {
    let sim = sim();
    let mut b = Engine::builder(EngineConfig::profile(Profile::Standard));
    let (cid, mut consumer) = b.consumer(1 << 18);
    let engine = b.start().unwrap();
    let registry = Registry::new();
    let ids = BinanceFeed::new(Market::Spot)
        .symbols(&["BTCUSDT"])
        .channels(&[Channel::Trade])
        .rotation(Some(RotationConfig::on_request_only()))
        .url(&sim.ws_url())
        .rest_url(&sim.rest_url())
        .start(&engine.handle(), &registry, &[cid])
        .unwrap();
    engine
        .handle()
        .subscribe(ids[0], vec!["ethusdt@depth@100ms".into()])
        .unwrap();
    let eth = registry.intern("binance", "ETHUSDT");
    let mut f = Follow {
        instrument: eth,
        book: Book::new(BookConfig::default()),
        diffs: 0,
        statuses: Vec::new(),
    };
    f.wait(&mut consumer, "a synced book", |f| f.diffs >= 20);
    let before = f.diffs;
    assert_eq!(sim.inject(Fault::ServerShutdown), 1);
    let switch = (
        StatusKind::Connected,
        Some(Reason::Rotation),
        InstrumentId::NONE,
    );
    f.wait(&mut consumer, "the switch", |f| {
        f.statuses.contains(&switch)
    });
    let at_switch = f.diffs;
    f.wait(&mut consumer, "diffs after the switch", |f| {
        f.diffs > at_switch + 40
    });
    assert!(f.book.is_valid());
    assert!(before < at_switch + 40);
    assert!(
        !f.statuses.iter().any(|s| s.2 == eth),
        "no status for the carried book: {:?}",
        f.statuses
    );
    engine.join().unwrap();
}
