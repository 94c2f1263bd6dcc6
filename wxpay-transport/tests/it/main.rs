//! Integration tests: real TLS on 127.0.0.1 with material generated at test time.

mod dns;
mod doubles;
mod identity;
mod support;
mod transport;
