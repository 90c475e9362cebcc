//! Callbacks on the I/O thread: the generic WebSocket use of the engine (the seeds' handler
//! behaviours) and the seam that venue adapters plug into.
//!
//! A [`WsHandler`] is owned by one connection and called on the I/O thread. It must not block,
//! allocate per message, or log on the hot path: it gets borrowed payloads and a [`Context`]
//! to publish events, send frames, arm its timer and ask for a recycle.

use crate::event::Event;
use crate::reason::Reason;
use crate::ring::EventProducer;

/// Identifies a connection within one engine.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(pub u32);

/// One physical WebSocket connection ("leg") of a logical connection. Leg 0 is the one
/// [`crate::command::EngineHandle::add_connection`] opened; [`Context::open_leg`] opens more
/// to the same endpoint (make-before-break rotation), numbered 1, 2, ... (never reused).
#[repr(transparent)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Leg(pub u32);

/// One whole WebSocket data message, lent for the duration of the callback. The payload is
/// mutable so parsers such as simd-json can work in place.
#[derive(Debug)]
pub enum Message<'a> {
    /// A text message (UTF-8 already validated).
    Text(&'a mut [u8]),
    /// A binary message.
    Binary(&'a mut [u8]),
}

impl Message<'_> {
    /// The payload bytes.
    pub fn payload(&self) -> &[u8] {
        match self {
            Message::Text(p) | Message::Binary(p) => p,
        }
    }
}

/// What to do after a disconnect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reconnect {
    /// Reconnect with backoff and resubscribe (the default).
    Yes,
    /// Stop: the connection is closed for good.
    No,
}

/// Why `send_*` could not queue a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The connection is not live (connecting, closing, or in backoff).
    #[error("connection is not live")]
    NotLive,
    /// The connection's outbound buffer is over its limit.
    #[error("outbound buffer full")]
    Full,
}

/// Callbacks for a generic WebSocket connection. All run on the I/O thread.
pub trait WsHandler: Send + 'static {
    /// The upgrade completed; send subscriptions here. Called again after every reconnect.
    fn on_connect(&mut self, cx: &mut Context<'_>) {
        let _ = cx;
    }

    /// A complete data message arrived (fragments already reassembled).
    fn on_message(&mut self, msg: Message<'_>, cx: &mut Context<'_>);

    /// The connection went down. Return [`Reconnect::No`] to stop for good.
    fn on_disconnect(&mut self, reason: Reason, cx: &mut Context<'_>) -> Reconnect {
        let _ = (reason, cx);
        Reconnect::Yes
    }

    /// A recoverable error was observed (counted; the connection may continue).
    fn on_error(&mut self, reason: Reason, cx: &mut Context<'_>) {
        let _ = (reason, cx);
    }

    /// The handler's own timer (armed with [`Context::set_timer`]) fired: application-level
    /// pings, pacing queues, snapshot polls.
    fn on_timer(&mut self, cx: &mut Context<'_>) {
        let _ = cx;
    }

    /// Runs once per I/O-loop turn while the connection is live and something is pending
    /// (see [`Context::request_poll`]); used to pick up results from helper threads.
    fn on_poll(&mut self, cx: &mut Context<'_>) {
        let _ = cx;
    }

    /// The application asked (through `EngineHandle::subscribe`) to add `topics`. Send the
    /// subscribe frame if the connection is live (a failed send means it is not) and remember
    /// the topics so [`WsHandler::on_connect`] resends them after a reconnect.
    fn on_subscribe(&mut self, topics: &[String], cx: &mut Context<'_>) {
        let _ = (topics, cx);
    }

    /// The application asked (through `EngineHandle::unsubscribe`) to drop `topics`.
    fn on_unsubscribe(&mut self, topics: &[String], cx: &mut Context<'_>) {
        let _ = (topics, cx);
    }

    /// A leg of this connection ended for good and is gone: it was closed with
    /// [`Context::close_leg`], its session ended and [`WsHandler::on_disconnect`] returned
    /// [`Reconnect::No`], or it gave up reconnecting. Called on the connection's remaining
    /// primary leg (`cx.leg()`), so timers, sends and leg requests made here apply to it.
    /// Only connections that opened a second leg see this.
    fn on_leg_closed(&mut self, leg: Leg, reason: Reason, cx: &mut Context<'_>) {
        let _ = (leg, reason, cx);
    }

    /// The smallest consumer ring this handler can serve: its deepest run of events that
    /// must arrive whole (a snapshot run) plus the `Overflow` report that may precede it.
    /// `EngineHandle::add_connection` and `EngineHandle::route` refuse a consumer whose ring
    /// is smaller (such a consumer could never rebuild its books). 0 (the default): any.
    fn min_ring_capacity(&self) -> usize {
        0
    }
}

