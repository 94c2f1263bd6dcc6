//! The traits every message and request implements.

use crate::codec::{DecodeLimits, RawMessage};
use crate::enums::SceneId;
use crate::error::Error;
use crate::rules::{self, SendKind};
use crate::sign_fields::SignFields;
use crate::types::{ActName, AppId, Fen, MchBillno, MchId, OpenId, Remark, SendName, Wishing};

/// A message with an XML form in both directions (the client encodes requests and decodes
/// responses; the mock does the opposite with the same code).
pub trait XmlMessage: Sized {
    /// Interprets an already parsed document. Fields this type does not know are kept.
    fn from_raw(raw: RawMessage<'_>) -> Result<Self, Error>;

    /// Encodes the message: `<xml>`, strings in CDATA, integers bare, unknown fields last.
    fn to_xml(&self) -> String;

    /// Decodes a document with the default [`DecodeLimits`].
    fn from_xml(bytes: &[u8]) -> Result<Self, Error> {
        Self::from_raw(RawMessage::parse(bytes)?)
    }

    /// Decodes a document with the given limits.
    fn from_xml_with_limits(bytes: &[u8], limits: &DecodeLimits) -> Result<Self, Error> {
        Self::from_raw(RawMessage::parse_with_limits(bytes, limits)?)
    }
}

/// A request of one red-packet endpoint.
pub trait ApiRequest: XmlMessage {
    /// The response type of the endpoint.
    type Response: XmlMessage;

    /// The path under the API host, e.g. `/mmpaymkttransfers/sendredpack`.
    const PATH: &'static str;

    /// Every field the endpoint's signature covers (its documented fields except `sign`),
    /// sorted by the bytes of their names, the order the signature uses. A server verifies
    /// over these names with the values as received, ignoring anything else.
    const SIGNED_FIELDS: &'static [&'static str];

    /// The set fields among [`Self::SIGNED_FIELDS`], ready to sign, already in signing order
    /// (so the signer does not need to sort them).
    fn sign_fields(&self) -> SignFields<'_>;

    /// The `sign` element, if set.
    fn sign(&self) -> Option<&str>;

    /// Sets the `sign` element.
    fn set_sign(&mut self, sign: String);

    /// Checks the rules of spec §5 that do not depend on a merchant's configuration (the
    /// `PARAM_ERROR` ones: `total_num`, required `scene_id`, fixed values, partner fields).
    /// Amount ranges are [`crate::rules::check_amount`]. A send request's rules without the
    /// `scene_id` one, for a server's order: [`SendApiRequest::validate_except_scene`].
    fn validate(&self) -> Result<(), Error>;

    /// The merchant billno the request is about.
    fn mch_billno(&self) -> &MchBillno;

    /// The merchant id.
    fn mch_id(&self) -> &MchId;
}

/// A request of one of the three send APIs: what a sender (and a server) needs to know about
/// any of them, whichever it is.
pub trait SendApiRequest: ApiRequest {
    /// Which send API this is.
    const KIND: SendKind;

    /// `wxappid`.
    fn wxappid(&self) -> &AppId;
    /// `re_openid`: the recipient (the seed user of a group).
    fn re_openid(&self) -> &OpenId;
    /// `total_amount`.
    fn total_amount(&self) -> Fen;
    /// `total_num`.
    fn total_num(&self) -> u32;
    /// `scene_id`.
    fn scene_id(&self) -> Option<&SceneId>;
    /// `send_name`.
    fn send_name(&self) -> &SendName;
    /// `wishing`.
    fn wishing(&self) -> &Wishing;
    /// `act_name`.
    fn act_name(&self) -> &ActName;
    /// `remark`.
    fn remark(&self) -> &Remark;
    /// `sub_mch_id` (service-provider mode; never set on a mini-program packet).
    fn sub_mch_id(&self) -> Option<&MchId>;
    /// `msgappid` (service-provider mode; never set on a mini-program packet).
    fn msgappid(&self) -> Option<&AppId>;

    /// [`ApiRequest::validate`] without the `scene_id` rule
    /// ([`SendApiRequest::check_scene_required`]): `total_num`, fixed values, partner fields.
    ///
    /// For a server, which checks the `scene_id` rule later, with the amount range (spec §5,
    /// step 9: after the certificate, the signature and the billno re-entry). A client checks
    /// both with [`ApiRequest::validate`] before sending.
    fn validate_except_scene(&self) -> Result<(), Error>;

    /// The `scene_id` rules alone: a given scene is one of the eight
    /// ([`rules::check_scene_known`]), and a normal or mini-program packet below 1 yuan or
    /// above 200 yuan needs one ([`rules::check_scene_required`]), both `PARAM_ERROR`. A
    /// group needs none: its average share is bound to 1–200 yuan whatever the scene, a
    /// `MONEY_LIMIT` rule of [`rules::check_amount`].
    fn check_scene_required(&self) -> Result<(), Error> {
        match Self::KIND {
            SendKind::Group => rules::check_scene_known(self.scene_id()),
            SendKind::Normal | SendKind::MiniProgram => {
                rules::check_scene_required(self.total_amount(), self.total_num(), self.scene_id())
            }
        }
    }
}

/// Implements [`SendApiRequest`] from the request's fields.
macro_rules! send_api_request {
    (
        $name:ident,
        $kind:expr,
        partner: $partner:tt,
        validate_except_scene = $validate_except_scene:path
    ) => {
        impl $crate::SendApiRequest for $name {
            const KIND: $crate::rules::SendKind = $kind;

            fn validate_except_scene(&self) -> Result<(), $crate::Error> {
                $validate_except_scene(self)
            }

            fn wxappid(&self) -> &$crate::AppId {
                &self.wxappid
            }

            fn re_openid(&self) -> &$crate::OpenId {
                &self.re_openid
            }

            fn total_amount(&self) -> $crate::Fen {
                self.total_amount
            }

            fn total_num(&self) -> u32 {
                self.total_num
            }

            fn scene_id(&self) -> Option<&$crate::SceneId> {
                self.scene_id.as_ref()
            }

            fn send_name(&self) -> &$crate::SendName {
                &self.send_name
            }

            fn wishing(&self) -> &$crate::Wishing {
                &self.wishing
            }

            fn act_name(&self) -> &$crate::ActName {
                &self.act_name
            }

            fn remark(&self) -> &$crate::Remark {
                &self.remark
            }

            send_api_request!(@partner $partner);
        }
    };
    (@partner true) => {
        fn sub_mch_id(&self) -> Option<&$crate::MchId> {
            self.sub_mch_id.as_ref()
        }

        fn msgappid(&self) -> Option<&$crate::AppId> {
            self.msgappid.as_ref()
        }
    };
    (@partner false) => {
        fn sub_mch_id(&self) -> Option<&$crate::MchId> {
            None
        }

        fn msgappid(&self) -> Option<&$crate::AppId> {
            None
        }
    };
}
