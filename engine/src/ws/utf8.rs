//! Incremental UTF-8 validation for text messages that arrive in pieces (fragments, or a
//! frame whose payload is still arriving).
//!
//! Each piece is checked when it arrives, so a message fails on the first piece that makes
//! it impossible, not when its last fragment lands (Autobahn 6.4.x "fail fast"). A code
//! point split across pieces is carried (at most three bytes) to the next piece.

use super::WsError;
use simdutf8::compat::from_utf8;

/// Whether a whole text payload is UTF-8. Market data is ASCII: one OR over every byte
/// (vectorised by the compiler, no early exit) proves that in 8 ns for a 776-byte depth
/// update, against 18 ns for the full validator, which runs only where a byte has its high
/// bit set (`cargo bench -p tickwire-benches --bench ws_decode -- ws_utf8`).
#[inline]
pub(crate) fn valid_text(payload: &[u8]) -> bool {
    payload.iter().fold(0u8, |acc, &b| acc | b) < 0x80
        || simdutf8::basic::from_utf8(payload).is_ok()
}

/// Validation state between pieces of one text message.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Utf8Validator {
    /// The start of a code point whose remaining bytes have not arrived yet.
    carry: [u8; 4],
    carry_len: u8,
}

/// Bytes in the sequence a (valid) lead byte starts.
const fn sequence_len(lead: u8) -> usize {
    match lead {
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF7 => 4,
        _ => 1,
    }
}

impl Utf8Validator {
    /// Forgets any carried bytes (start of a new message).
    pub(super) fn reset(&mut self) {
        self.carry_len = 0;
    }

    /// Checks the next piece of the message. Fails as soon as the bytes so far cannot be the
    /// start of valid UTF-8; a truncated final code point is carried, not an error (yet).
    pub(super) fn feed(&mut self, mut bytes: &[u8]) -> Result<(), WsError> {
        if self.carry_len > 0 {
            let have = self.carry_len as usize;
            let take = sequence_len(self.carry[0])
                .saturating_sub(have)
                .min(bytes.len());
            let mut seq = self.carry;
            let Some(dst) = seq.get_mut(have..have + take) else {
                return Err(WsError::InvalidUtf8);
            };
            dst.copy_from_slice(&bytes[..take]);
            match from_utf8(&seq[..have + take]) {
                Ok(_) => {
                    self.carry_len = 0;
                    bytes = &bytes[take..];
                }
                // Still a valid prefix: the piece was shorter than the missing bytes.
                Err(e) if e.error_len().is_none() => {
                    self.carry = seq;
                    self.carry_len = (have + take) as u8;
                    return Ok(());
                }
                Err(_) => return Err(WsError::InvalidUtf8),
            }
        }
        match from_utf8(bytes) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_none() => {
                let tail = &bytes[e.valid_up_to()..];
                let Some(dst) = self.carry.get_mut(..tail.len()) else {
                    return Err(WsError::InvalidUtf8);
                };
                dst.copy_from_slice(tail);
                self.carry_len = tail.len() as u8;
                Ok(())
            }
            Err(_) => Err(WsError::InvalidUtf8),
        }
    }

    /// Ends the message: a code point left incomplete is an error.
    pub(super) fn finish(&self) -> Result<(), WsError> {
        if self.carry_len == 0 {
            Ok(())
        } else {
            Err(WsError::InvalidUtf8)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn validate_in_pieces(bytes: &[u8], cuts: &[usize]) -> Result<(), WsError> {
        let mut v = Utf8Validator::default();
        let mut start = 0;
        for &cut in cuts {
            let cut = cut.clamp(start, bytes.len());
            v.feed(&bytes[start..cut])?;
            start = cut;
        }
        v.feed(&bytes[start..])?;
        v.finish()
    }

    /// The ASCII screen never lets a non-UTF-8 payload through, nor refuses a UTF-8 one:
    /// judged against the standard library at every length around the vector widths, with
    /// one odd byte at every position.
    #[test]
    fn whole_payloads_are_judged_as_std_judges_them() {
        let odd: [&[u8]; 6] = [
            &[0xFF],
            &[0x80],
            &[0xC3],        // a lead byte with nothing after it
            &[0xE2, 0x82],  // a truncated three-byte sequence
            &[0xC0, 0xAF],  // overlong
            "€".as_bytes(), // valid, not ASCII
        ];
        for len in 0..140 {
            let ascii: Vec<u8> = (0..len).map(|i| b' ' + (i % 90) as u8).collect();
            assert!(valid_text(&ascii), "{len} ASCII bytes");
            for at in 0..=len {
                for o in odd {
                    let mut b = ascii.clone();
                    b.splice(at..at, o.iter().copied());
                    assert_eq!(
                        valid_text(&b),
                        std::str::from_utf8(&b).is_ok(),
                        "{o:?} at {at} of {len}"
                    );
                }
            }
        }
    }

    proptest! {
        #[test]
        fn any_payload_is_judged_as_std_judges_it(b in proptest::collection::vec(any::<u8>(), 0..300)) {
            prop_assert_eq!(valid_text(&b), std::str::from_utf8(&b).is_ok());
        }
    }

    #[test]
    fn split_code_points_are_carried() {
        let s = "a€b😀c".as_bytes();
        for i in 0..=s.len() {
            for j in i..=s.len() {
                assert_eq!(validate_in_pieces(s, &[i, j]), Ok(()), "cuts {i} {j}");
            }
        }
        // One byte at a time.
        let cuts: Vec<usize> = (0..s.len()).collect();
        assert_eq!(validate_in_pieces(s, &cuts), Ok(()));
    }

    #[test]
    fn truncated_end_fails_at_finish() {
        let mut v = Utf8Validator::default();
        assert_eq!(v.feed(b"ok\xe2\x82"), Ok(()));
        assert_eq!(v.finish(), Err(WsError::InvalidUtf8));
    }

    #[test]
    fn impossible_sequence_fails_on_its_piece() {
        // 0xF4 0x90 would encode a code point above U+10FFFF: impossible after the 2nd byte.
        let mut v = Utf8Validator::default();
        assert_eq!(
            v.feed(b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4"),
            Ok(())
        );
        assert_eq!(v.feed(b"\x90"), Err(WsError::InvalidUtf8));
        // Surrogate half split across pieces.
        let mut v = Utf8Validator::default();
        assert_eq!(v.feed(b"\xed"), Ok(()));
        assert_eq!(v.feed(b"\xa0"), Err(WsError::InvalidUtf8));
        // Overlong encoding.
        let mut v = Utf8Validator::default();
        assert_eq!(v.feed(b"\xc0"), Err(WsError::InvalidUtf8));
        // A lone continuation byte after a carried lead.
        let mut v = Utf8Validator::default();
        assert_eq!(v.feed(b"\xe2"), Ok(()));
        assert_eq!(v.feed(b"\x82x"), Err(WsError::InvalidUtf8));
    }

    proptest! {
        #[test]
        fn agrees_with_std_at_any_split(
            bytes in prop::collection::vec(any::<u8>(), 0..64),
            text in ".{0,24}",
            cuts in prop::collection::vec(0usize..80, 0..6),
        ) {
            let mut cuts = cuts;
            cuts.sort_unstable();
            for input in [bytes.as_slice(), text.as_bytes()] {
                let expected = std::str::from_utf8(input).is_ok();
                prop_assert_eq!(validate_in_pieces(input, &cuts).is_ok(), expected);
            }
        }
    }
}
