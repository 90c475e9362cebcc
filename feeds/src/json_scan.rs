//! The hand JSON cursor the Bybit, Kraken and Coinbase decoders share: it reads a frame
//! where it lies (never writes to it), in any key order, and checks the grammar of what it
//! reads; [`plain_decimal`] is their exact reader of a price or size text.
//!
//! Venue-specific readers are further `impl Cur` blocks in the venue's decoder.

use tickwire_engine::event::MAX_EVENT_SCALE;
use tickwire_engine::{Decimal, Reason};

pub(crate) type R<T> = Result<T, Reason>;

/// Deepest nesting the scanner follows in values it skips.
pub(crate) const MAX_DEPTH: u32 = 64;

/// A position in the message.
pub(crate) struct Cur<'a> {
    pub(crate) b: &'a [u8],
    pub(crate) i: usize,
}

impl<'a> Cur<'a> {
    #[inline(always)]
    pub(crate) fn ws(&mut self) {
        while let Some(&c) = self.b.get(self.i) {
            if matches!(c, b' ' | b'\n' | b'\r' | b'\t') {
                self.i += 1;
            } else {
                break;
            }
        }
    }

    #[inline(always)]
    pub(crate) fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.b.get(self.i).copied()
    }

    #[inline(always)]
    pub(crate) fn eat(&mut self, c: u8) -> R<()> {
        if self.b.get(self.i) == Some(&c) {
            self.i += 1;
            return Ok(());
        }
        self.ws();
        if self.b.get(self.i) == Some(&c) {
            self.i += 1;
            Ok(())
        } else {
            Err(Reason::Json)
        }
    }

    #[inline(always)]
    pub(crate) fn try_eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    /// A string value's raw bytes (escapes left as they are); [`Reason::Schema`] when the
    /// value is not a string.
    #[inline(always)]
    pub(crate) fn string(&mut self) -> R<&'a [u8]> {
        if self.b.get(self.i) != Some(&b'"') {
            self.ws();
            if self.b.get(self.i) != Some(&b'"') {
                return Err(Reason::Schema);
            }
        }
        let start = self.i + 1;
        let mut j = start;
        while let Some(&c) = self.b.get(j) {
            match c {
                b'"' => {
                    self.i = j + 1;
                    return Ok(&self.b[start..j]);
                }
                b'\\' => j += 2,
                0..0x20 => return Err(Reason::Json),
                _ => j += 1,
            }
        }
        Err(Reason::Json)
    }

    /// A price or size string (`"16493.50"`) read where it lies: one scan to the closing
    /// quote that only classifies bytes (digits and at most one point: the usual shape),
    /// then the engine's SWAR conversion ([`Decimal::parse`], eight digits at a time, no
    /// digit-by-digit multiply chain). Anything else (an exponent, escapes, a leading zero,
    /// a sign) goes to [`plain_decimal`], which gives the same answer for every input
    /// (checked by a test over generated texts).
    #[inline(always)]
    pub(crate) fn decimal(&mut self) -> R<Decimal> {
        let b = self.b;
        if b.get(self.i) != Some(&b'"') {
            self.ws();
            if b.get(self.i) != Some(&b'"') {
                return Err(Reason::Schema);
            }
        }
        let start = self.i + 1;
        let mut j = start;
        let mut dot = usize::MAX;
        loop {
            match b.get(j) {
                Some(b'0'..=b'9') => j += 1,
                Some(b'.') if dot == usize::MAX => {
                    dot = j;
                    j += 1;
                }
                Some(b'"') => break,
                _ => return self.decimal_slow(),
            }
        }
        let len = j - start;
        let leading_zero = len > 1 && b[start] == b'0' && dot != start + 1;
        if len == 0 || dot == start || dot == j - 1 || leading_zero {
            return self.decimal_slow();
        }
        self.i = j + 1;
        Decimal::parse(&b[start..j])
            .and_then(|d| d.fit_scale(MAX_EVENT_SCALE))
            .map_err(|_| Reason::Number)
    }

    #[cold]
    #[inline(never)]
    fn decimal_slow(&mut self) -> R<Decimal> {
        plain_decimal(self.string()?)
    }

    /// A JSON number's text (grammar checked).
    pub(crate) fn number(&mut self) -> R<&'a [u8]> {
        self.ws();
        let start = self.i;
        let b = self.b;
        let mut j = start;
        if b.get(j) == Some(&b'-') {
            j += 1;
        }
        match b.get(j) {
            Some(b'0') => j += 1,
            Some(b'1'..=b'9') => {
                while b.get(j).is_some_and(u8::is_ascii_digit) {
                    j += 1;
                }
            }
            _ => return Err(Reason::Json),
        }
        if b.get(j) == Some(&b'.') {
            j += 1;
            if !b.get(j).is_some_and(u8::is_ascii_digit) {
                return Err(Reason::Json);
            }
            while b.get(j).is_some_and(u8::is_ascii_digit) {
                j += 1;
            }
        }
        if matches!(b.get(j), Some(b'e' | b'E')) {
            j += 1;
            if matches!(b.get(j), Some(b'+' | b'-')) {
                j += 1;
            }
            if !b.get(j).is_some_and(u8::is_ascii_digit) {
                return Err(Reason::Json);
            }
            while b.get(j).is_some_and(u8::is_ascii_digit) {
                j += 1;
            }
        }
        self.i = j;
        Ok(&b[start..j])
    }

    /// A non-negative integer that fits u64: [`Reason::Schema`] for another value type,
    /// [`Reason::Number`] for a number that is not one.
    #[inline(always)]
    pub(crate) fn u64(&mut self) -> R<u64> {
        self.ws();
        let b = self.b;
        let mut j = self.i;
        let mut v: u64 = 0;
        match b.get(j) {
            Some(b'1'..=b'9') => {}
            Some(b'0') => {
                self.i += 1;
                return match b.get(self.i) {
                    Some(b'.' | b'e' | b'E' | b'0'..=b'9') => Err(Reason::Number),
                    _ => Ok(0),
                };
            }
            Some(b'-') => return Err(Reason::Number),
            _ => return Err(Reason::Schema),
        }
        while let Some(&c) = b.get(j) {
            if !c.is_ascii_digit() {
                break;
            }
            v = v
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(c - b'0')))
                .ok_or(Reason::Number)?;
            j += 1;
        }
        if matches!(b.get(j), Some(b'.' | b'e' | b'E')) {
            return Err(Reason::Number);
        }
        self.i = j;
        Ok(v)
    }

    pub(crate) fn bool(&mut self) -> R<bool> {
        self.ws();
        if self.b[self.i..].starts_with(b"true") {
            self.i += 4;
            Ok(true)
        } else if self.b[self.i..].starts_with(b"false") {
            self.i += 5;
            Ok(false)
        } else {
            Err(Reason::Schema)
        }
    }

    /// Skips any value, checking its grammar.
    pub(crate) fn skip(&mut self, depth: u32) -> R<()> {
        if depth > MAX_DEPTH {
            return Err(Reason::Json);
        }
        match self.peek() {
            Some(b'"') => self.string().map(|_| ()),
            Some(b'{') => {
                self.i += 1;
                if self.try_eat(b'}') {
                    return Ok(());
                }
                loop {
                    self.ws();
                    self.string().map_err(|_| Reason::Json)?;
                    self.eat(b':')?;
                    self.skip(depth + 1)?;
                    if self.try_eat(b',') {
                        continue;
                    }
                    return self.eat(b'}');
                }
            }
            Some(b'[') => {
                self.i += 1;
                if self.try_eat(b']') {
                    return Ok(());
                }
                loop {
                    self.skip(depth + 1)?;
                    if self.try_eat(b',') {
                        continue;
                    }
                    return self.eat(b']');
                }
            }
            Some(b't') if self.b[self.i..].starts_with(b"true") => {
                self.i += 4;
                Ok(())
            }
            Some(b'f') if self.b[self.i..].starts_with(b"false") => {
                self.i += 5;
                Ok(())
            }
            Some(b'n') if self.b[self.i..].starts_with(b"null") => {
                self.i += 4;
                Ok(())
            }
            _ => self.number().map(|_| ()),
        }
    }

    /// Reads `{"key": value, ...}`, calling `f` with each key and the cursor at its value
    /// (which `f` must consume).
    #[inline(always)]
    pub(crate) fn object(&mut self, mut f: impl FnMut(&mut Cur<'a>, &'a [u8]) -> R<()>) -> R<()> {
        match self.peek() {
            Some(b'{') => self.i += 1,
            _ => return Err(Reason::Schema),
        }
        if self.try_eat(b'}') {
            return Ok(());
        }
        loop {
            let key = self.string().map_err(|_| Reason::Json)?;
            self.eat(b':')?;
            f(self, key)?;
            if self.try_eat(b',') {
                continue;
            }
            return self.eat(b'}');
        }
    }
}

