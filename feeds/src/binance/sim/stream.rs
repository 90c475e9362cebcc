//! Stream names: `<symbol>@<kind>`, lower-case symbol, e.g. `btcusdt@depth@100ms`.

use super::{Market, Venue};

/// The streams the simulator serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum StreamKind {
    /// `<sym>@trade`.
    Trade = 0,
    /// `<sym>@aggTrade`.
    AggTrade = 1,
    /// `<sym>@bookTicker`.
    BookTicker = 2,
    /// `<sym>@depth` (the simulator sends every diff; it does not batch by interval).
    Depth = 3,
    /// `<sym>@depth@100ms`.
    Depth100ms = 4,
    /// `<sym>@depth@0ms` (unthrottled; seen in captures, not in the docs).
    Depth0ms = 5,
}

impl StreamKind {
    /// Every kind, in bit order.
    pub const ALL: [StreamKind; 6] = [
        StreamKind::Trade,
        StreamKind::AggTrade,
        StreamKind::BookTicker,
        StreamKind::Depth,
        StreamKind::Depth100ms,
        StreamKind::Depth0ms,
    ];

    /// The part after `<sym>@`.
    pub fn suffix(self) -> &'static str {
        match self {
            StreamKind::Trade => "trade",
            StreamKind::AggTrade => "aggTrade",
            StreamKind::BookTicker => "bookTicker",
            StreamKind::Depth => "depth",
            StreamKind::Depth100ms => "depth@100ms",
            StreamKind::Depth0ms => "depth@0ms",
        }
    }

    /// This kind's bit in a subscription mask.
    pub fn bit(self) -> u8 {
        1 << self as u8
    }

    /// The kind of a mask's lowest set bit.
    pub fn from_lowest_bit(mask: u8) -> Option<StreamKind> {
        StreamKind::ALL.get(mask.trailing_zeros() as usize).copied()
    }

    /// True for the streams USD-M serves on `/public` (book data); the others (trades) are
    /// served on `/market`.
    pub fn is_public(self) -> bool {
        !matches!(self, StreamKind::Trade | StreamKind::AggTrade)
    }
}

/// The URL route a connection came in on. USD-M splits streams by category since 2026:
/// `/public` carries book streams, `/market` trade streams. Unrouted URLs (`/ws`, `/stream`)
/// accept every stream here (the legacy behaviour), so older clients keep working.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// `/ws`, `/stream`: every stream.
    Any,
    /// `/public/...`: book streams only (USD-M).
    Public,
    /// `/market/...`: trade streams only (USD-M).
    Market,
}

impl Route {
    /// True when this route serves `kind`.
    pub fn allows(self, kind: StreamKind) -> bool {
        match self {
            Route::Any => true,
            Route::Public => kind.is_public(),
            Route::Market => !kind.is_public(),
        }
    }
}

/// Why a stream name was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    /// Not `<symbol>@<kind>` with a lower-case symbol.
    #[error("invalid stream name")]
    Syntax,
    /// The symbol is not simulated.
    #[error("unknown symbol")]
    UnknownSymbol,
    /// The kind after `@` is not served.
    #[error("unsupported stream type")]
    UnknownKind,
    /// USD-M: the stream belongs to the other route (`/public` or `/market`).
    #[error("stream not served on this route")]
    WrongRoute,
    /// The connection would exceed 1024 streams.
    #[error("too many streams on one connection (1024 at most)")]
    TooMany,
}

/// Parses `<sym>@<kind>` against the venue: returns the symbol index and kind.
pub fn parse_stream(
    venue: &Venue,
    route: Route,
    name: &str,
) -> Result<(usize, StreamKind), StreamError> {
    let (sym, kind) = name.split_once('@').ok_or(StreamError::Syntax)?;
    if sym.is_empty()
        || !sym
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    {
        return Err(StreamError::Syntax);
    }
    let kind = StreamKind::ALL
        .into_iter()
        .find(|k| k.suffix() == kind)
        .ok_or(StreamError::UnknownKind)?;
    let sym = venue.symbol_index(sym).ok_or(StreamError::UnknownSymbol)?;
    if venue.market() == Market::UsdM && !route.allows(kind) {
        return Err(StreamError::WrongRoute);
    }
    Ok((sym, kind))
}
