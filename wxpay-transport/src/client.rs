//! The production transport: hyper 1.x HTTP/1.1 over rustls, pooled, with failover.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, HOST, USER_AGENT};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject as _;
use tokio::sync::oneshot;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;

use crate::connect::{Target, remaining};
use crate::error::{Kind, TransportError};
use crate::identity::ClientIdentity;
use crate::pool::{Pool, Sender};
use crate::tls;
use crate::transport::{Response, Transport};

/// WeChat Pay's primary API domain.
pub const DEFAULT_BASE_URL: &str = "https://api.mch.weixin.qq.com";

/// WeChat Pay's backup API domain, tried when the primary cannot be reached at all.
pub const DEFAULT_BACKUP_BASE_URL: &str = "https://api2.mch.weixin.qq.com";

/// The `User-Agent` header sent with every request.
pub const USER_AGENT_VALUE: &str = concat!("wxpay-transport/", env!("CARGO_PKG_VERSION"));

/// Default limit for opening a connection (DNS, TCP and TLS handshake).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Default limit for a whole call, connection, failover and response body included.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Default cap on a response body. WeChat Pay's XML answers are a few kilobytes.
pub const DEFAULT_MAX_RESPONSE_BODY_BYTES: usize = 1024 * 1024;

/// Default time an idle keep-alive connection is kept for reuse.
pub const DEFAULT_POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Default number of idle keep-alive connections kept for reuse per base URL.
pub const DEFAULT_POOL_MAX_IDLE_PER_HOST: usize = 8;

/// The longest timeout the builder accepts.
const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);

/// The shortest timeout the builder accepts.
const MIN_TIMEOUT: Duration = Duration::from_millis(1);

/// How long a failed first request waits for its connection to report why it ended.
const VERDICT_WAIT: Duration = Duration::from_secs(1);

const CONTENT_TYPE_VALUE: &str = "text/xml; charset=utf-8";

/// The HTTPS transport to WeChat Pay (or to the mock): hyper 1.x over rustls, with the merchant
/// client certificate, pooled keep-alive connections and failover to the backup domain.
///
/// Cloning is cheap and clones share one connection pool. Build it with
/// [`HttpsTransport::builder()`]. It needs a Tokio runtime (with the time driver) to run.
///
/// # Timeouts, retries and cancellation
///
/// - Opening a connection (DNS, TCP, TLS) is limited by the connect timeout; a whole call,
///   failover and response body included, by the request timeout. No call hangs forever.
/// - A request is never retried. The only second attempt is the failover from the primary to
///   the backup base URL, and only when the primary's host did not resolve or could not be
///   connected to (refused, unreachable, connect timeout): the request provably never left.
/// - Dropping the future returned by [`post`](Transport::post) before it completes closes the
///   connection; the request may or may not have reached the server, exactly as for a timeout.
#[derive(Clone)]
pub struct HttpsTransport {
    shared: Arc<Shared>,
}

struct Shared {
    targets: Vec<Target>,
    tls: TlsConnector,
    pool: Pool,
    connect_timeout: Duration,
    request_timeout: Duration,
    max_response_body_bytes: usize,
    identity: Option<String>,
}

impl HttpsTransport {
    /// A builder with WeChat Pay's domains and the default limits, and no client identity yet.
    pub fn builder() -> HttpsTransportBuilder {
        HttpsTransportBuilder::new()
    }

