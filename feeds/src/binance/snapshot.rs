//! REST depth snapshots from one scheduler thread per venue endpoint, never on the I/O thread.
//!
//! [`RestSnapshots`] implements [`SnapshotSource`] for one feed. Every feed of a process
//! that fetches from the same REST base (same market, trust roots and time unit) shares one
//! scheduler thread and one HTTP agent: 200 feeds cost one thread, not 200. The scheduler
//!
//! * fetches `GET /api/v3/depth` (spot) or `/fapi/v1/depth` (USD-M) one request at a time,
//!   parses it with [`parse_depth_snapshot`] and hands the result to every feed that asked;
//! * merges requests for the same URL that are still queued (a reconnect of many feeds on
//!   one symbol costs one request);
//! * keeps within the venue's request-weight budget ([`RestLimits`]: Binance counts a depth
//!   request by its `limit`; it also reads the venue's own count, `X-MBX-USED-WEIGHT-1M`);
//! * on 429 (rate limit), 418 (IP ban) and 503 with `Retry-After`, stops every request for
//!   that long and answers every waiting and new request with
//!   [`SnapshotError::RateLimited`] until then, so each feed reports it and backs off;
//! * ends when the last feed using it is dropped (after the request in flight, which
//!   [`RestLimits::request_timeout`] bounds); dropping a feed never waits for it.

use std::collections::{HashMap, VecDeque};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::{Arc, Mutex, Weak};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tickwire_engine::adapter::{BookSnapshot, SnapshotError, SnapshotSource};
use tickwire_engine::{InstrumentId, Registry};

use super::config::{BinanceConfig, Market, TimeUnit};
use super::decode::parse_depth_snapshot;

type Reply = (InstrumentId, Result<BookSnapshot, SnapshotError>);

/// Request weight of one depth snapshot of `limit` levels (Binance docs: spot
/// `GET /api/v3/depth` 1–100: 5, 101–500: 25, 501–1000: 50, 1001–5000: 250; USD-M
/// `GET /fapi/v1/depth` 5–50: 2, 100: 5, 500: 10, 1000: 20).
pub const fn depth_weight(market: Market, limit: u32) -> u32 {
    match market {
        Market::Spot => match limit {
            0..=100 => 5,
            101..=500 => 25,
            501..=1000 => 50,
            _ => 250,
        },
        Market::UsdM => match limit {
            0..=50 => 2,
            51..=100 => 5,
            101..=500 => 10,
            _ => 20,
        },
    }
}

/// How a venue's REST scheduler paces itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RestLimits {
    /// Request weight the scheduler may spend per `window` (Binance's `REQUEST_WEIGHT`
    /// limit per IP and minute: 6000 on spot, 2400 on USD-M; the defaults keep a tenth free
    /// for other users of the IP).
    pub weight_per_minute: u32,
    /// The budget's sliding window (a minute at Binance; shorter only for tests).
    pub window: Duration,
    /// Longest one request may take, body included (a server sending 1 byte/s is cut off).
    pub request_timeout: Duration,
    /// Wait after a 429 without `Retry-After`.
    pub default_rate_limit_wait: Duration,
    /// Wait after a 418 (IP ban) without `Retry-After` (Binance bans last 2 minutes to 3
    /// days and says how long in `Retry-After`).
    pub default_ban_wait: Duration,
}

impl RestLimits {
    /// Defaults for `market`.
    pub const fn for_market(market: Market) -> RestLimits {
        RestLimits {
            weight_per_minute: match market {
                Market::Spot => 5400,
                Market::UsdM => 2160,
            },
            window: Duration::from_secs(60),
            request_timeout: Duration::from_secs(10),
            default_rate_limit_wait: Duration::from_secs(10),
            default_ban_wait: Duration::from_secs(120),
        }
    }
}

/// What identifies a shared scheduler: the REST base, how its answers are read, whom it
/// trusts. Feeds that agree on all of it share one.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    base: String,
    market: Market,
    time_unit: TimeUnit,
    roots: Vec<Vec<u8>>,
}

/// A request from a feed.
struct Ask {
    url: String,
    weight: u32,
    instrument: InstrumentId,
    reply: Sender<Reply>,
}

/// The feeds' side of a scheduler: dropping the last one ends the thread.
struct Handle {
    tx: Sender<Ask>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        // The last feed of this scheduler went: forget it (its thread ends by itself once
        // it sees the channel closed).
        let mut list = SCHEDULERS.lock().unwrap_or_else(|e| e.into_inner());
        list.retain(|(_, w)| w.strong_count() > 0);
    }
}

static SCHEDULERS: Mutex<Vec<(Key, Weak<Handle>)>> = Mutex::new(Vec::new());

