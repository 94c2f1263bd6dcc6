//! Signing and verifying (spec §2.1 steps 4–5).

use core::borrow::Borrow;
use core::fmt;

use subtle::ConstantTimeEq;

use crate::canonical::hash_pairs;
use crate::hash::{HmacKey, Md5, Stream};
use crate::signature::{MAX_DIGEST, decode_hex};
use crate::{ApiKey, SignError, SignType, Signature};

/// Signs `pairs` with `key`: the value of the request's `sign` field.
///
/// `pairs` are the request's parameters as `(name, value)`. A pair named `sign` and pairs with
/// an empty value are skipped; the rest are sorted by the bytes of their names and hashed as
/// `k1=v1&…&kn=vn&key=<key>` with the values as they will be sent (no escaping), straight into
/// the digest. Up to 32 signed fields, nothing is allocated.
///
/// Pairs already in byte order of their names (wxpay-proto's requests give them so) are
/// hashed in one pass as they come; otherwise they are sorted first, which is why the
/// iterator must be `Clone` (arrays, slices' iterators and the usual adapters are): the
/// sorting path reads it again from the start.
///
/// ```
/// use wxpay_sign::{ApiKey, SignType, sign};
///
/// let key = ApiKey::new("192006250b4c09247ec02edce69f6a2d")?;
/// let sig = sign(SignType::Md5, &key, [("mch_id", "10000100"), ("nonce_str", "abc")])?;
/// assert_eq!(sig.as_str().len(), 32);
/// # Ok::<(), wxpay_sign::SignError>(())
/// ```
///
/// # Errors
///
/// [`SignError::DuplicateKey`] if a signed parameter name occurs twice.
pub fn sign<'a>(
    sign_type: SignType,
    key: &ApiKey,
    pairs: impl IntoIterator<Item = (&'a str, &'a str), IntoIter: Clone>,
) -> Result<Signature, SignError> {
    let digest = Digest::compute(sign_type, key, || HmacKey::new(key.bytes()), pairs)?;
    Ok(Signature::from_digest(digest.as_bytes()))
}

/// Checks a received `sign` value against `pairs` and `key`.
///
/// The length is checked first (32 hex digits for MD5, 64 for HMAC-SHA256), then that it is
/// hex (upper or lower case); only then is the expected digest computed and compared with the
/// received one in constant time. Errors never reveal the expected signature.
///
/// `pairs` may include the `sign` pair itself: it is skipped, as in [`sign`].
///
/// # Errors
///
/// [`SignError::SignatureLength`] or [`SignError::SignatureNotHex`] for a malformed signature,
/// [`SignError::DuplicateKey`] if a signed parameter name occurs twice, and
/// [`SignError::Mismatch`] if the signature is well formed but wrong.
pub fn verify<'a>(
    sign_type: SignType,
    key: &ApiKey,
    pairs: impl IntoIterator<Item = (&'a str, &'a str), IntoIter: Clone>,
    received: &str,
) -> Result<(), SignError> {
    verify_with(
        sign_type,
        key,
        || HmacKey::new(key.bytes()),
        pairs,
        received,
    )
}

/// A signer for one API key, with the HMAC-SHA256 key schedule computed once.
///
/// Equivalent to calling [`sign`] and [`verify`] with the same key, but HMAC-SHA256 calls skip
/// re-deriving the inner and outer HMAC states from the key each time. Its `Debug` output hides
/// the key; its memory is wiped on drop.
///
/// ```
/// use wxpay_sign::{ApiKey, SignType, Signer, sign};
///
/// let key = ApiKey::new("192006250b4c09247ec02edce69f6a2d")?;
/// let signer = Signer::new(key.clone());
/// let pairs = [("mch_id", "10000100"), ("nonce_str", "abc")];
/// let sig = signer.sign(SignType::HmacSha256, pairs)?;
/// assert_eq!(sig, sign(SignType::HmacSha256, &key, pairs)?);
/// signer.verify(SignType::HmacSha256, pairs, sig.as_str())?;
/// # Ok::<(), wxpay_sign::SignError>(())
/// ```
#[derive(Clone)]
pub struct Signer {
    key: ApiKey,
    hmac: HmacKey,
}

