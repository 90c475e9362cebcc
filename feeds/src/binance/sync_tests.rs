//! Book sync against hostile snapshot sources, on virtual time (no network, no clock): every
//! snapshot request goes through one backoff, failures are reported per instrument, a sync
//! that cannot complete is bounded, crossed books are refused.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tickwire_engine::adapter::{
    BookSnapshot, FeedConfig, FeedHandler, SnapshotError, SnapshotSource,
};
use tickwire_engine::event::{Flags, Status, StatusKind};
use tickwire_engine::handler::{Actions, ConnectionId, Context, Message, Outbox, Publisher};
use tickwire_engine::ring::{Consumer, channel};
use tickwire_engine::{Decimal, Event, InstrumentId, Reason, Registry, WsHandler};

use super::*;

const MS: u64 = 1_000_000;
const S: u64 = 1_000_000_000;

type Answer = Result<BookSnapshot, SnapshotError>;

/// What the scripted source saw and answers with.
struct Script {
    /// Virtual time of each request.
    asked_at: Vec<u64>,
    /// Answers not yet polled.
    ready: VecDeque<(InstrumentId, Answer)>,
    /// Builds the answer to request `n` (0-based) given the last diff id sent.
    answer: Box<dyn FnMut(u64, u64) -> Answer + Send>,
    /// The last diff id the driver sent (for answers relative to the stream).
    stream_id: u64,
    /// Virtual now, set by the driver.
    now: u64,
    /// Hold answers (a request that never completes).
    silent: bool,
}

/// A snapshot source that answers each request at once from a script.
#[derive(Clone)]
struct Scripted(Arc<Mutex<Script>>);

impl Scripted {
    fn new(answer: impl FnMut(u64, u64) -> Answer + Send + 'static) -> Scripted {
        Scripted(Arc::new(Mutex::new(Script {
            asked_at: Vec::new(),
            ready: VecDeque::new(),
            answer: Box::new(answer),
            stream_id: 0,
            now: 0,
            silent: false,
        })))
    }

    fn requests(&self) -> Vec<u64> {
        self.0.lock().unwrap().asked_at.clone()
    }
}

impl SnapshotSource for Scripted {
    fn request(&mut self, instrument: InstrumentId) {
        let mut s = self.0.lock().unwrap();
        let n = s.asked_at.len() as u64;
        let now = s.now;
        s.asked_at.push(now);
        if !s.silent {
            let id = s.stream_id;
            let a = (s.answer)(n, id);
            s.ready.push_back((instrument, a));
        }
    }

    fn poll(&mut self) -> Option<(InstrumentId, Answer)> {
        self.0.lock().unwrap().ready.pop_front()
    }
}

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn snap(last_id: u64, bids: &[(&str, &str)], asks: &[(&str, &str)]) -> BookSnapshot {
    let conv = |l: &[(&str, &str)]| l.iter().map(|(p, q)| (d(p), d(q))).collect();
    BookSnapshot {
        instrument: InstrumentId::NONE, // set by the source's caller below
        last_id,
        exchange_ts: 0,
        bids: conv(bids),
        asks: conv(asks),
    }
}

fn diff(id: u64, bid: (&str, &str), ask: (&str, &str)) -> String {
    format!(
        r#"{{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":{id},"u":{id},"b":[["{}","{}"]],"a":[["{}","{}"]]}}"#,
        bid.0, bid.1, ask.0, ask.1
    )
}

/// A handler with one BTCUSDT book on a scripted source, and a consumer of what it publishes.
struct Rig {
    h: FeedHandler<BinanceAdapter>,
    src: Scripted,
    btc: InstrumentId,
    outbox: Outbox,
    publisher: Publisher,
    actions: Actions,
    consumer: Consumer,
    events: Vec<Event>,
}

