//! `OPENID_ERROR` "openid和appid不匹配": an openid belongs to one appid (spec §5, step 7);
//! claims follow the same rule; the declared users can be replaced while the mock runs.

use wxpay_mock::{Behaviour, ClaimOutcome, Error, Fen, MerchantConfig, MockConfig, MockServer};
use wxpay_proto::{AppId, MchId, SceneId};

use crate::rules::{assert_fail, normal_fields, set, signed_xml, unset};
use crate::support::{GROUP, MINI, Merchant, SEND, admin_json, start, start_with};

const OPENID_ERROR_TEXT: &str = "openid和appid不匹配";

/// The default merchant with one user declared under each of its appids.
fn with_users() -> MerchantConfig {
    MerchantConfig::new("1900000109")
        .openids(["o_fan", "o_fan_2"])
        .mini_program_openids(["o_mini"])
}

fn balance(mock: &MockServer) -> u64 {
    mock.ledger().merchant("1900000109").unwrap().balance_fen
}

#[tokio::test]
async fn an_openid_of_the_other_appid_is_refused_and_leaves_nothing_behind() {
    // Arrange
    let mock = start_with(MockServer::builder().merchant(with_users())).await;
    let m = Merchant::default_of(&mock);
    let before = balance(&mock);

    // Act
    let refused = m.send("oe1", "o_mini", 1000).await;
    let ledger_after_refusal = mock.ledger();
    let query = m.query_answer("oe1").await.query();
    let retried = m.send("oe1", "o_fan", 1000).await;

    // Assert
    assert_eq!(assert_fail(&refused, "OPENID_ERROR"), OPENID_ERROR_TEXT);
    let r = refused.send();
    assert_eq!(r.re_openid.as_deref(), Some("o_mini"));
    assert_eq!(r.wxappid.as_deref(), Some(m.creds.appid.as_str()));
    assert_eq!(r.mch_billno.as_deref(), Some("oe1"));
    assert_eq!(r.total_amount, Some(Fen::new(1000)));
    assert_eq!(ledger_after_refusal.packet_count(), 0);
    assert_eq!(
        ledger_after_refusal
            .merchant("1900000109")
            .unwrap()
            .balance_fen,
        before
    );
    assert_eq!(
        query.header.err_code_des.as_deref(),
        Some("指定单号数据不存在"),
        "the refused billno was never recorded"
    );
    assert_eq!(retried.code(), "SUCCESS", "{}", retried.body);
    assert_eq!(retried.send().re_openid.as_deref(), Some("o_fan"));
    assert_eq!(balance(&mock), before - 1000);
    assert_eq!(mock.ledger().packet_count(), 1);
    let outcomes: Vec<String> = mock
        .requests()
        .into_iter()
        .filter(|e| e.api.as_deref() == Some("sendredpack"))
        .map(|e| e.outcome)
        .collect();
    assert_eq!(outcomes, ["OPENID_ERROR", "SUCCESS"]);
    assert!(mock.invariants().ok, "{:?}", mock.invariants());
}

#[tokio::test]
async fn every_send_endpoint_refuses_an_openid_of_the_other_appid() {
    // Arrange
    let mock = start_with(MockServer::builder().merchant(with_users())).await;
    let m = Merchant::default_of(&mock);
    let before = balance(&mock);

    // Act
    let normal = m.send("ep1", "o_mini", 100).await;
    let group = m
        .client
        .answer(GROUP, m.sign(m.group("ep2", "o_mini", 300, 3)))
        .await;
    let mini = m
        .client
        .answer(MINI, m.sign(m.mini("ep3", "o_fan", 100)))
        .await;
    let refused_ledger = mock.ledger();
    let normal_ok = m.send("ep1", "o_fan", 100).await;
    let group_ok = m
        .client
        .answer(GROUP, m.sign(m.group("ep2", "o_fan_2", 300, 3)))
        .await;
    let mini_ok = m
        .client
        .answer(MINI, m.sign(m.mini("ep3", "o_mini", 100)))
        .await;

    // Assert
    for (name, answer) in [("sendredpack", &normal), ("sendgroupredpack", &group)] {
        assert_eq!(
            assert_fail(answer, "OPENID_ERROR"),
            OPENID_ERROR_TEXT,
            "{name}"
        );
        assert_eq!(answer.send().re_openid.as_deref(), Some("o_mini"), "{name}");
    }
    assert_eq!(
        group.send().total_num,
        Some(3),
        "group failures echo total_num"
    );
    assert_eq!(assert_fail(&mini, "OPENID_ERROR"), OPENID_ERROR_TEXT);
    assert_eq!(
        mini.send().wxappid.as_deref(),
        Some(m.creds.mini_program_appid.as_str())
    );
    assert_eq!(refused_ledger.packet_count(), 0);
    assert_eq!(
        refused_ledger.merchant("1900000109").unwrap().balance_fen,
        before
    );
    assert_eq!(normal_ok.code(), "SUCCESS", "{}", normal_ok.body);
    assert_eq!(group_ok.code(), "SUCCESS", "{}", group_ok.body);
    assert_eq!(mini_ok.code(), "SUCCESS", "{}", mini_ok.body);
    assert_eq!(balance(&mock), before - 500);
    assert!(mock.invariants().ok, "{:?}", mock.invariants());
}

