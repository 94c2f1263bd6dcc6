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
        build_request(self).map_err(|e| FixtureError(e.to_string()))
    }
}

fn build_request(f: &Fixture) -> Result<Request, Box<dyn std::error::Error>> {
    let p = |name: &str| f.param(name);
    let mut request = Request::new(
        NonceStr::new(p("nonce_str")?)?,
        MchBillno::new(p("mch_billno")?)?,
        MchId::new(p("mch_id")?)?,
        AppId::new(p("wxappid")?)?,
        SendName::new(p("send_name")?)?,
        OpenId::new(p("re_openid")?)?,
        Fen::new(p("total_amount")?.parse()?),
        Wishing::new(p("wishing")?)?,
        ClientIp::new(p("client_ip")?)?,
        ActName::new(p("act_name")?)?,
        Remark::new(p("remark")?)?,
    );
    request.total_num = p("total_num")?.parse()?;
    request.scene_id = Some(SceneId::from(p("scene_id")?));
    Ok(request)
}
