//! One WebSocket session: paced data for the subscribed streams, control replies, server
//! pings with a pong deadline, a lifetime, and faults.
//!
//! One thread, one non-blocking socket: each turn reads what the client sent, fires due
//! timers, writes pending bytes, renders the messages that have become due (at most a batch
//! per write) and otherwise sleeps in `ppoll` until input or the next deadline. A sender that
//! fell behind (slow client, silence fault) catches up in bursts; nothing is dropped.

use std::collections::VecDeque;
use std::io;
use std::ops::ControlFlow;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use tickwire_engine::clock::now_ns;
use tickwire_engine::ws::{Decoder, Frame, Limits, OpCode, Role, encode_close, encode_frame};
use tickwire_feeds::sim::{ControlOutcome, FaultCounts, SimFault, SimFeed};

use super::deflate::{Deflater, text_frame};
use super::fault::{Fault, ScheduledFault};
use super::shared::{Counters, SessionHandle, Shared};
use super::transport::Transport;
use crate::sys;

/// Longest sleep, so injected faults and `stop` are seen promptly.
const MAX_WAIT: Duration = Duration::from_millis(20);
/// How long to wait for the client's close after sending ours.
const CLOSE_WAIT: Duration = Duration::from_secs(2);
/// How long to wait for the client's close when the server stops.
const STOP_WAIT: Duration = Duration::from_millis(200);
/// Events examined per turn at rate 0 (bounds a turn when few events match).
const UNPACED_WINDOW: u64 = 64 * 1024;

type Flow = ControlFlow<()>;

/// Runs a session until it ends. `out` already holds the `101` answer; `inbuf` any bytes
/// the client sent after its request head.
pub(crate) fn run(
    shared: &Shared,
    t: Transport,
    out: Vec<u8>,
    inbuf: Vec<u8>,
    feed: Box<dyn SimFeed>,
    deflater: Option<Deflater>,
) {
    sys::precise_timers();
    let handle = shared.register();
    let c = &shared.counters;
    c.sessions.fetch_add(1, Relaxed);
    c.live_sessions.fetch_add(1, Relaxed);
    let now = Instant::now();
    let cfg = &shared.config;
    let mut s = Session {
        shared,
        handle: &handle,
        t,
        feed,
        inbuf,
        decoder: Decoder::new(
            Role::Server,
            Limits {
                max_frame: cfg.max_client_message,
                max_message: cfg.max_client_message,
            },
        ),
        out,
        sent: 0,
        scratch: Vec::with_capacity(4096),
        reply: Vec::with_capacity(256),
        next_ping: now + cfg.ping_interval,
        outstanding: VecDeque::new(),
        silent_until: None,
        no_pongs_until: None,
        no_pings_until: None,
        read_paused_until: None,
        shutdown_close_at: None,
        closing: None,
        peer_closed: false,
        stopping: false,
        dropped: false,
        lifetime_end: cfg.lifetime.map(|l| now + l),
        schedule: cfg.faults.iter().map(|f| (*f, now + f.at)).collect(),
        window: (now, 0),
        faults_seen: FaultCounts::default(),
        deflater,
    };
    while let ControlFlow::Continue(()) = s.turn(Instant::now()) {}
    if !s.dropped {
        s.t.close_notify();
    }
    handle.done.store(true, Relaxed);
    c.live_sessions.fetch_sub(1, Relaxed);
}

struct Session<'a> {
    shared: &'a Shared,
    handle: &'a SessionHandle,
    t: Transport,
    feed: Box<dyn SimFeed>,
    inbuf: Vec<u8>,
    decoder: Decoder,
    /// Bytes to write; `sent` of them are written.
    out: Vec<u8>,
    sent: usize,
    scratch: Vec<u8>,
    reply: Vec<u8>,
    next_ping: Instant,
    /// Unanswered pings: payload and send time.
    outstanding: VecDeque<(Vec<u8>, Instant)>,
    silent_until: Option<Instant>,
    no_pongs_until: Option<Instant>,
    no_pings_until: Option<Instant>,
    read_paused_until: Option<Instant>,
    shutdown_close_at: Option<Instant>,
    /// Our close frame is queued; the session ends at this deadline at the latest.
    closing: Option<Instant>,
    /// The client sent a close (ours answers it); end once it is written.
    peer_closed: bool,
    /// The server is stopping (seen once).
    stopping: bool,
    /// A drop fault ended the session (no TLS close either).
    dropped: bool,
    lifetime_end: Option<Instant>,
    schedule: Vec<(ScheduledFault, Instant)>,
    /// Inbound rate window: start and frames counted.
    window: (Instant, u32),
    /// The feed's content fault counts already added to the server's counters.
    faults_seen: FaultCounts,
    /// permessage-deflate, when the client offered it and `--deflate` is on: text
    /// messages go out compressed.
    deflater: Option<Deflater>,
}

