//! [`RotatingFeed`]: replaces a feed connection by a fresh one before the venue ends it,
//! make before break, so no update is lost or delivered twice.
//!
//! Venues limit a connection's life (Binance: 24 h) and may announce a shutdown
//! (`serverShutdown`). A `RotatingFeed` wraps the publishing [`FeedHandler`] (the *active*
//! one) and, when a rotation starts, opens a second leg of the same engine connection
//! ([`Context::open_leg`]) with a *standby* handler built by the factory. The standby
//! subscribes and logs what it decodes without publishing; after each of its messages the
//! feed asks [`FeedHandler::ready_to_take_over`], and once it is, publishes `Connected`
//! (reason `Rotation`), lets the standby [`FeedHandler::take_over`] (books carried over and
//! joined on the venue's update ids, trades and BBOs already published skipped) and closes
//! the old leg (close 1000).
//!
//! ```text
//! active leg  ──data──▶ active handler ──publish──▶ consumers
//!   lifetime − margin, or serverShutdown: Rotating ──▶ open_leg
//! standby leg ──data──▶ standby handler (log only) ── ready? ──▶ Connected, take_over,
//!                                                               close_leg(old)
//! ```
//!
//! Failures: a standby leg that drops before the switch abandons the rotation (the active
//! leg keeps running; another is tried after [`RotationConfig::retry`]); so does one that is
//! not ready within [`RotationConfig::switch_timeout`]. A standby that fails to connect
//! retries with the connection's backoff. If the active leg drops first, the standby takes
//! over at once: with its session up, books are joined where the update ids line up and
//! resynced (`Gap`, `Resync`) where they do not; without a session, every book is resynced
//! as after any disconnect. Either way nothing is presented as valid that is not.
//!
//! Statuses, in-band with the data:
//!
//! * `Rotating`: a rotation starts; reason `Rotation` (lifetime; `value` = the standby's leg
//!   number) or `ServerShutdown` (published by the handler that decoded the notice).
//! * `Connected`, reason `Rotation`, `value` = connection id: the switch. Events after it
//!   come from the new connection.
//! * Fallback: `Disconnected` (the engine, for the leg that died), then `Connected`
//!   (reason `Rotation`) if the standby is up, else the engine's `Connected` once it is;
//!   `Gap`/`Resync` and snapshot runs where the books could not be joined.
//! * An abandoned rotation publishes nothing: the active leg never stopped.
//!
//! Run-time subscriptions (`EngineHandle::subscribe`/`unsubscribe`) reach the handler of
//! every leg that is up; the feed also keeps their net effect per topic and replays it on
//! each standby as it comes up, since the factory builds adapters with the original set.
//!
//! Timers: the handler timer of each leg is shared by the inner handler on that leg and
//! the rotation's own deadline on the active leg; the feed arms the earlier one.
//!
//! Cost: between rotations a message costs a leg comparison and a look at the timer and
//! recycle requests on top of the [`FeedHandler`]; nothing is allocated. During a rotation
//! the standby's log grows and each standby message copies the active handler's watermarks
//! to check readiness (allocations, for a few milliseconds a day).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use super::{AddFeedError, FeedAdapter, FeedConfig, FeedHandler, HandoverReport, SnapshotSource};
use crate::command::{ConsumerId, EngineHandle};
use crate::config::ConnectionOptions;
use crate::event::{Event, Status, StatusKind};
use crate::handler::{ConnectionId, Context, Leg, Message, Reconnect, WsHandler};
use crate::instrument::InstrumentId;
use crate::reason::Reason;

/// "No deadline".
const NEVER: u64 = u64::MAX;

/// When a [`RotatingFeed`] rotates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RotationConfig {
    /// How long the venue keeps a connection (Binance: 24 h). `None`: rotate only when the
    /// venue asks (`serverShutdown`).
    pub lifetime: Option<Duration>,
    /// Start rotating this long before the lifetime ends (must be shorter than it).
    pub margin: Duration,
    /// After a rotation that failed or was abandoned, try again after this long.
    pub retry: Duration,
    /// Abandon a rotation whose standby is not ready to take over within this long.
    pub switch_timeout: Duration,
    /// Once the standby is first ready, keep both legs running this long before switching
    /// (shorter than `switch_timeout`): trades the old connection still has in flight (in
    /// its socket, on its network path) reach it before it is retired, including those of a
    /// stream the standby has not seen a trade of yet. Zero: switch as soon as it is ready.
    pub settle: Duration,
}

impl RotationConfig {
    /// Rotations `margin` before `lifetime` ends; retry after 5 s, abandon after 60 s,
    /// settle for [`RotationConfig::SETTLE`].
    pub fn new(lifetime: Duration, margin: Duration) -> RotationConfig {
        RotationConfig {
            lifetime: Some(lifetime),
            margin,
            retry: Duration::from_secs(5),
            switch_timeout: Duration::from_secs(60),
            settle: Self::SETTLE,
        }
    }

    /// The default [`RotationConfig::settle`]: far above the lag between two connections to
    /// one venue, and nothing beside a rotation every day.
    pub const SETTLE: Duration = Duration::from_millis(100);

    /// Rotations only when the venue asks (no lifetime timer).
    pub fn on_request_only() -> RotationConfig {
        RotationConfig {
            lifetime: None,
            margin: Duration::ZERO,
            retry: Duration::from_secs(5),
            switch_timeout: Duration::from_secs(60),
            settle: Self::SETTLE,
        }
    }
}

/// Why a [`RotatingFeed`] could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RotationError {
    /// The margin is not shorter than the lifetime, the retry delay or switch timeout is
    /// zero, or the settle time is not shorter than the switch timeout.
    #[error(
        "rotation margin must be shorter than the lifetime, settle shorter than the switch \
         timeout; retry and switch timeout non-zero"
    )]
    Config,
    /// The factory could not build the first handler.
    #[error("the feed factory could not build the first connection's adapter")]
    Factory,
}

