//! End to end against `wxpay-mock` over real mutual TLS: the four APIs, the lifecycle, and the
//! reliability cases, each ending with exactly one packet per billno in the mock's ledger.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use wxpay_mock::{
    Behaviour, ClockMode, FaultAction, FaultApi, FaultPlan, FaultRule, FaultStage, MockServer,
};
use wxpay_proto::{ActName, Fen, MchBillno, OpenId, Remark, Status, Wishing};
use wxpay_redpack::{
    Clock, Confirmation, QueryOutcome, RedPacket, RedpackClient, RedpackClientBuilder, RetryPolicy,
    SendOutcome, Sleep,
};

/// The client's clock in these tests: the mock's virtual clock. A sleep moves it forward by
/// the full duration (so late commits land and refunds fall due) and really waits a
/// fiftieth of it (so a commit the mock holds in real time can land meanwhile).
#[derive(Debug)]
struct MockClock {
    mock: Arc<MockServer>,
    start: SystemTime,
}

impl MockClock {
    fn new(mock: &Arc<MockServer>) -> Self {
        Self {
            mock: Arc::clone(mock),
            start: mock.now(),
        }
    }
}

impl Clock for MockClock {
    fn now(&self) -> SystemTime {
        self.mock.now()
    }

    fn monotonic(&self) -> Duration {
        self.mock
            .now()
            .duration_since(self.start)
            .unwrap_or(Duration::ZERO)
    }

    fn sleep(&self, duration: Duration) -> Sleep<'_> {
        self.mock.advance_clock(duration);
        Box::pin(tokio::time::sleep(duration / 50))
    }
}

async fn start(behaviour: Behaviour) -> Arc<MockServer> {
    Arc::new(
        MockServer::builder()
            .seed(7)
            .clock(ClockMode::Frozen)
            .behaviour(behaviour)
            .start()
            .await
            .unwrap(),
    )
}

/// A client built from the mock's `merchant.toml`, on the mock's clock.
fn client_for(mock: &Arc<MockServer>, request_timeout: Duration) -> RedpackClient {
    RedpackClientBuilder::from_merchant_toml(mock.default_merchant().merchant_toml_path())
        .unwrap()
        .send_name("测试商户")
        .request_timeout(request_timeout)
        .clock(Arc::new(MockClock::new(mock)))
        .build()
        .unwrap()
}

fn client(mock: &Arc<MockServer>) -> RedpackClient {
    client_for(mock, Duration::from_secs(10))
}

fn packet(client: &RedpackClient, n: u64, amount: u64) -> RedPacket {
    RedPacket::new(
        client.billno(n).unwrap(),
        OpenId::new(format!("oUser{n:08}")).unwrap(),
        Fen::new(amount),
        Wishing::new("恭喜发财").unwrap(),
        ActName::new("端到端测试").unwrap(),
        Remark::new("备注").unwrap(),
    )
}

/// A policy with room for several faults in a row.
fn patient() -> RetryPolicy {
    let mut policy = RetryPolicy::default();
    policy.max_attempts = 8;
    policy.max_queries = 10;
    policy.max_total = Duration::from_secs(600);
    policy
}

fn packets_with(mock: &MockServer, billno: &MchBillno) -> usize {
    mock.ledger()
        .merchants
        .iter()
        .flat_map(|m| &m.packets)
        .filter(|p| p.mch_billno == billno.as_str())
        .count()
}

fn assert_exactly_one_packet_and_invariants(mock: &MockServer, billno: &MchBillno) {
    assert_eq!(packets_with(mock, billno), 1, "{:?}", mock.ledger());
    let report = mock.invariants();
    assert!(report.ok, "{:?}", report.violations);
}

fn faults(rules: Vec<FaultRule>) -> FaultPlan {
    FaultPlan { seed: 1, rules }
}

