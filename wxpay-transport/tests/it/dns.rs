//! Host names that do not resolve: the error, its classification and the failover.
//!
//! The names are under `.invalid`, which RFC 6761 reserves so that it never resolves. The tests
//! hold with a working DNS server (it answers NXDOMAIN), without one (resolution fails at
//! once) and with one that never answers (the connect timeout ends the lookup): none of them
//! needs the network.

use std::error::Error as _;
use std::time::{Duration, Instant};

use bytes::Bytes;
use wxpay_transport::{DEFAULT_CONNECT_TIMEOUT, HttpsTransport, Transport, TransportError};

use crate::support::{GENEROUS, Reply, Setup};

const PATH: &str = "/mmpaymkttransfers/sendredpack";
const UNRESOLVABLE_HOST: &str = "api.mch.weixin.qq.invalid";
const UNRESOLVABLE_URL: &str = "https://api.mch.weixin.qq.invalid/";
const ANSWER: &[u8] = b"<xml><return_code><![CDATA[SUCCESS]]></return_code></xml>";

fn body() -> Bytes {
    Bytes::from_static(b"<xml><mch_billno>10000098201411111234567890</mch_billno></xml>")
}

/// The error's message, its whole chain of sources and its `Debug` form.
fn everything_said_about(error: &TransportError) -> String {
    let mut text = format!("{error:?}\n{error}");
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!("\n{cause}"));
        source = cause.source();
    }
    text
}

#[tokio::test]
async fn a_host_name_that_does_not_resolve_is_a_dns_failure_that_was_not_sent() {
    // Arrange: the production defaults (connect and request timeouts) with a client identity.
    let setup = Setup::new();
    let transport = HttpsTransport::builder()
        .identity(setup.identity())
        .base_url(UNRESOLVABLE_URL)
        .build()
        .expect("build");
    let started = Instant::now();

    // Act
    let error = transport
        .post(PATH, body())
        .await
        .expect_err("the name must not resolve");

    // Assert: a DNS failure, certainly not sent, so the same request may be retried as is.
    let elapsed = started.elapsed();
    assert!(error.is_dns(), "{error:?}");
    assert!(error.is_connect(), "{error:?}");
    assert!(!error.may_have_been_sent(), "{error:?}");
    assert!(
        !error.is_tls() && !error.is_status() && !error.is_builder(),
        "{error:?}"
    );
    assert_eq!(error.status(), None);
    // The message names the host, at this level.
    let message = error.to_string();
    assert!(
        message.starts_with(&format!("DNS lookup of `{UNRESOLVABLE_HOST}`")),
        "{message}"
    );
    // Nothing said about it shows the client's private key.
    let said = everything_said_about(&error);
    let key_line = setup
        .client
        .key_pem
        .lines()
        .nth(1)
        .expect("a PEM key has a base64 line");
    assert!(!said.contains(key_line), "{said}");
    assert!(!said.contains("PRIVATE KEY"), "{said}");
    // Within the connect timeout, with a generous margin; no network is needed.
    assert!(elapsed < GENEROUS, "{elapsed:?}");
}

#[tokio::test]
async fn a_primary_host_name_that_does_not_resolve_fails_over_to_the_backup() {
    // Arrange
    let setup = Setup::new();
    let backup = setup.server(Reply::Answer(200, ANSWER.to_vec())).await;
    let transport = setup
        .transport(UNRESOLVABLE_URL)
        .backup_base_url(backup.https_url())
        .connect_timeout(DEFAULT_CONNECT_TIMEOUT)
        .build()
        .expect("build");

    // Act
    let response = transport.post(PATH, body()).await;

    // Assert: the request went to the backup, once.
    assert!(
        response.as_ref().is_ok_and(|r| r.body().as_ref() == ANSWER),
        "{response:?}"
    );
    let received = backup.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].body, body().to_vec());
}

#[tokio::test]
async fn when_neither_domain_resolves_the_error_names_the_backup_and_was_not_sent() {
    // Arrange
    let setup = Setup::new();
    let transport = setup
        .transport(UNRESOLVABLE_URL)
        .backup_base_url("https://api2.mch.weixin.qq.invalid")
        .connect_timeout(DEFAULT_CONNECT_TIMEOUT)
        .request_timeout(Duration::from_secs(30))
        .build()
        .expect("build");
    let started = Instant::now();

    // Act
    let error = transport
        .post(PATH, body())
        .await
        .expect_err("neither name resolves");

    // Assert
    assert!(error.is_dns(), "{error:?}");
    assert!(!error.may_have_been_sent(), "{error:?}");
    assert!(
        error.to_string().contains("`api2.mch.weixin.qq.invalid`"),
        "{error}"
    );
    assert!(started.elapsed() < GENEROUS);
}
