//! The public façade: `MockServer` and its builder.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use wxpay_proto::Fen;
use wxpay_sign::ApiKey;

use crate::admin::AdminInfo;
use crate::clock::{ClockMode, to_system_time};
use crate::config::{
    Behaviour, DEFAULT_MCH_ID, MerchantConfig, MockConfig, check_limits, check_openid_lists,
    is_token,
};
use crate::faults::{FaultEngine, FaultPlan};
use crate::journal::{Journal, JournalEntry};
use crate::ledger::{Change, InvariantReport, Ledger, LedgerSnapshot};
use crate::pki::{self, MERCHANT_TOML, MerchantToml, Pki};
use crate::state::{ClaimOutcome, Inner, Merchant, OpenidLists, Shared};
use crate::store::Store;
use crate::{Error, server, tls};

/// The file name of the persistent ledger in the data directory.
pub const LEDGER_FILE: &str = "ledger.sqlite3";

/// A merchant's credentials, as written to its `merchant.toml`.
///
/// `api_key` is the mock's own test key (never a real merchant's); `Debug` still hides it.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MerchantCredentials {
    /// `mch_id` (also the PKCS#12 password).
    pub mch_id: String,
    /// The Official Account appid.
    pub appid: String,
    /// The mini-program appid.
    pub mini_program_appid: String,
    /// The APIv2 key.
    pub api_key: String,
    /// `apiclient_cert.pem`.
    pub cert_pem_path: PathBuf,
    /// `apiclient_key.pem`.
    pub key_pem_path: PathBuf,
    /// `apiclient_cert.p12` (password = mch_id).
    pub p12_path: PathBuf,
    /// `merchant.toml`.
    pub merchant_toml_path: PathBuf,
}

impl MerchantCredentials {
    /// `mch_id`.
    pub fn mch_id(&self) -> &str {
        &self.mch_id
    }

    /// The Official Account appid.
    pub fn appid(&self) -> &str {
        &self.appid
    }

    /// The mini-program appid.
    pub fn mini_program_appid(&self) -> &str {
        &self.mini_program_appid
    }

    /// The API key.
    pub fn api_key(&self) -> &str {
        &self.api_key
    }

    /// `apiclient_cert.pem`.
    pub fn cert_pem_path(&self) -> &Path {
        &self.cert_pem_path
    }

    /// `apiclient_key.pem`.
    pub fn key_pem_path(&self) -> &Path {
        &self.key_pem_path
    }

    /// `apiclient_cert.p12`.
    pub fn p12_path(&self) -> &Path {
        &self.p12_path
    }

    /// `merchant.toml`.
    pub fn merchant_toml_path(&self) -> &Path {
        &self.merchant_toml_path
    }
}

/// The key is wiped when the credentials go (it is only the mock's test key, but it is a key).
impl Drop for MerchantCredentials {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.api_key);
    }
}

impl std::fmt::Debug for MerchantCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MerchantCredentials")
            .field("mch_id", &self.mch_id)
            .field("appid", &self.appid)
            .field("mini_program_appid", &self.mini_program_appid)
            .field("api_key", &"** redacted **")
            .field("cert_pem_path", &self.cert_pem_path)
            .field("key_pem_path", &self.key_pem_path)
            .field("p12_path", &self.p12_path)
            .field("merchant_toml_path", &self.merchant_toml_path)
            .finish()
    }
}

/// Configures and starts a [`MockServer`].
#[derive(Debug, Clone)]
#[must_use]
pub struct MockServerBuilder {
    seed: Option<u64>,
    clock: ClockMode,
    data_dir: Option<PathBuf>,
    merchants: Vec<MerchantConfig>,
    behaviour: Behaviour,
    listen: SocketAddr,
    admin: SocketAddr,
}

impl Default for MockServerBuilder {
    fn default() -> Self {
        Self {
            seed: None,
            clock: ClockMode::Real,
            data_dir: None,
            merchants: Vec::new(),
            behaviour: Behaviour::default(),
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            admin: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
        }
    }
}

impl MockServerBuilder {
    /// Seeds group splits and `package` values (random when unset).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// The clock mode (default [`ClockMode::Real`]).
    pub fn clock(mut self, mode: ClockMode) -> Self {
        self.clock = mode;
        self
    }

    /// Keeps certificates, `merchant.toml` files and a persistent ledger in `dir` (created if
    /// missing; reused by later starts). Without it: a fresh temporary directory and an
    /// in-memory ledger.
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// Adds a merchant (one with the default id `1900000109` replaces the default
    /// merchant's settings).
    pub fn merchant(mut self, merchant: MerchantConfig) -> Self {
        self.merchants.push(merchant);
        self
    }

