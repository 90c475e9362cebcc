//! The simulated venues by name: every venue of [`crate::venues::VENUES`] whose
//! [`crate::venues::VenueKind::sim`] gives an entry (so adding a venue there is enough).

use std::sync::Arc;

use super::{SessionDefaults, SimVenue, SimVenueConfig, VenueError};

/// A simulated venue's registry entry.
#[derive(Clone, Copy, Debug)]
pub struct SimVenueEntry {
    /// The name `--venue` takes, e.g. `binance-usdm`.
    pub name: &'static str,
    /// Other accepted names (e.g. `spot`).
    pub aliases: &'static [&'static str],
    /// The venue's documented session rules.
    pub defaults: SessionDefaults,
    /// Builds the venue.
    pub build: fn(&SimVenueConfig) -> Result<Arc<dyn SimVenue>, VenueError>,
}

/// Every simulated venue, in registry order.
pub fn sim_venues() -> impl Iterator<Item = &'static SimVenueEntry> {
    crate::venues::VENUES.iter().filter_map(|v| v.sim())
}

/// Why [`venue`] failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UnknownVenue {
    /// No venue has this name.
    #[error("unknown venue '{name}'; known: {known}")]
    Name {
        /// The name asked for.
        name: String,
        /// The known names, comma-separated.
        known: String,
    },
    /// The venue refused the configuration.
    #[error("bad venue configuration: {0}")]
    Config(#[from] VenueError),
}

/// The registered names, comma-separated (for error messages).
pub fn known_names() -> String {
    sim_venues().map(|e| e.name).collect::<Vec<_>>().join(", ")
}

fn entry(name: &str) -> Result<&'static SimVenueEntry, UnknownVenue> {
    sim_venues()
        .find(|e| {
            e.name.eq_ignore_ascii_case(name)
                || e.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
        })
        .ok_or_else(|| UnknownVenue::Name {
            name: name.to_string(),
            known: known_names(),
        })
}

/// Builds the simulated venue `name` (or one of its aliases).
pub fn venue(name: &str, config: &SimVenueConfig) -> Result<Arc<dyn SimVenue>, UnknownVenue> {
    Ok((entry(name)?.build)(config)?)
}

/// The registry entry of `name` or an alias (its canonical name and session defaults).
pub fn sim_entry(name: &str) -> Result<&'static SimVenueEntry, UnknownVenue> {
    entry(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_names_list_the_known_ones() {
        let e = venue("nasdaq", &SimVenueConfig::default()).unwrap_err();
        let text = e.to_string();
        for v in sim_venues() {
            assert!(text.contains(v.name), "{text}");
        }
        assert!(text.contains("binance-usdm"), "{text}");
    }

    #[test]
    fn names_and_aliases_build_their_venue() {
        for (name, canonical) in [
            ("binance", "binance"),
            ("spot", "binance"),
            ("binance-usdm", "binance-usdm"),
            ("USDM", "binance-usdm"),
        ] {
            let v = venue(name, &SimVenueConfig::default()).unwrap();
            assert_eq!(v.name(), canonical);
            assert_eq!(v.lower_names(), ["btcusdt"]);
        }
        let bad = SimVenueConfig {
            symbols: vec![],
            ..SimVenueConfig::default()
        };
        assert_eq!(
            venue("binance", &bad).unwrap_err(),
            UnknownVenue::Config(VenueError::NoSymbols)
        );
    }
}
