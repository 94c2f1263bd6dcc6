//! The computed signature and the hex codec.

use core::fmt;

/// The longest signature: HMAC-SHA256, 32 bytes as 64 hex digits.
const MAX_HEX: usize = 64;
/// The longest raw digest, in bytes.
pub(crate) const MAX_DIGEST: usize = MAX_HEX / 2;

/// Each byte's two uppercase hex digits: one lookup per byte instead of one per digit.
const HEX_PAIRS: [[u8; 2]; 256] = {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    let mut table = [[0_u8; 2]; 256];
    let mut byte = 0;
    while byte < 256 {
        table[byte] = [DIGITS[byte >> 4], DIGITS[byte & 0x0f]];
        byte += 1;
    }
    table
};

/// A computed signature: uppercase hex, 32 digits (MD5) or 64 (HMAC-SHA256), held inline
/// without allocating.
///
/// This is the value of the `sign` field. A signature is not a secret, but comparing one you
/// received against it with `==` is not constant-time: check received signatures with
/// [`verify`](crate::verify).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signature {
    /// ASCII uppercase hex digits in `hex[..len]`, zeros after.
    hex: [u8; MAX_HEX],
    len: u8,
}

impl Signature {
    /// Hex-encodes a raw digest of at most [`MAX_DIGEST`] bytes.
    pub(crate) fn from_digest(digest: &[u8]) -> Self {
        debug_assert!(digest.len() <= MAX_DIGEST);
        let mut hex = [0_u8; MAX_HEX];
        let mut len = 0_u8;
        for (pair, &byte) in hex.chunks_exact_mut(2).zip(digest) {
            pair.copy_from_slice(&HEX_PAIRS[usize::from(byte)]);
            len += 2;
        }
        Self { hex, len }
    }

    /// The signature as uppercase hex, the form the `sign` field carries.
    #[must_use]
    pub fn as_str(&self) -> &str {
        // `hex[..len]` only ever holds ASCII hex digits (see `from_digest`), so this cannot fail.
        core::str::from_utf8(&self.hex[..usize::from(self.len)]).expect("a signature is ASCII hex")
    }

    /// The same signature as lowercase hex: the form of the mini-program `paySign` for
    /// `wx.sendBizRedPacket`.
    #[must_use]
    pub fn to_lowercase_string(&self) -> String {
        self.as_str().to_ascii_lowercase()
    }
}

impl AsRef<str> for Signature {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Signature").field(&self.as_str()).finish()
    }
}

impl PartialEq<str> for Signature {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Signature {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// Decodes hex digits of either case into `out`, which must be half as long as `hex`.
/// Returns `None` at the first byte that is not a hex digit. Works on bytes, so input that is
/// not ASCII is refused rather than sliced.
pub(crate) fn decode_hex(hex: &[u8], out: &mut [u8]) -> Option<()> {
    debug_assert_eq!(hex.len(), out.len() * 2);
    for (byte, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        *byte = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(())
}

fn nibble(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_bytes_become_uppercase_hex() {
        let sig = Signature::from_digest(&[0x00, 0x9a, 0xff, 0x10]);
        assert_eq!(sig.as_str(), "009AFF10");
        assert_eq!(sig.to_string(), "009AFF10");
        assert_eq!(format!("{sig:?}"), "Signature(\"009AFF10\")");
        assert_eq!(sig.to_lowercase_string(), "009aff10");
        assert_eq!(sig, "009AFF10");
    }

    #[test]
    fn every_byte_value_becomes_its_two_uppercase_digits() {
        for chunk in (0..=255_u8).collect::<Vec<_>>().chunks(MAX_DIGEST) {
            let expected: String = chunk.iter().map(|b| format!("{b:02X}")).collect();
            assert_eq!(Signature::from_digest(chunk).as_str(), expected);
        }
    }

    #[test]
    fn a_full_length_digest_fills_the_inline_buffer() {
        let sig = Signature::from_digest(&[0xab; MAX_DIGEST]);
        assert_eq!(sig.as_str(), "AB".repeat(MAX_DIGEST));
    }

    #[test]
    fn hex_of_either_case_decodes() {
        let mut out = [0_u8; 4];
        assert_eq!(decode_hex(b"009aFF10", &mut out), Some(()));
        assert_eq!(out, [0x00, 0x9a, 0xff, 0x10]);
    }

    #[test]
    fn non_hex_bytes_are_refused() {
        let mut out = [0_u8; 2];
        for bad in [
            &b"0G00"[..],
            b"00 0",
            b"+100",
            "é00".as_bytes(),
            b"\x000\x000",
        ] {
            assert_eq!(decode_hex(bad, &mut out), None, "{bad:?}");
        }
    }
}
