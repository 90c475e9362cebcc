//! One WebSocket connection: an explicit state machine advanced by one method per readiness
//! event, timer or resolver answer.
//!
//! ```text
//! Resolving ─▶ Connecting ─▶ TlsHandshake ─▶ WsUpgrade ─▶ Subscribing ─▶ Live
//!     │             │              │              │             │          │
//!     └──── attempt failed ────────┴──────────────┘             └─ lost ───┤
//!                   ▼                                                      ▼
//!                Backoff ◀──────────────── (reconnect) ─────────────── Closing ─▶ Closed
//! ```
//!
//! `Subscribing` lasts from the completed upgrade (where [`WsHandler::on_connect`] queues the
//! subscriptions) until those frames are written; then the connection is `Live`. A lost
//! session (EOF, protocol error, pong timeout, stale data, recycle request) goes to `Backoff`
//! and reconnects; a user close, a handler close or shutdown goes through `Closing` (close
//! handshake with a deadline) to `Closed`.
//!
//! The connection owns every buffer it uses (receive buffer, outbox, decoder reassembly), so
//! in steady state the per-message path allocates nothing.
//!
//! A `Connection` is one physical connection ("leg"). A handler may open more legs of its
//! logical connection (`Context::open_leg`, for make-before-break rotation): each is its own
//! `Connection` with its own socket, buffers, timers and backoff, and the same id, endpoint,
//! options and routes. The *primary* leg holds the handler between callbacks and is the only
//! one whose lifecycle statuses are published; the I/O loop lends the handler to another leg
//! for the duration of its callbacks (pointer swaps). A single-leg connection is always
//! primary, so its path is unchanged.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::backoff::Backoff;
use crate::clock;
use crate::command::{OutFrame, Prepared};
use crate::config::{ConnectionConfig, ConnectionOptions};
use crate::event::{Event, Status, StatusKind};
use crate::handler::{
    Actions, ConnectionId, Context, Leg, Message, Outbox, Publisher, Reconnect, Routes, WsHandler,
};
use crate::instrument::InstrumentId;
use crate::reason::Reason;
use crate::resolver::{self, ResolveError, Resolver};
use crate::ring::EventProducer;
use crate::stats::EngineStats;
use crate::sys;
use crate::telemetry::{TelemetryEvent, TelemetryTx};
use crate::timer::{LoopDeadline, TimerKind, Timers};
use crate::transport::{ReadOutcome, Socket, Transport, TransportError};
use crate::ws::{self, ClientHandshake, Decoder, Frame, HandshakeRequest, OpCode};

/// Where a connection is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Waiting for the resolver thread.
    Resolving,
    /// TCP connect in flight.
    Connecting,
    /// TLS handshake in flight.
    TlsHandshake,
    /// HTTP upgrade request sent, response awaited.
    WsUpgrade,
    /// Upgraded; the handler's subscriptions are being written.
    Subscribing,
    /// Data flows.
    Live,
    /// A close frame was sent; waiting for the peer's close, EOF or the deadline.
    Closing,
    /// Waiting to reconnect.
    Backoff,
    /// Closed for good.
    Closed,
}

/// What happens when a `Closing` connection finishes closing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CloseThen {
    /// Reconnect (after backoff): the session was lost for this reason.
    Reconnect(Reason),
    /// Stay closed.
    Stop(Reason),
}

/// Where a connection is, with what that stage alone needs: the upgrade its handshake and
/// how much of the request went out, a close what happens once it is done. [`State`] is
/// its public name.
enum Phase {
    Resolving,
    /// TCP connect in flight to `addrs[next - 1]`; the later ones are tried if it fails.
    Connecting {
        addrs: Vec<SocketAddr>,
        next: usize,
    },
    TlsHandshake,
    WsUpgrade {
        /// Boxed: the other stages stay small (one allocation an attempt, beside the
        /// handshake's own).
        handshake: Box<ClientHandshake>,
        /// Bytes of the upgrade request written so far.
        sent: usize,
    },
    Subscribing,
    Live,
    Closing {
        then: CloseThen,
        /// The decoder failed: nothing more is parsed, received bytes are dropped until
        /// the peer's EOF or the close deadline.
        discard: bool,
    },
    Backoff,
    Closed,
}

impl Phase {
    fn state(&self) -> State {
        match self {
            Phase::Resolving => State::Resolving,
            Phase::Connecting { .. } => State::Connecting,
            Phase::TlsHandshake => State::TlsHandshake,
            Phase::WsUpgrade { .. } => State::WsUpgrade,
            Phase::Subscribing => State::Subscribing,
            Phase::Live => State::Live,
            Phase::Closing { .. } => State::Closing,
            Phase::Backoff => State::Backoff,
            Phase::Closed => State::Closed,
        }
    }
}

/// Socket reads one connection makes in one turn of the loop before the others (timers,
/// commands, shutdown, other connections) get theirs. A read fills up to the receive buffer,
/// so a busy connection still moves megabytes a turn.
pub(crate) const READ_BUDGET: u32 = 64;

/// Data messages one connection hands its handler in one turn of the loop: a read can
/// hold thousands, and a slow handler would otherwise delay everything else by all of them.
/// At a microsecond or two a message, the others wait well under a millisecond.
pub(crate) const MESSAGE_BUDGET: u32 = 256;

/// The loop-wide state every connection method needs: consumer rings, telemetry, counters,
/// the resolver and the loop's deadline bound.
pub(crate) struct Core {
    pub(crate) producers: Vec<EventProducer>,
    pub(crate) telemetry: TelemetryTx,
    pub(crate) stats: EngineStats,
    pub(crate) resolver: Resolver,
    pub(crate) pollers: Vec<usize>,
    /// Slots whose reading paused, to resume next turn: on a congested consumer ring
    /// (after a yield) or at the end of a turn's read budget.
    pub(crate) paused_reads: Vec<usize>,
    /// A read paused this turn on a congested ring: the loop yields the core before
    /// resuming (a read paused only by its budget needs no yield).
    pub(crate) congestion_paused: bool,
    /// Pause reading (and yield the core) while a consumer ring is congested: every idle
    /// strategy but busy-spin, whose consumers have cores of their own.
    pub(crate) yield_on_congestion: bool,
    /// Also pause once a ring holds more than this many unread events and its consumer
    /// stood still this long, ns ([`crate::EngineConfig::yield_backlog`]).
    pub(crate) yield_backlog: usize,
    pub(crate) yield_stall_ns: u64,
    /// Some consumer ring has drops not yet reported: the loop reports them when the ring
    /// has room rather than before the next event (which may be long in coming).
    pub(crate) drops_pending: bool,
    pub(crate) deadline: LoopDeadline,
    /// Loop-wide attempt counter: resolver answers are matched by (slot, attempt), and slots
    /// are reused, so attempt numbers must be unique across connections.
    pub(crate) attempts: u64,
}