    /// The DESIGN §6 switches and lifecycle timings.
    pub fn behaviour(mut self, behaviour: Behaviour) -> Self {
        self.behaviour = behaviour;
        self
    }

    /// The HTTPS listen address (default `127.0.0.1:0`, a random port).
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// The admin listen address (default `127.0.0.1:0`); it must be a loopback address.
    pub fn admin_listen(mut self, addr: SocketAddr) -> Self {
        self.admin = addr;
        self
    }

    /// Applies a config file's settings (each only if the file sets it).
    pub fn config(mut self, config: MockConfig) -> Self {
        if let Some(seed) = config.seed {
            self.seed = Some(seed);
        }
        if let Some(clock) = config.clock {
            self.clock = clock;
        }
        if let Some(addr) = config.listen {
            self.listen = addr;
        }
        if let Some(addr) = config.admin {
            self.admin = addr;
        }
        if let Some(dir) = config.data_dir {
            self.data_dir = Some(dir);
        }
        self.behaviour = config.behaviour;
        self.merchants.extend(config.merchants);
        self
    }

    /// Binds both ports, prepares the data directory and starts serving on the current
    /// Tokio runtime.
    ///
    /// # Errors
    ///
    /// [`Error::Bind`], [`Error::Io`], [`Error::Certificate`], [`Error::Tls`],
    /// [`Error::Store`] or [`Error::Config`] (a non-loopback admin address, an invalid
    /// merchant setting).
    pub async fn start(self) -> Result<MockServer, Error> {
        if !self.admin.ip().is_loopback() {
            return Err(Error::config(format!(
                "the admin API listens on loopback only, not {}",
                self.admin
            )));
        }
        // Before anything is written: a refused configuration changes nothing.
        for m in &self.merchants {
            check_limits(&m.limits)
                .map_err(|what| Error::config(format!("merchant {}: {what}", m.mch_id)))?;
        }
        let (temp, data_dir) = match &self.data_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
                let dir = std::fs::canonicalize(dir).map_err(|e| Error::io(dir, e))?;
                (None, dir)
            }
            None => {
                let temp = tempfile::Builder::new()
                    .prefix("wxpay-mock-")
                    .tempdir()
                    .map_err(|e| Error::io(std::env::temp_dir(), e))?;
                let dir = temp.path().to_path_buf();
                (Some(temp), dir)
            }
        };
        let https = TcpListener::bind(self.listen)
            .await
            .map_err(|e| Error::Bind {
                addr: self.listen.to_string(),
                source: e,
            })?;
        let admin = TcpListener::bind(self.admin)
            .await
            .map_err(|e| Error::Bind {
                addr: self.admin.to_string(),
                source: e,
            })?;
        let https_addr = https.local_addr().map_err(|e| Error::Bind {
            addr: self.listen.to_string(),
            source: e,
        })?;
        let admin_addr = admin.local_addr().map_err(|e| Error::Bind {
            addr: self.admin.to_string(),
            source: e,
        })?;
        let base_url = format!("https://{}", url_host(https_addr));
        let admin_url = format!("http://{}", url_host(admin_addr));

        let pki = Pki::load_or_create(&data_dir)?;
        let (chain, key) = pki.server(&data_dir, Some(https_addr.ip()))?;
        let tls_config = tls::server_config(pki.ca_der(), chain, key)?;

        let configs = merchant_configs(self.merchants);
        let mut merchants = BTreeMap::new();
        let mut credentials = Vec::new();
        for config in configs {
            let (merchant, creds) = prepare_merchant(&data_dir, &pki, config, &base_url)?;
            merchants.insert(merchant.config.mch_id.clone(), merchant);
            credentials.push(creds);
        }

        let mut store = match &self.data_dir {
            Some(_) => Store::open(&data_dir.join(LEDGER_FILE))?,
            None => Store::in_memory(),
        };
        let mut ledger = Ledger::new(Shared::timings(&self.behaviour));
        let loaded = Change {
            money: store.load_money()?.into_iter().collect(),
            packets: store.load_packets()?,
        };
        ledger.apply(loaded);
        let clock = Shared::restore_clock(&mut store, self.clock)?;
        let openids = Shared::restore_openids(&store, &merchants)?;
        let seed = self.seed.unwrap_or_else(|| rand::rng().random());
        let inner = Inner {
            clock,
            ledger,
            store,
            faults: FaultEngine::new(FaultPlan::default()),
            journal: Journal::default(),
            in_flight: BTreeSet::new(),
            rng: ChaCha8Rng::seed_from_u64(seed),
            openids,
        };
        let shared = Arc::new(Shared::new(self.behaviour, merchants, inner));
        {
            let mut inner = shared.lock();
            shared.seed_money(&mut inner)?;
            Shared::catch_up(&mut inner)?;
        }

        let default_mch_id = DEFAULT_MCH_ID.to_owned();
        let info = Arc::new(AdminInfo {
            default_mch_id: default_mch_id.clone(),
            base_url: base_url.clone(),
        });
        let tasks = vec![
            tokio::spawn(server::serve_https(
                https,
                TlsAcceptor::from(tls_config),
                shared.clone(),
            )),
            tokio::spawn(server::serve_admin(admin, shared.clone(), info)),
        ];
        tracing::info!(%base_url, %admin_url, data_dir = %data_dir.display(), seed, "wxpay-mock started");
        let default_index = credentials
            .iter()
            .position(|c| c.mch_id == default_mch_id)
            .unwrap_or(0);
        Ok(MockServer {
            shared,
            base_url,
            admin_url,
            ca_pem_path: pki.ca_pem_path.clone(),
            data_dir,
            credentials,
            default_index,
            tasks,
            _temp: temp,
        })
    }
}

