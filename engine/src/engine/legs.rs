//! Legs: one logical connection over several sockets. The one explanation of the
//! machinery, and the loop's side of it.
//!
//! A *leg* is one socket of a logical connection (one [`ConnectionId`], one handler, one
//! set of consumer routes). A connection starts with one leg; its handler asks for more
//! (`Context::open_leg`, `Context::close_leg`) or its configuration names further lines
//! (`ConnectionConfig::lines`). Two features stand on it:
//!
//! * **make-before-break rotation** ([`crate::adapter::RotatingFeed`], with the
//!   hand-over's watermarks and standby log in `adapter::feed::handover`, and Binance's
//!   lifetimes in `tickwire_feeds::binance::rotation`): a second leg subscribes while the
//!   first still publishes, takes over exactly once, and the old leg closes;
//! * **redundant lines** ([`crate::adapter::ArbitratedFeed`], `adapter::lines` and
//!   `adapter::feed::lines`, failover in `adapter::lines::failover` and
//!   `adapter::feed::failover`): every line is a leg for good, each update published once.
//!
//! Each leg is a [`Connection`] of its own in the loop's table (its own socket, session,
//! backoff, timers), all with the same id. One of them is the *primary*: it holds the
//! handler between callbacks and speaks in-band for the connection; a callback on another
//! leg borrows the handler from it for the call (`IoLoop::with_lent_handler`: two pointer
//! swaps) and the handler tells legs apart by `Context::leg`. The leg's own flags
//! (`Connection::leg`, `primary`, `grouped`, `leg_requests`, `remove_when_closed`) say
//! where it stands; the loop keeps the slots of each connection's legs (`IoLoop::groups`).
//!
//! Here: after a callback, the legs it asked to open or close (`IoLoop::after_dispatch`);
//! opening one (`IoLoop::open_leg_to`: same endpoint, or another line's); closing one for
//! good, another becoming primary first (`IoLoop::close_leg`, `IoLoop::promote`: the oldest
//! leg in session); forgetting a closed leg and telling the primary (`IoLoop::reap`, the
//! handler's `on_leg_closed`); and commands for a connection reaching every leg
//! (`IoLoop::on_legs`). At most [`MAX_LEGS`] legs a connection.

use super::*;

impl IoLoop {
    /// [`IoLoop::with_conn`] for a leg that is not the primary: the primary lends it the
    /// handler for the duration of `f` (two pointer swaps, no allocation).
    #[cold]
    #[inline(never)]
    pub(super) fn with_lent_handler(
        &mut self,
        slot: usize,
        f: impl FnOnce(&mut Connection, &mio::Registry, &mut Core),
    ) {
        let Some(Some(conn)) = self.conns.get(slot) else {
            return;
        };
        let home = self.ids.get(&conn.id).copied().filter(|&h| h != slot);
        let lent = home.and_then(|h| match self.conns.get_mut(h) {
            Some(Some(p)) => Some(std::mem::replace(&mut p.handler, crate::connection::lent())),
            _ => None,
        });
        let Some(Some(conn)) = self.conns.get_mut(slot) else {
            return;
        };
        let placeholder = lent.map(|h| std::mem::replace(&mut conn.handler, h));
        f(conn, self.poll.registry(), &mut self.core);
        self.core.deadline.note(conn.timers.earliest());
        let check = conn.leg_requests.is_some()
            || (conn.state() == State::Closed && (conn.remove_when_closed || conn.grouped));
        if let (Some(placeholder), Some(home)) = (placeholder, home) {
            let h = std::mem::replace(&mut conn.handler, placeholder);
            if let Some(Some(p)) = self.conns.get_mut(home) {
                p.handler = h;
            }
        }
        if check {
            self.after_dispatch(slot);
        }
    }

    /// Leg requests and closed legs of the connection in `slot`, after a callback.
    #[cold]
    #[inline(never)]
    pub(super) fn after_dispatch(&mut self, slot: usize) {
        let now = clock::now_ns();
        if let Some(Some(c)) = self.conns.get_mut(slot) {
            if let Some(req) = c.leg_requests.take() {
                let id = c.id;
                if req.poisoned {
                    // The handler panicked on this leg; the other legs shared it.
                    for other in self.legs_of(id) {
                        if other != slot && self.conn(other).is_some_and(|c| c.id == id) {
                            self.with_conn(other, |c, _, core| c.stop_poisoned(now, core));
                        }
                    }
                    self.reap(slot, now);
                    return;
                }
                for leg in req.close.into_iter().flatten() {
                    self.close_leg(id, leg, now);
                }
                if req.open {
                    self.open_leg(id, now);
                }
            }
        }
        self.reap(slot, now);
    }

    /// The slots of every leg of connection `id` (the primary alone for a single leg).
    pub(super) fn legs_of(&self, id: ConnectionId) -> Vec<usize> {
        match self.groups.get(&id) {
            Some(g) => g.clone(),
            None => self.ids.get(&id).map(|&s| vec![s]).unwrap_or_default(),
        }
    }

    /// Opens a new leg of connection `id` (the handler asked with `Context::open_leg`).
    pub(super) fn open_leg(&mut self, id: ConnectionId, now: u64) {
        self.open_leg_to(id, None, now);
    }

