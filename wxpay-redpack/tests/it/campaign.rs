//! Campaigns: billnos, the journal written before sending, resuming after an interrupted run,
//! reconciling, rejections, the rate limit and the report — against `wxpay-mock` over mutual
//! TLS, with the client on a virtual clock (its retry and rate-limit sleeps return at once).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use wxpay_mock::{
    ClockMode, FaultAction, FaultApi, FaultPlan, FaultRule, FaultStage, MerchantConfig, MockServer,
};
use wxpay_proto::{ActName, Fen, MchId, OpenId, RawMessage, Remark, SendName, Wishing};
use wxpay_redpack::campaign::{
    Campaign, CampaignError, CampaignFile, CampaignRow, LineProblem, PacketTemplate, ParseOptions,
    RowState, RunOptions, Tally, Verdict, campaign_billno,
};
use wxpay_redpack::{
    BillDate, DEFAULT_CLIENT_IP, ManualClock, RedpackClient, RedpackClientBuilder, RetryPolicy,
};
use wxpay_transport::CapturingTransport;
use wxpay_transport::{HttpsTransport, Response, SimulatedFailure, Transport, TransportError};

/// 2026-01-01 08:00 Beijing time: campaign number 2880 by default.
const NOW: u64 = 1_767_225_600;

async fn mock() -> MockServer {
    mock_with(MerchantConfig::new("1900000109")).await
}

async fn mock_with(merchant: MerchantConfig) -> MockServer {
    MockServer::builder()
        .seed(11)
        .clock(ClockMode::Frozen)
        .merchant(merchant)
        .start()
        .await
        .unwrap()
}

fn builder(mock: &MockServer, clock: &ManualClock) -> RedpackClientBuilder {
    RedpackClientBuilder::from_merchant_toml(mock.default_merchant().merchant_toml_path())
        .unwrap()
        .send_name("测试商户")
        .request_timeout(Duration::from_secs(10))
        .clock(Arc::new(clock.clone()))
}

fn client(mock: &MockServer, clock: &ManualClock) -> RedpackClient {
    builder(mock, clock).build().unwrap()
}

fn client_over<T: Transport>(
    mock: &MockServer,
    clock: &ManualClock,
    transport: T,
) -> RedpackClient<T> {
    builder(mock, clock)
        .build_with_transport(transport)
        .unwrap()
}

fn https(mock: &MockServer, clock: &ManualClock) -> HttpsTransport {
    client(mock, clock).transport().clone()
}

fn rows(n: usize, fen: u64) -> CampaignFile {
    CampaignFile::from_rows(
        (1..=n)
            .map(|i| {
                CampaignRow::new(
                    i + 1,
                    OpenId::new(format!("oCampaign{i:06}")).unwrap(),
                    Fen::new(fen),
                )
            })
            .collect(),
    )
    .unwrap()
}

fn template() -> PacketTemplate {
    PacketTemplate::new(
        Wishing::new("恭喜发财").unwrap(),
        ActName::new("测试活动").unwrap(),
        Remark::new("备注").unwrap(),
    )
}

fn journal_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("campaign.db")
}

/// A policy with one send and no query: an unknown outcome stays unknown.
fn one_shot() -> RetryPolicy {
    let mut policy = RetryPolicy::default();
    policy.max_attempts = 1;
    policy.max_queries = 0;
    policy
}

fn billno_of(body: &[u8]) -> String {
    RawMessage::parse(body)
        .unwrap()
        .text("mch_billno")
        .unwrap()
        .to_owned()
}

