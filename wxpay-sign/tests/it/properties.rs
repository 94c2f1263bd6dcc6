//! Property tests: order independence, skipped pairs, no panics, sign/verify round trip, and a
//! reference model of the canonical string.

use std::collections::BTreeMap;

use proptest::prelude::*;
use wxpay_sign::{
    ApiKey, SignError, SignType, Signer, canonical_string_redacted, sign, string_a, verify,
};

fn sign_type() -> impl Strategy<Value = SignType> {
    prop_oneof![Just(SignType::Md5), Just(SignType::HmacSha256)]
}

fn api_key() -> impl Strategy<Value = ApiKey> {
    "\\PC{1,40}"
        .prop_filter("no surrounding whitespace", |k| k.trim() == k)
        .prop_map(|k| ApiKey::new(k).unwrap())
}

/// Names from a small alphabet (so that duplicates and `sign` are common) or anything at all.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => "[a-cA_]{1,2}",
        1 => Just("sign".to_owned()),
        2 => any::<String>(),
    ]
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![Just(String::new()), "[ =&a-z]{1,4}", any::<String>()]
}

/// Unique names, non-empty values: a request as a signer sees it.
fn request() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::btree_map(
        any::<String>().prop_filter("not sign", |k| k != "sign"),
        any::<String>().prop_filter("non-empty", |v| !v.is_empty()),
        0..40,
    )
    .prop_map(|m| m.into_iter().collect())
}

fn borrowed(pairs: &[(String, String)]) -> impl Iterator<Item = (&str, &str)> + Clone {
    pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))
}

/// The reference model of spec §2.1 steps 1–3, written the obvious way. The error lists every
/// name that occurs more than once among the signed pairs.
fn model_string_a(pairs: &[(String, String)]) -> Result<String, Vec<String>> {
    let mut kept: BTreeMap<&[u8], Vec<&str>> = BTreeMap::new();
    for (k, v) in pairs {
        if k != "sign" && !v.is_empty() {
            kept.entry(k.as_bytes()).or_default().push(v);
        }
    }
    let duplicates: Vec<String> = kept
        .iter()
        .filter(|(_, values)| values.len() > 1)
        .map(|(k, _)| String::from_utf8_lossy(k).into_owned())
        .collect();
    if !duplicates.is_empty() {
        return Err(duplicates);
    }
    Ok(kept
        .iter()
        .map(|(k, v)| format!("{}={}", String::from_utf8_lossy(k), v[0]))
        .collect::<Vec<_>>()
        .join("&"))
}