impl Rig {
    fn new(config: FeedConfig, src: Scripted) -> Rig {
        let reg = Registry::new();
        let subs = [Subscription::new(
            "BTCUSDT",
            Channel::Depth(DepthSpeed::Ms100),
        )];
        let a = BinanceAdapter::new(BinanceConfig::spot(), &subs, &reg).unwrap();
        let btc = reg.lookup("binance", "BTCUSDT").unwrap();
        let (p, c) = channel(1 << 20);
        let mut rig = Rig {
            h: FeedHandler::new(a, Box::new(src.clone()), config),
            src,
            btc,
            outbox: Outbox::new(1 << 20),
            publisher: Publisher::new(vec![p]),
            actions: Actions::default(),
            consumer: c,
            events: Vec::new(),
        };
        rig.with_cx(0, |h, cx| h.on_connect(cx));
        rig
    }

    fn with_cx(
        &mut self,
        now: u64,
        f: impl FnOnce(&mut FeedHandler<BinanceAdapter>, &mut Context<'_>),
    ) {
        self.src.0.lock().unwrap().now = now;
        let mut cx = Context::new(
            now,
            ConnectionId(1),
            &mut self.outbox,
            &mut self.publisher,
            &mut self.actions,
        );
        f(&mut self.h, &mut cx);
        while let Some(e) = self.consumer.pop() {
            self.events.push(e);
        }
    }

    /// Like the engine: the message, a poll, and the handler timer when due.
    fn message(&mut self, now: u64, text: &str) {
        let mut buf = text.as_bytes().to_vec();
        self.with_cx(now, |h, cx| h.on_message(Message::Text(&mut buf), cx));
        self.with_cx(now, |h, cx| h.on_poll(cx));
    }

    fn timers_until(&mut self, now: u64) {
        // Fire the timer as often as it is due up to `now` (it re-arms itself).
        for _ in 0..10_000 {
            match self.actions.timer() {
                Some(at) if at <= now => self.with_cx(at.max(1), |h, cx| h.on_timer(cx)),
                _ => return,
            }
        }
    }

    /// Diffs every `step` from `from` to `until`, ids from `first_id` up, at a fixed
    /// uncrossed top of book; the timer fires in between as the engine would fire it.
    fn stream(&mut self, from: u64, until: u64, step: u64, first_id: u64) -> u64 {
        let mut id = first_id;
        let mut now = from;
        while now < until {
            self.timers_until(now);
            self.src.0.lock().unwrap().stream_id = id;
            self.message(now, &diff(id, ("100.0", "1"), ("101.0", "1")));
            id += 1;
            now += step;
        }
        self.timers_until(until);
        id
    }

    fn statuses(&self, kind: StatusKind) -> Vec<Status> {
        self.events
            .iter()
            .filter_map(|e| e.as_status())
            .filter(|s| s.kind == kind)
            .collect()
    }

    fn book_levels(&self) -> usize {
        self.events
            .iter()
            .filter(|e| e.as_level().is_some())
            .count()
    }
}

/// The most requests the backoff allows within `window` (independent model of the
/// schedule): the first at once, then each no sooner than three quarters (the largest
/// jitter taken off) of `base · 2^k`, capped at `cap`.
fn max_requests(base: u64, cap: u64, window: u64) -> usize {
    let (mut t, mut delay, mut n) = (0u64, base, 1usize);
    loop {
        t += delay - delay / 4;
        if t > window {
            return n;
        }
        n += 1;
        delay = (delay * 2).min(cap);
    }
}

/// The fewest requests the backoff makes within `window` when every answer fails at once
/// and the timer fires every `step`: each no later than `base · 2^k` (capped) + `step`.
fn min_requests(base: u64, cap: u64, window: u64, step: u64) -> usize {
    let (mut t, mut delay, mut n) = (0u64, base, 1usize);
    loop {
        t += delay + step;
        if t > window {
            return n;
        }
        n += 1;
        delay = (delay * 2).min(cap);
    }
}

fn with_instrument(mut s: BookSnapshot, i: InstrumentId) -> BookSnapshot {
    s.instrument = i;
    s
}

/// Every way a snapshot can fail, answered at once, for 60 s of diffs every 10 ms: the
/// requests follow the one backoff (the old code refetched on every diff for the first
/// three), and each failure is one `SnapshotFailed` status with its reason.
#[test]
fn every_snapshot_failure_goes_through_one_backoff_and_is_reported() {
    type Case = (&'static str, fn(u64, u64) -> Answer, Reason);
    let cases: [Case; 7] = [
        (
            "older than every diff",
            |_, _| Ok(snap(10, &[("100.0", "1")], &[("101.0", "1")])),
            Reason::SnapshotTooOld,
        ),
        (
            "negative quantity",
            |_, id| Ok(snap(id, &[("100.0", "-1")], &[("101.0", "1")])),
            Reason::Number,
        ),
        (
            "crossed",
            |_, id| Ok(snap(id, &[("102.0", "1")], &[("101.0", "1")])),
            Reason::Crossed,
        ),
        (
            "HTTP 500",
            |_, _| Err(SnapshotError::Status(500)),
            Reason::HttpStatus,
        ),
        (
            "garbage",
            |_, _| Err(SnapshotError::Malformed),
            Reason::Malformed,
        ),
        ("network", |_, _| Err(SnapshotError::Request), Reason::Io),
        (
            "closed",
            |_, _| Err(SnapshotError::Closed),
            Reason::Shutdown,
        ),
    ];
    let config = FeedConfig::default();
    let window = 60 * S;
    let step = 10 * MS;
    let most = max_requests(
        config.snapshot_retry_ns,
        config.snapshot_retry_max_ns,
        window,
    );
    let least = min_requests(
        config.snapshot_retry_ns,
        config.snapshot_retry_max_ns,
        window,
        step,
    );
    for (name, answer, reason) in cases {
        let src = Scripted::new(answer);
        let mut rig = Rig::new(config, src.clone());
        let btc = rig.btc;
        {
            // Answers carry the instrument asked for.
            let mut s = src.0.lock().unwrap();
            let mut inner =
                std::mem::replace(&mut s.answer, Box::new(|_, _| Err(SnapshotError::Closed)));
            s.answer = Box::new(move |n, id| inner(n, id).map(|x| with_instrument(x, btc)));
        }
        rig.stream(S, S + window, step, 1000);
        let n = src.requests().len();
        assert!(
            (least..=most).contains(&n),
            "{name}: {n} requests in 60 s, the backoff allows {least}..={most}"
        );
        let failed = rig.statuses(StatusKind::SnapshotFailed);
        let (mine, timeouts): (Vec<Status>, Vec<Status>) =
            failed.iter().partition(|s| s.reason == reason.code());
        assert_eq!(mine.len(), n, "{name}: one status per failed snapshot");
        // The rest: the 30 s sync bound passing, at 31 s (and not yet at 61 s).
        let bound = window / config.snapshot_sync_timeout_ns;
        assert_eq!(timeouts.len() as u64, bound, "{name}: {failed:?}");
        assert!(
            timeouts
                .iter()
                .all(|s| s.reason == Reason::SyncTimeout.code())
        );
        assert_eq!(rig.book_levels(), 0, "{name}: nothing installed");
        assert_eq!(rig.h.stats().snapshot_failures, failed.len() as u64);
    }
}

/// The backoff starts again once a book synced, but two requests are never closer than its
/// first step: a stream that gaps right after every sync cannot storm the venue.
#[test]
fn a_stream_that_gaps_after_every_sync_is_paced_by_the_first_backoff_step() {
    let config = FeedConfig::default();
    let src = Scripted::new(|_, id| Ok(snap(id, &[("100.0", "1")], &[("101.0", "1")])));
    let mut rig = Rig::new(config, src.clone());
    let btc = rig.btc;
    {
        let mut s = src.0.lock().unwrap();
        // At the id the next diff chains onto: each snapshot lines up.
        s.answer = Box::new(move |_, id| {
            Ok(with_instrument(
                snap(id + 1, &[("100.0", "1")], &[("101.0", "1")]),
                btc,
            ))
        });
    }
    // Every diff skips an id: each one after a sync is a gap.
    let mut now = S;
    let mut id = 1000;
    while now < 11 * S {
        rig.timers_until(now);
        rig.src.0.lock().unwrap().stream_id = id;
        rig.message(now, &diff(id, ("100.0", "1"), ("101.0", "1")));
        id += 2;
        now += MS;
    }
    let asked = src.requests();
    let min_gap = config.snapshot_retry_ns - config.snapshot_retry_ns / 4;
    assert!(
        asked.windows(2).all(|w| w[1] - w[0] >= min_gap),
        "{asked:?}"
    );
    assert!(asked.len() >= 10, "it keeps resyncing: {}", asked.len());
    assert!(rig.h.stats().snapshots_applied >= 10);
}

/// 429 and 418 carry `Retry-After`: no request before it has passed, and the status says
/// rate-limited (429) or banned (418) with the wait in ms.
#[test]
fn retry_after_holds_the_next_request_and_is_reported() {
    for (status, reason) in [
        (429u16, Reason::RateLimited),
        (418, Reason::Banned),
        (503, Reason::RateLimited),
    ] {
        let src = Scripted::new(move |n, _| {
            if n == 0 {
                Err(SnapshotError::RateLimited {
                    status,
                    retry_after_ms: 7_000,
                })
            } else {
                Err(SnapshotError::Status(500))
            }
        });
        let mut rig = Rig::new(FeedConfig::default(), src.clone());
        rig.stream(S, 20 * S, 10 * MS, 1000);
        let asked = src.requests();
        assert!(asked.len() >= 2);
        assert!(asked[1] - asked[0] >= 7 * S, "{status}: {asked:?}");
        let failed = rig.statuses(StatusKind::SnapshotFailed);
        assert_eq!((failed[0].reason, failed[0].value), (reason.code(), 7_000));
        assert_eq!(
            (failed[1].reason, failed[1].value),
            (Reason::HttpStatus.code(), 500)
        );
    }
}

/// A snapshot far ahead of the stream never lines up: the wait is bounded by
/// `snapshot_sync_timeout_ns`, reported, and a new snapshot fetched.
#[test]
fn a_snapshot_ahead_of_the_stream_times_out_and_is_fetched_again() {
    let config = FeedConfig {
        snapshot_sync_timeout_ns: 2 * S,
        ..FeedConfig::default()
    };
    let src = Scripted::new(|_, _| Ok(snap(1_000_000_000, &[("100.0", "1")], &[("101.0", "1")])));
    let mut rig = Rig::new(config, src.clone());
    let btc = rig.btc;
    {
        let mut s = src.0.lock().unwrap();
        s.answer = Box::new(move |_, _| {
            Ok(with_instrument(
                snap(1_000_000_000, &[("100.0", "1")], &[("101.0", "1")]),
                btc,
            ))
        });
    }
    rig.stream(S, 11 * S, 10 * MS, 1000);
    let timeouts = rig.statuses(StatusKind::SnapshotFailed);
    // The first diff at 1 s starts the wait: expiries at 3, 5, 7, 9 and 11 s.
    assert_eq!(timeouts.len(), 5, "{timeouts:?}");
    assert!(
        timeouts
            .iter()
            .all(|s| s.reason == Reason::SyncTimeout.code() && s.value == 1_000_000_000)
    );
    // A fetch per expiry, each through the backoff: requests at 1, 3, 5, 7 and 9 s; the
    // one after the expiry at 11 s waits for the backoff (4 s less jitter after 9 s).
    let asked = src.requests();
    assert_eq!(asked, [S, 3 * S, 5 * S, 7 * S, 9 * S]);
    assert_eq!(rig.h.stats().sync_timeouts, 5);
    assert_eq!(rig.book_levels(), 0);
}

/// A request that never completes (a body at 1 byte/s) is reported when the sync bound
/// passes; no second request is stacked on it.
#[test]
fn a_request_that_never_answers_is_reported_at_the_sync_bound() {
    let config = FeedConfig {
        snapshot_sync_timeout_ns: 3 * S,
        ..FeedConfig::default()
    };
    let src = Scripted::new(|_, _| Err(SnapshotError::Request));
    src.0.lock().unwrap().silent = true;
    let mut rig = Rig::new(config, src.clone());
    rig.stream(S, 10 * S, 10 * MS, 1000);
    assert_eq!(src.requests().len(), 1);
    let failed = rig.statuses(StatusKind::SnapshotFailed);
    assert_eq!(failed.len(), 3, "at 4, 7 and 10 s");
    assert!(
        failed
            .iter()
            .all(|s| s.reason == Reason::SyncTimeout.code())
    );
}

/// A crossed snapshot is refused (nothing published, a status); the next uncrossed one is
/// installed. A diff that crosses the book resyncs it (reason `crossed`) without publishing
/// the crossing levels.
#[test]
fn crossed_snapshots_are_refused_and_a_crossed_book_resyncs() {
    let src = Scripted::new(|_, _| Err(SnapshotError::Closed));
    let mut rig = Rig::new(FeedConfig::default(), src.clone());
    let btc = rig.btc;
    {
        let mut s = src.0.lock().unwrap();
        s.answer = Box::new(move |n, id| {
            let s = if n == 0 {
                snap(id, &[("92000.0", "1")], &[("91000.0", "1")])
            } else {
                snap(id, &[("100.0", "1")], &[("101.0", "1")])
            };
            Ok(with_instrument(s, btc))
        });
    }
    let id = rig.stream(S, 2 * S, 10 * MS, 1000);
    let failed = rig.statuses(StatusKind::SnapshotFailed);
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].reason, Reason::Crossed.code());
    assert!(rig.h.in_sync(btc));
    let first = rig
        .events
        .iter()
        .position(|e| e.as_level().is_some())
        .unwrap();
    let run = &rig.events[first..first + 2];
    assert!(run.iter().all(|e| e.flags.contains(Flags::SNAPSHOT)));
    assert_eq!(
        run[0].as_level().unwrap().price,
        d("100.0"),
        "the uncrossed one"
    );
    // A diff moving the bid through the ask.
    let before = rig.events.len();
    let requests = src.requests().len();
    rig.message(3 * S, &diff(id, ("105.0", "1"), ("101.0", "1")));
    let after = &rig.events[before..];
    assert!(
        after.iter().all(|e| e.as_level().is_none()),
        "crossing levels not published"
    );
    let st: Vec<Status> = after.iter().filter_map(|e| e.as_status()).collect();
    assert_eq!(st.len(), 1);
    assert_eq!(
        (st[0].kind, st[0].reason),
        (StatusKind::Resync, Reason::Crossed.code())
    );
    assert!(!rig.h.in_sync(btc));
    assert_eq!(rig.h.stats().crossed, 1);
    assert_eq!(
        src.requests().len(),
        requests + 1,
        "a new snapshot is asked for"
    );
}

