//! Binance's number rule, shared by the tape decoder and the hot scanner.

use tickwire_engine::Decimal;
use tickwire_engine::event::MAX_EVENT_SCALE;

/// A price or quantity string as Binance may send it, or `None` (a [`Reason::Number`](tickwire_engine::Reason::Number) error).
///
/// Binance sends prices and quantities as fixed-decimal strings (`"61837.63000000"`,
/// `"0.00000000"`, `"61800.30"`): never negative, no sign. The string must read as a JSON
/// number without its minus sign: `0` or a digit 1-9 then digits (no leading zero:
/// `"0320996000"` is a corrupted value, not 320996000), optionally `.` and at least one digit,
/// optionally an exponent (JSON allows one; exact either way). Trailing zeros past
/// [`MAX_EVENT_SCALE`] are dropped (`"1.0000000000000000"` is 1); other digits past it do not
/// fit an event.
#[inline]
pub(super) fn binance_decimal(text: &[u8]) -> Option<Decimal> {
    match text {
        [b'0', b'0'..=b'9', ..] => return None,
        [b'0'..=b'9', ..] => {}
        _ => return None,
    }
    if let Some(dot) = text.iter().position(|&c| c == b'.') {
        if !text.get(dot + 1).is_some_and(u8::is_ascii_digit) {
            return None;
        }
    }
    Decimal::parse(text)
        .and_then(|d| d.fit_scale(MAX_EVENT_SCALE))
        .ok()
}