/// Identifies one consumer ring of an engine (or one ring of a [`Publisher`] driven by
/// hand), stable while the engine runs: [`Context::ring`] hands it out,
/// [`Context::publish_all_to`] takes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RingKey(pub(crate) u16);

/// One consumer ring of a connection, as its handler sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingView {
    /// The ring, for [`Context::publish_all_to`].
    pub key: RingKey,
    /// Events dropped on it since it was created, by any connection publishing to it: a
    /// change means its consumer got (or will get) an `Overflow`, which invalidates every
    /// book it keeps.
    pub lost: u64,
    /// Free slots now.
    pub free: usize,
    /// How many events it holds at most.
    pub capacity: usize,
}

/// Outbound frames queued by a handler, drained by the connection after the callback.
#[derive(Debug, Default)]
pub struct Outbox {
    /// Encoded, masked WebSocket frames waiting to be written.
    pub(crate) bytes: Vec<u8>,
    /// Limit on `bytes.len()`; over it `send_*` fails with [`SendError::Full`].
    pub(crate) limit: usize,
    /// Whether the connection accepts data frames now.
    pub(crate) live: bool,
    /// Frames queued (for telemetry).
    pub(crate) frames: u64,
    /// Mask-key generator state (xorshift; RFC 6455 masking is not a security boundary here).
    pub(crate) mask_state: u64,
    /// Sizes of the most recent frames (a small ring indexed by `frames`), for telemetry.
    pub(crate) sizes: [u32; SENT_SIZES],
}

/// Frame sizes remembered per callback for `MessageSent` telemetry.
pub(crate) const SENT_SIZES: usize = 16;

/// Side effects a handler asked for, applied by the connection after the callback.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Actions {
    /// Recycle the connection (close, then reconnect with backoff) for this reason.
    pub(crate) recycle: Option<Reason>,
    /// Close for good with this WebSocket close code.
    pub(crate) close: Option<u16>,
    /// Deadline (ns, same clock as `now`) for [`WsHandler::on_timer`]; `None` leaves it as is.
    pub(crate) timer: Option<u64>,
    /// Cancel the timer.
    pub(crate) cancel_timer: bool,
    /// Call [`WsHandler::on_poll`] next turn.
    pub(crate) poll: bool,
    /// Open a new leg to the same endpoint ([`Context::open_leg`]).
    pub(crate) open_leg: bool,
    /// Close these legs ([`Context::close_leg`]).
    pub(crate) close_legs: [Option<Leg>; MAX_CLOSE_LEGS],
}

/// Legs one callback may ask to close.
const MAX_CLOSE_LEGS: usize = 2;

impl Actions {
    /// Whether the handler asked for nothing.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        *self == Actions::default()
    }

    /// Whether the handler asked for a new leg (for tests that drive handlers by hand).
    pub fn opens_leg(&self) -> bool {
        self.open_leg
    }

    /// The legs the handler asked to close (for tests that drive handlers by hand).
    pub fn closes_legs(&self) -> impl Iterator<Item = Leg> + '_ {
        self.close_legs.iter().flatten().copied()
    }

    /// The reason of a requested recycle, if any (for tests that drive handlers by hand).
    pub fn recycles(&self) -> Option<Reason> {
        self.recycle
    }

    /// The requested handler-timer deadline, if any (for tests that drive handlers by hand).
    pub fn timer(&self) -> Option<u64> {
        self.timer
    }
}

