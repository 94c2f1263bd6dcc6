//! Building a client: the builder, and the `merchant.toml` the mock writes.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use wxpay_proto::rules::AmountLimits;
use wxpay_proto::{AppId, ClientIp, MchId, SendName};
use wxpay_sign::ApiKey;
use wxpay_transport::{
    ClientIdentity, HttpsTransport, HttpsTransportBuilder, IdentityError, Transport,
};
use zeroize::Zeroizing;

use crate::client::{Merchant, RedpackClient};
use crate::clock::{Clock, SystemClock};
use crate::error::Error;
use crate::nonce::{NonceSource, RandomNonce};

/// The `client_ip` used when none is configured.
pub const DEFAULT_CLIENT_IP: &str = "127.0.0.1";

/// Builds a [`RedpackClient`] for one merchant.
///
/// Required: [`mch_id`](Self::mch_id), [`appid`](Self::appid), [`api_key`](Self::api_key) and,
/// for [`build`](Self::build), a client identity (unless the base URL is plain `http://`, for
/// test servers). Ids are validated by `build`, which names the setting at fault.
///
/// The transport settings ([`base_url`](Self::base_url), the timeouts, the connection pool's
/// [`pool_max_idle_per_host`](Self::pool_max_idle_per_host) and
/// [`pool_idle_timeout`](Self::pool_idle_timeout)…) keep `wxpay-transport`'s defaults unless
/// set; an unusable one is reported by `build` as [`Error::Config`] for the setting
/// `transport`.
#[must_use]
pub struct RedpackClientBuilder {
    mch_id: Option<String>,
    appid: Option<String>,
    mini_program_appid: Option<String>,
    api_key: Option<ApiKey>,
    send_name: Option<String>,
    client_ip: Option<String>,
    amount_limits: AmountLimits,
    identity: Option<IdentitySource>,
    transport: HttpsTransportBuilder,
    plain_http: bool,
    clock: Arc<dyn Clock>,
    nonce: Arc<dyn NonceSource>,
}

/// Where the client certificate comes from.
enum IdentitySource {
    Loaded(ClientIdentity),
    Pem {
        cert: PathBuf,
        key: PathBuf,
    },
    Pkcs12 {
        path: PathBuf,
        password: Option<Zeroizing<String>>,
    },
}

impl fmt::Debug for IdentitySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Loaded(identity) => f.debug_tuple("Loaded").field(identity).finish(),
            Self::Pem { cert, key } => f
                .debug_struct("Pem")
                .field("cert", cert)
                .field("key", key)
                .finish(),
            Self::Pkcs12 { path, password } => f
                .debug_struct("Pkcs12")
                .field("path", path)
                .field(
                    "password",
                    &password.as_ref().map_or("mch_id", |_| "** redacted **"),
                )
                .finish(),
        }
    }
}

impl fmt::Debug for RedpackClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedpackClientBuilder")
            .field("mch_id", &self.mch_id)
            .field("appid", &self.appid)
            .field("mini_program_appid", &self.mini_program_appid)
            .field("api_key", &self.api_key)
            .field("send_name", &self.send_name)
            .field("client_ip", &self.client_ip)
            .field("identity", &self.identity)
            .field("transport", &self.transport)
            .field("clock", &self.clock)
            .field("nonce", &self.nonce)
            .finish_non_exhaustive()
    }
}

impl Default for RedpackClientBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl RedpackClientBuilder {
    /// An empty builder: WeChat Pay's domains, the default timeouts and amount limits, the
    /// system clock and random nonces.
    pub fn new() -> Self {
        Self {
            mch_id: None,
            appid: None,
            mini_program_appid: None,
            api_key: None,
            send_name: None,
            client_ip: None,
            amount_limits: AmountLimits::DEFAULT,
            identity: None,
            transport: HttpsTransport::builder(),
            plain_http: false,
            clock: Arc::new(SystemClock::new()),
            nonce: Arc::new(RandomNonce::new()),
        }
    }

