//! HTTPS transport for WeChat Pay: hyper 1.x over rustls with the merchant client certificate.
//!
//! What it does:
//!
//! - loads the merchant API client certificate from PEM (`apiclient_cert.pem` +
//!   `apiclient_key.pem`; PKCS#8, PKCS#1 or SEC1 keys) or PKCS#12 (`apiclient_cert.p12`,
//!   including the legacy RC2-40 / 3DES files WeChat issues), in pure Rust, and checks that the
//!   key matches the certificate and that the certificate has not expired ([`ClientIdentity`]);
//! - posts request bodies over HTTPS with mutual TLS (TLS 1.2 and 1.3, ring provider), always
//!   verifying the server against the webpki roots plus any root you add explicitly (that is
//!   how a client trusts the mock's CA);
//! - keeps a pool of keep-alive connections per transport, limits connect time, whole-call time
//!   and response size, and sends a `User-Agent` naming this crate;
//! - fails over from `api.mch.weixin.qq.com` to `api2.mch.weixin.qq.com` only when the request
//!   provably never left (DNS or connect failure);
//! - tells, for every failure, whether the request [may have reached the
//!   server](TransportError::may_have_been_sent).
//!
//! What it does not do: it knows nothing of XML, signatures or red packets; it never retries a
//! request (deciding that is the client's job, with the idempotent `mch_billno`); it has no
//! switch to skip server certificate verification; it speaks HTTP/1.1 only (which is what
//! WeChat Pay's v2 API needs); and plain `http://` is refused unless asked for explicitly, for
//! test servers.
//!
//! # Getting started
//!
//! ```no_run
//! use bytes::Bytes;
//! use wxpay_transport::{ClientIdentity, HttpsTransport, Transport, TransportError};
//!
//! # async fn run(request_xml: Bytes) -> Result<(), Box<dyn std::error::Error>> {
//! // From the PEM pair downloaded from the merchant platform...
//! let identity = ClientIdentity::from_pem_files("apiclient_cert.pem", "apiclient_key.pem")?;
//! let transport = HttpsTransport::builder().identity(identity).build()?;
//!
//! // ...or from the PKCS#12 file, whose password is the mch_id, against the mock.
//! let identity = ClientIdentity::from_pkcs12_file("apiclient_cert.p12", "1900000109")?;
//! tracing::info!(certificate = %identity.certificate(), "client identity loaded");
//! let to_mock = HttpsTransport::builder()
//!     .identity(identity)
//!     .base_url("https://127.0.0.1:9443")
//!     .add_root_certificate_pem_file("wxpay-mock-data/ca.pem")
//!     .build()?;
//! # let _ = to_mock;
//!
//! match transport.post("/mmpaymkttransfers/gethbinfo", request_xml).await {
//!     Ok(response) => { /* decode response.body() */ }
//!     // The server may have acted on it: find out (query) before sending anything new.
//!     Err(e) if e.may_have_been_sent() => { /* outcome unknown */ }
//!     // Certainly not sent: safe to try again later with the same request.
//!     Err(e) => return Err(e.into()),
//! }
//! # Ok(())
//! # }
//! # let _ = |e: TransportError| e.is_timeout();
//! ```
//!
//! # Crate features
//!
//! - `test-util` (off by default): test doubles for code built on [`Transport`]:
//!   `CapturingTransport` (records requests, replays scripted responses and errors) and
//!   `NeverTransport` (never answers), plus `TransportError::simulated`. Nothing in it
//!   changes the production transport.
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

mod client;
mod connect;
mod error;
mod identity;
mod pool;
#[cfg(feature = "test-util")]
mod test_util;
mod tls;
mod transport;

pub use client::{
    DEFAULT_BACKUP_BASE_URL, DEFAULT_BASE_URL, DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_MAX_RESPONSE_BODY_BYTES, DEFAULT_POOL_IDLE_TIMEOUT, DEFAULT_POOL_MAX_IDLE_PER_HOST,
    DEFAULT_REQUEST_TIMEOUT, HttpsTransport, HttpsTransportBuilder, USER_AGENT_VALUE,
};
#[cfg(feature = "test-util")]
pub use error::SimulatedFailure;
pub use error::TransportError;
pub use identity::{CertificateInfo, ClientIdentity, IdentityError};
#[cfg(feature = "test-util")]
pub use test_util::{CapturedRequest, CapturingTransport, NeverTransport};
pub use transport::{Response, Transport};
