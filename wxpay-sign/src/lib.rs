//! WeChat Pay API v2 signing.
#![forbid(unsafe_code)]
