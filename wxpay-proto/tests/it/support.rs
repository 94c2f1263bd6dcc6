//! Builders of valid requests shared by the tests.

use wxpay_proto::{
    ActName, AppId, ClientIp, Fen, MchBillno, MchId, NonceStr, OpenId, Remark, SendName, Wishing,
    gethbinfo, sendgroupredpack, sendminiprogramhb, sendredpack,
};

/// The official sendredpack example of spec §2.4 (without `scene_id` and `risk_info`).
pub(crate) fn sendredpack_example() -> sendredpack::Request {
    sendredpack::Request::new(
        NonceStr::new("5K8264ILTKCH16CQ2502SI8ZNMTM67VS").unwrap(),
        MchBillno::new("10000098201411111234567890").unwrap(),
        MchId::new("10000098").unwrap(),
        AppId::new("wx8888888888888888").unwrap(),
        SendName::new("天虹百货").unwrap(),
        OpenId::new("oxTWIuGaIt6gTKsQRLau2M0yL16E").unwrap(),
        Fen::new(1000),
        Wishing::new("感谢您参加猜灯谜活动，祝您元宵节快乐！").unwrap(),
        ClientIp::new("192.168.0.1").unwrap(),
        ActName::new("猜灯谜抢红包活动").unwrap(),
        Remark::new("猜越多得越多，快来抢！").unwrap(),
    )
}

pub(crate) fn group_example() -> sendgroupredpack::Request {
    sendgroupredpack::Request::new(
        NonceStr::new("5K8264ILTKCH16CQ2502SI8ZNMTM67VS").unwrap(),
        MchBillno::new("10000098201411111234567891").unwrap(),
        MchId::new("10000098").unwrap(),
        AppId::new("wx8888888888888888").unwrap(),
        SendName::new("天虹百货").unwrap(),
        OpenId::new("oxTWIuGaIt6gTKsQRLau2M0yL16E").unwrap(),
        Fen::new(1000),
        5,
        Wishing::new("恭喜发财").unwrap(),
        ActName::new("裂变红包").unwrap(),
        Remark::new("分享给好友").unwrap(),
    )
}

pub(crate) fn mini_example() -> sendminiprogramhb::Request {
    sendminiprogramhb::Request::new(
        NonceStr::new("5K8264ILTKCH16CQ2502SI8ZNMTM67VS").unwrap(),
        MchBillno::new("10000098201411111234567892").unwrap(),
        MchId::new("10000098").unwrap(),
        AppId::new("wxd27ebc41b85ce36d").unwrap(),
        SendName::new("天虹百货").unwrap(),
        OpenId::new("oxTWIuGaIt6gTKsQRLau2M0yL16E").unwrap(),
        Fen::new(1000),
        Wishing::new("恭喜发财").unwrap(),
        ActName::new("小程序红包").unwrap(),
        Remark::new("快来领取").unwrap(),
    )
}

pub(crate) fn query_example() -> gethbinfo::Request {
    gethbinfo::Request::new(
        NonceStr::new("5K8264ILTKCH16CQ2502SI8ZNMTM67VS").unwrap(),
        MchBillno::new("10000098201411111234567890").unwrap(),
        MchId::new("10000098").unwrap(),
        AppId::new("wxe062425f740d30d8").unwrap(),
    )
}