#[tokio::test]
async fn a_packet_is_sent_queried_and_refunded_after_a_day() {
    // Arrange
    let mock = start(Behaviour::default()).await;
    let client = client(&mock);
    let packet = packet(&client, 1, 1000);

    // Act
    let outcome = client.send(&packet).await.unwrap();
    let sent = client.query(&packet.mch_billno).await.unwrap();
    mock.advance_clock(Duration::from_secs(24 * 3600 + 5 * 60));
    let refunded = client.query(&packet.mch_billno).await.unwrap();

    // Assert
    let listid = outcome.send_listid().expect("sent").to_owned();
    let QueryOutcome::Found(sent) = sent else {
        panic!("{sent:?}")
    };
    assert_eq!(sent.status, Status::Sent);
    assert_eq!(sent.detail_id, listid);
    assert_eq!(sent.total_amount, Some(Fen::new(1000)));
    let QueryOutcome::Found(refunded) = refunded else {
        panic!("{refunded:?}")
    };
    assert_eq!(refunded.status, Status::Refund);
    assert_eq!(refunded.refund_amount, Some(Fen::new(1000)));
    assert!(refunded.refund_time.is_some());
    assert_exactly_one_packet_and_invariants(&mock, &packet.mch_billno);
}

#[tokio::test]
async fn a_claimed_packet_shows_its_claim() {
    // Arrange
    let mock = start(Behaviour::default()).await;
    let client = client(&mock);
    let packet = packet(&client, 2, 888);
    assert!(client.send(&packet).await.unwrap().is_sent());

    // Act
    mock.claim(client.mch_id().as_str(), packet.mch_billno.as_str(), None)
        .unwrap();
    let outcome = client.query(&packet.mch_billno).await.unwrap();

    // Assert
    let QueryOutcome::Found(record) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(record.status, Status::Received);
    assert_eq!(record.claims.len(), 1);
    assert_eq!(record.claims[0].openid, packet.re_openid.as_str());
    assert_eq!(record.claims[0].amount, Fen::new(888));
}

#[tokio::test]
#[allow(
    deprecated,
    reason = "the retired group API is still served by the mock"
)]
async fn a_group_packet_is_sent_and_queried() {
    // Arrange
    let mock = start(Behaviour::default()).await;
    let client = client(&mock);
    let packet = packet(&client, 3, 1500).with_total_num(5);

    // Act
    let outcome = client.send_group(&packet).await.unwrap();
    let record = client.query(&packet.mch_billno).await.unwrap();

    // Assert
    assert!(outcome.is_sent(), "{outcome:?}");
    let QueryOutcome::Found(record) = record else {
        panic!("{record:?}")
    };
    assert_eq!(record.hb_type, Some(wxpay_proto::HbType::Group));
    assert_eq!(record.total_num, Some(5));
    let shares: u64 = mock
        .ledger()
        .merchants
        .iter()
        .flat_map(|m| &m.packets)
        .filter(|p| p.mch_billno == packet.mch_billno.as_str())
        .flat_map(|p| p.shares.iter().copied())
        .sum();
    assert_eq!(shares, 1500);
}

#[tokio::test]
async fn a_mini_program_packet_returns_its_package_and_the_page_parameters() {
    // Arrange
    let mock = start(Behaviour::default()).await;
    let client = client(&mock);
    let packet = packet(&client, 4, 500);

    // Act
    let outcome = client.send_mini_program(&packet).await.unwrap();

    // Assert
    let SendOutcome::Sent { package, .. } = &outcome else {
        panic!("{outcome:?}")
    };
    let package = package.as_deref().expect("a package");
    assert!(package.starts_with("sendid="), "{package}");
    let params = client.biz_red_packet_params(package).unwrap();
    assert!(params.package.starts_with("sendid%3D"));
    assert_eq!(params.pay_sign.len(), 32);
    let appid = client.mini_program_appid().unwrap().clone();
    let record = client
        .query_with_appid(&packet.mch_billno, &appid)
        .await
        .unwrap();
    assert!(matches!(record, QueryOutcome::Found(r) if r.status == Status::Sent));
}

#[tokio::test]
async fn a_validation_failure_reaches_neither_the_mock_nor_its_ledger() {
    // Arrange
    let mock = start(Behaviour::default()).await;
    let client = client(&mock);
    let packet = packet(&client, 5, 50); // below 1 yuan without a scene_id

    // Act
    let error = client.send(&packet).await.unwrap_err();

    // Assert
    assert_eq!(error.field(), Some("scene_id"));
    assert!(mock.requests().is_empty());
    assert_eq!(packets_with(&mock, &packet.mch_billno), 0);
}

