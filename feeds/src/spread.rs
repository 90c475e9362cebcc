//! Spreading one large universe over several engines, each on a core of its own.
//!
//! One engine is one I/O thread: every socket, decoder and book of its feeds is handled on
//! that thread, so its core bounds the messages a second it can take. A universe that
//! needs more is split into **shards**, one per engine; the engines share nothing on the
//! hot path (each has its own connections, books and consumer rings), so capacity grows
//! with the cores given to them.
//!
//! [`shards`] splits a [`LaunchSpec`] into one spec per engine:
//!
//! * every symbol goes to exactly one shard, with all its channels (its book, trades and
//!   BBO stay on one I/O thread, in order);
//! * shards are balanced by a weight per symbol (its expected message rate: busy symbols
//!   spread first, each to the lightest shard so far), or by count with `|_| 1`;
//! * the split depends only on the symbols and weights, never on their order or on the
//!   machine, so separate processes given the same list agree on it
//!   ([`shard_of`] plans one shard alone: `tickwire run --shard 2/4`).
//!
//! **What the shards share: the venue's per-IP limits.** Each shard's spec carries its
//! [`Shard`], and the launchers divide what one IP may do among the shards:
//!
//! * connection starts are interleaved (shard `k`'s `i`-th connection takes slot
//!   `i × count + k` of the venue's connect pacing: OKX 3 a second, Coinbase 8 a second);
//! * Coinbase's 8 unauthenticated messages a second are shared: each shard's connections
//!   send `count` times slower;
//! * REST snapshot weight: shards in one process share one scheduler per venue endpoint
//!   ([`crate::rest`]), which keeps to the whole budget; shards in processes of their own
//!   ([`Shard::own_process`]) each keep to `1 / count` of it
//!   ([`RestLimits::processes`](crate::rest::RestLimits::processes)).
//!
//! All engines of a process should intern into one [`tickwire_engine::Registry`]: instrument
//! ids then stay unique across shards, so a consumer reading several engines' rings (or a
//! NATS subscriber reading them all) never confuses two books.
//!
//! ```no_run
//! use tickwire_engine::{Engine, EngineConfig, Profile, Registry};
//! use tickwire_feeds::launch::LaunchSpec;
//! use tickwire_feeds::{spread, venues};
//!
//! let symbols: Vec<String> = (0..1000).map(|i| format!("S{i:03}USDT")).collect();
//! let spec = LaunchSpec::new(&symbols, &["trade", "book", "bbo"]);
//! let venue = venues::find("binance").unwrap();
//! let registry = Registry::new(); // one for every engine
//! let cores = [2, 3, 4, 5];
//! let mut engines = Vec::new();
//! for (shard, core) in spread::shards(&spec, cores.len(), |_| 1).unwrap().iter().zip(cores) {
//!     let mut config = EngineConfig::profile(Profile::LowLatency);
//!     config.pin_core = Some(core);
//!     let mut builder = Engine::builder(config);
//!     let (consumer, ring) = builder.consumer(1 << 16);
//!     let engine = builder.start().unwrap();
//!     venue.launch(shard, &registry).unwrap().start(&engine.handle(), &registry, &[consumer]).unwrap();
//!     engines.push((engine, ring)); // a consumer thread per ring, on cores of their own
//! }
//! ```

use std::collections::HashSet;

use crate::launch::{LaunchError, LaunchSpec};

/// A launch's place among the shards of one universe ([`LaunchSpec::shard`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Shard {
    /// This shard, from 0.
    pub index: usize,
    /// How many shards spread the universe (1: not spread).
    pub count: usize,
    /// The shards run in processes of their own (each keeps its own REST scheduler, so
    /// each keeps to `1 / count` of the venue's REST budget); `false`: one process, whose
    /// shards share one scheduler and the whole budget.
    pub own_process: bool,
}

impl Default for Shard {
    fn default() -> Shard {
        Shard::WHOLE
    }
}

