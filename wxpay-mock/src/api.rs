//! The four endpoints: the rules of spec §5 in its order, the billno re-entry rules of DESIGN
//! §6, the commit, and the faults around it.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use rand::RngExt;
use wxpay_proto::gethbinfo::HbInfo;
use wxpay_proto::{
    ApiRequest, ErrCode, Fen, HbType, RawMessage, ReturnCode, ReturnHeader, SendApiRequest,
    SendResponse, SendType, Status, XmlMessage, gethbinfo, rules, sendgroupredpack,
    sendminiprogramhb, sendredpack,
};
use wxpay_sign::SignType;

use crate::clock::format_beijing;
use crate::config::{AmountMismatch, NotFoundStyle};
use crate::faults::{Fault, FaultAction, FaultStage};
use crate::ledger::{Change, Kind, Packet, PacketStatus};
use crate::state::{Merchant, OPENID_ERROR_TEXT, Shared};
use crate::tls::ClientIdentity;

/// One of the four endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Api {
    SendRedpack,
    SendGroupRedpack,
    SendMiniProgramHb,
    GetHbInfo,
}

impl Api {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::SendRedpack => "sendredpack",
            Self::SendGroupRedpack => "sendgroupredpack",
            Self::SendMiniProgramHb => "sendminiprogramhb",
            Self::GetHbInfo => "gethbinfo",
        }
    }

    /// The endpoint of a path: `/mmpaymkttransfers/<api>`, also under the sandbox prefixes
    /// when `sandbox` is on.
    pub(crate) fn from_path(path: &str, sandbox: bool) -> Option<Self> {
        let rest = match path.strip_prefix("/mmpaymkttransfers/") {
            Some(rest) => rest,
            None if sandbox => path
                .strip_prefix("/sandboxnew/mmpaymkttransfers/")
                .or_else(|| path.strip_prefix("/xdc/apiv2sandbox/mmpaymkttransfers/"))?,
            None => return None,
        };
        match rest.trim_end_matches('/') {
            "sendredpack" => Some(Self::SendRedpack),
            "sendgroupredpack" => Some(Self::SendGroupRedpack),
            "sendminiprogramhb" => Some(Self::SendMiniProgramHb),
            "gethbinfo" => Some(Self::GetHbInfo),
            _ => None,
        }
    }
}

/// The answer to one request.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) content_type: &'static str,
    pub(crate) body: String,
    /// Close the connection without answering.
    pub(crate) reset: bool,
    /// The virtual time the request arrived at (set by [`handle`]).
    pub(crate) arrived: u64,
    pub(crate) outcome: String,
    pub(crate) fault: Option<String>,
    pub(crate) mch_id: Option<String>,
    pub(crate) mch_billno: Option<String>,
}

impl Reply {
    /// The mock is shutting down: close the connection without an answer and change
    /// nothing, as a server killed before this request's commit would.
    fn gone() -> Self {
        Self {
            status: 0,
            content_type: "text/plain",
            body: String::new(),
            reset: true,
            arrived: 0,
            outcome: "shut down".to_owned(),
            fault: None,
            mch_id: None,
            mch_billno: None,
        }
    }

    fn xml(body: String, outcome: impl Into<String>) -> Self {
        Self {
            status: 200,
            content_type: "text/plain; charset=UTF-8",
            body,
            reset: false,
            arrived: 0,
            outcome: outcome.into(),
            fault: None,
            mch_id: None,
            mch_billno: None,
        }
    }
}

/// The fields failure answers echo, as received.
#[derive(Debug, Default, Clone)]
struct Echo {
    mch_billno: Option<String>,
    mch_id: Option<String>,
    wxappid: Option<String>,
    re_openid: Option<String>,
    total_amount: Option<Fen>,
    total_num: Option<u32>,
}

fn canonical_number(s: &str) -> Option<u64> {
    let ok = !s.is_empty()
        && s.bytes().all(|b| b.is_ascii_digit())
        && (s.len() == 1 || !s.starts_with('0'));
    if ok { s.parse().ok() } else { None }
}

impl Echo {
    fn from_raw(raw: Option<&RawMessage<'_>>) -> Self {
        let Some(raw) = raw else {
            return Self::default();
        };
        let text = |name: &str| {
            raw.text(name)
                .filter(|t| !t.is_empty())
                .map(|t| t.chars().take(64).collect::<String>())
        };
        Self {
            mch_billno: text("mch_billno"),
            mch_id: text("mch_id"),
            wxappid: text("wxappid"),
            re_openid: text("re_openid"),
            total_amount: raw
                .text("total_amount")
                .and_then(canonical_number)
                .map(Fen::new),
            total_num: raw
                .text("total_num")
                .and_then(canonical_number)
                .and_then(|n| u32::try_from(n).ok()),
        }
    }
}