    async fn send(&self, path: &str, body: Bytes) -> Result<Response, TransportError> {
        let shared = &self.shared;
        let started = Instant::now();
        let deadline = started
            .checked_add(shared.request_timeout)
            .unwrap_or(started);
        let mut result = self.attempt(0, path, body.clone(), deadline).await;
        for index in 1..shared.targets.len() {
            match &result {
                Err(e) if e.allows_failover() && Instant::now() < deadline => {
                    tracing::warn!(
                        error = %e,
                        backup = shared.targets[index].base,
                        "primary WeChat Pay domain unreachable; the request never left: failing over"
                    );
                    result = self.attempt(index, path, body.clone(), deadline).await;
                }
                _ => break,
            }
        }
        match &result {
            Ok(response) => tracing::debug!(
                path,
                status = response.status(),
                elapsed_ms = started.elapsed().as_millis(),
                "request answered"
            ),
            Err(e) => tracing::debug!(
                path,
                error = %e,
                may_have_been_sent = e.may_have_been_sent(),
                elapsed_ms = started.elapsed().as_millis(),
                "request failed"
            ),
        }
        result
    }

    async fn attempt(
        &self,
        index: usize,
        path: &str,
        body: Bytes,
        deadline: Instant,
    ) -> Result<Response, TransportError> {
        let shared = &self.shared;
        let Some(target) = shared.targets.get(index) else {
            return Err(TransportError::new(Kind::Builder(String::from(
                "no base URL configured",
            ))));
        };
        let authority = || target.authority.clone();
        let request_target = target.request_target(path)?;
        let request = http::Request::post(request_target)
            .header(HOST, target.authority.as_str())
            .header(USER_AGENT, USER_AGENT_VALUE)
            .header(CONTENT_TYPE, CONTENT_TYPE_VALUE)
            .body(Full::new(body))
            .map_err(|e| TransportError::with_source(Kind::InvalidPath(path.to_owned()), e))?;

        let Checkout {
            mut sender,
            verdict,
        } = self.sender_for(index, target, deadline).await?;

        // From here on the request is in hyper's hands: only hyper handing it back proves that
        // none of it was written.
        let response =
            match tokio::time::timeout_at(deadline, sender.try_send_request(request)).await {
                Err(_elapsed) => {
                    return Err(TransportError::new(Kind::ResponseTimeout {
                        authority: authority(),
                        after: shared.request_timeout,
                    }));
                }
                Ok(Err(mut e)) => {
                    let unsent = e.take_message().is_some();
                    let error = e.into_error();
                    let kind = if handshake_refused(&error, verdict, deadline).await {
                        Kind::Tls(authority())
                    } else if unsent {
                        Kind::ClosedBeforeSend(authority())
                    } else {
                        Kind::AfterSend(authority())
                    };
                    return Err(TransportError::with_source(kind, error));
                }
                Ok(Ok(response)) => response,
            };

        let status = response.status().as_u16();
        let announced = response
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let limit = shared.max_response_body_bytes;
        if announced.is_some_and(|n| n > u64::try_from(limit).unwrap_or(u64::MAX)) {
            return Err(TransportError::new(Kind::BodyTooLarge {
                authority: authority(),
                limit,
            }));
        }
        let body = match tokio::time::timeout_at(
            deadline,
            read_capped(response.into_body(), limit, &target.authority),
        )
        .await
        {
            Err(_elapsed) => {
                return Err(TransportError::new(Kind::ResponseTimeout {
                    authority: authority(),
                    after: shared.request_timeout,
                }));
            }
            Ok(result) => result?,
        };
        // The response is complete: the connection can serve the next call.
        shared.pool.checkin(index, sender);
        if !(200..300).contains(&status) {
            return Err(TransportError::new(Kind::Status {
                authority: authority(),
                status,
            }));
        }
        Ok(Response::new(status, body))
    }

