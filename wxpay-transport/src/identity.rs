//! The merchant's client identity (certificate + private key) for mutual TLS.

use std::fmt;
use std::io::Read as _;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::sign::{CertifiedKey, SigningKey};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use zeroize::Zeroizing;

use crate::error::BoxError;

/// Files larger than this are not certificate or key files: refuse them instead of reading them.
const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// A certificate that expires within this window gets a warning when it is loaded.
const EXPIRY_WARNING: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// The merchant API client certificate and its private key, checked and ready for mutual TLS.
///
/// Load it from `apiclient_cert.pem` + `apiclient_key.pem` ([`from_pem_files`](Self::from_pem_files))
/// or from `apiclient_cert.p12` ([`from_pkcs12_file`](Self::from_pkcs12_file), whose password is
/// the mch_id unless you changed it). Loading checks that the key belongs to the certificate and
/// that the certificate has not expired, and logs a warning when it expires within 30 days.
///
/// The private key never appears in `Debug` output, logs or error messages.
#[derive(Clone)]
pub struct ClientIdentity {
    certified_key: Arc<CertifiedKey>,
    certificate: CertificateInfo,
    origin: String,
}

impl ClientIdentity {
    /// Loads the identity from a PEM certificate file (the client certificate first, optionally
    /// followed by intermediates) and a PEM private key file (PKCS#8 `PRIVATE KEY`, PKCS#1
    /// `RSA PRIVATE KEY` or SEC1 `EC PRIVATE KEY`).
    pub fn from_pem_files(
        cert_path: impl AsRef<Path>,
        key_path: impl AsRef<Path>,
    ) -> Result<Self, IdentityError> {
        let cert_path = cert_path.as_ref();
        let key_path = key_path.as_ref();
        let cert_name = cert_path.display().to_string();
        let key_name = key_path.display().to_string();
        let cert_pem = read_limited(cert_path, &cert_name)?;
        let key_pem = read_limited(key_path, &key_name)?;
        Self::load_pem(&cert_pem, &cert_name, &key_pem, &key_name, now())
    }

    /// Loads the identity from PEM bytes already in memory; see
    /// [`from_pem_files`](Self::from_pem_files) for the accepted formats.
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<Self, IdentityError> {
        Self::load_pem(
            cert_pem,
            "<certificate PEM>",
            key_pem,
            "<private key PEM>",
            now(),
        )
    }

    /// Loads the identity from `apiclient_cert.p12` with WeChat Pay's default password, the
    /// merchant id (`mch_id`).
    ///
    /// Legacy files (RC2-40 / 3DES encryption, SHA-1 MAC, as WeChat issues them) load as well as
    /// modern ones (PBES2 / AES).
    pub fn from_pkcs12_file(path: impl AsRef<Path>, mch_id: &str) -> Result<Self, IdentityError> {
        Self::from_pkcs12_file_with_password(path, mch_id)
    }

