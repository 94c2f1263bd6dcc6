//! Test material made at test time: a CA, server and client certificates (rcgen), PKCS#12 files
//! (p12-keystore), and a rustls server on 127.0.0.1 that requires client certificates.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use p12_keystore::{EncryptionAlgorithm, KeyStore, KeyStoreEntry, MacAlgorithm, PrivateKeyChain};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use wxpay_transport::{ClientIdentity, HttpsTransport, HttpsTransportBuilder};

/// The merchant id used as the PKCS#12 password, as WeChat Pay does.
pub(crate) const MCH_ID: &str = "1900000109";

/// A generous limit for things that are not what a test measures.
pub(crate) const GENEROUS: Duration = Duration::from_secs(20);

/// A certificate authority able to sign server and client certificates.
pub(crate) struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pub(crate) pem: String,
    pub(crate) der: CertificateDer<'static>,
}

impl Ca {
    pub(crate) fn new(name: &str) -> Self {
        let key = KeyPair::generate().expect("generate CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).expect("self-sign CA");
        Self {
            pem: cert.pem(),
            der: cert.der().clone(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A server certificate for 127.0.0.1 and localhost.
    pub(crate) fn server(&self) -> Leaf {
        let mut params =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
                .expect("server params");
        params
            .distinguished_name
            .push(DnType::CommonName, "127.0.0.1");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.leaf(params)
    }

    /// A merchant client certificate, named like WeChat's (CN = mch_id).
    pub(crate) fn client(&self) -> Leaf {
        self.client_with(|_| {})
    }

    pub(crate) fn client_with(&self, adjust: impl FnOnce(&mut CertificateParams)) -> Leaf {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("client params");
        params.distinguished_name.push(DnType::CommonName, MCH_ID);
        params
            .distinguished_name
            .push(DnType::OrganizationName, "wxpay-transport tests");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        adjust(&mut params);
        self.leaf(params)
    }

    fn leaf(&self, params: CertificateParams) -> Leaf {
        let key = KeyPair::generate().expect("generate leaf key");
        let cert = params.signed_by(&key, &self.issuer).expect("sign leaf");
        Leaf {
            cert_pem: cert.pem(),
            cert_der: cert.der().clone(),
            key_pem: key.serialize_pem(),
            key_pkcs8: key.serialize_der(),
        }
    }
}

/// A certificate and its key.
pub(crate) struct Leaf {
    pub(crate) cert_pem: String,
    pub(crate) cert_der: CertificateDer<'static>,
    pub(crate) key_pem: String,
    pub(crate) key_pkcs8: Vec<u8>,
}

impl Leaf {
    fn key_der(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_pkcs8.clone()))
    }

    /// This identity as a PKCS#12 file, encrypted with `encryption` and `mac`.
    pub(crate) fn pkcs12(
        &self,
        password: &str,
        encryption: EncryptionAlgorithm,
        mac: MacAlgorithm,
    ) -> Vec<u8> {
        let key = p12_keystore::PrivateKey::from_der(&self.key_pkcs8).expect("p12 key");
        let cert = p12_keystore::Certificate::from_der(self.cert_der.as_ref()).expect("p12 cert");
        let chain = PrivateKeyChain::new(vec![0x42_u8; 20], key, vec![cert]);
        let mut store = KeyStore::new();
        store.add_entry("apiclient", KeyStoreEntry::PrivateKeyChain(chain));
        store
            .writer(password)
            .encryption_algorithm(encryption)
            .mac_algorithm(mac)
            .encryption_iterations(2048)
            .mac_iterations(2048)
            .write()
            .expect("write PKCS#12")
    }
}

/// A CA, the server certificate it signed and a client identity it signed.
pub(crate) struct Setup {
    pub(crate) ca: Ca,
    pub(crate) server: Leaf,
    pub(crate) client: Leaf,
}

impl Setup {
    pub(crate) fn new() -> Self {
        let ca = Ca::new("wxpay test CA");
        let server = ca.server();
        let client = ca.client();
        Self { ca, server, client }
    }

    pub(crate) fn identity(&self) -> ClientIdentity {
        ClientIdentity::from_pem(
            self.client.cert_pem.as_bytes(),
            self.client.key_pem.as_bytes(),
        )
        .expect("client identity")
    }

    pub(crate) async fn server(&self, reply: Reply) -> TestServer {
        TestServer::start(&self.server, ServerOptions::tls(&self.ca, reply)).await
    }

    /// A transport trusting the test CA, with generous limits, pointed at `base_url`.
    pub(crate) fn transport(&self, base_url: &str) -> HttpsTransportBuilder {
        HttpsTransport::builder()
            .identity(self.identity())
            .base_url(base_url)
            .add_root_certificate_pem(self.ca.pem.clone())
            .connect_timeout(GENEROUS)
            .request_timeout(GENEROUS)
    }
}

/// A fresh directory under the integration tests' scratch space, removed on drop.
pub(crate) struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = std::path::Path;

    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub(crate) fn scratch_dir(test: &str) -> Scratch {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("wxpay-transport-it")
        .join(format!("{test}-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    Scratch(dir)
}

pub(crate) fn write(dir: &std::path::Path, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write test file");
    path
}

/// What the test server does with each request.
#[derive(Clone, Debug)]
pub(crate) enum Reply {
    /// Answers with this status and body, keeping the connection alive.
    Answer(u16, Vec<u8>),
    /// Answers 200 with this body in chunked encoding (no Content-Length).
    Chunked(Vec<u8>),
    /// Reads the request and never answers.
    Silent,
    /// Reads the whole request, then resets the connection (RST).
    ResetAfterBody,
}

/// How the test server is set up.
#[derive(Clone, Debug)]
pub(crate) struct ServerOptions {
    pub(crate) reply: Reply,
    /// The CA whose client certificates are accepted; `None` serves plain HTTP.
    pub(crate) client_ca: Option<CertificateDer<'static>>,
    pub(crate) tls12_only: bool,
}

impl ServerOptions {
    pub(crate) fn tls(client_ca: &Ca, reply: Reply) -> Self {
        Self {
            reply,
            client_ca: Some(client_ca.der.clone()),
            tls12_only: false,
        }
    }
}

/// A request the server read.
#[derive(Clone, Debug)]
pub(crate) struct Received {
    pub(crate) path: String,
    pub(crate) user_agent: Option<String>,
    pub(crate) body: Vec<u8>,
}

/// A server on 127.0.0.1 that counts connections, handshakes and requests; stops on drop.
pub(crate) struct TestServer {
    pub(crate) addr: SocketAddr,
    pub(crate) accepts: Arc<AtomicUsize>,
    pub(crate) handshake_failures: Arc<AtomicUsize>,
    pub(crate) requests: Arc<Mutex<Vec<Received>>>,
    task: JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestServer {
    /// Starts a server with `server` as its certificate (ignored for plain HTTP).
    pub(crate) async fn start(server: &Leaf, options: ServerOptions) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let acceptor = options.client_ca.as_ref().map(|ca| {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let mut roots = RootCertStore::empty();
            roots.add(ca.clone()).expect("client CA");
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .expect("client verifier");
            let versions: &[&rustls::SupportedProtocolVersion] = if options.tls12_only {
                &[&rustls::version::TLS12]
            } else {
                &[&rustls::version::TLS13, &rustls::version::TLS12]
            };
            let config = ServerConfig::builder_with_provider(provider)
                .with_protocol_versions(versions)
                .expect("versions")
                .with_client_cert_verifier(verifier)
                .with_single_cert(vec![server.cert_der.clone()], server.key_der())
                .expect("server config");
            TlsAcceptor::from(Arc::new(config))
        });
        let accepts = Arc::new(AtomicUsize::new(0));
        let handshake_failures = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let task = {
            let accepts = accepts.clone();
            let handshake_failures = handshake_failures.clone();
            let requests = requests.clone();
            let reply = options.reply.clone();
            tokio::spawn(async move {
                let mut connections = tokio::task::JoinSet::new();
                while let Ok((tcp, _)) = listener.accept().await {
                    accepts.fetch_add(1, Ordering::SeqCst);
                    let acceptor = acceptor.clone();
                    let handshake_failures = handshake_failures.clone();
                    let requests = requests.clone();
                    let reply = reply.clone();
                    connections.spawn(async move {
                        match acceptor {
                            None => serve(tcp, &reply, &requests).await,
                            Some(acceptor) => match acceptor.accept(tcp).await {
                                Ok(tls) => serve(tls, &reply, &requests).await,
                                Err(_) => {
                                    handshake_failures.fetch_add(1, Ordering::SeqCst);
                                }
                            },
                        }
                    });
                }
            })
        };
        Self {
            addr,
            accepts,
            handshake_failures,
            requests,
            task,
        }
    }

    pub(crate) fn https_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.addr.port())
    }

    pub(crate) fn http_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.addr.port())
    }

