//! Loading the merchant client identity from PEM and PKCS#12.

use std::process::Command;
use std::time::{Duration, SystemTime};

use p12_keystore::{EncryptionAlgorithm, MacAlgorithm};
use wxpay_transport::ClientIdentity;

use crate::support::{Ca, MCH_ID, scratch_dir, write};

#[test]
fn a_pem_identity_reports_the_certificate_subject_and_expiry() {
    // Arrange
    let ca = Ca::new("wxpay test CA");
    let client = ca.client_with(|p| {
        p.not_after = rcgen::date_time_ymd(2090, 6, 30);
    });
    let dir = scratch_dir("pem-info");
    let cert = write(&dir, "apiclient_cert.pem", &client.cert_pem);
    let key = write(&dir, "apiclient_key.pem", &client.key_pem);

    // Act
    let identity = ClientIdentity::from_pem_files(&cert, &key).expect("load PEM identity");

    // Assert
    let info = identity.certificate();
    assert!(
        info.subject().contains(&format!("CN={MCH_ID}")),
        "{}",
        info.subject()
    );
    assert!(
        info.issuer().contains("CN=wxpay test CA"),
        "{}",
        info.issuer()
    );
    let expiry = SystemTime::UNIX_EPOCH + Duration::from_secs(3_802_464_000); // 2090-06-30
    assert_eq!(info.not_after(), expiry);
    assert!(
        info.to_string()
            .contains("valid until 2090-06-30 00:00:00 UTC"),
        "{info}"
    );
    assert!(identity.origin().contains("apiclient_cert.pem"));
}

#[test]
fn a_modern_pkcs12_file_loads_with_the_mch_id_as_password() {
    // Arrange
    let client = Ca::new("wxpay test CA").client();
    let p12 = client.pkcs12(
        MCH_ID,
        EncryptionAlgorithm::PbeWithHmacSha256AndAes256,
        MacAlgorithm::HmacSha256,
    );
    let dir = scratch_dir("p12-modern");
    let path = write(&dir, "apiclient_cert.p12", p12);

    // Act
    let identity = ClientIdentity::from_pkcs12_file(&path, MCH_ID).expect("load PKCS#12");

    // Assert
    assert!(identity.certificate().subject().contains(MCH_ID));
}

#[test]
fn a_legacy_rc2_40_pkcs12_file_with_a_sha1_mac_loads() {
    // Arrange: the encryption OpenSSL's `-legacy` (and WeChat's files) use for certificates.
    let client = Ca::new("wxpay test CA").client();
    let p12 = client.pkcs12(
        MCH_ID,
        EncryptionAlgorithm::PbeWithShaAnd40BitRc4Cbc, // p12-keystore's name for the RC2-40 OID
        MacAlgorithm::HmacSha1,
    );
    let dir = scratch_dir("p12-rc2");
    let path = write(&dir, "apiclient_cert.p12", p12);

    // Act
    let identity = ClientIdentity::from_pkcs12_file(&path, MCH_ID);

    // Assert
    let subject = identity.map(|i| i.certificate().subject().to_owned());
    assert!(subject.is_ok_and(|s| s.contains(MCH_ID)));
}

#[test]
fn a_legacy_3des_pkcs12_file_loads() {
    // Arrange
    let client = Ca::new("wxpay test CA").client();
    let p12 = client.pkcs12(
        MCH_ID,
        EncryptionAlgorithm::PbeWithShaAnd3KeyTripleDesCbc,
        MacAlgorithm::HmacSha1,
    );

    // Act
    let identity = ClientIdentity::from_pkcs12(&p12, MCH_ID);

    // Assert
    assert!(identity.is_ok_and(|i| i.certificate().subject().contains(MCH_ID)));
}

