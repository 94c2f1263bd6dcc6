//! Shared test fixtures: a client pointed at a wiremock server, packets, and a scripted
//! responder that echoes each request like WeChat Pay does.

use std::collections::{BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};
use wxpay_proto::gethbinfo::{self, HbInfo};
use wxpay_proto::{
    ActName, ErrCode, Fen, MchBillno, OpenId, RawMessage, Remark, ReturnCode, ReturnHeader,
    SendResponse, Status, Wishing, XmlMessage,
};
use wxpay_redpack::{CountingNonce, ManualClock, RedPacket, RedpackClient, RedpackClientBuilder};
use wxpay_sign::{ApiKey, SignType};

pub(crate) const MCH_ID: &str = "1900000109";
pub(crate) const APPID: &str = "wx8888888888888888";
pub(crate) const MINI_APPID: &str = "wxd27ebc41b85ce36d";
pub(crate) const KEY: &str = "192006250b4c09247ec02edce69f6a2d";
pub(crate) const OPENID: &str = "oxTWIuGaIt6gTKsQRLau2M0yL16E";
pub(crate) const SEND_LISTID: &str = "1000041701202601013000000000001";
pub(crate) const PACKAGE: &str =
    "sendid=242e8abd&ver=8&sign=4110d6&mchid=1900000109&appid=wxd27ebc41b85ce36d";

pub(crate) const SEND: &str = "/mmpaymkttransfers/sendredpack";
pub(crate) const GROUP: &str = "/mmpaymkttransfers/sendgroupredpack";
pub(crate) const MINI: &str = "/mmpaymkttransfers/sendminiprogramhb";
pub(crate) const QUERY: &str = "/mmpaymkttransfers/gethbinfo";

/// 2026-01-01 08:00 Beijing time.
pub(crate) const NOW: u64 = 1_767_225_600;

pub(crate) fn key() -> ApiKey {
    ApiKey::new(KEY).unwrap()
}

/// A builder for the test merchant with a virtual clock and reproducible nonces.
pub(crate) fn builder(clock: &ManualClock) -> RedpackClientBuilder {
    RedpackClient::builder()
        .mch_id(MCH_ID)
        .appid(APPID)
        .mini_program_appid(MINI_APPID)
        .api_key(key())
        .send_name("天虹百货")
        .client_ip("192.168.0.1")
        .clock(Arc::new(clock.clone()))
        .nonce_source(Arc::new(CountingNonce::new()))
}

/// A client over plain HTTP to `server`, and its clock.
pub(crate) fn client(server: &MockServer) -> (RedpackClient, ManualClock) {
    client_with_timeout(server, Duration::from_secs(20))
}

pub(crate) fn client_with_timeout(
    server: &MockServer,
    request_timeout: Duration,
) -> (RedpackClient, ManualClock) {
    let clock = ManualClock::at_unix_secs(NOW);
    let client = builder(&clock)
        .base_url(server.uri())
        .allow_plain_http()
        .request_timeout(request_timeout)
        .build()
        .unwrap();
    (client, clock)
}

pub(crate) fn billno(n: u64) -> MchBillno {
    MchBillno::new(format!("{MCH_ID}20260101{n:010}")).unwrap()
}

pub(crate) fn packet(n: u64) -> RedPacket {
    RedPacket::new(
        billno(n),
        OpenId::new(OPENID).unwrap(),
        Fen::new(1000),
        Wishing::new("感谢您参加猜灯谜活动，祝您元宵节快乐！").unwrap(),
        ActName::new("猜灯谜抢红包活动").unwrap(),
        Remark::new("猜越多得越多，快来抢！").unwrap(),
    )
}

/// The top-level element names of a body.
pub(crate) fn field_names(body: &[u8]) -> BTreeSet<String> {
    RawMessage::parse(body)
        .unwrap()
        .names()
        .map(str::to_owned)
        .collect()
}

pub(crate) fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

/// Checks the body's `sign` the way the server does: MD5 over every other field received.
pub(crate) fn assert_signed(body: &[u8]) {
    let raw = RawMessage::parse(body).unwrap();
    let sign = raw.text("sign").expect("a sign element");
    wxpay_sign::verify(SignType::Md5, &key(), raw.text_pairs(), sign)
        .expect("the signature verifies over the fields sent");
}

pub(crate) async fn requests(server: &MockServer) -> Vec<Request> {
    server.received_requests().await.unwrap_or_default()
}

pub(crate) async fn requests_to(server: &MockServer, api: &str) -> Vec<Request> {
    requests(server)
        .await
        .into_iter()
        .filter(|r| r.url.path() == api)
        .collect()
}