impl Shard {
    /// The whole universe on one engine.
    pub const WHOLE: Shard = Shard {
        index: 0,
        count: 1,
        own_process: false,
    };

    /// Shard `index` of `count`; `None` unless `index < count`.
    pub fn new(index: usize, count: usize, own_process: bool) -> Option<Shard> {
        (index < count).then_some(Shard {
            index,
            count,
            own_process,
        })
    }

    /// Reads `I/N` (shard `I` of `N`, from 0: `0/4` … `3/4`), as `tickwire run --shard`
    /// takes it; such a shard runs in a process of its own.
    pub fn parse(text: &str) -> Result<Shard, String> {
        let bad = || format!("bad shard '{text}': give I/N with 0 <= I < N, e.g. 0/4");
        let (i, n) = text.trim().split_once('/').ok_or_else(bad)?;
        let i: usize = i.trim().parse().map_err(|_| bad())?;
        let n: usize = n.trim().parse().map_err(|_| bad())?;
        Shard::new(i, n, true).ok_or_else(bad)
    }

    /// The slot of this shard's `i`-th connection in pacing shared by every shard: slots
    /// `0, 1, 2 …` are taken by shard 0's first connection, shard 1's first, … so the
    /// shards' connects interleave instead of all starting at once.
    pub fn slot(&self, i: usize) -> usize {
        i.saturating_mul(self.count.max(1))
            .saturating_add(self.index)
    }

    /// Processes sharing this IP's REST budget (1 when the shards share a process).
    pub fn processes(&self) -> u32 {
        if self.own_process {
            u32::try_from(self.count.max(1)).unwrap_or(u32::MAX)
        } else {
            1
        }
    }
}

/// Splits `symbols` (normalized: trimmed, upper-cased, blanks and repeats dropped) into
/// `engines` lists balanced by `weight`: symbols taken heaviest first (ties by name), each
/// to the lightest list so far (ties: the one with fewer symbols, then the lowest index). Each list keeps the symbols in
/// the order given. Fewer lists than `engines` when there are fewer symbols; none for none.
pub fn split<S: AsRef<str>>(
    symbols: &[S],
    engines: usize,
    mut weight: impl FnMut(&str) -> u64,
) -> Vec<Vec<String>> {
    let mut seen = HashSet::new();
    let list: Vec<String> = symbols
        .iter()
        .map(|s| s.as_ref().trim().to_ascii_uppercase())
        .filter(|s| !s.is_empty() && seen.insert(s.clone()))
        .collect();
    let n = engines.min(list.len());
    if n == 0 {
        return Vec::new();
    }
    let mut order: Vec<(u64, &str, usize)> = list
        .iter()
        .enumerate()
        .map(|(pos, s)| (weight(s), s.as_str(), pos))
        .collect();
    order.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    // Ties on load go to the list with fewer symbols: weights of 0 (symbols thought quiet)
    // still spread by count instead of piling onto the first engine.
    let mut load = vec![(0u128, 0usize); n];
    let mut owner = vec![0usize; list.len()];
    for (w, _, pos) in order {
        let lightest = (0..n).min_by_key(|&e| (load[e], e)).unwrap_or(0);
        load[lightest].0 += u128::from(w);
        load[lightest].1 += 1;
        owner[pos] = lightest;
    }
    let mut out = vec![Vec::new(); n];
    for (pos, s) in list.into_iter().enumerate() {
        out[owner[pos]].push(s);
    }
    out
}

