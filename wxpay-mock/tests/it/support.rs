//! A minimal mutual-TLS client (rustls + hyper, one connection per request), request builders
//! that sign with `wxpay-sign` and encode with `wxpay-proto`, and small helpers.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use wxpay_mock::{MerchantCredentials, MockServer, MockServerBuilder};
use wxpay_proto::{
    ActName, ApiRequest, AppId, ClientIp, Fen, MchBillno, MchId, NonceStr, OpenId, Remark,
    SendName, SendResponse, Wishing, XmlMessage, gethbinfo, sendgroupredpack, sendminiprogramhb,
    sendredpack,
};
use wxpay_sign::{ApiKey, SignType};

/// A generous bound for what a test does not measure.
pub(crate) const GENEROUS: Duration = Duration::from_secs(20);

/// Why a request got no HTTP answer (the texts show in failure messages).
#[derive(Debug)]
#[allow(
    dead_code,
    reason = "the texts are read through Debug in assertion messages"
)]
pub(crate) enum NoAnswer {
    /// The TLS handshake (or the connection) failed before the request was sent.
    Connect(String),
    /// The connection closed after the request, without a response.
    Closed(String),
    /// No answer within the client's timeout.
    Timeout,
}

/// An HTTP answer.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) content_type: String,
    pub(crate) body: String,
}

impl Answer {
    pub(crate) fn send(&self) -> SendResponse {
        SendResponse::from_xml(self.body.as_bytes())
            .unwrap_or_else(|e| panic!("not a send response ({e}): {}", self.body))
    }

    pub(crate) fn query(&self) -> gethbinfo::Response {
        gethbinfo::Response::from_xml(self.body.as_bytes())
            .unwrap_or_else(|e| panic!("not a query response ({e}): {}", self.body))
    }

    /// The `err_code` of a send answer (`SUCCESS` on success).
    pub(crate) fn code(&self) -> String {
        self.send()
            .header
            .err_code
            .map(|c| c.as_str().to_owned())
            .unwrap_or_default()
    }
}

/// A client holding one TLS identity (or none).
#[derive(Clone)]
pub(crate) struct Client {
    connector: TlsConnector,
    addr: SocketAddr,
    timeout: Duration,
}

fn roots(ca_pem: &Path) -> RootCertStore {
    let mut roots = RootCertStore::empty();
    let pem = std::fs::read(ca_pem).expect("read ca.pem");
    for cert in CertificateDer::pem_slice_iter(&pem) {
        roots.add(cert.expect("CA PEM")).expect("add CA");
    }
    roots
}

fn addr_of(base_url: &str) -> SocketAddr {
    base_url
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .parse()
        .expect("base URL host:port")
}

impl Client {
    /// A client with a certificate and key in PEM.
    pub(crate) fn with_pem(base_url: &str, ca_pem: &Path, cert_pem: &[u8], key_pem: &[u8]) -> Self {
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
            .collect::<Result<_, _>>()
            .expect("client cert PEM");
        let key = PrivateKeyDer::from_pem_slice(key_pem).expect("client key PEM");
        let config =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .expect("protocol versions")
                .with_root_certificates(roots(ca_pem))
                .with_client_auth_cert(chain, key)
                .expect("client auth cert");
        Self {
            connector: TlsConnector::from(Arc::new(config)),
            addr: addr_of(base_url),
            timeout: GENEROUS,
        }
    }

    /// A client with a merchant's files.
    pub(crate) fn for_merchant(mock: &MockServer, creds: &MerchantCredentials) -> Self {
        Self::with_pem(
            mock.base_url(),
            mock.ca_pem_path(),
            &std::fs::read(&creds.cert_pem_path).expect("cert"),
            &std::fs::read(&creds.key_pem_path).expect("key"),
        )
    }

    /// A client that presents no certificate.
    pub(crate) fn without_certificate(mock: &MockServer) -> Self {
        let config =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .expect("protocol versions")
                .with_root_certificates(roots(mock.ca_pem_path()))
                .with_no_client_auth();
        Self {
            connector: TlsConnector::from(Arc::new(config)),
            addr: addr_of(mock.base_url()),
            timeout: GENEROUS,
        }
    }

    /// The same client with another timeout.
    pub(crate) fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// POSTs `body` to `path` on a new connection; the timeout covers the answer, not the
    /// connection and handshake (so a loaded machine does not turn into a fake timeout).
    pub(crate) async fn post(
        &self,
        path: &str,
        body: impl Into<Bytes>,
    ) -> Result<Answer, NoAnswer> {
        let mut connection = tokio::time::timeout(GENEROUS, self.connect())
            .await
            .map_err(|_| NoAnswer::Connect("connect timed out".to_owned()))??;
        connection.post(path, body).await
    }

