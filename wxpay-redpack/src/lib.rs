//! The WeChat Pay v2 cash red-packet client (现金红包), with exactly-once sending.
//!
//! What it does: [`RedpackClient`] sends normal (`sendredpack`), group (`sendgroupredpack`,
//! retired by WeChat Pay) and mini-program (`sendminiprogramhb`) red packets for one merchant
//! and queries them (`gethbinfo`). It checks every request locally before sending, signs it
//! with MD5 over exactly the endpoint's fields (never `sign_type`, never `appid` next to
//! `wxappid`, never `client_ip` on group or mini-program packets), posts it over mutual TLS,
//! checks the echoed fields of the unsigned answer, and reports one of three outcomes:
//!
//! - [`SendOutcome::Sent`] with `send_listid`;
//! - [`SendOutcome::Rejected`] with a definitive [`ErrCode`](wxpay_proto::ErrCode) and its
//!   handling class (A, B or D of spec §7.2);
//! - [`SendOutcome::Unknown`] with its [`UnknownCause`] (a timeout or reset after sending, a
//!   5xx, an HTML page, garbage, `SYSTEMERROR`, `PROCESSING`, an unknown code, an echo
//!   mismatch…). Unknown is **not** failure.
//!
//! [`RedpackClient::send_reliably`] turns Unknown into Sent or Rejected when it can: it
//! resends the byte-identical request (same billno) at least a second apart and settles the
//! outcome with `gethbinfo`, within a [`RetryPolicy`] whose decisions come from the pure
//! function [`decide`].
//!
//! What it does not do: it never makes up a `mch_billno` inside a send (the caller owns the
//! idempotency key; [`billno()`] makes one of the documented shape for the caller to persist
//! first), never switches to a new billno (only the caller may, after
//! [`SendOutcome::allows_new_billno`]), never verifies a response signature (real answers
//! carry none), and never logs the API key or the string to sign.
//!
//! Campaigns — one packet per openid of a file, each row's billno journaled in SQLite before
//! its first request, rate-limited, resumable after a crash — are in the [`campaign`] module.
//! The `wxpay-redpack` command-line tool (feature `cli`, on by default) sends, queries and
//! runs campaigns from a `merchant.toml`; library users can opt out of it with
//! `default-features = false`.
//!
//! # Getting started
//!
//! ```no_run
//! use wxpay_proto::{ActName, Fen, OpenId, Remark, Wishing};
//! use wxpay_redpack::{RedPacket, RedpackClient, RetryPolicy, SendOutcome};
//! use wxpay_sign::ApiKey;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let client = RedpackClient::builder()
//!     .mch_id("1900000109")
//!     .appid("wx8888888888888888")
//!     .api_key(ApiKey::new("192006250b4c09247ec02edce69f6a2d")?)
//!     .pem_files("apiclient_cert.pem", "apiclient_key.pem")
//!     .send_name("天虹百货")
//!     .client_ip("192.168.0.1")
//!     .build()?;
//! // Or, against the mock: RedpackClient::from_merchant_toml(".wxpay-mock/merchant.toml")?
//!
//! // Make the billno and persist it with the intent *before* sending.
//! let billno = client.billno(1)?;
//! let packet = RedPacket::new(
//!     billno,
//!     OpenId::new("oxTWIuGaIt6gTKsQRLau2M0yL16E")?,
//!     Fen::parse_yuan("10.00")?,
//!     Wishing::new("感谢您参加猜灯谜活动，祝您元宵节快乐！")?,
//!     ActName::new("猜灯谜抢红包活动")?,
//!     Remark::new("猜越多得越多，快来抢！")?,
//! );
//!
//! let request = client.normal(&packet)?;
//! match client.send_reliably(&request, &RetryPolicy::default()).await? {
//!     SendOutcome::Sent { send_listid, .. } => println!("sent: {send_listid}"),
//!     SendOutcome::Rejected { code, class, description, .. } => {
//!         // A new billno for the same intent only if code.allows_new_billno().
//!         println!("rejected ({class:?}): {code} {description}");
//!     }
//!     SendOutcome::Unknown { cause, .. } => {
//!         // Keep the billno; try again later with the same request, or query it.
//!         println!("unknown: {cause}");
//!     }
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # Errors versus outcomes
//!
//! An [`Error`] means no packet was sent by that call: the request broke a rule and never
//! left ([`Error::Invalid`], naming the field), the configuration is unusable
//! ([`Error::Config`]), or the network failed before the request left ([`Error::NotSent`]).
//! Everything the server said, or may have said, is a [`SendOutcome`].
//!
//! # Time and randomness
//!
//! Both are inputs: [`Clock`] ([`SystemClock`], or [`ManualClock`] whose sleeps return at once)
//! and [`NonceSource`] ([`RandomNonce`], [`FixedNonce`], [`CountingNonce`]), set on the builder.
#![forbid(unsafe_code)]

mod billno;
pub mod campaign;
mod client;
mod clock;
mod config;
mod error;
mod mini;
mod nonce;
mod outcome;
mod packet;
pub mod retry;

pub use billno::{BillDate, MAX_SEQUENCE, billno};
pub use client::{DryRun, RedpackClient};
pub use clock::{Clock, ManualClock, Sleep, SystemClock};
pub use config::{DEFAULT_CLIENT_IP, RedpackClientBuilder};
pub use error::Error;
pub use mini::{BIZ_RED_PACKET_SIGN_TYPE, BizRedPacketParams, biz_red_packet_params};
pub use nonce::{CountingNonce, FixedNonce, NonceSource, RandomNonce};
pub use outcome::{Confirmation, PacketRecord, QueryOutcome, SendOutcome, UnknownCause};
pub use packet::{RedPacket, SendRequest};
pub use retry::{Decision, RetryPolicy, decide};
