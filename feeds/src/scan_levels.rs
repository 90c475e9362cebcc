//! The fast read of one depth level in the shapes Bybit and OKX send: `["p","q"]` (Bybit)
//! and `["p","q","x","n"]` (OKX: price, size, a legacy `"0"` and the order count), no
//! whitespace, no escapes, each decimal of 1 to 7 integer digits (no leading zero before
//! another digit) and none or 1 to 8 fraction digits.
//!
//! Built on Binance's level scanner ([`crate::binance::scan`]): with SSE (`cfg(sse_scan)`,
//! see `build.rs`) the quotes of a whole level come from one bitmask and each decimal is
//! converted by its shuffle and multiply-adds, with the previous level's shape per column
//! ([`Shapes`]); elsewhere each decimal is read by the SWAR window reader. Both answer
//! alike.
//!
//! A reader here never decides anything it is unsure of: on any other input (whitespace,
//! escapes, exponents, longer numbers, malformed text) it answers `None` and the venue's
//! general reader reads the level instead (and classifies any error). Where it answers, the
//! values are the ones [`tickwire_engine::Decimal::parse`] gives for the same text, which is
//! what both venues' general readers give in that subset (tested against them in each
//! venue's decoder).

use tickwire_engine::Decimal;

use crate::binance::scan::hot::window_decimal_swar;

#[cfg(sse_scan)]
#[allow(unsafe_code)]
mod simd;

/// One read level: price, quantity, the index just past its `]`, and the byte there (0 past
/// the end of the buffer).
pub(crate) type Read = (Decimal, Decimal, usize, u8);

/// What a level array's reads carry from level to level (SSE: the last shape of each
/// column, see `binance::scan::simd::Shape`; nothing in SWAR builds).
#[derive(Clone, Copy)]
pub(crate) struct Shapes {
    #[cfg(sse_scan)]
    s: [crate::binance::scan::simd::Shape; 2],
}

impl Shapes {
    /// No shape known yet (the start of a level array).
    #[inline(always)]
    pub(crate) fn new() -> Shapes {
        Shapes {
            #[cfg(sse_scan)]
            s: [crate::binance::scan::simd::Shape::new(); 2],
        }
    }
}

/// A Bybit level `["p","q"]` at `b[i..]` (`b[i]` its `[`), or `None`. With SSE, a level
/// the one-mask read declines (over 32 bytes) is read field by field before giving up.
#[inline(always)]
pub(crate) fn pair(b: &[u8], i: usize, shapes: &mut Shapes) -> Option<Read> {
    #[cfg(sse_scan)]
    {
        match crate::binance::scan::simd::level(b, i, &mut shapes.s) {
            Some(r) => Some(r),
            None => pair_cold(b, i),
        }
    }
    #[cfg(not(sse_scan))]
    {
        let _ = shapes;
        pair_swar(b, i)
    }
}

/// An OKX level `["p","q","x","n"]` (exactly four strings; the last two any text without
/// escapes or control characters) at `b[i..]`, or `None`. With SSE, a level the one-mask
/// read declines (over 64 bytes) is read field by field before giving up.
#[inline(always)]
pub(crate) fn quad(b: &[u8], i: usize, shapes: &mut Shapes) -> Option<Read> {
    #[cfg(sse_scan)]
    {
        match simd::quad(b, i, &mut shapes.s) {
            Some(r) => Some(r),
            None => quad_cold(b, i),
        }
    }
    #[cfg(not(sse_scan))]
    {
        let _ = shapes;
        quad_swar(b, i)
    }
}

#[cfg(sse_scan)]
#[cold]
#[inline(never)]
fn pair_cold(b: &[u8], i: usize) -> Option<Read> {
    pair_swar(b, i)
}

#[cfg(sse_scan)]
#[cold]
#[inline(never)]
fn quad_cold(b: &[u8], i: usize) -> Option<Read> {
    quad_swar(b, i)
}

/// The 18 bytes at `b[i..]`, zero-padded past the end (a zero byte is never a digit, point
/// or quote, so a decimal running past the end is refused).
#[inline(always)]
fn window18(b: &[u8], i: usize) -> [u8; 18] {
    match b.get(i..i + 18) {
        Some(w) => {
            let mut a = [0u8; 18];
            a.copy_from_slice(w);
            a
        }
        None => {
            let mut a = [0u8; 18];
            let rest = b.get(i..).unwrap_or_default();
            a[..rest.len()].copy_from_slice(rest);
            a
        }
    }
}

/// `"p","q"` from `b[i]` (the price's opening quote): price, quantity, the index past the
/// quantity's closing quote.
#[inline(always)]
fn two_decimals(b: &[u8], i: usize) -> Option<(Decimal, Decimal, usize)> {
    let (pl, price) = window_decimal_swar(&window18(b, i))?;
    let j = i + pl + 2;
    if *b.get(j)? != b',' {
        return None;
    }
    let (ql, qty) = window_decimal_swar(&window18(b, j + 1))?;
    Some((price, qty, j + 1 + ql + 2))
}