/// `spec` spread over `engines` engines of one process: one spec per shard, each with its
/// symbols ([`split`] by `weight`) and its [`Shard`] (`own_process: false`). Fewer specs
/// than `engines` when there are fewer symbols. `spec.connections`, if set, is divided
/// among the shards (rounded up).
pub fn shards(
    spec: &LaunchSpec,
    engines: usize,
    weight: impl FnMut(&str) -> u64,
) -> Result<Vec<LaunchSpec>, LaunchError> {
    if engines == 0 {
        return Err(LaunchError::Usage("spread over at least one engine".into()));
    }
    if spec.shard.count > 1 {
        return Err(LaunchError::Usage(
            "this spec is already a shard: spread the whole universe".into(),
        ));
    }
    let lists = split(&spec.symbols, engines, weight);
    if lists.is_empty() {
        return Err(LaunchError::Usage(
            "give at least one symbol (--symbols) to spread".into(),
        ));
    }
    let count = lists.len();
    Ok(lists
        .into_iter()
        .enumerate()
        .map(|(index, symbols)| {
            let shard = Shard {
                index,
                count,
                own_process: false,
            };
            shard_spec(spec, symbols, shard)
        })
        .collect())
}

/// The spec of one shard alone, for a process that runs only that one (`tickwire run
/// --shard I/N`): the symbols [`split`] gives shard `shard.index` of `shard.count`. Every
/// process given the same symbols and weights plans the same split. A shard left without
/// symbols (more shards than symbols) is a usage error.
pub fn shard_of(
    spec: &LaunchSpec,
    shard: Shard,
    weight: impl FnMut(&str) -> u64,
) -> Result<LaunchSpec, LaunchError> {
    if shard.index >= shard.count {
        return Err(LaunchError::Usage(format!(
            "shard {} of {} does not exist (shards count from 0)",
            shard.index, shard.count
        )));
    }
    let mut lists = split(&spec.symbols, shard.count, weight);
    if shard.index >= lists.len() {
        return Err(LaunchError::Usage(format!(
            "shard {}/{} has no symbols: {} symbols spread over {} shards leave it empty",
            shard.index,
            shard.count,
            lists.iter().map(Vec::len).sum::<usize>(),
            shard.count
        )));
    }
    let symbols = std::mem::take(&mut lists[shard.index]);
    Ok(shard_spec(spec, symbols, shard))
}

