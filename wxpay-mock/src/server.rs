//! The serving loops: HTTPS with client certificates for the API, plain HTTP on loopback for
//! the admin API. Connections are tasks of their loop's `JoinSet`, so aborting a loop ends
//! every connection it accepted.

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::admin::{self, AdminInfo};
use crate::api::{self, Api};
use crate::journal::Arrival;
use crate::state::Shared;
use crate::tls::{self, ClientIdentity};

/// Largest request body read; larger ones are answered `XML_ERROR`.
const MAX_BODY: usize = wxpay_proto::DecodeLimits::DEFAULT.max_bytes;
/// Largest admin request body.
const MAX_ADMIN_BODY: usize = 1024 * 1024;
/// How long a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client may take to send request headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// A TCP stream that closes with RST (`SO_LINGER` 0) when its connection is reset on purpose.
struct ResettableTcp {
    inner: TcpStream,
    reset: Arc<AtomicBool>,
}

impl AsyncRead for ResettableTcp {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for ResettableTcp {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl Drop for ResettableTcp {
    fn drop(&mut self) {
        if self.reset.load(Ordering::SeqCst) {
            // Zero linger makes the close an RST instead of a FIN; a failure only means the
            // peer sees an orderly close instead.
            let _ = self.inner.set_zero_linger();
        }
    }
}

/// The service's way of telling hyper to drop the connection without answering.
#[derive(Debug)]
struct ResetConnection;

impl std::fmt::Display for ResetConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection reset by an injected fault")
    }
}

impl std::error::Error for ResetConnection {}

/// Accepts HTTPS connections until aborted.
pub(crate) async fn serve_https(listener: TcpListener, acceptor: TlsAcceptor, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    connections.spawn(https_connection(tcp, peer, acceptor.clone(), shared.clone()));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn https_connection(
    tcp: TcpStream,
    peer: SocketAddr,
    acceptor: TlsAcceptor,
    shared: Arc<Shared>,
) {
    let _ = tcp.set_nodelay(true);
    let reset = Arc::new(AtomicBool::new(false));
    let io = ResettableTcp {
        inner: tcp,
        reset: reset.clone(),
    };
    let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(io)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "TLS handshake refused");
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "TLS handshake timed out");
            return;
        }
    };
    let identity = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .and_then(tls::identity)
        // Shared by the connection's requests without copying its text.
        .map(Arc::new);
    let service = service_fn(move |req| {
        let shared = shared.clone();
        let identity = identity.clone();
        let reset = reset.clone();
        async move { serve_api(shared, req, identity, peer, reset).await }
    });
    let result = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(tls), service)
        .await;
    if let Err(e) = result {
        tracing::debug!(%peer, error = %e, "connection ended");
    }
}

fn response(status: u16, content_type: &str, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = header::HeaderValue::from_str(content_type) {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    r
}

async fn serve_api(
    shared: Arc<Shared>,
    req: Request<Incoming>,
    identity: Option<Arc<ClientIdentity>>,
    peer: SocketAddr,
    reset: Arc<AtomicBool>,
) -> Result<Response<Full<Bytes>>, ResetConnection> {
    let mut entry = Arrival::new(req.uri().path().to_owned(), peer);
    let api = Api::from_path(&entry.path, shared.behaviour.serve_sandbox_prefixes)
        .filter(|api| *api != Api::SendGroupRedpack || shared.behaviour.serve_group);
    let Some(api) = api else {
        entry.unix_ms = shared.now_ms();
        entry.outcome = "404".to_owned();
        entry.http_status = 404;
        shared.record(entry);
        return Ok(response(
            404,
            "text/plain; charset=UTF-8",
            "404 page not found",
        ));
    };
    entry.api = Some(api.name());
    if req.method() != Method::POST {
        entry.unix_ms = shared.now_ms();
        entry.outcome = "405".to_owned();
        entry.http_status = 405;
        shared.record(entry);
        return Ok(response(
            405,
            "text/plain; charset=UTF-8",
            "405 method not allowed",
        ));
    }
    let body = match Limited::new(req.into_body(), MAX_BODY + 1).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(()),
        Err(e) => {
            tracing::debug!(%peer, error = %e, "request body not read");
            return Err(ResetConnection);
        }
    };
    // The request runs in its own task: a client that hangs up (a timeout) does not stop a
    // commit in progress, as on the real server.
    let task_shared = shared.clone();
    let handled =
        tokio::spawn(
            async move { api::handle(&task_shared, api, body, identity, peer.ip()).await },
        );
    let Ok(mut reply) = handled.await else {
        return Err(ResetConnection);
    };
    // The time the handler read the clock (once, with the fault draw).
    entry.unix_ms = reply.arrived;
    entry.mch_id = reply.mch_id.take();
    entry.mch_billno = reply.mch_billno.take();
    entry.outcome = std::mem::take(&mut reply.outcome);
    entry.fault = reply.fault.take();
    entry.http_status = reply.status;
    shared.record(entry);
    if reply.reset {
        reset.store(true, Ordering::SeqCst);
        return Err(ResetConnection);
    }
    Ok(response(reply.status, reply.content_type, reply.body))
}

