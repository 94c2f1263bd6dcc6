//! What a send or a query found out, and the pure functions that turn a transport result into
//! it (spec §7).

use std::error::Error as StdError;
use std::fmt;

use wxpay_proto::gethbinfo::{self, HbInfo};
use wxpay_proto::{
    ErrCode, Fen, HandlingClass, HbType, MchBillno, ReturnStatus, SendResponse, SendType, Status,
    XmlMessage,
};
use wxpay_transport::{Response, TransportError};

use crate::error::Error;
use crate::packet::SendRequest;

/// What became of a send.
///
/// - **Sent**: WeChat Pay issued the packet (its answer, or its record, says so).
/// - **Rejected**: WeChat Pay answered with a definitive error code (handling class A, B or D
///   of spec §7.2): nothing was issued under this billno by this request.
/// - **Unknown**: the packet may or may not have been issued. This is **not** a failure: never
///   send the same intent under a new billno; retry with the same billno or query
///   ([`RedpackClient::send_reliably`](crate::RedpackClient::send_reliably) does both).
///
/// Requests that never left the process are not outcomes: they are an
/// [`Error`](crate::Error).
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(
    clippy::exhaustive_enums,
    reason = "the three outcomes are the model: code matching on them must handle each"
)]
pub enum SendOutcome {
    /// The packet was issued.
    #[non_exhaustive]
    Sent {
        /// The billno it was sent under.
        mch_billno: MchBillno,
        /// WeChat Pay's red-packet order id (`send_listid`, = `detail_id` of a query).
        send_listid: String,
        /// The `package` of a mini-program packet, for
        /// [`biz_red_packet_params`](crate::biz_red_packet_params); `None` for other packets
        /// (and for a mini-program packet confirmed only by a query, when no later send
        /// returned it).
        package: Option<String>,
        /// What established it.
        confirmed_by: Confirmation,
    },
    /// WeChat Pay refused the request with a definitive code.
    #[non_exhaustive]
    Rejected {
        /// The error code.
        code: ErrCode,
        /// Its handling class (A, B or D; never C).
        class: HandlingClass,
        /// The description (`err_code_des`), for people, not automation.
        description: String,
    },
    /// Whether the packet was issued is not known.
    #[non_exhaustive]
    Unknown {
        /// Why not.
        cause: UnknownCause,
    },
}

impl SendOutcome {
    /// Whether the packet was issued.
    pub fn is_sent(&self) -> bool {
        matches!(self, Self::Sent { .. })
    }

    /// Whether the outcome is unknown.
    pub fn is_unknown(&self) -> bool {
        matches!(self, Self::Unknown { .. })
    }

    /// The `send_listid` of a sent packet.
    pub fn send_listid(&self) -> Option<&str> {
        match self {
            Self::Sent { send_listid, .. } => Some(send_listid),
            Self::Rejected { .. } | Self::Unknown { .. } => None,
        }
    }

    /// The cause of an unknown outcome.
    pub fn unknown_cause(&self) -> Option<&UnknownCause> {
        match self {
            Self::Unknown { cause } => Some(cause),
            Self::Sent { .. } | Self::Rejected { .. } => None,
        }
    }

    /// The error code of a rejection.
    pub fn code(&self) -> Option<&ErrCode> {
        match self {
            Self::Rejected { code, .. } => Some(code),
            Self::Sent { .. } | Self::Unknown { .. } => None,
        }
    }

    /// Whether the caller may send the same intent again under a **new** billno: only after
    /// `SEND_FAILED` (which a `FAILED` status found by a query is reported as). Every other
    /// outcome keeps the billno; a new one risks paying twice.
    pub fn allows_new_billno(&self) -> bool {
        matches!(self, Self::Rejected { code, .. } if code.allows_new_billno())
    }
}

/// What established that a packet was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Confirmation {
    /// The send's own answer (`SUCCESS`, possibly the replay of an earlier attempt).
    SendResponse,
    /// A `gethbinfo` record, in this status.
    Query(Status),
}