    pub(crate) fn accepts(&self) -> usize {
        self.accepts.load(Ordering::SeqCst)
    }

    pub(crate) fn handshake_failures(&self) -> usize {
        self.handshake_failures.load(Ordering::SeqCst)
    }

    pub(crate) fn received(&self) -> Vec<Received> {
        self.requests.lock().expect("requests lock").clone()
    }
}

/// Something the server can reset: the TCP stream under the connection.
trait Resettable {
    fn reset_on_close(&self);
}

impl Resettable for TcpStream {
    fn reset_on_close(&self) {
        self.set_zero_linger().expect("SO_LINGER 0");
    }
}

impl Resettable for tokio_rustls::server::TlsStream<TcpStream> {
    fn reset_on_close(&self) {
        self.get_ref().0.reset_on_close();
    }
}

async fn serve<S>(mut stream: S, reply: &Reply, requests: &Mutex<Vec<Received>>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Resettable,
{
    let mut buffer = Vec::new();
    while let Some(request) = read_request(&mut stream, &mut buffer).await {
        requests.lock().expect("requests lock").push(request);
        match reply {
            Reply::Answer(status, body) => {
                let head = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                );
                if stream.write_all(head.as_bytes()).await.is_err()
                    || stream.write_all(body).await.is_err()
                    || stream.flush().await.is_err()
                {
                    return;
                }
            }
            Reply::Chunked(body) => {
                let mut out = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
                for chunk in body.chunks(1024) {
                    out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                    out.extend_from_slice(chunk);
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(b"0\r\n\r\n");
                if stream.write_all(&out).await.is_err() || stream.flush().await.is_err() {
                    return;
                }
            }
            Reply::Silent => std::future::pending::<()>().await,
            Reply::ResetAfterBody => {
                stream.reset_on_close();
                drop(stream);
                return;
            }
        }
    }
}

/// Reads one HTTP/1.1 request (headers and Content-Length body); `None` at end of stream.
async fn read_request<S>(stream: &mut S, buffer: &mut Vec<u8>) -> Option<Received>
where
    S: tokio::io::AsyncRead + Unpin,
{
    let header_end = loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        let mut chunk = [0_u8; 4096];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..header_end]).into_owned();
    let mut lines = head.split("\r\n");
    let path = lines.next()?.split(' ').nth(1)?.to_owned();
    let mut content_length = 0;
    let mut user_agent = None;
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                content_length = value.parse().ok()?;
            } else if name.eq_ignore_ascii_case("user-agent") {
                user_agent = Some(value.to_owned());
            }
        }
    }
    while buffer.len() < header_end + content_length {
        let mut chunk = [0_u8; 4096];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
    let body = buffer[header_end..header_end + content_length].to_vec();
    buffer.drain(..header_end + content_length);
    Some(Received {
        path,
        user_agent,
        body,
    })
}

