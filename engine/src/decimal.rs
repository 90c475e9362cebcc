//! Exact decimals: an `i64` mantissa and a base-10 scale, parsed straight from venue text.
//!
//! `"0.00000001"` is `(1, 8)`, `"123456789012.5"` is `(1234567890125, 1)`, `"5.325e-05"` is
//! `(5325, 8)`. No floating point is involved anywhere, so a value survives a round trip to
//! text unchanged (up to trailing zeros, which [`Decimal::normalize`] removes). Values that
//! do not fit in an `i64` mantissa or a scale of [`MAX_SCALE`] are an error, never a wrap.
//!
//! Parsing has two paths. The fast one takes plain text (`-`? digits, one optional `.`, no
//! exponent) with at most 8 digits on each side of the point, which is what market data
//! carries, and converts each side with eight-digits-at-a-time integer arithmetic (SWAR): it
//! cannot overflow. Anything else goes through the general path (exponents, long mantissas,
//! scales beyond 18 that end in zeros), which checks every step. Both return the same value
//! for every input (a property test and the `decimal_parse` fuzz target compare them).

use core::cmp::Ordering;
use core::fmt;

/// Largest supported scale: 10^18 still fits in an `i64`.
pub const MAX_SCALE: u8 = 18;

const POW10: [i64; 19] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
    1_000_000_000,
    10_000_000_000,
    100_000_000_000,
    1_000_000_000_000,
    10_000_000_000_000,
    100_000_000_000_000,
    1_000_000_000_000_000,
    10_000_000_000_000_000,
    100_000_000_000_000_000,
    1_000_000_000_000_000_000,
];

/// Exponents beyond this are clamped while parsing: they only decide between zero, an
/// overflow and a too-large scale, and clamping keeps the arithmetic small and bounded.
const EXP_LIMIT: i64 = 1_000;

/// Why a decimal could not be parsed or converted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecimalError {
    /// The text is not a decimal number (empty, stray characters, no digits, bad exponent).
    #[error("not a decimal number")]
    Syntax,
    /// The mantissa does not fit in an `i64`.
    #[error("decimal mantissa overflows i64")]
    Overflow,
    /// More fractional digits than the target scale allows.
    #[error("decimal scale too large")]
    ScaleTooLarge,
}

/// An exact decimal number: `mantissa × 10^-scale`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Decimal {
    mantissa: i64,
    scale: u8,
}

impl Decimal {
    /// Zero with scale 0.
    pub const ZERO: Decimal = Decimal {
        mantissa: 0,
        scale: 0,
    };

    /// Builds a decimal from its parts without checking. The scale must be at most
    /// [`MAX_SCALE`]; a larger one is clamped to it (a caller bug, kept memory- and
    /// panic-safe). Use [`Decimal::new`] for values that came from outside.
    #[inline]
    pub const fn from_parts(mantissa: i64, scale: u8) -> Decimal {
        let scale = if scale > MAX_SCALE { MAX_SCALE } else { scale };
        Decimal { mantissa, scale }
    }

    /// Builds a decimal, checking the scale.
    #[inline]
    pub const fn new(mantissa: i64, scale: u8) -> Result<Decimal, DecimalError> {
        if scale > MAX_SCALE {
            return Err(DecimalError::ScaleTooLarge);
        }
        Ok(Decimal { mantissa, scale })
    }

    /// The integer mantissa.
    #[inline]
    pub const fn mantissa(self) -> i64 {
        self.mantissa
    }

    /// Number of digits after the decimal point.
    #[inline]
    pub const fn scale(self) -> u8 {
        self.scale
    }

    /// Whether the value is zero (at any scale).
    #[inline]
    pub const fn is_zero(self) -> bool {
        self.mantissa == 0
    }

    /// Whether the value is below zero.
    #[inline]
    pub const fn is_negative(self) -> bool {
        self.mantissa < 0
    }

