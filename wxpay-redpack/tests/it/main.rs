//! Integration tests of the red-packet client: request shapes and outcomes over HTTP
//! (wiremock), the reliable send, configuration, properties of the retry decision, end to
//! end against `wxpay-mock` over mutual TLS, the real transport's connections (DNS failure,
//! keep-alive pool), and campaigns.

mod campaign;
mod config;
mod connections;
mod decision;
mod mock_e2e;
mod outcomes;
mod reliable;
mod shapes;
mod support;
