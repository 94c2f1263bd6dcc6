//! `POST /mmpaymkttransfers/sendredpack` — send a normal red packet to one user (发放普通红包).
//!
//! Docs: <https://pay.weixin.qq.com/doc/v2/merchant/4011974053> (legacy:
//! <https://pay.weixin.qq.com/wiki/doc/api/tools/cash_coupon.php?chapter=13_4&index=3>).
//! Requires the merchant client certificate. Spec §4.1.

use std::collections::BTreeMap;

use crate::enums::SceneId;
use crate::error::Error;
use crate::message::SendApiRequest;
use crate::rules::{self, SendKind};
use crate::types::{
    ActName, AppId, ClientIp, Fen, MchBillno, MchId, NonceStr, OpenId, Remark, RiskInfo, SendName,
    Wishing,
};

/// The response: [`crate::SendResponse`].
pub use crate::send::SendResponse as Response;

wire_struct! {
    /// A `sendredpack` request.
    ///
    /// The appid field is `wxappid` (not `appid`), and there is no `sign_type`: red packets are
    /// signed with MD5 over exactly the `SIGNED_FIELDS` of [`crate::ApiRequest`].
    pub struct Request {
        signed {
            /// `act_name`.
            act_name: ActName,
            /// `client_ip`: the IPv4 address of the calling machine.
            client_ip: ClientIp,
            /// `consume_mch_id`: the funding merchant (legacy service-provider field).
            consume_mch_id: Option<MchId>,
            /// `mch_billno`: the idempotency key; reuse it on every retry.
            mch_billno: MchBillno,
            /// `mch_id`.
            mch_id: MchId,
            /// `msgappid`: the appid that reaches the user (required in service-provider mode).
            msgappid: Option<AppId>,
            /// `nonce_str`.
            nonce_str: NonceStr,
            /// `re_openid`: the recipient, an openid under `wxappid`.
            re_openid: OpenId,
            /// `remark`.
            remark: Remark,
            /// `risk_info`.
            risk_info: Option<RiskInfo>,
            /// `scene_id`: required below 1 yuan and above 200 yuan.
            scene_id: Option<SceneId>,
            /// `send_name`.
            send_name: SendName,
            /// `sub_mch_id`: the sub-merchant (service-provider mode only).
            sub_mch_id: Option<MchId>,
            /// `total_amount` in fen.
            total_amount: Fen,
            /// `total_num`: must be 1.
            total_num: u32,
            /// `wishing`.
            wishing: Wishing,
            /// `wxappid`: the Official Account appid (not a mini-program's).
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
    path = "/mmpaymkttransfers/sendredpack",
    validate = validate
);

send_api_request!(
    Request,
    SendKind::Normal,
    partner: true,
    validate_except_scene = validate_except_scene
);

fn validate(r: &Request) -> Result<(), Error> {
    validate_except_scene(r)?;
    SendApiRequest::check_scene_required(r)
}

fn validate_except_scene(r: &Request) -> Result<(), Error> {
    rules::check_total_num(SendKind::Normal, r.total_num)?;
    rules::check_partner_fields(r.sub_mch_id.is_some(), r.msgappid.is_some())
}

impl Request {
    /// A request with every required field; `total_num` is 1, optional fields are unset.
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
        client_ip: ClientIp,
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
            total_num: 1,
            wishing,
            client_ip,
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