fn shard_spec(spec: &LaunchSpec, symbols: Vec<String>, shard: Shard) -> LaunchSpec {
    let mut s = spec.clone();
    s.symbols = symbols;
    s.connections = spec.connections.map(|c| c.div_ceil(shard.count.max(1)));
    s.shard = shard;
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("S{i:03}USDT")).collect()
    }

    /// An independent model of the balance: the largest and smallest shard loads differ by
    /// at most the heaviest weight (greedy LPT's bound), every symbol once.
    #[test]
    fn every_symbol_goes_to_exactly_one_shard_and_loads_stay_within_one_symbol() {
        let syms = names(1000);
        let weight = |s: &str| -> u64 {
            // Skewed: a few busy symbols, most quiet.
            let i: u64 = s[1..4].parse().unwrap();
            if i % 97 == 0 { 5_000 } else { 10 + i % 13 }
        };
        for engines in [1, 2, 3, 4, 7, 16] {
            let lists = split(&syms, engines, weight);
            assert_eq!(lists.len(), engines);
            let mut all: Vec<&String> = lists.iter().flatten().collect();
            all.sort();
            let mut want: Vec<&String> = syms.iter().collect();
            want.sort();
            assert_eq!(all, want, "{engines} engines");
            let loads: Vec<u64> = lists
                .iter()
                .map(|l| l.iter().map(|s| weight(s)).sum())
                .collect();
            let (max, min) = (loads.iter().max().unwrap(), loads.iter().min().unwrap());
            assert!(max - min <= 5_000, "{engines}: {loads:?}");
        }
    }

    #[test]
    fn equal_weights_split_by_count_and_keep_the_given_order() {
        let lists = split(&["c", "a", "d", "b", "e"], 2, |_| 1);
        // By name: A→0, B→1, C→0, D→1, E→0; each list in the order given.
        assert_eq!(lists, [vec!["C", "A", "E"], vec!["D", "B"]]);
    }

    /// Symbols all weighed 0 still spread by count: a weight-only rule would put every one
    /// of them on the first engine.
    #[test]
    fn zero_weights_spread_by_count() {
        let syms = names(12);
        let lists = split(&syms, 3, |_| 0);
        assert_eq!(lists.iter().map(Vec::len).collect::<Vec<_>>(), [4, 4, 4]);
        // Two busy symbols and ten of weight 0: the weights are what is balanced, so the
        // busy ones get an engine each and the quiet ones (weighing nothing) the third.
        let lists = split(&syms, 3, |s| if s < "S002" { 100 } else { 0 });
        assert_eq!(lists[0], ["S000USDT"]);
        assert_eq!(lists[1], ["S001USDT"]);
        assert_eq!(lists[2].len(), 10);
    }

    #[test]
    fn the_split_does_not_depend_on_the_order_given() {
        let mut syms = names(200);
        let a = split(&syms, 3, |s| s.len() as u64 + u64::from(s.as_bytes()[3]));
        syms.reverse();
        let b = split(&syms, 3, |s| s.len() as u64 + u64::from(s.as_bytes()[3]));
        let sorted = |v: Vec<Vec<String>>| -> Vec<Vec<String>> {
            v.into_iter()
                .map(|mut l| {
                    l.sort();
                    l
                })
                .collect()
        };
        assert_eq!(sorted(a), sorted(b));
    }

    #[test]
    fn blanks_repeats_and_case_are_normalized_and_few_symbols_give_few_shards() {
        let lists = split(&["btcusdt", " ", "BTCUSDT", "ethusdt"], 4, |_| 1);
        assert_eq!(lists, [vec!["BTCUSDT"], vec!["ETHUSDT"]]);
        assert!(split::<&str>(&[], 4, |_| 1).is_empty());
        assert!(split(&["A"], 0, |_| 1).is_empty());
    }

    #[test]
    fn shards_carry_their_place_and_one_shard_alone_matches_the_whole_split() {
        let syms = names(10);
        let mut spec = LaunchSpec::new(&syms, &["book"]);
        spec.connections = Some(5);
        let all = shards(&spec, 3, |_| 1).unwrap();
        assert_eq!(all.len(), 3);
        for (k, s) in all.iter().enumerate() {
            assert_eq!(s.shard, Shard::new(k, 3, false).unwrap());
            assert_eq!(s.connections, Some(2));
            let alone = shard_of(&spec, Shard::new(k, 3, true).unwrap(), |_| 1).unwrap();
            assert_eq!(alone.symbols, s.symbols);
            assert!(alone.shard.own_process);
        }
        assert!(matches!(
            shards(&spec, 0, |_| 1),
            Err(LaunchError::Usage(_))
        ));
        assert!(matches!(
            shards(&all[0], 2, |_| 1),
            Err(LaunchError::Usage(_))
        ));
        let two = LaunchSpec::new(&["A", "B"], &["book"]);
        let e = shard_of(&two, Shard::new(2, 3, true).unwrap(), |_| 1).unwrap_err();
        assert!(e.to_string().contains("no symbols"), "{e}");
    }

    #[test]
    fn shards_parse_and_interleave_their_slots() {
        assert_eq!(
            Shard::parse(" 1 / 4"),
            Ok(Shard {
                index: 1,
                count: 4,
                own_process: true
            })
        );
        for bad in ["4/4", "1", "-1/2", "a/b", "0/0", ""] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
        // Shard 1 of 3: its connections take slots 1, 4, 7 (shards 0 and 2 the others).
        let s = Shard::new(1, 3, false).unwrap();
        assert_eq!([s.slot(0), s.slot(1), s.slot(2)], [1, 4, 7]);
        assert_eq!(Shard::WHOLE.slot(5), 5);
        assert_eq!(s.processes(), 1);
        assert_eq!(Shard::new(1, 3, true).unwrap().processes(), 3);
    }
}