/// Builds the adapter and snapshot source of one connection (called on the I/O thread at
/// each rotation, and once by [`RotatingFeed::new`]). `None`: not now (retried later).
pub type FeedFactory<A> = Box<dyn FnMut() -> Option<(A, Box<dyn SnapshotSource>)> + Send>;

/// Counters of a [`RotatingFeed`], readable from any thread through a [`RotationMonitor`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RotationStats {
    /// Rotations started (a standby leg opened).
    pub started: u64,
    /// Rotations completed by a planned switch (the standby was ready, the old leg closed).
    pub completed: u64,
    /// Switches forced by the active leg dropping during a rotation.
    pub fallbacks: u64,
    /// Rotations abandoned (the standby dropped, timed out or the venue shut it down).
    pub abandoned: u64,
    /// Rotations not started because the factory returned `None`.
    pub build_failures: u64,
    /// Books resynced by switches (0 when every switch joined cleanly).
    pub resynced_books: u64,
    /// Logged trades and BBOs the switches skipped as already published.
    pub duplicates: u64,
}

#[derive(Debug, Default)]
struct Counters {
    started: AtomicU64,
    completed: AtomicU64,
    fallbacks: AtomicU64,
    abandoned: AtomicU64,
    build_failures: AtomicU64,
    resynced_books: AtomicU64,
    duplicates: AtomicU64,
}

/// Reads a [`RotatingFeed`]'s counters from any thread (the feed itself lives on the I/O
/// thread once added to an engine).
#[derive(Clone, Debug)]
pub struct RotationMonitor(Arc<Counters>);

impl RotationMonitor {
    /// The counters now.
    pub fn stats(&self) -> RotationStats {
        let c = &self.0;
        RotationStats {
            started: c.started.load(Relaxed),
            completed: c.completed.load(Relaxed),
            fallbacks: c.fallbacks.load(Relaxed),
            abandoned: c.abandoned.load(Relaxed),
            build_failures: c.build_failures.load(Relaxed),
            resynced_books: c.resynced_books.load(Relaxed),
            duplicates: c.duplicates.load(Relaxed),
        }
    }
}

/// One leg's handler and its timer bookkeeping (also one line of an `ArbitratedFeed`).
pub(super) struct Side<A: FeedAdapter> {
    pub(super) handler: FeedHandler<A>,
    pub(super) leg: Leg,
    /// When its session came up (0: not in session).
    pub(super) connected_at: u64,
    /// The deadline the inner handler asked for (NEVER: none).
    pub(super) inner_at: u64,
    /// The deadline armed on the leg (NEVER: none).
    pub(super) armed_at: u64,
    /// A standby: when it was first found ready to take over (0: not ready).
    pub(super) ready_since: u64,
}

impl<A: FeedAdapter> Side<A> {
    pub(super) fn new(handler: FeedHandler<A>, leg: Leg) -> Side<A> {
        Side {
            handler,
            leg,
            connected_at: 0,
            inner_at: NEVER,
            armed_at: NEVER,
            ready_since: 0,
        }
    }

    /// Calls the inner handler, noting the timer it asks for (the leg's real timer is armed
    /// by [`RotatingFeed::arm`]).
    #[inline]
    pub(super) fn call<R>(
        &mut self,
        cx: &mut Context<'_>,
        f: impl FnOnce(&mut FeedHandler<A>, &mut Context<'_>) -> R,
    ) -> R {
        let saved = (
            cx.actions.timer.take(),
            std::mem::take(&mut cx.actions.cancel_timer),
        );
        let r = f(&mut self.handler, cx);
        if let Some(at) = cx.actions.timer {
            self.inner_at = at;
        } else if cx.actions.cancel_timer {
            self.inner_at = NEVER;
        }
        (cx.actions.timer, cx.actions.cancel_timer) = saved;
        r
    }
}

/// A [`WsHandler`] that keeps a feed running across venue-forced reconnects, make before
/// break. See the module docs.
pub struct RotatingFeed<A: FeedAdapter> {
    active: Side<A>,
    standby: Option<Side<A>>,
    factory: FeedFactory<A>,
    feed_config: FeedConfig,
    config: RotationConfig,
    /// The rotation's own deadline on the active leg: start a rotation, or (while one runs)
    /// abandon it.
    rotate_at: u64,
    /// A leg whose rotation was abandoned: when it is gone, schedule the retry.
    abandoned_leg: Option<Leg>,
    /// Run-time subscription changes, net per topic (the last request wins): replayed on
    /// every standby when it comes up.
    added: Vec<String>,
    removed: Vec<String>,
    counters: Arc<Counters>,
    last_report: Option<HandoverReport>,
}

impl<A: FeedAdapter> RotatingFeed<A> {
    /// A feed whose connections each get an adapter and snapshot source from `factory`
    /// (the first one now), run as [`FeedHandler`]s with `feed`, rotated per `config`.
    pub fn new(
        mut factory: FeedFactory<A>,
        feed: FeedConfig,
        config: RotationConfig,
    ) -> Result<RotatingFeed<A>, RotationError> {
        if config.retry.is_zero()
            || config.switch_timeout.is_zero()
            || config.settle >= config.switch_timeout
            || config.lifetime.is_some_and(|l| config.margin >= l)
        {
            return Err(RotationError::Config);
        }
        let (adapter, snapshots) = factory().ok_or(RotationError::Factory)?;
        Ok(RotatingFeed {
            active: Side::new(FeedHandler::new(adapter, snapshots, feed), Leg(0)),
            standby: None,
            factory,
            feed_config: feed,
            config,
            rotate_at: NEVER,
            abandoned_leg: None,
            added: Vec::new(),
            removed: Vec::new(),
            counters: Arc::new(Counters::default()),
            last_report: None,
        })
    }