#[tokio::test]
async fn without_declared_openids_every_openid_is_accepted() {
    // Arrange: the default merchant declares no users; another declares only its mini
    // program's.
    let mock = start_with(
        MockServer::builder()
            .merchant(MerchantConfig::new("1900000110").mini_program_openids(["o_mini"])),
    )
    .await;
    let m = Merchant::default_of(&mock);
    let partial = Merchant::of(&mock, mock.merchant("1900000110").unwrap());

    // Act
    let normal = m.send("any1", "o_whoever", 100).await;
    let group = m
        .client
        .answer(GROUP, m.sign(m.group("any2", "o_mini", 300, 3)))
        .await;
    let mini = m
        .client
        .answer(
            MINI,
            m.sign(m.mini("any3", "oxTWIuGaIt6gTKsQRLau2M0yL16E", 100)),
        )
        .await;
    let undeclared_appid = partial.send("any4", "o_stranger", 100).await;
    let declared_elsewhere = partial.send("any5", "o_mini", 100).await;

    // Assert
    assert_eq!(normal.code(), "SUCCESS", "{}", normal.body);
    assert_eq!(group.code(), "SUCCESS", "{}", group.body);
    assert_eq!(mini.code(), "SUCCESS", "{}", mini.body);
    assert_eq!(
        undeclared_appid.code(),
        "SUCCESS",
        "the Official Account's users are not declared: {}",
        undeclared_appid.body
    );
    assert_eq!(
        assert_fail(&declared_elsewhere, "OPENID_ERROR"),
        OPENID_ERROR_TEXT,
        "an openid declared under the mini program is not the Official Account's"
    );
}

#[tokio::test]
async fn a_declared_list_is_the_appids_whole_user_base_unless_configured() {
    // Arrange: only the Official Account's users are declared.
    let merchant = || MerchantConfig::new("1900000109").openids(["o_fan"]);
    let exhaustive = start_with(MockServer::builder().merchant(merchant())).await;
    let mut behaviour = Behaviour::default();
    behaviour.openid_lists_exhaustive = false;
    let lenient = start_with(
        MockServer::builder()
            .behaviour(behaviour)
            .merchant(merchant()),
    )
    .await;
    let e = Merchant::default_of(&exhaustive);
    let l = Merchant::default_of(&lenient);

    // Act
    let stranger = e.send("ex1", "o_stranger", 100).await;
    let stranger_mini = e
        .client
        .answer(MINI, e.sign(e.mini("ex2", "o_stranger", 100)))
        .await;
    let fan_mini = e
        .client
        .answer(MINI, e.sign(e.mini("ex3", "o_fan", 100)))
        .await;
    let lenient_stranger = l.send("ex1", "o_stranger", 100).await;
    let lenient_fan_mini = l
        .client
        .answer(MINI, l.sign(l.mini("ex3", "o_fan", 100)))
        .await;

    // Assert
    assert_eq!(
        assert_fail(&stranger, "OPENID_ERROR"),
        OPENID_ERROR_TEXT,
        "not among the Official Account's declared users"
    );
    assert_eq!(
        stranger_mini.code(),
        "SUCCESS",
        "the mini program's users are not declared: {}",
        stranger_mini.body
    );
    assert_eq!(assert_fail(&fan_mini, "OPENID_ERROR"), OPENID_ERROR_TEXT);
    assert_eq!(exhaustive.ledger().packet_count(), 1);
    assert_eq!(
        lenient_stranger.code(),
        "SUCCESS",
        "{}",
        lenient_stranger.body
    );
    assert_eq!(
        assert_fail(&lenient_fan_mini, "OPENID_ERROR"),
        OPENID_ERROR_TEXT,
        "a declared openid still belongs to its own appid only"
    );
}

