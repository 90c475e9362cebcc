//! Faults the simulator can inject into a WebSocket session, now ([`super::SimServer::inject`])
//! or on a schedule relative to each session's start (`--faults`, [`ScheduledFault`]).

use std::fmt;
use std::time::Duration;

/// "For ever" for timed faults given without a duration.
pub const FOREVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// One fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Close the TCP connection at once: no WebSocket close frame.
    Drop,
    /// Send nothing at all (data, pings, pongs, replies) for a while; what was due is then
    /// sent in a burst.
    Silent(Duration),
    /// Do not answer the client's pings for a while.
    NoPongs(Duration),
    /// Do not send pings for a while.
    NoPings(Duration),
    /// Skip the next depth event: the update-id chain breaks once.
    Gap,
    /// Cut the next data message in half (invalid JSON).
    Malformed,
    /// Send one wrong checksum (venues whose diffs carry one; others ignore it).
    Checksum,
    /// Reset a book's sequence as the venue documents it (venues that do; others ignore
    /// it).
    Reset,
    /// Send one text frame of this many bytes (to trip the client's frame-size limit).
    Oversized(usize),
    /// Send one text frame that is not valid UTF-8.
    InvalidUtf8,
    /// Stop reading the socket for a while (client frames, pongs included, wait in the
    /// kernel).
    ReadSlowly(Duration),
    /// Send `{"e":"serverShutdown","E":..}`, then close after the configured grace period.
    ServerShutdown,
    /// Send a close frame with this status code, then close.
    Close(u16),
}

/// A fault applied `at` after each WebSocket session starts, then every `every` if given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScheduledFault {
    /// The fault.
    pub fault: Fault,
    /// Delay after the session starts.
    pub at: Duration,
    /// Repeat period.
    pub every: Option<Duration>,
}

/// Why a `--faults` item was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FaultParseError {
    /// Not `KIND[=ARG]@AT[/EVERY]`.
    #[error("expected KIND[=ARG]@AT[/EVERY], e.g. gap@2s/5s or silent=3s@10s")]
    Syntax,
    /// Unknown fault kind.
    #[error(
        "unknown fault; kinds: drop, silent, no-pongs, no-pings, gap, malformed, checksum, reset, oversized, bad-utf8, read-slow, shutdown, close"
    )]
    Kind,
    /// A duration that is not `<n>ms`, `<n>s`, `<n>m` or `<n>h`.
    #[error("bad duration; use e.g. 500ms, 2s, 1m, 1h")]
    Duration,
    /// A duration longer than [`FOREVER`] (100 years).
    #[error("duration too long; at most 100 years (876000h)")]
    DurationTooLong,
    /// A bad number argument.
    #[error("bad number argument")]
    Number,
    /// A zero repeat period.
    #[error("the repeat period must be more than zero")]
    ZeroPeriod,
}

/// Parses `20us`, `500ms`, `2s`, `1m`, `1h` or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, FaultParseError> {
    let s = s.trim();
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((s, ""), |i| s.split_at(i));
    let n: f64 = num.parse().map_err(|_| FaultParseError::Duration)?;
    let secs = match unit {
        "us" => n / 1e6,
        "ms" => n / 1e3,
        "" | "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(FaultParseError::Duration),
    };
    if !secs.is_finite() || secs < 0.0 {
        return Err(FaultParseError::Duration);
    }
    // `from_secs_f64` panics past u64::MAX seconds; anything past FOREVER is a typo anyway
    // (and `Instant + d` must not overflow where the duration is used).
    match Duration::try_from_secs_f64(secs) {
        Ok(d) if d <= FOREVER => Ok(d),
        _ => Err(FaultParseError::DurationTooLong),
    }
}

/// Parses a comma-separated schedule, e.g. `gap@2s/5s,silent=3s@10s,drop@30s`.
pub fn parse_schedule(spec: &str) -> Result<Vec<ScheduledFault>, (FaultParseError, String)> {
    spec.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|item| parse_item(item).map_err(|e| (e, item.to_string())))
        .collect()
}

