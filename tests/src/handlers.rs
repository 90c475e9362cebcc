//! Handlers used by the integration tests.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tickwire_engine::decimal::Decimal;
use tickwire_engine::event::{Event, Side, Trade};
use tickwire_engine::handler::{Context, Message, WsHandler};
use tickwire_engine::instrument::InstrumentId;
use tickwire_engine::reason::Reason;

/// Shared observations of a [`SeqHandler`].
#[derive(Default)]
pub struct Observed {
    /// Data messages seen.
    pub messages: AtomicU64,
    /// `on_connect` calls.
    pub connects: AtomicU64,
    /// `on_disconnect` calls.
    pub disconnects: AtomicU64,
    /// Reasons passed to `on_disconnect` and `on_error`, in order.
    pub reasons: Mutex<Vec<Reason>>,
    /// Payloads kept when `keep_payloads` is on.
    pub payloads: Mutex<Vec<Vec<u8>>>,
}

/// Publishes one trade event per message whose payload is a decimal number (the sequence
/// number, also used as the trade id); sends `SUB <topic>` for every topic on each connect.
pub struct SeqHandler {
    /// Subscribe frames, resent after every (re)connect.
    subscriptions: Vec<Vec<u8>>,
    /// What the test can see.
    pub observed: Arc<Observed>,
    keep_payloads: bool,
    count_allocations: bool,
}

impl SeqHandler {
    /// A handler subscribing to `topics`.
    pub fn new(topics: &[&str]) -> (SeqHandler, Arc<Observed>) {
        let observed = Arc::new(Observed::default());
        (
            SeqHandler {
                subscriptions: topics
                    .iter()
                    .map(|t| format!("SUB {t}").into_bytes())
                    .collect(),
                observed: observed.clone(),
                keep_payloads: false,
                count_allocations: false,
            },
            observed,
        )
    }

    /// Keeps a copy of every payload (allocates: not for the allocation test).
    pub fn keep_payloads(mut self) -> SeqHandler {
        self.keep_payloads = true;
        self
    }

    /// Turns on the counting allocator for the I/O thread at the first `on_connect`.
    pub fn count_allocations(mut self) -> SeqHandler {
        self.count_allocations = true;
        self
    }
}

/// The number in an ASCII decimal payload, if it is one.
#[inline]
pub fn parse_seq(p: &[u8]) -> Option<u64> {
    if p.is_empty() || p.len() > 19 {
        return None;
    }
    let mut n: u64 = 0;
    for &b in p {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u64::from(b - b'0');
    }
    Some(n)
}

impl WsHandler for SeqHandler {
    fn on_connect(&mut self, cx: &mut Context<'_>) {
        self.observed.connects.fetch_add(1, Ordering::SeqCst);
        for s in &self.subscriptions {
            let _ = cx.send_text(s);
        }
        if self.count_allocations {
            crate::alloc::count_this_thread(true);
        }
    }

    #[inline]
    fn on_message(&mut self, msg: Message<'_>, cx: &mut Context<'_>) {
        self.observed.messages.fetch_add(1, Ordering::Relaxed);
        if self.keep_payloads {
            self.observed
                .payloads
                .lock()
                .unwrap()
                .push(msg.payload().to_vec());
        }
        if let Some(seq) = parse_seq(msg.payload()) {
            cx.mark_decoded();
            let trade = Trade {
                price: Decimal::from_parts(seq as i64, 0),
                qty: Decimal::from_parts(1, 0),
                side: Side::Buy,
                id: seq,
            };
            if let Ok(ev) = Event::trade(InstrumentId(0), trade, 0, cx.now()) {
                cx.publish(ev);
            }
        }
    }

    fn on_disconnect(
        &mut self,
        reason: Reason,
        _cx: &mut Context<'_>,
    ) -> tickwire_engine::handler::Reconnect {
        self.observed.disconnects.fetch_add(1, Ordering::SeqCst);
        self.observed.reasons.lock().unwrap().push(reason);
        tickwire_engine::handler::Reconnect::Yes
    }

    fn on_error(&mut self, reason: Reason, _cx: &mut Context<'_>) {
        self.observed.reasons.lock().unwrap().push(reason);
    }

    fn on_subscribe(&mut self, topics: &[String], cx: &mut Context<'_>) {
        for t in topics {
            let frame = format!("SUB {t}").into_bytes();
            let _ = cx.send_text(&frame);
            self.subscriptions.push(frame);
        }
    }

    fn on_unsubscribe(&mut self, topics: &[String], cx: &mut Context<'_>) {
        for t in topics {
            let frame = format!("SUB {t}").into_bytes();
            self.subscriptions.retain(|s| *s != frame);
            let _ = cx.send_text(format!("UNSUB {t}").as_bytes());
        }
    }
}
