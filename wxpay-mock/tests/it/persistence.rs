//! The ledger survives a restart, and `kill -9` right after a commit.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use wxpay_mock::{ClockMode, MockServer};

use crate::support::{GENEROUS, GROUP, Merchant};

/// A mock on the ledger of `dir`, with a frozen clock (the ledger's own time, after a restart).
async fn reopen(dir: &std::path::Path) -> MockServer {
    MockServer::builder()
        .data_dir(dir)
        .clock(ClockMode::Frozen)
        .start()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_restarted_mock_keeps_its_ledger_clock_and_billnos() {
    // Arrange
    let dir = tempfile::tempdir().unwrap();
    let first = MockServer::builder()
        .data_dir(dir.path())
        .clock(ClockMode::Frozen)
        .seed(3)
        .start()
        .await
        .unwrap();
    let m = Merchant::default_of(&first);
    let original = m.send("p1", "alice", 1000).await.send();
    assert_eq!(m.send("p2", "bob", 2000).await.code(), "SUCCESS");
    assert_eq!(
        m.client
            .answer(GROUP, m.sign(m.group("p3", "seed", 900, 3)))
            .await
            .code(),
        "SUCCESS"
    );
    first.claim("1900000109", "p3", None).unwrap();
    first.claim("1900000109", "p2", None).unwrap();
    first.advance_clock(Duration::from_secs(3600));
    let before = first.ledger();
    let now_before = first.now();
    first.shutdown().await;

    // Act
    let second = reopen(dir.path()).await;

    // Assert
    assert_eq!(second.ledger(), before);
    assert_eq!(second.now(), now_before);
    let m2 = Merchant::default_of(&second);
    let replay = m2.send("p1", "alice", 1000).await.send();
    assert_eq!(replay.send_listid, original.send_listid);
    let fresh = m2.send("p4", "carol", 100).await.send();
    assert_ne!(fresh.send_listid, original.send_listid);
    assert_eq!(second.ledger().packet_count(), 4);
    // The lifecycle goes on where it stopped.
    second.advance_clock(Duration::from_secs(86_400));
    assert_eq!(
        second.ledger().packet("1900000109", "p1").unwrap().status,
        "REFUND"
    );
    assert!(second.invariants().ok, "{:?}", second.invariants());
}

#[tokio::test]
async fn a_commit_survives_kill_minus_nine() {
    // Arrange: the real binary on a fresh data directory.
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_wxpay-mock"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--admin",
            "127.0.0.1:0",
            "--clock",
            "frozen",
            "--data-dir",
        ])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut base_url = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(url) = line.trim().strip_prefix("HTTPS API : ") {
            base_url = Some(url.to_owned());
            break;
        }
    }
    let base_url = base_url.expect("the binary prints its URL");
    let toml: toml::Table = std::fs::read_to_string(dir.path().join("merchant.toml"))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(toml["endpoint"].as_str(), Some(base_url.as_str()));
    let read = |k: &str| std::fs::read(toml[k].as_str().unwrap()).unwrap();
    let client = crate::support::Client::with_pem(
        &base_url,
        std::path::Path::new(toml["ca_pem"].as_str().unwrap()),
        &read("cert_pem"),
        &read("key_pem"),
    );
    let key = wxpay_sign::ApiKey::new(toml["api_key"].as_str().unwrap()).unwrap();
    let request = wxpay_proto::sendredpack::Request::new(
        wxpay_proto::NonceStr::new("n1").unwrap(),
        wxpay_proto::MchBillno::new("kill9").unwrap(),
        wxpay_proto::MchId::new("1900000109").unwrap(),
        wxpay_proto::AppId::new(toml["appid"].as_str().unwrap()).unwrap(),
        wxpay_proto::SendName::new("商户").unwrap(),
        wxpay_proto::OpenId::new("alice").unwrap(),
        wxpay_proto::Fen::new(4321),
        wxpay_proto::Wishing::new("快乐").unwrap(),
        wxpay_proto::ClientIp::new("127.0.0.1").unwrap(),
        wxpay_proto::ActName::new("活动").unwrap(),
        wxpay_proto::Remark::new("备注").unwrap(),
    );
    let mut request = request;
    let sign = wxpay_sign::sign(
        wxpay_sign::SignType::Md5,
        &key,
        wxpay_proto::ApiRequest::sign_fields(&request).pairs(),
    )
    .unwrap();
    wxpay_proto::ApiRequest::set_sign(&mut request, sign.as_str().to_owned());
    let answer = client
        .answer(
            "/mmpaymkttransfers/sendredpack",
            wxpay_proto::XmlMessage::to_xml(&request),
        )
        .await;
    assert_eq!(answer.code(), "SUCCESS");

    // Act: SIGKILL right after the answer.
    child.kill().unwrap();
    let _ = child.wait();

    // Assert
    let mock = tokio::time::timeout(GENEROUS, MockServer::builder().data_dir(dir.path()).start())
        .await
        .unwrap()
        .unwrap();
    let ledger = mock.ledger();
    let packet = ledger
        .packet("1900000109", "kill9")
        .expect("the commit survived");
    assert_eq!(packet.total_amount, 4321);
    assert_eq!(Some(packet.send_listid.clone()), answer.send().send_listid);
    assert_eq!(
        ledger.merchant("1900000109").unwrap().balance_fen,
        100_000_000 - 4321
    );
    assert!(mock.invariants().ok);
}