impl Core {
    /// Whether a consumer ring among `routes` (one connection's) is congested. Rings of
    /// other connections do not slow this one, nor does a ring whose consumer is gone (the
    /// loop retires it once it drops).
    #[inline]
    fn congested(&mut self, routes: &[u16]) -> bool {
        if !self.yield_on_congestion {
            return false;
        }
        let (backlog, stall) = (self.yield_backlog, self.yield_stall_ns);
        routes.iter().any(|&r| {
            self.producers
                .get_mut(r as usize)
                .is_some_and(|p| p.is_starved(backlog, stall, clock::stage_ns) && !p.is_abandoned())
        })
    }

    /// Notes drops left unreported on `routes` after a message, for the loop to flush.
    #[inline]
    fn note_drops(&mut self, routes: &[u16]) {
        if !self.drops_pending {
            self.drops_pending = routes.iter().any(|&r| {
                self.producers
                    .get(r as usize)
                    .is_some_and(|p| p.has_pending_drops())
            });
        }
    }
}

/// Readiness of one event, as the connection cares about it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ready {
    pub(crate) readable: bool,
    pub(crate) writable: bool,
    /// The peer's FIN (or an error) had arrived when the event was taken: its edge is
    /// spent, so reading must go on to the end of the stream.
    pub(crate) read_closed: bool,
}

/// The receive buffer: bytes `start..end` are received and not yet consumed.
struct RxBuf {
    data: Vec<u8>,
    start: usize,
    end: usize,
}

impl RxBuf {
    fn new(size: usize) -> RxBuf {
        RxBuf {
            data: vec![0; size.max(4096)],
            start: 0,
            end: 0,
        }
    }

    fn clear(&mut self) {
        self.start = 0;
        self.end = 0;
    }

    /// Makes room to read, keeping unconsumed bytes at the front of the window. `need` is
    /// what the decoder said the frame at the front needs in total. Grows once, to `grow_to`,
    /// if the frame cannot fit otherwise. Returns false if there is no room at all.
    #[inline]
    fn make_room(&mut self, need: usize, grow_to: usize) -> bool {
        if self.start == self.end {
            self.clear();
        }
        let len = self.data.len();
        if self.start > 0 && (len - self.end < len / 4 || self.start + need > len) {
            self.data.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if need > len && grow_to > len {
            // The one allowed growth: a frame larger than the initial buffer.
            self.data.resize(grow_to, 0);
        }
        self.end < self.data.len()
    }
}

/// Leg requests a handler made, for the I/O loop to carry out after the callback.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct LegRequests {
    pub(crate) open: bool,
    pub(crate) close: [Option<Leg>; 2],
    /// The handler panicked on this leg: close every leg of the connection for good.
    pub(crate) poisoned: bool,
}

/// A stand-in handler for a leg that is not the primary: the loop lends it the real one
/// for each callback (a boxed zero-sized type, so swapping costs no allocation).
struct Lent;

/// A placeholder handler for a leg that lends its handler out.
pub(crate) fn lent() -> Box<dyn WsHandler> {
    Box::new(Lent)
}

impl WsHandler for Lent {
    fn on_message(&mut self, _msg: Message<'_>, _cx: &mut Context<'_>) {}
}

/// What replaces a handler that panicked: it does nothing and never reconnects (the
/// panicked one is dropped; its state may be broken).
struct Poisoned;

impl WsHandler for Poisoned {
    fn on_message(&mut self, _msg: Message<'_>, _cx: &mut Context<'_>) {}

    fn on_disconnect(&mut self, _reason: Reason, _cx: &mut Context<'_>) -> Reconnect {
        Reconnect::No
    }
}

/// One connection (one leg of a logical connection). See the module docs.
pub(crate) struct Connection<S: Socket = mio::net::TcpStream> {
    pub(crate) id: ConnectionId,
    /// Which leg of the logical connection this is.
    pub(crate) leg: Leg,
    /// The number the next opened leg gets (kept equal on every leg of a connection).
    pub(crate) next_leg: u32,
    /// The leg that holds the handler between callbacks and speaks in-band for the
    /// connection (its statuses are published). True for every single-leg connection.
    pub(crate) primary: bool,
    /// Part of a logical connection with more than one leg.
    pub(crate) grouped: bool,
    /// Leg requests from the last callbacks, for the loop (`None`: none).
    pub(crate) leg_requests: Option<LegRequests>,
    /// Why the last session or attempt ended (for `on_leg_closed`).
    pub(crate) ended: Reason,
    /// The further lines to open as legs when the connection starts (A/B; taken by the
    /// loop), and whether this connection has several lines (its handler then publishes
    /// the lifecycle statuses).
    pub(crate) lines: Vec<Prepared>,
    multi_line: bool,
    slot: usize,
    phase: Phase,
    config: ConnectionConfig,
    opts: ConnectionOptions,
    tls: Option<(
        Arc<rustls::ClientConfig>,
        rustls::pki_types::ServerName<'static>,
    )>,
    transport: Option<Transport<S>>,
    /// Current attempt's loop-wide number; resolver answers for other attempts are ignored.
    attempt: u64,
    attempt_started: u64,
    session_started: u64,
    rx: RxBuf,
    /// Bytes the frame at the front of `rx` needs in total (from the decoder).
    need: usize,
    decoder: Decoder,
    pub(crate) handler: Box<dyn WsHandler>,
    outbox: Outbox,
    tx_off: usize,
    frames_reported: u64,
    publisher: Publisher,
    /// Indices into the loop's consumer table.
    routes: Vec<u16>,
    actions: Actions,
    pub(crate) timers: Timers,
    backoff: Backoff,
    last_data: u64,
    pub(crate) poll_queued: bool,
    /// Reading stopped on a congested consumer ring; the loop resumes it after yielding.
    read_paused: bool,
    /// This slot is in `Core::paused_reads`.
    resume_queued: bool,
    /// Data messages left to handle this turn (`MESSAGE_BUDGET` at each turn's start).
    budget: u32,
    /// An event said the peer closed (or the socket failed): a short read no longer means
    /// the socket is drained, since no new edge announces the end that is already queued.
    read_closed: bool,
    /// Forget this connection once it is closed.
    pub(crate) remove_when_closed: bool,
    /// A handler callback panicked: the handler was replaced by [`Poisoned`] and the
    /// connection closes for good.
    poisoned: bool,
}

