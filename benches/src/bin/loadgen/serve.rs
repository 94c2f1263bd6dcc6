//! The server process: `loadgen serve` runs wxpay-mock and, beside it, a bare hyper + rustls
//! server on the same certificates (client certificate required, same CA) that answers every
//! request with one canned `sendredpack` success (echoing the request's billno). Both listen
//! on 127.0.0.1 only.
//!
//! It prints one JSON line (`Ready`) on stdout when both listen, then serves until its stdin
//! closes (the driving process ended, however it ended) or its lifetime runs out.

use std::convert::Infallible;
use std::io::Read as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, header};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::json;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use wxpay_mock::{Fen, Limits, MerchantConfig, MockServer};
use wxpay_proto::{ReturnHeader, SendResponse, XmlMessage as _};

use benches::Fixture;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A balance no run can spend: 10^15 fen (10 trillion yuan).
const HUGE_BALANCE: Fen = Fen::new(1_000_000_000_000_000);

/// Where the two servers listen, as the serving process announces it.
#[derive(Debug, Clone)]
pub(crate) struct Ready {
    /// wxpay-mock's base URL.
    pub(crate) mock_url: String,
    /// The bare server's base URL.
    pub(crate) bare_url: String,
    /// The fixture merchant's `merchant.toml`.
    pub(crate) merchant_toml: PathBuf,
}

impl Ready {
    fn to_line(&self) -> String {
        json!({
            "mock_url": self.mock_url,
            "bare_url": self.bare_url,
            "merchant_toml": self.merchant_toml,
        })
        .to_string()
    }

    /// Parses the announcement line.
    pub(crate) fn from_line(line: &str) -> Result<Self, BoxError> {
        let v: serde_json::Value = serde_json::from_str(line)?;
        let text = |name: &str| {
            v[name]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| format!("the server's announcement lacks {name}: {line}"))
        };
        Ok(Self {
            mock_url: text("mock_url")?,
            bare_url: text("bare_url")?,
            merchant_toml: PathBuf::from(text("merchant_toml")?),
        })
    }
}

/// The merchant of the fixture (its mch_id, appid and API key), with every limit that a load
/// run could reach raised out of the way: rate, per-user count and amount, merchant daily
/// amount, balance.
pub(crate) fn load_merchant(fixture: &Fixture) -> Result<MerchantConfig, BoxError> {
    let limits = Limits::DEFAULT
        .freq_per_minute(u32::MAX)
        .sendnum_per_user_per_day(u32::MAX)
        .rcvd_amount_per_user_per_day(Fen::new(u64::MAX))
        .send_amount_per_day(Fen::new(u64::MAX));
    Ok(MerchantConfig::new(fixture.param("mch_id")?)
        .appid(fixture.param("wxappid")?)
        .api_key(fixture.api_key.clone())
        .balance(HUGE_BALANCE)
        .limits(limits))
}

/// The canned answer of the bare server: a `sendredpack` success as the mock writes it, cut
/// where the request's own `mch_billno` goes (a success must echo it, or the client cannot
/// tell which request it answers). It carries the echoes that are the same for every request
/// of the run (`mch_id`, `wxappid`, `total_amount`) and not `re_openid`, which differs and
/// which the client accepts as absent.
#[derive(Clone)]
struct Canned {
    head: Bytes,
    tail: Bytes,
}

/// Where the billno goes in the canned answer.
const BILLNO_SLOT: &str = "0BILLNOSLOT0";

fn canned_response(fixture: &Fixture) -> Result<Canned, BoxError> {
    let mut r = SendResponse::new(ReturnHeader::success("发放成功"));
    r.mch_billno = Some(BILLNO_SLOT.to_owned());
    r.mch_id = Some(fixture.param("mch_id")?.to_owned());
    r.wxappid = Some(fixture.param("wxappid")?.to_owned());
    r.total_amount = Some(Fen::new(fixture.param("total_amount")?.parse()?));
    r.send_listid = Some("100004170120261126300000000000001".to_owned());
    let xml = r.to_xml();
    let (head, tail) = xml
        .split_once(BILLNO_SLOT)
        .ok_or("the canned answer has no billno slot")?;
    Ok(Canned {
        head: Bytes::copy_from_slice(head.as_bytes()),
        tail: Bytes::copy_from_slice(tail.as_bytes()),
    })
}