/// Why a send's outcome is unknown (spec §7.2 class C and the transport failures after the
/// request left).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UnknownCause {
    /// No complete answer within the time limit after the request left.
    Timeout {
        /// The transport's description.
        detail: String,
    },
    /// The connection failed after the request left: reset, closed, unreadable or oversized
    /// response body.
    Transport {
        /// The transport's description.
        detail: String,
    },
    /// An HTTP status other than 2xx.
    HttpStatus {
        /// The status code.
        status: u16,
    },
    /// An HTML page instead of an XML answer.
    HtmlPage,
    /// A body that is not a valid answer: empty, garbage, malformed XML, a malformed field.
    Unparseable {
        /// What is wrong with it.
        reason: String,
    },
    /// `SYSTEMERROR`: "请求已受理，请稍后使用原单号查询发放结果".
    SystemError {
        /// `err_code_des`.
        description: String,
    },
    /// `PROCESSING`: accepted, still in progress.
    Processing {
        /// `err_code_des`.
        description: String,
    },
    /// A code that proves nothing: one this crate does not know (the docs say never to
    /// switch billno on a new code), or a known class-C code out of place.
    UnknownCode {
        /// The code.
        code: ErrCode,
        /// `err_code_des`.
        description: String,
    },
    /// `return_code=FAIL` (or no `SUCCESS` flags) without an `err_code`.
    ProtocolFailure {
        /// `return_msg`, if any.
        return_msg: Option<String>,
    },
    /// The answer is not about this request: an echoed field differs from the request's.
    EchoMismatch {
        /// The echoed field.
        field: &'static str,
        /// The request's value.
        expected: String,
        /// The echoed value.
        received: String,
    },
    /// An answer that claims success lacks a field it must carry (`mch_billno` or
    /// `send_listid`, or a query's `status` / `detail_id`).
    MissingField {
        /// The missing field.
        field: &'static str,
    },
    /// The last query still showed the packet as `SENDING`.
    StillSending,
    /// An earlier attempt of the billno had an unknown outcome, so it may have issued the
    /// packet; a later attempt was then refused with a code that says nothing about that
    /// earlier one (any but `SEND_FAILED`), and no query found the record. Settle it with
    /// `gethbinfo` or another attempt of the same billno; never a new billno.
    RefusedAfterUnknown {
        /// The later refusal's code.
        code: ErrCode,
        /// Its handling class (spec §7.2): what to fix before the next attempt.
        class: HandlingClass,
        /// Its `err_code_des`.
        description: String,
        /// Why the earlier attempt's outcome is unknown.
        earlier: String,
    },
}

impl fmt::Display for UnknownCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Timeout { detail } => write!(f, "no answer in time after sending ({detail})"),
            Self::Transport { detail } => write!(f, "connection failed after sending ({detail})"),
            Self::HttpStatus { status } => write!(f, "HTTP status {status}"),
            Self::HtmlPage => f.write_str("an HTML page instead of XML"),
            Self::Unparseable { reason } => write!(f, "unparseable answer ({reason})"),
            Self::SystemError { description } => write!(f, "SYSTEMERROR ({description})"),
            Self::Processing { description } => write!(f, "PROCESSING ({description})"),
            Self::UnknownCode { code, description } => write!(f, "{code} ({description})"),
            Self::ProtocolFailure { return_msg } => write!(
                f,
                "return_code FAIL without err_code ({})",
                return_msg.as_deref().unwrap_or("no message")
            ),
            Self::EchoMismatch {
                field,
                expected,
                received,
            } => write!(f, "echoed {field} is {received:?}, sent {expected:?}"),
            Self::MissingField { field } => write!(f, "success without {field}"),
            Self::StillSending => f.write_str("the record is still SENDING"),
            Self::RefusedAfterUnknown {
                code,
                description,
                earlier,
                ..
            } => write!(
                f,
                "an earlier attempt may have issued the packet ({earlier}); a later one was \
                 refused with {code} ({description}), and no record was found"
            ),
        }
    }
}

