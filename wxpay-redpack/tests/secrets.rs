//! Secrets (issue 8): representative flows run with every crate's tracing at TRACE captured
//! in a buffer — client sends against the mock under faults before and after the commit,
//! every kind of error, the CLI at `-vv` — and nothing captured, no error message, no `Debug`
//! output, no journal entry and no admin answer holds the API key, `&key=` or private-key PEM
//! material.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    unreachable_pub,
    reason = "tests"
)]

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wxpay_mock::{
    ClockMode, FaultAction, FaultApi, FaultPlan, FaultRule, FaultStage, MerchantConfig, MockServer,
};
use wxpay_proto::{ActName, Fen, OpenId, Remark, Wishing};
use wxpay_redpack::{RedPacket, RedpackClient, RedpackClientBuilder, RetryPolicy};
use wxpay_sign::ApiKey;
use wxpay_transport::ClientIdentity;

/// A writer into a shared buffer, for the subscriber.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Everything that must never show: the key, a string to sign, PEM key material (its
/// header and a line of its body).
struct Secrets {
    needles: Vec<String>,
}

impl Secrets {
    fn of(mock: &MockServer) -> Self {
        let merchant = mock.default_merchant();
        let pem = std::fs::read_to_string(merchant.key_pem_path()).unwrap();
        let body_line = pem
            .lines()
            .find(|l| l.len() > 40 && !l.starts_with("-----"))
            .unwrap()
            .to_owned();
        Self {
            needles: vec![
                merchant.api_key().to_owned(),
                "&key=".to_owned(),
                "PRIVATE KEY".to_owned(),
                body_line,
            ],
        }
    }

    #[track_caller]
    fn assert_absent(&self, what: &str, text: &str) {
        for needle in &self.needles {
            assert!(
                !text.contains(needle.as_str()),
                "{what} holds a secret ({} characters)",
                needle.len()
            );
        }
    }
}

fn packet(client: &RedpackClient, n: u64, amount: u64) -> RedPacket {
    RedPacket::new(
        client.billno(n).unwrap(),
        OpenId::new(format!("oSecret{n:06}")).unwrap(),
        Fen::new(amount),
        Wishing::new("恭喜发财").unwrap(),
        ActName::new("密钥测试").unwrap(),
        Remark::new("备注").unwrap(),
    )
}