fn state_in_journal(journal: &Path, billno: &str) -> Option<String> {
    let conn =
        rusqlite::Connection::open_with_flags(journal, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .ok()?;
    conn.query_row(
        "SELECT state FROM rows WHERE mch_billno = ?1",
        [billno],
        |r| r.get(0),
    )
    .ok()
}

/// A billno and the state of its row in the journal when its request left.
type Seen = (String, Option<String>);

/// Wraps a transport: records, for each send, the row's state in the journal at the moment
/// the request leaves; after `forward` sends, holds every further send for ever (a process
/// frozen mid-request, about to be killed).
#[derive(Clone)]
struct Probe<T> {
    inner: T,
    journal: PathBuf,
    seen: Arc<Mutex<Vec<Seen>>>,
    forwarded: Arc<AtomicUsize>,
    forward: usize,
}

impl<T> Probe<T> {
    fn new(inner: T, journal: &Path, forward: usize) -> Self {
        Self {
            inner,
            journal: journal.to_owned(),
            seen: Arc::default(),
            forwarded: Arc::default(),
            forward,
        }
    }
}

impl<T: Transport> Transport for Probe<T> {
    async fn post(&self, path: &str, body: Bytes) -> Result<Response, TransportError> {
        if path.ends_with("/sendredpack") {
            let billno = billno_of(&body);
            let state = state_in_journal(&self.journal, &billno);
            self.seen.lock().unwrap().push((billno, state));
            if self.forwarded.fetch_add(1, Ordering::SeqCst) >= self.forward {
                std::future::pending::<()>().await;
            }
        }
        self.inner.post(path, body).await
    }
}

/// Every request fails before it leaves (connection refused).
#[derive(Clone, Debug)]
struct Refusing;

impl Transport for Refusing {
    fn post(
        &self,
        _path: &str,
        _body: Bytes,
    ) -> impl Future<Output = Result<Response, TransportError>> + Send {
        std::future::ready(Err(TransportError::simulated(
            SimulatedFailure::ConnectRefused,
        )))
    }
}

fn packets_in_ledger(mock: &MockServer) -> Vec<String> {
    let mut billnos: Vec<String> = mock
        .ledger()
        .merchants
        .iter()
        .flat_map(|m| &m.packets)
        .map(|p| p.mch_billno.clone())
        .collect();
    billnos.sort();
    billnos
}

/// Exactly one packet per row, under the row's journaled billno, and the mock's invariants.
fn assert_one_packet_per_row(mock: &MockServer, campaign: &Campaign) {
    let mut journaled: Vec<String> = campaign
        .rows()
        .unwrap()
        .iter()
        .map(|r| r.mch_billno.as_str().to_owned())
        .collect();
    journaled.sort();
    assert_eq!(packets_in_ledger(mock), journaled);
    let report = mock.invariants();
    assert!(report.ok, "{:?}", report.violations);
}

#[tokio::test]
async fn each_row_gets_the_billno_of_its_campaign_and_row_and_a_rerun_keeps_them() {
    // Arrange
    let mock = mock().await;
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at_unix_secs(NOW);
    let client = client(&mock, &clock);
    let file = rows(3, 100);

    // Act
    let created = Campaign::prepare(journal_path(&dir), &client, &file, &template(), None).unwrap();
    clock.advance(Duration::from_secs(2 * 86_400));
    let resumed = Campaign::prepare(journal_path(&dir), &client, &file, &template(), None).unwrap();

    // Assert
    assert!(created.was_created());
    assert!(!resumed.was_created());
    assert_eq!(created.id().to_string(), "20260101-2880");
    assert_eq!(resumed.id(), created.id(), "the date is fixed at creation");
    assert_eq!(created.id().date, BillDate::new(2026, 1, 1).unwrap());
    let billnos: Vec<String> = resumed
        .rows()
        .unwrap()
        .iter()
        .map(|r| r.mch_billno.as_str().to_owned())
        .collect();
    assert_eq!(
        billnos,
        [
            "1900000109202601012880000001",
            "1900000109202601012880000002",
            "1900000109202601012880000003"
        ]
    );
    assert!(
        resumed
            .rows()
            .unwrap()
            .iter()
            .all(|r| r.state == RowState::Pending)
    );
    assert_eq!(resumed.total(), Fen::new(300));
}

#[tokio::test]
async fn rows_that_break_a_rule_are_reported_by_line_and_nothing_is_journaled_or_sent() {
    // Arrange: 0.50 yuan needs a scene_id; 300 yuan is over the default 200.
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at_unix_secs(NOW);
    let transport = CapturingTransport::new();
    let mock = mock().await;
    let client = client_over(&mock, &clock, transport.clone());
    let file = CampaignFile::parse(
        "oGood\noCheap,0.50\noGood2\noRich,300\n",
        &ParseOptions::with_default_amount(Fen::new(100)),
    )
    .unwrap();

    // Act
    let error =
        Campaign::prepare(journal_path(&dir), &client, &file, &template(), Some(7)).unwrap_err();

    // Assert
    let lines: Vec<usize> = error.line_errors().iter().map(|e| e.line).collect();
    assert_eq!(lines, vec![2, 4], "{error:?}");
    assert!(matches!(
        error.line_errors()[0].problem,
        LineProblem::Rule {
            field: "scene_id",
            ..
        }
    ));
    assert_eq!(
        error.line_errors()[1].to_string(),
        "line 4: field `scene_id` breaks rule PARAM_ERROR: \
         参数错误:红包金额小于1元或大于200元时scene_id字段必填"
    );
    assert!(
        !journal_path(&dir).exists(),
        "no journal for a file that is not clean"
    );
    assert!(transport.requests().is_empty());
}

#[tokio::test]
async fn a_file_of_no_rows_is_refused_before_a_journal_or_a_campaign_number_is_written() {
    // Arrange: only a comment and blank lines.
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at_unix_secs(NOW);
    let transport = CapturingTransport::new();
    let mock = mock().await;
    let client = client_over(&mock, &clock, transport.clone());
    let file = CampaignFile::parse(
        "# nobody yet\n\n  \n",
        &ParseOptions::with_default_amount(Fen::new(100)),
    )
    .unwrap();

    // Act
    let error = Campaign::prepare(journal_path(&dir), &client, &file, &template(), None)
        .err()
        .unwrap();

    // Assert
    assert!(matches!(error, CampaignError::EmptyFile), "{error:?}");
    assert_eq!(error.to_string(), "the campaign file has no rows");
    let written: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(written.is_empty(), "nothing written: {written:?}");
    assert!(transport.requests().is_empty());
}

#[tokio::test]
async fn every_row_is_journaled_as_sending_with_its_billno_before_its_request_leaves() {
    // Arrange
    let mock = mock().await;
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at_unix_secs(NOW);
    let probe = Probe::new(https(&mock, &clock), &journal_path(&dir), usize::MAX);
    let client = client_over(&mock, &clock, probe.clone());
    let campaign = Campaign::prepare(
        journal_path(&dir),
        &client,
        &rows(12, 150),
        &template(),
        Some(1),
    )
    .unwrap();

    // Act
    let report = campaign
        .run(&client, &RunOptions::default().concurrency(4), |_| {})
        .await
        .unwrap();

    // Assert
    let seen = probe.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 12);
    for (billno, state) in &seen {
        assert_eq!(state.as_deref(), Some("sending"), "{billno}");
    }
    assert_eq!(report.sent, Tally::new(12, Fen::new(1800)));
    assert_eq!(report.verdict(), Verdict::AllSent);
    assert_one_packet_per_row(&mock, &campaign);
}

