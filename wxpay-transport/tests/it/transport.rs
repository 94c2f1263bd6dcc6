//! The hyper/rustls transport against a real mutual-TLS server on 127.0.0.1.

use std::time::{Duration, Instant};

use bytes::Bytes;
use p12_keystore::{EncryptionAlgorithm, MacAlgorithm};
use wxpay_transport::{ClientIdentity, HttpsTransport, Transport, USER_AGENT_VALUE};

use crate::support::{
    Blackhole, Ca, GENEROUS, MCH_ID, Reply, ServerOptions, Setup, TestServer, eventually,
    refused_port,
};

const PATH: &str = "/mmpaymkttransfers/gethbinfo";
const ANSWER: &[u8] = b"<xml><return_code><![CDATA[SUCCESS]]></return_code></xml>";

fn answer() -> Reply {
    Reply::Answer(200, ANSWER.to_vec())
}

fn body() -> Bytes {
    Bytes::from_static(b"<xml><mch_billno>10000098201411111234567890</mch_billno></xml>")
}

#[tokio::test]
async fn a_pem_identity_completes_a_mutual_tls_request() {
    // Arrange
    let setup = Setup::new();
    let server = setup.server(answer()).await;
    let transport = setup.transport(&server.https_url()).build().expect("build");

    // Act
    let response = transport.post(PATH, body()).await.expect("post");

    // Assert
    assert_eq!(response.status(), 200);
    assert_eq!(response.body().as_ref(), ANSWER);
    let received = server.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].path, PATH);
    assert_eq!(received[0].body, body().to_vec());
    assert_eq!(received[0].user_agent.as_deref(), Some(USER_AGENT_VALUE));
    assert!(USER_AGENT_VALUE.starts_with("wxpay-transport/"));
}

#[tokio::test]
async fn a_pkcs12_identity_completes_a_mutual_tls_request() {
    // Arrange
    let setup = Setup::new();
    let server = setup.server(answer()).await;
    let p12 = setup.client.pkcs12(
        MCH_ID,
        EncryptionAlgorithm::PbeWithShaAnd3KeyTripleDesCbc,
        MacAlgorithm::HmacSha1,
    );
    let identity = ClientIdentity::from_pkcs12(&p12, MCH_ID).expect("PKCS#12 identity");
    let transport = setup
        .transport(&server.https_url())
        .identity(identity)
        .build()
        .expect("build");

    // Act
    let response = transport.post(PATH, body()).await;

    // Assert
    assert!(response.is_ok_and(|r| r.body().as_ref() == ANSWER));
    assert_eq!(server.received().len(), 1);
}

