//! `POST /mmpaymkttransfers/gethbinfo` — query a red packet's record (查询红包记录).
//!
//! Docs: <https://pay.weixin.qq.com/doc/v2/merchant/4011981612> (legacy:
//! <https://pay.weixin.qq.com/wiki/doc/api/tools/cash_coupon.php?chapter=13_6&index=5>).
//! Requires the merchant client certificate. Spec §4.4.
//!
//! Only the last 30 days are queryable. "Not found" is **not** a failure: the send may still
//! be in progress; query again later or resend with the same billno
//! ([`Response::is_not_found`]).

use std::collections::BTreeMap;

use crate::codec::{FieldReader, RawMessage, RawValue, XmlWriter};
use crate::enums::{BillType, ErrCode, HbType, SendType, Status};
use crate::error::Error;
use crate::header::{ReturnHeader, ReturnStatus};
use crate::message::{ApiRequest, XmlMessage};
use crate::rules;
use crate::sign_fields::SignFields;
use crate::types::{AppId, Fen, MchBillno, MchId, NonceStr};

/// A `gethbinfo` request. The appid field is named `appid` here (not `wxappid`); `sign_type`,
/// `sub_mch_id` and `sub_appid` are not part of it (signing them gives `SIGN_ERROR`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Request {
    /// `nonce_str`.
    pub nonce_str: NonceStr,
    /// `sign`: set after signing [`ApiRequest::sign_fields`].
    pub sign: Option<String>,
    /// `mch_billno`: the billno used when sending.
    pub mch_billno: MchBillno,
    /// `mch_id`.
    pub mch_id: MchId,
    /// `appid`: the appid the packet was sent with.
    pub appid: AppId,
    /// `bill_type`: must be `MCHT`.
    pub bill_type: BillType,
    /// Fields this crate does not know.
    pub unknown: BTreeMap<String, RawValue>,
}

impl Request {
    /// A query for `mch_billno`; `bill_type` is `MCHT`.
    pub fn new(nonce_str: NonceStr, mch_billno: MchBillno, mch_id: MchId, appid: AppId) -> Self {
        Self {
            nonce_str,
            sign: None,
            mch_billno,
            mch_id,
            appid,
            bill_type: BillType::Mcht,
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
            appid: r.required("appid")?,
            bill_type: r.required("bill_type")?,
            unknown: r.into_unknown(),
        })
    }

    fn to_xml(&self) -> String {
        let mut w = XmlWriter::new();
        w.field("nonce_str", &self.nonce_str);
        w.optional("sign", self.sign.as_ref());
        w.field("mch_billno", &self.mch_billno);
        w.field("mch_id", &self.mch_id);
        w.field("appid", &self.appid);
        w.field("bill_type", &self.bill_type);
        w.unknown(&self.unknown);
        w.finish()
    }
}

impl ApiRequest for Request {
    type Response = Response;

    const PATH: &'static str = "/mmpaymkttransfers/gethbinfo";

    const SIGNED_FIELDS: &'static [&'static str] =
        &["nonce_str", "mch_billno", "mch_id", "appid", "bill_type"];

    fn sign_fields(&self) -> SignFields<'_> {
        let mut f = SignFields::new();
        f.text("nonce_str", self.nonce_str.as_str());
        f.text("mch_billno", self.mch_billno.as_str());
        f.text("mch_id", self.mch_id.as_str());
        f.text("appid", self.appid.as_str());
        f.text("bill_type", self.bill_type.as_str());
        f
    }

    fn sign(&self) -> Option<&str> {
        self.sign.as_deref()
    }

    fn set_sign(&mut self, sign: String) {
        self.sign = Some(sign);
    }

    fn validate(&self) -> Result<(), Error> {
        rules::check_bill_type(&self.bill_type)
    }

    fn mch_billno(&self) -> &MchBillno {
        &self.mch_billno
    }

    fn mch_id(&self) -> &MchId {
        &self.mch_id
    }
}

/// The description of the official "not found" sample (spec §7.3).
pub const NOT_FOUND_DESCRIPTION: &str = "指定单号数据不存在";

/// A `gethbinfo` response. On errors only the status fields (and echoes) are present.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Response {
    /// The status fields.
    pub header: ReturnHeader,
    /// `mch_billno` echo.
    pub mch_billno: Option<String>,
    /// `mch_id` echo.
    pub mch_id: Option<String>,
    /// `detail_id`: WeChat's red-packet order id (= `send_listid`).
    pub detail_id: Option<String>,
    /// `status`.
    pub status: Option<Status>,
    /// `send_type`.
    pub send_type: Option<SendType>,
    /// `hb_type`.
    pub hb_type: Option<HbType>,
    /// `total_num`.
    pub total_num: Option<u32>,
    /// `total_amount` in fen.
    pub total_amount: Option<Fen>,
    /// `reason`: why the send failed.
    pub reason: Option<String>,
    /// `send_time` (`yyyy-MM-dd HH:mm:ss`, Beijing time).
    pub send_time: Option<String>,
    /// `refund_time`.
    pub refund_time: Option<String>,
    /// `refund_amount` in fen.
    pub refund_amount: Option<Fen>,
    /// `wishing`.
    pub wishing: Option<String>,
    /// `remark`.
    pub remark: Option<String>,
    /// `act_name`.
    pub act_name: Option<String>,
    /// `hblist/hbinfo`: the claims, in document order (absent = empty).
    pub hblist: Vec<HbInfo>,
    /// `sign`, if present (real responses carry none).
    pub sign: Option<String>,
    /// Fields this crate does not know.
    pub unknown: BTreeMap<String, RawValue>,
}

