//! [`quad`]: an OKX level `["p","q","x","n"]` read from one 64-byte quote mask (four SSE
//! compares), its two decimals converted by Binance's SSE decimal reader with the carried
//! column shapes (`binance::scan::simd::decimal_of_len`).
//!
//! Compiled only where the build enables SSSE3 and SSE4.1 (`cfg(sse_scan)`, set by
//! `build.rs`), so the intrinsics are always sound to call. No pointer is read: the vectors
//! are built from `u64`s loaded safely from the window.

use core::arch::x86_64::{
    _mm_cmpeq_epi8, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128, _mm_set_epi64x, _mm_set1_epi8,
};

use super::Read;
use crate::binance::scan::simd::{Shape, decimal_of_len};

/// Bytes the level reads: a level of at most 64 bytes, and room for a decimal's 16-byte
/// read wherever it starts in them.
const WINDOW: usize = 80;

/// The quotes among 64 bytes (bit `i`: byte `i`).
#[inline(always)]
// MSRV 1.85 needs the intrinsics in `unsafe`; newer compilers call them safe here.
#[allow(unused_unsafe)]
fn quote_bits(a: &[u64; 8]) -> u64 {
    let mut quotes = 0u64;
    for k in 0..4 {
        // SAFETY: SSE2 is enabled for the whole build (the module's `cfg`); no memory is
        // touched.
        let q = unsafe {
            let v = _mm_set_epi64x(a[2 * k + 1] as i64, a[2 * k] as i64);
            _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8))) as u32
        };
        quotes |= u64::from(q & 0xFFFF) << (16 * k);
    }
    quotes
}

/// The bytes an unescaped string may not hold (backslash, control characters) among the 16
/// bytes `lo`, `hi` (bit `i`: byte `i`).
#[inline(always)]
#[allow(unused_unsafe)]
fn special_bits(lo: u64, hi: u64) -> u32 {
    // SAFETY: SSE2 is enabled for the whole build (the module's `cfg`); no memory is touched.
    unsafe {
        let v = _mm_set_epi64x(hi as i64, lo as i64);
        let backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
        // Unsigned `v <= 0x1F`: `min(v, 0x1F) == v`.
        let control = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1F)), v);
        _mm_movemask_epi8(_mm_or_si128(backslash, control)) as u32 & 0xFFFF
    }
}

/// See [`super::quad`].
#[inline(always)]
pub(super) fn quad(b: &[u8], i: usize, shapes: &mut [Shape; 2]) -> Option<Read> {
    let (price, qty, n, sep) = match b.get(i..i + WINDOW) {
        Some(w) => quad_in(w.try_into().ok()?, shapes)?,
        None => quad_near_end(b, i, shapes)?,
    };
    Some((price, qty, i + n, sep))
}

/// [`quad_in`] on the bytes left, padded with zero bytes (never a quote, digit, point or
/// bracket, so a level that would run past the end is refused).
#[cold]
#[inline(never)]
fn quad_near_end(b: &[u8], i: usize, shapes: &mut [Shape; 2]) -> Option<Read> {
    let mut w = [0u8; WINDOW];
    let rest = b.get(i..)?;
    let n = rest.len().min(WINDOW);
    w[..n].copy_from_slice(&rest[..n]);
    quad_in(&w, shapes)
}

/// Removes the lowest set bit of `r` and returns its index (64 when `r` is empty).
#[inline(always)]
fn pop(r: &mut u64) -> usize {
    let t = r.trailing_zeros() as usize;
    *r &= r.wrapping_sub(1);
    t
}

#[inline(always)]
fn quad_in(w: &[u8; WINDOW], shapes: &mut [Shape; 2]) -> Option<Read> {
    let mut a = [0u64; 8];
    for (k, x) in a.iter_mut().enumerate() {
        *x = u64::from_le_bytes(w[8 * k..8 * k + 8].try_into().ok()?);
    }
    let q = quote_bits(&a);
    if w[0] != b'[' || q & 3 != 2 {
        return None;
    }
    let mut r = q & !2;
    let c1 = pop(&mut r);
    let o2 = pop(&mut r);
    let c3 = pop(&mut r);
    let o4 = pop(&mut r);
    let c5 = pop(&mut r);
    let o6 = pop(&mut r);
    let c7 = pop(&mut r);
    // `c7 < 64`: every quote before it is in the window too (the indices increase). The
    // last two strings within 16 bytes (`"0","13"`), with no backslash or control byte: the
    // quotes are the strings' own and the strings plain (the decimals are checked digit by
    // digit, the brackets and commas one by one).
    if c7 >= 64
        || c7 - o4 >= 16
        || o2 != c1 + 2
        || o4 != c3 + 2
        || o6 != c5 + 2
        || w[c1 + 1] != b','
        || w[c3 + 1] != b','
        || w[c5 + 1] != b','
        || w[c7 + 1] != b']'
    {
        return None;
    }
    let o4 = o4 & 63;
    let lo = u64::from_le_bytes(w[o4..o4 + 8].try_into().ok()?);
    let hi = u64::from_le_bytes(w[o4 + 8..o4 + 16].try_into().ok()?);
    if special_bits(lo, hi) & ((1 << (c7 - o4)) - 1) != 0 {
        return None;
    }
    let [price_shape, qty_shape] = shapes;
    let price = decimal_of_len(&w[1..], c1 - 2, price_shape)?;
    let qty = decimal_of_len(&w[o2 & 63..], c3 - o2 - 1, qty_shape)?;
    Some((price, qty, c7 + 2, w[(c7 & 63) + 2]))
}
