//! The reliable send: same billno, same bytes, settled by queries, bounded.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use wiremock::MockServer;
use wxpay_proto::{ErrCode, HandlingClass, RawMessage, Status, XmlMessage};
use wxpay_redpack::{Confirmation, Error, ManualClock, RetryPolicy, SendOutcome, UnknownCause};
use wxpay_transport::{CapturingTransport, Response, SimulatedFailure, Transport, TransportError};

use crate::support::*;

const SECOND: Duration = Duration::from_secs(1);

fn policy() -> RetryPolicy {
    RetryPolicy::default()
}

/// The time between consecutive sends, from the clock's record of sleeps and the order of
/// requests (sends and queries take no virtual time).
fn assert_all_sleeps_at_least_a_second(clock: &ManualClock) {
    for sleep in clock.sleeps() {
        assert!(sleep >= SECOND, "{:?}", clock.sleeps());
    }
}

#[tokio::test]
async fn unknown_outcomes_are_retried_with_the_same_bytes_and_settled_through_queries() {
    // Arrange: a 500, then SYSTEMERROR, then success; the queries in between find nothing.
    let server = MockServer::start().await;
    script(
        &server,
        SEND,
        vec![Reply::Status(500), Reply::Code("SYSTEMERROR")],
        Reply::Sent,
    )
    .await;
    script(&server, QUERY, vec![], Reply::NotFound).await;
    let (client, clock) = client(&server);
    let request = client.normal(&packet(1)).unwrap();

    // Act
    let outcome = client.send_reliably(&request, &policy()).await.unwrap();

    // Assert
    assert_eq!(outcome.send_listid(), Some(SEND_LISTID));
    let requests = requests(&server).await;
    let order: Vec<&str> = requests.iter().map(|r| r.url.path()).collect();
    assert_eq!(order, [SEND, QUERY, SEND, QUERY, SEND]);
    let sends: Vec<&Vec<u8>> = requests
        .iter()
        .filter(|r| r.url.path() == SEND)
        .map(|r| &r.body)
        .collect();
    assert!(
        sends.iter().all(|body| *body == sends[0]),
        "byte-identical resends"
    );
    assert_eq!(
        RawMessage::parse(sends[0]).unwrap().text("mch_billno"),
        Some(billno(1).as_str())
    );
    for query in requests.iter().filter(|r| r.url.path() == QUERY) {
        let raw = RawMessage::parse(&query.body).unwrap();
        assert_eq!(raw.text("mch_billno"), Some(billno(1).as_str()));
        assert_signed(&query.body);
    }
    assert_eq!(clock.sleeps(), vec![SECOND, 2 * SECOND]);
}

#[tokio::test]
async fn a_query_that_finds_the_packet_ends_the_loop_without_resending() {
    // Arrange: the connection drops after the request left; the packet exists.
    let server = MockServer::start().await;
    script(&server, SEND, vec![Reply::Status(502)], Reply::Sent).await;
    script(&server, QUERY, vec![], Reply::Record("SENT")).await;
    let (client, _) = client(&server);
    let request = client.normal(&packet(2)).unwrap();

    // Act
    let outcome = client.send_reliably(&request, &policy()).await.unwrap();

    // Assert
    let SendOutcome::Sent {
        send_listid,
        confirmed_by,
        mch_billno,
        ..
    } = outcome
    else {
        panic!("{outcome:?}")
    };
    assert_eq!(send_listid, SEND_LISTID);
    assert_eq!(mch_billno, billno(2));
    assert_eq!(confirmed_by, Confirmation::Query(Status::Sent));
    assert_eq!(requests_to(&server, SEND).await.len(), 1);
}

#[tokio::test]
async fn a_failed_record_is_a_rejection_that_allows_a_new_billno() {
    // Arrange
    let server = MockServer::start().await;
    script(&server, SEND, vec![], Reply::Code("PROCESSING")).await;
    script(&server, QUERY, vec![], Reply::Record("FAILED")).await;
    let (client, _) = client(&server);
    let request = client.normal(&packet(3)).unwrap();

    // Act
    let outcome = client.send_reliably(&request, &policy()).await.unwrap();

    // Assert
    assert!(outcome.allows_new_billno(), "{outcome:?}");
    let SendOutcome::Rejected {
        code,
        class,
        description,
        ..
    } = outcome
    else {
        panic!()
    };
    assert_eq!((code, class), (ErrCode::SendFailed, HandlingClass::D));
    assert!(description.contains("余额不足"));
    assert_eq!(requests_to(&server, SEND).await.len(), 1);
}

