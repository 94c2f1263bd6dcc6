//! The two v2 signature algorithms.

use core::fmt;
use core::str::FromStr;

use crate::SignError;

/// A WeChat Pay API v2 signature algorithm, as named by the `sign_type` wire field.
///
/// Red-packet APIs know only [`SignType::Md5`], and their requests carry no `sign_type` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[non_exhaustive]
pub enum SignType {
    /// `MD5`: MD5 of the string to sign, 32 uppercase hex digits. The default when a request
    /// carries no `sign_type`.
    #[default]
    Md5,
    /// `HMAC-SHA256`: HMAC-SHA256 of the string to sign keyed with the API key, 64 uppercase
    /// hex digits.
    HmacSha256,
}

impl SignType {
    /// The wire value: `"MD5"` or `"HMAC-SHA256"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Md5 => "MD5",
            Self::HmacSha256 => "HMAC-SHA256",
        }
    }

    /// The number of hex digits in a signature of this type: 32 for MD5, 64 for HMAC-SHA256.
    #[must_use]
    pub const fn hex_len(self) -> usize {
        match self {
            Self::Md5 => 32,
            Self::HmacSha256 => 64,
        }
    }
}

impl fmt::Display for SignType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SignType {
    type Err = SignError;

    /// Parses the exact wire values `MD5` and `HMAC-SHA256` (case-sensitive, as the server is).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "MD5" => Ok(Self::Md5),
            "HMAC-SHA256" => Ok(Self::HmacSha256),
            other => Err(SignError::UnknownSignType {
                value: other.to_owned(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_strings_round_trip() {
        for t in [SignType::Md5, SignType::HmacSha256] {
            assert_eq!(t.as_str().parse::<SignType>(), Ok(t));
            assert_eq!(t.to_string(), t.as_str());
        }
    }

    #[test]
    fn other_wire_strings_are_a_typed_error() {
        for s in ["md5", "HMAC_SHA256", "", "SHA256", " MD5"] {
            assert_eq!(
                s.parse::<SignType>(),
                Err(SignError::UnknownSignType {
                    value: s.to_owned()
                })
            );
        }
    }

    #[test]
    fn md5_is_the_default_and_lengths_match_the_digests() {
        assert_eq!(SignType::default(), SignType::Md5);
        assert_eq!(SignType::Md5.hex_len(), 32);
        assert_eq!(SignType::HmacSha256.hex_len(), 64);
    }
}
