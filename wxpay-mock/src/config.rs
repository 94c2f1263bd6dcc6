//! Merchants, limits and the switches for the spec's unconfirmed points (DESIGN §6).

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use wxpay_proto::Fen;
use wxpay_proto::rules::AmountLimits;

use crate::Error;
use crate::clock::ClockMode;
use crate::toml_problem::TomlProblem;

/// The default merchant's id.
pub const DEFAULT_MCH_ID: &str = "1900000109";
/// The default merchant balance: 1,000,000.00 yuan.
pub const DEFAULT_BALANCE: Fen = Fen::new(100_000_000);

/// A merchant's limits (all per merchant, all configurable; spec §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// `FREQ_LIMIT`: most sends committed in any 60 s window of the virtual clock (default
    /// 1800).
    pub freq_per_minute: u32,
    /// `SENDNUM_LIMIT`: most packets to one user per Beijing day (default 10).
    pub sendnum_per_user_per_day: u32,
    /// `RCVDAMOUNT_LIMIT`: most money to one user per Beijing day (default 1000 yuan). A group
    /// packet counts its average share for the seed user.
    pub rcvd_amount_per_user_per_day: Fen,
    /// `SENDAMOUNT_LIMIT`: most money the merchant sends per Beijing day (default 1,000,000
    /// yuan).
    pub send_amount_per_day: Fen,
    /// `MONEY_LIMIT`: the per-packet ranges (defaults of `wxpay_proto`). The group average
    /// minimum may not be under 1 yuan, each share's minimum ([`Error::Config`] at start and
    /// from a config file).
    pub amount: AmountLimits,
}

impl Limits {
    /// The documented defaults.
    pub const DEFAULT: Self = Self {
        freq_per_minute: 1800,
        sendnum_per_user_per_day: 10,
        rcvd_amount_per_user_per_day: Fen::new(100_000),
        send_amount_per_day: Fen::new(100_000_000),
        amount: AmountLimits::DEFAULT,
    };

    /// Sets [`Limits::freq_per_minute`].
    #[must_use]
    pub fn freq_per_minute(mut self, n: u32) -> Self {
        self.freq_per_minute = n;
        self
    }

    /// Sets [`Limits::sendnum_per_user_per_day`].
    #[must_use]
    pub fn sendnum_per_user_per_day(mut self, n: u32) -> Self {
        self.sendnum_per_user_per_day = n;
        self
    }

    /// Sets [`Limits::rcvd_amount_per_user_per_day`].
    #[must_use]
    pub fn rcvd_amount_per_user_per_day(mut self, amount: Fen) -> Self {
        self.rcvd_amount_per_user_per_day = amount;
        self
    }

    /// Sets [`Limits::send_amount_per_day`].
    #[must_use]
    pub fn send_amount_per_day(mut self, amount: Fen) -> Self {
        self.send_amount_per_day = amount;
        self
    }

