//! The WeChat Pay v2 cash red-packet client.
//!
//! **Not built yet.** This crate will compose `wxpay-sign`, `wxpay-proto` and `wxpay-transport`
//! into `RedpackClient`: sending normal, group and mini-program red packets, querying them, and
//! sending exactly once through retries with the same `mch_billno` (issue 5), plus campaigns and
//! the `wxpay-redpack` command-line tool (issue 6). It exposes nothing today.
#![forbid(unsafe_code)]