    /// Loads the identity from a PKCS#12 file protected by `password`.
    pub fn from_pkcs12_file_with_password(
        path: impl AsRef<Path>,
        password: &str,
    ) -> Result<Self, IdentityError> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let der = read_limited(path, &name)?;
        Self::load_pkcs12(&der, password, &name, now())
    }

    /// Loads the identity from PKCS#12 bytes already in memory, protected by `password`.
    pub fn from_pkcs12(der: &[u8], password: &str) -> Result<Self, IdentityError> {
        Self::load_pkcs12(der, password, "<PKCS#12 data>", now())
    }

    /// What the certificate says about itself: subject, issuer, validity.
    pub fn certificate(&self) -> &CertificateInfo {
        &self.certificate
    }

    /// Where the identity was loaded from (file names, or a placeholder for in-memory data).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    pub(crate) fn certified_key(&self) -> Arc<CertifiedKey> {
        Arc::clone(&self.certified_key)
    }

    fn load_pem(
        cert_pem: &[u8],
        cert_name: &str,
        key_pem: &[u8],
        key_name: &str,
        now: SystemTime,
    ) -> Result<Self, IdentityError> {
        let chain = CertificateDer::pem_slice_iter(cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| IdentityError::with_source(cert_name, IdentityKind::MalformedPem, e))?;
        if chain.is_empty() {
            return Err(IdentityError::new(cert_name, IdentityKind::NoCertificate));
        }
        // The PEM parser's errors may quote a line of the key file: keep them out of the error.
        let key = PrivateKeyDer::from_pem_slice(key_pem)
            .map_err(|_| IdentityError::new(key_name, IdentityKind::NoPrivateKey))?;
        let signing_key = load_key(key, key_name)?;
        let origin = format!("{cert_name} + {key_name}");
        Self::assemble(chain, signing_key, cert_name, key_name, origin, now)
    }

    fn load_pkcs12(
        der: &[u8],
        password: &str,
        name: &str,
        now: SystemTime,
    ) -> Result<Self, IdentityError> {
        let archive = p12_keystore::Pkcs12Archive::from_pkcs12(der, password)
            .map_err(|e| pkcs12_error(name, e))?;
        let Some(key_bag) = archive.keys.first() else {
            return Err(IdentityError::new(name, IdentityKind::NoPrivateKey));
        };
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_bag.key.as_der().to_vec()));
        let signing_key = load_key(key, name)?;
        let certs: Vec<CertificateDer<'static>> = archive
            .certs
            .iter()
            .map(|bag| CertificateDer::from(bag.cert.as_der().to_vec()))
            .collect();
        // The certificate for the key: the one with the same localKeyId, else the one holding
        // the key's public key, else the first (which then fails the key check below).
        let by_key_id = key_bag.local_key_id.as_ref().and_then(|id| {
            archive
                .certs
                .iter()
                .position(|bag| bag.local_key_id.as_deref() == Some(id.as_ref()))
        });
        let leaf = by_key_id
            .or_else(|| {
                certs.iter().position(|cert| {
                    CertifiedKey::new(vec![cert.clone()], Arc::clone(&signing_key))
                        .keys_match()
                        .is_ok()
                })
            })
            .unwrap_or(0);
        let mut chain = certs;
        if chain.is_empty() {
            return Err(IdentityError::new(name, IdentityKind::NoCertificate));
        }
        // `leaf` is a position found in `chain`, or 0 in a `chain` just checked to be non-empty.
        let leaf_cert = chain.remove(leaf);
        chain.insert(0, leaf_cert);
        Self::assemble(chain, signing_key, name, name, name.to_owned(), now)
    }

    fn assemble(
        chain: Vec<CertificateDer<'static>>,
        signing_key: Arc<dyn SigningKey>,
        cert_name: &str,
        key_name: &str,
        origin: String,
        now: SystemTime,
    ) -> Result<Self, IdentityError> {
        let Some(leaf) = chain.first() else {
            return Err(IdentityError::new(cert_name, IdentityKind::NoCertificate));
        };
        let certificate = CertificateInfo::parse(leaf, cert_name)?;
        let certified_key = CertifiedKey::new(chain, signing_key);
        match certified_key.keys_match() {
            Ok(()) => {}
            Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {
                tracing::debug!(
                    origin,
                    "cannot tell whether the key matches the certificate"
                );
            }
            Err(_) => {
                return Err(IdentityError::new(
                    key_name,
                    IdentityKind::KeyMismatch {
                        certificate: cert_name.to_owned(),
                    },
                ));
            }
        }
        certificate.check_at(now, cert_name)?;
        tracing::info!(
            origin,
            subject = certificate.subject(),
            not_after = %UtcTime(certificate.not_after_unix),
            "merchant client certificate loaded"
        );
        if certificate.expires_within(now, EXPIRY_WARNING) {
            tracing::warn!(
                origin,
                subject = certificate.subject(),
                not_after = %UtcTime(certificate.not_after_unix),
                "the merchant client certificate expires within 30 days: renew it in the merchant platform"
            );
        }
        Ok(Self {
            certified_key: Arc::new(certified_key),
            certificate,
            origin,
        })
    }
}

