//! `POST /mmpaymkttransfers/sendminiprogramhb` — send a mini-program red packet (发放小程序红包).
//!
//! Docs: <https://pay.weixin.qq.com/doc/v2/partner/4011941282> (legacy:
//! <https://pay.weixin.qq.com/wiki/doc/api/tools/cash_coupon_xcx.php?chapter=18_2&index=3>).
//! Requires the merchant client certificate. Spec §4.3.
//!
//! `wxappid` is the **mini-program's** appid here. The user receives the packet only after the
//! mini-program page calls `wx.sendBizRedPacket` with the response's `package`.

use std::collections::BTreeMap;

use crate::codec::{RawMessage, RawValue, XmlWriter};
use crate::enums::{NotifyWay, SceneId};
use crate::error::Error;
use crate::message::{ApiRequest, XmlMessage};
use crate::rules::{self, SendKind};
use crate::send::SendResponse;
use crate::sign_fields::SignFields;
use crate::types::{
    ActName, AppId, Fen, MchBillno, MchId, NonceStr, OpenId, Remark, SendName, Wishing,
};

/// A `sendminiprogramhb` request.
///
/// There is no `client_ip` among the documented fields (DESIGN §6.2): a caller that must send
/// one puts it in [`Request::unknown`], where it is sent but not signed.
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
    /// `wxappid`: the mini-program's appid.
    pub wxappid: AppId,
    /// `send_name`.
    pub send_name: SendName,
    /// `re_openid`: the recipient, an openid under the mini-program.
    pub re_openid: OpenId,
    /// `total_amount` in fen.
    pub total_amount: Fen,
    /// `total_num`: must be 1.
    pub total_num: u32,
    /// `wishing`.
    pub wishing: Wishing,
    /// `act_name`.
    pub act_name: ActName,
    /// `remark`.
    pub remark: Remark,
    /// `scene_id`: required below 1 yuan and above 200 yuan.
    pub scene_id: Option<SceneId>,
    /// `notify_way`: must be `MINI_PROGRAM_JSAPI`.
    pub notify_way: NotifyWay,
    /// Fields this crate does not know.
    pub unknown: BTreeMap<String, RawValue>,
}

impl Request {
    /// A request with every required field; `total_num` is 1, `notify_way` is
    /// `MINI_PROGRAM_JSAPI`, `scene_id` is unset.
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
        wishing: Wishing,
        act_name: ActName,
        remark: Remark,
    ) -> Self {
        Self {
            nonce_str,
            sign: None,
            mch_billno,
            mch_id,
            wxappid,
            send_name,
            re_openid,
            total_amount,
            total_num: 1,
            wishing,
            act_name,
            remark,
            scene_id: None,
            notify_way: NotifyWay::MiniProgramJsapi,
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
            wxappid: r.required("wxappid")?,
            send_name: r.required("send_name")?,
            re_openid: r.required("re_openid")?,
            total_amount: r.required("total_amount")?,
            total_num: r.required("total_num")?,
            wishing: r.required("wishing")?,
            act_name: r.required("act_name")?,
            remark: r.required("remark")?,
            scene_id: r.optional("scene_id")?,
            notify_way: r.required("notify_way")?,
            unknown: r.into_unknown(),
        })
    }

    fn to_xml(&self) -> String {
        let mut w = XmlWriter::new();
        w.field("nonce_str", &self.nonce_str);
        w.optional("sign", self.sign.as_ref());
        w.field("mch_billno", &self.mch_billno);
        w.field("mch_id", &self.mch_id);
        w.field("wxappid", &self.wxappid);
        w.field("send_name", &self.send_name);
        w.field("re_openid", &self.re_openid);
        w.field("total_amount", &self.total_amount);
        w.field("total_num", &self.total_num);
        w.field("wishing", &self.wishing);
        w.field("act_name", &self.act_name);
        w.field("remark", &self.remark);
        w.optional("scene_id", self.scene_id.as_ref());
        w.field("notify_way", &self.notify_way);
        w.unknown(&self.unknown);
        w.finish()
    }
}

impl ApiRequest for Request {
    type Response = Response;

    const PATH: &'static str = "/mmpaymkttransfers/sendminiprogramhb";

    const SIGNED_FIELDS: &'static [&'static str] = &[
        "nonce_str",
        "mch_billno",
        "mch_id",
        "wxappid",
        "send_name",
        "re_openid",
        "total_amount",
        "total_num",
        "wishing",
        "act_name",
        "remark",
        "scene_id",
        "notify_way",
    ];

    fn sign_fields(&self) -> SignFields<'_> {
        let mut f = SignFields::new();
        f.text("nonce_str", self.nonce_str.as_str());
        f.text("mch_billno", self.mch_billno.as_str());
        f.text("mch_id", self.mch_id.as_str());
        f.text("wxappid", self.wxappid.as_str());
        f.text("send_name", self.send_name.as_str());
        f.text("re_openid", self.re_openid.as_str());
        f.number("total_amount", self.total_amount.get());
        f.number("total_num", u64::from(self.total_num));
        f.text("wishing", self.wishing.as_str());
        f.text("act_name", self.act_name.as_str());
        f.text("remark", self.remark.as_str());
        f.opt_text("scene_id", self.scene_id.as_ref().map(SceneId::as_str));
        f.text("notify_way", self.notify_way.as_str());
        f
    }

    fn sign(&self) -> Option<&str> {
        self.sign.as_deref()
    }

    fn set_sign(&mut self, sign: String) {
        self.sign = Some(sign);
    }

    fn validate(&self) -> Result<(), Error> {
        rules::check_total_num(SendKind::MiniProgram, self.total_num)?;
        rules::check_notify_way(&self.notify_way)?;
        rules::check_scene_required(self.total_amount, self.total_num, self.scene_id.as_ref())
    }

    fn mch_billno(&self) -> &MchBillno {
        &self.mch_billno
    }

    fn mch_id(&self) -> &MchId {
        &self.mch_id
    }
}

/// The `sendminiprogramhb` response: the send fields plus `package`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Response {
    /// The fields every send response has (its `unknown` holds the unknown fields).
    pub send: SendResponse,
    /// `package`: the parameter for `wx.sendBizRedPacket` (URL-encode it before handing it to
    /// the page).
    pub package: Option<String>,
}

impl Response {
    /// A response with `send` and no `package`.
    pub fn new(send: SendResponse) -> Self {
        Self {
            send,
            package: None,
        }
    }
}

impl XmlMessage for Response {
    fn from_raw(raw: RawMessage) -> Result<Self, Error> {
        let mut r = raw.into_reader();
        let mut send = SendResponse::read(&mut r)?;
        let package = r.optional("package")?;
        send.unknown = r.into_unknown();
        Ok(Self { send, package })
    }

    fn to_xml(&self) -> String {
        let mut w = XmlWriter::new();
        self.send.write(&mut w);
        w.optional("package", self.package.as_ref());
        w.unknown(&self.send.unknown);
        w.finish()
    }
}
