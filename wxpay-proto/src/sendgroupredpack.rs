//! `POST /mmpaymkttransfers/sendgroupredpack` — send a group (fission) red packet (发放裂变红包).
//!
//! Docs: <https://pay.weixin.qq.com/wiki/doc/api/tools/cash_coupon.php?chapter=13_5&index=4>.
//! Requires the merchant client certificate. Spec §4.2.
//!
//! **Retired by WeChat Pay on 2024-06-05** ("本功能已于2024年6月5日下线"): kept for
//! completeness and for the mock. The request is `sendredpack`'s **without `client_ip`** (a
//! signed `client_ip` makes the server answer `SIGN_ERROR`) and **with `amt_type`**.

use std::collections::BTreeMap;

use crate::codec::{RawMessage, RawValue, XmlWriter};
use crate::enums::{AmtType, SceneId};
use crate::error::Error;
use crate::message::{ApiRequest, XmlMessage};
use crate::rules::{self, SendKind};
use crate::sign_fields::SignFields;
use crate::types::{
    ActName, AppId, Fen, MchBillno, MchId, NonceStr, OpenId, Remark, RiskInfo, SendName, Wishing,
};

/// The response: [`crate::SendResponse`].
pub use crate::send::SendResponse as Response;

/// A `sendgroupredpack` request.
///
/// The appid field is `wxappid` (not `appid`), and there is no `sign_type`: red packets are
/// signed with MD5 over exactly [`Request::SIGNED_FIELDS`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Request {
    /// `nonce_str`.
    pub nonce_str: NonceStr,
    /// `sign`: set after signing [`ApiRequest::sign_fields`].
    pub sign: Option<String>,
    /// `mch_billno`: the idempotency key; reuse it on every retry.
    pub mch_billno: MchBillno,
    /// `mch_id`.
    pub mch_id: MchId,
    /// `sub_mch_id`: the sub-merchant (service-provider mode only).
    pub sub_mch_id: Option<MchId>,
    /// `msgappid`: the appid that reaches the user (required in service-provider mode).
    pub msgappid: Option<AppId>,
    /// `wxappid`: the Official Account appid (not a mini-program's).
    pub wxappid: AppId,
    /// `send_name`.
    pub send_name: SendName,
    /// `re_openid`: the seed user, who receives the group and shares the rest.
    pub re_openid: OpenId,
    /// `total_amount`: the whole group's total, in fen.
    pub total_amount: Fen,
    /// `total_num`: the number of people, seed included (3 to 20).
    pub total_num: u32,
    /// `amt_type`: must be `ALL_RAND`.
    pub amt_type: AmtType,
    /// `wishing`.
    pub wishing: Wishing,
    /// `act_name`.
    pub act_name: ActName,
    /// `remark`.
    pub remark: Remark,
    /// `scene_id`: required below 1 yuan and above 200 yuan.
    pub scene_id: Option<SceneId>,
    /// `risk_info`.
    pub risk_info: Option<RiskInfo>,
    /// `consume_mch_id`: the funding merchant (legacy service-provider field).
    pub consume_mch_id: Option<MchId>,
    /// Fields this crate does not know (received by a server, or sent unsigned on purpose).
    pub unknown: BTreeMap<String, RawValue>,
}

impl Request {
    /// A request with every required field; `amt_type` is `ALL_RAND`, optional fields are
    /// unset.
    #[allow(
        clippy::too_many_arguments,
        reason = "the API's required fields, each its own type so arguments cannot be swapped"
    )]
    pub fn new(
        nonce_str: NonceStr,
        mch_billno: MchBillno,
        mch_id: MchId,
        wxappid: AppId,
        send_name: SendName,
        re_openid: OpenId,
        total_amount: Fen,
        total_num: u32,
        wishing: Wishing,
        act_name: ActName,
        remark: Remark,
    ) -> Self {
        Self {
            nonce_str,
            sign: None,
            mch_billno,
            mch_id,
            sub_mch_id: None,
            msgappid: None,
            wxappid,
            send_name,
            re_openid,
            total_amount,
            total_num,
            amt_type: AmtType::AllRand,
            wishing,
            act_name,
            remark,
            scene_id: None,
            risk_info: None,
            consume_mch_id: None,
            unknown: BTreeMap::new(),
        }
    }
}