/// A failure answer of `api` with the echoes.
fn failure(api: Api, code: ErrCode, description: &str, echo: &Echo, with_num: bool) -> Reply {
    let outcome = code.as_str().to_owned();
    let body = match api {
        Api::GetHbInfo => {
            let mut r = gethbinfo::Response::new(ReturnHeader::business_error(code, description));
            r.mch_billno = echo.mch_billno.clone();
            r.mch_id = echo.mch_id.clone();
            r.to_xml()
        }
        _ => {
            let mut r = SendResponse::new(ReturnHeader::business_error(code, description));
            r.mch_billno = echo.mch_billno.clone();
            r.mch_id = echo.mch_id.clone();
            r.wxappid = echo.wxappid.clone();
            r.re_openid = echo.re_openid.clone();
            r.total_amount = echo.total_amount;
            if with_num || api == Api::SendGroupRedpack {
                r.total_num = echo.total_num;
            }
            r.to_xml()
        }
    };
    Reply::xml(body, outcome)
}

/// The not-found answer of `gethbinfo` (DESIGN §6.6).
fn not_found(style: NotFoundStyle, echo: &Echo) -> Reply {
    let description = gethbinfo::NOT_FOUND_DESCRIPTION;
    let header = match style {
        NotFoundStyle::NotFound => ReturnHeader::business_error(ErrCode::NotFound, description),
        _ => {
            let mut h = ReturnHeader::business_error(ErrCode::Systemerror, description);
            h.return_code = ReturnCode::Fail;
            h
        }
    };
    let mut r = gethbinfo::Response::new(header);
    r.mch_billno = echo.mch_billno.clone();
    r.mch_id = echo.mch_id.clone();
    Reply::xml(r.to_xml(), "NOT_FOUND")
}

/// A send request, whichever endpoint it came through.
#[derive(Debug)]
struct SendReq {
    kind: Kind,
    mch_billno: String,
    mch_id: String,
    wxappid: String,
    re_openid: String,
    total_amount: Fen,
    total_num: u32,
    scene_id: Option<String>,
    send_name: String,
    wishing: String,
    act_name: String,
    remark: String,
    sub_mch_id: Option<String>,
    msgappid: Option<String>,
    /// The `scene_id` rule's verdict, answered at step 9 with the amount range.
    scene_rule: Result<(), wxpay_proto::Error>,
}

/// Decodes a send (`PARAM_ERROR` for field formats) and runs its combination rules but the
/// `scene_id` one (kept in [`SendReq::scene_rule`] for step 9), whose result is returned
/// separately: the merchant check comes between the two.
fn decode_send(
    api: Api,
    raw: &RawMessage<'_>,
) -> Result<(SendReq, Result<(), wxpay_proto::Error>), wxpay_proto::Error> {
    match api {
        Api::SendGroupRedpack => decode_as::<sendgroupredpack::Request>(raw, Kind::Group),
        Api::SendMiniProgramHb => decode_as::<sendminiprogramhb::Request>(raw, Kind::MiniProgram),
        Api::SendRedpack | Api::GetHbInfo => decode_as::<sendredpack::Request>(raw, Kind::Normal),
    }
}

fn decode_as<R: SendApiRequest>(
    raw: &RawMessage<'_>,
    kind: Kind,
) -> Result<(SendReq, Result<(), wxpay_proto::Error>), wxpay_proto::Error> {
    let r = R::from_raw(raw.clone())?;
    let validation = r.validate_except_scene();
    let req = SendReq {
        kind,
        mch_billno: r.mch_billno().to_string(),
        mch_id: r.mch_id().to_string(),
        wxappid: r.wxappid().to_string(),
        re_openid: r.re_openid().to_string(),
        total_amount: r.total_amount(),
        total_num: r.total_num(),
        scene_id: r.scene_id().map(|s| s.as_str().to_owned()),
        send_name: r.send_name().to_string(),
        wishing: r.wishing().to_string(),
        act_name: r.act_name().to_string(),
        remark: r.remark().to_string(),
        sub_mch_id: r.sub_mch_id().map(ToString::to_string),
        msgappid: r.msgappid().map(ToString::to_string),
        scene_rule: r.check_scene_required(),
    };
    Ok((req, validation))
}

/// The field names the signature covers for `api` (DESIGN §6.1, §6.2).
fn signed_fields(api: Api, shared: &Shared) -> Vec<&'static str> {
    let mut names: Vec<&'static str> = match api {
        Api::SendRedpack => sendredpack::Request::SIGNED_FIELDS.to_vec(),
        Api::SendGroupRedpack => sendgroupredpack::Request::SIGNED_FIELDS.to_vec(),
        Api::SendMiniProgramHb => sendminiprogramhb::Request::SIGNED_FIELDS.to_vec(),
        Api::GetHbInfo => gethbinfo::Request::SIGNED_FIELDS.to_vec(),
    };
    if api == Api::SendMiniProgramHb && shared.behaviour.mini_program_signs_client_ip {
        names.push("client_ip");
    }
    names
}