    /// Reads a `merchant.toml` (the mock writes one; the CLI reads the same file).
    ///
    /// Keys: `mch_id`, `appid`, `api_key` (required); `mini_program_appid`; `cert_pem` +
    /// `key_pem` or `p12` (password: `p12_password`, or the `mch_id` when unset); `ca_pem` (an
    /// extra trusted root); `endpoint` (the base URL, with no backup); optionally `send_name`
    /// and `client_ip`. Relative paths are relative to the file's directory. Other keys are
    /// ignored. The file's text is wiped from memory after parsing (it holds the API key).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the file or the key at fault.
    pub fn from_merchant_toml(path: impl AsRef<Path>) -> Result<Self, Error> {
        Self::read_merchant_toml(path.as_ref(), None)
    }

    /// Reads a `merchant.toml` as [`from_merchant_toml`](Self::from_merchant_toml), with the
    /// API key given apart (from an environment variable or a secret store, say): the file
    /// need not hold one, and the given key wins over the file's.
    ///
    /// # Errors
    ///
    /// As [`from_merchant_toml`](Self::from_merchant_toml).
    pub fn from_merchant_toml_with_api_key(
        path: impl AsRef<Path>,
        api_key: ApiKey,
    ) -> Result<Self, Error> {
        Self::read_merchant_toml(path.as_ref(), Some(api_key))
    }

    fn read_merchant_toml(path: &Path, api_key: Option<ApiKey>) -> Result<Self, Error> {
        let text = Zeroizing::new(
            std::fs::read_to_string(path).map_err(|e| Error::config("merchant.toml", e))?,
        );
        let file: MerchantFile = toml::from_str(&text)
            .map_err(|e| Error::config("merchant.toml", TomlProblem::new(&text, &e)))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let resolve = |p: PathBuf| if p.is_relative() { dir.join(p) } else { p };

        let api_key = match (api_key, file.api_key) {
            (Some(key), file_key) => {
                // The key given apart wins; the file's copy is wiped, not just dropped.
                drop(file_key.map(Zeroizing::new));
                key
            }
            (None, Some(text)) => ApiKey::new(text).map_err(|e| Error::config("api_key", e))?,
            (None, None) => {
                return Err(Error::config("merchant.toml", MissingKey("api_key")));
            }
        };
        let mut builder = Self::new()
            .mch_id(file.mch_id.0)
            .appid(file.appid)
            .api_key(api_key);
        if let Some(appid) = file.mini_program_appid {
            builder = builder.mini_program_appid(appid);
        }
        if let Some(name) = file.send_name {
            builder = builder.send_name(name);
        }
        if let Some(ip) = file.client_ip {
            builder = builder.client_ip(ip);
        }
        builder = match (file.cert_pem, file.key_pem, file.p12, file.p12_password) {
            (Some(cert), Some(key), _, _) => builder.pem_files(resolve(cert), resolve(key)),
            (_, _, Some(p12), None) => builder.pkcs12_file(resolve(p12)),
            (_, _, Some(p12), Some(password)) => {
                builder.pkcs12_file_with_password(resolve(p12), password)
            }
            (Some(_), None, None, _) => return Err(Error::missing("key_pem")),
            (None, _, None, _) => return Err(Error::missing("cert_pem")),
        };
        if let Some(ca) = file.ca_pem {
            builder = builder.add_root_certificate_pem_file(resolve(ca));
        }
        if let Some(endpoint) = file.endpoint {
            if endpoint.starts_with("http://") {
                builder = builder.allow_plain_http();
            }
            builder = builder.base_url(endpoint).no_backup();
        }
        Ok(builder)
    }

    /// The merchant id (`mch_id`).
    pub fn mch_id(mut self, mch_id: impl Into<String>) -> Self {
        self.mch_id = Some(mch_id.into());
        self
    }