    /// Sets [`Limits::amount`].
    #[must_use]
    pub fn amount(mut self, amount: AmountLimits) -> Self {
        self.amount = amount;
        self
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// One merchant the mock serves.
///
/// Anything left unset is generated at the first start and kept in the merchant's
/// `merchant.toml` (appids, API key), or takes the default (balance, limits, switches).
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MerchantConfig {
    /// `mch_id`.
    pub mch_id: String,
    /// The Official Account appid (for `sendredpack`, `sendgroupredpack`).
    pub appid: Option<String>,
    /// The mini-program appid (for `sendminiprogramhb`).
    pub mini_program_appid: Option<String>,
    /// The APIv2 key (32 characters). Generated when unset.
    pub api_key: Option<String>,
    /// The starting balance (default 1,000,000.00 yuan). A persisted ledger keeps its own.
    pub balance: Fen,
    /// The limits.
    pub limits: Limits,
    /// Caller IPs allowed (`NO_AUTH` otherwise); empty allows every address.
    pub ip_whitelist: Vec<IpAddr>,
    /// Whether the red-packet product is enabled (`PRODUCT_AUTHORITY_UNOPEN` otherwise).
    pub product_enabled: bool,
    /// Whether API sending is open (`API_METHOD_CLOSED` otherwise).
    pub api_method_enabled: bool,
    /// The `scene_id`s enabled on the merchant platform; `None` enables all eight
    /// (`PRODUCT_1` … `PRODUCT_8`). A `scene_id` other than those eight is never enabled
    /// (`PARAM_ERROR` "该场景未开通"), and listing one here is a configuration error.
    pub enabled_scenes: Option<BTreeSet<String>>,
    /// Openids risk control stops (`NO_AUTH` "此请求可能存在风险").
    pub risky_openids: BTreeSet<String>,
    /// Sub-merchants this merchant may send for (`ACCEPTMODE_ERROR` otherwise).
    pub sub_mch_ids: BTreeSet<String>,
    /// The users of the Official Account appid ([`MerchantConfig::appid`]): openids that
    /// belong to it and to no other appid. Empty (the default) declares none.
    ///
    /// With [`MerchantConfig::mini_program_openids`], this drives `OPENID_ERROR`
    /// "openid和appid不匹配" (spec §5, step 7): an openid declared under one of the
    /// merchant's appids is refused by a send through the other one, and, while
    /// [`Behaviour::openid_lists_exhaustive`] is on, a declared list is the appid's whole
    /// user base, so an openid it lacks is refused too. Nothing declared: every openid is
    /// accepted, as before. A claim ([`MockServer::claim`], `POST /__admin/claim`) by an
    /// openid this rule refuses for the packet's appid (and `msgappid`) is refused too.
    ///
    /// These are the lists at start; [`MockServer::set_openids`] (or
    /// `PUT /__admin/merchants/{mch_id}/openids`) replaces both while the mock runs.
    ///
    /// [`MockServer::claim`]: crate::MockServer::claim
    /// [`MockServer::set_openids`]: crate::MockServer::set_openids
    pub openids: BTreeSet<String>,
    /// The users of the mini-program appid ([`MerchantConfig::mini_program_appid`]); as
    /// [`MerchantConfig::openids`]. An openid may not be declared under both appids.
    pub mini_program_openids: BTreeSet<String>,
}

impl MerchantConfig {
    /// A merchant with defaults for everything but its id.
    pub fn new(mch_id: impl Into<String>) -> Self {
        Self {
            mch_id: mch_id.into(),
            appid: None,
            mini_program_appid: None,
            api_key: None,
            balance: DEFAULT_BALANCE,
            limits: Limits::DEFAULT,
            ip_whitelist: Vec::new(),
            product_enabled: true,
            api_method_enabled: true,
            enabled_scenes: None,
            risky_openids: BTreeSet::new(),
            sub_mch_ids: BTreeSet::new(),
            openids: BTreeSet::new(),
            mini_program_openids: BTreeSet::new(),
        }
    }

    /// Sets the Official Account appid.
    #[must_use]
    pub fn appid(mut self, appid: impl Into<String>) -> Self {
        self.appid = Some(appid.into());
        self
    }

    /// Sets the mini-program appid.
    #[must_use]
    pub fn mini_program_appid(mut self, appid: impl Into<String>) -> Self {
        self.mini_program_appid = Some(appid.into());
        self
    }

    /// Sets the API key.
    #[must_use]
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// Sets the starting balance.
    #[must_use]
    pub fn balance(mut self, balance: Fen) -> Self {
        self.balance = balance;
        self
    }

    /// Sets the limits.
    #[must_use]
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets the IP whitelist (empty allows all).
    #[must_use]
    pub fn ip_whitelist(mut self, ips: impl IntoIterator<Item = IpAddr>) -> Self {
        self.ip_whitelist = ips.into_iter().collect();
        self
    }

    /// Enables or disables the red-packet product.
    #[must_use]
    pub fn product_enabled(mut self, enabled: bool) -> Self {
        self.product_enabled = enabled;
        self
    }

    /// Opens or closes API sending.
    #[must_use]
    pub fn api_method_enabled(mut self, enabled: bool) -> Self {
        self.api_method_enabled = enabled;
        self
    }

    /// Enables only these scenes (`PRODUCT_1` … `PRODUCT_8`).
    #[must_use]
    pub fn enabled_scenes<S: Into<String>>(mut self, scenes: impl IntoIterator<Item = S>) -> Self {
        self.enabled_scenes = Some(scenes.into_iter().map(Into::into).collect());
        self
    }

    /// Openids that risk control stops.
    #[must_use]
    pub fn risky_openids<S: Into<String>>(mut self, openids: impl IntoIterator<Item = S>) -> Self {
        self.risky_openids = openids.into_iter().map(Into::into).collect();
        self
    }

    /// Sub-merchants this merchant may send for.
    #[must_use]
    pub fn sub_mch_ids<S: Into<String>>(mut self, ids: impl IntoIterator<Item = S>) -> Self {
        self.sub_mch_ids = ids.into_iter().map(Into::into).collect();
        self
    }

    /// Declares the users of the Official Account appid (see [`MerchantConfig::openids`]).
    #[must_use]
    pub fn openids<S: Into<String>>(mut self, openids: impl IntoIterator<Item = S>) -> Self {
        self.openids = openids.into_iter().map(Into::into).collect();
        self
    }

    /// Declares the users of the mini-program appid (see
    /// [`MerchantConfig::mini_program_openids`]).
    #[must_use]
    pub fn mini_program_openids<S: Into<String>>(
        mut self,
        openids: impl IntoIterator<Item = S>,
    ) -> Self {
        self.mini_program_openids = openids.into_iter().map(Into::into).collect();
        self
    }
}

impl std::fmt::Debug for MerchantConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MerchantConfig")
            .field("mch_id", &self.mch_id)
            .field("appid", &self.appid)
            .field("mini_program_appid", &self.mini_program_appid)
            .field("api_key", &self.api_key.as_ref().map(|_| "** redacted **"))
            .field("balance", &self.balance)
            .field("limits", &self.limits)
            .field("ip_whitelist", &self.ip_whitelist)
            .field("product_enabled", &self.product_enabled)
            .field("api_method_enabled", &self.api_method_enabled)
            .field("enabled_scenes", &self.enabled_scenes)
            .field("risky_openids", &self.risky_openids)
            .field("sub_mch_ids", &self.sub_mch_ids)
            .field("openids", &self.openids)
            .field("mini_program_openids", &self.mini_program_openids)
            .finish()
    }
}