#[test]
fn a_legacy_pkcs12_file_made_by_openssl_loads() {
    // Arrange: exactly what WeChat-style tooling produces (RC2-40 certificate bag, 3DES key
    // bag, SHA-1 MAC). Needs the openssl command with its legacy provider (.ci/run installs it).
    let client = Ca::new("wxpay test CA").client();
    let dir = scratch_dir("p12-openssl");
    let cert = write(&dir, "apiclient_cert.pem", &client.cert_pem);
    let key = write(&dir, "apiclient_key.pem", &client.key_pem);
    let p12 = dir.join("apiclient_cert.p12");
    let made = Command::new("openssl")
        .args(["pkcs12", "-export", "-legacy", "-passout"])
        .arg(format!("pass:{MCH_ID}"))
        .arg("-in")
        .arg(&cert)
        .arg("-inkey")
        .arg(&key)
        .arg("-out")
        .arg(&p12)
        .output();
    assert!(
        made.is_ok_and(|o| o.status.success()),
        "`openssl pkcs12 -export -legacy` failed: install the openssl command (.ci/run does)"
    );

    // Act
    let identity = ClientIdentity::from_pkcs12_file(&p12, MCH_ID);

    // Assert
    assert!(identity.is_ok_and(|i| i.certificate().subject().contains(MCH_ID)));
}

#[test]
fn a_wrong_pkcs12_password_is_reported_as_such_naming_the_file() {
    // Arrange
    let client = Ca::new("wxpay test CA").client();
    let p12 = client.pkcs12(
        MCH_ID,
        EncryptionAlgorithm::PbeWithShaAnd40BitRc4Cbc,
        MacAlgorithm::HmacSha1,
    );
    let dir = scratch_dir("p12-password");
    let path = write(&dir, "apiclient_cert.p12", p12);

    // Act
    let error = ClientIdentity::from_pkcs12_file_with_password(&path, "not-the-password")
        .expect_err("a wrong password must fail");

    // Assert
    assert!(error.is_wrong_password());
    assert_eq!(error.file(), path.display().to_string());
    let message = error.to_string();
    assert!(message.contains("apiclient_cert.p12"), "{message}");
    assert!(message.contains("wrong PKCS#12 password"), "{message}");
    assert!(!message.contains("not-the-password"), "{message}");
}

#[test]
fn a_key_that_does_not_match_the_certificate_is_refused_naming_the_file() {
    // Arrange
    let ca = Ca::new("wxpay test CA");
    let client = ca.client();
    let other = ca.client();
    let dir = scratch_dir("mismatch");
    let cert = write(&dir, "apiclient_cert.pem", &client.cert_pem);
    let key = write(&dir, "apiclient_key.pem", &other.key_pem);

    // Act
    let error = ClientIdentity::from_pem_files(&cert, &key).expect_err("mismatch must fail");

    // Assert
    assert!(error.is_key_mismatch());
    assert_eq!(error.file(), key.display().to_string());
    let message = error.to_string();
    assert!(message.contains("apiclient_key.pem"), "{message}");
    assert!(message.contains("apiclient_cert.pem"), "{message}");
}

#[test]
fn an_expired_certificate_is_refused_naming_the_file_and_the_date() {
    // Arrange
    let client = Ca::new("wxpay test CA").client_with(|p| {
        p.not_before = rcgen::date_time_ymd(2020, 1, 1);
        p.not_after = rcgen::date_time_ymd(2021, 1, 1);
    });
    let dir = scratch_dir("expired");
    let cert = write(&dir, "apiclient_cert.pem", &client.cert_pem);
    let key = write(&dir, "apiclient_key.pem", &client.key_pem);

    // Act
    let error = ClientIdentity::from_pem_files(&cert, &key).expect_err("expired must fail");

    // Assert
    assert!(error.is_expired());
    let message = error.to_string();
    assert!(message.contains("apiclient_cert.pem"), "{message}");
    assert!(message.contains("2021-01-01"), "{message}");
}

#[test]
fn a_sec1_ec_private_key_loads() {
    // Arrange
    let client = Ca::new("wxpay test CA").client();
    let sec1 = sec1_from_pkcs8(&client.key_pkcs8);
    let key_pem = pem("EC PRIVATE KEY", &sec1);

    // Act
    let identity = ClientIdentity::from_pem(client.cert_pem.as_bytes(), key_pem.as_bytes());

    // Assert
    assert!(identity.is_ok_and(|i| i.certificate().subject().contains(MCH_ID)));
}