#[tokio::test]
async fn openid_error_comes_after_the_appid_and_partner_rules_and_before_the_billno_and_amount_rules()
 {
    // Arrange
    let mock =
        start_with(MockServer::builder().merchant(with_users().sub_mch_ids(["1900000300"]))).await;
    let m = Merchant::default_of(&mock);
    assert_eq!(m.send("ord1", "o_fan", 100).await.code(), "SUCCESS");
    let before = balance(&mock);

    // Act: each request has the openid problem and one other.
    let mut fields = normal_fields(&m, "ord2");
    set(&mut fields, "re_openid", "o_mini");
    unset(&mut fields, "remark");
    let param = m.client.answer(SEND, signed_xml(&m, fields, None)).await;
    let bad_sign = {
        let mut fields = normal_fields(&m, "ord3");
        set(&mut fields, "re_openid", "o_mini");
        set(&mut fields, "sign", "0123456789ABCDEF0123456789ABCDEF");
        m.client.answer(SEND, crate::rules::xml_of(&fields)).await
    };
    let mut mini_appid = m.normal("ord4", "o_fan", 100);
    mini_appid.wxappid = AppId::new(m.creds.mini_program_appid.clone()).unwrap();
    let illegal = m.client.answer(SEND, m.sign(mini_appid)).await;
    let mut unbound = m.normal("ord5", "o_mini", 100);
    unbound.wxappid = AppId::new("wx0000000000000000").unwrap();
    let unbound = m.client.answer(SEND, m.sign(unbound)).await;
    let mut foreign_sub = m.normal("ord6", "o_mini", 100);
    foreign_sub.sub_mch_id = Some(MchId::new("1900000999").unwrap());
    foreign_sub.msgappid = Some(AppId::new(m.creds.appid.clone()).unwrap());
    let acceptmode = m.client.answer(SEND, m.sign(foreign_sub)).await;
    let mut foreign_msgappid = m.normal("ord7", "o_mini", 100);
    foreign_msgappid.sub_mch_id = Some(MchId::new("1900000300").unwrap());
    foreign_msgappid.msgappid = Some(AppId::new("wx1111111111111111").unwrap());
    let msgappid = m.client.answer(SEND, m.sign(foreign_msgappid)).await;
    // A committed billno resent with a wrong openid: OPENID_ERROR, not FATAL_ERROR.
    let replay = m.send("ord1", "o_mini", 100).await;
    // An amount over every range: OPENID_ERROR, not MONEY_LIMIT.
    let mut huge = m.normal("ord8", "o_mini", 900_000);
    huge.scene_id = Some(SceneId::Product1);
    let over_limit = m.client.answer(SEND, m.sign(huge)).await;
    // The same over-limit amount to a right openid: MONEY_LIMIT (the control).
    let mut huge_right = m.normal("ord8", "o_fan", 900_000);
    huge_right.scene_id = Some(SceneId::Product1);
    let money_limit = m.client.answer(SEND, m.sign(huge_right)).await;

    // Assert
    assert_fail(&param, "PARAM_ERROR");
    assert_fail(&bad_sign, "SIGN_ERROR");
    assert_eq!(
        assert_fail(&illegal, "ILLEGAL_APPID"),
        "非法appid,请确认是否为公众号的appid"
    );
    assert_eq!(
        assert_fail(&unbound, "PARAM_ERROR"),
        "参数错误:商户号和wxappid不匹配"
    );
    assert_fail(&acceptmode, "ACCEPTMODE_ERROR");
    assert_fail(&msgappid, "MSGAPPID_ERROR");
    assert_eq!(assert_fail(&replay, "OPENID_ERROR"), OPENID_ERROR_TEXT);
    assert_eq!(assert_fail(&over_limit, "OPENID_ERROR"), OPENID_ERROR_TEXT);
    assert_fail(&money_limit, "MONEY_LIMIT");
    assert_eq!(mock.ledger().packet_count(), 1);
    assert_eq!(balance(&mock), before);
}

#[tokio::test]
async fn in_partner_mode_the_openid_may_belong_to_msgappid() {
    // Arrange
    let mock =
        start_with(MockServer::builder().merchant(with_users().sub_mch_ids(["1900000300"]))).await;
    let m = Merchant::default_of(&mock);
    let partner = |billno: &str, openid: &str, msgappid: &str| {
        let mut r = m.normal(billno, openid, 100);
        r.sub_mch_id = Some(MchId::new("1900000300").unwrap());
        r.msgappid = Some(AppId::new(msgappid).unwrap());
        m.sign(r)
    };

    // Act
    let under_msgappid = m
        .client
        .answer(SEND, partner("pm1", "o_mini", &m.creds.mini_program_appid))
        .await;
    let under_neither = m
        .client
        .answer(SEND, partner("pm2", "o_mini", &m.creds.appid))
        .await;
    let stranger_with_undeclared_msgappid_users = {
        let mut r = m.normal("pm3", "o_stranger", 100);
        r.sub_mch_id = Some(MchId::new("1900000300").unwrap());
        r.msgappid = Some(AppId::new(m.creds.mini_program_appid.clone()).unwrap());
        m.client.answer(SEND, m.sign(r)).await
    };

    // Assert
    assert_eq!(under_msgappid.code(), "SUCCESS", "{}", under_msgappid.body);
    assert_eq!(
        assert_fail(&under_neither, "OPENID_ERROR"),
        OPENID_ERROR_TEXT
    );
    assert_eq!(
        assert_fail(&stranger_with_undeclared_msgappid_users, "OPENID_ERROR"),
        OPENID_ERROR_TEXT,
        "both appids declare their users and neither has this one"
    );
}

