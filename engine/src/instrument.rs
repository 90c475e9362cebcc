//! Instruments interned to small integer ids at subscribe time.
//!
//! Events carry an [`InstrumentId`] instead of a symbol string; the [`Registry`] maps ids back
//! to venue and symbol for consumers that print or route by name. Interning happens on the
//! control path (subscribe), never on the I/O thread's hot path.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// An interned (venue, symbol) pair.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InstrumentId(pub u32);

impl InstrumentId {
    /// No instrument (connection-level status events).
    pub const NONE: InstrumentId = InstrumentId(u32::MAX);

    /// The id as an index into per-instrument tables.
    #[inline]
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

/// A venue and symbol, as the registry stores them.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct InstrumentName {
    /// Venue name as printed (`binance`, `binance-usdm`).
    pub venue: Arc<str>,
    /// Venue symbol in the venue's canonical case (`BTCUSDT`).
    pub symbol: Arc<str>,
}

/// Maps instruments to ids and back. Cheap to clone (shared).
#[derive(Clone, Debug, Default)]
pub struct Registry {
    inner: Arc<RwLock<Names>>,
}

/// The names by id, and an index from venue and symbol to id: interning a whole venue's
/// symbol list (thousands) stays O(1) a symbol instead of a scan of all before it.
#[derive(Debug, Default)]
struct Names {
    by_id: Vec<InstrumentName>,
    ids: HashMap<Arc<str>, HashMap<Arc<str>, InstrumentId>>,
}

impl Names {
    fn find(&self, venue: &str, symbol: &str) -> Option<InstrumentId> {
        self.ids.get(venue)?.get(symbol).copied()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Registry {
        Registry::default()
    }

    /// The id of `(venue, symbol)`, creating it if new.
    pub fn intern(&self, venue: &str, symbol: &str) -> InstrumentId {
        if let Some(id) = self.lookup(venue, symbol) {
            return id;
        }
        let mut names = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if let Some(id) = names.find(venue, symbol) {
            return id;
        }
        let name = InstrumentName {
            venue: venue.into(),
            symbol: symbol.into(),
        };
        let id = InstrumentId(names.by_id.len() as u32);
        names
            .ids
            .entry(name.venue.clone())
            .or_default()
            .insert(name.symbol.clone(), id);
        names.by_id.push(name);
        id
    }

    /// The id of `(venue, symbol)` if it was interned.
    pub fn lookup(&self, venue: &str, symbol: &str) -> Option<InstrumentId> {
        let names = self.inner.read().unwrap_or_else(|e| e.into_inner());
        names.find(venue, symbol)
    }

    /// Venue and symbol of `id`.
    pub fn name(&self, id: InstrumentId) -> Option<InstrumentName> {
        let names = self.inner.read().unwrap_or_else(|e| e.into_inner());
        names.by_id.get(id.index()).cloned()
    }

    /// Number of interned instruments.
    pub fn len(&self) -> usize {
        self.inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .by_id
            .len()
    }

    /// Whether nothing was interned yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interns_once_per_venue_and_symbol() {
        let r = Registry::new();
        let a = r.intern("binance", "BTCUSDT");
        let b = r.intern("binance-usdm", "BTCUSDT");
        assert_ne!(a, b);
        assert_eq!(r.intern("binance", "BTCUSDT"), a);
        assert_eq!(r.lookup("binance-usdm", "BTCUSDT"), Some(b));
        assert_eq!(r.lookup("binance", "ETHUSDT"), None);
        assert_eq!(r.lookup("nowhere", "BTCUSDT"), None);
        // Ids are dense, in interning order; names come back.
        let ids: Vec<_> = (0..1000)
            .map(|i| r.intern("binance", &format!("S{i}")))
            .collect();
        assert!(ids.iter().enumerate().all(|(i, id)| id.index() == i + 2));
        assert_eq!(r.len(), 1002);
        let n = r.name(ids[500]).unwrap();
        assert_eq!((&*n.venue, &*n.symbol), ("binance", "S500"));
        assert_eq!(r.lookup("binance", "S999"), Some(ids[999]));
    }
}