/// Scheduler threads running now, over every venue (for tests and diagnostics).
pub fn scheduler_threads() -> usize {
    let list = SCHEDULERS.lock().unwrap_or_else(|e| e.into_inner());
    list.iter().filter(|(_, w)| w.strong_count() > 0).count()
}

/// Snapshots fetched over REST by the venue's shared scheduler (see the module docs).
pub struct RestSnapshots {
    scheduler: Arc<Handle>,
    urls: HashMap<InstrumentId, String>,
    /// Where URLs of books subscribed at run time come from (their registry names).
    config: BinanceConfig,
    registry: Registry,
    weight: u32,
    reply_tx: Sender<Reply>,
    replies: Receiver<Reply>,
    /// Requests answered without the scheduler: an instrument without a URL, or a
    /// scheduler that ended.
    failed: Vec<(InstrumentId, SnapshotError)>,
}

impl RestSnapshots {
    /// A source for the instruments of `symbols` (upper case) on `config`'s market, interned
    /// in `registry`, on the venue's shared scheduler (started if none runs).
    pub fn spawn(
        config: &BinanceConfig,
        registry: &Registry,
        symbols: &[&str],
    ) -> std::io::Result<RestSnapshots> {
        RestSnapshots::spawn_with_roots(config, registry, symbols, &[])
    }

    /// As [`RestSnapshots::spawn`], trusting `roots` (DER certificates, e.g. a simulator's
    /// self-signed one) for HTTPS. With roots given, exactly those are trusted; with none, the
    /// webpki roots are.
    pub fn spawn_with_roots(
        config: &BinanceConfig,
        registry: &Registry,
        symbols: &[&str],
        roots: &[Vec<u8>],
    ) -> std::io::Result<RestSnapshots> {
        let limits = RestLimits::for_market(config.market);
        RestSnapshots::spawn_with_limits(config, registry, symbols, roots, limits)
    }

    /// As [`RestSnapshots::spawn_with_roots`] with the scheduler's pacing given. The limits
    /// apply when this call starts the scheduler; a running one keeps its own.
    pub fn spawn_with_limits(
        config: &BinanceConfig,
        registry: &Registry,
        symbols: &[&str],
        roots: &[Vec<u8>],
        limits: RestLimits,
    ) -> std::io::Result<RestSnapshots> {
        let venue = config.market.venue();
        let urls: HashMap<InstrumentId, String> = symbols
            .iter()
            .map(|s| {
                let s = s.to_ascii_uppercase();
                (registry.intern(venue, &s), config.snapshot_url(&s))
            })
            .collect();
        let key = Key {
            base: config.rest_base().to_owned(),
            market: config.market,
            time_unit: config.time_unit,
            roots: roots.to_vec(),
        };
        let scheduler = scheduler_for(key, limits)?;
        let (reply_tx, replies) = mpsc::channel();
        Ok(RestSnapshots {
            scheduler,
            urls,
            config: config.clone(),
            registry: registry.clone(),
            weight: depth_weight(config.market, config.snapshot_limit),
            reply_tx,
            replies,
            failed: Vec::new(),
        })
    }
}

/// The running scheduler for `key`, or a new one.
fn scheduler_for(key: Key, limits: RestLimits) -> std::io::Result<Arc<Handle>> {
    let mut list = SCHEDULERS.lock().unwrap_or_else(|e| e.into_inner());
    list.retain(|(_, w)| w.strong_count() > 0);
    if let Some(h) = list
        .iter()
        .find(|(k, _)| *k == key)
        .and_then(|(_, w)| w.upgrade())
    {
        return Ok(h);
    }
    let (tx, rx) = mpsc::channel::<Ask>();
    let worker = Worker::new(&key, limits, rx);
    thread::Builder::new()
        .name("tickwire-rest".into())
        .spawn(move || worker.run())?;
    let handle = Arc::new(Handle { tx });
    list.push((key, Arc::downgrade(&handle)));
    Ok(handle)
}

/// One queued fetch and everyone waiting for it.
struct Job {
    url: String,
    weight: u32,
    waiters: Vec<(InstrumentId, Sender<Reply>)>,
}

/// The scheduler thread's state.
struct Worker {
    rx: Receiver<Ask>,
    agent: ureq::Agent,
    time_unit: TimeUnit,
    limits: RestLimits,
    queue: VecDeque<Job>,
    /// Weight spent in the last minute: (when, weight).
    spent: VecDeque<(Instant, u32)>,
    /// The venue's own count for the current minute, and the minute it is for.
    venue_used: Option<(u64, u32)>,
    /// No request before this (429, 418, 503 with Retry-After), and the status that set it.
    blocked: Option<(Instant, u16)>,
}