/// A snapshot always 500 ids behind the stream is too old until the buffered diffs reach
/// back to it (500 diffs, 5 s here): refetched on the backoff meanwhile (the old code asked
/// again on every diff: about 500 times), then the book syncs.
#[test]
fn a_snapshot_behind_the_stream_is_refetched_on_the_backoff_until_it_lines_up() {
    let config = FeedConfig::default();
    let src = Scripted::new(|_, _| Err(SnapshotError::Closed));
    let mut rig = Rig::new(config, src.clone());
    let btc = rig.btc;
    src.0.lock().unwrap().answer = Box::new(move |_, id| {
        let s = snap(id.saturating_sub(500), &[("100.0", "1")], &[("101.0", "1")]);
        Ok(with_instrument(s, btc))
    });
    rig.stream(S, 11 * S, 10 * MS, 1000);
    assert!(rig.h.in_sync(btc));
    let asked = src.requests();
    let synced_within = asked.last().unwrap() - asked[0];
    let most = max_requests(
        config.snapshot_retry_ns,
        config.snapshot_retry_max_ns,
        synced_within,
    );
    assert!(
        (2..=most).contains(&asked.len()),
        "{asked:?} (at most {most})"
    );
    let too_old = rig.statuses(StatusKind::SnapshotFailed);
    assert_eq!(too_old.len(), asked.len() - 1);
    assert!(
        too_old
            .iter()
            .all(|s| s.reason == Reason::SnapshotTooOld.code())
    );
}
