//! An offline emulator of the WeChat Pay API v2 cash red-packet APIs (`sendredpack`,
//! `sendgroupredpack`, `sendminiprogramhb`, `gethbinfo`) with their real business rules.
//!
//! What it does: serve the four endpoints over HTTPS with client-certificate authentication,
//! check each request in the order of the spec's §5 (`XML_ERROR`, `PARAM_ERROR`, `CA_ERROR`,
//! `SIGN_ERROR`, `NO_AUTH`, `ILLEGAL_APPID`, `OPENID_ERROR`, billno re-entry, `MONEY_LIMIT`,
//! `FREQ_LIMIT`, `SENDNUM_LIMIT`, `RCVDAMOUNT_LIMIT`, `SENDAMOUNT_LIMIT`, `NOTENOUGH`), keep a
//! ledger per merchant (balance, packets, claims) on a virtual clock (refunds after 24 h, daily
//! counters reset at Beijing midnight, rate windows), inject faults before or after the commit
//! point, and expose it all through a JSON admin API on loopback.
//!
//! What it does not do: talk to WeChat Pay, or accept real merchant material. It makes its own
//! CA, server certificate and merchant client certificates at start (zero configuration), and
//! its API keys are test keys written to `merchant.toml`.
//!
//! It decodes requests and encodes answers with `wxpay-proto`, the codec the client uses, and
//! verifies signatures with `wxpay-sign`.
//!
//! # Getting started
//!
//! ```no_run
//! use std::time::Duration;
//! use wxpay_mock::{ClockMode, FaultAction, FaultApi, FaultPlan, FaultRule, FaultStage, MockServer};
//!
//! # async fn run() -> Result<(), wxpay_mock::Error> {
//! let mock = MockServer::builder()
//!     .seed(7)
//!     .clock(ClockMode::Frozen)
//!     .start()
//!     .await?;
//!
//! // Point a client at it: the base URL, the CA to trust, the merchant's identity.
//! let merchant = mock.default_merchant();
//! println!("{} {} {}", mock.base_url(), mock.ca_pem_path().display(), merchant.mch_id);
//! println!("cert {} key {}", merchant.cert_pem_path.display(), merchant.key_pem_path.display());
//!
//! // The next send is committed, but its answer is lost.
//! mock.set_faults(FaultPlan {
//!     seed: 1,
//!     rules: vec![FaultRule::new(FaultApi::SendRedpack, FaultStage::AfterCommit, FaultAction::Reset).times(1)],
//! });
//!
//! // ... the client sends, retries, queries ...
//!
//! mock.advance_clock(Duration::from_secs(24 * 3600 + 60)); // unclaimed packets are refunded
//! assert!(mock.invariants().ok);
//! # Ok(())
//! # }
//! ```
//!
//! # The rules, and where each unconfirmed point is decided
//!
//! [`Behaviour`] holds a switch for each of DESIGN §6's decisions (MD5 only or also
//! HMAC-SHA256, `client_ip` in `sendminiprogramhb`'s signature, the answer to a changed amount
//! under the same billno, the not-found shape of `gethbinfo`, …); [`MerchantConfig`] and
//! [`Limits`] hold each merchant's balance, limits, IP whitelist and switches.
//!
//! `OPENID_ERROR` needs to know whose users the openids are: declare them per appid with
//! [`MerchantConfig::openids`] (Official Account) and [`MerchantConfig::mini_program_openids`].
//! Nothing declared (the default) accepts every openid; an openid declared under one appid
//! is refused through the other; a declared list is the appid's whole user base unless
//! [`Behaviour::openid_lists_exhaustive`] is off. The same rule decides who may claim a
//! packet ([`MockServer::claim`]), and [`MockServer::set_openids`] replaces the lists while
//! the mock runs.
//!
//! # Faults
//!
//! A [`FaultPlan`] is a list of [`FaultRule`]s: per API (or `*`), scripted (`times`) or by
//! seeded `probability`, at [`FaultStage::BeforeCommit`] (the request has no effect) or
//! [`FaultStage::AfterCommit`] (the send is committed, the answer is lost or replaced), with
//! the actions of [`FaultAction`]: `reset`, `timeout`, `systemerror`, `processing`, `garbage`,
//! `html`, `send_failed`, `late_commit` ("commit lands late") and `sending` (accepted, the
//! record reads `SENDING` for a while).
//!
//! # Test isolation
//!
//! Each [`MockServer`] is isolated: its own ports, certificates (in a temporary directory
//! unless [`MockServerBuilder::data_dir`] is set) and ledger. Dropping it stops both servers.
#![forbid(unsafe_code)]

mod admin;
mod api;
mod clock;
mod config;
mod error;
mod faults;
#[doc(hidden)]
pub mod fuzzing;
mod journal;
mod ledger;
mod mock;
mod packets;
mod pki;
mod server;
mod split;
mod state;
mod store;
mod tls;
mod toml_problem;

pub use clock::ClockMode;
pub use config::{
    AmountMismatch, Behaviour, DEFAULT_BALANCE, DEFAULT_MCH_ID, Limits, MerchantConfig, MockConfig,
    NotFoundStyle,
};
pub use error::Error;
pub use faults::{FaultAction, FaultApi, FaultPlan, FaultRule, FaultStage};
pub use journal::JournalEntry;
pub use ledger::{
    ClaimSnapshot, InvariantReport, LedgerSnapshot, MerchantSnapshot, PacketSnapshot,
};
pub use mock::{LEDGER_FILE, MerchantCredentials, MockServer, MockServerBuilder};
pub use split::{MIN_GROUP_SHARE, split_all_rand};
pub use state::ClaimOutcome;

/// Money in fen, re-exported from `wxpay-proto`.
pub use wxpay_proto::Fen;
