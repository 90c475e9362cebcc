//! RFC 6455 payload masking (section 5.3).

/// XORs `data` with the masking `key`, where `data[0]` is byte number `offset` of the
/// payload (so a payload can be unmasked in pieces as it arrives). Applying it twice restores
/// the original.
#[inline]
pub fn apply_mask(data: &mut [u8], key: [u8; 4], offset: usize) {
    let mut k = key;
    k.rotate_left(offset & 3);
    // Eight payload bytes per step; the key repeats every four, so a chunk boundary never
    // shifts it. Native byte order keeps each key byte on the payload byte it masks.
    let wide = u64::from_ne_bytes([k[0], k[1], k[2], k[3], k[0], k[1], k[2], k[3]]);
    let mut chunks = data.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(word) ^ wide).to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= k[i & 3];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(data: &mut [u8], key: [u8; 4], offset: usize) {
        for (i, b) in data.iter_mut().enumerate() {
            *b ^= key[(i + offset) & 3];
        }
    }

    #[test]
    fn matches_bytewise_masking_at_every_length_and_offset() {
        let key = [0x12, 0x34, 0x56, 0x78];
        for len in 0..40 {
            for offset in 0..8 {
                let orig: Vec<u8> = (0..len as u8).map(|i| i.wrapping_mul(37)).collect();
                let mut fast = orig.clone();
                let mut slow = orig.clone();
                apply_mask(&mut fast, key, offset);
                naive(&mut slow, key, offset);
                assert_eq!(fast, slow, "len {len} offset {offset}");
                apply_mask(&mut fast, key, offset);
                assert_eq!(fast, orig);
            }
        }
    }

    #[test]
    fn masking_in_pieces_equals_masking_at_once() {
        let key = [9, 8, 7, 6];
        let orig: Vec<u8> = (0..100u8).collect();
        let mut whole = orig.clone();
        apply_mask(&mut whole, key, 0);
        let mut pieces = orig.clone();
        let (a, rest) = pieces.split_at_mut(13);
        let (b, c) = rest.split_at_mut(30);
        apply_mask(a, key, 0);
        apply_mask(b, key, 13);
        apply_mask(c, key, 43);
        assert_eq!(pieces, whole);
    }
}