/// What a `gethbinfo` query found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum QueryOutcome {
    /// The packet's record.
    Found(Box<PacketRecord>),
    /// No record for this billno (`NOT_FOUND`, or `SYSTEMERROR` "指定单号数据不存在").
    /// **Not a failure**: the send may still be in progress, or may never have arrived.
    /// Query again later, or resend with the same billno.
    NotFound,
    /// The query itself was refused with a definitive code (`SIGN_ERROR`, `CA_ERROR`,
    /// `FREQ_LIMIT`…). Says nothing about the packet.
    Refused {
        /// The code.
        code: ErrCode,
        /// `err_code_des`.
        description: String,
    },
    /// The query got no usable answer.
    Unknown {
        /// Why.
        cause: UnknownCause,
    },
}

/// A red packet's record, from `gethbinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PacketRecord {
    /// `mch_billno`.
    pub mch_billno: MchBillno,
    /// `detail_id`: WeChat Pay's order id (= `send_listid`).
    pub detail_id: String,
    /// `status`.
    pub status: Status,
    /// `hb_type`.
    pub hb_type: Option<HbType>,
    /// `send_type`.
    pub send_type: Option<SendType>,
    /// `total_num`.
    pub total_num: Option<u32>,
    /// `total_amount`.
    pub total_amount: Option<Fen>,
    /// `reason`: why the send failed.
    pub reason: Option<String>,
    /// `send_time`.
    pub send_time: Option<String>,
    /// `refund_time`.
    pub refund_time: Option<String>,
    /// `refund_amount`.
    pub refund_amount: Option<Fen>,
    /// The claims (`hblist/hbinfo`), in order.
    pub claims: Vec<HbInfo>,
}

/// The fields a send answer echoes, as the request has them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Echo {
    mch_billno: String,
    mch_id: String,
    wxappid: String,
    re_openid: String,
    total_amount: Fen,
}

impl Echo {
    pub(crate) fn of(request: &SendRequest) -> Self {
        Self {
            mch_billno: request.mch_billno().as_str().to_owned(),
            mch_id: request.mch_id().as_str().to_owned(),
            wxappid: request.wxappid().as_str().to_owned(),
            re_openid: request.re_openid().as_str().to_owned(),
            total_amount: request.total_amount(),
        }
    }

    /// The first echoed field that differs from the request's. Absent echoes are fine here
    /// (error answers may lack them); a success must echo `mch_billno`, which
    /// [`classify_send_response`] checks.
    fn mismatch(&self, response: &SendResponse) -> Option<UnknownCause> {
        let texts = [
            ("mch_billno", &self.mch_billno, &response.mch_billno),
            ("mch_id", &self.mch_id, &response.mch_id),
            ("wxappid", &self.wxappid, &response.wxappid),
            ("re_openid", &self.re_openid, &response.re_openid),
        ];
        for (field, expected, received) in texts {
            if let Some(received) = received.as_ref().filter(|r| *r != expected) {
                return Some(mismatch(field, expected, received));
            }
        }
        match response.total_amount {
            Some(received) if received != self.total_amount => Some(mismatch(
                "total_amount",
                &self.total_amount.get().to_string(),
                &received.get().to_string(),
            )),
            _ => None,
        }
    }
}

fn mismatch(field: &'static str, expected: &str, received: &str) -> UnknownCause {
    UnknownCause::EchoMismatch {
        field,
        expected: expected.to_owned(),
        received: received.to_owned(),
    }
}

/// Turns the transport's result of a send into its outcome.
///
/// A transport error that provably never left is not an outcome: it is
/// [`Error::NotSent`].
pub(crate) fn classify_send(
    echo: &Echo,
    billno: &MchBillno,
    result: Result<Response, TransportError>,
) -> Result<SendOutcome, Error> {
    let response = match result {
        Ok(response) => response,
        Err(error) => return unknown_from_transport(error).map(unknown),
    };
    let response: SendResponse = match decode(&response) {
        Ok(response) => response,
        Err(cause) => return Ok(unknown(cause)),
    };
    Ok(classify_send_response(echo, billno, response))
}

