//! Integration tests of wxpay-proto.

mod codec;
mod enums;
mod fuzz_corpus;
mod real_responses;
mod roundtrip;
mod rules;
mod sign_fields;
mod support;
mod types;
