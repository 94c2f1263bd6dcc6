//! The body of the request-handler fuzz target in `fuzz/` (not a public API).
//!
//! [`FuzzHarness::run`] turns arbitrary bytes into one request to a running mock (on loopback,
//! answered through [`MockServer::answer_directly`]) and checks what a client may rely on:
//! an API path is answered 200 with a response document of its API, any other path 404, and
//! the ledger's invariants hold afterwards. The fuzzer calls it, and a regular test replays
//! the committed corpus through it.

use std::time::Duration;

use wxpay_proto::{RawMessage, SendResponse, XmlMessage, gethbinfo};
use wxpay_sign::{ApiKey, SignType};

use crate::{ClockMode, DEFAULT_MCH_ID, MerchantConfig, MockServer};

/// The paths a first byte picks from (the last one is not an API).
const PATHS: [&str; 5] = [
    "/mmpaymkttransfers/sendredpack",
    "/mmpaymkttransfers/sendgroupredpack",
    "/mmpaymkttransfers/sendminiprogramhb",
    "/mmpaymkttransfers/gethbinfo",
    "/mmpaymkttransfers/other",
];

/// The default merchant's appids in the harness (fixed, so a corpus can name them).
pub const APPID: &str = "wx8888888888888888";
/// The mini-program appid of the harness's merchant.
pub const MINI_PROGRAM_APPID: &str = "wxd27ebc41b85ce36d";

/// Requests between two jumps of a day of the virtual clock (daily limits start over).
const DAY_EVERY: u64 = 200;

/// A mock on its own runtime, for one fuzzing process or one test.
#[derive(Debug)]
pub struct FuzzHarness {
    runtime: tokio::runtime::Runtime,
    mock: Option<MockServer>,
    key: ApiKey,
    runs: std::sync::atomic::AtomicU64,
}

impl FuzzHarness {
    /// Starts a mock (frozen clock, seed 1, temporary data directory, the appids above) on
    /// loopback.
    ///
    /// # Panics
    ///
    /// If the runtime or the mock cannot start.
    pub fn new() -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a Tokio runtime");
        let mock = runtime
            .block_on(
                MockServer::builder()
                    .seed(1)
                    .clock(ClockMode::Frozen)
                    .merchant(
                        MerchantConfig::new(DEFAULT_MCH_ID)
                            .appid(APPID)
                            .mini_program_appid(MINI_PROGRAM_APPID),
                    )
                    .start(),
            )
            .expect("the mock starts");
        let key = ApiKey::new(mock.default_merchant().api_key()).expect("the mock's key");
        Self {
            runtime,
            mock: Some(mock),
            key,
            runs: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// One request: the first byte picks the path (`b % 5`) and whether the rest is sent as
    /// it is or, when it parses, re-signed with the merchant's key (`b / 5` odd) so that the
    /// business rules behind the signature check are reached.
    ///
    /// # Panics
    ///
    /// When an answer or the ledger breaks a property above.
    pub fn run(&self, data: &[u8]) {
        let Some((&first, rest)) = data.split_first() else {
            return;
        };
        let Some(mock) = &self.mock else {
            return;
        };
        let path = PATHS[usize::from(first) % PATHS.len()];
        let body = if (first / 5) % 2 == 1 {
            self.resigned(rest).unwrap_or_else(|| rest.to_vec())
        } else {
            rest.to_vec()
        };
        let runs = self.runs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if runs % DAY_EVERY == DAY_EVERY - 1 {
            mock.advance_clock(Duration::from_secs(24 * 3600));
        }
        let (status, answer) = self.runtime.block_on(mock.answer_directly(path, &body));
        if path.ends_with("/other") {
            assert_eq!(status, 404);
        } else {
            assert_eq!(status, 200, "{answer}");
            if path.ends_with("/gethbinfo") {
                if let Err(e) = gethbinfo::Response::from_xml(answer.as_bytes()) {
                    panic!("not a gethbinfo answer ({e}): {answer}");
                }
            } else if let Err(e) = SendResponse::from_xml(answer.as_bytes()) {
                panic!("not a send answer ({e}): {answer}");
            }
            let key = mock.default_merchant().api_key();
            if !body.windows(key.len()).any(|w| w == key.as_bytes()) {
                assert!(!answer.contains(key), "the API key in {answer}");
            }
        }
        let report = mock.invariants();
        assert!(report.ok, "{:?}", report.violations);
    }

    /// How many packets the mock's ledger holds.
    pub fn packet_count(&self) -> usize {
        self.mock.as_ref().map_or(0, |m| m.ledger().packet_count())
    }

    /// The document's fields (but `sign`) in CDATA, signed with MD5; `None` if it does not
    /// parse.
    fn resigned(&self, body: &[u8]) -> Option<Vec<u8>> {
        let raw = RawMessage::parse(body).ok()?;
        let pairs: Vec<(&str, &str)> = raw.text_pairs().filter(|(k, _)| *k != "sign").collect();
        let sign = wxpay_sign::sign(SignType::Md5, &self.key, pairs.iter().copied()).ok()?;
        let fields = pairs
            .into_iter()
            .chain(std::iter::once(("sign", sign.as_str())));
        Some(wxpay_proto::encode_text_fields(fields).into_bytes())
    }
}

impl Default for FuzzHarness {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for FuzzHarness {
    fn drop(&mut self) {
        // The mock's servers are tasks of this runtime: stop them inside it.
        if let Some(mock) = self.mock.take() {
            self.runtime.block_on(mock.shutdown());
        }
    }
}
