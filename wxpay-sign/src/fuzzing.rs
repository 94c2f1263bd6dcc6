//! The body of the `sign` fuzz target in `fuzz/` (not a public API).
//!
//! It takes arbitrary bytes as an API key and a list of parameters, signs them every way the
//! crate offers, and panics only when a property breaks: each signature equals the digest of
//! the string to sign built the obvious way (sort, join, append the key) and hashed whole by
//! the `md-5` and `sha2` crates, with HMAC written out from its definition (RFC 2104); each
//! verifies, and a changed one does not. The fuzzer calls it, and a regular test replays the
//! committed corpus through the same function.

use md5::Digest as _;

use crate::{ApiKey, SignError, SignType, Signer, canonical_string_redacted, sign, verify};

/// Splits `bytes` into a key and parameters, signs them with both algorithms through [`sign`]
/// and a [`Signer`], and checks every result against the model.
///
/// The input is read as `key \0 name \x01 value \0 name \x01 value …`, each piece as lossy
/// UTF-8; a pair without `\x01` has an empty value.
///
/// # Panics
///
/// When a signature differs from the model's, fails to verify, or a changed one verifies;
/// when a duplicate name is not reported, or a unique list is refused.
pub fn sign_and_verify(bytes: &[u8]) {
    let mut pieces = bytes.split(|&b| b == 0);
    let key_text = String::from_utf8_lossy(pieces.next().unwrap_or_default()).into_owned();
    let pairs: Vec<(String, String)> = pieces
        .map(|piece| {
            let mut parts = piece.splitn(2, |&b| b == 1);
            let name = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
            let value = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
            (name, value)
        })
        .collect();
    let borrowed = || pairs.iter().map(|(n, v)| (n.as_str(), v.as_str()));

    let Ok(key) = ApiKey::new(key_text.as_str()) else {
        // Refused keys are a typed error, checked by the key's own tests.
        return;
    };
    let signer = Signer::new(key.clone());
    let expected = model_string_to_sign(&pairs, &key_text);
    for sign_type in [SignType::Md5, SignType::HmacSha256] {
        let free = sign(sign_type, &key, borrowed());
        let prepared = signer.sign(sign_type, borrowed());
        assert_eq!(free, prepared, "sign and Signer::sign disagree");
        match (&expected, free) {
            (Ok(string), Ok(signature)) => {
                let model = model_signature(sign_type, key_text.as_bytes(), string.as_bytes());
                assert_eq!(signature.as_str(), model, "{sign_type:?}");
                assert_eq!(verify(sign_type, &key, borrowed(), &model), Ok(()));
                let lower = model.to_ascii_lowercase();
                assert_eq!(signer.verify(sign_type, borrowed(), &lower), Ok(()));
                let changed = flip_first_digit(&model);
                assert_eq!(
                    signer.verify(sign_type, borrowed(), &changed),
                    Err(SignError::Mismatch)
                );
            }
            (Err(duplicates), Err(SignError::DuplicateKey { key })) => {
                assert!(duplicates.contains(&key), "{key:?} is not a duplicate");
            }
            (expected, got) => panic!("model {expected:?}, got {got:?}"),
        }
    }
    if let Ok(string) = &expected {
        let redacted = canonical_string_redacted(borrowed());
        let shown = string
            .strip_suffix(key_text.as_str())
            .map(|head| format!("{head}***"));
        assert_eq!(redacted.ok(), shown);
    }
}

/// The string to sign built the obvious way, or the names given more than once.
fn model_string_to_sign(pairs: &[(String, String)], key: &str) -> Result<String, Vec<String>> {
    let mut signed: Vec<&(String, String)> = pairs
        .iter()
        .filter(|(name, value)| name != "sign" && !value.is_empty())
        .collect();
    signed.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let duplicates: Vec<String> = signed
        .windows(2)
        .filter(|w| w[0].0 == w[1].0)
        .map(|w| w[0].0.clone())
        .collect();
    if !duplicates.is_empty() {
        return Err(duplicates);
    }
    let mut out = String::new();
    for (name, value) in signed {
        out.push_str(name);
        out.push('=');
        out.push_str(value);
        out.push('&');
    }
    out.push_str("key=");
    out.push_str(key);
    Ok(out)
}

/// The uppercase hex digest of `message`: MD5, or HMAC-SHA256 under `key` written out from
/// RFC 2104 with whole-message SHA-256.
fn model_signature(sign_type: SignType, key: &[u8], message: &[u8]) -> String {
    let digest: Vec<u8> = match sign_type {
        SignType::Md5 => md5::Md5::digest(message).to_vec(),
        SignType::HmacSha256 => {
            let mut block = [0_u8; 64];
            if key.len() > 64 {
                block[..32].copy_from_slice(&sha2::Sha256::digest(key));
            } else {
                block[..key.len()].copy_from_slice(key);
            }
            let pad = |byte: u8| block.map(|b| b ^ byte);
            let inner = sha2::Sha256::new()
                .chain_update(pad(0x36))
                .chain_update(message)
                .finalize();
            sha2::Sha256::new()
                .chain_update(pad(0x5c))
                .chain_update(inner)
                .finalize()
                .to_vec()
        }
    };
    digest.iter().map(|b| format!("{b:02X}")).collect()
}

/// `hex` with its first digit changed.
fn flip_first_digit(hex: &str) -> String {
    let first = if hex.starts_with('0') { '1' } else { '0' };
    format!("{first}{}", &hex[1..])
}
