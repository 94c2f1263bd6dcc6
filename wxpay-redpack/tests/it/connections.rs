//! The client over the real HTTPS transport: a host name that does not resolve (nothing is
//! sent, and it is not an unknown outcome), and the keep-alive pool's settings, counted as
//! connections accepted by `wxpay-mock` over mutual TLS.

use std::collections::BTreeSet;
use std::error::Error as _;
use std::time::{Duration, Instant};

use wxpay_mock::{ClockMode, MockServer};
use wxpay_proto::{ActName, Fen, OpenId, Remark, Wishing};
use wxpay_redpack::{
    Error, ManualClock, RedPacket, RedpackClient, RedpackClientBuilder, RetryPolicy,
};
use wxpay_transport::ClientIdentity;

use crate::support::{KEY, NOW, builder, packet};

/// A name under `.invalid` (RFC 6761): it never resolves, with or without a DNS server.
const UNRESOLVABLE_HOST: &str = "api.mch.weixin.qq.invalid";
const UNRESOLVABLE_URL: &str = "https://api.mch.weixin.qq.invalid/";

/// A bound for calls that fail before anything is sent. With a DNS server the lookup fails at
/// once, without one faster still; a server that never answers is cut off by the default
/// connect timeout (5 s). Not a performance check.
const GENEROUS: Duration = Duration::from_secs(30);

/// A self-signed client certificate, made now.
fn identity() -> ClientIdentity {
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["merchant.example".to_owned()]).unwrap();
    ClientIdentity::from_pem(
        cert.pem().as_bytes(),
        signing_key.serialize_pem().as_bytes(),
    )
    .unwrap()
}

/// A client for the test merchant whose base URL does not resolve, with the production
/// defaults otherwise (connect and request timeouts, pool).
fn unresolvable_client(clock: &ManualClock) -> RedpackClient {
    builder(clock)
        .identity(identity())
        .base_url(UNRESOLVABLE_URL)
        .build()
        .unwrap()
}