/// One scripted answer.
#[derive(Debug, Clone)]
pub(crate) enum Reply {
    /// `SUCCESS` with the echoes and `send_listid` (and `package` for mini-program sends).
    Sent,
    /// `SUCCESS` with one echo replaced.
    SentWithEcho(&'static str, &'static str),
    /// `SUCCESS` without `send_listid`.
    SentWithoutListid,
    /// A business error with the echoes.
    Code(&'static str),
    /// An HTTP status with an empty body.
    Status(u16),
    /// A raw 200 body.
    Body(&'static str),
    /// Success after a delay.
    Late(Duration),
    /// The official not-found sample of `gethbinfo`.
    NotFound,
    /// A `gethbinfo` record in this status.
    Record(&'static str),
}

impl Reply {
    fn render(&self, request: &Request) -> ResponseTemplate {
        let raw = RawMessage::parse(&request.body).unwrap();
        let text = |name: &str| raw.text(name).map(str::to_owned);
        let echoing = |header: ReturnHeader| {
            let mut response = SendResponse::new(header);
            response.mch_billno = text("mch_billno");
            response.mch_id = text("mch_id");
            response.wxappid = text("wxappid");
            response.re_openid = text("re_openid");
            response.total_amount = text("total_amount").map(|t| Fen::new(t.parse().unwrap()));
            response
        };
        let sent = || {
            let mut response = echoing(ReturnHeader::success("发放成功"));
            response.send_listid = Some(SEND_LISTID.to_owned());
            if raw.text("notify_way").is_some() {
                response.package = Some(PACKAGE.to_owned());
            }
            response
        };
        let xml = |body: String| ResponseTemplate::new(200).set_body_string(body);
        match self {
            Self::Sent => xml(sent().to_xml()),
            Self::SentWithEcho(field, value) => {
                let mut response = sent();
                let value = Some((*value).to_owned());
                match *field {
                    "mch_billno" => response.mch_billno = value,
                    "mch_id" => response.mch_id = value,
                    "wxappid" => response.wxappid = value,
                    "re_openid" => response.re_openid = value,
                    "total_amount" => {
                        response.total_amount = value.map(|v| Fen::new(v.parse().unwrap()));
                    }
                    other => panic!("no echo {other}"),
                }
                xml(response.to_xml())
            }
            Self::SentWithoutListid => xml(echoing(ReturnHeader::success("发放成功")).to_xml()),
            Self::Code(code) => {
                xml(echoing(ReturnHeader::business_error(ErrCode::from(*code), "描述")).to_xml())
            }
            Self::Status(status) => ResponseTemplate::new(*status),
            Self::Body(body) => xml((*body).to_owned()),
            Self::Late(delay) => xml(sent().to_xml()).set_delay(*delay),
            Self::NotFound => {
                let mut header = ReturnHeader::business_error(
                    ErrCode::Systemerror,
                    gethbinfo::NOT_FOUND_DESCRIPTION,
                );
                header.return_code = ReturnCode::Fail;
                let mut response = gethbinfo::Response::new(header);
                response.mch_billno = text("mch_billno");
                response.mch_id = text("mch_id");
                xml(response.to_xml())
            }
            Self::Record(status) => {
                let mut response = gethbinfo::Response::new(ReturnHeader::success("OK"));
                response.mch_billno = text("mch_billno");
                response.mch_id = text("mch_id");
                response.detail_id = Some(SEND_LISTID.to_owned());
                response.status = Some(Status::from(*status));
                response.total_num = Some(1);
                response.total_amount = Some(Fen::new(1000));
                response.send_time = Some("2026-01-01 08:00:00".to_owned());
                if *status == "FAILED" {
                    response.reason = Some("余额不足".to_owned());
                }
                if *status == "RECEIVED" {
                    response.hblist =
                        vec![HbInfo::new(OPENID, Fen::new(1000), "2026-01-01 08:01:00")];
                }
                xml(response.to_xml())
            }
        }
    }
}

/// Answers from a script, then with a fallback.
pub(crate) struct Script {
    replies: Mutex<VecDeque<Reply>>,
    fallback: Reply,
}

impl Respond for Script {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let reply = self
            .replies
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or_else(|| self.fallback.clone());
        reply.render(request)
    }
}

/// Mounts a script for `api`: `replies` in order, then `fallback` forever.
pub(crate) async fn script(server: &MockServer, api: &str, replies: Vec<Reply>, fallback: Reply) {
    Mock::given(method("POST"))
        .and(path(api))
        .respond_with(Script {
            replies: Mutex::new(replies.into()),
            fallback,
        })
        .mount(server)
        .await;
}