#[tokio::test]
async fn declared_openids_are_checked_at_start_and_shown_by_the_admin_api() {
    // Arrange
    let twice = MerchantConfig::new("1900000109")
        .openids(["o_both"])
        .mini_program_openids(["o_both"]);
    let malformed = MerchantConfig::new("1900000110").openids(["not an openid"]);
    let too_long = MerchantConfig::new("1900000111").mini_program_openids(["o".repeat(33)]);

    // Act
    let twice = MockServer::builder().merchant(twice).start().await;
    let malformed = MockServer::builder().merchant(malformed).start().await;
    let too_long = MockServer::builder().merchant(too_long).start().await;
    let mock = start_with(MockServer::builder().merchant(with_users())).await;
    let (status, merchants) = admin_json(&mock, "GET", "/__admin/merchants", "").await;

    // Assert
    for (name, started) in [
        ("twice", twice),
        ("malformed", malformed),
        ("too long", too_long),
    ] {
        match started {
            Err(Error::Config { .. }) => {}
            Err(e) => panic!("{name}: not a config error: {e}"),
            Ok(_) => panic!("{name}: started"),
        }
    }
    assert_eq!(status, 200);
    assert_eq!(merchants[0]["mch_id"], "1900000109");
    assert_eq!(
        merchants[0]["openids"],
        serde_json::json!(["o_fan", "o_fan_2"])
    );
    assert_eq!(
        merchants[0]["mini_program_openids"],
        serde_json::json!(["o_mini"])
    );
}

#[tokio::test]
async fn the_registry_of_a_config_file_applies_again_after_a_restart() {
    // Arrange: generated appids (kept in merchant.toml), users declared in the config file.
    let dir = tempfile::tempdir().unwrap();
    let config = || {
        MockConfig::from_toml(
            r#"
            clock = "frozen"
            [behaviour]
            openid_lists_exhaustive = true
            [[merchant]]
            mch_id = "1900000109"
            openids = ["o_fan"]
            mini_program_openids = ["o_mini"]
            "#,
        )
        .unwrap()
    };
    let start = || async {
        MockServer::builder()
            .config(config())
            .data_dir(dir.path())
            .start()
            .await
            .unwrap()
    };
    let first = start().await;
    let m = Merchant::default_of(&first);
    let refused_before = m.send("rs1", "o_mini", 100).await;
    let appid = m.creds.appid.clone();
    first.shutdown().await;

    // Act
    let second = start().await;
    let m2 = Merchant::default_of(&second);
    let refused_after = m2.send("rs1", "o_mini", 100).await;
    let stranger_after = m2.send("rs1", "o_stranger", 100).await;
    let ledger_after_refusals = second.ledger();
    let accepted_after = m2.send("rs1", "o_fan", 100).await;

    // Assert
    assert_eq!(m2.creds.appid, appid, "the same appids after the restart");
    assert_fail(&refused_before, "OPENID_ERROR");
    assert_eq!(
        assert_fail(&refused_after, "OPENID_ERROR"),
        OPENID_ERROR_TEXT
    );
    assert_fail(&stranger_after, "OPENID_ERROR");
    assert_eq!(
        ledger_after_refusals.packet_count(),
        0,
        "no refused send was stored"
    );
    assert_eq!(accepted_after.code(), "SUCCESS", "{}", accepted_after.body);
}

// Claims follow the same rule: the claimant must be a user of the packet's appid.

/// The error of a claim that must be refused, with its reason.
fn refused_reason(claim: Result<ClaimOutcome, Error>) -> String {
    match claim {
        Err(Error::ClaimRefused { reason }) => reason,
        other => panic!("not a refused claim: {other:?}"),
    }
}