async fn admin_get(mock: &MockServer, path: &str) -> String {
    let addr = mock.admin_url().trim_start_matches("http://").to_owned();
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nhost: mock\r\nconnection: close\r\n\r\n");
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tcp.read_to_end(&mut answer).await.unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_log_line_error_debug_output_journal_entry_or_admin_answer_holds_a_secret() {
    // Arrange: every event of every crate at TRACE goes to the buffer.
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).unwrap();
    let mock = MockServer::builder()
        .seed(3)
        .clock(ClockMode::Frozen)
        .merchant(MerchantConfig::new("1900000109").api_key("0123456789abcdefSECRETkey0123456"))
        .start()
        .await
        .unwrap();
    let secrets = Secrets::of(&mock);
    let merchant = mock.default_merchant().clone();
    let client = RedpackClientBuilder::from_merchant_toml(merchant.merchant_toml_path())
        .unwrap()
        .send_name("测试商户")
        .request_timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let mut policy = RetryPolicy::default();
    policy.max_attempts = 6;
    policy.max_queries = 6;
    let mut texts: Vec<(String, String)> = Vec::new();

    // Act: sends under faults at both stages, a query, a refused key, invalid input, an
    // unreachable server.
    let mut rules = Vec::new();
    for stage in [FaultStage::BeforeCommit, FaultStage::AfterCommit] {
        for action in [
            FaultAction::Reset,
            FaultAction::Systemerror,
            FaultAction::Garbage,
            FaultAction::Html,
        ] {
            rules.push(FaultRule::new(FaultApi::Any, stage, action).times(1));
        }
    }
    mock.set_faults(FaultPlan { seed: 5, rules });
    for n in 1..=4 {
        let request = client.normal(&packet(&client, n, 100 + n)).unwrap();
        let outcome = client.send_request(&request).await;
        texts.push(("a send".to_owned(), format!("{outcome:?}")));
        let outcome = client.send_reliably(&request, &policy).await;
        texts.push(("a reliable send".to_owned(), format!("{outcome:?}")));
    }
    mock.clear_faults();
    let query = client.query(&client.billno(1).unwrap()).await;
    texts.push(("a query".to_owned(), format!("{query:?}")));
    let wrong_key = RedpackClientBuilder::from_merchant_toml_with_api_key(
        merchant.merchant_toml_path(),
        ApiKey::new("ffffffffffffffffffffffffffffffff").unwrap(),
    )
    .unwrap()
    .send_name("测试商户")
    .build()
    .unwrap();
    let refused = wrong_key.send(&packet(&wrong_key, 9, 100)).await;
    texts.push(("SIGN_ERROR".to_owned(), format!("{refused:?}")));
    let mut too_small = packet(&client, 10, 1);
    too_small.total_amount = Fen::new(1);
    if let Err(e) = client.send(&too_small).await {
        texts.push(("an invalid packet".to_owned(), format!("{e} {e:?}")));
    }
    let unreachable = RedpackClientBuilder::from_merchant_toml(merchant.merchant_toml_path())
        .unwrap()
        .send_name("测试商户")
        .base_url("https://127.0.0.1:9")
        .no_backup()
        .build()
        .unwrap();
    if let Err(e) = unreachable.send(&packet(&unreachable, 11, 100)).await {
        texts.push(("an unreachable server".to_owned(), format!("{e} {e:?}")));
    }
    for bad in ["", " key"] {
        if let Err(e) = ApiKey::new(bad) {
            texts.push(("a bad key".to_owned(), format!("{e} {e:?}")));
        }
    }
    let no_key = RedpackClient::builder().mch_id("1900000109").build();
    texts.push(("no key".to_owned(), format!("{no_key:?}")));
    let identity =
        ClientIdentity::from_pem_files(merchant.cert_pem_path(), merchant.key_pem_path()).unwrap();
    let mismatched =
        ClientIdentity::from_pem_files(merchant.key_pem_path(), merchant.key_pem_path());
    texts.push((
        "a key file as a certificate".to_owned(),
        format!("{mismatched:?}"),
    ));
    texts.push(("the client".to_owned(), format!("{client:?} {client:#?}")));
    texts.push(("the identity".to_owned(), format!("{identity:?}")));
    texts.push(("the credentials".to_owned(), format!("{merchant:?}")));
    texts.push((
        "a builder".to_owned(),
        format!(
            "{:?}",
            RedpackClientBuilder::from_merchant_toml(merchant.merchant_toml_path()).unwrap()
        ),
    ));
    texts.push((
        "a merchant config".to_owned(),
        format!(
            "{:?}",
            MerchantConfig::new("1900000109").api_key(merchant.api_key())
        ),
    ));
    texts.push(("the mock".to_owned(), format!("{mock:?}")));
    texts.push(("the journal".to_owned(), format!("{:?}", mock.requests())));
    for path in [
        "/__admin",
        "/__admin/requests",
        "/__admin/ledger",
        "/__admin/merchants",
        "/__admin/faults",
        "/__admin/invariants",
        "/__admin/clock",
    ] {
        texts.push((path.to_owned(), admin_get(&mock, path).await));
    }
    // The CLI at its most verbose, with the key in the environment.
    let cli = std::process::Command::new(env!("CARGO_BIN_EXE_wxpay-redpack"))
        .args(["-vv", "--config"])
        .arg(merchant.merchant_toml_path())
        .args(["query", client.billno(1).unwrap().as_str()])
        .env("WXPAY_API_KEY", merchant.api_key())
        .output()
        .unwrap();
    texts.push((
        "the CLI's stdout".to_owned(),
        String::from_utf8_lossy(&cli.stdout).into(),
    ));
    texts.push((
        "the CLI's stderr".to_owned(),
        String::from_utf8_lossy(&cli.stderr).into(),
    ));

    // Assert
    let log = String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned();
    assert!(
        log.contains("TRACE") || log.contains("DEBUG"),
        "the capture works"
    );
    assert!(log.lines().count() > 20, "{log}");
    secrets.assert_absent("the captured log", &log);
    for (what, text) in &texts {
        secrets.assert_absent(what, text);
    }
    assert!(mock.requests().iter().any(|e| e.fault.is_some()));
    assert!(
        String::from_utf8_lossy(&cli.stderr).contains("1900000109"),
        "the CLI logged its work: {}",
        String::from_utf8_lossy(&cli.stderr)
    );
}