    /// [`IoLoop::open_leg`], to another line's endpoint when `line` is given.
    pub(super) fn open_leg_to(&mut self, id: ConnectionId, line: Option<Prepared>, now: u64) {
        let legs = self.legs_of(id);
        let Some(&primary) = self.ids.get(&id) else {
            return;
        };
        let Some(p) = self.conn(primary) else {
            return;
        };
        let leg = Leg(p.next_leg);
        for &s in &legs {
            if let Some(c) = self.conn_mut(s) {
                c.next_leg = leg.0.saturating_add(1);
            }
        }
        if legs.len() >= MAX_LEGS {
            // Refused: the handler hears of it as a leg that closed at once.
            self.with_conn(primary, |c, _, core| {
                c.leg_closed(leg, Reason::Connect, now, core)
            });
            return;
        }
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.conns.push(None);
                self.conns.len() - 1
            }
        };
        let Some(p) = self.conn(primary) else {
            self.free.push(slot);
            return;
        };
        let conn = match line {
            Some(prepared) => p.new_line(slot, leg, prepared),
            None => p.new_leg(slot, leg),
        };
        self.conns[slot] = Some(Box::new(conn));
        for &s in &legs {
            if let Some(c) = self.conn_mut(s) {
                c.grouped = true;
            }
        }
        let mut group = legs;
        group.push(slot);
        self.groups.insert(id, group);
        self.core.pollers.reserve(self.conns.len());
        self.polling.reserve(self.conns.len());
        self.core.paused_reads.reserve(self.conns.len());
        self.resuming.reserve(self.conns.len());
        self.with_conn(slot, |c, reg, core| c.start(now, reg, core));
    }

    /// Closes leg `leg` of connection `id` for good (the handler asked with
    /// `Context::close_leg`); another leg becomes primary if it was.
    pub(super) fn close_leg(&mut self, id: ConnectionId, leg: Leg, now: u64) {
        let legs = self.legs_of(id);
        let Some(&slot) = legs
            .iter()
            .find(|&&s| self.conn(s).is_some_and(|c| c.leg == leg && c.id == id))
        else {
            return;
        };
        if legs.len() > 1 && self.conn(slot).is_some_and(|c| c.primary) {
            let others: Vec<usize> = legs.iter().copied().filter(|&s| s != slot).collect();
            if let Some(to) = self.pick_primary(&others) {
                self.promote(id, slot, to);
            }
        }
        let only = legs.len() == 1;
        self.with_conn(slot, |c, _, core| {
            if !only {
                c.remove_when_closed = true;
            }
            c.close(1000, now, core);
        });
    }

    /// The leg among `slots` to make primary: the oldest one in session, else the oldest.
    pub(super) fn pick_primary(&self, slots: &[usize]) -> Option<usize> {
        let key = |s: &usize| self.conn(*s).map(|c| (!c.in_session(), c.leg));
        slots
            .iter()
            .filter(|s| self.conn(**s).is_some())
            .min_by_key(|s| key(s))
            .copied()
    }

    /// Moves the primary role (and the handler) of connection `id` from `from` to `to`.
    pub(super) fn promote(&mut self, id: ConnectionId, from: usize, to: usize) {
        let Some(h) = self
            .conn_mut(from)
            .map(|c| std::mem::replace(&mut c.handler, crate::connection::lent()))
        else {
            return;
        };
        if let Some(c) = self.conn_mut(from) {
            c.primary = false;
        }
        match self.conn_mut(to) {
            Some(c) => {
                c.handler = h;
                c.primary = true;
                self.ids.insert(id, to);
            }
            None => {
                // Cannot happen (callers pick a live slot); keep the handler where it was.
                if let Some(c) = self.conn_mut(from) {
                    c.handler = h;
                    c.primary = true;
                }
            }
        }
    }

    /// Frees the connection in `slot` if it has closed and is to be forgotten: removed by
    /// the user, or one leg of several (the survivors go on; the primary hears of it).
    pub(super) fn reap(&mut self, slot: usize, now: u64) {
        let Some(c) = self.conn(slot) else {
            return;
        };
        if c.state() != State::Closed {
            return;
        }
        let (id, leg, reason, primary) = (c.id, c.leg, c.ended, c.primary);
        if !c.grouped {
            if c.remove_when_closed {
                self.conns[slot] = None;
                if self.ids.get(&id) == Some(&slot) {
                    self.ids.remove(&id);
                }
                self.free.push(slot);
            }
            return;
        }
        let others: Vec<usize> = self
            .groups
            .get(&id)
            .map(|g| g.iter().copied().filter(|&s| s != slot).collect())
            .unwrap_or_default();
        if primary {
            if let Some(to) = self.pick_primary(&others) {
                self.promote(id, slot, to);
            }
        }
        self.conns[slot] = None;
        self.free.push(slot);
        if self.ids.get(&id) == Some(&slot) {
            self.ids.remove(&id);
        }
        match others.as_slice() {
            [] => {
                self.groups.remove(&id);
            }
            [only] => {
                self.groups.remove(&id);
                if let Some(c) = self.conn_mut(*only) {
                    c.grouped = false;
                }
            }
            _ => {
                self.groups.insert(id, others);
            }
        }
        if let Some(&p) = self.ids.get(&id) {
            self.with_conn(p, |c, _, core| c.leg_closed(leg, reason, now, core));
        }
    }

    /// Runs `f` on every leg of connection `id` (the control path: commands that concern
    /// the logical connection).
    pub(super) fn on_legs(
        &mut self,
        id: ConnectionId,
        mut f: impl FnMut(&mut Connection, &mio::Registry, &mut Core),
    ) {
        let legs = self.legs_of(id);
        if legs.is_empty() {
            self.core.stats.unknown_connection += 1;
        }
        for slot in legs {
            // A callback may have closed and reused a slot meanwhile.
            if self.conn(slot).is_some_and(|c| c.id == id) {
                self.with_conn(slot, &mut f);
            }
        }
    }
}