/// Sends one packet reliably under `rules` and checks it ends Sent with one packet.
async fn survives(
    rules: Vec<FaultRule>,
    behaviour: Behaviour,
    request_timeout: Duration,
) -> Survivor {
    // Arrange
    let mock = start(behaviour).await;
    let client = client_for(&mock, request_timeout);
    let packet = packet(&client, 10, 1000);
    let request = client.normal(&packet).unwrap();
    mock.set_faults(faults(rules));

    // Act
    let outcome = client.send_reliably(&request, &patient()).await.unwrap();

    // Assert
    assert!(outcome.is_sent(), "{outcome:?}\n{:#?}", mock.requests());
    assert_exactly_one_packet_and_invariants(&mock, &packet.mch_billno);
    Survivor {
        mock,
        client,
        packet,
    }
}

/// What a reliability case leaves behind, for case-specific checks.
struct Survivor {
    mock: Arc<MockServer>,
    client: RedpackClient,
    packet: RedPacket,
}

impl Survivor {
    /// The journal's outcomes for `api`, in order.
    fn outcomes(&self, api: &str) -> Vec<String> {
        self.mock
            .requests()
            .into_iter()
            .filter(|r| r.api.as_deref() == Some(api))
            .map(|r| r.outcome)
            .collect()
    }
}

fn send_fault(stage: FaultStage, action: FaultAction) -> FaultRule {
    FaultRule::new(FaultApi::SendRedpack, stage, action).times(1)
}