/// A port on 127.0.0.1 where nothing listens (bound, then released).
pub(crate) async fn refused_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    port
}

/// A listener whose accept queue is full: new connections hang in the SYN stage.
pub(crate) struct Blackhole {
    pub(crate) port: u16,
    _listener: TcpListener,
    _fillers: Vec<TcpStream>,
}

impl Blackhole {
    pub(crate) async fn new() -> Self {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket
            .bind("127.0.0.1:0".parse().expect("addr"))
            .expect("bind");
        let listener = socket.listen(0).expect("listen");
        let addr = listener.local_addr().expect("addr");
        let mut fillers = Vec::new();
        // Fill the accept queue (never accepted); stop at the first connection that hangs.
        for _ in 0..4 {
            match tokio::time::timeout(Duration::from_millis(200), TcpStream::connect(addr)).await {
                Ok(Ok(stream)) => fillers.push(stream),
                _ => break,
            }
        }
        Self {
            port: addr.port(),
            _listener: listener,
            _fillers: fillers,
        }
    }
}

/// Whether `condition` becomes true within [`GENEROUS`] (for counters a server task updates
/// after the client has already seen the outcome).
pub(crate) async fn eventually(condition: impl Fn() -> bool) -> bool {
    let started = std::time::Instant::now();
    while started.elapsed() < GENEROUS {
        if condition() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    condition()
}
