//! Certificates made at run time: a CA, a server certificate for localhost, and per merchant a
//! client certificate (CN = mch_id) as PEM and PKCS#12, plus the `merchant.toml` the client,
//! the CLI and the examples read.

use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use p12_keystore::{
    Certificate as P12Certificate, EncryptionAlgorithm, KeyStore, KeyStoreEntry, MacAlgorithm,
    PrivateKey as P12PrivateKey, PrivateKeyChain,
};
use rand::RngExt;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::clock::{civil_from_days, real_now_ms};
use crate::toml_problem::TomlProblem;

/// The CA's common name.
const CA_NAME: &str = "wxpay-mock test CA (not for production)";

pub(crate) const CA_PEM: &str = "ca.pem";
pub(crate) const CA_KEY_PEM: &str = "ca_key.pem";
pub(crate) const SERVER_CERT_PEM: &str = "server_cert.pem";
pub(crate) const SERVER_KEY_PEM: &str = "server_key.pem";
pub(crate) const CLIENT_CERT_PEM: &str = "apiclient_cert.pem";
pub(crate) const CLIENT_KEY_PEM: &str = "apiclient_key.pem";
pub(crate) const CLIENT_P12: &str = "apiclient_cert.p12";
pub(crate) const MERCHANT_TOML: &str = "merchant.toml";

fn read(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|e| Error::io(path, e))
}

/// Writes a file; secrets (`private`) are readable by the owner only.
fn write(path: &Path, bytes: &[u8], private: bool) -> Result<(), Error> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file = options.open(path).map_err(|e| Error::io(path, e))?;
    file.write_all(bytes).map_err(|e| Error::io(path, e))?;
    file.sync_all().map_err(|e| Error::io(path, e))
}

/// `(year, month, day)` of a UTC instant `years` later, clamped to valid dates.
fn ymd_after(ms: u64, years: i64, back_days: i64) -> (i32, u8, u8) {
    let days = i64::try_from(ms / 86_400_000).unwrap_or(0) - back_days;
    let (y, m, d) = civil_from_days(days);
    let year = i32::try_from(y + years).unwrap_or(2099);
    // Day 28 exists in every month, so a 29 February never lands in a common year.
    (
        year,
        u8::try_from(m).unwrap_or(1),
        u8::try_from(d.min(28)).unwrap_or(1),
    )
}

fn set_validity(params: &mut CertificateParams, from: (i32, u8, u8), to: (i32, u8, u8)) {
    params.not_before = rcgen::date_time_ymd(from.0, from.1, from.2);
    params.not_after = rcgen::date_time_ymd(to.0, to.1, to.2);
}

/// The CA, able to sign certificates.
pub(crate) struct Pki {
    issuer: Issuer<'static, KeyPair>,
    ca_der: CertificateDer<'static>,
    pub(crate) ca_pem_path: PathBuf,
}

impl std::fmt::Debug for Pki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pki")
            .field("ca_pem_path", &self.ca_pem_path)
            .finish_non_exhaustive()
    }
}

fn ca_params() -> Result<CertificateParams, Error> {
    let mut params = CertificateParams::new(Vec::<String>::new())
        .map_err(|e| Error::cert("CA parameters", e))?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, CA_NAME);
    params
        .distinguished_name
        .push(DnType::OrganizationName, "wxpay-mock");
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    // Wide enough for any certificate a test issues in the past or the future.
    set_validity(&mut params, (2000, 1, 1), (2099, 12, 31));
    Ok(params)
}

impl Pki {
    /// Loads the CA of `dir`, or makes one.
    pub(crate) fn load_or_create(dir: &Path) -> Result<Self, Error> {
        let ca_pem_path = dir.join(CA_PEM);
        let key_path = dir.join(CA_KEY_PEM);
        let params = ca_params()?;
        if ca_pem_path.exists() && key_path.exists() {
            let key = KeyPair::from_pem(&read(&key_path)?)
                .map_err(|e| Error::cert(format!("cannot read {}", key_path.display()), e))?;
            let ca_der = CertificateDer::from_pem_slice(read(&ca_pem_path)?.as_bytes())
                .map_err(|e| Error::cert(format!("cannot read {}", ca_pem_path.display()), e))?;
            tracing::debug!(path = %ca_pem_path.display(), "reusing the CA");
            return Ok(Self {
                issuer: Issuer::new(params, key),
                ca_der,
                ca_pem_path,
            });
        }
        let key = KeyPair::generate().map_err(|e| Error::cert("CA key", e))?;
        let cert = params
            .self_signed(&key)
            .map_err(|e| Error::cert("CA certificate", e))?;
        write(&key_path, key.serialize_pem().as_bytes(), true)?;
        write(&ca_pem_path, cert.pem().as_bytes(), false)?;
        tracing::info!(path = %ca_pem_path.display(), "generated a CA");
        Ok(Self {
            issuer: Issuer::new(params, key),
            ca_der: cert.der().clone(),
            ca_pem_path,
        })
    }

