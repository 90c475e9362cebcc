//! Exact decimal text from integer units: `61837.63` is the integer 6183763 at 2 decimals.
//! Rendering never goes through floating point, so every price the simulator sends is the
//! exact value the snapshot and the book hold.

const POW10: [u64; 20] = {
    let mut t = [1u64; 20];
    let mut i = 1;
    while i < 20 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

/// 10 to the power `decimals` (`decimals <= 19`).
pub fn pow10(decimals: u8) -> u64 {
    POW10[usize::from(decimals.min(19))]
}

/// Appends `value / 10^decimals` with exactly `decimals` fraction digits (`decimals <= 19`).
pub fn push_fixed(out: &mut Vec<u8>, value: u64, decimals: u8) {
    let mut buf = itoa::Buffer::new();
    if decimals == 0 {
        out.extend_from_slice(buf.format(value).as_bytes());
        return;
    }
    let p = pow10(decimals);
    out.extend_from_slice(buf.format(value / p).as_bytes());
    out.push(b'.');
    let frac = buf.format(value % p).as_bytes();
    out.resize(out.len() + usize::from(decimals) - frac.len(), b'0');
    out.extend_from_slice(frac);
}

/// Appends an unsigned integer.
pub fn push_u64(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixed(v: u64, d: u8) -> String {
        let mut out = Vec::new();
        push_fixed(&mut out, v, d);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn renders_exact_decimals() {
        assert_eq!(fixed(6_183_763, 2), "61837.63");
        assert_eq!(fixed(6_183_763_000_000, 8), "61837.63000000");
        assert_eq!(fixed(1, 8), "0.00000001");
        assert_eq!(fixed(0, 8), "0.00000000");
        assert_eq!(fixed(1_234_567_890_125, 1), "123456789012.5");
        assert_eq!(fixed(42, 0), "42");
        assert_eq!(fixed(6, 3), "0.006");
    }
}