impl Canned {
    /// The answer to a request body: its `mch_billno` text (out of its CDATA section) between
    /// the two halves; nothing if it has none, which the client takes as an unknown outcome.
    fn answer(&self, body: &[u8]) -> Bytes {
        const OPEN: &str = "<mch_billno>";
        let billno = std::str::from_utf8(body)
            .ok()
            .and_then(|text| {
                let start = text.find(OPEN)? + OPEN.len();
                let len = text[start..].find("</mch_billno>")?;
                let value = text.get(start..start + len)?;
                Some(
                    value
                        .strip_prefix("<![CDATA[")
                        .and_then(|v| v.strip_suffix("]]>"))
                        .unwrap_or(value),
                )
            })
            .unwrap_or("");
        let mut out = Vec::with_capacity(self.head.len() + billno.len() + self.tail.len());
        out.extend_from_slice(&self.head);
        out.extend_from_slice(billno.as_bytes());
        out.extend_from_slice(&self.tail);
        Bytes::from(out)
    }
}

/// Runs both servers until stdin closes or `lifetime` passes.
pub(crate) fn run(threads: usize, lifetime: Duration) -> Result<(), BoxError> {
    // The driving process holds our stdin: when it ends, so do we.
    std::thread::spawn(|| {
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
        std::process::exit(0);
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let fixture = Fixture::load()?;
        let mock = MockServer::builder()
            .seed(7)
            .merchant(load_merchant(&fixture)?)
            .start()
            .await?;
        let merchant = mock
            .merchant(fixture.param("mch_id")?)
            .ok_or("the fixture merchant is missing")?;
        let bare = start_bare(mock.data_dir(), canned_response(&fixture)?).await?;
        let ready = Ready {
            mock_url: mock.base_url().to_owned(),
            bare_url: format!("https://{bare}"),
            merchant_toml: merchant.merchant_toml_path().to_path_buf(),
        };
        #[allow(
            clippy::print_stdout,
            reason = "the announcement line is the serving process's protocol"
        )]
        {
            println!("{}", ready.to_line());
        }
        tokio::time::sleep(lifetime).await;
        mock.shutdown().await;
        Ok(())
    })
}

fn read_file(path: &Path) -> Result<Vec<u8>, BoxError> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()).into())
}

/// The bare server: the mock's server certificate and CA, client certificates from the CA
/// required (as the mock requires them), HTTP/1.1 keep-alive, one canned answer (echoing
/// the request's billno).
async fn start_bare(data_dir: &Path, answer: Canned) -> Result<SocketAddr, BoxError> {
    let ca = CertificateDer::from_pem_slice(&read_file(&data_dir.join("ca.pem"))?)?;
    let leaf = CertificateDer::from_pem_slice(&read_file(&data_dir.join("server_cert.pem"))?)?;
    let key = PrivateKeyDer::from_pem_slice(&read_file(&data_dir.join("server_key.pem"))?)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    roots.add(ca.clone())?;
    let verifier =
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone()).build()?;
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![leaf, ca], key)?;
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            let acceptor = acceptor.clone();
            let answer = answer.clone();
            tokio::spawn(async move {
                let _ = tcp.set_nodelay(true);
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = service_fn(move |req: Request<Incoming>| {
                    let answer = answer.clone();
                    async move {
                        // Read the whole request, as the mock does, then answer.
                        let body = Limited::new(req.into_body(), 64 * 1024)
                            .collect()
                            .await
                            .map(|body| body.to_bytes())
                            .unwrap_or_default();
                        let mut response = Response::new(Full::new(answer.answer(&body)));
                        response.headers_mut().insert(
                            header::CONTENT_TYPE,
                            header::HeaderValue::from_static("text/plain; charset=UTF-8"),
                        );
                        Ok::<_, Infallible>(response)
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    Ok(addr)
}
