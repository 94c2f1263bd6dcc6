//! The admin API over plain HTTP.

use serde_json::json;

use crate::rules::{normal_fields, xml_of};
use crate::support::{Merchant, SEND, admin, admin_json, start};

#[tokio::test]
async fn the_ledger_endpoint_has_the_documented_shape() {
    // Arrange
    let mock = start().await;
    let m = Merchant::default_of(&mock);
    assert_eq!(m.send("ad1", "alice", 150).await.code(), "SUCCESS");
    mock.claim("1900000109", "ad1", None).unwrap();

    // Act
    let (status, ledger) = admin_json(&mock, "GET", "/__admin/ledger", "").await;

    // Assert
    assert_eq!(status, 200);
    let merchant = &ledger["merchants"][0];
    assert_eq!(merchant["mch_id"], "1900000109");
    assert_eq!(merchant["balance_fen"], 100_000_000 - 150);
    let packet = &merchant["packets"][0];
    for key in [
        "mch_billno",
        "status",
        "hb_type",
        "total_amount",
        "total_num",
        "re_openid",
        "send_listid",
        "send_time",
        "refund_amount",
        "claims",
    ] {
        assert!(packet.get(key).is_some(), "{key} missing in {packet}");
    }
    assert_eq!(packet["status"], "RECEIVED");
    assert_eq!(packet["claims"][0]["openid"], "alice");
    assert_eq!(packet["claims"][0]["amount"], 150);
    assert!(packet["claims"][0]["rcv_time"].is_string());
    let typed: wxpay_mock::LedgerSnapshot = serde_json::from_value(ledger.clone()).unwrap();
    assert_eq!(typed, mock.ledger());
    let (status, one) = admin_json(&mock, "GET", "/__admin/packets/1900000109/ad1", "").await;
    assert_eq!(status, 200);
    assert_eq!(one, *packet);
    assert_eq!(
        admin_json(&mock, "GET", "/__admin/packets/1900000109/nope", "")
            .await
            .0,
        404
    );
}