proptest! {
    #[test]
    fn the_signature_does_not_depend_on_the_order_of_the_pairs(
        (pairs, shuffled) in request().prop_flat_map(|p| (Just(p.clone()), Just(p).prop_shuffle())),
        sign_type in sign_type(),
        key in api_key(),
    ) {
        prop_assert_eq!(
            sign(sign_type, &key, borrowed(&pairs)).unwrap(),
            sign(sign_type, &key, borrowed(&shuffled)).unwrap()
        );
    }

    #[test]
    fn empty_values_and_a_sign_pair_never_change_the_signature(
        pairs in request(),
        extra in prop::collection::vec((name(), Just(String::new())), 0..5),
        sign_value in any::<String>(),
        positions in prop::collection::vec(any::<prop::sample::Index>(), 6),
        sign_type in sign_type(),
        key in api_key(),
    ) {
        let mut padded = pairs.clone();
        let inserts = extra.into_iter().chain([("sign".to_owned(), sign_value)]);
        for (pair, at) in inserts.zip(&positions) {
            let at = at.index(padded.len() + 1);
            padded.insert(at, pair);
        }
        prop_assert_eq!(
            sign(sign_type, &key, borrowed(&padded)).unwrap(),
            sign(sign_type, &key, borrowed(&pairs)).unwrap()
        );
        prop_assert_eq!(string_a(borrowed(&padded)), string_a(borrowed(&pairs)));
    }

    #[test]
    fn a_signature_always_verifies(
        pairs in request(),
        sign_type in sign_type(),
        key in api_key(),
    ) {
        let signature = sign(sign_type, &key, borrowed(&pairs)).unwrap();
        prop_assert_eq!(signature.as_str().len(), sign_type.hex_len());
        prop_assert!(signature.as_str().bytes().all(|b| b.is_ascii_digit() || b.is_ascii_uppercase()));
        prop_assert_eq!(verify(sign_type, &key, borrowed(&pairs), signature.as_str()), Ok(()));
        prop_assert_eq!(
            verify(sign_type, &key, borrowed(&pairs), &signature.to_lowercase_string()),
            Ok(())
        );
        let signer = Signer::new(key);
        prop_assert_eq!(signer.sign(sign_type, borrowed(&pairs)).unwrap(), signature);
        prop_assert_eq!(signer.verify(sign_type, borrowed(&pairs), signature.as_str()), Ok(()));
    }

    #[test]
    fn arbitrary_input_gives_a_result_or_a_typed_error_never_a_panic(
        pairs in prop::collection::vec((name(), value()), 0..40),
        received in prop_oneof![any::<String>(), "[0-9a-fA-F]{32}", "[0-9a-fA-F]{64}", "\\PC{16,32}"],
        sign_type in sign_type(),
        key in api_key(),
    ) {
        let model = model_string_a(&pairs);
        let a = string_a(borrowed(&pairs));
        let redacted = canonical_string_redacted(borrowed(&pairs));
        let signed = sign(sign_type, &key, borrowed(&pairs));
        let verified = verify(sign_type, &key, borrowed(&pairs), &received);
        match model {
            Ok(model) => {
                prop_assert_eq!(a.as_ref(), Ok(&model));
                let suffix = if model.is_empty() { "key=***" } else { "&key=***" };
                prop_assert_eq!(redacted, Ok(format!("{model}{suffix}")));
                prop_assert!(signed.is_ok());
                if received.len() != sign_type.hex_len() {
                    let is_length_error = matches!(verified, Err(SignError::SignatureLength { .. }));
                    prop_assert!(is_length_error);
                } else if !received.bytes().all(|b| b.is_ascii_hexdigit()) {
                    prop_assert_eq!(verified, Err(SignError::SignatureNotHex));
                } else {
                    // Random hex matches with probability 2^-128 at most.
                    prop_assert_eq!(verified, Err(SignError::Mismatch));
                }
            }
            Err(duplicates) => {
                // Which name is reported when several repeat is unspecified; it must be one.
                let reported = |r: &Result<_, SignError>| match r {
                    Err(SignError::DuplicateKey { key }) => duplicates.contains(key),
                    _ => false,
                };
                prop_assert!(reported(&a), "{:?} vs {:?}", a, duplicates);
                prop_assert!(reported(&redacted));
                prop_assert!(reported(&signed.map(|s| s.to_string())));
                // A malformed signature is reported before the parameters are looked at.
                prop_assert!(verified.is_err());
                if received.len() == sign_type.hex_len()
                    && received.bytes().all(|b| b.is_ascii_hexdigit())
                {
                    prop_assert!(reported(&verified.map(|()| String::new())));
                }
            }
        }
    }
}

/// The signature computed the obvious way: the model's string to sign, hashed whole, in
/// uppercase hex.
fn model_signature(sign_type: SignType, key: &str, string_a: &str) -> String {
    use hmac::{KeyInit, Mac};
    use md5::Digest;
    let string_to_sign = if string_a.is_empty() {
        format!("key={key}")
    } else {
        format!("{string_a}&key={key}")
    };
    let digest: Vec<u8> = match sign_type {
        SignType::Md5 => md5::Md5::digest(string_to_sign.as_bytes()).to_vec(),
        _ => {
            let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
            mac.update(string_to_sign.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
    };
    digest.iter().map(|b| format!("{b:02X}")).collect()
}

/// Values of every length from 0 to 100 bytes, so that each way of copying a piece into the
/// digest's buffer is taken, and over 600 (past the buffer).
fn any_length_value() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z0-9]{0,100}",
        1 => "\\PC{0,40}",
        1 => "[A-Z]{500,700}",
    ]
}

proptest! {
    #[test]
    fn the_signature_is_the_digest_of_the_models_string_to_sign(
        pairs in prop::collection::vec(("[a-z_]{1,12}", any_length_value()), 0..30),
        sorted_first in any::<bool>(),
        sign_type in sign_type(),
        key in "[0-9a-zA-Z]{1,100}",
    ) {
        // Sorted input takes the one-pass path; the same pairs shuffled take the sorting one.
        let mut pairs = pairs;
        if sorted_first {
            pairs.sort();
            pairs.dedup_by(|a, b| a.0 == b.0);
        }
        let api_key = ApiKey::new(key.as_str()).unwrap();
        let signed = sign(sign_type, &api_key, borrowed(&pairs));
        match model_string_a(&pairs) {
            Ok(a) => prop_assert_eq!(
                signed.unwrap().to_string(),
                model_signature(sign_type, &key, &a)
            ),
            Err(duplicates) => {
                let reported = matches!(&signed, Err(SignError::DuplicateKey { key }) if duplicates.contains(key));
                prop_assert!(reported, "{:?} vs {:?}", signed, duplicates);
            }
        }
    }
}