    /// The active connection's adapter (for its endpoint and heartbeat rules).
    pub fn adapter(&self) -> &A {
        self.active.handler.adapter()
    }

    /// The publishing handler.
    pub fn active(&self) -> &FeedHandler<A> {
        &self.active.handler
    }

    /// Whether a rotation is under way (a standby leg exists).
    pub fn rotating(&self) -> bool {
        self.standby.is_some()
    }

    /// A handle on the counters that works from any thread.
    pub fn monitor(&self) -> RotationMonitor {
        RotationMonitor(self.counters.clone())
    }

    /// What the last switch did.
    pub fn last_report(&self) -> Option<HandoverReport> {
        self.last_report
    }

    fn ns(d: Duration) -> u64 {
        u64::try_from(d.as_nanos()).unwrap_or(NEVER)
    }

    /// When a session that came up at `started` should rotate (not before `now + retry`).
    fn rotation_due(&self, started: u64, now: u64) -> u64 {
        let Some(lifetime) = self.config.lifetime else {
            return NEVER;
        };
        let due = started
            .saturating_add(Self::ns(lifetime))
            .saturating_sub(Self::ns(self.config.margin));
        due.max(now.saturating_add(Self::ns(self.config.retry)))
    }

    fn status(kind: StatusKind, reason: Reason, value: u64, cx: &mut Context<'_>) {
        let connection = cx.connection().0;
        let e = Event::status(
            InstrumentId::NONE,
            Status {
                kind,
                reason: reason.code(),
                value,
                connection,
            },
            cx.now(),
        );
        cx.publish(e);
    }

    /// Arms the handler timer of the callback's leg at the earliest deadline it needs.
    #[inline]
    fn arm(&mut self, cx: &mut Context<'_>) {
        let leg = cx.leg();
        let (side, own) = if leg == self.active.leg {
            (&mut self.active, self.rotate_at)
        } else {
            let settle = Self::ns(self.config.settle);
            match self.standby.as_mut() {
                Some(s) if s.leg == leg => {
                    let own = match s.ready_since {
                        0 => NEVER,
                        at => at.saturating_add(settle),
                    };
                    (s, own)
                }
                _ => return,
            }
        };
        let want = side.inner_at.min(own);
        if want != side.armed_at {
            side.armed_at = want;
            if want == NEVER {
                cx.cancel_timer();
            } else {
                cx.set_timer(want);
            }
        }
    }

    /// Starts a rotation (from a callback on any leg): opens a standby leg.
    fn begin(&mut self, reason: Reason, cx: &mut Context<'_>) {
        if self.standby.is_some() || self.active.connected_at == 0 {
            return;
        }
        let now = cx.now();
        let Some((adapter, snapshots)) = (self.factory)() else {
            self.counters.build_failures.fetch_add(1, Relaxed);
            self.rotate_at = now.saturating_add(Self::ns(self.config.retry));
            return;
        };
        let leg = cx.open_leg();
        let handler = FeedHandler::standby(adapter, snapshots, self.feed_config);
        self.standby = Some(Side::new(handler, leg));
        self.rotate_at = now.saturating_add(Self::ns(self.config.switch_timeout));
        self.counters.started.fetch_add(1, Relaxed);
        if reason != Reason::ServerShutdown {
            // The handler already published `Rotating` for a venue request.
            Self::status(StatusKind::Rotating, reason, u64::from(leg.0), cx);
        }
    }

    /// Whether the standby `s` has been ready to take over for the settle time (noting when
    /// it became ready; a standby that stops being ready starts over).
    fn settled(&self, s: &mut Side<A>, now: u64) -> bool {
        if !s.handler.ready_to_replace(&self.active.handler) {
            s.ready_since = 0;
            return false;
        }
        if s.ready_since == 0 {
            s.ready_since = now.max(1);
        }
        now.saturating_sub(s.ready_since) >= Self::ns(self.config.settle)
    }

    /// Drops the standby and closes its leg; the retry is scheduled once it is gone.
    fn abandon(&mut self, cx: &mut Context<'_>) {
        if let Some(s) = self.standby.take() {
            cx.close_leg(s.leg);
            self.abandoned_leg = Some(s.leg);
            self.counters.abandoned.fetch_add(1, Relaxed);
            self.rotate_at = cx.now().saturating_add(Self::ns(self.config.retry));
        }
    }

    /// The standby (this callback's leg, `standby`) replaces the active handler. `planned`:
    /// the old leg is still up and is closed now.
    fn switch(&mut self, mut standby: Side<A>, planned: bool, cx: &mut Context<'_>) {
        if cx.is_live() {
            Self::status(
                StatusKind::Connected,
                Reason::Rotation,
                u64::from(cx.connection().0),
                cx,
            );
        }
        let old = &mut self.active.handler;
        let report = standby.call(cx, |h, cx| h.take_over(old, cx));
        if planned {
            cx.close_leg(self.active.leg);
            self.counters.completed.fetch_add(1, Relaxed);
        } else {
            self.counters.fallbacks.fetch_add(1, Relaxed);
        }
        self.counters
            .resynced_books
            .fetch_add(report.resynced as u64, Relaxed);
        self.counters
            .duplicates
            .fetch_add(report.duplicates, Relaxed);
        self.last_report = Some(report);
        // The retired handler (and its snapshot source) goes now.
        self.active = standby;
        self.rotate_at = match self.active.connected_at {
            0 => NEVER,
            at => self.rotation_due(at, cx.now()),
        };
    }