impl Signer {
    /// Prepares a signer for `key`.
    #[must_use]
    pub fn new(key: ApiKey) -> Self {
        let hmac = HmacKey::new(key.bytes());
        Self { key, hmac }
    }

    /// Same as [`sign`](crate::sign) with this signer's key.
    ///
    /// # Errors
    ///
    /// As [`sign`](crate::sign).
    pub fn sign<'a>(
        &self,
        sign_type: SignType,
        pairs: impl IntoIterator<Item = (&'a str, &'a str), IntoIter: Clone>,
    ) -> Result<Signature, SignError> {
        let digest = Digest::compute(sign_type, &self.key, || &self.hmac, pairs)?;
        Ok(Signature::from_digest(digest.as_bytes()))
    }

    /// Same as [`verify`](crate::verify) with this signer's key.
    ///
    /// # Errors
    ///
    /// As [`verify`](crate::verify).
    pub fn verify<'a>(
        &self,
        sign_type: SignType,
        pairs: impl IntoIterator<Item = (&'a str, &'a str), IntoIter: Clone>,
        received: &str,
    ) -> Result<(), SignError> {
        verify_with(sign_type, &self.key, || &self.hmac, pairs, received)
    }
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

fn verify_with<'a, K: Borrow<HmacKey>>(
    sign_type: SignType,
    key: &ApiKey,
    hmac: impl FnOnce() -> K,
    pairs: impl IntoIterator<Item = (&'a str, &'a str), IntoIter: Clone>,
    received: &str,
) -> Result<(), SignError> {
    let received = received.as_bytes();
    let expected_len = sign_type.hex_len();
    if received.len() != expected_len {
        return Err(SignError::SignatureLength {
            sign_type,
            expected: expected_len,
            actual: received.len(),
        });
    }
    let mut decoded = [0_u8; MAX_DIGEST];
    let decoded = &mut decoded[..expected_len / 2];
    decode_hex(received, decoded).ok_or(SignError::SignatureNotHex)?;

    let expected = Digest::compute(sign_type, key, hmac, pairs)?;
    if bool::from(expected.as_bytes().ct_eq(decoded)) {
        Ok(())
    } else {
        Err(SignError::Mismatch)
    }
}

/// A raw digest: 16 bytes (MD5) or 32 (HMAC-SHA256).
struct Digest {
    bytes: [u8; MAX_DIGEST],
    len: usize,
}