/// Who sent a request, and when it arrived.
#[derive(Debug, Clone, Copy)]
struct Client<'a> {
    identity: Option<&'a ClientIdentity>,
    peer: IpAddr,
    /// The virtual time of arrival.
    arrived: u64,
}

/// Steps 4 and 5 (and 6 for the IP): certificate, signature, whitelist.
fn authenticate(
    shared: &Shared,
    api: Api,
    raw: &RawMessage<'_>,
    merchant: &Merchant,
    client: Client<'_>,
) -> Result<(), (ErrCode, &'static str)> {
    let Client {
        identity,
        peer,
        arrived: now,
    } = client;
    // 4. The certificate belongs to mch_id and is valid on the virtual clock.
    let Some(id) = identity else {
        return Err((ErrCode::CaError, "请求未携带证书，或请求携带的证书出错"));
    };
    if id.cn.as_deref() != Some(merchant.config.mch_id.as_str()) {
        return Err((
            ErrCode::CaError,
            "CA证书出错，请登录微信支付商户平台下载证书",
        ));
    }
    if now < id.not_before_ms || now > id.not_after_ms {
        return Err((ErrCode::CaError, "证书已过期"));
    }
    // 5. The signature over the endpoint's known fields, values as received.
    let names = signed_fields(api, shared);
    let sign_type =
        if shared.behaviour.accept_hmac_sha256 && raw.text("sign_type") == Some("HMAC-SHA256") {
            SignType::HmacSha256
        } else {
            SignType::Md5
        };
    let received = raw.text("sign").unwrap_or("");
    if wxpay_sign::verify(
        sign_type,
        &merchant.key,
        raw.text_pairs_of(&names),
        received,
    )
    .is_err()
    {
        let text = if api == Api::GetHbInfo {
            "商户签名错误"
        } else {
            "签名错误"
        };
        return Err((ErrCode::SignError, text));
    }
    // 6. Product, API switch (sends only) and IP whitelist.
    if api != Api::GetHbInfo {
        if !merchant.config.product_enabled {
            return Err((
                ErrCode::ProductAuthorityUnopen,
                "你的商户号未开通该产品权限，请联系管理员到产品中心开通。开通路径：产品中心-产品大全-现金红包-申请开通",
            ));
        }
        if !merchant.config.api_method_enabled {
            return Err((
                ErrCode::ApiMethodClosed,
                "你的商户号API发放方式已关闭，请联系管理员在商户平台开启",
            ));
        }
    }
    let whitelist = &merchant.config.ip_whitelist;
    if !whitelist.is_empty() && !whitelist.contains(&peer) {
        return Err((ErrCode::NoAuth, "IP地址非你在商户平台设置的可用IP地址"));
    }
    Ok(())
}

/// What the chosen fault changes about the commit.
#[derive(Debug, Default)]
struct CommitFault {
    hold: Option<Duration>,
    /// A commit action (`send_failed`, `late_commit`, `sending`) drawn on arrival: it fires,
    /// and counts, only if the request commits.
    pending: Option<Fault>,
    /// Set when `pending` fired.
    fired: bool,
}

/// The body as any XML parser reads it (XML 1.0 §2.11: `\r\n` and `\r` as `\n`), so that
/// the signature is checked over the text a real server's parser sees.
fn normalize_line_breaks(body: bytes::Bytes) -> bytes::Bytes {
    match wxpay_proto::normalize_line_breaks(&body) {
        std::borrow::Cow::Borrowed(_) => body,
        std::borrow::Cow::Owned(normalized) => bytes::Bytes::from(normalized),
    }
}

