//! `POST /mmpaymkttransfers/sendgroupredpack` — send a group (fission) red packet (发放裂变红包).
//!
//! Docs: <https://pay.weixin.qq.com/wiki/doc/api/tools/cash_coupon.php?chapter=13_5&index=4>.
//! Requires the merchant client certificate. Spec §4.2.
//!
//! **Retired by WeChat Pay on 2024-06-05** ("本功能已于2024年6月5日下线"): kept for
//! completeness and for the mock. The request is `sendredpack`'s **without `client_ip`** (a
//! signed `client_ip` makes the server answer `SIGN_ERROR`) and **with `amt_type`**.

use std::collections::BTreeMap;

use crate::enums::{AmtType, SceneId};
use crate::error::Error;
use crate::message::SendApiRequest;
use crate::rules::{self, SendKind};
use crate::types::{
    ActName, AppId, Fen, MchBillno, MchId, NonceStr, OpenId, Remark, RiskInfo, SendName, Wishing,
};

/// The response: [`crate::SendResponse`] (`total_amount` is the group's total).
pub use crate::send::SendResponse as Response;

wire_struct! {
    /// A `sendgroupredpack` request.
    pub struct Request {
        signed {
            /// `act_name`.
            act_name: ActName,
            /// `amt_type`: must be `ALL_RAND`.
            amt_type: AmtType,
            /// `consume_mch_id`: the funding merchant (legacy service-provider field).
            consume_mch_id: Option<MchId>,
            /// `mch_billno`: the idempotency key; reuse it on every retry.
            mch_billno: MchBillno,
            /// `mch_id`.
            mch_id: MchId,
            /// `msgappid`: the appid that reaches the user (service-provider mode; for group
            /// packets unconfirmed).
            msgappid: Option<AppId>,
            /// `nonce_str`.
            nonce_str: NonceStr,
            /// `re_openid`: the seed user, who receives the group and shares the rest.
            re_openid: OpenId,
            /// `remark`.
            remark: Remark,
            /// `risk_info`.
            risk_info: Option<RiskInfo>,
            /// `scene_id`: the usage scene (it does not widen a group's 1 to 200 yuan average).
            scene_id: Option<SceneId>,
            /// `send_name`.
            send_name: SendName,
            /// `sub_mch_id`: the sub-merchant (service-provider mode only).
            sub_mch_id: Option<MchId>,
            /// `total_amount`: the whole group's total, in fen.
            total_amount: Fen,
            /// `total_num`: the number of people, seed included (3 to 20).
            total_num: u32,
            /// `wishing`.
            wishing: Wishing,
            /// `wxappid`: the Official Account appid.
            wxappid: AppId,
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
    path = "/mmpaymkttransfers/sendgroupredpack",
    validate = validate
);

send_api_request!(
    Request,
    SendKind::Group,
    partner: true,
    validate_except_scene = validate_except_scene
);

fn validate(r: &Request) -> Result<(), Error> {
    validate_except_scene(r)?;
    // For a group only that a given scene is one of the eight: none is required (see
    // `SendApiRequest::check_scene_required`).
    SendApiRequest::check_scene_required(r)
}

fn validate_except_scene(r: &Request) -> Result<(), Error> {
    rules::check_total_num(SendKind::Group, r.total_num)?;
    rules::check_amt_type(&r.amt_type)?;
    rules::check_partner_fields(r.sub_mch_id.is_some(), r.msgappid.is_some())
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
            sign: None,
            unknown: BTreeMap::new(),
        }
    }
}