    /// Opens a TLS stream, for requests written by hand.
    pub(crate) async fn tls(&self) -> tokio_rustls::client::TlsStream<TcpStream> {
        let tcp = TcpStream::connect(self.addr).await.expect("connect");
        let name = ServerName::IpAddress(self.addr.ip().into());
        self.connector
            .connect(name, tcp)
            .await
            .expect("TLS handshake")
    }

    /// Opens a connection (TCP, TLS, HTTP/1.1).
    pub(crate) async fn connect(&self) -> Result<Connection, NoAnswer> {
        let tcp = TcpStream::connect(self.addr)
            .await
            .map_err(|e| NoAnswer::Connect(e.to_string()))?;
        let name = ServerName::IpAddress(self.addr.ip().into());
        let tls = self
            .connector
            .connect(name, tcp)
            .await
            .map_err(|e| NoAnswer::Connect(e.to_string()))?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| NoAnswer::Connect(e.to_string()))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Connection {
            sender,
            host: self.addr.to_string(),
            timeout: self.timeout,
        })
    }

    /// POSTs and expects an answer.
    pub(crate) async fn answer(&self, path: &str, body: impl Into<Bytes>) -> Answer {
        match self.post(path, body).await {
            Ok(a) => a,
            Err(e) => panic!("no answer from {path}: {e:?}"),
        }
    }
}

/// An open connection to the mock.
pub(crate) struct Connection {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    host: String,
    timeout: Duration,
}

impl Connection {
    /// POSTs on this connection, waiting at most the client's timeout for the answer.
    pub(crate) async fn post(
        &mut self,
        path: &str,
        body: impl Into<Bytes>,
    ) -> Result<Answer, NoAnswer> {
        let body = body.into();
        match tokio::time::timeout(self.timeout, self.post_inner(path, body)).await {
            Ok(r) => r,
            Err(_) => Err(NoAnswer::Timeout),
        }
    }

    async fn post_inner(&mut self, path: &str, body: Bytes) -> Result<Answer, NoAnswer> {
        self.sender
            .ready()
            .await
            .map_err(|e| NoAnswer::Closed(format!("{e:?}")))?;
        let request = http::Request::post(path)
            .header(http::header::HOST, self.host.clone())
            .header(http::header::CONTENT_TYPE, "text/xml")
            .body(Full::new(body))
            .expect("request");
        let response = self
            .sender
            .send_request(request)
            .await
            .map_err(|e| NoAnswer::Closed(format!("{e:?}")))?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| NoAnswer::Closed(format!("{e:?}")))?
            .to_bytes();
        Ok(Answer {
            status,
            content_type,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        })
    }
}

