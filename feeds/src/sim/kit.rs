//! Small parts most [`super::SimFeed`]s need: armed content faults with their counts, and
//! the queue of snapshots a subscribe promises before the tape goes on.

use std::collections::VecDeque;

use super::{FaultCounts, SimFault};

/// Content faults armed and made. `arm` when injected; the send path asks `fire` at the
/// point where the fault applies (e.g. `fire(SimFault::Gap)` on the next diff).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ContentFaults {
    armed: [u32; 4],
    made: FaultCounts,
}

fn slot(kind: SimFault) -> usize {
    match kind {
        SimFault::Gap => 0,
        SimFault::Malformed => 1,
        SimFault::Checksum => 2,
        SimFault::Reset => 3,
    }
}

impl ContentFaults {
    /// Arms one fault of `kind`.
    pub fn arm(&mut self, kind: SimFault) {
        self.armed[slot(kind)] = self.armed[slot(kind)].saturating_add(1);
    }

    /// True when a fault of `kind` is armed.
    #[inline]
    pub fn armed(&self, kind: SimFault) -> bool {
        self.armed[slot(kind)] > 0
    }

    /// Takes one armed fault of `kind` and counts it made; false when none is armed.
    #[inline]
    pub fn fire(&mut self, kind: SimFault) -> bool {
        let a = &mut self.armed[slot(kind)];
        if *a == 0 {
            return false;
        }
        *a -= 1;
        let m = &mut self.made;
        match kind {
            SimFault::Gap => m.gaps += 1,
            SimFault::Malformed => m.malformed += 1,
            SimFault::Checksum => m.checksums += 1,
            SimFault::Reset => m.resets += 1,
        }
        true
    }

    /// Faults made so far.
    pub fn made(&self) -> FaultCounts {
        self.made
    }
}

/// Snapshots owed to the client: `(symbol index, venue channel tag)` in order. A subscribe
/// pushes; `next_message` pops and renders the book as it stands at the feed's cursor
/// before walking the tape. Bounded: a push past `capacity` is refused (the caller rejects
/// the subscribe), so the send path never grows it.
#[derive(Clone, Debug)]
pub struct SnapshotQueue {
    queue: VecDeque<(usize, u8)>,
    capacity: usize,
}

impl SnapshotQueue {
    /// An empty queue holding at most `capacity` snapshots.
    pub fn new(capacity: usize) -> Self {
        SnapshotQueue {
            queue: VecDeque::with_capacity(capacity),
            capacity,
        }
    }

    /// Queues a snapshot (a repeated `(sym, tag)` already queued is not queued twice);
    /// false when full.
    pub fn push(&mut self, sym: usize, tag: u8) -> bool {
        if self.queue.contains(&(sym, tag)) {
            return true;
        }
        if self.queue.len() >= self.capacity {
            return false;
        }
        self.queue.push_back((sym, tag));
        true
    }

    /// Drops queued snapshots of `(sym, tag)` (an unsubscribe before they were sent).
    pub fn cancel(&mut self, sym: usize, tag: u8) {
        self.queue.retain(|&q| q != (sym, tag));
    }

    /// The next snapshot to send.
    #[inline]
    pub fn pop(&mut self) -> Option<(usize, u8)> {
        self.queue.pop_front()
    }

    /// True when nothing is owed.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_fire_once_per_arm_and_are_counted_by_kind() {
        let mut f = ContentFaults::default();
        assert!(!f.fire(SimFault::Gap));
        f.arm(SimFault::Gap);
        f.arm(SimFault::Gap);
        f.arm(SimFault::Checksum);
        assert!(f.armed(SimFault::Gap) && !f.armed(SimFault::Reset));
        assert!(f.fire(SimFault::Gap) && f.fire(SimFault::Gap) && !f.fire(SimFault::Gap));
        assert!(f.fire(SimFault::Checksum));
        assert_eq!(
            f.made(),
            FaultCounts {
                gaps: 2,
                checksums: 1,
                ..FaultCounts::default()
            }
        );
    }

    #[test]
    fn snapshots_queue_in_order_once_and_within_capacity() {
        let mut q = SnapshotQueue::new(2);
        assert!(q.push(1, 0) && q.push(1, 0) && q.push(0, 3));
        assert!(!q.push(2, 0), "a third distinct snapshot is over capacity");
        q.cancel(1, 0);
        assert_eq!(q.pop(), Some((0, 3)));
        assert!(q.pop().is_none() && q.is_empty());
    }
}
