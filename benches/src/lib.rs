//! Criterion benchmarks of the wxpay-rs workspace; the benches live in `benches/`.
//!
//! The library part only holds the shared fixture loader so every bench measures the same inputs
//! (`shared/bench-fixtures`).
#![forbid(unsafe_code)]