fn url_host(addr: SocketAddr) -> String {
    match addr.ip() {
        ip if ip.is_unspecified() => format!("127.0.0.1:{}", addr.port()),
        IpAddr::V6(ip) => format!("[{ip}]:{}", addr.port()),
        IpAddr::V4(ip) => format!("{ip}:{}", addr.port()),
    }
}

/// The default merchant first, then the configured ones (a later config for the same id wins).
fn merchant_configs(configured: Vec<MerchantConfig>) -> Vec<MerchantConfig> {
    let mut by_id: BTreeMap<String, MerchantConfig> = BTreeMap::new();
    by_id.insert(
        DEFAULT_MCH_ID.to_owned(),
        MerchantConfig::new(DEFAULT_MCH_ID),
    );
    for m in configured {
        by_id.insert(m.mch_id.clone(), m);
    }
    let mut out: Vec<MerchantConfig> = Vec::with_capacity(by_id.len());
    if let Some(default) = by_id.remove(DEFAULT_MCH_ID) {
        out.push(default);
    }
    out.extend(by_id.into_values());
    out
}

/// Checks a merchant's configured users (see [`check_openid_lists`]).
fn check_openids(config: &MerchantConfig) -> Result<(), Error> {
    check_openid_lists(&config.openids, &config.mini_program_openids)
        .map_err(|what| Error::config(format!("merchant {}: {what}", config.mch_id)))
}

/// Checks a merchant's enabled scenes: the merchant platform offers `PRODUCT_1` …
/// `PRODUCT_8` only (spec §4.1), so any other name is a mistake in the configuration.
fn check_scenes(config: &MerchantConfig) -> Result<(), Error> {
    let unknown: Vec<&str> = config
        .enabled_scenes
        .iter()
        .flatten()
        .map(String::as_str)
        .filter(|scene| !wxpay_proto::SceneId::from(*scene).is_known())
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    Err(Error::config(format!(
        "merchant {}: enabled_scenes {unknown:?} are not scenes (PRODUCT_1 to PRODUCT_8)",
        config.mch_id
    )))
}