/// Checks a merchant's limits: a group's average minimum of at least 1 yuan, since each
/// share of a group is at least [`MIN_GROUP_SHARE`](crate::MIN_GROUP_SHARE) (DESIGN §3). The
/// error says what is wrong, in words.
pub(crate) fn check_limits(limits: &Limits) -> Result<(), String> {
    let min = limits.amount.group_average_min;
    if min < crate::MIN_GROUP_SHARE {
        return Err(format!(
            "group_average_min_fen is {} fen; it must be at least {} (each share of a group is at least 1 yuan)",
            min.get(),
            crate::MIN_GROUP_SHARE.get()
        ));
    }
    Ok(())
}

/// Whether `s` is 1 to `max` characters, each an ASCII letter, digit, `_` or `-` (the shape of
/// the mock's appids and of the openids it accepts in declarations).
pub(crate) fn is_token(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.chars().count() <= max
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Checks a merchant's declared users (at start and when they are replaced at run time): each
/// a valid openid, none under both appids (an openid belongs to one appid only, so such lists
/// cannot describe a real merchant). The error says what is wrong, in words.
pub(crate) fn check_openid_lists(
    openids: &BTreeSet<String>,
    mini_program_openids: &BTreeSet<String>,
) -> Result<(), String> {
    for (what, list) in [
        ("openids", openids),
        ("mini_program_openids", mini_program_openids),
    ] {
        if let Some(bad) = list.iter().find(|o| !is_token(o, 32)) {
            return Err(format!(
                "invalid openid {bad:?} in {what}: 1 to 32 letters, digits, '_' or '-'"
            ));
        }
    }
    if let Some(both) = openids.intersection(mini_program_openids).next() {
        return Err(format!(
            "openid {both:?} is declared under both appids (openids and mini_program_openids); an openid belongs to one appid"
        ));
    }
    Ok(())
}

/// What `gethbinfo` answers for a billno it does not know (DESIGN §6.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum NotFoundStyle {
    /// The official sample: `return_code=FAIL`, `result_code=FAIL`, `err_code=SYSTEMERROR`,
    /// "指定单号数据不存在".
    #[default]
    SystemError,
    /// `return_code=SUCCESS`, `result_code=FAIL`, `err_code=NOT_FOUND`.
    NotFound,
}