/// Classifies a decoded send answer: echoes first (an answer about another request proves
/// nothing), then the status.
pub(crate) fn classify_send_response(
    echo: &Echo,
    billno: &MchBillno,
    response: SendResponse,
) -> SendOutcome {
    if let Some(cause) = echo.mismatch(&response) {
        return unknown(cause);
    }
    match response.header.status() {
        // A success that does not say which billno it is about (spec §4.1: the echoes come
        // with every success) could be an answer to anything: settle it with a query.
        ReturnStatus::Success if response.mch_billno.is_none() => {
            unknown(UnknownCause::MissingField {
                field: "mch_billno",
            })
        }
        ReturnStatus::Success => match response.send_listid.filter(|id| !id.is_empty()) {
            Some(send_listid) => SendOutcome::Sent {
                mch_billno: billno.clone(),
                send_listid,
                package: response.package.filter(|p| !p.is_empty()),
                confirmed_by: Confirmation::SendResponse,
            },
            None => unknown(UnknownCause::MissingField {
                field: "send_listid",
            }),
        },
        ReturnStatus::Business(error) => classify_code(error.code, error.description),
        ReturnStatus::Protocol { return_msg } => {
            unknown(UnknownCause::ProtocolFailure { return_msg })
        }
        // A status this version does not know proves nothing.
        _ => unknown(UnknownCause::ProtocolFailure { return_msg: None }),
    }
}

/// The outcome of a send answered with a business error code (spec §7.2): classes A, B and D
/// are rejections, class C (`SYSTEMERROR`, `PROCESSING`, any unknown code) is unknown.
pub(crate) fn classify_code(code: ErrCode, description: String) -> SendOutcome {
    match code.handling_class() {
        Some(class) if class.is_definitive() => SendOutcome::Rejected {
            code,
            class,
            description,
        },
        _ => unknown(match code {
            ErrCode::Systemerror => UnknownCause::SystemError { description },
            ErrCode::Processing => UnknownCause::Processing { description },
            code => UnknownCause::UnknownCode { code, description },
        }),
    }
}

/// Turns the transport's result of a query into what it found.
pub(crate) fn classify_query(
    billno: &MchBillno,
    mch_id: &str,
    result: Result<Response, TransportError>,
) -> Result<QueryOutcome, Error> {
    let response = match result {
        Ok(response) => response,
        Err(error) => {
            return unknown_from_transport(error).map(|cause| QueryOutcome::Unknown { cause });
        }
    };
    match decode::<gethbinfo::Response>(&response) {
        Ok(response) => Ok(classify_query_response(billno, mch_id, response)),
        Err(cause) => Ok(QueryOutcome::Unknown { cause }),
    }
}

/// Classifies a decoded query answer.
pub(crate) fn classify_query_response(
    billno: &MchBillno,
    mch_id: &str,
    response: gethbinfo::Response,
) -> QueryOutcome {
    let echoes = [
        ("mch_billno", billno.as_str(), &response.mch_billno),
        ("mch_id", mch_id, &response.mch_id),
    ];
    for (field, expected, received) in echoes {
        if let Some(received) = received.as_ref().filter(|r| *r != expected) {
            return QueryOutcome::Unknown {
                cause: mismatch(field, expected, received),
            };
        }
    }
    if response.is_not_found() {
        return QueryOutcome::NotFound;
    }
    match response.header.status() {
        ReturnStatus::Success => record(billno, response),
        ReturnStatus::Business(error) => match error.code.handling_class() {
            Some(class) if class.is_definitive() => QueryOutcome::Refused {
                code: error.code,
                description: error.description,
            },
            _ => QueryOutcome::Unknown {
                cause: match classify_code(error.code, error.description) {
                    SendOutcome::Unknown { cause } => cause,
                    // `classify_code` only rejects definitive codes, excluded above.
                    SendOutcome::Sent { .. } | SendOutcome::Rejected { .. } => {
                        UnknownCause::ProtocolFailure { return_msg: None }
                    }
                },
            },
        },
        ReturnStatus::Protocol { return_msg } => QueryOutcome::Unknown {
            cause: UnknownCause::ProtocolFailure { return_msg },
        },
        _ => QueryOutcome::Unknown {
            cause: UnknownCause::ProtocolFailure { return_msg: None },
        },
    }
}