#[tokio::test]
async fn a_sending_record_is_queried_again_and_never_resent() {
    // Arrange
    let server = MockServer::start().await;
    script(&server, SEND, vec![], Reply::Code("PROCESSING")).await;
    script(
        &server,
        QUERY,
        vec![Reply::Record("SENDING"), Reply::Record("SENDING")],
        Reply::Record("RECEIVED"),
    )
    .await;
    let (client, clock) = client(&server);
    let request = client.normal(&packet(4)).unwrap();

    // Act
    let outcome = client.send_reliably(&request, &policy()).await.unwrap();

    // Assert
    assert!(matches!(
        outcome,
        SendOutcome::Sent {
            confirmed_by: Confirmation::Query(Status::Received),
            ..
        }
    ));
    assert_eq!(requests_to(&server, SEND).await.len(), 1);
    assert_eq!(requests_to(&server, QUERY).await.len(), 3);
    assert_eq!(clock.sleeps(), vec![SECOND, 2 * SECOND, 4 * SECOND]);
}

#[tokio::test]
async fn freq_limit_backs_off_and_retries_the_same_billno() {
    // Arrange
    let server = MockServer::start().await;
    script(
        &server,
        SEND,
        vec![Reply::Code("FREQ_LIMIT"), Reply::Code("FREQ_LIMIT")],
        Reply::Sent,
    )
    .await;
    let (client, clock) = client(&server);
    let request = client.normal(&packet(5)).unwrap();

    // Act
    let outcome = client.send_reliably(&request, &policy()).await.unwrap();

    // Assert
    assert!(outcome.is_sent());
    let sends = requests_to(&server, SEND).await;
    assert_eq!(sends.len(), 3);
    assert!(sends.iter().all(|r| r.body == sends[0].body));
    assert!(requests_to(&server, QUERY).await.is_empty());
    assert_eq!(clock.sleeps(), vec![2 * SECOND, 4 * SECOND]);
}

#[tokio::test]
async fn a_definitive_rejection_is_returned_after_one_request() {
    for code in [
        "SIGN_ERROR",
        "SENDNUM_LIMIT",
        "NOTENOUGH",
        "FATAL_ERROR",
        "SEND_FAILED",
    ] {
        // Arrange
        let server = MockServer::start().await;
        script(&server, SEND, vec![], Reply::Code(code)).await;
        let (client, clock) = client(&server);
        let request = client.normal(&packet(6)).unwrap();

        // Act
        let outcome = client.send_reliably(&request, &policy()).await.unwrap();

        // Assert
        assert_eq!(outcome.code().map(ErrCode::as_str), Some(code));
        assert_eq!(requests(&server).await.len(), 1, "{code}");
        assert!(clock.sleeps().is_empty());
    }
}

#[tokio::test]
async fn a_rejection_after_an_unknown_attempt_is_checked_with_a_query() {
    // Arrange: the first attempt may have landed; the resend is refused by a daily limit
    // (which a real server might check before the billno); the query finds the packet.
    let server = MockServer::start().await;
    script(
        &server,
        SEND,
        vec![Reply::Status(504), Reply::Code("SENDNUM_LIMIT")],
        Reply::Sent,
    )
    .await;
    script(&server, QUERY, vec![Reply::NotFound], Reply::Record("SENT")).await;
    let (client, _) = client(&server);
    let request = client.normal(&packet(7)).unwrap();

    // Act
    let outcome = client.send_reliably(&request, &policy()).await.unwrap();

    // Assert
    assert!(
        matches!(
            outcome,
            SendOutcome::Sent {
                confirmed_by: Confirmation::Query(Status::Sent),
                ..
            }
        ),
        "{outcome:?}"
    );
    let order = paths(&server).await;
    assert_eq!(order, [SEND, QUERY, SEND, QUERY]);
}

