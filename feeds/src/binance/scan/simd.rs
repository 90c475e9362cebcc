//! [`super::hot::window_decimal`] and [`super::hot::window_uint`] with SSE: the 16 bytes
//! after the opening quote (or the integer's first digit) in one register, quote, point and
//! digits found by byte compares and movemasks, the point squeezed out and the digits
//! right-aligned by one shuffle (its control from a table by shape), then converted by
//! multiply-adds (pairs, fours, eights) and one scalar multiply.
//! [`level`] reads a whole depth level from one 32-byte quote mask on top of that, and
//! converts each column's decimal with the previous level's shape ([`Shape`]).
//!
//! Compiled only where the build enables SSSE3 and SSE4.1 (`-C target-cpu=native` here), so
//! the intrinsics (`#[target_feature]` functions) are always sound to call. No pointer is read: the
//! vector is built from two `u64`s loaded safely from the window.

use core::arch::x86_64::{
    __m128i, _mm_add_epi8, _mm_cmpeq_epi8, _mm_cvtsi128_si64, _mm_madd_epi16, _mm_maddubs_epi16,
    _mm_min_epu8, _mm_movemask_epi8, _mm_packus_epi32, _mm_set_epi64x, _mm_set1_epi8,
    _mm_set1_epi16, _mm_set1_epi32, _mm_setr_epi8, _mm_shuffle_epi8, _mm_sub_epi8,
};

use tickwire_engine::Decimal;

/// Quote, point and digit masks of the 16 bytes (bit `i`: byte `i`), and the bytes less
/// `'0'`.
// Not `#[target_feature]`: the features are on for the whole build (the module's `cfg`), and
// a plain function can be forced inline (an outlined conversion cost 12 % of a trade decode).
#[inline(always)]
// MSRV 1.85 needs the intrinsics in `unsafe`; newer compilers call them safe here.
#[allow(unused_unsafe)]
fn classify(lo: u64, hi: u64) -> (u32, u32, u32, __m128i) {
    // SAFETY: SSE2/SSSE3/SSE4.1 are enabled for the whole build (the module's `cfg`); no
    // memory is touched.
    unsafe {
        let v = _mm_set_epi64x(hi as i64, lo as i64);
        let quotes = _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8))) as u32;
        let points = _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(b'.' as i8))) as u32;
        let d = _mm_sub_epi8(v, _mm_set1_epi8(b'0' as i8));
        let digits = _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(9)), d)) as u32;
        (quotes, points, digits, d)
    }
}

/// Shuffle controls for a decimal text of `len` bytes (at most 16) with its point at `pt`
/// (1 to 7; `pt == len`: no point): the digits right-aligned with the point dropped, the
/// lanes before them zero (`0x80`). Entry `pt * 17 + len`. One load instead of building
/// the control from the two lengths (a blend, a shift and two broadcasts).
const SQUEEZE: [[u8; 16]; 8 * 17] = {
    let mut t = [[0x80u8; 16]; 8 * 17];
    let mut pt = 1;
    while pt < 8 {
        let mut len = pt;
        while len <= 16 {
            let digits = if len == pt { len } else { len - 1 };
            let mut j = 0;
            while j < digits {
                let src = if j < pt { j } else { j + 1 };
                t[pt * 17 + len][16 - digits + j] = src as u8;
                j += 1;
            }
            len += 1;
        }
        pt += 1;
    }
    t
};

/// [`SQUEEZE`]'s control for a checked shape.
#[inline(always)]
#[allow(unused_unsafe)]
fn squeeze(key: usize) -> Option<__m128i> {
    let c = SQUEEZE.get(key)?;
    let lo = u64::from_le_bytes(c[0..8].try_into().ok()?);
    let hi = u64::from_le_bytes(c[8..16].try_into().ok()?);
    // SAFETY: SSE2 is enabled for the whole build (the module's `cfg`); no memory is touched.
    Some(unsafe { _mm_set_epi64x(hi as i64, lo as i64) })
}