impl fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientIdentity")
            .field("certificate", &self.certificate)
            .field("origin", &self.origin)
            .field("private_key", &"** redacted **")
            .finish()
    }
}

/// What a client certificate says about itself.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CertificateInfo {
    subject: String,
    issuer: String,
    serial: String,
    not_before_unix: i64,
    not_after_unix: i64,
}

impl CertificateInfo {
    fn parse(der: &CertificateDer<'_>, name: &str) -> Result<Self, IdentityError> {
        let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref())
            .map_err(|e| IdentityError::with_source(name, IdentityKind::MalformedCertificate, e))?;
        let validity = cert.validity();
        Ok(Self {
            subject: cert.subject().to_string(),
            issuer: cert.issuer().to_string(),
            serial: cert.raw_serial_as_string(),
            not_before_unix: validity.not_before.timestamp(),
            not_after_unix: validity.not_after.timestamp(),
        })
    }

    /// The subject distinguished name, e.g. `CN=1900000109, O=..., OU=...`.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The issuer distinguished name.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The serial number, as colon-separated hex bytes.
    pub fn serial(&self) -> &str {
        &self.serial
    }

    /// The start of the validity period.
    pub fn not_before(&self) -> SystemTime {
        unix_to_system_time(self.not_before_unix)
    }

    /// The end of the validity period (the certificate's expiry).
    pub fn not_after(&self) -> SystemTime {
        unix_to_system_time(self.not_after_unix)
    }

    /// Whether the certificate has expired at `now`.
    pub fn is_expired_at(&self, now: SystemTime) -> bool {
        system_time_to_unix(now) > self.not_after_unix
    }

    /// Whether the certificate expires (or has expired) within `window` of `now`.
    pub fn expires_within(&self, now: SystemTime, window: Duration) -> bool {
        let window = i64::try_from(window.as_secs()).unwrap_or(i64::MAX);
        system_time_to_unix(now).saturating_add(window) > self.not_after_unix
    }

    /// The expiry check, a pure function of the time it is given.
    fn check_at(&self, now: SystemTime, name: &str) -> Result<(), IdentityError> {
        if self.is_expired_at(now) {
            return Err(IdentityError::new(
                name,
                IdentityKind::Expired {
                    not_after: UtcTime(self.not_after_unix).to_string(),
                },
            ));
        }
        Ok(())
    }
}

impl fmt::Display for CertificateInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (valid until {})",
            self.subject,
            UtcTime(self.not_after_unix)
        )
    }
}

/// Why a client identity could not be loaded. The message always names the file.
///
/// Opaque: ask it questions with the `is_*()` predicates. Neither the private key nor the
/// PKCS#12 password ever appears in it.
#[derive(Debug, thiserror::Error)]
#[error("client identity `{file}`: {kind}")]
pub struct IdentityError {
    file: String,
    kind: IdentityKind,
    #[source]
    source: Option<BoxError>,
}

#[derive(Debug, thiserror::Error)]
enum IdentityKind {
    #[error("cannot read the file")]
    Read,
    #[error("the file is larger than {MAX_FILE_BYTES} bytes: not a certificate or key file")]
    TooLarge,
    #[error("malformed PEM")]
    MalformedPem,
    #[error("no CERTIFICATE found")]
    NoCertificate,
    #[error("no usable private key found (PKCS#8, PKCS#1 or SEC1 expected)")]
    NoPrivateKey,
    #[error("malformed certificate")]
    MalformedCertificate,
    #[error("wrong PKCS#12 password (WeChat Pay's default password is the mch_id)")]
    WrongPassword,
    #[error("malformed or unsupported PKCS#12 file")]
    MalformedPkcs12,
    #[error("unsupported private key")]
    UnsupportedKey,
    #[error("the private key does not match the certificate in `{certificate}`")]
    KeyMismatch { certificate: String },
    #[error("the certificate expired on {not_after}")]
    Expired { not_after: String },
}

impl IdentityError {
    fn new(file: &str, kind: IdentityKind) -> Self {
        Self {
            file: file.to_owned(),
            kind,
            source: None,
        }
    }