    /// A ready connection to `target`: an idle pooled one, else a new one.
    async fn sender_for(
        &self,
        index: usize,
        target: &Target,
        deadline: Instant,
    ) -> Result<Checkout, TransportError> {
        let shared = &self.shared;
        while let Some(mut sender) = shared.pool.checkout(index) {
            // An idle connection is ready at once; one that is not within the connect timeout
            // is dropped in favour of a new connection (whose opening honours the deadline).
            let limit = connect_limit(shared.connect_timeout, deadline);
            match tokio::time::timeout_at(limit, sender.ready()).await {
                Ok(Ok(())) => {
                    tracing::trace!(authority = target.authority, "reusing a pooled connection");
                    return Ok(Checkout {
                        sender,
                        verdict: None,
                    });
                }
                Ok(Err(e)) => {
                    tracing::trace!(error = %e, "discarding a closed pooled connection");
                }
                Err(_elapsed) => {
                    tracing::trace!("discarding a pooled connection that did not become ready");
                }
            }
        }

        let limit = connect_limit(shared.connect_timeout, deadline);
        let stream = target.connect(&shared.tls, limit).await?;
        let (mut sender, connection) = hyper::client::conn::http1::Builder::new()
            .handshake(TokioIo::new(stream))
            .await
            .map_err(|e| {
                TransportError::with_source(Kind::ClosedBeforeSend(target.authority.clone()), e)
            })?;
        let authority = target.authority.clone();
        let (verdict_tx, verdict) = oneshot::channel();
        tokio::spawn(async move {
            let refused = match connection.await {
                Ok(()) => false,
                Err(e) => {
                    tracing::debug!(authority, error = %e, "connection ended with an error");
                    tls::is_handshake_rejection(&e)
                }
            };
            // Nobody listens once the first request went through: that is fine.
            let _ = verdict_tx.send(refused);
        });
        match tokio::time::timeout_at(limit, sender.ready()).await {
            Ok(Ok(())) => Ok(Checkout {
                sender,
                verdict: Some(verdict),
            }),
            // The server may refuse the client certificate (TLS 1.3) before the request is even
            // handed over: the connection task reads the alert and ends.
            Ok(Err(e)) => {
                let kind = if handshake_refused(&e, Some(verdict), limit).await {
                    Kind::Tls(target.authority.clone())
                } else {
                    Kind::ClosedBeforeSend(target.authority.clone())
                };
                Err(TransportError::with_source(kind, e))
            }
            Err(_elapsed) => Err(TransportError::new(Kind::ConnectTimeout {
                authority: target.authority.clone(),
                after: remaining(limit),
            })),
        }
    }
}

impl Transport for HttpsTransport {
    async fn post(&self, path: &str, body: Bytes) -> Result<Response, TransportError> {
        self.send(path, body).await
    }
}

impl fmt::Debug for HttpsTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shared = &self.shared;
        let bases: Vec<&str> = shared.targets.iter().map(|t| t.base.as_str()).collect();
        f.debug_struct("HttpsTransport")
            .field("base_urls", &bases)
            .field("identity", &shared.identity)
            .field("connect_timeout", &shared.connect_timeout)
            .field("request_timeout", &shared.request_timeout)
            .field("max_response_body_bytes", &shared.max_response_body_bytes)
            .finish_non_exhaustive()
    }
}

/// A connection ready for one request.
struct Checkout {
    sender: Sender,
    /// For a new connection: whether it ended because the server refused the TLS handshake.
    /// `None` for a pooled connection, which has served a request already.
    verdict: Option<oneshot::Receiver<bool>>,
}

/// Whether a request failed because the server refused the TLS handshake.
///
/// With TLS 1.3 the client finishes its side of the handshake before the server has checked
/// the client certificate; a refusal then arrives as a handshake alert on the first use of the
/// connection, either in the request's own error or in the error that ended the connection
/// (which `verdict` reports). A server sends such an alert instead of reading any application
/// data, so the request was not processed. Only a new connection (`verdict` is `Some`) can meet
/// the end of its handshake.
async fn handshake_refused(
    error: &hyper::Error,
    verdict: Option<oneshot::Receiver<bool>>,
    deadline: Instant,
) -> bool {
    let Some(verdict) = verdict else {
        return false;
    };
    if tls::is_handshake_rejection(error) {
        return true;
    }
    // The connection is ending; its task reports why within moments.
    let limit = Instant::now()
        .checked_add(VERDICT_WAIT)
        .map_or(deadline, |l| l.min(deadline));
    matches!(tokio::time::timeout_at(limit, verdict).await, Ok(Ok(true)))
}