#[tokio::test]
async fn when_the_transport_fails_each_row_keeps_its_billno_and_its_attempt_is_journaled() {
    // Arrange
    let mock = mock().await;
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at_unix_secs(NOW);
    let file = rows(5, 100);
    let lost = client_over(&mock, &clock, CapturingTransport::new());
    let refused = client_over(&mock, &clock, Refusing);
    let campaign =
        Campaign::prepare(journal_path(&dir), &lost, &file, &template(), Some(3)).unwrap();
    let before: Vec<String> = campaign
        .rows()
        .unwrap()
        .iter()
        .map(|r| r.mch_billno.to_string())
        .collect();
    let options = RunOptions::default().retry(one_shot());

    // Act 1: every answer is lost after sending: unknown.
    let report = campaign.run(&lost, &options, |_| {}).await.unwrap();

    // Assert 1
    assert_eq!(report.unknown, Tally::new(5, Fen::new(500)));
    assert_eq!(report.verdict(), Verdict::Unfinished);
    let journal = rusqlite::Connection::open(journal_path(&dir)).unwrap();
    let outcomes: Vec<(i64, String)> = journal
        .prepare("SELECT row_no, outcome FROM attempts ORDER BY row_no")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        outcomes,
        (1..=5)
            .map(|n| (n, "unknown".to_owned()))
            .collect::<Vec<_>>()
    );

    // Act 2: nothing leaves at all: the rows stay unknown (an earlier attempt may have landed).
    let report = campaign.run(&refused, &options, |_| {}).await.unwrap();
    assert_eq!(report.unknown.count, 5);

    // Act 3: the network is back: each row is re-entered with its billno.
    let report = campaign
        .run(&client(&mock, &clock), &RunOptions::default(), |_| {})
        .await
        .unwrap();

    // Assert
    assert_eq!(report.sent.count, 5);
    let rows = campaign.rows().unwrap();
    let after: Vec<String> = rows.iter().map(|r| r.mch_billno.to_string()).collect();
    assert_eq!(after, before, "no billno is ever minted again");
    assert!(rows.iter().all(|r| r.attempts == 3));
    assert_one_packet_per_row(&mock, &campaign);
}

#[tokio::test]
async fn a_row_never_sent_because_the_network_refused_stays_pending() {
    let mock = mock().await;
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at_unix_secs(NOW);
    let refused = client_over(&mock, &clock, Refusing);
    let campaign = Campaign::prepare(
        journal_path(&dir),
        &refused,
        &rows(2, 100),
        &template(),
        Some(4),
    )
    .unwrap();

    let report = campaign
        .run(&refused, &RunOptions::default().retry(one_shot()), |_| {})
        .await
        .unwrap();

    assert_eq!(report.pending, Tally::new(2, Fen::new(200)));
    assert_eq!(report.unknown.count, 0);
    let rows = campaign.rows().unwrap();
    assert!(
        rows.iter()
            .all(|r| r.state == RowState::Pending && r.attempts == 1)
    );
}

#[tokio::test]
async fn an_interrupted_run_resumes_and_sends_nothing_twice() {
    // Arrange: answers lost after the commit now and then; the process "dies" after 9 sends.
    let mock = mock().await;
    mock.set_faults(FaultPlan {
        seed: 5,
        rules: vec![
            FaultRule::new(
                FaultApi::SendRedpack,
                FaultStage::AfterCommit,
                FaultAction::Reset,
            )
            .probability(0.3),
        ],
    });
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at_unix_secs(NOW);
    let probe = Probe::new(https(&mock, &clock), &journal_path(&dir), 9);
    let dying = client_over(&mock, &clock, probe);
    let file = rows(40, 120);
    let campaign =
        Campaign::prepare(journal_path(&dir), &dying, &file, &template(), Some(9)).unwrap();
    let options = RunOptions::default().concurrency(4);

    // Act 1: the run is dropped while requests hang (its tasks are aborted mid-flight).
    let interrupted = tokio::time::timeout(
        Duration::from_secs(2),
        campaign.run(&dying, &options, |_| {}),
    )
    .await;
    assert!(interrupted.is_err(), "the run must have been cut off");
    let midway = campaign.report().unwrap();
    assert!(midway.sent.count < 40, "{midway:?}");
    assert!(midway.unknown.count > 0, "rows left `sending`: {midway:?}");
    assert_eq!(
        midway.settled, midway.sent.count,
        "the cut-off run's rows still count"
    );

    // Act 2: rerun the same campaign from its journal.
    let client = client(&mock, &clock);
    let resumed = Campaign::prepare(journal_path(&dir), &client, &file, &template(), None).unwrap();
    let report = resumed.run(&client, &options, |_| {}).await.unwrap();

    // Assert
    assert!(!resumed.was_created());
    assert_eq!(report.sent, Tally::new(40, Fen::new(4800)));
    assert_eq!(report.verdict(), Verdict::AllSent);
    assert_one_packet_per_row(&mock, &resumed);
}

#[tokio::test]
async fn reconcile_settles_unknown_rows_by_query_or_by_reentry_with_the_same_billno() {
    // Arrange: 3 answers lost after the commit, then 2 requests lost before it.
    let mock = mock().await;
    mock.set_faults(FaultPlan {
        seed: 1,
        rules: vec![
            FaultRule::new(
                FaultApi::SendRedpack,
                FaultStage::AfterCommit,
                FaultAction::Reset,
            )
            .times(3),
            FaultRule::new(
                FaultApi::SendRedpack,
                FaultStage::BeforeCommit,
                FaultAction::Reset,
            )
            .times(2),
        ],
    });
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at_unix_secs(NOW);
    let client = client(&mock, &clock);
    let campaign = Campaign::prepare(
        journal_path(&dir),
        &client,
        &rows(6, 100),
        &template(),
        Some(2),
    )
    .unwrap();
    let one_at_a_time = RunOptions::default().concurrency(1).retry(one_shot());
    let first = campaign.run(&client, &one_at_a_time, |_| {}).await.unwrap();
    assert_eq!((first.sent.count, first.unknown.count), (1, 5));
    assert_eq!(packets_in_ledger(&mock).len(), 4);
    mock.clear_faults();

    // Act
    let mut settled = Vec::new();
    let report = campaign
        .reconcile(&client, &RunOptions::default(), |p| {
            settled.push((p.row.row_no, p.row.state, p.row.detail.clone()));
        })
        .await
        .unwrap();

    // Assert
    assert_eq!(report.sent.count, 6);
    assert_eq!(settled.len(), 5);
    settled.sort_by_key(|s| s.0);
    for (row_no, state, detail) in &settled[..3] {
        assert_eq!(*state, RowState::Sent);
        assert_eq!(
            detail.as_deref(),
            Some("confirmed by gethbinfo (SENT)"),
            "row {row_no}"
        );
    }
    for (_, state, detail) in &settled[3..] {
        assert_eq!(*state, RowState::Sent);
        assert_eq!(detail.as_deref(), Some("confirmed by the send's answer"));
    }
    assert_one_packet_per_row(&mock, &campaign);
}

