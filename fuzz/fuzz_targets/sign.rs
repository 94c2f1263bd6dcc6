//! Signing (`sign`, `Signer`, `verify`) with both algorithms, against a model that hashes the
//! whole string to sign with the `md-5` and `sha2` crates.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    wxpay_sign::fuzzing::sign_and_verify(data);
});