fn record(billno: &MchBillno, response: gethbinfo::Response) -> QueryOutcome {
    let Some(status) = response.status else {
        return QueryOutcome::Unknown {
            cause: UnknownCause::MissingField { field: "status" },
        };
    };
    let Some(detail_id) = response.detail_id.filter(|id| !id.is_empty()) else {
        return QueryOutcome::Unknown {
            cause: UnknownCause::MissingField { field: "detail_id" },
        };
    };
    QueryOutcome::Found(Box::new(PacketRecord {
        mch_billno: billno.clone(),
        detail_id,
        status,
        hb_type: response.hb_type,
        send_type: response.send_type,
        total_num: response.total_num,
        total_amount: response.total_amount,
        reason: response.reason,
        send_time: response.send_time,
        refund_time: response.refund_time,
        refund_amount: response.refund_amount,
        claims: response.hblist,
    }))
}

fn unknown(cause: UnknownCause) -> SendOutcome {
    SendOutcome::Unknown { cause }
}

/// A transport error that may have reached the server is an unknown outcome; one that
/// provably did not is [`Error::NotSent`].
fn unknown_from_transport(error: TransportError) -> Result<UnknownCause, Error> {
    if !error.may_have_been_sent() {
        return Err(Error::NotSent { source: error });
    }
    let detail = chain(&error);
    Ok(if error.is_timeout() {
        UnknownCause::Timeout { detail }
    } else if let Some(status) = error.status().filter(|_| error.is_status()) {
        UnknownCause::HttpStatus { status }
    } else {
        UnknownCause::Transport { detail }
    })
}

/// Decodes an answer body, telling HTML pages and garbage apart.
fn decode<M: XmlMessage>(response: &Response) -> Result<M, UnknownCause> {
    let body = response.body();
    if starts_like_html(body) {
        return Err(UnknownCause::HtmlPage);
    }
    M::from_xml(body).map_err(|error| {
        if contains_ignore_case(body, b"<html") {
            UnknownCause::HtmlPage
        } else {
            UnknownCause::Unparseable {
                reason: chain(&error),
            }
        }
    })
}

fn starts_like_html(body: &[u8]) -> bool {
    let start = body
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(body.len());
    let rest = body.get(start..).unwrap_or_default();
    let rest = rest.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(rest);
    [&b"<!doctype html"[..], b"<html"].iter().any(|prefix| {
        rest.len() >= prefix.len() && rest[..prefix.len()].eq_ignore_ascii_case(prefix)
    })
}

fn contains_ignore_case(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window.eq_ignore_ascii_case(needle))
}