#[tokio::test]
async fn a_server_that_speaks_only_tls_1_2_is_reachable() {
    // Arrange
    let setup = Setup::new();
    let mut options = ServerOptions::tls(&setup.ca, answer());
    options.tls12_only = true;
    let server = TestServer::start(&setup.server, options).await;
    let transport = setup.transport(&server.https_url()).build().expect("build");

    // Act
    let response = transport.post(PATH, body()).await;

    // Assert
    assert!(response.is_ok_and(|r| r.status() == 200));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_client_certificate_the_server_refuses_the_handshake_and_nothing_was_sent() {
    // Arrange
    let setup = Setup::new();
    let server = setup.server(answer()).await;
    let transport = HttpsTransport::builder()
        .base_url(server.https_url())
        .add_root_certificate_pem(setup.ca.pem.clone())
        .request_timeout(GENEROUS)
        .build()
        .expect("build");

    // Act
    let error = transport
        .post(PATH, body())
        .await
        .expect_err("must be refused");

    // Assert
    assert!(error.is_tls(), "{error:?}");
    assert!(!error.may_have_been_sent(), "{error:?}");
    assert!(server.received().is_empty());
    assert!(
        eventually(|| server.handshake_failures() == 1).await,
        "server saw the refusal"
    );
}

#[tokio::test]
async fn a_server_certificate_from_an_untrusted_ca_is_refused() {
    // Arrange: the client does not add the test CA; webpki roots alone do not trust it.
    let setup = Setup::new();
    let server = setup.server(answer()).await;
    let transport = HttpsTransport::builder()
        .identity(setup.identity())
        .base_url(server.https_url())
        .request_timeout(GENEROUS)
        .build()
        .expect("build");

    // Act
    let error = transport
        .post(PATH, body())
        .await
        .expect_err("must be refused");

    // Assert
    assert!(error.is_tls(), "{error:?}");
    assert!(!error.may_have_been_sent());
    assert!(server.received().is_empty());
}

#[tokio::test]
async fn a_server_certificate_signed_by_another_added_root_is_still_refused() {
    // Arrange: trusting some other CA explicitly does not make this server trusted.
    let setup = Setup::new();
    let stranger = Ca::new("some other CA");
    let server = setup.server(answer()).await;
    let transport = HttpsTransport::builder()
        .identity(setup.identity())
        .base_url(server.https_url())
        .add_root_certificate_der(stranger.der.to_vec())
        .request_timeout(GENEROUS)
        .build()
        .expect("build");

    // Act
    let result = transport.post(PATH, body()).await;

    // Assert
    assert!(result.is_err_and(|e| e.is_tls() && !e.may_have_been_sent()));
}

#[tokio::test]
async fn a_second_call_reuses_the_connection_without_a_new_handshake() {
    // Arrange
    let setup = Setup::new();
    let server = setup.server(answer()).await;
    let transport = setup.transport(&server.https_url()).build().expect("build");
    let clone = transport.clone();

    // Act
    let first = transport.post(PATH, body()).await;
    let second = clone.post(PATH, body()).await;
    let third = transport.post(PATH, body()).await;

    // Assert
    assert!(first.is_ok() && second.is_ok() && third.is_ok());
    assert_eq!(server.received().len(), 3);
    assert_eq!(server.accepts(), 1, "one TCP connection, one handshake");
}

#[tokio::test]
async fn with_no_idle_connections_kept_every_call_opens_its_own_connection() {
    // Arrange
    let setup = Setup::new();
    let server = setup.server(answer()).await;
    let transport = setup
        .transport(&server.https_url())
        .pool_max_idle_per_host(0)
        .build()
        .expect("build");

    // Act
    let mut results = Vec::new();
    for _ in 0..3 {
        results.push(transport.post(PATH, body()).await);
    }

    // Assert
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(server.received().len(), 3);
    assert_eq!(
        server.accepts(),
        3,
        "one TCP connection and handshake per call"
    );
}

#[tokio::test]
async fn a_connection_idle_for_longer_than_the_idle_timeout_is_not_reused() {
    // Arrange
    let setup = Setup::new();
    let server = setup.server(answer()).await;
    let transport = setup
        .transport(&server.https_url())
        .pool_idle_timeout(Duration::from_millis(1))
        .build()
        .expect("build");

    // Act: the second call comes after the first connection's idle time ran out.
    let first = transport.post(PATH, body()).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let second = transport.post(PATH, body()).await;

    // Assert
    assert!(first.is_ok() && second.is_ok(), "{first:?} {second:?}");
    assert_eq!(server.received().len(), 2);
    assert_eq!(server.accepts(), 2, "the idle connection was not reused");
}

#[tokio::test]
async fn a_connection_that_cannot_be_opened_in_time_is_a_connect_timeout_that_was_not_sent() {
    // Arrange
    let setup = Setup::new();
    let blackhole = Blackhole::new().await;
    let transport = setup
        .transport(&format!("https://127.0.0.1:{}", blackhole.port))
        .connect_timeout(Duration::from_millis(300))
        .build()
        .expect("build");
    let started = Instant::now();

    // Act
    let error = transport
        .post(PATH, body())
        .await
        .expect_err("must time out");

    // Assert
    assert!(error.is_timeout(), "{error:?}");
    assert!(error.is_connect(), "{error:?}");
    assert!(!error.may_have_been_sent());
    assert!(started.elapsed() >= Duration::from_millis(250));
    assert!(started.elapsed() < GENEROUS);
}

#[tokio::test]
async fn a_response_that_never_comes_times_out_and_may_have_been_sent() {
    // Arrange
    let setup = Setup::new();
    let server = setup.server(Reply::Silent).await;
    let transport = setup
        .transport(&server.https_url())
        .request_timeout(Duration::from_millis(500))
        .build()
        .expect("build");
    let started = Instant::now();

    // Act
    let error = transport
        .post(PATH, body())
        .await
        .expect_err("must time out");

    // Assert
    assert!(error.is_timeout(), "{error:?}");
    assert!(!error.is_connect(), "{error:?}");
    assert!(error.may_have_been_sent());
    assert!(started.elapsed() >= Duration::from_millis(450));
    assert!(started.elapsed() < GENEROUS);
    assert_eq!(server.received().len(), 1, "the server did get the request");
}

#[tokio::test]
async fn a_refused_connection_was_not_sent() {
    // Arrange
    let setup = Setup::new();
    let port = refused_port().await;
    let transport = setup
        .transport(&format!("https://127.0.0.1:{port}"))
        .build()
        .expect("build");

    // Act
    let error = transport
        .post(PATH, body())
        .await
        .expect_err("must be refused");

    // Assert
    assert!(error.is_connect(), "{error:?}");
    assert!(!error.is_timeout());
    assert!(!error.may_have_been_sent());
}

#[tokio::test]
async fn a_refused_primary_fails_over_to_the_backup() {
    // Arrange
    let setup = Setup::new();
    let port = refused_port().await;
    let backup = setup.server(answer()).await;
    let transport = setup
        .transport(&format!("https://127.0.0.1:{port}"))
        .backup_base_url(backup.https_url())
        .build()
        .expect("build");

    // Act
    let response = transport.post(PATH, body()).await;

    // Assert
    assert!(response.is_ok_and(|r| r.body().as_ref() == ANSWER));
    assert_eq!(backup.received().len(), 1);
}

#[tokio::test]
async fn a_reset_after_the_body_was_read_may_have_been_sent_and_does_not_fail_over() {
    // Arrange
    let setup = Setup::new();
    let primary = setup.server(Reply::ResetAfterBody).await;
    let backup = setup.server(answer()).await;
    let transport = setup
        .transport(&primary.https_url())
        .backup_base_url(backup.https_url())
        .build()
        .expect("build");

    // Act
    let error = transport.post(PATH, body()).await.expect_err("must fail");

    // Assert
    assert!(error.may_have_been_sent(), "{error:?}");
    assert!(
        !error.is_connect() && !error.is_timeout() && !error.is_tls(),
        "{error:?}"
    );
    assert_eq!(
        primary.received().len(),
        1,
        "the primary read the whole request"
    );
    assert!(backup.received().is_empty(), "no failover after sending");
    assert_eq!(backup.accepts(), 0);
}

#[tokio::test]
async fn an_oversized_response_is_rejected() {
    // Arrange
    let setup = Setup::new();
    let server = setup
        .server(Reply::Answer(200, vec![b'x'; 64 * 1024]))
        .await;
    let transport = setup
        .transport(&server.https_url())
        .max_response_body_bytes(16 * 1024)
        .build()
        .expect("build");

    // Act
    let error = transport.post(PATH, body()).await.expect_err("too large");

    // Assert
    assert!(error.is_body_too_large(), "{error:?}");
    assert!(error.may_have_been_sent());
}

#[tokio::test]
async fn an_oversized_chunked_response_is_rejected_while_streaming() {
    // Arrange: no Content-Length to check up front.
    let setup = Setup::new();
    let server = setup.server(Reply::Chunked(vec![b'x'; 64 * 1024])).await;
    let transport = setup
        .transport(&server.https_url())
        .max_response_body_bytes(16 * 1024)
        .build()
        .expect("build");

    // Act
    let error = transport.post(PATH, body()).await.expect_err("too large");

    // Assert
    assert!(error.is_body_too_large(), "{error:?}");
    assert!(error.may_have_been_sent());
}

#[tokio::test]
async fn a_response_at_the_cap_is_accepted() {
    // Arrange
    let setup = Setup::new();
    let server = setup.server(Reply::Chunked(vec![b'x'; 16 * 1024])).await;
    let transport = setup
        .transport(&server.https_url())
        .max_response_body_bytes(16 * 1024)
        .build()
        .expect("build");

    // Act
    let response = transport.post(PATH, body()).await;

    // Assert
    assert!(response.is_ok_and(|r| r.body().len() == 16 * 1024));
}

#[tokio::test]
async fn a_non_2xx_status_is_a_status_error_that_may_have_been_sent() {
    // Arrange
    let setup = Setup::new();
    let server = setup
        .server(Reply::Answer(503, b"<html>busy</html>".to_vec()))
        .await;
    let transport = setup.transport(&server.https_url()).build().expect("build");

    // Act
    let error = transport.post(PATH, body()).await.expect_err("503");

    // Assert
    assert!(error.is_status());
    assert_eq!(error.status(), Some(503));
    assert!(error.may_have_been_sent());
}

#[tokio::test]
async fn plain_http_is_refused_unless_explicitly_allowed() {
    // Arrange
    let setup = Setup::new();
    let server = TestServer::start(
        &setup.server,
        ServerOptions {
            reply: answer(),
            client_ca: None,
            tls12_only: false,
        },
    )
    .await;

    // Act
    let refused = HttpsTransport::builder()
        .base_url(server.http_url())
        .build();
    let allowed = HttpsTransport::builder()
        .base_url(server.http_url())
        .allow_plain_http()
        .request_timeout(GENEROUS)
        .build()
        .expect("build with allow_plain_http");
    let response = allowed.post(PATH, body()).await;

    // Assert
    assert!(refused.is_err_and(|e| e.is_plain_http_refused() && e.is_builder()));
    assert!(response.is_ok_and(|r| r.body().as_ref() == ANSWER));
}
