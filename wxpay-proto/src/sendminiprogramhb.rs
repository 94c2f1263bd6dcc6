//! `POST /mmpaymkttransfers/sendminiprogramhb` — send a mini-program red packet (发放小程序红包).
//!
//! Docs: <https://pay.weixin.qq.com/doc/v2/partner/4011941282> (legacy:
//! <https://pay.weixin.qq.com/wiki/doc/api/tools/cash_coupon_xcx.php?chapter=18_2&index=3>).
//! Requires the merchant client certificate. Spec §4.3.
//!
//! `wxappid` is the **mini-program's** appid here. The user receives the packet only after the
//! mini-program page calls `wx.sendBizRedPacket` with the response's `package`.

use std::collections::BTreeMap;

use crate::enums::{NotifyWay, SceneId};
use crate::error::Error;
use crate::message::SendApiRequest;
use crate::rules::{self, SendKind};
use crate::types::{
    ActName, AppId, Fen, MchBillno, MchId, NonceStr, OpenId, Remark, SendName, Wishing,
};

/// The response: [`crate::SendResponse`], whose `package` is set on success.
pub use crate::send::SendResponse as Response;

wire_struct! {
    /// A `sendminiprogramhb` request.
    ///
    /// There is no `client_ip` among the documented fields (DESIGN §6.2): a caller that must
    /// send one puts it in `unknown`, where it is sent but not signed.
    pub struct Request {
        signed {
            /// `act_name`.
            act_name: ActName,
            /// `mch_billno`: the idempotency key; reuse it on every retry.
            mch_billno: MchBillno,
            /// `mch_id`.
            mch_id: MchId,
            /// `nonce_str`.
            nonce_str: NonceStr,
            /// `notify_way`: must be `MINI_PROGRAM_JSAPI`.
            notify_way: NotifyWay,
            /// `re_openid`: the recipient, an openid under the mini-program.
            re_openid: OpenId,
            /// `remark`.
            remark: Remark,
            /// `scene_id`: required below 1 yuan and above 200 yuan.
            scene_id: Option<SceneId>,
            /// `send_name`.
            send_name: SendName,
            /// `total_amount` in fen.
            total_amount: Fen,
            /// `total_num`: must be 1.
            total_num: u32,
            /// `wishing`.
            wishing: Wishing,
            /// `wxappid`: the mini-program's appid.
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
    path = "/mmpaymkttransfers/sendminiprogramhb",
    validate = validate
);

send_api_request!(
    Request,
    SendKind::MiniProgram,
    partner: false,
    validate_except_scene = validate_except_scene
);

fn validate(r: &Request) -> Result<(), Error> {
    validate_except_scene(r)?;
    SendApiRequest::check_scene_required(r)
}

fn validate_except_scene(r: &Request) -> Result<(), Error> {
    rules::check_total_num(SendKind::MiniProgram, r.total_num)?;
    rules::check_notify_way(&r.notify_way)
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
            sign: None,
            unknown: BTreeMap::new(),
        }
    }
}