/// The end of the connect timeout started now, or the deadline if that comes first.
fn connect_limit(connect_timeout: Duration, deadline: Instant) -> Instant {
    Instant::now()
        .checked_add(connect_timeout)
        .map_or(deadline, |limit| limit.min(deadline))
}

async fn read_capped(
    mut body: Incoming,
    limit: usize,
    authority: &str,
) -> Result<Bytes, TransportError> {
    let mut collected = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|e| TransportError::with_source(Kind::Body(authority.to_owned()), e))?;
        if let Ok(data) = frame.into_data() {
            if collected.len().saturating_add(data.len()) > limit {
                return Err(TransportError::new(Kind::BodyTooLarge {
                    authority: authority.to_owned(),
                    limit,
                }));
            }
            collected.extend_from_slice(&data);
        }
    }
    Ok(collected.freeze())
}

/// Configures an [`HttpsTransport`].
///
/// Defaults: base URL [`DEFAULT_BASE_URL`] with backup [`DEFAULT_BACKUP_BASE_URL`], connect
/// timeout [`DEFAULT_CONNECT_TIMEOUT`], request timeout [`DEFAULT_REQUEST_TIMEOUT`], body cap
/// [`DEFAULT_MAX_RESPONSE_BODY_BYTES`], up to [`DEFAULT_POOL_MAX_IDLE_PER_HOST`] idle
/// connections per base URL kept for [`DEFAULT_POOL_IDLE_TIMEOUT`], webpki roots only, no
/// client identity.
#[derive(Debug)]
#[must_use]
pub struct HttpsTransportBuilder {
    identity: Option<ClientIdentity>,
    base_url: String,
    backup_base_url: Option<String>,
    extra_roots: Vec<RootSource>,
    allow_plain_http: bool,
    connect_timeout: Duration,
    request_timeout: Duration,
    max_response_body_bytes: usize,
    pool_idle_timeout: Duration,
    pool_max_idle_per_host: usize,
}

#[derive(Debug)]
enum RootSource {
    Pem(Vec<u8>),
    PemFile(PathBuf),
    Der(Vec<u8>),
}

impl HttpsTransportBuilder {
    fn new() -> Self {
        Self {
            identity: None,
            base_url: DEFAULT_BASE_URL.to_owned(),
            backup_base_url: Some(DEFAULT_BACKUP_BASE_URL.to_owned()),
            extra_roots: Vec::new(),
            allow_plain_http: false,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            max_response_body_bytes: DEFAULT_MAX_RESPONSE_BODY_BYTES,
            pool_idle_timeout: DEFAULT_POOL_IDLE_TIMEOUT,
            pool_max_idle_per_host: DEFAULT_POOL_MAX_IDLE_PER_HOST,
        }
    }

    /// The merchant client certificate presented to the server (required by the red-packet
    /// APIs).
    pub fn identity(mut self, identity: ClientIdentity) -> Self {
        self.identity = Some(identity);
        self
    }

