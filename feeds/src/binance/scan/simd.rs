//! [`super::hot::window_decimal`] with SSE: the 16 bytes after the opening quote in one
//! register, quote, point and digits found by byte compares and movemasks, the point
//! squeezed out and the digits right-aligned by one blend and one shuffle, then converted
//! by multiply-adds (pairs, fours, eights) and one scalar multiply.
//!
//! Compiled only where the build enables SSSE3 and SSE4.1 (`-C target-cpu=native` here), so
//! the `#[target_feature]` functions are always sound to call. No pointer is read: the
//! vector is built from two `u64`s loaded safely from the window.

use core::arch::x86_64::{
    __m128i, _mm_add_epi8, _mm_blendv_epi8, _mm_cmpeq_epi8, _mm_cmpgt_epi8, _mm_cvtsi128_si64,
    _mm_madd_epi16, _mm_maddubs_epi16, _mm_min_epu8, _mm_movemask_epi8, _mm_packus_epi32,
    _mm_set_epi64x, _mm_set1_epi8, _mm_set1_epi16, _mm_set1_epi32, _mm_setr_epi8, _mm_shuffle_epi8,
    _mm_slli_si128, _mm_sub_epi8,
};

use tickwire_engine::Decimal;

/// Quote, point and digit masks of the 16 bytes (bit `i`: byte `i`), and the bytes less
/// `'0'`.
#[target_feature(enable = "ssse3,sse4.1")]
#[inline]
// MSRV 1.85 needs the intrinsics in `unsafe`; newer compilers call them safe here.
#[allow(unused_unsafe)]
unsafe fn classify(lo: u64, hi: u64) -> (u32, u32, u32, __m128i) {
    // SAFETY: SSE2/SSSE3/SSE4.1 are enabled for this function; no memory is touched.
    unsafe {
        let v = _mm_set_epi64x(hi as i64, lo as i64);
        let quotes = _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8))) as u32;
        let points = _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(b'.' as i8))) as u32;
        let d = _mm_sub_epi8(v, _mm_set1_epi8(b'0' as i8));
        let digits = _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(9)), d)) as u32;
        (quotes, points, digits, d)
    }
}

/// The number in `d` (digit values) whose digits sit at bytes `1..=int_len` after the byte
/// at `int_len` (the point, or one past an integer's digits) is dropped, ending at `end`
/// (at most 15 digits in all).
#[target_feature(enable = "ssse3,sse4.1")]
#[inline]
#[allow(unused_unsafe)]
unsafe fn convert(d: __m128i, int_len: usize, end: usize) -> u64 {
    // SAFETY: SSE2/SSSE3/SSE4.1 are enabled for this function; no memory is touched.
    unsafe {
        let iota = _mm_setr_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        // The integer digits move up one byte, over the point.
        let up = _mm_cmpgt_epi8(_mm_set1_epi8(int_len as i8 + 1), iota);
        let squeezed = _mm_blendv_epi8(d, _mm_slli_si128::<1>(d), up);
        // Right-aligned: lanes before the number get a negative index, so zero.
        let ctrl = _mm_add_epi8(iota, _mm_set1_epi8(end as i8 - 16));
        let x = _mm_shuffle_epi8(squeezed, ctrl);
        let pairs = _mm_maddubs_epi16(x, _mm_set1_epi16(0x010A));
        let fours = _mm_madd_epi16(pairs, _mm_set1_epi32(0x0001_0064));
        let fours = _mm_packus_epi32(fours, fours);
        let eights = _mm_madd_epi16(fours, _mm_set1_epi32(0x0001_2710));
        let r = _mm_cvtsi128_si64(eights) as u64;
        (r & 0xFFFF_FFFF) * 100_000_000 + (r >> 32)
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
    // SAFETY: the module is compiled only where SSSE3 and SSE4.1 are enabled for the whole
    // build, so the target features hold; the function reads no memory.
    let (quotes, points, digits, d) = unsafe { classify(lo, hi) };
    let len = (quotes | 1 << 16).trailing_zeros() as usize;
    if len == 0 || (len == 16 && w[17] != b'"') {
        return None;
    }
    // 8 integer digits or more are left to the general parser.
    let int_len = (!digits).trailing_zeros() as usize;
    if int_len == 0 || int_len >= 8 {
        return None;
    }
    let (end, scale) = if int_len == len {
        (len + 1, 0)
    } else {
        let frac_len = len - int_len - 1;
        let need = ((1u32 << len) - 1) & !((2u32 << int_len) - 1);
        if points >> int_len & 1 == 0 || frac_len == 0 || frac_len > 8 || digits & need != need {
            return None;
        }
        (len, frac_len)
    };
    // SAFETY: as for `classify`.
    let m = unsafe { convert(d, int_len, end) };
    // At most 7 + 8 digits: no overflow.
    Some((len, Decimal::from_parts(m as i64, scale as u8)))
}

#[cfg(test)]
mod tests {
    use super::super::hot::window_decimal_swar;
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
                        for p in 0..18 {
                            for &b in ODD.iter().chain(b"5") {
                                let mut v = w;
                                v[p] = b;
                                check(&v);
                            }
                            let mut cut = w;
                            cut[p..].fill(0);
                            check(&cut);
                        }
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
}