impl Worker {
    fn new(key: &Key, limits: RestLimits, rx: Receiver<Ask>) -> Worker {
        let tls = if key.roots.is_empty() {
            ureq::tls::TlsConfig::default()
        } else {
            let certs: Vec<ureq::tls::Certificate<'static>> = key
                .roots
                .iter()
                .map(|der| ureq::tls::Certificate::from_der(der).to_owned())
                .collect();
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::new_with_certs(&certs))
                .build()
        };
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .tls_config(tls)
            .http_status_as_error(false)
            .timeout_global(Some(limits.request_timeout))
            .build()
            .into();
        Worker {
            rx,
            agent,
            time_unit: key.time_unit,
            limits,
            queue: VecDeque::new(),
            spent: VecDeque::new(),
            venue_used: None,
            blocked: None,
        }
    }

    fn run(mut self) {
        loop {
            let wait = self.next_wait();
            let first = match wait {
                None => self.rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
                Some(d) if d.is_zero() => self.rx.try_recv().map_err(|e| match e {
                    TryRecvError::Empty => RecvTimeoutError::Timeout,
                    TryRecvError::Disconnected => RecvTimeoutError::Disconnected,
                }),
                Some(d) => self.rx.recv_timeout(d),
            };
            match first {
                Ok(ask) => self.enqueue(ask),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return, // the last feed went
            }
            loop {
                match self.rx.try_recv() {
                    Ok(ask) => self.enqueue(ask),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => return,
                }
            }
            let now = Instant::now();
            if let Some((until, status)) = self.blocked {
                if now < until {
                    self.refuse_all(until - now, status);
                    continue;
                }
                self.blocked = None;
            }
            let Some(job) = self.queue.front() else {
                continue;
            };
            if !self.budget_wait(job.weight, now).is_zero() {
                continue;
            }
            if let Some(job) = self.queue.pop_front() {
                self.fetch(job);
            }
        }
    }

    /// How long to wait for requests before looking at the queue again (`None`: until one
    /// comes).
    fn next_wait(&self) -> Option<Duration> {
        let now = Instant::now();
        if let Some((until, _)) = self.blocked {
            return Some(until.saturating_duration_since(now));
        }
        let job = self.queue.front()?;
        Some(self.budget_wait(job.weight, now))
    }

    /// How long until `weight` more fits the budget (zero: now).
    fn budget_wait(&self, weight: u32, now: Instant) -> Duration {
        let budget = self.limits.weight_per_minute;
        let minute = self.limits.window;
        // Our own sliding minute.
        let mut used: u32 = self
            .spent
            .iter()
            .filter(|(at, _)| now.duration_since(*at) < minute)
            .map(|(_, w)| w)
            .sum();
        let mut wait = Duration::ZERO;
        if used.saturating_add(weight) > budget {
            // Wait until enough of the oldest requests leave the window.
            for (at, w) in &self.spent {
                if now.duration_since(*at) >= minute {
                    continue;
                }
                used -= w;
                wait = (*at + minute).saturating_duration_since(now);
                if used.saturating_add(weight) <= budget {
                    break;
                }
            }
        }
        // The venue's count (every client of this IP) for its current calendar minute.
        if let Some((at_minute, venue)) = self.venue_used {
            let (this_minute, into) = wall_minute();
            if at_minute == this_minute && venue.saturating_add(weight) > budget {
                wait = wait.max(Duration::from_secs(60).saturating_sub(into));
            }
        }
        wait
    }

    fn enqueue(&mut self, ask: Ask) {
        if let Some((until, status)) = self.blocked {
            let now = Instant::now();
            if now < until {
                let e = rate_limited(status, until - now);
                let _ = ask.reply.send((ask.instrument, Err(e)));
                return;
            }
        }
        // Merged with a queued request for the same URL (not one in flight: its answer may
        // predate what the new asker needs).
        if let Some(job) = self.queue.iter_mut().find(|j| j.url == ask.url) {
            job.waiters.push((ask.instrument, ask.reply));
            return;
        }
        self.queue.push_back(Job {
            url: ask.url,
            weight: ask.weight,
            waiters: vec![(ask.instrument, ask.reply)],
        });
    }

    /// Answers everything queued: rate-limited for `left`.
    fn refuse_all(&mut self, left: Duration, status: u16) {
        let e = rate_limited(status, left);
        for job in self.queue.drain(..) {
            for (instrument, reply) in job.waiters {
                let _ = reply.send((instrument, Err(e)));
            }
        }
    }

    fn fetch(&mut self, job: Job) {
        let result = self.get(&job.url);
        // Counted from the answer: the venue counted it on arrival, before that, so our
        // window never closes before the venue's.
        let now = Instant::now();
        self.spent.push_back((now, job.weight));
        while self
            .spent
            .front()
            .is_some_and(|(at, _)| now.duration_since(*at) >= self.limits.window)
        {
            self.spent.pop_front();
        }
        let Some((first, _)) = job.waiters.first() else {
            return;
        };
        let result = result.and_then(|mut body| {
            parse_depth_snapshot(&mut body, *first, self.time_unit)
                .map_err(|_| SnapshotError::Malformed)
        });
        if let Err(SnapshotError::RateLimited {
            status,
            retry_after_ms,
        }) = result
        {
            let until = Instant::now() + Duration::from_millis(retry_after_ms);
            self.blocked = Some((until, status));
        }
        for (instrument, reply) in job.waiters {
            let answer = match &result {
                Ok(snap) => Ok(BookSnapshot {
                    instrument,
                    ..snap.clone()
                }),
                Err(e) => Err(*e),
            };
            let _ = reply.send((instrument, answer));
        }
        if let Some((until, status)) = self.blocked {
            let left = until.saturating_duration_since(Instant::now());
            self.refuse_all(left, status);
        }
    }

    fn get(&mut self, url: &str) -> Result<Vec<u8>, SnapshotError> {
        let mut resp = self
            .agent
            .get(url)
            .call()
            .map_err(|_| SnapshotError::Request)?;
        let status = resp.status().as_u16();
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .and_then(|v| v.parse::<u64>().ok())
        };
        if let Some(used) = header("x-mbx-used-weight-1m") {
            self.venue_used = Some((wall_minute().0, u32::try_from(used).unwrap_or(u32::MAX)));
        }
        let retry_after = header("retry-after").map(Duration::from_secs);
        match status {
            200..=299 => {}
            429 | 418 => {
                let default = if status == 418 {
                    self.limits.default_ban_wait
                } else {
                    self.limits.default_rate_limit_wait
                };
                return Err(rate_limited(status, retry_after.unwrap_or(default)));
            }
            503 if retry_after.is_some() => {
                return Err(rate_limited(status, retry_after.unwrap_or_default()));
            }
            s => return Err(SnapshotError::Status(s)),
        }
        resp.body_mut()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_to_vec()
            .map_err(|_| SnapshotError::Request)
    }
}