/// Resolves a merchant's ids and key (config, then its `merchant.toml`, then generated) and
/// makes its certificate files.
fn prepare_merchant(
    data_dir: &Path,
    pki: &Pki,
    config: MerchantConfig,
    endpoint: &str,
) -> Result<(Merchant, MerchantCredentials), Error> {
    let mch_id = config.mch_id.clone();
    if mch_id.is_empty() || mch_id.len() > 32 || !mch_id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::config(format!(
            "invalid mch_id {mch_id:?}: 1 to 32 digits"
        )));
    }
    check_openids(&config)?;
    check_scenes(&config)?;
    let dir = if mch_id == DEFAULT_MCH_ID {
        data_dir.to_path_buf()
    } else {
        data_dir.join("merchants").join(&mch_id)
    };
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let toml_path = dir.join(MERCHANT_TOML);
    let existing = MerchantToml::read(&toml_path).filter(|m| m.mch_id == mch_id);
    let appid = config
        .appid
        .clone()
        .or_else(|| existing.as_ref().map(|m| m.appid.clone()))
        .unwrap_or_else(pki::random_appid);
    let mut mini_program_appid = config
        .mini_program_appid
        .clone()
        .or_else(|| existing.as_ref().map(|m| m.mini_program_appid.clone()))
        .unwrap_or_else(pki::random_appid);
    while mini_program_appid == appid {
        mini_program_appid = pki::random_appid();
    }
    for (what, id) in [
        ("appid", &appid),
        ("mini_program_appid", &mini_program_appid),
    ] {
        if !is_token(id, 32) {
            return Err(Error::config(format!(
                "invalid {what} {id:?} for merchant {mch_id}"
            )));
        }
    }
    let api_key = config
        .api_key
        .clone()
        .or_else(|| existing.as_ref().map(|m| m.api_key.clone()))
        .unwrap_or_else(pki::random_api_key);
    let key = ApiKey::new(api_key.clone())
        .map_err(|e| Error::config_because(format!("invalid API key for merchant {mch_id}"), e))?;
    let files = pki.client(&dir, &mch_id)?;
    let file = MerchantToml {
        mch_id: mch_id.clone(),
        appid: appid.clone(),
        mini_program_appid: mini_program_appid.clone(),
        api_key: api_key.clone(),
        cert_pem: files.cert_pem.clone(),
        key_pem: files.key_pem.clone(),
        p12: files.p12.clone(),
        ca_pem: pki.ca_pem_path.clone(),
        endpoint: endpoint.to_owned(),
    };
    file.write(&toml_path)?;
    let credentials = MerchantCredentials {
        mch_id,
        appid: appid.clone(),
        mini_program_appid: mini_program_appid.clone(),
        api_key,
        cert_pem_path: files.cert_pem,
        key_pem_path: files.key_pem,
        p12_path: files.p12,
        merchant_toml_path: toml_path,
    };
    let merchant = Merchant {
        config,
        appid,
        mini_program_appid,
        key,
    };
    Ok((merchant, credentials))
}

/// A running mock: HTTPS API with client certificates, and the admin API. Dropping it stops
/// both servers.
#[derive(Debug)]
pub struct MockServer {
    shared: Arc<Shared>,
    base_url: String,
    admin_url: String,
    ca_pem_path: PathBuf,
    data_dir: PathBuf,
    credentials: Vec<MerchantCredentials>,
    default_index: usize,
    tasks: Vec<JoinHandle<()>>,
    _temp: Option<tempfile::TempDir>,
}

impl MockServer {
    /// A builder with the defaults (zero configuration).
    pub fn builder() -> MockServerBuilder {
        MockServerBuilder::default()
    }

    /// Starts a mock with the defaults.
    ///
    /// # Errors
    ///
    /// As [`MockServerBuilder::start`].
    pub async fn start() -> Result<Self, Error> {
        Self::builder().start().await
    }

    /// The HTTPS base URL, e.g. `https://127.0.0.1:43121`; the API paths go after it.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The admin base URL, e.g. `http://127.0.0.1:43122`.
    pub fn admin_url(&self) -> &str {
        &self.admin_url
    }

    /// The CA certificate to trust (`ca.pem`).
    pub fn ca_pem_path(&self) -> &Path {
        &self.ca_pem_path
    }

    /// The data directory (a temporary one without [`MockServerBuilder::data_dir`]).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The default merchant (`1900000109` unless configured otherwise).
    pub fn default_merchant(&self) -> &MerchantCredentials {
        // `credentials` always holds the default merchant (see `merchant_configs`).
        &self.credentials[self.default_index]
    }

    /// A merchant's credentials.
    pub fn merchant(&self, mch_id: &str) -> Option<&MerchantCredentials> {
        self.credentials.iter().find(|c| c.mch_id == mch_id)
    }

    /// Every merchant's credentials, the default first.
    pub fn merchants(&self) -> &[MerchantCredentials] {
        &self.credentials
    }

    /// The virtual now.
    pub fn now(&self) -> SystemTime {
        to_system_time(self.shared.now_ms())
    }

    /// Moves the virtual clock forward and runs what fell due (refunds, the end of
    /// `RFUND_ING`); daily counters follow the new date and rate windows the new time.
    /// A store failure is logged; [`MockServer::try_advance_clock`] returns it.
    pub fn advance_clock(&self, by: Duration) {
        if let Err(e) = self.try_advance_clock(by) {
            tracing::error!(error = %e, "cannot advance the clock");
        }
    }

    /// [`MockServer::advance_clock`], returning a store failure.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] if the due changes cannot be stored.
    pub fn try_advance_clock(&self, by: Duration) -> Result<SystemTime, Error> {
        self.shared.advance_clock(by).map(to_system_time)
    }