#[tokio::test]
async fn a_send_failed_row_stays_rejected_with_its_billno_even_when_rejections_are_retried() {
    // Arrange: the first send fails for good (a FAILED record; SEND_FAILED on re-entry).
    let mock = mock().await;
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at_unix_secs(NOW);
    let client = client(&mock, &clock);
    let campaign = Campaign::prepare(
        journal_path(&dir),
        &client,
        &rows(3, 100),
        &template(),
        Some(5),
    )
    .unwrap();
    mock.set_faults(FaultPlan {
        seed: 1,
        rules: vec![
            FaultRule::new(
                FaultApi::SendRedpack,
                FaultStage::BeforeCommit,
                FaultAction::SendFailed,
            )
            .times(1),
        ],
    });
    let serial = RunOptions::default().concurrency(1);
    let billno = campaign.rows().unwrap()[0].mch_billno.clone();

    // Act
    let report = campaign.run(&client, &serial, |_| {}).await.unwrap();
    let again = campaign
        .run(&client, &serial.clone().retry_rejected(true), |_| {})
        .await
        .unwrap();

    // Assert
    assert_eq!(report.sent.count, 2);
    assert_eq!(
        report.rejected.get("SEND_FAILED"),
        Some(&Tally::new(1, Fen::new(100)))
    );
    assert_eq!(report.verdict(), Verdict::Rejected);
    assert_eq!(
        (again.sent, &again.rejected),
        (report.sent, &report.rejected)
    );
    assert_eq!(again.settled, 0, "a class D row is never retried");
    let rows = campaign.rows().unwrap();
    assert_eq!(rows[0].state, RowState::Rejected);
    assert_eq!(rows[0].mch_billno, billno);
    assert_eq!(rows[0].attempts, 1);
    assert_eq!(
        packets_in_ledger(&mock).len(),
        3,
        "the FAILED record and two packets"
    );
}