    fn with_source(file: &str, kind: IdentityKind, source: impl Into<BoxError>) -> Self {
        Self {
            file: file.to_owned(),
            kind,
            source: Some(source.into()),
        }
    }

    /// The file the problem was found in (a placeholder such as `<PKCS#12 data>` for bytes
    /// loaded from memory).
    pub fn file(&self) -> &str {
        &self.file
    }

    /// Whether the file could not be read (missing, unreadable, too large).
    pub fn is_io(&self) -> bool {
        matches!(self.kind, IdentityKind::Read | IdentityKind::TooLarge)
    }

    /// Whether the file's content is not a usable certificate, key or PKCS#12 archive.
    pub fn is_malformed(&self) -> bool {
        matches!(
            self.kind,
            IdentityKind::MalformedPem
                | IdentityKind::NoCertificate
                | IdentityKind::NoPrivateKey
                | IdentityKind::MalformedCertificate
                | IdentityKind::MalformedPkcs12
                | IdentityKind::UnsupportedKey
        )
    }

    /// Whether the PKCS#12 password is wrong.
    pub fn is_wrong_password(&self) -> bool {
        matches!(self.kind, IdentityKind::WrongPassword)
    }

    /// Whether the private key does not belong to the certificate.
    pub fn is_key_mismatch(&self) -> bool {
        matches!(self.kind, IdentityKind::KeyMismatch { .. })
    }

    /// Whether the certificate has expired.
    pub fn is_expired(&self) -> bool {
        matches!(self.kind, IdentityKind::Expired { .. })
    }
}

/// Reads the clock: the one place in this crate that may.
fn now() -> SystemTime {
    // Loading an identity checks expiry against the real time; the check itself
    // (`CertificateInfo::check_at`) takes the time as an input.
    #[allow(clippy::disallowed_methods)]
    SystemTime::now()
}

/// Reads a file of at most `MAX_FILE_BYTES`; the bytes (a private key, perhaps) are wiped
/// when dropped. The buffer is sized from the file's length first, so that it does not grow
/// (leaving unwiped copies behind) while reading a file that does not change meanwhile.
fn read_limited(path: &Path, name: &str) -> Result<Zeroizing<Vec<u8>>, IdentityError> {
    let file = std::fs::File::open(path)
        .map_err(|e| IdentityError::with_source(name, IdentityKind::Read, e))?;
    let len = file
        .metadata()
        .map_or(0, |m| m.len().min(MAX_FILE_BYTES + 1));
    let mut bytes = Zeroizing::new(Vec::with_capacity(
        usize::try_from(len).unwrap_or(0).saturating_add(1),
    ));
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| IdentityError::with_source(name, IdentityKind::Read, e))?;
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > MAX_FILE_BYTES {
        return Err(IdentityError::new(name, IdentityKind::TooLarge));
    }
    Ok(bytes)
}

/// Parses the key for signing. It is parsed from a borrow, so that this copy of the DER is
/// the one wiped when it drops (a provider's `load_private_key` takes ownership and drops its
/// copy unwiped). What `ring` keeps in the signing key is out of this crate's reach.
///
/// Copies this crate cannot wipe, either: the decrypted key that `p12-keystore` holds in its
/// archive and its decryption buffers (it does not wipe them), and the base64 buffer of
/// `rustls-pki-types`' PEM reader (freed unwiped, possibly after growing). The file bytes and
/// every copy made here are wiped.
fn load_key(key: PrivateKeyDer<'static>, name: &str) -> Result<Arc<dyn SigningKey>, IdentityError> {
    let key = Zeroizing::new(key);
    rustls::crypto::ring::sign::any_supported_type(&key)
        .map_err(|e| IdentityError::with_source(name, IdentityKind::UnsupportedKey, e))
}

fn pkcs12_error(name: &str, error: p12_keystore::error::Error) -> IdentityError {
    use p12_keystore::error::Error as P12;
    match error {
        // The MAC is keyed by the password; without a MAC, a wrong password shows up as
        // garbage after decryption (bad padding).
        P12::MacError(_) | P12::UnpadError => IdentityError::new(name, IdentityKind::WrongPassword),
        other => IdentityError::with_source(name, IdentityKind::MalformedPkcs12, other),
    }
}