/// Handles one request to `api`.
pub(crate) async fn handle(
    shared: &Arc<Shared>,
    api: Api,
    body: Result<bytes::Bytes, ()>,
    identity: Option<Arc<ClientIdentity>>,
    peer: IpAddr,
) -> Reply {
    // One lock for both: the fault drawn for this request and its (virtual) arrival time,
    // at which the client certificate's validity is judged.
    let (fault, arrived) = {
        let mut inner = shared.lock();
        (inner.faults.draw(api), inner.clock.now_ms())
    };
    let body = body.map(normalize_line_breaks);
    let raw = match &body {
        Ok(bytes) => RawMessage::parse(bytes),
        Err(()) => Err(wxpay_proto::Error::Xml(wxpay_proto::XmlError::TooLarge {
            limit: wxpay_proto::DecodeLimits::DEFAULT.max_bytes,
        })),
    };
    let echo = Echo::from_raw(raw.as_ref().ok());
    let mut commit = CommitFault::default();
    let mut after = None;
    let mut reply = None;
    if let Some(f) = fault {
        match (f.action, f.stage) {
            (action, _) if action.at_commit() => commit.pending = Some(f),
            (FaultAction::Timeout, FaultStage::BeforeCommit) => {
                commit.hold = Some(Duration::from_millis(f.delay_ms));
            }
            (_, FaultStage::BeforeCommit) => reply = Some(fault_reply(f, api, &echo, None)),
            (_, _) => after = Some(f),
        }
    }
    let mut reply = match reply {
        Some(r) => r,
        None => {
            let r = match raw {
                Err(e) => failure(api, e.err_code(), &e.wire_description(), &echo, false),
                Ok(raw) => match api {
                    Api::GetHbInfo => {
                        let client = Client {
                            identity: identity.as_deref(),
                            peer,
                            arrived,
                        };
                        query(shared, &raw, &echo, client, &mut commit).await
                    }
                    _ => {
                        let client = Client {
                            identity: identity.as_deref(),
                            peer,
                            arrived,
                        };
                        send(shared, api, &raw, &echo, client, &mut commit).await
                    }
                },
            };
            if let Some(hold) = commit.hold.take() {
                tokio::time::sleep(hold).await;
            }
            match after {
                Some(f) if f.action == FaultAction::Timeout => {
                    tokio::time::sleep(Duration::from_millis(f.delay_ms)).await;
                    let mut r = r;
                    r.fault = Some(fault_name(f));
                    r
                }
                Some(f) => {
                    let mut faulty = fault_reply(f, api, &echo, Some(&r));
                    faulty.outcome = format!("{} (after {})", faulty.outcome, r.outcome);
                    faulty
                }
                None => r,
            }
        }
    };
    // A commit fault shows only on the request whose commit it changed.
    if reply.fault.is_none()
        && let Some(f) = fault
        && (!f.action.at_commit() || commit.fired)
    {
        reply.fault = Some(fault_name(f));
    }
    reply.mch_id = echo.mch_id;
    reply.mch_billno = echo.mch_billno;
    reply.arrived = arrived;
    reply
}

fn fault_name(f: Fault) -> String {
    let stage = match f.stage {
        FaultStage::AfterCommit => "after_commit",
        _ => "before_commit",
    };
    format!("{stage}:{}", f.action.as_str())
}

/// The answer a fault gives instead of the real one.
fn fault_reply(f: Fault, api: Api, echo: &Echo, real: Option<&Reply>) -> Reply {
    let mut reply = match f.action {
        FaultAction::Reset => Reply {
            status: 0,
            content_type: "text/plain",
            body: String::new(),
            reset: true,
            arrived: 0,
            outcome: "reset".to_owned(),
            fault: None,
            mch_id: None,
            mch_billno: None,
        },
        FaultAction::Processing => failure(
            api,
            ErrCode::Processing,
            "请求已受理，请稍后使用原单号查询发放结果",
            echo,
            false,
        ),
        FaultAction::Garbage => {
            let full = match real {
                Some(r) if !r.body.is_empty() => r.body.clone(),
                _ => {
                    let mut r = SendResponse::new(ReturnHeader::success("发放成功"));
                    r.mch_billno = echo.mch_billno.clone();
                    r.mch_id = echo.mch_id.clone();
                    r.to_xml()
                }
            };
            let mut cut = full.len() / 2;
            while !full.is_char_boundary(cut) {
                cut -= 1;
            }
            Reply::xml(full[..cut].to_owned(), "garbage")
        }
        FaultAction::Html => Reply {
            status: 502,
            content_type: "text/html; charset=UTF-8",
            body: "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n".to_owned(),
            reset: false,
            arrived: 0,
            outcome: "html".to_owned(),
            fault: None,
            mch_id: None,
            mch_billno: None,
        },
        // `systemerror` (and any other action reaching here).
        _ => {
            let text = if api == Api::GetHbInfo {
                "系统繁忙，请再试。"
            } else {
                "请求已受理，请稍后使用原单号查询发放结果"
            };
            failure(api, ErrCode::Systemerror, text, echo, false)
        }
    };
    reply.fault = Some(fault_name(f));
    reply
}

/// Removes a billno from the in-flight set when a send ends, however it ends.
struct InFlight<'a> {
    shared: &'a Shared,
    key: Option<(String, String)>,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.shared.lock().in_flight.remove(&key);
        }
    }
}