fn active(until: Option<Instant>, now: Instant) -> bool {
    until.is_some_and(|u| now < u)
}

impl Session<'_> {
    fn counters(&self) -> &Counters {
        &self.shared.counters
    }

    fn turn(&mut self, now: Instant) -> Flow {
        if self.shared.stop.load(Relaxed) && !self.stopping {
            self.stopping = true;
            if self.closing.is_none() {
                self.start_close(1001, b"simulator stopping", now);
            }
            // Do not hold up `stop()` for clients that never answer.
            self.closing = self.closing.map(|c| c.min(now + STOP_WAIT));
        }
        if !self.feed.has_subscriptions() {
            // Data starts at subscription time, as on the venue, not at connection time.
            self.feed.skip_to(self.shared.event_now(now));
        }
        for fault in self.handle.take() {
            self.apply(fault, now)?;
        }
        self.run_schedule(now)?;
        let reading = !active(self.read_paused_until, now);
        if reading {
            self.read_client(now)?;
        }
        if self.closing.is_some_and(|d| now >= d) {
            return ControlFlow::Break(());
        }
        if let Some((_, at)) = self.outstanding.front() {
            if now >= *at + self.shared.config.pong_timeout {
                self.counters().pong_timeouts.fetch_add(1, Relaxed);
                return ControlFlow::Break(());
            }
        }
        if self.closing.is_none() {
            if self.lifetime_end.is_some_and(|e| now >= e) {
                self.start_close(1000, b"connection lifetime reached", now);
            } else if self.shutdown_close_at.is_some_and(|e| now >= e) {
                self.start_close(1001, b"server shutdown", now);
            }
        }
        let silent = active(self.silent_until, now);
        if !silent {
            if now >= self.next_ping {
                self.next_ping = now + self.shared.config.ping_interval;
                if !active(self.no_pings_until, now) && self.closing.is_none() {
                    let payload = itoa::Buffer::new()
                        .format(now_ns() / 1_000_000)
                        .as_bytes()
                        .to_vec();
                    encode_frame(&mut self.out, OpCode::Ping, true, &payload, None);
                    self.outstanding.push_back((payload, now));
                    self.counters().pings.fetch_add(1, Relaxed);
                }
            }
            match self.flush() {
                Ok(true) => {}
                Ok(false) => {
                    sys::wait(self.t.fd(), reading, true, self.next_timer(now, silent));
                    return ControlFlow::Continue(());
                }
                Err(_) => return ControlFlow::Break(()),
            }
            if self.peer_closed {
                return ControlFlow::Break(());
            }
            if self.closing.is_none() && self.feed.has_subscriptions() {
                let until = if self.shared.config.rate == 0 {
                    self.feed.cursor() + UNPACED_WINDOW
                } else {
                    self.shared.due_count(now)
                };
                // At rate 0 a turn that found nothing in its window (nothing subscribed
                // occurs) falls through to a short wait instead of spinning.
                if self.render(until) > 0 {
                    return ControlFlow::Continue(());
                }
            }
        }
        sys::wait(self.t.fd(), reading, false, self.next_timer(now, silent));
        ControlFlow::Continue(())
    }

    /// The time to the next thing this session must do, at most [`MAX_WAIT`].
    fn next_timer(&self, now: Instant, silent: bool) -> Duration {
        let cfg = &self.shared.config;
        let mut next = now + MAX_WAIT;
        let mut consider = |t: Option<Instant>| {
            if let Some(t) = t {
                next = next.min(t);
            }
        };
        consider(self.closing);
        consider(
            self.outstanding
                .front()
                .map(|(_, at)| *at + cfg.pong_timeout),
        );
        consider(self.lifetime_end);
        consider(self.shutdown_close_at);
        consider(self.schedule.iter().map(|(_, at)| *at).min());
        if silent {
            consider(self.silent_until);
        } else {
            consider(Some(self.next_ping));
            if cfg.rate > 0 && self.closing.is_none() && self.feed.has_subscriptions() {
                consider(Some(self.shared.due_time(self.feed.cursor())));
            }
        }
        if self.read_paused_until.is_some() {
            consider(self.read_paused_until);
        }
        next.saturating_duration_since(now)
    }

    /// Renders due messages (a batch at most); returns how many.
    fn render(&mut self, until: u64) -> u64 {
        let batch = self.shared.config.batch_bytes;
        // Stamped with the venue's time: a path delay is the network's, not the venue's.
        let delay = u64::try_from(self.shared.config.path_delay.as_nanos()).unwrap_or(0);
        let mut n = 0;
        while self.out.len() - self.sent < batch {
            self.scratch.clear();
            let venue_now = now_ns().saturating_sub(delay);
            if !self.feed.next_message(until, venue_now, &mut self.scratch) {
                break;
            }
            text_frame(&mut self.out, self.deflater.as_mut(), &self.scratch);
            n += 1;
        }
        let c = self.counters();
        Counters::add(&c.messages, n);
        let made = self.feed.faults_made();
        if made != self.faults_seen {
            Counters::add(&c.gaps, made.gaps - self.faults_seen.gaps);
            Counters::add(&c.checksums, made.checksums - self.faults_seen.checksums);
            Counters::add(&c.resets, made.resets - self.faults_seen.resets);
            self.faults_seen = made;
        }
        self.shared.head.fetch_max(self.feed.cursor(), Relaxed);
        n
    }

    /// Writes pending bytes: `Ok(true)` when all are out, `Ok(false)` when the socket is
    /// full.
    fn flush(&mut self) -> io::Result<bool> {
        while self.sent < self.out.len() {
            match self.t.write(&self.out[self.sent..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.sent += n;
                    Counters::add(&self.shared.counters.bytes, n as u64);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) => return Err(e),
            }
        }
        self.out.clear();
        self.sent = 0;
        match self.t.flush() {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn start_close(&mut self, code: u16, reason: &[u8], now: Instant) {
        encode_close(&mut self.out, code, reason, None);
        self.closing = Some(now + CLOSE_WAIT);
    }

    fn read_client(&mut self, now: Instant) -> Flow {
        for _ in 0..64 {
            match self.t.read(&mut self.inbuf) {
                Ok(0) => return ControlFlow::Break(()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => return ControlFlow::Break(()),
            }
        }
        loop {
            // Client frames are rare: copy each out so the buffer can be compacted at once.
            let (consumed, msg) = match self.decoder.decode(&mut self.inbuf) {
                Ok(d) if d.is_incomplete() => return ControlFlow::Continue(()),
                Ok(d) => (d.consumed, d.frame.map(Msg::from)),
                Err(e) => {
                    self.counters().protocol_errors.fetch_add(1, Relaxed);
                    self.inbuf.clear();
                    if self.closing.is_none() {
                        self.start_close(e.close_code(), b"protocol error", now);
                    }
                    self.read_paused_until = self.closing;
                    return ControlFlow::Continue(());
                }
            };
            self.inbuf.drain(..consumed);
            let Some(msg) = msg else {
                continue;
            };
            if matches!(msg, Msg::Text(_) | Msg::Ping(_) | Msg::Pong(_)) && self.over_limit(now) {
                // One refusal per session: frames already in flight behind the one over the
                // limit are not counted again.
                if self.closing.is_none() {
                    self.counters().rate_limited.fetch_add(1, Relaxed);
                    self.start_close(1008, b"too many requests", now);
                }
                return ControlFlow::Continue(());
            }
            match msg {
                Msg::Text(mut text) => {
                    self.counters().control_requests.fetch_add(1, Relaxed);
                    self.reply.clear();
                    let outcome = self.feed.handle_control(&mut text, &mut self.reply);
                    if outcome == ControlOutcome::Rejected {
                        self.counters().control_errors.fetch_add(1, Relaxed);
                    }
                    // `no-pongs` silences application pongs (Bybit, OKX) as well.
                    if outcome == ControlOutcome::Pong && active(self.no_pongs_until, now) {
                        self.reply.clear();
                    }
                    if !self.reply.is_empty() {
                        text_frame(&mut self.out, self.deflater.as_mut(), &self.reply);
                    }
                }
                Msg::Binary => {}
                Msg::Ping(p) => {
                    if !active(self.no_pongs_until, now) {
                        encode_frame(&mut self.out, OpCode::Pong, true, &p, None);
                    }
                }
                Msg::Pong(p) => {
                    if let Some(i) = self.outstanding.iter().position(|(q, _)| *q == p) {
                        self.outstanding.drain(..=i);
                        self.counters().pongs.fetch_add(1, Relaxed);
                    }
                }
                Msg::Close(code) => {
                    if self.closing.is_some() {
                        // The client answered our close: done.
                        return ControlFlow::Break(());
                    }
                    let code = code.unwrap_or(1000);
                    encode_frame(
                        &mut self.out,
                        OpCode::Close,
                        true,
                        &code.to_be_bytes(),
                        None,
                    );
                    self.peer_closed = true;
                    self.closing = Some(now + CLOSE_WAIT);
                    return ControlFlow::Continue(());
                }
            }
        }
    }

    /// Counts an inbound frame; true when over the per-second limit.
    fn over_limit(&mut self, now: Instant) -> bool {
        let Some(limit) = self.shared.config.inbound_limit else {
            return false;
        };
        if now.duration_since(self.window.0) >= Duration::from_secs(1) {
            self.window = (now, 0);
        }
        self.window.1 += 1;
        self.window.1 > limit
    }

    fn run_schedule(&mut self, now: Instant) -> Flow {
        let mut i = 0;
        while i < self.schedule.len() {
            let (sf, at) = self.schedule[i];
            if now < at {
                i += 1;
                continue;
            }
            match sf.every {
                Some(every) => self.schedule[i].1 = at + every,
                None => {
                    self.schedule.swap_remove(i);
                }
            }
            self.apply(sf.fault, now)?;
        }
        ControlFlow::Continue(())
    }

    fn apply(&mut self, fault: Fault, now: Instant) -> Flow {
        self.counters().faults.fetch_add(1, Relaxed);
        let until = |d: Duration| Some(now.checked_add(d).unwrap_or(now + super::fault::FOREVER));
        match fault {
            Fault::Drop => {
                self.dropped = true;
                self.t.abort();
                return ControlFlow::Break(());
            }
            Fault::Silent(d) => self.silent_until = until(d),
            Fault::NoPongs(d) => self.no_pongs_until = until(d),
            Fault::NoPings(d) => self.no_pings_until = until(d),
            Fault::ReadSlowly(d) => self.read_paused_until = until(d),
            Fault::Gap => {
                self.feed.inject(SimFault::Gap);
            }
            Fault::Malformed => {
                self.feed.inject(SimFault::Malformed);
            }
            Fault::Checksum => {
                self.feed.inject(SimFault::Checksum);
            }
            Fault::Reset => {
                self.feed.inject(SimFault::Reset);
            }
            Fault::Oversized(n) => {
                let mut payload = Vec::with_capacity(n);
                payload.extend_from_slice(b"{\"e\":\"oversized\",\"x\":\"");
                payload.resize(n.saturating_sub(2).max(payload.len()), b'x');
                payload.extend_from_slice(b"\"}");
                text_frame(&mut self.out, self.deflater.as_mut(), &payload);
            }
            Fault::InvalidUtf8 => {
                encode_frame(
                    &mut self.out,
                    OpCode::Text,
                    true,
                    b"{\"e\":\"trade\",\"s\":\"\xC3\x28\xFF\"}",
                    None,
                );
            }
            Fault::ServerShutdown => {
                self.scratch.clear();
                if self.feed.render_shutdown(now_ns(), &mut self.scratch) {
                    text_frame(&mut self.out, self.deflater.as_mut(), &self.scratch);
                }
                self.shutdown_close_at = Some(now + self.shared.config.shutdown_grace);
            }
            Fault::Close(code) => {
                if self.closing.is_none() {
                    self.start_close(code, b"", now);
                }
            }
        }
        ControlFlow::Continue(())
    }
}

/// A client frame, copied out of the receive buffer.
enum Msg {
    Text(Vec<u8>),
    Binary,
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<u16>),
}

impl From<Frame<'_>> for Msg {
    fn from(f: Frame<'_>) -> Msg {
        match f {
            Frame::Text(t) => Msg::Text(t.to_vec()),
            Frame::Binary(_) => Msg::Binary,
            Frame::Ping(p) => Msg::Ping(p.to_vec()),
            Frame::Pong(p) => Msg::Pong(p.to_vec()),
            Frame::Close { code, .. } => Msg::Close(code),
        }
    }
}
