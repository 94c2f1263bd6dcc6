//! Faults before and after the commit point.

use std::time::Duration;

use wxpay_mock::{FaultAction, FaultApi, FaultPlan, FaultRule, FaultStage, MockServer};
use wxpay_proto::{SendResponse, XmlMessage};

use crate::rules::assert_fail;
use crate::support::{GENEROUS, Merchant, NoAnswer, SEND, eventually, start};

fn plan(rules: Vec<FaultRule>) -> FaultPlan {
    FaultPlan { seed: 1, rules }
}

fn once(api: FaultApi, stage: FaultStage, action: FaultAction) -> FaultPlan {
    plan(vec![FaultRule::new(api, stage, action).times(1)])
}

fn packets(mock: &MockServer) -> usize {
    mock.ledger().packet_count()
}

#[tokio::test]
async fn before_commit_answers_leave_nothing_behind_and_the_billno_free() {
    for (action, code) in [
        (FaultAction::Systemerror, "SYSTEMERROR"),
        (FaultAction::Processing, "PROCESSING"),
    ] {
        // Arrange
        let mock = start().await;
        let m = Merchant::default_of(&mock);
        mock.set_faults(once(
            FaultApi::SendRedpack,
            FaultStage::BeforeCommit,
            action,
        ));

        // Act
        let faulted = m.send("bf1", "alice", 100).await;
        let count_after_fault = packets(&mock);
        let retried = m.send("bf1", "alice", 100).await;

        // Assert
        let des = assert_fail(&faulted, code);
        assert_eq!(des, "请求已受理，请稍后使用原单号查询发放结果");
        assert_eq!(faulted.send().mch_billno.as_deref(), Some("bf1"));
        assert_eq!(count_after_fault, 0);
        assert_eq!(retried.code(), "SUCCESS");
        assert_eq!(packets(&mock), 1);
        let journal = mock.requests();
        assert_eq!(
            journal[0].fault.as_deref(),
            Some(format!("before_commit:{}", action.as_str()).as_str())
        );
        assert_eq!(journal[1].fault, None);
    }
}

#[tokio::test]
async fn after_commit_faults_commit_exactly_once_and_the_retry_replays() {
    for action in [
        FaultAction::Systemerror,
        FaultAction::Processing,
        FaultAction::Garbage,
        FaultAction::Html,
        FaultAction::Reset,
    ] {
        // Arrange
        let mock = start().await;
        let m = Merchant::default_of(&mock);
        mock.set_faults(once(FaultApi::SendRedpack, FaultStage::AfterCommit, action));
        let body = m.sign(m.normal("af1", "alice", 100));

        // Act
        let faulted = m.client.post(SEND, body.clone()).await;
        let count_after_fault = packets(&mock);
        let retried = m.client.answer(SEND, body).await;

        // Assert
        match action {
            FaultAction::Systemerror => {
                assert_fail(faulted.as_ref().unwrap(), "SYSTEMERROR");
            }
            FaultAction::Processing => {
                assert_fail(faulted.as_ref().unwrap(), "PROCESSING");
            }
            FaultAction::Garbage => {
                let a = faulted.as_ref().unwrap();
                assert_eq!(a.status, 200);
                assert!(a.body.starts_with("<xml>"));
                assert!(!a.body.contains("</xml>"));
                assert!(SendResponse::from_xml(a.body.as_bytes()).is_err());
            }
            FaultAction::Html => {
                let a = faulted.as_ref().unwrap();
                assert_eq!(a.status, 502);
                assert!(a.content_type.starts_with("text/html"));
                assert!(a.body.contains("<html>"));
            }
            FaultAction::Reset => {
                assert!(matches!(faulted, Err(NoAnswer::Closed(_))), "{faulted:?}");
            }
            _ => unreachable!(),
        }
        assert_eq!(count_after_fault, 1, "{action:?}: the packet is committed");
        assert_eq!(retried.code(), "SUCCESS");
        assert_eq!(packets(&mock), 1);
        let listid = mock
            .ledger()
            .packet("1900000109", "af1")
            .unwrap()
            .send_listid
            .clone();
        assert_eq!(retried.send().send_listid, Some(listid));
        assert_eq!(
            mock.ledger().merchant("1900000109").unwrap().balance_fen,
            100_000_000 - 100
        );
        assert!(mock.invariants().ok);
    }
}