/// The error's message, its whole chain of sources and its `Debug` form.
fn everything_said_about(error: &Error) -> String {
    let mut text = format!("{error:?}\n{error}");
    let mut source = error.source();
    while let Some(cause) = source {
        text.push('\n');
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Asserts that `result` is "not sent" because of DNS, with a message naming the host and no
/// secret anywhere.
fn assert_not_sent_because_of_dns<T: std::fmt::Debug>(result: Result<T, Error>) {
    let error = result.expect_err("the host name must not resolve");
    assert!(error.is_not_sent(), "{error:?}");
    assert!(!error.is_invalid_request(), "{error:?}");
    let Error::NotSent { source } = &error else {
        panic!("{error:?}")
    };
    assert!(source.is_dns(), "{source:?}");
    assert!(!source.may_have_been_sent(), "{source:?}");
    let said = everything_said_about(&error);
    assert!(
        said.contains(&format!("DNS lookup of `{UNRESOLVABLE_HOST}`")),
        "{said}"
    );
    assert!(!said.contains(KEY), "{said}");
    assert!(!said.contains("PRIVATE KEY"), "{said}");
}

#[tokio::test]
async fn a_send_to_a_host_name_that_does_not_resolve_is_not_sent_rather_than_unknown() {
    // Arrange
    let clock = ManualClock::at_unix_secs(NOW);
    let client = unresolvable_client(&clock);
    let started = Instant::now();

    // Act
    let result = client.send(&packet(1)).await;

    // Assert: an error (nothing left the machine: retrying with the same billno is safe),
    // not an outcome, and in particular not `Unknown`.
    assert_not_sent_because_of_dns(result);
    assert!(started.elapsed() < GENEROUS);
}

#[tokio::test]
async fn a_reliable_send_to_a_host_name_that_does_not_resolve_ends_not_sent() {
    // Arrange: two attempts (the virtual clock makes the waits instant).
    let clock = ManualClock::at_unix_secs(NOW);
    let client = unresolvable_client(&clock);
    let request = client.normal(&packet(1)).unwrap();
    let mut policy = RetryPolicy::default();
    policy.max_attempts = 2;
    let started = Instant::now();

    // Act
    let result = client.send_reliably(&request, &policy).await;

    // Assert: no attempt may have reached the server, so the end is "not sent" too.
    assert_not_sent_because_of_dns(result);
    assert!(started.elapsed() < GENEROUS);
}

#[tokio::test]
async fn a_query_to_a_host_name_that_does_not_resolve_is_not_sent() {
    // Arrange
    let clock = ManualClock::at_unix_secs(NOW);
    let client = unresolvable_client(&clock);
    let started = Instant::now();

    // Act
    let result = client.query(&crate::support::billno(1)).await;

    // Assert
    assert_not_sent_because_of_dns(result);
    assert!(started.elapsed() < GENEROUS);
}

async fn start_mock() -> MockServer {
    MockServer::builder()
        .seed(11)
        .clock(ClockMode::Frozen)
        .start()
        .await
        .unwrap()
}

fn mock_packet(client: &RedpackClient, n: u64) -> RedPacket {
    RedPacket::new(
        client.billno(n).unwrap(),
        OpenId::new(format!("oPool{n:08}")).unwrap(),
        Fen::new(100),
        Wishing::new("恭喜发财").unwrap(),
        ActName::new("连接测试").unwrap(),
        Remark::new("备注").unwrap(),
    )
}

/// A client built from the mock's `merchant.toml` (its endpoint, CA and client certificate),
/// with the transport's defaults.
fn mock_client(mock: &MockServer) -> RedpackClientBuilder {
    RedpackClientBuilder::from_merchant_toml(mock.default_merchant().merchant_toml_path())
        .unwrap()
        .send_name("测试商户")
}

/// Sends `count` packets one after the other, each answered `SUCCESS`.
async fn send_one_after_another(mock: &MockServer, client: &RedpackClient, count: u64) {
    for n in 1..=count {
        let outcome = client.send(&mock_packet(client, n)).await.unwrap();
        assert!(outcome.is_sent(), "{outcome:?}");
    }
    assert_eq!(mock.requests().len(), usize::try_from(count).unwrap());
}

/// The client addresses (IP and port) the mock received requests from: one per TCP (and TLS)
/// connection it accepted.
fn distinct_peers(mock: &MockServer) -> BTreeSet<String> {
    mock.requests()
        .into_iter()
        .map(|entry| entry.peer)
        .collect()
}

#[tokio::test]
async fn by_default_sequential_sends_share_one_connection() {
    // Arrange
    let mock = start_mock().await;
    let client = mock_client(&mock).build().unwrap();

    // Act
    send_one_after_another(&mock, &client, 3).await;

    // Assert
    let peers = distinct_peers(&mock);
    assert_eq!(peers.len(), 1, "one connection reused: {peers:?}");
}

#[tokio::test]
async fn with_no_idle_connections_kept_each_send_opens_its_own_connection() {
    // Arrange
    let mock = start_mock().await;
    let client = mock_client(&mock)
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();

    // Act
    send_one_after_another(&mock, &client, 3).await;

    // Assert
    let peers = distinct_peers(&mock);
    assert_eq!(peers.len(), 3, "a new connection per send: {peers:?}");
}

#[tokio::test]
async fn a_connection_idle_for_longer_than_the_idle_timeout_is_replaced() {
    // Arrange
    let mock = start_mock().await;
    let client = mock_client(&mock)
        .pool_idle_timeout(Duration::from_millis(1))
        .build()
        .unwrap();

    // Act: the second send comes after the first connection's idle time ran out.
    let first = client.send(&mock_packet(&client, 1)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let second = client.send(&mock_packet(&client, 2)).await.unwrap();

    // Assert
    assert!(first.is_sent() && second.is_sent(), "{first:?} {second:?}");
    let peers = distinct_peers(&mock);
    assert_eq!(
        peers.len(),
        2,
        "the idle connection was not reused: {peers:?}"
    );
}

#[test]
fn a_pool_idle_timeout_of_zero_or_over_a_day_is_a_config_error() {
    // Arrange
    let clock = ManualClock::at_unix_secs(NOW);
    let bad = [Duration::ZERO, Duration::from_secs(24 * 60 * 60 + 1)];

    for timeout in bad {
        // Act
        let error = builder(&clock)
            .identity(identity())
            .pool_idle_timeout(timeout)
            .build()
            .unwrap_err();

        // Assert
        assert!(
            matches!(
                error,
                Error::Config {
                    setting: "transport",
                    ..
                }
            ),
            "{timeout:?}: {error:?}"
        );
        let cause = error.source().map(ToString::to_string).unwrap_or_default();
        assert!(cause.contains("pool idle timeout"), "{cause}");
    }
}

#[test]
fn any_idle_connection_limit_and_a_timeout_within_bounds_build() {
    // Arrange
    let clock = ManualClock::at_unix_secs(NOW);

    // Act
    let results = [
        (0, Duration::from_millis(1)),
        (1, Duration::from_secs(90)),
        (usize::MAX, Duration::from_secs(24 * 60 * 60)),
    ]
    .map(|(max, timeout)| {
        builder(&clock)
            .identity(identity())
            .pool_max_idle_per_host(max)
            .pool_idle_timeout(timeout)
            .build()
    });

    // Assert
    for result in results {
        assert!(result.is_ok(), "{result:?}");
    }
}