/// Sends a group packet of 900 fen in 3 shares to `seed` and asserts it is committed.
async fn send_group(m: &Merchant, billno: &str, seed: &str) {
    let answer = m
        .client
        .answer(GROUP, m.sign(m.group(billno, seed, 900, 3)))
        .await;
    assert_eq!(answer.code(), "SUCCESS", "{}", answer.body);
}

#[tokio::test]
async fn a_group_share_claimed_by_a_user_of_the_other_appid_is_refused_and_changes_nothing() {
    // Arrange: a group through the Official Account, its seed user's share taken.
    let mock = start_with(MockServer::builder().merchant(with_users())).await;
    let m = Merchant::default_of(&mock);
    send_group(&m, "gc1", "o_fan").await;
    mock.claim("1900000109", "gc1", None).unwrap();
    let before = mock.ledger();

    // Act
    let by_library = mock.claim("1900000109", "gc1", Some("o_mini"));
    let (status, by_http) = admin_json(
        &mock,
        "POST",
        "/__admin/claim",
        r#"{"mch_billno":"gc1","openid":"o_mini"}"#,
    )
    .await;
    let after_refusals = mock.ledger();
    let invariants = mock.invariants();
    let accepted = mock.claim("1900000109", "gc1", Some("o_fan_2"));

    // Assert
    let reason = refused_reason(by_library);
    assert!(reason.contains(OPENID_ERROR_TEXT), "{reason}");
    assert!(reason.contains(&m.creds.appid), "names the appid: {reason}");
    assert_eq!(status, 409);
    let message = by_http["error"].as_str().unwrap();
    assert!(message.contains("claim refused"), "{message}");
    assert!(message.contains(OPENID_ERROR_TEXT), "{message}");
    assert_eq!(after_refusals, before, "a refused claim changes nothing");
    assert!(invariants.ok, "{invariants:?}");
    let accepted = accepted.unwrap();
    assert_eq!(accepted.openid, "o_fan_2");
    assert_eq!(accepted.remaining, 1);
    let packet = mock.ledger().packet("1900000109", "gc1").unwrap().clone();
    let claimants: Vec<&str> = packet.claims.iter().map(|c| c.openid.as_str()).collect();
    assert_eq!(claimants, ["o_fan", "o_fan_2"]);
    assert!(mock.invariants().ok, "{:?}", mock.invariants());
}

#[tokio::test]
async fn a_claimant_missing_from_an_exhaustive_list_is_refused_unless_the_lists_are_not_exhaustive()
{
    // Arrange: only the Official Account's users are declared.
    let merchant = || MerchantConfig::new("1900000109").openids(["o_fan", "o_fan_2"]);
    let exhaustive = start_with(MockServer::builder().merchant(merchant())).await;
    let mut behaviour = Behaviour::default();
    behaviour.openid_lists_exhaustive = false;
    let lenient = start_with(
        MockServer::builder()
            .behaviour(behaviour)
            .merchant(merchant()),
    )
    .await;
    for mock in [&exhaustive, &lenient] {
        send_group(&Merchant::default_of(mock), "gx1", "o_fan").await;
    }
    let before = exhaustive.ledger();

    // Act
    let stranger = exhaustive.claim("1900000109", "gx1", Some("o_stranger"));
    let after_refusal = exhaustive.ledger();
    let declared = exhaustive.claim("1900000109", "gx1", Some("o_fan_2"));
    let lenient_stranger = lenient.claim("1900000109", "gx1", Some("o_stranger"));

    // Assert
    assert!(refused_reason(stranger).contains(OPENID_ERROR_TEXT));
    assert_eq!(after_refusal, before);
    assert_eq!(declared.unwrap().openid, "o_fan_2");
    assert_eq!(
        lenient_stranger.unwrap().openid,
        "o_stranger",
        "a list that is not exhaustive refuses only the other appid's users"
    );
    assert!(exhaustive.invariants().ok, "{:?}", exhaustive.invariants());
    assert!(lenient.invariants().ok, "{:?}", lenient.invariants());
}

#[tokio::test]
async fn without_declared_openids_anyone_may_claim_a_group_share() {
    // Arrange
    let mock = start().await;
    let m = Merchant::default_of(&mock);
    send_group(&m, "ga1", "o_seed").await;

    // Act
    let seed = mock.claim("1900000109", "ga1", None);
    let first = mock.claim("1900000109", "ga1", Some("o_anyone"));
    let (status, last) = admin_json(
        &mock,
        "POST",
        "/__admin/claim",
        r#"{"mch_billno":"ga1","openid":"oxTWIuGaIt6gTKsQRLau2M0yL16E"}"#,
    )
    .await;

    // Assert
    assert_eq!(seed.unwrap().openid, "o_seed");
    assert_eq!(first.unwrap().openid, "o_anyone");
    assert_eq!(status, 200, "{last}");
    assert_eq!(last["status"], "RECEIVED");
    assert!(mock.invariants().ok, "{:?}", mock.invariants());
}

