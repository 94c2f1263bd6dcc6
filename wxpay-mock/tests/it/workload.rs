//! A random, seeded workload (sends with reused billnos, groups, claims, clock jumps, top-ups,
//! probabilistic faults) after which every invariant holds and every success the client saw
//! is in the ledger.

use std::collections::BTreeMap;
use std::time::Duration;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use wxpay_mock::{
    FaultAction, FaultApi, FaultPlan, FaultRule, FaultStage, Fen, Limits, MerchantConfig,
    MockServer,
};

use wxpay_proto::{SendResponse, XmlMessage};

use crate::support::{GROUP, Merchant, SEND, start_with};

#[tokio::test]
async fn invariants_hold_after_a_random_seeded_workload() {
    // Arrange: tight limits and a small balance, so every limit and NOTENOUGH show up.
    let limits = Limits::DEFAULT
        .freq_per_minute(15)
        .sendnum_per_user_per_day(4)
        .rcvd_amount_per_user_per_day(Fen::new(3000))
        .send_amount_per_day(Fen::new(20_000));
    let mock = start_with(
        MockServer::builder().merchant(
            MerchantConfig::new("1900000109")
                .balance(Fen::new(30_000))
                .limits(limits),
        ),
    )
    .await;
    let m = Merchant::default_of(&mock);
    mock.set_faults(FaultPlan {
        seed: 5,
        rules: vec![
            FaultRule::new(
                FaultApi::SendRedpack,
                FaultStage::AfterCommit,
                FaultAction::Reset,
            )
            .probability(0.1),
            FaultRule::new(
                FaultApi::Any,
                FaultStage::BeforeCommit,
                FaultAction::Systemerror,
            )
            .probability(0.1),
            FaultRule::new(
                FaultApi::SendGroupRedpack,
                FaultStage::AfterCommit,
                FaultAction::Garbage,
            )
            .probability(0.1),
        ],
    });
    let mut rng = ChaCha8Rng::seed_from_u64(2024);
    let users = ["u1", "u2", "u3", "u4", "u5"];
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    let mut codes: BTreeMap<String, usize> = BTreeMap::new();

    // Act
    for step in 0..160 {
        let billno = format!("w{}", rng.random_range(0..60u32));
        let user = users[rng.random_range(0..users.len())];
        match rng.random_range(0..10u32) {
            0..=4 => {
                let amount = rng.random_range(50..=2500u64);
                let body = m.sign(m.normal(&billno, user, amount));
                let answer = m
                    .client
                    .post(SEND, body)
                    .await
                    .ok()
                    .filter(|a| a.status == 200);
                let decoded = answer.and_then(|a| SendResponse::from_xml(a.body.as_bytes()).ok());
                if let Some(r) = decoded {
                    let code = r
                        .header
                        .err_code
                        .map(|c| c.as_str().to_owned())
                        .unwrap_or_default();
                    *codes.entry(code).or_default() += 1;
                    if let Some(listid) = r.send_listid
                        && let Some(previous) = seen.insert(billno.clone(), listid.clone())
                    {
                        assert_eq!(
                            previous, listid,
                            "step {step}: a billno changed its send_listid"
                        );
                    }
                }
            }
            5 => {
                let num = rng.random_range(3..=6u32);
                let amount = rng.random_range(100 * u64::from(num)..=1500);
                let _ = m
                    .client
                    .post(GROUP, m.sign(m.group(&billno, user, amount, num)))
                    .await;
            }
            6 => {
                let claimer = users[rng.random_range(0..users.len())];
                let _ = mock.claim("1900000109", &billno, Some(claimer));
                let _ = mock.claim("1900000109", &billno, None);
            }
            7 => mock.advance_clock(Duration::from_secs(rng.random_range(1..=4 * 3600))),
            8 => {
                if rng.random_bool(0.3) {
                    mock.top_up("1900000109", Fen::new(rng.random_range(100..=5000)))
                        .unwrap();
                }
                let _ = m.query_answer(&billno).await;
            }
            _ => mock.advance_clock(Duration::from_secs(rng.random_range(1..=20))),
        }
    }
    mock.clear_faults();
    mock.advance_clock(Duration::from_secs(2 * 86_400));

    // Assert
    let report = mock.invariants();
    assert!(report.ok, "{:#?}", report.violations);
    let ledger = mock.ledger();
    for (billno, listid) in &seen {
        let p = ledger
            .packet("1900000109", billno)
            .expect("a success the client saw is in the ledger");
        assert_eq!(&p.send_listid, listid);
    }
    assert!(
        ledger.packet_count() > 5,
        "the workload committed too little: {codes:?}"
    );
    assert!(codes.len() >= 3, "too few distinct answers: {codes:?}");
    for p in &ledger.merchants[0].packets {
        assert!(
            matches!(p.status.as_str(), "RECEIVED" | "REFUND" | "FAILED"),
            "{p:?}"
        );
    }
}
