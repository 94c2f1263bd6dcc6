//! The response of the three send APIs.

use std::collections::BTreeMap;

use crate::header::ReturnHeader;
use crate::types::Fen;

wire_struct! {
    /// The response of `sendredpack`, `sendgroupredpack` and `sendminiprogramhb`.
    ///
    /// Responses are not signed in practice (spec §2.5): a client checks the echoed fields
    /// against its request instead. The echoes are kept as plain strings so that a business
    /// error about a malformed field still decodes.
    pub struct SendResponse {
        fields {
            /// The status fields (flattened into the message).
            header: ReturnHeader,
            /// `mch_billno` echo (present on failures too).
            mch_billno: Option<String>,
            /// `mch_id` echo.
            mch_id: Option<String>,
            /// `wxappid` echo.
            wxappid: Option<String>,
            /// `re_openid` echo.
            re_openid: Option<String>,
            /// `total_amount` echo, in fen.
            total_amount: Option<Fen>,
            /// `total_num` echo (group responses, some `PARAM_ERROR` responses).
            total_num: Option<u32>,
            /// `send_listid`: WeChat's red-packet order id, on success only (= `detail_id` of
            /// a query).
            send_listid: Option<String>,
            /// `send_time` (`yyyyMMddHHmmss`, 2015-era responses only).
            send_time: Option<String>,
            /// `package` (`sendminiprogramhb` only): the parameter of `wx.sendBizRedPacket`;
            /// URL-encode it before handing it to the page.
            package: Option<String>,
            /// `sign`, if present (real responses carry none).
            sign: Option<String>,
        }
    }
}

impl SendResponse {
    /// A response with `header` and no other field.
    pub fn new(header: ReturnHeader) -> Self {
        Self {
            header,
            mch_billno: None,
            mch_id: None,
            wxappid: None,
            re_openid: None,
            total_amount: None,
            total_num: None,
            send_listid: None,
            send_time: None,
            package: None,
            sign: None,
            unknown: BTreeMap::new(),
        }
    }
}
