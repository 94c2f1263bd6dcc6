//! What each kind of answer becomes, over real HTTP.

use std::time::Duration;

use wiremock::{Mock, MockServer, Request, ResponseTemplate};
use wxpay_proto::{ErrCode, HandlingClass, RawMessage, ReturnHeader, SendResponse, XmlMessage};
use wxpay_redpack::{QueryOutcome, SendOutcome, UnknownCause};

use crate::support::*;

/// Every `err_code` of spec §7.2 (and two the crate does not know), with the class of a
/// rejection or `None` for an unknown outcome.
const CODES: &[(&str, Option<HandlingClass>)] = &[
    ("NO_AUTH", Some(HandlingClass::D)),
    ("SENDNUM_LIMIT", Some(HandlingClass::B)),
    ("SENDAMOUNT_LIMIT", Some(HandlingClass::B)),
    ("RCVDAMOUNT_LIMIT", Some(HandlingClass::B)),
    ("ILLEGAL_APPID", Some(HandlingClass::A)),
    ("MONEY_LIMIT", Some(HandlingClass::A)),
    ("SEND_FAILED", Some(HandlingClass::D)),
    ("FATAL_ERROR", Some(HandlingClass::D)),
    ("CA_ERROR", Some(HandlingClass::A)),
    ("SIGN_ERROR", Some(HandlingClass::A)),
    ("SYSTEMERROR", None),
    ("XML_ERROR", Some(HandlingClass::A)),
    ("FREQ_LIMIT", Some(HandlingClass::B)),
    ("API_METHOD_CLOSED", Some(HandlingClass::A)),
    ("NOTENOUGH", Some(HandlingClass::B)),
    ("OPENID_ERROR", Some(HandlingClass::A)),
    ("MSGAPPID_ERROR", Some(HandlingClass::A)),
    ("ACCEPTMODE_ERROR", Some(HandlingClass::A)),
    ("PROCESSING", None),
    ("PARAM_ERROR", Some(HandlingClass::A)),
    ("PRODUCT_AUTHORITY_UNOPEN", Some(HandlingClass::A)),
    ("PAYER_ACCOUNT_ABNORMAL", Some(HandlingClass::A)),
    ("SECOND_OVER_LIMITED", Some(HandlingClass::B)),
    ("DAY_OVER_LIMITED", Some(HandlingClass::B)),
    ("268458547", None),
    ("BRAND_NEW_CODE", None),
];

/// Answers each send with the code at the index its billno ends with.
fn by_billno(request: &Request) -> ResponseTemplate {
    let raw = RawMessage::parse(&request.body).unwrap();
    let billno = raw.text("mch_billno").unwrap();
    let index: usize = billno[billno.len() - 4..].parse().unwrap();
    let mut response = SendResponse::new(ReturnHeader::business_error(
        ErrCode::from(CODES[index].0),
        "描述",
    ));
    response.mch_billno = Some(billno.to_owned());
    response.mch_id = raw.text("mch_id").map(str::to_owned);
    ResponseTemplate::new(200).set_body_string(response.to_xml())
}

#[tokio::test]
async fn every_error_code_of_the_spec_maps_to_the_right_outcome() {
    // Arrange
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::method("POST"))
        .respond_with(by_billno)
        .mount(&server)
        .await;
    let (client, _) = client(&server);

    for (index, &(code, class)) in CODES.iter().enumerate() {
        // Act
        let outcome = client.send(&packet(index as u64)).await.unwrap();

        // Assert
        match (class, &outcome) {
            (Some(expected), SendOutcome::Rejected { code: c, class, .. }) => {
                assert_eq!(c.as_str(), code);
                assert_eq!(*class, expected, "{code}");
                assert_eq!(outcome.allows_new_billno(), code == "SEND_FAILED");
            }
            (None, SendOutcome::Unknown { cause, .. }) => match (code, cause) {
                ("SYSTEMERROR", UnknownCause::SystemError { description })
                | ("PROCESSING", UnknownCause::Processing { description }) => {
                    assert_eq!(description, "描述");
                }
                (_, UnknownCause::UnknownCode { code: c, .. }) => assert_eq!(c.as_str(), code),
                (_, cause) => panic!("{code}: {cause:?}"),
            },
            _ => panic!("{code}: {outcome:?}"),
        }
    }
    assert_eq!(requests(&server).await.len(), CODES.len());
}

async fn outcome_of(reply: Reply) -> SendOutcome {
    let server = MockServer::start().await;
    script(&server, SEND, vec![reply], Reply::Sent).await;
    let (client, _) = client(&server);
    client.send(&packet(1)).await.unwrap()
}

#[tokio::test]
async fn a_5xx_is_unknown() {
    for status in [500, 502, 503, 504] {
        assert_eq!(
            outcome_of(Reply::Status(status)).await.unknown_cause(),
            Some(&UnknownCause::HttpStatus { status })
        );
    }
}

#[tokio::test]
async fn an_html_page_is_unknown() {
    let outcome = outcome_of(Reply::Body(
        "<!DOCTYPE html>\n<html><head><title>404</title></head><body>Not Found</body></html>",
    ))
    .await;
    assert_eq!(outcome.unknown_cause(), Some(&UnknownCause::HtmlPage));
}

#[tokio::test]
async fn empty_malformed_and_garbage_bodies_are_unknown() {
    for body in [
        "",
        "garbage",
        "<xml><return_code>SUCCESS</return_code>",
        "<xml><total_amount>abc</total_amount><return_code>SUCCESS</return_code></xml>",
        "<root><return_code>SUCCESS</return_code></root>",
        "<?xml version=\"1.0\"?><!DOCTYPE xml [<!ENTITY x \"y\">]><xml>&x;</xml>",
    ] {
        let outcome = outcome_of(Reply::Body(body)).await;
        assert!(
            matches!(
                outcome.unknown_cause(),
                Some(UnknownCause::Unparseable { .. })
            ),
            "{body:?}: {outcome:?}"
        );
    }
}

