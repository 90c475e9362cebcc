//! The symbol → instrument table the Binance decoders share (the tape decoder and the hot
//! scanner), filled at subscribe time.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use tickwire_engine::{InstrumentId, Registry};

/// FNV-1a: symbols are short, and SipHash's DoS resistance buys nothing for a table fixed at
/// subscribe time.
#[derive(Default)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

/// `a == b` for slices of one length, without a `memcmp` call for the usual symbol
/// lengths: two overlapping words compared instead.
#[inline(always)]
fn same(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    match (n, b.len() == n) {
        (_, false) => false,
        (4..=7, true) => word4(a, 0) == word4(b, 0) && word4(a, n - 4) == word4(b, n - 4),
        (8..=16, true) => word8(a, 0) == word8(b, 0) && word8(a, n - 8) == word8(b, n - 8),
        _ => a == b,
    }
}

#[inline(always)]
fn word4(x: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&x[at..at + 4]);
    u32::from_le_bytes(w)
}

#[inline(always)]
fn word8(x: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&x[at..at + 8]);
    u64::from_le_bytes(w)
}

/// Symbol → instrument table, filled at subscribe time.
#[derive(Clone, Debug)]
pub struct Symbols {
    venue: &'static str,
    map: HashMap<Box<[u8]>, InstrumentId, BuildHasherDefault<Fnv>>,
    /// Interns unknown symbols on first sight (stateless tools only: it allocates).
    intern: Option<Registry>,
    /// The last symbol looked up (most feeds carry one or a few): compared before hashing.
    last: ([u8; 24], usize, InstrumentId),
}

impl Symbols {
    /// An empty table for `venue`.
    pub fn new(venue: &'static str) -> Symbols {
        Symbols {
            venue,
            map: HashMap::default(),
            intern: None,
            last: ([0; 24], usize::MAX, InstrumentId::NONE),
        }
    }

    /// A table that interns every symbol it sees into `registry` (for `tickwire decode`).
    pub fn interning(venue: &'static str, registry: Registry) -> Symbols {
        Symbols {
            intern: Some(registry),
            ..Symbols::new(venue)
        }
    }

    /// Adds `symbol` (upper case), interning it in `registry`.
    pub fn add(&mut self, registry: &Registry, symbol: &str) -> InstrumentId {
        let id = registry.intern(self.venue, symbol);
        self.map.insert(symbol.as_bytes().into(), id);
        id
    }

    /// The instrument of `symbol`.
    #[inline(always)]
    pub fn get(&mut self, symbol: &[u8]) -> Option<InstrumentId> {
        match self.last_hit(symbol) {
            Some(id) => Some(id),
            None => self.get_slow(symbol),
        }
    }

    #[cold]
    #[inline(never)]
    fn get_slow(&mut self, symbol: &[u8]) -> Option<InstrumentId> {
        if let Some(id) = self.lookup(symbol) {
            return Some(id);
        }
        let registry = self.intern.as_ref()?;
        let text = std::str::from_utf8(symbol).ok()?;
        let id = registry.intern(self.venue, text);
        self.map.insert(symbol.into(), id);
        Some(id)
    }

    /// The instrument of `symbol` if the table holds it (never interns).
    #[inline(always)]
    pub(super) fn known(&mut self, symbol: &[u8]) -> Option<InstrumentId> {
        match self.last_hit(symbol) {
            Some(id) => Some(id),
            None => self.lookup(symbol),
        }
    }

    /// The last symbol looked up, if it is `symbol`: inlined where messages are decoded, as
    /// most feeds carry one or a few symbols.
    #[inline(always)]
    fn last_hit(&self, symbol: &[u8]) -> Option<InstrumentId> {
        let (key, len, id) = &self.last;
        (*len == symbol.len() && same(&key[..*len], symbol)).then_some(*id)
    }

    /// The hash lookup, remembering a hit as the last symbol.
    #[inline(never)]
    fn lookup(&mut self, symbol: &[u8]) -> Option<InstrumentId> {
        let id = *self.map.get(symbol)?;
        if symbol.len() <= 24 {
            let mut key = [0u8; 24];
            key[..symbol.len()].copy_from_slice(symbol);
            self.last = (key, symbol.len(), id);
        }
        Some(id)
    }

    /// Every instrument in the table.
    pub fn instruments(&self) -> Vec<InstrumentId> {
        self.map.values().copied().collect()
    }
}
