//! [`OkxFeed`]: runs OKX public market data on an engine — instIds, channels and endpoints
//! in, running connections out.
//!
//! It spreads the subscriptions over connections ([`plan_connections`]), builds one
//! [`OkxAdapter`] and one [`FeedHandler`] per connection with an [`OkxRestSnapshots`] source
//! for the REST start of its books, and adds them to the engine no faster than OKX's 3
//! connection requests a second per IP ([`connect_delays`]).

use std::time::{Duration, Instant};

use tickwire_engine::adapter::{AddFeedError, FeedConfig, FeedHandler, SnapshotSource, add_feed};
use tickwire_engine::command::{CommandError, ConsumerId, EngineHandle};
use tickwire_engine::config::{ConfigError, ConnectionOptions};
use tickwire_engine::{ConnectionId, Registry};

use super::adapter::{Channel, OkxAdapter, OkxConfig, PlanError, Subscription};
use super::snapshot::OkxRestSnapshots;

/// OKX's limit on new connections: 3 a second per IP (venues.md §6).
pub const CONNECTS_PER_SECOND: u32 = 3;

/// Subscriptions per connection (keeps the connect frames and one connection's traffic
/// small; OKX itself bounds request size, 64 KB, not the count).
pub const MAX_SUBSCRIPTIONS_PER_CONNECTION: usize = 200;

/// Spreads `subs` over connections of at most `per_connection` subscriptions, keeping an
/// instrument's channels together.
pub fn plan_connections(subs: &[Subscription], per_connection: usize) -> Vec<Vec<Subscription>> {
    let per = per_connection.max(1);
    let mut unique: Vec<Subscription> = Vec::with_capacity(subs.len());
    for s in subs {
        if !unique.contains(s) {
            unique.push(s.clone());
        }
    }
    // Grouped by instrument, in first-seen order.
    let mut order: Vec<&str> = Vec::new();
    for s in &unique {
        if !order.contains(&s.inst_id.as_str()) {
            order.push(&s.inst_id);
        }
    }
    let mut groups: Vec<Vec<Subscription>> = Vec::new();
    let mut current: Vec<Subscription> = Vec::new();
    for inst in order {
        let mine: Vec<Subscription> = unique
            .iter()
            .filter(|s| s.inst_id == inst)
            .cloned()
            .collect();
        if !current.is_empty() && current.len() + mine.len() > per {
            groups.push(std::mem::take(&mut current));
        }
        current.extend(mine);
    }
    if !current.is_empty() {
        groups.push(current);
    }
    groups
}

/// When each of `n` connections may be opened, after the first: at most
/// [`CONNECTS_PER_SECOND`] in any second (`[0, 0, 0, 1 s, 1 s, 1 s, 2 s, ...]`).
pub fn connect_delays(n: usize) -> Vec<Duration> {
    (0..n)
        .map(|i| Duration::from_secs((i / CONNECTS_PER_SECOND as usize) as u64))
        .collect()
}

/// Why an [`OkxFeed`] could not start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FeedError {
    /// Nothing to subscribe to.
    #[error("no subscriptions: give at least one instId and one channel")]
    NoSubscriptions,
    /// A connection's subscriptions could not be turned into an adapter.
    #[error("{0}")]
    Plan(PlanError),
    /// The URL is not usable.
    #[error("WebSocket URL: {0}")]
    Url(ConfigError),
    /// The shared REST snapshot thread could not be started.
    #[error("starting the snapshot thread: {0:?}")]
    SnapshotThread(std::io::ErrorKind),
    /// The engine refused a connection.
    #[error("engine: {0}")]
    Engine(CommandError),
}

impl From<AddFeedError> for FeedError {
    fn from(e: AddFeedError) -> FeedError {
        match e {
            AddFeedError::Config(c) | AddFeedError::Command(CommandError::Config(c)) => {
                FeedError::Url(c)
            }
            AddFeedError::Command(c) => FeedError::Engine(c),
        }
    }
}

/// An OKX market-data feed to run on an engine.
#[derive(Clone, Debug)]
pub struct OkxFeed {
    config: OkxConfig,
    inst_ids: Vec<String>,
    channels: Vec<Channel>,
    roots: Vec<Vec<u8>>,
    options: ConnectionOptions,
    handler: FeedConfig,
    per_connection: usize,
}

impl Default for OkxFeed {
    fn default() -> OkxFeed {
        OkxFeed::new()
    }
}

impl OkxFeed {
    /// A feed with the production endpoints.
    pub fn new() -> OkxFeed {
        OkxFeed::with_config(OkxConfig::default())
    }

    /// A feed with every OKX setting given.
    pub fn with_config(config: OkxConfig) -> OkxFeed {
        OkxFeed {
            config,
            inst_ids: Vec::new(),
            channels: Vec::new(),
            roots: Vec::new(),
            options: ConnectionOptions::default(),
            handler: FeedConfig::default(),
            per_connection: MAX_SUBSCRIPTIONS_PER_CONNECTION,
        }
    }

