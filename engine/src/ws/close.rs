//! Close-frame payload rules (RFC 6455 sections 5.5.1 and 7.4).

use super::WsError;

/// Whether `code` may be sent in a close frame: 1000–1003, 1007–1014 and 3000–4999.
///
/// 1004–1006 and 1015 are reserved for local use and never appear on the wire; 1012–1014
/// (service restart, try again later, bad gateway) are registered with IANA after RFC 6455
/// and venues do send them when they restart; everything else below 3000 is unassigned.
pub const fn is_valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// Splits a close payload into its code and reason, checking both.
pub(super) fn parse_close(payload: &[u8]) -> Result<(Option<u16>, &[u8]), WsError> {
    match payload {
        [] => Ok((None, &[])),
        [_] => Err(WsError::CloseTooShort),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            if !is_valid_close_code(code) {
                return Err(WsError::InvalidCloseCode(code));
            }
            if simdutf8::basic::from_utf8(reason).is_err() {
                return Err(WsError::InvalidUtf8);
            }
            Ok((Some(code), reason))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_and_invalid_codes() {
        for code in [
            1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014,
        ] {
            assert!(is_valid_close_code(code), "{code}");
        }
        for code in [3000, 3999, 4000, 4999] {
            assert!(is_valid_close_code(code), "{code}");
        }
        for code in [
            0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
        ] {
            assert!(!is_valid_close_code(code), "{code}");
        }
    }

    #[test]
    fn payload_shapes() {
        assert_eq!(parse_close(b""), Ok((None, &b""[..])));
        assert_eq!(parse_close(b"\x03"), Err(WsError::CloseTooShort));
        assert_eq!(parse_close(b"\x03\xe8"), Ok((Some(1000), &b""[..])));
        assert_eq!(parse_close(b"\x03\xe8bye"), Ok((Some(1000), &b"bye"[..])));
        assert_eq!(
            parse_close(b"\x03\xed"),
            Err(WsError::InvalidCloseCode(1005))
        );
        assert_eq!(parse_close(b"\x03\xe8\xff"), Err(WsError::InvalidUtf8));
    }
}