#[tokio::test]
async fn a_reset_after_the_commit_ends_sent_with_one_packet() {
    let survivor = survives(
        vec![send_fault(FaultStage::AfterCommit, FaultAction::Reset)],
        Behaviour::default(),
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(survivor.outcomes("sendredpack"), ["reset (after SUCCESS)"]);
    assert_eq!(survivor.outcomes("gethbinfo"), ["SUCCESS"]);
}

#[tokio::test]
async fn a_systemerror_after_the_commit_ends_sent_with_one_packet() {
    let survivor = survives(
        vec![send_fault(
            FaultStage::AfterCommit,
            FaultAction::Systemerror,
        )],
        Behaviour::default(),
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(
        survivor.outcomes("sendredpack"),
        ["SYSTEMERROR (after SUCCESS)"]
    );
    assert_eq!(survivor.outcomes("gethbinfo"), ["SUCCESS"]);
}

#[tokio::test]
async fn a_systemerror_before_the_commit_ends_sent_with_one_packet() {
    let survivor = survives(
        vec![send_fault(
            FaultStage::BeforeCommit,
            FaultAction::Systemerror,
        )],
        Behaviour::default(),
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(survivor.outcomes("sendredpack"), ["SYSTEMERROR", "SUCCESS"]);
    assert_eq!(survivor.outcomes("gethbinfo"), ["NOT_FOUND"]);
}

#[tokio::test]
async fn garbage_html_and_processing_answers_end_sent_with_one_packet() {
    let survivor = survives(
        vec![
            send_fault(FaultStage::AfterCommit, FaultAction::Garbage),
            send_fault(FaultStage::AfterCommit, FaultAction::Html),
            send_fault(FaultStage::AfterCommit, FaultAction::Processing),
            FaultRule::new(
                FaultApi::GetHbInfo,
                FaultStage::BeforeCommit,
                FaultAction::Html,
            )
            .times(1),
        ],
        Behaviour::default(),
        Duration::from_secs(10),
    )
    .await;
    let faulted = survivor
        .mock
        .requests()
        .iter()
        .filter(|r| r.fault.is_some())
        .count();
    assert!(faulted >= 3, "{:#?}", survivor.mock.requests());
}

#[tokio::test]
async fn a_response_timeout_with_a_late_commit_ends_sent_with_one_packet() {
    // The mock holds the first send 700 ms before committing it; the client gives up after
    // 300 ms, so the commit lands after the client's timeout.
    survives(
        vec![
            send_fault(FaultStage::BeforeCommit, FaultAction::Timeout)
                .delay(Duration::from_millis(700)),
        ],
        Behaviour::default(),
        Duration::from_millis(300),
    )
    .await;
}

#[tokio::test]
async fn a_lost_answer_after_the_commit_ends_sent_with_one_packet() {
    survives(
        vec![
            send_fault(FaultStage::AfterCommit, FaultAction::Timeout)
                .delay(Duration::from_millis(700)),
        ],
        Behaviour::default(),
        Duration::from_millis(300),
    )
    .await;
}

#[tokio::test]
async fn a_query_not_found_while_the_commit_lands_late_ends_sent_with_one_packet() {
    // The first send takes 600 ms to commit (the client gives up after 300 ms) and its packet
    // stays invisible to gethbinfo for an hour of virtual time: the queries say not found while
    // the packet exists. The resends must replay it, not pay again.
    let mut behaviour = Behaviour::default();
    behaviour.commit_latency = Duration::from_millis(600);
    let survivor = survives(
        vec![
            FaultRule::new(
                FaultApi::SendRedpack,
                FaultStage::AfterCommit,
                FaultAction::LateCommit,
            )
            .late_secs(3600)
            .times(1),
        ],
        behaviour,
        Duration::from_millis(300),
    )
    .await;

    // The packet is still invisible to gethbinfo: the client was Sent by a replay.
    let query = survivor
        .client
        .query(&survivor.packet.mch_billno)
        .await
        .unwrap();
    assert_eq!(query, QueryOutcome::NotFound);
    let sends = survivor.outcomes("sendredpack");
    assert_eq!(
        sends.last().map(String::as_str),
        Some("REPLAY"),
        "{sends:?}"
    );
    assert!(
        survivor
            .outcomes("gethbinfo")
            .iter()
            .all(|o| o == "NOT_FOUND")
    );
}

#[tokio::test]
async fn a_send_still_sending_is_queried_until_sent_and_never_paid_twice() {
    // The send is accepted (SYSTEMERROR) and its record reads SENDING for 20 s of virtual time:
    // the client queries with back-off (its sleeps move the mock's clock) until SENT.
    let survivor = survives(
        vec![
            FaultRule::new(
                FaultApi::SendRedpack,
                FaultStage::AfterCommit,
                FaultAction::Sending,
            )
            .late_secs(20)
            .times(1),
        ],
        Behaviour::default(),
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(survivor.outcomes("sendredpack"), ["SYSTEMERROR"]);
    let queries = survivor.outcomes("gethbinfo");
    assert!(queries.len() >= 2, "{queries:?}");
}

#[tokio::test]
async fn a_send_sending_past_the_budget_stays_unknown_then_settles_with_its_billno() {
    // Arrange: SENDING for an hour, longer than the client's policy lasts.
    let mock = start(Behaviour::default()).await;
    let client = client(&mock);
    let packet = packet(&client, 11, 1000);
    let request = client.normal(&packet).unwrap();
    mock.set_faults(faults(vec![
        FaultRule::new(
            FaultApi::SendRedpack,
            FaultStage::AfterCommit,
            FaultAction::Sending,
        )
        .late_secs(3600)
        .times(1),
    ]));
    let mut short = patient();
    short.max_total = Duration::from_secs(60);

    // Act
    let first = client.send_reliably(&request, &short).await.unwrap();
    mock.advance_clock(Duration::from_secs(3600));
    let later = client.send_reliably(&request, &short).await.unwrap();

    // Assert: never resent while SENDING, then Sent with the one packet.
    assert!(
        matches!(
            first,
            SendOutcome::Unknown {
                cause: wxpay_redpack::UnknownCause::StillSending,
                ..
            }
        ),
        "{first:?}"
    );
    assert!(later.is_sent(), "{later:?}");
    let sends = mock
        .requests()
        .into_iter()
        .filter(|r| r.api.as_deref() == Some("sendredpack"))
        .count();
    assert_eq!(
        sends, 2,
        "one send per call: the first, then the one that replays"
    );
    assert_exactly_one_packet_and_invariants(&mock, &packet.mch_billno);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_duplicates_from_two_clients_end_sent_with_one_packet() {
    // Arrange: two processes' clients send the same billno at once; the mock takes 300 ms to
    // commit, so the second arrives while the first is in flight (PROCESSING).
    let mut behaviour = Behaviour::default();
    behaviour.commit_latency = Duration::from_millis(300);
    let mock = start(behaviour).await;
    let first = client(&mock);
    let second = client(&mock);
    let packet = packet(&first, 20, 1000);
    let request = first.normal(&packet).unwrap();
    let policy = patient();

    // Act
    let (a, b) = tokio::join!(
        first.send_reliably(&request, &policy),
        second.send_reliably(&request, &policy)
    );

    // Assert
    let (a, b) = (a.unwrap(), b.unwrap());
    assert!(a.is_sent() && b.is_sent(), "{a:?} {b:?}");
    assert_eq!(a.send_listid(), b.send_listid());
    assert_exactly_one_packet_and_invariants(&mock, &packet.mch_billno);
    let sends: Vec<String> = mock
        .requests()
        .into_iter()
        .filter(|r| r.api.as_deref() == Some("sendredpack"))
        .map(|r| r.outcome)
        .collect();
    assert_eq!(
        sends.iter().filter(|o| *o == "SUCCESS").count(),
        1,
        "{sends:?}"
    );
    assert!(
        sends.iter().any(|o| o == "PROCESSING" || o == "REPLAY"),
        "{sends:?}"
    );
}

#[tokio::test]
async fn a_failed_send_is_the_one_case_that_allows_a_new_billno() {
    // Arrange: the commit is recorded FAILED and answered SYSTEMERROR.
    let mock = start(Behaviour::default()).await;
    let client = client(&mock);
    let packet = packet(&client, 30, 1000);
    let request = client.normal(&packet).unwrap();
    mock.set_faults(faults(vec![
        FaultRule::new(
            FaultApi::SendRedpack,
            FaultStage::AfterCommit,
            FaultAction::SendFailed,
        )
        .times(1),
    ]));

    // Act
    let outcome = client.send_reliably(&request, &patient()).await.unwrap();

    // Assert
    assert!(outcome.allows_new_billno(), "{outcome:?}");
    assert!(!outcome.is_sent());
    let report = mock.invariants();
    assert!(report.ok, "{:?}", report.violations);
}

#[tokio::test]
async fn a_mini_program_packet_whose_answer_was_lost_still_gets_its_package() {
    // Arrange
    let mock = start(Behaviour::default()).await;
    let client = client(&mock);
    let packet = packet(&client, 40, 600);
    let request = client.mini_program(&packet).unwrap();
    mock.set_faults(faults(vec![
        FaultRule::new(
            FaultApi::SendMiniProgramHb,
            FaultStage::AfterCommit,
            FaultAction::Reset,
        )
        .times(1),
    ]));

    // Act
    let outcome = client.send_reliably(&request, &patient()).await.unwrap();

    // Assert
    let SendOutcome::Sent {
        package,
        confirmed_by,
        ..
    } = &outcome
    else {
        panic!("{outcome:?}")
    };
    assert!(package.as_deref().is_some_and(|p| p.starts_with("sendid=")));
    assert_eq!(*confirmed_by, Confirmation::SendResponse);
    assert_exactly_one_packet_and_invariants(&mock, &packet.mch_billno);
}

#[tokio::test]
async fn random_faults_over_many_sends_end_all_sent_with_one_packet_per_billno() {
    // Arrange: every request (sends and queries) gets a fault with probability 0.35, drawn
    // from a seeded plan of every action before and after the commit.
    let mock = start(Behaviour::default()).await;
    let client = client_for(&mock, Duration::from_millis(500));
    let mut rules = Vec::new();
    for stage in [FaultStage::BeforeCommit, FaultStage::AfterCommit] {
        for action in [
            FaultAction::Reset,
            FaultAction::Systemerror,
            FaultAction::Processing,
            FaultAction::Garbage,
            FaultAction::Html,
        ] {
            rules.push(FaultRule::new(FaultApi::Any, stage, action).probability(0.04));
        }
        rules.push(
            FaultRule::new(FaultApi::Any, stage, FaultAction::Timeout)
                .delay(Duration::from_millis(800))
                .probability(0.01),
        );
    }
    rules.push(
        FaultRule::new(
            FaultApi::SendRedpack,
            FaultStage::AfterCommit,
            FaultAction::LateCommit,
        )
        .late_secs(20)
        .probability(0.05),
    );
    mock.set_faults(FaultPlan { seed: 2024, rules });
    let packets: Vec<RedPacket> = (0..40).map(|n| packet(&client, 100 + n, 100 + n)).collect();

    // Act
    let mut outcomes = Vec::new();
    for packet in &packets {
        let request = client.normal(packet).unwrap();
        outcomes.push(client.send_reliably(&request, &patient()).await.unwrap());
    }

    // Assert
    for (packet, outcome) in packets.iter().zip(&outcomes) {
        assert!(outcome.is_sent(), "{}: {outcome:?}", packet.mch_billno);
        assert_eq!(
            packets_with(&mock, &packet.mch_billno),
            1,
            "{}",
            packet.mch_billno
        );
    }
    let faulted = mock.requests().iter().filter(|r| r.fault.is_some()).count();
    assert!(faulted > 0, "the plan injected faults");
    let report = mock.invariants();
    assert!(report.ok, "{:?}", report.violations);
}
