//! The raw-payload path: whole WebSocket messages handed to another thread without
//! per-message allocation (the seeds' generic use, for consumers that parse themselves).
//!
//! Messages are copied into one SPSC byte ring ([`rtrb`]) as `[len u32][conn u32][recv_ts
//! u64][payload]` records. A full ring drops the message and counts it; before the next
//! message that fits, the consumer gets a [`RawItem::Overflow`] with the exact number dropped.
//! [`RawForwarder`] is the [`WsHandler`] that feeds a ring from a connection.

use crate::handler::{ConnectionId, Context, Message, WsHandler};

const HEADER: usize = 16;
const OVERFLOW_MARK: u32 = u32::MAX;

/// The I/O thread's end of a raw-payload ring.
pub struct RawProducer {
    inner: rtrb::Producer<u8>,
    pending_dropped: u64,
    dropped_total: u64,
}

/// The consumer's end of a raw-payload ring. `Send`.
pub struct RawConsumer {
    inner: rtrb::Consumer<u8>,
    /// Holds a message that wrapped around the end of the ring, so it can be lent contiguous.
    scratch: Vec<u8>,
}

/// One item taken from a raw ring.
#[derive(Debug)]
pub enum RawItem<'a> {
    /// A whole message.
    Message {
        /// Connection it arrived on.
        conn: ConnectionId,
        /// Receive time, ns since the UNIX epoch.
        recv_ts: u64,
        /// The payload (text or binary, as received).
        payload: &'a [u8],
    },
    /// Messages were dropped because the ring was full.
    Overflow {
        /// How many.
        dropped: u64,
    },
}

/// Creates a raw ring of `capacity` bytes. The largest message it can carry is
/// `capacity - 16` bytes; size it for bursts of your largest messages.
pub fn raw_channel(capacity: usize) -> (RawProducer, RawConsumer) {
    let (p, c) = rtrb::RingBuffer::new(capacity.max(2 * HEADER));
    (
        RawProducer {
            inner: p,
            pending_dropped: 0,
            dropped_total: 0,
        },
        RawConsumer {
            inner: c,
            scratch: Vec::new(),
        },
    )
}

fn header(len: u32, conn: u32, ts: u64) -> [u8; HEADER] {
    let mut h = [0u8; HEADER];
    h[..4].copy_from_slice(&len.to_le_bytes());
    h[4..8].copy_from_slice(&conn.to_le_bytes());
    h[8..].copy_from_slice(&ts.to_le_bytes());
    h
}

impl RawProducer {
    /// Copies one message into the ring, or drops and counts it. Never blocks or allocates.
    #[inline]
    pub fn push(&mut self, conn: ConnectionId, recv_ts: u64, payload: &[u8]) -> bool {
        let Ok(len) = u32::try_from(payload.len()) else {
            self.drop_one();
            return false;
        };
        let overflow = if self.pending_dropped > 0 { HEADER } else { 0 };
        if len == OVERFLOW_MARK || self.inner.slots() < overflow + HEADER + payload.len() {
            self.drop_one();
            return false;
        }
        // The room was checked above and only this thread writes, so every push fits.
        if overflow > 0 {
            let _ = self
                .inner
                .push_entire_slice(&header(OVERFLOW_MARK, 0, self.pending_dropped));
            self.pending_dropped = 0;
        }
        // Header and payload are two commits; the consumer takes a record only once it is
        // whole (see `pop_with`).
        let _ = self.inner.push_entire_slice(&header(len, conn.0, recv_ts));
        let _ = self.inner.push_entire_slice(payload);
        true
    }

    #[cold]
    fn drop_one(&mut self) {
        self.pending_dropped += 1;
        self.dropped_total += 1;
    }

    /// Messages dropped since the ring was created.
    pub fn dropped(&self) -> u64 {
        self.dropped_total
    }
}

