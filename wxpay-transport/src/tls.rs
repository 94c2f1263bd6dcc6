//! TLS choices, made in one place: the ring provider, webpki roots plus explicit extra roots,
//! TLS 1.2 and 1.3, no early data.

use std::error::Error as StdError;
use std::io;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::sign::SingleCertAndKey;
use rustls::{AlertDescription, ClientConfig, RootCertStore};
use rustls_pki_types::CertificateDer;

use crate::error::{Kind, TransportError};
use crate::identity::ClientIdentity;

/// The crypto provider: ring, chosen explicitly (never a process-wide default).
pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The client configuration: webpki roots plus `extra_roots`, always verifying the server.
pub(crate) fn client_config(
    identity: Option<&ClientIdentity>,
    extra_roots: Vec<CertificateDer<'static>>,
) -> Result<Arc<ClientConfig>, TransportError> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    for root in extra_roots {
        roots.add(root).map_err(|e| {
            TransportError::with_source(
                Kind::Builder(String::from("unusable extra root certificate")),
                e,
            )
        })?;
    }
    let builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| {
            TransportError::with_source(
                Kind::Builder(String::from(
                    "TLS 1.2/1.3 not available from the ring provider",
                )),
                e,
            )
        })?
        .with_root_certificates(roots);
    let mut config = match identity {
        Some(identity) => builder
            .with_client_cert_resolver(Arc::new(SingleCertAndKey::from(identity.certified_key()))),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    // No 0-RTT: nothing of a request may leave before the handshake is complete, which is
    // what lets a handshake failure mean "not sent".
    config.enable_early_data = false;
    Ok(Arc::new(config))
}

/// Whether `error`, or one of its causes, is a TLS alert with which the server refused the
/// handshake (for example a missing or untrusted client certificate).
///
/// With TLS 1.3 the client completes its side of the handshake before the server has checked
/// the client certificate, so the server's refusal arrives as an alert while the request is
/// being written or its response awaited. These alerts belong to the handshake: a server sends
/// them instead of reading any application data, so the request was not processed.
pub(crate) fn is_handshake_rejection(error: &(dyn StdError + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(current) = next {
        if let Some(tls) = current.downcast_ref::<rustls::Error>() {
            return matches!(tls, rustls::Error::AlertReceived(alert) if is_handshake_alert(*alert));
        }
        // `io::Error::source()` skips the error it wraps: look inside explicitly.
        if let Some(inner) = current
            .downcast_ref::<io::Error>()
            .and_then(io::Error::get_ref)
        {
            let inner: &(dyn StdError + 'static) = inner;
            if is_handshake_rejection(inner) {
                return true;
            }
        }
        next = current.source();
    }
    false
}

fn is_handshake_alert(alert: AlertDescription) -> bool {
    matches!(
        alert,
        AlertDescription::AccessDenied
            | AlertDescription::BadCertificate
            | AlertDescription::CertificateExpired
            | AlertDescription::CertificateRequired
            | AlertDescription::CertificateRevoked
            | AlertDescription::CertificateUnknown
            | AlertDescription::HandshakeFailure
            | AlertDescription::UnknownCA
            | AlertDescription::UnsupportedCertificate
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_alert_inside_an_io_error_is_a_handshake_rejection() {
        // Arrange
        let alert = rustls::Error::AlertReceived(AlertDescription::CertificateRequired);
        let io = io::Error::new(io::ErrorKind::InvalidData, alert);

        // Act / Assert
        assert!(is_handshake_rejection(&io));
    }

    #[test]
    fn a_close_notify_or_plain_reset_is_not_a_handshake_rejection() {
        // Arrange
        let alert = rustls::Error::AlertReceived(AlertDescription::CloseNotify);
        let wrapped = io::Error::new(io::ErrorKind::InvalidData, alert);
        let reset = io::Error::from(io::ErrorKind::ConnectionReset);

        // Act / Assert
        assert!(!is_handshake_rejection(&wrapped));
        assert!(!is_handshake_rejection(&reset));
    }
}
