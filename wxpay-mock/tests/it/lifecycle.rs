//! The lifecycle on the virtual clock (refunds, daily reset, rate window), group splitting,
//! claims, and what `gethbinfo` reports.

use std::time::{Duration, UNIX_EPOCH};

use proptest::prelude::*;
use wxpay_mock::{Behaviour, Fen, Limits, MerchantConfig, MockServer, NotFoundStyle};
use wxpay_proto::{ErrCode, ResultCode, ReturnCode};

use crate::rules::assert_fail;
use crate::support::{GROUP, MINI, Merchant, start, start_with};

const DAY: Duration = Duration::from_secs(86_400);

fn status(m: &wxpay_proto::gethbinfo::Response) -> String {
    m.status
        .as_ref()
        .map(|s| s.as_str().to_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn an_unclaimed_packet_is_refunded_after_24_hours_and_the_balance_credited() {
    // Arrange
    let mock = start().await;
    let m = Merchant::default_of(&mock);
    assert_eq!(m.send("rf1", "alice", 1000).await.code(), "SUCCESS");
    let balance = |mock: &MockServer| mock.ledger().merchant("1900000109").unwrap().balance_fen;
    assert_eq!(balance(&mock), 100_000_000 - 1000);

    // Act + Assert: still SENT a second before 24 h.
    mock.advance_clock(DAY - Duration::from_secs(1));
    assert_eq!(status(&m.query_answer("rf1").await.query()), "SENT");

    // RFUND_ING right after, money not back yet.
    mock.advance_clock(Duration::from_secs(2));
    let refunding = m.query_answer("rf1").await.query();
    assert_eq!(status(&refunding), "RFUND_ING");
    assert_eq!(balance(&mock), 100_000_000 - 1000);
    assert!(mock.invariants().ok);

    // REFUND after the refund duration (60 s), credited.
    mock.advance_clock(Duration::from_secs(60));
    let refunded = m.query_answer("rf1").await.query();
    assert_eq!(status(&refunded), "REFUND");
    assert_eq!(refunded.refund_amount, Some(Fen::new(1000)));
    let sent = refunded.send_time.clone().unwrap();
    let refund_time = refunded.refund_time.clone().unwrap();
    assert_eq!(sent.len(), 19);
    assert!(refund_time > sent);
    assert_eq!(balance(&mock), 100_000_000);
    assert!(mock.claim("1900000109", "rf1", None).is_err());
    assert!(mock.invariants().ok, "{:?}", mock.invariants());
}

#[tokio::test]
async fn one_large_advance_refunds_every_due_packet_in_order() {
    // Arrange
    let mock = start().await;
    let m = Merchant::default_of(&mock);
    assert_eq!(m.send("big1", "alice", 100).await.code(), "SUCCESS");
    mock.advance_clock(Duration::from_secs(3600));
    assert_eq!(m.send("big2", "bob", 200).await.code(), "SUCCESS");
    assert_eq!(m.send("big3", "carol", 300).await.code(), "SUCCESS");
    mock.claim("1900000109", "big3", Some("carol")).unwrap();

    // Act
    mock.advance_clock(3 * DAY);

    // Assert
    let ledger = mock.ledger();
    let me = ledger.merchant("1900000109").unwrap();
    let p = |b: &str| ledger.packet("1900000109", b).unwrap().clone();
    assert_eq!(p("big1").status, "REFUND");
    assert_eq!(p("big2").status, "REFUND");
    assert_eq!(p("big3").status, "RECEIVED");
    assert!(p("big1").refund_time < p("big2").refund_time);
    assert_eq!(me.balance_fen, 100_000_000 - 300);
    assert!(mock.invariants().ok);
}

#[tokio::test]
async fn a_claimed_packet_shows_in_hblist_and_is_never_refunded() {
    // Arrange
    let mock = start().await;
    let m = Merchant::default_of(&mock);
    let sent = m.send("cl1", "alice", 888).await.send();

    // Act
    let claim = mock.claim("1900000109", "cl1", Some("alice")).unwrap();
    let wrong_user = mock.claim("1900000109", "cl1", Some("mallory"));
    let twice = mock.claim("1900000109", "cl1", None);
    mock.advance_clock(2 * DAY);
    let q = m.query_answer("cl1").await.query();

    // Assert
    assert_eq!(claim.amount, 888);
    assert_eq!(claim.status, "RECEIVED");
    assert!(wrong_user.is_err());
    assert!(twice.is_err());
    assert_eq!(q.header.return_code, ReturnCode::Success);
    assert_eq!(q.header.result_code, Some(ResultCode::Success));
    assert_eq!(q.header.return_msg.as_deref(), Some("OK"));
    assert_eq!(status(&q), "RECEIVED");
    assert_eq!(q.detail_id, sent.send_listid);
    assert_eq!(q.hb_type.as_ref().map(|h| h.as_str()), Some("NORMAL"));
    assert_eq!(q.send_type.as_ref().map(|s| s.as_str()), Some("API"));
    assert_eq!(q.total_num, Some(1));
    assert_eq!(q.total_amount, Some(Fen::new(888)));
    assert_eq!(q.hblist.len(), 1);
    assert_eq!(q.hblist[0].openid, "alice");
    assert_eq!(q.hblist[0].amount, Fen::new(888));
    assert_eq!(
        q.hblist[0].rcv_time.as_deref(),
        Some(claim.rcv_time.as_str())
    );
    assert_eq!(q.refund_amount, None);
    assert!(q.sign.is_none());
}

#[tokio::test]
async fn a_sent_packet_has_no_hblist_and_times_are_beijing_time() {
    // Arrange
    let mock = start().await;
    let m = Merchant::default_of(&mock);
    assert_eq!(m.send("bj1", "alice", 100).await.code(), "SUCCESS");
    let now = mock.now().duration_since(UNIX_EPOCH).unwrap().as_secs();

    // Act
    let answer = m.query_answer("bj1").await;
    let q = answer.query();

    // Assert
    assert!(!answer.body.contains("hblist"));
    let local = now + 8 * 3600;
    let (h, mi, s) = ((local % 86_400) / 3600, (local % 3600) / 60, local % 60);
    assert!(
        q.send_time
            .unwrap()
            .ends_with(&format!("{h:02}:{mi:02}:{s:02}"))
    );
}

#[tokio::test]
async fn a_group_packet_splits_its_total_and_stays_sent_until_every_share_is_claimed() {
    // Arrange
    let mock = start().await;
    let m = Merchant::default_of(&mock);
    let answer = m
        .client
        .answer(GROUP, m.sign(m.group("g1", "seed", 1000, 4)))
        .await;
    assert_eq!(answer.code(), "SUCCESS");
    assert_eq!(answer.send().total_num, Some(4));

    // Act
    let first = mock.claim("1900000109", "g1", None).unwrap();
    let second = mock.claim("1900000109", "g1", Some("friend1")).unwrap();
    let again = mock.claim("1900000109", "g1", Some("friend1"));
    let anonymous = mock.claim("1900000109", "g1", None);
    let partial = m.query_answer("g1").await.query();
    let third = mock.claim("1900000109", "g1", Some("friend2")).unwrap();
    let fourth = mock.claim("1900000109", "g1", Some("friend3")).unwrap();
    let fifth = mock.claim("1900000109", "g1", Some("friend4"));
    let done = m.query_answer("g1").await.query();

    // Assert
    assert_eq!(first.openid, "seed");
    assert_eq!(first.status, "SENT");
    assert_eq!(second.remaining, 2);
    assert!(again.is_err());
    assert!(anonymous.is_err());
    assert_eq!(status(&partial), "SENT");
    assert_eq!(partial.hb_type.as_ref().map(|h| h.as_str()), Some("GROUP"));
    assert_eq!(partial.hblist.len(), 2);
    assert_eq!(third.status, "SENT");
    assert_eq!(fourth.status, "RECEIVED");
    assert!(fifth.is_err());
    assert_eq!(status(&done), "RECEIVED");
    let amounts: Vec<u64> = done.hblist.iter().map(|h| h.amount.get()).collect();
    assert_eq!(amounts.iter().sum::<u64>(), 1000);
    assert!(amounts.iter().all(|a| *a >= 100));
    let shares = mock
        .ledger()
        .packet("1900000109", "g1")
        .unwrap()
        .shares
        .clone();
    assert_eq!(shares, amounts);
    assert!(mock.invariants().ok);
}

#[tokio::test]
async fn the_unclaimed_remainder_of_a_group_is_refunded() {
    // Arrange
    let mock = start().await;
    let m = Merchant::default_of(&mock);
    assert_eq!(
        m.client
            .answer(GROUP, m.sign(m.group("g2", "seed", 2000, 5)))
            .await
            .code(),
        "SUCCESS"
    );
    let a = mock.claim("1900000109", "g2", None).unwrap().amount;
    let b = mock.claim("1900000109", "g2", Some("f1")).unwrap().amount;

    // Act
    mock.advance_clock(DAY + Duration::from_secs(61));
    let q = m.query_answer("g2").await.query();

    // Assert
    assert_eq!(status(&q), "REFUND");
    assert_eq!(q.refund_amount, Some(Fen::new(2000 - a - b)));
    assert_eq!(q.hblist.len(), 2);
    assert_eq!(
        mock.ledger().merchant("1900000109").unwrap().balance_fen,
        100_000_000 - a - b
    );
    assert!(mock.invariants().ok);
}

#[tokio::test]
async fn the_same_seed_splits_groups_the_same_way() {
    // Arrange
    let shares = |mock: MockServer| async move {
        let m = Merchant::default_of(&mock);
        assert_eq!(
            m.client
                .answer(GROUP, m.sign(m.group("gs", "seed", 5000, 7)))
                .await
                .code(),
            "SUCCESS"
        );
        mock.ledger()
            .packet("1900000109", "gs")
            .unwrap()
            .shares
            .clone()
    };

    // Act
    let a = shares(start().await).await;
    let b = shares(start().await).await;
    let c = shares(MockServer::builder().seed(8).start().await.unwrap()).await;

    // Assert
    assert_eq!(a, b);
    assert_ne!(a, c);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn all_rand_shares_sum_to_the_total_and_are_at_least_one_yuan(
        num in 3u32..=20,
        extra in 0u64..=400_000,
        seed in any::<u64>(),
    ) {
        let total = 100 * u64::from(num) + extra;
        let shares = wxpay_mock::split_all_rand(Fen::new(total), num, seed).unwrap();
        prop_assert_eq!(shares.len(), num as usize);
        prop_assert_eq!(shares.iter().map(|s| s.get()).sum::<u64>(), total);
        prop_assert!(shares.iter().all(|s| s.get() >= 100));
    }
}

/// Milliseconds until the next Beijing midnight.
fn until_beijing_midnight(mock: &MockServer) -> Duration {
    let now = mock.now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
    let local = now + 8 * 3_600_000;
    Duration::from_millis(86_400_000 - local % 86_400_000)
}

#[tokio::test]
async fn daily_counters_reset_at_beijing_midnight() {
    // Arrange
    let limits = Limits::DEFAULT.sendnum_per_user_per_day(1);
    let mock = start_with(
        MockServer::builder().merchant(MerchantConfig::new("1900000109").limits(limits)),
    )
    .await;
    let m = Merchant::default_of(&mock);
    assert_eq!(m.send("day1", "alice", 100).await.code(), "SUCCESS");
    assert_fail(&m.send("day2", "alice", 100).await, "SENDNUM_LIMIT");

    // Act + Assert: a second before midnight the limit holds; a second after it is reset.
    let to_midnight = until_beijing_midnight(&mock);
    mock.advance_clock(to_midnight - Duration::from_secs(1));
    assert_fail(&m.send("day2", "alice", 100).await, "SENDNUM_LIMIT");
    mock.advance_clock(Duration::from_secs(2));
    assert_eq!(m.send("day2", "alice", 100).await.code(), "SUCCESS");
    assert!(mock.invariants().ok);
}

#[tokio::test]
async fn the_rate_window_follows_the_virtual_clock() {
    // Arrange
    let limits = Limits::DEFAULT.freq_per_minute(3);
    let mock = start_with(
        MockServer::builder().merchant(MerchantConfig::new("1900000109").limits(limits)),
    )
    .await;
    let m = Merchant::default_of(&mock);
    for (i, user) in ["u1", "u2", "u3"].iter().enumerate() {
        assert_eq!(m.send(&format!("fq{i}"), user, 100).await.code(), "SUCCESS");
        mock.advance_clock(Duration::from_secs(1));
    }

    // Act + Assert
    assert_eq!(
        assert_fail(&m.send("fq3", "u4", 100).await, "FREQ_LIMIT"),
        "超过频率限制,请稍后再试"
    );
    mock.advance_clock(Duration::from_secs(56)); // 59 s after the first send
    assert_fail(&m.send("fq3", "u4", 100).await, "FREQ_LIMIT");
    mock.advance_clock(Duration::from_secs(2)); // 61 s after the first send
    assert_eq!(m.send("fq3", "u4", 100).await.code(), "SUCCESS");
    // The window now holds the sends of 2 s and 61 s.
    assert_eq!(m.send("fq4", "u5", 100).await.code(), "SUCCESS");
    assert_fail(&m.send("fq5", "u6", 100).await, "FREQ_LIMIT");
    assert!(mock.invariants().ok);
}

#[tokio::test]
async fn queries_see_thirty_days_and_answer_not_found_in_the_official_shape() {
    // Arrange
    let mock = start().await;
    let m = Merchant::default_of(&mock);
    assert_eq!(m.send("old1", "alice", 100).await.code(), "SUCCESS");

    // Act
    let unknown = m.query_answer("never1").await;
    mock.advance_clock(29 * DAY);
    let day29 = m.query_answer("old1").await.query();
    mock.advance_clock(2 * DAY);
    let day31 = m.query_answer("old1").await;

    // Assert
    for answer in [&unknown, &day31] {
        let q = answer.query();
        assert_eq!(q.header.return_code, ReturnCode::Fail);
        assert_eq!(q.header.result_code, Some(ResultCode::Fail));
        assert_eq!(q.header.err_code, Some(ErrCode::Systemerror));
        assert_eq!(q.header.err_code_des.as_deref(), Some("指定单号数据不存在"));
        assert_eq!(q.header.return_msg.as_deref(), Some("指定单号数据不存在"));
        assert_eq!(q.mch_id.as_deref(), Some("1900000109"));
        assert!(q.mch_billno.is_some());
        assert!(q.is_not_found());
    }
    assert_eq!(status(&day29), "REFUND");
}

#[tokio::test]
async fn not_found_can_be_answered_as_not_found() {
    // Arrange
    let mut behaviour = Behaviour::default();
    behaviour.not_found = NotFoundStyle::NotFound;
    let mock = start_with(MockServer::builder().behaviour(behaviour)).await;
    let m = Merchant::default_of(&mock);

    // Act
    let q = m.query_answer("never2").await.query();

    // Assert
    assert_eq!(q.header.return_code, ReturnCode::Success);
    assert_eq!(q.header.err_code, Some(ErrCode::NotFound));
    assert_eq!(q.mch_billno.as_deref(), Some("never2"));
    assert!(q.is_not_found());
}

#[tokio::test]
async fn a_mini_program_packet_carries_a_package_and_is_claimed_like_a_normal_one() {
    // Arrange
    let mock = start().await;
    let m = Merchant::default_of(&mock);

    // Act
    let sent = m
        .client
        .answer(MINI, m.sign(m.mini("mp1", "miniuser", 300)))
        .await
        .send();
    let replay = m
        .client
        .answer(MINI, m.sign(m.mini("mp1", "miniuser", 300)))
        .await
        .send();
    let claim = mock.claim("1900000109", "mp1", None).unwrap();

    // Assert
    let package = sent.package.clone().expect("package");
    assert!(package.starts_with("sendid="));
    assert!(package.contains("&ver=8&sign="));
    assert!(package.contains(&format!(
        "&mchid=1900000109&appid={}",
        m.creds.mini_program_appid
    )));
    assert_eq!(replay.package.as_deref(), Some(package.as_str()));
    assert_eq!(
        sent.wxappid.as_deref(),
        Some(m.creds.mini_program_appid.as_str())
    );
    assert_eq!(claim.amount, 300);
    let p = mock.ledger().packet("1900000109", "mp1").unwrap().clone();
    assert_eq!(p.api, "sendminiprogramhb");
    assert_eq!(p.hb_type, "NORMAL");
}

#[tokio::test]
async fn the_refund_timings_are_configurable() {
    // Arrange
    let mut behaviour = Behaviour::default();
    behaviour.refund_after = Duration::from_secs(600);
    behaviour.refund_duration = Duration::ZERO;
    let mock = start_with(MockServer::builder().behaviour(behaviour)).await;
    let m = Merchant::default_of(&mock);
    assert_eq!(m.send("fast1", "alice", 100).await.code(), "SUCCESS");

    // Act
    mock.advance_clock(Duration::from_secs(600));

    // Assert
    assert_eq!(
        mock.ledger().packet("1900000109", "fast1").unwrap().status,
        "REFUND"
    );
}