/// The digits `d` picked by shuffle control `ctrl` (right-aligned, at most 16) as an
/// integer: multiply-adds by pairs, fours and eights.
#[inline(always)]
#[allow(unused_unsafe)]
fn digits_value(d: __m128i, ctrl: __m128i) -> u64 {
    // SAFETY: SSE2/SSSE3/SSE4.1 are enabled for the whole build (the module's `cfg`); no
    // memory is touched.
    unsafe {
        let x = _mm_shuffle_epi8(d, ctrl);
        let pairs = _mm_maddubs_epi16(x, _mm_set1_epi16(0x010A));
        let fours = _mm_madd_epi16(pairs, _mm_set1_epi32(0x0001_0064));
        let fours = _mm_packus_epi32(fours, fours);
        let eights = _mm_madd_epi16(fours, _mm_set1_epi32(0x0001_2710));
        let r = _mm_cvtsi128_si64(eights) as u64;
        (r & 0xFFFF_FFFF) * 100_000_000 + (r >> 32)
    }
}

/// The shuffle control that right-aligns the first `len` bytes (at most 16), the lanes
/// before them zero (a negative index).
#[inline(always)]
#[allow(unused_unsafe)]
fn right_align(len: usize) -> __m128i {
    // SAFETY: SSE2 is enabled for the whole build (the module's `cfg`); no memory is touched.
    unsafe {
        let iota = _mm_setr_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        _mm_add_epi8(iota, _mm_set1_epi8(len as i8 - 16))
    }
}

/// The shape of the last decimal read in one column of a depth message (prices, or
/// quantities) and its shuffle control. The next decimal is converted with it while its own
/// shape is still being found (it is the same in most levels), so the conversion does not
/// wait on the point's position; a different shape converts again.
#[derive(Clone, Copy)]
pub(crate) struct Shape {
    key: usize,
    ctrl: __m128i,
}

impl Shape {
    /// No shape yet (the first decimal converts once its own is known).
    #[inline(always)]
    #[allow(unused_unsafe)]
    pub(crate) fn new() -> Shape {
        Shape {
            key: usize::MAX,
            // SAFETY: SSE2 is enabled for the whole build (the module's `cfg`).
            ctrl: unsafe { _mm_set1_epi8(-128) },
        }
    }
}

/// See [`super::hot::window_decimal`]: the same answer on every window.
#[inline(always)]
pub(super) fn window_decimal(w: &[u8; 18]) -> Option<(usize, Decimal)> {
    if w[0] != b'"' {
        return None;
    }
    let lo = u64::from_le_bytes(w[1..9].try_into().ok()?);
    let hi = u64::from_le_bytes(w[9..17].try_into().ok()?);
    let (quotes, points, digits, d) = classify(lo, hi);
    let len = (quotes | 1 << 16).trailing_zeros() as usize;
    if len == 0 || (len == 16 && w[17] != b'"') {
        return None;
    }
    let m = digits_of(len, points, digits, d, lo as u8 == b'0')?;
    Some((len, m))
}

/// [`window_decimal`] where the closing quote is known to be the first one, at `w[len + 1]`
/// (from [`quotes32`]).
#[inline(always)]
pub(crate) fn decimal_of_len(w: &[u8], len: usize, shape: &mut Shape) -> Option<Decimal> {
    if len == 0 || len > 16 {
        return None;
    }
    let lo = u64::from_le_bytes(w.get(1..9)?.try_into().ok()?);
    let hi = u64::from_le_bytes(w.get(9..17)?.try_into().ok()?);
    let (_, points, digits, d) = classify(lo, hi);
    digits_of_shape(len, points, digits, d, lo as u8 == b'0', shape)
}

/// The checks once the text's length (at most 16) is known: every byte a digit but one
/// point, 1 to 7 integer digits with no leading zero (`lead_zero`: the text starts with `0`),
/// and none or 1 to 8 fraction digits. Returns the shape's [`SQUEEZE`] entry and the scale.
#[inline(always)]
fn check_digits(len: usize, points: u32, digits: u32, lead_zero: bool) -> Option<(usize, u8)> {
    // The point, or `len` where there is none in the text.
    let pt = (points | 1 << len).trailing_zeros() as usize;
    let text = (1u32 << len) - 1;
    // Fraction digits plus one (the point), or 0.
    let frac = len - pt;
    // 1 to 7 integer digits; exactly one when the first is a zero.
    let max_int = if lead_zero { 1 } else { 7 };
    if (digits | 1 << pt) & text != text
        || pt.wrapping_sub(1) >= max_int
        || (frac != 0 && frac.wrapping_sub(2) > 7)
    {
        return None;
    }
    Some((pt * 17 + len, frac.saturating_sub(1) as u8))
}