impl<S: Socket> Connection<S> {
    /// A connection in `Closed` state; [`Connection::start`] begins the first attempt.
    pub(crate) fn new(
        id: ConnectionId,
        slot: usize,
        prepared: Prepared,
        handler: Box<dyn WsHandler>,
        routes: Vec<u16>,
        opts: ConnectionOptions,
        stage_stamps: bool,
    ) -> Connection<S> {
        let mut publisher = Publisher::new(Vec::new());
        publisher.set_stage_stamps(stage_stamps);
        let mut outbox = Outbox::new(opts.tx_limit);
        outbox.live = false;
        let seed = (u64::from(id.0) + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ clock::now_ns();
        Connection {
            id,
            leg: Leg(0),
            next_leg: 1,
            primary: true,
            grouped: false,
            leg_requests: None,
            ended: Reason::None,
            multi_line: !prepared.lines.is_empty(),
            lines: prepared.lines,
            slot,
            phase: Phase::Closed,
            tls: prepared.tls,
            config: prepared.config,
            opts,
            transport: None,
            attempt: 0,
            attempt_started: 0,
            session_started: 0,
            rx: RxBuf::new(opts.rx_buffer),
            need: 0,
            decoder: Decoder::new(
                ws::Role::Client,
                ws::Limits {
                    max_frame: opts.max_frame,
                    max_message: opts.max_message,
                },
            ),
            handler,
            outbox,
            tx_off: 0,
            frames_reported: 0,
            publisher,
            routes,
            actions: Actions::default(),
            timers: Timers::new(),
            backoff: Backoff::new(opts.backoff, seed),
            last_data: 0,
            poll_queued: false,
            read_paused: false,
            resume_queued: false,
            budget: MESSAGE_BUDGET,
            read_closed: false,
            remove_when_closed: false,
            poisoned: false,
        }
    }

    /// A new leg of the same logical connection in `slot`: same endpoint, TLS settings,
    /// options and routes; no handler of its own (the loop lends the primary's). Not
    /// primary; `Closed` until [`Connection::start`].
    pub(crate) fn new_leg(&self, slot: usize, leg: Leg) -> Connection<S> {
        let prepared = Prepared {
            config: self.config.clone(),
            tls: self.tls.clone(),
            lines: Vec::new(),
        };
        self.new_line(slot, leg, prepared)
    }

    /// [`Connection::new_leg`] to another line's endpoint (`prepared`: its URL and TLS).
    pub(crate) fn new_line(&self, slot: usize, leg: Leg, prepared: Prepared) -> Connection<S> {
        let mut c = Connection::new(
            self.id,
            slot,
            prepared,
            Box::new(Lent),
            self.routes.clone(),
            self.opts,
            self.publisher.stamp,
        );
        c.leg = leg;
        c.next_leg = self.next_leg;
        c.multi_line = self.multi_line;
        c.primary = false;
        c.grouped = true;
        // A leg that is not the primary is forgotten once closed.
        c.remove_when_closed = true;
        c
    }

    /// The current state.
    #[inline]
    pub(crate) fn state(&self) -> State {
        self.phase.state()
    }

    /// Whether a session is up (upgraded and not closing).
    pub(crate) fn in_session(&self) -> bool {
        matches!(self.phase, Phase::Subscribing | Phase::Live)
    }

    /// Replaces the consumer routes.
    pub(crate) fn set_routes(&mut self, routes: Vec<u16>) {
        self.routes = routes;
    }

    /// Stops publishing to consumer ring `index` (removed or abandoned).
    pub(crate) fn unroute(&mut self, index: u16) {
        self.routes.retain(|&r| r != index);
    }

    // ----- attempts ---------------------------------------------------------------------

    /// Starts a connect attempt: resolve (or use the IP literal), then connect.
    pub(crate) fn start(&mut self, now: u64, reg: &mio::Registry, core: &mut Core) {
        core.attempts += 1;
        self.attempt = core.attempts;
        self.attempt_started = now;
        self.phase = Phase::Resolving;
        self.timers.set(
            TimerKind::Connect,
            now.saturating_add(dur(self.opts.connect_timeout)),
        );
        let port = self.config.endpoint.port;
        if let Some(addr) = resolver::literal(&self.config.endpoint.host, port) {
            self.connect_next(vec![addr], 0, now, reg, core);
            return;
        }
        let host = &self.config.endpoint.host;
        if core
            .resolver
            .request(self.slot, self.attempt, host, port)
            .is_err()
        {
            self.attempt_failed(Reason::Resolve, now, core);
        }
    }

    /// An answer from the resolver thread.
    pub(crate) fn on_resolved(
        &mut self,
        attempt: u64,
        result: Result<Vec<SocketAddr>, ResolveError>,
        now: u64,
        reg: &mio::Registry,
        core: &mut Core,
    ) {
        if self.state() != State::Resolving || attempt != self.attempt {
            return;
        }
        match result {
            Ok(addrs) => self.connect_next(addrs, 0, now, reg, core),
            Err(_) => self.attempt_failed(Reason::Resolve, now, core),
        }
    }

    /// Connects to `addrs[next]` or the first later one that takes a socket, or fails the
    /// attempt when none is left.
    fn connect_next(
        &mut self,
        addrs: Vec<SocketAddr>,
        mut next: usize,
        now: u64,
        reg: &mio::Registry,
        core: &mut Core,
    ) {
        let sockopts = sys::SocketOptions {
            recv_buffer: self.opts.tcp_recv_buffer,
            send_buffer: self.opts.tcp_send_buffer,
        };
        while let Some(&addr) = addrs.get(next) {
            next += 1;
            let Ok(stream) = S::connect(addr, sockopts) else {
                continue;
            };
            let transport = match &self.tls {
                None => Transport::plain(stream),
                Some((config, name)) => {
                    match Transport::tls(stream, config.clone(), name.clone()) {
                        Ok(t) => t,
                        Err(_) => {
                            self.attempt_failed(Reason::Tls, now, core);
                            return;
                        }
                    }
                }
            };
            let mut transport = transport;
            if transport
                .stream_mut()
                .register(reg, mio::Token(self.slot))
                .is_err()
            {
                continue;
            }
            self.transport = Some(transport);
            self.read_closed = false;
            self.phase = Phase::Connecting { addrs, next };
            core.telemetry.emit(TelemetryEvent::ConnectStarted {
                conn: self.id,
                at: now,
            });
            return;
        }
        self.attempt_failed(Reason::Connect, now, core);
    }

    /// The attempt failed before the upgrade completed: back off and retry.
    fn attempt_failed(&mut self, reason: Reason, now: u64, core: &mut Core) {
        self.attempt_failed_after(reason, std::time::Duration::ZERO, now, core);
    }

    /// [`Connection::attempt_failed`], the next attempt waiting at least `floor` (the
    /// server's `Retry-After`).
    fn attempt_failed_after(
        &mut self,
        reason: Reason,
        floor: std::time::Duration,
        now: u64,
        core: &mut Core,
    ) {
        self.teardown(core);
        core.stats.connect_failures += 1;
        core.telemetry.emit(TelemetryEvent::ConnectFailed {
            conn: self.id,
            reason,
        });
        if self
            .callback(now, core, |h, cx| h.on_error(reason, cx))
            .is_none()
        {
            return self.stop_poisoned(now, core);
        }
        self.actions = Actions::default();
        self.schedule_reconnect_after(reason, floor, now, core);
    }

    fn schedule_reconnect(&mut self, reason: Reason, now: u64, core: &mut Core) {
        self.schedule_reconnect_after(reason, std::time::Duration::ZERO, now, core);
    }

    fn schedule_reconnect_after(
        &mut self,
        reason: Reason,
        floor: std::time::Duration,
        now: u64,
        core: &mut Core,
    ) {
        self.ended = reason;
        match self.backoff.next_delay_after(floor) {
            Some((delay, n)) => {
                self.phase = Phase::Backoff;
                self.timers
                    .set(TimerKind::Backoff, now.saturating_add(dur(delay)));
                self.publish_status(StatusKind::Reconnecting, reason, u64::from(n), now, core);
            }
            None => {
                self.phase = Phase::Closed;
                self.publish_status(StatusKind::Disconnected, reason, 0, now, core);
            }
        }
    }

    // ----- readiness --------------------------------------------------------------------

    /// A readiness event for this connection's socket.
    pub(crate) fn on_ready(
        &mut self,
        ready: Ready,
        now: u64,
        reg: &mio::Registry,
        core: &mut Core,
    ) {
        match self.state() {
            State::Connecting => self.on_connected(now, reg, core),
            State::TlsHandshake => self.drive_tls(now, core),
            State::WsUpgrade => self.drive_upgrade(now, core),
            State::Subscribing | State::Live | State::Closing => {
                if ready.writable && !self.flush_or_lose(now, core) {
                    return;
                }
                if ready.readable {
                    self.read_closed |= ready.read_closed;
                    self.read_frames(now, core);
                }
            }
            State::Resolving | State::Backoff | State::Closed => {}
        }
    }

    fn on_connected(&mut self, now: u64, reg: &mio::Registry, core: &mut Core) {
        let Some(t) = self.transport.as_ref() else {
            return;
        };
        match t.stream().connect_result() {
            Ok(false) => {}
            Ok(true) => {
                if t.is_tls() {
                    self.phase = Phase::TlsHandshake;
                    self.drive_tls(now, core);
                } else {
                    self.opened(now, core);
                    self.start_upgrade(now, core);
                }
            }
            Err(_) => {
                self.drop_transport(reg);
                let left = Phase::Connecting {
                    addrs: Vec::new(),
                    next: 0,
                };
                if let Phase::Connecting { addrs, next } = std::mem::replace(&mut self.phase, left)
                {
                    self.connect_next(addrs, next, now, reg, core);
                }
            }
        }
    }

    fn opened(&mut self, now: u64, core: &mut Core) {
        core.telemetry.emit(TelemetryEvent::ConnectionOpened {
            conn: self.id,
            duration_ns: now.saturating_sub(self.attempt_started),
        });
    }

    fn drive_tls(&mut self, now: u64, core: &mut Core) {
        let Some(t) = self.transport.as_mut() else {
            return;
        };
        match t.handshake() {
            Ok(false) => {}
            Ok(true) => {
                self.opened(now, core);
                self.start_upgrade(now, core);
            }
            Err(e @ TransportError::Tls(_)) => self.attempt_failed(e.reason(), now, core),
            Err(_) => self.attempt_failed(Reason::Io, now, core),
        }
    }

    fn start_upgrade(&mut self, now: u64, core: &mut Core) {
        let req = HandshakeRequest {
            url: self.config.url.clone(),
            headers: self.config.headers.clone(),
            subprotocols: self.config.subprotocols.clone(),
            deflate: self.opts.deflate,
        };
        match ClientHandshake::new(&req) {
            Ok(handshake) => {
                self.phase = Phase::WsUpgrade {
                    handshake: Box::new(handshake),
                    sent: 0,
                };
                self.drive_upgrade(now, core);
            }
            Err(_) => self.attempt_failed(Reason::Handshake, now, core),
        }
    }

    fn drive_upgrade(&mut self, now: u64, core: &mut Core) {
        let (
            Phase::WsUpgrade {
                handshake: hs,
                sent,
            },
            Some(t),
        ) = (&mut self.phase, self.transport.as_mut())
        else {
            return;
        };
        let request = hs.request_bytes();
        while *sent < request.len() {
            match t.write(&request[*sent..]) {
                Ok(0) => return, // socket full: the writable event brings us back
                Ok(n) => *sent += n,
                Err(e) => return self.attempt_failed(upgrade_io_reason(e), now, core),
            }
        }
        if let Err(e) = t.flush() {
            return self.attempt_failed(upgrade_io_reason(e), now, core);
        }
        loop {
            self.rx.make_room(0, 0);
            match t.read(&mut self.rx.data[self.rx.end..]) {
                Ok(ReadOutcome::Data(n)) => {
                    self.rx.end += n;
                    core.stats.bytes_received += n as u64;
                    match hs.feed(&self.rx.data[self.rx.start..self.rx.end]) {
                        Ok(None) => self.rx.clear(),
                        Ok(Some((consumed, response))) => {
                            self.rx.start += consumed;
                            self.decoder.set_deflate(response.deflate);
                            core.telemetry.emit(TelemetryEvent::Upgraded {
                                conn: self.id,
                                duration_ns: now.saturating_sub(self.attempt_started),
                                status: response.status,
                            });
                            self.enter_session(now, core);
                            return;
                        }
                        Err(e) => {
                            let floor = e.retry_after().unwrap_or_default();
                            return self.attempt_failed_after(e.reason(), floor, now, core);
                        }
                    }
                }
                Ok(ReadOutcome::WouldBlock) => return,
                Err(e) => return self.attempt_failed(upgrade_io_reason(e), now, core),
            }
        }
    }

    /// The upgrade completed: let the handler subscribe, then read what already arrived.
    fn enter_session(&mut self, now: u64, core: &mut Core) {
        self.phase = Phase::Subscribing;
        self.session_started = now;
        self.outbox.live = true;
        self.need = 0;
        self.decoder.reset();
        if self.callback(now, core, |h, cx| h.on_connect(cx)).is_none() {
            self.stop_poisoned(now, core);
        }
        if !self.after_callback(now, core) {
            return;
        }
        // Frames may have followed the upgrade response; the socket may hold more.
        self.read_frames(now, core);
    }

    fn go_live(&mut self, now: u64, core: &mut Core) {
        self.phase = Phase::Live;
        self.timers.cancel(TimerKind::Connect);
        self.backoff.reset();
        self.last_data = now;
        if let Some(every) = self.opts.ping_interval {
            self.timers
                .set(TimerKind::Ping, now.saturating_add(dur(every)));
        }
        if let Some(stale) = self.opts.stale_after {
            self.timers
                .set(TimerKind::Stale, now.saturating_add(dur(stale)));
        }
        core.stats.connects += 1;
        core.telemetry.emit(TelemetryEvent::Status {
            conn: self.id,
            up: true,
        });
        self.publish_status(
            StatusKind::Connected,
            Reason::None,
            u64::from(self.id.0),
            now,
            core,
        );
    }

    // ----- the data path ----------------------------------------------------------------

    /// Reads until `WouldBlock`, decoding and dispatching frames after every read. One
    /// receive timestamp per socket read.
    fn read_frames(&mut self, now: u64, core: &mut Core) {
        let mut ts = now;
        let mut drained = false;
        let mut reads = 0u32;
        self.budget = MESSAGE_BUDGET;
        // Any read supersedes a pending resume.
        self.read_paused = false;
        loop {
            if !self.discarding() && self.rx.start < self.rx.end {
                self.process_frames(ts, core);
            }
            if self.transport.is_none() {
                return;
            }
            if drained || self.read_paused {
                break;
            }
            if reads == READ_BUDGET {
                // A peer that sends faster than this connection decodes would otherwise
                // keep the loop here for good: no timers, commands, shutdown or other
                // connections. Go on next turn (the socket is not drained, so no new edge
                // would come).
                self.pause_read(core);
                break;
            }
            if self.discarding() {
                self.rx.clear();
            }
            let grow_to = self.opts.max_frame.saturating_add(ws::MAX_HEADER_LEN);
            if !self.rx.make_room(self.need, grow_to) {
                // Cannot happen with the decoder's `need` contract; fail safe.
                core.stats.protocol_errors.add(Reason::TooBig);
                self.fail_protocol(1009, Reason::TooBig, ts, core);
                continue;
            }
            let Some(t) = self.transport.as_mut() else {
                return;
            };
            let room = self.rx.data.len() - self.rx.end;
            match t.read(&mut self.rx.data[self.rx.end..]) {
                Ok(ReadOutcome::Data(n)) => {
                    reads += 1;
                    ts = clock::read_ns();
                    self.rx.end += n;
                    core.stats.bytes_received += n as u64;
                    // A short read emptied the socket's queue: the read that would only
                    // answer `WouldBlock` is a syscall on every message at low rates, and
                    // data arriving later raises a new edge anyway. Not so a FIN or error
                    // that came with the data (`read_closed`): only the next read reports it.
                    drained = n < room && t.short_read_drains() && !self.read_closed;
                }
                Ok(ReadOutcome::WouldBlock) => break,
                Err(e) => {
                    let reason = match (self.state(), e) {
                        (State::Closing, _) => self.close_reason(),
                        (_, e @ TransportError::Tls(_)) => e.reason(),
                        _ => Reason::Io,
                    };
                    return self.session_over(reason, ts, core);
                }
            }
        }
        self.flush_or_lose(ts, core);
    }

    /// Stops reading until the loop's next turn (`resume_read`).
    fn pause_read(&mut self, core: &mut Core) {
        self.read_paused = true;
        // Once in the list at most: its capacity is the number of connections.
        if !self.resume_queued {
            self.resume_queued = true;
            core.paused_reads.push(self.slot);
        }
    }

    /// Resumes reading paused on a congested ring (after the loop yielded) or at the end
    /// of a turn's read budget.
    pub(crate) fn resume_read(&mut self, now: u64, core: &mut Core) {
        self.resume_queued = false;
        if !std::mem::take(&mut self.read_paused) {
            return;
        }
        if matches!(
            self.state(),
            State::Subscribing | State::Live | State::Closing
        ) {
            self.read_frames(now, core);
        }
    }

    /// Decodes and dispatches every complete frame in `rx`. Stops early when the session
    /// ends (no transport), the decoder failed (`discard`), a consumer ring is congested, or
    /// the turn's message budget is spent.
    #[inline]
    fn process_frames(&mut self, ts: u64, core: &mut Core) {
        loop {
            if self.discarding() || self.transport.is_none() {
                return;
            }
            let decoded = match self
                .decoder
                .decode(&mut self.rx.data[self.rx.start..self.rx.end])
            {
                Ok(d) => d,
                Err(e) => {
                    core.stats.protocol_errors.add(e.reason());
                    self.fail_protocol(e.close_code(), e.reason(), ts, core);
                    return;
                }
            };
            if decoded.consumed == 0 {
                self.need = decoded.need;
                return;
            }
            self.need = 0;
            let consumed = decoded.consumed;
            let mut close: Option<Option<u16>> = None;
            let mut data = None;
            match decoded.frame {
                None => {}
                // Data after our close frame is ignored (RFC 6455 §5.5.1).
                Some(Frame::Text(p)) if !matches!(self.phase, Phase::Closing { .. }) => {
                    data = Some(Message::Text(p));
                }
                Some(Frame::Binary(p)) if !matches!(self.phase, Phase::Closing { .. }) => {
                    data = Some(Message::Binary(p));
                }
                Some(Frame::Text(_) | Frame::Binary(_)) => {}
                Some(Frame::Ping(p)) => self.outbox.push_control(OpCode::Pong, p),
                Some(Frame::Pong(_)) => self.timers.cancel(TimerKind::Pong),
                Some(Frame::Close { code, .. }) => close = Some(code),
            }
            let data_message = data.is_some();
            if let Some(msg) = data {
                self.last_data = ts;
                core.stats.messages += 1;
                let size = msg.payload().len() as u32;
                self.publisher.begin_message();
                let mut cx = Context::routed(
                    ts,
                    self.id,
                    self.leg,
                    self.next_leg,
                    &mut self.outbox,
                    &mut self.publisher,
                    &mut self.actions,
                    Routes {
                        table: &mut core.producers,
                        routes: &self.routes,
                    },
                );
                // A panicking handler must not take the I/O thread (and every other
                // connection) down with it. No cost on the path that does not unwind.
                let handler = &mut self.handler;
                let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    handler.on_message(msg, &mut cx);
                }))
                .is_ok();
                message_telemetry(&mut core.telemetry, self.id, size, ts, &self.publisher);
                core.note_drops(&self.routes);
                if !ok {
                    self.rx.start += consumed;
                    self.poison(core);
                    self.stop_poisoned(ts, core);
                    return;
                }
            }
            self.rx.start += consumed;
            if let Some(code) = close {
                self.on_peer_close(code, ts, core);
                return;
            }
            if !self.actions.is_empty() {
                self.apply_actions(ts, core);
            }
            if data_message {
                self.budget -= 1;
                if self.budget == 0 {
                    // The rest waits for the next turn (see `MESSAGE_BUDGET`).
                    self.pause_read(core);
                    return;
                }
            }
            if core.congested(&self.routes) {
                // Let the consumer catch up before this connection's next message: on a
                // shared core it runs only when this thread yields. The loop yields, then
                // resumes here (the socket is not drained, so no new edge would come).
                core.stats.congestion_pauses += 1;
                core.congestion_paused = true;
                self.pause_read(core);
                return;
            }
        }
    }

    /// The decoder failed: received bytes are dropped until the session ends.
    #[inline]
    fn discarding(&self) -> bool {
        matches!(self.phase, Phase::Closing { discard: true, .. })
    }

    /// Why a closing connection closes (`None` when not closing).
    fn close_reason(&self) -> Reason {
        match self.phase {
            Phase::Closing {
                then: CloseThen::Reconnect(r) | CloseThen::Stop(r),
                ..
            } => r,
            _ => Reason::None,
        }
    }

    /// The peer sent a close frame.
    fn on_peer_close(&mut self, code: Option<u16>, now: u64, core: &mut Core) {
        if self.state() == State::Closing {
            // The answer to our close: done.
            return self.session_over(self.close_reason(), now, core);
        }
        // Echo the peer's code (RFC 6455 §5.5.1), then reconnect: a feed the venue closed
        // is a feed we still want.
        match code {
            Some(c) => self.outbox.push_close(c),
            None => self.outbox.push_control(OpCode::Close, &[]),
        }
        let _ = self.flush(now, core);
        self.session_over(Reason::PeerClosed, now, core);
    }

    /// The peer violated the protocol: close with `code`, then recycle once the peer has
    /// closed too (or the close deadline passes), discarding anything it still sends.
    fn fail_protocol(&mut self, code: u16, reason: Reason, now: u64, core: &mut Core) {
        core.telemetry.emit(TelemetryEvent::Error {
            conn: self.id,
            reason,
        });
        if self
            .callback(now, core, |h, cx| h.on_error(reason, cx))
            .is_none()
        {
            return self.stop_poisoned_discarding(true, now, core);
        }
        self.actions = Actions::default();
        self.begin_close(code, CloseThen::Reconnect(reason), true, now, core);
    }

    /// Sends a close frame and waits (bounded) for the peer's close.
    /// `discard`: the decoder failed, drop what still arrives.
    fn begin_close(
        &mut self,
        code: u16,
        then: CloseThen,
        discard: bool,
        now: u64,
        core: &mut Core,
    ) {
        self.outbox.live = false;
        self.outbox.push_close(code);
        self.phase = Phase::Closing { then, discard };
        self.timers.cancel(TimerKind::Ping);
        self.timers.cancel(TimerKind::Pong);
        self.timers.cancel(TimerKind::Stale);
        self.timers.set(
            TimerKind::Close,
            now.saturating_add(dur(self.opts.close_timeout)),
        );
        if self.flush(now, core).is_err() {
            self.session_over(self.close_reason(), now, core);
        }
    }

    /// The session ended (for `reason`): drop the socket, tell everyone, then reconnect or
    /// stay closed according to `close_then` and the handler.
    fn session_over(&mut self, reason: Reason, now: u64, core: &mut Core) {
        let stop = matches!(
            self.phase,
            Phase::Closing {
                then: CloseThen::Stop(_),
                ..
            }
        );
        // Closing is only ever entered from a session.
        let was_session = matches!(
            self.phase,
            Phase::Subscribing | Phase::Live | Phase::Closing { .. }
        );
        self.teardown(core);
        if was_session {
            core.stats.disconnects.add(reason);
            core.telemetry.emit(TelemetryEvent::ConnectionClosed {
                conn: self.id,
                reason,
                duration_ns: now.saturating_sub(self.session_started),
            });
            core.telemetry.emit(TelemetryEvent::Status {
                conn: self.id,
                up: false,
            });
            self.publish_status(StatusKind::Disconnected, reason, 0, now, core);
        }
        let again = if was_session {
            match self.callback(now, core, |h, cx| h.on_disconnect(reason, cx)) {
                Some(again) => again,
                None => {
                    // Reported on top of the disconnect already published.
                    self.publish_status(
                        StatusKind::Disconnected,
                        Reason::HandlerPanic,
                        0,
                        now,
                        core,
                    );
                    Reconnect::No
                }
            }
        } else {
            Reconnect::Yes
        };
        // Requests made while going down are void: the session is gone.
        self.actions = Actions::default();
        if stop || again == Reconnect::No || self.poisoned {
            self.ended = reason;
            self.phase = Phase::Closed;
            self.timers.clear();
        } else {
            self.schedule_reconnect(reason, now, core);
        }
    }

    // ----- sending ----------------------------------------------------------------------

    /// Writes queued frames. `Err` means the socket failed.
    #[inline]
    fn flush(&mut self, now: u64, core: &mut Core) -> Result<(), TransportError> {
        while self.frames_reported < self.outbox.frames {
            let size = self.outbox.sent_size(self.frames_reported);
            core.telemetry.emit(TelemetryEvent::MessageSent {
                conn: self.id,
                size,
            });
            core.stats.frames_sent += 1;
            self.frames_reported += 1;
        }
        let Some(t) = self.transport.as_mut() else {
            return Ok(());
        };
        while self.tx_off < self.outbox.bytes.len() {
            let n = t.write(&self.outbox.bytes[self.tx_off..])?;
            if n == 0 {
                break;
            }
            self.tx_off += n;
            core.stats.bytes_sent += n as u64;
        }
        if self.tx_off > 0 && self.tx_off == self.outbox.bytes.len() {
            self.outbox.bytes.clear();
            self.tx_off = 0;
        }
        t.flush()?;
        if self.state() == State::Subscribing && self.outbox.bytes.is_empty() {
            self.go_live(now, core);
        }
        Ok(())
    }

    /// [`Connection::flush`], ending the session on failure. Returns whether it is still up.
    fn flush_or_lose(&mut self, now: u64, core: &mut Core) -> bool {
        match self.flush(now, core) {
            Ok(()) => true,
            Err(e) => {
                let reason = if let TransportError::Tls(r) = e {
                    r
                } else {
                    Reason::Io
                };
                self.session_over(reason, now, core);
                false
            }
        }
    }

    // ----- callbacks and actions --------------------------------------------------------

    /// Runs a handler callback. `None`: it panicked; the handler is now [`Poisoned`] and
    /// the caller stops the connection ([`Connection::stop_poisoned`]).
    fn callback<R>(
        &mut self,
        now: u64,
        core: &mut Core,
        f: impl FnOnce(&mut dyn WsHandler, &mut Context<'_>) -> R,
    ) -> Option<R> {
        self.publisher.begin_message();
        let result = {
            let mut cx = Context::routed(
                now,
                self.id,
                self.leg,
                self.next_leg,
                &mut self.outbox,
                &mut self.publisher,
                &mut self.actions,
                Routes {
                    table: &mut core.producers,
                    routes: &self.routes,
                },
            );
            let handler = &mut self.handler;
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&mut **handler, &mut cx)))
        };
        match result {
            Ok(r) => Some(r),
            Err(_) => {
                self.poison(core);
                None
            }
        }
    }

    /// [`Connection::callback`], then what it asked for (or, if it panicked, the stop).
    fn callback_and_act(
        &mut self,
        now: u64,
        core: &mut Core,
        f: impl FnOnce(&mut dyn WsHandler, &mut Context<'_>),
    ) {
        if self.callback(now, core, f).is_none() {
            self.stop_poisoned(now, core);
        }
        self.after_callback(now, core);
    }

    /// A handler callback panicked: count it, drop the handler (in its place a
    /// [`Poisoned`] one that does nothing), forget what the callback asked for, and tell
    /// the loop to close the connection's other legs, which share the handler.
    #[cold]
    #[inline(never)]
    fn poison(&mut self, core: &mut Core) {
        core.stats.handler_panics += 1;
        self.poisoned = true;
        self.actions = Actions::default();
        let broken = std::mem::replace(&mut self.handler, Box::new(Poisoned));
        // Its drop may panic too: contain that as well.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(broken)));
        self.leg_requests.get_or_insert_default().poisoned = true;
    }

    /// Closes a connection whose handler panicked, for good, with reason `HandlerPanic`
    /// (its `Disconnected` says so): gracefully when in session, at once otherwise.
    #[cold]
    #[inline(never)]
    pub(crate) fn stop_poisoned(&mut self, now: u64, core: &mut Core) {
        self.stop_poisoned_discarding(false, now, core);
    }

    /// [`Connection::stop_poisoned`]; `discard`: the decoder failed too.
    #[cold]
    fn stop_poisoned_discarding(&mut self, discard: bool, now: u64, core: &mut Core) {
        self.poisoned = true;
        match self.state() {
            State::Subscribing | State::Live if self.transport.is_some() => {
                let then = CloseThen::Stop(Reason::HandlerPanic);
                self.begin_close(1011, then, discard, now, core);
            }
            State::Closing => {
                if let Phase::Closing {
                    then,
                    discard: dropping,
                } = &mut self.phase
                {
                    *then = CloseThen::Stop(Reason::HandlerPanic);
                    *dropping |= discard;
                }
            }
            State::Closed => {}
            _ => {
                self.teardown(core);
                self.timers.clear();
                self.ended = Reason::HandlerPanic;
                self.phase = Phase::Closed;
                self.publish_status(StatusKind::Disconnected, Reason::HandlerPanic, 0, now, core);
            }
        }
    }

    /// Flushes what the callback queued and applies what it asked for. Returns whether the
    /// session continues.
    fn after_callback(&mut self, now: u64, core: &mut Core) -> bool {
        if !self.actions.is_empty() {
            self.apply_actions(now, core);
        }
        self.transport.is_some() && self.flush_or_lose(now, core)
    }

    fn apply_actions(&mut self, now: u64, core: &mut Core) {
        let a = std::mem::take(&mut self.actions);
        if let Some(at) = a.timer {
            self.timers.set(TimerKind::Handler, at);
        } else if a.cancel_timer {
            self.timers.cancel(TimerKind::Handler);
        }
        if a.poll && !self.poll_queued {
            self.poll_queued = true;
            core.pollers.push(self.slot);
        }
        if a.open_leg || a.close_legs != [None; 2] {
            let r = self.leg_requests.get_or_insert_default();
            r.open |= a.open_leg;
            for leg in a.close_legs.into_iter().flatten() {
                if let Some(s) = r.close.iter_mut().find(|s| s.is_none() || **s == Some(leg)) {
                    *s = Some(leg);
                }
            }
        }
        if let Some(code) = a.close {
            self.close(code, now, core);
        } else if let Some(reason) = a.recycle {
            if matches!(self.state(), State::Subscribing | State::Live) {
                self.begin_close(1000, CloseThen::Reconnect(reason), false, now, core);
            }
        }
    }

    // ----- timers -----------------------------------------------------------------------

    /// Fires every due deadline.
    pub(crate) fn fire_timers(&mut self, now: u64, reg: &mio::Registry, core: &mut Core) {
        while let Some(kind) = self.timers.pop_due(now) {
            self.on_timer(kind, now, reg, core);
        }
    }

    fn on_timer(&mut self, kind: TimerKind, now: u64, reg: &mio::Registry, core: &mut Core) {
        match kind {
            TimerKind::Connect => {
                let reason = match self.state() {
                    State::Resolving => Reason::Resolve,
                    State::Connecting => Reason::Connect,
                    State::TlsHandshake => Reason::TlsTimeout,
                    State::WsUpgrade | State::Subscribing => Reason::Handshake,
                    _ => return,
                };
                if self.state() == State::Subscribing {
                    self.session_over(reason, now, core);
                } else {
                    self.attempt_failed(reason, now, core);
                }
            }
            TimerKind::Backoff => {
                if self.state() == State::Backoff {
                    core.stats.reconnects += 1;
                    self.start(now, reg, core);
                }
            }
            TimerKind::Ping => {
                if !matches!(self.state(), State::Live | State::Subscribing) {
                    return;
                }
                self.outbox.push_control(OpCode::Ping, &now.to_be_bytes());
                if self.timers.get(TimerKind::Pong).is_none() {
                    self.timers.set(
                        TimerKind::Pong,
                        now.saturating_add(dur(self.opts.pong_timeout)),
                    );
                }
                if let Some(every) = self.opts.ping_interval {
                    self.timers
                        .set(TimerKind::Ping, now.saturating_add(dur(every)));
                }
                self.flush_or_lose(now, core);
            }
            TimerKind::Pong => {
                if !matches!(self.state(), State::Live | State::Subscribing) {
                    return;
                }
                core.stats.pong_timeouts += 1;
                core.telemetry
                    .emit(TelemetryEvent::PongTimeout { conn: self.id });
                // The peer is unresponsive: no close handshake to wait for.
                self.outbox.push_close(1001);
                let _ = self.flush(now, core);
                self.session_over(Reason::PongTimeout, now, core);
            }
            TimerKind::Stale => {
                if self.state() != State::Live {
                    return;
                }
                let Some(limit) = self.opts.stale_after.map(dur) else {
                    return;
                };
                let due = self.last_data.saturating_add(limit);
                if now < due {
                    self.timers.set(TimerKind::Stale, due);
                    return;
                }
                core.stats.stale_recycles += 1;
                self.publish_status(StatusKind::Stale, Reason::Stale, 0, now, core);
                self.outbox.push_close(1001);
                let _ = self.flush(now, core);
                self.session_over(Reason::Stale, now, core);
            }
            TimerKind::Close => {
                if self.state() == State::Closing {
                    self.session_over(self.close_reason(), now, core);
                }
            }
            TimerKind::Handler => self.callback_and_act(now, core, |h, cx| h.on_timer(cx)),
        }
    }

    // ----- commands ---------------------------------------------------------------------

    /// `on_poll` for a handler that asked for it.
    pub(crate) fn poll_handler(&mut self, now: u64, core: &mut Core) {
        self.poll_queued = false;
        if matches!(self.state(), State::Live | State::Subscribing) {
            self.callback_and_act(now, core, |h, cx| h.on_poll(cx));
        }
    }

    /// Tells the handler that `leg` of this connection is gone (this is the primary leg).
    pub(crate) fn leg_closed(&mut self, leg: Leg, reason: Reason, now: u64, core: &mut Core) {
        self.callback_and_act(now, core, |h, cx| h.on_leg_closed(leg, reason, cx));
    }

    /// Forwards a subscribe or unsubscribe request to the handler.
    pub(crate) fn subscription(
        &mut self,
        topics: &[String],
        subscribe: bool,
        now: u64,
        core: &mut Core,
    ) {
        if subscribe {
            self.callback_and_act(now, core, |h, cx| h.on_subscribe(topics, cx));
        } else {
            self.callback_and_act(now, core, |h, cx| h.on_unsubscribe(topics, cx));
        }
    }

    /// Sends an application frame.
    pub(crate) fn send(&mut self, frame: &OutFrame, now: u64, core: &mut Core) {
        let queued = match frame {
            OutFrame::Text(t) => self.outbox.push(OpCode::Text, t.as_bytes()),
            OutFrame::Binary(b) => self.outbox.push(OpCode::Binary, b),
        };
        if queued.is_err() {
            core.stats.sends_rejected += 1;
            return;
        }
        self.flush_or_lose(now, core);
    }

    /// Closes for good with close `code` (graceful when connected).
    pub(crate) fn close(&mut self, code: u16, now: u64, core: &mut Core) {
        match self.state() {
            State::Subscribing | State::Live => {
                self.begin_close(code, CloseThen::Stop(Reason::Shutdown), false, now, core);
            }
            State::Closing => {
                // Already closing: make sure it ends closed.
                let reason = self.close_reason();
                if let Phase::Closing { then, .. } = &mut self.phase {
                    *then = CloseThen::Stop(reason);
                }
            }
            State::Closed => {}
            State::Resolving
            | State::Connecting
            | State::TlsHandshake
            | State::WsUpgrade
            | State::Backoff => {
                self.teardown(core);
                self.timers.clear();
                self.ended = Reason::Shutdown;
                self.phase = Phase::Closed;
                self.publish_status(StatusKind::Disconnected, Reason::Shutdown, 0, now, core);
            }
        }
    }

    // ----- helpers ----------------------------------------------------------------------

    fn publish_status(
        &mut self,
        kind: StatusKind,
        reason: Reason,
        value: u64,
        now: u64,
        core: &mut Core,
    ) {
        // Only the primary leg speaks for the connection in-band: a standby leg connecting,
        // or an old one closing after a rotation, says nothing to consumers. With several
        // lines, one line's lifecycle is not the feed's: the handler reports lines in-band.
        if !self.primary || self.multi_line {
            return;
        }
        let ev = Event::status(
            InstrumentId::NONE,
            Status {
                kind,
                reason: reason.code(),
                value,
                connection: self.id.0,
            },
            now,
        );
        self.publisher.begin_message();
        self.publisher
            .publish_routed(ev, &mut core.producers, &self.routes);
        // A status dropped on a full ring (or an inline consumer that panicked on it) is
        // for the loop to report (or retire) without waiting for the next message.
        core.note_drops(&self.routes);
    }

    /// The I/O loop is stopping on a panic: tell this connection's consumers.
    pub(crate) fn report_engine_stop(&mut self, now: u64, core: &mut Core) {
        self.publish_status(StatusKind::Disconnected, Reason::EnginePanic, 0, now, core);
    }

    fn drop_transport(&mut self, reg: &mio::Registry) {
        if let Some(mut t) = self.transport.take() {
            t.stream_mut().deregister(reg);
        }
    }

    /// Drops the socket and resets per-session state (keeps the handler timer and backoff).
    fn teardown(&mut self, core: &mut Core) {
        if let Some(mut t) = self.transport.take() {
            t.close_notify();
            // Dropping a mio source deregisters its fd from epoll.
            drop(t);
        }
        let _ = core;
        self.rx.clear();
        self.need = 0;
        self.decoder.reset();
        self.outbox.bytes.clear();
        self.outbox.live = false;
        self.tx_off = 0;
        for k in [
            TimerKind::Connect,
            TimerKind::Ping,
            TimerKind::Pong,
            TimerKind::Stale,
            TimerKind::Close,
        ] {
            self.timers.cancel(k);
        }
    }
}

