//! Integration tests of `wxpay-sign`: the data-file vectors and property tests.

mod properties;
mod vectors;