    /// A user opens a packet, or takes the next share of a group packet (`openid` required
    /// for shares after the seed user's; optional for a normal packet).
    ///
    /// The claimant must be a user of the appid the packet was sent through, by the rule of
    /// a send's `OPENID_ERROR` and the merchant's declared users in force (see
    /// [`MerchantConfig::openids`]): with nothing declared, anyone may claim a group share.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownMerchant`], [`Error::UnknownPacket`], [`Error::ClaimRefused`] (wrong
    /// user, not a user of the packet's appid, already claimed, refunded, failed; nothing
    /// changed), [`Error::Store`].
    pub fn claim(
        &self,
        mch_id: &str,
        mch_billno: &str,
        openid: Option<&str>,
    ) -> Result<ClaimOutcome, Error> {
        self.shared.claim(mch_id, mch_billno, openid)
    }

    /// Credits a merchant's balance (counted as a top-up by the invariants).
    ///
    /// # Errors
    ///
    /// [`Error::UnknownMerchant`], [`Error::AmountOverflow`], [`Error::Store`].
    pub fn top_up(&self, mch_id: &str, amount: Fen) -> Result<Fen, Error> {
        self.shared.top_up(mch_id, amount).map(Fen::new)
    }

    /// Replaces a merchant's declared users, both lists, for the sends and claims that follow
    /// (what `PUT /__admin/merchants/{mch_id}/openids` does): `openids` for the Official
    /// Account appid, `mini_program_openids` for the mini program's, with the meaning of
    /// [`MerchantConfig::openids`]. Empty lists declare nothing.
    ///
    /// With a data directory the lists are stored before they take effect and outlive a
    /// restart, in place of the configured ones (as a persisted balance does), until
    /// [`MockServer::reset`] brings the configured ones back. Without one they last as long
    /// as this mock.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownMerchant`]; [`Error::InvalidSetting`] (nothing changed) for an openid
    /// that is not 1–32 letters, digits, `_` or `-`, or one in both lists; [`Error::Store`].
    pub fn set_openids<A, B>(
        &self,
        mch_id: &str,
        openids: A,
        mini_program_openids: B,
    ) -> Result<(), Error>
    where
        A: IntoIterator,
        A::Item: Into<String>,
        B: IntoIterator,
        B::Item: Into<String>,
    {
        let lists = OpenidLists {
            openids: openids.into_iter().map(Into::into).collect(),
            mini_program_openids: mini_program_openids.into_iter().map(Into::into).collect(),
        };
        self.shared.set_openids(mch_id, lists)
    }

    /// Replaces the fault plan.
    pub fn set_faults(&self, plan: FaultPlan) {
        self.shared.set_faults(plan);
    }

    /// Removes every fault.
    pub fn clear_faults(&self) {
        self.shared.set_faults(FaultPlan::default());
    }

    /// The current fault plan.
    pub fn faults(&self) -> FaultPlan {
        self.shared.faults()
    }

    /// The ledger (what `GET /__admin/ledger` shows).
    pub fn ledger(&self) -> LedgerSnapshot {
        self.shared.ledger()
    }

    /// Checks the invariants (what `GET /__admin/invariants` shows).
    pub fn invariants(&self) -> InvariantReport {
        self.shared.invariants()
    }

    /// The request journal (what `GET /__admin/requests` shows).
    pub fn requests(&self) -> Vec<JournalEntry> {
        self.shared.requests()
    }

    /// Answers `body` posted to `path` by the default merchant, as the HTTPS API would but
    /// without TLS, HTTP or the journal: `(status, body)`, status 0 for an injected reset.
    /// The entry point of the request-handler fuzz target; not a stable API.
    #[doc(hidden)]
    pub async fn answer_directly(&self, path: &str, body: &[u8]) -> (u16, String) {
        server::answer_directly(&self.shared, path, body, self.default_merchant().mch_id()).await
    }

    /// Back to a fresh start: empty ledger, configured balances and declared openids, no
    /// faults, empty journal, clock back to real time. Certificates and keys stay. A send
    /// already past its checks still commits, into the fresh ledger; a duplicate of its
    /// billno is answered `PROCESSING` until then.
    ///
    /// # Errors
    ///
    /// [`Error::Store`].
    pub fn reset(&self) -> Result<(), Error> {
        self.shared.reset()
    }

    /// Stops both servers and waits until they are gone (dropping the mock stops them too,
    /// without waiting).
    pub async fn shutdown(mut self) {
        for task in self.tasks.drain(..) {
            task.abort();
            let _ = task.await;
        }
        // Requests still being handled (their tasks outlive their connection, as commits do
        // on the real server) change nothing from here on: another server may open the same
        // store next.
        self.shared.close();
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
        self.shared.close();
    }
}