#[test]
fn a_pkcs1_rsa_private_key_from_openssl_loads() {
    // Arrange: rcgen cannot make RSA keys with ring, so OpenSSL makes the pair (.ci/run
    // installs the openssl command).
    let dir = scratch_dir("pkcs1");
    let key = dir.join("apiclient_key.pem");
    let cert = dir.join("apiclient_cert.pem");
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
        ])
        .args(["-subj", "/CN=1900000109"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .is_ok_and(|o| o.status.success())
        && Command::new("openssl")
            .args(["rsa", "-traditional", "-in"])
            .arg(&key)
            .arg("-out")
            .arg(&key)
            .output()
            .is_ok_and(|o| o.status.success());
    assert!(
        made,
        "openssl could not make an RSA pair: install the openssl command"
    );
    let key_text = std::fs::read_to_string(&key).expect("read key");
    assert!(
        key_text.contains("BEGIN RSA PRIVATE KEY"),
        "not PKCS#1: {key:?}"
    );

    // Act
    let identity = ClientIdentity::from_pem_files(&cert, &key);

    // Assert
    assert!(identity.is_ok_and(|i| i.certificate().subject().contains(MCH_ID)));
}

#[test]
fn a_missing_file_is_an_io_error_naming_the_file() {
    // Arrange
    let dir = scratch_dir("missing");
    let path = dir.join("apiclient_cert.p12");

    // Act
    let error = ClientIdentity::from_pkcs12_file(&path, MCH_ID).expect_err("missing file");

    // Assert
    assert!(error.is_io());
    assert!(error.to_string().contains("apiclient_cert.p12"));
}

#[test]
fn garbage_instead_of_a_key_is_malformed_without_quoting_the_file() {
    // Arrange
    let client = Ca::new("wxpay test CA").client();
    let garbage = b"-----BEGIN PRIVATE KEY-----\nc2VjcmV0!!\n-----END PRIVATE KEY-----\n";

    // Act
    let error =
        ClientIdentity::from_pem(client.cert_pem.as_bytes(), garbage).expect_err("garbage key");

    // Assert
    assert!(error.is_malformed());
    assert!(!format!("{error:?}").contains("c2VjcmV0"));
}

#[test]
fn the_private_key_never_appears_in_debug_output() {
    // Arrange
    let client = Ca::new("wxpay test CA").client();
    let identity = ClientIdentity::from_pem(client.cert_pem.as_bytes(), client.key_pem.as_bytes())
        .expect("load identity");
    let key_body: String = client
        .key_pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();

    // Act
    let debug = format!("{identity:?}");

    // Assert
    assert!(debug.contains("** redacted **"), "{debug}");
    assert!(!debug.contains(&key_body[..16]), "{debug}");
}

/// The SEC1 `ECPrivateKey` inside a PKCS#8 `PrivateKeyInfo` (its last OCTET STRING).
fn sec1_from_pkcs8(pkcs8: &[u8]) -> Vec<u8> {
    fn tlv(input: &[u8]) -> (u8, &[u8], &[u8]) {
        let tag = input[0];
        let (len, header) = match input[1] {
            n if n < 0x80 => (usize::from(n), 2),
            0x81 => (usize::from(input[2]), 3),
            0x82 => (usize::from(input[2]) << 8 | usize::from(input[3]), 4),
            other => panic!("unexpected DER length byte {other:#x}"),
        };
        (tag, &input[header..header + len], &input[header + len..])
    }
    let (_, info, _) = tlv(pkcs8);
    let (_, _version, rest) = tlv(info);
    let (_, _algorithm, rest) = tlv(rest);
    let (tag, key, _) = tlv(rest);
    assert_eq!(tag, 0x04, "PKCS#8 private key is an OCTET STRING");
    key.to_vec()
}

/// PEM-encodes `der` with `label`.
fn pem(label: &str, der: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut encoded = String::new();
    for chunk in der.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                encoded.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                encoded.push('=');
            }
        }
    }
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in encoded.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("ascii"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}
