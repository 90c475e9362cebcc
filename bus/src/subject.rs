//! Subject names: `<prefix>.<venue>.<symbol>` for an instrument's events,
//! `<prefix>.<venue>.<symbol>.snap` for the egress's snapshot runs of its book, and
//! `<prefix>.<venue>._status` for status events that concern no instrument.
//!
//! Venue and symbol become one subject token each: bytes in `A-Z a-z 0-9 - _` stay, every
//! other byte (`.`, `*`, `>`, whitespace, `/`, non-ASCII, ...) is written `%XX` (two upper-case
//! hex digits), and so is a leading `_` (so no symbol can spell `_status`). An empty name is
//! `%`. [`unescape`] reverses it exactly.

/// The token of connection-level status events.
pub const STATUS_TOKEN: &str = "_status";
/// The suffix token of snapshot subjects.
pub const SNAPSHOT_TOKEN: &str = "snap";

/// Appends `name` as one subject token.
pub fn escape_into(name: &str, out: &mut String) {
    if name.is_empty() {
        out.push('%');
        return;
    }
    for (i, b) in name.bytes().enumerate() {
        let keep = b.is_ascii_alphanumeric() || b == b'-' || (b == b'_' && i > 0);
        if keep {
            out.push(b as char);
        } else {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 15) as usize] as char);
        }
    }
}

/// `name` as one subject token.
pub fn escape(name: &str) -> String {
    let mut s = String::with_capacity(name.len());
    escape_into(name, &mut s);
    s
}

/// The name a token was made from, or `None` when the token is not one [`escape`] makes.
pub fn unescape(token: &str) -> Option<String> {
    if token == "%" {
        return Some(String::new());
    }
    let b = token.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// What a subject names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// An instrument's events.
    Events {
        /// Venue name.
        venue: String,
        /// Symbol.
        symbol: String,
    },
    /// The egress's snapshot runs of an instrument's book.
    Snapshot {
        /// Venue name.
        venue: String,
        /// Symbol.
        symbol: String,
    },
    /// Status events of a venue that concern no instrument.
    Status {
        /// Venue name.
        venue: String,
    },
}

/// The subject of an instrument's events.
pub fn events(prefix: &str, venue: &str, symbol: &str) -> String {
    let mut s = String::with_capacity(prefix.len() + venue.len() + symbol.len() + 2);
    s.push_str(prefix);
    s.push('.');
    escape_into(venue, &mut s);
    s.push('.');
    escape_into(symbol, &mut s);
    s
}

/// The subject of an instrument's snapshot runs.
pub fn snapshot(prefix: &str, venue: &str, symbol: &str) -> String {
    let mut s = events(prefix, venue, symbol);
    s.push('.');
    s.push_str(SNAPSHOT_TOKEN);
    s
}

/// The subject of a venue's connection-level status events.
pub fn status(prefix: &str, venue: &str) -> String {
    let mut s = String::new();
    s.push_str(prefix);
    s.push('.');
    escape_into(venue, &mut s);
    s.push('.');
    s.push_str(STATUS_TOKEN);
    s
}

/// Reads a subject under `prefix` (which may itself hold dots).
pub fn parse(prefix: &str, subject: &str) -> Option<Parsed> {
    let rest = subject.strip_prefix(prefix)?.strip_prefix('.')?;
    let mut t = rest.split('.');
    let venue = unescape(t.next()?)?;
    let second = t.next()?;
    let third = t.next();
    if t.next().is_some() {
        return None;
    }
    match (second, third) {
        (STATUS_TOKEN, None) => Some(Parsed::Status { venue }),
        (sym, None) => Some(Parsed::Events {
            venue,
            symbol: unescape(sym)?,
        }),
        (sym, Some(SNAPSHOT_TOKEN)) => Some(Parsed::Snapshot {
            venue,
            symbol: unescape(sym)?,
        }),
        _ => None,
    }
}

/// Whether `subject` matches the NATS filter `pattern` (`*` one token, `>` the rest).
pub fn matches(pattern: &str, subject: &str) -> bool {
    let mut p = pattern.split('.');
    let mut s = subject.split('.');
    loop {
        match (p.next(), s.next()) {
            (Some(">"), Some(_)) => return true,
            (Some("*"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_symbols_stay_readable() {
        assert_eq!(
            events("tickwire", "binance-usdm", "BTCUSDT"),
            "tickwire.binance-usdm.BTCUSDT"
        );
        assert_eq!(status("tickwire", "binance"), "tickwire.binance._status");
        assert_eq!(
            snapshot("tickwire", "binance", "BTC_USDT"),
            "tickwire.binance.BTC_USDT.snap"
        );
    }

    #[test]
    fn wildcards_dots_and_spaces_are_escaped_and_come_back() {
        for name in [
            "a.b", "*", ">", "BTC/USDT", "x y\t", "_status", "", "é€", "%41", "_",
        ] {
            let t = escape(name);
            // One token that no filter wildcard or separator can split.
            assert!(
                !t.is_empty() && !t.contains(['.', '*', '>', ' ', '\t']),
                "{name:?} -> {t:?}"
            );
            assert_ne!(t, STATUS_TOKEN);
            assert_eq!(unescape(&t).as_deref(), Some(name), "{t:?}");
        }
        assert_eq!(escape("BTC/USDT"), "BTC%2FUSDT");
        assert_eq!(escape("_status"), "%5Fstatus");
    }

    #[test]
    fn subjects_parse_back() {
        let s = events("md.tw", "bin.ance", "A*B");
        assert_eq!(
            parse("md.tw", &s),
            Some(Parsed::Events {
                venue: "bin.ance".into(),
                symbol: "A*B".into()
            })
        );
        assert_eq!(
            parse("md.tw", &snapshot("md.tw", "v", "_status")),
            Some(Parsed::Snapshot {
                venue: "v".into(),
                symbol: "_status".into()
            })
        );
        assert_eq!(
            parse("md.tw", &status("md.tw", "v")),
            Some(Parsed::Status { venue: "v".into() })
        );
        assert_eq!(parse("md.tw", "md.tw.v"), None);
        assert_eq!(parse("md.tw", "md.tw.v.s.x"), None);
        assert_eq!(parse("md.tw", "md.tw.v.%zz"), None);
        assert_eq!(parse("md.tw", "other.v.s"), None);
    }

    #[test]
    fn filters_match_as_nats_does() {
        assert!(matches("tickwire.>", "tickwire.b.X"));
        assert!(matches("tickwire.>", "tickwire.b.X.snap"));
        assert!(!matches("tickwire.>", "tickwire"));
        assert!(matches("tickwire.*.X", "tickwire.b.X"));
        assert!(!matches("tickwire.*.X", "tickwire.b.X.snap"));
        assert!(!matches("tickwire.b", "tickwire.b.X"));
    }
}
