//! Exact decimals: an `i64` mantissa and a base-10 scale, parsed straight from venue text.
//!
//! `"0.00000001"` is `(1, 8)`, `"123456789012.5"` is `(1234567890125, 1)`, `"5.325e-05"` is
//! `(5325, 8)`. No floating point is involved anywhere, so a value survives a round trip to
//! text unchanged (up to trailing zeros, which [`Decimal::normalize`] removes). Values that
//! do not fit in an `i64` mantissa or a scale of [`MAX_SCALE`] are an error, never a wrap.

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

    /// Builds a decimal from its parts. A scale above [`MAX_SCALE`] is clamped by
    /// [`Decimal::new`]; this constructor trusts the caller (used for values already checked).
    #[inline]
    pub const fn from_parts(mantissa: i64, scale: u8) -> Decimal {
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

    /// Parses a decimal from ASCII text: an optional sign, digits with an optional `.`, and an
    /// optional exponent (`e`/`E`, as JSON numbers allow). Trailing fractional zeros are kept
    /// (the scale reflects the text) as long as they fit; beyond [`MAX_SCALE`] they are dropped
    /// if they are zeros.
    pub fn parse(text: &[u8]) -> Result<Decimal, DecimalError> {
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
        let mut mantissa: i64 = 0;
        let mut scale: i32 = 0;
        let mut digits = 0usize;
        let mut seen_dot = false;
        // Zeros after the point that have not been folded into the mantissa yet: kept apart so
        // that "1.000000000000000000000" does not overflow needlessly.
        let mut pending_zeros: i32 = 0;
        while i < text.len() {
            let c = text[i];
            match c {
                b'0'..=b'9' => {
                    digits += 1;
                    let d = (c - b'0') as i64;
                    if seen_dot {
                        if d == 0 {
                            pending_zeros += 1;
                        } else {
                            for _ in 0..pending_zeros {
                                mantissa =
                                    mantissa.checked_mul(10).ok_or(DecimalError::Overflow)?;
                            }
                            scale += pending_zeros + 1;
                            pending_zeros = 0;
                            mantissa = mantissa
                                .checked_mul(10)
                                .and_then(|m| m.checked_add(d))
                                .ok_or(DecimalError::Overflow)?;
                        }
                    } else {
                        mantissa = mantissa
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
        let mut exp: i32 = 0;
        if i < text.len() {
            // exponent
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
                exp = exp.saturating_mul(10).saturating_add((c - b'0') as i32);
                i += 1;
            }
            if i == start {
                return Err(DecimalError::Syntax);
            }
            if eneg {
                exp = -exp;
            }
        }
        // Keep trailing zeros of the text in the scale while they fit.
        let keep = pending_zeros.min(MAX_SCALE as i32 - scale).max(0);
        for _ in 0..keep {
            match mantissa.checked_mul(10) {
                Some(m) => {
                    mantissa = m;
                    scale += 1;
                }
                None => break,
            }
        }
        scale -= exp;
        if scale < 0 {
            for _ in 0..-scale {
                mantissa = mantissa.checked_mul(10).ok_or(DecimalError::Overflow)?;
            }
            scale = 0;
        }
        while scale > MAX_SCALE as i32 {
            if mantissa % 10 != 0 {
                return Err(DecimalError::ScaleTooLarge);
            }
            mantissa /= 10;
            scale -= 1;
        }
        if neg {
            mantissa = -mantissa;
        }
        Ok(Decimal {
            mantissa,
            scale: scale as u8,
        })
    }

    /// Parses `text` (as [`Decimal::parse`]) straight into a fixed `scale`, rejecting values
    /// whose precision does not fit. Faster path for venues with known tick sizes.
    #[inline]
    pub fn parse_with_scale(text: &[u8], scale: u8) -> Result<Decimal, DecimalError> {
        Decimal::parse(text)?.rescale(scale)
    }

    /// Writes the exact decimal text into `buf` and returns it (`-0.00000001`, `43250.12`).
    /// The buffer holds any `i64` mantissa at any scale.
    pub fn write_to<'b>(&self, buf: &'b mut [u8; 48]) -> &'b str {
        let neg = self.mantissa < 0;
        let mut m = self.mantissa.unsigned_abs();
        let mut pos = buf.len();
        let mut n = 0u8;
        loop {
            pos -= 1;
            buf[pos] = b'0' + (m % 10) as u8;
            m /= 10;
            n += 1;
            if n == self.scale {
                pos -= 1;
                buf[pos] = b'.';
            }
            if m == 0 && n > self.scale {
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

    fn p(s: &str) -> Decimal {
        Decimal::parse(s.as_bytes()).unwrap()
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
        ] {
            assert_eq!(p(s).to_string(), s);
        }
        assert_eq!(p("5.325e-05"), Decimal::from_parts(5325, 8));
        assert_eq!(p("5.325e-05").to_string(), "0.00005325");
        assert_eq!(p("1E3").to_string(), "1000");
        assert_eq!(p("0.0").scale(), 1);
    }

    #[test]
    fn rejects_garbage_and_overflow() {
        for s in ["", "-", ".", "1.2.3", "abc", "1e", "1e+", "--1", "1 "] {
            assert_eq!(
                Decimal::parse(s.as_bytes()),
                Err(DecimalError::Syntax),
                "{s:?}"
            );
        }
        assert_eq!(
            Decimal::parse(b"99999999999999999999"),
            Err(DecimalError::Overflow)
        );
        assert_eq!(Decimal::parse(b"1e30"), Err(DecimalError::Overflow));
        assert_eq!(Decimal::parse(b"1e-30"), Err(DecimalError::ScaleTooLarge));
    }

    #[test]
    fn orders_across_scales() {
        assert!(p("1.5") > p("1.49999"));
        assert_eq!(p("1.50"), p("1.5"));
        assert_eq!(p("1.50").normalize().to_string(), "1.5");
        assert_eq!(p("2").rescale(3).unwrap().to_string(), "2.000");
        assert_eq!(p("2.001").rescale(2), Err(DecimalError::ScaleTooLarge));
    }
}