/// A persistent mock on `data`; `whitelist`: the merchant's IP whitelist (empty: any IP).
async fn persistent_mock(data: &Path, whitelist: &[&str]) -> MockServer {
    MockServer::builder()
        .seed(11)
        .clock(ClockMode::Frozen)
        .data_dir(data)
        .merchant(
            MerchantConfig::new("1900000109")
                .ip_whitelist(whitelist.iter().map(|ip| ip.parse().unwrap())),
        )
        .start()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_row_left_unknown_is_not_made_rejected_by_a_later_refusal_that_proves_nothing() {
    // Arrange: run 1 loses the answer after the packet is issued. Then the merchant's IP
    // whitelist stops listing this machine: NO_AUTH comes before the billno is looked at.
    let data = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at_unix_secs(NOW);
    let mock = persistent_mock(data.path(), &[]).await;
    let client_1 = client(&mock, &clock);
    let campaign = Campaign::prepare(
        journal_path(&dir),
        &client_1,
        &rows(1, 100),
        &template(),
        Some(6),
    )
    .unwrap();
    mock.set_faults(FaultPlan {
        seed: 1,
        rules: vec![
            FaultRule::new(
                FaultApi::SendRedpack,
                FaultStage::AfterCommit,
                FaultAction::Reset,
            )
            .times(1),
        ],
    });
    let first = campaign
        .run(&client_1, &RunOptions::default().retry(one_shot()), |_| {})
        .await
        .unwrap();
    assert_eq!(first.unknown.count, 1);
    drop(mock);
    let closed = persistent_mock(data.path(), &["192.0.2.1"]).await;
    let client_2 = client(&closed, &clock);

    // Act: a run, then a reconcile, both refused.
    let second = campaign
        .run(&client_2, &RunOptions::default().retry(one_shot()), |_| {})
        .await
        .unwrap();
    let third = campaign
        .reconcile(&client_2, &RunOptions::default(), |_| {})
        .await
        .unwrap();

    // Assert: still unknown (the refusal is in its detail), never rejected.
    for report in [&second, &third] {
        assert_eq!(report.unknown.count, 1, "{report:?}");
        assert!(report.rejected.is_empty(), "{report:?}");
    }
    let row = &campaign.rows().unwrap()[0];
    assert_eq!(row.state, RowState::Unknown);
    let detail = row.detail.as_deref().unwrap_or_default();
    assert!(detail.contains("NO_AUTH"), "{detail}");
    drop(closed);

    // And once the whitelist is fixed, reconcile finds the one packet run 1 issued.
    let open = persistent_mock(data.path(), &[]).await;
    let settled = campaign
        .reconcile(&client(&open, &clock), &RunOptions::default(), |_| {})
        .await
        .unwrap();
    assert_eq!(settled.sent.count, 1);
    assert_eq!(campaign.rows().unwrap()[0].state, RowState::Sent);
    assert_one_packet_per_row(&open, &campaign);
}

#[tokio::test]
async fn rows_refused_for_balance_are_resent_with_their_billno_only_when_asked() {
    // Arrange: 3.00 yuan for five 1.00-yuan packets.
    let mock = mock_with(MerchantConfig::new("1900000109").balance(Fen::new(300))).await;
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at_unix_secs(NOW);
    let client = client(&mock, &clock);
    let campaign = Campaign::prepare(
        journal_path(&dir),
        &client,
        &rows(5, 100),
        &template(),
        Some(6),
    )
    .unwrap();
    let serial = RunOptions::default().concurrency(1);

    // Act
    let first = campaign.run(&client, &serial, |_| {}).await.unwrap();
    let rerun = campaign.run(&client, &serial, |_| {}).await.unwrap();
    mock.top_up("1900000109", Fen::new(1000)).unwrap();
    let retried = campaign
        .run(&client, &serial.clone().retry_rejected(true), |_| {})
        .await
        .unwrap();

    // Assert
    assert_eq!(first.sent, Tally::new(3, Fen::new(300)));
    assert_eq!(
        first.rejected.get("NOTENOUGH"),
        Some(&Tally::new(2, Fen::new(200)))
    );
    assert_eq!(first.rejected_total(), Tally::new(2, Fen::new(200)));
    assert_eq!(first.settled, 5);
    assert_eq!(rerun.settled, 0, "rejections are not retried unless asked");
    assert_eq!(rerun.rejected_total().count, 2);
    assert_eq!(retried.sent, Tally::new(5, Fen::new(500)));
    assert_eq!(retried.verdict(), Verdict::AllSent);
    assert_one_packet_per_row(&mock, &campaign);
}

#[tokio::test]
async fn the_rate_limit_spaces_the_rows_on_the_clients_clock() {
    // Arrange
    let mock = mock().await;
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at_unix_secs(NOW);
    let client = client(&mock, &clock);
    let campaign = Campaign::prepare(
        journal_path(&dir),
        &client,
        &rows(5, 100),
        &template(),
        Some(8),
    )
    .unwrap();
    let options = RunOptions::default().rate_per_minute(60).concurrency(1);

    // Act
    let report = campaign.run(&client, &options, |_| {}).await.unwrap();

    // Assert: one row a second, no other sleep; the report's time is the clock's.
    assert_eq!(clock.sleeps(), vec![Duration::from_secs(1); 4]);
    assert_eq!(report.elapsed, Duration::from_secs(4));
    assert_eq!(report.settled, 5);
    assert_eq!(report.rate_per_minute(), Some(75.0));
    assert_eq!(RunOptions::default().rate_per_minute, 1800);
    let status = campaign.report().unwrap();
    assert_eq!(
        status.elapsed,
        Duration::from_secs(4),
        "the journal keeps run times"
    );
}

#[tokio::test]
async fn a_journal_of_another_campaign_is_refused_and_left_as_it_was() {
    // Arrange
    let mock = mock().await;
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at_unix_secs(NOW);
    let client = client(&mock, &clock);
    let path = journal_path(&dir);
    Campaign::prepare(&path, &client, &rows(3, 100), &template(), Some(1)).unwrap();
    let before = std::fs::read(&path).unwrap();

    // Act
    let other_amounts = Campaign::prepare(&path, &client, &rows(3, 200), &template(), None);
    let other_count = Campaign::prepare(&path, &client, &rows(4, 100), &template(), None);
    let other_number = Campaign::prepare(&path, &client, &rows(3, 100), &template(), Some(2));
    let other_texts = Campaign::prepare(
        &path,
        &client,
        &rows(3, 100),
        &template().with_scene_id(wxpay_proto::SceneId::Product2),
        None,
    );

    // Assert
    for (result, words) in [
        (
            other_amounts,
            "row 1 is oCampaign000001 1.00 yuan in the journal",
        ),
        (other_count, "it has 3 rows, the file has 4"),
        (other_number, "it is campaign number 1, not 2"),
        (other_texts, "its scene_id is unset, not \"PRODUCT_2\""),
    ] {
        let error = result.unwrap_err();
        assert!(matches!(error, CampaignError::Mismatch { .. }), "{error:?}");
        assert!(error.to_string().contains(words), "{error}");
    }
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[tokio::test]
async fn files_that_are_not_journals_are_refused_without_panicking() {
    let mock = mock().await;
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at_unix_secs(NOW);
    let client = client(&mock, &clock);
    let text = dir.path().join("notes.txt");
    std::fs::write(
        &text,
        "not a database at all, just some text that is long enough",
    )
    .unwrap();
    let foreign = dir.path().join("foreign.db");
    rusqlite::Connection::open(&foreign)
        .unwrap()
        .execute_batch("CREATE TABLE t (x INTEGER);")
        .unwrap();

    let garbage = Campaign::prepare(&text, &client, &rows(1, 100), &template(), None).unwrap_err();
    let other = Campaign::open(&foreign).unwrap_err();
    let missing = Campaign::open(dir.path().join("absent.db")).unwrap_err();

    assert!(
        matches!(garbage, CampaignError::Journal { .. }),
        "{garbage:?}"
    );
    assert!(matches!(other, CampaignError::Corrupt { .. }), "{other:?}");
    assert!(
        other
            .to_string()
            .contains("not a wxpay-redpack campaign journal")
    );
    assert!(
        matches!(missing, CampaignError::NoJournal { .. }),
        "{missing:?}"
    );
}

#[tokio::test]
async fn a_campaign_already_running_in_another_process_is_not_run_twice() {
    // Arrange: someone else holds the run lock.
    let mock = mock().await;
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at_unix_secs(NOW);
    let client = client(&mock, &clock);
    let campaign = Campaign::prepare(
        journal_path(&dir),
        &client,
        &rows(2, 100),
        &template(),
        Some(1),
    )
    .unwrap();
    let lock = std::fs::File::create(dir.path().join("campaign.db.lock")).unwrap();
    lock.try_lock().unwrap();

    // Act
    let busy = campaign
        .run(&client, &RunOptions::default(), |_| {})
        .await
        .unwrap_err();
    drop(lock);
    let report = campaign
        .run(&client, &RunOptions::default(), |_| {})
        .await
        .unwrap();

    // Assert
    assert!(matches!(busy, CampaignError::Busy { .. }), "{busy:?}");
    assert_eq!(report.sent.count, 2);
    assert_one_packet_per_row(&mock, &campaign);
}

#[tokio::test]
async fn a_campaign_being_created_by_another_process_is_refused_then_created_once() {
    // Arrange: someone else holds the run lock of a journal that does not exist yet (another
    // process creating the same campaign).
    let mock = mock().await;
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at_unix_secs(NOW);
    let client = client(&mock, &clock);
    let lock = std::fs::File::create(dir.path().join("campaign.db.lock")).unwrap();
    lock.try_lock().unwrap();

    // Act
    let busy = Campaign::prepare(
        journal_path(&dir),
        &client,
        &rows(2, 100),
        &template(),
        Some(1),
    )
    .unwrap_err();
    let uncreated = Campaign::open(journal_path(&dir)).unwrap_err();
    drop(lock);
    let campaign = Campaign::prepare(
        journal_path(&dir),
        &client,
        &rows(2, 100),
        &template(),
        Some(1),
    )
    .unwrap();
    let report = campaign
        .run(&client, &RunOptions::default(), |_| {})
        .await
        .unwrap();

    // Assert: refused as busy (not a failed second creation), and nothing created meanwhile.
    assert!(matches!(busy, CampaignError::Busy { .. }), "{busy:?}");
    assert!(
        matches!(uncreated, CampaignError::Corrupt { .. }),
        "{uncreated:?}"
    );
    assert!(campaign.was_created());
    assert_eq!(report.sent.count, 2);
    assert_one_packet_per_row(&mock, &campaign);
}

#[tokio::test]
async fn campaigns_created_at_the_same_moment_in_one_directory_never_share_billnos() {
    // Arrange: three campaigns of one merchant created at the same instant, journals side by
    // side: the default number (the time of day) is the same for all three.
    let mock = mock().await;
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at_unix_secs(NOW);
    let client = client(&mock, &clock);
    let file = rows(2, 100);
    let journal = |name: &str| dir.path().join(name);

    // Act
    let first = Campaign::prepare(journal("a.db"), &client, &file, &template(), None).unwrap();
    let second = Campaign::prepare(journal("b.db"), &client, &file, &template(), None).unwrap();
    let explicit_taken =
        Campaign::prepare(journal("c.db"), &client, &file, &template(), Some(2880)).err();
    let explicit_free =
        Campaign::prepare(journal("d.db"), &client, &file, &template(), Some(7)).unwrap();
    let resumed = Campaign::prepare(journal("a.db"), &client, &file, &template(), None).unwrap();
    clock.advance(Duration::from_secs(86_400));
    let next_day = Campaign::prepare(journal("e.db"), &client, &file, &template(), None).unwrap();

    // Assert
    assert_eq!(first.id().to_string(), "20260101-2880");
    assert_eq!(second.id().to_string(), "20260101-2881");
    assert!(
        matches!(&explicit_taken, Some(CampaignError::Options { .. })),
        "{explicit_taken:?}"
    );
    assert!(!journal("c.db").exists() || Campaign::open(journal("c.db")).is_err());
    assert_eq!(explicit_free.id().to_string(), "20260101-0007");
    assert_eq!(resumed.id(), first.id());
    assert_eq!(next_day.id().to_string(), "20260102-2880");
    let billnos: std::collections::BTreeSet<String> = [&first, &second, &explicit_free]
        .iter()
        .flat_map(|c| c.rows().unwrap())
        .map(|r| r.mch_billno.as_str().to_owned())
        .collect();
    assert_eq!(billnos.len(), 6);
    let registry =
        std::fs::read_to_string(dir.path().join(wxpay_redpack::campaign::REGISTRY)).unwrap();
    assert_eq!(
        registry,
        "1900000109 20260101 2880\n1900000109 20260101 2881\n\
         1900000109 20260101 7\n1900000109 20260102 2880\n"
    );
}

/// Wraps a transport and keeps the body of every `sendredpack` request it posts.
#[derive(Clone)]
struct Recording<T> {
    inner: T,
    bodies: Arc<Mutex<Vec<String>>>,
}

impl<T> Recording<T> {
    fn new(inner: T) -> Self {
        Self {
            inner,
            bodies: Arc::default(),
        }
    }

    /// The bodies posted for `billno`, in order.
    fn bodies_of(&self, billno: &str) -> Vec<String> {
        self.bodies
            .lock()
            .unwrap()
            .iter()
            .filter(|body| billno_of(body.as_bytes()) == billno)
            .cloned()
            .collect()
    }
}

impl<T: Transport> Transport for Recording<T> {
    async fn post(&self, path: &str, body: Bytes) -> Result<Response, TransportError> {
        if path.ends_with("/sendredpack") {
            let text = String::from_utf8(body.to_vec()).unwrap();
            self.bodies.lock().unwrap().push(text);
        }
        self.inner.post(path, body).await
    }
}

/// A body without its `nonce_str` and `sign` elements (per request, not business fields).
fn business_part(body: &str) -> String {
    let mut text = body.to_owned();
    for element in ["nonce_str", "sign"] {
        let (open, close) = (format!("<{element}>"), format!("</{element}>"));
        let start = text.find(&open).expect("the element is in the body");
        let end = text[start..].find(&close).unwrap() + start + close.len();
        text.replace_range(start..end, "");
    }
    text
}

/// The mock's answers to each request of `billno`, in order.
fn answers_of(mock: &MockServer, billno: &str) -> Vec<String> {
    mock.requests()
        .into_iter()
        .filter(|r| {
            r.mch_billno.as_deref() == Some(billno) && r.api.as_deref() == Some("sendredpack")
        })
        .map(|r| r.outcome)
        .collect()
}

/// Every answer after the commit is lost, `n` times: the packets are paid, the rows unknown.
fn answers_lost(n: u32) -> FaultPlan {
    FaultPlan {
        seed: 1,
        rules: vec![
            FaultRule::new(
                FaultApi::SendRedpack,
                FaultStage::AfterCommit,
                FaultAction::Reset,
            )
            .times(n),
        ],
    }
}

#[tokio::test]
async fn a_campaign_resumed_with_another_appid_client_ip_or_send_name_is_refused_naming_the_field_and_nothing_is_sent()
 {
    // Arrange: both rows paid, their answers lost: unknown rows, to be re-entered.
    let mock = mock().await;
    mock.set_faults(answers_lost(2));
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at_unix_secs(NOW);
    let path = journal_path(&dir);
    let file = rows(2, 100);
    let original = client(&mock, &clock);
    let campaign = Campaign::prepare(&path, &original, &file, &template(), Some(1)).unwrap();
    let first = campaign
        .run(&original, &RunOptions::default().retry(one_shot()), |_| {})
        .await
        .unwrap();
    assert_eq!(first.unknown.count, 2);
    drop(campaign);
    mock.clear_faults();
    let requests = mock.requests().len();
    let packets = packets_in_ledger(&mock);
    let journal = std::fs::read(&path).unwrap();
    let appid = mock.default_merchant().appid().to_owned();
    let edited = [
        (
            "wxappid",
            builder(&mock, &clock).appid("wx0000000000000000"),
            appid.as_str(),
            "wx0000000000000000",
        ),
        (
            "client_ip",
            builder(&mock, &clock).client_ip("10.9.8.7"),
            DEFAULT_CLIENT_IP,
            "10.9.8.7",
        ),
        (
            "send_name",
            builder(&mock, &clock).send_name("另一个商户"),
            "测试商户",
            "另一个商户",
        ),
    ];

    for (field, builder, journaled, given) in edited {
        let other = builder.build().unwrap();

        // Act: prepare (the CLI's batch), and run and reconcile an opened journal.
        let prepared = Campaign::prepare(&path, &other, &file, &template(), None).unwrap_err();
        let opened = Campaign::open(&path).unwrap();
        let run = opened
            .run(&other, &RunOptions::default(), |_| {})
            .await
            .unwrap_err();
        let reconciled = opened
            .reconcile(&other, &RunOptions::default(), |_| {})
            .await
            .unwrap_err();
        drop(opened);

        // Assert
        for error in [prepared, run, reconciled] {
            assert!(matches!(error, CampaignError::Mismatch { .. }), "{error:?}");
            let text = error.to_string();
            assert!(
                text.contains(&format!(
                    "its requests carry {field} {journaled:?}, the client gives {given:?}"
                )),
                "{text}"
            );
        }
    }
    assert_eq!(mock.requests().len(), requests, "nothing was sent");
    assert_eq!(packets_in_ledger(&mock), packets);
    assert_eq!(
        std::fs::read(&path).unwrap(),
        journal,
        "the journal is unchanged"
    );

    // The original configuration still resumes it, to one packet per row.
    let resumed = Campaign::prepare(&path, &original, &file, &template(), None).unwrap();
    let report = resumed
        .run(&original, &RunOptions::default(), |_| {})
        .await
        .unwrap();
    assert_eq!(report.verdict(), Verdict::AllSent);
    assert_one_packet_per_row(&mock, &resumed);
}

#[tokio::test]
async fn a_resumed_campaign_reenters_each_billno_with_byte_identical_business_fields() {
    // Arrange: three rows paid, their answers lost; then the process is gone.
    let mock = mock().await;
    mock.set_faults(answers_lost(3));
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at_unix_secs(NOW);
    let path = journal_path(&dir);
    let file = rows(3, 100);
    let recording = Recording::new(https(&mock, &clock));
    let before_crash = client_over(&mock, &clock, recording.clone());
    let campaign = Campaign::prepare(&path, &before_crash, &file, &template(), Some(1)).unwrap();
    let first = campaign
        .run(
            &before_crash,
            &RunOptions::default().retry(one_shot()),
            |_| {},
        )
        .await
        .unwrap();
    assert_eq!(first.unknown.count, 3);
    drop((campaign, before_crash));

    // Act: a new process with the same settings resumes the campaign.
    let after_crash = client_over(&mock, &clock, recording.clone());
    let resumed = Campaign::prepare(&path, &after_crash, &file, &template(), None).unwrap();
    let report = resumed
        .run(&after_crash, &RunOptions::default(), |_| {})
        .await
        .unwrap();

    // Assert: each billno's re-entry is its first request but for nonce_str and sign, and
    // the mock replayed it (one packet each).
    assert_eq!(report.verdict(), Verdict::AllSent);
    for row in resumed.rows().unwrap() {
        let billno = row.mch_billno.as_str();
        let bodies = recording.bodies_of(billno);
        assert_eq!(bodies.len(), 2, "{billno}");
        assert_eq!(business_part(&bodies[0]), business_part(&bodies[1]));
        assert_ne!(bodies[0], bodies[1], "two requests, each with its nonce");
        assert_eq!(
            answers_of(&mock, billno).last().map(String::as_str),
            Some("REPLAY")
        );
    }
    assert_one_packet_per_row(&mock, &resumed);
}

#[tokio::test]
async fn a_send_name_set_by_the_template_is_kept_when_the_clients_default_changes() {
    // Arrange
    let mock = mock().await;
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at_unix_secs(NOW);
    let path = journal_path(&dir);
    let file = rows(2, 100);
    let named = template().with_send_name(SendName::new("模板商户").unwrap());
    Campaign::prepare(&path, &client(&mock, &clock), &file, &named, Some(1)).unwrap();
    let recording = Recording::new(https(&mock, &clock));
    let other_default = builder(&mock, &clock)
        .send_name("另一个商户")
        .build_with_transport(recording.clone())
        .unwrap();

    // Act
    let resumed = Campaign::prepare(&path, &other_default, &file, &named, None).unwrap();
    let report = resumed
        .run(&other_default, &RunOptions::default(), |_| {})
        .await
        .unwrap();

    // Assert
    assert_eq!(report.verdict(), Verdict::AllSent);
    assert_eq!(
        resumed.client_fields().unwrap().send_name.as_str(),
        "模板商户"
    );
    for row in resumed.rows().unwrap() {
        let body = &recording.bodies_of(row.mch_billno.as_str())[0];
        let raw = RawMessage::parse(body.as_bytes()).unwrap();
        assert_eq!(raw.text("send_name"), Some("模板商户"));
    }
}

/// The schema earlier versions wrote (version 1): no client fields.
const SCHEMA_1: &str = "
CREATE TABLE campaign (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    mch_id TEXT NOT NULL,
    campaign_no INTEGER NOT NULL,
    bill_date TEXT NOT NULL,
    wishing TEXT NOT NULL,
    act_name TEXT NOT NULL,
    remark TEXT NOT NULL,
    send_name TEXT,
    scene_id TEXT,
    row_count INTEGER NOT NULL,
    total_fen INTEGER NOT NULL,
    created_unix_ms INTEGER NOT NULL
);
CREATE TABLE rows (
    row_no INTEGER PRIMARY KEY,
    line INTEGER NOT NULL,
    openid TEXT NOT NULL,
    amount_fen INTEGER NOT NULL,
    mch_billno TEXT NOT NULL UNIQUE,
    state TEXT NOT NULL CHECK (state IN ('pending', 'sending', 'sent', 'rejected', 'unknown')),
    attempts INTEGER NOT NULL DEFAULT 0,
    send_listid TEXT,
    err_code TEXT,
    handling_class TEXT,
    detail TEXT,
    updated_unix_ms INTEGER
);
CREATE TABLE runs (
    run_id INTEGER PRIMARY KEY AUTOINCREMENT,
    command TEXT NOT NULL,
    started_unix_ms INTEGER NOT NULL,
    finished_unix_ms INTEGER,
    elapsed_ms INTEGER,
    settled INTEGER
);
CREATE TABLE attempts (
    attempt_id INTEGER PRIMARY KEY AUTOINCREMENT,
    row_no INTEGER NOT NULL REFERENCES rows (row_no),
    run_id INTEGER NOT NULL REFERENCES runs (run_id),
    started_unix_ms INTEGER NOT NULL,
    finished_unix_ms INTEGER,
    outcome TEXT CHECK (outcome IN ('sent', 'rejected', 'unknown', 'not_sent', 'error')),
    err_code TEXT,
    detail TEXT
);
CREATE INDEX rows_by_state ON rows (state);
CREATE INDEX attempts_by_row ON attempts (row_no);
";

/// A journal as an earlier version wrote it for `rows(states.len(), 100)` and `template()`
/// (campaign 1 of 2026-01-01), each row in its state; rows not pending have one attempt.
fn schema_1_journal(path: &Path, states: &[&str]) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.execute_batch(SCHEMA_1).unwrap();
    conn.pragma_update(None, "application_id", 0x5758_5250)
        .unwrap();
    conn.pragma_update(None, "user_version", 1).unwrap();
    let n = i64::try_from(states.len()).unwrap();
    conn.execute(
        "INSERT INTO campaign (singleton, mch_id, campaign_no, bill_date, wishing, act_name,
             remark, send_name, scene_id, row_count, total_fen, created_unix_ms)
         VALUES (1, '1900000109', 1, '20260101', '恭喜发财', '测试活动', '备注', NULL, NULL,
             ?1, ?2, ?3)",
        rusqlite::params![n, n * 100, 1_767_225_600_000_i64],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO runs (command, started_unix_ms) VALUES ('batch', 1767225600000)",
        [],
    )
    .unwrap();
    let mch_id = MchId::new("1900000109").unwrap();
    let date = BillDate::new(2026, 1, 1).unwrap();
    for (row_no, state) in (1u64..).zip(states) {
        let billno = campaign_billno(&mch_id, date, 1, row_no).unwrap();
        let row_no = i64::try_from(row_no).unwrap();
        let attempted = *state != "pending";
        conn.execute(
            "INSERT INTO rows (row_no, line, openid, amount_fen, mch_billno, state, attempts)
             VALUES (?1, ?2, ?3, 100, ?4, ?5, ?6)",
            rusqlite::params![
                row_no,
                row_no + 1,
                format!("oCampaign{row_no:06}"),
                billno.as_str(),
                state,
                i64::from(attempted)
            ],
        )
        .unwrap();
        if attempted {
            conn.execute(
                "INSERT INTO attempts (row_no, run_id, started_unix_ms) VALUES (?1, 1, 0)",
                [row_no],
            )
            .unwrap();
        }
    }
}