/// Plain-HTTP admin calls.
pub(crate) async fn admin(
    mock: &MockServer,
    method: &str,
    path: &str,
    body: &str,
) -> (u16, String) {
    let addr = addr_of(mock.admin_url());
    let tcp = TcpStream::connect(addr).await.expect("admin connect");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .expect("admin handshake");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let request = http::Request::builder()
        .method(method)
        .uri(path)
        .header(http::header::HOST, addr.to_string())
        .body(Full::new(Bytes::from(body.to_owned())))
        .expect("request");
    let response = sender.send_request(request).await.expect("admin answer");
    let status = response.status().as_u16();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("admin body")
        .to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

/// Admin call whose answer is JSON.
pub(crate) async fn admin_json(
    mock: &MockServer,
    method: &str,
    path: &str,
    body: &str,
) -> (u16, serde_json::Value) {
    let (status, text) = admin(mock, method, path, body).await;
    let value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (status, value)
}

pub(crate) const SEND: &str = "/mmpaymkttransfers/sendredpack";
pub(crate) const GROUP: &str = "/mmpaymkttransfers/sendgroupredpack";
pub(crate) const MINI: &str = "/mmpaymkttransfers/sendminiprogramhb";
pub(crate) const QUERY: &str = "/mmpaymkttransfers/gethbinfo";

/// A merchant as seen by a test: its credentials, key and client.
#[derive(Clone)]
pub(crate) struct Merchant {
    pub(crate) creds: MerchantCredentials,
    pub(crate) key: ApiKey,
    pub(crate) client: Client,
}

impl Merchant {
    pub(crate) fn of(mock: &MockServer, creds: &MerchantCredentials) -> Self {
        Self {
            creds: creds.clone(),
            key: ApiKey::new(creds.api_key.clone()).expect("api key"),
            client: Client::for_merchant(mock, creds),
        }
    }

    pub(crate) fn default_of(mock: &MockServer) -> Self {
        Self::of(mock, mock.default_merchant())
    }

    /// A normal packet request, unsigned.
    pub(crate) fn normal(&self, billno: &str, openid: &str, amount: u64) -> sendredpack::Request {
        sendredpack::Request::new(
            NonceStr::new("5K8264ILTKCH16CQ2502SI8ZNMTM67VS").unwrap(),
            MchBillno::new(billno).unwrap(),
            MchId::new(self.creds.mch_id.clone()).unwrap(),
            AppId::new(self.creds.appid.clone()).unwrap(),
            SendName::new("天虹百货").unwrap(),
            OpenId::new(openid).unwrap(),
            Fen::new(amount),
            Wishing::new("感谢您参加猜灯谜活动，祝您元宵节快乐！").unwrap(),
            ClientIp::new("192.168.0.1").unwrap(),
            ActName::new("猜灯谜抢红包活动").unwrap(),
            Remark::new("猜越多得越多，快来抢！").unwrap(),
        )
    }

    /// A group packet request, unsigned.
    pub(crate) fn group(
        &self,
        billno: &str,
        openid: &str,
        amount: u64,
        num: u32,
    ) -> sendgroupredpack::Request {
        sendgroupredpack::Request::new(
            NonceStr::new("5K8264ILTKCH16CQ2502SI8ZNMTM67VS").unwrap(),
            MchBillno::new(billno).unwrap(),
            MchId::new(self.creds.mch_id.clone()).unwrap(),
            AppId::new(self.creds.appid.clone()).unwrap(),
            SendName::new("天虹百货").unwrap(),
            OpenId::new(openid).unwrap(),
            Fen::new(amount),
            num,
            Wishing::new("恭喜发财").unwrap(),
            ActName::new("裂变红包").unwrap(),
            Remark::new("分享给好友").unwrap(),
        )
    }

    /// A mini-program packet request, unsigned.
    pub(crate) fn mini(
        &self,
        billno: &str,
        openid: &str,
        amount: u64,
    ) -> sendminiprogramhb::Request {
        sendminiprogramhb::Request::new(
            NonceStr::new("5K8264ILTKCH16CQ2502SI8ZNMTM67VS").unwrap(),
            MchBillno::new(billno).unwrap(),
            MchId::new(self.creds.mch_id.clone()).unwrap(),
            AppId::new(self.creds.mini_program_appid.clone()).unwrap(),
            SendName::new("小程序").unwrap(),
            OpenId::new(openid).unwrap(),
            Fen::new(amount),
            Wishing::new("恭喜发财").unwrap(),
            ActName::new("小程序红包").unwrap(),
            Remark::new("备注").unwrap(),
        )
    }

    /// A query request, unsigned.
    pub(crate) fn query(&self, billno: &str) -> gethbinfo::Request {
        gethbinfo::Request::new(
            NonceStr::new("5K8264ILTKCH16CQ2502SI8ZNMTM67VS").unwrap(),
            MchBillno::new(billno).unwrap(),
            MchId::new(self.creds.mch_id.clone()).unwrap(),
            AppId::new(self.creds.appid.clone()).unwrap(),
        )
    }

    /// Signs a request over its documented fields and encodes it.
    pub(crate) fn sign<R: ApiRequest>(&self, mut request: R) -> String {
        let signature = wxpay_sign::sign(SignType::Md5, &self.key, request.sign_fields().pairs())
            .expect("sign");
        request.set_sign(signature.as_str().to_owned());
        request.to_xml()
    }

    /// Sends a normal packet and returns the answer.
    pub(crate) async fn send(&self, billno: &str, openid: &str, amount: u64) -> Answer {
        let body = self.sign(self.normal(billno, openid, amount));
        self.client.answer(SEND, body).await
    }

    /// Queries a billno.
    pub(crate) async fn query_answer(&self, billno: &str) -> Answer {
        let body = self.sign(self.query(billno));
        self.client.answer(QUERY, body).await
    }
}

/// Starts a mock with a frozen clock and a fixed seed.
pub(crate) async fn start() -> MockServer {
    start_with(MockServer::builder()).await
}

/// Starts a configured mock (frozen clock and seed 7 unless the builder says otherwise).
pub(crate) async fn start_with(builder: MockServerBuilder) -> MockServer {
    builder
        .seed(7)
        .clock(wxpay_mock::ClockMode::Frozen)
        .start()
        .await
        .expect("mock starts")
}

/// Polls `check` until it holds or `within` passes.
pub(crate) async fn eventually(within: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if check() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