    pub(crate) fn ca_der(&self) -> &CertificateDer<'static> {
        &self.ca_der
    }

    /// A fresh server certificate for localhost, 127.0.0.1, ::1 and `extra` (written to `dir`).
    pub(crate) fn server(
        &self,
        dir: &Path,
        extra: Option<IpAddr>,
    ) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), Error> {
        let mut params = CertificateParams::new(vec!["localhost".to_owned()])
            .map_err(|e| Error::cert("server parameters", e))?;
        let mut ips: Vec<IpAddr> =
            vec![[127, 0, 0, 1].into(), std::net::Ipv6Addr::LOCALHOST.into()];
        if let Some(ip) = extra.filter(|ip| !ip.is_unspecified() && !ips.contains(ip)) {
            ips.push(ip);
        }
        params
            .subject_alt_names
            .extend(ips.into_iter().map(SanType::IpAddress));
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, "wxpay-mock server");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let now = real_now_ms();
        set_validity(&mut params, ymd_after(now, 0, 2), ymd_after(now, 2, 0));
        let key = KeyPair::generate().map_err(|e| Error::cert("server key", e))?;
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(|e| Error::cert("server certificate", e))?;
        write(&dir.join(SERVER_CERT_PEM), cert.pem().as_bytes(), false)?;
        write(
            &dir.join(SERVER_KEY_PEM),
            key.serialize_pem().as_bytes(),
            true,
        )?;
        let key_der = PrivateKeyDer::try_from(key.serialize_der())
            .map_err(|e| Error::cert("server key encoding", e.to_owned()))?;
        Ok((vec![cert.der().clone(), self.ca_der.clone()], key_der))
    }

    /// The merchant's client certificate files in `dir`, made if missing (or not for this
    /// mch_id): CN = mch_id, valid five years of real time.
    pub(crate) fn client(&self, dir: &Path, mch_id: &str) -> Result<ClientFiles, Error> {
        let files = ClientFiles {
            cert_pem: dir.join(CLIENT_CERT_PEM),
            key_pem: dir.join(CLIENT_KEY_PEM),
            p12: dir.join(CLIENT_P12),
        };
        if files.cert_pem.exists() && files.key_pem.exists() && files.p12.exists() {
            let der = CertificateDer::from_pem_slice(read(&files.cert_pem)?.as_bytes())
                .map_err(|e| Error::cert(format!("cannot read {}", files.cert_pem.display()), e))?;
            if crate::tls::subject_cn(&der).as_deref() == Some(mch_id) {
                return Ok(files);
            }
        }
        let mut params = CertificateParams::new(Vec::<String>::new())
            .map_err(|e| Error::cert("client parameters", e))?;
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(DnType::CountryName, "CN");
        params
            .distinguished_name
            .push(DnType::OrganizationName, "wxpay-mock merchant");
        params
            .distinguished_name
            .push(DnType::OrganizationalUnitName, "wxpay-mock CA Center");
        params.distinguished_name.push(DnType::CommonName, mch_id);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let now = real_now_ms();
        set_validity(&mut params, ymd_after(now, 0, 1), ymd_after(now, 5, 0));
        let key = KeyPair::generate().map_err(|e| Error::cert("client key", e))?;
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(|e| Error::cert("client certificate", e))?;
        write(&files.cert_pem, cert.pem().as_bytes(), false)?;
        write(&files.key_pem, key.serialize_pem().as_bytes(), true)?;
        let p12 = pkcs12(mch_id, &key.serialize_der(), cert.der(), &self.ca_der)?;
        write(&files.p12, &p12, true)?;
        tracing::info!(mch_id, path = %files.cert_pem.display(), "generated a merchant client certificate");
        Ok(files)
    }
}

