//! Integration tests of wxpay-proto.

mod codec;
mod enums;
mod real_responses;
mod roundtrip;
mod rules;
mod sign_fields;
mod support;
mod types;
