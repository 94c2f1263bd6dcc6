//! WeChat Pay API v2 request signing: the `sign` field of v2 requests such as the cash red
//! packet APIs, computed with MD5 or HMAC-SHA256, and checked in constant time.
//!
//! What it does: take a request's parameters as `(name, value)` string pairs and an
//! [`ApiKey`], build the canonical string of the v2 signature algorithm (skip `sign` and empty
//! values, sort by the bytes of the names, join as `k1=v1&k2=v2` with raw values, append
//! `&key=<API key>`), and hash it into an uppercase hex [`Signature`] with [`sign`]; check a
//! received signature with [`verify`].
//!
//! What it does not do: no I/O, no async, no XML (it knows nothing of the wire format or of
//! red packets), no clock and no randomness: `nonce_str` and any timestamp are the caller's,
//! passed in like every other field. Nothing here returns or logs the real string to sign,
//! since it ends with the key; [`canonical_string_redacted`] shows it with the key as `***`.
//!
//! How it hashes: the string to sign is never built as a `String`. Each pair is written
//! straight into the hash's own block buffer, then padded and compressed in place, usually in
//! one call of the compression function (MD5 from `md-5`, SHA-256 from `sha2`). HMAC-SHA256 is
//! RFC 2104 over the two key blocks a [`Signer`] derives once. Every buffer position the key
//! reached, and the keyed states, are wiped on drop. Up to 32 signed fields nothing is
//! allocated.
//!
//! # Example
//!
//! The official vector of the v2 signature chapter:
//!
//! ```
//! use wxpay_sign::{ApiKey, SignType, canonical_string_redacted, sign, verify};
//!
//! let key = ApiKey::new("192006250b4c09247ec02edce69f6a2d")?;
//! let params = [
//!     ("appid", "wxd930ea5d5a258f4f"),
//!     ("mch_id", "10000100"),
//!     ("device_info", "1000"),
//!     ("body", "test"),
//!     ("nonce_str", "ibuaiVcKdpRxkhJA"),
//! ];
//!
//! let signature = sign(SignType::Md5, &key, params)?;
//! assert_eq!(signature.as_str(), "9A0A8659F005D6984697E2CA0A9CF3B7");
//!
//! // A server checks what it received (either case of hex is accepted).
//! verify(SignType::Md5, &key, params, "9a0a8659f005d6984697e2ca0a9cf3b7")?;
//!
//! // What to show a user puzzled by a SIGN_ERROR.
//! assert_eq!(
//!     canonical_string_redacted(params)?,
//!     "appid=wxd930ea5d5a258f4f&body=test&device_info=1000&mch_id=10000100\
//!      &nonce_str=ibuaiVcKdpRxkhJA&key=***",
//! );
//! # Ok::<(), wxpay_sign::SignError>(())
//! ```
//!
//! # Which fields to pass
//!
//! - Pass exactly the fields the request will carry, with exactly the values it will carry
//!   (after any URL-encoding the API asks for, such as `risk_info`; before XML escaping,
//!   which the wire format undoes). Do not trim values: the server signs what it parsed.
//! - The red-packet APIs (`sendredpack`, `sendgroupredpack`, `sendminiprogramhb`,
//!   `gethbinfo`) are signed with [`SignType::Md5`] only, and their requests have no
//!   `sign_type` field: never include `sign_type`, nor any field the endpoint does not define
//!   (`appid` next to `wxappid`, `client_ip` on group packets, `sub_appid`...). The server
//!   signs over its own field list, so an extra signed field means `SIGN_ERROR`.
//! - Passing the `sign` pair or empty values is harmless: both are skipped.
//! - A name given twice is an error ([`SignError::DuplicateKey`]), not a guess.
//! - The mini-program `paySign` of `wx.sendBizRedPacket` is the MD5 signature of `appId`,
//!   `nonceStr`, `package` (URL-encoded) and `timeStamp`, as lowercase hex:
//!   [`Signature::to_lowercase_string`].
#![forbid(unsafe_code)]

mod canonical;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod hash;
mod key;
mod sign_type;
mod signature;
mod signer;

pub use canonical::{canonical_string_redacted, string_a};
pub use error::SignError;
pub use key::ApiKey;
pub use sign_type::SignType;
pub use signature::Signature;
pub use signer::{Signer, sign, verify};