/// What the API answers `body` posted to `path` by the holder of `mch_id`'s valid
/// certificate from loopback: the same endpoint choice, size cap and handler as
/// [`serve_api`], without TLS, HTTP or the journal. An injected reset is status 0.
pub(crate) async fn answer_directly(
    shared: &Arc<Shared>,
    path: &str,
    body: &[u8],
    mch_id: &str,
) -> (u16, String) {
    let api = Api::from_path(path, shared.behaviour.serve_sandbox_prefixes)
        .filter(|api| *api != Api::SendGroupRedpack || shared.behaviour.serve_group);
    let Some(api) = api else {
        return (404, "404 page not found".to_owned());
    };
    // `serve_api` reads at most `MAX_BODY + 1` bytes and refuses more as too large.
    let body = if body.len() > MAX_BODY + 1 {
        Err(())
    } else {
        Ok(Bytes::copy_from_slice(body))
    };
    let identity = ClientIdentity {
        cn: Some(mch_id.to_owned()),
        not_before_ms: 0,
        not_after_ms: u64::MAX,
    };
    let peer = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let reply = api::handle(shared, api, body, Some(Arc::new(identity)), peer).await;
    if reply.reset {
        (0, String::new())
    } else {
        (reply.status, reply.body)
    }
}

/// Accepts admin connections (loopback peers only) until aborted.
pub(crate) async fn serve_admin(listener: TcpListener, shared: Arc<Shared>, info: Arc<AdminInfo>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) if peer.ip().is_loopback() => {
                    connections.spawn(admin_connection(tcp, shared.clone(), info.clone()));
                }
                Ok((_, peer)) => tracing::warn!(%peer, "admin connection from outside loopback refused"),
                Err(e) => {
                    tracing::warn!(error = %e, "admin accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn admin_connection(tcp: TcpStream, shared: Arc<Shared>, info: Arc<AdminInfo>) {
    let service = service_fn(move |req: Request<Incoming>| {
        let shared = shared.clone();
        let info = info.clone();
        async move {
            let method = req.method().clone();
            let path = req.uri().path().to_owned();
            let query = req.uri().query().map(str::to_owned);
            let body = match Limited::new(req.into_body(), MAX_ADMIN_BODY)
                .collect()
                .await
            {
                Ok(c) => c.to_bytes(),
                Err(_) => {
                    return Ok::<_, Infallible>(response(
                        413,
                        "application/json",
                        r#"{"error":"request body too large"}"#,
                    ));
                }
            };
            let answer = admin::route(&shared, &info, &method, &path, query.as_deref(), &body);
            Ok(response(answer.status, answer.content_type, answer.body))
        }
    });
    let result = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(tcp), service)
        .await;
    if let Err(e) = result {
        tracing::debug!(error = %e, "admin connection ended");
    }
}