/// An error and its sources, joined with `: `.
fn chain(error: &dyn StdError) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use wxpay_proto::{ActName, AppId, MchId, NonceStr, OpenId, Remark, SendName, Wishing};
    use wxpay_proto::{ClientIp, ReturnHeader, sendredpack};
    use wxpay_transport::SimulatedFailure;

    use super::*;

    const BILLNO: &str = "1900000109202601010000000001";

    fn request() -> SendRequest {
        SendRequest::Normal(sendredpack::Request::new(
            NonceStr::new("n").unwrap(),
            MchBillno::new(BILLNO).unwrap(),
            MchId::new("1900000109").unwrap(),
            AppId::new("wx8888888888888888").unwrap(),
            SendName::new("s").unwrap(),
            OpenId::new("oxTWIuGaIt6gTKsQRLau2M0yL16E").unwrap(),
            Fen::new(1000),
            Wishing::new("w").unwrap(),
            ClientIp::new("127.0.0.1").unwrap(),
            ActName::new("a").unwrap(),
            Remark::new("r").unwrap(),
        ))
    }

    fn billno() -> MchBillno {
        MchBillno::new(BILLNO).unwrap()
    }

    fn echoing(header: ReturnHeader) -> SendResponse {
        let mut response = SendResponse::new(header);
        response.mch_billno = Some(BILLNO.to_owned());
        response.mch_id = Some("1900000109".to_owned());
        response.wxappid = Some("wx8888888888888888".to_owned());
        response.re_openid = Some("oxTWIuGaIt6gTKsQRLau2M0yL16E".to_owned());
        response.total_amount = Some(Fen::new(1000));
        response
    }

    fn classify(response: SendResponse) -> SendOutcome {
        classify_send_response(&Echo::of(&request()), &billno(), response)
    }

    fn classify_body(body: &str) -> SendOutcome {
        classify_send(
            &Echo::of(&request()),
            &billno(),
            Ok(Response::new(200, body.to_owned())),
        )
        .unwrap()
    }

    fn classify_error(failure: SimulatedFailure) -> Result<SendOutcome, Error> {
        classify_send(
            &Echo::of(&request()),
            &billno(),
            Err(TransportError::simulated(failure)),
        )
    }

    #[test]
    fn a_success_with_matching_echoes_and_send_listid_is_sent() {
        // Arrange
        let mut response = echoing(ReturnHeader::success("发放成功"));
        response.send_listid = Some("1000041701201702143000036640284".to_owned());

        // Act
        let outcome = classify(response);

        // Assert
        assert_eq!(
            outcome,
            SendOutcome::Sent {
                mch_billno: billno(),
                send_listid: "1000041701201702143000036640284".to_owned(),
                package: None,
                confirmed_by: Confirmation::SendResponse,
            }
        );
    }

    #[test]
    fn a_success_without_send_listid_is_unknown() {
        let outcome = classify(echoing(ReturnHeader::success("发放成功")));
        assert_eq!(
            outcome,
            SendOutcome::Unknown {
                cause: UnknownCause::MissingField {
                    field: "send_listid"
                }
            }
        );
    }

    #[test]
    fn every_echo_mismatch_is_unknown_even_on_success() {
        type Change = fn(&mut SendResponse);
        let cases: [(&str, Change); 5] = [
            ("mch_billno", |r| r.mch_billno = Some("other".into())),
            ("mch_id", |r| r.mch_id = Some("1900000110".into())),
            ("wxappid", |r| r.wxappid = Some("wx0000000000000000".into())),
            ("re_openid", |r| r.re_openid = Some("someone-else".into())),
            ("total_amount", |r| r.total_amount = Some(Fen::new(1001))),
        ];
        for (field, change) in cases {
            // Arrange
            let mut response = echoing(ReturnHeader::success("发放成功"));
            response.send_listid = Some("1000041701".to_owned());
            change(&mut response);

            // Act
            let outcome = classify(response);

            // Assert
            match outcome {
                SendOutcome::Unknown {
                    cause: UnknownCause::EchoMismatch { field: f, .. },
                } => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_success_must_echo_the_billno_and_may_omit_the_other_echoes() {
        // Arrange
        let mut bare = SendResponse::new(ReturnHeader::success("发放成功"));
        bare.send_listid = Some("1000041701".to_owned());
        let mut with_billno = bare.clone();
        with_billno.mch_billno = Some(billno().as_str().to_owned());

        // Act / Assert
        assert_eq!(
            classify(bare).unknown_cause(),
            Some(&UnknownCause::MissingField {
                field: "mch_billno"
            })
        );
        assert!(classify(with_billno).is_sent());
    }

    /// Every code of spec §7.2 and the class it must land in.
    const SPEC_CODES: &[(&str, Option<HandlingClass>)] = &[
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
        ("SOME_NEW_CODE", None),
    ];

    #[test]
    fn every_code_of_the_spec_maps_to_the_right_outcome() {
        for &(code, class) in SPEC_CODES {
            // Act
            let outcome = classify(echoing(ReturnHeader::business_error(
                ErrCode::from(code),
                "描述",
            )));

            // Assert
            match (class, outcome) {
                (
                    Some(expected),
                    SendOutcome::Rejected {
                        code: c,
                        class,
                        description,
                    },
                ) => {
                    assert_eq!(c.as_str(), code);
                    assert_eq!(class, expected, "{code}");
                    assert_eq!(description, "描述");
                }
                (None, SendOutcome::Unknown { cause }) => match (code, cause) {
                    ("SYSTEMERROR", UnknownCause::SystemError { .. })
                    | ("PROCESSING", UnknownCause::Processing { .. }) => {}
                    (_, UnknownCause::UnknownCode { code: c, .. }) => assert_eq!(c.as_str(), code),
                    (_, cause) => panic!("{code}: {cause:?}"),
                },
                (_, outcome) => panic!("{code}: {outcome:?}"),
            }
        }
    }

    #[test]
    fn only_send_failed_allows_a_new_billno() {
        for &(code, _) in SPEC_CODES {
            let outcome = classify_code(ErrCode::from(code), String::new());
            assert_eq!(outcome.allows_new_billno(), code == "SEND_FAILED", "{code}");
        }
    }

    #[test]
    fn a_code_is_classified_even_when_return_code_is_fail() {
        // The 2014 sample: return_code FAIL, numeric err_code.
        let body = "<xml><return_code>FAIL</return_code><return_msg>系统繁忙,请稍后再试.</return_msg>\
            <result_code>FAIL</result_code><err_code>268458547</err_code>\
            <err_code_des>系统繁忙,请稍后再试.</err_code_des></xml>";
        assert!(matches!(
            classify_body(body),
            SendOutcome::Unknown {
                cause: UnknownCause::UnknownCode { .. }
            }
        ));
        // A 2015 NOTENOUGH with return_code FAIL is still a rejection.
        let body = "<xml><return_code>FAIL</return_code><result_code>FAIL</result_code>\
            <err_code>NOTENOUGH</err_code><err_code_des>帐号余额不足</err_code_des></xml>";
        assert_eq!(classify_body(body).code(), Some(&ErrCode::Notenough),);
    }

    #[test]
    fn a_protocol_failure_without_a_code_is_unknown() {
        let body = "<xml><return_code>FAIL</return_code><return_msg>签名失败</return_msg></xml>";
        assert_eq!(
            classify_body(body),
            SendOutcome::Unknown {
                cause: UnknownCause::ProtocolFailure {
                    return_msg: Some("签名失败".to_owned())
                }
            }
        );
    }

    #[test]
    fn html_pages_empty_bodies_and_garbage_are_unknown() {
        for body in [
            "<!DOCTYPE html><html><body>502 Bad Gateway</body></html>",
            "  <HTML><head></head></HTML>",
            "<p>oops</p><html>",
        ] {
            assert_eq!(
                classify_body(body),
                SendOutcome::Unknown {
                    cause: UnknownCause::HtmlPage
                },
                "{body}"
            );
        }
        for body in [
            "",
            "   ",
            "garbage",
            "<xml><return_code>SUCCESS",
            "{\"json\":1}",
        ] {
            assert!(
                matches!(
                    classify_body(body),
                    SendOutcome::Unknown {
                        cause: UnknownCause::Unparseable { .. }
                    }
                ),
                "{body:?}"
            );
        }
    }

    #[test]
    fn transport_errors_after_sending_are_unknown_and_before_are_not_outcomes() {
        assert!(matches!(
            classify_error(SimulatedFailure::ResponseTimeout),
            Ok(SendOutcome::Unknown {
                cause: UnknownCause::Timeout { .. }
            })
        ));
        assert!(matches!(
            classify_error(SimulatedFailure::ResetAfterSend),
            Ok(SendOutcome::Unknown {
                cause: UnknownCause::Transport { .. }
            })
        ));
        assert!(matches!(
            classify_error(SimulatedFailure::BodyTooLarge),
            Ok(SendOutcome::Unknown {
                cause: UnknownCause::Transport { .. }
            })
        ));
        assert_eq!(
            classify_error(SimulatedFailure::Status(502)).unwrap(),
            SendOutcome::Unknown {
                cause: UnknownCause::HttpStatus { status: 502 }
            }
        );
        for failure in [
            SimulatedFailure::ConnectRefused,
            SimulatedFailure::ConnectTimeout,
            SimulatedFailure::Dns,
            SimulatedFailure::TlsHandshake,
            SimulatedFailure::ClosedBeforeSend,
        ] {
            assert!(
                classify_error(failure).unwrap_err().is_not_sent(),
                "{failure:?}"
            );
        }
    }

    fn query_response(header: ReturnHeader) -> gethbinfo::Response {
        let mut response = gethbinfo::Response::new(header);
        response.mch_billno = Some(BILLNO.to_owned());
        response.mch_id = Some("1900000109".to_owned());
        response
    }

    fn classify_q(response: gethbinfo::Response) -> QueryOutcome {
        classify_query_response(&billno(), "1900000109", response)
    }

    #[test]
    fn both_not_found_shapes_are_not_found() {
        let mut official = ReturnHeader::business_error(ErrCode::Systemerror, "指定单号数据不存在");
        official.return_code = wxpay_proto::ReturnCode::Fail;
        assert_eq!(classify_q(query_response(official)), QueryOutcome::NotFound);
        let switched = ReturnHeader::business_error(ErrCode::NotFound, "指定单号数据不存在");
        assert_eq!(classify_q(query_response(switched)), QueryOutcome::NotFound);
    }

    #[test]
    fn a_found_record_carries_status_and_claims() {
        // Arrange
        let mut response = query_response(ReturnHeader::success("OK"));
        response.detail_id = Some("1000041701201801233000139830103".to_owned());
        response.status = Some(Status::Received);
        response.total_amount = Some(Fen::new(100));
        response.hblist = vec![HbInfo::new("o3yHF0", Fen::new(100), "2018-01-23 13:45:31")];

        // Act
        let outcome = classify_q(response);

        // Assert
        let QueryOutcome::Found(record) = outcome else {
            panic!("{outcome:?}")
        };
        assert_eq!(record.status, Status::Received);
        assert_eq!(record.detail_id, "1000041701201801233000139830103");
        assert_eq!(record.claims.len(), 1);
    }

    #[test]
    fn a_query_success_without_status_or_detail_id_is_unknown() {
        let mut response = query_response(ReturnHeader::success("OK"));
        response.detail_id = Some("1".to_owned());
        assert_eq!(
            classify_q(response),
            QueryOutcome::Unknown {
                cause: UnknownCause::MissingField { field: "status" }
            }
        );
        let mut response = query_response(ReturnHeader::success("OK"));
        response.status = Some(Status::Sent);
        assert_eq!(
            classify_q(response),
            QueryOutcome::Unknown {
                cause: UnknownCause::MissingField { field: "detail_id" }
            }
        );
    }

    #[test]
    fn query_errors_are_refusals_or_unknown_by_class() {
        assert_eq!(
            classify_q(query_response(ReturnHeader::business_error(
                ErrCode::SignError,
                "商户签名错误"
            ))),
            QueryOutcome::Refused {
                code: ErrCode::SignError,
                description: "商户签名错误".to_owned()
            }
        );
        assert!(matches!(
            classify_q(query_response(ReturnHeader::business_error(
                ErrCode::Systemerror,
                "系统繁忙，请再试。"
            ))),
            QueryOutcome::Unknown {
                cause: UnknownCause::SystemError { .. }
            }
        ));
    }

    #[test]
    fn a_query_answer_about_another_billno_is_unknown() {
        let mut response = query_response(ReturnHeader::success("OK"));
        response.mch_billno = Some("another".to_owned());
        assert!(matches!(
            classify_q(response),
            QueryOutcome::Unknown {
                cause: UnknownCause::EchoMismatch {
                    field: "mch_billno",
                    ..
                }
            }
        ));
    }
}