/// What a replay of a committed billno with a different amount answers (DESIGN §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AmountMismatch {
    /// `FATAL_ERROR` "更换了金额，但商户单号未更新".
    #[default]
    FatalError,
    /// `PARAM_ERROR` "如果是重试请求，请与原单请求的金额保持一致" (the WeWork variant).
    ParamError,
}

/// The switches for the spec's unconfirmed points (DESIGN §6) and the lifecycle timings.
/// The defaults are DESIGN §6's decisions.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Behaviour {
    /// §6.1: verify an `HMAC-SHA256` signature when the request carries
    /// `sign_type=HMAC-SHA256` (default `false`: `sign_type` is ignored, MD5 only).
    pub accept_hmac_sha256: bool,
    /// §6.2: whether `client_ip` is part of `sendminiprogramhb`'s verified field set
    /// (default `false`).
    pub mini_program_signs_client_ip: bool,
    /// §6.3: the answer to a replay with a different `total_amount` (default `FATAL_ERROR`).
    pub amount_mismatch: AmountMismatch,
    /// §6.3: a replay whose other fields (wishing, act_name…) differ gets the original
    /// success (default `true`); `false` answers `FATAL_ERROR`.
    pub replay_ignores_other_fields: bool,
    /// §6.4: `NOTENOUGH` records the billno as a `FAILED` packet (reason 余额不足), so it
    /// answers `SEND_FAILED` afterwards (default `false`: the billno stays free).
    pub notenough_fails_billno: bool,
    /// §6.5: a missing `scene_id` outside 1–200 yuan is `PARAM_ERROR` (default `true`);
    /// `false` lets the amount range decide alone.
    pub require_scene_id: bool,
    /// §6.6: the answer of `gethbinfo` for an unknown billno.
    pub not_found: NotFoundStyle,
    /// §6.7: how long an unclaimed packet stays `SENT` before its refund starts (24 h).
    pub refund_after: Duration,
    /// How long `RFUND_ING` lasts before `REFUND` (60 s of virtual time).
    pub refund_duration: Duration,
    /// How far back `gethbinfo` sees (30 days).
    pub query_window: Duration,
    /// §6.10: also serve the sandbox prefixes `/sandboxnew/` and `/xdc/apiv2sandbox/`
    /// (default `true`).
    pub serve_sandbox_prefixes: bool,
    /// Serve `sendgroupredpack`, retired by WeChat Pay in 2024 (default `true`; `false`
    /// answers 404).
    pub serve_group: bool,
    /// The appid must be one of the merchant's (`PARAM_ERROR` "商户号和wxappid不匹配"
    /// otherwise; default `true`).
    pub check_appid_binding: bool,
    /// A merchant's non-empty openid list ([`MerchantConfig::openids`],
    /// [`MerchantConfig::mini_program_openids`]) is the appid's whole user base: a send
    /// through that appid to an openid the list lacks is `OPENID_ERROR` (default `true`, as
    /// on the real platform, where an openid exists under one appid only). `false` refuses
    /// only openids declared under the merchant's other appid. Without any list, no openid
    /// is refused either way.
    pub openid_lists_exhaustive: bool,
    /// Real time a send spends between taking its billno and committing (default 0). A
    /// duplicate arriving meanwhile gets `PROCESSING`.
    pub commit_latency: Duration,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            accept_hmac_sha256: false,
            mini_program_signs_client_ip: false,
            amount_mismatch: AmountMismatch::FatalError,
            replay_ignores_other_fields: true,
            notenough_fails_billno: false,
            require_scene_id: true,
            not_found: NotFoundStyle::SystemError,
            refund_after: Duration::from_secs(24 * 3600),
            refund_duration: Duration::from_secs(60),
            query_window: Duration::from_secs(30 * 24 * 3600),
            serve_sandbox_prefixes: true,
            serve_group: true,
            check_appid_binding: true,
            openid_lists_exhaustive: true,
            commit_latency: Duration::ZERO,
        }
    }
}