/// Whether `payload` is one valid JSON document (UTF-8 included). Error path only.
#[cold]
pub(crate) fn valid_json(payload: &[u8]) -> bool {
    if std::str::from_utf8(payload).is_err() {
        return false;
    }
    let mut c = Cur { b: payload, i: 0 };
    if c.skip(0).is_err() {
        return false;
    }
    c.ws();
    c.i == payload.len()
}

/// A price or size text (Bybit `"16493.50"`, Kraken `84205.0`, Coinbase `"0"`): an unsigned JSON-number
/// text (no sign, no leading zero before a digit, digits after a point, an exponent allowed),
/// exact; trailing zeros past [`MAX_EVENT_SCALE`] dropped. Anything else is
/// [`Reason::Number`].
#[inline(always)]
pub(crate) fn plain_decimal(text: &[u8]) -> R<Decimal> {
    match text {
        [b'0', b'0'..=b'9', ..] => return Err(Reason::Number),
        [b'0'..=b'9', ..] => {}
        _ => return Err(Reason::Number),
    }
    if let Some(dot) = text.iter().position(|&c| c == b'.') {
        if !text.get(dot + 1).is_some_and(u8::is_ascii_digit) {
            return Err(Reason::Number);
        }
    }
    Decimal::parse(text)
        .and_then(|d| d.fit_scale(MAX_EVENT_SCALE))
        .map_err(|_| Reason::Number)
}