    /// The same value at scale `scale`, exactly: widening multiplies the mantissa (checked),
    /// narrowing is allowed only when the dropped digits are zeros.
    #[inline]
    pub fn rescale(self, scale: u8) -> Result<Decimal, DecimalError> {
        if scale > MAX_SCALE {
            return Err(DecimalError::ScaleTooLarge);
        }
        match scale.cmp(&self.scale) {
            Ordering::Equal => Ok(self),
            Ordering::Greater => {
                let f = POW10[(scale - self.scale) as usize];
                let m = self.mantissa.checked_mul(f).ok_or(DecimalError::Overflow)?;
                Ok(Decimal { mantissa: m, scale })
            }
            Ordering::Less => {
                let f = POW10[(self.scale - scale) as usize];
                if self.mantissa % f != 0 {
                    return Err(DecimalError::ScaleTooLarge);
                }
                Ok(Decimal {
                    mantissa: self.mantissa / f,
                    scale,
                })
            }
        }
    }

    /// The mantissa this value has at `scale` (see [`Decimal::rescale`]); the fast path when
    /// the scale already matches is one compare.
    #[inline]
    pub fn mantissa_at(self, scale: u8) -> Result<i64, DecimalError> {
        if self.scale == scale {
            return Ok(self.mantissa);
        }
        self.rescale(scale).map(Decimal::mantissa)
    }

    /// The same value with trailing fractional zeros removed (`1.500` → `1.5`, `0.0` → `0`).
    #[inline]
    #[must_use]
    pub fn normalize(self) -> Decimal {
        let (mut m, mut s) = (self.mantissa, self.scale);
        while s > 0 && m % 10 == 0 {
            m /= 10;
            s -= 1;
        }
        Decimal {
            mantissa: m,
            scale: s,
        }
    }

    /// The same value at a scale of at most `max`: trailing fractional zeros beyond `max` are
    /// dropped (`1.0000000000000000` at most 15 → `1.000000000000000`, `27630E-16` → `0.0000000000002763`);
    /// [`DecimalError::ScaleTooLarge`] when a digit that is not zero lies beyond `max`. The
    /// scale is lowered only as far as needed, so a value that already fits is returned as is.
    #[inline]
    pub fn fit_scale(self, max: u8) -> Result<Decimal, DecimalError> {
        if self.scale <= max {
            return Ok(self);
        }
        self.rescale(max)
    }

    /// Parses a decimal from ASCII text: an optional sign, digits with an optional `.`, and an
    /// optional exponent (`e`/`E`, as JSON numbers allow). Trailing fractional zeros are kept
    /// (the scale reflects the text) as long as they fit; beyond [`MAX_SCALE`] they are dropped
    /// if they are zeros. Never overflows silently: too many digits is
    /// [`DecimalError::Overflow`], too much precision is [`DecimalError::ScaleTooLarge`].
    #[inline]
    pub fn parse(text: &[u8]) -> Result<Decimal, DecimalError> {
        match parse_plain(text) {
            Some(d) => Ok(d),
            None => parse_general(text),
        }
    }

    /// The general parser alone (no fast path). Public for differential tests and fuzzing;
    /// [`Decimal::parse`] returns the same result for every input.
    #[doc(hidden)]
    pub fn parse_slow(text: &[u8]) -> Result<Decimal, DecimalError> {
        parse_general(text)
    }

    /// Parses `text` (as [`Decimal::parse`]) straight into a fixed `scale`, rejecting values
    /// whose precision does not fit.
    #[inline]
    pub fn parse_with_scale(text: &[u8], scale: u8) -> Result<Decimal, DecimalError> {
        Decimal::parse(text)?.rescale(scale)
    }

