//! Base URLs and opening connections: DNS, TCP, TLS, each failure classified before any byte of
//! a request exists on the wire.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http::uri::PathAndQuery;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::error::{Kind, TransportError};

/// One base URL, parsed and checked once when the transport is built.
#[derive(Clone, Debug)]
pub(crate) struct Target {
    /// The base URL as configured, for `Debug` and logs.
    pub(crate) base: String,
    https: bool,
    /// The host for DNS, without IPv6 brackets.
    host: String,
    port: u16,
    /// `host[:port]` as written in the URL: the `Host` header and error messages.
    pub(crate) authority: String,
    /// The base path without its trailing slash (empty for the usual base URLs).
    prefix: String,
    server_name: ServerName<'static>,
}

impl Target {
    pub(crate) fn parse(url: &str, allow_plain_http: bool) -> Result<Self, TransportError> {
        let invalid =
            |why: &str| TransportError::new(Kind::Builder(format!("base URL `{url}` {why}")));
        let uri: http::Uri = url.parse().map_err(|e| {
            TransportError::with_source(Kind::Builder(format!("invalid base URL `{url}`")), e)
        })?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") if allow_plain_http => false,
            Some("http") => return Err(TransportError::new(Kind::PlainHttp(url.to_owned()))),
            _ => return Err(invalid("must start with https://")),
        };
        let Some(authority) = uri.authority() else {
            return Err(invalid("has no host"));
        };
        if authority.as_str().contains('@') {
            return Err(invalid("must not contain user information"));
        }
        if uri.query().is_some() {
            return Err(invalid("must not contain a query"));
        }
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        if host.is_empty() {
            return Err(invalid("has no host"));
        }
        let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
        let server_name = ServerName::try_from(host.clone()).map_err(|e| {
            TransportError::with_source(
                Kind::Builder(format!("base URL `{url}` has an invalid host")),
                e,
            )
        })?;
        Ok(Self {
            base: url.to_owned(),
            https,
            host,
            port,
            authority: authority.as_str().to_owned(),
            prefix: uri.path().trim_end_matches('/').to_owned(),
            server_name,
        })
    }

    /// The origin-form request target for `path` under this base URL.
    pub(crate) fn request_target(&self, path: &str) -> Result<PathAndQuery, TransportError> {
        let joined = format!("{}/{}", self.prefix, path.trim_start_matches('/'));
        PathAndQuery::try_from(joined)
            .map_err(|e| TransportError::with_source(Kind::InvalidPath(path.to_owned()), e))
    }

    /// Opens a connection: DNS, TCP, then (for https) the TLS handshake, within `limit`.
    ///
    /// Every error from here is "not sent": no byte of the request exists on the wire before
    /// this returns (early data is disabled). A limit that passes while the name is still
    /// being resolved is reported as a DNS failure (a resolver that never answers), one that
    /// passes later as a connect timeout.
    pub(crate) async fn connect(
        &self,
        tls: &TlsConnector,
        limit: Instant,
    ) -> Result<Stream, TransportError> {
        let started = Instant::now();
        let lookup = tokio::net::lookup_host((self.host.as_str(), self.port));
        let addrs: Vec<SocketAddr> = match tokio::time::timeout_at(limit, lookup).await {
            Ok(Ok(addrs)) => addrs.collect(),
            Ok(Err(e)) => {
                return Err(TransportError::with_source(Kind::Dns(self.host.clone()), e));
            }
            Err(_elapsed) => {
                return Err(TransportError::new(Kind::DnsTimeout {
                    host: self.host.clone(),
                    after: limit.saturating_duration_since(started),
                }));
            }
        };
        let work = async {
            let mut last_error = None;
            let mut tcp = None;
            for addr in addrs {
                match TcpStream::connect(addr).await {
                    Ok(stream) => {
                        tcp = Some(stream);
                        break;
                    }
                    Err(e) => last_error = Some(e),
                }
            }
            let tcp = match (tcp, last_error) {
                (Some(tcp), _) => tcp,
                (None, Some(e)) => {
                    return Err(TransportError::with_source(
                        Kind::Connect(self.authority.clone()),
                        e,
                    ));
                }
                (None, None) => return Err(TransportError::new(Kind::Dns(self.host.clone()))),
            };
            // Small requests: send them without waiting for Nagle.
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "could not set TCP_NODELAY");
            }
            if !self.https {
                return Ok(Stream::Plain(tcp));
            }
            let tls = tls
                .connect(self.server_name.clone(), tcp)
                .await
                .map_err(|e| TransportError::with_source(Kind::Tls(self.authority.clone()), e))?;
            Ok(Stream::Tls(Box::new(tls)))
        };
        match tokio::time::timeout_at(limit, work).await {
            Ok(result) => result,
            Err(_elapsed) => Err(TransportError::new(Kind::ConnectTimeout {
                authority: self.authority.clone(),
                after: limit.saturating_duration_since(started),
            })),
        }
    }
}

/// A TCP connection, with TLS unless plain http was explicitly allowed.
#[derive(Debug)]
pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Plain(s) => s.is_write_vectored(),
            Self::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_flush(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// The time left before `deadline`, for messages.
pub(crate) fn remaining(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_is_refused_unless_allowed() {
        // Arrange / Act
        let refused = Target::parse("http://127.0.0.1:8080", false);
        let allowed = Target::parse("http://127.0.0.1:8080", true);

        // Assert
        assert!(refused.is_err_and(|e| e.is_plain_http_refused() && e.is_builder()));
        assert!(allowed.is_ok());
    }

    #[test]
    fn base_paths_and_request_paths_join_with_one_slash() {
        // Arrange
        let sandbox = Target::parse("https://api.mch.weixin.qq.com/xdc/apiv2sandbox/", false);
        let plain = Target::parse("https://api.mch.weixin.qq.com", false);

        // Act
        let a = sandbox.and_then(|t| t.request_target("/mmpaymkttransfers/sendredpack"));
        let b = plain.and_then(|t| t.request_target("mmpaymkttransfers/gethbinfo"));

        // Assert
        assert_eq!(
            a.ok().map(|p| p.to_string()).as_deref(),
            Some("/xdc/apiv2sandbox/mmpaymkttransfers/sendredpack")
        );
        assert_eq!(
            b.ok().map(|p| p.to_string()).as_deref(),
            Some("/mmpaymkttransfers/gethbinfo")
        );
    }

    #[test]
    fn urls_with_credentials_queries_or_other_schemes_are_builder_errors() {
        // Arrange
        let bad = [
            "ftp://api.mch.weixin.qq.com",
            "https://user:pw@api.mch.weixin.qq.com",
            "https://api.mch.weixin.qq.com/?a=b",
            "not a url",
            "/just/a/path",
        ];

        // Act / Assert
        for url in bad {
            let result = Target::parse(url, true);
            assert!(result.is_err_and(|e| e.is_builder()), "{url}");
        }
    }

    #[test]
    fn ipv6_hosts_lose_their_brackets_for_dns_but_keep_them_in_the_host_header() {
        // Arrange / Act
        let target = Target::parse("https://[::1]:8443", false);

        // Assert
        let (host, authority, port) = match target {
            Ok(t) => (t.host, t.authority, t.port),
            Err(e) => panic!("{e}"),
        };
        assert_eq!(host, "::1");
        assert_eq!(authority, "[::1]:8443");
        assert_eq!(port, 8443);
    }
}