/// The config file (`--config mock.toml`); every key is optional.
///
/// ```toml
/// seed = 7
/// clock = "frozen"            # or "real"
/// listen = "127.0.0.1:7443"
/// admin = "127.0.0.1:7444"
/// data_dir = ".wxpay-mock"
///
/// [behaviour]
/// not_found = "not_found"     # or "system_error" (DESIGN §6.6)
/// mini_program_signs_client_ip = true
/// refund_after_secs = 86400
///
/// [[merchant]]
/// mch_id = "1900000110"
/// balance_fen = 500000
/// ip_whitelist = ["127.0.0.1"]
/// openids = ["o_fan_1", "o_fan_2"]     # the Official Account's users (OPENID_ERROR)
/// mini_program_openids = ["o_mini_1"]  # the mini program's users
/// [merchant.limits]
/// freq_per_minute = 60
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct MockConfig {
    /// The seed of group splits and probabilistic faults.
    pub seed: Option<u64>,
    /// The clock mode.
    pub clock: Option<ClockMode>,
    /// The HTTPS listen address.
    pub listen: Option<SocketAddr>,
    /// The admin listen address.
    pub admin: Option<SocketAddr>,
    /// The data directory.
    pub data_dir: Option<PathBuf>,
    /// The DESIGN §6 switches.
    pub behaviour: Behaviour,
    /// Merchants (one with the default id replaces the default merchant's settings).
    pub merchants: Vec<MerchantConfig>,
}

