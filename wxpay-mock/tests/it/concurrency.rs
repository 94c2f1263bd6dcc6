//! Concurrent requests: per-billno serialisation, one commit, `PROCESSING` for a duplicate
//! in flight.

use std::time::Duration;

use wxpay_mock::{Behaviour, FaultAction, FaultApi, FaultPlan, FaultRule, FaultStage, MockServer};

use crate::rules::assert_fail;
use crate::support::{Merchant, SEND, start, start_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_duplicates_commit_once() {
    // Arrange: a commit takes 400 ms, so duplicates overlap it.
    let mut behaviour = Behaviour::default();
    behaviour.commit_latency = Duration::from_millis(400);
    let mock = start_with(MockServer::builder().behaviour(behaviour)).await;
    let m = Merchant::default_of(&mock);
    let body = m.sign(m.normal("dup1", "alice", 100));

    // Act
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let client = m.client.clone();
        let body = body.clone();
        tasks.push(tokio::spawn(async move { client.answer(SEND, body).await }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }

    // Assert
    let ledger = mock.ledger();
    assert_eq!(ledger.packet_count(), 1);
    let listid = ledger
        .packet("1900000109", "dup1")
        .unwrap()
        .send_listid
        .clone();
    let mut successes = 0;
    for a in &answers {
        match a.code().as_str() {
            "SUCCESS" => {
                successes += 1;
                assert_eq!(a.send().send_listid.as_deref(), Some(listid.as_str()));
            }
            "PROCESSING" => {}
            other => panic!("unexpected {other}: {}", a.body),
        }
    }
    assert!(successes >= 1);
    assert_eq!(
        ledger.merchant("1900000109").unwrap().balance_fen,
        100_000_000 - 100
    );
    let commits = mock
        .requests()
        .iter()
        .filter(|e| e.outcome == "SUCCESS")
        .count();
    assert_eq!(commits, 1);
    assert!(mock.invariants().ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_arriving_while_the_first_is_held_gets_processing_then_the_replay() {
    // Arrange: the first send is held 2 s before its commit point.
    let mock = start().await;
    let m = Merchant::default_of(&mock);
    mock.set_faults(FaultPlan {
        seed: 0,
        rules: vec![
            FaultRule::new(
                FaultApi::SendRedpack,
                FaultStage::BeforeCommit,
                FaultAction::Timeout,
            )
            .delay(Duration::from_millis(2000))
            .times(1),
        ],
    });
    let body = m.sign(m.normal("held1", "alice", 100));
    let mut first_connection = m.client.connect().await.unwrap();
    let mut second_connection = m.client.connect().await.unwrap();
    let first = {
        let body = body.clone();
        tokio::spawn(async move { first_connection.post(SEND, body).await.unwrap() })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Act
    let duplicate = second_connection.post(SEND, body).await.unwrap();
    let first = first.await.unwrap();
    let after = m.send("held1", "alice", 100).await;

    // Assert
    assert_eq!(
        assert_fail(&duplicate, "PROCESSING"),
        "请求已受理，请稍后使用原单号查询发放结果"
    );
    assert_eq!(first.code(), "SUCCESS");
    assert_eq!(after.code(), "SUCCESS");
    assert_eq!(after.send().send_listid, first.send().send_listid);
    assert_eq!(mock.ledger().packet_count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_distinct_sends_all_commit_with_unique_ids() {
    // Arrange
    let mock = start().await;
    let m = Merchant::default_of(&mock);

    // Act
    let mut tasks = Vec::new();
    for i in 0..12 {
        let m = m.clone();
        tasks.push(tokio::spawn(async move {
            m.send(&format!("par{i}"), &format!("user{i}"), 100 + i)
                .await
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().code(), "SUCCESS");
    }

    // Assert
    let ledger = mock.ledger();
    assert_eq!(ledger.packet_count(), 12);
    let mut ids: Vec<String> = ledger.merchants[0]
        .packets
        .iter()
        .map(|p| p.send_listid.clone())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 12);
    assert!(mock.invariants().ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_while_a_send_is_held_before_its_commit_leaves_one_packet_for_its_billno() {
    // Arrange: the first send of a billno is held 2 s between its re-entry check and its
    // commit.
    let mock = start().await;
    let m = Merchant::default_of(&mock);
    mock.set_faults(FaultPlan {
        seed: 0,
        rules: vec![
            FaultRule::new(
                FaultApi::SendRedpack,
                FaultStage::BeforeCommit,
                FaultAction::Timeout,
            )
            .delay(Duration::from_millis(2000))
            .times(1),
        ],
    });
    let body = m.sign(m.normal("rst1", "alice", 100));
    let mut first_connection = m.client.connect().await.unwrap();
    let mut second_connection = m.client.connect().await.unwrap();
    let first = {
        let body = body.clone();
        tokio::spawn(async move { first_connection.post(SEND, body).await.unwrap() })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Act: a reset while the first is held, then the same billno again before it commits.
    mock.reset().unwrap();
    let during = second_connection.post(SEND, body).await.unwrap();
    let first = first.await.unwrap();
    let after = m.send("rst1", "alice", 100).await;

    // Assert: one packet, paid once; the duplicate was told the billno is in progress.
    assert_eq!(
        assert_fail(&during, "PROCESSING"),
        "请求已受理，请稍后使用原单号查询发放结果"
    );
    assert_eq!(first.code(), "SUCCESS");
    assert_eq!(after.code(), "SUCCESS");
    assert_eq!(after.send().send_listid, first.send().send_listid);
    let ledger = mock.ledger();
    assert_eq!(ledger.packet_count(), 1);
    assert_eq!(
        ledger.merchant("1900000109").unwrap().balance_fen,
        100_000_000 - 100
    );
    assert!(mock.invariants().ok, "{:?}", mock.invariants());
}