    /// The Official Account appid: `wxappid` of normal and group packets, `appid` of queries.
    pub fn appid(mut self, appid: impl Into<String>) -> Self {
        self.appid = Some(appid.into());
        self
    }

    /// The mini-program appid: `wxappid` of mini-program packets and `appId` of
    /// `wx.sendBizRedPacket`.
    pub fn mini_program_appid(mut self, appid: impl Into<String>) -> Self {
        self.mini_program_appid = Some(appid.into());
        self
    }

    /// The APIv2 key.
    pub fn api_key(mut self, key: ApiKey) -> Self {
        self.api_key = Some(key);
        self
    }

    /// The default `send_name` (a [`RedPacket`](crate::RedPacket) may set its own).
    pub fn send_name(mut self, send_name: impl Into<String>) -> Self {
        self.send_name = Some(send_name.into());
        self
    }

    /// The default `send_name`, unless one is set already (by the merchant file, say).
    pub fn send_name_if_unset(mut self, send_name: impl Into<String>) -> Self {
        if self.send_name.is_none() {
            self.send_name = Some(send_name.into());
        }
        self
    }

    /// The `client_ip` of normal packets (default [`DEFAULT_CLIENT_IP`]): the IPv4 address of
    /// the machine calling the API.
    pub fn client_ip(mut self, client_ip: impl Into<String>) -> Self {
        self.client_ip = Some(client_ip.into());
        self
    }

    /// The merchant's amount ranges, checked before sending (default
    /// [`AmountLimits::DEFAULT`]).
    pub fn amount_limits(mut self, limits: AmountLimits) -> Self {
        self.amount_limits = limits;
        self
    }

    /// The client certificate, already loaded.
    pub fn identity(mut self, identity: ClientIdentity) -> Self {
        self.identity = Some(IdentitySource::Loaded(identity));
        self
    }

    /// The client certificate from `apiclient_cert.pem` and `apiclient_key.pem`, loaded by
    /// `build`.
    pub fn pem_files(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.identity = Some(IdentitySource::Pem {
            cert: cert.into(),
            key: key.into(),
        });
        self
    }