fn unix_to_system_time(secs: i64) -> SystemTime {
    let magnitude = Duration::from_secs(secs.unsigned_abs());
    let time = if secs >= 0 {
        UNIX_EPOCH.checked_add(magnitude)
    } else {
        UNIX_EPOCH.checked_sub(magnitude)
    };
    // Certificate times lie between the years 1950 and 9999, which every platform's
    // `SystemTime` holds; the epoch is a harmless fallback for the impossible case.
    time.unwrap_or(UNIX_EPOCH)
}

fn system_time_to_unix(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_secs())
            .map(|s| -s)
            .unwrap_or(i64::MIN),
    }
}

/// A Unix time printed as `YYYY-MM-DD hh:mm:ss UTC`.
struct UtcTime(i64);

impl fmt::Display for UtcTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.0.div_euclid(86_400);
        let secs = self.0.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        write!(
            f,
            "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        )
    }
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day) (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wiped_on_drop<T: zeroize::ZeroizeOnDrop>(_: &T) {}

    #[test]
    fn key_file_bytes_are_read_into_a_buffer_wiped_on_drop() {
        let dir =
            std::env::temp_dir().join(format!("wxpay-transport-zeroize-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("key.pem");
        std::fs::write(
            &path,
            b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();

        let bytes = read_limited(&path, "key.pem").unwrap();

        wiped_on_drop(&bytes);
        assert!(bytes.starts_with(b"-----BEGIN PRIVATE KEY-----"));
        assert!(
            bytes.capacity() > bytes.len(),
            "sized up front, never grown"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn unix_times_print_as_utc_dates() {
        // Arrange / Act / Assert
        assert_eq!(UtcTime(0).to_string(), "1970-01-01 00:00:00 UTC");
        assert_eq!(UtcTime(951_782_400).to_string(), "2000-02-29 00:00:00 UTC");
        assert_eq!(
            UtcTime(1_893_456_000).to_string(),
            "2030-01-01 00:00:00 UTC"
        );
        assert_eq!(UtcTime(-1).to_string(), "1969-12-31 23:59:59 UTC");
    }

    fn info(not_after_unix: i64) -> CertificateInfo {
        CertificateInfo {
            subject: String::from("CN=1900000109"),
            issuer: String::from("CN=Tenpay.com Root CA"),
            serial: String::from("01"),
            not_before_unix: 0,
            not_after_unix,
        }
    }

    #[test]
    fn the_expiry_check_uses_the_time_it_is_given() {
        // Arrange
        let certificate = info(1_000);
        let before = UNIX_EPOCH + Duration::from_secs(999);
        let after = UNIX_EPOCH + Duration::from_secs(1_001);

        // Act
        let ok = certificate.check_at(before, "apiclient_cert.pem");
        let expired = certificate.check_at(after, "apiclient_cert.pem");

        // Assert
        assert!(ok.is_ok());
        let error = expired.err().map(|e| (e.is_expired(), e.to_string()));
        assert_eq!(
            error,
            Some((
                true,
                String::from(
                    "client identity `apiclient_cert.pem`: the certificate expired on 1970-01-01 00:16:40 UTC"
                )
            ))
        );
    }

    #[test]
    fn a_certificate_expiring_inside_the_window_is_flagged() {
        // Arrange
        let certificate = info(10 * 86_400);
        let now = UNIX_EPOCH + Duration::from_secs(86_400);

        // Act / Assert
        assert!(certificate.expires_within(now, EXPIRY_WARNING));
        assert!(!certificate.expires_within(now, Duration::from_secs(86_400)));
    }

    #[test]
    fn system_times_round_trip_through_unix_seconds() {
        // Arrange
        let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000);

        // Act / Assert
        assert_eq!(system_time_to_unix(t), 1_700_000_000);
        assert_eq!(unix_to_system_time(1_700_000_000), t);
        assert_eq!(system_time_to_unix(unix_to_system_time(-86_400)), -86_400);
    }
}