fn success_reply(p: &Packet, mch_id: &str, outcome: &str) -> Reply {
    let mut r = SendResponse::new(ReturnHeader::success("发放成功"));
    r.mch_billno = Some(p.mch_billno.clone());
    r.mch_id = Some(mch_id.to_owned());
    r.wxappid = Some(p.wxappid.clone());
    r.re_openid = Some(p.re_openid.clone());
    r.total_amount = Some(Fen::new(p.total_amount));
    if p.kind == Kind::Group {
        r.total_num = Some(p.total_num);
    }
    r.send_listid = Some(p.send_listid.clone());
    r.package = p.package.clone();
    Reply::xml(r.to_xml(), outcome)
}

/// A send: spec §5 steps 2–11, then the commit.
async fn send(
    shared: &Arc<Shared>,
    api: Api,
    raw: &RawMessage<'_>,
    echo: &Echo,
    client: Client<'_>,
    fault: &mut CommitFault,
) -> Reply {
    let fail = |code: ErrCode, text: &str| failure(api, code, text, echo, false);
    // A field's error; `total_num` is echoed when it is the offending field.
    let refuse = |e: &wxpay_proto::Error| {
        let offending_num = e.field_name() == Some("total_num");
        failure(
            api,
            e.err_code(),
            &e.wire_description(),
            echo,
            offending_num,
        )
    };
    // 3. Field formats, the merchant, the combination rules (the `scene_id` one is step 9).
    let (req, validation) = match decode_send(api, raw) {
        Ok(decoded) => decoded,
        Err(e) => return refuse(&e),
    };
    let Some(merchant) = shared.merchants.get(&req.mch_id) else {
        return fail(ErrCode::ParamError, "参数错误:找不到对应的商户号");
    };
    if let Err(e) = validation {
        return refuse(&e);
    }
    // 4–6.
    if let Err((code, text)) = authenticate(shared, api, raw, merchant, client) {
        return fail(code, text);
    }
    // 7. The kind of appid, partner relations, the openid's appid.
    let (own, other) = match req.kind {
        Kind::MiniProgram => (&merchant.mini_program_appid, &merchant.appid),
        Kind::Normal | Kind::Group => (&merchant.appid, &merchant.mini_program_appid),
    };
    if req.wxappid == *other {
        let text = match req.kind {
            Kind::MiniProgram => "非法appid,请确认是否为小程序的appid",
            Kind::Normal | Kind::Group => "非法appid,请确认是否为公众号的appid",
        };
        return fail(ErrCode::IllegalAppid, text);
    }
    if shared.behaviour.check_appid_binding && req.wxappid != *own {
        return fail(ErrCode::ParamError, "参数错误:商户号和wxappid不匹配");
    }
    if let Some(sub) = &req.sub_mch_id
        && !merchant.config.sub_mch_ids.contains(sub)
    {
        return fail(ErrCode::AcceptmodeError, "主、子商户号关系校验失败");
    }
    if let Some(msgappid) = &req.msgappid
        && *msgappid != merchant.appid
        && *msgappid != merchant.mini_program_appid
    {
        return fail(ErrCode::MsgappidError, "触达消息给用户appid有误");
    }
    // 8. Billno re-entry (per merchant), serialised per billno.
    let key = (req.mch_id.clone(), req.mch_billno.clone());
    {
        let mut inner = shared.lock();
        if shared.is_closed() {
            return Reply::gone();
        }
        // The end of step 7, under the lock because the merchant's declared users change at
        // run time: the openid belongs to the appid, to `wxappid` or in partner mode to
        // `msgappid` (the rule claims follow too).
        if !shared.openid_belongs_to(
            &inner,
            merchant,
            &req.re_openid,
            &req.wxappid,
            req.msgappid.as_deref(),
        ) {
            return fail(ErrCode::OpenidError, OPENID_ERROR_TEXT);
        }
        if let Err(e) = Shared::catch_up(&mut inner) {
            tracing::error!(error = %e, "cannot run due refunds");
        }
        if let Some(p) = inner.ledger.packet(&req.mch_id, &req.mch_billno) {
            let now = inner.clock.now_ms();
            return reentry(shared, api, &p, &req, echo, now);
        }
        if !inner.in_flight.insert(key.clone()) {
            return fail(
                ErrCode::Processing,
                "请求已受理，请稍后使用原单号查询发放结果",
            );
        }
    }
    let mut guard = InFlight {
        shared,
        key: Some(key),
    };
    let wait = fault.hold.take().unwrap_or_default() + shared.behaviour.commit_latency;
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
    commit(shared, api, merchant, req, echo, fault, &mut guard)
}