impl XmlMessage for Request {
    fn from_raw(raw: RawMessage) -> Result<Self, Error> {
        let mut r = raw.into_reader();
        Ok(Self {
            nonce_str: r.required("nonce_str")?,
            sign: r.optional("sign")?,
            mch_billno: r.required("mch_billno")?,
            mch_id: r.required("mch_id")?,
            sub_mch_id: r.optional("sub_mch_id")?,
            msgappid: r.optional("msgappid")?,
            wxappid: r.required("wxappid")?,
            send_name: r.required("send_name")?,
            re_openid: r.required("re_openid")?,
            total_amount: r.required("total_amount")?,
            total_num: r.required("total_num")?,
            amt_type: r.required("amt_type")?,
            wishing: r.required("wishing")?,
            act_name: r.required("act_name")?,
            remark: r.required("remark")?,
            scene_id: r.optional("scene_id")?,
            risk_info: r.optional("risk_info")?,
            consume_mch_id: r.optional("consume_mch_id")?,
            unknown: r.into_unknown(),
        })
    }

    fn to_xml(&self) -> String {
        let mut w = XmlWriter::new();
        w.field("nonce_str", &self.nonce_str);
        w.optional("sign", self.sign.as_ref());
        w.field("mch_billno", &self.mch_billno);
        w.field("mch_id", &self.mch_id);
        w.optional("sub_mch_id", self.sub_mch_id.as_ref());
        w.optional("msgappid", self.msgappid.as_ref());
        w.field("wxappid", &self.wxappid);
        w.field("send_name", &self.send_name);
        w.field("re_openid", &self.re_openid);
        w.field("total_amount", &self.total_amount);
        w.field("total_num", &self.total_num);
        w.field("amt_type", &self.amt_type);
        w.field("wishing", &self.wishing);
        w.field("act_name", &self.act_name);
        w.field("remark", &self.remark);
        w.optional("scene_id", self.scene_id.as_ref());
        w.optional("risk_info", self.risk_info.as_ref());
        w.optional("consume_mch_id", self.consume_mch_id.as_ref());
        w.unknown(&self.unknown);
        w.finish()
    }
}

impl ApiRequest for Request {
    type Response = Response;

    const PATH: &'static str = "/mmpaymkttransfers/sendgroupredpack";

    const SIGNED_FIELDS: &'static [&'static str] = &[
        "nonce_str",
        "mch_billno",
        "mch_id",
        "sub_mch_id",
        "msgappid",
        "wxappid",
        "send_name",
        "re_openid",
        "total_amount",
        "total_num",
        "amt_type",
        "wishing",
        "act_name",
        "remark",
        "scene_id",
        "risk_info",
        "consume_mch_id",
    ];

    fn sign_fields(&self) -> SignFields<'_> {
        let mut f = SignFields::new();
        f.text("nonce_str", self.nonce_str.as_str());
        f.text("mch_billno", self.mch_billno.as_str());
        f.text("mch_id", self.mch_id.as_str());
        f.opt_text("sub_mch_id", self.sub_mch_id.as_ref().map(MchId::as_str));
        f.opt_text("msgappid", self.msgappid.as_ref().map(AppId::as_str));
        f.text("wxappid", self.wxappid.as_str());
        f.text("send_name", self.send_name.as_str());
        f.text("re_openid", self.re_openid.as_str());
        f.number("total_amount", self.total_amount.get());
        f.number("total_num", u64::from(self.total_num));
        f.text("amt_type", self.amt_type.as_str());
        f.text("wishing", self.wishing.as_str());
        f.text("act_name", self.act_name.as_str());
        f.text("remark", self.remark.as_str());
        f.opt_text("scene_id", self.scene_id.as_ref().map(SceneId::as_str));
        f.opt_text("risk_info", self.risk_info.as_ref().map(RiskInfo::as_str));
        f.opt_text(
            "consume_mch_id",
            self.consume_mch_id.as_ref().map(MchId::as_str),
        );
        f
    }

    fn sign(&self) -> Option<&str> {
        self.sign.as_deref()
    }

    fn set_sign(&mut self, sign: String) {
        self.sign = Some(sign);
    }

    fn validate(&self) -> Result<(), Error> {
        rules::check_total_num(SendKind::Group, self.total_num)?;
        rules::check_amt_type(&self.amt_type)?;
        rules::check_partner_fields(self.sub_mch_id.is_some(), self.msgappid.is_some())?;
        rules::check_scene_required(self.total_amount, self.total_num, self.scene_id.as_ref())
    }

    fn mch_billno(&self) -> &MchBillno {
        &self.mch_billno
    }

    fn mch_id(&self) -> &MchId {
        &self.mch_id
    }
}