/// Fan-out of events to the consumer rings attached to a connection.
#[derive(Default)]
pub struct Publisher {
    pub(crate) producers: Vec<EventProducer>,
    /// Events published (delivered or dropped).
    pub(crate) published: u64,
    /// Events some ring could not take (dropped there, reported to its consumer in band).
    pub(crate) dropped: u64,
    /// Stage timestamps on: events are stamped with their publish time.
    pub(crate) stamp: bool,
    /// When the handler finished decoding the current message (0 = not marked).
    pub(crate) decoded_ts: u64,
    /// When the first event of the current message was pushed (0 = none yet).
    pub(crate) published_ts: u64,
    /// Venue time of the first event of the current message (0 = none).
    pub(crate) exchange_ts: u64,
}

impl Publisher {
    /// A publisher over `producers`.
    pub fn new(producers: Vec<EventProducer>) -> Publisher {
        Publisher {
            producers,
            ..Publisher::default()
        }
    }

    /// Turns per-stage timestamps on or off.
    pub fn set_stage_stamps(&mut self, on: bool) {
        self.stamp = on;
    }

    /// Forgets the stage timestamps of the previous message.
    #[inline]
    pub fn begin_message(&mut self) {
        self.decoded_ts = 0;
        self.published_ts = 0;
        self.exchange_ts = 0;
    }

    /// Pushes `event` to every attached ring; a full ring drops and counts it.
    #[inline]
    pub fn publish(&mut self, event: Event) {
        let event = self.stamp_event(event);
        for p in &mut self.producers {
            if !p.push(event) {
                self.dropped += 1;
            }
        }
    }

    /// Pushes a run of events (one message's) to every attached ring, one publication of
    /// the write position per ring.
    #[inline]
    pub fn publish_all(&mut self, events: &[Event]) {
        let Some(at) = self.stamp_run(events) else {
            return;
        };
        for p in &mut self.producers {
            self.dropped += (events.len() - p.push_run(events, at)) as u64;
        }
    }

    /// The publish stamp of a run (`Some(None)`: stamps off; `None`: an empty run): the
    /// publish time is taken once, for the first event of a message.
    #[inline]
    fn stamp_run(&mut self, events: &[Event]) -> Option<Option<u64>> {
        // Counts the run and takes the stage timestamps as publishing its first event would.
        self.stamp_event(*events.first()?);
        self.published += events.len() as u64 - 1;
        Some(self.stamp.then_some(self.published_ts))
    }

    /// Pushes a run to ring `key` only (whole or not at all): `key` indexes `table` when
    /// given, else this publisher's own rings. Returns whether it was delivered.
    #[inline]
    fn publish_all_to(
        &mut self,
        events: &[Event],
        table: Option<(&mut [EventProducer], &[u16])>,
        key: RingKey,
    ) -> bool {
        let p = match table {
            Some((table, routes)) if routes.contains(&key.0) => table.get_mut(key.0 as usize),
            Some(_) => None,
            None => self.producers.get_mut(key.0 as usize),
        };
        let Some(p) = p else {
            return false;
        };
        if events.is_empty() {
            return false;
        }
        let at = self.stamp.then(crate::clock::now_ns);
        let delivered = p.push_run(events, at) == events.len();
        self.published += events.len() as u64;
        if !delivered {
            self.dropped += events.len() as u64;
        }
        delivered
    }

    /// [`Publisher::publish_all`] to the engine's consumer `table` named by `routes`.
    #[inline]
    pub(crate) fn publish_all_routed(
        &mut self,
        events: &[Event],
        table: &mut [EventProducer],
        routes: &[u16],
    ) {
        let Some(at) = self.stamp_run(events) else {
            return;
        };
        for &r in routes {
            if let Some(p) = table.get_mut(r as usize) {
                self.dropped += (events.len() - p.push_run(events, at)) as u64;
            }
        }
    }

    #[inline]
    fn stamp_event(&mut self, mut event: Event) -> Event {
        self.published += 1;
        if self.stamp {
            if self.published_ts == 0 {
                self.published_ts = crate::clock::stage_ns();
                self.exchange_ts = event.exchange_ts;
                // A handler that does not mark the end of decoding gets "decoded" = first push.
                if self.decoded_ts == 0 {
                    self.decoded_ts = self.published_ts;
                }
            }
            event.stamp_published(self.published_ts);
        }
        event
    }

