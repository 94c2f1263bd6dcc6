//! Wire types, XML codec and validation rules of the WeChat Pay API v2 cash red-packet APIs
//! (现金红包).
//!
//! This crate turns bytes into typed messages and back, for both sides of the wire: the client
//! encodes requests and decodes responses, and the mock server decodes requests and encodes
//! responses with the same code. It checks every documented field format and the business
//! rules that do not depend on a merchant's configuration.
//!
//! It does **not** sign (that is `wxpay-sign`, which takes the `(name, value)` pairs this
//! crate exposes), do any I/O, read a clock or make up random values: `nonce_str` and
//! `mch_billno` are the caller's.
//!
//! # Getting started
//!
//! ```
//! use wxpay_proto::sendredpack::Request;
//! use wxpay_proto::{
//!     ActName, ApiRequest, AppId, ClientIp, Fen, MchBillno, MchId, NonceStr, OpenId, Remark,
//!     SendName, Wishing, XmlMessage,
//! };
//!
//! # fn main() -> Result<(), wxpay_proto::Error> {
//! let mut request = Request::new(
//!     NonceStr::new("5K8264ILTKCH16CQ2502SI8ZNMTM67VS")?,
//!     MchBillno::new("10000098201411111234567890")?,
//!     MchId::new("10000098")?,
//!     AppId::new("wx8888888888888888")?,
//!     SendName::new("天虹百货")?,
//!     OpenId::new("oxTWIuGaIt6gTKsQRLau2M0yL16E")?,
//!     Fen::parse_yuan("10.00")?,
//!     Wishing::new("感谢您参加猜灯谜活动，祝您元宵节快乐！")?,
//!     ClientIp::new("192.168.0.1")?,
//!     ActName::new("猜灯谜抢红包活动")?,
//!     Remark::new("猜越多得越多，快来抢！")?,
//! );
//! request.validate()?; // the same rules the server applies
//!
//! // Exactly the endpoint's documented fields, for the signer (never `sign_type`).
//! let fields = request.sign_fields();
//! assert!(fields.pairs().any(|(k, v)| k == "total_amount" && v == "1000"));
//! assert!(fields.pairs().all(|(k, _)| k != "sign_type"));
//!
//! // After signing: encode, and decode the same bytes back (as the server would).
//! request.set_sign("C3F9EB2189E55B12B14CD761D1850A77".to_owned());
//! let xml = request.to_xml();
//! assert_eq!(Request::from_xml(xml.as_bytes())?, request);
//! # Ok(())
//! # }
//! ```
//!
//! # Types on the wire
//!
//! | wire | Rust |
//! |---|---|
//! | `int` amounts (`total_amount`, `amount`, `refund_amount`) | [`Fen`] (integer fen, never a float) |
//! | `int` counts (`total_num`) | `u32` |
//! | ids (`mch_id`, `wxappid`, `re_openid`, `mch_billno`, `nonce_str`) in requests | validated newtypes ([`MchId`], [`AppId`], [`OpenId`], [`MchBillno`], [`NonceStr`]) |
//! | bounded text (`send_name`, `wishing`, `act_name`, `remark`) | [`SendName`], [`Wishing`], [`ActName`], [`Remark`] (lengths in characters) |
//! | string enums (`err_code`, `status`, `scene_id`, …) | enums that keep unknown values ([`ErrCode`], [`Status`], [`SceneId`], …) |
//! | echoes and free text in responses | `Option<String>` (a business error about a malformed field must still decode) |
//! | an optional element | `Option<T>`; an empty element is the same as an absent one, as in signing |
//! | elements this crate does not know | kept in the message's `unknown` map and written back |
//!
//! # The XML codec
//!
//! Decoding refuses any `DOCTYPE`, caps the body size, the element count and the nesting
//! depth ([`DecodeLimits`]), reads CDATA and escaped text alike, and never panics: every
//! problem is an [`Error`] that knows the `err_code` a server answers for it. Decoding is
//! lossless for known fields (integers must be canonical), so a value re-encodes to the text
//! that was signed. Encoding writes strings as CDATA (splitting `]]>`) and integers bare.
//!
//! The query response also decodes as a borrowed view, [`gethbinfo::ResponseView`], whose
//! texts are `Cow`s of the body (borrowed unless entities had to be resolved): the same
//! checks and errors as the owned [`gethbinfo::Response`], without copying a text, and
//! `to_owned()` when the message must outlive the body.
//!
//! ```
//! use std::borrow::Cow;
//! use wxpay_proto::gethbinfo::ResponseView;
//!
//! let body = b"<xml><return_code><![CDATA[SUCCESS]]></return_code>\
//!              <mch_billno><![CDATA[10000098201411111234567890]]></mch_billno></xml>";
//! let view = ResponseView::from_xml(body)?;
//! assert!(matches!(view.mch_billno, Some(Cow::Borrowed("10000098201411111234567890"))));
//! let owned = view.to_owned(); // a gethbinfo::Response
//! assert_eq!(owned.mch_billno.as_deref(), Some("10000098201411111234567890"));
//! # Ok::<(), wxpay_proto::Error>(())
//! ```
#![forbid(unsafe_code)]

#[macro_use]
mod wire_struct;
#[macro_use]
mod message;

mod codec;
mod enums;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod header;
pub mod rules;
mod scan;
mod send;
mod sign_fields;
mod types;
#[cfg(test)]
mod xml_reference;

pub mod gethbinfo;
pub mod sendgroupredpack;
pub mod sendminiprogramhb;
pub mod sendredpack;

pub use codec::{DecodeLimits, RawMessage, RawValue, encode_text_fields, normalize_line_breaks};
pub use enums::{
    AmtType, BillType, ErrCode, HandlingClass, HbType, NotifyWay, ResultCode, ReturnCode, SceneId,
    SendType, Status,
};
pub use error::{Error, FieldProblem, XmlError};
pub use header::{BusinessError, ReturnHeader, ReturnHeaderView, ReturnStatus};
pub use message::{ApiRequest, SendApiRequest, XmlMessage};
pub use send::SendResponse;
pub use sign_fields::SignFields;
pub use types::{
    ActName, AppId, ClientIp, Fen, MchBillno, MchId, NonceStr, OpenId, Remark, RiskInfo,
    RiskInfoBuilder, SendName, Wishing,
};

/// The hidden payload of the wire enums' catch-all variants.
#[doc(hidden)]
pub use enums::PrivOwnedStr;
