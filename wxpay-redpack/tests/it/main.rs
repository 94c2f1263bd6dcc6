//! Integration tests of the red-packet client: request shapes and outcomes over HTTP
//! (wiremock), the reliable send, configuration, properties of the retry decision, and end to
//! end against `wxpay-mock` over mutual TLS.

mod config;
mod decision;
mod mock_e2e;
mod outcomes;
mod reliable;
mod shapes;
mod support;
