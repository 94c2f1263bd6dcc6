//! HTTPS transport for WeChat Pay: hyper 1.x over rustls with the merchant client certificate.
//!
//! **Not built yet** (issue 3). It exposes nothing today.
#![forbid(unsafe_code)]
