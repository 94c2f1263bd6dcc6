//! The traits every message and request implements.

use crate::codec::{DecodeLimits, RawMessage};
use crate::error::Error;
use crate::sign_fields::SignFields;
use crate::types::{MchBillno, MchId};

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
    /// Amount ranges are [`crate::rules::check_amount`].
    fn validate(&self) -> Result<(), Error>;

    /// The merchant billno the request is about.
    fn mch_billno(&self) -> &MchBillno;

    /// The merchant id.
    fn mch_id(&self) -> &MchId;
}