    /// Which side a leg belongs to.
    #[inline]
    fn is_standby(&self, leg: Leg) -> bool {
        self.standby.as_ref().is_some_and(|s| s.leg == leg)
    }

    /// A run-time (un)subscription: noted (net per topic, valid topics only) when it comes
    /// through the active leg, and passed to the handler of the callback's leg: the active
    /// one, or a standby that is up (one still connecting gets the net changes when it is).
    fn subscription(&mut self, topics: &[String], subscribe: bool, cx: &mut Context<'_>) {
        let leg = cx.leg();
        if leg == self.active.leg {
            for t in topics {
                if self.active.handler.adapter().parse_topic(t).is_none() {
                    continue; // reported by the active handler; never replayed
                }
                let (to, from) = if subscribe {
                    (&mut self.added, &mut self.removed)
                } else {
                    (&mut self.removed, &mut self.added)
                };
                from.retain(|x| x != t);
                if !to.contains(t) {
                    to.push(t.clone());
                }
            }
            self.active.call(cx, |h, cx| {
                if subscribe {
                    h.on_subscribe(topics, cx);
                } else {
                    h.on_unsubscribe(topics, cx);
                }
            });
        } else if let Some(s) = self
            .standby
            .as_mut()
            .filter(|s| s.leg == leg && s.connected_at != 0)
        {
            // Invalid topics were reported once, by the active handler.
            let valid: Vec<String> = topics
                .iter()
                .filter(|t| s.handler.adapter().parse_topic(t).is_some())
                .cloned()
                .collect();
            if !valid.is_empty() {
                s.call(cx, |h, cx| {
                    if subscribe {
                        h.on_subscribe(&valid, cx);
                    } else {
                        h.on_unsubscribe(&valid, cx);
                    }
                });
            }
        }
        self.arm(cx);
    }
}

impl<A: FeedAdapter> WsHandler for RotatingFeed<A> {
    fn min_ring_capacity(&self) -> usize {
        self.active.handler.min_ring_capacity()
    }

    fn on_connect(&mut self, cx: &mut Context<'_>) {
        let (leg, now) = (cx.leg(), cx.now());
        if leg == self.active.leg {
            self.active.connected_at = now;
            self.active.call(cx, |h, cx| h.on_connect(cx));
            if self.standby.is_none() {
                self.rotate_at = self.rotation_due(now, now);
            }
        } else if let Some(s) = self.standby.as_mut().filter(|s| s.leg == leg) {
            s.connected_at = now;
            s.call(cx, |h, cx| h.on_connect(cx));
            // The factory's adapter has the original subscriptions: bring it up to date.
            let (removed, added) = (&self.removed, &self.added);
            if !removed.is_empty() {
                s.call(cx, |h, cx| h.on_unsubscribe(removed, cx));
            }
            if !added.is_empty() {
                s.call(cx, |h, cx| h.on_subscribe(added, cx));
            }
        }
        self.arm(cx);
    }

    fn on_subscribe(&mut self, topics: &[String], cx: &mut Context<'_>) {
        self.subscription(topics, true, cx);
    }

    fn on_unsubscribe(&mut self, topics: &[String], cx: &mut Context<'_>) {
        self.subscription(topics, false, cx);
    }

    #[inline]
    fn on_message(&mut self, msg: Message<'_>, cx: &mut Context<'_>) {
        let leg = cx.leg();
        if leg == self.active.leg {
            self.active.call(cx, |h, cx| h.on_message(msg, cx));
            if cx.actions.recycle == Some(Reason::ServerShutdown) {
                // The venue is going away: rotate instead of reconnecting with a gap.
                cx.actions.recycle = None;
                self.begin(Reason::ServerShutdown, cx);
            }
        } else if let Some(mut s) = self.standby.take_if(|s| s.leg == leg) {
            s.call(cx, |h, cx| h.on_message(msg, cx));
            if cx.actions.recycle == Some(Reason::ServerShutdown) {
                // The standby's server is going away too: start over on a fresh leg.
                cx.actions.recycle = None;
                self.standby = Some(s);
                self.abandon(cx);
                self.begin(Reason::ServerShutdown, cx);
            } else if self.settled(&mut s, cx.now()) {
                self.switch(s, true, cx);
            } else {
                self.standby = Some(s);
            }
        }
        // Anything else is an old leg still closing after a switch: ignored.
        self.arm(cx);
    }

    fn on_disconnect(&mut self, reason: Reason, cx: &mut Context<'_>) -> Reconnect {
        let leg = cx.leg();
        if leg == self.active.leg {
            self.rotate_at = NEVER;
            let Some(standby) = self.standby.as_ref() else {
                self.active.connected_at = 0;
                return self.active.call(cx, |h, cx| h.on_disconnect(reason, cx));
            };
            // The standby will take over once this leg is gone (`on_leg_closed`). With its
            // session up, the old books stay as they are so the switch can join them where
            // the ids line up; otherwise they are resynced now, as after any disconnect.
            if standby.connected_at == 0 {
                self.active.call(cx, |h, cx| h.on_disconnect(reason, cx));
            }
            self.active.connected_at = 0;
            Reconnect::No
        } else if let Some(mut s) = self.standby.take_if(|s| s.leg == leg) {
            s.call(cx, |h, cx| h.on_disconnect(reason, cx));
            self.abandoned_leg = Some(leg);
            self.counters.abandoned.fetch_add(1, Relaxed);
            Reconnect::No
        } else {
            Reconnect::No
        }
    }

    fn on_error(&mut self, reason: Reason, cx: &mut Context<'_>) {
        let leg = cx.leg();
        if leg == self.active.leg {
            self.active.call(cx, |h, cx| h.on_error(reason, cx));
        } else if let Some(s) = self.standby.as_mut().filter(|s| s.leg == leg) {
            s.call(cx, |h, cx| h.on_error(reason, cx));
        }
        self.arm(cx);
    }

