//! REST book snapshots from one scheduler thread per venue endpoint, never on the I/O thread:
//! the venue-neutral part of every REST [`tickwire_engine::adapter::SnapshotSource`]
//! (Binance's `RestSnapshots`, OKX's `OkxRestSnapshots`).
//!
//! Every feed of a process that fetches from the same REST base with the same reader
//! ([`RestVenue::key`]) and the same trust roots shares one scheduler thread and one HTTP
//! agent: 200 feeds cost one thread, not 200. The scheduler
//!
//! * fetches one request at a time, parses the body with the venue's [`RestVenue::parse`] and
//!   hands the result to every feed that asked;
//! * merges requests for the same URL that are still queued (a reconnect of many feeds on
//!   one symbol costs one request);
//! * keeps within the venue's request budget ([`RestLimits`]: a weight per sliding window;
//!   Binance weighs a depth request by its `limit`, OKX counts requests); where the venue
//!   reports its own count in a header ([`RestVenue::used_weight_header`], Binance's
//!   `X-MBX-USED-WEIGHT-1M`) it keeps within that too;
//! * on 429 (rate limit), 418 (IP ban) and 503 with `Retry-After`, stops every request for
//!   that long and answers every waiting and new request with
//!   [`SnapshotError::RateLimited`] until then, so each feed reports it and backs off;
//! * ends when the last feed using it is dropped (after the request in flight, which
//!   [`RestLimits::request_timeout`] bounds); dropping a feed never waits for it.

use std::collections::VecDeque;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::{Arc, Mutex, Weak};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tickwire_engine::InstrumentId;
use tickwire_engine::adapter::{BookSnapshot, SnapshotError};

type Reply = (InstrumentId, Result<BookSnapshot, SnapshotError>);

/// Reads a venue's snapshot body for an instrument (off the I/O thread: may allocate).
pub type ParseSnapshot =
    Arc<dyn Fn(&mut [u8], InstrumentId) -> Result<BookSnapshot, SnapshotError> + Send + Sync>;

/// How a venue's REST scheduler paces itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RestLimits {
    /// Request weight the scheduler may spend per `window` (Binance's `REQUEST_WEIGHT`
    /// limit per IP and minute: 6000 on spot, 2400 on USD-M, the defaults keeping a tenth
    /// free for other users of the IP; OKX: requests per 2 s). The name is Binance's, kept:
    /// the budget is per `window`.
    pub weight_per_minute: u32,
    /// The budget's sliding window (a minute at Binance, 2 s at OKX; shorter for tests).
    pub window: Duration,
    /// Longest one request may take, body included (a server sending 1 byte/s is cut off).
    pub request_timeout: Duration,
    /// Wait after a 429 without `Retry-After`.
    pub default_rate_limit_wait: Duration,
    /// Wait after a 418 (IP ban) without `Retry-After` (Binance bans last 2 minutes to 3
    /// days and says how long in `Retry-After`).
    pub default_ban_wait: Duration,
    /// Processes on this IP that spend the same budget, this one included (shards of one
    /// universe in processes of their own, [`crate::spread`]): this scheduler's own window
    /// keeps to `weight_per_minute / processes`, while the venue's count of the IP's use
    /// ([`RestVenue::used_weight_header`], which includes the other processes) is held to
    /// the whole `weight_per_minute`. 1: alone.
    pub processes: u32,
}

impl RestLimits {
    /// These limits for one of `processes` processes spending the same IP's budget.
    pub const fn shared_by(self, processes: u32) -> RestLimits {
        RestLimits { processes, ..self }
    }

    /// The weight this process may spend per window: its share of the budget (at least 1).
    pub fn own_budget(&self) -> u32 {
        (self.weight_per_minute / self.processes.max(1)).max(1)
    }
}

/// What a scheduler needs to know about its venue.
#[derive(Clone)]
pub struct RestVenue {
    /// Identifies the reader: feeds share a scheduler only when their REST base, key and
    /// roots agree (e.g. `binance:Spot:Millisecond`, `okx`).
    pub key: String,
    /// Reads a 2xx body.
    pub parse: ParseSnapshot,
    /// A response header carrying the venue's own count of weight used in the current UTC
    /// minute (every client of the IP), lower case; `None` when the venue sends none.
    pub used_weight_header: Option<&'static str>,
}

impl std::fmt::Debug for RestVenue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestVenue")
            .field("key", &self.key)
            .field("used_weight_header", &self.used_weight_header)
            .finish_non_exhaustive()
    }
}