impl Digest {
    /// Hashes the string to sign of `pairs` and `key`. `hmac` supplies the HMAC states of
    /// `key`; it is called only for HMAC-SHA256.
    fn compute<'a, K: Borrow<HmacKey>>(
        sign_type: SignType,
        key: &ApiKey,
        hmac: impl FnOnce() -> K,
        pairs: impl IntoIterator<Item = (&'a str, &'a str), IntoIter: Clone>,
    ) -> Result<Self, SignError> {
        Ok(match sign_type {
            SignType::Md5 => {
                let mut stream = Stream::md5();
                hash_pairs(pairs, key.bytes(), &mut stream, Stream::md5)?;
                Self::new(&Md5::output(&stream.finish()))
            }
            SignType::HmacSha256 => {
                let hmac = hmac();
                let hmac = hmac.borrow();
                let mut stream = hmac.stream();
                hash_pairs(pairs, key.bytes(), &mut stream, || hmac.stream())?;
                Self::new(&hmac.finish(&mut stream))
            }
        })
    }

    fn new(output: &[u8]) -> Self {
        let mut bytes = [0_u8; MAX_DIGEST];
        bytes[..output.len()].copy_from_slice(output);
        Self {
            bytes,
            len: output.len(),
        }
    }

    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "192006250b4c09247ec02edce69f6a2d";
    const OFFICIAL: [(&str, &str); 5] = [
        ("appid", "wxd930ea5d5a258f4f"),
        ("mch_id", "10000100"),
        ("device_info", "1000"),
        ("body", "test"),
        ("nonce_str", "ibuaiVcKdpRxkhJA"),
    ];
    const MD5: &str = "9A0A8659F005D6984697E2CA0A9CF3B7";
    const HMAC: &str = "6A9AE1657590FD6257D693A078E1C3E4BB6BA4DC30B23E0EE2496E54170DACD6";

    fn key() -> ApiKey {
        ApiKey::new(KEY).unwrap()
    }

    /// Every way the official vector can be verified: the free function and the signer.
    fn verify_both(sign_type: SignType, received: &str) -> Result<(), SignError> {
        let free = verify(sign_type, &key(), OFFICIAL, received);
        let prepared = Signer::new(key()).verify(sign_type, OFFICIAL, received);
        assert_eq!(free, prepared);
        free
    }

    #[test]
    fn the_official_vector_signs_and_verifies_with_both_algorithms() {
        assert_eq!(sign(SignType::Md5, &key(), OFFICIAL).unwrap(), MD5);
        assert_eq!(sign(SignType::HmacSha256, &key(), OFFICIAL).unwrap(), HMAC);
        assert_eq!(verify_both(SignType::Md5, MD5), Ok(()));
        assert_eq!(verify_both(SignType::HmacSha256, HMAC), Ok(()));
    }

    #[test]
    fn the_prepared_signer_gives_the_same_signatures() {
        let signer = Signer::new(key());
        assert_eq!(signer.sign(SignType::Md5, OFFICIAL).unwrap(), MD5);
        assert_eq!(signer.sign(SignType::HmacSha256, OFFICIAL).unwrap(), HMAC);
        // Reusable: the keyed HMAC states are not consumed.
        assert_eq!(signer.sign(SignType::HmacSha256, OFFICIAL).unwrap(), HMAC);
    }

    #[test]
    fn lowercase_hex_is_accepted() {
        assert_eq!(
            verify_both(SignType::Md5, &MD5.to_ascii_lowercase()),
            Ok(())
        );
        assert_eq!(
            verify_both(SignType::HmacSha256, &HMAC.to_ascii_lowercase()),
            Ok(())
        );
    }

    #[test]
    fn a_one_character_change_is_a_mismatch() {
        for i in 0..MD5.len() {
            let mut changed = MD5.as_bytes().to_vec();
            changed[i] = if changed[i] == b'0' { b'1' } else { b'0' };
            let changed = String::from_utf8(changed).unwrap();
            assert_eq!(
                verify_both(SignType::Md5, &changed),
                Err(SignError::Mismatch)
            );
        }
    }

    #[test]
    fn a_changed_parameter_or_key_is_a_mismatch() {
        let mut params = OFFICIAL;
        params[3] = ("body", "test ");
        assert_eq!(
            verify(SignType::Md5, &key(), params, MD5),
            Err(SignError::Mismatch)
        );
        let other = ApiKey::new("192006250b4c09247ec02edce69f6a2e").unwrap();
        assert_eq!(
            verify(SignType::Md5, &other, OFFICIAL, MD5),
            Err(SignError::Mismatch)
        );
    }

    #[test]
    fn the_wrong_algorithm_is_refused_by_length_before_comparing() {
        assert_eq!(
            verify_both(SignType::Md5, HMAC),
            Err(SignError::SignatureLength {
                sign_type: SignType::Md5,
                expected: 32,
                actual: 64
            })
        );
        assert_eq!(
            verify_both(SignType::HmacSha256, MD5),
            Err(SignError::SignatureLength {
                sign_type: SignType::HmacSha256,
                expected: 64,
                actual: 32
            })
        );
    }

    #[test]
    fn the_length_is_checked_before_the_parameters() {
        // A duplicate name would fail later; the malformed signature is reported first.
        let pairs = [("a", "1"), ("a", "2")];
        assert!(matches!(
            verify(SignType::Md5, &key(), pairs, ""),
            Err(SignError::SignatureLength { actual: 0, .. })
        ));
        assert!(matches!(
            verify(SignType::Md5, &key(), pairs, &MD5[..31]),
            Err(SignError::SignatureLength { actual: 31, .. })
        ));
        assert_eq!(
            verify(SignType::Md5, &key(), pairs, MD5),
            Err(SignError::DuplicateKey {
                key: "a".to_owned()
            })
        );
    }

    #[test]
    fn non_hex_of_the_right_length_is_refused() {
        let cases = [
            format!("G{}", &MD5[1..]),
            format!("{} ", &MD5[..31]),
            format!(" {}", &MD5[1..]),
            format!("0x{}", &MD5[2..]),
            format!("{}+", &MD5[..31]),
        ];
        for bad in &cases {
            assert_eq!(bad.len(), 32);
            assert_eq!(
                verify_both(SignType::Md5, bad),
                Err(SignError::SignatureNotHex),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn non_ascii_of_the_right_byte_length_is_refused_without_panicking() {
        // 'é' is two bytes and '猜' three: a byte length of 32 (or 64) whose middle splits a
        // character, so slicing it as `str` at byte 16 would panic.
        let cases = [
            format!("{}é{}", &MD5[..15], &MD5[..15]),
            format!("{}猜{}", &MD5[..15], &MD5[..14]),
            "é".repeat(16),
            format!("{}猜{}", &HMAC[..31], &HMAC[..30]),
        ];
        for bad in &cases {
            let sign_type = if bad.len() == 32 {
                SignType::Md5
            } else {
                SignType::HmacSha256
            };
            assert_eq!(bad.len(), sign_type.hex_len());
            assert_eq!(
                verify_both(sign_type, bad),
                Err(SignError::SignatureNotHex),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn duplicate_names_are_an_error_when_signing() {
        let pairs = [("mch_id", "1"), ("body", "x"), ("mch_id", "2")];
        let expected = Err(SignError::DuplicateKey {
            key: "mch_id".to_owned(),
        });
        assert_eq!(sign(SignType::Md5, &key(), pairs), expected);
        assert_eq!(
            Signer::new(key()).sign(SignType::HmacSha256, pairs),
            expected
        );
    }

    #[test]
    fn no_error_or_debug_output_contains_the_key_or_the_expected_signature() {
        let key = key();
        let signer = Signer::new(key.clone());
        let mut outputs = vec![
            format!("{key:?}"),
            format!("{signer:?}"),
            format!("{signer:#?}"),
        ];
        let errors = [
            verify(SignType::Md5, &key, OFFICIAL, &MD5.replace('9', "8")).unwrap_err(),
            verify(SignType::Md5, &key, OFFICIAL, HMAC).unwrap_err(),
            verify(SignType::HmacSha256, &key, OFFICIAL, &"Z".repeat(64)).unwrap_err(),
            sign(SignType::Md5, &key, [("mch_id", "1"), ("mch_id", "2")])
                .map(|_| ())
                .unwrap_err(),
            ApiKey::new(format!("{KEY}\n")).unwrap_err(),
            ApiKey::new("").unwrap_err(),
        ];
        for error in &errors {
            outputs.push(format!("{error:?}"));
            outputs.push(format!("{error:#?}"));
            outputs.push(error.to_string());
        }
        for output in &outputs {
            assert!(!output.contains(KEY), "{output}");
            assert!(!output.to_ascii_uppercase().contains(MD5), "{output}");
            assert!(!output.to_ascii_uppercase().contains(HMAC), "{output}");
        }
        assert!(outputs.iter().any(|o| o.contains("** redacted **")));
    }
}
