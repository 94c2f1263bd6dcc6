//! What the caller sends: the business content of a packet ([`RedPacket`]) and the typed
//! request of one of the three send APIs built from it ([`SendRequest`]).

use wxpay_proto::rules::SendKind;
use wxpay_proto::{
    ActName, ApiRequest, AppId, Fen, MchBillno, MchId, OpenId, Remark, RiskInfo, SceneId, SendName,
    SignFields, Wishing, XmlMessage, sendgroupredpack, sendminiprogramhb, sendredpack,
};

/// The business content of a red packet: everything the caller decides. The client adds its
/// merchant's `mch_id`, appid, `client_ip`, a default `send_name` and a `nonce_str` when it
/// builds the request.
///
/// ```
/// use wxpay_proto::{ActName, Fen, MchBillno, OpenId, Remark, SceneId, Wishing};
/// use wxpay_redpack::RedPacket;
///
/// let packet = RedPacket::new(
///     MchBillno::new("10000098201411111234567890")?,
///     OpenId::new("oxTWIuGaIt6gTKsQRLau2M0yL16E")?,
///     Fen::parse_yuan("300.00")?,
///     Wishing::new("新年快乐")?,
///     ActName::new("新年红包")?,
///     Remark::new("新年红包")?,
/// )
/// .with_scene_id(SceneId::Product4); // required above 200 yuan
/// # let _ = packet;
/// # Ok::<(), wxpay_proto::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedPacket {
    /// `mch_billno`: the idempotency key, chosen (and persisted) by the caller.
    pub mch_billno: MchBillno,
    /// `re_openid`: the recipient (the seed user of a group packet).
    pub re_openid: OpenId,
    /// `total_amount`: the amount (a group's total), in fen.
    pub total_amount: Fen,
    /// `total_num`: 1, or 3 to 20 for a group packet.
    pub total_num: u32,
    /// `wishing`.
    pub wishing: Wishing,
    /// `act_name`.
    pub act_name: ActName,
    /// `remark`.
    pub remark: Remark,
    /// `send_name`; the client's default when `None`.
    pub send_name: Option<SendName>,
    /// `scene_id`: required below 1 yuan and above 200 yuan (per share for a group).
    pub scene_id: Option<SceneId>,
    /// `risk_info` (normal and group packets only).
    pub risk_info: Option<RiskInfo>,
}

impl RedPacket {
    /// A packet with its required content; `total_num` is 1, the rest is unset.
    pub fn new(
        mch_billno: MchBillno,
        re_openid: OpenId,
        total_amount: Fen,
        wishing: Wishing,
        act_name: ActName,
        remark: Remark,
    ) -> Self {
        Self {
            mch_billno,
            re_openid,
            total_amount,
            total_num: 1,
            wishing,
            act_name,
            remark,
            send_name: None,
            scene_id: None,
            risk_info: None,
        }
    }

    /// Sets `total_num` (a group packet's number of shares, 3 to 20).
    #[must_use]
    pub fn with_total_num(mut self, total_num: u32) -> Self {
        self.total_num = total_num;
        self
    }

    /// Sets `send_name` instead of the client's default.
    #[must_use]
    pub fn with_send_name(mut self, send_name: SendName) -> Self {
        self.send_name = Some(send_name);
        self
    }

    /// Sets `scene_id`.
    #[must_use]
    pub fn with_scene_id(mut self, scene_id: SceneId) -> Self {
        self.scene_id = Some(scene_id);
        self
    }

    /// Sets `risk_info`.
    #[must_use]
    pub fn with_risk_info(mut self, risk_info: RiskInfo) -> Self {
        self.risk_info = Some(risk_info);
        self
    }
}

/// The typed request of one of the three send APIs.
///
/// Build it with [`RedpackClient::normal`](crate::RedpackClient::normal) (or `group`,
/// `mini_program`) from a [`RedPacket`], or wrap a `wxpay-proto` request you built yourself
/// (for fields the [`RedPacket`] does not cover, such as the service-provider ones). The
/// request already holds its `nonce_str`; it is signed when sent.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendRequest {
    /// `sendredpack`.
    Normal(sendredpack::Request),
    /// `sendgroupredpack` (retired by WeChat Pay on 2024-06-05).
    Group(sendgroupredpack::Request),
    /// `sendminiprogramhb`.
    MiniProgram(sendminiprogramhb::Request),
}

/// Runs `$body` with `$r` bound to the inner request, whatever the variant.
macro_rules! each {
    ($self:expr, $r:ident => $body:expr) => {
        match $self {
            SendRequest::Normal($r) => $body,
            SendRequest::Group($r) => $body,
            SendRequest::MiniProgram($r) => $body,
        }
    };
}

impl SendRequest {
    /// Which API the request is for.
    pub fn kind(&self) -> SendKind {
        match self {
            Self::Normal(_) => SendKind::Normal,
            Self::Group(_) => SendKind::Group,
            Self::MiniProgram(_) => SendKind::MiniProgram,
        }
    }

    /// The API's name, as in its path.
    pub fn api_name(&self) -> &'static str {
        match self {
            Self::Normal(_) => "sendredpack",
            Self::Group(_) => "sendgroupredpack",
            Self::MiniProgram(_) => "sendminiprogramhb",
        }
    }

    /// The path under the API host.
    pub fn path(&self) -> &'static str {
        match self {
            Self::Normal(_) => sendredpack::Request::PATH,
            Self::Group(_) => sendgroupredpack::Request::PATH,
            Self::MiniProgram(_) => sendminiprogramhb::Request::PATH,
        }
    }

    /// `mch_billno`.
    pub fn mch_billno(&self) -> &MchBillno {
        each!(self, r => &r.mch_billno)
    }

    /// `mch_id`.
    pub fn mch_id(&self) -> &MchId {
        each!(self, r => &r.mch_id)
    }

    /// `wxappid`.
    pub fn wxappid(&self) -> &AppId {
        each!(self, r => &r.wxappid)
    }

    /// `re_openid`.
    pub fn re_openid(&self) -> &OpenId {
        each!(self, r => &r.re_openid)
    }

    /// `total_amount`.
    pub fn total_amount(&self) -> Fen {
        each!(self, r => r.total_amount)
    }

    /// `total_num`.
    pub fn total_num(&self) -> u32 {
        each!(self, r => r.total_num)
    }

    /// `scene_id`.
    pub fn scene_id(&self) -> Option<&SceneId> {
        each!(self, r => r.scene_id.as_ref())
    }

    pub(crate) fn validate(&self) -> Result<(), wxpay_proto::Error> {
        each!(self, r => r.validate())
    }

    pub(crate) fn sign_fields(&self) -> SignFields<'_> {
        each!(self, r => r.sign_fields())
    }

    pub(crate) fn set_sign(&mut self, sign: String) {
        each!(self, r => r.set_sign(sign));
    }

    pub(crate) fn to_xml(&self) -> String {
        each!(self, r => r.to_xml())
    }
}

impl From<sendredpack::Request> for SendRequest {
    fn from(request: sendredpack::Request) -> Self {
        Self::Normal(request)
    }
}

impl From<sendgroupredpack::Request> for SendRequest {
    fn from(request: sendgroupredpack::Request) -> Self {
        Self::Group(request)
    }
}

impl From<sendminiprogramhb::Request> for SendRequest {
    fn from(request: sendminiprogramhb::Request) -> Self {
        Self::MiniProgram(request)
    }
}
