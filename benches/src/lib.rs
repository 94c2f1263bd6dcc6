//! Criterion benchmarks of the wxpay-rs workspace; the benches live in `benches/`. The
//! `loadgen` binary is the macro benchmark (wxpay-mock under load over mutual TLS, its
//! ceiling, its ledger memory); `BENCHMARKS.md` at the root has the figures.
//!
//! This library loads the fixed inputs every bench measures (`fixtures/`, a copy of the
//! project's shared bench fixtures), so figures compare across runs and implementations:
//!
//! - `request_params.json`: a realistic `sendredpack` request (13 fields, CJK text) and the
//!   API key;
//! - `string_to_sign.txt`: its canonical string with `&key=…` (434 bytes), the input of the
//!   hash floors;
//! - `response_gethbinfo.xml`: a successful `gethbinfo` response with one claim.
#![forbid(unsafe_code)]

use wxpay_proto::sendredpack::Request;
use wxpay_proto::{
    ActName, AppId, ClientIp, Fen, MchBillno, MchId, NonceStr, OpenId, Remark, SceneId, SendName,
    Wishing,
};
use wxpay_sign::ApiKey;

/// The `sendredpack` request fixture (JSON).
pub const REQUEST_PARAMS_JSON: &str = include_str!("../fixtures/request_params.json");
/// The request's string to sign, key included (434 UTF-8 bytes, no newline).
pub const STRING_TO_SIGN: &str = include_str!("../fixtures/string_to_sign.txt");
/// A successful `gethbinfo` response with one `hbinfo`.
pub const RESPONSE_GETHBINFO_XML: &str = include_str!("../fixtures/response_gethbinfo.xml");

/// The fixture: its API key and its parameters as `(name, value)` pairs, sorted by name.
#[derive(Debug)]
#[non_exhaustive]
pub struct Fixture {
    /// The API key.
    pub api_key: String,
    /// The request parameters.
    pub params: Vec<(String, String)>,
}

/// Why the fixture could not be loaded.
#[derive(Debug)]
#[non_exhaustive]
pub struct FixtureError(pub String);

impl std::fmt::Display for FixtureError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "bad bench fixture: {}", self.0)
    }
}

impl std::error::Error for FixtureError {}

impl Fixture {
    /// Loads `request_params.json`.
    pub fn load() -> Result<Self, FixtureError> {
        let json: serde_json::Value =
            serde_json::from_str(REQUEST_PARAMS_JSON).map_err(|e| FixtureError(e.to_string()))?;
        let api_key = json["api_key"]
            .as_str()
            .ok_or_else(|| FixtureError("api_key is not a string".to_owned()))?
            .to_owned();
        let params = json["params"]
            .as_object()
            .ok_or_else(|| FixtureError("params is not an object".to_owned()))?
            .iter()
            .map(|(k, v)| {
                v.as_str()
                    .map(|v| (k.clone(), v.to_owned()))
                    .ok_or_else(|| FixtureError(format!("param {k} is not a string")))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { api_key, params })
    }

    /// The API key.
    pub fn key(&self) -> Result<ApiKey, FixtureError> {
        ApiKey::new(self.api_key.clone()).map_err(|e| FixtureError(e.to_string()))
    }

    /// One parameter's value.
    pub fn param(&self, name: &str) -> Result<&str, FixtureError> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .ok_or_else(|| FixtureError(format!("missing param {name}")))
    }

    /// The parameters as borrowed pairs.
    pub fn pairs(&self) -> Vec<(&str, &str)> {
        self.params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    /// The typed `sendredpack` request built from the parameters (the first step of a
    /// client's round).
    pub fn request(&self) -> Result<Request, FixtureError> {
        self.values()?.build()
    }
}

/// The fixture request's values, looked up once: what a caller holds before building the
/// typed request (the round benchmark builds from these, so it measures the SDK, not a search
/// through the JSON's parameters).
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct RequestValues<'a> {
    /// `nonce_str`.
    pub nonce_str: &'a str,
    /// `mch_billno`.
    pub mch_billno: &'a str,
    /// `mch_id`.
    pub mch_id: &'a str,
    /// `wxappid`.
    pub wxappid: &'a str,
    /// `send_name`.
    pub send_name: &'a str,
    /// `re_openid`.
    pub re_openid: &'a str,
    /// `total_amount`.
    pub total_amount: u64,
    /// `total_num`.
    pub total_num: u32,
    /// `wishing`.
    pub wishing: &'a str,
    /// `client_ip`.
    pub client_ip: &'a str,
    /// `act_name`.
    pub act_name: &'a str,
    /// `remark`.
    pub remark: &'a str,
    /// `scene_id`.
    pub scene_id: &'a str,
}

impl RequestValues<'_> {
    /// Builds and validates the typed `sendredpack` request.
    pub fn build(&self) -> Result<Request, FixtureError> {
        let e = |e: wxpay_proto::Error| FixtureError(e.to_string());
        let mut request = Request::new(
            NonceStr::new(self.nonce_str).map_err(e)?,
            MchBillno::new(self.mch_billno).map_err(e)?,
            MchId::new(self.mch_id).map_err(e)?,
            AppId::new(self.wxappid).map_err(e)?,
            SendName::new(self.send_name).map_err(e)?,
            OpenId::new(self.re_openid).map_err(e)?,
            Fen::new(self.total_amount),
            Wishing::new(self.wishing).map_err(e)?,
            ClientIp::new(self.client_ip).map_err(e)?,
            ActName::new(self.act_name).map_err(e)?,
            Remark::new(self.remark).map_err(e)?,
        );
        request.total_num = self.total_num;
        request.scene_id = Some(SceneId::from(self.scene_id));
        Ok(request)
    }
}

impl Fixture {
    /// The request's values by field.
    pub fn values(&self) -> Result<RequestValues<'_>, FixtureError> {
        let p = |name: &str| self.param(name);
        let number = |name: &str| -> Result<u64, FixtureError> {
            p(name)?
                .parse()
                .map_err(|e| FixtureError(format!("{name}: {e}")))
        };
        Ok(RequestValues {
            nonce_str: p("nonce_str")?,
            mch_billno: p("mch_billno")?,
            mch_id: p("mch_id")?,
            wxappid: p("wxappid")?,
            send_name: p("send_name")?,
            re_openid: p("re_openid")?,
            total_amount: number("total_amount")?,
            total_num: u32::try_from(number("total_num")?)
                .map_err(|e| FixtureError(format!("total_num: {e}")))?,
            wishing: p("wishing")?,
            client_ip: p("client_ip")?,
            act_name: p("act_name")?,
            remark: p("remark")?,
            scene_id: p("scene_id")?,
        })
    }
}