#[tokio::test]
async fn a_refusal_after_an_unknown_attempt_that_no_query_settles_stays_unknown() {
    // Arrange: the first attempt may have landed (its commit may show up late); the resend
    // is refused by the IP whitelist, which says nothing about the billno; no query finds
    // the record.
    let server = MockServer::start().await;
    script(
        &server,
        SEND,
        vec![Reply::Status(504), Reply::Code("NO_AUTH")],
        Reply::Sent,
    )
    .await;
    script(&server, QUERY, vec![], Reply::NotFound).await;
    let (client, _) = client(&server);
    let request = client.normal(&packet(17)).unwrap();

    // Act
    let outcome = client.send_reliably(&request, &policy()).await.unwrap();

    // Assert: unknown, with the refusal kept for the operator; never a rejection.
    let Some(UnknownCause::RefusedAfterUnknown {
        code,
        class,
        earlier,
        ..
    }) = outcome.unknown_cause()
    else {
        panic!("{outcome:?}")
    };
    assert_eq!(*code, ErrCode::NoAuth);
    assert_eq!(*class, HandlingClass::D);
    assert!(earlier.contains("504"), "{earlier}");
    assert!(!outcome.allows_new_billno());
    let order = paths(&server).await;
    assert_eq!(order, [SEND, QUERY, SEND, QUERY]);
}

#[tokio::test]
async fn send_failed_after_an_unknown_attempt_is_still_a_rejection_that_allows_a_new_billno() {
    // Arrange: SEND_FAILED is about the billno itself, whatever came before.
    let server = MockServer::start().await;
    script(
        &server,
        SEND,
        vec![Reply::Status(504), Reply::Code("SEND_FAILED")],
        Reply::Sent,
    )
    .await;
    script(&server, QUERY, vec![], Reply::NotFound).await;
    let (client, _) = client(&server);
    let request = client.normal(&packet(18)).unwrap();

    // Act
    let outcome = client.send_reliably(&request, &policy()).await.unwrap();

    // Assert
    assert_eq!(outcome.code(), Some(&ErrCode::SendFailed), "{outcome:?}");
    assert!(outcome.allows_new_billno());
}

#[tokio::test]
async fn a_resend_after_an_earlier_unknown_checks_a_refusal_with_a_query() {
    // Arrange: an earlier call (or process) left the billno unknown. Twice: the query finds
    // the record, then it does not.
    for (record, settled) in [(Reply::Record("SENT"), true), (Reply::NotFound, false)] {
        let server = MockServer::start().await;
        script(&server, SEND, vec![], Reply::Code("CA_ERROR")).await;
        script(&server, QUERY, vec![], record).await;
        let (client, _) = client(&server);
        let request = client.normal(&packet(19)).unwrap();

        // Act
        let outcome = client
            .resend_reliably(&request, &policy(), "timed out in an earlier run")
            .await
            .unwrap();

        // Assert
        if settled {
            assert_eq!(outcome.send_listid(), Some(SEND_LISTID), "{outcome:?}");
        } else {
            assert!(
                matches!(
                    outcome.unknown_cause(),
                    Some(UnknownCause::RefusedAfterUnknown {
                        code: ErrCode::CaError,
                        earlier,
                        ..
                    }) if earlier == "timed out in an earlier run"
                ),
                "{outcome:?}"
            );
        }
        let order = paths(&server).await;
        assert_eq!(order, [SEND, QUERY]);
    }
}

#[tokio::test]
async fn a_refusal_while_the_record_is_still_sending_is_reported_as_still_sending() {
    // Arrange: the first attempt is in progress on the server when the resend is refused.
    let server = MockServer::start().await;
    script(
        &server,
        SEND,
        vec![Reply::Status(504), Reply::Code("NO_AUTH")],
        Reply::Sent,
    )
    .await;
    script(
        &server,
        QUERY,
        vec![Reply::NotFound],
        Reply::Record("SENDING"),
    )
    .await;
    let (client, _) = client(&server);
    let request = client.normal(&packet(20)).unwrap();

    // Act
    let outcome = client.send_reliably(&request, &policy()).await.unwrap();

    // Assert
    assert_eq!(
        outcome.unknown_cause(),
        Some(&UnknownCause::StillSending),
        "{outcome:?}"
    );
    assert_eq!(
        requests_to(&server, SEND).await.len(),
        2,
        "never resent while SENDING"
    );
}