#[inline]
fn message_telemetry(
    telemetry: &mut TelemetryTx,
    conn: ConnectionId,
    size: u32,
    recv_ts: u64,
    publisher: &Publisher,
) {
    if telemetry.is_enabled() {
        telemetry.emit(TelemetryEvent::MessageReceived {
            conn,
            size,
            exchange_ts: publisher.exchange_ts,
            recv_ts,
            decoded_ts: publisher.decoded_ts,
            published_ts: publisher.published_ts,
        });
    }
}

/// A duration in ns, saturating.
#[inline]
/// The reason for a transport failure while the upgrade is written or awaited: a close or
/// reset by the server is named as such (not as a refusal: no response came).
fn upgrade_io_reason(e: TransportError) -> Reason {
    use std::io::ErrorKind as K;
    match e {
        TransportError::Eof
        | TransportError::Io(K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe) => {
            Reason::UpgradeClosed
        }
        other => other.reason(),
    }
}

fn dur(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod fake_socket_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rx_buffer_compacts_and_grows_once() {
        let mut rx = RxBuf::new(4096);
        assert!(rx.make_room(0, 0));
        // Fill most of it, consume most: a partial frame stays at the back.
        rx.end = 4000;
        rx.start = 3990;
        rx.data[3990..4000].copy_from_slice(b"0123456789");
        // Little room left at the back: compact to the front, keeping the bytes.
        assert!(rx.make_room(20, 0));
        assert_eq!((rx.start, rx.end), (0, 10));
        assert_eq!(&rx.data[..10], b"0123456789");
        // A frame needing more than the buffer grows it to `grow_to`, once.
        assert!(rx.make_room(10_000, 16_384));
        assert_eq!(rx.data.len(), 16_384);
        assert_eq!(&rx.data[..10], b"0123456789");
        assert!(rx.make_room(10_000, 16_384));
        assert_eq!(rx.data.len(), 16_384);
        // Everything consumed: back to the start.
        rx.start = rx.end;
        assert!(rx.make_room(0, 0));
        assert_eq!((rx.start, rx.end), (0, 0));
        // Full and unconsumed with no growth allowed: no room.
        rx.end = rx.data.len();
        assert!(!rx.make_room(0, 0));
    }
}