/// [`pair`] field by field with the SWAR decimal reader.
#[inline(always)]
pub(crate) fn pair_swar(b: &[u8], i: usize) -> Option<Read> {
    if *b.get(i)? != b'[' {
        return None;
    }
    let (price, qty, k) = two_decimals(b, i + 1)?;
    if *b.get(k)? != b']' {
        return None;
    }
    Some((price, qty, k + 1, b.get(k + 1).copied().unwrap_or(0)))
}

/// [`quad`] field by field with the SWAR decimal reader.
#[inline(always)]
pub(crate) fn quad_swar(b: &[u8], i: usize) -> Option<Read> {
    if *b.get(i)? != b'[' {
        return None;
    }
    let (price, qty, mut k) = two_decimals(b, i + 1)?;
    for _ in 0..2 {
        if b.get(k..k + 2)? != b",\"" {
            return None;
        }
        k += 2;
        loop {
            match *b.get(k)? {
                b'"' => break,
                c if c < 0x20 || c == b'\\' => return None,
                _ => k += 1,
            }
        }
        k += 1;
    }
    if *b.get(k)? != b']' {
        return None;
    }
    Some((price, qty, k + 1, b.get(k + 1).copied().unwrap_or(0)))
}

/// Generated level arrays for the venues' equivalence tests (fast path against their
/// general readers): mostly the plain shape, with whitespace, escapes, exponents, other
/// number shapes, other arities and malformed bytes mixed in.
#[cfg(test)]
pub(crate) mod generate {
    /// A xorshift generator (deterministic).
    pub(crate) struct Rng(pub(crate) u64);

    impl Rng {
        pub(crate) fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: u64) -> usize {
            (self.next() % n) as usize
        }