/// What identifies a shared scheduler: the REST base, how its answers are read, whom it
/// trusts. Feeds that agree on all of it share one.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    base: String,
    venue: String,
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

/// One feed's connection to its venue's shared scheduler: asks for URLs, picks up answers.
/// A venue's [`tickwire_engine::adapter::SnapshotSource`] wraps one (it knows the URLs and
/// weights).
pub struct RestClient {
    scheduler: Arc<Handle>,
    reply_tx: Sender<Reply>,
    replies: Receiver<Reply>,
    /// Requests answered without the scheduler: an instrument without a URL, or a
    /// scheduler that ended.
    failed: Vec<(InstrumentId, SnapshotError)>,
}

impl RestClient {
    /// A client of the scheduler for (`base`, `venue`, `roots`), started with `limits` if
    /// none runs (a running one keeps its own limits). With roots given, exactly those are
    /// trusted for HTTPS; with none, the webpki roots are.
    pub fn spawn(
        base: &str,
        venue: RestVenue,
        roots: &[Vec<u8>],
        limits: RestLimits,
    ) -> std::io::Result<RestClient> {
        let key = Key {
            base: base.to_owned(),
            venue: venue.key.clone(),
            roots: roots.to_vec(),
        };
        let scheduler = scheduler_for(key, venue, limits)?;
        let (reply_tx, replies) = mpsc::channel();
        Ok(RestClient {
            scheduler,
            reply_tx,
            replies,
            failed: Vec::new(),
        })
    }

    /// Asks for `url` on behalf of `instrument`, weighing `weight`. Never blocks.
    pub fn ask(&mut self, instrument: InstrumentId, url: &str, weight: u32) {
        let ask = Ask {
            url: url.to_owned(),
            weight,
            instrument,
            reply: self.reply_tx.clone(),
        };
        if self.scheduler.tx.send(ask).is_err() {
            self.failed.push((instrument, SnapshotError::Closed));
        }
    }

    /// Answers `instrument`'s request at once with `error` (e.g. no URL for it).
    pub fn fail(&mut self, instrument: InstrumentId, error: SnapshotError) {
        self.failed.push((instrument, error));
    }

    /// A finished request, if any. Never blocks.
    pub fn poll(&mut self) -> Option<Reply> {
        if let Some((i, e)) = self.failed.pop() {
            return Some((i, Err(e)));
        }
        self.replies.try_recv().ok()
    }
}

/// The running scheduler for `key`, or a new one.
fn scheduler_for(key: Key, venue: RestVenue, limits: RestLimits) -> std::io::Result<Arc<Handle>> {
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
    let worker = Worker::new(&key, venue, limits, rx);
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
    venue: RestVenue,
    limits: RestLimits,
    queue: VecDeque<Job>,
    /// Weight spent in the last window: (when, weight).
    spent: VecDeque<(Instant, u32)>,
    /// The venue's own count for the current minute, and the minute it is for.
    venue_used: Option<(u64, u32)>,
    /// No request before this (429, 418, 503 with Retry-After), and the status that set it.
    blocked: Option<(Instant, u16)>,
}

impl Worker {
    fn new(key: &Key, venue: RestVenue, limits: RestLimits, rx: Receiver<Ask>) -> Worker {
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
            venue,
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
        let budget = self.limits.own_budget();
        let ip_budget = self.limits.weight_per_minute;
        let window = self.limits.window;
        // Our own sliding window.
        let mut used: u32 = self
            .spent
            .iter()
            .filter(|(at, _)| now.duration_since(*at) < window)
            .map(|(_, w)| w)
            .sum();
        let mut wait = Duration::ZERO;
        if used.saturating_add(weight) > budget {
            // Wait until enough of the oldest requests leave the window.
            for (at, w) in &self.spent {
                if now.duration_since(*at) >= window {
                    continue;
                }
                used -= w;
                wait = (*at + window).saturating_duration_since(now);
                if used.saturating_add(weight) <= budget {
                    break;
                }
            }
        }
        // The venue's count (every client of this IP) for its current calendar minute.
        if let Some((at_minute, venue)) = self.venue_used {
            let (this_minute, into) = wall_minute();
            if at_minute == this_minute && venue.saturating_add(weight) > ip_budget {
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
        let result = result.and_then(|mut body| (self.venue.parse)(&mut body, *first));
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
        if let Some(used) = self.venue.used_weight_header.and_then(header) {
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
