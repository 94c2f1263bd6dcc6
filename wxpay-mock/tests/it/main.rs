//! Integration tests of the mock over real mutual TLS.