#[tokio::test]
async fn reset_before_commit_closes_the_connection_without_a_commit() {
    // Arrange
    let mock = start().await;
    let m = Merchant::default_of(&mock);
    mock.set_faults(once(
        FaultApi::Any,
        FaultStage::BeforeCommit,
        FaultAction::Reset,
    ));

    // Act
    let result = m
        .client
        .post(SEND, m.sign(m.normal("rs1", "alice", 100)))
        .await;

    // Assert
    assert!(matches!(result, Err(NoAnswer::Closed(_))), "{result:?}");
    assert_eq!(packets(&mock), 0);
    let entry = &mock.requests()[0];
    assert_eq!(entry.outcome, "reset");
    assert_eq!(entry.http_status, 0);
}

#[tokio::test]
async fn timeout_after_commit_delays_an_answer_whose_commit_is_already_made() {
    // Arrange
    let mock = start().await;
    let m = Merchant::default_of(&mock);
    mock.set_faults(plan(vec![
        FaultRule::new(
            FaultApi::SendRedpack,
            FaultStage::AfterCommit,
            FaultAction::Timeout,
        )
        .delay(Duration::from_millis(1500))
        .times(1),
    ]));
    let impatient = m.client.clone().timeout(Duration::from_millis(300));

    // Act
    let result = impatient
        .post(SEND, m.sign(m.normal("to1", "alice", 100)))
        .await;

    // Assert
    assert!(matches!(result, Err(NoAnswer::Timeout)), "{result:?}");
    assert_eq!(packets(&mock), 1);
}

#[tokio::test]
async fn timeout_before_commit_commits_after_the_client_gave_up() {
    // Arrange
    let mock = start().await;
    let m = Merchant::default_of(&mock);
    mock.set_faults(plan(vec![
        FaultRule::new(
            FaultApi::SendRedpack,
            FaultStage::BeforeCommit,
            FaultAction::Timeout,
        )
        .delay(Duration::from_millis(1000))
        .times(1),
    ]));
    let impatient = m.client.clone().timeout(Duration::from_millis(200));

    // Act
    let result = impatient
        .post(SEND, m.sign(m.normal("to2", "alice", 100)))
        .await;
    let right_after = packets(&mock);

    // Assert
    assert!(matches!(result, Err(NoAnswer::Timeout)), "{result:?}");
    assert_eq!(right_after, 0);
    assert!(eventually(GENEROUS, || packets(&mock) == 1).await);
    let answer = m.send("to2", "alice", 100).await;
    assert_eq!(answer.code(), "SUCCESS");
    assert_eq!(mock.requests().last().unwrap().outcome, "REPLAY");
}

#[tokio::test]
async fn rules_apply_only_to_their_api_and_star_to_all() {
    // Arrange
    let mock = start().await;
    let m = Merchant::default_of(&mock);
    mock.set_faults(plan(vec![FaultRule::new(
        FaultApi::GetHbInfo,
        FaultStage::BeforeCommit,
        FaultAction::Systemerror,
    )]));

    // Act
    let send = m.send("api1", "alice", 100).await;
    let query = m.query_answer("api1").await.query();
    mock.set_faults(plan(vec![FaultRule::new(
        FaultApi::Any,
        FaultStage::BeforeCommit,
        FaultAction::Processing,
    )]));
    let star_send = m.send("api2", "alice", 100).await;
    let star_query = m.query_answer("api1").await.query();
    mock.clear_faults();
    let clean = m.send("api2", "alice", 100).await;

    // Assert
    assert_eq!(send.code(), "SUCCESS");
    assert_eq!(
        query.header.err_code.as_ref().map(|c| c.as_str()),
        Some("SYSTEMERROR")
    );
    assert_eq!(
        query.header.err_code_des.as_deref(),
        Some("系统繁忙，请再试。")
    );
    assert!(!query.is_not_found());
    assert_fail(&star_send, "PROCESSING");
    assert_eq!(
        star_query.header.err_code.as_ref().map(|c| c.as_str()),
        Some("PROCESSING")
    );
    assert_eq!(clean.code(), "SUCCESS");
    assert!(mock.faults().rules.is_empty());
}