    /// Adds instIds (any case); each gets every channel.
    #[must_use]
    pub fn symbols<S: AsRef<str>>(mut self, inst_ids: &[S]) -> OkxFeed {
        self.inst_ids
            .extend(inst_ids.iter().map(|s| s.as_ref().to_ascii_uppercase()));
        self
    }

    /// Adds channels.
    #[must_use]
    pub fn channels(mut self, channels: &[Channel]) -> OkxFeed {
        self.channels.extend_from_slice(channels);
        self
    }

    /// Connects here instead of OKX (a simulator, a proxy): the full WebSocket URL.
    #[must_use]
    pub fn url(mut self, url: &str) -> OkxFeed {
        self.config.ws_url = url.to_owned();
        self
    }

    /// Fetches REST snapshots here (`http://127.0.0.1:9100`).
    #[must_use]
    pub fn rest_url(mut self, url: &str) -> OkxFeed {
        self.config.rest_base = url.trim_end_matches('/').to_owned();
        self
    }

    /// Trusts an extra root certificate (DER) for `wss://` and the REST snapshots.
    #[must_use]
    pub fn trust_root_der(mut self, der: &[u8]) -> OkxFeed {
        self.roots.push(der.to_vec());
        self
    }

    /// Connection tunables.
    #[must_use]
    pub fn options(mut self, options: ConnectionOptions) -> OkxFeed {
        self.options = options;
        self
    }

    /// Feed handler tunables.
    #[must_use]
    pub fn handler_config(mut self, config: FeedConfig) -> OkxFeed {
        self.handler = config;
        self
    }

    /// Subscriptions per connection (default [`MAX_SUBSCRIPTIONS_PER_CONNECTION`]).
    #[must_use]
    pub fn per_connection(mut self, n: usize) -> OkxFeed {
        self.per_connection = n.max(1);
        self
    }

    /// The OKX settings.
    pub fn config(&self) -> &OkxConfig {
        &self.config
    }

    /// Every subscription: each instId × each channel.
    pub fn subscriptions(&self) -> Vec<Subscription> {
        Subscription::product(&self.inst_ids, &self.channels)
    }

    /// The subscriptions of each connection, in start order.
    pub fn plan(&self) -> Result<Vec<Vec<Subscription>>, FeedError> {
        let subs = self.subscriptions();
        if subs.is_empty() {
            return Err(FeedError::NoSubscriptions);
        }
        if !subs.iter().all(Subscription::is_valid) {
            return Err(FeedError::Plan(PlanError::InvalidInstrument));
        }
        Ok(plan_connections(&subs, self.per_connection))
    }

    /// Starts one connection per group of [`OkxFeed::plan`], publishing to `consumers`;
    /// blocks while pacing the connects (3 a second: 30 connections take 9 s). If any
    /// connection cannot be added, those already added are removed again.
    pub fn start(
        &self,
        engine: &EngineHandle,
        registry: &Registry,
        consumers: &[ConsumerId],
    ) -> Result<Vec<ConnectionId>, FeedError> {
        let plan = self.plan()?;
        let delays = connect_delays(plan.len());
        let begun = Instant::now();
        let mut ids = Vec::with_capacity(plan.len());
        for (group, delay) in plan.iter().zip(delays) {
            if let Some(wait) = delay.checked_sub(begun.elapsed()) {
                std::thread::sleep(wait);
            }
            match self.start_one(group, engine, registry, consumers) {
                Ok(id) => ids.push(id),
                Err(e) => {
                    for id in ids {
                        let _ = engine.remove(id);
                    }
                    return Err(e);
                }
            }
        }
        Ok(ids)
    }

    fn start_one(
        &self,
        group: &[Subscription],
        engine: &EngineHandle,
        registry: &Registry,
        consumers: &[ConsumerId],
    ) -> Result<ConnectionId, FeedError> {
        let adapter =
            OkxAdapter::new(self.config.clone(), group, registry).map_err(FeedError::Plan)?;
        let mut books: Vec<&str> = Vec::new();
        for s in group {
            if s.channel == Channel::Books && !books.contains(&s.inst_id.as_str()) {
                books.push(&s.inst_id);
            }
        }
        let snapshots: Box<dyn SnapshotSource> = Box::new(
            OkxRestSnapshots::spawn(&self.config, registry, &books, &self.roots)
                .map_err(|e| FeedError::SnapshotThread(e.kind()))?,
        );
        let handler = FeedHandler::new(adapter, snapshots, self.handler);
        Ok(add_feed(
            engine,
            handler,
            self.options,
            &self.roots,
            consumers,
        )?)
    }
}