impl MockConfig {
    /// Reads a TOML config file.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if it cannot be read, [`Error::Config`] if it is not valid.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::from_toml(&text)
    }

    /// Parses a TOML config.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] if it is not valid (unknown keys included).
    pub fn from_toml(text: &str) -> Result<Self, Error> {
        let file: FileConfig = toml::from_str(text).map_err(|e| {
            Error::config_because("invalid config file", TomlProblem::new(text, &e))
        })?;
        file.into_config()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    seed: Option<u64>,
    clock: Option<ClockMode>,
    listen: Option<String>,
    admin: Option<String>,
    data_dir: Option<PathBuf>,
    #[serde(default)]
    behaviour: FileBehaviour,
    #[serde(default, rename = "merchant")]
    merchants: Vec<FileMerchant>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileBehaviour {
    accept_hmac_sha256: Option<bool>,
    mini_program_signs_client_ip: Option<bool>,
    amount_mismatch: Option<AmountMismatch>,
    replay_ignores_other_fields: Option<bool>,
    notenough_fails_billno: Option<bool>,
    require_scene_id: Option<bool>,
    not_found: Option<NotFoundStyle>,
    refund_after_secs: Option<u64>,
    refund_duration_secs: Option<u64>,
    query_window_days: Option<u64>,
    serve_sandbox_prefixes: Option<bool>,
    serve_group: Option<bool>,
    check_appid_binding: Option<bool>,
    openid_lists_exhaustive: Option<bool>,
    commit_latency_ms: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileMerchant {
    mch_id: String,
    appid: Option<String>,
    mini_program_appid: Option<String>,
    api_key: Option<String>,
    balance_fen: Option<u64>,
    #[serde(default)]
    limits: FileLimits,
    #[serde(default)]
    ip_whitelist: Vec<String>,
    product_enabled: Option<bool>,
    api_method_enabled: Option<bool>,
    enabled_scenes: Option<Vec<String>>,
    #[serde(default)]
    risky_openids: Vec<String>,
    #[serde(default)]
    sub_mch_ids: Vec<String>,
    #[serde(default)]
    openids: Vec<String>,
    #[serde(default)]
    mini_program_openids: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileLimits {
    freq_per_minute: Option<u32>,
    sendnum_per_user_per_day: Option<u32>,
    rcvd_amount_per_user_per_day_fen: Option<u64>,
    send_amount_per_day_fen: Option<u64>,
    min_fen: Option<u64>,
    max_fen: Option<u64>,
    scene_min_fen: Option<u64>,
    scene_max_fen: Option<u64>,
    group_average_min_fen: Option<u64>,
    group_average_max_fen: Option<u64>,
}

fn parse_addr(what: &str, s: &str) -> Result<SocketAddr, Error> {
    s.parse()
        .map_err(|e| Error::config_because(format!("invalid {what} address {s:?}"), e))
}

impl FileConfig {
    fn into_config(self) -> Result<MockConfig, Error> {
        let mut behaviour = Behaviour::default();
        let b = self.behaviour;
        macro_rules! take {
            ($($field:ident),*) => { $( if let Some(v) = b.$field { behaviour.$field = v; } )* };
        }
        take!(
            accept_hmac_sha256,
            mini_program_signs_client_ip,
            amount_mismatch,
            replay_ignores_other_fields,
            notenough_fails_billno,
            require_scene_id,
            serve_sandbox_prefixes,
            serve_group,
            check_appid_binding,
            openid_lists_exhaustive
        );
        if let Some(v) = b.not_found {
            behaviour.not_found = v;
        }
        if let Some(s) = b.refund_after_secs {
            behaviour.refund_after = Duration::from_secs(s);
        }
        if let Some(s) = b.refund_duration_secs {
            behaviour.refund_duration = Duration::from_secs(s);
        }
        if let Some(d) = b.query_window_days {
            let secs = d
                .checked_mul(86_400)
                .ok_or_else(|| Error::config("query_window_days is too large"))?;
            behaviour.query_window = Duration::from_secs(secs);
        }
        if let Some(ms) = b.commit_latency_ms {
            behaviour.commit_latency = Duration::from_millis(ms);
        }
        let merchants = self
            .merchants
            .into_iter()
            .map(FileMerchant::into_config)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(MockConfig {
            seed: self.seed,
            clock: self.clock,
            listen: self
                .listen
                .as_deref()
                .map(|s| parse_addr("listen", s))
                .transpose()?,
            admin: self
                .admin
                .as_deref()
                .map(|s| parse_addr("admin", s))
                .transpose()?,
            data_dir: self.data_dir,
            behaviour,
            merchants,
        })
    }
}

impl Drop for MerchantConfig {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.api_key);
    }
}

impl FileMerchant {
    fn into_config(self) -> Result<MerchantConfig, Error> {
        let mut m = MerchantConfig::new(self.mch_id);
        m.appid = self.appid;
        m.mini_program_appid = self.mini_program_appid;
        // Moved, not copied: the key's one buffer is wiped with the `MerchantConfig`.
        m.api_key = self.api_key;
        if let Some(b) = self.balance_fen {
            m.balance = Fen::new(b);
        }
        let l = self.limits;
        let limits = &mut m.limits;
        if let Some(v) = l.freq_per_minute {
            limits.freq_per_minute = v;
        }
        if let Some(v) = l.sendnum_per_user_per_day {
            limits.sendnum_per_user_per_day = v;
        }
        if let Some(v) = l.rcvd_amount_per_user_per_day_fen {
            limits.rcvd_amount_per_user_per_day = Fen::new(v);
        }
        if let Some(v) = l.send_amount_per_day_fen {
            limits.send_amount_per_day = Fen::new(v);
        }
        let amount = &mut limits.amount;
        for (value, slot) in [
            (l.min_fen, &mut amount.min),
            (l.max_fen, &mut amount.max),
            (l.scene_min_fen, &mut amount.scene_min),
            (l.scene_max_fen, &mut amount.scene_max),
            (l.group_average_min_fen, &mut amount.group_average_min),
            (l.group_average_max_fen, &mut amount.group_average_max),
        ] {
            if let Some(v) = value {
                *slot = Fen::new(v);
            }
        }
        check_limits(&m.limits)
            .map_err(|what| Error::config(format!("merchant {}: {what}", m.mch_id)))?;
        m.ip_whitelist = self
            .ip_whitelist
            .iter()
            .map(|s| {
                s.parse::<IpAddr>()
                    .map_err(|e| Error::config_because(format!("invalid IP {s:?}"), e))
            })
            .collect::<Result<_, _>>()?;
        if let Some(v) = self.product_enabled {
            m.product_enabled = v;
        }
        if let Some(v) = self.api_method_enabled {
            m.api_method_enabled = v;
        }
        m.enabled_scenes = self.enabled_scenes.map(|s| s.into_iter().collect());
        m.risky_openids = self.risky_openids.into_iter().collect();
        m.sub_mch_ids = self.sub_mch_ids.into_iter().collect();
        m.openids = self.openids.into_iter().collect();
        m.mini_program_openids = self.mini_program_openids.into_iter().collect();
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_file_with_every_section_parses() {
        let cfg = MockConfig::from_toml(
            r#"
            seed = 7
            clock = "frozen"
            listen = "127.0.0.1:7443"
            [behaviour]
            not_found = "not_found"
            refund_after_secs = 10
            [[merchant]]
            mch_id = "1900000110"
            balance_fen = 500
            ip_whitelist = ["127.0.0.1"]
            [merchant.limits]
            freq_per_minute = 3
            min_fen = 50
            "#,
        )
        .unwrap();
        assert_eq!(cfg.seed, Some(7));
        assert_eq!(cfg.clock, Some(ClockMode::Frozen));
        assert_eq!(cfg.behaviour.not_found, NotFoundStyle::NotFound);
        assert_eq!(cfg.behaviour.refund_after, Duration::from_secs(10));
        assert_eq!(cfg.merchants[0].limits.freq_per_minute, 3);
        assert_eq!(cfg.merchants[0].limits.amount.min, Fen::new(50));
        assert_eq!(cfg.merchants[0].balance, Fen::new(500));
    }

    #[test]
    fn openid_lists_and_their_switch_parse_and_default_to_nothing_declared() {
        let cfg = MockConfig::from_toml(
            r#"
            [behaviour]
            openid_lists_exhaustive = false
            [[merchant]]
            mch_id = "1900000110"
            openids = ["o_fan_1", "o_fan_2"]
            mini_program_openids = ["o_mini_1"]
            [[merchant]]
            mch_id = "1900000111"
            "#,
        )
        .unwrap();
        assert!(!cfg.behaviour.openid_lists_exhaustive);
        assert!(Behaviour::default().openid_lists_exhaustive);
        let declared = &cfg.merchants[0];
        assert_eq!(
            declared.openids,
            BTreeSet::from(["o_fan_1".to_owned(), "o_fan_2".to_owned()])
        );
        assert_eq!(
            declared.mini_program_openids,
            BTreeSet::from(["o_mini_1".to_owned()])
        );
        assert!(cfg.merchants[1].openids.is_empty());
        assert!(cfg.merchants[1].mini_program_openids.is_empty());
        assert!(matches!(
            MockConfig::from_toml("[[merchant]]\nmch_id = \"1\"\nopenid = [\"o\"]"),
            Err(Error::Config { .. })
        ));
    }

    #[test]
    fn unknown_keys_and_bad_values_are_typed_errors() {
        assert!(matches!(
            MockConfig::from_toml("nope = 1"),
            Err(Error::Config { .. })
        ));
        assert!(matches!(
            MockConfig::from_toml("[[merchant]]\nmch_id = \"1\"\nip_whitelist = [\"x\"]"),
            Err(Error::Config { .. })
        ));
        assert!(matches!(
            MockConfig::from_toml("listen = \"nowhere\""),
            Err(Error::Config { .. })
        ));
    }
}
