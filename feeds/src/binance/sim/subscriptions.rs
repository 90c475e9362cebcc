//! A connection's subscriptions: a bit mask per symbol for the send path, plus the
//! subscription order for `LIST_SUBSCRIPTIONS`.

use super::Venue;
use super::stream::{Route, StreamError, StreamKind, parse_stream};

/// The most streams one connection may hold (the venues' documented limit).
pub const MAX_STREAMS: usize = 1024;

/// A connection's subscribed streams.
#[derive(Clone, Debug, Default)]
pub struct Subscriptions {
    masks: Vec<u8>,
    order: Vec<(usize, StreamKind)>,
}

impl Subscriptions {
    /// No subscriptions, for a venue of `symbols` symbols.
    pub fn new(symbols: usize) -> Self {
        Subscriptions {
            masks: vec![0; symbols],
            order: Vec::new(),
        }
    }

    /// The stream bits subscribed for a symbol (see [`StreamKind::bit`]).
    #[inline]
    pub fn mask(&self, sym: usize) -> u8 {
        self.masks.get(sym).copied().unwrap_or(0)
    }

    /// Number of subscribed streams.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// True when nothing is subscribed.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Subscribed `(symbol, kind)` pairs in subscription order.
    pub fn iter(&self) -> impl Iterator<Item = (usize, StreamKind)> + '_ {
        self.order.iter().copied()
    }

    /// Adds one stream; false if it was already there.
    pub fn add(&mut self, sym: usize, kind: StreamKind) -> bool {
        if sym >= self.masks.len() || self.masks[sym] & kind.bit() != 0 {
            return false;
        }
        self.masks[sym] |= kind.bit();
        self.order.push((sym, kind));
        true
    }

    /// Removes one stream; false if it was not there.
    pub fn remove(&mut self, sym: usize, kind: StreamKind) -> bool {
        if self.mask(sym) & kind.bit() == 0 {
            return false;
        }
        self.masks[sym] &= !kind.bit();
        self.order.retain(|&(s, k)| (s, k) != (sym, kind));
        true
    }

    /// Subscribes (or unsubscribes) every named stream, or none of them if any name is
    /// refused.
    pub fn apply<'a>(
        &mut self,
        venue: &Venue,
        route: Route,
        names: &[&'a str],
        subscribe: bool,
    ) -> Result<(), (StreamError, &'a str)> {
        let mut added = 0;
        for &name in names {
            let (sym, kind) = parse_stream(venue, route, name).map_err(|e| (e, name))?;
            if subscribe && self.mask(sym) & kind.bit() == 0 {
                added += 1;
            }
            if subscribe && self.len() + added > MAX_STREAMS {
                return Err((StreamError::TooMany, name));
            }
        }
        for &name in names {
            if let Ok((sym, kind)) = parse_stream(venue, route, name) {
                if subscribe {
                    self.add(sym, kind);
                } else {
                    self.remove(sym, kind);
                }
            }
        }
        Ok(())
    }
}