impl Response {
    /// A response with `header` and no other field.
    pub fn new(header: ReturnHeader) -> Self {
        Self {
            header,
            mch_billno: None,
            mch_id: None,
            detail_id: None,
            status: None,
            send_type: None,
            hb_type: None,
            total_num: None,
            total_amount: None,
            reason: None,
            send_time: None,
            refund_time: None,
            refund_amount: None,
            wishing: None,
            remark: None,
            act_name: None,
            hblist: Vec::new(),
            sign: None,
            unknown: BTreeMap::new(),
        }
    }

    /// Whether the answer is "no record for this billno": `NOT_FOUND`, or the official
    /// sample's `SYSTEMERROR` with "指定单号数据不存在" (spec §7.3). Not a failure: the
    /// packet may still be in progress.
    pub fn is_not_found(&self) -> bool {
        match self.header.status() {
            ReturnStatus::Business(e) => match e.code {
                ErrCode::NotFound => true,
                ErrCode::Systemerror => {
                    e.description.contains(NOT_FOUND_DESCRIPTION)
                        || self
                            .header
                            .return_msg
                            .as_deref()
                            .is_some_and(|m| m.contains(NOT_FOUND_DESCRIPTION))
                }
                _ => false,
            },
            _ => false,
        }
    }
}

impl XmlMessage for Response {
    fn from_raw(raw: RawMessage) -> Result<Self, Error> {
        let mut r = raw.into_reader();
        let header = ReturnHeader::read(&mut r)?;
        let mut response = Self {
            header,
            mch_billno: r.optional("mch_billno")?,
            mch_id: r.optional("mch_id")?,
            detail_id: r.optional("detail_id")?,
            status: r.optional("status")?,
            send_type: r.optional("send_type")?,
            hb_type: r.optional("hb_type")?,
            total_num: r.optional("total_num")?,
            total_amount: r.optional("total_amount")?,
            reason: r.optional("reason")?,
            send_time: r.optional("send_time")?,
            refund_time: r.optional("refund_time")?,
            refund_amount: r.optional("refund_amount")?,
            wishing: r.optional("wishing")?,
            remark: r.optional("remark")?,
            act_name: r.optional("act_name")?,
            hblist: Vec::new(),
            sign: r.optional("sign")?,
            unknown: BTreeMap::new(),
        };
        response.hblist = r
            .list("hblist", "hbinfo")?
            .into_iter()
            .map(HbInfo::read)
            .collect::<Result<_, _>>()?;
        response.unknown = r.into_unknown();
        Ok(response)
    }

    fn to_xml(&self) -> String {
        let mut w = XmlWriter::new();
        self.header.write(&mut w);
        w.optional("mch_billno", self.mch_billno.as_ref());
        w.optional("mch_id", self.mch_id.as_ref());
        w.optional("detail_id", self.detail_id.as_ref());
        w.optional("status", self.status.as_ref());
        w.optional("send_type", self.send_type.as_ref());
        w.optional("hb_type", self.hb_type.as_ref());
        w.optional("total_num", self.total_num.as_ref());
        w.optional("total_amount", self.total_amount.as_ref());
        w.optional("reason", self.reason.as_ref());
        w.optional("send_time", self.send_time.as_ref());
        w.optional("refund_time", self.refund_time.as_ref());
        w.optional("refund_amount", self.refund_amount.as_ref());
        w.optional("wishing", self.wishing.as_ref());
        w.optional("remark", self.remark.as_ref());
        w.optional("act_name", self.act_name.as_ref());
        if !self.hblist.is_empty() {
            w.open("hblist");
            for info in &self.hblist {
                info.write(&mut w);
            }
            w.close("hblist");
        }
        w.optional("sign", self.sign.as_ref());
        w.unknown(&self.unknown);
        w.finish()
    }
}

/// One claim of a packet (`hblist/hbinfo`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HbInfo {
    /// `openid`: who claimed.
    pub openid: String,
    /// `amount`: how much, in fen.
    pub amount: Fen,
    /// `rcv_time`: when (`yyyy-MM-dd HH:mm:ss`).
    pub rcv_time: Option<String>,
    /// Fields this crate does not know (e.g. the `status` of the doc example, absent in
    /// real responses).
    pub unknown: BTreeMap<String, RawValue>,
}

impl HbInfo {
    /// A claim.
    pub fn new(openid: impl Into<String>, amount: Fen, rcv_time: impl Into<String>) -> Self {
        Self {
            openid: openid.into(),
            amount,
            rcv_time: Some(rcv_time.into()),
            unknown: BTreeMap::new(),
        }
    }

    fn read(mut r: FieldReader) -> Result<Self, Error> {
        Ok(Self {
            openid: r.required("openid")?,
            amount: r.required("amount")?,
            rcv_time: r.optional("rcv_time")?,
            unknown: r.into_unknown(),
        })
    }

    fn write(&self, w: &mut XmlWriter) {
        w.open("hbinfo");
        w.field("openid", &self.openid);
        w.field("amount", &self.amount);
        w.optional("rcv_time", self.rcv_time.as_ref());
        w.unknown(&self.unknown);
        w.close("hbinfo");
    }
}