#[tokio::test]
async fn probabilistic_faults_follow_their_seed() {
    // Arrange
    let mock = start().await;
    let m = Merchant::default_of(&mock);
    let rule = FaultRule::new(
        FaultApi::GetHbInfo,
        FaultStage::BeforeCommit,
        FaultAction::Systemerror,
    )
    .probability(0.5);
    let run = || async {
        mock.set_faults(FaultPlan {
            seed: 99,
            rules: vec![rule.clone()],
        });
        let mut pattern = Vec::new();
        for _ in 0..16 {
            let q = m.query_answer("p1").await.query();
            pattern.push(
                q.header.err_code.as_ref().map(|c| c.as_str().to_owned())
                    == Some("SYSTEMERROR".to_owned())
                    && !q.is_not_found(),
            );
        }
        pattern
    };

    // Act
    let first = run().await;
    let second = run().await;

    // Assert
    assert_eq!(first, second);
    assert!(first.iter().any(|f| *f), "{first:?}");
    assert!(first.iter().any(|f| !*f), "{first:?}");
}

#[tokio::test]
async fn a_late_commit_is_not_found_for_its_window() {
    // Arrange
    let mock = start().await;
    let m = Merchant::default_of(&mock);
    mock.set_faults(plan(vec![
        FaultRule::new(
            FaultApi::SendRedpack,
            FaultStage::AfterCommit,
            FaultAction::LateCommit,
        )
        .late_secs(30)
        .times(1),
    ]));

    // Act
    let sent = m.send("late1", "alice", 100).await;
    let hidden = m.query_answer("late1").await.query();
    mock.advance_clock(Duration::from_secs(29));
    let still_hidden = m.query_answer("late1").await.query();
    mock.advance_clock(Duration::from_secs(2));
    let visible = m.query_answer("late1").await.query();

    // Assert
    assert_eq!(sent.code(), "SUCCESS");
    assert!(hidden.is_not_found());
    assert!(still_hidden.is_not_found());
    assert_eq!(visible.status.as_ref().map(|s| s.as_str()), Some("SENT"));
    assert_eq!(packets(&mock), 1);
}

#[tokio::test]
async fn a_send_still_sending_reads_sending_then_sent_and_is_paid_once() {
    // Arrange
    let mock = start().await;
    let m = Merchant::default_of(&mock);
    mock.set_faults(plan(vec![
        FaultRule::new(
            FaultApi::SendRedpack,
            FaultStage::AfterCommit,
            FaultAction::Sending,
        )
        .late_secs(30)
        .times(1),
    ]));

    // Act
    let sent = m.send("slow1", "alice", 100).await;
    let sending = m.query_answer("slow1").await.query();
    let resent = m.send("slow1", "alice", 100).await;
    let claim_too_early = mock.claim("1900000109", "slow1", None);
    mock.advance_clock(Duration::from_secs(29));
    let still_sending = m.query_answer("slow1").await.query();
    mock.advance_clock(Duration::from_secs(2));
    let done = m.query_answer("slow1").await.query();
    let replay = m.send("slow1", "alice", 100).await;
    let claim = mock.claim("1900000109", "slow1", None);

    // Assert: accepted but not known to be done; the record says so until it is; the money
    // left the balance once, at the commit.
    assert_fail(&sent, "SYSTEMERROR");
    assert_eq!(sending.status.as_ref().map(|s| s.as_str()), Some("SENDING"));
    assert_eq!(sending.detail_id, done.detail_id);
    assert_fail(&resent, "PROCESSING");
    assert!(claim_too_early.is_err());
    assert_eq!(
        still_sending.status.as_ref().map(|s| s.as_str()),
        Some("SENDING")
    );
    assert_eq!(done.status.as_ref().map(|s| s.as_str()), Some("SENT"));
    assert_eq!(replay.code(), "SUCCESS");
    assert!(claim.is_ok(), "{claim:?}");
    assert_eq!(packets(&mock), 1);
    assert_eq!(
        mock.ledger().merchant("1900000109").unwrap().balance_fen,
        100_000_000 - 100
    );
    assert!(mock.invariants().ok, "{:?}", mock.invariants());
}