/// The answer to a billno that is already committed (DESIGN §6.3, §6.4).
fn reentry(shared: &Shared, api: Api, p: &Packet, req: &SendReq, echo: &Echo, now: u64) -> Reply {
    let fail = |code: ErrCode, text: &str| failure(api, code, text, echo, false);
    if p.status == PacketStatus::Failed {
        return fail(ErrCode::SendFailed, "红包发放失败,请更换单号再重试");
    }
    if p.sending_at(now) {
        return fail(
            ErrCode::Processing,
            "请求已受理，请稍后使用原单号查询发放结果",
        );
    }
    if p.re_openid != req.re_openid {
        return fail(ErrCode::FatalError, "更换了openid，但商户单号未更新");
    }
    if p.total_amount != req.total_amount.get() {
        return match shared.behaviour.amount_mismatch {
            AmountMismatch::ParamError => fail(
                ErrCode::ParamError,
                "参数错误:如果是重试请求，请与原单请求的金额保持一致",
            ),
            _ => fail(ErrCode::FatalError, "更换了金额，但商户单号未更新"),
        };
    }
    let same_rest = p.kind == req.kind
        && p.wxappid == req.wxappid
        && p.total_num == req.total_num
        && p.send_name == req.send_name
        && p.wishing == req.wishing
        && p.act_name == req.act_name
        && p.remark == req.remark
        && p.scene_id == req.scene_id;
    if !same_rest && !shared.behaviour.replay_ignores_other_fields {
        return fail(ErrCode::FatalError, "商户单号重复,请求参数与原单不一致");
    }
    success_reply(p, &req.mch_id, "REPLAY")
}