    /// Writes the exact decimal text into `buf` and returns it (`-0.00000001`, `43250.12`).
    /// The buffer holds any `i64` mantissa at any scale up to [`MAX_SCALE`].
    pub fn write_to<'b>(&self, buf: &'b mut [u8; 48]) -> &'b str {
        let neg = self.mantissa < 0;
        let mut m = self.mantissa.unsigned_abs();
        let scale = self.scale.min(MAX_SCALE);
        let mut pos = buf.len();
        let mut n = 0u8;
        loop {
            pos -= 1;
            buf[pos] = b'0' + (m % 10) as u8;
            m /= 10;
            n += 1;
            if n == scale {
                pos -= 1;
                buf[pos] = b'.';
            }
            if m == 0 && n > scale {
                break;
            }
        }
        if buf[pos] == b'.' {
            pos -= 1;
            buf[pos] = b'0';
        }
        if neg {
            pos -= 1;
            buf[pos] = b'-';
        }
        // Only ASCII digits, '.', '-' were written.
        core::str::from_utf8(&buf[pos..]).unwrap_or("")
    }
}

const ASCII_ZEROS: u64 = 0x3030_3030_3030_3030;

/// Eight ASCII digits loaded little-endian (first digit in the lowest byte) to their value,
/// or `None` if any byte is not a digit. The building block of the fast paths, here and in
/// venue scanners that parse decimals straight out of their receive buffer.
#[inline(always)]
pub fn eight_digits(x: u64) -> Option<u64> {
    swar8(x)
}

#[inline(always)]
fn swar8(x: u64) -> Option<u64> {
    let not_digit = (x & 0xF0F0_F0F0_F0F0_F0F0)
        | ((x.wrapping_add(0x0606_0606_0606_0606) & 0xF0F0_F0F0_F0F0_F0F0) >> 4);
    if not_digit != 0x3333_3333_3333_3333 {
        return None;
    }
    let v = x - ASCII_ZEROS;
    let v = (v.wrapping_mul(10 * 256 + 1) >> 8) & 0x00FF_00FF_00FF_00FF;
    let v = (v.wrapping_mul(100 * 65_536 + 1) >> 16) & 0x0000_FFFF_0000_FFFF;
    Some((v.wrapping_mul(10_000 * (1 << 32) + 1) >> 32) & 0xFFFF_FFFF)
}