#[tokio::test]
async fn every_echo_mismatch_is_unknown_and_never_sent() {
    for (field, value) in [
        ("mch_billno", "1900000109202601019999999999"),
        ("mch_id", "1900000110"),
        ("wxappid", "wx0000000000000000"),
        ("re_openid", "oSomeoneElse"),
        ("total_amount", "100000"),
    ] {
        let outcome = outcome_of(Reply::SentWithEcho(field, value)).await;
        match outcome {
            SendOutcome::Unknown {
                cause:
                    UnknownCause::EchoMismatch {
                        field: f, received, ..
                    },
                ..
            } => {
                assert_eq!(f, field);
                assert_eq!(received, value);
            }
            other => panic!("{field}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_success_without_send_listid_is_unknown() {
    assert_eq!(
        outcome_of(Reply::SentWithoutListid).await.unknown_cause(),
        Some(&UnknownCause::MissingField {
            field: "send_listid"
        })
    );
}

#[tokio::test]
async fn a_protocol_failure_without_a_code_is_unknown() {
    let outcome = outcome_of(Reply::Body(
        "<xml><return_code><![CDATA[FAIL]]></return_code>\
         <return_msg><![CDATA[系统繁忙,请稍后再试.]]></return_msg></xml>",
    ))
    .await;
    assert_eq!(
        outcome.unknown_cause(),
        Some(&UnknownCause::ProtocolFailure {
            return_msg: Some("系统繁忙,请稍后再试.".to_owned())
        })
    );
}

#[tokio::test]
async fn the_real_2017_success_sample_is_sent() {
    // WxJava #140 (spec §3), with the sample's billno and ids as this request's.
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string(format!(
            "<xml>\n<return_code><![CDATA[SUCCESS]]></return_code>\n\
             <return_msg><![CDATA[发放成功]]></return_msg>\n\
             <result_code><![CDATA[SUCCESS]]></result_code>\n\
             <err_code><![CDATA[SUCCESS]]></err_code>\n\
             <err_code_des><![CDATA[发放成功]]></err_code_des>\n\
             <mch_billno><![CDATA[{}]]></mch_billno>\n<mch_id>{MCH_ID}</mch_id>\n\
             <wxappid><![CDATA[{APPID}]]></wxappid>\n<re_openid><![CDATA[{OPENID}]]></re_openid>\n\
             <total_amount>1000</total_amount>\n\
             <send_listid><![CDATA[1000041701201702143000036640284]]></send_listid>\n</xml>",
            billno(1)
        )))
        .mount(&server)
        .await;
    let (client, _) = client(&server);

    let outcome = client.send(&packet(1)).await.unwrap();

    assert_eq!(
        outcome.send_listid(),
        Some("1000041701201702143000036640284")
    );
}

#[tokio::test]
async fn a_response_that_does_not_come_in_time_is_unknown() {
    // Arrange: the server answers after 2 s; the client waits 300 ms.
    let server = MockServer::start().await;
    script(&server, SEND, vec![], Reply::Late(Duration::from_secs(2))).await;
    let (client, _) = client_with_timeout(&server, Duration::from_millis(300));

    // Act
    let outcome = client.send(&packet(1)).await.unwrap();

    // Assert
    assert!(
        matches!(outcome.unknown_cause(), Some(UnknownCause::Timeout { .. })),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn a_server_that_cannot_be_reached_is_not_sent_rather_than_an_outcome() {
    // Arrange: a port nobody listens on any more.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let clock = wxpay_redpack::ManualClock::at_unix_secs(NOW);
    let client = builder(&clock)
        .base_url(format!("http://127.0.0.1:{port}"))
        .allow_plain_http()
        .build()
        .unwrap();

    // Act
    let error = client.send(&packet(1)).await.unwrap_err();

    // Assert
    assert!(error.is_not_sent(), "{error:?}");
}

#[tokio::test]
async fn query_answers_map_to_found_not_found_refused_and_unknown() {
    // Arrange
    let server = MockServer::start().await;
    script(
        &server,
        QUERY,
        vec![
            Reply::NotFound,
            Reply::Code("NOT_FOUND"),
            Reply::Record("SENT"),
            Reply::Code("SIGN_ERROR"),
            Reply::Code("SYSTEMERROR"),
            Reply::Status(502),
        ],
        Reply::Record("SENT"),
    )
    .await;
    let (client, _) = client(&server);

    // Act
    let mut outcomes = Vec::new();
    for _ in 0..6 {
        outcomes.push(client.query(&billno(1)).await.unwrap());
    }

    // Assert
    assert_eq!(outcomes[0], QueryOutcome::NotFound);
    assert_eq!(outcomes[1], QueryOutcome::NotFound);
    assert!(
        matches!(&outcomes[2], QueryOutcome::Found(r) if r.status == wxpay_proto::Status::Sent)
    );
    assert!(matches!(
        &outcomes[3],
        QueryOutcome::Refused {
            code: ErrCode::SignError,
            ..
        }
    ));
    assert!(matches!(
        &outcomes[4],
        QueryOutcome::Unknown {
            cause: UnknownCause::SystemError { .. }
        }
    ));
    assert_eq!(
        outcomes[5],
        QueryOutcome::Unknown {
            cause: UnknownCause::HttpStatus { status: 502 }
        }
    );
}
