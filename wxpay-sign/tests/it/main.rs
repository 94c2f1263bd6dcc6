//! Integration tests of `wxpay-sign`: the data-file vectors, property tests and the fuzz
//! corpus replay.

mod fuzz_corpus;
mod properties;
mod vectors;
