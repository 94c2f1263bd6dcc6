//! Integration tests of the mock over real mutual TLS: one binary, one module per area.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    unreachable_pub,
    reason = "tests"
)]

mod admin;
mod concurrency;
mod faults;
mod fuzz_corpus;
mod hostile;
mod lifecycle;
mod openids;
mod persistence;
mod rules;
mod serving;
mod support;
mod workload;