/// A PKCS#12 file (password = mch_id) with PBES2/AES-256-CBC and an HMAC-SHA256 MAC, which
/// OpenSSL 3 reads without the legacy provider.
fn pkcs12(mch_id: &str, key_pkcs8: &[u8], leaf: &[u8], ca: &[u8]) -> Result<Vec<u8>, Error> {
    let key = P12PrivateKey::from_der(key_pkcs8).map_err(|e| Error::cert("PKCS#12 key", e))?;
    let leaf = P12Certificate::from_der(leaf).map_err(|e| Error::cert("PKCS#12 leaf", e))?;
    let ca = P12Certificate::from_der(ca).map_err(|e| Error::cert("PKCS#12 CA", e))?;
    let chain = PrivateKeyChain::new(mch_id.as_bytes(), key, [leaf, ca]);
    let mut store = KeyStore::new();
    store.add_entry(mch_id, KeyStoreEntry::PrivateKeyChain(chain));
    store
        .writer(mch_id)
        .encryption_algorithm(EncryptionAlgorithm::PbeWithHmacSha256AndAes256)
        .mac_algorithm(MacAlgorithm::HmacSha256)
        .write()
        .map_err(|e| Error::cert("PKCS#12 encoding", e))
}

/// Paths of a merchant's client certificate files.
#[derive(Debug, Clone)]
pub(crate) struct ClientFiles {
    pub(crate) cert_pem: PathBuf,
    pub(crate) key_pem: PathBuf,
    pub(crate) p12: PathBuf,
}

/// `merchant.toml`: exactly these keys.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MerchantToml {
    pub(crate) mch_id: String,
    pub(crate) appid: String,
    pub(crate) mini_program_appid: String,
    pub(crate) api_key: String,
    pub(crate) cert_pem: PathBuf,
    pub(crate) key_pem: PathBuf,
    pub(crate) p12: PathBuf,
    pub(crate) ca_pem: PathBuf,
    pub(crate) endpoint: String,
}

impl Drop for MerchantToml {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.api_key);
    }
}

impl MerchantToml {
    /// Reads an existing file; `None` if absent or unreadable as a merchant file.
    pub(crate) fn read(path: &Path) -> Option<Self> {
        let text = zeroize::Zeroizing::new(std::fs::read_to_string(path).ok()?);
        match Self::parse(&text) {
            Ok(m) => Some(m),
            Err(problem) => {
                tracing::warn!(path = %path.display(), %problem, "ignoring an unreadable merchant.toml");
                None
            }
        }
    }

    /// Parses a file's text; the problem never holds the text (it may be the key's line).
    fn parse(text: &str) -> Result<Self, TomlProblem> {
        toml::from_str(text).map_err(|e| TomlProblem::new(text, &e))
    }

    pub(crate) fn write(&self, path: &Path) -> Result<(), Error> {
        let text = toml::to_string(self)
            .map_err(|e| Error::config_because("cannot encode merchant.toml", e))?;
        let header =
            "# Written by wxpay-mock: a TEST merchant of the offline mock. Never a real key.\n";
        write(path, format!("{header}{text}").as_bytes(), true)
    }
}

/// A random API key: 32 ASCII letters and digits.
pub(crate) fn random_api_key() -> String {
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut rng = rand::rng();
    (0..32)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

/// A random appid: `wx` and 16 hex digits.
pub(crate) fn random_appid() -> String {
    let mut rng = rand::rng();
    format!("wx{:016x}", rng.random::<u64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreadable_merchant_toml_is_reported_without_its_key() {
        let key = "3fA9kQ7xLm2pR8sT1vW4yZ6bC0dE5gH7";
        let text = format!(
            "mch_id = \"1900000109\"\nappid = \"wx1\"\nmini_program_appid = \"wx2\"\napi_key = {key}\n"
        );

        let problem = MerchantToml::parse(&text).err().unwrap();

        let shown = format!("{problem} {problem:?}");
        assert!(shown.starts_with("line 4, column "), "{shown}");
        let chars: Vec<char> = key.chars().collect();
        for piece in chars.windows(6) {
            let piece: String = piece.iter().collect();
            assert!(!shown.contains(&piece), "{piece:?} in {shown}");
        }
    }
}