fn rate_limited(status: u16, wait: Duration) -> SnapshotError {
    SnapshotError::RateLimited {
        status,
        retry_after_ms: u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1),
    }
}

/// The current UTC minute (minutes since the epoch) and how far into it we are.
fn wall_minute() -> (u64, Duration) {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    (
        since.as_secs() / 60,
        Duration::from_secs(since.as_secs() % 60)
            + Duration::from_nanos(since.subsec_nanos().into()),
    )
}

impl RestSnapshots {
    /// The snapshot URL of `instrument`: known from the start, or (a book subscribed at run
    /// time) made from its registry name when that is of this market's venue.
    fn url(&mut self, instrument: InstrumentId) -> Option<&String> {
        if !self.urls.contains_key(&instrument) {
            let name = self.registry.name(instrument)?;
            if *name.venue != *self.config.market.venue() {
                return None;
            }
            let url = self.config.snapshot_url(&name.symbol);
            self.urls.insert(instrument, url);
        }
        self.urls.get(&instrument)
    }
}

impl SnapshotSource for RestSnapshots {
    fn track(&mut self, instrument: InstrumentId) {
        let _ = self.url(instrument);
    }

    fn request(&mut self, instrument: InstrumentId) {
        let weight = self.weight;
        let Some(url) = self.url(instrument) else {
            self.failed.push((instrument, SnapshotError::Request));
            return;
        };
        let ask = Ask {
            url: url.clone(),
            weight,
            instrument,
            reply: self.reply_tx.clone(),
        };
        if self.scheduler.tx.send(ask).is_err() {
            self.failed.push((instrument, SnapshotError::Closed));
        }
    }

    fn poll(&mut self) -> Option<(InstrumentId, Result<BookSnapshot, SnapshotError>)> {
        if let Some((i, e)) = self.failed.pop() {
            return Some((i, Err(e)));
        }
        self.replies.try_recv().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_weights_follow_the_documented_tables() {
        // Binance spot GET /api/v3/depth and USD-M GET /fapi/v1/depth weight tables.
        let spot = [
            (5, 5),
            (100, 5),
            (101, 25),
            (500, 25),
            (1000, 50),
            (5000, 250),
        ];
        for (limit, w) in spot {
            assert_eq!(depth_weight(Market::Spot, limit), w, "spot limit {limit}");
        }
        let usdm = [(5, 2), (50, 2), (100, 5), (500, 10), (1000, 20)];
        for (limit, w) in usdm {
            assert_eq!(depth_weight(Market::UsdM, limit), w, "usdm limit {limit}");
        }
    }
}