    /// The primary base URL, e.g. the mock's `https://127.0.0.1:PORT` or a sandbox prefix.
    ///
    /// Setting it also **removes the backup base URL**, so that a transport pointed at a test
    /// server never fails over to the real WeChat Pay; set one again with
    /// [`backup_base_url`](Self::backup_base_url) if you want one.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into();
        self.backup_base_url = None;
        self
    }

    /// The backup base URL, tried only when the primary's host cannot be resolved or connected
    /// to.
    pub fn backup_base_url(mut self, url: impl Into<String>) -> Self {
        self.backup_base_url = Some(url.into());
        self
    }

    /// No backup base URL: never fail over.
    pub fn no_backup(mut self) -> Self {
        self.backup_base_url = None;
        self
    }

    /// Also trusts the root certificate(s) in this PEM data, on top of the webpki roots. This
    /// is how a client trusts the mock's CA.
    pub fn add_root_certificate_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.extra_roots.push(RootSource::Pem(pem.into()));
        self
    }

    /// Also trusts the root certificate(s) in this PEM file.
    pub fn add_root_certificate_pem_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.extra_roots.push(RootSource::PemFile(path.into()));
        self
    }

    /// Also trusts this DER-encoded root certificate.
    pub fn add_root_certificate_der(mut self, der: impl Into<Vec<u8>>) -> Self {
        self.extra_roots.push(RootSource::Der(der.into()));
        self
    }

    /// Accepts `http://` base URLs (no TLS at all). For wiremock-style test servers only:
    /// without this call, building with an `http://` URL fails with an error for which
    /// [`is_plain_http_refused()`](TransportError::is_plain_http_refused) is true.
    pub fn allow_plain_http(mut self) -> Self {
        self.allow_plain_http = true;
        self
    }

    /// The limit for opening a connection: DNS, TCP connect and TLS handshake.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The limit for a whole call: connection, failover, request and the complete response.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// The largest response body accepted, in bytes.
    pub fn max_response_body_bytes(mut self, limit: usize) -> Self {
        self.max_response_body_bytes = limit;
        self
    }

    /// How long an idle keep-alive connection is kept for reuse (default
    /// [`DEFAULT_POOL_IDLE_TIMEOUT`]): a connection idle for longer is closed instead of
    /// serving the next request. Between 1 ms and 24 h, like the other timeouts; to disable
    /// reuse, set [`pool_max_idle_per_host`](Self::pool_max_idle_per_host) to 0.
    pub fn pool_idle_timeout(mut self, timeout: Duration) -> Self {
        self.pool_idle_timeout = timeout;
        self
    }

    /// How many idle keep-alive connections are kept per base URL for reuse (default
    /// [`DEFAULT_POOL_MAX_IDLE_PER_HOST`]). 0 disables reuse: every request opens a new
    /// connection, with its own TLS handshake, closed after the response. Any number is valid.
    pub fn pool_max_idle_per_host(mut self, max: usize) -> Self {
        self.pool_max_idle_per_host = max;
        self
    }

    /// Checks the configuration and builds the transport.
    ///
    /// Fails (with [`is_builder()`](TransportError::is_builder) true) on an invalid base URL, an
    /// `http://` URL without [`allow_plain_http`](Self::allow_plain_http), an unreadable or
    /// invalid extra root certificate, or a timeout (connect, request or pool idle) under 1 ms
    /// or over a day.
    pub fn build(self) -> Result<HttpsTransport, TransportError> {
        for (name, timeout) in [
            ("connect timeout", self.connect_timeout),
            ("request timeout", self.request_timeout),
            ("pool idle timeout", self.pool_idle_timeout),
        ] {
            if !(MIN_TIMEOUT..=MAX_TIMEOUT).contains(&timeout) {
                return Err(TransportError::new(Kind::Builder(format!(
                    "the {name} must be between 1 ms and 24 h"
                ))));
            }
        }
        let mut targets = vec![Target::parse(&self.base_url, self.allow_plain_http)?];
        if let Some(backup) = &self.backup_base_url {
            targets.push(Target::parse(backup, self.allow_plain_http)?);
        }
        let mut roots = Vec::new();
        for source in self.extra_roots {
            roots.extend(root_certificates(source)?);
        }
        let config = tls::client_config(self.identity.as_ref(), roots)?;
        Ok(HttpsTransport {
            shared: Arc::new(Shared {
                targets,
                tls: TlsConnector::from(config),
                pool: Pool::new(self.pool_idle_timeout, self.pool_max_idle_per_host),
                connect_timeout: self.connect_timeout,
                request_timeout: self.request_timeout,
                max_response_body_bytes: self.max_response_body_bytes,
                identity: self.identity.map(|i| i.certificate().to_string()),
            }),
        })
    }
}