    /// Pushes `event` to the rings of the engine's consumer `table` named by `routes` (the
    /// engine's fan-in: several connections may feed one consumer). Unknown ids are skipped.
    #[inline]
    pub(crate) fn publish_routed(
        &mut self,
        event: Event,
        table: &mut [EventProducer],
        routes: &[u16],
    ) {
        let event = self.stamp_event(event);
        for &r in routes {
            if let Some(p) = table.get_mut(r as usize) {
                if !p.push(event) {
                    self.dropped += 1;
                }
            }
        }
    }
}

/// Where a [`Context`] publishes: the publisher's own rings, or the engine's consumer table.
pub(crate) struct Routes<'a> {
    pub(crate) table: &'a mut [EventProducer],
    pub(crate) routes: &'a [u16],
}

/// What a handler may do from inside a callback.
pub struct Context<'a> {
    pub(crate) now: u64,
    pub(crate) connection: ConnectionId,
    /// The leg this callback is for.
    pub(crate) leg: Leg,
    /// The number [`Context::open_leg`] hands out.
    pub(crate) next_leg: u32,
    pub(crate) outbox: &'a mut Outbox,
    pub(crate) publisher: &'a mut Publisher,
    pub(crate) actions: &'a mut Actions,
    pub(crate) routes: Option<Routes<'a>>,
}