#[tokio::test]
async fn clock_claim_topup_and_invariants_work_over_http() {
    // Arrange
    let mock = start().await;
    let m = Merchant::default_of(&mock);
    assert_eq!(m.send("ad2", "alice", 100).await.code(), "SUCCESS");
    let (_, before) = admin_json(&mock, "GET", "/__admin/clock", "").await;

    // Act
    let (s1, after) = admin_json(
        &mock,
        "POST",
        "/__admin/clock/advance",
        r#"{"seconds":3600}"#,
    )
    .await;
    let (s2, claim) = admin_json(&mock, "POST", "/__admin/claim", r#"{"mch_billno":"ad2"}"#).await;
    let (s3, again) = admin_json(
        &mock,
        "POST",
        "/__admin/claim",
        r#"{"mch_billno":"ad2","openid":"alice"}"#,
    )
    .await;
    let (s4, topup) = admin_json(&mock, "POST", "/__admin/topup", r#"{"amount_fen":500}"#).await;
    let (s5, invariants) = admin_json(&mock, "GET", "/__admin/invariants", "").await;
    let (s6, _) = admin_json(&mock, "POST", "/__admin/claim", r#"{"mch_billno":"nope"}"#).await;
    let (s7, bad) = admin_json(&mock, "POST", "/__admin/clock/advance", r#"{"hours":1}"#).await;

    // Assert
    assert_eq!(s1, 200);
    assert_eq!(
        after["unix_ms"].as_u64().unwrap() - before["unix_ms"].as_u64().unwrap(),
        3_600_000
    );
    assert_eq!(
        (s2, claim["amount"].clone(), claim["status"].clone()),
        (200, json!(100), json!("RECEIVED"))
    );
    assert_eq!(s3, 409);
    assert!(again["error"].as_str().unwrap().contains("claim refused"));
    assert_eq!(
        (s4, topup["balance_fen"].clone()),
        (200, json!(100_000_000 - 100 + 500))
    );
    assert_eq!(
        (s5, invariants),
        (200, json!({"ok": true, "violations": []}))
    );
    assert_eq!(s6, 404);
    assert_eq!(s7, 400);
    assert!(bad["error"].is_string());
}

#[tokio::test]
async fn faults_can_be_set_read_and_cleared_over_http() {
    // Arrange
    let mock = start().await;
    let m = Merchant::default_of(&mock);

    // Act
    let (set, plan) = admin_json(
        &mock,
        "POST",
        "/__admin/faults",
        r#"{"seed":3,"rules":[{"api":"sendredpack","stage":"before_commit","action":"processing","times":1}]}"#,
    )
    .await;
    let faulted = m.send("ad3", "alice", 100).await;
    let (_, read) = admin_json(&mock, "GET", "/__admin/faults", "").await;
    let (cleared, empty) = admin_json(&mock, "DELETE", "/__admin/faults", "").await;
    let (bad, _) = admin_json(
        &mock,
        "POST",
        "/__admin/faults",
        r#"{"rules":[{"action":"explode"}]}"#,
    )
    .await;

    // Assert
    assert_eq!(set, 200);
    assert_eq!(plan["rules"][0]["probability"], 1.0);
    assert_eq!(plan["rules"][0]["api"], "sendredpack");
    assert_eq!(faulted.code(), "PROCESSING");
    assert_eq!(read, plan);
    assert_eq!(cleared, 200);
    assert_eq!(empty["rules"], json!([]));
    assert_eq!(bad, 400);
}

#[tokio::test]
async fn the_journal_records_requests_but_never_the_key_or_a_signature() {
    // Arrange
    let mock = start().await;
    let m = Merchant::default_of(&mock);
    let body = m.sign(m.normal("ad4", "alice", 100));
    let sign = body.split("<sign><![CDATA[").nth(1).unwrap()[..32].to_owned();
    assert_eq!(m.client.answer(SEND, body).await.code(), "SUCCESS");
    let mut bad = m.clone();
    bad.key = wxpay_sign::ApiKey::new("ffffffffffffffffffffffffffffffff").unwrap();
    assert_eq!(bad.send("ad5", "alice", 100).await.code(), "SIGN_ERROR");

    // Act
    let (status, text) = admin(&mock, "GET", "/__admin/requests", "").await;

    // Assert
    assert_eq!(status, 200);
    assert!(!text.contains(&m.creds.api_key));
    assert!(!text.contains(&sign));
    assert!(!text.contains("key="));
    let entries: Vec<wxpay_mock::JournalEntry> = serde_json::from_str(&text).unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].api.as_deref(), Some("sendredpack"));
    assert_eq!(entries[0].mch_billno.as_deref(), Some("ad4"));
    assert_eq!(entries[0].outcome, "SUCCESS");
    assert_eq!(entries[1].outcome, "SIGN_ERROR");
    assert_eq!(entries, mock.requests());
    assert!(!format!("{:?}", mock.default_merchant()).contains(&m.creds.api_key));
}

#[tokio::test]
async fn reset_empties_the_ledger_faults_and_journal() {
    // Arrange
    let mock = start().await;
    let m = Merchant::default_of(&mock);
    assert_eq!(m.send("ad6", "alice", 100).await.code(), "SUCCESS");
    mock.set_faults(wxpay_mock::FaultPlan {
        seed: 0,
        rules: vec![wxpay_mock::FaultRule::default()],
    });

    // Act
    let (status, _) = admin_json(&mock, "POST", "/__admin/reset", "").await;

    // Assert
    assert_eq!(status, 200);
    assert_eq!(mock.ledger().packet_count(), 0);
    assert_eq!(
        mock.ledger().merchant("1900000109").unwrap().balance_fen,
        100_000_000
    );
    assert!(mock.faults().rules.is_empty());
    assert!(mock.requests().is_empty());
    assert_eq!(m.send("ad6", "alice", 100).await.code(), "SUCCESS");
}

#[tokio::test]
async fn the_sign_helper_produces_a_body_the_api_accepts() {
    // Arrange
    let mock = start().await;
    let m = Merchant::default_of(&mock);
    let mut fields = normal_fields(&m, "ad7");
    fields.push(("sign_type".to_owned(), "MD5".to_owned()));
    let unsigned = xml_of(&fields);

    // Act
    let (status, signed) = admin(&mock, "POST", "/__admin/sign?api=sendredpack", &unsigned).await;
    let answer = m.client.answer(SEND, signed).await;
    let (bad_status, _) = admin(&mock, "POST", "/__admin/sign", "<xml><a>").await;

    // Assert
    assert_eq!(status, 200);
    assert_eq!(answer.code(), "SUCCESS");
    assert_eq!(bad_status, 400);
}

#[tokio::test]
async fn unknown_admin_routes_are_404_and_the_index_lists_the_routes() {
    // Arrange
    let mock = start().await;

    // Act
    let (missing, _) = admin_json(&mock, "GET", "/__admin/nothing", "").await;
    let (outside, _) = admin_json(&mock, "GET", "/elsewhere", "").await;
    let (index_status, index) = admin_json(&mock, "GET", "/__admin", "").await;
    let (merchants_status, merchants) = admin_json(&mock, "GET", "/__admin/merchants", "").await;

    // Assert
    assert_eq!(missing, 404);
    assert_eq!(outside, 404);
    assert_eq!(index_status, 200);
    assert_eq!(index["endpoint"], mock.base_url());
    let routes = index["routes"].as_array().unwrap();
    assert!(routes.len() >= 10);
    for route in [
        "POST /__admin/claim",
        "GET /__admin/merchants",
        "PUT /__admin/merchants/{mch_id}/openids",
    ] {
        assert!(
            routes
                .iter()
                .any(|r| r.as_str().is_some_and(|r| r.starts_with(route))),
            "{route} missing in {routes:?}"
        );
    }
    assert_eq!(merchants_status, 200);
    assert_eq!(merchants[0]["mch_id"], "1900000109");
    assert!(
        !merchants
            .to_string()
            .contains(&mock.default_merchant().api_key)
    );
}