/// The checks and conversion once the text's length (at most 16) is known.
#[inline(always)]
fn digits_of(len: usize, points: u32, digits: u32, d: __m128i, lead_zero: bool) -> Option<Decimal> {
    let (key, scale) = check_digits(len, points, digits, lead_zero)?;
    let m = digits_value(d, squeeze(key)?);
    // At most 7 + 8 digits: no overflow.
    Some(Decimal::from_parts(m as i64, scale))
}

/// [`digits_of`], converting first with `shape`'s control (see [`Shape`]).
#[inline(always)]
fn digits_of_shape(
    len: usize,
    points: u32,
    digits: u32,
    d: __m128i,
    lead_zero: bool,
    shape: &mut Shape,
) -> Option<Decimal> {
    let guess = digits_value(d, shape.ctrl);
    let (key, scale) = check_digits(len, points, digits, lead_zero)?;
    let m = if key == shape.key {
        guess
    } else {
        *shape = Shape {
            key,
            ctrl: squeeze(key)?,
        };
        digits_value(d, shape.ctrl)
    };
    Some(Decimal::from_parts(m as i64, scale))
}

/// A JSON integer of 1 to 15 digits at the start of `w`, no leading zero, not followed by
/// a fraction or exponent: its length and value. `None` for anything else, where
/// [`super::Cursor::number`] decides (16 digits or more included).
#[inline(always)]
pub(super) fn uint(w: &[u8; 17]) -> Option<(usize, u64)> {
    let lo = u64::from_le_bytes(w[0..8].try_into().ok()?);
    let hi = u64::from_le_bytes(w[8..16].try_into().ok()?);
    let (_, _, digits, d) = classify(lo, hi);
    let len = (!digits).trailing_zeros() as usize;
    if len == 0 || len >= 16 || (len > 1 && w[0] == b'0') || matches!(w[len], b'.' | b'e' | b'E') {
        return None;
    }
    Some((len, digits_value(d, right_align(len))))
}

/// The quotes among 32 bytes (bit `i`: byte `i`).
#[inline(always)]
#[allow(unused_unsafe)]
fn quote_bits(a: [u64; 4]) -> u32 {
    // SAFETY: SSE2 is enabled for the whole build (the module's `cfg`); no memory is touched.
    unsafe {
        let q = _mm_set1_epi8(b'"' as i8);
        let lo = _mm_set_epi64x(a[1] as i64, a[0] as i64);
        let hi = _mm_set_epi64x(a[3] as i64, a[2] as i64);
        let lo = _mm_movemask_epi8(_mm_cmpeq_epi8(lo, q)) as u32;
        let hi = _mm_movemask_epi8(_mm_cmpeq_epi8(hi, q)) as u32;
        hi << 16 | lo
    }
}

/// One whole depth level `["p","q"]` at `b[i..]` in the fast shapes: its price, quantity,
/// the index just past its `]` and the byte there (0 past the end). All four quotes come from one 32-byte mask, so where
/// the next level starts waits on one compare, not on two decimals' quote searches in a
/// row. `None` where the level is longer or odd: the caller reads it field by field, which
/// answers alike wherever this one does (each decimal is [`window_decimal`]'s).
#[inline(always)]
pub(crate) fn level(
    b: &[u8],
    i: usize,
    shapes: &mut [Shape; 2],
) -> Option<(Decimal, Decimal, usize, u8)> {
    let (price, qty, n, sep) = match b.get(i..i + 48) {
        Some(w) => level_in(w.try_into().ok()?, shapes)?,
        None => level_near_end(b, i, shapes)?,
    };
    Some((price, qty, i + n, sep))
}