    fn on_timer(&mut self, cx: &mut Context<'_>) {
        let (leg, now) = (cx.leg(), cx.now());
        if leg == self.active.leg {
            self.active.armed_at = NEVER;
            if now >= self.active.inner_at {
                self.active.inner_at = NEVER;
                self.active.call(cx, |h, cx| h.on_timer(cx));
            }
            if now >= self.rotate_at {
                self.rotate_at = NEVER;
                if self.standby.is_some() {
                    self.abandon(cx);
                } else {
                    self.begin(Reason::Rotation, cx);
                }
            }
        } else if let Some(mut s) = self.standby.take_if(|s| s.leg == leg) {
            s.armed_at = NEVER;
            if now >= s.inner_at {
                s.inner_at = NEVER;
                s.call(cx, |h, cx| h.on_timer(cx));
            }
            if self.settled(&mut s, now) {
                self.switch(s, true, cx);
            } else {
                self.standby = Some(s);
            }
        }
        self.arm(cx);
    }

    fn on_poll(&mut self, cx: &mut Context<'_>) {
        let leg = cx.leg();
        if leg == self.active.leg {
            self.active.call(cx, |h, cx| h.on_poll(cx));
        } else if let Some(s) = self.standby.as_mut().filter(|s| s.leg == leg) {
            s.call(cx, |h, cx| h.on_poll(cx));
        }
        self.arm(cx);
    }