    /// The client certificate from `apiclient_cert.p12` (password: the `mch_id`), loaded by
    /// `build`.
    pub fn pkcs12_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.identity = Some(IdentitySource::Pkcs12 {
            path: path.into(),
            password: None,
        });
        self
    }

    /// The client certificate from a PKCS#12 file with its own password.
    pub fn pkcs12_file_with_password(
        mut self,
        path: impl Into<PathBuf>,
        password: impl Into<String>,
    ) -> Self {
        self.identity = Some(IdentitySource::Pkcs12 {
            path: path.into(),
            password: Some(Zeroizing::new(password.into())),
        });
        self
    }

    /// The base URL (default `https://api.mch.weixin.qq.com`). Setting it removes the backup
    /// URL, so a client pointed at a test server never fails over to WeChat Pay.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.transport = self.transport.base_url(url);
        self
    }

    /// The backup base URL, tried only when the primary cannot be reached at all.
    pub fn backup_base_url(mut self, url: impl Into<String>) -> Self {
        self.transport = self.transport.backup_base_url(url);
        self
    }

    /// No backup base URL.
    pub fn no_backup(mut self) -> Self {
        self.transport = self.transport.no_backup();
        self
    }

    /// Also trusts the root certificate(s) of this PEM file (how a client trusts the mock).
    pub fn add_root_certificate_pem_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.transport = self.transport.add_root_certificate_pem_file(path);
        self
    }

    /// Accepts a plain `http://` base URL, for wiremock-style test servers; no identity is
    /// required then.
    pub fn allow_plain_http(mut self) -> Self {
        self.transport = self.transport.allow_plain_http();
        self.plain_http = true;
        self
    }

    /// The limit for opening a connection.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.transport = self.transport.connect_timeout(timeout);
        self
    }

    /// The limit for a whole call.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.transport = self.transport.request_timeout(timeout);
        self
    }

    /// How many idle keep-alive connections the client keeps per base URL for reuse (default
    /// [`DEFAULT_POOL_MAX_IDLE_PER_HOST`](wxpay_transport::DEFAULT_POOL_MAX_IDLE_PER_HOST)).
    ///
    /// Sequential requests then share one connection and one TLS handshake; concurrent ones
    /// (a campaign's in-flight sends) open more, and up to this many stay open afterwards.
    /// 0 disables reuse: every request opens its own connection, closed after the answer. Any
    /// number is valid. Reuse never resends a request: a pooled connection found closed
    /// before the request was written is an [`Error::NotSent`], like a refused connection.
    pub fn pool_max_idle_per_host(mut self, max: usize) -> Self {
        self.transport = self.transport.pool_max_idle_per_host(max);
        self
    }

    /// How long an idle keep-alive connection is kept for reuse (default
    /// [`DEFAULT_POOL_IDLE_TIMEOUT`](wxpay_transport::DEFAULT_POOL_IDLE_TIMEOUT)); a
    /// connection idle for longer is closed and the next request opens a new one.
    ///
    /// Between 1 ms and 24 h, like the other timeouts: [`build`](Self::build) answers
    /// [`Error::Config`] for the setting `transport` otherwise. To disable reuse, set
    /// [`pool_max_idle_per_host`](Self::pool_max_idle_per_host) to 0.
    pub fn pool_idle_timeout(mut self, timeout: Duration) -> Self {
        self.transport = self.transport.pool_idle_timeout(timeout);
        self
    }

    /// The clock (default [`SystemClock`]): billno dates, `timeStamp`, retry sleeps.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The nonce source (default [`RandomNonce`]).
    pub fn nonce_source(mut self, nonce: Arc<dyn NonceSource>) -> Self {
        self.nonce = nonce;
        self
    }

    /// Builds the client over HTTPS with the merchant's certificate.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the setting that is missing or invalid (including an identity
    /// that does not load and a transport setting that does not build).
    pub fn build(mut self) -> Result<RedpackClient<HttpsTransport>, Error> {
        let merchant = self.merchant()?;
        let mut transport = std::mem::replace(&mut self.transport, HttpsTransport::builder());
        match self.identity.take() {
            Some(source) => {
                let identity = load_identity(source, merchant.mch_id.as_str())
                    .map_err(|e| Error::config("identity", e))?;
                transport = transport.identity(identity);
            }
            None if self.plain_http => {}
            None => return Err(Error::missing("identity")),
        }
        let transport = transport
            .build()
            .map_err(|e| Error::config("transport", e))?;
        Ok(RedpackClient::from_parts(
            transport, merchant, self.clock, self.nonce,
        ))
    }

    /// Builds the client over another transport (a test double, an adapter to your own HTTP
    /// stack). The identity, URL, timeout and connection-pool settings are the transport's
    /// business and are ignored here.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the setting that is missing or invalid.
    pub fn build_with_transport<T: Transport>(
        mut self,
        transport: T,
    ) -> Result<RedpackClient<T>, Error> {
        let merchant = self.merchant()?;
        Ok(RedpackClient::from_parts(
            transport, merchant, self.clock, self.nonce,
        ))
    }

    fn merchant(&mut self) -> Result<Merchant, Error> {
        let mch_id = self.mch_id.take().ok_or_else(|| Error::missing("mch_id"))?;
        let mch_id = MchId::new(mch_id).map_err(|e| Error::config("mch_id", e))?;
        let appid = self.appid.take().ok_or_else(|| Error::missing("appid"))?;
        let appid = AppId::new(appid).map_err(|e| Error::config("appid", e))?;
        let mini_program_appid = self
            .mini_program_appid
            .take()
            .map(AppId::new)
            .transpose()
            .map_err(|e| Error::config("mini_program_appid", e))?;
        let api_key = self
            .api_key
            .take()
            .ok_or_else(|| Error::missing("api_key"))?;
        let send_name = self
            .send_name
            .take()
            .map(SendName::new)
            .transpose()
            .map_err(|e| Error::config("send_name", e))?;
        let client_ip = ClientIp::new(
            self.client_ip
                .take()
                .unwrap_or_else(|| DEFAULT_CLIENT_IP.to_owned()),
        )
        .map_err(|e| Error::config("client_ip", e))?;
        Ok(Merchant {
            mch_id,
            appid,
            mini_program_appid,
            api_key,
            send_name,
            client_ip,
            amount_limits: self.amount_limits,
        })
    }
}