#[tokio::test]
async fn the_budget_bounds_the_attempts_and_the_outcome_stays_unknown() {
    // Arrange: nothing ever settles.
    let server = MockServer::start().await;
    script(&server, SEND, vec![], Reply::Code("SYSTEMERROR")).await;
    script(&server, QUERY, vec![], Reply::NotFound).await;
    let (client, clock) = client(&server);
    let request = client.normal(&packet(8)).unwrap();
    let mut policy = policy();
    policy.max_attempts = 3;
    policy.max_queries = 3;

    // Act
    let outcome = client.send_reliably(&request, &policy).await.unwrap();

    // Assert
    assert_eq!(
        outcome.unknown_cause(),
        Some(&UnknownCause::SystemError {
            description: "描述".to_owned()
        })
    );
    assert_eq!(requests_to(&server, SEND).await.len(), 3);
    assert_eq!(requests_to(&server, QUERY).await.len(), 3);
    assert!(clock.elapsed() <= policy.max_total);
    assert_all_sleeps_at_least_a_second(&clock);
}

#[tokio::test]
async fn the_total_time_bounds_the_loop() {
    // Arrange
    let server = MockServer::start().await;
    script(&server, SEND, vec![], Reply::Status(503)).await;
    script(&server, QUERY, vec![], Reply::NotFound).await;
    let (client, clock) = client(&server);
    let request = client.normal(&packet(9)).unwrap();
    let mut policy = policy();
    policy.max_attempts = 100;
    policy.max_queries = 100;
    policy.max_total = Duration::from_secs(10);

    // Act
    let outcome = client.send_reliably(&request, &policy).await.unwrap();

    // Assert
    assert_eq!(
        outcome.unknown_cause(),
        Some(&UnknownCause::HttpStatus { status: 503 })
    );
    assert!(
        clock.elapsed() <= Duration::from_secs(10),
        "{:?}",
        clock.sleeps()
    );
    assert!(requests_to(&server, SEND).await.len() < 10);
}

#[tokio::test]
async fn a_mini_program_packet_found_by_a_query_gets_its_package_by_a_replay() {
    // Arrange
    let server = MockServer::start().await;
    script(&server, MINI, vec![Reply::Status(500)], Reply::Sent).await;
    script(&server, QUERY, vec![], Reply::Record("SENT")).await;
    let (client, clock) = client(&server);
    let request = client.mini_program(&packet(10)).unwrap();

    // Act
    let outcome = client.send_reliably(&request, &policy()).await.unwrap();

    // Assert
    let SendOutcome::Sent { package, .. } = &outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(package.as_deref(), Some(PACKAGE));
    let minis = requests_to(&server, MINI).await;
    assert_eq!(minis.len(), 2);
    assert_eq!(minis[0].body, minis[1].body);
    let query = &requests_to(&server, QUERY).await[0];
    assert_eq!(
        RawMessage::parse(&query.body).unwrap().text("appid"),
        Some(MINI_APPID)
    );
    assert_all_sleeps_at_least_a_second(&clock);
}

#[tokio::test]
async fn an_invalid_policy_or_request_sends_nothing() {
    // Arrange
    let server = MockServer::start().await;
    script(&server, SEND, vec![], Reply::Sent).await;
    let (client, _) = client(&server);
    let request = client.normal(&packet(11)).unwrap();
    let mut hasty = policy();
    hasty.min_delay = Duration::from_millis(200);
    let invalid = client.normal(&packet(12).with_total_num(3)).unwrap();

    // Act
    let policy_error = client.send_reliably(&request, &hasty).await.unwrap_err();
    let request_error = client.send_reliably(&invalid, &policy()).await.unwrap_err();

    // Assert
    assert!(matches!(policy_error, Error::Policy { .. }));
    assert_eq!(request_error.field(), Some("total_num"));
    assert!(requests(&server).await.is_empty());
}

/// The path of every request the server received, in order.
async fn paths(server: &MockServer) -> Vec<String> {
    requests(server)
        .await
        .iter()
        .map(|r| r.url.path().to_owned())
        .collect()
}

fn success_for(body: &Bytes) -> Response {
    let raw = RawMessage::parse(body).unwrap();
    let mut response =
        wxpay_proto::SendResponse::new(wxpay_proto::ReturnHeader::success("发放成功"));
    response.mch_billno = raw.text("mch_billno").map(str::to_owned);
    response.send_listid = Some(SEND_LISTID.to_owned());
    Response::new(200, response.to_xml())
}