        fn digits(&mut self, b: &mut Vec<u8>, n: usize) {
            for _ in 0..n {
                b.push(b'0' + self.below(10) as u8);
            }
        }
    }

    /// Texts that are not the plain shape (each venue's reader decides what they are).
    const ODD_VALUES: &[&str] = &[
        "\"1e5\"",
        "\"1.5E-3\"",
        "\"2e+2\"",
        "\"\\u0031\"",
        "\"1\\u002e5\"",
        "\"01\"",
        "\"00.5\"",
        "\"0.5\"",
        "\"0\"",
        "\"-1\"",
        "\"+1\"",
        "\"\"",
        "\".5\"",
        "\"1.\"",
        "\"1..2\"",
        "\"12345678901234567890\"",
        "\"1234567890123456789\"",
        "\"0.0000000000000000001\"",
        "\"1.0000000000000000\"",
        "\"12345678.5\"",
        "\"1.123456789\"",
        "1.5",
        "15",
        "null",
        "true",
        "\"1.5",
        "\"\\\"\"",
        "[]",
        "{}",
    ];

    const SPACE: &[u8] = b" \n\t\r";
    const ODD_BYTES: &[u8] = b"\"\\ ,[]{}:.-+eE0\x01\x1f\x7f\x80\xff";

    /// A decimal string in the plain shape (sometimes longer than the fast path takes).
    fn plain(r: &mut Rng, b: &mut Vec<u8>) {
        b.push(b'"');
        let int = if r.below(8) == 0 {
            1 + r.below(12)
        } else {
            1 + r.below(6)
        };
        if r.below(6) == 0 {
            b.push(b'0');
        } else {
            let d = b'1' + r.below(9) as u8;
            b.push(d);
            r.digits(b, int - 1);
        }
        if r.below(4) != 0 {
            b.push(b'.');
            let frac = if r.below(8) == 0 {
                r.below(14)
            } else {
                1 + r.below(8)
            };
            r.digits(b, frac);
        }
        b.push(b'"');
    }

    /// One value of a level: mostly plain, sometimes odd.
    fn value(r: &mut Rng, b: &mut Vec<u8>, odd: bool) {
        if odd && r.below(12) == 0 {
            b.extend_from_slice(ODD_VALUES[r.below(ODD_VALUES.len() as u64)].as_bytes());
        } else {
            plain(r, b);
        }
    }

    /// Whitespace, rarely.
    fn space(r: &mut Rng, b: &mut Vec<u8>, odd: bool) {
        if odd && r.below(40) == 0 {
            for _ in 0..1 + r.below(2) {
                b.push(SPACE[r.below(SPACE.len() as u64)]);
            }
        }
    }

    /// A level array of `strings` strings a level (2: Bybit, 4: OKX; sometimes another
    /// count), then text as a message goes on. `odd`: mix in the unusual (else every level
    /// is plain, though some longer than the fast path takes); one array in five is also
    /// damaged (a byte replaced, inserted or removed, or cut short).
    pub(crate) fn levels(r: &mut Rng, strings: usize, odd: bool) -> Vec<u8> {
        let mut b = Vec::new();
        space(r, &mut b, odd);
        b.push(b'[');
        let n = r.below(8);
        for k in 0..n {
            if k > 0 {
                space(r, &mut b, odd);
                b.push(b',');
            }
            space(r, &mut b, odd);
            b.push(b'[');
            let count = if odd && r.below(30) == 0 {
                r.below(6)
            } else {
                strings
            };
            for j in 0..count {
                if j > 0 {
                    space(r, &mut b, odd);
                    b.push(b',');
                }
                space(r, &mut b, odd);
                if j < 2 {
                    value(r, &mut b, odd);
                } else if odd && r.below(20) == 0 {
                    value(r, &mut b, true);
                } else {
                    b.push(b'"');
                    let n = 1 + r.below(3);
                    r.digits(&mut b, n);
                    b.push(b'"');
                }
            }
            space(r, &mut b, odd);
            b.push(b']');
        }
        space(r, &mut b, odd);
        b.push(b']');
        b.extend_from_slice(b",\"ts\":\"1723161255308\",\"seq\":5}]}");
        if odd && r.below(5) == 0 {
            let p = r.below(b.len() as u64);
            match r.below(4) {
                0 => b[p] = ODD_BYTES[r.below(ODD_BYTES.len() as u64)],
                1 => b.insert(p, ODD_BYTES[r.below(ODD_BYTES.len() as u64)]),
                2 => {
                    b.remove(p);
                }
                _ => b.truncate(p),
            }
        }
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(r: Option<Read>) -> Option<(i64, u8, i64, u8, usize, u8)> {
        r.map(|(p, q, e, s)| (p.mantissa(), p.scale(), q.mantissa(), q.scale(), e, s))
    }

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    const ODD: &[u8] = b"\"./:-+eE \0\x7f\x80\xff,[]}\\0\n";

    /// A random level of `strings` strings (decimals in the first two, mostly plain ones),
    /// sometimes with one byte replaced by an odd one, then random text after it.
    fn level(r: &mut Rng, strings: usize) -> Vec<u8> {
        let mut b = b"[".to_vec();
        for k in 0..strings {
            if k > 0 {
                b.push(b',');
            }
            b.push(b'"');
            let int = 1 + r.next() % 9;
            for _ in 0..int {
                b.push(b'0' + (r.next() % 10) as u8);
            }
            if r.next() % 4 != 0 {
                b.push(b'.');
                for _ in 0..r.next() % 10 {
                    b.push(b'0' + (r.next() % 10) as u8);
                }
            }
            b.push(b'"');
        }
        b.push(b']');
        if r.next() % 3 == 0 {
            let p = (r.next() % b.len() as u64) as usize;
            b[p] = ODD[(r.next() % ODD.len() as u64) as usize];
        }
        for _ in 0..r.next() % 70 {
            b.push(b",[\"1.5\"]"[(r.next() % 8) as usize]);
        }
        b
    }

    /// The reads (SSE where built, then SWAR) answer as the SWAR ones alone, and an answer
    /// is what `Decimal::parse` reads in the first two strings; shapes carried from level
    /// to level.
    #[test]
    fn fast_and_swar_agree_and_parse_alike() {
        let mut r = Rng(0x9E37_79B9_7F4A_7C15);
        let mut shapes = Shapes::new();
        let mut answered = [0u32; 2];
        for n in 0..200_000 {
            let four = n % 2 == 1;
            let b = level(&mut r, if four { 4 } else { 2 });
            let (fast, swar) = if four {
                (quad(&b, 0, &mut shapes), quad_swar(&b, 0))
            } else {
                (pair(&b, 0, &mut shapes), pair_swar(&b, 0))
            };
            let (fast, swar) = (parts(fast), parts(swar));
            assert_eq!(fast, swar, "{:?}", String::from_utf8_lossy(&b));
            if let Some((pm, ps, qm, qs, end, sep)) = fast {
                answered[usize::from(four)] += 1;
                assert_eq!(b[end - 1], b']');
                assert_eq!(sep, b.get(end).copied().unwrap_or(0));
                let mut fields = b[1..end - 1].split(|&c| c == b',');
                let mut dec = || {
                    let f = fields.next().unwrap();
                    Decimal::parse(&f[1..f.len() - 1]).unwrap()
                };
                let (p, q) = (dec(), dec());
                assert_eq!(
                    (p.mantissa(), p.scale(), q.mantissa(), q.scale()),
                    (pm, ps, qm, qs)
                );
            }
        }
        assert!(answered[0] > 5_000 && answered[1] > 5_000, "{answered:?}");
    }

    /// Levels as the venues send them are read by the fast path (values from the text).
    #[test]
    fn venue_levels_are_read() {
        let mut shapes = Shapes::new();
        let okx = br#"[["61837.6","0.378826","0","1"],["61837","12","0","13"]],"ts":"1"}"#;
        let first = parts(quad(okx, 1, &mut shapes));
        assert_eq!(first, Some((618_376, 1, 378_826, 6, 31, b',')));
        assert_eq!(
            parts(quad(okx, 32, &mut shapes)),
            Some((61_837, 0, 12, 0, 55, b']'))
        );
        let bybit = br#"[["16493.50","0.006"],["16493.00","0.100"]]}"#;
        assert_eq!(
            parts(pair(bybit, 1, &mut shapes)),
            Some((1_649_350, 2, 6, 3, 21, b','))
        );
        assert_eq!(
            parts(pair(bybit, 22, &mut shapes)),
            Some((1_649_300, 2, 100, 3, 42, b']'))
        );
    }
}