#[tokio::test]
async fn in_partner_mode_a_user_of_the_packets_msgappid_may_claim_a_group_share() {
    // Arrange: the same group sent plainly and in partner mode with the mini program as
    // msgappid.
    let mock =
        start_with(MockServer::builder().merchant(with_users().sub_mch_ids(["1900000300"]))).await;
    let m = Merchant::default_of(&mock);
    send_group(&m, "gp1", "o_fan").await;
    let mut partner = m.group("gp2", "o_fan", 900, 3);
    partner.sub_mch_id = Some(MchId::new("1900000300").unwrap());
    partner.msgappid = Some(AppId::new(m.creds.mini_program_appid.clone()).unwrap());
    let sent = m.client.answer(GROUP, m.sign(partner)).await;
    assert_eq!(sent.code(), "SUCCESS", "{}", sent.body);
    let before = mock.ledger();

    // Act
    let plain = mock.claim("1900000109", "gp1", Some("o_mini"));
    let stranger = mock.claim("1900000109", "gp2", Some("o_stranger"));
    let after_refusals = mock.ledger();
    let through_msgappid = mock.claim("1900000109", "gp2", Some("o_mini"));

    // Assert
    assert!(refused_reason(plain).contains(OPENID_ERROR_TEXT));
    let reason = refused_reason(stranger);
    assert!(
        reason.contains(&m.creds.mini_program_appid),
        "names the msgappid: {reason}"
    );
    assert_eq!(after_refusals, before);
    assert_eq!(through_msgappid.unwrap().openid, "o_mini");
    assert!(mock.invariants().ok, "{:?}", mock.invariants());
}

#[tokio::test]
async fn a_recipient_who_no_longer_passes_the_rule_cannot_open_the_packet_until_declared_again() {
    // Arrange: a normal packet to a declared user.
    let mock = start_with(MockServer::builder().merchant(with_users())).await;
    let m = Merchant::default_of(&mock);
    assert_eq!(m.send("rc1", "o_fan", 100).await.code(), "SUCCESS");
    let before = mock.ledger();

    // Act: the recipient is redeclared as the mini program's user, then back.
    mock.set_openids("1900000109", ["o_fan_2"], ["o_mini", "o_fan"])
        .unwrap();
    let moved = mock.claim("1900000109", "rc1", None);
    let after_refusal = mock.ledger();
    mock.set_openids("1900000109", ["o_fan", "o_fan_2"], ["o_mini"])
        .unwrap();
    let back = mock.claim("1900000109", "rc1", Some("o_fan"));

    // Assert
    assert!(refused_reason(moved).contains(OPENID_ERROR_TEXT));
    assert_eq!(after_refusal, before);
    let back = back.unwrap();
    assert_eq!(
        (back.openid.as_str(), back.status.as_str()),
        ("o_fan", "RECEIVED")
    );
    assert!(mock.invariants().ok, "{:?}", mock.invariants());
}

// Declaring openids while the mock runs.

#[tokio::test]
async fn declaring_openids_over_http_changes_the_openid_error_of_the_next_send() {
    // Arrange: nothing declared at start.
    let mock = start().await;
    let m = Merchant::default_of(&mock);
    let before_declaration = m.send("dh1", "o_mini", 100).await;

    // Act
    let (declared, answer) = admin_json(
        &mock,
        "PUT",
        "/__admin/merchants/1900000109/openids",
        r#"{"openids":["o_fan"],"mini_program_openids":["o_mini"]}"#,
    )
    .await;
    let refused = m.send("dh2", "o_mini", 100).await;
    let stranger = m.send("dh3", "o_stranger", 100).await;
    let fan = m.send("dh4", "o_fan", 100).await;
    let (_, merchants) = admin_json(&mock, "GET", "/__admin/merchants", "").await;
    let (cleared, _) = admin_json(
        &mock,
        "PUT",
        "/__admin/merchants/1900000109/openids",
        r#"{"openids":[],"mini_program_openids":[]}"#,
    )
    .await;
    let after_clearing = m.send("dh5", "o_mini", 100).await;

    // Assert
    assert_eq!(
        before_declaration.code(),
        "SUCCESS",
        "{}",
        before_declaration.body
    );
    assert_eq!(declared, 200, "{answer}");
    assert_eq!(
        answer,
        serde_json::json!({
            "mch_id": "1900000109",
            "openids": ["o_fan"],
            "mini_program_openids": ["o_mini"],
        })
    );
    assert_eq!(assert_fail(&refused, "OPENID_ERROR"), OPENID_ERROR_TEXT);
    assert_eq!(assert_fail(&stranger, "OPENID_ERROR"), OPENID_ERROR_TEXT);
    assert_eq!(fan.code(), "SUCCESS", "{}", fan.body);
    assert_eq!(merchants[0]["openids"], serde_json::json!(["o_fan"]));
    assert_eq!(
        merchants[0]["mini_program_openids"],
        serde_json::json!(["o_mini"])
    );
    assert_eq!(cleared, 200);
    assert_eq!(after_clearing.code(), "SUCCESS", "{}", after_clearing.body);
    assert_eq!(mock.ledger().packet_count(), 3);
    assert!(mock.invariants().ok, "{:?}", mock.invariants());
}