/// [`level_in`] on the bytes left, padded with zero bytes (never a quote, digit, point or
/// bracket, so a level that would run past the end is refused): the last levels of a
/// message take the same path as the others.
#[cold]
#[inline(never)]
fn level_near_end(
    b: &[u8],
    i: usize,
    shapes: &mut [Shape; 2],
) -> Option<(Decimal, Decimal, usize, u8)> {
    let mut w = [0u8; 48];
    let rest = b.get(i..)?;
    let n = rest.len().min(48);
    w[..n].copy_from_slice(&rest[..n]);
    level_in(&w, shapes)
}

/// [`level`] within one window: a level of at most 32 bytes, and room for the quantity's
/// 16-byte read wherever it starts in them.
#[inline(always)]
fn level_in(w: &[u8; 48], shapes: &mut [Shape; 2]) -> Option<(Decimal, Decimal, usize, u8)> {
    let mut a = [0u64; 4];
    for (k, x) in a.iter_mut().enumerate() {
        *x = u64::from_le_bytes(w[8 * k..8 * k + 8].try_into().ok()?);
    }
    let q = quote_bits(a);
    if w[0] != b'[' || q & 3 != 2 {
        return None;
    }
    let r = q & !2;
    let c1 = r.trailing_zeros() as usize;
    let r = r & r.wrapping_sub(1);
    let o2 = r.trailing_zeros() as usize;
    let r = r & r.wrapping_sub(1);
    let c3 = r.trailing_zeros() as usize;
    // `r` empty: c3 is 32, past the chunk.
    if o2 != c1 + 2 || c3 >= 32 || w[c1 + 1] != b',' || w[c3 + 1] != b']' {
        return None;
    }
    let [price_shape, qty_shape] = shapes;
    let price = decimal_of_len(&w[1..], c1 - 2, price_shape)?;
    // `o2 < c3 < 32` (the mask tells the compiler the reads below are in the window).
    let o2 = o2 & 31;
    let qty = decimal_of_len(&w[o2..], c3 - o2 - 1, qty_shape)?;
    Some((price, qty, c3 + 2, w[(c3 & 31) + 2]))
}

#[cfg(test)]
mod tests {
    use super::super::Cursor;
    use super::super::hot::{window_decimal_swar, window_uint_swar};
    use super::*;

    type Answer = Option<(usize, i64, u8)>;

    fn parts(a: Option<(usize, Decimal)>) -> Answer {
        a.map(|(n, d)| (n, d.mantissa(), d.scale()))
    }