fn load_identity(source: IdentitySource, mch_id: &str) -> Result<ClientIdentity, IdentityError> {
    match source {
        IdentitySource::Loaded(identity) => Ok(identity),
        IdentitySource::Pem { cert, key } => ClientIdentity::from_pem_files(cert, key),
        IdentitySource::Pkcs12 {
            path,
            password: None,
        } => ClientIdentity::from_pkcs12_file(path, mch_id),
        IdentitySource::Pkcs12 {
            path,
            password: Some(password),
        } => ClientIdentity::from_pkcs12_file_with_password(path, &password),
    }
}

/// The `merchant.toml` keys. No `Debug`: it holds the API key.
#[derive(Deserialize)]
struct MerchantFile {
    mch_id: Digits,
    appid: String,
    mini_program_appid: Option<String>,
    api_key: Option<String>,
    cert_pem: Option<PathBuf>,
    key_pem: Option<PathBuf>,
    p12: Option<PathBuf>,
    p12_password: Option<String>,
    ca_pem: Option<PathBuf>,
    endpoint: Option<String>,
    send_name: Option<String>,
    client_ip: Option<String>,
}

/// A required key absent from the file.
#[derive(Debug, thiserror::Error)]
#[error("missing key `{0}`")]
struct MissingKey(&'static str);

/// Why a `merchant.toml` could not be read, and where: never the file's text.
///
/// The TOML parser's own error keeps a copy of the whole input and prints the offending line,
/// which may be the `api_key` line; it is turned into this as soon as it is returned.
#[derive(Debug, thiserror::Error)]
#[error("{place}{reason}")]
struct TomlProblem {
    /// `line L, column C: `, or nothing when the parser gave no position.
    place: String,
    /// The parser's reason; a fixed text when the problem is on a secret's line (a reason
    /// may quote the value, e.g. an unquoted key read as a number).
    reason: String,
}

/// The keys whose values are secrets.
const SECRET_KEYS: [&str; 2] = ["api_key", "p12_password"];

impl TomlProblem {
    fn new(text: &str, error: &toml::de::Error) -> Self {
        let Some(start) = error.span().map(|span| span.start) else {
            return Self {
                place: String::new(),
                reason: error.message().to_owned(),
            };
        };
        let before = text.get(..start).unwrap_or(text);
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let line_no = before.matches('\n').count() + 1;
        let column = before[line_start..].chars().count() + 1;
        let line = text[line_start..].lines().next().unwrap_or("");
        let key = line.trim_start().trim_start_matches(['"', '\'']);
        let secret = SECRET_KEYS.iter().find(|name| {
            key.strip_prefix(**name)
                .is_some_and(|rest| rest.trim_start().starts_with(['=', '"', '\'']))
        });
        Self {
            place: format!("line {line_no}, column {column}: "),
            reason: match secret {
                Some(name) => {
                    format!("the value of `{name}` is not a valid TOML string (quote it)")
                }
                None => error.message().to_owned(),
            },
        }
    }
}

/// A merchant id written as a TOML string or integer.
struct Digits(String);

impl<'de> Deserialize<'de> for Digits {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Text(String),
            Number(u64),
        }
        Ok(Self(match Either::deserialize(deserializer)? {
            Either::Text(text) => text,
            Either::Number(number) => number.to_string(),
        }))
    }
}