#[tokio::test]
async fn a_request_still_held_when_its_mock_shuts_down_commits_nothing() {
    // Arrange: a send held before its commit (a `timeout` fault at before_commit), and a
    // shutdown while it waits.
    use wxpay_mock::{FaultAction, FaultApi, FaultPlan, FaultRule, FaultStage};
    let dir = tempfile::tempdir().unwrap();
    let first = reopen(dir.path()).await;
    let mut hold = FaultRule::new(
        FaultApi::SendRedpack,
        FaultStage::BeforeCommit,
        FaultAction::Timeout,
    );
    hold.delay_ms = 600;
    first.set_faults(FaultPlan {
        seed: 1,
        rules: vec![hold],
    });
    let m = Merchant::default_of(&first);
    let body = m.sign(m.normal("held1", "alice", 1000));
    let client = m.client.clone();
    let in_flight = tokio::spawn(async move { client.post(crate::support::SEND, body).await });
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Act: shut down mid-hold, open the same store again, and let the hold run out.
    first.shutdown().await;
    let second = reopen(dir.path()).await;
    // The held request never gets an answer: its server is gone.
    assert!(in_flight.await.unwrap().is_err());
    tokio::time::sleep(Duration::from_millis(800)).await;

    // Assert: the held request changed nothing, in memory or in the store.
    assert_eq!(second.ledger().packet_count(), 0);
    assert!(
        second.invariants().ok,
        "{:?}",
        second.invariants().violations
    );
    second.shutdown().await;
    let third = reopen(dir.path()).await;
    assert_eq!(third.ledger().packet_count(), 0);
    assert!(third.invariants().ok, "{:?}", third.invariants().violations);
}

#[tokio::test]
async fn a_packet_still_sending_is_still_sending_after_a_restart() {
    // Arrange: a send accepted but still sending for 60 s of virtual time.
    let dir = tempfile::tempdir().unwrap();
    let first = reopen(dir.path()).await;
    first.set_faults(wxpay_mock::FaultPlan {
        seed: 1,
        rules: vec![
            wxpay_mock::FaultRule::new(
                wxpay_mock::FaultApi::SendRedpack,
                wxpay_mock::FaultStage::AfterCommit,
                wxpay_mock::FaultAction::Sending,
            )
            .late_secs(60)
            .times(1),
        ],
    });
    let m = Merchant::default_of(&first);
    assert_eq!(m.send("s1", "alice", 100).await.code(), "SYSTEMERROR");
    first.advance_clock(Duration::from_secs(10));
    first.shutdown().await;

    // Act
    let second = reopen(dir.path()).await;
    let m2 = Merchant::default_of(&second);
    let during = m2.query_answer("s1").await.query();
    second.advance_clock(Duration::from_secs(51));
    let after = m2.query_answer("s1").await.query();

    // Assert
    assert_eq!(during.status.as_ref().map(|s| s.as_str()), Some("SENDING"));
    assert_eq!(after.status.as_ref().map(|s| s.as_str()), Some("SENT"));
    assert_eq!(second.ledger().packet_count(), 1);
}