#[tokio::test]
async fn a_send_that_never_left_is_retried_at_once() {
    // Arrange
    let transport = CapturingTransport::new();
    transport
        .push_error(TransportError::simulated(SimulatedFailure::ConnectRefused))
        .push_error(TransportError::simulated(SimulatedFailure::TlsHandshake));
    let clock = ManualClock::at_unix_secs(NOW);
    let client = builder(&clock)
        .build_with_transport(transport.clone())
        .unwrap();
    let request = client.normal(&packet(13)).unwrap();
    let dry = client.dry_run(&request).unwrap();
    transport.push_response(success_for(&Bytes::from(dry.xml.clone())));

    // Act
    let outcome = client.send_reliably(&request, &policy()).await.unwrap();

    // Assert
    assert!(outcome.is_sent(), "{outcome:?}");
    let requests = transport.requests();
    assert_eq!(requests.len(), 3);
    assert!(
        requests
            .iter()
            .all(|r| r.path() == SEND && r.body() == dry.xml.as_bytes())
    );
    assert!(clock.sleeps().is_empty(), "{:?}", clock.sleeps());
}

#[tokio::test]
async fn a_send_that_never_left_at_all_is_an_error_not_an_outcome() {
    // Arrange
    let transport = CapturingTransport::new();
    for _ in 0..5 {
        transport.push_error(TransportError::simulated(SimulatedFailure::Dns));
    }
    let clock = ManualClock::at_unix_secs(NOW);
    let client = builder(&clock)
        .build_with_transport(transport.clone())
        .unwrap();
    let request = client.normal(&packet(14)).unwrap();

    // Act
    let error = client.send_reliably(&request, &policy()).await.unwrap_err();

    // Assert
    assert!(error.is_not_sent(), "{error:?}");
    assert_eq!(transport.requests().len(), 5);
}

#[tokio::test]
async fn a_timeout_after_sending_then_unreachable_queries_stays_unknown() {
    // Arrange: the send times out; every later call fails before leaving.
    let transport = CapturingTransport::new();
    transport.push_error(TransportError::simulated(SimulatedFailure::ResponseTimeout));
    for _ in 0..20 {
        transport.push_error(TransportError::simulated(SimulatedFailure::ConnectRefused));
    }
    let clock = ManualClock::at_unix_secs(NOW);
    let client = builder(&clock)
        .build_with_transport(transport.clone())
        .unwrap();
    let request = client.normal(&packet(15)).unwrap();

    // Act
    let outcome = client.send_reliably(&request, &policy()).await.unwrap();

    // Assert
    assert!(
        matches!(outcome.unknown_cause(), Some(UnknownCause::Timeout { .. })),
        "{outcome:?}"
    );
    assert!(transport.requests().len() <= 1 + 5 + 6);
}

/// A transport that answers success after a short real pause and counts overlapping calls.
#[derive(Debug, Default, Clone)]
struct Overlap {
    in_flight: Arc<AtomicUsize>,
    max_in_flight: Arc<AtomicUsize>,
}

impl Transport for Overlap {
    async fn post(&self, _path: &str, body: Bytes) -> Result<Response, TransportError> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(20)).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        Ok(success_for(&body))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sends_of_the_same_billno_through_one_client_never_overlap() {
    // Arrange
    let transport = Overlap::default();
    let clock = ManualClock::at_unix_secs(NOW);
    let client = builder(&clock)
        .build_with_transport(transport.clone())
        .unwrap();
    let request = client.normal(&packet(16)).unwrap();
    let other = client.normal(&packet(17)).unwrap();

    // Act
    let policy = policy();
    let (a, b) = tokio::join!(
        client.send_reliably(&request, &policy),
        client.send_request(&request)
    );
    let same_billno_max = transport.max_in_flight.load(Ordering::SeqCst);
    let (c, d) = tokio::join!(client.send_request(&request), client.send_request(&other));

    // Assert
    assert!(a.unwrap().is_sent() && b.unwrap().is_sent());
    assert!(c.unwrap().is_sent() && d.unwrap().is_sent());
    assert_eq!(same_billno_max, 1);
    // Different billnos are not serialised.
    assert_eq!(transport.max_in_flight.load(Ordering::SeqCst), 2);
}
