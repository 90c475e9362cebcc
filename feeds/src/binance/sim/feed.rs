//! One connection's view of the venue: where it is in the event sequence, what it
//! subscribed to, and the content faults waiting to be applied. The server asks it for the
//! next message to send and frames the bytes.

use std::sync::Arc;

use super::Venue;
use super::control::handle_control;
use super::render;
use super::stream::{Route, StreamError, StreamKind};
use super::subscriptions::Subscriptions;
use super::tape::StepKind;
use crate::sim::{ControlOutcome, FaultCounts, SimFault, SimFeed};

const DEPTH_BITS: u8 = (1 << StreamKind::Depth as u8)
    | (1 << StreamKind::Depth100ms as u8)
    | (1 << StreamKind::Depth0ms as u8);
const TRADE_BITS: u8 = (1 << StreamKind::Trade as u8) | (1 << StreamKind::AggTrade as u8);
const TICKER_BITS: u8 = 1 << StreamKind::BookTicker as u8;

/// Unit of the `E`/`T` fields (spot's `timeUnit=MICROSECOND` URL parameter).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeUnit {
    /// Milliseconds (the default).
    Millisecond,
    /// Microseconds.
    Microsecond,
}

/// How a connection's messages look.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeedOptions {
    /// The URL route (USD-M `/public`, `/market`, or unrouted).
    pub route: Route,
    /// Wrap messages in `{"stream":..,"data":..}` (`/stream` URLs, or `SET_PROPERTY combined`).
    pub combined: bool,
    /// Start every message with `"ts":<send time ns>`.
    pub probe: bool,
    /// Unit of `E`/`T`.
    pub time_unit: TimeUnit,
}

/// A connection's cursor in the venue's event sequence, its subscriptions and pending
/// content faults.
#[derive(Debug)]
pub struct Feed {
    venue: Arc<Venue>,
    opts: FeedOptions,
    subs: Subscriptions,
    cursor: u64,
    current: u64,
    pending: u8,
    gaps_pending: u32,
    malformed_pending: u32,
    gaps_made: u64,
    malformed_made: u64,
}

impl Feed {
    /// A feed whose first event is `start_event`, with nothing subscribed.
    pub fn new(venue: Arc<Venue>, opts: FeedOptions, start_event: u64) -> Feed {
        let subs = Subscriptions::new(venue.symbol_count());
        Feed {
            venue,
            opts,
            subs,
            cursor: start_event,
            current: start_event,
            pending: 0,
            gaps_pending: 0,
            malformed_pending: 0,
            gaps_made: 0,
            malformed_made: 0,
        }
    }

    /// The venue.
    pub fn venue(&self) -> &Arc<Venue> {
        &self.venue
    }

    /// The connection's options (with the current `combined` property).
    pub fn options(&self) -> FeedOptions {
        self.opts
    }

    /// The subscriptions.
    pub fn subscriptions(&self) -> &Subscriptions {
        &self.subs
    }