#[tokio::test]
async fn a_failed_send_answers_send_failed_for_ever() {
    // Arrange
    let mock = start().await;
    let m = Merchant::default_of(&mock);
    mock.set_faults(once(
        FaultApi::SendRedpack,
        FaultStage::AfterCommit,
        FaultAction::SendFailed,
    ));

    // Act
    let first = m.send("sf1", "alice", 100).await;
    let query = m.query_answer("sf1").await.query();
    let retry = m.send("sf1", "alice", 100).await;
    mock.advance_clock(Duration::from_secs(3 * 86_400));
    let later = m.send("sf1", "alice", 100).await;
    let new_billno = m.send("sf2", "alice", 100).await;

    // Assert
    assert_fail(&first, "SYSTEMERROR");
    assert_eq!(query.status.as_ref().map(|s| s.as_str()), Some("FAILED"));
    assert_eq!(query.reason.as_deref(), Some("余额不足"));
    assert_eq!(
        assert_fail(&retry, "SEND_FAILED"),
        "红包发放失败,请更换单号再重试"
    );
    assert_fail(&later, "SEND_FAILED");
    assert_eq!(new_billno.code(), "SUCCESS");
    assert_eq!(
        mock.ledger().merchant("1900000109").unwrap().balance_fen,
        100_000_000 - 100
    );
    assert!(mock.invariants().ok, "{:?}", mock.invariants());
}

#[tokio::test]
async fn scripted_rules_fire_the_given_number_of_times() {
    // Arrange
    let mock = start().await;
    let m = Merchant::default_of(&mock);
    mock.set_faults(plan(vec![
        FaultRule::new(
            FaultApi::SendRedpack,
            FaultStage::BeforeCommit,
            FaultAction::Html,
        )
        .times(2),
    ]));

    // Act
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(
            m.client
                .answer(SEND, m.sign(m.normal("sc1", "alice", 100)))
                .await
                .status,
        );
    }

    // Assert
    assert_eq!(statuses, [502, 502, 200]);
}

#[tokio::test]
async fn a_commit_fault_is_spent_only_by_a_send_that_commits() {
    for action in [
        FaultAction::SendFailed,
        FaultAction::LateCommit,
        FaultAction::Sending,
    ] {
        // Arrange: a committed billno to replay, then a once-only commit fault on every API.
        let mock = start().await;
        let m = Merchant::default_of(&mock);
        assert_eq!(m.send("cf0", "alice", 100).await.code(), "SUCCESS");
        mock.set_faults(once(FaultApi::Any, FaultStage::AfterCommit, action));
        let mut wrong_key = m.clone();
        wrong_key.key = wxpay_sign::ApiKey::new("0".repeat(32)).unwrap();

        // Act: requests that never reach a commit, then one that does, then another.
        let bad_signature = wrong_key.send("cf1", "alice", 100).await;
        let missing_scene = m.send("cf2", "alice", 50).await;
        let replay = m.send("cf0", "alice", 100).await;
        let query = m.query_answer("cf0").await.query();
        let faulted = m.send("cf3", "alice", 100).await;
        let faulted_record = m.query_answer("cf3").await.query();
        let clean = m.send("cf4", "alice", 100).await;
        let clean_record = m.query_answer("cf4").await.query();

        // Assert
        assert_fail(&bad_signature, "SIGN_ERROR");
        assert_fail(&missing_scene, "PARAM_ERROR");
        assert_eq!(replay.code(), "SUCCESS", "{action:?}");
        assert_eq!(query.status.as_ref().map(|s| s.as_str()), Some("SENT"));
        let status = faulted_record.status.as_ref().map(|s| s.as_str());
        match action {
            FaultAction::SendFailed => {
                assert_fail(&faulted, "SYSTEMERROR");
                assert_eq!(status, Some("FAILED"));
            }
            FaultAction::LateCommit => {
                assert_eq!(faulted.code(), "SUCCESS");
                assert!(faulted_record.is_not_found());
            }
            FaultAction::Sending => {
                assert_fail(&faulted, "SYSTEMERROR");
                assert_eq!(status, Some("SENDING"));
            }
            _ => unreachable!(),
        }
        assert_eq!(clean.code(), "SUCCESS", "{action:?}: the fault fired once");
        assert_eq!(
            clean_record.status.as_ref().map(|s| s.as_str()),
            Some("SENT")
        );
        let faults: Vec<(Option<String>, Option<String>)> = mock
            .requests()
            .into_iter()
            .map(|e| (e.mch_billno, e.fault))
            .filter(|(_, fault)| fault.is_some())
            .collect();
        assert_eq!(
            faults,
            [(
                Some("cf3".to_owned()),
                Some(format!("after_commit:{}", action.as_str()))
            )],
            "{action:?}: only the committed send shows the fault"
        );
        assert!(mock.invariants().ok, "{:?}", mock.invariants());
    }
}