impl<'a> Context<'a> {
    /// A context over the given parts (used by the engine and by tests that drive handlers
    /// without a network).
    pub fn new(
        now: u64,
        connection: ConnectionId,
        outbox: &'a mut Outbox,
        publisher: &'a mut Publisher,
        actions: &'a mut Actions,
    ) -> Context<'a> {
        Context {
            now,
            connection,
            leg: Leg(0),
            next_leg: 1,
            outbox,
            publisher,
            actions,
            routes: None,
        }
    }

    /// The same context for leg `leg` of a connection whose next new leg is `next_leg` (tests
    /// that drive multi-leg handlers without a network).
    #[must_use]
    pub fn for_leg(mut self, leg: Leg, next_leg: u32) -> Context<'a> {
        self.leg = leg;
        self.next_leg = next_leg.max(leg.0.saturating_add(1));
        self
    }

    /// A context that publishes into the engine's consumer table.
    #[inline]
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn routed(
        now: u64,
        connection: ConnectionId,
        leg: Leg,
        next_leg: u32,
        outbox: &'a mut Outbox,
        publisher: &'a mut Publisher,
        actions: &'a mut Actions,
        routes: Routes<'a>,
    ) -> Context<'a> {
        Context {
            now,
            connection,
            leg,
            next_leg,
            outbox,
            publisher,
            actions,
            routes: Some(routes),
        }
    }

    /// Receive time of the read that produced this callback (ns since the UNIX epoch), or the
    /// time of the timer tick.
    #[inline]
    pub fn now(&self) -> u64 {
        self.now
    }

    /// The connection this handler belongs to.
    #[inline]
    pub fn connection(&self) -> ConnectionId {
        self.connection
    }

    /// The leg (physical connection) this callback is for: always `Leg(0)` unless the handler
    /// opened more with [`Context::open_leg`].
    #[inline]
    pub fn leg(&self) -> Leg {
        self.leg
    }

    /// Whether this leg's session is up (upgraded, not closing): frames can be sent.
    #[inline]
    pub fn is_live(&self) -> bool {
        self.outbox.live
    }

    /// Publishes an event to this connection's consumers. Never blocks.
    #[inline]
    pub fn publish(&mut self, event: Event) {
        match &mut self.routes {
            None => self.publisher.publish(event),
            Some(r) => self.publisher.publish_routed(event, r.table, r.routes),
        }
    }

    /// Publishes a run of events (one venue message's) to this connection's consumers: one
    /// publication of each ring's write position for the whole run. Never blocks.
    #[inline]
    pub fn publish_all(&mut self, events: &[Event]) {
        match &mut self.routes {
            None => self.publisher.publish_all(events),
            Some(r) => self.publisher.publish_all_routed(events, r.table, r.routes),
        }
    }

    /// Events this connection could not deliver to some consumer ring so far (each consumer
    /// learns its own count from an in-band `Overflow`). A handler that keeps state its
    /// consumers rebuild from events (books) watches it to republish that state.
    #[inline]
    pub fn dropped(&self) -> u64 {
        self.publisher.dropped
    }

    /// Events dropped so far on this connection's consumer rings, by any connection that
    /// publishes to them (the sum of [`RingView::lost`]): a change means some consumer got
    /// an `Overflow`; [`Context::ring`] says which. A few plain loads.
    #[inline]
    pub fn lost(&self) -> u64 {
        match &self.routes {
            None => self.publisher.producers.iter().map(|p| p.lost()).sum(),
            Some(r) => r
                .routes
                .iter()
                .filter_map(|&i| r.table.get(i as usize))
                .map(|p| p.lost())
                .sum(),
        }
    }

    /// How many consumer rings this connection publishes to.
    #[inline]
    pub fn rings(&self) -> usize {
        match &self.routes {
            None => self.publisher.producers.len(),
            Some(r) => r.routes.len(),
        }
    }

    /// The `i`th consumer ring of this connection (`i < rings()`).
    pub fn ring(&self, i: usize) -> Option<RingView> {
        let (key, p) = match &self.routes {
            None => (i as u16, self.publisher.producers.get(i)?),
            Some(r) => {
                let key = *r.routes.get(i)?;
                (key, r.table.get(key as usize)?)
            }
        };
        Some(RingView {
            key: RingKey(key),
            lost: p.lost(),
            free: p.slots(),
            capacity: p.capacity(),
        })
    }

    /// Publishes a run of events (a snapshot run, say) to one consumer ring of this
    /// connection only, whole or not at all (dropped and counted when it does not fit with
    /// the `Overflow` report that may go first). Returns whether it was delivered; false as
    /// well for a ring this connection does not publish to. State republished after one
    /// consumer's overflow goes to that consumer alone.
    pub fn publish_all_to(&mut self, key: RingKey, events: &[Event]) -> bool {
        let table = match &mut self.routes {
            None => None,
            Some(r) => Some((&mut *r.table, r.routes)),
        };
        self.publisher.publish_all_to(events, table, key)
    }

    /// Whether a consumer ring of this connection is more than three quarters full: state
    /// republished now would likely be dropped again.
    #[inline]
    pub fn is_congested(&self) -> bool {
        match &self.routes {
            None => self.publisher.producers.iter().any(|p| p.is_congested()),
            Some(r) => r
                .routes
                .iter()
                .filter_map(|&i| r.table.get(i as usize))
                .any(|p| p.is_congested()),
        }
    }

    /// Marks the end of decoding the current message (recv→decoded stage). A clock read only
    /// when stage histograms are on; otherwise free.
    #[inline]
    pub fn mark_decoded(&mut self) {
        if self.publisher.stamp && self.publisher.decoded_ts == 0 {
            self.publisher.decoded_ts = crate::clock::stage_ns();
        }
    }

    /// Queues a text frame.
    pub fn send_text(&mut self, payload: &[u8]) -> Result<(), SendError> {
        self.outbox.push(crate::ws::OpCode::Text, payload)
    }

    /// Queues a binary frame.
    pub fn send_binary(&mut self, payload: &[u8]) -> Result<(), SendError> {
        self.outbox.push(crate::ws::OpCode::Binary, payload)
    }

    /// Arms the handler timer at `deadline_ns` (replacing an earlier one).
    pub fn set_timer(&mut self, deadline_ns: u64) {
        self.actions.timer = Some(deadline_ns);
        self.actions.cancel_timer = false;
    }

    /// Cancels the handler timer.
    pub fn cancel_timer(&mut self) {
        self.actions.timer = None;
        self.actions.cancel_timer = true;
    }

    /// Asks for [`WsHandler::on_poll`] on the next loop turn.
    pub fn request_poll(&mut self) {
        self.actions.poll = true;
    }

    /// Recycles the connection: close it, then reconnect with backoff and resubscribe.
    pub fn recycle(&mut self, reason: Reason) {
        self.actions.recycle = Some(reason);
    }

    /// Closes this callback's leg for good with a WebSocket close `code` (for a connection
    /// with one leg: the connection).
    pub fn close(&mut self, code: u16) {
        self.actions.close = Some(code);
    }

    /// Opens a second physical connection ("leg") to the same endpoint, with the same
    /// options, consumers and handler; returns its number. Callbacks for it carry that
    /// number in [`Context::leg`]; it connects, reconnects and backs off on its own. The
    /// engine publishes connection statuses (connected, disconnected, reconnecting, stale)
    /// for the primary leg only (leg 0 until it is closed), so a standby leg is silent
    /// in-band. Calling it again in the same callback returns the same leg. Opening is
    /// refused (reported through [`WsHandler::on_leg_closed`]) beyond a few legs at once.
    pub fn open_leg(&mut self) -> Leg {
        self.actions.open_leg = true;
        Leg(self.next_leg)
    }

    /// Closes `leg` (close code 1000) and forgets it once closed: it does not reconnect and
    /// its statuses are not published. If it is the primary leg, another leg becomes primary
    /// (the oldest live one). Closing the only leg closes the connection. At most two legs
    /// per callback; further requests in the same callback are ignored.
    pub fn close_leg(&mut self, leg: Leg) {
        if let Some(slot) = self
            .actions
            .close_legs
            .iter_mut()
            .find(|s| s.is_none() || **s == Some(leg))
        {
            *slot = Some(leg);
        }
    }
}