    /// SSE and SWAR answer alike, and an answer is what `Decimal::parse` reads in the quotes.
    fn check(w: &[u8; 18]) -> Answer {
        let sse = parts(window_decimal(w));
        let swar = parts(window_decimal_swar(w));
        assert_eq!(sse, swar, "window {:?}", String::from_utf8_lossy(w));
        if let Some((len, m, s)) = sse {
            assert_eq!(w[len + 1], b'"');
            let d = Decimal::parse(&w[1..1 + len]).unwrap();
            assert_eq!((d.mantissa(), d.scale()), (m, s), "window {w:?}");
        }
        sse
    }

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn digit(&mut self) -> u8 {
            b'0' + (self.next() % 10) as u8
        }
    }

    const ODD: &[u8] = b"\"./:-+eE \0\x7f\x80\xff,]}0";

    /// `w` with every byte in turn replaced by each odd byte and by each of `more`, and cut
    /// short at every point (the zero padding of a window at the end of a buffer).
    fn variants<const N: usize>(w: [u8; N], more: &[u8], mut f: impl FnMut(&[u8; N])) {
        for p in 0..N {
            for &b in ODD.iter().chain(more) {
                let mut v = w;
                v[p] = b;
                f(&v);
            }
            let mut cut = w;
            cut[p..].fill(0);
            f(&cut);
        }
    }

    /// `"int[.frac]"` then filler, with every byte in turn replaced by each odd byte, and
    /// cut short at every point (the zero padding of a window at the end of a buffer).
    #[test]
    fn every_shape_and_position() {
        let mut r = Rng(0x9E37_79B9_7F4A_7C15);
        let mut answered = 0u32;
        for int_len in 0..=10 {
            for frac_len in 0..=10 {
                for dot in [false, true] {
                    for _ in 0..3 {
                        let mut w = [0u8; 18];
                        w[0] = b'"';
                        let mut i = 1;
                        let text = int_len + usize::from(dot) + frac_len;
                        while i < 18 && i <= text {
                            w[i] = if dot && i == int_len + 1 {
                                b'.'
                            } else {
                                r.digit()
                            };
                            i += 1;
                        }
                        if i < 18 {
                            w[i] = b'"';
                            i += 1;
                        }
                        while i < 18 {
                            w[i] = ODD[(r.next() % ODD.len() as u64) as usize];
                            i += 1;
                        }
                        if check(&w).is_some() {
                            answered += 1;
                        }
                        variants(w, b"5", |v| {
                            check(v);
                        });
                    }
                }
            }
        }
        // The fast shapes (1..=7 integer digits; 1..=8 fraction digits or none) were answered.
        assert!(answered >= 7 * 9 * 3, "{answered}");
    }

    #[test]
    fn random_windows() {
        let mut r = Rng(0x2545_F491_4F6C_DD1D);
        let mut answered = 0u32;
        for _ in 0..400_000 {
            let mut w = [0u8; 18];
            w[0] = if r.next() % 64 == 0 { b'x' } else { b'"' };
            for b in &mut w[1..] {
                *b = match r.next() % 16 {
                    0 => b'"',
                    1 => b'.',
                    2 => ODD[(r.next() % ODD.len() as u64) as usize],
                    _ => r.digit(),
                };
            }
            if check(&w).is_some() {
                answered += 1;
            }
        }
        assert!(answered > 10_000, "{answered}");
    }

    #[test]
    fn known_values() {
        let w = |s: &[u8]| {
            let mut w = [0u8; 18];
            w[..s.len()].copy_from_slice(s);
            w
        };
        assert_eq!(check(&w(b"\"43250.12\",")), Some((8, 4_325_012, 2)));
        assert_eq!(
            check(&w(b"\"1234567.12345678\"")),
            Some((16, 123_456_712_345_678, 8))
        );
        assert_eq!(check(&w(b"\"0.00000001\"")), Some((10, 1, 8)));
        assert_eq!(check(&w(b"\"7\"")), Some((1, 7, 0)));
        assert_eq!(check(&w(b"\"12345678\"")), None);
        assert_eq!(check(&w(b"\"1.\"")), None);
        assert_eq!(check(&w(b"\".5\"")), None);
    }

    /// Field by field with the SWAR decimal, as the caller's fallback reads a level.
    fn level_reference(b: &[u8], i: usize) -> Option<(i64, u8, i64, u8, usize)> {
        let window = |j: usize| {
            let mut w = [0u8; 18];
            let rest = b.get(j..).unwrap_or_default();
            let n = rest.len().min(18);
            w[..n].copy_from_slice(&rest[..n]);
            w
        };
        if *b.get(i)? != b'[' {
            return None;
        }
        let (pl, p) = window_decimal_swar(&window(i + 1))?;
        let j = i + 1 + pl + 2;
        if *b.get(j)? != b',' {
            return None;
        }
        let (ql, q) = window_decimal_swar(&window(j + 1))?;
        let k = j + 1 + ql + 2;
        if *b.get(k)? != b']' {
            return None;
        }
        Some((p.mantissa(), p.scale(), q.mantissa(), q.scale(), k + 1))
    }

    /// Where [`level`] answers, reading field by field answers the same: with a fresh
    /// [`Shape`] each time, and with shapes carried from level to level as a depth message
    /// does (few shapes, so conversions on the carried shape and on a new one both occur).
    #[test]
    fn level_agrees_with_fields() {
        level_agrees(false);
        level_agrees(true);
    }

    fn level_agrees(carried: bool) {
        let mut r = Rng(0xD1B5_4A32_D192_ED03);
        let mut answered = 0u32;
        let mut shapes = [Shape::new(); 2];
        for _ in 0..300_000 {
            if !carried {
                shapes = [Shape::new(); 2];
            }
            // Anything before the level (quotes too): it starts at `at`.
            let mut b = Vec::new();
            for _ in 0..r.next() % 40 {
                b.push(ODD[(r.next() % ODD.len() as u64) as usize]);
            }
            let at = b.len();
            b.extend_from_slice(b"[\"");
            for part in 0..2 {
                let int_len = if carried {
                    1 + r.next() % 2
                } else {
                    1 + r.next() % 9
                };
                for _ in 0..int_len {
                    b.push(r.digit());
                }
                if r.next() % 4 != 0 {
                    b.push(b'.');
                    let frac = if carried {
                        8 - 6 * (r.next() % 2)
                    } else {
                        r.next() % 10
                    };
                    for _ in 0..frac {
                        b.push(r.digit());
                    }
                }
                b.extend_from_slice(if part == 0 { b"\",\"" } else { b"\"]" });
            }
            let tail = r.next() % 24;
            for _ in 0..tail {
                b.push(b",[\"1.5\"]"[(r.next() % 8) as usize]);
            }
            // One byte in three windows replaced by an odd one.
            if r.next() % 3 == 0 {
                let p = at + (r.next() % (b.len() - at) as u64) as usize;
                b[p] = ODD[(r.next() % ODD.len() as u64) as usize];
            }
            let fast = level(&b, at, &mut shapes).map(|(p, q, e, sep)| {
                assert_eq!(sep, b.get(e).copied().unwrap_or(0));
                (p.mantissa(), p.scale(), q.mantissa(), q.scale(), e)
            });
            if fast.is_some() {
                answered += 1;
                assert_eq!(
                    fast,
                    level_reference(&b, at),
                    "{:?}",
                    String::from_utf8_lossy(&b)
                );
            }
        }
        assert!(answered > 30_000, "{answered}");
    }

    /// SSE and SWAR integers answer alike, and an answer is what [`Cursor::number`] reads.
    fn check_uint(w: &[u8; 17]) -> Option<(usize, u64)> {
        let sse = uint(w);
        assert_eq!(
            sse,
            window_uint_swar(w),
            "window {:?}",
            String::from_utf8_lossy(w)
        );
        if let Some((len, v)) = sse {
            let mut c = Cursor { b: w, i: 0 };
            assert_eq!(
                c.number(),
                Some(v),
                "window {:?}",
                String::from_utf8_lossy(w)
            );
            assert_eq!(c.i, len);
        }
        sse
    }

    #[test]
    fn uint_every_length_and_position() {
        let mut r = Rng(0x5851_F42D_4C95_7F2D);
        let mut answered = 0u32;
        for len in 0..=17 {
            for _ in 0..20 {
                let mut w = [0u8; 17];
                for (k, b) in w.iter_mut().enumerate() {
                    *b = if k < len {
                        r.digit()
                    } else {
                        ODD[(r.next() % ODD.len() as u64) as usize]
                    };
                }
                if check_uint(&w).is_some() {
                    answered += 1;
                }
                variants(w, b"05", |v| {
                    check_uint(v);
                });
            }
        }
        assert!(answered >= 15 * 15, "{answered}");
    }

    #[test]
    fn uint_known_values() {
        let w = |s: &[u8]| {
            let mut w = [0u8; 17];
            w[..s.len()].copy_from_slice(s);
            w
        };
        assert_eq!(
            check_uint(&w(b"1723161255343,")),
            Some((13, 1_723_161_255_343))
        );
        assert_eq!(check_uint(&w(b"0,")), Some((1, 0)));
        assert_eq!(
            check_uint(&w(b"999999999999999}")),
            Some((15, 999_999_999_999_999))
        );
        assert_eq!(check_uint(&w(b"1234567890123456,")), None);
        assert_eq!(check_uint(&w(b"01,")), None);
        assert_eq!(check_uint(&w(b"12.5")), None);
        assert_eq!(check_uint(&w(b"12e3")), None);
        assert_eq!(check_uint(&w(b"-1")), None);
    }
}
