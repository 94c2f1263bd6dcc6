//! Integration tests of the red-packet client: request shapes and outcomes over HTTP
//! (wiremock), the reliable send, configuration, properties of the retry decision, end to
//! end against `wxpay-mock` over mutual TLS, and campaigns.

mod campaign;
mod config;
mod decision;
mod mock_e2e;
mod outcomes;
mod reliable;
mod shapes;
mod support;