fn parse_item(item: &str) -> Result<ScheduledFault, FaultParseError> {
    let (what, when) = item.split_once('@').ok_or(FaultParseError::Syntax)?;
    let (at, every) = match when.split_once('/') {
        Some((a, e)) => (parse_duration(a)?, Some(parse_duration(e)?)),
        None => (parse_duration(when)?, None),
    };
    if every == Some(Duration::ZERO) {
        return Err(FaultParseError::ZeroPeriod);
    }
    let (kind, arg) = match what.split_once('=') {
        Some((k, a)) => (k, Some(a)),
        None => (what, None),
    };
    let dur = || arg.map_or(Ok(FOREVER), parse_duration);
    let fault = match kind {
        "drop" => Fault::Drop,
        "silent" => Fault::Silent(dur()?),
        "no-pongs" => Fault::NoPongs(dur()?),
        "no-pings" => Fault::NoPings(dur()?),
        "gap" => Fault::Gap,
        "malformed" => Fault::Malformed,
        "checksum" => Fault::Checksum,
        "reset" => Fault::Reset,
        "oversized" => Fault::Oversized(
            arg.map_or(Ok(4 << 20), str::parse)
                .map_err(|_| FaultParseError::Number)?,
        ),
        "bad-utf8" => Fault::InvalidUtf8,
        "read-slow" => Fault::ReadSlowly(dur()?),
        "shutdown" => Fault::ServerShutdown,
        "close" => Fault::Close(
            arg.map_or(Ok(1000), str::parse)
                .map_err(|_| FaultParseError::Number)?,
        ),
        _ => return Err(FaultParseError::Kind),
    };
    Ok(ScheduledFault { fault, at, every })
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Drop => write!(f, "drop"),
            Fault::Silent(d) => write!(f, "silent={d:?}"),
            Fault::NoPongs(d) => write!(f, "no-pongs={d:?}"),
            Fault::NoPings(d) => write!(f, "no-pings={d:?}"),
            Fault::Gap => write!(f, "gap"),
            Fault::Malformed => write!(f, "malformed"),
            Fault::Checksum => write!(f, "checksum"),
            Fault::Reset => write!(f, "reset"),
            Fault::Oversized(n) => write!(f, "oversized={n}"),
            Fault::InvalidUtf8 => write!(f, "bad-utf8"),
            Fault::ReadSlowly(d) => write!(f, "read-slow={d:?}"),
            Fault::ServerShutdown => write!(f, "shutdown"),
            Fault::Close(c) => write!(f, "close={c}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_past_forever_are_refused_not_panics() {
        // 1e20 s is past u64::MAX seconds: `Duration::from_secs_f64` panics on it.
        for s in [
            "99999999999999999999s",
            "1e400",
            "876001h",
            "18446744073709551616",
        ] {
            assert!(parse_duration(s).is_err(), "{s}");
        }
        assert_eq!(
            parse_duration("99999999999999999999s"),
            Err(FaultParseError::DurationTooLong)
        );
        assert_eq!(parse_duration("876000h"), Ok(FOREVER));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
    }

    #[test]
    fn parses_schedules() {
        let s =
            parse_schedule("gap@2s/5s, silent=300ms@10s,drop@1m,close=4000@0,oversized@1").unwrap();
        assert_eq!(
            s[0],
            ScheduledFault {
                fault: Fault::Gap,
                at: Duration::from_secs(2),
                every: Some(Duration::from_secs(5))
            }
        );
        assert_eq!(s[1].fault, Fault::Silent(Duration::from_millis(300)));
        assert_eq!(s[2].at, Duration::from_secs(60));
        assert_eq!(s[3].fault, Fault::Close(4000));
        assert_eq!(s[4].fault, Fault::Oversized(4 << 20));
        assert_eq!(
            parse_schedule("nope@1s").unwrap_err().0,
            FaultParseError::Kind
        );
        assert_eq!(
            parse_schedule("gap").unwrap_err().0,
            FaultParseError::Syntax
        );
        assert_eq!(
            parse_schedule("gap@2x").unwrap_err().0,
            FaultParseError::Duration
        );
        assert_eq!(
            parse_schedule("gap@1s/0s").unwrap_err().0,
            FaultParseError::ZeroPeriod
        );
        assert_eq!(
            parse_schedule("silent").unwrap_err().0,
            FaultParseError::Syntax
        );
    }
}