/// Steps 9–11 and the commit, under the state lock.
fn commit(
    shared: &Shared,
    api: Api,
    merchant: &Merchant,
    req: SendReq,
    echo: &Echo,
    fault: &mut CommitFault,
    guard: &mut InFlight<'_>,
) -> Reply {
    let fail = |code: ErrCode, text: &str| failure(api, code, text, echo, false);
    let limits = &merchant.config.limits;
    // 9. Amount range and scene: a missing one (DESIGN §6.5), the range, an enabled one.
    if let Err(e) = &req.scene_rule
        && shared.behaviour.require_scene_id
    {
        return failure(api, e.err_code(), &e.wire_description(), echo, false);
    }
    let scene = req.scene_id.as_deref().map(wxpay_proto::SceneId::from);
    let rule_kind = match req.kind {
        Kind::Normal => rules::SendKind::Normal,
        Kind::Group => rules::SendKind::Group,
        Kind::MiniProgram => rules::SendKind::MiniProgram,
    };
    if let Err(e) = rules::check_amount(
        rule_kind,
        req.total_amount,
        req.total_num,
        scene.as_ref(),
        &limits.amount,
    ) {
        return failure(api, e.err_code(), &e.wire_description(), echo, false);
    }
    // A scene must be enabled on the merchant platform, which offers only `PRODUCT_1` to
    // `PRODUCT_8` (spec §4.1): any other value (longer than 32 characters included) cannot
    // be enabled, whatever the configuration lists.
    if let Some(scene) = &scene
        && (!scene.is_known()
            || merchant
                .config
                .enabled_scenes
                .as_ref()
                .is_some_and(|enabled| !enabled.contains(scene.as_str())))
    {
        return fail(ErrCode::ParamError, rules::SCENE_NOT_ENABLED);
    }
    let mut inner = shared.lock();
    // The billno leaves the in-flight set under the same lock as its commit, so a duplicate
    // sees either "in flight" or the committed packet.
    if let Some(key) = guard.key.take() {
        inner.in_flight.remove(&key);
    }
    // A handler still running when its server shut down must not commit: a new server may
    // already have loaded the ledger from the same store.
    if shared.is_closed() {
        return Reply::gone();
    }
    let now = inner.clock.now_ms();
    // At most one packet per billno, whatever happened since the re-entry check (step 8):
    // the ledger is checked again under the lock of the commit.
    if let Some(p) = inner.ledger.packet(&req.mch_id, &req.mch_billno) {
        return reentry(shared, api, &p, &req, echo, now);
    }
    let user_amount = match req.kind {
        Kind::Group => req.total_amount.get() / u64::from(req.total_num.max(1)),
        Kind::Normal | Kind::MiniProgram => req.total_amount.get(),
    };
    let mch = inner.ledger.merchant_mut(&req.mch_id);
    let money = mch.money();
    // 10. Rate and daily limits.
    if mch.sends_in_window(now) >= usize::try_from(limits.freq_per_minute).unwrap_or(usize::MAX) {
        return fail(ErrCode::FreqLimit, "超过频率限制,请稍后再试");
    }
    let (count, amount) = mch.user_today(now, &req.re_openid);
    if count >= limits.sendnum_per_user_per_day {
        return fail(
            ErrCode::SendnumLimit,
            "该用户今日操作次数超过限制，如有需要请登录微信支付商户平台更改API安全配置",
        );
    }
    if amount.saturating_add(user_amount) > limits.rcvd_amount_per_user_per_day.get() {
        return fail(
            ErrCode::RcvdamountLimit,
            "该用户今日领取金额超过限制，如有需要请登录微信支付商户平台更改API安全配置",
        );
    }
    if mch.sent_today(now).saturating_add(req.total_amount.get()) > limits.send_amount_per_day.get()
    {
        return fail(
            ErrCode::SendamountLimit,
            "您的商户号今日发放金额超过限制，如有需要请登录微信支付商户平台更改API安全配置",
        );
    }
    // The commit fault drawn on arrival, if its rule can still fire: it is counted below,
    // once the commit is stored (a request refused before then leaves it to the next one).
    let commit_fault = fault.pending.filter(|f| inner.faults.can_fire_at_commit(f));
    let send_failed = commit_fault.is_some_and(|f| f.action == FaultAction::SendFailed);
    // 11. Balance and risk.
    let mut failed_reason = send_failed.then(|| "余额不足".to_owned());
    if failed_reason.is_none() && money.balance < req.total_amount.get() {
        if !shared.behaviour.notenough_fails_billno {
            return fail(ErrCode::Notenough, "帐号余额不足，请到商户平台充值后再重试");
        }
        failed_reason = Some("余额不足".to_owned());
    }
    if merchant.config.risky_openids.contains(&req.re_openid) {
        return fail(
            ErrCode::NoAuth,
            "发放失败，此请求可能存在风险，已被微信拦截",
        );
    }
    // The commit: stored before it is applied or answered. Each share of a group is at
    // least 1 yuan: the group average minimum is at least that much (checked at start), and
    // the amount range above holds the total to it.
    let shares = match req.kind {
        Kind::Group => {
            match crate::split::split_with(
                req.total_amount,
                req.total_num,
                crate::split::MIN_GROUP_SHARE,
                &mut inner.rng,
            ) {
                Some(shares) => shares.into_iter().map(Fen::get).collect(),
                None => return fail(ErrCode::MoneyLimit, "红包金额发放限制"),
            }
        }
        Kind::Normal | Kind::MiniProgram => vec![req.total_amount.get()],
    };
    let send_listid = inner.ledger.next_listid(now);
    let package = (req.kind == Kind::MiniProgram).then(|| {
        let sendid: String = (0..4)
            .map(|_| format!("{:016x}", inner.rng.random::<u64>()))
            .collect();
        let sign: String = (0..2)
            .map(|_| format!("{:016x}", inner.rng.random::<u64>()))
            .collect();
        format!(
            "sendid={sendid}&ver=8&sign={sign}&mchid={}&appid={}",
            req.mch_id, req.wxappid
        )
    });
    let failed = failed_reason.is_some();
    let late_secs = commit_fault
        .filter(|f| f.action == FaultAction::LateCommit)
        .map(|f| f.late_secs);
    // A packet that failed is never `SENDING`: the fault would change nothing.
    let sending_secs = commit_fault
        .filter(|f| f.action == FaultAction::Sending && !failed)
        .map(|f| f.late_secs);
    let commit_fault = commit_fault.filter(|f| f.action != FaultAction::Sending || !failed);
    let packet = Packet {
        mch_billno: req.mch_billno,
        kind: req.kind,
        status: if failed {
            PacketStatus::Failed
        } else {
            PacketStatus::Sent
        },
        wxappid: req.wxappid,
        msgappid: req.msgappid,
        re_openid: req.re_openid,
        total_amount: req.total_amount.get(),
        total_num: req.total_num,
        send_name: req.send_name,
        wishing: req.wishing,
        act_name: req.act_name,
        remark: req.remark,
        scene_id: req.scene_id,
        send_listid,
        send_time: now,
        visible_at: now.saturating_add(late_secs.unwrap_or(0).saturating_mul(1000)),
        sending_until: sending_secs.map(|secs| now.saturating_add(secs.saturating_mul(1000))),
        shares,
        claims: Vec::new(),
        refund_time: None,
        refund_amount: None,
        reason: failed_reason,
        package: if failed { None } else { package },
    };
    let mut change = Change::default();
    if !failed {
        let mut money = money;
        // Checked above: the balance covers the amount.
        money.balance = money.balance.saturating_sub(req.total_amount.get());
        change.money.insert(req.mch_id.clone(), money);
    }
    // The answer is made before the packet moves into the change (and dropped if the store
    // refuses it).
    let success = (!failed).then(|| success_reply(&packet, &req.mch_id, "SUCCESS"));
    change.packets.push((req.mch_id.clone(), packet));
    if let Err(e) = inner.store.write(&change) {
        tracing::error!(error = %e, "cannot store a commit");
        return fail(ErrCode::Systemerror, "系统繁忙，请再试。");
    }
    if let Some(f) = &commit_fault {
        fault.fired = inner.faults.fire_at_commit(f);
    }
    if let Some((mch_id, p)) = change.packets.last() {
        tracing::debug!(api = api.name(), %mch_id, mch_billno = %p.mch_billno, failed, "committed");
    }
    inner.ledger.apply(change);
    if failed {
        if send_failed {
            return fail(
                ErrCode::Systemerror,
                "请求已受理，请稍后使用原单号查询发放结果",
            );
        }
        return fail(ErrCode::Notenough, "帐号余额不足，请到商户平台充值后再重试");
    }
    if sending_secs.is_some() {
        // Accepted, still sending: the answer says so, the record says `SENDING`.
        return fail(
            ErrCode::Systemerror,
            "请求已受理，请稍后使用原单号查询发放结果",
        );
    }
    success.unwrap_or_else(|| fail(ErrCode::Systemerror, "系统繁忙，请再试。"))
}