fn user_version(path: &Path) -> i64 {
    rusqlite::Connection::open(path)
        .unwrap()
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap()
}

#[tokio::test]
async fn a_previous_schema_journal_never_attempted_takes_the_clients_fields_at_its_first_run() {
    // Arrange
    let mock = mock().await;
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at_unix_secs(NOW);
    let path = journal_path(&dir);
    schema_1_journal(&path, &["pending"; 3]);
    let client = client(&mock, &clock);

    // Act
    let campaign = Campaign::prepare(&path, &client, &rows(3, 100), &template(), None).unwrap();
    let unrecorded = campaign.client_fields().cloned();
    let report = campaign
        .run(&client, &RunOptions::default(), |_| {})
        .await
        .unwrap();

    // Assert
    assert!(!campaign.was_created());
    assert_eq!(unrecorded, None, "schema 1 holds no client fields");
    assert_eq!(report.verdict(), Verdict::AllSent);
    assert_one_packet_per_row(&mock, &campaign);
    drop(campaign);
    assert_eq!(user_version(&path), 2);
    let reopened = Campaign::open(&path).unwrap();
    let fields = reopened
        .client_fields()
        .expect("journaled by the first run");
    assert_eq!(fields.wxappid.as_str(), mock.default_merchant().appid());
    assert_eq!(fields.client_ip.as_str(), DEFAULT_CLIENT_IP);
    assert_eq!(fields.send_name.as_str(), "测试商户");
}