#[tokio::test]
async fn bad_openid_declarations_are_400_and_change_nothing() {
    // Arrange
    let mock = start_with(MockServer::builder().merchant(with_users())).await;
    let m = Merchant::default_of(&mock);
    let (_, merchants_before) = admin_json(&mock, "GET", "/__admin/merchants", "").await;
    let path = "/__admin/merchants/1900000109/openids";
    let too_long = "o".repeat(33);
    let bodies = [
        r#"{"openids":["not an openid"],"mini_program_openids":[]}"#.to_owned(),
        format!(r#"{{"openids":[],"mini_program_openids":["{too_long}"]}}"#),
        r#"{"openids":[""],"mini_program_openids":[]}"#.to_owned(),
        r#"{"openids":["o_x"],"mini_program_openids":["o_x"]}"#.to_owned(),
        r#"{"openids":["o_x"],"mini_program_openids":["o_y"]"#.to_owned(),
        r#"{"openids":["o_x"]}"#.to_owned(),
        r#"{"openids":[],"mini_program_openids":[],"risky_openids":[]}"#.to_owned(),
        r#"{"openids":"o_x","mini_program_openids":[]}"#.to_owned(),
        r#"["o_x"]"#.to_owned(),
        String::new(),
    ];

    // Act
    let mut answers = Vec::new();
    for body in &bodies {
        answers.push(admin_json(&mock, "PUT", path, body).await);
    }
    let by_library = mock.set_openids("1900000109", ["o_x"], ["o_x"]);
    let (_, merchants_after) = admin_json(&mock, "GET", "/__admin/merchants", "").await;
    let still_refused = m.send("bd1", "o_mini", 100).await;
    let still_accepted = m.send("bd2", "o_fan", 100).await;

    // Assert
    for (body, (status, answer)) in bodies.iter().zip(&answers) {
        assert_eq!(*status, 400, "{body}: {answer}");
        assert!(
            answer["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{body}: {answer}"
        );
    }
    let invalid = answers[0].1["error"].as_str().unwrap();
    assert!(
        invalid.contains("not an openid"),
        "says which openid: {invalid}"
    );
    let overlap = answers[3].1["error"].as_str().unwrap();
    assert!(overlap.contains("both"), "says why: {overlap}");
    assert!(
        answers[4].1["error"]
            .as_str()
            .unwrap()
            .contains("invalid JSON")
    );
    match by_library {
        Err(Error::InvalidSetting { what }) => assert!(what.contains("o_x"), "{what}"),
        other => panic!("not an invalid setting: {other:?}"),
    }
    assert_eq!(merchants_after, merchants_before);
    assert_eq!(
        assert_fail(&still_refused, "OPENID_ERROR"),
        OPENID_ERROR_TEXT
    );
    assert_eq!(still_accepted.code(), "SUCCESS", "{}", still_accepted.body);
}

#[tokio::test]
async fn declaring_openids_for_an_unknown_merchant_is_404_and_a_typed_error() {
    // Arrange
    let mock = start().await;

    // Act
    let (status, answer) = admin_json(
        &mock,
        "PUT",
        "/__admin/merchants/1900009999/openids",
        r#"{"openids":["o_fan"],"mini_program_openids":[]}"#,
    )
    .await;
    let (bad_body_status, _) =
        admin_json(&mock, "PUT", "/__admin/merchants/1900009999/openids", "{").await;
    let (wrong_method, _) = admin_json(
        &mock,
        "POST",
        "/__admin/merchants/1900000109/openids",
        r#"{"openids":[],"mini_program_openids":[]}"#,
    )
    .await;
    let by_library = mock.set_openids("1900009999", ["o_fan"], Vec::<String>::new());

    // Assert
    assert_eq!(status, 404);
    assert!(answer["error"].as_str().unwrap().contains("1900009999"));
    assert_eq!(bad_body_status, 404, "the merchant is looked up first");
    assert_eq!(wrong_method, 404);
    assert!(matches!(
        by_library,
        Err(Error::UnknownMerchant { mch_id }) if mch_id == "1900009999"
    ));
}

#[tokio::test]
async fn openids_declared_at_run_time_outlive_a_restart_until_a_reset() {
    // Arrange: configured lists, then others declared at run time, and a partner-mode group
    // whose msgappid is the mini program.
    let dir = tempfile::tempdir().unwrap();
    let builder = || {
        MockServer::builder().data_dir(dir.path()).merchant(
            MerchantConfig::new("1900000109")
                .openids(["o_fan"])
                .mini_program_openids(["o_mini"])
                .sub_mch_ids(["1900000300"]),
        )
    };
    let first = start_with(builder()).await;
    let m = Merchant::default_of(&first);
    let (declared, _) = admin_json(
        &first,
        "PUT",
        "/__admin/merchants/1900000109/openids",
        r#"{"openids":["o_fan","o_fan_2"],"mini_program_openids":["o_mini","o_new"]}"#,
    )
    .await;
    assert_eq!(declared, 200);
    let mut partner = m.group("pr1", "o_fan", 900, 3);
    partner.sub_mch_id = Some(MchId::new("1900000300").unwrap());
    partner.msgappid = Some(AppId::new(m.creds.mini_program_appid.clone()).unwrap());
    assert_eq!(
        m.client.answer(GROUP, m.sign(partner)).await.code(),
        "SUCCESS"
    );
    first.shutdown().await;

    // Act
    let second = start_with(builder()).await;
    let m2 = Merchant::default_of(&second);
    let (_, restored) = admin_json(&second, "GET", "/__admin/merchants", "").await;
    let declared_fan = m2.send("pr2", "o_fan_2", 100).await;
    let claim_through_msgappid = second.claim("1900000109", "pr1", Some("o_new"));
    second.reset().unwrap();
    let (_, after_reset) = admin_json(&second, "GET", "/__admin/merchants", "").await;
    let undeclared_again = m2.send("pr3", "o_fan_2", 100).await;
    second.shutdown().await;
    let third = start_with(builder()).await;
    let (_, after_restart) = admin_json(&third, "GET", "/__admin/merchants", "").await;

    // Assert
    assert_eq!(
        restored[0]["openids"],
        serde_json::json!(["o_fan", "o_fan_2"])
    );
    assert_eq!(
        restored[0]["mini_program_openids"],
        serde_json::json!(["o_mini", "o_new"])
    );
    assert_eq!(declared_fan.code(), "SUCCESS", "{}", declared_fan.body);
    assert_eq!(
        claim_through_msgappid.unwrap().openid,
        "o_new",
        "the packet kept its msgappid, and the declared lists hold"
    );
    for merchants in [&after_reset, &after_restart] {
        assert_eq!(merchants[0]["openids"], serde_json::json!(["o_fan"]));
        assert_eq!(
            merchants[0]["mini_program_openids"],
            serde_json::json!(["o_mini"])
        );
    }
    assert_eq!(
        assert_fail(&undeclared_again, "OPENID_ERROR"),
        OPENID_ERROR_TEXT
    );
}

#[tokio::test]
async fn corrupt_stored_openid_lists_stop_the_start_with_a_store_error() {
    // Arrange: lists declared and stored, then damaged in the store.
    let dir = tempfile::tempdir().unwrap();
    let first = start_with(MockServer::builder().data_dir(dir.path())).await;
    first
        .set_openids("1900000109", ["o_fan"], ["o_mini"])
        .unwrap();
    first.shutdown().await;
    let db = rusqlite::Connection::open(dir.path().join(wxpay_mock::LEDGER_FILE)).unwrap();
    let damage = |value: &str| {
        let changed = db
            .execute(
                "UPDATE meta SET value = ?1 WHERE key LIKE 'openids%1900000109'",
                [value],
            )
            .unwrap();
        assert_eq!(changed, 1);
    };
    let start = || MockServer::builder().data_dir(dir.path()).start();

    // Act
    damage("{not json");
    let unreadable = start().await;
    damage(r#"{"openids":["o_x"],"mini_program_openids":["o_x"]}"#);
    let invalid = start().await;

    // Assert
    for (name, started) in [("unreadable", unreadable), ("invalid", invalid)] {
        match started {
            Err(Error::Store { .. }) => {}
            Err(e) => panic!("{name}: not a store error: {e}"),
            Ok(_) => panic!("{name}: started"),
        }
    }
}