/// `gethbinfo`.
async fn query(
    shared: &Arc<Shared>,
    raw: &RawMessage<'_>,
    echo: &Echo,
    client: Client<'_>,
    fault: &mut CommitFault,
) -> Reply {
    let api = Api::GetHbInfo;
    let fail = |code: ErrCode, text: &str| failure(api, code, text, echo, false);
    let req = match gethbinfo::Request::from_raw(raw.clone()) {
        Ok(r) => r,
        Err(e) => return failure(api, e.err_code(), &e.wire_description(), echo, false),
    };
    let Some(merchant) = shared.merchants.get(req.mch_id.as_str()) else {
        return fail(ErrCode::ParamError, "参数错误:找不到对应的商户号");
    };
    if let Err(e) = req.validate() {
        return failure(api, e.err_code(), &e.wire_description(), echo, false);
    }
    if let Err((code, text)) = authenticate(shared, api, raw, merchant, client) {
        return fail(code, text);
    }
    let appid = req.appid.as_str();
    if shared.behaviour.check_appid_binding
        && appid != merchant.appid
        && appid != merchant.mini_program_appid
    {
        return fail(ErrCode::ParamError, "参数错误:商户号和appid不匹配");
    }
    if let Some(hold) = fault.hold.take() {
        tokio::time::sleep(hold).await;
    }
    let mut inner = shared.lock();
    if shared.is_closed() {
        return Reply::gone();
    }
    if let Err(e) = Shared::catch_up(&mut inner) {
        tracing::error!(error = %e, "cannot run due refunds");
    }
    let now = inner.clock.now_ms();
    let window = u64::try_from(shared.behaviour.query_window.as_millis()).unwrap_or(u64::MAX);
    let packet = inner
        .ledger
        .packet(req.mch_id.as_str(), req.mch_billno.as_str())
        .filter(|p| now >= p.visible_at && now.saturating_sub(p.send_time) <= window);
    let Some(p) = packet else {
        return not_found(shared.behaviour.not_found, echo);
    };
    let mut r = gethbinfo::Response::new(ReturnHeader::success("OK"));
    r.mch_billno = Some(p.mch_billno.clone());
    r.mch_id = Some(req.mch_id.to_string());
    r.detail_id = Some(p.send_listid.clone());
    r.status = Some(match p.status {
        PacketStatus::Sent if p.sending_at(now) => Status::Sending,
        PacketStatus::Sent => Status::Sent,
        PacketStatus::Received => Status::Received,
        PacketStatus::Refunding => Status::Refunding,
        PacketStatus::Refund => Status::Refund,
        PacketStatus::Failed => Status::Failed,
    });
    r.send_type = Some(SendType::Api);
    r.hb_type = Some(match p.kind {
        Kind::Group => HbType::Group,
        Kind::Normal | Kind::MiniProgram => HbType::Normal,
    });
    r.total_num = Some(p.total_num);
    r.total_amount = Some(Fen::new(p.total_amount));
    r.reason = p.reason.clone();
    r.send_time = Some(format_beijing(p.send_time));
    r.refund_time = p.refund_time.map(format_beijing);
    r.refund_amount = p.refund_amount.map(Fen::new);
    r.wishing = Some(p.wishing.clone());
    r.remark = Some(p.remark.clone());
    r.act_name = Some(p.act_name.clone());
    r.hblist = p
        .claims
        .iter()
        .map(|c| {
            HbInfo::new(
                c.openid.clone(),
                Fen::new(c.amount),
                format_beijing(c.rcv_time),
            )
        })
        .collect();
    Reply::xml(r.to_xml(), "SUCCESS")
}