#[tokio::test]
async fn a_previous_schema_journal_with_attempted_rows_is_refused_and_left_as_it_was() {
    // Arrange: a row sent and a row unknown under values the journal does not hold.
    let mock = mock().await;
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at_unix_secs(NOW);
    let path = journal_path(&dir);
    schema_1_journal(&path, &["sent", "unknown", "pending"]);
    let before = std::fs::read(&path).unwrap();
    let client = client(&mock, &clock);

    // Act
    let prepared = Campaign::prepare(&path, &client, &rows(3, 100), &template(), None).unwrap_err();
    let opened = Campaign::open(&path).unwrap();
    let status = opened.report().unwrap();
    let run = opened
        .run(&client, &RunOptions::default(), |_| {})
        .await
        .unwrap_err();
    let reconciled = opened
        .reconcile(&client, &RunOptions::default(), |_| {})
        .await
        .unwrap_err();
    drop(opened);

    // Assert
    for error in [prepared, run, reconciled] {
        assert!(
            matches!(error, CampaignError::OldJournal { attempted: 2, .. }),
            "{error:?}"
        );
        assert!(
            error.to_string().contains("written by an earlier version"),
            "{error}"
        );
    }
    assert_eq!(
        (
            status.sent.count,
            status.unknown.count,
            status.pending.count
        ),
        (1, 1, 1),
        "its status can still be read"
    );
    assert!(mock.requests().is_empty(), "nothing was sent");
    assert_eq!(std::fs::read(&path).unwrap(), before);
    assert_eq!(user_version(&path), 1);
}
