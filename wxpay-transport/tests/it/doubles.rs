//! The test doubles behind the `test-util` feature.

use std::time::Duration;

use bytes::Bytes;
use wxpay_transport::{
    CapturingTransport, NeverTransport, Response, SimulatedFailure, Transport, TransportError,
};

#[tokio::test]
async fn the_capturing_double_records_requests_and_replays_its_script_in_order() {
    // Arrange
    let double = CapturingTransport::new();
    double
        .push_error(TransportError::simulated(SimulatedFailure::ResponseTimeout))
        .push_response(Response::new(200, "<xml/>"));
    let handed_out = double.clone();

    // Act
    let first = handed_out.post("/a", Bytes::from_static(b"one")).await;
    let second = handed_out.post("/b", Bytes::from_static(b"two")).await;
    let third = handed_out.post("/c", Bytes::from_static(b"three")).await;

    // Assert
    assert!(first.is_err_and(|e| e.is_timeout() && e.may_have_been_sent()));
    assert!(second.is_ok_and(|r| r.status() == 200 && r.body().as_ref() == b"<xml/>"));
    assert!(
        third.is_err_and(|e| e.may_have_been_sent()),
        "an exhausted script is not 'not sent'"
    );
    let paths: Vec<String> = double
        .requests()
        .iter()
        .map(|r| r.path().to_owned())
        .collect();
    assert_eq!(paths, ["/a", "/b", "/c"]);
    assert_eq!(double.requests()[1].body().as_ref(), b"two");
    assert_eq!(double.remaining(), 0);
}

#[test]
fn simulated_failures_answer_the_predicates_like_the_real_ones() {
    // Arrange
    let not_sent = [
        SimulatedFailure::ClosedBeforeSend,
        SimulatedFailure::ConnectRefused,
        SimulatedFailure::ConnectTimeout,
        SimulatedFailure::Dns,
        SimulatedFailure::TlsHandshake,
    ];
    let sent = [
        SimulatedFailure::BodyTooLarge,
        SimulatedFailure::ResetAfterSend,
        SimulatedFailure::ResponseTimeout,
        SimulatedFailure::Status(500),
    ];

    // Act / Assert
    for failure in not_sent {
        assert!(
            !TransportError::simulated(failure).may_have_been_sent(),
            "{failure:?}"
        );
    }
    for failure in sent {
        assert!(
            TransportError::simulated(failure).may_have_been_sent(),
            "{failure:?}"
        );
    }
    assert_eq!(
        TransportError::simulated(SimulatedFailure::Status(502)).status(),
        Some(502)
    );
    assert!(TransportError::simulated(SimulatedFailure::TlsHandshake).is_tls());
}

#[tokio::test]
async fn the_never_double_never_answers() {
    // Arrange
    let double = NeverTransport::new();

    // Act
    let outcome =
        tokio::time::timeout(Duration::from_millis(100), double.post("/x", Bytes::new())).await;

    // Assert
    assert!(outcome.is_err(), "still pending when the caller gave up");
    assert_eq!(double.calls(), 1);
}
