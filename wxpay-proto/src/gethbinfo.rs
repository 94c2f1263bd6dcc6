//! `POST /mmpaymkttransfers/gethbinfo` — query a red packet's record (查询红包记录).
//!
//! Docs: <https://pay.weixin.qq.com/doc/v2/merchant/4011981612> (legacy:
//! <https://pay.weixin.qq.com/wiki/doc/api/tools/cash_coupon.php?chapter=13_6&index=5>).
//! Requires the merchant client certificate. Spec §4.4.
//!
//! Only the last 30 days are queryable. "Not found" is **not** a failure: the send may still
//! be in progress; query again later or resend with the same billno
//! ([`Response::is_not_found`]).

use std::borrow::Cow;
use std::collections::BTreeMap;

use crate::codec::{FieldReader, Name, Tag, XmlWriter};
use crate::enums::{BillType, ErrCode, HbType, SendType, Status};
use crate::error::Error;
use crate::header::{ReturnHeader, ReturnHeaderView, ReturnStatus};
use crate::rules;
use crate::types::{AppId, Fen, MchBillno, MchId, NonceStr};
use crate::wire_struct::{Slot, ViewSlot};

wire_struct! {
    /// A `gethbinfo` request. The appid field is named `appid` here (not `wxappid`);
    /// `sign_type`, `sub_mch_id` and `sub_appid` are not part of it (signing them gives
    /// `SIGN_ERROR`).
    pub struct Request {
        signed {
            /// `appid`: the appid the packet was sent with.
            appid: AppId,
            /// `bill_type`: must be `MCHT`.
            bill_type: BillType,
            /// `mch_billno`: the billno used when sending.
            mch_billno: MchBillno,
            /// `mch_id`.
            mch_id: MchId,
            /// `nonce_str`.
            nonce_str: NonceStr,
        }
        fields {
            /// `sign`: set after signing `sign_fields()`.
            sign: Option<String>,
        }
    }
}

api_request!(
    Request,
    response = Response,
    path = "/mmpaymkttransfers/gethbinfo",
    validate = validate
);

fn validate(r: &Request) -> Result<(), Error> {
    rules::check_bill_type(&r.bill_type)
}

impl Request {
    /// A query for `mch_billno`; `bill_type` is `MCHT`.
    pub fn new(nonce_str: NonceStr, mch_billno: MchBillno, mch_id: MchId, appid: AppId) -> Self {
        Self {
            nonce_str,
            mch_billno,
            mch_id,
            appid,
            bill_type: BillType::Mcht,
            sign: None,
            unknown: BTreeMap::new(),
        }
    }
}

/// The description of the official "not found" sample (spec §7.3).
pub const NOT_FOUND_DESCRIPTION: &str = "指定单号数据不存在";

wire_struct! {
    /// A `gethbinfo` response. On errors only the status fields (and echoes) are present.
    pub struct Response {
        fields {
            /// The status fields (flattened into the message).
            header: ReturnHeader => ReturnHeaderView<'a>,
            /// `mch_billno` echo.
            mch_billno: Option<String> => Option<Cow<'a, str>>,
            /// `mch_id` echo.
            mch_id: Option<String> => Option<Cow<'a, str>>,
            /// `detail_id`: WeChat's red-packet order id (= `send_listid`).
            detail_id: Option<String> => Option<Cow<'a, str>>,
            /// `status`.
            status: Option<Status> => Option<Status>,
            /// `send_type`.
            send_type: Option<SendType> => Option<SendType>,
            /// `hb_type`.
            hb_type: Option<HbType> => Option<HbType>,
            /// `total_num`.
            total_num: Option<u32> => Option<u32>,
            /// `total_amount` in fen.
            total_amount: Option<Fen> => Option<Fen>,
            /// `reason`: why the send failed.
            reason: Option<String> => Option<Cow<'a, str>>,
            /// `send_time` (`yyyy-MM-dd HH:mm:ss`, Beijing time).
            send_time: Option<String> => Option<Cow<'a, str>>,
            /// `refund_time`.
            refund_time: Option<String> => Option<Cow<'a, str>>,
            /// `refund_amount` in fen.
            refund_amount: Option<Fen> => Option<Fen>,
            /// `wishing`.
            wishing: Option<String> => Option<Cow<'a, str>>,
            /// `remark`.
            remark: Option<String> => Option<Cow<'a, str>>,
            /// `act_name`.
            act_name: Option<String> => Option<Cow<'a, str>>,
            /// `hblist/hbinfo`: the claims, in document order (absent = empty).
            hblist: Vec<HbInfo> => Vec<HbInfoView<'a>>,
            /// `sign`, if present (real responses carry none).
            sign: Option<String> => Option<Cow<'a, str>>,
        }
    }
    /// A `gethbinfo` response decoded without copying its text: what a caller that only
    /// looks at a response (or keeps a few of its fields) decodes.
    view ResponseView<'a>;
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

wire_struct! {
    /// One claim of a packet (`hblist/hbinfo`).
    pub struct HbInfo {
        fields {
            /// `openid`: who claimed.
            openid: String => Cow<'a, str>,
            /// `amount`: how much, in fen.
            amount: Fen => Fen,
            /// `rcv_time`: when (`yyyy-MM-dd HH:mm:ss`).
            rcv_time: Option<String> => Option<Cow<'a, str>>,
        }
    }
    /// One claim, as a [`ResponseView`] reads it.
    view HbInfoView<'a>;
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
}

/// The `hbinfo` items of the list `name`, each read by `read` from its own fields.
fn claims<'a, T>(
    r: &mut FieldReader<'a>,
    name: Name,
    mut read: impl FnMut(&mut FieldReader<'a>) -> Result<T, Error>,
) -> Result<Vec<T>, Error> {
    r.list(name, "hbinfo")?
        .map(|item| read(&mut item?))
        .collect()
}

/// The claim list of a [`ResponseView`].
impl ViewSlot for Vec<HbInfo> {
    type View<'a> = Vec<HbInfoView<'a>>;

    fn read_view<'a>(r: &mut FieldReader<'a>, name: Name) -> Result<Vec<HbInfoView<'a>>, Error> {
        claims(r, name, |item| {
            let mut info = HbInfo::read_view(item, const { Name::known("hbinfo") })?;
            info.unknown = item.take_unknown();
            Ok(info)
        })
    }

    fn own_view(view: &Vec<HbInfoView<'_>>) -> Self {
        view.iter().map(HbInfoView::to_owned).collect()
    }
}

/// The claim list: `<hblist><hbinfo>…</hbinfo>…</hblist>`, absent when empty.
impl Slot for Vec<HbInfo> {
    fn read(r: &mut FieldReader<'_>, name: Name) -> Result<Self, Error> {
        claims(r, name, |item| {
            let mut info = HbInfo::read(item, const { Name::known("hbinfo") })?;
            info.unknown = item.take_unknown();
            Ok(info)
        })
    }

    fn write(&self, w: &mut XmlWriter, tag: &Tag) {
        if self.is_empty() {
            return;
        }
        let item = tag!("hbinfo");
        w.open_tag(tag);
        for info in self {
            w.open_tag(&item);
            info.write(w, &item);
            w.close_tag(&item);
        }
        w.close_tag(tag);
    }
}