    /// Subscribes the streams named in the URL (all or none).
    pub fn subscribe_names<'a>(&mut self, names: &[&'a str]) -> Result<(), (StreamError, &'a str)> {
        self.subs.apply(&self.venue, self.opts.route, names, true)
    }

    /// The next event this feed will look at. Every event before it has been sent or
    /// skipped, except the streams of the event being sent.
    pub fn cursor(&self) -> u64 {
        self.cursor
    }

    /// Moves the cursor forward to `event` without sending (no-op if already past it).
    pub fn skip_to(&mut self, event: u64) {
        if event > self.cursor {
            self.cursor = event;
            self.pending = 0;
        }
    }

    /// True when a message of the current event is still to be sent.
    pub fn has_pending(&self) -> bool {
        self.pending != 0
    }

    /// Handles a control request and appends the reply to `out`.
    pub fn handle_control(&mut self, text: &mut [u8], out: &mut Vec<u8>) -> ControlOutcome {
        handle_control(
            &self.venue,
            self.opts.route,
            &mut self.subs,
            &mut self.opts.combined,
            text,
            out,
        )
    }

    /// The next depth event this feed would send is skipped: the update-id chain breaks
    /// once (spot: `U != prev u + 1`; USD-M: `pu != prev u`).
    pub fn inject_gap(&mut self) {
        self.gaps_pending += 1;
    }

    /// The next message is cut in half (invalid JSON, still valid UTF-8).
    pub fn inject_malformed(&mut self) {
        self.malformed_pending += 1;
    }

    /// Depth events skipped by [`Feed::inject_gap`] so far.
    pub fn gaps_made(&self) -> u64 {
        self.gaps_made
    }

    /// Messages cut by [`Feed::inject_malformed`] so far.
    pub fn malformed_made(&self) -> u64 {
        self.malformed_made
    }

    /// Appends the next subscribed message among events before `until` to `out` and returns
    /// true, or returns false once the cursor reaches `until`. `now_ns` is the send time
    /// (ns since the UNIX epoch): it fills the probe and `E`/`T`.
    pub fn next_message(&mut self, until: u64, now_ns: u64, out: &mut Vec<u8>) -> bool {
        while self.pending == 0 {
            if self.cursor >= until {
                return false;
            }
            let n = self.cursor;
            self.cursor += 1;
            let (sym, pos) = self.venue.locate(n);
            let mask = self.subs.mask(sym);
            if mask == 0 {
                continue;
            }
            let kind = self.venue.tape(sym).step(pos).kind;
            let m = mask
                & match kind {
                    StepKind::Depth => DEPTH_BITS,
                    StepKind::Trade => TRADE_BITS,
                    StepKind::Ticker => TICKER_BITS,
                };
            if m == 0 {
                continue;
            }
            if kind == StepKind::Depth && self.gaps_pending > 0 {
                self.gaps_pending -= 1;
                self.gaps_made += 1;
                continue;
            }
            self.pending = m;
            self.current = n;
        }
        let Some(kind) = StreamKind::from_lowest_bit(self.pending) else {
            self.pending = 0;
            return false;
        };
        self.pending &= self.pending - 1;
        let (sym, pos) = self.venue.locate(self.current);
        let tape = self.venue.tape(sym);
        let time = match self.opts.time_unit {
            TimeUnit::Millisecond => now_ns / 1_000_000,
            TimeUnit::Microsecond => now_ns / 1_000,
        };
        let start = out.len();
        let envelope = self
            .opts
            .combined
            .then(|| (self.venue.lower_names()[sym].as_str(), kind));
        render::open(out, self.opts.probe.then_some(now_ns), envelope);
        render::members(
            out,
            self.venue.market(),
            tape,
            pos,
            tape.step(pos),
            kind,
            time,
        );
        render::close(out, self.opts.combined);
        if self.malformed_pending > 0 {
            self.malformed_pending -= 1;
            self.malformed_made += 1;
            out.truncate(start + (out.len() - start) / 2);
        }
        true
    }
}

impl SimFeed for Feed {
    fn has_subscriptions(&self) -> bool {
        !self.subs.is_empty()
    }

    fn cursor(&self) -> u64 {
        self.cursor
    }

    fn skip_to(&mut self, event: u64) {
        Feed::skip_to(self, event);
    }

    #[inline]
    fn next_message(&mut self, until: u64, now_ns: u64, out: &mut Vec<u8>) -> bool {
        Feed::next_message(self, until, now_ns, out)
    }

    fn handle_control(&mut self, text: &mut [u8], reply: &mut Vec<u8>) -> ControlOutcome {
        Feed::handle_control(self, text, reply)
    }

    /// Binance has gaps and malformed messages; no checksums, and its ids never reset.
    fn inject(&mut self, fault: SimFault) -> bool {
        match fault {
            SimFault::Gap => self.inject_gap(),
            SimFault::Malformed => self.inject_malformed(),
            SimFault::Checksum | SimFault::Reset => return false,
        }
        true
    }

    fn faults_made(&self) -> FaultCounts {
        FaultCounts {
            gaps: self.gaps_made,
            malformed: self.malformed_made,
            ..FaultCounts::default()
        }
    }

    /// `{"e":"serverShutdown","E":<ms>}`, with the probe first when the feed has it.
    fn render_shutdown(&self, now_ns: u64, out: &mut Vec<u8>) -> bool {
        let ts = self.opts.probe.then_some(now_ns);
        render::render_server_shutdown(out, ts, now_ns / 1_000_000);
        true
    }
}