fn root_certificates(source: RootSource) -> Result<Vec<CertificateDer<'static>>, TransportError> {
    let (roots, origin) = match source {
        RootSource::Der(der) => return Ok(vec![CertificateDer::from(der)]),
        RootSource::Pem(pem) => (
            CertificateDer::pem_slice_iter(&pem).collect::<Result<Vec<_>, _>>(),
            String::from("<root certificate PEM>"),
        ),
        RootSource::PemFile(path) => (
            CertificateDer::pem_file_iter(&path).and_then(Iterator::collect),
            path.display().to_string(),
        ),
    };
    let roots = roots.map_err(|e| {
        TransportError::with_source(
            Kind::Builder(format!("cannot read root certificates from `{origin}`")),
            e,
        )
    })?;
    if roots.is_empty() {
        return Err(TransportError::new(Kind::Builder(format!(
            "no CERTIFICATE found in `{origin}`"
        ))));
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_user_agent_names_the_crate_and_its_version() {
        // Arrange / Act / Assert
        assert_eq!(
            USER_AGENT_VALUE,
            format!("wxpay-transport/{}", env!("CARGO_PKG_VERSION"))
        );
    }

    #[test]
    fn the_default_transport_targets_wechat_with_the_backup_domain() {
        // Arrange / Act
        let transport = HttpsTransport::builder().build();

        // Assert
        let bases = transport
            .map(|t| {
                t.shared
                    .targets
                    .iter()
                    .map(|t| t.base.clone())
                    .collect::<Vec<_>>()
            })
            .ok();
        assert_eq!(
            bases,
            Some(vec![
                String::from("https://api.mch.weixin.qq.com"),
                String::from("https://api2.mch.weixin.qq.com"),
            ])
        );
    }

    #[test]
    fn setting_a_base_url_drops_the_backup_so_tests_never_reach_wechat() {
        // Arrange / Act
        let transport = HttpsTransport::builder()
            .base_url("https://127.0.0.1:9443")
            .build();

        // Assert
        let count = transport.map(|t| t.shared.targets.len()).ok();
        assert_eq!(count, Some(1));
    }

    #[test]
    fn a_zero_timeout_is_a_builder_error() {
        // Arrange / Act
        let result = HttpsTransport::builder()
            .request_timeout(Duration::ZERO)
            .build();

        // Assert
        assert!(result.is_err_and(|e| e.is_builder()));
    }

    #[test]
    fn a_pool_idle_timeout_under_a_millisecond_or_over_a_day_is_a_builder_error_naming_it() {
        // Arrange
        let bad = [
            Duration::ZERO,
            MIN_TIMEOUT - Duration::from_nanos(1),
            MAX_TIMEOUT + Duration::from_millis(1),
        ];

        // Act / Assert
        for timeout in bad {
            let result = HttpsTransport::builder().pool_idle_timeout(timeout).build();
            assert!(
                result
                    .is_err_and(|e| e.is_builder() && e.to_string().contains("pool idle timeout")),
                "{timeout:?}"
            );
        }
    }

    #[test]
    fn pool_limits_at_their_bounds_build() {
        // Arrange / Act
        let shortest = HttpsTransport::builder()
            .pool_idle_timeout(MIN_TIMEOUT)
            .pool_max_idle_per_host(0)
            .build();
        let longest = HttpsTransport::builder()
            .pool_idle_timeout(MAX_TIMEOUT)
            .pool_max_idle_per_host(usize::MAX)
            .build();

        // Assert
        assert!(shortest.is_ok());
        assert!(longest.is_ok());
    }

    #[test]
    fn garbage_instead_of_a_root_certificate_is_a_builder_error() {
        // Arrange / Act
        let result = HttpsTransport::builder()
            .add_root_certificate_pem(b"not a certificate".to_vec())
            .build();

        // Assert
        assert!(result.is_err_and(|e| e.is_builder()));
    }
}
