//! The TLS server: client certificates are required and must chain to the mock's CA (else the
//! handshake fails); their validity period is judged later on the virtual clock (`CA_ERROR`).

use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig, SignatureScheme,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::Error;

/// What the mock knows of the certificate a connection presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClientIdentity {
    /// The subject's common name (the merchant id).
    pub(crate) cn: Option<String>,
    /// Validity, in ms since the epoch.
    pub(crate) not_before_ms: u64,
    pub(crate) not_after_ms: u64,
}

fn secs_to_ms(secs: i64) -> u64 {
    u64::try_from(secs).unwrap_or(0).saturating_mul(1000)
}

/// The subject CN of a certificate.
pub(crate) fn subject_cn(der: &CertificateDer<'_>) -> Option<String> {
    let (_, cert) = X509Certificate::from_der(der.as_ref()).ok()?;
    let cn = cert.subject().iter_common_name().next()?;
    cn.as_str().ok().map(str::to_owned)
}

/// The identity of a presented end-entity certificate.
pub(crate) fn identity(der: &CertificateDer<'_>) -> Option<ClientIdentity> {
    let (_, cert) = X509Certificate::from_der(der.as_ref()).ok()?;
    let cn = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_owned);
    let validity = cert.validity();
    Some(ClientIdentity {
        cn,
        not_before_ms: secs_to_ms(validity.not_before.timestamp()),
        not_after_ms: secs_to_ms(validity.not_after.timestamp()),
    })
}

/// Verifies the chain to the mock's CA at an instant inside the certificate's own validity,
/// so that expiry is left to the virtual clock.
#[derive(Debug)]
struct VirtualTimeVerifier {
    inner: Arc<dyn ClientCertVerifier>,
}

impl ClientCertVerifier for VirtualTimeVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let at = identity(end_entity)
            .map(|id| UnixTime::since_unix_epoch(Duration::from_millis(id.not_before_ms + 1000)))
            .unwrap_or(now);
        self.inner.verify_client_cert(end_entity, intermediates, at)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The server configuration: our certificate, client certificates from `ca` required.
pub(crate) fn server_config(
    ca: &CertificateDer<'static>,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    roots
        .add(ca.clone())
        .map_err(|e| Error::Tls { source: e.into() })?;
    let inner = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| Error::Tls { source: e.into() })?;
    let verifier = Arc::new(VirtualTimeVerifier { inner });
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls { source: e.into() })?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| Error::Tls { source: e.into() })?;
    Ok(Arc::new(config))
}