    fn on_leg_closed(&mut self, leg: Leg, reason: Reason, cx: &mut Context<'_>) {
        let _ = reason;
        if leg == self.active.leg {
            // The active leg went down during a rotation: the standby (now the primary leg,
            // this callback's) takes over.
            if let Some(s) = self.standby.take() {
                self.switch(s, false, cx);
            }
        } else if self.is_standby(leg) {
            // The standby gave up without a session (its backoff ran out).
            self.standby = None;
            self.counters.abandoned.fetch_add(1, Relaxed);
            self.rotate_at = cx.now().saturating_add(Self::ns(self.config.retry));
        } else if self.abandoned_leg == Some(leg) {
            self.abandoned_leg = None;
            if self.standby.is_none() && self.active.connected_at != 0 {
                self.rotate_at = cx.now().saturating_add(Self::ns(self.config.retry));
            }
        }
        self.arm(cx);
    }
}

/// Adds `feed` to a running engine as one connection publishing to `consumers` (its legs
/// share the endpoint, headers and heartbeat rules of the active adapter). `extra_roots`
/// are trusted in addition to the webpki roots (DER).
pub fn add_rotating_feed<A: FeedAdapter>(
    engine: &EngineHandle,
    feed: RotatingFeed<A>,
    base: ConnectionOptions,
    extra_roots: &[Vec<u8>],
    consumers: &[ConsumerId],
) -> Result<ConnectionId, AddFeedError> {
    let mut config = super::connection_config(feed.adapter(), base)?;
    for der in extra_roots {
        config = config.trust_root_der(der);
    }
    Ok(engine.add_connection(config, Box::new(feed), consumers)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::{
        BookSpec, DecodeError, DecodeStats, DiffIds, Endpoint, Frame, Heartbeat, Pacing, SeqCheck,
    };
    use crate::decimal::Decimal;
    use crate::event::{Side, Trade};
    use crate::handler::{Actions, Outbox, Publisher};
    use crate::ring::{self, Consumer};

    /// Trades only: `t<id>` is a trade of instrument 0, `t<id>@<n>` one of instrument `n`
    /// (topic `inst<n>` subscribes it at run time), `shutdown` the venue's shutdown notice.
    #[derive(Default)]
    struct Fake {
        extra: Vec<u32>,
    }

    impl FeedAdapter for Fake {
        type Subscription = u32;
        fn venue(&self) -> &str {
            "fake"
        }
        fn endpoint(&self) -> Endpoint {
            Endpoint {
                url: "ws://127.0.0.1:1/".into(),
                headers: Vec::new(),
            }
        }
        fn heartbeat(&self) -> Heartbeat {
            Heartbeat {
                server_ping_interval_ns: None,
                client_ping_interval_ns: None,
                app_ping: None,
                pong_timeout_ns: 1,
                stale_after_ns: None,
            }
        }
        fn pacing(&self) -> Pacing {
            Pacing::default()
        }
        fn books(&self) -> Vec<BookSpec> {
            Vec::new()
        }
        fn instruments(&self) -> Vec<InstrumentId> {
            std::iter::once(0)
                .chain(self.extra.iter().copied())
                .map(InstrumentId)
                .collect()
        }
        fn parse_topic(&self, topic: &str) -> Option<u32> {
            topic.strip_prefix("inst")?.parse().ok()
        }
        fn connect_frames(&mut self, _out: &mut Vec<Vec<u8>>) {}
        fn subscribe(&mut self, subs: &[u32], _out: &mut Vec<Vec<u8>>) {
            self.extra.extend_from_slice(subs);
        }
        fn unsubscribe(&mut self, subs: &[u32], _out: &mut Vec<Vec<u8>>) {
            self.extra.retain(|i| !subs.contains(i));
        }
        fn pending_acks(&self) -> usize {
            0
        }
        fn decode(
            &mut self,
            payload: &mut [u8],
            recv_ts: u64,
            out: &mut Vec<Event>,
        ) -> Result<Frame, DecodeError> {
            if payload == b"shutdown" {
                return Ok(Frame::Rotate);
            }
            let text = std::str::from_utf8(payload)
                .ok()
                .and_then(|p| p.strip_prefix('t'))
                .ok_or(DecodeError::new(Reason::Json))?;
            let (id, inst) = text.split_once('@').unwrap_or((text, "0"));
            let (id, inst): (u64, u32) = id
                .parse()
                .ok()
                .zip(inst.parse().ok())
                .ok_or(DecodeError::new(Reason::Json))?;
            let trade = Trade {
                price: Decimal::from_parts(1, 0),
                qty: Decimal::from_parts(1, 0),
                side: Side::Buy,
                id,
            };
            let e = Event::trade(InstrumentId(inst), trade, 0, recv_ts)
                .map_err(|_| DecodeError::new(Reason::Number))?;
            out.push(e);
            Ok(Frame::Market)
        }
        fn decode_stats(&self) -> DecodeStats {
            DecodeStats::default()
        }
        fn first_diff(&self, _snapshot_id: u64, _diff: &DiffIds) -> SeqCheck {
            SeqCheck::Apply
        }
        fn next_diff(&self, _last: &DiffIds, _diff: &DiffIds) -> SeqCheck {
            SeqCheck::Apply
        }
    }

    const S: u64 = 1_000_000_000;

    /// Drives the feed by hand like the engine would: per callback a context for a leg;
    /// leg numbers handed out in order.
    struct Harness {
        feed: RotatingFeed<Fake>,
        outbox: Outbox,
        publisher: Publisher,
        consumer: Consumer,
        next_leg: u32,
        builds: Arc<AtomicU64>,
    }

    impl Harness {
        fn new() -> Harness {
            Harness::settling(Duration::ZERO)
        }

        fn settling(settle: Duration) -> Harness {
            let builds = Arc::new(AtomicU64::new(0));
            let b = builds.clone();
            let factory: FeedFactory<Fake> = Box::new(move || {
                b.fetch_add(1, Relaxed);
                Some((
                    Fake::default(),
                    Box::new(crate::adapter::QueuedSnapshots::new()) as _,
                ))
            });
            let config = RotationConfig {
                lifetime: Some(Duration::from_secs(10)),
                margin: Duration::from_secs(2),
                retry: Duration::from_secs(1),
                switch_timeout: Duration::from_secs(3),
                settle,
            };
            let feed = RotatingFeed::new(factory, FeedConfig::default(), config).unwrap();
            let (p, consumer) = ring::channel(1024);
            Harness {
                feed,
                outbox: Outbox::new(1 << 16),
                publisher: Publisher::new(vec![p]),
                consumer,
                next_leg: 1,
                builds,
            }
        }

        fn call<R>(
            &mut self,
            leg: u32,
            now: u64,
            f: impl FnOnce(&mut RotatingFeed<Fake>, &mut Context<'_>) -> R,
        ) -> (R, Actions) {
            let mut actions = Actions::default();
            let mut cx = Context::new(
                now,
                ConnectionId(7),
                &mut self.outbox,
                &mut self.publisher,
                &mut actions,
            )
            .for_leg(Leg(leg), self.next_leg);
            let r = f(&mut self.feed, &mut cx);
            if actions.opens_leg() {
                self.next_leg += 1;
            }
            (r, actions)
        }

        fn message(&mut self, leg: u32, now: u64, text: &str) -> Actions {
            let mut buf = text.as_bytes().to_vec();
            self.call(leg, now, |f, cx| f.on_message(Message::Text(&mut buf), cx))
                .1
        }

        fn drain(&mut self) -> Vec<Event> {
            std::iter::from_fn(|| self.consumer.pop()).collect()
        }
    }

    fn status_kinds(events: &[Event]) -> Vec<(StatusKind, Reason)> {
        events
            .iter()
            .filter_map(Event::as_status)
            .map(|s| {
                let r = [
                    Reason::None,
                    Reason::Rotation,
                    Reason::ServerShutdown,
                    Reason::Io,
                    Reason::Schema,
                ]
                .into_iter()
                .find(|r| r.code() == s.reason)
                .expect("a reason these tests know");
                (s.kind, r)
            })
            .collect()
    }

    fn trades(events: &[Event]) -> Vec<u64> {
        events
            .iter()
            .filter_map(Event::as_trade)
            .map(|t| t.id)
            .collect()
    }

    #[test]
    fn rotates_switches_abandons_retries_and_falls_back() {
        let mut h = Harness::new();
        let t0 = 100 * S;
        // Up: the rotation is due at lifetime - margin.
        let (_, a) = h.call(0, t0, |f, cx| f.on_connect(cx));
        assert_eq!(a.timer(), Some(t0 + 8 * S));
        h.message(0, t0 + 1, "t1");
        assert_eq!(trades(&h.drain()), vec![1]);

        // Due: a standby leg opens; `Rotating` in-band; the switch deadline is armed.
        let t1 = t0 + 8 * S;
        let (_, a) = h.call(0, t1, |f, cx| f.on_timer(cx));
        assert!(a.opens_leg());
        assert_eq!(a.timer(), Some(t1 + 3 * S));
        assert!(h.feed.rotating());
        assert_eq!(
            status_kinds(&h.drain()),
            vec![(StatusKind::Rotating, Reason::Rotation)]
        );
        h.call(1, t1 + 10, |f, cx| f.on_connect(cx));
        h.message(0, t1 + 11, "t2");
        assert_eq!(trades(&h.drain()), vec![2]);
        // The standby's first message: ready (no books) → it takes over; what the old leg
        // published already (t2) is skipped, the rest follows; the old leg is closed.
        let a = h.message(1, t1 + 12, "t2");
        assert_eq!(a.closes_legs().collect::<Vec<_>>(), vec![Leg(0)]);
        let ev = h.drain();
        assert_eq!(
            status_kinds(&ev),
            vec![(StatusKind::Connected, Reason::Rotation)]
        );
        assert_eq!(trades(&ev), Vec::<u64>::new());
        // Its next rotation: 8 s after its own session came up.
        assert_eq!(a.timer(), Some(t1 + 10 + 8 * S));
        // The old leg's late messages are ignored; the new one publishes.
        h.message(0, t1 + 13, "t3");
        h.message(1, t1 + 14, "t3");
        assert_eq!(trades(&h.drain()), vec![3]);
        let (again, _) = h.call(0, t1 + 15, |f, cx| f.on_disconnect(Reason::Shutdown, cx));
        assert_eq!(again, Reconnect::No);
        let m = h.feed.monitor().stats();
        assert_eq!((m.started, m.completed), (1, 1));

        // A standby that drops is abandoned; the retry comes `retry` after it is gone.
        let t2 = t1 + 10 + 8 * S;
        let (_, a) = h.call(1, t2, |f, cx| f.on_timer(cx));
        assert!(a.opens_leg());
        assert_eq!(
            status_kinds(&h.drain()),
            vec![(StatusKind::Rotating, Reason::Rotation)]
        );
        h.call(2, t2 + 1, |f, cx| f.on_connect(cx));
        let (again, _) = h.call(2, t2 + 2, |f, cx| f.on_disconnect(Reason::Io, cx));
        assert_eq!(again, Reconnect::No);
        assert!(!h.feed.rotating());
        let (_, a) = h.call(1, t2 + 3, |f, cx| f.on_leg_closed(Leg(2), Reason::Io, cx));
        assert_eq!(a.timer(), Some(t2 + 3 + S));
        let (_, a) = h.call(1, t2 + 3 + S, |f, cx| f.on_timer(cx));
        assert!(a.opens_leg());
        // An abandoned rotation says nothing in-band: the active leg never stopped.
        assert_eq!(
            status_kinds(&h.drain()),
            vec![(StatusKind::Rotating, Reason::Rotation)]
        );

        // A standby not ready by the switch deadline (it never speaks) is abandoned too.
        let t3 = t2 + 3 + S;
        h.call(3, t3 + 1, |f, cx| f.on_connect(cx));
        let (_, a) = h.call(1, t3 + 3 * S, |f, cx| f.on_timer(cx));
        assert_eq!(a.closes_legs().collect::<Vec<_>>(), vec![Leg(3)]);
        assert!(!h.feed.rotating());
        h.call(1, t3 + 3 * S + 1, |f, cx| {
            f.on_leg_closed(Leg(3), Reason::Shutdown, cx)
        });
        let m = h.feed.monitor().stats();
        assert_eq!((m.started, m.abandoned), (3, 2));
        assert!(h.drain().is_empty());

        // The venue's shutdown notice starts a rotation instead of a recycle.
        let t4 = t3 + 5 * S;
        let a = h.message(1, t4, "shutdown");
        assert!(a.opens_leg());
        assert_eq!(a.recycles(), None);
        assert_eq!(
            status_kinds(&h.drain()),
            vec![(StatusKind::Rotating, Reason::ServerShutdown)]
        );
        // The active leg dies before the standby is ready: the standby (in session) takes
        // over once the old leg is gone; no resync is published for the carried state.
        h.call(4, t4 + 1, |f, cx| f.on_connect(cx));
        let (again, _) = h.call(1, t4 + 2, |f, cx| f.on_disconnect(Reason::Io, cx));
        assert_eq!(again, Reconnect::No);
        assert!(h.drain().is_empty());
        h.call(4, t4 + 3, |f, cx| f.on_leg_closed(Leg(1), Reason::Io, cx));
        assert_eq!(
            status_kinds(&h.drain()),
            vec![(StatusKind::Connected, Reason::Rotation)]
        );
        assert!(!h.feed.rotating());
        h.message(4, t4 + 4, "t3");
        h.message(4, t4 + 5, "t4");
        assert_eq!(trades(&h.drain()), vec![4]);
        let m = h.feed.monitor().stats();
        assert_eq!(
            (m.started, m.completed, m.fallbacks, m.abandoned),
            (4, 1, 1, 2)
        );
        assert_eq!(h.builds.load(Relaxed), 5);
    }

    #[test]
    fn a_factory_failure_retries_later() {
        let factory: FeedFactory<Fake> = {
            let mut first = true;
            Box::new(move || {
                let ok = std::mem::take(&mut first);
                ok.then(|| {
                    (
                        Fake::default(),
                        Box::new(crate::adapter::QueuedSnapshots::new()) as _,
                    )
                })
            })
        };
        let config = RotationConfig {
            retry: Duration::from_secs(1),
            ..RotationConfig::new(Duration::from_secs(10), Duration::from_secs(2))
        };
        let mut h = Harness::new();
        h.feed = RotatingFeed::new(factory, FeedConfig::default(), config).unwrap();
        h.call(0, S, |f, cx| f.on_connect(cx));
        let (_, a) = h.call(0, 9 * S, |f, cx| f.on_timer(cx));
        assert!(!a.opens_leg());
        assert_eq!(a.timer(), Some(10 * S));
        assert_eq!(h.feed.monitor().stats().build_failures, 1);
        assert!(
            RotatingFeed::new(
                Box::new(|| None::<(Fake, Box<dyn SnapshotSource>)>),
                FeedConfig::default(),
                config
            )
            .err()
                == Some(RotationError::Factory)
        );
    }

    #[test]
    fn run_time_subscriptions_reach_the_standby_and_are_deduplicated_at_the_switch() {
        let mut h = Harness::new();
        let t0 = 100 * S;
        h.call(0, t0, |f, cx| f.on_connect(cx));
        // Instrument 1 is added at run time; an unknown topic is reported once, not kept.
        let topics = vec!["inst1".to_string(), "bogus".to_string()];
        h.call(0, t0 + 1, |f, cx| f.on_subscribe(&topics, cx));
        assert_eq!(
            status_kinds(&h.drain()),
            vec![(StatusKind::SubscriptionError, Reason::Schema)]
        );
        assert_eq!(h.feed.added, vec!["inst1".to_string()]);
        h.message(0, t0 + 2, "t5@1");
        assert_eq!(trades(&h.drain()), vec![5]);
        // A rotation: the standby (built with the original set) gets the change when up.
        let a = h.message(0, t0 + 3, "shutdown");
        assert!(a.opens_leg());
        h.drain();
        h.call(1, t0 + 4, |f, cx| f.on_connect(cx));
        assert!(h.drain().is_empty(), "the replay must not report anything");
        let standby = h.feed.standby.as_ref().unwrap();
        assert_eq!(standby.handler.adapter().extra, vec![1]);
        // The standby also saw trade 5 of instrument 1: the switch skips it.
        let a = h.message(1, t0 + 5, "t5@1");
        assert_eq!(a.closes_legs().collect::<Vec<_>>(), vec![Leg(0)]);
        assert_eq!(trades(&h.drain()), Vec::<u64>::new());
        h.message(1, t0 + 6, "t6@1");
        assert_eq!(trades(&h.drain()), vec![6]);
        assert_eq!(h.feed.monitor().stats().duplicates, 1);
        // Unsubscribing later is remembered too (last request per topic wins).
        let topics = vec!["inst1".to_string()];
        h.call(1, t0 + 7, |f, cx| f.on_unsubscribe(&topics, cx));
        assert!(h.feed.added.is_empty());
        assert_eq!(h.feed.removed, topics);
        assert!(h.feed.active().adapter().extra.is_empty());
    }

    /// The standby subscribed later than the old leg and is ahead of it (the old leg's
    /// socket still holds trades 2 and 3): switching now would lose them. It waits until the
    /// old leg has published up to its first trade, then for the settle time, then takes
    /// over on its timer: every trade exactly once, in order.
    #[test]
    fn a_standby_ahead_of_a_lagging_old_leg_waits_for_it_then_settles() {
        const MS: u64 = 1_000_000;
        let mut h = Harness::settling(Duration::from_millis(50));
        let t0 = 100 * S;
        h.call(0, t0, |f, cx| f.on_connect(cx));
        h.message(0, t0 + 1, "t1");
        assert!(h.message(0, t0 + 2, "shutdown").opens_leg());
        h.call(1, t0 + 3, |f, cx| f.on_connect(cx));
        // Ahead: not ready (4 is more than one past the old leg's 1).
        let a = h.message(1, t0 + 4, "t4");
        assert_eq!(a.closes_legs().count(), 0);
        h.message(0, t0 + 5, "t2");
        let a = h.message(1, t0 + 6, "t5");
        assert_eq!(a.closes_legs().count(), 0);
        // The old leg reaches 3: ready, but it settles first (its timer says until when).
        h.message(0, t0 + 7, "t3");
        let a = h.message(1, t0 + 8, "t6");
        assert_eq!(a.closes_legs().count(), 0);
        assert_eq!(a.timer(), Some(t0 + 8 + 50 * MS));
        // Still publishing meanwhile.
        h.message(0, t0 + 9, "t4");
        let (_, a) = h.call(1, t0 + 8 + 50 * MS, |f, cx| f.on_timer(cx));
        assert_eq!(a.closes_legs().collect::<Vec<_>>(), vec![Leg(0)]);
        h.message(1, t0 + 9 + 50 * MS, "t7");
        let ev = h.drain();
        assert_eq!(trades(&ev), vec![1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(h.feed.monitor().stats().completed, 1);
    }

    /// A standby that is ready before it has seen a trade of a stream still waits the
    /// settle time: the old leg may have trades of it in flight that the standby never gets.
    #[test]
    fn a_ready_standby_without_trades_waits_the_settle_time() {
        const MS: u64 = 1_000_000;
        let mut h = Harness::settling(Duration::from_millis(50));
        let t0 = 100 * S;
        h.call(0, t0, |f, cx| f.on_connect(cx));
        h.message(0, t0 + 1, "t1");
        assert!(h.message(0, t0 + 2, "shutdown").opens_leg());
        h.call(1, t0 + 3, |f, cx| f.on_connect(cx));
        // A message of another instrument: ready for instrument 0 (no trade of it yet).
        let a = h.message(1, t0 + 4, "t9@1");
        assert_eq!(a.closes_legs().count(), 0);
        // The old leg's in-flight trades 2 and 3 arrive during the settle time.
        h.message(0, t0 + 5, "t2");
        h.message(0, t0 + 6, "t3");
        h.message(1, t0 + 7, "t4");
        let (_, a) = h.call(1, t0 + 4 + 50 * MS, |f, cx| f.on_timer(cx));
        assert_eq!(a.closes_legs().collect::<Vec<_>>(), vec![Leg(0)]);
        let ev = h.drain();
        assert_eq!(trades(&ev), vec![1, 2, 3, 9, 4]);
    }

    #[test]
    fn settle_must_be_shorter_than_the_switch_timeout() {
        let factory: FeedFactory<Fake> = Box::new(|| {
            Some((
                Fake::default(),
                Box::new(crate::adapter::QueuedSnapshots::new()) as _,
            ))
        });
        let config = RotationConfig {
            settle: Duration::from_secs(60),
            ..RotationConfig::new(Duration::from_secs(10), Duration::from_secs(2))
        };
        assert_eq!(
            RotatingFeed::new(factory, FeedConfig::default(), config).err(),
            Some(RotationError::Config)
        );
    }
}
