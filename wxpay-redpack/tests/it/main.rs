//! Integration tests of the red-packet client: request shapes and outcomes over HTTP
//! (wiremock), the reliable send, configuration, and properties of the retry decision.

mod config;
mod decision;
mod outcomes;
mod reliable;
mod shapes;
mod support;
