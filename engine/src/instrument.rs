//! Instruments interned to small integer ids at subscribe time.
//!
//! Events carry an [`InstrumentId`] instead of a symbol string; the [`Registry`] maps ids back
//! to venue and symbol for consumers that print or route by name. Interning happens on the
//! control path (subscribe), never on the I/O thread's hot path.

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
    inner: Arc<RwLock<Vec<InstrumentName>>>,
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
        if let Some(i) = names
            .iter()
            .position(|n| &*n.venue == venue && &*n.symbol == symbol)
        {
            return InstrumentId(i as u32);
        }
        names.push(InstrumentName {
            venue: venue.into(),
            symbol: symbol.into(),
        });
        InstrumentId((names.len() - 1) as u32)
    }

    /// The id of `(venue, symbol)` if it was interned.
    pub fn lookup(&self, venue: &str, symbol: &str) -> Option<InstrumentId> {
        let names = self.inner.read().unwrap_or_else(|e| e.into_inner());
        names
            .iter()
            .position(|n| &*n.venue == venue && &*n.symbol == symbol)
            .map(|i| InstrumentId(i as u32))
    }

    /// Venue and symbol of `id`.
    pub fn name(&self, id: InstrumentId) -> Option<InstrumentName> {
        let names = self.inner.read().unwrap_or_else(|e| e.into_inner());
        names.get(id.index()).cloned()
    }

    /// Number of interned instruments.
    pub fn len(&self) -> usize {
        self.inner.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether nothing was interned yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