#[inline(always)]
fn load8(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

/// The value of the digits `text[s..e]` (at most 8 of them) read through one 8-byte window
/// of `text` (which must be at least 8 bytes long), or `None` if one is not a digit.
#[inline(always)]
fn digits_in_window(text: &[u8], s: usize, e: usize) -> Option<u64> {
    let l = e - s;
    if l == 0 {
        return Some(0);
    }
    // Bits of '0' padding in front of the digits, so they are right-aligned in 8 places.
    let fill = 8 * (8 - l) as u32;
    let digits_mask = u64::MAX << fill;
    let x = if e >= 8 {
        load8(&text[e - 8..e]) & digits_mask
    } else {
        (load8(text) >> (8 * s as u32)) << fill
    };
    swar8(x | (ASCII_ZEROS & !digits_mask))
}

/// Mask of the bytes of `x` equal to `b` (exact for the lowest one, which is all we use).
#[inline(always)]
fn bytes_equal(x: u64, b: u8) -> u64 {
    let v = x ^ (0x0101_0101_0101_0101 * b as u64);
    v.wrapping_sub(0x0101_0101_0101_0101) & !v & 0x8080_8080_8080_8080
}

/// Index of the first `.` in `text` (8 to 18 bytes long), or its length: two overlapping
/// 8-byte windows instead of a byte loop.
#[inline(always)]
fn find_dot(text: &[u8]) -> usize {
    let len = text.len();
    let m = bytes_equal(load8(text), b'.');
    if m != 0 {
        return (m.trailing_zeros() / 8) as usize;
    }
    // Bytes the two windows miss when the text is longer than 16.
    for (i, &c) in text.iter().enumerate().take(len.saturating_sub(8)).skip(8) {
        if c == b'.' {
            return i;
        }
    }
    if len > 8 {
        let m = bytes_equal(load8(&text[len - 8..]), b'.');
        if m != 0 {
            return len - 8 + (m.trailing_zeros() / 8) as usize;
        }
    }
    len
}

/// Fast path: `-`? then at most 8 digits, an optional `.`, at most 8 digits; no exponent.
/// `None` sends the text to the general parser (which also reports the errors).
#[inline(always)]
fn parse_plain(text: &[u8]) -> Option<Decimal> {
    let neg = text.first() == Some(&b'-');
    let start = neg as usize;
    let len = text.len();
    if len <= start || len - start > 17 {
        return None;
    }
    let dot = if len >= 8 {
        find_dot(text)
    } else {
        text[start..]
            .iter()
            .position(|&c| c == b'.')
            .map_or(len, |p| p + start)
    };
    let frac_start = (dot + 1).min(len);
    let (int_len, frac_len) = (dot - start, len - frac_start);
    if int_len > 8 || frac_len > 8 || int_len + frac_len == 0 {
        return None;
    }
    let (iv, fv) = if len >= 8 {
        (
            digits_in_window(text, start, dot)?,
            digits_in_window(text, frac_start, len)?,
        )
    } else {
        (
            small_digits(&text[start..dot])?,
            small_digits(&text[frac_start..])?,
        )
    };
    // At most 16 digits in all: no overflow possible.
    let m = (iv as i64) * POW10[frac_len] + fv as i64;
    Some(Decimal {
        mantissa: if neg { -m } else { m },
        scale: frac_len as u8,
    })
}

#[inline(always)]
fn small_digits(d: &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for &c in d {
        let x = c.wrapping_sub(b'0');
        if x > 9 {
            return None;
        }
        v = v * 10 + x as u64;
    }
    Some(v)
}

/// The general parser: any length, exponents, every step checked.
fn parse_general(text: &[u8]) -> Result<Decimal, DecimalError> {
    let mut i = 0;
    let neg = match text.first() {
        Some(b'-') => {
            i = 1;
            true
        }
        Some(b'+') => {
            i = 1;
            false
        }
        _ => false,
    };
    // Magnitude; checked against the i64 range at the end.
    let mut mag: u64 = 0;
    let mut scale: i64 = 0;
    let mut digits = 0usize;
    let mut seen_dot = false;
    // Zeros after the point not folded into the mantissa yet: kept apart so that
    // "1.000000000000000000000" does not overflow needlessly.
    let mut pending_zeros: i64 = 0;
    while i < text.len() {
        let c = text[i];
        match c {
            b'0'..=b'9' => {
                digits += 1;
                let d = (c - b'0') as u64;
                if seen_dot && d == 0 {
                    pending_zeros += 1;
                } else {
                    if seen_dot {
                        for _ in 0..pending_zeros {
                            mag = mag.checked_mul(10).ok_or(DecimalError::Overflow)?;
                        }
                        scale += pending_zeros + 1;
                        pending_zeros = 0;
                    }
                    mag = mag
                        .checked_mul(10)
                        .and_then(|m| m.checked_add(d))
                        .ok_or(DecimalError::Overflow)?;
                }
            }
            b'.' if !seen_dot => seen_dot = true,
            b'e' | b'E' => break,
            _ => return Err(DecimalError::Syntax),
        }
        i += 1;
    }
    if digits == 0 {
        return Err(DecimalError::Syntax);
    }
    let mut exp: i64 = 0;
    if i < text.len() {
        i += 1;
        let eneg = match text.get(i) {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        let start = i;
        while i < text.len() {
            let c = text[i];
            if !c.is_ascii_digit() {
                return Err(DecimalError::Syntax);
            }
            exp = (exp * 10 + (c - b'0') as i64).min(EXP_LIMIT);
            i += 1;
        }
        if i == start {
            return Err(DecimalError::Syntax);
        }
        if eneg {
            exp = -exp;
        }
    }
    let limit: u64 = if neg {
        i64::MIN.unsigned_abs()
    } else {
        i64::MAX as u64
    };
    // Keep trailing zeros of the text in the scale while they fit.
    let mut keep = pending_zeros.min(MAX_SCALE as i64 - scale).max(0);
    while keep > 0 && mag <= limit / 10 {
        mag *= 10;
        scale += 1;
        keep -= 1;
    }
    scale -= exp;
    if scale < 0 {
        if mag != 0 {
            for _ in 0..-scale {
                mag = mag.checked_mul(10).ok_or(DecimalError::Overflow)?;
            }
        }
        scale = 0;
    }
    while scale > MAX_SCALE as i64 {
        if mag == 0 {
            scale = MAX_SCALE as i64;
            break;
        }
        if mag % 10 != 0 {
            return Err(DecimalError::ScaleTooLarge);
        }
        mag /= 10;
        scale -= 1;
    }
    if mag > limit {
        return Err(DecimalError::Overflow);
    }
    let mantissa = if neg {
        (mag as i64).wrapping_neg()
    } else {
        mag as i64
    };
    Ok(Decimal {
        mantissa,
        scale: scale as u8,
    })
}

impl PartialEq for Decimal {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Decimal {}

impl core::hash::Hash for Decimal {
    /// Hashes the normalized value, so equal values at different scales hash alike.
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        let n = self.normalize();
        n.mantissa.hash(state);
        n.scale.hash(state);
    }
}

impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Decimal {
    /// Numeric order; scales may differ (compared exactly in 128-bit arithmetic).
    fn cmp(&self, other: &Self) -> Ordering {
        if self.scale == other.scale {
            return self.mantissa.cmp(&other.mantissa);
        }
        let s = self.scale.max(other.scale);
        let a = self.mantissa as i128 * POW10[(s - self.scale) as usize] as i128;
        let b = other.mantissa as i128 * POW10[(s - other.scale) as usize] as i128;
        a.cmp(&b)
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 48];
        f.pad(self.write_to(&mut buf))
    }
}

impl core::str::FromStr for Decimal {
    type Err = DecimalError;
    fn from_str(s: &str) -> Result<Decimal, DecimalError> {
        Decimal::parse(s.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(s: &str) -> Decimal {
        Decimal::parse(s.as_bytes()).unwrap()
    }

    fn parts(d: Decimal) -> (i64, u8) {
        (d.mantissa(), d.scale())
    }

    #[test]
    fn parses_and_renders_exactly() {
        for s in [
            "0.00000001",
            "123456789012.5",
            "43250.12",
            "-1.5",
            "0",
            "7",
            "61837.63000000",
            "0.00000000",
            "9223372036854775807",
            "-9223372036854775808",
            "-0.000000000000000001",
            "92233720.36854775807",
        ] {
            assert_eq!(p(s).to_string(), s);
        }
        assert_eq!(parts(p("5.325e-05")), (5325, 8));
        assert_eq!(p("5.325e-05").to_string(), "0.00005325");
        assert_eq!(p("1E3").to_string(), "1000");
        assert_eq!(p("0.0").scale(), 1);
        assert_eq!(parts(p("+2.50")), (250, 2));
        assert_eq!(parts(p("1.")), (1, 0));
        assert_eq!(parts(p(".5")), (5, 1));
        assert_eq!(parts(p("1.0e-18")), (1, 18));
        assert_eq!(parts(p("1.500e2")), (1500, 1));
    }

    #[test]
    fn rejects_garbage_and_overflow() {
        for s in [
            "",
            "-",
            ".",
            "-.",
            "1.2.3",
            "abc",
            "1e",
            "1e+",
            "--1",
            "1 ",
            " 1",
            "1-",
            "0x10",
            "1e5.5",
            "12345678.1234567a",
            "1234567a.12345678",
            "-+1",
        ] {
            assert_eq!(
                Decimal::parse(s.as_bytes()),
                Err(DecimalError::Syntax),
                "{s:?}"
            );
        }
        for s in [
            "99999999999999999999",
            "9223372036854775808",
            "-9223372036854775809",
            "1e30",
            "1e999999999999999999999",
            "18446744073709551616",
        ] {
            assert_eq!(
                Decimal::parse(s.as_bytes()),
                Err(DecimalError::Overflow),
                "{s:?}"
            );
        }
        assert_eq!(Decimal::parse(b"1e-30"), Err(DecimalError::ScaleTooLarge));
        assert_eq!(
            Decimal::parse(b"0.0000000000000000001"),
            Err(DecimalError::ScaleTooLarge)
        );
    }

    #[test]
    fn huge_exponents_are_bounded_work() {
        // Zero with absurd exponents: no loop proportional to the exponent, no overflow.
        assert_eq!(parts(p("0e999999999999")), (0, 0));
        assert_eq!(parts(p("0e-999999999999")), (0, 18));
        assert_eq!(parts(p("0.000e-99999")), (0, 18));
        assert_eq!(
            Decimal::parse(b"5e-999999999999"),
            Err(DecimalError::ScaleTooLarge)
        );
        let long_zeros = format!("1.{}", "0".repeat(100_000));
        assert_eq!(parts(p(&long_zeros)), (1_000_000_000_000_000_000, 18));
    }

    #[test]
    fn orders_across_scales() {
        assert!(p("1.5") > p("1.49999"));
        assert_eq!(p("1.50"), p("1.5"));
        assert_eq!(p("1.50").normalize().to_string(), "1.5");
        assert_eq!(p("2").rescale(3).unwrap().to_string(), "2.000");
        assert_eq!(p("2.001").rescale(2), Err(DecimalError::ScaleTooLarge));
        assert_eq!(p("9.5").rescale(18), Err(DecimalError::Overflow));
        assert_eq!(p("2.10").mantissa_at(1), Ok(21));
        assert_eq!(p("2.10").mantissa_at(2), Ok(210));
        assert!(Decimal::from_parts(i64::MIN, 18) < Decimal::from_parts(i64::MAX, 0));
    }

    #[test]
    fn fit_scale_drops_only_trailing_zeros() {
        // Exact values written with more zeros than a scale of 15 holds (issue 18 item 10).
        assert_eq!(
            parts(p("1.0000000000000000").fit_scale(15).unwrap()),
            (1_000_000_000_000_000, 15)
        );
        assert_eq!(parts(p("27630E-16").fit_scale(15).unwrap()), (2763, 15));
        assert_eq!(parts(p("0E-18").fit_scale(15).unwrap()), (0, 15));
        assert_eq!(
            parts(p("-5.000000000000000000").fit_scale(15).unwrap()),
            (-5_000_000_000_000_000, 15)
        );
        // Within the limit: untouched, trailing zeros kept.
        assert_eq!(parts(p("1.50").fit_scale(15).unwrap()), (150, 2));
        // A digit beyond the limit is not dropped.
        assert_eq!(
            p("0.0000000000000001").fit_scale(15),
            Err(DecimalError::ScaleTooLarge)
        );
        assert_eq!(
            p("27631E-16").fit_scale(15),
            Err(DecimalError::ScaleTooLarge)
        );
    }

    #[test]
    fn from_parts_clamps_bad_scales() {
        let d = Decimal::from_parts(5, 200);
        assert_eq!(d.scale(), MAX_SCALE);
        assert_eq!(d.to_string(), "0.000000000000000005");
    }

    #[test]
    fn fast_path_matches_slow_path_on_market_shapes() {
        for s in [
            "61837.63000000",
            "0.00000000",
            "12345678.12345678",
            "-12345678.12345678",
            "1.2",
            "123",
            "1234567.",
            ".1234567",
            "00000000.00000001",
            "9999999999999999",
            "99999999.99999999",
            "-99999999.99999999",
            "12345678.123456789",
            "1234567.1234567",
        ] {
            assert_eq!(
                parts(Decimal::parse(s.as_bytes()).unwrap()),
                parts(Decimal::parse_slow(s.as_bytes()).unwrap()),
                "{s}"
            );
        }
    }

    /// Canonical decimal text: no leading zeros, no negative zero, any trailing zeros.
    fn canonical() -> impl Strategy<Value = String> {
        (
            any::<bool>(),
            "[1-9][0-9]{0,9}|0",
            proptest::option::of("[0-9]{1,8}"),
        )
            .prop_map(|(neg, int, frac)| {
                let mut s = String::new();
                let zero =
                    int == "0" && frac.as_deref().is_none_or(|f| f.bytes().all(|b| b == b'0'));
                if neg && !zero {
                    s.push('-');
                }
                s.push_str(&int);
                if let Some(f) = frac {
                    s.push('.');
                    s.push_str(&f);
                }
                s
            })
    }

    proptest! {
        #[test]
        fn text_round_trips(s in canonical()) {
            let d = Decimal::parse(s.as_bytes()).unwrap();
            prop_assert_eq!(d.to_string(), s);
        }

        #[test]
        fn parts_round_trip(m in any::<i64>(), scale in 0u8..=MAX_SCALE) {
            let d = Decimal::new(m, scale).unwrap();
            let text = d.to_string();
            let back = Decimal::parse(text.as_bytes()).unwrap();
            prop_assert_eq!(parts(back), (m, scale));
        }

        #[test]
        fn fast_and_slow_paths_agree(s in "[-+]?[0-9.eE+-]{0,24}") {
            prop_assert_eq!(
                Decimal::parse(s.as_bytes()).map(parts),
                Decimal::parse_slow(s.as_bytes()).map(parts)
            );
        }

        #[test]
        fn fast_and_slow_paths_agree_on_bytes(b in proptest::collection::vec(any::<u8>(), 0..20)) {
            prop_assert_eq!(
                Decimal::parse(&b).map(parts),
                Decimal::parse_slow(&b).map(parts)
            );
        }

        #[test]
        fn exponent_form_is_exact(m in -99_999_999i64..99_999_999, e in -10i32..10) {
            let d = Decimal::parse(format!("{m}e{e}").as_bytes()).unwrap();
            // m × 10^e == mantissa × 10^-scale, cross-multiplied in i128.
            let (lhs, rhs) = (
                m as i128 * 10i128.pow((e.max(0) + d.scale() as i32) as u32),
                d.mantissa() as i128 * 10i128.pow((-e).max(0) as u32),
            );
            prop_assert_eq!(lhs, rhs);
        }

        #[test]
        fn fast_and_slow_paths_agree_on_plain_shapes(
            s in "-?[0-9]{0,10}[.]?[0-9]{0,10}",
            flip in proptest::option::of((0usize..24, any::<u8>())),
        ) {
            let mut b = s.into_bytes();
            if let Some((i, v)) = flip {
                if i < b.len() {
                    b[i] = v;
                }
            }
            prop_assert_eq!(
                Decimal::parse(&b).map(parts),
                Decimal::parse_slow(&b).map(parts)
            );
        }

        #[test]
        fn order_matches_i128(a in any::<i64>(), sa in 0u8..=MAX_SCALE, b in any::<i64>(), sb in 0u8..=MAX_SCALE) {
            let (x, y) = (Decimal::from_parts(a, sa), Decimal::from_parts(b, sb));
            // Compare a/10^sa with b/10^sb exactly by cross-multiplying in i128 where it fits.
            let s = sa.max(sb);
            let ax = a as i128 * 10i128.pow((s - sa) as u32);
            let bx = b as i128 * 10i128.pow((s - sb) as u32);
            prop_assert_eq!(x.cmp(&y), ax.cmp(&bx));
        }
    }
}
