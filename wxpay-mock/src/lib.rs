//! An offline emulator of the WeChat Pay v2 cash red-packet APIs.
//!
//! **Not built yet.** This crate will serve `sendredpack`, `sendgroupredpack`,
//! `sendminiprogramhb` and `gethbinfo` over mutual TLS with their business rules, a ledger on a
//! virtual clock and fault injection (issue 4). It exposes nothing today.
#![forbid(unsafe_code)]