impl Outbox {
    /// An outbox that accepts up to `limit` bytes of queued frames.
    pub fn new(limit: usize) -> Outbox {
        Outbox {
            bytes: Vec::with_capacity(limit.min(64 * 1024)),
            limit,
            live: true,
            frames: 0,
            mask_state: 0x9E37_79B9_7F4A_7C15,
            sizes: [0; SENT_SIZES],
        }
    }

    /// Queues a control frame (pong, ping, close) regardless of `live` and the limit: the
    /// protocol requires them, and their payloads are at most 125 bytes.
    #[inline]
    pub(crate) fn push_control(&mut self, op: crate::ws::OpCode, payload: &[u8]) {
        let mask = self.next_mask();
        let before = self.bytes.len();
        crate::ws::encode_frame(&mut self.bytes, op, true, payload, Some(mask));
        self.note_sent(before);
    }

    /// Queues a close frame with `code` (no reason text).
    pub(crate) fn push_close(&mut self, code: u16) {
        let mask = self.next_mask();
        let before = self.bytes.len();
        crate::ws::encode_close(&mut self.bytes, code, &[], Some(mask));
        self.note_sent(before);
    }

    #[inline]
    fn note_sent(&mut self, before: usize) {
        let size = (self.bytes.len() - before) as u32;
        self.sizes[(self.frames % SENT_SIZES as u64) as usize] = size;
        self.frames += 1;
    }

    /// Size of frame number `n` if it is among the last [`SENT_SIZES`] queued.
    #[inline]
    pub(crate) fn sent_size(&self, n: u64) -> u32 {
        if n + (SENT_SIZES as u64) < self.frames || n >= self.frames {
            return 0;
        }
        self.sizes[(n % SENT_SIZES as u64) as usize]
    }

    /// Encodes one masked client frame into the queue.
    pub(crate) fn push(&mut self, op: crate::ws::OpCode, payload: &[u8]) -> Result<(), SendError> {
        if !self.live {
            return Err(SendError::NotLive);
        }
        if self.bytes.len() + payload.len() + 14 > self.limit {
            return Err(SendError::Full);
        }
        let mask = self.next_mask();
        let before = self.bytes.len();
        crate::ws::encode_frame(&mut self.bytes, op, true, payload, Some(mask));
        self.note_sent(before);
        Ok(())
    }

    /// Queued bytes (for tests that inspect what a handler sent).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Drops the queued frames, keeping the buffer: for a replay, which has no venue to send
    /// a handler's requests to (a fresh `Outbox` per message would allocate each time).
    pub fn discard(&mut self) {
        self.bytes.clear();
    }

    /// Next RFC 6455 masking key.
    #[inline]
    pub(crate) fn next_mask(&mut self) -> [u8; 4] {
        let mut x = self.mask_state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.mask_state = x;
        ((x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32) as u32).to_le_bytes()
    }
}