impl RawConsumer {
    /// Lends the next item to `f`, if a whole record is available. Allocation happens only
    /// the first time a message wraps around the ring end (the scratch buffer then stays).
    pub fn pop_with<R>(&mut self, f: impl FnOnce(RawItem<'_>) -> R) -> Option<R> {
        let mut h = [0u8; HEADER];
        {
            let chunk = self.inner.read_chunk(HEADER).ok()?;
            let (a, b) = chunk.as_slices();
            h[..a.len()].copy_from_slice(a);
            h[a.len()..].copy_from_slice(b);
            // Dropped without commit: the header stays until the whole record is read.
        }
        let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
        let conn = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
        let ts = u64::from_le_bytes([h[8], h[9], h[10], h[11], h[12], h[13], h[14], h[15]]);
        if len == OVERFLOW_MARK {
            self.inner.read_chunk(HEADER).ok()?.commit_all();
            return Some(f(RawItem::Overflow { dropped: ts }));
        }
        let total = HEADER + len as usize;
        let chunk = self.inner.read_chunk(total).ok()?;
        let (a, b) = chunk.as_slices();
        let r = if a.len() >= total {
            f(RawItem::Message {
                conn: ConnectionId(conn),
                recv_ts: ts,
                payload: &a[HEADER..total],
            })
        } else {
            self.scratch.clear();
            self.scratch.extend_from_slice(a);
            self.scratch.extend_from_slice(b);
            f(RawItem::Message {
                conn: ConnectionId(conn),
                recv_ts: ts,
                payload: &self.scratch[HEADER..total],
            })
        };
        chunk.commit_all();
        Some(r)
    }

    /// Whether the producer was dropped (engine shut down).
    pub fn is_abandoned(&self) -> bool {
        self.inner.is_abandoned()
    }
}

/// A [`WsHandler`] that forwards every data message, whole, into a raw ring.
pub struct RawForwarder {
    ring: RawProducer,
    subscribe: Vec<Vec<u8>>,
}

impl RawForwarder {
    /// Forwards into `ring`; `subscribe` frames (text) are sent after every (re)connect.
    pub fn new(ring: RawProducer, subscribe: Vec<Vec<u8>>) -> RawForwarder {
        RawForwarder { ring, subscribe }
    }
}

impl WsHandler for RawForwarder {
    fn on_connect(&mut self, cx: &mut Context<'_>) {
        for frame in &self.subscribe {
            // A full outbox right after connect means the limit is misconfigured; the
            // resend on the next reconnect will try again.
            let _ = cx.send_text(frame);
        }
    }

    #[inline]
    fn on_message(&mut self, msg: Message<'_>, cx: &mut Context<'_>) {
        self.ring.push(cx.connection(), cx.now(), msg.payload());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_wrap_and_overflow_is_counted_in_band() {
        let (mut p, mut c) = raw_channel(100);
        let mut seen = Vec::new();
        for round in 0..50u64 {
            let msg = vec![round as u8; (round % 30) as usize];
            assert!(p.push(ConnectionId(7), round, &msg));
            c.pop_with(|item| match item {
                RawItem::Message {
                    conn,
                    recv_ts,
                    payload,
                } => {
                    assert_eq!(conn, ConnectionId(7));
                    assert_eq!(recv_ts, round);
                    assert_eq!(payload, &msg[..]);
                    seen.push(recv_ts);
                }
                RawItem::Overflow { .. } => panic!("no overflow expected"),
            })
            .unwrap();
        }
        assert_eq!(seen.len(), 50);
        // Fill: 3 × (16+20) = 108 > 100, so the third is dropped, and the fourth too.
        assert!(p.push(ConnectionId(1), 1, &[1; 20]));
        assert!(p.push(ConnectionId(1), 2, &[2; 20]));
        assert!(!p.push(ConnectionId(1), 3, &[3; 20]));
        assert!(!p.push(ConnectionId(1), 4, &[4; 20]));
        let ts = |c: &mut RawConsumer| {
            c.pop_with(|i| match i {
                RawItem::Message { recv_ts, .. } => recv_ts,
                RawItem::Overflow { dropped } => 1000 + dropped,
            })
        };
        assert_eq!(ts(&mut c), Some(1));
        assert_eq!(ts(&mut c), Some(2));
        assert_eq!(ts(&mut c), None);
        assert!(p.push(ConnectionId(1), 5, &[5; 20]));
        assert_eq!(ts(&mut c), Some(1002));
        assert_eq!(ts(&mut c), Some(5));
        assert_eq!(p.dropped(), 2);
    }
}
